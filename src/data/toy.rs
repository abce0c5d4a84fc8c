//! Built-in 2-D point sets (moons, circles, swiss roll, 8 gaussians, checkerboard),
//! deterministic for a seed.
//!
//! Moons and circles follow scikit-learn's `make_moons`/`make_circles` (points on evenly
//! spaced angles, shuffled, plus isotropic Gaussian noise of standard deviation `noise`);
//! the swiss roll is `make_swiss_roll`'s (x, z) plane; 8 gaussians and the checkerboard are
//! the common diffusion and flow toy sets. The random streams are this crate's own (xoshiro256++),
//! so a seed does not reproduce scikit-learn's numbers, only its distributions.

use super::dataset::Dataset;
use super::rng::{DataRng, data_rng};
use crate::error::{Error, Result};
use ndarray::{ArrayD, IxDyn};
use rand::RngExt;
use rand::seq::SliceRandom;
use rand_distr::StandardNormal;
use std::f64::consts::PI;

fn check(name: &str, n: usize, noise: f64) -> Result<()> {
    if n == 0 {
        return Err(Error::msg(format!(
            "{name}: the number of points n must be at least 1"
        )));
    }
    if !(noise.is_finite() && noise >= 0.0) {
        return Err(Error::msg(format!(
            "{name}: noise {noise} must be a finite standard deviation >= 0"
        )));
    }
    Ok(())
}

/// NumPy's `linspace(start, stop, n, endpoint)`.
fn linspace(start: f64, stop: f64, n: usize, endpoint: bool) -> impl Iterator<Item = f64> {
    let div = if endpoint { n.saturating_sub(1) } else { n };
    let step = if div == 0 {
        0.0
    } else {
        (stop - start) / div as f64
    };
    (0..n).map(move |i| start + step * i as f64)
}

fn normal(rng: &mut DataRng) -> f64 {
    rng.sample::<f64, _>(StandardNormal)
}

/// Shuffles the (point, label) pairs, adds noise and packs them into a data set.
fn finish(
    name: &str,
    mut pts: Vec<([f64; 2], Option<i32>)>,
    noise: f64,
    num_classes: Option<usize>,
    rng: &mut DataRng,
) -> Result<Dataset> {
    pts.shuffle(rng);
    let mut flat = Vec::with_capacity(pts.len() * 2);
    for (p, _) in &pts {
        let (ex, ey) = if noise > 0.0 {
            (noise * normal(rng), noise * normal(rng))
        } else {
            (0.0, 0.0)
        };
        flat.push((p[0] + ex) as f32);
        flat.push((p[1] + ey) as f32);
    }
    let x = ArrayD::from_shape_vec(IxDyn(&[pts.len(), 2]), flat)
        .map_err(|e| Error::msg(e.to_string()))?;
    let ds = Dataset::new(name, x)?;
    match num_classes {
        Some(k) => ds.with_labels(pts.iter().map(|(_, l)| l.unwrap_or(0)).collect(), k),
        None => Ok(ds),
    }
}

/// Two interleaving half circles of radius 1, as scikit-learn's `make_moons`: the outer moon
/// (label 0) is `(cos θ, sin θ)` and the inner one (label 1) `(1 − cos θ, 0.5 − sin θ)`, for
/// `n/2` (outer) and `n − n/2` (inner) evenly spaced θ in `[0, π]`; then Gaussian noise.
/// sbgm trains on `noise = 0.05`.
pub fn moons(n: usize, noise: f64, seed: u64) -> Result<Dataset> {
    check("moons", n, noise)?;
    let n_out = n / 2;
    let n_in = n - n_out;
    let mut pts = Vec::with_capacity(n);
    pts.extend(linspace(0.0, PI, n_out, true).map(|t| ([t.cos(), t.sin()], Some(0))));
    pts.extend(linspace(0.0, PI, n_in, true).map(|t| ([1.0 - t.cos(), 0.5 - t.sin()], Some(1))));
    finish("moons", pts, noise, Some(2), &mut data_rng(seed, 1))
}

/// Two concentric circles, as scikit-learn's `make_circles`: the outer one of radius 1
/// (label 0, `n/2` points) and the inner one of radius `factor` (label 1, `n − n/2` points),
/// at evenly spaced angles in `[0, 2π)`; then Gaussian noise. `factor` lies in `(0, 1)`.
pub fn circles(n: usize, noise: f64, factor: f64, seed: u64) -> Result<Dataset> {
    check("circles", n, noise)?;
    if !(factor > 0.0 && factor < 1.0) {
        return Err(Error::msg(format!(
            "circles: factor {factor} (inner radius / outer radius) must lie in (0, 1)"
        )));
    }
    let n_out = n / 2;
    let n_in = n - n_out;
    let tau = 2.0 * PI;
    let mut pts = Vec::with_capacity(n);
    pts.extend(linspace(0.0, tau, n_out, false).map(|t| ([t.cos(), t.sin()], Some(0))));
    pts.extend(
        linspace(0.0, tau, n_in, false).map(|t| ([factor * t.cos(), factor * t.sin()], Some(1))),
    );
    finish("circles", pts, noise, Some(2), &mut data_rng(seed, 2))
}

/// The swiss roll in 2-D: scikit-learn's `make_swiss_roll` projected on its (x, z) plane,
/// `t = 1.5π (1 + 2u)` with `u` uniform on `[0, 1)`, point `(t cos t, t sin t)` (radius `t` in
/// `[4.71, 14.14]`), then Gaussian noise. No labels.
pub fn swiss_roll(n: usize, noise: f64, seed: u64) -> Result<Dataset> {
    check("swiss_roll", n, noise)?;
    let mut rng = data_rng(seed, 3);
    let pts = (0..n)
        .map(|_| {
            let t = 1.5 * PI * (1.0 + 2.0 * rng.random::<f64>());
            ([t * t.cos(), t * t.sin()], None)
        })
        .collect();
    finish("swiss_roll", pts, noise, None, &mut rng)
}

/// The radius of the 8 gaussians' centres.
pub const EIGHT_GAUSSIANS_RADIUS: f64 = 2.0;

/// A mixture of 8 equally weighted Gaussians of standard deviation `noise`, centred on a
/// circle of radius [`EIGHT_GAUSSIANS_RADIUS`] at angles `kπ/4`; the label is `k` in `0..8`.
pub fn eight_gaussians(n: usize, noise: f64, seed: u64) -> Result<Dataset> {
    check("8gaussians", n, noise)?;
    let mut rng = data_rng(seed, 4);
    let pts = (0..n)
        .map(|_| {
            let k = rng.random_range(0..8i32);
            let t = k as f64 * PI / 4.0;
            (
                [
                    EIGHT_GAUSSIANS_RADIUS * t.cos(),
                    EIGHT_GAUSSIANS_RADIUS * t.sin(),
                ],
                Some(k),
            )
        })
        .collect();
    finish("8gaussians", pts, noise, Some(8), &mut rng)
}

/// A 4×4 checkerboard on `[-4, 4)²` with squares of side 2, uniform on its 8 filled squares,
/// those where `⌊x/2⌋ + ⌊y/2⌋` is even (FFJORD's toy set: `x₁ ~ U[-2, 2)`,
/// `x₂ ~ U[0, 1) − 2B + (⌊x₁⌋ mod 2)` with `B` a fair bit, the point is `2 (x₁, x₂)`).
/// No labels and no noise.
pub fn checkerboard(n: usize, seed: u64) -> Result<Dataset> {
    check("checkerboard", n, 0.0)?;
    let mut rng = data_rng(seed, 5);
    let pts = (0..n)
        .map(|_| {
            let x1: f64 = rng.random::<f64>() * 4.0 - 2.0;
            let b = rng.random_range(0..2) as f64;
            let x2 = rng.random::<f64>() - 2.0 * b + x1.floor().rem_euclid(2.0);
            ([2.0 * x1, 2.0 * x2], None)
        })
        .collect();
    finish("checkerboard", pts, 0.0, None, &mut rng)
}
