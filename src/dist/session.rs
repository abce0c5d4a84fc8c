//! The client of one process of a job: the plugin checked (no CPU plugin across processes),
//! the key-value store joined, the client created with the store, and the processes' local
//! device counts compared through the store.

use super::discovery::ProcessSet;
use super::store::{Store, StoreOptions};
use crate::error::{Error, Result};
use crate::pjrt::assignment::check_local_counts;
use crate::pjrt::client::multi_process_cpu_error;
use crate::pjrt::{Client, ClientOptions, Distributed, NamedValue, PluginSpec, plugin};
use std::sync::Arc;

/// Opens the client of this process of `set`. One process: `Client::open(spec, options)`.
/// Several: a CPU plugin is refused before anything starts; otherwise the store is joined
/// (process 0 serves it), the client is created with it (`node_id`, `num_nodes` and the
/// key-value callbacks, except for libtpu, which finds its peers itself), and every process
/// checks that all have the same number of local devices.
pub fn open_client(
    spec: &PluginSpec,
    options: &ClientOptions,
    set: &ProcessSet,
    store_options: &StoreOptions,
) -> Result<Client> {
    if !set.is_multi_process() {
        return Client::open(spec, options);
    }
    let api = plugin::load(spec)?;
    let platform = plugin::platform_of_library(api.path());
    if platform == Some("cpu") {
        return Err(multi_process_cpu_error(
            api.path(),
            set.process_id,
            set.num_processes,
        ));
    }
    let store = Arc::new(Store::connect(set, store_options)?);
    let mut extra = options.extra.clone();
    if platform == Some("cuda") && mock_nccl_asked() {
        extra.extend(mock_nccl_options());
    }
    let options = ClientOptions {
        extra,
        cpu_device_count: None,
        distributed: Some(Distributed {
            node_id: set.process_id,
            num_nodes: set.num_processes,
            store: store.clone(),
            tell_plugin: platform != Some("tpu"),
        }),
    };
    let client = Client::with_api(api, &options).map_err(|e| match e {
        Error::Pjrt { code, message, .. } => Error::distributed(
            code,
            format!(
                "creating the client of {} with the plugin {} failed: {message}; a plugin that \
                 cannot take part in a multi-process job (no node_id/num_nodes options) needs \
                 one process (leave out --num-processes), else use the CUDA or TPU plugin",
                set.describe(),
                api.path().display()
            ),
        ),
        other => other,
    })?;
    check_same_local_devices(&store, client.device_count(), store_options)?;
    Ok(client)
}

/// The variable that makes a CUDA job's client fake the collectives (**tests only**:
/// `tools/multiprocess_cuda_mock.sh` runs two processes of a two-node job on one GPU).
pub const MOCK_NCCL_ENV: &str = "SBGM_XLA_MOCK_NCCL";

/// Whether [`MOCK_NCCL_ENV`] is `1`.
fn mock_nccl_asked() -> bool {
    std::env::var(MOCK_NCCL_ENV).as_deref() == Ok("1")
}

/// The CUDA plugin's options of a mock-NCCL test job: `enable_mock_nccl` (the plugin fakes
/// the other nodes' devices and the NCCL collectives: the numbers are not meaningful) and no
/// preallocation (the processes share one GPU).
pub fn mock_nccl_options() -> Vec<(String, NamedValue)> {
    vec![
        ("enable_mock_nccl".into(), NamedValue::Bool(true)),
        ("preallocate".into(), NamedValue::Bool(false)),
    ]
}

/// Every process's local device count, gathered through the store and compared.
pub fn check_same_local_devices(store: &Store, local: usize, options: &StoreOptions) -> Result<()> {
    let all = store.all_gather(
        "sbgm-xla/local-devices",
        &(local as u64).to_le_bytes(),
        options.connect_timeout,
    )?;
    let counts: Vec<usize> = all
        .iter()
        .map(|v| {
            v.as_slice()
                .try_into()
                .map(|b| u64::from_le_bytes(b) as usize)
                .unwrap_or(0)
        })
        .collect();
    check_local_counts(&counts)
}

/// The store of a multi-process client opened by [`open_client`] (`None` for one process):
/// the entry point for barriers, all-gathers and flags the processes must agree on.
pub fn store_of(client: &Client) -> Option<Arc<Store>> {
    let any: Arc<dyn std::any::Any + Send + Sync> = client.key_value_store()?.clone();
    any.downcast::<Store>().ok()
}
