//! Input pipeline benchmark: sbgm's UNet on 32×32×3 images (the batch of
//! configs/cifar10.toml, a smaller UNet by default), trained from a memory-mapped `.npy`
//! (`[data] resident = false`) with sbgm's CIFAR/Flowers augmentations (reflect-padded random
//! crop, flips) through the host feed's prefetch queue, against the same training with the
//! data already resident on the device (device feed, no augmentation). Prints one JSON line
//! per variant and the ratio of their steps/s (the loader should reach at least 0.95).
//!
//! ```text
//! cargo run --release --example bench_loader -- [--steps 40] [--k 10] [--batch 128]
//!     [--dim 16] [--images 4096] [--plugin cpu|cuda|PATH]
//! ```

#[path = "common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::Instant;

use sbgm_xla::HostArray;
use sbgm_xla::train::{Config, Engine, Setup};

fn arg(args: &[String], name: &str, default: usize) -> usize {
    common::opt_value(args, name)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn config(path: &str, streamed: bool, batch: usize, dim: usize, k: usize) -> String {
    let data = if streamed {
        "resident = false\naugment = { crop_padding = 4, hflip = true, vflip = true }"
    } else {
        "resident = true"
    };
    let feed = if streamed { "host" } else { "device" };
    format!(
        "[sde]\nsde = \"VP\"\n\n[model]\nkind = \"unet\"\ndim = {dim}\ndim_mults = [1, 2]\n\
         attn_dim_head = 8\nattn_heads = 1\n\n[data]\ndataset = \"file\"\npath = {path:?}\n\
         holdout = 0.0\n{data}\n\n[train]\nbatch_size = {batch}\nsteps_per_call = {k}\n\
         feed = \"{feed}\"\noptimizer = \"adamw\"\nlr = 2e-4\n"
    )
}

/// Steps per second of `steps` steps (after a first call that compiles and warms up).
fn run(
    target: &sbgm_xla::exec::Target,
    text: &str,
    steps: usize,
    k: usize,
) -> sbgm_xla::Result<f64> {
    let config = Config::from_toml_str(text, &[] as &[String])?;
    let setup = Setup::new(&config)?;
    let state = setup.init_state()?;
    let layout = setup.layout(1);
    let data = Arc::new(setup.data.train.clone());
    let mut engine =
        setup.with_parts(|obj, opt| Engine::new(target, layout, obj, opt, &state, data, 0))?;
    engine.run(k)?;
    let t = Instant::now();
    let mut done = 0;
    while done < steps {
        let n = (steps - done).min(k);
        engine.run(n)?;
        done += n;
    }
    Ok(steps as f64 / t.elapsed().as_secs_f64())
}

fn main() -> sbgm_xla::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (steps, k) = (arg(&args, "--steps", 40), arg(&args, "--k", 10));
    let (batch, dim, n) = (
        arg(&args, "--batch", 128),
        arg(&args, "--dim", 16),
        arg(&args, "--images", 4096),
    );
    let dir = std::env::temp_dir().join(format!("sbgm-xla-bench-loader-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| sbgm_xla::Error::io(&dir, e))?;
    let path = dir.join("images.npy");
    // 8-bit images (N, 3, 32, 32), as a converted CIFAR-10 would be stored.
    let pixels: Vec<u8> = (0..n * 3072)
        .map(|i| ((i * 2_654_435_761usize) >> 13) as u8)
        .collect();
    let images = HostArray::from_bytes(sbgm_xla::DType::U8, vec![n, 3, 32, 32], pixels)?;
    sbgm_xla::io::npy::write_npy(&path, &images)?;
    let client = common::client(common::opt_value(&args, "--plugin"), 1)?;
    let (platform, device_kind) = common::platform_of(&client);
    let target = sbgm_xla::exec::Target::new(client);
    let p = path.to_string_lossy().into_owned();
    let resident = run(&target, &config(&p, false, batch, dim, k), steps, k)?;
    let streamed = run(&target, &config(&p, true, batch, dim, k), steps, k)?;
    let _ = std::fs::remove_dir_all(&dir);
    let out = serde_json::json!({
        "platform": platform,
        "device_kind": device_kind,
        "images": n,
        "batch": batch,
        "unet_dim": dim,
        "steps": steps,
        "steps_per_call": k,
        "resident_device_feed_steps_per_s": (resident * 100.0).round() / 100.0,
        "mapped_augmented_host_feed_steps_per_s": (streamed * 100.0).round() / 100.0,
        "ratio": (streamed / resident * 1000.0).round() / 1000.0,
    });
    println!("{out}");
    Ok(())
}
