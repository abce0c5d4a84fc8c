//! Data from files: MNIST IDX (plain and gzipped), .safetensors, .npy and .npz; bad inputs.

use flate2::Compression;
use flate2::write::GzEncoder;
use sbgm_xla::DType;
use sbgm_xla::data::{ArrayKeys, DataSpec, MnistSplit, idx, load_arrays, mnist};
use std::io::Write;
use std::path::Path;

/// An IDX file of u8 values: magic 0x00000803 (rank 3) or 0x00000801 (rank 1), big-endian dims.
fn idx_u8(shape: &[u32], data: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8, 0, 0x08, shape.len() as u8];
    for d in shape {
        b.extend_from_slice(&d.to_be_bytes());
    }
    b.extend_from_slice(data);
    b
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// Three 4×5 images whose pixel (i, r, c) is 20·i + 5·r + c, labels 7, 0, 3.
fn write_mnist(dir: &Path, prefix: &str, gzip: bool) {
    let pix: Vec<u8> = (0..3u8)
        .flat_map(|i| (0..4u8).flat_map(move |r| (0..5u8).map(move |c| 20 * i + 5 * r + c)))
        .collect();
    let img = idx_u8(&[3, 4, 5], &pix);
    let lab = idx_u8(&[3], &[7, 0, 3]);
    let (img, lab, ext) = if gzip {
        (gz(&img), gz(&lab), ".gz")
    } else {
        (img, lab, "")
    };
    std::fs::write(dir.join(format!("{prefix}-images-idx3-ubyte{ext}")), img).unwrap();
    std::fs::write(dir.join(format!("{prefix}-labels-idx1-ubyte{ext}")), lab).unwrap();
}

#[test]
fn idx_files_parse_plain_and_gzipped() {
    for gzip in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        write_mnist(dir.path(), "train", gzip);
        let d = mnist(dir.path(), MnistSplit::Train).unwrap();
        assert_eq!(d.x().shape(), &[3, 1, 4, 5]);
        assert_eq!(d.labels(), Some(&[7, 0, 3][..]));
        assert_eq!(d.num_classes(), Some(10));
        assert_eq!(d.value_range(), Some((0.0, 255.0)));
        assert_eq!(d.x()[[2, 0, 3, 4]], (40 + 15 + 4) as f32);
        assert_eq!(d.x()[[1, 0, 0, 1]], 21.0);
        // Pointing at the images file finds the labels next to it.
        let ext = if gzip { ".gz" } else { "" };
        let f = dir.path().join(format!("train-images-idx3-ubyte{ext}"));
        assert_eq!(mnist(&f, MnistSplit::Train).unwrap(), d);
        // The test split is not there.
        let e = mnist(dir.path(), MnistSplit::Test).unwrap_err().to_string();
        assert!(e.contains("t10k-images-idx3-ubyte"), "{e}");
    }
    // torchvision's layout (MNIST/raw) and the config route.
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("MNIST/raw");
    std::fs::create_dir_all(&raw).unwrap();
    write_mnist(&raw, "t10k", false);
    let spec = format!(
        "dataset = \"mnist\"\npath = {:?}\nmnist_split = \"test\"\nholdout = 0.0\nscaling = \"scaler\"",
        dir.path()
    );
    let p = DataSpec::from_toml(&spec).unwrap().load().unwrap();
    assert_eq!(p.train.len(), 3);
    // Scaler on the known range (0, 255): value v -> 2v/255 - 1.
    let v = p.transform.reverse(p.train.x()[[0, 0, 1, 1]]);
    assert!(
        [6.0, 26.0, 46.0].iter().any(|w| (v - w).abs() < 1e-4),
        "{v}"
    );
}

#[test]
fn idx_other_element_types() {
    // i16 big-endian, rank 2.
    let mut b = vec![0u8, 0, 0x0B, 2, 0, 0, 0, 2, 0, 0, 0, 2];
    for v in [-2i16, 300, 7, -32768] {
        b.extend_from_slice(&v.to_be_bytes());
    }
    let a = idx::parse_idx(&b).unwrap();
    assert_eq!(a.dtype(), DType::I32);
    assert_eq!(a.shape(), &[2, 2]);
    assert_eq!(a.to_vec::<i32>().unwrap(), vec![-2, 300, 7, -32768]);
    // f32 big-endian.
    let mut b = vec![0u8, 0, 0x0D, 1, 0, 0, 0, 2];
    for v in [1.5f32, -0.25] {
        b.extend_from_slice(&v.to_be_bytes());
    }
    assert_eq!(
        idx::parse_idx(&b).unwrap().to_vec::<f32>().unwrap(),
        vec![1.5, -0.25]
    );
}

#[test]
fn bad_idx_inputs_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    // Wrong magic, unknown type, truncated header, truncated data, corrupt gzip.
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"PK\x03\x04hello".to_vec(), "not an IDX file"),
        (
            vec![0, 0, 0x07, 1, 0, 0, 0, 1, 9],
            "unknown IDX element type 0x07",
        ),
        (vec![0, 0, 0x08, 3, 0, 0, 0, 1], "truncated IDX header"),
        (
            idx_u8(&[2, 2, 2], &[1, 2, 3]),
            "needs 8 data bytes, found 3",
        ),
        (vec![0x1f, 0x8b, 8, 0, 1, 2, 3], "corrupt gzip"),
    ];
    for (i, (bytes, needle)) in cases.iter().enumerate() {
        let f = p.join(format!("bad{i}-images-idx3-ubyte"));
        std::fs::write(&f, bytes).unwrap();
        let e = idx::read_idx(&f).unwrap_err().to_string();
        assert!(e.contains(needle) && e.contains("bad"), "case {i}: {e}");
    }
    // Images of the wrong rank.
    let f = p.join("flat-images-idx3-ubyte");
    std::fs::write(&f, idx_u8(&[4], &[1, 2, 3, 4])).unwrap();
    let e = mnist(&f, MnistSplit::Train).unwrap_err().to_string();
    assert!(e.contains("(N, H, W)"), "{e}");
    // Labels of the wrong length.
    let d2 = tempfile::tempdir().unwrap();
    write_mnist(d2.path(), "train", false);
    std::fs::write(
        d2.path().join("train-labels-idx1-ubyte"),
        idx_u8(&[2], &[1, 2]),
    )
    .unwrap();
    let e = mnist(d2.path(), MnistSplit::Train).unwrap_err().to_string();
    assert!(e.contains("length 3"), "{e}");
    // A path that does not exist.
    let e = mnist(p.join("nope"), MnistSplit::Train)
        .unwrap_err()
        .to_string();
    assert!(e.contains("does not exist"), "{e}");
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[test]
fn safetensors_with_x_q_a_labels() {
    use safetensors::tensor::TensorView;
    use safetensors::{Dtype, serialize};
    let dir = tempfile::tempdir().unwrap();
    let x: Vec<f32> = (0..12).map(|i| i as f32 * 0.5).collect();
    let q: Vec<f32> = (0..12).map(|i| -(i as f32)).collect();
    let a: Vec<f64> = vec![1.0, 2.0, 3.0];
    let labels: Vec<i64> = vec![2, 0, 1];
    let xb = f32_bytes(&x);
    let qb = f32_bytes(&q);
    let ab: Vec<u8> = a.iter().flat_map(|v| v.to_le_bytes()).collect();
    let lb: Vec<u8> = labels.iter().flat_map(|v| v.to_le_bytes()).collect();
    let tensors = vec![
        (
            "x",
            TensorView::new(Dtype::F32, vec![3, 2, 2], &xb).unwrap(),
        ),
        (
            "cond",
            TensorView::new(Dtype::F32, vec![3, 1, 2, 2], &qb).unwrap(),
        ),
        ("a", TensorView::new(Dtype::F64, vec![3], &ab).unwrap()),
        ("labels", TensorView::new(Dtype::I64, vec![3], &lb).unwrap()),
    ];
    let bytes = serialize(tensors, None).unwrap();
    let f = dir.path().join("set.safetensors");
    std::fs::write(&f, &bytes).unwrap();

    // Defaults: x, a and labels by their default names; no array named "q", so no q.
    let d = load_arrays(&f, &ArrayKeys::default()).unwrap();
    assert_eq!(d.name(), "set");
    assert_eq!(d.x().shape(), &[3, 2, 2]);
    assert_eq!(d.x()[[2, 1, 1]], 5.5);
    assert!(d.q().is_none());
    assert_eq!(d.a().unwrap().shape(), &[3, 1]); // a vector is read as (N, 1)
    assert_eq!(d.a().unwrap()[[1, 0]], 2.0);
    assert_eq!(d.labels(), Some(&[2, 0, 1][..]));
    assert_eq!(d.num_classes(), Some(3));
    // Naming q explicitly.
    let keys = ArrayKeys {
        q: Some("cond".into()),
        ..Default::default()
    };
    let d = load_arrays(&f, &keys).unwrap();
    assert_eq!(d.context_shape(), Some(&[1, 2, 2][..]));
    assert_eq!(d.q().unwrap()[[1, 0, 0, 1]], -5.0);
    // A named array that is not there lists the available ones.
    let keys = ArrayKeys {
        q: Some("context".into()),
        ..Default::default()
    };
    let e = load_arrays(&f, &keys).unwrap_err().to_string();
    assert!(
        e.contains("`context`") && e.contains("a, cond, labels, x"),
        "{e}"
    );
    // Through the config, with [data.keys].
    let spec = format!(
        "dataset = \"file\"\npath = {f:?}\nholdout = 0.0\nscaling = \"none\"\n[keys]\nq = \"cond\""
    );
    let p = DataSpec::from_toml(&spec).unwrap().load().unwrap();
    assert_eq!(p.train.len(), 3);
    assert!(p.train.q().is_some());
}

#[test]
fn bad_array_files_are_clear_errors() {
    use safetensors::tensor::TensorView;
    use safetensors::{Dtype, serialize};
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    // Missing file.
    let e = load_arrays(p.join("missing.safetensors"), &ArrayKeys::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("missing.safetensors") && e.contains("does not exist"),
        "{e}"
    );
    // Corrupt safetensors.
    let f = p.join("corrupt.safetensors");
    std::fs::write(&f, b"\x10\x00\x00\x00\x00\x00\x00\x00{\"x\": garbage}").unwrap();
    let e = load_arrays(&f, &ArrayKeys::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("corrupt.safetensors") && e.contains("not a valid safetensors"),
        "{e}"
    );
    // Unknown extension.
    let f = p.join("data.csv");
    std::fs::write(&f, b"1,2\n").unwrap();
    let e = load_arrays(&f, &ArrayKeys::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains(".csv") && e.contains(".npz"), "{e}");
    // x of rank 1; q with the wrong number of rows; fractional labels.
    let write = |name: &str, t: Vec<(&str, Vec<usize>, Vec<f32>)>| {
        let bufs: Vec<(String, Vec<usize>, Vec<u8>)> = t
            .into_iter()
            .map(|(n, s, v)| (n.to_string(), s, f32_bytes(&v)))
            .collect();
        let views: Vec<(String, TensorView)> = bufs
            .iter()
            .map(|(n, s, b)| {
                (
                    n.clone(),
                    TensorView::new(Dtype::F32, s.clone(), b).unwrap(),
                )
            })
            .collect();
        let f = p.join(name);
        std::fs::write(&f, serialize(views, None).unwrap()).unwrap();
        f
    };
    let f = write("r1.safetensors", vec![("x", vec![4], vec![1.0; 4])]);
    let e = load_arrays(&f, &ArrayKeys::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("(N, ...)") && e.contains("[4]"), "{e}");
    let f = write(
        "rows.safetensors",
        vec![
            ("x", vec![4, 2], vec![1.0; 8]),
            ("q", vec![3, 2], vec![1.0; 6]),
        ],
    );
    let e = load_arrays(&f, &ArrayKeys::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("q has shape [3, 2]") && e.contains("4 samples"),
        "{e}"
    );
    let f = write(
        "lab.safetensors",
        vec![
            ("x", vec![2, 2], vec![1.0; 4]),
            ("labels", vec![2], vec![0.0, 1.5]),
        ],
    );
    let e = load_arrays(&f, &ArrayKeys::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("labels") && e.contains("1.5"), "{e}");
    let f = write("nox.safetensors", vec![("data", vec![2, 2], vec![1.0; 4])]);
    let e = load_arrays(&f, &ArrayKeys::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("`x`") && e.contains("data"), "{e}");
}

#[test]
fn npy_and_npz_files() {
    use sbgm_xla::HostArray;
    use sbgm_xla::io::{write_npy, write_npz};
    let dir = tempfile::tempdir().unwrap();
    // .npy: the samples only; f64 is converted to f32.
    let x = HostArray::from_vec(
        vec![4, 2],
        (0..8).map(|i| i as f64 - 3.5).collect::<Vec<f64>>(),
    )
    .unwrap();
    let f = dir.path().join("points.npy");
    write_npy(&f, &x).unwrap();
    let d = load_arrays(&f, &ArrayKeys::default()).unwrap();
    assert_eq!(d.name(), "points");
    assert_eq!(d.x().shape(), &[4, 2]);
    assert_eq!(d.x()[[3, 1]], 3.5);
    // Keys make no sense for a single array.
    let keys = ArrayKeys {
        q: Some("q".into()),
        ..Default::default()
    };
    let e = load_arrays(&f, &keys).unwrap_err().to_string();
    assert!(e.contains(".npy file holds one array"), "{e}");
    // A rank-1 .npy is refused with the fix.
    let f1 = dir.path().join("vec.npy");
    write_npy(
        &f1,
        &HostArray::from_vec(vec![3], vec![1f32, 2.0, 3.0]).unwrap(),
    )
    .unwrap();
    let e = load_arrays(&f1, &ArrayKeys::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("vec.npy") && e.contains("(N, 1)"), "{e}");

    // .npz with x, q, a (2-D) and u8 labels, compressed and not.
    for compress in [false, true] {
        let arrays = vec![
            (
                "x",
                HostArray::from_vec(
                    vec![3, 1, 2, 2],
                    (0..12).map(|i| i as f32).collect::<Vec<_>>(),
                )
                .unwrap(),
            ),
            (
                "q",
                HostArray::from_vec(vec![3, 1, 2, 2], vec![0.5f32; 12]).unwrap(),
            ),
            (
                "a",
                HostArray::from_vec(vec![3, 2], vec![1f32, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap(),
            ),
            (
                "labels",
                HostArray::from_vec(vec![3], vec![1u8, 1, 0]).unwrap(),
            ),
        ];
        let f = dir.path().join(format!("set{compress}.npz"));
        write_npz(&f, &arrays, compress).unwrap();
        let d = load_arrays(&f, &ArrayKeys::default()).unwrap();
        assert_eq!(d.x().shape(), &[3, 1, 2, 2]);
        assert_eq!(d.x()[[2, 0, 1, 1]], 11.0);
        assert_eq!(d.context_shape(), Some(&[1, 2, 2][..]));
        assert_eq!(d.parameter_dim(), Some(2));
        assert_eq!(d.a().unwrap()[[2, 1]], 6.0);
        assert_eq!(d.labels(), Some(&[1, 1, 0][..]));
        assert_eq!(d.num_classes(), Some(2));
    }
    // A corrupt .npz names the file.
    let f = dir.path().join("bad.npz");
    std::fs::write(&f, b"this is not a zip archive").unwrap();
    let e = load_arrays(&f, &ArrayKeys::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("bad.npz"), "{e}");
    // A truncated .npy names the file.
    let f = dir.path().join("trunc.npy");
    let full = std::fs::read(dir.path().join("points.npy")).unwrap();
    std::fs::write(&f, &full[..full.len() - 5]).unwrap();
    let e = load_arrays(&f, &ArrayKeys::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("trunc.npy"), "{e}");
}
