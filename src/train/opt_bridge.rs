//! The optimizer of a config as the training program needs it: state leaves, their initial
//! values and the traced update (a thin adapter over [`crate::train::optim`]).

use crate::dtype::DType;
use crate::error::Error;
use crate::error::Result;
use crate::graph::{Shape, Tensor};
use crate::host::HostArray;
use crate::train::config::OptimSection;

/// An optimizer ready for [`crate::train::step::Optimizer`].
pub struct BuiltOptimizer {
    /// State leaves (names and types), in order.
    pub state: Vec<(String, Shape)>,
    /// Their initial values.
    pub init: Vec<(String, HostArray)>,
    /// EMA rate, `None` when the EMA is off.
    pub ema_rate: Option<f64>,
    update: Box<UpdateFn>,
}

type UpdateFn =
    dyn Fn(&[Tensor], &[Tensor], &[Tensor], &Tensor) -> Result<(Vec<Tensor>, Vec<Tensor>)>;

impl BuiltOptimizer {
    /// The traced update `(params, grads, state, step)` → (params, state).
    pub fn update(
        &self,
        p: &[Tensor],
        g: &[Tensor],
        s: &[Tensor],
        step: &Tensor,
    ) -> Result<(Vec<Tensor>, Vec<Tensor>)> {
        (self.update)(p, g, s, step)
    }
}

/// Builds the optimizer of `cfg` for parameters `params`.
pub fn build_optimizer(cfg: &OptimSection, params: &[(String, Shape)]) -> Result<BuiltOptimizer> {
    cfg.validate()?;
    let mut state = vec![("count".to_string(), Shape::scalar(DType::I32))];
    let mut init = vec![("count".to_string(), HostArray::scalar(0i32))];
    for m in ["mu", "nu"] {
        for (n, s) in params {
            state.push((format!("{m}.{n}"), s.clone()));
            init.push((
                format!("{m}.{n}"),
                HostArray::from_vec(s.dims.clone(), vec![0f32; s.elem_count()])?,
            ));
        }
    }
    let (lr, wd) = (cfg.lr, if cfg.optimizer == "adamw" { 1e-4 } else { 0.0 });
    let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8f64);
    Ok(BuiltOptimizer {
        state,
        init,
        ema_rate: cfg.use_ema.then_some(cfg.ema_rate),
        update: Box::new(move |p, g, s, _step| {
            let n = p.len();
            let count = (&s[0] + 1.0)?;
            let c = count.convert(DType::F32)?;
            let g_ = p[0].graph();
            let bc1 = (1.0 - g_.scalar(b1, DType::F32)?.pow(&c)?)?;
            let bc2 = (1.0 - g_.scalar(b2, DType::F32)?.pow(&c)?)?;
            let (mut np, mut mus, mut nus) = (vec![], vec![], vec![]);
            for i in 0..n {
                let mu = ((&s[1 + i] * b1)? + (&g[i] * (1.0 - b1))?)?;
                let nu = ((&s[1 + n + i] * b2)? + (g[i].sqr()? * (1.0 - b2))?)?;
                let mh = (&mu / &bc1)?;
                let nh = (&nu / &bc2)?;
                let u = ((mh / (nh.sqrt()? + eps)?)? + (&p[i] * wd)?)?;
                np.push((&p[i] - (u * lr)?)?);
                mus.push(mu);
                nus.push(nu);
            }
            let mut st = vec![count];
            st.extend(mus);
            st.extend(nus);
            Ok((np, st))
        }),
    })
}

/// Stand-in for the optimizer helper's `OptimConfig` (same keys) until it lands.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TempOptim {
    /// adam | adamw.
    #[serde(default = "d_opt")]
    pub optimizer: String,
    /// Learning rate.
    #[serde(default = "d_lr")]
    pub lr: f64,
    /// Keep an EMA.
    #[serde(default = "d_true")]
    pub use_ema: bool,
    /// EMA rate.
    #[serde(default = "d_ema")]
    pub ema_rate: f64,
}
fn d_opt() -> String {
    "adamw".into()
}
fn d_lr() -> f64 {
    1e-3
}
fn d_true() -> bool {
    true
}
fn d_ema() -> f64 {
    0.999
}
impl Default for TempOptim {
    fn default() -> Self {
        toml::from_str("").expect("defaults")
    }
}
impl TempOptim {
    /// Keys.
    pub const FIELDS: &'static [&'static str] = &["optimizer", "lr", "use_ema", "ema_rate"];
    /// Split.
    pub fn split_from(table: &toml::Table) -> Result<(TempOptim, toml::Table)> {
        let mut mine = toml::Table::new();
        let mut rest = toml::Table::new();
        for (k, v) in table {
            if Self::FIELDS.contains(&k.as_str()) {
                mine.insert(k.clone(), v.clone());
            } else {
                rest.insert(k.clone(), v.clone());
            }
        }
        let cfg: TempOptim = toml::Value::Table(mine)
            .try_into()
            .map_err(|e: toml::de::Error| Error::msg(format!("[train]: {e}")))?;
        cfg.validate()?;
        Ok((cfg, rest))
    }
    /// Validate.
    pub fn validate(&self) -> Result<()> {
        if !["adam", "adamw"].contains(&self.optimizer.as_str()) {
            return Err(Error::msg(format!(
                "[train] optimizer = {:?}: use adam or adamw",
                self.optimizer
            )));
        }
        Ok(())
    }
}
