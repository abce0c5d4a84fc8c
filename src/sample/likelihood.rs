//! Log-likelihoods by the probability-flow ODE with the augmented divergence (Song et al.
//! 2021, Appendix D.2; Chen et al. 2018): integrate from t0 to t1
//!
//! d/dt [x, Δ] = [f̃(x, t), ∇·f̃(x, t)], f̃ = f − ½ g² s,
//!
//! then log p_{t0}(x) = log p_prior(x(t1)) + Δ(t1). The divergence is a(t)·D − ½ g(t)² ∇·s
//! with ∇·s either exact (one VJP per dimension: the batch is stacked D times with one-hot
//! cotangents, so it is one forward and one backward pass) or Hutchinson's estimate
//! mean_k ε_kᵀ (∂s/∂x) ε_k with K probes drawn once and held fixed along the solve.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::{Rng, Tensor, jvp, vjp};
use crate::sample::config::{LoglikConfig, Probe, TraceMethod};
use crate::sample::flow::solve;
use crate::sample::ode::OdeStats;
use crate::sample::score::{Cond, ScoreFn};
use crate::sde::{Sde, per_sample};

/// The traced results of a likelihood computation, per sample.
#[derive(Clone, Debug)]
pub struct LoglikTrace {
    /// log p_{t0}(x) in nats (B,) (of the dequantized input when dequantizing).
    pub logp: Tensor,
    /// The prior log-density of z = x(t1) (B,).
    pub prior: Tensor,
    /// The integrated divergence Δ (B,).
    pub delta: Tensor,
    /// The latent z = x(t1).
    pub z: Tensor,
    /// The input after dequantization.
    pub x: Tensor,
    /// Solver counters.
    pub stats: OdeStats,
}

/// Up to this many probes (exact: data dimensions) the divergence is taken by Jacobian-vector
/// products that share the forward pass; beyond, by one VJP of stacked copies.
const JVP_PROBES: usize = 8;

/// Stacks `m` copies of `x` along the batch: `(m·B, ...)`, copy-major.
fn stack_copies(x: &Tensor, m: usize) -> Result<Tensor> {
    let mut dims = vec![m];
    dims.extend_from_slice(x.dims());
    let mut out = x.dims().to_vec();
    out[0] *= m;
    x.unsqueeze(0)?.broadcast_to(&dims)?.reshape(&out)
}

/// Traces the likelihood of `x: (B, ...)`; `key` draws Hutchinson probes and
/// dequantization noise.
pub fn loglik_trace(
    score: &dyn ScoreFn,
    sde: &Sde,
    cfg: &LoglikConfig,
    x: &Tensor,
    key: &Tensor,
    cond: &Cond,
) -> Result<LoglikTrace> {
    cfg.validate(sde)?;
    let g = x.graph().clone();
    let dtype = x.dtype();
    if x.rank() < 2 || !dtype.is_float() {
        return Err(Error::msg(format!(
            "log-likelihood data must be float (N, ...) with at least one data dimension, got {}",
            x.shape()
        )));
    }
    let b = x.dims()[0];
    let data_dims = x.dims()[1..].to_vec();
    let d: usize = data_dims.iter().product();
    let mut rng = Rng::new(key)?;
    let x = match cfg.dequantize {
        None => x.clone(),
        Some(q) => {
            let l = q.levels as f64;
            let k = ((x - q.lo)? * ((l - 1.0) / (q.hi - q.lo)))?.round()?;
            let k = k.clamp(0.0, l - 1.0)?;
            let u = rng.uniform(x.dims(), dtype)?;
            ((k + u)? * ((q.hi - q.lo) / l))? + q.lo
        }?,
    };
    // probes (M·B, ...) and the reduction over the M copies
    let (m, probes, scale) = match cfg.method {
        TraceMethod::Exact => {
            let eye = g
                .iota(&[d, d], DType::I32, 0)?
                .eq(&g.iota(&[d, d], DType::I32, 1)?)?
                .convert(dtype)?;
            let p = eye.unsqueeze(1)?.broadcast_to(&[d, b, d])?;
            let mut out = vec![d * b];
            out.extend_from_slice(&data_dims);
            (d, p.reshape(&out)?, 1.0)
        }
        TraceMethod::Hutchinson => {
            let k = cfg.probes;
            let mut dims = vec![k * b];
            dims.extend_from_slice(&data_dims);
            let p = match cfg.probe {
                Probe::Gaussian => rng.normal(&dims, dtype)?,
                Probe::Rademacher => rng.rademacher(&dims, dtype)?,
            };
            (k, p, 1.0 / k as f64)
        }
    };
    let cond_m = cond.tile(m)?;
    let all: Vec<usize> = (1..x.rank()).collect();
    // pᵀ J p summed over the M probes, by M Jacobian-vector products sharing one forward
    // pass (few probes: what JAX's vmap of a VJP costs), else by one VJP of M stacked
    // copies (one big batch; the forward pass is repeated M times).
    let by_jvp = |t: &Tensor, xs: &Tensor| -> Result<(Tensor, Tensor)> {
        let s = score.score(t, xs, cond)?;
        let mut acc: Option<Tensor> = None;
        for j in 0..m {
            let p = probes.narrow(0, j * b, b)?;
            let jp = jvp(&[&s], &[xs], &[&p])?.remove(0);
            let pjp = (jp * &p)?.sum(&all, false)?;
            acc = Some(match acc {
                None => pjp,
                Some(a) => (a + pjp)?,
            });
        }
        Ok((s, acc.expect("at least one probe")))
    };
    let by_vjp = |t: &Tensor, xs: &Tensor| -> Result<(Tensor, Tensor)> {
        let x_rep = stack_copies(xs, m)?;
        let t_rep = stack_copies(t, m)?;
        let s_rep = score.score(&t_rep, &x_rep, &cond_m)?;
        let v = vjp(&[&s_rep], &[&probes], &[&x_rep])?.remove(0);
        let pjp = (v * &probes)?.sum(&all, false)?.reshape(&[m, b])?;
        Ok((s_rep.narrow(0, 0, b)?, pjp.sum(&[0], false)?))
    };
    let field = |t: &Tensor, y: &[Tensor]| -> Result<Vec<Tensor>> {
        let xs = &y[0];
        let (s, sum_pjp) = if m <= JVP_PROBES {
            match by_jvp(t, xs) {
                Err(Error::NotDifferentiable { .. }) => by_vjp(t, xs)?,
                r => r?,
            }
        } else {
            by_vjp(t, xs)?
        };
        let div_s = (sum_pjp * scale)?;
        let a = sde.drift_coef(t)?;
        let g2 = sde.diffusion2(t)?;
        let drift = ((xs * per_sample(&a, xs)?)? - ((s * per_sample(&g2, xs)?)? * 0.5)?)?;
        let div = ((a * d as f64)? - ((g2 * div_s)? * 0.5)?)?;
        Ok(vec![drift, div])
    };
    let y0 = [x.clone(), g.zeros(&[b], dtype)?];
    let (y, stats) = solve(&field, &cfg.solver_config(), sde, &y0, sde.t0, sde.t1)?;
    let z = y[0].clone();
    let delta = y[1].clone();
    let prior = sde.prior_log_prob(&z)?;
    let logp = (&prior + &delta)?;
    Ok(LoglikTrace {
        logp,
        prior,
        delta,
        z,
        x,
        stats,
    })
}
