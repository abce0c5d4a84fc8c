//! AMX tile state: the packed-tile type, the tile configuration (`ldtilecfg` / `tilerelease`)
//! and the per-thread scratch buffers the packed operands live in.

use std::arch::asm;
use std::cell::RefCell;

/// One tile's worth of packed operand: 16 rows of 64 bytes (32 bf16 or 16 bf16 pairs).
#[repr(C, align(64))]
#[derive(Clone, Copy)]
pub(super) struct Tile(pub(super) [u32; 256]);

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

/// Loads [`CONFIG`] into this thread's tile state: tmm0-7 are ready for the micro-kernels.
///
/// Safety: AMX is usable in this process (see [`super::available`]); end with
/// [`release_tiles`].
#[inline(always)]
pub(super) unsafe fn configure_tiles() {
    // SAFETY: AMX is usable (caller); CONFIG is a valid palette-1 configuration.
    unsafe { asm!("ldtilecfg [{}]", in(reg) &CONFIG, options(nostack, readonly)) };
}

/// Ends the tile session started by [`configure_tiles`] (clears the tile state).
///
/// Safety: AMX is usable in this process.
#[inline(always)]
pub(super) unsafe fn release_tiles() {
    // SAFETY: AMX is usable (caller); `tilerelease` only resets the tile state.
    unsafe { asm!("tilerelease", options(nostack, nomem)) };
}

thread_local! {
    /// This thread's packed strip of A (2 × ks tiles), grown on demand and reused.
    pub(super) static SCRATCH_A: RefCell<Vec<Tile>> = const { RefCell::new(Vec::new()) };
    /// This thread's packed panel of B, likewise.
    pub(super) static SCRATCH_B: RefCell<Vec<Tile>> = const { RefCell::new(Vec::new()) };
    /// A and B packed by [`super::parallel::matmul_parallel`] on this (the calling) thread, read by all its
    /// tasks.
    pub(super) static SHARED: RefCell<Vec<Tile>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with `len` tiles of this thread's buffer `key` (a fresh buffer if that one is in
/// use further up the stack).
pub(super) fn with_tiles<R>(
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
