//! `jax.export` artifacts: the flatbuffer written by `Exported.serialize()` (schema
//! `jax/_src/export/serialization.fbs`, read here by hand with bounds-checked accessors), and
//! the StableHLO module inside it (MLIR bytecode or text).
//!
//! The module's calling convention (JAX calling convention versions 9 and 10): its arguments
//! are, in order, the platform index (`tensor<i32>`, only when the artifact lists several
//! platforms), one token per ordered effect, then the kept array arguments
//! (`module_kept_var_idx` of `in_avals`; unused arguments were dropped). Its results are one
//! token per ordered effect, then the outputs (`out_avals`).

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::host::HostArray;
use crate::io::npy::numpy_name;
use std::fmt;
use std::path::Path;

/// The JAX calling convention versions this reader understands.
pub const CALLING_CONVENTION_VERSIONS: std::ops::RangeInclusive<u16> = 9..=10;
/// The serialization versions this reader understands (JAX writes 3 in the field even for
/// newer schemas, which stay backwards compatible).
pub const SERIALIZATION_VERSIONS: std::ops::RangeInclusive<u16> = 1..=11;

/// The first bytes of MLIR bytecode.
pub use crate::pjrt::bytecode::MAGIC as MLIR_BYTECODE_MAGIC;

/// How a StableHLO module is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModuleFormat {
    /// MLIR bytecode (starts with `ML\xefR`); JAX exports hold portable VHLO bytecode.
    Bytecode,
    /// MLIR text (`module @... { func.func ... }`).
    Text,
}

/// The encoding of module bytes: bytecode by its magic, text if it is UTF-8 whose first line
/// (after comments) opens a module, a function or an attribute alias; `None` otherwise.
pub fn detect_module_format(bytes: &[u8]) -> Option<ModuleFormat> {
    if bytes.starts_with(MLIR_BYTECODE_MAGIC) {
        return Some(ModuleFormat::Bytecode);
    }
    let text = std::str::from_utf8(bytes).ok()?;
    // The first line that is not blank or a comment opens a module, a function or an
    // attribute alias (`#loc = ...`).
    let first = text
        .lines()
        .map(str::trim_start)
        .find(|l| !l.is_empty() && !l.starts_with("//"))?;
    [
        "module",
        "func.func",
        "#",
        "\"builtin.module\"",
        "\"func.func\"",
    ]
    .iter()
    .any(|p| first.starts_with(p))
    .then_some(ModuleFormat::Text)
}

/// One dimension of an exported shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dim {
    /// A fixed size.
    Fixed(usize),
    /// A symbolic (shape-polymorphic) dimension expression, e.g. `b` or `2*b`.
    Symbolic(String),
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Fixed(n) => write!(f, "{n}"),
            Dim::Symbolic(s) => f.write_str(s),
        }
    }
}

/// An abstract value of the exported function's signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Aval {
    /// The element type, where sbgm-xla supports it.
    pub dtype: Option<DType>,
    /// JAX's name of the element type (`float32`, `int8`, `complex64`, ...).
    pub dtype_name: String,
    /// The dimensions.
    pub shape: Vec<Dim>,
    /// Whether this is a token rather than an array.
    pub is_token: bool,
}

impl Aval {
    /// The fixed shape, or `None` when a dimension is symbolic.
    pub fn fixed_shape(&self) -> Option<Vec<usize>> {
        self.shape
            .iter()
            .map(|d| match d {
                Dim::Fixed(n) => Some(*n),
                Dim::Symbolic(_) => None,
            })
            .collect()
    }
}

impl fmt::Display for Aval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_token {
            return f.write_str("token");
        }
        let dims: Vec<String> = self.shape.iter().map(Dim::to_string).collect();
        write!(f, "{}[{}]", self.dtype_name, dims.join(", "))
    }
}

/// One argument of the module's `main`, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModuleArg {
    /// The platform index, an `i32` scalar (multi-platform exports only).
    PlatformIndex,
    /// The token of ordered effect `i`.
    Token(usize),
    /// The exported function's argument `i` (an index into `in_avals`).
    Input(usize),
}

/// One result of the module's `main`, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModuleResult {
    /// The token of ordered effect `i`.
    Token(usize),
    /// The exported function's output `i` (an index into `out_avals`).
    Output(usize),
}

/// What a `jax.export` artifact holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportedArtifact {
    /// The version number stored in the flatbuffer.
    pub serialization_version: u16,
    /// The exported function's name.
    pub function_name: String,
    /// The signature's inputs (flattened).
    pub in_avals: Vec<Aval>,
    /// The signature's outputs (flattened).
    pub out_avals: Vec<Aval>,
    /// The number of devices the module was lowered for.
    pub nr_devices: u32,
    /// The platforms the module was lowered for (`cpu`, `cuda`, `rocm`, `tpu`).
    pub platforms: Vec<String>,
    /// Type names of the ordered effects (one token argument and result each).
    pub ordered_effects: Vec<String>,
    /// Type names of the unordered effects.
    pub unordered_effects: Vec<String>,
    /// The serialized StableHLO module (`mlir_module_serialized`).
    pub mlir_module: Vec<u8>,
    /// The calling convention version.
    pub calling_convention_version: u16,
    /// The indices of `in_avals` that the module takes (the others were unused and dropped).
    pub module_kept_var_idx: Vec<usize>,
    /// Whether the module uses shape polymorphism or multi-platform lowering constants.
    pub uses_global_constants: bool,
    /// Whether the artifact also carries a VJP.
    pub has_vjp: bool,
}

/// Reads a `jax.export` artifact file (the bytes of `Exported.serialize()`).
pub fn read_exported(path: &Path) -> Result<ExportedArtifact> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    ExportedArtifact::from_bytes(&bytes).map_err(|e| e.in_file(path))
}

impl ExportedArtifact {
    /// Parses the serialized flatbuffer and checks its versions.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.starts_with(MLIR_BYTECODE_MAGIC) {
            return Err(Error::msg(
                "this is bare MLIR bytecode (an `mlir_module_serialized`), not a serialized \
                 jax.export artifact; it has no signature to read",
            ));
        }
        let fb = Fb { buf: bytes };
        let root = fb.root().map_err(not_export)?;
        let a = parse_exported(&fb, root).map_err(not_export)?;
        a.check_versions()?;
        a.check_consistency().map_err(not_export)?;
        Ok(a)
    }

    /// The fields that index each other agree: every kept argument is an input (in increasing
    /// order, once), and the module is MLIR.
    fn check_consistency(&self) -> FbResult<()> {
        let n = self.in_avals.len();
        if let Some(i) = self.module_kept_var_idx.iter().find(|&&i| i >= n) {
            return Err(format!(
                "module_kept_var_idx names input {i}, but the signature has {n} inputs"
            ));
        }
        if self.module_kept_var_idx.windows(2).any(|w| w[0] >= w[1]) {
            return Err(format!(
                "module_kept_var_idx {:?} is not increasing",
                self.module_kept_var_idx
            ));
        }
        if self.module_format().is_none() {
            return Err("its mlir_module_serialized is neither MLIR bytecode nor MLIR text".into());
        }
        Ok(())
    }

    fn check_versions(&self) -> Result<()> {
        if !SERIALIZATION_VERSIONS.contains(&self.serialization_version) {
            return Err(Error::msg(format!(
                "unsupported jax.export serialization version {} (this reader knows {}..={}); \
                 re-export with a JAX version close to 0.10",
                self.serialization_version,
                SERIALIZATION_VERSIONS.start(),
                SERIALIZATION_VERSIONS.end()
            )));
        }
        if !CALLING_CONVENTION_VERSIONS.contains(&self.calling_convention_version) {
            return Err(Error::msg(format!(
                "unsupported jax.export calling convention version {} (supported: {}..={}); \
                 re-export with JAX_EXPORT_CALLING_CONVENTION_VERSION=10",
                self.calling_convention_version,
                CALLING_CONVENTION_VERSIONS.start(),
                CALLING_CONVENTION_VERSIONS.end()
            )));
        }
        Ok(())
    }

    /// The encoding of the module bytes.
    pub fn module_format(&self) -> Option<ModuleFormat> {
        detect_module_format(&self.mlir_module)
    }

    /// Whether the module takes a platform index as its first argument.
    pub fn has_platform_index_argument(&self) -> bool {
        self.platforms.len() > 1
    }

    /// The value of the platform-index argument for `platform` (`cpu`, `cuda`, ...; `gpu`
    /// matches `cuda` or `rocm`); an error lists the artifact's platforms.
    pub fn platform_index(&self, platform: &str) -> Result<i32> {
        let want = platform.to_ascii_lowercase();
        self.platforms
            .iter()
            .position(|p| *p == want || (want == "gpu" && (p == "cuda" || p == "rocm")))
            .map(|i| i as i32)
            .ok_or_else(|| {
                Error::msg(format!(
                    "the exported program was lowered for {:?}, not for '{platform}'; re-export \
                     it with platforms=[..., '{want}']",
                    self.platforms
                ))
            })
    }

    /// The module's arguments in order (see the module docs).
    pub fn module_args(&self) -> Vec<ModuleArg> {
        let mut v = Vec::new();
        if self.has_platform_index_argument() {
            v.push(ModuleArg::PlatformIndex);
        }
        v.extend((0..self.ordered_effects.len()).map(ModuleArg::Token));
        v.extend(
            self.module_kept_var_idx
                .iter()
                .map(|&i| ModuleArg::Input(i)),
        );
        v
    }

    /// The module's results in order.
    pub fn module_results(&self) -> Vec<ModuleResult> {
        (0..self.ordered_effects.len())
            .map(ModuleResult::Token)
            .chain((0..self.out_avals.len()).map(ModuleResult::Output))
            .collect()
    }

    /// An error unless every input and output has a fixed shape and a supported dtype
    /// (shape-polymorphic exports need shape refinement, which sbgm-xla does not do).
    pub fn check_runnable(&self) -> Result<()> {
        for (what, avals) in [("input", &self.in_avals), ("output", &self.out_avals)] {
            for (i, a) in avals.iter().enumerate() {
                if a.is_token {
                    continue;
                }
                if a.fixed_shape().is_none() {
                    return Err(Error::msg(format!(
                        "{what} {i} has the symbolic shape {a}: shape-polymorphic exports are \
                         not supported; export with concrete shapes"
                    )));
                }
                if a.dtype.is_none() {
                    return Err(Error::msg(format!(
                        "{what} {i} has the unsupported dtype {}",
                        a.dtype_name
                    )));
                }
            }
        }
        Ok(())
    }

    /// Checks arrays given for every input of the signature (all of `in_avals`, dropped ones
    /// included) against it: count, dtype and shape, naming the first that does not match.
    pub fn check_inputs(&self, inputs: &[HostArray]) -> Result<()> {
        if inputs.len() != self.in_avals.len() {
            let sig: Vec<String> = self.in_avals.iter().map(Aval::to_string).collect();
            return Err(Error::msg(format!(
                "the exported function '{}' takes {} inputs ({}), got {}",
                self.function_name,
                self.in_avals.len(),
                sig.join(", "),
                inputs.len()
            )));
        }
        for (i, (a, x)) in self.in_avals.iter().zip(inputs).enumerate() {
            let ok = a.dtype == Some(x.dtype()) && a.fixed_shape().as_deref() == Some(x.shape());
            if !ok {
                return Err(Error::msg(format!(
                    "input {i}: the exported function expects {a}, got {}{:?}",
                    numpy_name(x.dtype()),
                    x.shape()
                )));
            }
        }
        Ok(())
    }
}

/// A program file given to `run`: a `jax.export` artifact, or a bare StableHLO module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Program {
    /// A serialized `jax.export` artifact, with its signature and calling convention.
    Exported(ExportedArtifact),
    /// A bare module (e.g. the `mlir_module_serialized` bytes, or `.mlir` text).
    Module {
        /// How `bytes` is encoded.
        format: ModuleFormat,
        /// The module.
        bytes: Vec<u8>,
    },
}

/// Reads a program file, recognising MLIR bytecode, MLIR text and `jax.export` artifacts by
/// their content.
pub fn read_program(path: &Path) -> Result<Program> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    if let Some(format) = detect_module_format(&bytes) {
        return Ok(Program::Module { format, bytes });
    }
    ExportedArtifact::from_bytes(&bytes)
        .map(Program::Exported)
        .map_err(|e| {
            Error::format(
                path,
                format!("neither MLIR (bytecode or text) nor a readable jax.export artifact: {e}"),
            )
        })
}

fn not_export(e: String) -> Error {
    Error::msg(format!(
        "not a valid jax.export artifact (the bytes of Exported.serialize()): {e}"
    ))
}

// ---- a minimal, bounds-checked flatbuffer reader ----

/// A flatbuffer; every read checks bounds and returns a message on failure.
struct Fb<'a> {
    buf: &'a [u8],
}

type FbResult<T> = std::result::Result<T, String>;

impl Fb<'_> {
    fn bytes(&self, pos: usize, n: usize) -> FbResult<&[u8]> {
        pos.checked_add(n)
            .and_then(|end| self.buf.get(pos..end))
            .ok_or_else(|| format!("offset {pos}+{n} is outside the {} bytes", self.buf.len()))
    }
    fn u8(&self, pos: usize) -> FbResult<u8> {
        Ok(self.bytes(pos, 1)?[0])
    }
    fn u16(&self, pos: usize) -> FbResult<u16> {
        Ok(u16::from_le_bytes(
            self.bytes(pos, 2)?.try_into().unwrap_or_default(),
        ))
    }
    fn u32(&self, pos: usize) -> FbResult<u32> {
        Ok(u32::from_le_bytes(
            self.bytes(pos, 4)?.try_into().unwrap_or_default(),
        ))
    }
    fn i32(&self, pos: usize) -> FbResult<i32> {
        Ok(self.u32(pos)? as i32)
    }
    /// The position a `uoffset` stored at `pos` points to.
    fn follow(&self, pos: usize) -> FbResult<usize> {
        pos.checked_add(self.u32(pos)? as usize)
            .filter(|p| *p < self.buf.len())
            .ok_or_else(|| format!("offset at {pos} points outside the buffer"))
    }
    fn root(&self) -> FbResult<Table> {
        Ok(Table {
            pos: self.follow(0)?,
        })
    }
}

#[derive(Clone, Copy)]
struct Table {
    pos: usize,
}

impl Table {
    /// The position of field `slot` (the vtable byte offset: 4, 6, 8, ...), if present.
    fn field(&self, fb: &Fb, slot: usize) -> FbResult<Option<usize>> {
        let vt = (self.pos as i64 - fb.i32(self.pos)? as i64) as usize;
        let vt_len = fb.u16(vt)? as usize;
        if slot + 2 > vt_len {
            return Ok(None);
        }
        let off = fb.u16(vt + slot)? as usize;
        Ok((off != 0).then_some(self.pos + off))
    }
    fn u8_or(&self, fb: &Fb, slot: usize, default: u8) -> FbResult<u8> {
        self.field(fb, slot)?.map_or(Ok(default), |p| fb.u8(p))
    }
    fn u16_or(&self, fb: &Fb, slot: usize, default: u16) -> FbResult<u16> {
        self.field(fb, slot)?.map_or(Ok(default), |p| fb.u16(p))
    }
    fn u32_or(&self, fb: &Fb, slot: usize, default: u32) -> FbResult<u32> {
        self.field(fb, slot)?.map_or(Ok(default), |p| fb.u32(p))
    }
    fn table(&self, fb: &Fb, slot: usize) -> FbResult<Option<Table>> {
        self.field(fb, slot)?
            .map(|p| Ok(Table { pos: fb.follow(p)? }))
            .transpose()
    }
    /// A vector field: (position of the first element, length).
    fn vector(&self, fb: &Fb, slot: usize) -> FbResult<Option<(usize, usize)>> {
        let Some(p) = self.field(fb, slot)? else {
            return Ok(None);
        };
        let v = fb.follow(p)?;
        let n = fb.u32(v)? as usize;
        Ok(Some((v + 4, n)))
    }
    fn string(&self, fb: &Fb, slot: usize) -> FbResult<Option<String>> {
        self.field(fb, slot)?
            .map(|p| read_string(fb, fb.follow(p)?))
            .transpose()
    }
    fn bytes<'a>(&self, fb: &Fb<'a>, slot: usize) -> FbResult<Vec<u8>> {
        match self.vector(fb, slot)? {
            Some((start, n)) => Ok(fb.bytes(start, n)?.to_vec()),
            None => Ok(Vec::new()),
        }
    }
    fn u16s(&self, fb: &Fb, slot: usize) -> FbResult<Vec<u16>> {
        let Some((start, n)) = self.vector(fb, slot)? else {
            return Ok(Vec::new());
        };
        fb.bytes(start, n.saturating_mul(2))?;
        (0..n).map(|i| fb.u16(start + 2 * i)).collect()
    }
    fn u32s(&self, fb: &Fb, slot: usize) -> FbResult<Vec<u32>> {
        let Some((start, n)) = self.vector(fb, slot)? else {
            return Ok(Vec::new());
        };
        fb.bytes(start, n.saturating_mul(4))?;
        (0..n).map(|i| fb.u32(start + 4 * i)).collect()
    }
    fn tables(&self, fb: &Fb, slot: usize) -> FbResult<Vec<Table>> {
        let Some((start, n)) = self.vector(fb, slot)? else {
            return Ok(Vec::new());
        };
        fb.bytes(start, n.saturating_mul(4))?;
        (0..n)
            .map(|i| {
                Ok(Table {
                    pos: fb.follow(start + 4 * i)?,
                })
            })
            .collect()
    }
    fn strings(&self, fb: &Fb, slot: usize) -> FbResult<Vec<String>> {
        let Some((start, n)) = self.vector(fb, slot)? else {
            return Ok(Vec::new());
        };
        fb.bytes(start, n.saturating_mul(4))?;
        (0..n)
            .map(|i| read_string(fb, fb.follow(start + 4 * i)?))
            .collect()
    }
}

fn read_string(fb: &Fb, pos: usize) -> FbResult<String> {
    let n = fb.u32(pos)? as usize;
    String::from_utf8(fb.bytes(pos + 4, n)?.to_vec()).map_err(|_| "a string is not UTF-8".into())
}

// Field slots of the `Exported` table (serialization.fbs).
const EXP_SERIALIZATION_VERSION: usize = 4;
const EXP_FUNCTION_NAME: usize = 6;
const EXP_IN_AVALS: usize = 10;
const EXP_OUT_AVALS: usize = 14;
const EXP_NR_DEVICES_SHORT: usize = 16;
const EXP_PLATFORMS: usize = 22;
const EXP_ORDERED_EFFECTS: usize = 24;
const EXP_UNORDERED_EFFECTS: usize = 26;
const EXP_MLIR_MODULE: usize = 30;
const EXP_CALLING_CONVENTION: usize = 32;
const EXP_KEPT_VAR_IDX: usize = 34;
const EXP_USES_GLOBAL_CONSTANTS: usize = 36;
const EXP_VJP: usize = 38;
const EXP_NR_DEVICES: usize = 40;
const EXP_UNIQUE_AVALS: usize = 42;
const EXP_IN_AVALS_IDXS: usize = 48;
const EXP_OUT_AVALS_IDXS: usize = 50;
// `AbstractValue` and `Effect` tables.
const AVAL_KIND: usize = 4;
const AVAL_SHAPE: usize = 6;
const AVAL_DTYPE: usize = 8;
const EFFECT_TYPE_NAME: usize = 4;

fn parse_exported(fb: &Fb, t: Table) -> FbResult<ExportedArtifact> {
    let unique: Vec<Aval> = t
        .tables(fb, EXP_UNIQUE_AVALS)?
        .into_iter()
        .map(|a| parse_aval(fb, a))
        .collect::<FbResult<_>>()?;
    let avals = |idx_slot: usize, old_slot: usize| -> FbResult<Vec<Aval>> {
        let idxs = t.u32s(fb, idx_slot)?;
        if !idxs.is_empty() {
            return idxs
                .into_iter()
                .map(|i| {
                    unique
                        .get(i as usize)
                        .cloned()
                        .ok_or_else(|| format!("aval index {i} out of range"))
                })
                .collect();
        }
        t.tables(fb, old_slot)?
            .into_iter()
            .map(|a| parse_aval(fb, a))
            .collect()
    };
    let effects = |slot: usize| -> FbResult<Vec<String>> {
        t.tables(fb, slot)?
            .into_iter()
            .map(|e| Ok(e.string(fb, EFFECT_TYPE_NAME)?.unwrap_or_default()))
            .collect()
    };
    let nr_devices = match t.u32_or(fb, EXP_NR_DEVICES, 0)? {
        0 => t.u16_or(fb, EXP_NR_DEVICES_SHORT, 0)? as u32,
        n => n,
    };
    Ok(ExportedArtifact {
        serialization_version: t.u16_or(fb, EXP_SERIALIZATION_VERSION, 0)?,
        function_name: t.string(fb, EXP_FUNCTION_NAME)?.unwrap_or_default(),
        in_avals: avals(EXP_IN_AVALS_IDXS, EXP_IN_AVALS)?,
        out_avals: avals(EXP_OUT_AVALS_IDXS, EXP_OUT_AVALS)?,
        nr_devices,
        platforms: t.strings(fb, EXP_PLATFORMS)?,
        ordered_effects: effects(EXP_ORDERED_EFFECTS)?,
        unordered_effects: effects(EXP_UNORDERED_EFFECTS)?,
        mlir_module: t.bytes(fb, EXP_MLIR_MODULE)?,
        calling_convention_version: t.u16_or(fb, EXP_CALLING_CONVENTION, 0)?,
        module_kept_var_idx: t
            .u16s(fb, EXP_KEPT_VAR_IDX)?
            .into_iter()
            .map(usize::from)
            .collect(),
        uses_global_constants: t.u8_or(fb, EXP_USES_GLOBAL_CONSTANTS, 0)? != 0,
        has_vjp: t.table(fb, EXP_VJP)?.is_some(),
    })
}

/// JAX's `DType` enum of serialization.fbs, by value.
const DTYPE_NAMES: [&str; 30] = [
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "float32",
    "float64",
    "complex64",
    "complex128",
    "bfloat16",
    "int4",
    "uint4",
    "float8_e4m3b11fnuz",
    "float8_e4m3fn",
    "float8_e4m3fnuz",
    "float8_e5m2",
    "float8_e5m2fnuz",
    "float0",
    "float8_e4m3",
    "float8_e3m4",
    "float8_e8m0fnu",
    "float4_e2m1fn",
    "key<fry>",
    "key<rbg>",
    "key<unsafe_rbg>",
];

fn parse_aval(fb: &Fb, t: Table) -> FbResult<Aval> {
    let kind = t.u8_or(fb, AVAL_KIND, 0)?;
    let code = t.u8_or(fb, AVAL_DTYPE, 0)? as usize;
    let dtype_name = DTYPE_NAMES
        .get(code)
        .map_or_else(|| format!("dtype#{code}"), |s| s.to_string());
    let dtype = DType::ALL
        .into_iter()
        .find(|d| numpy_name(*d) == dtype_name);
    let shape = t
        .strings(fb, AVAL_SHAPE)?
        .into_iter()
        .map(|s| match s.trim().parse::<usize>() {
            Ok(n) => Dim::Fixed(n),
            Err(_) => Dim::Symbolic(s),
        })
        .collect();
    Ok(Aval {
        dtype,
        dtype_name,
        shape,
        is_token: kind == 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_module_formats() {
        assert_eq!(
            detect_module_format(b"ML\xefR\x0d"),
            Some(ModuleFormat::Bytecode)
        );
        assert_eq!(
            detect_module_format(b"module @m { func.func public @main() { return } }"),
            Some(ModuleFormat::Text)
        );
        assert_eq!(
            detect_module_format(b"// c\n#loc1 = loc(\"x\")\nmodule @jit_f {}"),
            Some(ModuleFormat::Text)
        );
        assert_eq!(detect_module_format(b"{\"module\": 1}"), None);
        assert_eq!(detect_module_format(&[0xff, 0x00, 0x12]), None);
    }
}
