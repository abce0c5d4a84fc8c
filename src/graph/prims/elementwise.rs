//! Elementwise primitives: unary and binary maths, compare, select, convert, bitcast.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::emit::{Emitter, NodeView, fn_type};
use crate::graph::op::{BinaryOp, CmpOp, Op, UnaryOp};
use crate::graph::shape::broadcast_dims;
use crate::graph::tensor::Tensor;

// ---------------------------------------------------------------- traced methods (shape rules)

macro_rules! unary_methods {
    ($($(#[$doc:meta])* $name:ident => $op:ident),* $(,)?) => {
        impl Tensor {
            $(
                $(#[$doc])*
                pub fn $name(&self) -> Result<Tensor> {
                    self.unary(UnaryOp::$op)
                }
            )*
        }
    };
}

unary_methods! {
    /// `-x` (`stablehlo.negate`).
    neg => Neg,
    /// `|x|` (`stablehlo.abs`).
    abs => Abs,
    /// The sign, -1, 0 or 1 (`stablehlo.sign`); its derivative is zero.
    sign => Sign,
    /// `e^x` (`stablehlo.exponential`).
    exp => Exp,
    /// Natural logarithm (`stablehlo.log`).
    log => Log,
    /// `log(1 + x)` (`stablehlo.log_plus_one`).
    log1p => Log1p,
    /// `e^x - 1` (`stablehlo.exponential_minus_one`).
    expm1 => Expm1,
    /// Square root (`stablehlo.sqrt`).
    sqrt => Sqrt,
    /// `1 / sqrt(x)` (`stablehlo.rsqrt`).
    rsqrt => Rsqrt,
    /// Hyperbolic tangent (`stablehlo.tanh`).
    tanh => Tanh,
    /// The logistic sigmoid `1 / (1 + e^-x)` (`stablehlo.logistic`).
    logistic => Logistic,
    /// Sine (`stablehlo.sine`).
    sin => Sin,
    /// Cosine (`stablehlo.cosine`).
    cos => Cos,
    /// The error function (`chlo.erf`).
    erf => Erf,
    /// The inverse error function (`chlo.erf_inv`).
    erf_inv => ErfInv,
    /// Round down (`stablehlo.floor`); its derivative is zero.
    floor => Floor,
    /// Round half to even (`stablehlo.round_nearest_even`); its derivative is zero.
    round => Round,
    /// Bitwise/logical not of integers and booleans (`stablehlo.not`).
    not => Not,
}

macro_rules! binary_methods {
    ($($(#[$doc:meta])* $name:ident => $op:ident),* $(,)?) => {
        impl Tensor {
            $(
                $(#[$doc])*
                pub fn $name(&self, rhs: &Tensor) -> Result<Tensor> {
                    self.binary(BinaryOp::$op, rhs)
                }
            )*
        }
    };
}

binary_methods! {
    /// `a + b`, broadcasting (`stablehlo.add`).
    add => Add,
    /// `a - b`, broadcasting (`stablehlo.subtract`).
    sub => Sub,
    /// `a * b`, broadcasting (`stablehlo.multiply`).
    mul => Mul,
    /// `a / b`, broadcasting (`stablehlo.divide`).
    div => Div,
    /// `a ^ b`, broadcasting (`stablehlo.power`).
    pow => Pow,
    /// Elementwise maximum, broadcasting (`stablehlo.maximum`).
    maximum => Max,
    /// Elementwise minimum, broadcasting (`stablehlo.minimum`).
    minimum => Min,
    /// `atan2(a, b)`, the angle of (b, a) (`stablehlo.atan2`).
    atan2 => Atan2,
    /// Remainder with the sign of `a` (`stablehlo.remainder`).
    rem => Rem,
    /// Bitwise and (`stablehlo.and`).
    bit_and => And,
    /// Bitwise or (`stablehlo.or`).
    bit_or => Or,
    /// Bitwise xor (`stablehlo.xor`).
    bit_xor => Xor,
    /// Left shift (`stablehlo.shift_left`).
    shift_left => ShiftLeft,
    /// Logical right shift (`stablehlo.shift_right_logical`).
    shift_right_logical => ShiftRightLogical,
}

macro_rules! compare_methods {
    ($($(#[$doc:meta])* $name:ident => $op:ident),* $(,)?) => {
        impl Tensor {
            $(
                $(#[$doc])*
                pub fn $name(&self, rhs: &Tensor) -> Result<Tensor> {
                    self.compare(CmpOp::$op, rhs)
                }
            )*
        }
    };
}

compare_methods! {
    /// `a == b` as `pred` (`stablehlo.compare EQ`), broadcasting.
    eq => Eq,
    /// `a != b` as `pred`.
    ne => Ne,
    /// `a < b` as `pred`.
    lt => Lt,
    /// `a <= b` as `pred`.
    le => Le,
    /// `a > b` as `pred`.
    gt => Gt,
    /// `a >= b` as `pred`.
    ge => Ge,
}

impl Tensor {
    /// Applies a unary primitive.
    pub fn unary(&self, op: UnaryOp) -> Result<Tensor> {
        if !op.accepts(self.dtype()) {
            return Err(Error::InvalidOp {
                op: op.name(),
                msg: format!(
                    "element type {} is not supported (operand {})",
                    self.dtype(),
                    self.shape
                ),
            });
        }
        self.graph.push(Op::Unary(op), &[self], self.shape.clone())
    }

    /// Applies a binary primitive after NumPy broadcasting; both operands must have the same
    /// element type (convert first otherwise).
    pub fn binary(&self, op: BinaryOp, rhs: &Tensor) -> Result<Tensor> {
        let (a, b) = broadcast_pair(op.name(), self, rhs)?;
        if !op.accepts(a.dtype()) {
            return Err(Error::InvalidOp {
                op: op.name(),
                msg: format!("element type {} is not supported", a.dtype()),
            });
        }
        let shape = a.shape.clone();
        self.graph.push(Op::Binary(op), &[&a, &b], shape)
    }

    /// Compares elementwise after broadcasting, giving `pred` (`stablehlo.compare`).
    pub fn compare(&self, op: CmpOp, rhs: &Tensor) -> Result<Tensor> {
        let (a, b) = broadcast_pair("compare", self, rhs)?;
        let shape = a.shape.with_dtype(DType::Pred);
        self.graph.push(Op::Compare(op), &[&a, &b], shape)
    }

    /// `where(self, on_true, on_false)` with `self` of type `pred`, broadcasting all three
    /// (`stablehlo.select`).
    pub fn select(&self, on_true: &Tensor, on_false: &Tensor) -> Result<Tensor> {
        if self.dtype() != DType::Pred {
            return Err(Error::InvalidOp {
                op: "select",
                msg: format!("the predicate must be pred, got {}", self.shape),
            });
        }
        let (t, f) = broadcast_pair("select", on_true, on_false)?;
        let dims = broadcast_dims("select", &self.shape, &t.shape)?;
        let p = self.broadcast_to(&dims)?;
        let t = t.broadcast_to(&dims)?;
        let f = f.broadcast_to(&dims)?;
        let shape = t.shape.clone();
        self.graph.push(Op::Select, &[&p, &t, &f], shape)
    }

    /// Converts to another element type (`stablehlo.convert`); float to integer truncates.
    pub fn convert(&self, dtype: DType) -> Result<Tensor> {
        if dtype == self.dtype() {
            return Ok(self.clone());
        }
        if let Some(v) = self.splat_value() {
            return self.graph.full(self.dims(), v, dtype);
        }
        self.graph
            .push(Op::Convert, &[self], self.shape.with_dtype(dtype))
    }

    /// Reinterprets the bits as another element type of the same width
    /// (`stablehlo.bitcast_convert`).
    pub fn bitcast(&self, dtype: DType) -> Result<Tensor> {
        if dtype.size_in_bytes() != self.dtype().size_in_bytes() || dtype == DType::Pred {
            return Err(Error::InvalidOp {
                op: "bitcast_convert",
                msg: format!(
                    "cannot reinterpret {} as {dtype}: widths differ",
                    self.shape
                ),
            });
        }
        self.graph
            .push(Op::BitcastConvert, &[self], self.shape.with_dtype(dtype))
    }

    /// Identity whose derivative is zero (`jax.lax.stop_gradient`).
    pub fn stop_gradient(&self) -> Result<Tensor> {
        self.graph
            .push(Op::StopGradient, &[self], self.shape.clone())
    }

    /// `x * x`.
    pub fn sqr(&self) -> Result<Tensor> {
        self.mul(self)
    }
    /// `1 / x`.
    pub fn recip(&self) -> Result<Tensor> {
        self.full_like(1.0)?.div(self)
    }
    /// `x ^ p` for a constant exponent.
    pub fn powf(&self, p: f64) -> Result<Tensor> {
        self.pow(&self.full_like(p)?)
    }
    /// `x * mul + add`.
    pub fn affine(&self, mul: f64, add: f64) -> Result<Tensor> {
        (self * mul)? + add
    }
    /// `max(x, 0)`.
    pub fn relu(&self) -> Result<Tensor> {
        self.maximum(&self.zeros_like()?)
    }
    /// Clamps into `[lo, hi]`.
    pub fn clamp(&self, lo: f64, hi: f64) -> Result<Tensor> {
        self.maximum(&self.full_like(lo)?)?
            .minimum(&self.full_like(hi)?)
    }
}

/// Broadcasts two operands of one element type to their common shape.
pub(crate) fn broadcast_pair(op: &'static str, a: &Tensor, b: &Tensor) -> Result<(Tensor, Tensor)> {
    if a.dtype() != b.dtype() {
        return Err(Error::ShapeMismatch {
            op,
            lhs: a.shape.to_string(),
            rhs: b.shape.to_string(),
            msg: "element types differ; convert one operand first".into(),
        });
    }
    if a.dims() == b.dims() {
        return Ok((a.clone(), b.clone()));
    }
    let dims = broadcast_dims(op, &a.shape, &b.shape)?;
    Ok((a.broadcast_to(&dims)?, b.broadcast_to(&dims)?))
}

// ---------------------------------------------------------------- lowering

/// Lowers an elementwise node; `ins` are operand names.
pub(crate) fn emit(em: &mut Emitter, node: NodeView) -> String {
    let (op, ins, in_shapes, out) = node.parts();
    let _ = em;
    let t = out.mlir();
    match op {
        Op::Unary(UnaryOp::Erf) => format!("chlo.erf {} : {t} -> {t}", ins[0]),
        Op::Unary(UnaryOp::ErfInv) => format!("chlo.erf_inv {} : {t} -> {t}", ins[0]),
        Op::Unary(u) => format!("stablehlo.{} {} : {t}", u.name(), ins[0]),
        Op::Binary(b) => format!("stablehlo.{} {}, {} : {t}", b.name(), ins[0], ins[1]),
        Op::Compare(c) => {
            let d = in_shapes[0].dtype;
            let kind = if d.is_float() {
                "FLOAT"
            } else if d.is_unsigned() || d == DType::Pred {
                "UNSIGNED"
            } else {
                "SIGNED"
            };
            format!(
                "stablehlo.compare {}, {}, {}, {kind} : {}",
                c.mlir(),
                ins[0],
                ins[1],
                fn_type(in_shapes, &[out])
            )
        }
        Op::Select => format!(
            "stablehlo.select {}, {}, {} : {}, {t}",
            ins[0],
            ins[1],
            ins[2],
            in_shapes[0].mlir()
        ),
        Op::Convert => format!(
            "stablehlo.convert {} : {}",
            ins[0],
            fn_type(in_shapes, &[out])
        ),
        Op::BitcastConvert => {
            format!(
                "stablehlo.bitcast_convert {} : {}",
                ins[0],
                fn_type(in_shapes, &[out])
            )
        }
        _ => unreachable!("elementwise::emit called for {}", op.name()),
    }
}

// ---------------------------------------------------------------- derivatives

/// `dy/dx` of a unary op as a tensor (None: identically zero). `x` the input, `y` the output.
/// Floor, round and sign are piecewise constant: their derivative is zero where it exists.
pub(crate) fn unary_deriv(op: UnaryOp, x: &Tensor, y: &Tensor) -> Result<Option<Tensor>> {
    Ok(Some(match op {
        UnaryOp::Neg => x.full_like(-1.0)?,
        UnaryOp::Abs => x.sign()?,
        UnaryOp::Sign | UnaryOp::Floor | UnaryOp::Round => return Ok(None),
        UnaryOp::Not => {
            return Err(Error::NotDifferentiable {
                op: "not",
                msg: "bitwise not acts on integers and booleans".into(),
            });
        }
        // d e^x = e^x
        UnaryOp::Exp => y.clone(),
        // d log x = 1/x
        UnaryOp::Log => x.recip()?,
        // d log(1+x) = 1/(1+x)
        UnaryOp::Log1p => (x + 1.0)?.recip()?,
        // d (e^x - 1) = e^x = y + 1
        UnaryOp::Expm1 => (y + 1.0)?,
        // d sqrt x = 1 / (2 sqrt x)
        UnaryOp::Sqrt => (y * 2.0)?.recip()?,
        // d x^-1/2 = -1/2 x^-3/2 = -y / (2x)
        UnaryOp::Rsqrt => ((y / x)? * -0.5)?,
        // d tanh = 1 - tanh^2
        UnaryOp::Tanh => (1.0 - y.sqr()?)?,
        // d sigma = sigma (1 - sigma)
        UnaryOp::Logistic => (y * (1.0 - y)?)?,
        UnaryOp::Sin => x.cos()?,
        UnaryOp::Cos => x.sin()?.neg()?,
        // d erf = 2/sqrt(pi) e^{-x^2}
        UnaryOp::Erf => (x.sqr()?.neg()?.exp()? * std::f64::consts::FRAC_2_SQRT_PI)?,
        // d erfinv = sqrt(pi)/2 e^{y^2}
        UnaryOp::ErfInv => (y.sqr()?.exp()? * (std::f64::consts::PI.sqrt() / 2.0))?,
    }))
}

/// Partial derivatives `(dy/da, dy/db)` of a binary op (None: identically zero; the
/// multiplication by one of add/sub is skipped by returning `Some(+-1)` markers as scalars).
pub(crate) fn binary_derivs(
    op: BinaryOp,
    a: &Tensor,
    b: &Tensor,
    y: &Tensor,
) -> Result<(Option<Tensor>, Option<Tensor>)> {
    Ok(match op {
        BinaryOp::Add | BinaryOp::Sub => unreachable!("linear ops are handled by binary_vjp/jvp"),
        BinaryOp::Mul => (Some(b.clone()), Some(a.clone())),
        // y = a/b: dy/da = 1/b, dy/db = -y/b
        BinaryOp::Div => (Some(b.recip()?), Some((y / b)?.neg()?)),
        // y = a^b: dy/da = b a^(b-1); dy/db = y log a (0 where a == 0, as JAX)
        BinaryOp::Pow => {
            let da = (b * a.pow(&(b - 1.0)?)?)?;
            let zero = a.eq(&a.zeros_like()?)?;
            let safe_a = zero.select(&a.ones_like()?, a)?;
            let db = zero.select(&a.zeros_like()?, &(y * safe_a.log()?)?)?;
            (Some(da), Some(db))
        }
        // max: the larger operand gets the gradient, ties share it (0.5 each) as in JAX
        BinaryOp::Max | BinaryOp::Min => {
            let win = if op == BinaryOp::Max {
                a.gt(b)?
            } else {
                a.lt(b)?
            };
            let tie = a.eq(b)?;
            let one = a.ones_like()?;
            let half = a.full_like(0.5)?;
            let zero = a.zeros_like()?;
            let da = win.select(&one, &tie.select(&half, &zero)?)?;
            let db = win.select(&zero, &tie.select(&half, &one)?)?;
            (Some(da), Some(db))
        }
        // atan2(a, b): d/da = b/(a^2+b^2), d/db = -a/(a^2+b^2)
        BinaryOp::Atan2 => {
            let r = (a.sqr()? + b.sqr()?)?;
            (Some((b / &r)?), Some((a.neg()? / &r)?))
        }
        // rem(a, b) = a - b trunc(a/b): d/da = 1, d/db = -trunc(a/b)
        BinaryOp::Rem => {
            let q = (a / b)?;
            let trunc = q.sign()?.mul(&q.abs()?.floor()?)?;
            (Some(a.ones_like()?), Some(trunc.neg()?))
        }
        BinaryOp::And
        | BinaryOp::Or
        | BinaryOp::Xor
        | BinaryOp::ShiftLeft
        | BinaryOp::ShiftRightLogical => {
            return Err(Error::NotDifferentiable {
                op: op.name(),
                msg: "bitwise ops act on integers".into(),
            });
        }
    })
}

/// VJP of a binary op: cotangents of (a, b).
pub(crate) fn binary_vjp(
    op: BinaryOp,
    a: &Tensor,
    b: &Tensor,
    y: &Tensor,
    ct: &Tensor,
) -> Result<Vec<Option<Tensor>>> {
    match op {
        BinaryOp::Add => Ok(vec![Some(ct.clone()), Some(ct.clone())]),
        BinaryOp::Sub => Ok(vec![Some(ct.clone()), Some(ct.neg()?)]),
        _ => {
            let (da, db) = binary_derivs(op, a, b, y)?;
            Ok(vec![
                da.map(|d| ct * d).transpose()?,
                db.map(|d| ct * d).transpose()?,
            ])
        }
    }
}

/// JVP of a binary op from the operands' tangents.
pub(crate) fn binary_jvp(
    op: BinaryOp,
    a: &Tensor,
    b: &Tensor,
    y: &Tensor,
    ta: Option<&Tensor>,
    tb: Option<&Tensor>,
) -> Result<Option<Tensor>> {
    let parts: Vec<Tensor> = match op {
        BinaryOp::Add => [ta.cloned(), tb.cloned()].into_iter().flatten().collect(),
        BinaryOp::Sub => [ta.cloned(), tb.map(|t| t.neg()).transpose()?]
            .into_iter()
            .flatten()
            .collect(),
        _ => {
            let (da, db) = binary_derivs(op, a, b, y)?;
            let mut v = Vec::new();
            if let (Some(t), Some(d)) = (ta, da) {
                v.push((t * d)?);
            }
            if let (Some(t), Some(d)) = (tb, db) {
                v.push((t * d)?);
            }
            v
        }
    };
    sum_all_of(parts)
}

/// Sum of a list of tensors of one shape (None when empty).
pub(crate) fn sum_all_of(parts: Vec<Tensor>) -> Result<Option<Tensor>> {
    let mut it = parts.into_iter();
    let Some(mut acc) = it.next() else {
        return Ok(None);
    };
    for p in it {
        acc = acc.add(&p)?;
    }
    Ok(Some(acc))
}
