//! [`Store`]: one process's handle on the job's key-value store (process 0 also serves it):
//! set (refused when the key exists), blocking get with a timeout, try-get, barriers and
//! all-gathers, and the dead-peer signal that makes every process stop when one dies.

use super::discovery::ProcessSet;
use super::server::Server;
use super::wire::{self, Msg};
use crate::error::{Error, ErrorCode, Result};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// What a process does when the coordinator reports a dead peer (or itself goes away).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerDeath {
    /// Print the message and exit with status 1 (after a short grace in which the main thread
    /// may fail with the same message itself): a process blocked inside XLA never hangs.
    Exit,
    /// Only report it: every later store call fails with the message.
    Report,
}

/// Timeouts and behaviour of a [`Store`].
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// How long a process keeps trying to reach the coordinator, and how long every process
    /// waits for all the others to connect.
    pub connect_timeout: Duration,
    /// How often a process tells the coordinator it is alive.
    pub heartbeat: Duration,
    /// Silence after which the coordinator counts a process as dead.
    pub peer_timeout: Duration,
    /// How long the shutdown barrier waits for the other processes.
    pub shutdown_timeout: Duration,
    /// What to do when a peer dies.
    pub on_peer_death: PeerDeath,
}

/// The variable that sets [`StoreOptions::connect_timeout`] in seconds.
pub const ENV_CONNECT_TIMEOUT: &str = "SBGM_XLA_CONNECT_TIMEOUT";

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            connect_timeout: Duration::from_secs(300),
            heartbeat: Duration::from_secs(2),
            peer_timeout: Duration::from_secs(60),
            shutdown_timeout: Duration::from_secs(600),
            on_peer_death: PeerDeath::Exit,
        }
    }
}

impl StoreOptions {
    /// The defaults, with the connect window from `SBGM_XLA_CONNECT_TIMEOUT` (seconds) if set.
    pub fn from_env() -> Result<StoreOptions> {
        let mut o = StoreOptions::default();
        if let Ok(v) = std::env::var(ENV_CONNECT_TIMEOUT) {
            let s: f64 = v
                .trim()
                .parse()
                .ok()
                .filter(|s: &f64| *s > 0.0 && s.is_finite())
                .ok_or_else(|| {
                    Error::distributed(
                        ErrorCode::InvalidArgument,
                        format!("{ENV_CONNECT_TIMEOUT}={v:?} is not a positive number of seconds"),
                    )
                })?;
            o.connect_timeout = Duration::from_secs_f64(s);
        }
        Ok(o)
    }
}

/// The state the reader thread shares with the callers.
struct Shared {
    /// The first fatal message (a peer died, the coordinator went away).
    death: Mutex<Option<String>>,
    /// Set when this process leaves on purpose: a closing connection is then not a death.
    closing: AtomicBool,
}

impl Shared {
    fn death(&self) -> Option<String> {
        self.death.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn die(&self, message: String, policy: PeerDeath) {
        let mut d = self.death.lock().unwrap_or_else(|p| p.into_inner());
        if d.is_some() || self.closing.load(Ordering::SeqCst) {
            return;
        }
        *d = Some(message.clone());
        if policy == PeerDeath::Exit {
            let _ = thread::Builder::new()
                .name("sbgm-kv-exit".into())
                .spawn(move || {
                    thread::sleep(Duration::from_secs(2));
                    eprintln!("error: {message}");
                    std::process::exit(1);
                });
        }
    }
}

/// The socket's writing side, shared with the heartbeat thread (one whole frame at a time).
type Writer = Arc<Mutex<TcpStream>>;

fn send(writer: &Writer, msg: &Msg) -> std::io::Result<()> {
    let mut w = writer.lock().unwrap_or_else(|p| p.into_inner());
    wire::send(&mut *w, msg)
}

/// One process's connection to the job's key-value store. Thread-safe; values are bytes.
pub struct Store {
    process_id: usize,
    num_processes: usize,
    coordinator: String,
    options: StoreOptions,
    writer: Writer,
    /// The answers, in order; held for a request and its answer.
    replies: Mutex<Receiver<Msg>>,
    shared: Arc<Shared>,
    shut_down: AtomicBool,
    /// Process 0 serves the store; dropped last.
    server: Option<Server>,
}

fn err(code: ErrorCode, msg: String) -> Error {
    Error::distributed(code, msg)
}

fn key_text(key: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(key))
}

impl Store {
    /// Joins the job's store: process 0 starts serving it on the coordinator's port, the others
    /// connect (retrying for `connect_timeout`); then every process waits until all have
    /// connected. A one-process set needs no coordinator: process 0 serves on a free loopback
    /// port.
    pub fn connect(set: &ProcessSet, options: &StoreOptions) -> Result<Store> {
        let coordinator = set
            .coordinator
            .clone()
            .unwrap_or_else(|| "127.0.0.1:0".into());
        let server = if set.process_id == 0 {
            Some(Server::start(
                &bind_address(&coordinator),
                set.num_processes,
                options.peer_timeout,
            )?)
        } else {
            None
        };
        let stream = match &server {
            Some(s) => {
                let mut local = s.local_addr();
                if local.ip().is_unspecified() {
                    local.set_ip(match local {
                        std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                        std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
                    });
                }
                TcpStream::connect(local).map_err(|e| {
                    err(
                        ErrorCode::Unavailable,
                        format!("process 0 cannot reach its own key-value store: {e}"),
                    )
                })?
            }
            None => reach(&coordinator, options.connect_timeout)?,
        };
        let store = Store::handshake(set, coordinator, options, stream, server)?;
        store.barrier("sbgm-xla/connect", options.connect_timeout)?;
        Ok(store)
    }

    fn handshake(
        set: &ProcessSet,
        coordinator: String,
        options: &StoreOptions,
        stream: TcpStream,
        server: Option<Server>,
    ) -> Result<Store> {
        let io = |e: std::io::Error| {
            err(
                ErrorCode::Unavailable,
                format!("talking to the coordinator at {coordinator}: {e}"),
            )
        };
        let _ = stream.set_nodelay(true);
        let mut reader = stream.try_clone().map_err(io)?;
        reader
            .set_read_timeout(Some(options.connect_timeout))
            .map_err(io)?;
        let mut writer = stream.try_clone().map_err(io)?;
        wire::send(
            &mut writer,
            &Msg::Hello {
                process_id: set.process_id as u32,
                num_processes: set.num_processes as u32,
            },
        )
        .map_err(io)?;
        match wire::recv(&mut reader).map_err(io)? {
            Msg::Ok => {}
            Msg::Refused { code, message } => {
                return Err(err(ErrorCode::from_raw(code as i32), message));
            }
            other => return Err(io(std::io::Error::other(format!("unexpected {other:?}")))),
        }
        reader.set_read_timeout(None).map_err(io)?;
        let shared = Arc::new(Shared {
            death: Mutex::new(None),
            closing: AtomicBool::new(false),
        });
        let (tx, rx) = mpsc::channel();
        let (s, policy, coord) = (shared.clone(), options.on_peer_death, coordinator.clone());
        let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
            thread::Builder::new()
                .name(name.into())
                .spawn(f)
                .map_err(|e| Error::msg(format!("starting the key-value store client: {e}")))
        };
        spawn(
            "sbgm-kv-read",
            Box::new(move || {
                loop {
                    match wire::recv(&mut reader) {
                        Ok(Msg::PeerDied { reason, .. }) => s.die(reason, policy),
                        Ok(m) => {
                            if tx.send(m).is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            let msg = format!(
                                "lost the connection to the coordinator (process 0 at {coord}): {e}; \
                                 process 0 died or the network failed (look for process 0's own error first)"
                            );
                            s.die(msg, policy);
                            return;
                        }
                    }
                }
            }),
        )?;
        let writer: Writer = Arc::new(Mutex::new(stream));
        let (s, every, pinger) = (shared.clone(), options.heartbeat, writer.clone());
        spawn(
            "sbgm-kv-ping",
            Box::new(move || {
                while !s.closing.load(Ordering::SeqCst) && s.death().is_none() {
                    thread::sleep(every);
                    if send(&pinger, &Msg::Ping).is_err() {
                        return;
                    }
                }
            }),
        )?;
        Ok(Store {
            process_id: set.process_id,
            num_processes: set.num_processes,
            coordinator,
            options: options.clone(),
            writer,
            replies: Mutex::new(rx),
            shared,
            shut_down: AtomicBool::new(false),
            server,
        })
    }

    /// This process's id.
    pub fn process_id(&self) -> usize {
        self.process_id
    }

    /// How many processes share the store.
    pub fn num_processes(&self) -> usize {
        self.num_processes
    }

    /// The message of the first dead peer (or of the lost coordinator), if any.
    pub fn dead_peer(&self) -> Option<String> {
        self.shared.death()
    }

    /// One request and its answer.
    fn request(&self, msg: &Msg) -> Result<Msg> {
        if let Some(d) = self.shared.death() {
            return Err(err(ErrorCode::Aborted, d));
        }
        let replies = self.replies.lock().unwrap_or_else(|p| p.into_inner());
        let lost = |why: String| {
            let d = self.shared.death().unwrap_or(format!(
                "lost the connection to the coordinator (process 0 at {}): {why}",
                self.coordinator
            ));
            err(ErrorCode::Aborted, d)
        };
        send(&self.writer, msg).map_err(|e| lost(e.to_string()))?;
        match replies.recv_timeout(self.options.peer_timeout) {
            Ok(Msg::Refused { code, message }) => {
                Err(err(ErrorCode::from_raw(code as i32), message))
            }
            Ok(m) => Ok(m),
            Err(RecvTimeoutError::Timeout) => {
                let e = lost(format!(
                    "no answer within {} s",
                    self.options.peer_timeout.as_secs_f64()
                ));
                // A late answer would be taken for the next request's: this connection is done.
                self.shared.die(e.to_string(), self.options.on_peer_death);
                Err(e)
            }
            Err(RecvTimeoutError::Disconnected) => Err(lost("the connection closed".into())),
        }
    }

    /// Stores `value` under `key`; a key that already exists is refused (`ALREADY_EXISTS`).
    pub fn set(&self, key: &[u8], value: &[u8]) -> Result<()> {
        match self.request(&Msg::Set {
            key: key.to_vec(),
            value: value.to_vec(),
        })? {
            Msg::Ok => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    /// The value of `key`, or `None` at once when it is not there.
    pub fn try_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.request(&Msg::TryGet { key: key.to_vec() })? {
            Msg::Value(v) => Ok(Some(v)),
            Msg::NotFound => Ok(None),
            other => Err(unexpected(&other)),
        }
    }

    /// The value of `key`, waiting up to `timeout` for some process to set it
    /// (`DEADLINE_EXCEEDED` after that; `ABORTED` as soon as a peer dies).
    pub fn get(&self, key: &[u8], timeout: Duration) -> Result<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_millis(1);
        loop {
            if let Some(v) = self.try_get(key)? {
                return Ok(v);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(err(
                    ErrorCode::DeadlineExceeded,
                    format!(
                        "process {} waited {} s for the key {} in the key-value store: another \
                         process fell behind or stopped",
                        self.process_id,
                        timeout.as_secs_f64(),
                        key_text(key)
                    ),
                ));
            }
            thread::sleep(pause.min(deadline - now));
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }

    /// Every process's `value` for the round `name`, in process order (each process calls it
    /// once per name with its own value).
    pub fn all_gather(&self, name: &str, value: &[u8], timeout: Duration) -> Result<Vec<Vec<u8>>> {
        let key = |p: usize| format!("sbgm-xla/gather/{name}/{p}").into_bytes();
        self.set(&key(self.process_id), value)?;
        let deadline = Instant::now() + timeout;
        let mut out = Vec::with_capacity(self.num_processes);
        for p in 0..self.num_processes {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.get(&key(p), left) {
                Ok(v) => out.push(v),
                Err(Error::Distributed {
                    code: ErrorCode::DeadlineExceeded,
                    ..
                }) => {
                    let missing = self.missing(p, &key)?;
                    return Err(err(
                        ErrorCode::DeadlineExceeded,
                        format!(
                            "{name}: process {} waited {} s, but {} of {} did not arrive: they \
                             fell behind, stopped, or were never started (each needs the same \
                             --coordinator and --num-processes)",
                            self.process_id,
                            timeout.as_secs_f64(),
                            missing,
                            self.num_processes
                        ),
                    ));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// `processes 1, 3` (or `process 1`): those from `from` on without a key.
    fn missing(&self, from: usize, key: &dyn Fn(usize) -> Vec<u8>) -> Result<String> {
        let mut ids = Vec::new();
        for p in from..self.num_processes {
            if self.try_get(&key(p))?.is_none() {
                ids.push(p.to_string());
            }
        }
        let s = if ids.len() == 1 { "" } else { "es" };
        Ok(format!("process{s} {}", ids.join(", ")))
    }

    /// Waits until every process has reached the barrier `name` (each name once).
    pub fn barrier(&self, name: &str, timeout: Duration) -> Result<()> {
        self.all_gather(name, &[], timeout).map(|_| ())
    }

    /// The shutdown barrier, then a clean goodbye (process 0 waits for the others' goodbyes
    /// before its server stops). Later calls do nothing.
    pub fn shutdown(&self) -> Result<()> {
        if self.shut_down.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let passed = self.barrier("sbgm-xla/shutdown", self.options.shutdown_timeout);
        self.shared.closing.store(true, Ordering::SeqCst);
        if let Some(server) = &self.server {
            server.wait_for_goodbyes(Duration::from_secs(10));
        }
        let _ = send(&self.writer, &Msg::Bye);
        self.close();
        passed
    }

    fn close(&self) {
        let w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let _ = w.shutdown(Shutdown::Both);
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        // Without the shutdown barrier, leaving is a failure the others must hear about: the
        // connection closes without a goodbye.
        self.shared.closing.store(true, Ordering::SeqCst);
        self.close();
    }
}

fn unexpected(m: &Msg) -> Error {
    err(
        ErrorCode::Internal,
        format!("the key-value store answered {m:?}"),
    )
}

/// Where process 0 listens: the coordinator's port on every interface, or on loopback when
/// the coordinator is a loopback address.
fn bind_address(coordinator: &str) -> String {
    let (host, port) = coordinator.rsplit_once(':').unwrap_or((coordinator, "0"));
    match host {
        "127.0.0.1" | "localhost" => format!("127.0.0.1:{port}"),
        "[::1]" => format!("[::1]:{port}"),
        h if h.starts_with('[') => format!("[::]:{port}"),
        _ => format!("0.0.0.0:{port}"),
    }
}

/// Connects to the coordinator, retrying until `window` has passed.
fn reach(coordinator: &str, window: Duration) -> Result<TcpStream> {
    let deadline = Instant::now() + window;
    let mut last = String::from("no address");
    loop {
        match coordinator.to_socket_addrs() {
            Ok(addrs) => {
                for a in addrs {
                    match TcpStream::connect_timeout(&a, Duration::from_secs(2)) {
                        Ok(s) => return Ok(s),
                        Err(e) => last = e.to_string(),
                    }
                }
            }
            Err(e) => last = format!("cannot resolve the host: {e}"),
        }
        if Instant::now() >= deadline {
            return Err(err(
                ErrorCode::Unavailable,
                format!(
                    "cannot reach the coordinator at {coordinator} (process 0's key-value \
                     store) within {} s: {last}; start process 0 with the same --coordinator, \
                     check the host and port and that no firewall blocks it \
                     ({ENV_CONNECT_TIMEOUT} sets the window in seconds)",
                    window.as_secs_f64()
                ),
            ));
        }
        thread::sleep(Duration::from_millis(100));
    }
}

impl crate::pjrt::KeyValueStore for Store {
    fn get(&self, key: &[u8], timeout: Duration) -> Result<Vec<u8>> {
        Store::get(self, key, timeout)
    }

    fn try_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Store::try_get(self, key)
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.set(key, value)
    }

    fn shutdown(&self) -> Result<()> {
        Store::shutdown(self)
    }
}
