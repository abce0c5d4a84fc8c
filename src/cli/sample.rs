//! `sbgm-xla sample --checkpoint RUN --n N --sampler em|pc|euler|heun|rk4|tsit5|dopri5|dpm2m
//! --out samples.npy [--png grid.png]`: draws samples from a trained model.
//!
//! The checkpoint is a training run directory, our safetensors checkpoint or an Equinox `.eqx`
//! file with `--config`; the SDE comes from the configuration's `[sde]` (a training config has
//! one; else `--sde FILE.toml`). The whole sampler runs as one compiled program per chunk of
//! `--batch-size` samples. Samples are mapped back to data space with the data's scaling when
//! it is known (`--model-space` keeps them as the model draws them).

use super::RuntimeArgs;
use super::finite::warn_output;
use super::model::ModelArgs;
use super::output::{CheckpointExtensionArg, outln, output_kind, write_results};
use crate::error::{Error, Result};
use crate::graph::MatmulPrecision;
use crate::host::HostArray;
use crate::io::outputs::{NamedPath, check_outputs};
use crate::model::inputs::cast_float;
use crate::sample::{Predictor, SamplerConfig, SamplerKind};
use anyhow::Context;
use clap::Args;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The tolerances and step bound of the adaptive ODE solvers (`sample` and `loglik`).
#[derive(Debug, Clone, Args)]
pub struct AdaptiveArgs {
    /// Relative tolerance of the adaptive solvers.
    #[arg(long, default_value_t = 1e-5, allow_hyphen_values = true)]
    pub rtol: f64,
    /// Absolute tolerance of the adaptive solvers.
    #[arg(long, default_value_t = 1e-5, allow_hyphen_values = true)]
    pub atol: f64,
    /// Step bound of the adaptive solvers.
    #[arg(long, default_value_t = 4096)]
    pub max_steps: usize,
}

impl AdaptiveArgs {
    /// Checks that the tolerances are finite numbers >= 0.
    pub fn check(&self) -> Result<()> {
        for (flag, v) in [("--rtol", self.rtol), ("--atol", self.atol)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::BadArgument(format!(
                    "{flag} {v}: a tolerance must be a finite number >= 0"
                )));
            }
        }
        Ok(())
    }
}

/// Checks `--steps` (when given) and `--batch-size`: at least 1 (`sample` and `loglik`).
pub fn check_steps_and_batch(steps: Option<usize>, batch_size: usize) -> Result<()> {
    if steps == Some(0) {
        return Err(Error::BadArgument("--steps must be at least 1".into()));
    }
    if batch_size == 0 {
        return Err(Error::BadArgument("--batch-size must be at least 1".into()));
    }
    Ok(())
}

/// `--matmul-precision` (`sample` and `loglik`).
#[derive(Debug, Clone, Args)]
pub struct MatmulArg {
    /// How the network's f32 matrix products multiply: f32 (exact) or bf16 (operands rounded to
    /// bfloat16, f32 accumulation): about 3x faster on CPUs with AMX (sbgm-xla's own kernel),
    /// about 2x on other CPUs with bf16 instructions.
    #[arg(long, value_name = "f32|bf16", default_value = "f32")]
    pub matmul_precision: MatmulPrecision,
}

/// Arguments of `sbgm-xla sample`.
#[derive(Debug, Args)]
pub struct SampleArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Number of samples.
    #[arg(long, value_name = "N")]
    pub n: usize,
    /// The sampler.
    #[arg(long, value_enum, default_value_t = SamplerKind::Em)]
    pub sampler: SamplerKind,
    /// Steps of fixed-step samplers (default: (t1 - t0) / dt of the SDE); for tsit5/dopri5,
    /// fixed steps instead of adaptive ones.
    #[arg(long, value_name = "K")]
    pub steps: Option<usize>,
    #[command(flatten)]
    pub adaptive: AdaptiveArgs,
    /// Langevin corrector steps per step (pc).
    #[arg(long, default_value_t = 1)]
    pub corrector_steps: usize,
    /// Signal-to-noise ratio of the Langevin corrector (pc).
    #[arg(long, default_value_t = 0.16, allow_hyphen_values = true)]
    pub snr: f64,
    /// Euler-Maruyama instead of reverse-diffusion as the predictor (pc).
    #[arg(long)]
    pub em_predictor: bool,
    /// Classifier-free guidance scale w: (1 + w) s(x, c) - w s(x, null), for models trained
    /// with conditioning dropout (null: the run's `[train] cond_null`).
    #[arg(long, value_name = "W", allow_hyphen_values = true)]
    pub guidance: Option<f64>,
    /// Samples per compiled call.
    #[arg(long, default_value_t = 4096)]
    pub batch_size: usize,
    #[command(flatten)]
    pub matmul: MatmulArg,
    /// Where to write the samples: .npy, or .safetensors (with the settings in the metadata;
    /// needs --allow-checkpoint-extension).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    #[command(flatten)]
    pub out_name: CheckpointExtensionArg,
    /// A plot of the samples: a scatter plot for 2-D data, an image grid for (C, H, W) images.
    #[arg(long, value_name = "FILE.png")]
    pub png: Option<PathBuf>,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

impl SampleArgs {
    /// The sampler settings.
    pub fn sampler_config(&self) -> SamplerConfig {
        SamplerConfig {
            sampler: self.sampler,
            steps: self.steps,
            rtol: self.adaptive.rtol,
            atol: self.adaptive.atol,
            max_steps: self.adaptive.max_steps,
            corrector_steps: self.corrector_steps,
            snr: self.snr,
            predictor: if self.em_predictor {
                Predictor::EulerMaruyama
            } else {
                Predictor::ReverseDiffusion
            },
            guidance: self.guidance,
            batch: self.batch_size,
            matmul_precision: self.matmul.matmul_precision,
            ..SamplerConfig::new(self.sampler)
        }
    }

    /// Checks what needs no model: counts, tolerances, output names, and that the outputs
    /// can be written without losing an input.
    fn check(&self) -> Result<()> {
        if self.n == 0 {
            return Err(Error::BadArgument(
                "--n must be at least 1 (the number of samples to draw)".into(),
            ));
        }
        self.adaptive.check()?;
        check_steps_and_batch(self.steps, self.batch_size)?;
        output_kind(&self.out)?;
        self.out_name.check("sample", "--out", &self.out)?;
        if let Some(p) = &self.png
            && p.extension().is_none_or(|e| e != "png")
        {
            return Err(Error::BadArgument(format!(
                "--png {}: the plot file must end in .png",
                p.display()
            )));
        }
        let mut outputs = vec![NamedPath::new("--out", &self.out)];
        outputs.extend(NamedPath::given([("--png", self.png.as_deref())]));
        check_outputs(&self.model.inputs()?, &outputs)
    }
}

/// Plots samples: a scatter plot of 2-D points, a grid of (C, H, W) images
/// ([`crate::plot::samples_png`]).
fn plot(path: &Path, x: &HostArray, title: &str, range: Option<(f32, f32)>) -> Result<()> {
    let a = cast_float(x, crate::DType::F32)?.to_ndarray::<f32>()?;
    crate::plot::samples_png(path, &a, title, None, range).map_err(|e| match e {
        Error::BadArgument(m) => Error::BadArgument(format!("--png: {m}")),
        e => e,
    })
}

/// Runs `sbgm-xla sample`.
pub fn sample_cmd(args: &SampleArgs) -> anyhow::Result<()> {
    args.check()?;
    let model = args.model.load()?;
    let sde = model.sde()?;
    if let Some(w) = model.t1_warning(&sde) {
        eprintln!("{w}");
    }
    let cfg = args.sampler_config();
    cfg.validate(&sde)?;
    let cond = args.model.conditioning(&model, args.n)?;
    if args.guidance.is_some() && cond.q.is_none() && cond.a.is_none() {
        anyhow::bail!(
            "--guidance needs a conditional model (one conditioned on q or a, trained with \
             conditioning dropout); this {} takes no conditioning",
            model.net.name()
        );
    }
    if args.guidance.is_some()
        && let Some(w) = model.null.guidance_warning()
    {
        eprintln!("{w}");
    }
    let target = args.runtime.target()?;
    let start = Instant::now();
    let opts = args.model.options(args.runtime.progress());
    let s = model.sample(&target, &cfg, args.n, &cond, &opts)?;
    let secs = start.elapsed().as_secs_f64();
    let (x, space) = (s.x, model.space(opts.space));
    warn_output(
        &format!("the samples written to {}", args.out.display()),
        &x,
    );
    let metadata = [
        ("checkpoint", model.file.display().to_string()),
        ("sampler", args.sampler.to_string()),
        ("sampler_config", serde_json::to_string(&cfg)?),
        ("seed", args.model.seed.to_string()),
        ("nfe", s.counters.nfe.to_string()),
        ("steps", s.counters.steps.to_string()),
        ("space", space.to_string()),
    ];
    write_results(&args.out, ("samples", &x), Vec::new(), &metadata)?;
    outln!("model: {}", model.describe());
    outln!(
        "{} samples of shape {:?} with {} in {secs:.2} s (NFE {}, steps {}{}); {space} space",
        args.n,
        model.net.data_shape(),
        args.sampler,
        s.counters.nfe,
        s.counters.steps,
        if s.counters.rejected > 0 {
            format!(", {} rejected", s.counters.rejected)
        } else {
            String::new()
        },
    );
    outln!("wrote {}", args.out.display());
    if let Some(p) = &args.png {
        let title = format!("{} samples, {}", args.n, args.sampler);
        plot(p, &x, &title, model.value_range_in(space))
            .with_context(|| format!("plotting {}", p.display()))?;
        outln!("wrote {}", p.display());
    }
    Ok(())
}
