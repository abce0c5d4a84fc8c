//! The PJRT key-value callbacks (`sbgm_xla::pjrt::kv`) called the way the CUDA plugin calls
//! them: argument structs whose `struct_size` is left unset (here: garbage), keys and values
//! with NUL bytes, values freed through the deleter we hand back, errors made by the plugin's
//! `callback_error`, and many threads at once.

use sbgm_xla::dist::{ProcessSet, Store, StoreOptions};
use sbgm_xla::error::ErrorCode;
use sbgm_xla::pjrt::kv::{self, Bridge};
use sbgm_xla::pjrt::sys::{
    PJRT_CallbackError, PJRT_Error, PJRT_Error_Code, PJRT_KeyValueGetCallback_Args,
    PJRT_KeyValuePutCallback_Args, PJRT_KeyValueTryGetCallback_Args,
};
use std::ffi::{c_char, c_void};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What our stand-in for the plugin's `PJRT_Error` holds.
struct FakeError {
    code: PJRT_Error_Code,
    message: String,
}

/// The plugin's `callback_error`: copies the message into a new error.
unsafe extern "C" fn make_error(
    code: PJRT_Error_Code,
    message: *const c_char,
    size: usize,
) -> *mut PJRT_Error {
    // SAFETY: the callback passes `size` readable bytes.
    let bytes = unsafe { std::slice::from_raw_parts(message.cast::<u8>(), size) };
    let e = FakeError {
        code,
        message: String::from_utf8_lossy(bytes).into_owned(),
    };
    Box::into_raw(Box::new(e)).cast()
}

static CALLBACK_ERROR: PJRT_CallbackError = Some(make_error);

/// The error a callback returned (`None` for success), taken back from its box.
fn take(e: *mut PJRT_Error) -> Option<(ErrorCode, String)> {
    if e.is_null() {
        return None;
    }
    // SAFETY: every non-null error comes from `make_error`.
    let e = unsafe { Box::from_raw(e.cast::<FakeError>()) };
    Some((ErrorCode::from_raw(e.code), e.message))
}

/// A struct as the plugin leaves it before filling the fields it sets: garbage everywhere.
fn garbage<T>() -> T {
    let mut m = std::mem::MaybeUninit::<T>::uninit();
    // SAFETY: every field of these structs is an integer, a raw pointer or an optional
    // function pointer, for which any non-zero bit pattern is a valid value.
    unsafe {
        std::ptr::write_bytes(m.as_mut_ptr().cast::<u8>(), 0xAB, size_of::<T>());
        m.assume_init()
    }
}

fn put(bridge: &Bridge, key: &[u8], value: &[u8]) -> Option<(ErrorCode, String)> {
    let mut a: PJRT_KeyValuePutCallback_Args = garbage();
    a.extension_start = std::ptr::null_mut();
    a.key = key.as_ptr().cast();
    a.key_size = key.len();
    a.value = value.as_ptr().cast();
    a.value_size = value.len();
    a.callback_error = &CALLBACK_ERROR as *const _ as *mut _;
    a.user_arg = bridge.user_arg();
    // SAFETY: the arguments are filled as the plugin fills them.
    take(unsafe { kv::kv_put((&mut a as *mut PJRT_KeyValuePutCallback_Args).cast::<c_void>()) })
}

/// A get's error, or its value: copied, then freed with the returned deleter, as the plugin
/// does.
fn answer(
    e: *mut PJRT_Error,
    value: *mut c_char,
    size: usize,
    deleter: Option<unsafe extern "C" fn(*mut c_char)>,
) -> Result<Vec<u8>, (ErrorCode, String)> {
    if let Some(err) = take(e) {
        return Err(err);
    }
    // SAFETY: the callback returned `size` bytes at `value`, freed by `deleter`.
    unsafe {
        let v = std::slice::from_raw_parts(value.cast::<u8>(), size).to_vec();
        (deleter.expect("a value deleter"))(value);
        Ok(v)
    }
}

fn get(bridge: &Bridge, key: &[u8], timeout_ms: i32) -> Result<Vec<u8>, (ErrorCode, String)> {
    let mut a: PJRT_KeyValueGetCallback_Args = garbage();
    a.extension_start = std::ptr::null_mut();
    a.key = key.as_ptr().cast();
    a.key_size = key.len();
    a.timeout_in_ms = timeout_ms;
    a.callback_error = &CALLBACK_ERROR as *const _ as *mut _;
    a.user_arg = bridge.user_arg();
    // SAFETY: as in `put`.
    let e = unsafe { kv::kv_get((&mut a as *mut PJRT_KeyValueGetCallback_Args).cast::<c_void>()) };
    answer(e, a.value, a.value_size, a.value_deleter_callback)
}

fn try_get(bridge: &Bridge, key: &[u8]) -> Result<Vec<u8>, (ErrorCode, String)> {
    let mut a: PJRT_KeyValueTryGetCallback_Args = garbage();
    a.extension_start = std::ptr::null_mut();
    a.key = key.as_ptr().cast();
    a.key_size = key.len();
    a.callback_error = &CALLBACK_ERROR as *const _ as *mut _;
    a.user_arg = bridge.user_arg();
    // SAFETY: as in `put`.
    let e = unsafe {
        kv::kv_try_get((&mut a as *mut PJRT_KeyValueTryGetCallback_Args).cast::<c_void>())
    };
    answer(e, a.value, a.value_size, a.value_deleter_callback)
}

fn bridge() -> (Arc<Store>, Box<Bridge>) {
    let store = Arc::new(Store::connect(&ProcessSet::single(), &StoreOptions::default()).unwrap());
    let b = Bridge::new(store.clone());
    (store, b)
}

#[test]
fn callbacks_store_binary_values_and_report_errors_through_callback_error() {
    let (store, b) = bridge();
    // A topology proto is bytes, NULs included; so may a key be.
    let proto = [0x0a, 0x00, 0x12, 0x03, 0x00, 0xff, 0x00];
    assert_eq!(put(&b, b"local_topology/cuda/0", &proto), None);
    assert_eq!(get(&b, b"local_topology/cuda/0", 1000).unwrap(), proto);
    assert_eq!(try_get(&b, b"local_topology/cuda/0").unwrap(), proto);
    assert_eq!(put(&b, b"a\0b", b""), None);
    assert_eq!(get(&b, b"a\0b", 1000).unwrap(), b"");
    assert!(
        try_get(&b, b"a").is_err(),
        "a key ends at its size, not at a NUL"
    );
    // The plugin's keys live apart from sbgm-xla's own.
    assert_eq!(
        store
            .try_get(b"pjrt/local_topology/cuda/0")
            .unwrap()
            .unwrap(),
        proto
    );
    assert_eq!(store.try_get(b"local_topology/cuda/0").unwrap(), None);

    let (code, msg) = try_get(&b, b"global_topology/cuda").unwrap_err();
    assert_eq!(code, ErrorCode::NotFound);
    assert!(msg.contains("global_topology/cuda"), "{msg}");
    let t = Instant::now();
    let (code, msg) = get(&b, b"nccl_unique_id/1", 200).unwrap_err();
    assert_eq!(code, ErrorCode::DeadlineExceeded, "{msg}");
    assert!(t.elapsed() >= Duration::from_millis(200) && t.elapsed() < Duration::from_secs(5));
    let (code, _) = put(&b, b"a\0b", b"again").unwrap();
    assert_eq!(code, ErrorCode::AlreadyExists);
}

#[test]
fn callbacks_are_thread_safe_and_a_get_waits_for_a_later_put() {
    let (_store, b) = bridge();
    let b: &Bridge = &b;
    std::thread::scope(|s| {
        // Readers start first and block until the writers' keys appear.
        let readers: Vec<_> = (0..8u8)
            .map(|i| s.spawn(move || get(b, &[b'k', 0, i], 10_000)))
            .collect();
        std::thread::sleep(Duration::from_millis(100));
        for i in 0..8u8 {
            s.spawn(move || assert_eq!(put(b, &[b'k', 0, i], &vec![i; 1000 + i as usize]), None));
        }
        for (i, r) in readers.into_iter().enumerate() {
            assert_eq!(r.join().unwrap().unwrap(), vec![i as u8; 1000 + i]);
        }
    });
}
