//! CIFAR-10 from the archives users download: the python version (`cifar-10-python.tar.gz` or
//! its extracted `cifar-10-batches-py/`: pickled dicts, read as data, never executed) and the
//! binary version (`cifar-10-binary.tar.gz` or `cifar-10-batches-bin/`: 1 label byte + 3072
//! pixel bytes per record). The train split is every `data_batch_*`, the test split
//! `test_batch`.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use ndarray::{ArrayD, IxDyn};
use serde::{Deserialize, Serialize};
use serde_pickle::{DeOptions, HashableValue, Value};

use super::dataset::Dataset;
use crate::error::{Error, Result};
use crate::io::bounded::{check_declared, read_up_to};

/// Pixels per image (3 × 32 × 32).
const IMAGE_BYTES: usize = 3072;
/// The largest batch file read (the real ones are 30 MB).
const MAX_BATCH_BYTES: u64 = 1 << 30;

/// Which CIFAR-10 files to read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CifarSplit {
    /// `data_batch_1` … `data_batch_5` (50 000 images).
    #[default]
    Train,
    /// `test_batch` (10 000 images).
    Test,
}

impl CifarSplit {
    fn wants(self, file_name: &str) -> bool {
        let stem = file_name.strip_suffix(".bin").unwrap_or(file_name);
        match self {
            CifarSplit::Train => stem
                .strip_prefix("data_batch_")
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())),
            CifarSplit::Test => stem == "test_batch",
        }
    }
}

/// CIFAR-10 at `path` (either archive, or a directory holding `cifar-10-batches-py/`,
/// `cifar-10-batches-bin/` or the batch files themselves): `x` of shape `(N, 3, 32, 32)` with
/// raw values `0..255` (value range `(0, 255)`, as [`super::mnist`]) and labels `0..9`.
pub fn cifar10(path: impl AsRef<Path>, split: CifarSplit) -> Result<Dataset> {
    let path = path.as_ref();
    let batches = if path.is_dir() {
        read_dir_batches(path, split)?
    } else if path.is_file() {
        read_archive_batches(path, split)?
    } else {
        return Err(Error::msg(format!(
            "CIFAR-10 path {} does not exist; give cifar-10-python.tar.gz, cifar-10-binary.tar.gz \
             or the directory they extract to",
            path.display()
        )));
    };
    if batches.is_empty() {
        return Err(Error::msg(format!(
            "no CIFAR-10 {} batches in {} (looked for {}; in cifar-10-batches-py/ or \
             cifar-10-batches-bin/ too)",
            if split == CifarSplit::Train {
                "training"
            } else {
                "test"
            },
            path.display(),
            if split == CifarSplit::Train {
                "data_batch_1..5[.bin]"
            } else {
                "test_batch[.bin]"
            }
        )));
    }
    let (mut pixels, mut labels) = (Vec::new(), Vec::new());
    for (name, bytes) in &batches {
        let (p, l) = if name.ends_with(".bin") {
            parse_binary(bytes)
        } else {
            parse_pickle(bytes)
        }
        .map_err(|e| e.in_file(path.join(name)))?;
        pixels.extend(p.into_iter().map(f32::from));
        labels.extend(l);
    }
    let n = labels.len();
    let x = ArrayD::from_shape_vec(IxDyn(&[n, 3, 32, 32]), pixels)
        .map_err(|e| Error::msg(format!("CIFAR-10 images: {e}")))?;
    let name = match split {
        CifarSplit::Train => "cifar10",
        CifarSplit::Test => "cifar10-test",
    };
    Dataset::new(name, x)?
        .with_value_range(0.0, 255.0)?
        .with_labels(labels, 10)
}

/// The batch files of `split` in a directory (or its `cifar-10-batches-*` subdirectory),
/// sorted by name so that `data_batch_1` comes first.
fn read_dir_batches(dir: &Path, split: CifarSplit) -> Result<Vec<(String, Vec<u8>)>> {
    let mut dirs = vec![dir.to_path_buf()];
    dirs.extend(["cifar-10-batches-py", "cifar-10-batches-bin"].map(|d| dir.join(d)));
    for d in dirs.iter().filter(|d| d.is_dir()) {
        let mut names: Vec<(String, PathBuf)> = std::fs::read_dir(d)
            .map_err(|e| Error::io(d, e))?
            .filter_map(|e| e.ok())
            .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
            .filter(|(n, p)| split.wants(n) && p.is_file())
            .collect();
        if names.is_empty() {
            continue;
        }
        names.sort();
        return names
            .into_iter()
            .map(|(n, p)| {
                let mut f = File::open(&p).map_err(|e| Error::io(&p, e))?;
                let len = f.metadata().map_err(|e| Error::io(&p, e))?.len();
                check_declared(&n, len, MAX_BATCH_BYTES, "a CIFAR-10 batch can hold")?;
                Ok((
                    n,
                    read_up_to(&mut f, len as usize, &p.display().to_string())?,
                ))
            })
            .collect();
    }
    Ok(Vec::new())
}

/// The batch files of `split` inside a `.tar.gz` (or plain `.tar`) archive, sorted by name.
fn read_archive_batches(archive: &Path, split: CifarSplit) -> Result<Vec<(String, Vec<u8>)>> {
    let file = File::open(archive).map_err(|e| Error::io(archive, e))?;
    let mut magic = [0u8; 2];
    let gz = File::open(archive)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && magic == [0x1f, 0x8b];
    let reader: Box<dyn Read> = if gz {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let bad = |e: std::io::Error| {
        Error::format(
            archive,
            format!(
                "not a readable CIFAR-10 tar archive ({e}); give the .tar.gz as downloaded or its extracted directory"
            ),
        )
    };
    let mut tar = tar::Archive::new(reader);
    let mut out = Vec::new();
    for entry in tar.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let name = entry
            .path()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_default();
        if !entry.header().entry_type().is_file() || !split.wants(&name) {
            continue;
        }
        let size = entry.size();
        check_declared(&name, size, MAX_BATCH_BYTES, "a CIFAR-10 batch can hold")?;
        let bytes = read_up_to(&mut entry, size as usize, &name)?;
        if (bytes.len() as u64) < size {
            return Err(Error::format(archive, format!("{name} is truncated")));
        }
        out.push((name, bytes));
    }
    out.sort();
    Ok(out)
}

/// Records of the binary version: a label byte, then 3072 pixel bytes.
fn parse_binary(bytes: &[u8]) -> Result<(Vec<u8>, Vec<i32>)> {
    const RECORD: usize = 1 + IMAGE_BYTES;
    if bytes.is_empty() || !bytes.len().is_multiple_of(RECORD) {
        return Err(Error::msg(format!(
            "a CIFAR-10 binary batch is a whole number of {RECORD}-byte records, got {} bytes",
            bytes.len()
        )));
    }
    let (mut pixels, mut labels) = (Vec::with_capacity(bytes.len()), Vec::new());
    for rec in bytes.chunks_exact(RECORD) {
        labels.push(check_label(rec[0] as i64)?);
        pixels.extend_from_slice(&rec[1..]);
    }
    Ok((pixels, labels))
}

/// A pickled batch dict of the python version: `data` (a numpy uint8 array `(N, 3072)`, read
/// from its pickled state) and `labels`.
fn parse_pickle(bytes: &[u8]) -> Result<(Vec<u8>, Vec<i32>)> {
    let value = serde_pickle::value_from_slice(bytes, DeOptions::new())
        .map_err(|e| Error::msg(format!("not a CIFAR-10 python batch (pickle: {e})")))?;
    let Value::Dict(dict) = value else {
        return Err(Error::msg("a CIFAR-10 python batch is a pickled dict"));
    };
    let get = |key: &str| {
        dict.iter().find_map(|(k, v)| match k {
            HashableValue::Bytes(b) if b == key.as_bytes() => Some(v),
            HashableValue::String(s) if s == key => Some(v),
            _ => None,
        })
    };
    let missing = |key: &str| Error::msg(format!("the CIFAR-10 batch dict has no '{key}' entry"));
    let labels: Vec<i32> = match get("labels").ok_or_else(|| missing("labels"))? {
        Value::List(l) | Value::Tuple(l) => l
            .iter()
            .map(|v| match v {
                Value::I64(i) => check_label(*i),
                other => Err(Error::msg(format!(
                    "a CIFAR-10 label is an int, got {other:?}"
                ))),
            })
            .collect::<Result<_>>()?,
        other => {
            return Err(Error::msg(format!(
                "'labels' is a list, got {}",
                kind(other)
            )));
        }
    };
    let pixels = numpy_u8_state(get("data").ok_or_else(|| missing("data"))?, labels.len())?;
    Ok((pixels, labels))
}

/// The raw bytes of a pickled numpy array `(n, 3072)` of uint8: its `__setstate__` tuple
/// `(version, shape, dtype, fortran, data)`.
fn numpy_u8_state(v: &Value, n: usize) -> Result<Vec<u8>> {
    let bad = |m: String| {
        Error::msg(format!(
            "'data' must be a numpy uint8 array ({n}, {IMAGE_BYTES}): {m}"
        ))
    };
    let Value::Tuple(state) = v else {
        return Err(bad(format!("got {}", kind(v))));
    };
    let [_, shape, _, fortran, raw] = state.as_slice() else {
        return Err(bad(format!(
            "its pickled state has {} fields, not 5",
            state.len()
        )));
    };
    let dims: Vec<i64> = match shape {
        Value::Tuple(d) | Value::List(d) => d
            .iter()
            .map(|x| {
                if let Value::I64(i) = x {
                    Ok(*i)
                } else {
                    Err(bad("a non-integer dimension".into()))
                }
            })
            .collect::<Result<_>>()?,
        _ => return Err(bad("no shape".into())),
    };
    if dims != [n as i64, IMAGE_BYTES as i64] {
        return Err(bad(format!("shape {dims:?}")));
    }
    if matches!(fortran, Value::Bool(true)) {
        return Err(bad("Fortran order".into()));
    }
    let bytes = match raw {
        Value::Bytes(b) => b.clone(),
        // A py2 `str` decoded as latin-1: each char is one byte.
        Value::String(s) => s.chars().map(|c| c as u32).map(|c| c as u8).collect(),
        other => return Err(bad(format!("data of type {}", kind(other)))),
    };
    // One byte per pixel: any wider dtype would hold 2, 4 or 8 times as many bytes.
    if bytes.len() != n * IMAGE_BYTES {
        return Err(bad(format!(
            "{} bytes of data, not one per pixel",
            bytes.len()
        )));
    }
    Ok(bytes)
}

fn check_label(l: i64) -> Result<i32> {
    if (0..10).contains(&l) {
        Ok(l as i32)
    } else {
        Err(Error::msg(format!("a CIFAR-10 label is 0..9, got {l}")))
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::None => "None",
        Value::Bool(_) => "bool",
        Value::I64(_) | Value::Int(_) => "int",
        Value::F64(_) => "float",
        Value::Bytes(_) => "bytes",
        Value::String(_) => "str",
        Value::List(_) => "list",
        Value::Tuple(_) => "tuple",
        Value::Set(_) | Value::FrozenSet(_) => "set",
        Value::Dict(_) => "dict",
    }
}
