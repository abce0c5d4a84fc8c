//! Several processes from the command line: `--coordinator/--process-id/--num-processes`,
//! the `SBGM_XLA_*` variables and a launcher's environment, as `sbgm-xla devices` and
//! `sbgm-xla train` see them. On the CPU plugin a multi-process job is refused with one clear
//! error per process (XLA's CPU client cannot compute across processes), never a hang.

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Variables a case sets.
type Env<'a> = Vec<(&'a str, &'a str)>;

const CPU_REFUSAL: &str = "Multiprocess computations aren't implemented on the CPU backend";

fn sbgm() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sbgm-xla"));
    for v in [
        "SBGM_XLA_COORDINATOR",
        "SBGM_XLA_PROCESS_ID",
        "SBGM_XLA_NUM_PROCESSES",
        "SLURM_PROCID",
        "SLURM_NTASKS",
        "SLURM_STEP_NUM_TASKS",
        "RANK",
        "WORLD_SIZE",
        "OMPI_COMM_WORLD_RANK",
        "OMPI_COMM_WORLD_SIZE",
        "TPU_WORKER_ID",
    ] {
        c.env_remove(v);
    }
    c
}

/// Waits for `child` up to `limit`, killing it after; its output and whether it ended in time.
fn wait(mut child: Child, limit: Duration) -> (Output, bool) {
    let deadline = Instant::now() + limit;
    let mut ended = false;
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            ended = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    (child.wait_with_output().unwrap(), ended)
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&[o.stdout.as_slice(), o.stderr.as_slice()].concat()).into_owned()
}

/// Starts processes 0 and 1 (`make(i)` builds the command of process `i`) and waits for
/// both: each one's output, whether it ended within a minute, whether it succeeded.
fn run_pair(make: impl Fn(usize) -> Command) -> Vec<(String, bool, bool)> {
    let children: Vec<Child> = (0..2)
        .map(|i| {
            make(i)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    children
        .into_iter()
        .map(|c| {
            let (out, ended) = wait(c, Duration::from_secs(60));
            (text(&out), ended, out.status.success())
        })
        .collect()
}

#[test]
fn two_train_processes_on_the_cpu_plugin_each_get_one_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/configs/moons.toml");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let coordinator = format!("127.0.0.1:{port}");
    let results = run_pair(|i| {
        let mut c = sbgm();
        c.args([
            "train",
            "--config",
            config,
            "--quiet",
            "--set",
            "train.steps=2",
        ])
        .arg("--run-dir")
        .arg(&run)
        .args(["--num-processes", "2", "--coordinator", &coordinator])
        .args(["--process-id", &i.to_string()]);
        c
    });
    for (i, (t, ended, ok)) in results.into_iter().enumerate() {
        assert!(ended, "process {i} hung: {t}");
        assert!(!ok, "process {i}: {t}");
        assert_eq!(t.matches(CPU_REFUSAL).count(), 1, "process {i}: {t}");
        assert!(t.contains(&format!("process {i} of 2")), "process {i}: {t}");
        assert!(
            t.contains("--plugin cuda") && t.contains("--cpu-devices N"),
            "{t}"
        );
    }
    assert!(!run.join("metrics.jsonl").exists(), "nothing was trained");
}

#[test]
fn devices_shows_the_process_and_the_global_view() {
    let o = sbgm()
        .args(["devices", "--cpu-devices", "2"])
        .output()
        .unwrap();
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("process:   process 0 of 1 (one process)"), "{t}");
    assert!(
        t.contains("global:    process 0: 2 devices (ids 0, 1)"),
        "{t}"
    );
    // A one-task SLURM step is one process, and says where it came from.
    let o = sbgm()
        .args(["devices"])
        .env("SLURM_PROCID", "0")
        .env("SLURM_NTASKS", "1")
        .env("SLURM_JOB_NODELIST", "node[01-04]")
        .output()
        .unwrap();
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("process:   process 0 of 1 (SLURM)"), "{t}");
}

#[test]
fn flags_variables_and_launchers_reach_the_cpu_refusal_or_a_named_mistake() {
    // Flags, the SBGM_XLA_* variables, SLURM and torchrun all make a two-process job, which
    // the CPU plugin refuses at once, before any store is contacted.
    let cases: Vec<(Vec<&str>, Env, &str)> = vec![
        (
            vec![
                "--num-processes",
                "2",
                "--process-id",
                "1",
                "--coordinator",
                "127.0.0.1:9",
            ],
            vec![],
            "process 1 of 2",
        ),
        (
            vec![],
            vec![
                ("SBGM_XLA_COORDINATOR", "127.0.0.1:9"),
                ("SBGM_XLA_PROCESS_ID", "0"),
                ("SBGM_XLA_NUM_PROCESSES", "3"),
            ],
            "process 0 of 3",
        ),
        (
            vec![],
            vec![
                ("SLURM_PROCID", "3"),
                ("SLURM_NTASKS", "4"),
                ("SLURM_STEP_NODELIST", "gpu[1-4]"),
            ],
            "process 3 of 4",
        ),
        (
            vec![],
            vec![
                ("RANK", "1"),
                ("WORLD_SIZE", "2"),
                ("MASTER_ADDR", "127.0.0.1"),
                ("MASTER_PORT", "9"),
            ],
            "process 1 of 2",
        ),
    ];
    for (args, env, who) in cases {
        let mut c = sbgm();
        c.arg("devices").args(&args);
        for (k, v) in &env {
            c.env(k, v);
        }
        let (out, ended) = wait(
            c.stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
            Duration::from_secs(30),
        );
        let t = text(&out);
        assert!(ended && !out.status.success(), "{args:?} {env:?}: {t}");
        assert!(
            t.contains(CPU_REFUSAL) && t.contains(who),
            "{args:?} {env:?}: {t}"
        );
    }
    // Mistakes in the set are named before any plugin is loaded.
    let o = sbgm()
        .args(["devices", "--num-processes", "2", "--process-id", "2"])
        .args(["--coordinator", "h:1"])
        .output()
        .unwrap();
    let t = text(&o);
    assert!(
        !o.status.success() && t.contains("out of range for 2 processes"),
        "{t}"
    );
    let o = sbgm()
        .args(["devices", "--num-processes", "2", "--process-id", "0"])
        .output()
        .unwrap();
    let t = text(&o);
    assert!(
        !o.status.success() && t.contains("--coordinator HOST:PORT"),
        "{t}"
    );
}

#[test]
fn a_process_that_fails_at_start_stops_the_other_with_its_name() {
    // The CPU plugin under a name that does not say "cpu": the processes join the store and
    // pass node_id/num_nodes and the key-value callbacks to the plugin, which refuses them.
    let cpu = sbgm_xla::pjrt::plugin::resolve(&sbgm_xla::pjrt::PluginSpec::Platform("cpu".into()))
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let plugin = tmp.path().join("libpjrt_plain.so");
    if std::fs::hard_link(&cpu, &plugin).is_err() {
        std::fs::copy(&cpu, &plugin).unwrap();
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let results = run_pair(|i| {
        let mut c = sbgm();
        c.arg("devices")
            .arg("--plugin")
            .arg(&plugin)
            .args(["--num-processes", "2", "--process-id", &i.to_string()])
            .args(["--coordinator", &format!("127.0.0.1:{port}")]);
        c
    });
    for (i, (t, ended, ok)) in results.into_iter().enumerate() {
        assert!(ended && !ok, "process {i}: {t}");
        assert_eq!(t.matches("error: ").count(), 1, "process {i}: {t}");
        // Each process fails on the plugin's refusal, or on the news that the other died
        // of it first.
        let own = t.contains(&format!("creating the client of process {i} of 2"))
            && t.contains("num_nodes");
        let other = t.contains(&format!("process {} of 2 died", 1 - i));
        assert!(own || other, "process {i}: {t}");
    }
}
