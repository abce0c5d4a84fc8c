//! Predictor-corrector sampling (Song et al. 2021, Algorithms 2-3 and their score_sde code):
//! at each time of the grid tᵢ = t1 − i h, `corrector_steps` Langevin corrector steps, then
//! one predictor step to tᵢ − h; no noise on the last predictor step.
//!
//! Langevin corrector: ε = 2 α (snr ‖z‖ / ‖s‖)², x ← x + ε s + √(2ε) z, with α = 1 (VE) or
//! the one-step mean factor squared e^{−(B(t) − B(t−h))} (VP/SubVP, score_sde's 1 − βᵢ).
//! As in score_sde, ‖s‖ and ‖z‖ are the per-sample norms averaged over the batch (per-sample
//! ratios have heavy tails in low dimension: ‖s‖ → 0 near a mode), so the step couples the
//! samples of one chunk.

use crate::dtype::DType;
use crate::error::Result;
use crate::graph::Tensor;
use crate::sample::config::Predictor;
use crate::sample::em::reverse_sde_loop;
use crate::sample::score::{Cond, ScoreFn};
use crate::sde::{Sde, SdeKind, per_sample};

/// The batch mean of the per-sample Euclidean norms (a scalar).
fn mean_norm(x: &Tensor) -> Result<Tensor> {
    let dims: Vec<usize> = (1..x.rank()).collect();
    x.sqr()?.sum(&dims, false)?.sqrt()?.mean_all()
}

/// Traces the predictor-corrector sampler with `n` predictor steps.
#[allow(clippy::too_many_arguments)]
pub fn predictor_corrector(
    score: &dyn ScoreFn,
    sde: &Sde,
    n: usize,
    predictor: Predictor,
    corrector_steps: usize,
    snr: f64,
    dims: &[usize],
    dtype: DType,
    key: &Tensor,
    cond: &Cond,
) -> Result<Tensor> {
    reverse_sde_loop(sde, n, dims, dtype, key, |t, h, x, rng| {
        let tp = (t - h)?; // the predictor's target time
        let mut x = x;
        // one-step quantities between tp and t
        let (e_t, _) = sde.schedule_and_rate(t)?;
        let e_p = sde.schedule.expr(&tp)?;
        // Langevin corrector
        let alpha = match sde.kind {
            SdeKind::Ve => t.ones_like()?,
            _ => (&e_p - &e_t)?.exp()?,
        };
        for _ in 0..corrector_steps {
            let s = score.score(t, &x, cond)?;
            let z = rng.normal(dims, dtype)?;
            let ratio = (mean_norm(&z)? / mean_norm(&s)?)?.sqr()?; // (‖z‖/‖s‖)²
            let eps = ((ratio * (2.0 * snr * snr))? * &alpha)?;
            let eps = per_sample(&eps, &x)?;
            let mean = (&x + (&eps * &s)?)?;
            x = (mean + ((eps * 2.0)?.sqrt()? * z)?)?;
        }
        // predictor
        let s = score.score(t, &x, cond)?;
        let z = rng.normal(dims, dtype)?;
        let (mean, std) = match predictor {
            Predictor::EulerMaruyama => {
                let g2 = per_sample(&sde.diffusion2(t)?, &x)?;
                let drift = (sde.drift(&x, t)? - (&g2 * &s)?)?;
                ((&x - (drift * h)?)?, (g2 * h)?.sqrt()?)
            }
            Predictor::ReverseDiffusion => {
                // x_mean = x − f + G² s for the forward transition x_{t} = x_{t−h} + f + G z
                let (f, g2) = match sde.kind {
                    SdeKind::Ve => {
                        // G² = σ(t)² − σ(t−h)²
                        (x.zeros_like()?, (e_t.sqr()? - e_p.sqr()?)?)
                    }
                    SdeKind::Vp => {
                        // exact: a = e^{−(B(t) − B(t−h))/2}, f = (a − 1) x, G² = 1 − a²
                        let a = ((&e_t - &e_p)? * -0.5)?.exp()?;
                        let f = (&x * per_sample(&(&a - 1.0)?, &x)?)?;
                        (f, (a.sqr()?.neg()? + 1.0)?)
                    }
                    SdeKind::SubVp => {
                        let f = (sde.drift(&x, t)? * h)?;
                        (f, (sde.diffusion2(t)? * h)?)
                    }
                };
                let g2 = per_sample(&g2, &x)?;
                (((&x - f)? + (&g2 * &s)?)?, g2.sqrt()?)
            }
        };
        let xn = (&mean + (std * z)?)?;
        Ok((mean, xn))
    })
}
