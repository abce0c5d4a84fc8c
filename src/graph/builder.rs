//! The graph: an append-only list of nodes in regions, shared by cheap tensor handles.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::op::{ConstData, MatmulPrecision, NodeId, Op, RegionId};
use crate::graph::shape::Shape;
use crate::graph::tensor::Tensor;
use crate::host::HostArray;

/// One recorded operation.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub op: Op,
    pub inputs: Vec<NodeId>,
    /// One shape per output (single-output nodes have exactly one).
    pub shapes: Vec<Shape>,
    pub region: RegionId,
}

/// A region: the main body, a loop condition or body, a branch, or a function body.
#[derive(Clone, Debug)]
pub(crate) struct Region {
    pub parent: Option<RegionId>,
    /// Block arguments declared when the region was opened (`RegionArg` nodes).
    pub args: Vec<NodeId>,
    /// Values the region returns.
    pub results: Vec<NodeId>,
    /// Outer values used inside (passed as extra block arguments for loops and functions).
    pub captures: Vec<NodeId>,
    /// Nodes recorded in this region, in order.
    pub nodes: Vec<NodeId>,
}

/// A function traced once and called with `func.call`.
#[derive(Clone, Debug)]
pub(crate) struct FunctionDef {
    pub name: String,
    pub region: RegionId,
}

#[derive(Debug)]
pub(crate) struct GraphData {
    pub nodes: Vec<Node>,
    pub regions: Vec<Region>,
    pub current: RegionId,
    pub params: Vec<NodeId>,
    pub functions: Vec<FunctionDef>,
    pub options: GraphOptions,
}

/// How a graph's matrix products are lowered, fixed when the graph is created (JAX keys
/// `jit` on `jax_default_matmul_precision` the same way): the lowering and the composite
/// ops read it, nothing changes it while tracing. [`crate::exec::Target::graph_options`]
/// gives the value a compile target's policy picks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GraphOptions {
    /// How `f32` contractions multiply; gradients of a contraction use its precision.
    pub matmul_precision: MatmulPrecision,
    /// The host kernel (a custom-call target registered with the plugin, see
    /// [`crate::kernels::install`]) that the graph's `bf16` matrix products lower to instead
    /// of `stablehlo.dot_general` (also dense layers on higher-rank inputs, flattened; not
    /// thin ones or products with batch dimensions). The numbers are the same (operands
    /// rounded to bf16, f32 accumulation); only the kernel differs. `None` keeps XLA's own.
    pub host_bf16_matmul: Option<&'static str>,
}

impl GraphOptions {
    /// Products at `precision`, in XLA's own kernels.
    pub fn precision(precision: MatmulPrecision) -> GraphOptions {
        GraphOptions {
            matmul_precision: precision,
            host_bf16_matmul: None,
        }
    }

    /// Whether bf16 products run in XLA's own kernels (bf16 precision, no host kernel).
    pub fn xla_bf16(&self) -> bool {
        self.matmul_precision == MatmulPrecision::Bf16 && self.host_bf16_matmul.is_none()
    }
}

/// A tracing graph. Create one, declare parameters, compute with [`Tensor`]s, then build a
/// [`Module`](crate::graph::Module). Cloning a `Graph` clones a handle to the same graph.
///
/// ```
/// use sbgm_xla::graph::Graph;
/// use sbgm_xla::DType;
/// let g = Graph::new();
/// let x = g.parameter("x", &[3], DType::F32)?;
/// let y = (x.exp()? * 2.0)?.sum_all()?;
/// let module = g.build("f", &[("y", &y)])?;
/// assert!(module.text.contains("stablehlo.exponential"));
/// # Ok::<(), sbgm_xla::Error>(())
/// ```
#[derive(Clone)]
pub struct Graph(pub(crate) Rc<RefCell<GraphData>>);

impl std::fmt::Debug for Graph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let d = self.0.borrow();
        write!(
            f,
            "Graph({} nodes, {} parameters)",
            d.nodes.len(),
            d.params.len()
        )
    }
}

impl Default for Graph {
    fn default() -> Self {
        Self::new()
    }
}

impl Graph {
    /// An empty graph whose current region is the main function body, with the default
    /// [`GraphOptions`] (`f32` products in XLA's kernels).
    pub fn new() -> Graph {
        Graph::with_options(GraphOptions::default())
    }

    /// An empty graph lowering its products as `options` say.
    pub fn with_options(options: GraphOptions) -> Graph {
        Graph(Rc::new(RefCell::new(GraphData {
            nodes: Vec::new(),
            regions: vec![Region {
                parent: None,
                args: Vec::new(),
                results: Vec::new(),
                captures: Vec::new(),
                nodes: Vec::new(),
            }],
            current: 0,
            params: Vec::new(),
            functions: Vec::new(),
            options,
        })))
    }

    /// The options the graph was created with.
    pub fn options(&self) -> GraphOptions {
        self.0.borrow().options
    }

    /// The precision the graph's `f32` contractions get.
    pub fn matmul_precision(&self) -> MatmulPrecision {
        self.0.borrow().options.matmul_precision
    }

    /// The host kernel the graph's bf16 products lower to, if any.
    pub fn host_bf16_matmul(&self) -> Option<&'static str> {
        self.0.borrow().options.host_bf16_matmul
    }

    /// Whether two handles refer to the same graph.
    pub fn same(&self, other: &Graph) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }

    /// Declares an argument of the main function, in declaration order. Names must be unique
    /// (they become the arguments' names in the module, e.g. leaf paths `net.layers.0.weight`).
    pub fn parameter(&self, name: &str, dims: &[usize], dtype: DType) -> Result<Tensor> {
        self.param(name, Shape::new(dims, dtype))
    }

    /// Declares an argument of the main function with a given [`Shape`].
    pub fn param(&self, name: &str, shape: Shape) -> Result<Tensor> {
        {
            let d = self.0.borrow();
            if d.current != 0 {
                return Err(Error::InvalidOp {
                    op: "parameter",
                    msg: format!(
                        "parameter {name:?} declared inside a loop body, branch or function; \
                         declare parameters in the main body"
                    ),
                });
            }
            if d.params
                .iter()
                .any(|&p| matches!(&d.nodes[p].op, Op::Parameter { name: n, .. } if n == name))
            {
                return Err(Error::InvalidOp {
                    op: "parameter",
                    msg: format!("a parameter named {name:?} already exists; names must be unique"),
                });
            }
        }
        let index = self.0.borrow().params.len();
        let t = self.push(
            Op::Parameter {
                index,
                name: name.to_string(),
            },
            &[],
            shape,
        )?;
        self.0.borrow_mut().params.push(t.id);
        Ok(t)
    }

    /// The declared parameters, in order.
    pub fn parameters(&self) -> Vec<Tensor> {
        let ids = self.0.borrow().params.clone();
        ids.into_iter().map(|id| self.tensor(id)).collect()
    }

    /// A scalar constant of type `dtype` (`stablehlo.constant`).
    pub fn scalar(&self, value: f64, dtype: DType) -> Result<Tensor> {
        self.full(&[], value, dtype)
    }

    /// A constant filled with `value` (a splat `stablehlo.constant`).
    pub fn full(&self, dims: &[usize], value: f64, dtype: DType) -> Result<Tensor> {
        self.push(
            Op::Constant(ConstData::Splat(value)),
            &[],
            Shape::new(dims, dtype),
        )
    }

    /// A constant of zeros.
    pub fn zeros(&self, dims: &[usize], dtype: DType) -> Result<Tensor> {
        self.full(dims, 0.0, dtype)
    }

    /// A constant of ones.
    pub fn ones(&self, dims: &[usize], dtype: DType) -> Result<Tensor> {
        self.full(dims, 1.0, dtype)
    }

    /// A constant array from row-major values, written in type `dtype`.
    pub fn constant_f64(&self, dims: &[usize], values: &[f64], dtype: DType) -> Result<Tensor> {
        let shape = Shape::new(dims, dtype);
        if values.len() != shape.elem_count() {
            return Err(Error::InvalidOp {
                op: "constant",
                msg: format!(
                    "{} values given for shape {shape} ({} elements)",
                    values.len(),
                    shape.elem_count()
                ),
            });
        }
        let data = if dtype.is_float() {
            ConstData::Float(values.to_vec())
        } else if dtype.is_unsigned() {
            ConstData::UInt(values.iter().map(|&v| v as u64).collect())
        } else {
            ConstData::Int(values.iter().map(|&v| v as i64).collect())
        };
        self.push(Op::Constant(data), &[], shape)
    }

    /// A constant holding a host array (any element type).
    pub fn constant(&self, a: &HostArray) -> Result<Tensor> {
        let shape = Shape::new(a.shape(), a.dtype());
        let data = match a.dtype() {
            DType::Pred => ConstData::Int(a.to_f64_vec().iter().map(|&v| v as i64).collect()),
            _ => ConstData::Bytes(a.bytes().to_vec()),
        };
        self.push(Op::Constant(data), &[], shape)
    }

    /// `stablehlo.iota`: the index along `dim`, broadcast to `dims`.
    pub fn iota(&self, dims: &[usize], dtype: DType, dim: usize) -> Result<Tensor> {
        if dim >= dims.len() {
            return Err(Error::InvalidOp {
                op: "iota",
                msg: format!("dimension {dim} out of range for dims {dims:?}"),
            });
        }
        self.push(Op::Iota { dim }, &[], Shape::new(dims, dtype))
    }

    /// Number of nodes recorded so far.
    pub fn node_count(&self) -> usize {
        self.0.borrow().nodes.len()
    }

    // ---- internals shared by the primitives ----

    /// A handle to node `id` (single-output nodes and projections).
    pub(crate) fn tensor(&self, id: NodeId) -> Tensor {
        let shape = self.0.borrow().nodes[id].shapes[0].clone();
        Tensor {
            graph: self.clone(),
            id,
            shape,
        }
    }

    /// Records a single-output node after checking that its inputs are visible here.
    pub(crate) fn push(&self, op: Op, inputs: &[&Tensor], shape: Shape) -> Result<Tensor> {
        let ids = self.check_inputs(op.name(), inputs)?;
        let id = self.push_raw(op, ids, vec![shape]);
        Ok(self.tensor(id))
    }

    /// Records a multi-output node and one projection per output.
    pub(crate) fn push_multi(
        &self,
        op: Op,
        inputs: &[NodeId],
        shapes: Vec<Shape>,
    ) -> Result<Vec<Tensor>> {
        let n = shapes.len();
        let id = self.push_raw(op, inputs.to_vec(), shapes.clone());
        Ok((0..n)
            .map(|i| {
                let p = self.push_raw(Op::Proj { index: i }, vec![id], vec![shapes[i].clone()]);
                self.tensor(p)
            })
            .collect())
    }

    pub(crate) fn push_raw(&self, op: Op, inputs: Vec<NodeId>, shapes: Vec<Shape>) -> NodeId {
        let mut d = self.0.borrow_mut();
        let id = d.nodes.len();
        let region = d.current;
        d.nodes.push(Node {
            op,
            inputs,
            shapes,
            region,
        });
        d.regions[region].nodes.push(id);
        id
    }

    /// Checks that every input belongs to this graph and to the current region or one that
    /// encloses it.
    pub(crate) fn check_inputs(&self, op: &'static str, inputs: &[&Tensor]) -> Result<Vec<NodeId>> {
        let d = self.0.borrow();
        let visible = d.visible_regions();
        inputs
            .iter()
            .map(|t| {
                if !t.graph.same(self) {
                    return Err(Error::InvalidOp {
                        op,
                        msg: "operands come from different graphs".into(),
                    });
                }
                if !visible.contains(&d.nodes[t.id].region) {
                    return Err(Error::InvalidOp {
                        op,
                        msg: format!(
                            "operand {} was computed inside a loop body, branch or function that \
                             has ended; use the loop's or branch's outputs instead",
                            t.shape
                        ),
                    });
                }
                Ok(t.id)
            })
            .collect()
    }

    /// Opens a new region inside the current one, with block arguments of the given shapes.
    pub(crate) fn open_region(&self, arg_shapes: &[Shape]) -> (RegionId, Vec<Tensor>) {
        let region = {
            let mut d = self.0.borrow_mut();
            let parent = d.current;
            let region = d.regions.len();
            d.regions.push(Region {
                parent: Some(parent),
                args: Vec::new(),
                results: Vec::new(),
                captures: Vec::new(),
                nodes: Vec::new(),
            });
            d.current = region;
            region
        };
        let args: Vec<Tensor> = arg_shapes
            .iter()
            .enumerate()
            .map(|(index, s)| {
                let id = self.push_raw(Op::RegionArg { region, index }, vec![], vec![s.clone()]);
                self.tensor(id)
            })
            .collect();
        self.0.borrow_mut().regions[region].args = args.iter().map(|t| t.id).collect();
        (region, args)
    }

    /// Closes the current region with its results (which must be visible in it), computing
    /// the outer values it uses. Always returns to the parent region, even on error.
    pub(crate) fn close_region(
        &self,
        region: RegionId,
        results: Result<Vec<Tensor>>,
    ) -> Result<()> {
        let checked = results.and_then(|r| {
            let refs: Vec<&Tensor> = r.iter().collect();
            self.check_inputs("region result", &refs)
        });
        let mut d = self.0.borrow_mut();
        d.current = d.regions[region].parent.unwrap_or(0);
        let ids = checked?;
        d.regions[region].results = ids;
        // Captures: values used by the region's nodes (or returned) that live outside it.
        let mut caps = BTreeSet::new();
        let r = &d.regions[region];
        for &n in r.nodes.iter() {
            for &i in &d.nodes[n].inputs {
                if d.nodes[i].region != region {
                    caps.insert(i);
                }
            }
        }
        for &i in &r.results {
            if d.nodes[i].region != region {
                caps.insert(i);
            }
        }
        d.regions[region].captures = caps.into_iter().collect();
        Ok(())
    }
}

impl GraphData {
    /// The current region and the regions enclosing it.
    pub(crate) fn visible_regions(&self) -> Vec<RegionId> {
        let mut v = vec![self.current];
        let mut r = self.current;
        while let Some(p) = self.regions[r].parent {
            v.push(p);
            r = p;
        }
        v
    }
}
