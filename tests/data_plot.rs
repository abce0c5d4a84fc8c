//! PNG plots decode with the right size, are not blank, and show what they were given.

use ndarray::{ArrayD, Axis, IxDyn};
use sbgm_xla::data::{digits, toy};
use sbgm_xla::plot::{image_grid_png, loss_curve_png, scatter_png};
use std::path::Path;

fn load(path: &Path) -> image::RgbImage {
    image::open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_rgb8()
}

/// Pixels in the region that are "dark" (text, axes): every channel below 90.
fn dark_pixels(img: &image::RgbImage, x0: u32, y0: u32, x1: u32, y1: u32) -> usize {
    let mut n = 0;
    for y in y0..y1 {
        for x in x0..x1 {
            let p = img.get_pixel(x, y).0;
            if p.iter().all(|&c| c < 90) {
                n += 1;
            }
        }
    }
    n
}

/// Pixels close to `rgb` (blended over white with any alpha keeps the hue's ordering; here we
/// look for the strongest channel pattern).
fn count_like(img: &image::RgbImage, pred: impl Fn([u8; 3]) -> bool) -> usize {
    img.pixels().filter(|p| pred(p.0)).count()
}

fn no_temp_files(dir: &Path) {
    let names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| n.ends_with(".png")),
        "left-over files: {names:?}"
    );
}

#[test]
fn scatter_of_data_and_samples() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("scatter.png");
    let data = toy::moons(2000, 0.05, 0).unwrap();
    // "samples": a Gaussian blob far to the lower right, with a NaN among them.
    let mut s = toy::eight_gaussians(500, 0.05, 1).unwrap().x().clone();
    s.mapv_inplace(|v| v * 0.2 + 3.0);
    s[[0, 0]] = f32::NAN;
    scatter_png(
        &f,
        "samples vs data",
        &[("data", data.x()), ("samples", &s)],
    )
    .unwrap();
    let img = load(&f);
    assert_eq!(img.dimensions(), (720, 760));
    // Blue (tab10 #1f77b4: b > r) and orange (#ff7f0e: r > b) points are both drawn.
    let blue = count_like(&img, |[r, g, b]| b as i32 - r as i32 > 60 && g < 220);
    let orange = count_like(&img, |[r, g, b]| {
        r as i32 - b as i32 > 60 && g < 220 && g > 60
    });
    assert!(blue > 500 && orange > 50, "blue {blue}, orange {orange}");
    // The title is drawn in the top band (text needs the embedded font).
    assert!(dark_pixels(&img, 150, 0, 570, 40) > 50, "no title text");
    no_temp_files(dir.path());
    // Overwrite in place.
    scatter_png(&f, "again", &[("data", data.x())]).unwrap();
    assert_eq!(load(&f).dimensions(), (720, 760));
}

#[test]
fn image_grid_shows_the_pixels() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("grid.png");
    let d = digits::digits().unwrap();
    let ten = d.x().select(Axis(0), &(0..10).collect::<Vec<_>>());
    image_grid_png(&f, &ten, 5, (0.0, 16.0)).unwrap();
    let img = load(&f);
    // 8×8 images enlarged 8× to 64 px, 2-px borders: 5·66 + 2 by 2·66 + 2.
    assert_eq!(img.dimensions(), (332, 134));
    // Image k at grid (k / 5, k % 5), pixel (r, c) is the 8×8 block at
    // (2 + 66·col + 8c, 2 + 66·row + 8r); value v maps to round(v/16 · 255).
    for k in [0usize, 3, 7] {
        for (r, c) in [(0usize, 2usize), (3, 4), (7, 7)] {
            let v = d.x()[[k, 0, r, c]];
            let want = (v / 16.0 * 255.0).round() as u8;
            let (x0, y0) = (2 + 66 * (k % 5) + 8 * c, 2 + 66 * (k / 5) + 8 * r);
            for (dx, dy) in [(0, 0), (7, 7), (3, 5)] {
                let p = img.get_pixel((x0 + dx) as u32, (y0 + dy) as u32).0;
                assert_eq!(p, [want; 3], "image {k} pixel ({r}, {c})");
            }
        }
    }
    // RGB images in [-1, 1], clipped; a NaN shows red.
    let mut rgb = ArrayD::<f32>::zeros(IxDyn(&[3, 3, 28, 28]));
    rgb.index_axis_mut(Axis(1), 0).fill(1.0); // red channel at the top of the range
    rgb[[0, 1, 0, 0]] = 5.0; // clipped to 255
    rgb[[2, 2, 5, 5]] = f32::NAN;
    let f2 = dir.path().join("rgb.png");
    image_grid_png(&f2, &rgb, 2, (-1.0, 1.0)).unwrap();
    let img = load(&f2);
    // 28 px enlarged 3× to 84 px: 2·86 + 2 by 2·86 + 2.
    assert_eq!(img.dimensions(), (174, 174));
    assert_eq!(img.get_pixel(2 + 40, 2 + 40).0, [255, 128, 128]);
    assert_eq!(img.get_pixel(2, 2).0, [255, 255, 128]);
    assert_eq!(img.get_pixel(2 + 15, 88 + 15).0, [255, 0, 0]);
    // The unused cell stays grey.
    assert_eq!(img.get_pixel(88 + 40, 88 + 40).0, [128, 128, 128]);
    no_temp_files(dir.path());
}

#[test]
fn loss_curves_linear_and_log() {
    let dir = tempfile::tempdir().unwrap();
    let steps: Vec<u64> = (0..200).map(|i| i * 10).collect();
    let losses: Vec<f64> = steps
        .iter()
        .map(|&s| 2.0 * (-(s as f64) / 500.0).exp() + 0.05)
        .collect();
    let vs: Vec<u64> = (0..20).map(|i| i * 100).collect();
    let vl: Vec<f64> = vs
        .iter()
        .map(|&s| 2.2 * (-(s as f64) / 500.0).exp() + 0.08)
        .collect();
    let f = dir.path().join("loss.png");
    loss_curve_png(&f, &steps, &losses, Some((&vs, &vl))).unwrap();
    let img = load(&f);
    assert_eq!(img.dimensions(), (900, 560));
    let blue = count_like(&img, |[r, g, b]| b as i32 - r as i32 > 60 && g < 220);
    let orange = count_like(&img, |[r, g, b]| {
        r as i32 - b as i32 > 60 && g < 220 && g > 60
    });
    assert!(blue > 300 && orange > 100, "blue {blue}, orange {orange}");
    assert!(dark_pixels(&img, 350, 0, 550, 40) > 20, "no caption text");
    // Negative values (linear axis), a NaN skipped, no validation curve.
    let mut neg: Vec<f64> = losses.iter().map(|l| l - 1.0).collect();
    neg[5] = f64::NAN;
    loss_curve_png(&f, &steps, &neg, None).unwrap();
    assert_eq!(load(&f).dimensions(), (900, 560));
    // A single point.
    loss_curve_png(&f, &[3], &[0.5], None).unwrap();
    no_temp_files(dir.path());
}

#[test]
fn bad_plot_inputs_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("x.png");
    let three = ArrayD::<f32>::zeros(IxDyn(&[4, 3]));
    let e = scatter_png(&f, "t", &[("a", &three)])
        .unwrap_err()
        .to_string();
    assert!(e.contains("(N, 2)"), "{e}");
    assert!(scatter_png(&f, "t", &[]).is_err());
    let e = image_grid_png(&f, &ArrayD::zeros(IxDyn(&[2, 2, 8, 8])), 2, (0.0, 1.0))
        .unwrap_err()
        .to_string();
    assert!(e.contains("C = 1 or 3"), "{e}");
    assert!(image_grid_png(&f, &ArrayD::zeros(IxDyn(&[2, 1, 8, 8])), 0, (0.0, 1.0)).is_err());
    assert!(image_grid_png(&f, &ArrayD::zeros(IxDyn(&[2, 1, 8, 8])), 2, (1.0, 1.0)).is_err());
    let e = loss_curve_png(&f, &[1, 2], &[0.1], None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("2 steps but 1 losses"), "{e}");
    assert!(loss_curve_png(&f, &[1], &[f64::NAN], None).is_err());
    // A directory that does not exist: an I/O error naming the path, and nothing written.
    let bad = dir.path().join("no/such/dir/x.png");
    let e = image_grid_png(&bad, &ArrayD::zeros(IxDyn(&[1, 1, 8, 8])), 1, (0.0, 1.0))
        .unwrap_err()
        .to_string();
    assert!(e.contains("no/such/dir"), "{e}");
    assert!(!f.exists());
}
