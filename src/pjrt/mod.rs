//! PJRT runtime: our own binding of the PJRT C API (plugins, clients, buffers, executables).
//! Never imports `graph`.
//!
//! # The API the rest of sbgm-xla uses
//!
//! - [`Client`] (cheap to clone; buffers and executables keep it alive):
//!   - [`Client::cpu()`] -> `Result<Client>`: the default CPU plugin, found on the machine or
//!     installed into the cache on first use ([`plugin`]); the plugin is loaded once per process.
//!   - [`Client::open`]`(&PluginSpec, &ClientOptions)`: a plugin by path or platform name
//!     (`cpu`, `cuda`, `tpu`; [`PluginSpec::Default`] honours `SBGM_XLA_PLUGIN`), with create
//!     options ([`ClientOptions::cpu_device_count`], a named int64 for the CPU plugin).
//!   - `platform_name()`, `platform_version()`, `devices()`, `addressable_devices()`,
//!     `device_count()`, `plugin()` (the loaded [`Api`]: path, C API version, attributes,
//!     `stablehlo_versions()`).
//!   - [`Client::compile`]`(&Program, &CompileOptions) -> Result<Executable>`;
//!     [`Client::deserialize`]`(&[u8])`.
//!   - [`Client::buffer_from_host`]`(&HostArray, device_index) -> Result<Buffer>` (device index
//!     into `addressable_devices()`); `buffer_from_ndarray`.
//! - [`Program`]: `Program::text(mlir)`, `Program::from_bytes(bytes)` (bytecode detected by its
//!   magic), `Program::from_file(path)`.
//! - [`CompileOptions`]: `num_replicas`, `num_partitions`, `use_spmd_partitioning`,
//!   `use_shardy_partitioner`, `device_assignment` (`[replica][partition]` device indices). Unset
//!   fields come from the module (`mhlo.num_partitions`, `mhlo.num_replicas`, `sdy` shardings) or
//!   default to one device. Options are always sent (empty ones abort the CPU plugin); more
//!   devices than the client has is an [`Error::NotEnoughDevices`](crate::Error) before compiling.
//! - [`Buffer`]: `to_host() -> Result<HostArray>`, `to_ndarray::<T>()`, `dtype()`, `dims()`,
//!   `device_index()`, `is_deleted()`, `block_until_ready()`.
//! - [`Executable`]: `parameters()` (per-device types and shapes), `outputs()`, `devices()`,
//!   `num_partitions()`, `num_replicas()`;
//!   [`Executable::execute`]`(&[Vec<&Buffer>]) -> Result<Vec<Vec<Buffer>>>` (one argument list
//!   per device of `devices()`, one output list per device back);
//!   [`Executable::execute_donating`] (donate the arguments at some positions);
//!   [`Executable::run_host`]`(&[HostArray]) -> Result<Vec<HostArray>>` for single-device
//!   programs; `serialize()`. Argument count, dtype, shape, device and client are checked on our
//!   side before the plugin sees them ([`Error::BadArgument`](crate::Error)).
//!
//! - [`ffi`]: host functions that programs call as typed FFI custom calls
//!   (`Api::register_ffi_handler`, through the plugin's FFI extension), the call frame a
//!   handler reads ([`ffi::CallFrame`]: buffers, integer attributes, XLA's thread pool) and
//!   [`ffi::dispatch`], which answers XLA's metadata query and returns errors instead of
//!   aborting. The kernels themselves live in [`crate::kernels`].
//!
//! Errors from the plugin come back as [`Error::Pjrt`](crate::Error) (function, code, message),
//! compile failures as [`Error::Compile`](crate::Error) (the parser's message and the StableHLO
//! versions the plugin accepts). Every PJRT object is destroyed exactly once ([`live_objects`]
//! counts them).
//!
//! ```
//! use sbgm_xla::HostArray;
//! use sbgm_xla::pjrt::{Client, CompileOptions, Program};
//!
//! let client = Client::cpu()?;
//! let program = Program::text(
//!     "module @double {
//!        func.func public @main(%x: tensor<3xf32>) -> tensor<3xf32> {
//!          %0 = stablehlo.add %x, %x : tensor<3xf32>
//!          return %0 : tensor<3xf32>
//!        }
//!      }",
//! );
//! let exe = client.compile(&program, &CompileOptions::default())?;
//! let x = HostArray::from_vec(vec![3], vec![1f32, 2.0, 3.0])?;
//! let y = exe.run_host(&[x])?;
//! assert_eq!(y[0].to_vec::<f32>()?, vec![2.0, 4.0, 6.0]);
//! # Ok::<(), sbgm_xla::Error>(())
//! ```
//!
//! Several processes (one per host or GPU): [`ClientOptions::distributed`] gives the plugin
//! `node_id`, `num_nodes` and a [`KeyValueStore`] through the key-value callbacks ([`kv`]);
//! programs are then compiled over the global devices ([`assignment`]) and executed on the
//! addressable ones. [`crate::dist`] finds the process set and serves the store.
//!
//! Files: [`sys`] (the raw C definitions, API 0.81), [`api`] (loading, the call helper,
//! errors), [`client`], [`buffer`], [`program`], [`bytecode`] (MLIR bytecode framing), [`executable`], [`plugin`] (discovery and trust), [`install`] (installing
//! pinned plugins), [`live`] (object counts), [`kv`] (key-value callbacks), [`assignment`]
//! (global device assignments); `proto` encodes/decodes the protobufs we exchange.

pub mod api;
pub mod assignment;
pub mod buffer;
pub mod bytecode;
pub mod client;
pub mod executable;
pub mod ffi;
pub mod install;
pub mod kv;
pub mod live;
pub mod plugin;
pub mod program;
pub(crate) mod proto;
pub mod sys;

pub use api::{Api, ErrorCode, NamedValue};
pub use buffer::Buffer;
pub use client::{Client, ClientOptions, Device};
pub use executable::{Executable, MemoryStats};
pub use kv::{Distributed, KeyValueStore};
pub use live::{LiveObjects, live_objects};
pub use plugin::PluginSpec;
pub use program::{CompileOptions, Program};
pub use proto::ArraySpec;
