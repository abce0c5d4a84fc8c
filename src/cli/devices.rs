//! `sbgm-xla devices`: the plugin, its platform and version, StableHLO versions, the host
//! kernels in use (CPU) and the devices.

use super::RuntimeArgs;
use super::output::outln;
use clap::Args;

/// Arguments of `sbgm-xla devices`.
#[derive(Debug, Args)]
pub struct DevicesArgs {
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

/// Prints the client's plugin and devices.
pub fn devices(args: &DevicesArgs) -> anyhow::Result<()> {
    let client = args.runtime.client()?;
    let api = client.plugin();
    outln!("plugin:    {}", api.describe());
    outln!(
        "platform:  {} (version {})",
        client.platform_name(),
        client.platform_version()
    );
    let (min, cur) = api.stablehlo_versions();
    if let (Some(min), Some(cur)) = (min, cur) {
        outln!("stablehlo: {min} to {cur}");
    }
    for (name, value) in api.attributes() {
        if !name.starts_with("stablehlo_") {
            outln!("attribute: {name} = {value}");
        }
    }
    if client.platform_name() == "cpu" {
        let kernels = match crate::kernels::install(&client) {
            Some(target) => format!("AMX bf16 product ({target}) for --matmul-precision bf16"),
            None if crate::kernels::amx::available() => {
                "none (this plugin cannot register FFI handlers)".into()
            }
            None => "none (no AMX on this CPU, or SBGM_XLA_NO_AMX is set)".into(),
        };
        outln!("kernels:   {kernels}");
    }
    outln!(
        "devices:   {} ({} addressable, process {})",
        client.devices().len(),
        client.device_count(),
        client.process_index()
    );
    for (i, d) in client.addressable_devices().iter().enumerate() {
        outln!("  [{i}] {d}");
    }
    Ok(())
}
