//! Where a model's parameters are: the checkpoint file a path names (a file, or the newest
//! checkpoint of a training run directory), its format, the tensor group that holds the model,
//! and the leaves read from it, checked against the model.

use crate::error::{Error, Result};
use crate::host::HostArray;
use crate::io::npy::numpy_name;
use crate::io::{Checkpoint, FileFormat, LeafKind, LeafSpec, Report, tensor_name};
use crate::nn::{Init, ScoreNet};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// How a checkpoint file is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckpointFormat {
    /// Equinox `tree_serialise_leaves` (`.npy` records, no names).
    Eqx,
    /// Our safetensors checkpoints (named tensors and metadata).
    Safetensors,
}

/// Recognises a checkpoint file by its content (`.npy` magic: `.eqx`; else safetensors).
pub fn checkpoint_format(path: &Path) -> Result<CheckpointFormat> {
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut magic = [0u8; 6];
    let mut n = 0;
    while n < magic.len() {
        match f.read(&mut magic[n..]).map_err(|e| Error::io(path, e))? {
            0 => break,
            k => n += k,
        }
    }
    if n == 0 {
        return Err(Error::format(path, "the file is empty"));
    }
    Ok(if n == 6 && &magic == b"\x93NUMPY" {
        CheckpointFormat::Eqx
    } else {
        CheckpointFormat::Safetensors
    })
}

/// The checkpoint file that `path` names: the file itself, or in a training run directory the
/// newest checkpoint (`checkpoint.safetensors`, else the `*.safetensors` file under
/// `checkpoints/` or the directory itself with the largest step number in its name).
pub fn resolve_checkpoint(path: &Path) -> Result<PathBuf> {
    if !path.exists() {
        return Err(Error::msg(format!(
            "the checkpoint {} does not exist",
            path.display()
        )));
    }
    if !path.is_dir() {
        return Ok(path.to_path_buf());
    }
    let direct = path.join("checkpoint.safetensors");
    if direct.is_file() {
        return Ok(direct);
    }
    let mut best: Option<(u64, PathBuf)> = None;
    for dir in [path.join("checkpoints"), path.to_path_buf()] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().is_none_or(|x| x != "safetensors") || !p.is_file() {
                continue;
            }
            let stem = p.file_stem().unwrap_or_default().to_string_lossy();
            let digits: String = stem.chars().filter(char::is_ascii_digit).collect();
            let step = digits.parse().unwrap_or(0);
            if best
                .as_ref()
                .is_none_or(|(s, b)| step > *s || (step == *s && p > *b))
            {
                best = Some((step, p));
            }
        }
        if best.is_some() {
            break;
        }
    }
    best.map(|(_, p)| p).ok_or_else(|| {
        Error::msg(format!(
            "{} is a directory without checkpoints (no checkpoint.safetensors, no \
             checkpoints/*.safetensors); pass a checkpoint file",
            path.display()
        ))
    })
}

/// The group of a safetensors checkpoint that holds the model: `wanted` if given, else plain
/// leaf names, else `ema` (the model sbgm samples with), else `params`.
pub fn pick_group(ck: &Checkpoint, skeleton: &[LeafSpec], wanted: Option<&str>) -> Result<String> {
    let names: Vec<&str> = ck.tensors.iter().map(|(n, _)| n.as_str()).collect();
    pick_group_in(&names, skeleton, wanted)
}

/// [`pick_group`] for a list of tensor names.
pub fn pick_group_in(
    names: &[&str],
    skeleton: &[LeafSpec],
    wanted: Option<&str>,
) -> Result<String> {
    let Some(first) = skeleton.iter().find(|s| s.kind == LeafKind::Array) else {
        return Ok(String::new());
    };
    let has = |g: &str| names.contains(&tensor_name(g, &first.path).as_str());
    if let Some(g) = wanted {
        let g = g.trim_end_matches('.');
        return if has(g) {
            Ok(g.to_string())
        } else {
            Err(Error::msg(format!(
                "the checkpoint has no tensor group '{g}' for this model (no tensor '{}')",
                tensor_name(g, &first.path)
            )))
        };
    }
    for g in ["", "ema", "params"] {
        if has(g) {
            return Ok(g.to_string());
        }
    }
    Err(Error::msg(format!(
        "the checkpoint holds no tensors of this model: its first leaf is not there as '{p}', \
         'ema.{p}' or 'params.{p}' (the file has {} tensors, e.g. {}); is it for another model \
         configuration?",
        names.len(),
        names[..names.len().min(4)].join(", "),
        p = tensor_name("", &first.path),
    )))
}

/// The model's leaves from group `group` of a checkpoint: array leaves must be there with
/// their dtype and shape; Python scalar leaves (`t1`, `Dropout.p`, ...), which training
/// checkpoints do not store, default to the configuration's values.
pub fn checkpoint_leaves(
    ck: &Checkpoint,
    group: &str,
    net: &dyn ScoreNet,
) -> Result<Vec<(String, HostArray)>> {
    net.leaves()
        .into_iter()
        .map(|leaf| {
            let spec = &leaf.spec;
            let key = tensor_name(group, &spec.path);
            match (ck.get(&key), &leaf.init) {
                (Ok(a), _) if spec.accepts(a) => Ok((spec.path.clone(), a.clone())),
                (Ok(a), _) => Err(Error::msg(format!(
                    "tensor '{key}' does not match the model: expected {}, found {} {:?}",
                    spec.describe(),
                    numpy_name(a.dtype()),
                    a.shape()
                ))),
                (Err(_), Init::Value(v)) if spec.kind == LeafKind::PyScalar => {
                    Ok((spec.path.clone(), v.clone()))
                }
                (Err(e), _) => Err(e),
            }
        })
        .collect()
}

/// Whether the tensors of an inspected file hold the model (names, dtypes, shapes; headers
/// only): a line describing the model and where its leaves are, or why the file does not hold it.
pub fn report_holds_model(
    net: &dyn ScoreNet,
    report: &Report,
) -> std::result::Result<String, String> {
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
                if !s.fits_header(t.dtype, &t.shape) {
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
