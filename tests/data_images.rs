//! CIFAR-10 from small archives in exactly the downloaded formats (tools/make_image_fixtures.py:
//! Python 2 protocol-2 pickles with a pickled numpy array, and the binary records), as archives
//! and extracted, against the arrays they were made from; corrupt files give clean errors.

use std::path::{Path, PathBuf};

use sbgm_xla::data::cifar::{CifarSplit, cifar10};
use sbgm_xla::io::read_npz;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/data")
        .join(name)
}

fn expected(key: &str) -> Vec<f64> {
    read_npz(&fixture("cifar-expected.npz"))
        .unwrap()
        .into_iter()
        .find(|(k, _)| k == key)
        .unwrap()
        .1
        .to_f64_vec()
}

fn extract(archive: &str, to: &Path) {
    let f = std::fs::File::open(fixture(archive)).unwrap();
    tar::Archive::new(flate2::read::GzDecoder::new(f))
        .unpack(to)
        .unwrap();
}

fn check(ds: &sbgm_xla::data::Dataset, split: &str) {
    let x: Vec<f64> = ds.x().iter().map(|&v| v as f64).collect();
    assert_eq!(
        x,
        expected(&format!("x_{split}")),
        "{split} pixels in (N, 3, 32, 32) order"
    );
    let labels: Vec<f64> = ds.labels().unwrap().iter().map(|&l| l as f64).collect();
    assert_eq!(labels, expected(&format!("labels_{split}")));
    assert_eq!(&ds.x().shape()[1..], &[3, 32, 32]);
    assert_eq!(ds.value_range(), Some((0.0, 255.0)));
    assert_eq!(ds.num_classes(), Some(10));
}

#[test]
fn both_archives_load_as_downloaded_and_extracted() {
    let dir = tempfile::tempdir().unwrap();
    for archive in ["cifar-10-python.tar.gz", "cifar-10-binary.tar.gz"] {
        let train = cifar10(fixture(archive), CifarSplit::Train).unwrap();
        assert_eq!(train.len(), 18, "{archive}: data_batch_1 then data_batch_2");
        check(&train, "train");
        check(
            &cifar10(fixture(archive), CifarSplit::Test).unwrap(),
            "test",
        );
        extract(archive, dir.path());
    }
    // The parent directory, and each extracted batches directory, for either version.
    for d in ["cifar-10-batches-py", "cifar-10-batches-bin"] {
        check(
            &cifar10(dir.path().join(d), CifarSplit::Train).unwrap(),
            "train",
        );
        check(
            &cifar10(dir.path().join(d), CifarSplit::Test).unwrap(),
            "test",
        );
    }
    check(&cifar10(dir.path(), CifarSplit::Test).unwrap(), "test");
}

#[test]
fn corrupt_or_missing_files_are_clean_errors() {
    let dir = tempfile::tempdir().unwrap();
    extract("cifar-10-python.tar.gz", dir.path());
    let py = dir.path().join("cifar-10-batches-py");
    let batch = py.join("test_batch");
    let good = std::fs::read(&batch).unwrap();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (good[..good.len() / 2].to_vec(), "pickle"),
        (b"not a pickle".to_vec(), "pickle"),
        // A pickled dict without the data entry (protocol 2: {b'labels': []}).
        (b"\x80\x02}(U\x06labels](eu.".to_vec(), "no 'data' entry"),
    ];
    for (bytes, want) in cases {
        std::fs::write(&batch, &bytes).unwrap();
        let e = cifar10(&py, CifarSplit::Test).unwrap_err().to_string();
        assert!(e.contains(want) && e.contains("test_batch"), "{e}");
    }
    // A binary batch whose size is not a whole number of records, and a label of 10.
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::fs::write(bin.join("test_batch.bin"), vec![0u8; 3072]).unwrap();
    let e = cifar10(&bin, CifarSplit::Test).unwrap_err().to_string();
    assert!(e.contains("3073-byte records"), "{e}");
    let mut rec = vec![0u8; 3073];
    rec[0] = 10;
    std::fs::write(bin.join("test_batch.bin"), &rec).unwrap();
    let e = cifar10(&bin, CifarSplit::Test).unwrap_err().to_string();
    assert!(e.contains("label is 0..9, got 10"), "{e}");
    // Nothing there, and a file that is not an archive.
    let e = cifar10(dir.path().join("nope"), CifarSplit::Train)
        .unwrap_err()
        .to_string();
    assert!(e.contains("does not exist"), "{e}");
    let e = cifar10(&bin, CifarSplit::Train).unwrap_err().to_string();
    assert!(e.contains("no CIFAR-10 training batches"), "{e}");
    std::fs::write(dir.path().join("junk.tar.gz"), b"\x1f\x8bjunk").unwrap();
    let e = cifar10(dir.path().join("junk.tar.gz"), CifarSplit::Train)
        .unwrap_err()
        .to_string();
    assert!(e.contains("tar archive"), "{e}");
}

fn expected_images(key: &str) -> Vec<f64> {
    read_npz(&fixture("images-expected.npz"))
        .unwrap()
        .into_iter()
        .find(|(k, _)| k == key)
        .unwrap()
        .1
        .to_f64_vec()
}

/// Decoded and resized pixels against torchvision's `Resize((8, 8))` (PIL bilinear), within
/// what two JPEG decoders and two antialiasing filters differ by.
fn close_to_torchvision(got: &[f32], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    let mean: f64 = got
        .iter()
        .zip(want)
        .map(|(&g, &w)| (g as f64 - w).abs())
        .sum::<f64>()
        / want.len() as f64;
    let max = got
        .iter()
        .zip(want)
        .map(|(&g, &w)| (g as f64 - w).abs())
        .fold(0.0, f64::max);
    assert!(
        mean < 0.75 && max < 4.0,
        "{what}: mean |diff| {mean:.2}, max {max:.1} (of 255)"
    );
}

#[test]
fn image_folders_and_flowers102_load_resized_like_torchvision() {
    use sbgm_xla::data::images::{FlowersSplit, flowers102, image_folder};
    let ds = image_folder(fixture("imagefolder"), 8).unwrap();
    assert_eq!(
        ds.x().shape(),
        &[7, 3, 8, 8],
        "PNG, JPEG and greyscale files; notes.txt skipped"
    );
    close_to_torchvision(
        ds.x().as_slice().unwrap(),
        &expected_images("folder_x"),
        "folder",
    );
    let labels: Vec<f64> = ds.labels().unwrap().iter().map(|&l| l as f64).collect();
    assert_eq!(
        labels,
        expected_images("folder_labels"),
        "classes are the sorted folder names"
    );
    assert_eq!(ds.num_classes(), Some(3));
    for (split, key) in [
        (FlowersSplit::Train, "train"),
        (FlowersSplit::Val, "val"),
        (FlowersSplit::Test, "test"),
    ] {
        // Given the parent directory (torchvision's root), as sbgm does.
        let ds = flowers102(fixture(""), split, 8).unwrap();
        close_to_torchvision(
            ds.x().as_slice().unwrap(),
            &expected_images(&format!("flowers_{key}_x")),
            key,
        );
        let labels: Vec<f64> = ds.labels().unwrap().iter().map(|&l| l as f64).collect();
        assert_eq!(
            labels,
            expected_images(&format!("flowers_{key}_labels")),
            "{key}"
        );
        assert_eq!(ds.num_classes(), Some(102));
    }
    // Errors that name the file.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("a")).unwrap();
    std::fs::write(dir.path().join("a").join("x.png"), b"not a png").unwrap();
    let e = image_folder(dir.path(), 8).unwrap_err().to_string();
    assert!(
        e.contains("x.png") && e.contains("not a readable PNG or JPEG"),
        "{e}"
    );
    let e = image_folder(dir.path().join("a"), 8)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no images in"), "{e}");
    let e = image_folder(fixture("imagefolder"), 0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("[data] n_pix"), "{e}");
    let e = flowers102(dir.path(), FlowersSplit::Train, 8)
        .unwrap_err()
        .to_string();
    assert!(e.contains("imagelabels.mat"), "{e}");
}
