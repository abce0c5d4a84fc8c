//! Noise schedules: the one expression each SDE is built from (β's integral B(t) for VP/SubVP,
//! σ(t) for VE), traced on graph tensors and evaluated on the host.
//!
//! β(t) = dB/dt and dσ²/dt are not written here: the SDE takes them from the graph's forward
//! mode ([`jvp`](crate::graph::jvp)) of these expressions, so a new schedule is one expression.

use std::f64::consts::FRAC_PI_2;

use crate::error::{Error, Result};
use crate::graph::Tensor;

/// A noise schedule.
///
/// VP and SubVP use the integral `B(t) = ∫₀ᵗ β(s) ds` ([`Schedule::Linear`],
/// [`Schedule::Constant`], [`Schedule::Cosine`]); VE uses `σ(t)` ([`Schedule::Geometric`]).
#[derive(Clone, Debug, PartialEq)]
pub enum Schedule {
    /// β(t) = β_min + (β_max − β_min) t, so B(t) = β_min t + ½ (β_max − β_min) t²
    /// (Song et al. 2021, Eq. 33; sbgm's benchmarks use 0.1 and 20).
    Linear {
        /// β(0).
        beta_min: f64,
        /// β(1).
        beta_max: f64,
    },
    /// β(t) ≡ β, so B(t) = β t (sbgm's configs: `beta_integral = lambda t: t`, β = 1).
    Constant {
        /// The constant rate.
        beta: f64,
    },
    /// The cosine schedule of Nichol & Dhariwal (2021) in continuous time:
    /// ᾱ(t) = cos²(π/2 · (t + s)/(1 + s)) / cos²(π/2 · s/(1 + s)) and B(t) = −ln ᾱ(t), so that
    /// the VP mean factor exp(−B/2) is √ᾱ. It diverges at t = 1: use t1 < 1.
    Cosine {
        /// The offset s (0.008 in the paper).
        s: f64,
    },
    /// VE's geometric σ(t) = σ_min (σ_max/σ_min)^t (Song et al. 2021, Eq. 31).
    Geometric {
        /// σ(0).
        sigma_min: f64,
        /// σ(1).
        sigma_max: f64,
    },
}

impl Schedule {
    /// Whether this is a VE schedule (σ(t)) rather than a VP/SubVP one (B(t)).
    pub fn is_sigma(&self) -> bool {
        matches!(self, Schedule::Geometric { .. })
    }

    /// Checks the parameters (positive, ordered, finite), naming the bad one.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::msg(format!("sde schedule: {m}")));
        let finite = |name: &str, v: f64| -> Result<()> {
            if v.is_finite() {
                Ok(())
            } else {
                Err(Error::msg(format!(
                    "sde schedule: {name} = {v} is not finite"
                )))
            }
        };
        match *self {
            Schedule::Linear { beta_min, beta_max } => {
                finite("beta_min", beta_min)?;
                finite("beta_max", beta_max)?;
                if beta_min < 0.0 || beta_max < 0.0 || beta_min + beta_max <= 0.0 {
                    return bad(format!(
                        "beta_min = {beta_min} and beta_max = {beta_max} must be >= 0 and not both 0"
                    ));
                }
            }
            Schedule::Constant { beta } => {
                finite("beta", beta)?;
                if beta <= 0.0 {
                    return bad(format!("beta = {beta} must be > 0"));
                }
            }
            Schedule::Cosine { s } => {
                finite("cosine_s", s)?;
                if s < 0.0 {
                    return bad(format!("cosine_s = {s} must be >= 0"));
                }
            }
            Schedule::Geometric {
                sigma_min,
                sigma_max,
            } => {
                finite("sigma_min", sigma_min)?;
                finite("sigma_max", sigma_max)?;
                if sigma_min <= 0.0 || sigma_max <= sigma_min {
                    return bad(format!(
                        "need 0 < sigma_min < sigma_max, got sigma_min = {sigma_min}, sigma_max = {sigma_max}"
                    ));
                }
            }
        }
        Ok(())
    }

    /// The schedule's expression on a graph tensor of times: B(t) for VP/SubVP schedules,
    /// σ(t) for VE's.
    pub fn expr(&self, t: &Tensor) -> Result<Tensor> {
        match *self {
            Schedule::Linear { beta_min, beta_max } => {
                // β_min t + ½ (β_max − β_min) t²
                (t * beta_min)? + (t.sqr()? * (0.5 * (beta_max - beta_min)))?
            }
            Schedule::Constant { beta } => t * beta,
            Schedule::Cosine { s } => {
                // −2 ln(cos(b + δ)/cos b) with b = k s, δ = k t, k = π/2/(1 + s), written as
                // −2 log1p(−2 sin²(δ/2) − tan b · sin δ): no difference of nearly equal
                // logarithms, so B(t) keeps its relative precision in f32 at small t.
                let (k, tan_b) = cosine_consts(s);
                let delta = (t * k)?;
                let half_sin = (&delta * 0.5)?.sin()?;
                let u = ((half_sin.sqr()? * -2.0)? - (delta.sin()? * tan_b)?)?;
                u.log1p()? * -2.0
            }
            Schedule::Geometric {
                sigma_min,
                sigma_max,
            } => {
                // σ_min exp(t ln(σ_max/σ_min))
                (t * (sigma_max / sigma_min).ln())?.exp()? * sigma_min
            }
        }
    }

    /// The same expression evaluated on the host in f64 (time grids, tests).
    pub fn expr_f64(&self, t: f64) -> f64 {
        match *self {
            Schedule::Linear { beta_min, beta_max } => {
                beta_min * t + 0.5 * (beta_max - beta_min) * t * t
            }
            Schedule::Constant { beta } => beta * t,
            Schedule::Cosine { s } => {
                let (k, tan_b) = cosine_consts(s);
                let delta = k * t;
                -2.0 * (-2.0 * (0.5 * delta).sin().powi(2) - tan_b * delta.sin()).ln_1p()
            }
            Schedule::Geometric {
                sigma_min,
                sigma_max,
            } => sigma_min * (sigma_max / sigma_min).powf(t),
        }
    }

    /// The analytic derivative of [`Schedule::expr_f64`]: β(t) for VP/SubVP, dσ/dt for VE
    /// (a host reference for tests of the jvp-derived rates).
    pub fn deriv_f64(&self, t: f64) -> f64 {
        match *self {
            Schedule::Linear { beta_min, beta_max } => beta_min + (beta_max - beta_min) * t,
            Schedule::Constant { beta } => beta,
            Schedule::Cosine { s } => {
                let k = FRAC_PI_2 / (1.0 + s);
                2.0 * k * (k * (t + s)).tan()
            }
            Schedule::Geometric {
                sigma_min,
                sigma_max,
            } => self.expr_f64(t) * (sigma_max / sigma_min).ln(),
        }
    }
}

/// The cosine schedule's constants: k = π/2/(1 + s) (time to angle) and tan(k s).
fn cosine_consts(s: f64) -> (f64, f64) {
    let k = FRAC_PI_2 / (1.0 + s);
    (k, (k * s).tan())
}
