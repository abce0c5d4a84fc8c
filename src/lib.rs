//! sbgm-xla: score-based generative models (diffusion models) on XLA, from Rust.
//!
//! Rust builds the XLA programs itself (score networks, losses and their gradients, optimizer
//! updates, whole SDE/ODE solver loops) as StableHLO text, compiles them through the PJRT C API
//! with a plugin (XLA CPU by default, CUDA and TPU plugins where installed) and runs them.
//!
//! Layers, bottom up:
//! - [`pjrt`]: the runtime (plugins, clients, buffers, executables);
//! - [`dist`]: multi-process jobs (process discovery, the key-value store, clients per process);
//! - [`graph`]: tracing, autodiff and StableHLO emission;
//! - [`nn`]: layers and sbgm's score networks;
//! - [`sde`]: VE/VP/SubVP SDEs;
//! - [`train`]: loss, optimizers, the compiled training step;
//! - [`sample`]: samplers and log-likelihoods;
//! - [`model`]: a trained model loaded from a checkpoint or run directory, and its scores,
//!   samples and log-likelihoods;
//! - [`io`]: checkpoints and formats; [`data`]: data sets and plots; [`cli`]: the command line.

pub mod cli;
pub mod data;
pub mod dist;
pub mod dtype;
pub mod error;
pub mod exec;
pub mod graph;
pub mod host;
pub mod io;
pub mod kernels;
pub mod memory;
pub mod model;
pub mod nn;
pub mod pjrt;
pub mod plot;
pub mod sample;
pub mod sde;
pub mod train;

pub use dtype::{DType, Element};
pub use error::{Error, Result};
pub use host::HostArray;

/// The README's code blocks, compiled and run as doctests so that the README stays true.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
