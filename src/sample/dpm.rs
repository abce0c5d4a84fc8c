//! DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++: Fast Solver for Guided Sampling of
//! Diffusion Probabilistic Models", Algorithm 2): a multistep second-order solver of the
//! probability-flow ODE in log-SNR λ = ln(α/σ), on the data prediction
//! x̂₀ = (x + σ² s)/α:
//!
//! x_{i} = (σᵢ/σᵢ₋₁) xᵢ₋₁ − αᵢ (e^{−hᵢ} − 1) Dᵢ, hᵢ = λᵢ − λᵢ₋₁,
//! D = x̂₀ on the first step (and the last when there are fewer than 15, Lu et al.'s
//! `lower_order_final`), else (1 + 1/(2r)) x̂₀ᵢ₋₁ − 1/(2r) x̂₀ᵢ₋₂, r = hᵢ₋₁/hᵢ.
//!
//! One score evaluation per step (NFE = steps). Works with any SDE whose marginal is
//! N(α x₀, σ² I) (VP and SubVP; VE too, with α = 1).

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::Tensor;
use crate::sample::config::DpmGrid;
use crate::sample::em::draw_prior;
use crate::sample::score::{Cond, ScoreFn};
use crate::sde::{Sde, per_sample};

/// The host time grid t1 = τ₀ > τ₁ > ... > τ_N = t0.
pub fn dpm_time_grid(sde: &Sde, n: usize, grid: DpmGrid) -> Result<Vec<f64>> {
    let lambda = |t: f64| {
        let (a, s) = sde.marginal_f64(t);
        a.ln() - s.ln()
    };
    match grid {
        DpmGrid::TimeUniform => Ok((0..=n)
            .map(|i| sde.t1 + (sde.t0 - sde.t1) * i as f64 / n as f64)
            .collect()),
        DpmGrid::Logsnr => {
            let (l1, l0) = (lambda(sde.t1), lambda(sde.t0));
            if !(l0.is_finite() && l1.is_finite() && l0 > l1) {
                return Err(Error::msg(format!(
                    "dpm2m: the log-SNR must decrease from t0 to t1 and be finite (got {l0} at t0, {l1} at t1)"
                )));
            }
            let mut ts = vec![sde.t1];
            for i in 1..n {
                let target = l1 + (l0 - l1) * i as f64 / n as f64;
                // λ decreases in t: bisect on [t0, t1]
                let (mut lo, mut hi) = (sde.t0, sde.t1);
                for _ in 0..200 {
                    let mid = 0.5 * (lo + hi);
                    if lambda(mid) > target {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                ts.push(0.5 * (lo + hi));
            }
            ts.push(sde.t0);
            Ok(ts)
        }
    }
}

/// Traces DPM-Solver++(2M) with `n` steps from prior samples of shape `dims`.
#[allow(clippy::too_many_arguments)]
pub fn dpm_solver_2m(
    score: &dyn ScoreFn,
    sde: &Sde,
    n: usize,
    grid: DpmGrid,
    dims: &[usize],
    dtype: DType,
    key: &Tensor,
    cond: &Cond,
) -> Result<Tensor> {
    let g = key.graph().clone();
    let b = dims[0];
    let ts = dpm_time_grid(sde, n, grid)?;
    let table = g.constant_f64(&[n + 1], &ts, dtype)?;
    let (x_t, _) = draw_prior(sde, key, dims, dtype)?;
    let init = [x_t.clone(), x_t.zeros_like()?, g.scalar(1.0, dtype)?];
    // lower_order_final: a first-order last step when there are fewer than 15 steps
    let last = if n < 15 {
        (n - 1) as f64
    } else {
        (n + 1) as f64
    };
    let out = g.fori_loop(0, n as i64, &init, |i, c| {
        let at = |j: &Tensor| -> Result<Tensor> {
            table
                .dynamic_slice(std::slice::from_ref(j), &[1])?
                .reshape(&[])?
                .broadcast_to(&[b])
        };
        let ts_ = at(i)?;
        let tt = at(&(i + 1.0)?)?;
        let (x, x0_prev, h_prev) = (&c[0], &c[1], &c[2]);
        let (a_s, s_s) = sde.marginal(&ts_)?;
        let (a_t, s_t) = sde.marginal(&tt)?;
        let lam = |a: &Tensor, s: &Tensor| -> Result<Tensor> { a.log()? - s.log()? };
        let h = (lam(&a_t, &s_t)? - lam(&a_s, &s_s)?)?; // (B,), all equal
        // data prediction x̂₀ = (x + σ² s)/α
        let sc = score.score(&ts_, x, cond)?;
        let x0 = ((x + (per_sample(&s_s.sqr()?, x)? * sc)?)? / per_sample(&a_s, x)?)?;
        // r = h_prev / h; D = (1 + 1/(2r)) x̂₀ − 1/(2r) x̂₀_prev on middle steps
        let hb = h.slice(&[0], &[1], &[1])?.reshape(&[])?;
        let inv2r = ((&hb / h_prev)? * 0.5)?;
        let d2 = ((&x0 * (&inv2r + 1.0)?)? - (x0_prev * &inv2r)?)?;
        let ii = i.convert(dtype)?;
        let first = ii.lt(&g.scalar(0.5, dtype)?)?;
        let lastp = ii.gt(&g.scalar(last - 0.5, dtype)?)?;
        let first_order = first.select(&first, &lastp)?;
        let d = first_order.select(&x0, &d2)?;
        // x = (σ_t/σ_s) x − α_t (e^{−h} − 1) D
        let ratio = per_sample(&(&s_t / &s_s)?, x)?;
        let coef = per_sample(&(a_t * h.neg()?.expm1()?)?, x)?;
        let xn = ((ratio * x)? - (coef * d)?)?;
        Ok(vec![xn, x0, hb])
    })?;
    Ok(out[0].clone())
}
