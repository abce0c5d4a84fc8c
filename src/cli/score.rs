//! `sbgm-xla score --checkpoint FILE --config MODEL.toml --t t.npy --x x.npy [--q q.npy]
//! [--a a.npy] --out s.npy`: the score network on a batch, deterministically (inference mode:
//! dropout off), on any plugin. The tool for checking a port against sbgm.
//!
//! Inputs are checked against the model (x's sample shape, q and a present exactly when the
//! model is conditioned on them, matching batch sizes) before anything reaches the plugin. The
//! batch runs in chunks of `--batch-size` samples (one compiled program per chunk size); see
//! [`crate::model::score`].

use super::RuntimeArgs;
use super::finite::{warn_input, warn_leaves, warn_output};
use super::output::{CheckpointExtensionArg, outln};
use crate::error::Result;
use crate::host::HostArray;
use crate::io::npy::{read_npy, write_npy};
use crate::io::outputs::{NamedPath, check_outputs};
use crate::model::{load_model, resolve_checkpoint};
use anyhow::Context;
use clap::Args;
use std::path::{Path, PathBuf};

/// Arguments of `sbgm-xla score`.
#[derive(Debug, Args)]
pub struct ScoreArgs {
    /// The checkpoint: .eqx, .safetensors, or a training run directory.
    #[arg(long, value_name = "FILE|RUN")]
    pub checkpoint: PathBuf,
    /// The model configuration (TOML [model] section, training config, or sbgm JSON config);
    /// optional when the checkpoint stores it.
    #[arg(long, value_name = "MODEL.toml")]
    pub config: Option<PathBuf>,
    /// Which tensor group of a safetensors checkpoint to use (`params`, `ema`; default: plain
    /// leaf names, else `ema`, else `params`).
    #[arg(long, value_name = "NAME")]
    pub group: Option<String>,
    /// Times: (B,) or a scalar (the same time for every sample).
    #[arg(long, value_name = "t.npy")]
    pub t: PathBuf,
    /// Samples: (B, data shape...).
    #[arg(long, value_name = "x.npy")]
    pub x: PathBuf,
    /// Conditioning map or vector q: (B, q shape...), for models conditioned on q.
    #[arg(long, value_name = "q.npy")]
    pub q: Option<PathBuf>,
    /// Parameter vector a: (B, a_dim), for models conditioned on a.
    #[arg(long, value_name = "a.npy")]
    pub a: Option<PathBuf>,
    /// Where to write the scores (.npy, same shape as x; a name ending in .safetensors or .eqx
    /// needs --allow-checkpoint-extension).
    #[arg(long, value_name = "s.npy")]
    pub out: PathBuf,
    #[command(flatten)]
    pub out_name: CheckpointExtensionArg,
    /// Samples per compiled call.
    #[arg(long, default_value_t = 4096, value_name = "N")]
    pub batch_size: usize,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

/// Reads the input `flag` and warns when it holds a non-finite value.
fn read(path: &Path, flag: &str) -> anyhow::Result<HostArray> {
    let a = read_npy(path).with_context(|| format!("reading {flag} {}", path.display()))?;
    warn_input(&format!("{flag} {}", path.display()), &a);
    Ok(a)
}

impl ScoreArgs {
    /// Checks, before any work, that --out can be written without losing an input.
    fn check_output(&self) -> Result<()> {
        self.out_name.check("score", "--out", &self.out)?;
        let mut inputs = vec![
            NamedPath::new("--checkpoint", resolve_checkpoint(&self.checkpoint)?),
            NamedPath::new("--t", &self.t),
            NamedPath::new("--x", &self.x),
        ];
        inputs.extend(NamedPath::given([
            ("--config", self.config.as_deref()),
            ("--q", self.q.as_deref()),
            ("--a", self.a.as_deref()),
        ]));
        check_outputs(&inputs, &[NamedPath::new("--out", &self.out)])
    }
}

/// Runs `sbgm-xla score`.
pub fn score_cmd(args: &ScoreArgs) -> anyhow::Result<()> {
    args.check_output()?;
    let model = load_model(
        &args.checkpoint,
        args.config.as_deref(),
        args.group.as_deref(),
    )?;
    warn_leaves(&model.leaves, &model.file);
    let t = read(&args.t, "--t")?;
    let x = read(&args.x, "--x")?;
    let q = args.q.as_deref().map(|p| read(p, "--q")).transpose()?;
    let a = args.a.as_deref().map(|p| read(p, "--a")).transpose()?;
    let inputs = model.score_inputs(&t, &x, q.as_ref(), a.as_ref())?;
    if args.batch_size == 0 {
        anyhow::bail!("--batch-size must be at least 1");
    }
    let target = args.runtime.target()?;
    let s = model.score(&target, &inputs, args.batch_size)?;
    warn_output(&format!("the scores written to {}", args.out.display()), &s);
    write_npy(&args.out, &s).with_context(|| format!("writing {}", args.out.display()))?;
    outln!("model: {}", model.describe());
    outln!(
        "wrote {}: {}{:?} (plugin {})",
        args.out.display(),
        s.dtype(),
        s.shape(),
        target.client().platform_name()
    );
    Ok(())
}
