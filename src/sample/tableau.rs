//! Butcher tableaux of the explicit Runge-Kutta solvers: Euler, Heun, RK4 (fixed step),
//! Tsitouras 5(4) and Dormand-Prince 5(4) (with embedded error estimates).

/// An explicit Runge-Kutta method: stages `kᵢ = f(t + cᵢ h, y + h Σⱼ aᵢⱼ kⱼ)`,
/// `y₁ = y + h Σ bᵢ kᵢ`, error estimate `h Σ eᵢ kᵢ` (b minus the embedded weights).
#[derive(Clone, Debug)]
pub struct Tableau {
    /// Name (for messages).
    pub name: &'static str,
    /// Nodes cᵢ.
    pub c: Vec<f64>,
    /// Lower-triangular coefficients: row i has i entries.
    pub a: Vec<Vec<f64>>,
    /// Solution weights.
    pub b: Vec<f64>,
    /// Error weights (b − b̂), if the method has an embedded estimate.
    pub e: Option<Vec<f64>>,
    /// Order of the solution (the controller's error order, as diffrax's `solver.order()`).
    pub order: u32,
    /// First-same-as-last: the last stage is f(t + h, y₁), reusable as the next k₁.
    pub fsal: bool,
}

impl Tableau {
    /// Forward Euler (order 1).
    pub fn euler() -> Tableau {
        Tableau {
            name: "euler",
            c: vec![0.0],
            a: vec![vec![]],
            b: vec![1.0],
            e: None,
            order: 1,
            fsal: false,
        }
    }

    /// Heun's method (explicit trapezoid, order 2).
    pub fn heun() -> Tableau {
        Tableau {
            name: "heun",
            c: vec![0.0, 1.0],
            a: vec![vec![], vec![1.0]],
            b: vec![0.5, 0.5],
            e: None,
            order: 2,
            fsal: false,
        }
    }

    /// The classical fourth-order Runge-Kutta method.
    pub fn rk4() -> Tableau {
        Tableau {
            name: "rk4",
            c: vec![0.0, 0.5, 0.5, 1.0],
            a: vec![vec![], vec![0.5], vec![0.0, 0.5], vec![0.0, 0.0, 1.0]],
            b: vec![1.0 / 6.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 6.0],
            e: None,
            order: 4,
            fsal: false,
        }
    }

    /// Tsitouras' 5(4) pair (Tsitouras 2011, "Runge-Kutta pairs of order 5(4) satisfying
    /// only the first column simplifying assumption"), 7 stages with FSAL.
    pub fn tsit5() -> Tableau {
        let b = vec![
            0.096_460_766_818_065_23,
            0.01,
            0.479_889_650_414_499_6,
            1.379_008_574_103_742,
            -3.290_069_515_436_081,
            2.324_710_524_099_774,
            0.0,
        ];
        let bhat = [
            0.094_680_755_765_839_46,
            0.009_183_565_540_343_253,
            0.487_770_528_424_761_6,
            1.234_297_566_930_479,
            -2.707_712_349_983_525_5,
            1.866_628_418_170_587,
            1.0 / 66.0,
        ];
        Tableau {
            name: "tsit5",
            c: vec![0.0, 0.161, 0.327, 0.9, 0.980_025_540_904_509_7, 1.0, 1.0],
            a: vec![
                vec![],
                vec![0.161],
                vec![-0.008_480_655_492_356_989, 0.335_480_655_492_357],
                vec![
                    2.897_153_057_105_493,
                    -6.359_448_489_975_075,
                    4.362_295_432_869_581_5,
                ],
                vec![
                    5.325_864_828_439_257,
                    -11.748_883_564_062_828,
                    7.495_539_342_889_836,
                    -0.092_495_066_361_755_25,
                ],
                vec![
                    5.861_455_442_946_42,
                    -12.920_969_317_847_11,
                    8.159_367_898_576_159,
                    -0.071_584_973_281_401,
                    -0.028_269_050_394_068_383,
                ],
                b[..6].to_vec(),
            ],
            e: Some(b.iter().zip(bhat).map(|(b, h)| b - h).collect()),
            b,
            order: 5,
            fsal: true,
        }
    }

    /// Dormand & Prince's 5(4) pair (Dormand & Prince 1980), 7 stages with FSAL.
    pub fn dopri5() -> Tableau {
        let b = vec![
            35.0 / 384.0,
            0.0,
            500.0 / 1113.0,
            125.0 / 192.0,
            -2187.0 / 6784.0,
            11.0 / 84.0,
            0.0,
        ];
        let bhat = [
            5179.0 / 57600.0,
            0.0,
            7571.0 / 16695.0,
            393.0 / 640.0,
            -92097.0 / 339200.0,
            187.0 / 2100.0,
            1.0 / 40.0,
        ];
        Tableau {
            name: "dopri5",
            c: vec![0.0, 0.2, 0.3, 0.8, 8.0 / 9.0, 1.0, 1.0],
            a: vec![
                vec![],
                vec![0.2],
                vec![3.0 / 40.0, 9.0 / 40.0],
                vec![44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0],
                vec![
                    19372.0 / 6561.0,
                    -25360.0 / 2187.0,
                    64448.0 / 6561.0,
                    -212.0 / 729.0,
                ],
                vec![
                    9017.0 / 3168.0,
                    -355.0 / 33.0,
                    46732.0 / 5247.0,
                    49.0 / 176.0,
                    -5103.0 / 18656.0,
                ],
                b[..6].to_vec(),
            ],
            e: Some(b.iter().zip(bhat).map(|(b, h)| b - h).collect()),
            b,
            order: 5,
            fsal: true,
        }
    }

    /// Number of stages.
    pub fn stages(&self) -> usize {
        self.c.len()
    }

    /// Function evaluations per step once running (one fewer with FSAL).
    pub fn evals_per_step(&self) -> usize {
        if self.fsal {
            self.stages() - 1
        } else {
            self.stages()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Order conditions: Σb = 1, Σb c = 1/2, Σb c² = 1/3, Σ b a c = 1/6 (up to order 3 for
    /// every method of order ≥ 3), row sums of a equal c, and the embedded weights sum to 1.
    #[test]
    fn tableaux_satisfy_order_conditions() {
        for t in [
            Tableau::euler(),
            Tableau::heun(),
            Tableau::rk4(),
            Tableau::tsit5(),
            Tableau::dopri5(),
        ] {
            let s = t.stages();
            for i in 0..s {
                let row: f64 = t.a[i].iter().sum();
                assert!((row - t.c[i]).abs() < 1e-12, "{} row {i}", t.name);
            }
            let sb: f64 = t.b.iter().sum();
            assert!((sb - 1.0).abs() < 1e-12, "{}", t.name);
            if let Some(e) = &t.e {
                assert!(e.iter().sum::<f64>().abs() < 1e-12, "{}", t.name);
            }
            if t.order >= 2 {
                let v: f64 = (0..s).map(|i| t.b[i] * t.c[i]).sum();
                assert!((v - 0.5).abs() < 1e-12, "{}", t.name);
            }
            if t.order >= 3 {
                let v: f64 = (0..s).map(|i| t.b[i] * t.c[i] * t.c[i]).sum();
                assert!((v - 1.0 / 3.0).abs() < 1e-12, "{}", t.name);
                let v: f64 = (0..s)
                    .map(|i| t.b[i] * (0..i).map(|j| t.a[i][j] * t.c[j]).sum::<f64>())
                    .sum();
                assert!((v - 1.0 / 6.0).abs() < 1e-12, "{}", t.name);
            }
            if t.order >= 4 {
                let v: f64 = (0..s).map(|i| t.b[i] * t.c[i].powi(3)).sum();
                assert!((v - 0.25).abs() < 1e-12, "{} b c^3", t.name);
            }
        }
    }
}
