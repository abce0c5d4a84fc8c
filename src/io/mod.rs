//! Checkpoints and file formats: `.npy`/`.npz`, Equinox `.eqx` leaves, safetensors, JAX exports.
//!
//! Every writer goes through [`atomic_write`], so a crash never leaves a half-written file.

pub mod atomic;
pub mod npy;
pub mod npz;

pub use atomic::{atomic_write, atomic_write_bytes};
pub use npy::{
    NpyHeader, npy_descr, npy_header_bytes, read_npy, read_npy_header, read_npy_record, write_npy,
    write_npy_record,
};
pub use npz::{read_npz, write_npz};
