//! Sliced Wasserstein distance and mean/covariance helpers against closed forms.

use ndarray::{ArrayD, IxDyn};
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use rand_distr::{Distribution, StandardNormal};
use sbgm_xla::data::metrics::{
    SlicedWasserstein, covariance, mean, mean_standard_error, sliced_wasserstein, wasserstein_1d,
};

/// n samples of N(shift, I_d) (shift added to every coordinate's first entry only).
fn gaussian(n: usize, d: usize, shift: &[f32], seed: u64) -> ArrayD<f32> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    ArrayD::from_shape_fn(IxDyn(&[n, d]), |ix| {
        let z: f32 = StandardNormal.sample(&mut rng);
        z + shift[ix[1]]
    })
}

#[test]
fn wasserstein_1d_by_hand() {
    // Quantiles of {0, 1} vs {0, 1, 2, 3} on the quarters of [0, 1]: 0|0, 0|1, 1|2, 1|3,
    // so W1 = (0 + 1 + 1 + 2)/4 = 1 and W2² = (0 + 1 + 1 + 4)/4 = 1.5.
    let (a, b) = ([1.0, 0.0], [3.0, 0.0, 2.0, 1.0]);
    assert!((wasserstein_1d(&a, &b, 1.0).unwrap() - 1.0).abs() < 1e-12);
    assert!((wasserstein_1d(&a, &b, 2.0).unwrap() - 1.5f64.sqrt()).abs() < 1e-12);
    // A translation by s has W_p = |s| for every p.
    let c: Vec<f64> = a.iter().map(|v| v + 2.5).collect();
    for p in [1.0, 2.0, 3.0] {
        assert!((wasserstein_1d(&a, &c, p).unwrap() - 2.5).abs() < 1e-12);
    }
    assert!(wasserstein_1d(&[], &b, 1.0).is_err());
    assert!(wasserstein_1d(&a, &b, 0.5).is_err());
}

#[test]
fn sliced_wasserstein_of_a_set_with_itself_is_zero() {
    let x = gaussian(500, 3, &[0.0; 3], 1);
    let sw = sliced_wasserstein(&x, &x, &SlicedWasserstein::default()).unwrap();
    assert!(sw.abs() < 1e-9, "{sw}");
    // A reordering of the same points is the same distribution.
    let rev = ArrayD::from_shape_fn(IxDyn(&[500, 3]), |ix| x[[499 - ix[0], ix[1]]]);
    assert!(sliced_wasserstein(&x, &rev, &SlicedWasserstein::default()).unwrap() < 1e-9);
}

/// `x` with its sample mean subtracted exactly (in f64), plus `shift`.
fn centred(x: &ArrayD<f32>, shift: &[f32]) -> ArrayD<f32> {
    let m = mean(x).unwrap();
    ArrayD::from_shape_fn(x.raw_dim(), |ix| {
        (x[&ix] as f64 - m[ix[1]]) as f32 + shift[ix[1]]
    })
}

#[test]
fn sliced_wasserstein_of_shifted_gaussians_matches_the_closed_form() {
    // X ~ N(0, I_D), Y ~ N(δ e₁, I_D), both samples centred exactly on their means so that only
    // their shapes differ by sampling noise. Each projection θ is then a 1-D shift by θ·δ plus
    // a small shape term, and
    //   SW_2² = |δ|² E[θ₁²] = |δ|²/D,     SW_1 = |δ| E|θ₁| (= 2|δ|/π in 2-D).
    // The directions are random, so the estimates carry a Monte-Carlo error whose standard
    // deviation is known: sd(θ₁²) = sqrt(3/(D(D+2)) − 1/D²), sd(|cos φ|) = sqrt(1/2 − 4/π²);
    // the tolerances are 4 such standard errors plus a small shape term.
    let pi = std::f64::consts::PI;
    let n = 2000;
    let p = 400;
    let x = centred(&gaussian(n, 2, &[0.0, 0.0], 10), &[0.0, 0.0]);
    let y0 = gaussian(n, 2, &[0.0, 0.0], 20);
    let o2 = SlicedWasserstein {
        projections: p,
        ..Default::default()
    };
    let o1 = SlicedWasserstein { p: 1.0, ..o2 };
    let sd_sq = (3.0 / 8.0 - 0.25f64).sqrt() / (p as f64).sqrt();
    let sd_abs = (0.5 - 4.0 / (pi * pi)).sqrt() / (p as f64).sqrt();
    let mut prev = 0.0;
    for delta in [0.25f32, 0.5, 1.0, 2.0, 4.0] {
        let d = delta as f64;
        let y = centred(&y0, &[delta, 0.0]);
        let sw2 = sliced_wasserstein(&x, &y, &o2).unwrap();
        let want_sq = d * d / 2.0;
        let tol = 4.0 * d * d * sd_sq + 0.01;
        assert!(
            (sw2 * sw2 - want_sq).abs() < tol,
            "δ={delta}: SW2² {} vs {want_sq} ± {tol}",
            sw2 * sw2
        );
        let sw1 = sliced_wasserstein(&x, &y, &o1).unwrap();
        let want1 = 2.0 * d / pi;
        let tol1 = 4.0 * d * sd_abs + 0.03;
        assert!(
            (sw1 - want1).abs() < tol1,
            "δ={delta}: SW1 {sw1} vs {want1} ± {tol1}"
        );
        assert!(sw2 > prev, "not monotone in the shift");
        prev = sw2;
    }
    // D = 8, images (N, 1, 2, 4) flattened to 8 features: SW_2² = |δ|²/8.
    let (n8, p8) = (1000, 1000);
    let mut e1 = [0f32; 8];
    e1[0] = 3.0;
    let x = centred(&gaussian(n8, 8, &[0.0; 8], 3), &[0.0; 8]);
    let y = centred(&gaussian(n8, 8, &[0.0; 8], 4), &e1);
    let img = |a: ArrayD<f32>| a.into_shape_with_order(IxDyn(&[n8, 1, 2, 4])).unwrap();
    let o8 = SlicedWasserstein {
        projections: p8,
        ..Default::default()
    };
    let sw = sliced_wasserstein(&img(x), &img(y), &o8).unwrap();
    let sd8 = (3.0 / 80.0 - 1.0 / 64.0f64).sqrt() / (p8 as f64).sqrt();
    let tol = 4.0 * 9.0 * sd8 + 0.02;
    assert!(
        (sw * sw - 9.0 / 8.0).abs() < tol,
        "D=8: SW2² {} vs 1.125 ± {tol}",
        sw * sw
    );
    // Sets of different sizes work (the 1-D distances use quantile functions).
    let x2 = centred(&gaussian(3000, 2, &[0.0, 0.0], 6), &[0.0, 0.0]);
    let y2 = centred(&gaussian(777, 2, &[0.0, 0.0], 5), &[1.0, 0.0]);
    let sw = sliced_wasserstein(&x2, &y2, &o2).unwrap();
    let tol = 4.0 * sd_sq + 0.02;
    assert!(
        (sw * sw - 0.5).abs() < tol,
        "unequal sizes: SW2² {} vs 0.5 ± {tol}",
        sw * sw
    );
}

#[test]
fn sliced_wasserstein_bad_inputs() {
    let x = gaussian(10, 2, &[0.0; 2], 0);
    let y = gaussian(10, 3, &[0.0; 3], 0);
    let o = SlicedWasserstein::default();
    let e = sliced_wasserstein(&x, &y, &o).unwrap_err().to_string();
    assert!(e.contains("different sample shapes"), "{e}");
    let empty = ArrayD::<f32>::zeros(IxDyn(&[0, 2]));
    assert!(sliced_wasserstein(&x, &empty, &o).is_err());
    let mut nan = x.clone();
    nan[[3, 1]] = f32::NAN;
    let e = sliced_wasserstein(&x, &nan, &o).unwrap_err().to_string();
    assert!(e.contains("NaN"), "{e}");
    let o0 = SlicedWasserstein {
        projections: 0,
        ..o
    };
    assert!(sliced_wasserstein(&x, &x, &o0).is_err());
    // Same seed, same value; the seed changes the directions.
    let z = gaussian(200, 2, &[0.5, -0.5], 9);
    let a = sliced_wasserstein(&x, &z, &o).unwrap();
    assert_eq!(a, sliced_wasserstein(&x, &z, &o).unwrap());
    let o7 = SlicedWasserstein { seed: 7, ..o };
    assert_ne!(a, sliced_wasserstein(&x, &z, &o7).unwrap());
}

#[test]
fn mean_and_covariance() {
    // By hand: rows (1, 2), (3, 6), (5, 7): mean (3, 5), unbiased covariance
    // [[4, 5], [5, 7]] (sums of products of deviations / 2).
    let x = ArrayD::from_shape_vec(IxDyn(&[3, 2]), vec![1.0f32, 2.0, 3.0, 6.0, 5.0, 7.0]).unwrap();
    assert_eq!(mean(&x).unwrap().to_vec(), vec![3.0, 5.0]);
    let c = covariance(&x).unwrap();
    assert_eq!(c.into_raw_vec_and_offset().0, vec![4.0, 5.0, 5.0, 7.0]);
    // A correlated Gaussian: y = L z with L = [[2, 0], [1, 0.5]], Σ = L Lᵀ = [[4, 2], [2, 1.25]].
    let z = gaussian(20000, 2, &[0.0, 0.0], 2);
    let y = ArrayD::from_shape_fn(IxDyn(&[20000, 2]), |ix| {
        let (a, b) = (z[[ix[0], 0]], z[[ix[0], 1]]);
        if ix[1] == 0 {
            2.0 * a + 1.0
        } else {
            a + 0.5 * b - 2.0
        }
    });
    let m = mean(&y).unwrap();
    let se = mean_standard_error(&y).unwrap();
    assert!((se[0] - 2.0 / 20000f64.sqrt()).abs() < 1e-3);
    assert!((m[0] - 1.0).abs() < 4.0 * se[0] && (m[1] + 2.0).abs() < 4.0 * se[1]);
    let c = covariance(&y).unwrap();
    for (got, want) in c.iter().zip([4.0, 2.0, 2.0, 1.25]) {
        assert!((got - want).abs() < 0.05 * want, "{got} vs {want}");
    }
    assert!(covariance(&x.slice_move(ndarray::s![..1, ..]).into_dyn()).is_err());
}
