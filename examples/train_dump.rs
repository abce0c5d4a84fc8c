//! Prints the StableHLO of the moons training program (debugging aid).
use sbgm_xla::graph::GraphOptions;
use sbgm_xla::train::{Config, Setup, step::build_step};
fn main() -> sbgm_xla::Result<()> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/configs/moons.toml"))
        .unwrap();
    let cfg = Config::from_toml_str(&text, &[] as &[&str])?;
    let setup = Setup::new(&cfg)?;
    let layout = setup.layout(1);
    let p = setup
        .with_parts(|o, u| build_step(&layout, GraphOptions::precision(layout.precision), o, u))?;
    println!("{}", p.module.text);
    Ok(())
}
