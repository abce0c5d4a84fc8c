//! Stochastic differential equations (VE, VP, SubVP) and their noise schedules.
//!
//! The forward SDE is `dx = f(x, t) dt + g(t) dw` (Song et al. 2021, "Score-Based Generative
//! Modeling through Stochastic Differential Equations"). Every method works on graph tensors:
//! times `t` are a scalar or one time per sample (`(B,)`), data `x` is `(B, ...)`.
//!
//! | SDE   | f(x, t)  | g(t)²                 | mean factor α(t) | std σ(t)            | prior          |
//! |-------|----------|-----------------------|------------------|---------------------|----------------|
//! | VE    | 0        | dσ²/dt                | 1                | √(σ(t)² − σ(0)²)    | N(0, σ(t1)² I) |
//! | VP    | −½β(t) x | β(t)                  | e^{−B/2}         | √(1 − e^{−B})       | N(0, I)        |
//! | SubVP | −½β(t) x | β(t)(1 − e^{−2B})     | e^{−B/2}         | 1 − e^{−B}          | N(0, I)        |
//!
//! with B(t) = ∫₀ᵗ β. β(t) = dB/dt and dσ²/dt come from the graph's [`jvp`] of the schedule's
//! single expression ([`Schedule::expr`]).
//!
//! ## Deviations from sbgm 0.0.38 (all switchable with [`Sde::sbgm_compat`])
//! - **SubVP marginal std.** sbgm returns `1 − e^{−2B}`; Song et al. (Eq. 29 and their code)
//!   have `1 − e^{−B}`, which is what the SDE's own dynamics give (the variance solves
//!   dΣ/dt = −βΣ + β(1 − e^{−2B})). We follow the paper; `sbgm_compat` restores sbgm's.
//! - **VE likelihood weighting.** Likelihood weighting is λ(t) = g(t)² (Song et al. 2021b,
//!   "Maximum Likelihood Training of Score-Based Diffusion Models"); for VE that is dσ²/dt
//!   = 2σ² ln(σ_max/σ_min), but sbgm returns σ(t)² for both of its weightings. We use g²;
//!   `sbgm_compat` restores σ².
//!
//! sbgm's default loss weights are kept as [`Weighting::Sbgm`]: VP 1 − e^{−B}, SubVP
//! (1 − e^{−B})², VE σ(t)².
//!
//! ```
//! use sbgm_xla::sde::{Sde, SdeKind, Schedule};
//! use sbgm_xla::graph::Graph;
//! use sbgm_xla::DType;
//! let sde = Sde::new(SdeKind::Vp, Schedule::Linear { beta_min: 0.1, beta_max: 20.0 }, 1e-5, 1.0, 0.01)?;
//! let g = Graph::new();
//! let t = g.parameter("t", &[8], DType::F32)?;
//! let x = g.parameter("x", &[8, 2], DType::F32)?;
//! let (mean, std) = sde.marginal_prob(&x, &t)?;
//! assert_eq!((mean.dims(), std.dims()), (&[8, 2][..], &[8, 1][..]));
//! # Ok::<(), sbgm_xla::Error>(())
//! ```

mod config;
mod importance;
mod schedule;

pub use config::SdeConfig;
pub use importance::LikelihoodTimes;
pub use schedule::Schedule;

use serde::{Deserialize, Serialize};

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::{Rng, Tensor, jvp};

/// Which SDE.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SdeKind {
    /// Variance exploding: dx = √(dσ²/dt) dw.
    #[serde(rename = "VE")]
    Ve,
    /// Variance preserving: dx = −½β x dt + √β dw.
    #[serde(rename = "VP")]
    Vp,
    /// Sub-variance preserving: dx = −½β x dt + √(β(1 − e^{−2B})) dw.
    #[serde(rename = "SubVP")]
    SubVp,
}

impl std::fmt::Display for SdeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SdeKind::Ve => "VE",
            SdeKind::Vp => "VP",
            SdeKind::SubVp => "SubVP",
        })
    }
}

/// The loss weighting λ(t) of denoising score matching.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Weighting {
    /// sbgm's defaults: VP 1 − e^{−B}, SubVP (1 − e^{−B})², VE σ(t)².
    #[default]
    Sbgm,
    /// Likelihood weighting λ = g(t)² (Song et al. 2021b).
    Likelihood,
    /// λ = std(t)², the marginal variance (Song et al. 2021's choice).
    Variance,
    /// λ = 1.
    Unit,
}

/// A forward SDE with its time interval and loss weighting. See the [module docs](self).
#[derive(Clone, Debug, PartialEq)]
pub struct Sde {
    /// VE, VP or SubVP.
    pub kind: SdeKind,
    /// The noise schedule (B(t) for VP/SubVP, σ(t) for VE).
    pub schedule: Schedule,
    /// Start time (data end), e.g. 1e-5.
    pub t0: f64,
    /// End time (prior end), e.g. 1.
    pub t1: f64,
    /// Default step size of solvers (sbgm's `dt`).
    pub dt: f64,
    /// Loss weighting.
    pub weighting: Weighting,
    /// Reproduce sbgm 0.0.38 exactly where it deviates from Song et al. (see module docs).
    pub sbgm_compat: bool,
}

/// Reshapes a scalar or per-sample `(B,)` coefficient so that it broadcasts against
/// `x: (B, ...)` (to `(B, 1, ..., 1)`).
pub fn per_sample(v: &Tensor, x: &Tensor) -> Result<Tensor> {
    if v.rank() == 0 {
        return Ok(v.clone());
    }
    if v.rank() == 1 && x.rank() >= 1 && v.dims()[0] == x.dims()[0] {
        let mut dims = vec![1; x.rank()];
        dims[0] = v.dims()[0];
        return v.reshape(&dims);
    }
    Err(Error::ShapeMismatch {
        op: "sde",
        lhs: v.shape().to_string(),
        rhs: x.shape().to_string(),
        msg: "times must be a scalar or one per sample (B,) for data (B, ...)".into(),
    })
}

impl Sde {
    /// An SDE with sbgm's default weighting, following Song et al. (`sbgm_compat` off).
    /// Checks that the schedule fits the SDE (σ(t) for VE, B(t) otherwise), that
    /// 0 <= t0 < t1 and dt > 0.
    pub fn new(kind: SdeKind, schedule: Schedule, t0: f64, t1: f64, dt: f64) -> Result<Sde> {
        let sde = Sde {
            kind,
            schedule,
            t0,
            t1,
            dt,
            weighting: Weighting::Sbgm,
            sbgm_compat: false,
        };
        sde.validate()?;
        Ok(sde)
    }

    /// The same SDE with another loss weighting.
    pub fn with_weighting(mut self, w: Weighting) -> Sde {
        self.weighting = w;
        self
    }

    /// The same SDE reproducing sbgm's deviations (`true`) or following Song et al. (`false`).
    pub fn with_sbgm_compat(mut self, on: bool) -> Sde {
        self.sbgm_compat = on;
        self
    }

    /// Checks the parameters; the message names the bad one and the allowed values.
    pub fn validate(&self) -> Result<()> {
        self.schedule.validate()?;
        let sigma = self.schedule.is_sigma();
        if sigma != (self.kind == SdeKind::Ve) {
            return Err(Error::msg(format!(
                "sde: the {} SDE needs {} schedule, got {:?}",
                self.kind,
                if sigma {
                    "a beta schedule (linear, constant or cosine)"
                } else {
                    "a sigma schedule (geometric)"
                },
                self.schedule
            )));
        }
        if !(self.t0.is_finite() && self.t1.is_finite() && self.t0 >= 0.0 && self.t0 < self.t1) {
            return Err(Error::msg(format!(
                "sde: need 0 <= t0 < t1, got t0 = {}, t1 = {}",
                self.t0, self.t1
            )));
        }
        if !(self.dt.is_finite() && self.dt > 0.0 && self.dt <= self.t1 - self.t0) {
            return Err(Error::msg(format!(
                "sde: dt = {} must be > 0 and at most t1 - t0 = {}",
                self.dt,
                self.t1 - self.t0
            )));
        }
        if let Schedule::Cosine { .. } = self.schedule
            && self.t1 >= 1.0
        {
            return Err(Error::msg(format!(
                "sde: the cosine schedule diverges at t = 1; set t1 below 1 (e.g. 0.999), got t1 = {}",
                self.t1
            )));
        }
        Ok(())
    }

    /// The schedule and its time derivative on graph tensors: `(B(t), β(t))` for VP/SubVP,
    /// `(σ(t), dσ²/dt)` for VE. The derivative is the graph's [`jvp`] of the expression.
    pub fn schedule_and_rate(&self, t: &Tensor) -> Result<(Tensor, Tensor)> {
        check_time(t)?;
        let e = self.schedule.expr(t)?;
        let ones = t.ones_like()?;
        let rate = if self.kind == SdeKind::Ve {
            let s2 = e.sqr()?;
            jvp(&[&s2], &[t], &[&ones])?.remove(0)
        } else {
            jvp(&[&e], &[t], &[&ones])?.remove(0)
        };
        Ok((e, rate))
    }

    /// β(t) = dB/dt (VP/SubVP), by jvp of B(t); for VE, dσ²/dt.
    pub fn beta(&self, t: &Tensor) -> Result<Tensor> {
        Ok(self.schedule_and_rate(t)?.1)
    }

    /// The linear drift coefficient a(t) with f(x, t) = a(t) x: −½β(t) (VP/SubVP), 0 (VE).
    /// Same shape as `t`.
    pub fn drift_coef(&self, t: &Tensor) -> Result<Tensor> {
        match self.kind {
            SdeKind::Ve => t.zeros_like(),
            _ => self.beta(t)? * -0.5,
        }
    }

    /// g(t)², the squared diffusion, same shape as `t`.
    pub fn diffusion2(&self, t: &Tensor) -> Result<Tensor> {
        let (e, rate) = self.schedule_and_rate(t)?;
        match self.kind {
            SdeKind::Ve | SdeKind::Vp => Ok(rate),
            // β (1 − e^{−2B}) = β · (−expm1(−2B))
            SdeKind::SubVp => rate * (e * -2.0)?.expm1()?.neg()?,
        }
    }

    /// The drift and diffusion `(f(x, t), g(t))`; `g` has the shape of `t`.
    pub fn coefficients(&self, x: &Tensor, t: &Tensor) -> Result<(Tensor, Tensor)> {
        let f = self.drift(x, t)?;
        let g = self.diffusion2(t)?.sqrt()?;
        Ok((f, g))
    }

    /// The drift f(x, t).
    pub fn drift(&self, x: &Tensor, t: &Tensor) -> Result<Tensor> {
        match self.kind {
            SdeKind::Ve => x.zeros_like(),
            _ => x * per_sample(&self.drift_coef(t)?, x)?,
        }
    }

    /// The diffusion g(t), same shape as `t`.
    pub fn diffusion(&self, t: &Tensor) -> Result<Tensor> {
        self.diffusion2(t)?.sqrt()
    }

    /// The marginal p_t(x | x₀) = N(α(t) x₀, std(t)² I): `(α(t), std(t))`, shapes of `t`.
    pub fn marginal(&self, t: &Tensor) -> Result<(Tensor, Tensor)> {
        check_time(t)?;
        let e = self.schedule.expr(t)?;
        match self.kind {
            SdeKind::Ve => {
                // √(σ(t)² − σ(0)²); for the geometric σ, σ_min √(expm1(2t ln(σ_max/σ_min))),
                // which keeps its relative precision at small t (no difference of squares).
                let std = match self.schedule {
                    Schedule::Geometric {
                        sigma_min,
                        sigma_max,
                    } => {
                        ((t * (2.0 * (sigma_max / sigma_min).ln()))?
                            .expm1()?
                            .sqrt()?
                            * sigma_min)?
                    }
                    _ => {
                        let s0 = self.schedule.expr_f64(0.0);
                        (e.sqr()? - s0 * s0)?.sqrt()?
                    }
                };
                Ok((t.ones_like()?, std))
            }
            SdeKind::Vp => {
                let mean = (&e * -0.5)?.exp()?;
                let std = e.neg()?.expm1()?.neg()?.sqrt()?;
                Ok((mean, std))
            }
            SdeKind::SubVp => {
                let mean = (&e * -0.5)?.exp()?;
                let k = if self.sbgm_compat { -2.0 } else { -1.0 };
                let std = (e * k)?.expm1()?.neg()?;
                Ok((mean, std))
            }
        }
    }

    /// `(mean, std)` of p_t(x | x₀ = x): mean `α(t) x`, std broadcastable against `x`.
    pub fn marginal_prob(&self, x: &Tensor, t: &Tensor) -> Result<(Tensor, Tensor)> {
        let (a, s) = self.marginal(t)?;
        Ok(((x * per_sample(&a, x)?)?, per_sample(&s, x)?))
    }

    /// `(α(t), std(t))` on the host in f64.
    pub fn marginal_f64(&self, t: f64) -> (f64, f64) {
        let e = self.schedule.expr_f64(t);
        match self.kind {
            SdeKind::Ve => match self.schedule {
                Schedule::Geometric {
                    sigma_min,
                    sigma_max,
                } => (
                    1.0,
                    sigma_min * (2.0 * t * (sigma_max / sigma_min).ln()).exp_m1().sqrt(),
                ),
                _ => {
                    let s0 = self.schedule.expr_f64(0.0);
                    (1.0, (e * e - s0 * s0).max(0.0).sqrt())
                }
            },
            SdeKind::Vp => ((-0.5 * e).exp(), (-(-e).exp_m1()).sqrt()),
            SdeKind::SubVp => {
                let k = if self.sbgm_compat { -2.0 } else { -1.0 };
                ((-0.5 * e).exp(), -(k * e).exp_m1())
            }
        }
    }

    /// g(t)² on the host in f64, from the schedule's analytic derivative.
    pub fn diffusion2_f64(&self, t: f64) -> f64 {
        let e = self.schedule.expr_f64(t);
        let d = self.schedule.deriv_f64(t);
        match self.kind {
            SdeKind::Ve => 2.0 * e * d,
            SdeKind::Vp => d,
            SdeKind::SubVp => d * -(-2.0 * e).exp_m1(),
        }
    }

    /// The linear drift coefficient a(t) (f = a x) on the host in f64.
    pub fn drift_coef_f64(&self, t: f64) -> f64 {
        match self.kind {
            SdeKind::Ve => 0.0,
            _ => -0.5 * self.schedule.deriv_f64(t),
        }
    }

    /// The prior's standard deviation: σ(t1) for VE, 1 otherwise.
    pub fn prior_std(&self) -> f64 {
        match self.kind {
            SdeKind::Ve => self.schedule.expr_f64(self.t1),
            _ => 1.0,
        }
    }

    /// Draws from the prior N(0, prior_std² I) with dimensions `dims` (batch first).
    pub fn prior_sample(&self, rng: &mut Rng, dims: &[usize], dtype: DType) -> Result<Tensor> {
        rng.normal(dims, dtype)? * self.prior_std()
    }

    /// The prior log-density of each sample of `z: (B, ...)`, summed over the non-batch
    /// dimensions: a `(B,)` tensor.
    pub fn prior_log_prob(&self, z: &Tensor) -> Result<Tensor> {
        if z.rank() == 0 {
            return Err(Error::msg(
                "prior_log_prob: z must have a batch dimension (B, ...), got a scalar",
            ));
        }
        let s = self.prior_std();
        let d = (z.elem_count() / z.dims()[0]) as f64;
        let dims: Vec<usize> = (1..z.rank()).collect();
        let sq = z.sqr()?.sum(&dims, false)?;
        // −½|z|²/s² − d ln s − d/2 ln 2π
        let c = -d * s.ln() - 0.5 * d * (2.0 * std::f64::consts::PI).ln();
        (sq * (-0.5 / (s * s)))? + c
    }

    /// The loss weight λ(t) of [`Sde::weighting`], same shape as `t`.
    pub fn weight(&self, t: &Tensor) -> Result<Tensor> {
        self.weight_with(self.weighting, t)
    }

    /// The loss weight λ(t) for a given weighting.
    pub fn weight_with(&self, w: Weighting, t: &Tensor) -> Result<Tensor> {
        check_time(t)?;
        match w {
            Weighting::Unit => t.ones_like(),
            Weighting::Variance => Ok(self.marginal(t)?.1.sqr()?),
            Weighting::Likelihood => {
                if self.kind == SdeKind::Ve && self.sbgm_compat {
                    self.schedule.expr(t)?.sqr()
                } else {
                    self.diffusion2(t)
                }
            }
            Weighting::Sbgm => {
                let e = self.schedule.expr(t)?;
                match self.kind {
                    SdeKind::Ve => e.sqr(),
                    SdeKind::Vp => e.neg()?.expm1()?.neg(),
                    SdeKind::SubVp => e.neg()?.expm1()?.sqr(),
                }
            }
        }
    }
}

fn check_time(t: &Tensor) -> Result<()> {
    if !t.dtype().is_float() || t.rank() > 1 {
        return Err(Error::InvalidOp {
            op: "sde",
            msg: format!(
                "times must be a float scalar or a (B,) vector, got {}",
                t.shape()
            ),
        });
    }
    Ok(())
}
