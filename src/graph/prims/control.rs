//! Control flow: `stablehlo.while` loops carrying tuples of tensors, `stablehlo.case`
//! branches, and functions traced once and called with `func.call`.
//!
//! Bodies are traced as regions of the same graph. Outer values a loop body or a function
//! uses are passed as extra (pass-through) operands; branches use them directly.

use std::collections::{BTreeSet, HashMap};

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::builder::{FunctionDef, Graph};
use crate::graph::emit::{Emitter, fn_type, function_symbols};
use crate::graph::op::{NodeId, Op};
use crate::graph::shape::Shape;
use crate::graph::tensor::Tensor;

/// A function traced once; every [`Function::call`] emits a `func.call` to it.
#[derive(Clone, Debug)]
pub struct Function {
    graph: Graph,
    index: usize,
    arg_shapes: Vec<Shape>,
    out_shapes: Vec<Shape>,
}

impl Graph {
    /// `stablehlo.while`: runs `body` while `cond` is true, starting from `init`.
    /// `cond` maps the carried values to a `pred` scalar; `body` maps them to new values of
    /// the same shapes. Returns the final values. Inside the body any graph code works,
    /// including gradients (a whole training step per iteration).
    ///
    /// ```
    /// use sbgm_xla::{graph::Graph, DType};
    /// let g = Graph::new();
    /// let x = g.parameter("x", &[], DType::F32)?;
    /// let i0 = g.scalar(0.0, DType::I32)?;
    /// let out = g.while_loop(&[i0, x], |c| c[0].lt(&g.scalar(10.0, DType::I32)?), |c| {
    ///     Ok(vec![(&c[0] + 1.0)?, (&c[1] * 2.0)?])
    /// })?;
    /// assert_eq!(out[1].dims(), &[] as &[usize]);
    /// # Ok::<(), sbgm_xla::Error>(())
    /// ```
    pub fn while_loop(
        &self,
        init: &[Tensor],
        cond: impl FnOnce(&[Tensor]) -> Result<Tensor>,
        body: impl FnOnce(&[Tensor]) -> Result<Vec<Tensor>>,
    ) -> Result<Vec<Tensor>> {
        let refs: Vec<&Tensor> = init.iter().collect();
        let init_ids = self.check_inputs("while", &refs)?;
        let shapes: Vec<Shape> = init.iter().map(|t| t.shape().clone()).collect();

        let (cr, cargs) = self.open_region(&shapes);
        let c = cond(&cargs).and_then(|p| {
            if p.dtype() != DType::Pred || p.rank() != 0 {
                return Err(Error::InvalidOp {
                    op: "while",
                    msg: format!("the condition must be a pred scalar, got {}", p.shape()),
                });
            }
            Ok(vec![p])
        });
        self.close_region(cr, c)?;

        let (br, bargs) = self.open_region(&shapes);
        let b = body(&bargs).and_then(|outs| {
            let got: Vec<&Shape> = outs.iter().map(|t| t.shape()).collect();
            if got.len() != shapes.len() || got.iter().zip(&shapes).any(|(a, b)| *a != b) {
                return Err(Error::InvalidOp {
                    op: "while",
                    msg: format!("the body must return the carried types {shapes:?}, got {got:?}"),
                });
            }
            Ok(outs)
        });
        self.close_region(br, b)?;

        let captures: Vec<NodeId> = {
            let mut d = self.0.borrow_mut();
            let set: BTreeSet<NodeId> = d.regions[cr]
                .captures
                .iter()
                .chain(&d.regions[br].captures)
                .copied()
                .collect();
            let caps: Vec<NodeId> = set.into_iter().collect();
            d.regions[cr].captures = caps.clone();
            d.regions[br].captures = caps.clone();
            caps
        };
        let mut inputs = init_ids;
        inputs.extend(&captures);
        let mut all_shapes = shapes.clone();
        {
            let d = self.0.borrow();
            all_shapes.extend(captures.iter().map(|&c| d.nodes[c].shapes[0].clone()));
        }
        let n = shapes.len();
        let outs = self.push_multi(
            Op::While {
                cond: cr,
                body: br,
                carried: n,
            },
            &inputs,
            all_shapes,
        )?;
        Ok(outs.into_iter().take(n).collect())
    }

    /// A counted loop: `body(i, values)` for `i` in `lo..hi` (an `i32` counter), returning
    /// the final values.
    pub fn fori_loop(
        &self,
        lo: i64,
        hi: i64,
        init: &[Tensor],
        body: impl FnOnce(&Tensor, &[Tensor]) -> Result<Vec<Tensor>>,
    ) -> Result<Vec<Tensor>> {
        let mut carried = vec![self.scalar(lo as f64, DType::I32)?];
        carried.extend(init.iter().cloned());
        let g = self.clone();
        let out = self.while_loop(
            &carried,
            |c| c[0].lt(&g.scalar(hi as f64, DType::I32)?),
            |c| {
                let mut next = vec![(&c[0] + 1.0)?];
                next.extend(body(&c[0], &c[1..])?);
                Ok(next)
            },
        )?;
        Ok(out[1..].to_vec())
    }

    /// `stablehlo.case`: runs branch `index` (an `i32` scalar; out of range runs the last
    /// branch). Every branch returns values of the same types.
    pub fn case(
        &self,
        index: &Tensor,
        branches: Vec<Box<dyn FnOnce() -> Result<Vec<Tensor>> + '_>>,
    ) -> Result<Vec<Tensor>> {
        if index.dtype() != DType::I32 || index.rank() != 0 {
            return Err(Error::InvalidOp {
                op: "case",
                msg: format!("the index must be an i32 scalar, got {}", index.shape()),
            });
        }
        if branches.is_empty() {
            return Err(Error::InvalidOp {
                op: "case",
                msg: "no branches".into(),
            });
        }
        let idx = self.check_inputs("case", &[index])?;
        let mut regions = Vec::new();
        let mut out_shapes: Option<Vec<Shape>> = None;
        for (k, b) in branches.into_iter().enumerate() {
            let (r, _) = self.open_region(&[]);
            let res = b().and_then(|outs| {
                let got: Vec<Shape> = outs.iter().map(|t| t.shape().clone()).collect();
                match &out_shapes {
                    Some(s) if *s != got => Err(Error::InvalidOp {
                        op: "case",
                        msg: format!("branch {k} returns {got:?}, branch 0 returns {s:?}"),
                    }),
                    _ => {
                        out_shapes = Some(got);
                        Ok(outs)
                    }
                }
            });
            self.close_region(r, res)?;
            regions.push(r);
        }
        let caps: BTreeSet<NodeId> = {
            let d = self.0.borrow();
            regions
                .iter()
                .flat_map(|&r| d.regions[r].captures.clone())
                .collect()
        };
        let mut inputs = idx;
        inputs.extend(caps);
        let shapes = out_shapes.unwrap_or_default();
        if shapes.is_empty() {
            return Err(Error::InvalidOp {
                op: "case",
                msg: "branches must return at least one value".into(),
            });
        }
        self.push_multi(Op::Case { branches: regions }, &inputs, shapes)
    }

    /// `if pred { on_true() } else { on_false() }` with a `pred` scalar (a two-branch case).
    pub fn cond(
        &self,
        pred: &Tensor,
        on_true: impl FnOnce() -> Result<Vec<Tensor>>,
        on_false: impl FnOnce() -> Result<Vec<Tensor>>,
    ) -> Result<Vec<Tensor>> {
        if pred.dtype() != DType::Pred || pred.rank() != 0 {
            return Err(Error::InvalidOp {
                op: "cond",
                msg: format!("the predicate must be a pred scalar, got {}", pred.shape()),
            });
        }
        let idx = pred.select(
            &self.scalar(1.0, DType::I32)?,
            &self.scalar(0.0, DType::I32)?,
        )?;
        self.case(&idx, vec![Box::new(on_false), Box::new(on_true)])
    }

    /// Traces `f` once as a function `@name` taking arguments of `args` types; call it with
    /// [`Function::call`] (emitted as `func.call`, so the body appears once in the text).
    pub fn function(
        &self,
        name: &str,
        args: &[Shape],
        f: impl FnOnce(&[Tensor]) -> Result<Vec<Tensor>>,
    ) -> Result<Function> {
        let (r, targs) = self.open_region(args);
        let res = f(&targs);
        let out_shapes: Vec<Shape> = res
            .as_ref()
            .map(|o| o.iter().map(|t| t.shape().clone()).collect())
            .unwrap_or_default();
        self.close_region(r, res)?;
        let mut d = self.0.borrow_mut();
        let index = d.functions.len();
        d.functions.push(FunctionDef {
            name: name.to_string(),
            region: r,
        });
        Ok(Function {
            graph: self.clone(),
            index,
            arg_shapes: args.to_vec(),
            out_shapes,
        })
    }
}

impl Function {
    /// Calls the function (`func.call`); arguments must have the declared types.
    pub fn call(&self, args: &[&Tensor]) -> Result<Vec<Tensor>> {
        let got: Vec<&Shape> = args.iter().map(|t| t.shape()).collect();
        if got.len() != self.arg_shapes.len()
            || got.iter().zip(&self.arg_shapes).any(|(a, b)| *a != b)
        {
            return Err(Error::InvalidOp {
                op: "call",
                msg: format!(
                    "arguments {got:?} do not match the declared {:?}",
                    self.arg_shapes
                ),
            });
        }
        let g = &self.graph;
        let mut ids = g.check_inputs("call", args)?;
        let caps = {
            let d = g.0.borrow();
            d.regions[d.functions[self.index].region].captures.clone()
        };
        let cap_t: Vec<Tensor> = caps.iter().map(|&c| g.tensor(c)).collect();
        let cap_refs: Vec<&Tensor> = cap_t.iter().collect();
        ids.extend(g.check_inputs("call", &cap_refs)?);
        g.push_multi(
            Op::Call {
                function: self.index,
            },
            &ids,
            self.out_shapes.clone(),
        )
    }

    /// The result types.
    pub fn output_shapes(&self) -> &[Shape] {
        &self.out_shapes
    }
}

// ---------------------------------------------------------------- lowering

/// Emits a region as a block with arguments `args ++ captures` and a `stablehlo.return`.
fn emit_block(em: &mut Emitter, region: usize, pass_captures: bool) -> Result<()> {
    let r = &em.g.regions[region];
    let all: Vec<NodeId> = r.args.iter().chain(&r.captures).copied().collect();
    let results = r.results.clone();
    let n_args = r.args.len();
    let mut scope = HashMap::new();
    let mut sig = Vec::new();
    for (j, &a) in all.iter().enumerate() {
        let nm = format!("%r{region}_{j}");
        sig.push(format!("{nm}: {}", em.g.nodes[a].shapes[0].mlir()));
        if j >= n_args {
            scope.insert(a, nm);
        }
    }
    em.line(&format!("^bb0({}):", sig.join(", ")));
    em.push_indent(2);
    em.push_scope(scope);
    em.emit_region_nodes(region)?;
    let mut rets: Vec<String> = results.iter().map(|&x| em.name(x)).collect();
    let mut types: Vec<String> = results
        .iter()
        .map(|&x| em.g.nodes[x].shapes[0].mlir())
        .collect();
    if pass_captures {
        for (j, &c) in all.iter().enumerate().skip(n_args) {
            rets.push(format!("%r{region}_{j}"));
            types.push(em.g.nodes[c].shapes[0].mlir());
        }
    }
    em.line(&format!(
        "stablehlo.return {} : {}",
        rets.join(", "),
        types.join(", ")
    ));
    em.pop_scope();
    em.pop_indent(2);
    Ok(())
}

/// Lowers a `while` node (generic form with two regions).
pub(crate) fn emit_while(em: &mut Emitter, id: NodeId) -> Result<()> {
    let node = &em.g.nodes[id];
    let Op::While { cond, body, .. } = node.op else {
        unreachable!()
    };
    let ins: Vec<String> = node.inputs.iter().map(|&i| em.name(i)).collect();
    let shapes: Vec<&Shape> = node.shapes.iter().collect();
    let ty = fn_type(&shapes, &shapes);
    let prefix = em.result_prefix(id);
    em.line(&format!(
        "{prefix} = \"stablehlo.while\"({}) ({{",
        ins.join(", ")
    ));
    em.push_indent(2);
    emit_block(em, cond, false)?;
    em.pop_indent(2);
    em.line("}, {");
    em.push_indent(2);
    emit_block(em, body, true)?;
    em.pop_indent(2);
    em.line(&format!("}}) : {ty}"));
    Ok(())
}

/// Lowers a `case` node (branches capture outer values implicitly).
pub(crate) fn emit_case(em: &mut Emitter, id: NodeId) -> Result<()> {
    let node = &em.g.nodes[id];
    let Op::Case { branches } = &node.op else {
        unreachable!()
    };
    let branches = branches.clone();
    let idx = em.name(node.inputs[0]);
    let idx_shape = &em.g.nodes[node.inputs[0]].shapes[0];
    let shapes: Vec<&Shape> = node.shapes.iter().collect();
    let ty = fn_type(&[idx_shape], &shapes);
    let prefix = em.result_prefix(id);
    em.line(&format!("{prefix} = \"stablehlo.case\"({idx}) ({{"));
    for (k, &r) in branches.iter().enumerate() {
        if k > 0 {
            em.line("}, {");
        }
        em.push_indent(2);
        em.emit_region_nodes(r)?;
        let res = em.g.regions[r].results.clone();
        let rets: Vec<String> = res.iter().map(|&x| em.name(x)).collect();
        let types: Vec<String> = res
            .iter()
            .map(|&x| em.g.nodes[x].shapes[0].mlir())
            .collect();
        em.line(&format!(
            "stablehlo.return {} : {}",
            rets.join(", "),
            types.join(", ")
        ));
        em.pop_indent(2);
    }
    em.line(&format!("}}) : {ty}"));
    Ok(())
}

/// Lowers a `call` node.
pub(crate) fn emit_call(em: &mut Emitter, id: NodeId) -> Result<()> {
    let node = &em.g.nodes[id];
    let Op::Call { function } = node.op else {
        unreachable!()
    };
    let sym = function_symbols(em.g)[function].clone();
    let ins: Vec<String> = node.inputs.iter().map(|&i| em.name(i)).collect();
    let in_shapes: Vec<&Shape> = node
        .inputs
        .iter()
        .map(|&i| &em.g.nodes[i].shapes[0])
        .collect();
    let shapes: Vec<&Shape> = node.shapes.iter().collect();
    let line = format!(
        "{} = func.call @{sym}({}) : {}",
        em.result_prefix(id),
        ins.join(", "),
        fn_type(&in_shapes, &shapes)
    );
    em.line(&line);
    Ok(())
}
