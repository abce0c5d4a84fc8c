//! Probe: f32 vs bf16 matmul throughput of the CPU plugin inside a while loop (the training
//! step on moons is bound by f32 dot throughput; run with `cargo run --release --example
//! train_dot_probe`).
use sbgm_xla::graph::Graph;
use sbgm_xla::pjrt::{Client, CompileOptions, Program};
use sbgm_xla::{DType, HostArray};
fn main() -> sbgm_xla::Result<()> {
    let c = Client::cpu()?;
    for dt in [DType::F32, DType::BF16] {
        let g = Graph::new();
        let x = g.parameter("x", &[256, 256], DType::F32)?;
        let w = g.parameter("w", &[256, 256], DType::F32)?;
        let wd = w.convert(dt)?;
        let out = g.fori_loop(0, 1000, std::slice::from_ref(&x), |_, v| {
            let y = v[0].convert(dt)?.matmul(&wd)?.convert(DType::F32)?;
            Ok(vec![(y * 0.01)?.tanh()?])
        })?;
        let m = g.build("probe", &[("y", &out[0])])?;
        let exe = c.compile(&Program::text(m.text), &CompileOptions::default())?;
        let a = HostArray::from_vec(vec![256, 256], vec![0.5f32; 65536])?;
        exe.run_host(&[a.clone(), a.clone()])?;
        let t = std::time::Instant::now();
        exe.run_host(&[a.clone(), a])?;
        let s = t.elapsed().as_secs_f64();
        println!(
            "{dt}: {:.1} GFLOP/s",
            1000.0 * 2.0 * 256f64.powi(3) / s / 1e9
        );
    }
    Ok(())
}
