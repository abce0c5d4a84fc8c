//! Finding PJRT plugins (explicit path, `SBGM_XLA_PLUGIN`, Python site-packages, our cache) and
//! installing the pinned CPU plugin into the cache on first use.

use crate::error::{Error, Result};
use std::path::PathBuf;

/// The plugin cache: `$SBGM_XLA_CACHE` or `~/.cache/sbgm-xla/plugins`.
pub fn cache_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("SBGM_XLA_CACHE") {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME").ok_or_else(|| {
        Error::msg("neither SBGM_XLA_CACHE nor HOME is set: set SBGM_XLA_CACHE to a writable folder for plugins")
    })?;
    Ok(PathBuf::from(home).join(".cache/sbgm-xla/plugins"))
}
