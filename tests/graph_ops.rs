//! Every primitive against an independent f64 host reference, its VJP against central
//! finite differences and its JVP against its VJP (needs the CPU plugin).

mod graph_util;

use graph_util::{Gen, check, inp};
use ndarray::{ArrayD, Axis, IxDyn, Slice, Zip};
use sbgm_xla::DType;
use sbgm_xla::exec::Target;
use sbgm_xla::graph::{ConvSpec, DotDims, Tensor};

fn exec() -> Target {
    Target::cpu().expect("the CPU plugin (sbgm-xla plugin install cpu)")
}

fn map(a: &ArrayD<f64>, f: impl Fn(f64) -> f64) -> ArrayD<f64> {
    a.mapv(f)
}

fn zip2(a: &ArrayD<f64>, b: &ArrayD<f64>, f: impl Fn(f64, f64) -> f64) -> ArrayD<f64> {
    let r = a.ndim().max(b.ndim());
    let pad = |x: &ArrayD<f64>| {
        let mut d = vec![1; r - x.ndim()];
        d.extend_from_slice(x.shape());
        x.to_shape(IxDyn(&d)).unwrap().to_owned()
    };
    let (a, b) = (pad(a), pad(b));
    let shape: Vec<usize> = (0..r).map(|i| a.shape()[i].max(b.shape()[i])).collect();
    let a = a.broadcast(IxDyn(&shape)).unwrap();
    let b = b.broadcast(IxDyn(&shape)).unwrap();
    Zip::from(&a).and(&b).map_collect(|&x, &y| f(x, y))
}

type Unary = (
    &'static str,
    fn(&Tensor) -> sbgm_xla::Result<Tensor>,
    fn(f64) -> f64,
    f64,
    f64,
);

#[test]
fn unary_ops() {
    let ex = exec();
    let mut rg = Gen::fresh();
    let ops: Vec<Unary> = vec![
        ("neg", |t| t.neg(), |x| -x, -2.0, 2.0),
        ("abs", |t| t.abs(), f64::abs, -2.0, 2.0),
        ("exp", |t| t.exp(), f64::exp, -2.0, 2.0),
        ("log", |t| t.log(), f64::ln, 0.1, 3.0),
        ("log1p", |t| t.log1p(), f64::ln_1p, -0.5, 3.0),
        ("expm1", |t| t.expm1(), f64::exp_m1, -2.0, 2.0),
        ("sqrt", |t| t.sqrt(), f64::sqrt, 0.1, 3.0),
        ("rsqrt", |t| t.rsqrt(), |x| 1.0 / x.sqrt(), 0.1, 3.0),
        ("tanh", |t| t.tanh(), f64::tanh, -2.0, 2.0),
        (
            "logistic",
            |t| t.logistic(),
            |x| 1.0 / (1.0 + (-x).exp()),
            -4.0,
            4.0,
        ),
        ("sin", |t| t.sin(), f64::sin, -3.0, 3.0),
        ("cos", |t| t.cos(), f64::cos, -3.0, 3.0),
        ("erf", |t| t.erf(), libm::erf, -2.0, 2.0),
        (
            "gelu_tanh",
            |t| t.gelu(true),
            |x| {
                0.5 * x
                    * (1.0
                        + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x * x * x)).tanh())
            },
            -3.0,
            3.0,
        ),
        (
            "gelu_erf",
            |t| t.gelu(false),
            |x| 0.5 * x * (1.0 + libm::erf(x / 2f64.sqrt())),
            -3.0,
            3.0,
        ),
        ("silu", |t| t.silu(), |x| x / (1.0 + (-x).exp()), -3.0, 3.0),
        (
            "softplus",
            |t| t.softplus(),
            |x| (1.0 + x.exp()).ln(),
            -3.0,
            3.0,
        ),
        ("relu", |t| t.relu(), |x| x.max(0.0), -3.0, 3.0),
    ];
    for (name, f, r, lo, hi) in ops {
        for dims in [vec![1], vec![3, 1, 4]] {
            let reference = move |x: &[ArrayD<f64>]| map(&x[0], r);
            check(
                &ex,
                &mut rg,
                name,
                &[inp(&dims, lo, hi)],
                &|_, x| f(&x[0]),
                Some(&reference),
            );
        }
    }
    // erf_inv: the reference is erf itself (erf(erf_inv(x)) = x)
    let reference = |x: &[ArrayD<f64>]| x[0].clone();
    check(
        &ex,
        &mut rg,
        "erf_inv",
        &[inp(&[7], -0.9, 0.9)],
        &|_, x| x[0].erf_inv()?.erf(),
        Some(&reference),
    );
    check(
        &ex,
        &mut rg,
        "erf_inv",
        &[inp(&[7], -0.9, 0.9)],
        &|_, x| x[0].erf_inv(),
        None,
    );
}

type Pc = (
    &'static str,
    fn(&Tensor) -> sbgm_xla::Result<Tensor>,
    fn(f64) -> f64,
);

#[test]
fn piecewise_constant_ops_have_zero_gradient() {
    let ex = exec();
    let mut rg = Gen::fresh();
    let ops: [Pc; 3] = [
        ("floor", |t| t.floor(), f64::floor),
        ("round", |t| t.round(), f64::round_ties_even),
        ("sign", |t| t.sign(), f64::signum),
    ];
    for (name, f, r) in ops {
        // x * 0.5 + op(x): the derivative is exactly 0.5 away from the jumps
        let reference =
            move |x: &[ArrayD<f64>]| zip2(&map(&x[0], |v| v * 0.5), &map(&x[0], r), |a, b| a + b);
        let g = |_: &_, x: &[Tensor]| (&x[0] * 0.5)? + f(&x[0])?;
        // inputs stay away from the jumps (integers, half-integers, zero) for the differences
        check(
            &ex,
            &mut rg,
            name,
            &[inp(&[6], 0.05, 0.45)],
            &g,
            Some(&reference),
        );
        check(
            &ex,
            &mut rg,
            name,
            &[inp(&[6], -1.45, -1.05)],
            &g,
            Some(&reference),
        );
    }
}

type Binary = (
    &'static str,
    fn(&Tensor, &Tensor) -> sbgm_xla::Result<Tensor>,
    fn(f64, f64) -> f64,
    (f64, f64),
    (f64, f64),
);

#[test]
fn binary_ops_with_broadcasting() {
    let ex = exec();
    let mut rg = Gen::fresh();
    let ops: Vec<Binary> = vec![
        ("add", |a, b| a + b, |a, b| a + b, (-2.0, 2.0), (-2.0, 2.0)),
        ("sub", |a, b| a - b, |a, b| a - b, (-2.0, 2.0), (-2.0, 2.0)),
        ("mul", |a, b| a * b, |a, b| a * b, (-2.0, 2.0), (-2.0, 2.0)),
        ("div", |a, b| a / b, |a, b| a / b, (-2.0, 2.0), (0.5, 2.0)),
        ("pow", |a, b| a.pow(b), f64::powf, (0.2, 2.0), (-2.0, 2.0)),
        (
            "max",
            |a, b| a.maximum(b),
            f64::max,
            (-2.0, 2.0),
            (-2.0, 2.0),
        ),
        (
            "min",
            |a, b| a.minimum(b),
            f64::min,
            (-2.0, 2.0),
            (-2.0, 2.0),
        ),
        (
            "atan2",
            |a, b| a.atan2(b),
            f64::atan2,
            (-2.0, 2.0),
            (0.3, 2.0),
        ),
        ("rem", |a, b| a.rem(b), |a, b| a % b, (0.1, 0.9), (1.0, 2.0)),
    ];
    for (name, f, r, ra, rb) in ops {
        for (da, db) in [
            (vec![3, 4], vec![3, 4]),
            (vec![3, 1], vec![1, 4]),
            (vec![2, 3, 4], vec![4]),
            (vec![1], vec![5]),
        ] {
            let reference = move |x: &[ArrayD<f64>]| zip2(&x[0], &x[1], r);
            check(
                &ex,
                &mut rg,
                name,
                &[inp(&da, ra.0, ra.1), inp(&db, rb.0, rb.1)],
                &|_, x| f(&x[0], &x[1]),
                Some(&reference),
            );
        }
    }
    // scalar operators
    let reference = |x: &[ArrayD<f64>]| map(&x[0], |v| (2.0 - v) * 3.0 / (v + 4.0) - 1.0);
    check(
        &ex,
        &mut rg,
        "scalar_ops",
        &[inp(&[5], -1.0, 1.0)],
        &|_, x| (((2.0 - &x[0])? * 3.0)? / (&x[0] + 4.0)?)? - 1.0,
        Some(&reference),
    );
}

#[test]
fn compare_select_convert() {
    let ex = exec();
    let mut rg = Gen::fresh();
    // select(a > b, a*a, b) with broadcasting; compare and select carry no gradient to the predicate
    let reference = |x: &[ArrayD<f64>]| zip2(&x[0], &x[1], |a, b| if a > b { a * a } else { b });
    check(
        &ex,
        &mut rg,
        "select",
        &[inp(&[3, 4], -1.0, 1.0), inp(&[4], -1.0, 1.0)],
        &|_, x| x[0].gt(&x[1])?.select(&x[0].sqr()?, &x[1]),
        Some(&reference),
    );
    for (name, c) in [("lt", 0), ("le", 1), ("eq", 2), ("ne", 3), ("ge", 4)] {
        let reference = move |x: &[ArrayD<f64>]| {
            zip2(&x[0], &x[1], |a, b| {
                let p = match c {
                    0 => a < b,
                    1 => a <= b,
                    2 => a == b,
                    3 => a != b,
                    _ => a >= b,
                };
                if p { a } else { -b }
            })
        };
        check(
            &ex,
            &mut rg,
            name,
            &[inp(&[6], -1.0, 1.0), inp(&[6], -1.0, 1.0)],
            &move |_, x| {
                let p = match c {
                    0 => x[0].lt(&x[1])?,
                    1 => x[0].le(&x[1])?,
                    2 => x[0].eq(&x[0])?.bit_and(&x[0].eq(&x[1])?)?,
                    3 => x[0].ne(&x[1])?,
                    _ => x[0].ge(&x[1])?,
                };
                p.select(&x[0], &x[1].neg()?)
            },
            Some(&reference),
        );
    }
    // convert f64 -> f32 -> f64 rounds to f32; the gradient passes through
    let reference = |x: &[ArrayD<f64>]| map(&x[0], |v| (v as f32) as f64 * 2.0);
    let ex2 = &ex;
    let g2 = sbgm_xla::graph::Graph::new();
    let x = g2.parameter("x", &[4], DType::F64).unwrap();
    let y = (x.convert(DType::F32).unwrap().convert(DType::F64).unwrap() * 2.0).unwrap();
    let i = x.convert(DType::I32).unwrap();
    let m = g2.build("convert", &[("y", &y), ("i", &i)]).unwrap();
    let xa = rg.array(&[4], -5.0, 5.0);
    let out = ex2.run(&m, &[graph_util::host(&xa)]).unwrap();
    graph_util::assert_close(
        "convert",
        &graph_util::to_array(&out[0]),
        &reference(std::slice::from_ref(&xa)),
        0.0,
        0.0,
    );
    assert_eq!(
        out[1].to_vec::<i32>().unwrap(),
        xa.iter().map(|v| v.trunc() as i32).collect::<Vec<_>>()
    );
}

#[test]
fn layout_ops() {
    let ex = exec();
    let mut rg = Gen::fresh();
    let r = |x: &[ArrayD<f64>]| x[0].broadcast(IxDyn(&[2, 3, 4])).unwrap().to_owned();
    check(
        &ex,
        &mut rg,
        "broadcast",
        &[inp(&[3, 1], -1.0, 1.0)],
        &|_, x| x[0].broadcast_to(&[2, 3, 4]),
        Some(&r),
    );
    let r = |x: &[ArrayD<f64>]| x[0].to_shape(IxDyn(&[4, 6])).unwrap().to_owned();
    check(
        &ex,
        &mut rg,
        "reshape",
        &[inp(&[2, 3, 4], -1.0, 1.0)],
        &|_, x| x[0].reshape(&[4, 6]),
        Some(&r),
    );
    let r = |x: &[ArrayD<f64>]| {
        x[0].clone()
            .permuted_axes(IxDyn(&[2, 0, 1]))
            .as_standard_layout()
            .to_owned()
    };
    check(
        &ex,
        &mut rg,
        "transpose",
        &[inp(&[2, 3, 4], -1.0, 1.0)],
        &|_, x| x[0].transpose(&[2, 0, 1]),
        Some(&r),
    );
    let r = |x: &[ArrayD<f64>]| {
        let mut a = x[0].clone();
        a.slice_axis_inplace(Axis(0), Slice::new(1, Some(5), 2));
        a.slice_axis_inplace(Axis(1), Slice::new(0, Some(3), 1));
        a.to_owned()
    };
    check(
        &ex,
        &mut rg,
        "slice",
        &[inp(&[6, 4], -1.0, 1.0)],
        &|_, x| x[0].slice(&[1, 0], &[5, 3], &[2, 1]),
        Some(&r),
    );
    let r = |x: &[ArrayD<f64>]| {
        ndarray::concatenate(Axis(1), &[x[0].view(), x[1].view(), x[0].view()]).unwrap()
    };
    check(
        &ex,
        &mut rg,
        "concatenate",
        &[inp(&[2, 3], -1.0, 1.0), inp(&[2, 1], -1.0, 1.0)],
        &|_, x| Tensor::cat(&[&x[0], &x[1], &x[0]], 1),
        Some(&r),
    );
    let r = |x: &[ArrayD<f64>]| {
        let mut a = x[0].clone();
        a.invert_axis(Axis(1));
        a
    };
    check(
        &ex,
        &mut rg,
        "reverse",
        &[inp(&[2, 3], -1.0, 1.0)],
        &|_, x| x[0].reverse(&[1]),
        Some(&r),
    );
    // pad with low 1 / high -1 on dim 0 (cropping), interior 1 on dim 1, value 0.5
    let r = |x: &[ArrayD<f64>]| {
        let a = &x[0];
        let (n0, n1) = (a.shape()[0], a.shape()[1]);
        let (d0, d1) = (1 + n0 - 1, 2 * n1 - 1 + 2);
        let mut out = ArrayD::from_elem(IxDyn(&[d0, d1]), 0.5);
        for i in 0..n0 {
            for j in 0..n1 {
                let (p, q) = (i + 1, 2 * j);
                if p < d0 {
                    out[[p, q]] = a[[i, j]];
                }
            }
        }
        out
    };
    check(
        &ex,
        &mut rg,
        "pad",
        &[inp(&[3, 4], -1.0, 1.0)],
        &|g, x| x[0].pad(&g.scalar(0.5, DType::F64)?, &[1, 0], &[-1, 2], &[0, 1]),
        Some(&r),
    );
    // dynamic slice / update at run-time indices (2, 1), clamped
    let r = |x: &[ArrayD<f64>]| {
        let mut a = x[0].clone();
        a.slice_axis_inplace(Axis(0), Slice::new(2, Some(4), 1));
        a.slice_axis_inplace(Axis(1), Slice::new(1, Some(4), 1));
        a.to_owned()
    };
    let idx = |g: &sbgm_xla::graph::Graph, v: f64| g.scalar(v, DType::I32);
    check(
        &ex,
        &mut rg,
        "dynamic_slice",
        &[inp(&[5, 4], -1.0, 1.0)],
        &|g, x| x[0].dynamic_slice(&[idx(g, 2.0)?, idx(g, 1.0)?], &[2, 3]),
        Some(&r),
    );
    let r = |x: &[ArrayD<f64>]| {
        let mut a = x[0].clone();
        // index 4 is clamped to 5 - 2 = 3
        a.slice_axis_mut(Axis(0), Slice::new(3, Some(5), 1))
            .slice_axis_mut(Axis(1), Slice::new(0, Some(3), 1))
            .assign(&x[1]);
        a
    };
    check(
        &ex,
        &mut rg,
        "dynamic_update_slice",
        &[inp(&[5, 4], -1.0, 1.0), inp(&[2, 3], -1.0, 1.0)],
        &|g, x| x[0].dynamic_update_slice(&x[1], &[idx(g, 4.0)?, idx(g, 0.0)?]),
        Some(&r),
    );
}

fn red(a: &ArrayD<f64>, axis: usize, f: impl Fn(f64, f64) -> f64, init: f64) -> ArrayD<f64> {
    a.fold_axis(Axis(axis), init, |&acc, &x| f(acc, x))
}

#[test]
fn reductions() {
    let ex = exec();
    let mut rg = Gen::fresh();
    let r = |x: &[ArrayD<f64>]| x[0].sum_axis(Axis(1));
    check(
        &ex,
        &mut rg,
        "sum",
        &[inp(&[3, 4, 2], -1.0, 1.0)],
        &|_, x| x[0].sum(&[1], false),
        Some(&r),
    );
    let r = |x: &[ArrayD<f64>]| x[0].mean_axis(Axis(0)).unwrap().mean_axis(Axis(1)).unwrap();
    check(
        &ex,
        &mut rg,
        "mean",
        &[inp(&[3, 4, 2], -1.0, 1.0)],
        &|_, x| x[0].mean(&[0, 2], false),
        Some(&r),
    );
    let r = |x: &[ArrayD<f64>]| red(&x[0], 1, f64::max, f64::NEG_INFINITY);
    check(
        &ex,
        &mut rg,
        "max",
        &[inp(&[3, 5], -1.0, 1.0)],
        &|_, x| x[0].max(&[1], false),
        Some(&r),
    );
    let r = |x: &[ArrayD<f64>]| red(&x[0], 0, f64::min, f64::INFINITY).insert_axis(Axis(0));
    check(
        &ex,
        &mut rg,
        "min",
        &[inp(&[3, 5], -1.0, 1.0)],
        &|_, x| x[0].min(&[0], true),
        Some(&r),
    );
    let r = |x: &[ArrayD<f64>]| x[0].mapv(f64::exp).sum_axis(Axis(1)).mapv(f64::ln);
    check(
        &ex,
        &mut rg,
        "logsumexp",
        &[inp(&[3, 5], -30.0, 30.0)],
        &|_, x| x[0].logsumexp(&[1], false),
        Some(&r),
    );
    let r = |x: &[ArrayD<f64>]| {
        let e = x[0].mapv(f64::exp);
        let s = e.sum_axis(Axis(1)).insert_axis(Axis(1));
        &e / &s
    };
    check(
        &ex,
        &mut rg,
        "softmax",
        &[inp(&[3, 5], -3.0, 3.0)],
        &|_, x| x[0].softmax(-1),
        Some(&r),
    );
    let r = |x: &[ArrayD<f64>]| {
        let e = x[0].mapv(f64::exp);
        let s = e.sum_axis(Axis(1)).insert_axis(Axis(1)).mapv(f64::ln);
        &x[0] - &s
    };
    check(
        &ex,
        &mut rg,
        "log_softmax",
        &[inp(&[3, 5], -3.0, 3.0)],
        &|_, x| x[0].log_softmax(1),
        Some(&r),
    );
    // max with ties: the gradient is shared (checked against finite differences of a
    // tie-free perturbation would be meaningless, so only VJP = JVP here)
    // argmax: integer result against the host
    let g = sbgm_xla::graph::Graph::new();
    let x = g.parameter("x", &[4, 6], DType::F64).unwrap();
    let am = x.argmax(1, false).unwrap();
    let m = g.build("argmax", &[("am", &am)]).unwrap();
    let xa = rg.array(&[4, 6], -1.0, 1.0);
    let out = ex.run(&m, &[graph_util::host(&xa)]).unwrap();
    let want: Vec<i32> = xa
        .outer_iter()
        .map(|row| {
            row.iter()
                .enumerate()
                .fold(
                    (0, f64::NEG_INFINITY),
                    |b, (i, &v)| if v > b.1 { (i, v) } else { b },
                )
                .0 as i32
        })
        .collect();
    assert_eq!(out[0].to_vec::<i32>().unwrap(), want);
}

#[test]
fn normalisations() {
    let ex = exec();
    let mut rg = Gen::fresh();
    let eps = 1e-5;
    let norm_last = move |a: &ArrayD<f64>, k: usize| {
        let n = a.len() / k;
        let flat = a.to_shape(IxDyn(&[n, k])).unwrap().to_owned();
        let mut out = flat.clone();
        for (mut o, row) in out.outer_iter_mut().zip(flat.outer_iter()) {
            let mu = row.mean().unwrap();
            let var = row.mapv(|v| (v - mu) * (v - mu)).mean().unwrap();
            o.assign(&row.mapv(|v| (v - mu) / (var + eps).sqrt()));
        }
        out.to_shape(IxDyn(a.shape())).unwrap().to_owned()
    };
    let r = move |x: &[ArrayD<f64>]| {
        let y = norm_last(&x[0], 12);
        zip2(&zip2(&y, &x[1], |a, b| a * b), &x[2], |a, b| a + b)
    };
    check(
        &ex,
        &mut rg,
        "layer_norm",
        &[
            inp(&[2, 3, 4], -2.0, 2.0),
            inp(&[3, 4], 0.5, 1.5),
            inp(&[3, 4], -1.0, 1.0),
        ],
        &|_, x| x[0].layer_norm(2, Some(&x[1]), Some(&x[2]), eps),
        Some(&r),
    );
    // group norm: [N=2, C=4, H=3, W=2], 2 groups of 2 channels
    let r = move |x: &[ArrayD<f64>]| {
        let y = norm_last(&x[0], 2 * 3 * 2);
        let w = x[1].to_shape(IxDyn(&[4, 1, 1])).unwrap().to_owned();
        let b = x[2].to_shape(IxDyn(&[4, 1, 1])).unwrap().to_owned();
        zip2(&zip2(&y, &w, |a, b| a * b), &b, |a, b| a + b)
    };
    check(
        &ex,
        &mut rg,
        "group_norm",
        &[
            inp(&[2, 4, 3, 2], -2.0, 2.0),
            inp(&[4], 0.5, 1.5),
            inp(&[4], -1.0, 1.0),
        ],
        &|_, x| x[0].group_norm(2, Some(&x[1]), Some(&x[2]), eps),
        Some(&r),
    );
    let r = move |x: &[ArrayD<f64>]| {
        let ms = x[0]
            .mapv(|v| v * v)
            .mean_axis(Axis(1))
            .unwrap()
            .insert_axis(Axis(1));
        let y = zip2(&x[0], &ms, |a, m| a / (m + eps).sqrt());
        zip2(&y, &x[1], |a, b| a * b)
    };
    check(
        &ex,
        &mut rg,
        "rms_norm",
        &[inp(&[3, 5], -2.0, 2.0), inp(&[5], 0.5, 1.5)],
        &|_, x| x[0].rms_norm(Some(&x[1]), eps),
        Some(&r),
    );
}

fn matmul_ref(a: &ArrayD<f64>, b: &ArrayD<f64>) -> ArrayD<f64> {
    // [B, M, K] x [B, K, N]
    let (bs, m, k, n) = (a.shape()[0], a.shape()[1], a.shape()[2], b.shape()[2]);
    let mut out = ArrayD::zeros(IxDyn(&[bs, m, n]));
    for q in 0..bs {
        for i in 0..m {
            for j in 0..n {
                out[[q, i, j]] = (0..k).map(|l| a[[q, i, l]] * b[[q, l, j]]).sum();
            }
        }
    }
    out
}

#[test]
fn dot_general() {
    let ex = exec();
    let mut rg = Gen::fresh();
    let r = |x: &[ArrayD<f64>]| matmul_ref(&x[0], &x[1]);
    check(
        &ex,
        &mut rg,
        "batched_matmul",
        &[inp(&[2, 3, 4], -1.0, 1.0), inp(&[2, 4, 5], -1.0, 1.0)],
        &|_, x| x[0].matmul(&x[1]),
        Some(&r),
    );
    // batch dimension in the middle of lhs and last of rhs, contraction on lhs 0 / rhs 0:
    // lhs [K=4, B=2, M=3], rhs [K=4, N=5, B=2] -> [B, M, N]
    let r = |x: &[ArrayD<f64>]| {
        let a = x[0].clone().permuted_axes(IxDyn(&[1, 2, 0])).to_owned(); // [B, M, K]
        let b = x[1].clone().permuted_axes(IxDyn(&[2, 0, 1])).to_owned(); // [B, K, N]
        matmul_ref(&a, &b)
    };
    let dd = DotDims {
        lhs_batch: vec![1],
        rhs_batch: vec![2],
        lhs_contract: vec![0],
        rhs_contract: vec![0],
    };
    check(
        &ex,
        &mut rg,
        "dot_general",
        &[inp(&[4, 2, 3], -1.0, 1.0), inp(&[4, 5, 2], -1.0, 1.0)],
        &|_, x| x[0].dot_general(&x[1], &dd),
        Some(&r),
    );
    // linear layer [N, K] x [K, M] and matrix-vector
    let r = |x: &[ArrayD<f64>]| {
        let a = x[0].clone().insert_axis(Axis(0));
        let b = x[1].clone().insert_axis(Axis(0));
        matmul_ref(&a, &b).index_axis_move(Axis(0), 0)
    };
    check(
        &ex,
        &mut rg,
        "matmul",
        &[inp(&[3, 4], -1.0, 1.0), inp(&[4, 2], -1.0, 1.0)],
        &|_, x| x[0].matmul(&x[1]),
        Some(&r),
    );
}

/// Naive NCHW/OIHW convolution with stride, padding, lhs/rhs dilation and feature groups.
fn conv_ref(x: &ArrayD<f64>, w: &ArrayD<f64>, s: &ConvSpec) -> ArrayD<f64> {
    let (n, c, h, wd) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
    let (o, ig, kh, kw) = (w.shape()[0], w.shape()[1], w.shape()[2], w.shape()[3]);
    let dil = |len: usize, d: usize| if len == 0 { 0 } else { (len - 1) * d + 1 };
    let (hd, wdd) = (
        dil(h, s.lhs_dilation[0]) as i64,
        dil(wd, s.lhs_dilation[1]) as i64,
    );
    let (khd, kwd) = (
        dil(kh, s.rhs_dilation[0]) as i64,
        dil(kw, s.rhs_dilation[1]) as i64,
    );
    let ho = ((hd + s.padding[0].0 + s.padding[0].1 - khd) / s.stride[0] as i64 + 1) as usize;
    let wo = ((wdd + s.padding[1].0 + s.padding[1].1 - kwd) / s.stride[1] as i64 + 1) as usize;
    let g = s.feature_groups;
    let og = o / g;
    let mut out = ArrayD::zeros(IxDyn(&[n, o, ho, wo]));
    for b in 0..n {
        for oc in 0..o {
            let grp = oc / og;
            for i in 0..ho {
                for j in 0..wo {
                    let mut acc = 0.0;
                    for ci in 0..ig {
                        let cin = grp * ig + ci;
                        for p in 0..kh {
                            for q in 0..kw {
                                // position in the padded, lhs-dilated input
                                let y = (i * s.stride[0]) as i64 + (p * s.rhs_dilation[0]) as i64
                                    - s.padding[0].0;
                                let z = (j * s.stride[1]) as i64 + (q * s.rhs_dilation[1]) as i64
                                    - s.padding[1].0;
                                if y < 0
                                    || z < 0
                                    || y % s.lhs_dilation[0] as i64 != 0
                                    || z % s.lhs_dilation[1] as i64 != 0
                                {
                                    continue;
                                }
                                let (yy, zz) = (
                                    (y / s.lhs_dilation[0] as i64) as usize,
                                    (z / s.lhs_dilation[1] as i64) as usize,
                                );
                                if yy < h && zz < wd {
                                    acc += x[[b, cin, yy, zz]] * w[[oc, ci, p, q]];
                                }
                            }
                        }
                    }
                    out[[b, oc, i, j]] = acc;
                }
            }
        }
    }
    let _ = c;
    out
}

#[test]
fn convolutions() {
    let ex = exec();
    let mut rg = Gen::fresh();
    let specs = vec![
        ([2, 3, 6, 5], [4, 3, 3, 3], ConvSpec::new(2).pad_all(1)),
        (
            [1, 4, 7, 7],
            [6, 2, 3, 2],
            ConvSpec::new(2)
                .stride(&[2, 1])
                .padding(&[(1, 0), (0, 2)])
                .groups(2),
        ),
        (
            [2, 2, 5, 6],
            [3, 2, 2, 3],
            ConvSpec::new(2).rhs_dilation(&[2, 1]).stride(&[1, 2]),
        ),
        (
            [1, 2, 4, 3],
            [2, 2, 3, 3],
            ConvSpec::new(2).lhs_dilation(&[2, 2]).pad_all(2),
        ),
        (
            [2, 4, 5, 5],
            [4, 1, 3, 3],
            ConvSpec::new(2).pad_all(1).groups(4).stride(&[2, 2]),
        ),
    ];
    for (xd, wd, spec) in specs {
        let s2 = spec.clone();
        let r = move |x: &[ArrayD<f64>]| conv_ref(&x[0], &x[1], &s2);
        check(
            &ex,
            &mut rg,
            "conv",
            &[inp(&xd, -1.0, 1.0), inp(&wd, -1.0, 1.0)],
            &|_, x| x[0].conv(&x[1], &spec),
            Some(&r),
        );
    }
    // transposed convolution (Equinox semantics): input dilation, kernel used as stored
    let r = |x: &[ArrayD<f64>]| {
        let s = ConvSpec::new(2)
            .lhs_dilation(&[2, 2])
            .padding(&[(2, 3), (2, 3)]);
        conv_ref(&x[0], &x[1], &s)
    };
    check(
        &ex,
        &mut rg,
        "conv_transpose",
        &[inp(&[1, 3, 4, 4], -1.0, 1.0), inp(&[2, 3, 4, 4], -1.0, 1.0)],
        &|_, x| x[0].conv_transpose2d(&x[1], 2, 1, 1, 1),
        Some(&r),
    );
}

#[test]
fn conv_transpose_is_the_adjoint_of_conv() {
    // For y = conv(x, w) with stride 2, padding 1: <conv_transpose(u, w'), x> = <u, conv(x, w)>
    // where w' is w spatially flipped with its in/out roles swapped.
    let ex = exec();
    let mut rg = Gen::fresh();
    let g = sbgm_xla::graph::Graph::new();
    let x = g.parameter("x", &[1, 3, 8, 8], DType::F64).unwrap();
    let w = g.parameter("w", &[5, 3, 4, 4], DType::F64).unwrap();
    let u = g.parameter("u", &[1, 5, 4, 4], DType::F64).unwrap();
    let y = x.conv2d(&w, 2, 1, 1, 1).unwrap();
    let lhs = (&u * &y).unwrap().sum_all().unwrap();
    let wt = w
        .transpose(&[1, 0, 2, 3])
        .unwrap()
        .reverse(&[2, 3])
        .unwrap();
    let xt = u.conv_transpose2d(&wt, 2, 1, 0, 1).unwrap();
    assert_eq!(xt.dims(), x.dims());
    let rhs = (&xt * &x).unwrap().sum_all().unwrap();
    let m = g.build("adjoint", &[("l", &lhs), ("r", &rhs)]).unwrap();
    let args: Vec<_> = [&[1, 3, 8, 8][..], &[5, 3, 4, 4], &[1, 5, 4, 4]]
        .iter()
        .map(|d| graph_util::host(&rg.array(d, -1.0, 1.0)))
        .collect();
    let out = ex.run(&m, &args).unwrap();
    let (l, r) = (out[0].to_f64_vec()[0], out[1].to_f64_vec()[0]);
    assert!(graph_util::rel(l, r) < 1e-12, "{l} vs {r}");
}

#[test]
fn pooling_and_indexing() {
    let ex = exec();
    let mut rg = Gen::fresh();
    let pool =
        |x: &ArrayD<f64>, k: usize, s: usize, f: fn(f64, f64) -> f64, init: f64, avg: bool| {
            let (n, c, h, w) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
            let (ho, wo) = ((h - k) / s + 1, (w - k) / s + 1);
            let mut out = ArrayD::zeros(IxDyn(&[n, c, ho, wo]));
            for b in 0..n {
                for ch in 0..c {
                    for i in 0..ho {
                        for j in 0..wo {
                            let mut acc = init;
                            for p in 0..k {
                                for q in 0..k {
                                    acc = f(acc, x[[b, ch, i * s + p, j * s + q]]);
                                }
                            }
                            out[[b, ch, i, j]] = if avg { acc / (k * k) as f64 } else { acc };
                        }
                    }
                }
            }
            out
        };
    let r = move |x: &[ArrayD<f64>]| pool(&x[0], 2, 2, |a, b| a + b, 0.0, true);
    check(
        &ex,
        &mut rg,
        "avg_pool",
        &[inp(&[2, 3, 6, 4], -1.0, 1.0)],
        &|_, x| x[0].avg_pool2d((2, 2), (2, 2)),
        Some(&r),
    );
    let r = move |x: &[ArrayD<f64>]| pool(&x[0], 3, 1, |a, b| a + b, 0.0, true);
    check(
        &ex,
        &mut rg,
        "avg_pool_overlap",
        &[inp(&[1, 2, 5, 5], -1.0, 1.0)],
        &|_, x| x[0].avg_pool2d((3, 3), (1, 1)),
        Some(&r),
    );
    let r = move |x: &[ArrayD<f64>]| pool(&x[0], 2, 2, f64::max, f64::NEG_INFINITY, false);
    check(
        &ex,
        &mut rg,
        "max_pool",
        &[inp(&[2, 3, 6, 4], -1.0, 1.0)],
        &|_, x| x[0].max_pool2d((2, 2), (2, 2)),
        Some(&r),
    );
    // take rows with repeated indices; scatter_add is its transpose
    let idx = [3.0, 0.0, 3.0, 1.0, 4.0, 0.0];
    let r = move |x: &[ArrayD<f64>]| {
        let rows: Vec<usize> = idx.iter().map(|&v| v as usize).collect();
        x[0].select(Axis(0), &rows)
            .to_shape(IxDyn(&[2, 3, 3]))
            .unwrap()
            .to_owned()
    };
    check(
        &ex,
        &mut rg,
        "take",
        &[inp(&[5, 3], -1.0, 1.0)],
        &|g, x| x[0].take(&g.constant_f64(&[2, 3], &idx, DType::I32)?),
        Some(&r),
    );
    let r = move |x: &[ArrayD<f64>]| {
        let mut out = x[0].clone();
        for (k, &i) in idx.iter().enumerate() {
            let row = x[1]
                .index_axis(Axis(0), k / 3)
                .index_axis(Axis(0), k % 3)
                .to_owned();
            let mut o = out.index_axis_mut(Axis(0), i as usize);
            o += &row;
        }
        out
    };
    check(
        &ex,
        &mut rg,
        "scatter_add",
        &[inp(&[5, 3], -1.0, 1.0), inp(&[2, 3, 3], -1.0, 1.0)],
        &|g, x| x[0].scatter_add(&g.constant_f64(&[2, 3], &idx, DType::I32)?, &x[1]),
        Some(&r),
    );
    let r = |x: &[ArrayD<f64>]| x[0].select(Axis(1), &[2, 0]);
    check(
        &ex,
        &mut rg,
        "index_select",
        &[inp(&[2, 3, 2], -1.0, 1.0)],
        &|g, x| x[0].index_select(&g.constant_f64(&[2], &[2.0, 0.0], DType::I64)?, 1),
        Some(&r),
    );
}
