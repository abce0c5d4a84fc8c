//! Raw PJRT C API definitions (the only raw FFI): `repr(C)` argument structs and the function
//! table, written for PJRT C API 0.81 and checked against that header by `tests/pjrt_abi.rs`.
//!
//! Only the part of the API that sbgm-xla uses is typed; the other function-table entries are
//! kept as untyped placeholders so that the table's layout matches the plugin's. Argument
//! structs only grow between API versions, so structs of the 0.81 size work with newer plugins
//! (they read `struct_size` and ignore fields they do not get).
//!
//! This module holds the handles, the C enums and the struct machinery; the structs are in
//! [`runtime`] (errors, events, plugin attributes), [`client`] (client, devices, compile),
//! [`buffer`], [`executable`] and [`api`] (the function table).
#![allow(
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals,
    missing_docs
)]

use std::ffi::{c_int, c_void};

/// The PJRT C API version these definitions were written for (major, minor).
pub const API_VERSION: (i32, i32) = (0, 81);

// ---- opaque handles ----
macro_rules! opaque {
    ($($name:ident),* $(,)?) => {$(
        /// An opaque PJRT object, only ever used behind a pointer.
        #[repr(C)]
        pub struct $name {
            _private: [u8; 0],
        }
    )*};
}
opaque!(
    PJRT_Error,
    PJRT_Event,
    PJRT_Client,
    PJRT_Device,
    PJRT_DeviceDescription,
    PJRT_Memory,
    PJRT_Executable,
    PJRT_LoadedExecutable,
    PJRT_Buffer,
    PJRT_ExecuteContext,
    PJRT_SerializedExecutable,
    PJRT_SendCallbackInfo,
    PJRT_RecvCallbackInfo,
);

// ---- C enums (kept as plain integers: a plugin may return values we do not know) ----
pub type PJRT_Extension_Type = c_int;
pub type PJRT_Error_Code = c_int;
pub type PJRT_NamedValue_Type = c_int;
pub type PJRT_Buffer_Type = c_int;
pub type PJRT_HostBufferSemantics = c_int;
pub type PJRT_Buffer_MemoryLayout_Type = c_int;

pub const PJRT_NamedValue_kString: PJRT_NamedValue_Type = 0;
pub const PJRT_NamedValue_kInt64: PJRT_NamedValue_Type = 1;
pub const PJRT_NamedValue_kInt64List: PJRT_NamedValue_Type = 2;
pub const PJRT_NamedValue_kFloat: PJRT_NamedValue_Type = 3;
pub const PJRT_NamedValue_kBool: PJRT_NamedValue_Type = 4;

pub const PJRT_Buffer_Type_INVALID: PJRT_Buffer_Type = 0;
pub const PJRT_Buffer_Type_PRED: PJRT_Buffer_Type = 1;
pub const PJRT_Buffer_Type_S8: PJRT_Buffer_Type = 2;
pub const PJRT_Buffer_Type_S16: PJRT_Buffer_Type = 3;
pub const PJRT_Buffer_Type_S32: PJRT_Buffer_Type = 4;
pub const PJRT_Buffer_Type_S64: PJRT_Buffer_Type = 5;
pub const PJRT_Buffer_Type_U8: PJRT_Buffer_Type = 6;
pub const PJRT_Buffer_Type_U16: PJRT_Buffer_Type = 7;
pub const PJRT_Buffer_Type_U32: PJRT_Buffer_Type = 8;
pub const PJRT_Buffer_Type_U64: PJRT_Buffer_Type = 9;
pub const PJRT_Buffer_Type_F16: PJRT_Buffer_Type = 10;
pub const PJRT_Buffer_Type_F32: PJRT_Buffer_Type = 11;
pub const PJRT_Buffer_Type_F64: PJRT_Buffer_Type = 12;
pub const PJRT_Buffer_Type_BF16: PJRT_Buffer_Type = 13;

pub const PJRT_HostBufferSemantics_kImmutableOnlyDuringCall: PJRT_HostBufferSemantics = 0;
pub const PJRT_HostBufferSemantics_kImmutableUntilTransferCompletes: PJRT_HostBufferSemantics = 1;

pub const PJRT_Buffer_MemoryLayout_Type_Tiled: PJRT_Buffer_MemoryLayout_Type = 0;

/// A typed function-table entry.
pub type Fn<A> = Option<unsafe extern "C" fn(args: *mut A) -> *mut PJRT_Error>;
/// A function-table entry that returns nothing (`PJRT_Error_Destroy`, `PJRT_Error_Message`).
pub type VoidFn<A> = Option<unsafe extern "C" fn(args: *mut A)>;
/// A function-table entry sbgm-xla does not call (kept for the table's layout).
pub type Unused = Option<unsafe extern "C" fn(args: *mut c_void) -> *mut PJRT_Error>;

/// The layout of one struct, for the ABI test against the C header.
#[derive(Debug, Clone)]
pub struct StructLayout {
    /// The C struct's name.
    pub name: &'static str,
    /// `sizeof` in Rust.
    pub size: usize,
    /// `alignof` in Rust.
    pub align: usize,
    /// `PJRT_STRUCT_SIZE(name, last_field)`: the value we put in `struct_size`.
    pub struct_size: usize,
    /// Field names, offsets and sizes.
    pub fields: Vec<(&'static str, usize, usize)>,
}

/// A struct with a leading `struct_size` field.
///
/// # Safety
/// Implementors are `repr(C)` structs whose every field is valid when all bits are zero
/// (raw pointers, integers, `Option` of function pointers, `bool`, and such structs).
pub unsafe trait Args: Sized {
    /// `PJRT_STRUCT_SIZE` of the struct: the offset of its last field plus that field's size.
    const STRUCT_SIZE: usize;
    /// A zeroed struct with `struct_size` set.
    fn new() -> Self;
}

const fn max_end(ends: &[usize]) -> usize {
    let mut m = 0;
    let mut i = 0;
    while i < ends.len() {
        if ends[i] > m {
            m = ends[i];
        }
        i += 1;
    }
    m
}

macro_rules! pjrt_structs {
    ($( $(#[$m:meta])* struct $name:ident { $( $field:ident : $ty:ty ),* $(,)? } )*) => {
        $(
            $(#[$m])*
            #[repr(C)]
            #[derive(Clone, Copy)]
            pub struct $name { $( pub $field: $ty ),* }

            // SAFETY: every field type used in these definitions is valid when zeroed.
            unsafe impl Args for $name {
                const STRUCT_SIZE: usize = max_end(&[$( offset_of!($name, $field) + size_of::<$ty>() ),*]);
                fn new() -> Self {
                    // SAFETY: see the `unsafe impl` above: all-zero bits are a valid value.
                    let mut s: Self = unsafe { std::mem::zeroed() };
                    s.struct_size = Self::STRUCT_SIZE;
                    s
                }
            }
        )*

        /// Layouts of every struct defined here, for the ABI test.
        pub(super) fn layouts() -> Vec<StructLayout> {
            vec![$(
                StructLayout {
                    name: stringify!($name),
                    size: size_of::<$name>(),
                    align: std::mem::align_of::<$name>(),
                    struct_size: <$name as Args>::STRUCT_SIZE,
                    fields: vec![$( (stringify!($field), offset_of!($name, $field), size_of::<$ty>()) ),*],
                }
            ),*]
        }
    };
}

pub mod api;
pub mod buffer;
pub mod client;
pub mod executable;
pub mod runtime;

pub use api::*;
pub use buffer::*;
pub use client::*;
pub use executable::*;
pub use runtime::*;

/// Layouts of every struct of the C API we define, for the ABI test.
pub fn layouts() -> Vec<StructLayout> {
    [
        runtime::layouts(),
        client::layouts(),
        buffer::layouts(),
        executable::layouts(),
        api::layouts(),
    ]
    .concat()
}
