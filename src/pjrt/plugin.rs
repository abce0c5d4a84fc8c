//! Finding PJRT plugins and installing the pinned CPU plugin on first use.
//!
//! Discovery order: an explicit path (`--plugin PATH`) or `SBGM_XLA_PLUGIN`; otherwise a
//! platform name (`cpu`, `cuda`, `tpu`) looked up in the Python installations on the machine
//! (where pip puts `lammps_jax_pjrt_cpu/`, `xla_plugins/xla_cpu_pjrt/`, `jax_plugins/xla_cuda13/`,
//! `jax_plugins/xla_cuda12/`, `libtpu/`) and in our cache (`$SBGM_XLA_CACHE`, default
//! `~/.cache/sbgm-xla/plugins`). A missing CPU plugin is installed into the cache: the pinned wheel
//! is fetched by pip by package name (or taken from a local wheelhouse), its SHA-256 checked, the
//! library unpacked into a temporary folder and renamed into place under a file lock, so parallel
//! first uses do not corrupt the cache.
//!
//! Environment: `SBGM_XLA_PLUGIN` (path or platform), `SBGM_XLA_CACHE` (cache folder),
//! `SBGM_XLA_PYTHON` (the Python used for pip and site-packages, default `python3`),
//! `SBGM_XLA_WHEELHOUSE` (colon-separated folders searched for the pinned wheel before pip;
//! `/tmp/wheels` is searched too unless `SBGM_XLA_NO_LOCAL_WHEELS` is set; a local wheel is
//! used only if its SHA-256 is the pinned one), `SBGM_XLA_NO_INSTALL=1` (never install
//! automatically).

use super::api::Api;
use crate::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

/// Which plugin to use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PluginSpec {
    /// `SBGM_XLA_PLUGIN` when set, else the CPU plugin.
    Default,
    /// A plugin's shared library.
    Path(PathBuf),
    /// A platform name: `cpu`, `cuda` or `tpu`.
    Platform(String),
}

impl PluginSpec {
    /// A platform name (`cpu`, `cuda`, `tpu`) or else a path.
    pub fn parse(s: &str) -> PluginSpec {
        let lower = s.to_ascii_lowercase();
        if PLATFORMS.contains(&lower.as_str()) {
            PluginSpec::Platform(lower)
        } else {
            PluginSpec::Path(PathBuf::from(s))
        }
    }

    /// `Some(s)` parsed, `None` is [`PluginSpec::Default`].
    pub fn from_arg(s: Option<&str>) -> PluginSpec {
        s.map(PluginSpec::parse).unwrap_or(PluginSpec::Default)
    }
}

/// Platform names that can be looked up.
pub const PLATFORMS: [&str; 3] = ["cpu", "cuda", "tpu"];

/// A plugin sbgm-xla knows how to find and install.
#[derive(Clone, Debug)]
pub struct KnownPlugin {
    /// The name used by `sbgm-xla plugin install NAME`.
    pub name: &'static str,
    /// The platform it serves.
    pub platform: &'static str,
    /// The PyPI package.
    pub package: &'static str,
    /// The pinned version and wheel SHA-256, for plugins installed into our cache.
    pub pin: Option<(&'static str, &'static str)>,
    /// The library's path inside site-packages (and inside the wheel).
    pub library: &'static str,
    /// Further files unpacked next to the library (inside the wheel -> in the cache folder).
    pub extra_files: &'static [(&'static str, &'static str)],
    /// For unpinned plugins: what `pip install` gets.
    pub pip_install: &'static [&'static str],
    /// What the plugin is.
    pub about: &'static str,
}

/// The plugins sbgm-xla knows, in order of preference per platform.
///
/// The default CPU plugin is `lammps-jax-pjrt-cpu` 0.11.2: built from the XLA of jaxlib 0.11.2
/// (PJRT C API 0.115), it parses StableHLO up to 1.20, which the exports of JAX 0.10.2 need;
/// the official OpenXLA wheel `xla-cpu-pjrt` 0.0.1 (API 0.81) stops at StableHLO 1.13.
pub const KNOWN: [KnownPlugin; 5] = [
    KnownPlugin {
        name: "cpu",
        platform: "cpu",
        package: "lammps-jax-pjrt-cpu",
        pin: Some((
            "0.11.2",
            "1319390d948b39f69f7dade496b7c385149d9ca6097a6b62114da113216d9ad1",
        )),
        library: "lammps_jax_pjrt_cpu/pjrt_c_api_cpu_plugin.so",
        extra_files: &[],
        pip_install: &[],
        about: "XLA CPU plugin from jaxlib 0.11.2's XLA (PJRT C API 0.115, StableHLO <= 1.20); the default",
    },
    KnownPlugin {
        name: "cpu-openxla",
        platform: "cpu",
        package: "xla-cpu-pjrt",
        pin: Some((
            "0.0.1",
            "55837b6b7b47daa717f2d9a5a03563ea0ceaa338d06a81a1e2d3f060d960decc",
        )),
        library: "xla_plugins/xla_cpu_pjrt/xla_cpu_pjrt.so",
        extra_files: &[(
            "xla_plugins/xla_cpu_pjrt/include/pjrt_c_api.h",
            "include/pjrt_c_api.h",
        )],
        pip_install: &[],
        about: "official OpenXLA CPU plugin (PJRT C API 0.81, StableHLO <= 1.13)",
    },
    KnownPlugin {
        name: "cuda13",
        platform: "cuda",
        package: "jax-cuda13-pjrt",
        pin: None,
        library: "jax_plugins/xla_cuda13/xla_cuda_plugin.so",
        extra_files: &[],
        pip_install: &["jax-cuda13-pjrt", "jax-cuda13-plugin[with-cuda]"],
        about: "JAX's NVIDIA GPU plugin for CUDA 13 (needs an NVIDIA driver)",
    },
    KnownPlugin {
        name: "cuda12",
        platform: "cuda",
        package: "jax-cuda12-pjrt",
        pin: None,
        library: "jax_plugins/xla_cuda12/xla_cuda_plugin.so",
        extra_files: &[],
        pip_install: &["jax-cuda12-pjrt", "jax-cuda12-plugin[with-cuda]"],
        about: "JAX's NVIDIA GPU plugin for CUDA 12 (needs an NVIDIA driver)",
    },
    KnownPlugin {
        name: "tpu",
        platform: "tpu",
        package: "libtpu",
        pin: None,
        library: "libtpu/libtpu.so",
        extra_files: &[],
        pip_install: &["libtpu"],
        about: "Cloud TPU runtime (on TPU VMs)",
    },
];

/// The known plugin installed by `sbgm-xla plugin install NAME`.
pub fn known(name: &str) -> Result<&'static KnownPlugin> {
    KNOWN.iter().find(|k| k.name == name).ok_or_else(|| {
        let names: Vec<&str> = KNOWN.iter().map(|k| k.name).collect();
        Error::msg(format!(
            "unknown plugin {name:?}: choose one of {}",
            names.join(", ")
        ))
    })
}

/// The plugin cache: `$SBGM_XLA_CACHE` or `~/.cache/sbgm-xla/plugins`.
pub fn cache_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("SBGM_XLA_CACHE").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME").ok_or_else(|| {
        Error::msg(
            "neither SBGM_XLA_CACHE nor HOME is set: set SBGM_XLA_CACHE to a writable folder for plugins",
        )
    })?;
    Ok(PathBuf::from(home).join(".cache/sbgm-xla/plugins"))
}

impl KnownPlugin {
    /// Where this plugin lives in the cache, if it is a pinned one.
    pub fn cache_path(&self, cache: &Path) -> Option<PathBuf> {
        let (version, _) = self.pin?;
        let file = Path::new(self.library).file_name()?;
        Some(cache.join(format!("{}-{version}", self.package)).join(file))
    }
}

/// A plugin found on this machine.
#[derive(Clone, Debug)]
pub struct Found {
    /// Which known plugin.
    pub plugin: &'static KnownPlugin,
    /// Its library.
    pub path: PathBuf,
    /// `site-packages` or `cache`.
    pub location: &'static str,
}

fn python() -> String {
    std::env::var("SBGM_XLA_PYTHON")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "python3".to_string())
}

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

/// The site-packages folders of the Python installations we can see (cached per process).
pub fn site_packages() -> Vec<PathBuf> {
    static SITES: OnceLock<Vec<PathBuf>> = OnceLock::new();
    SITES.get_or_init(site_packages_uncached).clone()
}

fn site_packages_uncached() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    let code =
        "import site,sys\nfor p in site.getsitepackages()+[site.getusersitepackages()]: print(p)";
    if let Ok(out) = Command::new(python())
        .args(["-c", code])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        && out.status.success()
    {
        dirs.extend(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(PathBuf::from),
        );
    }
    let mut prefixes: Vec<PathBuf> = ["VIRTUAL_ENV", "CONDA_PREFIX"]
        .iter()
        .filter_map(std::env::var_os)
        .map(PathBuf::from)
        .collect();
    prefixes.push("/usr/local".into());
    prefixes.push("/usr".into());
    if let Some(home) = std::env::var_os("HOME") {
        prefixes.push(PathBuf::from(home).join(".local"));
    }
    for prefix in prefixes {
        let lib = prefix.join("lib");
        let Ok(entries) = std::fs::read_dir(&lib) else {
            continue;
        };
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with("python3") {
                dirs.push(e.path().join("site-packages"));
                dirs.push(e.path().join("dist-packages"));
            }
        }
    }
    dirs.push("/usr/lib/python3/dist-packages".into());
    let mut seen = Vec::new();
    for d in dirs {
        if d.is_dir() && !seen.contains(&d) {
            seen.push(d);
        }
    }
    seen
}

/// Every known plugin found on this machine, in order of preference.
pub fn find_all() -> Vec<Found> {
    let sites = site_packages();
    let cache = cache_dir().ok();
    let mut found = Vec::new();
    for k in KNOWN.iter() {
        for site in &sites {
            let p = site.join(k.library);
            if p.is_file() {
                found.push(Found {
                    plugin: k,
                    path: p,
                    location: "site-packages",
                });
            }
        }
        if let Some(p) = cache.as_deref().and_then(|c| k.cache_path(c))
            && p.is_file()
        {
            found.push(Found {
                plugin: k,
                path: p,
                location: "cache",
            });
        }
    }
    found
}

/// The preferred plugin found for `platform`, if any.
pub fn find(platform: &str) -> Option<Found> {
    find_all()
        .into_iter()
        .find(|f| f.plugin.platform == platform)
}

/// The plugin library for `spec`, installing the default CPU plugin when it is missing.
pub fn resolve(spec: &PluginSpec) -> Result<PathBuf> {
    match spec {
        PluginSpec::Default => match std::env::var("SBGM_XLA_PLUGIN") {
            Ok(s) if !s.is_empty() => resolve(&PluginSpec::parse(&s)),
            _ => resolve(&PluginSpec::Platform("cpu".into())),
        },
        PluginSpec::Path(p) => Ok(p.clone()),
        PluginSpec::Platform(name) => {
            static RESOLVED: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
            let memo = RESOLVED.get_or_init(|| Mutex::new(HashMap::new()));
            if let Some(p) = memo.lock().unwrap_or_else(|e| e.into_inner()).get(name) {
                return Ok(p.clone());
            }
            let path = resolve_platform(name)?;
            memo.lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(name.clone(), path.clone());
            Ok(path)
        }
    }
}

fn resolve_platform(name: &str) -> Result<PathBuf> {
    if !PLATFORMS.contains(&name) {
        return Err(Error::PluginNotFound(format!(
            "unknown platform {name:?}: use cpu, cuda or tpu, or give the path of a plugin library"
        )));
    }
    if let Some(f) = find(name) {
        return Ok(f.path);
    }
    let no_install = std::env::var("SBGM_XLA_NO_INSTALL").is_ok_and(|v| !v.is_empty() && v != "0");
    if name == "cpu" && !no_install {
        return install(known("cpu")?);
    }
    let names: Vec<&str> = KNOWN
        .iter()
        .filter(|k| k.platform == name)
        .map(|k| k.name)
        .collect();
    let sites: Vec<String> = site_packages()
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let cache = cache_dir()
        .map(|c| c.display().to_string())
        .unwrap_or_else(|_| "(no cache folder)".into());
    Err(Error::PluginNotFound(format!(
        "no PJRT plugin for platform {name:?} found (searched site-packages: [{}]; cache: {cache}); \
         install one with `sbgm-xla plugin install {}`, or give a plugin library with --plugin PATH \
         or SBGM_XLA_PLUGIN",
        sites.join(", "),
        names.join("` or `sbgm-xla plugin install ")
    )))
}

/// Where the plugin library at `path` comes from, in words (for the line that names the
/// plugin a command runs): `verified PACKAGE VERSION` for the cache copy of a pinned plugin,
/// `PACKAGE, found in site-packages` for a known plugin's library elsewhere, else `given by
/// --plugin or SBGM_XLA_PLUGIN`.
pub fn provenance(path: &Path) -> String {
    let canonical = |p: &Path| std::fs::canonicalize(p).ok();
    let here = canonical(path);
    let cache = cache_dir().ok();
    for k in KNOWN.iter() {
        if let (Some(c), Some((version, _))) =
            (cache.as_deref().and_then(|c| k.cache_path(c)), k.pin)
            && here.is_some()
            && canonical(&c) == here
        {
            return format!("verified {} {version}", k.package);
        }
        if path.ends_with(k.library) {
            return format!("{}, found in site-packages", k.package);
        }
    }
    "given by --plugin or SBGM_XLA_PLUGIN".into()
}

/// Resolves `spec` and loads the plugin (once per process).
pub fn load(spec: &PluginSpec) -> Result<&'static Api> {
    Api::load(&resolve(spec)?)
}

/// Installs a known plugin: pinned ones into the cache (returns the library's path), others with
/// `pip install` into the Python environment (returns where it was found afterwards).
pub fn install(k: &'static KnownPlugin) -> Result<PathBuf> {
    match k.pin {
        Some(pin) => install_pinned(k, pin),
        None => install_with_pip(k),
    }
}

fn install_with_pip(k: &'static KnownPlugin) -> Result<PathBuf> {
    eprintln!(
        "sbgm-xla: installing {} with `{} -m pip install {}`",
        k.name,
        python(),
        k.pip_install.join(" ")
    );
    let status = status_retrying_busy(
        Command::new(python())
            .args(["-m", "pip", "install"])
            .args(k.pip_install)
            .stdout(std::io::stderr()),
    )
    .map_err(|e| Error::PluginInstall(format!("cannot run {}: {e}", python())))?;
    if !status.success() {
        return Err(Error::PluginInstall(format!(
            "`pip install {}` failed ({status})",
            k.pip_install.join(" ")
        )));
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

/// A local copy of the pinned wheel with the right SHA-256, if a wheelhouse has one.
fn local_wheel(k: &KnownPlugin, version: &str, sha: &str) -> Option<PathBuf> {
    let prefix = wheel_prefix(k.package, version);
    for dir in wheelhouses() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(&prefix)
                && name.ends_with(".whl")
                && sha256_file(&e.path()).ok().as_deref() == Some(sha)
            {
                return Some(e.path());
            }
        }
    }
    None
}

/// Downloads the pinned wheel with pip into `dir`.
fn pip_download(k: &KnownPlugin, version: &str, dir: &Path) -> Result<PathBuf> {
    let req = format!("{}=={version}", k.package);
    eprintln!("sbgm-xla: downloading {req} with pip ...");
    let status = status_retrying_busy(
        Command::new(python())
            .args([
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "--dest",
            ])
            .arg(dir)
            .arg(&req)
            .stdin(Stdio::null())
            .stdout(std::io::stderr()),
    )
    .map_err(|e| {
        Error::PluginInstall(format!(
            "cannot run `{} -m pip` ({e}); install Python 3 with pip, or set SBGM_XLA_PYTHON, \
                 or put the wheel of {req} in a folder named by SBGM_XLA_WHEELHOUSE",
            python()
        ))
    })?;
    if !status.success() {
        return Err(Error::PluginInstall(format!(
            "`pip download {req}` failed ({status}); check the network, or put the wheel in a \
             folder named by SBGM_XLA_WHEELHOUSE"
        )));
    }
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

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn install_pinned(k: &'static KnownPlugin, (version, sha): (&str, &str)) -> Result<PathBuf> {
    let cache = cache_dir()?;
    let lib = k.cache_path(&cache).ok_or_else(|| {
        Error::PluginInstall(format!("{}: no file name in {}", k.name, k.library))
    })?;
    if lib.is_file() {
        return Ok(lib);
    }
    std::fs::create_dir_all(&cache).map_err(|e| Error::io(&cache, e))?;
    let folder = lib.parent().expect("cache path has a folder").to_path_buf();
    let folder_name = folder
        .file_name()
        .expect("named")
        .to_string_lossy()
        .into_owned();
    // One installer at a time per plugin; the others wait, then find it installed.
    let lock_path = cache.join(format!(".{folder_name}.lock"));
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
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let tmp = TempDir(cache.join(format!(".tmp-{folder_name}-{}-{nonce}", std::process::id())));
    std::fs::create_dir_all(&tmp.0).map_err(|e| Error::io(&tmp.0, e))?;
    let wheel = match local_wheel(k, version, sha) {
        Some(w) => {
            eprintln!("sbgm-xla: using the local wheel {}", w.display());
            w
        }
        None => {
            let w = pip_download(k, version, &tmp.0.join("download"))?;
            let got = sha256_file(&w)?;
            if got != sha {
                return Err(Error::PluginInstall(format!(
                    "{}: SHA-256 {got} does not match the pinned {sha}; the download is corrupt or \
                     not the pinned release (nothing was installed)",
                    w.display()
                )));
            }
            w
        }
    };
    let stage = tmp.0.join("stage");
    let file = Path::new(k.library).file_name().expect("named");
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
    fn specs_parse_platforms_and_paths() {
        assert_eq!(PluginSpec::parse("CPU"), PluginSpec::Platform("cpu".into()));
        assert_eq!(
            PluginSpec::parse("./x.so"),
            PluginSpec::Path(PathBuf::from("./x.so"))
        );
        assert_eq!(PluginSpec::from_arg(None), PluginSpec::Default);
        assert!(known("cuda13").is_ok());
        assert!(known("gpu").is_err());
        assert_eq!(
            wheel_prefix("lammps-jax-pjrt-cpu", "0.11.2"),
            "lammps_jax_pjrt_cpu-0.11.2-"
        );
        let c = known("cpu-openxla")
            .unwrap()
            .cache_path(Path::new("/c"))
            .unwrap();
        assert_eq!(c, Path::new("/c/xla-cpu-pjrt-0.0.1/xla_cpu_pjrt.so"));
    }

    #[test]
    fn sha256_matches_a_known_digest() {
        let dir = std::env::temp_dir().join(format!("sbgm-sha-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("abc");
        std::fs::write(&p, b"abc").unwrap();
        // FIPS 180-2, appendix B.1.
        assert_eq!(
            sha256_file(&p).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
