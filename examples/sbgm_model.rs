//! A model trained with sbgm (JAX), used from Rust: load its Equinox `.eqx` file with its
//! config, draw samples with an ODE solver and compute their exact log-likelihoods.
//!
//!   cargo run --release --example sbgm_model -- [MODEL.eqx CONFIG] [N]
//!
//! (default: the ResidualNetwork sbgm exported in tests/fixtures/models/mlp_none, 8 samples).
use sbgm_xla::model::{Model, Options};
use sbgm_xla::sample::{HostCond, LoglikConfig, SamplerConfig, SamplerKind};
use sbgm_xla::sde::SdeConfig;

fn main() -> Result<(), sbgm_xla::Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/models/mlp_none"
    );
    let (eqx, config) = match &args[..] {
        [e, c, ..] => (e.clone(), c.clone()),
        _ => (
            format!("{fixture}/model.eqx"),
            format!("{fixture}/config.json"),
        ),
    };
    let n = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(8);
    let mut model = Model::load_with_config(&eqx, &config)?;
    // An sbgm JSON config names the network only; a TOML config would bring its [sde].
    model.sde.get_or_insert_with(SdeConfig::default);
    println!("{}", model.describe());

    let target = sbgm_xla::exec::Target::cpu()?;
    let opts = Options::default();
    let sampler = SamplerConfig::new(SamplerKind::Tsit5);
    let samples = model.sample(&target, &sampler, n, &HostCond::none(), &opts)?;
    let x = samples.x.to_ndarray::<f32>()?;
    let ll = model.loglik(
        &target,
        &LoglikConfig::default(),
        &x,
        HostCond::none(),
        &opts,
    )?;
    for (i, logp) in ll.logp.iter().enumerate() {
        let xi: Vec<f32> = x.index_axis(ndarray::Axis(0), i).iter().copied().collect();
        println!("sample {i}: x = {xi:?}, log p(x) = {logp:.3}");
    }
    Ok(())
}
