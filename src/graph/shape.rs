//! Static tensor types: dimensions plus element type, and NumPy-style broadcasting.

use std::fmt;

use crate::dtype::DType;
use crate::error::{Error, Result};

/// The static type of a traced tensor: its dimensions and its element type.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Shape {
    /// Dimension sizes, outermost first (row-major).
    pub dims: Vec<usize>,
    /// Element type.
    pub dtype: DType,
}

impl Shape {
    /// A shape with the given dimensions and element type.
    pub fn new(dims: impl Into<Vec<usize>>, dtype: DType) -> Self {
        Shape {
            dims: dims.into(),
            dtype,
        }
    }

    /// A rank-0 shape.
    pub fn scalar(dtype: DType) -> Self {
        Shape::new(Vec::new(), dtype)
    }

    /// Number of dimensions.
    pub fn rank(&self) -> usize {
        self.dims.len()
    }

    /// Number of elements (1 for a scalar).
    pub fn elem_count(&self) -> usize {
        self.dims.iter().product()
    }

    /// The same dimensions with another element type.
    pub fn with_dtype(&self, dtype: DType) -> Shape {
        Shape::new(self.dims.clone(), dtype)
    }

    /// The same element type with other dimensions.
    pub fn with_dims(&self, dims: impl Into<Vec<usize>>) -> Shape {
        Shape::new(dims, self.dtype)
    }

    /// The MLIR tensor type, e.g. `tensor<2x3xf32>` or `tensor<f32>`.
    pub fn mlir(&self) -> String {
        let mut s = String::from("tensor<");
        for d in &self.dims {
            s.push_str(&d.to_string());
            s.push('x');
        }
        s.push_str(self.dtype.mlir_name());
        s.push('>');
        s
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{:?}", self.dtype, self.dims)
    }
}

/// The NumPy broadcast of two dimension lists (trailing dimensions aligned; a size-1
/// dimension stretches), or a shape error naming `op` and both shapes.
pub fn broadcast_dims(op: &'static str, a: &Shape, b: &Shape) -> Result<Vec<usize>> {
    let rank = a.rank().max(b.rank());
    let mut out = vec![0; rank];
    for (i, o) in out.iter_mut().enumerate() {
        let da = if i < rank - a.rank() {
            1
        } else {
            a.dims[i - (rank - a.rank())]
        };
        let db = if i < rank - b.rank() {
            1
        } else {
            b.dims[i - (rank - b.rank())]
        };
        *o = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return Err(Error::ShapeMismatch {
                op,
                lhs: a.to_string(),
                rhs: b.to_string(),
                msg: format!(
                    "dimension {i} of the broadcast result: sizes {da} and {db} differ and neither is 1"
                ),
            });
        };
    }
    Ok(out)
}

/// Normalises a possibly negative axis (`-1` is the last) against `rank`.
pub fn axis(op: &'static str, shape: &Shape, axis: isize) -> Result<usize> {
    let r = shape.rank() as isize;
    let a = if axis < 0 { axis + r } else { axis };
    if a < 0 || a >= r {
        return Err(Error::InvalidOp {
            op,
            msg: format!("axis {axis} is out of range for {shape} (rank {r})"),
        });
    }
    Ok(a as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_follows_numpy() {
        let a = Shape::new([3, 1, 5], DType::F32);
        let b = Shape::new([4, 1], DType::F32);
        assert_eq!(broadcast_dims("add", &a, &b).unwrap(), vec![3, 4, 5]);
        let c = Shape::new([2], DType::F32);
        let e = broadcast_dims("add", &a, &c).unwrap_err().to_string();
        assert!(
            e.contains("add") && e.contains("f32[3, 1, 5]") && e.contains("f32[2]"),
            "{e}"
        );
        assert_eq!(Shape::new([2, 3], DType::F32).mlir(), "tensor<2x3xf32>");
        assert_eq!(Shape::scalar(DType::U64).mlir(), "tensor<ui64>");
    }
}
