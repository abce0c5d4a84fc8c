//! Training benchmark, the sbgm reference set-up: 2-D moons (20k points, noise 0.05,
//! standardised), ResidualNetwork width 256 depth 3 (tanh), VP SDE linear β 0.1..20,
//! AdamW 1e-3, batch 256, EMA of the parameters (`--set train.use_ema=false` for none; the
//! JSON says which, so that tools/bench_sbgm.py compares it with sbgm's step with or without
//! sbgm's `apply_ema`). Times the first step (trace + compile + run) and the training
//! throughput, and prints one JSON line (keys as tools/bench_sbgm.py expects, with the
//! platform and device kind). `--plugin` picks another plugin (default: the CPU plugin).
//!
//! ```text
//! cargo run --release --example bench_train -- [--steps 2000] [--devices 1] [--k 100]
//!     [--precision f32|bf16] [--plugin cpu|cuda|PATH] [--set KEY=VALUE ...]
//! ~/.cache/sbgm-ref/bin/python tools/bench_sbgm.py --no-ode \
//!     --rust-cmd "target/release/examples/bench_train --steps 2000"
//! ```

#[path = "common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::Instant;

use sbgm_xla::train::{Config, Engine, Setup};

const CONFIG: &str = r#"
[sde]
sde = "VP"
schedule = "linear"
beta_min = 0.1
beta_max = 20.0
t0 = 1e-5
t1 = 1.0
dt = 0.01

[model]
kind = "mlp"
width_size = 256
depth = 3
activation = "tanh"

[data]
dataset = "moons"
n = 20000
noise = 0.05
scaling = "normer"
holdout = 0.0

[train]
batch_size = 256
optimizer = "adamw"
lr = 1e-3
"#;

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn peak_rss_mb() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some((kb / 1024.0 * 10.0).round() / 10.0)
}

fn main() -> sbgm_xla::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let steps = arg(&args, "--steps", 2000);
    let devices = arg(&args, "--devices", 1);
    let k = arg(&args, "--k", 100);
    let precision = args
        .iter()
        .position(|a| a == "--precision")
        .and_then(|i| args.get(i + 1))
        .map_or("f32", |s| s.as_str());
    let t0 = Instant::now();
    let client = common::client(common::opt_value(&args, "--plugin"), devices)?;
    let (platform, device_kind) = common::platform_of(&client);
    let t_client = t0.elapsed().as_secs_f64();
    let target = sbgm_xla::exec::Target::new(client.clone());
    let t1 = Instant::now();
    let mut overrides = vec![
        format!("train.steps_per_call={k}"),
        format!("train.steps={steps}"),
        format!("train.matmul_precision=\"{precision}\""),
    ];
    // --set KEY=VALUE: any other config override (repeatable), e.g. --set train.use_ema=false
    for (i, a) in args.iter().enumerate() {
        if a == "--set"
            && let Some(v) = args.get(i + 1)
        {
            overrides.push(v.clone());
        }
    }
    let config = Config::from_toml_str(CONFIG, &overrides)?;
    let setup = Setup::new(&config)?;
    let state = setup.init_state()?;
    let layout = setup.layout(devices);
    let use_ema = layout.ema_rate.is_some();
    let data = Arc::new(setup.data.train.clone());
    let mut engine =
        setup.with_parts(|obj, opt| Engine::new(&target, layout, obj, opt, &state, data, 0))?;
    let l0 = engine.run(1)?;
    let first_step = t1.elapsed().as_secs_f64();
    let t2 = Instant::now();
    let mut done = 0;
    let mut last = l0[0];
    while done < steps {
        let n = (steps - done).min(k);
        let l = engine.run(n)?;
        last = *l.last().unwrap_or(&last);
        done += n;
    }
    let train_s = t2.elapsed().as_secs_f64();
    let out = serde_json::json!({
        "system": "sbgm-xla",
        "platform": platform,
        "device_kind": device_kind,
        "steps": steps,
        "steps_per_call": k,
        "devices": devices,
        "matmul_precision": precision,
        "use_ema": use_ema,
        "batch": 256,
        "width": 256,
        "depth": 3,
        "client_s": (t_client * 1000.0).round() / 1000.0,
        "compile_s": (engine.compile_seconds() * 1000.0).round() / 1000.0,
        "first_step_s": (first_step * 1000.0).round() / 1000.0,
        "train_steps_per_s": (steps as f64 / train_s * 10.0).round() / 10.0,
        "final_loss": last,
        "peak_rss_mb": peak_rss_mb(),
    });
    println!("{out}");
    Ok(())
}
