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

/// Writes an executable shell script.
fn script(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn the_verified_cache_copy_runs_not_a_site_packages_copy() {
    let dir = tempfile::tempdir().unwrap();
    // A virtual environment (chosen by whoever sets VIRTUAL_ENV) with a "CPU plugin" that is
    // not the pinned library: loading it would fail (or run foreign code).
    let site = dir.path().join("venv/lib/python3.12/site-packages");
    let fake = site.join("lammps_jax_pjrt_cpu/pjrt_c_api_cpu_plugin.so");
    std::fs::create_dir_all(fake.parent().unwrap()).unwrap();
    std::fs::write(&fake, b"not a plugin").unwrap();
    let devices = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_sbgm-xla"))
            .arg("devices")
            .args(extra)
            .env("VIRTUAL_ENV", dir.path().join("venv"))
            .env("SBGM_XLA_PYTHON", "/bin/false")
            .env_remove("SBGM_XLA_PLUGIN")
            .env_remove("SBGM_XLA_CACHE")
            .output()
            .unwrap()
    };
    let o = devices(&[]);
    assert!(o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    let line = err
        .lines()
        .find(|l| l.starts_with("sbgm-xla: plugin "))
        .unwrap_or_else(|| panic!("no plugin line: {err}"));
    assert!(
        line.contains("lammps-jax-pjrt-cpu-0.11.2/pjrt_c_api_cpu_plugin.so")
            && line.ends_with("(cpu, verified lammps-jax-pjrt-cpu 0.11.2)"),
        "{line}"
    );
    assert!(!err.contains(site.to_str().unwrap()), "{err}");
    // --quiet drops the line.
    let o = devices(&["--quiet"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        !String::from_utf8_lossy(&o.stderr).contains("sbgm-xla: plugin"),
        "{}",
        text(&o)
    );
    // Asked for by path, the site-packages copy is what loads (and is refused as no plugin).
    let o = devices(&["--plugin", fake.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(text(&o).contains("not a regular file") || text(&o).contains("cannot load it"));
}

#[test]
fn a_gpu_wheel_with_the_wrong_sha256_is_never_installed() {
    let dir = tempfile::tempdir().unwrap();
    let wheels = dir.path().join("wheels");
    std::fs::create_dir_all(&wheels).unwrap();
    std::fs::write(
        wheels.join("jax_cuda13_pjrt-0.11.2-py3-none-manylinux_2_27_x86_64.whl"),
        b"junk",
    )
    .unwrap();
    // A stand-in for Python that logs what pip is asked to do and fails.
    let log = dir.path().join("pip.log");
    let fake = dir.path().join("fake-python");
    script(
        &fake,
        &format!("echo \"$@\" >> {}\nexit 1\n", log.display()),
    );
    let o = install(
        "cuda13",
        &dir.path().join("cache"),
        &[
            ("SBGM_XLA_PYTHON", fake.to_str().unwrap()),
            ("SBGM_XLA_WHEELHOUSE", wheels.to_str().unwrap()),
            ("SBGM_XLA_NO_LOCAL_WHEELS", "1"),
        ],
    )
    .wait_with_output()
    .unwrap();
    assert!(!o.status.success());
    let t = text(&o);
    assert!(
        t.contains("not using a local wheel") && t.contains("does not match the pinned e5ff589d"),
        "{t}"
    );
    let asked = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        !asked.lines().any(|l| l.contains("pip install")),
        "pip was asked to install: {asked}"
    );
}
