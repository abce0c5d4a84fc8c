//! Device-mesh benchmark: configs/moons.toml (ResidualNetwork width 256 depth 3, AdamW, EMA,
//! batch 256) on the same devices as plain data parallelism
//! (`{ data = N }`), fully sharded (`{ fsdp = N }`) and mixed (`{ data = 2, fsdp = N/2 }`).
//! For each mesh it prints one JSON line: the training state's bytes on each device (from the
//! device buffers), the compiler's per-device temporaries and peak, and the training
//! throughput after a first, untimed call.
//!
//! ```text
//! cargo run --release --example bench_mesh -- [--devices 4] [--steps 500] [--k 50]
//!     [--plugin cpu|cuda|PATH]
//! ```

#[path = "common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::Instant;

use sbgm_xla::exec::Target;
use sbgm_xla::train::mesh::Mesh;
use sbgm_xla::train::{Config, Engine, Setup};

/// The moons reference set-up (without a held-out split).
const CONFIG: &str = include_str!("../configs/moons.toml");

fn arg(args: &[String], name: &str, default: usize) -> usize {
    common::opt_value(args, name)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Trains `steps` steps on `mesh` after one untimed call; one JSON line.
fn bench(target: &Target, mesh: Mesh, steps: usize, k: usize) -> sbgm_xla::Result<String> {
    let overrides = [
        format!("train.steps_per_call={k}"),
        "data.holdout=0.0".into(),
    ];
    let mut config = Config::from_toml_str(CONFIG, &overrides)?;
    config.train.mesh = Some(mesh);
    let setup = Setup::new(&config)?;
    let state = setup.init_state()?;
    let layout = setup.layout(mesh.devices());
    let data = Arc::new(setup.data.train.clone());
    let mut engine =
        setup.with_parts(|obj, opt| Engine::new(target, layout, obj, opt, &state, data, 0))?;
    let bytes = engine.state_bytes_per_device()?;
    let stats = engine.executable().memory_stats();
    let whole = engine.state()?;
    let whole_bytes: usize = [&whole.params, &whole.opt, &whole.ema]
        .into_iter()
        .flatten()
        .map(|(_, a)| a.bytes().len())
        .sum::<usize>()
        + 4
        + 16; // step (i32) and key (u64[2])
    engine.run(k)?;
    let t = Instant::now();
    let mut done = 0;
    let mut last = f32::NAN;
    while done < steps {
        let n = (steps - done).min(k);
        last = *engine.run(n)?.last().unwrap_or(&last);
        done += n;
    }
    let s = t.elapsed().as_secs_f64();
    Ok(serde_json::json!({
        "mesh": mesh.to_string(),
        "state_bytes_per_device": bytes,
        "state_bytes_whole": whole_bytes,
        // the compiler's per-device buffer assignment: temporaries and the peak of a call
        "temp_bytes_per_device": stats.map(|m| m.temp_bytes),
        "peak_bytes_per_device": stats.map(|m| m.total_bytes()),
        "compile_s": (engine.compile_seconds() * 1000.0).round() / 1000.0,
        "steps": steps,
        "ms_per_step": (s / steps as f64 * 1e5).round() / 100.0,
        "final_loss": last,
    })
    .to_string())
}

fn main() -> sbgm_xla::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let devices = arg(&args, "--devices", 4);
    let steps = arg(&args, "--steps", 500);
    let k = arg(&args, "--k", 50);
    let client = common::client(common::opt_value(&args, "--plugin"), devices)?;
    let target = Target::new(client);
    let mut meshes = vec![
        Mesh::data_parallel(devices),
        Mesh {
            data: 1,
            fsdp: devices,
        },
    ];
    if devices.is_multiple_of(2) && devices > 2 {
        meshes.push(Mesh {
            data: 2,
            fsdp: devices / 2,
        });
    }
    for mesh in meshes {
        println!("{}", bench(&target, mesh, steps, k)?);
    }
    Ok(())
}
