//! Learning-rate schedules (optax's `constant_schedule` and `warmup_cosine_decay_schedule`), traced.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::Tensor;

/// A learning-rate schedule: the step size as a function of the optimizer's step count `k`
/// (the count *before* the step, 0 for the first step, as optax's `scale_by_schedule`).
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    /// `lr(k) = value` (`optax.constant_schedule`, or a plain float learning rate).
    Constant(f64),
    /// A linear warm-up then a cosine decay ([`WarmupCosine`]).
    WarmupCosine(WarmupCosine),
}

/// `optax.warmup_cosine_decay_schedule(init, peak, warmup_steps, decay_steps, end, exponent)`:
/// a linear ramp from `init` to `peak` over `warmup_steps`, then a cosine decay from `peak` to
/// `end` that ends at step `decay_steps` (which counts the warm-up steps too), then `end`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WarmupCosine {
    /// The value at step 0.
    pub init: f64,
    /// The value at the end of the warm-up.
    pub peak: f64,
    /// Length of the linear warm-up.
    pub warmup_steps: u64,
    /// The step at which the decay ends (warm-up included); must exceed `warmup_steps`.
    pub decay_steps: u64,
    /// The final value.
    pub end: f64,
    /// The cosine's exponent (optax's default: 1).
    pub exponent: f64,
}

impl Schedule {
    /// A linear warm-up from `init` to `peak` followed by a cosine decay to `end`, with
    /// optax's default exponent 1.
    pub fn warmup_cosine(
        init: f64,
        peak: f64,
        warmup_steps: u64,
        decay_steps: u64,
        end: f64,
    ) -> Result<Schedule> {
        let s = Schedule::WarmupCosine(WarmupCosine {
            init,
            peak,
            warmup_steps,
            decay_steps,
            end,
            exponent: 1.0,
        });
        s.validate()?;
        Ok(s)
    }

    /// Checks the parameters (finite values, `decay_steps > warmup_steps`); the error names
    /// the `[train]` key.
    pub fn validate(&self) -> Result<()> {
        match self {
            Schedule::Constant(v) if !v.is_finite() => Err(Error::config(
                "train",
                "lr",
                format!("the learning rate must be a finite number, got {v}"),
            )),
            Schedule::Constant(_) => Ok(()),
            Schedule::WarmupCosine(w) => w.validate(),
        }
    }

    /// The value at step `count` (an `i32` scalar tensor: the optimizer's count before the
    /// step), in element type `dtype`, computed with optax's arithmetic in that type.
    pub fn value(&self, count: &Tensor, dtype: DType) -> Result<Tensor> {
        if count.dtype() != DType::I32 || count.rank() != 0 {
            return Err(Error::msg(format!(
                "schedule: the step count must be an i32 scalar, got {}",
                count.shape()
            )));
        }
        match self {
            Schedule::Constant(v) => count.graph().scalar(*v, dtype),
            Schedule::WarmupCosine(w) => w.value(count, dtype),
        }
    }

    /// The value at step `count` on the host, in `f64` (for logging and plots).
    pub fn value_host(&self, count: u64) -> f64 {
        match self {
            Schedule::Constant(v) => *v,
            Schedule::WarmupCosine(w) => w.value_host(count),
        }
    }
}

impl WarmupCosine {
    fn validate(&self) -> Result<()> {
        let bad = |key, msg: String| Err(Error::config("train", key, msg));
        for (key, v) in [
            ("init_lr", self.init),
            ("lr", self.peak),
            ("end_lr", self.end),
            ("exponent", self.exponent),
        ] {
            if !v.is_finite() {
                return bad(
                    key,
                    format!("the warmup_cosine schedule needs a finite number, got {v}"),
                );
            }
        }
        let (warmup_steps, decay_steps) = (self.warmup_steps, self.decay_steps);
        if decay_steps <= warmup_steps {
            return bad(
                "decay_steps",
                format!(
                    "{decay_steps} must be larger than warmup_steps ({warmup_steps}); \
                     decay_steps counts the warm-up steps too \
                     (optax.warmup_cosine_decay_schedule)"
                ),
            );
        }
        if decay_steps > i32::MAX as u64 {
            return bad(
                "decay_steps",
                format!("{decay_steps} must fit in an i32 step counter"),
            );
        }
        Ok(())
    }

    /// The cosine part's length and `alpha = end / peak` (0 when `peak` is 0).
    fn decay_length_and_alpha(&self) -> (f64, f64) {
        let d = (self.decay_steps - self.warmup_steps) as f64;
        let alpha = if self.peak == 0.0 {
            0.0
        } else {
            self.end / self.peak
        };
        (d, alpha)
    }

    fn value(&self, count: &Tensor, dtype: DType) -> Result<Tensor> {
        let g = count.graph();
        let (init, peak, exponent) = (self.init, self.peak, self.exponent);
        let w = self.warmup_steps as f64;
        // optax.linear_schedule (polynomial_schedule with power 1):
        // (init - peak) * (1 - clip(k, 0, w) / w) + peak.
        let warm = if self.warmup_steps == 0 {
            g.scalar(peak, dtype)?
        } else {
            let k = count.clamp(0.0, w)?.convert(dtype)?;
            let frac = (1.0 - (k / w)?)?;
            ((frac * (init - peak))? + peak)?
        };
        // optax.cosine_decay_schedule(peak, decay - warmup, alpha = end / peak) at
        // k - warmup: peak * ((1 - alpha) * (0.5 (1 + cos(pi min(k', d) / d)))^e + alpha).
        let (d, alpha) = self.decay_length_and_alpha();
        let kc = (count - w)?.convert(dtype)?.minimum(&g.scalar(d, dtype)?)?;
        let cosine = (((kc * std::f64::consts::PI)? / d)?.cos()? + 1.0)? * 0.5;
        let cosine = cosine?.pow(&g.scalar(exponent, dtype)?)?;
        let decayed = ((cosine * (1.0 - alpha))? + alpha)?;
        let cos_value = (decayed * peak)?;
        if self.warmup_steps == 0 {
            return Ok(cos_value);
        }
        count.lt(&count.full_like(w)?)?.select(&warm, &cos_value)
    }

    fn value_host(&self, count: u64) -> f64 {
        if count < self.warmup_steps {
            let frac = 1.0 - count as f64 / self.warmup_steps as f64;
            (self.init - self.peak) * frac + self.peak
        } else {
            let (d, alpha) = self.decay_length_and_alpha();
            let k = ((count - self.warmup_steps) as f64).min(d);
            let c = 0.5 * (1.0 + (std::f64::consts::PI * k / d).cos());
            self.peak * ((1.0 - alpha) * c.powf(self.exponent) + alpha)
        }
    }
}
