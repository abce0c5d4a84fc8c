//! `MatmulPrecision::Bf16`: one bf16 pass with f32 accumulation, in the forward product and in
//! both cotangent products, against host references with bf16-rounded operands.

mod graph_util;

use graph_util::{Gen, assert_close, to_array};
use half::bf16;
use ndarray::{Array2, ArrayD, Ix2};
use sbgm_xla::exec::Target;
use sbgm_xla::graph::{Graph, GraphOptions, MatmulPrecision, vjp};
use sbgm_xla::kernels;
use sbgm_xla::{DType, HostArray};

/// Rounds each entry to bfloat16 (round to nearest even), as the device does.
fn round_bf16(a: &ArrayD<f64>) -> Array2<f64> {
    a.mapv(|v| bf16::from_f32(v as f32).to_f64())
        .into_dimensionality::<Ix2>()
        .unwrap()
}

fn f32_of(a: &ArrayD<f64>) -> Array2<f64> {
    a.mapv(|v| v as f32 as f64)
        .into_dimensionality::<Ix2>()
        .unwrap()
}

/// A CPU executor and a graph multiplying at precision `p`; `host` lowers its bf16 products
/// to the host kernel's custom call.
fn setup(p: MatmulPrecision, host: bool) -> (Target, Graph) {
    let exec = Target::cpu().unwrap();
    if host {
        kernels::register(exec.client()).unwrap();
    }
    let g = Graph::with_options(GraphOptions {
        matmul_precision: p,
        host_bf16_matmul: host.then_some(kernels::BF16_MATMUL),
    });
    (exec, g)
}

/// Runs `m` on the inputs rounded to f32; the outputs as f64 arrays.
fn run_f32(
    exec: &Target,
    m: &sbgm_xla::graph::Module,
    inputs: &[&ArrayD<f64>],
) -> Vec<ArrayD<f64>> {
    let args: Vec<HostArray> = inputs
        .iter()
        .map(|a| HostArray::from_ndarray(&a.mapv(|v| v as f32)))
        .collect();
    exec.run(m, &args).unwrap().iter().map(to_array).collect()
}

/// The references for `run`: `y = x @ w`, `dx = c @ w^T`, `dw = x^T @ c` in f64.
fn products(x: &Array2<f64>, w: &Array2<f64>, c: &Array2<f64>) -> [Array2<f64>; 3] {
    [x.dot(w), c.dot(&w.t()), x.t().dot(c)]
}

/// Runs `y = x @ w` and the cotangents of `sum(y * c)` at the given precision.
fn run(p: MatmulPrecision, x: &ArrayD<f64>, w: &ArrayD<f64>, c: &ArrayD<f64>) -> Vec<ArrayD<f64>> {
    run_with(p, false, x, w, c)
}

/// As [`run`]; `host` lowers the bf16 products to the host kernel's custom call.
fn run_with(
    p: MatmulPrecision,
    host: bool,
    x: &ArrayD<f64>,
    w: &ArrayD<f64>,
    c: &ArrayD<f64>,
) -> Vec<ArrayD<f64>> {
    let (exec, g) = setup(p, host);
    let xs = g.parameter("x", x.shape(), DType::F32).unwrap();
    let ws = g.parameter("w", w.shape(), DType::F32).unwrap();
    let cs = g.parameter("c", c.shape(), DType::F32).unwrap();
    let y = xs.matmul(&ws).unwrap();
    let cts = vjp(&[&y], &[&cs], &[&xs, &ws]).unwrap();
    let m = g
        .build("p", &[("y", &y), ("dx", &cts[0]), ("dw", &cts[1])])
        .unwrap();
    if p == MatmulPrecision::Bf16 {
        assert!(m.text.contains("bf16"), "no bf16 operands in:\n{}", m.text);
    }
    // products with a thin contraction or row count stay with XLA's product; a thin column
    // count goes to the kernel when A has at most 512 rows (see `host_takes`)
    let (mm, kk, nn) = (x.shape()[0], x.shape()[1], w.shape()[1]);
    let takes = |m: usize, k: usize, n: usize| {
        m >= 16 && k >= 16 && (n >= 16 || (m <= 512 && m * k >= 1 << 14))
    };
    // y = x w, dx = c w^T, and dw computed as (c^T x)^T
    let want_calls = [takes(mm, kk, nn), takes(mm, nn, kk), takes(nn, mm, kk)]
        .iter()
        .filter(|&&t| t)
        .count();
    assert_eq!(
        m.text.matches(kernels::BF16_MATMUL).count(),
        if host { want_calls } else { 0 },
        "{}",
        m.text
    );
    run_f32(&exec, &m, &[x, w, c])
}

#[test]
fn bf16_products_round_operands_and_accumulate_in_f32() {
    let mut r = Gen::fresh();
    let (x, w, c) = (
        r.array(&[16, 96], -1.0, 1.0),
        r.array(&[96, 24], -1.0, 1.0),
        r.array(&[16, 24], -1.0, 1.0),
    );
    let bf = run(MatmulPrecision::Bf16, &x, &w, &c);
    let full = run(MatmulPrecision::F32, &x, &w, &c);
    // references: products of bf16-rounded operands summed in f64 (exact products; f32
    // accumulation differs by ~1e-7 relative), and the same with f32 operands
    let want_bf = products(&round_bf16(&x), &round_bf16(&w), &round_bf16(&c));
    let want_f32 = products(&f32_of(&x), &f32_of(&w), &f32_of(&c));
    for (i, what) in ["y", "dx", "dw"].iter().enumerate() {
        assert_close(
            &format!("bf16 {what}"),
            &bf[i],
            &want_bf[i].clone().into_dyn(),
            1e-5,
            1e-5,
        );
        assert_close(
            &format!("f32 {what}"),
            &full[i],
            &want_f32[i].clone().into_dyn(),
            1e-5,
            1e-5,
        );
        // the two precisions really differ (by about bf16's 2^-9 relative rounding)
        let diff = (&bf[i] - &full[i])
            .mapv(f64::abs)
            .fold(0.0f64, |a, &b| a.max(b));
        assert!(diff > 1e-4, "{what}: bf16 and f32 agree to {diff}");
    }
}

#[test]
fn the_host_kernel_computes_the_same_bf16_products() {
    // the custom call (AMX kernel where the CPU has it, else the portable one) against the same
    // references as XLA's own bf16 product: forward, and both cotangents (transposed operands)
    let mut r = Gen::fresh();
    // the last shape is large enough to be split into row blocks over the thread pool
    // (256, 128, 3): a thin output, taken by the kernel for y only (dx contracts 3, dw has
    // 3 rows); (1024, 64, 3): y stays with XLA (A has more than 512 rows)
    for (m, k, n) in [
        (16, 96, 24),
        (5, 3, 2),
        (33, 257, 17),
        (300, 128, 130),
        (256, 128, 3),
        (1024, 64, 3),
    ] {
        let (x, w, c) = (
            r.array(&[m, k], -1.0, 1.0),
            r.array(&[k, n], -1.0, 1.0),
            r.array(&[m, n], -1.0, 1.0),
        );
        let host = run_with(MatmulPrecision::Bf16, true, &x, &w, &c);
        let want = products(&round_bf16(&x), &round_bf16(&w), &round_bf16(&c));
        for (i, what) in ["y", "dx", "dw"].iter().enumerate() {
            assert_close(
                &format!("host bf16 {what} ({m}x{k}x{n})"),
                &host[i],
                &want[i].clone().into_dyn(),
                1e-5,
                1e-5,
            );
        }
    }
}

#[test]
fn dense_layers_on_higher_rank_inputs_in_bf16() {
    // x [4, 8, 40] . w [40, 24] on x's last axis (a dense layer over tokens), its input and
    // weight cotangents (the latter contracts two axes), against bf16-rounded host products:
    // with XLA's product (whose CPU runtime has no mixed bf16 kernel for the two-axis
    // contraction: it used to fail at run time) and with the host kernel, which takes all
    // three on flattened rows.
    let mut r = Gen::fresh();
    let (x, w, c) = (
        r.array(&[4, 8, 40], -1.0, 1.0),
        r.array(&[40, 24], -1.0, 1.0),
        r.array(&[4, 8, 24], -1.0, 1.0),
    );
    let flat = |a: &ArrayD<f64>, cols: usize| {
        round_bf16(
            &a.clone()
                .into_shape_with_order((32, cols))
                .unwrap()
                .into_dyn(),
        )
    };
    let [y, dx, dw] = products(&flat(&x, 40), &round_bf16(&w), &flat(&c, 24));
    let want = [
        y.into_shape_with_order((4, 8, 24)).unwrap().into_dyn(),
        dx.into_shape_with_order((4, 8, 40)).unwrap().into_dyn(),
        dw.into_dyn(),
    ];
    for host in [false, true] {
        let (exec, g) = setup(MatmulPrecision::Bf16, host);
        let xs = g.parameter("x", x.shape(), DType::F32).unwrap();
        let ws = g.parameter("w", w.shape(), DType::F32).unwrap();
        let cs = g.parameter("c", c.shape(), DType::F32).unwrap();
        let dims = sbgm_xla::graph::DotDims {
            lhs_contract: vec![2],
            rhs_contract: vec![0],
            ..Default::default()
        };
        let y = xs.dot_general(&ws, &dims).unwrap();
        let cts = vjp(&[&y], &[&cs], &[&xs, &ws]).unwrap();
        let m = g
            .build("p", &[("y", &y), ("dx", &cts[0]), ("dw", &cts[1])])
            .unwrap();
        let calls = m.text.matches(kernels::BF16_MATMUL).count();
        assert_eq!(calls, if host { 3 } else { 0 }, "{}", m.text);
        let out = run_f32(&exec, &m, &[&x, &w, &c]);
        for (i, what) in ["y", "dx", "dw"].iter().enumerate() {
            let name = format!("rank-3 {what} (host kernel: {host})");
            assert_close(&name, &out[i], &want[i], 1e-5, 1e-5);
        }
    }
}

#[test]
fn non_f32_contractions_ignore_the_setting() {
    let g = Graph::with_options(GraphOptions::precision(MatmulPrecision::Bf16));
    let a = g.parameter("a", &[3, 4], DType::F64).unwrap();
    let b = g.parameter("b", &[4, 2], DType::F64).unwrap();
    let y = a.matmul(&b).unwrap();
    let m = g.build("p", &[("y", &y)]).unwrap();
    assert!(!m.text.contains("bf16"), "{}", m.text);
    assert_eq!(g.matmul_precision(), MatmulPrecision::Bf16);
    assert_eq!("bf16".parse::<MatmulPrecision>(), Ok(MatmulPrecision::Bf16));
    let e = "fp8".parse::<MatmulPrecision>().unwrap_err();
    assert!(e.contains("\"f32\"") && e.contains("\"bf16\""), "{e}");
}

#[test]
fn batched_bf16_products_run_and_round_their_operands() {
    // (XLA's CPU runtime has no mixed bf16 -> f32 kernel for batched products.)
    let mut r = Gen::fresh();
    let (a, b) = (
        r.array(&[3, 8, 40], -1.0, 1.0),
        r.array(&[3, 40, 5], -1.0, 1.0),
    );
    let g = Graph::with_options(GraphOptions::precision(MatmulPrecision::Bf16));
    let at = g.parameter("a", a.shape(), DType::F32).unwrap();
    let bt = g.parameter("b", b.shape(), DType::F32).unwrap();
    let y = at.matmul(&bt).unwrap();
    // also inside a loop body (XLA fuses differently there)
    let looped = g
        .fori_loop(0, 2, std::slice::from_ref(&y), |_, v| {
            Ok(vec![(at.matmul(&bt)? + (&v[0] * 0.0)?)?])
        })
        .unwrap();
    let m = g.build("p", &[("y", &y), ("looped", &looped[0])]).unwrap();
    let f32s = |x: &ArrayD<f64>| HostArray::from_ndarray(&x.mapv(|v| v as f32));
    let outs = Target::cpu()
        .unwrap()
        .run(&m, &[f32s(&a), f32s(&b)])
        .unwrap();
    let got = to_array(&outs[0]);
    assert_close(
        "batched bf16 in a loop",
        &to_array(&outs[1]),
        &got,
        1e-6,
        1e-6,
    );
    let rb = |x: &ArrayD<f64>| x.mapv(|v| bf16::from_f32(v as f32).to_f64());
    let (ab, bb) = (rb(&a), rb(&b));
    let mut want = ArrayD::<f64>::zeros(ndarray::IxDyn(&[3, 8, 5]));
    for k in 0..3 {
        let p = ab
            .index_axis(ndarray::Axis(0), k)
            .into_dimensionality::<Ix2>()
            .unwrap()
            .dot(
                &bb.index_axis(ndarray::Axis(0), k)
                    .into_dimensionality::<Ix2>()
                    .unwrap(),
            );
        want.index_axis_mut(ndarray::Axis(0), k).assign(&p);
    }
    assert_close("batched bf16", &got, &want, 1e-5, 1e-5);
}

#[test]
fn a_dense_layer_on_a_concatenation_reads_its_parts() {
    // y = [h, t] @ w^T (a dense layer on its input and a time column, sbgm's MLP layers), and
    // the cotangents of h and w: with the host kernel the concatenation is never built (the
    // forward call uses w's first rows, `rhs_k`, plus a rank-one product for t; the weight
    // gradient's call takes h and t as two operands), and the numbers are the bf16-rounded
    // products of the concatenation.
    let mut r = Gen::fresh();
    let (b, kx, n) = (64, 48, 40);
    let (h, t, w, c) = (
        r.array(&[b, kx], -1.0, 1.0),
        r.array(&[b, 1], -1.0, 1.0),
        r.array(&[n, kx + 1], -1.0, 1.0),
        r.array(&[b, n], -1.0, 1.0),
    );
    let cat = ndarray::concatenate(ndarray::Axis(1), &[h.view(), t.view()]).unwrap();
    let (catr, wr, cr) = (round_bf16(&cat), round_bf16(&w), round_bf16(&c));
    let want = [
        catr.dot(&wr.t()).into_dyn(),
        cr.dot(&wr)
            .slice(ndarray::s![.., ..kx])
            .to_owned()
            .into_dyn(),
        cr.t().dot(&catr).into_dyn(),
    ];
    for host in [false, true] {
        let (exec, g) = setup(MatmulPrecision::Bf16, host);
        let hs = g.parameter("h", h.shape(), DType::F32).unwrap();
        let ts = g.parameter("t", t.shape(), DType::F32).unwrap();
        let ws = g.parameter("w", w.shape(), DType::F32).unwrap();
        let cs = g.parameter("c", c.shape(), DType::F32).unwrap();
        let x = sbgm_xla::graph::Tensor::cat(&[&hs, &ts], 1).unwrap();
        let dims = sbgm_xla::graph::DotDims {
            lhs_contract: vec![1],
            rhs_contract: vec![1],
            ..Default::default()
        };
        let y = x.dot_general(&ws, &dims).unwrap();
        let cts = vjp(&[&y], &[&cs], &[&hs, &ws]).unwrap();
        let m = g
            .build("p", &[("y", &y), ("dh", &cts[0]), ("dw", &cts[1])])
            .unwrap();
        if host {
            assert!(m.text.contains("rhs_k = 48"), "{}", m.text);
            let three = format!("@{}(%arg3, %arg0, %arg1)", kernels::BF16_MATMUL);
            assert!(m.text.contains(&three), "{}", m.text);
        }
        let out = run_f32(&exec, &m, &[&h, &t, &w, &c]);
        for (i, what) in ["y", "dh", "dw"].iter().enumerate() {
            let name = format!("[h, t] layer {what} (host kernel: {host})");
            assert_close(&name, &out[i], &want[i], 1e-5, 1e-5);
        }
    }
}

#[test]
fn a_first_layers_weight_gradient() {
    // sbgm's first layer: x [batch, 3] times a weight [256, 3] (out, in); its weight gradient
    // ct^T x contracts the batch with a transposed lhs and has three columns. The host kernel
    // takes it in bf16 (256 rows, short A); in f32 it is a reduction of broadcast products
    // (XLA's CPU product packs the transposed lhs slowly); XLA's bf16 product otherwise. All
    // against f64 references of f32 or bf16-rounded operands.
    let mut r = Gen::fresh();
    let (b, kin, out) = (256, 3, 256);
    let (x, w, c) = (
        r.array(&[b, kin], -1.0, 1.0),
        r.array(&[out, kin], -1.0, 1.0),
        r.array(&[b, out], -1.0, 1.0),
    );
    for (p, host) in [
        (MatmulPrecision::F32, false),
        (MatmulPrecision::Bf16, false),
        (MatmulPrecision::Bf16, true),
    ] {
        let round = |a: &ArrayD<f64>| {
            if p == MatmulPrecision::Bf16 {
                round_bf16(a)
            } else {
                f32_of(a)
            }
        };
        let (xr, wr, cr) = (round(&x), round(&w), round(&c));
        let want = [xr.dot(&wr.t()).into_dyn(), cr.t().dot(&xr).into_dyn()];
        let (exec, g) = setup(p, host);
        let xs = g.parameter("x", x.shape(), DType::F32).unwrap();
        let ws = g.parameter("w", w.shape(), DType::F32).unwrap();
        let cs = g.parameter("c", c.shape(), DType::F32).unwrap();
        let dims = sbgm_xla::graph::DotDims {
            lhs_contract: vec![1],
            rhs_contract: vec![1],
            ..Default::default()
        };
        let y = xs.dot_general(&ws, &dims).unwrap();
        let cts = vjp(&[&y], &[&cs], &[&ws]).unwrap();
        let m = g.build("p", &[("y", &y), ("dw", &cts[0])]).unwrap();
        // the forward product contracts 3 values (XLA's); the weight gradient
        let calls = m.text.matches(kernels::BF16_MATMUL).count();
        assert_eq!(calls, usize::from(host), "{}", m.text);
        let reduces = m.text.matches("stablehlo.reduce(").count();
        assert_eq!(
            reduces,
            usize::from(p == MatmulPrecision::F32),
            "{}",
            m.text
        );
        let got = run_f32(&exec, &m, &[&x, &w, &c]);
        let what = format!("{p:?}, host kernel {host}");
        assert_close(
            &format!("first layer y ({what})"),
            &got[0],
            &want[0],
            1e-5,
            1e-5,
        );
        assert_close(
            &format!("first layer dw ({what})"),
            &got[1],
            &want[1],
            1e-5,
            1e-5,
        );
    }
}
