//! The arguments that name a model (a checkpoint, its configuration, an SDE, conditioning) for
//! the commands that sample from it or compute its likelihoods; the model is loaded by
//! [`crate::model`].

use super::finite::{warn_input, warn_leaves};
use crate::error::{Error, Result};
use crate::host::HostArray;
use crate::io::npy::read_npy;
use crate::io::outputs::NamedPath;
use crate::model::{CondInput, Model, Options, Space, load_model, resolve_checkpoint, sde_of_file};
use crate::sample::HostCond;
use clap::Args;
use std::path::PathBuf;

/// What the sampling and likelihood commands share: the checkpoint and its configuration.
#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    /// The model: a training run directory, a .safetensors checkpoint, or an .eqx file (with
    /// --config).
    #[arg(long, value_name = "RUN|FILE")]
    pub checkpoint: PathBuf,
    /// The configuration (a training config, or TOML with [model] and [sde], or an sbgm JSON
    /// model config); default: the one stored in the checkpoint.
    #[arg(long, value_name = "CONFIG.toml")]
    pub config: Option<PathBuf>,
    /// A TOML file whose [sde] section to use (when --config has none).
    #[arg(long, value_name = "FILE.toml")]
    pub sde: Option<PathBuf>,
    /// The tensor group of a safetensors checkpoint (`ema`, `params`; default: plain names,
    /// else `ema`, else `params`).
    #[arg(long, value_name = "NAME")]
    pub group: Option<String>,
    /// Conditioning maps or vectors q: (N, q shape...) or (1, q shape...) for all.
    #[arg(long, value_name = "q.npy")]
    pub q: Option<PathBuf>,
    /// Parameter vectors a: (N, a_dim) or (1, a_dim) for all.
    #[arg(long, value_name = "a.npy")]
    pub a: Option<PathBuf>,
    /// Data in and out in the model's scaled space (no data scaling applied).
    #[arg(long)]
    pub model_space: bool,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

impl ModelArgs {
    /// Loads the model, with the SDE from --sde when given.
    pub fn load(&self) -> Result<Model> {
        let mut m = load_model(
            &self.checkpoint,
            self.config.as_deref(),
            self.group.as_deref(),
        )?;
        if let Some(p) = &self.sde {
            m.sde = Some(sde_of_file(p)?);
        }
        warn_leaves(&m.leaves, &m.file);
        Ok(m)
    }

    /// The files the model arguments read: the checkpoint file (the one a run directory
    /// resolves to), --config, --sde, --q and --a.
    pub fn inputs(&self) -> Result<Vec<NamedPath>> {
        let mut v = vec![NamedPath::new(
            "--checkpoint",
            resolve_checkpoint(&self.checkpoint)?,
        )];
        v.extend(NamedPath::given([
            ("--config", self.config.as_deref()),
            ("--sde", self.sde.as_deref()),
            ("--q", self.q.as_deref()),
            ("--a", self.a.as_deref()),
        ]));
        Ok(v)
    }

    /// The space of the data in and out: the model's with --model-space, else the data's.
    pub fn space(&self) -> Space {
        if self.model_space {
            Space::Model
        } else {
            Space::Data
        }
    }

    /// The seed and space of these arguments, with progress bars when `progress`.
    pub fn options(&self, progress: bool) -> Options {
        Options {
            seed: self.seed,
            space: self.space(),
            progress,
        }
    }

    /// Reads --q and --a for `n` samples, checked against the model (one row per sample or
    /// one row for all) and converted to its float type.
    pub fn conditioning(&self, model: &Model, n: usize) -> Result<HostCond> {
        let part = |which: CondInput, path: &Option<PathBuf>| {
            let given = path
                .as_ref()
                .map(|p| -> Result<HostArray> {
                    let flag = which.flag();
                    let v = read_npy(p)
                        .map_err(|e| Error::msg(format!("reading {flag} {}: {e}", p.display())))?;
                    warn_input(&format!("{flag} {}", p.display()), &v);
                    Ok(v)
                })
                .transpose()?;
            model.conditioning(which, given, n)
        };
        Ok(HostCond {
            q: part(CondInput::Q, &self.q)?,
            a: part(CondInput::A, &self.a)?,
            labels: None,
        })
    }
}
