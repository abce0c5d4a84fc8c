//! A model's inputs, checked against it before anything reaches the plugin: the batch of
//! `score` (times, samples, conditioning), the conditioning of `sample` and `loglik` (one row
//! per sample or one for all), and the data of `loglik`. Messages name the command-line flags
//! (`--x`, `--q`, ...) that give each input.

use super::Model;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::host::HostArray;
use ndarray::ArrayD;
use std::path::Path;

/// `3, 8, 8`: dimensions as in a shape, without the parentheses.
fn dims(d: &[usize]) -> String {
    let v: Vec<String> = d.iter().map(usize::to_string).collect();
    v.join(", ")
}

/// `(3,)` or `(1, 8, 8)`, as Python prints a shape.
fn tuple(d: &[usize]) -> String {
    match d {
        [n] => format!("({n},)"),
        d => format!("({})", dims(d)),
    }
}

/// `a` converted to the float type `dtype` (f32 or f64).
pub fn cast_float(a: &HostArray, dtype: DType) -> Result<HostArray> {
    if a.dtype() == dtype {
        return Ok(a.clone());
    }
    let v = a.to_f64_vec();
    match dtype {
        DType::F32 => {
            HostArray::from_vec(a.shape().to_vec(), v.iter().map(|&x| x as f32).collect())
        }
        DType::F64 => HostArray::from_vec(a.shape().to_vec(), v),
        d => Err(Error::msg(format!(
            "cannot convert inputs to {d}: models with {d} parameters are not supported by this command"
        ))),
    }
}

/// Rows `start..end` along the first axis.
pub fn rows(a: &HostArray, start: usize, end: usize) -> Result<HostArray> {
    let n = a.shape()[0];
    let row = a.bytes().len() / n.max(1);
    let mut shape = a.shape().to_vec();
    shape[0] = end - start;
    HostArray::from_bytes(a.dtype(), shape, a.bytes()[start * row..end * row].to_vec())
}

/// Arrays concatenated along the first axis (same dtype and trailing shape).
pub fn concat_rows(parts: &[HostArray]) -> Result<HostArray> {
    let first = parts
        .first()
        .ok_or_else(|| Error::msg("nothing to concatenate"))?;
    let mut shape = first.shape().to_vec();
    shape[0] = parts.iter().map(|p| p.shape()[0]).sum();
    let mut bytes = Vec::with_capacity(parts.iter().map(|p| p.bytes().len()).sum());
    for p in parts {
        bytes.extend_from_slice(p.bytes());
    }
    HostArray::from_bytes(first.dtype(), shape, bytes)
}

/// A conditioning input of a model: the map or vector `q`, or the parameter vector `a`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CondInput {
    /// The conditioning map or vector `q`.
    Q,
    /// The parameter vector `a`.
    A,
}

impl CondInput {
    /// The flag that gives it (`--q`, `--a`).
    pub fn flag(self) -> &'static str {
        match self {
            CondInput::Q => "--q",
            CondInput::A => "--a",
        }
    }

    fn what(self) -> &'static str {
        match self {
            CondInput::Q => "a conditioning q",
            CondInput::A => "a parameter vector a",
        }
    }

    /// Its shape per sample when the model is conditioned on it.
    fn shape(self, model: &Model) -> Option<Vec<usize>> {
        match self {
            CondInput::Q => model.net.q_shape(),
            CondInput::A => model.net.a_dim().map(|d| vec![d]),
        }
    }
}

/// Checked score inputs: `t` is `(B,)`, all in the model's float type.
#[derive(Clone, Debug)]
pub struct ScoreInputs {
    /// Times `(B,)`.
    pub t: HostArray,
    /// Samples `(B, data shape...)`.
    pub x: HostArray,
    /// Conditioning map or vector `(B, q shape...)`.
    pub q: Option<HostArray>,
    /// Parameter vector `(B, a_dim)`.
    pub a: Option<HostArray>,
}

impl ScoreInputs {
    /// The batch size.
    pub fn batch(&self) -> usize {
        self.x.shape()[0]
    }

    /// Rows `start..end` of every input.
    pub fn rows(&self, start: usize, end: usize) -> Result<ScoreInputs> {
        Ok(ScoreInputs {
            t: rows(&self.t, start, end)?,
            x: rows(&self.x, start, end)?,
            q: self.q.as_ref().map(|q| rows(q, start, end)).transpose()?,
            a: self.a.as_ref().map(|a| rows(a, start, end)).transpose()?,
        })
    }

    /// The inputs in the order of the score program's arguments: `t`, `x`, (`q`), (`a`).
    pub fn arrays(&self) -> Vec<&HostArray> {
        let mut v = vec![&self.t, &self.x];
        v.extend(self.q.as_ref());
        v.extend(self.a.as_ref());
        v
    }
}

impl Model {
    /// Checks the score inputs `t`, `x`, `q`, `a` against the model (names of the flags in
    /// the messages) and converts them to the model's float type, broadcasting a scalar `t`
    /// to `(B,)`.
    pub fn score_inputs(
        &self,
        t: &HostArray,
        x: &HostArray,
        q: Option<&HostArray>,
        a: Option<&HostArray>,
    ) -> Result<ScoreInputs> {
        let name = self.net.name();
        let bad = |m: String| Error::BadArgument(format!("{name}: {m}"));
        let ds = self.net.data_shape();
        if x.shape().len() != ds.len() + 1 || x.shape()[1..] != ds[..] {
            return Err(bad(format!(
                "--x must have shape (batch, {}) for this model, got {:?}",
                dims(&ds),
                x.shape()
            )));
        }
        let b = x.shape()[0];
        if b == 0 {
            return Err(bad("--x holds no samples (batch size 0)".into()));
        }
        let float = |a: &HostArray, flag: &str| -> Result<()> {
            if a.dtype().is_float() {
                Ok(())
            } else {
                Err(bad(format!(
                    "{flag} must be a float array, got {} (scale the data as for training)",
                    a.dtype()
                )))
            }
        };
        float(x, "--x")?;
        let dtype = self.dtype();
        let t = match t.shape() {
            [n] if *n == b => cast_float(t, dtype)?,
            [] | [1] => {
                let v = t.to_f64_vec()[0];
                cast_float(&HostArray::from_vec(vec![b], vec![v; b])?, dtype)?
            }
            s => {
                return Err(bad(format!(
                    "--t must have shape ({b},) (one time per sample of --x) or be a scalar, got {s:?}"
                )));
            }
        };
        let cond = |given: Option<&HostArray>, which: CondInput| {
            let (flag, what) = (which.flag(), which.what());
            match (which.shape(self), given) {
                (None, None) => Ok(None),
                (None, Some(v)) => Err(bad(format!(
                    "{flag} was given (shape {:?}) but the model is not conditioned on {what}; \
                     drop {flag} or use a model config with {what}",
                    v.shape()
                ))),
                (Some(w), None) => Err(bad(format!(
                    "the model is conditioned on {what} (shape {} per sample): pass {flag} with \
                     shape ({b}, {})",
                    tuple(&w),
                    dims(&w)
                ))),
                (Some(w), Some(v)) => {
                    let s = v.shape();
                    if s.len() != w.len() + 1 || s[0] != b || s[1..] != w[..] {
                        return Err(bad(format!(
                            "{flag} must have shape ({b}, {}) (one per sample of --x), got {s:?}",
                            dims(&w),
                        )));
                    }
                    float(v, flag)?;
                    cast_float(v, dtype).map(Some)
                }
            }
        };
        let q = cond(q, CondInput::Q)?;
        let a = cond(a, CondInput::A)?;
        Ok(ScoreInputs {
            t,
            x: cast_float(x, dtype)?,
            q,
            a,
        })
    }

    /// Checks the conditioning input `which` for `n` samples (one row per sample or one row
    /// for all) against the model and converts it to the model's float type.
    pub fn conditioning(
        &self,
        which: CondInput,
        given: Option<HostArray>,
        n: usize,
    ) -> Result<Option<HostArray>> {
        let (flag, what) = (which.flag(), which.what());
        match (which.shape(self), given) {
            (None, None) => Ok(None),
            (None, Some(v)) => Err(Error::BadArgument(format!(
                "{flag} was given (shape {:?}) but the model is not conditioned on {what}; \
                 drop {flag}",
                v.shape()
            ))),
            (Some(w), None) => Err(Error::BadArgument(format!(
                "the model is conditioned on {what}: pass {flag} FILE.npy with shape \
                 ({n}, {}) (one per sample) or (1, {}) (the same for all)",
                dims(&w),
                dims(&w)
            ))),
            (Some(w), Some(v)) => {
                let s = v.shape();
                if s.len() != w.len() + 1 || !(s[0] == n || s[0] == 1) || s[1..] != w[..] {
                    return Err(Error::BadArgument(format!(
                        "{flag} must have shape ({n}, {}) or (1, {}), got {s:?}",
                        dims(&w),
                        dims(&w)
                    )));
                }
                if !v.dtype().is_float() {
                    return Err(Error::BadArgument(format!(
                        "{flag} must be a float array, got {}",
                        v.dtype()
                    )));
                }
                cast_float(&v, self.dtype()).map(Some)
            }
        }
    }

    /// The values of `raw`, data for the log-likelihood read from `path` (`--data`), as `f32`,
    /// after checking that they are N >= 1 finite numbers of the model's sample shape.
    pub fn data_values(&self, raw: &HostArray, path: &Path) -> Result<ArrayD<f32>> {
        let ds = self.net.data_shape();
        let s = raw.shape();
        let bad = |m: String| Err(Error::msg(m));
        if s.len() != ds.len() + 1 || s[1..] != ds[..] {
            return bad(format!(
                "--data {} has shape {s:?}; the model's samples are {ds:?}, so it must be (N, {})",
                path.display(),
                dims(&ds)
            ));
        }
        if s[0] == 0 {
            return bad(format!("--data {} holds no samples", path.display()));
        }
        if raw.dtype() == DType::Pred {
            return bad("--data must be numbers, got bool".into());
        }
        let x = cast_float(raw, DType::F32)?.to_ndarray::<f32>()?;
        if let Some(i) = x.iter().position(|v| !v.is_finite()) {
            return bad(format!("--data has a non-finite value at flat index {i}"));
        }
        Ok(x)
    }
}
