//! Automatic differentiation on the traced graph: reverse mode (`vjp`, `grad`,
//! `value_and_grad`) and forward mode (`jvp`). Every primitive is matched explicitly, with no
//! catch-all: the rules live beside each primitive in `prims/`.
//!
//! Cotangents and tangents flow only through floating-point values: integer and boolean
//! values (indices, comparisons, random bits) have no tangent space, so nothing flows into
//! or out of them. A missing tangent is a symbolic zero and is never materialised unless an
//! op needs it.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::graph::builder::{Graph, Node};
use crate::graph::op::{
    NodeId, Op, ReduceOp, UnaryOp, bitcast_has_no_derivative, data_movement_ops,
};
use crate::graph::prims::{conv, elementwise, layout, linalg, reduce};
use crate::graph::tensor::Tensor;

/// Reverse mode: the cotangents of `wrt` given cotangents of `outputs` (vector-Jacobian
/// product). Values not reached get zeros.
pub fn vjp(outputs: &[&Tensor], cotangents: &[&Tensor], wrt: &[&Tensor]) -> Result<Vec<Tensor>> {
    if outputs.len() != cotangents.len() {
        return Err(Error::InvalidOp {
            op: "vjp",
            msg: format!(
                "{} outputs but {} cotangents",
                outputs.len(),
                cotangents.len()
            ),
        });
    }
    for (o, c) in outputs.iter().zip(cotangents) {
        if o.shape() != c.shape() {
            return Err(Error::ShapeMismatch {
                op: "vjp",
                lhs: o.shape().to_string(),
                rhs: c.shape().to_string(),
                msg: "a cotangent must have its output's type".into(),
            });
        }
    }
    let Some(g) = outputs.first().map(|t| t.graph().clone()) else {
        return wrt.iter().map(|w| w.zeros_like()).collect();
    };
    g.check_inputs("vjp", outputs)?;
    g.check_inputs("vjp", cotangents)?;
    g.check_inputs("vjp", wrt)?;
    let seeds: Vec<(NodeId, Tensor)> = outputs
        .iter()
        .zip(cotangents)
        .map(|(o, c)| (o.id, (*c).clone()))
        .collect();
    let wrt_ids: Vec<NodeId> = wrt.iter().map(|t| t.id).collect();
    let cts = backward(&g, &seeds, &wrt_ids, 0)?;
    wrt.iter()
        .map(|w| cts.get(&w.id).cloned().map_or_else(|| w.zeros_like(), Ok))
        .collect()
}

/// The gradient of a floating-point scalar `loss` with respect to each of `wrt`.
///
/// ```
/// use sbgm_xla::{graph::{Graph, grad}, DType};
/// let g = Graph::new();
/// let x = g.parameter("x", &[3], DType::F64)?;
/// let loss = (x.sqr()? * 0.5)?.sum_all()?; // d/dx = x
/// let dx = grad(&loss, &[&x])?;
/// assert_eq!(dx[0].dims(), &[3]);
/// # Ok::<(), sbgm_xla::Error>(())
/// ```
pub fn grad(loss: &Tensor, wrt: &[&Tensor]) -> Result<Vec<Tensor>> {
    if loss.rank() != 0 || !loss.dtype().is_float() {
        return Err(Error::InvalidOp {
            op: "grad",
            msg: format!("the loss must be a float scalar, got {}", loss.shape()),
        });
    }
    let one = loss.ones_like()?;
    vjp(&[loss], &[&one], wrt)
}

/// The loss and its gradient with respect to each of `wrt`.
pub fn value_and_grad(loss: &Tensor, wrt: &[&Tensor]) -> Result<(Tensor, Vec<Tensor>)> {
    Ok((loss.clone(), grad(loss, wrt)?))
}

/// Forward mode: the tangents of `outputs` when `wrt` move along `tangents`
/// (Jacobian-vector product).
pub fn jvp(outputs: &[&Tensor], wrt: &[&Tensor], tangents: &[&Tensor]) -> Result<Vec<Tensor>> {
    if wrt.len() != tangents.len() {
        return Err(Error::InvalidOp {
            op: "jvp",
            msg: format!("{} inputs but {} tangents", wrt.len(), tangents.len()),
        });
    }
    for (w, t) in wrt.iter().zip(tangents) {
        if w.shape() != t.shape() {
            return Err(Error::ShapeMismatch {
                op: "jvp",
                lhs: w.shape().to_string(),
                rhs: t.shape().to_string(),
                msg: "a tangent must have its input's type".into(),
            });
        }
    }
    let Some(g) = outputs.first().map(|t| t.graph().clone()) else {
        return Ok(vec![]);
    };
    g.check_inputs("jvp", outputs)?;
    g.check_inputs("jvp", wrt)?;
    g.check_inputs("jvp", tangents)?;
    let seeds: Vec<(NodeId, Tensor)> = wrt
        .iter()
        .zip(tangents)
        .map(|(w, t)| (w.id, (*t).clone()))
        .collect();
    let out_ids: Vec<NodeId> = outputs.iter().map(|t| t.id).collect();
    let tans = forward(&g, &seeds, &out_ids, 0)?;
    outputs
        .iter()
        .map(|o| tans.get(&o.id).cloned().map_or_else(|| o.zeros_like(), Ok))
        .collect()
}

fn node(g: &Graph, id: NodeId) -> Node {
    g.0.borrow().nodes[id].clone()
}

fn is_float_node(n: &Node) -> bool {
    n.shapes.len() == 1
        && n.shapes[0].dtype.is_float()
        && !matches!(
            n.op,
            Op::While { .. } | Op::Case { .. } | Op::Call { .. } | Op::RngBitGenerator
        )
}

fn multi_output(op: &Op) -> bool {
    matches!(
        op,
        Op::While { .. } | Op::Case { .. } | Op::Call { .. } | Op::RngBitGenerator
    )
}

/// Which nodes in `lo..=hi` depend on `sources` through floating-point values.
fn dependents(g: &Graph, sources: &[NodeId], lo: NodeId, hi: NodeId) -> Vec<bool> {
    let d = g.0.borrow();
    let mut dep = vec![false; hi + 1 - lo];
    for id in lo..=hi {
        let n = &d.nodes[id];
        let reached = sources.contains(&id) || n.inputs.iter().any(|&i| i >= lo && dep[i - lo]);
        let carries = if multi_output(&n.op) {
            true
        } else {
            n.shapes[0].dtype.is_float()
        };
        dep[id - lo] = reached && carries;
    }
    dep
}

fn accumulate(map: &mut HashMap<NodeId, Tensor>, id: NodeId, t: Tensor) -> Result<()> {
    let v = match map.remove(&id) {
        Some(prev) => prev.add(&t)?,
        None => t,
    };
    map.insert(id, v);
    Ok(())
}

/// The reverse sweep: cotangents of every node between the sources and the seeds.
/// Nodes below `floor` only collect cotangents (they are not expanded further).
fn backward(
    g: &Graph,
    seeds: &[(NodeId, Tensor)],
    wrt: &[NodeId],
    floor: NodeId,
) -> Result<HashMap<NodeId, Tensor>> {
    let mut cts: HashMap<NodeId, Tensor> = HashMap::new();
    if wrt.is_empty() || seeds.is_empty() {
        return Ok(cts);
    }
    let lo = *wrt.iter().min().unwrap();
    let hi = seeds.iter().map(|s| s.0).max().unwrap();
    if hi < lo {
        return Ok(cts);
    }
    let dep = dependents(g, wrt, lo, hi);
    for (id, c) in seeds {
        if *id >= lo && dep[id - lo] {
            accumulate(&mut cts, *id, c.clone())?;
        }
    }
    // cotangents of multi-output nodes, per output
    let mut multi: HashMap<NodeId, Vec<Option<Tensor>>> = HashMap::new();
    for id in (lo.max(floor)..=hi).rev() {
        if !dep[id - lo] {
            continue;
        }
        let n = node(g, id);
        let input_cts: Vec<Option<Tensor>> = if multi_output(&n.op) {
            let Some(outs) = multi.remove(&id) else {
                continue;
            };
            multi_vjp(g, id, &n, outs)?
        } else {
            let Some(ct) = cts.get(&id).cloned() else {
                continue;
            };
            if let Op::Proj { index } = n.op {
                let parent = n.inputs[0];
                let k = node(g, parent).shapes.len();
                let e = multi.entry(parent).or_insert_with(|| vec![None; k]);
                e[index] = Some(match e[index].take() {
                    Some(p) => p.add(&ct)?,
                    None => ct,
                });
                continue;
            }
            let ins: Vec<Tensor> = n.inputs.iter().map(|&i| g.tensor(i)).collect();
            let out = g.tensor(id);
            vjp_rule(&n.op, &ins, &out, &ct)?
        };
        for (&i, c) in n.inputs.iter().zip(input_cts) {
            if let Some(c) = c
                && i >= lo
                && dep[i - lo]
            {
                accumulate(&mut cts, i, c)?;
            }
        }
    }
    Ok(cts)
}

/// The VJP rule of each single-output primitive: cotangents of its inputs.
fn vjp_rule(op: &Op, x: &[Tensor], y: &Tensor, ct: &Tensor) -> Result<Vec<Option<Tensor>>> {
    Ok(match op {
        // leaves
        Op::Parameter { .. } | Op::RegionArg { .. } | Op::Constant(_) | Op::Iota { .. } => vec![],
        Op::StopGradient => vec![None],
        Op::Unary(UnaryOp::Neg) => vec![Some(ct.neg()?)],
        Op::Unary(u) => vec![
            elementwise::unary_deriv(*u, &x[0], y)?
                .map(|d| ct * d)
                .transpose()?,
        ],
        Op::Binary(b) => elementwise::binary_vjp(*b, &x[0], &x[1], y, ct)?,
        // a pred output carries no cotangent, so this is reached only for completeness
        Op::Compare(_) => vec![None, None],
        Op::Select => {
            let z = ct.zeros_like()?;
            vec![None, Some(x[0].select(ct, &z)?), Some(x[0].select(&z, ct)?)]
        }
        Op::Convert => vec![if x[0].dtype().is_float() {
            Some(ct.convert(x[0].dtype())?)
        } else {
            None
        }],
        Op::BitcastConvert => return Err(bitcast_has_no_derivative()),
        data_movement_ops!() => layout::vjp(op, x, ct)?,
        Op::Reduce { op: r, dims } => vec![Some(reduce::reduce_vjp(*r, dims, &x[0], y, ct)?)],
        Op::ReduceWindow { op: r, spec } => {
            vec![Some(reduce::reduce_window_vjp(*r, spec, &x[0], ct)?)]
        }
        Op::SelectAndScatterAdd { .. } => {
            return Err(Error::NotDifferentiable {
                op: "select_and_scatter",
                msg: "second derivatives of max-pooling are not implemented".into(),
            });
        }
        Op::DotGeneral(dd, prec) => {
            let (a, b) = linalg::dot_vjp(dd, *prec, &x[0], &x[1], ct)?;
            vec![Some(a), Some(b)]
        }
        Op::Conv(spec) => {
            let (a, b) = conv::conv_vjp(spec, &x[0], &x[1], ct)?;
            vec![Some(a), Some(b)]
        }
        // take: scatter the cotangent rows back (repeated indices add up)
        Op::Take => vec![Some(x[0].zeros_like()?.scatter_add(&x[1], ct)?), None],
        Op::ScatterAdd => vec![Some(ct.clone()), None, Some(ct.take(&x[1])?)],
        Op::Proj { .. }
        | Op::RngBitGenerator
        | Op::While { .. }
        | Op::Case { .. }
        | Op::Call { .. } => {
            unreachable!("multi-output ops go through multi_vjp")
        }
    })
}

/// VJP of multi-output nodes, given the cotangents of their outputs.
fn multi_vjp(
    g: &Graph,
    id: NodeId,
    n: &Node,
    outs: Vec<Option<Tensor>>,
) -> Result<Vec<Option<Tensor>>> {
    match &n.op {
        // the key and bits are integers: nothing flows (reached only for completeness)
        Op::RngBitGenerator => Ok(vec![None]),
        Op::While { .. } => Err(Error::NotDifferentiable {
            op: "while",
            msg: "loops are not differentiated; take the gradient inside the loop body instead"
                .into(),
        }),
        Op::Case { .. } => Err(Error::NotDifferentiable {
            op: "case",
            msg: "branches are not differentiated; select between both results instead".into(),
        }),
        // a call: inline the function body here and differentiate the copy
        Op::Call { .. } => {
            let start = g.node_count();
            let new_outs = inline_call(g, id)?;
            let seeds: Vec<(NodeId, Tensor)> = new_outs
                .iter()
                .zip(outs)
                .filter_map(|(o, c)| c.map(|c| (o.id, c)))
                .collect();
            let cts = backward(g, &seeds, &n.inputs, start)?;
            Ok(n.inputs.iter().map(|i| cts.get(i).cloned()).collect())
        }
        _ => unreachable!(),
    }
}

/// Copies the body of the function called by node `id` into the current region, with the
/// call's operands as arguments; returns the copied results.
fn inline_call(g: &Graph, id: NodeId) -> Result<Vec<Tensor>> {
    let (region_nodes, args, caps, results, inputs) = {
        let d = g.0.borrow();
        let Op::Call { function } = d.nodes[id].op else {
            unreachable!()
        };
        let r = &d.regions[d.functions[function].region];
        (
            r.nodes.clone(),
            r.args.clone(),
            r.captures.clone(),
            r.results.clone(),
            d.nodes[id].inputs.clone(),
        )
    };
    let mut map: HashMap<NodeId, NodeId> = HashMap::new();
    for (k, &a) in args.iter().chain(&caps).enumerate() {
        map.insert(a, inputs[k]);
    }
    for &nid in &region_nodes {
        if map.contains_key(&nid) {
            continue;
        }
        let n = node(g, nid);
        if matches!(n.op, Op::Case { .. }) {
            return Err(Error::NotDifferentiable {
                op: "call",
                msg: "functions containing branches are not differentiated".into(),
            });
        }
        let ins: Vec<NodeId> = n.inputs.iter().map(|i| *map.get(i).unwrap_or(i)).collect();
        let new = g.push_raw(n.op.clone(), ins, n.shapes.clone());
        map.insert(nid, new);
    }
    Ok(results
        .iter()
        .map(|r| g.tensor(*map.get(r).unwrap_or(r)))
        .collect())
}

/// Records a copy of node `n` with other inputs (same op, same output type).
fn replay(g: &Graph, n: &Node, inputs: &[&Tensor]) -> Result<Tensor> {
    let ids = g.check_inputs(n.op.name(), inputs)?;
    let id = g.push_raw(n.op.clone(), ids, n.shapes.clone());
    Ok(g.tensor(id))
}

/// The forward sweep: tangents of every node between the seeds and the outputs.
/// Only nodes from `floor` on are computed.
fn forward(
    g: &Graph,
    seeds: &[(NodeId, Tensor)],
    outputs: &[NodeId],
    floor: NodeId,
) -> Result<HashMap<NodeId, Tensor>> {
    let mut tans: HashMap<NodeId, Tensor> = HashMap::new();
    if seeds.is_empty() || outputs.is_empty() {
        return Ok(tans);
    }
    let lo = seeds.iter().map(|s| s.0).min().unwrap();
    let hi = *outputs.iter().max().unwrap();
    for (id, t) in seeds {
        accumulate(&mut tans, *id, t.clone())?;
    }
    if hi < lo {
        return Ok(tans);
    }
    let mut multi: HashMap<NodeId, Vec<Option<Tensor>>> = HashMap::new();
    // nodes of other regions (loop bodies, branches, function bodies) are not on the path:
    // their values are reached through the op that owns the region
    let visible = g.0.borrow().visible_regions();
    for id in lo.max(floor)..=hi {
        if tans.contains_key(&id) {
            continue;
        }
        let n = node(g, id);
        if !visible.contains(&n.region) {
            continue;
        }
        if let Op::Proj { index } = n.op {
            if let Some(Some(t)) = multi.get(&n.inputs[0]).map(|v| v[index].clone())
                && t.dtype().is_float()
            {
                tans.insert(id, t);
            }
            continue;
        }
        let in_t: Vec<Option<Tensor>> = n.inputs.iter().map(|i| tans.get(i).cloned()).collect();
        if in_t.iter().all(|t| t.is_none()) {
            continue;
        }
        if multi_output(&n.op) {
            let outs = multi_jvp(g, id, &n, &in_t)?;
            multi.insert(id, outs);
            continue;
        }
        if !is_float_node(&n) {
            continue;
        }
        let ins: Vec<Tensor> = n.inputs.iter().map(|&i| g.tensor(i)).collect();
        let out = g.tensor(id);
        if let Some(t) = jvp_rule(g, &n, &ins, &out, &in_t)? {
            tans.insert(id, t);
        }
    }
    Ok(tans)
}

/// Tangent of input `k`, zeros if it is symbolically zero.
fn tan_or_zero(x: &[Tensor], t: &[Option<Tensor>], k: usize) -> Result<Tensor> {
    match &t[k] {
        Some(t) => Ok(t.clone()),
        None => x[k].zeros_like(),
    }
}

/// Replays a linear op on the tangents (integer operands, e.g. indices, stay primal).
fn linear(g: &Graph, n: &Node, x: &[Tensor], t: &[Option<Tensor>]) -> Result<Option<Tensor>> {
    let ins: Vec<Tensor> = (0..x.len())
        .map(|k| {
            if x[k].dtype().is_float() {
                tan_or_zero(x, t, k)
            } else {
                Ok(x[k].clone())
            }
        })
        .collect::<Result<_>>()?;
    let refs: Vec<&Tensor> = ins.iter().collect();
    Ok(Some(replay(g, n, &refs)?))
}

/// Product rule for a bilinear op: `f(ta, b) + f(a, tb)`.
fn bilinear(g: &Graph, n: &Node, x: &[Tensor], t: &[Option<Tensor>]) -> Result<Option<Tensor>> {
    let mut parts = Vec::new();
    if let Some(ta) = &t[0] {
        parts.push(replay(g, n, &[ta, &x[1]])?);
    }
    if let Some(tb) = &t[1] {
        parts.push(replay(g, n, &[&x[0], tb])?);
    }
    elementwise::sum_all_of(parts)
}

/// The JVP rule of each single-output primitive.
fn jvp_rule(
    g: &Graph,
    n: &Node,
    x: &[Tensor],
    y: &Tensor,
    t: &[Option<Tensor>],
) -> Result<Option<Tensor>> {
    Ok(match &n.op {
        Op::Parameter { .. }
        | Op::RegionArg { .. }
        | Op::Constant(_)
        | Op::Iota { .. }
        | Op::StopGradient => None,
        Op::Unary(UnaryOp::Neg) => Some(t[0].as_ref().unwrap().neg()?),
        Op::Unary(u) => match (elementwise::unary_deriv(*u, &x[0], y)?, &t[0]) {
            (Some(d), Some(t)) => Some((t * d)?),
            _ => None,
        },
        Op::Binary(b) => {
            elementwise::binary_jvp(*b, &x[0], &x[1], y, t[0].as_ref(), t[1].as_ref())?
        }
        Op::Compare(_) => None,
        Op::Select => {
            if t[1].is_none() && t[2].is_none() {
                None
            } else {
                Some(x[0].select(&tan_or_zero(x, t, 1)?, &tan_or_zero(x, t, 2)?)?)
            }
        }
        Op::Convert => match &t[0] {
            Some(t) if x[0].dtype().is_float() => Some(t.convert(y.dtype())?),
            _ => None,
        },
        Op::BitcastConvert => return Err(bitcast_has_no_derivative()),
        data_movement_ops!()
        | Op::Take
        | Op::ScatterAdd
        | Op::ReduceWindow {
            op: ReduceOp::Sum, ..
        }
        | Op::Reduce {
            op: ReduceOp::Sum, ..
        } => linear(g, n, x, t)?,
        Op::Reduce { op: r, dims } => Some(reduce::reduce_jvp(
            *r,
            dims,
            &x[0],
            y,
            t[0].as_ref().unwrap(),
        )?),
        Op::ReduceWindow { spec, .. } => Some(reduce::reduce_window_chooser_jvp(
            spec,
            &x[0],
            y,
            t[0].as_ref().unwrap(),
        )?),
        Op::SelectAndScatterAdd { .. } => {
            return Err(Error::NotDifferentiable {
                op: "select_and_scatter",
                msg: "forward mode through the max-pooling gradient is not implemented".into(),
            });
        }
        Op::DotGeneral(..) | Op::Conv(_) => bilinear(g, n, x, t)?,
        Op::Proj { .. }
        | Op::RngBitGenerator
        | Op::While { .. }
        | Op::Case { .. }
        | Op::Call { .. } => {
            unreachable!("multi-output ops go through multi_jvp")
        }
    })
}

/// JVP of multi-output nodes: tangents of their outputs.
fn multi_jvp(g: &Graph, id: NodeId, n: &Node, t: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
    match &n.op {
        Op::RngBitGenerator => Ok(vec![None, None]),
        Op::While { .. } => Err(Error::NotDifferentiable {
            op: "while",
            msg: "loops are not differentiated in forward mode".into(),
        }),
        Op::Case { .. } => Err(Error::NotDifferentiable {
            op: "case",
            msg: "branches are not differentiated in forward mode".into(),
        }),
        Op::Call { .. } => {
            let start = g.node_count();
            let outs = inline_call(g, id)?;
            let seeds: Vec<(NodeId, Tensor)> = n
                .inputs
                .iter()
                .zip(t)
                .filter_map(|(&i, t)| t.clone().map(|t| (i, t)))
                .collect();
            // the copied body refers to the call's operands, which carry the seeds
            let out_ids: Vec<NodeId> = outs.iter().map(|o| o.id).collect();
            let tans = forward(g, &seeds, &out_ids, start)?;
            Ok(out_ids.iter().map(|o| tans.get(o).cloned()).collect())
        }
        _ => unreachable!(),
    }
}
