//! `eqx.nn.Linear`: `weight` (out, in), `bias` (out,), `y = weight @ x + bias` over the last
//! axis of a batched input.

use crate::error::{Error, Result};
use crate::graph::{DotDims, Tensor};
use crate::nn::module::Init;
use crate::nn::tree::Builder;

/// A linear layer's configuration (Equinox's `Linear(in_features, out_features, use_bias)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Linear {
    /// Input features.
    pub in_features: usize,
    /// Output features.
    pub out_features: usize,
    /// Whether there is a bias.
    pub use_bias: bool,
}

impl Linear {
    /// A layer with a bias.
    pub fn new(in_features: usize, out_features: usize) -> Linear {
        Linear {
            in_features,
            out_features,
            use_bias: true,
        }
    }

    /// The same without a bias.
    pub fn no_bias(self) -> Linear {
        Linear {
            use_bias: false,
            ..self
        }
    }

    /// Builds the layer with Equinox's initialisation: weight and bias uniform on
    /// `±1/sqrt(in_features)`.
    pub fn build<B: Builder>(&self, b: &B) -> Result<LinearTree<B::Leaf>> {
        let lim = 1.0 / (self.in_features as f64).sqrt();
        self.build_with(b, Init::Uniform { lim }, Init::Uniform { lim })
    }

    /// Builds the fields `weight` (out, in) and `bias` (out,) with given initialisations.
    pub fn build_with<B: Builder>(
        &self,
        b: &B,
        weight: Init,
        bias: Init,
    ) -> Result<LinearTree<B::Leaf>> {
        Ok(LinearTree {
            cfg: *self,
            weight: b.array("weight", vec![self.out_features, self.in_features], weight)?,
            bias: self
                .use_bias
                .then(|| b.array("bias", vec![self.out_features], bias))
                .transpose()?,
        })
    }
}

/// A built [`Linear`]: its configuration and its fields.
#[derive(Clone, Debug)]
pub struct LinearTree<L> {
    /// The configuration.
    pub cfg: Linear,
    /// `(out_features, in_features)`.
    pub weight: L,
    /// `(out_features,)`, if the layer has a bias.
    pub bias: Option<L>,
}

impl LinearTree<Tensor> {
    /// `x @ weight^T + bias` on `x` of shape `(.., in_features)`, giving `(.., out_features)`.
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        let w = &self.weight;
        if x.rank() == 0 || x.dims()[x.rank() - 1] != self.cfg.in_features {
            return Err(Error::ShapeMismatch {
                op: "linear",
                lhs: format!("{:?}", x.dims()),
                rhs: format!("{:?}", w.dims()),
                msg: format!(
                    "the layer takes {} input features on the last axis",
                    self.cfg.in_features
                ),
            });
        }
        let y = x.dot_general(
            w,
            &DotDims {
                lhs_contract: vec![x.rank() - 1],
                rhs_contract: vec![1],
                ..Default::default()
            },
        )?;
        add_bias(y, self.bias.as_ref())
    }

    /// [`apply`](LinearTree::apply) to `[x, c]` (concatenated on the last axis). With bf16
    /// products in XLA's kernels this is [`apply_split`](LinearTree::apply_split): an odd
    /// contraction length such as 257 halves the speed of XLA's CPU bf16 kernels, which take
    /// pairs along it. In f32, and with the host kernel (which pads the contraction itself),
    /// one product on the concatenation is faster: its weight gradient needs no padding back
    /// together.
    pub fn apply_parts(&self, parts: &[&Tensor; 2]) -> Result<Tensor> {
        let width: usize = parts
            .iter()
            .map(|t| t.dims().last().copied().unwrap_or(0))
            .sum();
        if width != self.cfg.in_features {
            // Its checks name the layer's expected width.
            return self.apply(&Tensor::cat(parts, -1)?);
        }
        // Split or concatenated, as the graph's build options decide.
        add_bias(
            Tensor::dense_on_cat(parts, &self.weight)?,
            self.bias.as_ref(),
        )
    }

    /// [`apply`](LinearTree::apply) to `[x, c]` without building the concatenation:
    /// `x @ W_x^T` plus the narrow block `c` (at most 4 columns, e.g. a time column) as
    /// broadcast products over the weight's last columns (a wider `c` is concatenated).
    pub fn apply_split(&self, parts: &[&Tensor; 2]) -> Result<Tensor> {
        let [x, c] = *parts;
        let (nx, nc) = (
            x.dims().last().copied().unwrap_or(0),
            c.dims().last().copied().unwrap_or(0),
        );
        if nc > 4 || nx + nc != self.cfg.in_features {
            return self.apply(&Tensor::cat(parts, -1)?);
        }
        add_bias(x.dense_split(c, &self.weight)?, self.bias.as_ref())
    }
}

/// `y + bias` where there is a bias (a layer's last step).
pub(crate) fn add_bias(y: Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    match bias {
        Some(b) => y + b,
        None => Ok(y),
    }
}

/// `eqx.nn.MLP(in_size, out_size, width_size, depth, activation, final_activation)`:
/// `depth + 1` [`Linear`] layers `layers.{i}` with `activation` between them and
/// `final_activation` after the last (Equinox's defaults: ReLU and the identity).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mlp {
    /// Input features.
    pub in_size: usize,
    /// Output features.
    pub out_size: usize,
    /// Hidden width.
    pub width_size: usize,
    /// Number of hidden layers (`depth + 1` linear layers).
    pub depth: usize,
    /// Activation between layers.
    pub activation: crate::nn::layers::Activation,
    /// Activation after the last layer.
    pub final_activation: crate::nn::layers::Activation,
}

impl Mlp {
    /// Equinox's defaults: ReLU between layers, identity at the end.
    pub fn new(in_size: usize, out_size: usize, width_size: usize, depth: usize) -> Mlp {
        Mlp {
            in_size,
            out_size,
            width_size,
            depth,
            activation: crate::nn::layers::Activation::Relu,
            final_activation: crate::nn::layers::Activation::Identity,
        }
    }

    fn layer(&self, i: usize) -> Linear {
        let fan_in = if i == 0 {
            self.in_size
        } else {
            self.width_size
        };
        let fan_out = if i == self.depth {
            self.out_size
        } else {
            self.width_size
        };
        Linear::new(fan_in, fan_out)
    }

    /// Builds the fields `layers.{i}` (Equinox's `Linear` initialisation).
    pub fn build<B: Builder>(&self, b: &B) -> Result<MlpTree<B::Leaf>> {
        Ok(MlpTree {
            cfg: *self,
            layers: b.seq("layers", self.depth + 1, |b, i| self.layer(i).build(b))?,
        })
    }
}

/// A built [`Mlp`]: its configuration and its layers.
#[derive(Clone, Debug)]
pub struct MlpTree<L> {
    /// The configuration.
    pub cfg: Mlp,
    /// The `depth + 1` linear layers.
    pub layers: Vec<LinearTree<L>>,
}

impl MlpTree<Tensor> {
    /// Applies the MLP to the last axis of `x` (.., in_size), giving (.., out_size).
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = x.clone();
        for (i, layer) in self.layers.iter().enumerate() {
            h = layer.apply(&h)?;
            h = if i < self.cfg.depth {
                self.cfg.activation.apply(&h)?
            } else {
                self.cfg.final_activation.apply(&h)?
            };
        }
        Ok(h)
    }
}
