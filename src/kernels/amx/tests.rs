//! The parallel product against the single-threaded one (bit for bit), on this machine's AMX.

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
