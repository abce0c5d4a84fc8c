//! The processes' agreement at call boundaries (`sbgm_xla::dist::StoreAgreement`), three
//! stores of one job in threads of this test: a stop that any one process asks for reaches
//! every process at the same round, barriers hold everyone, and a dead peer is an error
//! naming it, not a hang. One process ([`Alone`]) decides by itself.

mod dist_common;

use dist_common::{job, quick};
use sbgm_xla::dist::{Agreement, Alone, StoreAgreement};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// Runs `f(process, agreement)` on each of `n` processes of one job in threads, each leaving
/// through the store's shutdown barrier (process 0 serves the store); the results in process
/// order.
fn on_job<T: Send + 'static>(
    n: usize,
    f: impl Fn(usize, &StoreAgreement) -> T + Send + Sync + Copy + 'static,
) -> Vec<T> {
    let handles: Vec<_> = job(n, &quick())
        .into_iter()
        .enumerate()
        .map(|(p, store)| {
            thread::spawn(move || {
                let store = Arc::new(store);
                let out = f(
                    p,
                    &StoreAgreement::new(store.clone(), Duration::from_secs(20)),
                );
                store.shutdown().unwrap();
                out
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

/// The first round at which each process would stop, and with which status, when process
/// `asker` asks with `status` at round `at` (each process runs up to 6 rounds, as a training
/// loop runs calls, with a barrier after each like the checkpoint's).
fn stop_rounds(asker: usize, at: u64, status: i32) -> Vec<(u64, i32)> {
    on_job(3, move |p, agree| {
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
    })
}

#[test]
fn any_process_stop_reaches_every_process_at_the_same_round() {
    // SIGTERM (15) on process 2 at round 3; Ctrl-C (2) on process 0 at round 1.
    assert_eq!(stop_rounds(2, 3, 15), vec![(3, 15); 3]);
    assert_eq!(stop_rounds(0, 1, 2), vec![(1, 2); 3]);
}

#[test]
fn gather_returns_every_status_in_process_order() {
    let got = on_job(3, |p, agree| {
        let first = agree.gather(10 + p as i32).unwrap();
        (first, agree.gather(-(p as i32)).unwrap())
    });
    for (a, b) in got {
        assert_eq!(a, vec![10, 11, 12]);
        assert_eq!(b, vec![0, -1, -2]);
    }
}

#[test]
fn a_dead_peer_is_an_error_naming_it_not_a_hang() {
    let mut stores = job(3, &quick());
    let gone = stores.pop().unwrap();
    let waiters: Vec<_> = stores
        .into_iter()
        .map(|store| {
            thread::spawn(move || {
                let agree = StoreAgreement::new(Arc::new(store), Duration::from_secs(60));
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
