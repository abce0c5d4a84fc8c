//! `sbgm-xla data`: write the arrays a training config prepares, as training sees them.

use std::path::PathBuf;

use clap::Args;

use crate::cli::output::outln;
use crate::data::Split;
use crate::io::outputs::{NamedPath, check_outputs};
use crate::train::Config;

/// Arguments of `sbgm-xla data`.
#[derive(Debug, Args)]
pub struct DataArgs {
    /// The training config whose [data] section to prepare.
    #[arg(long, value_name = "FILE.toml")]
    pub config: PathBuf,
    /// The .npz to write: x, and q, a and labels where the set has them, after the configured
    /// scaling (with scaling = "none", 8-bit images as value/255), in (N, C, H, W) order.
    #[arg(long, value_name = "D.npz")]
    pub out: PathBuf,
    /// Which split: the training split or the held-out one.
    #[arg(long, value_enum, default_value_t = Split::Train)]
    pub split: Split,
    /// Override a config value, e.g. --set data.n=100 (repeatable).
    #[arg(long = "set", value_name = "SECTION.KEY=VALUE")]
    pub set: Vec<String>,
}

/// Runs `sbgm-xla data`.
pub fn data_cmd(args: &DataArgs) -> anyhow::Result<()> {
    check_outputs(
        &[NamedPath::new("--config", &args.config)],
        &[NamedPath::new("--out", &args.out)],
    )?;
    let config = Config::from_file(&args.config, &args.set)?;
    let arrays = config.data.load()?.arrays(args.split)?;
    crate::io::write_npz(&args.out, &arrays, true)?;
    let listing: Vec<String> = arrays
        .iter()
        .map(|(n, a)| format!("{n} {}{:?}", a.dtype(), a.shape()))
        .collect();
    outln!("wrote {}: {}", args.out.display(), listing.join(", "));
    Ok(())
}
