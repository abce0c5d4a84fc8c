//! Sampling (SDE and probability-flow ODE solvers) and log-likelihoods.
//!
//! Every sampler is traced into ONE graph: the whole time loop is a `stablehlo.while`, a
//! batch of samples moves at once, conditioning is per sample, and random draws thread a
//! `u64[2]` key through the loop. The samplers call a [`ScoreFn`] (a score traced in the
//! graph); a [`ScoreModel`] binds a model's parameters to a graph for the host entry points
//! [`sample`] and [`loglik`], which compile once and run in chunks.
//!
//! - [`SamplerKind::Em`]: reverse-SDE Euler-Maruyama ([`em`]);
//! - [`SamplerKind::Pc`]: predictor-corrector with a Langevin corrector ([`pc`]);
//! - [`SamplerKind::Euler`], [`SamplerKind::Heun`], [`SamplerKind::Rk4`],
//!   [`SamplerKind::Tsit5`], [`SamplerKind::Dopri5`]: the probability-flow ODE ([`flow`]),
//!   fixed steps or adaptive with diffrax's PI controller ([`ode`]);
//! - [`SamplerKind::Dpm2m`]: DPM-Solver++(2M) ([`dpm`]);
//! - classifier-free guidance with any of them ([`Guided`], `SamplerConfig::guidance`);
//! - log-likelihoods with the exact or Hutchinson divergence ([`likelihood`]);
//! - score networks from [`crate::nn`] through [`NetScore`].
//!
//! ```
//! use sbgm_xla::sample::{GaussianMixture, SamplerConfig, SamplerKind, sample, HostCond};
//! use sbgm_xla::sde::{Sde, SdeKind, Schedule};
//! use sbgm_xla::{exec::Target, DType};
//! let sde = Sde::new(SdeKind::Vp, Schedule::Linear { beta_min: 0.1, beta_max: 20.0 }, 1e-3, 1.0, 0.01)?;
//! let data = GaussianMixture::gaussian(&sde, vec![1.0, -1.0], vec![0.5, 0.0, 0.0, 0.5], DType::F32)?;
//! let cfg = SamplerConfig::new(SamplerKind::Dpm2m).steps(15);
//! let s = sample(&Target::cpu()?, &data, &sde, &cfg, &[2], 64, 0, &HostCond::none(), false)?;
//! assert_eq!(s.x.shape(), &[64, 2]);
//! # Ok::<(), sbgm_xla::Error>(())
//! ```

pub mod analytic;
pub mod api;
pub mod config;
pub mod dpm;
pub mod em;
pub mod flow;
pub mod likelihood;
pub mod net;
pub mod ode;
pub mod pc;
pub mod score;
pub mod tableau;

pub use analytic::{ClassGaussians, Component, GaussianMixture};
pub use api::{
    CompiledLoglik, CompiledSampler, Counters, Loglik, SampleTrace, Samples, loglik, mean_stderr,
    sample, trace_sampler,
};
pub use config::{
    Dequantize, DpmGrid, LoglikConfig, Predictor, Probe, SamplerConfig, SamplerKind, TraceMethod,
};
pub use likelihood::{LoglikTrace, loglik_trace};
pub use net::{BoundNet, NetScore};
pub use ode::{Controller, OdeStats, solve_adaptive, solve_fixed};
pub use score::{Cond, CondNeeds, Guided, HostCond, NullCond, ScoreFn, ScoreModel};
pub use tableau::Tableau;
