//! Stopping a run on request: Ctrl-C (SIGINT) or SIGTERM (what `kill` and job schedulers send).
//!
//! The first signal asks the training loop to stop at the end of the compiled call that is
//! running, save a checkpoint and exit with status 128 + the signal number (130 for Ctrl-C,
//! 143 for SIGTERM). A second signal stops the process at once, saying which checkpoint is
//! kept on disk (checkpoints are written atomically, so the last complete one is intact).

use std::sync::Mutex;
use std::sync::atomic::{AtomicI32, Ordering};

use signal_hook::consts::{SIGINT, SIGTERM};

/// The signal that asked to stop (0: none).
static REQUESTED: AtomicI32 = AtomicI32::new(0);
/// What is kept on disk if the process stops now (shown on a second signal).
static KEPT: Mutex<String> = Mutex::new(String::new());
/// How long the running call may still take (shown on the first signal).
static WAIT_HINT: Mutex<String> = Mutex::new(String::new());

/// Starts listening for SIGINT and SIGTERM (once per process; later calls do nothing) and
/// clears any earlier request.
pub fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
            return; // without handlers the default (terminate) applies
        };
        std::thread::spawn(move || {
            for sig in signals.forever() {
                if REQUESTED.swap(sig, Ordering::SeqCst) == 0 {
                    let wait = WAIT_HINT.lock().map(|w| w.clone()).unwrap_or_default();
                    eprintln!(
                        "\nsbgm-xla: {} received: stopping after the running call{wait} and \
                         saving a checkpoint; press Ctrl-C again to stop at once",
                        name(sig)
                    );
                } else {
                    let kept = KEPT.lock().map(|k| k.clone()).unwrap_or_default();
                    eprintln!("\nsbgm-xla: stopped at once ({}); {kept}", name(sig));
                    // SAFETY: `_exit` ends the process without running destructors or atexit
                    // handlers (the plugin's threads may be running); files on disk are
                    // complete (atomic writes) or temporary files cleaned at the next start.
                    unsafe { libc::_exit(128 + sig) };
                }
            }
        });
    });
    REQUESTED.store(0, Ordering::SeqCst);
}

/// The signal that asked to stop, if one did.
pub fn requested() -> Option<i32> {
    match REQUESTED.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// Records what stays on disk if a second signal stops the process now.
pub fn set_kept(text: String) {
    if let Ok(mut k) = KEPT.lock() {
        *k = text;
    }
}

/// Records how long the running call may still take (e.g. " (up to 24 s)").
pub fn set_wait_hint(text: String) {
    if let Ok(mut w) = WAIT_HINT.lock() {
        *w = text;
    }
}

/// The exit status for a run stopped by `signal`: 128 + its number.
pub fn exit_status(signal: i32) -> u8 {
    u8::try_from(128 + signal).unwrap_or(130)
}

/// A signal's usual name.
pub fn name(signal: i32) -> &'static str {
    match signal {
        SIGINT => "Ctrl-C (SIGINT)",
        SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}
