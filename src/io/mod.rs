//! Checkpoints and file formats: `.npy`/`.npz`, Equinox `.eqx` leaves, safetensors, JAX exports.
