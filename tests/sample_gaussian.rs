//! Every sampler, with the exact score of Gaussian data N(μ, Σ) under VP, SubVP and VE
//! (built as a graph, no network), recovers the marginal's mean and covariance at t0 within
//! statistical bounds; a two-component mixture checks a non-Gaussian case; seeds.

mod sample_common;

use sample_common::{moment_zscore, moments, sdes, target_moments};
use sbgm_xla::DType;
use sbgm_xla::exec::Target;
use sbgm_xla::sample::{Component, GaussianMixture, HostCond, SamplerConfig, SamplerKind, sample};
use sbgm_xla::sde::SdeKind;

const MU: [f64; 2] = [1.0, -0.5];
const COV: [f64; 4] = [0.5, 0.2, 0.2, 0.3];
const N: usize = 4000;

fn cfg(kind: SamplerKind, steps: Option<usize>) -> SamplerConfig {
    let mut c = SamplerConfig::new(kind);
    c.steps = steps;
    c
}

/// (sampler, steps, allowed relative discretisation bias) per SDE.
fn plan(kind: SdeKind) -> Vec<(SamplerConfig, f64)> {
    use SamplerKind::*;
    match kind {
        SdeKind::Vp => vec![
            (cfg(Em, Some(200)), 0.02),
            (cfg(Pc, Some(100)), 0.03),
            (cfg(Euler, Some(200)), 0.02),
            (cfg(Heun, Some(50)), 0.0),
            (cfg(Rk4, Some(25)), 0.0),
            (cfg(Tsit5, Some(20)), 0.0),
            (cfg(Tsit5, None), 0.0),
            (cfg(Dopri5, None), 0.0),
            (cfg(Dpm2m, Some(20)), 0.03),
        ],
        SdeKind::SubVp => vec![
            (cfg(Em, Some(200)), 0.02),
            (cfg(Pc, Some(100)), 0.03),
            (cfg(Dopri5, None), 0.0),
            (cfg(Dpm2m, Some(20)), 0.03),
        ],
        SdeKind::Ve => vec![
            (cfg(Em, Some(300)), 0.02),
            (cfg(Pc, Some(200)), 0.03),
            (cfg(Rk4, Some(50)), 0.0),
            (cfg(Tsit5, None), 0.0),
            (cfg(Dpm2m, Some(25)), 0.03),
        ],
    }
}

fn check_sde(i: usize) {
    let client = Target::cpu().unwrap();
    let sde = &sdes()[i];
    let data = GaussianMixture::gaussian(sde, MU.to_vec(), COV.to_vec(), DType::F64).unwrap();
    let (m, c) = target_moments(sde, &MU, &COV);
    for (k, (cfg, bias)) in plan(sde.kind).into_iter().enumerate() {
        let t = std::time::Instant::now();
        let s = sample(
            &client,
            &data,
            sde,
            &cfg,
            &[2],
            N,
            10 + k as u64,
            &HostCond::none(),
            false,
        )
        .unwrap();
        let v = s.x.to_f64_vec();
        let z = moment_zscore(&v, &m, &c, bias);
        println!(
            "{} {:?} steps {:?}: z = {z:.2}, nfe {}, moments {:?} ({:.2}s)",
            sde.kind,
            cfg.sampler,
            cfg.steps,
            s.counters.nfe,
            moments(&v, 2),
            t.elapsed().as_secs_f64()
        );
        assert!(z < 4.5, "{} {:?}: z-score {z}", sde.kind, cfg.sampler);
        assert!(v.iter().all(|x| x.is_finite()));
    }
}

#[test]
fn vp_samplers_recover_gaussian_moments() {
    check_sde(0);
}

#[test]
fn subvp_samplers_recover_gaussian_moments() {
    check_sde(1);
}

#[test]
fn ve_samplers_recover_gaussian_moments() {
    check_sde(2);
}

/// A well-separated two-component mixture: the samples have the mixture's moments and
/// each mode gets its weight (binomial bounds).
#[test]
fn mixture_samples_have_mixture_weights_and_moments() {
    let client = Target::cpu().unwrap();
    let sde = &sdes()[0];
    let comps = vec![
        Component::new(vec![-2.0, 0.0], vec![0.1, 0.0, 0.0, 0.2]).unwrap(),
        Component::new(vec![2.0, 1.0], vec![0.3, -0.1, -0.1, 0.1]).unwrap(),
    ];
    let data = GaussianMixture::new(sde, vec![0.3, 0.7], comps, DType::F64).unwrap();
    let (mu, cov) = data.moments();
    let (m, c) = target_moments(sde, &mu, &cov);
    for cfg in [
        cfg(SamplerKind::Em, Some(300)),
        cfg(SamplerKind::Tsit5, None),
    ] {
        let s = sample(
            &client,
            &data,
            sde,
            &cfg,
            &[2],
            N,
            7,
            &HostCond::none(),
            false,
        )
        .unwrap();
        let v = s.x.to_f64_vec();
        let left = v.chunks(2).filter(|r| r[0] < 0.0).count() as f64 / N as f64;
        let se = (0.3f64 * 0.7 / N as f64).sqrt();
        assert!(
            (left - 0.3).abs() < 4.5 * se,
            "{:?}: left mode weight {left}",
            cfg.sampler
        );
        // moments: the z-score uses the mixture's covariance (an approximation of the
        // sampling error for a non-Gaussian law, hence the looser bound)
        let z = moment_zscore(&v, &m, &c, 0.02);
        assert!(z < 6.0, "{:?}: z = {z}", cfg.sampler);
    }
}

#[test]
fn same_seed_same_samples_different_seed_different_samples() {
    let client = Target::cpu().unwrap();
    let sde = &sdes()[0];
    let data = GaussianMixture::gaussian(sde, MU.to_vec(), COV.to_vec(), DType::F32).unwrap();
    for kind in [SamplerKind::Em, SamplerKind::Pc, SamplerKind::Dpm2m] {
        let mut c = cfg(kind, Some(20));
        c.batch = 30; // 4 chunks, the last one padded
        let a = sample(
            &client,
            &data,
            sde,
            &c,
            &[2],
            100,
            1,
            &HostCond::none(),
            false,
        )
        .unwrap();
        let b = sample(
            &client,
            &data,
            sde,
            &c,
            &[2],
            100,
            1,
            &HostCond::none(),
            false,
        )
        .unwrap();
        let d = sample(
            &client,
            &data,
            sde,
            &c,
            &[2],
            100,
            2,
            &HostCond::none(),
            false,
        )
        .unwrap();
        assert_eq!(a.x.shape(), &[100, 2]);
        assert_eq!(a.x.dtype(), DType::F32);
        assert_eq!(a.x, b.x, "{kind:?}: same seed");
        let (va, vd) = (a.x.to_f64_vec(), d.x.to_f64_vec());
        let same = va.iter().zip(&vd).filter(|(x, y)| x == y).count();
        assert_eq!(same, 0, "{kind:?}: different seeds share {same} values");
        // chunks differ from each other (each has its own key)
        assert_ne!(va[..60], va[60..120]);
    }
}
