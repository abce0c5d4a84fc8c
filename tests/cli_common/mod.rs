//! Running the `sbgm-xla` binary from tests, as a user does.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

/// Runs `sbgm-xla args…`, asserting that it succeeds.
pub fn sbgm(args: &[&str]) {
    let o = Command::new(env!("CARGO_BIN_EXE_sbgm-xla"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// `sbgm-xla train --config CONFIG --run-dir RUN --quiet --set O…` for each override `O`.
pub fn train(config: &Path, run: &Path, overrides: &[&str]) {
    let mut args = vec![
        "train",
        "--config",
        config.to_str().unwrap(),
        "--run-dir",
        run.to_str().unwrap(),
        "--quiet",
    ];
    for o in overrides {
        args.extend(["--set", o]);
    }
    sbgm(&args);
}
