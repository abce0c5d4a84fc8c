//! An optimizer bound to a model's parameters, as the training step takes it: the state's
//! leaves (named relative to the `opt` group), their initial values, the EMA rate and the
//! traced update.

use crate::error::Result;
use crate::graph::{Shape, Tensor};
use crate::host::HostArray;
use crate::train::optim::config::OptimConfig;
use crate::train::optim::update::{Optimizer, TensorSpec, zeros_of};

/// The optimizer of a config for one model's parameters
/// (for [`crate::train::step::UpdateRule`]).
pub struct BoundOptimizer {
    /// State leaves (`count`, `mu.<leaf>`, `nu.<leaf>`) and their types, in update order.
    pub state: Vec<(String, Shape)>,
    /// Their initial values (optax's `init`).
    pub init: Vec<(String, HostArray)>,
    /// EMA rate, `None` when the EMA is off.
    pub ema_rate: Option<f64>,
    /// The update rule, hyperparameters and schedule.
    pub optimizer: Optimizer,
}

impl OptimConfig {
    /// This config's optimizer for parameters `params` (leaf paths and types).
    pub fn bind(&self, params: &[(String, Shape)]) -> Result<BoundOptimizer> {
        let optimizer = self.optimizer()?;
        let specs: Vec<TensorSpec> = params
            .iter()
            .map(|(n, s)| TensorSpec::new(n.clone(), &s.dims, s.dtype))
            .collect();
        let leaves = optimizer.state_leaves(&specs)?;
        let state = leaves
            .iter()
            .map(|s| (s.name.clone(), Shape::new(s.dims.clone(), s.dtype)))
            .collect();
        let init = zeros_of(leaves)?;
        Ok(BoundOptimizer {
            state,
            init,
            ema_rate: self.ema()?,
            optimizer,
        })
    }
}

impl BoundOptimizer {
    /// The traced update `(params, grads, state)` → (new params, new state).
    pub fn update(
        &self,
        p: &[Tensor],
        g: &[Tensor],
        s: &[Tensor],
    ) -> Result<(Vec<Tensor>, Vec<Tensor>)> {
        let r = self.optimizer.update(p, g, s)?;
        Ok((r.params, r.state))
    }
}
