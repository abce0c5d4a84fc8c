//! Training: denoising score-matching loss, optimizers, the compiled training step and loop.
//!
//! - [`optim`]: Adam, AdamW, AdaBelief (optax semantics), global-norm clipping, the
//!   optimizer's `[train]` keys ([`OptimConfig`]) and the optimizer bound to a model;
//! - [`schedule`]: learning-rate schedules;
//! - [`ema`]: the EMA of the parameters (sbgm's `apply_ema`);
//! - [`loss`]: sbgm's denoising score-matching loss, stratified time sampling and
//!   conditioning dropout;
//! - [`config`]: the TOML config (`[sde]`, `[model]`, `[data]`, `[train]`);
//! - [`mesh`]: the device mesh (`data` × `fsdp` axes) and how the state is split on it;
//! - [`step`]: the compiled K-step training program (SPMD over the mesh);
//! - [`engine`]: that program on a PJRT client with the state resident on the devices;
//! - [`gather`]: whole copies of the leaves split over the mesh (an SPMD all-gather program);
//! - [`setup`]: what a run builds from its config (data, model, SDE, optimizer, state);
//! - [`run`](mod@run): the training run behind `sbgm-xla train` (checkpoints, resume);
//! - [`metrics`]: `metrics.jsonl` and the loss curve;
//! - [`periodic`]: the held-out loss and the sample plots of a run;
//! - [`sampler`]: the sampler of those plots (at the training's matmul precision);
//! - [`run_dir`]: the run directory (locked, taken over after an early stop);
//! - [`roles`]: what each process of a multi-process run does (process 0 writes);
//! - [`budget`]: the memory a run needs, checked before it is allocated;
//! - [`interrupt`]: Ctrl-C and SIGTERM.

pub mod budget;
pub mod config;
pub mod ema;
pub mod engine;
pub mod feed;
pub mod gather;
pub mod interrupt;
pub mod loss;
pub mod mesh;
pub mod metrics;
pub mod optim;
pub mod periodic;
pub mod roles;
pub mod run;
pub mod run_dir;
pub mod sampler;
pub mod schedule;
pub mod setup;
pub mod state;
pub mod step;

pub use config::{Config, Feed, NullSpec, TrainConfig};
pub use ema::{DEFAULT_EMA_RATE, EMA_PREFIX, ema_name, ema_update};
pub use engine::Engine;
pub use loss::{
    DsmTerms, LossWeight, TimeSampling, drop_conditioning, dsm_loss, dsm_terms, sample_time,
    sample_time_importance,
};
pub use optim::{
    BoundOptimizer, OptStep, OptimConfig, Optimizer, OptimizerKind, STATE_PREFIX, ScheduleKind,
    TensorSpec, clip_by_global_norm, global_norm,
};
pub use run::{RunOptions, RunSummary, Setup, run};
pub use schedule::{Schedule, WarmupCosine};
pub use state::TrainState;
