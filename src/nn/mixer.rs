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
use crate::nn::config::{MixerConfig, positive, positive_when_set, required, time_scale};
use crate::nn::layers::{
    Activation, Conv2d, ConvTranspose2d, ConvTree, LayerNorm, LayerNormTree, Linear, LinearTree,
    Mlp, MlpTree, gelu_tanh,
};
use crate::nn::module::{ApplyMode, Inputs, Model, NetShapes, time_column};
use crate::nn::tree::Builder;

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
                return Err(Error::config(
                    "model",
                    "img_size",
                    format!("model.img_size must be [channels, height, width], got {img:?}"),
                ));
            }
        };
        for (v, key) in [
            (img[0], "img_size[0] (channels)"),
            (c.patch_size, "patch_size"),
            (c.hidden_size, "hidden_size"),
            (c.mix_patch_size, "mix_patch_size"),
            (c.mix_hidden_size, "mix_hidden_size"),
        ] {
            positive(v, key)?;
        }
        if !img[1].is_multiple_of(c.patch_size)
            || !img[2].is_multiple_of(c.patch_size)
            || img[1] == 0
            || img[2] == 0
        {
            return Err(Error::config(
                "model",
                "patch_size",
                format!(
                    "model.patch_size = {} must divide the image height {} and width {}",
                    c.patch_size, img[1], img[2]
                ),
            ));
        }
        if c.embedding_dim < 4 || !c.embedding_dim.is_multiple_of(2) {
            return Err(Error::config(
                "model",
                "embedding_dim",
                format!(
                    "model.embedding_dim must be even and at least 4, got {}",
                    c.embedding_dim
                ),
            ));
        }
        time_scale(c.t1)?;
        positive_when_set(&[(c.q_dim, "q_dim"), (c.a_dim, "a_dim")])?;
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

    fn build_block<B: Builder>(&self, b: &B) -> Result<MixerBlock<B::Leaf>> {
        let (hs, np) = (self.hidden_size, self.num_patches());
        let patch_mixer = self.patch_mixer().build(&b.pp("patch_mixer"))?;
        let hidden_mixer = self.hidden_mixer().build(&b.pp("hidden_mixer"))?;
        b.py_int("num_patches", np);
        b.py_int("hidden_size", hs);
        let ada_norm = |name: &str, shape: [usize; 2]| -> Result<AdaLayerNorm<B::Leaf>> {
            let b = b.pp(name);
            let net = self.ada_net().build(&b.pp("net"))?;
            Ok(AdaLayerNorm {
                net,
                ln: LayerNorm::plain(&shape).build(&b.pp("ln"))?,
                shape: [
                    b.py_int("data_shape.0", shape[0]),
                    b.py_int("data_shape.1", shape[1]),
                ],
            })
        };
        let norm1 = ada_norm("norm1", [hs, np])?;
        let norm2 = ada_norm("norm2", [np, hs])?;
        b.py_int("a_dim", self.context_dim());
        Ok(MixerBlock {
            patch_mixer,
            hidden_mixer,
            norm1,
            norm2,
        })
    }
}

/// sbgm's Mixer `AdaLayerNorm`: `LN(y) * (1 + scale) + shift` with `(scale, shift)` from
/// `gelu(net(ctx))` and a layer norm without weight and bias.
pub struct AdaLayerNorm<L> {
    net: LinearTree<L>,
    ln: LayerNormTree<L>,
    shape: [usize; 2],
}

impl AdaLayerNorm<Tensor> {
    fn apply(&self, y: &Tensor, ctx: &Tensor) -> Result<Tensor> {
        let b = y.dims()[0];
        let shape = self.shape;
        let d = shape[0] * shape[1];
        let ss = gelu_tanh(&self.net.apply(ctx)?)?;
        let scale = ss.narrow(1, 0, d)?.reshape(&[b, shape[0], shape[1]])?;
        let shift = ss.narrow(1, d, d)?.reshape(&[b, shape[0], shape[1]])?;
        let n = self.ln.apply(y)?;
        (n * (scale + 1.0)?)? + shift
    }
}

/// One mixer block: patch mixing then channel mixing, each after an adaptive norm.
pub struct MixerBlock<L> {
    patch_mixer: MlpTree<L>,
    hidden_mixer: MlpTree<L>,
    norm1: AdaLayerNorm<L>,
    norm2: AdaLayerNorm<L>,
}

impl MixerBlock<Tensor> {
    fn apply(&self, y: &Tensor, ctx: &Tensor) -> Result<Tensor> {
        let n1 = self.norm1.apply(y, ctx)?;
        let y = (y + self.patch_mixer.apply(&n1)?)?;
        let y = y.transpose(&[0, 2, 1])?;
        let n2 = self.norm2.apply(&y, ctx)?;
        let y = (&y + self.hidden_mixer.apply(&n2)?)?;
        y.transpose(&[0, 2, 1])
    }
}

/// The tree of a [`Mixer2d`] (its Python scalars are the configuration's).
pub struct MixerTree<L> {
    conv_in: ConvTree<Conv2d, L>,
    conv_out: ConvTree<ConvTranspose2d, L>,
    blocks: Vec<MixerBlock<L>>,
    norm: LayerNormTree<L>,
    t1: f64,
    embedding_dim: usize,
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

impl Model for Mixer2d {
    const NAME: &'static str = "Mixer2d";
    type Tree<L> = MixerTree<L>;

    fn shapes(&self) -> NetShapes {
        NetShapes::image(self.img_size, self.q_dim, self.a_dim)
    }

    fn tree<B: Builder>(&self, b: &B) -> Result<MixerTree<B::Leaf>> {
        let norm = LayerNorm::new(&[self.hidden_size, self.num_patches()]);
        let tree = MixerTree {
            conv_in: self.conv_in().build(&b.pp("conv_in"))?,
            conv_out: self.conv_out().build(&b.pp("conv_out"))?,
            blocks: b.seq("blocks", self.num_blocks, |b, _| self.build_block(b))?,
            norm: norm.build(&b.pp("norm"))?,
            t1: b.py_float("t1", self.t1),
            embedding_dim: b.py_int("embedding_dim", self.embedding_dim),
        };
        for (i, s) in self.img_size.iter().enumerate() {
            b.py_int(&format!("img_size.{i}"), *s);
        }
        b.py_ints_when_set(&[("q_dim", self.q_dim), ("a_dim", self.a_dim)]);
        Ok(tree)
    }

    fn forward(&self, tree: &MixerTree<Tensor>, io: Inputs, _mode: &ApplyMode) -> Result<Tensor> {
        let Inputs { t, x, q, a, batch } = io;
        let b = batch;
        let (ph, pw) = self.patches();
        let (hs, np) = (self.hidden_size, self.num_patches());
        let temb = mixer_time_embedding(&(time_column(t, b)? / tree.t1)?, tree.embedding_dim)?;
        let input = match q {
            Some(q) => Tensor::cat(&[x, q], 1)?,
            None => x.clone(),
        };
        let mut y = tree.conv_in.apply(&input)?.reshape(&[b, hs, np])?;
        let ctx = match a {
            Some(a) => Tensor::cat(&[a, &temb], 1)?,
            None => temb,
        };
        for block in &tree.blocks {
            y = block.apply(&y, &ctx)?;
        }
        let y = tree.norm.apply(&y)?.reshape(&[b, hs, ph, pw])?;
        let y = tree.conv_out.apply(&y)?;
        match self.final_activation {
            Some(f) => f.apply(&y),
            None => Ok(y),
        }
    }
}
