//! Intel AMX bf16 tiles on x86_64: detection, operand packing (AVX-512 BF16) and the tile kernels behind `matmul_bf16`.
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

use super::gemm_bf16::MatRef;
use crate::{Error, Result};
use std::sync::OnceLock;

/// Whether this process can run AMX bf16 tile instructions: CPUID (leaf 7: AMX-TILE, AMX-BF16;
/// also AVX-512 F/BW/BF16, used for packing), XCR0 tile state enabled by the OS (`xgetbv`), and
/// the Linux permission request (`arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`)
/// succeeded. Checked once per process (the permission is process-wide). The environment
/// variable `SBGM_XLA_NO_AMX` set to anything but empty or `0` forces false; it is read once, at
/// the first call, so set it before the process starts.
pub fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| !disabled_by_env() && imp::detect())
}

/// Whether `SBGM_XLA_NO_AMX` asks to leave AMX off.
fn disabled_by_env() -> bool {
    std::env::var_os("SBGM_XLA_NO_AMX").is_some_and(|v| !v.is_empty() && v != "0")
}

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
    imp::matmul(a, b, c);
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
    imp::matmul_parallel(a, b, c, par)
}

#[cfg(not(target_arch = "x86_64"))]
mod imp {
    use super::{MatRef, ParallelFor};

    /// Never called: [`super::available`] is false here.
    pub fn matmul_parallel(
        _a: MatRef,
        _b: &[MatRef],
        _c: &mut [f32],
        _par: ParallelFor,
    ) -> std::result::Result<(), String> {
        Err("AMX is not available on this architecture".into())
    }

    /// No AMX outside x86_64.
    pub fn detect() -> bool {
        false
    }

    /// Never called: [`super::available`] is false here.
    pub fn matmul(_a: MatRef, _b: MatRef, _c: &mut [f32]) {}
}

#[cfg(target_arch = "x86_64")]
mod imp {
    use super::{MatRef, ParallelFor};
    use std::arch::asm;
    use std::arch::x86_64::*;
    use std::cell::RefCell;
    use std::sync::Mutex;

    /// One tile's worth of packed operand: 16 rows of 64 bytes (32 bf16 or 16 bf16 pairs).
    #[repr(C, align(64))]
    #[derive(Clone, Copy)]
    struct Tile([u32; 256]);

    const ZERO_TILE: Tile = Tile([0; 256]);

    /// The `ldtilecfg` operand: palette 1; tmm0-3 C (16 × 16 f32), tmm4-5 A, tmm6-7 B (16 × 64 B).
    #[repr(C, align(64))]
    struct TileConfig {
        palette: u8,
        start_row: u8,
        reserved: [u8; 14],
        colsb: [u16; 16],
        rows: [u8; 16],
    }

    static CONFIG: TileConfig = TileConfig {
        palette: 1,
        start_row: 0,
        reserved: [0; 14],
        colsb: [64, 64, 64, 64, 64, 64, 64, 64, 0, 0, 0, 0, 0, 0, 0, 0],
        rows: [16, 16, 16, 16, 16, 16, 16, 16, 0, 0, 0, 0, 0, 0, 0, 0],
    };

    /// Packed B panels are kept to about this size (they stay in L2 while all of A streams by).
    const PANEL_BYTES: usize = 1 << 20;

    thread_local! {
        /// This thread's packed strip of A (2 × ks tiles), grown on demand and reused.
        static SCRATCH_A: RefCell<Vec<Tile>> = const { RefCell::new(Vec::new()) };
        /// This thread's packed panel of B, likewise.
        static SCRATCH_B: RefCell<Vec<Tile>> = const { RefCell::new(Vec::new()) };
        /// A and B packed by [`matmul_parallel`] on this (the calling) thread, read by all its
        /// tasks.
        static SHARED: RefCell<Vec<Tile>> = const { RefCell::new(Vec::new()) };
    }

    /// Runs `f` with `len` tiles of this thread's buffer `key` (a fresh buffer if that one is in
    /// use further up the stack).
    fn with_tiles<R>(
        key: &'static std::thread::LocalKey<RefCell<Vec<Tile>>>,
        len: usize,
        f: impl FnOnce(&mut [Tile]) -> R,
    ) -> R {
        key.with(|cell| {
            let mut fresh = Vec::new();
            let mut guard = cell.try_borrow_mut();
            let buf = match guard.as_deref_mut() {
                Ok(b) => b,
                Err(_) => &mut fresh,
            };
            if buf.len() < len {
                buf.resize(len, ZERO_TILE);
            }
            f(&mut buf[..len])
        })
    }

    /// Rows of A per task of [`matmul_parallel`] (two tile rows, the kernels' height).
    const TASK_ROWS: usize = 32;

    /// [`matmul_parallel`] packs all of A up front when it has at most this many rows (it then
    /// stays in L2 beside B); taller A is packed 32 rows at a time by the tasks.
    const PACK_A_ROWS: usize = 512;

    /// Pack jobs per operand in [`matmul_parallel`] (enough for two or three threads to share).
    const PACK_JOBS: usize = 4;

    /// The operand views of `C = A · B` as packing sources.
    fn sources<'a>(a: &MatRef<'a>, b: &MatRef<'a>) -> (Src<'a>, Src<'a>) {
        (
            Src {
                data: a.data,
                outer: a.rows,
                k: a.cols,
                so: a.row_stride,
                sk: a.col_stride,
            },
            Src {
                data: b.data,
                outer: b.cols,
                k: b.rows,
                so: b.col_stride,
                sk: b.row_stride,
            },
        )
    }

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
                .map(|(t_first, ntiles)| TileRange {
                    t_first,
                    ntiles,
                    s_first: 0,
                    nsteps: ks,
                    ks,
                })
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
    pub fn matmul_parallel(
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
            let blocks: Vec<Mutex<&mut [f32]>> =
                c.chunks_mut(TASK_ROWS * n).map(Mutex::new).collect();
            par(blocks.len(), &|i| {
                let r0 = i * TASK_ROWS;
                let rows = (m - r0).min(TASK_ROWS);
                let mut block = blocks[i].lock().unwrap_or_else(|p| p.into_inner());
                let mut run = |a: ATiles| {
                    // SAFETY: AMX usable (caller); `block` has rows * n elements; `bt` holds
                    // nt * ks packed tiles; `a` gives the rows' tiles (see ATiles).
                    unsafe {
                        asm!("ldtilecfg [{}]", in(reg) &CONFIG, options(nostack, readonly));
                        run_panel(a, rows, n, &mut block, ks, 0, nt, bt);
                        asm!("tilerelease", options(nostack, nomem));
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

    /// Where [`run_panel`] gets A's tiles.
    enum ATiles<'s, 'a> {
        /// Packs each strip of 32 rows of this source into the scratch tiles (2 * ks).
        Pack(&'s Src<'s>, &'a mut [Tile]),
        /// All strips already packed: strip i's tiles at `i * ks`.
        Packed(&'a [Tile]),
    }

    /// Rows `r0..r0 + rows` of an A source.
    fn asrc_rows<'a>(src: &Src<'a>, r0: usize, rows: usize) -> Src<'a> {
        Src {
            data: &src.data[(r0 * src.so).min(src.data.len())..],
            outer: rows,
            ..*src
        }
    }

    /// CPU, OS and permission checks (see [`super::available`]).
    pub fn detect() -> bool {
        // CPUID is always present on x86_64.
        let max_leaf = __cpuid(0).eax;
        if max_leaf < 7 {
            return false;
        }
        let osxsave = (__cpuid(1).ecx >> 27) & 1 == 1;
        let leaf7 = __cpuid_count(7, 0);
        let amx_bf16 = (leaf7.edx >> 22) & 1 == 1;
        let amx_tile = (leaf7.edx >> 24) & 1 == 1;
        if !(osxsave && amx_bf16 && amx_tile) {
            return false;
        }
        let xcr0 = xgetbv0();
        // XCR0 bit 17: XTILECFG, bit 18: XTILEDATA.
        if xcr0 & (0b11 << 17) != 0b11 << 17 {
            return false;
        }
        if !(is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512bf16"))
        {
            return false;
        }
        request_tile_permission()
    }

    /// XCR0, the OS-enabled state components.
    fn xgetbv0() -> u64 {
        let (eax, edx): (u32, u32);
        // SAFETY: only called after CPUID reported OSXSAVE, so `xgetbv` exists and is enabled;
        // with ecx = 0 it reads XCR0 into edx:eax and touches nothing else.
        unsafe {
            asm!("xgetbv", in("ecx") 0u32, out("eax") eax, out("edx") edx,
                 options(nomem, nostack, preserves_flags));
        }
        (u64::from(edx) << 32) | u64::from(eax)
    }

    /// Linux: asks for the (process-wide) permission to use the tile data state.
    #[cfg(target_os = "linux")]
    fn request_tile_permission() -> bool {
        const ARCH_GET_XCOMP_PERM: libc::c_long = 0x1022;
        const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
        const XFEATURE_XTILEDATA: libc::c_long = 18;
        // SAFETY: arch_prctl with these codes takes an integer (REQ) or a pointer to a u64 that
        // it writes (GET); `perm` lives for the whole call.
        unsafe {
            if libc::syscall(
                libc::SYS_arch_prctl,
                ARCH_REQ_XCOMP_PERM,
                XFEATURE_XTILEDATA,
            ) != 0
            {
                return false;
            }
            let mut perm: u64 = 0;
            if libc::syscall(
                libc::SYS_arch_prctl,
                ARCH_GET_XCOMP_PERM,
                &mut perm as *mut u64,
            ) != 0
            {
                return false;
            }
            perm & (1 << XFEATURE_XTILEDATA) != 0
        }
    }

    /// Other operating systems: not used (no known permission protocol here).
    #[cfg(not(target_os = "linux"))]
    fn request_tile_permission() -> bool {
        false
    }

    /// An operand seen as (outer, k): A's outer index is its row, B's is its column.
    #[derive(Clone, Copy)]
    struct Src<'a> {
        data: &'a [f32],
        outer: usize,
        k: usize,
        so: usize,
        sk: usize,
    }

    /// How a tile of an operand is read.
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Route {
        /// k contiguous: each of 16 outer rows gives 32 values.
        KContig,
        /// outer contiguous: rows k and k+1 (16 values each) are interleaved into pairs.
        OuterContig,
        /// Other strides: scalar gather into a small buffer, then as `KContig`.
        Gather,
    }

    impl Src<'_> {
        fn route(&self) -> Route {
            if self.sk == 1 || self.k == 1 {
                Route::KContig
            } else if self.so == 1 || self.outer == 1 {
                Route::OuterContig
            } else {
                Route::Gather
            }
        }
    }

    /// The product; the caller has checked shapes, bounds (every view element is inside its
    /// data), `c.len() == m * n`, m, n, k > 0, and [`super::available`].
    pub fn matmul(a: MatRef, b: MatRef, c: &mut [f32]) {
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
        // SAFETY: AMX is usable (caller); CONFIG is a valid palette-1 configuration.
        unsafe { asm!("ldtilecfg [{}]", in(reg) &CONFIG, options(nostack, readonly)) };
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
        // SAFETY: ends the tile session started above (clears the tile state).
        unsafe { asm!("tilerelease", options(nostack, nomem)) };
    }

    /// C's columns `16 * p0 .. 16 * (p0 + pn)` (of `n`; C is `m × n`, row-major) from the
    /// packed B strips `bt[0 .. pn * ks]` and A's tiles from `a`.
    ///
    /// Safety: tiles configured; AVX-512 present; with `ATiles::Pack`, the elements of the
    /// source inside its data, `m` its rows and at least 2 * ks scratch tiles; with
    /// `ATiles::Packed`, m.div_ceil(16) * ks tiles; `c.len() == m * n`; `bt.len() >= pn * ks`.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    unsafe fn run_panel(
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
                unsafe {
                    let c1 = c0.add(16 * 32);
                    match (rt, ct) {
                        (2, 2) => kernel_2x2(a0, a0.add(ks), b0, b0.add(ks), ks, c0, c1, 128),
                        (2, _) => kernel_2x1(a0, a0.add(ks), b0, ks, c0, c1, 128),
                        (_, 2) => kernel_1x2(a0, b0, b0.add(ks), ks, c0, 128),
                        _ => kernel_1x1(a0, b0, ks, c0, 128),
                    }
                }
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

    /// `vpermw` indices that interleave two 16-element halves into pairs (x0, y0, x1, y1, ...).
    static INTERLEAVE: [u16; 32] = [
        0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23, 8, 24, 9, 25, 10, 26, 11, 27, 12,
        28, 13, 29, 14, 30, 15, 31,
    ];

    /// The first `n` lanes (n ≤ 16).
    fn lanes(n: usize) -> u16 {
        if n >= 16 { u16::MAX } else { (1u16 << n) - 1 }
    }

    /// Packs the strips of 16 outer indices `t_first..t_first + ntiles` (tile indices) of `src`,
    /// over all `ks` steps of 32 k values, into `out[t * ks + s]`, zero beyond the operand:
    /// `kp_major == false` gives the A layout (row = outer index, 16 pairs along k), `true` the
    /// VNNI B layout (row = k pair, 16 outer values).
    ///
    /// Safety: every element of `src` is inside `src.data`; AVX-512 F/BW/BF16 present;
    /// `16 * t_first < src.outer`, `ks == src.k.div_ceil(32)`, `out.len() >= ntiles * ks`.
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    unsafe fn pack_strips(
        src: &Src,
        t_first: usize,
        ntiles: usize,
        ks: usize,
        kp_major: bool,
        out: &mut [Tile],
    ) {
        let out = &mut out[..ntiles * ks];
        // SAFETY: passed on; `out` holds the ntiles * ks tiles written.
        unsafe {
            pack_tiles(
                src,
                TileRange {
                    t_first,
                    ntiles,
                    s_first: 0,
                    nsteps: ks,
                    ks,
                },
                kp_major,
                out.as_mut_ptr(),
            )
        };
    }

    /// Which tiles of an operand to pack: strips `t_first..t_first + ntiles` (16 outer indices
    /// each) × k steps `s_first..s_first + nsteps` (32 k values each) of `ks`; tile (t, s) goes
    /// to `out[(t - t_first) * ks + s]`.
    #[derive(Clone, Copy)]
    struct TileRange {
        t_first: usize,
        ntiles: usize,
        s_first: usize,
        nsteps: usize,
        ks: usize,
    }

    /// Packs the tiles of `r` (see [`pack_strips`] for the layouts), reading the source in
    /// storage order: whole runs of a row at a time, so that the hardware prefetchers follow.
    ///
    /// Safety: as [`pack_strips`], with `16 * r.t_first < src.outer`, `32 * r.s_first < src.k`
    /// (or k == 0 steps), and `out` valid for writes of tiles `(t - t_first) * ks + s` of the range,
    /// which no one else reads or writes meanwhile.
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    unsafe fn pack_tiles(src: &Src, r: TileRange, kp_major: bool, out: *mut Tile) {
        // SAFETY (all `tile` uses): (t, s) is in the range, so the tile is `out`'s to write.
        let tile = |t: usize, s: usize| unsafe { &mut *out.add(t * r.ks + s) };
        let (t_end, s_end) = (r.t_first + r.ntiles, r.s_first + r.nsteps);
        match src.route() {
            Route::KContig => {
                // Tile by tile: 16 source rows of 32 values each (two cache lines per row; the
                // prefetchers follow 16 such streams).
                for t in r.t_first..t_end {
                    let o0 = 16 * t;
                    let ov = (src.outer - o0).min(16);
                    for s in r.s_first..s_end {
                        let tile = tile(t - r.t_first, s);
                        for o in 0..16 {
                            let row = if o < ov {
                                // SAFETY: contract passed on; o0 + o < outer, 32 s < k.
                                unsafe { k_contig_row(src, o0 + o, 32 * s) }
                            } else {
                                _mm512_setzero_si512()
                            };
                            store_row(tile, o, row);
                        }
                        if kp_major {
                            transpose_tile(tile);
                        }
                    }
                }
            }
            Route::OuterContig => {
                // Pairs of rows (k, k + 1), along the outer index, into row kp of the tiles of
                // every strip.
                // SAFETY: a static array of 64 bytes.
                let idx = unsafe { _mm512_loadu_si512(INTERLEAVE.as_ptr() as *const __m512i) };
                for s in r.s_first..s_end {
                    for kp in 0..16 {
                        let kk = 32 * s + 2 * kp;
                        for t in r.t_first..t_end {
                            let row = if kk < src.k {
                                // SAFETY: contract passed on; 16 t < outer, kk < k.
                                unsafe { pair_row(src, 16 * t, kk, idx) }
                            } else {
                                _mm512_setzero_si512()
                            };
                            store_row(tile(t - r.t_first, s), kp, row);
                        }
                    }
                    if !kp_major {
                        for t in r.t_first..t_end {
                            transpose_tile(tile(t - r.t_first, s));
                        }
                    }
                }
            }
            Route::Gather => {
                for t in r.t_first..t_end {
                    for s in r.s_first..s_end {
                        let o0 = 16 * t;
                        let k0 = 32 * s;
                        let mut buf = [0f32; 16 * 32];
                        let ov = (src.outer - o0).min(16);
                        let kv = (src.k - k0).min(32);
                        for o in 0..ov {
                            for kk in 0..kv {
                                buf[o * 32 + kk] = src.data[(o0 + o) * src.so + (k0 + kk) * src.sk];
                            }
                        }
                        let staged = Src {
                            data: &buf,
                            outer: 16,
                            k: 32,
                            so: 32,
                            sk: 1,
                        };
                        let tile = tile(t - r.t_first, s);
                        for o in 0..16 {
                            // SAFETY: `staged` is a full 16×32 view of `buf`.
                            let row = unsafe { k_contig_row(&staged, o, 0) };
                            store_row(tile, o, row);
                        }
                        if kp_major {
                            transpose_tile(tile);
                        }
                    }
                }
            }
        }
    }

    /// Writes row `r` (64 bytes) of `tile`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn store_row(tile: &mut Tile, r: usize, v: __m512i) {
        let row: &mut [u32; 16] = (&mut tile.0[16 * r..16 * r + 16]).try_into().unwrap();
        // SAFETY: `row` is 64 bytes, 64-byte aligned (tiles are, and rows are 64 bytes).
        unsafe { _mm512_store_si512(row.as_mut_ptr() as *mut __m512i, v) };
    }

    /// Route::KContig: bf16 of src(o, k0..k0 + 32) as 16 pairs, zero past k.
    ///
    /// Safety: elements of `src` inside `src.data`; o < outer, k0 < k; k contiguous
    /// (`sk == 1`) or `k == 1`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    unsafe fn k_contig_row(src: &Src, o: usize, k0: usize) -> __m512i {
        let kv = (src.k - k0).min(32);
        let m_lo = lanes(kv.min(16));
        let m_hi = lanes(kv.saturating_sub(16));
        // SAFETY: element (o, k0) is in the view, hence in `data`; masked lanes are not
        // accessed; the high half is read only when k0 + 16 < k, which (k > 1) means sk == 1,
        // so lanes up to k0 + kv - 1 are in the same view row.
        unsafe {
            let p = src.data.as_ptr().add(o * src.so + k0 * src.sk);
            let lo = _mm512_maskz_loadu_ps(m_lo, p);
            let hi = if m_hi != 0 {
                _mm512_maskz_loadu_ps(m_hi, p.add(16))
            } else {
                _mm512_setzero_ps()
            };
            std::mem::transmute::<__m512bh, __m512i>(_mm512_cvtne2ps_pbh(hi, lo))
        }
    }

    /// Route::OuterContig: pairs (src(o, k), src(o, k + 1)) for o in o0..o0 + 16 (zero past
    /// the operand).
    ///
    /// Safety: elements of `src` inside `src.data`; o0 < outer, k < src.k; outer contiguous
    /// (`so == 1`) or `outer == 1`; `idx` is [`INTERLEAVE`].
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    unsafe fn pair_row(src: &Src, o0: usize, k: usize, idx: __m512i) -> __m512i {
        let mask = lanes((src.outer - o0).min(16));
        let base = src.data.as_ptr();
        // SAFETY: element (o0, k) is in the view; lanes past `outer` are masked, and the others
        // (so == 1) are elements (o0 + l, k) of the view; same for k + 1 when it exists.
        unsafe {
            let r0 = _mm512_maskz_loadu_ps(mask, base.add(o0 * src.so + k * src.sk));
            let r1 = if k + 1 < src.k {
                _mm512_maskz_loadu_ps(mask, base.add(o0 * src.so + (k + 1) * src.sk))
            } else {
                _mm512_setzero_ps()
            };
            let both = std::mem::transmute::<__m512bh, __m512i>(_mm512_cvtne2ps_pbh(r1, r0));
            _mm512_permutexvar_epi16(idx, both)
        }
    }

    /// Transposes the 16×16 32-bit elements of `t` in place.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn transpose_tile(t: &mut Tile) {
        let p = t.0.as_mut_ptr() as *mut __m512i;
        let mut rows = [_mm512_setzero_si512(); 16];
        for (r, v) in rows.iter_mut().enumerate() {
            // SAFETY: `t` is 64-byte aligned and holds 16 rows of 64 bytes.
            *v = unsafe { _mm512_load_si512(p.add(r)) };
        }
        for (r, v) in transpose16(rows).into_iter().enumerate() {
            // SAFETY: as above.
            unsafe { _mm512_store_si512(p.add(r), v) };
        }
    }

    /// Transposes a 16×16 matrix of 32-bit elements held as 16 rows.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn transpose16(r: [__m512i; 16]) -> [__m512i; 16] {
        // Pairs of rows: 2×2 blocks of 32-bit elements inside each 128-bit lane.
        let mut t = [_mm512_setzero_si512(); 16];
        for i in (0..16).step_by(2) {
            t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
            t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
        }
        // Groups of four rows: u[4g + c], lane L = column 4L + c of rows 4g..4g + 4.
        let mut u = [_mm512_setzero_si512(); 16];
        for g in 0..4 {
            let b = 4 * g;
            u[b] = _mm512_unpacklo_epi64(t[b], t[b + 2]);
            u[b + 1] = _mm512_unpackhi_epi64(t[b], t[b + 2]);
            u[b + 2] = _mm512_unpacklo_epi64(t[b + 1], t[b + 3]);
            u[b + 3] = _mm512_unpackhi_epi64(t[b + 1], t[b + 3]);
        }
        // 4×4 transpose of the 128-bit lanes of u[c], u[4 + c], u[8 + c], u[12 + c].
        let mut out = [_mm512_setzero_si512(); 16];
        for c in 0..4 {
            let (x0, x1, x2, x3) = (u[c], u[4 + c], u[8 + c], u[12 + c]);
            let v0 = _mm512_shuffle_i32x4::<0x44>(x0, x1);
            let v1 = _mm512_shuffle_i32x4::<0xEE>(x0, x1);
            let v2 = _mm512_shuffle_i32x4::<0x44>(x2, x3);
            let v3 = _mm512_shuffle_i32x4::<0xEE>(x2, x3);
            out[c] = _mm512_shuffle_i32x4::<0x88>(v0, v2);
            out[4 + c] = _mm512_shuffle_i32x4::<0xDD>(v0, v2);
            out[8 + c] = _mm512_shuffle_i32x4::<0x88>(v1, v3);
            out[12 + c] = _mm512_shuffle_i32x4::<0xDD>(v1, v3);
        }
        out
    }

    // The kernels: `a*` / `b*` point at the first of `ks` consecutive packed tiles (one per 32
    // k values) of an A row tile / B column tile; `c0` / `c1` at the top-left f32 of the first /
    // second row of C tiles (the second column of tiles is 16 floats to the right); `ldc` is
    // C's row stride in bytes. Safety (all): tiles configured by `run`, `ks >= 1`, the packed
    // tiles and the C tiles in range.

    /// 2×2 C tiles: tmm0 tmm1 / tmm2 tmm3, A in tmm4-5, B in tmm6-7.
    #[allow(clippy::too_many_arguments)]
    unsafe fn kernel_2x2(
        a0: *const Tile,
        a1: *const Tile,
        b0: *const Tile,
        b1: *const Tile,
        ks: usize,
        c0: *mut f32,
        c1: *mut f32,
        ldc: usize,
    ) {
        // SAFETY: see the kernels' contract above.
        unsafe {
            asm!(
                "tilezero tmm0",
                "tilezero tmm1",
                "tilezero tmm2",
                "tilezero tmm3",
                "2:",
                "tileloadd tmm4, [{a0} + {s}*1]",
                "tileloadd tmm6, [{b0} + {s}*1]",
                "tdpbf16ps tmm0, tmm4, tmm6",
                "tileloadd tmm7, [{b1} + {s}*1]",
                "tdpbf16ps tmm1, tmm4, tmm7",
                "tileloadd tmm5, [{a1} + {s}*1]",
                "tdpbf16ps tmm2, tmm5, tmm6",
                "tdpbf16ps tmm3, tmm5, tmm7",
                "add {a0}, 1024",
                "add {a1}, 1024",
                "add {b0}, 1024",
                "add {b1}, 1024",
                "dec {ks}",
                "jnz 2b",
                "tilestored [{c0} + {ldc}*1], tmm0",
                "tilestored [{c1} + {ldc}*1], tmm2",
                "add {c0}, 64",
                "add {c1}, 64",
                "tilestored [{c0} + {ldc}*1], tmm1",
                "tilestored [{c1} + {ldc}*1], tmm3",
                a0 = inout(reg) a0 => _,
                a1 = inout(reg) a1 => _,
                b0 = inout(reg) b0 => _,
                b1 = inout(reg) b1 => _,
                ks = inout(reg) ks => _,
                c0 = inout(reg) c0 => _,
                c1 = inout(reg) c1 => _,
                ldc = in(reg) ldc,
                s = in(reg) 64usize,
                options(nostack),
            );
        }
    }

    /// 2×1 C tiles: tmm0 / tmm2, A in tmm4-5, B in tmm6.
    unsafe fn kernel_2x1(
        a0: *const Tile,
        a1: *const Tile,
        b0: *const Tile,
        ks: usize,
        c0: *mut f32,
        c1: *mut f32,
        ldc: usize,
    ) {
        // SAFETY: see the kernels' contract above.
        unsafe {
            asm!(
                "tilezero tmm0",
                "tilezero tmm2",
                "2:",
                "tileloadd tmm6, [{b0} + {s}*1]",
                "tileloadd tmm4, [{a0} + {s}*1]",
                "tdpbf16ps tmm0, tmm4, tmm6",
                "tileloadd tmm5, [{a1} + {s}*1]",
                "tdpbf16ps tmm2, tmm5, tmm6",
                "add {a0}, 1024",
                "add {a1}, 1024",
                "add {b0}, 1024",
                "dec {ks}",
                "jnz 2b",
                "tilestored [{c0} + {ldc}*1], tmm0",
                "tilestored [{c1} + {ldc}*1], tmm2",
                a0 = inout(reg) a0 => _,
                a1 = inout(reg) a1 => _,
                b0 = inout(reg) b0 => _,
                ks = inout(reg) ks => _,
                c0 = in(reg) c0,
                c1 = in(reg) c1,
                ldc = in(reg) ldc,
                s = in(reg) 64usize,
                options(nostack),
            );
        }
    }

    /// 1×2 C tiles: tmm0 tmm1, A in tmm4, B in tmm6-7.
    unsafe fn kernel_1x2(
        a0: *const Tile,
        b0: *const Tile,
        b1: *const Tile,
        ks: usize,
        c0: *mut f32,
        ldc: usize,
    ) {
        // SAFETY: see the kernels' contract above.
        unsafe {
            asm!(
                "tilezero tmm0",
                "tilezero tmm1",
                "2:",
                "tileloadd tmm4, [{a0} + {s}*1]",
                "tileloadd tmm6, [{b0} + {s}*1]",
                "tdpbf16ps tmm0, tmm4, tmm6",
                "tileloadd tmm7, [{b1} + {s}*1]",
                "tdpbf16ps tmm1, tmm4, tmm7",
                "add {a0}, 1024",
                "add {b0}, 1024",
                "add {b1}, 1024",
                "dec {ks}",
                "jnz 2b",
                "tilestored [{c0} + {ldc}*1], tmm0",
                "add {c0}, 64",
                "tilestored [{c0} + {ldc}*1], tmm1",
                a0 = inout(reg) a0 => _,
                b0 = inout(reg) b0 => _,
                b1 = inout(reg) b1 => _,
                ks = inout(reg) ks => _,
                c0 = inout(reg) c0 => _,
                ldc = in(reg) ldc,
                s = in(reg) 64usize,
                options(nostack),
            );
        }
    }

    /// 1×1 C tile: tmm0, A in tmm4, B in tmm6.
    unsafe fn kernel_1x1(a0: *const Tile, b0: *const Tile, ks: usize, c0: *mut f32, ldc: usize) {
        // SAFETY: see the kernels' contract above.
        unsafe {
            asm!(
                "tilezero tmm0",
                "2:",
                "tileloadd tmm4, [{a0} + {s}*1]",
                "tileloadd tmm6, [{b0} + {s}*1]",
                "tdpbf16ps tmm0, tmm4, tmm6",
                "add {a0}, 1024",
                "add {b0}, 1024",
                "dec {ks}",
                "jnz 2b",
                "tilestored [{c0} + {ldc}*1], tmm0",
                a0 = inout(reg) a0 => _,
                b0 = inout(reg) b0 => _,
                ks = inout(reg) ks => _,
                c0 = in(reg) c0,
                ldc = in(reg) ldc,
                s = in(reg) 64usize,
                options(nostack),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A parallel for on scoped threads, one per index.
    fn threads(n: usize, work: &(dyn Fn(usize) + Sync)) -> std::result::Result<(), String> {
        std::thread::scope(|s| {
            for i in 0..n {
                s.spawn(move || work(i));
            }
        });
        Ok(())
    }

    /// Deterministic values in [-2, 2) (a multiplicative hash of the index).
    fn values(n: usize, seed: u64) -> Vec<f32> {
        (0..n as u64)
            .map(|i| ((i + seed * 7919).wrapping_mul(2_654_435_761) % 4096) as f32 / 1024.0 - 2.0)
            .collect()
    }

    /// The shared-B parallel product equals the single-threaded one bit for bit (each element is
    /// summed by the same kernel in the same order), for every operand layout, ragged edges,
    /// and A short enough to be packed up front or not.
    #[test]
    fn parallel_product_matches_single_thread() {
        if !available() {
            eprintln!("AMX not available here: skipped");
            return;
        }
        for &(m, k, n) in &[
            (256, 257, 256),
            (100, 70, 33),
            (600, 64, 48),
            (17, 300, 260),
        ] {
            for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
                let (ad, bd) = (values(m * k, 1), values(k * n, 2));
                let a = if ta {
                    MatRef::row_major(&ad, k, m).unwrap().t()
                } else {
                    MatRef::row_major(&ad, m, k).unwrap()
                };
                let b = if tb {
                    MatRef::row_major(&bd, n, k).unwrap().t()
                } else {
                    MatRef::row_major(&bd, k, n).unwrap()
                };
                let mut want = vec![0.0; m * n];
                matmul(a, b, &mut want).unwrap();
                let mut got = vec![f32::NAN; m * n];
                matmul_parallel(a, &[b], &mut got, &threads).unwrap();
                let same = want
                    .iter()
                    .zip(&got)
                    .all(|(x, y)| x.to_bits() == y.to_bits());
                assert!(same, "{m}x{k}x{n}, a transposed {ta}, b transposed {tb}");
            }
        }
    }

    /// A strided view (neither dimension contiguous) goes through the gather route.
    #[test]
    fn parallel_product_gathers_strided_views() {
        if !available() {
            return;
        }
        let (m, k, n) = (40, 50, 36);
        let ad = values(2 * m * k, 3);
        let bd = values(k * n, 4);
        let a = MatRef {
            data: &ad,
            rows: m,
            cols: k,
            row_stride: 2 * k,
            col_stride: 2,
        };
        let b = MatRef::row_major(&bd, k, n).unwrap();
        let mut want = vec![0.0; m * n];
        matmul(a, b, &mut want).unwrap();
        let mut got = vec![f32::NAN; m * n];
        matmul_parallel(a, &[b], &mut got, &threads).unwrap();
        assert_eq!(want, got);
    }

    /// B given as column blocks (a 16-aligned split, the last block ragged) gives the product
    /// of their concatenation, bit for bit, in both storage orders; a split off the tile grid
    /// is refused.
    #[test]
    fn parallel_product_reads_b_from_column_blocks() {
        if !available() {
            return;
        }
        let (m, k) = (256, 256);
        let ad = values(m * k, 5);
        let a = MatRef::row_major(&ad, m, k).unwrap();
        for (n1, n2) in [(256, 1), (32, 40), (16, 3)] {
            let n = n1 + n2;
            let (d1, d2) = (values(k * n1, 6), values(k * n2, 7));
            // the concatenation [b1 | b2], k × n row-major
            let whole: Vec<f32> = (0..k)
                .flat_map(|r| {
                    d1[r * n1..][..n1]
                        .iter()
                        .chain(&d2[r * n2..][..n2])
                        .copied()
                })
                .collect();
            let mut want = vec![0.0; m * n];
            matmul(a, MatRef::row_major(&whole, k, n).unwrap(), &mut want).unwrap();
            let b1 = MatRef::row_major(&d1, k, n1).unwrap();
            let b2 = MatRef::row_major(&d2, k, n2).unwrap();
            let mut got = vec![f32::NAN; m * n];
            matmul_parallel(a, &[b1, b2], &mut got, &threads).unwrap();
            assert!(
                want.iter()
                    .zip(&got)
                    .all(|(x, y)| x.to_bits() == y.to_bits()),
                "blocks {n1} + {n2}"
            );
            // the same blocks stored transposed (n × k), read as views
            let transpose = |d: &[f32], w: usize| -> Vec<f32> {
                (0..w * k).map(|i| d[(i % k) * w + i / k]).collect()
            };
            let (t1, t2) = (transpose(&d1, n1), transpose(&d2, n2));
            let (v1, v2) = (
                MatRef::row_major(&t1, n1, k).unwrap().t(),
                MatRef::row_major(&t2, n2, k).unwrap().t(),
            );
            let mut got_t = vec![f32::NAN; m * n];
            matmul_parallel(a, &[v1, v2], &mut got_t, &threads).unwrap();
            assert!(
                want.iter()
                    .zip(&got_t)
                    .all(|(x, y)| x.to_bits() == y.to_bits()),
                "transposed blocks {n1} + {n2}"
            );
        }
        let (d1, d2) = (values(k * 20, 8), values(k * 4, 9));
        let (b1, b2) = (
            MatRef::row_major(&d1, k, 20).unwrap(),
            MatRef::row_major(&d2, k, 4).unwrap(),
        );
        let mut out = vec![0.0; m * 24];
        let e = matmul_parallel(a, &[b1, b2], &mut out, &threads).unwrap_err();
        assert!(e.contains("multiple of 16"), "{e}");
    }
}
