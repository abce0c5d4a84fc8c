//! Reductions: `stablehlo.reduce` (sum, max, min and what is built on them: mean,
//! log-sum-exp, argmax) and windowed reductions (pooling) with their transposes.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::emit::{Emitter, NodeView, fn_type, ilist};
use crate::graph::op::{Op, ReduceOp, WindowSpec};
use crate::graph::prims::literal::float_lit;
use crate::graph::shape::{Shape, axis};
use crate::graph::tensor::Tensor;

// ---------------------------------------------------------------- traced methods (shape rules)

impl Tensor {
    /// `stablehlo.reduce` of `dims` with a monoid; `keepdim` keeps them with size 1.
    pub fn reduce(&self, op: ReduceOp, dims: &[usize], keepdim: bool) -> Result<Tensor> {
        let name = "reduce";
        if self.dtype() == DType::Pred {
            return Err(Error::InvalidOp {
                op: name,
                msg: "cannot reduce pred; convert it first".into(),
            });
        }
        let mut sorted = dims.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        if sorted.iter().any(|&d| d >= self.rank()) {
            return Err(Error::InvalidOp {
                op: name,
                msg: format!("dims {dims:?} out of range for {}", self.shape),
            });
        }
        let kept: Vec<usize> = (0..self.rank())
            .filter(|d| !sorted.contains(d))
            .map(|d| self.dims()[d])
            .collect();
        let r = if sorted.is_empty() {
            self.clone()
        } else {
            self.graph.push(
                Op::Reduce {
                    op,
                    dims: sorted.clone(),
                },
                &[self],
                self.shape.with_dims(kept),
            )?
        };
        if keepdim {
            let kd: Vec<usize> = (0..self.rank())
                .map(|d| {
                    if sorted.contains(&d) {
                        1
                    } else {
                        self.dims()[d]
                    }
                })
                .collect();
            r.reshape(&kd)
        } else {
            Ok(r)
        }
    }

    /// Sum over `dims` (`stablehlo.reduce` with `stablehlo.add`).
    pub fn sum(&self, dims: &[usize], keepdim: bool) -> Result<Tensor> {
        self.reduce(ReduceOp::Sum, dims, keepdim)
    }
    /// Maximum over `dims`; the gradient is shared between tied maxima.
    pub fn max(&self, dims: &[usize], keepdim: bool) -> Result<Tensor> {
        self.reduce(ReduceOp::Max, dims, keepdim)
    }
    /// Minimum over `dims`.
    pub fn min(&self, dims: &[usize], keepdim: bool) -> Result<Tensor> {
        self.reduce(ReduceOp::Min, dims, keepdim)
    }
    /// Mean over `dims`.
    pub fn mean(&self, dims: &[usize], keepdim: bool) -> Result<Tensor> {
        let n: usize = dims
            .iter()
            .filter(|&&d| d < self.rank())
            .map(|&d| self.dims()[d])
            .product();
        self.sum(dims, keepdim)? / n as f64
    }
    /// Sum of every element (a scalar).
    pub fn sum_all(&self) -> Result<Tensor> {
        self.sum(&(0..self.rank()).collect::<Vec<_>>(), false)
    }
    /// Mean of every element (a scalar).
    pub fn mean_all(&self) -> Result<Tensor> {
        self.mean(&(0..self.rank()).collect::<Vec<_>>(), false)
    }
    /// Maximum of every element (a scalar).
    pub fn max_all(&self) -> Result<Tensor> {
        self.max(&(0..self.rank()).collect::<Vec<_>>(), false)
    }
    /// `log(sum(exp(x)))` over `dims`, computed stably as `m + log(sum(exp(x - m)))` with the
    /// maximum `m` held constant for differentiation (its gradient cancels).
    pub fn logsumexp(&self, dims: &[usize], keepdim: bool) -> Result<Tensor> {
        let m = self.max(dims, true)?.stop_gradient()?;
        // where the maximum is infinite, shift by zero instead
        let finite = m.abs()?.lt(&m.full_like(f64::INFINITY)?)?;
        let m = finite.select(&m, &m.zeros_like()?)?;
        let s = (self - &m)?.exp()?.sum(dims, true)?.log()?;
        let r = (s + &m)?;
        if keepdim {
            Ok(r)
        } else {
            let d: Vec<usize> = (0..self.rank())
                .filter(|d| !dims.contains(d))
                .map(|d| self.dims()[d])
                .collect();
            r.reshape(&d)
        }
    }
    /// Index of the maximum along `dim` as `i32` (the first on ties). Built on compare, iota
    /// and a min-reduce: the result is an integer and carries no gradient.
    pub fn argmax(&self, dim: isize, keepdim: bool) -> Result<Tensor> {
        let d = axis("argmax", &self.shape, dim)?;
        let m = self.max(&[d], true)?;
        let hit = self.eq(&m.broadcast_to(self.dims())?)?;
        let idx = self.graph.iota(self.dims(), DType::I32, d)?;
        let big = idx.full_like(self.dims()[d] as f64)?;
        hit.select(&idx, &big)?.min(&[d], keepdim)
    }

    /// `stablehlo.reduce_window` with a monoid (identity as the initial value, which is also
    /// what padding contributes).
    pub fn reduce_window(&self, op: ReduceOp, spec: &WindowSpec) -> Result<Tensor> {
        let dims = window_out_dims("reduce_window", &self.shape, spec)?;
        self.graph.push(
            Op::ReduceWindow {
                op,
                spec: spec.clone(),
            },
            &[self],
            self.shape.with_dims(dims),
        )
    }

    /// Average pooling over the last two dimensions of NCHW input (no padding).
    pub fn avg_pool2d(&self, kernel: (usize, usize), stride: (usize, usize)) -> Result<Tensor> {
        let spec = pool_spec("avg_pool2d", self, kernel, stride)?;
        self.reduce_window(ReduceOp::Sum, &spec)? / (kernel.0 * kernel.1) as f64
    }

    /// Max pooling over the last two dimensions of NCHW input (no padding).
    pub fn max_pool2d(&self, kernel: (usize, usize), stride: (usize, usize)) -> Result<Tensor> {
        let spec = pool_spec("max_pool2d", self, kernel, stride)?;
        self.reduce_window(ReduceOp::Max, &spec)
    }
}

fn pool_spec(
    op: &'static str,
    x: &Tensor,
    k: (usize, usize),
    s: (usize, usize),
) -> Result<WindowSpec> {
    if x.rank() != 4 {
        return Err(Error::InvalidOp {
            op,
            msg: format!("expects NCHW input, got {}", x.shape),
        });
    }
    Ok(WindowSpec {
        window: vec![1, 1, k.0, k.1],
        strides: vec![1, 1, s.0, s.1],
        padding: vec![(0, 0); 4],
    })
}

fn window_out_dims(op: &'static str, x: &Shape, spec: &WindowSpec) -> Result<Vec<usize>> {
    let r = x.rank();
    if spec.window.len() != r || spec.strides.len() != r || spec.padding.len() != r {
        return Err(Error::InvalidOp {
            op,
            msg: format!("window, strides and padding need {r} entries for {x}"),
        });
    }
    (0..r)
        .map(|i| {
            let padded = x.dims[i] as i64 + spec.padding[i].0 + spec.padding[i].1;
            let w = spec.window[i] as i64;
            if spec.strides[i] == 0 || w == 0 || padded < w {
                return Err(Error::InvalidOp { op, msg: format!("window {w} (stride {}) does not fit padded size {padded} of dimension {i} of {x}", spec.strides[i]) });
            }
            Ok(((padded - w) / spec.strides[i] as i64 + 1) as usize)
        })
        .collect()
}

// ---------------------------------------------------------------- lowering

fn identity(op: ReduceOp, dt: DType) -> String {
    match (op, dt.is_float()) {
        (ReduceOp::Sum, true) => float_lit(0.0, dt),
        (ReduceOp::Sum, false) => "0".into(),
        (ReduceOp::Max, true) => float_lit(f64::NEG_INFINITY, dt),
        (ReduceOp::Min, true) => float_lit(f64::INFINITY, dt),
        (ReduceOp::Max, false) => match dt {
            DType::I32 => i32::MIN.to_string(),
            DType::I64 => i64::MIN.to_string(),
            _ => "0".into(),
        },
        (ReduceOp::Min, false) => match dt {
            DType::I32 => i32::MAX.to_string(),
            DType::I64 => i64::MAX.to_string(),
            DType::U8 => u8::MAX.to_string(),
            DType::U32 => u32::MAX.to_string(),
            _ => u64::MAX.to_string(),
        },
    }
}

fn hlo_name(op: ReduceOp) -> &'static str {
    match op {
        ReduceOp::Sum => "stablehlo.add",
        ReduceOp::Max => "stablehlo.maximum",
        ReduceOp::Min => "stablehlo.minimum",
    }
}

fn padding_attr(p: &[(i64, i64)]) -> String {
    let rows: Vec<String> = p.iter().map(|(l, h)| format!("[{l}, {h}]")).collect();
    format!("dense<[{}]> : tensor<{}x2xi64>", rows.join(", "), p.len())
}

fn window_attrs(spec: &WindowSpec) -> String {
    let j = |v: &[usize]| {
        v.iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "window_dimensions = array<i64: {}>, window_strides = array<i64: {}>, padding = {}",
        j(&spec.window),
        j(&spec.strides),
        padding_attr(&spec.padding)
    )
}

/// A scalar binary region `^bb0(a, b): return a <op> b`.
fn binary_region(em: &mut Emitter, body_op: &str, dt: DType, compare: bool) -> String {
    let s = Shape::scalar(dt).mlir();
    let (a, b, r) = (em.fresh(), em.fresh(), em.fresh());
    let ind = em.indent_str();
    let line = if compare {
        format!(
            "{r} = stablehlo.compare GE, {a}, {b}, FLOAT : ({s}, {s}) -> tensor<i1>\n{ind}    stablehlo.return {r} : tensor<i1>"
        )
    } else {
        format!("{r} = {body_op} {a}, {b} : {s}\n{ind}    stablehlo.return {r} : {s}")
    };
    format!("{{\n{ind}  ^bb0({a}: {s}, {b}: {s}):\n{ind}    {line}\n{ind}  }}")
}

/// Lowers a reduction node.
pub(crate) fn emit(em: &mut Emitter, node: NodeView) -> String {
    let (op, ins, in_shapes, out) = node.parts();
    let dt = in_shapes[0].dtype;
    let scalar = Shape::scalar(dt);
    match op {
        Op::Reduce { op, dims } => {
            let init = em.fresh();
            em.line(&format!(
                "{init} = stablehlo.constant dense<{}> : {}",
                identity(*op, dt),
                scalar.mlir()
            ));
            format!(
                "stablehlo.reduce({} init: {init}) applies {} across dimensions = {} : {}",
                ins[0],
                hlo_name(*op),
                ilist(dims),
                fn_type(&[in_shapes[0], &scalar], &[out])
            )
        }
        Op::ReduceWindow { op, spec } => {
            let init = em.fresh();
            em.line(&format!(
                "{init} = stablehlo.constant dense<{}> : {}",
                identity(*op, dt),
                scalar.mlir()
            ));
            let region = binary_region(em, hlo_name(*op), dt, false);
            format!(
                "\"stablehlo.reduce_window\"({}, {init}) ({region}) {{{}}} : {}",
                ins[0],
                window_attrs(spec),
                fn_type(&[in_shapes[0], &scalar], &[out])
            )
        }
        Op::SelectAndScatterAdd { spec } => {
            let init = em.fresh();
            em.line(&format!(
                "{init} = stablehlo.constant dense<{}> : {}",
                identity(ReduceOp::Sum, dt),
                scalar.mlir()
            ));
            let select = binary_region(em, "", dt, true);
            let scatter = binary_region(em, "stablehlo.add", dt, false);
            format!(
                "\"stablehlo.select_and_scatter\"({}, {}, {init}) ({select}, {scatter}) {{{}}} : {}",
                ins[0],
                ins[1],
                window_attrs(spec),
                fn_type(&[in_shapes[0], in_shapes[1], &scalar], &[out])
            )
        }
        _ => unreachable!("reduce::emit called for {}", op.name()),
    }
}

// ---------------------------------------------------------------- derivatives

/// The kept dimensions of a reduction, as `broadcast_in_dim` dims back to the operand.
fn kept(rank: usize, dims: &[usize]) -> Vec<usize> {
    (0..rank).filter(|d| !dims.contains(d)).collect()
}

/// For max/min: the indicator of the chosen elements and their count per output.
fn chooser(x: &Tensor, y: &Tensor, dims: &[usize]) -> Result<(Tensor, Tensor)> {
    let yb = y.broadcast_in_dim(x.dims(), &kept(x.rank(), dims))?;
    let mask = x.eq(&yb)?.convert(x.dtype())?;
    let count = mask.sum(dims, false)?;
    Ok((mask, count))
}

/// VJP of `reduce`.
pub(crate) fn reduce_vjp(
    op: ReduceOp,
    dims: &[usize],
    x: &Tensor,
    y: &Tensor,
    ct: &Tensor,
) -> Result<Tensor> {
    let k = kept(x.rank(), dims);
    match op {
        ReduceOp::Sum => ct.broadcast_in_dim(x.dims(), &k),
        ReduceOp::Max | ReduceOp::Min => {
            let (mask, count) = chooser(x, y, dims)?;
            (ct / count)?.broadcast_in_dim(x.dims(), &k)? * mask
        }
    }
}

/// JVP of `reduce`.
pub(crate) fn reduce_jvp(
    op: ReduceOp,
    dims: &[usize],
    x: &Tensor,
    y: &Tensor,
    t: &Tensor,
) -> Result<Tensor> {
    match op {
        ReduceOp::Sum => t.sum(dims, false),
        ReduceOp::Max | ReduceOp::Min => {
            let (mask, count) = chooser(x, y, dims)?;
            (t * mask)?.sum(dims, false)? / count
        }
    }
}

fn dilate(n: usize, d: usize) -> i64 {
    if n == 0 { 0 } else { 1 + (d * (n - 1)) as i64 }
}

/// VJP of `reduce_window`.
pub(crate) fn reduce_window_vjp(
    op: ReduceOp,
    spec: &WindowSpec,
    x: &Tensor,
    ct: &Tensor,
) -> Result<Tensor> {
    match op {
        // Sum: the transpose of a correlation with a ones kernel: pad the (stride-dilated)
        // cotangent and sum windows again with unit strides.
        ReduceOp::Sum => {
            let r = x.rank();
            let mut lo = vec![0; r];
            let mut hi = vec![0; r];
            let mut interior = vec![0; r];
            for i in 0..r {
                let before = spec.window[i] as i64 - spec.padding[i].0 - 1;
                let after = x.dims()[i] as i64 + spec.window[i] as i64
                    - 1
                    - dilate(ct.dims()[i], spec.strides[i])
                    - before;
                lo[i] = before;
                hi[i] = after;
                interior[i] = spec.strides[i] as i64 - 1;
            }
            let z = ct.graph.scalar(0.0, ct.dtype())?;
            let padded = ct.pad(&z, &lo, &hi, &interior)?;
            let s2 = WindowSpec {
                window: spec.window.clone(),
                strides: vec![1; r],
                padding: vec![(0, 0); r],
            };
            padded.reduce_window(ReduceOp::Sum, &s2)
        }
        // Max: route each window's cotangent to its (first) maximum.
        ReduceOp::Max => x.graph.push(
            Op::SelectAndScatterAdd { spec: spec.clone() },
            &[x, ct],
            x.shape.clone(),
        ),
        ReduceOp::Min => Err(Error::NotDifferentiable {
            op: "reduce_window",
            msg: "min-pooling has no gradient rule; use max-pooling of -x".into(),
        }),
    }
}

/// JVP of a max/min `reduce_window` with non-overlapping windows tiling the input exactly
/// (window = stride, no padding): the tangent at each window's chosen element.
pub(crate) fn reduce_window_chooser_jvp(
    spec: &WindowSpec,
    x: &Tensor,
    y: &Tensor,
    t: &Tensor,
) -> Result<Tensor> {
    let tiles = (0..x.rank()).all(|i| {
        spec.window[i] == spec.strides[i]
            && spec.padding[i] == (0, 0)
            && x.dims()[i].is_multiple_of(spec.window[i])
    });
    if !tiles {
        return Err(Error::NotDifferentiable {
            op: "reduce_window",
            msg: "forward mode through max/min pooling needs non-overlapping windows that tile the input; use vjp".into(),
        });
    }
    // broadcast each window's result back over its window
    let mut expanded = Vec::new();
    let mut map = Vec::new();
    for i in 0..x.rank() {
        map.push(expanded.len());
        expanded.push(y.dims()[i]);
        expanded.push(spec.window[i]);
    }
    let yb = y.broadcast_in_dim(&expanded, &map)?.reshape(x.dims())?;
    let mask = x.eq(&yb)?.convert(x.dtype())?;
    (t * mask)?.reduce_window(ReduceOp::Sum, spec)
}
