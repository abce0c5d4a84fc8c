//! `eqx.nn.Dropout`: in training, each element is kept with probability `1 - p` and scaled by
//! `1 / (1 - p)`; at inference (or with `p = 0`) it is the identity. Its Python fields `p` and
//! `inference` are leaves of the model (0-d records in `.eqx` files).

use crate::error::{Error, Result};
use crate::graph::Tensor;
use crate::nn::module::{ApplyMode, Leaf, join};

/// The leaves `prefix.p` (Python float) and `prefix.inference` (Python bool, `False` as
/// Equinox builds it).
pub fn leaves(prefix: &str, p: f64) -> Vec<Leaf> {
    vec![
        Leaf::py_float(join(prefix, "p"), p),
        Leaf::py_bool(join(prefix, "inference"), false),
    ]
}

/// Dropout with probability `p`: `where(u < 1 - p, x / (1 - p), 0)` in training mode, the
/// identity at inference or when `p == 0`.
pub fn dropout(x: &Tensor, p: f64, mode: &ApplyMode) -> Result<Tensor> {
    if !(0.0..1.0).contains(&p) {
        return Err(Error::BadArgument(format!(
            "dropout probability must be in [0, 1), got {p}"
        )));
    }
    if p == 0.0 {
        return Ok(x.clone());
    }
    let Some(u) = mode.uniform(x.dims(), x.dtype())? else {
        return Ok(x.clone());
    };
    let q = 1.0 - p;
    let keep = u.lt(&u.full_like(q)?)?;
    keep.select(&(x / q)?, &x.zeros_like()?)
}
