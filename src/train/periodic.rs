//! What a run computes every few steps besides training, on device 0 with the parameters the
//! engine holds there: the held-out loss ([`HeldOutLoss`], every `train.eval_every` steps)
//! and the sample plots ([`SamplePlots`], every `train.sample_every` steps).

use std::path::Path;

use ndarray::ArrayD;

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::exec::{Buffer, Compiled, Target};
use crate::train::engine::Engine;
use crate::train::feed;
use crate::train::sampler::{compile_em_sampler, sampler_arguments};
use crate::train::setup::Setup;
use crate::train::step::{StepLayout, build_eval};

/// Rows of the held-out set that the held-out loss uses (its first ones).
const EVAL_ROWS: usize = 1024;

/// A compiled single-device program taking the model's parameters first, then arguments
/// already on device 0.
struct ParamProgram {
    exe: Compiled,
    fixed: Vec<Buffer>,
    /// Whether it takes the EMA of the parameters (when the run keeps one).
    ema: bool,
}

impl ParamProgram {
    /// Uploads `fixed` to device 0 for the program `exe`.
    fn new(
        target: &Target,
        exe: Compiled,
        fixed: &[crate::host::HostArray],
        ema: bool,
    ) -> Result<ParamProgram> {
        let fixed = fixed
            .iter()
            .map(|a| target.upload(a, 0))
            .collect::<Result<Vec<_>>>()?;
        Ok(ParamProgram { exe, fixed, ema })
    }

    /// Runs the program on the engine's current parameters; its first output.
    fn run(&self, engine: &Engine) -> Result<Buffer> {
        let mut args: Vec<&Buffer> = engine.param_buffers(self.ema).iter().collect();
        args.extend(self.fixed.iter());
        let mut out = self.exe.execute(&[args])?;
        out.pop()
            .and_then(|mut o| (!o.is_empty()).then(|| o.swap_remove(0)))
            .ok_or_else(|| Error::msg("a program of the run returned no output"))
    }
}

/// The loss on the held-out set's first rows (the EMA's, when the run keeps one).
pub struct HeldOutLoss(ParamProgram);

impl HeldOutLoss {
    /// Compiles the loss for the step layout `layout`; `None` when the run evaluates never
    /// (`train.eval_every = 0`) or has no held-out rows.
    pub fn build(setup: &Setup, target: &Target, layout: &StepLayout) -> Result<Option<Self>> {
        if setup.config.train.eval_every == 0 || setup.data.holdout.is_empty() {
            return Ok(None);
        }
        let ds = setup.data.holdout.take(EVAL_ROWS);
        let options = layout.graph_options(target);
        let module = setup.with_parts(|obj, _| build_eval(layout, options, obj, ds.len()))?;
        let exe = target.compile(&module)?;
        let mut fixed = vec![
            feed::key_array([setup.config.train.seed, 0xE7A1]),
            ds.x_host(),
        ];
        if layout.q_dims.is_some() {
            fixed.push(ds.q_host().ok_or_else(|| Error::msg("the data has no q"))?);
        }
        if layout.a_dim.is_some() {
            fixed.push(ds.a_host().ok_or_else(|| Error::msg("the data has no a"))?);
        }
        let ema = setup.opt.ema_rate.is_some();
        Ok(Some(HeldOutLoss(ParamProgram::new(
            target, exe, &fixed, ema,
        )?)))
    }

    /// The held-out loss of the engine's current parameters.
    pub fn loss(&self, engine: &Engine) -> Result<f32> {
        let v: Vec<f32> = self.0.run(engine)?.to_host()?.to_vec()?;
        v.first()
            .copied()
            .ok_or_else(|| Error::msg("the held-out loss program returned no value"))
    }
}

/// The sample plots `samples/samples_<step>.png`: samples of the Euler-Maruyama sampler
/// (`train.sample_size` of them, at most 64 images; `train.sample_steps` steps; the EMA's,
/// when the run keeps one) drawn with [`crate::plot::samples_png`], in data space.
pub struct SamplePlots {
    sampler: ParamProgram,
    /// The data drawn under 2-D samples.
    reference: Option<ArrayD<f32>>,
    /// The value range of images.
    range: Option<(f32, f32)>,
}

impl SamplePlots {
    /// Compiles the sampler; `None` when the run plots never (`train.sample_every = 0`) or
    /// its data cannot be plotted ([`crate::plot::can_plot_samples`]).
    pub fn build(setup: &Setup, target: &Target) -> Result<Option<Self>> {
        let t = &setup.config.train;
        let shape = setup.net.data_shape();
        if t.sample_every == 0 || !crate::plot::can_plot_samples(&shape) {
            return Ok(None);
        }
        let images = shape.len() == 3;
        let n = if images {
            t.sample_size.min(64)
        } else {
            t.sample_size
        };
        let exe = compile_em_sampler(setup, target, n, t.sample_steps)?;
        let fixed = sampler_arguments(setup, n, t.seed)?;
        let sampler = ParamProgram::new(target, exe, &fixed, setup.opt.ema_rate.is_some())?;
        let to_data = |ds: &Dataset| setup.data.transform.reverse_array(ds.x());
        let (reference, range) = if images {
            let range = setup.data.train.value_range().unwrap_or_else(|| {
                // A memory-mapped set: the range of its first rows, not a full read.
                let train = &setup.data.train;
                let rows = if train.is_resident() {
                    train
                } else {
                    &train.take(4096)
                };
                crate::plot::finite_range(&to_data(rows))
            });
            (None, Some(range))
        } else {
            (Some(to_data(&setup.reference_rows().take(n))), None)
        };
        Ok(Some(SamplePlots {
            sampler,
            reference,
            range,
        }))
    }

    /// Draws samples from the engine's current parameters and plots them in `dir` as the
    /// samples of step `step`.
    pub fn plot(&self, setup: &Setup, engine: &Engine, dir: &Path, step: u64) -> Result<()> {
        let samples = self.sampler.run(engine)?.to_ndarray::<f32>()?;
        let samples = setup.data.transform.reverse_array(&samples);
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        crate::plot::samples_png(
            &dir.join(format!("samples_{step:06}.png")),
            &samples,
            &format!("step {step}"),
            self.reference.as_ref(),
            self.range,
        )
    }
}
