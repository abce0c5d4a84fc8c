//! The optimizer's keys of the TOML `[train]` section ([`OptimConfig`], flattened into
//! [`TrainConfig`](crate::train::TrainConfig)) and the [`Optimizer`] they describe.

use crate::error::{Error, Result};
use crate::train::ema::{DEFAULT_EMA_RATE, check_ema_rate};
use crate::train::optim::update::{Optimizer, OptimizerKind};
use crate::train::schedule::{Schedule, WarmupCosine};

/// Which learning-rate schedule an [`OptimConfig`] asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleKind {
    /// `lr` at every step.
    #[default]
    Constant,
    /// Linear warm-up from `init_lr` to `lr` over `warmup_steps`, then cosine decay to
    /// `end_lr` at step `decay_steps` (`optax.warmup_cosine_decay_schedule`).
    WarmupCosine,
}

fn default_kind() -> OptimizerKind {
    OptimizerKind::AdamW
}
fn default_lr() -> f64 {
    1e-3
}
fn default_true() -> bool {
    true
}
fn default_ema_rate() -> f64 {
    DEFAULT_EMA_RATE
}

/// The optimizer's part of the TOML `[train]` section.
///
/// ```toml
/// optimizer = "adamw"        # adam | adamw | adabelief (default adamw, as sbgm's benchmarks)
/// lr = 1e-3                  # the learning rate (the peak value with warmup_cosine)
/// b1 = 0.9                   # optional; optax's defaults per optimizer
/// b2 = 0.999
/// eps = 1e-8                 # adam/adamw 1e-8, adabelief 1e-16
/// eps_root = 0.0             # adam/adamw 0, adabelief 1e-16
/// weight_decay = 1e-4        # adamw only (default 1e-4)
/// schedule = "constant"      # constant | warmup_cosine
/// warmup_steps = 100         # warmup_cosine only (default 0)
/// decay_steps = 10000        # warmup_cosine only, required (warm-up included)
/// init_lr = 0.0              # warmup_cosine only (default 0)
/// end_lr = 0.0               # warmup_cosine only (default 0)
/// clip_norm = 1.0            # optional: global-norm gradient clipping
/// use_ema = true             # keep an EMA of the parameters (sbgm: true)
/// ema_rate = 0.999
/// ema_warmup = true          # decay min(ema_rate, (1 + n)/(10 + n)) at step n; sbgm's plain
///                            # update with false or [sde] sbgm_compat = true
/// ```
///
/// Unknown keys are refused. (`Option` fields are written without
/// `skip_serializing_if`: TOML leaves out `None` by itself, and
/// [`TrainConfig`](crate::train::TrainConfig) lists its keys from a serialized default.)
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimConfig {
    /// The update rule.
    #[serde(default = "default_kind")]
    pub optimizer: OptimizerKind,
    /// The learning rate (the peak value with `warmup_cosine`).
    #[serde(default = "default_lr")]
    pub lr: f64,
    /// First-moment decay (default 0.9).
    #[serde(default)]
    pub b1: Option<f64>,
    /// Second-moment decay (default 0.999).
    #[serde(default)]
    pub b2: Option<f64>,
    /// Denominator epsilon (default per optimizer, as optax).
    #[serde(default)]
    pub eps: Option<f64>,
    /// Epsilon inside the square root (default per optimizer, as optax).
    #[serde(default)]
    pub eps_root: Option<f64>,
    /// AdamW's decoupled weight decay (default 1e-4).
    #[serde(default)]
    pub weight_decay: Option<f64>,
    /// The learning-rate schedule.
    #[serde(default)]
    pub schedule: ScheduleKind,
    /// Warm-up length (`warmup_cosine`).
    #[serde(default)]
    pub warmup_steps: Option<u64>,
    /// The step at which the cosine decay ends, warm-up included (`warmup_cosine`).
    #[serde(default)]
    pub decay_steps: Option<u64>,
    /// The learning rate at step 0 (`warmup_cosine`, default 0).
    #[serde(default)]
    pub init_lr: Option<f64>,
    /// The final learning rate (`warmup_cosine`, default 0).
    #[serde(default)]
    pub end_lr: Option<f64>,
    /// Global-norm gradient clipping threshold.
    #[serde(default)]
    pub clip_norm: Option<f64>,
    /// Whether to keep an EMA of the parameters.
    #[serde(default = "default_true")]
    pub use_ema: bool,
    /// The EMA rate.
    #[serde(default = "default_ema_rate")]
    pub ema_rate: f64,
    /// Warm the EMA up: decay `min(ema_rate, (1 + n) / (10 + n))` after step `n`, so that a
    /// short run's EMA does not still hold its random initial weights (0.999^1500 = 22%).
    /// `false` (or `[sde] sbgm_compat = true`) keeps sbgm's plain update.
    #[serde(default = "default_true")]
    pub ema_warmup: bool,
}

impl Default for OptimConfig {
    fn default() -> Self {
        OptimConfig {
            optimizer: default_kind(),
            lr: default_lr(),
            b1: None,
            b2: None,
            eps: None,
            eps_root: None,
            weight_decay: None,
            schedule: ScheduleKind::Constant,
            warmup_steps: None,
            decay_steps: None,
            init_lr: None,
            end_lr: None,
            clip_norm: None,
            use_ema: true,
            ema_rate: default_ema_rate(),
            ema_warmup: true,
        }
    }
}

impl OptimConfig {
    /// Checks every value (ranges, keys that do not apply to the chosen optimizer or schedule).
    pub fn validate(&self) -> Result<()> {
        self.optimizer().map(|_| ())
    }

    /// The EMA rate, or `None` when `use_ema` is false.
    pub fn ema(&self) -> Result<Option<f64>> {
        if !self.use_ema {
            return Ok(None);
        }
        check_ema_rate(self.ema_rate).map_err(|_| {
            Error::config(
                "train",
                "ema_rate",
                format!(
                    "{} is out of range; it must be in [0, 1] (sbgm's default: \
                     {DEFAULT_EMA_RATE})",
                    self.ema_rate
                ),
            )
        })?;
        Ok(Some(self.ema_rate))
    }

    /// The [`Optimizer`] this config describes (validated).
    pub fn optimizer(&self) -> Result<Optimizer> {
        if !(self.lr.is_finite() && self.lr >= 0.0) {
            return Err(Error::config(
                "train",
                "lr",
                format!(
                    "{} is out of range; it must be a finite number >= 0",
                    self.lr
                ),
            ));
        }
        if self.weight_decay.is_some() && self.optimizer != OptimizerKind::AdamW {
            return Err(self.optimizer.weight_decay_misuse());
        }
        let defaults = Optimizer::new(self.optimizer, self.lr);
        let opt = Optimizer {
            b1: self.b1.unwrap_or(defaults.b1),
            b2: self.b2.unwrap_or(defaults.b2),
            eps: self.eps.unwrap_or(defaults.eps),
            eps_root: self.eps_root.unwrap_or(defaults.eps_root),
            weight_decay: self.weight_decay.unwrap_or(defaults.weight_decay),
            clip_norm: self.clip_norm,
            schedule: self.schedule()?,
            ..defaults
        };
        opt.validate()?;
        self.ema()?;
        Ok(opt)
    }

    /// The learning-rate schedule; keys of `warmup_cosine` with `schedule = "constant"` are
    /// refused.
    fn schedule(&self) -> Result<Schedule> {
        let cosine_keys = [
            ("warmup_steps", self.warmup_steps.is_some()),
            ("decay_steps", self.decay_steps.is_some()),
            ("init_lr", self.init_lr.is_some()),
            ("end_lr", self.end_lr.is_some()),
        ];
        match self.schedule {
            ScheduleKind::Constant => {
                let extra: Vec<&str> = cosine_keys
                    .iter()
                    .filter(|(_, set)| *set)
                    .map(|(k, _)| *k)
                    .collect();
                if extra.is_empty() {
                    return Ok(Schedule::Constant(self.lr));
                }
                let (verb, pronoun) = if extra.len() == 1 {
                    ("applies", "it")
                } else {
                    ("apply", "them")
                };
                Err(Error::config(
                    "train",
                    extra.join(", "),
                    format!(
                        "{verb} to schedule = \"warmup_cosine\" only, but schedule = \
                         \"constant\"; set schedule = \"warmup_cosine\" or remove {pronoun}"
                    ),
                ))
            }
            ScheduleKind::WarmupCosine => {
                let decay_steps = self.decay_steps.ok_or_else(|| {
                    Error::config(
                        "train",
                        "decay_steps",
                        "schedule = \"warmup_cosine\" needs it (the step at which the cosine \
                         decay ends, warm-up included; usually the number of training steps)",
                    )
                })?;
                Ok(Schedule::WarmupCosine(WarmupCosine {
                    init: self.init_lr.unwrap_or(0.0),
                    peak: self.lr,
                    warmup_steps: self.warmup_steps.unwrap_or(0),
                    decay_steps,
                    end: self.end_lr.unwrap_or(0.0),
                    exponent: 1.0,
                }))
            }
        }
    }
}
