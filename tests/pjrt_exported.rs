//! JAX-exported modules under `hlo/` (written by `tools/export_hlo.py` with JAX 0.10.2) run
//! through the runtime and match the outputs JAX recorded next to them.

use sbgm_xla::exec::checked::run_program;
use sbgm_xla::io::npy::read_npy;
use sbgm_xla::pjrt::{Client, ClientOptions, CompileOptions, PluginSpec, Program, plugin};
use sbgm_xla::{DType, Error, HostArray};
use std::path::{Path, PathBuf};

fn folder(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("hlo").join(name)
}

/// The inputs by argument name, in `meta.json` order.
fn inputs(name: &str) -> Vec<HostArray> {
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(folder(name).join("meta.json")).unwrap())
            .unwrap();
    meta["arguments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            read_npy(&folder(name).join(format!("in_{}.npy", a["name"].as_str().unwrap()))).unwrap()
        })
        .collect()
}

fn recorded(name: &str) -> Vec<HostArray> {
    (0..)
        .map(|i| folder(name).join(format!("out_{i}.npy")))
        .take_while(|p| p.exists())
        .map(|p| read_npy(&p).unwrap())
        .collect()
}

/// Equal dtypes and shapes; values within a few float ulps (another XLA build than JAX's may
/// fuse differently), integers exactly.
fn assert_matches(got: &[HostArray], want: &[HostArray], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: number of outputs");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.dtype(), w.dtype(), "{what}: output {i} dtype");
        assert_eq!(g.shape(), w.shape(), "{what}: output {i} shape");
        let tol = match g.dtype() {
            DType::F32 => 2e-6,
            DType::F64 => 1e-13,
            _ => 0.0,
        };
        for (a, b) in g.to_f64_vec().iter().zip(w.to_f64_vec()) {
            assert!(
                (a - b).abs() <= tol * (1.0 + b.abs()),
                "{what}: output {i}: {a} vs JAX's {b}"
            );
        }
    }
}

const CASES: [&str; 4] = [
    "simple_dot_tanh",
    "simple_f64_i32",
    "mlp_score",
    "mlp_score_multi",
];

#[test]
fn exported_artifacts_match_jax() {
    if !folder("mlp_score").exists() {
        eprintln!("SKIPPED: hlo/ fixtures are missing");
        return;
    }
    let c = Client::cpu().unwrap();
    for name in CASES {
        let want = recorded(name);
        assert!(!want.is_empty(), "{name}: no recorded outputs");
        // The serialized jax.export artifact (calling convention applied by `run_program`).
        let got = run_program(
            &c,
            &folder(name).join("exported.jax_exported"),
            &inputs(name),
        )
        .unwrap();
        assert_matches(&got, &want, &format!("{name}/exported.jax_exported"));
        // The plain text of jax.jit(f).lower(...): the arguments as they are.
        if name != "mlp_score_multi" {
            let got = run_program(&c, &folder(name).join("lowered.mlir"), &inputs(name)).unwrap();
            assert_matches(&got, &want, &format!("{name}/lowered.mlir"));
            // The bare mlir_module_serialized bytes (portable VHLO, StableHLO 1.15).
            let got = run_program(&c, &folder(name).join("module.mlirbc"), &inputs(name)).unwrap();
            assert_matches(&got, &want, &format!("{name}/module.mlirbc"));
        }
    }
}

#[test]
fn the_0_81_plugin_runs_the_compat_artifact_and_explains_the_too_new_one() {
    if !folder("simple_dot_tanh").exists() {
        eprintln!("SKIPPED: hlo/ fixtures are missing");
        return;
    }
    let path = plugin::install(plugin::known("cpu-openxla").unwrap()).unwrap();
    let c = Client::open(&PluginSpec::Path(path), &ClientOptions::default()).unwrap();
    let name = "simple_dot_tanh";
    // Written for StableHLO 1.10: the 0.81 plugin (StableHLO <= 1.13) reads it.
    let got = run_program(
        &c,
        &folder(name).join("module.compat.mlirbc"),
        &inputs(name),
    )
    .unwrap();
    assert_matches(
        &got,
        &recorded(name),
        "module.compat.mlirbc on the 0.81 plugin",
    );
    // An artifact whose bytecode the plugin cannot read: the error passes the plugin's message
    // on and names the artifact's StableHLO version next to the versions the plugin accepts.
    // (The 0.81 plugin does read this small 1.15 module: VHLO readers are lenient when no newer
    // op is used, so we truncate the bytes and claim a far newer producer.)
    let mut bytes = std::fs::read(folder(name).join("module.mlirbc")).unwrap();
    let at = bytes
        .windows(17)
        .position(|w| w == b"StableHLO_v1.15.0")
        .unwrap();
    bytes[at + 11] = b'9';
    bytes.truncate(bytes.len() / 2);
    // `Program::from_bytes` refuses the truncated framing; the plugin's own error is tested here.
    assert!(Program::from_bytes(bytes.clone()).is_err());
    let err = c
        .compile(&Program::Bytecode(bytes), &CompileOptions::default())
        .unwrap_err();
    let Error::Compile { versions, .. } = &err else {
        panic!("expected a compile error, got {err:?}");
    };
    assert!(
        versions.contains("written with StableHLO 9.15.0"),
        "{versions}"
    );
    assert!(
        versions.contains("accepts StableHLO 0.9.0 to 1.13.3"),
        "{versions}"
    );
    assert!(versions.contains("PJRT C API 0.81"), "{versions}");
    eprintln!("{err}");
}
