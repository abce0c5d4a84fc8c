//! Times the decoded-image cache on a generated image folder:
//! `cargo run --release --example bench_image_cache -- [DIR] [N] [SIDE] [N_PIX]` (default
//! `/tmp/sbgm-xla-bench-images`, 2000 JPEGs of 64x64 in 10 classes, resized to 32). Reports
//! a decode without the cache, the first load (decode into the cache), and later loads read
//! into memory and memory-mapped (cache hits).

use std::path::PathBuf;
use std::time::Instant;

use sbgm_xla::data::image_cache::CacheUse;
use sbgm_xla::data::images::{ImageOptions, load_image_folder};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "/tmp/sbgm-xla-bench-images".into()),
    );
    let mut num = |default: u32| args.next().and_then(|a| a.parse().ok()).unwrap_or(default);
    let (n, side, n_pix) = (num(2000), num(64), num(32) as usize);
    let folder = dir.join("folder");
    let cache = dir.join("cache");
    if !folder.is_dir() {
        write_jpegs(&folder, n, side)?;
    }
    let _ = std::fs::remove_dir_all(&cache);
    let opts = |cache: Option<PathBuf>, resident| ImageOptions {
        n_pix,
        cache,
        resident,
    };
    let time = |what: &str, o: &ImageOptions, want: CacheUse| -> Result<(), sbgm_xla::Error> {
        let t = Instant::now();
        let (ds, report) = load_image_folder(&folder, o)?;
        let s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let x = ds.x();
        let all = t.elapsed().as_secs_f64();
        let sum: f64 = x.iter().map(|&v| v as f64).sum();
        assert_eq!(report.cache, want, "{what}");
        println!(
            "{what:<28} {:>7.1} ms, then the whole array as f32 {:>5.1} ms  ({} images, mapped \
             {}, pixel sum {sum:.0})",
            s * 1e3,
            all * 1e3,
            ds.len(),
            report.mapped
        );
        Ok(())
    };
    println!(
        "{n} JPEGs of {side}x{side} in {} resized to {n_pix}",
        folder.display()
    );
    time(
        "no cache (decode in memory)",
        &opts(None, Some(true)),
        CacheUse::Uncached,
    )?;
    time(
        "first load (decode, write)",
        &opts(Some(cache.clone()), Some(true)),
        CacheUse::Built,
    )?;
    time(
        "cache hit, read",
        &opts(Some(cache.clone()), Some(true)),
        CacheUse::Hit,
    )?;
    time(
        "cache hit, mapped",
        &opts(Some(cache), Some(false)),
        CacheUse::Hit,
    )?;
    Ok(())
}

/// `n` smooth pictures of `side × side` as JPEGs in 10 class folders.
fn write_jpegs(
    folder: &std::path::Path,
    n: u32,
    side: u32,
) -> Result<(), Box<dyn std::error::Error>> {
    for i in 0..n {
        let class = folder.join(format!("class{}", i % 10));
        std::fs::create_dir_all(&class)?;
        let img = image::RgbImage::from_fn(side, side, |x, y| {
            let f = |k: u32| {
                let v = ((x * (k + 1) + y * (i % 7 + k) + i * 13) % 256) as f32;
                (v * 0.7 + 40.0) as u8
            };
            image::Rgb([f(0), f(1), f(2)])
        });
        img.save(class.join(format!("{i:05}.jpg")))?;
    }
    Ok(())
}
