//! sbgm 0.0.38's `ResidualNetwork` (config `kind = "mlp"`).
//!
//! Per sample, with `t' = t / t1` and `c = [q, a]` (each only if the model takes it):
//! `h0 = _in([x, t', c])`; `h = h0`; for each residual layer `h = act(dropout(layer([h, t', c])))`;
//! the score is `_out(h0 + h)`. Its `Linear`s are sbgm's own (weight
//! `truncated_normal(-2, 2) * sqrt(1 / (in + 1))`, bias zeros); each layer has a `Dropout`.
//!
//! Leaves, in order: `_in.{weight,bias}`, `layers.{i}.{weight,bias}`,
//! `dropouts.{i}.{p,inference}`, `_out.{weight,bias}`, then the Python scalars `q_dim`,
//! `a_dim` (when set) and `t1`.

use crate::error::Result;
use crate::graph::Tensor;
use crate::nn::config::{
    MlpConfig, positive, positive_when_set, probability, required, time_scale,
};
use crate::nn::layers::{Activation, Dropout, Linear, LinearTree};
use crate::nn::module::{ApplyMode, Init, Inputs, Model, NetShapes, time_column};
use crate::nn::tree::Builder;

/// sbgm's `ResidualNetwork`.
#[derive(Clone, Debug, PartialEq)]
pub struct ResidualNetwork {
    /// Size of each sample.
    pub in_size: usize,
    /// Hidden width.
    pub width_size: usize,
    /// Number of residual layers.
    pub depth: usize,
    /// Length of `q`, if conditioned on it.
    pub q_dim: Option<usize>,
    /// Length of `a`, if conditioned on it.
    pub a_dim: Option<usize>,
    /// Activation after each residual layer.
    pub activation: Activation,
    /// Dropout probability.
    pub dropout_p: f64,
    /// Time scale.
    pub t1: f64,
}

/// sbgm's MLP `Linear`: weight `truncated_normal(-2, 2) * sqrt(1 / (in + 1))`, zero bias.
fn sbgm_linear<B: Builder>(l: Linear, b: &B) -> Result<LinearTree<B::Leaf>> {
    let std = (1.0 / (l.in_features as f64 + 1.0)).sqrt();
    l.build_with(
        b,
        Init::TruncatedNormal {
            std,
            lower: -2.0,
            upper: 2.0,
        },
        Init::Zeros,
    )
}

/// The tree of a [`ResidualNetwork`] (its Python scalars `q_dim`, `a_dim`, `t1` are the
/// configuration's).
pub struct ResidualTree<L> {
    input: LinearTree<L>,
    layers: Vec<LinearTree<L>>,
    dropouts: Vec<Dropout>,
    output: LinearTree<L>,
    t1: f64,
}

impl ResidualNetwork {
    /// The network a config describes (`in_size` must be set, see
    /// [`ModelConfig::with_data`](crate::nn::ModelConfig::with_data)).
    pub fn new(c: &MlpConfig) -> Result<ResidualNetwork> {
        let in_size = required(c.in_size, "in_size")?;
        positive(in_size, "in_size")?;
        positive(c.width_size, "width_size")?;
        positive_when_set(&[(c.q_dim, "q_dim"), (c.a_dim, "a_dim")])?;
        probability(c.dropout_p, "dropout_p")?;
        time_scale(c.t1)?;
        Ok(ResidualNetwork {
            in_size,
            width_size: c.width_size,
            depth: c.depth,
            q_dim: c.q_dim,
            a_dim: c.a_dim,
            activation: c.activation,
            dropout_p: c.dropout_p,
            t1: c.t1,
        })
    }

    fn cond_size(&self) -> usize {
        1 + self.q_dim.unwrap_or(0) + self.a_dim.unwrap_or(0)
    }

    fn input(&self) -> Linear {
        Linear::new(self.in_size + self.cond_size(), self.width_size)
    }

    fn layer(&self) -> Linear {
        Linear::new(self.width_size + self.cond_size(), self.width_size)
    }

    fn output(&self) -> Linear {
        Linear::new(self.width_size, self.in_size)
    }
}

impl Model for ResidualNetwork {
    const NAME: &'static str = "ResidualNetwork";
    type Tree<L> = ResidualTree<L>;

    fn shapes(&self) -> NetShapes {
        NetShapes {
            data: vec![self.in_size],
            q: self.q_dim.map(|q| vec![q]),
            a_dim: self.a_dim,
        }
    }

    fn tree<B: Builder>(&self, b: &B) -> Result<ResidualTree<B::Leaf>> {
        let input = sbgm_linear(self.input(), &b.pp("_in"))?;
        let layers = b.seq("layers", self.depth, |b, _| sbgm_linear(self.layer(), b))?;
        let dropouts = b.seq("dropouts", self.depth, |b, _| {
            Ok(Dropout { p: self.dropout_p }.build(b))
        })?;
        let output = sbgm_linear(self.output(), &b.pp("_out"))?;
        b.py_ints_when_set(&[("q_dim", self.q_dim), ("a_dim", self.a_dim)]);
        Ok(ResidualTree {
            input,
            layers,
            dropouts,
            output,
            t1: b.py_float("t1", self.t1),
        })
    }

    fn forward(&self, tree: &ResidualTree<Tensor>, io: Inputs, mode: &ApplyMode) -> Result<Tensor> {
        let Inputs { t, x, q, a, batch } = io;
        let tc = (time_column(t, batch)? / tree.t1)?;
        let mut cond = vec![tc];
        cond.extend(q.cloned());
        cond.extend(a.cloned());
        let cond = Tensor::cat(&cond.iter().collect::<Vec<_>>(), 1)?;
        // each layer sees [h, t', q, a]
        let h0 = tree.input.apply_parts(&[x, &cond])?;
        let mut h = h0.clone();
        for (layer, dropout) in tree.layers.iter().zip(&tree.dropouts) {
            h = layer.apply_parts(&[&h, &cond])?;
            h = dropout.apply(&h, mode)?;
            h = self.activation.apply(&h)?;
        }
        tree.output.apply(&(h0 + h)?)
    }
}
