//! `.npy`/`.npz` reading and writing against files written by NumPy and JAX
//! (tests/fixtures/io/make_npy_fixtures.py), and bad inputs.

use sbgm_xla::io::{read_npy, read_npy_record, read_npz, write_npy, write_npy_record, write_npz};
use sbgm_xla::{DType, HostArray};
use std::path::{Path, PathBuf};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/io/npy")
}

fn expected() -> serde_json::Map<String, serde_json::Value> {
    let text = std::fs::read_to_string(dir().join("expected.json")).unwrap();
    serde_json::from_str::<serde_json::Value>(&text)
        .unwrap()
        .as_object()
        .unwrap()
        .clone()
}

fn dtype_of(name: &str) -> DType {
    match name.split('_').next().unwrap() {
        "f4" => DType::F32,
        "f8" => DType::F64,
        "f2" => DType::F16,
        "bf16" => DType::BF16,
        "i4" => DType::I32,
        "i8" => DType::I64,
        "u4" => DType::U32,
        "u8" => DType::U64,
        "u1" => DType::U8,
        "b1" => DType::Pred,
        other => panic!("fixture {other}"),
    }
}

fn check_values(name: &str, a: &HostArray, want: &serde_json::Value) {
    let shape: Vec<usize> = want["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect();
    assert_eq!(a.shape(), &shape[..], "{name}");
    let vals: Vec<f64> = want["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    // NumPy's values, converted to f64 by NumPy: exact for every fixture.
    assert_eq!(a.to_f64_vec(), vals, "{name}");
}

#[test]
fn reads_every_numpy_fixture_with_numpys_values() {
    let exp = expected();
    assert!(exp.len() >= 24);
    for (name, want) in &exp {
        let a = read_npy(&dir().join(format!("{name}.npy"))).unwrap();
        assert_eq!(a.dtype(), dtype_of(name), "{name}");
        check_values(name, &a, want);
    }
}

/// The little-endian, C-order, version-1.0 file NumPy writes for the same array.
fn canonical(name: &str) -> String {
    let base = name
        .replace("_be", "")
        .replace("_fortran", "")
        .replace("_v2", "")
        .replace("_v3", "");
    format!("{base}.npy")
}

#[test]
fn writes_the_bytes_np_save_writes() {
    for name in expected().keys() {
        let a = read_npy(&dir().join(format!("{name}.npy"))).unwrap();
        let mut out = Vec::new();
        write_npy_record(&mut out, &a).unwrap();
        let numpy = std::fs::read(dir().join(canonical(name))).unwrap();
        assert_eq!(out, numpy, "{name} vs {}", canonical(name));
    }
}

#[test]
fn write_npy_round_trips_through_a_file() {
    let tmp = tempfile::tempdir().unwrap();
    let arrays = [
        HostArray::from_vec(vec![2, 2], vec![1.5f32, -2.0, 0.0, 9.0]).unwrap(),
        HostArray::from_vec(vec![3], vec![true, false, true]).unwrap(),
        HostArray::from_vec(vec![1, 2], vec![half::bf16::from_f32(1.5); 2]).unwrap(),
        HostArray::scalar(7i64),
        HostArray::from_vec(vec![0, 4], Vec::<u32>::new()).unwrap(),
    ];
    for (i, a) in arrays.iter().enumerate() {
        let p = tmp.path().join(format!("a{i}.npy"));
        write_npy(&p, a).unwrap();
        assert_eq!(&read_npy(&p).unwrap(), a);
    }
    // Records concatenated in one stream come back in order.
    let mut buf = Vec::new();
    for a in &arrays {
        write_npy_record(&mut buf, a).unwrap();
    }
    let mut r = &buf[..];
    for a in &arrays {
        assert_eq!(&read_npy_record(&mut r).unwrap(), a);
    }
    assert!(r.is_empty());
}

#[test]
fn reads_npz_archives_from_numpy() {
    let exp = expected();
    let stored = read_npz(&dir().join("stored.npz")).unwrap();
    let names: Vec<&str> = stored.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["x", "y"]);
    check_values("x", &stored[0].1, &exp["f4"]);
    check_values("y", &stored[1].1, &exp["i8"]);
    let comp = read_npz(&dir().join("compressed.npz")).unwrap();
    assert_eq!(comp[1].0, "flag");
    assert_eq!(comp[1].1.dtype(), DType::Pred);
    check_values("flag", &comp[1].1, &exp["b1"]);

    let tmp = tempfile::tempdir().unwrap();
    for compress in [false, true] {
        let p = tmp.path().join(format!("out{compress}.npz"));
        write_npz(&p, &comp, compress).unwrap();
        assert_eq!(read_npz(&p).unwrap(), comp);
    }
    let dup = [("a", comp[0].1.clone()), ("a", comp[1].1.clone())];
    assert!(write_npz(&tmp.path().join("dup.npz"), &dup, false).is_err());
}

fn err_of(bytes: &[u8]) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("bad.npy");
    std::fs::write(&p, bytes).unwrap();
    let e = read_npy(&p).unwrap_err().to_string();
    assert!(e.contains("bad.npy"), "error does not name the file: {e}");
    e
}

#[test]
fn refuses_object_dtype() {
    let p = dir().join("object.npy");
    let e = read_npy(&p).unwrap_err().to_string();
    assert!(
        e.contains("object dtype") && e.contains("object.npy"),
        "{e}"
    );
    let e = read_npz(&dir().join("compressed.npz").with_file_name("object.npy"));
    assert!(e.is_err());
}

#[test]
fn bad_inputs_give_clear_errors() {
    let good = std::fs::read(dir().join("f4.npy")).unwrap();
    assert!(err_of(b"PK\x03\x04 not npy").contains("magic"));
    assert!(err_of(&good[..5]).contains("truncated"));
    assert!(err_of(&good[..40]).contains("truncated"));
    let e = err_of(&good[..good.len() - 3]);
    assert!(e.contains("truncated") && e.contains("24 bytes"), "{e}");
    let mut v4 = good.clone();
    v4[6] = 4;
    assert!(err_of(&v4).contains("version 4.0"));
    let mut trailing = good.clone();
    trailing.push(0);
    assert!(err_of(&trailing).contains("after the array"));
    let text = |header: &str| {
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend_from_slice(&(header.len() as u16).to_le_bytes());
        b.extend_from_slice(header.as_bytes());
        b
    };
    let e = err_of(&text("{'descr': '<f4', 'fortran_order': False}\n"));
    assert!(e.contains("'shape' is missing"), "{e}");
    let e = err_of(&text(
        "{'descr': '<i2', 'fortran_order': False, 'shape': ()}\n",
    ));
    assert!(e.contains("unsupported .npy dtype '<i2'"), "{e}");
    let e = err_of(&text(
        "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': ()}\n",
    ));
    assert!(e.contains("structured"), "{e}");
    let e = err_of(&text(
        "{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999, 99999999999)}\n",
    ));
    assert!(e.contains("too large") || e.contains("truncated"), "{e}");
    let mut b = text("{'descr': '|b1', 'fortran_order': False, 'shape': (2,)}\n");
    b.extend_from_slice(&[1, 2]);
    assert!(err_of(&b).contains("bool"));
    assert!(read_npy(Path::new("/no/such/file.npy")).is_err());
}

#[test]
fn no_panic_on_any_truncation_or_header_byte_flip() {
    let good = std::fs::read(dir().join("f4_3d_fortran.npy")).unwrap();
    for n in 0..good.len() {
        assert!(read_npy_record(&mut &good[..n]).is_err(), "prefix {n}");
    }
    for i in 0..128 {
        for x in [0u8, b'(', b')', b',', b'\'', b'9', 0xff] {
            let mut b = good.clone();
            b[i] = x;
            let _ = read_npy_record(&mut &b[..]);
        }
    }
}
