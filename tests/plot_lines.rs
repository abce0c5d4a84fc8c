//! Line plots (`lines_png`): the PNG decodes at the requested size, curves, markers and
//! reference lines are drawn where the axes put them (log axes straighten a power law), and
//! bad inputs are errors that name the problem, with nothing written.

use sbgm_xla::plot::{Line, LinePlot, lines_png};
use std::path::Path;

fn load(path: &Path) -> image::RgbImage {
    image::open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_rgb8()
}

/// tab10 blue #1f77b4 (first curve), drawn opaque.
fn is_blue(p: [u8; 3]) -> bool {
    p == [31, 119, 180]
}

/// tab10 orange #ff7f0e (second curve).
fn is_orange(p: [u8; 3]) -> bool {
    p == [255, 127, 14]
}

/// tab10 green #2ca02c (the colour after two curves: the first reference line).
fn is_green(p: [u8; 3]) -> bool {
    p == [44, 160, 44]
}

fn count(img: &image::RgbImage, pred: impl Fn([u8; 3]) -> bool) -> usize {
    img.pixels().filter(|p| pred(p.0)).count()
}

/// The mean row of the blue pixels in each column `x0..x1` that has some.
fn blue_rows(img: &image::RgbImage, x0: u32, x1: u32) -> Vec<(f64, f64)> {
    (x0..x1)
        .filter_map(|x| {
            let rows: Vec<u32> = (0..img.height())
                .filter(|&y| is_blue(img.get_pixel(x, y).0))
                .collect();
            (!rows.is_empty()).then(|| {
                (
                    x as f64,
                    rows.iter().map(|&r| r as f64).sum::<f64>() / rows.len() as f64,
                )
            })
        })
        .collect()
}

/// Largest distance (pixels) of the points from their least-squares line.
fn max_line_residual(pts: &[(f64, f64)]) -> f64 {
    let n = pts.len() as f64;
    let (mx, my) = (
        pts.iter().map(|p| p.0).sum::<f64>() / n,
        pts.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let b = sxy / sxx;
    pts.iter()
        .map(|p| (p.1 - (my + b * (p.0 - mx))).abs())
        .fold(0.0, f64::max)
}

fn dark_pixels(img: &image::RgbImage, x0: u32, y0: u32, x1: u32, y1: u32) -> usize {
    let mut n = 0;
    for y in y0..y1 {
        for x in x0..x1 {
            if img.get_pixel(x, y).0.iter().all(|&c| c < 90) {
                n += 1;
            }
        }
    }
    n
}

#[test]
fn curves_markers_and_reference_lines() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("lines.png");
    let nfe = [10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0];
    let em = [0.4, 0.2, 0.09, 0.05, 0.035, 0.03, 0.029];
    let fast_x = [5.0, 10.0, 20.0, f64::NAN, 50.0];
    let fast_y = [0.2, 0.06, 0.03, 1.0, 0.028];
    let plot = LinePlot {
        title: "sliced W1 vs NFE",
        x_label: "NFE",
        y_label: "sliced W1",
        log_x: true,
        log_y: true,
        hlines: &[("noise floor", 0.02)],
        size: (800, 500),
    };
    lines_png(
        &f,
        &plot,
        &[
            Line::new("EM", &nfe, &em),
            Line::new("DPM2M", &fast_x, &fast_y),
        ],
    )
    .unwrap();
    let img = load(&f);
    assert_eq!(img.dimensions(), (800, 500));
    let (blue, orange, green) = (
        count(&img, is_blue),
        count(&img, is_orange),
        count(&img, is_green),
    );
    assert!(blue > 400 && orange > 200, "blue {blue}, orange {orange}");
    // The dashed reference line spans most of the width: at least 40% of ~700 px, 2 px thick.
    assert!(green > 500, "green {green}");
    // It is horizontal: one band of rows holds nearly all its pixels (the legend's sample
    // lies elsewhere, at the top right).
    let mut rows = vec![0usize; 500];
    for (_, y, p) in img.enumerate_pixels() {
        if is_green(p.0) {
            rows[y as usize] += 1;
        }
    }
    let band = rows
        .windows(3)
        .map(|w| w.iter().sum::<usize>())
        .max()
        .unwrap();
    assert!(band as f64 > 0.85 * green as f64, "band {band} of {green}");
    // The title and the axis labels are drawn.
    assert!(dark_pixels(&img, 250, 0, 550, 40) > 50, "no title");
    assert!(dark_pixels(&img, 300, 460, 500, 500) > 20, "no x label");
    assert!(dark_pixels(&img, 0, 150, 30, 350) > 20, "no y label");

    // Markers add pixels: the same curves without them have fewer of the colour.
    let g = dir.path().join("plain.png");
    lines_png(
        &g,
        &plot,
        &[
            Line::new("EM", &nfe, &em).markers(false),
            Line::new("DPM2M", &fast_x, &fast_y).markers(false),
        ],
    )
    .unwrap();
    let plain = count(&load(&g), is_blue);
    assert!(
        blue as f64 > plain as f64 + 7.0 * 20.0,
        "markers: {blue} blue pixels, without {plain}"
    );
    // Default size; overwriting in place; no temporary files left.
    lines_png(&f, &LinePlot::default(), &[Line::new("a", &[1.0], &[2.0])]).unwrap();
    assert_eq!(load(&f).dimensions(), (900, 560));
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| n.ends_with(".png")), "{names:?}");
}

#[test]
fn log_x_axis_straightens_a_logarithm() {
    // y = −log10(x) is a straight line against a log x axis and strongly bent against a
    // linear one. Columns left of 560 px stay clear of the legend (top right).
    let dir = tempfile::tempdir().unwrap();
    let xs: Vec<f64> = (0..=60).map(|i| 10f64.powf(i as f64 / 20.0)).collect();
    let ys: Vec<f64> = xs.iter().map(|x| -x.log10()).collect();
    let curve = [Line::new("-log10 x", &xs, &ys).markers(false)];
    let mut residual = [0.0; 2];
    for (k, log_x) in [true, false].into_iter().enumerate() {
        let f = dir.path().join(format!("log{log_x}.png"));
        let plot = LinePlot {
            log_x,
            ..LinePlot::default()
        };
        lines_png(&f, &plot, &curve).unwrap();
        let pts = blue_rows(&load(&f), 100, 560);
        assert!(pts.len() > 100, "{} columns with the curve", pts.len());
        residual[k] = max_line_residual(&pts);
    }
    assert!(residual[0] < 3.0, "log x: residual {} px", residual[0]);
    assert!(residual[1] > 30.0, "linear x: residual {} px", residual[1]);
}

#[test]
fn bad_line_inputs_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("x.png");
    let err = |plot: &LinePlot<'_>, lines: &[Line<'_>]| -> String {
        let e = lines_png(&f, plot, lines).unwrap_err().to_string();
        assert!(!f.exists(), "a file was written for: {e}");
        e
    };
    let d = LinePlot::default();
    let e = err(&d, &[Line::new("em", &[1.0, 2.0], &[1.0, 2.0, 3.0])]);
    assert!(e.contains("`em` has 2 x values but 3 y values"), "{e}");
    let e = err(
        &d,
        &[Line::new("nan", &[1.0, f64::NAN], &[f64::INFINITY, 1.0])],
    );
    assert!(e.contains("no point with finite x and y"), "{e}");
    let e = err(&d, &[Line::new("empty", &[], &[])]);
    assert!(e.contains("no point with finite x and y"), "{e}");
    let e = err(&d, &[]);
    assert!(e.contains("no curves"), "{e}");
    let log_x = LinePlot { log_x: true, ..d };
    let e = err(&log_x, &[Line::new("z", &[0.0, 1.0], &[1.0, 2.0])]);
    assert!(
        e.contains("`z` has x = 0 (point 0)") && e.contains("logarithmic x axis"),
        "{e}"
    );
    let log_y = LinePlot { log_y: true, ..d };
    let e = err(&log_y, &[Line::new("neg", &[1.0, 2.0], &[1.0, -2.0])]);
    assert!(
        e.contains("`neg` has y = -2 (point 1)") && e.contains("linear y axis"),
        "{e}"
    );
    let floor = LinePlot {
        hlines: &[("floor", 0.0)],
        ..log_y
    };
    let e = err(&floor, &[Line::new("ok", &[1.0], &[1.0])]);
    assert!(e.contains("`floor` has y = 0"), "{e}");
    let nan_floor = LinePlot {
        hlines: &[("floor", f64::NAN)],
        ..d
    };
    let e = err(&nan_floor, &[Line::new("ok", &[1.0], &[1.0])]);
    assert!(e.contains("`floor` is at y = NaN"), "{e}");
    let tiny = LinePlot {
        size: (10, 500),
        ..d
    };
    let e = err(&tiny, &[Line::new("ok", &[1.0], &[1.0])]);
    assert!(e.contains("10×500"), "{e}");
    // Skipped points are fine: a NaN on a log axis, and a curve with none left.
    lines_png(
        &f,
        &LinePlot {
            log_x: true,
            log_y: true,
            ..d
        },
        &[
            Line::new("a", &[1.0, f64::NAN, 3.0], &[1.0, -1.0, 9.0]),
            Line::new("b", &[f64::NAN], &[1.0]),
        ],
    )
    .unwrap();
    assert_eq!(load(&f).dimensions(), (900, 560));
    // A directory that does not exist: an error naming the path.
    let bad = dir.path().join("no/such/dir/x.png");
    let e = lines_png(&bad, &d, &[Line::new("ok", &[1.0], &[1.0])])
        .unwrap_err()
        .to_string();
    assert!(e.contains("no/such/dir"), "{e}");
}
