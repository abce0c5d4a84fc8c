//! `sbgm-xla train` end to end: a short run, an existing run directory refused, `--resume`
//! continuing with the run's own config and `--set` overrides.

use std::process::Command;

fn train(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sbgm-xla"))
        .arg("train")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn train_then_resume_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let d = dir.to_str().unwrap();
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/configs/moons.toml");
    let small = [
        "--set",
        "model.width_size=16",
        "--set",
        "model.depth=1",
        "--set",
        "data.n=1000",
        "--set",
        "train.batch_size=32",
        "--set",
        "train.steps_per_call=10",
        "--set",
        "train.sample_every=20",
        "--set",
        "train.sample_size=64",
        "--set",
        "train.sample_steps=10",
        "--set",
        "train.eval_every=10",
    ];
    let mut a = vec![
        "--config",
        config,
        "--run-dir",
        d,
        "--quiet",
        "--devices",
        "2",
    ];
    a.extend(small);
    a.extend(["--set", "train.steps=20"]);
    let (ok, err) = train(&a);
    assert!(ok, "{err}");
    assert!(err.contains("trained 20 steps on 2 device(s)"), "{err}");
    assert!(dir.join("samples/samples_000020.png").is_file());
    assert!(dir.join("model.eqx").is_file());

    // the same directory again, without --resume: refused
    let (ok, err) = train(&a);
    assert!(!ok && err.contains("--resume"), "{err}");

    // --resume without --config continues with the run's config, --set raises the steps
    let (ok, err) = train(&[
        "--run-dir",
        d,
        "--resume",
        "--quiet",
        "--devices",
        "2",
        "--set",
        "train.steps=30",
    ]);
    assert!(ok, "{err}");
    assert!(err.contains("trained 30 steps"), "{err}");
    let lines = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
    let steps: Vec<u64> = lines
        .lines()
        .filter(|l| l.contains("\"loss\""))
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["step"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(steps, (1..=30).collect::<Vec<_>>());
}

#[test]
fn an_f32_run_on_an_amx_cpu_suggests_the_bf16_kernel() {
    // shown with the progress output (not with --quiet), for f32 products only, and only
    // where the AMX kernel is usable
    let tmp = tempfile::tempdir().unwrap();
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/configs/moons.toml");
    let small = [
        "--set",
        "model.width_size=16",
        "--set",
        "data.n=500",
        "--set",
        "train.batch_size=32",
        "--set",
        "train.steps=10",
        "--set",
        "train.steps_per_call=10",
        "--set",
        "train.sample_every=0",
        "--set",
        "train.eval_every=0",
    ];
    let hint = "--set train.matmul_precision=bf16";
    for (precision, quiet) in [("f32", false), ("bf16", false), ("f32", true)] {
        let dir = tmp.path().join(format!("{precision}-{quiet}"));
        let set = format!("train.matmul_precision={precision}");
        let mut a = vec!["--config", config, "--run-dir", dir.to_str().unwrap()];
        a.extend(small);
        a.extend(["--set", &set]);
        if quiet {
            a.push("--quiet");
        }
        let (ok, err) = train(&a);
        assert!(ok, "{err}");
        let want = precision == "f32" && !quiet && sbgm_xla::kernels::amx::available();
        assert_eq!(
            err.contains(hint),
            want,
            "{precision}, quiet {quiet}: {err}"
        );
    }
}
