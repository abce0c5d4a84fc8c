//! The persistent compilation cache: an entry is written on the first compile, loaded (and
//! gives the same results) later, a corrupt entry is recompiled and replaced, `off` writes
//! nothing. One test function: it sets the process environment.

use sbgm_xla::exec::persistent::{CACHE_ENV, cache_dir};
use sbgm_xla::graph::Graph;
use sbgm_xla::pjrt::{Client, CompileOptions, Program};
use sbgm_xla::{DType, HostArray};

fn entries(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "xexe"))
            .collect(),
        Err(_) => vec![],
    }
}

#[test]
fn executables_are_cached_on_disk_checked_and_replaced_when_corrupt() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("xla");
    // SAFETY: the only test of this binary; no other thread reads the environment now.
    unsafe { std::env::set_var(CACHE_ENV, &dir) };
    assert_eq!(cache_dir(), Some(dir.clone()));

    let client = Client::cpu().unwrap();
    let g = Graph::new();
    let x = g.parameter("x", &[3], DType::F32).unwrap();
    let y = (x.exp().unwrap() * 2.0).unwrap();
    let program = Program::text(g.build("cached", &[("y", &y)]).unwrap().text);
    let opts = CompileOptions::default();
    let input = HostArray::from_vec(vec![3], vec![0f32, 1.0, -1.0]).unwrap();
    let want: Vec<f32> = [0f32, 1.0, -1.0].iter().map(|v| 2.0 * v.exp()).collect();
    let check = |exe: &sbgm_xla::pjrt::Executable| {
        let got = exe.run_host(std::slice::from_ref(&input)).unwrap()[0]
            .to_vec::<f32>()
            .unwrap();
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-5 * w.abs(), "{got:?} vs {want:?}");
        }
    };

    // first compile: one entry written
    check(&sbgm_xla::exec::compile(&client, &program, &opts).unwrap());
    let files = entries(&dir);
    assert_eq!(files.len(), 1, "{files:?}");
    let first = std::fs::read(&files[0]).unwrap();

    // second: loaded from the entry, same results, the entry untouched
    check(&sbgm_xla::exec::compile(&client, &program, &opts).unwrap());
    assert_eq!(std::fs::read(&files[0]).unwrap(), first);

    // other options: another entry
    let two = CompileOptions {
        num_replicas: Some(1),
        ..Default::default()
    };
    check(&sbgm_xla::exec::compile(&client, &program, &two).unwrap());
    assert_eq!(entries(&dir).len(), 2);

    // a corrupt entry (a flipped payload byte, then a truncated file) is never handed to the
    // plugin: the program is recompiled and the entry replaced by a good one
    for damage in [0usize, 1] {
        let mut bad = first.clone();
        if damage == 0 {
            let i = bad.len() - 7;
            bad[i] ^= 0x55;
        } else {
            bad.truncate(20);
        }
        std::fs::write(&files[0], &bad).unwrap();
        check(&sbgm_xla::exec::compile(&client, &program, &opts).unwrap());
        let replaced = std::fs::read(&files[0]).unwrap();
        assert_ne!(replaced, bad);
        // the replacement is a good entry: the next compile loads it and leaves it as it is
        check(&sbgm_xla::exec::compile(&client, &program, &opts).unwrap());
        assert_eq!(std::fs::read(&files[0]).unwrap(), replaced);
    }

    // other XLA_FLAGS (here XLA's default value of a flag): another entry
    // SAFETY: as above.
    unsafe { std::env::set_var("XLA_FLAGS", "--xla_cpu_enable_fast_math=false") };
    check(&sbgm_xla::exec::compile(&client, &program, &opts).unwrap());
    assert_eq!(entries(&dir).len(), 3);
    // SAFETY: as above.
    unsafe { std::env::remove_var("XLA_FLAGS") };

    // off: nothing written
    let off = tmp.path().join("off");
    // SAFETY: as above.
    unsafe { std::env::set_var(CACHE_ENV, "off") };
    assert_eq!(cache_dir(), None);
    check(&sbgm_xla::exec::compile(&client, &program, &opts).unwrap());
    assert!(entries(&off).is_empty());
    assert_eq!(entries(&dir).len(), 3);
}
