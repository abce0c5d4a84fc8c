//! A trained model: its network, parameters, SDE and data scaling, loaded from a training run
//! directory, one of our safetensors checkpoints, or an Equinox `.eqx` file with its
//! configuration (a `[model]` TOML section, a training config, or an sbgm JSON config), and
//! what can be done with it: scores ([`score`]), samples and log-likelihoods ([`sampling`]).
//!
//! ```no_run
//! use sbgm_xla::model::{Model, Options};
//! use sbgm_xla::sample::{HostCond, LoglikConfig, SamplerConfig, SamplerKind};
//!
//! // An sbgm `.eqx` file with a TOML config holding its [model] and [sde] (with an sbgm JSON
//! // config, which has no SDE, set `model.sde`); `Model::load` takes a run directory.
//! let model = Model::load_with_config("model.eqx", "config.toml")?;
//! let target = sbgm_xla::exec::Target::cpu()?;
//! let opts = Options::default(); // seed 0, in data space
//! let cfg = SamplerConfig::new(SamplerKind::Tsit5);
//! let samples = model.sample(&target, &cfg, 64, &HostCond::none(), &opts)?;
//! let x = samples.x.to_ndarray::<f32>()?;
//! let ll = model.loglik(&target, &LoglikConfig::default(), &x, HostCond::none(), &opts)?;
//! println!("log-likelihood of the first sample: {}", ll.logp[0]);
//! # Ok::<(), sbgm_xla::Error>(())
//! ```

pub mod checkpoint;
pub mod config;
pub mod evaluate;
pub mod inputs;
pub mod sampling;
pub mod score;

pub use checkpoint::{
    CheckpointFormat, checkpoint_format, checkpoint_leaves, pick_group, pick_group_in,
    report_holds_model, resolve_checkpoint,
};
pub use config::{
    ConfigDoc, META_CONFIG, META_TRANSFORM, META_VALUE_RANGE, ModelInfo, model_config_toml,
    model_of_file, parse_config, parse_model_config, read_config, read_model_config, sde_of_file,
    stored_model,
};
pub use inputs::{CondInput, ScoreInputs};
pub use sampling::{LoglikJob, Options, Space, dequantize_range};

use crate::data::Transform;
use crate::error::{Error, Result};
use crate::host::HostArray;
use crate::io::{LeafKind, load_checkpoint, read_eqx, write_eqx_checked};
use crate::nn::{ModelConfig, ScoreNet};
use crate::sde::SdeConfig;
use config::model_for;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A model and its parameters, read from a checkpoint and checked against the configuration,
/// with the SDE and the data scaling when the configuration gives them.
pub struct Model {
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
    /// How its conditioning stands for "none" (the unconditional score of guidance).
    pub null: crate::train::NullSpec,
}

impl Model {
    /// Loads a training run directory (its newest checkpoint) or a safetensors checkpoint that
    /// stores its configuration; see [`load_model`].
    pub fn load(checkpoint: impl AsRef<Path>) -> Result<Model> {
        load_model(checkpoint.as_ref(), None, None)
    }

    /// Loads a checkpoint (`.eqx`, safetensors or a run directory) with the configuration file
    /// `config` (a `[model]` TOML section, a training config, or an sbgm JSON config); see
    /// [`load_model`].
    pub fn load_with_config(
        checkpoint: impl AsRef<Path>,
        config: impl AsRef<Path>,
    ) -> Result<Model> {
        load_model(checkpoint.as_ref(), Some(config.as_ref()), None)
    }

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
            null: self.null,
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

/// Reads a checkpoint (`.eqx`, safetensors or a run directory) and checks it against the model
/// configuration (`config`, else the model stored in the checkpoint, see [`stored_model`]);
/// `group` picks the tensor group of a safetensors file (default: see [`pick_group`]).
pub fn load_model(checkpoint: &Path, config: Option<&Path>, group: Option<&str>) -> Result<Model> {
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
    Ok(Model {
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
        null: info.null,
    })
}

/// `e` naming the file `path` (kept as it is when it names a file already).
pub fn named(e: Error, path: &Path) -> Error {
    match e {
        Error::Format { .. } | Error::Io { .. } => e,
        other => Error::format(path, other.to_string()),
    }
}
