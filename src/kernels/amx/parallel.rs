//! The product shared by several threads: B (and a short A) packed once by pack jobs shared
//! out, then strips of 32 rows of C handed to whichever thread is free. Each C element is
//! summed by the same kernel in the same order as on one thread, so results are bit-identical.

use super::ParallelFor;
use super::pack::{Route, Src, TileRange, asrc_rows, pack_tiles, sources};
use super::panel::{ATiles, run_panel};
use super::tiles::{SCRATCH_A, SHARED, Tile, configure_tiles, release_tiles, with_tiles};
use crate::kernels::gemm_bf16::MatRef;
use std::sync::Mutex;

/// Rows of A per task of [`matmul_parallel`] (two tile rows, the kernels' height).
const TASK_ROWS: usize = 32;

/// [`matmul_parallel`] packs all of A up front when it has at most this many rows (it then
/// stays in L2 beside B); taller A is packed 32 rows at a time by the tasks.
const PACK_A_ROWS: usize = 512;

/// Pack jobs per operand in [`matmul_parallel`] (enough for two or three threads to share).
const PACK_JOBS: usize = 4;

/// The tiles of an operand of `nstrips` strips split into about [`PACK_JOBS`] jobs: by
/// strips where rows run along k (each job reads whole rows), by k steps where they run
/// along the strips (each job reads whole rows too).
fn pack_jobs(src: &Src, nstrips: usize, ks: usize) -> Vec<TileRange> {
    let split = |n: usize| {
        let per = n.div_ceil(PACK_JOBS).max(1);
        (0..n).step_by(per).map(move |f| (f, per.min(n - f)))
    };
    if src.route() == Route::OuterContig {
        split(ks)
            .map(|(s_first, nsteps)| TileRange {
                t_first: 0,
                ntiles: nstrips,
                s_first,
                nsteps,
                ks,
            })
            .collect()
    } else {
        split(nstrips)
            .map(|(t_first, ntiles)| TileRange::strips(t_first, ntiles, ks))
            .collect()
    }
}

/// A pointer to packed tiles that pack jobs on several threads write (each its own tiles).
#[derive(Clone, Copy)]
struct TilesPtr(*mut Tile);
// SAFETY: the jobs sharing it write disjoint tiles, and nothing reads them until all jobs
// are done (the parallel for returns).
unsafe impl Send for TilesPtr {}
// SAFETY: as above.
unsafe impl Sync for TilesPtr {}

/// See [`super::matmul_parallel`].
pub(super) fn matmul_parallel(
    a: MatRef,
    b: &[MatRef],
    c: &mut [f32],
    par: ParallelFor,
) -> std::result::Result<(), String> {
    let srcs: Vec<(Src, Src)> = b.iter().map(|bp| sources(&a, bp)).collect();
    let asrc = srcs[0].0;
    let (m, k, n) = (a.rows, a.cols, b.iter().map(|bp| bp.cols).sum::<usize>());
    let ks = k.div_ceil(32);
    let nt = n.div_ceil(16);
    let mt = if m <= PACK_A_ROWS { m.div_ceil(16) } else { 0 };
    with_tiles(&SHARED, (nt + mt) * ks, |buf| {
        let (bt, at_all) = buf.split_at_mut(nt * ks);
        // Phase 1: pack B's blocks (and A when it is short), shared out in jobs. Block p
        // starts at tile strip t0 (its column / 16).
        let ap = TilesPtr(at_all.as_mut_ptr());
        let mut jobs: Vec<(&Src, TileRange, bool, TilesPtr)> = Vec::new();
        let mut t0 = 0;
        for (_, bsrc) in &srcs {
            // SAFETY: t0 * ks + this block's tiles stay inside the nt * ks tiles of `bt`.
            let bp = TilesPtr(unsafe { bt.as_mut_ptr().add(t0 * ks) });
            let bnt = bsrc.outer.div_ceil(16);
            jobs.extend(
                pack_jobs(bsrc, bnt, ks)
                    .into_iter()
                    .map(|r| (bsrc, r, true, bp)),
            );
            t0 += bnt;
        }
        if mt > 0 {
            jobs.extend(
                pack_jobs(&asrc, mt, ks)
                    .into_iter()
                    .map(|r| (&asrc, r, false, ap)),
            );
        }
        par(jobs.len(), &|j| {
            let (src, range, kp_major, out) = jobs[j];
            // SAFETY: the caller checked bounds and `available` (AVX-512 present); the
            // ranges lie inside the operands' strips and steps, the jobs' tiles are
            // disjoint, and the buffers hold (nt + mt) * ks tiles.
            unsafe { pack_tiles(src, range, kp_major, out.0.add(range.t_first * ks)) };
        })?;
        let (bt, at_all): (&[Tile], &[Tile]) = (bt, at_all);
        // Phase 2: strips of 32 rows of C, from all of B and those rows of A.
        let blocks: Vec<Mutex<&mut [f32]>> = c.chunks_mut(TASK_ROWS * n).map(Mutex::new).collect();
        par(blocks.len(), &|i| {
            let r0 = i * TASK_ROWS;
            let rows = (m - r0).min(TASK_ROWS);
            let mut block = blocks[i].lock().unwrap_or_else(|p| p.into_inner());
            let mut run = |a: ATiles| {
                // SAFETY: AMX usable (caller); `block` has rows * n elements; `bt` holds
                // nt * ks packed tiles; `a` gives the rows' tiles (see ATiles).
                unsafe {
                    configure_tiles();
                    run_panel(a, rows, n, &mut block, ks, 0, nt, bt);
                    release_tiles();
                }
            };
            if mt > 0 {
                run(ATiles::Packed(&at_all[(r0 / 16) * ks..]));
            } else {
                let src = asrc_rows(&asrc, r0, rows);
                with_tiles(&SCRATCH_A, 2 * ks, |at| run(ATiles::Pack(&src, at)));
            }
        })
    })
}
