//! Image sets from files: torchvision's ImageFolder layout (one subfolder per class of PNG or
//! JPEG files) and its Flowers102 layout (`jpg/`, `imagelabels.mat`, `setid.mat`), decoded by
//! worker threads, converted to RGB and resized to `n_pix × n_pix` as torchvision's
//! `Resize((n_pix, n_pix))` does (bilinear, antialiased when shrinking). Decoded once into the
//! [image cache](super::image_cache), then read from it into memory or memory-mapped.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use image::imageops::FilterType;
use indicatif::{ProgressBar, ProgressStyle};
use ndarray::{ArrayD, IxDyn};
use serde::{Deserialize, Serialize};

use super::dataset::Dataset;
use super::image_cache::{self, CacheUse, Cached, ImageList, LoadReport};
use super::mapped::MappedNpy;
use super::samples::Samples;
use crate::error::{Error, Result};
use crate::io::npy::read_header_counted;

/// The file extensions read as images (case-insensitive).
pub const IMAGE_EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];
/// The largest `n_pix` accepted.
pub const MAX_N_PIX: usize = 1024;

/// Which Flowers102 split to read (`setid.mat`'s `trnid`, `valid`, `tstid`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowersSplit {
    /// 1020 images, 10 per class (sbgm trains on it).
    #[default]
    Train,
    /// 1020 images (sbgm validates on it).
    Val,
    /// 6149 images.
    Test,
}

/// How an image set is loaded: its size, where its decoded pixels are cached, and whether
/// they are held in memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageOptions {
    /// The side images are resized to (`1..=`[`MAX_N_PIX`]).
    pub n_pix: usize,
    /// The image cache folder; `None` decodes into memory on every load.
    pub cache: Option<PathBuf>,
    /// `Some(true)`: read into memory as f32; `Some(false)`: memory-mapped from the cache file
    /// (u8, converted as rows are gathered); `None`: mapped only when the set as f32 exceeds
    /// half the free memory.
    pub resident: Option<bool>,
}

impl ImageOptions {
    /// `n_pix`, the cache of [`image_cache::cache_dir`], mapped only when large.
    pub fn new(n_pix: usize) -> ImageOptions {
        ImageOptions {
            n_pix,
            cache: image_cache::cache_dir(),
            resident: None,
        }
    }
}

/// An ImageFolder directory: each subfolder (sorted by name) is a class, labelled `0..K`; its
/// PNG and JPEG files (sorted by name; other files are skipped) are its images. `x` has shape
/// `(N, 3, n_pix, n_pix)` with values `0..255` (value range `(0, 255)`). Loaded with
/// [`ImageOptions::new`]; see [`load_image_folder`].
pub fn image_folder(dir: impl AsRef<Path>, n_pix: usize) -> Result<Dataset> {
    load_image_folder(dir, &ImageOptions::new(n_pix)).map(|(ds, _)| ds)
}

/// [`image_folder`] loaded as `opts` says, with what happened (cache hit or decode, mapped).
pub fn load_image_folder(
    dir: impl AsRef<Path>,
    opts: &ImageOptions,
) -> Result<(Dataset, LoadReport)> {
    let dir = dir.as_ref();
    check_n_pix(opts.n_pix)?;
    let mut classes: Vec<PathBuf> = list(dir)?.into_iter().filter(|p| p.is_dir()).collect();
    classes.sort();
    let (mut files, mut labels) = (Vec::new(), Vec::new());
    for (label, class) in classes.iter().enumerate() {
        let mut images: Vec<PathBuf> = list(class)?.into_iter().filter(|p| is_image(p)).collect();
        images.sort();
        labels.extend(std::iter::repeat_n(label as i32, images.len()));
        files.extend(images);
    }
    if files.is_empty() {
        return Err(Error::msg(format!(
            "no images in {}: an image folder holds one subfolder per class with .png or .jpg files",
            dir.display()
        )));
    }
    let list = ImageList {
        set: "images",
        files: &files,
        n_pix: opts.n_pix,
    };
    let (x, report) = pixels(list, opts)?;
    let ds = Dataset::from_samples("images", x)
        .with_value_range(0.0, 255.0)?
        .with_labels(labels, classes.len())?;
    Ok((ds, report))
}

/// Flowers102 in torchvision's layout at `dir` (or `dir/flowers-102`): the images of `split`
/// in `setid.mat`'s order, labels from `imagelabels.mat` (1-based there, `0..101` here).
/// Loaded with [`ImageOptions::new`]; see [`load_flowers102`].
pub fn flowers102(dir: impl AsRef<Path>, split: FlowersSplit, n_pix: usize) -> Result<Dataset> {
    load_flowers102(dir, split, &ImageOptions::new(n_pix)).map(|(ds, _)| ds)
}

/// [`flowers102`] loaded as `opts` says, with what happened (cache hit or decode, mapped).
pub fn load_flowers102(
    dir: impl AsRef<Path>,
    split: FlowersSplit,
    opts: &ImageOptions,
) -> Result<(Dataset, LoadReport)> {
    let mut dir = dir.as_ref().to_path_buf();
    if dir.join("flowers-102").is_dir() {
        dir = dir.join("flowers-102");
    }
    check_n_pix(opts.n_pix)?;
    let labels = mat_vector(&dir.join("imagelabels.mat"), "labels")?;
    let key = match split {
        FlowersSplit::Train => "trnid",
        FlowersSplit::Val => "valid",
        FlowersSplit::Test => "tstid",
    };
    let ids = mat_vector(&dir.join("setid.mat"), key)?;
    let mut files = Vec::with_capacity(ids.len());
    let mut y = Vec::with_capacity(ids.len());
    for id in ids {
        let k = id as usize;
        if id.fract() != 0.0 || k == 0 || k > labels.len() {
            return Err(Error::format(
                dir.join("setid.mat"),
                format!("image id {id} in '{key}' is not one of 1..{}", labels.len()),
            ));
        }
        let label = labels[k - 1];
        if !(1.0..=102.0).contains(&label) || label.fract() != 0.0 {
            return Err(Error::format(
                dir.join("imagelabels.mat"),
                format!("label {label} of image {k} is not one of 1..102"),
            ));
        }
        files.push(dir.join("jpg").join(format!("image_{k:05}.jpg")));
        y.push(label as i32 - 1);
    }
    let set = format!("flowers102-{key}");
    let list = ImageList {
        set: &set,
        files: &files,
        n_pix: opts.n_pix,
    };
    let (x, report) = pixels(list, opts)?;
    let ds = Dataset::from_samples("flowers102", x)
        .with_value_range(0.0, 255.0)?
        .with_labels(y, 102)?;
    Ok((ds, report))
}

/// The pixels of `list`: through the cache (read into memory or mapped, as `opts` says), or
/// decoded into memory where there is no usable cache (with one warning line when its folder
/// cannot be written).
fn pixels(list: ImageList<'_>, opts: &ImageOptions) -> Result<(Samples, LoadReport)> {
    let Some(dir) = &opts.cache else {
        return uncached(list);
    };
    let (path, cache) = match image_cache::cached_npy(list, dir)? {
        Cached::File(path, cache) => (path, cache),
        Cached::Unusable(warning) => {
            eprintln!("sbgm-xla: warning: {warning}");
            return uncached(list);
        }
    };
    let f32_bytes = crate::memory::bytes_of(list.shape(), 4).unwrap_or(u64::MAX);
    let mapped = match opts.resident {
        Some(resident) => !resident,
        None => super::spec::larger_than_half_free(f32_bytes),
    };
    let x = if mapped {
        let file = MappedNpy::open(&path)?;
        Samples::mapped(Arc::new(file), list.shape()[1..].to_vec())
    } else {
        Samples::Resident(read_resident(&path, list.shape())?)
    };
    let report = LoadReport {
        cache,
        file: Some(path),
        mapped,
    };
    Ok((x, report))
}

fn uncached(list: ImageList<'_>) -> Result<(Samples, LoadReport)> {
    let x = decode_resident(list.files, list.n_pix)?;
    let report = LoadReport {
        cache: CacheUse::Uncached,
        file: None,
        mapped: false,
    };
    Ok((Samples::Resident(x), report))
}

fn check_n_pix(n_pix: usize) -> Result<()> {
    if !(1..=MAX_N_PIX).contains(&n_pix) {
        return Err(Error::config(
            "data",
            "n_pix",
            format!(
                "images are resized to n_pix x n_pix with n_pix in 1..={MAX_N_PIX}, got {n_pix}"
            ),
        ));
    }
    Ok(())
}

fn list(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    Ok(entries.filter_map(|e| e.ok()).map(|e| e.path()).collect())
}

fn is_image(p: &Path) -> bool {
    p.is_file()
        && p.extension()
            .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// Decoded images held at once while streaming (the rest of the set stays on disk).
const CHUNK_BYTES: usize = 64 << 20;
/// Sets with more images than this show a progress bar while decoding.
const PROGRESS_MIN_IMAGES: usize = 300;

/// Decodes `files` in order on worker threads, giving `sink` the pixels (u8, `(k, 3, n_pix,
/// n_pix)`) of consecutive runs of images, so that at most [`CHUNK_BYTES`] are held at once;
/// a progress bar shows for large sets.
pub(super) fn decode_stream(
    files: &[PathBuf],
    n_pix: usize,
    mut sink: impl FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    let per_image = 3 * n_pix * n_pix;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = (CHUNK_BYTES / per_image)
        .max(threads)
        .min(files.len())
        .max(1);
    let bar = progress_bar(files.len());
    let mut buf = vec![0u8; chunk * per_image];
    for files in files.chunks(chunk) {
        let out = &mut buf[..files.len() * per_image];
        decode_chunk(files, n_pix, out, &bar)?;
        sink(out)?;
    }
    bar.finish_and_clear();
    Ok(())
}

/// Decodes `files` into `out` (one `3·n_pix²` slot each), the threads taking the next image
/// as they finish one.
fn decode_chunk(files: &[PathBuf], n_pix: usize, out: &mut [u8], bar: &ProgressBar) -> Result<()> {
    let per_image = 3 * n_pix * n_pix;
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(files.len());
    let work = Mutex::new(out.chunks_mut(per_image).zip(files));
    let failed = AtomicBool::new(false);
    let worker = || -> Result<()> {
        while !failed.load(Ordering::Relaxed) {
            let next = work
                .lock()
                .map_err(|_| Error::msg("an image decoding thread panicked"))?
                .next();
            let Some((out, file)) = next else {
                return Ok(());
            };
            decode_into(file, n_pix, out).inspect_err(|_| failed.store(true, Ordering::Relaxed))?;
            bar.inc(1);
        }
        Ok(())
    };
    std::thread::scope(|s| {
        let jobs: Vec<_> = (0..threads).map(|_| s.spawn(worker)).collect();
        jobs.into_iter().try_for_each(|j| {
            j.join()
                .unwrap_or_else(|_| Err(Error::msg("an image decoding thread panicked")))
        })
    })
}

fn progress_bar(n: usize) -> ProgressBar {
    if n <= PROGRESS_MIN_IMAGES {
        return ProgressBar::hidden();
    }
    // Drawn on stderr, and only when it is a terminal.
    let bar = ProgressBar::new(n as u64);
    if let Ok(style) = ProgressStyle::with_template(
        "decoding images [{elapsed_precise}] {bar:40} {pos}/{len} ({per_sec}, ETA {eta})",
    ) {
        bar.set_style(style);
    }
    bar
}

/// Decodes `files` into memory as f32 `(N, 3, n_pix, n_pix)`, values `0..255`.
fn decode_resident(files: &[PathBuf], n_pix: usize) -> Result<ArrayD<f32>> {
    let mut x = reserve_f32(files.len(), n_pix)?;
    decode_stream(files, n_pix, |px| {
        x.extend(px.iter().map(|&v| v as f32));
        Ok(())
    })?;
    ArrayD::from_shape_vec(IxDyn(&[files.len(), 3, n_pix, n_pix]), x)
        .map_err(|e| Error::msg(format!("image array: {e}")))
}

/// A cached u8 image array of `shape` (checked by the cache) read into memory as f32, in
/// chunks.
fn read_resident(path: &Path, shape: [usize; 4]) -> Result<ArrayD<f32>> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    read_header_counted(&mut file).map_err(|e| e.in_file(path))?;
    let mut x = reserve_f32(shape[0], shape[2])?;
    let total = shape.iter().product::<usize>();
    let mut buf = vec![0u8; CHUNK_BYTES.min(total)];
    while x.len() < total {
        let chunk = &mut buf[..(total - x.len()).min(CHUNK_BYTES)];
        file.read_exact(chunk).map_err(|e| Error::io(path, e))?;
        x.extend(chunk.iter().map(|&v| v as f32));
    }
    ArrayD::from_shape_vec(IxDyn(&shape), x).map_err(|e| Error::msg(format!("image array: {e}")))
}

/// An empty vector with room for `n` images of `3·n_pix²` f32 values, or an error naming the
/// fix when memory is short.
fn reserve_f32(n: usize, n_pix: usize) -> Result<Vec<f32>> {
    let short = || {
        Error::msg(format!(
            "{n} images of {n_pix}x{n_pix} do not fit in memory as f32; set [data] resident = \
             false to map them from the image cache, or lower data.n_pix"
        ))
    };
    let total = n.checked_mul(3 * n_pix * n_pix).ok_or_else(short)?;
    let mut x = Vec::new();
    x.try_reserve_exact(total).map_err(|_| short())?;
    Ok(x)
}

/// One image, RGB, resized, channel-first into `out`.
fn decode_into(path: &Path, n_pix: usize, out: &mut [u8]) -> Result<()> {
    let img = image::open(path)
        .map_err(|e| Error::format(path, format!("not a readable PNG or JPEG image ({e})")))?
        .into_rgb8();
    let n = n_pix as u32;
    let img = if img.dimensions() == (n, n) {
        img
    } else {
        image::imageops::resize(&img, n, n, FilterType::Triangle)
    };
    let plane = n_pix * n_pix;
    for (i, px) in img.pixels().enumerate() {
        for c in 0..3 {
            out[c * plane + i] = px.0[c];
        }
    }
    Ok(())
}

/// A MATLAB v5 file's numeric variable `name` as a flat vector of f64.
fn mat_vector(path: &Path, name: &str) -> Result<Vec<f64>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let mat = matfile::MatFile::parse(bytes.as_slice())
        .map_err(|e| Error::format(path, format!("not a readable MATLAB v5 file ({e})")))?;
    let array = mat
        .find_by_name(name)
        .ok_or_else(|| Error::format(path, format!("no variable '{name}'")))?;
    Ok(match array.data() {
        matfile::NumericData::Double { real, .. } => real.clone(),
        matfile::NumericData::Single { real, .. } => real.iter().map(|&v| v as f64).collect(),
        matfile::NumericData::UInt8 { real, .. } => real.iter().map(|&v| v as f64).collect(),
        matfile::NumericData::UInt16 { real, .. } => real.iter().map(|&v| v as f64).collect(),
        matfile::NumericData::Int32 { real, .. } => real.iter().map(|&v| v as f64).collect(),
        _ => {
            return Err(Error::format(
                path,
                format!("variable '{name}' is not a numeric vector of a supported type"),
            ));
        }
    })
}
