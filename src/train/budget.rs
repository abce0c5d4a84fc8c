//! The memory a training run needs, estimated before anything of that size is allocated:
//! the parameters with their optimizer state and EMA (on the host and on each device), the
//! rows of one call's batches, the per-step tensors of the loss (a floor on activations), and
//! after compilation the compiler's own plan of each device's memory.
//!
//! On the CPU plugin devices live in host memory, so device needs count against the host's.

use crate::error::Result;
use crate::exec::Compiled;
use crate::memory::{Budget, bytes_of};
use crate::train::TrainConfig;

/// What to change when a run does not fit.
const FIX: &str = "lower train.batch_size (or raise train.accumulate), train.steps_per_call, the \
                   model's size or --devices";

/// The sizes a training run is made of.
pub struct RunSize<'a> {
    /// The `[train]` section.
    pub train: &'a TrainConfig,
    /// Bytes of the model's parameters (`None`: beyond 2^64).
    pub param_bytes: Option<u64>,
    /// Elements of one sample's data and conditioning (x, q, a).
    pub row_elems: usize,
    /// Bytes of the training set held on each device (device feed), else 0.
    pub device_data_bytes: u64,
    /// Data-parallel devices.
    pub devices: usize,
    /// Whether the devices share the host's memory (the CPU plugin).
    pub devices_in_host_memory: bool,
}

/// The parameter bytes of a model from its array leaves' shapes and element sizes, with
/// checked arithmetic (`None` when they overflow).
pub fn param_bytes<'s>(leaves: impl IntoIterator<Item = (&'s [usize], usize)>) -> Option<u64> {
    leaves.into_iter().try_fold(0u64, |acc, (shape, elem)| {
        acc.checked_add(bytes_of(shape.iter().copied(), elem)?)
    })
}

impl RunSize<'_> {
    /// The estimate before compiling: state copies, the batches of one call, and the loss's
    /// per-step tensors. Refuses when it exceeds the memory available.
    pub fn check(&self) -> Result<()> {
        let t = self.train;
        let p = self.param_bytes;
        let mul = |b: Option<u64>, k: u64| b.and_then(|b| b.checked_mul(k));
        // Host: parameters, optimizer moments (Adam: 2), EMA; each device the same plus
        // gradients.
        let host_state = mul(p, 4);
        let per_device_state = mul(p, 5);
        let rows = bytes_of([t.batch_size, t.steps_per_call, self.row_elems], 4);
        // x, noise, x(t), score, residual and their cotangents of one minibatch.
        let loss_floor = bytes_of([t.batch_size / t.accumulate.max(1), self.row_elems], 4 * 8);
        let per_device = [per_device_state, Some(self.device_data_bytes), loss_floor]
            .into_iter()
            .try_fold(0u64, |a, b| a.checked_add(b?));
        let mut budget = Budget::new()
            .add(
                "parameters, optimizer state and EMA on the host",
                host_state,
            )
            .add("one call's batch rows", rows);
        if self.devices_in_host_memory {
            budget = budget.add(
                format!(
                    "each of {} device(s): state, data and loss tensors",
                    self.devices
                ),
                mul(per_device, self.devices as u64),
            );
        }
        budget.check("this training run", FIX)
    }
}

/// Refuses a compiled training program (see [`crate::memory::check_compiled`]).
pub fn check_compiled(
    exe: &Compiled,
    devices: usize,
    in_host_memory: bool,
    what: &str,
) -> Result<()> {
    crate::memory::check_compiled(exe.executable(), devices, in_host_memory, what, FIX)
}
