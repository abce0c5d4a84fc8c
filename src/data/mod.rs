//! Data sets (built-in 2-D sets, the 8×8 digits, MNIST IDX files, arrays from `.npy`, `.npz`
//! and `.safetensors`), scaling as sbgm's `Scaler`/`Normer`, held-out splits and metrics.
//!
//! The usual entry point is a [`DataSpec`] (the TOML `[data]` section):
//!
//! ```
//! use sbgm_xla::data::{DataSpec, DatasetKind};
//! let spec = DataSpec::from_toml("dataset = \"moons\"\nn = 1000\nholdout = 0.2\nseed = 3")?;
//! assert_eq!(spec.dataset, DatasetKind::Moons);
//! let data = spec.load()?;
//! assert_eq!(data.train.len(), 800);
//! assert_eq!(data.holdout.len(), 200);
//! // `data.transform` maps model space back to data space.
//! let raw = data.transform.reverse_array(data.train.x());
//! assert_eq!(raw.shape(), &[800, 2]);
//! # Ok::<(), sbgm_xla::Error>(())
//! ```

pub mod augment;
pub mod cifar;
mod dataset;
pub mod digits;
pub mod fields;
pub mod files;
pub mod idx;
pub mod image_cache;
pub mod images;
pub mod mapped;
pub mod metrics;
pub mod prefetch;
mod rng;
pub mod samples;
mod scale;
mod spec;
pub mod toy;

pub use augment::Augment;
pub use dataset::Dataset;
pub use files::{ArrayKeys, load_arrays};
pub use idx::{MnistSplit, mnist, read_idx};
pub use samples::Samples;
pub use scale::{Scaling, Transform};
pub use spec::{
    DEFAULT_CIRCLES_FACTOR, DEFAULT_HOLDOUT, DEFAULT_N, DEFAULT_N_FIELDS, DEFAULT_N_PIX, DataSpec,
    DatasetKind, PreparedData, Split,
};
