//! Single-threaded bf16 matrix product on f32 views: AMX tiles where the CPU has them, a portable loop elsewhere.
//!
//! `c = round_bf16(a) · round_bf16(b)`: the operands are rounded to bfloat16 (round to nearest,
//! ties to even, as XLA's `convert`), products and sums are taken in f32. The AMX path
//! ([`super::amx`]) packs the operands into tiles and runs `tdpbf16ps`; the portable path rounds
//! with [`half::bf16::from_f32`] and sums in f32 with plain loops. The two paths agree to f32
//! rounding of the sums (their summation orders differ; AMX also treats bf16 denormals, below
//! 1.2e-38, as zero), not bit for bit.

use crate::{Error, Result};

/// A read-only f32 matrix: element (i, j) is `data[i * row_stride + j * col_stride]`.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a> {
    /// The elements (the view may use only some of them).
    pub data: &'a [f32],
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// Distance in `data` between (i, j) and (i + 1, j).
    pub row_stride: usize,
    /// Distance in `data` between (i, j) and (i, j + 1).
    pub col_stride: usize,
}

impl<'a> MatRef<'a> {
    /// Row-major view of `data` as `rows × cols`; Err if `data.len() != rows * cols`.
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Result<Self> {
        if rows.checked_mul(cols) != Some(data.len()) {
            return Err(Error::InvalidOp {
                op: "MatRef::row_major",
                msg: format!(
                    "a {rows}x{cols} row-major matrix needs {rows}*{cols} elements, but the slice has {}; pass the matrix's real shape",
                    data.len()
                ),
            });
        }
        Ok(MatRef {
            data,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        })
    }

    /// The transposed view (swaps rows/cols and the strides); no data moves.
    pub fn t(self) -> Self {
        MatRef {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }

    /// Element (i, j) (panics if out of range; for tests and small reference code).
    pub fn at(&self, i: usize, j: usize) -> f32 {
        self.data[i * self.row_stride + j * self.col_stride]
    }

    /// Err unless every element (i, j) of the view lies inside `data`.
    pub fn check(&self, name: &str) -> Result<()> {
        if self.rows == 0 || self.cols == 0 {
            return Ok(());
        }
        let last = (self.rows - 1).checked_mul(self.row_stride).and_then(|r| {
            (self.cols - 1)
                .checked_mul(self.col_stride)
                .and_then(|c| r.checked_add(c))
        });
        match last {
            Some(last) if last < self.data.len() => Ok(()),
            _ => Err(Error::InvalidOp {
                op: "matmul_bf16",
                msg: format!(
                    "operand {name}: a {}x{} view with strides ({}, {}) reaches past its {} elements; fix the shape or strides of the view",
                    self.rows,
                    self.cols,
                    self.row_stride,
                    self.col_stride,
                    self.data.len()
                ),
            }),
        }
    }
}

/// Which implementation [`matmul_bf16_with`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// AMX when [`super::amx::available`], else the portable loop (what [`matmul_bf16`] does).
    Auto,
    /// AMX tiles; Err if [`super::amx::available`] is false.
    Amx,
    /// The portable loop, on any CPU.
    Portable,
}

/// `c` (`a.rows × b.cols`, row-major, overwritten) = round_bf16(a) · round_bf16(b), products and
/// sums in f32. Operands are rounded to bfloat16 with round-to-nearest-even (as XLA's convert).
/// Uses AMX when [`super::amx::available`], else a portable fallback with the same rounding.
/// Err (never panic) if `a.cols != b.rows`, `c.len() != a.rows * b.cols`, or a view reaches
/// past its data.
pub fn matmul_bf16(a: MatRef, b: MatRef, c: &mut [f32]) -> Result<()> {
    matmul_bf16_with(a, b, c, Backend::Auto)
}

/// [`matmul_bf16`] with the implementation chosen by `backend` (to compare the paths).
pub fn matmul_bf16_with(a: MatRef, b: MatRef, c: &mut [f32], backend: Backend) -> Result<()> {
    check_shapes(&a, &b, c)?;
    let use_amx = match backend {
        Backend::Auto => super::amx::available(),
        Backend::Amx => {
            if !super::amx::available() {
                return Err(Error::msg(
                    "matmul_bf16: the AMX backend was requested but AMX bf16 is not usable in this process (CPU without AMX, OS without tile state, or SBGM_XLA_NO_AMX set); use Backend::Auto or Backend::Portable",
                ));
            }
            true
        }
        Backend::Portable => false,
    };
    if a.cols == 0 {
        c.fill(0.0);
        return Ok(());
    }
    if c.is_empty() {
        return Ok(());
    }
    if use_amx {
        super::amx::matmul(a, b, c)
    } else {
        portable(a, b, c);
        Ok(())
    }
}

/// The checks shared by both paths: inner sizes agree, `c` has the product's size, the views
/// stay inside their data.
pub(crate) fn check_shapes(a: &MatRef, b: &MatRef, c: &[f32]) -> Result<()> {
    check_operands(a, b)?;
    if a.rows.checked_mul(b.cols) != Some(c.len()) {
        return Err(Error::InvalidOp {
            op: "matmul_bf16",
            msg: format!(
                "the output has {} elements but the product is {}x{}; pass a slice of a.rows*b.cols elements",
                c.len(),
                a.rows,
                b.cols
            ),
        });
    }
    Ok(())
}

/// The operand half of [`check_shapes`]: inner sizes agree and both views stay inside their
/// data.
pub(crate) fn check_operands(a: &MatRef, b: &MatRef) -> Result<()> {
    if a.cols != b.rows {
        return Err(Error::ShapeMismatch {
            op: "matmul_bf16",
            lhs: format!("{}x{}", a.rows, a.cols),
            rhs: format!("{}x{}", b.rows, b.cols),
            msg: "the columns of a must equal the rows of b".into(),
        });
    }
    a.check("a")?;
    b.check("b")
}

/// `x` rounded to bfloat16 (nearest, ties to even) and back to f32.
pub fn round_bf16(x: f32) -> f32 {
    half::bf16::from_f32(x).to_f32()
}

/// The portable path: round both operands into row-major scratch, then `c[i, :] += a[i, k] *
/// b[k, :]` over k (contiguous, so the compiler vectorises the inner loop).
fn portable(a: MatRef, b: MatRef, c: &mut [f32]) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    let ar: Vec<f32> = (0..m)
        .flat_map(|i| (0..k).map(move |p| round_bf16(a.at(i, p))))
        .collect();
    let br: Vec<f32> = (0..k)
        .flat_map(|p| (0..n).map(move |j| round_bf16(b.at(p, j))))
        .collect();
    for (crow, arow) in c.chunks_exact_mut(n).zip(ar.chunks_exact(k)) {
        crow.fill(0.0);
        for (&av, brow) in arow.iter().zip(br.chunks_exact(n)) {
            for (cv, &bv) in crow.iter_mut().zip(brow) {
                *cv += av * bv;
            }
        }
    }
}
