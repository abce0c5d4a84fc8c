//! Classifier-free guidance with an analytic conditional score (one Gaussian per class,
//! N(μ_c, Σ), and N(μ_∅, Σ) unconditionally): the guided score (1 + w) s_c − w s_∅ is the
//! score of N(μ_c + w (μ_c − μ_∅), Σ), so guided samples move from the unconditional mean
//! through the class mean and beyond as w grows, by exactly that amount.

mod sample_common;

use sample_common::{moment_zscore, sdes, target_moments};
use sbgm_xla::exec::Target;
use sbgm_xla::graph::Tensor;
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

/// A network conditioned on class labels as `a` (`[train] labels_as = "a"`): its
/// unconditional score is the network at a = −1 (the training's `cond_null`), not at 0,
/// which is class 0; so guidance changes class 0's score too, by exactly
/// (1 + w) s(a = c) − w s(a = −1).
#[test]
fn guided_network_on_labels_uses_minus_one_as_no_label() {
    use sbgm_xla::graph::Graph;
    use sbgm_xla::nn::ModelConfig;
    use sbgm_xla::sample::{Cond, Guided, NetScore, ScoreFn, ScoreModel};
    use sbgm_xla::train::{NullSpec, TrainConfig};

    let train: TrainConfig = toml::from_str("labels_as = \"a\"").unwrap();
    let null = train.with_resolved_cond_null().null_spec();
    assert_eq!(null.cond_null, Some(-1.0));
    assert_eq!(null.guidance_warning(), None);
    let mlp = "kind = \"mlp\"\nwidth_size = 16\ndepth = 2\nin_size = 2\na_dim = 1";
    let net = ModelConfig::from_toml(mlp).unwrap().build().unwrap();
    let leaves = net.init(5).unwrap();
    let model = NetScore::new(&*net, &leaves)
        .unwrap()
        .with_null(null.values());
    let n = 8;
    let g = Graph::new();
    let t = g.parameter("t", &[n], DType::F32).unwrap();
    let x = g.parameter("x", &[n, 2], DType::F32).unwrap();
    let labels = g.parameter("a", &[n, 1], DType::F32).unwrap();
    let bound = model.bind(&g).unwrap();
    let at = |a: Tensor| Cond {
        a: Some(a),
        ..Cond::default()
    };
    let w = 2.0;
    let guided = Guided { inner: &bound, w }
        .score(&t, &x, &at(labels.clone()))
        .unwrap();
    let cond_s = bound.score(&t, &x, &at(labels.clone())).unwrap();
    let minus_one = bound
        .score(&t, &x, &at(labels.full_like(-1.0).unwrap()))
        .unwrap();
    let m = g
        .build("g", &[("g", &guided), ("c", &cond_s), ("u", &minus_one)])
        .unwrap();
    let classes: Vec<f32> = (0..n).map(|i| (i % 2) as f32).collect();
    let mut args = vec![
        HostArray::from_vec(vec![n], (0..n).map(|i| 0.2 + 0.1 * i as f32).collect()).unwrap(),
        HostArray::from_vec(
            vec![n, 2],
            (0..2 * n).map(|i| (i as f32 * 0.9).sin()).collect(),
        )
        .unwrap(),
        HostArray::from_vec(vec![n, 1], classes).unwrap(),
    ];
    args.extend(model.arguments());
    let out = Target::cpu().unwrap().run(&m, &args).unwrap();
    let (gv, cv, uv) = (
        out[0].to_f64_vec(),
        out[1].to_f64_vec(),
        out[2].to_f64_vec(),
    );
    for i in 0..2 * n {
        let want = (1.0 + w) * cv[i] - w * uv[i];
        assert!(
            (gv[i] - want).abs() < 1e-5 * (1.0 + want.abs()),
            "{i}: guided {} vs (1 + w) s(c) − w s(−1) = {want}",
            gv[i]
        );
    }
    // class 0 (even rows) is guided: with 0 as the null its guided score was its own score
    let moved = (0..n)
        .step_by(2)
        .flat_map(|r| [2 * r, 2 * r + 1])
        .map(|i| (gv[i] - cv[i]).abs())
        .fold(0.0, f64::max);
    assert!(moved > 1e-3, "class 0's score is unguided (moved {moved})");
    // a run stored before cond_null existed keeps 0 and warns
    let old = NullSpec {
        cond_null: None,
        ..null
    };
    assert_eq!(old.values().a, 0.0);
    assert!(old.guidance_warning().unwrap().contains("class 0"));
}
