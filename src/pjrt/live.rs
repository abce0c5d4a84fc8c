//! Counts of live PJRT objects owned by this process, for leak checks: every create adds one,
//! every destroy (in `Drop`) takes one away.

use std::sync::atomic::{AtomicIsize, Ordering};

pub(crate) static CLIENTS: AtomicIsize = AtomicIsize::new(0);
pub(crate) static BUFFERS: AtomicIsize = AtomicIsize::new(0);
pub(crate) static EXECUTABLES: AtomicIsize = AtomicIsize::new(0);

/// How many clients, buffers and executables are alive right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiveObjects {
    pub clients: isize,
    pub buffers: isize,
    pub executables: isize,
}

/// The current counts.
pub fn live_objects() -> LiveObjects {
    LiveObjects {
        clients: CLIENTS.load(Ordering::SeqCst),
        buffers: BUFFERS.load(Ordering::SeqCst),
        executables: EXECUTABLES.load(Ordering::SeqCst),
    }
}

pub(crate) fn created(counter: &AtomicIsize) {
    counter.fetch_add(1, Ordering::SeqCst);
}

pub(crate) fn destroyed(counter: &AtomicIsize) {
    counter.fetch_sub(1, Ordering::SeqCst);
}
