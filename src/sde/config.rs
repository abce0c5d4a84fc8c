//! `SdeConfig`: the `[sde]` section of a TOML config, validated into an [`Sde`].

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::sde::{Schedule, Sde, SdeKind, Weighting};

/// Schedule names in a config.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleName {
    /// Linear β (`beta_min`, `beta_max`).
    Linear,
    /// Constant β (`beta`).
    Constant,
    /// Cosine (`cosine_s`).
    Cosine,
    /// Geometric σ (`sigma_min`, `sigma_max`), VE only.
    Geometric,
}

/// The `[sde]` section. Unknown keys are rejected; keys that the chosen SDE/schedule does not
/// use are rejected with a message naming the schedule that uses them.
///
/// ```
/// use sbgm_xla::sde::SdeConfig;
/// let c: SdeConfig = toml::from_str(r#"
///     sde = "VP"
///     schedule = "constant"
///     beta = 1.0
///     t0 = 1e-5
///     t1 = 8.0
///     dt = 0.1
/// "#).unwrap();
/// let sde = c.build()?;
/// assert_eq!(sde.t1, 8.0);
/// # Ok::<(), sbgm_xla::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SdeConfig {
    /// "VE", "VP" or "SubVP" (default "VP").
    #[serde(default = "default_kind")]
    pub sde: SdeKind,
    /// "linear", "constant", "cosine" (VP/SubVP) or "geometric" (VE). Default: linear for
    /// VP/SubVP, geometric for VE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ScheduleName>,
    /// Linear schedule β(0) (default 0.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beta_min: Option<f64>,
    /// Linear schedule β(1) (default 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beta_max: Option<f64>,
    /// Constant schedule β (default 1, sbgm's configs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beta: Option<f64>,
    /// Cosine schedule offset s (default 0.008).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cosine_s: Option<f64>,
    /// VE σ(0) (default 0.01).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sigma_min: Option<f64>,
    /// VE σ(1) (default 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sigma_max: Option<f64>,
    /// Start time (default 1e-5).
    #[serde(default = "default_t0")]
    pub t0: f64,
    /// End time (default 1).
    #[serde(default = "default_t1")]
    pub t1: f64,
    /// Solver step (default 0.01).
    #[serde(default = "default_dt")]
    pub dt: f64,
    /// Loss weighting: "sbgm" (default), "likelihood", "variance" or "unit".
    #[serde(default)]
    pub weighting: Weighting,
    /// Reproduce sbgm 0.0.38's deviations from Song et al. (default false).
    #[serde(default)]
    pub sbgm_compat: bool,
}

fn default_kind() -> SdeKind {
    SdeKind::Vp
}
fn default_t0() -> f64 {
    1e-5
}
fn default_t1() -> f64 {
    1.0
}
fn default_dt() -> f64 {
    0.01
}

impl Default for SdeConfig {
    fn default() -> Self {
        SdeConfig {
            sde: default_kind(),
            schedule: None,
            beta_min: None,
            beta_max: None,
            beta: None,
            cosine_s: None,
            sigma_min: None,
            sigma_max: None,
            t0: default_t0(),
            t1: default_t1(),
            dt: default_dt(),
            weighting: Weighting::Sbgm,
            sbgm_compat: false,
        }
    }
}

impl SdeConfig {
    /// Parses a `[sde]` table from TOML text (the section's body), with clear errors.
    pub fn from_toml(text: &str) -> Result<SdeConfig> {
        toml::from_str(text).map_err(|e| Error::msg(format!("[sde] section: {e}")))
    }

    /// The schedule the config selects (with defaults filled in).
    pub fn schedule_name(&self) -> ScheduleName {
        self.schedule.unwrap_or(match self.sde {
            SdeKind::Ve => ScheduleName::Geometric,
            _ => ScheduleName::Linear,
        })
    }

    /// Validates the section and builds the SDE.
    pub fn build(&self) -> Result<Sde> {
        let name = self.schedule_name();
        let keys: [(&str, Option<f64>, ScheduleName); 6] = [
            ("beta_min", self.beta_min, ScheduleName::Linear),
            ("beta_max", self.beta_max, ScheduleName::Linear),
            ("beta", self.beta, ScheduleName::Constant),
            ("cosine_s", self.cosine_s, ScheduleName::Cosine),
            ("sigma_min", self.sigma_min, ScheduleName::Geometric),
            ("sigma_max", self.sigma_max, ScheduleName::Geometric),
        ];
        for (k, v, used_by) in keys {
            if v.is_some() && used_by != name {
                // The TOML spelling: serde's, quoted as in TOML.
                let spelled = serde_json::to_string(&used_by).unwrap_or_default();
                return Err(Error::msg(format!(
                    "[sde] {k} is only used by the {used_by:?} schedule, but the schedule is {name:?}; remove {k} or set schedule = {spelled}"
                )));
            }
        }
        let schedule = match name {
            ScheduleName::Linear => Schedule::Linear {
                beta_min: self.beta_min.unwrap_or(0.1),
                beta_max: self.beta_max.unwrap_or(20.0),
            },
            ScheduleName::Constant => Schedule::Constant {
                beta: self.beta.unwrap_or(1.0),
            },
            ScheduleName::Cosine => Schedule::Cosine {
                s: self.cosine_s.unwrap_or(0.008),
            },
            ScheduleName::Geometric => Schedule::Geometric {
                sigma_min: self.sigma_min.unwrap_or(0.01),
                sigma_max: self.sigma_max.unwrap_or(50.0),
            },
        };
        let sde = Sde {
            kind: self.sde,
            schedule,
            t0: self.t0,
            t1: self.t1,
            dt: self.dt,
            weighting: self.weighting,
            sbgm_compat: self.sbgm_compat,
        };
        sde.validate().map_err(|e| {
            Error::msg(format!(
                "[sde] {}",
                e.to_string().trim_start_matches("sde: ")
            ))
        })?;
        Ok(sde)
    }
}
