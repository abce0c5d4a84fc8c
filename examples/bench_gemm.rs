//! Benchmark of the bf16 matrix product (`kernels::gemm_bf16`): GFLOP/s, AMX vs the portable path, for the MLP shapes.
//!
//! Run: `cargo run --release --example bench_gemm [-- --seconds S] [--amx-only] [--only TEXT]
//! [--shape MxKxN] [--cold]`.
//! Each cell is the median over repeated calls (packing included) within about S seconds
//! (default 0.5) per cell; `--only` keeps the shapes whose name contains TEXT;
//! `--shape` times one M×K×N product (a row-major, b a transposed view) instead. The
//! machine may be shared: other processes running at the same time lower the numbers.

use sbgm_xla::kernels::amx;
use sbgm_xla::kernels::gemm_bf16::{Backend, MatRef, matmul_bf16_with};
use std::time::{Duration, Instant};

/// Deterministic values in [-1, 1).
fn values(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2_654_435_761) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s as f32 / u32::MAX as f32) * 2.0 - 1.0
        })
        .collect()
}

/// Median and minimum seconds per call of `f`, over as many calls as fit in `budget` (at
/// least 5); `before` runs ahead of each call, untimed.
fn median_time(budget: Duration, mut before: impl FnMut(), mut f: impl FnMut()) -> (f64, f64) {
    f(); // warm-up: scratch buffers, caches
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < 5 || (start.elapsed() < budget && times.len() < 100_000) {
        before();
        let t = Instant::now();
        f();
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], times[0])
}

/// How an operand is stored.
#[derive(Clone, Copy)]
enum Layout {
    /// Row-major.
    Rows,
    /// Stored transposed (row-major of the transpose), viewed through `.t()`.
    Transposed,
}

fn main() {
    let mut seconds = 0.5;
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--seconds") {
        seconds = args
            .get(i + 1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(seconds);
    }
    let budget = Duration::from_secs_f64(seconds);
    let amx_only = args.iter().any(|a| a == "--amx-only");
    let cold = args.iter().any(|a| a == "--cold");
    // Larger than the L2 cache: writing it pushes the operands out to L3 or memory.
    let mut evict_buf = vec![0u8; if cold { 16 << 20 } else { 0 }];
    let mut evict = move || {
        for (i, x) in evict_buf.iter_mut().enumerate().step_by(64) {
            *x = x.wrapping_add(i as u8);
        }
        std::hint::black_box(&mut evict_buf);
    };
    let filter = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1).cloned());
    let amx_on = amx::available();
    println!(
        "AMX available: {amx_on} (single thread; median per call, packing included; best = fastest call{})",
        if cold { "; operands cold" } else { "" }
    );
    use Layout::*;
    let custom: Vec<(String, usize, usize, usize)> = args
        .iter()
        .position(|a| a == "--shape")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| {
            let d: Vec<usize> = s.split('x').filter_map(|v| v.parse().ok()).collect();
            (d.len() == 3).then(|| (format!("custom {s}"), d[0], d[1], d[2]))
        })
        .into_iter()
        .collect();
    let custom_shapes: Vec<(&str, usize, usize, usize, Layout, Layout)> = custom
        .iter()
        .map(|(name, m, k, n)| (name.as_str(), *m, *k, *n, Rows, Transposed))
        .collect();
    let standard: &[(&str, usize, usize, usize, Layout, Layout)] = &[
        ("forward x·Wᵀ, M=256", 256, 256, 256, Rows, Transposed),
        ("forward x·Wᵀ, M=4096", 4096, 256, 256, Rows, Transposed),
        ("input grad ct·W, M=256", 256, 256, 256, Rows, Rows),
        ("input grad ct·W, M=4096", 4096, 256, 256, Rows, Rows),
        ("weight grad ctᵀ·x, M=256", 256, 256, 256, Transposed, Rows),
        (
            "weight grad ctᵀ·x, M=4096",
            256,
            4096,
            256,
            Transposed,
            Rows,
        ),
        ("first layer x·Wᵀ, K=3", 4096, 3, 256, Rows, Transposed),
        ("last layer h·Wᵀ, N=2", 4096, 256, 2, Rows, Transposed),
        ("one row, M=1", 1, 256, 256, Rows, Transposed),
        ("odd K=257", 256, 257, 256, Rows, Transposed),
    ];
    let shapes = if custom_shapes.is_empty() {
        standard
    } else {
        &custom_shapes[..]
    };
    println!(
        "{:<28} {:>5} {:>5} {:>5} | {:>8} {:>8} {:>8} | {:>9} {:>8} | {:>7}",
        "shape", "M", "K", "N", "AMX µs", "GFLOP/s", "best", "port. µs", "GFLOP/s", "speedup"
    );
    for &(name, m, k, n, la, lb) in shapes {
        if filter.as_deref().is_some_and(|f| !name.contains(f)) {
            continue;
        }
        let a_data = values(m * k, 1);
        let b_data = values(k * n, 2);
        let a = match la {
            Rows => MatRef::row_major(&a_data, m, k).unwrap(),
            Transposed => MatRef::row_major(&a_data, k, m).unwrap().t(),
        };
        let b = match lb {
            Rows => MatRef::row_major(&b_data, k, n).unwrap(),
            Transposed => MatRef::row_major(&b_data, n, k).unwrap().t(),
        };
        let mut c = vec![0.0f32; m * n];
        let flops = 2.0 * (m * k * n) as f64;
        let mut time = |be: Backend| {
            median_time(budget, &mut evict, || {
                matmul_bf16_with(a, b, &mut c, be).unwrap();
                std::hint::black_box(&mut c);
            })
        };
        let tp = if amx_only {
            f64::NAN
        } else {
            time(Backend::Portable).0
        };
        let (amx_us, amx_gf, amx_best, speedup) = if amx_on {
            let (ta, best) = time(Backend::Amx);
            (
                format!("{:.1}", ta * 1e6),
                format!("{:.0}", flops / ta * 1e-9),
                format!("{:.0}", flops / best * 1e-9),
                format!("{:.1}x", tp / ta),
            )
        } else {
            ("-".into(), "-".into(), "-".into(), "-".into())
        };
        println!(
            "{name:<28} {m:>5} {k:>5} {n:>5} | {amx_us:>8} {amx_gf:>8} {amx_best:>8} | {:>9.1} {:>8.1} | {speedup:>7}",
            tp * 1e6,
            flops / tp * 1e-9
        );
    }
}
