//! `sbgm-xla run` survives any program file: deterministic byte flips and truncations of the
//! committed bytecode (`hlo/*/module.mlirbc`, `module.compat.mlirbc`), MLIR text
//! (`exported.mlir`) and `jax.export` artifacts (`exported.jax_exported`) either run or fail
//! with exit code 1 and an `error: ...` line, never a panic, an abort or a signal. The plugin
//! parses a user's file in a child process (`run --isolated-compile`), so even a crash inside
//! it is an error message.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn hlo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("hlo").join(rel)
}

/// The fixtures with their inputs in the exported function's order.
const CASES: [(&str, &[&str]); 3] = [
    ("simple_f64_i32", &["in_x.npy", "in_n.npy"]),
    ("simple_dot_tanh", &["in_a.npy", "in_b.npy"]),
    ("mlp_score", &["in_t.npy", "in_x.npy"]),
];

const FILES: [&str; 4] = [
    "module.mlirbc",
    "module.compat.mlirbc",
    "exported.mlir",
    "exported.jax_exported",
];

/// Runs `sbgm-xla run FILE` on the inputs of `case`, with a private compile cache and a
/// compile time limit (a corrupt module can send the compiler into a loop).
fn run(case: &str, file: &Path, work: &Path) -> Output {
    let inputs = CASES.iter().find(|(c, _)| *c == case).unwrap().1;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sbgm-xla"));
    cmd.arg("run").arg(file);
    for i in inputs {
        cmd.arg("-i").arg(hlo(&format!("{case}/{i}")));
    }
    cmd.arg("--out-dir")
        .arg(work.join("out"))
        .arg("--quiet")
        .env("SBGM_XLA_COMPILE_CACHE", work.join("compiled"))
        .env("SBGM_XLA_COMPILE_TIMEOUT", "20")
        .output()
        .expect("run sbgm-xla")
}

/// Checks the property: exit 0, or exit 1 with a clear `error: ` line; never a panic.
fn assert_clean(what: &str, o: &Output) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "{what}: {:?}\n{err}",
        o.status
    );
    assert!(!err.contains("panicked"), "{what}: {err}");
    if o.status.code() == Some(1) {
        let line = err.lines().find(|l| l.starts_with("error: "));
        assert!(
            line.is_some_and(|l| l.len() > 30),
            "{what}: no clear error line\n{err}"
        );
    }
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n.max(1)
    }
}

/// `count` mutants of `bytes`: a truncation, then single-byte changes and a burst of four.
fn mutants(bytes: &[u8], rng: &mut Rng, count: usize) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for k in 0..count {
        let mut b = bytes.to_vec();
        let what = match k % 3 {
            0 => {
                let cut = rng.below(b.len());
                b.truncate(cut);
                format!("truncated to {cut}")
            }
            1 => {
                let at = rng.below(b.len());
                b[at] ^= 1 << rng.below(8);
                format!("bit flip at {at}")
            }
            _ => {
                let mut spots = Vec::new();
                for _ in 0..4 {
                    let at = rng.below(b.len());
                    b[at] = rng.below(256) as u8;
                    spots.push(at);
                }
                format!("bytes replaced at {spots:?}")
            }
        };
        out.push((what, b));
    }
    out
}

#[test]
fn corrupted_programs_fail_cleanly() {
    if !hlo("mlp_score").exists() {
        eprintln!("SKIPPED: hlo/ fixtures are missing");
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let mut jobs = Vec::new();
    let mut rng = Rng(0x005e_ed0f_5b6d);
    for (case, _) in CASES {
        for name in FILES {
            // The unmutated file runs: the harness itself is sound.
            let control = work.path().join(format!("{case}-control-{name}"));
            std::fs::create_dir(&control).unwrap();
            let o = run(case, &hlo(&format!("{case}/{name}")), &control);
            assert_eq!(
                o.status.code(),
                Some(0),
                "{case}/{name} unmutated: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            let bytes = std::fs::read(hlo(&format!("{case}/{name}"))).unwrap();
            for (i, (what, b)) in mutants(&bytes, &mut rng, 3).into_iter().enumerate() {
                let path = work.path().join(format!("{case}-{i}-{name}"));
                std::fs::write(&path, b).unwrap();
                jobs.push((case, format!("{case}/{name} {what}"), path));
            }
        }
    }
    // Two at a time: each run is a process, a child process and a compile.
    let (left, right) = jobs.split_at(jobs.len() / 2);
    std::thread::scope(|s| {
        for half in [left, right] {
            let work = work.path();
            s.spawn(move || {
                for (case, what, path) in half {
                    let dir = work.join(format!("{}.d", path.file_name().unwrap().display()));
                    std::fs::create_dir(&dir).unwrap();
                    let o = run(case, path, &dir);
                    assert_clean(what, &o);
                    // The failure must be about the program, not the test's set-up.
                    let err = String::from_utf8_lossy(&o.stderr);
                    assert!(!err.contains("--out-dir"), "{what}: {err}");
                }
            });
        }
    });
}

/// Patches the first `from` in `bytes` to `to`.
fn patch(bytes: &mut [u8], from: &[u8], to: &[u8]) {
    let at = bytes
        .windows(from.len())
        .position(|w| w == from)
        .expect("pattern present");
    bytes[at..at + to.len()].copy_from_slice(to);
}

#[test]
fn an_artifact_that_keeps_a_missing_input_is_refused() {
    if !hlo("simple_f64_i32").exists() {
        eprintln!("SKIPPED: hlo/ fixtures are missing");
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let mut bytes = std::fs::read(hlo("simple_f64_i32/exported.jax_exported")).unwrap();
    // module_kept_var_idx = [0, 1] (a u16 vector) becomes [0, 7]; the signature has 2 inputs.
    patch(
        &mut bytes,
        &[2, 0, 0, 0, 0, 0, 1, 0],
        &[2, 0, 0, 0, 0, 0, 7, 0],
    );
    let path = work.path().join("kept7.jax_exported");
    std::fs::write(&path, bytes).unwrap();
    let o = run("simple_f64_i32", &path, work.path());
    assert_clean("kept index 7", &o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("module_kept_var_idx names input 7, but the signature has 2 inputs"),
        "{err}"
    );
}

#[test]
fn truncated_bytecode_is_refused_before_the_plugin_sees_it() {
    if !hlo("mlp_score").exists() {
        eprintln!("SKIPPED: hlo/ fixtures are missing");
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(hlo("mlp_score/module.mlirbc")).unwrap();
    let path = work.path().join("cut.mlirbc");
    std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
    let o = run("mlp_score", &path, work.path());
    assert_clean("truncated", &o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("corrupt MLIR bytecode") && err.contains("bytes, ") && err.contains("left"),
        "{err}"
    );
    assert!(!err.contains("compiling the program failed"), "{err}");
}
