//! Sampling and likelihood benchmark with sbgm's ResidualNetwork (width 256, depth 3, tanh)
//! on 2-D data, VP SDE with linear β 0.1..20, t0 = 1e-5, t1 = 1, dt = 0.01 (the settings of
//! tools/bench_sbgm.py): Euler-Maruyama 4096 samples × 100 steps, probability-flow ODE
//! with Tsit5 at constant dt = 0.01, DPM-Solver++(2M) with 15 steps, and the exact
//! log-likelihood throughput. Each "first" time includes tracing and compiling.
//!
//! ```text
//! cargo run --release --example sample_bench -- [--eqx MODEL.eqx] [--data X.npy] [--n 4096]
//!     [--steps 100] [--no-ode] [--json] [--precision f32|bf16] [--plugin cpu|cuda|PATH]
//! ```
//! Without `--eqx` the network has random weights. With `--data` (e.g. the moons the sbgm
//! side trained on) it reports sliced Wasserstein-1 distances (64 projections) of each
//! sampler's output and of the prior to the data. `--json` prints one JSON line with the
//! keys tools/bench_sbgm.py reads (eu_first_s, eu_s, ode_first_s, ode_s, sliced_w1, ...).

#[path = "common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::time::Instant;

use ndarray::ArrayD;
use sbgm_xla::data::metrics::{SlicedWasserstein, sliced_wasserstein};
use sbgm_xla::exec::Target;
use sbgm_xla::graph::MatmulPrecision;
use sbgm_xla::io::read_npy;
use sbgm_xla::sample::{
    CompiledLoglik, CompiledSampler, HostCond, LoglikConfig, NetScore, SamplerConfig, SamplerKind,
    ScoreModel,
};
use sbgm_xla::sde::Sde;
use sbgm_xla::{HostArray, Result};

struct Args {
    eqx: Option<PathBuf>,
    data: Option<PathBuf>,
    n: usize,
    steps: usize,
    ode: bool,
    json: bool,
    precision: MatmulPrecision,
    plugin: Option<String>,
}

fn args() -> Args {
    let mut a = Args {
        eqx: None,
        data: None,
        n: 4096,
        steps: 100,
        ode: true,
        json: false,
        precision: MatmulPrecision::F32,
        plugin: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(s) = it.next() {
        match s.as_str() {
            "--eqx" => a.eqx = it.next().map(PathBuf::from),
            "--data" => a.data = it.next().map(PathBuf::from),
            "--n" => a.n = it.next().and_then(|v| v.parse().ok()).unwrap_or(a.n),
            "--steps" => a.steps = it.next().and_then(|v| v.parse().ok()).unwrap_or(a.steps),
            "--no-ode" => a.ode = false,
            "--json" => a.json = true,
            "--plugin" => a.plugin = it.next(),
            "--precision" => {
                a.precision = it.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
                    eprintln!("--precision takes f32 or bf16");
                    std::process::exit(2)
                })
            }
            other => {
                eprintln!("unknown argument {other}; see the example's docs");
                std::process::exit(2);
            }
        }
    }
    a
}

fn sw1(x: &HostArray, data: &ArrayD<f32>) -> Result<f64> {
    let xs = x.to_ndarray::<f32>()?;
    sliced_wasserstein(
        &xs,
        data,
        &SlicedWasserstein {
            projections: 64,
            p: 1.0,
            seed: 2,
        },
    )
}

/// Times (first call incl. trace + compile, second call) of one sampler.
fn time_sampler(
    target: &Target,
    model: &dyn ScoreModel,
    sde: &Sde,
    cfg: &SamplerConfig,
    n: usize,
) -> Result<(f64, f64, HostArray, u64)> {
    let params = model.arguments();
    let t = Instant::now();
    let s = CompiledSampler::new(target, model, sde, cfg, &[2], n, &HostCond::none())?;
    let (_, _) = s.run([1, 0], &HostCond::none(), &params)?;
    let first = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let (x, c) = s.run([2, 0], &HostCond::none(), &params)?;
    Ok((first, t.elapsed().as_secs_f64(), x, c.nfe))
}

fn main() -> Result<()> {
    let a = args();
    let t_start = Instant::now();
    let client = common::client(a.plugin.as_deref(), 1)?;
    let (platform, device_kind) = common::platform_of(&client);
    let target = Target::new(client.clone());
    let (net, leaves) = common::moons_model(a.eqx.as_deref())?;
    let model = NetScore::new(&*net, &leaves)?;
    let sde = common::moons_sde()?;
    let data = match &a.data {
        Some(p) => Some(read_npy(p)?.to_ndarray::<f32>()?),
        None => None,
    };
    let mut out = serde_json::Map::new();
    let mut put = |k: &str, v: serde_json::Value| {
        out.insert(k.to_string(), v);
    };
    let r4 = |v: f64| serde_json::json!((v * 1e4).round() / 1e4);

    let em = SamplerConfig {
        matmul_precision: a.precision,
        ..SamplerConfig::new(SamplerKind::Em).steps(a.steps)
    };
    let (f, s, x_em, _) = time_sampler(&target, &model, &sde, &em, a.n)?;
    println!(
        "Euler-Maruyama {} x {} steps: first {f:.3} s, then {s:.4} s",
        a.n, a.steps
    );
    put("eu_first_s", r4(f));
    put("eu_s", r4(s));
    put("eu_samples", a.n.into());
    put("eu_steps", a.steps.into());

    let dpm = SamplerConfig {
        matmul_precision: a.precision,
        ..SamplerConfig::new(SamplerKind::Dpm2m).steps(15)
    };
    let (f, s, x_dpm, _) = time_sampler(&target, &model, &sde, &dpm, a.n)?;
    println!(
        "DPM-Solver++(2M) {} x 15 steps: first {f:.3} s, then {s:.4} s",
        a.n
    );
    put("dpm2m_first_s", r4(f));
    put("dpm2m_s", r4(s));

    if a.ode {
        let ode = SamplerConfig {
            matmul_precision: a.precision,
            ..SamplerConfig::new(SamplerKind::Tsit5).steps(a.steps)
        };
        let (f, s, x_ode, nfe) = time_sampler(&target, &model, &sde, &ode, a.n)?;
        println!(
            "PF-ODE Tsit5 dt = {}: first {f:.3} s, then {s:.4} s ({nfe} evaluations)",
            1.0 / a.steps as f64
        );
        put("ode_first_s", r4(f));
        put("ode_s", r4(s));
        put("ode_solver", "Tsit5, constant dt 0.01".into());
        if let Some(d) = &data {
            put("sliced_w1_ode", r4(sw1(&x_ode, d)?));
        }
    }

    // exact log-likelihood throughput (2-D, fixed Tsit5 steps as sbgm's default solve)
    let ll = LoglikConfig {
        solver: SamplerKind::Tsit5,
        steps: Some(a.steps),
        matmul_precision: a.precision,
        ..LoglikConfig::default()
    };
    let nll = 1024.min(a.n);
    let xs = HostArray::from_ndarray(
        &ndarray::Array2::<f32>::from_shape_fn((nll, 2), |(i, j)| {
            ((i * 2 + j) as f32 * 0.618).sin()
        })
        .into_dyn(),
    );
    let t = Instant::now();
    let c = CompiledLoglik::new(&target, &model, &sde, &ll, &[2], nll, &HostCond::none())?;
    c.run(&xs, [0, 0], &HostCond::none(), &model.arguments())?;
    let f = t.elapsed().as_secs_f64();
    let t = Instant::now();
    c.run(&xs, [1, 0], &HostCond::none(), &model.arguments())?;
    let s = t.elapsed().as_secs_f64();
    println!(
        "exact log-likelihood of {nll} points: first {f:.3} s, then {s:.4} s ({:.0} samples/s)",
        nll as f64 / s
    );
    put("loglik_first_s", r4(f));
    put("loglik_samples_per_s", r4(nll as f64 / s));

    if let Some(d) = &data {
        let (w_em, w_dpm) = (sw1(&x_em, d)?, sw1(&x_dpm, d)?);
        let prior = HostArray::from_vec(
            vec![a.n, 2],
            (0..2 * a.n)
                .map(|i| {
                    // Box-Muller from a fixed LCG, independent of the samplers
                    let u = |k: usize| ((k as f64 * 0.754_877_666 + 0.1).fract()).max(1e-12);
                    let (u1, u2) = (u(2 * i + 1), u(2 * i + 7919));
                    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
                })
                .collect(),
        )?;
        let w_prior = sw1(&prior, d)?;
        println!("sliced W1 to the data: EM {w_em:.4}, DPM2M(15) {w_dpm:.4}, prior {w_prior:.4}");
        put("sliced_w1", r4(w_em));
        put("sliced_w1_dpm2m", r4(w_dpm));
        put("sliced_w1_prior", r4(w_prior));
    }
    put("matmul_precision", a.precision.to_string().into());
    put("platform", platform.into());
    put("device_kind", device_kind.into());
    put("total_s", r4(t_start.elapsed().as_secs_f64()));
    if a.json {
        println!("{}", serde_json::Value::Object(out));
    }
    Ok(())
}
