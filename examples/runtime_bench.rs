//! Runtime figures: compile time of a small module, host <-> device transfer rate for a 64 MiB
//! f32 array, and the cost of one empty execute call.
//!
//! `cargo run --release --example runtime_bench` (plugin: `SBGM_XLA_PLUGIN`, default CPU).

use sbgm_xla::HostArray;
use sbgm_xla::pjrt::{Client, ClientOptions, CompileOptions, PluginSpec, Program};
use std::time::Instant;

const SMALL: &str = r#"
module @small {
  func.func public @main(%x: tensor<64x32xf32>, %w: tensor<32x16xf32>) -> tensor<64x16xf32> {
    %0 = stablehlo.dot_general %x, %w, contracting_dims = [1] x [0] : (tensor<64x32xf32>, tensor<32x16xf32>) -> tensor<64x16xf32>
    %1 = stablehlo.tanh %0 : tensor<64x16xf32>
    return %1 : tensor<64x16xf32>
  }
}
"#;

const EMPTY: &str = r#"
module @empty {
  func.func public @main() -> () {
    return
  }
}
"#;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() -> sbgm_xla::Result<()> {
    let t = Instant::now();
    let client = Client::open(&PluginSpec::Default, &ClientOptions::default())?;
    println!(
        "plugin {} on {} ({} devices); load + client: {:.0} ms",
        client.plugin().describe(),
        client.platform_name(),
        client.device_count(),
        t.elapsed().as_secs_f64() * 1e3
    );

    // Compile time of a small module (dot_general + tanh).
    let program = Program::text(SMALL);
    let mut times = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        let exe = client.compile(&program, &CompileOptions::default())?;
        times.push(t.elapsed().as_secs_f64());
        drop(exe);
    }
    println!(
        "compile small module: median {:.1} ms (10 runs)",
        median(times) * 1e3
    );

    // Host <-> device for a 64 MiB f32 array.
    let n = 16 << 20;
    let host = HostArray::from_vec(vec![n], (0..n).map(|i| i as f32).collect())?;
    let mib = (n * 4) as f64 / (1024.0 * 1024.0);
    let (mut up, mut down) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let t = Instant::now();
        let b = client.buffer_from_host(&host, 0)?;
        b.block_until_ready()?;
        up.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let back = b.to_host()?;
        down.push(t.elapsed().as_secs_f64());
        assert_eq!(back.bytes().len(), n * 4);
    }
    let (up, down) = (median(up), median(down));
    println!(
        "64 MiB f32 host->device: {:.1} ms ({:.2} GiB/s); device->host: {:.1} ms ({:.2} GiB/s)",
        up * 1e3,
        mib / 1024.0 / up,
        down * 1e3,
        mib / 1024.0 / down
    );

    // One empty execute call (no arguments, no outputs), waited for.
    let exe = client.compile(&Program::text(EMPTY), &CompileOptions::default())?;
    for _ in 0..100 {
        exe.execute(&[vec![]])?;
    }
    let reps = 2000;
    let t = Instant::now();
    for _ in 0..reps {
        exe.execute(&[vec![]])?;
    }
    println!(
        "empty execute: {:.1} us per call ({reps} calls)",
        t.elapsed().as_secs_f64() / reps as f64 * 1e6
    );
    Ok(())
}
