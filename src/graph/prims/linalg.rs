//! Contractions: `stablehlo.dot_general` with batch dimensions, and `matmul` on top of it.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::emit::{Emitter, NodeView, fn_type, ilist};
use crate::graph::op::{DotDims, MatmulPrecision, NodeId, Op};
use crate::graph::shape::Shape;
use crate::graph::tensor::Tensor;

// ---------------------------------------------------------------- traced methods (shape rules)

impl Tensor {
    /// `stablehlo.dot_general`: result dimensions are the batch dimensions, then the free
    /// dimensions of `self`, then those of `rhs` (each in increasing order). `f32` products
    /// use the graph's [`MatmulPrecision`](crate::graph::GraphOptions::matmul_precision).
    pub fn dot_general(&self, rhs: &Tensor, dd: &DotDims) -> Result<Tensor> {
        let prec = self.graph.matmul_precision();
        self.dot_general_with(rhs, dd, prec)
    }

    /// [`dot_general`](Tensor::dot_general) with an explicit precision for `f32` products.
    pub fn dot_general_with(
        &self,
        rhs: &Tensor,
        dd: &DotDims,
        precision: MatmulPrecision,
    ) -> Result<Tensor> {
        let op = "dot_general";
        let bad = |msg: String| Error::ShapeMismatch {
            op,
            lhs: self.shape.to_string(),
            rhs: rhs.shape.to_string(),
            msg,
        };
        if self.dtype() != rhs.dtype() {
            return Err(bad("element types differ".into()));
        }
        if dd.lhs_batch.len() != dd.rhs_batch.len()
            || dd.lhs_contract.len() != dd.rhs_contract.len()
        {
            return Err(bad(format!(
                "batch/contracting dimension lists differ in length: {dd:?}"
            )));
        }
        let check = |dims: &[usize], rank: usize| {
            let mut s = dims.to_vec();
            s.sort_unstable();
            s.dedup();
            s.len() == dims.len() && s.iter().all(|&d| d < rank)
        };
        let lall: Vec<usize> = dd
            .lhs_batch
            .iter()
            .chain(&dd.lhs_contract)
            .copied()
            .collect();
        let rall: Vec<usize> = dd
            .rhs_batch
            .iter()
            .chain(&dd.rhs_contract)
            .copied()
            .collect();
        if !check(&lall, self.rank()) || !check(&rall, rhs.rank()) {
            return Err(bad(format!(
                "dimension numbers {dd:?} repeat or exceed the ranks"
            )));
        }
        for (&l, &r) in dd
            .lhs_batch
            .iter()
            .zip(&dd.rhs_batch)
            .chain(dd.lhs_contract.iter().zip(&dd.rhs_contract))
        {
            if self.dims()[l] != rhs.dims()[r] {
                return Err(bad(format!(
                    "lhs dimension {l} (size {}) and rhs dimension {r} (size {}) must match",
                    self.dims()[l],
                    rhs.dims()[r]
                )));
            }
        }
        let mut dims: Vec<usize> = dd.lhs_batch.iter().map(|&d| self.dims()[d]).collect();
        dims.extend(
            (0..self.rank())
                .filter(|d| !lall.contains(d))
                .map(|d| self.dims()[d]),
        );
        dims.extend(
            (0..rhs.rank())
                .filter(|d| !rall.contains(d))
                .map(|d| rhs.dims()[d]),
        );
        let precision = if self.dtype() == DType::F32 {
            precision
        } else {
            MatmulPrecision::F32
        };
        self.graph.push(
            Op::DotGeneral(dd.clone(), precision),
            &[self, rhs],
            self.shape.with_dims(dims),
        )
    }

    /// Matrix product: `[.., m, k] x [.., k, n]` with equal leading batch dimensions,
    /// `[.., k] x [k, n]` (a linear layer) or `[m, k] x [k]`.
    pub fn matmul(&self, rhs: &Tensor) -> Result<Tensor> {
        let (lr, rr) = (self.rank(), rhs.rank());
        let dd = if lr >= 1 && (1..=2).contains(&rr) {
            DotDims {
                lhs_contract: vec![lr - 1],
                rhs_contract: vec![0],
                ..Default::default()
            }
        } else if lr == rr && lr >= 3 {
            let b: Vec<usize> = (0..lr - 2).collect();
            DotDims {
                lhs_batch: b.clone(),
                rhs_batch: b,
                lhs_contract: vec![lr - 1],
                rhs_contract: vec![rr - 2],
            }
        } else {
            return Err(Error::ShapeMismatch {
                op: "matmul",
                lhs: self.shape.to_string(),
                rhs: rhs.shape.to_string(),
                msg: "unsupported ranks; use dot_general".into(),
            });
        };
        self.dot_general(rhs, &dd)
    }
}

// ---------------------------------------------------------------- lowering

/// Lowers `dot_general`.
pub(crate) fn emit(em: &mut Emitter, node: NodeView) -> String {
    let (op, ins, in_shapes, out) = node.parts();
    let inputs = node.inputs;
    let Op::DotGeneral(dd, precision) = op else {
        unreachable!()
    };
    if *precision == MatmulPrecision::Bf16
        && let Some(target) = em.g.options.host_bf16_matmul
        && let Some(call) = host_matmul(em, target, dd, inputs, ins, in_shapes, out)
    {
        return call;
    }
    if let Some(sum) = thin_batch_contraction(em, dd, *precision, ins, in_shapes, out) {
        return sum;
    }
    // One bf16 pass: round the operands, accumulate and return f32. XLA's CPU runtime has
    // bf16 x bf16 -> f32 kernels only for plain matrix products (its library fusions); others
    // fail at run time ("Unsupported element type for DotThunk"), so they get operands rounded
    // to bf16 and back, multiplied in f32: the same numbers, without the speed-up.
    let (ins, bf): (Vec<String>, Vec<Shape>) = if *precision == MatmulPrecision::Bf16 {
        let round_trip = !plain_matrix_product(dd, in_shapes);
        let mut names = Vec::new();
        let mut shapes = Vec::new();
        for (x, s) in ins.iter().zip(in_shapes) {
            if round_trip {
                names.push(round_bf16(em, x, s));
                shapes.push((*s).clone());
            } else {
                let b = s.with_dtype(DType::BF16);
                let t = em.fresh();
                em.line(&format!(
                    "{t} = stablehlo.convert {x} : ({}) -> {}",
                    s.mlir(),
                    b.mlir()
                ));
                names.push(t);
                shapes.push(b);
            }
        }
        (names, shapes)
    } else {
        (
            ins.to_vec(),
            in_shapes.iter().map(|s| (*s).clone()).collect(),
        )
    };
    let in_shapes: Vec<&Shape> = bf.iter().collect();
    let batch = if dd.lhs_batch.is_empty() {
        String::new()
    } else {
        format!(
            "batching_dims = {} x {}, ",
            ilist(&dd.lhs_batch),
            ilist(&dd.rhs_batch)
        )
    };
    format!(
        "stablehlo.dot_general {}, {}, {batch}contracting_dims = {} x {} : {}",
        ins[0],
        ins[1],
        ilist(&dd.lhs_contract),
        ilist(&dd.rhs_contract),
        fn_type(&in_shapes, &[out])
    )
}

/// Whether a product is a plain matrix product: no batch dimensions, one contracting
/// dimension each, a matrix rhs and an lhs that is a matrix or contracts its last dimension.
fn plain_matrix_product(dd: &DotDims, in_shapes: &[&Shape]) -> bool {
    let (lhs, rhs) = (in_shapes[0], in_shapes[1]);
    dd.lhs_batch.is_empty()
        && dd.lhs_contract.len() == 1
        && dd.rhs_contract.len() == 1
        && rhs.rank() == 2
        && (lhs.rank() == 2 || dd.lhs_contract[0] == lhs.rank() - 1)
}

/// A product `[m, k] x [k, n]` (either operand stored transposed) as a call of the host
/// kernel `target`: operands stay f32 (the kernel rounds them to bf16), attributes name the
/// contracting dimension of each. Dense layers on `[batch, tokens, features]` are flattened
/// around the call: an lhs contracted on its last dimension with a matrix (forward and input
/// gradient), and two operands contracted on all but their last dimension (weight gradient).
/// `None` for any other product, and for thin ones.
fn host_matmul(
    em: &mut Emitter,
    target: &str,
    dd: &DotDims,
    inputs: &[NodeId],
    ins: &[String],
    in_shapes: &[&Shape],
    out: &Shape,
) -> Option<String> {
    let (lhs, rhs) = (in_shapes[0], in_shapes[1]);
    if let Some(call) = host_matmul_of_parts(em, target, dd, inputs, in_shapes) {
        return Some(call);
    }
    let f32s = lhs.dtype == DType::F32 && rhs.dtype == DType::F32 && out.dtype == DType::F32;
    if !f32s || !dd.lhs_batch.is_empty() || lhs.rank() < 2 || rhs.rank() < 2 {
        return None;
    }
    let leading = |r: usize| (0..r).collect::<Vec<_>>();
    // (rows of the lhs matrix, its columns, lhs contracting dim, rhs as a matrix, rhs contracting dim)
    let (a2, b2, lc, rc) = if plain_matrix_product(dd, in_shapes) {
        let lc = dd.lhs_contract[0];
        let k = lhs.dims[lc];
        let a2 = if lhs.rank() == 2 {
            lhs.dims.clone()
        } else {
            vec![lhs.elem_count() / k.max(1), k]
        };
        (
            a2,
            rhs.dims.clone(),
            if lhs.rank() == 2 { lc } else { 1 },
            dd.rhs_contract[0],
        )
    } else if lhs.rank() == rhs.rank()
        && dd.lhs_contract == leading(lhs.rank() - 1)
        && dd.rhs_contract == leading(rhs.rank() - 1)
    {
        let p: usize = lhs.dims[..lhs.rank() - 1].iter().product();
        (
            vec![p, lhs.dims[lhs.rank() - 1]],
            vec![p, rhs.dims[rhs.rank() - 1]],
            0,
            0,
        )
    } else {
        return None;
    };
    let (m, k, n) = (a2[1 - lc], a2[lc], b2[1 - rc]);
    if !host_takes(m, k, n) {
        return None;
    }
    let mut flat = |x: &String, from: &Shape, to: &[usize]| -> (String, Shape) {
        let s2 = Shape::new(to.to_vec(), DType::F32);
        if from.dims == to {
            return (x.clone(), s2);
        }
        let t = em.fresh();
        em.line(&format!(
            "{t} = stablehlo.reshape {x} : ({}) -> {}",
            from.mlir(),
            s2.mlir()
        ));
        (t, s2)
    };
    let (a, a_shape) = flat(&ins[0], lhs, &a2);
    let (b, b_shape) = flat(&ins[1], rhs, &b2);
    let c_shape = Shape::new(vec![m, n], DType::F32);
    let call = format!(
        "stablehlo.custom_call @{target}({a}, {b}) {{api_version = 4 : i32, backend_config = \
         {{lhs_contract = {lc} : i64, rhs_contract = {rc} : i64}}}} : {}",
        fn_type(&[&a_shape, &b_shape], &[&c_shape])
    );
    if out.dims == c_shape.dims {
        return Some(call);
    }
    let c = em.fresh();
    em.line(&format!("{c} = {call}"));
    Some(format!(
        "stablehlo.reshape {c} : ({}) -> {}",
        c_shape.mlir(),
        out.mlir()
    ))
}

/// Emits `v` (an f32 value of shape `s`) rounded to bf16 and back; returns the result's name.
fn round_bf16(em: &mut Emitter, v: &str, s: &Shape) -> String {
    let b = s.with_dtype(DType::BF16);
    let (t, back) = (em.fresh(), em.fresh());
    em.line(&format!(
        "{t} = stablehlo.convert {v} : ({}) -> {}",
        s.mlir(),
        b.mlir()
    ));
    em.line(&format!(
        "{back} = stablehlo.convert {t} : ({}) -> {}",
        b.mlir(),
        s.mlir()
    ));
    back
}

/// An f32 product of two matrices contracted over their first dimension where one side has
/// at most 4 columns (a first layer's weight gradient `ct^T x`), as a sum over the contraction
/// of broadcast products: XLA's CPU product packs the transposed lhs element by element (about
/// 2% of an f32 training step of sbgm's MLP), while a reduction fusion reads each operand
/// once. Not for bf16 products: XLA drops an f32 -> bf16 -> f32 round trip of the operands
/// (excess precision is allowed), so they would not be rounded. `None` for other products.
fn thin_batch_contraction(
    em: &mut Emitter,
    dd: &DotDims,
    precision: MatmulPrecision,
    ins: &[String],
    in_shapes: &[&Shape],
    out: &Shape,
) -> Option<String> {
    let (lhs, rhs) = (in_shapes[0], in_shapes[1]);
    let f32s = lhs.dtype == DType::F32 && rhs.dtype == DType::F32 && out.dtype == DType::F32;
    if !f32s
        || precision != MatmulPrecision::F32
        || !dd.lhs_batch.is_empty()
        || lhs.rank() != 2
        || rhs.rank() != 2
        || dd.lhs_contract != [0]
        || dd.rhs_contract != [0]
        || lhs.dims[1].min(rhs.dims[1]) > 4
        || lhs.dims[0] < 64
    {
        return None;
    }
    let (k, m, n) = (lhs.dims[0], lhs.dims[1], rhs.dims[1]);
    let (a, b) = (&ins[0], &ins[1]);
    let big = Shape::new(vec![k, m, n], DType::F32);
    let (ab, bb, prod, zero) = (em.fresh(), em.fresh(), em.fresh(), em.fresh());
    em.line(&format!(
        "{ab} = stablehlo.broadcast_in_dim {a}, dims = [0, 1] : ({}) -> {}",
        lhs.mlir(),
        big.mlir()
    ));
    em.line(&format!(
        "{bb} = stablehlo.broadcast_in_dim {b}, dims = [0, 2] : ({}) -> {}",
        rhs.mlir(),
        big.mlir()
    ));
    em.line(&format!(
        "{prod} = stablehlo.multiply {ab}, {bb} : {}",
        big.mlir()
    ));
    let scalar = Shape::scalar(DType::F32);
    em.line(&format!(
        "{zero} = stablehlo.constant dense<0.0> : {}",
        scalar.mlir()
    ));
    Some(format!(
        "stablehlo.reduce({prod} init: {zero}) applies stablehlo.add across dimensions = [0] : {}",
        fn_type(&[&big, &scalar], &[out])
    ))
}

/// Whether the host kernel takes an `m × k` by `k × n` product. Not when the contraction or
/// the rows are thinner than one 16-wide tile: padding would be most of the tile work, and
/// XLA's own product is faster. A thin `n` (a few output columns) is taken when the rest is
/// large and A is short enough to be packed once (`m ≤ 512`): the work is then packing A,
/// which the kernel does faster than XLA's CPU product does for a transposed A (a first
/// layer's weight gradient), and the layer's operands need no bf16 copies. Measured on sbgm's
/// MLP (width 256, batch 256): training 780 → 1000 steps/s; with `m` = 4096 (sampling) XLA's
/// product stays about 5% faster.
fn host_takes(m: usize, k: usize, n: usize) -> bool {
    if k < 16 || m < 16 {
        return false;
    }
    n >= 16 || (m <= 512 && m * k >= 1 << 14)
}

/// A matrix product with a concatenated operand (a dense layer on `[h, t]`: its forward
/// product and its weight gradient) as a host call that reads the parts where they are, so
/// that XLA never builds the concatenation:
/// - the lhs `[x, c]` along the contraction with a narrow `c` (at most 8 columns): the kernel
///   multiplies `x` by the rhs's first rows (`rhs_k`), and XLA adds `c`'s few rank-one
///   products (operands rounded to bf16 as the kernel rounds them);
/// - the rhs `[x | c]` along its free dimension, `x` a multiple of 16 wide: the kernel takes
///   both parts (`rhs`, `rhs_tail`) and packs them side by side.
///
/// `None` when neither applies (rank-2 operands only).
fn host_matmul_of_parts(
    em: &mut Emitter,
    target: &str,
    dd: &DotDims,
    inputs: &[NodeId],
    in_shapes: &[&Shape],
) -> Option<String> {
    let (lhs, rhs) = (in_shapes[0], in_shapes[1]);
    if lhs.rank() != 2 || rhs.rank() != 2 || !plain_matrix_product(dd, in_shapes) {
        return None;
    }
    let (lc, rc) = (dd.lhs_contract[0], dd.rhs_contract[0]);
    let (m, k, n) = (lhs.dims[1 - lc], lhs.dims[lc], rhs.dims[1 - rc]);
    if !host_takes(m, k, n) {
        return None;
    }
    let g = em.g;
    // The parts of a concatenation along `dim` of the node `id`, with their names and shapes.
    let parts_of = |em: &Emitter, id: NodeId, dim: usize| -> Option<Vec<(String, Shape)>> {
        let node = &g.nodes[id];
        match node.op {
            Op::Concatenate { dim: d } if d == dim && node.inputs.len() >= 2 => Some(
                node.inputs
                    .iter()
                    .map(|&i| (em.name(i), g.nodes[i].shapes[0].clone()))
                    .collect(),
            ),
            _ => None,
        }
    };
    let f32s = |s: &Shape| s.dtype == DType::F32 && s.rank() == 2;
    let c_shape = Shape::new(vec![m, n], DType::F32);
    let attrs = |extra: &str| {
        format!(
            "{{api_version = 4 : i32, backend_config = {{lhs_contract = {lc} : i64, \
             rhs_contract = {rc} : i64{extra}}}}}"
        )
    };
    if let Some(parts) = parts_of(em, inputs[0], lc)
        && parts.iter().all(|(_, s)| f32s(s))
    {
        let kx = parts[0].1.dims[lc];
        if kx >= 16 && k - kx <= 8 {
            let (x, xs) = &parts[0];
            let w = em.name(inputs[1]);
            let y = em.fresh();
            em.line(&format!(
                "{y} = stablehlo.custom_call @{target}({x}, {w}) {} : {}",
                attrs(&format!(", rhs_k = {kx} : i64")),
                fn_type(&[xs, rhs], &[&c_shape])
            ));
            let mut acc = y;
            let mut off = kx;
            for (c, cs) in &parts[1..] {
                let wk = cs.dims[lc];
                let mut lim = rhs.dims.clone();
                let mut start = [0, 0];
                start[rc] = off;
                lim[rc] = off + wk;
                let mut ws_dims = rhs.dims.clone();
                ws_dims[rc] = wk;
                let ws = Shape::new(ws_dims, DType::F32);
                let sl = em.fresh();
                em.line(&format!(
                    "{sl} = \"stablehlo.slice\"({w}) {{start_indices = array<i64: {}, {}>, \
                     limit_indices = array<i64: {}, {}>, strides = array<i64: 1, 1>}} : ({}) -> {}",
                    start[0],
                    start[1],
                    lim[0],
                    lim[1],
                    rhs.mlir(),
                    ws.mlir()
                ));
                let (cr, wr) = (round_bf16(em, c, cs), round_bf16(em, &sl, &ws));
                let p = em.fresh();
                em.line(&format!(
                    "{p} = stablehlo.dot_general {cr}, {wr}, contracting_dims = [{lc}] x [{rc}] \
                     : {}",
                    fn_type(&[cs, &ws], &[&c_shape])
                ));
                let sum = format!("stablehlo.add {acc}, {p} : {}", c_shape.mlir());
                off += wk;
                if off == k {
                    return Some(sum);
                }
                acc = em.fresh();
                em.line(&format!("{acc} = {sum}"));
            }
        }
    }
    if let Some(parts) = parts_of(em, inputs[1], 1 - rc)
        && parts.len() == 2
        && parts.iter().all(|(_, s)| f32s(s))
        && parts[0].1.dims[1 - rc] % 16 == 0
    {
        let a = em.name(inputs[0]);
        let ((b1, s1), (b2, s2)) = (&parts[0], &parts[1]);
        return Some(format!(
            "stablehlo.custom_call @{target}({a}, {b1}, {b2}) {} : {}",
            attrs(""),
            fn_type(&[lhs, s1, s2], &[&c_shape])
        ));
    }
    None
}

// ---------------------------------------------------------------- derivatives

/// Cotangent of one operand of a dot product: contract the output cotangent with the other
/// operand over the other's free dimensions, then permute into this operand's layout.
/// `mine`/`other` are (batch, contract) lists of the operand and the other one; `mine_first`
/// tells whether this operand's free dimensions come first in the output.
fn operand_ct(
    prec: MatmulPrecision,
    ct: &Tensor,
    other: &Tensor,
    my_rank: usize,
    mine: (&[usize], &[usize]),
    oth: (&[usize], &[usize]),
    mine_first: bool,
) -> Result<Tensor> {
    let nb = mine.0.len();
    let my_free = my_rank - nb - mine.1.len();
    let oth_free_dims: Vec<usize> = (0..other.rank())
        .filter(|d| !oth.0.contains(d) && !oth.1.contains(d))
        .collect();
    let oth_free = oth_free_dims.len();
    // positions of the other operand's free dimensions in the output
    let ct_oth: Vec<usize> = if mine_first {
        (nb + my_free..nb + my_free + oth_free).collect()
    } else {
        (nb..nb + oth_free).collect()
    };
    let dd = DotDims {
        lhs_batch: (0..nb).collect(),
        rhs_batch: oth.0.to_vec(),
        lhs_contract: ct_oth,
        rhs_contract: oth_free_dims,
    };
    // result: [batch, my free (in order), other's remaining = its contract dims sorted]
    let r = ct.dot_general_with(other, &dd, prec)?;
    let mut sorted_oc = oth.1.to_vec();
    sorted_oc.sort_unstable();
    let mut perm = vec![0usize; my_rank];
    for (i, &d) in mine.0.iter().enumerate() {
        perm[d] = i;
    }
    let my_free_dims: Vec<usize> = (0..my_rank)
        .filter(|d| !mine.0.contains(d) && !mine.1.contains(d))
        .collect();
    for (j, &d) in my_free_dims.iter().enumerate() {
        perm[d] = nb + j;
    }
    for (k, &d) in mine.1.iter().enumerate() {
        let rank_in_sorted = sorted_oc.iter().position(|&x| x == oth.1[k]).unwrap();
        perm[d] = nb + my_free + rank_in_sorted;
    }
    r.transpose(&perm)
}

/// VJP of `dot_general`: (cotangent of lhs, cotangent of rhs).
pub(crate) fn dot_vjp(
    dd: &DotDims,
    prec: MatmulPrecision,
    lhs: &Tensor,
    rhs: &Tensor,
    ct: &Tensor,
) -> Result<(Tensor, Tensor)> {
    let cl = operand_ct(
        prec,
        ct,
        rhs,
        lhs.rank(),
        (&dd.lhs_batch, &dd.lhs_contract),
        (&dd.rhs_batch, &dd.rhs_contract),
        true,
    )?;
    let cr = operand_ct(
        prec,
        ct,
        lhs,
        rhs.rank(),
        (&dd.rhs_batch, &dd.rhs_contract),
        (&dd.lhs_batch, &dd.lhs_contract),
        false,
    )?;
    Ok((cl, cr))
}
