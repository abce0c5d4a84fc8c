//! Importance sampling of times for likelihood weighting ([`LikelihoodTimes`]).

use std::f64::consts::FRAC_PI_2;

use crate::error::{Error, Result};
use crate::graph::Tensor;
use crate::sde::{Schedule, Sde, SdeKind};

/// The importance distribution of times for likelihood weighting of an SDE:
/// `p(t) ∝ g(t)²/σ(t)²` on `[t0, t1]` (Song et al. 2021b, "Maximum Likelihood Training of
/// Score-Based Diffusion Models", Sec. 5).
///
/// With λ(t) = g(t)² the score-matching term `λ(t) |s + ε/σ(t)|²` behaves like
/// `g(t)²/σ(t)² · |σ s + ε|²`, and g²/σ² is large near t0 (about 1/t), so uniform times give a
/// loss of high variance. Drawing t from `p(t) = g(t)² / (Z σ(t)²)` on `[t0, t1]` and dividing
/// λ by p leaves the expected loss unchanged while the per-sample weight becomes
/// `λ(t)/p(t) = Z σ(t)²`, bounded by `Z σ(t1)²`.
///
/// The density has a closed-form antiderivative F (so `Z = F(t1) − F(t0)` and the CDF is
/// `(F(t) − F(t0)) / Z`) whose inverse is closed-form for every schedule:
///
/// | SDE   | g²/σ²                         | F(t)                  | F⁻¹(v)                                   |
/// |-------|-------------------------------|-----------------------|------------------------------------------|
/// | VE    | d ln σ²/dt                    | ln(e^ℓ − 1)           | ℓ = softplus(v), ℓ(t) = 2 ln(σ(t)/σ(0))   |
/// | VP    | β / (1 − e^{−B})              | ln(e^B − 1)           | B = softplus(v)                          |
/// | SubVP | β (1 + e^{−B}) / (1 − e^{−B}) | B + 2 ln(1 − e^{−B})  | B = ln(1 + y), y²/(1 + y) = e^v          |
///
/// then t from B(t) (linear: a quadratic; constant: B/β; cosine: an arccosine written as an
/// `atan2` so that it stays exact near t = 0) or from ℓ (geometric: ℓ / (2 ln(σ_max/σ_min))).
/// The density is not integrable at t = 0 (F(0) = −∞), so t0 must be positive. It follows
/// the paper's SDEs, not sbgm's deviations ([`Sde::sbgm_compat`] is refused).
///
/// ```
/// use sbgm_xla::sde::{LikelihoodTimes, Schedule, Sde, SdeKind};
/// let sde = Sde::new(SdeKind::Vp, Schedule::Linear { beta_min: 0.1, beta_max: 20.0 }, 1e-5, 1.0, 0.01)?;
/// let times = LikelihoodTimes::new(&sde)?;
/// assert!((times.cdf_f64(sde.t0), times.cdf_f64(sde.t1)) == (0.0, 1.0));
/// assert!(times.normaliser() > 20.0);
/// # Ok::<(), sbgm_xla::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct LikelihoodTimes {
    sde: Sde,
    f0: f64,
    f1: f64,
}

impl LikelihoodTimes {
    /// The distribution for `sde` (its kind, schedule and `[t0, t1]`). Fails when t0 = 0 (the
    /// density is not integrable there) or under `sbgm_compat`.
    pub fn new(sde: &Sde) -> Result<LikelihoodTimes> {
        sde.validate()?;
        if sde.sbgm_compat {
            return Err(Error::msg(
                "importance sampling of times follows Song et al.'s SDEs; sbgm_compat samples \
                 times uniformly as sbgm does",
            ));
        }
        if sde.t0 <= 0.0 {
            return Err(Error::msg(format!(
                "importance sampling of times needs t0 > 0 (the density g²/σ² is not integrable \
                 at t = 0); got t0 = {}: use e.g. t0 = 1e-5",
                sde.t0
            )));
        }
        let times = LikelihoodTimes {
            sde: sde.clone(),
            f0: antiderivative(sde, sde.t0),
            f1: antiderivative(sde, sde.t1),
        };
        if !(times.f0.is_finite() && times.f1.is_finite() && times.f1 > times.f0) {
            return Err(Error::msg(format!(
                "importance sampling of times: the integral of g²/σ² over [{}, {}] is not finite \
                 and positive (F(t0) = {}, F(t1) = {}); check the schedule and the times",
                sde.t0, sde.t1, times.f0, times.f1
            )));
        }
        Ok(times)
    }

    /// The normaliser `Z = ∫ g(t)²/σ(t)² dt` over `[t0, t1]`.
    pub fn normaliser(&self) -> f64 {
        self.f1 - self.f0
    }

    /// The cumulative distribution `P(T <= t)` on the host, clamped to `[0, 1]`.
    pub fn cdf_f64(&self, t: f64) -> f64 {
        let t = t.clamp(self.sde.t0, self.sde.t1);
        ((antiderivative(&self.sde, t) - self.f0) / self.normaliser()).clamp(0.0, 1.0)
    }

    /// The inverse CDF on graph tensors: `u ∈ [0, 1]` (any shape) to times in `[t0, t1]`.
    pub fn inverse_cdf(&self, u: &Tensor) -> Result<Tensor> {
        let v = u.affine(self.normaliser(), self.f0)?;
        let t = match self.sde.kind {
            SdeKind::Ve => match self.sde.schedule {
                Schedule::Geometric {
                    sigma_min,
                    sigma_max,
                } => v.softplus()? * (0.5 / (sigma_max / sigma_min).ln()),
                _ => Err(schedule_mismatch(&self.sde)),
            }?,
            SdeKind::Vp => self.time_of_integral(&v.softplus()?)?,
            SdeKind::SubVp => {
                // y = e^{v/2} (e^{v/2} + √(e^v + 4)) / 2 solves y²/(1 + y) = e^v; B = ln(1 + y)
                let h = (&v * 0.5)?.exp()?;
                let root = (v.exp()? + 4.0)?.sqrt()?;
                let y = ((&h * (&h + root)?)? * 0.5)?;
                self.time_of_integral(&y.log1p()?)?
            }
        };
        t.clamp(self.sde.t0, self.sde.t1)
    }

    /// The importance weight `λ(t)/p(t) = Z σ(t)²` of likelihood weighting λ = g², for times
    /// `t` (a scalar or `(B,)`).
    pub fn weight(&self, t: &Tensor) -> Result<Tensor> {
        self.sde.marginal(t)?.1.sqr()? * self.normaliser()
    }

    /// t from B(t) = b for the VP/SubVP schedules, stable for small b.
    fn time_of_integral(&self, b: &Tensor) -> Result<Tensor> {
        match self.sde.schedule {
            Schedule::Linear { beta_min, beta_max } => {
                // β_min t + ½ Δ t² = b  ⇒  t = 2b / (β_min + √(β_min² + 2Δ b))
                let delta = beta_max - beta_min;
                let root = b.affine(2.0 * delta, beta_min * beta_min)?.sqrt()?;
                (b * 2.0)? / (root + beta_min)?
            }
            Schedule::Constant { beta } => b * (1.0 / beta),
            Schedule::Cosine { s } => {
                // cos(k (t + s)) = c₀ e^{−b/2}, with sin² = sin²(ks) + c₀² (1 − e^{−b})
                let k = FRAC_PI_2 / (1.0 + s);
                let (sin0, c0) = (k * s).sin_cos();
                let cos = ((b * -0.5)?.exp()? * c0)?;
                let sin = (b.neg()?.expm1()? * (-c0 * c0))?
                    .affine(1.0, sin0 * sin0)?
                    .sqrt()?;
                sin.atan2(&cos)?.affine(1.0 / k, -s)
            }
            Schedule::Geometric { .. } => Err(schedule_mismatch(&self.sde)),
        }
    }
}

fn schedule_mismatch(sde: &Sde) -> Error {
    Error::msg(format!(
        "importance sampling of times: the {} SDE does not use the schedule {:?}",
        sde.kind, sde.schedule
    ))
}

/// The antiderivative F of g²/σ² on the host (see the module's table).
fn antiderivative(sde: &Sde, t: f64) -> f64 {
    let e = sde.schedule.expr_f64(t);
    match sde.kind {
        SdeKind::Ve => (2.0 * (e / sde.schedule.expr_f64(0.0)).ln()).exp_m1().ln(),
        SdeKind::Vp => e.exp_m1().ln(),
        SdeKind::SubVp => e + 2.0 * (-(-e).exp_m1()).ln(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vp() -> Sde {
        let linear = Schedule::Linear {
            beta_min: 0.1,
            beta_max: 20.0,
        };
        Sde::new(SdeKind::Vp, linear, 1e-5, 1.0, 0.01).unwrap()
    }

    #[test]
    fn the_cdf_rises_from_0_to_1() {
        let times = LikelihoodTimes::new(&vp()).unwrap();
        let grid: Vec<f64> = (0..=100)
            .map(|i| 1e-5 * 1e5f64.powf(i as f64 / 100.0))
            .collect();
        let cdf: Vec<f64> = grid.iter().map(|t| times.cdf_f64(*t)).collect();
        assert_eq!((cdf[0], cdf[100]), (0.0, 1.0));
        assert!(cdf.windows(2).all(|w| w[1] > w[0]), "{cdf:?}");
    }

    #[test]
    fn refuses_t0_zero_and_sbgm_compat() {
        let mut sde = vp();
        sde.t0 = 0.0;
        let e = LikelihoodTimes::new(&sde).unwrap_err().to_string();
        assert!(e.contains("t0 > 0"), "{e}");
        let mut sde = vp();
        sde.sbgm_compat = true;
        let e = LikelihoodTimes::new(&sde).unwrap_err().to_string();
        assert!(e.contains("sbgm_compat"), "{e}");
    }
}
