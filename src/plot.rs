//! PNG plots for training runs: 2-D scatter plots (samples vs data), image grids and loss
//! curves. Files are written atomically (a temporary file renamed into place).
//!
//! Text is drawn with an embedded font, a subset of DejaVu Sans (printable ASCII and a few
//! symbols, 13 KB, Bitstream Vera license with public-domain DejaVu changes; see
//! `src/data/fonts/LICENSE-DejaVu.txt`), so plots need no system fonts. It was made with
//! `python -m fontTools.subset DejaVuSans.ttf --unicodes=U+0020-007E,U+00B1,U+00D7,U+2212
//! --layout-features=kern --no-hinting`.

use crate::error::{Error, Result};
use image::ImageEncoder;
use image::codecs::png::PngEncoder;
use ndarray::ArrayD;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};
use std::path::Path;
use std::sync::Once;

static FONT: &[u8] = include_bytes!("data/fonts/DejaVuSans-ascii.ttf");
static FONT_ONCE: Once = Once::new();

/// Registers the embedded font as plotters' "sans-serif" family (once per process).
fn ensure_font() {
    FONT_ONCE.call_once(|| {
        // The embedded font is fixed and known to parse; a failure would only mean plots
        // without text, and the drawing calls report it.
        let _ = register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// A named curve and its colour.
type Curve<'a> = (&'a str, &'a Vec<(f64, f64)>, RGBColor);

/// Colours of successive series (Matplotlib's "tab10" palette).
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

fn plot_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::msg(format!("{}: drawing the plot failed: {e}", path.display()))
}

/// Encodes an RGB buffer as PNG and writes it atomically.
fn write_png(path: &Path, rgb: &[u8], w: u32, h: u32) -> Result<()> {
    let mut bytes = Vec::new();
    PngEncoder::new(&mut bytes)
        .write_image(rgb, w, h, image::ColorType::Rgb8)
        .map_err(|e| Error::msg(format!("{}: PNG encoding failed: {e}", path.display())))?;
    crate::io::atomic_write_bytes(path, &bytes)
}

/// A tick label with at most 4 significant digits and no trailing zeros.
fn tick(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let mag = v.abs().log10().floor() as i32;
    if !(-4..6).contains(&mag) {
        return format!("{v:.2e}");
    }
    let decimals = (3 - mag).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Range `[lo, hi]` padded by 5% (and widened if empty).
fn padded(lo: f64, hi: f64) -> (f64, f64) {
    if !(lo.is_finite() && hi.is_finite()) {
        return (-1.0, 1.0);
    }
    let span = hi - lo;
    if span <= 1e-12 * lo.abs().max(1.0) {
        let d = lo.abs().max(1.0) * 0.5;
        return (lo - d, hi + d);
    }
    (lo - 0.05 * span, hi + 0.05 * span)
}

/// A scatter plot of 2-D point sets, one colour per series, with a legend of the labels;
/// e.g. `&[("data", &x_data), ("samples", &x_samples)]`. Every array has shape `(N, 2)`;
/// non-finite points are skipped (and counted in the legend). The axes have equal scales.
pub fn scatter_png(path: &Path, title: &str, series: &[(&str, &ArrayD<f32>)]) -> Result<()> {
    if series.is_empty() {
        return Err(Error::msg("scatter_png: no series to plot"));
    }
    let mut sets: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
    for (label, pts) in series {
        if pts.ndim() != 2 || pts.shape()[1] != 2 {
            return Err(Error::msg(format!(
                "scatter_png: series `{label}` must have shape (N, 2), got {:?}",
                pts.shape()
            )));
        }
        let mut v = Vec::with_capacity(pts.shape()[0]);
        let mut dropped = 0usize;
        for r in pts.outer_iter() {
            let (x, y) = (r[0] as f64, r[1] as f64);
            if x.is_finite() && y.is_finite() {
                lo = [lo[0].min(x), lo[1].min(y)];
                hi = [hi[0].max(x), hi[1].max(y)];
                v.push((x, y));
            } else {
                dropped += 1;
            }
        }
        let name = if dropped > 0 {
            format!("{label} (n={}, {dropped} non-finite dropped)", v.len())
        } else {
            format!("{label} (n={})", v.len())
        };
        sets.push((name, v));
    }
    // Equal scales: a square window around the points.
    let (x0, x1) = padded(lo[0], hi[0]);
    let (y0, y1) = padded(lo[1], hi[1]);
    let half = 0.5 * (x1 - x0).max(y1 - y0);
    let (cx, cy) = (0.5 * (x0 + x1), 0.5 * (y0 + y1));
    let (w, h) = (720u32, 760u32);
    let mut buf = vec![255u8; (w * h * 3) as usize];
    ensure_font();
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(cx - half..cx + half, cy - half..cy + half)
            .map_err(|e| plot_err(path, e))?;
        chart
            .configure_mesh()
            .light_line_style(WHITE.mix(0.0))
            .x_label_formatter(&|v: &f64| tick(*v))
            .y_label_formatter(&|v: &f64| tick(*v))
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(|e| plot_err(path, e))?;
        for (k, (name, pts)) in sets.iter().enumerate() {
            let colour = PALETTE[k % PALETTE.len()];
            let alpha = if pts.len() > 5000 { 0.35 } else { 0.7 };
            chart
                .draw_series(
                    pts.iter()
                        .map(|&p| Circle::new(p, 2, colour.mix(alpha).filled())),
                )
                .map_err(|e| plot_err(path, e))?
                .label(name.as_str())
                .legend(move |(x, y)| Circle::new((x + 8, y), 4, colour.filled()));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.5))
            .label_font(("sans-serif", 15))
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(|e| plot_err(path, e))?;
        root.present().map_err(|e| plot_err(path, e))?;
    }
    write_png(path, &buf, w, h)
}

/// A grid of images `(N, C, H, W)` with C = 1 (grey) or 3 (RGB), `ncols` per row, values
/// mapped linearly from `value_range` (e.g. `(-1.0, 1.0)` or `(0.0, 1.0)`) to 0..255 and
/// clipped; non-finite values show as red. Small images are enlarged by an integer factor
/// (to at least 64 pixels a side) and separated by 2-pixel grey borders.
pub fn image_grid_png(
    path: &Path,
    images: &ArrayD<f32>,
    ncols: usize,
    value_range: (f32, f32),
) -> Result<()> {
    let shape = images.shape();
    if shape.len() != 4 || !(shape[1] == 1 || shape[1] == 3) {
        return Err(Error::msg(format!(
            "image_grid_png: images must have shape (N, C, H, W) with C = 1 or 3, got {shape:?}"
        )));
    }
    let (n, c, ih, iw) = (shape[0], shape[1], shape[2], shape[3]);
    if n == 0 || ih == 0 || iw == 0 {
        return Err(Error::msg(format!(
            "image_grid_png: nothing to draw in images of shape {shape:?}"
        )));
    }
    if ncols == 0 {
        return Err(Error::msg("image_grid_png: ncols must be at least 1"));
    }
    let (lo, hi) = value_range;
    if !(lo.is_finite() && hi.is_finite() && lo < hi) {
        return Err(Error::msg(format!(
            "image_grid_png: value range ({lo}, {hi}) must be finite with lo < hi"
        )));
    }
    let ncols = ncols.min(n);
    let nrows = n.div_ceil(ncols);
    let scale = 64usize.div_ceil(ih.max(iw)).max(1);
    let pad = 2usize;
    let (cw, ch) = (iw * scale, ih * scale);
    let w = ncols * (cw + pad) + pad;
    let h = nrows * (ch + pad) + pad;
    if w > 16384 || h > 16384 {
        return Err(Error::msg(format!(
            "image_grid_png: a {nrows}×{ncols} grid of {ih}×{iw} images would be {w}×{h} pixels; \
             plot fewer images"
        )));
    }
    let mut buf = vec![128u8; w * h * 3];
    let to_byte = |v: f32| -> u8 { ((v - lo) / (hi - lo) * 255.0).round().clamp(0.0, 255.0) as u8 };
    for k in 0..n {
        let (gr, gc) = (k / ncols, k % ncols);
        let (ox, oy) = (pad + gc * (cw + pad), pad + gr * (ch + pad));
        for y in 0..ih {
            for x in 0..iw {
                let rgb: [u8; 3] = {
                    let px = |ch: usize| images[[k, ch, y, x]];
                    let vals = if c == 1 {
                        [px(0); 3]
                    } else {
                        [px(0), px(1), px(2)]
                    };
                    if vals.iter().all(|v| v.is_finite()) {
                        vals.map(to_byte)
                    } else {
                        [255, 0, 0]
                    }
                };
                for dy in 0..scale {
                    let row = oy + y * scale + dy;
                    for dx in 0..scale {
                        let col = ox + x * scale + dx;
                        let i = (row * w + col) * 3;
                        buf[i..i + 3].copy_from_slice(&rgb);
                    }
                }
            }
        }
    }
    write_png(path, &buf, w as u32, h as u32)
}

/// A loss curve: `losses` against `steps` (log-scaled y when every value is positive), with
/// an optional validation curve `(steps, losses)`. Non-finite values are skipped.
pub fn loss_curve_png(
    path: &Path,
    steps: &[u64],
    losses: &[f64],
    val: Option<(&[u64], &[f64])>,
) -> Result<()> {
    if steps.len() != losses.len() {
        return Err(Error::msg(format!(
            "loss_curve_png: {} steps but {} losses",
            steps.len(),
            losses.len()
        )));
    }
    if let Some((vs, vl)) = val
        && vs.len() != vl.len()
    {
        return Err(Error::msg(format!(
            "loss_curve_png: {} validation steps but {} validation losses",
            vs.len(),
            vl.len()
        )));
    }
    let clean = |s: &[u64], l: &[f64]| -> Vec<(f64, f64)> {
        s.iter()
            .zip(l)
            .filter(|(_, v)| v.is_finite())
            .map(|(&s, &v)| (s as f64, v))
            .collect()
    };
    let train = clean(steps, losses);
    let valid = val.map(|(s, l)| clean(s, l)).unwrap_or_default();
    if train.is_empty() && valid.is_empty() {
        return Err(Error::msg("loss_curve_png: no finite losses to plot"));
    }
    let all = || train.iter().chain(valid.iter());
    let (sx0, sx1) = all().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
        (a.min(p.0), b.max(p.0))
    });
    let (ly0, ly1) = all().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
        (a.min(p.1), b.max(p.1))
    });
    let log = ly0 > 0.0;
    let (x0, x1) = if sx1 > sx0 {
        (sx0, sx1)
    } else {
        (sx0 - 1.0, sx1 + 1.0)
    };
    let (w, h) = (900u32, 560u32);
    let mut buf = vec![255u8; (w * h * 3) as usize];
    ensure_font();
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
        let mut builder = ChartBuilder::on(&root);
        builder
            .caption("loss", ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64);
        let curves: [Curve<'_>; 2] = [
            ("train", &train, PALETTE[0]),
            ("validation", &valid, PALETTE[1]),
        ];
        macro_rules! draw {
            ($chart:expr) => {{
                let mut chart = $chart.map_err(|e| plot_err(path, e))?;
                chart
                    .configure_mesh()
                    .x_desc("step")
                    .light_line_style(WHITE.mix(0.0))
                    .x_label_formatter(&|v: &f64| format!("{v:.0}"))
                    .y_label_formatter(&|v: &f64| tick(*v))
                    .label_style(("sans-serif", 14))
                    .draw()
                    .map_err(|e| plot_err(path, e))?;
                for (name, pts, colour) in curves {
                    if pts.is_empty() {
                        continue;
                    }
                    chart
                        .draw_series(LineSeries::new(pts.iter().copied(), colour.stroke_width(2)))
                        .map_err(|e| plot_err(path, e))?
                        .label(name)
                        .legend(move |(x, y)| {
                            PathElement::new(vec![(x, y), (x + 16, y)], colour.stroke_width(2))
                        });
                }
                chart
                    .configure_series_labels()
                    .background_style(WHITE.mix(0.85))
                    .border_style(BLACK.mix(0.5))
                    .label_font(("sans-serif", 15))
                    .draw()
                    .map_err(|e| plot_err(path, e))?;
            }};
        }
        if log {
            let (a, b) = if ly1 > ly0 {
                (ly0 / 1.1, ly1 * 1.1)
            } else {
                (ly0 / 2.0, ly1 * 2.0)
            };
            draw!(builder.build_cartesian_2d(x0..x1, (a..b).log_scale()));
        } else {
            let (a, b) = padded(ly0, ly1);
            draw!(builder.build_cartesian_2d(x0..x1, a..b));
        }
        root.present().map_err(|e| plot_err(path, e))?;
    }
    write_png(path, &buf, w, h)
}
