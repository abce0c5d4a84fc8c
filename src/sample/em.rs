//! Reverse-SDE Euler-Maruyama (sbgm's `single_eu_sample_fn`), with a time grid whose step
//! matches the grid: tᵢ = t1 − i h, h = (t1 − t0)/N, i = 0..N−1, and no noise on the last
//! step (the last mean is returned).
//!
//! x ← x − [f(x, t) − g(t)² s(t, x)] h + g(t) √h ε   (Song et al. 2021, Eq. 6 discretised)

use crate::dtype::DType;
use crate::error::Result;
use crate::graph::{Rng, Tensor};
use crate::sample::score::{Cond, ScoreFn};
use crate::sde::{Sde, per_sample};

/// Traces `n` Euler-Maruyama steps of the reverse SDE from prior samples of shape `dims`
/// (batch first) drawn with `key`. Returns the samples (the noise-free last mean).
pub fn euler_maruyama(
    score: &dyn ScoreFn,
    sde: &Sde,
    n: usize,
    dims: &[usize],
    dtype: DType,
    key: &Tensor,
    cond: &Cond,
) -> Result<Tensor> {
    let g = key.graph().clone();
    let b = dims[0];
    let mut rng = Rng::new(key)?;
    let x_t = sde.prior_sample(&mut rng, dims, dtype)?;
    let h = (sde.t1 - sde.t0) / n as f64;
    let init = [x_t.zeros_like()?, x_t, rng.key().clone()];
    let out = g.fori_loop(0, n as i64, &init, |i, c| {
        let t = (i.convert(dtype)? * -h)? + sde.t1;
        let t = t?.broadcast_to(&[b])?;
        let x = &c[1];
        let mut rng = Rng::new(&c[2])?;
        let eps = rng.normal(dims, dtype)?;
        let s = score.score(&t, x, cond)?;
        let g2 = per_sample(&sde.diffusion2(&t)?, x)?;
        let drift = (sde.drift(x, &t)? - (&g2 * s)?)?;
        let mean = (x - (drift * h)?)?;
        let noise = ((g2.sqrt()? * h.sqrt())? * eps)?;
        let xn = (&mean + noise)?;
        Ok(vec![mean, xn, rng.key().clone()])
    })?;
    Ok(out[0].clone())
}
