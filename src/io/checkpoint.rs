//! sbgm-xla checkpoints: safetensors files of named tensors plus string metadata, and
//! conversion to and from Equinox `.eqx` files.
//!
//! Tensor names are Equinox leaf paths without the leading dot (`blocks[0].lin.weight` for the
//! leaf `.blocks[0].lin.weight`), optionally under a group prefix: training state uses
//! `params.`, `ema.` and `opt.` ([`tensor_name`]). Metadata holds strings: the configuration
//! (JSON or TOML text), the step, the RNG state, ...

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::host::HostArray;
use crate::io::atomic::atomic_write_bytes;
use crate::io::bounded::read_up_to;
use crate::io::eqx::{LeafSpec, read_eqx, write_eqx};
use crate::io::npy::numpy_name;
use safetensors::tensor::{Dtype as StDtype, View};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// The tensor name of the leaf `leaf_path` in group `prefix` (empty for none):
/// `tensor_name("params", ".blocks[0].weight") == "params.blocks[0].weight"`,
/// `tensor_name("", ".blocks[0].weight") == "blocks[0].weight"`.
pub fn tensor_name(prefix: &str, leaf_path: &str) -> String {
    let p = leaf_path.strip_prefix('.').unwrap_or(leaf_path);
    match (prefix.is_empty(), p.starts_with('[')) {
        (true, _) => p.to_string(),
        (false, true) => format!("{prefix}{p}"),
        (false, false) => format!("{prefix}.{p}"),
    }
}

/// Named tensors and string metadata: the contents of a checkpoint file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Checkpoint {
    /// Tensors in order (insertion order; file data order after [`load_checkpoint`]).
    pub tensors: Vec<(String, HostArray)>,
    /// String metadata (safetensors `__metadata__`).
    pub metadata: BTreeMap<String, String>,
}

impl Checkpoint {
    /// An empty checkpoint.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a tensor; a name already present is an error.
    pub fn insert(&mut self, name: impl Into<String>, a: HostArray) -> Result<()> {
        let name = name.into();
        if self.tensors.iter().any(|(n, _)| *n == name) {
            return Err(Error::msg(format!(
                "checkpoint: the tensor name '{name}' is used twice"
            )));
        }
        self.tensors.push((name, a));
        Ok(())
    }

    /// Adds model leaves (`(leaf path, value)`, e.g. from [`read_eqx`]) under group `prefix`.
    pub fn insert_leaves(&mut self, prefix: &str, leaves: &[(String, HostArray)]) -> Result<()> {
        for (path, a) in leaves {
            self.insert(tensor_name(prefix, path), a.clone())?;
        }
        Ok(())
    }

    /// The tensor `name`; a missing one is an error naming it (and similar names present).
    pub fn get(&self, name: &str) -> Result<&HostArray> {
        self.tensors
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, a)| a)
            .ok_or_else(|| self.missing(name))
    }

    fn missing(&self, name: &str) -> Error {
        let group = name.split(['.', '[']).next().unwrap_or("");
        let near: Vec<&str> = self
            .tensors
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| n.starts_with(group))
            .take(5)
            .collect();
        let hint = if near.is_empty() {
            format!("it has {} tensors", self.tensors.len())
        } else {
            format!("it has e.g. {}", near.join(", "))
        };
        Error::msg(format!(
            "the checkpoint has no tensor '{name}' ({hint}); is it for another model \
             configuration?"
        ))
    }

    /// The leaves of group `prefix` in skeleton order, each checked against its [`LeafSpec`];
    /// a missing tensor names its key, a mismatch names the leaf with expected and found types.
    pub fn leaves(&self, prefix: &str, skeleton: &[LeafSpec]) -> Result<Vec<(String, HostArray)>> {
        skeleton
            .iter()
            .map(|spec| {
                let key = tensor_name(prefix, &spec.path);
                let a = self.get(&key)?;
                if !spec.accepts(a) {
                    return Err(Error::msg(format!(
                        "tensor '{key}' does not match the model: expected {}, found {} {:?}",
                        spec.describe(),
                        numpy_name(a.dtype()),
                        a.shape()
                    )));
                }
                Ok((spec.path.clone(), a.clone()))
            })
            .collect()
    }

    /// The metadata value `key`, if present.
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).map(String::as_str)
    }

    /// Sets the metadata value `key`.
    pub fn set_meta(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.metadata.insert(key.into(), value.into());
    }

    /// The total number of elements of all tensors (the parameter count for a model).
    pub fn numel(&self) -> usize {
        self.tensors.iter().map(|(_, a)| a.len()).sum()
    }
}

/// The safetensors element type of `dtype`.
pub fn safetensors_dtype(dtype: DType) -> StDtype {
    match dtype {
        DType::Pred => StDtype::BOOL,
        DType::U8 => StDtype::U8,
        DType::I32 => StDtype::I32,
        DType::I64 => StDtype::I64,
        DType::U32 => StDtype::U32,
        DType::U64 => StDtype::U64,
        DType::F16 => StDtype::F16,
        DType::BF16 => StDtype::BF16,
        DType::F32 => StDtype::F32,
        DType::F64 => StDtype::F64,
    }
}

fn dtype_from_safetensors(d: StDtype) -> Option<DType> {
    DType::ALL.into_iter().find(|x| safetensors_dtype(*x) == d)
}

struct TensorRef<'a>(&'a HostArray);

impl View for TensorRef<'_> {
    fn dtype(&self) -> StDtype {
        safetensors_dtype(self.0.dtype())
    }
    fn shape(&self) -> &[usize] {
        self.0.shape()
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self.0.bytes())
    }
    fn data_len(&self) -> usize {
        self.0.bytes().len()
    }
}

/// Encodes a checkpoint as safetensors bytes.
pub fn checkpoint_to_bytes(ck: &Checkpoint) -> Result<Vec<u8>> {
    let meta: HashMap<String, String> = ck.metadata.clone().into_iter().collect();
    let meta = (!meta.is_empty()).then_some(meta);
    let mut seen = std::collections::HashSet::new();
    for (n, _) in &ck.tensors {
        if !seen.insert(n.as_str()) {
            return Err(Error::msg(format!("the tensor name '{n}' is used twice")));
        }
    }
    safetensors::serialize(
        ck.tensors.iter().map(|(n, a)| (n.as_str(), TensorRef(a))),
        meta,
    )
    .map_err(|e| Error::msg(format!("cannot encode safetensors: {e}")))
}

/// Decodes safetensors bytes.
pub fn checkpoint_from_bytes(bytes: &[u8]) -> Result<Checkpoint> {
    read_checkpoint_from(&mut &bytes[..], bytes.len() as u64)
}

/// Writes a checkpoint as a safetensors file, atomically.
pub fn save_checkpoint(path: &Path, ck: &Checkpoint) -> Result<()> {
    let bytes = checkpoint_to_bytes(ck).map_err(|e| e.in_file(path))?;
    atomic_write_bytes(path, &bytes)
}

/// One tensor entry of a safetensors header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SafetensorsEntry {
    /// The tensor's name.
    pub name: String,
    /// The element type.
    pub dtype: DType,
    /// The dimensions.
    pub shape: Vec<usize>,
    /// Byte range of its data, relative to the start of the data section.
    pub data_offsets: (usize, usize),
}

/// Longest safetensors header accepted (the safetensors crate's limit).
const MAX_ST_HEADER: u64 = 100_000_000;

/// Parses and validates a safetensors header (the JSON text after the 8-byte length):
/// entries sorted by data offset, contiguous from 0, each of its dtype's and shape's size, and
/// together `data_len` bytes long.
pub fn parse_safetensors_header(
    header: &[u8],
    data_len: u64,
) -> Result<(Vec<SafetensorsEntry>, BTreeMap<String, String>)> {
    let v: serde_json::Value = serde_json::from_slice(header).map_err(|e| {
        Error::msg(format!(
            "not a valid safetensors file: the header is not JSON ({e})"
        ))
    })?;
    let obj = v
        .as_object()
        .ok_or_else(|| Error::msg("not a valid safetensors file: the header is not an object"))?;
    let mut metadata = BTreeMap::new();
    let mut entries = Vec::new();
    for (k, t) in obj {
        if k == "__metadata__" {
            let m = t.as_object().ok_or_else(|| {
                Error::msg("bad safetensors header: __metadata__ is not an object")
            })?;
            for (mk, mv) in m {
                let mv = mv.as_str().ok_or_else(|| {
                    Error::msg(format!(
                        "bad safetensors header: metadata '{mk}' is not a string"
                    ))
                })?;
                metadata.insert(mk.clone(), mv.to_string());
            }
            continue;
        }
        let info: safetensors::tensor::TensorInfo = serde_json::from_value(t.clone())
            .map_err(|e| Error::msg(format!("tensor '{k}': bad header entry: {e}")))?;
        let dtype = dtype_from_safetensors(info.dtype).ok_or_else(|| {
            Error::msg(format!(
                "tensor '{k}' has the unsupported dtype {:?}; supported: BOOL, U8, I32, I64, \
                 U32, U64, F16, BF16, F32, F64",
                info.dtype
            ))
        })?;
        entries.push(SafetensorsEntry {
            name: k.clone(),
            dtype,
            shape: info.shape,
            data_offsets: info.data_offsets,
        });
    }
    entries.sort_by_key(|e| e.data_offsets);
    let mut end = 0usize;
    for e in &entries {
        let (a, b) = e.data_offsets;
        let want = e
            .shape
            .iter()
            .try_fold(e.dtype.size_in_bytes(), |acc, &d| acc.checked_mul(d));
        if a != end || b < a || Some(b - a) != want {
            return Err(Error::msg(format!(
                "bad safetensors header: tensor '{}' ({} {:?}) has the data offsets [{a}, {b}], \
                 expected [{end}, {}]",
                e.name,
                numpy_name(e.dtype),
                e.shape,
                want.and_then(|w| end.checked_add(w))
                    .map_or("?".into(), |w| w.to_string())
            )));
        }
        end = b;
    }
    if end as u64 != data_len {
        return Err(Error::msg(format!(
            "not a valid safetensors file: the header describes {end} bytes of data, the file \
             holds {data_len} (truncated or corrupt)"
        )));
    }
    Ok((entries, metadata))
}

/// Reads a safetensors checkpoint in one pass: the header, then each tensor's data straight
/// into its array. Errors name the file.
pub fn load_checkpoint(path: &Path) -> Result<Checkpoint> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut r = std::io::BufReader::with_capacity(1 << 16, file);
    read_checkpoint_from(&mut r, len).map_err(|e| e.in_file(path))
}

/// Reads a safetensors stream of `len` bytes.
fn read_checkpoint_from(r: &mut impl std::io::Read, len: u64) -> Result<Checkpoint> {
    let bad = |m: String| Error::msg(format!("not a valid safetensors file: {m}"));
    let mut n8 = [0u8; 8];
    r.read_exact(&mut n8)
        .map_err(|_| bad("shorter than its 8-byte header length".into()))?;
    let n = u64::from_le_bytes(n8);
    if n > MAX_ST_HEADER || n > len.saturating_sub(8) {
        return Err(bad(format!(
            "header length {n} does not fit the file's {len} bytes (truncated, or another format)"
        )));
    }
    let header = read_up_to(r, n as usize, "the safetensors header")?;
    if header.len() as u64 != n {
        return Err(bad("the file ends inside its header".into()));
    }
    let (entries, metadata) = parse_safetensors_header(&header, len - 8 - n)?;
    let mut tensors = Vec::with_capacity(entries.len());
    for e in entries {
        let n = e.data_offsets.1 - e.data_offsets.0;
        let data = read_up_to(r, n, &format!("tensor '{}'", e.name))?;
        if data.len() != n {
            return Err(bad(format!(
                "tensor '{}': the file ends inside its data (truncated)",
                e.name
            )));
        }
        if e.dtype == DType::Pred && data.iter().any(|&b| b > 1) {
            return Err(Error::msg(format!(
                "tensor '{}': bool values must be bytes 0 or 1",
                e.name
            )));
        }
        tensors.push((e.name, HostArray::from_bytes(e.dtype, e.shape, data)?));
    }
    Ok(Checkpoint { tensors, metadata })
}

/// Converts an Equinox `.eqx` file of a model with `skeleton` into a safetensors checkpoint
/// (tensors named by [`tensor_name`] under `prefix`, `metadata` added).
pub fn eqx_to_safetensors(
    eqx: &Path,
    skeleton: &[LeafSpec],
    out: &Path,
    prefix: &str,
    metadata: &BTreeMap<String, String>,
) -> Result<()> {
    let leaves = read_eqx(eqx, skeleton)?;
    let mut ck = Checkpoint::new();
    ck.insert_leaves(prefix, &leaves)?;
    ck.metadata = metadata.clone();
    save_checkpoint(out, &ck)
}

/// Writes the leaves of group `prefix` of a safetensors checkpoint as an Equinox `.eqx` file
/// for a model with `skeleton` (loadable with `eqx.tree_deserialise_leaves`).
pub fn safetensors_to_eqx(
    checkpoint: &Path,
    skeleton: &[LeafSpec],
    out: &Path,
    prefix: &str,
) -> Result<()> {
    let ck = load_checkpoint(checkpoint)?;
    let leaves = ck
        .leaves(prefix, skeleton)
        .map_err(|e| e.in_file(checkpoint))?;
    write_eqx(out, &leaves)
}
