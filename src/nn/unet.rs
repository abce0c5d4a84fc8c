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
use crate::nn::config::{UnetConfig, required};
use crate::nn::layers::Activation;
use crate::nn::layers::attention::{Attention, AttentionDims, LinearAttention, RmsNorm};
use crate::nn::layers::conv::Conv2d;
use crate::nn::layers::dropout;
use crate::nn::layers::linear::Linear;
use crate::nn::layers::time_embedding::{FourierFeatures, TimeMlp};
use crate::nn::module::{ApplyMode, Leaf, Params, ScoreNet, join};

/// sbgm's `Block(dim, dim_out, dropout)`: fields `proj` (3×3 conv), `norm` (RMS), `dropout`;
/// `dropout(silu(norm(proj(x)) * (scale + 1) + shift))`.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Block {
    dim: usize,
    dim_out: usize,
    dropout: f64,
}

impl Block {
    fn proj(&self) -> Conv2d {
        Conv2d::new(self.dim, self.dim_out, 3).padding(1)
    }

    fn leaves(&self, prefix: &str) -> Vec<Leaf> {
        let mut v = self.proj().leaves(&join(prefix, "proj"));
        v.extend(RmsNorm::new(self.dim_out).leaves(&join(prefix, "norm")));
        v.extend(dropout::leaves(&join(prefix, "dropout"), self.dropout));
        v
    }

    fn apply(
        &self,
        p: &Params,
        prefix: &str,
        x: &Tensor,
        scale_shift: Option<(&Tensor, &Tensor)>,
        mode: &ApplyMode,
    ) -> Result<Tensor> {
        let h = self.proj().apply(p, &join(prefix, "proj"), x)?;
        let mut h = RmsNorm::new(self.dim_out).apply(p, &join(prefix, "norm"), &h)?;
        if let Some((scale, shift)) = scale_shift {
            h = ((h * (scale + 1.0)?)? + shift)?;
        }
        dropout::dropout(&Activation::Silu.apply(&h)?, self.dropout, mode)
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
    fn mlp(&self) -> Linear {
        Linear::new(self.time_emb_dim, self.dim_out * 2)
    }
    fn block1(&self) -> Block {
        Block {
            dim: self.dim,
            dim_out: self.dim_out,
            dropout: self.dropout,
        }
    }
    fn block2(&self) -> Block {
        Block {
            dim: self.dim_out,
            dim_out: self.dim_out,
            dropout: 0.0,
        }
    }
    fn res_conv(&self) -> Option<Conv2d> {
        (self.dim != self.dim_out).then(|| Conv2d::new(self.dim, self.dim_out, 1))
    }

    fn leaves(&self, prefix: &str) -> Vec<Leaf> {
        let mut v = self.mlp().leaves(&join(prefix, "mlp"));
        v.extend(self.block1().leaves(&join(prefix, "block1")));
        v.extend(self.block2().leaves(&join(prefix, "block2")));
        if let Some(c) = self.res_conv() {
            v.extend(c.leaves(&join(prefix, "res_conv")));
        }
        v
    }

    fn apply(
        &self,
        p: &Params,
        prefix: &str,
        x: &Tensor,
        time_emb: &Tensor,
        mode: &ApplyMode,
    ) -> Result<Tensor> {
        let b = x.dims()[0];
        let e = self
            .mlp()
            .apply(p, &join(prefix, "mlp"), &Activation::Silu.apply(time_emb)?)?;
        let e = e.reshape(&[b, self.dim_out * 2, 1, 1])?;
        let ss = e.chunk(2, 1)?;
        let h = self
            .block1()
            .apply(p, &join(prefix, "block1"), x, Some((&ss[0], &ss[1])), mode)?;
        let h = self
            .block2()
            .apply(p, &join(prefix, "block2"), &h, None, mode)?;
        let res = match self.res_conv() {
            Some(c) => c.apply(p, &join(prefix, "res_conv"), x)?,
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

impl StageAttention {
    fn new(full: bool, dims: AttentionDims) -> StageAttention {
        if full {
            StageAttention::Full(Attention(dims))
        } else {
            StageAttention::Linear(LinearAttention(dims))
        }
    }
    fn leaves(&self, prefix: &str) -> Vec<Leaf> {
        match self {
            StageAttention::Linear(a) => a.leaves(prefix),
            StageAttention::Full(a) => a.leaves(prefix),
        }
    }
    /// `attn(x) + x`.
    fn residual(&self, p: &Params, prefix: &str, x: &Tensor) -> Result<Tensor> {
        let y = match self {
            StageAttention::Linear(a) => a.apply(p, prefix, x)?,
            StageAttention::Full(a) => a.apply(p, prefix, x)?,
        };
        y + x
    }
}

/// The resampling layer ending a stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Resample {
    /// sbgm's `Downsample`: space-to-depth (2×2) then a 1×1 conv (field `conv`).
    Down(Conv2d),
    /// sbgm's `Upsample`: bilinear ×2 (`jax.image.resize`) then a 3×3 conv (field `conv`).
    Up(Conv2d),
    /// A plain 3×3 conv (the last stage of each path).
    Conv(Conv2d),
}

impl Resample {
    fn leaves(&self, prefix: &str) -> Vec<Leaf> {
        match self {
            Resample::Down(c) | Resample::Up(c) => c.leaves(&join(prefix, "conv")),
            Resample::Conv(c) => c.leaves(prefix),
        }
    }
    fn apply(&self, p: &Params, prefix: &str, x: &Tensor) -> Result<Tensor> {
        match self {
            Resample::Down(c) => c.apply(p, &join(prefix, "conv"), &space_to_depth(x)?),
            Resample::Up(c) => c.apply(p, &join(prefix, "conv"), &upsample_bilinear_2x(x)?),
            Resample::Conv(c) => c.apply(p, prefix, x),
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
    resample: Resample,
}

impl Stage {
    fn leaves(&self, prefix: &str) -> Vec<Leaf> {
        let mut v = self.block1.leaves(&join(prefix, "0"));
        v.extend(self.block2.leaves(&join(prefix, "1")));
        v.extend(self.attn.leaves(&join(prefix, "2")));
        v.extend(self.resample.leaves(&join(prefix, "3")));
        v
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

impl UNet {
    /// Builds the network sbgm's `UNet(**config)` builds, checking the sizes.
    pub fn new(c: &UnetConfig) -> Result<UNet> {
        let shape = required(c.data_shape.as_ref(), "data_shape")?;
        let [channels, height, width] = shape[..] else {
            return Err(Error::BadArgument(format!(
                "model.data_shape must be [channels, height, width], got {shape:?}"
            )));
        };
        if let Some(ch) = c.channels
            && ch != channels
        {
            return Err(Error::BadArgument(format!(
                "model.channels = {ch} but model.data_shape has {channels} channels"
            )));
        }
        let pos = |v: usize, key: &str| -> Result<()> {
            if v == 0 {
                return Err(Error::BadArgument(format!("model.{key} must be positive")));
            }
            Ok(())
        };
        pos(c.dim, "dim")?;
        pos(channels, "data_shape channels")?;
        if c.dim_mults.is_empty() || c.dim_mults.contains(&0) {
            return Err(Error::BadArgument(format!(
                "model.dim_mults must be a non-empty list of positive multipliers, got {:?}",
                c.dim_mults
            )));
        }
        if c.dropout.is_nan() || !(0.0..1.0).contains(&c.dropout) {
            return Err(Error::BadArgument(format!(
                "model.dropout must be in [0, 1), got {}",
                c.dropout
            )));
        }
        let n = c.dim_mults.len();
        let factor = 1usize << (n - 1);
        if height % factor != 0 || width % factor != 0 || height == 0 || width == 0 {
            return Err(Error::BadArgument(format!(
                "the UNet with {n} stages downsamples by {factor}: the image size {height}x{width} \
                 must be divisible by {factor} (use fewer dim_mults or pad the images)"
            )));
        }
        let out_dim = c
            .out_dim
            .unwrap_or(channels * if c.learned_variance { 2 } else { 1 });
        if out_dim != channels {
            return Err(Error::BadArgument(format!(
                "the UNet's output has {out_dim} channels but a score needs {channels} (the data's); \
                 sbgm's UNet refuses this at call time too: remove model.out_dim / learned_variance"
            )));
        }
        let init_dim = c.init_dim.unwrap_or(c.dim);
        pos(init_dim, "init_dim")?;
        if let Some(q) = c.q_channels {
            pos(q, "q_channels")?;
        }
        if let Some(a) = c.a_dim {
            pos(a, "a_dim")?;
        }
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
        let time_mlp = TimeMlp {
            embed,
            time_dim,
            a_dim: c.a_dim,
        };

        // sbgm: `if not full_attn: full_attn = (False, ..., False, True)`.
        let full_attn = match &c.full_attn {
            crate::nn::config::PerStage::One(false) => {
                (0..n).map(|i| i == n - 1).collect::<Vec<_>>()
            }
            f => f.per_stage(n, "full_attn")?,
        };
        let heads = c.attn_heads.per_stage(n, "attn_heads")?;
        let dim_heads = c.attn_dim_head.per_stage(n, "attn_dim_head")?;
        if heads.contains(&0) || dim_heads.contains(&0) {
            return Err(Error::BadArgument(
                "model.attn_heads and model.attn_dim_head must be positive".into(),
            ));
        }

        let mut dims = vec![init_dim];
        dims.extend(c.dim_mults.iter().map(|m| c.dim * m));
        let in_out: Vec<(usize, usize)> = dims.windows(2).map(|w| (w[0], w[1])).collect();
        let resnet = |dim: usize, dim_out: usize| ResnetBlock {
            dim,
            dim_out,
            time_emb_dim: time_dim,
            dropout: c.dropout,
        };
        let conv3 = |i: usize, o: usize| Conv2d::new(i, o, 3).padding(1);

        let downs = in_out
            .iter()
            .enumerate()
            .map(|(i, &(din, dout))| Stage {
                block1: resnet(din, din),
                block2: resnet(din, din),
                attn: StageAttention::new(
                    full_attn[i],
                    AttentionDims::new(din, heads[i], dim_heads[i]),
                ),
                resample: if i + 1 < n {
                    Resample::Down(Conv2d::new(din * 4, dout, 1))
                } else {
                    Resample::Conv(conv3(din, dout))
                },
            })
            .collect();
        let mid = dims[n];
        let ups = (0..n)
            .rev()
            .enumerate()
            .map(|(k, i)| {
                let (din, dout) = in_out[i];
                Stage {
                    block1: resnet(dout + din, dout),
                    block2: resnet(dout + din, dout),
                    attn: StageAttention::new(
                        full_attn[i],
                        AttentionDims::new(dout, heads[i], dim_heads[i]),
                    ),
                    resample: if k + 1 < n {
                        Resample::Up(conv3(dout, din))
                    } else {
                        Resample::Conv(conv3(dout, din))
                    },
                }
            })
            .collect();
        Ok(UNet {
            channels,
            height,
            width,
            init_dim,
            out_dim,
            q_channels: c.q_channels,
            a_dim: c.a_dim,
            random_or_learned,
            time_mlp,
            downs,
            ups,
            mid_block1: resnet(mid, mid),
            mid_attn: Attention(AttentionDims::new(mid, heads[n - 1], dim_heads[n - 1])),
            mid_block2: resnet(mid, mid),
            final_res_block: resnet(init_dim * 2, init_dim),
        })
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

impl ScoreNet for UNet {
    fn name(&self) -> &'static str {
        "UNet"
    }

    fn leaves(&self) -> Vec<Leaf> {
        let mut v = vec![Leaf::py_int("channels", self.channels as i64)];
        v.extend(self.init_conv().leaves("init_conv"));
        v.push(Leaf::py_bool(
            "random_or_learned_sinusoidal_cond",
            self.random_or_learned,
        ));
        v.extend(self.time_mlp.leaves("time_mlp"));
        for (i, s) in self.downs.iter().enumerate() {
            v.extend(s.leaves(&format!("downs.{i}")));
        }
        for (i, s) in self.ups.iter().enumerate() {
            v.extend(s.leaves(&format!("ups.{i}")));
        }
        v.extend(self.mid_block1.leaves("mid_block1"));
        v.extend(self.mid_attn.leaves("mid_attn"));
        v.extend(self.mid_block2.leaves("mid_block2"));
        v.push(Leaf::py_int("out_dim", self.out_dim as i64));
        v.extend(self.final_res_block.leaves("final_res_block"));
        v.extend(self.final_conv().leaves("final_conv"));
        if let Some(q) = self.q_channels {
            v.push(Leaf::py_int("q_channels", q as i64));
        }
        if let Some(a) = self.a_dim {
            v.push(Leaf::py_int("a_dim", a as i64));
        }
        v
    }

    fn data_shape(&self) -> Vec<usize> {
        vec![self.channels, self.height, self.width]
    }

    fn q_shape(&self) -> Option<Vec<usize>> {
        self.q_channels.map(|q| vec![q, self.height, self.width])
    }

    fn a_dim(&self) -> Option<usize> {
        self.a_dim
    }

    fn apply(
        &self,
        params: &Params,
        t: &Tensor,
        x: &Tensor,
        q: Option<&Tensor>,
        a: Option<&Tensor>,
        mode: &ApplyMode,
    ) -> Result<Tensor> {
        let b = self.check_inputs(t, x, q, a)?;
        let p = params;
        let with_q = |h: &Tensor| match q {
            Some(q) => Tensor::cat(&[h, q], 1),
            None => Ok(h.clone()),
        };
        let mut h = self.init_conv().apply(p, "init_conv", &with_q(x)?)?;
        let r = h.clone();
        let temb = self.time_mlp.apply(p, "time_mlp", t, a, b)?;

        let mut skips = Vec::with_capacity(2 * self.downs.len());
        for (i, s) in self.downs.iter().enumerate() {
            let pre = format!("downs.{i}");
            h = s.block1.apply(p, &join(&pre, "0"), &h, &temb, mode)?;
            skips.push(h.clone());
            h = s.block2.apply(p, &join(&pre, "1"), &h, &temb, mode)?;
            h = s.attn.residual(p, &join(&pre, "2"), &h)?;
            skips.push(h.clone());
            h = s.resample.apply(p, &join(&pre, "3"), &h)?;
        }

        h = self.mid_block1.apply(p, "mid_block1", &h, &temb, mode)?;
        h = (self.mid_attn.apply(p, "mid_attn", &h)? + &h)?;
        h = self.mid_block2.apply(p, "mid_block2", &h, &temb, mode)?;

        for (i, s) in self.ups.iter().enumerate() {
            let pre = format!("ups.{i}");
            let skip = skips
                .pop()
                .ok_or_else(|| Error::Msg("UNet skip stack empty".into()))?;
            h = Tensor::cat(&[&h, &skip], 1)?;
            h = s.block1.apply(p, &join(&pre, "0"), &h, &temb, mode)?;
            let skip = skips
                .pop()
                .ok_or_else(|| Error::Msg("UNet skip stack empty".into()))?;
            h = Tensor::cat(&[&h, &skip], 1)?;
            h = s.block2.apply(p, &join(&pre, "1"), &h, &temb, mode)?;
            h = s.attn.residual(p, &join(&pre, "2"), &h)?;
            h = s.resample.apply(p, &join(&pre, "3"), &h)?;
        }

        h = Tensor::cat(&[&h, &r], 1)?;
        h = self
            .final_res_block
            .apply(p, "final_res_block", &h, &temb, mode)?;
        self.final_conv().apply(p, "final_conv", &with_q(&h)?)
    }
}
