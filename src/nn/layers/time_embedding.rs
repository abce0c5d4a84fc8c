//! Time embeddings of sbgm's UNet and DiT, batched: the UNet's random/learned Fourier
//! features and fixed sinusoidal embedding with its `TimeMLP` (which also takes the parameter
//! vector `a`), and the DiT's `TimestepEmbedding` MLP.

use crate::error::{Error, Result};
use crate::graph::Tensor;
use crate::nn::layers::gelu_tanh;
use crate::nn::layers::linear::{Linear, LinearTree};
use crate::nn::module::{Init, time_column};
use crate::nn::tree::Builder;

/// The UNet's time features (`TimeMLP.embed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FourierFeatures {
    /// sbgm's `RandomOrLearnedSinusoidalPosEmb(dim, is_random)`: fields `random` (Python
    /// bool) and `weights` (dim / 2,), standard normal. Features `[t, sin(2π t w), cos(2π t w)]`
    /// (dim + 1 values); with `random` the weights are held constant (`stop_gradient`).
    RandomOrLearned {
        /// Number of sine plus cosine features (even).
        dim: usize,
        /// Random (frozen) rather than learned frequencies.
        random: bool,
    },
    /// sbgm's `SinusoidalPosEmb(dim, theta)`: fields `dim` and `theta` (Python ints), no
    /// arrays. Features `[sin(t f), cos(t f)]` with `f_i = theta^(-i / (dim/2 - 1))`.
    ///
    /// Deviation: sbgm 0.0.38 concatenates the sines and cosines along a new leading axis,
    /// giving shape (2, dim / 2), and its UNet then fails in the first time Linear; here the
    /// features are the intended flat (dim,) vector `[sin.., cos..]`.
    Sinusoidal {
        /// Number of features (even, at least 4).
        dim: usize,
        /// Base of the frequencies (sbgm's default 10000).
        theta: usize,
    },
}

impl FourierFeatures {
    /// Checks the sizes.
    pub fn validate(&self) -> Result<()> {
        match *self {
            FourierFeatures::RandomOrLearned { dim, .. } if dim == 0 || dim % 2 != 0 => {
                Err(Error::config(
                    "model",
                    "learned_sinusoidal_dim",
                    format!("model.learned_sinusoidal_dim must be even and positive, got {dim}"),
                ))
            }
            FourierFeatures::Sinusoidal { dim, .. } if dim < 4 || dim % 2 != 0 => {
                Err(Error::config(
                    "model",
                    "dim",
                    format!(
                        "the sinusoidal time embedding has `dim` features and needs an even dim \
                         >= 4, got {dim} (or set learned_sinusoidal_cond / \
                         random_fourier_features)"
                    ),
                ))
            }
            FourierFeatures::Sinusoidal { theta, .. } if theta < 2 => Err(Error::config(
                "model",
                "sinusoidal_pos_emb_theta",
                format!("model.sinusoidal_pos_emb_theta must be at least 2, got {theta}"),
            )),
            _ => Ok(()),
        }
    }

    /// Number of features per time (sbgm's `fourier_dim`).
    pub fn out_dim(&self) -> usize {
        match *self {
            FourierFeatures::RandomOrLearned { dim, .. } => dim + 1,
            FourierFeatures::Sinusoidal { dim, .. } => dim,
        }
    }

    /// Builds every field in Equinox order.
    pub fn build<B: Builder>(&self, b: &B) -> Result<FourierTree<B::Leaf>> {
        Ok(match *self {
            FourierFeatures::RandomOrLearned { dim, random } => FourierTree::RandomOrLearned {
                random: b.py_bool("random", random),
                weights: b.array("weights", vec![dim / 2], Init::Normal { std: 1.0 })?,
            },
            FourierFeatures::Sinusoidal { dim, theta } => FourierTree::Sinusoidal {
                dim: b.py_int("dim", dim),
                theta: b.py_int("theta", theta),
            },
        })
    }
}

/// Built [`FourierFeatures`].
#[derive(Clone, Debug)]
pub enum FourierTree<L> {
    /// Random or learned frequencies.
    RandomOrLearned {
        /// Frozen (random) rather than learned.
        random: bool,
        /// `(dim / 2,)` frequencies.
        weights: L,
    },
    /// Fixed sinusoidal features.
    Sinusoidal {
        /// Number of features.
        dim: usize,
        /// Base of the frequencies.
        theta: usize,
    },
}

impl FourierTree<Tensor> {
    /// The features (B, out_dim) of times `t` ((B,) or a scalar for every sample).
    pub fn apply(&self, t: &Tensor, batch: usize) -> Result<Tensor> {
        let x = time_column(t, batch)?;
        match self {
            FourierTree::RandomOrLearned { random, weights } => {
                let w = if *random {
                    weights.stop_gradient()?
                } else {
                    weights.clone()
                };
                let freqs = (((&x * w)? * 2.0)? * std::f64::consts::PI)?;
                Tensor::cat(&[&x, &freqs.sin()?, &freqs.cos()?], 1)
            }
            FourierTree::Sinusoidal { dim, theta } => {
                let half = dim / 2;
                let step = (*theta as f64).ln() / (half as f64 - 1.0);
                let f: Vec<f64> = (0..half).map(|i| (-(i as f64) * step).exp()).collect();
                let f = t.graph().constant_f64(&[half], &f, x.dtype())?;
                let args = (&x * f)?;
                Tensor::cat(&[&args.sin()?, &args.cos()?], 1)
            }
        }
    }
}

/// sbgm's UNet `TimeMLP(embed, fourier_dim, time_dim, a_dim)`: fields `embed` and `layers`
/// = [Linear(fourier_dim (+ a_dim), time_dim), gelu, Linear(time_dim (+ a_dim), time_dim)],
/// the parameter vector `a` concatenated before each Linear.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeMlp {
    /// The time features.
    pub embed: FourierFeatures,
    /// Output size (sbgm: 4 × dim).
    pub time_dim: usize,
    /// Length of the parameter vector `a`, if the model takes one.
    pub a_dim: Option<usize>,
}

impl TimeMlp {
    fn layer(&self, i: usize) -> Linear {
        let a = self.a_dim.unwrap_or(0);
        let fan_in = if i == 0 {
            self.embed.out_dim()
        } else {
            self.time_dim
        };
        Linear::new(fan_in + a, self.time_dim)
    }

    /// Builds every field in Equinox order (`layers.1`, the activation, writes nothing).
    pub fn build<B: Builder>(&self, b: &B) -> Result<TimeMlpTree<B::Leaf>> {
        Ok(TimeMlpTree {
            embed: self.embed.build(&b.pp("embed"))?,
            layers: [
                self.layer(0).build(&b.pp("layers.0"))?,
                self.layer(1).build(&b.pp("layers.2"))?,
            ],
        })
    }
}

/// A built [`TimeMlp`].
#[derive(Clone, Debug)]
pub struct TimeMlpTree<L> {
    /// The time features.
    pub embed: FourierTree<L>,
    /// The two linear layers (`layers.0`, `layers.2`).
    pub layers: [LinearTree<L>; 2],
}

impl TimeMlpTree<Tensor> {
    /// The time embedding (B, time_dim) of `t` and, when the model takes it, `a` (B, a_dim).
    pub fn apply(&self, t: &Tensor, a: Option<&Tensor>, batch: usize) -> Result<Tensor> {
        let with_a = |h: Tensor| -> Result<Tensor> {
            match a {
                Some(a) => Tensor::cat(&[&h, a], 1),
                None => Ok(h),
            }
        };
        let h = self.embed.apply(t, batch)?;
        let h = self.layers[0].apply(&with_a(h)?)?;
        let h = gelu_tanh(&h)?;
        self.layers[1].apply(&with_a(h)?)
    }
}

/// The DiT's `TimestepEmbedding(embed_dim)`: fields `embed_dim` (Python int) and `mlp` =
/// Sequential([Linear(1, embed_dim), Lambda(gelu), Linear(embed_dim, embed_dim)]) applied to
/// `t` as a 1-vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimestepEmbedding {
    /// Output size.
    pub embed_dim: usize,
}

impl TimestepEmbedding {
    /// Builds every field in Equinox order (`mlp.layers.1`, the `Lambda`, writes nothing).
    pub fn build<B: Builder>(&self, b: &B) -> Result<TimestepEmbeddingTree<B::Leaf>> {
        let e = b.py_int("embed_dim", self.embed_dim);
        Ok(TimestepEmbeddingTree {
            layers: [
                Linear::new(1, e).build(&b.pp("mlp.layers.0"))?,
                Linear::new(e, e).build(&b.pp("mlp.layers.2"))?,
            ],
        })
    }
}

/// A built [`TimestepEmbedding`].
#[derive(Clone, Debug)]
pub struct TimestepEmbeddingTree<L> {
    /// `mlp.layers.0` and `mlp.layers.2`.
    pub layers: [LinearTree<L>; 2],
}

impl TimestepEmbeddingTree<Tensor> {
    /// The embedding (B, embed_dim) of `t` ((B,) or a scalar for every sample).
    pub fn apply(&self, t: &Tensor, batch: usize) -> Result<Tensor> {
        let h = self.layers[0].apply(&time_column(t, batch)?)?;
        self.layers[1].apply(&gelu_tanh(&h)?)
    }
}
