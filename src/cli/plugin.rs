//! `sbgm-xla plugin list|install`: what is installed and found, and installing a plugin.

use super::output::outln;
use crate::pjrt::plugin::{self, KNOWN};
use clap::{Args, Subcommand};

/// Arguments of `sbgm-xla plugin`.
#[derive(Debug, Args)]
pub struct PluginArgs {
    #[command(subcommand)]
    pub command: PluginCommand,
}

/// `plugin` subcommands.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Show the known plugins, where they were found, and which one each platform uses.
    List,
    /// Install a plugin: cpu (the default CPU plugin), cpu-openxla, cuda12, cuda13 or tpu.
    Install {
        /// cpu | cpu-openxla | cuda12 | cuda13 | tpu
        name: String,
    },
}

/// Runs `sbgm-xla plugin ...`.
pub fn plugin(args: &PluginArgs) -> anyhow::Result<()> {
    match &args.command {
        PluginCommand::List => list(),
        PluginCommand::Install { name } => {
            let k = plugin::known(name)?;
            let path = plugin::install(k)?;
            outln!("{}: {}", k.name, path.display());
            Ok(())
        }
    }
}

fn list() -> anyhow::Result<()> {
    let found = plugin::find_all();
    outln!("cache: {}", plugin::cache_dir()?.display());
    if let Ok(p) = std::env::var("SBGM_XLA_PLUGIN")
        && !p.is_empty()
    {
        outln!("SBGM_XLA_PLUGIN: {p} (used by default)");
    }
    for k in KNOWN.iter() {
        outln!(
            "{:<12} {:<5} {}=={}: {}",
            k.name,
            k.platform,
            k.package,
            k.pin.version,
            k.about
        );
        let here: Vec<_> = found.iter().filter(|f| f.plugin.name == k.name).collect();
        if here.is_empty() {
            outln!(
                "             not installed (sbgm-xla plugin install {})",
                k.name
            );
        }
        for f in here {
            let note = if f.trusted() {
                ""
            } else {
                " (not picked by platform name; use it with --plugin PATH)"
            };
            outln!("             {}: {}{note}", f.location, f.path.display());
        }
    }
    for platform in plugin::PLATFORMS {
        match plugin::find(platform) {
            Some(f) => outln!("platform {platform}: {}", f.path.display()),
            None if platform == "cpu" => {
                outln!("platform {platform}: none yet (installed automatically on first use)")
            }
            None => outln!("platform {platform}: none"),
        }
    }
    Ok(())
}
