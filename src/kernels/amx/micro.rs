//! The AMX micro-kernels: up to 2×2 C tiles (16×16 f32 each) kept in tile registers over the
//! whole k loop, `tdpbf16ps` on packed A and B tiles, written by one macro for the four shapes
//! that the edges of C need.
//!
//! Register use (fixed by [`super::tiles`]' configuration): C tiles in tmm0-3 (row i, column j
//! in tmm(2i + j)), A's row tiles in tmm4-5, B's column tiles in tmm6-7.

use super::tiles::Tile;
use std::arch::asm;

/// Defines one micro-kernel: `fn name(a pointers, b pointers, ks, c pointers, ldc)`.
///
/// `a: [a0 in 4 => c0 in [0, 1], a1 in 5 => c1 in [2, 3]]` reads: A's row tile `a0` is loaded
/// into tmm4, its products with the B columns accumulate in tmm0 and tmm1, stored from `c0`
/// (column j 64 bytes further right); `b: [b0 in 6, b1 in 7]`: B's column tiles and their
/// registers. `a*` / `b*` point at the first of `ks` consecutive packed tiles (one per 32 k
/// values); `ldc` is C's row stride in bytes. The generated code:
/// - `tilezero` every C tile;
/// - the loop over the `ks` steps: load A's first row tile, then each B column tile followed
///   by its product with that row; then each further A row tile followed by its products with
///   every column; advance all A and B pointers by one tile (1024 bytes);
/// - store the C tiles column by column, moving the C pointers 64 bytes right between columns.
///
/// Safety (of the generated function): tiles configured ([`super::tiles::configure_tiles`]),
/// `ks >= 1`, the packed tiles and the C tiles in range.
macro_rules! micro_kernel {
    (
        $(#[$doc:meta])*
        fn $name:ident,
        a: [$($a:ident in $ta:literal => $c:ident in [$($tc:literal),+]),+],
        b: [$($b:ident in $tb:literal),+] $(,)?
    ) => {
        micro_kernel!(@kernel $(#[$doc])* fn $name,
            a: [$($a in $ta => $c in [$($tc),+]),+],
            b: [$($b in $tb),+],
            b_tiles: [$($tb),+]);
    };
    (
        @kernel $(#[$doc:meta])* fn $name:ident,
        a: [$a0:ident in $ta0:literal => $c0:ident in [$($tc0:literal),+]
            $(, $a:ident in $ta:literal => $c:ident in [$($tc:literal),+])*],
        b: [$($b:ident in $tb:literal),+],
        b_tiles: $b_tiles:tt
    ) => {
        $(#[$doc])*
        #[allow(clippy::too_many_arguments)]
        unsafe fn $name(
            $a0: *const Tile,
            $($a: *const Tile,)*
            $($b: *const Tile,)+
            ks: usize,
            $c0: *mut f32,
            $($c: *mut f32,)*
            ldc: usize,
        ) {
            // SAFETY: see the macro's contract.
            unsafe {
                asm!(
                    $(concat!("tilezero tmm", $tc0),)+
                    $($(concat!("tilezero tmm", $tc),)+)*
                    "2:",
                    micro_kernel!(@load $a0, $ta0),
                    $(
                        micro_kernel!(@load $b, $tb),
                        concat!("tdpbf16ps tmm", $tc0, ", tmm", $ta0, ", tmm", $tb),
                    )+
                    $(
                        micro_kernel!(@load $a, $ta),
                        micro_kernel!(@products $ta, [$($tc),+], $b_tiles),
                    )*
                    concat!("add {", stringify!($a0), "}, 1024"),
                    $(concat!("add {", stringify!($a), "}, 1024"),)*
                    $(concat!("add {", stringify!($b), "}, 1024"),)+
                    "dec {ks}",
                    "jnz 2b",
                    micro_kernel!(@stores [$c0 $(, $c)*] [[$($tc0),+] $(, [$($tc),+])*]),
                    $a0 = inout(reg) $a0 => _,
                    $($a = inout(reg) $a => _,)*
                    $($b = inout(reg) $b => _,)+
                    ks = inout(reg) ks => _,
                    $c0 = inout(reg) $c0 => _,
                    $($c = inout(reg) $c => _,)*
                    ldc = in(reg) ldc,
                    s = in(reg) 64usize,
                    options(nostack),
                );
            }
        }
    };
    // `tileloadd` of the tile at operand `$p` into tmm`$t` (rows 64 bytes apart).
    (@load $p:ident, $t:literal) => {
        concat!("tileloadd tmm", $t, ", [{", stringify!($p), "} + {s}*1]")
    };
    // The products of A in tmm`$ta` with each B tile, into the row's C tiles.
    (@products $ta:literal, [$($tc:literal),+], [$($tb:literal),+]) => {
        concat!($("tdpbf16ps tmm", $tc, ", tmm", $ta, ", tmm", $tb, "\n"),+)
    };
    // Stores the first column of C tiles left in each row's list, then moves on to the next.
    (@stores [$($c:ident),+] [$([$head:literal $(, $tail:literal)*]),+]) => {
        concat!(
            $("tilestored [{", stringify!($c), "} + {ldc}*1], tmm", $head, "\n",)+
            micro_kernel!(@next_column [$($c),+] [$([$($tail),*]),+])
        )
    };
    (@next_column [$($c:ident),+] [$([]),+]) => { "" };
    (@next_column [$($c:ident),+] $tiles:tt) => {
        concat!(
            $("add {", stringify!($c), "}, 64\n",)+
            micro_kernel!(@stores [$($c),+] $tiles)
        )
    };
}

micro_kernel! {
    /// 2×2 C tiles: tmm0 tmm1 / tmm2 tmm3, A in tmm4-5, B in tmm6-7.
    fn kernel_2x2,
    a: [a0 in 4 => c0 in [0, 1], a1 in 5 => c1 in [2, 3]],
    b: [b0 in 6, b1 in 7],
}

micro_kernel! {
    /// 2×1 C tiles: tmm0 / tmm2, A in tmm4-5, B in tmm6.
    fn kernel_2x1,
    a: [a0 in 4 => c0 in [0], a1 in 5 => c1 in [2]],
    b: [b0 in 6],
}

micro_kernel! {
    /// 1×2 C tiles: tmm0 tmm1, A in tmm4, B in tmm6-7.
    fn kernel_1x2,
    a: [a0 in 4 => c0 in [0, 1]],
    b: [b0 in 6, b1 in 7],
}

micro_kernel! {
    /// 1×1 C tile: tmm0, A in tmm4, B in tmm6.
    fn kernel_1x1,
    a: [a0 in 4 => c0 in [0]],
    b: [b0 in 6],
}

/// C tiles `rt × ct` (1 or 2 each) of `A · B` over `ks` steps of 32 k values: A's row tiles
/// at `a` and `a + ks`, B's column tiles at `b` and `b + ks`, C stored from `c` (f32, rows
/// `ldc` bytes apart: row tile i at `16 * i` rows down, column tile j 16 floats right).
///
/// Safety: tiles configured ([`super::tiles::configure_tiles`]); `ks >= 1`; `rt * ks` tiles
/// at `a` and `ct * ks` at `b`; the `16 * rt` rows of `16 * ct` floats at `c` writable.
#[inline(always)]
pub(super) unsafe fn multiply_tiles(
    rt: usize,
    ct: usize,
    a: *const Tile,
    b: *const Tile,
    ks: usize,
    c: *mut f32,
    ldc: usize,
) {
    // SAFETY: the contract above is the kernels'.
    unsafe {
        let c1 = c.byte_add(16 * ldc);
        match (rt, ct) {
            (2, 2) => kernel_2x2(a, a.add(ks), b, b.add(ks), ks, c, c1, ldc),
            (2, _) => kernel_2x1(a, a.add(ks), b, ks, c, c1, ldc),
            (_, 2) => kernel_1x2(a, b, b.add(ks), ks, c, ldc),
            _ => kernel_1x1(a, b, ks, c, ldc),
        }
    }
}
