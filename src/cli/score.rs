//! `sbgm-xla score --checkpoint FILE --config MODEL.toml --t t.npy --x x.npy [--q q.npy]
//! [--a a.npy] --out s.npy`: the score network on a batch, deterministically (inference mode:
//! dropout off), on any plugin. The tool for checking a port against sbgm.
//!
//! Inputs are checked against the model (x's sample shape, q and a present exactly when the
//! model is conditioned on them, matching batch sizes) before anything reaches the plugin. The
//! batch runs in chunks of `--batch-size` samples (one compiled program per chunk size).

use super::RuntimeArgs;
use super::finite::{warn_input, warn_leaves, warn_output};
use super::model::{LoadedModel, load_model, resolve_checkpoint};
use super::output::{CheckpointExtensionArg, NamedPath, check_outputs, outln};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::host::HostArray;
use crate::io::npy::{read_npy, write_npy};
use crate::nn::{ApplyMode, Params, array_values};
use crate::pjrt::{Client, CompileOptions, Executable, Program};
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

/// Checked score inputs: `t` is `(B,)`, all in the model's float type.
#[derive(Clone, Debug)]
pub struct ScoreInputs {
    /// Times `(B,)`.
    pub t: HostArray,
    /// Samples `(B, data shape...)`.
    pub x: HostArray,
    /// Conditioning map or vector `(B, q shape...)`.
    pub q: Option<HostArray>,
    /// Parameter vector `(B, a_dim)`.
    pub a: Option<HostArray>,
}

impl ScoreInputs {
    /// The batch size.
    pub fn batch(&self) -> usize {
        self.x.shape()[0]
    }

    /// Rows `start..end` of every input.
    fn rows(&self, start: usize, end: usize) -> Result<ScoreInputs> {
        Ok(ScoreInputs {
            t: rows(&self.t, start, end)?,
            x: rows(&self.x, start, end)?,
            q: self.q.as_ref().map(|q| rows(q, start, end)).transpose()?,
            a: self.a.as_ref().map(|a| rows(a, start, end)).transpose()?,
        })
    }

    fn arrays(&self) -> Vec<&HostArray> {
        let mut v = vec![&self.t, &self.x];
        v.extend(self.q.as_ref());
        v.extend(self.a.as_ref());
        v
    }
}

fn dims(d: &[usize]) -> String {
    let v: Vec<String> = d.iter().map(usize::to_string).collect();
    v.join(", ")
}

/// `(3,)` or `(1, 8, 8)`, as Python prints a shape.
fn tuple(d: &[usize]) -> String {
    match d {
        [n] => format!("({n},)"),
        d => format!("({})", dims(d)),
    }
}

/// `a` converted to the float type `dtype` (f32 or f64).
pub fn cast_float(a: &HostArray, dtype: DType) -> Result<HostArray> {
    if a.dtype() == dtype {
        return Ok(a.clone());
    }
    let v = a.to_f64_vec();
    match dtype {
        DType::F32 => {
            HostArray::from_vec(a.shape().to_vec(), v.iter().map(|&x| x as f32).collect())
        }
        DType::F64 => HostArray::from_vec(a.shape().to_vec(), v),
        d => Err(Error::msg(format!(
            "cannot convert inputs to {d}: models with {d} parameters are not supported by this command"
        ))),
    }
}

/// Rows `start..end` along the first axis.
pub fn rows(a: &HostArray, start: usize, end: usize) -> Result<HostArray> {
    let n = a.shape()[0];
    let row = a.bytes().len() / n.max(1);
    let mut shape = a.shape().to_vec();
    shape[0] = end - start;
    HostArray::from_bytes(a.dtype(), shape, a.bytes()[start * row..end * row].to_vec())
}

/// Arrays concatenated along the first axis (same dtype and trailing shape).
pub fn concat_rows(parts: &[HostArray]) -> Result<HostArray> {
    let first = parts
        .first()
        .ok_or_else(|| Error::msg("nothing to concatenate"))?;
    let mut shape = first.shape().to_vec();
    shape[0] = parts.iter().map(|p| p.shape()[0]).sum();
    let mut bytes = Vec::with_capacity(parts.iter().map(|p| p.bytes().len()).sum());
    for p in parts {
        bytes.extend_from_slice(p.bytes());
    }
    HostArray::from_bytes(first.dtype(), shape, bytes)
}

/// Checks `t`, `x`, `q`, `a` against the model (names of the flags in the messages) and
/// converts them to the model's float type, broadcasting a scalar `t` to `(B,)`.
pub fn check_inputs(
    model: &LoadedModel,
    t: &HostArray,
    x: &HostArray,
    q: Option<&HostArray>,
    a: Option<&HostArray>,
) -> Result<ScoreInputs> {
    let net = &model.net;
    let name = net.name();
    let bad = |m: String| Error::BadArgument(format!("{name}: {m}"));
    let ds = net.data_shape();
    if x.shape().len() != ds.len() + 1 || x.shape()[1..] != ds[..] {
        return Err(bad(format!(
            "--x must have shape (batch, {}) for this model, got {:?}",
            dims(&ds),
            x.shape()
        )));
    }
    let b = x.shape()[0];
    if b == 0 {
        return Err(bad("--x holds no samples (batch size 0)".into()));
    }
    let float = |a: &HostArray, flag: &str| -> Result<()> {
        if a.dtype().is_float() {
            Ok(())
        } else {
            Err(bad(format!(
                "{flag} must be a float array, got {} (scale the data as for training)",
                a.dtype()
            )))
        }
    };
    float(x, "--x")?;
    let dtype = model.dtype();
    let t = match t.shape() {
        [] => {
            let v = t.to_f64_vec()[0];
            cast_float(&HostArray::from_vec(vec![b], vec![v; b])?, dtype)?
        }
        [n] if *n == b => cast_float(t, dtype)?,
        [1] => {
            let v = t.to_f64_vec()[0];
            cast_float(&HostArray::from_vec(vec![b], vec![v; b])?, dtype)?
        }
        s => {
            return Err(bad(format!(
                "--t must have shape ({b},) (one time per sample of --x) or be a scalar, got {s:?}"
            )));
        }
    };
    let cond = |given: Option<&HostArray>, want: Option<Vec<usize>>, flag: &str, what: &str| match (
        want, given,
    ) {
        (None, None) => Ok(None),
        (None, Some(v)) => Err(bad(format!(
            "{flag} was given (shape {:?}) but the model is not conditioned on {what}; \
                 drop {flag} or use a model config with {what}",
            v.shape()
        ))),
        (Some(w), None) => Err(bad(format!(
            "the model is conditioned on {what} (shape {} per sample): pass {flag} with \
                 shape ({b}, {})",
            tuple(&w),
            dims(&w)
        ))),
        (Some(w), Some(v)) => {
            if v.shape().len() != w.len() + 1 || v.shape()[0] != b || v.shape()[1..] != w[..] {
                return Err(bad(format!(
                    "{flag} must have shape ({b}, {}) (one per sample of --x), got {:?}",
                    dims(&w),
                    v.shape()
                )));
            }
            float(v, flag)?;
            cast_float(v, dtype).map(Some)
        }
    };
    let q = cond(q, net.q_shape(), "--q", "a conditioning q")?;
    let a = cond(
        a,
        net.a_dim().map(|d| vec![d]),
        "--a",
        "a parameter vector a",
    )?;
    Ok(ScoreInputs {
        t,
        x: cast_float(x, dtype)?,
        q,
        a,
    })
}

/// A compiled batched score program for `batch` samples: parameters (array leaves), then
/// `t`, `x`, (`q`), (`a`).
pub fn compile_score(client: &Client, model: &LoadedModel, batch: usize) -> Result<Executable> {
    let net = &model.net;
    let g = Graph::new();
    let skel = net.skeleton();
    let params = Params::declare(&g, &skel, "params.")?;
    let dtype = model.dtype();
    let with_batch = |d: &[usize]| {
        let mut v = vec![batch];
        v.extend_from_slice(d);
        v
    };
    let t = g.parameter("t", &[batch], dtype)?;
    let x = g.parameter("x", &with_batch(&net.data_shape()), dtype)?;
    let q = match net.q_shape() {
        Some(s) => Some(g.parameter("q", &with_batch(&s), dtype)?),
        None => None,
    };
    let a = match net.a_dim() {
        Some(d) => Some(g.parameter("a", &[batch, d], dtype)?),
        None => None,
    };
    let s = net.apply(
        &params,
        &t,
        &x,
        q.as_ref(),
        a.as_ref(),
        &ApplyMode::Inference,
    )?;
    let m = g.build("score", &[("score", &s)])?;
    crate::exec::compile(client, &Program::text(m.text), &CompileOptions::default())
}

/// The score of `model` on checked inputs, in chunks of at most `batch_size` samples.
pub fn score(
    client: &Client,
    model: &LoadedModel,
    inputs: &ScoreInputs,
    batch_size: usize,
) -> Result<HostArray> {
    if batch_size == 0 {
        return Err(Error::BadArgument("--batch-size must be at least 1".into()));
    }
    let params = array_values(&model.net.skeleton(), &model.leaves)?;
    let n = inputs.batch();
    let mut exes: Vec<(usize, Executable)> = Vec::new();
    let mut out = Vec::new();
    let mut start = 0;
    while start < n {
        let end = (start + batch_size).min(n);
        let len = end - start;
        if !exes.iter().any(|(b, _)| *b == len) {
            exes.push((len, compile_score(client, model, len)?));
        }
        let exe = &exes
            .iter()
            .find(|(b, _)| *b == len)
            .expect("compiled above")
            .1;
        let chunk = inputs.rows(start, end)?;
        let mut args = params.clone();
        args.extend(chunk.arrays().into_iter().cloned());
        out.push(exe.run_host(&args)?.remove(0));
        start = end;
    }
    concat_rows(&out)
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
    let inputs = check_inputs(&model, &t, &x, q.as_ref(), a.as_ref())?;
    if args.batch_size == 0 {
        anyhow::bail!("--batch-size must be at least 1");
    }
    let client = args.runtime.client()?;
    let s = score(&client, &model, &inputs, args.batch_size)?;
    warn_output(&format!("the scores written to {}", args.out.display()), &s);
    write_npy(&args.out, &s).with_context(|| format!("writing {}", args.out.display()))?;
    outln!("model: {}", model.describe());
    outln!(
        "wrote {}: {}{:?} (plugin {})",
        args.out.display(),
        s.dtype(),
        s.shape(),
        client.platform_name()
    );
    Ok(())
}
