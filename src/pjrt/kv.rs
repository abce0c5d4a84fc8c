//! The key-value store of a multi-process client, as the plugin sees it: the
//! [`KeyValueStore`] trait (implemented by [`crate::dist::Store`]) and the three C callbacks
//! of `PJRT_Client_Create_Args` (`kv_get_callback`, `kv_try_get_callback`, `kv_put_callback`)
//! that wrap it.
//!
//! The callbacks are thread-safe (the store is), binary-safe (keys and values are byte
//! strings with their sizes: the CUDA plugin stores topology protos), never unwind into the
//! plugin, read no `struct_size` (the plugin leaves it unset) and report errors through the
//! plugin's `callback_error`. A value handed to the plugin is freed by the deleter we return
//! with it. The store lives as long as the client (NCCL ids are exchanged at the first run of
//! each collective, long after creation).

use super::sys::{self, PJRT_Error};
use crate::error::{Error, ErrorCode, Result};
use std::ffi::{c_char, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

/// A store shared by the processes of a job (`Any`, so that its owner can find its own type
/// again behind a client: [`crate::dist::store_of`]).
pub trait KeyValueStore: std::any::Any + Send + Sync {
    /// The value of `key`, waiting up to `timeout` (a `DEADLINE_EXCEEDED`
    /// [`Error::Distributed`] after that).
    fn get(&self, key: &[u8], timeout: Duration) -> Result<Vec<u8>>;
    /// The value of `key`, or `None` at once.
    fn try_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Stores `value` under `key`.
    fn put(&self, key: &[u8], value: &[u8]) -> Result<()>;
    /// Waits until every process is done with its client (called before the client is
    /// destroyed).
    fn shutdown(&self) -> Result<()>;
}

/// How a client of a multi-process job is created: this process's node id, the number of
/// nodes (processes) and the store they share, which the client keeps alive and passes
/// through the shutdown barrier before it is destroyed.
#[derive(Clone)]
pub struct Distributed {
    /// This process's id, `0..num_nodes`.
    pub node_id: usize,
    /// How many processes the job has.
    pub num_nodes: usize,
    /// The store the processes share.
    pub store: Arc<dyn KeyValueStore>,
    /// Whether the plugin gets the `node_id` and `num_nodes` create options and the
    /// key-value callbacks (the CUDA plugin needs them; libtpu finds its peers from the TPU
    /// environment and gets neither).
    pub tell_plugin: bool,
}

impl std::fmt::Debug for Distributed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Distributed")
            .field("node_id", &self.node_id)
            .field("num_nodes", &self.num_nodes)
            .field("tell_plugin", &self.tell_plugin)
            .finish_non_exhaustive()
    }
}

/// Keys the plugin uses are kept apart from sbgm-xla's own.
const PREFIX: &[u8] = b"pjrt/";

/// What the callbacks' `user_arg` points to: a store, owned by the client and freed only
/// after the client is destroyed.
pub struct Bridge {
    store: Arc<dyn KeyValueStore>,
}

impl Bridge {
    /// A bridge to `store`, boxed so that its address stays put.
    pub fn new(store: Arc<dyn KeyValueStore>) -> Box<Bridge> {
        Box::new(Bridge { store })
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn KeyValueStore> {
        &self.store
    }

    /// The `user_arg` of the three callbacks: this bridge, which must outlive every call.
    pub fn user_arg(&self) -> *mut c_void {
        self as *const Bridge as *mut c_void
    }

    /// Sets the three callbacks and their `user_arg` (this bridge, which must outlive the
    /// client).
    pub(crate) fn install(&self, a: &mut sys::PJRT_Client_Create_Args) {
        let arg = self.user_arg();
        a.kv_get_callback = Some(kv_get);
        a.kv_get_user_arg = arg;
        a.kv_try_get_callback = Some(kv_try_get);
        a.kv_try_get_user_arg = arg;
        a.kv_put_callback = Some(kv_put);
        a.kv_put_user_arg = arg;
    }
}

fn prefixed(key: &[u8]) -> Vec<u8> {
    [PREFIX, key].concat()
}

/// Bytes the plugin gives as (pointer, size).
///
/// # Safety
/// `ptr` points to `len` readable bytes, or `len` is 0.
unsafe fn bytes<'a>(ptr: *const c_char, len: usize) -> &'a [u8] {
    if ptr.is_null() || len == 0 {
        return &[];
    }
    // SAFETY: the caller's contract.
    unsafe { std::slice::from_raw_parts(ptr.cast(), len) }
}

/// The size header in front of every value we hand out (the deleter gets only the pointer).
const HEADER: usize = size_of::<usize>();

/// A copy of `v` the plugin may read, freed by [`delete_value`].
fn alloc_value(v: &[u8]) -> *mut c_char {
    let mut b = Vec::with_capacity(HEADER + v.len());
    b.extend_from_slice(&v.len().to_ne_bytes());
    b.extend_from_slice(v);
    let raw = Box::into_raw(b.into_boxed_slice()) as *mut u8;
    // SAFETY: the allocation is HEADER + len bytes long.
    unsafe { raw.add(HEADER).cast() }
}

/// The value deleter handed to the plugin with every value.
///
/// # Safety
/// `value` was returned by one of the get callbacks and not freed before.
pub unsafe extern "C" fn delete_value(value: *mut c_char) {
    if value.is_null() {
        return;
    }
    // SAFETY: `alloc_value` put the length HEADER bytes before `value`, in the same boxed
    // slice of HEADER + len bytes, which we rebuild and drop exactly once.
    unsafe {
        let start = value.cast::<u8>().sub(HEADER);
        let len = usize::from_ne_bytes(*start.cast::<[u8; HEADER]>());
        let slice = std::ptr::slice_from_raw_parts_mut(start, HEADER + len);
        drop(Box::from_raw(slice));
    }
}

/// A value for the plugin: a copy, its size, and the deleter that frees it.
fn hand_out(v: &[u8]) -> (*mut c_char, usize, sys::PJRT_KeyValue_ValueDeleter) {
    (alloc_value(v), v.len(), Some(delete_value))
}

/// The `PJRT_Error` for `e`, made by the plugin's `callback_error`.
///
/// # Safety
/// `make` is null or points to the plugin's function pointer.
unsafe fn to_pjrt(make: *mut sys::PJRT_CallbackError, e: &Error) -> *mut PJRT_Error {
    let code = match e {
        Error::Distributed { code, .. } | Error::Pjrt { code, .. } => *code,
        _ => ErrorCode::Internal,
    };
    let msg = e.to_string();
    // SAFETY: the caller's contract; the plugin copies the message.
    match unsafe { make.as_ref() }.copied().flatten() {
        Some(f) => unsafe { f(code.to_raw(), msg.as_ptr().cast(), msg.len()) },
        None => {
            eprintln!(
                "sbgm-xla: error: key-value store: {msg} (the plugin gave no callback_error)"
            );
            std::ptr::null_mut()
        }
    }
}

/// Runs a callback body, turning a panic into an error: nothing unwinds into the plugin.
fn guarded(f: impl FnOnce() -> Result<()>) -> Result<()> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(Error::distributed(
            ErrorCode::Internal,
            "the key-value store callback panicked",
        ))
    })
}

/// `kv_get_callback`: blocks until the key is there (`timeout_in_ms`; a negative timeout
/// waits a day).
///
/// # Safety
/// `args` is a `PJRT_KeyValueGetCallback_Args` the plugin filled (`struct_size` may be
/// unset), with `user_arg` a live [`Bridge`].
pub unsafe extern "C" fn kv_get(args: *mut c_void) -> *mut PJRT_Error {
    let a = args.cast::<sys::PJRT_KeyValueGetCallback_Args>();
    // SAFETY: the caller's contract; only the fields of the 0.81 layout are touched.
    unsafe {
        let bridge = &*(*a).user_arg.cast::<Bridge>();
        let key = prefixed(bytes((*a).key, (*a).key_size));
        let ms = (*a).timeout_in_ms;
        let timeout = if ms < 0 {
            Duration::from_secs(86_400)
        } else {
            Duration::from_millis(ms as u64)
        };
        let r = guarded(|| {
            let v = bridge.store.get(&key, timeout)?;
            ((*a).value, (*a).value_size, (*a).value_deleter_callback) = hand_out(&v);
            Ok(())
        });
        r.err()
            .map_or(std::ptr::null_mut(), |e| to_pjrt((*a).callback_error, &e))
    }
}

/// `kv_try_get_callback`: the value, or a `NOT_FOUND` error at once.
///
/// # Safety
/// As [`kv_get`], with `PJRT_KeyValueTryGetCallback_Args`.
pub unsafe extern "C" fn kv_try_get(args: *mut c_void) -> *mut PJRT_Error {
    let a = args.cast::<sys::PJRT_KeyValueTryGetCallback_Args>();
    // SAFETY: as in `kv_get`.
    unsafe {
        let bridge = &*(*a).user_arg.cast::<Bridge>();
        let raw_key = bytes((*a).key, (*a).key_size);
        let r = guarded(|| match bridge.store.try_get(&prefixed(raw_key))? {
            Some(v) => {
                ((*a).value, (*a).value_size, (*a).value_deleter_callback) = hand_out(&v);
                Ok(())
            }
            None => Err(Error::distributed(
                ErrorCode::NotFound,
                format!(
                    "the key {:?} is not in the key-value store",
                    String::from_utf8_lossy(raw_key)
                ),
            )),
        });
        r.err()
            .map_or(std::ptr::null_mut(), |e| to_pjrt((*a).callback_error, &e))
    }
}

/// `kv_put_callback`: stores a copy of the value.
///
/// # Safety
/// As [`kv_get`], with `PJRT_KeyValuePutCallback_Args`.
pub unsafe extern "C" fn kv_put(args: *mut c_void) -> *mut PJRT_Error {
    let a = args.cast::<sys::PJRT_KeyValuePutCallback_Args>();
    // SAFETY: as in `kv_get`; the value is copied before the call returns.
    unsafe {
        let bridge = &*(*a).user_arg.cast::<Bridge>();
        let key = prefixed(bytes((*a).key, (*a).key_size));
        let value = bytes((*a).value, (*a).value_size);
        let r = guarded(|| bridge.store.put(&key, value));
        r.err()
            .map_or(std::ptr::null_mut(), |e| to_pjrt((*a).callback_error, &e))
    }
}
