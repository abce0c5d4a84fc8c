//! Classifier-free guidance of a label-conditioned run, end to end as a user runs it: training
//! with `cond_dropout` stores the null conditioning it used (`[train] cond_null = -1` with
//! `labels_as`, so "no label" is not class 0) in the run's `config.toml` and checkpoint, and
//! `sample --guidance` feeds it; a run stored before `cond_null` existed keeps 0 and warns.

mod cli_common;

use cli_common::train;
use sbgm_xla::HostArray;
use sbgm_xla::io::npy::{read_npy, write_npy};
use sbgm_xla::io::{load_checkpoint, save_checkpoint};
use sbgm_xla::model::Model;
use std::path::Path;
use std::process::Command;

/// Runs `sbgm-xla args…`, asserting success; its stderr.
fn stderr_of(args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_sbgm-xla"))
        .args(args)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{args:?}: {err}");
    err
}

/// `[train] cond_null` of a TOML document, if any.
fn cond_null(text: &str) -> Option<f64> {
    let t: toml::Table = text.parse().unwrap();
    t.get("train")?.get("cond_null")?.as_float()
}

/// The same document without `[train] cond_null` (as a run trained before it was stored).
fn without_cond_null(text: &str) -> String {
    let mut t: toml::Table = text.parse().unwrap();
    if let Some(toml::Value::Table(train)) = t.get_mut("train") {
        train.remove("cond_null");
    }
    t.to_string()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn guidance_feeds_the_stored_null_and_warns_for_older_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let run = d.join("run");
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/moons_cond.toml");
    train(
        &config,
        &run,
        &[
            "model.width_size=16",
            "model.depth=1",
            "train.cond_dropout=0.2",
            "data.n=256",
            "train.batch_size=16",
            "train.steps=2",
            "train.steps_per_call=2",
            "train.sample_every=0",
            "train.eval_every=0",
            "train.checkpoint_every=0",
        ],
    );
    // the null is resolved at training and stored with the run
    let stored = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert_eq!(cond_null(&stored), Some(-1.0), "{stored}");
    let ck_path = run.join("checkpoint.safetensors");
    let ck = load_checkpoint(&ck_path).unwrap();
    for key in ["config", "model_config"] {
        assert_eq!(cond_null(&ck.metadata[key]), Some(-1.0), "{key}");
    }
    let model = Model::load(&run).unwrap();
    assert_eq!((model.null.values().q, model.null.values().a), (-1.0, 0.0));

    let q = d.join("labels.npy");
    write_npy(
        &q,
        &HostArray::from_vec(vec![4, 1], vec![0f32, 1., 0., 1.]).unwrap(),
    )
    .unwrap();
    let out = d.join("guided.npy");
    let sample = |extra: &[&str]| -> String {
        let base = ["sample", "--checkpoint", s(&run), "--q", s(&q), "--n", "4"];
        let flags = ["--steps", "2", "--quiet", "--out", s(&out)];
        stderr_of(&[&base[..], &flags[..], extra].concat())
    };
    let err = sample(&["--guidance", "1"]);
    assert!(!err.contains("warning"), "{err}");
    let x = read_npy(&out).unwrap();
    assert_eq!(x.shape(), &[4, 2]);
    assert!(x.to_f64_vec().iter().all(|v| v.is_finite()));

    // a run from before cond_null: its checkpoint stores the training config without it
    // and a resolved model without [train]
    let mut ck = ck;
    let older = without_cond_null(&ck.metadata["config"]);
    ck.metadata.insert("config".into(), older.clone());
    let mut model_cfg: toml::Table = ck.metadata["model_config"].parse().unwrap();
    model_cfg.remove("train");
    ck.metadata
        .insert("model_config".into(), model_cfg.to_string());
    save_checkpoint(&ck_path, &ck).unwrap();
    let model = Model::load(&run).unwrap();
    assert_eq!((model.null.values().q, model.null.values().a), (0.0, 0.0));
    let err = sample(&["--guidance", "1"]);
    assert!(
        err.contains("warning") && err.contains("class 0") && err.contains("retrain"),
        "{err}"
    );
    assert!(
        !sample(&[]).contains("warning"),
        "no warning without --guidance"
    );
    // the same through the run's own config.toml edited likewise, given with --config
    let edited = d.join("older.toml");
    std::fs::write(&edited, &older).unwrap();
    let err = sample(&["--guidance", "1", "--config", s(&edited)]);
    assert!(err.contains("class 0"), "{err}");

    // resuming it keeps the 0 it began with (stored from now on), still with the warning
    std::fs::write(run.join("config.toml"), &older).unwrap();
    let r = ["train", "--run-dir", s(&run), "--resume", "--quiet"];
    stderr_of(&[&r[..], &["--set", "train.steps=4"]].concat());
    let resumed = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert_eq!(cond_null(&resumed), Some(0.0), "{resumed}");
    let err = sample(&["--guidance", "1"]);
    assert!(
        err.contains("class 0") && !err.contains("stores no"),
        "{err}"
    );
}

#[test]
fn a_cond_null_that_is_not_a_number_is_refused_before_training() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/moons_cond.toml");
    let args = ["train", "--run-dir", s(&run), "--config", s(&config)];
    let o = Command::new(env!("CARGO_BIN_EXE_sbgm-xla"))
        .args(args)
        .args(["--set", "train.cond_null=nan", "--quiet"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("cond_null") && err.contains("finite"), "{err}");
    assert!(!run.join("checkpoint.safetensors").exists());
}
