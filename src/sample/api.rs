//! Entry points: trace any sampler into a graph ([`trace_sampler`]), compile it once
//! ([`CompiledSampler`], [`CompiledLoglik`]) and run it in chunks with a progress bar
//! ([`sample`], [`loglik`]).

use indicatif::{ProgressBar, ProgressStyle};

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::exec::{Compiled, Target};
use crate::graph::{Graph, Tensor, seed_key};
use crate::host::HostArray;
use crate::sample::config::{LoglikConfig, SamplerConfig, SamplerKind};
use crate::sample::dpm::dpm_solver_2m;
use crate::sample::em::euler_maruyama;
use crate::sample::flow::flow_sample;
use crate::sample::likelihood::loglik_trace;
use crate::sample::pc::predictor_corrector;
use crate::sample::score::{Cond, Guided, HostCond, ScoreFn, ScoreModel};
use crate::sde::Sde;

/// What a traced sampler returns: the samples and i32 counters.
#[derive(Clone, Debug)]
pub struct SampleTrace {
    /// Samples `(B, ...)`.
    pub x: Tensor,
    /// Score evaluations (per sample; each is one batched call).
    pub nfe: Tensor,
    /// Solver steps (loop iterations).
    pub steps: Tensor,
    /// Rejected sample-steps (adaptive solvers).
    pub rejected: Tensor,
    /// Samples that did not reach t0 within max_steps (adaptive solvers).
    pub unfinished: Tensor,
}

/// Traces the sampler of `cfg` for a batch of shape `dims` (batch first) into the graph of
/// `key` (a `u64[2]` random key), with classifier-free guidance when `cfg.guidance` is set.
pub fn trace_sampler(
    score: &dyn ScoreFn,
    sde: &Sde,
    cfg: &SamplerConfig,
    dims: &[usize],
    dtype: DType,
    key: &Tensor,
    cond: &Cond,
) -> Result<SampleTrace> {
    cfg.validate(sde)?;
    if dims.len() < 2 || dims.contains(&0) {
        return Err(Error::msg(format!(
            "sample dimensions must be (batch, data...) with no zero, got {dims:?}"
        )));
    }
    if !dtype.is_float() {
        return Err(Error::msg(format!(
            "samples must be a float type, got {dtype}"
        )));
    }
    cond.check_batch(dims[0])?;
    let guided;
    let score: &dyn ScoreFn = match cfg.guidance {
        Some(w) => {
            guided = Guided { inner: score, w };
            &guided
        }
        None => score,
    };
    let g = key.graph().clone();
    let n = cfg.step_count(sde);
    let i32c = |v: f64| g.scalar(v, DType::I32);
    let fixed = |x: Tensor, nfe: usize| -> Result<SampleTrace> {
        Ok(SampleTrace {
            x,
            nfe: i32c(nfe as f64)?,
            steps: i32c(n as f64)?,
            rejected: i32c(0.0)?,
            unfinished: i32c(0.0)?,
        })
    };
    match cfg.sampler {
        SamplerKind::Em => fixed(euler_maruyama(score, sde, n, dims, dtype, key, cond)?, n),
        SamplerKind::Pc => fixed(
            predictor_corrector(
                score,
                sde,
                n,
                cfg.predictor,
                cfg.corrector_steps,
                cfg.snr,
                dims,
                dtype,
                key,
                cond,
            )?,
            n * (1 + cfg.corrector_steps),
        ),
        SamplerKind::Dpm2m => fixed(
            dpm_solver_2m(score, sde, n, cfg.dpm_grid, dims, dtype, key, cond)?,
            n,
        ),
        _ => {
            let (x, s) = flow_sample(score, sde, cfg, dims, dtype, key, cond)?;
            Ok(SampleTrace {
                x,
                nfe: s.nfe,
                steps: s.steps,
                rejected: s.rejected,
                unfinished: s.unfinished,
            })
        }
    }
}

/// Solver counters of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Score evaluations (the largest over the chunks).
    pub nfe: u64,
    /// Steps (the largest over the chunks).
    pub steps: u64,
    /// Rejected sample-steps (summed).
    pub rejected: u64,
}

impl Counters {
    /// Adds the counters of another chunk (the largest nfe and steps, the rejections summed).
    fn add(&mut self, o: &Counters) {
        self.nfe = self.nfe.max(o.nfe);
        self.steps = self.steps.max(o.steps);
        self.rejected += o.rejected;
    }

    /// Adds a chunk's counter results (nfe, steps, rejected).
    fn merge(&mut self, o: &[HostArray]) {
        let v = |a: &HostArray| a.to_f64_vec()[0] as u64;
        self.add(&Counters {
            nfe: v(&o[0]),
            steps: v(&o[1]),
            rejected: v(&o[2]),
        });
    }
}

fn compile(target: &Target, g: &Graph, name: &str, outs: &[(&str, &Tensor)]) -> Result<Compiled> {
    target.compile(&g.build(name, outs)?)
}

/// Runs one chunk of a sampler or likelihood program: its arguments are the chunk's own
/// arrays `chunk`, the key, the conditioning and the parameters; its last four results are
/// the counters nfe, steps, rejected and the number of unfinished samples, refused when
/// positive (an adaptive solve that hit max_steps before `t_end`).
fn run_chunk(
    exe: &Compiled,
    mut chunk: Vec<HostArray>,
    key: [u64; 2],
    cond: &HostCond,
    params: &[HostArray],
    batch: usize,
    t_end: &str,
) -> Result<(Vec<HostArray>, Counters)> {
    chunk.push(HostArray::from_vec(vec![2], key.to_vec())?);
    chunk.extend(cond.arguments());
    chunk.extend(params.iter().cloned());
    let out = exe.run(&chunk)?;
    let k = out.len() - 4;
    let unfinished = out[k + 3].to_f64_vec()[0];
    if unfinished > 0.0 {
        return Err(Error::msg(format!(
            "the adaptive solver reached max_steps before {t_end} for {unfinished} of {batch} samples; raise max_steps or loosen rtol/atol"
        )));
    }
    let mut c = Counters::default();
    c.merge(&out[k..k + 3]);
    Ok((out, c))
}

fn cond_shapes(cond: &HostCond, batch: usize) -> Result<HostCond> {
    cond.chunk(0, 1, batch)
}

/// A sampler compiled for one chunk size: run it with a seed key, the chunk's conditioning
/// and the model's current parameters (e.g. every few hundred training steps).
pub struct CompiledSampler {
    exe: Compiled,
    batch: usize,
    data_shape: Vec<usize>,
    dtype: DType,
}

impl CompiledSampler {
    /// Traces and compiles the sampler for `batch` samples of `data_shape`; `cond` gives
    /// the conditioning parts (any number of rows; only their shapes are used).
    pub fn new(
        target: &Target,
        model: &dyn ScoreModel,
        sde: &Sde,
        cfg: &SamplerConfig,
        data_shape: &[usize],
        batch: usize,
        cond: &HostCond,
    ) -> Result<CompiledSampler> {
        if data_shape.is_empty() || data_shape.contains(&0) {
            return Err(Error::msg(format!(
                "the data shape must be non-empty with no zero dimension, got {data_shape:?}"
            )));
        }
        if batch == 0 {
            return Err(Error::msg("the batch size must be at least 1"));
        }
        let dtype = model.dtype();
        let target = target.with_precision(cfg.matmul_precision);
        let g = target.graph();
        let key = g.parameter("key", &[2], DType::U64)?;
        let c = cond_shapes(cond, batch)?.declare(&g)?;
        let score = model.bind(&g)?;
        let mut dims = vec![batch];
        dims.extend_from_slice(data_shape);
        let tr = trace_sampler(&*score, sde, cfg, &dims, dtype, &key, &c)?;
        let exe = compile(
            &target,
            &g,
            "sampler",
            &[
                ("x", &tr.x),
                ("nfe", &tr.nfe),
                ("steps", &tr.steps),
                ("rejected", &tr.rejected),
                ("unfinished", &tr.unfinished),
            ],
        )?;
        crate::memory::check_compiled(
            exe.executable(),
            1,
            target.in_host_memory(),
            &format!("the sampler for chunks of {batch} samples"),
            "lower --batch (samples per call)",
        )?;
        Ok(CompiledSampler {
            exe,
            batch,
            data_shape: data_shape.to_vec(),
            dtype,
        })
    }

    /// The chunk size.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Draws one chunk: `key` is the `u64[2]` random key, `cond` this chunk's conditioning
    /// (`batch` rows), `params` the model's parameter values. Errors when an adaptive solve
    /// hit max_steps.
    pub fn run(
        &self,
        key: [u64; 2],
        cond: &HostCond,
        params: &[HostArray],
    ) -> Result<(HostArray, Counters)> {
        let (out, c) = run_chunk(&self.exe, vec![], key, cond, params, self.batch, "t0")?;
        let mut shape = vec![self.batch];
        shape.extend_from_slice(&self.data_shape);
        debug_assert_eq!(out[0].shape(), &shape[..]);
        debug_assert_eq!(out[0].dtype(), self.dtype);
        Ok((out[0].clone(), c))
    }
}

/// Samples and the solver's counters.
#[derive(Clone, Debug)]
pub struct Samples {
    /// `(n, data_shape...)` in the model's dtype.
    pub x: HostArray,
    /// Counters.
    pub counters: Counters,
}

fn progress_bar(n: usize, chunks: usize, show: bool, what: &str) -> ProgressBar {
    if !show || chunks <= 1 {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(n as u64);
    if let Ok(style) = ProgressStyle::with_template(&format!(
        "{what} [{{elapsed_precise}}] {{bar:40}} {{pos}}/{{len}} ({{per_sec}}, ETA {{eta}})"
    )) {
        pb.set_style(style);
    }
    pb
}

fn rows(a: &HostArray, start: usize, len: usize) -> Result<Vec<u8>> {
    let row = a.shape()[1..].iter().product::<usize>() * a.dtype().size_in_bytes();
    Ok(a.bytes()[start * row..(start + len) * row].to_vec())
}

/// Draws `n` samples of `data_shape` in chunks of `cfg.batch` (one compiled executable,
/// the last chunk padded), chunk `c` with random key `[seed, c]`, showing a progress bar
/// when there is more than one chunk and `progress` is set. `cond` has one row per sample
/// (or one row for all).
///
/// Same seed and chunk size: same samples; different seeds: different samples.
#[allow(clippy::too_many_arguments)]
pub fn sample(
    target: &Target,
    model: &dyn ScoreModel,
    sde: &Sde,
    cfg: &SamplerConfig,
    data_shape: &[usize],
    n: usize,
    seed: u64,
    cond: &HostCond,
    progress: bool,
) -> Result<Samples> {
    if n == 0 {
        return Err(Error::msg("the number of samples n must be at least 1"));
    }
    cfg.validate(sde)?;
    cond.check(&model.needs(), n, model.dtype())?;
    crate::memory::Budget::new()
        .add(
            format!("{n} samples of shape {data_shape:?}"),
            crate::memory::bytes_of(
                std::iter::once(n).chain(data_shape.iter().copied()),
                model.dtype().size_in_bytes() * 2,
            ),
        )
        .check("sampling", "draw fewer samples (--n) per command")?;
    let batch = cfg.batch.min(n);
    let s = CompiledSampler::new(target, model, sde, cfg, data_shape, batch, cond)?;
    let params = model.arguments();
    let chunks = n.div_ceil(batch);
    let pb = progress_bar(n, chunks, progress, "sampling");
    let mut bytes = Vec::new();
    let mut counters = Counters::default();
    for c in 0..chunks {
        let start = c * batch;
        let len = batch.min(n - start);
        let key = seed_key(seed).to_vec::<u64>()?;
        let (x, k) = s.run([key[0], c as u64], &cond.chunk(start, len, batch)?, &params)?;
        bytes.extend(rows(&x, 0, len)?);
        counters.add(&k);
        pb.inc(len as u64);
    }
    pb.finish_and_clear();
    let mut shape = vec![n];
    shape.extend_from_slice(data_shape);
    Ok(Samples {
        x: HostArray::from_bytes(model.dtype(), shape, bytes)?,
        counters,
    })
}

/// Per-sample log-likelihoods.
#[derive(Clone, Debug)]
pub struct Loglik {
    /// log p(x) in nats per sample (of the dequantized data when dequantizing; without the
    /// bin-width term).
    pub logp: Vec<f64>,
    /// Bits per dimension per sample (with the dequantization bin width when dequantizing).
    pub bpd: Vec<f64>,
    /// Prior log-density of z per sample.
    pub prior: Vec<f64>,
    /// Integrated divergence per sample.
    pub delta: Vec<f64>,
    /// The latents z = x(t1).
    pub z: HostArray,
    /// Counters.
    pub counters: Counters,
}

/// Mean and standard error of the mean of `v`.
pub fn mean_stderr(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    if v.len() < 2 {
        return (m, f64::NAN);
    }
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0);
    (m, (var / n).sqrt())
}

/// A likelihood computation compiled for one chunk size.
pub struct CompiledLoglik {
    exe: Compiled,
    batch: usize,
    dim: usize,
    offset_bits: f64,
}

impl CompiledLoglik {
    /// Traces and compiles the likelihood of `batch` samples of `data_shape`.
    pub fn new(
        target: &Target,
        model: &dyn ScoreModel,
        sde: &Sde,
        cfg: &LoglikConfig,
        data_shape: &[usize],
        batch: usize,
        cond: &HostCond,
    ) -> Result<CompiledLoglik> {
        cfg.validate(sde)?;
        if data_shape.is_empty() || data_shape.contains(&0) || batch == 0 {
            return Err(Error::msg(format!(
                "need a non-empty data shape and a batch of at least 1, got {data_shape:?} and {batch}"
            )));
        }
        let target = target.with_precision(cfg.matmul_precision);
        let g = target.graph();
        let mut dims = vec![batch];
        dims.extend_from_slice(data_shape);
        let x = g.parameter("x", &dims, model.dtype())?;
        let key = g.parameter("key", &[2], DType::U64)?;
        let c = cond_shapes(cond, batch)?.declare(&g)?;
        c.check_batch(batch)?;
        let score = model.bind(&g)?;
        let tr = loglik_trace(&*score, sde, cfg, &x, &key, &c)?;
        let exe = compile(
            &target,
            &g,
            "loglik",
            &[
                ("logp", &tr.logp),
                ("prior", &tr.prior),
                ("delta", &tr.delta),
                ("z", &tr.z),
                ("nfe", &tr.stats.nfe),
                ("steps", &tr.stats.steps),
                ("rejected", &tr.stats.rejected),
                ("unfinished", &tr.stats.unfinished),
            ],
        )?;
        crate::memory::check_compiled(
            exe.executable(),
            1,
            target.in_host_memory(),
            &format!("the log-likelihood of chunks of {batch} samples"),
            "lower --batch-size (samples per call), or use --method hutchinson",
        )?;
        let dim: usize = data_shape.iter().product();
        let offset_bits = cfg
            .dequantize
            .map_or(0.0, |q| -((q.hi - q.lo) / q.levels as f64).log2());
        Ok(CompiledLoglik {
            exe,
            batch,
            dim,
            offset_bits,
        })
    }

    /// Runs one chunk (`x` with `batch` rows).
    pub fn run(
        &self,
        x: &HostArray,
        key: [u64; 2],
        cond: &HostCond,
        params: &[HostArray],
    ) -> Result<Loglik> {
        let chunk = vec![x.clone()];
        let (out, c) = run_chunk(&self.exe, chunk, key, cond, params, self.batch, "t1")?;
        let logp = out[0].to_f64_vec();
        Ok(Loglik {
            bpd: logp.iter().map(|&l| self.bits_per_dim(l)).collect(),
            logp,
            prior: out[1].to_f64_vec(),
            delta: out[2].to_f64_vec(),
            z: out[3].clone(),
            counters: c,
        })
    }

    /// Bits per dimension of a log-likelihood in nats.
    pub fn bits_per_dim(&self, logp: f64) -> f64 {
        -logp / (self.dim as f64 * std::f64::consts::LN_2) + self.offset_bits
    }
}

/// Log-likelihoods of the rows of `x: (N, ...)` (in the model's dtype) by the
/// probability-flow ODE, in chunks of `cfg.batch` with a progress bar when `progress` is
/// set. `seed` draws Hutchinson probes and dequantization noise (chunk `c` uses key
/// `[seed, c]`).
#[allow(clippy::too_many_arguments)]
pub fn loglik(
    target: &Target,
    model: &dyn ScoreModel,
    sde: &Sde,
    cfg: &LoglikConfig,
    x: &HostArray,
    seed: u64,
    cond: &HostCond,
    progress: bool,
) -> Result<Loglik> {
    let shape = x.shape().to_vec();
    if shape.len() < 2 || shape[0] == 0 {
        return Err(Error::msg(format!(
            "log-likelihood data must be (N, ...) with N >= 1 and a data dimension, got shape {shape:?}"
        )));
    }
    if x.dtype() != model.dtype() {
        return Err(Error::msg(format!(
            "the data is {} but the model computes in {}; convert the data",
            x.dtype(),
            model.dtype()
        )));
    }
    let n = shape[0];
    cond.check(&model.needs(), n, model.dtype())?;
    let batch = cfg.batch.min(n);
    let ll = CompiledLoglik::new(target, model, sde, cfg, &shape[1..], batch, cond)?;
    let params = model.arguments();
    let chunks = n.div_ceil(batch);
    let pb = progress_bar(n, chunks, progress, "log-likelihood");
    let (mut logp, mut prior, mut delta, mut zb) = (vec![], vec![], vec![], vec![]);
    let mut counters = Counters::default();
    for c in 0..chunks {
        let start = c * batch;
        let len = batch.min(n - start);
        // rows start..start+len, padded with the last row
        let mut xb = rows(x, start, len)?;
        let last = rows(x, start + len - 1, 1)?;
        for _ in len..batch {
            xb.extend_from_slice(&last);
        }
        let mut cs = shape.clone();
        cs[0] = batch;
        let xc = HostArray::from_bytes(x.dtype(), cs, xb)?;
        let r = ll.run(
            &xc,
            [seed, c as u64],
            &cond.chunk(start, len, batch)?,
            &params,
        )?;
        logp.extend_from_slice(&r.logp[..len]);
        prior.extend_from_slice(&r.prior[..len]);
        delta.extend_from_slice(&r.delta[..len]);
        zb.extend(rows(&r.z, 0, len)?);
        counters.add(&r.counters);
        pb.inc(len as u64);
    }
    pb.finish_and_clear();
    let bpd = logp.iter().map(|&l| ll.bits_per_dim(l)).collect();
    Ok(Loglik {
        logp,
        bpd,
        prior,
        delta,
        z: HostArray::from_bytes(x.dtype(), shape, zb)?,
        counters,
    })
}
