//! The EMA holds on short runs: trained 300 steps on moons (and a few hundred on digits) as a
//! user runs it, the EMA's samples (what `sample`, the plots and `model.eqx` use) are as close
//! to the data as the raw parameters' with the warm-up (the default), and much farther with
//! sbgm's plain update (which still holds 0.999^300 = 74% of the random initial weights).

mod cli_common;

use std::path::{Path, PathBuf};

use sbgm_xla::data::metrics::{SlicedWasserstein, sliced_wasserstein};
use sbgm_xla::io::npy::read_npy;
use sbgm_xla::train::Config;

use cli_common::{sbgm, train};

const SHORT: [&str; 7] = [
    "train.steps=300",
    "train.steps_per_call=100",
    "train.eval_every=0",
    "train.sample_every=0",
    "train.checkpoint_every=0",
    "data.n=4096",
    "train.batch_size=256",
];

/// `n` samples (data space) drawn in `steps` steps with the run's `group` tensors.
fn samples(run: &Path, group: &str, n: usize, steps: usize) -> ndarray::ArrayD<f32> {
    let out = run.join(format!("{group}.npy"));
    let (n, steps) = (n.to_string(), steps.to_string());
    sbgm(&[
        "sample",
        "--checkpoint",
        run.to_str().unwrap(),
        "--group",
        group,
        "--n",
        &n,
        "--steps",
        &steps,
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    read_npy(&out).unwrap().to_ndarray::<f32>().unwrap()
}

/// Sliced W1 to the data of 2048 samples drawn with the run's `group` tensors.
fn w1(run: &Path, group: &str, data: &ndarray::ArrayD<f32>) -> f64 {
    let x = samples(run, group, 2048, 200);
    let opts = SlicedWasserstein {
        p: 1.0,
        ..Default::default()
    };
    sliced_wasserstein(&x, data, &opts).unwrap()
}

/// Trains `config` with `overrides` and the EMA warm-up on (`warm`) or off in `run`.
fn train_warm(config: &Path, run: &Path, overrides: &[&str], warm: bool) {
    let warm_set = format!("train.ema_warmup={warm}");
    let all: Vec<&str> = overrides
        .iter()
        .copied()
        .chain([warm_set.as_str()])
        .collect();
    train(config, run, &all);
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
        train_warm(&config, &run, &SHORT, warm);
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

/// The mean distance from each sample (rows of `x`, flattened) to its nearest row of `data`.
fn mean_nearest_distance(x: &ndarray::ArrayD<f32>, data: &ndarray::ArrayD<f32>) -> f64 {
    let flat = |a: &ndarray::ArrayD<f32>| {
        let n = a.shape()[0];
        a.to_shape((n, a.len() / n)).unwrap().to_owned()
    };
    let (x, data) = (flat(x), flat(data));
    let nearest = x.outer_iter().map(|s| {
        data.outer_iter()
            .map(|d| {
                s.iter()
                    .zip(d)
                    .map(|(a, b)| f64::from(a - b).powi(2))
                    .sum::<f64>()
            })
            .fold(f64::INFINITY, f64::min)
            .sqrt()
    });
    nearest.sum::<f64>() / x.nrows() as f64
}

/// A short digits run: a small Mixer (configs/digits.toml's model, narrower), 300 steps.
const DIGITS_SHORT: [&str; 11] = [
    "model.hidden_size=64",
    "model.mix_patch_size=64",
    "model.mix_hidden_size=64",
    "model.num_blocks=2",
    "train.lr=2e-3",
    "train.steps=300",
    "train.steps_per_call=100",
    "train.eval_every=0",
    "train.sample_every=0",
    "train.checkpoint_every=0",
    "train.batch_size=128",
];

#[test]
fn a_short_digits_runs_ema_draws_digits_as_its_raw_parameters_do() {
    let dir = tempfile::tempdir().unwrap();
    let config = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("configs/digits.toml");
    let data = Config::from_file(&config, &[]).unwrap().data.raw().unwrap();
    let data = data.x().clone();
    // the prior's draws mapped to data space (the scaler maps 0..16 to -1..1): noise, the
    // distance that samples of an untrained model have
    let normal = |i: usize| {
        let u = |k: usize| ((k as f64 + 0.5) * 0.618_033_988_75).fract().max(1e-9);
        (-2.0 * u(2 * i).ln()).sqrt() * (std::f64::consts::TAU * u(2 * i + 1)).cos()
    };
    let noise = ndarray::ArrayD::from_shape_fn(vec![256, 64], |ix| {
        ((normal(ix[0] * 64 + ix[1]) + 1.0) * 8.0) as f32
    });
    let noise_d = mean_nearest_distance(&noise, &data);
    let mut results = Vec::new();
    for warm in [true, false] {
        let run = dir.path().join(format!("warm_{warm}"));
        train_warm(&config, &run, &DIGITS_SHORT, warm);
        let d = |group| mean_nearest_distance(&samples(&run, group, 256, 100), &data);
        results.push((d("ema"), d("params")));
    }
    let [(ema, params), (plain_ema, plain_params)] = results[..] else {
        unreachable!()
    };
    eprintln!(
        "mean distance to the nearest digit: warm EMA {ema:.1}, raw {params:.1}; plain EMA \
         {plain_ema:.1}, raw {plain_params:.1}; prior noise {noise_d:.1}"
    );
    assert!(
        params < 0.6 * noise_d,
        "the raw parameters' samples ({params:.1}) should be much closer to the digits than \
         noise ({noise_d:.1})"
    );
    assert!(
        ema <= 1.25 * params,
        "warm EMA {ema:.1} vs raw parameters {params:.1}"
    );
    assert!(
        plain_ema > 1.5 * plain_params && plain_ema > 1.5 * ema,
        "sbgm's plain EMA {plain_ema:.1} (raw {plain_params:.1}) should lag the warm one {ema:.1}"
    );
}
