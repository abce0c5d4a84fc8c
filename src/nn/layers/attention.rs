//! Attention layers of sbgm's score networks, batched over a leading axis: the UNet's
//! `LinearAttention` and `Attention` over feature maps (RMS-normalised, with learned memory
//! keys and values) and Equinox's `MultiheadAttention` (the DiT's).

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::{DotDims, Tensor};
use crate::nn::layers::conv::Conv2d;
use crate::nn::layers::dropout;
use crate::nn::layers::linear::Linear;
use crate::nn::module::{ApplyMode, Init, Leaf, Params, join};

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

    /// The leaves `prefix.scale` (Python float) and `prefix.gamma` (dim, 1, 1).
    pub fn leaves(&self, prefix: &str) -> Vec<Leaf> {
        vec![
            Leaf::py_float(join(prefix, "scale"), self.scale()),
            Leaf::array(
                join(prefix, "gamma"),
                DType::F32,
                vec![self.dim, 1, 1],
                Init::Zeros,
            ),
        ]
    }

    /// Normalises `x` (B, dim, H, W) over its channels.
    pub fn apply(&self, p: &Params, prefix: &str, x: &Tensor) -> Result<Tensor> {
        if x.rank() != 4 || x.dims()[1] != self.dim {
            return Err(Error::BadArgument(format!(
                "RMS norm '{prefix}' takes (batch, {}, height, width) input, got {:?}",
                self.dim,
                x.dims()
            )));
        }
        let gamma = p.get(&join(prefix, "gamma"))?;
        let norm = x.sqr()?.sum(&[1], true)?.sqrt()?;
        ((x / norm)? * (gamma + 1.0)?)? * self.scale()
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

    /// `scale`, `heads` (Python fields).
    fn scalar_leaves(&self, prefix: &str) -> Vec<Leaf> {
        vec![
            Leaf::py_float(join(prefix, "scale"), self.scale()),
            Leaf::py_int(join(prefix, "heads"), self.heads as i64),
        ]
    }

    fn mem_kv_leaf(&self, prefix: &str, shape: Vec<usize>) -> Leaf {
        Leaf::array(
            join(prefix, "mem_kv"),
            DType::F32,
            shape,
            Init::Normal { std: 1.0 },
        )
    }

    /// The projections `q, k, v`, each (B, heads, dim_head, H*W), of the normalised map.
    fn qkv(&self, p: &Params, prefix: &str, xn: &Tensor) -> Result<[Tensor; 3]> {
        let d = xn.dims();
        let (b, n) = (d[0], d[2] * d[3]);
        let qkv = self.qkv_conv().apply(p, &join(prefix, "to_qkv"), xn)?;
        let parts = qkv.chunk(3, 1)?;
        let r = |t: &Tensor| t.reshape(&[b, self.heads, self.dim_head, n]);
        Ok([r(&parts[0])?, r(&parts[1])?, r(&parts[2])?])
    }

    /// Memory keys and values `mem_kv[0]`, `mem_kv[1]` broadcast over the batch.
    fn memory(&self, p: &Params, prefix: &str, b: usize, shape: [usize; 2]) -> Result<[Tensor; 2]> {
        let mem = p.get(&join(prefix, "mem_kv"))?;
        let want = [2, self.heads, shape[0], shape[1]];
        if mem.dims() != want {
            return Err(Error::BadArgument(format!(
                "'{}' has shape {:?}, expected {want:?}",
                join(prefix, "mem_kv"),
                mem.dims()
            )));
        }
        let one = |i: usize| -> Result<Tensor> {
            let m = mem.narrow(0, i, 1)?;
            m.broadcast_to(&[b, self.heads, shape[0], shape[1]])
        };
        Ok([one(0)?, one(1)?])
    }

    fn check(&self, what: &str, prefix: &str, x: &Tensor) -> Result<()> {
        if x.rank() != 4 || x.dims()[1] != self.dim {
            return Err(Error::BadArgument(format!(
                "{what} '{prefix}' takes (batch, {}, height, width) input, got {:?}",
                self.dim,
                x.dims()
            )));
        }
        Ok(())
    }
}

/// sbgm's UNet `LinearAttention(dim, heads, dim_head)`: fields `scale`, `heads`, `norm1`,
/// `mem_kv` (2, heads, dim_head, num_mem_kv), `to_qkv` (1×1 conv, no bias), `conv` (1×1 conv),
/// `norm2`. Queries are softmaxed over channels, keys over positions (memory included), and
/// the output is `norm2(conv(context^T q))`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinearAttention(pub AttentionDims);

impl LinearAttention {
    /// Every leaf in Equinox order.
    pub fn leaves(&self, prefix: &str) -> Vec<Leaf> {
        let a = &self.0;
        let mut v = a.scalar_leaves(prefix);
        v.extend(RmsNorm::new(a.dim).leaves(&join(prefix, "norm1")));
        v.push(a.mem_kv_leaf(prefix, vec![2, a.heads, a.dim_head, a.num_mem_kv]));
        v.extend(a.qkv_conv().leaves(&join(prefix, "to_qkv")));
        v.extend(Conv2d::new(a.hidden(), a.dim, 1).leaves(&join(prefix, "conv")));
        v.extend(RmsNorm::new(a.dim).leaves(&join(prefix, "norm2")));
        v
    }

    /// The attention output (B, dim, H, W) of `x` (B, dim, H, W) (the UNet adds `x` itself).
    pub fn apply(&self, p: &Params, prefix: &str, x: &Tensor) -> Result<Tensor> {
        let a = &self.0;
        a.check("linear attention", prefix, x)?;
        let d = x.dims().to_vec();
        let b = d[0];
        let xn = RmsNorm::new(a.dim).apply(p, &join(prefix, "norm1"), x)?;
        let [q, k, v] = a.qkv(p, prefix, &xn)?;
        let [mk, mv] = a.memory(p, prefix, b, [a.dim_head, a.num_mem_kv])?;
        // (B, h, d, M + N)
        let k = Tensor::cat(&[&mk, &k], 3)?;
        let v = Tensor::cat(&[&mv, &v], 3)?;
        let q = q.softmax(2)?;
        let k = k.softmax(3)?;
        let q = (q * a.scale())?;
        // context[b, h, d, e] = sum_n k[b, h, d, n] v[b, h, e, n]
        let context = batched_dot(&k, &v, 2, 3, 3)?;
        // out[b, h, e, n] = sum_d context[b, h, d, e] q[b, h, d, n]
        let out = batched_dot(&context, &q, 2, 2, 2)?;
        let out = out.reshape(&[b, a.hidden(), d[2], d[3]])?;
        let out = Conv2d::new(a.hidden(), a.dim, 1).apply(p, &join(prefix, "conv"), &out)?;
        RmsNorm::new(a.dim).apply(p, &join(prefix, "norm2"), &out)
    }
}

/// sbgm's UNet `Attention(dim, heads, dim_head)` (full softmax attention over positions):
/// fields `scale`, `heads`, `norm`, `mem_kv` (2, heads, num_mem_kv, dim_head), `to_qkv` and
/// `to_out` (1×1 convs without bias).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attention(pub AttentionDims);

impl Attention {
    /// Every leaf in Equinox order.
    pub fn leaves(&self, prefix: &str) -> Vec<Leaf> {
        let a = &self.0;
        let mut v = a.scalar_leaves(prefix);
        v.extend(RmsNorm::new(a.dim).leaves(&join(prefix, "norm")));
        v.push(a.mem_kv_leaf(prefix, vec![2, a.heads, a.num_mem_kv, a.dim_head]));
        v.extend(a.qkv_conv().leaves(&join(prefix, "to_qkv")));
        v.extend(
            Conv2d::new(a.hidden(), a.dim, 1)
                .no_bias()
                .leaves(&join(prefix, "to_out")),
        );
        v
    }

    /// The attention output (B, dim, H, W) of `x` (B, dim, H, W) (the UNet adds `x` itself).
    pub fn apply(&self, p: &Params, prefix: &str, x: &Tensor) -> Result<Tensor> {
        let a = &self.0;
        a.check("attention", prefix, x)?;
        let d = x.dims().to_vec();
        let b = d[0];
        let xn = RmsNorm::new(a.dim).apply(p, &join(prefix, "norm"), x)?;
        // (B, h, N, d)
        let [q, k, v] = a.qkv(p, prefix, &xn)?.map(|t| t.transpose(&[0, 1, 3, 2]));
        let (q, k, v) = (q?, k?, v?);
        let [mk, mv] = a.memory(p, prefix, b, [a.num_mem_kv, a.dim_head])?;
        let k = Tensor::cat(&[&mk, &k], 2)?;
        let v = Tensor::cat(&[&mv, &v], 2)?;
        let q = (q * a.scale())?;
        // sim[b, h, i, j] = sum_d q[b, h, i, d] k[b, h, j, d]
        let sim = batched_dot(&q, &k, 2, 3, 3)?;
        let attn = sim.softmax(3)?;
        // out[b, h, i, d] = sum_j attn[b, h, i, j] v[b, h, j, d]
        let out = batched_dot(&attn, &v, 2, 3, 2)?;
        let out = out
            .transpose(&[0, 1, 3, 2])?
            .reshape(&[b, a.hidden(), d[2], d[3]])?;
        Conv2d::new(a.hidden(), a.dim, 1)
            .no_bias()
            .apply(p, &join(prefix, "to_out"), &out)
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
            return Err(Error::BadArgument(format!(
                "multihead attention needs 1 <= num_heads <= query_size, got {num_heads} heads \
                 over {query_size} channels"
            )));
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

    /// Every leaf in Equinox order.
    pub fn leaves(&self, prefix: &str) -> Vec<Leaf> {
        let mut v = Vec::new();
        for name in ["query_proj", "key_proj", "value_proj"] {
            v.extend(self.proj_in().leaves(&join(prefix, name)));
        }
        v.extend(self.proj_out().leaves(&join(prefix, "output_proj")));
        v.extend(dropout::leaves(&join(prefix, "dropout"), self.dropout_p));
        v
    }

    /// `(B, S, h, c) -> (B, h, S, c)` projection of `x` (B, S, query_size).
    fn heads(&self, p: &Params, path: &str, x: &Tensor) -> Result<Tensor> {
        let (b, s) = (x.dims()[0], x.dims()[1]);
        self.proj_in()
            .apply(p, path, x)?
            .reshape(&[b, s, self.num_heads, self.head_size()])?
            .transpose(&[0, 2, 1, 3])
    }

    /// Attention of `query` (B, S, query_size) over `key` and `value` (B, S', query_size),
    /// giving (B, S, query_size); dropout on the weights in training mode.
    pub fn apply(
        &self,
        p: &Params,
        prefix: &str,
        query: &Tensor,
        key: &Tensor,
        value: &Tensor,
        mode: &ApplyMode,
    ) -> Result<Tensor> {
        for (what, t) in [("query", query), ("key", key), ("value", value)] {
            if t.rank() != 3 || t.dims()[2] != self.query_size {
                return Err(Error::BadArgument(format!(
                    "attention '{prefix}': the {what} must be (batch, sequence, {}), got {:?}",
                    self.query_size,
                    t.dims()
                )));
            }
        }
        if key.dims() != value.dims() || key.dims()[0] != query.dims()[0] {
            return Err(Error::BadArgument(format!(
                "attention '{prefix}': key {:?} and value {:?} must be sequences of equal length \
                 with the query's batch {}",
                key.dims(),
                value.dims(),
                query.dims()[0]
            )));
        }
        let (b, s) = (query.dims()[0], query.dims()[1]);
        let q = self.heads(p, &join(prefix, "query_proj"), query)?;
        let k = self.heads(p, &join(prefix, "key_proj"), key)?;
        let v = self.heads(p, &join(prefix, "value_proj"), value)?;
        let q = (q / (self.head_size() as f64).sqrt())?;
        let logits = batched_dot(&q, &k, 2, 3, 3)?;
        let weights = logits.softmax(3)?;
        let weights = dropout::dropout(&weights, self.dropout_p, mode)?;
        let out = batched_dot(&weights, &v, 2, 3, 2)?
            .transpose(&[0, 2, 1, 3])?
            .reshape(&[b, s, self.num_heads * self.head_size()])?;
        self.proj_out().apply(p, &join(prefix, "output_proj"), &out)
    }
}
