//! NumPy `.npz` archives: a zip file of `.npy` records, as `np.savez` and
//! `np.savez_compressed` write them.

use crate::error::{Error, Result};
use crate::host::HostArray;
use crate::io::atomic::atomic_write;
use crate::io::npy::{npy_header_bytes, read_npy_record};
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::Path;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

/// Reads every array of an `.npz` archive, in archive order, named as `np.load` names them
/// (the member name without its `.npy` suffix).
pub fn read_npz(path: &Path) -> Result<Vec<(String, HostArray)>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut zip = ZipArchive::new(BufReader::new(file))
        .map_err(|e| Error::format(path, format!("not a readable .npz (zip) archive: {e}")))?;
    let mut out = Vec::with_capacity(zip.len());
    for i in 0..zip.len() {
        let mut member = zip
            .by_index(i)
            .map_err(|e| Error::format(path, format!("bad zip member {i}: {e}")))?;
        if member.is_dir() {
            continue;
        }
        let full = member
            .name()
            .map_err(|e| Error::format(path, format!("bad name of zip member {i}: {e}")))?
            .to_string();
        let name = full.strip_suffix(".npy").unwrap_or(&full).to_string();
        let a = read_npy_record(&mut member)
            .map_err(|e| Error::format(path, format!("member '{full}': {e}")))?;
        let mut probe = [0u8; 1];
        if member.read(&mut probe).map_err(|e| Error::io(path, e))? != 0 {
            return Err(Error::format(
                path,
                format!("member '{full}': unexpected bytes after the array data"),
            ));
        }
        out.push((name, a));
    }
    Ok(out)
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
