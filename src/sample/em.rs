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
    reverse_sde_loop(sde, n, dims, dtype, key, |t, h, x, rng| {
        let eps = rng.normal(dims, dtype)?;
        let s = score.score(t, &x, cond)?;
        let g2 = per_sample(&sde.diffusion2(t)?, &x)?;
        let drift = (sde.drift(&x, t)? - (&g2 * s)?)?;
        let mean = (&x - (drift * h)?)?;
        let noise = ((g2.sqrt()? * h.sqrt())? * eps)?;
        let xn = (&mean + noise)?;
        Ok((mean, xn))
    })
}

/// Prior samples of shape `dims` (batch first) drawn with `key`, and the stream after the
/// draw.
pub(crate) fn draw_prior(
    sde: &Sde,
    key: &Tensor,
    dims: &[usize],
    dtype: DType,
) -> Result<(Tensor, Rng)> {
    let mut rng = Rng::new(key)?;
    let x = sde.prior_sample(&mut rng, dims, dtype)?;
    Ok((x, rng))
}

/// The time loop of the reverse-SDE samplers: from prior samples of shape `dims` drawn with
/// `key`, `n` steps at tᵢ = t1 − i h, h = (t1 − t0)/n (times `(B,)`); `step(t, h, x, rng)`
/// returns the step's noise-free mean and the next state. Returns the last step's mean.
pub(crate) fn reverse_sde_loop(
    sde: &Sde,
    n: usize,
    dims: &[usize],
    dtype: DType,
    key: &Tensor,
    step: impl Fn(&Tensor, f64, Tensor, &mut Rng) -> Result<(Tensor, Tensor)>,
) -> Result<Tensor> {
    let g = key.graph().clone();
    let b = dims[0];
    let (x_t, rng) = draw_prior(sde, key, dims, dtype)?;
    let h = (sde.t1 - sde.t0) / n as f64;
    let init = [x_t.zeros_like()?, x_t, rng.key().clone()];
    let out = g.fori_loop(0, n as i64, &init, |i, c| {
        let t = ((i.convert(dtype)? * -h)? + sde.t1)?.broadcast_to(&[b])?;
        let mut rng = Rng::new(&c[2])?;
        let (mean, xn) = step(&t, h, c[1].clone(), &mut rng)?;
        Ok(vec![mean, xn, rng.key().clone()])
    })?;
    Ok(out[0].clone())
}
