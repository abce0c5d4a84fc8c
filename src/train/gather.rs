//! Whole copies of training-state leaves that the mesh splits along its `fsdp` axis: a small
//! SPMD program over the training step's devices (the same partitions and device assignment)
//! that takes the leaves with the step's input shardings and returns them `{replicated}`, so
//! that XLA's SPMD partitioner inserts the all-gathers (over ICI/NCCL between hosts; no
//! collectives of our own). Every device gets a whole copy; the engine keeps its first
//! device's.
//!
//! The program is **collective**: with a job of several processes, every process must run it
//! at the same point of the run, in the same order (see [`crate::train::engine::Engine::state_if`]
//! and [`crate::train::engine::Engine::param_buffers`]).

use crate::error::{Error, Result};
use crate::exec::{Buffer, Compiled, Target};
use crate::graph::{BuildOptions, Graph, Module, Shape};
use crate::train::mesh::Mesh;

/// What to change when the gathered copies do not fit.
const FIX: &str = "give the devices more memory per copy of the state: a smaller model, or the \
                   CPU plugin's --devices 1 (the gather holds one whole copy of the split leaves \
                   on every device while it runs)";

/// The gather program of one group of split leaves (e.g. the parameters, which also serves
/// their EMA: the same shapes and shardings).
pub struct Gather {
    exe: Compiled,
    /// The leaves' shapes, in argument order.
    shapes: Vec<Shape>,
}

/// The gather module of leaves with `shapes` over `mesh` (each split along its
/// [`Mesh::shard_dim`]): arguments `leaf.<k>` with the step's state shardings, results
/// `whole.<k>` replicated.
pub fn build_gather(mesh: &Mesh, shapes: &[Shape]) -> Result<Module> {
    let g = Graph::new();
    let mut opts = BuildOptions {
        num_partitions: mesh.devices(),
        ..Default::default()
    };
    let mut outs = Vec::with_capacity(shapes.len());
    for (k, s) in shapes.iter().enumerate() {
        let name = format!("leaf.{k}");
        let t = g.param(&name, s.clone())?;
        opts.arg_sharding.push((name, mesh.state_sharding(&s.dims)));
        let whole = format!("whole.{k}");
        opts.result_sharding
            .push((whole.clone(), "{replicated}".into()));
        outs.push((whole, t));
    }
    let outputs: Vec<(&str, &crate::graph::Tensor)> =
        outs.iter().map(|(n, t)| (n.as_str(), t)).collect();
    g.build_with("gather_state", &outputs, &opts)
}

impl Gather {
    /// Compiles the gather of leaves with `shapes` over `mesh` on `target` (the global device
    /// assignment of [`Target::compile_spmd`], as the training step's), checked against the
    /// memory of its `devices` local devices where they live in host memory.
    pub fn compile(
        target: &Target,
        mesh: &Mesh,
        shapes: &[Shape],
        devices: usize,
    ) -> Result<Gather> {
        let exe = target.compile_spmd(&build_gather(mesh, shapes)?)?;
        crate::memory::check_compiled(
            exe.executable(),
            devices,
            target.in_host_memory(),
            "gathering the split training state",
            FIX,
        )?;
        Ok(Gather {
            exe,
            shapes: shapes.to_vec(),
        })
    }

    /// Runs the gather on `parts` (`[local device][leaf]`, this process's parts of each leaf)
    /// and returns the whole leaves on the first local device. Collective (see the module
    /// doc).
    pub fn run(&self, parts: &[Vec<&Buffer>]) -> Result<Vec<Buffer>> {
        if parts.iter().any(|p| p.len() != self.shapes.len()) {
            return Err(Error::msg(format!(
                "the state gather takes {} leaves per device",
                self.shapes.len()
            )));
        }
        let mut outs = self.exe.execute(parts)?;
        if outs.is_empty() {
            return Err(Error::msg("the state gather returned nothing"));
        }
        Ok(outs.swap_remove(0))
    }
}
