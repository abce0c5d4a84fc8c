//! Bad input to training: each gives a clear error naming the problem, and nothing is lost.

use std::path::Path;

use sbgm_xla::exec::Target;
use sbgm_xla::train::run::run_on;
use sbgm_xla::train::{Config, RunOptions};

const BASE: &str = r#"
[sde]
sde = "VP"

[model]
kind = "mlp"
width_size = 16
depth = 1

[data]
dataset = "moons"
n = 400
holdout = 0.25

[train]
batch_size = 32
steps = 10
steps_per_call = 10
eval_every = 0
sample_every = 0
checkpoint_every = 0
"#;

fn err_of(text: &str, sets: &[&str]) -> String {
    Config::from_toml_str(text, sets).unwrap_err().to_string()
}

fn opts(dir: &Path, resume: bool, devices: usize) -> RunOptions {
    RunOptions {
        run_dir: dir.to_path_buf(),
        resume,
        devices: Some(devices),
        ..Default::default()
    }
}

#[test]
fn unknown_keys_and_values_name_the_key_and_the_allowed_ones() {
    let e = err_of(BASE, &["train.bach_size=3"]);
    assert!(
        e.contains("bach_size") && e.contains("batch_size") && e.contains("lr"),
        "{e}"
    );
    let e = err_of(BASE, &["data.datset=\"moons\""]);
    assert!(e.contains("datset") && e.contains("dataset"), "{e}");
    let e = err_of(BASE, &["data.dataset=\"moonz\""]);
    assert!(
        e.contains("moonz") && e.contains("moons") && e.contains("circles"),
        "{e}"
    );
    let e = err_of(BASE, &["train.matmul_precision=\"fp8\""]);
    assert!(e.contains("fp8") && e.contains("bf16"), "{e}");
    let e = err_of(BASE, &["train.optimizer=\"sgd\""]);
    assert!(e.contains("sgd") && e.contains("adamw"), "{e}");
    let e = err_of(BASE, &["train.feed=\"gpu\""]);
    assert!(
        e.contains("gpu") && e.contains("device") && e.contains("host"),
        "{e}"
    );
    let e = err_of(&format!("{BASE}\n[extra]\nx = 1\n"), &[] as &[&str]);
    assert!(e.contains("[extra]") && e.contains("[train]"), "{e}");
    let e = err_of(BASE, &["tran.steps=3"]);
    assert!(e.contains("tran") && e.contains("train"), "{e}");
    let e = err_of(BASE, &["train.batch_size=0"]);
    assert!(e.contains("batch_size = 0"), "{e}");
    let e = err_of(BASE, &["train.accumulate=5"]);
    assert!(
        e.contains("accumulate = 5") && e.contains("batch_size = 32"),
        "{e}"
    );
    let e = err_of(
        "[sde]\n[model]\nkind = \"mlp\"\nwidth_size = 4\ndepth = 1\n[data]\ndataset = \"moons\"\n",
        &[] as &[&str],
    );
    assert!(e.contains("[train]"), "{e}");
}

#[test]
fn bad_runs_fail_clearly_and_lose_nothing() {
    let client = Target::cpu().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let cfg = |sets: &[&str]| Config::from_toml_str(BASE, sets).unwrap();

    // data shape vs model
    let e = run_on(
        &cfg(&["model.in_size=3"]),
        &opts(&tmp.path().join("a"), false, 1),
        &client,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("in_size") && e.contains("[model]"), "{e}");
    assert!(
        !tmp.path().join("a").exists(),
        "no run directory for a config that cannot run"
    );

    // batch not divisible by the devices
    let e = run_on(
        &cfg(&["train.batch_size=30"]),
        &opts(&tmp.path().join("b"), false, 4),
        &client,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("batch_size = 30") && e.contains("4 devices"),
        "{e}"
    );

    // missing and corrupt data files
    let missing = tmp.path().join("missing.npy");
    let e = run_on(
        &cfg(&[
            "data.dataset=\"file\"",
            &format!("data.path={:?}", missing.display().to_string()),
        ]),
        &opts(&tmp.path().join("c"), false, 1),
        &client,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("missing.npy"), "{e}");
    let corrupt = tmp.path().join("corrupt.npy");
    std::fs::write(&corrupt, b"\x93NUMPY\x01\x00garbage").unwrap();
    let e = run_on(
        &cfg(&[
            "data.dataset=\"file\"",
            &format!("data.path={:?}", corrupt.display().to_string()),
        ]),
        &opts(&tmp.path().join("d"), false, 1),
        &client,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("corrupt.npy"), "{e}");

    // a good run, then: the existing run directory is refused without --resume
    let dir = tmp.path().join("run");
    run_on(&cfg(&[]), &opts(&dir, false, 1), &client).unwrap();
    let ck = dir.join("checkpoint.safetensors");
    let before = std::fs::read(&ck).unwrap();
    let metrics = std::fs::read(dir.join("metrics.jsonl")).unwrap();
    let e = run_on(&cfg(&[]), &opts(&dir, false, 1), &client)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("already exists") && e.contains("--resume"),
        "{e}"
    );
    assert_eq!(std::fs::read(&ck).unwrap(), before);
    assert_eq!(std::fs::read(dir.join("metrics.jsonl")).unwrap(), metrics);

    // resuming with a different model is refused, naming the mismatch
    let e = run_on(
        &cfg(&["model.width_size=8", "train.steps=20"]),
        &opts(&dir, true, 1),
        &client,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("cannot resume") && e.contains("does not match"),
        "{e}"
    );

    // a corrupt checkpoint on resume
    std::fs::write(&ck, &before[..before.len() / 2]).unwrap();
    let e = run_on(&cfg(&["train.steps=20"]), &opts(&dir, true, 1), &client)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("cannot resume") && e.contains("checkpoint"),
        "{e}"
    );
    assert_eq!(
        std::fs::read(&ck).unwrap(),
        &before[..before.len() / 2],
        "left as it was"
    );
    assert_eq!(std::fs::read(dir.join("metrics.jsonl")).unwrap(), metrics);

    // resume without a checkpoint
    let e = run_on(&cfg(&[]), &opts(&tmp.path().join("none"), true, 1), &client)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no checkpoint.safetensors"), "{e}");
}
