//! Built-in data sets, splits, scaling and the `[data]` config.

use ndarray::{ArrayD, Axis, IxDyn};
use sbgm_xla::data::{DataSpec, Dataset, DatasetKind, Scaling, Transform, digits, toy};

fn rows(d: &Dataset) -> Vec<(f64, f64, i32)> {
    let x = d.x();
    let labels = d.labels().map(|l| l.to_vec()).unwrap_or(vec![-1; d.len()]);
    (0..d.len())
        .map(|i| (x[[i, 0]] as f64, x[[i, 1]] as f64, labels[i]))
        .collect()
}

fn std_of(v: &[f64]) -> f64 {
    let m = v.iter().sum::<f64>() / v.len() as f64;
    (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt()
}

#[test]
fn moons_are_two_labelled_unit_half_circles() {
    // Noise-free: outer moon (label 0) on the unit circle around (0, 0) with y >= 0, inner moon
    // (label 1) on the unit circle around (1, 0.5) with y <= 0.5 (sklearn's make_moons).
    let d = toy::moons(1001, 0.0, 7).unwrap();
    assert_eq!(d.x().shape(), &[1001, 2]);
    assert_eq!(d.num_classes(), Some(2));
    let r = rows(&d);
    assert_eq!(r.iter().filter(|p| p.2 == 0).count(), 500);
    assert_eq!(r.iter().filter(|p| p.2 == 1).count(), 501);
    for &(x, y, l) in &r {
        let (cx, cy) = if l == 0 { (0.0, 0.0) } else { (1.0, 0.5) };
        let rad = ((x - cx).powi(2) + (y - cy).powi(2)).sqrt();
        assert!((rad - 1.0).abs() < 1e-6, "label {l}: radius {rad}");
        if l == 0 {
            assert!(y >= -1e-6);
        } else {
            assert!(y <= 0.5 + 1e-6);
        }
    }
    // The endpoints of both arcs are there (θ = 0 and π).
    for (px, py, l) in [(1.0, 0.0, 0), (-1.0, 0.0, 0), (0.0, 0.5, 1), (2.0, 0.5, 1)] {
        assert!(
            r.iter()
                .any(|p| p.2 == l && (p.0 - px).abs() < 1e-6 && (p.1 - py).abs() < 1e-6)
        );
    }
    // Shuffled: the labels are not in two blocks.
    let switches = r.windows(2).filter(|w| w[0].2 != w[1].2).count();
    assert!(
        switches > 100,
        "only {switches} label changes: not shuffled"
    );

    // With noise 0.05 the radial residual has a standard deviation close to 0.05.
    let d = toy::moons(20000, 0.05, 1).unwrap();
    let resid: Vec<f64> = rows(&d)
        .iter()
        .map(|&(x, y, l)| {
            let (cx, cy) = if l == 0 { (0.0, 0.0) } else { (1.0, 0.5) };
            ((x - cx).powi(2) + (y - cy).powi(2)).sqrt() - 1.0
        })
        .collect();
    let s = std_of(&resid);
    assert!((s - 0.05).abs() < 0.004, "radial std {s}");
}

#[test]
fn generated_sets_are_deterministic_by_seed() {
    let gens: Vec<Box<dyn Fn(u64) -> Dataset>> = vec![
        Box::new(|s| toy::moons(300, 0.1, s).unwrap()),
        Box::new(|s| toy::circles(300, 0.1, 0.5, s).unwrap()),
        Box::new(|s| toy::swiss_roll(300, 0.1, s).unwrap()),
        Box::new(|s| toy::eight_gaussians(300, 0.1, s).unwrap()),
        Box::new(|s| toy::checkerboard(300, s).unwrap()),
    ];
    for g in gens {
        let (a, b, c) = (g(5), g(5), g(6));
        assert_eq!(a, b, "{}: same seed, different data", a.name());
        assert_ne!(a.x(), c.x(), "{}: different seeds, same data", a.name());
    }
}

#[test]
fn circles_swiss_roll_gaussians_checkerboard_have_their_shapes() {
    // circles: radius 1 (label 0) and factor (label 1), n/2 and n - n/2 points.
    let d = toy::circles(401, 0.0, 0.3, 2).unwrap();
    let r = rows(&d);
    assert_eq!(r.iter().filter(|p| p.2 == 0).count(), 200);
    for &(x, y, l) in &r {
        let want = if l == 0 { 1.0 } else { 0.3 };
        assert!(((x * x + y * y).sqrt() - want).abs() < 1e-6);
    }

    // swiss roll: radius t in [1.5π, 4.5π] and polar angle ≡ t (mod 2π).
    let d = toy::swiss_roll(500, 0.0, 3).unwrap();
    assert!(d.labels().is_none());
    for &(x, y, _) in &rows(&d) {
        let t = (x * x + y * y).sqrt();
        let pi = std::f64::consts::PI;
        assert!(
            (1.5 * pi - 1e-4..=4.5 * pi + 1e-4).contains(&t),
            "radius {t}"
        );
        let ang = y.atan2(x);
        let diff = (t - ang).rem_euclid(2.0 * std::f64::consts::PI);
        assert!(
            !(1e-4..=2.0 * pi - 1e-4).contains(&diff),
            "t {t} angle {ang}"
        );
    }

    // 8 gaussians: per-label means at radius 2, angle kπ/4, spread = noise.
    let d = toy::eight_gaussians(16000, 0.1, 4).unwrap();
    assert_eq!(d.num_classes(), Some(8));
    let r = rows(&d);
    for k in 0..8 {
        let pts: Vec<_> = r.iter().filter(|p| p.2 == k).collect();
        // 2000 expected, binomial sd ≈ 42.
        assert!(
            (pts.len() as i64 - 2000).abs() < 250,
            "class {k}: {}",
            pts.len()
        );
        let mx = pts.iter().map(|p| p.0).sum::<f64>() / pts.len() as f64;
        let my = pts.iter().map(|p| p.1).sum::<f64>() / pts.len() as f64;
        let t = k as f64 * std::f64::consts::FRAC_PI_4;
        assert!((mx - 2.0 * t.cos()).abs() < 0.02 && (my - 2.0 * t.sin()).abs() < 0.02);
        let sx = std_of(&pts.iter().map(|p| p.0).collect::<Vec<_>>());
        assert!((sx - 0.1).abs() < 0.01, "class {k}: std {sx}");
    }

    // checkerboard: inside [-4, 4)², only cells with ⌊x/2⌋ + ⌊y/2⌋ even, ~uniform over them.
    let d = toy::checkerboard(16000, 5).unwrap();
    let mut counts = std::collections::HashMap::new();
    for &(x, y, _) in &rows(&d) {
        assert!((-4.0..4.0).contains(&x) && (-4.0..4.0).contains(&y));
        let (i, j) = ((x / 2.0).floor() as i64, (y / 2.0).floor() as i64);
        assert_eq!(
            (i + j).rem_euclid(2),
            0,
            "point ({x}, {y}) in an empty square"
        );
        *counts.entry((i, j)).or_insert(0i64) += 1;
    }
    assert_eq!(counts.len(), 8);
    for (cell, c) in counts {
        assert!((c - 2000).abs() < 250, "cell {cell:?}: {c}");
    }
}

#[test]
fn bad_generator_arguments_are_errors() {
    assert!(toy::moons(0, 0.1, 0).is_err());
    let e = toy::moons(10, -0.1, 0).unwrap_err().to_string();
    assert!(e.contains("noise"), "{e}");
    assert!(toy::moons(10, f64::NAN, 0).is_err());
    let e = toy::circles(10, 0.1, 1.5, 0).unwrap_err().to_string();
    assert!(e.contains("factor"), "{e}");
}

#[test]
fn split_sizes_disjointness_and_determinism() {
    let d = toy::moons(1000, 0.1, 0).unwrap();
    let (tr, ho) = d.split(0.2, 11).unwrap();
    assert_eq!((tr.len(), ho.len()), (800, 200));
    assert_eq!(tr.labels().unwrap().len(), 800);
    // Together they are exactly the original rows.
    let key = |p: &(f64, f64, i32)| (p.0.to_bits(), p.1.to_bits(), p.2);
    let mut all: Vec<_> = rows(&tr).iter().chain(rows(&ho).iter()).map(key).collect();
    let mut orig: Vec<_> = rows(&d).iter().map(key).collect();
    all.sort();
    orig.sort();
    assert_eq!(all, orig);
    // Same seed, same split; another seed, another split.
    let (tr2, ho2) = d.split(0.2, 11).unwrap();
    assert_eq!((&tr, &ho), (&tr2, &ho2));
    let (_, ho3) = d.split(0.2, 12).unwrap();
    assert_ne!(ho.x(), ho3.x());
    // holdout 0 keeps everything for training.
    let (tr0, ho0) = d.split(0.0, 1).unwrap();
    assert_eq!((tr0.len(), ho0.len()), (1000, 0));
    // Bad fractions.
    for f in [1.0, -0.1, f64::NAN, 1.5] {
        let e = d.split(f, 0).unwrap_err().to_string();
        assert!(e.contains("holdout"), "{e}");
    }
    let tiny = toy::moons(1, 0.0, 0).unwrap();
    assert!(tiny.split(0.6, 0).is_err());
}

#[test]
fn dataset_checks_shapes_of_q_a_labels() {
    let x = ArrayD::<f32>::zeros(IxDyn(&[4, 2]));
    let d = Dataset::new("t", x.clone()).unwrap();
    let e = d
        .clone()
        .with_q(ArrayD::zeros(IxDyn(&[3, 2])))
        .unwrap_err()
        .to_string();
    assert!(e.contains("q") && e.contains("4 samples"), "{e}");
    assert!(d.clone().with_a(ArrayD::zeros(IxDyn(&[4, 2, 1]))).is_err());
    assert!(d.clone().with_labels(vec![0, 1, 2], 3).is_err());
    let e = d
        .clone()
        .with_labels(vec![0, 1, 2, 3], 3)
        .unwrap_err()
        .to_string();
    assert!(e.contains("label 3"), "{e}");
    assert!(Dataset::new("v", ArrayD::zeros(IxDyn(&[4]))).is_err());
    let d = d
        .with_q(ArrayD::zeros(IxDyn(&[4, 1, 3, 3])))
        .unwrap()
        .with_a(ArrayD::zeros(IxDyn(&[4, 5])))
        .unwrap()
        .with_labels(vec![0, 1, 1, 0], 2)
        .unwrap();
    assert_eq!(d.context_shape(), Some(&[1, 3, 3][..]));
    assert_eq!(d.parameter_dim(), Some(5));
    let s = d.select(&[3, 1]).unwrap();
    assert_eq!(s.labels(), Some(&[0, 1][..]));
    assert_eq!(s.q().unwrap().shape(), &[2, 1, 3, 3]);
    assert!(d.select(&[4]).is_err());
    let h = d.labels_host().unwrap();
    assert_eq!(h.to_vec::<i32>().unwrap(), vec![0, 1, 1, 0]);
    assert_eq!(d.x_host().shape(), &[4, 2]);
}

#[test]
fn scaler_and_normer_follow_sbgm_and_invert() {
    let x = ArrayD::from_shape_vec(IxDyn(&[4, 1]), vec![0.0f32, 2.0, 4.0, 6.0]).unwrap();
    // Scaler from the data's min/max: 0 -> -1, 6 -> 1, 2 -> -1/3.
    let t = Scaling::Scaler.fit(&x, None).unwrap();
    assert_eq!(
        t,
        Transform::Scaler {
            x_min: 0.0,
            x_max: 6.0
        }
    );
    let y = t.forward_array(&x);
    assert_eq!(y[[0, 0]], -1.0);
    assert_eq!(y[[3, 0]], 1.0);
    assert!((y[[1, 0]] + 1.0 / 3.0).abs() < 1e-6);
    // Scaler with a known range wins over the data's.
    let t2 = Scaling::Scaler.fit(&x, Some((0.0, 16.0))).unwrap();
    assert_eq!(t2.forward(8.0), 0.0);
    // Normer: mean 3, population std sqrt(5) (NumPy's x.std()).
    let n = Scaling::Normer.fit(&x, None).unwrap();
    match n {
        Transform::Normer { mean, std } => {
            assert_eq!(mean, 3.0);
            assert!((std - 5f32.sqrt()).abs() < 1e-6);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(Scaling::Auto.fit(&x, None).unwrap(), n);
    assert_eq!(Scaling::Auto.fit(&x, Some((0.0, 16.0))).unwrap(), t2);
    assert_eq!(Scaling::None.fit(&x, None).unwrap(), Transform::Identity);
    // Inverses round-trip on real data.
    let d = toy::swiss_roll(500, 0.3, 0).unwrap();
    for s in [Scaling::Scaler, Scaling::Normer] {
        let t = s.fit(d.x(), None).unwrap();
        let back = t.reverse_array(&t.forward_array(d.x()));
        let err = (&back - d.x()).mapv(f32::abs).fold(0f32, |a, &b| a.max(b));
        assert!(err < 1e-4, "{s:?}: round trip error {err}");
    }
    // Degenerate data.
    let c = ArrayD::from_elem(IxDyn(&[3, 2]), 1.5f32);
    assert!(Scaling::Normer.fit(&c, None).is_err());
    assert!(Scaling::Scaler.fit(&c, None).is_err());
    let mut nan = x.clone();
    nan[[2, 0]] = f32::NAN;
    let e = Scaling::Normer.fit(&nan, None).unwrap_err().to_string();
    assert!(e.contains("non-finite"), "{e}");
    // The transform serialises (it is stored with checkpoints).
    let s = serde_json::to_string(&n).unwrap();
    assert_eq!(serde_json::from_str::<Transform>(&s).unwrap(), n);
}

#[test]
fn digits_match_scikit_learn() {
    let d = digits::digits().unwrap();
    assert_eq!(d.x().shape(), &[1797, 1, 8, 8]);
    assert_eq!(d.num_classes(), Some(10));
    assert_eq!(d.value_range(), Some((0.0, 16.0)));
    // Class counts of sklearn.datasets.load_digits().target.
    let mut counts = [0usize; 10];
    for &l in d.labels().unwrap() {
        counts[l as usize] += 1;
    }
    assert_eq!(counts, [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]);
    // The first ten targets are 0..9, and digits.images[0][0] is [0, 0, 5, 13, 9, 1, 0, 0].
    assert_eq!(&d.labels().unwrap()[..10], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    let row: Vec<f32> = d
        .x()
        .index_axis(Axis(0), 0)
        .iter()
        .take(8)
        .copied()
        .collect();
    assert_eq!(row, vec![0.0, 0.0, 5.0, 13.0, 9.0, 1.0, 0.0, 0.0]);
    // Integers in 0..=16 whose total is sklearn's digits.images.sum() = 561718.
    assert!(
        d.x()
            .iter()
            .all(|&v| v.fract() == 0.0 && (0.0..=16.0).contains(&v))
    );
    assert_eq!(d.x().iter().map(|&v| v as u64).sum::<u64>(), 561_718);
}

#[test]
fn spec_parses_validates_and_loads() {
    let s = DataSpec::from_toml("dataset = \"moons\"").unwrap();
    assert_eq!(s, DataSpec::new(DatasetKind::Moons));
    let s = DataSpec::from_toml(
        "dataset = \"8gaussians\"\nn = 2000\nnoise = 0.2\nscaling = \"scaler\"\nholdout = 0.25\nseed = 9",
    )
    .unwrap();
    let p = s.load().unwrap();
    assert_eq!((p.train.len(), p.holdout.len()), (1500, 500));
    // Scaled on the training split: its min and max map to exactly -1 and 1.
    let mn = p.train.x().iter().copied().fold(f32::INFINITY, f32::min);
    let mx = p
        .train
        .x()
        .iter()
        .copied()
        .fold(f32::NEG_INFINITY, f32::max);
    assert!((mn + 1.0).abs() < 1e-6 && (mx - 1.0).abs() < 1e-6);
    // Same spec, same data.
    assert_eq!(s.load().unwrap().holdout, p.holdout);

    // moons with the default (auto -> normer) scaling: mean 0, std 1 over all entries.
    let p = DataSpec::from_toml("dataset = \"moons\"\nn = 4000")
        .unwrap()
        .load()
        .unwrap();
    let v: Vec<f64> = p.train.x().iter().map(|&v| v as f64).collect();
    let m = v.iter().sum::<f64>() / v.len() as f64;
    assert!(m.abs() < 1e-5 && (std_of(&v) - 1.0).abs() < 1e-5);
    assert!(matches!(p.transform, Transform::Normer { .. }));

    // digits with auto scaling: Scaler on the known range (0, 16) -> values in [-1, 1].
    let p = DataSpec::from_toml("dataset = \"digits\"\nholdout = 0.1")
        .unwrap()
        .load()
        .unwrap();
    assert_eq!(
        p.transform,
        Transform::Scaler {
            x_min: 0.0,
            x_max: 16.0
        }
    );
    assert_eq!(p.train.len() + p.holdout.len(), 1797);
    assert_eq!(p.holdout.len(), 180);
    assert!(p.train.x().iter().all(|v| (-1.0..=1.0).contains(v)));
    // n on a non-generated set keeps the first n samples.
    let p = DataSpec::from_toml("dataset = \"digits\"\nn = 100\nholdout = 0.0\nscaling = \"none\"")
        .unwrap()
        .load()
        .unwrap();
    assert_eq!(p.train.len(), 100);
}

#[test]
fn spec_errors_name_the_key_and_the_allowed_values() {
    let cases: &[(&str, &[&str])] = &[
        (
            "dataset = \"moonz\"",
            &["moonz", "moons", "8gaussians", "file"],
        ),
        (
            "dataset = \"moons\"\nscaling = \"minmax\"",
            &["minmax", "scaler", "normer"],
        ),
        ("dataset = \"moons\"\nsize = 3", &["size", "holdout"]),
        ("n = 3", &["dataset"]),
        ("dataset = \"moons\"\nholdout = 1.0", &["holdout", "[0, 1)"]),
        ("dataset = \"moons\"\nn = 0", &["n = 0"]),
        ("dataset = \"moons\"\nnoise = -1.0", &["noise"]),
        ("dataset = \"digits\"\nnoise = 0.1", &["noise", "digits"]),
        ("dataset = \"checkerboard\"\nnoise = 0.1", &["noise"]),
        ("dataset = \"file\"", &["path"]),
        ("dataset = \"mnist\"", &["path", "IDX"]),
        ("dataset = \"moons\"\npath = \"x.npy\"", &["path"]),
        ("dataset = \"moons\"\nfactor = 0.5", &["factor", "circles"]),
        ("dataset = \"circles\"\nfactor = 1.5", &["factor"]),
        (
            "dataset = \"moons\"\nmnist_split = \"test\"",
            &["mnist_split"],
        ),
        (
            "dataset = \"mnist\"\npath = \"d\"\nmnist_split = \"val\"",
            &["val", "train", "test"],
        ),
    ];
    for (text, needles) in cases {
        let e = DataSpec::from_toml(text).unwrap_err().to_string();
        for n in *needles {
            assert!(e.contains(n), "error for {text:?} lacks {n:?}: {e}");
        }
    }
    // A file that does not exist.
    let e = DataSpec::from_toml("dataset = \"file\"\npath = \"/nonexistent/x.npz\"")
        .unwrap()
        .load()
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("/nonexistent/x.npz") && e.contains("does not exist"),
        "{e}"
    );
}

#[test]
fn spec_round_trips_through_toml() {
    // Checkpoints store the full config, so a spec must serialise and parse back unchanged.
    let texts = [
        "dataset = \"circles\"\nn = 500\nnoise = 0.1\nfactor = 0.4\nscaling = \"normer\"\nholdout = 0.2\nseed = 4",
        "dataset = \"file\"\npath = \"a/b.npz\"\n[keys]\nx = \"data\"\nlabels = \"y\"",
        "dataset = \"mnist\"\npath = \"mnist\"\nmnist_split = \"test\"",
        "dataset = \"eight_gaussians\"",
    ];
    for t in texts {
        let s = DataSpec::from_toml(t).unwrap();
        let back = toml::to_string(&s).unwrap();
        assert_eq!(DataSpec::from_toml(&back).unwrap(), s, "{t} -> {back}");
    }
}
