//! Tracing graph builder with reverse-mode autodiff, emitting StableHLO text. Never imports `pjrt`.
//!
//! A [`Graph`] records operations on symbolic [`Tensor`]s (static [`Shape`]s); [`grad`],
//! [`vjp`] and [`jvp`] add derivative computations to the same graph; [`Graph::build`] prints
//! a StableHLO [`Module`] with one `func.func public @main`.
//!
//! ```
//! use sbgm_xla::graph::{Graph, grad};
//! use sbgm_xla::DType;
//! let g = Graph::new();
//! let w = g.parameter("w", &[4, 3], DType::F32)?;
//! let x = g.parameter("x", &[8, 4], DType::F32)?;
//! let loss = x.matmul(&w)?.tanh()?.sqr()?.mean_all()?;
//! let dw = grad(&loss, &[&w])?;
//! let m = g.build("step", &[("loss", &loss), ("dw", &dw[0])])?;
//! assert!(m.text.contains("func.func public @main"));
//! # Ok::<(), sbgm_xla::Error>(())
//! ```

pub mod autodiff;
mod builder;
pub mod composite;
pub mod emit;
pub mod op;
pub mod prims;
pub mod shape;
mod tensor;

pub use autodiff::{grad, jvp, value_and_grad, vjp};
pub use builder::{Graph, GraphOptions};
pub use emit::{BuildOptions, Module};
pub use op::{BinaryOp, CmpOp, ConvSpec, DotDims, MatmulPrecision, ReduceOp, UnaryOp, WindowSpec};
pub use prims::control::Function;
pub use prims::random::{Rng, seed_key};
pub use shape::Shape;
pub use tensor::Tensor;
