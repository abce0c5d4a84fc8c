//! Data sets from array files: `.npy` (samples only), `.npz` and `.safetensors` (samples plus
//! optional context maps `q`, parameters `a` and labels, found by name).

use super::dataset::Dataset;
use super::mapped::MappedNpy;
use super::samples::Samples;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::host::HostArray;
use crate::io::NpzArchive;
use crate::io::bounded::read_up_to;
use ndarray::{ArrayD, IxDyn};
use safetensors::{Dtype as StDtype, SafeTensors};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::path::Path;
use std::sync::Arc;

/// The names of the arrays in an `.npz` or `.safetensors` file (the `[data.keys]` table).
///
/// `x` is required (default `"x"`). `q`, `a` and `labels` are optional: left unset, the
/// default names `"q"`, `"a"` and `"labels"` are used when the file has them; set, the
/// named array must be there.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArrayKeys {
    /// The samples, `(N, ...)`; default `"x"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// Context maps `(N, ...)`; default `"q"` if present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    /// Parameter vectors `(N, P)` (a vector `(N,)` is read as `(N, 1)`); default `"a"` if
    /// present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub a: Option<String>,
    /// Integer class labels `(N,)`; default `"labels"` if present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<String>,
}

/// A source of named arrays, read lazily.
trait ArraySource {
    fn names(&self) -> Vec<String>;
    fn get(&self, name: &str) -> Result<Option<HostArray>>;
}

struct SafetensorsSource<'a>(SafeTensors<'a>);

impl ArraySource for SafetensorsSource<'_> {
    fn names(&self) -> Vec<String> {
        let mut n: Vec<String> = self.0.names().into_iter().map(String::from).collect();
        n.sort();
        n
    }
    fn get(&self, name: &str) -> Result<Option<HostArray>> {
        let Ok(view) = self.0.tensor(name) else {
            return Ok(None);
        };
        let shape = view.shape().to_vec();
        let data = view.data();
        let direct = |dt: DType| HostArray::from_bytes(dt, shape.clone(), data.to_vec());
        let arr = match view.dtype() {
            StDtype::BOOL => direct(DType::Pred)?,
            StDtype::U8 => direct(DType::U8)?,
            StDtype::F16 => direct(DType::F16)?,
            StDtype::BF16 => direct(DType::BF16)?,
            StDtype::I32 => direct(DType::I32)?,
            StDtype::U32 => direct(DType::U32)?,
            StDtype::F32 => direct(DType::F32)?,
            StDtype::F64 => direct(DType::F64)?,
            StDtype::I64 => direct(DType::I64)?,
            StDtype::U64 => direct(DType::U64)?,
            StDtype::I8 => {
                HostArray::from_vec(shape, data.iter().map(|&b| b as i8 as i32).collect())?
            }
            StDtype::I16 => HostArray::from_vec(
                shape,
                data.chunks_exact(2)
                    .map(|c| i16::from_le_bytes([c[0], c[1]]) as i32)
                    .collect(),
            )?,
            StDtype::U16 => HostArray::from_vec(
                shape,
                data.chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]) as i32)
                    .collect(),
            )?,
            other => {
                return Err(Error::msg(format!(
                    "tensor `{name}` has element type {other:?}, which data loading does not \
                     read; store it as f32, f64, f16, bf16 or an integer type"
                )));
            }
        };
        Ok(Some(arr))
    }
}

/// An `.npz` archive: only the arrays asked for are decompressed.
struct NpzSource(RefCell<NpzArchive>);

impl ArraySource for NpzSource {
    fn names(&self) -> Vec<String> {
        let mut n = self.0.borrow().names();
        n.sort();
        n
    }
    fn get(&self, name: &str) -> Result<Option<HostArray>> {
        self.0.borrow_mut().read(name)
    }
}

/// An array as f32 values, whatever its numeric element type.
fn to_f32(a: &HostArray) -> Result<ArrayD<f32>> {
    let v: Vec<f32> = if a.dtype() == DType::F32 {
        a.to_vec::<f32>()?
    } else {
        a.to_f64_vec().into_iter().map(|v| v as f32).collect()
    };
    ArrayD::from_shape_vec(IxDyn(a.shape()), v).map_err(|e| Error::msg(e.to_string()))
}

/// Reads a data set from `path`, by its extension: `.npy` (the samples), `.npz` or
/// `.safetensors` (arrays named by `keys`). Every array needs one row per sample.
pub fn load_arrays(path: impl AsRef<Path>, keys: &ArrayKeys) -> Result<Dataset> {
    let path = path.as_ref();
    if !path.is_file() {
        return Err(Error::msg(format!(
            "data file {} does not exist (or is not a file)",
            path.display()
        )));
    }
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "data".into());
    let ctx = |e: Error| e.in_file(path);
    match ext.as_str() {
        "npy" => {
            if keys.q.is_some() || keys.a.is_some() || keys.labels.is_some() || keys.x.is_some() {
                return Err(Error::msg(format!(
                    "{}: a .npy file holds one array (the samples); array keys need an .npz or \
                     .safetensors file",
                    path.display()
                )));
            }
            let arr = crate::io::read_npy(path)?;
            Dataset::new(name, to_f32(&arr).map_err(ctx)?).map_err(ctx)
        }
        "npz" => {
            let src = NpzSource(RefCell::new(NpzArchive::open(path)?));
            from_source(&name, &src, keys).map_err(ctx)
        }
        "safetensors" => {
            let bytes = read_file(path)?;
            let st = SafeTensors::deserialize(&bytes)
                .map_err(|e| Error::format(path, format!("not a valid safetensors file ({e})")))?;
            from_source(&name, &SafetensorsSource(st), keys).map_err(ctx)
        }
        _ => Err(Error::msg(format!(
            "{}: unknown data file type `.{ext}`; use .npy, .npz or .safetensors (or an MNIST \
             IDX file with dataset = \"mnist\")",
            path.display()
        ))),
    }
}

/// The bytes of the file at `path`, allocated fallibly.
fn read_file(path: &Path) -> Result<Vec<u8>> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let len = usize::try_from(len)
        .map_err(|_| Error::format(path, format!("a file of {len} bytes is too large")))?;
    read_up_to(&mut file, len, "the file").map_err(|e| e.in_file(path))
}

fn from_source(name: &str, src: &dyn ArraySource, keys: &ArrayKeys) -> Result<Dataset> {
    let available = || src.names().join(", ");
    let fetch =
        |key: &Option<String>, default: &str, required: bool| -> Result<Option<HostArray>> {
            let k = key.as_deref().unwrap_or(default);
            match src.get(k)? {
                Some(a) => Ok(Some(a)),
                None if required || key.is_some() => Err(Error::msg(format!(
                    "no array named `{k}` (arrays in the file: {}); name the right one in \
                 [data.keys]",
                    available()
                ))),
                None => Ok(None),
            }
        };
    let x = fetch(&keys.x, "x", true)?.expect("required");
    let x = to_f32(&x)?;
    if x.ndim() < 2 {
        return Err(Error::msg(format!(
            "the samples must have shape (N, ...) with at least one feature dimension, got \
             {:?}; reshape a vector of N scalars to (N, 1)",
            x.shape()
        )));
    }
    let mut ds = Dataset::new(name, x)?;
    if let Some(q) = fetch(&keys.q, "q", false)? {
        ds = ds.with_q(to_f32(&q)?)?;
    }
    if let Some(a) = fetch(&keys.a, "a", false)? {
        let mut a = to_f32(&a)?;
        if a.ndim() == 1 {
            let n = a.len();
            a = a
                .into_shape_with_order(IxDyn(&[n, 1]))
                .map_err(|e| Error::msg(e.to_string()))?;
        }
        ds = ds.with_a(a)?;
    }
    if let Some(l) = fetch(&keys.labels, "labels", false)? {
        let vals = l.to_f64_vec();
        if l.shape().len() != 1 {
            return Err(Error::msg(format!(
                "labels must be a vector (N,), got shape {:?}",
                l.shape()
            )));
        }
        if let Some(bad) = vals
            .iter()
            .find(|v| v.fract() != 0.0 || **v < 0.0 || **v > i32::MAX as f64)
        {
            return Err(Error::msg(format!(
                "labels must be non-negative integers, found {bad}"
            )));
        }
        let lv: Vec<i32> = vals.iter().map(|&v| v as i32).collect();
        let k = lv.iter().copied().max().map_or(1, |m| m as usize + 1);
        ds = ds.with_labels(lv, k)?;
    }
    Ok(ds)
}

/// Fields from files, Quijote-style: the fields `x` from a `.npy` of shape `(N, H, W)` (one
/// channel) or `(N, C, H, W)`, the parameters `a` from a table with one row per field (`.npy`
/// `(N, P)` or `(N,)`, or `.csv` with an optional header row), and optionally a second field
/// set `q` (`.npy`, same layouts) to condition on.
pub fn load_fields(x: &Path, params: Option<&Path>, q: Option<&Path>) -> Result<Dataset> {
    fields_with(x, params, q, false)
}

/// [`load_fields`] with the field sets (`x` and `q`) memory-mapped instead of read: their
/// rows are read as training gathers them.
pub fn map_fields(x: &Path, params: Option<&Path>, q: Option<&Path>) -> Result<Dataset> {
    fields_with(x, params, q, true)
}

/// A `.npy` file of samples `(N, ...)` memory-mapped instead of read (see [`load_arrays`]).
pub fn map_npy(path: &Path) -> Result<Dataset> {
    let file = MappedNpy::open(path)?;
    if file.shape().len() < 2 {
        return Err(Error::format(
            path,
            format!(
                "the samples must have shape (N, ...) with at least one feature dimension, got \
                 {:?}; reshape a vector of N scalars to (N, 1)",
                file.shape()
            ),
        ));
    }
    let row = file.shape()[1..].to_vec();
    Ok(Dataset::from_samples(
        stem(path, "data"),
        Samples::mapped(Arc::new(file), row),
    ))
}

/// The f32 bytes of the `.npy` array at `path` (from its header).
pub fn npy_f32_bytes(path: &Path) -> Result<u64> {
    let file = MappedNpy::open(path)?;
    Ok(file.shape().iter().map(|&d| d as u64).product::<u64>() * 4)
}

fn stem(path: &Path, default: &str) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| default.into())
}

fn fields_with(x: &Path, params: Option<&Path>, q: Option<&Path>, mapped: bool) -> Result<Dataset> {
    let mut ds = Dataset::from_samples(stem(x, "fields"), field_samples(x, mapped)?);
    if let Some(q) = q {
        ds = ds
            .with_q_samples(field_samples(q, mapped)?)
            .map_err(|e| e.in_file(q))?;
    }
    if let Some(p) = params {
        let ext = p
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        let table = match ext.as_deref() {
            Some("csv") => read_csv_table(p)?,
            Some("npy") => to_f32(&crate::io::read_npy(p)?).map_err(|e| e.in_file(p))?,
            _ => {
                return Err(Error::msg(format!(
                    "{}: a parameter table is a .npy (N, P) or a .csv with one row per field",
                    p.display()
                )));
            }
        };
        let table = if table.ndim() == 1 {
            let n = table.len();
            table
                .into_shape_with_order(IxDyn(&[n, 1]))
                .map_err(|e| Error::msg(e.to_string()))?
        } else {
            table
        };
        ds = ds.with_a(table).map_err(|e| e.in_file(p))?;
    }
    Ok(ds)
}

/// A `.npy` field set as `(N, C, H, W)` (a `(N, H, W)` set gets one channel), read or mapped.
fn field_samples(path: &Path, mapped: bool) -> Result<Samples> {
    if path
        .extension()
        .is_none_or(|e| !e.eq_ignore_ascii_case("npy"))
    {
        return Err(Error::msg(format!(
            "{}: fields are read from a .npy file of shape (N, H, W) or (N, C, H, W)",
            path.display()
        )));
    }
    if !mapped {
        return field_array(path).map(Samples::Resident);
    }
    let file = MappedNpy::open(path)?;
    let row = match file.shape() {
        [_, h, w] => vec![1, *h, *w],
        [_, c, h, w] => vec![*c, *h, *w],
        s => {
            return Err(Error::format(
                path,
                format!("fields must have shape (N, H, W) or (N, C, H, W), got {s:?}"),
            ));
        }
    };
    Ok(Samples::mapped(Arc::new(file), row))
}

/// A `.npy` field set read into memory as `(N, C, H, W)`.
fn field_array(path: &Path) -> Result<ArrayD<f32>> {
    let a = to_f32(&crate::io::read_npy(path)?).map_err(|e| e.in_file(path))?;
    match a.ndim() {
        3 => {
            let s = a.shape().to_vec();
            a.into_shape_with_order(IxDyn(&[s[0], 1, s[1], s[2]]))
                .map_err(|e| Error::msg(e.to_string()))
        }
        4 => Ok(a),
        _ => Err(Error::format(
            path,
            format!(
                "fields must have shape (N, H, W) or (N, C, H, W), got {:?}",
                a.shape()
            ),
        )),
    }
}

/// A numeric CSV table (comma-separated, an optional non-numeric header row) as `(N, P)`.
fn read_csv_table(path: &Path) -> Result<ArrayD<f32>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| Error::format(path, format!("cannot read the CSV table ({e})")))?;
    let (mut values, mut rows, mut width) = (Vec::new(), 0usize, None);
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| Error::format(path, format!("CSV: {e}")))?;
        let parsed: std::result::Result<Vec<f32>, _> =
            record.iter().map(|f| f.parse::<f32>()).collect();
        let row = match parsed {
            Ok(r) => r,
            Err(_) if i == 0 => continue, // a header row
            Err(_) => {
                return Err(Error::format(
                    path,
                    format!(
                        "row {} has a value that is not a number: {:?}",
                        i + 1,
                        record
                    ),
                ));
            }
        };
        if *width.get_or_insert(row.len()) != row.len() {
            return Err(Error::format(
                path,
                format!(
                    "row {} has {} columns, the first row {}",
                    i + 1,
                    row.len(),
                    width.unwrap_or(0)
                ),
            ));
        }
        values.extend(row);
        rows += 1;
    }
    let width = width.ok_or_else(|| Error::format(path, "the CSV table has no rows"))?;
    ArrayD::from_shape_vec(IxDyn(&[rows, width]), values).map_err(|e| Error::msg(e.to_string()))
}
