//! Equinox `tree_serialise_leaves` files: a bare concatenation of `.npy` records, one per
//! serialised leaf, in `jax.tree_util.tree_flatten_with_path` order, read against a skeleton.
//!
//! What equinox 0.13.8 writes for each kind of leaf (checked with the reference env):
//! - a JAX array: `jnp.save` of the array, its own dtype and shape (bfloat16 as `<V2`);
//! - a Python `float` / `int` / `bool` field (`t1`, `q_dim`, `Dropout.p`, `Dropout.inference`):
//!   a 0-d record of `<f8` / `<i8` / `|b1` (NumPy's defaults, whatever JAX's x64 setting);
//! - static fields, functions and `None`: nothing.
//!
//! The file holds no names: the skeleton ([`LeafSpec`] list, from the model configuration) says
//! what each record must be. Reading checks the record count, each dtype and shape, and names the
//! first leaf that does not match.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::host::HostArray;
use crate::io::atomic::atomic_write;
use crate::io::npy::{dtype_from_numpy_name, numpy_name, read_npy_record_within, write_npy_record};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

/// How a leaf is stored in the model: a JAX array, or a Python scalar field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LeafKind {
    /// A JAX array: the record must have exactly the leaf's dtype and shape.
    Array,
    /// A Python `float`, `int` or `bool` field, stored as a 0-d record (`<f8`, `<i8`, `|b1`).
    /// Reading accepts any 0-d record of the same kind (float, integer or bool), like
    /// `tree_deserialise_leaves`, and keeps the record's own dtype (so round trips are exact).
    PyScalar,
}

/// One serialised leaf of a model: its Equinox path, dtype, shape and kind.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LeafSpec {
    /// The leaf's path as `jax.tree_util.keystr` prints it, e.g. `.layers[0].weight`.
    pub path: String,
    /// The element type.
    pub dtype: DType,
    /// The dimensions (empty for scalars).
    pub shape: Vec<usize>,
    /// Array or Python scalar.
    pub kind: LeafKind,
}

impl LeafSpec {
    /// A JAX array leaf.
    pub fn array(path: impl Into<String>, dtype: DType, shape: Vec<usize>) -> Self {
        LeafSpec {
            path: path.into(),
            dtype,
            shape,
            kind: LeafKind::Array,
        }
    }

    /// A Python `float` field (written as a 0-d `<f8` record).
    pub fn py_float(path: impl Into<String>) -> Self {
        Self::py_scalar(path, DType::F64)
    }

    /// A Python `int` field (written as a 0-d `<i8` record).
    pub fn py_int(path: impl Into<String>) -> Self {
        Self::py_scalar(path, DType::I64)
    }

    /// A Python `bool` field (written as a 0-d `|b1` record).
    pub fn py_bool(path: impl Into<String>) -> Self {
        Self::py_scalar(path, DType::Pred)
    }

    fn py_scalar(path: impl Into<String>, dtype: DType) -> Self {
        LeafSpec {
            path: path.into(),
            dtype,
            shape: vec![],
            kind: LeafKind::PyScalar,
        }
    }

    /// The number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether `a` is a valid value for this leaf (see [`LeafKind`] for scalars).
    pub fn accepts(&self, a: &HostArray) -> bool {
        match self.kind {
            LeafKind::Array => a.dtype() == self.dtype && a.shape() == self.shape,
            LeafKind::PyScalar => a.shape().is_empty() && same_kind(self.dtype, a.dtype()),
        }
    }

    /// Whether a record whose header says `dtype` and `shape` can hold this leaf: an array of
    /// the same dtype and shape, or any 0-d record for a Python scalar (headers only).
    pub fn fits_header(&self, dtype: DType, shape: &[usize]) -> bool {
        match self.kind {
            LeafKind::Array => dtype == self.dtype && shape == self.shape,
            LeafKind::PyScalar => shape.is_empty(),
        }
    }

    /// `float32 [3, 4]`, or `Python float (float64 [])`.
    pub fn describe(&self) -> String {
        let t = format!("{} {:?}", numpy_name(self.dtype), self.shape);
        match self.kind {
            LeafKind::Array => t,
            LeafKind::PyScalar => {
                let py = match self.dtype {
                    DType::Pred => "bool",
                    d if d.is_float() => "float",
                    _ => "int",
                };
                format!("Python {py} ({t})")
            }
        }
    }
}

fn same_kind(a: DType, b: DType) -> bool {
    (a.is_float() && b.is_float())
        || (a.is_integer() && b.is_integer())
        || (a == DType::Pred && b == DType::Pred)
}

fn describe_array(a: &HostArray) -> String {
    format!("{} {:?}", numpy_name(a.dtype()), a.shape())
}

/// Reads a skeleton from JSON: a list of `{"path", "dtype" (NumPy name), "shape", "kind"
/// ("array" or "scalar")}` objects, or an object holding such a list under `"leaves"` (the
/// model fixtures' `config.json`). Entries with `"written": false` (static fields, functions)
/// are skipped; other fields are ignored.
pub fn skeleton_from_json(text: &str) -> Result<Vec<LeafSpec>> {
    #[derive(serde::Deserialize)]
    struct Entry {
        path: String,
        #[serde(default)]
        dtype: Option<String>,
        #[serde(default)]
        shape: Option<Vec<usize>>,
        #[serde(default)]
        kind: Option<String>,
        #[serde(default)]
        written: Option<bool>,
    }
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Doc {
        List(Vec<Entry>),
        Table { leaves: Vec<Entry> },
    }
    let doc: Doc = serde_json::from_str(text).map_err(|e| {
        Error::msg(format!(
            "bad skeleton JSON (expected a list of leaves or an object with \"leaves\"): {e}"
        ))
    })?;
    let entries = match doc {
        Doc::List(v) | Doc::Table { leaves: v } => v,
    };
    entries
        .into_iter()
        .filter(|e| e.written != Some(false))
        .map(|e| {
            let what =
                |field: &str| Error::msg(format!("skeleton leaf '{}': no \"{field}\"", e.path));
            let dtype_name = e.dtype.as_deref().ok_or_else(|| what("dtype"))?;
            let dtype = dtype_from_numpy_name(dtype_name)
                .map_err(|err| Error::msg(format!("skeleton leaf '{}': {err}", e.path)))?;
            let shape = e.shape.clone().ok_or_else(|| what("shape"))?;
            let kind = match e.kind.as_deref() {
                None | Some("array") => LeafKind::Array,
                Some("scalar") => LeafKind::PyScalar,
                Some(k) => {
                    return Err(Error::msg(format!(
                        "skeleton leaf '{}': unknown kind '{k}' (use \"array\" or \"scalar\")",
                        e.path
                    )));
                }
            };
            Ok(LeafSpec {
                path: e.path,
                dtype,
                shape,
                kind,
            })
        })
        .collect()
}

/// Writes a skeleton as JSON, in the format [`skeleton_from_json`] reads.
pub fn skeleton_to_json(skeleton: &[LeafSpec]) -> String {
    let v: Vec<serde_json::Value> = skeleton
        .iter()
        .map(|s| {
            serde_json::json!({
                "path": s.path,
                "dtype": numpy_name(s.dtype),
                "shape": s.shape,
                "kind": match s.kind { LeafKind::Array => "array", LeafKind::PyScalar => "scalar" },
            })
        })
        .collect();
    serde_json::to_string_pretty(&v).unwrap_or_default()
}

/// A reader that counts the bytes read through it.
struct Counting<R> {
    inner: R,
    pos: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pos += n as u64;
        Ok(n)
    }
}

fn open(path: &Path) -> Result<(Counting<BufReader<File>>, u64)> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let r = Counting {
        inner: BufReader::with_capacity(1 << 16, file),
        pos: 0,
    };
    Ok((r, len))
}

/// Reads an Equinox `.eqx` file against `skeleton`, returning each leaf's path and value in
/// order.
///
/// Errors (naming the file): a record whose dtype or shape does not match its leaf (naming the
/// leaf's path, the expected and the found type), a file that ends before the last leaf
/// (naming the first missing leaf), data left after the last leaf, a corrupt record.
pub fn read_eqx(path: &Path, skeleton: &[LeafSpec]) -> Result<Vec<(String, HostArray)>> {
    let (mut r, len) = open(path)?;
    let mut out = Vec::with_capacity(skeleton.len());
    for (i, spec) in skeleton.iter().enumerate() {
        if r.pos == len {
            return Err(Error::format(
                path,
                format!(
                    "the file ends after {i} records, but the model has {} leaves; the first \
                     missing leaf is '{}' ({}). Is the file truncated, or a checkpoint of a \
                     smaller model configuration?",
                    skeleton.len(),
                    spec.path,
                    spec.describe()
                ),
            ));
        }
        let left = len.saturating_sub(r.pos);
        let a = read_npy_record_within(&mut r, left).map_err(|e| {
            Error::format(
                path,
                format!(
                    "record {i} (leaf '{}', at byte offset {}): {e}",
                    spec.path, r.pos
                ),
            )
        })?;
        if !spec.accepts(&a) {
            return Err(Error::format(
                path,
                format!(
                    "leaf {i} '{}' does not match the model: expected {}, found {} in the file. \
                     The checkpoint is for another model architecture or configuration.",
                    spec.path,
                    spec.describe(),
                    describe_array(&a)
                ),
            ));
        }
        out.push((spec.path.clone(), a));
    }
    if r.pos != len {
        let left = len.saturating_sub(r.pos);
        let extra = count_records(&mut r, len);
        return Err(Error::format(
            path,
            format!(
                "{left} bytes remain after the model's {} leaves ({extra}); the checkpoint is \
                 for a larger model architecture or configuration",
                skeleton.len()
            ),
        ));
    }
    Ok(out)
}

/// Describes what is left in `r` up to `len`: how many further `.npy` records.
fn count_records(r: &mut Counting<BufReader<File>>, len: u64) -> String {
    let mut n = 0usize;
    while r.pos < len {
        let left = len.saturating_sub(r.pos);
        if read_npy_record_within(r, left).is_err() {
            return if n == 0 {
                "not a .npy record".into()
            } else {
                format!("{n} more .npy records, then data that is not a record")
            };
        }
        n += 1;
    }
    format!("{n} more .npy records")
}

/// Reads every record of an `.eqx` file without a skeleton (for inspection): values only, no
/// names. A record cut short is an error naming its index.
pub fn read_eqx_records(path: &Path) -> Result<Vec<HostArray>> {
    let (mut r, len) = open(path)?;
    let mut out = Vec::new();
    while r.pos < len {
        let left = len.saturating_sub(r.pos);
        let a = read_npy_record_within(&mut r, left).map_err(|e| {
            Error::format(
                path,
                format!("record {} (at byte offset {}): {e}", out.len(), r.pos),
            )
        })?;
        out.push(a);
    }
    Ok(out)
}

/// Checks that `leaves` match `skeleton` one for one: same count, paths, dtypes and shapes.
pub fn check_leaves(skeleton: &[LeafSpec], leaves: &[(String, HostArray)]) -> Result<()> {
    for (i, (spec, (name, a))) in skeleton.iter().zip(leaves).enumerate() {
        if &spec.path != name {
            return Err(Error::msg(format!(
                "leaf {i}: expected the leaf '{}', got '{name}'",
                spec.path
            )));
        }
        if !spec.accepts(a) {
            return Err(Error::msg(format!(
                "leaf {i} '{name}': expected {}, got {}",
                spec.describe(),
                describe_array(a)
            )));
        }
    }
    if skeleton.len() != leaves.len() {
        let which = if leaves.len() < skeleton.len() {
            format!("first missing: '{}'", skeleton[leaves.len()].path)
        } else {
            format!("first extra: '{}'", leaves[skeleton.len()].0)
        };
        return Err(Error::msg(format!(
            "the model has {} leaves, got {} ({which})",
            skeleton.len(),
            leaves.len()
        )));
    }
    Ok(())
}

/// Writes leaves, in order, as an Equinox `.eqx` file (atomically), with the bytes
/// `eqx.tree_serialise_leaves` writes for a model holding these values. Names are not stored;
/// Python scalar leaves must already be 0-d `f64` / `i64` / `bool` arrays.
pub fn write_eqx<S: AsRef<str>>(path: &Path, leaves: &[(S, HostArray)]) -> Result<()> {
    atomic_write(path, |w| {
        for (name, a) in leaves {
            write_npy_record(w, a)
                .map_err(|e| Error::format(path, format!("leaf '{}': {e}", name.as_ref())))?;
        }
        Ok(())
    })
}

/// [`check_leaves`], then [`write_eqx`]: the file loads with `tree_deserialise_leaves` into a
/// model of this skeleton.
pub fn write_eqx_checked(
    path: &Path,
    skeleton: &[LeafSpec],
    leaves: &[(String, HostArray)],
) -> Result<()> {
    check_leaves(skeleton, leaves).map_err(|e| e.in_file(path))?;
    write_eqx(path, leaves)
}
