//! The library's error type: one enum, in sections, with structured fields.

use std::path::PathBuf;

/// Result with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every error the library returns.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // ---- I/O ----
    /// An I/O error on a named file.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    // ---- graph builder (tracing, autodiff, emission) ----
    /// Two operands whose shapes or element types do not fit together.
    #[error("{op}: operands {lhs} and {rhs} do not fit: {msg}")]
    ShapeMismatch {
        op: &'static str,
        lhs: String,
        rhs: String,
        msg: String,
    },
    /// An op applied to an operand or with arguments it does not accept.
    #[error("{op}: {msg}")]
    InvalidOp { op: &'static str, msg: String },
    /// Differentiation through an op that has no derivative rule.
    #[error("cannot differentiate through {op}: {msg}")]
    NotDifferentiable { op: &'static str, msg: String },

    // ---- anything else, with a message that names the problem and the fix ----
    /// A message that names the problem and, where there is one, the fix.
    #[error("{0}")]
    Msg(String),
}

impl Error {
    /// An error with a message.
    pub fn msg(m: impl Into<String>) -> Self {
        Error::Msg(m.into())
    }
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
