//! Times one DSM training step of a ~10M-parameter sbgm UNet (dim 64, dim_mults [1, 2, 4],
//! 4 heads of 32 channels, random Fourier time features, dropout 0.1) on 28×28 images:
//! tracing, StableHLO emission, XLA compilation and the first and later runs of
//! `value_and_grad` of sbgm's DSM loss (VP SDE, linear β 0.1..20) in training mode.
//!
//! Run: `cargo run --release --example unet_step -- [BATCH] [RUNS]` (defaults 16 and 3).

use std::time::Instant;

use sbgm_xla::graph::{Graph, Rng, Tensor, seed_key, value_and_grad};
use sbgm_xla::nn::{ApplyMode, ModelConfig, Params, array_values};
use sbgm_xla::pjrt::{Client, CompileOptions, Program};
use sbgm_xla::{DType, HostArray};

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let batch: usize = args.next().map_or(Ok(16), |s| s.parse())?;
    let runs: usize = args.next().map_or(Ok(3), |s| s.parse())?;
    let net = ModelConfig::from_toml(
        "kind = \"unet\"\ndim = 64\ndim_mults = [1, 2, 4]\ndata_shape = [1, 28, 28]\n\
         attn_heads = 4\nattn_dim_head = 32\nlearned_sinusoidal_cond = true\n\
         random_fourier_features = true\ndropout = 0.1",
    )?
    .build()?;
    let skel = net.skeleton();
    println!(
        "UNet: {} parameters in {} leaves",
        net.n_params(),
        skel.len()
    );

    let t0 = Instant::now();
    let g = Graph::new();
    let params = Params::declare(&g, &skel, "")?;
    let t = g.parameter("t", &[batch], DType::F32)?;
    let x = g.parameter("x", &[batch, 1, 28, 28], DType::F32)?;
    let eps = g.parameter("eps", &[batch, 1, 28, 28], DType::F32)?;
    let key = g.parameter("key", &[2], DType::U64)?;
    let mode = ApplyMode::train(Rng::new(&key)?);
    // VP SDE with B(t) = 0.1 t + 9.95 t^2: mean x e^{-B/2}, variance 1 - e^{-B}, sbgm's
    // default weight 1 - e^{-B}.
    let b = ((&t * 0.1)? + (t.sqr()? * 9.95)?)?;
    let decay = (b.neg()? * 0.5)?.exp()?;
    let var = (1.0 - b.neg()?.exp()?)?;
    let std = var.sqrt()?;
    let col = |v: &Tensor| v.reshape(&[batch, 1, 1, 1]);
    let y = ((&x * col(&decay)?)? + (&eps * col(&std)?)?)?;
    let s = net.apply(&params, &t, &y, None, None, &mode)?;
    let r = (s + (&eps / col(&std)?)?)?;
    let loss = (r.sqr()?.mean(&[1, 2, 3], false)? * var)?.mean_all()?;
    let (loss, grads) = value_and_grad(&loss, &params.tensors())?;
    let traced = t0.elapsed();
    let names: Vec<String> = (0..grads.len()).map(|i| format!("g{i}")).collect();
    let mut outs: Vec<(&str, &Tensor)> = vec![("loss", &loss)];
    outs.extend(names.iter().map(String::as_str).zip(grads.iter()));
    let module = g.build("unet_step", &outs)?;
    let built = t0.elapsed();
    println!(
        "trace {:.2} s, emit {:.2} s ({} nodes, {} lines of StableHLO)",
        traced.as_secs_f64(),
        (built - traced).as_secs_f64(),
        g.node_count(),
        module.text.lines().count()
    );

    let client = Client::cpu()?;
    let t1 = Instant::now();
    let exe = client.compile(&Program::text(module.text), &CompileOptions::default())?;
    println!("compile {:.2} s", t1.elapsed().as_secs_f64());

    let mut inputs = array_values(&skel, &net.init(0)?)?;
    let n = batch * 28 * 28;
    let wave = |k: f32| -> Vec<f32> { (0..n).map(|i| ((i as f32) * k).sin()).collect() };
    let times: Vec<f32> = (0..batch)
        .map(|i| (i as f32 + 0.5) / batch as f32)
        .collect();
    inputs.push(HostArray::from_vec(vec![batch], times)?);
    inputs.push(HostArray::from_vec(vec![batch, 1, 28, 28], wave(0.37))?);
    inputs.push(HostArray::from_vec(vec![batch, 1, 28, 28], wave(1.13))?);
    inputs.push(seed_key(1));
    for i in 0..runs.max(1) {
        let t2 = Instant::now();
        let out = exe.run_host(&inputs)?;
        println!(
            "run {i}: {:.3} s, loss {:.5}",
            t2.elapsed().as_secs_f64(),
            out[0].to_f64_vec()[0]
        );
    }
    println!(
        "first step (trace + emit + compile + run) done; peak RSS {:.0} MB",
        peak_rss_mb()
    );
    Ok(())
}
