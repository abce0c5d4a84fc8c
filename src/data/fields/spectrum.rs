//! Power spectra on a periodic square grid of side 1 (powerbox's cosmological convention,
//! `boxlength = 1`): the grid of wavenumbers, a power law sampled on it, the spectrum a
//! log-normal field needs from its latent Gaussian field, and the binned power of a field.

use rustfft::num_complex::Complex64;

use super::fft::Fft2;
use crate::error::{Error, Result};

/// `P(k) = amplitude · k^(−slope)`: sbgm's field spectrum (`A · k ** −B`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PowerLaw {
    /// The amplitude `A`.
    pub amplitude: f64,
    /// The slope `B`.
    pub slope: f64,
}

impl PowerLaw {
    /// `P(k)` (`k > 0`).
    pub fn at(&self, k: f64) -> f64 {
        self.amplitude * k.powf(-self.slope)
    }
}

/// The wavenumber magnitude `|k| = 2π·sqrt(i² + j²)` of each grid mode, in FFT order
/// (numpy's `fftfreq` indices), row-major.
pub fn wavenumbers(n: usize) -> Vec<f64> {
    let freq = |i: usize| -> f64 {
        if i < n.div_ceil(2) {
            i as f64
        } else {
            i as f64 - n as f64
        }
    };
    let mut k = Vec::with_capacity(n * n);
    for i in 0..n {
        for j in 0..n {
            k.push(2.0 * std::f64::consts::PI * freq(i).hypot(freq(j)));
        }
    }
    k
}

/// What generating one pair of fields needs from a power law on an `n × n` grid.
#[derive(Clone, Debug)]
pub struct FieldSpectra {
    /// Grid side.
    pub n: usize,
    /// `P(|k|)` on every mode (FFT order), 0 at `k = 0`.
    pub power: Vec<f64>,
    /// The latent Gaussian field's spectrum for the log-normal field, negative modes clipped
    /// to 0 (see [`FieldSpectra::clipped_modes`]).
    pub gaussian_power: Vec<f64>,
    /// The Gaussian field's variance `ξ(0) = Σ P`.
    pub variance: f64,
    /// The latent variance `ln(1 + ξ(0))`.
    pub gaussian_variance: f64,
    /// How many modes of the latent spectrum came out negative and were set to 0.
    pub clipped_modes: usize,
    /// The most negative latent mode divided by the largest (0 when none is negative).
    pub clip_depth: f64,
}

impl FieldSpectra {
    /// The spectra of `law` on an `n × n` grid of side 1, as powerbox 1.0 defines them:
    /// `ξ(r) = Σ_k P(k) e^{ik·r}`, `ξ_G = ln(1 + ξ)`, `P_G = FT[ξ_G]`, `P_G(0) = 0`.
    ///
    /// The Coles & Jones construction has no valid latent spectrum for steep, high-variance
    /// power laws on a coarse grid: some `P_G` modes come out slightly negative. powerbox 1.0
    /// sets small violations to zero and refuses large ones; this always sets them to zero,
    /// so every `(A, B)` of sbgm's prior yields a field, and reports how many modes and how
    /// deep ([`clipped_modes`](Self::clipped_modes), [`clip_depth`](Self::clip_depth)).
    /// A correlation `ξ(r) ≤ −1` anywhere leaves `ln(1 + ξ)` undefined: that is an error
    /// naming the power law (it does not occur for sbgm's prior `A, B ~ U(1, 3)`).
    pub fn new(n: usize, law: PowerLaw, fft: &mut Fft2) -> Result<FieldSpectra> {
        if !(law.amplitude > 0.0 && law.amplitude.is_finite() && law.slope.is_finite()) {
            return Err(Error::msg(format!(
                "a field power law needs a positive finite amplitude and a finite slope, got A = {}, B = {}",
                law.amplitude, law.slope
            )));
        }
        let k = wavenumbers(n);
        let power: Vec<f64> = k
            .iter()
            .map(|&k| if k == 0.0 { 0.0 } else { law.at(k) })
            .collect();
        let variance: f64 = power.iter().sum();
        // ξ(r) = Σ_k P(k) e^{ik·r}: an unnormalised inverse transform.
        let mut xi: Vec<Complex64> = power.iter().map(|&p| Complex64::new(p, 0.0)).collect();
        fft.inverse(&mut xi);
        let min_xi = xi.iter().map(|c| c.re).fold(f64::INFINITY, f64::min);
        if min_xi <= -1.0 {
            return Err(Error::msg(format!(
                "the power law A = {}, B = {} has correlation {min_xi:.4} ≤ −1 on a {n}×{n} grid, so no log-normal field has it",
                law.amplitude, law.slope
            )));
        }
        // P_G(k) = (1/N²) Σ_r ln(1 + ξ(r)) e^{−ik·r}.
        let mut xi_g: Vec<Complex64> = xi
            .iter()
            .map(|c| Complex64::new(c.re.ln_1p(), 0.0))
            .collect();
        fft.forward(&mut xi_g);
        let scale = 1.0 / (n * n) as f64;
        let mut gaussian_power: Vec<f64> = xi_g.iter().map(|c| c.re * scale).collect();
        gaussian_power[0] = 0.0;
        let largest = gaussian_power.iter().copied().fold(0.0, f64::max);
        let smallest = gaussian_power.iter().copied().fold(0.0, f64::min);
        let clipped_modes = gaussian_power.iter().filter(|&&p| p < 0.0).count();
        for p in &mut gaussian_power {
            *p = p.max(0.0);
        }
        Ok(FieldSpectra {
            n,
            power,
            gaussian_power,
            variance,
            gaussian_variance: variance.ln_1p(),
            clipped_modes,
            clip_depth: if largest > 0.0 {
                smallest / largest
            } else {
                0.0
            },
        })
    }
}

/// The power of a real `n × n` field (side 1) in `n / 2` bins of `|k|`: bin `b` holds the
/// modes with `b + 1/2 ≤ |k|/2π < b + 3/2`. Returns each bin's mean `|k|` and mean
/// `|δ̂(k)|² / n⁴`, the estimator of `P(k)` for fields made as [`super::gaussian_and_lognormal`]
/// makes them. Bins without modes are left out.
pub fn binned_power(field: &[f64], n: usize, fft: &mut Fft2) -> Result<(Vec<f64>, Vec<f64>)> {
    binned_cross_power(field, field, n, fft)
}

/// The cross power `Re(â(k) b̂*(k)) / n⁴` of two real `n × n` fields in the bins of
/// [`binned_power`].
pub fn binned_cross_power(
    a: &[f64],
    b: &[f64],
    n: usize,
    fft: &mut Fft2,
) -> Result<(Vec<f64>, Vec<f64>)> {
    if a.len() != n * n || b.len() != n * n || fft.n() != n {
        return Err(Error::msg(format!(
            "binned power: {n}×{n} fields have {} values, got {} and {} (transform of side {})",
            n * n,
            a.len(),
            b.len(),
            fft.n()
        )));
    }
    let transform = |f: &[f64], fft: &mut Fft2| {
        let mut c: Vec<Complex64> = f.iter().map(|&v| Complex64::new(v, 0.0)).collect();
        fft.forward(&mut c);
        c
    };
    let fa = transform(a, fft);
    let fb = if std::ptr::eq(a, b) {
        fa.clone()
    } else {
        transform(b, fft)
    };
    let k = wavenumbers(n);
    let bins = n / 2;
    let (mut ksum, mut psum, mut count) = (vec![0.0; bins], vec![0.0; bins], vec![0usize; bins]);
    let norm = ((n * n) as f64).powi(2);
    for m in 0..n * n {
        let kk = k[m] / (2.0 * std::f64::consts::PI);
        if kk < 0.5 {
            continue;
        }
        let bin = (kk - 0.5).floor() as usize;
        if bin < bins {
            ksum[bin] += k[m];
            psum[bin] += (fa[m] * fb[m].conj()).re / norm;
            count[bin] += 1;
        }
    }
    Ok((0..bins)
        .filter(|&b| count[b] > 0)
        .map(|b| (ksum[b] / count[b] as f64, psum[b] / count[b] as f64))
        .unzip())
}
