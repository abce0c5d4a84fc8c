//! Output files checked before a command does any work: their directory exists and is
//! writable, none of them is one of the command's inputs (the same path, or the same file
//! through a link), and no two of them are the same file.

use crate::error::{Error, Result};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

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
