//! A data set: samples `x`, optional context maps `q`, parameters `a`, labels; `x` and `q`
//! held in memory or read from memory-mapped files ([`Samples`]).

use super::augment::Augment;
use super::rng::data_rng;
use super::samples::Samples;
use super::scale::Transform;
use crate::error::{Error, Result};
use crate::host::HostArray;
use ndarray::{ArrayD, Axis, IxDyn};
use rand::seq::SliceRandom;

/// A data set on the host, one sample per row of every array.
///
/// - `x`: the samples, `f32`, shape `(N, ...)` (`(N, 2)` for point sets, `(N, C, H, W)` for
///   images);
/// - `q`: optional context maps, `(N, ...)` (for sbgm's conditional models, usually the same
///   spatial size as `x`);
/// - `a`: optional parameter vectors, `(N, P)`;
/// - `labels`: optional integer class labels in `0..num_classes`.
///
/// `x` and `q` may be memory-mapped ([`Dataset::is_resident`]): training then gathers its
/// batches from the files ([`Dataset::x_samples`]), and [`Dataset::x`] reads them whole only
/// when asked. Training uploads resident arrays with [`Dataset::x_host`] and friends.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    name: String,
    x: Samples,
    q: Option<Samples>,
    a: Option<ArrayD<f32>>,
    labels: Option<Vec<i32>>,
    num_classes: Option<usize>,
    value_range: Option<(f32, f32)>,
    augment: Option<Augment>,
}

impl Dataset {
    /// A data set of samples `x` with shape `(N, ...)` (rank at least 2).
    pub fn new(name: impl Into<String>, x: ArrayD<f32>) -> Result<Self> {
        let name = name.into();
        if x.ndim() < 2 {
            return Err(Error::msg(format!(
                "data set `{name}`: samples must have shape (N, ...) with at least one feature \
                 dimension, got shape {:?}; reshape a vector of N scalars to (N, 1)",
                x.shape()
            )));
        }
        Ok(Self::from_samples(name, Samples::Resident(x)))
    }

    /// A data set of samples `x` held in memory or mapped (rows of rank at least 1).
    pub fn from_samples(name: impl Into<String>, x: Samples) -> Self {
        let name = name.into();
        Dataset {
            name,
            x,
            q: None,
            a: None,
            labels: None,
            num_classes: None,
            value_range: None,
            augment: None,
        }
    }

    /// Adds context maps `q` of shape `(N, ...)`.
    pub fn with_q(self, q: ArrayD<f32>) -> Result<Self> {
        if q.ndim() < 2 {
            return Err(Error::msg(format!(
                "data set `{}`: context maps q must have shape (N, ...), got {:?}; reshape a \
                 vector of N scalars to (N, 1)",
                self.name,
                q.shape()
            )));
        }
        self.with_q_samples(Samples::Resident(q))
    }

    /// Adds context maps `q`, held in memory or mapped.
    pub fn with_q_samples(mut self, q: Samples) -> Result<Self> {
        let mut shape = vec![q.len()];
        shape.extend_from_slice(q.row_shape());
        self.check_rows("q", &shape)?;
        self.q = Some(q);
        Ok(self)
    }

    /// Sets the augmentation that training applies to the samples of each batch it gathers
    /// on the host (see [`Augment`]); `None` for none.
    pub fn with_augment(mut self, augment: Option<Augment>) -> Self {
        self.augment = augment.filter(|a| !a.is_identity());
        self
    }

    /// Adds parameter vectors `a` of shape `(N, P)`.
    pub fn with_a(mut self, a: ArrayD<f32>) -> Result<Self> {
        self.check_rows("a", a.shape())?;
        if a.ndim() != 2 {
            return Err(Error::msg(format!(
                "data set `{}`: parameters a must have shape (N, P), got {:?}",
                self.name,
                a.shape()
            )));
        }
        self.a = Some(a);
        Ok(self)
    }

    /// Adds integer class labels in `0..num_classes`, one per sample.
    pub fn with_labels(mut self, labels: Vec<i32>, num_classes: usize) -> Result<Self> {
        self.check_rows("labels", &[labels.len()])?;
        if let Some(bad) = labels.iter().find(|&&l| l < 0 || l as usize >= num_classes) {
            return Err(Error::msg(format!(
                "data set `{}`: label {bad} is outside 0..{num_classes}",
                self.name
            )));
        }
        self.labels = Some(labels);
        self.num_classes = Some(num_classes);
        Ok(self)
    }

    /// Records the known range of the raw values (e.g. `(0, 255)` for 8-bit images), which
    /// [`super::Scaling::Scaler`] uses instead of the data's own minimum and maximum.
    pub fn with_value_range(mut self, lo: f32, hi: f32) -> Result<Self> {
        if !(lo.is_finite() && hi.is_finite() && lo < hi) {
            return Err(Error::msg(format!(
                "data set `{}`: value range ({lo}, {hi}) must be finite with lo < hi",
                self.name
            )));
        }
        self.value_range = Some((lo, hi));
        Ok(self)
    }

    fn check_rows(&self, what: &str, shape: &[usize]) -> Result<()> {
        let n = self.len();
        if shape.first() != Some(&n) {
            return Err(Error::msg(format!(
                "data set `{}`: {what} has shape {shape:?} but x has {n} samples (each of \
                 shape {:?}); every array needs one row per sample",
                self.name,
                self.x.row_shape()
            )));
        }
        Ok(())
    }

    /// The data set's name (`moons`, `digits`, a file name, ...).
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The samples, `(N, ...)` (a mapped set is read into memory the first time).
    pub fn x(&self) -> &ArrayD<f32> {
        self.x.array()
    }
    /// The context maps, `(N, ...)`, if any (read into memory the first time when mapped).
    pub fn q(&self) -> Option<&ArrayD<f32>> {
        self.q.as_ref().map(Samples::array)
    }
    /// The samples where they live (in memory or mapped), for gathering batches.
    pub fn x_samples(&self) -> &Samples {
        &self.x
    }
    /// The context maps where they live, if any.
    pub fn q_samples(&self) -> Option<&Samples> {
        self.q.as_ref()
    }
    /// Whether `x` and `q` are held in memory (not mapped from files).
    pub fn is_resident(&self) -> bool {
        self.x.is_resident() && self.q.as_ref().is_none_or(Samples::is_resident)
    }
    /// The augmentation training applies to its host-gathered batches, if any.
    pub fn augment(&self) -> Option<&Augment> {
        self.augment.as_ref()
    }
    /// The bytes of the f32 values of `x`, `q` and `a` (what resident arrays occupy).
    pub fn value_bytes(&self) -> usize {
        let q = self.q.as_ref().map_or(0, Samples::row_len);
        let a = self.parameter_dim().unwrap_or(0);
        self.len() * (self.x.row_len() + q + a) * 4
    }
    /// The parameter vectors, `(N, P)`, if any.
    pub fn a(&self) -> Option<&ArrayD<f32>> {
        self.a.as_ref()
    }
    /// The class labels, if any.
    pub fn labels(&self) -> Option<&[i32]> {
        self.labels.as_deref()
    }
    /// The number of classes, when there are labels.
    pub fn num_classes(&self) -> Option<usize> {
        self.num_classes
    }
    /// The known range of the raw values, if recorded.
    pub fn value_range(&self) -> Option<(f32, f32)> {
        self.value_range
    }
    /// The number of samples N.
    pub fn len(&self) -> usize {
        self.x.len()
    }
    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The shape of one sample (`x`'s shape without N).
    pub fn data_shape(&self) -> &[usize] {
        self.x.row_shape()
    }
    /// The shape of one context map, if any.
    pub fn context_shape(&self) -> Option<&[usize]> {
        self.q.as_ref().map(Samples::row_shape)
    }
    /// The length P of the parameter vectors, if any.
    pub fn parameter_dim(&self) -> Option<usize> {
        self.a.as_ref().map(|a| a.shape()[1])
    }

    /// `x` as a host array (f32), ready for upload.
    pub fn x_host(&self) -> HostArray {
        HostArray::from_ndarray(self.x())
    }
    /// `q` as a host array (f32), if any.
    pub fn q_host(&self) -> Option<HostArray> {
        self.q().map(HostArray::from_ndarray)
    }
    /// `a` as a host array (f32), if any.
    pub fn a_host(&self) -> Option<HostArray> {
        self.a.as_ref().map(HostArray::from_ndarray)
    }
    /// The labels as an `(N,)` i32 host array, if any.
    pub fn labels_host(&self) -> Option<HostArray> {
        self.labels.as_ref().map(|l| {
            HostArray::from_vec(vec![l.len()], l.clone()).expect("length matches by construction")
        })
    }

    /// The labels as `(N, 1)` f32 values, the form sbgm feeds its models as a parameter `a`
    /// (MNIST) or context `q` (moons).
    pub fn labels_as_column(&self) -> Option<ArrayD<f32>> {
        self.labels.as_ref().map(|l| {
            ArrayD::from_shape_vec(IxDyn(&[l.len(), 1]), l.iter().map(|&v| v as f32).collect())
                .expect("length matches by construction")
        })
    }

    /// The samples at `indices` (in that order), with their q, a and labels (a mapped set
    /// stays mapped: the result reads the same files).
    pub fn select(&self, indices: &[usize]) -> Result<Dataset> {
        let n = self.len();
        if let Some(&bad) = indices.iter().find(|&&i| i >= n) {
            return Err(Error::msg(format!(
                "data set `{}`: index {bad} is out of range for {n} samples",
                self.name
            )));
        }
        Ok(Dataset {
            name: self.name.clone(),
            x: self.x.select(indices),
            q: self.q.as_ref().map(|q| q.select(indices)),
            a: self.a.as_ref().map(|a| a.select(Axis(0), indices)),
            labels: self
                .labels
                .as_ref()
                .map(|l| indices.iter().map(|&i| l[i]).collect()),
            num_classes: self.num_classes,
            value_range: self.value_range,
            augment: self.augment,
        })
    }

    /// The first `n` samples (all of them if there are fewer).
    pub fn take(&self, n: usize) -> Dataset {
        let idx: Vec<usize> = (0..n.min(self.len())).collect();
        self.select(&idx).expect("indices are in range")
    }

    /// The samples in an order shuffled deterministically by `seed`.
    pub fn shuffled(&self, seed: u64) -> Dataset {
        let idx = permutation(self.len(), seed);
        self.select(&idx).expect("a permutation is in range")
    }

    /// Splits into (training, held-out) sets: the samples are shuffled by `seed` and the last
    /// `round(holdout · N)` of them are held out. `holdout` must lie in `[0, 1)`, and the
    /// training set must keep at least one sample.
    pub fn split(&self, holdout: f64, seed: u64) -> Result<(Dataset, Dataset)> {
        if !(0.0..1.0).contains(&holdout) {
            return Err(Error::msg(format!(
                "holdout fraction {holdout} must lie in [0, 1) (e.g. 0.1 holds out 10%)"
            )));
        }
        let n = self.len();
        let n_hold = (holdout * n as f64).round() as usize;
        if n_hold >= n {
            return Err(Error::msg(format!(
                "data set `{}`: holding out {n_hold} of {n} samples leaves none to train on; \
                 use a smaller holdout fraction or more samples",
                self.name
            )));
        }
        let idx = permutation(n, seed);
        let (train, hold) = idx.split_at(n - n_hold);
        Ok((self.select(train)?, self.select(hold)?))
    }

    /// The data set with `transform` applied to `x` (q, a and labels unchanged).
    pub fn map_x(&self, transform: &Transform) -> Dataset {
        let mut out = self.clone();
        out.x = self.x.map(transform);
        out
    }
}

/// A permutation of `0..n` fixed by `seed`.
fn permutation(n: usize, seed: u64) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut data_rng(seed, 0x5348_5546)); // "SHUF"
    idx
}
