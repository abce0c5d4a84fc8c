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
pub fn decode_f32(dtype: DType, big_endian: bool, bytes: &[u8], out: &mut [f32]) {
    let w = dtype.size_in_bytes();
    for (o, s) in out.iter_mut().zip(bytes.chunks_exact(w)) {
        let mut b = [0u8; 8];
        b[..w].copy_from_slice(s);
        if big_endian {
            b[..w].reverse();
        }
        *o = match dtype {
            DType::Pred | DType::U8 => b[0] as f32,
            DType::I32 => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32,
            DType::U32 => u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32,
            DType::I64 => i64::from_le_bytes(b) as f32,
            DType::U64 => u64::from_le_bytes(b) as f32,
            DType::F16 => half::f16::from_le_bytes([b[0], b[1]]).to_f32(),
            DType::BF16 => half::bf16::from_le_bytes([b[0], b[1]]).to_f32(),
            DType::F32 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            DType::F64 => f64::from_le_bytes(b) as f32,
        };
    }
}
