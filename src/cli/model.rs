//! What the model subcommands share: reading a model configuration (a `[model]` TOML section,
//! a whole training config, or an sbgm tools JSON config), finding and reading a checkpoint
//! (Equinox `.eqx`, safetensors, a training run directory) and checking it against the model.
//!
//! A checkpoint is data, not instructions: the configuration stored in one is never resolved
//! against data (its `[data]` is never loaded). Training checkpoints store the resolved model,
//! the data scaling and the value range ([`ModelInfo`]); only a `--config` file that the user
//! gives is set up from its data, as training does.

use crate::data::{DataSpec, Transform};
use crate::error::{Error, Result};
use crate::host::HostArray;
use crate::io::npy::numpy_name;
use crate::io::{
    Checkpoint, LeafKind, LeafSpec, load_checkpoint, read_eqx, tensor_name, write_eqx_checked,
};
use crate::nn::{Init, ModelConfig, ScoreNet};
use crate::sde::SdeConfig;
use crate::train::state::META_MODEL;
pub use crate::train::state::{META_TRANSFORM, META_VALUE_RANGE, ModelInfo};
use std::collections::BTreeMap;
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

/// A configuration document: the model, and when the document has them the SDE (`[sde]`)
/// and the data (`[data]`, whose shapes fill the model's and whose scaling maps samples back).
#[derive(Clone, Debug)]
pub struct ConfigDoc {
    /// The `[model]` section.
    pub model: ModelConfig,
    /// The `[sde]` section.
    pub sde: Option<SdeConfig>,
    /// The `[data]` section.
    pub data: Option<DataSpec>,
}

/// Reads a model configuration file: TOML (a `[model]` table, e.g. a whole training config, or
/// the bare contents of one) or JSON in the `tools/sbgm_models.py` format (`{"model":
/// "ResidualNetwork", "kwargs": {...}, "data_shape": [...]}`, as the fixtures' `config.json`).
pub fn read_model_config(path: &Path) -> Result<ModelConfig> {
    read_config(path).map(|d| d.model)
}

/// Reads a configuration file (see [`read_model_config`]) with its `[sde]` and `[data]`.
pub fn read_config(path: &Path) -> Result<ConfigDoc> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse_config(&text).map_err(|e| named(e, path))
}

/// Parses model configuration text (see [`read_model_config`]).
pub fn parse_model_config(text: &str) -> Result<ModelConfig> {
    parse_config(text).map(|d| d.model)
}

/// Parses a configuration document (see [`read_model_config`]).
pub fn parse_config(text: &str) -> Result<ConfigDoc> {
    if text.trim_start().starts_with('{') {
        return Ok(ConfigDoc {
            model: parse_sbgm_json(text)?,
            sde: None,
            data: None,
        });
    }
    let table: toml::Table = toml::from_str(text).map_err(|e| {
        Error::BadArgument(format!(
            "not a valid TOML model config: {}",
            e.to_string().trim_end()
        ))
    })?;
    let section = |name: &str| -> Result<Option<toml::Table>> {
        match table.get(name) {
            Some(toml::Value::Table(m)) => Ok(Some(m.clone())),
            Some(_) => Err(Error::BadArgument(format!(
                "`{name}` must be a table ([{name}] section)"
            ))),
            None => Ok(None),
        }
    };
    let model = match section("model")? {
        Some(m) => m,
        None if table.contains_key("kind") => table.clone(),
        None => {
            return Err(Error::BadArgument(
                "the config has no [model] section (and no `kind` key): write a [model] section \
                 with kind = \"mlp\" | \"mixer\" | \"unet\" | \"dit\" and the model's sizes"
                    .into(),
            ));
        }
    };
    let model = toml::Value::Table(model).try_into().map_err(|e| {
        Error::BadArgument(format!("bad [model] config: {}", e.to_string().trim_end()))
    })?;
    let sde = section("sde")?
        .map(|t| {
            toml::Value::Table(t)
                .try_into()
                .map_err(|e: toml::de::Error| {
                    Error::BadArgument(format!("bad [sde] config: {}", e.to_string().trim_end()))
                })
        })
        .transpose()?;
    let data = section("data")?
        .map(|t| {
            toml::Value::Table(t)
                .try_into()
                .map_err(|e: toml::de::Error| {
                    Error::BadArgument(format!("bad [data] config: {}", e.to_string().trim_end()))
                })
        })
        .transpose()?;
    Ok(ConfigDoc { model, sde, data })
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
    config_toml(cfg, None)
}

pub use crate::train::state::model_toml as config_toml;

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

/// A model and its parameters, read from a checkpoint and checked against the configuration,
/// with the SDE and the data scaling when the configuration gives them.
pub struct LoadedModel {
    /// The model configuration (every size filled in).
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
    pub metadata: BTreeMap<String, String>,
    /// The `[sde]` section, when the configuration has one.
    pub sde: Option<SdeConfig>,
    /// The data scaling (data space -> model space), when known.
    pub transform: Option<Transform>,
    /// The data's value range (e.g. 0..255 for 8-bit images), when known.
    pub value_range: Option<(f32, f32)>,
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

    /// The model's configuration, SDE, data scaling and value range (what a model file stores
    /// besides the leaves).
    pub fn info(&self) -> ModelInfo {
        ModelInfo {
            model: self.config.clone(),
            sde: self.sde.clone(),
            transform: self.transform,
            value_range: self.value_range,
        }
    }

    /// Writes the leaves as an Equinox `.eqx` file.
    pub fn write_eqx(&self, path: &Path) -> Result<()> {
        write_eqx_checked(path, &self.net.skeleton(), &self.leaves)
    }

    /// A warning when the model's `t1` leaf (the time scale it was built for) is not the
    /// SDE's end time.
    pub fn t1_warning(&self, sde: &crate::sde::Sde) -> Option<String> {
        let (_, v) = self.leaves.iter().find(|(p, _)| p == "t1")?;
        let t1 = v.to_f64_vec().first().copied()?;
        ((t1 - sde.t1).abs() > 1e-9 * sde.t1.abs().max(1.0)).then(|| {
            format!(
                "warning: the model was built for t1 = {t1} (it divides times by it) but the SDE \
                 ends at t1 = {}; sbgm trains with the two equal",
                sde.t1
            )
        })
    }

    /// The SDE, or an error saying how to give one.
    pub fn sde(&self) -> Result<crate::sde::Sde> {
        match &self.sde {
            Some(c) => c.build(),
            None => Err(Error::BadArgument(format!(
                "no SDE for {}: the configuration has no [sde] section; pass --config with a \
                 training config (it has [sde]), or --sde FILE.toml with an [sde] section",
                self.file.display()
            ))),
        }
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

/// The model a configuration file describes: a training config is set up as training does
/// it (its data loaded, the labels attached as `train.labels_as` says); any other document is
/// resolved by [`resolve`].
pub fn model_of_file(path: &Path) -> Result<ModelInfo> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    if let Ok(config) = crate::train::Config::from_toml_str(&text, &[] as &[&str]) {
        let setup = crate::train::Setup::new(&config).map_err(|e| named(e, path))?;
        return Ok(setup.model_info());
    }
    let doc = parse_config(&text).map_err(|e| named(e, path))?;
    let (model, transform, value_range) = resolve(&doc).map_err(|e| named(e, path))?;
    Ok(ModelInfo {
        model,
        sde: doc.sde,
        transform,
        value_range,
    })
}

/// The model that a checkpoint's metadata describes, without loading any data: the resolved
/// model of a training checkpoint (`model_config`), else the `config` of a model file (a
/// configuration with `[data]` there is a training config of an older checkpoint: refused,
/// saying to pass `--config`).
pub fn stored_model(metadata: &BTreeMap<String, String>, file: &Path) -> Result<ModelInfo> {
    let (key, text) = match (metadata.get(META_MODEL), metadata.get(META_CONFIG)) {
        (Some(t), _) => (META_MODEL, t),
        (None, Some(t)) => (META_CONFIG, t),
        (None, None) => {
            return Err(Error::msg(format!(
                "{} holds no model configuration: pass --config MODEL.toml (a [model] section, \
                 a training config, or an sbgm JSON config)",
                file.display()
            )));
        }
    };
    let doc = parse_config(text).map_err(|e| {
        Error::msg(format!(
            "{}: the configuration stored in the checkpoint (`{key}`): {e}",
            file.display()
        ))
    })?;
    if key == META_CONFIG && doc.data.is_some() {
        return Err(Error::msg(format!(
            "{} stores its training config but not the model's sizes, data scaling and value \
             range (a checkpoint from an older sbgm-xla); a checkpoint's [data] is never loaded: \
             pass the training config with --config (e.g. --config RUN/config.toml), which loads \
             its data as training did",
            file.display()
        )));
    }
    ModelInfo {
        model: doc.model,
        sde: doc.sde,
        transform: None,
        value_range: None,
    }
    .with_stored_scaling(metadata)
    .map_err(|e| named(e, file))
}

/// The model of a checkpoint: from the configuration file given (with the checkpoint's
/// stored scaling when the file has no data), else from the checkpoint's metadata.
fn model_for(
    config: Option<&Path>,
    metadata: Option<&BTreeMap<String, String>>,
    file: &Path,
) -> Result<ModelInfo> {
    match (config, metadata) {
        (Some(c), metadata) => {
            let info = model_of_file(c)?;
            match metadata {
                Some(m) if info.transform.is_none() => {
                    info.with_stored_scaling(m).map_err(|e| named(e, file))
                }
                _ => Ok(info),
            }
        }
        (None, Some(m)) => stored_model(m, file),
        (None, None) => Err(Error::msg(format!(
            "{} holds no model configuration (an .eqx file stores only the leaves): pass \
             --config MODEL.toml (a [model] section, a training config, or an sbgm JSON config)",
            file.display()
        ))),
    }
}

/// A model configuration with its data scaling and value range.
pub type Resolved = (ModelConfig, Option<Transform>, Option<(f32, f32)>);

/// The model configuration with its shapes filled from the data when the document has
/// `[data]`, the data scaling and value range. Only for configurations the user gives.
pub fn resolve(doc: &ConfigDoc) -> Result<Resolved> {
    let Some(spec) = &doc.data else {
        return Ok((doc.model.clone(), None, None));
    };
    let data = spec.load().map_err(|e| {
        Error::msg(format!(
            "loading the [data] of the configuration (for the model's shapes and the data \
             scaling): {e}"
        ))
    })?;
    let t = &data.train;
    let model = doc
        .model
        .clone()
        .with_data(t.data_shape(), t.context_shape(), t.parameter_dim())
        .map_err(|e| Error::msg(format!("[model] does not fit the [data]: {e}")))?;
    Ok((model, Some(data.transform), t.value_range()))
}

/// Reads a checkpoint (`.eqx`, safetensors or a run directory) and checks it against the model
/// configuration (`config`, else the model stored in the checkpoint, see [`stored_model`]);
/// `group` picks the tensor group of a safetensors file (default: see [`pick_group`]).
pub fn load_model(
    checkpoint: &Path,
    config: Option<&Path>,
    group: Option<&str>,
) -> Result<LoadedModel> {
    let file = resolve_checkpoint(checkpoint)?;
    let format = checkpoint_format(&file)?;
    let (ck, info) = match format {
        CheckpointFormat::Eqx => {
            if let Some(g) = group.filter(|g| !g.is_empty()) {
                return Err(Error::BadArgument(format!(
                    "--group {g}: an .eqx file holds one model, without groups"
                )));
            }
            (None, model_for(config, None, &file)?)
        }
        CheckpointFormat::Safetensors => {
            let ck = load_checkpoint(&file)?;
            let info = model_for(config, Some(&ck.metadata), &file)?;
            (Some(ck), info)
        }
    };
    let net = info.model.build()?;
    let (leaves, group, metadata) = match ck {
        None => (
            read_eqx(&file, &net.skeleton())?,
            String::new(),
            BTreeMap::new(),
        ),
        Some(ck) => {
            let g = pick_group(&ck, &net.skeleton(), group).map_err(|e| named(e, &file))?;
            let leaves = checkpoint_leaves(&ck, &g, net.as_ref()).map_err(|e| named(e, &file))?;
            (leaves, g, ck.metadata)
        }
    };
    net.check_leaves(&leaves).map_err(|e| named(e, &file))?;
    Ok(LoadedModel {
        config: info.model,
        net,
        leaves,
        file,
        format,
        group,
        metadata,
        sde: info.sde,
        transform: info.transform,
        value_range: info.value_range,
    })
}

/// `e` naming the file `path` (kept as it is when it names a file already).
pub fn named(e: Error, path: &Path) -> Error {
    match e {
        Error::Format { .. } | Error::Io { .. } => e,
        other => Error::format(path, other.to_string()),
    }
}
