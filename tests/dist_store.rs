//! The multi-process key-value store (`sbgm_xla::dist::Store`): several stores of one job in
//! threads of this test, and several real processes on loopback (this test binary started
//! again in a child mode): set/get/try-get/barrier/all-gather with binary values, timeouts, an
//! unreachable coordinator, mismatched process counts, duplicate ids, and a killed process
//! that every other process reports by its id instead of hanging.

mod dist_common;

use dist_common::{free_port, job, quick, set};
use sbgm_xla::Error;
use sbgm_xla::dist::{LaunchFlags, Store, StoreOptions};
use sbgm_xla::error::ErrorCode;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

fn code(e: &Error) -> ErrorCode {
    match e {
        Error::Distributed { code, .. } => *code,
        other => panic!("not a distributed error: {other}"),
    }
}

#[test]
fn set_get_try_get_barrier_and_gather_across_three_stores() {
    let stores = job(3, &quick());
    let binary = [0u8, 1, 0, 255, 0];
    stores[1].set(b"key\0with nul", &binary).unwrap();
    for s in &stores {
        assert_eq!(
            s.try_get(b"key\0with nul").unwrap().as_deref(),
            Some(&binary[..])
        );
        assert_eq!(s.try_get(b"key").unwrap(), None, "a prefix is another key");
    }
    let e = stores[2].set(b"key\0with nul", b"other").unwrap_err();
    assert_eq!(code(&e), ErrorCode::AlreadyExists, "{e}");
    stores[0].set(b"empty", b"").unwrap();
    assert_eq!(stores[2].try_get(b"empty").unwrap(), Some(vec![]));

    // A blocking get waits for a value set later by another process.
    thread::scope(|sc| {
        let waiter = sc.spawn(|| stores[2].get(b"later", Duration::from_secs(10)));
        thread::sleep(Duration::from_millis(200));
        stores[0].set(b"later", b"v").unwrap();
        assert_eq!(waiter.join().unwrap().unwrap(), b"v");
    });
    // ... and gives up after its timeout, naming the key.
    let t = Instant::now();
    let e = stores[1]
        .get(b"never", Duration::from_millis(300))
        .unwrap_err();
    assert_eq!(code(&e), ErrorCode::DeadlineExceeded);
    assert!(e.to_string().contains("\"never\""), "{e}");
    assert!(t.elapsed() >= Duration::from_millis(300) && t.elapsed() < Duration::from_secs(5));

    // Every process's value, in process order, whatever order they arrive in.
    let gathered: Vec<Vec<Vec<u8>>> = thread::scope(|sc| {
        let hs: Vec<_> = stores
            .iter()
            .rev()
            .map(|s| {
                sc.spawn(move || {
                    let v = vec![s.process_id() as u8; s.process_id() + 1];
                    s.all_gather("g", &v, Duration::from_secs(10)).unwrap()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for g in &gathered {
        assert_eq!(g, &vec![vec![0], vec![1, 1], vec![2, 2, 2]]);
    }
    // A barrier that one process never reaches names it.
    thread::scope(|sc| {
        let a = sc.spawn(|| stores[0].barrier("b", Duration::from_millis(500)));
        let e = stores[1]
            .barrier("b", Duration::from_millis(500))
            .unwrap_err();
        assert!(
            e.to_string().contains("process 2 of 3 did not arrive"),
            "{e}"
        );
        assert!(a.join().unwrap().is_err());
    });
    // A clean shutdown reports no dead peer.
    thread::scope(|sc| {
        for s in &stores {
            sc.spawn(move || s.shutdown().unwrap());
        }
    });
    assert!(stores.iter().all(|s| s.dead_peer().is_none()));
}

#[test]
fn a_dropped_store_is_a_dead_peer_for_the_others() {
    let mut stores = job(3, &quick());
    let gone = stores.pop().unwrap();
    thread::scope(|sc| {
        let waiters: Vec<_> = stores
            .iter()
            .map(|s| sc.spawn(move || s.get(b"from 2", Duration::from_secs(60))))
            .collect();
        thread::sleep(Duration::from_millis(200));
        let t = Instant::now();
        drop(gone);
        for w in waiters {
            let e = w.join().unwrap().unwrap_err();
            assert_eq!(code(&e), ErrorCode::Aborted, "{e}");
            assert!(e.to_string().contains("process 2 of 3 died"), "{e}");
        }
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    });
    for s in &stores {
        assert!(s.dead_peer().unwrap().contains("process 2"));
        assert_eq!(code(&s.set(b"k", b"v").unwrap_err()), ErrorCode::Aborted);
    }
}

#[test]
fn the_job_must_fit_together() {
    let port = free_port();
    let o = quick();
    let (o0, o1) = (o.clone(), o.clone());
    let p0 = thread::spawn(move || Store::connect(&set(0, 2, port), &o0));
    let p1 = thread::spawn(move || Store::connect(&set(1, 2, port), &o1));
    let (s0, s1) = (p0.join().unwrap().unwrap(), p1.join().unwrap().unwrap());
    // A third process claiming id 1, then one started with another process count.
    let e = Store::connect(&set(1, 2, port), &o).err().unwrap();
    assert_eq!(code(&e), ErrorCode::AlreadyExists);
    assert!(
        e.to_string().contains("two processes claim process id 1"),
        "{e}"
    );
    let e = Store::connect(&set(1, 3, port), &o).err().unwrap();
    assert_eq!(code(&e), ErrorCode::InvalidArgument);
    assert!(
        e.to_string().contains("--num-processes 3") && e.to_string().contains("with 2"),
        "{e}"
    );
    assert!(s0.dead_peer().is_none() && s1.dead_peer().is_none());
}

#[test]
fn unreachable_coordinators_and_missing_processes_time_out_with_their_names() {
    let mut o = quick();
    o.connect_timeout = Duration::from_millis(600);
    let port = free_port();
    let t = Instant::now();
    let e = Store::connect(&set(1, 2, port), &o).err().unwrap();
    assert_eq!(code(&e), ErrorCode::Unavailable);
    let msg = e.to_string();
    assert!(
        msg.contains(&format!("cannot reach the coordinator at 127.0.0.1:{port}")),
        "{msg}"
    );
    assert!(msg.contains("SBGM_XLA_CONNECT_TIMEOUT"), "{msg}");
    assert!(t.elapsed() < Duration::from_secs(5));
    // Process 0 of 3 with only process 1 there: process 2 is named. Process 1 waits longer
    // than process 0, so that process 0's own wait ends first (on a loaded machine process 1
    // would otherwise give up first and be reported as dead).
    let mut o1 = o.clone();
    o1.connect_timeout = Duration::from_secs(20);
    let p1 = thread::spawn(move || Store::connect(&set(1, 3, port), &o1));
    let e = Store::connect(&set(0, 3, port), &o).err().unwrap();
    assert!(
        e.to_string().contains("process 2 of 3 did not arrive"),
        "{e}"
    );
    assert!(p1.join().unwrap().is_err());
}

// ---- real processes ----

const ROLE: &str = "SBGM_TEST_STORE_ROLE";

/// Not a test on its own: the body of a child process (started by the tests below with
/// `ROLE` set). It joins the job named by the `SBGM_XLA_*` variables.
#[test]
fn child_process() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let set = sbgm_xla::dist::discover_here(&LaunchFlags::default()).unwrap();
    let mut o = StoreOptions::from_env().unwrap();
    o.heartbeat = Duration::from_millis(100);
    let store = Store::connect(&set, &o).unwrap();
    let (me, n) = (set.process_id, set.num_processes);
    store
        .set(format!("k/{me}").as_bytes(), &[me as u8, 0, 255, 0])
        .unwrap();
    store.barrier("ready", Duration::from_secs(20)).unwrap();
    for p in 0..n {
        let v = store
            .get(format!("k/{p}").as_bytes(), Duration::from_secs(5))
            .unwrap();
        assert_eq!(v, [p as u8, 0, 255, 0]);
    }
    println!("READY {me}");
    match role.as_str() {
        "worker" => {
            store.barrier("done", Duration::from_secs(20)).unwrap();
            store.shutdown().unwrap();
            println!("OK {me}");
        }
        // Wait for a key nobody sets: only the death of a peer ends this, through the
        // store's answer (as the command line reports an error: status 1) ...
        "wait" => match store.get(b"never", Duration::from_secs(120)) {
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(1);
            }
            Ok(v) => println!("UNEXPECTED {v:?}"),
        },
        // ... or, for a process busy elsewhere (inside XLA), through the store's own exit.
        _ => {
            thread::sleep(Duration::from_secs(120));
            println!("UNEXPECTED: still running");
        }
    }
}

fn spawn(role: &str, id: usize, n: usize, port: u16) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ROLE, role)
        .env("SBGM_XLA_COORDINATOR", format!("127.0.0.1:{port}"))
        .env("SBGM_XLA_PROCESS_ID", id.to_string())
        .env("SBGM_XLA_NUM_PROCESSES", n.to_string())
        .env("SBGM_XLA_CONNECT_TIMEOUT", "30")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for a child with a deadline (killing it after), returning its status and output.
fn finish(mut c: Child, deadline: Instant) -> (Option<i32>, String) {
    while Instant::now() < deadline {
        if c.try_wait().unwrap().is_some() {
            break;
        }
        thread::sleep(Duration::from_millis(50));
    }
    let _ = c.kill();
    let out = c.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&[out.stdout, out.stderr].concat()).into_owned();
    (out.status.code(), text)
}

#[test]
fn three_processes_share_the_store_on_loopback() {
    let port = free_port();
    let children: Vec<Child> = (0..3).map(|i| spawn("worker", i, 3, port)).collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    for (i, c) in children.into_iter().enumerate() {
        let (status, out) = finish(c, deadline);
        assert_eq!(status, Some(0), "process {i}: {out}");
        assert!(out.contains(&format!("OK {i}")), "process {i}: {out}");
    }
}

#[test]
fn a_killed_process_stops_every_other_with_its_id() {
    let port = free_port();
    let mut children: Vec<Child> = ["sleep", "wait", "wait"]
        .iter()
        .enumerate()
        .map(|(i, role)| spawn(role, i, 3, port))
        .collect();
    // Kill process 1 once all are past the barrier and waiting (process 0 asleep, as if
    // inside XLA; process 2 in a store call).
    let mut outs = Vec::new();
    for (i, c) in children.iter_mut().enumerate() {
        let mut out = BufReader::new(c.stdout.take().unwrap());
        let mut line = String::new();
        while !line.contains("READY") {
            line.clear();
            assert!(
                out.read_line(&mut line).unwrap() > 0,
                "process {i} ended early"
            );
        }
        outs.push(out);
    }
    let killed_at = Instant::now();
    children[1].kill().unwrap();
    let _ = children[1].wait();
    let deadline = Instant::now() + Duration::from_secs(30);
    for (i, c) in children.into_iter().enumerate().filter(|(i, _)| *i != 1) {
        let (status, mut text) = finish(c, deadline);
        outs[i].read_to_string(&mut text).unwrap();
        assert_eq!(status, Some(1), "process {i}: {text}");
        assert!(text.contains("process 1 of 3 died"), "process {i}: {text}");
        assert!(!text.contains("UNEXPECTED"), "process {i}: {text}");
    }
    assert!(killed_at.elapsed() < Duration::from_secs(20));
}
