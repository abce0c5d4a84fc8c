//! Log-likelihoods by the probability-flow ODE against closed forms: the exact trace gives
//! the Gaussian's (and a mixture's) log-density to <= 1e-3 nats per dimension with adaptive
//! and fixed-step solvers; the integrated divergence equals log p_t0(x) − log p_t1(z);
//! Hutchinson's estimate agrees with the exact value within its standard error; bits/dim
//! with dequantization.

mod sample_common;

use sample_common::sdes;
use sbgm_xla::exec::Target;
use sbgm_xla::sample::{
    Component, Dequantize, GaussianMixture, HostCond, LoglikConfig, Probe, SamplerKind,
    TraceMethod, loglik, mean_stderr,
};
use sbgm_xla::sde::Sde;
use sbgm_xla::{DType, HostArray};

fn points(n: usize, seed: u64) -> Vec<f64> {
    // deterministic points in [-1.5, 1.5)
    let mut s = seed;
    (0..2 * n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64) * 3.0 - 1.5
        })
        .collect()
}

/// log p_t(x) of the data pushed to time t (a mixture with the data's weights).
fn log_pt(data: &GaussianMixture, sde: &Sde, x: &[f64], t: f64) -> f64 {
    let mut d = data.clone();
    d.sde = sde.clone();
    d.log_density_f64(x, t)
}

fn check(data: &GaussianMixture, cfg: &LoglikConfig, x: &[f64], what: &str) {
    let client = Target::cpu().unwrap();
    let sde = &data.sde;
    let n = x.len() / 2;
    let xa = HostArray::from_vec(vec![n, 2], x.to_vec()).unwrap();
    let r = loglik(&client, data, sde, cfg, &xa, 0, &HostCond::none(), false).unwrap();
    let z = r.z.to_f64_vec();
    for i in 0..n {
        let xi = &x[2 * i..2 * i + 2];
        let want = data.log_density_f64(xi, sde.t0);
        // end to end, with the SDE's prior in place of p_t1: <= 1e-3 nats per dimension
        assert!(
            (r.logp[i] - want).abs() <= 2e-3,
            "{what}: log p = {}, closed form {want}",
            r.logp[i]
        );
        // the solve itself: Δ = log p_t0(x) − log p_t1(z(t1))
        let d_want = want - log_pt(data, sde, &z[2 * i..2 * i + 2], sde.t1);
        assert!(
            (r.delta[i] - d_want).abs() <= 1e-4,
            "{what}: Δ = {}, closed form {d_want}",
            r.delta[i]
        );
        let bpd = -r.logp[i] / (2.0 * std::f64::consts::LN_2);
        assert!((r.bpd[i] - bpd).abs() < 1e-12);
    }
    println!("{what}: nfe {}", r.counters.nfe);
}

#[test]
fn exact_loglik_equals_gaussian_log_density() {
    let x = points(6, 1);
    for sde in sdes() {
        // mean zero, so that the prior matches p_t1 far below the tolerance
        let data =
            GaussianMixture::gaussian(&sde, vec![0.0, 0.0], vec![0.5, 0.2, 0.2, 0.3], DType::F64)
                .unwrap();
        check(
            &data,
            &LoglikConfig::default(),
            &x,
            &format!("{} tsit5", sde.kind),
        );
    }
    // fixed-step RK4 and adaptive Dopri5 on VP
    let sde = &sdes()[0];
    let data =
        GaussianMixture::gaussian(sde, vec![0.0, 0.0], vec![0.4, -0.1, -0.1, 0.6], DType::F64)
            .unwrap();
    let rk4 = LoglikConfig {
        solver: SamplerKind::Rk4,
        steps: Some(200),
        ..LoglikConfig::default()
    };
    check(&data, &rk4, &x, "VP rk4");
    let dopri = LoglikConfig {
        solver: SamplerKind::Dopri5,
        ..LoglikConfig::default()
    };
    check(&data, &dopri, &x, "VP dopri5");
}

#[test]
fn exact_loglik_of_a_mixture() {
    let sde = &sdes()[0];
    let comps = vec![
        Component::new(vec![-0.5, 0.2], vec![0.1, 0.02, 0.02, 0.05]).unwrap(),
        Component::new(vec![0.5, -0.2], vec![0.05, 0.0, 0.0, 0.2]).unwrap(),
    ];
    let data = GaussianMixture::new(sde, vec![0.5, 0.5], comps, DType::F64).unwrap();
    let tight = LoglikConfig {
        rtol: 1e-7,
        atol: 1e-7,
        ..LoglikConfig::default()
    };
    check(&data, &tight, &points(6, 2), "mixture");
}

/// Hutchinson's estimator is unbiased: over 64 points, the mean difference to the exact
/// values is within 4 standard errors, for Gaussian and Rademacher probes.
#[test]
fn hutchinson_agrees_with_exact_within_standard_error() {
    let client = Target::cpu().unwrap();
    let sde = &sdes()[0];
    let data = GaussianMixture::gaussian(sde, vec![0.0, 0.0], vec![0.5, 0.2, 0.2, 0.3], DType::F64)
        .unwrap();
    let n = 64;
    let x = HostArray::from_vec(vec![n, 2], points(n, 3)).unwrap();
    let fixed = LoglikConfig {
        solver: SamplerKind::Rk4,
        steps: Some(100),
        ..LoglikConfig::default()
    };
    let exact = loglik(&client, &data, sde, &fixed, &x, 0, &HostCond::none(), false).unwrap();
    for probe in [Probe::Gaussian, Probe::Rademacher] {
        let h = LoglikConfig {
            method: TraceMethod::Hutchinson,
            probes: 2,
            probe,
            ..fixed.clone()
        };
        let r = loglik(&client, &data, sde, &h, &x, 5, &HostCond::none(), false).unwrap();
        let diff: Vec<f64> = r.logp.iter().zip(&exact.logp).map(|(a, b)| a - b).collect();
        let (m, se) = mean_stderr(&diff);
        println!("{probe:?}: mean difference {m:.4} ± {se:.4}");
        assert!(se > 0.0, "the estimate must vary between samples");
        assert!(
            m.abs() < 4.0 * se,
            "{probe:?}: mean difference {m} with standard error {se}"
        );
        // another seed gives another estimate
        let r2 = loglik(&client, &data, sde, &h, &x, 6, &HostCond::none(), false).unwrap();
        assert_ne!(r.logp, r2.logp);
    }
}

/// Dequantized 8-bit data scaled to [-1, 1]: bits/dim = −log p/(D ln 2) + 7 (the bin
/// width 2/256), values stay finite, and the noise depends on the seed.
#[test]
fn dequantized_bits_per_dim() {
    let client = Target::cpu().unwrap();
    let sde = &sdes()[0];
    let data = GaussianMixture::gaussian(sde, vec![0.0, 0.0], vec![0.3, 0.0, 0.0, 0.3], DType::F64)
        .unwrap();
    let levels: Vec<f64> = [0.0, 255.0, 128.0, 64.0, 10.0, 200.0]
        .iter()
        .map(|k| -1.0 + 2.0 * k / 255.0)
        .collect();
    let x = HostArray::from_vec(vec![3, 2], levels).unwrap();
    let cfg = LoglikConfig {
        solver: SamplerKind::Rk4,
        steps: Some(50),
        dequantize: Some(Dequantize {
            levels: 256,
            lo: -1.0,
            hi: 1.0,
        }),
        ..LoglikConfig::default()
    };
    let a = loglik(&client, &data, sde, &cfg, &x, 1, &HostCond::none(), false).unwrap();
    let b = loglik(&client, &data, sde, &cfg, &x, 2, &HostCond::none(), false).unwrap();
    for i in 0..3 {
        let bpd = -a.logp[i] / (2.0 * std::f64::consts::LN_2) + 7.0;
        assert!((a.bpd[i] - bpd).abs() < 1e-12);
        assert!(a.logp[i].is_finite());
    }
    assert_ne!(
        a.logp, b.logp,
        "the dequantization noise depends on the seed"
    );
    // the dequantized point stays in its bin: log p moves by less than the density's
    // variation over one bin (|∇ log p| · 2/256 per dimension, |∇ log p| <= 4 here)
    for i in 0..3 {
        assert!((a.logp[i] - b.logp[i]).abs() < 2.0 * 4.0 * 2.0 / 256.0 + 1e-3);
    }
}

#[test]
fn a_likelihood_chunk_beyond_the_machine_is_refused_as_compiled() {
    // sbgm's moons network with its initial weights; 8M samples per call of the exact trace
    // plan far more memory than any machine has: a clear error, never an allocation that the
    // kernel kills.
    let config =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/configs/moons.toml"))
            .unwrap();
    let config = sbgm_xla::train::Config::from_toml_str(&config, &[] as &[&str]).unwrap();
    let setup = sbgm_xla::train::Setup::new(&config).unwrap();
    let state = setup.init_state().unwrap();
    let leaves = setup.full_leaves(&state.params).unwrap();
    let model = sbgm_xla::sample::NetScore::new(setup.net.as_ref(), &leaves).unwrap();
    let cfg = LoglikConfig {
        solver: SamplerKind::Tsit5,
        steps: Some(2),
        ..LoglikConfig::default()
    };
    let target = Target::cpu().unwrap();
    let err = sbgm_xla::sample::CompiledLoglik::new(
        &target,
        &model,
        &setup.sde,
        &cfg,
        &[2],
        8 << 20,
        &HostCond::none(),
    )
    .err()
    .expect("refused");
    let msg = err.to_string();
    assert!(
        msg.contains("as compiled") && msg.contains("--batch-size"),
        "{msg}"
    );
}
