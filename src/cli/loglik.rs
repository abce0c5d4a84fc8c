//! `sbgm-xla loglik --checkpoint RUN --data x.npy --method exact|hutchinson --probes K
//! --solver tsit5 --out ll.npy`: log-likelihoods by the probability-flow ODE, per sample, with
//! the mean and its standard error printed.
//!
//! The data are given in data space and scaled like the training data (the density is
//! reported in data space: the scaling's log-Jacobian is added), unless `--model-space`.
//! `--dequantize LEVELS` treats the data as discrete (e.g. 256 levels of 8-bit images) and
//! reports bits per dimension with the bin width, as score_sde does.

use super::RuntimeArgs;
use super::finite::warn_output;
use super::model::ModelArgs;
use super::output::{CheckpointExtensionArg, OutputKind, outln, output_kind};
use super::sample::AdaptiveArgs;
use crate::error::{Error, Result};
use crate::graph::MatmulPrecision;
use crate::host::HostArray;
use crate::io::npy::{read_npy, write_npy};
use crate::io::outputs::{NamedPath, check_outputs};
use crate::io::{Checkpoint, save_checkpoint};
use crate::model::Space;
use crate::sample::{
    Dequantize, Loglik, LoglikConfig, Probe, SamplerKind, TraceMethod, mean_stderr,
};
use anyhow::Context;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// `--solver`: the samplers that solve the probability-flow ODE, by their names.
fn ode_solver_parser() -> impl TypedValueParser<Value = SamplerKind> {
    PossibleValuesParser::new(SamplerKind::ode_solvers().filter_map(|k| k.to_possible_value()))
        .try_map(|name| name.parse::<SamplerKind>())
}

/// Arguments of `sbgm-xla loglik`.
#[derive(Debug, Args)]
pub struct LoglikArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// The data: (N, data shape...), in data space (or the model's space with --model-space).
    #[arg(long, value_name = "x.npy")]
    pub data: PathBuf,
    /// Exact trace or Hutchinson's estimator.
    #[arg(long, value_enum, default_value_t = TraceMethod::Exact)]
    pub method: TraceMethod,
    /// Hutchinson probes per sample.
    #[arg(long, default_value_t = 1, value_name = "K")]
    pub probes: usize,
    /// Hutchinson probe distribution.
    #[arg(long, value_enum, default_value_t = Probe::Gaussian)]
    pub probe: Probe,
    /// The ODE solver.
    #[arg(long, value_parser = ode_solver_parser(), default_value_t = SamplerKind::Tsit5)]
    pub solver: SamplerKind,
    /// Fixed steps (default: adaptive for tsit5/dopri5, (t1 - t0) / dt otherwise).
    #[arg(long, value_name = "K")]
    pub steps: Option<usize>,
    #[command(flatten)]
    pub adaptive: AdaptiveArgs,
    /// Treat the data as discrete with LEVELS values (256 for 8-bit images) spread evenly over
    /// the data's value range: uniform dequantization, bits/dim with the bin width.
    #[arg(long, value_name = "LEVELS")]
    pub dequantize: Option<usize>,
    /// The data-space values of the lowest and highest level for --dequantize (default: the
    /// data set's range from the config, else the data's min and max).
    #[arg(long, num_args = 2, value_names = ["LO", "HI"], allow_hyphen_values = true)]
    pub levels_range: Option<Vec<f64>>,
    /// Samples per compiled call.
    #[arg(long, default_value_t = 1024)]
    pub batch_size: usize,
    /// How the network's f32 matrix products multiply: f32 (exact) or bf16 (operands rounded to
    /// bfloat16, f32 accumulation): about 3x faster on CPUs with AMX (sbgm-xla's own kernel),
    /// about 2x on other CPUs with bf16 instructions.
    #[arg(long, value_name = "f32|bf16", default_value = "f32")]
    pub matmul_precision: MatmulPrecision,
    /// Per-sample values: .npy (log-likelihoods in nats) or .safetensors (logp, bpd, prior,
    /// delta, with the settings in the metadata; needs --allow-checkpoint-extension).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub out_name: CheckpointExtensionArg,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

impl LoglikArgs {
    /// Checks what needs no model: tolerances, counts, and that the output can be written
    /// without losing an input.
    fn check(&self) -> Result<()> {
        self.adaptive.check()?;
        if self.method == TraceMethod::Hutchinson && self.probes == 0 {
            return Err(Error::BadArgument(
                "--probes must be at least 1 for Hutchinson's estimator".into(),
            ));
        }
        if self.steps == Some(0) {
            return Err(Error::BadArgument("--steps must be at least 1".into()));
        }
        if self.batch_size == 0 {
            return Err(Error::BadArgument("--batch-size must be at least 1".into()));
        }
        if self.dequantize.is_some_and(|l| l < 2) {
            return Err(Error::BadArgument(
                "--dequantize LEVELS needs at least 2 levels".into(),
            ));
        }
        if self.levels_range.is_some() && self.dequantize.is_none() {
            return Err(Error::BadArgument(
                "--levels-range is for --dequantize; add --dequantize LEVELS".into(),
            ));
        }
        if let Some(p) = &self.out {
            output_kind(p)?;
            self.out_name.check("loglik", "--out", p)?;
            let mut inputs = self.model.inputs()?;
            inputs.push(NamedPath::new("--data", &self.data));
            check_outputs(&inputs, &[NamedPath::new("--out", p)])?;
        }
        Ok(())
    }

    fn config(&self, dequantize: Option<Dequantize>) -> LoglikConfig {
        LoglikConfig {
            method: self.method,
            probes: self.probes,
            probe: self.probe,
            solver: self.solver,
            steps: self.steps,
            rtol: self.adaptive.rtol,
            atol: self.adaptive.atol,
            max_steps: self.adaptive.max_steps,
            dequantize,
            batch: self.batch_size,
            matmul_precision: self.matmul_precision,
            ..LoglikConfig::default()
        }
    }
}

/// Writes the per-sample values to --out: the log-likelihoods (.npy), or every value with the
/// settings (.safetensors).
fn write_out(args: &LoglikArgs, out: &Path, run: &Written) -> anyhow::Result<()> {
    let (ll, logp) = (run.ll, &run.logp);
    match output_kind(out)? {
        OutputKind::Npy => write_npy(out, logp)?,
        OutputKind::Safetensors => {
            let v = |x: &[f64]| HostArray::from_vec(vec![x.len()], x.to_vec());
            let mut ck = Checkpoint::new();
            ck.insert("logp", logp.clone())?;
            ck.insert("bpd", v(&ll.bpd)?)?;
            ck.insert("prior", v(&ll.prior)?)?;
            ck.insert("delta", v(&ll.delta)?)?;
            ck.set_meta("checkpoint", run.checkpoint.display().to_string());
            ck.set_meta("data", args.data.display().to_string());
            ck.set_meta("loglik_config", serde_json::to_string(run.cfg)?);
            ck.set_meta("seed", args.model.seed.to_string());
            ck.set_meta("space", run.space.name());
            ck.set_meta("nfe", ll.counters.nfe.to_string());
            save_checkpoint(out, &ck)?;
        }
    }
    Ok(())
}

/// What `loglik` computed, for its output file.
struct Written<'a> {
    ll: &'a Loglik,
    logp: HostArray,
    cfg: &'a LoglikConfig,
    space: Space,
    checkpoint: &'a Path,
}

/// Runs `sbgm-xla loglik`.
pub fn loglik_cmd(args: &LoglikArgs) -> anyhow::Result<()> {
    args.check()?;
    let raw =
        read_npy(&args.data).with_context(|| format!("reading --data {}", args.data.display()))?;
    let model = args.model.load()?;
    let sde = model.sde()?;
    if let Some(w) = model.t1_warning(&sde) {
        eprintln!("{w}");
    }
    let x = model.data_values(&raw, &args.data)?;
    let n = raw.shape()[0];
    let wanted = args.model.space();
    let range = args.levels_range.as_ref().map(|r| (r[0], r[1]));
    let dequantize = args
        .dequantize
        .map(|levels| model.dequantize(levels, range, &x, wanted));
    let cfg = args.config(dequantize);
    cfg.validate(&sde)?;
    let cond = args.model.conditioning(&model, n)?;
    let job = model.prepare_loglik(&cfg, &x, wanted, cond)?;
    let client = args.runtime.client()?;
    let start = Instant::now();
    let ll = job.run(&client, args.model.seed, args.runtime.progress())?;
    let secs = start.elapsed().as_secs_f64();
    let space = job.space();
    let logp = HostArray::from_vec(vec![ll.logp.len()], ll.logp.clone())?;
    warn_output("the log-likelihoods", &logp);
    if let Some(out) = &args.out {
        let checkpoint = &model.file;
        let written = Written {
            ll: &ll,
            logp,
            cfg: &cfg,
            space,
            checkpoint,
        };
        write_out(args, out, &written)?;
    }
    let (m, se) = mean_stderr(&ll.logp);
    let (mb, seb) = mean_stderr(&ll.bpd);
    outln!("model: {}", model.describe());
    outln!(
        "{n} samples, {:?} trace{}, {:?} solver: {secs:.2} s, NFE {} ({} steps)",
        args.method,
        if args.method == TraceMethod::Hutchinson {
            format!(" ({} {:?} probes)", args.probes, args.probe)
        } else {
            String::new()
        },
        args.solver,
        ll.counters.nfe,
        ll.counters.steps
    );
    outln!("log-likelihood ({space} space): {m:.6} ± {se:.6} nats (mean ± standard error)");
    outln!(
        "bits per dimension{}: {mb:.6} ± {seb:.6}",
        if dequantize.is_some() {
            " (dequantized, with the bin width)"
        } else {
            ""
        }
    );
    if let Some(out) = &args.out {
        outln!("wrote {}", out.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: LoglikArgs,
    }

    fn parse(extra: &[&str]) -> std::result::Result<LoglikArgs, clap::Error> {
        let base = ["loglik", "--checkpoint", "run", "--data", "x.npy"];
        Cli::try_parse_from(base.iter().chain(extra)).map(|c| c.args)
    }

    #[test]
    fn solver_takes_the_ode_samplers_by_name_and_refuses_the_others() {
        let args = parse(&[]).expect("defaults parse");
        assert_eq!(
            (args.solver, args.method, args.probe),
            (SamplerKind::Tsit5, TraceMethod::Exact, Probe::Gaussian)
        );
        for kind in SamplerKind::ode_solvers() {
            let args = parse(&["--solver", &kind.to_string()]).expect("an ODE solver parses");
            assert_eq!(args.solver, kind);
        }
        let args = parse(&["--method", "hutchinson", "--probe", "rademacher"]).expect("parses");
        assert_eq!(
            (args.method, args.probe),
            (TraceMethod::Hutchinson, Probe::Rademacher)
        );
        for refused in ["em", "pc", "dpm2m", "ddim"] {
            let e = parse(&["--solver", refused])
                .expect_err("not an ODE solver")
                .to_string();
            assert!(
                e.contains(refused) && e.contains("euler, heun, rk4, tsit5, dopri5"),
                "{e}"
            );
        }
    }
}
