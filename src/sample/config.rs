//! `SamplerConfig` (which sampler, steps, tolerances, corrector, guidance, chunk size) and
//! `LoglikConfig` (trace estimator, solver, dequantization), with validation.

use std::fmt;
use std::str::FromStr;

use clap::ValueEnum;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::graph::MatmulPrecision;
use crate::sde::Sde;

/// The samplers. Their names (`em`, `pc`, `euler`, `heun`, `rk4`, `tsit5`, `dopri5`,
/// `dpm2m`) are the same in TOML (serde), on the command line (clap), in
/// [`Display`](fmt::Display) and in [`FromStr`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
#[value(rename_all = "lowercase")]
pub enum SamplerKind {
    /// Reverse-SDE Euler-Maruyama (sbgm's sampler), noise-free last step.
    Em,
    /// Predictor-corrector (Song et al.): a predictor step, then Langevin corrector steps.
    Pc,
    /// Probability-flow ODE, forward Euler.
    Euler,
    /// Probability-flow ODE, Heun.
    Heun,
    /// Probability-flow ODE, classical RK4.
    Rk4,
    /// Probability-flow ODE, Tsit5 (adaptive unless steps are given).
    Tsit5,
    /// Probability-flow ODE, Dopri5 (adaptive unless steps are given).
    Dopri5,
    /// DPM-Solver++(2M), multistep second order in log-SNR (VP/SubVP; 10-20 steps).
    Dpm2m,
}

impl SamplerKind {
    /// Whether it integrates the probability-flow ODE with a Runge-Kutta method.
    pub fn is_ode(&self) -> bool {
        matches!(
            self,
            SamplerKind::Euler
                | SamplerKind::Heun
                | SamplerKind::Rk4
                | SamplerKind::Tsit5
                | SamplerKind::Dopri5
        )
    }

    /// The Runge-Kutta samplers of the probability-flow ODE (the likelihood's solvers).
    pub fn ode_solvers() -> impl Iterator<Item = SamplerKind> {
        SamplerKind::value_variants()
            .iter()
            .copied()
            .filter(SamplerKind::is_ode)
    }
}

/// Writes the name a [`ValueEnum`] value has on the command line (and, for the enums here,
/// in TOML).
fn write_value_name<T: ValueEnum>(value: &T, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let name = value.to_possible_value().ok_or(fmt::Error)?;
    f.write_str(name.get_name())
}

/// The names of some values, comma-separated, the last one after `last_sep`.
fn name_list<T: fmt::Display>(values: impl IntoIterator<Item = T>, last_sep: &str) -> String {
    let names: Vec<String> = values.into_iter().map(|v| v.to_string()).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{}{last_sep}{last}", rest.join(", ")),
        _ => names.concat(),
    }
}

impl fmt::Display for SamplerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_value_name(self, f)
    }
}

impl FromStr for SamplerKind {
    type Err = Error;

    /// Parses a sampler's name; the error lists the names.
    fn from_str(s: &str) -> Result<SamplerKind> {
        <SamplerKind as ValueEnum>::from_str(s, false).map_err(|_| {
            Error::msg(format!(
                "unknown sampler {s:?}; choose one of {}",
                name_list(SamplerKind::value_variants(), ", ")
            ))
        })
    }
}

/// The predictor of the predictor-corrector sampler.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Predictor {
    /// Reverse diffusion (Song et al.'s ReverseDiffusionPredictor): the forward SDE's own
    /// one-step transition reversed (VE: σ²(t) − σ²(t−h); VP: the exact mean factor;
    /// SubVP: Euler).
    #[default]
    ReverseDiffusion,
    /// Euler-Maruyama on the reverse SDE.
    EulerMaruyama,
}

/// Time grid of DPM-Solver.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DpmGrid {
    /// Uniform in log-SNR λ = ln(α/σ) (Lu et al.'s choice for low-resolution data).
    #[default]
    Logsnr,
    /// Uniform in t.
    TimeUniform,
}

/// How to draw samples. `steps` defaults to (t1 − t0)/dt of the SDE.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamplerConfig {
    /// Which sampler (default `em`).
    #[serde(default = "default_sampler")]
    pub sampler: SamplerKind,
    /// Number of steps for fixed-step samplers; for tsit5/dopri5, setting it selects fixed
    /// steps instead of adaptive ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<usize>,
    /// Relative tolerance of adaptive solvers (default 1e-5).
    #[serde(default = "default_tol")]
    pub rtol: f64,
    /// Absolute tolerance of adaptive solvers (default 1e-5).
    #[serde(default = "default_tol")]
    pub atol: f64,
    /// Initial step of adaptive solvers (default: the SDE's dt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dt0: Option<f64>,
    /// Step bound of adaptive solvers (default 4096, diffrax's).
    #[serde(default = "default_max_steps")]
    pub max_steps: usize,
    /// Predictor of `pc`.
    #[serde(default)]
    pub predictor: Predictor,
    /// Langevin corrector steps per time step of `pc` (default 1).
    #[serde(default = "default_corrector_steps")]
    pub corrector_steps: usize,
    /// Signal-to-noise ratio of the Langevin corrector (default 0.16).
    #[serde(default = "default_snr")]
    pub snr: f64,
    /// Time grid of `dpm2m`.
    #[serde(default)]
    pub dpm_grid: DpmGrid,
    /// Classifier-free guidance scale w (none: plain conditional/unconditional score).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guidance: Option<f64>,
    /// Samples per compiled call (chunk size, default 4096).
    #[serde(default = "default_batch")]
    pub batch: usize,
    /// How the network's `f32` matrix products multiply (default `f32`; `bf16` is about
    /// twice as fast on CPUs with bf16 instructions).
    #[serde(default)]
    pub matmul_precision: MatmulPrecision,
}

fn default_sampler() -> SamplerKind {
    SamplerKind::Em
}
fn default_tol() -> f64 {
    1e-5
}
/// The most steps a solve may take (`--steps`, `--max-steps`): loop counters are 32-bit in
/// the compiled programs, and a solve of this many steps already runs for hours.
pub const MAX_SOLVER_STEPS: usize = 1 << 24;

fn default_max_steps() -> usize {
    4096
}
fn default_corrector_steps() -> usize {
    1
}
fn default_snr() -> f64 {
    0.16
}
fn default_batch() -> usize {
    4096
}

impl Default for SamplerConfig {
    fn default() -> Self {
        SamplerConfig::new(SamplerKind::Em)
    }
}

impl SamplerConfig {
    /// Defaults for a sampler.
    pub fn new(sampler: SamplerKind) -> SamplerConfig {
        SamplerConfig {
            sampler,
            steps: None,
            rtol: default_tol(),
            atol: default_tol(),
            dt0: None,
            max_steps: default_max_steps(),
            predictor: Predictor::default(),
            corrector_steps: default_corrector_steps(),
            snr: default_snr(),
            dpm_grid: DpmGrid::default(),
            guidance: None,
            batch: default_batch(),
            matmul_precision: MatmulPrecision::default(),
        }
    }

    /// With a number of steps.
    pub fn steps(mut self, n: usize) -> Self {
        self.steps = Some(n);
        self
    }

    /// With tolerances.
    pub fn tolerances(mut self, rtol: f64, atol: f64) -> Self {
        self.rtol = rtol;
        self.atol = atol;
        self
    }

    /// With classifier-free guidance scale `w`.
    pub fn guidance(mut self, w: f64) -> Self {
        self.guidance = Some(w);
        self
    }

    /// Whether this runs an adaptive solver.
    pub fn is_adaptive(&self) -> bool {
        matches!(self.sampler, SamplerKind::Tsit5 | SamplerKind::Dopri5) && self.steps.is_none()
    }

    /// The number of steps of a fixed-step sampler: `steps` or round((t1 − t0)/dt).
    pub fn step_count(&self, sde: &Sde) -> usize {
        self.steps
            .unwrap_or_else(|| ((sde.t1 - sde.t0) / sde.dt).round().max(1.0) as usize)
    }

    /// Checks the settings against each other and the SDE.
    pub fn validate(&self, sde: &Sde) -> Result<()> {
        let bad = |key: &str, m: String| Err(Error::config("sampler", key, m));
        if self.steps == Some(0) {
            return bad(
                "steps",
                "0 is too few; sampler steps must be at least 1".into(),
            );
        }
        for (name, v) in [("steps", self.steps), ("max_steps", Some(self.max_steps))] {
            if let Some(v) = v.filter(|v| *v > MAX_SOLVER_STEPS) {
                return bad(
                    name,
                    format!(
                        "{name} = {v} is beyond the {MAX_SOLVER_STEPS} steps a solve may take \
                         (sbgm uses about 1000); lower it"
                    ),
                );
            }
        }
        for (n, v) in [("rtol", self.rtol), ("atol", self.atol)] {
            if !(v.is_finite() && v >= 0.0) {
                return bad(
                    n,
                    format!(
                        "{n} = {v} must be a finite number >= 0 (a tolerance cannot be negative)"
                    ),
                );
            }
        }
        if self.is_adaptive() && self.rtol == 0.0 && self.atol == 0.0 {
            return bad(
                "rtol, atol",
                "rtol and atol are both 0; set at least one above 0".into(),
            );
        }
        if let Some(d) = self.dt0
            && !(d.is_finite() && d > 0.0)
        {
            return bad("dt0", format!("dt0 = {d} must be > 0"));
        }
        if self.max_steps == 0 {
            return bad(
                "max_steps",
                "0 is too few; max_steps must be at least 1".into(),
            );
        }
        if !(self.snr.is_finite() && self.snr > 0.0) {
            return bad("snr", format!("snr = {} must be > 0", self.snr));
        }
        if let Some(w) = self.guidance
            && !w.is_finite()
        {
            return bad("guidance", format!("guidance scale w = {w} must be finite"));
        }
        if self.batch == 0 {
            return bad(
                "batch",
                "0 is too few; batch (samples per call) must be at least 1".into(),
            );
        }
        if self.sampler == SamplerKind::Dpm2m {
            let (_, s0) = sde.marginal_f64(sde.t0);
            if s0 <= 0.0 {
                return bad(
                    "sampler",
                    format!(
                        "dpm2m needs a positive noise level at t0 (log-SNR is infinite at std = \
                         0); set t0 > 0 in [sde] (got t0 = {})",
                        sde.t0
                    ),
                );
            }
        }
        Ok(())
    }
}

/// The divergence estimator of the likelihood ODE (`exact`, `hutchinson` in TOML and on the
/// command line).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
#[value(rename_all = "lowercase")]
pub enum TraceMethod {
    /// The exact trace: one VJP per data dimension (batched).
    #[default]
    Exact,
    /// Hutchinson's estimator: `probes` random probes per sample, fixed along the solve.
    Hutchinson,
}

impl fmt::Display for TraceMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_value_name(self, f)
    }
}

/// Probe distribution of Hutchinson's estimator (`gaussian`, `rademacher` in TOML and on the
/// command line).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
#[value(rename_all = "lowercase")]
pub enum Probe {
    /// Standard normal probes.
    #[default]
    Gaussian,
    /// Random signs: ±1 with equal probability.
    Rademacher,
}

impl fmt::Display for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_value_name(self, f)
    }
}

/// Uniform dequantization of discrete data (as score_sde does for images): a value whose
/// level k ∈ {0..levels−1} maps to `lo + (hi − lo) k/(levels − 1)` is replaced by
/// `lo + (hi − lo)(k + u)/levels`, u ~ U[0, 1), and bits/dim include the bin width.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dequantize {
    /// Number of levels (256 for 8-bit images).
    pub levels: usize,
    /// The model-space value of level 0.
    pub lo: f64,
    /// The model-space value of the top level.
    pub hi: f64,
}

/// How to compute log-likelihoods.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoglikConfig {
    /// Exact trace or Hutchinson.
    #[serde(default)]
    pub method: TraceMethod,
    /// Hutchinson probes per sample (default 1).
    #[serde(default = "default_probes")]
    pub probes: usize,
    /// Hutchinson probe distribution.
    #[serde(default)]
    pub probe: Probe,
    /// The ODE solver (euler, heun, rk4, tsit5, dopri5; default tsit5).
    #[serde(default = "default_solver")]
    pub solver: SamplerKind,
    /// Fixed steps (default: adaptive for tsit5/dopri5, (t1 − t0)/dt otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<usize>,
    /// Relative tolerance (default 1e-5).
    #[serde(default = "default_tol")]
    pub rtol: f64,
    /// Absolute tolerance (default 1e-5).
    #[serde(default = "default_tol")]
    pub atol: f64,
    /// Initial step (default: the SDE's dt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dt0: Option<f64>,
    /// Step bound (default 4096).
    #[serde(default = "default_max_steps")]
    pub max_steps: usize,
    /// Dequantization of discrete data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dequantize: Option<Dequantize>,
    /// Samples per compiled call (default 1024).
    #[serde(default = "default_ll_batch")]
    pub batch: usize,
    /// How the network's `f32` matrix products multiply (default `f32`).
    #[serde(default)]
    pub matmul_precision: MatmulPrecision,
}

fn default_probes() -> usize {
    1
}
fn default_solver() -> SamplerKind {
    SamplerKind::Tsit5
}
fn default_ll_batch() -> usize {
    1024
}

impl Default for LoglikConfig {
    fn default() -> Self {
        LoglikConfig {
            method: TraceMethod::Exact,
            probes: default_probes(),
            probe: Probe::Gaussian,
            solver: default_solver(),
            steps: None,
            rtol: default_tol(),
            atol: default_tol(),
            dt0: None,
            max_steps: default_max_steps(),
            dequantize: None,
            batch: default_ll_batch(),
            matmul_precision: MatmulPrecision::default(),
        }
    }
}

impl LoglikConfig {
    /// The equivalent sampler settings of the ODE solve.
    pub fn solver_config(&self) -> SamplerConfig {
        SamplerConfig {
            sampler: self.solver,
            steps: self.steps,
            rtol: self.rtol,
            atol: self.atol,
            dt0: self.dt0,
            max_steps: self.max_steps,
            batch: self.batch,
            matmul_precision: self.matmul_precision,
            ..SamplerConfig::default()
        }
    }

    /// Checks the settings.
    pub fn validate(&self, sde: &Sde) -> Result<()> {
        let bad = |key: &str, m: String| Err(Error::config("loglik", key, m));
        if !self.solver.is_ode() {
            return bad(
                "solver",
                format!(
                    "the likelihood solver must be {}, got {}",
                    name_list(SamplerKind::ode_solvers(), " or "),
                    self.solver
                ),
            );
        }
        if self.method == TraceMethod::Hutchinson && self.probes == 0 {
            return bad(
                "probes",
                "Hutchinson's estimator needs at least 1 probe".into(),
            );
        }
        if let Some(d) = self.dequantize
            && (d.levels < 2
                || !matches!(d.hi.partial_cmp(&d.lo), Some(std::cmp::Ordering::Greater)))
        {
            return bad(
                "dequantize",
                format!(
                    "need levels >= 2 and hi > lo, got levels = {}, lo = {}, hi = {}",
                    d.levels, d.lo, d.hi
                ),
            );
        }
        self.solver_config().validate(sde)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::DeserializeOwned;

    /// Each value's name is the same in serde (TOML), clap and `Display`, and parses back to
    /// the value both ways; returns the names in declaration order.
    fn names_agree<T>() -> Vec<String>
    where
        T: ValueEnum + Serialize + DeserializeOwned + fmt::Display + PartialEq + fmt::Debug,
    {
        let mut names = Vec::new();
        for v in T::value_variants() {
            let clap_name = v
                .to_possible_value()
                .expect("no skipped values")
                .get_name()
                .to_string();
            let serde_name = serde_json::to_value(v).expect("a unit variant serializes");
            assert_eq!(
                serde_name,
                serde_json::Value::String(clap_name.clone()),
                "{v:?}"
            );
            assert_eq!(v.to_string(), clap_name, "{v:?}");
            assert_eq!(&T::from_str(&clap_name, false).expect("clap parses"), v);
            assert_eq!(
                &serde_json::from_value::<T>(serde_name).expect("serde parses"),
                v
            );
            names.push(clap_name);
        }
        names
    }

    #[test]
    fn sampler_names_agree_in_serde_clap_and_display() {
        let names = names_agree::<SamplerKind>();
        let today = [
            "em", "pc", "euler", "heun", "rk4", "tsit5", "dopri5", "dpm2m",
        ];
        assert_eq!(names, today);
        for (name, kind) in names.iter().zip(SamplerKind::value_variants()) {
            assert_eq!(&name.parse::<SamplerKind>().expect("FromStr parses"), kind);
            let toml_text = format!("sampler = \"{name}\"");
            let cfg: SamplerConfig = toml::from_str(&toml_text).expect("TOML parses");
            assert_eq!(cfg.sampler, *kind);
            let back = toml::to_string(&cfg).expect("TOML writes");
            assert!(back.contains(&toml_text), "{back}");
        }
        let e = "ddim".parse::<SamplerKind>().unwrap_err().to_string();
        assert!(
            e.contains("\"ddim\"") && e.contains(&today.join(", ")),
            "{e}"
        );
        let e = toml::from_str::<SamplerConfig>("sampler = \"ddim\"").unwrap_err();
        assert!(e.to_string().contains("dpm2m"), "{e}");
    }

    #[test]
    fn loglik_names_agree_in_serde_clap_and_display() {
        assert_eq!(names_agree::<TraceMethod>(), ["exact", "hutchinson"]);
        assert_eq!(names_agree::<Probe>(), ["gaussian", "rademacher"]);
        let ode: Vec<String> = SamplerKind::ode_solvers().map(|k| k.to_string()).collect();
        assert_eq!(ode, ["euler", "heun", "rk4", "tsit5", "dopri5"]);
        assert_eq!(
            name_list(SamplerKind::ode_solvers(), " or "),
            "euler, heun, rk4, tsit5 or dopri5"
        );
        let cfg: LoglikConfig =
            toml::from_str("method = \"hutchinson\"\nprobe = \"rademacher\"\nsolver = \"rk4\"")
                .expect("TOML parses");
        assert_eq!(
            (cfg.method, cfg.probe, cfg.solver),
            (TraceMethod::Hutchinson, Probe::Rademacher, SamplerKind::Rk4)
        );
    }
}
