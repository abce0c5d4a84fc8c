//! `eqx.nn.Conv2d` and `eqx.nn.ConvTranspose2d` on batched NCHW input: `weight`
//! (out, in / groups, kh, kw) (OIHW), `bias` (out, 1, 1), both initialised uniform on
//! `±1/sqrt(in / groups * kh * kw)` as Equinox does.
//!
//! The transposed convolution follows Equinox, not PyTorch: it is a convolution of the input
//! dilated by `stride` with the *unflipped* kernel, padded by `dilation (k - 1) - padding` on
//! each side (plus `output_padding` after), so its output size is
//! `(h - 1) stride - 2 padding + dilation (k - 1) + output_padding + 1`.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::{ConvSpec, Tensor};
use crate::nn::module::{Init, Leaf, Params, join};

fn conv_leaves(
    prefix: &str,
    out: usize,
    in_per_group: usize,
    kernel: (usize, usize),
    use_bias: bool,
) -> Vec<Leaf> {
    let lim = 1.0 / ((in_per_group * kernel.0 * kernel.1) as f64).sqrt();
    let mut v = vec![Leaf::array(
        join(prefix, "weight"),
        DType::F32,
        vec![out, in_per_group, kernel.0, kernel.1],
        Init::Uniform { lim },
    )];
    if use_bias {
        v.push(Leaf::array(
            join(prefix, "bias"),
            DType::F32,
            vec![out, 1, 1],
            Init::Uniform { lim },
        ));
    }
    v
}

fn weight<'a>(p: &'a Params, prefix: &str, want: [usize; 4]) -> Result<&'a Tensor> {
    let w = p.get(&join(prefix, "weight"))?;
    if w.dims() != want {
        return Err(Error::BadArgument(format!(
            "'{}' has shape {:?}, expected {want:?}",
            join(prefix, "weight"),
            w.dims()
        )));
    }
    Ok(w)
}

fn check_input(what: &str, prefix: &str, x: &Tensor, channels: usize) -> Result<()> {
    if x.rank() != 4 || x.dims()[1] != channels {
        return Err(Error::BadArgument(format!(
            "{what} '{prefix}' takes (batch, {channels}, height, width) input, got {:?}",
            x.dims()
        )));
    }
    Ok(())
}

/// A 2-D convolution's configuration (Equinox's `Conv2d` arguments).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2d {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Kernel (height, width).
    pub kernel: (usize, usize),
    /// Strides (height, width).
    pub stride: (usize, usize),
    /// (before, after) zero padding of height and width.
    pub padding: [(i64, i64); 2],
    /// Kernel dilation (height, width).
    pub dilation: (usize, usize),
    /// Feature groups.
    pub groups: usize,
    /// Whether there is a bias.
    pub use_bias: bool,
}

impl Conv2d {
    /// A square `kernel`, stride 1, no padding, one group, with a bias.
    pub fn new(in_channels: usize, out_channels: usize, kernel: usize) -> Conv2d {
        Conv2d {
            in_channels,
            out_channels,
            kernel: (kernel, kernel),
            stride: (1, 1),
            padding: [(0, 0); 2],
            dilation: (1, 1),
            groups: 1,
            use_bias: true,
        }
    }
    /// Same stride on both axes.
    pub fn stride(self, s: usize) -> Conv2d {
        Conv2d {
            stride: (s, s),
            ..self
        }
    }
    /// Same padding `p` before and after both axes (Equinox's integer `padding`).
    pub fn padding(self, p: usize) -> Conv2d {
        Conv2d {
            padding: [(p as i64, p as i64); 2],
            ..self
        }
    }
    /// Same dilation on both axes.
    pub fn dilation(self, d: usize) -> Conv2d {
        Conv2d {
            dilation: (d, d),
            ..self
        }
    }
    /// Feature groups.
    pub fn groups(self, g: usize) -> Conv2d {
        Conv2d { groups: g, ..self }
    }
    /// Without a bias.
    pub fn no_bias(self) -> Conv2d {
        Conv2d {
            use_bias: false,
            ..self
        }
    }

    /// The leaves `prefix.weight` (out, in / groups, kh, kw) and `prefix.bias` (out, 1, 1).
    pub fn leaves(&self, prefix: &str) -> Vec<Leaf> {
        conv_leaves(
            prefix,
            self.out_channels,
            self.in_channels / self.groups.max(1),
            self.kernel,
            self.use_bias,
        )
    }

    /// The convolution of `x` (B, in, H, W), giving (B, out, H', W').
    pub fn apply(&self, p: &Params, prefix: &str, x: &Tensor) -> Result<Tensor> {
        check_input("conv", prefix, x, self.in_channels)?;
        let w = weight(
            p,
            prefix,
            [
                self.out_channels,
                self.in_channels / self.groups.max(1),
                self.kernel.0,
                self.kernel.1,
            ],
        )?;
        let spec = ConvSpec::new(2)
            .stride(&[self.stride.0, self.stride.1])
            .padding(&self.padding)
            .rhs_dilation(&[self.dilation.0, self.dilation.1])
            .groups(self.groups);
        let y = x.conv(w, &spec)?;
        if self.use_bias {
            y + p.get(&join(prefix, "bias"))?
        } else {
            Ok(y)
        }
    }
}

/// A transposed 2-D convolution's configuration (Equinox's `ConvTranspose2d` arguments).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvTranspose2d {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Kernel (height, width).
    pub kernel: (usize, usize),
    /// The stride of the equivalent convolution (height, width).
    pub stride: (usize, usize),
    /// The (before, after) padding of the equivalent convolution.
    pub padding: [(i64, i64); 2],
    /// Extra size added after each spatial axis (must be below the stride).
    pub output_padding: (usize, usize),
    /// Kernel dilation (height, width).
    pub dilation: (usize, usize),
    /// Feature groups.
    pub groups: usize,
    /// Whether there is a bias.
    pub use_bias: bool,
}

impl ConvTranspose2d {
    /// A square `kernel`, stride 1, no padding, one group, with a bias.
    pub fn new(in_channels: usize, out_channels: usize, kernel: usize) -> ConvTranspose2d {
        ConvTranspose2d {
            in_channels,
            out_channels,
            kernel: (kernel, kernel),
            stride: (1, 1),
            padding: [(0, 0); 2],
            output_padding: (0, 0),
            dilation: (1, 1),
            groups: 1,
            use_bias: true,
        }
    }
    /// Same stride on both axes.
    pub fn stride(self, s: usize) -> ConvTranspose2d {
        ConvTranspose2d {
            stride: (s, s),
            ..self
        }
    }
    /// Same padding `p` before and after both axes.
    pub fn padding(self, p: usize) -> ConvTranspose2d {
        ConvTranspose2d {
            padding: [(p as i64, p as i64); 2],
            ..self
        }
    }
    /// Same output padding on both axes.
    pub fn output_padding(self, a: usize) -> ConvTranspose2d {
        ConvTranspose2d {
            output_padding: (a, a),
            ..self
        }
    }
    /// Same dilation on both axes.
    pub fn dilation(self, d: usize) -> ConvTranspose2d {
        ConvTranspose2d {
            dilation: (d, d),
            ..self
        }
    }
    /// Feature groups.
    pub fn groups(self, g: usize) -> ConvTranspose2d {
        ConvTranspose2d { groups: g, ..self }
    }

    /// The leaves `prefix.weight` (out, in / groups, kh, kw) and `prefix.bias` (out, 1, 1).
    pub fn leaves(&self, prefix: &str) -> Vec<Leaf> {
        conv_leaves(
            prefix,
            self.out_channels,
            self.in_channels / self.groups.max(1),
            self.kernel,
            self.use_bias,
        )
    }

    /// The transposed convolution of `x` (B, in, H, W), giving (B, out, H', W').
    pub fn apply(&self, p: &Params, prefix: &str, x: &Tensor) -> Result<Tensor> {
        check_input("transposed conv", prefix, x, self.in_channels)?;
        if self.output_padding.0 >= self.stride.0 || self.output_padding.1 >= self.stride.1 {
            return Err(Error::BadArgument(format!(
                "transposed conv '{prefix}': output_padding {:?} must be below the stride {:?}",
                self.output_padding, self.stride
            )));
        }
        let w = weight(
            p,
            prefix,
            [
                self.out_channels,
                self.in_channels / self.groups.max(1),
                self.kernel.0,
                self.kernel.1,
            ],
        )?;
        let k = [self.kernel.0, self.kernel.1];
        let d = [self.dilation.0, self.dilation.1];
        let a = [self.output_padding.0, self.output_padding.1];
        let pads: Vec<(i64, i64)> = (0..2)
            .map(|i| {
                let span = (d[i] * (k[i] - 1)) as i64;
                (
                    span - self.padding[i].0,
                    span - self.padding[i].1 + a[i] as i64,
                )
            })
            .collect();
        let spec = ConvSpec::new(2)
            .lhs_dilation(&[self.stride.0, self.stride.1])
            .padding(&pads)
            .rhs_dilation(&d)
            .groups(self.groups);
        let y = x.conv(w, &spec)?;
        if self.use_bias {
            y + p.get(&join(prefix, "bias"))?
        } else {
            Ok(y)
        }
    }
}
