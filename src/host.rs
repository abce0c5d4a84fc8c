//! Host arrays of any element type: the currency between files (`.npy`, safetensors),
//! device buffers and `ndarray`.

use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use ndarray::{ArrayD, IxDyn};

/// A dense, row-major array on the host whose element type is known at run time.
#[derive(Clone, Debug, PartialEq)]
pub struct HostArray {
    dtype: DType,
    shape: Vec<usize>,
    /// Little-endian element bytes in row-major (C) order.
    bytes: Vec<u8>,
}

impl HostArray {
    /// An array from raw little-endian bytes; the byte count must match `dtype` and `shape`.
    pub fn from_bytes(dtype: DType, shape: Vec<usize>, bytes: Vec<u8>) -> Result<Self> {
        let expected = shape.iter().product::<usize>() * dtype.size_in_bytes();
        if bytes.len() != expected {
            return Err(Error::msg(format!(
                "a {dtype} array of shape {shape:?} needs {expected} bytes, got {}",
                bytes.len()
            )));
        }
        Ok(HostArray {
            dtype,
            shape,
            bytes,
        })
    }

    /// An array from a flat vector in row-major order.
    pub fn from_vec<T: Element>(shape: Vec<usize>, data: Vec<T>) -> Result<Self> {
        let n: usize = shape.iter().product();
        if data.len() != n {
            return Err(Error::msg(format!(
                "shape {shape:?} has {n} elements, got {} values",
                data.len()
            )));
        }
        Ok(HostArray {
            dtype: T::DTYPE,
            shape,
            bytes: elements_to_bytes(&data),
        })
    }

    /// An array from an `ndarray` array (any memory layout).
    pub fn from_ndarray<T: Element>(a: &ArrayD<T>) -> Self {
        let data: Vec<T> = a.iter().copied().collect();
        HostArray {
            dtype: T::DTYPE,
            shape: a.shape().to_vec(),
            bytes: elements_to_bytes(&data),
        }
    }

    /// A scalar (rank-0) array.
    pub fn scalar<T: Element>(x: T) -> Self {
        HostArray {
            dtype: T::DTYPE,
            shape: vec![],
            bytes: elements_to_bytes(&[x]),
        }
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The dimensions.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The raw little-endian bytes, row-major.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Consumes the array, returning its bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// The elements as a flat vector; `T` must be the array's element type.
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>> {
        self.check_dtype(T::DTYPE)?;
        let n = self.len();
        let mut out = vec![T::default(); n];
        // SAFETY: `out` has exactly `n * size_of::<T>()` bytes, every `Element` is plain old
        // data whose every bit pattern we accept (bool bytes come from valid bools or the
        // device's pred, which is 0 or 1), and the regions do not overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.bytes.as_ptr(),
                out.as_mut_ptr() as *mut u8,
                self.bytes.len(),
            );
        }
        Ok(out)
    }

    /// The array as an `ndarray` array; `T` must be the array's element type.
    pub fn to_ndarray<T: Element>(&self) -> Result<ArrayD<T>> {
        let v = self.to_vec::<T>()?;
        ArrayD::from_shape_vec(IxDyn(&self.shape), v).map_err(|e| Error::msg(e.to_string()))
    }

    /// The elements converted to `f64` (any numeric element type).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        let b = &self.bytes;
        let n = self.len();
        let w = self.dtype.size_in_bytes();
        (0..n)
            .map(|i| {
                let s = &b[i * w..(i + 1) * w];
                match self.dtype {
                    DType::Pred | DType::U8 => s[0] as f64,
                    DType::I32 => i32::from_le_bytes(s.try_into().unwrap()) as f64,
                    DType::I64 => i64::from_le_bytes(s.try_into().unwrap()) as f64,
                    DType::U32 => u32::from_le_bytes(s.try_into().unwrap()) as f64,
                    DType::U64 => u64::from_le_bytes(s.try_into().unwrap()) as f64,
                    DType::F16 => half::f16::from_le_bytes(s.try_into().unwrap()).to_f64(),
                    DType::BF16 => half::bf16::from_le_bytes(s.try_into().unwrap()).to_f64(),
                    DType::F32 => f32::from_le_bytes(s.try_into().unwrap()) as f64,
                    DType::F64 => f64::from_le_bytes(s.try_into().unwrap()),
                }
            })
            .collect()
    }

    /// An error unless the element type is `want`.
    pub fn check_dtype(&self, want: DType) -> Result<()> {
        if self.dtype != want {
            return Err(Error::msg(format!(
                "expected a {want} array, got {} of shape {:?}",
                self.dtype, self.shape
            )));
        }
        Ok(())
    }
}

fn elements_to_bytes<T: Element>(data: &[T]) -> Vec<u8> {
    let n = std::mem::size_of_val(data);
    let mut out = vec![0u8; n];
    // SAFETY: `Element` types are plain old data; `out` has exactly `n` bytes.
    unsafe { std::ptr::copy_nonoverlapping(data.as_ptr() as *const u8, out.as_mut_ptr(), n) };
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_ndarray() {
        let a = ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![1.0f32, 2., 3., 4., 5., 6.]).unwrap();
        let h = HostArray::from_ndarray(&a.t().to_owned().into_dyn());
        assert_eq!(h.shape(), &[3, 2]);
        assert_eq!(h.to_vec::<f32>().unwrap(), vec![1., 4., 2., 5., 3., 6.]);
        assert!(h.to_vec::<f64>().is_err());
        assert!(HostArray::from_bytes(DType::F32, vec![2], vec![0; 7]).is_err());
        assert_eq!(HostArray::scalar(true).to_f64_vec(), vec![1.0]);
    }
}
