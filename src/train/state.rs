//! The training state on the host (parameters, optimizer state, EMA, step, RNG key) and its
//! checkpoint form: safetensors with `params.`, `opt.` and `ema.` tensors and the step, key,
//! full config and the trained model's [`ModelInfo`] in the metadata.

use std::collections::BTreeMap;
use std::path::Path;

use crate::data::Transform;
use crate::error::{Error, Result};
use crate::host::HostArray;
use crate::io::{Checkpoint, LeafSpec, load_checkpoint, save_checkpoint};
use crate::nn::ModelConfig;
use crate::sde::SdeConfig;
use crate::train::config::NullSpec;

/// Metadata key of the training step.
pub const META_STEP: &str = "step";
/// Metadata key of the RNG key (`"hi,lo"` decimal).
pub const META_KEY: &str = "rng_key";
/// Metadata key of the config (TOML text).
pub const META_CONFIG: &str = "config";
/// Metadata key marking a training checkpoint.
pub const META_FORMAT: &str = "format";
/// Its value.
pub const FORMAT: &str = "sbgm-xla/train-state/1";
/// Metadata key of the resolved model (TOML `[sde]` and `[model]` with every size the data
/// gave filled in).
pub const META_MODEL: &str = "model_config";
/// Metadata key of the data scaling (JSON of a [`Transform`]).
pub const META_TRANSFORM: &str = "transform";
/// Metadata key of the data's value range (JSON `[lo, hi]`).
pub const META_VALUE_RANGE: &str = "value_range";

/// What using a trained model needs besides its parameters: stored in every checkpoint, so
/// that a run directory is usable without its training data.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelInfo {
    /// The model configuration with every size filled in (data shape, `q` shape, `a` length).
    pub model: ModelConfig,
    /// The SDE, when known.
    pub sde: Option<SdeConfig>,
    /// The data scaling (data space -> model space), when known.
    pub transform: Option<Transform>,
    /// The data's value range (e.g. 0..16 for the digits), when known.
    pub value_range: Option<(f32, f32)>,
    /// How its conditioning stands for "none" (classifier-free guidance), from the training
    /// config.
    pub null: NullSpec,
}

impl ModelInfo {
    /// Writes the model under `model_key` (TOML, see [`model_toml`]), the scaling under
    /// [`META_TRANSFORM`] and the value range under [`META_VALUE_RANGE`].
    pub fn write_metadata(&self, ck: &mut Checkpoint, model_key: &str) -> Result<()> {
        let json = |e: serde_json::Error| Error::msg(format!("cannot write the metadata: {e}"));
        ck.set_meta(
            model_key,
            model_toml(&self.model, self.sde.as_ref(), &self.null)?,
        );
        if let Some(t) = &self.transform {
            ck.set_meta(META_TRANSFORM, serde_json::to_string(t).map_err(json)?);
        }
        if let Some(r) = self.value_range {
            ck.set_meta(META_VALUE_RANGE, serde_json::to_string(&r).map_err(json)?);
        }
        Ok(())
    }

    /// This model with the scaling and value range stored in `meta` (each `None` when absent).
    pub fn with_stored_scaling(self, meta: &BTreeMap<String, String>) -> Result<ModelInfo> {
        fn get<T: serde::de::DeserializeOwned>(
            meta: &BTreeMap<String, String>,
            key: &str,
        ) -> Result<Option<T>> {
            meta.get(key)
                .map(|v| {
                    serde_json::from_str(v)
                        .map_err(|e| Error::msg(format!("bad `{key}` metadata {v:?}: {e}")))
                })
                .transpose()
        }
        Ok(ModelInfo {
            transform: get(meta, META_TRANSFORM)?,
            value_range: get(meta, META_VALUE_RANGE)?,
            ..self
        })
    }
}

/// The model (and SDE) configuration as TOML text (`[sde]`, `[model]` sections, and a
/// `[train]` section with `labels_as` and `cond_null` when `null` is not the default).
pub fn model_toml(model: &ModelConfig, sde: Option<&SdeConfig>, null: &NullSpec) -> Result<String> {
    #[derive(serde::Serialize)]
    struct Doc<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        sde: Option<&'a SdeConfig>,
        model: &'a ModelConfig,
        #[serde(skip_serializing_if = "Option::is_none")]
        train: Option<&'a NullSpec>,
    }
    let train = (*null != NullSpec::default()).then_some(null);
    toml::to_string(&Doc { sde, model, train })
        .map_err(|e| Error::msg(format!("cannot write the model config as TOML: {e}")))
}

/// Everything needed to continue training exactly.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainState {
    /// Parameters by leaf path, in model order.
    pub params: Vec<(String, HostArray)>,
    /// Optimizer state leaves, in optimizer order.
    pub opt: Vec<(String, HostArray)>,
    /// EMA of the parameters (empty when the EMA is off).
    pub ema: Vec<(String, HostArray)>,
    /// Steps taken.
    pub step: u64,
    /// The device RNG key (`u64[2]`) after `step` steps.
    pub key: [u64; 2],
}

impl TrainState {
    /// The checkpoint of this state with `config` (the training config's TOML text, for
    /// resuming) and the trained model's `info` (for using it) in its metadata.
    pub fn to_checkpoint(&self, config: &str, info: &ModelInfo) -> Result<Checkpoint> {
        let mut ck = Checkpoint::new();
        ck.insert_leaves("params", &self.params)?;
        ck.insert_leaves("opt", &self.opt)?;
        ck.insert_leaves("ema", &self.ema)?;
        ck.set_meta(META_FORMAT, FORMAT);
        ck.set_meta(META_STEP, self.step.to_string());
        ck.set_meta(META_KEY, format!("{},{}", self.key[0], self.key[1]));
        ck.set_meta(META_CONFIG, config);
        info.write_metadata(&mut ck, META_MODEL)?;
        Ok(ck)
    }

    /// Reads a state back, checking every tensor against the model's `params` skeleton and
    /// the optimizer's `opt` leaves (names and types).
    pub fn from_checkpoint(
        ck: &Checkpoint,
        params: &[LeafSpec],
        opt: &[LeafSpec],
        ema: bool,
    ) -> Result<TrainState> {
        if ck.meta(META_FORMAT) != Some(FORMAT) {
            return Err(Error::msg(format!(
                "not an sbgm-xla training checkpoint (metadata `{META_FORMAT}` is {:?}, expected {FORMAT:?})",
                ck.meta(META_FORMAT)
            )));
        }
        let step: u64 = ck
            .meta(META_STEP)
            .and_then(|s| s.parse().ok())
            .filter(|s| *s <= crate::train::run::MAX_STEPS)
            .ok_or_else(|| {
                Error::msg(format!(
                    "the checkpoint's `step` metadata is missing or invalid ({:?}; a step lies in \
                     0..={}); the checkpoint is damaged",
                    ck.meta(META_STEP),
                    crate::train::run::MAX_STEPS
                ))
            })?;
        let key = ck
            .meta(META_KEY)
            .and_then(|s| {
                let (a, b) = s.split_once(',')?;
                Some([a.trim().parse().ok()?, b.trim().parse().ok()?])
            })
            .ok_or_else(|| {
                Error::msg("the checkpoint's `rng_key` metadata is missing or invalid")
            })?;
        let expected = params.len() * if ema { 2 } else { 1 } + opt.len();
        if ck.tensors.len() != expected {
            return Err(Error::msg(format!(
                "the checkpoint has {} tensors, but this model and optimizer have {expected}; is \
                 it for another configuration?",
                ck.tensors.len()
            )));
        }
        Ok(TrainState {
            params: ck.leaves("params", params)?,
            opt: ck.leaves("opt", opt)?,
            ema: if ema {
                ck.leaves("ema", params)?
            } else {
                vec![]
            },
            step,
            key,
        })
    }

    /// Saves the state atomically (see [`TrainState::to_checkpoint`]).
    pub fn save(&self, path: &Path, config: &str, info: &ModelInfo) -> Result<()> {
        save_checkpoint(path, &self.to_checkpoint(config, info)?)
    }

    /// The config text stored in a checkpoint file.
    pub fn config_of(path: &Path) -> Result<String> {
        let ck = load_checkpoint(path)?;
        ck.meta(META_CONFIG)
            .map(str::to_string)
            .ok_or_else(|| Error::format(path, "the checkpoint has no `config` metadata"))
    }
}

/// Leaf specs for named host arrays (as an optimizer's state leaves).
pub fn specs_of(leaves: &[(String, HostArray)]) -> Vec<LeafSpec> {
    leaves
        .iter()
        .map(|(n, a)| LeafSpec::array(n.clone(), a.dtype(), a.shape().to_vec()))
        .collect()
}
