//! The tensor handle (a node of a graph with its static shape) and its arithmetic operators.

use std::fmt;

use crate::dtype::DType;
use crate::error::Result;
use crate::graph::builder::Graph;
use crate::graph::op::{ConstData, NodeId, Op};
use crate::graph::shape::Shape;

/// A symbolic tensor: one value of a [`Graph`], with its static [`Shape`]. Cheap to clone.
///
/// Ops are methods returning `Result<Tensor>` (shape errors surface at trace time); `+ - * /`
/// work on `Tensor`, `&Tensor`, `Result<Tensor>` and `f64` and broadcast like NumPy.
#[derive(Clone)]
pub struct Tensor {
    pub(crate) graph: Graph,
    pub(crate) id: NodeId,
    pub(crate) shape: Shape,
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tensor(%{}: {})", self.id, self.shape)
    }
}

impl Tensor {
    /// The tensor's static shape.
    pub fn shape(&self) -> &Shape {
        &self.shape
    }
    /// Its dimensions.
    pub fn dims(&self) -> &[usize] {
        &self.shape.dims
    }
    /// Its element type.
    pub fn dtype(&self) -> DType {
        self.shape.dtype
    }
    /// Its rank.
    pub fn rank(&self) -> usize {
        self.shape.rank()
    }
    /// Its number of elements.
    pub fn elem_count(&self) -> usize {
        self.shape.elem_count()
    }
    /// The graph it belongs to.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }
    /// Its node id in the graph (stable, useful for debugging and as a map key).
    pub fn id(&self) -> usize {
        self.id
    }

    /// A constant of this tensor's shape and type filled with `v`.
    pub fn full_like(&self, v: f64) -> Result<Tensor> {
        self.graph.full(&self.shape.dims, v, self.shape.dtype)
    }
    /// Zeros of this tensor's shape and type.
    pub fn zeros_like(&self) -> Result<Tensor> {
        self.full_like(0.0)
    }
    /// Ones of this tensor's shape and type.
    pub fn ones_like(&self) -> Result<Tensor> {
        self.full_like(1.0)
    }

    /// The splat value if this tensor is a splat constant.
    pub(crate) fn splat_value(&self) -> Option<f64> {
        match &self.graph.0.borrow().nodes[self.id].op {
            Op::Constant(ConstData::Splat(v)) => Some(*v),
            _ => None,
        }
    }
}

macro_rules! bin_trait {
    ($trait:ident, $fn:ident, $method:ident) => {
        impl std::ops::$trait<Tensor> for Tensor {
            type Output = Result<Tensor>;
            fn $fn(self, rhs: Tensor) -> Result<Tensor> {
                Tensor::$method(&self, &rhs)
            }
        }
        impl std::ops::$trait<&Tensor> for Tensor {
            type Output = Result<Tensor>;
            fn $fn(self, rhs: &Tensor) -> Result<Tensor> {
                Tensor::$method(&self, rhs)
            }
        }
        impl std::ops::$trait<Tensor> for &Tensor {
            type Output = Result<Tensor>;
            fn $fn(self, rhs: Tensor) -> Result<Tensor> {
                Tensor::$method(self, &rhs)
            }
        }
        impl std::ops::$trait<&Tensor> for &Tensor {
            type Output = Result<Tensor>;
            fn $fn(self, rhs: &Tensor) -> Result<Tensor> {
                Tensor::$method(self, rhs)
            }
        }
        impl std::ops::$trait<Result<Tensor>> for Tensor {
            type Output = Result<Tensor>;
            fn $fn(self, rhs: Result<Tensor>) -> Result<Tensor> {
                Tensor::$method(&self, &rhs?)
            }
        }
        impl std::ops::$trait<Result<Tensor>> for &Tensor {
            type Output = Result<Tensor>;
            fn $fn(self, rhs: Result<Tensor>) -> Result<Tensor> {
                Tensor::$method(self, &rhs?)
            }
        }
        impl std::ops::$trait<Tensor> for Result<Tensor> {
            type Output = Result<Tensor>;
            fn $fn(self, rhs: Tensor) -> Result<Tensor> {
                Tensor::$method(&self?, &rhs)
            }
        }
        impl std::ops::$trait<&Tensor> for Result<Tensor> {
            type Output = Result<Tensor>;
            fn $fn(self, rhs: &Tensor) -> Result<Tensor> {
                Tensor::$method(&self?, rhs)
            }
        }
        impl std::ops::$trait<f64> for Tensor {
            type Output = Result<Tensor>;
            fn $fn(self, rhs: f64) -> Result<Tensor> {
                Tensor::$method(&self, &self.full_like(rhs)?)
            }
        }
        impl std::ops::$trait<f64> for &Tensor {
            type Output = Result<Tensor>;
            fn $fn(self, rhs: f64) -> Result<Tensor> {
                Tensor::$method(self, &self.full_like(rhs)?)
            }
        }
        impl std::ops::$trait<Tensor> for f64 {
            type Output = Result<Tensor>;
            fn $fn(self, rhs: Tensor) -> Result<Tensor> {
                Tensor::$method(&rhs.full_like(self)?, &rhs)
            }
        }
        impl std::ops::$trait<&Tensor> for f64 {
            type Output = Result<Tensor>;
            fn $fn(self, rhs: &Tensor) -> Result<Tensor> {
                Tensor::$method(&rhs.full_like(self)?, rhs)
            }
        }
    };
}

bin_trait!(Add, add, add);
bin_trait!(Sub, sub, sub);
bin_trait!(Mul, mul, mul);
bin_trait!(Div, div, div);

impl std::ops::Neg for Tensor {
    type Output = Result<Tensor>;
    fn neg(self) -> Result<Tensor> {
        Tensor::neg(&self)
    }
}
impl std::ops::Neg for &Tensor {
    type Output = Result<Tensor>;
    fn neg(self) -> Result<Tensor> {
        Tensor::neg(self)
    }
}
