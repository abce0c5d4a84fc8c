//! Set-up shared by the benchmark examples: sbgm's reference moons model and SDE, and the
//! client (the one-device CPU client, or the plugin of `--plugin`). (Included with
//! `#[path = "common/mod.rs"] mod common;`.)
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

/// The client of `--plugin NAME|PATH` (`None`: the CPU plugin): a CPU plugin with
/// `cpu_devices` devices, any other (a GPU, say) with its own devices and default options
/// (create options such as `cpu_device_count` are the CPU plugin's only).
pub fn client(plugin: Option<&str>, cpu_devices: usize) -> Result<Client> {
    let spec = plugin.map_or(PluginSpec::Platform("cpu".into()), PluginSpec::parse);
    let cpu = ClientOptions::cpu_devices(cpu_devices.max(1));
    match &spec {
        PluginSpec::Platform(p) if p == "cpu" => Client::open(&spec, &cpu),
        PluginSpec::Platform(_) => Client::open(&spec, &ClientOptions::default()),
        _ => {
            // a library: its platform is known once it is open
            let client = Client::open(&spec, &ClientOptions::default())?;
            if client.platform_name() != "cpu" {
                return Ok(client);
            }
            drop(client);
            Client::open(&spec, &cpu)
        }
    }
}

/// The platform and the first device's kind, e.g. `("cuda", "NVIDIA H200")`, for reports.
pub fn platform_of(client: &Client) -> (String, String) {
    let kind = client
        .addressable_devices()
        .first()
        .map(|d| d.kind.clone())
        .unwrap_or_default();
    (client.platform_name().to_string(), kind)
}

/// The value after `name` in `args`, if any.
pub fn opt_value<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
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
