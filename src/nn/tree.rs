//! A model is its parameter tree: every layer is a struct whose fields are its leaves, built
//! by one function that names each leaf once (path, shape, initialisation) through a
//! [`Builder`], as candle's `VarBuilder` does.
//!
//! The same build function serves both uses of the tree:
//! - [`Spec`] collects the [`Leaf`] list (Equinox's `tree_flatten_with_path` order, Python
//!   scalar fields included) and gives a tree whose array fields are [`Leaf`]s;
//! - [`Trace`] takes each array leaf from traced [`Params`] (checking its shape) and gives a
//!   tree whose array fields are [`Tensor`]s, which the layer's `apply` reads as fields.
//!
//! Python scalar fields (`t1`, `Dropout.p`, ...) are plain values in every tree: the builder
//! records them in the leaf list and hands the value back.
//!
//! ```
//! use sbgm_xla::nn::layers::Linear;
//! use sbgm_xla::nn::tree::{Builder, Spec};
//! let leaves = Spec::leaves(|b| Linear::new(3, 2).build(&b.pp("proj")))?;
//! let paths: Vec<_> = leaves.iter().map(|l| l.spec.path.as_str()).collect();
//! assert_eq!(paths, ["proj.weight", "proj.bias"]);
//! # Ok::<(), sbgm_xla::Error>(())
//! ```

use std::cell::RefCell;
use std::rc::Rc;

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::Tensor;
use crate::nn::module::{Init, Leaf, Params, join};

/// Where a builder is in the tree: the path prefix and, inside a stack of identical modules
/// (sbgm's `eqx.filter_vmap`-built blocks), the stack depth and the member being built.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scope {
    /// Path of the module being built (`blocks.0.norm1`).
    pub prefix: String,
    /// `(depth, index)` inside a stack: array leaves carry a leading `depth` axis.
    pub stack: Option<(usize, usize)>,
}

/// Names and shapes the leaves of a tree: each layer's `build` calls it once per field.
pub trait Builder: Sized {
    /// What an array field of the built tree holds.
    type Leaf;

    /// The current scope.
    fn scope(&self) -> &Scope;

    /// The same builder in another scope.
    fn with_scope(&self, scope: Scope) -> Self;

    /// The array leaf `leaf` (its path is complete, its shape unstacked) in the current scope.
    fn array_leaf(&self, leaf: Leaf) -> Result<Self::Leaf>;

    /// Records the Python scalar leaf `leaf`.
    fn scalar_leaf(&self, leaf: Leaf);

    /// The builder for field `name` of the current module.
    fn pp(&self, name: &str) -> Self {
        let s = self.scope();
        self.with_scope(Scope {
            prefix: join(&s.prefix, name),
            stack: s.stack,
        })
    }

    /// The builder for member `index` of a stack of `depth` identical modules: their array
    /// leaves are stored once, stacked along a leading axis.
    fn stacked(&self, depth: usize, index: usize) -> Self {
        self.with_scope(Scope {
            prefix: self.scope().prefix.clone(),
            stack: Some((depth, index)),
        })
    }

    /// The f32 array field `name` of shape `shape`, initialised by `init`.
    fn array(&self, name: &str, shape: Vec<usize>, init: Init) -> Result<Self::Leaf> {
        let path = join(&self.scope().prefix, name);
        self.array_leaf(Leaf::array(path, DType::F32, shape, init))
    }

    /// The Python `float` field `name` with value `v`.
    fn py_float(&self, name: &str, v: f64) -> f64 {
        self.scalar_leaf(Leaf::py_float(join(&self.scope().prefix, name), v));
        v
    }

    /// The Python `int` field `name` with value `v`.
    fn py_int(&self, name: &str, v: usize) -> usize {
        self.scalar_leaf(Leaf::py_int(join(&self.scope().prefix, name), v as i64));
        v
    }

    /// The Python `bool` field `name` with value `v`.
    fn py_bool(&self, name: &str, v: bool) -> bool {
        self.scalar_leaf(Leaf::py_bool(join(&self.scope().prefix, name), v));
        v
    }

    /// The optional Python `int` fields (`q_dim`, `a_dim`, ...) that are set, in order.
    fn py_ints_when_set(&self, fields: &[(&str, Option<usize>)]) {
        for &(name, v) in fields {
            if let Some(v) = v {
                self.py_int(name, v);
            }
        }
    }

    /// Builds the members of a sequence field (`layers.0`, `layers.1`, ...).
    fn seq<T>(
        &self,
        name: &str,
        n: usize,
        f: impl Fn(&Self, usize) -> Result<T>,
    ) -> Result<Vec<T>> {
        (0..n)
            .map(|i| f(&self.pp(&join(name, &i.to_string())), i))
            .collect()
    }
}

/// Where a [`Scoped`] builder's leaves go or come from.
pub trait Source: Clone {
    /// What an array field of the built tree holds.
    type Leaf;

    /// The array leaf `leaf` (its path is complete, its shape unstacked) in `scope`.
    fn array_leaf(&self, scope: &Scope, leaf: Leaf) -> Result<Self::Leaf>;

    /// Records the Python scalar leaf `leaf` in `scope`.
    fn scalar_leaf(&self, scope: &Scope, leaf: Leaf);
}

/// A [`Builder`]: a scope and the [`Source`] of its leaves.
#[derive(Clone, Debug)]
pub struct Scoped<S> {
    scope: Scope,
    source: S,
}

impl<S: Source> Builder for Scoped<S> {
    type Leaf = S::Leaf;

    fn scope(&self) -> &Scope {
        &self.scope
    }

    fn with_scope(&self, scope: Scope) -> Self {
        let source = self.source.clone();
        Scoped { scope, source }
    }

    fn array_leaf(&self, leaf: Leaf) -> Result<S::Leaf> {
        self.source.array_leaf(&self.scope, leaf)
    }

    fn scalar_leaf(&self, leaf: Leaf) {
        self.source.scalar_leaf(&self.scope, leaf)
    }
}

/// Collects a tree's leaf list; its trees hold each array leaf's [`Leaf`].
pub type Spec = Scoped<Collect>;

/// The leaf list a [`Spec`] builder collects (the first member of a stack only).
#[derive(Clone, Debug, Default)]
pub struct Collect(Rc<RefCell<Vec<Leaf>>>);

impl Spec {
    /// The leaves `build` names, in order.
    pub fn leaves<T>(build: impl FnOnce(&Spec) -> Result<T>) -> Result<Vec<Leaf>> {
        let b = Scoped {
            scope: Scope::default(),
            source: Collect::default(),
        };
        build(&b)?;
        Ok(b.source.0.take())
    }
}

impl Source for Collect {
    type Leaf = Leaf;

    fn array_leaf(&self, scope: &Scope, mut leaf: Leaf) -> Result<Leaf> {
        if let Some((depth, _)) = scope.stack {
            leaf.spec.shape.insert(0, depth);
        }
        self.scalar_leaf(scope, leaf.clone());
        Ok(leaf)
    }

    fn scalar_leaf(&self, scope: &Scope, leaf: Leaf) {
        if scope.stack.is_none_or(|(_, i)| i == 0) {
            self.0.borrow_mut().push(leaf);
        }
    }
}

/// Takes each array leaf from traced [`Params`]; its trees hold [`Tensor`]s.
pub type Trace<'a> = Scoped<&'a Params>;

impl<'a> Trace<'a> {
    /// A builder at the root of `params`.
    pub fn new(params: &'a Params) -> Trace<'a> {
        Scoped {
            scope: Scope::default(),
            source: params,
        }
    }
}

impl Source for &Params {
    type Leaf = Tensor;

    fn array_leaf(&self, scope: &Scope, leaf: Leaf) -> Result<Tensor> {
        let (path, shape) = (&leaf.spec.path, &leaf.spec.shape);
        let t = self.get(path)?;
        let mut want = shape.clone();
        if let Some((depth, _)) = scope.stack {
            want.insert(0, depth);
        }
        if t.dims() != want {
            let stacked = if scope.stack.is_some() {
                " (stacked along depth)"
            } else {
                ""
            };
            return Err(Error::BadArgument(format!(
                "'{path}' has shape {:?}, expected {want:?}{stacked}",
                t.dims()
            )));
        }
        match scope.stack {
            Some((_, i)) => t.narrow(0, i, 1)?.reshape(shape),
            None => Ok(t.clone()),
        }
    }

    fn scalar_leaf(&self, _scope: &Scope, _leaf: Leaf) {}
}
