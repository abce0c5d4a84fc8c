//! Attention layers of sbgm's score networks, batched over a leading axis: the UNet's
//! `LinearAttention` and `Attention` over feature maps (RMS-normalised, with learned memory
//! keys and values) and Equinox's `MultiheadAttention` (the DiT's).

use crate::error::{Error, Result};
use crate::graph::{DotDims, Tensor};
use crate::nn::layers::conv::{Conv2d, ConvTree, check_input};
use crate::nn::layers::dropout::Dropout;
use crate::nn::layers::linear::{Linear, LinearTree};
use crate::nn::module::{ApplyMode, Init};
use crate::nn::tree::Builder;

/// A `dot_general` with leading batch axes `0..n_batch` on both sides, contracting `lc` of
/// `lhs` with `rc` of `rhs`.
fn batched_dot(lhs: &Tensor, rhs: &Tensor, n_batch: usize, lc: usize, rc: usize) -> Result<Tensor> {
    let b: Vec<usize> = (0..n_batch).collect();
    lhs.dot_general(
        rhs,
        &DotDims {
            lhs_batch: b.clone(),
            rhs_batch: b,
            lhs_contract: vec![lc],
            rhs_contract: vec![rc],
        },
    )
}

/// sbgm's UNet `RMSNorm(dim)`: `x / ||x||_2 * (gamma + 1) * scale` with the norm over the
/// channel axis (no epsilon), `gamma` (dim, 1, 1) initialised to zeros and the Python float
/// field `scale = dim ** 0.5`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RmsNorm {
    /// Channels.
    pub dim: usize,
}

impl RmsNorm {
    /// The norm over `dim` channels.
    pub fn new(dim: usize) -> RmsNorm {
        RmsNorm { dim }
    }

    /// `scale` as sbgm computes it (`dim ** 0.5`).
    pub fn scale(&self) -> f64 {
        (self.dim as f64).powf(0.5)
    }

    /// Builds the fields `scale` (Python float) and `gamma` (dim, 1, 1).
    pub fn build<B: Builder>(&self, b: &B) -> Result<RmsNormTree<B::Leaf>> {
        Ok(RmsNormTree {
            dim: self.dim,
            scale: b.py_float("scale", self.scale()),
            gamma: b.array("gamma", vec![self.dim, 1, 1], Init::Zeros)?,
        })
    }
}

/// A built [`RmsNorm`]: its fields.
#[derive(Clone, Debug)]
pub struct RmsNormTree<L> {
    /// Channels.
    pub dim: usize,
    /// `dim ** 0.5`.
    pub scale: f64,
    /// `(dim, 1, 1)`.
    pub gamma: L,
}

impl RmsNormTree<Tensor> {
    /// Normalises `x` (B, dim, H, W) over its channels.
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        check_input("RMS norm", x, self.dim)?;
        let norm = x.sqr()?.sum(&[1], true)?.sqrt()?;
        ((x / norm)? * (&self.gamma + 1.0)?)? * self.scale
    }
}

/// The UNet's attention settings shared by [`LinearAttention`] and [`Attention`]
/// (sbgm's `heads`, `dim_head`, `num_mem_kv`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttentionDims {
    /// Channels of the feature map.
    pub dim: usize,
    /// Number of heads.
    pub heads: usize,
    /// Channels per head.
    pub dim_head: usize,
    /// Number of learned memory key/value pairs (sbgm: 4).
    pub num_mem_kv: usize,
}

impl AttentionDims {
    /// sbgm's defaults for `num_mem_kv` (4).
    pub fn new(dim: usize, heads: usize, dim_head: usize) -> AttentionDims {
        AttentionDims {
            dim,
            heads,
            dim_head,
            num_mem_kv: 4,
        }
    }

    fn hidden(&self) -> usize {
        self.heads * self.dim_head
    }

    /// `dim_head ** -0.5` (the Python float field `scale`).
    pub fn scale(&self) -> f64 {
        (self.dim_head as f64).powf(-0.5)
    }

    fn qkv_conv(&self) -> Conv2d {
        Conv2d::new(self.dim, self.hidden() * 3, 1).no_bias()
    }

    /// Builds the fields `scale`, `heads`, the norm `norm_name`, `mem_kv` (2, heads, `mem`)
    /// and `to_qkv`, which both attentions start with, in this order.
    fn build_head<B: Builder>(
        &self,
        b: &B,
        norm_name: &str,
        mem: [usize; 2],
    ) -> Result<AttentionHead<B::Leaf>> {
        Ok(AttentionHead {
            dims: *self,
            scale: b.py_float("scale", self.scale()),
            heads: b.py_int("heads", self.heads),
            norm: RmsNorm::new(self.dim).build(&b.pp(norm_name))?,
            mem_kv: b.array(
                "mem_kv",
                vec![2, self.heads, mem[0], mem[1]],
                Init::Normal { std: 1.0 },
            )?,
            to_qkv: self.qkv_conv().build(&b.pp("to_qkv"))?,
        })
    }
}

/// The fields both UNet attentions start with: `scale`, `heads`, an RMS norm, the memory
/// keys and values `mem_kv` and the projection `to_qkv`.
#[derive(Clone, Debug)]
pub struct AttentionHead<L> {
    /// The sizes.
    pub dims: AttentionDims,
    /// `dim_head ** -0.5`.
    pub scale: f64,
    /// Number of heads.
    pub heads: usize,
    /// The input norm.
    pub norm: RmsNormTree<L>,
    /// `(2, heads, .., ..)`: memory keys and values.
    pub mem_kv: L,
    /// The 1×1 projection to queries, keys and values.
    pub to_qkv: ConvTree<Conv2d, L>,
}

impl AttentionHead<Tensor> {
    /// The projections `q, k, v`, each (B, heads, dim_head, H*W), of the normalised map.
    fn qkv(&self, xn: &Tensor) -> Result<[Tensor; 3]> {
        let d = xn.dims();
        let (b, n) = (d[0], d[2] * d[3]);
        let qkv = self.to_qkv.apply(xn)?;
        let parts = qkv.chunk(3, 1)?;
        let r = |t: &Tensor| t.reshape(&[b, self.dims.heads, self.dims.dim_head, n]);
        Ok([r(&parts[0])?, r(&parts[1])?, r(&parts[2])?])
    }

    /// Memory keys and values `mem_kv[0]`, `mem_kv[1]` broadcast over the batch.
    fn memory(&self, b: usize) -> Result<[Tensor; 2]> {
        let mut dims = self.mem_kv.dims().to_vec();
        dims[0] = b;
        let one = |i: usize| -> Result<Tensor> { self.mem_kv.narrow(0, i, 1)?.broadcast_to(&dims) };
        Ok([one(0)?, one(1)?])
    }
}

/// sbgm's UNet `LinearAttention(dim, heads, dim_head)`: fields `scale`, `heads`, `norm1`,
/// `mem_kv` (2, heads, dim_head, num_mem_kv), `to_qkv` (1×1 conv, no bias), `conv` (1×1 conv),
/// `norm2`. Queries are softmaxed over channels, keys over positions (memory included), and
/// the output is `norm2(conv(context^T q))`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinearAttention(pub AttentionDims);

impl LinearAttention {
    /// Builds every field in Equinox order.
    pub fn build<B: Builder>(&self, b: &B) -> Result<LinearAttentionTree<B::Leaf>> {
        let a = &self.0;
        Ok(LinearAttentionTree {
            head: a.build_head(b, "norm1", [a.dim_head, a.num_mem_kv])?,
            conv: Conv2d::new(a.hidden(), a.dim, 1).build(&b.pp("conv"))?,
            norm2: RmsNorm::new(a.dim).build(&b.pp("norm2"))?,
        })
    }
}

/// A built [`LinearAttention`].
#[derive(Clone, Debug)]
pub struct LinearAttentionTree<L> {
    /// `scale`, `heads`, `norm1`, `mem_kv`, `to_qkv`.
    pub head: AttentionHead<L>,
    /// The output 1×1 conv.
    pub conv: ConvTree<Conv2d, L>,
    /// The output norm.
    pub norm2: RmsNormTree<L>,
}

impl LinearAttentionTree<Tensor> {
    /// The attention output (B, dim, H, W) of `x` (B, dim, H, W) (the UNet adds `x` itself).
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        let h = &self.head;
        let a = &h.dims;
        check_input("linear attention", x, a.dim)?;
        let d = x.dims().to_vec();
        let b = d[0];
        let xn = h.norm.apply(x)?;
        let [q, k, v] = h.qkv(&xn)?;
        let [mk, mv] = h.memory(b)?;
        // (B, h, d, M + N)
        let k = Tensor::cat(&[&mk, &k], 3)?;
        let v = Tensor::cat(&[&mv, &v], 3)?;
        let q = q.softmax(2)?;
        let k = k.softmax(3)?;
        let q = (q * h.scale)?;
        // context[b, h, d, e] = sum_n k[b, h, d, n] v[b, h, e, n]
        let context = batched_dot(&k, &v, 2, 3, 3)?;
        // out[b, h, e, n] = sum_d context[b, h, d, e] q[b, h, d, n]
        let out = batched_dot(&context, &q, 2, 2, 2)?;
        let out = out.reshape(&[b, a.hidden(), d[2], d[3]])?;
        self.norm2.apply(&self.conv.apply(&out)?)
    }
}

/// sbgm's UNet `Attention(dim, heads, dim_head)` (full softmax attention over positions):
/// fields `scale`, `heads`, `norm`, `mem_kv` (2, heads, num_mem_kv, dim_head), `to_qkv` and
/// `to_out` (1×1 convs without bias).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attention(pub AttentionDims);

impl Attention {
    /// Builds every field in Equinox order.
    pub fn build<B: Builder>(&self, b: &B) -> Result<AttentionTree<B::Leaf>> {
        let a = &self.0;
        Ok(AttentionTree {
            head: a.build_head(b, "norm", [a.num_mem_kv, a.dim_head])?,
            to_out: Conv2d::new(a.hidden(), a.dim, 1)
                .no_bias()
                .build(&b.pp("to_out"))?,
        })
    }
}

/// A built [`Attention`].
#[derive(Clone, Debug)]
pub struct AttentionTree<L> {
    /// `scale`, `heads`, `norm`, `mem_kv`, `to_qkv`.
    pub head: AttentionHead<L>,
    /// The output 1×1 conv.
    pub to_out: ConvTree<Conv2d, L>,
}

impl AttentionTree<Tensor> {
    /// The attention output (B, dim, H, W) of `x` (B, dim, H, W) (the UNet adds `x` itself).
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        let h = &self.head;
        let a = &h.dims;
        check_input("attention", x, a.dim)?;
        let d = x.dims().to_vec();
        let b = d[0];
        let xn = h.norm.apply(x)?;
        // (B, h, N, d)
        let [q, k, v] = h.qkv(&xn)?.map(|t| t.transpose(&[0, 1, 3, 2]));
        let (q, k, v) = (q?, k?, v?);
        let [mk, mv] = h.memory(b)?;
        let k = Tensor::cat(&[&mk, &k], 2)?;
        let v = Tensor::cat(&[&mv, &v], 2)?;
        let q = (q * h.scale)?;
        // sim[b, h, i, j] = sum_d q[b, h, i, d] k[b, h, j, d]
        let sim = batched_dot(&q, &k, 2, 3, 3)?;
        let attn = sim.softmax(3)?;
        // out[b, h, i, d] = sum_j attn[b, h, i, j] v[b, h, j, d]
        let out = batched_dot(&attn, &v, 2, 3, 2)?;
        let out = out
            .transpose(&[0, 1, 3, 2])?
            .reshape(&[b, a.hidden(), d[2], d[3]])?;
        self.to_out.apply(&out)
    }
}

/// `eqx.nn.MultiheadAttention(num_heads, query_size)` with Equinox's defaults: key, value and
/// output sizes equal to `query_size`, `qk_size = vo_size = query_size // num_heads`, no
/// biases, attention-weight dropout `dropout_p`. Fields: `query_proj`, `key_proj`,
/// `value_proj`, `output_proj` (Linear, no bias) and `dropout` (`p`, `inference`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MultiheadAttention {
    /// Number of heads.
    pub num_heads: usize,
    /// Channels of the query (and key, value and output).
    pub query_size: usize,
    /// Dropout probability on the attention weights (Equinox's default 0).
    pub dropout_p: f64,
}

impl MultiheadAttention {
    /// `num_heads` heads over `query_size` channels, no dropout.
    pub fn new(num_heads: usize, query_size: usize) -> Result<MultiheadAttention> {
        if num_heads == 0 || query_size < num_heads {
            return Err(Error::config(
                "model",
                "n_heads",
                format!(
                    "multihead attention needs 1 <= num_heads <= query_size, got {num_heads} \
                     heads over {query_size} channels"
                ),
            ));
        }
        Ok(MultiheadAttention {
            num_heads,
            query_size,
            dropout_p: 0.0,
        })
    }

    /// Channels per head (`query_size // num_heads`).
    pub fn head_size(&self) -> usize {
        self.query_size / self.num_heads
    }

    fn proj_in(&self) -> Linear {
        Linear::new(self.query_size, self.num_heads * self.head_size()).no_bias()
    }

    fn proj_out(&self) -> Linear {
        Linear::new(self.num_heads * self.head_size(), self.query_size).no_bias()
    }

    /// Builds every field in Equinox order.
    pub fn build<B: Builder>(&self, b: &B) -> Result<MultiheadAttentionTree<B::Leaf>> {
        let proj_in = |name: &str| self.proj_in().build(&b.pp(name));
        Ok(MultiheadAttentionTree {
            cfg: *self,
            qkv_proj: [
                proj_in("query_proj")?,
                proj_in("key_proj")?,
                proj_in("value_proj")?,
            ],
            output_proj: self.proj_out().build(&b.pp("output_proj"))?,
            dropout: Dropout { p: self.dropout_p }.build(&b.pp("dropout")),
        })
    }
}

/// A built [`MultiheadAttention`].
#[derive(Clone, Debug)]
pub struct MultiheadAttentionTree<L> {
    /// The configuration.
    pub cfg: MultiheadAttention,
    /// The query, key and value projections (`query_proj`, `key_proj`, `value_proj`).
    pub qkv_proj: [LinearTree<L>; 3],
    /// Output projection.
    pub output_proj: LinearTree<L>,
    /// Dropout on the attention weights.
    pub dropout: Dropout,
}

impl MultiheadAttentionTree<Tensor> {
    /// `(B, S, h, c) -> (B, h, S, c)` projection of `x` (B, S, query_size).
    fn heads(&self, proj: &LinearTree<Tensor>, x: &Tensor) -> Result<Tensor> {
        let (b, s) = (x.dims()[0], x.dims()[1]);
        proj.apply(x)?
            .reshape(&[b, s, self.cfg.num_heads, self.cfg.head_size()])?
            .transpose(&[0, 2, 1, 3])
    }

    /// Attention of `query` (B, S, query_size) over `key` and `value` (B, S', query_size),
    /// giving (B, S, query_size); dropout on the weights in training mode.
    pub fn apply(
        &self,
        query: &Tensor,
        key: &Tensor,
        value: &Tensor,
        mode: &ApplyMode,
    ) -> Result<Tensor> {
        let c = &self.cfg;
        for (what, t) in [("query", query), ("key", key), ("value", value)] {
            if t.rank() != 3 || t.dims()[2] != c.query_size {
                return Err(Error::BadArgument(format!(
                    "attention: the {what} must be (batch, sequence, {}), got {:?}",
                    c.query_size,
                    t.dims()
                )));
            }
        }
        if key.dims() != value.dims() || key.dims()[0] != query.dims()[0] {
            return Err(Error::BadArgument(format!(
                "attention: key {:?} and value {:?} must be sequences of equal length \
                 with the query's batch {}",
                key.dims(),
                value.dims(),
                query.dims()[0]
            )));
        }
        let (b, s) = (query.dims()[0], query.dims()[1]);
        let [pq, pk, pv] = &self.qkv_proj;
        let q = self.heads(pq, query)?;
        let k = self.heads(pk, key)?;
        let v = self.heads(pv, value)?;
        let q = (q / (c.head_size() as f64).sqrt())?;
        let logits = batched_dot(&q, &k, 2, 3, 3)?;
        let weights = logits.softmax(3)?;
        let weights = self.dropout.apply(&weights, mode)?;
        let out = batched_dot(&weights, &v, 2, 3, 2)?
            .transpose(&[0, 2, 1, 3])?
            .reshape(&[b, s, c.num_heads * c.head_size()])?;
        self.output_proj.apply(&out)
    }
}
