//! Operand packing (AVX-512 BF16): f32 views rounded to bf16 into 1 KiB tiles, A as 16 rows
//! of 32 values, B in the VNNI layout `tdpbf16ps` takes (16 rows of k pairs × 16 columns).
//! Each operand is read by the fastest of three routes (see [`Route`]); edges are zero-padded
//! and loads there masked, so nothing outside the views is read.

use super::tiles::Tile;
use crate::kernels::gemm_bf16::MatRef;
use std::arch::x86_64::*;

/// An operand seen as (outer, k): A's outer index is its row, B's is its column.
#[derive(Clone, Copy)]
pub(super) struct Src<'a> {
    /// The elements, (o, k) at `o * so + k * sk`.
    pub(super) data: &'a [f32],
    /// Outer indices (A's rows, B's columns).
    pub(super) outer: usize,
    /// The shared dimension.
    pub(super) k: usize,
    /// Stride of the outer index.
    pub(super) so: usize,
    /// Stride of k.
    pub(super) sk: usize,
}

/// How a tile of an operand is read.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Route {
    /// k contiguous: each of 16 outer rows gives 32 values.
    KContig,
    /// outer contiguous: rows k and k+1 (16 values each) are interleaved into pairs.
    OuterContig,
    /// Other strides: scalar gather into a small buffer, then as `KContig`.
    Gather,
}

impl Src<'_> {
    /// The route its tiles are read by.
    pub(super) fn route(&self) -> Route {
        if self.sk == 1 || self.k == 1 {
            Route::KContig
        } else if self.so == 1 || self.outer == 1 {
            Route::OuterContig
        } else {
            Route::Gather
        }
    }
}

/// The operand views of `C = A · B` as packing sources.
pub(super) fn sources<'a>(a: &MatRef<'a>, b: &MatRef<'a>) -> (Src<'a>, Src<'a>) {
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

/// Rows `r0..r0 + rows` of an A source.
pub(super) fn asrc_rows<'a>(src: &Src<'a>, r0: usize, rows: usize) -> Src<'a> {
    Src {
        data: &src.data[(r0 * src.so).min(src.data.len())..],
        outer: rows,
        ..*src
    }
}

/// `vpermw` indices that interleave two 16-element halves into pairs (x0, y0, x1, y1, ...).
static INTERLEAVE: [u16; 32] = [
    0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28,
    13, 29, 14, 30, 15, 31,
];

/// The first `n` lanes (n ≤ 16).
fn lanes(n: usize) -> u16 {
    if n >= 16 { u16::MAX } else { (1u16 << n) - 1 }
}

/// Which tiles of an operand to pack: strips `t_first..t_first + ntiles` (16 outer indices
/// each) × k steps `s_first..s_first + nsteps` (32 k values each) of `ks`; tile (t, s) goes
/// to `out[(t - t_first) * ks + s]`.
#[derive(Clone, Copy)]
pub(super) struct TileRange {
    pub(super) t_first: usize,
    pub(super) ntiles: usize,
    pub(super) s_first: usize,
    pub(super) nsteps: usize,
    pub(super) ks: usize,
}

impl TileRange {
    /// Strips `t_first..t_first + ntiles`, all `ks` steps of each.
    pub(super) fn strips(t_first: usize, ntiles: usize, ks: usize) -> Self {
        TileRange {
            t_first,
            ntiles,
            s_first: 0,
            nsteps: ks,
            ks,
        }
    }
}

/// Packs the strips of 16 outer indices `t_first..t_first + ntiles` (tile indices) of `src`,
/// over all `ks` steps of 32 k values, into `out[t * ks + s]`, zero beyond the operand:
/// `kp_major == false` gives the A layout (row = outer index, 16 pairs along k), `true` the
/// VNNI B layout (row = k pair, 16 outer values).
///
/// Safety: every element of `src` is inside `src.data`; AVX-512 F/BW/BF16 present;
/// `16 * t_first < src.outer`, `ks == src.k.div_ceil(32)`, `out.len() >= ntiles * ks`.
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
pub(super) unsafe fn pack_strips(
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
            TileRange::strips(t_first, ntiles, ks),
            kp_major,
            out.as_mut_ptr(),
        )
    };
}

/// Packs the tiles of `r` (see [`pack_strips`] for the layouts), reading the source in
/// storage order: whole runs of a row at a time, so that the hardware prefetchers follow.
///
/// Safety: as [`pack_strips`], with `16 * r.t_first < src.outer`, `32 * r.s_first < src.k`
/// (or k == 0 steps), and `out` valid for writes of tiles `(t - t_first) * ks + s` of the range,
/// which no one else reads or writes meanwhile.
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
pub(super) unsafe fn pack_tiles(src: &Src, r: TileRange, kp_major: bool, out: *mut Tile) {
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
