//! Composite ops built on the primitives (their derivatives follow from the primitives'):
//! softmax, normalisations (layer, group, RMS), activations (gelu, silu, softplus) and the
//! dense product of a concatenation ([`Tensor::dense_on_cat`]).

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::op::DotDims;
use crate::graph::shape::axis;
use crate::graph::tensor::Tensor;

/// The widest trailing part [`Tensor::dense_on_cat`] multiplies apart.
const NARROW_PART: usize = 4;

impl Tensor {
    /// `cat(parts, -1) @ weight^T`: the parts concatenated on the last axis, times `weight`
    /// `(out, in)` (a dense layer without its bias). With bf16 products in XLA's kernels
    /// ([`GraphOptions::xla_bf16`](crate::graph::GraphOptions::xla_bf16)) and two parts
    /// `[x, c]` whose `c` is narrow (at most 4 columns, e.g. a time column), the concatenation
    /// is never built: `x @ W_x^T` plus broadcast products of `c`'s columns with the weight's
    /// last columns, their operands rounded to bf16 like the product's, so the result is what
    /// one product on the concatenation computes (up to the order of the f32 sums). An odd
    /// contraction length such as 257 halves the speed of XLA's CPU bf16 kernels, which take
    /// pairs along it. Otherwise (f32, or the host kernel, which pads the contraction itself)
    /// one product on the concatenation is faster: its weight gradient needs no padding back
    /// together.
    pub fn dense_on_cat(parts: &[&Tensor], weight: &Tensor) -> Result<Tensor> {
        let Some(first) = parts.first() else {
            return Err(Error::InvalidOp {
                op: "dense_on_cat",
                msg: "needs at least one part".into(),
            });
        };
        let last = |t: &Tensor| t.dims().last().copied().unwrap_or(0);
        if let [x, c] = parts
            && first.graph().options().xla_bf16()
            && last(c) <= NARROW_PART
            && weight.rank() == 2
            && weight.dims()[1] == last(x) + last(c)
        {
            return x.dense_split(c, weight);
        }
        Tensor::cat(parts, -1)?.dense(weight)
    }

    /// `self @ weight^T` over the last axis.
    fn dense(&self, weight: &Tensor) -> Result<Tensor> {
        self.dot_general(
            weight,
            &DotDims {
                lhs_contract: vec![self.rank() - 1],
                rhs_contract: vec![1],
                ..Default::default()
            },
        )
    }

    /// `cat([self, c], -1) @ weight^T` as `self @ W_x^T` plus one broadcast product per
    /// column of `c`, the split form of [`Tensor::dense_on_cat`] (which picks it under bf16
    /// products in XLA's kernels); `weight` is `(out, in)` with `in` = the two widths.
    pub fn dense_split(&self, c: &Tensor, weight: &Tensor) -> Result<Tensor> {
        let (out, nx) = (weight.dims()[0], self.dims().last().copied().unwrap_or(0));
        let nc = c.dims().last().copied().unwrap_or(0);
        let mut y = self.dense(&weight.slice(&[0, 0], &[out, nx], &[1, 1])?)?;
        // Under bf16 products the narrow block's operands are rounded too.
        let bf16 = self.graph().matmul_precision() == crate::graph::MatmulPrecision::Bf16
            && weight.dtype() == DType::F32;
        let round = |t: Tensor| -> Result<Tensor> {
            if bf16 {
                t.convert(DType::BF16)?.convert(DType::F32)
            } else {
                Ok(t)
            }
        };
        for k in 0..nc {
            let wk = weight
                .slice(&[0, nx + k], &[out, nx + k + 1], &[1, 1])?
                .reshape(&[out])?;
            y = (y + (round(c.narrow(-1, k, 1)?)? * round(wk)?)?)?;
        }
        Ok(y)
    }

    /// `exp(x) / sum(exp(x))` along `dim`, computed after subtracting the maximum.
    pub fn softmax(&self, dim: isize) -> Result<Tensor> {
        let d = axis("softmax", &self.shape, dim)?;
        let m = self.max(&[d], true)?.stop_gradient()?;
        let e = (self - m)?.exp()?;
        let s = e.sum(&[d], true)?;
        e / s
    }

    /// `x - logsumexp(x)` along `dim`.
    pub fn log_softmax(&self, dim: isize) -> Result<Tensor> {
        let d = axis("log_softmax", &self.shape, dim)?;
        self - self.logsumexp(&[d], true)?
    }

    /// Variance over `dims` (population variance, `mean(|x - mean|^2)`), kept dimensions.
    pub fn var_keepdim(&self, dims: &[usize]) -> Result<Tensor> {
        let mu = self.mean(dims, true)?;
        (self - mu)?.sqr()?.mean(dims, true)
    }

    /// `(x - mean) / sqrt(var + eps)` over `dims`.
    pub fn normalize(&self, dims: &[usize], eps: f64) -> Result<Tensor> {
        let mu = self.mean(dims, true)?;
        let c = (self - mu)?;
        let var = c.sqr()?.mean(dims, true)?;
        c * (var + eps)?.rsqrt()?
    }

    /// Layer normalisation over the last `n` dimensions, then `* weight + bias` (each of the
    /// normalised shape, optional), as `equinox.nn.LayerNorm`.
    pub fn layer_norm(
        &self,
        n: usize,
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
        eps: f64,
    ) -> Result<Tensor> {
        if n == 0 || n > self.rank() {
            return Err(Error::InvalidOp {
                op: "layer_norm",
                msg: format!("cannot normalise the last {n} dimensions of {}", self.shape),
            });
        }
        let dims: Vec<usize> = (self.rank() - n..self.rank()).collect();
        affine_opt(self.normalize(&dims, eps)?, weight, bias)
    }

    /// Group normalisation of `[N, C, ...]` input: channels split into `groups`, each group
    /// normalised over its channels and all spatial positions, then per-channel `weight` and
    /// `bias` (shape `[C]`, optional), as `equinox.nn.GroupNorm` applied per sample.
    pub fn group_norm(
        &self,
        groups: usize,
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
        eps: f64,
    ) -> Result<Tensor> {
        if self.rank() < 2 || groups == 0 || !self.dims()[1].is_multiple_of(groups) {
            return Err(Error::InvalidOp {
                op: "group_norm",
                msg: format!(
                    "needs [N, C, ...] input with C divisible by {groups}, got {}",
                    self.shape
                ),
            });
        }
        let n = self.dims()[0];
        let c = self.dims()[1];
        let rest = self.elem_count() / (n * c);
        let y = self
            .reshape(&[n, groups, (c / groups) * rest])?
            .normalize(&[2], eps)?
            .reshape(self.dims())?;
        let mut cshape = vec![1; self.rank()];
        cshape[1] = c;
        let w = weight.map(|w| w.reshape(&cshape)).transpose()?;
        let b = bias.map(|b| b.reshape(&cshape)).transpose()?;
        affine_opt(y, w.as_ref(), b.as_ref())
    }

    /// RMS normalisation over the last dimension: `x / sqrt(mean(x^2) + eps) * weight`.
    pub fn rms_norm(&self, weight: Option<&Tensor>, eps: f64) -> Result<Tensor> {
        let last = self.rank().checked_sub(1).ok_or_else(|| Error::InvalidOp {
            op: "rms_norm",
            msg: "needs rank >= 1".into(),
        })?;
        let r = (self.sqr()?.mean(&[last], true)? + eps)?.rsqrt()?;
        affine_opt((self * r)?, weight, None)
    }

    /// GELU. `approximate = true` is the tanh form `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715
    /// x^3)))` (the default of `jax.nn.gelu`); otherwise `0.5 x (1 + erf(x / sqrt 2))`.
    pub fn gelu(&self, approximate: bool) -> Result<Tensor> {
        let inner = if approximate {
            let c = (2.0 / std::f64::consts::PI).sqrt();
            ((self + (self.powf(3.0)? * 0.044715)?)? * c)?.tanh()?
        } else {
            (self * std::f64::consts::FRAC_1_SQRT_2)?.erf()?
        };
        (self * 0.5)? * (inner + 1.0)?
    }

    /// SiLU (swish): `x * sigmoid(x)`.
    pub fn silu(&self) -> Result<Tensor> {
        self * self.logistic()?
    }

    /// `log(1 + e^x)`, computed as `max(x, 0) + log1p(e^-|x|)`.
    pub fn softplus(&self) -> Result<Tensor> {
        self.relu()? + self.abs()?.neg()?.exp()?.log1p()?
    }
}

fn affine_opt(y: Tensor, w: Option<&Tensor>, b: Option<&Tensor>) -> Result<Tensor> {
    let y = match w {
        Some(w) => (y * w)?,
        None => y,
    };
    match b {
        Some(b) => y + b,
        None => Ok(y),
    }
}
