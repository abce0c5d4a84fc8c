//! `sbgm-xla run` refuses what the plugin cannot run, with a message saying why: a portable
//! artifact written with a StableHLO version newer than the plugin reads (before compiling),
//! and a program that needs a custom call the plugin lacks (naming the target).

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

/// Replaces the first `from` in `bytes` by `to` (same length).
fn patch(bytes: &mut [u8], from: &[u8], to: &[u8]) {
    assert_eq!(from.len(), to.len());
    let at = bytes
        .windows(from.len())
        .position(|w| w == from)
        .expect("pattern present");
    bytes[at..at + to.len()].copy_from_slice(to);
}

#[test]
fn an_artifact_newer_than_the_plugin_is_refused_before_compiling() {
    if !hlo("mlp_score").exists() {
        eprintln!("SKIPPED: hlo/ fixtures are missing");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let args = |file: &Path| -> Vec<String> {
        vec![
            "run".into(),
            file.to_str().unwrap().into(),
            "-i".into(),
            hlo("mlp_score/in_t.npy").to_str().unwrap().into(),
            "-i".into(),
            hlo("mlp_score/in_x.npy").to_str().unwrap().into(),
            "--out-dir".into(),
            dir.path().join("out").to_str().unwrap().into(),
        ]
    };
    for (name, file) in [
        ("module.mlirbc", "too_new.mlirbc"),
        ("exported.jax_exported", "too_new.jax_exported"),
    ] {
        // The unmodified artifact runs.
        let a = args(&hlo("mlp_score").join(name));
        let o = sbgm(&a.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(o.status.success(), "{name}: {}", stderr(&o));

        let mut bytes = std::fs::read(hlo("mlp_score").join(name)).unwrap();
        patch(&mut bytes, b"StableHLO_v1.15.0", b"StableHLO_v9.15.0");
        let path = dir.path().join(file);
        std::fs::write(&path, &bytes).unwrap();
        let a = args(&path);
        let o = sbgm(&a.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(!o.status.success());
        let e = stderr(&o);
        assert!(
            e.contains("StableHLO 9.15.0") && e.contains("newer than the plugin reads"),
            "{file}: {e}"
        );
        assert!(!e.contains("compiling the program failed"), "{file}: {e}");
        assert!(!e.contains("panicked"), "{e}");
    }
}

#[test]
fn a_custom_call_the_plugin_lacks_is_named() {
    let dir = tempfile::tempdir().unwrap();
    // What `jnp.linalg.cholesky` lowers to on CPU: jaxlib's LAPACK kernel.
    let module = r#"module @jit_chol attributes {mhlo.num_partitions = 1 : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(%arg0: tensor<3x3xf32>) -> tensor<3x3xf32> {
    %0:2 = stablehlo.custom_call @lapack_spotrf_ffi(%arg0) {mhlo.backend_config = {uplo = 76 : ui8}, operand_layouts = [dense<[0, 1]> : tensor<2xindex>], result_layouts = [dense<[0, 1]> : tensor<2xindex>, dense<> : tensor<0xindex>]} : (tensor<3x3xf32>) -> (tensor<3x3xf32>, tensor<i32>)
    return %0#0 : tensor<3x3xf32>
  }
}
"#;
    let file = dir.path().join("chol.mlir");
    std::fs::write(&file, module).unwrap();
    let a = dir.path().join("a.npy");
    let eye = sbgm_xla::HostArray::from_vec(vec![3, 3], vec![2f32, 0., 0., 0., 2., 0., 0., 0., 2.])
        .unwrap();
    sbgm_xla::io::npy::write_npy(&a, &eye).unwrap();
    let o = sbgm(&[
        "run",
        file.to_str().unwrap(),
        "-i",
        a.to_str().unwrap(),
        "--out-dir",
        dir.path().join("out").to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("uses custom calls (lapack_spotrf_ffi)") && e.contains("does not provide"),
        "{e}"
    );
    assert!(!e.contains("panicked"), "{e}");
}
