//! sbgm's `DiT` against the sbgm 0.0.38 fixtures (tests/fixtures/models/dit_*, written by
//! tools/make_model_fixtures.py): leaf skeleton (blocks stacked along depth) and parameter
//! count equal sbgm's; the fixture's `.eqx` weights give sbgm's scores (≤ 1e-5 relative, f32)
//! for every conditioning variant; wrong conditioning and bad sizes are refused; the gradient
//! of a loss agrees with central finite differences.

use sbgm_xla::graph::{Graph, Rng, Tensor, seed_key, value_and_grad};
use sbgm_xla::io::LeafKind;
use sbgm_xla::nn::{ApplyMode, ModelConfig, Params};
use sbgm_xla::pjrt::{CompileOptions, Program};
use sbgm_xla::{DType, HostArray};

mod nn_fixture_common;
use nn_fixture_common::*;

const VARIANTS: [&str; 4] = ["dit_none", "dit_q", "dit_a", "dit_qa"];

#[test]
fn skeleton_and_parameter_count_equal_sbgms() {
    for name in VARIANTS {
        check_skeleton(name);
    }
    // Stacked blocks: array leaves carry the leading depth axis, scalars do not.
    let net = net("dit_qa");
    let skel = net.skeleton();
    let find = |p: &str| skel.iter().find(|s| s.path == p).unwrap();
    assert_eq!(find("blocks.attn.query_proj.weight").shape, vec![2, 8, 8]);
    assert_eq!(find("blocks.attn.dropout.p").kind, LeafKind::PyScalar);
}

/// All four variants in one program (XLA compiles the kernels they share once).
#[test]
fn scores_match_sbgm_for_every_conditioning_variant() {
    check_scores_match(&VARIANTS);
}

#[test]
fn wrong_conditioning_is_refused_with_a_clear_error() {
    let g = Graph::new();
    let t = g.parameter("t", &[2], DType::F32).unwrap();
    let x = g.parameter("x", &[2, 1, 8, 8], DType::F32).unwrap();
    let q = g.parameter("q", &[2, 1, 8, 8], DType::F32).unwrap();
    let a = g.parameter("a", &[2, 2], DType::F32).unwrap();
    let bad_q = g.parameter("bad_q", &[2, 1, 4, 4], DType::F32).unwrap();
    let bad_a = g.parameter("bad_a", &[3, 2], DType::F32).unwrap();
    let mode = ApplyMode::Inference;
    let err = |name: &str, x: &Tensor, q: Option<&Tensor>, a: Option<&Tensor>| -> String {
        let net = net(name);
        let params = Params::declare(&Graph::new(), &net.skeleton(), "").unwrap();
        net.apply(&params, &t, x, q, a, &mode)
            .unwrap_err()
            .to_string()
    };
    // sbgm's DiT silently ignores a q or a it was not built for; here that is an error.
    let e = err("dit_none", &x, Some(&q), None);
    assert!(e.contains("q") && e.contains("takes none"), "{e}");
    let e = err("dit_q", &x, Some(&q), Some(&a));
    assert!(
        e.contains("parameter vector a") && e.contains("takes none"),
        "{e}"
    );
    let e = err("dit_q", &x, None, None);
    assert!(
        e.contains("conditioned on q") && e.contains("no q was given"),
        "{e}"
    );
    let e = err("dit_a", &x, None, None);
    assert!(
        e.contains("conditioned on a") && e.contains("no a was given"),
        "{e}"
    );
    let e = err("dit_qa", &x, Some(&bad_q), Some(&a));
    assert!(e.contains("q must have shape (2, 1, 8, 8)"), "{e}");
    let e = err("dit_qa", &x, Some(&q), Some(&bad_a));
    assert!(e.contains("a must have shape (2, 2)"), "{e}");
    let x3 = g.parameter("x3", &[2, 3, 8, 8], DType::F32).unwrap();
    let e = err("dit_none", &x3, None, None);
    assert!(e.contains("x must have shape (batch, 1, 8, 8)"), "{e}");
}

#[test]
fn bad_configurations_are_refused() {
    let build = |body: &str| {
        ModelConfig::from_toml(&format!("kind = \"dit\"\n{body}"))
            .and_then(|c| c.build())
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    let ok = "patch_size = 4\nembed_dim = 8\ndepth = 2\nn_heads = 2";
    let e = build(ok);
    assert!(e.contains("img_size is not set"), "{e}");
    let e = build(&format!("{ok}\nimg_size = 10\nchannels = 1"));
    assert!(
        e.contains("patch_size = 4 must divide the image size 10"),
        "{e}"
    );
    let e =
        build("img_size = 8\nchannels = 1\npatch_size = 4\nembed_dim = 9\ndepth = 2\nn_heads = 2");
    assert!(
        e.contains("embed_dim = 9 must be divisible by model.n_heads = 2"),
        "{e}"
    );
    let e =
        build("img_size = 8\nchannels = 1\npatch_size = 4\nembed_dim = 8\ndepth = 0\nn_heads = 2");
    assert!(e.contains("depth must be positive"), "{e}");
    let e = build(&format!("{ok}\nimg_size = 8\nchannels = 1\nheads = 2"));
    assert!(e.contains("heads"), "{e}");
    // with_data fills img_size and channels and refuses non-square images.
    let c = ModelConfig::from_toml(&format!("kind = \"dit\"\n{ok}")).unwrap();
    let net = c
        .clone()
        .with_data(&[3, 8, 8], None, Some(4))
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(net.data_shape(), vec![3, 8, 8]);
    assert_eq!(net.a_dim(), Some(4));
    let e = c.with_data(&[3, 8, 4], None, None).unwrap_err().to_string();
    assert!(e.contains("square"), "{e}");
}

/// A DiT with other sizes (patch 2, 3 blocks, 3 heads, q and a) built and initialised as
/// sbgm's (LayerNorm weights 1 and biases 0; class token and positions standard normal;
/// Linear and conv weights uniform within ±1/sqrt(fan_in)); the gradient of
/// `L = mean(s(t, x, q, a)^2)` in training mode (which has no dropout in the DiT) agrees with
/// central differences along a random direction, and training equals inference.
#[test]
fn gradient_agrees_with_finite_differences() {
    let c = ModelConfig::from_toml(
        "kind = \"dit\"\nimg_size = 8\npatch_size = 2\nchannels = 2\nembed_dim = 12\ndepth = 3\n\
         n_heads = 3\nq_dim = 1\na_dim = 4",
    )
    .unwrap();
    let net = c.build().unwrap();
    let skel = net.skeleton();
    let leaves = net.init(3).unwrap();
    for (s, (_, v)) in skel.iter().zip(&leaves) {
        let vals = v.to_f64_vec();
        if s.path.ends_with("norm.weight") {
            assert!(vals.iter().all(|x| *x == 1.0), "{}", s.path);
        }
        if s.path.ends_with("norm.bias") {
            assert!(vals.iter().all(|x| *x == 0.0), "{}", s.path);
        }
        if s.path == "blocks.mlp.layers.2.weight" {
            assert_eq!(s.shape, vec![3, 12, 48]);
            let lim = 1.0 / 48f64.sqrt();
            assert!(vals.iter().all(|x| x.abs() <= lim));
            assert!(vals.iter().any(|x| x.abs() > 0.9 * lim));
        }
        if s.path == "patch_embed.pos_embed" {
            assert_eq!(s.shape, vec![17, 12]);
            let m2 = vals.iter().map(|x| x * x).sum::<f64>() / vals.len() as f64;
            assert!((m2 - 1.0).abs() < 0.35, "second moment {m2}");
        }
    }
    let g = Graph::new();
    let params = Params::declare(&g, &skel, "").unwrap();
    let t = g.parameter("t", &[3], DType::F32).unwrap();
    let x = g.parameter("x", &[3, 2, 8, 8], DType::F32).unwrap();
    let q = g.parameter("q", &[3, 1, 8, 8], DType::F32).unwrap();
    let a = g.parameter("a", &[3, 4], DType::F32).unwrap();
    let key = g.parameter("key", &[2], DType::U64).unwrap();
    let mode = ApplyMode::train(Rng::new(&key).unwrap());
    let s = net
        .apply(&params, &t, &x, Some(&q), Some(&a), &mode)
        .unwrap();
    assert_eq!(s.dims(), &[3, 2, 8, 8]);
    let s_inf = net
        .apply(&params, &t, &x, Some(&q), Some(&a), &ApplyMode::Inference)
        .unwrap();
    let loss = s.sqr().unwrap().mean_all().unwrap();
    let (loss, grads) = value_and_grad(&loss, &params.tensors()).unwrap();
    let mut outs: Vec<(&str, &Tensor)> = vec![("loss", &loss), ("s", &s), ("s_inf", &s_inf)];
    let names: Vec<String> = (0..grads.len()).map(|i| format!("g{i}")).collect();
    for (n, gr) in names.iter().zip(&grads) {
        outs.push((n, gr));
    }
    let m = g.build("dit_grad", &outs).unwrap();
    let client = client();
    let exe = client
        .compile(&Program::text(m.text), &CompileOptions::default())
        .unwrap();
    let values = sbgm_xla::nn::array_values(&skel, &leaves).unwrap();
    let inputs = [
        HostArray::from_vec(vec![3], vec![0.1f32, 0.5, 0.9]).unwrap(),
        host_f32(&[3, 2, 8, 8], 1),
        host_f32(&[3, 1, 8, 8], 2),
        host_f32(&[3, 4], 3),
        seed_key(5),
    ];
    let run = |vals: &[HostArray]| {
        let mut args = vals.to_vec();
        args.extend(inputs.iter().cloned());
        exe.run_host(&args).unwrap()
    };
    let out = run(&values);
    // The same computation traced twice (XLA may fuse the copies differently).
    let err = rel_err(&out[1].to_f64_vec(), &out[2].to_f64_vec());
    assert!(err < 1e-6, "training differs from inference by {err:e}");
    // Direction d: a fixed pseudo-random sign pattern over all parameters.
    let mut k = 0u64;
    let mut dirs = Vec::new();
    let mut dot = 0.0;
    for (v, gr) in values.iter().zip(&out[3..]) {
        let d: Vec<f64> = (0..v.len())
            .map(|_| {
                k = k.wrapping_mul(6364136223846793005).wrapping_add(1);
                if (k >> 33) & 1 == 1 { 1.0 } else { -1.0 }
            })
            .collect();
        dot += d
            .iter()
            .zip(gr.to_f64_vec())
            .map(|(a, b)| a * b)
            .sum::<f64>();
        dirs.push(d);
    }
    let h = 1e-3;
    let shifted = |sign: f64| -> f64 {
        let vals: Vec<HostArray> = values
            .iter()
            .zip(&dirs)
            .map(|(v, d)| {
                let nv: Vec<f32> = v
                    .to_f64_vec()
                    .iter()
                    .zip(d)
                    .map(|(p, di)| (p + sign * h * di) as f32)
                    .collect();
                HostArray::from_vec(v.shape().to_vec(), nv).unwrap()
            })
            .collect();
        run(&vals)[0].to_f64_vec()[0]
    };
    let fd = (shifted(1.0) - shifted(-1.0)) / (2.0 * h);
    let rel = (fd - dot).abs() / dot.abs();
    eprintln!("directional derivative: autodiff {dot:.6e}, finite differences {fd:.6e}");
    assert!(rel < 5e-3, "autodiff {dot} vs finite differences {fd}");
}
