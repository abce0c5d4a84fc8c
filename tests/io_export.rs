//! `jax.export` artifacts written by JAX (tests/fixtures/io/make_export_fixtures.py): the
//! signature, calling convention and module read here agree with what JAX reported.

use sbgm_xla::io::{
    Dim, ExportedArtifact, ModuleArg, ModuleFormat, ModuleResult, Program, read_exported,
    read_program,
};
use sbgm_xla::{DType, HostArray};
use std::path::{Path, PathBuf};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/io/export")
}

fn meta(name: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir().join(format!("{name}.json"))).unwrap())
        .unwrap()
}

fn avals_as_json(avals: &[sbgm_xla::io::Aval]) -> serde_json::Value {
    avals
        .iter()
        .map(|a| {
            let shape: Vec<usize> = a.fixed_shape().unwrap();
            serde_json::json!([a.dtype_name, shape])
        })
        .collect()
}

#[test]
fn reads_what_jax_reports() {
    for name in ["single", "multi", "bool_out"] {
        let m = meta(name);
        let a = read_exported(&dir().join(format!("{name}.jaxexport"))).unwrap();
        assert_eq!(a.function_name, m["fun_name"], "{name}");
        assert_eq!(avals_as_json(&a.in_avals), m["in_avals"], "{name}");
        assert_eq!(avals_as_json(&a.out_avals), m["out_avals"], "{name}");
        assert_eq!(serde_json::json!(a.platforms), m["platforms"]);
        assert_eq!(
            serde_json::json!(a.module_kept_var_idx),
            m["module_kept_var_idx"]
        );
        assert_eq!(
            a.calling_convention_version as u64,
            m["calling_convention_version"].as_u64().unwrap()
        );
        assert_eq!(a.nr_devices as u64, m["nr_devices"].as_u64().unwrap());
        assert_eq!(a.uses_global_constants, m["uses_global_constants"]);
        assert!(a.ordered_effects.is_empty());
        assert_eq!(
            a.mlir_module.len() as u64,
            m["mlir_module_len"].as_u64().unwrap()
        );
        let head: Vec<u64> = a.mlir_module[..8].iter().map(|&b| b as u64).collect();
        assert_eq!(serde_json::json!(head), m["mlir_module_head"]);
        assert_eq!(a.module_format(), Some(ModuleFormat::Bytecode));
        a.check_runnable().unwrap();
    }
    // The bare module bytes are exactly those of the artifact.
    let single = read_exported(&dir().join("single.jaxexport")).unwrap();
    assert_eq!(
        single.mlir_module,
        std::fs::read(dir().join("single.mlirbc")).unwrap()
    );
}

#[test]
fn calling_convention_with_platform_index_and_dropped_argument() {
    let single = read_exported(&dir().join("single.jaxexport")).unwrap();
    assert_eq!(
        single.module_args(),
        vec![ModuleArg::Input(0), ModuleArg::Input(2)]
    );
    assert_eq!(single.in_avals[1].dtype, Some(DType::I32));
    assert_eq!(single.out_avals[1].dtype, Some(DType::BF16));
    assert_eq!(single.out_avals[1].shape, Vec::<Dim>::new());

    let multi = read_exported(&dir().join("multi.jaxexport")).unwrap();
    assert!(multi.has_platform_index_argument());
    assert_eq!(
        multi.module_args(),
        vec![
            ModuleArg::PlatformIndex,
            ModuleArg::Input(0),
            ModuleArg::Input(2)
        ]
    );
    assert_eq!(multi.platform_index("cpu").unwrap(), 0);
    assert_eq!(multi.platform_index("cuda").unwrap(), 1);
    assert_eq!(multi.platform_index("gpu").unwrap(), 1);
    let e = multi.platform_index("tpu").unwrap_err().to_string();
    assert!(e.contains("tpu") && e.contains("cuda"), "{e}");

    let eff = read_exported(&dir().join("effects.jaxexport")).unwrap();
    assert_eq!(eff.ordered_effects.len(), 1);
    assert!(eff.ordered_effects[0].contains("TestOrderedEffect"));
    assert_eq!(
        eff.module_args(),
        vec![
            ModuleArg::Token(0),
            ModuleArg::Input(0),
            ModuleArg::Input(2)
        ]
    );
    assert_eq!(
        eff.module_results(),
        vec![
            ModuleResult::Token(0),
            ModuleResult::Output(0),
            ModuleResult::Output(1)
        ]
    );
}

#[test]
fn checks_inputs_against_the_signature() {
    let a = read_exported(&dir().join("single.jaxexport")).unwrap();
    let x = HostArray::from_vec(vec![2, 3], vec![0f32; 6]).unwrap();
    let u = HostArray::from_vec(vec![5], vec![0i32; 5]).unwrap();
    let w = HostArray::from_vec(vec![3, 4], vec![0f32; 12]).unwrap();
    a.check_inputs(&[x.clone(), u.clone(), w.clone()]).unwrap();
    let e = a
        .check_inputs(&[x.clone(), w.clone()])
        .unwrap_err()
        .to_string();
    assert!(e.contains("takes 3 inputs"), "{e}");
    let e = a
        .check_inputs(&[x.clone(), u, x.clone()])
        .unwrap_err()
        .to_string();
    assert!(e.contains("input 2") && e.contains("float32[3, 4]"), "{e}");
}

#[test]
fn recognises_program_files() {
    match read_program(&dir().join("single.mlirbc")).unwrap() {
        Program::Module { format, .. } => assert_eq!(format, ModuleFormat::Bytecode),
        p => panic!("{p:?}"),
    }
    assert!(matches!(
        read_program(&dir().join("multi.jaxexport")).unwrap(),
        Program::Exported(_)
    ));
    let e = read_program(&dir().join("single.json"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("single.json"), "{e}");
    let e = ExportedArtifact::from_bytes(&std::fs::read(dir().join("single.mlirbc")).unwrap());
    assert!(e.unwrap_err().to_string().contains("bare MLIR bytecode"));
}

#[test]
fn corrupt_artifacts_never_panic() {
    let good = std::fs::read(dir().join("multi.jaxexport")).unwrap();
    for n in 0..good.len() {
        let _ = ExportedArtifact::from_bytes(&good[..n]);
    }
    for i in 0..good.len() {
        for x in [0u8, 0xff, 0x7f] {
            let mut b = good.clone();
            b[i] = x;
            let _ = ExportedArtifact::from_bytes(&b);
        }
    }
    assert!(ExportedArtifact::from_bytes(&good[..3]).is_err());
}

#[test]
fn refuses_unsupported_calling_convention() {
    // Find the calling convention field (u16 10) via the parsed artifact and rewrite it.
    let good = std::fs::read(dir().join("single.jaxexport")).unwrap();
    let a = ExportedArtifact::from_bytes(&good).unwrap();
    assert_eq!(a.calling_convention_version, 10);
    let mut found = false;
    for i in 0..good.len() - 1 {
        if good[i] == 10 && good[i + 1] == 0 {
            let mut b = good.clone();
            b[i] = 42;
            if let Err(e) = ExportedArtifact::from_bytes(&b) {
                let e = e.to_string();
                if e.contains("calling convention version 42") {
                    found = true;
                    break;
                }
            }
        }
    }
    assert!(
        found,
        "no byte of the file changed the calling convention version"
    );
}

/// The golden exports under hlo/ (tools/export_hlo.py): signature and calling convention as
/// recorded by JAX in meta.json, module bytes equal to module.mlirbc, inputs accepted.
#[test]
fn reads_the_golden_exports_in_hlo() {
    let hlo = Path::new(env!("CARGO_MANIFEST_DIR")).join("hlo");
    let mut seen = 0;
    for entry in std::fs::read_dir(&hlo).unwrap() {
        let d = entry.unwrap().path();
        let art = d.join("exported.jax_exported");
        if !art.exists() {
            continue;
        }
        seen += 1;
        let m: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(d.join("meta.json")).unwrap()).unwrap();
        let a = read_exported(&art).unwrap();
        let sig = |avals: &[sbgm_xla::io::Aval]| -> serde_json::Value {
            avals
                .iter()
                .map(|a| serde_json::json!([a.dtype_name, a.fixed_shape().unwrap()]))
                .collect()
        };
        let want = |key: &str| -> serde_json::Value {
            m[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| serde_json::json!([x["dtype"], x["shape"]]))
                .collect()
        };
        assert_eq!(sig(&a.in_avals), want("arguments"), "{}", d.display());
        assert_eq!(sig(&a.out_avals), want("results"), "{}", d.display());
        assert_eq!(serde_json::json!(a.platforms), m["platforms"]);
        assert_eq!(
            serde_json::json!(a.module_kept_var_idx),
            m["module_kept_var_idx"]
        );
        let roles: Vec<ModuleArg> = m["main_arguments_in_order"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| match x["role"].as_str().unwrap() {
                "platform_index" => ModuleArg::PlatformIndex,
                "argument" => ModuleArg::Input(x["index"].as_u64().unwrap() as usize),
                r => panic!("role {r}"),
            })
            .collect();
        assert_eq!(a.module_args(), roles, "{}", d.display());
        assert_eq!(
            a.mlir_module,
            std::fs::read(d.join("module.mlirbc")).unwrap()
        );
        assert_eq!(
            a.serialization_version as u64,
            m["serialization_version_field"].as_u64().unwrap()
        );
        // The recorded inputs, by argument name, pass the signature check.
        let inputs: Vec<HostArray> = m["arguments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                let name = x["name"].as_str().unwrap();
                sbgm_xla::io::read_npy(&d.join(format!("in_{name}.npy"))).unwrap()
            })
            .collect();
        a.check_inputs(&inputs).unwrap();
        assert!(matches!(
            read_program(&d.join("exported.mlir")).unwrap(),
            Program::Module {
                format: ModuleFormat::Text,
                ..
            }
        ));
    }
    assert!(seen >= 2, "no golden exports found under hlo/");
}
