//! Set-up shared by the benchmark examples: sbgm's reference moons model and SDE, and a
//! one-device CPU client. (Included with `#[path = "common/mod.rs"] mod common;`.)
#![allow(dead_code)]

use std::path::Path;

use sbgm_xla::HostArray;
use sbgm_xla::Result;
use sbgm_xla::io::read_eqx;
use sbgm_xla::nn::{ModelConfig, ScoreNet};
use sbgm_xla::pjrt::{Client, ClientOptions, PluginSpec};
use sbgm_xla::sde::{Schedule, Sde, SdeKind};

/// The CPU plugin with one device (as JAX on CPU).
pub fn cpu_client() -> Result<Client> {
    Client::open(
        &PluginSpec::Platform("cpu".into()),
        &ClientOptions::cpu_devices(1),
    )
}

/// A model's leaves: (Equinox path, array).
pub type Leaves = Vec<(String, HostArray)>;

/// sbgm's `ResidualNetwork(2, 256, 3, tanh)` with the leaves of `eqx` (an sbgm
/// `tree_serialise_leaves` file), or random ones.
pub fn moons_model(eqx: Option<&Path>) -> Result<(Box<dyn ScoreNet>, Leaves)> {
    let net = ModelConfig::from_toml(
        "kind = \"mlp\"\nwidth_size = 256\ndepth = 3\nin_size = 2\nactivation = \"tanh\"",
    )?
    .build()?;
    let leaves = match eqx {
        Some(p) => read_eqx(p, &net.skeleton())?,
        None => net.init(0)?,
    };
    Ok((net, leaves))
}

/// The VP SDE of sbgm's benchmarks: linear β 0.1..20, t0 = 1e-5, t1 = 1, dt = 0.01.
pub fn moons_sde() -> Result<Sde> {
    Sde::new(
        SdeKind::Vp,
        Schedule::Linear {
            beta_min: 0.1,
            beta_max: 20.0,
        },
        1e-5,
        1.0,
        0.01,
    )
}
