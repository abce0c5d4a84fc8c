//! What users of field emulators look at: the binned power spectrum of generated fields against
//! the data's, the cross-correlation coefficient `r(k)` between a conditional sample and the
//! true field, and the one-point distribution.

use super::{Fft2, binned_cross_power};
use crate::error::{Error, Result};

/// Mean binned spectra of two sets of fields and their ratio per bin.
#[derive(Clone, Debug, PartialEq)]
pub struct SpectrumComparison {
    /// Each bin's mean `|k|`.
    pub k: Vec<f64>,
    /// The generated fields' mean power per bin.
    pub generated: Vec<f64>,
    /// The reference fields' mean power per bin.
    pub reference: Vec<f64>,
    /// `generated / reference` per bin (1 where both agree).
    pub ratio: Vec<f64>,
}

impl SpectrumComparison {
    /// The largest `|ratio − 1|` over the bins.
    pub fn max_relative_error(&self) -> f64 {
        self.ratio
            .iter()
            .map(|r| (r - 1.0).abs())
            .fold(0.0, f64::max)
    }
}

/// Fields as `n × n` slices of a flat array of `count · n²` values (any channel axis of size 1
/// flattened away).
fn fields(values: &[f32], n: usize, what: &str) -> Result<Vec<Vec<f64>>> {
    if n < 2 || values.is_empty() || !values.len().is_multiple_of(n * n) {
        return Err(Error::msg(format!(
            "{what}: {} values are not a whole number of {n}×{n} fields",
            values.len()
        )));
    }
    Ok(values
        .chunks_exact(n * n)
        .map(|f| f.iter().map(|&v| v as f64).collect())
        .collect())
}

/// The mean binned power of `generated` against that of `reference` (both flat sets of
/// `n × n` fields).
pub fn compare_spectra(
    generated: &[f32],
    reference: &[f32],
    n: usize,
) -> Result<SpectrumComparison> {
    let mut fft = Fft2::new(n);
    let mut mean = |set: &[f32], what: &str| -> Result<(Vec<f64>, Vec<f64>)> {
        let fs = fields(set, n, what)?;
        let (mut k, mut p) = (Vec::new(), Vec::new());
        for f in &fs {
            let (kk, pp) = binned_cross_power(f, f, n, &mut fft)?;
            p.resize(pp.len(), 0.0);
            for (acc, v) in p.iter_mut().zip(pp) {
                *acc += v / fs.len() as f64;
            }
            k = kk;
        }
        Ok((k, p))
    };
    let (k, generated) = mean(generated, "generated fields")?;
    let (_, reference) = mean(reference, "reference fields")?;
    let ratio = generated
        .iter()
        .zip(&reference)
        .map(|(g, r)| if *r > 0.0 { g / r } else { f64::NAN })
        .collect();
    Ok(SpectrumComparison {
        k,
        generated,
        reference,
        ratio,
    })
}

/// The cross-correlation coefficient `r(k) = P_xy / sqrt(P_xx P_yy)` per bin between paired
/// fields (`samples[i]` against `truth[i]`), each spectrum averaged over the pairs first.
/// 1 for identical fields, about 0 for independent ones. Returns the bins' `|k|` and `r(k)`.
pub fn cross_correlation(samples: &[f32], truth: &[f32], n: usize) -> Result<(Vec<f64>, Vec<f64>)> {
    let (xs, ys) = (
        fields(samples, n, "samples")?,
        fields(truth, n, "true fields")?,
    );
    if xs.len() != ys.len() {
        return Err(Error::msg(format!(
            "cross-correlation pairs samples with true fields: {} samples, {} fields",
            xs.len(),
            ys.len()
        )));
    }
    let mut fft = Fft2::new(n);
    let (mut k, mut pxy, mut pxx, mut pyy) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (x, y) in xs.iter().zip(&ys) {
        let (kk, a) = binned_cross_power(x, y, n, &mut fft)?;
        let (_, b) = binned_cross_power(x, x, n, &mut fft)?;
        let (_, c) = binned_cross_power(y, y, n, &mut fft)?;
        for (acc, v) in [(&mut pxy, a), (&mut pxx, b), (&mut pyy, c)] {
            acc.resize(v.len(), 0.0);
            acc.iter_mut().zip(v).for_each(|(s, v)| *s += v);
        }
        k = kk;
    }
    let r = pxy
        .iter()
        .zip(pxx.iter().zip(&pyy))
        .map(|(xy, (xx, yy))| xy / (xx * yy).sqrt())
        .collect();
    Ok((k, r))
}

/// A normalised histogram (a density) of `values` in `bins` equal bins over `[lo, hi]`
/// (values outside are left out). Returns the bin centres and densities.
pub fn histogram(values: &[f32], lo: f64, hi: f64, bins: usize) -> Result<(Vec<f64>, Vec<f64>)> {
    if !(hi > lo && lo.is_finite() && hi.is_finite()) || bins == 0 {
        return Err(Error::msg(format!(
            "a histogram needs finite lo < hi and at least one bin, got [{lo}, {hi}] and {bins}"
        )));
    }
    let width = (hi - lo) / bins as f64;
    let mut counts = vec![0usize; bins];
    for &v in values {
        let v = v as f64;
        if (lo..=hi).contains(&v) {
            counts[(((v - lo) / width) as usize).min(bins - 1)] += 1;
        }
    }
    let total = values.len().max(1) as f64;
    Ok((
        (0..bins).map(|b| lo + (b as f64 + 0.5) * width).collect(),
        counts.iter().map(|&c| c as f64 / (total * width)).collect(),
    ))
}
