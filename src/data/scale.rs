//! Scaling of data as sbgm's `Scaler` (to [-1, 1]) and `Normer` (standardise), with inverses.

use super::samples::Samples;
use crate::error::{Error, Result};
use ndarray::ArrayD;
use serde::{Deserialize, Serialize};

/// How to scale the samples before training (the `scaling` key of `[data]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scaling {
    /// `scaler` for images (whose value range is known), `normer` for everything else.
    #[default]
    Auto,
    /// No scaling.
    None,
    /// sbgm's `Scaler`: map `[x_min, x_max]` to `[-1, 1]`, with the data set's known value
    /// range if it has one (images), else the training data's minimum and maximum.
    Scaler,
    /// sbgm's `Normer`: subtract the training data's mean and divide by its standard
    /// deviation (both scalars over all entries, population std as NumPy's `x.std()`).
    Normer,
}

impl Scaling {
    /// The names accepted in a config.
    pub const NAMES: [&'static str; 4] = ["auto", "none", "scaler", "normer"];

    /// Fits the transform on training samples `x`; `known_range` is the data set's recorded
    /// value range (see [`super::Dataset::value_range`]).
    pub fn fit(self, x: &ArrayD<f32>, known_range: Option<(f32, f32)>) -> Result<Transform> {
        let whole = |f: &mut dyn FnMut(&[f32])| match x.as_slice() {
            Some(s) => f(s),
            None => f(&x.iter().copied().collect::<Vec<_>>()),
        };
        self.fit_chunks(&whole, known_range)
    }

    /// [`Scaling::fit`] on samples that may be memory-mapped: read in chunks, never whole.
    pub fn fit_samples(self, x: &Samples, known_range: Option<(f32, f32)>) -> Result<Transform> {
        self.fit_chunks(&|f| x.for_each_chunk(FIT_CHUNK, f), known_range)
    }

    /// Fits on the values `chunks` passes, in order, to its callback (it may be called more
    /// than once: each pass must give the same values).
    fn fit_chunks(self, chunks: &Chunks<'_>, known_range: Option<(f32, f32)>) -> Result<Transform> {
        let resolved = match self {
            Scaling::Auto if known_range.is_some() => Scaling::Scaler,
            Scaling::Auto => Scaling::Normer,
            s => s,
        };
        match resolved {
            Scaling::None | Scaling::Auto => Ok(Transform::Identity),
            Scaling::Scaler => {
                let (lo, hi) = match known_range {
                    Some(r) => r,
                    None => min_max(chunks)?,
                };
                if hi <= lo {
                    return Err(Error::msg(format!(
                        "cannot scale to [-1, 1]: every value equals {lo}; use scaling = \"none\""
                    )));
                }
                Ok(Transform::Scaler {
                    x_min: lo,
                    x_max: hi,
                })
            }
            Scaling::Normer => {
                let (mean, std) = mean_std(chunks)?;
                if std <= 0.0 || std.is_nan() {
                    return Err(Error::msg(format!(
                        "cannot standardise: every value equals {mean} (standard deviation 0); \
                         use scaling = \"none\""
                    )));
                }
                Ok(Transform::Normer { mean, std })
            }
        }
    }
}

/// A fitted scaling, stored with a model so that samples can be mapped back to data space.
///
/// - `Scaler`: `forward(x) = 2 (x − x_min)/(x_max − x_min) − 1`,
///   `reverse(y) = x_min + (y + 1)/2 · (x_max − x_min)`;
/// - `Normer`: `forward(x) = (x − mean)/std`, `reverse(y) = y · std + mean`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Transform {
    /// No change.
    Identity,
    /// sbgm's `Scaler` from `[x_min, x_max]` to `[-1, 1]`.
    Scaler { x_min: f32, x_max: f32 },
    /// sbgm's `Normer`: standardisation with scalar mean and standard deviation.
    Normer { mean: f32, std: f32 },
}

impl Transform {
    /// Data space → model space.
    pub fn forward(&self, x: f32) -> f32 {
        match *self {
            Transform::Identity => x,
            Transform::Scaler { x_min, x_max } => 2.0 * (x - x_min) / (x_max - x_min) - 1.0,
            Transform::Normer { mean, std } => (x - mean) / std,
        }
    }

    /// Model space → data space.
    pub fn reverse(&self, y: f32) -> f32 {
        match *self {
            Transform::Identity => y,
            Transform::Scaler { x_min, x_max } => x_min + (y + 1.0) / 2.0 * (x_max - x_min),
            Transform::Normer { mean, std } => y * std + mean,
        }
    }

    /// [`Transform::forward`] on every element.
    pub fn forward_array(&self, x: &ArrayD<f32>) -> ArrayD<f32> {
        x.mapv(|v| self.forward(v))
    }

    /// [`Transform::reverse`] on every element.
    pub fn reverse_array(&self, y: &ArrayD<f32>) -> ArrayD<f32> {
        y.mapv(|v| self.reverse(v))
    }
}

/// Values read per chunk when fitting on mapped samples.
const FIT_CHUNK: usize = 1 << 22;

/// Calls its argument on consecutive chunks of the values.
type Chunks<'a> = dyn Fn(&mut dyn FnMut(&[f32])) + 'a;

/// The number of values, or an error naming the first non-finite one.
fn check_finite(chunks: &Chunks<'_>) -> Result<usize> {
    let (mut n, mut bad) = (0usize, None);
    chunks(&mut |c: &[f32]| {
        if bad.is_none()
            && let Some(i) = c.iter().position(|v| !v.is_finite())
        {
            bad = Some((n + i, c[i]));
        }
        n += c.len();
    });
    if n == 0 {
        return Err(Error::msg("cannot fit a scaling on an empty data set"));
    }
    if let Some((i, v)) = bad {
        return Err(Error::msg(format!(
            "the data contain a non-finite value ({v}) at flat index {i}; clean the data first"
        )));
    }
    Ok(n)
}

fn min_max(chunks: &Chunks<'_>) -> Result<(f32, f32)> {
    check_finite(chunks)?;
    let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
    chunks(&mut |c: &[f32]| {
        lo = c.iter().copied().fold(lo, f32::min);
        hi = c.iter().copied().fold(hi, f32::max);
    });
    Ok((lo, hi))
}

/// Mean and population standard deviation over all entries, accumulated in f64.
fn mean_std(chunks: &Chunks<'_>) -> Result<(f32, f32)> {
    let n = check_finite(chunks)? as f64;
    let mut sum = 0f64;
    chunks(&mut |c: &[f32]| sum = c.iter().fold(sum, |a, &v| a + v as f64));
    let mean = sum / n;
    let mut ss = 0f64;
    chunks(&mut |c: &[f32]| ss = c.iter().fold(ss, |a, &v| a + (v as f64 - mean).powi(2)));
    Ok((mean as f32, (ss / n).sqrt() as f32))
}
