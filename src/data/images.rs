//! Image sets from files: torchvision's ImageFolder layout (one subfolder per class of PNG or
//! JPEG files) and its Flowers102 layout (`jpg/`, `imagelabels.mat`, `setid.mat`), decoded by
//! worker threads, converted to RGB and resized to `n_pix × n_pix` as torchvision's
//! `Resize((n_pix, n_pix))` does (bilinear, antialiased when shrinking).

use std::path::{Path, PathBuf};

use image::imageops::FilterType;
use ndarray::{ArrayD, IxDyn};
use serde::{Deserialize, Serialize};

use super::dataset::Dataset;
use crate::error::{Error, Result};

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

/// An ImageFolder directory: each subfolder (sorted by name) is a class, labelled `0..K`; its
/// PNG and JPEG files (sorted by name; other files are skipped) are its images. `x` has shape
/// `(N, 3, n_pix, n_pix)` with values `0..255` (value range `(0, 255)`).
pub fn image_folder(dir: impl AsRef<Path>, n_pix: usize) -> Result<Dataset> {
    let dir = dir.as_ref();
    check_n_pix(n_pix)?;
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
    let x = decode_all(&files, n_pix)?;
    Dataset::new("images", x)?
        .with_value_range(0.0, 255.0)?
        .with_labels(labels, classes.len())
}

/// Flowers102 in torchvision's layout at `dir` (or `dir/flowers-102`): the images of `split`
/// in `setid.mat`'s order, labels from `imagelabels.mat` (1-based there, `0..101` here).
pub fn flowers102(dir: impl AsRef<Path>, split: FlowersSplit, n_pix: usize) -> Result<Dataset> {
    let mut dir = dir.as_ref().to_path_buf();
    if dir.join("flowers-102").is_dir() {
        dir = dir.join("flowers-102");
    }
    check_n_pix(n_pix)?;
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
    let x = decode_all(&files, n_pix)?;
    Dataset::new("flowers102", x)?
        .with_value_range(0.0, 255.0)?
        .with_labels(y, 102)
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

/// Decodes `files` on worker threads into `(N, 3, n_pix, n_pix)` values `0..255`.
fn decode_all(files: &[PathBuf], n_pix: usize) -> Result<ArrayD<f32>> {
    let per_image = 3 * n_pix * n_pix;
    let total = files
        .len()
        .checked_mul(per_image)
        .ok_or_else(|| Error::msg("too many images to hold in memory"))?;
    let mut x = Vec::new();
    x.try_reserve_exact(total).map_err(|_| {
        Error::msg(format!(
            "{} images of {n_pix}x{n_pix} do not fit in memory; lower data.n_pix or data.n",
            files.len()
        ))
    })?;
    x.resize(total, 0f32);
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(files.len().max(1));
    let per = files.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let jobs: Vec<_> = x
            .chunks_mut(per * per_image)
            .zip(files.chunks(per))
            .map(|(out, files)| {
                s.spawn(move || -> Result<()> {
                    for (out, f) in out.chunks_mut(per_image).zip(files) {
                        decode_into(f, n_pix, out)?;
                    }
                    Ok(())
                })
            })
            .collect();
        jobs.into_iter().try_for_each(|j| {
            j.join()
                .unwrap_or_else(|_| Err(Error::msg("an image decoding thread panicked")))
        })
    })?;
    ArrayD::from_shape_vec(IxDyn(&[files.len(), 3, n_pix, n_pix]), x)
        .map_err(|e| Error::msg(format!("image array: {e}")))
}

/// One image, RGB, resized, channel-first into `out`.
fn decode_into(path: &Path, n_pix: usize, out: &mut [f32]) -> Result<()> {
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
            out[c * plane + i] = px.0[c] as f32;
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
