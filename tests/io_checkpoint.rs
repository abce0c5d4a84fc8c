//! Safetensors checkpoints (against a file written by Python `safetensors`), eqx <-> safetensors
//! conversion on Equinox-written fixtures, and `inspect` on every format.

use sbgm_xla::io::{
    Checkpoint, FileFormat, eqx_to_safetensors, inspect, load_checkpoint, read_eqx,
    safetensors_to_eqx, save_checkpoint, skeleton_from_json, tensor_name,
};
use sbgm_xla::{DType, HostArray};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/io")
}

fn tiny() -> (PathBuf, Vec<sbgm_xla::io::LeafSpec>) {
    let d = fixtures().join("eqx");
    let skel = skeleton_from_json(&std::fs::read_to_string(d.join("tiny.json")).unwrap()).unwrap();
    (d.join("tiny.eqx"), skel)
}

#[test]
fn reads_python_safetensors_file() {
    let ck = load_checkpoint(&fixtures().join("st/ref.safetensors")).unwrap();
    assert_eq!(ck.meta("step"), Some("42"));
    assert_eq!(ck.meta("config"), Some("{\"a\": 1}"));
    let w = ck.get("params.blocks[0].lin.weight").unwrap();
    assert_eq!(w.shape(), &[2, 3]);
    // (arange(6) - 2.5) / 4, written by NumPy.
    assert_eq!(
        w.to_vec::<f32>().unwrap(),
        vec![-0.625, -0.375, -0.125, 0.125, 0.375, 0.625]
    );
    assert_eq!(ck.get("params.t1").unwrap().dtype(), DType::F64);
    assert_eq!(
        ck.get("params.q_dim").unwrap().to_vec::<i64>().unwrap(),
        vec![3]
    );
    assert_eq!(
        ck.get("ema.flag").unwrap().to_vec::<bool>().unwrap(),
        vec![true, false]
    );
    assert_eq!(ck.get("opt.mu").unwrap().shape(), &[0, 2]);
    assert_eq!(ck.numel(), 6 + 1 + 1 + 2 + 1);
    let e = ck
        .get("params.blocks[1].lin.weight")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("'params.blocks[1].lin.weight'") && e.contains("params.t1"),
        "{e}"
    );
}

#[test]
fn save_and_load_round_trip_every_dtype() {
    let tmp = tempfile::tempdir().unwrap();
    let mut ck = Checkpoint::new();
    ck.insert(
        "a.f32",
        HostArray::from_vec(vec![2], vec![1.5f32, -3.0]).unwrap(),
    )
    .unwrap();
    ck.insert("a.f64", HostArray::scalar(0.1f64)).unwrap();
    ck.insert(
        "a.bf16",
        HostArray::from_vec(vec![1], vec![half::bf16::from_f32(2.0)]).unwrap(),
    )
    .unwrap();
    ck.insert(
        "a.f16",
        HostArray::from_vec(vec![1], vec![half::f16::from_f32(-2.0)]).unwrap(),
    )
    .unwrap();
    ck.insert(
        "b.i32",
        HostArray::from_vec(vec![2, 1], vec![-1i32, 7]).unwrap(),
    )
    .unwrap();
    ck.insert("b.i64", HostArray::scalar(i64::MIN)).unwrap();
    ck.insert("b.u32", HostArray::scalar(u32::MAX)).unwrap();
    ck.insert("b.u64", HostArray::scalar(u64::MAX)).unwrap();
    ck.insert("b.u8", HostArray::scalar(200u8)).unwrap();
    ck.insert(
        "b.pred",
        HostArray::from_vec(vec![2], vec![true, false]).unwrap(),
    )
    .unwrap();
    assert!(ck.insert("b.pred", HostArray::scalar(true)).is_err());
    ck.set_meta("step", "17");
    ck.set_meta("rng", "[1, 2]");
    let p = tmp.path().join("ck.safetensors");
    save_checkpoint(&p, &ck).unwrap();
    let back = load_checkpoint(&p).unwrap();
    assert_eq!(back.metadata, ck.metadata);
    for (n, a) in &ck.tensors {
        assert_eq!(back.get(n).unwrap(), a, "{n}");
    }
    assert_eq!(back.tensors.len(), ck.tensors.len());
}

#[test]
fn corrupt_checkpoints_give_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let good = std::fs::read(fixtures().join("st/ref.safetensors")).unwrap();
    let p = tmp.path().join("bad.safetensors");
    for n in [0, 5, 8, 40, good.len() - 1] {
        std::fs::write(&p, &good[..n]).unwrap();
        let e = load_checkpoint(&p).unwrap_err().to_string();
        assert!(
            e.contains("bad.safetensors") && e.contains("safetensors"),
            "{n}: {e}"
        );
    }
    let mut flipped = good.clone();
    flipped[20] = b'#';
    std::fs::write(&p, &flipped).unwrap();
    assert!(load_checkpoint(&p).is_err());
    assert!(load_checkpoint(&tmp.path().join("missing.safetensors")).is_err());
    // Offsets that do not match the shape.
    let header = br#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#;
    let mut b = (header.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(header);
    b.extend_from_slice(&[0; 4]);
    let e = sbgm_xla::io::checkpoint_from_bytes(&b)
        .unwrap_err()
        .to_string();
    assert!(e.contains("tensor 'w'") && e.contains("[0, 8]"), "{e}");
    let header = br#"{"w":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}}"#;
    let mut b = (header.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(header);
    b.extend_from_slice(&[0; 8]);
    let e = sbgm_xla::io::checkpoint_from_bytes(&b)
        .unwrap_err()
        .to_string();
    assert!(e.contains("unsupported dtype C64"), "{e}");
}

#[test]
fn eqx_safetensors_eqx_is_byte_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let (eqx, skel) = tiny();
    let st = tmp.path().join("model.safetensors");
    let meta = BTreeMap::from([("config".to_string(), "depth = 2".to_string())]);
    eqx_to_safetensors(&eqx, &skel, &st, "params", &meta).unwrap();
    let ck = load_checkpoint(&st).unwrap();
    assert_eq!(ck.meta("config"), Some("depth = 2"));
    assert_eq!(ck.tensors.len(), skel.len());
    assert!(ck.get("params.blocks[0].lin.weight").is_ok());
    assert!(ck.get("params.t1").is_ok());
    let back = tmp.path().join("back.eqx");
    safetensors_to_eqx(&st, &skel, &back, "params").unwrap();
    assert_eq!(std::fs::read(&back).unwrap(), std::fs::read(&eqx).unwrap());

    // safetensors -> eqx -> safetensors keeps every value.
    let st2 = tmp.path().join("again.safetensors");
    eqx_to_safetensors(&back, &skel, &st2, "params", &meta).unwrap();
    assert_eq!(load_checkpoint(&st2).unwrap(), ck);

    // A group that is not there: the error names the missing key.
    let e = safetensors_to_eqx(&st, &skel, &back, "ema")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("'ema.blocks[0].lin.weight'") && e.contains("model.safetensors"),
        "{e}"
    );
    // A leaf of the wrong shape.
    let mut ck2 = ck.clone();
    ck2.tensors[0].1 = HostArray::from_vec(vec![1], vec![0f32]).unwrap();
    let e = ck2.leaves("params", &skel).unwrap_err().to_string();
    assert!(e.contains("does not match"), "{e}");
}

#[test]
fn tensor_names_join_groups_and_leaf_paths() {
    assert_eq!(tensor_name("params", ".a[0].b"), "params.a[0].b");
    assert_eq!(tensor_name("", ".a[0].b"), "a[0].b");
    assert_eq!(tensor_name("opt", "[1].mu"), "opt[1].mu");
}

#[test]
fn inspect_lists_every_format() {
    let (eqx, skel) = tiny();
    let leaves = read_eqx(&eqx, &skel).unwrap();
    let count: usize = leaves.iter().map(|(_, a)| a.len()).sum();

    let r = inspect(&eqx, Some(&skel)).unwrap();
    assert_eq!(r.format, FileFormat::Eqx);
    assert_eq!(r.numel(), count);
    assert_eq!(r.tensors[0].name, ".blocks[0].lin.weight");
    let r = inspect(&eqx, None).unwrap();
    assert_eq!(r.tensors.len(), skel.len());
    assert_eq!(r.tensors[1].name, "record[1]");
    let (deep, _) = (fixtures().join("eqx/tiny_deep.eqx"), ());
    assert!(inspect(&deep, Some(&skel)).is_err());

    let r = inspect(&fixtures().join("st/ref.safetensors"), None).unwrap();
    assert_eq!(r.format, FileFormat::Safetensors);
    assert_eq!(r.numel(), 11);
    assert_eq!(r.metadata["step"], "42");
    let text = r.to_string();
    assert!(text.contains("params.blocks[0].lin.weight") && text.contains("11 parameters"));

    let r = inspect(&fixtures().join("npy/f4_3d.npy"), None).unwrap();
    assert_eq!(r.format, FileFormat::Npy);
    assert_eq!(r.tensors[0].shape, vec![2, 3, 4]);
    let r = inspect(&fixtures().join("npy/compressed.npz"), None).unwrap();
    assert_eq!(r.format, FileFormat::Npz);
    assert_eq!(r.tensors[1].name, "flag");
    assert!(inspect(&fixtures().join("npy/expected.json"), None).is_err());
}
