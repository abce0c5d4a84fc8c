//! The optimizer of a config as the training program needs it: state leaves, their initial
//! values, the EMA rate and the traced update (an adapter over [`crate::train::optim`]).

use crate::error::Result;
use crate::graph::{Shape, Tensor};
use crate::host::HostArray;
use crate::train::optim::{OptimConfig, STATE_PREFIX, TensorSpec};

/// An optimizer ready for [`crate::train::step::UpdateRule`].
pub struct BuiltOptimizer {
    /// State leaves (names without the `opt.` group prefix, and types), in order.
    pub state: Vec<(String, Shape)>,
    /// Their initial values.
    pub init: Vec<(String, HostArray)>,
    /// EMA rate, `None` when the EMA is off.
    pub ema_rate: Option<f64>,
    opt: crate::train::optim::Optimizer,
}

impl BuiltOptimizer {
    /// The traced update `(params, grads, state)` → (params, state).
    pub fn update(
        &self,
        p: &[Tensor],
        g: &[Tensor],
        s: &[Tensor],
    ) -> Result<(Vec<Tensor>, Vec<Tensor>)> {
        let r = self.opt.update(p, g, s)?;
        Ok((r.params, r.state))
    }
}

fn strip(name: &str) -> String {
    name.strip_prefix(STATE_PREFIX)
        .and_then(|n| n.strip_prefix('.'))
        .unwrap_or(name)
        .to_string()
}

/// Builds the optimizer of `cfg` for parameters `params`.
pub fn build_optimizer(cfg: &OptimConfig, params: &[(String, Shape)]) -> Result<BuiltOptimizer> {
    let opt = cfg.optimizer()?;
    let specs: Vec<TensorSpec> = params
        .iter()
        .map(|(n, s)| TensorSpec::new(n.clone(), &s.dims, s.dtype))
        .collect();
    let state = opt
        .state_specs(&specs)?
        .into_iter()
        .map(|s| (strip(&s.name), Shape::new(s.dims.clone(), s.dtype)))
        .collect();
    let init = opt
        .init_state(&specs)?
        .into_iter()
        .map(|(n, a)| (strip(&n), a))
        .collect();
    Ok(BuiltOptimizer {
        state,
        init,
        ema_rate: cfg.ema()?,
        opt,
    })
}
