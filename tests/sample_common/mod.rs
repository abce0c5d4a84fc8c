//! Shared helpers of the sampling tests: SDEs, moments and statistical bounds.
#![allow(dead_code)]

use sbgm_xla::sde::{Schedule, Sde, SdeKind};

/// The SDEs the tests run: VP linear β 0.1..20, SubVP linear, VE geometric 0.01..100 (σ_max
/// well above the data's scale, so that the prior N(0, σ_max²) matches p_{t1}).
pub fn sdes() -> Vec<Sde> {
    let lin = Schedule::Linear {
        beta_min: 0.1,
        beta_max: 20.0,
    };
    vec![
        Sde::new(SdeKind::Vp, lin.clone(), 1e-3, 1.0, 0.01).unwrap(),
        Sde::new(SdeKind::SubVp, lin, 1e-3, 1.0, 0.01).unwrap(),
        Sde::new(
            SdeKind::Ve,
            Schedule::Geometric {
                sigma_min: 0.01,
                sigma_max: 100.0,
            },
            1e-3,
            1.0,
            0.01,
        )
        .unwrap(),
    ]
}

/// Sample mean and (biased) covariance of rows of `d` values.
pub fn moments(v: &[f64], d: usize) -> (Vec<f64>, Vec<f64>) {
    let n = (v.len() / d) as f64;
    let mut m = vec![0.0; d];
    for r in v.chunks(d) {
        for i in 0..d {
            m[i] += r[i] / n;
        }
    }
    let mut c = vec![0.0; d * d];
    for r in v.chunks(d) {
        for i in 0..d {
            for j in 0..d {
                c[i * d + j] += (r[i] - m[i]) * (r[j] - m[j]) / n;
            }
        }
    }
    (m, c)
}

/// The moments of the SDE's marginal at t0 of data with mean `mu`, covariance `cov`.
pub fn target_moments(sde: &Sde, mu: &[f64], cov: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let d = mu.len();
    let (a, s) = sde.marginal_f64(sde.t0);
    let m = mu.iter().map(|x| a * x).collect();
    let mut c: Vec<f64> = cov.iter().map(|x| a * a * x).collect();
    for i in 0..d {
        c[i * d + i] += s * s;
    }
    (m, c)
}

/// The largest z-score of the sample moments against the target: mean entries against
/// √(Σᵢᵢ/n), covariance entries against √((ΣᵢᵢΣⱼⱼ + Σᵢⱼ²)/n), after subtracting an allowed
/// bias `rel_bias · |target|` (discretisation error).
pub fn moment_zscore(v: &[f64], mu: &[f64], cov: &[f64], rel_bias: f64) -> f64 {
    let d = mu.len();
    let n = (v.len() / d) as f64;
    let (m, c) = moments(v, d);
    let mut z: f64 = 0.0;
    for i in 0..d {
        let se = (cov[i * d + i] / n).sqrt();
        let dev = ((m[i] - mu[i]).abs() - rel_bias * mu[i].abs()).max(0.0);
        z = z.max(dev / se);
        for j in 0..d {
            let se = ((cov[i * d + i] * cov[j * d + j] + cov[i * d + j].powi(2)) / n).sqrt();
            let dev =
                ((c[i * d + j] - cov[i * d + j]).abs() - rel_bias * cov[i * d + j].abs()).max(0.0);
            z = z.max(dev / se);
        }
    }
    z
}
