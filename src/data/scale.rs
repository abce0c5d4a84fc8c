//! Scaling of data as sbgm's `Scaler` (to [-1, 1]) and `Normer` (standardise), with inverses.

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
                    None => min_max(x)?,
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
                let (mean, std) = mean_std(x)?;
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

fn check_finite(x: &ArrayD<f32>) -> Result<()> {
    if x.is_empty() {
        return Err(Error::msg("cannot fit a scaling on an empty data set"));
    }
    if let Some(i) = x.iter().position(|v| !v.is_finite()) {
        return Err(Error::msg(format!(
            "the data contain a non-finite value ({}) at flat index {i}; clean the data first",
            x.iter().nth(i).copied().unwrap_or(f32::NAN)
        )));
    }
    Ok(())
}

fn min_max(x: &ArrayD<f32>) -> Result<(f32, f32)> {
    check_finite(x)?;
    let lo = x.iter().copied().fold(f32::INFINITY, f32::min);
    let hi = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    Ok((lo, hi))
}

/// Mean and population standard deviation over all entries, accumulated in f64.
fn mean_std(x: &ArrayD<f32>) -> Result<(f32, f32)> {
    check_finite(x)?;
    let n = x.len() as f64;
    let mean = x.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
    Ok((mean as f32, var.sqrt() as f32))
}
