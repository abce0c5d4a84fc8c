//! Multi-process jobs (one process per host, or per GPU): who takes part, the key-value store
//! they share, and the client of each process. What XLA does itself (SPMD partitioning,
//! collectives over NCCL or ICI) stays XLA's; this layer is the glue.
//!
//! - [`discovery`]: the [`ProcessSet`] from `--coordinator HOST:PORT --process-id I
//!   --num-processes N`, `SBGM_XLA_COORDINATOR`/`SBGM_XLA_PROCESS_ID`/`SBGM_XLA_NUM_PROCESSES`,
//!   or a launcher's environment (SLURM, torchrun, Open MPI, TPU pods), in that order.
//! - [`store`]: [`Store`], process 0's TCP key-value store as every process sees it: set
//!   (refused when the key exists), blocking get with a timeout, try-get, barriers,
//!   all-gathers; a process whose connection drops is reported to every other one, which then
//!   stops with a message naming it ([`PeerDeath`]). [`server`] is process 0's side, [`wire`]
//!   the messages.
//! - [`session`]: [`open_client`] opens one process's PJRT client with the store (the plugin
//!   gets `node_id`, `num_nodes` and the key-value callbacks of [`crate::pjrt::kv`]) and checks
//!   that all processes have the same number of local devices; [`store_of`] finds the store
//!   again behind a client. Programs of a multi-process client are compiled over the global
//!   devices ([`crate::pjrt::assignment`]).
//! - [`agreement`]: the decisions all processes take together at call boundaries (stop on any
//!   process's request, barriers): [`Alone`] for one process, [`StoreAgreement`] for a job.
//!
//! ```
//! use sbgm_xla::dist::{LaunchFlags, discover};
//! use std::collections::HashMap;
//!
//! let env: HashMap<String, String> = [("SLURM_PROCID", "1"), ("SLURM_NTASKS", "4"),
//!     ("SLURM_STEP_NODELIST", "node[07-10]")]
//!     .into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
//! let set = discover(&LaunchFlags::default(), &env)?;
//! assert_eq!((set.process_id, set.num_processes), (1, 4));
//! assert_eq!(set.coordinator.as_deref(), Some("node07:8476"));
//! # Ok::<(), sbgm_xla::Error>(())
//! ```

pub mod agreement;
pub mod discovery;
pub mod server;
pub mod session;
pub mod store;
pub mod wire;

pub use agreement::{Agreement, Alone, StoreAgreement, agreement_of};
pub use discovery::{LaunchFlags, Launcher, ProcessSet, discover, discover_here};
pub use session::{open_client, store_of};
pub use store::{PeerDeath, Store, StoreOptions};
