//! Checkpoints and file formats: `.npy`/`.npz`, Equinox `.eqx` leaves, safetensors, JAX exports.
//!
//! Every writer goes through [`atomic_write`], so a crash never leaves a half-written file.

pub mod atomic;
pub mod bounded;
pub mod checkpoint;
pub mod eqx;
pub mod export;
pub mod inspect;
pub mod lock;
pub mod npy;
pub mod npz;
pub mod outputs;

pub use atomic::{atomic_write, atomic_write_bytes, remove_stale_temps};
pub use checkpoint::{
    Checkpoint, SafetensorsEntry, checkpoint_from_bytes, checkpoint_to_bytes, eqx_to_safetensors,
    load_checkpoint, parse_safetensors_header, safetensors_dtype, safetensors_to_eqx,
    save_checkpoint, tensor_name,
};
pub use eqx::{
    LeafKind, LeafSpec, check_leaves, read_eqx, read_eqx_records, skeleton_from_json,
    skeleton_to_json, write_eqx, write_eqx_checked,
};
pub use export::{
    Aval, Dim, ExportedArtifact, ModuleArg, ModuleFormat, ModuleResult, Program,
    detect_module_format, read_exported, read_program,
};
pub use inspect::{FileFormat, Report, TensorEntry, inspect};
pub use lock::DirLock;
pub use npy::{
    NpyHeader, dtype_from_numpy_name, npy_descr, npy_header_bytes, numpy_name, read_npy,
    read_npy_header, read_npy_record, write_npy, write_npy_record,
};
pub use npz::{NpzArchive, read_npz, write_npz};
