//! The score concepts, one each:
//! - [`ScoreFn`]: a score function traced in a graph, its parameters already bound,
//!   `s(t, x | cond)`; what every sampler calls;
//! - [`ScoreModel`]: a model on the host (an analytic density, or a network with its
//!   parameter values, [`crate::sample::NetScore`]) that binds itself into a graph as a
//!   [`ScoreFn`] and supplies the values of the parameters it declared; what the host entry
//!   points ([`crate::sample::sample`], [`crate::sample::loglik`]) take;
//! - [`Cond`]: per-sample conditioning inside a graph (also the training step's batches,
//!   [`crate::train::step`]); [`HostCond`] its host values;
//! - [`Guided`]: classifier-free guidance of a [`ScoreFn`].
//!
//! (Training sees the network before binding, as a function of its parameters:
//! [`crate::train::step::ScoreNetwork`].)

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::{Graph, Tensor};
use crate::host::HostArray;

/// Per-sample conditioning inside a graph: a context map `q` (B, ...), a parameter vector
/// `a` (B, n) and class labels (B,) (`i32`). `None` means "not given" (the unconditional
/// score for classifier-free guidance). The samplers and the training step share it.
#[derive(Clone, Debug, Default)]
pub struct Cond {
    /// Context map, same spatial size as x.
    pub q: Option<Tensor>,
    /// Parameter vector.
    pub a: Option<Tensor>,
    /// Class labels (i32).
    pub labels: Option<Tensor>,
}

impl Cond {
    /// No conditioning.
    pub fn none() -> Cond {
        Cond::default()
    }

    /// Whether nothing is given.
    pub fn is_empty(&self) -> bool {
        self.q.is_none() && self.a.is_none() && self.labels.is_none()
    }

    /// The null conditioning (everything dropped), used for the unconditional score of
    /// models that take absent conditioning as "none" (the analytic ones).
    pub fn null(&self) -> Cond {
        Cond::default()
    }

    /// The null conditioning of a network trained with conditioning dropout: each given `q`
    /// and `a` replaced by a tensor of its shape filled with `null`'s value for it (what the
    /// training put in dropped rows), labels dropped.
    pub fn null_filled(&self, null: &NullCond) -> Result<Cond> {
        let fill = |t: &Option<Tensor>, v: f64| t.as_ref().map(|t| t.full_like(v)).transpose();
        Ok(Cond {
            q: fill(&self.q, null.q)?,
            a: fill(&self.a, null.a)?,
            labels: None,
        })
    }

    fn parts(&self) -> [(&'static str, &Option<Tensor>); 3] {
        [("q", &self.q), ("a", &self.a), ("labels", &self.labels)]
    }

    /// Checks that every given part has `b` rows.
    pub fn check_batch(&self, b: usize) -> Result<()> {
        for (n, t) in self.parts() {
            if let Some(t) = t
                && (t.rank() == 0 || t.dims()[0] != b)
            {
                return Err(Error::msg(format!(
                    "conditioning {n} has shape {:?}, but the batch has {b} samples; give one row per sample ({b}, ...)",
                    t.dims()
                )));
            }
        }
        Ok(())
    }

    /// Every part repeated `m` times along the batch (`(m·B, ...)`, copy-major), to match a
    /// batch of `m` stacked copies of x.
    pub fn tile(&self, m: usize) -> Result<Cond> {
        let rep = |t: &Option<Tensor>| -> Result<Option<Tensor>> {
            let Some(t) = t else { return Ok(None) };
            let mut dims = vec![m];
            dims.extend_from_slice(t.dims());
            let mut out = t.dims().to_vec();
            out[0] *= m;
            Ok(Some(t.unsqueeze(0)?.broadcast_to(&dims)?.reshape(&out)?))
        };
        Ok(Cond {
            q: rep(&self.q)?,
            a: rep(&self.a)?,
            labels: rep(&self.labels)?,
        })
    }
}

/// The values that stand for "no conditioning" in a network's `q` and `a` (classifier-free
/// guidance): training puts them in the rows it drops (`[train] cond_dropout`), and the
/// unconditional score feeds them. Conditioning on class labels (`[train] labels_as`) uses
/// −1 (not a class); real parameter vectors and maps use 0 (the default).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct NullCond {
    /// The value of every element of a dropped `q`.
    pub q: f64,
    /// The value of every element of a dropped `a`.
    pub a: f64,
}

/// A score function traced in a graph: `s(t, x | cond) ≈ ∇ₓ log p_t(x | cond)`.
///
/// `t` is `(B,)` (one time per sample), `x` is `(B, ...)`, the result has `x`'s shape and
/// type. Implementations may be called several times in one graph (once per solver stage)
/// and inside loop bodies.
pub trait ScoreFn {
    /// The (conditional) score.
    fn score(&self, t: &Tensor, x: &Tensor, cond: &Cond) -> Result<Tensor>;

    /// The unconditional score s(t, x | ∅), for classifier-free guidance. By default the
    /// score with every conditioning part dropped ([`Cond::null`]); networks trained with
    /// conditioning dropout override this to feed their null value.
    fn score_uncond(&self, t: &Tensor, x: &Tensor, cond: &Cond) -> Result<Tensor> {
        self.score(t, x, &cond.null())
    }
}

impl<S: ScoreFn + ?Sized> ScoreFn for &S {
    fn score(&self, t: &Tensor, x: &Tensor, cond: &Cond) -> Result<Tensor> {
        (**self).score(t, x, cond)
    }
    fn score_uncond(&self, t: &Tensor, x: &Tensor, cond: &Cond) -> Result<Tensor> {
        (**self).score_uncond(t, x, cond)
    }
}

impl<S: ScoreFn + ?Sized> ScoreFn for Box<S> {
    fn score(&self, t: &Tensor, x: &Tensor, cond: &Cond) -> Result<Tensor> {
        (**self).score(t, x, cond)
    }
    fn score_uncond(&self, t: &Tensor, x: &Tensor, cond: &Cond) -> Result<Tensor> {
        (**self).score_uncond(t, x, cond)
    }
}

/// Classifier-free guidance: `(1 + w) s(t, x | c) − w s(t, x | ∅)` (Ho & Salimans 2022).
/// `w = 0` is the conditional score.
pub struct Guided<S> {
    /// The score with conditioning.
    pub inner: S,
    /// The guidance scale w.
    pub w: f64,
}

impl<S: ScoreFn> ScoreFn for Guided<S> {
    fn score(&self, t: &Tensor, x: &Tensor, cond: &Cond) -> Result<Tensor> {
        if self.w == 0.0 {
            return self.inner.score(t, x, cond);
        }
        let c = self.inner.score(t, x, cond)?;
        let u = self.inner.score_uncond(t, x, cond)?;
        (c * (1.0 + self.w))? - (u * self.w)?
    }
    fn score_uncond(&self, t: &Tensor, x: &Tensor, cond: &Cond) -> Result<Tensor> {
        self.inner.score_uncond(t, x, cond)
    }
}

/// A score model on the host: declares its parameters in a graph and gives their values.
/// The samplers' host entry points ([`sample`](crate::sample::sample),
/// [`loglik`](crate::sample::loglik)) take one of these.
pub trait ScoreModel {
    /// The element type the model computes in (samples come out in it).
    fn dtype(&self) -> DType;

    /// Declares the model's parameters (in order) in the main body of `g` and returns the
    /// score function bound to them.
    fn bind<'a>(&'a self, g: &Graph) -> Result<Box<dyn ScoreFn + 'a>>;

    /// The parameters' values, in the order [`ScoreModel::bind`] declared them.
    fn arguments(&self) -> Vec<HostArray>;

    /// Which conditioning parts the model needs (`q`, `a`, `labels`); the host entry points
    /// refuse requests that miss one.
    fn needs(&self) -> CondNeeds {
        CondNeeds::default()
    }
}

/// Which conditioning parts a model needs, with their per-sample shapes and types.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CondNeeds {
    /// Per-sample shape of q (without the batch dimension).
    pub q: Option<Vec<usize>>,
    /// Length of a.
    pub a: Option<usize>,
    /// Number of classes.
    pub labels: Option<usize>,
}

/// Per-sample conditioning on the host: each part has one row per sample (or a single row,
/// broadcast to every sample).
#[derive(Clone, Debug, Default)]
pub struct HostCond {
    /// Context maps (N, ...).
    pub q: Option<HostArray>,
    /// Parameter vectors (N, n).
    pub a: Option<HostArray>,
    /// Class labels (N,), any integer type (converted to i32).
    pub labels: Option<HostArray>,
}

impl HostCond {
    /// No conditioning.
    pub fn none() -> HostCond {
        HostCond::default()
    }

    /// Checks the parts against a model's needs and the sample count `n`, with messages
    /// that name the part, the shape given and the shape wanted.
    pub fn check(&self, needs: &CondNeeds, n: usize, dtype: DType) -> Result<()> {
        let rows = |name: &str, a: &HostArray, per: &[usize]| -> Result<()> {
            let s = a.shape();
            let ok = !s.is_empty() && (s[0] == n || s[0] == 1) && s[1..] == *per;
            if !ok {
                let mut want = vec![n];
                want.extend_from_slice(per);
                return Err(Error::msg(format!(
                    "conditioning {name} has shape {s:?}; the model needs {want:?} (one row per sample, or one row for all)"
                )));
            }
            Ok(())
        };
        let part = |name: &str,
                    given: &Option<HostArray>,
                    need: Option<Vec<usize>>|
         -> Result<()> {
            match (given, need) {
                (None, Some(per)) => {
                    let mut want = vec![n];
                    want.extend_from_slice(&per);
                    Err(Error::msg(format!(
                        "the model is conditioned on {name} but none was given; pass {name} with shape {want:?}"
                    )))
                }
                (Some(_), None) => Err(Error::msg(format!(
                    "{name} was given but the model does not use it; remove it"
                ))),
                (Some(a), Some(per)) => {
                    if name != "labels" && a.dtype() != dtype {
                        return Err(Error::msg(format!(
                            "conditioning {name} is {}, the model computes in {dtype}; convert it",
                            a.dtype()
                        )));
                    }
                    rows(name, a, &per)
                }
                (None, None) => Ok(()),
            }
        };
        part("q", &self.q, needs.q.clone())?;
        part("a", &self.a, needs.a.map(|k| vec![k]))?;
        part("labels", &self.labels, needs.labels.map(|_| vec![]))?;
        if let (Some(l), Some(k)) = (&self.labels, needs.labels) {
            if l.dtype().is_float() {
                return Err(Error::msg(format!(
                    "labels must be integers, got {}",
                    l.dtype()
                )));
            }
            if let Some(bad) = l.to_f64_vec().iter().find(|&&v| v < 0.0 || v >= k as f64) {
                return Err(Error::msg(format!(
                    "label {bad} is out of range; the model has {k} classes (0..{k})"
                )));
            }
        }
        Ok(())
    }

    /// Rows `start..start + len` of every part (a single-row part is repeated), padded with
    /// copies of the last row up to `batch` rows; labels as i32.
    pub fn chunk(&self, start: usize, len: usize, batch: usize) -> Result<HostCond> {
        let take = |a: &HostArray, int: bool| -> Result<HostArray> {
            let s = a.shape();
            let row = s[1..].iter().product::<usize>();
            let src = if int {
                let v: Vec<i32> = a.to_f64_vec().iter().map(|&x| x as i32).collect();
                HostArray::from_vec(s.to_vec(), v)?
            } else {
                a.clone()
            };
            let es = src.dtype().size_in_bytes() * row;
            let mut bytes = Vec::with_capacity(batch * es);
            for i in 0..batch {
                let r = if s[0] == 1 {
                    0
                } else {
                    (start + i.min(len - 1)).min(s[0] - 1)
                };
                bytes.extend_from_slice(&src.bytes()[r * es..(r + 1) * es]);
            }
            let mut shape = s.to_vec();
            shape[0] = batch;
            HostArray::from_bytes(src.dtype(), shape, bytes)
        };
        Ok(HostCond {
            q: self.q.as_ref().map(|a| take(a, false)).transpose()?,
            a: self.a.as_ref().map(|a| take(a, false)).transpose()?,
            labels: self.labels.as_ref().map(|a| take(a, true)).transpose()?,
        })
    }

    /// Declares the given parts as parameters `cond.q`, `cond.a`, `cond.labels` of `g`.
    pub fn declare(&self, g: &Graph) -> Result<Cond> {
        let p = |name: &str, a: &Option<HostArray>| -> Result<Option<Tensor>> {
            a.as_ref()
                .map(|a| g.parameter(name, a.shape(), a.dtype()))
                .transpose()
        };
        Ok(Cond {
            q: p("cond.q", &self.q)?,
            a: p("cond.a", &self.a)?,
            labels: p("cond.labels", &self.labels)?,
        })
    }

    /// The given parts' values, in [`HostCond::declare`]'s order.
    pub fn arguments(&self) -> Vec<HostArray> {
        [&self.q, &self.a, &self.labels]
            .into_iter()
            .flatten()
            .cloned()
            .collect()
    }
}
