//! The coordinator's side of the key-value store: process 0 serves it on a TCP port, one
//! thread per connected process. It refuses a process whose process count differs from its
//! own or whose id is taken, and when a process's connection drops (or goes silent) without a
//! clean goodbye it tells every other process which one died.

use super::wire::{self, Msg};
use crate::error::{Error, ErrorCode, Result};
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

/// The `PJRT_Error_Code` numbers the store answers with.
pub(crate) mod code {
    pub const INVALID_ARGUMENT: u32 = 3;
    pub const ALREADY_EXISTS: u32 = 6;
    pub const ABORTED: u32 = 10;
}

/// A process's state as the coordinator sees it.
enum Peer {
    /// Not connected yet.
    Waiting,
    /// Connected: the stream the coordinator writes to.
    Connected(Arc<Mutex<TcpStream>>),
    /// Said goodbye.
    Left,
    /// Dropped or went silent (the first death is [`State::death`]).
    Dead,
}

struct State {
    values: HashMap<Vec<u8>, Vec<u8>>,
    peers: Vec<Peer>,
    /// The first death, refused to every later request.
    death: Option<String>,
}

struct Shared {
    num_processes: usize,
    peer_timeout: Duration,
    stop: AtomicBool,
    state: Mutex<State>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running key-value store server (process 0). Stops when dropped.
pub struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Server {
    /// Serves a store for `num_processes` processes on `bind` (`0.0.0.0:PORT`, `127.0.0.1:0`,
    /// ...); a connection that sends nothing for `peer_timeout` counts as dead.
    pub fn start(bind: &str, num_processes: usize, peer_timeout: Duration) -> Result<Server> {
        let listener = TcpListener::bind(bind).map_err(|e| {
            Error::distributed(
                ErrorCode::Unavailable,
                format!(
                    "process 0 cannot serve the key-value store on {bind}: {e}; another program \
                     may use the port: pick another --coordinator HOST:PORT for every process"
                ),
            )
        })?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::msg(format!("the key-value store's address: {e}")))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| Error::msg(format!("the key-value store's listener: {e}")))?;
        let shared = Arc::new(Shared {
            num_processes,
            peer_timeout,
            stop: AtomicBool::new(false),
            state: Mutex::new(State {
                values: HashMap::new(),
                peers: (0..num_processes).map(|_| Peer::Waiting).collect(),
                death: None,
            }),
        });
        let s = shared.clone();
        thread::Builder::new()
            .name("sbgm-kv-accept".into())
            .spawn(move || accept_loop(listener, s))
            .map_err(|e| Error::msg(format!("starting the key-value store: {e}")))?;
        Ok(Server { addr, shared })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Waits up to `timeout` until every process but process 0 has left or died.
    pub fn wait_for_goodbyes(&self, timeout: Duration) {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            let st = self.shared.lock();
            let pending = st.peers[1..]
                .iter()
                .any(|p| matches!(p, Peer::Connected(_)));
            drop(st);
            if !pending {
                return;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        for p in &self.shared.lock().peers {
            if let Peer::Connected(w) = p {
                let w = w.lock().unwrap_or_else(|p| p.into_inner());
                let _ = w.shutdown(std::net::Shutdown::Both);
            }
        }
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    while !shared.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let s = shared.clone();
                let _ = thread::Builder::new()
                    .name("sbgm-kv-conn".into())
                    .spawn(move || serve(stream, s));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(10));
            }
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// Checks a newcomer's hello; registers it and returns its id, or the refusal to send.
fn admit(shared: &Shared, msg: Msg, writer: &Arc<Mutex<TcpStream>>) -> Result<usize, Msg> {
    let refuse = |code, message: String| Msg::Refused { code, message };
    let Msg::Hello {
        process_id,
        num_processes,
    } = msg
    else {
        return Err(refuse(
            code::INVALID_ARGUMENT,
            "the first message must be a hello".into(),
        ));
    };
    let (id, n, want) = (
        process_id as usize,
        num_processes as usize,
        shared.num_processes,
    );
    if n != want {
        return Err(refuse(
            code::INVALID_ARGUMENT,
            format!(
                "process {id} was started with --num-processes {n}, but the coordinator (process 0) \
                 with {want}: start every process with the same number of processes"
            ),
        ));
    }
    if id >= want {
        return Err(refuse(
            code::INVALID_ARGUMENT,
            format!(
                "process id {id} is out of range for {want} processes: use 0 to {}",
                want - 1
            ),
        ));
    }
    let mut st = shared.lock();
    if let Some(d) = &st.death {
        return Err(refuse(code::ABORTED, d.clone()));
    }
    if !matches!(st.peers[id], Peer::Waiting) {
        return Err(refuse(
            code::ALREADY_EXISTS,
            format!(
                "two processes claim process id {id}: give every process its own --process-id \
                 (0 to {}), the same --num-processes and --coordinator",
                want - 1
            ),
        ));
    }
    st.peers[id] = Peer::Connected(writer.clone());
    Ok(id)
}

fn serve(stream: TcpStream, shared: Arc<Shared>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(shared.peer_timeout));
    let _ = stream.set_nodelay(true);
    let Ok(w) = stream.try_clone() else { return };
    let writer = Arc::new(Mutex::new(w));
    let mut reader = stream;
    let reply = |m: &Msg| {
        let mut w = writer.lock().unwrap_or_else(|p| p.into_inner());
        wire::send(&mut *w, m)
    };
    let id = match wire::recv(&mut reader) {
        Ok(hello) => match admit(&shared, hello, &writer) {
            Ok(id) => id,
            Err(refusal) => {
                let _ = reply(&refusal);
                return;
            }
        },
        Err(_) => return,
    };
    if reply(&Msg::Ok).is_err() {
        mark_dead(&shared, id, "its connection failed at the start".into());
        return;
    }
    loop {
        let msg = match wire::recv(&mut reader) {
            Ok(m) => m,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                let why = format!(
                    "it sent nothing for {} s (hung, or the network between it and the coordinator failed)",
                    shared.peer_timeout.as_secs_f64()
                );
                mark_dead(&shared, id, why);
                return;
            }
            Err(e) => {
                if !shared.stop.load(Ordering::SeqCst) {
                    let why = format!(
                        "its connection to the coordinator closed without a goodbye ({e}): it \
                         exited with an error, crashed or was killed"
                    );
                    mark_dead(&shared, id, why);
                }
                return;
            }
        };
        let answer = match msg {
            Msg::Ping => continue,
            Msg::Bye => {
                shared.lock().peers[id] = Peer::Left;
                return;
            }
            request => answer(&shared, request),
        };
        if reply(&answer).is_err() {
            mark_dead(&shared, id, "writing to its connection failed".into());
            return;
        }
    }
}

/// The answer to a set or try-get.
fn answer(shared: &Shared, request: Msg) -> Msg {
    let mut st = shared.lock();
    if let Some(d) = &st.death {
        return Msg::Refused {
            code: code::ABORTED,
            message: d.clone(),
        };
    }
    match request {
        Msg::Set { key, value } => match st.values.entry(key) {
            Entry::Occupied(e) => Msg::Refused {
                code: code::ALREADY_EXISTS,
                message: format!(
                    "the key {:?} is already in the key-value store",
                    String::from_utf8_lossy(e.key())
                ),
            },
            Entry::Vacant(e) => {
                e.insert(value);
                Msg::Ok
            }
        },
        Msg::TryGet { key } => match st.values.get(&key) {
            Some(v) => Msg::Value(v.clone()),
            None => Msg::NotFound,
        },
        other => Msg::Refused {
            code: code::INVALID_ARGUMENT,
            message: format!("unexpected message {other:?}"),
        },
    }
}

/// Records that process `id` died and tells every other connected process.
fn mark_dead(shared: &Shared, id: usize, why: String) {
    let mut st = shared.lock();
    if !matches!(st.peers[id], Peer::Connected(_)) {
        return;
    }
    let reason = format!(
        "process {id} of {} died: {why}; this process stops too (look for process {id}'s own \
         error first)",
        shared.num_processes
    );
    st.peers[id] = Peer::Dead;
    st.death.get_or_insert_with(|| reason.clone());
    let event = Msg::PeerDied {
        process_id: id as u32,
        reason,
    };
    for p in &st.peers {
        if let Peer::Connected(w) = p {
            let mut w = w.lock().unwrap_or_else(|p| p.into_inner());
            let _ = wire::send(&mut *w, &event);
        }
    }
}
