//! NumPy `.npy` files and records: format versions 1.0, 2.0 and 3.0, both byte orders, C and
//! Fortran order; writes headers byte-identical to `np.save`.
//!
//! Element types map to NumPy descriptors as NumPy and JAX write them: `|b1` (bool), `|u1`,
//! `<i4`, `<i8`, `<u4`, `<u8`, `<f2`, `<f4`, `<f8`, and `<V2` for bfloat16 (what `jnp.save`
//! writes: `ml_dtypes.bfloat16` has no descriptor of its own, so NumPy stores it as 2-byte void;
//! a 2-byte void record is read back as bfloat16). Object dtypes (pickled Python objects) are
//! refused: nothing here ever unpickles.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::host::HostArray;
use crate::io::atomic::atomic_write;
use crate::io::bounded::{has_more, read_up_to};
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::Path;

/// The magic string that opens every `.npy` record.
pub const NPY_MAGIC: &[u8; 6] = b"\x93NUMPY";

/// NumPy aligns the start of the data to this many bytes (`numpy.lib.format.ARRAY_ALIGN`).
const ARRAY_ALIGN: usize = 64;
/// Spare header space NumPy leaves for growing the first axis (`GROWTH_AXIS_MAX_DIGITS`).
const GROWTH_AXIS_MAX_DIGITS: usize = 21;
/// Longest header we accept (NumPy's own default limit is 10,000 bytes).
const MAX_HEADER_LEN: usize = 1 << 20;

/// What the header of a `.npy` record says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NpyHeader {
    /// Format version `(major, minor)`: (1, 0), (2, 0) or (3, 0).
    pub version: (u8, u8),
    /// The `descr` string as written (e.g. `<f4`, `>i8`, `|b1`, `<V2`).
    pub descr: String,
    /// The element type.
    pub dtype: DType,
    /// Whether the data is big-endian.
    pub big_endian: bool,
    /// Whether the data is in Fortran (column-major) order.
    pub fortran_order: bool,
    /// The dimensions.
    pub shape: Vec<usize>,
}

impl NpyHeader {
    /// The number of data bytes that follow the header.
    pub fn data_len(&self) -> Result<usize> {
        checked_data_len(self.dtype, &self.shape)
    }
}

/// The `descr` NumPy (and `jnp.save`) writes for `dtype`.
pub fn npy_descr(dtype: DType) -> &'static str {
    match dtype {
        DType::Pred => "|b1",
        DType::U8 => "|u1",
        DType::I32 => "<i4",
        DType::I64 => "<i8",
        DType::U32 => "<u4",
        DType::U64 => "<u8",
        DType::F16 => "<f2",
        DType::BF16 => "<V2",
        DType::F32 => "<f4",
        DType::F64 => "<f8",
    }
}

/// The element type NumPy calls `name` (`float32`, `bfloat16`, `bool`, `int64`, ...).
pub fn dtype_from_numpy_name(name: &str) -> Result<DType> {
    DType::ALL
        .into_iter()
        .find(|d| numpy_name(*d) == name)
        .ok_or_else(|| {
            Error::msg(format!(
                "unsupported dtype '{name}'; supported: bool, uint8, int32, int64, uint32, \
                 uint64, float16, bfloat16, float32, float64"
            ))
        })
}

/// NumPy's name of `dtype` (`str(np.dtype)`): `float32`, `bfloat16`, `bool`, ...
pub fn numpy_name(dtype: DType) -> &'static str {
    match dtype {
        DType::Pred => "bool",
        DType::U8 => "uint8",
        DType::I32 => "int32",
        DType::I64 => "int64",
        DType::U32 => "uint32",
        DType::U64 => "uint64",
        DType::F16 => "float16",
        DType::BF16 => "bfloat16",
        DType::F32 => "float32",
        DType::F64 => "float64",
    }
}

/// Reads a whole `.npy` file. Errors name the file; trailing bytes after the array are an error.
pub fn read_npy(path: &Path) -> Result<HostArray> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut r = BufReader::with_capacity(1 << 16, file);
    let a = read_record_limited(&mut r, Some(len)).map_err(|e| e.in_file(path))?;
    match has_more(&mut r) {
        Ok(false) => Ok(a),
        Ok(true) => Err(Error::format(
            path,
            "unexpected bytes after the array data (a file of several concatenated records? \
             read it with read_npy_record, or as an .eqx file with its skeleton)",
        )),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Writes `a` as a `.npy` file (version 1.0, little-endian, C order), atomically, with the
/// bytes `np.save` would write.
pub fn write_npy(path: &Path, a: &HostArray) -> Result<()> {
    atomic_write(path, |w| {
        write_npy_record(w, a).map_err(|e| e.in_file(path))
    })
}

/// Reads one `.npy` record (header and data) from `r`, leaving `r` just after its data.
/// Memory grows only as data arrives; prefer [`read_npy_record_within`] when the size of the
/// source is known.
pub fn read_npy_record(r: &mut impl Read) -> Result<HostArray> {
    read_record_limited(r, None)
}

/// [`read_npy_record`] from a source holding at most `available` more bytes (the rest of a file,
/// an archive member): a header declaring more data is refused before anything is read.
pub fn read_npy_record_within(r: &mut impl Read, available: u64) -> Result<HostArray> {
    read_record_limited(r, Some(available))
}

/// Writes `a` as one `.npy` record: the header `np.save` writes, then the data.
pub fn write_npy_record(w: &mut impl Write, a: &HostArray) -> Result<()> {
    let header = npy_header_bytes(a.dtype(), a.shape())?;
    w.write_all(&header)
        .and_then(|()| w.write_all(a.bytes()))
        .map_err(|e| Error::msg(format!("cannot write .npy record: {e}")))
}

/// The encoded record header `np.save` writes for an array of `dtype` and `shape`: magic,
/// version, header length, the header dict padded with spaces to a multiple of 64 bytes, `\n`.
pub fn npy_header_bytes(dtype: DType, shape: &[usize]) -> Result<Vec<u8>> {
    let mut dict = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}",
        npy_descr(dtype),
        shape_repr(shape)
    );
    if let Some(first) = shape.first() {
        let digits = first.to_string().len();
        dict.push_str(&" ".repeat(GROWTH_AXIS_MAX_DIGITS.saturating_sub(digits)));
    }
    // Version 1.0 has a 2-byte header length; NumPy falls back to 2.0 (4 bytes) when needed.
    for (version, len_bytes) in [(1u8, 2usize), (2, 4)] {
        let hlen = dict.len() + 1;
        let prefix = NPY_MAGIC.len() + 2 + len_bytes;
        let pad = ARRAY_ALIGN - (prefix + hlen) % ARRAY_ALIGN;
        let total = hlen + pad;
        if len_bytes == 2 && total > u16::MAX as usize {
            continue;
        }
        let mut out = Vec::with_capacity(prefix + total);
        out.extend_from_slice(NPY_MAGIC);
        out.extend_from_slice(&[version, 0]);
        if len_bytes == 2 {
            out.extend_from_slice(&(total as u16).to_le_bytes());
        } else {
            let total = u32::try_from(total)
                .map_err(|_| Error::msg(format!("a shape of {} dims is too long", shape.len())))?;
            out.extend_from_slice(&total.to_le_bytes());
        }
        out.extend_from_slice(dict.as_bytes());
        out.extend(std::iter::repeat_n(b' ', pad));
        out.push(b'\n');
        return Ok(out);
    }
    Err(Error::msg(format!(
        "a shape of {} dims is too long",
        shape.len()
    )))
}

/// Python's `repr` of a shape tuple: `()`, `(3,)`, `(2, 3)`.
fn shape_repr(shape: &[usize]) -> String {
    match shape {
        [] => "()".into(),
        [d] => format!("({d},)"),
        _ => {
            let parts: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
            format!("({})", parts.join(", "))
        }
    }
}

/// Reads and parses a record's header, leaving `r` at the start of its data.
pub fn read_npy_header(r: &mut impl Read) -> Result<NpyHeader> {
    read_header_counted(r).map(|(h, _)| h)
}

/// [`read_npy_header`], and the number of bytes the header took (magic to final newline).
pub fn read_header_counted(r: &mut impl Read) -> Result<(NpyHeader, u64)> {
    let mut pre = [0u8; 8];
    read_full(r, &mut pre, "the .npy magic and version")?;
    if &pre[..6] != NPY_MAGIC {
        return Err(Error::msg(format!(
            "not a .npy record: expected the magic bytes \\x93NUMPY, found {:?}",
            String::from_utf8_lossy(&pre[..6])
        )));
    }
    let version = (pre[6], pre[7]);
    let len_bytes = match version {
        (1, 0) => 2,
        (2, 0) | (3, 0) => 4,
        (a, b) => {
            return Err(Error::msg(format!(
                "unsupported .npy format version {a}.{b} (versions 1.0, 2.0 and 3.0 are read)"
            )));
        }
    };
    let mut lb = [0u8; 4];
    read_full(r, &mut lb[..len_bytes], "the .npy header length")?;
    let hlen = u32::from_le_bytes(lb) as usize;
    if hlen > MAX_HEADER_LEN {
        return Err(Error::msg(format!(
            "bad .npy header: claims {hlen} header bytes (more than {MAX_HEADER_LEN})"
        )));
    }
    let text = read_up_to(r, hlen, "the .npy header")?;
    if text.len() < hlen {
        return Err(Error::msg(
            "truncated .npy record: the file ends inside the .npy header",
        ));
    }
    // Versions 1.0 and 2.0 are latin-1, 3.0 is UTF-8; a valid header is ASCII either way.
    let text: String = if version.0 == 3 {
        String::from_utf8(text)
            .map_err(|_| Error::msg("bad .npy header: version 3.0 header is not UTF-8"))?
    } else {
        text.iter().map(|&b| b as char).collect()
    };
    let header_bytes = (pre.len() + len_bytes + hlen) as u64;
    parse_header_dict(&text, version).map(|h| (h, header_bytes))
}

/// Reads one record of which at most `available` bytes (header and data) can follow, if known.
fn read_record_limited(r: &mut impl Read, available: Option<u64>) -> Result<HostArray> {
    let (h, header_bytes) = read_header_counted(r)?;
    let n = h.data_len()?;
    if let Some(available) = available {
        let left = available.saturating_sub(header_bytes);
        if n as u64 > left {
            return Err(truncated(&h, n, left));
        }
    }
    let data = read_up_to(r, n, "the .npy data")?;
    if data.len() < n {
        return Err(truncated(&h, n, data.len() as u64));
    }
    decode_data(&h, data)
}

fn truncated(h: &NpyHeader, n: usize, got: u64) -> Error {
    Error::msg(format!(
        "truncated .npy data: the header says {} {:?} ({n} bytes) but only {got} bytes follow",
        h.descr, h.shape
    ))
}

/// Turns the raw record data into a little-endian, C-order array.
fn decode_data(h: &NpyHeader, mut data: Vec<u8>) -> Result<HostArray> {
    let w = h.dtype.size_in_bytes();
    if h.big_endian && w > 1 {
        for el in data.chunks_exact_mut(w) {
            el.reverse();
        }
    }
    if h.fortran_order && h.shape.len() > 1 {
        data = fortran_to_c(&data, &h.shape, w)?;
    }
    if h.dtype == DType::Pred
        && let Some(i) = data.iter().position(|&b| b > 1)
    {
        return Err(Error::msg(format!(
            "bad bool data: element {i} holds the byte {} (bools must be 0 or 1)",
            data[i]
        )));
    }
    HostArray::from_bytes(h.dtype, h.shape.clone(), data)
}

/// Reorders column-major element bytes of `shape` into row-major order.
fn fortran_to_c(data: &[u8], shape: &[usize], w: usize) -> Result<Vec<u8>> {
    // Column-major data of shape (d0, .., dn-1) is row-major data of shape (dn-1, .., d0, w);
    // reversing the first n axes gives the row-major view we want.
    let mut dims: Vec<usize> = shape.iter().rev().copied().collect();
    dims.push(w);
    let a = ndarray::ArrayViewD::from_shape(ndarray::IxDyn(&dims), data)
        .map_err(|e| Error::msg(format!("bad Fortran-order data: {e}")))?;
    let n = shape.len();
    let mut axes: Vec<usize> = (0..n).rev().collect();
    axes.push(n);
    Ok(a.permuted_axes(axes).iter().copied().collect())
}

fn checked_data_len(dtype: DType, shape: &[usize]) -> Result<usize> {
    shape
        .iter()
        .try_fold(dtype.size_in_bytes(), |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| Error::msg(format!("bad .npy header: shape {shape:?} is too large")))
}

fn read_full(r: &mut impl Read, buf: &mut [u8], what: &str) -> Result<()> {
    r.read_exact(buf).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            Error::msg(format!(
                "truncated .npy record: the file ends inside {what}"
            ))
        } else {
            Error::msg(format!("cannot read {what}: {e}"))
        }
    })
}

// ---- header dict parsing ----

/// A value in the header dict (a Python literal).
#[derive(Debug)]
enum Value {
    Str(String),
    Bool(bool),
    Tuple(Vec<u64>),
    /// A list: structured dtypes are written as lists of fields.
    List,
}

fn parse_header_dict(text: &str, version: (u8, u8)) -> Result<NpyHeader> {
    let bad = |why: &str| {
        Error::msg(format!(
            "bad .npy header ({why}): {:?}",
            text.trim_end().chars().take(200).collect::<String>()
        ))
    };
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    p.ws();
    if !p.eat(b'{') {
        return Err(bad("expected a dict"));
    }
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    loop {
        p.ws();
        if p.eat(b'}') {
            break;
        }
        let key = p.string().ok_or_else(|| bad("expected a quoted key"))?;
        p.ws();
        if !p.eat(b':') {
            return Err(bad("expected ':'"));
        }
        p.ws();
        let v = p.value().ok_or_else(|| bad("unreadable value"))?;
        match key.as_str() {
            "descr" => descr = Some(v),
            "fortran_order" => fortran = Some(v),
            "shape" => shape = Some(v),
            other => return Err(bad(&format!("unexpected key '{other}'"))),
        }
        p.ws();
        if !p.eat(b',') {
            p.ws();
            if p.eat(b'}') {
                break;
            }
            return Err(bad("expected ',' or '}'"));
        }
    }
    p.ws();
    if p.i != p.s.len() {
        return Err(bad("text after the dict"));
    }
    let descr = match descr {
        Some(Value::Str(s)) => s,
        Some(Value::List) => {
            return Err(Error::msg(
                "unsupported .npy dtype: a structured (record) dtype; only plain numeric and \
                 bool arrays are read",
            ));
        }
        _ => return Err(bad("'descr' is missing or not a string")),
    };
    let fortran_order = match fortran {
        Some(Value::Bool(b)) => b,
        _ => return Err(bad("'fortran_order' is missing or not True/False")),
    };
    let shape = match shape {
        Some(Value::Tuple(t)) => t
            .into_iter()
            .map(|d| usize::try_from(d).map_err(|_| bad("dimension too large")))
            .collect::<Result<Vec<_>>>()?,
        _ => return Err(bad("'shape' is missing or not a tuple of integers")),
    };
    let (dtype, big_endian) = parse_descr(&descr)?;
    let h = NpyHeader {
        version,
        descr,
        dtype,
        big_endian,
        fortran_order,
        shape,
    };
    h.data_len()?;
    Ok(h)
}

/// The element type and byte order of a NumPy type descriptor.
fn parse_descr(descr: &str) -> Result<(DType, bool)> {
    let (order, code) = match descr.as_bytes().first() {
        Some(c @ (b'<' | b'>' | b'|' | b'=')) => (*c, &descr[1..]),
        _ => (b'=', descr),
    };
    let big = match order {
        b'>' => true,
        b'=' => cfg!(target_endian = "big"),
        _ => false,
    };
    let dtype = match code {
        "b1" | "?" => DType::Pred,
        "u1" | "B" => DType::U8,
        "i4" => DType::I32,
        "i8" => DType::I64,
        "u4" => DType::U32,
        "u8" => DType::U64,
        "f2" | "e" => DType::F16,
        "f4" => DType::F32,
        "f8" => DType::F64,
        "V2" | "bfloat16" => DType::BF16,
        c if c.starts_with('O') => {
            return Err(Error::msg(format!(
                "refusing a .npy record with object dtype '{descr}': it holds pickled Python \
                 objects, which sbgm-xla never loads; save plain numeric arrays instead"
            )));
        }
        _ => {
            return Err(Error::msg(format!(
                "unsupported .npy dtype '{descr}'; supported: bool (|b1), uint8 (|u1), int32, \
                 int64, uint32, uint64, float16, bfloat16 (<V2), float32, float64 (either byte \
                 order); convert the array with .astype(...) first"
            )));
        }
    };
    Ok((dtype, big))
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }
    fn string(&mut self) -> Option<String> {
        let q = self.peek().filter(|c| *c == b'\'' || *c == b'"')?;
        self.i += 1;
        let mut out = Vec::new();
        loop {
            let c = self.peek()?;
            self.i += 1;
            if c == q {
                return String::from_utf8(out).ok();
            }
            if c == b'\\' {
                out.push(self.peek()?);
                self.i += 1;
            } else {
                out.push(c);
            }
        }
    }
    fn word(&mut self, w: &str) -> bool {
        if self.s[self.i..].starts_with(w.as_bytes()) {
            self.i += w.len();
            true
        } else {
            false
        }
    }
    fn int(&mut self) -> Option<u64> {
        let start = self.i;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        let v = std::str::from_utf8(&self.s[start..self.i])
            .ok()?
            .parse()
            .ok()?;
        // Python 2 wrote long integers with an `L` suffix.
        let _ = self.eat(b'L');
        Some(v)
    }
    fn value(&mut self) -> Option<Value> {
        match self.peek()? {
            b'\'' | b'"' => self.string().map(Value::Str),
            b'[' => {
                // Skip the (structured dtype) list, strings included; it is refused later.
                let mut depth = 0usize;
                loop {
                    match self.peek()? {
                        b'\'' | b'"' => {
                            self.string()?;
                            continue;
                        }
                        b'[' | b'(' => depth += 1,
                        b']' | b')' => depth -= 1,
                        _ => {}
                    }
                    self.i += 1;
                    if depth == 0 {
                        return Some(Value::List);
                    }
                }
            }
            b'(' => {
                self.i += 1;
                let mut dims = Vec::new();
                loop {
                    self.ws();
                    if self.eat(b')') {
                        return Some(Value::Tuple(dims));
                    }
                    dims.push(self.int()?);
                    self.ws();
                    if !self.eat(b',') {
                        self.ws();
                        return self.eat(b')').then_some(Value::Tuple(dims));
                    }
                }
            }
            _ if self.word("True") => Some(Value::Bool(true)),
            _ if self.word("False") => Some(Value::Bool(false)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_matches_numpy_layout() {
        // Layout from numpy.lib.format: the dict, 21 - len(str(shape[0])) spare spaces, padding
        // to a multiple of 64 bytes counting the 10-byte prefix, and a final newline.
        let h = npy_header_bytes(DType::F32, &[2, 3]).unwrap();
        assert_eq!(h.len() % 64, 0);
        assert_eq!(&h[..8], b"\x93NUMPY\x01\x00");
        assert_eq!(u16::from_le_bytes([h[8], h[9]]) as usize, h.len() - 10);
        let text = std::str::from_utf8(&h[10..]).unwrap();
        assert!(text.starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"));
        assert!(text.ends_with(" \n"));
        assert_eq!(shape_repr(&[]), "()");
        assert_eq!(shape_repr(&[7]), "(7,)");
    }

    #[test]
    fn parses_python_literals() {
        let h = parse_header_dict(
            "{\"shape\": (3L, 0,), 'fortran_order': True, 'descr': '>u4'}  \n",
            (1, 0),
        )
        .unwrap();
        assert_eq!(h.shape, vec![3, 0]);
        assert!(h.fortran_order && h.big_endian);
        assert_eq!(h.dtype, DType::U32);
        for bad in [
            "{'descr': '<f4', 'shape': (2,)}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (-2,)}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)",
            "[1, 2]",
        ] {
            assert!(parse_header_dict(bad, (1, 0)).is_err(), "{bad}");
        }
        let e = parse_descr("|O").unwrap_err().to_string();
        assert!(e.contains("object dtype"), "{e}");
        let e = parse_descr("<c8").unwrap_err().to_string();
        assert!(e.contains("unsupported .npy dtype '<c8'"), "{e}");
    }

    #[test]
    fn fortran_order_is_transposed() {
        // A 2x3 array [[0,1,2],[3,4,5]] stored column-major is 0,3,1,4,2,5.
        let col: Vec<u8> = [0u8, 3, 1, 4, 2, 5].to_vec();
        assert_eq!(
            fortran_to_c(&col, &[2, 3], 1).unwrap(),
            vec![0, 1, 2, 3, 4, 5]
        );
    }
}
