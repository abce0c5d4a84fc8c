//! sbgm 0.0.38's `UNet` score network with its exact Equinox parameter tree.
//!
//! Per sample it computes what sbgm's `UNet.__call__(t, x, q, a)` does: `q` is concatenated
//! to `x` before `init_conv` and again before `final_conv`; `t` (not divided by `t1`) goes
//! through the Fourier features and `TimeMLP`, with `a` concatenated before each of its
//! Linear layers; the down path stores two skips per stage, the up path consumes them.
//! Dropout (in each residual block's first `Block`) is active in training only.
//!
//! Leaf order (dataclass fields): `channels`, `init_conv`, `random_or_learned_sinusoidal_cond`,
//! `time_mlp`, `downs`, `ups`, `mid_block1`, `mid_attn`, `mid_block2`, `out_dim`,
//! `final_res_block`, `final_conv`, `q_channels`, `a_dim` (the last two only when set).

use crate::error::{Error, Result};
use crate::graph::{DotDims, Tensor};
use crate::nn::config::{PerStage, UnetConfig, positive, positive_when_set, probability, required};
use crate::nn::layers::Activation;
use crate::nn::layers::attention::{
    Attention, AttentionDims, AttentionTree, LinearAttention, LinearAttentionTree, RmsNorm,
    RmsNormTree,
};
use crate::nn::layers::conv::{Conv2d, ConvTree};
use crate::nn::layers::dropout::Dropout;
use crate::nn::layers::linear::{Linear, LinearTree};
use crate::nn::layers::time_embedding::{FourierFeatures, TimeMlp, TimeMlpTree};
use crate::nn::module::{ApplyMode, Inputs, Model, NetShapes};
use crate::nn::tree::Builder;

/// sbgm's `Block(dim, dim_out, dropout)`: fields `proj` (3×3 conv), `norm` (RMS), `dropout`;
/// `dropout(silu(norm(proj(x)) * (scale + 1) + shift))`.
pub struct Block<L> {
    proj: ConvTree<Conv2d, L>,
    norm: RmsNormTree<L>,
    dropout: Dropout,
}

fn block<B: Builder>(dim: usize, dim_out: usize, dropout: f64, b: &B) -> Result<Block<B::Leaf>> {
    Ok(Block {
        proj: Conv2d::new(dim, dim_out, 3)
            .padding(1)
            .build(&b.pp("proj"))?,
        norm: RmsNorm::new(dim_out).build(&b.pp("norm"))?,
        dropout: Dropout { p: dropout }.build(&b.pp("dropout")),
    })
}

impl Block<Tensor> {
    fn apply(
        &self,
        x: &Tensor,
        scale_shift: Option<(&Tensor, &Tensor)>,
        mode: &ApplyMode,
    ) -> Result<Tensor> {
        let h = self.proj.apply(x)?;
        let mut h = self.norm.apply(&h)?;
        if let Some((scale, shift)) = scale_shift {
            h = ((h * (scale + 1.0)?)? + shift)?;
        }
        self.dropout.apply(&Activation::Silu.apply(&h)?, mode)
    }
}

/// sbgm's `ResnetBlock(dim, dim_out, time_emb_dim, dropout)`: fields `mlp` (Linear
/// time_emb_dim → 2 dim_out), `block1` (with dropout), `block2` (without), `res_conv` (1×1
/// conv when `dim != dim_out`, else the identity, which writes nothing).
#[derive(Clone, Copy, Debug, PartialEq)]
struct ResnetBlock {
    dim: usize,
    dim_out: usize,
    time_emb_dim: usize,
    dropout: f64,
}

impl ResnetBlock {
    fn build<B: Builder>(&self, b: &B) -> Result<ResnetTree<B::Leaf>> {
        Ok(ResnetTree {
            dim_out: self.dim_out,
            mlp: Linear::new(self.time_emb_dim, self.dim_out * 2).build(&b.pp("mlp"))?,
            block1: block(self.dim, self.dim_out, self.dropout, &b.pp("block1"))?,
            block2: block(self.dim_out, self.dim_out, 0.0, &b.pp("block2"))?,
            res_conv: (self.dim != self.dim_out)
                .then(|| Conv2d::new(self.dim, self.dim_out, 1).build(&b.pp("res_conv")))
                .transpose()?,
        })
    }
}

/// A built residual block (sbgm's `ResnetBlock`).
pub struct ResnetTree<L> {
    dim_out: usize,
    mlp: LinearTree<L>,
    block1: Block<L>,
    block2: Block<L>,
    res_conv: Option<ConvTree<Conv2d, L>>,
}

impl ResnetTree<Tensor> {
    fn apply(&self, x: &Tensor, time_emb: &Tensor, mode: &ApplyMode) -> Result<Tensor> {
        let b = x.dims()[0];
        let e = self.mlp.apply(&Activation::Silu.apply(time_emb)?)?;
        let e = e.reshape(&[b, self.dim_out * 2, 1, 1])?;
        let ss = e.chunk(2, 1)?;
        let h = self.block1.apply(x, Some((&ss[0], &ss[1])), mode)?;
        let h = self.block2.apply(&h, None, mode)?;
        let res = match &self.res_conv {
            Some(c) => c.apply(x)?,
            None => x.clone(),
        };
        h + res
    }
}

/// An attention layer of a stage: linear or full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StageAttention {
    Linear(LinearAttention),
    Full(Attention),
}

/// A built stage attention: linear or full.
pub enum StageAttentionTree<L> {
    /// Linear attention.
    Linear(LinearAttentionTree<L>),
    /// Full attention.
    Full(AttentionTree<L>),
}

impl StageAttention {
    fn new(full: bool, dims: AttentionDims) -> StageAttention {
        if full {
            StageAttention::Full(Attention(dims))
        } else {
            StageAttention::Linear(LinearAttention(dims))
        }
    }
    fn build<B: Builder>(&self, b: &B) -> Result<StageAttentionTree<B::Leaf>> {
        Ok(match self {
            StageAttention::Linear(a) => StageAttentionTree::Linear(a.build(b)?),
            StageAttention::Full(a) => StageAttentionTree::Full(a.build(b)?),
        })
    }
}

impl StageAttentionTree<Tensor> {
    /// `attn(x) + x`.
    fn residual(&self, x: &Tensor) -> Result<Tensor> {
        let y = match self {
            StageAttentionTree::Linear(a) => a.apply(x)?,
            StageAttentionTree::Full(a) => a.apply(x)?,
        };
        y + x
    }
}

/// The resampling layer ending a stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Resample {
    /// sbgm's `Downsample`: space-to-depth (2×2) then a 1×1 conv (field `conv`).
    Down,
    /// sbgm's `Upsample`: bilinear ×2 (`jax.image.resize`) then a 3×3 conv (field `conv`).
    Up,
    /// A plain 3×3 conv (the last stage of each path).
    Conv,
}

/// A built resampling layer: its kind and its conv.
pub struct ResampleTree<L> {
    kind: Resample,
    conv: ConvTree<Conv2d, L>,
}

impl Resample {
    fn build<B: Builder>(self, conv: Conv2d, b: &B) -> Result<ResampleTree<B::Leaf>> {
        let b = match self {
            Resample::Down | Resample::Up => b.pp("conv"),
            Resample::Conv => b.pp(""),
        };
        Ok(ResampleTree {
            kind: self,
            conv: conv.build(&b)?,
        })
    }
}

impl ResampleTree<Tensor> {
    fn apply(&self, x: &Tensor) -> Result<Tensor> {
        match self.kind {
            Resample::Down => self.conv.apply(&space_to_depth(x)?),
            Resample::Up => self.conv.apply(&upsample_bilinear_2x(x)?),
            Resample::Conv => self.conv.apply(x),
        }
    }
}

/// `rearrange(x, 'c (h p1) (w p2) -> (c p1 p2) h w', p1=2, p2=2)` per sample.
pub fn space_to_depth(x: &Tensor) -> Result<Tensor> {
    let d = x.dims();
    if x.rank() != 4 || !d[2].is_multiple_of(2) || !d[3].is_multiple_of(2) {
        return Err(Error::BadArgument(format!(
            "downsampling needs (batch, channels, even height, even width), got {d:?}"
        )));
    }
    let (b, c, h, w) = (d[0], d[1], d[2] / 2, d[3] / 2);
    x.reshape(&[b, c, h, 2, w, 2])?
        .transpose(&[0, 1, 3, 5, 2, 4])?
        .reshape(&[b, c * 4, h, w])
}

/// `jax.image.resize` weights (in, out) for a linear (triangle) kernel, scale 2, no
/// translation: output `o` samples input coordinate `(o + 0.5) / 2 - 0.5`, weights renormalised
/// over the inputs in range (so edges repeat the border value).
fn bilinear_weights(n: usize) -> Vec<f64> {
    let out = 2 * n;
    let mut w = vec![0.0; n * out];
    for o in 0..out {
        let s = (o as f64 + 0.5) / 2.0 - 0.5;
        let col: Vec<f64> = (0..n)
            .map(|i| (1.0 - (s - i as f64).abs()).max(0.0))
            .collect();
        let total: f64 = col.iter().sum();
        for (i, v) in col.iter().enumerate() {
            w[i * out + o] = if total > 0.0 { v / total } else { 0.0 };
        }
    }
    w
}

/// `jax.image.resize(x, (c, 2h, 2w), method='bilinear')` per sample of `x` (B, C, H, W).
pub fn upsample_bilinear_2x(x: &Tensor) -> Result<Tensor> {
    if x.rank() != 4 {
        return Err(Error::BadArgument(format!(
            "upsampling takes (batch, channels, height, width), got {:?}",
            x.dims()
        )));
    }
    let (h, w) = (x.dims()[2], x.dims()[3]);
    let g = x.graph();
    let wh = g.constant_f64(&[h, 2 * h], &bilinear_weights(h), x.dtype())?;
    let ww = g.constant_f64(&[w, 2 * w], &bilinear_weights(w), x.dtype())?;
    let contract = |lhs: &Tensor, rhs: &Tensor, d: usize| {
        lhs.dot_general(
            rhs,
            &DotDims {
                lhs_contract: vec![d],
                rhs_contract: vec![0],
                ..Default::default()
            },
        )
    };
    // (B, C, H, W) x (H, 2H) -> (B, C, W, 2H); x (W, 2W) -> (B, C, 2H, 2W)
    let y = contract(x, &wh, 2)?;
    contract(&y, &ww, 2)
}

/// One down or up stage: two residual blocks, attention, resampling.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Stage {
    block1: ResnetBlock,
    block2: ResnetBlock,
    attn: StageAttention,
    resample: (Resample, Conv2d),
}

/// A built down or up stage (fields `0`..`3`).
pub struct StageTree<L> {
    block1: ResnetTree<L>,
    block2: ResnetTree<L>,
    attn: StageAttentionTree<L>,
    resample: ResampleTree<L>,
}

impl Stage {
    fn build<B: Builder>(&self, b: &B) -> Result<StageTree<B::Leaf>> {
        let (kind, conv) = self.resample;
        Ok(StageTree {
            block1: self.block1.build(&b.pp("0"))?,
            block2: self.block2.build(&b.pp("1"))?,
            attn: self.attn.build(&b.pp("2"))?,
            resample: kind.build(conv, &b.pp("3"))?,
        })
    }
}

/// sbgm 0.0.38's `UNet`, built from a [`UnetConfig`] (which must give the data shape).
#[derive(Clone, Debug, PartialEq)]
pub struct UNet {
    channels: usize,
    height: usize,
    width: usize,
    init_dim: usize,
    out_dim: usize,
    q_channels: Option<usize>,
    a_dim: Option<usize>,
    random_or_learned: bool,
    time_mlp: TimeMlp,
    downs: Vec<Stage>,
    ups: Vec<Stage>,
    mid_block1: ResnetBlock,
    mid_attn: Attention,
    mid_block2: ResnetBlock,
    final_res_block: ResnetBlock,
}

/// The per-stage attention settings: full attention, heads, channels per head.
struct StageAttn {
    full: Vec<bool>,
    heads: Vec<usize>,
    dim_heads: Vec<usize>,
}

impl StageAttn {
    fn new(c: &UnetConfig, n: usize) -> Result<StageAttn> {
        // sbgm: `if not full_attn: full_attn = (False, ..., False, True)`.
        let full = match &c.full_attn {
            PerStage::One(false) => (0..n).map(|i| i == n - 1).collect::<Vec<_>>(),
            f => f.per_stage(n, "full_attn")?,
        };
        let heads = c.attn_heads.per_stage(n, "attn_heads")?;
        let dim_heads = c.attn_dim_head.per_stage(n, "attn_dim_head")?;
        if heads.contains(&0) || dim_heads.contains(&0) {
            return Err(Error::config(
                "model",
                "attn_heads",
                "model.attn_heads and model.attn_dim_head must be positive",
            ));
        }
        Ok(StageAttn {
            full,
            heads,
            dim_heads,
        })
    }

    fn at(&self, i: usize, dim: usize) -> StageAttention {
        StageAttention::new(
            self.full[i],
            AttentionDims::new(dim, self.heads[i], self.dim_heads[i]),
        )
    }
}

impl UNet {
    /// Builds the network sbgm's `UNet(**config)` builds, checking the sizes.
    pub fn new(c: &UnetConfig) -> Result<UNet> {
        let [channels, height, width] = Self::image(c)?;
        let n = c.dim_mults.len();
        let out_dim = c
            .out_dim
            .unwrap_or(channels * if c.learned_variance { 2 } else { 1 });
        if out_dim != channels {
            return Err(Error::config(
                "model",
                "out_dim",
                format!(
                    "the UNet's output has {out_dim} channels but a score needs {channels} (the \
                     data's); sbgm's UNet refuses this at call time too: remove model.out_dim / \
                     learned_variance"
                ),
            ));
        }
        let init_dim = c.init_dim.unwrap_or(c.dim);
        positive(init_dim, "init_dim")?;
        positive_when_set(&[(c.q_channels, "q_channels"), (c.a_dim, "a_dim")])?;
        let random_or_learned = c.learned_sinusoidal_cond || c.random_fourier_features;
        let embed = if random_or_learned {
            FourierFeatures::RandomOrLearned {
                dim: c.learned_sinusoidal_dim,
                random: c.random_fourier_features,
            }
        } else {
            FourierFeatures::Sinusoidal {
                dim: c.dim,
                theta: c.sinusoidal_pos_emb_theta,
            }
        };
        embed.validate()?;
        let time_dim = c.dim * 4;
        let attn = StageAttn::new(c, n)?;
        let mut dims = vec![init_dim];
        dims.extend(c.dim_mults.iter().map(|m| c.dim * m));
        let resnet = |dim: usize, dim_out: usize| ResnetBlock {
            dim,
            dim_out,
            time_emb_dim: time_dim,
            dropout: c.dropout,
        };
        let (downs, ups) = Self::stages(&dims, &attn, &resnet);
        let mid = dims[n];
        Ok(UNet {
            channels,
            height,
            width,
            init_dim,
            out_dim,
            q_channels: c.q_channels,
            a_dim: c.a_dim,
            random_or_learned,
            time_mlp: TimeMlp {
                embed,
                time_dim,
                a_dim: c.a_dim,
            },
            downs,
            ups,
            mid_block1: resnet(mid, mid),
            mid_attn: Attention(AttentionDims::new(
                mid,
                attn.heads[n - 1],
                attn.dim_heads[n - 1],
            )),
            mid_block2: resnet(mid, mid),
            final_res_block: resnet(init_dim * 2, init_dim),
        })
    }

    /// The checked image shape `[channels, height, width]` and the checks that need only it,
    /// `dim`, `dim_mults` and `dropout`.
    fn image(c: &UnetConfig) -> Result<[usize; 3]> {
        let shape = required(c.data_shape.as_ref(), "data_shape")?;
        let [channels, height, width] = shape[..] else {
            return Err(Error::config(
                "model",
                "data_shape",
                format!("model.data_shape must be [channels, height, width], got {shape:?}"),
            ));
        };
        if let Some(ch) = c.channels
            && ch != channels
        {
            return Err(Error::config(
                "model",
                "channels",
                format!("model.channels = {ch} but model.data_shape has {channels} channels"),
            ));
        }
        positive(c.dim, "dim")?;
        positive(channels, "data_shape channels")?;
        if c.dim_mults.is_empty() || c.dim_mults.contains(&0) {
            return Err(Error::config(
                "model",
                "dim_mults",
                format!(
                    "model.dim_mults must be a non-empty list of positive multipliers, got {:?}",
                    c.dim_mults
                ),
            ));
        }
        probability(c.dropout, "dropout")?;
        let n = c.dim_mults.len();
        let factor = 1usize << (n - 1);
        if height % factor != 0 || width % factor != 0 || height == 0 || width == 0 {
            return Err(Error::config(
                "model",
                "dim_mults",
                format!(
                    "the UNet with {n} stages downsamples by {factor}: the image size \
                     {height}x{width} must be divisible by {factor} (use fewer dim_mults or pad \
                     the images)"
                ),
            ));
        }
        Ok([channels, height, width])
    }

    /// The down and up stages over the channel counts `dims` (`init_dim`, then one per stage).
    fn stages(
        dims: &[usize],
        attn: &StageAttn,
        resnet: &dyn Fn(usize, usize) -> ResnetBlock,
    ) -> (Vec<Stage>, Vec<Stage>) {
        let n = dims.len() - 1;
        let in_out: Vec<(usize, usize)> = dims.windows(2).map(|w| (w[0], w[1])).collect();
        let conv3 = |i: usize, o: usize| Conv2d::new(i, o, 3).padding(1);
        let downs = in_out
            .iter()
            .enumerate()
            .map(|(i, &(din, dout))| Stage {
                block1: resnet(din, din),
                block2: resnet(din, din),
                attn: attn.at(i, din),
                resample: if i + 1 < n {
                    (Resample::Down, Conv2d::new(din * 4, dout, 1))
                } else {
                    (Resample::Conv, conv3(din, dout))
                },
            })
            .collect();
        let ups = (0..n)
            .rev()
            .enumerate()
            .map(|(k, i)| {
                let (din, dout) = in_out[i];
                Stage {
                    block1: resnet(dout + din, dout),
                    block2: resnet(dout + din, dout),
                    attn: attn.at(i, dout),
                    resample: (
                        if k + 1 < n {
                            Resample::Up
                        } else {
                            Resample::Conv
                        },
                        conv3(dout, din),
                    ),
                }
            })
            .collect();
        (downs, ups)
    }

    fn init_conv(&self) -> Conv2d {
        Conv2d::new(
            self.channels + self.q_channels.unwrap_or(0),
            self.init_dim,
            7,
        )
        .padding(3)
    }

    fn final_conv(&self) -> Conv2d {
        Conv2d::new(
            self.init_dim + self.q_channels.unwrap_or(0),
            self.out_dim,
            1,
        )
    }
}

/// The tree of a [`UNet`] (fields in Equinox order; `q_channels` and `a_dim` are the
/// configuration's).
pub struct UnetTree<L> {
    /// Channels of the data.
    pub channels: usize,
    init_conv: ConvTree<Conv2d, L>,
    /// Whether the time features are random or learned (else sinusoidal).
    pub random_or_learned: bool,
    time_mlp: TimeMlpTree<L>,
    downs: Vec<StageTree<L>>,
    ups: Vec<StageTree<L>>,
    mid_block1: ResnetTree<L>,
    mid_attn: AttentionTree<L>,
    mid_block2: ResnetTree<L>,
    /// Output channels.
    pub out_dim: usize,
    final_res_block: ResnetTree<L>,
    final_conv: ConvTree<Conv2d, L>,
}

impl Model for UNet {
    const NAME: &'static str = "UNet";
    type Tree<L> = UnetTree<L>;

    fn shapes(&self) -> NetShapes {
        let image = [self.channels, self.height, self.width];
        NetShapes::image(image, self.q_channels, self.a_dim)
    }

    fn tree<B: Builder>(&self, b: &B) -> Result<UnetTree<B::Leaf>> {
        let tree = UnetTree {
            channels: b.py_int("channels", self.channels),
            init_conv: self.init_conv().build(&b.pp("init_conv"))?,
            random_or_learned: b
                .py_bool("random_or_learned_sinusoidal_cond", self.random_or_learned),
            time_mlp: self.time_mlp.build(&b.pp("time_mlp"))?,
            downs: b.seq("downs", self.downs.len(), |b, i| self.downs[i].build(b))?,
            ups: b.seq("ups", self.ups.len(), |b, i| self.ups[i].build(b))?,
            mid_block1: self.mid_block1.build(&b.pp("mid_block1"))?,
            mid_attn: self.mid_attn.build(&b.pp("mid_attn"))?,
            mid_block2: self.mid_block2.build(&b.pp("mid_block2"))?,
            out_dim: b.py_int("out_dim", self.out_dim),
            final_res_block: self.final_res_block.build(&b.pp("final_res_block"))?,
            final_conv: self.final_conv().build(&b.pp("final_conv"))?,
        };
        b.py_ints_when_set(&[("q_channels", self.q_channels), ("a_dim", self.a_dim)]);
        Ok(tree)
    }

    fn forward(&self, tree: &UnetTree<Tensor>, io: Inputs, mode: &ApplyMode) -> Result<Tensor> {
        let Inputs { t, x, q, a, batch } = io;
        let with_q = |h: &Tensor| match q {
            Some(q) => Tensor::cat(&[h, q], 1),
            None => Ok(h.clone()),
        };
        let mut h = tree.init_conv.apply(&with_q(x)?)?;
        let r = h.clone();
        let temb = tree.time_mlp.apply(t, a, batch)?;

        let mut skips = Vec::with_capacity(2 * tree.downs.len());
        for s in &tree.downs {
            h = s.block1.apply(&h, &temb, mode)?;
            skips.push(h.clone());
            h = s.block2.apply(&h, &temb, mode)?;
            h = s.attn.residual(&h)?;
            skips.push(h.clone());
            h = s.resample.apply(&h)?;
        }

        h = tree.mid_block1.apply(&h, &temb, mode)?;
        h = (tree.mid_attn.apply(&h)? + &h)?;
        h = tree.mid_block2.apply(&h, &temb, mode)?;

        let mut pop_skip = || {
            skips
                .pop()
                .ok_or_else(|| Error::Msg("UNet skip stack empty".into()))
        };
        for s in &tree.ups {
            h = Tensor::cat(&[&h, &pop_skip()?], 1)?;
            h = s.block1.apply(&h, &temb, mode)?;
            h = Tensor::cat(&[&h, &pop_skip()?], 1)?;
            h = s.block2.apply(&h, &temb, mode)?;
            h = s.attn.residual(&h)?;
            h = s.resample.apply(&h)?;
        }

        h = Tensor::cat(&[&h, &r], 1)?;
        h = tree.final_res_block.apply(&h, &temb, mode)?;
        tree.final_conv.apply(&with_q(&h)?)
    }
}
