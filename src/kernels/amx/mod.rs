//! Intel AMX bf16 tiles on x86_64: detection, operand packing (AVX-512 BF16) and the tile kernels
//! behind `matmul_bf16`.
//!
//! The product `C = A · B` (A: M×K, B: K×N, both f32 views with any strides) runs in three steps:
//! - B is packed, one panel of columns at a time, into 1 KiB tiles in the VNNI layout that
//!   `tdpbf16ps` takes (16 rows of bf16 pairs (k, k+1) × 16 columns), rounding f32 to bf16 with
//!   `vcvtne2ps2bf16` (round to nearest even; denormals become zero, as AMX treats them anyway);
//! - A is packed 32 rows at a time into 16 × 32 bf16 tiles;
//! - a kernel keeps 2×2 C tiles (16×16 f32 each) in tile registers over the whole K loop and
//!   stores them into a small 32×32 staging block, copied into C with vector moves
//!   (`tilestored` straight into C is slow when C's row stride is a large power of two, and the
//!   block also handles the ragged edges).
//!
//! Sizes that are not multiples of the tile are zero-padded inside the packing; loads at the edges
//! are masked, so nothing outside the views is read. Each operand is read through the fastest of
//! three routes: K contiguous (rows of 32 values), the other dimension contiguous (pairs of rows,
//! interleaved), or a scalar gather for other strides; a 16×16 transpose of 32-bit bf16 pairs
//! turns one layout into the other where the tile needs it.
//!
//! Shared by several threads (`matmul_parallel`, what the XLA custom call uses for large
//! products): B, and A when it has at most 512 rows, are packed once, in jobs split so that each
//! reads its part of the operand in storage order (whole rows where the rows run along the
//! outer index), which is what matters when the operands come cold from L3; then strips of 32
//! rows of C go to whichever thread is free. Each C element is summed by the
//! same kernel in the same order as on one thread, so the results are bit-identical.
//!
//! Tile configuration is per thread, so every call loads it and ends with `tilerelease`: XLA may
//! call from any of its threads. Scratch buffers are per thread and reused across calls.
//!
//! Files: `detect` (may this process use AMX), `tiles` (tile type, configuration, scratch
//! buffers), `pack` (f32 views into bf16 tiles), `micro` (the `tdpbf16ps` kernels), `panel`
//! (the single-threaded product and the loop over C both products share) and `parallel` (the
//! product shared by several threads).

mod detect;
#[cfg(target_arch = "x86_64")]
mod micro;
#[cfg(target_arch = "x86_64")]
mod pack;
#[cfg(target_arch = "x86_64")]
mod panel;
#[cfg(target_arch = "x86_64")]
mod parallel;
#[cfg(test)]
mod tests;
#[cfg(target_arch = "x86_64")]
mod tiles;

pub use detect::available;

use super::gemm_bf16::MatRef;
use crate::{Error, Result};
#[cfg(target_arch = "x86_64")]
use {panel::matmul as tile_matmul, parallel::matmul_parallel as shared_tile_matmul};

/// `c = round_bf16(a) · round_bf16(b)` on AMX tiles (see the module doc). Checks the shapes
/// again (cheap) and returns Err if AMX is not [`available`].
pub(crate) fn matmul(a: MatRef, b: MatRef, c: &mut [f32]) -> Result<()> {
    super::gemm_bf16::check_shapes(&a, &b, c)?;
    if !available() {
        return Err(Error::msg(
            "matmul_bf16: AMX is not available in this process; use the portable backend",
        ));
    }
    if a.cols == 0 {
        c.fill(0.0);
        return Ok(());
    }
    if c.is_empty() {
        return Ok(());
    }
    tile_matmul(a, b, c);
    Ok(())
}

/// A parallel for: runs `work(i)` once for every `i < n`, possibly on several threads, and
/// returns after all have run (Err with a message if one failed).
pub(crate) type ParallelFor<'p> =
    &'p dyn Fn(usize, &(dyn Fn(usize) + Sync)) -> std::result::Result<(), String>;

/// [`matmul`] with the work shared through `par`: B (and A, when it has at most 512 rows) is
/// packed once by pack jobs shared out, then strips of 32 rows of C are computed from it (taller
/// A is packed strip by strip there). B is given as column blocks `b[0] | b[1] | ...` (one
/// block for a plain product; several let a product read a concatenation from its parts), all
/// with A's columns as rows and all but the last a multiple of 16 columns wide. The caller has
/// checked shapes and [`available`]; `k`, `m` and `n` are positive.
pub(crate) fn matmul_parallel(
    a: MatRef,
    b: &[MatRef],
    c: &mut [f32],
    par: ParallelFor,
) -> std::result::Result<(), String> {
    let ragged = b
        .split_last()
        .is_some_and(|(_, first)| first.iter().any(|p| p.cols % 16 != 0));
    if b.is_empty() || ragged || b.iter().any(|p| p.rows != a.cols) {
        return Err(format!(
            "matmul_parallel: B's blocks must have {} rows each and all but the last a multiple \
             of 16 columns",
            a.cols
        ));
    }
    shared_tile_matmul(a, b, c, par)
}

/// Stand-ins outside x86_64, never called: [`available`] is false there.
#[cfg(not(target_arch = "x86_64"))]
fn tile_matmul(_a: MatRef, _b: MatRef, _c: &mut [f32]) {}

/// See [`tile_matmul`].
#[cfg(not(target_arch = "x86_64"))]
fn shared_tile_matmul(
    _a: MatRef,
    _b: &[MatRef],
    _c: &mut [f32],
    _par: ParallelFor,
) -> std::result::Result<(), String> {
    Err("AMX is not available on this architecture".into())
}
