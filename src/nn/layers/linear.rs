//! `eqx.nn.Linear`: `weight` (out, in), `bias` (out,), `y = weight @ x + bias` over the last
//! axis of a batched input.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::{DotDims, MatmulPrecision, Tensor};
use crate::nn::module::{Init, Leaf, Params, join};

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

    /// Equinox's leaves with its initialisation: weight and bias uniform on
    /// `±1/sqrt(in_features)`.
    pub fn leaves(&self, prefix: &str) -> Vec<Leaf> {
        let lim = 1.0 / (self.in_features as f64).sqrt();
        self.leaves_with(prefix, Init::Uniform { lim }, Init::Uniform { lim })
    }

    /// The leaves `prefix.weight` (out, in) and `prefix.bias` (out,) with given initialisations.
    pub fn leaves_with(&self, prefix: &str, weight: Init, bias: Init) -> Vec<Leaf> {
        let mut v = vec![Leaf::array(
            join(prefix, "weight"),
            DType::F32,
            vec![self.out_features, self.in_features],
            weight,
        )];
        if self.use_bias {
            v.push(Leaf::array(
                join(prefix, "bias"),
                DType::F32,
                vec![self.out_features],
                bias,
            ));
        }
        v
    }

    /// `x @ weight^T + bias` on `x` of shape `(.., in_features)`, giving `(.., out_features)`.
    pub fn apply(&self, p: &Params, prefix: &str, x: &Tensor) -> Result<Tensor> {
        let w = p.get(&join(prefix, "weight"))?;
        if w.dims() != [self.out_features, self.in_features] {
            return Err(Error::BadArgument(format!(
                "'{}' has shape {:?}, expected [{}, {}]",
                join(prefix, "weight"),
                w.dims(),
                self.out_features,
                self.in_features
            )));
        }
        if x.rank() == 0 || x.dims()[x.rank() - 1] != self.in_features {
            return Err(Error::ShapeMismatch {
                op: "linear",
                lhs: format!("{:?}", x.dims()),
                rhs: format!("{:?}", w.dims()),
                msg: format!(
                    "layer '{prefix}' takes {} input features on the last axis",
                    self.in_features
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
        if self.use_bias {
            y + p.get(&join(prefix, "bias"))?
        } else {
            Ok(y)
        }
    }

    /// [`apply`](Linear::apply) to `[x, c]` (concatenated on the last axis). With bf16 products
    /// in XLA's kernels this is [`apply_split`](Linear::apply_split): an odd contraction length
    /// such as 257 halves the speed of XLA's CPU bf16 kernels, which take pairs along it. In
    /// f32, and with the host kernel (which pads the contraction itself), one product on the
    /// concatenation is faster: its weight gradient needs no padding back together.
    pub fn apply_parts(&self, p: &Params, prefix: &str, parts: &[&Tensor; 2]) -> Result<Tensor> {
        let g = parts[0].graph();
        if g.matmul_precision() == MatmulPrecision::Bf16 && g.host_bf16_matmul().is_none() {
            self.apply_split(p, prefix, parts)
        } else {
            self.apply(p, prefix, &Tensor::cat(parts, -1)?)
        }
    }

    /// [`apply`](Linear::apply) to `[x, c]` without building the concatenation: `x @ W_x^T`
    /// plus the narrow block `c` (at most 4 columns, e.g. a time column) as broadcast products
    /// over the weight's last columns (a wider `c` is concatenated).
    pub fn apply_split(&self, p: &Params, prefix: &str, parts: &[&Tensor; 2]) -> Result<Tensor> {
        let [x, c] = *parts;
        let (nx, nc) = (
            x.dims().last().copied().unwrap_or(0),
            c.dims().last().copied().unwrap_or(0),
        );
        let w = p.get(&join(prefix, "weight"))?;
        if nc > 4
            || nx + nc != self.in_features
            || w.dims() != [self.out_features, self.in_features]
        {
            return self.apply(p, prefix, &Tensor::cat(parts, -1)?);
        }
        let wx = w.slice(&[0, 0], &[self.out_features, nx], &[1, 1])?;
        let mut y = x.dot_general(
            &wx,
            &DotDims {
                lhs_contract: vec![x.rank() - 1],
                rhs_contract: vec![1],
                ..Default::default()
            },
        )?;
        // Under bf16 products the narrow block's operands are rounded too, so the layer computes
        // what one product on the concatenation computes (up to the order of the f32 sums).
        let bf16 = x.graph().matmul_precision() == MatmulPrecision::Bf16 && w.dtype() == DType::F32;
        let round = |t: Tensor| -> Result<Tensor> {
            if bf16 {
                t.convert(DType::BF16)?.convert(DType::F32)
            } else {
                Ok(t)
            }
        };
        for k in 0..nc {
            let wk = w
                .slice(&[0, nx + k], &[self.out_features, nx + k + 1], &[1, 1])?
                .reshape(&[self.out_features])?;
            y = (y + (round(c.narrow(-1, k, 1)?)? * round(wk)?)?)?;
        }
        if self.use_bias {
            y + p.get(&join(prefix, "bias"))?
        } else {
            Ok(y)
        }
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

    /// The leaves `prefix.layers.{i}.{weight,bias}` (Equinox's `Linear` initialisation).
    pub fn leaves(&self, prefix: &str) -> Vec<Leaf> {
        (0..=self.depth)
            .flat_map(|i| self.layer(i).leaves(&join(prefix, &format!("layers.{i}"))))
            .collect()
    }

    /// Applies the MLP to the last axis of `x` (.., in_size), giving (.., out_size).
    pub fn apply(&self, p: &Params, prefix: &str, x: &Tensor) -> Result<Tensor> {
        let mut h = x.clone();
        for i in 0..=self.depth {
            h = self
                .layer(i)
                .apply(p, &join(prefix, &format!("layers.{i}")), &h)?;
            h = if i < self.depth {
                self.activation.apply(&h)?
            } else {
                self.final_activation.apply(&h)?
            };
        }
        Ok(h)
    }
}
