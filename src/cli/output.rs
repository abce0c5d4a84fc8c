//! What the commands write, and how: lines on stdout that survive a closed stdout (`sbgm-xla
//! sample ... | head`: no reader is not an error, the files are still written), the error
//! line on stderr (each cause once), and the refusal of output names that look like model
//! checkpoints unless asked (the other checks of output files: [`crate::io::outputs`]).

use crate::error::{Error, Result};
use crate::host::HostArray;
use crate::io::npy::write_npy;
use crate::io::{Checkpoint, save_checkpoint};
use clap::Args;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// `println!` for the commands' reports: a closed stdout (broken pipe) is ignored and the
/// command goes on (see [`print_line`]).
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cli::output::print_line(format_args!($($arg)*))
    };
}
pub(crate) use outln;

/// Whether a failure to write stdout (other than a broken pipe) was reported already.
static STDOUT_FAILED: AtomicBool = AtomicBool::new(false);

/// Writes one line on stdout. A reader that went away (broken pipe) is not an error: the line
/// is dropped and the command carries on, so its files are still written. Any other write
/// error is reported once on stderr as a warning, and the command carries on too.
pub fn print_line(args: std::fmt::Arguments) {
    let mut out = std::io::stdout().lock();
    let written = out.write_fmt(args).and_then(|()| out.write_all(b"\n"));
    if let Err(e) = written
        && e.kind() != std::io::ErrorKind::BrokenPipe
        && !STDOUT_FAILED.swap(true, Ordering::Relaxed)
    {
        eprintln!("warning: writing to stdout failed ({e}); the rest of the report is not shown");
    }
}

/// The text of an error and its causes, joined by `: ` as anyhow's `{:#}` does, without the
/// causes whose text is already there (an I/O error shown by the error that wraps it would
/// otherwise print twice, `(os error 2): ... (os error 2)`).
pub fn error_text(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

/// The option that lets `sample`, `loglik` and `score` write an output named like a model
/// checkpoint.
#[derive(Debug, Clone, Args)]
pub struct CheckpointExtensionArg {
    /// Allow --out to end in .safetensors or .eqx, the extensions of model checkpoints (refused
    /// by default, so that a slip cannot write results over a model).
    #[arg(long)]
    pub allow_checkpoint_extension: bool,
}

/// The extensions of model checkpoint files.
const CHECKPOINT_EXTENSIONS: [&str; 2] = ["safetensors", "eqx"];

impl CheckpointExtensionArg {
    /// Refuses an output of `command` (named by `flag`) whose extension is a checkpoint's,
    /// unless `--allow-checkpoint-extension` was given.
    pub fn check(&self, command: &str, flag: &str, path: &Path) -> Result<()> {
        let Some(ext) = path.extension().and_then(|e| e.to_str()) else {
            return Ok(());
        };
        if self.allow_checkpoint_extension || !CHECKPOINT_EXTENSIONS.contains(&ext) {
            return Ok(());
        }
        Err(Error::BadArgument(format!(
            "{flag} {}: .{ext} is the extension of model checkpoints, and `{command}` does not \
             write its results under such a name unless asked, so that a slip cannot replace a \
             model; write a .npy file, or add --allow-checkpoint-extension to write this one",
            path.display()
        )))
    }
}

/// Output formats of arrays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputKind {
    /// One `.npy` array.
    Npy,
    /// Named arrays with metadata.
    Safetensors,
}

/// The output format of `path` by its extension.
pub fn output_kind(path: &Path) -> Result<OutputKind> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("npy") => Ok(OutputKind::Npy),
        Some("safetensors") => Ok(OutputKind::Safetensors),
        _ => Err(Error::BadArgument(format!(
            "--out {}: the output must end in .npy or .safetensors",
            path.display()
        ))),
    }
}

/// Writes a command's per-sample results to `out` (format by [`output_kind`]): the `main`
/// array alone (.npy), or every array by its name with the `metadata` (.safetensors).
pub fn write_results(
    out: &Path,
    main: (&str, &HostArray),
    more: Vec<(&str, HostArray)>,
    metadata: &[(&str, String)],
) -> Result<()> {
    match output_kind(out)? {
        OutputKind::Npy => write_npy(out, main.1),
        OutputKind::Safetensors => {
            let mut ck = Checkpoint::new();
            ck.insert(main.0, main.1.clone())?;
            for (name, a) in more {
                ck.insert(name, a)?;
            }
            for (key, value) in metadata {
                ck.set_meta(*key, value.as_str());
            }
            save_checkpoint(out, &ck)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_text_shows_each_cause_once() {
        let io = std::io::Error::from_raw_os_error(2);
        let e = anyhow::Error::new(Error::io("/no/such.npy", io)).context("writing /no/such.npy");
        let text = error_text(&e);
        assert_eq!(text.matches("(os error 2)").count(), 1, "{text}");
        assert!(
            text.starts_with("writing /no/such.npy: /no/such.npy: "),
            "{text}"
        );
        let e = anyhow::anyhow!("inner").context("outer");
        assert_eq!(error_text(&e), "outer: inner");
    }
}
