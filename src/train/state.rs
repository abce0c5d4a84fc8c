//! The training state on the host (parameters, optimizer state, EMA, step, RNG key) and its
//! checkpoint form: safetensors with `params.`, `opt.` and `ema.` tensors and the step, key
//! and full config in the metadata.

use std::path::Path;

use crate::error::{Error, Result};
use crate::host::HostArray;
use crate::io::{Checkpoint, LeafSpec, load_checkpoint, save_checkpoint};

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
    /// The checkpoint of this state with `config` (TOML text) in its metadata.
    pub fn to_checkpoint(&self, config: &str) -> Result<Checkpoint> {
        let mut ck = Checkpoint::new();
        ck.insert_leaves("params", &self.params)?;
        ck.insert_leaves("opt", &self.opt)?;
        ck.insert_leaves("ema", &self.ema)?;
        ck.set_meta(META_FORMAT, FORMAT);
        ck.set_meta(META_STEP, self.step.to_string());
        ck.set_meta(META_KEY, format!("{},{}", self.key[0], self.key[1]));
        ck.set_meta(META_CONFIG, config);
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

    /// Saves the state atomically.
    pub fn save(&self, path: &Path, config: &str) -> Result<()> {
        save_checkpoint(path, &self.to_checkpoint(config)?)
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
