//! Bad input to `score`, `convert` and `inspect`: truncated `.eqx`, an `.eqx` of another
//! architecture, an object-dtype record, a `.npy` with a bad header, inputs of the wrong shape
//! or missing conditioning. Each gives a clear error naming the problem, a non-zero exit
//! status, and no panic.

use sbgm_xla::HostArray;
use sbgm_xla::io::load_checkpoint;
use sbgm_xla::io::npy::write_npy;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/models")
        .join(rel)
}

fn sbgm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sbgm-xla"))
        .args(args)
        .output()
        .expect("run sbgm-xla")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs the command, expects failure without a panic, returns stderr.
fn fails(args: &[&str]) -> String {
    let o = sbgm(args);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        !o.status.success(),
        "{args:?} succeeded: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    assert!(err.starts_with("error: "), "{args:?}: {err}");
    err
}

/// The mlp_qa fixture's inputs as .npy files in `dir`: (t, x, q, a).
fn inputs(dir: &Path) -> [PathBuf; 4] {
    let io = load_checkpoint(&fixture("mlp_qa/io.safetensors")).unwrap();
    ["t", "x", "q", "a"].map(|c| {
        let p = dir.join(format!("{c}.npy"));
        write_npy(&p, io.get(&format!("in.{c}")).unwrap()).unwrap();
        p
    })
}

fn score_args<'a>(
    eqx: &'a Path,
    config: &'a Path,
    [t, x, q, a]: &'a [PathBuf; 4],
    out: &'a Path,
) -> Vec<&'a str> {
    vec![
        "score",
        "--checkpoint",
        s(eqx),
        "--config",
        s(config),
        "--t",
        s(t),
        "--x",
        s(x),
        "--q",
        s(q),
        "--a",
        s(a),
        "--out",
        s(out),
    ]
}

#[test]
fn a_truncated_eqx_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(fixture("mlp_qa/model.eqx")).unwrap();
    let config = fixture("mlp_qa/config.json");
    let ins = inputs(tmp.path());
    let out = tmp.path().join("s.npy");
    // Cut inside a record's data, inside a header, and at a record boundary.
    for cut in [bytes.len() - 7, 300, 288] {
        let eqx = tmp.path().join(format!("cut{cut}.eqx"));
        std::fs::write(&eqx, &bytes[..cut]).unwrap();
        let err = fails(&score_args(&eqx, &config, &ins, &out));
        assert!(err.contains(&format!("cut{cut}.eqx")), "{err}");
        assert!(
            err.contains("truncated") || err.contains("the file ends after") || err.contains("end"),
            "{cut}: {err}"
        );
        let err = fails(&[
            "convert",
            s(&eqx),
            s(&tmp.path().join("o.safetensors")),
            "--config",
            s(&config),
        ]);
        assert!(err.contains(&format!("cut{cut}.eqx")), "{err}");
        fails(&["inspect", s(&eqx), "--config", s(&config)]);
        assert!(!out.exists());
    }
}

#[test]
fn an_eqx_of_another_architecture_is_refused_naming_the_leaf() {
    let tmp = tempfile::tempdir().unwrap();
    let ins = inputs(tmp.path());
    let out = tmp.path().join("s.npy");
    // mlp_q's checkpoint with mlp_qa's config: the first layer's width differs.
    let err = fails(&score_args(
        &fixture("mlp_q/model.eqx"),
        &fixture("mlp_qa/config.json"),
        &ins,
        &out,
    ));
    assert!(err.contains("'_in.weight'"), "{err}");
    assert!(
        err.contains("float32 [8, 8]") && err.contains("float32 [8, 5]"),
        "{err}"
    );
    // A mixer checkpoint for an mlp config.
    let err = fails(&[
        "convert",
        s(&fixture("mixer_qa/model.eqx")),
        s(&tmp.path().join("o.safetensors")),
        "--config",
        s(&fixture("mlp_qa/config.json")),
    ]);
    assert!(err.contains("does not match the model"), "{err}");
    // Same shapes, another t1: the scalar leaf is named.
    let cfg = tmp.path().join("t1.toml");
    std::fs::write(
        &cfg,
        "[model]\nkind = \"mlp\"\nin_size = 2\nwidth_size = 8\ndepth = 2\ndropout_p = 0.1\n\
         q_dim = 2\na_dim = 3\nt1 = 1.0\n",
    )
    .unwrap();
    let err = fails(&score_args(&fixture("mlp_qa/model.eqx"), &cfg, &ins, &out));
    assert!(err.contains("'t1'"), "{err}");
}

#[test]
fn an_object_dtype_record_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut bytes = std::fs::read(fixture("mlp_qa/model.eqx")).unwrap();
    // The first record's descr '<f4' becomes '|O' (same header length).
    let at = bytes.windows(5).position(|w| w == b"'<f4'").unwrap();
    bytes[at..at + 5].copy_from_slice(b"'|O' ");
    let eqx = tmp.path().join("object.eqx");
    std::fs::write(&eqx, &bytes).unwrap();
    let config = fixture("mlp_qa/config.json");
    let ins = inputs(tmp.path());
    let out = tmp.path().join("s.npy");
    for err in [
        fails(&score_args(&eqx, &config, &ins, &out)),
        fails(&["inspect", s(&eqx)]),
        fails(&[
            "convert",
            s(&eqx),
            s(&tmp.path().join("o.safetensors")),
            "--config",
            s(&config),
        ]),
    ] {
        assert!(err.to_lowercase().contains("object"), "{err}");
    }
    // An object-dtype .npy input too.
    let x = tmp.path().join("x_obj.npy");
    let mut xb = std::fs::read(&ins[1]).unwrap();
    let at = xb.windows(5).position(|w| w == b"'<f4'").unwrap();
    xb[at..at + 5].copy_from_slice(b"'|O' ");
    std::fs::write(&x, &xb).unwrap();
    let ins2 = [ins[0].clone(), x, ins[2].clone(), ins[3].clone()];
    let err = fails(&score_args(
        &fixture("mlp_qa/model.eqx"),
        &config,
        &ins2,
        &out,
    ));
    assert!(
        err.contains("--x") && err.to_lowercase().contains("object"),
        "{err}"
    );
}

#[test]
fn a_bad_npy_header_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let ins = inputs(tmp.path());
    let config = fixture("mlp_qa/config.json");
    let out = tmp.path().join("s.npy");
    let bad = tmp.path().join("bad.npy");
    let mut xb = std::fs::read(&ins[1]).unwrap();
    let at = xb.windows(7).position(|w| w == b"'shape'").unwrap();
    xb[at..at + 7].copy_from_slice(b"'shap!'");
    std::fs::write(&bad, &xb).unwrap();
    let ins2 = [ins[0].clone(), bad.clone(), ins[2].clone(), ins[3].clone()];
    let err = fails(&score_args(
        &fixture("mlp_qa/model.eqx"),
        &config,
        &ins2,
        &out,
    ));
    assert!(err.contains("--x") && err.contains("bad.npy"), "{err}");
    let err = fails(&["inspect", s(&bad)]);
    assert!(err.contains("bad.npy"), "{err}");
    // Not a .npy at all.
    std::fs::write(&bad, b"hello").unwrap();
    let ins3 = [bad.clone(), ins[1].clone(), ins[2].clone(), ins[3].clone()];
    let err = fails(&score_args(
        &fixture("mlp_qa/model.eqx"),
        &config,
        &ins3,
        &out,
    ));
    assert!(err.contains("--t"), "{err}");
    assert!(!out.exists());
}

#[test]
fn inputs_that_do_not_fit_the_model_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let ins = inputs(tmp.path());
    let eqx = fixture("mlp_qa/model.eqx");
    let config = fixture("mlp_qa/config.json");
    let out = tmp.path().join("s.npy");
    let write = |name: &str, a: HostArray| {
        let p = tmp.path().join(name);
        write_npy(&p, &a).unwrap();
        p
    };
    let with = |i: usize, p: &PathBuf| {
        let mut v = ins.clone();
        v[i] = p.clone();
        v
    };
    // x of the wrong sample shape.
    let x3 = write(
        "x3.npy",
        HostArray::from_vec(vec![3, 3], vec![0f32; 9]).unwrap(),
    );
    let err = fails(&score_args(&eqx, &config, &with(1, &x3), &out));
    assert!(err.contains("--x must have shape (batch, 2)"), "{err}");
    // t of another batch size.
    let t2 = write(
        "t2.npy",
        HostArray::from_vec(vec![2], vec![0.5f32; 2]).unwrap(),
    );
    let err = fails(&score_args(&eqx, &config, &with(0, &t2), &out));
    assert!(err.contains("--t must have shape (3,)"), "{err}");
    // q of another batch size.
    let q2 = write(
        "q2.npy",
        HostArray::from_vec(vec![2, 2], vec![0f32; 4]).unwrap(),
    );
    let err = fails(&score_args(&eqx, &config, &with(2, &q2), &out));
    assert!(err.contains("--q must have shape (3, 2)"), "{err}");
    // Integer x.
    let xi = write(
        "xi.npy",
        HostArray::from_vec(vec![3, 2], vec![0i32; 6]).unwrap(),
    );
    let err = fails(&score_args(&eqx, &config, &with(1, &xi), &out));
    assert!(err.contains("--x must be a float array"), "{err}");
    // Missing a for a model conditioned on a.
    let mut args = score_args(&eqx, &config, &ins, &out);
    args.truncate(args.len() - 4);
    args.extend(["--out", s(&out)]);
    let err = fails(&args);
    assert!(err.contains("pass --a"), "{err}");
    // q for an unconditional model.
    let err = fails(&[
        "score",
        "--checkpoint",
        s(&fixture("mlp_none/model.eqx")),
        "--config",
        s(&fixture("mlp_none/config.json")),
        "--t",
        s(&ins[0]),
        "--x",
        s(&ins[1]),
        "--q",
        s(&ins[2]),
        "--out",
        s(&out),
    ]);
    assert!(err.contains("not conditioned on a conditioning q"), "{err}");
    // A scalar t is broadcast (and works).
    let t0 = write("t0.npy", HostArray::scalar(0.5f32));
    let o = sbgm(&score_args(&eqx, &config, &with(0, &t0), &out));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.exists());
}

#[test]
fn missing_files_and_configs_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let ins = inputs(tmp.path());
    let out = tmp.path().join("s.npy");
    let missing = tmp.path().join("nope.eqx");
    let err = fails(&score_args(
        &missing,
        &fixture("mlp_qa/config.json"),
        &ins,
        &out,
    ));
    assert!(
        err.contains("nope.eqx") && err.contains("does not exist"),
        "{err}"
    );
    // An .eqx without --config.
    let err = fails(&[
        "convert",
        s(&fixture("mlp_qa/model.eqx")),
        s(&tmp.path().join("o.safetensors")),
    ]);
    assert!(err.contains("--config"), "{err}");
    // A config without [model].
    let cfg = tmp.path().join("c.toml");
    std::fs::write(&cfg, "[train]\nsteps = 3\n").unwrap();
    let err = fails(&score_args(&fixture("mlp_qa/model.eqx"), &cfg, &ins, &out));
    assert!(err.contains("no [model] section"), "{err}");
    // A bad output extension.
    let err = fails(&[
        "convert",
        s(&fixture("mlp_qa/model.eqx")),
        s(&tmp.path().join("o.bin")),
        "--config",
        s(&fixture("mlp_qa/config.json")),
    ]);
    assert!(
        err.contains(".eqx") && err.contains(".safetensors"),
        "{err}"
    );
}
