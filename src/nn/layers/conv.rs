//! `eqx.nn.Conv2d` and `eqx.nn.ConvTranspose2d` on batched NCHW input: `weight`
//! (out, in / groups, kh, kw) (OIHW), `bias` (out, 1, 1), both initialised uniform on
//! `±1/sqrt(in / groups * kh * kw)` as Equinox does.
//!
//! The transposed convolution follows Equinox, not PyTorch: it is a convolution of the input
//! dilated by `stride` with the *unflipped* kernel, padded by `dilation (k - 1) - padding` on
//! each side (plus `output_padding` after), so its output size is
//! `(h - 1) stride - 2 padding + dilation (k - 1) + output_padding + 1`.

use crate::error::{Error, Result};
use crate::graph::{ConvSpec, Tensor};
use crate::nn::layers::linear::add_bias;
use crate::nn::module::Init;
use crate::nn::tree::Builder;

/// A built convolution (`C` is [`Conv2d`] or [`ConvTranspose2d`]): its configuration and its
/// fields.
#[derive(Clone, Debug)]
pub struct ConvTree<C, L> {
    /// The configuration.
    pub cfg: C,
    /// `(out, in / groups, kh, kw)`.
    pub weight: L,
    /// `(out, 1, 1)`, if the layer has a bias.
    pub bias: Option<L>,
}

/// Checks that `x` is a batch of `channels`-channel feature maps.
pub(crate) fn check_input(what: &str, x: &Tensor, channels: usize) -> Result<()> {
    if x.rank() != 4 || x.dims()[1] != channels {
        return Err(Error::BadArgument(format!(
            "{what} takes (batch, {channels}, height, width) input, got {:?}",
            x.dims()
        )));
    }
    Ok(())
}

/// The setters and the leaves both convolutions share.
macro_rules! conv_common {
    ($t:ident) => {
        impl $t {
            /// Same stride on both axes.
            pub fn stride(self, s: usize) -> $t {
                $t {
                    stride: (s, s),
                    ..self
                }
            }
            /// Same padding `p` before and after both axes (Equinox's integer `padding`).
            pub fn padding(self, p: usize) -> $t {
                $t {
                    padding: [(p as i64, p as i64); 2],
                    ..self
                }
            }
            /// Same dilation on both axes.
            pub fn dilation(self, d: usize) -> $t {
                $t {
                    dilation: (d, d),
                    ..self
                }
            }
            /// Feature groups.
            pub fn groups(self, g: usize) -> $t {
                $t { groups: g, ..self }
            }
            /// Without a bias.
            pub fn no_bias(self) -> $t {
                $t {
                    use_bias: false,
                    ..self
                }
            }

            /// Builds the fields `weight` (out, in / groups, kh, kw) and `bias` (out, 1, 1),
            /// uniform on `±1/sqrt(in / groups * kh * kw)`.
            pub fn build<B: Builder>(&self, b: &B) -> Result<ConvTree<$t, B::Leaf>> {
                let in_per_group = self.in_channels / self.groups.max(1);
                let (kh, kw) = self.kernel;
                let lim = 1.0 / ((in_per_group * kh * kw) as f64).sqrt();
                Ok(ConvTree {
                    cfg: *self,
                    weight: b.array(
                        "weight",
                        vec![self.out_channels, in_per_group, kh, kw],
                        Init::Uniform { lim },
                    )?,
                    bias: self
                        .use_bias
                        .then(|| {
                            b.array("bias", vec![self.out_channels, 1, 1], Init::Uniform { lim })
                        })
                        .transpose()?,
                })
            }
        }
    };
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

conv_common!(Conv2d);

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
}

impl ConvTree<Conv2d, Tensor> {
    /// The convolution of `x` (B, in, H, W), giving (B, out, H', W').
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        let c = &self.cfg;
        check_input("conv", x, c.in_channels)?;
        let spec = ConvSpec::new(2)
            .stride(&[c.stride.0, c.stride.1])
            .padding(&c.padding)
            .rhs_dilation(&[c.dilation.0, c.dilation.1])
            .groups(c.groups);
        add_bias(x.conv(&self.weight, &spec)?, self.bias.as_ref())
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

conv_common!(ConvTranspose2d);

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
    /// Same output padding on both axes.
    pub fn output_padding(self, a: usize) -> ConvTranspose2d {
        ConvTranspose2d {
            output_padding: (a, a),
            ..self
        }
    }
}

impl ConvTree<ConvTranspose2d, Tensor> {
    /// The transposed convolution of `x` (B, in, H, W), giving (B, out, H', W').
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        let c = &self.cfg;
        check_input("transposed conv", x, c.in_channels)?;
        if c.output_padding.0 >= c.stride.0 || c.output_padding.1 >= c.stride.1 {
            return Err(Error::BadArgument(format!(
                "transposed conv: output_padding {:?} must be below the stride {:?}",
                c.output_padding, c.stride
            )));
        }
        let k = [c.kernel.0, c.kernel.1];
        let d = [c.dilation.0, c.dilation.1];
        let a = [c.output_padding.0, c.output_padding.1];
        let pads: Vec<(i64, i64)> = (0..2)
            .map(|i| {
                let span = (d[i] * (k[i] - 1)) as i64;
                (span - c.padding[i].0, span - c.padding[i].1 + a[i] as i64)
            })
            .collect();
        let spec = ConvSpec::new(2)
            .lhs_dilation(&[c.stride.0, c.stride.1])
            .padding(&pads)
            .rhs_dilation(&d)
            .groups(c.groups);
        add_bias(x.conv(&self.weight, &spec)?, self.bias.as_ref())
    }
}
