//! Checks our `repr(C)` PJRT definitions (`src/pjrt/sys/`) against the C header of PJRT
//! C API 0.81: struct sizes, `*_STRUCT_SIZE` values and every field offset, as gcc computes them.
//!
//! The header ships in the `xla-cpu-pjrt` 0.0.1 wheel; it is looked up in `$SBGM_XLA_PJRT_HEADER`,
//! in the plugin cache (where `sbgm-xla plugin install cpu-openxla` unpacks it) and in wheels under
//! `/tmp/wheels`. Without a header or without gcc the test is skipped with a message.

use sbgm_xla::pjrt::sys;
use std::path::{Path, PathBuf};
use std::process::Command;

const HEADER_IN_WHEEL: &str = "xla_plugins/xla_cpu_pjrt/include/pjrt_c_api.h";

/// Finds the 0.81 header, extracting it from a wheel into `tmp` where needed.
fn find_header(tmp: &Path) -> Option<PathBuf> {
    if let Ok(p) = std::env::var("SBGM_XLA_PJRT_HEADER") {
        return Some(PathBuf::from(p));
    }
    let cached = sbgm_xla::pjrt::plugin::cache_dir()
        .ok()?
        .join("xla-cpu-pjrt-0.0.1/include/pjrt_c_api.h");
    if cached.is_file() {
        return Some(cached);
    }
    for entry in std::fs::read_dir("/tmp/wheels").ok()?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !(name.starts_with("xla_cpu_pjrt-0.0.1-") && name.ends_with(".whl")) {
            continue;
        }
        let file = std::fs::File::open(entry.path()).ok()?;
        let mut zip = zip::ZipArchive::new(file).ok()?;
        let mut member = zip.by_name(HEADER_IN_WHEEL).ok()?;
        let out = tmp.join("pjrt_c_api.h");
        let mut f = std::fs::File::create(&out).ok()?;
        std::io::copy(&mut member, &mut f).ok()?;
        return Some(out);
    }
    None
}

/// The C name of one of our fields (`type_` is `type` in C; anonymous unions are named by
/// their first member).
fn c_field(strukt: &str, field: &str) -> String {
    match (strukt, field) {
        ("PJRT_NamedValue", "value") => "string_value".into(),
        ("PJRT_Buffer_MemoryLayout", "layout") => "tiled".into(),
        (_, f) => f.trim_end_matches('_').into(),
    }
}

#[test]
fn struct_layouts_match_the_0_81_header() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(header) = find_header(tmp.path()) else {
        eprintln!(
            "SKIPPED: pjrt_c_api.h (PJRT C API 0.81) not found: set SBGM_XLA_PJRT_HEADER, run \
             `sbgm-xla plugin install cpu-openxla`, or put the xla-cpu-pjrt 0.0.1 wheel in /tmp/wheels"
        );
        return;
    };
    if Command::new("gcc").arg("--version").output().is_err() {
        eprintln!("SKIPPED: gcc not found; it is needed to compile the layout probe");
        return;
    }
    let layouts = sys::layouts();
    let mut c = String::from(
        "#include <stdio.h>\n#include <stddef.h>\n#include \"pjrt_c_api.h\"\nint main(void) {\n",
    );
    c.push_str("  printf(\"version %d %d\\n\", PJRT_API_MAJOR, PJRT_API_MINOR);\n");
    let mut expected = vec![format!(
        "version {} {}",
        sys::API_VERSION.0,
        sys::API_VERSION.1
    )];
    for l in &layouts {
        c.push_str(&format!(
            "  printf(\"{0} size %zu struct_size %zu align %zu\\n\", sizeof({0}), (size_t){0}_STRUCT_SIZE, _Alignof({0}));\n",
            l.name
        ));
        expected.push(format!(
            "{} size {} struct_size {} align {}",
            l.name,
            l.size,
            l.struct_size,
            align_of_name(l.name)
        ));
        for (field, offset, size) in &l.fields {
            let cf = c_field(l.name, field);
            c.push_str(&format!(
                "  printf(\"{0}.{1} offset %zu size %zu\\n\", offsetof({0}, {2}), sizeof((({0}*)0)->{2}));\n",
                l.name, field, cf
            ));
            expected.push(format!(
                "{}.{} offset {} size {}",
                l.name, field, offset, size
            ));
        }
    }
    c.push_str("  return 0;\n}\n");
    let src = tmp.path().join("probe.c");
    let exe = tmp.path().join("probe");
    std::fs::write(&src, c).unwrap();
    let out = Command::new("gcc")
        .arg("-std=c11")
        .arg("-I")
        .arg(header.parent().unwrap())
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "gcc failed on the layout probe (a struct or field name that the header does not have?):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = Command::new(&exe).output().unwrap();
    assert!(run.status.success());
    let got: Vec<String> = String::from_utf8(run.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    let mismatches: Vec<String> = expected
        .iter()
        .zip(&got)
        .filter(|(e, g)| e != g)
        .map(|(e, g)| format!("rust: {e}\n   C: {g}"))
        .collect();
    assert_eq!(expected.len(), got.len());
    assert!(
        mismatches.is_empty(),
        "layout mismatches with {}:\n{}",
        header.display(),
        mismatches.join("\n")
    );
    // Sanity: the probe really covered the function table and the big argument structs.
    assert!(
        layouts
            .iter()
            .any(|l| l.name == "PJRT_Api" && l.fields.len() == 121)
    );
}

/// Alignment of our struct of that name (all of them are pointer-aligned except the ones
/// listed in `sys::layouts()`, so the probe compares it too).
fn align_of_name(name: &str) -> usize {
    sys::layouts()
        .into_iter()
        .find(|l| l.name == name)
        .map(|l| l.align)
        .unwrap()
}
