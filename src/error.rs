//! The library's error type: one enum, in sections, with structured fields.

use std::path::PathBuf;

/// Result with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every error the library returns.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // ---- I/O ----
    /// An I/O error on a named file. Its text includes the cause's, which is also its
    /// `source()`; the command line prints such a chain with each cause once.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    // ---- PJRT runtime (src/pjrt) ----
    /// A PJRT call failed; `code` and `message` are the plugin's.
    #[error("{function} failed ({code}): {message}")]
    Pjrt {
        function: &'static str,
        code: ErrorCode,
        message: String,
    },
    /// No PJRT plugin could be found (the message says where we looked and how to install one).
    #[error("{0}")]
    PluginNotFound(String),
    /// A file that is not a usable PJRT plugin.
    #[error("{path}: not a PJRT plugin: {reason}")]
    NotAPlugin { path: PathBuf, reason: String },
    /// A plugin whose PJRT C API version this build cannot use.
    #[error(
        "{path}: the plugin implements PJRT C API {major}.{minor}, but sbgm-xla needs {need_major}.{need_minor} or a newer 0.x; install a newer plugin (`sbgm-xla plugin install cpu`)"
    )]
    PluginVersion {
        path: PathBuf,
        major: i32,
        minor: i32,
        need_major: i32,
        need_minor: i32,
    },
    /// A PJRT function that this plugin does not provide.
    #[error("{function} is not available in the PJRT plugin {plugin}")]
    Unsupported {
        function: &'static str,
        plugin: String,
    },
    /// Installing a plugin failed.
    #[error("installing the PJRT plugin failed: {0}")]
    PluginInstall(String),
    /// The plugin could not compile a program (parser or compiler message, and which
    /// StableHLO versions the plugin accepts).
    #[error("compiling the program failed: {message}\n{versions}")]
    Compile { message: String, versions: String },
    /// Arguments that do not match what an executable expects (count, dtype, shape, device).
    #[error("{0}")]
    BadArgument(String),
    /// A program that needs more devices than the client has.
    #[error(
        "the program needs {needed} devices ({replicas} replicas x {partitions} partitions) but the client has {available}; use fewer partitions or create the client with more devices (CPU: `cpu_device_count`, `--cpu-devices N`)"
    )]
    NotEnoughDevices {
        needed: usize,
        replicas: usize,
        partitions: usize,
        available: usize,
    },

    // ---- multi-process jobs (src/dist) ----
    /// A multi-process job that cannot start or go on: an unreachable coordinator, a process
    /// set that does not fit together, a key-value store timeout, a peer that died. `code`
    /// says which kind (`NOT_FOUND`, `DEADLINE_EXCEEDED`, `ALREADY_EXISTS`, `UNAVAILABLE`,
    /// `ABORTED` for a dead peer, `INVALID_ARGUMENT`); the message names the process and the fix.
    #[error("{msg}")]
    Distributed { code: ErrorCode, msg: String },

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

    // ---- configuration (TOML sections, model and sampler settings) ----
    /// A configuration value that is missing, of the wrong type, out of range or not one of
    /// the allowed values: names the section and key, what is wrong, and the fix.
    #[error("[{section}] {key}: {msg}")]
    Config {
        section: String,
        key: String,
        msg: String,
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

// ---- multi-process jobs ----
impl Error {
    /// A multi-process error of kind `code`.
    pub fn distributed(code: ErrorCode, msg: impl Into<String>) -> Self {
        Error::Distributed {
            code,
            msg: msg.into(),
        }
    }
}

// ---- configuration ----
impl Error {
    /// A bad value for `key` in the config section `section` (e.g. `model`, `train`).
    pub fn config(
        section: impl Into<String>,
        key: impl Into<String>,
        msg: impl Into<String>,
    ) -> Self {
        Error::Config {
            section: section.into(),
            key: key.into(),
            msg: msg.into(),
        }
    }

    /// `key` in `section` set to `got`, which is not one of `allowed`.
    pub fn config_choice(
        section: impl Into<String>,
        key: impl Into<String>,
        got: &str,
        allowed: &[&str],
    ) -> Self {
        let allowed: Vec<String> = allowed.iter().map(|a| format!("\"{a}\"")).collect();
        Error::config(
            section,
            key,
            format!("\"{got}\" is not one of {}", allowed.join(", ")),
        )
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

/// A PJRT status code (the C API's `PJRT_Error_Code`), kept here so that this module
/// depends on nothing above it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    Cancelled,
    Unknown,
    InvalidArgument,
    DeadlineExceeded,
    NotFound,
    AlreadyExists,
    PermissionDenied,
    ResourceExhausted,
    FailedPrecondition,
    Aborted,
    OutOfRange,
    Unimplemented,
    Internal,
    Unavailable,
    DataLoss,
    Unauthenticated,
    /// A code this build does not know.
    Other(i32),
}

impl ErrorCode {
    /// The code for the C API's integer `PJRT_Error_Code`.
    pub fn from_raw(code: i32) -> Self {
        use ErrorCode::*;
        match code {
            1 => Cancelled,
            2 => Unknown,
            3 => InvalidArgument,
            4 => DeadlineExceeded,
            5 => NotFound,
            6 => AlreadyExists,
            7 => PermissionDenied,
            8 => ResourceExhausted,
            9 => FailedPrecondition,
            10 => Aborted,
            11 => OutOfRange,
            12 => Unimplemented,
            13 => Internal,
            14 => Unavailable,
            15 => DataLoss,
            16 => Unauthenticated,
            c => Other(c),
        }
    }
}

impl ErrorCode {
    /// The C API's integer for this code (`Unknown` for codes this build does not know).
    pub fn to_raw(self) -> i32 {
        use ErrorCode::*;
        match self {
            Cancelled => 1,
            Unknown => 2,
            InvalidArgument => 3,
            DeadlineExceeded => 4,
            NotFound => 5,
            AlreadyExists => 6,
            PermissionDenied => 7,
            ResourceExhausted => 8,
            FailedPrecondition => 9,
            Aborted => 10,
            OutOfRange => 11,
            Unimplemented => 12,
            Internal => 13,
            Unavailable => 14,
            DataLoss => 15,
            Unauthenticated => 16,
            Other(c) => c,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ErrorCode::Other(c) => write!(f, "code {c}"),
            c => {
                // InvalidArgument -> INVALID_ARGUMENT, as the C API spells the codes.
                let mut out = String::new();
                for (i, ch) in format!("{c:?}").chars().enumerate() {
                    if ch.is_ascii_uppercase() && i > 0 {
                        out.push('_');
                    }
                    out.push(ch.to_ascii_uppercase());
                }
                f.write_str(&out)
            }
        }
    }
}
