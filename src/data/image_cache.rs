//! The decoded-image cache: an image set (an image folder, a Flowers102 split) decoded and
//! resized once into a u8 `.npy` of shape `(N, 3, n_pix, n_pix)`, so that later loads read or
//! memory-map it instead of decoding every image again, and sets larger than memory train
//! from the map.
//!
//! Where: `$SBGM_XLA_IMAGE_CACHE`, else `~/.cache/sbgm-xla/images`; `off` (or `0`) switches it
//! off (images are then decoded into memory on every load). An entry is keyed by the SHA-256 of
//! a format version, `n_pix`, the set, and every image's path, size and modification time, so a
//! changed, added or removed image makes a new entry. Entries are written atomically under a
//! per-entry lock (a second process decoding the same set waits, then reuses the first one's
//! file) and checked before use: a file whose header, shape or length is not what the key
//! promises is decoded again and replaced, never trusted.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::images::decode_stream;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::io::npy::{npy_header_bytes, read_header_counted};
use crate::io::{atomic_write, remove_stale_temps};

/// The environment variable that sets the cache folder (`off` or `0`: no cache).
pub const CACHE_ENV: &str = "SBGM_XLA_IMAGE_CACHE";

/// Part of every key: bump it when decoding or resizing changes the pixels.
const FORMAT_VERSION: &[u8] = b"sbgm-xla decoded images v1 (image 0.24, RGB8, Triangle)\n";

/// The cache folder, or `None` when switched off (or no HOME).
pub fn cache_dir() -> Option<PathBuf> {
    crate::exec::persistent::cache_folder(CACHE_ENV, "images")
}

/// What a load did with the cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CacheUse {
    /// A valid cache file was read or mapped; no image was decoded.
    Hit,
    /// The images were decoded into a new cache file.
    Built,
    /// The cache file was invalid (the reason) and was decoded again and replaced.
    Rebuilt(String),
    /// No cache (switched off, or its folder not writable): decoded into memory.
    Uncached,
}

/// How an image set was loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadReport {
    /// What happened with the cache.
    pub cache: CacheUse,
    /// The cache file, when one was used.
    pub file: Option<PathBuf>,
    /// Whether the pixels are memory-mapped from the cache file (else held in memory).
    pub mapped: bool,
}

/// The images of one set, in order: what the cache key covers.
#[derive(Clone, Copy, Debug)]
pub(super) struct ImageList<'a> {
    /// The set's name in file names and the key (e.g. `images`, `flowers102-train`).
    pub set: &'a str,
    /// The image files, in the set's order.
    pub files: &'a [PathBuf],
    /// The side images are resized to.
    pub n_pix: usize,
}

impl ImageList<'_> {
    /// The array's shape `(N, 3, n_pix, n_pix)`.
    pub fn shape(&self) -> [usize; 4] {
        [self.files.len(), 3, self.n_pix, self.n_pix]
    }

    /// The cache key: SHA-256 of the format, `n_pix`, the set and each file's path (made
    /// absolute), size and modification time.
    fn key(&self) -> Result<[u8; 32]> {
        let mut h = Sha256::new();
        h.update(FORMAT_VERSION);
        h.update((self.n_pix as u64).to_le_bytes());
        h.update((self.set.len() as u64).to_le_bytes());
        h.update(self.set.as_bytes());
        h.update((self.files.len() as u64).to_le_bytes());
        for f in self.files {
            let meta = std::fs::metadata(f).map_err(|e| Error::io(f, e))?;
            let path = std::path::absolute(f).map_err(|e| Error::io(f, e))?;
            let path = path.as_os_str().as_encoded_bytes();
            let mtime = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            h.update((path.len() as u64).to_le_bytes());
            h.update(path);
            h.update(meta.len().to_le_bytes());
            h.update(mtime.to_le_bytes());
        }
        Ok(h.finalize().into())
    }
}

/// Where the cache stands for one set.
#[derive(Debug)]
pub(super) enum Cached {
    /// A valid cache file.
    File(PathBuf, CacheUse),
    /// The cache folder cannot be used (why, naming the folder and the fix).
    Unusable(String),
}

/// The cache file of `list` in `dir`: reused when valid, else decoded (on worker threads,
/// with a progress bar for large sets) and written atomically under the entry's lock. Errors
/// are the images' (unreadable, missing); a cache folder that cannot be written is
/// [`Cached::Unusable`].
pub(super) fn cached_npy(list: ImageList<'_>, dir: &Path) -> Result<Cached> {
    let key = list.key()?;
    let hex: String = key[..16].iter().map(|b| format!("{b:02x}")).collect();
    let path = dir.join(format!("{}-{}px-{hex}.npy", list.set, list.n_pix));
    let first_reason = match check(&path, list.shape()) {
        Check::Valid => return Ok(Cached::File(path, CacheUse::Hit)),
        Check::Missing => None,
        Check::Invalid(why) => Some(why),
    };
    let unusable = |e: &dyn std::fmt::Display| {
        Cached::Unusable(format!(
            "cannot write the image cache in {} ({e}); decoding into memory instead (set {CACHE_ENV} \
             to a writable folder, or to off)",
            dir.display()
        ))
    };
    if let Err(e) = std::fs::create_dir_all(dir) {
        return Ok(unusable(&e));
    }
    let _lock = match lock_entry(&path) {
        Ok(l) => l,
        Err(e) => return Ok(unusable(&e)),
    };
    // Another process may have written it while this one waited for the lock.
    let reason = match check(&path, list.shape()) {
        Check::Valid => return Ok(Cached::File(path, CacheUse::Hit)),
        Check::Missing => first_reason,
        Check::Invalid(why) => Some(why),
    };
    remove_stale_temps(dir);
    let mut decode_error = None;
    let written = atomic_write(&path, |w| {
        let header = npy_header_bytes(DType::U8, &list.shape())?;
        w.write_all(&header).map_err(|e| Error::io(&path, e))?;
        let mut write_err = None;
        let decoded = decode_stream(list.files, list.n_pix, |pixels| {
            w.write_all(pixels).map_err(|e| {
                write_err = Some(Error::io(&path, e));
                Error::msg("the image cache could not be written")
            })
        });
        match (decoded, write_err) {
            (_, Some(e)) => Err(e),
            (Err(e), None) => {
                decode_error = Some(e);
                Err(Error::msg("an image could not be decoded"))
            }
            (Ok(()), None) => Ok(()),
        }
    });
    if let Some(e) = decode_error {
        return Err(e);
    }
    if let Err(e) = written {
        return Ok(unusable(&e));
    }
    let done = match reason {
        Some(why) => CacheUse::Rebuilt(why),
        None => CacheUse::Built,
    };
    Ok(Cached::File(path, done))
}

/// A cache file checked against the shape its key promises.
enum Check {
    Valid,
    Missing,
    Invalid(String),
}

/// Whether `path` is a C-ordered u8 `.npy` of exactly `shape`, its length exactly header plus
/// data (a shorter file was cut off, a longer one was written by something else).
fn check(path: &Path, shape: [usize; 4]) -> Check {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Check::Missing,
        Err(e) => return Check::Invalid(format!("unreadable: {e}")),
    };
    let len = match file.metadata() {
        Ok(m) => m.len(),
        Err(e) => return Check::Invalid(format!("unreadable: {e}")),
    };
    let (h, header_len) = match read_header_counted(&mut file) {
        Ok(h) => h,
        Err(e) => return Check::Invalid(format!("bad header: {e}")),
    };
    if h.dtype != DType::U8 || h.big_endian || h.fortran_order || h.shape != shape {
        return Check::Invalid(format!(
            "header says {} {:?}{}, expected u8 {shape:?}",
            h.descr,
            h.shape,
            if h.fortran_order {
                " in Fortran order"
            } else {
                ""
            }
        ));
    }
    let want = header_len + shape.iter().map(|&d| d as u64).product::<u64>();
    if len != want {
        return Check::Invalid(format!(
            "{} bytes long, expected {want}{}",
            len,
            if len < want { " (truncated)" } else { "" }
        ));
    }
    Check::Valid
}

/// Takes the entry's lock (`NAME.lock` next to it), waiting (with a note) while another
/// process holds it; the OS releases it when the holder exits in any way.
fn lock_entry(path: &Path) -> std::io::Result<File> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    let lock = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path.with_file_name(name))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            eprintln!(
                "sbgm-xla: waiting for another process decoding the same images into {}",
                path.display()
            );
            lock.lock()?;
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(e),
    }
    Ok(lock)
}
