//! Training: denoising score-matching loss, optimizers, the compiled training step and loop.

pub mod config;
pub mod engine;
pub mod feed;
pub mod opt_bridge;
pub mod run;
pub mod sampler;
pub mod state;
pub mod step;

pub use config::{Config, Feed, TrainConfig};
pub use engine::Engine;
pub use run::{RunOptions, RunSummary, Setup, run};
pub use state::TrainState;
