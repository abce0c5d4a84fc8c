//! `sbgm-xla sample --checkpoint RUN --n N --sampler em|pc|euler|heun|rk4|tsit5|dopri5|dpm2m
//! --out samples.npy [--png grid.png]`: draws samples from a trained model.
//!
//! The checkpoint is a training run directory, our safetensors checkpoint or an Equinox `.eqx`
//! file with `--config`; the SDE comes from the configuration's `[sde]` (a training config has
//! one; else `--sde FILE.toml`). The whole sampler runs as one compiled program per chunk of
//! `--batch-size` samples. Samples are mapped back to data space with the data's scaling when
//! it is known (`--model-space` keeps them as the model draws them).

use super::RuntimeArgs;
use super::finite::{warn_input, warn_leaves, warn_output};
use super::model::{LoadedModel, load_model, resolve_checkpoint};
use super::output::{CheckpointExtensionArg, NamedPath, check_outputs, outln};
use super::score::cast_float;
use crate::error::{Error, Result};
use crate::graph::MatmulPrecision;
use crate::host::HostArray;
use crate::io::npy::{read_npy, write_npy};
use crate::io::{Checkpoint, save_checkpoint};
use crate::sample::{HostCond, NetScore, Predictor, SamplerConfig, SamplerKind, sample};
use anyhow::Context;
use clap::Args;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What the sampling and likelihood commands share: the checkpoint and its configuration.
#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    /// The model: a training run directory, a .safetensors checkpoint, or an .eqx file (with
    /// --config).
    #[arg(long, value_name = "RUN|FILE")]
    pub checkpoint: PathBuf,
    /// The configuration (a training config, or TOML with [model] and [sde], or an sbgm JSON
    /// model config); default: the one stored in the checkpoint.
    #[arg(long, value_name = "CONFIG.toml")]
    pub config: Option<PathBuf>,
    /// A TOML file whose [sde] section to use (when --config has none).
    #[arg(long, value_name = "FILE.toml")]
    pub sde: Option<PathBuf>,
    /// The tensor group of a safetensors checkpoint (`ema`, `params`; default: plain names,
    /// else `ema`, else `params`).
    #[arg(long, value_name = "NAME")]
    pub group: Option<String>,
    /// Conditioning maps or vectors q: (N, q shape...) or (1, q shape...) for all.
    #[arg(long, value_name = "q.npy")]
    pub q: Option<PathBuf>,
    /// Parameter vectors a: (N, a_dim) or (1, a_dim) for all.
    #[arg(long, value_name = "a.npy")]
    pub a: Option<PathBuf>,
    /// Data in and out in the model's scaled space (no data scaling applied).
    #[arg(long)]
    pub model_space: bool,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

impl ModelArgs {
    /// Loads the model, with the SDE from --sde when given.
    pub fn load(&self) -> Result<LoadedModel> {
        let mut m = load_model(
            &self.checkpoint,
            self.config.as_deref(),
            self.group.as_deref(),
        )?;
        if let Some(p) = &self.sde {
            let doc = std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?;
            let table: toml::Table = toml::from_str(&doc).map_err(|e| {
                Error::format(p, format!("not valid TOML: {}", e.to_string().trim_end()))
            })?;
            let sde = match table.get("sde") {
                Some(toml::Value::Table(t)) => t.clone(),
                _ if table.contains_key("sde") || table.contains_key("t1") => table,
                _ => {
                    return Err(Error::format(
                        p,
                        "no [sde] section (e.g. sde = \"VP\", schedule = \"linear\", t0, t1)",
                    ));
                }
            };
            m.sde = Some(
                toml::Value::Table(sde)
                    .try_into()
                    .map_err(|e: toml::de::Error| {
                        Error::format(p, format!("bad [sde]: {}", e.to_string().trim_end()))
                    })?,
            );
        }
        warn_leaves(&m.leaves, &m.file);
        Ok(m)
    }

    /// The files the model arguments read: the checkpoint file (the one a run directory
    /// resolves to), --config, --sde, --q and --a.
    pub fn inputs(&self) -> Result<Vec<NamedPath>> {
        let mut v = vec![NamedPath::new(
            "--checkpoint",
            resolve_checkpoint(&self.checkpoint)?,
        )];
        v.extend(NamedPath::given([
            ("--config", self.config.as_deref()),
            ("--sde", self.sde.as_deref()),
            ("--q", self.q.as_deref()),
            ("--a", self.a.as_deref()),
        ]));
        Ok(v)
    }

    /// Reads --q and --a for `n` samples, checked against the model (one row per sample or
    /// one row for all) and converted to its float type.
    pub fn conditioning(&self, model: &LoadedModel, n: usize) -> Result<HostCond> {
        let net = &model.net;
        let read = |p: &Option<PathBuf>, flag: &str| -> Result<Option<HostArray>> {
            p.as_ref()
                .map(|p| {
                    let v = read_npy(p)
                        .map_err(|e| Error::msg(format!("reading {flag} {}: {e}", p.display())))?;
                    warn_input(&format!("{flag} {}", p.display()), &v);
                    Ok(v)
                })
                .transpose()
        };
        let part = |given: Option<HostArray>,
                    want: Option<Vec<usize>>,
                    flag: &str,
                    what: &str|
         -> Result<Option<HostArray>> {
            match (want, given) {
                (None, None) => Ok(None),
                (None, Some(v)) => Err(Error::BadArgument(format!(
                    "{flag} was given (shape {:?}) but the model is not conditioned on {what}; \
                     drop {flag}",
                    v.shape()
                ))),
                (Some(w), None) => Err(Error::BadArgument(format!(
                    "the model is conditioned on {what}: pass {flag} FILE.npy with shape \
                     ({n}, {}) (one per sample) or (1, {}) (the same for all)",
                    dims(&w),
                    dims(&w)
                ))),
                (Some(w), Some(v)) => {
                    let s = v.shape();
                    if s.len() != w.len() + 1 || !(s[0] == n || s[0] == 1) || s[1..] != w[..] {
                        return Err(Error::BadArgument(format!(
                            "{flag} must have shape ({n}, {}) or (1, {}), got {s:?}",
                            dims(&w),
                            dims(&w)
                        )));
                    }
                    if !v.dtype().is_float() {
                        return Err(Error::BadArgument(format!(
                            "{flag} must be a float array, got {}",
                            v.dtype()
                        )));
                    }
                    cast_float(&v, model.dtype()).map(Some)
                }
            }
        };
        Ok(HostCond {
            q: part(
                read(&self.q, "--q")?,
                net.q_shape(),
                "--q",
                "a conditioning q",
            )?,
            a: part(
                read(&self.a, "--a")?,
                net.a_dim().map(|d| vec![d]),
                "--a",
                "a parameter vector a",
            )?,
            labels: None,
        })
    }
}

fn dims(d: &[usize]) -> String {
    let v: Vec<String> = d.iter().map(usize::to_string).collect();
    v.join(", ")
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
    /// Relative tolerance of the adaptive solvers.
    #[arg(long, default_value_t = 1e-5, allow_hyphen_values = true)]
    pub rtol: f64,
    /// Absolute tolerance of the adaptive solvers.
    #[arg(long, default_value_t = 1e-5, allow_hyphen_values = true)]
    pub atol: f64,
    /// Step bound of the adaptive solvers.
    #[arg(long, default_value_t = 4096)]
    pub max_steps: usize,
    /// Langevin corrector steps per step (pc).
    #[arg(long, default_value_t = 1)]
    pub corrector_steps: usize,
    /// Signal-to-noise ratio of the Langevin corrector (pc).
    #[arg(long, default_value_t = 0.16, allow_hyphen_values = true)]
    pub snr: f64,
    /// Euler-Maruyama instead of reverse-diffusion as the predictor (pc).
    #[arg(long)]
    pub em_predictor: bool,
    /// Classifier-free guidance scale w: (1 + w) s(x, c) - w s(x, 0), for models trained with
    /// conditioning dropout.
    #[arg(long, value_name = "W", allow_hyphen_values = true)]
    pub guidance: Option<f64>,
    /// Samples per compiled call.
    #[arg(long, default_value_t = 4096)]
    pub batch_size: usize,
    /// How the network's f32 matrix products multiply: f32 (exact) or bf16 (operands rounded to
    /// bfloat16, f32 accumulation): about 3x faster on CPUs with AMX (sbgm-xla's own kernel),
    /// about 2x on other CPUs with bf16 instructions.
    #[arg(long, value_name = "f32|bf16", default_value = "f32")]
    pub matmul_precision: MatmulPrecision,
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
            rtol: self.rtol,
            atol: self.atol,
            max_steps: self.max_steps,
            corrector_steps: self.corrector_steps,
            snr: self.snr,
            predictor: if self.em_predictor {
                Predictor::EulerMaruyama
            } else {
                Predictor::ReverseDiffusion
            },
            guidance: self.guidance,
            batch: self.batch_size,
            matmul_precision: self.matmul_precision,
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
        for (flag, v) in [("--rtol", self.rtol), ("--atol", self.atol)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::BadArgument(format!(
                    "{flag} {v}: a tolerance must be a finite number >= 0"
                )));
            }
        }
        if self.steps == Some(0) {
            return Err(Error::BadArgument("--steps must be at least 1".into()));
        }
        if self.batch_size == 0 {
            return Err(Error::BadArgument("--batch-size must be at least 1".into()));
        }
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

/// Output formats of arrays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputKind {
    /// One `.npy` array.
    Npy,
    /// Named arrays with metadata.
    Safetensors,
}

/// The output format of `path` by its extension.
pub fn output_kind(path: &Path) -> Result<OutputKind> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("npy") => Ok(OutputKind::Npy),
        Some("safetensors") => Ok(OutputKind::Safetensors),
        _ => Err(Error::BadArgument(format!(
            "--out {}: the output must end in .npy or .safetensors",
            path.display()
        ))),
    }
}

/// Samples mapped back to data space with the model's data scaling, when known and wanted.
fn to_data_space(
    model: &LoadedModel,
    x: HostArray,
    model_space: bool,
) -> Result<(HostArray, &'static str)> {
    match (&model.transform, model_space) {
        (Some(t), false) => {
            let a = x.to_ndarray::<f32>()?;
            Ok((HostArray::from_ndarray(&t.reverse_array(&a)), "data"))
        }
        _ => Ok((x, "model")),
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
    let score = NetScore::new(model.net.as_ref(), &model.leaves)?;
    let client = args.runtime.client()?;
    let start = Instant::now();
    let s = sample(
        &crate::exec::Target::new(client),
        &score,
        &sde,
        &cfg,
        &model.net.data_shape(),
        args.n,
        args.model.seed,
        &cond,
        args.runtime.progress(),
    )?;
    let secs = start.elapsed().as_secs_f64();
    let (x, space) = to_data_space(&model, s.x, args.model.model_space)?;
    warn_output(
        &format!("the samples written to {}", args.out.display()),
        &x,
    );
    match output_kind(&args.out)? {
        OutputKind::Npy => write_npy(&args.out, &x)?,
        OutputKind::Safetensors => {
            let mut ck = Checkpoint::new();
            ck.insert("samples", x.clone())?;
            ck.set_meta("checkpoint", model.file.display().to_string());
            ck.set_meta("sampler", args.sampler.to_string());
            ck.set_meta("sampler_config", serde_json::to_string(&cfg)?);
            ck.set_meta("seed", args.model.seed.to_string());
            ck.set_meta("nfe", s.counters.nfe.to_string());
            ck.set_meta("steps", s.counters.steps.to_string());
            ck.set_meta("space", space);
            save_checkpoint(&args.out, &ck)?;
        }
    }
    outln!("model: {}", model.describe());
    outln!(
        "{} samples of shape {:?} with {} in {secs:.2} s (NFE {}, steps {}{}); {} space",
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
        space
    );
    outln!("wrote {}", args.out.display());
    if let Some(p) = &args.png {
        let range = if space == "data" {
            model.value_range
        } else {
            model
                .value_range
                .zip(model.transform)
                .map(|((lo, hi), t)| (t.forward(lo), t.forward(hi)))
        };
        let title = format!("{} samples, {}", args.n, args.sampler);
        plot(p, &x, &title, range).with_context(|| format!("plotting {}", p.display()))?;
        outln!("wrote {}", p.display());
    }
    Ok(())
}
