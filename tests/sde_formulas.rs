//! SDEs on graph tensors against sbgm 0.0.38's numbers (tests/fixtures/sde, made by
//! tools/make_sde_fixtures.py) and against closed forms (incl. the jvp-derived β(t) against
//! the analytic one), plus the `[sde]` config section.

use std::path::Path;

use sbgm_xla::graph::{Graph, Rng, Tensor};
use sbgm_xla::io::load_checkpoint;
use sbgm_xla::pjrt::{Client, CompileOptions, Program};
use sbgm_xla::sde::{Schedule, Sde, SdeConfig, SdeKind, Weighting};
use sbgm_xla::{DType, HostArray};

fn run(g: &Graph, outs: &[(&str, &Tensor)], args: &[HostArray]) -> Vec<Vec<f64>> {
    let m = g.build("sde_test", outs).unwrap();
    let c = Client::cpu().unwrap();
    let exe = c
        .compile(&Program::text(m.text), &CompileOptions::default())
        .unwrap();
    exe.run_host(args)
        .unwrap()
        .iter()
        .map(|a| a.to_f64_vec())
        .collect()
}

fn fixture_sde(name: &str) -> Sde {
    let lin = Schedule::Linear {
        beta_min: 0.1,
        beta_max: 20.0,
    };
    let cst = Schedule::Constant { beta: 1.0 };
    let (kind, sched, t0, t1, dt) = match name {
        "vp_linear" => (SdeKind::Vp, lin, 1e-5, 1.0, 0.01),
        "subvp_linear" => (SdeKind::SubVp, lin, 1e-5, 1.0, 0.01),
        "ve_geometric" => (
            SdeKind::Ve,
            Schedule::Geometric {
                sigma_min: 0.01,
                sigma_max: 50.0,
            },
            1e-5,
            1.0,
            0.01,
        ),
        _ => {
            let kind = if name.starts_with("vp") {
                SdeKind::Vp
            } else {
                SdeKind::SubVp
            };
            let t1: f64 = name.rsplit('_').next().unwrap().parse().unwrap();
            let t0 = if t1 == 4.0 { 0.0 } else { 1e-5 };
            (kind, cst, t0, t1, 0.1)
        }
    };
    Sde::new(kind, sched, t0, t1, dt).unwrap()
}

/// Evaluates every quantity of `sde` on the fixture's grid and points, in `dtype`.
fn evaluate(sde: &Sde, t: &HostArray, x: &HostArray, z: &HostArray) -> Vec<Vec<f64>> {
    let dtype = t.dtype();
    let g = Graph::new();
    let tt = g.parameter("t", t.shape(), dtype).unwrap();
    let xx = g.parameter("x", x.shape(), dtype).unwrap();
    let zz = g.parameter("z", z.shape(), dtype).unwrap();
    let nt = t.shape()[0];
    let (p, d) = (x.shape()[0], x.shape()[1]);
    // drift for every (t, point): x broadcast to (T, P, D) with one time per leading row
    let xr = xx.unsqueeze(0).unwrap().broadcast_to(&[nt, p, d]).unwrap();
    let drift = sde.drift(&xr, &tt).unwrap();
    let diffusion = sde.diffusion(&tt).unwrap();
    let (mean, std) = sde.marginal(&tt).unwrap();
    let weight = sde.weight(&tt).unwrap();
    let wl = sde.weight_with(Weighting::Likelihood, &tt).unwrap();
    let rate = sde.beta(&tt).unwrap();
    let sched = sde.schedule.expr(&tt).unwrap();
    let lp = sde.prior_log_prob(&zz).unwrap();
    run(
        &g,
        &[
            ("drift", &drift),
            ("diffusion", &diffusion),
            ("mean", &mean),
            ("std", &std),
            ("weight", &weight),
            ("wl", &wl),
            ("rate", &rate),
            ("sched", &sched),
            ("lp", &lp),
        ],
        &[t.clone(), x.clone(), z.clone()],
    )
}

fn close(what: &str, got: &[f64], want: &[f64], rtol: f64, atol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= atol + rtol * w.abs(),
            "{what}[{i}]: got {g}, want {w}"
        );
    }
}

const NAMES: [&str; 9] = [
    "vp_linear",
    "subvp_linear",
    "ve_geometric",
    "vp_const_t1_1",
    "vp_const_t1_4",
    "vp_const_t1_8",
    "subvp_const_t1_1",
    "subvp_const_t1_4",
    "subvp_const_t1_8",
];

/// With `sbgm_compat`, every quantity equals sbgm's (f64 to 1e-12, f32 to 1e-5).
#[test]
fn sbgm_compat_matches_sbgm_fixtures() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sde");
    for name in NAMES {
        for (tag, rtol, atol) in [("f64", 1e-12, 1e-12), ("f32", 2e-5, 1e-6)] {
            let ck = load_checkpoint(&dir.join(format!("{name}_{tag}.safetensors"))).unwrap();
            let get = |k: &str| ck.get(k).unwrap().clone();
            let sde = fixture_sde(name).with_sbgm_compat(true);
            let out = evaluate(&sde, &get("t"), &get("x"), &get("z"));
            let w = |k: &str| get(k).to_f64_vec();
            let what = |k: &str| format!("{name}/{tag}/{k}");
            close(&what("drift"), &out[0], &w("drift"), rtol, atol);
            close(&what("diffusion"), &out[1], &w("diffusion"), rtol, atol);
            close(&what("mean"), &out[2], &w("mean_factor"), rtol, atol);
            close(&what("std"), &out[3], &w("std"), rtol, atol);
            close(&what("weight"), &out[4], &w("weight"), rtol, atol);
            close(
                &what("weight_likelihood"),
                &out[5],
                &w("weight_likelihood"),
                rtol,
                atol,
            );
            if name.starts_with('v') && name.starts_with("ve") {
                close(&what("sigma"), &out[7], &w("sigma"), rtol, atol);
            } else {
                close(&what("beta"), &out[6], &w("beta"), rtol, atol);
            }
            // prior log-density: f32 sums of 2 terms of size ~10
            close(
                &what("prior_log_prob"),
                &out[8],
                &w("prior_log_prob"),
                rtol,
                atol * 10.0,
            );
        }
    }
}

/// Without `sbgm_compat` only the documented deviations differ: the SubVP std
/// (1 − e^{−B} instead of 1 − e^{−2B}) and VE's likelihood weight (g² instead of σ²).
#[test]
fn paper_mode_differs_only_where_documented() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sde");
    for name in NAMES {
        let ck = load_checkpoint(&dir.join(format!("{name}_f64.safetensors"))).unwrap();
        let get = |k: &str| ck.get(k).unwrap().clone();
        let sde = fixture_sde(name);
        let out = evaluate(&sde, &get("t"), &get("x"), &get("z"));
        let w = |k: &str| get(k).to_f64_vec();
        let t = w("t");
        close(name, &out[0], &w("drift"), 1e-12, 1e-12);
        close(name, &out[1], &w("diffusion"), 1e-12, 1e-12);
        close(name, &out[4], &w("weight"), 1e-12, 1e-12);
        if name.starts_with("subvp") {
            // the paper's std: 1 − e^{−B}, and it is √ of sbgm's weight (1 − e^{−B})²
            let want: Vec<f64> = t
                .iter()
                .map(|&t| -(-sde.schedule.expr_f64(t)).exp_m1())
                .collect();
            close(name, &out[3], &want, 1e-12, 1e-15);
            let sq: Vec<f64> = out[3].iter().map(|s| s * s).collect();
            close(name, &sq, &w("weight"), 1e-12, 1e-15);
        } else {
            close(name, &out[3], &w("std"), 1e-12, 1e-12);
        }
        if name.starts_with("ve") {
            // g² = dσ²/dt = 2 σ² ln(σmax/σmin)
            let want: Vec<f64> = t
                .iter()
                .map(|&t| 2.0 * sde.schedule.expr_f64(t).powi(2) * (5000f64).ln())
                .collect();
            close(name, &out[5], &want, 1e-12, 1e-12);
        } else {
            close(name, &out[5], &w("weight_likelihood"), 1e-12, 1e-12);
        }
    }
}

/// β(t) from the graph's jvp of B(t) against the analytic derivative, for every schedule,
/// and the SubVP std against the variance ODE dΣ/dt = −βΣ + g² solved on the host.
#[test]
fn jvp_rates_match_analytic_derivatives() {
    let ts: Vec<f64> = (0..11).map(|i| 0.05 + 0.09 * i as f64).collect();
    let scheds = [
        (
            SdeKind::Vp,
            Schedule::Linear {
                beta_min: 0.1,
                beta_max: 20.0,
            },
        ),
        (SdeKind::SubVp, Schedule::Constant { beta: 2.5 }),
        (SdeKind::Vp, Schedule::Cosine { s: 0.008 }),
        (
            SdeKind::Ve,
            Schedule::Geometric {
                sigma_min: 0.01,
                sigma_max: 50.0,
            },
        ),
    ];
    for (kind, s) in scheds {
        let sde = Sde::new(kind, s.clone(), 1e-5, 0.999, 0.01).unwrap();
        let g = Graph::new();
        let t = g.parameter("t", &[ts.len()], DType::F64).unwrap();
        let rate = sde.beta(&t).unwrap();
        let g2 = sde.diffusion2(&t).unwrap();
        let dc = sde.drift_coef(&t).unwrap();
        let out = run(
            &g,
            &[("rate", &rate), ("g2", &g2), ("dc", &dc)],
            &[HostArray::from_vec(vec![ts.len()], ts.clone()).unwrap()],
        );
        let want: Vec<f64> = ts
            .iter()
            .map(|&t| {
                if kind == SdeKind::Ve {
                    2.0 * s.expr_f64(t) * s.deriv_f64(t)
                } else {
                    s.deriv_f64(t)
                }
            })
            .collect();
        close(&format!("{s:?} rate"), &out[0], &want, 1e-12, 1e-12);
        let g2w: Vec<f64> = ts.iter().map(|&t| sde.diffusion2_f64(t)).collect();
        close(&format!("{s:?} g2"), &out[1], &g2w, 1e-12, 1e-12);
        let dcw: Vec<f64> = ts.iter().map(|&t| sde.drift_coef_f64(t)).collect();
        close(&format!("{s:?} drift coef"), &out[2], &dcw, 1e-12, 1e-12);
    }
    // The marginal variance of each SDE solves dV/dt = 2 a(t) V + g(t)², V(0) = 0 (RK4 on the
    // host): this is the check that the paper's SubVP std is the right one.
    for (kind, s) in [
        (
            SdeKind::Vp,
            Schedule::Linear {
                beta_min: 0.1,
                beta_max: 20.0,
            },
        ),
        (
            SdeKind::SubVp,
            Schedule::Linear {
                beta_min: 0.1,
                beta_max: 20.0,
            },
        ),
        (
            SdeKind::Ve,
            Schedule::Geometric {
                sigma_min: 0.01,
                sigma_max: 50.0,
            },
        ),
    ] {
        let sde = Sde::new(kind, s, 1e-5, 1.0, 0.01).unwrap();
        let f = |t: f64, v: f64| 2.0 * sde.drift_coef_f64(t) * v + sde.diffusion2_f64(t);
        let n = 20000;
        let h = 1.0 / n as f64;
        let mut v = 0.0;
        for i in 0..n {
            let t = i as f64 * h;
            let k1 = f(t, v);
            let k2 = f(t + h / 2.0, v + h / 2.0 * k1);
            let k3 = f(t + h / 2.0, v + h / 2.0 * k2);
            let k4 = f(t + h, v + h * k3);
            v += h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4);
            if (i + 1) % 5000 == 0 {
                let std = sde.marginal_f64(t + h).1;
                assert!(
                    (std * std - v).abs() <= 1e-9 * v.max(1.0),
                    "{kind}: t = {}: std² = {}, ODE variance = {v}",
                    t + h,
                    std * std
                );
            }
        }
    }
}

/// Prior samples have the prior's std; the prior log-density is the Gaussian's.
#[test]
fn prior_sample_and_log_prob() {
    let sde = Sde::new(
        SdeKind::Ve,
        Schedule::Geometric {
            sigma_min: 0.01,
            sigma_max: 5.0,
        },
        0.0,
        1.0,
        0.01,
    )
    .unwrap();
    let g = Graph::new();
    let key = g.parameter("key", &[2], DType::U64).unwrap();
    let mut rng = Rng::new(&key).unwrap();
    let z = sde.prior_sample(&mut rng, &[4000, 3], DType::F64).unwrap();
    let lp = sde.prior_log_prob(&z).unwrap();
    let out = run(
        &g,
        &[("z", &z), ("lp", &lp)],
        &[sbgm_xla::graph::seed_key(3)],
    );
    let var = out[0].iter().map(|v| v * v).sum::<f64>() / out[0].len() as f64;
    // std error of the variance estimate: σ² √(2/n) ≈ 25 · 0.013
    assert!(
        (var - 25.0).abs() < 4.0 * 25.0 * (2.0f64 / 12000.0).sqrt(),
        "{var}"
    );
    for (i, row) in out[0].chunks(3).enumerate().take(50) {
        let want: f64 = row
            .iter()
            .map(|z| -0.5 * z * z / 25.0 - 5f64.ln() - 0.5 * (2.0 * std::f64::consts::PI).ln())
            .sum();
        assert!((out[1][i] - want).abs() < 1e-12, "{i}");
    }
}

#[test]
fn config_section_builds_and_rejects_bad_input() {
    let c = SdeConfig::from_toml("sde = \"SubVP\"\nbeta_min = 0.1\nbeta_max = 20.0\n").unwrap();
    let s = c.build().unwrap();
    assert_eq!(s.kind, SdeKind::SubVp);
    assert_eq!(
        s.schedule,
        Schedule::Linear {
            beta_min: 0.1,
            beta_max: 20.0
        }
    );
    let ve = SdeConfig::from_toml("sde = \"VE\"\nweighting = \"likelihood\"").unwrap();
    let ve = ve.build().unwrap();
    assert!(matches!(ve.schedule, Schedule::Geometric { .. }));
    assert_eq!(ve.weighting, Weighting::Likelihood);
    // round trip through TOML
    let text = toml::to_string(&c).unwrap();
    assert_eq!(SdeConfig::from_toml(&text).unwrap(), c);

    let err = |s: &str| match SdeConfig::from_toml(s) {
        Err(e) => e.to_string(),
        Ok(c) => c.build().unwrap_err().to_string(),
    };
    let e = err("sde = \"VP\"\nbeta_mn = 0.1");
    assert!(e.contains("beta_mn") && e.contains("unknown field"), "{e}");
    let e = err("sde = \"VPP\"");
    assert!(e.contains("VPP") && e.contains("SubVP"), "{e}");
    let e = err("sde = \"VP\"\nsigma_min = 0.1");
    assert!(e.contains("sigma_min") && e.contains("Geometric"), "{e}");
    let e = err("sde = \"VE\"\nschedule = \"linear\"");
    assert!(e.contains("VE") && e.contains("sigma schedule"), "{e}");
    let e = err("t0 = 1.0\nt1 = 0.5");
    assert!(e.contains("t0 < t1"), "{e}");
    let e = err("dt = -0.1");
    assert!(e.contains("dt = -0.1"), "{e}");
    let e = err("schedule = \"cosine\"");
    assert!(e.contains("t1 below 1"), "{e}");
    let e = err("schedule = \"constant\"\nbeta = -1.0");
    assert!(e.contains("beta = -1"), "{e}");
    let e = err("weighting = \"foo\"");
    assert!(e.contains("likelihood"), "{e}");
}

/// At small t the f32 marginal std and B(t) keep their relative precision: the cosine B(t) and
/// the VE std are written without differences of nearly equal numbers. The reference is the
/// textbook form in f64 (ᾱ = cos²(π/2 (t+s)/(1+s)) / cos²(π/2 s/(1+s)); σ² − σ_min²), whose
/// rounding error is far below the tolerance here; the textbook cosine B(t) in f32 is off by
/// 0.7% at t = 1e-5 and 1.5% at 1e-4.
#[test]
fn small_times_keep_f32_precision() {
    /// (B(t) or σ(t), std(t)) in f64.
    type Reference<'a> = Box<dyn Fn(f64) -> (f64, f64) + 'a>;
    use std::f64::consts::FRAC_PI_2;
    let ts = [1e-5, 3e-5, 1e-4, 1e-3, 1e-2, 0.5];
    let s = 0.008;
    let cos_b = |t: f64| {
        -2.0 * ((FRAC_PI_2 * (t + s) / (1.0 + s)).cos() / (FRAC_PI_2 * s / (1.0 + s)).cos()).ln()
    };
    let (smin, smax) = (0.01, 50.0);
    let cases: [(Sde, Reference); 3] = [
        (
            Sde::new(SdeKind::Vp, Schedule::Cosine { s }, 1e-5, 0.999, 0.01).unwrap(),
            Box::new(move |t| (cos_b(t), (1.0 - (-cos_b(t)).exp()).sqrt())),
        ),
        (
            Sde::new(SdeKind::SubVp, Schedule::Cosine { s }, 1e-5, 0.999, 0.01).unwrap(),
            Box::new(move |t| (cos_b(t), 1.0 - (-cos_b(t)).exp())),
        ),
        (
            Sde::new(
                SdeKind::Ve,
                Schedule::Geometric {
                    sigma_min: smin,
                    sigma_max: smax,
                },
                1e-5,
                1.0,
                0.01,
            )
            .unwrap(),
            Box::new(move |t| {
                let sigma = smin * (smax / smin).powf(t);
                (sigma, (sigma * sigma - smin * smin).sqrt())
            }),
        ),
    ];
    for (sde, reference) in cases {
        let g = Graph::new();
        let t = g.parameter("t", &[ts.len()], DType::F32).unwrap();
        let sched = sde.schedule.expr(&t).unwrap();
        let (_, std) = sde.marginal(&t).unwrap();
        let host =
            HostArray::from_vec(vec![ts.len()], ts.iter().map(|&t| t as f32).collect()).unwrap();
        let out = run(&g, &[("sched", &sched), ("std", &std)], &[host]);
        // The f32 times themselves are rounded: evaluate the reference at those times.
        let t32: Vec<f64> = ts.iter().map(|&t| t as f32 as f64).collect();
        let want_sched: Vec<f64> = t32.iter().map(|&t| reference(t).0).collect();
        let want_std: Vec<f64> = t32.iter().map(|&t| reference(t).1).collect();
        close(
            &format!("{:?} B or sigma", sde.kind),
            &out[0],
            &want_sched,
            2e-5,
            0.0,
        );
        close(
            &format!("{:?} std", sde.kind),
            &out[1],
            &want_std,
            2e-5,
            0.0,
        );
        // The host f64 forms agree with the same references.
        for (&t, (w, ws)) in t32.iter().zip(want_sched.iter().zip(&want_std)) {
            let (_, s64) = sde.marginal_f64(t);
            assert!(
                (sde.schedule.expr_f64(t) - w).abs() <= 1e-9 * w.abs(),
                "{:?} f64 B at {t}",
                sde.kind
            );
            assert!(
                (s64 - ws).abs() <= 1e-9 * ws.abs(),
                "{:?} f64 std at {t}",
                sde.kind
            );
        }
    }
}
