//! The processes' agreement at call boundaries (`sbgm_xla::dist::StoreAgreement`), three
//! stores of one job in threads of this test: a stop that any one process asks for reaches
//! every process at the same round, barriers hold everyone, and a dead peer is an error
//! naming it, not a hang. One process ([`Alone`]) decides by itself.

use sbgm_xla::dist::{
    Agreement, Alone, Launcher, PeerDeath, ProcessSet, Store, StoreAgreement, StoreOptions,
};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn quick() -> StoreOptions {
    StoreOptions {
        connect_timeout: Duration::from_secs(10),
        heartbeat: Duration::from_millis(100),
        peer_timeout: Duration::from_secs(5),
        shutdown_timeout: Duration::from_secs(10),
        on_peer_death: PeerDeath::Report,
    }
}

/// `n` connected stores of one job, process 0 first.
fn job(n: usize) -> Vec<Arc<Store>> {
    let port = free_port();
    let handles: Vec<_> = (0..n)
        .map(|i| {
            thread::spawn(move || {
                let set = ProcessSet {
                    process_id: i,
                    num_processes: n,
                    coordinator: Some(format!("127.0.0.1:{port}")),
                    launcher: Launcher::Explicit,
                };
                Store::connect(&set, &quick())
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| Arc::new(h.join().unwrap().unwrap()))
        .collect()
}

/// The first round at which each process would stop, and with which status, when process
/// `asker` asks with `status` at round `at` (each process runs up to 6 rounds, as a training
/// loop runs calls, with a barrier after each like the checkpoint's).
fn stop_rounds(asker: usize, at: u64, status: i32) -> Vec<(u64, i32)> {
    let stores = job(3);
    let handles: Vec<_> = stores
        .into_iter()
        .enumerate()
        .map(|(p, store)| {
            thread::spawn(move || {
                let agree = StoreAgreement::new(store.clone(), Duration::from_secs(20));
                let stop = (|| {
                    for round in 0..6u64 {
                        // Processes reach the boundary at different times.
                        thread::sleep(Duration::from_millis((p as u64 * 7 + round * 3) % 20));
                        let mine = if p == asker && round == at { status } else { 0 };
                        if let Some(s) = agree.first_request(mine).unwrap() {
                            agree.barrier().unwrap();
                            return (round, s);
                        }
                        agree.barrier().unwrap();
                    }
                    (u64::MAX, 0)
                })();
                // Process 0 serves the store: every process leaves through the shutdown barrier.
                store.shutdown().unwrap();
                stop
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

#[test]
fn any_process_stop_reaches_every_process_at_the_same_round() {
    // SIGTERM (15) on process 2 at round 3; Ctrl-C (2) on process 0 at round 1.
    assert_eq!(stop_rounds(2, 3, 15), vec![(3, 15); 3]);
    assert_eq!(stop_rounds(0, 1, 2), vec![(1, 2); 3]);
}

#[test]
fn gather_returns_every_status_in_process_order() {
    let stores = job(3);
    let handles: Vec<_> = stores
        .into_iter()
        .enumerate()
        .map(|(p, store)| {
            thread::spawn(move || {
                let agree = StoreAgreement::new(store.clone(), Duration::from_secs(20));
                let got = (
                    agree.gather(10 + p as i32).unwrap(),
                    agree.gather(-(p as i32)).unwrap(),
                );
                store.shutdown().unwrap();
                got
            })
        })
        .collect();
    for h in handles {
        let (a, b) = h.join().unwrap();
        assert_eq!(a, vec![10, 11, 12]);
        assert_eq!(b, vec![0, -1, -2]);
    }
}

#[test]
fn a_dead_peer_is_an_error_naming_it_not_a_hang() {
    let mut stores = job(3);
    let gone = stores.pop().unwrap();
    let waiters: Vec<_> = stores
        .into_iter()
        .map(|store| {
            thread::spawn(move || {
                let agree = StoreAgreement::new(store, Duration::from_secs(60));
                agree.first_request(0)
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(200));
    let t = Instant::now();
    drop(gone);
    for w in waiters {
        let e = w.join().unwrap().unwrap_err().to_string();
        assert!(e.contains("process 2 of 3 died"), "{e}");
    }
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
}

#[test]
fn one_process_agrees_with_itself() {
    assert_eq!(Alone.gather(7).unwrap(), vec![7]);
    assert_eq!(Alone.first_request(0).unwrap(), None);
    assert_eq!(Alone.first_request(15).unwrap(), Some(15));
    Alone.barrier().unwrap();
}
