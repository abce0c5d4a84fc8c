//! Neural-network layers and sbgm's score networks, named by their Equinox leaf paths.
//!
//! A model *is* its parameter tree: each layer and network is a struct whose fields are its
//! leaves, built by one function that names every leaf once ([`tree`]). Built with
//! [`tree::Spec`], [`ScoreNet::leaves`] lists every leaf in Equinox's
//! `tree_flatten_with_path` order (Python scalar fields included), so `.eqx` files map one to
//! one ([`ScoreNet::skeleton`] for [`crate::io::read_eqx`]). Parameters are traced as
//! [`Params`] (path -> [`Tensor`](crate::graph::Tensor)); [`ScoreNet::apply`] builds the tree
//! from them with [`tree::Trace`] and computes the batched score `s(t, x, q, a)`.
//!
//! ```
//! use sbgm_xla::graph::Graph;
//! use sbgm_xla::nn::{ApplyMode, ModelConfig, Params};
//! use sbgm_xla::DType;
//! let net = ModelConfig::from_toml("kind = \"mlp\"\nwidth_size = 16\ndepth = 2\nin_size = 2")?
//!     .build()?;
//! let g = Graph::new();
//! let params = Params::declare(&g, &net.skeleton(), "")?;
//! let t = g.parameter("t", &[5], DType::F32)?;
//! let x = g.parameter("x", &[5, 2], DType::F32)?;
//! let s = net.apply(&params, &t, &x, None, None, &ApplyMode::Inference)?;
//! assert_eq!(s.dims(), &[5, 2]);
//! # Ok::<(), sbgm_xla::Error>(())
//! ```

pub mod config;
pub mod dit;
mod inputs;
pub mod layers;
pub mod mixer;
pub mod mlp;
pub mod module;
pub mod tree;
pub mod unet;

pub use config::{DitConfig, MixerConfig, MlpConfig, ModelConfig, PerStage, UnetConfig, build};
pub use dit::DiT;
pub use layers::Activation;
pub use mixer::Mixer2d;
pub use mlp::ResidualNetwork;
pub use module::{
    ApplyMode, Init, Inputs, Leaf, Model, NetShapes, Params, ScoreNet, array_values, init_leaves,
    join, n_params, time_column,
};
pub use unet::UNet;
