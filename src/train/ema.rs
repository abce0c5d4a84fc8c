//! Exponential moving average of the parameters, as sbgm's `apply_ema`, traced.
//!
//! sbgm keeps an EMA copy of the model, starting as a copy of the initial parameters, and after
//! every optimizer step sets `ema = ema · rate + params · (1 - rate)` (default rate 0.999) on
//! every floating-point leaf. [`ema_update_warm`] warms the decay up instead (sbgm-xla's
//! default): `min(rate, (1 + n) / (10 + n))` after step `n`, as TensorFlow's
//! `ExponentialMovingAverage(num_updates=n)` does.

use crate::error::{Error, Result};
use crate::graph::Tensor;

/// The prefix of the EMA parameters' tensor names (`ema.<leaf path>`).
pub const EMA_PREFIX: &str = "ema";

/// sbgm's default EMA rate.
pub const DEFAULT_EMA_RATE: f64 = 0.999;

/// The EMA name of parameter `name` (`ema.<name>`).
pub fn ema_name(name: &str) -> String {
    format!("{EMA_PREFIX}.{name}")
}

/// Checks that `rate` is a usable EMA rate (in [0, 1]).
pub fn check_ema_rate(rate: f64) -> Result<()> {
    if !(0.0..=1.0).contains(&rate) {
        return Err(Error::msg(format!(
            "ema_rate = {rate} is out of range; it must be in [0, 1] (sbgm's default: \
             {DEFAULT_EMA_RATE})"
        )));
    }
    Ok(())
}

/// One EMA update, traced: `ema · rate + params · (1 - rate)` for each pair (the new
/// parameters, after the optimizer step). Integer leaves are copied from `params` (sbgm
/// averages only floating-point arrays).
pub fn ema_update(ema: &[Tensor], params: &[Tensor], rate: f64) -> Result<Vec<Tensor>> {
    check_ema_rate(rate)?;
    if ema.len() != params.len() {
        return Err(Error::msg(format!(
            "ema_update: {} EMA tensors but {} parameters",
            ema.len(),
            params.len()
        )));
    }
    ema.iter()
        .zip(params)
        .enumerate()
        .map(|(i, (e, p))| {
            if e.shape() != p.shape() {
                return Err(Error::msg(format!(
                    "ema_update: EMA tensor {i} is {} but its parameter is {}",
                    e.shape(),
                    p.shape()
                )));
            }
            if !p.dtype().is_float() {
                return Ok(p.clone());
            }
            (e * rate)? + (p * (1.0 - rate))?
        })
        .collect()
}

/// [`ema_update`] with the warm-up decay `min(rate, (1 + n) / (10 + n))`, `n` the number of
/// optimizer steps taken before this one (`step`, a traced integer scalar).
pub fn ema_update_warm(
    ema: &[Tensor],
    params: &[Tensor],
    rate: f64,
    step: &Tensor,
) -> Result<Vec<Tensor>> {
    check_ema_rate(rate)?;
    let n = step.convert(crate::dtype::DType::F32)?;
    let decay = ((&n + 1.0)? / (&n + 10.0)?)?.clamp(0.0, rate)?;
    let keep = (decay.neg()? + 1.0)?;
    ema.iter()
        .zip(params)
        .map(|(e, p)| {
            if !p.dtype().is_float() {
                return Ok(p.clone());
            }
            let d = decay.convert(p.dtype())?;
            let k = keep.convert(p.dtype())?;
            (e * &d)? + (p * &k)?
        })
        .collect()
}
