//! The primitives, by family. Each file holds, for its ops: the traced method (shape rule),
//! the StableHLO lowering and the derivative rules (VJP and JVP); [`literal`] writes the
//! constants of all of them.

pub mod control;
pub mod conv;
pub mod elementwise;
pub mod gather;
pub mod layout;
pub mod linalg;
pub mod literal;
pub mod random;
pub mod reduce;
