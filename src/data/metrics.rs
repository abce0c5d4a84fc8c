//! Sample-quality metrics: the sliced Wasserstein distance between point sets, and the mean
//! and covariance helpers used by sampler tests.
//!
//! Every function takes arrays of shape `(N, ...)`: one sample per row, the remaining axes
//! flattened into a feature vector of length `D`.

use super::rng::data_rng;
use crate::error::{Error, Result};
use ndarray::{Array1, Array2, ArrayD, ArrayView2, Ix2};
use rand_distr::{Distribution, StandardNormal};

/// Options of [`sliced_wasserstein`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SlicedWasserstein {
    /// Number of random directions (default 256).
    pub projections: usize,
    /// The order p ≥ 1 of the Wasserstein distance (default 2).
    pub p: f64,
    /// Seed of the directions (default 0): the same seed gives the same directions, so two
    /// distances computed with one seed are compared on the same slices.
    pub seed: u64,
}

impl Default for SlicedWasserstein {
    fn default() -> Self {
        SlicedWasserstein {
            projections: 256,
            p: 2.0,
            seed: 0,
        }
    }
}

/// `(N, ...)` as an `(N, D)` view.
fn rows<'a>(x: &'a ArrayD<f32>, what: &str) -> Result<ArrayView2<'a, f32>> {
    if x.ndim() < 1 {
        return Err(Error::msg(format!(
            "{what}: expected samples of shape (N, ...), got a scalar"
        )));
    }
    let n = x.shape()[0];
    let d: usize = x.shape()[1..].iter().product();
    let view = if x.is_standard_layout() {
        x.view()
            .into_shape_with_order((n, d))
            .map_err(|e| Error::msg(e.to_string()))?
    } else {
        return Err(Error::msg(format!(
            "{what}: the array is not in row-major layout; pass `x.as_standard_layout().to_owned()`"
        )));
    };
    Ok(view.into_dimensionality::<Ix2>().expect("2-D"))
}

/// The sliced Wasserstein distance `SW_p(X, Y) = (E_θ[W_p^p(θ·X, θ·Y)])^{1/p}`, with θ drawn
/// uniformly on the unit sphere of `R^D` (normalised Gaussian vectors) and the expectation a
/// mean over `opts.projections` directions. Each 1-D distance is the exact `W_p` between the
/// two projected empirical distributions (equal weights per point; `X` and `Y` may have
/// different sizes), `∫₀¹ |F⁻¹(u) − G⁻¹(u)|^p du`.
///
/// For two isotropic Gaussians with equal covariance whose means differ by `δ`, every
/// projection is a 1-D shift by `θ·δ`, so `SW_2 = |δ|/√D` and, in 2-D, `SW_1 = 2|δ|/π`.
pub fn sliced_wasserstein(
    x: &ArrayD<f32>,
    y: &ArrayD<f32>,
    opts: &SlicedWasserstein,
) -> Result<f64> {
    let xv = rows(x, "sliced Wasserstein, first set")?;
    let yv = rows(y, "sliced Wasserstein, second set")?;
    let d = xv.ncols();
    if yv.ncols() != d {
        return Err(Error::msg(format!(
            "sliced Wasserstein: the sets have different sample shapes, {:?} and {:?}",
            &x.shape()[1..],
            &y.shape()[1..]
        )));
    }
    if xv.nrows() == 0 || yv.nrows() == 0 {
        return Err(Error::msg(
            "sliced Wasserstein: both sets need at least one sample",
        ));
    }
    if d == 0 {
        return Err(Error::msg("sliced Wasserstein: samples have no features"));
    }
    if opts.projections == 0 {
        return Err(Error::msg(
            "sliced Wasserstein: the number of projections must be at least 1",
        ));
    }
    if !(opts.p.is_finite() && opts.p >= 1.0) {
        return Err(Error::msg(format!(
            "sliced Wasserstein: the order p = {} must be a finite number >= 1",
            opts.p
        )));
    }
    if xv.iter().chain(yv.iter()).any(|v| !v.is_finite()) {
        return Err(Error::msg(
            "sliced Wasserstein: the samples contain NaN or infinite values",
        ));
    }
    let mut rng = data_rng(opts.seed, 0x534C_4943); // "SLIC"
    let mut theta = vec![0f64; d];
    let mut px = vec![0f64; xv.nrows()];
    let mut py = vec![0f64; yv.nrows()];
    let mut total = 0.0;
    for _ in 0..opts.projections {
        loop {
            for t in theta.iter_mut() {
                *t = StandardNormal.sample(&mut rng);
            }
            let norm = theta.iter().map(|t| t * t).sum::<f64>().sqrt();
            if norm > 1e-12 {
                theta.iter_mut().for_each(|t| *t /= norm);
                break;
            }
        }
        project(&xv, &theta, &mut px);
        project(&yv, &theta, &mut py);
        total += wasserstein_1d_pow(&mut px, &mut py, opts.p);
    }
    Ok((total / opts.projections as f64).powf(1.0 / opts.p))
}

fn project(x: &ArrayView2<'_, f32>, theta: &[f64], out: &mut [f64]) {
    for (o, row) in out.iter_mut().zip(x.rows()) {
        *o = row.iter().zip(theta).map(|(&v, &t)| v as f64 * t).sum();
    }
}

/// The 1-D Wasserstein distance `W_p` between the empirical distributions of `a` and `b`
/// (equal weights, any sizes).
pub fn wasserstein_1d(a: &[f64], b: &[f64], p: f64) -> Result<f64> {
    if a.is_empty() || b.is_empty() {
        return Err(Error::msg(
            "wasserstein_1d: both sets need at least one value",
        ));
    }
    if a.iter().chain(b).any(|v| !v.is_finite()) || !(p.is_finite() && p >= 1.0) {
        return Err(Error::msg(
            "wasserstein_1d: values must be finite and p a finite number >= 1",
        ));
    }
    let (mut a, mut b) = (a.to_vec(), b.to_vec());
    Ok(wasserstein_1d_pow(&mut a, &mut b, p).powf(1.0 / p))
}

/// `W_p^p` between two empirical distributions: sorts both and integrates
/// `|F⁻¹(u) − G⁻¹(u)|^p` over the merged quantile breakpoints `i/n` and `j/m`.
fn wasserstein_1d_pow(a: &mut [f64], b: &mut [f64], p: f64) -> f64 {
    a.sort_unstable_by(f64::total_cmp);
    b.sort_unstable_by(f64::total_cmp);
    let (n, m) = (a.len(), b.len());
    let (mut i, mut j) = (0usize, 0usize);
    let mut u = 0.0f64;
    let mut acc = 0.0;
    while i < n && j < m {
        // Next breakpoints of the two quantile functions.
        let ua = (i + 1) as f64 / n as f64;
        let ub = (j + 1) as f64 / m as f64;
        let next = ua.min(ub);
        acc += (next - u) * (a[i] - b[j]).abs().powf(p);
        u = next;
        if ua <= next {
            i += 1;
        }
        if ub <= next {
            j += 1;
        }
    }
    acc
}

/// The mean of the rows, `(D,)`, accumulated in f64.
pub fn mean(x: &ArrayD<f32>) -> Result<Array1<f64>> {
    let xv = rows(x, "mean")?;
    if xv.nrows() == 0 {
        return Err(Error::msg("mean: the set has no samples"));
    }
    let mut m = Array1::<f64>::zeros(xv.ncols());
    for row in xv.rows() {
        m.iter_mut().zip(row).for_each(|(a, &v)| *a += v as f64);
    }
    Ok(m / xv.nrows() as f64)
}

/// The unbiased sample covariance of the rows, `(D, D)` (divides by `N − 1`).
pub fn covariance(x: &ArrayD<f32>) -> Result<Array2<f64>> {
    let xv = rows(x, "covariance")?;
    let n = xv.nrows();
    if n < 2 {
        return Err(Error::msg(format!(
            "covariance: needs at least 2 samples, got {n}"
        )));
    }
    let m = mean(x)?;
    let centred = xv.mapv(|v| v as f64) - &m;
    Ok(centred.t().dot(&centred) / (n - 1) as f64)
}

/// The standard error of the mean of each feature, `sqrt(var / N)` with the unbiased
/// variance, `(D,)`: the statistical tolerance for comparing a sample mean to a known mean.
pub fn mean_standard_error(x: &ArrayD<f32>) -> Result<Array1<f64>> {
    let c = covariance(x)?;
    let n = x.shape()[0] as f64;
    Ok(c.diag().mapv(|v| (v / n).sqrt()))
}
