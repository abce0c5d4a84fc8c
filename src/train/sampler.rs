//! The Euler-Maruyama sampler of the periodic sample plots: the reverse SDE
//! `dx = [f(x, t) − g(t)² s(t, x)] dt + g(t) dw̄` integrated from the prior at `t1` down to `t0`
//! in a `stablehlo.while` loop, for a batch of samples, in one executable.

use crate::dtype::DType;
use crate::error::Result;
use crate::graph::{Graph, Module, Rng, Tensor};
use crate::nn::{ApplyMode, Params, ScoreNet};
use crate::sde::{Sde, per_sample};

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
    let mut rng = Rng::new(&key)?;
    let x0 = sde.prior_sample(&mut rng, &dims, DType::F32)?;
    let dt = (sde.t1 - sde.t0) / steps as f64;
    let last = (steps - 1) as f64;
    let out = g.fori_loop(0, steps as i64, &[x0, rng.key().clone()], |i, c| {
        let x = &c[0];
        let fi = i.convert(DType::F32)?;
        let t_s = ((fi * -dt)? + sde.t1)?;
        let t = t_s.broadcast_to(&[n_samples])?;
        let s = net.apply(
            &params,
            &t,
            x,
            q.as_ref(),
            a.as_ref(),
            &ApplyMode::Inference,
        )?;
        let g2 = sde.diffusion2(&t)?;
        let drift = (sde.drift(x, &t)? - (per_sample(&g2, x)? * &s)?)?;
        let mean = (x - (drift * dt)?)?;
        let mut r = Rng::new(&c[1])?;
        let z = r.normal(x.dims(), DType::F32)?;
        let noise = ((per_sample(&g2.sqrt()?, x)? * z)? * dt.sqrt())?;
        let not_last = i.lt(&g.scalar(last, DType::I32)?)?;
        let noise = not_last.select(&noise, &noise.zeros_like()?)?;
        Ok(vec![(mean + noise)?, r.key().clone()])
    })?;
    let samples: &Tensor = &out[0];
    g.build("em_sampler", &[("samples", samples)])
}
