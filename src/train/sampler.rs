//! The sampler program of the periodic sample plots: [`crate::sample::em::euler_maruyama`]
//! (the reverse SDE from the prior at `t1` down to `t0`) on a model's parameters, in one
//! executable.

use crate::dtype::DType;
use crate::error::Result;
use crate::graph::{Graph, Module, Tensor};
use crate::nn::{Params, ScoreNet};
use crate::sample::em::euler_maruyama;
use crate::sample::net::BoundNet;
use crate::sample::score::Cond as SampleCond;
use crate::sde::Sde;

/// Builds the sampler. Arguments: the model's array leaves `params.<leaf>`…, `key`
/// (`u64[2]`), then `q` `(S, …)` and `a` `(S, P)` when the model takes them. Result:
/// `samples` `(S, data shape…)`. The last step adds no noise.
pub fn build_em_sampler(
    net: &dyn ScoreNet,
    sde: &Sde,
    n_samples: usize,
    steps: usize,
) -> Result<Module> {
    let g = Graph::new();
    let params = Params::declare(&g, &net.skeleton(), "params.")?;
    let key = g.parameter("key", &[2], DType::U64)?;
    let q = match net.q_shape() {
        Some(qs) => {
            let mut d = vec![n_samples];
            d.extend(qs);
            Some(g.parameter("q", &d, DType::F32)?)
        }
        None => None,
    };
    let a = match net.a_dim() {
        Some(p) => Some(g.parameter("a", &[n_samples, p], DType::F32)?),
        None => None,
    };
    let mut dims = vec![n_samples];
    dims.extend(net.data_shape());
    let bound = BoundNet::new(net, params);
    let cond = SampleCond { q, a, labels: None };
    let samples = euler_maruyama(&bound, sde, steps, &dims, DType::F32, &key, &cond)?;
    let samples: &Tensor = &samples;
    g.build("em_sampler", &[("samples", samples)])
}
