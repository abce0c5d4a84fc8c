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

    // ---- anything else, with a message that names the problem and the fix ----
    /// A message that names the problem and, where there is one, the fix.
    #[error("{0}")]
    Msg(String),

    // ---- file formats (io) ----
    /// A file that is not valid in its format (bad header, truncated data, unsupported dtype,
    /// a leaf that does not match the model, ...); `path` names the file.
    #[error("{path}: {msg}")]
    Format { path: PathBuf, msg: String },
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

// ---- file formats (io) ----
impl Error {
    /// A format error in the file at `path`.
    pub fn format(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        Error::Format {
            path: path.into(),
            msg: msg.into(),
        }
    }

    /// This error with the file `path` attached: an [`Error::Msg`] becomes an
    /// [`Error::Format`] naming the file; errors that already name a file are kept.
    pub fn in_file(self, path: impl Into<PathBuf>) -> Self {
        match self {
            Error::Msg(msg) => Error::Format {
                path: path.into(),
                msg,
            },
            other => other,
        }
    }
}
