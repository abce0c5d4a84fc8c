//! The bf16 matrix product (`kernels::gemm_bf16`) against an f64 reference on bf16-rounded operands, on both paths (AMX and portable).

use sbgm_xla::kernels::amx;
use sbgm_xla::kernels::gemm_bf16::{Backend, MatRef, matmul_bf16, matmul_bf16_with};

/// bf16 round-to-nearest-even of a finite f32, by bit arithmetic (independent of the crate's
/// conversion): add 0x7fff plus the lowest kept bit, then cut the low 16 bits.
fn rne_bf16(x: f32) -> f32 {
    assert!(x.is_finite());
    let bits = x.to_bits();
    let rounded = bits.wrapping_add(0x7fff + ((bits >> 16) & 1)) & 0xffff_0000;
    f32::from_bits(rounded)
}

/// Deterministic values in [-1, 1) with varied magnitudes (some tiny, some near 1).
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|i| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let u = (s >> 11) as f64 / (1u64 << 53) as f64;
            let v = (2.0 * u - 1.0) as f32;
            if i % 7 == 3 { v * 1e-3 } else { v }
        })
        .collect()
}

/// f64 reference of round(a) · round(b) and the scale sum |round a| |round b| per element.
fn reference(a: MatRef, b: MatRef) -> (Vec<f64>, Vec<f64>) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    let mut c = vec![0.0; m * n];
    let mut scale = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            let (mut s, mut t) = (0.0f64, 0.0f64);
            for p in 0..k {
                let x = rne_bf16(a.at(i, p)) as f64 * rne_bf16(b.at(p, j)) as f64;
                s += x;
                t += x.abs();
            }
            c[i * n + j] = s;
            scale[i * n + j] = t;
        }
    }
    (c, scale)
}

/// Runs `backend` and checks every element against the reference within 1e-5 of its scale;
/// returns the result.
fn check(a: MatRef, b: MatRef, backend: Backend, what: &str) -> Vec<f32> {
    let mut c = vec![f32::NAN; a.rows * b.cols];
    matmul_bf16_with(a, b, &mut c, backend).unwrap();
    let (r, scale) = reference(a, b);
    for (idx, ((&got, &want), &sc)) in c.iter().zip(&r).zip(&scale).enumerate() {
        let err = (got as f64 - want).abs();
        assert!(
            err <= 1e-5 * sc + 1e-30,
            "{what} ({backend:?}): element ({}, {}) = {got}, reference {want}, scale {sc}",
            idx / b.cols,
            idx % b.cols
        );
    }
    c
}

/// The backends to test here: always the portable one, AMX when this machine has it.
fn backends() -> Vec<Backend> {
    if amx::available() {
        vec![Backend::Portable, Backend::Amx, Backend::Auto]
    } else {
        println!("AMX is not available here: testing the portable path only");
        vec![Backend::Portable, Backend::Auto]
    }
}

/// Both paths (when AMX is here) within tolerance of the reference, and of each other.
fn check_all(a: MatRef, b: MatRef, what: &str) {
    let results: Vec<Vec<f32>> = backends()
        .into_iter()
        .map(|be| check(a, b, be, what))
        .collect();
    // AMX and the portable path sum in different orders: compare them through the reference
    // check above, and here only that they are close (same scale bound, doubled).
    let (_, scale) = reference(a, b);
    for r in &results[1..] {
        for ((x, y), sc) in r.iter().zip(&results[0]).zip(&scale) {
            assert!(
                ((x - y).abs() as f64) <= 2e-5 * sc + 1e-30,
                "{what}: paths disagree: {x} vs {y}"
            );
        }
    }
}

#[test]
fn mlp_forward_shapes() {
    // x[M,256] · Wᵀ with W stored (256 out, 256 in) row-major.
    let w = values(256 * 256, 1);
    let wv = MatRef::row_major(&w, 256, 256).unwrap();
    for m in [256, 4096] {
        let x = values(m * 256, 2 + m as u64);
        let xv = MatRef::row_major(&x, m, 256).unwrap();
        check_all(xv, wv.t(), &format!("forward M={m}"));
    }
}

#[test]
fn mlp_backward_shapes() {
    let w = values(256 * 256, 3);
    let wv = MatRef::row_major(&w, 256, 256).unwrap();
    let m = 256;
    let ct = values(m * 256, 4);
    let ctv = MatRef::row_major(&ct, m, 256).unwrap();
    let x = values(m * 256, 5);
    let xv = MatRef::row_major(&x, m, 256).unwrap();
    // Input gradient ct · W, weight gradient ctᵀ · x.
    check_all(ctv, wv, "input gradient");
    check_all(ctv.t(), xv, "weight gradient");
    // Both transposed.
    check_all(ctv.t(), wv.t(), "both transposed");
}

#[test]
fn odd_sizes_and_views() {
    let sizes_m = [1usize, 2, 15, 17, 33];
    let sizes_k = [1usize, 2, 3, 31, 33, 257];
    let sizes_n = [1usize, 2, 3, 16, 17, 40];
    let mut seed = 10;
    for &m in &sizes_m {
        for &k in &sizes_k {
            for &n in &sizes_n {
                seed += 1;
                let a = values(m * k, seed);
                let b = values(k * n, seed + 1000);
                let av = MatRef::row_major(&a, m, k).unwrap();
                let bv = MatRef::row_major(&b, k, n).unwrap();
                check_all(av, bv, &format!("{m}x{k} · {k}x{n}"));
                // The same numbers through transposed storage.
                let at = values(k * m, seed);
                let bt = values(n * k, seed + 1000);
                let atv = MatRef::row_major(&at, k, m).unwrap().t();
                let btv = MatRef::row_major(&bt, n, k).unwrap().t();
                check_all(atv, btv, &format!("{m}x{k}ᵀ · {k}x{n}ᵀ"));
            }
        }
    }
}

#[test]
fn odd_strides_use_only_the_view() {
    // a: 37×41 inside a buffer with row stride 130 and column stride 3; b: 41×19 with row
    // stride 1 and column stride 45 (transposed, padded); a third view with both strides odd.
    let (m, k, n) = (37, 41, 19);
    let abuf = values((m - 1) * 130 + (k - 1) * 3 + 1, 77);
    let av = MatRef {
        data: &abuf,
        rows: m,
        cols: k,
        row_stride: 130,
        col_stride: 3,
    };
    let bbuf = values((n - 1) * 45 + k, 78);
    let bv = MatRef {
        data: &bbuf,
        rows: k,
        cols: n,
        row_stride: 1,
        col_stride: 45,
    };
    check_all(av, bv, "strided a, column-strided b");
    let b2buf = values((k - 1) * 5 + (n - 1) * 7 + 1, 79);
    let b2 = MatRef {
        data: &b2buf,
        rows: k,
        cols: n,
        row_stride: 5,
        col_stride: 7,
    };
    check_all(av, b2, "both strides odd");
    // A broadcast row (row stride 0) is a valid view too.
    let row = values(k, 80);
    let bc = MatRef {
        data: &row,
        rows: 20,
        cols: k,
        row_stride: 0,
        col_stride: 1,
    };
    check_all(bc, bv, "broadcast rows");
}

#[test]
fn rounding_is_nearest_even() {
    // Values exactly between two bf16 numbers, and just above/below: times the identity, the
    // product is the rounded operand itself, exactly, on every path.
    let ulp = 2f32.powi(-7); // bf16 spacing in [1, 2)
    let vals = [
        1.0 + ulp / 2.0,                  // tie, rounds down to even 1.0
        1.0 + 1.5 * ulp,                  // tie, rounds up to even 1 + 2ulp
        1.0 + ulp / 2.0 + 2f32.powi(-20), // above the tie: up
        -(1.0 + 1.5 * ulp),
        3.0e-3,
        -7.77e4,
        0.0,
        1.0,
    ];
    let want: Vec<f32> = vals.iter().map(|&v| rne_bf16(v)).collect();
    assert_eq!(want[0], 1.0);
    assert_eq!(want[1], 1.0 + 2.0 * ulp);
    assert_eq!(want[2], 1.0 + ulp);
    let k = vals.len();
    let mut eye = vec![0.0f32; k * k];
    for i in 0..k {
        eye[i * k + i] = 1.0;
    }
    let av = MatRef::row_major(&vals, 1, k).unwrap();
    let ev = MatRef::row_major(&eye, k, k).unwrap();
    for be in backends() {
        let mut c = vec![0.0; k];
        matmul_bf16_with(av, ev, &mut c, be).unwrap();
        assert_eq!(c, want, "{be:?}: a · I");
        // The same through b: I · aᵀ.
        let mut c2 = vec![0.0; k];
        matmul_bf16_with(ev, av.t(), &mut c2, be).unwrap();
        assert_eq!(c2, want, "{be:?}: I · aᵀ");
    }
}

#[test]
fn nan_stays_in_its_row() {
    let (m, k, n) = (20, 40, 24);
    let mut a = values(m * k, 90);
    a[3 * k + 5] = f32::NAN;
    let b = values(k * n, 91);
    let av = MatRef::row_major(&a, m, k).unwrap();
    let bv = MatRef::row_major(&b, k, n).unwrap();
    for be in backends() {
        let mut c = vec![0.0; m * n];
        matmul_bf16_with(av, bv, &mut c, be).unwrap();
        for i in 0..m {
            for j in 0..n {
                assert_eq!(
                    c[i * n + j].is_nan(),
                    i == 3,
                    "{be:?}: ({i}, {j}) = {}",
                    c[i * n + j]
                );
            }
        }
    }
}

#[test]
fn empty_and_zero_k() {
    let a = values(6, 1);
    for be in backends() {
        // K = 0: the product is all zeros (c is overwritten).
        let av = MatRef::row_major(&a[..0], 3, 0).unwrap();
        let bv = MatRef::row_major(&a[..0], 0, 2).unwrap();
        let mut c = vec![5.0; 6];
        matmul_bf16_with(av, bv, &mut c, be).unwrap();
        assert_eq!(c, vec![0.0; 6]);
        // M = 0 and N = 0: nothing to write.
        let av = MatRef::row_major(&a[..0], 0, 3).unwrap();
        let bv = MatRef::row_major(&a[..6], 3, 2).unwrap();
        matmul_bf16_with(av, bv, &mut [], be).unwrap();
        let av = MatRef::row_major(&a[..6], 2, 3).unwrap();
        let bv = MatRef::row_major(&a[..0], 3, 0).unwrap();
        matmul_bf16_with(av, bv, &mut [], be).unwrap();
    }
}

#[test]
fn bad_inputs_are_errors() {
    let a = values(12, 1);
    assert!(MatRef::row_major(&a, 5, 3).is_err());
    assert!(MatRef::row_major(&a, usize::MAX, 2).is_err());
    let av = MatRef::row_major(&a, 3, 4).unwrap();
    let bv = MatRef::row_major(&a, 4, 3).unwrap();
    for be in [Backend::Auto, Backend::Portable, Backend::Amx] {
        let mut c = vec![0.0; 9];
        // Inner sizes differ.
        let e = matmul_bf16_with(av, av, &mut c, be).unwrap_err();
        assert!(e.to_string().contains("columns of a"), "{e}");
        // Output of the wrong size.
        let e = matmul_bf16_with(av, bv, &mut c[..8], be).unwrap_err();
        assert!(e.to_string().contains("a.rows*b.cols"), "{e}");
        // Views that reach past their data, or whose index overflows.
        let long = MatRef {
            row_stride: 5,
            ..av
        };
        let e = matmul_bf16_with(long, bv, &mut c, be).unwrap_err();
        assert!(e.to_string().contains("operand a"), "{e}");
        let huge = MatRef {
            col_stride: usize::MAX / 2,
            ..bv
        };
        let e = matmul_bf16_with(av, huge, &mut c, be).unwrap_err();
        assert!(e.to_string().contains("operand b"), "{e}");
        let tall = MatRef {
            rows: usize::MAX,
            ..av
        };
        assert!(matmul_bf16_with(tall, bv, &mut c, be).is_err());
    }
    if !amx::available() {
        let mut c = vec![0.0; 9];
        let e = matmul_bf16_with(av, bv, &mut c, Backend::Amx).unwrap_err();
        assert!(e.to_string().contains("AMX"), "{e}");
    }
}

#[test]
fn scratch_reuse_and_threads() {
    // Alternating shapes on one thread (scratch reused and grown), and calls from other
    // threads at the same time (tile state is per thread).
    let run = |seed: u64| {
        for (m, k, n) in [(64, 300, 48), (3, 5, 7), (130, 64, 200), (16, 32, 16)] {
            let a = values(m * k, seed + m as u64);
            let b = values(k * n, seed + n as u64);
            let av = MatRef::row_major(&a, m, k).unwrap();
            let bv = MatRef::row_major(&b, k, n).unwrap();
            let mut c = vec![0.0; m * n];
            matmul_bf16(av, bv, &mut c).unwrap();
            let (r, scale) = reference(av, bv);
            for ((x, y), s) in c.iter().zip(&r).zip(&scale) {
                assert!((*x as f64 - y).abs() <= 1e-5 * s + 1e-30);
            }
        }
    };
    std::thread::scope(|s| {
        let h: Vec<_> = (0..3).map(|t| s.spawn(move || run(100 * t))).collect();
        run(7);
        for h in h {
            h.join().unwrap();
        }
    });
}

/// Child half of `env_var_turns_amx_off`: reports `available()` and checks that the product
/// still works. Does nothing unless that test started it.
#[test]
#[ignore = "run by env_var_turns_amx_off in a child process"]
fn env_probe_child() {
    if std::env::var_os("SBGM_XLA_ENV_PROBE").is_none() {
        return;
    }
    println!("AMX_AVAILABLE={}", amx::available());
    let a = values(40 * 33, 1);
    let av = MatRef::row_major(&a, 40, 33).unwrap();
    check(av, av.t(), Backend::Auto, "child");
}

#[test]
fn env_var_turns_amx_off() {
    let exe = std::env::current_exe().unwrap();
    let probe = |value: Option<&str>| {
        let mut cmd = std::process::Command::new(&exe);
        cmd.args([
            "--exact",
            "env_probe_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SBGM_XLA_ENV_PROBE", "1");
        match value {
            Some(v) => cmd.env("SBGM_XLA_NO_AMX", v),
            None => cmd.env_remove("SBGM_XLA_NO_AMX"),
        };
        let out = cmd.output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "child failed: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        if text.contains("AMX_AVAILABLE=true") {
            true
        } else {
            assert!(
                text.contains("AMX_AVAILABLE=false"),
                "no report from child: {text}"
            );
            false
        }
    };
    assert!(!probe(Some("1")), "SBGM_XLA_NO_AMX=1 must turn AMX off");
    assert!(!probe(Some("yes")));
    // Unset or "0": the same answer as this process would give without the variable.
    let without = probe(None);
    assert_eq!(probe(Some("0")), without);
    if std::env::var_os("SBGM_XLA_NO_AMX").is_none_or(|v| v.is_empty() || v == "0") {
        assert_eq!(amx::available(), without);
    }
    println!("AMX available in this process (without the variable): {without}");
}
