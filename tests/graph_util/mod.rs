//! Shared helpers of the graph tests: a seeded generator, host arrays, and the derivative
//! checker (forward value vs a host reference, VJP vs central finite differences, JVP vs VJP).
#![allow(dead_code)]

use ndarray::{ArrayD, IxDyn};
use sbgm_xla::exec::Target;
use sbgm_xla::graph::{Graph, Tensor, jvp, vjp};
use sbgm_xla::{DType, HostArray, Result};

/// SplitMix64: small, seedable, good enough for test inputs.
pub struct Gen(u64);

impl Gen {
    /// Seeded from the clock (printed, so a failure can be replayed with `GRAPH_TEST_SEED`).
    pub fn fresh() -> Gen {
        let seed = std::env::var("GRAPH_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            });
        eprintln!("GRAPH_TEST_SEED={seed}");
        Gen(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E3779B97F4A7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
        z ^ (z >> 31)
    }
    /// Uniform on [lo, hi).
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64)
    }
    pub fn array(&mut self, dims: &[usize], lo: f64, hi: f64) -> ArrayD<f64> {
        let n: usize = dims.iter().product();
        ArrayD::from_shape_vec(IxDyn(dims), (0..n).map(|_| self.uniform(lo, hi)).collect()).unwrap()
    }
}

pub fn host(a: &ArrayD<f64>) -> HostArray {
    HostArray::from_ndarray(&a.as_standard_layout().to_owned())
}

pub fn to_array(h: &HostArray) -> ArrayD<f64> {
    ArrayD::from_shape_vec(IxDyn(h.shape()), h.to_f64_vec()).unwrap()
}

pub fn dot(a: &ArrayD<f64>, b: &ArrayD<f64>) -> f64 {
    a.iter().zip(b.iter()).map(|(x, y)| x * y).sum()
}

/// Elementwise closeness: `|a - b| <= atol + rtol |b|`.
pub fn assert_close(what: &str, got: &ArrayD<f64>, want: &ArrayD<f64>, rtol: f64, atol: f64) {
    assert_eq!(got.shape(), want.shape(), "{what}: shapes differ");
    for (i, (g, w)) in got.iter().zip(want.iter()).enumerate() {
        let ok = (g - w).abs() <= atol + rtol * w.abs() || (g.is_nan() && w.is_nan()) || g == w;
        assert!(
            ok,
            "{what}: element {i}: got {g}, want {w} (rtol {rtol}, atol {atol})"
        );
    }
}

/// Relative difference of two scalars.
pub fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / a.abs().max(b.abs()).max(1e-300)
}

/// One input of a checked function: its shape and the interval its values are drawn from.
pub struct Input {
    pub dims: Vec<usize>,
    pub lo: f64,
    pub hi: f64,
}

pub fn inp(dims: &[usize], lo: f64, hi: f64) -> Input {
    Input {
        dims: dims.to_vec(),
        lo,
        hi,
    }
}

pub type Reference<'a> = &'a dyn Fn(&[ArrayD<f64>]) -> ArrayD<f64>;

/// Checks a function of f64 tensors: its value against `reference` (if given), its VJP
/// against central finite differences along random directions, and its JVP against its VJP
/// (`<u, J v>` both ways). Returns the largest finite-difference relative error.
pub fn check(
    ex: &Target,
    rg: &mut Gen,
    name: &str,
    inputs: &[Input],
    f: &dyn Fn(&Graph, &[Tensor]) -> Result<Tensor>,
    reference: Option<Reference>,
) -> f64 {
    let g = Graph::new();
    let xs: Vec<Tensor> = inputs
        .iter()
        .enumerate()
        .map(|(i, s)| g.parameter(&format!("x{i}"), &s.dims, DType::F64).unwrap())
        .collect();
    let y = f(&g, &xs).unwrap_or_else(|e| panic!("{name}: tracing failed: {e}"));
    let u = g.parameter("u", y.dims(), DType::F64).unwrap();
    let vs: Vec<Tensor> = inputs
        .iter()
        .enumerate()
        .map(|(i, s)| g.parameter(&format!("v{i}"), &s.dims, DType::F64).unwrap())
        .collect();
    let xr: Vec<&Tensor> = xs.iter().collect();
    let vr: Vec<&Tensor> = vs.iter().collect();
    let gs = vjp(&[&y], &[&u], &xr).unwrap_or_else(|e| panic!("{name}: vjp failed: {e}"));
    let t = jvp(&[&y], &xr, &vr).unwrap_or_else(|e| panic!("{name}: jvp failed: {e}"));
    let mut outs: Vec<(String, &Tensor)> = vec![("y".into(), &y), ("jvp".into(), &t[0])];
    for (i, gi) in gs.iter().enumerate() {
        outs.push((format!("g{i}"), gi));
    }
    let named: Vec<(&str, &Tensor)> = outs.iter().map(|(n, t)| (n.as_str(), *t)).collect();
    let m = g.build(name, &named).unwrap();
    let exe = ex
        .compile(&m)
        .unwrap_or_else(|e| panic!("{name}: compile failed: {e}\n{}", m.text));

    let x: Vec<ArrayD<f64>> = inputs
        .iter()
        .map(|s| rg.array(&s.dims, s.lo, s.hi))
        .collect();
    let uu = rg.array(y.dims(), -1.0, 1.0);
    let v: Vec<ArrayD<f64>> = inputs
        .iter()
        .map(|s| rg.array(&s.dims, -1.0, 1.0))
        .collect();
    let run = |x: &[ArrayD<f64>]| -> Vec<ArrayD<f64>> {
        let mut args: Vec<HostArray> = x.iter().map(host).collect();
        args.push(host(&uu));
        args.extend(v.iter().map(host));
        exe.run(&args).unwrap().iter().map(to_array).collect()
    };
    let out = run(&x);
    if let Some(r) = reference {
        assert_close(&format!("{name} forward"), &out[0], &r(&x), 1e-10, 1e-12);
    }
    // <u, J v> by forward mode and by reverse mode
    let fwd = dot(&uu, &out[1]);
    let rev: f64 = (0..x.len()).map(|i| dot(&out[2 + i], &v[i])).sum();
    let scale = fwd.abs().max(rev.abs()).max(1e-3);
    assert!(
        (fwd - rev).abs() <= 1e-10 * scale,
        "{name}: jvp <u, Jv> = {fwd} but vjp <J^T u, v> = {rev}"
    );
    // central differences along v
    let h = 1e-6;
    let shifted =
        |s: f64| -> Vec<ArrayD<f64>> { x.iter().zip(&v).map(|(a, b)| a + &(b * s)).collect() };
    let yp = run(&shifted(h));
    let ym = run(&shifted(-h));
    let (up, um) = (dot(&uu, &yp[0]), dot(&uu, &ym[0]));
    let fd = (up - um) / (2.0 * h);
    let err = (fd - rev).abs() / scale;
    // the difference quotient's own rounding error: ~8 ulps of <u, y> over 2h (it sets the
    // floor when the derivative is small next to the values)
    let rounding = 8.0 * f64::EPSILON * (up.abs() + um.abs()) / (2.0 * h) / scale;
    assert!(
        err < 1e-7 + rounding,
        "{name}: finite differences {fd} vs vjp {rev} (relative error {err:e}, rounding {rounding:e})"
    );
    err
}
