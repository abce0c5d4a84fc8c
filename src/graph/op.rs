//! The primitive operations recorded in a graph (one variant per StableHLO-level primitive).

use crate::dtype::DType;

/// Index of a node in its graph.
pub type NodeId = usize;
/// Index of a region (the main function body, a loop body, a branch, a called function).
pub type RegionId = usize;

/// Elementwise unary primitives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    Neg,
    Abs,
    Sign,
    Exp,
    Log,
    Log1p,
    Expm1,
    Sqrt,
    Rsqrt,
    Tanh,
    Logistic,
    Sin,
    Cos,
    Erf,
    ErfInv,
    Floor,
    /// Round half to even (like `jnp.round`).
    Round,
    /// Bitwise not (integers and booleans).
    Not,
}

/// Elementwise binary primitives (operands of one shape and type).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Max,
    Min,
    Atan2,
    /// Remainder with the sign of the dividend.
    Rem,
    And,
    Or,
    Xor,
    ShiftLeft,
    ShiftRightLogical,
}

/// Comparison directions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// Reductions with a monoid (`stablehlo.reduce` and `stablehlo.reduce_window`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReduceOp {
    Sum,
    Max,
    Min,
}

/// How `f32` operands of a contraction (`dot_general`, `convolution`) are multiplied: JAX's
/// `precision` argument. Other element types are always multiplied as they are.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum MatmulPrecision {
    /// Full `f32` products (JAX's `Precision.HIGHEST`; the default on CPU).
    #[default]
    F32,
    /// Operands rounded to `bfloat16`, products accumulated and returned in `f32` (one
    /// bf16 pass, JAX's `Precision.DEFAULT` on TPU): about 2x the throughput on CPUs with
    /// bf16 instructions, more with a host kernel ([`crate::kernels`]), ~3 significant digits
    /// per product.
    Bf16,
}

impl std::str::FromStr for MatmulPrecision {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "f32" | "float32" | "highest" => Ok(MatmulPrecision::F32),
            "bf16" | "bfloat16" => Ok(MatmulPrecision::Bf16),
            _ => Err(format!(
                "unknown matmul precision {s:?}; use \"f32\" or \"bf16\""
            )),
        }
    }
}

impl std::fmt::Display for MatmulPrecision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MatmulPrecision::F32 => "f32",
            MatmulPrecision::Bf16 => "bf16",
        })
    }
}

/// Dimension numbers of `dot_general`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct DotDims {
    pub lhs_batch: Vec<usize>,
    pub rhs_batch: Vec<usize>,
    pub lhs_contract: Vec<usize>,
    pub rhs_contract: Vec<usize>,
}

/// A 2-D (or N-D) convolution in NCHW / OIHW / NCHW layout (`stablehlo.convolution`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ConvSpec {
    /// Window strides, one per spatial dimension.
    pub stride: Vec<usize>,
    /// (low, high) padding per spatial dimension; may be negative.
    pub padding: Vec<(i64, i64)>,
    /// Input (transposed-convolution) dilation per spatial dimension.
    pub lhs_dilation: Vec<usize>,
    /// Kernel (atrous) dilation per spatial dimension.
    pub rhs_dilation: Vec<usize>,
    /// Number of feature groups (input and output channels split into this many groups).
    pub feature_groups: usize,
    /// Number of batch groups (used by the kernel gradient of grouped convolutions).
    pub batch_groups: usize,
}

/// Windowed reductions (`stablehlo.reduce_window`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct WindowSpec {
    pub window: Vec<usize>,
    pub strides: Vec<usize>,
    pub padding: Vec<(i64, i64)>,
}

/// Constant payloads: values held exactly in a wide type and written in the node's type.
#[derive(Clone, Debug, PartialEq)]
pub enum ConstData {
    /// One value for every element (printed as a splat).
    Splat(f64),
    /// Floating-point values (row-major).
    Float(Vec<f64>),
    /// Signed or boolean values (row-major).
    Int(Vec<i64>),
    /// Unsigned values (row-major).
    UInt(Vec<u64>),
    /// Raw little-endian element bytes in the node's type (row-major; not for `pred`).
    Bytes(Vec<u8>),
}

/// A primitive operation. Every variant has its shape rule (in the method that records it),
/// its lowering (`emit.rs` and `prims/`) and its derivative rules (`autodiff.rs`, which
/// matches every variant with no catch-all).
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// An argument of the main function.
    Parameter {
        index: usize,
        name: String,
    },
    /// A block argument of a region (loop body, loop condition, function body).
    RegionArg {
        region: RegionId,
        index: usize,
    },
    /// A constant (`stablehlo.constant`).
    Constant(ConstData),
    /// `stablehlo.iota` along `dim`.
    Iota {
        dim: usize,
    },
    /// Identity whose derivative is zero (emits nothing).
    StopGradient,
    Unary(UnaryOp),
    Binary(BinaryOp),
    /// `stablehlo.compare`; the result is `pred`.
    Compare(CmpOp),
    /// `stablehlo.select(pred, on_true, on_false)`.
    Select,
    /// `stablehlo.convert` to the node's element type.
    Convert,
    /// `stablehlo.bitcast_convert` to the node's element type (same bit width).
    BitcastConvert,
    /// `stablehlo.broadcast_in_dim`: operand dimension i goes to result dimension `dims[i]`.
    BroadcastInDim {
        dims: Vec<usize>,
    },
    /// `stablehlo.reshape`.
    Reshape,
    /// `stablehlo.transpose`: result dimension i is operand dimension `perm[i]`.
    Transpose {
        perm: Vec<usize>,
    },
    /// `stablehlo.slice`.
    Slice {
        start: Vec<usize>,
        limit: Vec<usize>,
        stride: Vec<usize>,
    },
    /// `stablehlo.dynamic_slice(operand, start indices...)`.
    DynamicSlice {
        sizes: Vec<usize>,
    },
    /// `stablehlo.dynamic_update_slice(operand, update, start indices...)`.
    DynamicUpdateSlice,
    /// `stablehlo.concatenate` along `dim`.
    Concatenate {
        dim: usize,
    },
    /// `stablehlo.pad(operand, padding value)`.
    Pad {
        low: Vec<i64>,
        high: Vec<i64>,
        interior: Vec<i64>,
    },
    /// `stablehlo.reverse`.
    Reverse {
        dims: Vec<usize>,
    },
    /// `stablehlo.reduce` over `dims` (removed from the result).
    Reduce {
        op: ReduceOp,
        dims: Vec<usize>,
    },
    /// `stablehlo.reduce_window` (init value = the monoid's identity).
    ReduceWindow {
        op: ReduceOp,
        spec: WindowSpec,
    },
    /// `stablehlo.select_and_scatter(operand, source)` choosing the window maximum and adding:
    /// the transpose of max pooling.
    SelectAndScatterAdd {
        spec: WindowSpec,
    },
    /// `stablehlo.dot_general`, with the precision of `f32` products.
    DotGeneral(DotDims, MatmulPrecision),
    /// `stablehlo.convolution(lhs, rhs)`, NCHW/OIHW/NCHW.
    Conv(ConvSpec),
    /// `stablehlo.gather` taking rows along dimension 0 of the operand: `out[i.., r..] =
    /// operand[idx[i..], r..]`.
    Take,
    /// `stablehlo.scatter` with addition (operand, indices, updates): the transpose of `Take`.
    ScatterAdd,
    /// `stablehlo.rng_bit_generator` (THREE_FRY): outputs (new state, bits).
    RngBitGenerator,
    /// One output of a multi-output node.
    Proj {
        index: usize,
    },
    /// `stablehlo.while`: inputs = initial values then captured outer values.
    While {
        cond: RegionId,
        body: RegionId,
        carried: usize,
    },
    /// `stablehlo.case`: inputs = the branch index then (for dependency tracking only) the
    /// outer values the branches use.
    Case {
        branches: Vec<RegionId>,
    },
    /// `func.call` of a function traced once: inputs = arguments then captured values.
    Call {
        function: usize,
    },
}

/// The pattern of the ops that only move data (broadcast, reshape, transpose, slices,
/// concatenation, padding, reversal): one lowering ([`crate::graph::prims::layout`]) and
/// linear derivatives.
#[rustfmt::skip]
macro_rules! data_movement_ops {
    () => {
        Op::BroadcastInDim { .. } | Op::Reshape | Op::Transpose { .. }
            | Op::Slice { .. } | Op::DynamicSlice { .. } | Op::DynamicUpdateSlice
            | Op::Concatenate { .. } | Op::Pad { .. } | Op::Reverse { .. }
    };
}
pub(crate) use data_movement_ops;

/// The error of differentiating `bitcast_convert`.
pub(crate) fn bitcast_has_no_derivative() -> crate::error::Error {
    crate::error::Error::NotDifferentiable {
        op: "bitcast_convert",
        msg: "reinterpreting bits has no derivative".into(),
    }
}

impl Op {
    /// A short name for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Parameter { .. } => "parameter",
            Op::RegionArg { .. } => "region argument",
            Op::Constant(_) => "constant",
            Op::Iota { .. } => "iota",
            Op::StopGradient => "stop_gradient",
            Op::Unary(u) => u.name(),
            Op::Binary(b) => b.name(),
            Op::Compare(_) => "compare",
            Op::Select => "select",
            Op::Convert => "convert",
            Op::BitcastConvert => "bitcast_convert",
            Op::BroadcastInDim { .. } => "broadcast_in_dim",
            Op::Reshape => "reshape",
            Op::Transpose { .. } => "transpose",
            Op::Slice { .. } => "slice",
            Op::DynamicSlice { .. } => "dynamic_slice",
            Op::DynamicUpdateSlice => "dynamic_update_slice",
            Op::Concatenate { .. } => "concatenate",
            Op::Pad { .. } => "pad",
            Op::Reverse { .. } => "reverse",
            Op::Reduce { .. } => "reduce",
            Op::ReduceWindow { .. } => "reduce_window",
            Op::SelectAndScatterAdd { .. } => "select_and_scatter",
            Op::DotGeneral(..) => "dot_general",
            Op::Conv(_) => "convolution",
            Op::Take => "gather",
            Op::ScatterAdd => "scatter",
            Op::RngBitGenerator => "rng_bit_generator",
            Op::Proj { .. } => "tuple element",
            Op::While { .. } => "while",
            Op::Case { .. } => "case",
            Op::Call { .. } => "call",
        }
    }
}

impl UnaryOp {
    /// The op's name (also its StableHLO name where they agree).
    pub fn name(self) -> &'static str {
        match self {
            UnaryOp::Neg => "negate",
            UnaryOp::Abs => "abs",
            UnaryOp::Sign => "sign",
            UnaryOp::Exp => "exponential",
            UnaryOp::Log => "log",
            UnaryOp::Log1p => "log_plus_one",
            UnaryOp::Expm1 => "exponential_minus_one",
            UnaryOp::Sqrt => "sqrt",
            UnaryOp::Rsqrt => "rsqrt",
            UnaryOp::Tanh => "tanh",
            UnaryOp::Logistic => "logistic",
            UnaryOp::Sin => "sine",
            UnaryOp::Cos => "cosine",
            UnaryOp::Erf => "erf",
            UnaryOp::ErfInv => "erf_inv",
            UnaryOp::Floor => "floor",
            UnaryOp::Round => "round_nearest_even",
            UnaryOp::Not => "not",
        }
    }

    /// Whether the op accepts operands of type `dtype`.
    pub fn accepts(self, dtype: DType) -> bool {
        match self {
            UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Sign => !matches!(dtype, DType::Pred),
            UnaryOp::Not => !dtype.is_float(),
            _ => dtype.is_float(),
        }
    }
}

impl BinaryOp {
    /// The op's name (also its StableHLO name).
    pub fn name(self) -> &'static str {
        match self {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "subtract",
            BinaryOp::Mul => "multiply",
            BinaryOp::Div => "divide",
            BinaryOp::Pow => "power",
            BinaryOp::Max => "maximum",
            BinaryOp::Min => "minimum",
            BinaryOp::Atan2 => "atan2",
            BinaryOp::Rem => "remainder",
            BinaryOp::And => "and",
            BinaryOp::Or => "or",
            BinaryOp::Xor => "xor",
            BinaryOp::ShiftLeft => "shift_left",
            BinaryOp::ShiftRightLogical => "shift_right_logical",
        }
    }

    /// Whether the op accepts operands of type `dtype`.
    pub fn accepts(self, dtype: DType) -> bool {
        match self {
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem => {
                dtype != DType::Pred
            }
            BinaryOp::Max | BinaryOp::Min => true,
            BinaryOp::Pow | BinaryOp::Atan2 => dtype.is_float(),
            BinaryOp::And | BinaryOp::Or | BinaryOp::Xor => !dtype.is_float(),
            BinaryOp::ShiftLeft | BinaryOp::ShiftRightLogical => dtype.is_integer(),
        }
    }
}

impl CmpOp {
    /// The StableHLO comparison direction.
    pub fn mlir(self) -> &'static str {
        match self {
            CmpOp::Eq => "EQ",
            CmpOp::Ne => "NE",
            CmpOp::Lt => "LT",
            CmpOp::Le => "LE",
            CmpOp::Gt => "GT",
            CmpOp::Ge => "GE",
        }
    }
}
