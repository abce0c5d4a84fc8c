//! The traced update: [`Optimizer`] (Adam, AdamW, AdaBelief with optax's semantics, an
//! optional global-norm clipping), its state's names and shapes, and one step as graph code.

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

    /// The error for a weight decay given to this update rule (only AdamW has one).
    pub(crate) fn weight_decay_misuse(self) -> Error {
        Error::config(
            "train",
            "weight_decay",
            format!(
                "applies to optimizer = \"adamw\" only, but optimizer = \"{}\"; remove \
                 weight_decay or use adamw",
                self.name()
            ),
        )
    }
}

/// An optimizer: update rule, hyperparameters, learning-rate schedule and optional global-norm
/// clipping. Build one with [`Optimizer::adam`], [`Optimizer::adamw`], [`Optimizer::adabelief`]
/// (optax's defaults) or from an [`OptimConfig`](super::OptimConfig).
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
    /// `kind` with optax's default hyperparameters and a constant learning rate `lr`.
    pub fn new(kind: OptimizerKind, lr: f64) -> Optimizer {
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
        Optimizer::new(OptimizerKind::Adam, lr)
    }

    /// `optax.adamw(lr)`: as Adam, with weight decay 1e-4 on every parameter.
    pub fn adamw(lr: f64) -> Optimizer {
        Optimizer::new(OptimizerKind::AdamW, lr)
    }

    /// `optax.adabelief(lr)`: b1 0.9, b2 0.999, eps 1e-16, eps_root 1e-16.
    pub fn adabelief(lr: f64) -> Optimizer {
        Optimizer::new(OptimizerKind::AdaBelief, lr)
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

    /// Checks the hyperparameters; the error names the bad one (by its `[train]` key) and
    /// its allowed range.
    pub fn validate(&self) -> Result<()> {
        self.schedule.validate()?;
        let out_of_range = |key, v: f64, range: &str| {
            Err(Error::config(
                "train",
                key,
                format!("{v} is out of range; it must be {range}"),
            ))
        };
        for (key, v) in [("b1", self.b1), ("b2", self.b2)] {
            if !(0.0..1.0).contains(&v) {
                return out_of_range(key, v, "in [0, 1)");
            }
        }
        for (key, v) in [
            ("eps", self.eps),
            ("eps_root", self.eps_root),
            ("weight_decay", self.weight_decay),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return out_of_range(key, v, "a finite number >= 0");
            }
        }
        if self.weight_decay != 0.0 && self.kind != OptimizerKind::AdamW {
            return Err(self.kind.weight_decay_misuse());
        }
        match self.clip_norm {
            Some(c) if !(c.is_finite() && c > 0.0) => {
                out_of_range("clip_norm", c, "a finite number > 0")
            }
            _ => Ok(()),
        }
    }

    /// The optimizer state's leaves for parameters `params`, named relative to the state
    /// (`count`, `mu.<name>`, `nu.<name>`), in [`Optimizer::state_specs`] order.
    pub fn state_leaves(&self, params: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        check_param_specs(params)?;
        let mut leaves = Vec::with_capacity(1 + 2 * params.len());
        leaves.push(TensorSpec::new("count", &[], DType::I32));
        for moment in ["mu", "nu"] {
            for p in params {
                leaves.push(TensorSpec::new(
                    format!("{moment}.{}", p.name),
                    &p.dims,
                    p.dtype,
                ));
            }
        }
        Ok(leaves)
    }

    /// The optimizer state's tensors for parameters `params`, in the order [`Optimizer::update`]
    /// takes and returns them: `opt.count` (i32 scalar), then `opt.mu.<name>` for each
    /// parameter, then `opt.nu.<name>` for each parameter (same shape and type as it).
    pub fn state_specs(&self, params: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        let mut specs = self.state_leaves(params)?;
        for s in &mut specs {
            s.name = format!("{STATE_PREFIX}.{}", s.name);
        }
        Ok(specs)
    }

    /// The initial state (optax's `init`: count 0, zero moments), named as
    /// [`Optimizer::state_specs`].
    pub fn init_state(&self, params: &[TensorSpec]) -> Result<Vec<(String, HostArray)>> {
        zeros_of(self.state_specs(params)?)
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

/// Named zeros for each spec (optax's `init`).
pub(crate) fn zeros_of(specs: Vec<TensorSpec>) -> Result<Vec<(String, HostArray)>> {
    specs
        .into_iter()
        .map(|s| Ok((s.name.clone(), s.zeros()?)))
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
