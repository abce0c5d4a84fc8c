//! Atomic file writes: write a temporary file next to the target, then rename it into place.

use crate::error::{Error, Result};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `path` atomically: `write` fills a temporary file in the same directory, which is
/// flushed, synced and renamed over `path` only when `write` succeeds. Readers never see a
/// half-written file, and on any error the temporary file is removed and `path` is untouched.
///
/// Every writer of the project goes through this function.
///
/// ```
/// # fn main() -> sbgm_xla::Result<()> {
/// use std::io::Write;
/// let dir = std::env::temp_dir().join(format!("sbgm-xla-doc-atomic-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("hello.txt");
/// sbgm_xla::io::atomic_write(&path, |w| {
///     w.write_all(b"hello").map_err(|e| sbgm_xla::Error::io(&path, e))
/// })?;
/// assert_eq!(std::fs::read(&path).unwrap(), b"hello");
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok(())
/// # }
/// ```
pub fn atomic_write<F>(path: &Path, write: F) -> Result<()>
where
    F: FnOnce(&mut BufWriter<File>) -> Result<()>,
{
    let tmp = temp_path(path)?;
    let file = File::create(&tmp).map_err(|e| Error::io(path, e))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let result = write(&mut w).and_then(|()| {
        let file = w
            .into_inner()
            .map_err(|e| Error::io(&tmp, e.into_error()))?;
        file.sync_all().map_err(|e| Error::io(&tmp, e))?;
        drop(file);
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    });
    if result.is_err() {
        // Best effort: the temporary file is ours and useless now.
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Writes `bytes` to `path` atomically.
pub fn atomic_write_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    atomic_write(path, |w| w.write_all(bytes).map_err(|e| Error::io(path, e)))
}

/// A fresh temporary name in the directory of `path`: `.NAME.tmp-PID-N`.
fn temp_path(path: &Path) -> Result<PathBuf> {
    let name = path.file_name().ok_or_else(|| {
        Error::msg(format!(
            "cannot write to {}: the path names no file",
            path.display()
        ))
    })?;
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp_name = format!(".{}.tmp-{}-{n}", name.to_string_lossy(), std::process::id());
    Ok(path.with_file_name(tmp_name))
}

/// Removes the temporary files that writers killed mid-write left in `dir` (names
/// `.NAME.tmp-PID-N` whose process no longer runs; those of live processes are kept) and
/// returns their paths.
pub fn remove_stale_temps(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return vec![];
    };
    let mut removed = vec![];
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = temp_owner(&name) else {
            continue;
        };
        if !process_alive(pid) && std::fs::remove_file(e.path()).is_ok() {
            removed.push(e.path());
        }
    }
    removed
}

/// The writer's PID in a temporary name `.NAME.tmp-PID-N`.
fn temp_owner(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('.')?;
    let (_, tail) = rest.rsplit_once(".tmp-")?;
    let (pid, n) = tail.split_once('-')?;
    n.parse::<u64>().ok()?;
    pid.parse().ok()
}

/// Whether a process with this PID exists.
fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists (and may be signalled).
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(test)]
mod tests {
    #[test]
    fn stale_temp_files_of_dead_writers_are_removed_and_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir
            .path()
            .join(format!(".a.bin.tmp-{}-0", std::process::id()));
        // PIDs above the kernel's pid_max (at most 2^22) are never alive.
        let dead = dir.path().join(".checkpoint.safetensors.tmp-99999999-3");
        let other = dir.path().join("a.tmp-1-2");
        for p in [&live, &dead, &other] {
            std::fs::write(p, b"x").unwrap();
        }
        assert_eq!(remove_stale_temps(dir.path()), vec![dead.clone()]);
        assert!(live.exists() && other.exists() && !dead.exists());
    }

    use super::*;

    #[test]
    fn failed_write_leaves_target_untouched_and_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.bin");
        atomic_write_bytes(&path, b"first").unwrap();
        let err = atomic_write(&path, |w| {
            w.write_all(b"partial").unwrap();
            Err(Error::msg("boom"))
        })
        .unwrap_err();
        assert!(err.to_string().contains("boom"));
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn missing_directory_is_an_error_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no/such/dir/a.bin");
        let err = atomic_write_bytes(&path, b"x").unwrap_err();
        assert!(err.to_string().contains("no/such/dir"), "{err}");
    }
}
