//! sbgm 0.0.38's `DiT` (diffusion transformer) score network with its exact Equinox
//! parameter tree.
//!
//! Per sample it computes what sbgm's `DiT.__call__(t, x, q, a)` does: `q` is concatenated
//! to `x` before the patch embedding (a strided conv, a class token, learned positions); the
//! embedding of `t` (plus a Linear embedding of `a`) conditions every block's adaptive layer
//! norms; the class token is dropped and a transposed conv maps the tokens back to an image.
//!
//! The transformer blocks are built by `eqx.filter_vmap` in sbgm, so each of their array
//! leaves is stacked along a leading `depth` axis (`blocks.norm1.norm.weight` is
//! (depth, embed_dim)) while their Python scalars (`blocks.attn.dropout.p`) appear once; sbgm
//! runs them with `lax.scan`, here they are unrolled.
//!
//! Leaf order (dataclass fields): `img_size`, `channels`, `q_dim`, `a_dim` (when set),
//! `patch_embed`, `time_embed`, `a_embed` (when `a_dim` is set), `blocks`, `out_conv`.

use crate::error::{Error, Result};
use crate::graph::Tensor;
use crate::nn::config::{DitConfig, positive, positive_when_set, required};
use crate::nn::layers::attention::{MultiheadAttention, MultiheadAttentionTree};
use crate::nn::layers::conv::{Conv2d, ConvTranspose2d, ConvTree};
use crate::nn::layers::gelu_tanh;
use crate::nn::layers::linear::{Linear, LinearTree};
use crate::nn::layers::norm::{LayerNorm, LayerNormTree};
use crate::nn::layers::time_embedding::{TimestepEmbedding, TimestepEmbeddingTree};
use crate::nn::module::{ApplyMode, Init, Inputs, Model, NetShapes};
use crate::nn::tree::Builder;

/// sbgm's `AdaLayerNorm(embed_dim)`: fields `norm` (LayerNorm), `scale_proj`, `shift_proj`
/// (Linear embed_dim → embed_dim); `norm(x) * (1 + scale_proj(y)) + shift_proj(y)`.
pub struct AdaLayerNorm<L> {
    norm: LayerNormTree<L>,
    scale_proj: LinearTree<L>,
    shift_proj: LinearTree<L>,
}

fn ada_layer_norm<B: Builder>(embed_dim: usize, b: &B) -> Result<AdaLayerNorm<B::Leaf>> {
    let proj = |name: &str| Linear::new(embed_dim, embed_dim).build(&b.pp(name));
    Ok(AdaLayerNorm {
        norm: LayerNorm::new(&[embed_dim]).build(&b.pp("norm"))?,
        scale_proj: proj("scale_proj")?,
        shift_proj: proj("shift_proj")?,
    })
}

impl AdaLayerNorm<Tensor> {
    /// `x` (B, S, E) normalised per token, modulated by `y` (B, E).
    fn apply(&self, x: &Tensor, y: &Tensor) -> Result<Tensor> {
        let (b, e) = (y.dims()[0], self.scale_proj.cfg.out_features);
        let gamma = self.scale_proj.apply(y)?.reshape(&[b, 1, e])?;
        let beta = self.shift_proj.apply(y)?.reshape(&[b, 1, e])?;
        let n = self.norm.apply(x)?;
        (n * (gamma + 1.0)?)? + beta
    }
}

/// sbgm's `TransformerBlock(embed_dim, n_heads)`: fields `norm1`, `attn`
/// (`eqx.nn.MultiheadAttention`), `norm2`, `mlp` (Sequential [Linear(E, 4E), gelu,
/// Linear(4E, E)]); `x = norm1(x, y); x = x + attn(x); x = norm2(x, y); x = x + mlp(x)`.
pub struct TransformerBlock<L> {
    norm1: AdaLayerNorm<L>,
    attn: MultiheadAttentionTree<L>,
    norm2: AdaLayerNorm<L>,
    mlp: [LinearTree<L>; 2],
}

fn transformer_block<B: Builder>(
    embed_dim: usize,
    attn: &MultiheadAttention,
    b: &B,
) -> Result<TransformerBlock<B::Leaf>> {
    let e = embed_dim;
    Ok(TransformerBlock {
        norm1: ada_layer_norm(e, &b.pp("norm1"))?,
        attn: attn.build(&b.pp("attn"))?,
        norm2: ada_layer_norm(e, &b.pp("norm2"))?,
        mlp: [
            Linear::new(e, e * 4).build(&b.pp("mlp.layers.0"))?,
            Linear::new(e * 4, e).build(&b.pp("mlp.layers.2"))?,
        ],
    })
}

impl TransformerBlock<Tensor> {
    fn apply(&self, x: &Tensor, y: &Tensor, mode: &ApplyMode) -> Result<Tensor> {
        let x = self.norm1.apply(x, y)?;
        let x = (&x + self.attn.apply(&x, &x, &x, mode)?)?;
        let x = self.norm2.apply(&x, y)?;
        let h = self.mlp[0].apply(&x)?;
        let h = self.mlp[1].apply(&gelu_tanh(&h)?)?;
        x + h
    }
}

/// sbgm's `PatchEmbedding`: a strided conv, a class token and learned positions.
pub struct PatchEmbed<L> {
    proj: ConvTree<Conv2d, L>,
    cls_token: L,
    pos_embed: L,
}

/// The tree of a [`DiT`] (its Python scalars are the configuration's). The blocks' array
/// leaves are stored stacked along depth; each member here is one slice of them.
pub struct DitTree<L> {
    patch_embed: PatchEmbed<L>,
    time_embed: TimestepEmbeddingTree<L>,
    a_embed: Option<LinearTree<L>>,
    blocks: Vec<TransformerBlock<L>>,
    out_conv: ConvTree<ConvTranspose2d, L>,
}

/// sbgm 0.0.38's `DiT`, built from a [`DitConfig`] (which must give `img_size` and
/// `channels`).
#[derive(Clone, Debug, PartialEq)]
pub struct DiT {
    img_size: usize,
    patch_size: usize,
    channels: usize,
    embed_dim: usize,
    depth: usize,
    q_dim: Option<usize>,
    a_dim: Option<usize>,
    attn: MultiheadAttention,
}

impl DiT {
    /// Builds the network sbgm's `DiT(**config)` builds, checking the sizes.
    pub fn new(c: &DitConfig) -> Result<DiT> {
        let img_size = required(c.img_size, "img_size")?;
        let channels = required(c.channels, "channels")?;
        for (v, key) in [
            (img_size, "img_size"),
            (channels, "channels"),
            (c.patch_size, "patch_size"),
            (c.embed_dim, "embed_dim"),
            (c.depth, "depth"),
            (c.n_heads, "n_heads"),
        ] {
            positive(v, key)?;
        }
        if img_size % c.patch_size != 0 {
            return Err(Error::config(
                "model",
                "patch_size",
                format!(
                    "model.patch_size = {} must divide the image size {img_size} (the \
                     transposed output conv would not restore the image otherwise)",
                    c.patch_size
                ),
            ));
        }
        if !c.embed_dim.is_multiple_of(c.n_heads) {
            return Err(Error::config(
                "model",
                "embed_dim",
                format!(
                    "model.embed_dim = {} must be divisible by model.n_heads = {}",
                    c.embed_dim, c.n_heads
                ),
            ));
        }
        positive_when_set(&[(c.q_dim, "q_dim"), (c.a_dim, "a_dim")])?;
        Ok(DiT {
            img_size,
            patch_size: c.patch_size,
            channels,
            embed_dim: c.embed_dim,
            depth: c.depth,
            q_dim: c.q_dim,
            a_dim: c.a_dim,
            attn: MultiheadAttention::new(c.n_heads, c.embed_dim)?,
        })
    }

    /// Patches per side.
    fn grid(&self) -> usize {
        self.img_size / self.patch_size
    }

    fn proj(&self) -> Conv2d {
        Conv2d::new(
            self.channels + self.q_dim.unwrap_or(0),
            self.embed_dim,
            self.patch_size,
        )
        .stride(self.patch_size)
    }

    fn out_conv(&self) -> ConvTranspose2d {
        ConvTranspose2d::new(self.embed_dim, self.channels, self.patch_size).stride(self.patch_size)
    }

    /// Builds the fields of sbgm's `PatchEmbedding`: `patch_size`, `proj`, `cls_token`,
    /// `pos_embed`.
    fn build_patch_embed<B: Builder>(&self, b: &B) -> Result<PatchEmbed<B::Leaf>> {
        let e = self.embed_dim;
        b.py_int("patch_size", self.patch_size);
        let normal = Init::Normal { std: 1.0 };
        Ok(PatchEmbed {
            proj: self.proj().build(&b.pp("proj"))?,
            cls_token: b.array("cls_token", vec![1, e], normal.clone())?,
            pos_embed: b.array("pos_embed", vec![self.grid() * self.grid() + 1, e], normal)?,
        })
    }
}

impl Model for DiT {
    const NAME: &'static str = "DiT";
    type Tree<L> = DitTree<L>;

    fn shapes(&self) -> NetShapes {
        let s = self.img_size;
        NetShapes::image([self.channels, s, s], self.q_dim, self.a_dim)
    }

    fn tree<B: Builder>(&self, b: &B) -> Result<DitTree<B::Leaf>> {
        b.py_int("img_size", self.img_size);
        b.py_int("channels", self.channels);
        b.py_ints_when_set(&[("q_dim", self.q_dim), ("a_dim", self.a_dim)]);
        let blocks = b.pp("blocks");
        Ok(DitTree {
            patch_embed: self.build_patch_embed(&b.pp("patch_embed"))?,
            time_embed: TimestepEmbedding {
                embed_dim: self.embed_dim,
            }
            .build(&b.pp("time_embed"))?,
            a_embed: (self.a_dim)
                .map(|a| Linear::new(a, self.embed_dim).build(&b.pp("a_embed")))
                .transpose()?,
            blocks: (0..self.depth)
                .map(|i| {
                    transformer_block(self.embed_dim, &self.attn, &blocks.stacked(self.depth, i))
                })
                .collect::<Result<_>>()?,
            out_conv: self.out_conv().build(&b.pp("out_conv"))?,
        })
    }

    fn forward(&self, tree: &DitTree<Tensor>, io: Inputs, mode: &ApplyMode) -> Result<Tensor> {
        let Inputs { t, x, q, a, batch } = io;
        let b = batch;
        let x = match q {
            Some(q) => Tensor::cat(&[x, q], 1)?,
            None => x.clone(),
        };
        // patch embedding: strided conv, class token, positions
        let (e, g) = (self.embed_dim, self.grid());
        let pe = &tree.patch_embed;
        let h = pe.proj.apply(&x)?;
        let h = h.reshape(&[b, e, g * g])?.transpose(&[0, 2, 1])?;
        let cls = pe.cls_token.broadcast_to(&[b, 1, e])?;
        let mut h = (Tensor::cat(&[&cls, &h], 1)? + &pe.pos_embed)?;
        let temb = tree.time_embed.apply(t, b)?;
        let emb = match (&tree.a_embed, a) {
            (Some(l), Some(a)) => (l.apply(a)? + temb)?,
            _ => temb,
        };
        for block in &tree.blocks {
            h = block.apply(&h, &emb, mode)?;
        }
        let n = h.dims()[1];
        let h = h
            .narrow(1, 1, n - 1)?
            .transpose(&[0, 2, 1])?
            .reshape(&[b, e, g, g])?;
        tree.out_conv.apply(&h)
    }
}
