//! The training config: a TOML file with `[sde]`, `[model]`, `[data]` and `[train]` sections
//! (sbgm's `ConfigDict`), command-line overrides (`--set train.steps=500`) and validation.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::data::DataSpec;
use crate::error::{Error, Result};
use crate::graph::MatmulPrecision;
use crate::sample::{NullCond, TraceMethod};
use crate::sde::{SdeConfig, Weighting};
use crate::train::loss::TimeSampling;
use crate::train::optim::OptimConfig;

/// The whole training config.
///
/// ```
/// use sbgm_xla::train::Config;
/// let cfg = Config::from_toml_str(include_str!("../../configs/moons.toml"), &["train.steps=7"])?;
/// assert_eq!(cfg.train.steps, 7);
/// # Ok::<(), sbgm_xla::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The SDE (`[sde]`).
    pub sde: crate::sde::SdeConfig,
    /// The score network (`[model]`).
    pub model: crate::nn::ModelConfig,
    /// The data set (`[data]`).
    pub data: DataSpec,
    /// The training loop (`[train]`).
    pub train: TrainConfig,
}

/// Where training batches come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Feed {
    /// `device` when the training set fits in [`TrainConfig::device_data_mb`], else `host`.
    #[default]
    Auto,
    /// The training set lives on the device; each step gathers its batch there.
    Device,
    /// The host gathers the batches of a call and uploads them while the previous call runs.
    Host,
}

/// Whether the data's class labels condition the model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelsAs {
    /// Labels are not used.
    #[default]
    None,
    /// The label column `(N, 1)` is the parameter vector `a` (sbgm's MNIST set-up).
    A,
    /// The label column `(N, 1)` is the conditioning `q` (sbgm's moons set-up).
    Q,
}

/// How a model's conditioning stands for "none" (classifier-free guidance): its training
/// config's `[train] labels_as` and `cond_null`, as stored with the run (other keys ignored).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NullSpec {
    /// Whether the conditioning is the class labels.
    #[serde(default)]
    pub labels_as: LabelsAs,
    /// The null value; `None` for a run trained before it was stored (trained with 0).
    #[serde(default)]
    pub cond_null: Option<f64>,
}

impl NullSpec {
    /// The default null of conditioning on `labels_as`: −1 (not a class) for labels, else 0.
    pub fn default_for(labels_as: LabelsAs) -> f64 {
        if labels_as == LabelsAs::None {
            0.0
        } else {
            -1.0
        }
    }

    /// The values fed for a dropped `q` and `a`: `cond_null` (0 when not stored) for the
    /// part holding the labels (every part without labels), 0 for the others.
    pub fn values(&self) -> NullCond {
        let v = self.cond_null.unwrap_or(0.0);
        match self.labels_as {
            LabelsAs::None => NullCond { q: v, a: v },
            LabelsAs::A => NullCond { q: 0.0, a: v },
            LabelsAs::Q => NullCond { q: v, a: 0.0 },
        }
    }

    /// A warning for guided sampling of a label-conditioned run whose null value is also a
    /// class (a whole number ≥ 0; e.g. 0 for runs trained before `cond_null` was stored).
    pub fn guidance_warning(&self) -> Option<String> {
        let v = self.cond_null.unwrap_or(0.0);
        (self.labels_as != LabelsAs::None && v >= 0.0 && v.fract() == 0.0).then(|| {
            let why = match self.cond_null {
                None => {
                    " (the run stores no [train] cond_null: it was trained before sbgm-xla \
                         stored one)"
                }
                Some(_) => "",
            };
            format!(
                "warning: this run conditions on class labels and its \"no label\" value is \
                 {v}{why}, the same as class {v}: guidance pushes away from class {v}, not from \
                 the unconditional model; retrain it with [train] cond_null = -1 (the default)"
            )
        })
    }
}

/// The `[train]` section.
///
/// ```toml
/// [train]
/// batch_size = 256
/// steps = 10000
/// steps_per_call = 100      # training steps run by one call of the compiled program
/// seed = 0
/// eval_every = 500          # held-out loss (0 = never)
/// eval_bpd_samples = 64     # held-out images whose bits/dim each evaluation reports (0 = none)
/// eval_bpd_method = "hutchinson"  # hutchinson | exact: the divergence of the bits/dim ODE
/// sample_every = 2000       # sample plot (0 = never)
/// checkpoint_every = 1000   # checkpoint (0 = only at the end)
/// # devices = 4             # default: every addressable device
/// # mesh = { data = 2, fsdp = 2 }  # default: every device on data (parameters replicated)
/// accumulate = 1            # minibatches per step (gradient accumulation)
/// cond_dropout = 0.0        # probability of dropping the conditioning (classifier-free guidance)
/// feed = "auto"             # auto | device | host
/// labels_as = "none"        # none | a | q: condition on the class labels
/// # cond_null = -1.0         # "no conditioning" (default: -1 with labels_as = a | q, else 0)
/// # time_sampling = "importance"  # uniform | importance (default: importance with
///                                 # [sde] weighting = "likelihood", else uniform)
/// optimizer = "adamw"      # and the other keys of OptimConfig: lr, use_ema, ema_rate, ...
/// lr = 1e-3
/// ```
///
/// (`Option` fields are written without `skip_serializing_if`: TOML leaves out `None` by
/// itself, and [`TrainConfig::keys`] lists every key of a serialized default.)
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Samples per training step (over all devices).
    #[serde(default = "d_batch")]
    pub batch_size: usize,
    /// Total training steps.
    #[serde(default = "d_steps")]
    pub steps: u64,
    /// Training steps per call of the compiled program (`K`).
    #[serde(default = "d_k")]
    pub steps_per_call: usize,
    /// Seed of initialisation, batches and noise.
    #[serde(default)]
    pub seed: u64,
    /// Held-out loss every this many steps (0: never).
    #[serde(default = "d_eval")]
    pub eval_every: u64,
    /// Bits per dimension of the held-out set's first this many images at each evaluation
    /// (`eval_every`, and at the end), as `sbgm-xla loglik --dequantize` computes them with the
    /// run's seed: for image data whose value range spans whole levels (8-bit images: 256,
    /// digits: 17), dequantized; other data report none (0: never).
    #[serde(default = "d_bpd_samples")]
    pub eval_bpd_samples: usize,
    /// The divergence of the bits-per-dimension ODE: `"hutchinson"` (one Gaussian probe, the
    /// default: cheap on large images) or `"exact"` (one pass per data dimension).
    #[serde(default = "d_bpd_method")]
    pub eval_bpd_method: TraceMethod,
    /// Sample plot every this many steps (0: never; always at the end when > 0).
    #[serde(default = "d_sample")]
    pub sample_every: u64,
    /// Samples per plot (points for 2-D data, images otherwise).
    #[serde(default = "d_sample_size")]
    pub sample_size: usize,
    /// Euler-Maruyama steps of the sample plots.
    #[serde(default = "d_sample_steps")]
    pub sample_steps: usize,
    /// Checkpoint every this many steps (0: only at the end and on Ctrl-C).
    #[serde(default = "d_ckpt")]
    pub checkpoint_every: u64,
    /// Data-parallel devices (default: every addressable device).
    #[serde(default)]
    pub devices: Option<usize>,
    /// The device mesh (`{ data = 2, fsdp = 4 }`, the product = the devices): the batch split
    /// over both axes, the parameters, optimizer state and EMA split along `fsdp`
    /// ([`crate::train::mesh`]); default: every device on `data`.
    #[serde(default)]
    pub mesh: Option<crate::train::mesh::Mesh>,
    /// Minibatches per step whose gradients are averaged (1: no accumulation).
    #[serde(default = "d_one")]
    pub accumulate: usize,
    /// Probability of replacing a sample's conditioning (`a` or label) by the null value.
    #[serde(default)]
    pub cond_dropout: f64,
    /// Where batches come from.
    #[serde(default)]
    pub feed: Feed,
    /// Condition on the data's class labels as `a` or `q` (`none`, `a`, `q`).
    #[serde(default)]
    pub labels_as: LabelsAs,
    /// The value that stands for "no conditioning" ([`NullSpec`]): what `cond_dropout` puts
    /// in dropped rows and guided sampling feeds. Training stores it resolved in the run's
    /// `config.toml` (default: −1 with `labels_as` = a | q, else 0).
    #[serde(default)]
    pub cond_null: Option<f64>,
    /// How `f32` matrix products multiply: `"f32"` (default) or `"bf16"` (operands rounded to
    /// bfloat16, f32 accumulation): on CPUs with AMX the products run in sbgm-xla's own kernel
    /// (moons training about 2x faster than f32); elsewhere XLA's bf16 product (about 10%).
    #[serde(default)]
    pub matmul_precision: MatmulPrecision,
    /// How the loss draws its times: `"uniform"` (sbgm's stratified sampler) or
    /// `"importance"` (stratified in p(t) ∝ g²/σ², for `[sde] weighting = "likelihood"`).
    /// Default: importance with likelihood weighting, uniform otherwise and under
    /// `[sde] sbgm_compat` ([`TrainConfig::time_sampling_for`]).
    #[serde(default)]
    pub time_sampling: Option<TimeSampling>,
    /// `feed = "auto"` keeps the training set on the device up to this many MiB.
    #[serde(default = "d_device_mb")]
    pub device_data_mb: usize,
    /// The optimizer, its schedule and the EMA (the keys of [`OptimConfig`], written in
    /// `[train]` itself).
    #[serde(flatten)]
    pub optim: OptimConfig,
}

fn d_batch() -> usize {
    256
}
fn d_steps() -> u64 {
    10_000
}
fn d_k() -> usize {
    100
}
fn d_eval() -> u64 {
    500
}
fn d_bpd_samples() -> usize {
    64
}
fn d_bpd_method() -> TraceMethod {
    TraceMethod::Hutchinson
}
fn d_sample() -> u64 {
    2000
}
fn d_sample_size() -> usize {
    1024
}
fn d_sample_steps() -> usize {
    100
}
fn d_ckpt() -> u64 {
    1000
}
fn d_one() -> usize {
    1
}
fn d_device_mb() -> usize {
    1024
}

impl Default for TrainConfig {
    fn default() -> Self {
        toml::from_str("").expect("every [train] key has a default")
    }
}

impl TrainConfig {
    /// Reads a `[train]` table (the loop's keys and the optimizer's) and validates it; an
    /// error names the key, and for an unknown key lists the known ones.
    pub fn from_table(table: toml::Table) -> Result<TrainConfig> {
        let parse = |t: toml::Table| toml::Value::Table(t).try_into::<TrainConfig>();
        let train = parse(table.clone()).map_err(|e| {
            // serde reports a flattened (optimizer) key's error without the key: find the key
            // that fails on its own, and report its error.
            let failing = table.iter().find_map(|(k, v)| {
                let alone = toml::Table::from_iter([(k.clone(), v.clone())]);
                parse(alone).err().map(|e| (k, e))
            });
            match failing {
                Some((key, e)) => {
                    let mut msg = tidy(&e);
                    if msg.starts_with("unknown field") {
                        msg.push_str(&format!(
                            "; the keys are {}",
                            TrainConfig::keys().join(", ")
                        ));
                    }
                    Error::config("train", key.as_str(), msg)
                }
                None => Error::msg(format!("[train]: {}", tidy(&e))),
            }
        })?;
        train.validate()?;
        Ok(train)
    }

    /// How this config's conditioning stands for "none" (see [`NullSpec`]).
    pub fn null_spec(&self) -> NullSpec {
        NullSpec {
            labels_as: self.labels_as,
            cond_null: self.cond_null,
        }
    }

    /// The same with `cond_null` set to its default when not given (what training stores).
    pub fn with_resolved_cond_null(&self) -> TrainConfig {
        TrainConfig {
            cond_null: Some(
                self.cond_null
                    .unwrap_or_else(|| NullSpec::default_for(self.labels_as)),
            ),
            ..self.clone()
        }
    }

    /// Every key of `[train]`, the optimizer's included, sorted.
    pub fn keys() -> Vec<String> {
        match serde_json::to_value(TrainConfig::default()) {
            Ok(serde_json::Value::Object(m)) => m.keys().cloned().collect(),
            _ => Vec::new(),
        }
    }

    /// The devices the config asks for: `devices`, else the product of the mesh's axes, else
    /// none (every device).
    pub fn devices_wanted(&self) -> Option<usize> {
        self.devices.or(self.mesh.map(|m| m.devices()))
    }

    /// Checks the values (the optimizer's too), naming the key and what is allowed.
    pub fn validate(&self) -> Result<()> {
        let bad = |key: &str, m: String| Err(Error::config("train", key, m));
        if self.batch_size == 0 {
            return bad(
                "batch_size",
                "batch_size = 0: use at least 1 (sbgm's configs use 256)".into(),
            );
        }
        let max_steps = crate::train::run::MAX_STEPS;
        if self.steps == 0 || self.steps > max_steps {
            return bad(
                "steps",
                format!(
                    "steps = {}: use 1 to {max_steps} (the compiled program counts steps in 32 \
                     bits)",
                    self.steps
                ),
            );
        }
        if self.batch_size > i32::MAX as usize {
            return bad(
                "batch_size",
                format!(
                    "batch_size = {}: use at most {} (sbgm's configs use 256)",
                    self.batch_size,
                    i32::MAX
                ),
            );
        }
        if self.steps_per_call == 0 || self.steps_per_call as u64 > max_steps {
            return bad(
                "steps_per_call",
                format!(
                    "steps_per_call = {}: use 1 to {max_steps} (e.g. 100)",
                    self.steps_per_call
                ),
            );
        }
        if self.accumulate == 0 {
            return bad(
                "accumulate",
                "accumulate = 0: use 1 for no gradient accumulation".into(),
            );
        }
        if !self.batch_size.is_multiple_of(self.accumulate) {
            return bad(
                "accumulate",
                format!(
                    "batch_size = {} is not divisible by accumulate = {}: pick a batch size \
                     that is a multiple of the number of minibatches",
                    self.batch_size, self.accumulate
                ),
            );
        }
        if !(self.cond_dropout.is_finite() && (0.0..1.0).contains(&self.cond_dropout)) {
            return bad(
                "cond_dropout",
                format!("cond_dropout = {} must lie in [0, 1)", self.cond_dropout),
            );
        }
        if let Some(v) = self.cond_null
            && !v.is_finite()
        {
            return bad(
                "cond_null",
                format!("cond_null = {v} must be a finite number (e.g. -1 for class labels)"),
            );
        }
        if self.devices == Some(0) {
            return bad(
                "devices",
                "devices = 0: use at least 1, or leave it out for all devices".into(),
            );
        }
        if self.sample_size == 0 {
            return bad("sample_size", "sample_size = 0: use at least 1".into());
        }
        if self.sample_steps == 0 {
            return bad(
                "sample_steps",
                "sample_steps = 0: use at least 1 (e.g. 100)".into(),
            );
        }
        self.optim.validate()
    }

    /// The time sampling of a run with the SDE `sde`: [`TrainConfig::time_sampling`], or its
    /// default (importance for likelihood weighting, uniform otherwise and under
    /// `sbgm_compat`). Importance sampling with another weighting, under `sbgm_compat` or
    /// with t0 = 0 is a config error naming the fix.
    pub fn time_sampling_for(&self, sde: &SdeConfig) -> Result<TimeSampling> {
        let likelihood = sde.weighting == Weighting::Likelihood;
        let Some(TimeSampling::Importance) = self.time_sampling else {
            return Ok(match self.time_sampling {
                Some(s) => s,
                None if likelihood && !sde.sbgm_compat && sde.t0 > 0.0 => TimeSampling::Importance,
                None => TimeSampling::Uniform,
            });
        };
        let bad = |msg: String| Err(Error::config("train", "time_sampling", msg));
        if !likelihood {
            let spelled = serde_json::to_string(&sde.weighting).unwrap_or_default();
            return bad(format!(
                "time_sampling = \"importance\" samples t by g²/σ² for likelihood weighting, \
                 but [sde] weighting = {spelled}; set [sde] weighting = \"likelihood\" or \
                 time_sampling = \"uniform\""
            ));
        }
        if sde.sbgm_compat {
            return bad(
                "time_sampling = \"importance\" does not exist in sbgm, and [sde] sbgm_compat = \
                 true reproduces sbgm: set time_sampling = \"uniform\" (or remove it), or \
                 sbgm_compat = false"
                    .into(),
            );
        }
        if sde.t0 <= 0.0 {
            return bad(format!(
                "time_sampling = \"importance\" needs [sde] t0 > 0 (the density g²/σ² is not \
                 integrable at t = 0); got t0 = {}: use e.g. t0 = 1e-5",
                sde.t0
            ));
        }
        Ok(TimeSampling::Importance)
    }
}

impl Config {
    /// Reads a config file and applies `key=value` overrides (see [`Config::from_toml_str`]).
    pub fn from_file(path: &Path, overrides: &[String]) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Config::from_toml_str(&text, overrides).map_err(|e| match e {
            Error::Msg(_) | Error::Config { .. } => Error::msg(format!("{}: {e}", path.display())),
            other => other,
        })
    }

    /// Parses a config, applies overrides `section.key=value` (the value is TOML, e.g.
    /// `train.steps=500`, `data.dataset="circles"`; a bare word is taken as a string) and
    /// validates it. Unknown keys are errors naming the key and the allowed ones.
    pub fn from_toml_str<S: AsRef<str>>(text: &str, overrides: &[S]) -> Result<Config> {
        let mut table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| Error::msg(format!("invalid TOML: {}", tidy(&e))))?;
        for o in overrides {
            apply_override(&mut table, o.as_ref())?;
        }
        Config::from_table(table)
    }

    /// A config from a parsed TOML table (validated).
    pub fn from_table(table: toml::Table) -> Result<Config> {
        for key in table.keys() {
            if !SECTIONS.contains(&key.as_str()) {
                return Err(Error::msg(format!(
                    "unknown section [{key}]; the sections are {}",
                    SECTIONS.map(|s| format!("[{s}]")).join(", ")
                )));
            }
        }
        for s in SECTIONS {
            if !table.contains_key(s) {
                return Err(Error::msg(format!(
                    "the config has no [{s}] section; add one (see configs/moons.toml)"
                )));
            }
        }
        let section = |name: &str| -> Result<toml::Value> {
            match &table[name] {
                toml::Value::Table(t) => Ok(toml::Value::Table(t.clone())),
                other => Err(Error::msg(format!(
                    "[{name}] must be a section of keys, got the value {other}"
                ))),
            }
        };
        let sde = section("sde")?
            .try_into()
            .map_err(|e: toml::de::Error| Error::msg(format!("[sde]: {}", tidy(&e))))?;
        let model = section("model")?
            .try_into()
            .map_err(|e: toml::de::Error| Error::msg(format!("[model]: {}", tidy(&e))))?;
        let data = section("data")?
            .try_into()
            .map_err(|e: toml::de::Error| Error::msg(format!("[data]: {}", tidy(&e))))?;
        let toml::Value::Table(train_t) = section("train")? else {
            unreachable!("checked to be a table")
        };
        let train = TrainConfig::from_table(train_t)?;
        let cfg = Config {
            sde,
            model,
            data,
            train,
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks every section and the sections against each other.
    pub fn validate(&self) -> Result<()> {
        self.sde.build()?;
        self.data.validate()?;
        self.train.validate()?;
        self.train.time_sampling_for(&self.sde).map(|_| ())
    }

    /// The config as a TOML table.
    pub fn to_table(&self) -> Result<toml::Table> {
        let err = |e: toml::ser::Error| Error::msg(format!("cannot write the config: {e}"));
        let sections = [
            ("sde", toml::Value::try_from(&self.sde)),
            ("model", toml::Value::try_from(&self.model)),
            ("data", toml::Value::try_from(&self.data)),
            ("train", toml::Value::try_from(&self.train)),
        ];
        sections
            .into_iter()
            .map(|(name, v)| Ok((name.to_string(), v.map_err(err)?)))
            .collect()
    }

    /// The config as TOML text (stored in checkpoints; parses back to the same config).
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string(&self.to_table()?)
            .map_err(|e| Error::msg(format!("cannot write the config: {e}")))
    }
}

/// The config's sections.
pub const SECTIONS: [&str; 4] = ["sde", "model", "data", "train"];

fn tidy(e: &toml::de::Error) -> String {
    e.to_string().trim_end().replace('\n', "\n  ")
}

/// Sets `a.b.c = value` in `table` from the text `a.b.c=value`.
fn apply_override(table: &mut toml::Table, text: &str) -> Result<()> {
    let Some((key, value)) = text.split_once('=') else {
        return Err(Error::msg(format!(
            "override {text:?} has no `=`; write section.key=value, e.g. train.steps=500"
        )));
    };
    let key = key.trim();
    let parts: Vec<&str> = key.split('.').map(str::trim).collect();
    if parts.len() < 2 || parts.iter().any(|p| p.is_empty()) {
        return Err(Error::msg(format!(
            "override key {key:?} must name a section and a key, e.g. train.steps=500"
        )));
    }
    if !SECTIONS.contains(&parts[0]) {
        return Err(Error::msg(format!(
            "override {key:?}: unknown section `{}`; the sections are {}",
            parts[0],
            SECTIONS.join(", ")
        )));
    }
    let value = parse_value(value.trim());
    let mut t = table;
    for p in &parts[..parts.len() - 1] {
        let entry = t
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        t = entry.as_table_mut().ok_or_else(|| {
            Error::msg(format!(
                "override {key:?}: `{p}` is a value, not a section of keys"
            ))
        })?;
    }
    t.insert(parts[parts.len() - 1].to_string(), value);
    Ok(())
}

/// A TOML value from override text; a bare word that is not TOML becomes a string.
fn parse_value(s: &str) -> toml::Value {
    let doc = format!("v = {s}");
    match doc.parse::<toml::Table>() {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(s.into())),
        Err(_) => toml::Value::String(s.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn override_values_parse_as_toml_or_strings() {
        assert_eq!(parse_value("500"), toml::Value::Integer(500));
        assert_eq!(parse_value("1e-3"), toml::Value::Float(1e-3));
        assert_eq!(parse_value("true"), toml::Value::Boolean(true));
        assert_eq!(parse_value("moons"), toml::Value::String("moons".into()));
        assert_eq!(parse_value("\"a b\""), toml::Value::String("a b".into()));
        let mut t = toml::Table::new();
        apply_override(&mut t, "train.optimizer.lr=0.01").unwrap();
        assert_eq!(t["train"]["optimizer"]["lr"].as_float(), Some(0.01));
        assert!(apply_override(&mut t, "steps=3").is_err());
        assert!(apply_override(&mut t, "trian.steps=3").is_err());
        assert!(apply_override(&mut t, "train.steps").is_err());
    }

    #[test]
    fn cond_null_resolves_per_labels_as_and_keeps_a_given_value() {
        let with = |labels_as, cond_null| TrainConfig {
            labels_as,
            cond_null,
            ..TrainConfig::default()
        };
        let resolved = |t: TrainConfig| t.with_resolved_cond_null().null_spec().values();
        let v = |q, a| NullCond { q, a };
        assert_eq!(resolved(with(LabelsAs::None, None)), v(0.0, 0.0));
        assert_eq!(resolved(with(LabelsAs::A, None)), v(0.0, -1.0));
        assert_eq!(resolved(with(LabelsAs::Q, None)), v(-1.0, 0.0));
        assert_eq!(resolved(with(LabelsAs::A, Some(-7.0))), v(0.0, -7.0));
        assert_eq!(resolved(with(LabelsAs::None, Some(2.0))), v(2.0, 2.0));
        // as stored by a run from before cond_null: 0, with a warning for labels only
        assert_eq!(with(LabelsAs::Q, None).null_spec().values(), v(0.0, 0.0));
        assert!(
            with(LabelsAs::Q, None)
                .null_spec()
                .guidance_warning()
                .is_some()
        );
        assert!(
            with(LabelsAs::None, None)
                .null_spec()
                .guidance_warning()
                .is_none()
        );
        let e = with(LabelsAs::A, Some(f64::NAN)).validate().unwrap_err();
        assert!(e.to_string().contains("cond_null"), "{e}");
    }
}
