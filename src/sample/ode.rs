//! ODE integration inside one graph `while` loop, on a batched state (each component
//! `(B, ...)`): fixed-step explicit Runge-Kutta, and adaptive embedded pairs with diffrax's
//! PI step-size controller, one step size per sample (as `jax.vmap` over diffrax would).

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::{Graph, Shape, Tensor};
use crate::sample::tableau::Tableau;
use crate::sde::per_sample;

/// A vector field on a batched state: `(t (B,), state) -> d state / dt`, component-wise.
pub type Field<'a> = dyn Fn(&Tensor, &[Tensor]) -> Result<Vec<Tensor>> + 'a;

/// diffrax's `PIDController` with its defaults (pcoeff 0, icoeff 1, so an I/PI controller
/// `h ← h · clip(safety · err^(−1/order), ...)`), plus the initial step and a step bound.
#[derive(Clone, Debug, PartialEq)]
pub struct Controller {
    /// Relative tolerance.
    pub rtol: f64,
    /// Absolute tolerance.
    pub atol: f64,
    /// Initial step size (magnitude).
    pub dt0: f64,
    /// Maximum number of steps (accepted or rejected) before giving up (diffrax: 4096).
    pub max_steps: usize,
    /// Safety factor (0.9).
    pub safety: f64,
    /// Smallest step-size factor after a rejected step (0.2).
    pub factormin: f64,
    /// Largest step-size factor after an accepted step (10).
    pub factormax: f64,
}

impl Controller {
    /// diffrax's defaults with the given tolerances and initial step.
    pub fn new(rtol: f64, atol: f64, dt0: f64) -> Controller {
        Controller {
            rtol,
            atol,
            dt0,
            max_steps: 4096,
            safety: 0.9,
            factormin: 0.2,
            factormax: 10.0,
        }
    }

    /// Checks the settings, naming the bad one.
    pub fn validate(&self) -> Result<()> {
        let pos = |n: &str, v: f64| -> Result<()> {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::msg(format!(
                    "{n} = {v} must be a finite number >= 0"
                )));
            }
            Ok(())
        };
        pos("rtol", self.rtol)?;
        pos("atol", self.atol)?;
        if self.rtol == 0.0 && self.atol == 0.0 {
            return Err(Error::msg(
                "rtol and atol are both 0; set at least one above 0",
            ));
        }
        if !(self.dt0.is_finite() && self.dt0 > 0.0) {
            return Err(Error::msg(format!(
                "the initial step dt0 = {} must be > 0",
                self.dt0
            )));
        }
        if self.max_steps == 0 {
            return Err(Error::msg("max_steps must be at least 1"));
        }
        if !(self.safety > 0.0
            && self.factormin > 0.0
            && self.factormin <= 1.0
            && self.factormax >= 1.0)
        {
            return Err(Error::msg(
                "controller factors: need safety > 0, 0 < factormin <= 1 <= factormax",
            ));
        }
        Ok(())
    }
}

/// Counters of a solve, as i32 scalars in the graph.
#[derive(Clone, Debug)]
pub struct OdeStats {
    /// Evaluations of the (batched) vector field.
    pub nfe: Tensor,
    /// Loop iterations (steps attempted).
    pub steps: Tensor,
    /// Rejected sample-steps (summed over the batch).
    pub rejected: Tensor,
    /// Samples that did not reach the end time (max_steps hit).
    pub unfinished: Tensor,
}

/// Traces the field once as a graph function taking `(t, state...)`.
fn as_function(
    g: &Graph,
    field: &Field,
    t_shape: Shape,
    y: &[Tensor],
) -> Result<crate::graph::Function> {
    let mut shapes = vec![t_shape];
    shapes.extend(y.iter().map(|c| c.shape().clone()));
    let n = y.len();
    g.function("ode_field", &shapes, |a| {
        let out = field(&a[0], &a[1..])?;
        if out.len() != n || out.iter().zip(&a[1..]).any(|(o, s)| o.shape() != s.shape()) {
            return Err(Error::msg(
                "the ODE vector field must return one derivative per state component, each of the component's shape",
            ));
        }
        Ok(out)
    })
}

fn batch_of(y: &[Tensor]) -> Result<(usize, DType)> {
    let Some(y0) = y.first() else {
        return Err(Error::msg("the ODE state is empty"));
    };
    if y0.rank() == 0 || !y0.dtype().is_float() {
        return Err(Error::msg(
            "ODE state components must be float (B, ...) tensors",
        ));
    }
    let b = y0.dims()[0];
    if y.iter()
        .any(|c| c.rank() == 0 || c.dims()[0] != b || c.dtype() != y0.dtype())
    {
        return Err(Error::msg(
            "ODE state components must share their batch size and type",
        ));
    }
    Ok((b, y0.dtype()))
}

/// `y + h Σⱼ coefs[j] k[j]` for every component; `h` is a scalar or `(B,)`.
fn combine(y: &[Tensor], ks: &[Vec<Tensor>], coefs: &[f64], h: &Tensor) -> Result<Vec<Tensor>> {
    let mut out = Vec::with_capacity(y.len());
    for (c, yc) in y.iter().enumerate() {
        let mut acc: Option<Tensor> = None;
        for (j, &a) in coefs.iter().enumerate() {
            if a == 0.0 {
                continue;
            }
            let term = (&ks[j][c] * a)?;
            acc = Some(match acc {
                None => term,
                Some(s) => (s + term)?,
            });
        }
        out.push(match acc {
            None => yc.clone(),
            Some(s) => (yc + (s * per_sample(h, yc)?)?)?,
        });
    }
    Ok(out)
}

/// One Runge-Kutta step from `(t, y)` with signed step `h` (scalar or `(B,)`), given k₁.
/// Returns the stages (for FSAL and error estimates) and y₁.
fn rk_step(
    f: &crate::graph::Function,
    tab: &Tableau,
    t: &Tensor,
    y: &[Tensor],
    k1: Vec<Tensor>,
    h: &Tensor,
) -> Result<(Vec<Vec<Tensor>>, Vec<Tensor>)> {
    let mut ks = vec![k1];
    for i in 1..tab.stages() {
        let ti = (t + (h * tab.c[i])?)?;
        let yi = combine(y, &ks, &tab.a[i], h)?;
        let mut args: Vec<&Tensor> = vec![&ti];
        args.extend(yi.iter());
        ks.push(f.call(&args)?);
    }
    // With FSAL the last stage already is f(t + h, y₁) and its y is y₁.
    let y1 = combine(y, &ks, &tab.b, h)?;
    Ok((ks, y1))
}

fn i32_scalar(g: &Graph, v: f64) -> Result<Tensor> {
    g.scalar(v, DType::I32)
}

/// Integrates from `t_start` to `t_end` (either direction) with `n` equal steps of `tab`.
/// Returns the final state and the counters (NFE = n·stages, one fewer per step with FSAL).
pub fn solve_fixed(
    field: &Field,
    tab: &Tableau,
    y0: &[Tensor],
    t_start: f64,
    t_end: f64,
    n: usize,
) -> Result<(Vec<Tensor>, OdeStats)> {
    if n == 0 {
        return Err(Error::msg("the number of solver steps must be at least 1"));
    }
    let (b, dt) = batch_of(y0)?;
    let g = y0[0].graph().clone();
    let f = as_function(&g, field, Shape::new([b], dt), y0)?;
    let h = (t_end - t_start) / n as f64;
    let m = y0.len();
    let mut init = y0.to_vec();
    let t0v = g.full(&[b], t_start, dt)?;
    if tab.fsal {
        let mut args = vec![&t0v];
        args.extend(y0.iter());
        init.extend(f.call(&args)?);
    }
    let out = g.fori_loop(0, n as i64, &init, |i, c| {
        let t = (i.convert(dt)? * h)? + t_start;
        let t = t?.broadcast_to(&[b])?;
        let y = &c[..m];
        let hh = g.scalar(h, dt)?;
        let k1 = if tab.fsal {
            c[m..].to_vec()
        } else {
            let mut args = vec![&t];
            args.extend(y.iter());
            f.call(&args)?
        };
        let (ks, y1) = rk_step(&f, tab, &t, y, k1, &hh)?;
        let mut next = y1;
        if tab.fsal {
            next.extend(ks.last().unwrap().iter().cloned());
        }
        Ok(next)
    })?;
    let nfe = if tab.fsal {
        1 + n * tab.evals_per_step()
    } else {
        n * tab.stages()
    };
    let stats = OdeStats {
        nfe: i32_scalar(&g, nfe as f64)?,
        steps: i32_scalar(&g, n as f64)?,
        rejected: i32_scalar(&g, 0.0)?,
        unfinished: i32_scalar(&g, 0.0)?,
    };
    Ok((out[..m].to_vec(), stats))
}

/// Per sample, the RMS over every state element of the embedded error estimate (weights
/// `e`) scaled by `atol + rtol · max(|y₀|, |y₁|)`; `total` is the element count per sample.
fn error_rms(
    y: &[Tensor],
    y1: &[Tensor],
    ks: &[Vec<Tensor>],
    e: &[f64],
    hs: &Tensor,
    ctrl: &Controller,
    total: usize,
) -> Result<Tensor> {
    let zeros = y
        .iter()
        .map(|c| c.zeros_like())
        .collect::<Result<Vec<_>>>()?;
    let err = combine(&zeros, ks, e, hs)?;
    let mut ss: Option<Tensor> = None;
    for ((yc, y1c), ec) in y.iter().zip(y1).zip(&err) {
        let scale = (yc.abs()?.maximum(&y1c.abs()?)? * ctrl.rtol)? + ctrl.atol;
        let r = (ec / scale?)?.sqr()?;
        let dims: Vec<usize> = (1..r.rank()).collect();
        let r = if dims.is_empty() {
            r
        } else {
            r.sum(&dims, false)?
        };
        ss = Some(match ss {
            None => r,
            Some(s) => (s + r)?,
        });
    }
    let ss = ss.ok_or_else(|| Error::msg("the ODE state has no parts"))?;
    (ss * (1.0 / total as f64))?.sqrt()
}

/// diffrax's PI controller on a step with error `rms` (per sample): whether the step is
/// accepted (`rms < 1`) and the factor for the next step size, `safety · rms^(-1/order)`
/// clipped to `[1, factormax]` after an accepted step and `[factormin, safety]` after a
/// rejected one (`factormin` when the error is NaN).
fn pi_factor(rms: &Tensor, order: u32, ctrl: &Controller) -> Result<(Tensor, Tensor)> {
    let accept = rms.lt(&rms.ones_like()?)?;
    let is_nan = rms.ne(rms)?;
    let one = rms.ones_like()?;
    let factor = (rms.powf(-1.0 / order as f64)? * ctrl.safety)?;
    let fmin = accept.select(&one, &rms.full_like(ctrl.factormin)?)?;
    let fmax = accept.select(
        &rms.full_like(ctrl.factormax)?,
        &rms.full_like(ctrl.safety)?,
    )?;
    let factor = factor.maximum(&fmin)?.minimum(&fmax)?;
    let factor = is_nan.select(&rms.full_like(ctrl.factormin)?, &factor)?;
    Ok((accept, factor))
}

/// Integrates from `t_start` to `t_end` (either direction) with an embedded pair and
/// diffrax's PI controller, one step size per sample. Error norm: per sample, the RMS over
/// every state element of `err / (atol + rtol · max(|y₀|, |y₁|))`; a step is kept when it
/// is below 1; the last step is clipped to land on `t_end` exactly. Samples that finish
/// early stay put while the others continue.
pub fn solve_adaptive(
    field: &Field,
    tab: &Tableau,
    y0: &[Tensor],
    t_start: f64,
    t_end: f64,
    ctrl: &Controller,
) -> Result<(Vec<Tensor>, OdeStats)> {
    ctrl.validate()?;
    let Some(e) = tab.e.clone() else {
        return Err(Error::msg(format!(
            "{} has no error estimate; adaptive stepping needs tsit5 or dopri5",
            tab.name
        )));
    };
    if t_start == t_end {
        return Err(Error::msg("the integration interval is empty"));
    }
    let (b, dt) = batch_of(y0)?;
    let g = y0[0].graph().clone();
    let f = as_function(&g, field, Shape::new([b], dt), y0)?;
    let dir = (t_end - t_start).signum();
    let m = y0.len();
    let total: usize = y0.iter().map(|c| c.elem_count() / b).sum();

    let tv = g.full(&[b], t_start, dt)?;
    let hv = g.full(&[b], ctrl.dt0, dt)?;
    let mut init = vec![tv.clone(), hv];
    init.extend(y0.iter().cloned());
    let mut a0 = vec![&tv];
    a0.extend(y0.iter());
    init.extend(f.call(&a0)?); // k1 (FSAL carry, or recomputed below)
    init.push(i32_scalar(&g, 0.0)?); // steps
    init.push(i32_scalar(&g, 0.0)?); // rejected
    let max_steps = ctrl.max_steps as f64;
    let g2 = g.clone();
    let out = g.while_loop(
        &init,
        |c| {
            let remaining = ((&c[0] - t_end)?.abs()?.gt(&c[0].zeros_like()?))?
                .convert(DType::I32)?
                .sum_all()?;
            let more = remaining.gt(&i32_scalar(&g2, 0.0)?)?;
            let under = c[2 + 2 * m].lt(&i32_scalar(&g2, max_steps)?)?;
            more.select(&under, &more)
        },
        |c| {
            let (t, h) = (&c[0], &c[1]);
            let y = &c[2..2 + m];
            let k1 = if tab.fsal {
                c[2 + m..2 + 2 * m].to_vec()
            } else {
                let mut args = vec![t];
                args.extend(y.iter());
                f.call(&args)?
            };
            // distance left (>= 0), clipped step, signed step
            let rem = ((t.neg()? + t_end)? * dir)?;
            let rem = rem.maximum(&rem.zeros_like()?)?;
            let clipped = h.ge(&rem)?;
            let h_eff = h.minimum(&rem)?;
            let hs = (&h_eff * dir)?;
            let (ks, y1) = rk_step(&f, tab, t, y, k1.clone(), &hs)?;
            let rms = error_rms(y, &y1, &ks, &e, &hs, ctrl, total)?;
            let (accept, factor) = pi_factor(&rms, tab.order, ctrl)?;
            let h_next = (&h_eff * &factor)?;
            let t_step = clipped.select(&t.full_like(t_end)?, &(t + &hs)?)?;
            let t_new = accept.select(&t_step, t)?;
            let mut next = vec![t_new, h_next];
            for (yc, y1c) in y.iter().zip(&y1) {
                next.push(per_sample(&accept, yc)?.select(y1c, yc)?);
            }
            let klast = if tab.fsal {
                ks.last().unwrap().clone()
            } else {
                k1.clone()
            };
            for (kc, kl) in k1.iter().zip(&klast) {
                next.push(per_sample(&accept, kc)?.select(kl, kc)?);
            }
            next.push((&c[2 + 2 * m] + 1.0)?);
            let rej = accept.not()?.convert(DType::I32)?.sum_all()?;
            next.push((&c[3 + 2 * m] + rej)?);
            Ok(next)
        },
    )?;
    let steps = out[2 + 2 * m].clone();
    let per = if tab.fsal {
        tab.evals_per_step()
    } else {
        tab.stages()
    };
    let nfe = ((&steps * per as f64)? + if tab.fsal { 1.0 } else { 0.0 })?;
    let unfinished = (&out[0] - t_end)?
        .abs()?
        .gt(&out[0].zeros_like()?)?
        .convert(DType::I32)?
        .sum_all()?;
    let stats = OdeStats {
        nfe,
        steps,
        rejected: out[3 + 2 * m].clone(),
        unfinished,
    };
    Ok((out[2..2 + m].to_vec(), stats))
}
