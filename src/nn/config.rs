//! The `[model]` section of a config: `kind = "mlp" | "mixer" | "unet" | "dit"` and the
//! model's constructor arguments under sbgm 0.0.38's names. Unknown keys and values are errors
//! naming the key and the allowed values.
//!
//! ```
//! use sbgm_xla::nn::ModelConfig;
//! let c: ModelConfig = toml::from_str(r#"
//!     kind = "mlp"
//!     width_size = 256
//!     depth = 3
//!     activation = "tanh"
//!     in_size = 2
//! "#)?;
//! let net = c.build()?;
//! assert_eq!(net.data_shape(), vec![2]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::nn::dit::DiT;
use crate::nn::layers::Activation;
use crate::nn::mixer::Mixer2d;
use crate::nn::mlp::ResidualNetwork;
use crate::nn::module::ScoreNet;
use crate::nn::unet::UNet;

/// A model configuration: which sbgm network and its constructor arguments.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ModelConfig {
    /// sbgm's `ResidualNetwork`.
    Mlp(MlpConfig),
    /// sbgm's `Mixer2d`.
    Mixer(MixerConfig),
    /// sbgm's `UNet`.
    Unet(UnetConfig),
    /// sbgm's `DiT`.
    Dit(DitConfig),
}

fn one() -> f64 {
    1.0
}

/// `ResidualNetwork(in_size, width_size, depth, q_dim, a_dim, activation, dropout_p, t1)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlpConfig {
    /// Size of each (flat) sample; filled from the data when unset.
    #[serde(default)]
    pub in_size: Option<usize>,
    /// Width of the hidden layers.
    pub width_size: usize,
    /// Number of residual layers.
    pub depth: usize,
    /// Length of the conditioning vector `q` (None: no `q`).
    #[serde(default)]
    pub q_dim: Option<usize>,
    /// Length of the conditioning vector `a` (None: no `a`).
    #[serde(default)]
    pub a_dim: Option<usize>,
    /// Activation after each residual layer (sbgm's default `tanh`).
    #[serde(default)]
    pub activation: Activation,
    /// Dropout probability after each residual layer (default 0).
    #[serde(default)]
    pub dropout_p: f64,
    /// Times are divided by `t1` (the SDE's end time; default 1).
    #[serde(default = "one")]
    pub t1: f64,
}

fn embedding_dim() -> usize {
    8
}

/// `Mixer2d(img_size, patch_size, hidden_size, mix_patch_size, mix_hidden_size, num_blocks,
/// t1, embedding_dim, final_activation, q_dim, a_dim)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MixerConfig {
    /// (channels, height, width) of each sample; filled from the data when unset.
    #[serde(default)]
    pub img_size: Option<Vec<usize>>,
    /// Side of the square patches (divides height and width).
    pub patch_size: usize,
    /// Channels of the patch embedding.
    pub hidden_size: usize,
    /// Hidden width of the patch-mixing MLPs.
    pub mix_patch_size: usize,
    /// Hidden width of the channel-mixing MLPs.
    pub mix_hidden_size: usize,
    /// Number of mixer blocks.
    pub num_blocks: usize,
    /// Times are divided by `t1` (default 1).
    #[serde(default = "one")]
    pub t1: f64,
    /// Size of the sinusoidal time embedding (even; default 8).
    #[serde(default = "embedding_dim")]
    pub embedding_dim: usize,
    /// Activation applied to the output (default none).
    #[serde(default)]
    pub final_activation: Option<Activation>,
    /// Channels of the conditioning map `q` (same height and width as x; None: no `q`).
    #[serde(default)]
    pub q_dim: Option<usize>,
    /// Length of the conditioning vector `a` (None: no `a`).
    #[serde(default)]
    pub a_dim: Option<usize>,
}

/// One value for every stage, or one per stage (sbgm's `cast_tuple` arguments).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PerStage<T> {
    /// The same value for every stage.
    One(T),
    /// One value per stage.
    Each(Vec<T>),
}

impl<T: Clone> PerStage<T> {
    /// The values of `n` stages, or an error naming `key` if a list has another length.
    pub fn per_stage(&self, n: usize, key: &str) -> Result<Vec<T>> {
        match self {
            PerStage::One(v) => Ok(vec![v.clone(); n]),
            PerStage::Each(v) if v.len() == n => Ok(v.clone()),
            PerStage::Each(v) => Err(Error::config(
                "model",
                key,
                format!(
                    "model.{key} has {} entries but there are {n} stages (one per dim_mults \
                     entry)",
                    v.len()
                ),
            )),
        }
    }
}

fn dim_mults() -> Vec<usize> {
    vec![1, 2, 4, 8]
}
fn learned_sinusoidal_dim() -> usize {
    16
}
fn theta() -> usize {
    10_000
}
fn attn_dim_head() -> PerStage<usize> {
    PerStage::One(32)
}
fn attn_heads() -> PerStage<usize> {
    PerStage::One(4)
}
fn full_attn() -> PerStage<bool> {
    PerStage::One(false)
}

/// `UNet(dim, init_dim, out_dim, dim_mults, channels, q_channels, a_dim, learned_variance,
/// learned_sinusoidal_cond, random_fourier_features, learned_sinusoidal_dim,
/// sinusoidal_pos_emb_theta, dropout, attn_dim_head, attn_heads, full_attn, flash_attn)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnetConfig {
    /// (channels, height, width) of each sample; filled from the data when unset (sbgm's
    /// UNet takes any size, but a score network here has a fixed data shape).
    #[serde(default)]
    pub data_shape: Option<Vec<usize>>,
    /// Base channel count.
    pub dim: usize,
    /// Channels after the first convolution (default `dim`).
    #[serde(default)]
    pub init_dim: Option<usize>,
    /// Output channels (default `channels`, doubled with `learned_variance`).
    #[serde(default)]
    pub out_dim: Option<usize>,
    /// Channel multipliers of the stages (default [1, 2, 4, 8]).
    #[serde(default = "dim_mults")]
    pub dim_mults: Vec<usize>,
    /// Channels of each sample; filled from the data when unset (sbgm's default 1).
    #[serde(default)]
    pub channels: Option<usize>,
    /// Channels of the conditioning map `q` (None: no `q`).
    #[serde(default)]
    pub q_channels: Option<usize>,
    /// Length of the conditioning vector `a` (None: no `a`).
    #[serde(default)]
    pub a_dim: Option<usize>,
    /// Whether the output has twice the channels.
    #[serde(default)]
    pub learned_variance: bool,
    /// Learned sinusoidal time features.
    #[serde(default)]
    pub learned_sinusoidal_cond: bool,
    /// Random (fixed) Fourier time features.
    #[serde(default)]
    pub random_fourier_features: bool,
    /// Size of the learned/random sinusoidal features (default 16).
    #[serde(default = "learned_sinusoidal_dim")]
    pub learned_sinusoidal_dim: usize,
    /// Base of the fixed sinusoidal embedding (default 10000).
    #[serde(default = "theta")]
    pub sinusoidal_pos_emb_theta: usize,
    /// Dropout probability in the residual blocks (default 0).
    #[serde(default)]
    pub dropout: f64,
    /// Channels per attention head, one value or one per stage (default 32).
    #[serde(default = "attn_dim_head")]
    pub attn_dim_head: PerStage<usize>,
    /// Attention heads, one value or one per stage (default 4).
    #[serde(default = "attn_heads")]
    pub attn_heads: PerStage<usize>,
    /// Full (instead of linear) attention, one value or one per stage (default: only the
    /// innermost stage).
    #[serde(default = "full_attn")]
    pub full_attn: PerStage<bool>,
    /// sbgm's flash-attention switch (same numbers).
    #[serde(default)]
    pub flash_attn: bool,
}

/// `DiT(img_size, patch_size, channels, embed_dim, depth, n_heads, q_dim, a_dim)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DitConfig {
    /// Side of the square images; filled from the data when unset.
    #[serde(default)]
    pub img_size: Option<usize>,
    /// Side of the square patches.
    pub patch_size: usize,
    /// Channels of each sample; filled from the data when unset.
    #[serde(default)]
    pub channels: Option<usize>,
    /// Width of the transformer.
    pub embed_dim: usize,
    /// Number of transformer blocks.
    pub depth: usize,
    /// Attention heads.
    pub n_heads: usize,
    /// Channels of the conditioning map `q` (None: no `q`).
    #[serde(default)]
    pub q_dim: Option<usize>,
    /// Length of the conditioning vector `a` (None: no `a`).
    #[serde(default)]
    pub a_dim: Option<usize>,
}

/// Sets `slot` to `v` if unset, or checks that it equals `v`.
fn fill<T: PartialEq + std::fmt::Debug + Clone>(
    slot: &mut Option<T>,
    v: T,
    key: &str,
    what: &str,
) -> Result<()> {
    match slot {
        None => {
            *slot = Some(v);
            Ok(())
        }
        Some(s) if *s == v => Ok(()),
        Some(s) => Err(Error::config(
            "model",
            key,
            format!(
                "model.{key} = {s:?} but the {what} gives {v:?}; remove model.{key} or fix the data"
            ),
        )),
    }
}

/// `q` conditioning must be present in the data exactly when the model asks for it.
fn fill_cond(slot: &mut Option<usize>, v: Option<usize>, key: &str, what: &str) -> Result<()> {
    match (slot.as_ref(), v) {
        (_, Some(v)) => fill(slot, v, key, what),
        (Some(s), None) => Err(Error::config(
            "model",
            key,
            format!(
                "model.{key} = {s} but the data has no {what}; remove model.{key} or add it to \
                 the data"
            ),
        )),
        (None, None) => Ok(()),
    }
}

fn image_shape(data_shape: &[usize], kind: &str) -> Result<[usize; 3]> {
    match data_shape {
        [c, h, w] => Ok([*c, *h, *w]),
        _ => Err(Error::config(
            "model",
            "kind",
            format!(
                "the {kind} model takes images (channels, height, width), but the data samples \
                 have shape {data_shape:?}"
            ),
        )),
    }
}

fn map_channels(q_shape: Option<&[usize]>, data: [usize; 3]) -> Result<Option<usize>> {
    match q_shape {
        None => Ok(None),
        Some([c, h, w]) if *h == data[1] && *w == data[2] => Ok(Some(*c)),
        Some(s) => Err(Error::config(
            "model",
            "q_dim",
            format!(
                "the conditioning map q must be (channels, {}, {}) like the data, got {s:?}",
                data[1], data[2]
            ),
        )),
    }
}

impl ModelConfig {
    /// The config's `kind` (`mlp`, `mixer`, `unet` or `dit`).
    pub fn kind(&self) -> &'static str {
        match self {
            ModelConfig::Mlp(_) => "mlp",
            ModelConfig::Mixer(_) => "mixer",
            ModelConfig::Unet(_) => "unet",
            ModelConfig::Dit(_) => "dit",
        }
    }

    /// Reads a `[model]` table from TOML text (the table's contents, not the whole file).
    pub fn from_toml(text: &str) -> Result<ModelConfig> {
        toml::from_str(text).map_err(|e| {
            Error::BadArgument(format!("bad [model] config: {}", e.to_string().trim_end()))
        })
    }

    /// Fills the shapes sbgm takes from the data (`in_size`, `img_size`, `channels`, the
    /// conditioning sizes) from one sample's shape, the conditioning map's shape and the
    /// parameter vector's length, and checks the ones already set against them.
    pub fn with_data(
        mut self,
        data_shape: &[usize],
        q_shape: Option<&[usize]>,
        a_dim: Option<usize>,
    ) -> Result<ModelConfig> {
        match &mut self {
            ModelConfig::Mlp(c) => {
                fill(
                    &mut c.in_size,
                    data_shape.iter().product(),
                    "in_size",
                    "data sample size",
                )?;
                let q = match q_shape {
                    None => None,
                    Some([n]) => Some(*n),
                    Some(s) => {
                        return Err(Error::config(
                            "model",
                            "q_dim",
                            format!(
                                "the mlp model takes a conditioning vector q, got q samples of \
                                 shape {s:?}"
                            ),
                        ));
                    }
                };
                fill_cond(&mut c.q_dim, q, "q_dim", "conditioning q")?;
                fill_cond(&mut c.a_dim, a_dim, "a_dim", "parameter vector a")?;
            }
            ModelConfig::Mixer(c) => {
                let img = image_shape(data_shape, "mixer")?;
                fill(&mut c.img_size, img.to_vec(), "img_size", "data")?;
                let q = map_channels(q_shape, img)?;
                fill_cond(&mut c.q_dim, q, "q_dim", "conditioning map q")?;
                fill_cond(&mut c.a_dim, a_dim, "a_dim", "parameter vector a")?;
            }
            ModelConfig::Unet(c) => {
                let img = image_shape(data_shape, "unet")?;
                fill(&mut c.data_shape, img.to_vec(), "data_shape", "data")?;
                fill(&mut c.channels, img[0], "channels", "data")?;
                let q = map_channels(q_shape, img)?;
                fill_cond(&mut c.q_channels, q, "q_channels", "conditioning map q")?;
                fill_cond(&mut c.a_dim, a_dim, "a_dim", "parameter vector a")?;
            }
            ModelConfig::Dit(c) => {
                let img = image_shape(data_shape, "dit")?;
                if img[1] != img[2] {
                    return Err(Error::config(
                        "model",
                        "img_size",
                        format!(
                            "the dit model takes square images, got {}x{}",
                            img[1], img[2]
                        ),
                    ));
                }
                fill(&mut c.img_size, img[1], "img_size", "data")?;
                fill(&mut c.channels, img[0], "channels", "data")?;
                let q = map_channels(q_shape, img)?;
                fill_cond(&mut c.q_dim, q, "q_dim", "conditioning map q")?;
                fill_cond(&mut c.a_dim, a_dim, "a_dim", "parameter vector a")?;
            }
        }
        Ok(self)
    }

    /// Builds the network.
    pub fn build(&self) -> Result<Box<dyn ScoreNet>> {
        build(self)
    }
}

/// Builds the network a config describes.
pub fn build(config: &ModelConfig) -> Result<Box<dyn ScoreNet>> {
    match config {
        ModelConfig::Mlp(c) => Ok(Box::new(ResidualNetwork::new(c)?)),
        ModelConfig::Mixer(c) => Ok(Box::new(Mixer2d::new(c)?)),
        ModelConfig::Unet(c) => Ok(Box::new(UNet::new(c)?)),
        ModelConfig::Dit(c) => Ok(Box::new(DiT::new(c)?)),
    }
}

/// Checks that the size `model.{key}` is positive.
pub(crate) fn positive(v: usize, key: &str) -> Result<()> {
    if v == 0 {
        return Err(Error::config(
            "model",
            key,
            format!("model.{key} must be positive"),
        ));
    }
    Ok(())
}

/// Checks that each optional size (`q_dim`, `a_dim`, ...) is positive when set.
pub(crate) fn positive_when_set(sizes: &[(Option<usize>, &str)]) -> Result<()> {
    for &(v, key) in sizes {
        if let Some(v) = v {
            positive(v, key)?;
        }
    }
    Ok(())
}

/// Checks that a probability `model.{key}` is in `[0, 1)`.
pub(crate) fn probability(p: f64, key: &str) -> Result<()> {
    if p.is_nan() || !(0.0..1.0).contains(&p) {
        return Err(Error::config(
            "model",
            key,
            format!("model.{key} must be in [0, 1), got {p}"),
        ));
    }
    Ok(())
}

/// Checks the time scale `model.t1`.
pub(crate) fn time_scale(t1: f64) -> Result<()> {
    if !(t1.is_finite() && t1 > 0.0) {
        return Err(Error::config(
            "model",
            "t1",
            format!("model.t1 must be positive, got {t1}"),
        ));
    }
    Ok(())
}

/// A required size in a config, or an error saying how to set it.
pub(crate) fn required<T: Copy>(v: Option<T>, key: &str) -> Result<T> {
    v.ok_or_else(|| {
        Error::config(
            "model",
            key,
            format!(
                "model.{key} is not set: set it in the [model] config, or build the config with \
                 ModelConfig::with_data (the train command fills it from the data)"
            ),
        )
    })
}
