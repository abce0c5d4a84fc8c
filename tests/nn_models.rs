//! sbgm's `ResidualNetwork` and `Mixer2d` against the model fixtures (tests/fixtures/models/,
//! written with sbgm 0.0.38 / equinox 0.13.8): leaf skeletons equal sbgm's leaf tables, the
//! parameter counts equal sbgm's, and the score of each fixture's `model.eqx` on its inputs
//! equals sbgm's output; conditioning is validated with clear errors; initialisation follows
//! the Equinox/sbgm distributions.

use std::path::{Path, PathBuf};

use sbgm_xla::HostArray;
use sbgm_xla::graph::{Graph, Rng, Tensor};
use sbgm_xla::io::{load_checkpoint, read_eqx, skeleton_from_json};
use sbgm_xla::nn::{ApplyMode, ModelConfig, Params, ScoreNet, array_values};
use sbgm_xla::pjrt::{Client, CompileOptions, Program};

/// One CPU client shared by the tests of this file.
fn client() -> &'static Client {
    static CLIENT: std::sync::OnceLock<Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| Client::cpu().unwrap())
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models")
}

fn fixture_config(name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(fixtures().join(name).join("config.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Our model config from a fixture's sbgm constructor kwargs (same names).
fn model_config(name: &str) -> ModelConfig {
    let c = fixture_config(name);
    let mut kw = c["kwargs"].as_object().unwrap().clone();
    let kind = match c["model"].as_str().unwrap() {
        "ResidualNetwork" => "mlp",
        "Mixer2d" => "mixer",
        m => panic!("{m}"),
    };
    kw.insert("kind".into(), kind.into());
    serde_json::from_value(serde_json::Value::Object(kw)).unwrap()
}

fn n_params_in_index(name: &str) -> usize {
    let text = std::fs::read_to_string(fixtures().join("index.json")).unwrap();
    let index: serde_json::Value = serde_json::from_str(&text).unwrap();
    index["variants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .unwrap()["n_params"]
        .as_u64()
        .unwrap() as usize
}

const VARIANTS: [&str; 8] = [
    "mlp_none",
    "mlp_q",
    "mlp_a",
    "mlp_qa",
    "mixer_none",
    "mixer_q",
    "mixer_a",
    "mixer_qa",
];

/// Traces the batched score with parameters first, then t, x, (q), (a); compiles and runs it.
fn run_score(
    net: &dyn ScoreNet,
    leaves: &[(String, HostArray)],
    inputs: &[(&str, &HostArray)],
    mode_seed: Option<u64>,
) -> sbgm_xla::Result<HostArray> {
    let g = Graph::new();
    let skel = net.skeleton();
    let params = Params::declare(&g, &skel, "params.")?;
    let mut args = array_values(&skel, leaves)?;
    let mut ins: Vec<(String, Tensor)> = Vec::new();
    for (n, a) in inputs {
        ins.push((n.to_string(), g.parameter(n, a.shape(), a.dtype())?));
        args.push((*a).clone());
    }
    let get = |n: &str| ins.iter().find(|(k, _)| k == n).map(|(_, t)| t);
    let mode = match mode_seed {
        None => ApplyMode::Inference,
        Some(s) => ApplyMode::train(Rng::from_seed(&g, s)?),
    };
    let s = net.apply(
        &params,
        get("t").unwrap(),
        get("x").unwrap(),
        get("q"),
        get("a"),
        &mode,
    )?;
    let m = g.build("score", &[("score", &s)])?;
    let client = client();
    let exe = client.compile(&Program::text(m.text), &CompileOptions::default())?;
    Ok(exe.run_host(&args)?.remove(0))
}

/// max |a - b| / max |b|.
fn rel_err(a: &HostArray, b: &HostArray) -> f64 {
    let (a, b) = (a.to_f64_vec(), b.to_f64_vec());
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0f64, |m, v| m.max(v.abs()));
    let diff = a
        .iter()
        .zip(&b)
        .fold(0f64, |m, (x, y)| m.max((x - y).abs()));
    diff / scale
}

#[test]
fn skeletons_and_parameter_counts_equal_sbgms() {
    for name in VARIANTS {
        let net = model_config(name).build().unwrap();
        let text = std::fs::read_to_string(fixtures().join(name).join("config.json")).unwrap();
        let want = skeleton_from_json(&text).unwrap();
        assert_eq!(net.skeleton(), want, "{name}");
        assert_eq!(net.n_params(), n_params_in_index(name), "{name}");
        // the fixture's scalar leaves hold exactly our configuration's values
        let leaves = read_eqx(&fixtures().join(name).join("model.eqx"), &want).unwrap();
        net.check_leaves(&leaves)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn scores_match_sbgm() {
    for name in VARIANTS {
        let net = model_config(name).build().unwrap();
        let leaves = read_eqx(&fixtures().join(name).join("model.eqx"), &net.skeleton()).unwrap();
        let io = load_checkpoint(&fixtures().join(name).join("io.safetensors")).unwrap();
        let mut inputs = vec![
            ("t", io.get("in.t").unwrap()),
            ("x", io.get("in.x").unwrap()),
        ];
        for c in ["q", "a"] {
            if let Ok(v) = io.get(&format!("in.{c}")) {
                inputs.push((c, v));
            }
        }
        let got = run_score(net.as_ref(), &leaves, &inputs, None).unwrap();
        let want = io.get("out.score").unwrap();
        assert_eq!(got.shape(), want.shape(), "{name}");
        let err = rel_err(&got, want);
        eprintln!("{name}: max relative error {err:.2e}");
        assert!(err <= 1e-5, "{name}: relative error {err:.3e}");
    }
}

/// sbgm's DSM loss (VP, linear beta 0.1..20, weight 1 - exp(-B)) with the fixture's fixed t
/// and noise, and its gradient with respect to every parameter: the backward pass through the
/// network equals JAX's.
#[test]
fn dsm_loss_and_gradients_match_sbgm_for_the_mlp() {
    use sbgm_xla::graph::grad;
    for name in ["mlp_none", "mlp_q", "mlp_a", "mlp_qa"] {
        let net = model_config(name).build().unwrap();
        let skel = net.skeleton();
        let leaves = read_eqx(&fixtures().join(name).join("model.eqx"), &skel).unwrap();
        let ck = load_checkpoint(&fixtures().join(name).join("dsm.safetensors")).unwrap();
        let g = Graph::new();
        let params = Params::declare(&g, &skel, "").unwrap();
        let mut args = array_values(&skel, &leaves).unwrap();
        let mut input = |n: &str| -> Option<Tensor> {
            let a = ck.get(&format!("in.{n}")).ok()?;
            args.push(a.clone());
            Some(g.parameter(n, a.shape(), a.dtype()).unwrap())
        };
        let (t, x, eps) = (
            input("t").unwrap(),
            input("x").unwrap(),
            input("eps").unwrap(),
        );
        let (q, a) = (input("q"), input("a"));
        let b = t.dims()[0];
        let tc = t.reshape(&[b, 1]).unwrap();
        let bint = ((&tc * 0.1).unwrap() + (tc.sqr().unwrap() * 9.95).unwrap()).unwrap();
        let mean = ((&bint * -0.5).unwrap().exp().unwrap() * &x).unwrap();
        let std = bint
            .neg()
            .unwrap()
            .expm1()
            .unwrap()
            .neg()
            .unwrap()
            .sqrt()
            .unwrap();
        let y = (mean + (&std * &eps).unwrap()).unwrap();
        let s = net
            .apply(
                &params,
                &t,
                &y,
                q.as_ref(),
                a.as_ref(),
                &ApplyMode::Inference,
            )
            .unwrap();
        let weight = bint.neg().unwrap().expm1().unwrap().neg().unwrap();
        let per = ((s + (&eps / &std).unwrap())
            .unwrap()
            .sqr()
            .unwrap()
            .mean(&[1], true)
            .unwrap()
            * weight)
            .unwrap()
            .reshape(&[b])
            .unwrap();
        let loss = per.mean_all().unwrap();
        let grads = grad(&loss, &params.tensors()).unwrap();
        let mut outs: Vec<(String, &Tensor)> = vec![
            ("out.loss".into(), &loss),
            ("out.per_sample_loss".into(), &per),
        ];
        for ((path, _), gt) in params.iter().zip(&grads) {
            outs.push((format!("grad.{path}"), gt));
        }
        let named: Vec<(&str, &Tensor)> = outs.iter().map(|(n, t)| (n.as_str(), *t)).collect();
        let m = g.build("dsm", &named).unwrap();
        let client = client();
        let exe = client
            .compile(&Program::text(m.text), &CompileOptions::default())
            .unwrap();
        let got = exe.run_host(&args).unwrap();
        for ((n, _), v) in named.iter().zip(&got) {
            let err = rel_err(v, ck.get(n).unwrap());
            assert!(err <= 1e-5, "{name} {n}: relative error {err:.3e}");
        }
    }
}

fn mlp(extra: &str) -> Box<dyn ScoreNet> {
    ModelConfig::from_toml(&format!(
        "kind = \"mlp\"\nin_size = 2\nwidth_size = 8\ndepth = 2\n{extra}"
    ))
    .unwrap()
    .build()
    .unwrap()
}

fn mixer(extra: &str) -> Box<dyn ScoreNet> {
    ModelConfig::from_toml(&format!(
        "kind = \"mixer\"\nimg_size = [2, 8, 4]\npatch_size = 2\nhidden_size = 4\n\
         mix_patch_size = 6\nmix_hidden_size = 5\nnum_blocks = 1\n{extra}"
    ))
    .unwrap()
    .build()
    .unwrap()
}

/// Traces `apply` with inputs of the given shapes; returns the output dims or the error.
fn trace(
    net: &dyn ScoreNet,
    t: &[usize],
    x: &[usize],
    q: Option<&[usize]>,
    a: Option<&[usize]>,
) -> sbgm_xla::Result<Vec<usize>> {
    use sbgm_xla::DType;
    let g = Graph::new();
    let p = Params::declare(&g, &net.skeleton(), "").unwrap();
    let t = g.parameter("t", t, DType::F32)?;
    let x = g.parameter("x", x, DType::F32)?;
    let q = q.map(|d| g.parameter("q", d, DType::F32)).transpose()?;
    let a = a.map(|d| g.parameter("a", d, DType::F32)).transpose()?;
    let mode = ApplyMode::train(Rng::from_seed(&g, 0)?);
    let s = net.apply(&p, &t, &x, q.as_ref(), a.as_ref(), &mode)?;
    Ok(s.dims().to_vec())
}

#[test]
fn every_conditioning_variant_gives_the_data_shape() {
    for (extra, q, a) in [
        ("", None, None),
        ("q_dim = 3", Some(vec![5, 3]), None),
        ("a_dim = 4", None, Some(vec![5, 4])),
        ("q_dim = 3\na_dim = 4", Some(vec![5, 3]), Some(vec![5, 4])),
    ] {
        let net = mlp(&format!("dropout_p = 0.2\n{extra}"));
        let d = trace(net.as_ref(), &[5], &[5, 2], q.as_deref(), a.as_deref()).unwrap();
        assert_eq!(d, vec![5, 2], "mlp {extra}");
        // a scalar t is shared by every sample
        let d = trace(net.as_ref(), &[], &[5, 2], q.as_deref(), a.as_deref()).unwrap();
        assert_eq!(d, vec![5, 2], "mlp {extra}, scalar t");
    }
    for (extra, q, a) in [
        ("", None, None),
        ("q_dim = 1", Some(vec![3, 1, 8, 4]), None),
        ("a_dim = 2", None, Some(vec![3, 2])),
        (
            "q_dim = 1\na_dim = 2\nfinal_activation = \"tanh\"",
            Some(vec![3, 1, 8, 4]),
            Some(vec![3, 2]),
        ),
    ] {
        let net = mixer(extra);
        let d = trace(
            net.as_ref(),
            &[3],
            &[3, 2, 8, 4],
            q.as_deref(),
            a.as_deref(),
        )
        .unwrap();
        assert_eq!(d, vec![3, 2, 8, 4], "mixer {extra}");
    }
}

#[test]
fn bad_conditioning_is_a_clear_error() {
    let err = |r: sbgm_xla::Result<Vec<usize>>| r.unwrap_err().to_string();
    let qa = mlp("q_dim = 3\na_dim = 4");
    let e = err(trace(qa.as_ref(), &[5], &[5, 2], None, Some(&[5, 4])));
    assert!(
        e.contains("conditioned on q") && e.contains("no q was given"),
        "{e}"
    );
    let e = err(trace(qa.as_ref(), &[5], &[5, 2], Some(&[5, 3]), None));
    assert!(
        e.contains("conditioned on a") && e.contains("no a was given"),
        "{e}"
    );
    let e = err(trace(
        qa.as_ref(),
        &[5],
        &[5, 2],
        Some(&[5, 2]),
        Some(&[5, 4]),
    ));
    assert!(
        e.contains("q must have shape (5, 3)") && e.contains("[5, 2]"),
        "{e}"
    );
    let e = err(trace(
        qa.as_ref(),
        &[5],
        &[5, 2],
        Some(&[5, 3]),
        Some(&[4, 4]),
    ));
    assert!(e.contains("a must have shape (5, 4)"), "{e}");
    let plain = mlp("");
    let e = err(trace(plain.as_ref(), &[5], &[5, 2], Some(&[5, 3]), None));
    assert!(e.contains("takes none") && e.contains("q_dim"), "{e}");
    let e = err(trace(plain.as_ref(), &[5], &[5, 2], None, Some(&[5, 3])));
    assert!(e.contains("takes none") && e.contains("a_dim"), "{e}");
    let e = err(trace(plain.as_ref(), &[5], &[5, 3], None, None));
    assert!(e.contains("x must have shape (batch, 2)"), "{e}");
    let e = err(trace(plain.as_ref(), &[4], &[5, 2], None, None));
    assert!(e.contains("t must have shape (5,)"), "{e}");
    let m = mixer("q_dim = 1");
    let e = err(trace(
        m.as_ref(),
        &[3],
        &[3, 2, 8, 4],
        Some(&[3, 1, 4, 8]),
        None,
    ));
    assert!(e.contains("q must have shape (3, 1, 8, 4)"), "{e}");
}

#[test]
fn dropout_acts_in_training_only() {
    let net = mlp("dropout_p = 0.5");
    let leaves = net.init(3).unwrap();
    let t = HostArray::from_vec(vec![4], vec![0.1f32, 0.4, 0.7, 0.9]).unwrap();
    let x = HostArray::from_vec(
        vec![4, 2],
        vec![0.5f32, -1.0, 0.2, 0.3, -0.7, 1.1, 0.0, 2.0],
    )
    .unwrap();
    let inputs = [("t", &t), ("x", &x)];
    let inf = run_score(net.as_ref(), &leaves, &inputs, None).unwrap();
    let tr1 = run_score(net.as_ref(), &leaves, &inputs, Some(1)).unwrap();
    let tr2 = run_score(net.as_ref(), &leaves, &inputs, Some(2)).unwrap();
    assert_ne!(inf.to_f64_vec(), tr1.to_f64_vec());
    assert_ne!(tr1.to_f64_vec(), tr2.to_f64_vec());
    // with p = 0, training equals inference
    let net0 = mlp("dropout_p = 0.0");
    let a = run_score(net0.as_ref(), &leaves, &inputs, None).unwrap();
    let b = run_score(net0.as_ref(), &leaves, &inputs, Some(1)).unwrap();
    assert_eq!(a.to_f64_vec(), b.to_f64_vec());
}

#[test]
fn flat_parameters_give_the_same_score_as_named_ones() {
    use sbgm_xla::DType;
    let net = mixer("a_dim = 2");
    let leaves = net.init(5).unwrap();
    let skel = net.skeleton();
    let vals = array_values(&skel, &leaves).unwrap();
    let flat: Vec<f32> = vals
        .iter()
        .flat_map(|a| a.to_vec::<f32>().unwrap())
        .collect();
    assert_eq!(flat.len(), net.n_params());
    let t = HostArray::from_vec(vec![2], vec![0.3f32, 0.8]).unwrap();
    let x = HostArray::from_vec(
        vec![2, 2, 8, 4],
        (0..128).map(|i| (i as f32 * 0.37).sin()).collect(),
    )
    .unwrap();
    let a = HostArray::from_vec(vec![2, 2], vec![0.5f32, -0.5, 1.0, 2.0]).unwrap();
    let named = run_score(
        net.as_ref(),
        &leaves,
        &[("t", &t), ("x", &x), ("a", &a)],
        None,
    )
    .unwrap();

    let g = Graph::new();
    let fp = g.parameter("flat", &[flat.len()], DType::F32).unwrap();
    let p = Params::from_flat(&fp, &skel).unwrap();
    assert_eq!(p.len(), vals.len());
    let back = p.flatten().unwrap();
    let tt = g.parameter("t", &[2], DType::F32).unwrap();
    let xx = g.parameter("x", &[2, 2, 8, 4], DType::F32).unwrap();
    let aa = g.parameter("a", &[2, 2], DType::F32).unwrap();
    let s = net
        .apply(&p, &tt, &xx, None, Some(&aa), &ApplyMode::Inference)
        .unwrap();
    let m = g.build("flat", &[("s", &s), ("back", &back)]).unwrap();
    let exe = client()
        .compile(&Program::text(m.text), &CompileOptions::default())
        .unwrap();
    let flat_arr = HostArray::from_vec(vec![flat.len()], flat.clone()).unwrap();
    let got = exe.run_host(&[flat_arr, t, x, a]).unwrap();
    assert_eq!(got[0].to_f64_vec(), named.to_f64_vec());
    assert_eq!(got[1].to_vec::<f32>().unwrap(), flat);
}
