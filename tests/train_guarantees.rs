//! What `sbgm-xla train` guarantees, run as users run it: one process per run directory (a
//! lock naming the holder's PID; a killed holder never blocks), Ctrl-C and SIGTERM save a
//! checkpoint and exit with 128 + the signal, a second Ctrl-C stops at once, a run that
//! stopped before its first checkpoint is taken over by the next one, stale temporary files
//! are cleaned, and sizes beyond the machine or the program are refused before anything is
//! created or allocated.

use std::io::Read as _;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/configs/moons.toml");

/// A small, fast moons model; runs long enough to be stopped.
const SMALL: [&str; 14] = [
    "--set",
    "model.width_size=16",
    "--set",
    "model.depth=1",
    "--set",
    "data.n=1000",
    "--set",
    "train.batch_size=32",
    "--set",
    "train.sample_every=0",
    "--set",
    "train.eval_every=0",
    "--set",
    "train.checkpoint_every=0",
];

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sbgm-xla"))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `train --config moons --run-dir dir` with the small model and `extra` arguments.
fn train_cmd(dir: &Path, extra: &[&str]) -> Command {
    let mut c = bin();
    c.args(["train", "--config", CONFIG, "--run-dir", s(dir), "--quiet"])
        .args(SMALL)
        .args(extra);
    c
}

fn run(mut c: Command) -> (Option<i32>, String) {
    let o: Output = c.output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!err.contains("panicked"), "{err}");
    (o.status.code(), err)
}

/// Starts a long run (`steps_per_call` steps a call) and waits until it has logged steps.
fn start_long(dir: &Path, steps_per_call: &str) -> Child {
    let k = format!("train.steps_per_call={steps_per_call}");
    start_long_with(dir, &["--set", &k])
}

/// Starts a long run with `extra` arguments and waits until it has logged steps.
fn start_long_with(dir: &Path, extra: &[&str]) -> Child {
    let mut c = train_cmd(dir, &["--set", "train.steps=100000000"]);
    c.args(extra);
    let child = c.stderr(Stdio::piped()).spawn().unwrap();
    let metrics = dir.join("metrics.jsonl");
    let t0 = Instant::now();
    while std::fs::read_to_string(&metrics).map_or(true, |m| m.lines().count() < 2) {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "the run never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: plain kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
}

fn finish(mut child: Child) -> (Option<i32>, String) {
    let t0 = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            assert!(!err.contains("panicked"), "{err}");
            return (status.code(), err);
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "the run did not stop"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A finished 10-step run in `root/run`.
fn trained_run(root: &Path) -> std::path::PathBuf {
    let dir = root.join("run");
    let (code, err) = run(train_cmd(
        &dir,
        &[
            "--set",
            "train.steps=10",
            "--set",
            "train.steps_per_call=10",
        ],
    ));
    assert_eq!(code, Some(0), "{err}");
    dir
}

/// The step a stop message names ("... at step N; ...").
fn stopped_step(err: &str) -> u64 {
    let tail = &err[err.find("at step ").expect(err) + 8..];
    tail.split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn a_second_train_is_refused_ctrl_c_saves_and_exits_130_and_resume_continues() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let child = start_long(&dir, "10");
    let pid = child.id();
    for extra in [&["--resume"][..], &[][..]] {
        let (code, err) = run(train_cmd(&dir, extra));
        assert_eq!(code, Some(1), "{err}");
        assert!(
            err.contains(&format!("in use by another sbgm-xla process (PID {pid})")),
            "{err}"
        );
    }
    signal(&child, libc::SIGINT);
    let (code, err) = finish(child);
    assert_eq!(code, Some(130), "{err}");
    assert!(err.contains("stopped by Ctrl-C"), "{err}");
    let step = stopped_step(&err);
    assert!(step > 0, "{err}");
    assert!(dir.join("checkpoint.safetensors").is_file());
    // The lock went with the process; the run continues from the saved step.
    let target = (step + 20).to_string();
    let (code, err) = run(train_cmd(
        &dir,
        &["--resume", "--set", &format!("train.steps={target}")],
    ));
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains(&format!("trained {target} steps")), "{err}");
}

#[test]
fn sigterm_saves_a_checkpoint_and_exits_143() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let child = start_long(&dir, "10");
    signal(&child, libc::SIGTERM);
    let (code, err) = finish(child);
    assert_eq!(code, Some(143), "{err}");
    assert!(err.contains("stopped by SIGTERM"), "{err}");
    assert!(dir.join("checkpoint.safetensors").is_file());
}

#[test]
fn a_second_ctrl_c_stops_at_once_saying_what_is_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    // Long calls (about a second each), so the second signal lands inside one.
    let child = start_long(&dir, "20000");
    let t0 = Instant::now();
    signal(&child, libc::SIGINT);
    std::thread::sleep(Duration::from_millis(100));
    signal(&child, libc::SIGINT);
    let (code, err) = finish(child);
    assert_eq!(code, Some(130), "{err}");
    assert!(err.contains("stopped at once"), "{err}");
    assert!(
        err.contains("no checkpoint was written yet") || err.contains("is kept"),
        "{err}"
    );
    assert!(t0.elapsed() < Duration::from_secs(30));
}

#[test]
fn a_killed_run_leaves_no_lock_and_its_stale_temporary_files_are_cleaned() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let ck = dir.join("checkpoint.safetensors");
    let mut child = start_long_with(&dir, &["--set", "train.checkpoint_every=20"]);
    let t0 = Instant::now();
    while !ck.is_file() {
        assert!(t0.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // What a SIGKILL during a checkpoint write leaves: a temporary file of a dead writer.
    let stale = dir.join(".checkpoint.safetensors.tmp-99999999-0");
    std::fs::write(&stale, b"partial").unwrap();
    let step: u64 = sbgm_xla::io::load_checkpoint(&ck)
        .unwrap()
        .meta("step")
        .unwrap()
        .parse()
        .unwrap();
    let target = format!("train.steps={}", step + 10);
    let (code, err) = run(train_cmd(&dir, &["--resume", "--set", &target]));
    assert_eq!(code, Some(0), "{err}");
    assert!(!stale.exists(), "the stale temporary file was kept");
}

#[test]
fn a_run_that_failed_before_its_first_checkpoint_is_taken_over_and_promises_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    // An absurd learning rate: the loss is NaN within a few steps, before any checkpoint.
    let (code, err) = run(train_cmd(
        &dir,
        &["--set", "train.lr=1e30", "--set", "train.steps_per_call=1"],
    ));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("the loss became NaN"), "{err}");
    assert!(err.contains("no checkpoint was saved yet"), "{err}");
    assert!(!err.contains("checkpoint (step"), "{err}");
    assert!(!dir.join("checkpoint.safetensors").exists());
    let (code, err) = run(train_cmd(&dir, &["--resume"]));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("start it again without --resume"), "{err}");
    // The same command with a sane rate takes the directory over.
    let (code, err) = run(train_cmd(
        &dir,
        &[
            "--set",
            "train.steps=20",
            "--set",
            "train.steps_per_call=10",
        ],
    ));
    assert_eq!(code, Some(0), "{err}");
    assert!(dir.join("checkpoint.safetensors").is_file());
    // A directory with files that are not a run's is never taken over.
    let other = tmp.path().join("notes");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("thesis.tex"), "x").unwrap();
    let (code, err) = run(train_cmd(&other, &["--set", "train.steps=20"]));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("thesis.tex"), "{err}");
}

#[test]
fn sizes_beyond_the_machine_or_the_program_are_refused_before_anything_is_created() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &str); 8] = [
        (&["--set", "train.batch_size=1000000000"], "needs at least"),
        (&["--set", "model.width_size=1000000"], "needs at least"),
        (&["--set", "data.n=1000000000"], "lower data.n"),
        // Compiles, then the compiler's plan of the step exceeds the machine.
        (
            &[
                "--set",
                "train.batch_size=16000000",
                "--set",
                "train.steps_per_call=1",
                "--set",
                "model.width_size=256",
                "--set",
                "model.depth=3",
            ],
            "as compiled",
        ),
        (&["--cpu-devices", "100000"], "use 1 to 1024"),
        (
            &["--set", "train.steps=4294967296"],
            "steps = 4294967296: use 1 to 2147483647",
        ),
        (&["--set", "train.steps=0"], "steps = 0"),
        (&["--devices", "3"], "not divisible by the 3 devices"),
    ];
    for (i, (extra, want)) in cases.iter().enumerate() {
        let dir = tmp.path().join(format!("run{i}"));
        let mut c = train_cmd(&dir, extra);
        // A bound on the address space: a refusal must come before any large allocation.
        unsafe {
            use std::os::unix::process::CommandExt as _;
            c.pre_exec(|| {
                let lim = libc::rlimit {
                    rlim_cur: 40 << 30,
                    rlim_max: 40 << 30,
                };
                libc::setrlimit(libc::RLIMIT_AS, &lim);
                Ok(())
            });
        }
        let (code, err) = run(c);
        assert_eq!(code, Some(1), "{extra:?}: {err}");
        assert!(err.contains(want), "{extra:?}: {err}");
        assert!(
            std::fs::read_dir(&dir).map_or(true, |d| d
                .flatten()
                .all(|e| e.file_name() == ".sbgm-xla.lock")),
            "{extra:?} left files in the run directory"
        );
    }
}

#[test]
fn a_checkpoint_with_an_impossible_step_is_refused_without_overflow() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = trained_run(tmp.path());
    let ck = dir.join("checkpoint.safetensors");
    let mut c = sbgm_xla::io::load_checkpoint(&ck).unwrap();
    c.set_meta("step", u64::MAX.to_string());
    sbgm_xla::io::save_checkpoint(&ck, &c).unwrap();
    let (code, err) = run(train_cmd(&dir, &["--resume"]));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("the checkpoint is damaged"), "{err}");
    assert!(!err.contains("9223372036854775806"), "{err}");
}

#[test]
fn sampling_sizes_beyond_the_program_or_the_machine_are_refused_before_work() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = trained_run(tmp.path());
    let out = tmp.path().join("s.npy");
    let data = tmp.path().join("x.npy");
    sbgm_xla::io::write_npy(
        &data,
        &sbgm_xla::HostArray::from_vec(vec![2, 2], vec![0.1f32, 0.2, -0.3, 0.4]).unwrap(),
    )
    .unwrap();
    let sample = |extra: &[&str]| {
        let mut c = bin();
        c.args([
            "sample",
            "--quiet",
            "--checkpoint",
            s(&dir),
            "--out",
            s(&out),
        ])
        .args(extra);
        run(c)
    };
    for (extra, want) in [
        (
            &["--n", "4", "--sampler", "euler", "--steps", "4294967296"][..],
            "steps = 4294967296 is beyond",
        ),
        (
            &[
                "--n",
                "4",
                "--sampler",
                "tsit5",
                "--max-steps",
                "4294967296",
            ],
            "max_steps = 4294967296 is beyond",
        ),
        (&["--n", "1000000000000"], "sampling needs at least"),
    ] {
        let (code, err) = sample(extra);
        assert_eq!(code, Some(1), "{extra:?}: {err}");
        assert!(err.contains(want), "{extra:?}: {err}");
        assert!(!out.exists());
    }
    let mut c = bin();
    c.args([
        "loglik",
        "--quiet",
        "--checkpoint",
        s(&dir),
        "--data",
        s(&data),
    ])
    .args(["--max-steps", "4294967296"]);
    let (code, err) = run(c);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("max_steps = 4294967296 is beyond"), "{err}");
}

#[test]
fn ctrl_c_while_compiling_writes_nothing_and_the_same_command_starts_again() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    // A UNet: its step compiles for seconds, and the lock is taken before compiling.
    let unet = concat!(env!("CARGO_MANIFEST_DIR"), "/configs/digits_unet.toml");
    let args = [
        "train",
        "--config",
        unet,
        "--run-dir",
        s(&dir),
        "--quiet",
        "--set",
        "train.steps=4",
        "--set",
        "train.steps_per_call=2",
        "--set",
        "train.sample_every=0",
        "--set",
        "train.eval_every=0",
    ];
    let env = [("SBGM_XLA_COMPILE_CACHE", "off")];
    let child = bin()
        .args(args)
        .envs(env)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !dir.join(".sbgm-xla.lock").exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the run never locked its directory"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    signal(&child, libc::SIGINT);
    let (code, err) = finish(child);
    assert_eq!(code, Some(130), "{err}");
    assert!(err.contains("nothing was trained yet"), "{err}");
    for f in ["checkpoint.safetensors", "config.toml", "metrics.jsonl"] {
        assert!(!dir.join(f).exists(), "{f} was written: {err}");
    }
    let mut again = bin();
    again.args(args).envs(env);
    let (code, err) = run(again);
    assert_eq!(code, Some(0), "{err}");
    assert!(dir.join("checkpoint.safetensors").is_file());
}
