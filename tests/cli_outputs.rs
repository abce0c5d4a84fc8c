//! What the inference commands write: no output replaces an input (the checkpoint a run
//! directory resolves to, hard links and symbolic links included, --png against --out,
//! `run`'s out_<i>.npy against its --input files); results are not written under a model
//! checkpoint's extension unless asked; a missing or unusable output directory is refused
//! before the model is read; a closed stdout is not an error (the files are still written);
//! each cause of an error prints once; non-finite weights, inputs and results are named in a
//! warning.

use sbgm_xla::HostArray;
use sbgm_xla::io::load_checkpoint;
use sbgm_xla::io::npy::{read_npy, write_npy};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The SDE for sampling and likelihoods; t1 = 2 as the fixture model was built for.
const SDE: &str = r#"
[sde]
sde = "VP"
schedule = "linear"
beta_min = 0.1
beta_max = 20.0
t0 = 1e-5
t1 = 2.0
dt = 0.02
"#;

/// The data offset of the `_out.bias` record in the mlp_none fixture's model.eqx.
const OUT_BIAS_OFFSET: usize = 2386;

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/models/mlp_none")
        .join(rel)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn sbgm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sbgm-xla"))
        .args(args)
        .output()
        .expect("run sbgm-xla")
}

/// Runs the command, expects success, returns stderr.
fn ok(args: &[&str]) -> String {
    let o = sbgm(args);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{args:?}: {err}");
    err
}

/// Runs the command, expects exit status 1 with an `error:` line and no panic, returns stderr.
fn fails(args: &[&str]) -> String {
    let o = sbgm(args);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    // The error is the last line (a command that opened a client named its plugin first).
    assert!(
        err.trim_end()
            .lines()
            .last()
            .is_some_and(|l| l.starts_with("error: ")),
        "{args:?}: {err}"
    );
    err
}

/// A working directory with the mlp_none model as .eqx + config, as a run directory
/// (`run/checkpoint.safetensors`, config stored), an SDE file, and score inputs t.npy, x.npy.
struct Setup {
    tmp: tempfile::TempDir,
}

impl Setup {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        std::fs::write(dir.join("sde.toml"), SDE).unwrap();
        std::fs::create_dir(dir.join("run")).unwrap();
        ok(&[
            "convert",
            s(&fixture("model.eqx")),
            s(&dir.join("run/checkpoint.safetensors")),
            "--config",
            s(&fixture("config.json")),
        ]);
        let io = load_checkpoint(&fixture("io.safetensors")).unwrap();
        for c in ["t", "x"] {
            write_npy(
                &dir.join(format!("{c}.npy")),
                io.get(&format!("in.{c}")).unwrap(),
            )
            .unwrap();
        }
        Setup { tmp }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }

    /// `sample` from the run directory, with `extra` arguments.
    fn sample(&self, extra: &[&str]) -> Vec<String> {
        let (run, sde) = (self.path("run"), self.path("sde.toml"));
        let base = ["sample", "--checkpoint", s(&run), "--sde", s(&sde)];
        let fast = ["--n", "6", "--steps", "4", "--quiet"];
        command(&[&base, &fast, extra])
    }

    /// `score` of the .eqx model on t.npy, x.npy (or `x`), with `extra` arguments.
    fn score(&self, checkpoint: &Path, x: &Path, extra: &[&str]) -> Vec<String> {
        let (config, t) = (fixture("config.json"), self.path("t.npy"));
        let base = [
            "score",
            "--checkpoint",
            s(checkpoint),
            "--config",
            s(&config),
        ];
        command(&[&base, &["--t", s(&t), "--x", s(x)], extra])
    }

    /// `loglik` of x.npy under the run's model, with `extra` arguments.
    fn loglik(&self, checkpoint: &Path, extra: &[&str]) -> Vec<String> {
        let (sde, x) = (self.path("sde.toml"), self.path("x.npy"));
        let base = ["loglik", "--checkpoint", s(checkpoint), "--sde", s(&sde)];
        let fast = ["--solver", "euler", "--steps", "4", "--quiet"];
        command(&[&base, &["--data", s(&x)], &fast, extra])
    }
}

/// A command line from its parts.
fn command(parts: &[&[&str]]) -> Vec<String> {
    parts.concat().into_iter().map(String::from).collect()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// A StableHLO program doubling a `(3,)` f32 array.
const DOUBLE: &str = r#"
module @double {
  func.func public @main(%arg0: tensor<3xf32>) -> (tensor<3xf32>) {
    %0 = stablehlo.add %arg0, %arg0 : tensor<3xf32>
    return %0 : tensor<3xf32>
  }
}
"#;

#[test]
fn no_output_replaces_an_input() {
    let st = Setup::new();
    let ck = st.path("run/checkpoint.safetensors");
    let model = std::fs::read(&ck).unwrap();
    let x = std::fs::read(st.path("x.npy")).unwrap();
    let unchanged = || {
        assert_eq!(std::fs::read(&ck).unwrap(), model, "the checkpoint changed");
        assert_eq!(std::fs::read(st.path("x.npy")).unwrap(), x, "x.npy changed");
    };

    // sample over the checkpoint its run directory resolves to, and over a hard link to it
    // (even with the flag that allows the extension).
    std::fs::hard_link(&ck, st.path("hard.safetensors")).unwrap();
    for out in [ck.clone(), st.path("hard.safetensors")] {
        let v = st.sample(&["--out", s(&out), "--allow-checkpoint-extension"]);
        let e = fails(&strs(&v));
        assert!(
            e.contains("same file as the input --checkpoint")
                && e.contains("checkpoint.safetensors"),
            "{e}"
        );
        unchanged();
    }
    // --png and --out naming one file (through a symbolic link): the plot would replace the
    // samples.
    std::fs::write(st.path("plot.png"), b"old").unwrap();
    std::os::unix::fs::symlink(st.path("plot.png"), st.path("samples.npy")).unwrap();
    let v = st.sample(&[
        "--out",
        s(&st.path("samples.npy")),
        "--png",
        s(&st.path("plot.png")),
    ]);
    let e = fails(&strs(&v));
    assert!(e.contains("--png") && e.contains("--out"), "{e}");
    assert!(
        std::fs::read(st.path("plot.png")).unwrap() == b"old",
        "plot.png was replaced"
    );

    // score over its --x (by name, and through a symbolic link), loglik over its --data.
    std::os::unix::fs::symlink(st.path("x.npy"), st.path("link.npy")).unwrap();
    for out in ["x.npy", "link.npy"] {
        let v = st.score(
            &fixture("model.eqx"),
            &st.path("x.npy"),
            &["--out", s(&st.path(out))],
        );
        let e = fails(&strs(&v));
        assert!(e.contains("same file as the input --x"), "{e}");
        unchanged();
    }
    let v = st.loglik(&st.path("run"), &["--out", s(&st.path("x.npy"))]);
    let e = fails(&strs(&v));
    assert!(e.contains("same file as the input --data"), "{e}");
    unchanged();

    // convert onto a hard link of its input.
    let e = fails(&[
        "convert",
        s(&st.path("run")),
        s(&st.path("hard.safetensors")),
    ]);
    assert!(e.contains("same file as the input"), "{e}");
    unchanged();

    // run: out_0.npy in --out-dir is one of the inputs.
    let prog = st.path("double.mlir");
    std::fs::write(&prog, DOUBLE).unwrap();
    let dir = st.path("runout");
    std::fs::create_dir(&dir).unwrap();
    let input = dir.join("out_0.npy");
    let a = HostArray::from_vec(vec![3], vec![1f32, 2., 3.]).unwrap();
    write_npy(&input, &a).unwrap();
    let e = fails(&["run", s(&prog), "--input", s(&input), "--out-dir", s(&dir)]);
    assert!(e.contains("same file as the input --input"), "{e}");
    assert_eq!(read_npy(&input).unwrap(), a);
    // Elsewhere it runs.
    let other = st.path("runout2");
    ok(&[
        "run",
        s(&prog),
        "--input",
        s(&input),
        "--out-dir",
        s(&other),
    ]);
    assert_eq!(
        read_npy(&other.join("out_0.npy")).unwrap().to_f64_vec(),
        [2.0, 4.0, 6.0]
    );
}

#[test]
fn results_are_not_written_under_a_checkpoint_extension_unless_asked() {
    let st = Setup::new();
    let out = st.path("samples.safetensors");
    let v = st.sample(&["--out", s(&out)]);
    let e = fails(&strs(&v));
    assert!(
        e.contains(".safetensors is the extension of model checkpoints")
            && e.contains("--allow-checkpoint-extension"),
        "{e}"
    );
    assert!(!out.exists());
    let v = st.sample(&["--out", s(&out), "--allow-checkpoint-extension"]);
    ok(&strs(&v));
    assert_eq!(
        load_checkpoint(&out)
            .unwrap()
            .get("samples")
            .unwrap()
            .shape(),
        [6, 2]
    );

    let ll = st.path("ll.safetensors");
    let e = fails(&strs(&st.loglik(&st.path("run"), &["--out", s(&ll)])));
    assert!(e.contains("--allow-checkpoint-extension"), "{e}");
    assert!(!ll.exists());

    let eqx = st.path("scores.eqx");
    let v = st.score(
        &fixture("model.eqx"),
        &st.path("x.npy"),
        &["--out", s(&eqx)],
    );
    let e = fails(&strs(&v));
    assert!(
        e.contains(".eqx is the extension of model checkpoints"),
        "{e}"
    );
    assert!(!eqx.exists());
}

#[test]
fn an_unusable_output_directory_is_refused_before_the_model_is_read() {
    let st = Setup::new();
    let missing = st.path("nodir/out.npy");
    let file = st.path("x.npy");
    let under_file = file.join("out.npy");
    // A corrupt checkpoint: the output is checked first, so the error is about the output.
    let corrupt = st.path("corrupt.eqx");
    std::fs::write(&corrupt, b"\x93NUMPY garbage").unwrap();
    for (out, want) in [
        (&missing, "does not exist; create it first"),
        (&under_file, "is not a directory"),
    ] {
        let v = st.sample(&["--out", s(out)]);
        let e = fails(&strs(&v));
        assert!(e.contains(want) && e.contains("--out"), "{e}");
        let v = st.sample(&[
            "--out",
            s(&st.path("ok.npy")),
            "--png",
            s(&out.with_extension("png")),
        ]);
        let e = fails(&strs(&v));
        assert!(e.contains(want) && e.contains("--png"), "{e}");
        let e = fails(&strs(&st.loglik(&st.path("run"), &["--out", s(out)])));
        assert!(e.contains(want), "{e}");
        let e = fails(&strs(&st.score(&corrupt, &file, &["--out", s(out)])));
        assert!(e.contains(want) && !e.contains("corrupt.eqx"), "{e}");
        let out_st = out.with_extension("safetensors");
        let e = fails(&[
            "convert",
            s(&corrupt),
            s(&out_st),
            "--config",
            s(&fixture("config.json")),
        ]);
        assert!(e.contains(want) && !e.contains("corrupt.eqx"), "{e}");
    }
    // run creates a missing --out-dir, but not under a file.
    let e = fails(&["run", s(&corrupt), "--out-dir", s(&file.join("dir"))]);
    assert!(
        e.contains("--out-dir") && e.contains("is not a directory") && !e.contains("corrupt.eqx"),
        "{e}"
    );
    // A directory without write permission (root may write anywhere: then not checked).
    let locked = st.path("locked");
    std::fs::create_dir(&locked).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).unwrap();
    if std::fs::write(locked.join("probe"), b"").is_err() {
        let v = st.sample(&["--out", s(&locked.join("s.npy"))]);
        let e = fails(&strs(&v));
        assert!(e.contains("cannot write in the directory"), "{e}");
    }
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn each_cause_of_an_error_prints_once() {
    let st = Setup::new();
    let v = st.score(
        &fixture("model.eqx"),
        &st.path("missing.npy"),
        &["--out", s(&st.path("s.npy"))],
    );
    let e = fails(&strs(&v));
    assert_eq!(e.matches("(os error 2)").count(), 1, "{e}");
    assert!(e.contains("missing.npy"), "{e}");
    let e = fails(&["inspect", s(&st.path("missing.npy"))]);
    assert_eq!(e.lines().count(), 1, "{e}");
}

/// Runs the command with stdout connected to a pipe whose reading end is already closed.
fn with_closed_stdout(args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    Command::new(env!("CARGO_BIN_EXE_sbgm-xla"))
        .args(args)
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .expect("run sbgm-xla")
}

#[test]
fn a_closed_stdout_is_not_an_error() {
    let st = Setup::new();
    let out = st.path("s.npy");
    let png = st.path("s.png");
    let prog = st.path("double.mlir");
    std::fs::write(&prog, DOUBLE).unwrap();
    write_npy(
        &st.path("a.npy"),
        &HostArray::from_vec(vec![3], vec![1f32, 2., 3.]).unwrap(),
    )
    .unwrap();
    let runs: Vec<(Vec<String>, Vec<PathBuf>)> = vec![
        (
            st.sample(&["--out", s(&out), "--png", s(&png)]),
            vec![out.clone(), png.clone()],
        ),
        (
            st.score(
                &fixture("model.eqx"),
                &st.path("x.npy"),
                &["--out", s(&st.path("score.npy"))],
            ),
            vec![st.path("score.npy")],
        ),
        (
            st.loglik(&st.path("run"), &["--out", s(&st.path("ll.npy"))]),
            vec![st.path("ll.npy")],
        ),
        (
            ["convert", s(&st.path("run")), s(&st.path("m.eqx"))]
                .map(String::from)
                .to_vec(),
            vec![st.path("m.eqx")],
        ),
        (
            [
                "run",
                s(&prog),
                "--input",
                s(&st.path("a.npy")),
                "--out-dir",
                s(&st.path("r")),
            ]
            .map(String::from)
            .to_vec(),
            vec![st.path("r/out_0.npy")],
        ),
        (
            ["inspect", s(&st.path("run"))].map(String::from).to_vec(),
            vec![],
        ),
        (["plugin", "list"].map(String::from).to_vec(), vec![]),
    ];
    for (args, files) in runs {
        let o = with_closed_stdout(&strs(&args));
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {err}");
        assert!(
            !err.contains("panicked") && !err.contains("error"),
            "{args:?}: {err}"
        );
        for f in files {
            assert!(f.is_file(), "{args:?}: {} was not written", f.display());
        }
    }
    assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));
}

#[test]
fn non_finite_weights_inputs_and_results_are_named_in_a_warning() {
    let st = Setup::new();
    // The fixture with _out.bias[0] = NaN.
    let mut bytes = std::fs::read(fixture("model.eqx")).unwrap();
    bytes[OUT_BIAS_OFFSET..OUT_BIAS_OFFSET + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    let nan_model = st.path("nan.eqx");
    std::fs::write(&nan_model, &bytes).unwrap();
    let out = st.path("s.npy");

    let v = st.score(&nan_model, &st.path("x.npy"), &["--out", s(&out)]);
    let e = ok(&strs(&v));
    assert!(
        e.contains("warning: the model's parameters are not all finite: leaf `_out.bias`")
            && e.contains("NaN at index [0]"),
        "{e}"
    );
    assert!(
        e.contains("the scores written to") && e.contains("s.npy"),
        "{e}"
    );
    assert!(read_npy(&out).unwrap().to_f64_vec()[0].is_nan());

    // A NaN input.
    let mut x = read_npy(&st.path("x.npy")).unwrap().to_f64_vec();
    x[3] = f64::NAN;
    let shape = read_npy(&st.path("x.npy")).unwrap().shape().to_vec();
    let xs: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    write_npy(
        &st.path("xnan.npy"),
        &HostArray::from_vec(shape, xs).unwrap(),
    )
    .unwrap();
    let v = st.score(
        &fixture("model.eqx"),
        &st.path("xnan.npy"),
        &["--out", s(&out)],
    );
    let e = ok(&strs(&v));
    assert!(
        e.contains("warning: the input --x") && e.contains("xnan.npy holds NaN at index [1, 1]"),
        "{e}"
    );
    assert!(!e.contains("parameters"), "{e}");

    // sample and loglik with the NaN model.
    let (config, sde, data) = (
        fixture("config.json"),
        st.path("sde.toml"),
        st.path("x.npy"),
    );
    let args = [
        "--checkpoint",
        s(&nan_model),
        "--config",
        s(&config),
        "--sde",
        s(&sde),
        "--steps",
        "4",
        "--quiet",
    ];
    let mut v = vec!["sample", "--n", "3", "--out", s(&out)];
    v.extend(args);
    let e = ok(&v);
    assert!(e.contains("leaf `_out.bias`"), "{e}");
    assert!(e.contains("warning: the samples written to"), "{e}");
    let mut v = vec!["loglik", "--data", s(&data), "--solver", "euler"];
    v.extend(args);
    let e = ok(&v);
    assert!(e.contains("leaf `_out.bias`"), "{e}");
    assert!(
        e.contains("warning: the log-likelihoods are not all finite"),
        "{e}"
    );

    // A finite model and input: no warning.
    let v = st.score(
        &fixture("model.eqx"),
        &st.path("x.npy"),
        &["--out", s(&out)],
    );
    let e = ok(&strs(&v));
    assert!(!e.contains("warning"), "{e}");
}
