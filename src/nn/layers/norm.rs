//! `eqx.nn.LayerNorm` and `eqx.nn.GroupNorm` on batched input, computed as Equinox does:
//! `mean`, `var = mean((x - mean)^2)` clipped at 0, `(x - mean) * rsqrt(var + eps)`, then the
//! optional affine map (in at least f32).

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::Tensor;
use crate::nn::module::Init;
use crate::nn::tree::Builder;

/// Normalises `x` over `dims` (kept for broadcasting).
fn normalise(x: &Tensor, dims: &[usize], eps: f64) -> Result<Tensor> {
    let mean = x.mean(dims, true)?;
    let centered = (x - &mean)?;
    let var = centered.sqr()?.mean(dims, true)?;
    let var = var.maximum(&var.zeros_like()?)?;
    let inv = (var + eps)?.rsqrt()?;
    centered * inv
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

    /// Builds the fields `weight` (ones) and `bias` (zeros), where used.
    pub fn build<B: Builder>(&self, b: &B) -> Result<LayerNormTree<B::Leaf>> {
        let field = |used: bool, name: &str, init: Init| {
            used.then(|| b.array(name, self.shape.clone(), init))
                .transpose()
        };
        Ok(LayerNormTree {
            cfg: self.clone(),
            weight: field(self.use_weight, "weight", Init::Ones)?,
            bias: field(self.use_bias, "bias", Init::Zeros)?,
        })
    }
}

/// A built [`LayerNorm`]: its configuration and its optional affine fields.
#[derive(Clone, Debug)]
pub struct LayerNormTree<L> {
    /// The configuration.
    pub cfg: LayerNorm,
    /// Elementwise scale of shape `cfg.shape`.
    pub weight: Option<L>,
    /// Elementwise shift of shape `cfg.shape`.
    pub bias: Option<L>,
}

impl LayerNormTree<Tensor> {
    /// Normalises each sample of `x` (.., shape) over its trailing `shape` axes.
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        let shape = &self.cfg.shape;
        let n = shape.len();
        if x.rank() < n || x.dims()[x.rank() - n..] != shape[..] {
            return Err(Error::BadArgument(format!(
                "layer norm over trailing axes {shape:?} got input {:?}",
                x.dims()
            )));
        }
        let dims: Vec<usize> = (x.rank() - n..x.rank()).collect();
        in_f32(x, |xf| {
            affine(
                normalise(xf, &dims, self.cfg.eps)?,
                self.weight.as_ref(),
                self.bias.as_ref(),
                shape,
            )
        })
    }
}

/// Computes `f` in at least f32 (as Equinox does), returning the input's dtype.
fn in_f32(x: &Tensor, f: impl FnOnce(&Tensor) -> Result<Tensor>) -> Result<Tensor> {
    let xf = match x.dtype() {
        DType::F16 | DType::BF16 => x.convert(DType::F32)?,
        _ => x.clone(),
    };
    let out = f(&xf)?;
    if out.dtype() != x.dtype() {
        out.convert(x.dtype())
    } else {
        Ok(out)
    }
}

/// `weight * out + bias` (where present), the fields in `out`'s dtype and shaped `shape` to
/// broadcast against it.
fn affine(
    mut out: Tensor,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    shape: &[usize],
) -> Result<Tensor> {
    let dtype = out.dtype();
    let fit = |t: &Tensor| -> Result<Tensor> {
        let t = t.convert(dtype)?;
        if t.dims() == shape {
            Ok(t)
        } else {
            t.reshape(shape)
        }
    };
    if let Some(w) = weight {
        out = (fit(w)? * out)?;
    }
    if let Some(b) = bias {
        out = (out + fit(b)?)?;
    }
    Ok(out)
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

    /// Builds the fields `weight` (ones) and `bias` (zeros), if affine.
    pub fn build<B: Builder>(&self, b: &B) -> Result<GroupNormTree<B::Leaf>> {
        let affine = if self.channelwise_affine {
            Some((
                b.array("weight", vec![self.channels], Init::Ones)?,
                b.array("bias", vec![self.channels], Init::Zeros)?,
            ))
        } else {
            None
        };
        Ok(GroupNormTree { cfg: *self, affine })
    }
}

/// A built [`GroupNorm`]: its configuration and its optional `(weight, bias)`.
#[derive(Clone, Debug)]
pub struct GroupNormTree<L> {
    /// The configuration.
    pub cfg: GroupNorm,
    /// Per-channel scale and shift, if affine.
    pub affine: Option<(L, L)>,
}

impl GroupNormTree<Tensor> {
    /// Normalises `x` (B, channels, ..) over each group of channels and the spatial axes.
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        let GroupNorm {
            groups, channels, ..
        } = self.cfg;
        if groups == 0 || !channels.is_multiple_of(groups) {
            return Err(Error::BadArgument(format!(
                "group norm: {channels} channels do not split into {groups} groups"
            )));
        }
        if x.rank() < 2 || x.dims()[1] != channels {
            return Err(Error::BadArgument(format!(
                "group norm takes (batch, {channels}, ..) input, got {:?}",
                x.dims()
            )));
        }
        let mut gd = vec![x.dims()[0], groups, channels / groups];
        gd.extend_from_slice(&x.dims()[2..]);
        let dims: Vec<usize> = (2..gd.len()).collect();
        let mut bd = vec![channels];
        bd.extend(std::iter::repeat_n(1, x.rank() - 2));
        in_f32(x, |xf| {
            let out = normalise(&xf.reshape(&gd)?, &dims, self.cfg.eps)?.reshape(x.dims())?;
            let (w, b) = self.affine.as_ref().map(|(w, b)| (w, b)).unzip();
            affine(out, w, b, &bd)
        })
    }
}
