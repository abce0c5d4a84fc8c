//! Composite ops built on the primitives (their derivatives follow from the primitives'):
//! softmax, normalisations (layer, group, RMS) and activations (gelu, silu, softplus).

use crate::error::{Error, Result};
use crate::graph::shape::axis;
use crate::graph::tensor::Tensor;

impl Tensor {
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
