//! Exclusive advisory locks on directories, held for a process's life.
//!
//! The lock is an OS file lock (`flock`) on a file in the directory, which also records the
//! holder's PID for the message a second process gets. The kernel releases it when the holder
//! exits in any way (SIGKILL included), so a stale lock file never blocks anyone.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The lock file's name inside a locked directory.
pub const LOCK_FILE: &str = ".sbgm-xla.lock";

/// A held lock on a directory; released when dropped.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
    path: PathBuf,
}

impl DirLock {
    /// Takes the lock of `dir` (which must exist) without waiting; `what` says what the
    /// directory is, for the error when another process holds it.
    pub fn acquire(dir: &Path, what: &str) -> Result<DirLock> {
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(Error::msg(format!(
                    "{what} {} is in use by another sbgm-xla process ({}); wait for it to end or \
                     stop it, or choose another directory (nothing was changed)",
                    dir.display(),
                    if holder.is_empty() {
                        "its PID is not recorded yet".to_string()
                    } else {
                        format!("PID {holder}")
                    }
                )));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(&path, e)),
        }
        // Record the holder (best effort: the lock itself is what excludes others).
        let _ = file.set_len(0);
        let _ = file.rewind();
        let _ = writeln!(file, "{}", std::process::id());
        let _ = file.flush();
        Ok(DirLock { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_naming_the_holder_and_freed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let first = DirLock::acquire(dir.path(), "the run directory").unwrap();
        let e = DirLock::acquire(dir.path(), "the run directory")
            .unwrap_err()
            .to_string();
        assert!(e.contains(&format!("PID {}", std::process::id())), "{e}");
        assert!(e.contains("in use"), "{e}");
        drop(first);
        DirLock::acquire(dir.path(), "the run directory").unwrap();
    }
}
