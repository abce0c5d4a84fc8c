//! The persistent compilation cache: executables compiled once are kept on disk (as the
//! plugin serialises them) and loaded again by later processes in milliseconds instead of
//! being recompiled, like JAX's persistent compilation cache.
//!
//! Where: `$SBGM_XLA_COMPILE_CACHE`, else `~/.cache/sbgm-xla/compiled`; `off` (or `0`)
//! switches it off. An entry is keyed by the SHA-256 of the program, the compile options, the
//! plugin (its file, size and modification time, C API version, platform and device count),
//! `XLA_FLAGS` and the host CPU (model and instruction-set flags: code compiled for one CPU
//! may not run on another sharing the same home folder), so none of these changing ever
//! loads an old entry. Each file carries the
//! SHA-256 of its payload, checked before the plugin sees the bytes (the plugin may abort the
//! process on corrupt input); a bad or unreadable entry is recompiled and replaced. Writing is
//! atomic and best-effort: a read-only cache only costs the compile.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use crate::error::Result;
use crate::io::atomic_write_bytes;
use crate::pjrt::{Client, CompileOptions, Executable, Program};

/// The environment variable that sets the cache folder (`off` or `0`: no cache).
pub const CACHE_ENV: &str = "SBGM_XLA_COMPILE_CACHE";

const MAGIC: &[u8; 10] = b"SBGMXEXE1\n";

/// The cache folder, or `None` when switched off (or no HOME).
pub fn cache_dir() -> Option<PathBuf> {
    cache_folder(CACHE_ENV, "compiled")
}

/// A cache folder set by the environment variable `env` (`off` or `0`: none), else
/// `~/.cache/sbgm-xla/<name>` (`None` without HOME).
pub fn cache_folder(env: &str, name: &str) -> Option<PathBuf> {
    match std::env::var_os(env) {
        Some(v) if v == "off" || v == "0" => None,
        Some(v) if !v.is_empty() => Some(PathBuf::from(v)),
        _ => std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(|h| PathBuf::from(h).join(".cache/sbgm-xla").join(name)),
    }
}

/// Compiles `program` with `options` on `client`, through the persistent cache when it is on.
pub fn compile(client: &Client, program: &Program, options: &CompileOptions) -> Result<Executable> {
    let Some(dir) = cache_dir() else {
        return client.compile(program, options);
    };
    let path = dir.join(format!("{}.xexe", hex(&key(client, program, options))));
    if let Some(exe) = load(client, &path) {
        return Ok(exe);
    }
    let exe = client.compile(program, options)?;
    if let Ok(bytes) = exe.serialize() {
        store(&dir, &path, &bytes);
    }
    Ok(exe)
}

fn key(client: &Client, program: &Program, options: &CompileOptions) -> [u8; 32] {
    let api = client.plugin();
    let mut h = Sha256::new();
    h.update(MAGIC);
    h.update(api.path().to_string_lossy().as_bytes());
    if let Ok(m) = std::fs::metadata(api.path()) {
        h.update(m.len().to_le_bytes());
        if let Ok(t) = m.modified().and_then(|t| {
            t.duration_since(std::time::UNIX_EPOCH)
                .map_err(std::io::Error::other)
        }) {
            h.update(t.as_nanos().to_le_bytes());
        }
    }
    let (major, minor) = api.version();
    h.update(format!(
        "|{major}.{minor}|{}|{}|{}|{options:?}|",
        client.platform_name(),
        client.platform_version(),
        client.addressable_devices().len()
    ));
    h.update(std::env::var("XLA_FLAGS").unwrap_or_default());
    h.update(b"|");
    h.update(host_cpu());
    h.update(program.code());
    h.finalize().into()
}

/// The CPU's model name and feature flags (Linux), else the target architecture; read once.
fn host_cpu() -> &'static str {
    static CPU: OnceLock<String> = OnceLock::new();
    CPU.get_or_init(|| {
        let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let field = |name: &str| {
            info.lines()
                .find(|l| l.starts_with(name))
                .unwrap_or_default()
                .to_string()
        };
        format!(
            "{}|{}|{}",
            std::env::consts::ARCH,
            field("model name"),
            field("flags")
        )
    })
}

fn load(client: &Client, path: &Path) -> Option<Executable> {
    let bytes = std::fs::read(path).ok()?;
    let payload = bytes.strip_prefix(MAGIC.as_slice())?;
    let (digest, payload) = payload.split_at_checked(32)?;
    if Sha256::digest(payload).as_slice() != digest {
        return None;
    }
    client.deserialize(payload).ok()
}

fn store(dir: &Path, path: &Path, payload: &[u8]) {
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    let mut bytes = Vec::with_capacity(MAGIC.len() + 32 + payload.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&Sha256::digest(payload));
    bytes.extend_from_slice(payload);
    let _ = atomic_write_bytes(path, &bytes);
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
