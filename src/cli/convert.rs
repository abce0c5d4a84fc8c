//! `sbgm-xla convert IN OUT --config MODEL.toml`: between Equinox `.eqx` files and our
//! safetensors checkpoints (tensor names = Equinox leaf paths), checked against the model.
//!
//! The input is recognised by its content (`.eqx`, safetensors, or a training run directory,
//! whose EMA parameters are taken by default); the output format by the extension of OUT. A
//! safetensors output stores the model configuration in its metadata, so later commands need
//! no `--config`.

use super::output::outln;
use crate::io::outputs::{NamedPath, check_outputs};
use crate::io::{Checkpoint, save_checkpoint, tensor_name};
use crate::model::{CheckpointFormat, META_CONFIG, load_model, resolve_checkpoint};
use anyhow::Context;
use clap::Args;
use std::path::PathBuf;

/// Metadata key saying what a converted safetensors file holds.
pub const META_FORMAT: &str = "format";
/// Its value for a model (parameters only).
pub const MODEL_FORMAT: &str = "sbgm-xla/model/1";

/// Arguments of `sbgm-xla convert`.
#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// The input checkpoint: .eqx, .safetensors, or a training run directory.
    pub input: PathBuf,
    /// The output file: .eqx (Equinox tree_serialise_leaves) or .safetensors.
    pub output: PathBuf,
    /// The model configuration (TOML [model] section, training config, or sbgm JSON config);
    /// optional when the input is a safetensors file that stores it.
    #[arg(long, value_name = "MODEL.toml")]
    pub config: Option<PathBuf>,
    /// Which tensor group of a safetensors input to read (`params`, `ema`; default: plain leaf
    /// names, else `ema`, else `params`).
    #[arg(long, value_name = "NAME")]
    pub group: Option<String>,
    /// Group prefix of the tensor names in a safetensors output (default: none).
    #[arg(long, value_name = "NAME", default_value = "")]
    pub out_group: String,
}

/// Runs `sbgm-xla convert`.
pub fn convert(args: &ConvertArgs) -> anyhow::Result<()> {
    let out_format = match args.output.extension().and_then(|e| e.to_str()) {
        Some("eqx") => CheckpointFormat::Eqx,
        Some("safetensors") => CheckpointFormat::Safetensors,
        _ => anyhow::bail!(
            "{}: the output must end in .eqx (Equinox) or .safetensors",
            args.output.display()
        ),
    };
    let mut inputs = vec![NamedPath::new("IN", resolve_checkpoint(&args.input)?)];
    inputs.extend(NamedPath::given([("--config", args.config.as_deref())]));
    check_outputs(&inputs, &[NamedPath::new("OUT", &args.output)])?;
    let mut model = load_model(&args.input, args.config.as_deref(), args.group.as_deref())?;
    let n_leaves = model.leaves.len();
    match out_format {
        CheckpointFormat::Eqx => model.write_eqx(&args.output)?,
        CheckpointFormat::Safetensors => {
            // The leaves move into the checkpoint (no copy of the data).
            let group = args.out_group.trim_end_matches('.');
            let mut ck = Checkpoint::new();
            ck.tensors = std::mem::take(&mut model.leaves)
                .into_iter()
                .map(|(path, a)| (tensor_name(group, &path), a))
                .collect();
            ck.set_meta(META_FORMAT, MODEL_FORMAT);
            model.info().write_metadata(&mut ck, META_CONFIG)?;
            save_checkpoint(&args.output, &ck)?;
        }
    }
    let size = std::fs::metadata(&args.output)
        .with_context(|| format!("reading back {}", args.output.display()))?
        .len();
    outln!("read:  {}", model.describe());
    outln!(
        "wrote: {} ({:?}, {} leaves, {size} bytes)",
        args.output.display(),
        out_format,
        n_leaves
    );
    Ok(())
}
