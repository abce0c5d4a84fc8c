//! Host functions that XLA programs call: the PJRT FFI extension (registering a handler under
//! a custom-call target name) and the XLA FFI call frame a handler receives (typed FFI,
//! `stablehlo.custom_call @target(...) {api_version = 4 : i32}`).
//!
//! The `repr(C)` structs follow `xla/ffi/api/c_api.h` (XLA FFI API 0.3) and
//! `xla/pjrt/c/pjrt_c_api_ffi_extension.h` (extension version 2, with `register_handler`).
//! A handler is written as a plain Rust function over a [`CallFrame`] and wrapped by
//! [`dispatch`], which answers XLA's metadata query, checks the execution stage, contains
//! panics and turns an error message into an `XLA_FFI_Error`.
#![allow(non_camel_case_types, non_snake_case)]

use std::ffi::{CString, c_char, c_int, c_uint, c_void};
use std::mem::offset_of;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::api::Api;
use super::sys;
use crate::{Error, Result};

/// `PJRT_Extension_Type_FFI` in `pjrt_c_api.h`.
const PJRT_EXTENSION_TYPE_FFI: sys::PJRT_Extension_Type = 5;
/// `XLA_FFI_Extension_Metadata`.
const XLA_FFI_EXTENSION_METADATA: c_int = 1;
/// `XLA_FFI_ExecutionStage_EXECUTE`.
const XLA_FFI_STAGE_EXECUTE: c_int = 3;
/// `XLA_FFI_ArgType_BUFFER` / `XLA_FFI_RetType_BUFFER`.
const XLA_FFI_BUFFER: c_int = 1;
/// `XLA_FFI_AttrType_SCALAR`.
const XLA_FFI_ATTR_SCALAR: c_int = 3;
/// `XLA_FFI_Error_Code_INVALID_ARGUMENT`.
const XLA_FFI_INVALID_ARGUMENT: c_int = 3;
/// The XLA FFI API version our structs follow.
const XLA_FFI_API_VERSION: (c_int, c_int) = (0, 3);

/// `XLA_FFI_DataType` values a handler may see.
pub mod dtype {
    use std::ffi::c_int;
    /// `XLA_FFI_DataType_S32`.
    pub const S32: c_int = 4;
    /// `XLA_FFI_DataType_S64`.
    pub const S64: c_int = 5;
    /// `XLA_FFI_DataType_F32`.
    pub const F32: c_int = 11;
}

#[repr(C)]
pub struct XLA_FFI_Extension_Base {
    struct_size: usize,
    type_: c_int,
    next: *mut XLA_FFI_Extension_Base,
}

#[repr(C)]
struct XLA_FFI_Api_Version {
    struct_size: usize,
    extension_start: *mut XLA_FFI_Extension_Base,
    major_version: c_int,
    minor_version: c_int,
}

#[repr(C)]
struct XLA_FFI_Metadata {
    struct_size: usize,
    api_version: XLA_FFI_Api_Version,
    traits: u32,
}

#[repr(C)]
struct XLA_FFI_Metadata_Extension {
    extension_base: XLA_FFI_Extension_Base,
    metadata: *mut XLA_FFI_Metadata,
}

#[repr(C)]
struct XLA_FFI_List {
    struct_size: usize,
    extension_start: *mut XLA_FFI_Extension_Base,
    size: i64,
    types: *const c_int,
    items: *const *mut c_void,
}

#[repr(C)]
struct XLA_FFI_Attrs {
    struct_size: usize,
    extension_start: *mut XLA_FFI_Extension_Base,
    size: i64,
    types: *const c_int,
    names: *const *const XLA_FFI_ByteSpan,
    attrs: *const *mut c_void,
}

#[repr(C)]
struct XLA_FFI_ByteSpan {
    ptr: *const c_char,
    len: usize,
}

#[repr(C)]
struct XLA_FFI_Scalar {
    dtype: c_int,
    value: *mut c_void,
}

#[repr(C)]
struct XLA_FFI_Buffer {
    struct_size: usize,
    extension_start: *mut XLA_FFI_Extension_Base,
    dtype: c_int,
    data: *mut c_void,
    rank: i64,
    dims: *const i64,
}

/// `XLA_FFI_CallFrame`: what XLA passes to a handler.
#[repr(C)]
pub struct XLA_FFI_CallFrame {
    struct_size: usize,
    extension_start: *mut XLA_FFI_Extension_Base,
    api: *const XLA_FFI_Api,
    ctx: *mut c_void,
    stage: c_int,
    args: XLA_FFI_List,
    rets: XLA_FFI_List,
    attrs: XLA_FFI_Attrs,
    future: *mut c_void,
}

/// An error returned to XLA (opaque, created by XLA's `XLA_FFI_Error_Create`).
#[repr(C)]
pub struct XLA_FFI_Error {
    _private: [u8; 0],
}

#[repr(C)]
struct XLA_FFI_Error_Create_Args {
    struct_size: usize,
    extension_start: *mut XLA_FFI_Extension_Base,
    message: *const c_char,
    errc: c_int,
}

#[repr(C)]
struct XLA_FFI_ThreadPool_Schedule_Args {
    struct_size: usize,
    extension_start: *mut XLA_FFI_Extension_Base,
    ctx: *mut c_void,
    task: Option<unsafe extern "C" fn(data: *mut c_void)>,
    data: *mut c_void,
}

type ApiFn<A> = Option<unsafe extern "C" fn(args: *mut A) -> *mut XLA_FFI_Error>;
type UnusedFn = *const c_void;

/// The head of `XLA_FFI_Api`, up to `XLA_FFI_ThreadPool_Schedule` (the last entry we call).
#[repr(C)]
struct XLA_FFI_Api {
    struct_size: usize,
    extension_start: *mut XLA_FFI_Extension_Base,
    api_version: XLA_FFI_Api_Version,
    internal_api: *const c_void,
    XLA_FFI_Error_Create: ApiFn<XLA_FFI_Error_Create_Args>,
    XLA_FFI_Error_GetMessage: UnusedFn,
    XLA_FFI_Error_Destroy: Option<unsafe extern "C" fn(args: *mut c_void)>,
    XLA_FFI_Handler_Register: UnusedFn,
    XLA_FFI_Stream_Get: UnusedFn,
    XLA_FFI_Type_Register: UnusedFn,
    XLA_FFI_ExecutionContext_Get: UnusedFn,
    XLA_FFI_State_Set: UnusedFn,
    XLA_FFI_State_Get: UnusedFn,
    XLA_FFI_DeviceMemory_Allocate: UnusedFn,
    XLA_FFI_DeviceMemory_Free: UnusedFn,
    XLA_FFI_ThreadPool_Schedule: ApiFn<XLA_FFI_ThreadPool_Schedule_Args>,
}

#[repr(C)]
struct PJRT_FFI_Register_Handler_Args {
    struct_size: usize,
    target_name: *const c_char,
    target_name_size: usize,
    handler: *mut c_void,
    platform_name: *const c_char,
    platform_name_size: usize,
    traits: c_uint,
}

type RegisterHandlerFn =
    unsafe extern "C" fn(args: *mut PJRT_FFI_Register_Handler_Args) -> *mut sys::PJRT_Error;

#[repr(C)]
struct PJRT_FFI_Extension {
    base: sys::PJRT_Extension_Base,
    type_id_register: *const c_void,
    user_data_add: *const c_void,
    register_handler: Option<RegisterHandlerFn>,
}

/// A typed XLA FFI handler (`XLA_FFI_Handler`).
pub type Handler = unsafe extern "C" fn(frame: *mut XLA_FFI_CallFrame) -> *mut XLA_FFI_Error;

/// The platform name XLA's FFI registry files a PJRT platform's handlers under.
fn ffi_platform(pjrt_platform: &str) -> &str {
    match pjrt_platform {
        "cpu" | "host" => "Host",
        "cuda" | "gpu" => "CUDA",
        "rocm" => "ROCM",
        other => other,
    }
}

impl Api {
    /// Registers `handler` as the typed FFI custom-call target `target` of the platform
    /// `pjrt_platform` (`cpu`, `cuda`, ...). Registration is process-wide inside the plugin;
    /// registering the same target again is refused by the plugin.
    pub fn register_ffi_handler(
        &self,
        target: &str,
        pjrt_platform: &str,
        handler: Handler,
    ) -> Result<()> {
        let unsupported = || Error::Unsupported {
            function: "PJRT_FFI_Extension.register_handler",
            plugin: self.describe(),
        };
        // SAFETY: the table is valid for the plugin's lifetime; `extension_start` is the second
        // field of every PJRT_Api.
        let mut ext = unsafe { (*self.table()).extension_start };
        let reg = loop {
            if ext.is_null() {
                return Err(unsupported());
            }
            // SAFETY: a non-null extension pointer from the plugin starts with a
            // PJRT_Extension_Base.
            let base = unsafe { &*ext };
            if base.type_ == PJRT_EXTENSION_TYPE_FFI {
                let need = offset_of!(PJRT_FFI_Extension, register_handler)
                    + size_of::<Option<RegisterHandlerFn>>();
                if base.struct_size < need {
                    return Err(unsupported());
                }
                // SAFETY: the extension is of type FFI and large enough to hold the field.
                let f = unsafe { (*(ext as *const PJRT_FFI_Extension)).register_handler };
                break f.ok_or_else(unsupported)?;
            }
            ext = base.next;
        };
        let platform = ffi_platform(pjrt_platform);
        let mut args = PJRT_FFI_Register_Handler_Args {
            struct_size: offset_of!(PJRT_FFI_Register_Handler_Args, traits) + size_of::<c_uint>(),
            target_name: target.as_ptr() as *const c_char,
            target_name_size: target.len(),
            handler: handler as *mut c_void,
            platform_name: platform.as_ptr() as *const c_char,
            platform_name_size: platform.len(),
            traits: 0,
        };
        // SAFETY: the strings outlive the call (the plugin copies them); `handler` is a
        // function with the XLA_FFI_Handler signature that lives as long as the process.
        let err = unsafe { reg(&mut args) };
        self.take_error(err, "PJRT_FFI_Extension.register_handler")
    }
}

/// One buffer argument or result of a call: its dtype (an `XLA_FFI_DataType`, see [`dtype`]),
/// dimensions and data pointer.
#[derive(Debug)]
pub struct BufferRef<'a> {
    /// `XLA_FFI_DataType` of the elements.
    pub dtype: c_int,
    /// Dimensions, major to minor (custom-call operands get the default row-major layout).
    pub dims: &'a [i64],
    data: *mut c_void,
}

impl BufferRef<'_> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.dims.iter().map(|&d| d.max(0) as usize).product()
    }

    /// Whether the buffer holds no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The elements as `f32`, or an error naming `what` if the dtype is not f32.
    pub fn f32s(&self, what: &str) -> std::result::Result<&[f32], String> {
        self.check_f32(what)?;
        if self.is_empty() {
            return Ok(&[]);
        }
        // SAFETY: XLA hands the handler a live f32 buffer of `len()` elements for the call.
        Ok(unsafe { std::slice::from_raw_parts(self.data as *const f32, self.len()) })
    }

    /// The elements as mutable `f32` (a result buffer).
    #[allow(clippy::mut_from_ref)]
    pub fn f32s_mut(&self, what: &str) -> std::result::Result<&mut [f32], String> {
        self.check_f32(what)?;
        if self.is_empty() {
            return Ok(&mut []);
        }
        // SAFETY: a result buffer is written only by this handler during the call and does not
        // alias the arguments (XLA gives custom-call results their own allocations).
        Ok(unsafe { std::slice::from_raw_parts_mut(self.data as *mut f32, self.len()) })
    }

    fn check_f32(&self, what: &str) -> std::result::Result<(), String> {
        if self.dtype != dtype::F32 {
            return Err(format!(
                "{what} must be f32, got XLA FFI dtype {}",
                self.dtype
            ));
        }
        Ok(())
    }
}

/// The call frame of one handler invocation (execute stage).
pub struct CallFrame<'a> {
    raw: &'a XLA_FFI_CallFrame,
}

impl<'a> CallFrame<'a> {
    fn list(l: &'a XLA_FFI_List, what: &str) -> std::result::Result<Vec<BufferRef<'a>>, String> {
        let n = l.size.max(0) as usize;
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            // SAFETY: XLA's lists hold `size` types and items.
            let (ty, item) = unsafe { (*l.types.add(i), *l.items.add(i)) };
            if ty != XLA_FFI_BUFFER || item.is_null() {
                return Err(format!("{what} {i} is not a buffer"));
            }
            // SAFETY: a buffer item points to an XLA_FFI_Buffer valid for the call.
            let b = unsafe { &*(item as *const XLA_FFI_Buffer) };
            let rank = b.rank.max(0) as usize;
            let dims = if rank == 0 {
                &[][..]
            } else {
                // SAFETY: `dims` holds `rank` entries.
                unsafe { std::slice::from_raw_parts(b.dims, rank) }
            };
            out.push(BufferRef {
                dtype: b.dtype,
                dims,
                data: b.data,
            });
        }
        Ok(out)
    }

    /// The buffer arguments, in operand order.
    pub fn args(&self) -> std::result::Result<Vec<BufferRef<'a>>, String> {
        Self::list(&self.raw.args, "argument")
    }

    /// The result buffers, in result order.
    pub fn rets(&self) -> std::result::Result<Vec<BufferRef<'a>>, String> {
        Self::list(&self.raw.rets, "result")
    }

    /// The integer attribute `name` (from the custom call's `backend_config` dictionary).
    pub fn attr_i64(&self, name: &str) -> std::result::Result<i64, String> {
        self.attr_i64_opt(name)?
            .ok_or_else(|| format!("attribute {name} is missing"))
    }

    /// The integer attribute `name`, or `None` when the call does not set it.
    pub fn attr_i64_opt(&self, name: &str) -> std::result::Result<Option<i64>, String> {
        let a = &self.raw.attrs;
        for i in 0..a.size.max(0) as usize {
            // SAFETY: XLA's attribute list holds `size` types, names and values.
            let (ty, span, value) = unsafe { (*a.types.add(i), *a.names.add(i), *a.attrs.add(i)) };
            // SAFETY: attribute names are byte spans valid for the call.
            let key = unsafe { std::slice::from_raw_parts((*span).ptr as *const u8, (*span).len) };
            if key != name.as_bytes() {
                continue;
            }
            if ty != XLA_FFI_ATTR_SCALAR {
                return Err(format!("attribute {name} is not a scalar"));
            }
            // SAFETY: a scalar attribute points to an XLA_FFI_Scalar whose value has its dtype.
            let s = unsafe { &*(value as *const XLA_FFI_Scalar) };
            return match s.dtype {
                // SAFETY: as above.
                dtype::S64 => Ok(Some(unsafe { *(s.value as *const i64) })),
                // SAFETY: as above.
                dtype::S32 => Ok(Some(i64::from(unsafe { *(s.value as *const i32) }))),
                d => Err(format!(
                    "attribute {name} has dtype {d}, expected an integer"
                )),
            };
        }
        Ok(None)
    }
}

/// Work shared between a handler's thread and helpers from XLA's thread pool: indices are
/// claimed from `next`; the handler waits until every claimed index is `done`.
struct Shared {
    n: usize,
    next: AtomicUsize,
    done: AtomicUsize,
    panicked: AtomicBool,
    /// The work (`&dyn Fn(usize) + Sync` with its lifetime erased): only read after claiming an
    /// index below `n`, which happens only while the handler still waits.
    work: *const (dyn Fn(usize) + Sync),
}

// SAFETY: `work` points to a `Sync` closure and is only called while its owner waits.
unsafe impl Send for Shared {}
// SAFETY: as above; the counters are atomics.
unsafe impl Sync for Shared {}

impl Shared {
    /// Claims and runs indices until none is left.
    fn drain(&self) {
        loop {
            let i = self.next.fetch_add(1, Ordering::AcqRel);
            if i >= self.n {
                return;
            }
            // SAFETY: an index below `n` was claimed, so the handler has not returned yet
            // (it waits for `done == n`) and the closure is alive.
            let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe {
                (*self.work)(i)
            }));
            if run.is_err() {
                self.panicked.store(true, Ordering::Release);
            }
            self.done.fetch_add(1, Ordering::AcqRel);
        }
    }
}

unsafe extern "C" fn pool_task(data: *mut c_void) {
    // SAFETY: `data` came from `Arc::into_raw` in `parallel_for`; this task owns that count.
    let shared = unsafe { Arc::from_raw(data as *const Shared) };
    shared.drain();
}

impl CallFrame<'_> {
    /// Runs `work(i)` for every `i` in `0..n`, on this thread and on up to `helpers` tasks
    /// of XLA's intra-op thread pool. Returns when all are done. Never waits for a task that
    /// has not started (a late task finds nothing left), so a busy pool cannot deadlock it.
    /// Without a pool (or if scheduling fails) everything runs on this thread. A panic in
    /// `work` is contained and reported as an error once every index has finished.
    pub fn parallel_for(
        &self,
        n: usize,
        helpers: usize,
        work: &(dyn Fn(usize) + Sync),
    ) -> std::result::Result<(), String> {
        if n == 0 {
            return Ok(());
        }
        // SAFETY: only the lifetime is erased; see `Shared::work`.
        let work: *const (dyn Fn(usize) + Sync) = unsafe { std::mem::transmute(work) };
        let shared = Arc::new(Shared {
            n,
            next: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
            work,
        });
        // SAFETY: `api` is XLA's table for this call; its size says which entries exist.
        let schedule = unsafe { self.raw.api.as_ref() }.and_then(|a| {
            let end = offset_of!(XLA_FFI_Api, XLA_FFI_ThreadPool_Schedule)
                + size_of::<ApiFn<XLA_FFI_ThreadPool_Schedule_Args>>();
            if a.struct_size >= end && !self.raw.ctx.is_null() {
                a.XLA_FFI_ThreadPool_Schedule
                    .map(|f| (f, a.XLA_FFI_Error_Destroy))
            } else {
                None
            }
        });
        if let Some((schedule, destroy)) = schedule {
            for _ in 0..helpers.min(n - 1) {
                let data = Arc::into_raw(shared.clone()) as *mut c_void;
                let mut args = XLA_FFI_ThreadPool_Schedule_Args {
                    struct_size: offset_of!(XLA_FFI_ThreadPool_Schedule_Args, data)
                        + size_of::<*mut c_void>(),
                    extension_start: std::ptr::null_mut(),
                    ctx: self.raw.ctx,
                    task: Some(pool_task),
                    data,
                };
                // SAFETY: `ctx` is this call's execution context; `data` is an owned count
                // of `shared` that the task releases.
                let err = unsafe { schedule(&mut args) };
                if !err.is_null() {
                    // Not scheduled: take the count back, release the error, stop asking.
                    // SAFETY: the task will never run, so the count is still ours.
                    drop(unsafe { Arc::from_raw(data as *const Shared) });
                    if let Some(destroy) = destroy {
                        let mut d = [
                            2 * size_of::<usize>() + size_of::<*mut c_void>(),
                            0,
                            err as usize,
                        ];
                        // SAFETY: XLA_FFI_Error_Destroy_Args is {struct_size,
                        // extension_start, error}.
                        unsafe { destroy(d.as_mut_ptr() as *mut c_void) };
                    }
                    break;
                }
            }
        }
        shared.drain();
        let mut spins = 0u32;
        while shared.done.load(Ordering::Acquire) < n {
            spins += 1;
            if spins < 1 << 14 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        if shared.panicked.load(Ordering::Acquire) {
            return Err("the kernel panicked".into());
        }
        Ok(())
    }
}

/// Runs `body` as the execute stage of a typed FFI handler: answers XLA's metadata query
/// (sent once when the handler is registered), ignores other stages, contains panics and
/// returns an error message to XLA as an `XLA_FFI_Error` (the program's execution fails with
/// it; XLA does not abort).
///
/// # Safety
/// `frame` must be the pointer XLA passed to the handler.
pub unsafe fn dispatch(
    frame: *mut XLA_FFI_CallFrame,
    name: &str,
    body: impl FnOnce(&CallFrame) -> std::result::Result<(), String>,
) -> *mut XLA_FFI_Error {
    if frame.is_null() {
        return std::ptr::null_mut();
    }
    // SAFETY: guaranteed by the caller.
    let raw = unsafe { &*frame };
    // SAFETY: the extension chain, when present, is a list of XLA_FFI_Extension_Base.
    let mut ext = raw.extension_start;
    while !ext.is_null() {
        // SAFETY: as above.
        let base = unsafe { &*ext };
        if base.type_ == XLA_FFI_EXTENSION_METADATA {
            // SAFETY: a metadata extension holds a pointer to the metadata to fill.
            let md = unsafe { (*(ext as *const XLA_FFI_Metadata_Extension)).metadata };
            if !md.is_null() {
                // The runtime's own version, if older than ours, so it never refuses us.
                // SAFETY: `api` points to XLA's function table for the call.
                let runtime = unsafe { raw.api.as_ref() }
                    .map(|a| (a.api_version.major_version, a.api_version.minor_version))
                    .unwrap_or(XLA_FFI_API_VERSION);
                let (major, minor) = runtime.min(XLA_FFI_API_VERSION);
                // SAFETY: XLA owns `md` and expects it filled in.
                unsafe {
                    (*md).api_version.major_version = major;
                    (*md).api_version.minor_version = minor;
                    (*md).traits = 0;
                }
            }
            return std::ptr::null_mut();
        }
        ext = base.next;
    }
    if raw.stage != XLA_FFI_STAGE_EXECUTE {
        return std::ptr::null_mut();
    }
    let call = CallFrame { raw };
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(&call)))
        .unwrap_or_else(|_| Err("the handler panicked".to_string()));
    match outcome {
        Ok(()) => std::ptr::null_mut(),
        Err(msg) => {
            let text = CString::new(format!("{name}: {msg}").replace('\0', " "))
                .unwrap_or_else(|_| CString::from(c"custom call failed"));
            // SAFETY: `api` is XLA's table; `XLA_FFI_Error_Create` copies the message.
            unsafe {
                match raw.api.as_ref().and_then(|a| a.XLA_FFI_Error_Create) {
                    Some(create) => {
                        let mut args = XLA_FFI_Error_Create_Args {
                            struct_size: offset_of!(XLA_FFI_Error_Create_Args, errc)
                                + size_of::<c_int>(),
                            extension_start: std::ptr::null_mut(),
                            message: text.as_ptr(),
                            errc: XLA_FFI_INVALID_ARGUMENT,
                        };
                        create(&mut args)
                    }
                    None => std::ptr::null_mut(),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    /// A call frame without an API table or context: no thread pool, everything runs here.
    fn bare_frame() -> XLA_FFI_CallFrame {
        // SAFETY: every field of the call frame is a pointer or an integer; zero is valid.
        unsafe { std::mem::zeroed() }
    }

    #[test]
    fn parallel_for_runs_every_index_once_without_a_pool() {
        let raw = bare_frame();
        let call = CallFrame { raw: &raw };
        let seen: Vec<AtomicU64> = (0..37).map(|_| AtomicU64::new(0)).collect();
        call.parallel_for(37, 3, &|i| {
            seen[i].fetch_add(1, Ordering::Relaxed);
        })
        .unwrap();
        assert!(seen.iter().all(|c| c.load(Ordering::Relaxed) == 1));
        call.parallel_for(0, 3, &|_| panic!("no index to run"))
            .unwrap();
    }

    #[test]
    fn a_panicking_index_is_an_error_after_the_others_ran() {
        let raw = bare_frame();
        let call = CallFrame { raw: &raw };
        let ran = AtomicU64::new(0);
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let r = call.parallel_for(8, 1, &|i| {
            ran.fetch_add(1, Ordering::Relaxed);
            assert_ne!(i, 3, "index 3 fails");
        });
        std::panic::set_hook(hook);
        assert_eq!(r.unwrap_err(), "the kernel panicked");
        assert_eq!(ran.load(Ordering::Relaxed), 8);
    }

    #[test]
    fn dispatch_answers_the_metadata_query_and_ignores_other_stages() {
        let mut md = XLA_FFI_Metadata {
            struct_size: size_of::<XLA_FFI_Metadata>(),
            api_version: XLA_FFI_Api_Version {
                struct_size: size_of::<XLA_FFI_Api_Version>(),
                extension_start: std::ptr::null_mut(),
                major_version: -1,
                minor_version: -1,
            },
            traits: 7,
        };
        let mut ext = XLA_FFI_Metadata_Extension {
            extension_base: XLA_FFI_Extension_Base {
                struct_size: size_of::<XLA_FFI_Metadata_Extension>(),
                type_: XLA_FFI_EXTENSION_METADATA,
                next: std::ptr::null_mut(),
            },
            metadata: &mut md,
        };
        let mut raw = bare_frame();
        raw.extension_start = &mut ext.extension_base;
        let called = AtomicU64::new(0);
        // SAFETY: a frame built here, valid for the call.
        let err = unsafe {
            dispatch(&mut raw, "t", |_| {
                called.fetch_add(1, Ordering::Relaxed);
                Ok(())
            })
        };
        assert!(err.is_null());
        assert_eq!(called.load(Ordering::Relaxed), 0, "the body must not run");
        assert_eq!(
            (
                md.api_version.major_version,
                md.api_version.minor_version,
                md.traits
            ),
            (XLA_FFI_API_VERSION.0, XLA_FFI_API_VERSION.1, 0)
        );
        // an instantiate-stage call (stage 0) does not run the body either
        let mut raw = bare_frame();
        // SAFETY: as above.
        let err = unsafe {
            dispatch(&mut raw, "t", |_| {
                called.fetch_add(1, Ordering::Relaxed);
                Ok(())
            })
        };
        assert!(err.is_null());
        assert_eq!(called.load(Ordering::Relaxed), 0);
    }
}
