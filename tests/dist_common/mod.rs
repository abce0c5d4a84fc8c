//! Jobs of several key-value stores in threads of one test, on loopback.
#![allow(dead_code)]

use sbgm_xla::dist::{Launcher, PeerDeath, ProcessSet, Store, StoreOptions};
use std::thread;
use std::time::Duration;

/// A free loopback port (bound, then released for the coordinator to take).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Process `id` of `n` with its coordinator on loopback `port`.
pub fn set(id: usize, n: usize, port: u16) -> ProcessSet {
    ProcessSet {
        process_id: id,
        num_processes: n,
        coordinator: Some(format!("127.0.0.1:{port}")),
        launcher: Launcher::Explicit,
    }
}

/// Short timeouts; a dead peer is reported, not an exit.
pub fn quick() -> StoreOptions {
    StoreOptions {
        connect_timeout: Duration::from_secs(10),
        heartbeat: Duration::from_millis(100),
        peer_timeout: Duration::from_secs(5),
        shutdown_timeout: Duration::from_secs(10),
        on_peer_death: PeerDeath::Report,
    }
}

/// `n` connected stores of one job, process 0 first.
pub fn job(n: usize, options: &StoreOptions) -> Vec<Store> {
    let port = free_port();
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let o = options.clone();
            thread::spawn(move || Store::connect(&set(i, n, port), &o))
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().unwrap().unwrap())
        .collect()
}
