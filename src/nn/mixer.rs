//! sbgm 0.0.38's `Mixer2d` (config `kind = "mixer"`): an MLP-mixer on image patches.
//!
//! Per sample: the time `t / t1` gets sbgm's sinusoidal embedding `e(t)` (size
//! `embedding_dim`, with `t * 1000`); `[x, q]` (channels) is cut into patches by `conv_in`
//! (kernel = stride = `patch_size`) giving (hidden, patches); every block applies
//! `y += patch_mixer(AdaLN1(y, ctx))`, transposes, `y += hidden_mixer(AdaLN2(y, ctx))`,
//! transposes back, with the context `ctx = [a, e(t)]` (or `e(t)`); then `norm`, and the
//! Equinox transposed convolution `conv_out` back to (channels, height, width), and the
//! optional final activation. `AdaLN(y, ctx) = LN(y) * (1 + scale) + shift` with
//! `(scale, shift) = split(gelu(net(ctx)))` and a layer norm without weight and bias.

use crate::error::{Error, Result};
use crate::graph::Tensor;
use crate::nn::config::{MixerConfig, required};
use crate::nn::layers::{Activation, Conv2d, ConvTranspose2d, LayerNorm, Linear, Mlp, gelu_tanh};
use crate::nn::module::{ApplyMode, Leaf, Params, ScoreNet, join, time_column};

/// sbgm's `Mixer2d`.
#[derive(Clone, Debug, PartialEq)]
pub struct Mixer2d {
    /// (channels, height, width) of each sample.
    pub img_size: [usize; 3],
    /// Side of the square patches.
    pub patch_size: usize,
    /// Channels of the patch embedding.
    pub hidden_size: usize,
    /// Hidden width of the patch-mixing MLPs.
    pub mix_patch_size: usize,
    /// Hidden width of the channel-mixing MLPs.
    pub mix_hidden_size: usize,
    /// Number of mixer blocks.
    pub num_blocks: usize,
    /// Time scale.
    pub t1: f64,
    /// Size of the time embedding.
    pub embedding_dim: usize,
    /// Activation applied to the output.
    pub final_activation: Option<Activation>,
    /// Channels of `q`, if conditioned on it.
    pub q_dim: Option<usize>,
    /// Length of `a`, if conditioned on it.
    pub a_dim: Option<usize>,
}

impl Mixer2d {
    /// The network a config describes (`img_size` must be set, see
    /// [`ModelConfig::with_data`](crate::nn::ModelConfig::with_data)).
    pub fn new(c: &MixerConfig) -> Result<Mixer2d> {
        let img = required(c.img_size.as_ref(), "img_size")?;
        let img: [usize; 3] = match img.as_slice() {
            [ch, h, w] => [*ch, *h, *w],
            _ => {
                return Err(Error::BadArgument(format!(
                    "model.img_size must be [channels, height, width], got {img:?}"
                )));
            }
        };
        for (v, key) in [
            (img[0], "img_size[0] (channels)"),
            (c.patch_size, "patch_size"),
            (c.hidden_size, "hidden_size"),
            (c.mix_patch_size, "mix_patch_size"),
            (c.mix_hidden_size, "mix_hidden_size"),
        ] {
            if v == 0 {
                return Err(Error::BadArgument(format!(
                    "model.{key} must be at least 1"
                )));
            }
        }
        if !img[1].is_multiple_of(c.patch_size)
            || !img[2].is_multiple_of(c.patch_size)
            || img[1] == 0
            || img[2] == 0
        {
            return Err(Error::BadArgument(format!(
                "model.patch_size = {} must divide the image height {} and width {}",
                c.patch_size, img[1], img[2]
            )));
        }
        if c.embedding_dim < 4 || !c.embedding_dim.is_multiple_of(2) {
            return Err(Error::BadArgument(format!(
                "model.embedding_dim must be even and at least 4, got {}",
                c.embedding_dim
            )));
        }
        if !(c.t1.is_finite() && c.t1 > 0.0) {
            return Err(Error::BadArgument(format!(
                "model.t1 must be positive, got {}",
                c.t1
            )));
        }
        for (v, key) in [(c.q_dim, "q_dim"), (c.a_dim, "a_dim")] {
            if v == Some(0) {
                return Err(Error::BadArgument(format!(
                    "model.{key} must be at least 1"
                )));
            }
        }
        Ok(Mixer2d {
            img_size: img,
            patch_size: c.patch_size,
            hidden_size: c.hidden_size,
            mix_patch_size: c.mix_patch_size,
            mix_hidden_size: c.mix_hidden_size,
            num_blocks: c.num_blocks,
            t1: c.t1,
            embedding_dim: c.embedding_dim,
            final_activation: c.final_activation,
            q_dim: c.q_dim,
            a_dim: c.a_dim,
        })
    }

    fn patches(&self) -> (usize, usize) {
        (
            self.img_size[1] / self.patch_size,
            self.img_size[2] / self.patch_size,
        )
    }

    fn num_patches(&self) -> usize {
        let (h, w) = self.patches();
        h * w
    }

    fn context_dim(&self) -> usize {
        self.embedding_dim + self.a_dim.unwrap_or(0)
    }

    fn conv_in(&self) -> Conv2d {
        Conv2d::new(
            self.img_size[0] + self.q_dim.unwrap_or(0),
            self.hidden_size,
            self.patch_size,
        )
        .stride(self.patch_size)
    }

    fn conv_out(&self) -> ConvTranspose2d {
        ConvTranspose2d::new(self.hidden_size, self.img_size[0], self.patch_size)
            .stride(self.patch_size)
    }

    fn patch_mixer(&self) -> Mlp {
        let n = self.num_patches();
        Mlp::new(n, n, self.mix_patch_size, 1)
    }

    fn hidden_mixer(&self) -> Mlp {
        Mlp::new(self.hidden_size, self.hidden_size, self.mix_hidden_size, 1)
    }

    fn ada_net(&self) -> Linear {
        Linear::new(
            self.context_dim(),
            2 * self.hidden_size * self.num_patches(),
        )
    }

    fn block_leaves(&self, prefix: &str) -> Vec<Leaf> {
        let (hs, np) = (self.hidden_size, self.num_patches());
        let mut v = self.patch_mixer().leaves(&join(prefix, "patch_mixer"));
        v.extend(self.hidden_mixer().leaves(&join(prefix, "hidden_mixer")));
        v.push(Leaf::py_int(join(prefix, "num_patches"), np as i64));
        v.push(Leaf::py_int(join(prefix, "hidden_size"), hs as i64));
        for (norm, shape) in [("norm1", [hs, np]), ("norm2", [np, hs])] {
            let n = join(prefix, norm);
            v.extend(self.ada_net().leaves(&join(&n, "net")));
            v.push(Leaf::py_int(join(&n, "data_shape.0"), shape[0] as i64));
            v.push(Leaf::py_int(join(&n, "data_shape.1"), shape[1] as i64));
        }
        v.push(Leaf::py_int(
            join(prefix, "a_dim"),
            self.context_dim() as i64,
        ));
        v
    }

    /// `AdaLayerNorm`: `LN(y) * (1 + scale) + shift` from `gelu(net(ctx))`.
    fn ada_norm(
        &self,
        p: &Params,
        prefix: &str,
        y: &Tensor,
        ctx: &Tensor,
        shape: [usize; 2],
    ) -> Result<Tensor> {
        let b = y.dims()[0];
        let d = shape[0] * shape[1];
        let ss = gelu_tanh(&self.ada_net().apply(p, &join(prefix, "net"), ctx)?)?;
        let scale = ss.narrow(1, 0, d)?.reshape(&[b, shape[0], shape[1]])?;
        let shift = ss.narrow(1, d, d)?.reshape(&[b, shape[0], shape[1]])?;
        let n = LayerNorm::plain(&shape).apply(p, &join(prefix, "ln"), y)?;
        (n * (scale + 1.0)?)? + shift
    }

    fn block(&self, p: &Params, prefix: &str, y: &Tensor, ctx: &Tensor) -> Result<Tensor> {
        let (hs, np) = (self.hidden_size, self.num_patches());
        let n1 = self.ada_norm(p, &join(prefix, "norm1"), y, ctx, [hs, np])?;
        let y = (y + self
            .patch_mixer()
            .apply(p, &join(prefix, "patch_mixer"), &n1)?)?;
        let y = y.transpose(&[0, 2, 1])?;
        let n2 = self.ada_norm(p, &join(prefix, "norm2"), &y, ctx, [np, hs])?;
        let y = (&y
            + self
                .hidden_mixer()
                .apply(p, &join(prefix, "hidden_mixer"), &n2)?)?;
        y.transpose(&[0, 2, 1])
    }
}

/// sbgm's Mixer time embedding of a `(B, 1)` column of scaled times: with `h = dim / 2` and
/// `f_k = exp(-k log(10000) / (h - 1))`, `[sin(1000 t f), cos(1000 t f)]`, shape `(B, dim)`.
pub fn mixer_time_embedding(t: &Tensor, dim: usize) -> Result<Tensor> {
    let half = dim / 2;
    if !dim.is_multiple_of(2) || half < 2 {
        return Err(Error::BadArgument(format!(
            "the time embedding size must be even and at least 4, got {dim}"
        )));
    }
    let g = t.graph();
    let dt = t.dtype();
    // As sbgm computes it, in the data's float type: log(10000) / (half - 1), then
    // exp(arange(half) * -that).
    let scale = (g.scalar(10_000.0, dt)?.log()? / (half as f64 - 1.0))?;
    let k = g.iota(&[1, half], dt, 1)?;
    let freqs = k.mul(&scale.neg()?.broadcast_to(&[1, half])?)?.exp()?;
    let e = ((t * 1000.0)? * freqs)?;
    Tensor::cat(&[&e.sin()?, &e.cos()?], 1)
}

impl ScoreNet for Mixer2d {
    fn name(&self) -> &'static str {
        "Mixer2d"
    }

    fn leaves(&self) -> Vec<Leaf> {
        let mut v = self.conv_in().leaves("conv_in");
        v.extend(self.conv_out().leaves("conv_out"));
        for i in 0..self.num_blocks {
            v.extend(self.block_leaves(&format!("blocks.{i}")));
        }
        v.extend(LayerNorm::new(&[self.hidden_size, self.num_patches()]).leaves("norm"));
        v.push(Leaf::py_float("t1", self.t1));
        v.push(Leaf::py_int("embedding_dim", self.embedding_dim as i64));
        for (i, s) in self.img_size.iter().enumerate() {
            v.push(Leaf::py_int(format!("img_size.{i}"), *s as i64));
        }
        if let Some(q) = self.q_dim {
            v.push(Leaf::py_int("q_dim", q as i64));
        }
        if let Some(a) = self.a_dim {
            v.push(Leaf::py_int("a_dim", a as i64));
        }
        v
    }

    fn data_shape(&self) -> Vec<usize> {
        self.img_size.to_vec()
    }

    fn q_shape(&self) -> Option<Vec<usize>> {
        self.q_dim
            .map(|q| vec![q, self.img_size[1], self.img_size[2]])
    }

    fn a_dim(&self) -> Option<usize> {
        self.a_dim
    }

    fn apply(
        &self,
        p: &Params,
        t: &Tensor,
        x: &Tensor,
        q: Option<&Tensor>,
        a: Option<&Tensor>,
        _mode: &ApplyMode,
    ) -> Result<Tensor> {
        let b = self.check_inputs(t, x, q, a)?;
        let (ph, pw) = self.patches();
        let (hs, np) = (self.hidden_size, self.num_patches());
        let temb = mixer_time_embedding(&(time_column(t, b)? / self.t1)?, self.embedding_dim)?;
        let input = match q {
            Some(q) => Tensor::cat(&[x, q], 1)?,
            None => x.clone(),
        };
        let mut y = self
            .conv_in()
            .apply(p, "conv_in", &input)?
            .reshape(&[b, hs, np])?;
        let ctx = match a {
            Some(a) => Tensor::cat(&[a, &temb], 1)?,
            None => temb,
        };
        for i in 0..self.num_blocks {
            y = self.block(p, &format!("blocks.{i}"), &y, &ctx)?;
        }
        let y = LayerNorm::new(&[hs, np])
            .apply(p, "norm", &y)?
            .reshape(&[b, hs, ph, pw])?;
        let y = self.conv_out().apply(p, "conv_out", &y)?;
        match self.final_activation {
            Some(f) => f.apply(&y),
            None => Ok(y),
        }
    }
}
