//! Two-dimensional FFTs of square complex grids (row-major), from `rustfft`'s 1-D plans.

use std::sync::Arc;

use rustfft::num_complex::Complex64;
use rustfft::{Fft, FftPlanner};

/// Forward and inverse unnormalised 2-D transforms of `n × n` grids, planned once:
/// `forward` computes `Σ_x f(x) e^{−2πi k·x/n}`, `inverse` the same with `+`.
pub struct Fft2 {
    n: usize,
    forward: Arc<dyn Fft<f64>>,
    inverse: Arc<dyn Fft<f64>>,
    column: Vec<Complex64>,
}

impl Fft2 {
    /// Plans for grids of side `n`.
    pub fn new(n: usize) -> Fft2 {
        let mut planner = FftPlanner::new();
        Fft2 {
            n,
            forward: planner.plan_fft_forward(n),
            inverse: planner.plan_fft_inverse(n),
            column: vec![Complex64::default(); n],
        }
    }

    /// The grid side.
    pub fn n(&self) -> usize {
        self.n
    }

    /// In place, `e^{−2πi k·x/n}`, no normalisation.
    pub fn forward(&mut self, grid: &mut [Complex64]) {
        let plan = self.forward.clone();
        self.apply(plan.as_ref(), grid);
    }

    /// In place, `e^{+2πi k·x/n}`, no normalisation (divide by `n²` for the inverse of
    /// [`forward`](Self::forward)).
    pub fn inverse(&mut self, grid: &mut [Complex64]) {
        let plan = self.inverse.clone();
        self.apply(plan.as_ref(), grid);
    }

    fn apply(&mut self, plan: &dyn Fft<f64>, grid: &mut [Complex64]) {
        let n = self.n;
        assert_eq!(grid.len(), n * n, "Fft2: grid of the wrong size");
        // Rows are contiguous; transform them all at once, then each column through a buffer.
        plan.process(grid);
        for j in 0..n {
            for i in 0..n {
                self.column[i] = grid[i * n + j];
            }
            plan.process(&mut self.column);
            for i in 0..n {
                grid[i * n + j] = self.column[i];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against the definition, on a 5×5 grid (odd, so both index halves are exercised).
    #[test]
    fn forward_matches_the_dft_definition_and_inverse_undoes_it() {
        let n = 5;
        let f: Vec<Complex64> = (0..n * n)
            .map(|i| Complex64::new((i as f64 * 0.37).sin(), (i as f64 * 0.11).cos()))
            .collect();
        let mut g = f.clone();
        let mut fft = Fft2::new(n);
        fft.forward(&mut g);
        for k in 0..n {
            for l in 0..n {
                let mut s = Complex64::default();
                for x in 0..n {
                    for y in 0..n {
                        let ph = -2.0 * std::f64::consts::PI * ((k * x + l * y) as f64) / n as f64;
                        s += f[x * n + y] * Complex64::from_polar(1.0, ph);
                    }
                }
                assert!((s - g[k * n + l]).norm() < 1e-10);
            }
        }
        fft.inverse(&mut g);
        for (a, b) in f.iter().zip(&g) {
            assert!((a - b / (n * n) as f64).norm() < 1e-12);
        }
    }
}
