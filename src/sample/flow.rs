//! Probability-flow ODE sampling: dx/dt = f(x, t) − ½ g(t)² s(t, x) (Song et al. 2021,
//! Eq. 13), integrated from t1 to t0 from prior samples, with fixed-step Euler, Heun, RK4,
//! Tsit5, Dopri5 or adaptive Tsit5/Dopri5 (diffrax's PI controller).

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::Tensor;
use crate::sample::config::{SamplerConfig, SamplerKind};
use crate::sample::em::draw_prior;
use crate::sample::ode::{Controller, OdeStats, solve_adaptive, solve_fixed};
use crate::sample::score::{Cond, ScoreFn};
use crate::sample::tableau::Tableau;
use crate::sde::{Sde, per_sample};

/// The probability-flow drift f(x, t) − ½ g(t)² s(t, x).
pub fn pf_drift(
    score: &dyn ScoreFn,
    sde: &Sde,
    t: &Tensor,
    x: &Tensor,
    cond: &Cond,
) -> Result<Tensor> {
    let s = score.score(t, x, cond)?;
    let g2 = per_sample(&sde.diffusion2(t)?, x)?;
    sde.drift(x, t)? - ((g2 * s)? * 0.5)?
}

/// The tableau of an ODE sampler.
pub fn tableau(kind: SamplerKind) -> Result<Tableau> {
    Ok(match kind {
        SamplerKind::Euler => Tableau::euler(),
        SamplerKind::Heun => Tableau::heun(),
        SamplerKind::Rk4 => Tableau::rk4(),
        SamplerKind::Tsit5 => Tableau::tsit5(),
        SamplerKind::Dopri5 => Tableau::dopri5(),
        other => {
            return Err(Error::msg(format!(
                "{other:?} is not an ODE solver; use euler, heun, rk4, tsit5 or dopri5"
            )));
        }
    })
}

/// Solves `field` on `y0` from `t_start` to `t_end` as `cfg` says (fixed steps or adaptive).
pub fn solve(
    field: &crate::sample::ode::Field,
    cfg: &SamplerConfig,
    sde: &Sde,
    y0: &[Tensor],
    t_start: f64,
    t_end: f64,
) -> Result<(Vec<Tensor>, OdeStats)> {
    let tab = tableau(cfg.sampler)?;
    if cfg.is_adaptive() {
        let mut ctrl = Controller::new(cfg.rtol, cfg.atol, cfg.dt0.unwrap_or(sde.dt));
        ctrl.max_steps = cfg.max_steps;
        solve_adaptive(field, &tab, y0, t_start, t_end, &ctrl)
    } else {
        solve_fixed(field, &tab, y0, t_start, t_end, cfg.step_count(sde))
    }
}

/// Traces probability-flow ODE sampling from prior samples of shape `dims`.
pub fn flow_sample(
    score: &dyn ScoreFn,
    sde: &Sde,
    cfg: &SamplerConfig,
    dims: &[usize],
    dtype: DType,
    key: &Tensor,
    cond: &Cond,
) -> Result<(Tensor, OdeStats)> {
    let (x_t, _) = draw_prior(sde, key, dims, dtype)?;
    let field = |t: &Tensor, y: &[Tensor]| -> Result<Vec<Tensor>> {
        Ok(vec![pf_drift(score, sde, t, &y[0], cond)?])
    };
    let (y, stats) = solve(&field, cfg, sde, &[x_t], sde.t1, sde.t0)?;
    Ok((y[0].clone(), stats))
}

/// Traces the PF-ODE map of given points `x` from `t_start` to `t_end` (data → prior with
/// t0 → t1, prior → data the other way).
pub fn flow_map(
    score: &dyn ScoreFn,
    sde: &Sde,
    cfg: &SamplerConfig,
    x: &Tensor,
    t_start: f64,
    t_end: f64,
    cond: &Cond,
) -> Result<(Tensor, OdeStats)> {
    let field = |t: &Tensor, y: &[Tensor]| -> Result<Vec<Tensor>> {
        Ok(vec![pf_drift(score, sde, t, &y[0], cond)?])
    };
    let (y, stats) = solve(&field, cfg, sde, std::slice::from_ref(x), t_start, t_end)?;
    Ok((y[0].clone(), stats))
}
