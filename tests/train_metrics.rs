//! What `sbgm-xla train` measures and plots besides the loss, as a user runs it: the held-out
//! bits per dimension of image data (the number `loglik` gives for the same images and
//! weights), which weights each held-out loss uses (the EMA's and the raw parameters'), and
//! the per-class sample plots of runs conditioned on their labels.

mod cli_common;

use std::path::{Path, PathBuf};

use sbgm_xla::exec::Target;
use sbgm_xla::model::{Options, Space, load_model};
use sbgm_xla::sample::{HostCond, LoglikConfig, TraceMethod};
use sbgm_xla::train::{Config, Setup};

use cli_common::train;

fn config(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("configs")
        .join(name)
}

/// The evaluation lines of a run's `metrics.jsonl`.
fn evaluations(run: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v.get("eval_loss").is_some())
        .collect()
}

/// A tiny class-conditional digits run (labels as `a`), evaluated at steps 20 and 40.
const DIGITS: [&str; 17] = [
    "model.hidden_size=8",
    "model.mix_patch_size=8",
    "model.mix_hidden_size=8",
    "model.num_blocks=1",
    "train.steps=40",
    "train.steps_per_call=20",
    "train.batch_size=32",
    "train.eval_every=20",
    "train.eval_bpd_samples=4",
    "train.eval_bpd_method=\"exact\"",
    "train.sample_every=40",
    "train.sample_steps=10",
    "train.sample_size=16",
    "train.checkpoint_every=0",
    "train.labels_as=\"a\"",
    "train.lr=1e-3",
    "train.seed=3",
];

#[test]
fn an_image_run_logs_the_bits_per_dim_that_loglik_gives_and_both_held_out_losses() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("digits");
    let cfg_path = config("digits.toml");
    train(&cfg_path, &run, &DIGITS);

    let evals = evaluations(&run);
    let steps: Vec<u64> = evals.iter().map(|v| v["step"].as_u64().unwrap()).collect();
    assert_eq!(steps, [20, 40]);
    for v in &evals {
        assert_eq!(v["eval_weights"], "ema", "{v}");
        for key in ["eval_loss", "eval_loss_params", "eval_bpd"] {
            let x = v[key].as_f64().unwrap_or(f64::NAN);
            assert!(x.is_finite() && x > 0.0, "{key} in {v}");
        }
    }
    // the EMA trails the raw parameters: its held-out loss is not theirs; training lowers
    // the held-out loss and bits/dim
    let (first, last) = (&evals[0], &evals[1]);
    assert_ne!(last["eval_loss"], last["eval_loss_params"], "{last}");
    for key in ["eval_loss", "eval_bpd"] {
        assert!(
            first[key].as_f64() > last[key].as_f64(),
            "{key}: {first} -> {last}"
        );
    }
    for f in ["loss.png", "bpd.png", "samples/samples_000040.png"] {
        assert!(run.join(f).is_file(), "{f}");
    }
    // one row of 8 digits per class (10 classes), each 8x8 image shown at 64x64 with
    // 2-pixel borders
    let dims = image::image_dimensions(run.join("samples/classes_000040.png")).unwrap();
    assert_eq!(dims, (8 * 66 + 2, 10 * 66 + 2));

    // the logged bits/dim of the last step are what the likelihood of the saved EMA gives
    // for the held-out set's first 4 images: the 17 levels 0..16 are -1..1 after the
    // scaler, dequantized with the run's seed and the exact divergence
    let overrides: Vec<String> = DIGITS.iter().map(|s| s.to_string()).collect();
    let setup = Setup::new(&Config::from_file(&cfg_path, &overrides).unwrap()).unwrap();
    let held = setup.data.holdout.take(4);
    let x = held.x().clone();
    let model = load_model(&run, None, Some("ema")).unwrap();
    let cfg = LoglikConfig {
        method: TraceMethod::Exact,
        dequantize: Some(model.dequantize(17, Some((-1.0, 1.0)), &x, Space::Model)),
        ..LoglikConfig::default()
    };
    let cond = HostCond {
        a: held.a_host(),
        ..HostCond::none()
    };
    let opts = Options {
        seed: 3,
        space: Space::Model,
        progress: false,
    };
    let ll = model
        .loglik(&Target::cpu().unwrap(), &cfg, &x, cond, &opts)
        .unwrap();
    let bpd = ll.bpd.iter().sum::<f64>() / ll.bpd.len() as f64;
    let logged = last["eval_bpd"].as_f64().unwrap();
    assert!(
        (bpd - logged).abs() < 1e-4 * bpd.abs(),
        "logged {logged} vs loglik {bpd}"
    );
}

#[test]
fn a_run_without_ema_says_so_and_2d_classes_are_plotted_by_colour() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("moons");
    let overrides = [
        "model.width_size=16",
        "model.depth=1",
        "data.n=500",
        "train.steps=20",
        "train.steps_per_call=10",
        "train.batch_size=32",
        "train.eval_every=10",
        "train.sample_every=20",
        "train.sample_steps=10",
        "train.sample_size=64",
        "train.use_ema=false",
    ];
    train(&config("moons_cond.toml"), &run, &overrides);
    let evals = evaluations(&run);
    assert_eq!(evals.len(), 2);
    for v in &evals {
        assert_eq!(v["eval_weights"], "params", "{v}");
        // one set of weights; no bits/dim for 2-D points
        assert!(v.get("eval_loss_params").is_none(), "{v}");
        assert!(v.get("eval_bpd").is_none(), "{v}");
    }
    assert!(!run.join("bpd.png").exists());
    assert!(run.join("samples/classes_000020.png").is_file());
}
