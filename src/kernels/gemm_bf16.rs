//! TEMPORARY naive stand-in (replaced by the helper's kernel at merge).
use crate::{Error, Result};

/// A read-only f32 matrix: element (i, j) is data[i * row_stride + j * col_stride].
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a> {
    /// Elements.
    pub data: &'a [f32],
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// Row stride.
    pub row_stride: usize,
    /// Column stride.
    pub col_stride: usize,
}

impl<'a> MatRef<'a> {
    /// Row-major view.
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Result<Self> {
        if data.len() != rows * cols {
            return Err(Error::msg("bad len"));
        }
        Ok(MatRef {
            data,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        })
    }
    /// Transposed view.
    pub fn t(self) -> Self {
        MatRef {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }
}

fn r(x: f32) -> f32 {
    half::bf16::from_f32(x).to_f32()
}

/// Naive product.
pub fn matmul_bf16(a: MatRef, b: MatRef, c: &mut [f32]) -> Result<()> {
    if a.cols != b.rows || c.len() != a.rows * b.cols {
        return Err(Error::msg("bad shapes"));
    }
    for i in 0..a.rows {
        for j in 0..b.cols {
            let mut s = 0f32;
            for k in 0..a.cols {
                s += r(a.data[i * a.row_stride + k * a.col_stride])
                    * r(b.data[k * b.row_stride + j * b.col_stride]);
            }
            c[i * b.cols + j] = s;
        }
    }
    Ok(())
}
