//! Build f, take its gradient, compile, run: the graph builder in twenty lines.
//!
//! `cargo run --release --example graph_quickstart`

use sbgm_xla::exec::Target;
use sbgm_xla::graph::{Graph, grad};
use sbgm_xla::{DType, HostArray, Result};

fn main() -> Result<()> {
    // f(w) = mean(tanh(x w)^2) for a data matrix x
    let g = Graph::new();
    let x = g.parameter("x", &[4, 3], DType::F32)?;
    let w = g.parameter("w", &[3, 2], DType::F32)?;
    let loss = x.matmul(&w)?.tanh()?.sqr()?.mean_all()?;
    let dw = grad(&loss, &[&w])?;
    let module = g.build("quickstart", &[("loss", &loss), ("dw", &dw[0])])?;
    println!("{}", module.text);

    let ex = Target::cpu()?;
    let xs = HostArray::from_vec(vec![4, 3], (0..12).map(|i| i as f32 / 10.0).collect())?;
    let ws = HostArray::from_vec(vec![3, 2], vec![0.1f32, -0.2, 0.3, 0.0, -0.1, 0.2])?;
    let out = ex.run(&module, &[xs, ws])?;
    println!("loss = {:?}", out[0].to_vec::<f32>()?);
    println!("dloss/dw = {:?}", out[1].to_vec::<f32>()?);
    Ok(())
}
