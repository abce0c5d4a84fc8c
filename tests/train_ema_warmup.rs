//! The EMA holds on short runs: trained 300 steps on moons as a user runs it, the EMA's samples
//! (what `sample`, the plots and `model.eqx` use) are as close to the data as the raw
//! parameters' with the warm-up (the default), and much farther with sbgm's plain update
//! (which still holds 0.999^300 = 74% of the random initial weights).

use std::path::{Path, PathBuf};
use std::process::Command;

use sbgm_xla::data::metrics::{SlicedWasserstein, sliced_wasserstein};
use sbgm_xla::io::npy::read_npy;
use sbgm_xla::train::Config;

fn sbgm(args: &[&str]) {
    let o = Command::new(env!("CARGO_BIN_EXE_sbgm-xla"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

const SHORT: [&str; 7] = [
    "train.steps=300",
    "train.steps_per_call=100",
    "train.eval_every=0",
    "train.sample_every=0",
    "train.checkpoint_every=0",
    "data.n=4096",
    "train.batch_size=256",
];

/// Sliced W1 to the data of 2048 samples drawn with the run's `group` tensors.
fn w1(run: &Path, group: &str, data: &ndarray::ArrayD<f32>) -> f64 {
    let out = run.join(format!("{group}.npy"));
    let args = [
        "sample",
        "--checkpoint",
        run.to_str().unwrap(),
        "--group",
        group,
        "--n",
        "2048",
    ];
    sbgm(
        &[
            &args[..],
            &["--steps", "200", "--quiet", "--out", out.to_str().unwrap()],
        ]
        .concat(),
    );
    let x = read_npy(&out).unwrap().to_ndarray::<f32>().unwrap();
    let opts = SlicedWasserstein {
        p: 1.0,
        ..Default::default()
    };
    sliced_wasserstein(&x, data, &opts).unwrap()
}

#[test]
fn a_short_runs_ema_samples_are_as_close_as_its_raw_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let config = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("configs/moons.toml");
    let data = Config::from_file(&config, &["data.n=4096".to_string()])
        .unwrap()
        .data
        .raw()
        .unwrap();
    let data = data.x().clone();
    let mut results = Vec::new();
    for warm in [true, false] {
        let run = dir.path().join(format!("warm_{warm}"));
        let mut args = vec![
            "train",
            "--config",
            config.to_str().unwrap(),
            "--run-dir",
            run.to_str().unwrap(),
            "--quiet",
        ];
        let warm_set = format!("train.ema_warmup={warm}");
        for o in SHORT.iter().chain([&warm_set.as_str()]) {
            args.extend(["--set", o]);
        }
        sbgm(&args);
        results.push((w1(&run, "ema", &data), w1(&run, "params", &data)));
    }
    let [(ema, params), (plain_ema, plain_params)] = results[..] else {
        unreachable!()
    };
    eprintln!(
        "sliced W1: warm EMA {ema:.3}, raw {params:.3}; plain EMA {plain_ema:.3}, raw {plain_params:.3}"
    );
    assert!(
        ema <= 1.25 * params + 0.02,
        "warm EMA {ema:.3} vs raw parameters {params:.3}"
    );
    assert!(
        plain_ema > 1.5 * plain_params && plain_ema > 1.5 * ema,
        "sbgm's plain EMA {plain_ema:.3} (raw {plain_params:.3}) should lag the warm one {ema:.3}"
    );
}
