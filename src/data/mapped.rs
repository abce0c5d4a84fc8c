//! `.npy` arrays read through a memory map: the header is parsed and checked against the file's
//! length, and rows are converted to f32 only when they are gathered, so a set larger than
//! memory trains without a full read.

use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::io::npy::read_header_counted;

/// A C-ordered `.npy` array of shape `(N, …)` mapped into memory.
pub struct MappedNpy {
    path: PathBuf,
    map: Mmap,
    offset: usize,
    dtype: DType,
    big_endian: bool,
    shape: Vec<usize>,
}

impl std::fmt::Debug for MappedNpy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappedNpy")
            .field("path", &self.path)
            .field("dtype", &self.dtype)
            .field("shape", &self.shape)
            .finish()
    }
}

impl MappedNpy {
    /// Maps the `.npy` file at `path` (any numeric element type, either byte order, C order,
    /// rank at least 1). Only the header is read here.
    pub fn open(path: &Path) -> Result<MappedNpy> {
        let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let (h, header_bytes) = read_header_counted(&mut file).map_err(|e| e.in_file(path))?;
        if h.fortran_order && h.shape.len() > 1 {
            return Err(Error::format(
                path,
                "the array is in Fortran order, which cannot be read row by row from a memory \
                 map; save it C-ordered (np.save(f, np.ascontiguousarray(x))) or set [data] \
                 resident = true",
            ));
        }
        if h.shape.is_empty() {
            return Err(Error::format(
                path,
                "a scalar array has no rows to train on",
            ));
        }
        let need = h.data_len().map_err(|e| e.in_file(path))? as u64;
        if len < header_bytes + need {
            return Err(Error::format(
                path,
                format!(
                    "truncated: the header declares {need} data bytes for shape {:?}, the file \
                     holds {}",
                    h.shape,
                    len.saturating_sub(header_bytes)
                ),
            ));
        }
        // SAFETY: the map is read-only; the file must not be truncated while training reads
        // it (as with any memory-mapped data loader).
        let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        Ok(MappedNpy {
            path: path.to_path_buf(),
            map,
            offset: header_bytes as usize,
            dtype: h.dtype,
            big_endian: h.big_endian,
            shape: h.shape,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The array's shape `(N, …)`.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The number of rows N.
    pub fn rows(&self) -> usize {
        self.shape[0]
    }

    /// Values per row.
    pub fn row_len(&self) -> usize {
        self.shape[1..].iter().product()
    }

    /// Converts row `row` (`< N`) to f32 into `out` (`row_len` values).
    pub fn read_row(&self, row: usize, out: &mut [f32]) {
        let w = self.dtype.size_in_bytes();
        let per = self.row_len();
        let start = self.offset + row * per * w;
        decode_f32(
            self.dtype,
            self.big_endian,
            &self.map[start..start + per * w],
            out,
        );
    }
}

/// Converts packed elements of `dtype` (either byte order) to f32.
///
/// The element type is matched once per call (not per element), so that the loop over the
/// elements compiles to straight conversions.
pub fn decode_f32(dtype: DType, big_endian: bool, bytes: &[u8], out: &mut [f32]) {
    fn each<const W: usize>(bytes: &[u8], big: bool, out: &mut [f32], f: impl Fn([u8; W]) -> f32) {
        for (o, s) in out.iter_mut().zip(bytes.chunks_exact(W)) {
            let mut b: [u8; W] = s.try_into().expect("chunks of W bytes");
            if big {
                b.reverse();
            }
            *o = f(b);
        }
    }
    let big = big_endian;
    match dtype {
        DType::Pred | DType::U8 => out.iter_mut().zip(bytes).for_each(|(o, &b)| *o = b as f32),
        DType::I32 => each(bytes, big, out, |b| i32::from_le_bytes(b) as f32),
        DType::U32 => each(bytes, big, out, |b| u32::from_le_bytes(b) as f32),
        DType::I64 => each(bytes, big, out, |b| i64::from_le_bytes(b) as f32),
        DType::U64 => each(bytes, big, out, |b| u64::from_le_bytes(b) as f32),
        DType::F16 => each(bytes, big, out, |b| half::f16::from_le_bytes(b).to_f32()),
        DType::BF16 => each(bytes, big, out, |b| half::bf16::from_le_bytes(b).to_f32()),
        DType::F32 => each(bytes, big, out, f32::from_le_bytes),
        DType::F64 => each(bytes, big, out, |b| f64::from_le_bytes(b) as f32),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_every_type_in_both_byte_orders() {
        let cases: [(DType, Vec<u8>, f32); 9] = [
            (DType::U8, vec![200], 200.0),
            (DType::Pred, vec![1], 1.0),
            (DType::I32, (-7i32).to_le_bytes().to_vec(), -7.0),
            (DType::U32, 70_000u32.to_le_bytes().to_vec(), 70_000.0),
            (DType::I64, (-3i64).to_le_bytes().to_vec(), -3.0),
            (DType::U64, 5u64.to_le_bytes().to_vec(), 5.0),
            (
                DType::F16,
                half::f16::from_f32(-1.5).to_le_bytes().to_vec(),
                -1.5,
            ),
            (
                DType::BF16,
                half::bf16::from_f32(0.25).to_le_bytes().to_vec(),
                0.25,
            ),
            (DType::F64, 2.5f64.to_le_bytes().to_vec(), 2.5),
        ];
        for (dtype, le, want) in cases {
            let two: Vec<u8> = le.iter().chain(&le).copied().collect();
            let mut out = [0f32; 2];
            decode_f32(dtype, false, &two, &mut out);
            assert_eq!(out, [want; 2], "{dtype} little-endian");
            let be: Vec<u8> = two
                .chunks_exact(le.len())
                .flat_map(|c| c.iter().rev().copied())
                .collect();
            decode_f32(dtype, true, &be, &mut out);
            assert_eq!(out, [want; 2], "{dtype} big-endian");
        }
        let mut out = [0f32; 1];
        decode_f32(DType::F32, true, &3.75f32.to_be_bytes(), &mut out);
        assert_eq!(out, [3.75]);
    }
}
