//! Measures checkpoint throughput: writes and loads a 100 MB safetensors checkpoint and the
//! same leaves as an Equinox `.eqx` file, and prints MB/s.
//!
//! `cargo run --release --example io_bench [-- DIR]` (default: the system temp directory).
//! The file is read right after being written, so it usually comes from the page cache: the
//! figures bound the parsing cost, not the disk.

use sbgm_xla::HostArray;
use sbgm_xla::io::{Checkpoint, LeafSpec, load_checkpoint, read_eqx, save_checkpoint, write_eqx};
use std::time::Instant;

fn main() -> sbgm_xla::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join(format!("sbgm-xla-io-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| sbgm_xla::Error::io(&dir, e))?;

    // 100 MB of f32 in 50 tensors of 512k elements (a plausible model's leaf sizes).
    let (n_tensors, n_el) = (50usize, 524_288usize);
    let mut leaves = Vec::new();
    let mut skeleton = Vec::new();
    for i in 0..n_tensors {
        let path = format!(".layers[{i}].weight");
        let data: Vec<f32> = (0..n_el).map(|j| (i * n_el + j) as f32 * 1e-3).collect();
        leaves.push((path.clone(), HostArray::from_vec(vec![512, 1024], data)?));
        skeleton.push(LeafSpec::array(path, sbgm_xla::DType::F32, vec![512, 1024]));
    }
    let mb = (n_tensors * n_el * 4) as f64 / 1e6;
    let mut ck = Checkpoint::new();
    ck.insert_leaves("params", &leaves)?;
    ck.set_meta("step", "1000");

    let st = dir.join("bench.safetensors");
    let t = Instant::now();
    save_checkpoint(&st, &ck)?;
    let save = t.elapsed().as_secs_f64();
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let t = Instant::now();
        let back = load_checkpoint(&st)?;
        best = best.min(t.elapsed().as_secs_f64());
        assert_eq!(back.tensors.len(), n_tensors);
    }
    let mut raw = f64::INFINITY;
    for _ in 0..3 {
        let t = Instant::now();
        let bytes = std::fs::read(&st).map_err(|e| sbgm_xla::Error::io(&st, e))?;
        raw = raw.min(t.elapsed().as_secs_f64());
        assert!(bytes.len() > n_tensors * n_el * 4);
    }
    println!(
        "raw std::fs::read of the file: {:.0} MB/s (best of 3)",
        mb / raw
    );
    println!(
        "safetensors {mb:.0} MB: save {:.0} MB/s, load {:.0} MB/s (best of 3)",
        mb / save,
        mb / best
    );

    let eqx = dir.join("bench.eqx");
    let t = Instant::now();
    write_eqx(&eqx, &leaves)?;
    let save = t.elapsed().as_secs_f64();
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let t = Instant::now();
        let back = read_eqx(&eqx, &skeleton)?;
        best = best.min(t.elapsed().as_secs_f64());
        assert_eq!(back.len(), n_tensors);
    }
    println!(
        "eqx         {mb:.0} MB: save {:.0} MB/s, load {:.0} MB/s (best of 3)",
        mb / save,
        mb / best
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
