//! What a run computes every few steps besides training, on device 0 with the parameters the
//! engine holds there (gathered there where the mesh splits them: a collective step that every
//! process of a job runs at the same points, see [`Engine::state_if`]): the evaluation ([`Evaluator`], every `train.eval_every` steps: the
//! held-out loss [`HeldOutLoss`] of the EMA and of the raw parameters, and for image data the
//! held-out bits per dimension [`HeldOutBpd`]) and the sample plots ([`SamplePlots`], and
//! [`ClassPlots`] for runs conditioned on their labels; every `train.sample_every` steps).

use std::path::Path;

use ndarray::ArrayD;

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::exec::{Buffer, Compiled, Target};
use crate::host::HostArray;
use crate::model::dequantize_range;
use crate::model::inputs::cast_float;
use crate::sample::{CompiledLoglik, HostCond, LoglikConfig, NetScore, ScoreModel};
use crate::train::config::LabelsAs;
use crate::train::engine::{Engine, ParamBuffer};
use crate::train::feed;
use crate::train::metrics::{Evaluation, Weights};
use crate::train::sampler::{compile_em_sampler, sampler_arguments, sampler_arguments_of};
use crate::train::setup::Setup;
use crate::train::step::{StepLayout, build_eval};

/// Rows of the held-out set that the held-out loss uses (its first ones).
const EVAL_ROWS: usize = 1024;

/// A compiled single-device program taking the model's parameters first, then arguments
/// already on device 0.
struct ParamProgram {
    exe: Compiled,
    fixed: Vec<Buffer>,
}

impl ParamProgram {
    /// Uploads `fixed` to device 0 for the program `exe`.
    fn new(
        target: &Target,
        exe: Compiled,
        fixed: &[crate::host::HostArray],
    ) -> Result<ParamProgram> {
        let fixed = fixed
            .iter()
            .map(|a| target.upload(a, 0))
            .collect::<Result<Vec<_>>>()?;
        Ok(ParamProgram { exe, fixed })
    }

    /// Runs the program on `weights` (whole, on device 0: [`Engine::param_buffers`]); its
    /// first output.
    fn run(&self, weights: &[ParamBuffer]) -> Result<Buffer> {
        let mut args: Vec<&Buffer> = weights.iter().map(|b| &**b).collect();
        args.extend(self.fixed.iter());
        let mut out = self.exe.execute(&[args])?;
        out.pop()
            .and_then(|mut o| (!o.is_empty()).then(|| o.swap_remove(0)))
            .ok_or_else(|| Error::msg("a program of the run returned no output"))
    }
}

impl ParamProgram {
    /// Runs a sampler on `weights` and returns its samples in data space, with the folder
    /// `dir` of their plot created.
    fn draw(&self, setup: &Setup, weights: &[ParamBuffer], dir: &Path) -> Result<ArrayD<f32>> {
        let samples = self.run(weights)?.to_ndarray::<f32>()?;
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        Ok(setup.data.transform.reverse_array(&samples))
    }
}

/// The loss on the held-out set's first rows, of the EMA or of the raw parameters.
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
        Ok(Some(HeldOutLoss(ParamProgram::new(target, exe, &fixed)?)))
    }

    /// The held-out loss of the engine's current EMA (`ema`) or raw parameters.
    pub fn loss(&self, engine: &Engine, ema: bool) -> Result<f32> {
        let v: Vec<f32> = self
            .0
            .run(&engine.param_buffers(ema)?)?
            .to_host()?
            .to_vec()?;
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
        if !Self::applies(setup) {
            return Ok(None);
        }
        let t = &setup.config.train;
        let images = setup.net.data_shape().len() == 3;
        let n = if images {
            t.sample_size.min(64)
        } else {
            t.sample_size
        };
        let exe = compile_em_sampler(setup, target, n, t.sample_steps)?;
        let fixed = sampler_arguments(setup, n, t.seed)?;
        let sampler = ParamProgram::new(target, exe, &fixed)?;
        let to_data = |ds: &Dataset| setup.data.transform.reverse_array(ds.x());
        let (reference, range) = if images {
            (None, Some(image_range(setup)))
        } else {
            (Some(to_data(&setup.reference_rows().take(n))), None)
        };
        Ok(Some(SamplePlots {
            sampler,
            reference,
            range,
        }))
    }

    /// Whether the run draws these plots: it plots (`train.sample_every > 0`) data that can
    /// be plotted ([`crate::plot::can_plot_samples`]).
    pub fn applies(setup: &Setup) -> bool {
        setup.config.train.sample_every > 0
            && crate::plot::can_plot_samples(&setup.net.data_shape())
    }

    /// Draws samples from `params` (the engine's current EMA when the run keeps one, else
    /// its parameters: [`Engine::param_buffers`]) and plots them in `dir` as the samples of
    /// step `step`.
    pub fn plot(&self, setup: &Setup, params: &[ParamBuffer], dir: &Path, step: u64) -> Result<()> {
        let samples = self.sampler.draw(setup, params, dir)?;
        crate::plot::samples_png(
            &dir.join(format!("samples_{step:06}.png")),
            &samples,
            &format!("step {step}"),
            self.reference.as_ref(),
            self.range,
        )
    }
}

/// The value range of image samples in data space: the data set's, else its values'.
fn image_range(setup: &Setup) -> (f32, f32) {
    let train = &setup.data.train;
    train.value_range().unwrap_or_else(|| {
        // A memory-mapped set: the range of its first rows, not a full read.
        let rows = if train.is_resident() {
            train
        } else {
            &train.take(4096)
        };
        crate::plot::finite_range(&setup.data.transform.reverse_array(rows.x()))
    })
}

/// What a run measures every `train.eval_every` steps and at its end: the held-out loss of
/// the weights that `sample` uses (the EMA when the run keeps one) and, with an EMA, of the
/// raw parameters too; the held-out bits per dimension of image data.
pub struct Evaluator {
    loss: HeldOutLoss,
    bpd: Option<HeldOutBpd>,
    ema: bool,
}

impl Evaluator {
    /// Compiles the evaluation for the step layout `layout`; `None` when the run evaluates
    /// never (`train.eval_every = 0`) or has no held-out rows.
    pub fn build(setup: &Setup, target: &Target, layout: &StepLayout) -> Result<Option<Self>> {
        let Some(loss) = HeldOutLoss::build(setup, target, layout)? else {
            return Ok(None);
        };
        Ok(Some(Evaluator {
            loss,
            bpd: HeldOutBpd::build(setup, target)?,
            ema: setup.opt.ema_rate.is_some(),
        }))
    }

    /// Evaluates the engine's current weights. A bits-per-dimension computation that fails
    /// (e.g. its adaptive solver runs out of steps on a barely trained model) is reported on
    /// stderr and left out: the run goes on.
    pub fn evaluate(&self, engine: &Engine) -> Result<Evaluation> {
        let eval_loss = self.loss.loss(engine, self.ema)?;
        let eval_loss_params = if self.ema {
            Some(self.loss.loss(engine, false)?)
        } else {
            None
        };
        let eval_bpd = self.bpd.as_ref().and_then(|b| {
            b.bits_per_dim(engine, self.ema)
                .map_err(|e| {
                    eprintln!(
                        "sbgm-xla: the held-out bits/dim at step {} failed and are left out: {e}",
                        engine.step()
                    )
                })
                .ok()
        });
        Ok(Evaluation {
            eval_loss,
            eval_weights: if self.ema {
                Weights::Ema
            } else {
                Weights::Params
            },
            eval_loss_params,
            eval_bpd,
        })
    }
}

/// The number of levels of data whose value range `(lo, hi)` spans whole steps (8-bit
/// images: 256, digits: 17), with the range; `None` for any other range.
fn whole_levels((lo, hi): (f32, f32)) -> Option<(usize, (f64, f64))> {
    let span = f64::from(hi) - f64::from(lo);
    let whole = span >= 1.0 && span.fract() == 0.0 && span < 1e6;
    whole.then(|| (span as usize + 1, (f64::from(lo), f64::from(hi))))
}

/// Mean bits per dimension of the held-out set's first `train.eval_bpd_samples` images,
/// dequantized over the levels of their value range (8-bit images: 256, digits: 17), by the
/// probability-flow ODE of [`CompiledLoglik`] (compiled once, `train.eval_bpd_method`'s
/// divergence, the key of `train.seed`): what `sbgm-xla loglik --checkpoint RUN --method
/// <method> --dequantize <levels> --seed <train.seed>` reports for the same images.
pub struct HeldOutBpd {
    loglik: CompiledLoglik,
    x: HostArray,
    cond: HostCond,
    seed: u64,
}

impl HeldOutBpd {
    /// Compiles the likelihood; `None` unless the run evaluates, has held-out rows, asks for
    /// bits per dimension (`train.eval_bpd_samples > 0`) and its data are images of whole
    /// levels.
    pub fn build(setup: &Setup, target: &Target) -> Result<Option<Self>> {
        let t = &setup.config.train;
        let holdout = &setup.data.holdout;
        let n = t.eval_bpd_samples.min(holdout.len());
        let images = setup.net.data_shape().len() == 3;
        let levels = holdout.value_range().and_then(whole_levels);
        let (Some((levels, range)), true) = (levels, images && n > 0 && t.eval_every > 0) else {
            return Ok(None);
        };
        let cfg = LoglikConfig {
            method: t.eval_bpd_method,
            dequantize: Some(dequantize_range(levels, range, Some(setup.data.transform))),
            batch: n,
            ..LoglikConfig::default()
        };
        // the likelihood program takes the parameters as arguments: any values compile it
        let score = NetScore::new(setup.net.as_ref(), &setup.net.init(t.seed)?)?;
        let ds = holdout.take(n);
        let cond = HostCond {
            q: setup.net.q_shape().and(ds.q_host()),
            a: setup.net.a_dim().and(ds.a_host()),
            labels: None,
        };
        let shape = setup.net.data_shape();
        let loglik = CompiledLoglik::new(target, &score, &setup.sde, &cfg, &shape, n, &cond)?;
        Ok(Some(HeldOutBpd {
            loglik,
            x: cast_float(&ds.x_host(), score.dtype())?,
            cond,
            seed: t.seed,
        }))
    }

    /// The mean bits per dimension of the engine's current EMA (`ema`) or raw parameters.
    pub fn bits_per_dim(&self, engine: &Engine, ema: bool) -> Result<f64> {
        let params = engine
            .param_buffers(ema)?
            .iter()
            .map(|b| b.to_host())
            .collect::<Result<Vec<_>>>()?;
        let ll = self
            .loglik
            .run(&self.x, [self.seed, 0], &self.cond, &params)?;
        Ok(ll.bpd.iter().sum::<f64>() / ll.bpd.len().max(1) as f64)
    }
}

/// Classes drawn by [`ClassPlots`] at most (the first ones).
const MAX_CLASSES: usize = 10;
/// Images per class in [`ClassPlots`].
const IMAGES_PER_CLASS: usize = 8;

/// The per-class sample plots `samples/classes_<step>.png` of runs conditioned on their
/// class labels (`train.labels_as`): one row of 8 images per class for images, one colour
/// per class for 2-D points (`train.sample_size` points in all), for the first 10 classes,
/// drawn with the sample plots' sampler settings and weights.
pub struct ClassPlots {
    sampler: ParamProgram,
    /// The classes drawn, in order.
    classes: Vec<i32>,
    per_class: usize,
    /// The value range of images (`None`: 2-D points).
    range: Option<(f32, f32)>,
}

impl ClassPlots {
    /// Compiles the sampler; `None` when the run plots never, is not conditioned on labels
    /// or its data cannot be plotted ([`crate::plot::can_plot_samples`]).
    pub fn build(setup: &Setup, target: &Target) -> Result<Option<Self>> {
        let t = &setup.config.train;
        let train = &setup.data.train;
        let Some((classes, firsts)) = Self::classes(setup) else {
            return Ok(None);
        };
        let images = setup.net.data_shape().len() == 3;
        let per_class = if images {
            IMAGES_PER_CLASS
        } else {
            (t.sample_size / classes.len()).max(1)
        };
        let rows: Vec<usize> = firsts
            .iter()
            .flat_map(|&r| std::iter::repeat_n(r, per_class))
            .collect();
        let exe = compile_em_sampler(setup, target, rows.len(), t.sample_steps)?;
        let fixed = sampler_arguments_of(setup, &train.select(&rows)?, t.seed)?;
        Ok(Some(ClassPlots {
            sampler: ParamProgram::new(target, exe, &fixed)?,
            classes,
            per_class,
            range: images.then(|| image_range(setup)),
        }))
    }

    /// Whether the run draws these plots: it plots data that can be plotted, conditioned on
    /// labels, with at least one of the first classes present.
    pub fn applies(setup: &Setup) -> bool {
        Self::classes(setup).is_some()
    }

    /// The classes drawn and a training row of each (its conditioning); `None` when the run
    /// draws no per-class plots.
    fn classes(setup: &Setup) -> Option<(Vec<i32>, Vec<usize>)> {
        let t = &setup.config.train;
        let labels = match setup.data.train.labels() {
            Some(l) if t.labels_as != LabelsAs::None => l,
            _ => return None,
        };
        if !SamplePlots::applies(setup) {
            return None;
        }
        let (classes, firsts): (Vec<i32>, Vec<usize>) = (0..MAX_CLASSES as i32)
            .filter_map(|c| labels.iter().position(|&l| l == c).map(|r| (c, r)))
            .unzip();
        (!classes.is_empty()).then_some((classes, firsts))
    }

    /// Draws the samples of each class from `params` (as [`SamplePlots::plot`]) and plots
    /// them in `dir` as the per-class samples of step `step`.
    pub fn plot(&self, setup: &Setup, params: &[ParamBuffer], dir: &Path, step: u64) -> Result<()> {
        let samples = self.sampler.draw(setup, params, dir)?;
        let path = dir.join(format!("classes_{step:06}.png"));
        if let Some(range) = self.range {
            return crate::plot::image_grid_png(&path, &samples, self.per_class, range);
        }
        let groups: Vec<(String, ArrayD<f32>)> = self
            .classes
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let rows = ndarray::Slice::from(i * self.per_class..(i + 1) * self.per_class);
                let part = samples.slice_axis(ndarray::Axis(0), rows).to_owned();
                (format!("class {c}"), part)
            })
            .collect();
        let series: Vec<(&str, &ArrayD<f32>)> =
            groups.iter().map(|(l, a)| (l.as_str(), a)).collect();
        crate::plot::scatter_png(&path, &format!("step {step}, by class"), &series)
    }
}
