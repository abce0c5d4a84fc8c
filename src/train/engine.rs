//! The training engine: the compiled step program on a compile target with the training state
//! resident on the devices (donated call to call), and the data feed: the batch rows of each
//! call (device feed), or host batches that background workers gather (and augment) several
//! calls ahead ([`feed::PrefetchedFeed`]).

use std::sync::Arc;

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::exec::{Buffer, Compiled, Executable, Placement, Target};
use crate::graph::Shape;
use crate::host::HostArray;
use crate::train::feed;
use crate::train::gather::Gather;
use crate::train::state::TrainState;
use crate::train::step::{FeedLayout, Objective, StepLayout, StepProgram, UpdateRule, build_step};

/// A compiled training program with its state on the devices.
pub struct Engine {
    target: Target,
    exe: Compiled,
    program: StepProgram,
    layout: StepLayout,
    /// The program's partitions on this process's devices.
    placement: Placement,
    /// `[local device][state argument]`.
    state: Vec<Vec<Buffer>>,
    /// `[local device][resident data argument]` (device feed: the training arrays).
    data: Vec<Vec<Buffer>>,
    dataset: Arc<Dataset>,
    seed: u64,
    step: u64,
    names: (Vec<String>, Vec<String>),
    /// The host feed's workers, which also upload each call's batches (host feed only).
    host_feed: Option<feed::PrefetchedFeed<CallInputs>>,
    compile_s: f64,
    /// The gather programs of the split leaves ([`GatherGroup`]), compiled at first use.
    gathers: [std::sync::OnceLock<Gather>; 2],
}

/// The groups of state leaves with a gather program each: the parameters (and their EMA, of
/// the same shapes and shardings) and the optimizer state.
#[derive(Clone, Copy)]
enum GatherGroup {
    Params = 0,
    Opt = 1,
}

impl Engine {
    /// Builds and compiles the program for `layout` and puts `state` and the data on the
    /// devices (`0..layout.devices`; on a multi-process client, this process's of the job's
    /// devices, which feeds its slice of each batch).
    pub fn new(
        target: &Target,
        layout: StepLayout,
        obj: &Objective,
        opt: &UpdateRule,
        state: &TrainState,
        dataset: Arc<Dataset>,
        seed: u64,
    ) -> Result<Engine> {
        let placement = target.placement(layout.devices)?;
        check_placement(&layout, &placement)?;
        check_data(&layout, &dataset)?;
        let program = build_step(&layout, layout.graph_options(target), obj, opt)?;
        let t0 = std::time::Instant::now();
        let exe = target.compile_spmd(&program.module)?;
        let compile_s = t0.elapsed().as_secs_f64();
        if exe.executable().devices() != placement.devices().as_slice() {
            return Err(Error::msg(format!(
                "the training step was compiled for devices {:?} of this process, expected {:?}",
                exe.executable().devices(),
                placement.devices()
            )));
        }
        let names = (
            layout.params.iter().map(|(n, _)| n.clone()).collect(),
            opt.state.iter().map(|(n, _)| n.clone()).collect(),
        );
        let mut e = Engine {
            target: target.clone(),
            exe,
            program,
            layout,
            placement,
            state: vec![],
            data: vec![],
            dataset,
            seed,
            step: 0,
            names,
            host_feed: None,
            compile_s,
            gathers: Default::default(),
        };
        e.set_state(state)?;
        e.upload_data()?;
        if let FeedLayout::Host = e.layout.feed {
            let (process, processes) = e.placement.batch_slice()?;
            let f = feed::HostFeed::new(
                Arc::clone(&e.dataset),
                seed,
                e.layout.batch,
                process,
                processes,
            )?;
            let (target, devices) = (e.target.clone(), e.placement.devices());
            e.host_feed = Some(feed::PrefetchedFeed::staged(
                f,
                e.step,
                e.layout.steps_per_call,
                Box::new(move |inputs| upload_inputs(&target, &devices, inputs)),
            ));
        }
        Ok(e)
    }

    /// Seconds spent compiling the step program.
    pub fn compile_seconds(&self) -> f64 {
        self.compile_s
    }

    /// The program (module text, argument counts).
    pub fn program(&self) -> &StepProgram {
        &self.program
    }

    /// The compiled program.
    pub fn compiled(&self) -> &Compiled {
        &self.exe
    }

    /// The compiled executable (its per-device parameter shapes show the batch sharding).
    pub fn executable(&self) -> &Executable {
        self.exe.executable()
    }

    /// Steps taken so far.
    pub fn step(&self) -> u64 {
        self.step
    }

    /// The compile target.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Replaces the device state by `state`: each device gets its part of every leaf split
    /// along the mesh's `fsdp` axis, and all of the others; each process uploads to its own
    /// devices only (every process passes the same whole `state`).
    pub fn set_state(&mut self, state: &TrainState) -> Result<()> {
        let p = &self.program;
        if state.params.len() != p.n_params
            || state.opt.len() != p.n_opt
            || state.ema.len() != p.n_ema
        {
            return Err(Error::msg(format!(
                "the training state has {} parameter, {} optimizer and {} EMA leaves; the program \
                 expects {}, {} and {}",
                state.params.len(),
                state.opt.len(),
                state.ema.len(),
                p.n_params,
                p.n_opt,
                p.n_ema
            )));
        }
        let mut host: Vec<HostArray> = Vec::with_capacity(p.n_state());
        host.extend(state.params.iter().map(|(_, a)| a.clone()));
        host.extend(state.opt.iter().map(|(_, a)| a.clone()));
        host.extend(state.ema.iter().map(|(_, a)| a.clone()));
        host.push(feed::i32_scalar(state.step as i64)?);
        host.push(feed::key_array(state.key));
        let mesh = &self.layout.mesh;
        let local = &self.placement.local;
        let mut per_dev: Vec<Vec<Buffer>> = local.iter().map(|_| Vec::new()).collect();
        for (h, &dim) in host.iter().zip(&p.state_split) {
            let parts = mesh.local_parts(h, dim, &self.placement)?;
            for ((v, part), &(_, device)) in per_dev.iter_mut().zip(&parts).zip(local) {
                v.push(self.target.upload(part, device)?);
            }
        }
        self.state = per_dev;
        self.step = state.step;
        Ok(())
    }

    /// Copies the state back to the host, whole: the leaves split over the mesh gathered by
    /// the gather program ([`Gather`]), the others from this process's first device.
    /// Collective when the mesh splits the state: see [`Engine::state_if`].
    pub fn state(&self) -> Result<TrainState> {
        self.state_if(true)?
            .ok_or_else(|| Error::msg("the training state was not copied to the host"))
    }

    /// The whole state on the host where `here` (process 0, which writes checkpoints), `None`
    /// elsewhere. **Collective** when the mesh splits any leaf (`fsdp` > 1): the gather
    /// program runs on every device of the job, so every process must call this at the same
    /// point of the run, in the same order as its other gathers (those that get `None` too),
    /// or the others wait in the all-gather.
    pub fn state_if(&self, here: bool) -> Result<Option<TrainState>> {
        let p = &self.program;
        let (np, no, ne) = (p.n_params, p.n_opt, p.n_ema);
        let mut host: Vec<HostArray> = Vec::with_capacity(p.n_state());
        for (range, group) in [
            (0..np, GatherGroup::Params),
            (np..np + no, GatherGroup::Opt),
            (np + no..np + no + ne, GatherGroup::Params),
        ] {
            let whole = self.whole(range, group)?;
            if here {
                for b in &whole {
                    host.push(b.to_host()?);
                }
            }
        }
        if !here {
            return Ok(None);
        }
        for i in np + no + ne..p.n_state() {
            host.push(self.state[0][i].to_host()?);
        }
        let named = |names: &[String], vals: &[HostArray]| -> Vec<(String, HostArray)> {
            names.iter().cloned().zip(vals.iter().cloned()).collect()
        };
        let step: Vec<i32> = host[np + no + ne].to_vec()?;
        Ok(Some(TrainState {
            params: named(&self.names.0, &host[..np]),
            opt: named(&self.names.1, &host[np..np + no]),
            ema: named(&self.names.0, &host[np + no..np + no + ne]),
            step: step[0] as u64,
            key: feed::key_from(&host[np + no + ne + 1])?,
        }))
    }

    /// This process's parts of state argument `i` on the host, one per local device in
    /// argument order (the whole leaf where it is replicated): what the devices hold, e.g.
    /// to check the gather against a join on the host ([`crate::train::mesh::gather_dim`]).
    pub fn local_parts(&self, i: usize) -> Result<Vec<HostArray>> {
        if i >= self.program.n_state() {
            return Err(Error::msg(format!(
                "state argument {i} asked for; the program has {}",
                self.program.n_state()
            )));
        }
        self.state.iter().map(|dev| dev[i].to_host()).collect()
    }

    /// The parameters (or the EMA with `ema`), whole, on this process's first device: the
    /// engine's own buffers where they are replicated (no copy), gathered copies where the
    /// mesh splits them. **Collective** when the mesh splits any parameter: every process
    /// calls it at the same points (see [`Engine::state_if`]).
    pub fn param_buffers(&self, ema: bool) -> Result<Vec<ParamBuffer<'_>>> {
        let p = &self.program;
        let first = if ema && p.n_ema > 0 {
            p.n_params + p.n_opt
        } else {
            0
        };
        self.whole(first..first + p.n_params, GatherGroup::Params)
    }

    /// The state arguments `range`, whole, on this process's first device: replicated ones
    /// resident, split ones gathered by `group`'s program (compiled at its first use).
    fn whole(
        &self,
        range: std::ops::Range<usize>,
        group: GatherGroup,
    ) -> Result<Vec<ParamBuffer<'_>>> {
        let split = &self.program.state_split;
        let gathered: Vec<usize> = range.clone().filter(|&i| split[i].is_some()).collect();
        let mut joined = if gathered.is_empty() {
            Vec::new()
        } else {
            let parts: Vec<Vec<&Buffer>> = self
                .state
                .iter()
                .map(|dev| gathered.iter().map(|&i| &dev[i]).collect())
                .collect();
            self.gather(group, &gathered)?.run(&parts)?
        }
        .into_iter();
        range
            .map(|i| match split[i] {
                None => Ok(ParamBuffer::Resident(&self.state[0][i])),
                Some(_) => joined
                    .next()
                    .map(ParamBuffer::Joined)
                    .ok_or_else(|| Error::msg("the state gather returned too few leaves")),
            })
            .collect()
    }

    /// The gather program of `group`, whose split leaves are the state arguments `leaves`
    /// (compiled once, at the first call).
    fn gather(&self, group: GatherGroup, leaves: &[usize]) -> Result<&Gather> {
        let cell = &self.gathers[group as usize];
        if cell.get().is_none() {
            let shapes: Vec<Shape> = leaves
                .iter()
                .map(|&i| self.program.module.args[i].1.clone())
                .collect();
            let g = Gather::compile(
                &self.target,
                &self.layout.mesh,
                &shapes,
                self.placement.local.len(),
            )?;
            let _ = cell.set(g);
        }
        cell.get()
            .ok_or_else(|| Error::msg("the state gather was not compiled"))
    }

    /// Bytes of the training state (parameters, optimizer state, EMA, step, key) on each
    /// device, as the devices report them.
    pub fn state_bytes_per_device(&self) -> Result<Vec<usize>> {
        self.state
            .iter()
            .map(|bufs| bufs.iter().map(Buffer::on_device_size).sum())
            .collect()
    }

    fn upload_data(&mut self) -> Result<()> {
        let FeedLayout::Device { .. } = self.layout.feed else {
            self.data = self.placement.local.iter().map(|_| Vec::new()).collect();
            return Ok(());
        };
        let ds = &self.dataset;
        let mut host = vec![ds.x_host()];
        if self.layout.q_dims.is_some() {
            host.push(ds.q_host().expect("checked"));
        }
        if self.layout.a_dim.is_some() {
            host.push(ds.a_host().expect("checked"));
        }
        self.data = self
            .placement
            .devices()
            .into_iter()
            .map(|d| host.iter().map(|h| self.target.upload(h, d)).collect())
            .collect::<Result<_>>()?;
        Ok(())
    }

    /// The per-call inputs of a call starting at `start` on the devices: its batch rows
    /// (device feed), or its batches from the host feed's queue (uploaded by its workers
    /// while the previous calls ran).
    fn call_inputs(&self, start: u64) -> Result<Arc<CallInputs>> {
        match &self.host_feed {
            Some(f) => f.call(start),
            None => {
                let rows = feed::call_rows(
                    self.seed,
                    start,
                    self.layout.steps_per_call,
                    self.layout.batch,
                    self.dataset.len(),
                );
                let devices = self.placement.devices();
                Ok(Arc::new(upload_inputs(&self.target, &devices, &[rows])?))
            }
        }
    }

    /// Runs `n` training steps (at most `steps_per_call`) in one call and returns their
    /// losses. With the host feed, the batches of the next calls are prepared meanwhile.
    pub fn run(&mut self, n: usize) -> Result<Vec<f32>> {
        let k = self.layout.steps_per_call;
        if n == 0 || n > k {
            return Err(Error::msg(format!(
                "a call runs 1 to {k} steps (steps_per_call), asked for {n}"
            )));
        }
        let start = self.step;
        let inputs = self.call_inputs(start)?;
        let devices = self.placement.devices();
        let n_host = feed::i32_scalar(n as i64)?;
        let n_dev: Vec<Buffer> = devices
            .iter()
            .map(|&d| self.target.upload(&n_host, d))
            .collect::<Result<_>>()?;
        let n_state = self.program.n_state();
        let args: Vec<Vec<&Buffer>> = (0..devices.len())
            .map(|d| {
                let mut a: Vec<&Buffer> = self.state[d].iter().collect();
                a.push(&n_dev[d]);
                a.extend(self.data[d].iter());
                a.extend(inputs[d].iter());
                a
            })
            .collect();
        let donate: Vec<usize> = (0..n_state).collect();
        let next_start = start + n as u64;
        let outs = self.exe.execute_donating(&args, &donate);
        drop(args);
        let mut outs = outs?;
        let losses_buf = outs[0].pop().expect("losses result");
        for o in outs.iter_mut() {
            o.truncate(n_state);
        }
        self.state = outs;
        self.step = next_start;
        let losses: Vec<f32> = losses_buf.to_host()?.to_vec()?;
        Ok(losses[..n].to_vec())
    }
}

/// A call's per-call inputs on this process's devices: `[device][array]`.
type CallInputs = Vec<Vec<Buffer>>;

/// Uploads a call's host inputs to `devices`: each split along the batch (dimension 1; this
/// process's inputs are its slice of the batch) into one shard per device.
fn upload_inputs(target: &Target, devices: &[usize], hosts: &[HostArray]) -> Result<CallInputs> {
    let mut per_dev: CallInputs = devices.iter().map(|_| Vec::new()).collect();
    for h in hosts {
        if let [d] = devices {
            per_dev[0].push(target.upload(h, *d)?);
            continue;
        }
        let shards = feed::split_dim(h, 1, devices.len())?;
        for ((v, s), &d) in per_dev.iter_mut().zip(&shards).zip(devices) {
            v.push(target.upload(s, d)?);
        }
    }
    Ok(per_dev)
}

/// A state array whole on this process's first device (see [`Engine::param_buffers`]).
pub enum ParamBuffer<'a> {
    /// The engine's own buffer.
    Resident(&'a Buffer),
    /// A copy gathered from the devices' parts.
    Joined(Buffer),
}

impl std::ops::Deref for ParamBuffer<'_> {
    type Target = Buffer;

    fn deref(&self) -> &Buffer {
        match self {
            ParamBuffer::Resident(b) => b,
            ParamBuffer::Joined(b) => b,
        }
    }
}

/// Checks that this process can run its part of `layout`: on a multi-process client, the
/// device feed (which holds the whole training set on every device) is refused (the run
/// feeds from the host there). The `fsdp` axis may span processes: each process uploads its
/// own parts of the state ([`crate::train::mesh::Mesh::local_parts`]) and whole copies come
/// back through the collective gather program ([`Engine::state_if`]).
fn check_placement(layout: &StepLayout, placement: &Placement) -> Result<()> {
    if placement.is_multi_process()
        && let FeedLayout::Device { .. } = layout.feed
    {
        return Err(Error::config(
            "train",
            "feed",
            "a multi-process run feeds each process's slice of the batch from the host: set \
             feed = \"host\" or \"auto\"",
        ));
    }
    Ok(())
}

/// Checks the data set against the layout (shapes and conditioning).
fn check_data(layout: &StepLayout, ds: &Dataset) -> Result<()> {
    if ds.data_shape() != layout.x_dims.as_slice() {
        return Err(Error::msg(format!(
            "the data's samples have shape {:?} but the model expects {:?}; change [model] (its \
             data shape) or [data]",
            ds.data_shape(),
            layout.x_dims
        )));
    }
    match (&layout.q_dims, ds.context_shape()) {
        (Some(q), Some(d)) if q.as_slice() != d => {
            return Err(Error::msg(format!(
                "the data's context maps q have shape {d:?} but the model expects {q:?}"
            )));
        }
        (Some(_), None) => {
            return Err(Error::msg(
                "the model takes context maps q but the data set has none; use data with q or \
                 a model without q conditioning",
            ));
        }
        _ => {}
    }
    match (layout.a_dim, ds.parameter_dim()) {
        (Some(a), Some(d)) if a != d => {
            return Err(Error::msg(format!(
                "the data's parameter vectors a have length {d} but the model expects {a}"
            )));
        }
        (Some(_), None) => {
            return Err(Error::msg(
                "the model takes parameter vectors a but the data set has none; use data with a \
                 or a model without a conditioning",
            ));
        }
        _ => {}
    }
    if let FeedLayout::Device { .. } = layout.feed
        && (!ds.is_resident() || ds.augment().is_some())
    {
        return Err(Error::config(
            "train",
            "feed",
            "the device feed holds the whole training set on the devices, unaugmented; a \
             memory-mapped set ([data] resident = false) or [data] augment needs the host \
             feed: set feed = \"host\" or \"auto\"",
        ));
    }
    if let FeedLayout::Device { rows } = layout.feed
        && rows != ds.len()
    {
        return Err(Error::msg(format!(
            "the program was built for {rows} training samples, the data set has {}",
            ds.len()
        )));
    }
    Ok(())
}
