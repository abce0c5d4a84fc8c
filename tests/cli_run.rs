//! `sbgm-xla run`: StableHLO text, bytecode and jax.export artifacts on .npy inputs, compared
//! with the outputs JAX recorded under `hlo/`; missing, corrupt and mismatched inputs fail with
//! a clear message.

use sbgm_xla::HostArray;
use sbgm_xla::io::npy::{read_npy, write_npy};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn hlo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("hlo").join(rel)
}

fn sbgm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sbgm-xla"))
        .args(args)
        .output()
        .expect("run sbgm-xla")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn runs_a_jax_export_and_writes_what_jax_recorded() {
    if !hlo("simple_f64_i32").exists() {
        eprintln!("SKIPPED: hlo/ fixtures are missing");
        return;
    }
    let out = tempfile::tempdir().unwrap();
    for file in ["module.mlirbc", "lowered.mlir", "exported.jax_exported"] {
        let dir = out.path().join(file);
        let o = sbgm(&[
            "run",
            hlo("simple_f64_i32").join(file).to_str().unwrap(),
            "--input",
            hlo("simple_f64_i32/in_x.npy").to_str().unwrap(),
            "--input",
            hlo("simple_f64_i32/in_n.npy").to_str().unwrap(),
            "--out-dir",
            dir.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{file}: {}", stderr(&o));
        let listed = String::from_utf8_lossy(&o.stdout);
        assert!(
            listed.contains("out_0.npy: f64[3]") && listed.contains("out_1.npy: i32[]"),
            "{listed}"
        );
        for i in 0..2 {
            let got = read_npy(&dir.join(format!("out_{i}.npy"))).unwrap();
            let want = read_npy(&hlo(&format!("simple_f64_i32/out_{i}.npy"))).unwrap();
            // x * f64(n) and n + 1 are exact.
            assert_eq!(got, want, "{file}: out_{i}");
        }
    }
}

#[test]
fn a_missing_input_file_is_named() {
    let out = tempfile::tempdir().unwrap();
    let o = sbgm(&[
        "run",
        hlo("simple_f64_i32/lowered.mlir").to_str().unwrap(),
        "--input",
        "/nonexistent/x.npy",
        "--out-dir",
        out.path().to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("/nonexistent/x.npy"), "{e}");
}

#[test]
fn a_corrupt_npy_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.npy");
    std::fs::write(&bad, b"\x93NUMPY\x01\x00garbage").unwrap();
    let o = sbgm(&[
        "run",
        hlo("simple_f64_i32/lowered.mlir").to_str().unwrap(),
        "-i",
        bad.to_str().unwrap(),
        "--out-dir",
        dir.path().join("out").to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("bad.npy"), "{e}");
    assert!(!e.contains("panicked"), "{e}");
}

#[test]
fn wrong_inputs_are_explained() {
    if !hlo("simple_f64_i32").exists() {
        eprintln!("SKIPPED: hlo/ fixtures are missing");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let f32s = dir.path().join("f32.npy");
    write_npy(
        &f32s,
        &HostArray::from_vec(vec![3], vec![1f32, 2., 3.]).unwrap(),
    )
    .unwrap();
    let outdir = dir.path().join("out");
    // Too few inputs for a bare module.
    let o = sbgm(&[
        "run",
        hlo("simple_f64_i32/lowered.mlir").to_str().unwrap(),
        "-i",
        hlo("simple_f64_i32/in_x.npy").to_str().unwrap(),
        "--out-dir",
        outdir.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("wrong number of arguments: the program takes 2"),
        "{}",
        stderr(&o)
    );
    // A wrong dtype for an export.
    let o = sbgm(&[
        "run",
        hlo("simple_f64_i32/exported.jax_exported")
            .to_str()
            .unwrap(),
        "-i",
        f32s.to_str().unwrap(),
        "-i",
        hlo("simple_f64_i32/in_n.npy").to_str().unwrap(),
        "--out-dir",
        outdir.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("input 0"), "{}", stderr(&o));
    // Malformed MLIR.
    let bad = dir.path().join("bad.mlir");
    std::fs::write(&bad, "module {\n  func.func @main() -> ( {\n}\n").unwrap();
    let o = sbgm(&[
        "run",
        bad.to_str().unwrap(),
        "--out-dir",
        outdir.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("compiling the program failed") && e.contains("accepts StableHLO"),
        "{e}"
    );
    assert!(!outdir.join("out_0.npy").exists());
}

#[test]
fn runs_a_dumped_module_that_calls_the_host_kernel() {
    // what SBGM_XLA_DUMP_HLO writes for a bf16 product with the host kernel on
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("m.mlir");
    std::fs::write(
        &module,
        format!(
            "module @m {{
  func.func public @main(%a: tensor<2x3xf32>, %b: tensor<4x3xf32>) -> tensor<2x4xf32> {{
    %0 = stablehlo.custom_call @{}(%a, %b) {{api_version = 4 : i32, backend_config = {{lhs_contract = 1 : i64, rhs_contract = 1 : i64}}}} : (tensor<2x3xf32>, tensor<4x3xf32>) -> tensor<2x4xf32>
    return %0 : tensor<2x4xf32>
  }}
}}",
            sbgm_xla::kernels::BF16_MATMUL
        ),
    )
    .unwrap();
    // entries exact in bf16: the product is exact
    let a: Vec<f32> = (0..6).map(|i| i as f32 - 2.0).collect();
    let b: Vec<f32> = (0..12).map(|i| i as f32 * 0.25).collect();
    write_npy(
        &dir.path().join("a.npy"),
        &HostArray::from_vec(vec![2, 3], a.clone()).unwrap(),
    )
    .unwrap();
    write_npy(
        &dir.path().join("b.npy"),
        &HostArray::from_vec(vec![4, 3], b.clone()).unwrap(),
    )
    .unwrap();
    let out = dir.path().join("out");
    let path = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let o = sbgm(&[
        "run",
        &path("m.mlir"),
        "--input",
        &path("a.npy"),
        "--input",
        &path("b.npy"),
        "--out-dir",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let got = read_npy(&out.join("out_0.npy"))
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    let want: Vec<f32> = (0..2)
        .flat_map(|i| {
            let (a, b) = (&a, &b);
            (0..4).map(move |j| (0..3).map(|k| a[i * 3 + k] * b[j * 3 + k]).sum::<f32>())
        })
        .collect();
    assert_eq!(got, want);
}
