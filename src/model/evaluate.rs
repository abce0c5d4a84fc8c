//! What a field emulator is judged by, on held-out data: conditional samples for the held-out
//! fields' conditioning (`q`, `a`), their binned power spectrum against the true fields', the
//! cross-correlation `r(k)` with the true field of the same conditioning, and the one-point
//! histograms; plotted as one PNG.

use std::path::Path;

use serde::Serialize;

use super::Model;
use super::sampling::{Options, Space};
use crate::data::Dataset;
use crate::data::fields::metrics::{
    SpectrumComparison, compare_spectra, cross_correlation, histogram,
};
use crate::error::{Error, Result};
use crate::exec::Target;
use crate::plot::{Line, LinePlot, lines_png};
use crate::sample::{HostCond, SamplerConfig};

/// The metrics of [`Model::evaluate_fields`].
#[derive(Clone, Debug, Serialize)]
pub struct FieldEvaluation {
    /// How many held-out fields were compared.
    pub n: usize,
    /// Bin centres `|k|`.
    pub k: Vec<f64>,
    /// Mean power of the samples, of the true fields, and their ratio per bin.
    pub power_samples: Vec<f64>,
    /// Mean power of the true fields per bin.
    pub power_data: Vec<f64>,
    /// `power_samples / power_data`.
    pub power_ratio: Vec<f64>,
    /// The largest `|ratio − 1|`.
    pub power_max_relative_error: f64,
    /// Cross-correlation coefficient of each sample with its true field, per bin.
    pub cross_correlation: Vec<f64>,
    /// One-point histogram: bin centres, the samples' and the data's densities.
    pub histogram: (Vec<f64>, Vec<f64>, Vec<f64>),
}

impl Model {
    /// Samples one field for each of the first `n` held-out fields' conditioning (model space)
    /// and compares them with the true fields (single-channel square fields).
    pub fn evaluate_fields(
        &self,
        target: &Target,
        sampler: &SamplerConfig,
        holdout: &Dataset,
        n: usize,
        seed: u64,
    ) -> Result<FieldEvaluation> {
        let shape = holdout.data_shape().to_vec();
        let side = match shape[..] {
            [1, h, w] if h == w && h >= 2 => h,
            _ => {
                return Err(Error::msg(format!(
                    "evaluate compares single-channel square fields (1, N, N); this data set's samples are {shape:?}"
                )));
            }
        };
        let n = n.min(holdout.len());
        if n == 0 {
            return Err(Error::msg(
                "evaluate needs held-out fields: the held-out split is empty",
            ));
        }
        let rows: Vec<usize> = (0..n).collect();
        let held = holdout.select(&rows)?;
        let cond = HostCond {
            q: held.q_host(),
            a: held.a_host(),
            labels: None,
        };
        let opts = Options {
            seed,
            space: Space::Model,
            progress: false,
        };
        let samples = self.sample(target, sampler, n, &cond, &opts)?;
        let generated = samples.x.to_vec::<f32>()?;
        let truth: Vec<f32> = held.x().iter().copied().collect();
        let SpectrumComparison {
            k,
            generated: power_samples,
            reference: power_data,
            ratio,
        } = compare_spectra(&generated, &truth, side)?;
        let max_err = ratio.iter().map(|r| (r - 1.0).abs()).fold(0.0, f64::max);
        let (_, r) = cross_correlation(&generated, &truth, side)?;
        let (lo, hi) = truth
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v as f64), hi.max(v as f64))
            });
        let (lo, hi) = if hi > lo {
            (lo, hi)
        } else {
            (lo - 1.0, hi + 1.0)
        };
        let (centres, h_samples) = histogram(&generated, lo, hi, 40)?;
        let (_, h_data) = histogram(&truth, lo, hi, 40)?;
        Ok(FieldEvaluation {
            n,
            k,
            power_samples,
            power_data,
            power_ratio: ratio,
            power_max_relative_error: max_err,
            cross_correlation: r,
            histogram: (centres, h_samples, h_data),
        })
    }
}

impl FieldEvaluation {
    /// Three PNGs in `dir`: `<stem>_spectra.png` (both power spectra, log-log),
    /// `<stem>_r.png` (r(k)) and `<stem>_hist.png` (one-point densities).
    pub fn write_pngs(&self, dir: &Path, stem: &str) -> Result<()> {
        let png = |name: &str| dir.join(format!("{stem}_{name}.png"));
        let plot = |title, x_label, y_label, log| LinePlot {
            title,
            x_label,
            y_label,
            log_x: log,
            log_y: log,
            ..LinePlot::default()
        };
        lines_png(
            &png("spectra"),
            &plot("power spectrum, held-out fields", "|k|", "P(k)", true),
            &[
                Line::new("samples", &self.k, &self.power_samples),
                Line::new("data", &self.k, &self.power_data),
            ],
        )?;
        lines_png(
            &png("r"),
            &LinePlot {
                hlines: &[("perfect", 1.0), ("independent", 0.0)],
                ..plot(
                    "cross-correlation with the true field",
                    "|k|",
                    "r(k)",
                    false,
                )
            },
            &[Line::new("r(k)", &self.k, &self.cross_correlation)],
        )?;
        let (c, s, d) = &self.histogram;
        lines_png(
            &png("hist"),
            &plot("one-point distribution", "value", "density", false),
            &[Line::new("samples", c, s), Line::new("data", c, d)],
        )
    }
}
