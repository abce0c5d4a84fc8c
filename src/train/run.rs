//! The training run behind `sbgm-xla train`: run directory, progress bar, `metrics.jsonl`,
//! held-out loss, loss curve and sample plots, atomic checkpoints, exact resume, Ctrl-C and
//! NaN handling, and the `.eqx` export of the trained model.
//!
//! A run directory holds:
//! - `config.toml`: the effective config;
//! - `checkpoint.safetensors`: parameters, optimizer state, EMA, step, RNG key and config, and
//!   the resolved model, data scaling and value range (the run is usable without its data);
//! - `metrics.jsonl`: one JSON object per line (`{"step", "loss"}` per step, `{"step",
//!   "eval_loss"}` per evaluation);
//! - `loss.png`, `samples/samples_<step>.png`;
//! - `model.eqx`: the trained model (the EMA when it is on) for `eqx.tree_deserialise_leaves`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use crate::data::{Dataset, PreparedData};
use crate::error::{Error, Result};
use crate::graph::{MatmulPrecision, Rng, Shape, Tensor};
use crate::host::HostArray;
use crate::io::{LeafKind, load_checkpoint, write_eqx_checked};
use crate::nn::{ApplyMode, Params, ScoreNet};
use crate::pjrt::{Buffer, Client, CompileOptions, Executable, Program};
use crate::sde::Sde;
use crate::train::budget::{self, RunSize};
use crate::train::config::{Config, Feed, LabelsAs};
use crate::train::engine::Engine;
use crate::train::feed;
use crate::train::interrupt;
use crate::train::loss::LossWeight;
use crate::train::opt_bridge::{BuiltOptimizer, build_optimizer};
use crate::train::run_dir::RunDir;
use crate::train::sampler::build_em_sampler;
use crate::train::state::{ModelInfo, TrainState};
use crate::train::step::{Cond, FeedLayout, Objective, StepLayout, UpdateRule, build_eval};

pub use crate::train::run_dir::{CHECKPOINT, METRICS, SAMPLES};

/// The largest `train.steps` (the step counter is an `i32` in the compiled program).
pub const MAX_STEPS: u64 = i32::MAX as u64;

/// Options of a run beyond the config.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// The run directory (created; an existing non-empty one needs `resume`).
    pub run_dir: PathBuf,
    /// Continue the run in `run_dir` from its checkpoint.
    pub resume: bool,
    /// Data-parallel devices (overrides `train.devices`; default: all addressable).
    pub devices: Option<usize>,
    /// Show the progress bar (on a terminal).
    pub progress: bool,
    /// Stop after this many steps of this invocation (tests; the checkpoint is saved).
    pub stop_after: Option<u64>,
}

/// What a run did.
#[derive(Clone, Debug)]
pub struct RunSummary {
    /// Steps completed (in total, including resumed ones).
    pub step: u64,
    /// The last training loss.
    pub last_loss: Option<f32>,
    /// The last held-out loss.
    pub last_eval_loss: Option<f32>,
    /// Steps per second of this invocation after its first call (`None` when every step ran
    /// in the first call).
    pub steps_per_s: Option<f64>,
    /// Seconds to the end of the first call (build, compile, upload, run).
    pub first_call_s: f64,
    /// The signal (SIGINT, SIGTERM) that stopped the run early, if one did; the checkpoint
    /// of [`RunSummary::checkpoint_step`] holds the state.
    pub interrupted: Option<i32>,
    /// The step of the checkpoint on disk (`None`: none was written).
    pub checkpoint_step: Option<u64>,
    /// The run directory.
    pub run_dir: PathBuf,
    /// Number of devices used.
    pub devices: usize,
}

/// Everything built from a config: data, model, SDE, optimizer.
pub struct Setup {
    /// The config.
    pub config: Config,
    /// The data (scaled splits and the transform).
    pub data: PreparedData,
    /// The model configuration with its sizes filled from the data.
    pub model: crate::nn::ModelConfig,
    /// The score network (shapes filled from the data).
    pub net: Box<dyn ScoreNet>,
    /// The SDE.
    pub sde: Sde,
    /// The optimizer.
    pub opt: BuiltOptimizer,
    /// Array leaves of the model (names and types), in skeleton order.
    pub param_shapes: Vec<(String, Shape)>,
}

impl Setup {
    /// Loads the data and builds the model, SDE and optimizer of `config`.
    pub fn new(config: &Config) -> Result<Setup> {
        let mut data = config.data.load()?;
        let labels_as = config.train.labels_as;
        if labels_as != LabelsAs::None {
            let attach = |ds: Dataset| -> Result<Dataset> {
                let col = ds.labels_as_column().ok_or_else(|| {
                    Error::msg(format!(
                        "[train] labels_as = \"{}\" but the data set `{}` has no labels; \
                         remove labels_as or use a labelled data set",
                        if labels_as == LabelsAs::A { "a" } else { "q" },
                        ds.name()
                    ))
                })?;
                match labels_as {
                    LabelsAs::A => ds.with_a(col),
                    _ => ds.with_q(col),
                }
            };
            data.train = attach(data.train)?;
            data.holdout = attach(data.holdout)?;
        }
        let train = &data.train;
        let model = config
            .model
            .clone()
            .with_data(
                train.data_shape(),
                train.context_shape(),
                train.parameter_dim(),
            )
            .map_err(|e| {
                Error::msg(format!(
                    "[model] does not fit the data ({} samples of shape {:?}): {e}",
                    train.name(),
                    train.data_shape()
                ))
            })?;
        let net = model.build()?;
        let sde = config.sde.build()?;
        let param_shapes: Vec<(String, Shape)> = net
            .skeleton()
            .into_iter()
            .filter(|s| s.kind == LeafKind::Array)
            .map(|s| (s.path.clone(), Shape::new(s.shape.clone(), s.dtype)))
            .collect();
        RunSize {
            train: &config.train,
            param_bytes: budget::param_bytes(
                param_shapes
                    .iter()
                    .map(|(_, s)| (&s.dims[..], s.dtype.size_in_bytes())),
            ),
            row_elems: row_elems(&data.train),
            device_data_bytes: 0,
            devices: 0,
            devices_in_host_memory: false,
        }
        .check()?;
        let opt = build_optimizer(&config.train.optim, &param_shapes)?;
        Ok(Setup {
            config: config.clone(),
            data,
            model,
            net,
            sde,
            opt,
            param_shapes,
        })
    }

    /// What using the trained model needs besides its parameters (stored in checkpoints).
    pub fn model_info(&self) -> ModelInfo {
        ModelInfo {
            model: self.model.clone(),
            sde: Some(self.config.sde.clone()),
            transform: Some(self.data.transform),
            value_range: self.data.train.value_range(),
        }
    }

    /// The initial training state: the model's initialisation for `train.seed`, the
    /// optimizer's initial state, the EMA equal to the parameters, step 0.
    pub fn init_state(&self) -> Result<TrainState> {
        let seed = self.config.train.seed;
        let leaves = self.net.init(seed)?;
        let skel = self.net.skeleton();
        let params: Vec<(String, HostArray)> = skel
            .iter()
            .zip(leaves)
            .filter(|(s, _)| s.kind == LeafKind::Array)
            .map(|(_, l)| l)
            .collect();
        Ok(TrainState {
            ema: if self.opt.ema_rate.is_some() {
                params.clone()
            } else {
                vec![]
            },
            params,
            opt: self.opt.init.clone(),
            step: 0,
            key: [seed ^ 0x5452_4149_4E5F_4B45, 1], // "TRAIN_KE"
        })
    }

    /// The state of a checkpoint file, checked against this model and optimizer.
    pub fn load_state(&self, path: &Path) -> Result<TrainState> {
        let ck = load_checkpoint(path).map_err(|e| {
            Error::msg(format!(
                "cannot resume: the checkpoint {} is unreadable: {e}",
                path.display()
            ))
        })?;
        let arrays: Vec<_> = self
            .net
            .skeleton()
            .into_iter()
            .filter(|s| s.kind == LeafKind::Array)
            .collect();
        let opt = crate::train::state::specs_of(&self.opt.init);
        TrainState::from_checkpoint(&ck, &arrays, &opt, self.opt.ema_rate.is_some())
            .map_err(|e| Error::msg(format!("cannot resume from {}: {e}", path.display())))
    }

    /// The model's leaves (Python scalars included) with the given array values, in skeleton
    /// order: what `.eqx` files hold.
    pub fn full_leaves(&self, arrays: &[(String, HostArray)]) -> Result<Vec<(String, HostArray)>> {
        let init = self.net.init(0)?;
        let mut it = arrays.iter();
        self.net
            .skeleton()
            .iter()
            .zip(init)
            .map(|(s, l)| {
                if s.kind == LeafKind::Array {
                    it.next()
                        .cloned()
                        .ok_or_else(|| Error::msg("fewer arrays than the model has"))
                } else {
                    Ok(l)
                }
            })
            .collect()
    }

    /// The sizes of a run of this setup on `devices` devices, for its memory check.
    pub fn size(&self, devices: usize, devices_in_host_memory: bool) -> RunSize<'_> {
        let layout = self.layout(devices);
        let device_data_bytes = match layout.feed {
            FeedLayout::Device { rows } => (rows * row_elems(&self.data.train) * 4) as u64,
            FeedLayout::Host => 0,
        };
        RunSize {
            train: &self.config.train,
            param_bytes: budget::param_bytes(
                self.param_shapes
                    .iter()
                    .map(|(_, s)| (&s.dims[..], s.dtype.size_in_bytes())),
            ),
            row_elems: row_elems(&self.data.train),
            device_data_bytes,
            devices,
            devices_in_host_memory,
        }
    }

    /// The step layout for `devices` devices and the data feed.
    pub fn layout(&self, devices: usize) -> StepLayout {
        let t = &self.config.train;
        let train = &self.data.train;
        let bytes = train.x().len() * 4
            + train.q().map_or(0, |q| q.len() * 4)
            + train.a().map_or(0, |a| a.len() * 4);
        let on_device = match t.feed {
            Feed::Device => true,
            Feed::Host => false,
            Feed::Auto => bytes <= t.device_data_mb << 20,
        };
        StepLayout {
            params: self.param_shapes.clone(),
            ema_rate: self.opt.ema_rate,
            batch: t.batch_size,
            steps_per_call: t.steps_per_call,
            devices,
            accumulate: t.accumulate,
            cond_dropout: t.cond_dropout,
            x_dims: self.net.data_shape(),
            q_dims: self.net.q_shape(),
            a_dim: self.net.a_dim(),
            feed: if on_device {
                FeedLayout::Device { rows: train.len() }
            } else {
                FeedLayout::Host
            },
            precision: t.matmul_precision,
            host_matmul: None,
        }
    }

    /// Runs `f` with the objective (score network, SDE marginal and weight) and the optimizer
    /// as graph code.
    pub fn with_parts<R>(&self, f: impl FnOnce(&Objective, &UpdateRule) -> R) -> R {
        let names: Vec<String> = self.param_shapes.iter().map(|(n, _)| n.clone()).collect();
        let net = &self.net;
        let score = move |p: &[Tensor], t: &Tensor, y: &Tensor, c: &Cond, r: Option<&mut Rng>| {
            let params = Params::from_pairs(names.iter().cloned().zip(p.iter().cloned()))?;
            match r {
                Some(r) => {
                    let mode = ApplyMode::train(r.clone());
                    let s = net.apply(&params, t, y, c.q.as_ref(), c.a.as_ref(), &mode)?;
                    if let Some(k) = mode.key() {
                        *r = Rng::new(&k)?;
                    }
                    Ok(s)
                }
                None => net.apply(
                    &params,
                    t,
                    y,
                    c.q.as_ref(),
                    c.a.as_ref(),
                    &ApplyMode::Inference,
                ),
            }
        };
        let weight = LossWeight::Sde;
        let obj = Objective {
            score: &score,
            sde: &self.sde,
            weight: &weight,
        };
        let update = |p: &[Tensor], g: &[Tensor], s: &[Tensor]| self.opt.update(p, g, s);
        let opt = UpdateRule {
            state: self.opt.state.clone(),
            update: &update,
        };
        f(&obj, &opt)
    }
}

/// Elements of one row of a data set: its sample, conditioning map and parameters.
fn row_elems(ds: &Dataset) -> usize {
    let per = |s: &[usize]| s.iter().product::<usize>();
    per(ds.data_shape()) + ds.context_shape().map_or(0, per) + ds.parameter_dim().unwrap_or(0)
}

/// A compiled single-device program with some arguments already on device 0.
struct Aux {
    exe: Executable,
    fixed: Vec<Buffer>,
}

/// Trains as `config` says, in `opts.run_dir`, on the default CPU client.
pub fn run(config: &Config, opts: &RunOptions) -> Result<RunSummary> {
    run_with_client(config, opts, &Client::cpu()?)
}

/// Trains as `config` says, in `opts.run_dir`, on `client`.
///
/// Everything that can be checked is checked before the run directory is touched (config,
/// data, model, devices, memory); the directory is then locked for the run's life. The first
/// SIGINT or SIGTERM stops the run after the running call with a checkpoint
/// ([`RunSummary::interrupted`]); a second one ends the process at once.
pub fn run_with_client(config: &Config, opts: &RunOptions, client: &Client) -> Result<RunSummary> {
    let t_start = Instant::now();
    interrupt::install();
    let avail = client.addressable_devices().len();
    let devices = opts.devices.or(config.train.devices).unwrap_or(avail);
    if devices > avail {
        return Err(Error::msg(format!(
            "{devices} devices asked for (train.devices / --devices), but the client has {avail};              use at most {avail} (nothing was changed)"
        )));
    }
    let setup = Setup::new(config)?;
    let in_host_memory = client.platform_name() == "cpu";
    setup.layout(devices).validate()?;
    setup.size(devices, in_host_memory).check()?;

    let run_dir = RunDir::open(&opts.run_dir, opts.resume)?;
    let dir = run_dir.path();
    let ck_path = dir.join(CHECKPOINT);
    if run_dir.taken_over() && opts.progress {
        eprintln!(
            "sbgm-xla: {} held a run that stopped before its first checkpoint; starting again there",
            dir.display()
        );
    }
    let state = if opts.resume {
        setup.load_state(&ck_path)?
    } else {
        setup.init_state()?
    };
    let total = config.train.steps;
    if state.step > total {
        return Err(Error::msg(format!(
            "the checkpoint is at step {} but train.steps = {total}; raise train.steps to \
             continue (e.g. --set train.steps={})",
            state.step,
            state.step.saturating_add(total).min(MAX_STEPS)
        )));
    }
    let mut last_ckpt = opts.resume.then_some(state.step);
    interrupt::set_kept(kept_text(last_ckpt, &ck_path));

    let mut layout = setup.layout(devices);
    layout.use_host_kernels(client);
    if opts.progress
        && layout.precision == MatmulPrecision::F32
        && layout.devices == 1
        && crate::kernels::install(client).is_some()
    {
        eprintln!(
            "sbgm-xla: this CPU has AMX tiles: --set train.matmul_precision=bf16 (or the same in \
             the config) multiplies in sbgm-xla's AMX kernel, about twice as fast (one bf16 \
             pass with f32 accumulation)"
        );
    }
    let train_ds = Arc::new(setup.data.train.clone());
    let mut engine = setup.with_parts(|obj, opt| {
        Engine::new(
            client,
            layout.clone(),
            obj,
            opt,
            &state,
            train_ds.clone(),
            config.train.seed,
        )
    })?;
    budget::check_compiled(
        engine.executable(),
        devices,
        in_host_memory,
        "the training step",
    )?;
    let eval = build_eval_aux(&setup, client, &layout)?;
    let sampler = if config.train.sample_every > 0 {
        Some(build_sampler_aux(&setup, client)?)
    } else {
        None
    };
    if let Some(sig) = interrupt::requested() {
        // Stopped while compiling: nothing was trained or written.
        return Ok(RunSummary {
            step: state.step,
            last_loss: None,
            last_eval_loss: None,
            steps_per_s: None,
            first_call_s: t_start.elapsed().as_secs_f64(),
            interrupted: Some(sig),
            run_dir: dir.to_path_buf(),
            devices,
            checkpoint_step: last_ckpt,
        });
    }

    let config_text = config.to_toml()?;
    let info = setup.model_info();
    crate::io::atomic_write_bytes(&dir.join("config.toml"), config_text.as_bytes())?;
    let mut history = Metrics::open(&dir.join(METRICS), state.step, opts.resume)?;
    let bar = progress_bar(opts.progress, state.step, total);
    let t = &config.train;
    let stop_at = opts
        .stop_after
        .map_or(total, |s| state.step.saturating_add(s).min(total));
    let mut last_loss = None;
    let mut last_eval = None;
    let mut first_call_s = 0.0;
    let mut t_loop: Option<(Instant, u64)> = None;
    let mut interrupted = None;
    while engine.step() < stop_at {
        let s = engine.step();
        let mut n = (stop_at - s).min(t.steps_per_call as u64);
        for every in [t.eval_every, t.sample_every, t.checkpoint_every] {
            if every > 0 {
                n = n.min(every - s % every);
            }
        }
        let t_call = Instant::now();
        let losses = engine.run(n as usize)?;
        interrupt::set_wait_hint(format!(
            " (up to about {:.0} s)",
            t_call.elapsed().as_secs_f64().ceil()
        ));
        if t_loop.is_none() {
            first_call_s = t_start.elapsed().as_secs_f64();
            t_loop = Some((Instant::now(), engine.step()));
        }
        if let Some((i, l)) = losses.iter().enumerate().find(|(_, l)| !l.is_finite()) {
            bar.abandon();
            let step = s + i as u64 + 1;
            let kept = match last_ckpt {
                Some(c) => format!(
                    "the last good checkpoint (step {c}) is kept in {}; after the change, \
                     continue with --resume",
                    ck_path.display()
                ),
                None => format!(
                    "no checkpoint was saved yet; after the change, run the same command again \
                     (the run directory {} is reused)",
                    dir.display()
                ),
            };
            return Err(Error::msg(format!(
                "training stopped: the loss became {l} at step {step}. Lower the learning rate \
                 (train.lr), clip gradients (train.clip_norm) or check the data scaling; {kept}"
            )));
        }
        history.log_losses(s, &losses)?;
        last_loss = losses.last().copied();
        let step = engine.step();
        bar.set_position(step);
        if let Some(l) = last_loss {
            bar.set_message(format!("loss {l:.4}"));
        }
        if let Some(ev) = &eval
            && t.eval_every > 0
            && (step % t.eval_every == 0 || step == total)
        {
            let l = run_eval(ev, &engine, setup.opt.ema_rate.is_some())?;
            history.log_eval(step, l)?;
            last_eval = Some(l);
        }
        if let Some(sm) = &sampler
            && (step % t.sample_every == 0 || step == total)
        {
            sample_plot(&setup, sm, &engine, &dir.join(SAMPLES), step)?;
        }
        let ckpt_due =
            (t.checkpoint_every > 0 && step % t.checkpoint_every == 0) || step == stop_at;
        interrupted = interrupt::requested();
        if ckpt_due || interrupted.is_some() {
            engine.state()?.save(&ck_path, &config_text, &info)?;
            last_ckpt = Some(step);
            interrupt::set_kept(kept_text(last_ckpt, &ck_path));
            history.plot(&dir.join("loss.png"))?;
        }
        if interrupted.is_some() {
            break;
        }
    }
    bar.finish_and_clear();
    let final_state = engine.state()?;
    if last_ckpt != Some(engine.step()) {
        final_state.save(&ck_path, &config_text, &info)?;
        last_ckpt = Some(engine.step());
    }
    history.plot(&dir.join("loss.png"))?;
    let arrays = if final_state.ema.is_empty() {
        &final_state.params
    } else {
        &final_state.ema
    };
    write_eqx_checked(
        &dir.join("model.eqx"),
        &setup.net.skeleton(),
        &setup.full_leaves(arrays)?,
    )?;
    let steps_per_s = match t_loop {
        Some((t0, s0)) if engine.step() > s0 => {
            Some((engine.step() - s0) as f64 / t0.elapsed().as_secs_f64().max(1e-9))
        }
        _ => None,
    };
    Ok(RunSummary {
        step: engine.step(),
        last_loss,
        last_eval_loss: last_eval,
        steps_per_s,
        first_call_s,
        interrupted,
        run_dir: dir.to_path_buf(),
        devices,
        checkpoint_step: last_ckpt,
    })
}

/// What stays on disk when the run stops now: the last checkpoint, or none yet.
fn kept_text(last_ckpt: Option<u64>, ck: &Path) -> String {
    match last_ckpt {
        Some(s) => format!("the checkpoint of step {s} in {} is kept", ck.display()),
        None => "no checkpoint was written yet; run the same command again to start over".into(),
    }
}

fn progress_bar(show: bool, pos: u64, len: u64) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} {per_sec} ETA {eta}")
            .expect("valid template"),
    );
    bar.set_position(pos);
    bar
}

/// The held-out set's first rows used for evaluation.
fn eval_rows(ds: &Dataset, max: usize) -> Option<Dataset> {
    (!ds.is_empty()).then(|| ds.take(max))
}

fn build_eval_aux(setup: &Setup, client: &Client, layout: &StepLayout) -> Result<Option<Aux>> {
    if setup.config.train.eval_every == 0 {
        return Ok(None);
    }
    let Some(ds) = eval_rows(&setup.data.holdout, 1024) else {
        return Ok(None);
    };
    let module = setup.with_parts(|obj, _| build_eval(layout, obj, ds.len()))?;
    let exe = crate::exec::compile(
        client,
        &Program::text(module.text),
        &CompileOptions::default(),
    )?;
    let mut fixed = vec![
        client.buffer_from_host(&feed::key_array([setup.config.train.seed, 0xE7A1]), 0)?,
        client.buffer_from_host(&ds.x_host(), 0)?,
    ];
    if layout.q_dims.is_some() {
        fixed.push(client.buffer_from_host(&ds.q_host().expect("model takes q"), 0)?);
    }
    if layout.a_dim.is_some() {
        fixed.push(client.buffer_from_host(&ds.a_host().expect("model takes a"), 0)?);
    }
    Ok(Some(Aux { exe, fixed }))
}

fn run_eval(ev: &Aux, engine: &Engine, ema: bool) -> Result<f32> {
    let mut args: Vec<&Buffer> = engine.param_buffers(ema).iter().collect();
    args.extend(ev.fixed.iter());
    let out = ev.exe.execute(&[args])?;
    let v: Vec<f32> = out[0][0].to_host()?.to_vec()?;
    Ok(v[0])
}

fn build_sampler_aux(setup: &Setup, client: &Client) -> Result<Aux> {
    let t = &setup.config.train;
    let images = setup.net.data_shape().len() == 3;
    let n = if images {
        t.sample_size.min(64)
    } else {
        t.sample_size
    };
    let module = build_em_sampler(setup.net.as_ref(), &setup.sde, n, t.sample_steps)?;
    let exe = crate::exec::compile(
        client,
        &Program::text(module.text),
        &CompileOptions::default(),
    )?;
    let mut fixed = vec![client.buffer_from_host(&feed::key_array([t.seed, 0x5A3F]), 0)?];
    let cond_src = if setup.data.holdout.is_empty() {
        &setup.data.train
    } else {
        &setup.data.holdout
    };
    let rows: Vec<usize> = (0..n).map(|i| i % cond_src.len()).collect();
    let c = cond_src.select(&rows)?;
    if setup.net.q_shape().is_some() {
        fixed.push(client.buffer_from_host(&c.q_host().expect("checked by the engine"), 0)?);
    }
    if setup.net.a_dim().is_some() {
        fixed.push(client.buffer_from_host(&c.a_host().expect("checked by the engine"), 0)?);
    }
    Ok(Aux { exe, fixed })
}

/// Draws `n` samples (in model space) with the Euler-Maruyama sampler (`steps` steps, key
/// from `seed`) from the model with parameter arrays `arrays`; conditional models take the
/// conditioning of the held-out set's first rows.
pub fn em_samples(
    setup: &Setup,
    client: &Client,
    arrays: &[(String, HostArray)],
    n: usize,
    steps: usize,
    seed: u64,
) -> Result<ndarray::ArrayD<f32>> {
    let module = build_em_sampler(setup.net.as_ref(), &setup.sde, n, steps)?;
    let exe = crate::exec::compile(
        client,
        &Program::text(module.text),
        &CompileOptions::default(),
    )?;
    let mut args: Vec<HostArray> = arrays.iter().map(|(_, a)| a.clone()).collect();
    args.push(feed::key_array([seed, 0x5A3F]));
    let src = if setup.data.holdout.is_empty() {
        &setup.data.train
    } else {
        &setup.data.holdout
    };
    let rows: Vec<usize> = (0..n).map(|i| i % src.len()).collect();
    let c = src.select(&rows)?;
    if setup.net.q_shape().is_some() {
        args.push(c.q_host().ok_or_else(|| Error::msg("the data has no q"))?);
    }
    if setup.net.a_dim().is_some() {
        args.push(c.a_host().ok_or_else(|| Error::msg("the data has no a"))?);
    }
    let out = exe.run_host(&args)?;
    out[0].to_ndarray()
}

/// Draws samples with the EM sampler and plots them (scatter for 2-D data, a grid for images).
fn sample_plot(setup: &Setup, sm: &Aux, engine: &Engine, dir: &Path, step: u64) -> Result<()> {
    let mut args: Vec<&Buffer> = engine
        .param_buffers(setup.opt.ema_rate.is_some())
        .iter()
        .collect();
    args.extend(sm.fixed.iter());
    let out = sm.exe.execute(&[args])?;
    let samples = out[0][0].to_ndarray::<f32>()?;
    let samples = setup.data.transform.reverse_array(&samples);
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let path = dir.join(format!("samples_{step:06}.png"));
    match setup.net.data_shape().len() {
        1 if setup.net.data_shape()[0] == 2 => {
            let src = if setup.data.holdout.is_empty() {
                &setup.data.train
            } else {
                &setup.data.holdout
            };
            let data = setup
                .data
                .transform
                .reverse_array(src.take(samples.shape()[0]).x());
            crate::plot::scatter_png(
                &path,
                &format!("step {step}"),
                &[("data", &data), ("samples", &samples)],
            )
        }
        3 => {
            let range = setup.data.train.value_range().unwrap_or_else(|| {
                let raw = setup.data.transform.reverse_array(setup.data.train.x());
                let lo = raw.iter().copied().fold(f32::INFINITY, f32::min);
                let hi = raw.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                (lo, hi)
            });
            let ncols = (samples.shape()[0] as f64).sqrt().ceil() as usize;
            crate::plot::image_grid_png(&path, &samples, ncols.max(1), range)
        }
        _ => Ok(()), // no plot for other shapes
    }
}

/// `metrics.jsonl` and the in-memory loss history.
struct Metrics {
    file: std::fs::File,
    steps: Vec<u64>,
    losses: Vec<f64>,
    eval: Vec<(u64, f64)>,
}

impl Metrics {
    /// Opens the metrics file: a new one, or on resume the old one cut back to `step` (lines
    /// written after the checkpoint are dropped: those steps run again).
    fn open(path: &Path, step: u64, resume: bool) -> Result<Metrics> {
        let (mut steps, mut losses, mut eval) = (vec![], vec![], vec![]);
        let mut kept = String::new();
        if resume && let Ok(text) = std::fs::read_to_string(path) {
            for line in text.lines() {
                let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                    continue;
                };
                let Some(s) = v.get("step").and_then(|s| s.as_u64()) else {
                    continue;
                };
                if s > step {
                    continue;
                }
                if let Some(l) = v.get("loss").and_then(|l| l.as_f64()) {
                    steps.push(s);
                    losses.push(l);
                }
                if let Some(l) = v.get("eval_loss").and_then(|l| l.as_f64()) {
                    eval.push((s, l));
                }
                kept.push_str(line);
                kept.push('\n');
            }
        }
        crate::io::atomic_write_bytes(path, kept.as_bytes())?;
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        Ok(Metrics {
            file,
            steps,
            losses,
            eval,
        })
    }

    fn log_losses(&mut self, start: u64, losses: &[f32]) -> Result<()> {
        let mut s = String::new();
        for (i, l) in losses.iter().enumerate() {
            let step = start + i as u64 + 1;
            s.push_str(&format!("{{\"step\":{step},\"loss\":{l}}}\n"));
            self.steps.push(step);
            self.losses.push(*l as f64);
        }
        self.file
            .write_all(s.as_bytes())
            .map_err(|e| Error::msg(format!("writing {METRICS}: {e}")))
    }

    fn log_eval(&mut self, step: u64, l: f32) -> Result<()> {
        self.eval.push((step, l as f64));
        writeln!(self.file, "{{\"step\":{step},\"eval_loss\":{l}}}")
            .map_err(|e| Error::msg(format!("writing {METRICS}: {e}")))
    }

    /// The loss curve (training losses averaged in windows, held-out losses).
    fn plot(&self, path: &Path) -> Result<()> {
        if self.steps.is_empty() {
            return Ok(());
        }
        let w = (self.steps.len() / 400).max(1);
        let (mut xs, mut ys) = (vec![], vec![]);
        for (s, l) in self.steps.chunks(w).zip(self.losses.chunks(w)) {
            xs.push(*s.last().expect("non-empty chunk"));
            ys.push(l.iter().sum::<f64>() / l.len() as f64);
        }
        let vs: Vec<u64> = self.eval.iter().map(|e| e.0).collect();
        let vl: Vec<f64> = self.eval.iter().map(|e| e.1).collect();
        let val = (!vs.is_empty()).then_some((&vs[..], &vl[..]));
        crate::plot::loss_curve_png(path, &xs, &ys, val)
    }
}
