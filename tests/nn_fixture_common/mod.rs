//! Shared helpers of the UNet and DiT tests: the CPU client, sbgm's model fixtures
//! (`tests/fixtures/models/<kind>_<variant>/`), compiling and comparing.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use sbgm_xla::graph::{Graph, Tensor};
use sbgm_xla::io::{load_checkpoint, read_eqx, skeleton_from_json};
use sbgm_xla::nn::{ApplyMode, ModelConfig, Params, ScoreNet, array_values};
use sbgm_xla::pjrt::{Client, CompileOptions, Program};
use sbgm_xla::{DType, HostArray};

/// One CPU client for the whole file.
pub fn client() -> &'static Client {
    static CLIENT: std::sync::OnceLock<Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| Client::cpu().unwrap())
}

pub fn fixture_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/models")
        .join(name)
}

pub fn fixture_json(name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(fixture_dir(name).join("config.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The model config from the fixture's sbgm constructor arguments (the kind is the name's
/// prefix: `unet_qa` is a UNet).
pub fn config(name: &str) -> ModelConfig {
    let j = fixture_json(name);
    let mut kw = j["kwargs"].as_object().unwrap().clone();
    let kind = name.split('_').next().unwrap();
    kw.insert("kind".into(), kind.into());
    if kind == "unet" {
        // Our UNet has a fixed data shape; sbgm's takes any size.
        kw.insert("data_shape".into(), j["data_shape"].clone());
    }
    serde_json::from_value(serde_json::Value::Object(kw)).unwrap()
}

pub fn net(name: &str) -> Box<dyn ScoreNet> {
    config(name).build().unwrap()
}

pub fn index_n_params(name: &str) -> usize {
    let text = std::fs::read_to_string(fixture_dir("").join("index.json")).unwrap();
    let j: serde_json::Value = serde_json::from_str(&text).unwrap();
    j["variants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .unwrap()["n_params"]
        .as_u64()
        .unwrap() as usize
}

pub fn compile_run(
    client: &Client,
    g: &Graph,
    outs: &[(&str, &Tensor)],
    args: &[HostArray],
) -> Vec<HostArray> {
    let m = g.build("model_test", outs).unwrap();
    let exe = client
        .compile(&Program::text(m.text), &CompileOptions::default())
        .unwrap();
    exe.run_host(args).unwrap()
}

pub fn f32s(a: &HostArray) -> Vec<f64> {
    assert_eq!(a.dtype(), DType::F32);
    a.to_f64_vec()
}

/// max |got - want| / max |want|.
pub fn rel_err(got: &[f64], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let diff = got
        .iter()
        .zip(want)
        .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
    assert!(scale > 0.0);
    diff / scale
}

/// A model's traced parameters and inputs.
pub struct Traced {
    pub params: Params,
    pub t: Tensor,
    pub x: Tensor,
    pub q: Option<Tensor>,
    pub a: Option<Tensor>,
}

/// Declares, on `g`, the model's arrays (named `{name}.{leaf path}`) and the inputs present in
/// the fixture's `file` (named `{name}.in.{t,x,q,a}`); the host values go to `args` in order.
pub fn trace_into(
    g: &Graph,
    net: &dyn ScoreNet,
    name: &str,
    file: &str,
    args: &mut Vec<HostArray>,
) -> (Traced, sbgm_xla::io::Checkpoint) {
    let skel = net.skeleton();
    let leaves = read_eqx(&fixture_dir(name).join("model.eqx"), &skel).unwrap();
    net.check_leaves(&leaves).unwrap();
    args.extend(array_values(&skel, &leaves).unwrap());
    let io = load_checkpoint(&fixture_dir(name).join(file)).unwrap();
    let params = Params::declare(g, &skel, &format!("{name}.")).unwrap();
    let mut input = |n: &str| -> Option<Tensor> {
        let a = io.get(&format!("in.{n}")).ok()?.clone();
        let t = g
            .parameter(&format!("{name}.in.{n}"), a.shape(), a.dtype())
            .unwrap();
        args.push(a);
        Some(t)
    };
    let t = input("t").unwrap();
    let x = input("x").unwrap();
    let q = input("q");
    let a = input("a");
    (Traced { params, t, x, q, a }, io)
}

/// Checks the variant's skeleton (paths, shapes, kinds) and parameter count against sbgm's
/// fixture and that the fixture's `.eqx` loads into it; gives the net and those leaves.
pub fn check_skeleton(name: &str) -> (Box<dyn ScoreNet>, Vec<(String, HostArray)>) {
    let net = net(name);
    let text = std::fs::read_to_string(fixture_dir(name).join("config.json")).unwrap();
    let want = skeleton_from_json(&text).unwrap();
    let got = net.skeleton();
    assert_eq!(got.len(), want.len(), "{name}: number of leaves");
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w, "{name}");
    }
    assert_eq!(net.n_params(), index_n_params(name), "{name}");
    let leaves = read_eqx(&fixture_dir(name).join("model.eqx"), &got).unwrap();
    net.check_leaves(&leaves).unwrap();
    (net, leaves)
}

/// All the variants' scores in one program (XLA compiles the kernels they share once), each
/// against sbgm's `out.score` to 1e-5 relative.
pub fn check_scores_match(variants: &[&str]) {
    let g = Graph::new();
    let mut args = Vec::new();
    let mut scores = Vec::new();
    let mut wants = Vec::new();
    for &name in variants {
        let net = net(name);
        let (tr, io) = trace_into(&g, net.as_ref(), name, "io.safetensors", &mut args);
        let s = net
            .apply(
                &tr.params,
                &tr.t,
                &tr.x,
                tr.q.as_ref(),
                tr.a.as_ref(),
                &ApplyMode::Inference,
            )
            .unwrap();
        let want = io.get("out.score").unwrap().clone();
        assert_eq!(s.dims(), want.shape(), "{name}");
        scores.push(s);
        wants.push(want);
    }
    let outs: Vec<(&str, &Tensor)> = variants.iter().copied().zip(scores.iter()).collect();
    let out = compile_run(client(), &g, &outs, &args);
    for ((name, got), want) in variants.iter().zip(&out).zip(&wants) {
        let err = rel_err(&f32s(got), &f32s(want));
        eprintln!("{name}: score relative error {err:.2e}");
        assert!(err <= 1e-5, "{name}: relative error {err:e}");
    }
}

/// A host f32 array of `shape` with values in [-1, 1) from a seeded LCG.
pub fn host_f32(shape: &[usize], seed: u64) -> HostArray {
    let n: usize = shape.iter().product();
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let v: Vec<f32> = (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect();
    HostArray::from_vec(shape.to_vec(), v).unwrap()
}
