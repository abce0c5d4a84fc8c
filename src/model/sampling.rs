//! Samples and log-likelihoods of a model, in the data's own units ([`Space::Data`], through
//! the data scaling the model was trained with) or in the model's scaled space.

use super::Model;
use super::inputs::cast_float;
use crate::data::Transform;
use crate::error::Result;
use crate::exec::Target;
use crate::host::HostArray;
use crate::sample::{
    Dequantize, HostCond, Loglik, LoglikConfig, NetScore, SamplerConfig, Samples, loglik, sample,
};
use crate::sde::Sde;
use ndarray::ArrayD;
use std::fmt;

/// Where arrays live: in the data's own units, or in the model's scaled space (serialized and
/// shown as `data`, `model`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Space {
    /// The data's units (the model's data scaling undone).
    Data,
    /// The model's scaled space.
    Model,
}

impl Space {
    /// `data` or `model`.
    pub fn name(self) -> &'static str {
        match self {
            Space::Data => "data",
            Space::Model => "model",
        }
    }
}

impl fmt::Display for Space {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How to run a sampler or a likelihood over a model.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// The random seed.
    pub seed: u64,
    /// The space of the data going in and the samples coming out (data space only where the
    /// model's data scaling is known: see [`Model::space`]).
    pub space: Space,
    /// Whether to show progress bars.
    pub progress: bool,
}

impl Default for Options {
    /// Seed 0, data space, no progress bars.
    fn default() -> Self {
        Options {
            seed: 0,
            space: Space::Data,
            progress: false,
        }
    }
}

/// log |d(forward)/dx| of a scaling, per dimension.
fn log_jacobian(t: &Transform) -> f64 {
    match *t {
        Transform::Identity => 0.0,
        Transform::Scaler { x_min, x_max } => (2.0 / (f64::from(x_max) - f64::from(x_min))).ln(),
        Transform::Normer { std, .. } => -f64::from(std).ln(),
    }
}

/// The dequantization of data with `levels` discrete values whose lowest and highest levels
/// are `range`, in the model's space: `transform` maps `range` there (`None`: it is there).
pub fn dequantize_range(
    levels: usize,
    range: (f64, f64),
    transform: Option<Transform>,
) -> Dequantize {
    let f = |v: f64| transform.map_or(v, |t| f64::from(t.forward(v as f32)));
    let (lo, hi) = (f(range.0), f(range.1));
    Dequantize {
        levels,
        lo: lo.min(hi),
        hi: lo.max(hi),
    }
}

impl Model {
    /// The space that data asked for in `wanted` space are in: data space needs the model's
    /// data scaling, without it they stay in the model's space.
    pub fn space(&self, wanted: Space) -> Space {
        match (wanted, self.transform) {
            (Space::Data, Some(_)) => Space::Data,
            _ => Space::Model,
        }
    }

    /// The data scaling to use for data in `wanted` space, if any.
    fn transform_for(&self, wanted: Space) -> Option<Transform> {
        self.transform.filter(|_| wanted == Space::Data)
    }

    /// The data's value range in `space` (for plots), when known.
    pub fn value_range_in(&self, space: Space) -> Option<(f32, f32)> {
        match space {
            Space::Data => self.value_range,
            Space::Model => self
                .value_range
                .zip(self.transform)
                .map(|((lo, hi), t)| (t.forward(lo), t.forward(hi))),
        }
    }

    /// Draws `n` samples with the sampler `cfg`, in the space [`Model::space`] gives for
    /// `opts.space`.
    pub fn sample(
        &self,
        target: &Target,
        cfg: &SamplerConfig,
        n: usize,
        cond: &HostCond,
        opts: &Options,
    ) -> Result<Samples> {
        let sde = self.sde()?;
        let score = NetScore::new(self.net.as_ref(), &self.leaves)?.with_null(self.null.values());
        let ds = self.net.data_shape();
        let (seed, progress) = (opts.seed, opts.progress);
        let mut s = sample(target, &score, &sde, cfg, &ds, n, seed, cond, progress)?;
        if let Some(t) = self.transform_for(opts.space) {
            let a = s.x.to_ndarray::<f32>()?;
            s.x = HostArray::from_ndarray(&t.reverse_array(&a));
        }
        Ok(s)
    }

    /// The dequantization of data with `levels` discrete values, in the model's space: the
    /// levels span `range` (in `wanted` space), else the data set's value range (data space
    /// only), else the range of the data `x`.
    pub fn dequantize(
        &self,
        levels: usize,
        range: Option<(f64, f64)>,
        x: &ArrayD<f32>,
        wanted: Space,
    ) -> Dequantize {
        let (lo, hi) = match (range, self.value_range) {
            (Some(r), _) => r,
            (None, Some((lo, hi))) if wanted == Space::Data => (f64::from(lo), f64::from(hi)),
            _ => {
                let lo = x.iter().copied().fold(f32::INFINITY, f32::min);
                let hi = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                (f64::from(lo), f64::from(hi))
            }
        };
        dequantize_range(levels, (lo, hi), self.transform_for(wanted))
    }

    /// Sets up the log-likelihoods of the data `x` (in `wanted` space, checked as by
    /// [`Model::data_values`]) with `cfg`: the data are mapped into the model's space and
    /// converted to its float type. Nothing is compiled yet.
    pub fn prepare_loglik(
        &self,
        cfg: &LoglikConfig,
        x: &ArrayD<f32>,
        wanted: Space,
        cond: HostCond,
    ) -> Result<LoglikJob<'_>> {
        let sde = self.sde()?;
        cfg.validate(&sde)?;
        let transform = self.transform_for(wanted);
        let y = match &transform {
            Some(t) => t.forward_array(x),
            None => x.clone(),
        };
        let y = cast_float(&HostArray::from_ndarray(&y), self.dtype())?;
        Ok(LoglikJob {
            score: NetScore::new(self.net.as_ref(), &self.leaves)?.with_null(self.null.values()),
            dim: self.net.data_shape().iter().product(),
            sde,
            cfg: cfg.clone(),
            y,
            transform,
            cond,
        })
    }

    /// The log-likelihoods of the data `x` (in `opts.space`) by the probability-flow ODE
    /// ([`Model::prepare_loglik`], then [`LoglikJob::run`]).
    pub fn loglik(
        &self,
        target: &Target,
        cfg: &LoglikConfig,
        x: &ArrayD<f32>,
        cond: HostCond,
        opts: &Options,
    ) -> Result<Loglik> {
        self.prepare_loglik(cfg, x, opts.space, cond)?
            .run(target, opts.seed, opts.progress)
    }
}

/// A log-likelihood computation set up for a model ([`Model::prepare_loglik`]).
pub struct LoglikJob<'m> {
    score: NetScore<'m>,
    sde: Sde,
    cfg: LoglikConfig,
    y: HostArray,
    dim: usize,
    transform: Option<Transform>,
    cond: HostCond,
}

impl LoglikJob<'_> {
    /// The space whose density the log-likelihoods are: data space when the data scaling is
    /// applied (its log-Jacobian is added), else the model's.
    pub fn space(&self) -> Space {
        match self.transform {
            Some(_) => Space::Data,
            None => Space::Model,
        }
    }

    /// Runs the computation: `logp` is in [`LoglikJob::space`]; `bpd` is taken from it, or
    /// with the bin width when dequantizing.
    pub fn run(&self, target: &Target, seed: u64, progress: bool) -> Result<Loglik> {
        let (score, sde, cfg) = (&self.score, &self.sde, &self.cfg);
        let mut ll = loglik(target, score, sde, cfg, &self.y, seed, &self.cond, progress)?;
        let dim = self.dim as f64;
        let shift = self
            .transform
            .as_ref()
            .map_or(0.0, |t| dim * log_jacobian(t));
        ll.logp.iter_mut().for_each(|l| *l += shift);
        if self.cfg.dequantize.is_none() {
            let per_bit = dim * std::f64::consts::LN_2;
            ll.bpd = ll.logp.iter().map(|l| -l / per_bit).collect();
        }
        Ok(ll)
    }
}
