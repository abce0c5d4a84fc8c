//! Adam, AdamW and AdaBelief with optax's exact semantics, global-norm clipping, as graph code.
//!
//! The optimizer runs inside the compiled training step: [`Optimizer::update`] takes the
//! parameters, their gradients and the optimizer state as traced [`Tensor`]s and returns the new
//! parameters and state. The state is a flat list of named tensors ([`Optimizer::state_specs`]:
//! `opt.count` (i32 scalar), `opt.mu.<leaf path>`, `opt.nu.<leaf path>`), so that a training
//! loop can keep it on the device, donate it and checkpoint it by name.
//!
//! Formulas (optax 0.2.8; `k` is the count after the increment, `lr` the schedule at the count
//! before it):
//! - Adam: `mu = (1-b1) g + b1 mu`, `nu = (1-b2) g² + b2 nu`, `u = -lr · (mu/(1-b1^k)) /
//!   (sqrt(nu/(1-b2^k) + eps_root) + eps)`;
//! - AdamW: `u = -lr · (adam direction + weight_decay · p)` with `p` the parameters before the
//!   step, applied to every parameter (optax's default mask);
//! - AdaBelief: `mu` as Adam, `nu = (1-b2) (g - mu)² + b2 nu + eps_root`,
//!   `u = -lr · (mu/(1-b1^k)) / (sqrt(nu/(1-b2^k)) + eps)`;
//! - global-norm clipping (`optax.clip_by_global_norm` chained before the optimizer):
//!   `n = sqrt(Σ g²)`, `g ← g` if `n < max_norm`, else `(g / n) · max_norm`.
//!
//! ```
//! use sbgm_xla::graph::Graph;
//! use sbgm_xla::train::{Optimizer, TensorSpec};
//! use sbgm_xla::DType;
//! let opt = Optimizer::adamw(1e-3).with_clip_norm(1.0);
//! let specs = [TensorSpec::new("layers.0.weight", &[4, 3], DType::F32)];
//! let g = Graph::new();
//! let p = g.parameter("layers.0.weight", &[4, 3], DType::F32)?;
//! let grad = g.parameter("grad", &[4, 3], DType::F32)?;
//! let state = opt.declare_state(&g, &specs)?;
//! let out = opt.update(&[p], &[grad], &state)?;
//! assert_eq!(out.state.len(), 3); // opt.count, opt.mu.layers.0.weight, opt.nu.layers.0.weight
//! # Ok::<(), sbgm_xla::Error>(())
//! ```

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::{Graph, Tensor};
use crate::host::HostArray;
use crate::train::schedule::Schedule;

/// The prefix of the optimizer state's tensor names (`opt.count`, `opt.mu.<leaf path>`, ...).
pub const STATE_PREFIX: &str = "opt";

/// The name, dimensions and element type of one named tensor (a parameter or a state leaf).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSpec {
    /// The name (an Equinox leaf path such as `layers.0.weight`, or `opt.mu.layers.0.weight`).
    pub name: String,
    /// The dimensions.
    pub dims: Vec<usize>,
    /// The element type.
    pub dtype: DType,
}

impl TensorSpec {
    /// A spec from its parts.
    pub fn new(name: impl Into<String>, dims: &[usize], dtype: DType) -> TensorSpec {
        TensorSpec {
            name: name.into(),
            dims: dims.to_vec(),
            dtype,
        }
    }

    /// The spec of a traced tensor, under `name`.
    pub fn of(name: impl Into<String>, t: &Tensor) -> TensorSpec {
        TensorSpec::new(name, t.dims(), t.dtype())
    }

    /// A host array of zeros with this spec's shape and type.
    pub fn zeros(&self) -> Result<HostArray> {
        let n: usize = self.dims.iter().product();
        HostArray::from_bytes(
            self.dtype,
            self.dims.clone(),
            vec![0u8; n * self.dtype.size_in_bytes()],
        )
    }
}

/// Which update rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// `optax.adam`.
    Adam,
    /// `optax.adamw` (decoupled weight decay on every parameter).
    AdamW,
    /// `optax.adabelief`.
    AdaBelief,
}

impl OptimizerKind {
    /// The name used in configs (`adam`, `adamw`, `adabelief`).
    pub fn name(self) -> &'static str {
        match self {
            OptimizerKind::Adam => "adam",
            OptimizerKind::AdamW => "adamw",
            OptimizerKind::AdaBelief => "adabelief",
        }
    }
}

/// An optimizer: update rule, hyperparameters, learning-rate schedule and optional global-norm
/// clipping. Build one with [`Optimizer::adam`], [`Optimizer::adamw`], [`Optimizer::adabelief`]
/// (optax's defaults) or from an [`OptimConfig`].
#[derive(Debug, Clone, PartialEq)]
pub struct Optimizer {
    /// The update rule.
    pub kind: OptimizerKind,
    /// The learning rate as a function of the step count.
    pub schedule: Schedule,
    /// Decay of the first moment.
    pub b1: f64,
    /// Decay of the second moment.
    pub b2: f64,
    /// Added to the denominator, outside the square root.
    pub eps: f64,
    /// Added inside the square root (Adam/AdamW), or to the second moment (AdaBelief).
    pub eps_root: f64,
    /// Decoupled weight decay (AdamW only; 0 for the others).
    pub weight_decay: f64,
    /// `Some(max_norm)`: clip the gradients to this global norm before the update.
    pub clip_norm: Option<f64>,
}

/// The traced result of one optimizer step.
#[derive(Debug, Clone)]
pub struct OptStep {
    /// The new parameters, in the order given.
    pub params: Vec<Tensor>,
    /// The new optimizer state, in [`Optimizer::state_specs`] order.
    pub state: Vec<Tensor>,
    /// The updates added to the parameters (`params = old params + updates`).
    pub updates: Vec<Tensor>,
    /// The learning rate used in this step (scalar, the parameters' element type).
    pub lr: Tensor,
    /// The gradients' global norm before clipping (scalar).
    pub grad_norm: Tensor,
}

impl Optimizer {
    fn with_kind(kind: OptimizerKind, lr: f64) -> Optimizer {
        let (eps, eps_root) = match kind {
            OptimizerKind::AdaBelief => (1e-16, 1e-16),
            _ => (1e-8, 0.0),
        };
        Optimizer {
            kind,
            schedule: Schedule::Constant(lr),
            b1: 0.9,
            b2: 0.999,
            eps,
            eps_root,
            weight_decay: if kind == OptimizerKind::AdamW {
                1e-4
            } else {
                0.0
            },
            clip_norm: None,
        }
    }

    /// `optax.adam(lr)`: b1 0.9, b2 0.999, eps 1e-8, eps_root 0.
    pub fn adam(lr: f64) -> Optimizer {
        Optimizer::with_kind(OptimizerKind::Adam, lr)
    }

    /// `optax.adamw(lr)`: as Adam, with weight decay 1e-4 on every parameter.
    pub fn adamw(lr: f64) -> Optimizer {
        Optimizer::with_kind(OptimizerKind::AdamW, lr)
    }

    /// `optax.adabelief(lr)`: b1 0.9, b2 0.999, eps 1e-16, eps_root 1e-16.
    pub fn adabelief(lr: f64) -> Optimizer {
        Optimizer::with_kind(OptimizerKind::AdaBelief, lr)
    }

    /// This optimizer with a learning-rate schedule.
    pub fn with_schedule(mut self, schedule: Schedule) -> Optimizer {
        self.schedule = schedule;
        self
    }

    /// This optimizer with `optax.clip_by_global_norm(max_norm)` chained before it.
    pub fn with_clip_norm(mut self, max_norm: f64) -> Optimizer {
        self.clip_norm = Some(max_norm);
        self
    }

    /// This optimizer with another weight decay (AdamW).
    pub fn with_weight_decay(mut self, weight_decay: f64) -> Optimizer {
        self.weight_decay = weight_decay;
        self
    }

    /// Checks the hyperparameters; the error names the bad one and its allowed range.
    pub fn validate(&self) -> Result<()> {
        self.schedule.validate()?;
        let bad = |name: &str, v: f64, range: &str| {
            Err(Error::msg(format!(
                "optimizer {}: {name} = {v} is out of range; it must be {range}",
                self.kind.name()
            )))
        };
        if !(0.0..1.0).contains(&self.b1) {
            return bad("b1", self.b1, "in [0, 1)");
        }
        if !(0.0..1.0).contains(&self.b2) {
            return bad("b2", self.b2, "in [0, 1)");
        }
        if !(self.eps.is_finite() && self.eps >= 0.0) {
            return bad("eps", self.eps, "a finite number >= 0");
        }
        if !(self.eps_root.is_finite() && self.eps_root >= 0.0) {
            return bad("eps_root", self.eps_root, "a finite number >= 0");
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad("weight_decay", self.weight_decay, "a finite number >= 0");
        }
        if self.weight_decay != 0.0 && self.kind != OptimizerKind::AdamW {
            return Err(Error::msg(format!(
                "optimizer {}: weight_decay applies to adamw only; use optimizer = \"adamw\" or \
                 remove weight_decay",
                self.kind.name()
            )));
        }
        if let Some(c) = self.clip_norm
            && !(c.is_finite() && c > 0.0)
        {
            return bad("clip_norm", c, "a finite number > 0");
        }
        Ok(())
    }

    /// The optimizer state's tensors for parameters `params`, in the order [`Optimizer::update`]
    /// takes and returns them: `opt.count` (i32 scalar), then `opt.mu.<name>` for each
    /// parameter, then `opt.nu.<name>` for each parameter (same shape and type as it).
    pub fn state_specs(&self, params: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        check_param_specs(params)?;
        let mut specs = Vec::with_capacity(1 + 2 * params.len());
        specs.push(TensorSpec::new(
            format!("{STATE_PREFIX}.count"),
            &[],
            DType::I32,
        ));
        for moment in ["mu", "nu"] {
            for p in params {
                specs.push(TensorSpec::new(
                    format!("{STATE_PREFIX}.{moment}.{}", p.name),
                    &p.dims,
                    p.dtype,
                ));
            }
        }
        Ok(specs)
    }

    /// The initial state (optax's `init`: count 0, zero moments), named as
    /// [`Optimizer::state_specs`].
    pub fn init_state(&self, params: &[TensorSpec]) -> Result<Vec<(String, HostArray)>> {
        self.state_specs(params)?
            .into_iter()
            .map(|s| Ok((s.name.clone(), s.zeros()?)))
            .collect()
    }

    /// Declares the state as parameters of `g` (named as [`Optimizer::state_specs`]) and
    /// returns them in that order.
    pub fn declare_state(&self, g: &Graph, params: &[TensorSpec]) -> Result<Vec<Tensor>> {
        self.state_specs(params)?
            .iter()
            .map(|s| g.parameter(&s.name, &s.dims, s.dtype))
            .collect()
    }

    /// One optimizer step, traced: clips the gradients (if `clip_norm` is set), updates the
    /// moments and the count, and returns the new parameters `p + u` and state.
    /// `params` and `grads` are in the same order as the specs given to
    /// [`Optimizer::state_specs`]; `state` is in that function's order.
    pub fn update(&self, params: &[Tensor], grads: &[Tensor], state: &[Tensor]) -> Result<OptStep> {
        self.validate()?;
        let n = params.len();
        if n == 0 {
            return Err(Error::msg("optimizer update: there are no parameters"));
        }
        if grads.len() != n {
            return Err(Error::msg(format!(
                "optimizer update: {n} parameters but {} gradients",
                grads.len()
            )));
        }
        if state.len() != 1 + 2 * n {
            return Err(Error::msg(format!(
                "optimizer update: the state has {} tensors but {n} parameters need {} \
                 (count, mu and nu per parameter; see Optimizer::state_specs)",
                state.len(),
                1 + 2 * n
            )));
        }
        for (i, (p, g)) in params.iter().zip(grads).enumerate() {
            if !p.dtype().is_float() {
                return Err(Error::msg(format!(
                    "optimizer update: parameter {i} has type {}, but only floating-point \
                     parameters can be trained",
                    p.dtype()
                )));
            }
            if p.shape() != g.shape() {
                return Err(Error::msg(format!(
                    "optimizer update: parameter {i} is {} but its gradient is {}",
                    p.shape(),
                    g.shape()
                )));
            }
            for (what, s) in [("mu", &state[1 + i]), ("nu", &state[1 + n + i])] {
                if s.shape() != p.shape() {
                    return Err(Error::msg(format!(
                        "optimizer update: state {what} of parameter {i} is {} but the \
                         parameter is {}",
                        s.shape(),
                        p.shape()
                    )));
                }
            }
        }
        let count = &state[0];
        if count.dtype() != DType::I32 || count.rank() != 0 {
            return Err(Error::msg(format!(
                "optimizer update: the state's count must be an i32 scalar, got {}",
                count.shape()
            )));
        }

        let grad_norm = global_norm(grads)?;
        let grads: Vec<Tensor> = match self.clip_norm {
            Some(max_norm) => clip_by_global_norm(grads, &grad_norm, max_norm)?,
            None => grads.to_vec(),
        };

        let count_inc = safe_increment(count)?;
        let lr_dtype = params[0].dtype();
        let lr = self.schedule.value(count, lr_dtype)?;

        let mut new_params = Vec::with_capacity(n);
        let mut updates = Vec::with_capacity(n);
        let mut mus = Vec::with_capacity(n);
        let mut nus = Vec::with_capacity(n);
        for i in 0..n {
            let (p, g) = (&params[i], &grads[i]);
            let (mu, nu) = (&state[1 + i], &state[1 + n + i]);
            let dt = p.dtype();
            let k = count_inc.convert(dt)?;
            let mu_new = ((g * (1.0 - self.b1))? + (mu * self.b1)?)?;
            let nu_new = match self.kind {
                OptimizerKind::Adam | OptimizerKind::AdamW => {
                    ((g.sqr()? * (1.0 - self.b2))? + (nu * self.b2)?)?
                }
                OptimizerKind::AdaBelief => {
                    let e = (g - &mu_new)?;
                    let v = ((e.sqr()? * (1.0 - self.b2))? + (nu * self.b2)?)?;
                    (v + self.eps_root)?
                }
            };
            let mu_hat = (&mu_new / bias_correction(&k, self.b1)?)?;
            let nu_hat = (&nu_new / bias_correction(&k, self.b2)?)?;
            let denom = match self.kind {
                OptimizerKind::Adam | OptimizerKind::AdamW => {
                    ((nu_hat + self.eps_root)?.sqrt()? + self.eps)?
                }
                OptimizerKind::AdaBelief => (nu_hat.sqrt()? + self.eps)?,
            };
            let mut u = (mu_hat / denom)?;
            if self.kind == OptimizerKind::AdamW && self.weight_decay != 0.0 {
                u = (u + (p * self.weight_decay)?)?;
            }
            let neg_lr = lr.convert(dt)?.neg()?;
            let u = (neg_lr * u)?;
            new_params.push((p + &u)?);
            updates.push(u);
            mus.push(mu_new);
            nus.push(nu_new);
        }
        let mut new_state = Vec::with_capacity(1 + 2 * n);
        new_state.push(count_inc);
        new_state.extend(mus);
        new_state.extend(nus);
        Ok(OptStep {
            params: new_params,
            state: new_state,
            updates,
            lr,
            grad_norm,
        })
    }
}

/// `1 - decay^k` (optax's bias correction; `k` already converted to the moment's type).
fn bias_correction(k: &Tensor, decay: f64) -> Result<Tensor> {
    1.0 - k.full_like(decay)?.pow(k)?
}

/// `count + 1`, saturating at `i32::MAX` (optax's `safe_increment`).
fn safe_increment(count: &Tensor) -> Result<Tensor> {
    let max = count.full_like(i32::MAX as f64)?;
    count.lt(&max)?.select(&(count + 1.0)?, &max)
}

/// The global L2 norm `sqrt(Σ_leaves Σ g²)` of a list of tensors, in the first one's type
/// (`optax.tree.norm`).
pub fn global_norm(tensors: &[Tensor]) -> Result<Tensor> {
    let first = tensors
        .first()
        .ok_or_else(|| Error::msg("global_norm: there are no tensors"))?;
    let dt = first.dtype();
    let mut total = first.sqr()?.sum_all()?;
    for t in &tensors[1..] {
        total = (total + t.convert(dt)?.sqr()?.sum_all()?)?;
    }
    total.sqrt()
}

/// `optax.clip_by_global_norm(max_norm)` given the tensors' global norm: each tensor unchanged
/// if `norm < max_norm`, else `(t / norm) · max_norm`.
pub fn clip_by_global_norm(
    tensors: &[Tensor],
    norm: &Tensor,
    max_norm: f64,
) -> Result<Vec<Tensor>> {
    let trigger = norm.lt(&norm.full_like(max_norm)?)?;
    tensors
        .iter()
        .map(|t| {
            let scaled = ((t / norm.convert(t.dtype())?)? * max_norm)?;
            trigger.select(t, &scaled)
        })
        .collect()
}

fn check_param_specs(params: &[TensorSpec]) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for p in params {
        if !p.dtype.is_float() {
            return Err(Error::msg(format!(
                "optimizer: parameter `{}` has type {}, but only floating-point parameters can be \
                 trained",
                p.name, p.dtype
            )));
        }
        if !seen.insert(p.name.as_str()) {
            return Err(Error::msg(format!(
                "optimizer: the parameter name `{}` appears twice",
                p.name
            )));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- configuration

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
    crate::train::ema::DEFAULT_EMA_RATE
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
/// ```
///
/// Unknown keys are refused ([`OptimConfig::FIELDS`] lists the known ones; a `[train]` table
/// holding other keys too can be split with [`OptimConfig::split_from`]).
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub b1: Option<f64>,
    /// Second-moment decay (default 0.999).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub b2: Option<f64>,
    /// Denominator epsilon (default per optimizer, as optax).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eps: Option<f64>,
    /// Epsilon inside the square root (default per optimizer, as optax).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eps_root: Option<f64>,
    /// AdamW's decoupled weight decay (default 1e-4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_decay: Option<f64>,
    /// The learning-rate schedule.
    #[serde(default)]
    pub schedule: ScheduleKind,
    /// Warm-up length (`warmup_cosine`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warmup_steps: Option<u64>,
    /// The step at which the cosine decay ends, warm-up included (`warmup_cosine`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decay_steps: Option<u64>,
    /// The learning rate at step 0 (`warmup_cosine`, default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_lr: Option<f64>,
    /// The final learning rate (`warmup_cosine`, default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_lr: Option<f64>,
    /// Global-norm gradient clipping threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip_norm: Option<f64>,
    /// Whether to keep an EMA of the parameters.
    #[serde(default = "default_true")]
    pub use_ema: bool,
    /// The EMA rate.
    #[serde(default = "default_ema_rate")]
    pub ema_rate: f64,
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
        }
    }
}

impl OptimConfig {
    /// The keys an [`OptimConfig`] reads.
    pub const FIELDS: &'static [&'static str] = &[
        "optimizer",
        "lr",
        "b1",
        "b2",
        "eps",
        "eps_root",
        "weight_decay",
        "schedule",
        "warmup_steps",
        "decay_steps",
        "init_lr",
        "end_lr",
        "clip_norm",
        "use_ema",
        "ema_rate",
    ];

    /// Splits a TOML table (such as the whole `[train]` section) into this config, read from
    /// the keys in [`OptimConfig::FIELDS`], and a table of the remaining keys (for the caller to
    /// read with its own `deny_unknown_fields` struct).
    pub fn split_from(table: &toml::Table) -> Result<(OptimConfig, toml::Table)> {
        let mut mine = toml::Table::new();
        let mut rest = toml::Table::new();
        for (k, v) in table {
            if Self::FIELDS.contains(&k.as_str()) {
                mine.insert(k.clone(), v.clone());
            } else {
                rest.insert(k.clone(), v.clone());
            }
        }
        let cfg: OptimConfig = toml::Value::Table(mine)
            .try_into()
            .map_err(|e: toml::de::Error| Error::msg(format!("[train]: {e}")))?;
        cfg.validate()?;
        Ok((cfg, rest))
    }

    /// Checks every value (ranges, keys that do not apply to the chosen optimizer or schedule).
    pub fn validate(&self) -> Result<()> {
        self.optimizer().map(|_| ())
    }

    /// The EMA rate, or `None` when `use_ema` is false.
    pub fn ema(&self) -> Result<Option<f64>> {
        if !self.use_ema {
            return Ok(None);
        }
        crate::train::ema::check_ema_rate(self.ema_rate)?;
        Ok(Some(self.ema_rate))
    }

    /// The [`Optimizer`] this config describes (validated).
    pub fn optimizer(&self) -> Result<Optimizer> {
        let mut opt = match self.optimizer {
            OptimizerKind::Adam => Optimizer::adam(self.lr),
            OptimizerKind::AdamW => Optimizer::adamw(self.lr),
            OptimizerKind::AdaBelief => Optimizer::adabelief(self.lr),
        };
        if let Some(v) = self.b1 {
            opt.b1 = v;
        }
        if let Some(v) = self.b2 {
            opt.b2 = v;
        }
        if let Some(v) = self.eps {
            opt.eps = v;
        }
        if let Some(v) = self.eps_root {
            opt.eps_root = v;
        }
        if let Some(v) = self.weight_decay {
            if self.optimizer != OptimizerKind::AdamW {
                return Err(Error::msg(format!(
                    "[train] weight_decay applies to optimizer = \"adamw\" only, but optimizer = \
                     \"{}\"; remove weight_decay or use adamw",
                    self.optimizer.name()
                )));
            }
            opt.weight_decay = v;
        }
        opt.clip_norm = self.clip_norm;
        if !(self.lr.is_finite() && self.lr >= 0.0) {
            return Err(Error::msg(format!(
                "[train] lr = {} is out of range; it must be a finite number >= 0",
                self.lr
            )));
        }
        opt.schedule = match self.schedule {
            ScheduleKind::Constant => {
                let extra: Vec<&str> = [
                    ("warmup_steps", self.warmup_steps.is_some()),
                    ("decay_steps", self.decay_steps.is_some()),
                    ("init_lr", self.init_lr.is_some()),
                    ("end_lr", self.end_lr.is_some()),
                ]
                .iter()
                .filter(|(_, set)| *set)
                .map(|(k, _)| *k)
                .collect();
                if !extra.is_empty() {
                    return Err(Error::msg(format!(
                        "[train] {} appl{} to schedule = \"warmup_cosine\" only, but schedule = \
                         \"constant\"; set schedule = \"warmup_cosine\" or remove {}",
                        extra.join(", "),
                        if extra.len() == 1 { "ies" } else { "y" },
                        if extra.len() == 1 { "it" } else { "them" },
                    )));
                }
                Schedule::Constant(self.lr)
            }
            ScheduleKind::WarmupCosine => {
                let decay_steps = self.decay_steps.ok_or_else(|| {
                    Error::msg(
                        "[train] schedule = \"warmup_cosine\" needs decay_steps (the step at \
                         which the cosine decay ends, warm-up included; usually the number of \
                         training steps)",
                    )
                })?;
                Schedule::WarmupCosine {
                    init: self.init_lr.unwrap_or(0.0),
                    peak: self.lr,
                    warmup_steps: self.warmup_steps.unwrap_or(0),
                    decay_steps,
                    end: self.end_lr.unwrap_or(0.0),
                    exponent: 1.0,
                }
            }
        };
        opt.validate()
            .map_err(|e| Error::msg(format!("[train] {e}")))?;
        self.ema()?;
        Ok(opt)
    }
}
