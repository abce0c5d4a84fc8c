//! Input pipeline benchmark: sbgm's UNet on 32×32×3 images (the batch of
//! configs/cifar10.toml, a smaller UNet by default), trained from a memory-mapped `.npy`
//! (`[data] resident = false`) with sbgm's CIFAR/Flowers augmentations (reflect-padded random
//! crop, flips) through the host feed's prefetch queue, against the same training with the
//! data already resident on the device (device feed, no augmentation). Runs `--pairs`
//! alternating resident/streamed measurements (so that a change in the machine's load hits
//! both alike), prints each pair's ratio of steps/s, one JSON line per variant with every
//! pair's steps/s, and a summary line with the median ratio (the loader should reach at least
//! 0.95) and the load average (`/proc/loadavg`) at the start and the end.
//!
//! ```text
//! cargo run --release --example bench_loader -- [--steps 40] [--k 10] [--batch 128]
//!     [--dim 16] [--images 4096] [--pairs 3] [--plugin cpu|cuda|PATH]
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

/// An engine for the config `text`, its first call (which compiles and warms up) done.
fn engine(target: &sbgm_xla::exec::Target, text: &str, k: usize) -> sbgm_xla::Result<Engine> {
    let config = Config::from_toml_str(text, &[] as &[String])?;
    let setup = Setup::new(&config)?;
    let state = setup.init_state()?;
    let layout = setup.layout(1);
    let data = Arc::new(setup.data.train.clone());
    let mut engine =
        setup.with_parts(|obj, opt| Engine::new(target, layout, obj, opt, &state, data, 0))?;
    engine.run(k)?;
    Ok(engine)
}

/// Steps per second of `steps` more steps of `engine`, in calls of `k`.
fn steps_per_s(engine: &mut Engine, steps: usize, k: usize) -> sbgm_xla::Result<f64> {
    let t = Instant::now();
    let mut done = 0;
    while done < steps {
        let n = (steps - done).min(k);
        engine.run(n)?;
        done += n;
    }
    Ok(steps as f64 / t.elapsed().as_secs_f64())
}

/// The load average over the last 1, 5 and 15 minutes (as `uptime` shows it).
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    }
}

fn round(v: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (v * f).round() / f
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
    let pairs = arg(&args, "--pairs", 3).max(1);
    let load_start = load_average();
    eprintln!("load average at start: {load_start}");
    // Both engines are built (and compiled) first; the measurements then alternate.
    let mut resident = engine(&target, &config(&p, false, batch, dim, k), k)?;
    let mut streamed = engine(&target, &config(&p, true, batch, dim, k), k)?;
    let (mut res, mut str_) = (Vec::new(), Vec::new());
    for pair in 0..pairs {
        res.push(steps_per_s(&mut resident, steps, k)?);
        str_.push(steps_per_s(&mut streamed, steps, k)?);
        eprintln!(
            "pair {}: resident {:.3} steps/s, streamed {:.3} steps/s, ratio {:.3}",
            pair + 1,
            res[pair],
            str_[pair],
            str_[pair] / res[pair]
        );
    }
    drop((resident, streamed));
    let _ = std::fs::remove_dir_all(&dir);
    let load_end = load_average();
    let ratios: Vec<f64> = res.iter().zip(&str_).map(|(r, s)| s / r).collect();
    let common = serde_json::json!({
        "platform": platform,
        "device_kind": device_kind,
        "images": n,
        "batch": batch,
        "unet_dim": dim,
        "steps": steps,
        "steps_per_call": k,
        "pairs": pairs,
    });
    for (variant, v) in [
        ("resident_device_feed", &res),
        ("mapped_augmented_host_feed", &str_),
    ] {
        let mut line = common.clone();
        line["variant"] = variant.into();
        line["steps_per_s"] = v.iter().map(|&x| round(x, 3)).collect::<Vec<_>>().into();
        line["median_steps_per_s"] = round(median(v), 3).into();
        println!("{line}");
    }
    let mut summary = common;
    summary["ratios"] = ratios
        .iter()
        .map(|&x| round(x, 3))
        .collect::<Vec<_>>()
        .into();
    summary["median_ratio"] = round(median(&ratios), 3).into();
    summary["load_average_start"] = load_start.into();
    summary["load_average_end"] = load_end.into();
    println!("{summary}");
    Ok(())
}
