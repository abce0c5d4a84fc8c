//! The run directory of `sbgm-xla train`: locked for the run's life, refused when it holds
//! another run or files that are not a run's, taken over when it holds a run that stopped
//! before its first checkpoint, and cleaned of temporary files that a killed writer left.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::io::lock::LOCK_FILE;
use crate::io::{DirLock, remove_stale_temps};

/// The checkpoint file inside a run directory.
pub const CHECKPOINT: &str = "checkpoint.safetensors";
/// The metrics file inside a run directory.
pub const METRICS: &str = "metrics.jsonl";
/// The samples folder inside a run directory.
pub const SAMPLES: &str = "samples";
/// The loss curve inside a run directory.
pub const LOSS_PLOT: &str = "loss.png";
/// The held-out bits-per-dimension curve inside a run directory (image data).
pub const BPD_PLOT: &str = "bpd.png";

/// What a run writes before its first checkpoint: a directory holding only these (and no
/// checkpoint) is a run that stopped early, and a new run may take it over.
const EARLY_FILES: [&str; 5] = ["config.toml", METRICS, LOSS_PLOT, BPD_PLOT, SAMPLES];

/// A run directory, locked while this value lives.
#[derive(Debug)]
pub struct RunDir {
    path: PathBuf,
    _lock: DirLock,
    taken_over: bool,
}

impl RunDir {
    /// Opens `dir` for a new run (`resume = false`: creating it, or taking over one that
    /// stopped before its first checkpoint) or to continue one (`resume`: its checkpoint must
    /// be there). Errors change nothing in the directory.
    pub fn open(dir: &Path, resume: bool) -> Result<RunDir> {
        if dir.exists() && !dir.is_dir() {
            return Err(Error::msg(format!(
                "the run directory {} is a file; choose another --run-dir",
                dir.display()
            )));
        }
        if resume && !dir.is_dir() {
            return Err(Error::msg(format!(
                "cannot resume: {} has no {CHECKPOINT} (the directory does not exist); start a \
                 new run without --resume",
                dir.display()
            )));
        }
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let lock = DirLock::acquire(dir, "the run directory")?;
        remove_stale_temps(dir);
        remove_stale_temps(&dir.join(SAMPLES));
        let has_checkpoint = dir.join(CHECKPOINT).is_file();
        let mut taken_over = false;
        if resume {
            if !has_checkpoint {
                return Err(Error::msg(format!(
                    "cannot resume: {} has no {CHECKPOINT} (the run stopped before its first \
                     checkpoint); start it again without --resume: the directory is reused",
                    dir.display()
                )));
            }
        } else {
            let entries = entries(dir)?;
            if has_checkpoint {
                return Err(Error::msg(format!(
                    "the run directory {} already exists and holds a run (it has \
                     {CHECKPOINT}); continue it with --resume or choose another --run-dir \
                     (nothing was changed)",
                    dir.display()
                )));
            }
            if let Some(other) = entries.iter().find(|n| !EARLY_FILES.contains(&n.as_str())) {
                return Err(Error::msg(format!(
                    "the run directory {} is not empty and holds files that are not a run's \
                     (e.g. {other}); choose another --run-dir (nothing was changed)",
                    dir.display()
                )));
            }
            taken_over = !entries.is_empty();
        }
        Ok(RunDir {
            path: dir.to_path_buf(),
            _lock: lock,
            taken_over,
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether a new run took over the files of a run that stopped before its first
    /// checkpoint.
    pub fn taken_over(&self) -> bool {
        self.taken_over
    }
}

/// The names in `dir` other than the lock file.
fn entries(dir: &Path) -> Result<Vec<String>> {
    let mut names = vec![];
    for e in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let e = e.map_err(|e| Error::io(dir, e))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name != LOCK_FILE {
            names.push(name);
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_that_stopped_before_its_first_checkpoint_is_taken_over() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("run");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("config.toml"), "x").unwrap();
        std::fs::write(dir.join(METRICS), "").unwrap();
        let e = RunDir::open(&dir, true).unwrap_err().to_string();
        assert!(e.contains("without --resume"), "{e}");
        let r = RunDir::open(&dir, false).unwrap();
        assert!(r.taken_over());
        drop(r);
        std::fs::write(dir.join(CHECKPOINT), "x").unwrap();
        let e = RunDir::open(&dir, false).unwrap_err().to_string();
        assert!(e.contains("--resume"), "{e}");
        assert!(RunDir::open(&dir, true).is_ok());
    }

    #[test]
    fn foreign_files_are_never_taken_over() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("thesis.tex"), "x").unwrap();
        let e = RunDir::open(root.path(), false).unwrap_err().to_string();
        assert!(e.contains("thesis.tex"), "{e}");
        assert!(root.path().join("thesis.tex").exists());
    }
}
