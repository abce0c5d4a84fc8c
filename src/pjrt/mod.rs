//! PJRT runtime: our own binding of the PJRT C API (plugins, clients, buffers, executables).
//! Never imports `graph`.

pub mod api;
pub mod buffer;
pub mod client;
pub mod executable;
pub mod plugin;
pub mod program;
pub(crate) mod proto;
pub mod sys;

pub use api::{Api, ErrorCode, NamedValue};
pub use buffer::Buffer;
pub use client::{Client, ClientOptions, Device};
pub use executable::Executable;
pub use plugin::PluginSpec;
pub use program::{CompileOptions, Program};
pub use proto::ArraySpec;
