//! Loading a plugin (`dlopen`, `GetPjrtApi`, `PJRT_Plugin_Initialize` once per library, the
//! version check), the call helper that fills `struct_size` and checks that the plugin provides
//! the function, and PJRT errors turned into [`Error::Pjrt`].

use super::sys;
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::ffi::c_char;
use std::fmt;

pub use crate::error::ErrorCode;
use std::mem::offset_of;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// A named value: a plugin attribute or a client-create option (`PJRT_NamedValue`).
#[derive(Clone, Debug, PartialEq)]
pub enum NamedValue {
    Str(String),
    Int(i64),
    Ints(Vec<i64>),
    Float(f32),
    Bool(bool),
}

impl fmt::Display for NamedValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NamedValue::Str(s) => f.write_str(s),
            NamedValue::Int(i) => write!(f, "{i}"),
            NamedValue::Ints(v) => {
                let parts: Vec<String> = v.iter().map(|i| i.to_string()).collect();
                f.write_str(&parts.join("."))
            }
            NamedValue::Float(x) => write!(f, "{x}"),
            NamedValue::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// A loaded, initialised plugin. Plugins are never unloaded: each library is opened and
/// initialised once per process and lives until the process ends.
pub struct Api {
    _lib: libloading::Library,
    table: *const sys::PJRT_Api,
    table_size: usize,
    path: PathBuf,
    version: (i32, i32),
    attributes: Vec<(String, NamedValue)>,
}

// SAFETY: the function table is immutable after `GetPjrtApi`, and the PJRT C API requires its
// functions to be callable from any thread.
unsafe impl Send for Api {}
// SAFETY: as above; `Api` has no interior mutability.
unsafe impl Sync for Api {}

static LOADED: OnceLock<Mutex<HashMap<PathBuf, &'static Api>>> = OnceLock::new();

/// Bytes from a plugin-owned (pointer, length) pair, as a `String` (lossy UTF-8).
///
/// # Safety
/// `ptr` must point to `len` readable bytes (or be null with any `len`).
pub(crate) unsafe fn plugin_str(ptr: *const c_char, len: usize) -> String {
    if ptr.is_null() || len == 0 {
        return String::new();
    }
    // SAFETY: guaranteed by the caller.
    let bytes = unsafe { std::slice::from_raw_parts(ptr as *const u8, len) };
    String::from_utf8_lossy(bytes).into_owned()
}

/// Calls a PJRT function through the plugin's table: checks that the plugin provides it and
/// turns a returned `PJRT_Error` into [`Error::Pjrt`]. `$args` must come from `Args::new()`
/// (so `struct_size` is set). Unsafe: the caller vouches for the pointers inside `$args`.
macro_rules! pjrt_call {
    ($api:expr, $func:ident, $args:expr) => {
        $api.invoke(
            stringify!($func),
            ::std::mem::offset_of!($crate::pjrt::sys::PJRT_Api, $func),
            |t: &$crate::pjrt::sys::PJRT_Api| t.$func,
            $args,
        )
    };
}
pub(crate) use pjrt_call;

impl Api {
    /// Opens the plugin at `path` (once per process), checks its API version and initialises it.
    pub fn load(path: &Path) -> Result<&'static Api> {
        let key = std::fs::canonicalize(path).map_err(|e| {
            Error::PluginNotFound(format!(
                "PJRT plugin {}: {e}; give the path of a plugin's shared library (.so), or a \
                 platform name (cpu, cuda, tpu)",
                path.display()
            ))
        })?;
        let registry = LOADED.get_or_init(|| Mutex::new(HashMap::new()));
        let mut loaded = registry.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(api) = loaded.get(&key) {
            return Ok(api);
        }
        let api: &'static Api = Box::leak(Box::new(Self::open(&key)?));
        loaded.insert(key, api);
        Ok(api)
    }

    fn open(path: &Path) -> Result<Api> {
        let not_plugin = |reason: String| Error::NotAPlugin {
            path: path.to_path_buf(),
            reason,
        };
        if !path.is_file() {
            return Err(not_plugin("not a regular file".into()));
        }
        // SAFETY: loading a library runs its initialisers; a PJRT plugin is a shared library
        // meant to be loaded this way. Anything else is refused by dlopen or by the checks below.
        let lib = unsafe { libloading::Library::new(path) }.map_err(|e| {
            let detail = std::error::Error::source(&e)
                .map(|s| format!("{e}: {s}"))
                .unwrap_or_else(|| e.to_string());
            not_plugin(format!("cannot load it as a shared library ({detail})"))
        })?;
        // SAFETY: `GetPjrtApi` has this signature in every PJRT plugin.
        let get: sys::GetPjrtApiFn = unsafe {
            *lib.get::<sys::GetPjrtApiFn>(b"GetPjrtApi\0")
                .map_err(|_| not_plugin("it does not export GetPjrtApi".into()))?
        };
        // SAFETY: calling the plugin's entry point, which takes no arguments.
        let table = unsafe { get() };
        if table.is_null() {
            return Err(not_plugin("GetPjrtApi returned null".into()));
        }
        // SAFETY: every PJRT_Api starts with `struct_size`.
        let table_size = unsafe { (*table).struct_size };
        let version_end = offset_of!(sys::PJRT_Api, pjrt_api_version)
            + <sys::PJRT_Api_Version as sys::Args>::STRUCT_SIZE;
        if table_size < version_end {
            return Err(not_plugin(format!(
                "its function table is {table_size} bytes, too small to hold a version"
            )));
        }
        // SAFETY: the version struct lies inside the table (checked just above).
        let v = unsafe { (&raw const (*table).pjrt_api_version).read() };
        let version = (v.major_version, v.minor_version);
        let (need_major, need_minor) = sys::API_VERSION;
        if version.0 != need_major || version.1 < need_minor {
            return Err(Error::PluginVersion {
                path: path.to_path_buf(),
                major: version.0,
                minor: version.1,
                need_major,
                need_minor,
            });
        }
        let mut api = Api {
            _lib: lib,
            table,
            table_size,
            path: path.to_path_buf(),
            version,
            attributes: Vec::new(),
        };
        for (name, offset) in [
            (
                "PJRT_Error_Destroy",
                offset_of!(sys::PJRT_Api, PJRT_Error_Destroy),
            ),
            (
                "PJRT_Error_Message",
                offset_of!(sys::PJRT_Api, PJRT_Error_Message),
            ),
            (
                "PJRT_Error_GetCode",
                offset_of!(sys::PJRT_Api, PJRT_Error_GetCode),
            ),
        ] {
            // SAFETY: reads a function-pointer-sized entry, bounds-checked in `raw_entry`.
            if unsafe { api.raw_entry(offset) }.is_none() {
                return Err(not_plugin(format!("its function table lacks {name}")));
            }
        }
        let mut args = <sys::PJRT_Plugin_Initialize_Args as sys::Args>::new();
        // SAFETY: the args struct has no pointers; initialisation happens once per library
        // because `load` keeps a registry under a lock.
        unsafe { pjrt_call!(api, PJRT_Plugin_Initialize, &mut args)? };
        api.attributes = api.read_attributes()?;
        Ok(api)
    }

    /// The plugin's function table (valid for the process's lifetime).
    pub(crate) fn table(&self) -> *const sys::PJRT_Api {
        self.table
    }

    /// Reads a function-table entry as an untyped pointer, `None` if the table is too short or
    /// the entry is null.
    ///
    /// # Safety
    /// `offset` must be the offset of a function-pointer field of `PJRT_Api`.
    unsafe fn raw_entry(&self, offset: usize) -> Option<*const ()> {
        if offset + size_of::<usize>() > self.table_size {
            return None;
        }
        // SAFETY: the entry lies inside the plugin's table (checked above).
        let p = unsafe {
            (self.table as *const u8)
                .add(offset)
                .cast::<*const ()>()
                .read()
        };
        (!p.is_null()).then_some(p)
    }

    /// Calls the function at `offset` of the table with `args`; use [`pjrt_call!`].
    ///
    /// # Safety
    /// `offset` must be the offset of the entry that `_field` reads (the macro guarantees it),
    /// and every pointer inside `args` must be valid for that function.
    pub(crate) unsafe fn invoke<A>(
        &self,
        name: &'static str,
        offset: usize,
        _field: fn(&sys::PJRT_Api) -> sys::Fn<A>,
        args: &mut A,
    ) -> Result<()> {
        // SAFETY: `offset` is a function-pointer entry (caller's contract).
        let Some(p) = (unsafe { self.raw_entry(offset) }) else {
            return Err(Error::Unsupported {
                function: name,
                plugin: self.describe(),
            });
        };
        // SAFETY: the entry at `offset` has type `sys::Fn<A>` (`_field` ties them together),
        // and a non-null `Option<fn>` has the same representation as the pointer.
        let f: unsafe extern "C" fn(*mut A) -> *mut sys::PJRT_Error =
            unsafe { std::mem::transmute::<*const (), _>(p) };
        // SAFETY: the caller vouches for the pointers in `args`.
        let err = unsafe { f(args as *mut A) };
        self.take_error(err, name)
    }

    /// Turns a returned `PJRT_Error*` into a result, destroying the error.
    pub(crate) fn take_error(
        &self,
        err: *mut sys::PJRT_Error,
        function: &'static str,
    ) -> Result<()> {
        if err.is_null() {
            return Ok(());
        }
        // SAFETY: the three error functions were checked to be present at load time; `err` is a
        // live error the plugin handed us, destroyed exactly once here.
        unsafe {
            let t = &*self.table;
            let mut m = <sys::PJRT_Error_Message_Args as sys::Args>::new();
            m.error = err;
            (t.PJRT_Error_Message.unwrap())(&mut m);
            let message = plugin_str(m.message, m.message_size);
            let mut c = <sys::PJRT_Error_GetCode_Args as sys::Args>::new();
            c.error = err;
            let code_err = (t.PJRT_Error_GetCode.unwrap())(&mut c);
            let code = if code_err.is_null() {
                ErrorCode::from_raw(c.code)
            } else {
                self.destroy_error(code_err);
                ErrorCode::Unknown
            };
            self.destroy_error(err);
            Err(Error::Pjrt {
                function,
                code,
                message,
            })
        }
    }

    /// # Safety
    /// `err` must be a live `PJRT_Error` not destroyed before.
    unsafe fn destroy_error(&self, err: *mut sys::PJRT_Error) {
        let mut d = <sys::PJRT_Error_Destroy_Args as sys::Args>::new();
        d.error = err;
        // SAFETY: checked present at load; `err` is live (caller's contract).
        unsafe { ((*self.table).PJRT_Error_Destroy.unwrap())(&mut d) };
    }

    /// Waits for `event`, destroys it and returns its error status. A null event is ready.
    pub(crate) fn await_event(&self, event: *mut sys::PJRT_Event) -> Result<()> {
        if event.is_null() {
            return Ok(());
        }
        let mut a = <sys::PJRT_Event_Await_Args as sys::Args>::new();
        a.event = event;
        // SAFETY: `event` is a live event the plugin handed us.
        let awaited = unsafe { pjrt_call!(self, PJRT_Event_Await, &mut a) };
        let mut d = <sys::PJRT_Event_Destroy_Args as sys::Args>::new();
        d.event = event;
        // SAFETY: destroyed exactly once, after the wait.
        let destroyed = unsafe { pjrt_call!(self, PJRT_Event_Destroy, &mut d) };
        awaited.and(destroyed)
    }

    fn read_attributes(&self) -> Result<Vec<(String, NamedValue)>> {
        let mut a = <sys::PJRT_Plugin_Attributes_Args as sys::Args>::new();
        // SAFETY: output-only arguments.
        match unsafe { pjrt_call!(self, PJRT_Plugin_Attributes, &mut a) } {
            Ok(()) => {}
            Err(Error::Unsupported { .. }) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        }
        let mut out = Vec::with_capacity(a.num_attributes);
        for i in 0..a.num_attributes {
            // SAFETY: the plugin returned `num_attributes` values living as long as the process.
            let nv = unsafe { &*a.attributes.add(i) };
            // SAFETY: as above.
            out.push(unsafe { read_named_value(nv) });
        }
        Ok(out)
    }

    /// The plugin's path (canonical).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The PJRT C API version the plugin implements (major, minor).
    pub fn version(&self) -> (i32, i32) {
        self.version
    }

    /// The plugin's attributes (`xla_version`, `stablehlo_current_version`, ...).
    pub fn attributes(&self) -> &[(String, NamedValue)] {
        &self.attributes
    }

    /// One attribute by name.
    pub fn attribute(&self, name: &str) -> Option<&NamedValue> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    /// The StableHLO versions the plugin accepts (minimum, current), as `"1.2.3"` strings.
    pub fn stablehlo_versions(&self) -> (Option<String>, Option<String>) {
        let get = |n: &str| self.attribute(n).map(|v| v.to_string());
        (
            get("stablehlo_minimum_version"),
            get("stablehlo_current_version"),
        )
    }

    /// A one-line description: path and API version.
    pub fn describe(&self) -> String {
        format!(
            "{} (PJRT C API {}.{})",
            self.path.display(),
            self.version.0,
            self.version.1
        )
    }
}

/// Reads a plugin-owned named value.
///
/// # Safety
/// `nv` must be a valid `PJRT_NamedValue` whose pointers are live.
unsafe fn read_named_value(nv: &sys::PJRT_NamedValue) -> (String, NamedValue) {
    // SAFETY: caller's contract; the union member read is the one `type_` names.
    unsafe {
        let name = plugin_str(nv.name, nv.name_size);
        let value = match nv.type_ {
            sys::PJRT_NamedValue_kString => {
                NamedValue::Str(plugin_str(nv.value.string_value, nv.value_size))
            }
            sys::PJRT_NamedValue_kInt64 => NamedValue::Int(nv.value.int64_value),
            sys::PJRT_NamedValue_kInt64List => {
                let p = nv.value.int64_array_value;
                let v = if p.is_null() {
                    Vec::new()
                } else {
                    std::slice::from_raw_parts(p, nv.value_size).to_vec()
                };
                NamedValue::Ints(v)
            }
            sys::PJRT_NamedValue_kFloat => NamedValue::Float(nv.value.float_value),
            sys::PJRT_NamedValue_kBool => NamedValue::Bool(nv.value.bool_value),
            t => NamedValue::Str(format!("<value of unknown type {t}>")),
        };
        (name, value)
    }
}

/// Named values laid out for a PJRT call; keeps the names and arrays alive while in use.
pub(crate) struct NamedValues {
    _names: Vec<Vec<u8>>,
    _strings: Vec<Vec<u8>>,
    _lists: Vec<Vec<i64>>,
    raw: Vec<sys::PJRT_NamedValue>,
}

impl NamedValues {
    pub(crate) fn new(values: &[(String, NamedValue)]) -> Self {
        let mut names = Vec::new();
        let mut strings = Vec::new();
        let mut lists = Vec::new();
        let mut raw = Vec::new();
        for (name, value) in values {
            let n = name.as_bytes().to_vec();
            let mut nv = <sys::PJRT_NamedValue as sys::Args>::new();
            nv.name = n.as_ptr() as *const c_char;
            nv.name_size = n.len();
            names.push(n);
            nv.value_size = 1;
            match value {
                NamedValue::Str(s) => {
                    let b = s.as_bytes().to_vec();
                    nv.type_ = sys::PJRT_NamedValue_kString;
                    nv.value.string_value = b.as_ptr() as *const c_char;
                    nv.value_size = b.len();
                    strings.push(b);
                }
                NamedValue::Int(i) => {
                    nv.type_ = sys::PJRT_NamedValue_kInt64;
                    nv.value.int64_value = *i;
                }
                NamedValue::Ints(v) => {
                    let l = v.clone();
                    nv.type_ = sys::PJRT_NamedValue_kInt64List;
                    nv.value.int64_array_value = l.as_ptr();
                    nv.value_size = l.len();
                    lists.push(l);
                }
                NamedValue::Float(x) => {
                    nv.type_ = sys::PJRT_NamedValue_kFloat;
                    nv.value.float_value = *x;
                }
                NamedValue::Bool(b) => {
                    nv.type_ = sys::PJRT_NamedValue_kBool;
                    nv.value.bool_value = *b;
                }
            }
            raw.push(nv);
        }
        NamedValues {
            _names: names,
            _strings: strings,
            _lists: lists,
            raw,
        }
    }

    pub(crate) fn as_ptr(&self) -> *const sys::PJRT_NamedValue {
        self.raw.as_ptr()
    }

    pub(crate) fn len(&self) -> usize {
        self.raw.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_values_point_at_live_data() {
        let vals = vec![
            ("a".to_string(), NamedValue::Int(8)),
            ("bb".to_string(), NamedValue::Str("xyz".into())),
            ("c".to_string(), NamedValue::Ints(vec![1, 20, 0])),
        ];
        let nv = NamedValues::new(&vals);
        assert_eq!(nv.len(), 3);
        for (i, (name, value)) in vals.iter().enumerate() {
            // SAFETY: `nv` is alive and holds the data it points to.
            let (n, v) = unsafe { read_named_value(&*nv.as_ptr().add(i)) };
            assert_eq!(&n, name);
            assert_eq!(&v, value);
        }
        assert_eq!(NamedValue::Ints(vec![1, 20, 0]).to_string(), "1.20.0");
        assert_eq!(ErrorCode::from_raw(3).to_string(), "INVALID_ARGUMENT");
    }
}
