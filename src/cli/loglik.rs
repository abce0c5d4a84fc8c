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
use super::output::{CheckpointExtensionArg, outln, output_kind, write_results};
use super::sample::{AdaptiveArgs, MatmulArg, check_steps_and_batch};
use crate::error::{Error, Result};
use crate::host::HostArray;
use crate::io::npy::read_npy;
use crate::io::outputs::{NamedPath, check_outputs};
use crate::sample::{Dequantize, LoglikConfig, Probe, SamplerKind, TraceMethod, mean_stderr};
use anyhow::Context;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, ValueEnum};
use std::path::PathBuf;
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
    #[command(flatten)]
    pub matmul: MatmulArg,
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
        check_steps_and_batch(self.steps, self.batch_size)?;
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
            matmul_precision: self.matmul.matmul_precision,
            ..LoglikConfig::default()
        }
    }
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
    let target = args.runtime.target()?;
    let start = Instant::now();
    let ll = job.run(&target, args.model.seed, args.runtime.progress())?;
    let secs = start.elapsed().as_secs_f64();
    let space = job.space();
    let logp = HostArray::from_vec(vec![ll.logp.len()], ll.logp.clone())?;
    warn_output("the log-likelihoods", &logp);
    if let Some(out) = &args.out {
        let v = |x: &[f64]| HostArray::from_vec(vec![x.len()], x.to_vec());
        let more = vec![
            ("bpd", v(&ll.bpd)?),
            ("prior", v(&ll.prior)?),
            ("delta", v(&ll.delta)?),
        ];
        let metadata = [
            ("checkpoint", model.file.display().to_string()),
            ("data", args.data.display().to_string()),
            ("loglik_config", serde_json::to_string(&cfg)?),
            ("seed", args.model.seed.to_string()),
            ("space", space.to_string()),
            ("nfe", ll.counters.nfe.to_string()),
        ];
        write_results(out, ("logp", &logp), more, &metadata)?;
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
