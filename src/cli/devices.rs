//! `sbgm-xla devices`: the plugin, its platform and version, StableHLO versions, the host
//! kernels in use (CPU), this process's place in the job, its devices and the job's (global)
//! devices per process.

use super::RuntimeArgs;
use super::output::outln;
use crate::pjrt::Device;
use crate::pjrt::assignment::{devices_per_process, global_order};
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
    let set = args.runtime.process_set()?;
    outln!("process:   {}", set.describe());
    outln!(
        "devices:   {} ({} addressable, process {})",
        client.devices().len(),
        client.device_count(),
        client.process_index()
    );
    for (i, d) in client.addressable_devices().iter().enumerate() {
        outln!("  [{i}] {d}");
    }
    outln!("global:    {}", global_view(client.devices()));
    for d in global_order(client.devices()) {
        if !d.addressable {
            outln!("  [-] {d}");
        }
    }
    Ok(())
}

/// The job's devices per process, in the order programs use them:
/// `process 0: 2 devices (ids 0, 1); process 1: 2 devices (ids 2, 3)`.
fn global_view(devices: &[Device]) -> String {
    let order = global_order(devices);
    devices_per_process(devices)
        .keys()
        .map(|p| {
            let ids: Vec<String> = order
                .iter()
                .filter(|d| d.process_index == *p)
                .map(|d| d.id.to_string())
                .collect();
            let s = if ids.len() == 1 { "" } else { "s" };
            format!(
                "process {p}: {} device{s} (ids {})",
                ids.len(),
                ids.join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}
