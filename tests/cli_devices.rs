//! `sbgm-xla devices` and `sbgm-xla plugin list|install`.

use std::process::{Command, Output};

fn sbgm(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sbgm-xla"));
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run sbgm-xla")
}

#[test]
fn devices_lists_the_cpu_devices_asked_for() {
    let o = sbgm(&["devices", "--cpu-devices", "2"], &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(s.contains("platform:  cpu"), "{s}");
    assert!(s.contains("devices:   2 (2 addressable"), "{s}");
    assert!(s.contains("[1] CpuDevice(id=1)"), "{s}");
    assert!(s.contains("stablehlo: "), "{s}");
}

#[test]
fn devices_says_which_host_kernels_run() {
    // SBGM_XLA_NO_AMX turns the AMX kernel off whatever the CPU
    let o = sbgm(&["devices"], &[("SBGM_XLA_NO_AMX", "1")]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(s.contains("kernels:   none (no AMX"), "{s}");
    let o = sbgm(&["devices"], &[]);
    let s = String::from_utf8_lossy(&o.stdout);
    let want = if sbgm_xla::kernels::amx::available() {
        "kernels:   AMX bf16 product"
    } else {
        "kernels:   none"
    };
    assert!(s.contains(want), "{s}");
}

#[test]
fn one_cpu_device_by_default_as_in_jax() {
    let o = sbgm(&["devices"], &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(s.contains("devices:   1 (1 addressable"), "{s}");
    // and no INFO lines from XLA on the terminal
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(!e.contains("I0000"), "{e}");
}

#[test]
fn no_plugin_found_says_how_to_install_one() {
    let cache = tempfile::tempdir().unwrap();
    let o = sbgm(
        &["devices"],
        &[
            ("SBGM_XLA_PLUGIN", "tpu"),
            ("SBGM_XLA_CACHE", cache.path().to_str().unwrap()),
            ("SBGM_XLA_PYTHON", "/nonexistent/python"),
        ],
    );
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("no PJRT plugin for platform \"tpu\"")
            && e.contains("sbgm-xla plugin install tpu"),
        "{e}"
    );
    // No CPU plugin anywhere and automatic install switched off.
    let o = sbgm(
        &["devices"],
        &[
            ("SBGM_XLA_CACHE", cache.path().to_str().unwrap()),
            ("SBGM_XLA_PYTHON", "/nonexistent/python"),
            ("SBGM_XLA_NO_INSTALL", "1"),
            ("HOME", cache.path().to_str().unwrap()),
        ],
    );
    if o.status.success() {
        eprintln!("SKIPPED second half: a system-wide CPU plugin was found");
        return;
    }
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("sbgm-xla plugin install cpu"), "{e}");
}

#[test]
fn a_bad_plugin_path_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("libfake.so");
    std::fs::write(&fake, "not an ELF file").unwrap();
    let o = sbgm(&["devices", "--plugin", fake.to_str().unwrap()], &[]);
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("not a PJRT plugin"), "{e}");
}

#[test]
fn plugin_list_shows_the_default_cpu_plugin() {
    let o = sbgm(&["plugin", "list"], &[]);
    assert!(o.status.success());
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(s.contains("lammps-jax-pjrt-cpu==0.11.2"), "{s}");
    assert!(s.contains("platform cpu: "), "{s}");
    let o = sbgm(&["plugin", "install", "gpu"], &[]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("choose one of cpu, cpu-openxla, cuda13, cuda12, tpu")
    );
}
