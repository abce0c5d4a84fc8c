//! sbgm's `UNet` against the sbgm 0.0.38 fixtures (tests/fixtures/models/unet_*, written by
//! tools/make_model_fixtures.py): leaf skeleton and parameter count equal sbgm's; the
//! fixture's `.eqx` weights give sbgm's scores (≤ 1e-5 relative, f32) and, for unet_none and
//! unet_qa, sbgm's DSM loss and gradients; wrong conditioning is refused; dropout acts in
//! training only; a training step (value and gradient) traces, compiles and runs.

use sbgm_xla::graph::{Graph, Rng, Tensor, seed_key, value_and_grad};
use sbgm_xla::io::{LeafKind, LeafSpec};
use sbgm_xla::nn::{ApplyMode, ModelConfig, Params, ScoreNet, array_values};
use sbgm_xla::pjrt::{CompileOptions, Program};
use sbgm_xla::{DType, HostArray};

mod nn_fixture_common;
use nn_fixture_common::*;

const VARIANTS: [&str; 4] = ["unet_none", "unet_q", "unet_a", "unet_qa"];

#[test]
fn skeleton_and_parameter_count_equal_sbgms() {
    for name in VARIANTS {
        let (net, leaves) = check_skeleton(name);
        // Scalar leaves carry sbgm's values (the .eqx records them).
        let init = net.init(0).unwrap();
        for ((path, v), (_, file)) in init.iter().zip(&leaves) {
            if v.shape().is_empty() && !path.ends_with(".inference") {
                assert_eq!(v.to_f64_vec(), file.to_f64_vec(), "{name} {path}");
            }
        }
    }
}

/// All four variants in one program (XLA compiles the kernels they share once).
#[test]
fn scores_match_sbgm_for_every_conditioning_variant() {
    check_scores_match(&VARIANTS);
}

/// sbgm's DSM loss for the fixture's VP SDE (β(t) = 0.1 + 19.9 t, B(t) = 0.1 t + 9.95 t²,
/// weight 1 - exp(-B)) with the noise given: mean over the batch of
/// `weight(t) * mean((s(t, mean + std ε) + ε / std)^2)`.
fn dsm_loss(net: &dyn ScoreNet, tr: &Traced, eps: &Tensor, mode: &ApplyMode) -> Tensor {
    let t = &tr.t;
    let b = ((t * 0.1).unwrap() + (t.sqr().unwrap() * 9.95).unwrap()).unwrap();
    let decay = (b.neg().unwrap() * 0.5).unwrap().exp().unwrap();
    let var = (1.0 - b.neg().unwrap().exp().unwrap()).unwrap();
    let std = var.sqrt().unwrap();
    let col = |v: &Tensor| v.reshape(&[v.dims()[0], 1, 1, 1]).unwrap();
    let y = ((&tr.x * col(&decay)).unwrap() + (eps * col(&std)).unwrap()).unwrap();
    let s = net
        .apply(&tr.params, t, &y, tr.q.as_ref(), tr.a.as_ref(), mode)
        .unwrap();
    let r = (s + (eps / col(&std)).unwrap()).unwrap();
    let per = r.sqr().unwrap().mean(&[1, 2, 3], false).unwrap();
    (per * var).unwrap().mean_all().unwrap()
}

/// unet_qa (q and a, dropout 0.1) in one program: sbgm's DSM loss and the gradient of every
/// parameter at inference (the frozen random Fourier weights get exactly zero, as
/// `stop_gradient` gives in sbgm), and the score in training mode, whose dropout masks follow
/// the key (inference ignores it).
#[test]
fn dsm_gradients_match_sbgm_and_dropout_acts_in_training_only() {
    let name = "unet_qa";
    let net = net(name);
    let g = Graph::new();
    let mut args = Vec::new();
    let (tr, io) = trace_into(&g, net.as_ref(), name, "dsm.safetensors", &mut args);
    let eps_host = io.get("in.eps").unwrap().clone();
    let eps = g.parameter("eps", eps_host.shape(), DType::F32).unwrap();
    args.push(eps_host);
    let key = g.parameter("key", &[2], DType::U64).unwrap();
    let loss = dsm_loss(net.as_ref(), &tr, &eps, &ApplyMode::Inference);
    let (loss, grads) = value_and_grad(&loss, &tr.params.tensors()).unwrap();
    let cond = (tr.q.as_ref(), tr.a.as_ref());
    let mode = ApplyMode::train(Rng::new(&key).unwrap());
    let s_train = net
        .apply(&tr.params, &tr.t, &tr.x, cond.0, cond.1, &mode)
        .unwrap();
    let s_inf = net
        .apply(
            &tr.params,
            &tr.t,
            &tr.x,
            cond.0,
            cond.1,
            &ApplyMode::Inference,
        )
        .unwrap();
    let paths = tr.params.paths();
    let mut outs: Vec<(&str, &Tensor)> =
        vec![("loss", &loss), ("s_train", &s_train), ("s_inf", &s_inf)];
    outs.extend(paths.iter().copied().zip(grads.iter()));
    let m = g.build("unet_dsm", &outs).unwrap();
    let exe = client()
        .compile(&Program::text(m.text), &CompileOptions::default())
        .unwrap();
    let run = |k: u64| {
        let mut a = args.clone();
        a.push(seed_key(k));
        exe.run_host(&a).unwrap()
    };
    let out = run(11);

    let lerr = rel_err(&f32s(&out[0]), &f32s(io.get("out.loss").unwrap()));
    assert!(lerr <= 1e-5, "loss relative error {lerr:e}");
    let mut worst = (0.0, String::new());
    for (i, p) in paths.iter().enumerate() {
        let want = f32s(io.get(&format!("grad.{p}")).unwrap());
        let got = f32s(&out[3 + i]);
        if want.iter().all(|v| *v == 0.0) {
            assert!(got.iter().all(|v| *v == 0.0), "{p}: {got:?}");
            continue;
        }
        let e = rel_err(&got, &want);
        if e > worst.0 {
            worst = (e, p.to_string());
        }
    }
    eprintln!(
        "{name}: loss error {lerr:.2e}, worst gradient error {:.2e} ({})",
        worst.0, worst.1
    );
    assert!(
        worst.0 <= 1e-4,
        "gradient of {} off by {:e}",
        worst.1,
        worst.0
    );

    let again = run(11);
    let other = run(12);
    assert_eq!(out[1].to_f64_vec(), again[1].to_f64_vec());
    assert_ne!(out[1].to_f64_vec(), other[1].to_f64_vec());
    assert_eq!(out[2].to_f64_vec(), other[2].to_f64_vec());
    assert!(rel_err(&out[1].to_f64_vec(), &out[2].to_f64_vec()) > 1e-3);
}

/// A DSM training step (dropout on, masks from a key; value and gradient with respect to
/// every parameter) of a small one-stage UNet conditioned on `q` and `a` traces, compiles
/// and runs: finite loss and gradients, and one step of length 0.01 along the negative
/// gradient lowers the loss (same noise, same masks).
#[test]
fn a_training_step_traces_compiles_and_descends() {
    let net = ModelConfig::from_toml(
        "kind = \"unet\"\ndim = 8\ndim_mults = [1]\ndata_shape = [1, 8, 8]\nq_channels = 1\n\
         a_dim = 3\nlearned_sinusoidal_cond = true\nattn_heads = 2\nattn_dim_head = 4\n\
         dropout = 0.2",
    )
    .unwrap()
    .build()
    .unwrap();
    let skel = net.skeleton();
    let values = array_values(&skel, &net.init(5).unwrap()).unwrap();
    let g = Graph::new();
    let tr = Traced {
        params: Params::declare(&g, &skel, "").unwrap(),
        t: g.parameter("t", &[4], DType::F32).unwrap(),
        x: g.parameter("x", &[4, 1, 8, 8], DType::F32).unwrap(),
        q: Some(g.parameter("q", &[4, 1, 8, 8], DType::F32).unwrap()),
        a: Some(g.parameter("a", &[4, 3], DType::F32).unwrap()),
    };
    let eps = g.parameter("eps", &[4, 1, 8, 8], DType::F32).unwrap();
    let key = g.parameter("key", &[2], DType::U64).unwrap();
    let mode = ApplyMode::train(Rng::new(&key).unwrap());
    let loss = dsm_loss(net.as_ref(), &tr, &eps, &mode);
    let (loss, grads) = value_and_grad(&loss, &tr.params.tensors()).unwrap();
    let names: Vec<String> = (0..grads.len()).map(|i| format!("g{i}")).collect();
    let mut outs: Vec<(&str, &Tensor)> = vec![("loss", &loss)];
    outs.extend(names.iter().map(String::as_str).zip(grads.iter()));
    let m = g.build("unet_train_step", &outs).unwrap();
    let exe = client()
        .compile(&Program::text(m.text), &CompileOptions::default())
        .unwrap();
    let inputs = [
        HostArray::from_vec(vec![4], vec![0.05f32, 0.3, 0.6, 0.9]).unwrap(),
        host_f32(&[4, 1, 8, 8], 3),
        host_f32(&[4, 1, 8, 8], 4),
        host_f32(&[4, 3], 5),
        host_f32(&[4, 1, 8, 8], 6),
        seed_key(7),
    ];
    let run = |vals: &[HostArray]| {
        let mut a = vals.to_vec();
        a.extend(inputs.iter().cloned());
        exe.run_host(&a).unwrap()
    };
    let out = run(&values);
    let l0 = out[0].to_f64_vec()[0];
    assert!(l0.is_finite() && l0 > 0.0, "loss {l0}");
    let gnorm2: f64 = out[1..]
        .iter()
        .flat_map(|a| a.to_f64_vec())
        .map(|v| v * v)
        .sum();
    assert!(gnorm2.is_finite() && gnorm2 > 0.0);
    let lr = 0.01 / gnorm2.sqrt();
    let stepped: Vec<HostArray> = values
        .iter()
        .zip(&out[1..])
        .map(|(v, gr)| {
            let nv: Vec<f32> = v
                .to_f64_vec()
                .iter()
                .zip(gr.to_f64_vec())
                .map(|(p, d)| (p - lr * d) as f32)
                .collect();
            HostArray::from_vec(v.shape().to_vec(), nv).unwrap()
        })
        .collect();
    let l1 = run(&stepped)[0].to_f64_vec()[0];
    assert!(l1 < l0, "loss went from {l0} to {l1}");
}

#[test]
fn wrong_conditioning_is_refused_with_a_clear_error() {
    let g = Graph::new();
    let t = g.parameter("t", &[2], DType::F32).unwrap();
    let x = g.parameter("x", &[2, 1, 8, 8], DType::F32).unwrap();
    let q = g.parameter("q", &[2, 1, 8, 8], DType::F32).unwrap();
    let a = g.parameter("a", &[2, 2], DType::F32).unwrap();
    let bad_q = g.parameter("bad_q", &[2, 3, 8, 8], DType::F32).unwrap();
    let bad_a = g.parameter("bad_a", &[2, 5], DType::F32).unwrap();
    let mode = ApplyMode::Inference;
    let err = |name: &str, q: Option<&Tensor>, a: Option<&Tensor>| -> String {
        let net = net(name);
        let params = Params::declare(&Graph::new(), &net.skeleton(), "").unwrap();
        net.apply(&params, &t, &x, q, a, &mode)
            .unwrap_err()
            .to_string()
    };
    let e = err("unet_none", Some(&q), None);
    assert!(e.contains("q") && e.contains("takes none"), "{e}");
    let e = err("unet_none", None, Some(&a));
    assert!(
        e.contains("parameter vector a") && e.contains("takes none"),
        "{e}"
    );
    let e = err("unet_q", None, None);
    assert!(
        e.contains("conditioned on q") && e.contains("no q was given"),
        "{e}"
    );
    let e = err("unet_a", None, None);
    assert!(
        e.contains("conditioned on a") && e.contains("no a was given"),
        "{e}"
    );
    let e = err("unet_qa", Some(&bad_q), Some(&a));
    assert!(e.contains("q must have shape (2, 1, 8, 8)"), "{e}");
    let e = err("unet_qa", Some(&q), Some(&bad_a));
    assert!(e.contains("a must have shape (2, 2)"), "{e}");
    // A wrong data shape names the expected one.
    let x_bad = g.parameter("x_bad", &[2, 1, 4, 4], DType::F32).unwrap();
    let n = net("unet_none");
    let params = Params::declare(&Graph::new(), &n.skeleton(), "").unwrap();
    let e = n
        .apply(&params, &t, &x_bad, None, None, &mode)
        .unwrap_err()
        .to_string();
    assert!(e.contains("x must have shape (batch, 1, 8, 8)"), "{e}");
}

#[test]
fn bad_configurations_are_refused() {
    let build = |extra: &str| {
        ModelConfig::from_toml(&format!(
            "kind = \"unet\"\ndim = 4\ndim_mults = [1, 2, 4]\nlearned_sinusoidal_cond = true\n\
             random_fourier_features = true\n{extra}"
        ))
        .and_then(|c| c.build())
        .map(|_| ())
        .unwrap_err()
        .to_string()
    };
    let e = build("");
    assert!(e.contains("data_shape is not set"), "{e}");
    let e = build("data_shape = [1, 6, 6]");
    assert!(e.contains("must be divisible by 4"), "{e}");
    let e = build("data_shape = [1, 8, 8]\nout_dim = 2");
    assert!(e.contains("2 channels but a score needs 1"), "{e}");
    let e = build("data_shape = [1, 8, 8]\nattn_heads = [1, 2]");
    assert!(
        e.contains("attn_heads has 2 entries but there are 3 stages"),
        "{e}"
    );
    let e = build("data_shape = [1, 8, 8]\ndropout = 1.0");
    assert!(e.contains("dropout must be in [0, 1)"), "{e}");
    let e = build("data_shape = [1, 8, 8]\nchannels = 3");
    assert!(e.contains("channels = 3"), "{e}");
    let e = ModelConfig::from_toml("kind = \"unet\"\ndim = 4\nattn_head = 2")
        .unwrap_err()
        .to_string();
    assert!(e.contains("attn_head"), "{e}");
}

/// A small UNet with every option away from the fixtures' (fixed sinusoidal embedding,
/// full attention everywhere, per-stage heads, init_dim): leaves follow sbgm's rules.
#[test]
fn other_options_give_sbgms_tree() {
    let c = ModelConfig::from_toml(
        "kind = \"unet\"\ndim = 8\ninit_dim = 6\ndim_mults = [1, 2]\ndata_shape = [2, 8, 8]\n\
         full_attn = true\nattn_heads = [1, 2]\nattn_dim_head = 4",
    )
    .unwrap();
    let net = c.build().unwrap();
    let skel = net.skeleton();
    let find = |p: &str| {
        skel.iter()
            .find(|s| s.path == p)
            .unwrap_or_else(|| panic!("{p}"))
    };
    assert_eq!(find("time_mlp.embed.dim").kind, LeafKind::PyScalar);
    assert_eq!(find("time_mlp.embed.theta").kind, LeafKind::PyScalar);
    assert_eq!(find("time_mlp.layers.0.weight").shape, vec![32, 8]);
    assert_eq!(find("init_conv.weight").shape, vec![6, 2, 7, 7]);
    // Full attention in every stage: `norm`/`to_out`, mem_kv (2, heads, 4, dim_head).
    assert_eq!(find("downs.0.2.mem_kv").shape, vec![2, 1, 4, 4]);
    assert_eq!(find("downs.0.2.to_out.weight").shape, vec![6, 4, 1, 1]);
    assert_eq!(find("ups.1.2.to_out.weight").shape, vec![8, 4, 1, 1]);
    assert!(
        skel.iter()
            .all(|s| !s.path.starts_with("downs.0.0.res_conv"))
    );
    assert_eq!(
        find("final_res_block.block1.proj.weight").shape,
        vec![6, 12, 3, 3]
    );
    // It runs: output shape equals the data's.
    let g = Graph::new();
    let params = Params::declare(&g, &skel, "").unwrap();
    let t = g.parameter("t", &[3], DType::F32).unwrap();
    let x = g.parameter("x", &[3, 2, 8, 8], DType::F32).unwrap();
    let s = net
        .apply(&params, &t, &x, None, None, &ApplyMode::Inference)
        .unwrap();
    assert_eq!(s.dims(), &[3, 2, 8, 8]);
}

fn small_training_setup(dropout: f64) -> (Box<dyn ScoreNet>, Vec<(String, HostArray)>) {
    let c = ModelConfig::from_toml(&format!(
        "kind = \"unet\"\ndim = 8\ndim_mults = [1, 2]\ndata_shape = [1, 8, 8]\n\
         learned_sinusoidal_cond = true\nrandom_fourier_features = true\nattn_heads = 2\n\
         attn_dim_head = 8\ndropout = {dropout}\na_dim = 3"
    ))
    .unwrap();
    let net = c.build().unwrap();
    let leaves = net.init(7).unwrap();
    (net, leaves)
}

#[test]
fn initialisation_follows_equinox() {
    let (net, leaves) = small_training_setup(0.1);
    let skel: Vec<LeafSpec> = net.skeleton();
    for (s, (_, v)) in skel.iter().zip(&leaves) {
        let vals = v.to_f64_vec();
        if s.path.ends_with("proj.weight") && s.shape.len() == 4 {
            let fan_in = (s.shape[1] * s.shape[2] * s.shape[3]) as f64;
            let lim = 1.0 / fan_in.sqrt();
            assert!(vals.iter().all(|x| x.abs() <= lim), "{}", s.path);
            let max = vals.iter().fold(0.0f64, |m, x| m.max(x.abs()));
            assert!(max > 0.8 * lim, "{}: max {max} lim {lim}", s.path);
        }
        if s.path.ends_with(".gamma") {
            assert!(vals.iter().all(|x| *x == 0.0), "{}", s.path);
        }
    }
    let mem: Vec<f64> = skel
        .iter()
        .zip(&leaves)
        .filter(|(s, _)| s.path.ends_with("mem_kv"))
        .flat_map(|(_, (_, v))| v.to_f64_vec())
        .collect();
    let mean = mem.iter().sum::<f64>() / mem.len() as f64;
    let var = mem.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / mem.len() as f64;
    assert!(mem.len() > 300, "{}", mem.len());
    assert!(
        mean.abs() < 0.2 && (var - 1.0).abs() < 0.25,
        "mean {mean} var {var}"
    );
}

/// With dropout 0, training mode draws nothing: the traced program has no random bits.
#[test]
fn zero_dropout_draws_no_random_bits() {
    let (net, _) = small_training_setup(0.0);
    let g = Graph::new();
    let params = Params::declare(&g, &net.skeleton(), "").unwrap();
    let t = g.parameter("t", &[2], DType::F32).unwrap();
    let x = g.parameter("x", &[2, 1, 8, 8], DType::F32).unwrap();
    let a = g.parameter("a", &[2, 3], DType::F32).unwrap();
    let key = g.parameter("key", &[2], DType::U64).unwrap();
    let mode = ApplyMode::train(Rng::new(&key).unwrap());
    let s = net.apply(&params, &t, &x, None, Some(&a), &mode).unwrap();
    let text = g.build("p0", &[("s", &s)]).unwrap().text;
    assert!(!text.contains("rng_bit_generator"));
    let (net, _) = small_training_setup(0.2);
    let g = Graph::new();
    let params = Params::declare(&g, &net.skeleton(), "").unwrap();
    let t = g.parameter("t", &[2], DType::F32).unwrap();
    let x = g.parameter("x", &[2, 1, 8, 8], DType::F32).unwrap();
    let a = g.parameter("a", &[2, 3], DType::F32).unwrap();
    let key = g.parameter("key", &[2], DType::U64).unwrap();
    let mode = ApplyMode::train(Rng::new(&key).unwrap());
    let s = net.apply(&params, &t, &x, None, Some(&a), &mode).unwrap();
    let text = g.build("p2", &[("s", &s)]).unwrap().text;
    // One draw per residual block's first Block: 2 per stage and path, 2 mid, 1 final.
    assert_eq!(text.matches("rng_bit_generator").count(), 4 * 2 + 2 + 1);
}
