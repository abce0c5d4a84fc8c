//! The single-threaded product and the loop both products share: C strip by strip and panel by
//! panel through the micro-kernels, each result block staged and copied into C.

use super::micro::multiply_tiles;
use super::pack::{Src, pack_strips, sources};
use super::tiles::{SCRATCH_A, SCRATCH_B, Tile, configure_tiles, release_tiles, with_tiles};
use crate::kernels::gemm_bf16::MatRef;

/// Packed B panels are kept to about this size (they stay in L2 while all of A streams by).
const PANEL_BYTES: usize = 1 << 20;

/// The product; the caller has checked shapes, bounds (every view element is inside its
/// data), `c.len() == m * n`, m, n, k > 0, and [`super::available`].
pub(super) fn matmul(a: MatRef, b: MatRef, c: &mut [f32]) {
    let (k, n) = (a.cols, b.cols);
    let (asrc, bsrc) = sources(&a, &b);
    let ks = k.div_ceil(32);
    let nt = n.div_ceil(16);
    let panel_nt = ((PANEL_BYTES / (ks * 1024)) & !1).max(2).min(nt);
    with_tiles(&SCRATCH_A, 2 * ks, |at| {
        with_tiles(&SCRATCH_B, panel_nt * ks, |bt| {
            // SAFETY: AMX and AVX-512 F/BW/BF16 are usable (the caller checked `available`,
            // which includes the OS permission); the views are in bounds and `c` has m*n
            // elements (checked by the caller); the scratch buffers have the sizes `run`
            // uses.
            unsafe { run(&asrc, &bsrc, c, ks, panel_nt, at, bt) };
        })
    });
}

/// Where [`run_panel`] gets A's tiles.
pub(super) enum ATiles<'s, 'a> {
    /// Packs each strip of 32 rows of this source into the scratch tiles (2 * ks).
    Pack(&'s Src<'s>, &'a mut [Tile]),
    /// All strips already packed: strip i's tiles at `i * ks`.
    Packed(&'a [Tile]),
}

/// A 32×32 f32 block of C, where the kernels store their tiles.
#[repr(C, align(64))]
struct StageBlock([f32; 1024]);

/// Safety: as [`matmul`]'s contract, plus `at.len() >= 2 * ks` and `bt.len() >= panel_nt * ks`.
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
unsafe fn run(
    asrc: &Src,
    bsrc: &Src,
    c: &mut [f32],
    ks: usize,
    panel_nt: usize,
    at: &mut [Tile],
    bt: &mut [Tile],
) {
    let n = bsrc.outer;
    let nt = n.div_ceil(16);
    // SAFETY: AMX is usable (caller).
    unsafe { configure_tiles() };
    let mut p0 = 0;
    while p0 < nt {
        let pn = (nt - p0).min(panel_nt);
        // SAFETY: bounds of `bsrc` checked by the caller; AVX-512 present; `bt` holds
        // panel_nt * ks >= pn * ks tiles; tiles configured above.
        unsafe {
            pack_strips(bsrc, p0, pn, ks, true, bt);
            run_panel(ATiles::Pack(asrc, at), asrc.outer, n, c, ks, p0, pn, bt);
        }
        p0 += pn;
    }
    // SAFETY: ends the tile session started above.
    unsafe { release_tiles() };
}

/// C's columns `16 * p0 .. 16 * (p0 + pn)` (of `n`; C is `m × n`, row-major) from the
/// packed B strips `bt[0 .. pn * ks]` and A's tiles from `a`.
///
/// Safety: tiles configured; AVX-512 present; with `ATiles::Pack`, the elements of the
/// source inside its data, `m` its rows and at least 2 * ks scratch tiles; with
/// `ATiles::Packed`, m.div_ceil(16) * ks tiles; `c.len() == m * n`; `bt.len() >= pn * ks`.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
pub(super) unsafe fn run_panel(
    mut a: ATiles,
    m: usize,
    n: usize,
    c: &mut [f32],
    ks: usize,
    p0: usize,
    pn: usize,
    bt: &[Tile],
) {
    let mut stage = [StageBlock([0.0; 1024]), StageBlock([0.0; 1024])];
    let mut flip = 0;
    let mut i0 = 0;
    while i0 < m {
        let rt = if m - i0 > 16 { 2 } else { 1 };
        let a0 = match &mut a {
            ATiles::Pack(src, at) => {
                // SAFETY: as above, for the source and the scratch (2 * ks tiles).
                unsafe { pack_strips(src, i0 / 16, rt, ks, false, at) };
                at.as_ptr()
            }
            ATiles::Packed(all) => all[(i0 / 16) * ks..].as_ptr(),
        };
        let mut j = 0;
        while j < pn {
            let ct = if pn - j >= 2 { 2 } else { 1 };
            let j0 = (p0 + j) * 16;
            // C tiles go to a small staging block first (stride 128 bytes), then are
            // copied into C: `tilestored` straight into C is slow when C's row stride
            // is a large power of two (N = 256). Two blocks alternate so that the copy
            // of one overlaps the next kernel.
            flip ^= 1;
            let block = &mut stage[flip].0;
            let c0 = block.as_mut_ptr();
            let rows = (m - i0).min(16 * rt);
            let cols = (n - j0).min(16 * ct);
            let b0 = bt[j * ks..].as_ptr();
            // SAFETY: the packed tiles a0[0..rt*ks], b0[0..ct*ks] are in the scratch
            // buffers; C tiles rows 0..16*rt, cols 0..16*ct lie inside the 32×32
            // staging block (row stride 128 bytes); tiles are configured.
            unsafe { multiply_tiles(rt, ct, a0, b0, ks, c0, 128) };
            if cols == 32 {
                for r in 0..rows {
                    let dst: &mut [f32; 32] =
                        (&mut c[(i0 + r) * n + j0..][..32]).try_into().unwrap();
                    *dst = block[r * 32..][..32].try_into().unwrap();
                }
            } else {
                for r in 0..rows {
                    c[(i0 + r) * n + j0..][..cols].copy_from_slice(&block[r * 32..][..cols]);
                }
            }
            j += ct;
        }
        i0 += 16 * rt;
    }
}
