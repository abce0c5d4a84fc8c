//! Raw PJRT C API definitions (the only raw FFI): `repr(C)` argument structs and the function
//! table, written for PJRT C API 0.81 and checked against that header by `tests/pjrt_abi.rs`.
//!
//! Only the part of the API that sbgm-xla uses is typed; the other function-table entries are
//! kept as untyped placeholders so that the table's layout matches the plugin's. Argument
//! structs only grow between API versions, so structs of the 0.81 size work with newer plugins
//! (they read `struct_size` and ignore fields they do not get).
#![allow(
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals,
    missing_docs
)]

use std::ffi::{c_char, c_int, c_void};
use std::mem::{offset_of, size_of};

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
        pub fn layouts() -> Vec<StructLayout> {
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

/// The value of a [`PJRT_NamedValue`] (an anonymous union in C).
#[repr(C)]
#[derive(Clone, Copy)]
pub union PJRT_NamedValue_Value {
    pub string_value: *const c_char,
    pub int64_value: i64,
    pub int64_array_value: *const i64,
    pub float_value: f32,
    pub bool_value: bool,
}

/// The layout of a [`PJRT_Buffer_MemoryLayout`] (an anonymous union in C).
#[repr(C)]
#[derive(Clone, Copy)]
pub union PJRT_Buffer_MemoryLayout_Value {
    pub tiled: PJRT_Buffer_MemoryLayout_Tiled,
    pub strides: PJRT_Buffer_MemoryLayout_Strides,
}

/// Callbacks of the multi-process key-value store (not used yet: always null).
pub type KvCallback = Option<unsafe extern "C" fn(args: *mut c_void) -> *mut PJRT_Error>;
/// The deleter of a serialized executable.
pub type SerializedExecutableDeleter =
    Option<unsafe extern "C" fn(exec: *mut PJRT_SerializedExecutable)>;

pjrt_structs! {
    struct PJRT_Extension_Base {
        struct_size: usize,
        type_: PJRT_Extension_Type,
        next: *mut PJRT_Extension_Base,
    }
    struct PJRT_Api_Version {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        major_version: c_int,
        minor_version: c_int,
    }
    struct PJRT_Error_Destroy_Args {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        error: *mut PJRT_Error,
    }
    struct PJRT_Error_Message_Args {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        error: *const PJRT_Error,
        message: *const c_char,
        message_size: usize,
    }
    struct PJRT_Error_GetCode_Args {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        error: *const PJRT_Error,
        code: PJRT_Error_Code,
    }
    struct PJRT_NamedValue {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        name: *const c_char,
        name_size: usize,
        type_: PJRT_NamedValue_Type,
        value: PJRT_NamedValue_Value,
        value_size: usize,
    }
    struct PJRT_Plugin_Initialize_Args {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
    }
    struct PJRT_Plugin_Attributes_Args {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        attributes: *const PJRT_NamedValue,
        num_attributes: usize,
    }
    struct PJRT_Event_Destroy_Args {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        event: *mut PJRT_Event,
    }
    struct PJRT_Event_IsReady_Args {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        event: *mut PJRT_Event,
        is_ready: bool,
    }
    struct PJRT_Event_Error_Args {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        event: *mut PJRT_Event,
    }
    struct PJRT_Event_Await_Args {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        event: *mut PJRT_Event,
    }
    struct PJRT_Client_Create_Args {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        create_options: *const PJRT_NamedValue,
        num_options: usize,
        kv_get_callback: KvCallback,
        kv_get_user_arg: *mut c_void,
        kv_put_callback: KvCallback,
        kv_put_user_arg: *mut c_void,
        client: *mut PJRT_Client,
        kv_try_get_callback: KvCallback,
        kv_try_get_user_arg: *mut c_void,
    }
    struct PJRT_Client_Destroy_Args {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        client: *mut PJRT_Client,
    }
    struct PJRT_Client_PlatformName_Args {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        client: *mut PJRT_Client,
        platform_name: *const c_char,
        platform_name_size: usize,
    }
    struct PJRT_Client_ProcessIndex_Args {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        client: *mut PJRT_Client,
        process_index: c_int,
    }
    struct PJRT_Client_PlatformVersion_Args {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        client: *mut PJRT_Client,
        platform_version: *const c_char,
        platform_version_size: usize,
    }
    struct PJRT_Client_Devices_Args {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        client: *mut PJRT_Client,
        devices: *const *mut PJRT_Device,
        num_devices: usize,
    }
    struct PJRT_Client_AddressableDevices_Args {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        client: *mut PJRT_Client,
        addressable_devices: *const *mut PJRT_Device,
        num_addressable_devices: usize,
    }
    struct PJRT_Program {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        code: *mut c_char,
        code_size: usize,
        format: *const c_char,
        format_size: usize,
    }
    struct PJRT_Client_Compile_Args {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        client: *mut PJRT_Client,
        program: *const PJRT_Program,
        compile_options: *const c_char,
        compile_options_size: usize,
        executable: *mut PJRT_LoadedExecutable,
    }
    struct PJRT_Buffer_MemoryLayout_Tiled {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        minor_to_major: *const i64,
        minor_to_major_size: usize,
        tile_dims: *const i64,
        tile_dim_sizes: *const usize,
        num_tiles: usize,
    }
    struct PJRT_Buffer_MemoryLayout_Strides {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        byte_strides: *const i64,
        num_byte_strides: usize,
    }
    struct PJRT_Buffer_MemoryLayout {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        layout: PJRT_Buffer_MemoryLayout_Value,
        type_: PJRT_Buffer_MemoryLayout_Type,
    }
    struct PJRT_Client_BufferFromHostBuffer_Args {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        client: *mut PJRT_Client,
        data: *const c_void,
        type_: PJRT_Buffer_Type,
        dims: *const i64,
        num_dims: usize,
        byte_strides: *const i64,
        num_byte_strides: usize,
        host_buffer_semantics: PJRT_HostBufferSemantics,
        device: *mut PJRT_Device,
        memory: *mut PJRT_Memory,
        device_layout: *mut PJRT_Buffer_MemoryLayout,
        done_with_host_buffer: *mut PJRT_Event,
        buffer: *mut PJRT_Buffer,
    }
    struct PJRT_DeviceDescription_Id_Args {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        device_description: *mut PJRT_DeviceDescription,
        id: c_int,
    }
    struct PJRT_DeviceDescription_ProcessIndex_Args {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        device_description: *mut PJRT_DeviceDescription,
        process_index: c_int,
    }
    struct PJRT_DeviceDescription_Kind_Args {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        device_description: *mut PJRT_DeviceDescription,
        device_kind: *const c_char,
        device_kind_size: usize,
    }
    struct PJRT_DeviceDescription_DebugString_Args {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        device_description: *mut PJRT_DeviceDescription,
        debug_string: *const c_char,
        debug_string_size: usize,
    }
    struct PJRT_DeviceDescription_ToString_Args {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        device_description: *mut PJRT_DeviceDescription,
        to_string: *const c_char,
        to_string_size: usize,
    }
    struct PJRT_Device_GetDescription_Args {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        device: *mut PJRT_Device,
        device_description: *mut PJRT_DeviceDescription,
    }
    struct PJRT_Device_IsAddressable_Args {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        device: *mut PJRT_Device,
        is_addressable: bool,
    }
    struct PJRT_Device_LocalHardwareId_Args {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        device: *mut PJRT_Device,
        local_hardware_id: c_int,
    }
    struct PJRT_Executable_Destroy_Args {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        executable: *mut PJRT_Executable,
    }
    struct PJRT_LoadedExecutable_Destroy_Args {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        executable: *mut PJRT_LoadedExecutable,
    }
    struct PJRT_LoadedExecutable_GetExecutable_Args {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        loaded_executable: *mut PJRT_LoadedExecutable,
        executable: *mut PJRT_Executable,
    }
    struct PJRT_Executable_Name_Args {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        executable: *mut PJRT_Executable,
        executable_name: *const c_char,
        executable_name_size: usize,
    }
    struct PJRT_Executable_NumReplicas_Args {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        executable: *mut PJRT_Executable,
        num_replicas: usize,
    }
    struct PJRT_Executable_NumPartitions_Args {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        executable: *mut PJRT_Executable,
        num_partitions: usize,
    }
    struct PJRT_LoadedExecutable_AddressableDevices_Args {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        executable: *mut PJRT_LoadedExecutable,
        addressable_devices: *const *mut PJRT_Device,
        num_addressable_devices: usize,
    }
    struct PJRT_Executable_OptimizedProgram_Args {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        executable: *mut PJRT_Executable,
        program: *mut PJRT_Program,
    }
    struct PJRT_ExecuteOptions {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        send_callbacks: *mut *mut PJRT_SendCallbackInfo,
        recv_callbacks: *mut *mut PJRT_RecvCallbackInfo,
        num_send_ops: usize,
        num_recv_ops: usize,
        launch_id: c_int,
        non_donatable_input_indices: *const i64,
        num_non_donatable_input_indices: usize,
        context: *mut PJRT_ExecuteContext,
        call_location: *const c_char,
        num_tasks: usize,
        task_ids: *mut c_int,
        incarnation_ids: *mut i64,
    }
    struct PJRT_LoadedExecutable_Execute_Args {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        executable: *mut PJRT_LoadedExecutable,
        options: *mut PJRT_ExecuteOptions,
        argument_lists: *const *const *mut PJRT_Buffer,
        num_devices: usize,
        num_args: usize,
        output_lists: *const *mut *mut PJRT_Buffer,
        device_complete_events: *mut *mut PJRT_Event,
        execute_device: *mut PJRT_Device,
    }
    struct PJRT_Executable_GetCompiledMemoryStats_Args {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        executable: *mut PJRT_Executable,
        generated_code_size_in_bytes: i64,
        argument_size_in_bytes: i64,
        output_size_in_bytes: i64,
        alias_size_in_bytes: i64,
        temp_size_in_bytes: i64,
        host_generated_code_size_in_bytes: i64,
        host_argument_size_in_bytes: i64,
        host_output_size_in_bytes: i64,
        host_alias_size_in_bytes: i64,
        host_temp_size_in_bytes: i64,
        peak_memory_in_bytes: i64,
    }
    struct PJRT_Executable_NumOutputs_Args {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        executable: *mut PJRT_Executable,
        num_outputs: usize,
    }
    struct PJRT_Executable_Fingerprint_Args {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        executable: *mut PJRT_Executable,
        executable_fingerprint: *const c_char,
        executable_fingerprint_size: usize,
    }
    struct PJRT_Executable_OutputElementTypes_Args {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        executable: *mut PJRT_Executable,
        output_types: *mut PJRT_Buffer_Type,
        num_output_types: usize,
    }
    struct PJRT_Executable_OutputDimensions_Args {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        executable: *mut PJRT_Executable,
        num_outputs: usize,
        dims: *const i64,
        dim_sizes: *const usize,
    }
    struct PJRT_Executable_Serialize_Args {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        executable: *const PJRT_Executable,
        serialized_bytes: *const c_char,
        serialized_bytes_size: usize,
        serialized_executable: *mut PJRT_SerializedExecutable,
        serialized_executable_deleter: SerializedExecutableDeleter,
    }
    struct PJRT_Executable_DeserializeAndLoad_Args {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        client: *mut PJRT_Client,
        serialized_executable: *const c_char,
        serialized_executable_size: usize,
        loaded_executable: *mut PJRT_LoadedExecutable,
        overridden_serialized_compile_options: *const c_char,
        overridden_serialized_compile_options_size: usize,
    }
    struct PJRT_Buffer_Destroy_Args {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        buffer: *mut PJRT_Buffer,
    }
    struct PJRT_Buffer_ElementType_Args {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        buffer: *mut PJRT_Buffer,
        type_: PJRT_Buffer_Type,
    }
    struct PJRT_Buffer_Dimensions_Args {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        buffer: *mut PJRT_Buffer,
        dims: *const i64,
        num_dims: usize,
    }
    struct PJRT_Buffer_ToHostBuffer_Args {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        src: *mut PJRT_Buffer,
        host_layout: *mut PJRT_Buffer_MemoryLayout,
        dst: *mut c_void,
        dst_size: usize,
        event: *mut PJRT_Event,
    }
    struct PJRT_Buffer_OnDeviceSizeInBytes_Args {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        buffer: *mut PJRT_Buffer,
        on_device_size_in_bytes: usize,
    }
    struct PJRT_Buffer_Delete_Args {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        buffer: *mut PJRT_Buffer,
    }
    struct PJRT_Buffer_IsDeleted_Args {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        buffer: *mut PJRT_Buffer,
        is_deleted: bool,
    }
    struct PJRT_Buffer_Device_Args {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        buffer: *mut PJRT_Buffer,
        device: *mut PJRT_Device,
    }
    struct PJRT_Buffer_ReadyEvent_Args {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        buffer: *mut PJRT_Buffer,
        event: *mut PJRT_Event,
    }
    /// The function table a plugin's `GetPjrtApi` returns. Entries are in the 0.81 order;
    /// newer plugins append entries after the last one.
    struct PJRT_Api {
        struct_size: usize,
        extension_start: *mut PJRT_Extension_Base,
        pjrt_api_version: PJRT_Api_Version,
        PJRT_Error_Destroy: VoidFn<PJRT_Error_Destroy_Args>,
        PJRT_Error_Message: VoidFn<PJRT_Error_Message_Args>,
        PJRT_Error_GetCode: Fn<PJRT_Error_GetCode_Args>,
        PJRT_Plugin_Initialize: Fn<PJRT_Plugin_Initialize_Args>,
        PJRT_Plugin_Attributes: Fn<PJRT_Plugin_Attributes_Args>,
        PJRT_Event_Destroy: Fn<PJRT_Event_Destroy_Args>,
        PJRT_Event_IsReady: Fn<PJRT_Event_IsReady_Args>,
        PJRT_Event_Error: Fn<PJRT_Event_Error_Args>,
        PJRT_Event_Await: Fn<PJRT_Event_Await_Args>,
        PJRT_Event_OnReady: Unused,
        PJRT_Client_Create: Fn<PJRT_Client_Create_Args>,
        PJRT_Client_Destroy: Fn<PJRT_Client_Destroy_Args>,
        PJRT_Client_PlatformName: Fn<PJRT_Client_PlatformName_Args>,
        PJRT_Client_ProcessIndex: Fn<PJRT_Client_ProcessIndex_Args>,
        PJRT_Client_PlatformVersion: Fn<PJRT_Client_PlatformVersion_Args>,
        PJRT_Client_Devices: Fn<PJRT_Client_Devices_Args>,
        PJRT_Client_AddressableDevices: Fn<PJRT_Client_AddressableDevices_Args>,
        PJRT_Client_LookupDevice: Unused,
        PJRT_Client_LookupAddressableDevice: Unused,
        PJRT_Client_AddressableMemories: Unused,
        PJRT_Client_Compile: Fn<PJRT_Client_Compile_Args>,
        PJRT_Client_DefaultDeviceAssignment: Unused,
        PJRT_Client_BufferFromHostBuffer: Fn<PJRT_Client_BufferFromHostBuffer_Args>,
        PJRT_DeviceDescription_Id: Fn<PJRT_DeviceDescription_Id_Args>,
        PJRT_DeviceDescription_ProcessIndex: Fn<PJRT_DeviceDescription_ProcessIndex_Args>,
        PJRT_DeviceDescription_Attributes: Unused,
        PJRT_DeviceDescription_Kind: Fn<PJRT_DeviceDescription_Kind_Args>,
        PJRT_DeviceDescription_DebugString: Fn<PJRT_DeviceDescription_DebugString_Args>,
        PJRT_DeviceDescription_ToString: Fn<PJRT_DeviceDescription_ToString_Args>,
        PJRT_Device_GetDescription: Fn<PJRT_Device_GetDescription_Args>,
        PJRT_Device_IsAddressable: Fn<PJRT_Device_IsAddressable_Args>,
        PJRT_Device_LocalHardwareId: Fn<PJRT_Device_LocalHardwareId_Args>,
        PJRT_Device_AddressableMemories: Unused,
        PJRT_Device_DefaultMemory: Unused,
        PJRT_Device_MemoryStats: Unused,
        PJRT_Memory_Id: Unused,
        PJRT_Memory_Kind: Unused,
        PJRT_Memory_DebugString: Unused,
        PJRT_Memory_ToString: Unused,
        PJRT_Memory_AddressableByDevices: Unused,
        PJRT_Executable_Destroy: Fn<PJRT_Executable_Destroy_Args>,
        PJRT_Executable_Name: Fn<PJRT_Executable_Name_Args>,
        PJRT_Executable_NumReplicas: Fn<PJRT_Executable_NumReplicas_Args>,
        PJRT_Executable_NumPartitions: Fn<PJRT_Executable_NumPartitions_Args>,
        PJRT_Executable_NumOutputs: Fn<PJRT_Executable_NumOutputs_Args>,
        PJRT_Executable_SizeOfGeneratedCodeInBytes: Unused,
        PJRT_Executable_GetCostAnalysis: Unused,
        PJRT_Executable_OutputMemoryKinds: Unused,
        PJRT_Executable_OptimizedProgram: Fn<PJRT_Executable_OptimizedProgram_Args>,
        PJRT_Executable_Serialize: Fn<PJRT_Executable_Serialize_Args>,
        PJRT_LoadedExecutable_Destroy: Fn<PJRT_LoadedExecutable_Destroy_Args>,
        PJRT_LoadedExecutable_GetExecutable: Fn<PJRT_LoadedExecutable_GetExecutable_Args>,
        PJRT_LoadedExecutable_AddressableDevices: Fn<PJRT_LoadedExecutable_AddressableDevices_Args>,
        PJRT_LoadedExecutable_Delete: Unused,
        PJRT_LoadedExecutable_IsDeleted: Unused,
        PJRT_LoadedExecutable_Execute: Fn<PJRT_LoadedExecutable_Execute_Args>,
        PJRT_Executable_DeserializeAndLoad: Fn<PJRT_Executable_DeserializeAndLoad_Args>,
        PJRT_LoadedExecutable_Fingerprint: Unused,
        PJRT_Buffer_Destroy: Fn<PJRT_Buffer_Destroy_Args>,
        PJRT_Buffer_ElementType: Fn<PJRT_Buffer_ElementType_Args>,
        PJRT_Buffer_Dimensions: Fn<PJRT_Buffer_Dimensions_Args>,
        PJRT_Buffer_UnpaddedDimensions: Unused,
        PJRT_Buffer_DynamicDimensionIndices: Unused,
        PJRT_Buffer_GetMemoryLayout: Unused,
        PJRT_Buffer_OnDeviceSizeInBytes: Fn<PJRT_Buffer_OnDeviceSizeInBytes_Args>,
        PJRT_Buffer_Device: Fn<PJRT_Buffer_Device_Args>,
        PJRT_Buffer_Memory: Unused,
        PJRT_Buffer_Delete: Fn<PJRT_Buffer_Delete_Args>,
        PJRT_Buffer_IsDeleted: Fn<PJRT_Buffer_IsDeleted_Args>,
        PJRT_Buffer_CopyToDevice: Unused,
        PJRT_Buffer_ToHostBuffer: Fn<PJRT_Buffer_ToHostBuffer_Args>,
        PJRT_Buffer_IsOnCpu: Unused,
        PJRT_Buffer_ReadyEvent: Fn<PJRT_Buffer_ReadyEvent_Args>,
        PJRT_Buffer_UnsafePointer: Unused,
        PJRT_Buffer_IncreaseExternalReferenceCount: Unused,
        PJRT_Buffer_DecreaseExternalReferenceCount: Unused,
        PJRT_Buffer_OpaqueDeviceMemoryDataPointer: Unused,
        PJRT_CopyToDeviceStream_Destroy: Unused,
        PJRT_CopyToDeviceStream_AddChunk: Unused,
        PJRT_CopyToDeviceStream_TotalBytes: Unused,
        PJRT_CopyToDeviceStream_GranuleSize: Unused,
        PJRT_CopyToDeviceStream_CurrentBytes: Unused,
        PJRT_TopologyDescription_Create: Unused,
        PJRT_TopologyDescription_Destroy: Unused,
        PJRT_TopologyDescription_PlatformName: Unused,
        PJRT_TopologyDescription_PlatformVersion: Unused,
        PJRT_TopologyDescription_GetDeviceDescriptions: Unused,
        PJRT_TopologyDescription_Serialize: Unused,
        PJRT_TopologyDescription_Attributes: Unused,
        PJRT_Compile: Unused,
        PJRT_Executable_OutputElementTypes: Fn<PJRT_Executable_OutputElementTypes_Args>,
        PJRT_Executable_OutputDimensions: Fn<PJRT_Executable_OutputDimensions_Args>,
        PJRT_Buffer_CopyToMemory: Unused,
        PJRT_Client_CreateViewOfDeviceBuffer: Unused,
        PJRT_Executable_Fingerprint: Fn<PJRT_Executable_Fingerprint_Args>,
        PJRT_Client_TopologyDescription: Unused,
        PJRT_Executable_GetCompiledMemoryStats: Fn<PJRT_Executable_GetCompiledMemoryStats_Args>,
        PJRT_Memory_Kind_Id: Unused,
        PJRT_ExecuteContext_Create: Unused,
        PJRT_ExecuteContext_Destroy: Unused,
        PJRT_Buffer_CopyRawToHost: Unused,
        PJRT_AsyncHostToDeviceTransferManager_Destroy: Unused,
        PJRT_AsyncHostToDeviceTransferManager_TransferData: Unused,
        PJRT_Client_CreateBuffersForAsyncHostToDevice: Unused,
        PJRT_AsyncHostToDeviceTransferManager_RetrieveBuffer: Unused,
        PJRT_AsyncHostToDeviceTransferManager_Device: Unused,
        PJRT_AsyncHostToDeviceTransferManager_BufferCount: Unused,
        PJRT_AsyncHostToDeviceTransferManager_BufferSize: Unused,
        PJRT_AsyncHostToDeviceTransferManager_SetBufferError: Unused,
        PJRT_AsyncHostToDeviceTransferManager_AddMetadata: Unused,
        PJRT_Client_DmaMap: Unused,
        PJRT_Client_DmaUnmap: Unused,
        PJRT_Client_CreateUninitializedBuffer: Unused,
        PJRT_Client_UpdateGlobalProcessInfo: Unused,
        PJRT_TopologyDescription_Deserialize: Unused,
        PJRT_Client_CreateAliasBuffer: Unused,
        PJRT_Client_FulfillAliasBuffer: Unused,
        PJRT_LoadedExecutable_GetDeviceAssignment: Unused,
    }
}

/// The signature of a plugin's exported `GetPjrtApi`.
pub type GetPjrtApiFn = unsafe extern "C" fn() -> *const PJRT_Api;
