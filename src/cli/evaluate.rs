//! `sbgm-xla evaluate`: a field run judged on its held-out fields.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;

use crate::cli::RuntimeArgs;
use crate::cli::output::outln;
use crate::model::Model;
use crate::sample::{SamplerConfig, SamplerKind};
use crate::train::Config;

/// Arguments of `sbgm-xla evaluate`.
#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// The training run directory.
    #[arg(long, value_name = "RUN")]
    pub checkpoint: PathBuf,
    /// The training config whose held-out split to use (default: RUN/config.toml).
    #[arg(long, value_name = "FILE.toml")]
    pub config: Option<PathBuf>,
    /// How many held-out fields to compare (one conditional sample each).
    #[arg(long, default_value_t = 64)]
    pub n: usize,
    /// Sampler steps (Euler-Maruyama).
    #[arg(long, default_value_t = 200)]
    pub steps: usize,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where to write evaluate.json and the PNGs (default: RUN).
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

/// Runs `sbgm-xla evaluate`.
pub fn evaluate_cmd(args: &EvaluateArgs) -> anyhow::Result<()> {
    let config_path = args
        .config
        .clone()
        .unwrap_or_else(|| args.checkpoint.join("config.toml"));
    let config = Config::from_file(&config_path, &[]).with_context(|| {
        format!(
            "the run's config {} (or give --config)",
            config_path.display()
        )
    })?;
    // The output directory is made before anything is loaded or compiled.
    let dir = args
        .out_dir
        .clone()
        .unwrap_or_else(|| args.checkpoint.clone());
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let model = Model::load(&args.checkpoint)?;
    let data = config.data.load()?;
    let mut sampler = SamplerConfig::new(SamplerKind::Em);
    sampler.steps = Some(args.steps);
    let target = args.runtime.target()?;
    let eval = model.evaluate_fields(&target, &sampler, &data.holdout, args.n, args.seed)?;
    let json = dir.join("evaluate.json");
    crate::io::atomic::atomic_write_bytes(&json, serde_json::to_string_pretty(&eval)?.as_bytes())?;
    eval.write_pngs(&dir, "evaluate")?;
    outln!(
        "{} held-out fields: power spectrum within {:.1}% of the data's (largest bin error), mean r(k) {:.3}; wrote {} and evaluate_{{spectra,r,hist}}.png",
        eval.n,
        100.0 * eval.power_max_relative_error,
        eval.cross_correlation.iter().sum::<f64>() / eval.cross_correlation.len().max(1) as f64,
        json.display()
    );
    Ok(())
}
