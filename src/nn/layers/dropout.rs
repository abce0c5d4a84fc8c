//! `eqx.nn.Dropout`: in training, each element is kept with probability `1 - p` and scaled by
//! `1 / (1 - p)`; at inference (or with `p = 0`) it is the identity. Its Python fields `p` and
//! `inference` are leaves of the model (0-d records in `.eqx` files).

use crate::error::{Error, Result};
use crate::graph::Tensor;
use crate::nn::module::ApplyMode;
use crate::nn::tree::Builder;

/// `eqx.nn.Dropout(p)`: its Python fields `p` and `inference` (`False` as Equinox builds it).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dropout {
    /// Probability of dropping an element.
    pub p: f64,
}

impl Dropout {
    /// Builds the fields `p` (Python float) and `inference` (Python bool).
    pub fn build<B: Builder>(self, b: &B) -> Dropout {
        let p = b.py_float("p", self.p);
        b.py_bool("inference", false);
        Dropout { p }
    }

    /// [`dropout`] with this layer's probability.
    pub fn apply(&self, x: &Tensor, mode: &ApplyMode) -> Result<Tensor> {
        dropout(x, self.p, mode)
    }
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
