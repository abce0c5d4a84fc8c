//! Layers batched over a leading axis, with Equinox's field names, shapes and
//! initialisations, and activation functions with `jax.nn`'s definitions.
//!
//! Each layer is a configuration (`Linear::new(3, 2)`) whose `build` names its fields once
//! through a [`Builder`](crate::nn::tree::Builder), giving its tree (`LinearTree`: the fields
//! `weight`, `bias`); a traced tree's `apply` reads those fields.

pub mod attention;
pub mod conv;
pub mod dropout;
pub mod embedding;
pub mod linear;
pub mod norm;
pub mod time_embedding;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::graph::Tensor;

pub use conv::{Conv2d, ConvTranspose2d, ConvTree};
pub use dropout::{Dropout, dropout};
pub use embedding::{Embedding, EmbeddingTree};
pub use linear::{Linear, LinearTree, Mlp, MlpTree};
pub use norm::{GroupNorm, GroupNormTree, LayerNorm, LayerNormTree};

/// An activation function, named as in `jax.nn` (config value `activation = "tanh"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// `tanh(x)` (sbgm's `ResidualNetwork` default).
    #[default]
    Tanh,
    /// `max(x, 0)`.
    Relu,
    /// `1 / (1 + exp(-x))`.
    Sigmoid,
    /// `x * sigmoid(x)` (`jax.nn.silu`, also `swish`).
    #[serde(alias = "swish")]
    Silu,
    /// The tanh approximation `x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`
    /// (`jax.nn.gelu`, whose default is `approximate=True`).
    Gelu,
    /// The exact `x/2 (1 + erf(x / sqrt 2))` (`jax.nn.gelu(x, approximate=False)`).
    GeluExact,
    /// `x` if `x > 0`, else `exp(x) - 1`.
    Elu,
    /// `log(1 + exp(x))`, computed stably.
    Softplus,
    /// `x` if `x >= 0`, else `0.01 x`.
    LeakyRelu,
    /// `-softplus(-x)`.
    LogSigmoid,
    /// The identity.
    Identity,
}

impl Activation {
    /// Every accepted config name (for error messages).
    pub const NAMES: &'static [&'static str] = &[
        "tanh",
        "relu",
        "sigmoid",
        "silu",
        "swish",
        "gelu",
        "gelu_exact",
        "elu",
        "softplus",
        "leaky_relu",
        "log_sigmoid",
        "identity",
    ];

    /// Applies the function elementwise.
    pub fn apply(self, x: &Tensor) -> Result<Tensor> {
        match self {
            Activation::Tanh => x.tanh(),
            Activation::Relu => x.relu(),
            Activation::Sigmoid => x.logistic(),
            Activation::Silu => x * x.logistic()?,
            Activation::Gelu => gelu_tanh(x),
            Activation::GeluExact => {
                let e = (x * std::f64::consts::FRAC_1_SQRT_2)?.erf()?;
                (x * (e + 1.0)?)? / 2.0
            }
            Activation::Elu => {
                let pos = x.gt(&x.zeros_like()?)?;
                pos.select(x, &x.expm1()?)
            }
            Activation::Softplus => softplus(x),
            Activation::LeakyRelu => {
                let pos = x.ge(&x.zeros_like()?)?;
                pos.select(x, &(x * 0.01)?)
            }
            Activation::LogSigmoid => softplus(&x.neg()?)?.neg(),
            Activation::Identity => Ok(x.clone()),
        }
    }
}

/// `jax.nn.gelu(x, approximate=True)`: `x * 0.5 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`.
pub fn gelu_tanh(x: &Tensor) -> Result<Tensor> {
    let sqrt_2_over_pi = (2.0 / std::f64::consts::PI).sqrt();
    let x3 = (x * x)?.mul(x)?;
    let inner = ((x + (x3 * 0.044715)?)? * sqrt_2_over_pi)?;
    let cdf = ((inner.tanh()? + 1.0)? * 0.5)?;
    x * cdf
}

/// `jax.nn.softplus`: `log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|))`.
pub fn softplus(x: &Tensor) -> Result<Tensor> {
    x.relu()? + x.abs()?.neg()?.exp()?.log1p()?
}
