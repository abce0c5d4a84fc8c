//! `sbgm-xla inspect FILE [--config MODEL.toml]`: the names, shapes and dtypes a checkpoint or
//! array file holds, and its parameter count, read from the headers only.
//!
//! Safetensors, `.npy`, `.npz` and Equinox `.eqx` files (the records of an `.eqx` file are named
//! by the model's leaf paths when the model configuration is given, else `record[i]`). With a
//! configuration (or one stored in a safetensors file) it also says whether the file holds
//! that model.

use super::output::outln;
use crate::io::{FileFormat, inspect};
use crate::model::{model_of_file, named, report_holds_model, resolve_checkpoint, stored_model};
use crate::nn::ScoreNet;
use anyhow::Context;
use clap::Args;
use std::path::PathBuf;

/// Arguments of `sbgm-xla inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The file: .safetensors, .eqx, .npy, .npz (or a training run directory).
    pub file: PathBuf,
    /// The model configuration (TOML [model] section, training config, or sbgm JSON config):
    /// names the records of an .eqx file and checks the file against the model.
    #[arg(long, value_name = "MODEL.toml")]
    pub config: Option<PathBuf>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Runs `sbgm-xla inspect`.
pub fn inspect_cmd(args: &InspectArgs) -> anyhow::Result<()> {
    let file = resolve_checkpoint(&args.file)?;
    let net: Option<Box<dyn ScoreNet>> = match &args.config {
        Some(c) => Some(model_of_file(c)?.model.build()?),
        None => None,
    };
    let skeleton = net.as_ref().map(|n| n.skeleton());
    let probe = inspect(&file, None).map_err(|e| named(e, &file))?;
    let report = if probe.format == FileFormat::Eqx && skeleton.is_some() {
        inspect(&file, skeleton.as_deref()).with_context(|| {
            format!(
                "{} is not a checkpoint of the configured model",
                file.display()
            )
        })?
    } else {
        probe
    };
    // The model the file is checked against: the given one, else the one stored in it (its
    // data never loaded).
    let net = match net {
        Some(n) => Some(n),
        None => stored_model(&report.metadata, &file)
            .and_then(|m| m.model.build())
            .ok(),
    };
    let model = net
        .as_ref()
        .map(|n| report_holds_model(n.as_ref(), &report));
    if args.json {
        let mut v = report.to_json();
        if let (Some(net), Some(m)) = (&net, &model) {
            v["model"] = serde_json::json!({
                "class": net.name(),
                "n_params": net.n_params(),
                "matches": m.is_ok(),
                "message": match m { Ok(s) | Err(s) => s },
            });
        }
        outln!("{v}");
    } else {
        outln!("{}", report.listing().trim_end_matches('\n'));
        for (group, (n, count)) in report.groups() {
            outln!("group {group}: {n} tensors, {count} elements");
        }
        if report.format == FileFormat::Eqx && net.is_none() {
            outln!("(pass --config MODEL.toml to name the records by the model's leaf paths)");
        }
        if let Some(m) = &model {
            match m {
                Ok(s) => outln!("model: {s}"),
                Err(e) => outln!("model: does not match: {e}"),
            }
        }
    }
    if let (Some(Err(e)), Some(_)) = (&model, &args.config) {
        anyhow::bail!(
            "{}: not a checkpoint of the configured model: {e}",
            file.display()
        );
    }
    Ok(())
}
