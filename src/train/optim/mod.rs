//! The optimizer: Adam, AdamW and AdaBelief with optax's exact semantics and global-norm
//! clipping, as graph code, from the `[train]` keys to the traced update.
//!
//! - [`config`]: the `[train]` keys ([`OptimConfig`]) and the [`Optimizer`] they describe;
//! - [`update`]: the [`Optimizer`], its state's names and one traced step;
//! - [`bound`]: an optimizer bound to a model's parameters, as the training step takes it.
//!
//! The optimizer runs inside the compiled training step: [`Optimizer::update`] takes the
//! parameters, their gradients and the optimizer state as traced [`Tensor`](crate::graph::Tensor)s and returns the new
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

pub mod bound;
pub mod config;
pub mod update;

pub use bound::BoundOptimizer;
pub use config::{OptimConfig, ScheduleKind};
pub use update::{
    OptStep, Optimizer, OptimizerKind, STATE_PREFIX, TensorSpec, clip_by_global_norm, global_norm,
};
