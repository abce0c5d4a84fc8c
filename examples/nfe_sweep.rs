//! Sample quality against cost: sliced Wasserstein-1 distance to the data (64 projections)
//! of Euler-Maruyama and DPM-Solver++(2M) samples as a function of the number of score
//! evaluations (NFE), with sbgm's ResidualNetwork (width 256, depth 3, tanh) on 2-D data and
//! the VP SDE with linear β 0.1..20, t0 = 1e-5, t1 = 1, dt = 0.01 (the settings of
//! tools/bench_sbgm.py and examples/sample_bench.rs).
//!
//! ```text
//! cargo run --release --example nfe_sweep -- [--eqx MODEL.eqx] [--data X.npy] [--n 4096]
//!     [--precision f32|bf16] [--png sweep.png] [--json]
//! ```
//!
//! Every sampler run draws `n` samples from one fixed key. The data file's points are
//! shuffled once (fixed seed) and cut into K = min(4, N / n) ≥ 2 disjoint reference subsets
//! of `n` points. A sampler's distance is the mean of its distances to the K references
//! (± their standard deviation); the metric's noise floor at this `n` (what a perfect
//! sampler would score) is the mean distance between two different references, over all
//! pairs. (One pair alone is a noisy floor: on the 20 000 moons at n = 4096 single pairs
//! range from 0.014 to 0.045.) The quality target is
//! `w* = floor + 1.1 (best EM − floor)`: within 10% of the best Euler-Maruyama distance once
//! the floor is taken off. The sweep reports the smallest NFE at which each sampler reaches
//! `W1 ≤ w*`, and the reverse comparison (the NFE Euler-Maruyama needs to come within 10% of
//! DPM-Solver++(2M)'s best, floor-adjusted). `--png` writes W1 against NFE (log axes) with the
//! floor as a dashed line; `--json` prints one JSON line with the table.
//!
//! Without `--eqx` the network has random weights (a smoke run: the distances mean nothing);
//! without `--data` the data are 20 000 standardised two-moons points (noise 0.05).

#[path = "common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::time::Instant;

use ndarray::{ArrayD, Axis};
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use rand::seq::SliceRandom;
use sbgm_xla::data::metrics::{SlicedWasserstein, sliced_wasserstein};
use sbgm_xla::data::toy;
use sbgm_xla::graph::MatmulPrecision;
use sbgm_xla::io::read_npy;
use sbgm_xla::plot::{Line, LinePlot, lines_png};
use sbgm_xla::sample::{
    CompiledSampler, HostCond, NetScore, SamplerConfig, SamplerKind, ScoreModel,
};
use sbgm_xla::{Error, Result};

/// Step counts of the sweep (NFE = steps for both samplers).
const EM_STEPS: [usize; 7] = [10, 20, 50, 100, 200, 500, 1000];
const DPM_STEPS: [usize; 7] = [5, 8, 10, 15, 20, 30, 50];
/// Seeds: the sampler key, the data shuffle, the projection directions.
const SAMPLE_KEY: [u64; 2] = [7, 0];
const SHUFFLE_SEED: u64 = 11;
const PROJECTION_SEED: u64 = 2;

struct Args {
    eqx: Option<PathBuf>,
    data: Option<PathBuf>,
    n: usize,
    precision: MatmulPrecision,
    png: Option<PathBuf>,
    json: bool,
}

fn usage(msg: &str) -> Error {
    Error::msg(format!(
        "{msg}\nusage: nfe_sweep [--eqx MODEL.eqx] [--data X.npy] [--n 4096] \
         [--precision f32|bf16] [--png sweep.png] [--json]"
    ))
}

fn args() -> Result<Args> {
    let mut a = Args {
        eqx: None,
        data: None,
        n: 4096,
        precision: MatmulPrecision::F32,
        png: None,
        json: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(s) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .ok_or_else(|| usage(&format!("{name} needs a value")))
        };
        match s.as_str() {
            "--eqx" => a.eqx = Some(value("--eqx")?.into()),
            "--data" => a.data = Some(value("--data")?.into()),
            "--png" => a.png = Some(value("--png")?.into()),
            "--n" => {
                let v = value("--n")?;
                a.n = v
                    .parse()
                    .ok()
                    .filter(|&n| n >= 2)
                    .ok_or_else(|| usage(&format!("--n takes an integer ≥ 2, got `{v}`")))?;
            }
            "--precision" => {
                let v = value("--precision")?;
                a.precision = v
                    .parse()
                    .map_err(|_| usage(&format!("--precision takes f32 or bf16, got `{v}`")))?;
            }
            "--json" => a.json = true,
            other => return Err(usage(&format!("unknown argument `{other}`"))),
        }
    }
    Ok(a)
}

/// Sliced W1 with the sweep's 64 fixed directions.
fn sw1(x: &ArrayD<f32>, y: &ArrayD<f32>) -> Result<f64> {
    sliced_wasserstein(
        x,
        y,
        &SlicedWasserstein {
            projections: 64,
            p: 1.0,
            seed: PROJECTION_SEED,
        },
    )
}

/// K = min(4, N / n) disjoint subsets of `n` rows of `data` (a fixed shuffle), K ≥ 2.
fn reference_subsets(data: &ArrayD<f32>, n: usize) -> Result<Vec<ArrayD<f32>>> {
    if data.ndim() != 2 || data.shape()[1] != 2 {
        return Err(Error::msg(format!(
            "the data must have shape (N, 2) for this 2-D model, got {:?}",
            data.shape()
        )));
    }
    let rows = data.shape()[0];
    if rows < 2 * n {
        return Err(Error::msg(format!(
            "the data have {rows} points; two disjoint subsets of --n {n} need {}; \
             lower --n to at most {}",
            2 * n,
            rows / 2
        )));
    }
    let mut idx: Vec<usize> = (0..rows).collect();
    idx.shuffle(&mut Xoshiro256PlusPlus::seed_from_u64(SHUFFLE_SEED));
    Ok(idx
        .chunks_exact(n)
        .take(4)
        .map(|c| data.select(Axis(0), c))
        .collect())
}

/// Mean and standard deviation.
fn mean_sd(v: &[f64]) -> (f64, f64) {
    let m = v.iter().sum::<f64>() / v.len() as f64;
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64;
    (m, var.sqrt())
}

/// One sampler run of the sweep.
struct Row {
    sampler: &'static str,
    steps: usize,
    nfe: u64,
    w1: f64,
    w1_sd: f64,
    compile_s: f64,
    run_s: f64,
    nonfinite: usize,
}

/// The smallest NFE whose distance is at most `target`.
fn first_reaching(rows: &[&Row], target: f64) -> Option<u64> {
    rows.iter().filter(|r| r.w1 <= target).map(|r| r.nfe).min()
}

fn main() {
    if let Err(e) = run() {
        eprintln!("nfe_sweep: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let a = args()?;
    let t_start = Instant::now();
    let target = sbgm_xla::exec::Target::new(common::cpu_client()?);
    if a.eqx.is_none() {
        eprintln!("no --eqx: random weights, a smoke run (the distances mean nothing)");
    }
    let (net, leaves) = common::moons_model(a.eqx.as_deref())?;
    let model = NetScore::new(&*net, &leaves)?;
    let sde = common::moons_sde()?;
    let data = match &a.data {
        Some(p) => read_npy(p)?.to_ndarray::<f32>()?,
        None => {
            let mut x = toy::moons(20_000, 0.05, 0)?.x().clone();
            let m = x
                .mean_axis(Axis(0))
                .ok_or_else(|| Error::msg("no moons points"))?;
            let s = x.std_axis(Axis(0), 0.0);
            x -= &m;
            x /= &s;
            x
        }
    };
    let refs = reference_subsets(&data, a.n)?;
    let mut pair_w = Vec::new();
    for i in 0..refs.len() {
        for j in i + 1..refs.len() {
            pair_w.push(sw1(&refs[i], &refs[j])?);
        }
    }
    let (floor, floor_sd) = mean_sd(&pair_w);

    let params = model.arguments();
    let mut rows: Vec<Row> = Vec::new();
    let runs = EM_STEPS
        .iter()
        .map(|&s| ("EM", SamplerKind::Em, s))
        .chain(DPM_STEPS.iter().map(|&s| ("DPM2M", SamplerKind::Dpm2m, s)));
    for (name, kind, steps) in runs {
        let cfg = SamplerConfig {
            matmul_precision: a.precision,
            ..SamplerConfig::new(kind).steps(steps)
        };
        let t = Instant::now();
        let sampler =
            CompiledSampler::new(&target, &model, &sde, &cfg, &[2], a.n, &HostCond::none())?;
        let compile_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let (x, counters) = sampler.run(SAMPLE_KEY, &HostCond::none(), &params)?;
        let run_s = t.elapsed().as_secs_f64();
        let xs = x.to_ndarray::<f32>()?;
        let finite: Vec<usize> = xs
            .outer_iter()
            .enumerate()
            .filter(|(_, r)| r.iter().all(|v| v.is_finite()))
            .map(|(i, _)| i)
            .collect();
        let nonfinite = a.n - finite.len();
        let (w1, w1_sd) = if finite.is_empty() {
            (f64::NAN, f64::NAN)
        } else {
            let kept = xs.select(Axis(0), &finite);
            let w = refs
                .iter()
                .map(|r| sw1(&kept, r))
                .collect::<Result<Vec<_>>>()?;
            mean_sd(&w)
        };
        if counters.nfe != steps as u64 {
            eprintln!(
                "warning: {name} with {steps} steps reports {} score evaluations",
                counters.nfe
            );
        }
        eprintln!("{name:>5} {steps:>4} steps: W1 {w1:.4} ({run_s:.2} s)");
        rows.push(Row {
            sampler: name,
            steps,
            nfe: counters.nfe,
            w1,
            w1_sd,
            compile_s,
            run_s,
            nonfinite,
        });
    }

    let of = |name: &str| {
        rows.iter()
            .filter(|r| r.sampler == name)
            .collect::<Vec<_>>()
    };
    let (em, dpm) = (of("EM"), of("DPM2M"));
    let best = |rs: &[&Row]| {
        rs.iter()
            .map(|r| r.w1)
            .filter(|w| w.is_finite())
            .fold(f64::INFINITY, f64::min)
    };
    let (em_best, dpm_best) = (best(&em), best(&dpm));
    if !(em_best.is_finite() && dpm_best.is_finite()) {
        return Err(Error::msg(
            "every run of a sampler gave non-finite samples; check the model file",
        ));
    }
    let target = floor + 1.1 * (em_best - floor);
    let (em_nfe, dpm_nfe) = (first_reaching(&em, target), first_reaching(&dpm, target));
    let target_dpm = floor + 1.1 * (dpm_best - floor);
    let (em_nfe_d, dpm_nfe_d) = (
        first_reaching(&em, target_dpm),
        first_reaching(&dpm, target_dpm),
    );
    let show = |v: Option<u64>| v.map_or("none in the sweep".to_string(), |v| format!("NFE {v}"));

    let k = refs.len();
    println!(
        "sliced W1 (64 projections) of {} samples, mean over {k} disjoint reference sets of {} \
         data points (± sd over the sets); matmul precision {}",
        a.n, a.n, a.precision
    );
    println!(
        "noise floor: W1 between two disjoint sets of {} data points = {floor:.4} ± {floor_sd:.4} \
         ({} pairs)",
        a.n,
        pair_w.len()
    );
    println!(
        "{:<7} {:>5} {:>5} {:>9} {:>8} {:>11} {:>10} {:>8}",
        "sampler", "steps", "NFE", "W1", "± sd", "W1 - floor", "compile s", "run s"
    );
    for r in &rows {
        println!(
            "{:<7} {:>5} {:>5} {:>9.4} {:>8.4} {:>11.4} {:>10.2} {:>8.3}{}",
            r.sampler,
            r.steps,
            r.nfe,
            r.w1,
            r.w1_sd,
            r.w1 - floor,
            r.compile_s,
            r.run_s,
            if r.nonfinite > 0 {
                format!("  ({} non-finite samples dropped)", r.nonfinite)
            } else {
                String::new()
            }
        );
    }
    println!(
        "target w* = floor + 1.1 (best EM - floor) = {floor:.4} + 1.1 ({em_best:.4} - {floor:.4}) \
         = {target:.4}"
    );
    println!(
        "smallest NFE with W1 <= w*: EM {}, DPM2M {}",
        show(em_nfe),
        show(dpm_nfe)
    );
    println!(
        "reverse: w_dpm = floor + 1.1 (best DPM2M - floor) = {target_dpm:.4}; \
         smallest NFE with W1 <= w_dpm: EM {}, DPM2M {}",
        show(em_nfe_d),
        show(dpm_nfe_d)
    );

    if let Some(png) = &a.png {
        let xy = |rs: &[&Row]| -> (Vec<f64>, Vec<f64>) {
            rs.iter().map(|r| (r.nfe as f64, r.w1)).unzip()
        };
        let ((ex, ey), (dx, dy)) = (xy(&em), xy(&dpm));
        let floor_label = format!("noise floor ({floor:.4})");
        let target_label = format!("w* = {target:.4}");
        let title = format!(
            "sliced W1 to the data vs NFE (n = {}, {} matmuls)",
            a.n, a.precision
        );
        lines_png(
            png,
            &LinePlot {
                title: &title,
                x_label: "NFE (score evaluations)",
                y_label: "sliced W1 (64 projections)",
                log_x: true,
                log_y: floor > 0.0,
                hlines: &[(&floor_label, floor), (&target_label, target)],
                ..LinePlot::default()
            },
            &[
                Line::new("Euler-Maruyama", &ex, &ey),
                Line::new("DPM-Solver++(2M)", &dx, &dy),
            ],
        )?;
        println!("plot: {}", png.display());
    }

    if a.json {
        let r4 = |v: f64| serde_json::json!((v * 1e5).round() / 1e5);
        let table: Vec<_> = rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "sampler": r.sampler, "steps": r.steps, "nfe": r.nfe, "w1": r4(r.w1), "w1_sd": r4(r.w1_sd),
                    "compile_s": r4(r.compile_s), "run_s": r4(r.run_s),
                    "nonfinite": r.nonfinite,
                })
            })
            .collect();
        let out = serde_json::json!({
            "n": a.n,
            "matmul_precision": a.precision.to_string(),
            "projections": 64,
            "noise_floor": r4(floor),
            "noise_floor_sd": r4(floor_sd),
            "reference_sets": k,
            "em_best": r4(em_best),
            "dpm2m_best": r4(dpm_best),
            "target_w1": r4(target),
            "target_rule": "floor + 1.1 * (best EM - floor)",
            "em_nfe_to_target": em_nfe,
            "dpm2m_nfe_to_target": dpm_nfe,
            "target_w1_dpm2m": r4(target_dpm),
            "em_nfe_to_dpm2m_target": em_nfe_d,
            "dpm2m_nfe_to_dpm2m_target": dpm_nfe_d,
            "rows": table,
            "total_s": r4(t_start.elapsed().as_secs_f64()),
        });
        println!("{out}");
    }
    Ok(())
}
