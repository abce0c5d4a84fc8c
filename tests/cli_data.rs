//! `sbgm-xla data`: the arrays a config prepares, as a user runs it: CIFAR-10 from its python
//! archive unscaled (value/255, (N, C, H, W)) against the arrays the archive was made from, the
//! held-out split, the configured scaling, a field set with q and a; the config is never
//! overwritten.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sbgm_xla::io::read_npz;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn sbgm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sbgm-xla"))
        .args(args)
        .output()
        .expect("run sbgm-xla")
}

fn arrays(path: &Path) -> Vec<(String, Vec<f64>, Vec<usize>)> {
    read_npz(path)
        .unwrap()
        .into_iter()
        .map(|(n, a)| (n, a.to_f64_vec(), a.shape().to_vec()))
        .collect()
}

fn get<'a>(
    arrays: &'a [(String, Vec<f64>, Vec<usize>)],
    name: &str,
) -> &'a (String, Vec<f64>, Vec<usize>) {
    arrays
        .iter()
        .find(|(n, _, _)| n == name)
        .unwrap_or_else(|| panic!("no {name}"))
}

#[test]
fn data_writes_what_training_sees() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("d.npz");
    let config = root().join("configs/cifar10.toml");
    let fixture = root().join("tests/fixtures/data/cifar-10-python.tar.gz");
    let path = format!("data.path={:?}", fixture.to_string_lossy());
    let expected = arrays(&root().join("tests/fixtures/data/cifar-expected.npz"));
    for (split, key) in [("train", "train"), ("test", "test")] {
        let o = sbgm(&[
            "data",
            "--config",
            config.to_str().unwrap(),
            "--set",
            &path,
            "--set",
            "data.scaling=\"none\"",
            "--split",
            split,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let got = arrays(&out);
        let (_, x, shape) = get(&got, "x");
        let (_, want, want_shape) = get(&expected, &format!("x_{key}"));
        assert_eq!(shape, want_shape, "(N, 3, 32, 32)");
        let (_, labels, _) = get(&got, "labels");
        let (_, want_labels, _) = get(&expected, &format!("labels_{key}"));
        if split == "test" {
            // The held-out split is test_batch, in its order.
            assert_eq!(labels, want_labels);
            for (g, w) in x.iter().zip(want) {
                assert!((g - w / 255.0).abs() < 1e-6, "value/255: {g} vs {w}");
            }
        } else {
            // The training split is data_batch_*, shuffled: the same multiset of images.
            let mut a: Vec<i64> = x.iter().map(|v| (v * 255.0).round() as i64).collect();
            let mut b: Vec<i64> = want.iter().map(|v| *v as i64).collect();
            a.sort();
            b.sort();
            assert_eq!(a, b);
            assert_eq!(labels.len(), want_labels.len());
        }
    }
    // The configured scaling (normer): standardised values.
    let o = sbgm(&[
        "data",
        "--config",
        config.to_str().unwrap(),
        "--set",
        &path,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got = arrays(&out);
    let x = &get(&got, "x").1;
    let mean = x.iter().sum::<f64>() / x.len() as f64;
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / x.len() as f64;
    assert!(
        mean.abs() < 1e-4 && (var - 1.0).abs() < 1e-3,
        "normer: mean {mean}, var {var}"
    );
    // A field set: x, q and a.
    let o = sbgm(&[
        "data",
        "--config",
        root().join("configs/grfs.toml").to_str().unwrap(),
        "--set",
        "data.n_fields=16",
        "--set",
        "data.n_pix=8",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got = arrays(&out);
    assert_eq!(get(&got, "q").2, get(&got, "x").2);
    assert_eq!(get(&got, "a").2[1], 2);
    // The config is an input: never overwritten.
    let copy = dir.path().join("c.toml");
    std::fs::copy(&config, &copy).unwrap();
    let o = sbgm(&[
        "data",
        "--config",
        copy.to_str().unwrap(),
        "--out",
        copy.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        std::fs::read(&copy).unwrap(),
        std::fs::read(&config).unwrap()
    );
}

/// An image folder through the decoded-image cache, as a user runs it: `resident = false`
/// (mapped from the cache), `resident = true` (read from it) and no cache at all
/// (`SBGM_XLA_IMAGE_CACHE=off`) write the same arrays, and the cache holds one entry.
#[test]
fn data_on_an_image_folder_is_the_same_mapped_read_or_uncached() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let folder = root().join("tests/fixtures/data/imagefolder");
    let config = |resident: bool| {
        let p = dir.path().join(format!("resident-{resident}.toml"));
        let text = format!(
            "[data]\ndataset = \"images\"\npath = {folder:?}\nn_pix = 8\nholdout = 0.3\n\
             seed = 2\nscaling = \"scaler\"\nresident = {resident}\n\n[sde]\nsde = \"VP\"\n\n\
             [model]\nkind = \"unet\"\ndim = 8\ndim_mults = [1]\n\n[train]\nbatch_size = 4\n"
        );
        std::fs::write(&p, text).unwrap();
        p
    };
    let run = |config: &Path, cache: &std::ffi::OsStr, split: &str| {
        let out = dir.path().join("d.npz");
        let o = Command::new(env!("CARGO_BIN_EXE_sbgm-xla"))
            .args(["data", "--config"])
            .arg(config)
            .args(["--split", split, "--out"])
            .arg(&out)
            .env("SBGM_XLA_IMAGE_CACHE", cache)
            .output()
            .expect("run sbgm-xla");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        arrays(&out)
    };
    for split in ["train", "test"] {
        let mapped = run(&config(false), cache.as_os_str(), split);
        let read = run(&config(true), cache.as_os_str(), split);
        let uncached = run(&config(true), "off".as_ref(), split);
        assert_eq!(mapped, read, "{split}");
        assert_eq!(read, uncached, "{split}");
        let n = if split == "train" { 5 } else { 2 };
        assert_eq!(get(&read, "x").2, vec![n, 3, 8, 8], "{split}");
        let x = &get(&read, "x").1;
        assert!(
            x.iter().all(|v| (-1.0..=1.0).contains(v)),
            "scaler: [-1, 1]"
        );
    }
    let entries: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".npy"))
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
}
