//! Gaussian and log-normal random fields: sbgm's field-level task (`sbgm.data.grfs`).
//!
//! Each sample is a pair of `n × n` fields on a periodic box of side 1 made from one white
//! noise: a Gaussian field with power spectrum `P(k) = A·k^(−B)` and the log-normal field with
//! the same spectrum (Coles & Jones; powerbox's `PowerBox` and `LogNormalPowerBox`, whose
//! definitions [`FieldSpectra`] follows), with `(A, B) ~ U(1, 3)²`. sbgm trains on
//! `x` = the log-normal field, conditioned on `q` = the Gaussian field and `a = (A, B)`,
//! both fields standardised per pixel over the set ([`grfs`]).
//!
//! ```
//! use sbgm_xla::data::fields::grfs;
//! let set = grfs(16, 8, 0)?;
//! assert_eq!(set.lognormal.shape(), &[8, 1, 16, 16]);
//! assert_eq!(set.params.shape(), &[8, 2]);
//! # Ok::<(), sbgm_xla::Error>(())
//! ```

mod fft;
pub mod metrics;
mod spectrum;

pub use fft::Fft2;
pub use spectrum::{FieldSpectra, PowerLaw, binned_cross_power, binned_power, wavenumbers};

use ndarray::{Array2, Array4, Axis};
use rand::RngExt;
use rand_distr::StandardNormal;
use rustfft::num_complex::Complex64;

use super::rng::data_rng;
use crate::error::{Error, Result};

/// The largest grid side accepted (a 4096² field pair is 128 MiB of f32).
pub const MAX_N_PIX: usize = 4096;

/// The Gaussian and log-normal fields of `spectra` from one white noise `noise` (`n²`
/// standard normal values): `δ_G = (1/n) Σ_k √P(k) W(k) e^{ik·x}` with `W` the noise's
/// transform, and `δ_LN = exp(δ'_G − σ²_G/2) − 1` with `δ'_G` made the same way from the
/// latent spectrum. Both are real, row-major.
pub fn gaussian_and_lognormal(
    spectra: &FieldSpectra,
    noise: &[f64],
    fft: &mut Fft2,
) -> Result<(Vec<f64>, Vec<f64>)> {
    let n = spectra.n;
    if noise.len() != n * n || fft.n() != n {
        return Err(Error::msg(format!(
            "a {n}×{n} field needs {} noise values and a {n}×{n} transform, got {} and {}×{}",
            n * n,
            noise.len(),
            fft.n(),
            fft.n()
        )));
    }
    let mut w: Vec<Complex64> = noise.iter().map(|&v| Complex64::new(v, 0.0)).collect();
    fft.forward(&mut w);
    let mut synth = |power: &[f64]| -> Vec<f64> {
        let mut s: Vec<Complex64> = w.iter().zip(power).map(|(w, p)| w * p.sqrt()).collect();
        fft.inverse(&mut s);
        s.iter().map(|c| c.re / n as f64).collect()
    };
    let gaussian = synth(&spectra.power);
    let half_var = spectra.gaussian_variance / 2.0;
    let lognormal = synth(&spectra.gaussian_power)
        .into_iter()
        .map(|g| (g - half_var).exp() - 1.0)
        .collect();
    Ok((gaussian, lognormal))
}

/// sbgm's field data set before and after standardisation.
#[derive(Clone, Debug)]
pub struct Grfs {
    /// The log-normal fields, `(n_fields, 1, n_pix, n_pix)`, standardised per pixel (sbgm's `X`).
    pub lognormal: Array4<f32>,
    /// The Gaussian fields from the same noise, standardised per pixel (sbgm's `Q`).
    pub gaussian: Array4<f32>,
    /// `(A, B)` of each field, `(n_fields, 2)`, unscaled (sbgm's `A`).
    pub params: Array2<f32>,
    /// How many fields' latent spectra had negative modes set to zero.
    pub clipped_fields: usize,
    /// The deepest such clipping (most negative mode / largest), 0 when none.
    pub worst_clip_depth: f64,
}

/// sbgm's `grfs(key, n_pix, n_fields)`: `n_fields` pairs of fields on an `n_pix²` grid with
/// `(A, B) ~ U(1, 3)²`, deterministic from `seed` (field `i` draws its noise from its own
/// stream, so the first fields do not depend on `n_fields`), both fields standardised per
/// pixel over the set as sbgm does (`(X − mean_0 X) / std_0 X`).
pub fn grfs(n_pix: usize, n_fields: usize, seed: u64) -> Result<Grfs> {
    if !(2..=MAX_N_PIX).contains(&n_pix) {
        return Err(Error::config(
            "data",
            "n_pix",
            format!("must be between 2 and {MAX_N_PIX}, got {n_pix}"),
        ));
    }
    if n_fields < 2 {
        return Err(Error::config(
            "data",
            "n_fields",
            format!(
                "the fields are standardised over the set, so it needs at least 2 fields, got {n_fields}"
            ),
        ));
    }
    let values = n_fields
        .checked_mul(n_pix * n_pix)
        .filter(|&v| v <= isize::MAX as usize / 16)
        .ok_or_else(|| {
            Error::config(
                "data",
                "n_fields",
                format!("{n_fields} fields of {n_pix}×{n_pix} do not fit in memory"),
            )
        })?;
    let mut params = Array2::<f32>::zeros((n_fields, 2));
    let mut prior = data_rng(seed, 0);
    for mut row in params.rows_mut() {
        row[0] = prior.random_range(1.0..3.0);
        row[1] = prior.random_range(1.0..3.0);
    }
    let mut lognormal = vec![0f32; values];
    let mut gaussian = vec![0f32; values];
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(n_fields);
    let per = n_fields.div_ceil(threads);
    let px = n_pix * n_pix;
    let clipping: Vec<Result<(usize, f64)>> = std::thread::scope(|s| {
        let jobs: Vec<_> = lognormal
            .chunks_mut(per * px)
            .zip(gaussian.chunks_mut(per * px))
            .enumerate()
            .map(|(c, (ln, g))| {
                let params = &params;
                s.spawn(move || fill_fields(n_pix, seed, c * per, params, ln, g))
            })
            .collect();
        jobs.into_iter()
            .map(|j| {
                j.join()
                    .unwrap_or_else(|_| Err(Error::msg("a field generator thread panicked")))
            })
            .collect()
    });
    let (mut clipped_fields, mut worst_clip_depth) = (0, 0f64);
    for r in clipping {
        let (c, d) = r?;
        clipped_fields += c;
        worst_clip_depth = worst_clip_depth.min(d);
    }
    let shape = (n_fields, 1, n_pix, n_pix);
    let to_array = |v: Vec<f32>| {
        Array4::from_shape_vec(shape, v).map_err(|e| Error::msg(format!("field array: {e}")))
    };
    let mut lognormal = to_array(lognormal)?;
    let mut gaussian = to_array(gaussian)?;
    standardize_per_pixel(&mut lognormal);
    standardize_per_pixel(&mut gaussian);
    Ok(Grfs {
        lognormal,
        gaussian,
        params,
        clipped_fields,
        worst_clip_depth,
    })
}

/// Fields `first..first + ln.len() / n²` into `ln` and `g`; returns how many needed clipping
/// and the deepest clipping.
fn fill_fields(
    n: usize,
    seed: u64,
    first: usize,
    params: &Array2<f32>,
    ln: &mut [f32],
    g: &mut [f32],
) -> Result<(usize, f64)> {
    let mut fft = Fft2::new(n);
    let (mut clipped, mut depth) = (0, 0f64);
    for (k, (ln, g)) in ln.chunks_mut(n * n).zip(g.chunks_mut(n * n)).enumerate() {
        let i = first + k;
        let law = PowerLaw {
            amplitude: params[[i, 0]] as f64,
            slope: params[[i, 1]] as f64,
        };
        let spectra = FieldSpectra::new(n, law, &mut fft)?;
        if spectra.clipped_modes > 0 {
            clipped += 1;
            depth = depth.min(spectra.clip_depth);
        }
        let mut rng = data_rng(seed, i as u64 + 1);
        let noise: Vec<f64> = (0..n * n).map(|_| rng.sample(StandardNormal)).collect();
        let (gauss, lognormal) = gaussian_and_lognormal(&spectra, &noise, &mut fft)?;
        for (d, s) in g.iter_mut().zip(&gauss) {
            *d = *s as f32;
        }
        for (d, s) in ln.iter_mut().zip(&lognormal) {
            *d = *s as f32;
        }
    }
    Ok((clipped, depth))
}

/// `(x − mean) / std` per pixel over the first axis (population std, as `jnp.std`); a pixel
/// with zero spread is only centred.
pub fn standardize_per_pixel(x: &mut Array4<f32>) {
    let n = x.len_of(Axis(0)) as f64;
    let mean = x.map(|&v| v as f64).sum_axis(Axis(0)) / n;
    let var = x
        .map(|&v| v as f64)
        .axis_iter(Axis(0))
        .fold(mean.map(|_| 0.0), |acc, f| {
            acc + (&f - &mean).map(|d| d * d)
        })
        / n;
    for mut f in x.axis_iter_mut(Axis(0)) {
        ndarray::Zip::from(&mut f)
            .and(&mean)
            .and(&var)
            .for_each(|v, &m, &s2| {
                let s = s2.sqrt();
                *v = if s > 0.0 {
                    ((*v as f64 - m) / s) as f32
                } else {
                    (*v as f64 - m) as f32
                };
            });
    }
}
