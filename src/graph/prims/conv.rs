//! Convolution (`stablehlo.convolution`, NCHW input, OIHW kernel, NCHW output), its
//! transposed form, and its derivative rules (after JAX's conv transpose rules).

use crate::error::{Error, Result};
use crate::graph::emit::{Emitter, NodeView, fn_type, ilist};
use crate::graph::op::{ConvSpec, Op};
use crate::graph::shape::Shape;
use crate::graph::tensor::Tensor;

impl ConvSpec {
    /// Unit strides and dilations, no padding, one group, for `n` spatial dimensions.
    pub fn new(n: usize) -> ConvSpec {
        ConvSpec {
            stride: vec![1; n],
            padding: vec![(0, 0); n],
            lhs_dilation: vec![1; n],
            rhs_dilation: vec![1; n],
            feature_groups: 1,
            batch_groups: 1,
        }
    }
    /// Sets the strides.
    pub fn stride(mut self, s: &[usize]) -> Self {
        self.stride = s.to_vec();
        self
    }
    /// Sets the (low, high) padding.
    pub fn padding(mut self, p: &[(i64, i64)]) -> Self {
        self.padding = p.to_vec();
        self
    }
    /// Same padding `p` on both sides of every spatial dimension.
    pub fn pad_all(mut self, p: i64) -> Self {
        self.padding = vec![(p, p); self.stride.len()];
        self
    }
    /// Sets the input dilation.
    pub fn lhs_dilation(mut self, d: &[usize]) -> Self {
        self.lhs_dilation = d.to_vec();
        self
    }
    /// Sets the kernel dilation.
    pub fn rhs_dilation(mut self, d: &[usize]) -> Self {
        self.rhs_dilation = d.to_vec();
        self
    }
    /// Sets the number of feature groups.
    pub fn groups(mut self, g: usize) -> Self {
        self.feature_groups = g;
        self
    }
}

fn dilate(n: usize, d: usize) -> i64 {
    if n == 0 { 0 } else { 1 + (d * (n - 1)) as i64 }
}

impl Tensor {
    /// `stablehlo.convolution` of NCHW (N-D spatial) input with an OIHW kernel
    /// `[out, in / groups, k...]`, giving NCHW output.
    pub fn conv(&self, w: &Tensor, spec: &ConvSpec) -> Result<Tensor> {
        let op = "convolution";
        let bad = |msg: String| Error::ShapeMismatch {
            op,
            lhs: self.shape.to_string(),
            rhs: w.shape.to_string(),
            msg,
        };
        let ns = spec.stride.len();
        if self.rank() != ns + 2 || w.rank() != ns + 2 {
            return Err(bad(format!(
                "input and kernel must have rank {} for {ns} spatial dimensions",
                ns + 2
            )));
        }
        if spec.padding.len() != ns
            || spec.lhs_dilation.len() != ns
            || spec.rhs_dilation.len() != ns
        {
            return Err(bad(
                "stride, padding and dilations must have one entry per spatial dimension".into(),
            ));
        }
        if self.dtype() != w.dtype() {
            return Err(bad("element types differ".into()));
        }
        let (fg, bg) = (spec.feature_groups, spec.batch_groups);
        let (n, c, o, i) = (self.dims()[0], self.dims()[1], w.dims()[0], w.dims()[1]);
        if fg == 0
            || bg == 0
            || (fg > 1 && bg > 1)
            || c != i * fg
            || o % fg != 0
            || n % bg != 0
            || o % bg != 0
        {
            return Err(bad(format!(
                "channels do not fit: input has {c}, kernel expects {i} x {fg} groups; {o} outputs; batch groups {bg}"
            )));
        }
        let mut dims = vec![n / bg, o];
        for s in 0..ns {
            let lhs = dilate(self.dims()[s + 2], spec.lhs_dilation[s])
                + spec.padding[s].0
                + spec.padding[s].1;
            let k = dilate(w.dims()[s + 2], spec.rhs_dilation[s]);
            if spec.stride[s] == 0 || lhs < k {
                return Err(bad(format!(
                    "spatial dimension {s}: the (dilated) kernel {k} is larger than the padded input {lhs}"
                )));
            }
            dims.push(((lhs - k) / spec.stride[s] as i64 + 1) as usize);
        }
        self.graph.push(
            Op::Conv(spec.clone()),
            &[self, w],
            self.shape.with_dims(dims),
        )
    }

    /// 2-D convolution of NCHW input with an OIHW kernel: `stride`, symmetric `padding`,
    /// kernel `dilation`, `groups` feature groups.
    pub fn conv2d(
        &self,
        w: &Tensor,
        stride: usize,
        padding: usize,
        dilation: usize,
        groups: usize,
    ) -> Result<Tensor> {
        let p = padding as i64;
        let spec = ConvSpec::new(2)
            .stride(&[stride, stride])
            .padding(&[(p, p), (p, p)])
            .rhs_dilation(&[dilation, dilation])
            .groups(groups);
        self.conv(w, &spec)
    }

    /// Transposed 2-D convolution as `equinox.nn.ConvTranspose2d`: input NCHW, kernel
    /// `[out, in, kh, kw]`; a convolution with input dilation `stride`, kernel dilation
    /// `dilation` and padding `(d (k - 1) - padding, d (k - 1) - padding + output_padding)`,
    /// the kernel used as stored (not flipped). Output size `(h - 1) * stride - 2 * padding +
    /// dilation * (k - 1) + output_padding + 1`. (The adjoint of a convolution with kernel `w`
    /// is this layer with `w` spatially flipped and its in/out roles swapped.)
    pub fn conv_transpose2d(
        &self,
        w: &Tensor,
        stride: usize,
        padding: usize,
        output_padding: usize,
        dilation: usize,
    ) -> Result<Tensor> {
        if w.rank() != 4 {
            return Err(Error::InvalidOp {
                op: "conv_transpose2d",
                msg: format!("kernel must be [out, in, kh, kw], got {}", w.shape),
            });
        }
        let mut pads = Vec::new();
        for s in 0..2 {
            let k = dilate(w.dims()[s + 2], dilation) - 1;
            pads.push((
                k - padding as i64,
                k - padding as i64 + output_padding as i64,
            ));
        }
        let spec = ConvSpec::new(2)
            .lhs_dilation(&[stride, stride])
            .padding(&pads)
            .rhs_dilation(&[dilation, dilation]);
        self.conv(w, &spec)
    }
}

/// Lowers a convolution. The operation keeps NCHW/OIHW semantics, but it is written in
/// channels-last form (input `[b, 0, 1, f]`, kernel `[0, 1, i, o]`, output `[b, 0, 1, f]`)
/// between transposes: XLA's CPU backend only sends that form to its fast (Eigen)
/// convolution, and its pass that rewrites other forms (`ConvCanonicalization`) visits the
/// entry computation only, so a convolution inside a loop body (a training loop, an ODE
/// solve) would otherwise run as a naive loop nest, an order of magnitude slower.
pub(crate) fn emit(em: &mut Emitter, node: NodeView) -> String {
    let (op, ins, in_shapes, out) = node.parts();
    let Op::Conv(s) = op else { unreachable!() };
    let ns = s.stride.len();
    let sp: Vec<String> = (0..ns).map(|i| i.to_string()).collect();
    let sp = sp.join(", ");
    let pads: Vec<String> = s
        .padding
        .iter()
        .map(|(l, h)| format!("[{l}, {h}]"))
        .collect();
    // NCHW -> NHWC, OIHW -> HWIO, NHWC -> NCHW
    let to_last: Vec<usize> = std::iter::once(0)
        .chain(2..ns + 2)
        .chain(std::iter::once(1))
        .collect();
    let kernel_perm: Vec<usize> = (2..ns + 2).chain([1, 0]).collect();
    let from_last: Vec<usize> = [0, ns + 1].into_iter().chain(1..ns + 1).collect();
    let permuted = |sh: &Shape, p: &[usize]| {
        let d = &sh.dims;
        sh.with_dims(p.iter().map(|&i| d[i]).collect::<Vec<_>>())
    };
    let (xs, ws, ys) = (
        permuted(in_shapes[0], &to_last),
        permuted(in_shapes[1], &kernel_perm),
        permuted(out, &to_last),
    );
    let x = em.fresh();
    em.line(&format!(
        "{x} = stablehlo.transpose {}, dims = {} : {}",
        ins[0],
        ilist(&to_last),
        fn_type(&[in_shapes[0]], &[&xs])
    ));
    let w = em.fresh();
    em.line(&format!(
        "{w} = stablehlo.transpose {}, dims = {} : {}",
        ins[1],
        ilist(&kernel_perm),
        fn_type(&[in_shapes[1]], &[&ws])
    ));
    let y = em.fresh();
    em.line(&format!(
        "{y} = stablehlo.convolution({x}, {w}) dim_numbers = [b, {sp}, f]x[{sp}, i, o]->[b, {sp}, f], window = {{stride = {}, pad = [{}], lhs_dilate = {}, rhs_dilate = {}}} {{batch_group_count = {} : i64, feature_group_count = {} : i64}} : {}",
        ilist(&s.stride),
        pads.join(", "),
        ilist(&s.lhs_dilation),
        ilist(&s.rhs_dilation),
        s.batch_groups,
        s.feature_groups,
        fn_type(&[&xs, &ws], &[&ys])
    ));
    format!(
        "stablehlo.transpose {y}, dims = {} : {}",
        ilist(&from_last),
        fn_type(&[&ys], &[out])
    )
}

/// VJP of a convolution: (cotangent of the input, cotangent of the kernel).
pub(crate) fn conv_vjp(
    s: &ConvSpec,
    x: &Tensor,
    w: &Tensor,
    ct: &Tensor,
) -> Result<(Tensor, Tensor)> {
    if s.batch_groups != 1 {
        return Err(Error::NotDifferentiable {
            op: "convolution",
            msg: "convolutions with batch groups (kernel gradients) are not differentiated again"
                .into(),
        });
    }
    let ns = s.stride.len();
    let g = s.feature_groups;
    let (o, ig) = (w.dims()[0], w.dims()[1]);
    let sp: Vec<usize> = (2..ns + 2).collect();

    // Input: convolve the cotangent with the flipped kernel whose in/out roles are swapped
    // within each group: [O, C/G, k..] -> [G, O/G, C/G, k..] -> [G, C/G, O/G, k..] -> [C, O/G, k..].
    let mut wd = vec![g, o / g, ig];
    wd.extend_from_slice(&w.dims()[2..]);
    let mut perm = vec![0, 2, 1];
    perm.extend(3..ns + 3);
    let mut wt_dims = vec![g * ig, o / g];
    wt_dims.extend_from_slice(&w.dims()[2..]);
    let wt = w
        .reshape(&wd)?
        .transpose(&perm)?
        .reshape(&wt_dims)?
        .reverse(&sp)?;
    let mut pad_l = Vec::new();
    for d in 0..ns {
        let lhs_d = dilate(x.dims()[d + 2], s.lhs_dilation[d]);
        let rhs_d = dilate(w.dims()[d + 2], s.rhs_dilation[d]);
        let out_d = dilate(ct.dims()[d + 2], s.stride[d]);
        let before = rhs_d - s.padding[d].0 - 1;
        let after = lhs_d + rhs_d - 1 - out_d - before;
        pad_l.push((before, after));
    }
    let spec_l = ConvSpec {
        stride: s.lhs_dilation.clone(),
        padding: pad_l,
        lhs_dilation: s.stride.clone(),
        rhs_dilation: s.rhs_dilation.clone(),
        feature_groups: g,
        batch_groups: 1,
    };
    let cx = ct.conv(&wt, &spec_l)?;

    // Kernel: correlate the input (channels as batch) with the cotangent (batch as input
    // features), feature groups becoming batch groups.
    let mut tperm = vec![1, 0];
    tperm.extend(2..ns + 2);
    let xt = x.transpose(&tperm)?; // [C, N, ..]
    let ctt = ct.transpose(&tperm)?; // [O, N, ..]
    let mut pad_r = Vec::new();
    for d in 0..ns {
        let lhs_d = dilate(x.dims()[d + 2], s.lhs_dilation[d]);
        let rhs_d = dilate(w.dims()[d + 2], s.rhs_dilation[d]);
        let out_d = dilate(ct.dims()[d + 2], s.stride[d]);
        let lo = s.padding[d].0;
        pad_r.push((lo, (out_d - lhs_d) + (rhs_d - lo - 1)));
    }
    let spec_r = ConvSpec {
        stride: s.rhs_dilation.clone(),
        padding: pad_r,
        lhs_dilation: s.lhs_dilation.clone(),
        rhs_dilation: s.stride.clone(),
        feature_groups: 1,
        batch_groups: g,
    };
    let r = xt.conv(&ctt, &spec_r)?; // [C/G, O, k..]
    let cw = r.transpose(&tperm)?; // [O, C/G, k..]
    // the result may be larger than the kernel when strides do not divide evenly
    let cw = if cw.dims() != w.dims() {
        cw.slice(&vec![0; ns + 2], w.dims(), &vec![1; ns + 2])?
    } else {
        cw
    };
    Ok((cx, cw))
}
