//! The training run behind `sbgm-xla train`: run directory, progress bar, `metrics.jsonl`,
//! held-out loss, loss curve and sample plots, atomic checkpoints, exact resume, Ctrl-C and
//! NaN handling, and the `.eqx` export of the trained model.
//!
//! A run directory holds:
//! - `config.toml`: the effective config;
//! - `checkpoint.safetensors`: parameters, optimizer state, EMA, step, RNG key and config, and
//!   the resolved model, data scaling and value range (the run is usable without its data);
//! - `metrics.jsonl`: one JSON object per line (`{"step", "loss"}` per step, `{"step",
//!   "eval_loss", "eval_weights", ...}` per evaluation: see [`crate::train::metrics`]);
//! - `loss.png`, `bpd.png` (image data), `samples/samples_<step>.png`,
//!   `samples/classes_<step>.png` (runs conditioned on their labels);
//! - `model.eqx`: the trained model (the EMA when it is on) for `eqx.tree_deserialise_leaves`.
//!
//! A multi-process run ([`crate::dist`]) trains on every process, each feeding its slice of
//! each batch from the host; only process 0 writes the run directory ([`Roles`]), the others
//! wait at a barrier after each checkpoint and read it on resume (a shared file system).
//! Every process evaluates the same held-out rows with the same parameters, so the held-out
//! losses agree without an exchange; the stop decisions (a non-finite loss, SIGINT/SIGTERM on
//! any process) are exchanged through the store at call boundaries ([`Agreement`]).
//!
//! Where the mesh splits the state (`fsdp` > 1, possibly across processes), whole copies come
//! from the engine's gather program, a collective that every process runs at the same points,
//! in this order: after a call, the evaluation (EMA, raw parameters, bits/dim), the weights
//! of the sample plots (gathered everywhere, drawn on process 0), the checkpoint
//! ([`Engine::state_if`]: gathered everywhere, kept and written on process 0); at the end, the
//! final state. Every decision that leads to one (due steps, the agreed stop) is the same on
//! every process, so none waits alone in an all-gather.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use crate::dist::{Agreement, agreement_of};
use crate::error::{Error, Result};
use crate::exec::Target;
use crate::graph::MatmulPrecision;
use crate::io::write_eqx_checked;
use crate::train::budget;
use crate::train::config::Config;
use crate::train::engine::Engine;
use crate::train::interrupt;
use crate::train::metrics::Metrics;
use crate::train::periodic::{ClassPlots, Evaluator, SamplePlots};
pub use crate::train::roles::Roles;
use crate::train::run_dir::RunDir;
use crate::train::state::{ModelInfo, TrainState};
use crate::train::step::{FeedLayout, StepLayout};

pub use crate::train::run_dir::{CHECKPOINT, METRICS, SAMPLES};
pub use crate::train::sampler::em_samples;
pub use crate::train::setup::Setup;

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
    /// This process's role (default: from the target's client, [`Roles::of`]); tests set
    /// process 1 of 2 to check what a process other than 0 leaves alone.
    pub roles: Option<Roles>,
}

/// What a run did.
#[derive(Clone, Debug)]
pub struct RunSummary {
    /// Steps completed (in total, including resumed ones).
    pub step: u64,
    /// The last training loss.
    pub last_loss: Option<f32>,
    /// The last held-out loss (of the EMA when the run keeps one).
    pub last_eval_loss: Option<f32>,
    /// The last held-out bits per dimension (image data).
    pub last_eval_bpd: Option<f64>,
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
    /// This process's role: process 0 reports the run, the others say only who they are.
    pub roles: Roles,
}

/// `config` with its null conditioning fixed, as the run stores it (`config.toml`,
/// checkpoints): `cond_null` as given, else on resume what the run began with (0 for a run
/// from before it was stored), else its default for `labels_as`.
fn with_cond_null(config: &Config, opts: &RunOptions) -> Result<Config> {
    let mut train = config.train.clone();
    let stored = opts.run_dir.join("config.toml");
    if opts.resume
        && train.cond_null.is_none()
        && let Ok(text) = std::fs::read_to_string(&stored)
    {
        let null = crate::model::config::stored_null(&text)
            .map_err(|e| Error::format(&stored, e.to_string()))?;
        train.cond_null = Some(null.cond_null.unwrap_or(0.0));
    }
    Ok(Config {
        train: train.with_resolved_cond_null(),
        ..config.clone()
    })
}

/// Trains as `config` says, in `opts.run_dir`, on the default CPU client.
pub fn run(config: &Config, opts: &RunOptions) -> Result<RunSummary> {
    run_on(config, opts, &Target::cpu()?)
}

/// Trains as `config` says, in `opts.run_dir`, on `target` (its devices, host kernels and
/// caches; the products multiply at `train.matmul_precision`).
///
/// Everything that can be checked is checked before the run directory is touched (config,
/// data, model, devices, memory); the directory is then locked for the run's life. The first
/// SIGINT or SIGTERM stops the run after the running call with a checkpoint
/// ([`RunSummary::interrupted`]); a second one ends the process at once.
pub fn run_on(config: &Config, opts: &RunOptions, target: &Target) -> Result<RunSummary> {
    let t_start = Instant::now();
    interrupt::install();
    let roles = opts.roles.unwrap_or_else(|| Roles::of(target));
    let agree = agreement_of(target.client());
    let devices = devices_to_use(config, opts, target)?;
    let config = &with_cond_null(config, opts)?;
    let setup = Setup::new(config)?;
    run_layout(&setup, target, devices).validate()?;
    setup.size(devices, target.in_host_memory()).check()?;
    // Process 0 alone locks the directory; every process learns when one could not start.
    let prepared = together(&*agree, "preparing the run", || {
        let run_dir = roles
            .writes()
            .then(|| RunDir::open(&opts.run_dir, opts.resume))
            .transpose()?;
        Prepared::new(&setup, opts, target, run_dir, devices, roles, agree.clone())
    })?;
    let stopped = agree.first_request(interrupt::requested().unwrap_or(0))?;
    if let Some(sig) = stopped {
        // Stopped while compiling: nothing was trained or written.
        return Ok(prepared.summary(t_start, Some(sig)));
    }
    let mut training = Training::start(prepared, opts, t_start)?;
    while training.engine().step() < training.stop_at {
        if training.call()? {
            break;
        }
    }
    training.finish()
}

/// `step`'s result once every process has run it: this process's error, or when another
/// process failed, an error naming it (its own message says why), so that no process goes on
/// alone.
fn together<T>(agree: &dyn Agreement, what: &str, step: impl FnOnce() -> Result<T>) -> Result<T> {
    let r = step();
    let all = agree.gather(i32::from(r.is_err()))?;
    let v = r?;
    match all.iter().position(|&s| s != 0) {
        Some(p) => Err(Error::msg(format!(
            "process {p} failed while {what} (its own output says why); this process stops too"
        ))),
        None => Ok(v),
    }
}

/// The step layout of a run on `devices` devices of `target`: a multi-process run feeds each
/// process's slice of the batch from the host (the device feed would hold the whole set on
/// every device).
fn run_layout(setup: &Setup, target: &Target, devices: usize) -> StepLayout {
    let mut layout = setup.layout(devices);
    if target.is_multi_process() {
        layout.feed = FeedLayout::Host;
    }
    layout
}

/// The number of devices of the run: `--devices`, else `train.devices` (or the mesh's), else
/// all of `target`'s; at most as many as it has.
fn devices_to_use(config: &Config, opts: &RunOptions, target: &Target) -> Result<usize> {
    let avail = target.devices();
    let devices = opts
        .devices
        .or(config.train.devices_wanted())
        .unwrap_or(avail);
    if devices > avail {
        return Err(Error::msg(format!(
            "{devices} devices asked for (train.devices / --devices), but the client has {avail}; \
             use at most {avail} (nothing was changed)"
        )));
    }
    Ok(devices)
}

/// A run with its state loaded and its programs compiled, before anything is written.
struct Prepared<'a> {
    setup: &'a Setup,
    /// The locked run directory (process 0 only).
    _run_dir: Option<RunDir>,
    roles: Roles,
    agree: Arc<dyn Agreement>,
    dir: PathBuf,
    ck_path: PathBuf,
    engine: Engine,
    eval: Option<Evaluator>,
    plots: Option<SamplePlots>,
    class_plots: Option<ClassPlots>,
    /// Whether the run draws sample plots (on process 0; every process gathers their weights).
    draws_samples: bool,
    /// The step of the checkpoint on disk.
    last_ckpt: Option<u64>,
    devices: usize,
}

impl<'a> Prepared<'a> {
    /// Loads the initial or resumed state into a training engine on `devices` devices and
    /// compiles the held-out loss and the sampler of the plots (process 0's, which draws
    /// them).
    fn new(
        setup: &'a Setup,
        opts: &RunOptions,
        target: &Target,
        run_dir: Option<RunDir>,
        devices: usize,
        roles: Roles,
        agree: Arc<dyn Agreement>,
    ) -> Result<Prepared<'a>> {
        let dir = opts.run_dir.clone();
        let ck_path = dir.join(CHECKPOINT);
        if run_dir.as_ref().is_some_and(RunDir::taken_over) && opts.progress {
            eprintln!(
                "sbgm-xla: {} held a run that stopped before its first checkpoint; starting again there",
                dir.display()
            );
        }
        let state = initial_state(setup, opts.resume, &ck_path)?;
        let last_ckpt = opts.resume.then_some(state.step);
        interrupt::set_kept(kept_text(last_ckpt, &ck_path));
        let layout = layout_with_hint(setup, target, devices, opts.progress && roles.writes());
        let train_ds = Arc::new(setup.data.train.clone());
        let seed = setup.config.train.seed;
        let engine = setup.with_parts(|obj, opt| {
            Engine::new(target, layout.clone(), obj, opt, &state, train_ds, seed)
        })?;
        budget::check_compiled(
            engine.compiled(),
            devices,
            target.in_host_memory(),
            "the training step",
        )?;
        let draws = roles.writes();
        Ok(Prepared {
            draws_samples: SamplePlots::applies(setup) || ClassPlots::applies(setup),
            eval: Evaluator::build(setup, target, &layout)?,
            plots: draws
                .then(|| SamplePlots::build(setup, target))
                .transpose()?
                .flatten(),
            class_plots: draws
                .then(|| ClassPlots::build(setup, target))
                .transpose()?
                .flatten(),
            setup,
            _run_dir: run_dir,
            roles,
            agree,
            dir,
            ck_path,
            engine,
            last_ckpt,
            devices,
        })
    }

    /// The summary of a run that stops here, before its first call.
    fn summary(&self, t_start: Instant, interrupted: Option<i32>) -> RunSummary {
        RunSummary {
            step: self.engine.step(),
            last_loss: None,
            last_eval_loss: None,
            last_eval_bpd: None,
            steps_per_s: None,
            first_call_s: t_start.elapsed().as_secs_f64(),
            interrupted,
            run_dir: self.dir.clone(),
            devices: self.devices,
            roles: self.roles,
            checkpoint_step: self.last_ckpt,
        }
    }
}

/// The state a run starts from: the checkpoint's when resuming, else the initial one; a
/// checkpoint beyond `train.steps` is an error.
fn initial_state(setup: &Setup, resume: bool, ck_path: &Path) -> Result<TrainState> {
    let state = if resume {
        setup.load_state(ck_path)?
    } else {
        setup.init_state()?
    };
    let total = setup.config.train.steps;
    if state.step > total {
        return Err(Error::msg(format!(
            "the checkpoint is at step {} but train.steps = {total}; raise train.steps to \
             continue (e.g. --set train.steps={})",
            state.step,
            state.step.saturating_add(total).min(MAX_STEPS)
        )));
    }
    Ok(state)
}

/// The step layout on `devices` devices; with `hint`, says when bf16 products would run
/// faster in sbgm-xla's AMX kernel on `target`.
fn layout_with_hint(setup: &Setup, target: &Target, devices: usize, hint: bool) -> StepLayout {
    let layout = run_layout(setup, target, devices);
    if hint
        && layout.precision == MatmulPrecision::F32
        && layout.devices == 1
        && target
            .with_precision(MatmulPrecision::Bf16)
            .graph_options(1)
            .host_bf16_matmul
            .is_some()
    {
        eprintln!(
            "sbgm-xla: this CPU has AMX tiles: --set train.matmul_precision=bf16 (or the same in \
             the config) multiplies in sbgm-xla's AMX kernel, about twice as fast (one bf16 \
             pass with f32 accumulation)"
        );
    }
    layout
}

/// A run that is training: its metrics, progress bar and what it has done so far.
struct Training<'a> {
    p: Prepared<'a>,
    /// `metrics.jsonl` (process 0 only).
    history: Option<Metrics>,
    bar: indicatif::ProgressBar,
    /// The effective config, as stored in checkpoints.
    config_text: String,
    info: ModelInfo,
    /// The step this invocation stops at.
    stop_at: u64,
    t_start: Instant,
    last_loss: Option<f32>,
    last_eval: Option<f32>,
    last_bpd: Option<f64>,
    first_call_s: f64,
    /// When the first call ended, and its step.
    t_loop: Option<(Instant, u64)>,
    interrupted: Option<i32>,
}

impl<'a> Training<'a> {
    /// Writes `config.toml`, opens `metrics.jsonl` (cut back to the resumed step) and shows
    /// the progress bar (process 0; the others only train).
    fn start(p: Prepared<'a>, opts: &RunOptions, t_start: Instant) -> Result<Training<'a>> {
        let config = &p.setup.config;
        let config_text = config.to_toml()?;
        let step = p.engine.step();
        let writes = p.roles.writes();
        let history = together(&*p.agree, "opening metrics.jsonl", || {
            if !writes {
                return Ok(None);
            }
            crate::io::atomic_write_bytes(&p.dir.join("config.toml"), config_text.as_bytes())?;
            Metrics::open(&p.dir.join(METRICS), step, opts.resume).map(Some)
        })?;
        let total = config.train.steps;
        Ok(Training {
            history,
            bar: progress_bar(opts.progress && writes, step, total),
            config_text,
            info: p.setup.model_info(),
            stop_at: opts
                .stop_after
                .map_or(total, |s| step.saturating_add(s).min(total)),
            t_start,
            last_loss: None,
            last_eval: None,
            last_bpd: None,
            first_call_s: 0.0,
            t_loop: None,
            interrupted: None,
            p,
        })
    }

    fn engine(&self) -> &Engine {
        &self.p.engine
    }

    /// The steps of the next call: up to `train.steps_per_call`, ending at the next
    /// evaluation, plot or checkpoint and at the end of this invocation.
    fn next_call_steps(&self) -> usize {
        let t = &self.p.setup.config.train;
        let s = self.engine().step();
        let mut n = (self.stop_at - s).min(t.steps_per_call as u64);
        for every in [t.eval_every, t.sample_every, t.checkpoint_every] {
            if every > 0 {
                n = n.min(every - s % every);
            }
        }
        n as usize
    }

    /// Runs one call of the training step and logs its losses, then evaluates, plots and
    /// saves the checkpoint where due; whether a signal asked the run to stop.
    fn call(&mut self) -> Result<bool> {
        let s = self.engine().step();
        let n = self.next_call_steps();
        let t_call = Instant::now();
        let losses = self.p.engine.run(n)?;
        interrupt::set_wait_hint(format!(
            " (up to about {:.0} s)",
            t_call.elapsed().as_secs_f64().ceil()
        ));
        if self.t_loop.is_none() {
            self.first_call_s = self.t_start.elapsed().as_secs_f64();
            self.t_loop = Some((Instant::now(), self.engine().step()));
        }
        let bad = losses.iter().enumerate().find(|(_, l)| !l.is_finite());
        let all = self.p.agree.gather(i32::from(bad.is_some()))?;
        if let Some((i, l)) = bad {
            self.bar.abandon();
            return Err(self.non_finite_loss(*l, s + i as u64 + 1));
        }
        if let Some(p) = all.iter().position(|&b| b != 0) {
            self.bar.abandon();
            return Err(Error::msg(format!(
                "training stopped: process {p}'s loss became non-finite in the call from step \
                 {s} (its own output says what to change); {}",
                kept_text(self.p.last_ckpt, &self.p.ck_path)
            )));
        }
        if let Some(h) = &mut self.history {
            h.log_losses(s, &losses)?;
        }
        self.last_loss = losses.last().copied();
        let step = self.engine().step();
        self.bar.set_position(step);
        if let Some(l) = self.last_loss {
            self.bar.set_message(format!("loss {l:.4}"));
        }
        self.after_call(step)?;
        Ok(self.interrupted.is_some())
    }

    /// The held-out loss, the sample plot and the checkpoint of `step`, where due (the
    /// checkpoint also when a signal asked the run to stop).
    fn after_call(&mut self, step: u64) -> Result<()> {
        let t = &self.p.setup.config.train;
        let total = t.steps;
        if let Some(ev) = &self.p.eval
            && t.eval_every > 0
            && (step.is_multiple_of(t.eval_every) || step == total)
        {
            let e = ev.evaluate(&self.p.engine)?;
            if let Some(h) = &mut self.history {
                h.log_eval(step, &e)?;
            }
            (self.last_eval, self.last_bpd) = (Some(e.eval_loss), e.eval_bpd);
        }
        if self.p.draws_samples && (step.is_multiple_of(t.sample_every) || step == total) {
            // Every process gathers the weights (collective), process 0 alone draws.
            let setup = self.p.setup;
            let weights = self.p.engine.param_buffers(setup.opt.ema_rate.is_some())?;
            let dir = self.p.dir.join(SAMPLES);
            if let Some(plots) = &self.p.plots {
                plots.plot(setup, &weights, &dir, step)?;
            }
            if let Some(plots) = &self.p.class_plots {
                plots.plot(setup, &weights, &dir, step)?;
            }
        }
        let ckpt_due = (t.checkpoint_every > 0 && step.is_multiple_of(t.checkpoint_every))
            || step == self.stop_at;
        self.interrupted = self
            .p
            .agree
            .first_request(interrupt::requested().unwrap_or(0))?;
        if ckpt_due || self.interrupted.is_some() {
            self.save_checkpoint(step)?;
        }
        Ok(())
    }

    /// Process 0 writes the checkpoint of `step` (atomically) and the loss curve; every
    /// process waits until it is on disk.
    fn save_checkpoint(&mut self, step: u64) -> Result<()> {
        together(&*self.p.agree, "writing the checkpoint", || {
            // Every process gathers (collective), process 0 alone writes.
            let state = self.p.engine.state_if(self.history.is_some())?;
            let (Some(h), Some(state)) = (&self.history, state) else {
                return Ok(());
            };
            state.save(&self.p.ck_path, &self.config_text, &self.info)?;
            h.plot(&self.p.dir)
        })?;
        self.p.last_ckpt = Some(step);
        interrupt::set_kept(kept_text(self.p.last_ckpt, &self.p.ck_path));
        Ok(())
    }

    /// Process 0's last writes: the final checkpoint (unless the last call saved it), the
    /// loss curve and `model.eqx`.
    fn write_final(&self, step: u64) -> Result<()> {
        // Every process gathers (collective), process 0 alone writes.
        let final_state = self.p.engine.state_if(self.history.is_some())?;
        let (Some(h), Some(final_state)) = (&self.history, final_state) else {
            return Ok(());
        };
        if self.p.last_ckpt != Some(step) {
            final_state.save(&self.p.ck_path, &self.config_text, &self.info)?;
        }
        h.plot(&self.p.dir)?;
        let arrays = if final_state.ema.is_empty() {
            &final_state.params
        } else {
            &final_state.ema
        };
        let setup = self.p.setup;
        write_eqx_checked(
            &self.p.dir.join("model.eqx"),
            &setup.net.skeleton(),
            &setup.full_leaves(arrays)?,
        )
    }

    /// The error of a loss that became `loss` (not finite) at `step`, saying what was kept.
    fn non_finite_loss(&self, loss: f32, step: u64) -> Error {
        let kept = match self.p.last_ckpt {
            Some(c) => format!(
                "the last good checkpoint (step {c}) is kept in {}; after the change, \
                 continue with --resume",
                self.p.ck_path.display()
            ),
            None => format!(
                "no checkpoint was saved yet; after the change, run the same command again \
                 (the run directory {} is reused)",
                self.p.dir.display()
            ),
        };
        Error::msg(format!(
            "training stopped: the loss became {loss} at step {step}. Lower the learning rate \
             (train.lr), clip gradients (train.clip_norm) or check the data scaling; {kept}"
        ))
    }

    /// Saves the final checkpoint (unless the last call saved it), the loss curve and the
    /// trained model (`model.eqx`: the EMA when the run keeps one).
    fn finish(mut self) -> Result<RunSummary> {
        self.bar.finish_and_clear();
        let step = self.engine().step();
        together(&*self.p.agree, "writing the trained model", || {
            self.write_final(step)
        })?;
        self.p.last_ckpt = Some(step);
        let steps_per_s = match self.t_loop {
            Some((t0, s0)) if step > s0 => {
                Some((step - s0) as f64 / t0.elapsed().as_secs_f64().max(1e-9))
            }
            _ => None,
        };
        Ok(RunSummary {
            last_loss: self.last_loss,
            last_eval_loss: self.last_eval,
            last_eval_bpd: self.last_bpd,
            steps_per_s,
            first_call_s: self.first_call_s,
            ..self.p.summary(self.t_start, self.interrupted)
        })
    }
}

/// What stays on disk when the run stops now: the last checkpoint, or none yet.
fn kept_text(last_ckpt: Option<u64>, ck: &Path) -> String {
    match last_ckpt {
        Some(s) => format!("the checkpoint of step {s} in {} is kept", ck.display()),
        None => "no checkpoint was written yet; run the same command again to start over".into(),
    }
}

/// The progress bar of the steps (hidden unless `show`).
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
