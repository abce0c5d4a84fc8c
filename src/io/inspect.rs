//! Listing what a file holds (names, shapes, dtypes, parameter count) without loading its data:
//! safetensors checkpoints, Equinox `.eqx` files (named by a skeleton when given), `.npy`, `.npz`.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::io::bounded::read_up_to;
use crate::io::checkpoint::parse_safetensors_header;
use crate::io::eqx::LeafSpec;
use crate::io::npy::{NpyHeader, numpy_name, read_header_counted};
use crate::io::npz::NpzArchive;
use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::{Path, PathBuf};

/// The kind of file inspected (serialized in lowercase: `safetensors`, `eqx`, `npy`, `npz`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    /// A safetensors checkpoint.
    Safetensors,
    /// An Equinox `tree_serialise_leaves` file.
    Eqx,
    /// One `.npy` array.
    Npy,
    /// A `.npz` archive.
    Npz,
}

/// One tensor of an inspected file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorEntry {
    /// Its name (leaf path, tensor key, archive member; `record[i]` in an `.eqx` without skeleton).
    pub name: String,
    /// The element type.
    pub dtype: DType,
    /// The dimensions.
    pub shape: Vec<usize>,
}

impl TensorEntry {
    /// The number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().fold(1usize, |a, &d| a.saturating_mul(d))
    }

    /// The size of its data in bytes.
    pub fn data_bytes(&self) -> usize {
        self.numel().saturating_mul(self.dtype.size_in_bytes())
    }
}

/// What a file holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The file.
    pub path: PathBuf,
    /// Its format.
    pub format: FileFormat,
    /// Its tensors, in file order.
    pub tensors: Vec<TensorEntry>,
    /// String metadata (safetensors only).
    pub metadata: BTreeMap<String, String>,
}

impl Report {
    /// The total number of elements: the parameter count of a model file.
    pub fn numel(&self) -> usize {
        self.tensors
            .iter()
            .fold(0usize, |a, t| a.saturating_add(t.numel()))
    }

    /// The total size of the tensor data in bytes.
    pub fn data_bytes(&self) -> usize {
        self.tensors
            .iter()
            .fold(0usize, |a, t| a.saturating_add(t.data_bytes()))
    }

    /// The number of elements in arrays of rank >= 1 (0-d records of an `.eqx` file are
    /// Python scalar fields such as `t1`, not parameters).
    pub fn array_elements(&self) -> usize {
        self.tensors
            .iter()
            .filter(|t| !t.shape.is_empty())
            .map(|t| t.numel())
            .sum()
    }

    /// Tensor count and element count per group (`params`, `ema`, `opt`) of a safetensors
    /// file.
    pub fn groups(&self) -> BTreeMap<String, (usize, usize)> {
        let mut out = BTreeMap::new();
        if self.format != FileFormat::Safetensors {
            return out;
        }
        for t in &self.tensors {
            if let Some((g, _)) = t.name.split_once(['.', '['])
                && ["params", "ema", "opt"].contains(&g)
            {
                let e = out.entry(g.to_string()).or_insert((0, 0));
                e.0 += 1;
                e.1 += t.numel();
            }
        }
        out
    }

    /// The table `sbgm-xla inspect` prints: the tensors, a summary telling scalars from
    /// parameters in arrays, and the metadata (long values cut at 400 bytes, each line of a
    /// value indented).
    pub fn listing(&self) -> String {
        let scalars = self.tensors.iter().filter(|t| t.shape.is_empty()).count();
        let summary = format!(
            "{} tensors ({scalars} scalars), {} parameters in arrays, {} bytes of data",
            self.tensors.len(),
            self.array_elements(),
            self.data_bytes()
        );
        let mut out = String::new();
        self.write_table(&mut out, &summary, 400, |v| {
            v.trim_end().replace('\n', "\n    ")
        })
        .ok();
        out
    }

    /// The report as one JSON object (file, format, tensors, counts, metadata).
    pub fn to_json(&self) -> serde_json::Value {
        let tensors: Vec<serde_json::Value> = self
            .tensors
            .iter()
            .map(|t| {
                serde_json::json!({"name": t.name, "dtype": numpy_name(t.dtype), "shape": t.shape})
            })
            .collect();
        serde_json::json!({
            "file": self.path.display().to_string(),
            "format": self.format,
            "tensors": tensors,
            "n_tensors": self.tensors.len(),
            "n_elements": self.numel(),
            "n_array_elements": self.array_elements(),
            "data_bytes": self.data_bytes(),
            "metadata": self.metadata,
        })
    }

    /// Writes the tensor table, the `summary` line and the metadata, each value cut at
    /// `limit` bytes and shown through `show`.
    fn write_table(
        &self,
        f: &mut impl fmt::Write,
        summary: &str,
        limit: usize,
        show: impl Fn(&str) -> String,
    ) -> fmt::Result {
        writeln!(f, "{} ({:?})", self.path.display(), self.format)?;
        let w = self
            .tensors
            .iter()
            .map(|t| t.name.len())
            .max()
            .unwrap_or(4)
            .max(4);
        writeln!(f, "{:w$}  {:8}  shape", "name", "dtype")?;
        for t in &self.tensors {
            writeln!(f, "{:w$}  {:8}  {:?}", t.name, numpy_name(t.dtype), t.shape)?;
        }
        writeln!(f, "{summary}")?;
        for (k, v) in &self.metadata {
            let v = if v.len() > limit {
                format!(
                    "{}... ({} bytes)",
                    &v[..v.floor_char_boundary(limit)],
                    v.len()
                )
            } else {
                v.clone()
            };
            writeln!(f, "metadata {k}: {}", show(&v))?;
        }
        Ok(())
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let summary = format!(
            "{} tensors, {} parameters, {} bytes of data",
            self.tensors.len(),
            self.numel(),
            self.data_bytes()
        );
        self.write_table(f, &summary, 200, str::to_string)
    }
}

/// Lists what the file at `path` holds, reading headers only. The format is recognised by its
/// content (`.npy` records in a file named `*.eqx`, or given a skeleton, are an `.eqx` file).
/// With a `skeleton`, `.eqx` records are named by its leaf paths and checked against it.
pub fn inspect(path: &Path, skeleton: Option<&[LeafSpec]>) -> Result<Report> {
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut magic = [0u8; 8];
    let n = read_prefix(&mut file, &mut magic).map_err(|e| Error::io(path, e))?;
    file.rewind().map_err(|e| Error::io(path, e))?;
    let is_eqx_name = path.extension().is_some_and(|e| e == "eqx");
    let (format, tensors, metadata) = if n >= 6 && &magic[..6] == b"\x93NUMPY" {
        if is_eqx_name || skeleton.is_some() {
            (
                FileFormat::Eqx,
                eqx_entries(file, len, skeleton)?,
                BTreeMap::new(),
            )
        } else {
            let h = npy_entry(file, len).map_err(|e| e.in_file(path))?;
            let name = path
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            (FileFormat::Npy, vec![entry(name, &h)], BTreeMap::new())
        }
    } else if n >= 4 && &magic[..2] == b"PK" {
        (FileFormat::Npz, npz_entries(path)?, BTreeMap::new())
    } else if n == 8 {
        let (t, m) = safetensors_entries(file, u64::from_le_bytes(magic), len)
            .map_err(|e| e.in_file(path))?;
        (FileFormat::Safetensors, t, m)
    } else {
        return Err(Error::format(
            path,
            "unrecognised file: not a safetensors checkpoint, .eqx, .npy or .npz file",
        ));
    };
    Ok(Report {
        path: path.to_path_buf(),
        format,
        tensors,
        metadata,
    })
}

fn read_prefix(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

fn entry(name: String, h: &NpyHeader) -> TensorEntry {
    TensorEntry {
        name,
        dtype: h.dtype,
        shape: h.shape.clone(),
    }
}

/// The header of a `.npy` file of `len` bytes, checked to declare exactly the data it holds.
fn npy_entry(file: File, len: u64) -> Result<NpyHeader> {
    let (h, header_bytes) = read_header_counted(&mut BufReader::new(file))?;
    let data = h.data_len()? as u64;
    let held = len.saturating_sub(header_bytes);
    if data != held {
        let what = if data > held {
            "truncated"
        } else {
            "unexpected bytes after the array data"
        };
        return Err(Error::msg(format!(
            "broken .npy file ({what}): the header declares {} {:?} ({data} bytes of data) but \
             the file holds {held} bytes after its header",
            h.descr, h.shape
        )));
    }
    Ok(h)
}

fn eqx_entries(file: File, len: u64, skeleton: Option<&[LeafSpec]>) -> Result<Vec<TensorEntry>> {
    let mut r = BufReader::new(file);
    let mut out = Vec::new();
    let mut pos = 0u64;
    let path_of = |i: usize| match skeleton {
        Some(s) => s.get(i).map(|l| l.path.clone()),
        None => Some(format!("record[{i}]")),
    };
    while pos < len {
        let i = out.len();
        let at = |e: Error| Error::msg(format!("record {i} (at byte offset {pos}): {e}"));
        let (h, header_bytes) = read_header_counted(&mut r).map_err(at)?;
        let data = h.data_len().map_err(at)? as u64;
        let here = pos.saturating_add(header_bytes);
        let left = len.saturating_sub(here);
        if data > left {
            return Err(at(Error::msg(format!(
                "truncated data: the header declares {} {:?} ({data} bytes), {left} bytes left \
                 in the file",
                h.descr, h.shape
            ))));
        }
        // `data <= left` fits an i64: the file is shorter than that.
        r.seek_relative(data as i64)
            .map_err(|e| at(Error::msg(e.to_string())))?;
        pos = here + data;
        let name = path_of(i).ok_or_else(|| {
            Error::msg(format!(
                "the file has more records than the skeleton's {} leaves",
                out.len()
            ))
        })?;
        if let Some(spec) = skeleton.map(|s| &s[i])
            && !spec.fits_header(h.dtype, &h.shape)
        {
            return Err(Error::msg(format!(
                "leaf {i} '{}': expected {}, found {} {:?}",
                spec.path,
                spec.describe(),
                numpy_name(h.dtype),
                h.shape
            )));
        }
        out.push(entry(name, &h));
    }
    if let Some(s) = skeleton
        && s.len() != out.len()
    {
        return Err(Error::msg(format!(
            "the file has {} records but the skeleton has {} leaves",
            out.len(),
            s.len()
        )));
    }
    Ok(out)
}

fn npz_entries(path: &Path) -> Result<Vec<TensorEntry>> {
    let headers = NpzArchive::open(path)?.headers()?;
    Ok(headers
        .into_iter()
        .map(|(name, h)| entry(name, &h))
        .collect())
}

type StEntries = (Vec<TensorEntry>, BTreeMap<String, String>);

fn safetensors_entries(mut file: File, n: u64, len: u64) -> Result<StEntries> {
    if n > 100_000_000 || n > len.saturating_sub(8) {
        return Err(Error::msg(
            "unrecognised file: not a safetensors checkpoint (bad header length), .eqx, .npy \
             or .npz file",
        ));
    }
    file.seek(std::io::SeekFrom::Start(8))
        .map_err(|e| Error::msg(format!("cannot read the safetensors header: {e}")))?;
    let header = read_up_to(&mut file, n as usize, "the safetensors header")?;
    if header.len() as u64 != n {
        return Err(Error::msg("truncated safetensors header"));
    }
    let (entries, metadata) = parse_safetensors_header(&header, len - 8 - n)?;
    let tensors = entries
        .into_iter()
        .map(|e| TensorEntry {
            name: e.name,
            dtype: e.dtype,
            shape: e.shape,
        })
        .collect();
    Ok((tensors, metadata))
}
