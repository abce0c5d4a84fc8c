//! What the commands write, and how: lines on stdout that survive a closed stdout (`sbgm-xla
//! sample ... | head`: no reader is not an error, the files are still written), the error
//! line on stderr (each cause once), and output files checked before any work is done (their
//! directory exists and is writable, none of them is one of the command's inputs, none looks
//! like a model checkpoint unless asked).

use crate::error::{Error, Result};
use clap::Args;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// `println!` for the commands' reports: a closed stdout (broken pipe) is ignored and the
/// command goes on (see [`print_line`]).
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cli::output::print_line(format_args!($($arg)*))
    };
}
pub(crate) use outln;

/// Whether a failure to write stdout (other than a broken pipe) was reported already.
static STDOUT_FAILED: AtomicBool = AtomicBool::new(false);

/// Writes one line on stdout. A reader that went away (broken pipe) is not an error: the line
/// is dropped and the command carries on, so its files are still written. Any other write
/// error is reported once on stderr as a warning, and the command carries on too.
pub fn print_line(args: std::fmt::Arguments) {
    let mut out = std::io::stdout().lock();
    let written = out.write_fmt(args).and_then(|()| out.write_all(b"\n"));
    if let Err(e) = written
        && e.kind() != std::io::ErrorKind::BrokenPipe
        && !STDOUT_FAILED.swap(true, Ordering::Relaxed)
    {
        eprintln!("warning: writing to stdout failed ({e}); the rest of the report is not shown");
    }
}

/// The text of an error and its causes, joined by `: ` as anyhow's `{:#}` does, without the
/// causes whose text is already there (an I/O error shown by the error that wraps it would
/// otherwise print twice, `(os error 2): ... (os error 2)`).
pub fn error_text(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

/// The option that lets `sample`, `loglik` and `score` write an output named like a model
/// checkpoint.
#[derive(Debug, Clone, Args)]
pub struct CheckpointExtensionArg {
    /// Allow --out to end in .safetensors or .eqx, the extensions of model checkpoints (refused
    /// by default, so that a slip cannot write results over a model).
    #[arg(long)]
    pub allow_checkpoint_extension: bool,
}

/// The extensions of model checkpoint files.
const CHECKPOINT_EXTENSIONS: [&str; 2] = ["safetensors", "eqx"];

impl CheckpointExtensionArg {
    /// Refuses an output of `command` (named by `flag`) whose extension is a checkpoint's,
    /// unless `--allow-checkpoint-extension` was given.
    pub fn check(&self, command: &str, flag: &str, path: &Path) -> Result<()> {
        let Some(ext) = path.extension().and_then(|e| e.to_str()) else {
            return Ok(());
        };
        if self.allow_checkpoint_extension || !CHECKPOINT_EXTENSIONS.contains(&ext) {
            return Ok(());
        }
        Err(Error::BadArgument(format!(
            "{flag} {}: .{ext} is the extension of model checkpoints, and `{command}` does not \
             write its results under such a name unless asked, so that a slip cannot replace a \
             model; write a .npy file, or add --allow-checkpoint-extension to write this one",
            path.display()
        )))
    }
}

/// A file a command reads or writes, with the option that names it (`--out`, `--x`, ...).
#[derive(Clone, Debug)]
pub struct NamedPath {
    /// The option (or argument) naming the file, for messages.
    pub flag: String,
    /// The file.
    pub path: PathBuf,
}

impl NamedPath {
    /// `path`, named by `flag`.
    pub fn new(flag: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        NamedPath {
            flag: flag.into(),
            path: path.into(),
        }
    }

    /// Each of `paths` (optional arguments) that is given, named by its flag.
    pub fn given<'a>(paths: impl IntoIterator<Item = (&'a str, Option<&'a Path>)>) -> Vec<Self> {
        paths
            .into_iter()
            .filter_map(|(flag, p)| p.map(|p| NamedPath::new(flag, p)))
            .collect()
    }

    fn describe(&self) -> String {
        format!("{} {}", self.flag, self.path.display())
    }
}

/// Checks, before any work, that every output can be written and that writing it loses
/// nothing: its directory exists and is writable, it is not a directory, it is not one of the
/// `inputs` (same path after resolving links, or the same file through a hard link) and no two
/// outputs are the same file.
pub fn check_outputs(inputs: &[NamedPath], outputs: &[NamedPath]) -> Result<()> {
    for (i, out) in outputs.iter().enumerate() {
        check_writable(out)?;
        if let Some(input) = inputs
            .iter()
            .find(|input| same_file(&out.path, &input.path))
        {
            return Err(Error::BadArgument(format!(
                "{} is the same file as the input {}: writing it would destroy the input; \
                 choose another output name",
                out.describe(),
                input.describe()
            )));
        }
        if let Some(other) = outputs[..i].iter().find(|o| same_file(&out.path, &o.path)) {
            return Err(Error::BadArgument(format!(
                "{} and {} are the same file: one would overwrite the other; give them \
                 different names",
                other.describe(),
                out.describe()
            )));
        }
    }
    Ok(())
}

/// Checks that the output file `out` can be created or replaced: not a directory, in an
/// existing writable directory, and not a read-only file.
fn check_writable(out: &NamedPath) -> Result<()> {
    let path = &out.path;
    if path.is_dir() {
        return Err(Error::BadArgument(format!(
            "{} is a directory; give a file name",
            out.describe()
        )));
    }
    let dir = parent_dir(path);
    check_dir_writable(&out.flag, path, &dir)?;
    if path.exists() {
        access_writable(path).map_err(|e| {
            Error::BadArgument(format!(
                "{}: the file exists and cannot be replaced ({e}); make it writable or choose \
                 another name",
                out.describe()
            ))
        })?;
    }
    Ok(())
}

/// Checks that the directory `dir` (where `flag`'s `path` goes) exists and is writable.
fn check_dir_writable(flag: &str, path: &Path, dir: &Path) -> Result<()> {
    if !dir.exists() {
        return Err(Error::BadArgument(format!(
            "{flag} {}: the directory {} does not exist; create it first (mkdir -p {})",
            path.display(),
            dir.display(),
            dir.display()
        )));
    }
    if !dir.is_dir() {
        return Err(Error::BadArgument(format!(
            "{flag} {}: {} is not a directory",
            path.display(),
            dir.display()
        )));
    }
    access_writable(dir).map_err(|e| {
        Error::BadArgument(format!(
            "{flag} {}: cannot write in the directory {} ({e}); choose a writable directory",
            path.display(),
            dir.display()
        ))
    })
}

/// Checks, before any work, that the directory `dir` can hold new files: it is a writable
/// directory, or it does not exist yet and its nearest existing ancestor is one (the command
/// creates it).
pub fn check_output_dir(flag: &str, dir: &Path) -> Result<()> {
    let mut existing = dir.to_path_buf();
    while !existing.exists() {
        existing = parent_dir(&existing);
    }
    if !existing.is_dir() {
        return Err(Error::BadArgument(format!(
            "{flag} {}: {} is not a directory",
            dir.display(),
            existing.display()
        )));
    }
    check_dir_writable(flag, dir, &existing)
}

/// The directory a path lies in (`.` for a bare file name).
fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Whether this process may write `path` (`access(2)` with `W_OK`; for a directory also
/// `X_OK`, to create files in it).
fn access_writable(path: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    let mode = if path.is_dir() {
        libc::W_OK | libc::X_OK
    } else {
        libc::W_OK
    };
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call.
    if unsafe { libc::access(c.as_ptr(), mode) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Whether `a` and `b` are the same file: the same path once links and `..` are resolved (the
/// file itself need not exist yet, its directory must), or the same device and inode (hard
/// links).
pub fn same_file(a: &Path, b: &Path) -> bool {
    if let (Some(a), Some(b)) = (canonical(a), canonical(b))
        && a == b
    {
        return true;
    }
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// The canonical path of `p`, or of its directory joined with its file name when `p` does not
/// exist yet.
fn canonical(p: &Path) -> Option<PathBuf> {
    std::fs::canonicalize(p).ok().or_else(|| {
        let dir = std::fs::canonicalize(parent_dir(p)).ok()?;
        Some(dir.join(p.file_name()?))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_text_shows_each_cause_once() {
        let io = std::io::Error::from_raw_os_error(2);
        let e = anyhow::Error::new(Error::io("/no/such.npy", io)).context("writing /no/such.npy");
        let text = error_text(&e);
        assert_eq!(text.matches("(os error 2)").count(), 1, "{text}");
        assert!(
            text.starts_with("writing /no/such.npy: /no/such.npy: "),
            "{text}"
        );
        let e = anyhow::anyhow!("inner").context("outer");
        assert_eq!(error_text(&e), "outer: inner");
    }

    #[test]
    fn same_file_sees_links_and_missing_files() {
        let tmp = tempfile::tempdir().unwrap();
        let a = tmp.path().join("a.npy");
        std::fs::write(&a, b"x").unwrap();
        let hard = tmp.path().join("hard.npy");
        std::fs::hard_link(&a, &hard).unwrap();
        let dotted = tmp.path().join(".").join("a.npy");
        assert!(same_file(&a, &hard));
        assert!(same_file(&a, &dotted));
        assert!(!same_file(&a, &tmp.path().join("b.npy")));
        assert!(same_file(
            &tmp.path().join("new.npy"),
            &tmp.path().join("./new.npy")
        ));
    }
}
