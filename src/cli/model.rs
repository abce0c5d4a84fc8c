//! What the model subcommands share: reading a model configuration (a `[model]` TOML section,
//! a whole training config, or an sbgm tools JSON config), finding and reading a checkpoint
//! (Equinox `.eqx`, safetensors, a training run directory) and checking it against the model.

use crate::error::{Error, Result};
use crate::host::HostArray;
use crate::io::{
    Checkpoint, LeafKind, LeafSpec, load_checkpoint, read_eqx, tensor_name, write_eqx_checked,
};
use crate::nn::{ModelConfig, ScoreNet};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Metadata key of the configuration in our safetensors files (TOML text whose `[model]`
/// table is the model; training checkpoints store the whole training config under it).
pub const META_CONFIG: &str = "config";

/// The sbgm class names and our model kinds.
const SBGM_CLASSES: [(&str, &str); 4] = [
    ("ResidualNetwork", "mlp"),
    ("Mixer2d", "mixer"),
    ("UNet", "unet"),
    ("DiT", "dit"),
];

/// Reads a model configuration file: TOML (a `[model]` table, e.g. a whole training config, or
/// the bare contents of one) or JSON in the `tools/sbgm_models.py` format (`{"model":
/// "ResidualNetwork", "kwargs": {...}, "data_shape": [...]}`, as the fixtures' `config.json`).
pub fn read_model_config(path: &Path) -> Result<ModelConfig> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse_model_config(&text).map_err(|e| e.in_file(path))
}

/// Parses model configuration text (see [`read_model_config`]).
pub fn parse_model_config(text: &str) -> Result<ModelConfig> {
    if text.trim_start().starts_with('{') {
        return parse_sbgm_json(text);
    }
    let table: toml::Table = toml::from_str(text).map_err(|e| {
        Error::BadArgument(format!(
            "not a valid TOML model config: {}",
            e.to_string().trim_end()
        ))
    })?;
    let model = match table.get("model") {
        Some(toml::Value::Table(m)) => m.clone(),
        Some(_) => {
            return Err(Error::BadArgument(
                "`model` must be a table ([model] section)".into(),
            ));
        }
        None if table.contains_key("kind") => table,
        None => {
            return Err(Error::BadArgument(
                "the config has no [model] section (and no `kind` key): write a [model] section \
                 with kind = \"mlp\" | \"mixer\" | \"unet\" | \"dit\" and the model's sizes"
                    .into(),
            ));
        }
    };
    toml::Value::Table(model).try_into().map_err(|e| {
        Error::BadArgument(format!("bad [model] config: {}", e.to_string().trim_end()))
    })
}

fn parse_sbgm_json(text: &str) -> Result<ModelConfig> {
    let bad = |m: String| Error::BadArgument(format!("bad sbgm JSON model config: {m}"));
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    let class = v["model"]
        .as_str()
        .ok_or_else(|| bad("no \"model\" (the sbgm class name)".into()))?;
    let kind = SBGM_CLASSES
        .iter()
        .find(|(c, _)| *c == class)
        .map(|(_, k)| *k)
        .ok_or_else(|| {
            bad(format!(
                "unknown sbgm model class '{class}' (known: ResidualNetwork, Mixer2d, UNet, DiT)"
            ))
        })?;
    let mut kw = v["kwargs"]
        .as_object()
        .cloned()
        .ok_or_else(|| bad("no \"kwargs\" object".into()))?;
    kw.insert("kind".into(), kind.into());
    let cfg: ModelConfig =
        serde_json::from_value(serde_json::Value::Object(kw)).map_err(|e| bad(e.to_string()))?;
    let shape = |key: &str| -> Result<Option<Vec<usize>>> {
        match &v[key] {
            serde_json::Value::Null => Ok(None),
            s => serde_json::from_value(s.clone())
                .map(Some)
                .map_err(|e| bad(format!("\"{key}\": {e}"))),
        }
    };
    match shape("data_shape")? {
        Some(d) => {
            let a = shape("a_shape")?.map(|s| s.iter().product());
            cfg.with_data(&d, shape("q_shape")?.as_deref(), a)
        }
        None => Ok(cfg),
    }
}

/// The model configuration as the TOML text stored in our checkpoints (a `[model]` section).
pub fn model_config_toml(cfg: &ModelConfig) -> Result<String> {
    #[derive(serde::Serialize)]
    struct Doc<'a> {
        model: &'a ModelConfig,
    }
    toml::to_string(&Doc { model: cfg })
        .map_err(|e| Error::msg(format!("cannot write the model config as TOML: {e}")))
}

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

/// A model and its parameters, read from a checkpoint and checked against the configuration.
pub struct LoadedModel {
    /// The model configuration.
    pub config: ModelConfig,
    /// The network.
    pub net: Box<dyn ScoreNet>,
    /// Every leaf (Python scalars included) in Equinox order.
    pub leaves: Vec<(String, HostArray)>,
    /// The checkpoint file read.
    pub file: PathBuf,
    /// Its format.
    pub format: CheckpointFormat,
    /// The tensor group read from a safetensors file (`""`, `"ema"`, `"params"`).
    pub group: String,
    /// The checkpoint's metadata (safetensors only).
    pub metadata: std::collections::BTreeMap<String, String>,
}

impl LoadedModel {
    /// The parameters' element type (of the first array leaf; f32 for sbgm's models).
    pub fn dtype(&self) -> crate::DType {
        self.net
            .skeleton()
            .iter()
            .find(|s| s.kind == LeafKind::Array)
            .map_or(crate::DType::F32, |s| s.dtype)
    }

    /// One line describing the model: class, parameter count, file and group.
    pub fn describe(&self) -> String {
        let group = if self.group.is_empty() {
            String::new()
        } else {
            format!(" (tensors '{}.*')", self.group)
        };
        format!(
            "{} ({} parameters) from {}{group}",
            self.net.name(),
            self.net.n_params(),
            self.file.display()
        )
    }

    /// Writes the leaves as an Equinox `.eqx` file.
    pub fn write_eqx(&self, path: &Path) -> Result<()> {
        write_eqx_checked(path, &self.net.skeleton(), &self.leaves)
    }
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
    let Some(first) = skeleton.first() else {
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

/// Reads the model configuration from `config` if given, else from a safetensors checkpoint's
/// metadata; `what` names the checkpoint for the error message.
fn config_for(
    config: Option<&Path>,
    metadata: Option<&std::collections::BTreeMap<String, String>>,
    what: &Path,
) -> Result<ModelConfig> {
    if let Some(c) = config {
        return read_model_config(c);
    }
    match metadata.and_then(|m| m.get(META_CONFIG)) {
        Some(text) => parse_model_config(text).map_err(|e| {
            Error::msg(format!(
                "{}: the configuration stored in the checkpoint: {e}",
                what.display()
            ))
        }),
        None => Err(Error::msg(format!(
            "{} holds no model configuration{}: pass --config MODEL.toml (a [model] section, a \
             training config, or an sbgm JSON config)",
            what.display(),
            if metadata.is_none() {
                " (an .eqx file stores only the leaves)"
            } else {
                ""
            }
        ))),
    }
}

/// Reads a checkpoint (`.eqx`, safetensors or a run directory) and checks it against the model
/// configuration (`config`, else the configuration stored in the checkpoint); `group` picks
/// the tensor group of a safetensors file (default: see [`pick_group`]).
pub fn load_model(
    checkpoint: &Path,
    config: Option<&Path>,
    group: Option<&str>,
) -> Result<LoadedModel> {
    let file = resolve_checkpoint(checkpoint)?;
    let format = checkpoint_format(&file)?;
    let (config, leaves, group, metadata) = match format {
        CheckpointFormat::Eqx => {
            if let Some(g) = group.filter(|g| !g.is_empty()) {
                return Err(Error::BadArgument(format!(
                    "--group {g}: an .eqx file holds one model, without groups"
                )));
            }
            let cfg = config_for(config, None, &file)?;
            let net = cfg.build()?;
            let leaves = read_eqx(&file, &net.skeleton())?;
            (cfg, leaves, String::new(), Default::default())
        }
        CheckpointFormat::Safetensors => {
            let ck = load_checkpoint(&file)?;
            let cfg = config_for(config, Some(&ck.metadata), &file)?;
            let net = cfg.build()?;
            let skel = net.skeleton();
            let g = pick_group(&ck, &skel, group).map_err(|e| e.in_file(&file))?;
            let leaves = ck.leaves(&g, &skel).map_err(|e| named(e, &file))?;
            (cfg, leaves, g, ck.metadata)
        }
    };
    let net = config.build()?;
    net.check_leaves(&leaves).map_err(|e| named(e, &file))?;
    Ok(LoadedModel {
        config,
        net,
        leaves,
        file,
        format,
        group,
        metadata,
    })
}

/// `e` naming the file `path` (kept as it is when it names a file already).
pub fn named(e: Error, path: &Path) -> Error {
    match e {
        Error::Format { .. } | Error::Io { .. } => e,
        other => Error::format(path, other.to_string()),
    }
}
