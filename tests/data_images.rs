//! CIFAR-10 from small archives in exactly the downloaded formats (tools/make_image_fixtures.py:
//! Python 2 protocol-2 pickles with a pickled numpy array, and the binary records), as archives
//! and extracted, against the arrays they were made from; corrupt files give clean errors.
//! Image folders and Flowers102 (tools/make_folder_fixtures.py) against torchvision's resize,
//! and their decoded-image cache: read and mapped loads equal to a direct decode, reused
//! without decoding, rekeyed when an image changes, rebuilt when the file is damaged.

use std::path::{Path, PathBuf};

use sbgm_xla::data::Dataset;
use sbgm_xla::data::cifar::{CifarSplit, cifar10};
use sbgm_xla::data::image_cache::{CacheUse, LoadReport};
use sbgm_xla::data::images::{ImageOptions, load_flowers102, load_image_folder};
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
    let cache = tempfile::tempdir().unwrap();
    let opts = options(cache.path(), None);
    let ds = load_image_folder(fixture("imagefolder"), &opts).unwrap().0;
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
        let ds = load_flowers102(fixture(""), split, &opts).unwrap().0;
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
    for cache in [opts.cache.clone(), None] {
        let opts = ImageOptions {
            cache,
            ..opts.clone()
        };
        let e = load_image_folder(dir.path(), &opts)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("x.png") && e.contains("not a readable PNG or JPEG"),
            "{e}"
        );
    }
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

fn options(cache: &Path, resident: Option<bool>) -> ImageOptions {
    ImageOptions {
        n_pix: 8,
        cache: Some(cache.to_path_buf()),
        resident,
    }
}

/// An image straight from the image crate: RGB, resized with the Triangle filter unless it is
/// `n × n` already, channel-first.
fn decode_direct(path: &Path, n: u32) -> Vec<f32> {
    let mut img = image::open(path).unwrap().into_rgb8();
    if img.dimensions() != (n, n) {
        img = image::imageops::resize(&img, n, n, image::imageops::FilterType::Triangle);
    }
    (0..3)
        .flat_map(|c| img.pixels().map(move |p| p.0[c] as f32).collect::<Vec<_>>())
        .collect()
}

/// The image folder's files in label order (sorted classes, sorted names, images only).
fn folder_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut classes: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    classes.sort();
    for class in classes {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&class)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e != "txt"))
            .collect();
        files.sort();
        out.extend(files);
    }
    out
}

fn pixels(ds: &Dataset) -> Vec<f32> {
    ds.x().iter().copied().collect()
}

fn mtime(path: &Path) -> std::time::SystemTime {
    std::fs::metadata(path).unwrap().modified().unwrap()
}

fn folder(dir: &Path, opts: &ImageOptions) -> (Vec<f32>, LoadReport) {
    let (ds, report) = load_image_folder(dir, opts).unwrap();
    assert_eq!(ds.is_resident(), !report.mapped);
    (pixels(&ds), report)
}

#[test]
fn the_image_cache_is_read_or_mapped_as_a_direct_decode_and_reused_without_decoding() {
    let cache = tempfile::tempdir().unwrap();
    let dir = fixture("imagefolder");
    let want: Vec<f32> = folder_files(&dir)
        .iter()
        .flat_map(|f| decode_direct(f, 8))
        .collect();
    assert_eq!(want.len(), 7 * 3 * 8 * 8);
    // No cache: decoded into memory, as before the cache existed.
    let no_cache = ImageOptions {
        cache: None,
        ..options(cache.path(), None)
    };
    let (x, report) = folder(&dir, &no_cache);
    assert_eq!(x, want);
    assert_eq!((report.cache, report.file), (CacheUse::Uncached, None));
    // First load decodes into the cache, read into memory.
    let (x, report) = folder(&dir, &options(cache.path(), Some(true)));
    assert_eq!(x, want);
    assert_eq!(report.cache, CacheUse::Built);
    assert!(!report.mapped);
    let file = report.file.unwrap();
    assert!(file.starts_with(cache.path()), "{}", file.display());
    let npy = sbgm_xla::io::read_npy(&file).unwrap();
    assert_eq!(npy.dtype(), sbgm_xla::DType::U8);
    assert_eq!(npy.shape(), &[7, 3, 8, 8]);
    let written = mtime(&file);
    // Later loads, mapped or read, reuse it without decoding: same file, untouched.
    for resident in [Some(false), Some(true), None] {
        let (x, report) = folder(&dir, &options(cache.path(), resident));
        assert_eq!(x, want, "resident = {resident:?}");
        assert_eq!(report.cache, CacheUse::Hit);
        assert_eq!(report.file.as_ref(), Some(&file));
        assert_eq!(
            report.mapped,
            resident == Some(false),
            "tiny sets are read by default"
        );
    }
    assert_eq!(mtime(&file), written);
    // Flowers102: each split has its own entry; mapped equals read.
    let flowers = |resident| {
        let (ds, report) = load_flowers102(
            fixture(""),
            sbgm_xla::data::images::FlowersSplit::Val,
            &options(cache.path(), resident),
        )
        .unwrap();
        (pixels(&ds), report)
    };
    let (read, first) = flowers(Some(true));
    let (mapped, second) = flowers(Some(false));
    assert_eq!(read, mapped);
    assert_eq!(
        (first.cache, second.cache),
        (CacheUse::Built, CacheUse::Hit)
    );
    assert_ne!(first.file.as_ref(), Some(&file));
    // Two loads of the same set at once: the entry's lock makes one decode and the other wait
    // and reuse it.
    let other = tempfile::tempdir().unwrap();
    let uses: Vec<CacheUse> = std::thread::scope(|s| {
        let jobs: Vec<_> = (0..2)
            .map(|_| s.spawn(|| folder(&dir, &options(other.path(), Some(false)))))
            .collect();
        jobs.into_iter()
            .map(|j| {
                let (x, report) = j.join().unwrap();
                assert_eq!(x, want);
                report.cache
            })
            .collect()
    });
    assert_eq!(
        uses.iter().filter(|u| **u == CacheUse::Built).count(),
        1,
        "{uses:?}"
    );
}

#[test]
fn a_changed_image_makes_a_new_entry_and_a_damaged_entry_is_rebuilt() {
    let cache = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("folder");
    for f in folder_files(&fixture("imagefolder")) {
        let class = f.parent().unwrap().file_name().unwrap();
        std::fs::create_dir_all(dir.join(class)).unwrap();
        std::fs::copy(&f, dir.join(class).join(f.file_name().unwrap())).unwrap();
    }
    let opts = options(cache.path(), Some(false));
    let (before, report) = folder(&dir, &opts);
    let old_file = report.file.unwrap();
    // Replace the first image (cat/00.png) with another picture: a new key, its pixels.
    let files = folder_files(&dir);
    std::fs::copy(&files[6], &files[0]).unwrap();
    let (after, report) = folder(&dir, &opts);
    assert_eq!(report.cache, CacheUse::Built);
    let file = report.file.unwrap();
    assert_ne!(file, old_file);
    let per = 3 * 8 * 8;
    assert_eq!(&after[..per], &decode_direct(&files[6], 8)[..]);
    assert_ne!(&after[..per], &before[..per]);
    assert_eq!(&after[per..], &before[per..]);
    // An added image is a new entry too.
    std::fs::copy(&files[1], dir.join("dog/02.jpg")).unwrap();
    let (added, report) = folder(&dir, &opts);
    assert_eq!(report.cache, CacheUse::Built);
    assert_eq!(added.len(), 8 * per);
    std::fs::remove_file(dir.join("dog/02.jpg")).unwrap();
    // A truncated file, one with another shape, one with trailing bytes, one that is not a
    // .npy: each is detected, decoded again and replaced.
    let good = std::fs::read(&file).unwrap();
    let other_shape = {
        let a = sbgm_xla::HostArray::from_ndarray(&ndarray::ArrayD::<f32>::zeros(vec![7, 3, 8, 8]));
        let p = work.path().join("f32.npy");
        sbgm_xla::io::write_npy(&p, &a).unwrap();
        std::fs::read(p).unwrap()
    };
    let damaged: [(Vec<u8>, &str); 4] = [
        (good[..good.len() - 100].to_vec(), "truncated"),
        (other_shape, "expected u8 [7, 3, 8, 8]"),
        ([good.clone(), vec![0; 5]].concat(), "bytes long"),
        (b"junk".to_vec(), "bad header"),
    ];
    for (bytes, why) in damaged {
        std::fs::write(&file, &bytes).unwrap();
        let (x, report) = folder(&dir, &opts);
        assert_eq!(x, after, "{why}");
        match &report.cache {
            CacheUse::Rebuilt(reason) => assert!(reason.contains(why), "{reason}"),
            other => panic!("{why}: {other:?}"),
        }
        assert_eq!(std::fs::read(&file).unwrap(), good, "{why}");
    }
    // A cache folder that cannot be made (a file is in the way): decoded into memory.
    let blocked = work.path().join("not-a-dir");
    std::fs::write(&blocked, b"x").unwrap();
    let (x, report) = folder(&dir, &options(&blocked, Some(false)));
    assert_eq!(x, after);
    assert_eq!((report.cache, report.mapped), (CacheUse::Uncached, false));
}
