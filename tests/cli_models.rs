//! `sbgm-xla score`, `convert` and `inspect` on the sbgm model fixtures (tests/fixtures/models/,
//! written with sbgm 0.0.38 / equinox 0.13.8): for every variant whose model is built, the CLI's
//! score on the fixture inputs matches sbgm's `out.score` to 1e-5 relative, and `.eqx ->
//! safetensors -> .eqx` through the CLI is byte-identical.

use sbgm_xla::HostArray;
use sbgm_xla::io::npy::{read_npy, write_npy};
use sbgm_xla::io::{load_checkpoint, read_eqx, skeleton_from_json};
use sbgm_xla::model::read_model_config;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models")
}

fn sbgm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sbgm-xla"))
        .args(args)
        .output()
        .expect("run sbgm-xla")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The fixture variants (name, n_params): every sbgm model and conditioning variant.
fn built_variants() -> Vec<(String, u64)> {
    let text = std::fs::read_to_string(fixtures().join("index.json")).expect("index.json");
    let index: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut out = Vec::new();
    for v in index["variants"].as_array().unwrap() {
        let name = v["name"].as_str().unwrap().to_string();
        let cfg = read_model_config(&fixtures().join(&name).join("config.json"))
            .unwrap_or_else(|e| panic!("{name}: config: {e}"));
        cfg.build().unwrap_or_else(|e| panic!("{name}: {e}"));
        out.push((name, v["n_params"].as_u64().unwrap()));
    }
    assert_eq!(out.len(), 16, "4 models x 4 conditioning variants");
    out
}

/// Writes the fixture's inputs as .npy files; returns the CLI flags for them.
fn input_flags(name: &str, dir: &Path) -> (Vec<String>, HostArray) {
    let io = load_checkpoint(&fixtures().join(name).join("io.safetensors")).unwrap();
    let mut flags = Vec::new();
    for c in ["t", "x", "q", "a"] {
        if let Ok(a) = io.get(&format!("in.{c}")) {
            let p = dir.join(format!("{name}_{c}.npy"));
            write_npy(&p, a).unwrap();
            flags.push(format!("--{c}"));
            flags.push(p.to_str().unwrap().to_string());
        }
    }
    (flags, io.get("out.score").unwrap().clone())
}

fn max_rel_err(got: &HostArray, want: &HostArray) -> f64 {
    let (a, b) = (got.to_f64_vec(), want.to_f64_vec());
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0f64, |m, v| m.max(v.abs()));
    a.iter()
        .zip(&b)
        .fold(0f64, |m, (x, y)| m.max((x - y).abs()))
        / scale
}

#[test]
fn score_matches_sbgm_for_every_built_fixture() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, _) in built_variants() {
        let (flags, want) = input_flags(&name, tmp.path());
        let out = tmp.path().join(format!("{name}_score.npy"));
        let eqx = fixtures().join(&name).join("model.eqx");
        let config = fixtures().join(&name).join("config.json");
        let mut args = vec![
            "score",
            "--checkpoint",
            s(&eqx),
            "--config",
            s(&config),
            "--out",
            s(&out),
        ];
        args.extend(flags.iter().map(String::as_str));
        let o = sbgm(&args);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        let got = read_npy(&out).unwrap();
        assert_eq!(got.shape(), want.shape(), "{name}");
        let err = max_rel_err(&got, &want);
        eprintln!("{name}: max relative error vs sbgm {err:.2e}");
        assert!(err <= 1e-5, "{name}: relative error {err:.3e}");
    }
}

#[test]
fn score_in_chunks_equals_one_batch() {
    // Chunks of 2 over a batch of 3: two compiled sizes, the same numbers as one call.
    let tmp = tempfile::tempdir().unwrap();
    let name = "mixer_qa";
    let (flags, want) = input_flags(name, tmp.path());
    let eqx = fixtures().join(name).join("model.eqx");
    let config = fixtures().join(name).join("config.json");
    let out = tmp.path().join("s.npy");
    let mut args = vec![
        "score",
        "--checkpoint",
        s(&eqx),
        "--config",
        s(&config),
        "--out",
        s(&out),
        "--batch-size",
        "2",
    ];
    args.extend(flags.iter().map(String::as_str));
    let o = sbgm(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(max_rel_err(&read_npy(&out).unwrap(), &want) <= 1e-5);
}

#[test]
fn convert_round_trips_byte_identical_for_every_built_fixture() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, n_params) in built_variants() {
        let eqx = fixtures().join(&name).join("model.eqx");
        let config = fixtures().join(&name).join("config.json");
        let st = tmp.path().join(format!("{name}.safetensors"));
        let o = sbgm(&["convert", s(&eqx), s(&st), "--config", s(&config)]);
        assert!(o.status.success(), "{name}: {}", stderr(&o));

        // The safetensors file names every leaf by its Equinox path and stores the config.
        let ck = load_checkpoint(&st).unwrap();
        let text = std::fs::read_to_string(&config).unwrap();
        let skel = skeleton_from_json(&text).unwrap();
        let leaves = read_eqx(&eqx, &skel).unwrap();
        assert_eq!(ck.tensors.len(), leaves.len(), "{name}");
        for (path, b) in &leaves {
            let a = ck.get(path.trim_start_matches('.')).unwrap();
            assert_eq!(a, b, "{name} {path}");
        }
        assert!(ck.meta("config").unwrap().contains("[model]"), "{name}");

        // Back to .eqx without --config (the config comes from the metadata).
        let back = tmp.path().join(format!("{name}.eqx"));
        let o = sbgm(&["convert", s(&st), s(&back)]);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        assert!(
            std::fs::read(&back).unwrap() == std::fs::read(&eqx).unwrap(),
            "{name}: .eqx -> safetensors -> .eqx is not byte-identical"
        );

        // inspect names the leaves and reports sbgm's parameter count.
        let o = sbgm(&["inspect", s(&eqx), "--config", s(&config), "--json"]);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["model"]["n_params"].as_u64(), Some(n_params), "{name}");
        assert_eq!(v["n_array_elements"].as_u64(), Some(n_params), "{name}");
        assert_eq!(v["model"]["matches"], true, "{name}");
        assert_eq!(v["tensors"][0]["name"], skel[0].path.as_str(), "{name}");
        let o = sbgm(&["inspect", s(&st), "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["format"], "safetensors");
        assert_eq!(v["model"]["matches"], true, "{name}: {v}");
    }
}

#[test]
fn safetensors_groups_are_read_and_written() {
    // A training-style file with the model under `ema.`: convert finds it, and --out-group
    // writes a group that --group reads back, keeping every value.
    let tmp = tempfile::tempdir().unwrap();
    let name = "mlp_qa";
    let eqx = fixtures().join(name).join("model.eqx");
    let config = fixtures().join(name).join("config.json");
    let st = tmp.path().join("ema.safetensors");
    let o = sbgm(&[
        "convert",
        s(&eqx),
        s(&st),
        "--config",
        s(&config),
        "--out-group",
        "ema",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let ck = load_checkpoint(&st).unwrap();
    assert!(ck.tensors.iter().all(|(n, _)| n.starts_with("ema.")));
    let back = tmp.path().join("back.eqx");
    let o = sbgm(&["convert", s(&st), s(&back)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::read(&back).unwrap() == std::fs::read(&eqx).unwrap());
    let o = sbgm(&["convert", s(&st), s(&back), "--group", "params"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("no tensor group 'params'"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn inspect_lists_npy_npz_and_raw_eqx_records() {
    let tmp = tempfile::tempdir().unwrap();
    let x = tmp.path().join("x.npy");
    write_npy(
        &x,
        &HostArray::from_vec(vec![4, 3], vec![0f32; 12]).unwrap(),
    )
    .unwrap();
    let o = sbgm(&["inspect", s(&x), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["format"], "npy");
    assert_eq!(v["tensors"][0]["shape"], serde_json::json!([4, 3]));
    assert_eq!(v["tensors"][0]["dtype"], "float32");

    // Without a config the records of an .eqx file are listed by index.
    let eqx = fixtures().join("mlp_q/model.eqx");
    let o = sbgm(&["inspect", s(&eqx)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("record[0]") && text.contains("record[13]"),
        "{text}"
    );
    assert!(text.contains("258 parameters in arrays"), "{text}");
    assert!(text.contains("--config"), "{text}");
}
