//! Training: denoising score-matching loss, optimizers, the compiled training step and loop.

pub mod config;
pub mod engine;
pub mod feed;
pub mod state;
pub mod step;

pub use config::{Config, Feed, TrainConfig};
pub use engine::Engine;
pub use state::TrainState;
