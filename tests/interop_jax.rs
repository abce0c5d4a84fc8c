//! Our `.eqx` output loads in sbgm (JAX) and gives our scores there.
//!
//! For every model fixture variant this build constructs: a model initialised by sbgm-xla
//! (`ScoreNet::init`, a fresh draw, not sbgm's weights) is saved as our safetensors checkpoint,
//! converted to `.eqx` by `sbgm-xla convert`, scored by `sbgm-xla score` on the fixture inputs,
//! then loaded into sbgm 0.0.38 with `eqx.tree_deserialise_leaves(path, like=model)` by
//! `tools/roundtrip_eqx.py`, which evaluates sbgm's score on the same inputs and compares it
//! with ours (1e-5 relative + 1e-6 absolute). A deliberately wrong expectation must fail there.
//!
//! Needs Python with JAX, equinox and sbgm 0.0.38: `$SBGM_XLA_PYTHON`, else
//! `~/.cache/sbgm-ref/bin/python` (see tools/README.md). Without it the test prints why it
//! skipped and passes.

use sbgm_xla::HostArray;
use sbgm_xla::io::npy::{read_npy, write_npy};
use sbgm_xla::io::{Checkpoint, load_checkpoint, save_checkpoint};
use sbgm_xla::model::{META_CONFIG, model_config_toml, read_model_config};
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Python with JAX, equinox and sbgm, or the reason there is none.
fn python() -> Result<PathBuf, String> {
    let py = match std::env::var_os("SBGM_XLA_PYTHON") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => {
            let home = std::env::var_os("HOME").ok_or("HOME is not set")?;
            PathBuf::from(home).join(".cache/sbgm-ref/bin/python")
        }
    };
    if !py.exists() {
        return Err(format!(
            "no Python at {} (set SBGM_XLA_PYTHON to a Python with the pinned tools/requirements.txt and sbgm 0.0.38)",
            py.display()
        ));
    }
    let o = Command::new(&py)
        .args(["-c", "import jax, equinox, sbgm, safetensors"])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", py.display()))?;
    if !o.status.success() {
        return Err(format!(
            "{} cannot import jax, equinox, sbgm and safetensors: {}",
            py.display(),
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ));
    }
    Ok(py)
}

fn sbgm(args: &[&str]) {
    let o = Command::new(env!("CARGO_BIN_EXE_sbgm-xla"))
        .args(args)
        .output()
        .expect("run sbgm-xla");
    assert!(
        o.status.success(),
        "sbgm-xla {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// One roundtrip_eqx.py run: (label, argv).
type Job = (String, Vec<String>);

/// Runs tools/roundtrip_eqx.py once per job in one Python process (one JAX start-up); returns
/// each job's exit code and JSON report.
fn roundtrip(py: &Path, jobs: &[Job]) -> Vec<(i32, serde_json::Value)> {
    let argvs = serde_json::to_string(&jobs.iter().map(|(_, a)| a).collect::<Vec<_>>()).unwrap();
    let code = format!(
        "import contextlib, io, json, sys\n\
         sys.path.insert(0, {tools:?})\n\
         import roundtrip_eqx\n\
         for argv in json.loads({argvs:?}):\n\
         \x20   buf = io.StringIO()\n\
         \x20   with contextlib.redirect_stdout(buf):\n\
         \x20       rc = roundtrip_eqx.main(argv + ['--json'])\n\
         \x20   print(json.dumps({{'rc': rc, 'report': json.loads(buf.getvalue().strip().splitlines()[-1])}}))\n",
        tools = s(&root().join("tools")),
    );
    let o = Command::new(py)
        .args(["-c", &code])
        .env("JAX_PLATFORMS", "cpu")
        .output()
        .expect("run python");
    assert!(
        o.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out: Vec<(i32, serde_json::Value)> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| l.starts_with("{\"rc\""))
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["rc"].as_i64().unwrap() as i32, v["report"].clone())
        })
        .collect();
    assert_eq!(
        out.len(),
        jobs.len(),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    out
}

/// A model trained by `sbgm-xla train` (ResidualNetwork on moons, 60 steps), exported to
/// `.eqx` by `sbgm-xla convert` (its trained parameters) and scored by `sbgm-xla score`: the
/// roundtrip_eqx.py job that checks it in sbgm.
fn trained_model_job(tmp: &Path) -> Job {
    let config = tmp.join("train.toml");
    std::fs::write(
        &config,
        "[sde]\nsde = \"VP\"\nschedule = \"linear\"\nbeta_min = 0.1\nbeta_max = 20.0\n\
         [model]\nkind = \"mlp\"\nwidth_size = 16\ndepth = 2\nactivation = \"tanh\"\n\
         [data]\ndataset = \"moons\"\nn = 2000\nscaling = \"normer\"\n\
         [train]\nbatch_size = 64\nsteps = 60\nsteps_per_call = 30\neval_every = 0\n\
         sample_every = 0\ncheckpoint_every = 0\noptimizer = \"adamw\"\nlr = 1e-2\n",
    )
    .unwrap();
    let run = tmp.join("run");
    sbgm(&[
        "train",
        "--config",
        s(&config),
        "--run-dir",
        s(&run),
        "--quiet",
    ]);
    let eqx = tmp.join("trained.eqx");
    sbgm(&["convert", s(&run), s(&eqx), "--group", "params"]);
    let ck = load_checkpoint(&run.join("checkpoint.safetensors")).unwrap();
    assert_eq!(ck.meta("step"), Some("60"));
    // The sbgm JSON config of the same network (in_size from the data: 2-D moons).
    let json = tmp.join("trained.json");
    std::fs::write(
        &json,
        r#"{"model": "ResidualNetwork", "kwargs": {"in_size": 2, "width_size": 16, "depth": 2, "activation": "tanh", "dropout_p": 0.0, "t1": 1.0}, "seed": 0}"#,
    )
    .unwrap();
    // Trained: the weights moved away from the initialisation (train.seed = 0).
    let net = read_model_config(&json).unwrap().build().unwrap();
    let trained = sbgm_xla::io::read_eqx(&eqx, &net.skeleton()).unwrap();
    let init = net.init(0).unwrap();
    assert_eq!(trained[0].0, "_in.weight");
    assert_ne!(
        trained[0].1, init[0].1,
        "the exported weights are the initial ones"
    );
    let t = tmp.join("trained_t.npy");
    let x = tmp.join("trained_x.npy");
    let ts: Vec<f32> = (0..16).map(|i| 0.02 + i as f32 * 0.06).collect();
    let xs: Vec<f32> = (0..32).map(|i| ((i * 7 % 13) as f32 - 6.0) / 4.0).collect();
    write_npy(&t, &HostArray::from_vec(vec![16], ts).unwrap()).unwrap();
    write_npy(&x, &HostArray::from_vec(vec![16, 2], xs).unwrap()).unwrap();
    let score = tmp.join("trained_score.npy");
    sbgm(&[
        "score",
        "--checkpoint",
        s(&eqx),
        "--config",
        s(&json),
        "--t",
        s(&t),
        "--x",
        s(&x),
        "--out",
        s(&score),
    ]);
    (
        "trained by sbgm-xla".into(),
        [
            "--config",
            s(&json),
            "--eqx",
            s(&eqx),
            "--t",
            s(&t),
            "--x",
            s(&x),
            "--expect",
            s(&score),
        ]
        .map(String::from)
        .to_vec(),
    )
}

#[test]
fn our_eqx_files_load_in_sbgm_and_give_our_scores() {
    let py = match python() {
        Ok(p) => p,
        Err(why) => {
            eprintln!("SKIPPED: {why}");
            return;
        }
    };
    let fixtures = root().join("tests/fixtures/models");
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures.join("index.json")).unwrap())
            .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut jobs: Vec<Job> = Vec::new();
    for v in index["variants"].as_array().unwrap() {
        let name = v["name"].as_str().unwrap();
        let dir = fixtures.join(name);
        let config = dir.join("config.json");
        let cfg = read_model_config(&config).unwrap();
        let net = cfg.build().unwrap_or_else(|e| panic!("{name}: {e}"));
        // Our initialisation, as our checkpoint (with the config), then .eqx by the CLI.
        let leaves = net.init(1234).unwrap();
        let mut ck = Checkpoint::new();
        ck.insert_leaves("params", &leaves).unwrap();
        ck.set_meta(META_CONFIG, model_config_toml(&cfg).unwrap());
        let st = tmp.path().join(format!("{name}.safetensors"));
        save_checkpoint(&st, &ck).unwrap();
        let eqx = tmp.path().join(format!("{name}.eqx"));
        sbgm(&["convert", s(&st), s(&eqx)]);

        // Our scores on the fixture inputs.
        let io = load_checkpoint(&dir.join("io.safetensors")).unwrap();
        let score = tmp.path().join(format!("{name}_score.npy"));
        let mut args: Vec<String> = ["score", "--checkpoint", s(&eqx), "--config", s(&config)]
            .map(String::from)
            .to_vec();
        let mut py_args: Vec<String> = vec![
            "--config".into(),
            s(&config).into(),
            "--eqx".into(),
            s(&eqx).into(),
        ];
        for c in ["t", "x", "q", "a"] {
            if let Ok(a) = io.get(&format!("in.{c}")) {
                let p = tmp.path().join(format!("{name}_{c}.npy"));
                write_npy(&p, a).unwrap();
                for argv in [&mut args, &mut py_args] {
                    argv.push(format!("--{c}"));
                    argv.push(s(&p).into());
                }
            }
        }
        args.extend(["--out".into(), s(&score).into()]);
        sbgm(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let ours = read_npy(&score).unwrap();
        // A fresh model, not sbgm's fixture weights: its scores differ from the fixture's.
        assert_ne!(&ours, io.get("out.score").unwrap(), "{name}");

        py_args.extend(["--expect".into(), s(&score).into()]);
        jobs.push((name.to_string(), py_args.clone()));
        if jobs.len() > 1 {
            continue;
        }
        // The harness must be able to fail: a wrong expectation (checked once).
        py_args.truncate(py_args.len() - 2);
        let wrong = tmp.path().join(format!("{name}_wrong.npy"));
        let shifted: Vec<f32> = ours
            .to_f64_vec()
            .iter()
            .map(|v| (v + 1e-2) as f32)
            .collect();
        write_npy(
            &wrong,
            &HostArray::from_vec(ours.shape().to_vec(), shifted).unwrap(),
        )
        .unwrap();
        py_args.extend(["--expect".into(), s(&wrong).into()]);
        jobs.push((format!("{name} (wrong expectation)"), py_args));
    }
    assert_eq!(jobs.len(), 17, "16 variants and one deliberate failure");
    jobs.push(trained_model_job(tmp.path()));
    for ((label, _), (rc, report)) in jobs.iter().zip(roundtrip(&py, &jobs)) {
        eprintln!("{label}: rc {rc} {report}");
        assert_eq!(report["loaded"], true, "{label}: {report}");
        if label.ends_with("(wrong expectation)") {
            assert_eq!(rc, 1, "{label}: {report}");
            assert_eq!(report["score_match"], false, "{label}: {report}");
        } else {
            assert_eq!(rc, 0, "{label}: {report}");
            assert_eq!(report["score_match"], true, "{label}: {report}");
        }
    }
}

#[test]
fn an_exported_sbgm_sampler_runs_and_matches_jax() {
    // The steps of docs/EXPORT.md: tools/export_sampler.py exports sbgm's Euler-Maruyama
    // sampler for the mlp_qa fixture model (weights from its .eqx), `sbgm-xla run` runs the
    // artifact, and the samples equal what JAX computed for the same key and conditioning.
    let py = match python() {
        Ok(p) => p,
        Err(why) => {
            eprintln!("SKIPPED: {why}");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let model = root().join("tests/fixtures/models/mlp_qa");
    let out = dir.path().join("export");
    let o = Command::new(&py)
        .arg(root().join("tools/export_sampler.py"))
        .args(["--config", s(&model.join("config.json"))])
        .args(["--eqx", s(&model.join("model.eqx"))])
        .args(["--out", s(&out), "--n", "6", "--steps", "20"])
        .output()
        .expect("run python");
    assert!(
        o.status.success(),
        "export_sampler.py: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let run_dir = dir.path().join("run");
    for file in ["sampler.jax_exported", "sampler.mlirbc"] {
        sbgm(&[
            "run",
            s(&out.join(file)),
            "--input",
            s(&out.join("in_key.npy")),
            "--input",
            s(&out.join("in_q.npy")),
            "--input",
            s(&out.join("in_a.npy")),
            "--out-dir",
            s(&run_dir),
        ]);
        let got = read_npy(&run_dir.join("out_0.npy")).unwrap();
        let want = read_npy(&out.join("expected.npy")).unwrap();
        assert_eq!(got.shape(), [6, 2]);
        let (g, w) = (got.to_f64_vec(), want.to_f64_vec());
        let scale = w.iter().fold(0f64, |m, v| m.max(v.abs()));
        let err = g
            .iter()
            .zip(&w)
            .fold(0f64, |m, (a, b)| m.max((a - b).abs()))
            / scale;
        eprintln!("{file}: max relative difference to JAX {err:.2e}");
        assert!(err <= 1e-5, "{file}: {err:.3e}");
    }
}
