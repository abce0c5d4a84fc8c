//! Integer indexing: `take` (rows of dimension 0, `stablehlo.gather`) and its transpose,
//! `scatter_add` (`stablehlo.scatter` with addition).

use crate::error::{Error, Result};
use crate::graph::emit::{Emitter, NodeView, fn_type, ilist};
use crate::graph::op::Op;
use crate::graph::shape::{Shape, axis};
use crate::graph::tensor::Tensor;

impl Tensor {
    /// Rows of dimension 0 picked by integer `indices` of any shape `[i..]`: the result is
    /// `[i.., rest of self]` (embedding lookup, drawing a batch from a dataset). Out-of-range
    /// indices are clamped (XLA gather semantics). Lowers to `stablehlo.gather`.
    pub fn take(&self, indices: &Tensor) -> Result<Tensor> {
        check_indices("gather", self, indices)?;
        let mut dims = indices.dims().to_vec();
        dims.extend_from_slice(&self.dims()[1..]);
        self.graph
            .push(Op::Take, &[self, indices], self.shape.with_dims(dims))
    }

    /// `take` along another dimension: entries of dimension `dim` picked by a 1-D index.
    pub fn index_select(&self, indices: &Tensor, dim: isize) -> Result<Tensor> {
        let d = axis("index_select", &self.shape, dim)?;
        if indices.rank() != 1 {
            return Err(Error::InvalidOp {
                op: "index_select",
                msg: format!("indices must be 1-D, got {}", indices.shape),
            });
        }
        let mut perm: Vec<usize> = vec![d];
        perm.extend((0..self.rank()).filter(|&i| i != d));
        let mut inv = vec![0; self.rank()];
        for (i, &p) in perm.iter().enumerate() {
            inv[p] = i;
        }
        self.transpose(&perm)?.take(indices)?.transpose(&inv)
    }

    /// Adds `updates` (`[i.., rest of self]`) into the rows of `self` picked by `indices`,
    /// summing repeated indices (`stablehlo.scatter`). The transpose of [`Tensor::take`].
    pub fn scatter_add(&self, indices: &Tensor, updates: &Tensor) -> Result<Tensor> {
        check_indices("scatter", self, indices)?;
        let mut dims = indices.dims().to_vec();
        dims.extend_from_slice(&self.dims()[1..]);
        if updates.dims() != dims.as_slice() || updates.dtype() != self.dtype() {
            return Err(Error::ShapeMismatch {
                op: "scatter",
                lhs: self.shape.to_string(),
                rhs: updates.shape.to_string(),
                msg: format!("updates must be {}", self.shape.with_dims(dims)),
            });
        }
        self.graph.push(
            Op::ScatterAdd,
            &[self, indices, updates],
            self.shape.clone(),
        )
    }
}

fn check_indices(op: &'static str, t: &Tensor, idx: &Tensor) -> Result<()> {
    if t.rank() == 0 {
        return Err(Error::InvalidOp {
            op,
            msg: "cannot index a scalar".into(),
        });
    }
    if !idx.dtype().is_integer() {
        return Err(Error::InvalidOp {
            op,
            msg: format!("indices must be integers, got {}", idx.shape),
        });
    }
    Ok(())
}

/// Lowers `take` and `scatter_add`.
pub(crate) fn emit(em: &mut Emitter, node: NodeView) -> String {
    let (op, ins, in_shapes, out) = node.parts();
    let operand = in_shapes[0];
    let m = in_shapes[1].rank();
    let window: Vec<usize> = (m..m + operand.rank() - 1).collect();
    let win = if window.is_empty() {
        String::new()
    } else {
        format!("offset_dims = {}, ", ilist(&window))
    };
    match op {
        Op::Take => {
            let mut sizes = vec![1usize];
            sizes.extend_from_slice(&operand.dims[1..]);
            let sizes: Vec<String> = sizes.iter().map(|s| s.to_string()).collect();
            format!(
                "\"stablehlo.gather\"({}, {}) {{dimension_numbers = #stablehlo.gather<{win}collapsed_slice_dims = [0], start_index_map = [0], index_vector_dim = {m}>, indices_are_sorted = false, slice_sizes = array<i64: {}>}} : {}",
                ins[0],
                ins[1],
                sizes.join(", "),
                fn_type(in_shapes, &[out])
            )
        }
        Op::ScatterAdd => {
            let s = Shape::scalar(operand.dtype).mlir();
            let (a, b, r) = (em.fresh(), em.fresh(), em.fresh());
            let ind = em.indent_str();
            let uw = if window.is_empty() {
                String::new()
            } else {
                format!("update_window_dims = {}, ", ilist(&window))
            };
            format!(
                "\"stablehlo.scatter\"({}, {}, {}) ({{\n{ind}  ^bb0({a}: {s}, {b}: {s}):\n{ind}    {r} = stablehlo.add {a}, {b} : {s}\n{ind}    stablehlo.return {r} : {s}\n{ind}  }}) {{indices_are_sorted = false, scatter_dimension_numbers = #stablehlo.scatter<{uw}inserted_window_dims = [0], scatter_dims_to_operand_dims = [0], index_vector_dim = {m}>, unique_indices = false}} : {}",
                ins[0],
                ins[1],
                ins[2],
                fn_type(in_shapes, &[out])
            )
        }
        _ => unreachable!("gather::emit called for {}", op.name()),
    }
}
