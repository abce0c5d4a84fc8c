//! The roles of a multi-process training run, played by one CPU process configured as
//! "process 1 of 2" (`RunOptions::roles`): it trains and evaluates exactly as process 0 does,
//! reads process 0's checkpoint on resume, and writes nothing in the run directory (no lock,
//! no config, checkpoint, metrics or model), even while process 0 holds the directory's lock;
//! with a state split over `fsdp`, it runs the gathers process 0 runs and keeps nothing.

use std::collections::BTreeMap;
use std::path::Path;

use sbgm_xla::exec::Target;
use sbgm_xla::io::DirLock;
use sbgm_xla::train::run::{Roles, run_on};
use sbgm_xla::train::{Config, RunOptions};

const TINY: &str = r#"
[sde]
sde = "VP"

[model]
kind = "mlp"
width_size = 16
depth = 2

[data]
dataset = "moons"
n = 400
holdout = 0.25

[train]
batch_size = 32
steps = 20
steps_per_call = 10
eval_every = 10
sample_every = 0
checkpoint_every = 10
lr = 3e-3
use_ema = true
"#;

fn config(steps: u64) -> Config {
    Config::from_toml_str(TINY, &[format!("train.steps={steps}")]).unwrap()
}

fn opts(dir: &Path, resume: bool, roles: Option<Roles>) -> RunOptions {
    RunOptions {
        run_dir: dir.to_path_buf(),
        resume,
        devices: Some(1),
        roles,
        ..Default::default()
    }
}

const SECOND: Option<Roles> = Some(Roles {
    process: 1,
    processes: 2,
});

/// Every file under `dir` with its bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            out.insert(name, std::fs::read(&p).unwrap());
        }
    }
    out
}

#[test]
fn only_process_zero_writes_and_every_process_trains_the_same() {
    let target = Target::cpu().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let (first, second) = (tmp.path().join("first"), tmp.path().join("second"));
    let a = run_on(&config(20), &opts(&first, false, None), &target).unwrap();
    let b = run_on(&config(20), &opts(&second, false, SECOND), &target).unwrap();
    // Process 0 wrote the run; process 1 did not even create the directory.
    let written = files(&first);
    for f in [
        "checkpoint.safetensors",
        "metrics.jsonl",
        "config.toml",
        "model.eqx",
    ] {
        assert!(
            written.contains_key(f),
            "process 0 wrote no {f}: {written:?}"
        );
    }
    assert!(!second.exists(), "process 1 created {}", second.display());
    // Both trained and evaluated the same steps to the same numbers.
    assert_eq!((a.step, b.step), (20, 20));
    assert_eq!(a.last_loss, b.last_loss);
    assert!(a.last_eval_loss.is_some());
    assert_eq!(a.last_eval_loss, b.last_eval_loss);
    assert_eq!(b.checkpoint_step, Some(20));
    // The summary carries the role: `sbgm-xla train` prints it on process 0 alone.
    assert_eq!((a.roles, b.roles), (Roles::single(), SECOND.unwrap()));

    // Resume: process 1 reads process 0's checkpoint while process 0 holds the lock, starts
    // where process 0 does, and leaves every file as it was.
    let copy = tmp.path().join("copy");
    std::fs::create_dir(&copy).unwrap();
    for (name, bytes) in &written {
        std::fs::write(copy.join(name), bytes).unwrap();
    }
    let lock = DirLock::acquire(&first, "process 0's run directory").unwrap();
    let before = files(&first);
    let b = run_on(&config(40), &opts(&first, true, SECOND), &target).unwrap();
    drop(lock);
    assert_eq!(files(&first), before, "process 1 changed the run directory");
    let a = run_on(&config(40), &opts(&copy, true, None), &target).unwrap();
    assert_eq!((a.step, b.step), (40, 40));
    assert_eq!(a.last_loss, b.last_loss);
    assert_eq!(a.last_eval_loss, b.last_eval_loss);
}

#[test]
fn with_a_split_state_every_process_gathers_and_only_process_zero_writes() {
    // 32 x 32 weights split over fsdp = 2; evaluations, sample plots and checkpoints gather
    // them on every process (the gather is collective), process 0 alone keeps and writes.
    let target = Target::cpu().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let (first, second) = (tmp.path().join("first"), tmp.path().join("second"));
    let overrides = [
        "model.width_size=32",
        "train.mesh={ fsdp = 2 }",
        "train.sample_every=10",
        "train.sample_size=16",
        "train.sample_steps=20",
        "train.steps=20",
    ];
    let config = Config::from_toml_str(TINY, &overrides).unwrap();
    let two = |dir: &Path, roles| RunOptions {
        devices: Some(2),
        ..opts(dir, false, roles)
    };
    let a = run_on(&config, &two(&first, None), &target).unwrap();
    let b = run_on(&config, &two(&second, SECOND), &target).unwrap();
    assert!(!second.exists(), "process 1 created {}", second.display());
    let written = files(&first);
    assert!(written.contains_key("model.eqx"), "{written:?}");
    assert!(first.join("samples").join("samples_000020.png").is_file());
    assert_eq!((a.step, b.step), (20, 20));
    assert_eq!(a.last_loss, b.last_loss);
    assert!(a.last_eval_loss.is_some());
    assert_eq!(a.last_eval_loss, b.last_eval_loss);
}
