//! `sbgm-xla plugin install`: parallel first installs into one cache do not corrupt it, and a
//! download whose SHA-256 is not the pinned one installs nothing.

use std::path::Path;
use std::process::{Command, Output};

fn install(name: &str, cache: &Path, extra_env: &[(&str, &str)]) -> std::process::Child {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sbgm-xla"));
    c.args(["plugin", "install", name])
        .env("SBGM_XLA_CACHE", cache)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (k, v) in extra_env {
        c.env(k, v);
    }
    c.spawn().expect("run sbgm-xla")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn parallel_installs_leave_one_complete_plugin() {
    let cache = tempfile::tempdir().unwrap();
    let children: Vec<_> = (0..3)
        .map(|_| install("cpu-openxla", cache.path(), &[]))
        .collect();
    let outputs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    for o in &outputs {
        assert!(o.status.success(), "{}", text(o));
    }
    let lib = cache.path().join("xla-cpu-pjrt-0.0.1/xla_cpu_pjrt.so");
    for o in &outputs {
        assert!(
            String::from_utf8_lossy(&o.stdout).contains(lib.to_str().unwrap()),
            "{}",
            text(o)
        );
    }
    // Exactly one process unpacked it; the others waited for the lock and found it.
    let installers = outputs
        .iter()
        .filter(|o| String::from_utf8_lossy(&o.stderr).contains("installing the PJRT plugin"))
        .count();
    assert_eq!(installers, 1);
    // The library is complete (an ELF shared object of the size in the wheel) and no
    // temporary folder is left behind.
    let bytes = std::fs::read(&lib).unwrap();
    assert_eq!(&bytes[..4], b"\x7fELF");
    assert_eq!(bytes.len(), 259_284_552);
    assert!(
        cache
            .path()
            .join("xla-cpu-pjrt-0.0.1/include/pjrt_c_api.h")
            .is_file()
    );
    let leftovers: Vec<_> = std::fs::read_dir(cache.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_download_with_the_wrong_sha256_installs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    // A stand-in for `python3 -m pip download ... --dest DIR NAME==VERSION` that writes a wheel
    // of the right name and the wrong content.
    let fake = dir.path().join("fake-python");
    std::fs::write(
        &fake,
        "#!/bin/sh\nwhile [ \"$1\" != \"--dest\" ]; do shift; done\nmkdir -p \"$2\"\n\
         echo junk > \"$2/lammps_jax_pjrt_cpu-0.11.2-py3-none-manylinux_2_27_x86_64.whl\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let empty = dir.path().join("no-wheels");
    std::fs::create_dir_all(&empty).unwrap();
    let o = install(
        "cpu",
        &cache,
        &[
            ("SBGM_XLA_PYTHON", fake.to_str().unwrap()),
            // Keep the real wheel in /tmp/wheels out of this test: it would be used first.
            ("SBGM_XLA_WHEELHOUSE", empty.to_str().unwrap()),
            ("SBGM_XLA_NO_LOCAL_WHEELS", "1"),
        ],
    )
    .wait_with_output()
    .unwrap();
    assert!(!o.status.success());
    let t = text(&o);
    assert!(t.contains("does not match the pinned 1319390d"), "{t}");
    assert!(!cache.join("lammps-jax-pjrt-cpu-0.11.2").exists());
}
