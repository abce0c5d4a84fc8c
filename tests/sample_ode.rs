//! The ODE solvers on problems with known solutions: adaptive Tsit5/Dopri5 meet their
//! tolerance with fewer function evaluations than fixed-step RK4 of the same accuracy, in
//! both time directions; the probability-flow ODE of Gaussian data equals its closed-form
//! linear map, and data → prior → data returns to the start.

mod sample_common;

use sample_common::sdes;
use sbgm_xla::graph::{Graph, Tensor};
use sbgm_xla::pjrt::{Client, CompileOptions, Program};
use sbgm_xla::sample::analytic::symmetric_eigen;
use sbgm_xla::sample::{
    Cond, Controller, GaussianMixture, SamplerConfig, SamplerKind, Tableau, flow::flow_map,
    solve_adaptive, solve_fixed,
};
use sbgm_xla::{DType, HostArray};

const Y0: [f64; 4] = [1.0, -2.0, 0.5, 3.0];

/// y' = cos(t) y, so y(t) = y(s) exp(sin t − sin s).
fn exact(y0: f64, s: f64, t: f64) -> f64 {
    y0 * (t.sin() - s.sin()).exp()
}

/// Solves y' = cos(t) y from s to t for the four Y0; returns (max abs error, nfe).
fn run(
    client: &Client,
    s: f64,
    t: f64,
    how: Result<&Controller, usize>,
    tab: &Tableau,
) -> (f64, f64) {
    let g = Graph::new();
    let y = g.parameter("y", &[4, 1], DType::F64).unwrap();
    let field = |t: &Tensor, y: &[Tensor]| -> sbgm_xla::Result<Vec<Tensor>> {
        Ok(vec![(&y[0] * t.cos()?.reshape(&[4, 1])?)?])
    };
    let (out, st) = match how {
        Ok(c) => solve_adaptive(&field, tab, &[y], s, t, c).unwrap(),
        Err(n) => solve_fixed(&field, tab, &[y], s, t, n).unwrap(),
    };
    let m = g
        .build(
            "ode",
            &[
                ("y", &out[0]),
                ("nfe", &st.nfe),
                ("unfinished", &st.unfinished),
            ],
        )
        .unwrap();
    let exe = client
        .compile(&Program::text(m.text), &CompileOptions::default())
        .unwrap();
    let r = exe
        .run_host(&[HostArray::from_vec(vec![4, 1], Y0.to_vec()).unwrap()])
        .unwrap();
    assert_eq!(r[2].to_f64_vec()[0], 0.0, "all samples finish");
    let err = r[0]
        .to_f64_vec()
        .iter()
        .zip(Y0)
        .map(|(v, y0)| (v - exact(y0, s, t)).abs())
        .fold(0.0, f64::max);
    (err, r[1].to_f64_vec()[0])
}

#[test]
fn adaptive_solvers_meet_tolerance_with_fewer_evaluations_than_rk4() {
    let client = Client::cpu().unwrap();
    for tab in [Tableau::tsit5(), Tableau::dopri5()] {
        for (s, t) in [(0.0, 6.0), (6.0, 0.0)] {
            let tol = 1e-7;
            let ctrl = Controller::new(tol, tol, 0.1);
            let (err, nfe) = run(&client, s, t, Ok(&ctrl), &tab);
            // |y| <= 3e: the tolerance scale is atol + rtol |y| <= 1e-6
            println!(
                "{} {s}->{t}: error {err:.2e} with {nfe} evaluations",
                tab.name
            );
            assert!(err < 20.0 * tol * 9.0, "{}: error {err}", tab.name);
            // fixed-step RK4 with the same accuracy needs more evaluations
            let mut n = 16;
            let rk_nfe = loop {
                let (e, f) = run(&client, s, t, Err(n), &Tableau::rk4());
                if e <= err {
                    break f;
                }
                n *= 2;
                assert!(n <= 4096, "rk4 never reached {err}");
            };
            assert!(
                nfe < rk_nfe,
                "{}: {nfe} evaluations, rk4 needs {rk_nfe} for error {err}",
                tab.name
            );
        }
        // a looser tolerance gives a larger error and fewer steps
        let (err_loose, nfe_loose) = run(
            &client,
            0.0,
            6.0,
            Ok(&Controller::new(1e-4, 1e-4, 0.1)),
            &tab,
        );
        let (err_tight, nfe_tight) = run(
            &client,
            0.0,
            6.0,
            Ok(&Controller::new(1e-8, 1e-8, 0.1)),
            &tab,
        );
        assert!(
            err_loose > err_tight && nfe_loose < nfe_tight,
            "{}",
            tab.name
        );
        assert!(err_loose < 20.0 * 1e-4 * 9.0);
    }
    // fixed steps converge at the methods' orders: halving h divides the error by ~2^p
    for (tab, p) in [
        (Tableau::euler(), 1.0),
        (Tableau::heun(), 2.0),
        (Tableau::rk4(), 4.0),
    ] {
        let (e1, _) = run(&client, 0.0, 2.0, Err(40), &tab);
        let (e2, _) = run(&client, 0.0, 2.0, Err(80), &tab);
        let order = (e1 / e2).log2();
        assert!(
            (order - p).abs() < 0.3,
            "{}: observed order {order}",
            tab.name
        );
    }
}

/// Runs the PF-ODE map of `x` from s to t with adaptive Tsit5 at tight tolerances.
fn pf_map(client: &Client, data: &GaussianMixture, x: &[f64], s: f64, t: f64) -> Vec<f64> {
    let sde = &data.sde;
    let g = Graph::new();
    let n = x.len() / 2;
    let xt = g.parameter("x", &[n, 2], DType::F64).unwrap();
    let cfg = SamplerConfig::new(SamplerKind::Tsit5).tolerances(1e-10, 1e-10);
    let (y, _) = flow_map(data, sde, &cfg, &xt, s, t, &Cond::none()).unwrap();
    let m = g.build("pf", &[("y", &y)]).unwrap();
    let exe = client
        .compile(&Program::text(m.text), &CompileOptions::default())
        .unwrap();
    exe.run_host(&[HostArray::from_vec(vec![n, 2], x.to_vec()).unwrap()])
        .unwrap()[0]
        .to_f64_vec()
}

/// For Gaussian data the PF-ODE is linear: x(t) − m(t) = C(t)^{1/2} C(s)^{-1/2} (x(s) − m(s))
/// with m = α μ and C = α² Σ + σ² I (same eigenvectors as Σ).
#[test]
fn pf_ode_matches_closed_form_and_round_trips() {
    let client = Client::cpu().unwrap();
    let mu = [0.7, -0.3];
    let cov = [0.5, 0.2, 0.2, 0.3];
    let (lam, u) = symmetric_eigen(&cov, 2).unwrap();
    let x: Vec<f64> = vec![0.1, 0.2, 1.5, -1.0, -0.8, 0.4, 2.0, 1.0];
    for sde in sdes() {
        let data = GaussianMixture::gaussian(&sde, mu.to_vec(), cov.to_vec(), DType::F64).unwrap();
        let z = pf_map(&client, &data, &x, sde.t0, sde.t1);
        let (a0, s0) = sde.marginal_f64(sde.t0);
        let (a1, s1) = sde.marginal_f64(sde.t1);
        for (r, zr) in x.chunks(2).zip(z.chunks(2)) {
            // coordinates in the eigenbasis, scaled per direction
            let mut want = [a1 * mu[0], a1 * mu[1]];
            for k in 0..2 {
                let w: f64 = (0..2).map(|i| (r[i] - a0 * mu[i]) * u[i * 2 + k]).sum();
                let f = ((a1 * a1 * lam[k] + s1 * s1) / (a0 * a0 * lam[k] + s0 * s0)).sqrt();
                for i in 0..2 {
                    want[i] += f * w * u[i * 2 + k];
                }
            }
            for i in 0..2 {
                assert!(
                    (zr[i] - want[i]).abs() < 1e-6 * (1.0 + want[i].abs()),
                    "{}: z = {zr:?}, closed form {want:?}",
                    sde.kind
                );
            }
        }
        let back = pf_map(&client, &data, &z, sde.t1, sde.t0);
        for (b, x) in back.iter().zip(&x) {
            assert!((b - x).abs() < 1e-6, "{}: round trip {b} vs {x}", sde.kind);
        }
    }
}
