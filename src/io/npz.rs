//! NumPy `.npz` archives: a zip file of `.npy` records, as `np.savez` and
//! `np.savez_compressed` write them.

use crate::error::{Error, Result};
use crate::host::HostArray;
use crate::io::atomic::atomic_write;
use crate::io::bounded::{check_declared, deflate_limit, has_more};
use crate::io::npy::{NpyHeader, npy_header_bytes, read_header_counted, read_npy_record_within};
use std::fs::File;
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};
use zip::read::ZipFile;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

/// An open `.npz` archive whose arrays are read one at a time, on demand: members that are
/// never asked for are never decompressed.
pub struct NpzArchive {
    path: PathBuf,
    zip: ZipArchive<BufReader<File>>,
    /// Array name (member name without `.npy`) and member index, in archive order.
    members: Vec<(String, usize)>,
}

impl NpzArchive {
    /// Opens the archive at `path` and reads its directory (not its data).
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let zip = ZipArchive::new(BufReader::new(file))
            .map_err(|e| Error::format(path, format!("not a readable .npz (zip) archive: {e}")))?;
        let mut members = Vec::new();
        for i in 0..zip.len() {
            let full = zip
                .name_for_index(i)
                .ok_or_else(|| Error::format(path, format!("bad zip member {i}")))?
                .map_err(|e| Error::format(path, format!("bad name of zip member {i}: {e}")))?;
            if full.ends_with('/') {
                continue;
            }
            let name = full.strip_suffix(".npy").unwrap_or(&full).to_string();
            members.push((name, i));
        }
        Ok(NpzArchive {
            path: path.to_path_buf(),
            zip,
            members,
        })
    }

    /// The names of the arrays, in archive order.
    pub fn names(&self) -> Vec<String> {
        self.members.iter().map(|(n, _)| n.clone()).collect()
    }

    /// Reads the array `name`, or `None` when the archive has no such member. The member may
    /// not hold more or fewer bytes than its `.npy` header declares.
    pub fn read(&mut self, name: &str) -> Result<Option<HostArray>> {
        let Some(&(_, i)) = self.members.iter().find(|(n, _)| n == name) else {
            return Ok(None);
        };
        self.read_index(i).map(Some)
    }

    /// Reads every array, in archive order.
    pub fn read_all(&mut self) -> Result<Vec<(String, HostArray)>> {
        let members = self.members.clone();
        members
            .into_iter()
            .map(|(name, i)| Ok((name, self.read_index(i)?)))
            .collect()
    }

    /// The header of each array (read without its data), in archive order, each checked to
    /// declare exactly the bytes its member holds.
    pub fn headers(&mut self) -> Result<Vec<(String, NpyHeader)>> {
        let members = self.members.clone();
        members
            .into_iter()
            .map(|(name, i)| {
                let path = self.path.clone();
                let (mut m, full, available) = self.member(i)?;
                let bad = |e: Error| Error::format(&path, format!("member '{full}': {e}"));
                let (h, header_bytes) = read_header_counted(&mut m).map_err(bad)?;
                let declared = header_bytes.saturating_add(h.data_len().map_err(bad)? as u64);
                if declared != m.size() {
                    return Err(bad(Error::msg(format!(
                        "its .npy header declares {} {:?}, {declared} bytes with the header, \
                         but the member holds {} bytes (truncated or corrupt)",
                        h.descr,
                        h.shape,
                        m.size()
                    ))));
                }
                check_declared("its .npy header", declared, available, MEMBER_LIMIT_WHY)
                    .map_err(bad)?;
                Ok((name, h))
            })
            .collect()
    }

    /// The member at index `i`, its full name and the most bytes it can expand to.
    fn member(&mut self, i: usize) -> Result<(ZipFile<'_, BufReader<File>>, String, u64)> {
        let path = &self.path;
        let m = self
            .zip
            .by_index(i)
            .map_err(|e| Error::format(path, format!("bad zip member {i}: {e}")))?;
        let full = m
            .name()
            .map_err(|e| Error::format(path, format!("bad name of zip member {i}: {e}")))?
            .to_string();
        let available = match m.compression() {
            CompressionMethod::Stored => m.compressed_size(),
            _ => deflate_limit(m.compressed_size(), 64),
        }
        .min(m.size());
        Ok((m, full, available))
    }

    fn read_index(&mut self, i: usize) -> Result<HostArray> {
        let path = self.path.clone();
        let (mut m, full, available) = self.member(i)?;
        let bad = |e: Error| Error::format(&path, format!("member '{full}': {e}"));
        let a = read_npy_record_within(&mut m, available).map_err(bad)?;
        if has_more(&mut m).map_err(|e| bad(Error::msg(e.to_string())))? {
            return Err(bad(Error::msg(
                "the member holds more bytes than its .npy header declares",
            )));
        }
        Ok(a)
    }
}

/// Why a member's size is limited (see [`check_declared`]).
const MEMBER_LIMIT_WHY: &str = "its zip entry declares or its compressed data can expand to";

/// Reads every array of an `.npz` archive, in archive order, named as `np.load` names them
/// (the member name without its `.npy` suffix). To read some arrays only, use [`NpzArchive`].
pub fn read_npz(path: &Path) -> Result<Vec<(String, HostArray)>> {
    NpzArchive::open(path)?.read_all()
}

/// Writes arrays as an `.npz` archive (member `NAME.npy` per array), atomically; stored like
/// `np.savez`, or deflated like `np.savez_compressed` when `compress` is set.
pub fn write_npz<S: AsRef<str>>(
    path: &Path,
    arrays: &[(S, HostArray)],
    compress: bool,
) -> Result<()> {
    let method = if compress {
        CompressionMethod::Deflated
    } else {
        CompressionMethod::Stored
    };
    let mut seen = std::collections::HashSet::new();
    for (name, _) in arrays {
        if !seen.insert(name.as_ref()) {
            return Err(Error::msg(format!(
                "cannot write {}: the array name '{}' appears twice",
                path.display(),
                name.as_ref()
            )));
        }
    }
    atomic_write(path, |w| {
        let zerr = |e: zip::result::ZipError| Error::format(path, format!("zip error: {e}"));
        let mut zip = ZipWriter::new(w);
        for (name, a) in arrays {
            let opts = SimpleFileOptions::default()
                .compression_method(method)
                .large_file(a.bytes().len() >= (1 << 32) - 4096);
            zip.start_file(format!("{}.npy", name.as_ref()), opts)
                .map_err(zerr)?;
            zip.write_all(&npy_header_bytes(a.dtype(), a.shape())?)
                .and_then(|()| zip.write_all(a.bytes()))
                .map_err(|e| Error::io(path, e))?;
        }
        zip.finish().map_err(zerr)?;
        Ok(())
    })
}
