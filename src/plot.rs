//! PNG plots: 2-D scatter plots (samples vs data), image grids, plots of samples (either,
//! by their shape), line plots (linear or logarithmic axes) and loss curves. Files are
//! written atomically (a temporary file renamed into place).
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
/// Draws the legend of `chart` in its upper right corner.
fn draw_legend<'a, DB, CT>(chart: &mut ChartContext<'a, DB, CT>, path: &Path) -> Result<()>
where
    DB: DrawingBackend + 'a,
    CT: CoordTranslate,
{
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.5))
        .label_font(("sans-serif", 15))
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(|e| plot_err(path, e))
}

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
        draw_legend(&mut chart, path)?;
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

/// Whether [`samples_png`] draws samples whose one sample has shape `data_shape`: 2-D points
/// or `(C, H, W)` images with C = 1 or 3.
pub fn can_plot_samples(data_shape: &[usize]) -> bool {
    matches!(data_shape, [2] | [1 | 3, _, _])
}

/// The smallest and largest finite values of `a`, or `(0, 1)` when there are no two
/// different ones: the value range of an image grid when none is known.
pub fn finite_range(a: &ArrayD<f32>) -> (f32, f32) {
    let finite = || a.iter().copied().filter(|v| v.is_finite());
    let lo = finite().fold(f32::INFINITY, f32::min);
    let hi = finite().fold(f32::NEG_INFINITY, f32::max);
    if lo < hi { (lo, hi) } else { (0.0, 1.0) }
}

/// Plots samples `(N, data shape…)` (see [`can_plot_samples`]): a scatter plot titled
/// `title` of 2-D points over the `reference` points (e.g. the data) when given, or a square
/// grid of images with values mapped from `range` (default: [`finite_range`] of the samples).
pub fn samples_png(
    path: &Path,
    samples: &ArrayD<f32>,
    title: &str,
    reference: Option<&ArrayD<f32>>,
    range: Option<(f32, f32)>,
) -> Result<()> {
    let shape = samples.shape();
    if shape.is_empty() || !can_plot_samples(&shape[1..]) {
        return Err(Error::BadArgument(format!(
            "cannot plot samples of shape {:?}: plots are for 2-D points or (C, H, W) images \
             with 1 or 3 channels",
            shape.get(1..).unwrap_or_default()
        )));
    }
    if shape.len() == 2 {
        let mut series = Vec::with_capacity(2);
        if let Some(r) = reference {
            series.push(("data", r));
        }
        series.push(("samples", samples));
        return scatter_png(path, title, &series);
    }
    let range = range.unwrap_or_else(|| finite_range(samples));
    let ncols = (shape[0] as f64).sqrt().ceil().max(1.0) as usize;
    image_grid_png(path, samples, ncols, range)
}

/// One curve of [`lines_png`]: `y` against `x` (equal lengths), drawn as a line in the next
/// tab10 colour, with a dot on every point when `markers` is set.
#[derive(Clone, Copy, Debug)]
pub struct Line<'a> {
    /// Legend label.
    pub label: &'a str,
    /// Abscissae.
    pub x: &'a [f64],
    /// Ordinates, one per abscissa.
    pub y: &'a [f64],
    /// Draw a dot on every point.
    pub markers: bool,
}

impl<'a> Line<'a> {
    /// A curve with markers on its points.
    pub fn new(label: &'a str, x: &'a [f64], y: &'a [f64]) -> Line<'a> {
        Line {
            label,
            x,
            y,
            markers: true,
        }
    }

    /// The same curve with (`true`) or without (`false`) point markers.
    pub fn markers(self, markers: bool) -> Line<'a> {
        Line { markers, ..self }
    }
}

/// A curve ready to draw: legend name, finite points, markers.
type Drawn = (String, Vec<(f64, f64)>, bool);

/// Axes and decorations of [`lines_png`].
#[derive(Clone, Copy, Debug)]
pub struct LinePlot<'a> {
    /// Caption above the plot.
    pub title: &'a str,
    /// Label of the x axis (empty: none).
    pub x_label: &'a str,
    /// Label of the y axis (empty: none).
    pub y_label: &'a str,
    /// Logarithmic x axis (every finite x must then be positive).
    pub log_x: bool,
    /// Logarithmic y axis (every finite y must then be positive).
    pub log_y: bool,
    /// Horizontal reference lines `(label, y)` drawn dashed across the whole plot, in the
    /// colours after those of the curves; e.g. a noise floor.
    pub hlines: &'a [(&'a str, f64)],
    /// Image size in pixels (width, height); default 900 × 560.
    pub size: (u32, u32),
}

impl Default for LinePlot<'_> {
    fn default() -> Self {
        LinePlot {
            title: "",
            x_label: "",
            y_label: "",
            log_x: false,
            log_y: false,
            hlines: &[],
            size: (900, 560),
        }
    }
}

/// Axis range of finite values `[lo, hi]`: padded by 5% of the span, in decades on a log
/// axis, and widened when the span is empty.
fn axis_range(lo: f64, hi: f64, log: bool) -> (f64, f64) {
    if !log {
        return padded(lo, hi);
    }
    let (a, b) = (lo.log10(), hi.log10());
    let (a, b) = if b - a <= 1e-12 {
        (a - 0.3, b + 0.3)
    } else {
        (a - 0.05 * (b - a), b + 0.05 * (b - a))
    };
    (10f64.powf(a), 10f64.powf(b))
}

/// Tick positions of a log axis over `[lo, hi]` (0 < lo < hi): powers of ten (every k-th
/// one on very wide ranges), with 2 and 5 (or every 1..9) times them on narrower ones, and
/// five log-spaced values when fewer than three of those fall in the range.
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let decades = (hi / lo).log10();
    let (d0, d1) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    let stride = (decades / 8.0).ceil().max(1.0) as i32;
    let mults: &[f64] = if decades > 3.0 {
        &[1.0]
    } else if decades > 1.0 {
        &[1.0, 2.0, 5.0]
    } else {
        &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]
    };
    let ticks: Vec<f64> = (d0..=d1)
        .filter(|d| d.rem_euclid(stride) == 0)
        .flat_map(|d| mults.iter().map(move |m| m * 10f64.powi(d)))
        .filter(|v| (lo..=hi).contains(v))
        .collect();
    if ticks.len() >= 3 {
        return ticks;
    }
    (0..5)
        .map(|i| lo * (hi / lo).powf((i as f64 + 0.5) / 5.0))
        .collect()
}

/// A line plot of one or more curves against linear or logarithmic axes, with a legend, and
/// optional horizontal reference lines. Points with a non-finite coordinate are skipped (a
/// curve left with no point is still listed in the legend, marked as such); an error is
/// returned when lengths differ, when there is no finite point at all, when a log axis
/// would have to show a value ≤ 0, or when the size is outside 64..=8192 pixels a side.
/// The file is written atomically.
///
/// ```no_run
/// # use sbgm_xla::plot::{lines_png, Line, LinePlot};
/// let (nfe, w1) = ([10.0, 100.0, 1000.0], [0.3, 0.05, 0.02]);
/// lines_png(
///     std::path::Path::new("w1.png"),
///     &LinePlot { title: "W1 vs NFE", log_x: true, hlines: &[("floor", 0.01)], ..Default::default() },
///     &[Line::new("EM", &nfe, &w1)],
/// )?;
/// # Ok::<(), sbgm_xla::Error>(())
/// ```
pub fn lines_png(path: &Path, plot: &LinePlot<'_>, lines: &[Line<'_>]) -> Result<()> {
    let (w, h) = plot.size;
    if !((64..=8192).contains(&w) && (64..=8192).contains(&h)) {
        return Err(Error::msg(format!(
            "lines_png: image size {w}×{h} is outside 64..=8192 pixels a side"
        )));
    }
    if lines.is_empty() && plot.hlines.is_empty() {
        return Err(Error::msg("lines_png: no curves to plot"));
    }
    let Curves {
        drawn: curves,
        x: (xlo, xhi),
        y: (ylo, yhi),
    } = collect_curves(plot, lines)?;
    let (x0, x1) = axis_range(xlo, xhi, plot.log_x);
    let (y0, y1) = axis_range(ylo, yhi, plot.log_y);
    let mut buf = vec![255u8; (w as usize) * (h as usize) * 3];
    ensure_font();
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
        let mut builder = ChartBuilder::on(&root);
        builder
            .caption(plot.title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(if plot.x_label.is_empty() { 40 } else { 56 })
            .y_label_area_size(if plot.y_label.is_empty() { 64 } else { 84 });
        // One body for the four axis kinds (their coordinate types differ).
        macro_rules! draw {
            ($chart:expr) => {{
                let mut chart = $chart.map_err(|e| plot_err(path, e))?;
                let mut mesh = chart.configure_mesh();
                mesh.light_line_style(WHITE.mix(0.0))
                    .x_label_formatter(&|v: &f64| tick(*v))
                    .y_label_formatter(&|v: &f64| tick(*v))
                    .label_style(("sans-serif", 14))
                    .axis_desc_style(("sans-serif", 16));
                if !plot.x_label.is_empty() {
                    mesh.x_desc(plot.x_label);
                }
                if !plot.y_label.is_empty() {
                    mesh.y_desc(plot.y_label);
                }
                mesh.draw().map_err(|e| plot_err(path, e))?;
                for (k, (name, pts, markers)) in curves.iter().enumerate() {
                    let colour = PALETTE[k % PALETTE.len()];
                    let size = if *markers { 4 } else { 0 };
                    if *markers {
                        chart
                            .draw_series(pts.iter().map(|&p| Circle::new(p, size, colour.filled())))
                            .map_err(|e| plot_err(path, e))?;
                    }
                    chart
                        .draw_series(LineSeries::new(pts.iter().copied(), colour.stroke_width(2)))
                        .map_err(|e| plot_err(path, e))?
                        .label(name.as_str())
                        .legend(move |(x, y)| {
                            EmptyElement::at((x, y))
                                + PathElement::new(vec![(0, 0), (20, 0)], colour.stroke_width(2))
                                + Circle::new((10, 0), size, colour.filled())
                        });
                }
                for (k, &(label, v)) in plot.hlines.iter().enumerate() {
                    let colour = PALETTE[(curves.len() + k) % PALETTE.len()];
                    chart
                        .draw_series(DashedLineSeries::new(
                            [(x0, v), (x1, v)],
                            8,
                            6,
                            colour.stroke_width(2),
                        ))
                        .map_err(|e| plot_err(path, e))?
                        .label(label)
                        .legend(move |(x, y)| {
                            EmptyElement::at((x, y))
                                + PathElement::new(vec![(0, 0), (8, 0)], colour.stroke_width(2))
                                + PathElement::new(vec![(13, 0), (20, 0)], colour.stroke_width(2))
                        });
                }
                draw_legend(&mut chart, path)?;
            }};
        }
        let logx = || (x0..x1).log_scale().with_key_points(log_ticks(x0, x1));
        let logy = || (y0..y1).log_scale().with_key_points(log_ticks(y0, y1));
        match (plot.log_x, plot.log_y) {
            (false, false) => draw!(builder.build_cartesian_2d(x0..x1, y0..y1)),
            (true, false) => draw!(builder.build_cartesian_2d(logx(), y0..y1)),
            (false, true) => draw!(builder.build_cartesian_2d(x0..x1, logy())),
            (true, true) => draw!(builder.build_cartesian_2d(logx(), logy())),
        }
        root.present().map_err(|e| plot_err(path, e))?;
    }
    write_png(path, &buf, w, h)
}

/// The curves of a line plot and the ranges of what it shows.
struct Curves {
    /// Each line's label and finite points, and whether it has markers.
    drawn: Vec<Drawn>,
    /// The x range (min, max).
    x: (f64, f64),
    /// The y range (min, max), the reference lines included.
    y: (f64, f64),
}

/// The finite points of each line (renamed when it has none) and the x and y ranges of the
/// points and reference lines; a point a logarithmic axis cannot show is an error.
fn collect_curves(plot: &LinePlot<'_>, lines: &[Line<'_>]) -> Result<Curves> {
    let axis_check = |label: &str, axis: &str, log: bool, k: usize, v: f64| -> Result<()> {
        if log && v <= 0.0 {
            return Err(Error::msg(format!(
                "lines_png: `{label}` has {axis} = {v} (point {k}), which a logarithmic \
                 {axis} axis cannot show; drop the point or use a linear {axis} axis"
            )));
        }
        Ok(())
    };
    let mut curves: Vec<Drawn> = Vec::with_capacity(lines.len());
    let (mut xlo, mut xhi) = (f64::INFINITY, f64::NEG_INFINITY);
    let (mut ylo, mut yhi) = (f64::INFINITY, f64::NEG_INFINITY);
    for l in lines {
        if l.x.len() != l.y.len() {
            return Err(Error::msg(format!(
                "lines_png: `{}` has {} x values but {} y values",
                l.label,
                l.x.len(),
                l.y.len()
            )));
        }
        let mut pts = Vec::with_capacity(l.x.len());
        for (k, (&x, &y)) in l.x.iter().zip(l.y).enumerate() {
            if !(x.is_finite() && y.is_finite()) {
                continue;
            }
            axis_check(l.label, "x", plot.log_x, k, x)?;
            axis_check(l.label, "y", plot.log_y, k, y)?;
            (xlo, xhi) = (xlo.min(x), xhi.max(x));
            (ylo, yhi) = (ylo.min(y), yhi.max(y));
            pts.push((x, y));
        }
        let name = if pts.is_empty() {
            format!("{} (no finite points)", l.label)
        } else {
            l.label.to_string()
        };
        curves.push((name, pts, l.markers));
    }
    if xlo > xhi {
        return Err(Error::msg(
            "lines_png: no point with finite x and y to plot",
        ));
    }
    for &(label, v) in plot.hlines {
        if !v.is_finite() {
            return Err(Error::msg(format!(
                "lines_png: reference line `{label}` is at y = {v}; it must be finite"
            )));
        }
        axis_check(label, "y", plot.log_y, 0, v)?;
        (ylo, yhi) = (ylo.min(v), yhi.max(v));
    }
    Ok(Curves {
        drawn: curves,
        x: (xlo, xhi),
        y: (ylo, yhi),
    })
}

/// A loss curve: `losses` against `steps` (log-scaled y when every finite value is
/// positive), with an optional validation curve `(steps, losses)`, drawn with
/// [`lines_png`] at 900 × 560. Non-finite values are skipped.
pub fn loss_curve_png(
    path: &Path,
    steps: &[u64],
    losses: &[f64],
    val: Option<(&[u64], &[f64])>,
) -> Result<()> {
    let val: Vec<HeldOut<'_>> = val.map(|(s, l)| ("validation", s, l)).into_iter().collect();
    loss_curves_png(path, steps, losses, &val)
}

/// A held-out curve of [`loss_curves_png`]: its legend label, steps and values.
pub type HeldOut<'a> = (&'a str, &'a [u64], &'a [f64]);

/// [`loss_curve_png`] with any number of held-out curves (e.g. the EMA's and the raw
/// parameters' held-out losses), each with its legend label.
pub fn loss_curves_png(
    path: &Path,
    steps: &[u64],
    losses: &[f64],
    val: &[HeldOut<'_>],
) -> Result<()> {
    if steps.len() != losses.len() {
        return Err(Error::msg(format!(
            "loss_curve_png: {} steps but {} losses",
            steps.len(),
            losses.len()
        )));
    }
    if let Some((label, vs, vl)) = val.iter().find(|(_, s, l)| s.len() != l.len()) {
        return Err(Error::msg(format!(
            "loss_curve_png: {} {label} steps but {} {label} losses",
            vs.len(),
            vl.len()
        )));
    }
    let finite = |l: &[f64]| {
        l.iter()
            .copied()
            .filter(|v| v.is_finite())
            .collect::<Vec<_>>()
    };
    let mut all = finite(losses);
    for (_, _, vl) in val {
        all.extend(finite(vl));
    }
    if all.is_empty() {
        return Err(Error::msg("loss_curve_png: no finite losses to plot"));
    }
    let log_y = all.iter().all(|&v| v > 0.0);
    let xs = |s: &[u64]| s.iter().map(|&s| s as f64).collect::<Vec<_>>();
    let train_x = xs(steps);
    let val_x: Vec<Vec<f64>> = val.iter().map(|(_, s, _)| xs(s)).collect();
    let mut curves = Vec::with_capacity(1 + val.len());
    if losses.iter().any(|v| v.is_finite()) {
        curves.push(Line::new("train", &train_x, losses).markers(false));
    }
    for ((label, _, vl), vx) in val.iter().zip(&val_x) {
        if vl.iter().any(|v| v.is_finite()) {
            curves.push(Line::new(label, vx, vl).markers(false));
        }
    }
    lines_png(
        path,
        &LinePlot {
            title: "loss",
            x_label: "step",
            log_y,
            ..LinePlot::default()
        },
        &curves,
    )
}
