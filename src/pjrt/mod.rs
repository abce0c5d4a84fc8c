//! PJRT runtime: our own binding of the PJRT C API (plugins, clients, buffers, executables).
//! Never imports `graph`.

pub mod plugin;
pub mod sys;
