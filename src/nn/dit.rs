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

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::Tensor;
use crate::io::LeafKind;
use crate::nn::config::{DitConfig, required};
use crate::nn::layers::attention::MultiheadAttention;
use crate::nn::layers::conv::{Conv2d, ConvTranspose2d};
use crate::nn::layers::gelu_tanh;
use crate::nn::layers::linear::Linear;
use crate::nn::layers::norm::LayerNorm;
use crate::nn::layers::time_embedding::TimestepEmbedding;
use crate::nn::module::{ApplyMode, Init, Leaf, Params, ScoreNet, join};

/// sbgm's `AdaLayerNorm(embed_dim)`: fields `norm` (LayerNorm), `scale_proj`, `shift_proj`
/// (Linear embed_dim → embed_dim); `norm(x) * (1 + scale_proj(y)) + shift_proj(y)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct AdaLayerNorm {
    embed_dim: usize,
}

impl AdaLayerNorm {
    fn proj(&self) -> Linear {
        Linear::new(self.embed_dim, self.embed_dim)
    }

    fn leaves(&self, prefix: &str) -> Vec<Leaf> {
        let mut v = LayerNorm::new(&[self.embed_dim]).leaves(&join(prefix, "norm"));
        v.extend(self.proj().leaves(&join(prefix, "scale_proj")));
        v.extend(self.proj().leaves(&join(prefix, "shift_proj")));
        v
    }

    /// `x` (B, S, E) normalised per token, modulated by `y` (B, E).
    fn apply(&self, p: &Params, prefix: &str, x: &Tensor, y: &Tensor) -> Result<Tensor> {
        let b = y.dims()[0];
        let e = self.embed_dim;
        let gamma = self
            .proj()
            .apply(p, &join(prefix, "scale_proj"), y)?
            .reshape(&[b, 1, e])?;
        let beta = self
            .proj()
            .apply(p, &join(prefix, "shift_proj"), y)?
            .reshape(&[b, 1, e])?;
        let n = LayerNorm::new(&[e]).apply(p, &join(prefix, "norm"), x)?;
        (n * (gamma + 1.0)?)? + beta
    }
}

/// sbgm's `TransformerBlock(embed_dim, n_heads)`: fields `norm1`, `attn`
/// (`eqx.nn.MultiheadAttention`), `norm2`, `mlp` (Sequential [Linear(E, 4E), gelu,
/// Linear(4E, E)]); `x = norm1(x, y); x = x + attn(x); x = norm2(x, y); x = x + mlp(x)`.
#[derive(Clone, Copy, Debug, PartialEq)]
struct TransformerBlock {
    embed_dim: usize,
    attn: MultiheadAttention,
}

impl TransformerBlock {
    fn norm(&self) -> AdaLayerNorm {
        AdaLayerNorm {
            embed_dim: self.embed_dim,
        }
    }
    fn mlp_in(&self) -> Linear {
        Linear::new(self.embed_dim, self.embed_dim * 4)
    }
    fn mlp_out(&self) -> Linear {
        Linear::new(self.embed_dim * 4, self.embed_dim)
    }

    /// The leaves of one block (unstacked shapes).
    fn leaves(&self, prefix: &str) -> Vec<Leaf> {
        let mut v = self.norm().leaves(&join(prefix, "norm1"));
        v.extend(self.attn.leaves(&join(prefix, "attn")));
        v.extend(self.norm().leaves(&join(prefix, "norm2")));
        v.extend(self.mlp_in().leaves(&join(prefix, "mlp.layers.0")));
        v.extend(self.mlp_out().leaves(&join(prefix, "mlp.layers.2")));
        v
    }

    fn apply(
        &self,
        p: &Params,
        prefix: &str,
        x: &Tensor,
        y: &Tensor,
        mode: &ApplyMode,
    ) -> Result<Tensor> {
        let x = self.norm().apply(p, &join(prefix, "norm1"), x, y)?;
        let x = (&x
            + self
                .attn
                .apply(p, &join(prefix, "attn"), &x, &x, &x, mode)?)?;
        let x = self.norm().apply(p, &join(prefix, "norm2"), &x, y)?;
        let h = self.mlp_in().apply(p, &join(prefix, "mlp.layers.0"), &x)?;
        let h = self
            .mlp_out()
            .apply(p, &join(prefix, "mlp.layers.2"), &gelu_tanh(&h)?)?;
        x + h
    }
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
    block: TransformerBlock,
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
            if v == 0 {
                return Err(Error::BadArgument(format!("model.{key} must be positive")));
            }
        }
        if img_size % c.patch_size != 0 {
            return Err(Error::BadArgument(format!(
                "model.patch_size = {} must divide the image size {img_size} (the transposed \
                 output conv would not restore the image otherwise)",
                c.patch_size
            )));
        }
        if !c.embed_dim.is_multiple_of(c.n_heads) {
            return Err(Error::BadArgument(format!(
                "model.embed_dim = {} must be divisible by model.n_heads = {}",
                c.embed_dim, c.n_heads
            )));
        }
        if c.q_dim == Some(0) || c.a_dim == Some(0) {
            return Err(Error::BadArgument(
                "model.q_dim and model.a_dim must be positive when set".into(),
            ));
        }
        Ok(DiT {
            img_size,
            patch_size: c.patch_size,
            channels,
            embed_dim: c.embed_dim,
            depth: c.depth,
            q_dim: c.q_dim,
            a_dim: c.a_dim,
            block: TransformerBlock {
                embed_dim: c.embed_dim,
                attn: MultiheadAttention::new(c.n_heads, c.embed_dim)?,
            },
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

    fn time_embed(&self) -> TimestepEmbedding {
        TimestepEmbedding {
            embed_dim: self.embed_dim,
        }
    }

    fn a_embed(&self) -> Option<Linear> {
        self.a_dim.map(|a| Linear::new(a, self.embed_dim))
    }

    /// The parameters of block `i`: each stacked `blocks.*` array sliced at `i`, under its
    /// unstacked path.
    fn block_params(&self, p: &Params, i: usize) -> Result<Params> {
        let mut out = Params::new();
        for leaf in self.block.leaves("blocks") {
            if leaf.spec.kind != LeafKind::Array {
                continue;
            }
            let path = leaf.spec.path;
            let stacked = p.get(&path)?;
            let mut want = vec![self.depth];
            want.extend(&leaf.spec.shape);
            if stacked.dims() != want {
                return Err(Error::BadArgument(format!(
                    "'{path}' has shape {:?}, expected {want:?} (blocks stacked along depth)",
                    stacked.dims()
                )));
            }
            let t = stacked.narrow(0, i, 1)?.reshape(&leaf.spec.shape)?;
            out.insert(path, t)?;
        }
        Ok(out)
    }

    /// `x` (B, C, H, W) → tokens (B, 1 + patches, E): strided conv, class token, positions.
    fn patch_embed(&self, p: &Params, x: &Tensor) -> Result<Tensor> {
        let b = x.dims()[0];
        let (e, n) = (self.embed_dim, self.grid() * self.grid());
        let h = self.proj().apply(p, "patch_embed.proj", x)?;
        let h = h.reshape(&[b, e, n])?.transpose(&[0, 2, 1])?;
        let cls = p.get("patch_embed.cls_token")?.broadcast_to(&[b, 1, e])?;
        let h = Tensor::cat(&[&cls, &h], 1)?;
        h + p.get("patch_embed.pos_embed")?
    }
}

impl ScoreNet for DiT {
    fn name(&self) -> &'static str {
        "DiT"
    }

    fn leaves(&self) -> Vec<Leaf> {
        let e = self.embed_dim;
        let mut v = vec![
            Leaf::py_int("img_size", self.img_size as i64),
            Leaf::py_int("channels", self.channels as i64),
        ];
        if let Some(q) = self.q_dim {
            v.push(Leaf::py_int("q_dim", q as i64));
        }
        if let Some(a) = self.a_dim {
            v.push(Leaf::py_int("a_dim", a as i64));
        }
        v.push(Leaf::py_int(
            "patch_embed.patch_size",
            self.patch_size as i64,
        ));
        v.extend(self.proj().leaves("patch_embed.proj"));
        let normal = Init::Normal { std: 1.0 };
        v.push(Leaf::array(
            "patch_embed.cls_token",
            DType::F32,
            vec![1, e],
            normal.clone(),
        ));
        v.push(Leaf::array(
            "patch_embed.pos_embed",
            DType::F32,
            vec![self.grid() * self.grid() + 1, e],
            normal,
        ));
        v.extend(self.time_embed().leaves("time_embed"));
        if let Some(l) = self.a_embed() {
            v.extend(l.leaves("a_embed"));
        }
        for mut leaf in self.block.leaves("blocks") {
            if leaf.spec.kind == LeafKind::Array {
                leaf.spec.shape.insert(0, self.depth);
            }
            v.push(leaf);
        }
        v.extend(self.out_conv().leaves("out_conv"));
        v
    }

    fn data_shape(&self) -> Vec<usize> {
        vec![self.channels, self.img_size, self.img_size]
    }

    fn q_shape(&self) -> Option<Vec<usize>> {
        self.q_dim.map(|q| vec![q, self.img_size, self.img_size])
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
        let x = match q {
            Some(q) => Tensor::cat(&[x, q], 1)?,
            None => x.clone(),
        };
        let mut h = self.patch_embed(p, &x)?;
        let temb = self.time_embed().apply(p, "time_embed", t, b)?;
        let emb = match (self.a_embed(), a) {
            (Some(l), Some(a)) => (l.apply(p, "a_embed", a)? + temb)?,
            _ => temb,
        };
        for i in 0..self.depth {
            let bp = self.block_params(p, i)?;
            h = self.block.apply(&bp, "blocks", &h, &emb, mode)?;
        }
        let (e, g) = (self.embed_dim, self.grid());
        let n = h.dims()[1];
        let h = h
            .narrow(1, 1, n - 1)?
            .transpose(&[0, 2, 1])?
            .reshape(&[b, e, g, g])?;
        self.out_conv().apply(p, "out_conv", &h)
    }
}
