//! A model's configuration, from the documents that give one: a `[model]` TOML section (with
//! `[sde]` and `[data]` when present, e.g. a whole training config), an sbgm tools JSON config,
//! a checkpoint's stored metadata, or an `[sde]` file. This is the one entry point for
//! configurations the model commands read ([`model_of_file`], [`stored_model`]); a training
//! config is set up by [`crate::train::Setup`] exactly as training does.
//!
//! A checkpoint is data, not instructions: the configuration stored in one is never resolved
//! against data (its `[data]` is never loaded). Only a file the user gives is.

use super::named;
use crate::data::{DataSpec, Transform};
use crate::error::{Error, Result};
use crate::nn::ModelConfig;
use crate::sde::SdeConfig;
use crate::train::NullSpec;
use crate::train::state::META_MODEL;
pub use crate::train::state::{META_TRANSFORM, META_VALUE_RANGE, ModelInfo, model_toml};
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::path::Path;

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
    /// The null conditioning: `labels_as` and `cond_null` of the `[train]` section.
    pub null: NullSpec,
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

/// The table `t` as the section `name` (e.g. `[model]`).
fn from_table<T: DeserializeOwned>(t: &toml::Table, name: &str) -> Result<T> {
    toml::Value::Table(t.clone())
        .try_into()
        .map_err(|e: toml::de::Error| {
            Error::BadArgument(format!("bad [{name}] config: {}", e.to_string().trim_end()))
        })
}

/// The section `name` of `table`, deserialized (`None` when absent).
fn section<T: DeserializeOwned>(table: &toml::Table, name: &str) -> Result<Option<T>> {
    match table.get(name) {
        Some(toml::Value::Table(m)) => from_table(m, name).map(Some),
        Some(_) => Err(Error::BadArgument(format!(
            "`{name}` must be a table ([{name}] section)"
        ))),
        None => Ok(None),
    }
}

/// Parses a configuration document (see [`read_model_config`]).
pub fn parse_config(text: &str) -> Result<ConfigDoc> {
    if text.trim_start().starts_with('{') {
        return Ok(ConfigDoc {
            model: parse_sbgm_json(text)?,
            sde: None,
            data: None,
            null: NullSpec::default(),
        });
    }
    let table: toml::Table = toml::from_str(text).map_err(|e| {
        Error::BadArgument(format!(
            "not a valid TOML model config: {}",
            e.to_string().trim_end()
        ))
    })?;
    let model = match section(&table, "model")? {
        Some(m) => m,
        None if table.contains_key("kind") => from_table(&table, "model")?,
        None => {
            return Err(Error::BadArgument(
                "the config has no [model] section (and no `kind` key): write a [model] section \
                 with kind = \"mlp\" | \"mixer\" | \"unet\" | \"dit\" and the model's sizes"
                    .into(),
            ));
        }
    };
    Ok(ConfigDoc {
        model,
        sde: section(&table, "sde")?,
        data: section(&table, "data")?,
        null: section(&table, "train")?.unwrap_or_default(),
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
    model_toml(cfg, None, &NullSpec::default())
}

/// Reads the `[sde]` section of a TOML file (or the file's bare keys when it is one SDE table).
pub fn sde_of_file(p: &Path) -> Result<SdeConfig> {
    let doc = std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?;
    let table: toml::Table = toml::from_str(&doc)
        .map_err(|e| Error::format(p, format!("not valid TOML: {}", e.to_string().trim_end())))?;
    let sde = match table.get("sde") {
        Some(toml::Value::Table(t)) => t.clone(),
        _ if table.contains_key("sde") || table.contains_key("t1") => table,
        _ => {
            return Err(Error::format(
                p,
                "no [sde] section (e.g. sde = \"VP\", schedule = \"linear\", t0, t1)",
            ));
        }
    };
    toml::Value::Table(sde)
        .try_into()
        .map_err(|e: toml::de::Error| {
            Error::format(p, format!("bad [sde]: {}", e.to_string().trim_end()))
        })
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
        null: doc.null,
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
    // the training config stored beside the resolved model is the older checkpoints' only
    // record of `labels_as` (their resolved model has no [train])
    let null = match metadata.get(META_CONFIG) {
        Some(t) if key == META_MODEL && doc.null == NullSpec::default() => {
            stored_null(t).map_err(|e| named(e, file))?
        }
        _ => doc.null,
    };
    ModelInfo {
        model: doc.model,
        sde: doc.sde,
        transform: None,
        value_range: None,
        null,
    }
    .with_stored_scaling(metadata)
    .map_err(|e| named(e, file))
}

/// The `[train]` `labels_as` and `cond_null` of a stored training config (a checkpoint's
/// `config`, a run's `config.toml`; the rest of it is not read).
pub fn stored_null(text: &str) -> Result<NullSpec> {
    let table: toml::Table = toml::from_str(text).map_err(|e| {
        Error::msg(format!(
            "the stored training config is not valid TOML: {}",
            e.to_string().trim_end()
        ))
    })?;
    Ok(section(&table, "train")?.unwrap_or_default())
}

/// The model of a checkpoint: from the configuration file given (with the checkpoint's
/// stored scaling when the file has no data), else from the checkpoint's metadata.
pub(super) fn model_for(
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
