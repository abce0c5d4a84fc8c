//! UNet benchmark, the set-up of `bench_unet` in tools/bench_sbgm.py: scikit-learn's 8×8
//! digits (all 1797, scaled as images/8 − 1 to [-1, 1]), sbgm's UNet (dim 32, dim_mults
//! (1, 2), 1 channel, 2 attention heads of 16 channels, random Fourier time features),
//! VP SDE with linear β 0.1..20 (t0 = 1e-5, t1 = 1, dt = 0.01), AdamW 3e-4 without EMA,
//! batch 128, one CPU device (`--plugin` picks another plugin, a GPU say). Times
//!   - the first training step (trace + compile + run) and steps/s over `--steps` steps,
//!   - with `--loglik N`, the exact log-likelihood of N digit images (Tsit5, `--ll-steps`
//!     fixed steps; first call with trace + compile, then samples/s of a second call),
//!   - with `--eu`, Euler-Maruyama sampling of 256 images × 100 steps (first call),
//!
//! and prints one JSON line (keys as tools/bench_sbgm.py expects).
//!
//! ```text
//! cargo run --release --example bench_unet -- [--steps 200] [--k 50] [--precision f32|bf16]
//!     [--loglik N] [--ll-steps 10] [--eu] [--plugin cpu|cuda|PATH]
//! ~/.cache/sbgm-ref/bin/python tools/bench_sbgm.py --no-sbgm --unet --unet-loglik 8 \
//!     --rust-unet-cmd "target/release/examples/bench_unet --steps 100 --loglik 8"
//! ```

#[path = "common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::Instant;

use sbgm_xla::graph::MatmulPrecision;
use sbgm_xla::sample::{
    CompiledLoglik, CompiledSampler, HostCond, LoglikConfig, NetScore, SamplerConfig, SamplerKind,
    ScoreModel,
};
use sbgm_xla::train::{Config, Engine, Setup};
use sbgm_xla::{HostArray, Result};

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
kind = "unet"
dim = 32
dim_mults = [1, 2]
attn_heads = 2
attn_dim_head = 16
learned_sinusoidal_cond = true
random_fourier_features = true

[data]
dataset = "digits"
scaling = "scaler"
holdout = 0.0

[train]
batch_size = 128
optimizer = "adamw"
lr = 3e-4
use_ema = false
"#;

struct Args {
    steps: usize,
    k: usize,
    precision: MatmulPrecision,
    loglik: usize,
    ll_steps: usize,
    eu: bool,
    plugin: Option<String>,
    /// Config overrides (`--set train.use_ema=true`, `--set data.path="x.npy"`, ...).
    set: Vec<String>,
}

fn usage(msg: &str) -> ! {
    eprintln!(
        "{msg}; usage: bench_unet [--steps N] [--k N] [--precision f32|bf16] [--loglik N] [--ll-steps K] [--eu] [--plugin cpu|cuda|PATH] [--set KEY=VALUE]..."
    );
    std::process::exit(2)
}

fn args() -> Args {
    let mut a = Args {
        steps: 200,
        k: 50,
        precision: MatmulPrecision::F32,
        loglik: 0,
        ll_steps: 10,
        eu: false,
        plugin: None,
        set: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    let num = |it: &mut dyn Iterator<Item = String>, name: &str| -> usize {
        it.next()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| usage(&format!("{name} takes a non-negative integer")))
    };
    while let Some(s) = it.next() {
        match s.as_str() {
            "--steps" => a.steps = num(&mut it, "--steps"),
            "--k" => a.k = num(&mut it, "--k").max(1),
            "--loglik" => a.loglik = num(&mut it, "--loglik"),
            "--ll-steps" => a.ll_steps = num(&mut it, "--ll-steps").max(1),
            "--eu" => a.eu = true,
            "--set" => a
                .set
                .push(it.next().unwrap_or_else(|| usage("--set takes KEY=VALUE"))),
            "--plugin" => {
                a.plugin = Some(
                    it.next()
                        .unwrap_or_else(|| usage("--plugin takes a name or path")),
                )
            }
            "--precision" => {
                a.precision = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| usage("--precision takes f32 or bf16"))
            }
            other => usage(&format!("unknown argument {other}")),
        }
    }
    a
}

fn peak_rss_mb() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some((kb / 1024.0 * 10.0).round() / 10.0)
}

fn r3(v: f64) -> serde_json::Value {
    serde_json::json!((v * 1e3).round() / 1e3)
}

fn main() -> Result<()> {
    let a = args();
    let t_start = Instant::now();
    let client = common::client(a.plugin.as_deref(), 1)?;
    let (platform, device_kind) = common::platform_of(&client);
    let t_client = t_start.elapsed().as_secs_f64();
    let target = sbgm_xla::exec::Target::new(client.clone());

    // training
    let t1 = Instant::now();
    let mut overrides = vec![
        format!("train.steps_per_call={}", a.k),
        format!("train.steps={}", a.steps),
        format!("train.matmul_precision=\"{}\"", a.precision),
    ];
    overrides.extend(a.set.iter().cloned());
    let config = Config::from_toml_str(CONFIG, &overrides)?;
    let setup = Setup::new(&config)?;
    let state = setup.init_state()?;
    let params: usize = state.params.iter().map(|(_, x)| x.len()).sum();
    let layout = setup.layout(1);
    let data = Arc::new(setup.data.train.clone());
    let mut engine =
        setup.with_parts(|obj, opt| Engine::new(&target, layout, obj, opt, &state, data, 0))?;
    let l0 = engine.run(1)?;
    let first_step = t1.elapsed().as_secs_f64();
    let t2 = Instant::now();
    let mut done = 0;
    let mut last = l0[0];
    while done < a.steps {
        let n = (a.steps - done).min(a.k);
        let l = engine.run(n)?;
        last = *l.last().unwrap_or(&last);
        done += n;
    }
    let train_s = t2.elapsed().as_secs_f64();
    eprintln!(
        "UNet training: first step {first_step:.2} s (compile {:.2} s), {:.2} steps/s over {} steps, loss {last}",
        engine.compile_seconds(),
        a.steps as f64 / train_s,
        a.steps
    );

    let mut out = serde_json::json!({
        "system": "sbgm-xla",
        "platform": platform,
        "device_kind": device_kind,
        "model": "UNet",
        "overrides": a.set,
        "data_shape": setup.net.data_shape(),
        "use_ema": config.train.optim.use_ema,
        "params": params,
        "batch": config.train.batch_size,
        "steps": a.steps,
        "steps_per_call": a.k,
        "matmul_precision": a.precision.to_string(),
        "client_s": r3(t_client),
        "compile_s": r3(engine.compile_seconds()),
        "first_step_s": r3(first_step),
        "train_steps_per_s": (a.steps as f64 / train_s * 100.0).round() / 100.0,
        "final_loss": last,
    });
    let put = |out: &mut serde_json::Value, k: &str, v: serde_json::Value| {
        out[k] = v;
    };

    // sampling and likelihood from the trained weights
    let trained = engine.state()?;
    let leaves = setup.full_leaves(&trained.params)?;
    let model = NetScore::new(setup.net.as_ref(), &leaves)?;
    let shape = setup.net.data_shape();

    if a.loglik > 0 {
        let n = a.loglik;
        let ll = LoglikConfig {
            solver: SamplerKind::Tsit5,
            steps: Some(a.ll_steps),
            matmul_precision: a.precision,
            batch: n,
            ..LoglikConfig::default()
        };
        let rows: Vec<usize> = (0..n).map(|i| i % setup.data.train.len()).collect();
        let xs = HostArray::from_ndarray(setup.data.train.select(&rows)?.x());
        let t = Instant::now();
        let c = CompiledLoglik::new(
            &target,
            &model,
            &setup.sde,
            &ll,
            &shape,
            n,
            &HostCond::none(),
        )?;
        c.run(&xs, [0, 0], &HostCond::none(), &model.arguments())?;
        let first = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let res = c.run(&xs, [1, 0], &HostCond::none(), &model.arguments())?;
        let second = t.elapsed().as_secs_f64();
        let mean = res.logp.iter().sum::<f64>() / n as f64;
        eprintln!(
            "exact log-likelihood of {n} digits (Tsit5, {} steps): first {first:.2} s, then {second:.3} s ({:.2} samples/s), mean log p {mean:.2}",
            a.ll_steps,
            n as f64 / second
        );
        put(&mut out, "loglik_n", n.into());
        put(&mut out, "loglik_steps", a.ll_steps.into());
        put(&mut out, "loglik_first_s", r3(first));
        put(&mut out, "loglik_s", r3(second));
        put(&mut out, "loglik_samples_per_s", r3(n as f64 / second));
        put(&mut out, "loglik_mean", r3(mean));
    }

    if a.eu {
        let em = SamplerConfig {
            matmul_precision: a.precision,
            ..SamplerConfig::new(SamplerKind::Em).steps(100)
        };
        let t = Instant::now();
        let s = CompiledSampler::new(
            &target,
            &model,
            &setup.sde,
            &em,
            &shape,
            256,
            &HostCond::none(),
        )?;
        s.run([3, 0], &HostCond::none(), &model.arguments())?;
        let first = t.elapsed().as_secs_f64();
        eprintln!("Euler-Maruyama 256 x 100 steps: first call {first:.2} s");
        put(&mut out, "eu_first_s", r3(first));
        put(&mut out, "eu_samples", 256.into());
        put(&mut out, "eu_steps", 100.into());
    }

    put(&mut out, "peak_rss_mb", peak_rss_mb().into());
    put(&mut out, "total_s", r3(t_start.elapsed().as_secs_f64()));
    println!("{out}");
    Ok(())
}
