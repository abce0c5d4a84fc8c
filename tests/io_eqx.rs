//! Equinox `.eqx` files written by `eqx.tree_serialise_leaves` (tests/fixtures/io/
//! make_eqx_fixtures.py): read against their skeleton, values as NumPy saw them, byte-identical
//! write-back, and corrupt inputs.

use sbgm_xla::io::{
    LeafKind, LeafSpec, check_leaves, read_eqx, read_eqx_records, skeleton_from_json,
    skeleton_to_json, write_eqx, write_eqx_checked,
};
use sbgm_xla::{DType, HostArray};
use std::path::{Path, PathBuf};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/io/eqx")
}

fn fixture(name: &str) -> (PathBuf, Vec<LeafSpec>, serde_json::Value) {
    let text = std::fs::read_to_string(dir().join(format!("{name}.json"))).unwrap();
    let skel = skeleton_from_json(&text).unwrap();
    (
        dir().join(format!("{name}.eqx")),
        skel,
        serde_json::from_str(&text).unwrap(),
    )
}

#[test]
fn reads_equinox_files_with_their_values() {
    for name in ["tiny", "tiny_deep"] {
        let (path, skel, json) = fixture(name);
        let leaves = read_eqx(&path, &skel).unwrap();
        assert_eq!(leaves.len(), json.as_array().unwrap().len());
        for ((p, a), want) in leaves.iter().zip(json.as_array().unwrap()) {
            assert_eq!(p, want["path"].as_str().unwrap());
            let vals: Vec<f64> = want["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            assert_eq!(a.to_f64_vec(), vals, "{p}");
        }
        // What equinox writes for Python scalar fields and bfloat16 arrays.
        let get = |p: &str| &leaves.iter().find(|(q, _)| q == p).unwrap().1;
        assert_eq!(get(".t1").dtype(), DType::F64);
        assert_eq!(get(".q_dim").dtype(), DType::I64);
        assert_eq!(get(".use_bias").dtype(), DType::Pred);
        assert_eq!(get(".blocks[0].drop.p").to_f64_vec(), vec![0.1]);
        assert_eq!(get(".blocks[1].scale").dtype(), DType::BF16);
        let kinds: Vec<LeafKind> = skel.iter().map(|s| s.kind).collect();
        // Python scalars: t1, q_dim, use_bias, and each block's Dropout p and inference.
        let depth = skel
            .iter()
            .filter(|s| s.path.ends_with(".lin.weight"))
            .count();
        assert_eq!(
            kinds.iter().filter(|k| **k == LeafKind::PyScalar).count(),
            3 + 2 * depth
        );
    }
}

#[test]
fn write_back_is_byte_identical() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["tiny", "tiny_deep"] {
        let (path, skel, _) = fixture(name);
        let leaves = read_eqx(&path, &skel).unwrap();
        let out = tmp.path().join(format!("{name}.eqx"));
        write_eqx_checked(&out, &skel, &leaves).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&path).unwrap());
        assert_eq!(read_eqx_records(&path).unwrap().len(), skel.len());
    }
}

#[test]
fn skeleton_json_round_trips() {
    let (_, skel, _) = fixture("tiny");
    assert_eq!(skeleton_from_json(&skeleton_to_json(&skel)).unwrap(), skel);
    assert!(skeleton_from_json(r#"[{"path": ".w", "dtype": "complex64", "shape": []}]"#).is_err());
}

fn err(path: &Path, skel: &[LeafSpec]) -> String {
    let e = read_eqx(path, skel).unwrap_err().to_string();
    assert!(
        e.contains(path.file_name().unwrap().to_str().unwrap()),
        "{e}"
    );
    e
}

#[test]
fn another_architecture_names_the_first_mismatching_leaf() {
    let (deep, deep_skel, _) = fixture("tiny_deep");
    let (tiny, tiny_skel, _) = fixture("tiny");
    // The deeper model's file read as the shallow model: after blocks[0..2] come blocks[2]'s
    // weights where the shallow model expects `.emb`.
    let e = err(&deep, &tiny_skel);
    assert!(
        e.contains("'.emb'")
            && e.contains("expected float32 [4, 2]")
            && e.contains("found float32 [3, 3]"),
        "{e}"
    );
    let e = err(&tiny, &deep_skel);
    assert!(e.contains("'.blocks[2].lin.weight'"), "{e}");

    // Same structure, one shape changed.
    let mut skel = tiny_skel.clone();
    skel[0].shape = vec![3, 4];
    let e = err(&tiny, &skel);
    assert!(
        e.contains("leaf 0 '.blocks[0].lin.weight'") && e.contains("[3, 4]"),
        "{e}"
    );

    // A Python float where the file has a bool.
    let mut skel = tiny_skel.clone();
    let i = skel.iter().position(|s| s.path == ".use_bias").unwrap();
    skel[i] = LeafSpec::py_float(".use_bias");
    assert!(err(&tiny, &skel).contains("Python float"));

    // Skeleton shorter than the file: trailing records are reported.
    let e = err(&tiny, &tiny_skel[..tiny_skel.len() - 2]);
    assert!(e.contains("2 more .npy records"), "{e}");
}

#[test]
fn truncated_and_corrupt_files_give_clear_errors() {
    let (path, skel, _) = fixture("tiny");
    let bytes = std::fs::read(&path).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let cut = tmp.path().join("cut.eqx");
    // Every truncation point gives an error, never a panic.
    for n in (0..bytes.len()).step_by(7) {
        std::fs::write(&cut, &bytes[..n]).unwrap();
        let e = err(&cut, &skel);
        assert!(
            e.contains("truncated") || e.contains("the file ends after"),
            "{n}: {e}"
        );
    }
    // Extra bytes that are not a record.
    let mut extra = bytes.clone();
    extra.extend_from_slice(b"garbage");
    let p = tmp.path().join("extra.eqx");
    std::fs::write(&p, &extra).unwrap();
    assert!(err(&p, &skel).contains("not a .npy record"));
    // An object-dtype record in the middle.
    let obj = std::fs::read(dir().join("../npy/object.npy")).unwrap();
    let mut b = bytes[..128 + 36].to_vec(); // first record: 3x3 f32
    b.extend_from_slice(&obj);
    let p = tmp.path().join("obj.eqx");
    std::fs::write(&p, &b).unwrap();
    let e = err(&p, &skel);
    assert!(e.contains("record 1") && e.contains("object dtype"), "{e}");
}

#[test]
fn check_leaves_reports_names_and_counts() {
    let skel = vec![
        LeafSpec::array(".w", DType::F32, vec![2]),
        LeafSpec::py_int(".n"),
    ];
    let w = HostArray::from_vec(vec![2], vec![1f32, 2.]).unwrap();
    let ok = vec![
        (".w".to_string(), w.clone()),
        (".n".into(), HostArray::scalar(3i64)),
    ];
    check_leaves(&skel, &ok).unwrap();
    assert!(
        check_leaves(&skel, &ok[..1])
            .unwrap_err()
            .to_string()
            .contains("'.n'")
    );
    let renamed = vec![(".v".to_string(), w.clone()), ok[1].clone()];
    assert!(check_leaves(&skel, &renamed).is_err());
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("a.eqx");
    write_eqx(&p, &ok).unwrap();
    assert_eq!(read_eqx(&p, &skel).unwrap(), ok);
    let e = write_eqx_checked(&p, &skel, &ok[..1])
        .unwrap_err()
        .to_string();
    assert!(e.contains("a.eqx"), "{e}");
}

/// The reference Python (JAX + Equinox), if installed: `SBGM_REF_PYTHON` or
/// `~/.cache/sbgm-ref/bin/python`.
fn reference_python() -> Option<PathBuf> {
    let p = std::env::var_os("SBGM_REF_PYTHON")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/sbgm-ref/bin/python"))
        })?;
    p.exists().then_some(p)
}

#[test]
fn equinox_loads_what_we_write() {
    let Some(python) = reference_python() else {
        eprintln!(
            "SKIPPED equinox_loads_what_we_write: no Python with JAX/Equinox (set \
             SBGM_REF_PYTHON or install the reference env at ~/.cache/sbgm-ref)"
        );
        return;
    };
    let (path, skel, _) = fixture("tiny");
    let mut leaves = read_eqx(&path, &skel).unwrap();
    // New values: every f32 array doubled plus one, new Python scalars.
    for (p, a) in leaves.iter_mut() {
        *a = match (p.as_str(), a.dtype()) {
            (".t1", _) => HostArray::scalar(2.5f64),
            (".q_dim", _) => HostArray::scalar(5i64),
            (".use_bias", _) => HostArray::scalar(false),
            (_, DType::F32) => {
                let v: Vec<f32> = a
                    .to_vec::<f32>()
                    .unwrap()
                    .iter()
                    .map(|x| 2.0 * x + 1.0)
                    .collect();
                HostArray::from_vec(a.shape().to_vec(), v).unwrap()
            }
            _ => a.clone(),
        };
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ours.eqx");
    write_eqx_checked(&out, &skel, &leaves).unwrap();
    let script = dir().join("../load_eqx_check.py");
    let res = std::process::Command::new(&python)
        .arg(&script)
        .arg(&out)
        .arg("2")
        .env("JAX_PLATFORMS", "cpu")
        .output()
        .unwrap();
    assert!(
        res.status.success(),
        "equinox could not load our file: {}",
        String::from_utf8_lossy(&res.stderr)
    );
    let got: Vec<(String, String, Vec<f64>)> = serde_json::from_slice(&res.stdout).unwrap();
    assert_eq!(got.len(), leaves.len());
    for ((p, a), (gp, ty, vals)) in leaves.iter().zip(&got) {
        assert_eq!(p, gp);
        assert_eq!(&a.to_f64_vec(), vals, "{p}");
        if p == ".t1" {
            assert_eq!(ty, "float");
        }
        if p == ".use_bias" {
            assert_eq!(ty, "bool");
        }
    }
}
