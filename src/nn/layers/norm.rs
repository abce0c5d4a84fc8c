//! `eqx.nn.LayerNorm` and `eqx.nn.GroupNorm` on batched input, computed as Equinox does:
//! `mean`, `var = mean((x - mean)^2)` clipped at 0, `(x - mean) * rsqrt(var + eps)`, then the
//! optional affine map (in at least f32).

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::Tensor;
use crate::nn::module::{Init, Leaf, Params, join};

/// Normalises `x` over `dims` (kept for broadcasting).
fn normalise(x: &Tensor, dims: &[usize], eps: f64) -> Result<Tensor> {
    let mean = x.mean(dims, true)?;
    let centered = (x - &mean)?;
    let var = centered.sqr()?.mean(dims, true)?;
    let var = var.maximum(&var.zeros_like()?)?;
    let inv = (var + eps)?.rsqrt()?;
    centered * inv
}

/// Computes in at least f32 (as Equinox does), returning the input's dtype.
fn upcast(x: &Tensor) -> Result<Tensor> {
    match x.dtype() {
        DType::F16 | DType::BF16 => x.convert(DType::F32),
        _ => Ok(x.clone()),
    }
}

/// A layer norm's configuration (Equinox's `LayerNorm(shape, eps, use_weight, use_bias)`).
#[derive(Clone, Debug, PartialEq)]
pub struct LayerNorm {
    /// The normalised (trailing) shape of each sample.
    pub shape: Vec<usize>,
    /// Added to the variance.
    pub eps: f64,
    /// Whether there is an elementwise `weight` of shape `shape` (initialised to ones).
    pub use_weight: bool,
    /// Whether there is an elementwise `bias` of shape `shape` (initialised to zeros).
    pub use_bias: bool,
}

impl LayerNorm {
    /// Equinox's default: `eps = 1e-5`, with weight and bias.
    pub fn new(shape: &[usize]) -> LayerNorm {
        LayerNorm {
            shape: shape.to_vec(),
            eps: 1e-5,
            use_weight: true,
            use_bias: true,
        }
    }

    /// Without weight and bias (`use_weight=False, use_bias=False`).
    pub fn plain(shape: &[usize]) -> LayerNorm {
        LayerNorm {
            use_weight: false,
            use_bias: false,
            ..LayerNorm::new(shape)
        }
    }

    /// The leaves `prefix.weight` (ones) and `prefix.bias` (zeros), where used.
    pub fn leaves(&self, prefix: &str) -> Vec<Leaf> {
        let mut v = Vec::new();
        if self.use_weight {
            v.push(Leaf::array(
                join(prefix, "weight"),
                DType::F32,
                self.shape.clone(),
                Init::Ones,
            ));
        }
        if self.use_bias {
            v.push(Leaf::array(
                join(prefix, "bias"),
                DType::F32,
                self.shape.clone(),
                Init::Zeros,
            ));
        }
        v
    }

    /// Normalises each sample of `x` (.., shape) over its trailing `shape` axes.
    pub fn apply(&self, p: &Params, prefix: &str, x: &Tensor) -> Result<Tensor> {
        let n = self.shape.len();
        if x.rank() < n || x.dims()[x.rank() - n..] != self.shape[..] {
            return Err(Error::BadArgument(format!(
                "layer norm '{prefix}' normalises trailing axes {:?}, got input {:?}",
                self.shape,
                x.dims()
            )));
        }
        let orig = x.dtype();
        let xf = upcast(x)?;
        let dims: Vec<usize> = (x.rank() - n..x.rank()).collect();
        let mut out = normalise(&xf, &dims, self.eps)?;
        if self.use_weight {
            out = (p.get(&join(prefix, "weight"))?.convert(out.dtype())? * out)?;
        }
        if self.use_bias {
            out = (out + p.get(&join(prefix, "bias"))?.convert(xf.dtype())?)?;
        }
        if out.dtype() != orig {
            out = out.convert(orig)?;
        }
        Ok(out)
    }
}

/// A group norm's configuration (Equinox's `GroupNorm(groups, channels, eps,
/// channelwise_affine)`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GroupNorm {
    /// Number of groups (dividing `channels`).
    pub groups: usize,
    /// Number of channels (axis 1 of the batched input).
    pub channels: usize,
    /// Added to the variance.
    pub eps: f64,
    /// Whether there are per-channel `weight` (ones) and `bias` (zeros) of shape (channels,).
    pub channelwise_affine: bool,
}

impl GroupNorm {
    /// Equinox's default: `eps = 1e-5`, with the channelwise affine map.
    pub fn new(groups: usize, channels: usize) -> GroupNorm {
        GroupNorm {
            groups,
            channels,
            eps: 1e-5,
            channelwise_affine: true,
        }
    }

    /// The leaves `prefix.weight` (ones) and `prefix.bias` (zeros), if affine.
    pub fn leaves(&self, prefix: &str) -> Vec<Leaf> {
        if !self.channelwise_affine {
            return Vec::new();
        }
        vec![
            Leaf::array(
                join(prefix, "weight"),
                DType::F32,
                vec![self.channels],
                Init::Ones,
            ),
            Leaf::array(
                join(prefix, "bias"),
                DType::F32,
                vec![self.channels],
                Init::Zeros,
            ),
        ]
    }

    /// Normalises `x` (B, channels, ..) over each group of channels and the spatial axes.
    pub fn apply(&self, p: &Params, prefix: &str, x: &Tensor) -> Result<Tensor> {
        if self.groups == 0 || !self.channels.is_multiple_of(self.groups) {
            return Err(Error::BadArgument(format!(
                "group norm '{prefix}': {} channels do not split into {} groups",
                self.channels, self.groups
            )));
        }
        if x.rank() < 2 || x.dims()[1] != self.channels {
            return Err(Error::BadArgument(format!(
                "group norm '{prefix}' takes (batch, {}, ..) input, got {:?}",
                self.channels,
                x.dims()
            )));
        }
        let orig = x.dtype();
        let xf = upcast(x)?;
        let mut gd = vec![x.dims()[0], self.groups, self.channels / self.groups];
        gd.extend_from_slice(&x.dims()[2..]);
        let dims: Vec<usize> = (2..gd.len()).collect();
        let mut out = normalise(&xf.reshape(&gd)?, &dims, self.eps)?.reshape(x.dims())?;
        if self.channelwise_affine {
            let mut bd = vec![self.channels];
            bd.extend(std::iter::repeat_n(1, x.rank() - 2));
            let w = p
                .get(&join(prefix, "weight"))?
                .convert(out.dtype())?
                .reshape(&bd)?;
            let b = p
                .get(&join(prefix, "bias"))?
                .convert(out.dtype())?
                .reshape(&bd)?;
            out = ((w * out)? + b)?;
        }
        if out.dtype() != orig {
            out = out.convert(orig)?;
        }
        Ok(out)
    }
}
