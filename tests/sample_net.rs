//! The adapter from `nn` score networks to the samplers: conditioning on `a` per sample,
//! guidance with the training's null value (zeros), the exact divergence of a real
//! (nonlinear) network against finite differences, and leaves that do not match.

mod sample_common;

use sample_common::sdes;
use sbgm_xla::exec::Target;
use sbgm_xla::graph::Graph;
use sbgm_xla::nn::{ModelConfig, ScoreNet};
use sbgm_xla::pjrt::{Client, CompileOptions, Program};
use sbgm_xla::sample::flow::pf_drift;
use sbgm_xla::sample::{
    Cond, Guided, HostCond, LoglikConfig, NetScore, SamplerConfig, SamplerKind, ScoreFn,
    ScoreModel, loglik, sample,
};
use sbgm_xla::{DType, HostArray};

fn mlp(extra: &str) -> Box<dyn ScoreNet> {
    ModelConfig::from_toml(&format!(
        "kind = \"mlp\"\nwidth_size = 16\ndepth = 2\nin_size = 2\n{extra}"
    ))
    .unwrap()
    .build()
    .unwrap()
}

#[test]
fn conditional_network_samples_and_guidance_uses_zeros_as_null() {
    let client = Client::cpu().unwrap();
    let target = Target::new(client.clone());
    let sde = &sdes()[0];
    let net = mlp("a_dim = 3");
    let leaves = net.init(4).unwrap();
    let model = NetScore::new(&*net, &leaves).unwrap();
    let cfg = SamplerConfig::new(SamplerKind::Em).steps(10);
    let e = sample(
        &target,
        &model,
        sde,
        &cfg,
        &[2],
        8,
        0,
        &HostCond::none(),
        false,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("conditioned on a") && e.contains("[8, 3]"),
        "{e}"
    );
    let a: Vec<f32> = (0..24).map(|i| (i as f32 * 0.37).sin()).collect();
    let cond = HostCond {
        a: Some(HostArray::from_vec(vec![8, 3], a.clone()).unwrap()),
        ..HostCond::default()
    };
    for kind in [SamplerKind::Em, SamplerKind::Tsit5, SamplerKind::Dpm2m] {
        let c = SamplerConfig::new(kind).steps(10).guidance(1.5);
        let s1 = sample(&target, &model, sde, &c, &[2], 8, 0, &cond, false).unwrap();
        let s2 = sample(&target, &model, sde, &c, &[2], 8, 0, &cond, false).unwrap();
        assert_eq!(s1.x, s2.x);
        assert_eq!(s1.x.shape(), &[8, 2]);
        assert!(s1.x.to_f64_vec().iter().all(|v| v.is_finite()));
    }

    // the guided score is (1 + w) s(t, x, a) − w s(t, x, 0)
    let g = Graph::new();
    let t = g.parameter("t", &[8], DType::F32).unwrap();
    let x = g.parameter("x", &[8, 2], DType::F32).unwrap();
    let av = g.parameter("a", &[8, 3], DType::F32).unwrap();
    let bound = model.bind(&g).unwrap();
    let c = Cond {
        a: Some(av.clone()),
        ..Cond::default()
    };
    let guided = Guided {
        inner: &bound,
        w: 1.5,
    }
    .score(&t, &x, &c)
    .unwrap();
    let cond_s = bound.score(&t, &x, &c).unwrap();
    let zero = Cond {
        a: Some(av.zeros_like().unwrap()),
        ..Cond::default()
    };
    let uncond_s = bound.score(&t, &x, &zero).unwrap();
    let m = g
        .build("g", &[("g", &guided), ("c", &cond_s), ("u", &uncond_s)])
        .unwrap();
    let exe = client
        .compile(&Program::text(m.text), &CompileOptions::default())
        .unwrap();
    let mut args = vec![
        HostArray::from_vec(vec![8], (0..8).map(|i| 0.1 + 0.1 * i as f32).collect()).unwrap(),
        HostArray::from_vec(
            vec![8, 2],
            (0..16).map(|i| (i as f32 * 0.7).cos()).collect(),
        )
        .unwrap(),
        HostArray::from_vec(vec![8, 3], a).unwrap(),
    ];
    args.extend(model.arguments());
    let out = exe.run_host(&args).unwrap();
    let (gv, cv, uv) = (
        out[0].to_f64_vec(),
        out[1].to_f64_vec(),
        out[2].to_f64_vec(),
    );
    assert!(
        cv.iter().zip(&uv).any(|(c, u)| (c - u).abs() > 1e-3),
        "a must matter"
    );
    for i in 0..16 {
        let want = 2.5 * cv[i] - 1.5 * uv[i];
        assert!(
            (gv[i] - want).abs() < 1e-5 * (1.0 + want.abs()),
            "{i}: {} vs {want}",
            gv[i]
        );
    }
}

/// One Euler step of the likelihood ODE from t0 gives Δ = (t1 − t0) ∇·f̃(x, t0): the exact
/// trace (stacked VJPs) of a random MLP equals central finite differences of the drift.
#[test]
fn exact_divergence_of_a_network_matches_finite_differences() {
    let client = Client::cpu().unwrap();
    let target = Target::new(client.clone());
    let sde = &sdes()[0];
    let net = mlp("");
    let leaves = net.init(9).unwrap();
    let model = NetScore::new(&*net, &leaves).unwrap();
    let xs: Vec<f32> = vec![0.3, -0.7, 1.2, 0.4, -0.9, -1.1];
    let x = HostArray::from_vec(vec![3, 2], xs.clone()).unwrap();
    let cfg = LoglikConfig {
        solver: SamplerKind::Euler,
        steps: Some(1),
        ..LoglikConfig::default()
    };
    let r = loglik(&target, &model, sde, &cfg, &x, 0, &HostCond::none(), false).unwrap();
    let h = sde.t1 - sde.t0;

    // the drift at x ± δ e_j
    let delta = 1e-2f32;
    let mut pts = Vec::new();
    for i in 0..3 {
        for j in 0..2 {
            for s in [1.0f32, -1.0] {
                let mut p = [xs[2 * i], xs[2 * i + 1]];
                p[j] += s * delta;
                pts.extend_from_slice(&p);
            }
        }
    }
    let n = pts.len() / 2;
    let g = Graph::new();
    let xt = g.parameter("x", &[n, 2], DType::F32).unwrap();
    let bound = model.bind(&g).unwrap();
    let t = g.full(&[n], sde.t0, DType::F32).unwrap();
    let f = pf_drift(&*bound, sde, &t, &xt, &Cond::none()).unwrap();
    let m = g.build("f", &[("f", &f)]).unwrap();
    let exe = client
        .compile(&Program::text(m.text), &CompileOptions::default())
        .unwrap();
    let mut args = vec![HostArray::from_vec(vec![n, 2], pts).unwrap()];
    args.extend(model.arguments());
    let fv = exe.run_host(&args).unwrap()[0].to_f64_vec();
    for i in 0..3 {
        let mut div = 0.0;
        for j in 0..2 {
            let k = (i * 2 + j) * 2;
            div += (fv[2 * k + j] - fv[2 * (k + 1) + j]) / (2.0 * delta as f64);
        }
        let want = h * div;
        assert!(
            (r.delta[i] - want).abs() < 2e-3 * (1.0 + want.abs()),
            "sample {i}: Δ = {}, finite differences {want}",
            r.delta[i]
        );
    }
}

#[test]
fn leaves_of_another_network_are_refused() {
    let net = mlp("");
    let other = ModelConfig::from_toml("kind = \"mlp\"\nwidth_size = 8\ndepth = 2\nin_size = 2")
        .unwrap()
        .build()
        .unwrap();
    let leaves = other.init(0).unwrap();
    let e = NetScore::new(&*net, &leaves)
        .err()
        .expect("mismatch")
        .to_string();
    assert!(
        e.contains("_in.weight") && e.contains("[16, 3]") && e.contains("[8, 3]"),
        "{e}"
    );
}
