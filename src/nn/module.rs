//! The model framework: a model is its parameter tree named by Equinox leaf paths.
//!
//! - [`Leaf`]: one leaf of a model (its [`LeafSpec`] and how it is initialised); a model's
//!   ordered leaf list is its Equinox `tree_flatten_with_path` order, Python scalar fields
//!   (`t1`, `q_dim`, `Dropout.p`, ...) included, so `.eqx` files map one to one.
//! - [`Params`]: the traced parameters, path -> [`Tensor`], in skeleton order (declared as
//!   graph parameters, sliced from one flat vector, or assembled from loop-carried values).
//! - [`ScoreNet`]: what every score network offers (leaves, shapes, batched `apply`), and
//!   [`Model`]: how one is written (its parameter tree and forward pass).
//! - [`ApplyMode`]: inference, or training with a random stream for dropout.

use std::cell::RefCell;
use std::collections::HashMap;

use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{Rng as _, RngExt};
use rand_distr::StandardNormal;

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::{Graph, Rng, Tensor};
use crate::host::HostArray;
use crate::io::{LeafKind, LeafSpec};
use crate::nn::tree::{Builder, Spec, Trace};

/// How a leaf gets its initial value.
#[derive(Clone, Debug, PartialEq)]
pub enum Init {
    /// All zeros.
    Zeros,
    /// All ones.
    Ones,
    /// Uniform on `[-lim, lim]` (Equinox's `Linear`/`Conv` default, `lim = 1/sqrt(fan_in)`).
    Uniform {
        /// Half-width of the interval.
        lim: f64,
    },
    /// Normal with standard deviation `std`.
    Normal {
        /// Standard deviation.
        std: f64,
    },
    /// `std * z` with `z` standard normal truncated to `[lower, upper]` (sbgm's MLP `Linear`:
    /// `truncated_normal(-2, 2) * sqrt(1 / (in + 1))`).
    TruncatedNormal {
        /// Scale applied to the truncated standard normal draw.
        std: f64,
        /// Lower bound of the standard normal draw.
        lower: f64,
        /// Upper bound of the standard normal draw.
        upper: f64,
    },
    /// A fixed value (Python scalar fields, fixed arrays).
    Value(HostArray),
}

/// One leaf of a model: its spec (path, dtype, shape, kind) and its initialisation.
#[derive(Clone, Debug, PartialEq)]
pub struct Leaf {
    /// Path, dtype, shape and kind, as the `.eqx` file stores it.
    pub spec: LeafSpec,
    /// Initial value.
    pub init: Init,
}

impl Leaf {
    /// An array leaf of type `dtype`.
    pub fn array(path: impl Into<String>, dtype: DType, shape: Vec<usize>, init: Init) -> Leaf {
        Leaf {
            spec: LeafSpec::array(path, dtype, shape),
            init,
        }
    }

    /// A Python `float` field with value `v` (a 0-d `<f8` record).
    pub fn py_float(path: impl Into<String>, v: f64) -> Leaf {
        Leaf {
            spec: LeafSpec::py_float(path),
            init: Init::Value(HostArray::scalar(v)),
        }
    }

    /// A Python `int` field with value `v` (a 0-d `<i8` record).
    pub fn py_int(path: impl Into<String>, v: i64) -> Leaf {
        Leaf {
            spec: LeafSpec::py_int(path),
            init: Init::Value(HostArray::scalar(v)),
        }
    }

    /// A Python `bool` field with value `v` (a 0-d `|b1` record).
    pub fn py_bool(path: impl Into<String>, v: bool) -> Leaf {
        Leaf {
            spec: LeafSpec::py_bool(path),
            init: Init::Value(HostArray::scalar(v)),
        }
    }

    /// Whether this leaf is a (trainable) array.
    pub fn is_array(&self) -> bool {
        self.spec.kind == LeafKind::Array
    }
}

/// Joins an Equinox path prefix and a field name (`join("blocks.0", "norm1")`).
pub fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else if name.is_empty() {
        prefix.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// Draws the initial value of one leaf.
fn draw(leaf: &Leaf, rng: &mut Xoshiro256PlusPlus) -> Result<HostArray> {
    let n = leaf.spec.numel();
    let values: Vec<f64> = match &leaf.init {
        Init::Value(v) => {
            if !leaf.spec.accepts(v) {
                return Err(Error::Msg(format!(
                    "leaf '{}': fixed value {:?} {:?} does not fit {}",
                    leaf.spec.path,
                    v.dtype(),
                    v.shape(),
                    leaf.spec.describe()
                )));
            }
            return Ok(v.clone());
        }
        Init::Zeros => vec![0.0; n],
        Init::Ones => vec![1.0; n],
        Init::Uniform { lim } => (0..n)
            .map(|_| (rng.random::<f64>() * 2.0 - 1.0) * lim)
            .collect(),
        Init::Normal { std } => (0..n)
            .map(|_| std * rng.sample::<f64, _>(StandardNormal))
            .collect(),
        Init::TruncatedNormal { std, lower, upper } => {
            if lower >= upper {
                return Err(Error::Msg(format!(
                    "leaf '{}': truncated normal bounds [{lower}, {upper}] are empty",
                    leaf.spec.path
                )));
            }
            (0..n)
                .map(|_| {
                    loop {
                        let z: f64 = rng.sample(StandardNormal);
                        if (*lower..=*upper).contains(&z) {
                            break std * z;
                        }
                    }
                })
                .collect()
        }
    };
    host_from_f64(leaf.spec.dtype, leaf.spec.shape.clone(), &values)
        .map_err(|e| Error::Msg(format!("leaf '{}': {e}", leaf.spec.path)))
}

/// A host array of a float type from f64 values.
pub(crate) fn host_from_f64(dtype: DType, shape: Vec<usize>, v: &[f64]) -> Result<HostArray> {
    match dtype {
        DType::F32 => HostArray::from_vec(shape, v.iter().map(|&x| x as f32).collect()),
        DType::F64 => HostArray::from_vec(shape, v.to_vec()),
        DType::F16 => {
            HostArray::from_vec(shape, v.iter().map(|&x| half::f16::from_f64(x)).collect())
        }
        DType::BF16 => {
            HostArray::from_vec(shape, v.iter().map(|&x| half::bf16::from_f64(x)).collect())
        }
        d => Err(Error::Msg(format!(
            "random initialisation needs a float type, got {d}"
        ))),
    }
}

/// Initial values of every leaf (scalars included), in order, from `seed`. Each leaf draws
/// from its own stream (seed and leaf index), so adding a leaf does not shift the others.
pub fn init_leaves(leaves: &[Leaf], seed: u64) -> Result<Vec<(String, HostArray)>> {
    leaves
        .iter()
        .enumerate()
        .map(|(i, leaf)| {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(
                seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            );
            // Discard one word so that nearby seeds decorrelate quickly.
            let _ = rng.next_u64();
            Ok((leaf.spec.path.clone(), draw(leaf, &mut rng)?))
        })
        .collect()
}

/// The array leaves of a leaf list (what [`Params::declare`] makes graph parameters of), in
/// order: the host values to pass for those parameters.
pub fn array_values(
    skeleton: &[LeafSpec],
    leaves: &[(String, HostArray)],
) -> Result<Vec<HostArray>> {
    crate::io::check_leaves(skeleton, leaves)?;
    Ok(skeleton
        .iter()
        .zip(leaves)
        .filter(|(s, _)| s.kind == LeafKind::Array)
        .map(|(_, (_, a))| a.clone())
        .collect())
}

/// A model's traced parameters: Equinox leaf path -> [`Tensor`], in skeleton order.
///
/// Only array leaves are parameters; Python scalar leaves (`t1`, `Dropout.p`, ...) are
/// constants of the model configuration.
#[derive(Clone, Debug, Default)]
pub struct Params {
    entries: Vec<(String, Tensor)>,
    index: HashMap<String, usize>,
}

impl Params {
    /// An empty set.
    pub fn new() -> Params {
        Params::default()
    }

    /// Adds a parameter; paths must be unique.
    pub fn insert(&mut self, path: impl Into<String>, t: Tensor) -> Result<()> {
        let path = path.into();
        if self.index.contains_key(&path) {
            return Err(Error::Msg(format!("parameter '{path}' given twice")));
        }
        self.index.insert(path.clone(), self.entries.len());
        self.entries.push((path, t));
        Ok(())
    }

    /// Declares one graph parameter per array leaf of `skeleton`, in order, named
    /// `prefix + path` (e.g. `params.layers.0.weight` with prefix `"params."`). The caller
    /// passes the values in the same order ([`array_values`]).
    pub fn declare(g: &Graph, skeleton: &[LeafSpec], prefix: &str) -> Result<Params> {
        let mut p = Params::new();
        for s in skeleton.iter().filter(|s| s.kind == LeafKind::Array) {
            let t = g.parameter(&format!("{prefix}{}", s.path), &s.shape, s.dtype)?;
            p.insert(s.path.clone(), t)?;
        }
        Ok(p)
    }

    /// The array leaves of `skeleton` as consecutive slices of one flat vector (rank 1,
    /// length [`n_params`]), reshaped to their leaf shapes. The leaves must share `flat`'s
    /// dtype.
    pub fn from_flat(flat: &Tensor, skeleton: &[LeafSpec]) -> Result<Params> {
        let total = n_params(skeleton);
        if flat.rank() != 1 || flat.dims()[0] != total {
            return Err(Error::BadArgument(format!(
                "the flat parameter vector must have shape [{total}], got {:?}",
                flat.dims()
            )));
        }
        let mut p = Params::new();
        let mut off = 0;
        for s in skeleton.iter().filter(|s| s.kind == LeafKind::Array) {
            if s.dtype != flat.dtype() {
                return Err(Error::BadArgument(format!(
                    "leaf '{}' is {} but the flat vector is {}",
                    s.path,
                    s.dtype,
                    flat.dtype()
                )));
            }
            let n = s.numel();
            let t = flat.slice(&[off], &[off + n], &[1])?.reshape(&s.shape)?;
            p.insert(s.path.clone(), t)?;
            off += n;
        }
        Ok(p)
    }

    /// Parameters from (path, tensor) pairs in order (e.g. values carried by a loop).
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, Tensor)>) -> Result<Params> {
        let mut p = Params::new();
        for (k, t) in pairs {
            p.insert(k, t)?;
        }
        Ok(p)
    }

    /// The parameter at `path`, or an error naming it.
    pub fn get(&self, path: &str) -> Result<&Tensor> {
        self.index
            .get(path)
            .map(|&i| &self.entries[i].1)
            .ok_or_else(|| {
                Error::Msg(format!(
                    "no parameter '{path}' (the parameters do not match the model; \
                     build them from the model's skeleton)"
                ))
            })
    }

    /// Whether `path` is present.
    pub fn contains(&self, path: &str) -> bool {
        self.index.contains_key(path)
    }

    /// Number of parameters (leaves).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// (path, tensor) pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Tensor)> {
        self.entries.iter().map(|(k, t)| (k.as_str(), t))
    }

    /// The paths in order.
    pub fn paths(&self) -> Vec<&str> {
        self.entries.iter().map(|(k, _)| k.as_str()).collect()
    }

    /// The tensors in order.
    pub fn tensors(&self) -> Vec<&Tensor> {
        self.entries.iter().map(|(_, t)| t).collect()
    }

    /// Applies `f` to every tensor (e.g. an optimizer update), keeping paths and order.
    pub fn map(&self, mut f: impl FnMut(&str, &Tensor) -> Result<Tensor>) -> Result<Params> {
        let mut p = Params::new();
        for (k, t) in &self.entries {
            p.insert(k.clone(), f(k, t)?)?;
        }
        Ok(p)
    }

    /// The tensors flattened and concatenated into one rank-1 vector (the inverse of
    /// [`Params::from_flat`]).
    pub fn flatten(&self) -> Result<Tensor> {
        let flat: Vec<Tensor> = self
            .entries
            .iter()
            .map(|(_, t)| t.reshape(&[t.elem_count()]))
            .collect::<Result<_>>()?;
        let refs: Vec<&Tensor> = flat.iter().collect();
        Tensor::cat(&refs, 0)
    }
}

/// Number of trainable elements (array leaves) of a skeleton.
pub fn n_params(skeleton: &[LeafSpec]) -> usize {
    skeleton
        .iter()
        .filter(|s| s.kind == LeafKind::Array)
        .map(LeafSpec::numel)
        .sum()
}

/// How a network is applied: at inference (dropout off), or in training with a random stream
/// for dropout masks.
#[derive(Debug)]
pub enum ApplyMode {
    /// Deterministic evaluation: dropout is the identity.
    Inference,
    /// Training: dropout draws its masks from this stream (advanced by every draw; read the
    /// final key with [`ApplyMode::key`] to continue the stream).
    Train(RefCell<Rng>),
}

impl ApplyMode {
    /// Training mode drawing from `rng`.
    pub fn train(rng: Rng) -> ApplyMode {
        ApplyMode::Train(RefCell::new(rng))
    }

    /// Whether this is training mode.
    pub fn is_training(&self) -> bool {
        matches!(self, ApplyMode::Train(_))
    }

    /// The current key of the training stream (after the draws made so far).
    pub fn key(&self) -> Option<Tensor> {
        match self {
            ApplyMode::Inference => None,
            ApplyMode::Train(r) => Some(r.borrow().key().clone()),
        }
    }

    /// The training stream, consumed.
    pub fn into_rng(self) -> Option<Rng> {
        match self {
            ApplyMode::Inference => None,
            ApplyMode::Train(r) => Some(r.into_inner()),
        }
    }

    /// Uniform draws on `[0, 1)` in training mode; `None` at inference.
    pub fn uniform(&self, dims: &[usize], dtype: DType) -> Result<Option<Tensor>> {
        match self {
            ApplyMode::Inference => Ok(None),
            ApplyMode::Train(r) => Ok(Some(r.borrow_mut().uniform(dims, dtype)?)),
        }
    }
}

/// A score network `s(t, x, q, a)` with sbgm's parameter tree.
///
/// Every network of this crate implements it through [`Model`]; the leaf list, the shapes and
/// the batched [`ScoreNet::apply`] are what callers use, the rest is provided.
pub trait ScoreNet {
    /// The sbgm class name (`ResidualNetwork`, `Mixer2d`, `UNet`, `DiT`).
    fn name(&self) -> &'static str;

    /// Every leaf in Equinox order, with its initialisation.
    fn leaves(&self) -> Vec<Leaf>;

    /// The shape of one sample `x` (without the batch dimension).
    fn data_shape(&self) -> Vec<usize>;

    /// The shape of one conditioning map `q`, or `None` if the model takes none.
    fn q_shape(&self) -> Option<Vec<usize>>;

    /// The length of the conditioning vector `a`, or `None` if the model takes none.
    fn a_dim(&self) -> Option<usize>;

    /// The batched score: `t` is `(B,)` (or a scalar for every sample), `x` is
    /// `(B, data_shape..)`, `q` is `(B, q_shape..)` and `a` is `(B, a_dim)` exactly when the
    /// model takes them; returns `(B, data_shape..)`. Per sample it computes what sbgm's
    /// model computes at `(t, x, q, a)`.
    fn apply(
        &self,
        params: &Params,
        t: &Tensor,
        x: &Tensor,
        q: Option<&Tensor>,
        a: Option<&Tensor>,
        mode: &ApplyMode,
    ) -> Result<Tensor> {
        let batch = self.check_inputs(t, x, q, a)?;
        self.apply_checked(params, Inputs { t, x, q, a, batch }, mode)
    }

    /// [`ScoreNet::apply`] to inputs [`ScoreNet::check_inputs`] has checked.
    fn apply_checked(&self, params: &Params, inputs: Inputs, mode: &ApplyMode) -> Result<Tensor>;

    /// The leaf skeleton for `.eqx` files (paths, dtypes, shapes, kinds), in order.
    fn skeleton(&self) -> Vec<LeafSpec> {
        self.leaves().into_iter().map(|l| l.spec).collect()
    }

    /// Initial values of every leaf (scalar leaves included, so the list writes as an `.eqx`
    /// file), drawn from Equinox's/sbgm's initialisation distributions with `seed`.
    fn init(&self, seed: u64) -> Result<Vec<(String, HostArray)>> {
        init_leaves(&self.leaves(), seed)
    }

    /// Number of trainable elements.
    fn n_params(&self) -> usize {
        n_params(&self.skeleton())
    }

    /// Checks loaded leaves against the skeleton (count, paths, dtypes and shapes) and the
    /// Python scalar leaves against this configuration (e.g. `t1`, `q_dim`), naming the first
    /// leaf that differs.
    fn check_leaves(&self, leaves: &[(String, HostArray)]) -> Result<()> {
        let model = self.leaves();
        let skel: Vec<LeafSpec> = model.iter().map(|l| l.spec.clone()).collect();
        crate::io::check_leaves(&skel, leaves)?;
        for (l, (_, v)) in model.iter().zip(leaves) {
            // Dropout's `inference` flag is a run-time switch, not part of the architecture.
            if l.spec.path.ends_with(".inference") {
                continue;
            }
            if let (LeafKind::PyScalar, Init::Value(want)) = (l.spec.kind, &l.init)
                && want.to_f64_vec() != v.to_f64_vec()
            {
                return Err(Error::BadArgument(format!(
                    "leaf '{}': the checkpoint has {:?}, the model configuration says {:?}; \
                     the checkpoint was made with another configuration",
                    l.spec.path,
                    v.to_f64_vec()[0],
                    want.to_f64_vec()[0]
                )));
            }
        }
        Ok(())
    }

    /// Checks `t`, `x`, `q` and `a` against the model (shapes, dtypes, presence) and returns
    /// the batch size. Called by every `apply`.
    fn check_inputs(
        &self,
        t: &Tensor,
        x: &Tensor,
        q: Option<&Tensor>,
        a: Option<&Tensor>,
    ) -> Result<usize> {
        crate::nn::inputs::check_inputs(self, (t, x), (q, a))
    }
}

/// What a network takes per sample: the shape of `x`, of the conditioning map `q` and the
/// length of the parameter vector `a` (the last two when the model is conditioned on them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetShapes {
    /// The shape of one sample `x`.
    pub data: Vec<usize>,
    /// The shape of one conditioning map `q`.
    pub q: Option<Vec<usize>>,
    /// The length of `a`.
    pub a_dim: Option<usize>,
}

impl NetShapes {
    /// An image model's: `x` is `(channels, height, width)`, `q` has `q_channels` channels of
    /// the same size.
    pub fn image(
        [channels, height, width]: [usize; 3],
        q_channels: Option<usize>,
        a_dim: Option<usize>,
    ) -> NetShapes {
        NetShapes {
            data: vec![channels, height, width],
            q: q_channels.map(|q| vec![q, height, width]),
            a_dim,
        }
    }
}

/// One batched evaluation's inputs, checked against the network's [`NetShapes`].
#[derive(Clone, Copy, Debug)]
pub struct Inputs<'a> {
    /// Times, `(B,)` or a scalar for every sample.
    pub t: &'a Tensor,
    /// Samples `(B, data..)`.
    pub x: &'a Tensor,
    /// Conditioning maps `(B, q..)`, when the model takes them.
    pub q: Option<&'a Tensor>,
    /// Parameter vectors `(B, a_dim)`, when the model takes them.
    pub a: Option<&'a Tensor>,
    /// The batch size `B`.
    pub batch: usize,
}

/// How a score network is written: its parameter tree (built once per use by
/// [`Model::tree`], see [`crate::nn::tree`]) and the forward pass over the traced tree. Every
/// `Model` is a [`ScoreNet`].
pub trait Model {
    /// The sbgm class name.
    const NAME: &'static str;

    /// The parameter tree, its array fields of type `L`.
    type Tree<L>;

    /// What the network takes per sample.
    fn shapes(&self) -> NetShapes;

    /// Builds the tree, naming every leaf in Equinox order.
    fn tree<B: Builder>(&self, b: &B) -> Result<Self::Tree<B::Leaf>>;

    /// The batched score of checked `inputs` with the traced tree.
    fn forward(
        &self,
        tree: &Self::Tree<Tensor>,
        inputs: Inputs,
        mode: &ApplyMode,
    ) -> Result<Tensor>;
}

impl<M: Model> ScoreNet for M {
    fn name(&self) -> &'static str {
        M::NAME
    }

    fn leaves(&self) -> Vec<Leaf> {
        // A built model's configuration is checked, and naming its leaves cannot fail.
        Spec::leaves(|b| self.tree(b)).expect("a checked model configuration names its leaves")
    }

    fn data_shape(&self) -> Vec<usize> {
        self.shapes().data
    }

    fn q_shape(&self) -> Option<Vec<usize>> {
        self.shapes().q
    }

    fn a_dim(&self) -> Option<usize> {
        self.shapes().a_dim
    }

    fn apply_checked(&self, params: &Params, inputs: Inputs, mode: &ApplyMode) -> Result<Tensor> {
        let tree = self.tree(&Trace::new(params))?;
        self.forward(&tree, inputs, mode)
    }
}

/// `t` as a `(B, 1)` column (a scalar `t` is broadcast to every sample).
pub fn time_column(t: &Tensor, batch: usize) -> Result<Tensor> {
    if t.rank() == 0 {
        t.broadcast_to(&[batch, 1])
    } else {
        t.reshape(&[batch, 1])
    }
}
