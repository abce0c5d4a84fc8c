//! IDX files (MNIST's format, plain or gzipped) and the MNIST data set from a user's files.
//!
//! An IDX file is `0x00 0x00 TYPE RANK`, then `RANK` big-endian `u32` dimensions, then the
//! elements, big-endian, row-major. TYPE is 0x08 (u8), 0x09 (i8), 0x0B (i16), 0x0C (i32),
//! 0x0D (f32) or 0x0E (f64).

use super::dataset::Dataset;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::host::HostArray;
use crate::io::bounded::{check_declared, deflate_limit, has_more, read_up_to};
use flate2::read::MultiGzDecoder;
use ndarray::{ArrayD, IxDyn};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// Reads an IDX file, gzipped or not (detected from its first bytes). `u8` stays `u8`,
/// `i8`/`i16`/`i32` become `i32`, `f32` and `f64` stay as they are.
///
/// The data is read as it streams in: a header declaring more than the file (or its gzip
/// stream) can hold is refused before anything is allocated, and a stream that runs past the
/// size its header declares is an error, so a small file never expands into a large buffer.
pub fn read_idx(path: impl AsRef<Path>) -> Result<HostArray> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut r = BufReader::with_capacity(1 << 16, file);
    let gzipped = r
        .fill_buf()
        .map_err(|e| Error::io(path, e))?
        .starts_with(&[0x1f, 0x8b]);
    if gzipped {
        let mut gz = GzipErrors(MultiGzDecoder::new(r));
        let limit = deflate_limit(len, 0);
        read_idx_from(&mut gz, Some(limit))
    } else {
        // Plain data is read as it arrives; a short file is reported as truncated.
        read_idx_from(&mut r, None)
    }
    .map_err(|e| e.in_file(path))
}

/// A gzip decoder whose read errors say that the gzip data is corrupt.
struct GzipErrors<R>(R);

impl<R: Read> Read for GzipErrors<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf).map_err(|e| {
            std::io::Error::other(format!("corrupt gzip data ({e}); download the file again"))
        })
    }
}

/// Parses the bytes of an (uncompressed) IDX file.
pub fn parse_idx(bytes: &[u8]) -> Result<HostArray> {
    read_idx_from(&mut &bytes[..], None)
}

/// Reads an IDX array from `r` and checks that nothing follows it; `gzip_limit` is the most
/// bytes a gzip stream can expand to, checked against the header before the data is read.
fn read_idx_from(r: &mut impl Read, gzip_limit: Option<u64>) -> Result<HostArray> {
    let magic = read_up_to(r, 4, "the IDX header")?;
    if magic.len() < 4 || magic[0] != 0 || magic[1] != 0 {
        return Err(Error::msg(
            "not an IDX file (it must start with two zero bytes, a type byte and a rank byte)",
        ));
    }
    let (width, name) = match magic[2] {
        0x08 => (1, "u8"),
        0x09 => (1, "i8"),
        0x0B => (2, "i16"),
        0x0C => (4, "i32"),
        0x0D => (4, "f32"),
        0x0E => (8, "f64"),
        t => {
            return Err(Error::msg(format!(
                "unknown IDX element type 0x{t:02X} (known: 0x08 u8, 0x09 i8, 0x0B i16, \
                 0x0C i32, 0x0D f32, 0x0E f64)"
            )));
        }
    };
    let rank = magic[3] as usize;
    let header = 4 + 4 * rank;
    let dims = read_up_to(r, 4 * rank, "the IDX header")?;
    if dims.len() < 4 * rank {
        return Err(Error::msg(format!(
            "truncated IDX header: rank {rank} needs {header} bytes, the file has {}",
            4 + dims.len()
        )));
    }
    let shape: Vec<usize> = dims
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let want = shape
        .iter()
        .try_fold(width, |a: usize, &d| a.checked_mul(d))
        .ok_or_else(|| Error::msg(format!("IDX dimensions {shape:?} overflow")))?;
    if let Some(limit) = gzip_limit {
        check_declared(
            &format!("the IDX header (shape {shape:?} of {name})"),
            (want as u64).saturating_add(header as u64),
            limit,
            "its gzip data can expand to",
        )?;
    }
    let body = read_up_to(r, want, "the IDX data")?;
    if body.len() != want {
        return Err(Error::msg(format!(
            "IDX file of {name} with shape {shape:?} needs {want} data bytes, found {} \
             (truncated or corrupt file)",
            body.len()
        )));
    }
    if has_more(r).map_err(|e| Error::msg(e.to_string()))? {
        return Err(Error::msg(format!(
            "the IDX data continues past the {want} bytes its header declares for {name} of \
             shape {shape:?} (a corrupt file, or a forged header)"
        )));
    }
    decode(magic[2], shape, body)
}

/// The array of IDX element type `kind` from its big-endian data.
fn decode(kind: u8, shape: Vec<usize>, body: Vec<u8>) -> Result<HostArray> {
    match kind {
        0x08 => HostArray::from_bytes(DType::U8, shape, body),
        0x09 => HostArray::from_vec(shape, body.iter().map(|&b| b as i8 as i32).collect()),
        0x0B => HostArray::from_vec(
            shape,
            body.chunks_exact(2)
                .map(|c| i16::from_be_bytes([c[0], c[1]]) as i32)
                .collect(),
        ),
        0x0C => HostArray::from_vec(
            shape,
            body.chunks_exact(4)
                .map(|c| i32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        0x0D => HostArray::from_vec(
            shape,
            body.chunks_exact(4)
                .map(|c| f32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        _ => HostArray::from_vec(
            shape,
            body.chunks_exact(8)
                .map(|c| f64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                .collect(),
        ),
    }
}

/// Which MNIST files to read: the 60,000 training or the 10,000 test images.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MnistSplit {
    /// `train-images-idx3-ubyte` and `train-labels-idx1-ubyte`.
    #[default]
    Train,
    /// `t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte`.
    Test,
}

fn find_first(candidates: &[PathBuf]) -> Option<PathBuf> {
    candidates.iter().find(|p| p.is_file()).cloned()
}

fn candidates(dir: &Path, prefix: &str, kind: &str, idx: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for sub in ["", "raw", "MNIST/raw"] {
        for sep in ["-", "."] {
            for ext in ["", ".gz"] {
                out.push(
                    dir.join(sub)
                        .join(format!("{prefix}-{kind}{sep}{idx}-ubyte{ext}")),
                );
            }
        }
    }
    out
}

/// MNIST (or Fashion-MNIST, or any IDX image set in MNIST's layout) from a user's files.
///
/// `path` is either a directory holding `train-images-idx3-ubyte[.gz]` and
/// `train-labels-idx1-ubyte[.gz]` (or the `t10k-` pair; also looked for in `raw/` and
/// `MNIST/raw/`, torchvision's layout), or an images file, whose labels file is found by
/// replacing `images` with `labels` and `idx3` with `idx1` in its name (images without labels
/// are accepted then). The result has `x` of shape `(N, 1, H, W)` with raw values `0..255`
/// (value range `(0, 255)`) and labels `0..9`.
pub fn mnist(path: impl AsRef<Path>, split: MnistSplit) -> Result<Dataset> {
    let path = path.as_ref();
    let prefix = match split {
        MnistSplit::Train => "train",
        MnistSplit::Test => "t10k",
    };
    let (images, labels) = if path.is_dir() {
        let img = candidates(path, prefix, "images", "idx3");
        let images = find_first(&img).ok_or_else(|| {
            Error::msg(format!(
                "no MNIST {prefix} images in {}: looked for {prefix}-images-idx3-ubyte \
                 (or .gz, or in raw/ and MNIST/raw/); download MNIST's IDX files there or \
                 point `path` at the images file",
                path.display()
            ))
        })?;
        let labels = find_first(&candidates(path, prefix, "labels", "idx1")).ok_or_else(|| {
            Error::msg(format!(
                "found {} but no {prefix}-labels-idx1-ubyte[.gz] next to it",
                images.display()
            ))
        })?;
        (images, Some(labels))
    } else if path.is_file() {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let lab_name = name.replace("images", "labels").replace("idx3", "idx1");
        let lab = path.with_file_name(lab_name);
        let labels = (lab != path && lab.is_file()).then_some(lab);
        (path.to_path_buf(), labels)
    } else {
        return Err(Error::msg(format!(
            "MNIST path {} does not exist; give a directory with the IDX files or an images file",
            path.display()
        )));
    };

    let img = read_idx(&images)?;
    if img.dtype() != DType::U8 || img.shape().len() != 3 {
        return Err(Error::msg(format!(
            "{}: MNIST images must be a u8 IDX array of shape (N, H, W), got {} of shape {:?}",
            images.display(),
            img.dtype(),
            img.shape()
        )));
    }
    let (n, h, w) = (img.shape()[0], img.shape()[1], img.shape()[2]);
    let x = ArrayD::from_shape_vec(
        IxDyn(&[n, 1, h, w]),
        img.bytes().iter().map(|&v| v as f32).collect(),
    )
    .map_err(|e| Error::msg(e.to_string()))?;
    let name = match split {
        MnistSplit::Train => "mnist",
        MnistSplit::Test => "mnist-test",
    };
    let ds = Dataset::new(name, x)?.with_value_range(0.0, 255.0)?;
    let Some(labels) = labels else {
        return Ok(ds);
    };
    let lab = read_idx(&labels)?;
    if lab.dtype() != DType::U8 || lab.shape() != [n] {
        return Err(Error::msg(format!(
            "{}: MNIST labels must be a u8 IDX vector of length {n} (one per image in {}), got \
             {} of shape {:?}",
            labels.display(),
            images.display(),
            lab.dtype(),
            lab.shape()
        )));
    }
    let lv: Vec<i32> = lab.bytes().iter().map(|&l| l as i32).collect();
    let k = lv
        .iter()
        .copied()
        .max()
        .map_or(10, |m| (m as usize + 1).max(10));
    ds.with_labels(lv, k)
}
