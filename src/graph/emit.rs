//! StableHLO printer: turns the live part of a graph into one MLIR module with a
//! `func.func public @main`, deterministically (every node once, in creation order).

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::error::{Error, Result};
use crate::graph::builder::{Graph, GraphData};
use crate::graph::op::{NodeId, Op, RegionId, data_movement_ops};
use crate::graph::prims;
use crate::graph::shape::Shape;
use crate::graph::tensor::Tensor;

/// A built StableHLO module with the names and types of its arguments and results.
#[derive(Clone, Debug)]
pub struct Module {
    /// The module's name (a valid MLIR symbol).
    pub name: String,
    /// The MLIR text.
    pub text: String,
    /// Arguments of `@main` in order: (name, type).
    pub args: Vec<(String, Shape)>,
    /// Results of `@main` in order: (name, type).
    pub results: Vec<(String, Shape)>,
    /// `mhlo.num_partitions`.
    pub num_partitions: usize,
    /// `mhlo.num_replicas`.
    pub num_replicas: usize,
    /// For each argument, the result whose buffer it may become (`tf.aliasing_output`).
    pub aliases: Vec<Option<usize>>,
}

/// Options of [`Graph::build_with`].
#[derive(Clone, Debug)]
pub struct BuildOptions {
    /// Number of SPMD partitions (`mhlo.num_partitions`), default 1.
    pub num_partitions: usize,
    /// Number of replicas (`mhlo.num_replicas`), default 1.
    pub num_replicas: usize,
    /// `mhlo.sharding` of arguments, by parameter name (e.g. `"{devices=[4,1]<=[4]}"`).
    pub arg_sharding: Vec<(String, String)>,
    /// `mhlo.sharding` of results, by result name.
    pub result_sharding: Vec<(String, String)>,
    /// Parameters whose buffers may be reused: each is aliased to the first result of the same
    /// type not yet taken (`tf.aliasing_output`), else marked `jax.buffer_donor`.
    pub donate: Vec<String>,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            num_partitions: 1,
            num_replicas: 1,
            arg_sharding: vec![],
            result_sharding: vec![],
            donate: vec![],
        }
    }
}

/// `[1, 2, 3]`.
pub(crate) fn ilist<T: std::fmt::Display>(v: &[T]) -> String {
    format!(
        "[{}]",
        v.iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// `(A, B) -> C` or `(A) -> (C, D)`.
pub(crate) fn fn_type(ins: &[&Shape], outs: &[&Shape]) -> String {
    let i: Vec<String> = ins.iter().map(|s| s.mlir()).collect();
    let o: Vec<String> = outs.iter().map(|s| s.mlir()).collect();
    if o.len() == 1 {
        format!("({}) -> {}", i.join(", "), o[0])
    } else {
        format!("({}) -> ({})", i.join(", "), o.join(", "))
    }
}

fn symbol(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        format!("m_{s}")
    } else {
        s
    }
}

fn quote(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if c.is_control() => o.push_str(&format!("\\{:02X}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// One node as its lowering sees it: the op, its operands (node ids, SSA names and types)
/// and its result type.
#[derive(Clone, Copy)]
pub(crate) struct NodeView<'n> {
    pub op: &'n Op,
    pub inputs: &'n [NodeId],
    pub ins: &'n [String],
    pub in_shapes: &'n [&'n Shape],
    pub out: &'n Shape,
}

impl<'n> NodeView<'n> {
    /// The op, operand names, operand types and result type.
    pub fn parts(&self) -> (&'n Op, &'n [String], &'n [&'n Shape], &'n Shape) {
        (self.op, self.ins, self.in_shapes, self.out)
    }
}

/// Writes MLIR for the nodes of a graph.
pub(crate) struct Emitter<'a> {
    pub g: &'a GraphData,
    pub out: String,
    indent: usize,
    scopes: Vec<HashMap<NodeId, String>>,
    pub live: Vec<bool>,
    fresh: usize,
}

impl<'a> Emitter<'a> {
    /// The SSA name of a node's value in the current scope.
    pub fn name(&self, id: NodeId) -> String {
        for s in self.scopes.iter().rev() {
            if let Some(n) = s.get(&id) {
                return n.clone();
            }
        }
        let node = &self.g.nodes[id];
        match &node.op {
            Op::Parameter { index, .. } => format!("%arg{index}"),
            Op::RegionArg { region, index } => format!("%r{region}_{index}"),
            Op::StopGradient => self.name(node.inputs[0]),
            Op::Proj { index } => {
                let p = node.inputs[0];
                if self.g.nodes[p].shapes.len() == 1 {
                    self.name(p)
                } else {
                    format!("{}#{index}", self.name(p))
                }
            }
            _ => format!("%{id}"),
        }
    }
    /// A fresh SSA name for helper values.
    pub fn fresh(&mut self) -> String {
        self.fresh += 1;
        format!("%t{}", self.fresh)
    }
    /// The current indentation.
    pub fn indent_str(&self) -> String {
        " ".repeat(self.indent)
    }
    /// Writes one line at the current indentation.
    pub fn line(&mut self, s: &str) {
        let ind = self.indent_str();
        let _ = writeln!(self.out, "{ind}{s}");
    }
    pub fn push_indent(&mut self, n: usize) {
        self.indent += n;
    }
    pub fn pop_indent(&mut self, n: usize) {
        self.indent -= n;
    }
    /// Opens a naming scope (captured values renamed to block arguments).
    pub fn push_scope(&mut self, m: HashMap<NodeId, String>) {
        self.scopes.push(m);
    }
    pub fn pop_scope(&mut self) {
        self.scopes.pop();
    }
    /// The `%N` or `%N:k` prefix of a node with `k` results.
    pub fn result_prefix(&self, id: NodeId) -> String {
        let k = self.g.nodes[id].shapes.len();
        if k == 1 {
            format!("%{id}")
        } else {
            format!("%{id}:{k}")
        }
    }

    /// Emits the live nodes of a region, in order.
    pub fn emit_region_nodes(&mut self, region: RegionId) -> Result<()> {
        let nodes = self.g.regions[region].nodes.clone();
        for id in nodes {
            if self.live[id] {
                self.emit_node(id)?;
            }
        }
        Ok(())
    }

    fn emit_node(&mut self, id: NodeId) -> Result<()> {
        let node = &self.g.nodes[id];
        let op = &node.op;
        match op {
            Op::Parameter { .. } | Op::RegionArg { .. } | Op::Proj { .. } | Op::StopGradient => {
                return Ok(());
            }
            Op::While { .. } => return prims::control::emit_while(self, id),
            Op::Case { .. } => return prims::control::emit_case(self, id),
            Op::Call { .. } => return prims::control::emit_call(self, id),
            Op::RngBitGenerator => return prims::random::emit(self, id),
            _ => {}
        }
        let ins: Vec<String> = node.inputs.iter().map(|&i| self.name(i)).collect();
        let in_shapes: Vec<&Shape> = node
            .inputs
            .iter()
            .map(|&i| &self.g.nodes[i].shapes[0])
            .collect();
        let view = NodeView {
            op,
            inputs: &node.inputs,
            ins: &ins,
            in_shapes: &in_shapes,
            out: &node.shapes[0],
        };
        let rhs = match op {
            Op::Unary(_)
            | Op::Binary(_)
            | Op::Compare(_)
            | Op::Select
            | Op::Convert
            | Op::BitcastConvert => prims::elementwise::emit(self, view),
            Op::Constant(_) | Op::Iota { .. } | data_movement_ops!() => {
                prims::layout::emit(self, view)
            }
            Op::Reduce { .. } | Op::ReduceWindow { .. } | Op::SelectAndScatterAdd { .. } => {
                prims::reduce::emit(self, view)
            }
            Op::DotGeneral(..) => prims::linalg::emit(self, view),
            Op::Conv(_) => prims::conv::emit(self, view),
            Op::Take | Op::ScatterAdd => prims::gather::emit(self, view),
            Op::Parameter { .. }
            | Op::RegionArg { .. }
            | Op::Proj { .. }
            | Op::StopGradient
            | Op::While { .. }
            | Op::Case { .. }
            | Op::Call { .. }
            | Op::RngBitGenerator => unreachable!(),
        };
        let name = format!("%{id}");
        self.line(&format!("{name} = {rhs}"));
        Ok(())
    }
}

/// Marks the nodes needed to compute `roots` (through loop bodies, branches and functions).
pub(crate) fn liveness(g: &GraphData, roots: &[NodeId]) -> Vec<bool> {
    let mut live = vec![false; g.nodes.len()];
    let mut max = 0;
    for &r in roots {
        live[r] = true;
        max = max.max(r);
    }
    for id in (0..=max.min(g.nodes.len().saturating_sub(1))).rev() {
        if !live[id] {
            continue;
        }
        let n = &g.nodes[id];
        for &i in &n.inputs {
            live[i] = true;
        }
        let regions: Vec<RegionId> = match &n.op {
            Op::While { cond, body, .. } => vec![*cond, *body],
            Op::Case { branches } => branches.clone(),
            Op::Call { function } => vec![g.functions[*function].region],
            _ => vec![],
        };
        for r in regions {
            for &i in g.regions[r].results.iter().chain(&g.regions[r].args) {
                live[i] = true;
            }
        }
    }
    live
}

impl Graph {
    /// Builds a module whose `@main` takes every declared parameter and returns `outputs`
    /// (named results), with one partition and one replica.
    pub fn build(&self, name: &str, outputs: &[(&str, &Tensor)]) -> Result<Module> {
        self.build_with(name, outputs, &BuildOptions::default())
    }

    /// Builds a module with sharding, donation and partition options.
    pub fn build_with(
        &self,
        name: &str,
        outputs: &[(&str, &Tensor)],
        opts: &BuildOptions,
    ) -> Result<Module> {
        let refs: Vec<&Tensor> = outputs.iter().map(|(_, t)| *t).collect();
        let ids = self.check_inputs("build", &refs)?;
        let d = self.0.borrow();
        if d.current != 0 {
            return Err(Error::InvalidOp {
                op: "build",
                msg: "a loop body, branch or function is still being traced".into(),
            });
        }
        let params = declared_params(&d);
        check_option_names(&params, opts)?;
        let results: Vec<(String, Shape)> = outputs
            .iter()
            .map(|(n, t)| (n.to_string(), t.shape.clone()))
            .collect();
        let aliases = donation_aliases(&params, &results, opts);
        let mut em = Emitter {
            g: &d,
            out: String::new(),
            indent: 4,
            scopes: vec![],
            live: liveness(&d, &ids),
            fresh: 0,
        };
        let sym = symbol(name);
        let mut text = String::new();
        let _ = writeln!(
            text,
            "module @{sym} attributes {{mhlo.num_partitions = {} : i32, mhlo.num_replicas = {} : i32}} {{",
            opts.num_partitions, opts.num_replicas
        );
        em.write_functions(&mut text)?;
        let (sig, outs) = main_signature(&params, &results, &aliases, opts);
        em.out.clear();
        em.emit_region_nodes(0)?;
        let rets: Vec<String> = ids.iter().map(|&x| em.name(x)).collect();
        let body = std::mem::take(&mut em.out);
        let _ = writeln!(
            text,
            "  func.func public @main({}) -> ({}) {{",
            sig.join(", "),
            outs.join(", ")
        );
        text.push_str(&body);
        let types: Vec<String> = results.iter().map(|(_, s)| s.mlir()).collect();
        if rets.is_empty() {
            let _ = writeln!(text, "    return");
        } else {
            let _ = writeln!(
                text,
                "    return {} : {}",
                rets.join(", "),
                types.join(", ")
            );
        }
        let _ = writeln!(text, "  }}\n}}");
        Ok(Module {
            name: sym,
            text,
            args: params,
            results,
            num_partitions: opts.num_partitions,
            num_replicas: opts.num_replicas,
            aliases,
        })
    }
}

/// The declared parameters: (name, type), in order.
fn declared_params(d: &GraphData) -> Vec<(String, Shape)> {
    d.params
        .iter()
        .map(|&p| match &d.nodes[p].op {
            Op::Parameter { name, .. } => (name.clone(), d.nodes[p].shapes[0].clone()),
            _ => unreachable!(),
        })
        .collect()
}

/// Checks that every parameter the options shard or donate exists.
fn check_option_names(params: &[(String, Shape)], opts: &BuildOptions) -> Result<()> {
    for n in opts
        .arg_sharding
        .iter()
        .map(|(n, _)| n)
        .chain(opts.donate.iter())
    {
        if !params.iter().any(|(p, _)| p == n) {
            return Err(Error::InvalidOp {
                op: "build",
                msg: format!("no parameter named {n:?} (to shard or donate)"),
            });
        }
    }
    Ok(())
}

/// For each parameter, the result it is aliased to: each donated parameter takes the first
/// free result of its type.
fn donation_aliases(
    params: &[(String, Shape)],
    results: &[(String, Shape)],
    opts: &BuildOptions,
) -> Vec<Option<usize>> {
    let mut aliases = vec![None; params.len()];
    let mut taken = vec![false; results.len()];
    for (i, (pn, ps)) in params.iter().enumerate() {
        if opts.donate.contains(pn)
            && let Some(k) = (0..results.len()).find(|&k| !taken[k] && results[k].1 == *ps)
        {
            taken[k] = true;
            aliases[i] = Some(k);
        }
    }
    aliases
}

/// `@main`'s argument list and result types, with their names, shardings and aliases.
fn main_signature(
    params: &[(String, Shape)],
    results: &[(String, Shape)],
    aliases: &[Option<usize>],
    opts: &BuildOptions,
) -> (Vec<String>, Vec<String>) {
    let mut sig = Vec::new();
    for (i, (pn, ps)) in params.iter().enumerate() {
        let mut attrs = vec![format!("jax.arg_info = {}", quote(pn))];
        if let Some((_, s)) = opts.arg_sharding.iter().find(|(n, _)| n == pn) {
            attrs.push(format!("mhlo.sharding = {}", quote(s)));
        }
        if let Some(k) = aliases[i] {
            attrs.push(format!("tf.aliasing_output = {k} : i32"));
        } else if opts.donate.contains(pn) {
            attrs.push("jax.buffer_donor = true".into());
        }
        sig.push(format!("%arg{i}: {} {{{}}}", ps.mlir(), attrs.join(", ")));
    }
    let mut outs = Vec::new();
    for (rn, rs) in results {
        let mut attrs = vec![format!("jax.result_info = {}", quote(rn))];
        if let Some((_, s)) = opts.result_sharding.iter().find(|(n, _)| n == rn) {
            attrs.push(format!("mhlo.sharding = {}", quote(s)));
        }
        outs.push(format!("{} {{{}}}", rs.mlir(), attrs.join(", ")));
    }
    (sig, outs)
}

impl Emitter<'_> {
    /// Writes the functions called from live code, each once, as `func.func private`.
    fn write_functions(&mut self, text: &mut String) -> Result<()> {
        let d = self.g;
        let fn_names = function_symbols(d);
        for (k, f) in d.functions.iter().enumerate() {
            let used = d.nodes.iter().enumerate().any(|(i, n)| {
                self.live[i] && matches!(n.op, Op::Call { function } if function == k)
            });
            if !used {
                continue;
            }
            let r = &d.regions[f.region];
            let all_args: Vec<NodeId> = r.args.iter().chain(&r.captures).copied().collect();
            let mut scope = HashMap::new();
            let mut sig = Vec::new();
            for (j, &a) in all_args.iter().enumerate() {
                let nm = format!("%r{}_{j}", f.region);
                sig.push(format!("{nm}: {}", d.nodes[a].shapes[0].mlir()));
                scope.insert(a, nm);
            }
            let outs: Vec<String> = r
                .results
                .iter()
                .map(|&x| d.nodes[x].shapes[0].mlir())
                .collect();
            self.out.clear();
            self.push_scope(scope);
            self.emit_region_nodes(f.region)?;
            let rets: Vec<String> = r.results.iter().map(|&x| self.name(x)).collect();
            self.pop_scope();
            let body = std::mem::take(&mut self.out);
            let _ = writeln!(
                text,
                "  func.func private @{}({}) -> ({}) {{",
                fn_names[k],
                sig.join(", "),
                outs.join(", ")
            );
            text.push_str(&body);
            let _ = writeln!(text, "    return {} : {}", rets.join(", "), outs.join(", "));
            let _ = writeln!(text, "  }}");
        }
        Ok(())
    }
}

/// Unique MLIR symbols for the graph's functions.
pub(crate) fn function_symbols(d: &GraphData) -> Vec<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    d.functions
        .iter()
        .map(|f| {
            let s = symbol(&f.name);
            let c = seen.entry(s.clone()).or_insert(0);
            *c += 1;
            if *c == 1 && s != "main" {
                s
            } else {
                format!("{s}_{}", *c)
            }
        })
        .collect()
}
