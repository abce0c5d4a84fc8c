//! Layout primitives: broadcast, reshape, transpose, slices, concatenate, pad, reverse,
//! and the leaves (constants, iota).

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::emit::{Emitter, NodeView, fn_type, ilist};
use crate::graph::op::{ConstData, Op};
use crate::graph::prims::literal::dense;
use crate::graph::shape::{Shape, axis};
use crate::graph::tensor::Tensor;

fn invalid(op: &'static str, msg: String) -> Error {
    Error::InvalidOp { op, msg }
}

// ---------------------------------------------------------------- traced methods (shape rules)

impl Tensor {
    /// `stablehlo.broadcast_in_dim`: operand dimension `i` becomes result dimension `dims[i]`
    /// (strictly increasing); each operand size is 1 or equal to the result's.
    pub fn broadcast_in_dim(&self, out_dims: &[usize], dims: &[usize]) -> Result<Tensor> {
        let op = "broadcast_in_dim";
        if dims.len() != self.rank() {
            return Err(invalid(
                op,
                format!("{} dims given for operand {}", dims.len(), self.shape),
            ));
        }
        for (i, &d) in dims.iter().enumerate() {
            if d >= out_dims.len() || (i > 0 && d <= dims[i - 1]) {
                return Err(invalid(
                    op,
                    format!(
                        "dims {dims:?} must be strictly increasing and below {}",
                        out_dims.len()
                    ),
                ));
            }
            if self.dims()[i] != 1 && self.dims()[i] != out_dims[d] {
                return Err(Error::ShapeMismatch {
                    op,
                    lhs: self.shape.to_string(),
                    rhs: format!("{out_dims:?}"),
                    msg: format!("operand dimension {i} cannot stretch to result dimension {d}"),
                });
            }
        }
        if out_dims == self.dims() {
            return Ok(self.clone());
        }
        if let Some(v) = self.splat_value() {
            return self.graph.full(out_dims, v, self.dtype());
        }
        let shape = self.shape.with_dims(out_dims);
        self.graph.push(
            Op::BroadcastInDim {
                dims: dims.to_vec(),
            },
            &[self],
            shape,
        )
    }

    /// NumPy-style broadcast to `dims` (trailing dimensions aligned).
    pub fn broadcast_to(&self, dims: &[usize]) -> Result<Tensor> {
        if dims.len() < self.rank() {
            return Err(Error::ShapeMismatch {
                op: "broadcast",
                lhs: self.shape.to_string(),
                rhs: format!("{dims:?}"),
                msg: "the target has fewer dimensions than the operand".into(),
            });
        }
        let off = dims.len() - self.rank();
        let map: Vec<usize> = (0..self.rank()).map(|i| i + off).collect();
        self.broadcast_in_dim(dims, &map)
    }

    /// Reshape to `dims` (same element count; `stablehlo.reshape`).
    pub fn reshape(&self, dims: &[usize]) -> Result<Tensor> {
        let shape = self.shape.with_dims(dims);
        if shape.elem_count() != self.elem_count() {
            return Err(Error::ShapeMismatch {
                op: "reshape",
                lhs: self.shape.to_string(),
                rhs: format!("{dims:?}"),
                msg: "element counts differ".into(),
            });
        }
        if dims == self.dims() {
            return Ok(self.clone());
        }
        if let Some(v) = self.splat_value() {
            return self.graph.full(dims, v, self.dtype());
        }
        self.graph.push(Op::Reshape, &[self], shape)
    }

    /// Inserts a size-1 dimension at `axis` (negative counts from the end).
    pub fn unsqueeze(&self, axis_: isize) -> Result<Tensor> {
        let r = self.rank() as isize + 1;
        let a = if axis_ < 0 { axis_ + r } else { axis_ };
        if a < 0 || a >= r {
            return Err(invalid(
                "unsqueeze",
                format!("axis {axis_} out of range for {}", self.shape),
            ));
        }
        let mut d = self.dims().to_vec();
        d.insert(a as usize, 1);
        self.reshape(&d)
    }

    /// Removes a size-1 dimension.
    pub fn squeeze(&self, axis_: isize) -> Result<Tensor> {
        let a = axis("squeeze", &self.shape, axis_)?;
        if self.dims()[a] != 1 {
            return Err(invalid(
                "squeeze",
                format!("dimension {a} of {} is not 1", self.shape),
            ));
        }
        let mut d = self.dims().to_vec();
        d.remove(a);
        self.reshape(&d)
    }

    /// Flattens to one dimension.
    pub fn flatten_all(&self) -> Result<Tensor> {
        self.reshape(&[self.elem_count()])
    }

    /// `stablehlo.transpose`: result dimension `i` is operand dimension `perm[i]`.
    pub fn transpose(&self, perm: &[usize]) -> Result<Tensor> {
        let mut seen = vec![false; self.rank()];
        if perm.len() != self.rank()
            || perm
                .iter()
                .any(|&p| p >= self.rank() || std::mem::replace(&mut seen[p], true))
        {
            return Err(invalid(
                "transpose",
                format!(
                    "{perm:?} is not a permutation of the dimensions of {}",
                    self.shape
                ),
            ));
        }
        if perm.iter().enumerate().all(|(i, &p)| i == p) {
            return Ok(self.clone());
        }
        let dims: Vec<usize> = perm.iter().map(|&p| self.dims()[p]).collect();
        self.graph.push(
            Op::Transpose {
                perm: perm.to_vec(),
            },
            &[self],
            self.shape.with_dims(dims),
        )
    }

    /// Swaps the last two dimensions.
    pub fn t(&self) -> Result<Tensor> {
        let r = self.rank();
        if r < 2 {
            return Err(invalid("t", format!("needs rank >= 2, got {}", self.shape)));
        }
        let mut perm: Vec<usize> = (0..r).collect();
        perm.swap(r - 1, r - 2);
        self.transpose(&perm)
    }

    /// `stablehlo.slice` with per-dimension start, limit (exclusive) and stride.
    pub fn slice(&self, start: &[usize], limit: &[usize], stride: &[usize]) -> Result<Tensor> {
        let r = self.rank();
        if start.len() != r || limit.len() != r || stride.len() != r {
            return Err(invalid(
                "slice",
                format!(
                    "start/limit/stride must have {r} entries for {}",
                    self.shape
                ),
            ));
        }
        let mut dims = Vec::with_capacity(r);
        for i in 0..r {
            if start[i] > limit[i] || limit[i] > self.dims()[i] || stride[i] == 0 {
                return Err(invalid(
                    "slice",
                    format!(
                        "dimension {i}: {}..{} step {} does not fit size {} of {}",
                        start[i],
                        limit[i],
                        stride[i],
                        self.dims()[i],
                        self.shape
                    ),
                ));
            }
            dims.push((limit[i] - start[i]).div_ceil(stride[i]));
        }
        if dims == self.dims() {
            return Ok(self.clone());
        }
        let op = Op::Slice {
            start: start.to_vec(),
            limit: limit.to_vec(),
            stride: stride.to_vec(),
        };
        self.graph.push(op, &[self], self.shape.with_dims(dims))
    }

    /// `len` entries from `start` along `dim` (negative counts from the end).
    pub fn narrow(&self, dim: isize, start: usize, len: usize) -> Result<Tensor> {
        let d = axis("narrow", &self.shape, dim)?;
        let mut s = vec![0; self.rank()];
        let mut l = self.dims().to_vec();
        s[d] = start;
        l[d] = start + len;
        self.slice(&s, &l, &vec![1; self.rank()])
    }

    /// Splits into `n` equal chunks along `dim`.
    pub fn chunk(&self, n: usize, dim: isize) -> Result<Vec<Tensor>> {
        let d = axis("chunk", &self.shape, dim)?;
        if n == 0 || !self.dims()[d].is_multiple_of(n) {
            return Err(invalid(
                "chunk",
                format!(
                    "size {} of dimension {d} is not divisible by {n}",
                    self.dims()[d]
                ),
            ));
        }
        let m = self.dims()[d] / n;
        (0..n).map(|i| self.narrow(d as isize, i * m, m)).collect()
    }

    /// `stablehlo.dynamic_slice`: a block of `sizes` starting at run-time integer scalar
    /// indices (clamped into range like XLA).
    pub fn dynamic_slice(&self, starts: &[Tensor], sizes: &[usize]) -> Result<Tensor> {
        let op = "dynamic_slice";
        let starts = check_starts(op, self, starts)?;
        if sizes.len() != self.rank() || sizes.iter().zip(self.dims()).any(|(s, d)| s > d) {
            return Err(invalid(
                op,
                format!("sizes {sizes:?} do not fit {}", self.shape),
            ));
        }
        let mut ins: Vec<&Tensor> = vec![self];
        ins.extend(starts.iter());
        self.graph.push(
            Op::DynamicSlice {
                sizes: sizes.to_vec(),
            },
            &ins,
            self.shape.with_dims(sizes),
        )
    }

    /// `stablehlo.dynamic_update_slice`: `self` with `update` written at run-time indices.
    pub fn dynamic_update_slice(&self, update: &Tensor, starts: &[Tensor]) -> Result<Tensor> {
        let op = "dynamic_update_slice";
        let starts = check_starts(op, self, starts)?;
        if update.dtype() != self.dtype()
            || update.rank() != self.rank()
            || update.dims().iter().zip(self.dims()).any(|(u, d)| u > d)
        {
            return Err(Error::ShapeMismatch {
                op,
                lhs: self.shape.to_string(),
                rhs: update.shape.to_string(),
                msg: "the update must have the operand's type and rank and fit inside it".into(),
            });
        }
        let mut ins: Vec<&Tensor> = vec![self, update];
        ins.extend(starts.iter());
        self.graph
            .push(Op::DynamicUpdateSlice, &ins, self.shape.clone())
    }

    /// `stablehlo.concatenate` along `dim` (negative counts from the end).
    pub fn cat(parts: &[&Tensor], dim: isize) -> Result<Tensor> {
        let first = parts
            .first()
            .ok_or_else(|| invalid("concatenate", "no operands".into()))?;
        let d = axis("concatenate", &first.shape, dim)?;
        let mut dims = first.dims().to_vec();
        dims[d] = 0;
        for p in parts {
            let ok = p.dtype() == first.dtype()
                && p.rank() == first.rank()
                && (0..p.rank()).all(|i| i == d || p.dims()[i] == first.dims()[i]);
            if !ok {
                return Err(Error::ShapeMismatch {
                    op: "concatenate",
                    lhs: first.shape.to_string(),
                    rhs: p.shape.to_string(),
                    msg: format!("operands must agree in type and in every dimension but {d}"),
                });
            }
            dims[d] += p.dims()[d];
        }
        if parts.len() == 1 {
            return Ok(first.to_owned().clone());
        }
        first.graph.push(
            Op::Concatenate { dim: d },
            parts,
            first.shape.with_dims(dims),
        )
    }

    /// Stacks equal-shaped tensors along a new dimension `dim`.
    pub fn stack(parts: &[&Tensor], dim: usize) -> Result<Tensor> {
        let u: Vec<Tensor> = parts
            .iter()
            .map(|p| p.unsqueeze(dim as isize))
            .collect::<Result<_>>()?;
        let r: Vec<&Tensor> = u.iter().collect();
        Tensor::cat(&r, dim as isize)
    }

    /// `stablehlo.pad` with a scalar padding value; `low`/`high` may be negative (cropping),
    /// `interior` inserts values between elements.
    pub fn pad(
        &self,
        value: &Tensor,
        low: &[i64],
        high: &[i64],
        interior: &[i64],
    ) -> Result<Tensor> {
        let op = "pad";
        let r = self.rank();
        if value.rank() != 0 || value.dtype() != self.dtype() {
            return Err(Error::ShapeMismatch {
                op,
                lhs: self.shape.to_string(),
                rhs: value.shape.to_string(),
                msg: "the padding value must be a scalar of the operand's type".into(),
            });
        }
        if low.len() != r
            || high.len() != r
            || interior.len() != r
            || interior.iter().any(|&i| i < 0)
        {
            return Err(invalid(
                op,
                format!(
                    "low/high/interior must have {r} entries (interior >= 0) for {}",
                    self.shape
                ),
            ));
        }
        let mut dims = Vec::with_capacity(r);
        for i in 0..r {
            let n = self.dims()[i] as i64;
            let size = low[i] + high[i] + n + (n - 1).max(0) * interior[i];
            if size < 0 {
                return Err(invalid(
                    op,
                    format!("dimension {i} would have negative size {size}"),
                ));
            }
            dims.push(size as usize);
        }
        let p = Op::Pad {
            low: low.to_vec(),
            high: high.to_vec(),
            interior: interior.to_vec(),
        };
        self.graph
            .push(p, &[self, value], self.shape.with_dims(dims))
    }

    /// Zero padding (`low`, `high` per dimension).
    pub fn pad_zeros(&self, low: &[i64], high: &[i64]) -> Result<Tensor> {
        let z = self.graph.scalar(0.0, self.dtype())?;
        self.pad(&z, low, high, &vec![0; self.rank()])
    }

    /// `stablehlo.reverse` along `dims`.
    pub fn reverse(&self, dims: &[usize]) -> Result<Tensor> {
        if dims.iter().any(|&d| d >= self.rank()) {
            return Err(invalid(
                "reverse",
                format!("dims {dims:?} out of range for {}", self.shape),
            ));
        }
        if dims.is_empty() {
            return Ok(self.clone());
        }
        self.graph.push(
            Op::Reverse {
                dims: dims.to_vec(),
            },
            &[self],
            self.shape.clone(),
        )
    }
}

fn check_starts(op: &'static str, t: &Tensor, starts: &[Tensor]) -> Result<Vec<Tensor>> {
    if starts.len() != t.rank() {
        return Err(invalid(
            op,
            format!("{} start indices given for {}", starts.len(), t.shape),
        ));
    }
    let dt = starts.first().map(|s| s.dtype()).unwrap_or(DType::I32);
    starts
        .iter()
        .map(|s| {
            if s.rank() != 0 || !s.dtype().is_integer() {
                return Err(invalid(
                    op,
                    format!("start indices must be integer scalars, got {}", s.shape),
                ));
            }
            s.convert(dt)
        })
        .collect()
}

// ---------------------------------------------------------------- lowering

/// Lowers a layout node or a leaf.
pub(crate) fn emit(em: &mut Emitter, node: NodeView) -> String {
    let (op, ins, in_shapes, out) = node.parts();
    let t = out.mlir();
    let ty = fn_type(in_shapes, &[out]);
    match op {
        // splats of rank > 0 are a scalar broadcast: XLA would materialise a dense literal
        Op::Constant(ConstData::Splat(v)) if out.rank() > 0 => {
            let scalar = Shape::scalar(out.dtype);
            let c = em.fresh();
            em.line(&format!(
                "{c} = stablehlo.constant {} : {}",
                dense(&ConstData::Splat(*v), &scalar),
                scalar.mlir()
            ));
            format!(
                "stablehlo.broadcast_in_dim {c}, dims = [] : ({}) -> {t}",
                scalar.mlir()
            )
        }
        Op::Constant(data) => format!("stablehlo.constant {} : {t}", dense(data, out)),
        Op::Iota { dim } => format!("stablehlo.iota dim = {dim} : {t}"),
        Op::BroadcastInDim { dims } => format!(
            "stablehlo.broadcast_in_dim {}, dims = {} : {ty}",
            ins[0],
            ilist(dims)
        ),
        Op::Reshape => format!("stablehlo.reshape {} : {ty}", ins[0]),
        Op::Transpose { perm } => format!(
            "stablehlo.transpose {}, dims = {} : {ty}",
            ins[0],
            ilist(perm)
        ),
        Op::Slice {
            start,
            limit,
            stride,
        } => format!(
            "\"stablehlo.slice\"({}) {{start_indices = array<i64: {}>, limit_indices = array<i64: {}>, strides = array<i64: {}>}} : {ty}",
            ins[0],
            join(start),
            join(limit),
            join(stride)
        ),
        Op::DynamicSlice { sizes } => format!(
            "stablehlo.dynamic_slice {}, sizes = {} : {ty}",
            ins.join(", "),
            ilist(sizes)
        ),
        Op::DynamicUpdateSlice => {
            format!("stablehlo.dynamic_update_slice {} : {ty}", ins.join(", "))
        }
        Op::Concatenate { dim } => format!(
            "stablehlo.concatenate {}, dim = {dim} : {ty}",
            ins.join(", ")
        ),
        Op::Pad {
            low,
            high,
            interior,
        } => format!(
            "stablehlo.pad {}, {}, low = {}, high = {}, interior = {} : {ty}",
            ins[0],
            ins[1],
            ilist(low),
            ilist(high),
            ilist(interior)
        ),
        Op::Reverse { dims } => {
            format!("stablehlo.reverse {}, dims = {} : {t}", ins[0], ilist(dims))
        }
        _ => unreachable!("layout::emit called for {}", op.name()),
    }
}

fn join<T: std::fmt::Display>(v: &[T]) -> String {
    v.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

// ---------------------------------------------------------------- derivatives (transposes)

/// Transpose of `broadcast_in_dim`: sum the cotangent over the broadcast dimensions.
pub(crate) fn unbroadcast(ct: &Tensor, x: &Shape, dims: &[usize]) -> Result<Tensor> {
    let mut sum_dims = Vec::new();
    for o in 0..ct.rank() {
        match dims.iter().position(|&d| d == o) {
            None => sum_dims.push(o),
            Some(i) if x.dims[i] == 1 && ct.dims()[o] != 1 => sum_dims.push(o),
            Some(_) => {}
        }
    }
    ct.sum(&sum_dims, false)?.reshape(&x.dims)
}

/// VJP of the layout ops: cotangents of each input (`None` for index operands).
pub(crate) fn vjp(op: &Op, x: &[Tensor], ct: &Tensor) -> Result<Vec<Option<Tensor>>> {
    let xs = &x[0].shape;
    Ok(match op {
        Op::BroadcastInDim { dims } => vec![Some(unbroadcast(ct, xs, dims)?)],
        Op::Reshape => vec![Some(ct.reshape(&xs.dims)?)],
        Op::Transpose { perm } => {
            let mut inv = vec![0; perm.len()];
            for (i, &p) in perm.iter().enumerate() {
                inv[p] = i;
            }
            vec![Some(ct.transpose(&inv)?)]
        }
        // Slice: scatter the cotangent back with zero padding (interior = stride - 1).
        Op::Slice {
            start,
            limit: _,
            stride,
        } => {
            let r = xs.rank();
            let mut low = vec![0i64; r];
            let mut high = vec![0i64; r];
            let mut interior = vec![0i64; r];
            for i in 0..r {
                low[i] = start[i] as i64;
                interior[i] = stride[i] as i64 - 1;
                let n = ct.dims()[i] as i64;
                let used = if n == 0 {
                    0
                } else {
                    (n - 1) * stride[i] as i64 + 1
                };
                high[i] = xs.dims[i] as i64 - start[i] as i64 - used;
            }
            let z = ct.graph.scalar(0.0, ct.dtype())?;
            vec![Some(ct.pad(&z, &low, &high, &interior)?)]
        }
        Op::DynamicSlice { .. } => {
            let z = x[0].zeros_like()?;
            let mut v = vec![Some(z.dynamic_update_slice(ct, &x[1..])?)];
            v.extend(x[1..].iter().map(|_| None));
            v
        }
        Op::DynamicUpdateSlice => {
            let upd = &x[1];
            let cx = ct.dynamic_update_slice(&upd.zeros_like()?, &x[2..])?;
            let cu = ct.dynamic_slice(&x[2..], upd.dims())?;
            let mut v = vec![Some(cx), Some(cu)];
            v.extend(x[2..].iter().map(|_| None));
            v
        }
        Op::Concatenate { dim } => {
            let mut off = 0;
            let mut v = Vec::new();
            for xi in x {
                let n = xi.dims()[*dim];
                v.push(Some(ct.narrow(*dim as isize, off, n)?));
                off += n;
            }
            v
        }
        // Pad: crop the cotangent (negative padding) and take every (interior+1)-th element;
        // the padding value receives the rest.
        Op::Pad {
            low,
            high,
            interior,
        } => {
            let r = xs.rank();
            let z = ct.graph.scalar(0.0, ct.dtype())?;
            let neg_lo: Vec<i64> = low.iter().map(|v| -v).collect();
            let neg_hi: Vec<i64> = high.iter().map(|v| -v).collect();
            let cropped = ct.pad(&z, &neg_lo, &neg_hi, &vec![0; r])?;
            let stride: Vec<usize> = interior.iter().map(|&i| i as usize + 1).collect();
            let cx = cropped.slice(&vec![0; r], cropped.dims(), &stride)?;
            let cv = (ct.sum_all()? - cx.sum_all()?)?;
            vec![Some(cx), Some(cv)]
        }
        Op::Reverse { dims } => vec![Some(ct.reverse(dims)?)],
        _ => unreachable!("layout::vjp called for {}", op.name()),
    })
}
