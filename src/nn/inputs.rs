//! The checks of a score network's inputs `t`, `x`, `q`, `a` against its shapes.

use crate::error::{Error, Result};
use crate::graph::Tensor;
use crate::nn::module::ScoreNet;

/// [`ScoreNet::check_inputs`]: the batch size of inputs that fit `net`.
pub(crate) fn check_inputs<N: ScoreNet + ?Sized>(
    net: &N,
    (t, x): (&Tensor, &Tensor),
    (q, a): (Option<&Tensor>, Option<&Tensor>),
) -> Result<usize> {
    let name = net.name();
    let ds = net.data_shape();
    if x.rank() != ds.len() + 1 || x.dims()[1..] != ds[..] {
        return Err(Error::BadArgument(format!(
            "{name}: x must have shape (batch, {}), got {:?}",
            dims_str(&ds),
            x.dims()
        )));
    }
    if !x.dtype().is_float() {
        return Err(Error::BadArgument(format!(
            "{name}: x must be a float array, got {}",
            x.dtype()
        )));
    }
    let b = x.dims()[0];
    let (td, xt) = (t.dims(), x.dtype());
    if !(t.rank() == 0 || td == [b]) {
        let msg = format!("t must have shape ({b},) (one time per sample) or be a scalar");
        return Err(Error::BadArgument(format!("{name}: {msg}, got {td:?}")));
    }
    if t.dtype() != xt {
        let msg = format!("t is {} but x is {xt}; use one float type", t.dtype());
        return Err(Error::BadArgument(format!("{name}: {msg}")));
    }
    let q_cond = Conditioning {
        name: "q",
        what: "a conditioning map q",
        key: "q_dim",
        per_sample: |s: &[usize]| format!("shape ({}) per sample", dims_str(s)),
    };
    q_cond.check(name, net.q_shape(), q, x)?;
    let a_cond = Conditioning {
        name: "a",
        what: "a parameter vector a",
        key: "a_dim",
        per_sample: |s: &[usize]| format!("{} values per sample", dims_str(s)),
    };
    a_cond.check(name, net.a_dim().map(|d| vec![d]), a, x)?;
    Ok(b)
}

/// One conditioning input (`q` or `a`) as [`check_inputs`] checks it.
struct Conditioning<F> {
    name: &'static str,
    what: &'static str,
    key: &'static str,
    per_sample: F,
}

impl<F: Fn(&[usize]) -> String> Conditioning<F> {
    /// Checks that `got` is given exactly when the model takes it (`want`), with shape
    /// `(B, want..)` and `x`'s dtype.
    fn check(
        &self,
        net: &str,
        want: Option<Vec<usize>>,
        got: Option<&Tensor>,
        x: &Tensor,
    ) -> Result<()> {
        let n = self.name;
        match (want, got) {
            (None, Some(c)) => Err(Error::BadArgument(format!(
                "{net}: {} of shape {:?} was given, but the model takes none \
                 (set {} in the model config to condition on {n})",
                self.what,
                c.dims(),
                self.key
            ))),
            (Some(s), None) => Err(Error::BadArgument(format!(
                "{net}: the model is conditioned on {n} ({}) but no {n} was given",
                (self.per_sample)(&s)
            ))),
            (Some(s), Some(c)) => {
                let b = x.dims()[0];
                let (shape, dtype) = (c.dims(), c.dtype());
                let problem = if c.rank() != s.len() + 1 || shape[0] != b || shape[1..] != s[..] {
                    format!("must have shape ({b}, {}), got {shape:?}", dims_str(&s))
                } else if dtype != x.dtype() {
                    format!("is {dtype} but x is {}", x.dtype())
                } else {
                    return Ok(());
                };
                Err(Error::BadArgument(format!("{net}: {n} {problem}")))
            }
            (None, None) => Ok(()),
        }
    }
}

fn dims_str(d: &[usize]) -> String {
    d.iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
