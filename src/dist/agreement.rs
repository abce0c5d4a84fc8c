//! Decisions every process of a job must take together, at the boundaries between compiled
//! calls: whether to stop (a non-finite loss, Ctrl-C or SIGTERM on any process), and barriers
//! (the others wait while process 0 writes a checkpoint). One process agrees with itself for
//! free ([`Alone`]); a job agrees through the key-value store ([`StoreAgreement`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::store::Store;
use crate::error::{Error, Result};

/// What one process brings to a decision: a code, 0 for "nothing to report" (e.g. the signal
/// that asked it to stop).
pub type Status = i32;

/// The processes' shared decisions, each round taken by every process in the same order.
pub trait Agreement: Send + Sync {
    /// Every process's `status` of this round, in process order.
    fn gather(&self, status: Status) -> Result<Vec<Status>>;

    /// Waits until every process has arrived here.
    fn barrier(&self) -> Result<()> {
        self.gather(0).map(|_| ())
    }

    /// The first non-zero status of any process (`None`: every process reported 0), so
    /// that all stop at the same call when one wants to.
    fn first_request(&self, status: Status) -> Result<Option<Status>> {
        Ok(self.gather(status)?.into_iter().find(|&s| s != 0))
    }
}

/// One process: every decision is its own, at no cost.
#[derive(Clone, Copy, Debug, Default)]
pub struct Alone;

impl Agreement for Alone {
    fn gather(&self, status: Status) -> Result<Vec<Status>> {
        Ok(vec![status])
    }
}

/// Decisions through the job's key-value store: each round an all-gather of one small status
/// under a name numbered by the round (every process takes the rounds in the same order). A
/// peer that died is an error naming it (the store's dead-peer signal), never a hang.
pub struct StoreAgreement {
    store: Arc<Store>,
    timeout: Duration,
    round: AtomicU64,
}

/// How long a process waits for the others at a call boundary (they may be writing a
/// checkpoint or still compiling).
pub const AGREEMENT_TIMEOUT: Duration = Duration::from_secs(1800);

impl StoreAgreement {
    /// Agreement through `store`, waiting at most `timeout` for the others each round.
    pub fn new(store: Arc<Store>, timeout: Duration) -> StoreAgreement {
        StoreAgreement {
            store,
            timeout,
            round: AtomicU64::new(0),
        }
    }
}

impl Agreement for StoreAgreement {
    fn gather(&self, status: Status) -> Result<Vec<Status>> {
        let round = self.round.fetch_add(1, Ordering::SeqCst);
        let all = self.store.all_gather(
            &format!("agree/{round}"),
            &status.to_le_bytes(),
            self.timeout,
        )?;
        all.iter()
            .enumerate()
            .map(|(p, v)| {
                v.as_slice()
                    .try_into()
                    .map(Status::from_le_bytes)
                    .map_err(|_| {
                        Error::msg(format!(
                            "round {round} of the processes' agreement: process {p} sent {} \
                             bytes, not a status (4); every process must run the same sbgm-xla",
                            v.len()
                        ))
                    })
            })
            .collect()
    }
}

/// The agreement of the client's job: through its store when it has one, else [`Alone`].
pub fn agreement_of(client: &crate::pjrt::Client) -> Arc<dyn Agreement> {
    match super::store_of(client) {
        Some(store) => Arc::new(StoreAgreement::new(store, AGREEMENT_TIMEOUT)),
        None => Arc::new(Alone),
    }
}
