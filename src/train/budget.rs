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
use crate::train::mesh::Mesh;

/// What to change when a run does not fit.
const FIX: &str = "lower train.batch_size (or raise train.accumulate), train.steps_per_call, the \
                   model's size or --devices";

/// The sizes a training run is made of.
pub struct RunSize<'a> {
    /// The `[train]` section.
    pub train: &'a TrainConfig,
    /// Bytes of the model's parameters (`None`: beyond 2^64).
    pub param_bytes: Option<u64>,
    /// Bytes of the parameters the mesh splits along `fsdp` (what
    /// [`crate::train::step::StepProgram::state_split`] splits: [`split_param_bytes`]).
    pub split_param_bytes: Option<u64>,
    /// Elements of one sample's data and conditioning (x, q, a).
    pub row_elems: usize,
    /// Bytes of the training set held on each device (device feed), else 0.
    pub device_data_bytes: u64,
    /// The devices and how they are arranged.
    pub mesh: Mesh,
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

/// The bytes of the leaves (shapes and element sizes) that `mesh` splits along its `fsdp`
/// axis ([`Mesh::shard_dim`]: large enough and divisible), with checked arithmetic.
pub fn split_param_bytes<'s>(
    mesh: &Mesh,
    leaves: impl IntoIterator<Item = (&'s [usize], usize)>,
) -> Option<u64> {
    param_bytes(
        leaves
            .into_iter()
            .filter(|(shape, _)| mesh.shard_dim(shape).is_some()),
    )
}

impl RunSize<'_> {
    /// The estimate before compiling: state copies, the batches of one call, and the loss's
    /// per-step tensors. Refuses when it exceeds the memory available.
    pub fn check(&self) -> Result<()> {
        self.budget().check("this training run", FIX)
    }

    /// The estimate, itemised. Each device holds the parameters, optimizer moments (Adam: 2),
    /// EMA and gradients, those the mesh splits at 1/fsdp, plus one whole copy of the split
    /// parameters (what the step all-gathers); the host holds the state once, whole.
    pub fn budget(&self) -> Budget {
        let t = self.train;
        let mul = |b: Option<u64>, k: u64| b.and_then(|b| b.checked_mul(k));
        let split = self.split_param_bytes;
        let replicated = self
            .param_bytes
            .zip(split)
            .map(|(p, s)| p.saturating_sub(s));
        let fsdp = self.mesh.fsdp.max(1) as u64;
        let per_device_state = [
            mul(replicated, 5),
            mul(split, 5).map(|b| b.div_ceil(fsdp)),
            if fsdp > 1 { split } else { Some(0) },
        ]
        .into_iter()
        .try_fold(0u64, |a, b| a.checked_add(b?));
        let host_state = mul(self.param_bytes, 4);
        let rows = bytes_of([t.batch_size, t.steps_per_call, self.row_elems], 4);
        // x, noise, x(t), score, residual and their cotangents of one minibatch.
        let loss_floor = bytes_of([t.batch_size / t.accumulate.max(1), self.row_elems], 4 * 8);
        let per_device = [per_device_state, Some(self.device_data_bytes), loss_floor]
            .into_iter()
            .try_fold(0u64, |a, b| a.checked_add(b?));
        let devices = self.mesh.devices();
        let mut budget = Budget::new()
            .add(
                "parameters, optimizer state and EMA on the host",
                host_state,
            )
            .add("one call's batch rows", rows);
        if self.devices_in_host_memory {
            let split = if self.mesh.fsdp > 1 {
                format!(" (mesh {}: split state at 1/{fsdp})", self.mesh)
            } else {
                String::new()
            };
            budget = budget.add(
                format!("each of {devices} device(s){split}: state, data and loss tensors"),
                mul(per_device, devices as u64),
            );
        }
        budget
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_fsdp_mesh_counts_the_split_state_at_its_share_plus_one_gathered_copy() {
        let train = TrainConfig {
            batch_size: 64,
            steps_per_call: 10,
            ..TrainConfig::default()
        };
        // A 1024 x 1024 f32 weight (split by fsdp = 4) and a bias of 512 (replicated: below
        // mesh::REPLICATE_BELOW elements).
        let leaves: [(&[usize], usize); 2] = [(&[1024, 1024], 4), (&[512], 4)];
        let (w, b) = (4u64 << 20, 2048u64);
        let size = |mesh: Mesh| RunSize {
            train: &train,
            param_bytes: param_bytes(leaves),
            split_param_bytes: split_param_bytes(&mesh, leaves),
            row_elems: 2,
            device_data_bytes: 0,
            mesh,
            devices_in_host_memory: true,
        };
        let rows = 64 * 10 * 2 * 4;
        let loss = 64 * 2 * 32;
        let data4 = size(Mesh::data_parallel(4));
        assert_eq!(data4.split_param_bytes, Some(0));
        let host = 4 * (w + b);
        let want_data = host + rows + 4 * (5 * (w + b) + loss);
        assert_eq!(data4.budget().total(), Some(want_data));
        let fsdp4 = size(Mesh { data: 1, fsdp: 4 });
        assert_eq!(fsdp4.split_param_bytes, Some(w));
        // each device: 5 quarters of the weight, one gathered weight, 5 biases
        let want_fsdp = host + rows + 4 * (5 * w / 4 + w + 5 * b + loss);
        assert_eq!(fsdp4.budget().total(), Some(want_fsdp));
        // refused with data = 4, accepted with fsdp = 4 under the same memory
        let limit = Some((want_data + want_fsdp) / 2);
        let e = data4
            .budget()
            .check_against(limit, "this training run", FIX)
            .unwrap_err()
            .to_string();
        assert!(e.contains("each of 4 device(s)"), "{e}");
        let ok = fsdp4
            .budget()
            .check_against(limit, "this training run", FIX);
        assert!(ok.is_ok(), "{ok:?}");
        let e = size(Mesh { data: 1, fsdp: 4 })
            .budget()
            .check_against(Some(want_fsdp - 1), "this training run", FIX)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("mesh { data = 1, fsdp = 4 }: split state at 1/4"),
            "{e}"
        );
    }
}
