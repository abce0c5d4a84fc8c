//! The compiled training program: one executable runs up to `K` training steps per call (a
//! `stablehlo.while`), with parameters, optimizer state, EMA, step and RNG key as donated
//! arguments, batches gathered on the device, and the batch sharded over SPMD partitions
//! (the state too, along the `fsdp` axis of the layout's [`Mesh`]: replicated otherwise).
//!
//! Arguments of `@main`, in order (names as in the module):
//! `params.<leaf>`…, `opt.<leaf>`…, `ema.<leaf>`… (when the EMA is on), `step` (`i32`),
//! `key` (`u64[2]`), `n` (`i32`, steps to run this call, at most `K`), then the data:
//! - [`FeedLayout::Device`]: `data.x` `(N, …)` (+ `data.q`, `data.a`), replicated, and `idx`
//!   `i32 (K, B)` (the rows of each step, drawn on the host by [`crate::train::feed`]),
//!   sharded along the batch;
//! - [`FeedLayout::Host`]: `batch.x` `(K, B, …)` (+ `batch.q`, `batch.a`), sharded along the
//!   batch.
//!
//! Results: the new `params`, `opt`, `ema`, `step`, `key` (aliased to the donated arguments)
//! and `losses` `f32 (K)` (the training loss of each step run; entries past `n` are 0).

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::exec::Target;
use crate::graph::{
    BuildOptions, Graph, GraphOptions, MatmulPrecision, Module, Rng, Shape, Tensor, value_and_grad,
};
use crate::sample::{Cond, NullCond};
use crate::sde::Sde;
use crate::train::ema::{ema_update, ema_update_warm};
use crate::train::loss::{LossWeight, drop_cond, dsm_terms};
use crate::train::mesh::Mesh;

/// The score network as a function of its parameters, in graph code: `(params, t (B),
/// y (B, …), cond, dropout stream)` → score `(B, …)`. The stream is `Some` in training
/// (dropout on) and `None` at inference. (Bound to fixed parameters it is a
/// [`crate::sample::ScoreFn`], the samplers' view.) Training batches carry `q` and `a` of
/// the [`Cond`], never labels.
pub type ScoreNetwork<'a> =
    dyn Fn(&[Tensor], &Tensor, &Tensor, &Cond, Option<&mut Rng>) -> Result<Tensor> + 'a;

/// The training objective: sbgm's denoising score-matching loss of a score network under an
/// SDE ([`crate::train::loss`]).
pub struct Objective<'a> {
    /// The score network.
    pub score: &'a ScoreNetwork<'a>,
    /// The SDE.
    pub sde: &'a Sde,
    /// The loss weighting λ(t) (and with it how times are drawn).
    pub weight: &'a LossWeight,
}

/// An optimizer as graph code (see [`crate::train::optim::BoundOptimizer`]).
pub struct UpdateRule<'a> {
    /// Its state leaves (names and types), in order.
    pub state: Vec<(String, Shape)>,
    /// `(params, grads, state)` → (new params, new state).
    #[allow(clippy::type_complexity)]
    pub update: &'a dyn Fn(&[Tensor], &[Tensor], &[Tensor]) -> Result<(Vec<Tensor>, Vec<Tensor>)>,
}

/// Where the training program gets its batches.
#[derive(Clone, Debug, PartialEq)]
pub enum FeedLayout {
    /// The training set (`rows` samples) is an argument; the step gathers rows `idx`.
    Device {
        /// Number of training samples.
        rows: usize,
    },
    /// The host uploads each call's batches `(K, B, …)`.
    Host,
}

/// The static layout of a training program.
#[derive(Clone, Debug, PartialEq)]
pub struct StepLayout {
    /// Parameter leaves (Equinox paths) and types.
    pub params: Vec<(String, Shape)>,
    /// Whether an EMA of the parameters is kept.
    pub ema_rate: Option<f64>,
    /// Whether the EMA decay warms up (`min(rate, (1 + n) / (10 + n))` after step `n`).
    pub ema_warmup: bool,
    /// Samples per step, over all devices.
    pub batch: usize,
    /// Steps per call (`K`).
    pub steps_per_call: usize,
    /// SPMD partitions the batch is split over.
    pub devices: usize,
    /// How those devices are arranged ([`Mesh::devices`] must equal `devices`): the state is
    /// split along its `fsdp` axis.
    pub mesh: Mesh,
    /// Minibatches per step (gradient accumulation).
    pub accumulate: usize,
    /// Probability of replacing a sample's `q`/`a` by the null values `cond_null`.
    pub cond_dropout: f64,
    /// The values of dropped `q`/`a` ([`crate::train::NullSpec::values`]).
    pub cond_null: NullCond,
    /// Per-sample dims of `x`.
    pub x_dims: Vec<usize>,
    /// Per-sample dims of `q`, if the data has context maps.
    pub q_dims: Option<Vec<usize>>,
    /// Length of `a`, if the data has parameter vectors.
    pub a_dim: Option<usize>,
    /// Where batches come from.
    pub feed: FeedLayout,
    /// How `f32` matrix products multiply (`train.matmul_precision`).
    pub precision: MatmulPrecision,
}

/// A built training program with the positions of its arguments.
#[derive(Clone, Debug)]
pub struct StepProgram {
    /// The StableHLO module.
    pub module: Module,
    /// Number of parameter leaves.
    pub n_params: usize,
    /// Number of optimizer-state leaves.
    pub n_opt: usize,
    /// Number of EMA leaves (0 without EMA).
    pub n_ema: usize,
    /// Names of the data arguments after `n` (in order).
    pub data_args: Vec<String>,
    /// For each state argument, the dimension it is split along over the mesh's `fsdp` axis
    /// (`None`: replicated).
    pub state_split: Vec<Option<usize>>,
}

impl StepProgram {
    /// Number of state arguments (params, opt, ema, step, key), all donated.
    pub fn n_state(&self) -> usize {
        self.n_params + self.n_opt + self.n_ema + 2
    }
}

impl StepLayout {
    /// The build options of the layout's programs on `target`: products at the layout's
    /// precision, bf16 ones in the target's host kernel when the program runs on one device
    /// ([`Target::graph_options`]).
    pub fn graph_options(&self, target: &Target) -> GraphOptions {
        target
            .with_precision(self.precision)
            .graph_options(self.devices)
    }

    /// Checks the layout, naming the key to change.
    pub fn validate(&self) -> Result<()> {
        if self.mesh.devices() != self.devices {
            return Err(Error::config(
                "train",
                "mesh",
                format!(
                    "mesh = {} has {} devices but the run has {}; make the axes multiply to {} \
                     or set train.devices (--devices) to {}",
                    self.mesh,
                    self.mesh.devices(),
                    self.devices,
                    self.devices,
                    self.mesh.devices()
                ),
            ));
        }
        if self.devices == 0 || !self.batch.is_multiple_of(self.devices) {
            let over = if self.mesh.fsdp > 1 {
                format!(" (the mesh's data × fsdp = {})", self.mesh)
            } else {
                String::new()
            };
            return Err(Error::msg(format!(
                "[train] batch_size = {} is not divisible by the {} devices it is split \
                 over{over}; use a batch size that is a multiple of {} or set train.devices \
                 (--devices) or train.mesh",
                self.batch, self.devices, self.devices
            )));
        }
        if self.accumulate == 0 || !self.batch.is_multiple_of(self.accumulate) {
            return Err(Error::msg(format!(
                "[train] batch_size = {} is not divisible by accumulate = {}",
                self.batch, self.accumulate
            )));
        }
        if let FeedLayout::Device { rows: 0 } = self.feed {
            return Err(Error::msg("the training set is empty"));
        }
        Ok(())
    }

    /// The mhlo sharding that splits dimension `dim` of a rank-`rank` array over the devices.
    pub fn split_sharding(&self, rank: usize, dim: usize) -> String {
        self.mesh.batch_sharding(rank, dim)
    }
}

/// The loss of a batch with times `t`: noise drawn from `rng`, the network in training mode
/// (dropout drawing from `rng`) when `train`.
pub fn batch_loss(
    obj: &Objective,
    params: &[Tensor],
    x: &Tensor,
    t: &Tensor,
    cond: &Cond,
    rng: &mut Rng,
    train: bool,
) -> Result<Tensor> {
    let eps = rng.normal(x.dims(), x.dtype())?;
    let r = std::cell::RefCell::new(rng);
    let score = |t: &Tensor, y: &Tensor| -> Result<Tensor> {
        if train {
            let mut g = r.borrow_mut();
            (obj.score)(params, t, y, cond, Some(&mut **g))
        } else {
            (obj.score)(params, t, y, cond, None)
        }
    };
    Ok(dsm_terms(obj.sde, obj.weight, &score, x, t, &eps)?.loss)
}

/// Rows `[start, start + len)` of dimension 0.
fn rows(t: &Tensor, start: &Tensor, len: usize) -> Result<Tensor> {
    let g = t.graph();
    let zero = g.scalar(0.0, DType::I32)?;
    let mut starts = vec![start.clone()];
    starts.extend(std::iter::repeat_n(zero, t.rank() - 1));
    let mut sizes = t.dims().to_vec();
    sizes[0] = len;
    t.dynamic_slice(&starts, &sizes)
}

/// Builds the training program, its products lowered as `options` say
/// ([`StepLayout::graph_options`]).
pub fn build_step(
    layout: &StepLayout,
    options: GraphOptions,
    obj: &Objective,
    opt: &UpdateRule,
) -> Result<StepProgram> {
    layout.validate()?;
    let g = Graph::with_options(options);
    let state = declare_state(&g, layout, opt)?;
    let n = g.parameter("n", &[], DType::I32)?;
    let data = DataArgs::declare(&g, layout)?;
    let losses0 = g.zeros(&[layout.steps_per_call], DType::F32)?;
    let mut init = vec![g.scalar(0.0, DType::I32)?];
    init.extend(state);
    init.push(losses0);
    let (np, no) = (layout.params.len(), opt.state.len());
    let ne = if layout.ema_rate.is_some() { np } else { 0 };
    let out = g.while_loop(
        &init,
        |c| c[0].lt(&n),
        |c| {
            let carry = Carry::split(c, np, no, ne);
            let (x, cond) = data.batch_at(&carry.i)?;
            train_step(&g, layout, obj, opt, &carry, &x, &cond)
        },
    )?;
    let names = result_names(layout, opt);
    let outputs: Vec<(&str, &Tensor)> = names.iter().map(String::as_str).zip(&out[1..]).collect();
    let module = g.build_with(
        "train_step",
        &outputs,
        &step_build_options(layout, &names, &state_sharding(layout, opt), &data),
    )?;
    Ok(StepProgram {
        module,
        n_params: np,
        n_opt: no,
        n_ema: ne,
        data_args: data.names,
        state_split: state_split(layout, opt),
    })
}

/// Declares the state arguments: `params.*`, `opt.*`, `ema.*` (with the EMA), `step`, `key`.
fn declare_state(g: &Graph, layout: &StepLayout, opt: &UpdateRule) -> Result<Vec<Tensor>> {
    let mut state = Vec::new();
    for (p, s) in &layout.params {
        state.push(g.param(&format!("params.{p}"), s.clone())?);
    }
    for (p, s) in &opt.state {
        state.push(g.param(&format!("opt.{p}"), s.clone())?);
    }
    if layout.ema_rate.is_some() {
        for (p, s) in &layout.params {
            state.push(g.param(&format!("ema.{p}"), s.clone())?);
        }
    }
    state.push(g.parameter("step", &[], DType::I32)?);
    state.push(g.parameter("key", &[2], DType::U64)?);
    Ok(state)
}

/// The shapes of the `params`, `opt` and `ema` state leaves, in argument order.
fn state_shapes<'a>(layout: &'a StepLayout, opt: &'a UpdateRule) -> Vec<&'a Shape> {
    let params = layout.params.iter().map(|(_, s)| s);
    let ema = layout.ema_rate.is_some().then_some(params.clone());
    params
        .chain(opt.state.iter().map(|(_, s)| s))
        .chain(ema.into_iter().flatten())
        .collect()
}

/// The dimension each state argument is split along on the mesh (`step` and `key` never).
fn state_split(layout: &StepLayout, opt: &UpdateRule) -> Vec<Option<usize>> {
    let mut split: Vec<Option<usize>> = state_shapes(layout, opt)
        .into_iter()
        .map(|s| layout.mesh.shard_dim(&s.dims))
        .collect();
    split.extend([None, None]);
    split
}

/// The `mhlo.sharding` of each state argument and result.
fn state_sharding(layout: &StepLayout, opt: &UpdateRule) -> Vec<String> {
    let mut s: Vec<String> = state_shapes(layout, opt)
        .into_iter()
        .map(|s| layout.mesh.state_sharding(&s.dims))
        .collect();
    s.extend(["{replicated}".to_string(), "{replicated}".to_string()]);
    s
}

/// The names of the state results (as the state arguments) and `losses`, in order.
fn result_names(layout: &StepLayout, opt: &UpdateRule) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for (pn, _) in &layout.params {
        names.push(format!("params.{pn}"));
    }
    for (on, _) in &opt.state {
        names.push(format!("opt.{on}"));
    }
    if layout.ema_rate.is_some() {
        for (pn, _) in &layout.params {
            names.push(format!("ema.{pn}"));
        }
    }
    names.push("step".into());
    names.push("key".into());
    names.push("losses".into());
    names
}

/// The module options: the state donated, and over several devices each argument's sharding
/// (the batch split over all devices, the state split along the mesh's `fsdp` axis or
/// replicated, the rest replicated) and the results' (the state as its arguments, the losses
/// replicated).
fn step_build_options(
    layout: &StepLayout,
    names: &[String],
    state_sharding: &[String],
    data: &DataArgs,
) -> BuildOptions {
    let state = &names[..names.len() - 1];
    let mut opts = BuildOptions {
        num_partitions: layout.devices,
        donate: state.to_vec(),
        ..Default::default()
    };
    if layout.devices > 1 {
        let state = state.iter().cloned().zip(state_sharding.iter().cloned());
        opts.result_sharding = state.clone().collect();
        opts.result_sharding
            .push(("losses".into(), "{replicated}".into()));
        opts.arg_sharding = state.collect();
        let rest = std::iter::once("n".to_string()).chain(data.names.iter().cloned());
        for a in rest {
            let s = match data.sharded.iter().find(|(nm, _, _)| *nm == a) {
                Some((_, rank, dim)) => layout.split_sharding(*rank, *dim),
                None => "{replicated}".to_string(),
            };
            opts.arg_sharding.push((a, s));
        }
    }
    opts
}

/// The data arguments of the step and how a step takes its batch from them.
struct DataArgs {
    source: BatchSource,
    /// Names of the data arguments, in order.
    names: Vec<String>,
    /// The sharded ones: (name, rank, split dimension).
    sharded: Vec<(String, usize, usize)>,
}

/// Where a step's batch comes from.
enum BatchSource {
    /// The training set `(N, …)` and the rows of each step `idx (K, B)`.
    Device { x: Tensor, cond: Cond, idx: Tensor },
    /// The call's batches `(K, B, …)`.
    Host { x: Tensor, cond: Cond },
}

impl DataArgs {
    /// Declares the data arguments of `layout.feed`.
    fn declare(g: &Graph, layout: &StepLayout) -> Result<DataArgs> {
        let (b, k) = (layout.batch, layout.steps_per_call);
        let mut names = Vec::new();
        let mut sharded = Vec::new();
        let mut decl = |name: &str, lead: &[usize], per: &[usize], dt: DType, shard: bool| {
            names.push(name.to_string());
            let mut dims = lead.to_vec();
            dims.extend_from_slice(per);
            if shard {
                sharded.push((name.to_string(), dims.len(), 1));
            }
            g.parameter(name, &dims, dt)
        };
        let a_dims = layout.a_dim.map(|a| vec![a]);
        let (prefix, lead, shard): (&str, Vec<usize>, bool) = match layout.feed {
            FeedLayout::Device { rows } => ("data", vec![rows], false),
            FeedLayout::Host => ("batch", vec![k, b], true),
        };
        let x = decl(
            &format!("{prefix}.x"),
            &lead,
            &layout.x_dims,
            DType::F32,
            shard,
        )?;
        let mut opt = |name: &str, per: &Option<Vec<usize>>| {
            per.as_ref()
                .map(|per| decl(&format!("{prefix}.{name}"), &lead, per, DType::F32, shard))
                .transpose()
        };
        let cond = Cond {
            q: opt("q", &layout.q_dims)?,
            a: opt("a", &a_dims)?,
            labels: None,
        };
        let source = match layout.feed {
            FeedLayout::Device { .. } => BatchSource::Device {
                x,
                cond,
                idx: decl("idx", &[k, b], &[], DType::I32, true)?,
            },
            FeedLayout::Host => BatchSource::Host { x, cond },
        };
        Ok(DataArgs {
            source,
            names,
            sharded,
        })
    }

    /// The batch of step `i` of the call and its conditioning.
    fn batch_at(&self, i: &Tensor) -> Result<(Tensor, Cond)> {
        let one = |t: &Tensor| -> Result<Tensor> {
            let r = rows(t, i, 1)?;
            r.reshape(&r.dims()[1..])
        };
        type Pick<'p> = Box<dyn Fn(&Tensor) -> Result<Tensor> + 'p>;
        let (x, cond, pick): (_, _, Pick) = match &self.source {
            BatchSource::Device { x, cond, idx } => {
                let ix = one(idx)?;
                (x, cond, Box::new(move |t: &Tensor| t.take(&ix)))
            }
            BatchSource::Host { x, cond } => (x, cond, Box::new(one)),
        };
        let part = |t: &Option<Tensor>| t.as_ref().map(&pick).transpose();
        Ok((
            pick(x)?,
            Cond {
                q: part(&cond.q)?,
                a: part(&cond.a)?,
                labels: None,
            },
        ))
    }
}

/// The training loop's carried values: `i`, the state, and the losses so far.
struct Carry<'c> {
    i: Tensor,
    params: &'c [Tensor],
    opt: &'c [Tensor],
    ema: &'c [Tensor],
    step: &'c Tensor,
    key: &'c Tensor,
    losses: &'c Tensor,
}

impl<'c> Carry<'c> {
    /// Splits the loop values (`i`, `np` params, `no` optimizer leaves, `ne` EMA leaves,
    /// step, key, losses).
    fn split(c: &'c [Tensor], np: usize, no: usize, ne: usize) -> Carry<'c> {
        let s = 1 + np + no + ne;
        Carry {
            i: c[0].clone(),
            params: &c[1..1 + np],
            opt: &c[1 + np..1 + np + no],
            ema: &c[1 + np + no..s],
            step: &c[s],
            key: &c[s + 1],
            losses: &c[s + 2],
        }
    }
}

/// One training step on the batch `x` with conditioning `cond`: the loss and its gradients
/// (accumulated over minibatches when `layout.accumulate > 1`), the optimizer's update, the
/// EMA; returns the next loop values.
fn train_step(
    g: &Graph,
    layout: &StepLayout,
    obj: &Objective,
    opt: &UpdateRule,
    c: &Carry,
    x: &Tensor,
    cond: &Cond,
) -> Result<Vec<Tensor>> {
    let mut rng = Rng::new(c.key)?;
    let t = obj
        .weight
        .sample_time(obj.sde, &mut rng, layout.batch, DType::F32)?;
    let cond = drop_cond(cond, layout.cond_dropout, &layout.cond_null, &mut rng)?;
    let p = c.params;
    let (loss, grads, key_out) = if layout.accumulate == 1 {
        let loss = batch_loss(obj, p, x, &t, &cond, &mut rng, true)?;
        let refs: Vec<&Tensor> = p.iter().collect();
        let (l, gr) = value_and_grad(&loss, &refs)?;
        (l, gr, rng.key().clone())
    } else {
        accumulate(obj, layout, p, x, &t, &cond, rng, g)?
    };
    let (p_new, o_new) = (opt.update)(p, &grads, c.opt)?;
    let mut next = vec![(&c.i + 1.0)?];
    next.extend(p_new.iter().cloned());
    next.extend(o_new);
    if let Some(rate) = layout.ema_rate {
        if layout.ema_warmup {
            next.extend(ema_update_warm(c.ema, &p_new, rate, c.step)?);
        } else {
            next.extend(ema_update(c.ema, &p_new, rate)?);
        }
    }
    next.push((c.step + 1.0)?);
    next.push(key_out);
    let at = std::slice::from_ref(&c.i);
    next.push(c.losses.dynamic_update_slice(&loss.reshape(&[1])?, at)?);
    Ok(next)
}

/// Gradient accumulation: the batch split into `layout.accumulate` minibatches in a loop,
/// gradients and losses averaged (sbgm's `accumulate_gradients_scan`).
#[allow(clippy::too_many_arguments)]
fn accumulate(
    obj: &Objective,
    layout: &StepLayout,
    p: &[Tensor],
    x: &Tensor,
    t: &Tensor,
    cond: &Cond,
    rng: Rng,
    g: &Graph,
) -> Result<(Tensor, Vec<Tensor>, Tensor)> {
    let m = layout.accumulate;
    let mb = layout.batch / m;
    let mut init: Vec<Tensor> = p.iter().map(|t| t.zeros_like()).collect::<Result<_>>()?;
    init.push(g.scalar(0.0, DType::F32)?);
    init.push(rng.key().clone());
    let np = p.len();
    let out = g.fori_loop(0, m as i64, &init, |j, c| {
        let start = (j * mb as f64)?;
        let xs = rows(x, &start, mb)?;
        let ts = rows(t, &start, mb)?;
        let cs = Cond {
            q: cond.q.as_ref().map(|q| rows(q, &start, mb)).transpose()?,
            a: cond.a.as_ref().map(|a| rows(a, &start, mb)).transpose()?,
            labels: None,
        };
        let mut r = Rng::new(&c[np + 1])?;
        let loss = batch_loss(obj, p, &xs, &ts, &cs, &mut r, true)?;
        let refs: Vec<&Tensor> = p.iter().collect();
        let (l, gr) = value_and_grad(&loss, &refs)?;
        let mut next: Vec<Tensor> = c[..np]
            .iter()
            .zip(&gr)
            .map(|(a, b)| a + b)
            .collect::<Result<_>>()?;
        next.push((&c[np] + &l)?);
        next.push(r.key().clone());
        Ok(next)
    })?;
    let inv = 1.0 / m as f64;
    let grads = out[..np]
        .iter()
        .map(|t| t * inv)
        .collect::<Result<Vec<_>>>()?;
    Ok(((&out[np] * inv)?, grads, out[np + 1].clone()))
}

/// Builds the evaluation program: the loss (no dropout) of a held-out batch.
/// Arguments: `params.<leaf>`…, `key`, `x` `(E, …)`, then `q`, `a` when present.
/// Result: `loss` (f32 scalar). Products lower as `options` say.
pub fn build_eval(
    layout: &StepLayout,
    options: GraphOptions,
    obj: &Objective,
    eval_batch: usize,
) -> Result<Module> {
    let g = Graph::with_options(options);
    let mut params = Vec::new();
    for (p, s) in &layout.params {
        params.push(g.param(&format!("params.{p}"), s.clone())?);
    }
    let key = g.parameter("key", &[2], DType::U64)?;
    let mut xd = vec![eval_batch];
    xd.extend_from_slice(&layout.x_dims);
    let x = g.parameter("x", &xd, DType::F32)?;
    let q = match &layout.q_dims {
        Some(qd) => {
            let mut d = vec![eval_batch];
            d.extend_from_slice(qd);
            Some(g.parameter("q", &d, DType::F32)?)
        }
        None => None,
    };
    let a = match layout.a_dim {
        Some(ad) => Some(g.parameter("a", &[eval_batch, ad], DType::F32)?),
        None => None,
    };
    let mut rng = Rng::new(&key)?;
    let t = obj
        .weight
        .sample_time(obj.sde, &mut rng, eval_batch, DType::F32)?;
    let cond = Cond { q, a, labels: None };
    let loss = batch_loss(obj, &params, &x, &t, &cond, &mut rng, false)?;
    g.build("eval_loss", &[("loss", &loss)])
}
