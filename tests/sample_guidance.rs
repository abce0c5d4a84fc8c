//! Classifier-free guidance with an analytic conditional score (one Gaussian per class,
//! N(μ_c, Σ), and N(μ_∅, Σ) unconditionally): the guided score (1 + w) s_c − w s_∅ is the
//! score of N(μ_c + w (μ_c − μ_∅), Σ), so guided samples move from the unconditional mean
//! through the class mean and beyond as w grows, by exactly that amount.

mod sample_common;

use sample_common::{moment_zscore, sdes, target_moments};
use sbgm_xla::exec::Target;
use sbgm_xla::sample::{ClassGaussians, HostCond, SamplerConfig, SamplerKind, sample};
use sbgm_xla::{DType, HostArray};

#[test]
fn guided_samples_follow_the_closed_form() {
    let client = Target::cpu().unwrap();
    let sde = &sdes()[0];
    let means = vec![vec![0.6, 0.0], vec![-0.4, 0.5]];
    let null = vec![0.2, 0.2];
    let cov = vec![0.2, 0.05, 0.05, 0.1];
    let model =
        ClassGaussians::new(sde, means.clone(), null.clone(), cov.clone(), DType::F64).unwrap();
    let n = 4000;
    // per-sample labels: the first half class 0, the second half class 1
    let labels: Vec<i32> = (0..n).map(|i| (i >= n / 2) as i32).collect();
    let cond = HostCond {
        labels: Some(HostArray::from_vec(vec![n], labels).unwrap()),
        ..HostCond::default()
    };
    for kind in [SamplerKind::Dpm2m, SamplerKind::Em] {
        let mut last_dist = [-1.0f64; 2];
        for w in [0.0, 1.0, 2.5] {
            let mut cfg = SamplerConfig::new(kind).guidance(w);
            cfg.steps = Some(if kind == SamplerKind::Em { 200 } else { 20 });
            let s = sample(&client, &model, sde, &cfg, &[2], n, 3, &cond, false).unwrap();
            let v = s.x.to_f64_vec();
            for c in 0..2 {
                let half = &v[c * n..(c + 1) * n];
                let mu_w: Vec<f64> = (0..2)
                    .map(|i| means[c][i] + w * (means[c][i] - null[i]))
                    .collect();
                let (m, cv) = target_moments(sde, &mu_w, &cov);
                let z = moment_zscore(half, &m, &cv, 0.03);
                assert!(z < 4.5, "{kind:?} w = {w} class {c}: z = {z}");
                // the distance from the unconditional mean grows with w
                let mean: Vec<f64> = (0..2)
                    .map(|i| half.iter().skip(i).step_by(2).sum::<f64>() / (n / 2) as f64)
                    .collect();
                let dist = ((mean[0] - null[0]).powi(2) + (mean[1] - null[1]).powi(2)).sqrt();
                assert!(
                    dist > last_dist[c],
                    "{kind:?} class {c}: w = {w} is not further out"
                );
                last_dist[c] = dist;
            }
        }
    }
    // without guidance and without labels: the unconditional Gaussian N(μ_∅, Σ) is refused
    // for a model that needs labels (see sample_errors.rs); with w = 0 the labels select
    // the class exactly (checked above).
}
