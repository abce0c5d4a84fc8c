//! `sbgm-xla inspect FILE [--config MODEL.toml]`: the names, shapes and dtypes a checkpoint or
//! array file holds, and its parameter count, read from the headers only.
//!
//! Safetensors, `.npy`, `.npz` and Equinox `.eqx` files (the records of an `.eqx` file are named
//! by the model's leaf paths when the model configuration is given, else `record[i]`). With a
//! configuration (or one stored in a safetensors file) it also says whether the file holds
//! that model.

use super::model::{model_of_file, named, pick_group_in, resolve_checkpoint, stored_model};
use super::output::outln;
use crate::io::{FileFormat, LeafKind, Report, inspect, numpy_name, tensor_name};
use crate::nn::ScoreNet;
use anyhow::Context;
use clap::Args;
use std::collections::BTreeMap;
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
    let model = net.as_ref().map(|n| model_line(n.as_ref(), &report));
    if args.json {
        outln!("{}", to_json(&report, net.as_deref(), model.as_ref()));
    } else {
        print_report(&report);
        for (group, (n, count)) in groups(&report) {
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

/// The number of elements in arrays of rank >= 1 (0-d records of an `.eqx` file are Python
/// scalar fields such as `t1`, not parameters).
fn array_elements(report: &Report) -> usize {
    report
        .tensors
        .iter()
        .filter(|t| !t.shape.is_empty())
        .map(|t| t.numel())
        .sum()
}

fn print_report(report: &Report) {
    outln!("{} ({:?})", report.path.display(), report.format);
    let w = report
        .tensors
        .iter()
        .map(|t| t.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    outln!("{:w$}  {:8}  shape", "name", "dtype");
    for t in &report.tensors {
        outln!("{:w$}  {:8}  {:?}", t.name, numpy_name(t.dtype), t.shape);
    }
    let scalars = report.tensors.iter().filter(|t| t.shape.is_empty()).count();
    outln!(
        "{} tensors ({scalars} scalars), {} parameters in arrays, {} bytes of data",
        report.tensors.len(),
        array_elements(report),
        report.data_bytes()
    );
    for (k, v) in &report.metadata {
        let v = if v.len() > 400 {
            format!(
                "{}... ({} bytes)",
                &v[..v.floor_char_boundary(400)],
                v.len()
            )
        } else {
            v.clone()
        };
        outln!("metadata {k}: {}", v.trim_end().replace('\n', "\n    "));
    }
}

/// Whether the report's tensors hold the model (names, dtypes, shapes; headers only).
fn model_line(net: &dyn ScoreNet, report: &Report) -> Result<String, String> {
    let skel = net.skeleton();
    let what = format!("{} ({} parameters)", net.name(), net.n_params());
    match report.format {
        FileFormat::Eqx => Ok(format!("{what}, every leaf matches")),
        FileFormat::Safetensors => {
            let names: Vec<&str> = report.tensors.iter().map(|t| t.name.as_str()).collect();
            let group = pick_group_in(&names, &skel, None).map_err(|e| e.to_string())?;
            for s in &skel {
                let key = tensor_name(&group, &s.path);
                let Some(t) = report.tensors.iter().find(|t| t.name == key) else {
                    // Training checkpoints store arrays only; scalars come from the config.
                    if s.kind == LeafKind::PyScalar {
                        continue;
                    }
                    return Err(format!("no tensor '{key}'"));
                };
                let ok = match s.kind {
                    LeafKind::Array => t.dtype == s.dtype && t.shape == s.shape,
                    LeafKind::PyScalar => t.shape.is_empty(),
                };
                if !ok {
                    return Err(format!(
                        "tensor '{key}': expected {}, found {} {:?}",
                        s.describe(),
                        numpy_name(t.dtype),
                        t.shape
                    ));
                }
            }
            let g = if group.is_empty() {
                String::new()
            } else {
                format!(" in group '{group}'")
            };
            Ok(format!("{what}, every leaf matches{g}"))
        }
        FileFormat::Npy | FileFormat::Npz => Err("an array file, not a checkpoint".into()),
    }
}

/// Tensor count and element count per group (`params`, `ema`, `opt`) of a safetensors file.
fn groups(report: &Report) -> BTreeMap<String, (usize, usize)> {
    let mut out = BTreeMap::new();
    if report.format != FileFormat::Safetensors {
        return out;
    }
    for t in &report.tensors {
        if let Some((g, _)) = t.name.split_once(['.', '['])
            && ["params", "ema", "opt"].contains(&g)
        {
            let e = out.entry(g.to_string()).or_insert((0, 0));
            e.0 += 1;
            e.1 += t.numel();
        }
    }
    out
}

fn to_json(
    report: &Report,
    net: Option<&dyn ScoreNet>,
    model: Option<&Result<String, String>>,
) -> serde_json::Value {
    let tensors: Vec<serde_json::Value> = report
        .tensors
        .iter()
        .map(
            |t| serde_json::json!({"name": t.name, "dtype": numpy_name(t.dtype), "shape": t.shape}),
        )
        .collect();
    let mut v = serde_json::json!({
        "file": report.path.display().to_string(),
        "format": report.format,
        "tensors": tensors,
        "n_tensors": report.tensors.len(),
        "n_elements": report.numel(),
        "n_array_elements": array_elements(report),
        "data_bytes": report.data_bytes(),
        "metadata": report.metadata,
    });
    if let (Some(net), Some(m)) = (net, model) {
        v["model"] = serde_json::json!({
            "class": net.name(),
            "n_params": net.n_params(),
            "matches": m.is_ok(),
            "message": match m { Ok(s) | Err(s) => s },
        });
    }
    v
}
