//! Benchmark of the graph builder: trace, differentiate and emit the training step of a
//! UNet-like score network with about 10M parameters, then compile it on the CPU plugin.
//!
//! `cargo run --release --example graph_bench [-- --no-compile] [--run] [--forward-only]
//! [--write FILE]`; `BENCH_CHAIN=1` swaps the UNet for a plain chain of 12 conv/norm/silu
//! blocks (used to compare compile times with the same network lowered by JAX).

use std::time::Instant;

use sbgm_xla::exec::Target;
use sbgm_xla::graph::{Graph, Tensor, grad};
use sbgm_xla::{DType, HostArray, Result};

struct Params<'a> {
    g: &'a Graph,
    list: Vec<Tensor>,
    count: usize,
}

impl Params<'_> {
    fn p(&mut self, name: &str, dims: &[usize]) -> Result<Tensor> {
        let t = self
            .g
            .parameter(&format!("p{}.{name}", self.list.len()), dims, DType::F32)?;
        self.count += t.elem_count();
        self.list.push(t.clone());
        Ok(t)
    }
    fn conv(
        &mut self,
        x: &Tensor,
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
    ) -> Result<Tensor> {
        let w = self.p("conv.weight", &[cout, cin, k, k])?;
        let b = self.p("conv.bias", &[cout, 1, 1])?;
        x.conv2d(&w, stride, k / 2, 1, 1)? + b
    }
    fn norm(&mut self, x: &Tensor, c: usize) -> Result<Tensor> {
        let w = self.p("norm.weight", &[c])?;
        let b = self.p("norm.bias", &[c])?;
        x.group_norm(8, Some(&w), Some(&b), 1e-5)
    }
    /// Residual block with a time embedding added after the first convolution.
    fn block(&mut self, x: &Tensor, temb: &Tensor, cin: usize, cout: usize) -> Result<Tensor> {
        let h = self.norm(x, cin)?.silu()?;
        let h = self.conv(&h, cin, cout, 3, 1)?;
        let w = self.p("temb.weight", &[temb.dims()[1], cout])?;
        let t = temb.matmul(&w)?.reshape(&[temb.dims()[0], cout, 1, 1])?;
        let h = (h + t)?;
        let h = self.norm(&h, cout)?.silu()?;
        let h = self.conv(&h, cout, cout, 3, 1)?;
        let skip = if cin == cout {
            x.clone()
        } else {
            self.conv(x, cin, cout, 1, 1)?
        };
        h + skip
    }
}

fn unet(ps: &mut Params, x: &Tensor, t: &Tensor) -> Result<Tensor> {
    let n = x.dims()[0];
    // sinusoidal time features -> MLP
    let half = 64;
    let freqs = ps.g.constant_f64(
        &[1, half],
        &(0..half)
            .map(|i| (-(10000f64.ln()) * i as f64 / half as f64).exp())
            .collect::<Vec<_>>(),
        DType::F32,
    )?;
    let arg = t.reshape(&[n, 1])?.matmul(&freqs)?;
    let temb = Tensor::cat(&[&arg.sin()?, &arg.cos()?], 1)?;
    let w1 = ps.p("time.0.weight", &[2 * half, 256])?;
    let w2 = ps.p("time.1.weight", &[256, 256])?;
    let temb = temb.matmul(&w1)?.silu()?.matmul(&w2)?;
    let chans = [64, 128, 192, 256];
    let mut h = ps.conv(x, 1, chans[0], 3, 1)?;
    let mut skips = vec![];
    let mut c = chans[0];
    for (i, &co) in chans.iter().enumerate() {
        h = ps.block(&h, &temb, c, co)?;
        h = ps.block(&h, &temb, co, co)?;
        c = co;
        skips.push(h.clone());
        if i + 1 < chans.len() {
            h = ps.conv(&h, c, c, 3, 2)?;
        }
    }
    h = ps.block(&h, &temb, c, c)?;
    for (i, &co) in chans.iter().enumerate().rev() {
        let s = skips.pop().unwrap();
        h = Tensor::cat(&[&h, &s], 1)?;
        h = ps.block(&h, &temb, c + co, co)?;
        c = co;
        if i > 0 {
            let w = ps.p("up.weight", &[c, c, 4, 4])?;
            h = h.conv_transpose2d(&w, 2, 1, 0, 1)?;
        }
    }
    let h = ps.norm(&h, c)?.silu()?;
    ps.conv(&h, c, 1, 3, 1)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (batch, size) = (8, 32);
    let t0 = Instant::now();
    let g = Graph::new();
    let x = g.parameter("x", &[batch, 1, size, size], DType::F32)?;
    let eps = g.parameter("eps", &[batch, 1, size, size], DType::F32)?;
    let t = g.parameter("t", &[batch], DType::F32)?;
    let mut ps = Params {
        g: &g,
        list: vec![],
        count: 0,
    };
    // a DSM-like loss: || s(x + sigma eps, t) * sigma + eps ||^2
    let sigma = ((t.reshape(&[batch, 1, 1, 1])? * 0.9)? + 0.1)?;
    let y = (&x + (&eps * &sigma)?)?;
    let s = if std::env::var("BENCH_CHAIN").is_ok() {
        // calibration: 12 x [conv 3x3 64->64 + bias, group norm, silu]
        let mut h = ps.conv(&y, 1, 64, 3, 1)?;
        for _ in 0..12 {
            h = ps.conv(&h, 64, 64, 3, 1)?;
            h = ps.norm(&h, 64)?.silu()?;
        }
        ps.conv(&h, 64, 1, 3, 1)?
    } else {
        unet(&mut ps, &y, &t)?
    };
    let loss = ((s * sigma)? + &eps)?.sqr()?.mean_all()?;
    let t_trace = t0.elapsed();
    let t1 = Instant::now();
    let refs: Vec<&Tensor> = ps.list.iter().collect();
    let grads = grad(&loss, &refs)?;
    // an SGD update so that every gradient is used
    let new: Vec<Tensor> = ps
        .list
        .iter()
        .zip(&grads)
        .map(|(p, g)| p - (g * 1e-3)?)
        .collect::<Result<_>>()?;
    let t_grad = t1.elapsed();
    let t2 = Instant::now();
    let mut outs: Vec<(String, &Tensor)> = vec![("loss".into(), &loss)];
    for (i, n) in new.iter().enumerate() {
        outs.push((format!("new{i}"), n));
    }
    let named: Vec<(&str, &Tensor)> = outs.iter().map(|(n, t)| (n.as_str(), *t)).collect();
    let m = if args.iter().any(|a| a == "--forward-only") {
        g.build("unet_loss", &[("loss", &loss)])?
    } else {
        g.build("unet_train_step", &named)?
    };
    let t_emit = t2.elapsed();
    println!(
        "parameters: {} ({} tensors), graph nodes: {}, text: {} KiB, {} lines",
        ps.count,
        ps.list.len(),
        g.node_count(),
        m.text.len() / 1024,
        m.text.lines().count()
    );
    println!("trace forward + loss: {:?}", t_trace);
    println!("differentiate:        {:?}", t_grad);
    println!("emit StableHLO:       {:?}", t_emit);
    println!("trace + grad + emit:  {:?}", t0.elapsed());
    if let Some(i) = args.iter().position(|a| a == "--write") {
        std::fs::write(&args[i + 1], &m.text).map_err(|e| sbgm_xla::Error::io(&args[i + 1], e))?;
    }
    if args.iter().any(|a| a == "--no-compile") {
        return Ok(());
    }
    let ex = Target::cpu()?;
    let t3 = Instant::now();
    let exe = ex.compile(&m)?;
    println!("compile (CPU plugin): {:?}", t3.elapsed());
    if args.iter().any(|a| a == "--run") {
        let inputs: Vec<HostArray> = m
            .args
            .iter()
            .map(|(_, s)| {
                let v: Vec<f32> = (0..s.elem_count())
                    .map(|i| ((i * 7919 % 1000) as f32 / 1000.0 - 0.5) * 0.1)
                    .collect();
                HostArray::from_vec(s.dims.clone(), v)
            })
            .collect::<Result<_>>()?;
        let t4 = Instant::now();
        let out = exe.run(&inputs)?;
        println!(
            "one step:             {:?} (loss {})",
            t4.elapsed(),
            out[0].to_f64_vec()[0]
        );
    }
    Ok(())
}
