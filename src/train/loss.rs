//! sbgm's denoising score-matching loss, its stratified time samplers (uniform, and
//! importance-sampled for likelihood weighting) and conditioning dropout.
//!
//! For a batch `x (B, ...)`, times `t (B,)` and noise `ε ~ N(0, I)` of `x`'s shape
//! (sbgm 0.0.38, `_train.single_loss_fn` vmapped by `batch_loss_fn`):
//!
//! ```text
//! (mean, std) = marginal_prob(x, t)          mean = α(t) x, std = σ(t)
//! y  = mean + std · ε
//! lᵢ = λ(tᵢ) · mean_j (s(tᵢ, yᵢ)_j + ε_ij / σ(tᵢ))²   (mean over all of a sample's elements)
//! L  = mean_i lᵢ
//! ```
//!
//! The score function is a closure `Fn(&t, &y) -> Result<score>`, so the loss does not depend
//! on the model code (conditioning and dropout keys are captured by the closure).
//!
//! ```
//! use sbgm_xla::graph::{Graph, Rng};
//! use sbgm_xla::sde::{Sde, SdeKind, Schedule};
//! use sbgm_xla::train::loss::{dsm_loss, LossWeight};
//! use sbgm_xla::DType;
//! let sde = Sde::new(SdeKind::Vp, Schedule::Linear { beta_min: 0.1, beta_max: 20.0 }, 1e-5, 1.0, 0.01)?;
//! let g = Graph::new();
//! let x = g.parameter("x", &[8, 2], DType::F32)?;
//! let w = g.parameter("w", &[2, 2], DType::F32)?;
//! let mut rng = Rng::from_seed(&g, 0)?;
//! let score = |_t: &sbgm_xla::graph::Tensor, y: &sbgm_xla::graph::Tensor| y.matmul(&w);
//! let loss = dsm_loss(&sde, &LossWeight::Sde, &score, &x, &mut rng)?;
//! assert_eq!(loss.rank(), 0);
//! # Ok::<(), sbgm_xla::Error>(())
//! ```

use std::fmt;
use std::rc::Rc;

use serde::{Deserialize, Serialize};

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::{Rng, Tensor};
use crate::sample::{Cond, NullCond};
use crate::sde::{LikelihoodTimes, Sde, Weighting, per_sample};

/// A user loss weighting: times `t (B,)` to weights `λ(t) (B,)`.
pub type WeightFn = dyn Fn(&Tensor) -> Result<Tensor>;

/// The loss weighting λ(t).
#[derive(Clone, Default)]
pub enum LossWeight {
    /// The SDE's own weighting ([`Sde::weighting`]; sbgm's default unless configured).
    #[default]
    Sde,
    /// A built-in weighting: sbgm's default, likelihood (g(t)²), variance or unit.
    Builtin(Weighting),
    /// A user function of the times.
    User(Rc<WeightFn>),
    /// Likelihood weighting λ = g² with importance-sampled times (Song et al. 2021b): times
    /// drawn from `p(t) ∝ g²/σ²` ([`LossWeight::sample_time`]) and weighted by
    /// `λ/p = Z σ(t)²`, so the expected loss is likelihood weighting's at a lower variance.
    Importance(LikelihoodTimes),
}

/// How training draws the times of the loss (`[train] time_sampling`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeSampling {
    /// sbgm's stratified uniform times ([`sample_time`]).
    Uniform,
    /// Times stratified in `p(t) ∝ g²/σ²`, weights divided by p ([`LossWeight::Importance`]);
    /// only for likelihood weighting.
    Importance,
}

impl fmt::Debug for LossWeight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LossWeight::Sde => f.write_str("Sde"),
            LossWeight::Builtin(w) => write!(f, "Builtin({w:?})"),
            LossWeight::User(_) => f.write_str("User(..)"),
            LossWeight::Importance(_) => f.write_str("Importance"),
        }
    }
}

impl LossWeight {
    /// A user weighting from a closure `t (B,) -> λ(t) (B,)`.
    pub fn user(f: impl Fn(&Tensor) -> Result<Tensor> + 'static) -> LossWeight {
        LossWeight::User(Rc::new(f))
    }

    /// The weighting of the SDE's own [`Sde::weighting`] with times drawn as `sampling` says
    /// (importance sampling needs likelihood weighting and t0 > 0).
    pub fn of_sde(sde: &Sde, sampling: TimeSampling) -> Result<LossWeight> {
        match sampling {
            TimeSampling::Uniform => Ok(LossWeight::Sde),
            TimeSampling::Importance if sde.weighting == Weighting::Likelihood => {
                Ok(LossWeight::Importance(LikelihoodTimes::new(sde)?))
            }
            TimeSampling::Importance => Err(Error::msg(format!(
                "importance sampling of times is for likelihood weighting; the SDE's weighting \
                 is {:?}",
                sde.weighting
            ))),
        }
    }

    /// Draws one time per sample `(n,)` for this weighting: stratified in the importance
    /// density for [`LossWeight::Importance`] ([`sample_time_importance`]), else sbgm's
    /// stratified uniform times over the SDE's `[t0, t1]` ([`sample_time`]).
    pub fn sample_time(&self, sde: &Sde, rng: &mut Rng, n: usize, dtype: DType) -> Result<Tensor> {
        match self {
            LossWeight::Importance(times) => sample_time_importance(rng, times, n, dtype),
            _ => sample_time(rng, sde.t0, sde.t1, n, dtype),
        }
    }

    /// λ(t) for times `t (B,)`, shape `(B,)` (for [`LossWeight::Importance`], λ(t)/p(t)).
    pub fn weight(&self, sde: &Sde, t: &Tensor) -> Result<Tensor> {
        let w = match self {
            LossWeight::Sde => sde.weight(t)?,
            LossWeight::Builtin(w) => sde.weight_with(*w, t)?,
            LossWeight::User(f) => f(t)?,
            LossWeight::Importance(times) => times.weight(t)?,
        };
        if w.dims() != t.dims() || w.dtype() != t.dtype() {
            return Err(Error::msg(format!(
                "the loss weighting returned {} for times {}; it must return one weight per time, \
                 of the times' type",
                w.shape(),
                t.shape()
            )));
        }
        Ok(w)
    }
}

/// The terms of the loss for given times and noise (all traced).
#[derive(Debug, Clone)]
pub struct DsmTerms {
    /// The batch loss `mean_i lᵢ` (scalar).
    pub loss: Tensor,
    /// The per-sample losses `lᵢ` `(B,)`.
    pub per_sample: Tensor,
    /// The marginal means `α(t) x` (shape of `x`).
    pub mean: Tensor,
    /// The marginal stds `σ(t)` `(B,)`.
    pub std: Tensor,
    /// The weights `λ(t)` `(B,)`.
    pub weight: Tensor,
    /// The noised data `y = mean + σ ε` (shape of `x`).
    pub y: Tensor,
    /// The score network's output `s(t, y)` (shape of `x`).
    pub score: Tensor,
}

/// sbgm's denoising score-matching loss with the times `t (B,)` and noise `eps` (shape of
/// `x (B, ...)`) given, returning every term. `score(t, y)` must return `y`'s shape.
pub fn dsm_terms(
    sde: &Sde,
    weight: &LossWeight,
    score: &dyn Fn(&Tensor, &Tensor) -> Result<Tensor>,
    x: &Tensor,
    t: &Tensor,
    eps: &Tensor,
) -> Result<DsmTerms> {
    check_batch(x, t, eps)?;
    let (alpha, std) = sde.marginal(t)?;
    let mean = (x * per_sample(&alpha, x)?)?;
    let std_b = per_sample(&std, x)?;
    let y = (&mean + (&std_b * eps)?)?;
    let s = score(t, &y)?;
    if s.dims() != x.dims() || s.dtype() != x.dtype() {
        return Err(Error::msg(format!(
            "the score function returned {} for data {}; it must return the data's shape and type",
            s.shape(),
            x.shape()
        )));
    }
    let lam = weight.weight(sde, t)?;
    let r = (&s + (eps / &std_b)?)?.sqr()?;
    let feature_dims: Vec<usize> = (1..x.rank()).collect();
    let msq = if feature_dims.is_empty() {
        r
    } else {
        r.mean(&feature_dims, false)?
    };
    let per = (&lam * msq)?;
    let loss = per.mean_all()?;
    Ok(DsmTerms {
        loss,
        per_sample: per,
        mean,
        std,
        weight: lam,
        y,
        score: s,
    })
}

/// The loss of a batch `x (B, ...)` as sbgm's `make_step` computes it: times from
/// [`LossWeight::sample_time`] (sbgm's [`sample_time`] over the SDE's `[t0, t1]` unless the
/// weighting samples by importance), noise `ε ~ N(0, I)`, both drawn from `rng`.
pub fn dsm_loss(
    sde: &Sde,
    weight: &LossWeight,
    score: &dyn Fn(&Tensor, &Tensor) -> Result<Tensor>,
    x: &Tensor,
    rng: &mut Rng,
) -> Result<Tensor> {
    if x.rank() == 0 {
        return Err(Error::msg(format!(
            "dsm_loss: the data must be a batch (B, ...), got {}",
            x.shape()
        )));
    }
    let t = weight.sample_time(sde, rng, x.dims()[0], x.dtype())?;
    let eps = rng.normal(x.dims(), x.dtype())?;
    Ok(dsm_terms(sde, weight, score, x, &t, &eps)?.loss)
}

/// sbgm's low-discrepancy time sampler (`_train.sample_time`): one time per stratum,
/// `tᵢ = u_i + i · t1/n` with `u_i ~ U[t0, t1/n)`, so that `tᵢ ∈ [t0 + i t1/n, (i+1) t1/n)`.
/// (If `t1/n <= t0` every `u_i` is `t0`, as in sbgm.)
pub fn sample_time(rng: &mut Rng, t0: f64, t1: f64, n: usize, dtype: DType) -> Result<Tensor> {
    if n == 0 {
        return Err(Error::msg("sample_time: the batch size must be at least 1"));
    }
    if !(t0.is_finite() && t1.is_finite() && t0 < t1) {
        return Err(Error::msg(format!(
            "sample_time: need finite times t0 < t1, got t0 = {t0}, t1 = {t1}"
        )));
    }
    let h = t1 / n as f64;
    let u = rng.uniform_range(&[n], t0, h.max(t0), dtype)?;
    let g = u.graph();
    let i = g.iota(&[n], dtype, 0)?;
    u + (i * h)?
}

/// Times stratified in the importance density of likelihood weighting: `tᵢ = F⁻¹((i + uᵢ)/n)`
/// with `uᵢ ~ U[0, 1)` and F the CDF of `p(t) ∝ g²/σ²` ([`LikelihoodTimes`]), so each time
/// falls in its own 1/n of the probability mass, as [`sample_time`]'s do in time.
pub fn sample_time_importance(
    rng: &mut Rng,
    times: &LikelihoodTimes,
    n: usize,
    dtype: DType,
) -> Result<Tensor> {
    if n == 0 {
        return Err(Error::msg(
            "sample_time_importance: the batch size must be at least 1",
        ));
    }
    let u = rng.uniform(&[n], dtype)?;
    let i = u.graph().iota(&[n], dtype, 0)?;
    times.inverse_cdf(&((u + i)? * (1.0 / n as f64))?)
}

/// Conditioning dropout for classifier-free guidance: for each sample, with probability `p`,
/// replaces all of its conditioning tensors by their null values (one draw per sample shared
/// by every tensor, so a sample is either fully conditional or fully unconditional).
///
/// `conds` pairs each conditioning tensor `c (B, ...)` (a label vector `(B,)`, a parameter
/// vector `(B, P)`, a context map `(B, C, H, W)`) with its null value: a scalar or a tensor
/// of one sample's shape `(...)`, of `c`'s type (e.g. the extra class index of a label
/// embedding with one more row than classes, or a zero parameter vector).
pub fn drop_conditioning(
    rng: &mut Rng,
    p: f64,
    conds: &[(&Tensor, &Tensor)],
) -> Result<Vec<Tensor>> {
    if !(0.0..=1.0).contains(&p) {
        return Err(Error::msg(format!(
            "conditioning dropout: the probability must be in [0, 1], got {p}"
        )));
    }
    let Some((first, _)) = conds.first() else {
        return Ok(vec![]);
    };
    if first.rank() == 0 {
        return Err(Error::msg(format!(
            "conditioning dropout: conditioning must be batched (B, ...), got {}",
            first.shape()
        )));
    }
    let b = first.dims()[0];
    for (c, null) in conds {
        if c.rank() == 0 || c.dims()[0] != b {
            return Err(Error::msg(format!(
                "conditioning dropout: every conditioning tensor must have the batch size {b} \
                 first, got {}",
                c.shape()
            )));
        }
        if null.dtype() != c.dtype() || !(null.rank() == 0 || null.dims() == &c.dims()[1..]) {
            return Err(Error::msg(format!(
                "conditioning dropout: the null value {} does not fit conditioning {}; it must \
                 be a scalar or one sample's shape, of the same type",
                null.shape(),
                c.shape()
            )));
        }
    }
    let u = rng.uniform(&[b], DType::F32)?;
    let drop = u.lt(&u.full_like(p)?)?;
    conds
        .iter()
        .map(|(c, null)| {
            let mut dims = vec![1; c.rank()];
            dims[0] = b;
            let mask = drop.reshape(&dims)?.broadcast_to(c.dims())?;
            let null = null.broadcast_to(c.dims())?;
            mask.select(&null, c)
        })
        .collect()
}

/// Replaces each sample's conditioning by the null values `null` with probability `p`.
pub(crate) fn drop_cond(cond: &Cond, p: f64, null: &NullCond, rng: &mut Rng) -> Result<Cond> {
    if p <= 0.0 {
        return Ok(cond.clone());
    }
    let mut conds: Vec<(Tensor, Tensor)> = Vec::new();
    for (t, v) in [(&cond.q, null.q), (&cond.a, null.a)] {
        if let Some(t) = t {
            conds.push((t.clone(), t.graph().scalar(v, t.dtype())?));
        }
    }
    if conds.is_empty() {
        return Ok(cond.clone());
    }
    let refs: Vec<(&Tensor, &Tensor)> = conds.iter().map(|(a, b)| (a, b)).collect();
    let mut out = drop_conditioning(rng, p, &refs)?.into_iter();
    // (`and_then`: the outputs are in q, a order, only for the ones present)
    Ok(Cond {
        q: cond.q.as_ref().and_then(|_| out.next()),
        a: cond.a.as_ref().and_then(|_| out.next()),
        labels: None,
    })
}

fn check_batch(x: &Tensor, t: &Tensor, eps: &Tensor) -> Result<()> {
    if x.rank() == 0 || !x.dtype().is_float() {
        return Err(Error::msg(format!(
            "dsm loss: the data must be a float batch (B, ...), got {}",
            x.shape()
        )));
    }
    if t.rank() != 1 || t.dims()[0] != x.dims()[0] || t.dtype() != x.dtype() {
        return Err(Error::msg(format!(
            "dsm loss: the times must be one per sample (B,) of the data's type; data {}, \
             times {}",
            x.shape(),
            t.shape()
        )));
    }
    if eps.shape() != x.shape() {
        return Err(Error::msg(format!(
            "dsm loss: the noise {} must have the data's shape {}",
            eps.shape(),
            x.shape()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::Target;
    use crate::graph::Graph;
    use crate::host::HostArray;
    use crate::train::config::{LabelsAs, TrainConfig};

    /// Training on labels as `a` with a real map `q` beside them: dropped rows get −1 in
    /// `a` (not a class; 0 is class 0) and 0 in `q`, both in the same rows.
    #[test]
    fn dropped_label_rows_hold_minus_one_and_other_parts_zero() {
        let train = TrainConfig {
            labels_as: LabelsAs::A,
            ..TrainConfig::default()
        }
        .with_resolved_cond_null();
        assert_eq!(train.cond_null, Some(-1.0));
        let null = train.null_spec().values();
        let n = 64;
        let labels: Vec<f32> = (0..n).map(|i| (i % 3) as f32).collect();
        let maps: Vec<f32> = (0..n).map(|i| 1.0 + i as f32).collect();
        let g = Graph::new();
        let cond = Cond {
            q: Some(
                g.constant(&HostArray::from_vec(vec![n, 1], maps.clone()).unwrap())
                    .unwrap(),
            ),
            a: Some(
                g.constant(&HostArray::from_vec(vec![n, 1], labels.clone()).unwrap())
                    .unwrap(),
            ),
            labels: None,
        };
        let mut rng = Rng::from_seed(&g, 7).unwrap();
        let out = drop_cond(&cond, 0.5, &null, &mut rng).unwrap();
        let (q, a) = (out.q.unwrap(), out.a.unwrap());
        let m = g.build("drop", &[("q", &q), ("a", &a)]).unwrap();
        let target = Target::cpu().unwrap();
        let res = target.run(&m, &[]).unwrap();
        let (q, a) = (res[0].to_f64_vec(), res[1].to_f64_vec());
        let mut dropped = 0;
        for i in 0..n {
            if a[i] == -1.0 {
                dropped += 1;
                assert_eq!(q[i], 0.0, "row {i}: q dropped with a");
            } else {
                assert_eq!(a[i], labels[i] as f64, "row {i}: a kept or −1");
                assert_eq!(q[i], maps[i] as f64, "row {i}: q kept with a");
            }
        }
        assert!(
            (12..=52).contains(&dropped),
            "{dropped} of {n} rows dropped at p = 0.5"
        );
    }
}
