//! Randomness inside the graph: `stablehlo.rng_bit_generator` (THREE_FRY) with an explicit
//! `ui64[2]` key state threaded through the program, and the distributions built on its bits.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::builder::Graph;
use crate::graph::emit::{Emitter, fn_type};
use crate::graph::op::Op;
use crate::graph::shape::Shape;
use crate::graph::tensor::Tensor;
use crate::host::HostArray;

/// A random stream: the current key state (`ui64[2]`), advanced by every draw.
///
/// Thread the final [`Rng::key`] out of the program (or through a loop) to continue the
/// stream in the next call. Draws are deterministic for a given key on a given plugin.
#[derive(Clone, Debug)]
pub struct Rng {
    key: Tensor,
}

/// The host key array for a seed: `ui64[2] = [seed, 0]`.
pub fn seed_key(seed: u64) -> HostArray {
    HostArray::from_vec(vec![2], vec![seed, 0u64]).expect("two elements")
}

impl Rng {
    /// A stream continuing from `key` (a `ui64[2]` tensor, e.g. a parameter).
    pub fn new(key: &Tensor) -> Result<Rng> {
        if key.dtype() != DType::U64 || key.dims() != [2] {
            return Err(Error::InvalidOp {
                op: "rng_bit_generator",
                msg: format!("the key must be u64[2], got {}", key.shape()),
            });
        }
        Ok(Rng { key: key.clone() })
    }

    /// A stream from a constant seed baked into the program.
    pub fn from_seed(g: &Graph, seed: u64) -> Result<Rng> {
        Rng::new(&g.constant(&seed_key(seed))?)
    }

    /// The current key state (after the draws made so far).
    pub fn key(&self) -> &Tensor {
        &self.key
    }

    /// Raw random bits of type `u32` or `u64` (`stablehlo.rng_bit_generator`, THREE_FRY).
    pub fn bits(&mut self, dims: &[usize], dtype: DType) -> Result<Tensor> {
        if !matches!(dtype, DType::U32 | DType::U64) {
            return Err(Error::InvalidOp {
                op: "rng_bit_generator",
                msg: format!("bits must be u32 or u64, got {dtype}"),
            });
        }
        let g = self.key.graph().clone();
        let ids = g.check_inputs("rng_bit_generator", &[&self.key])?;
        let outs = g.push_multi(
            Op::RngBitGenerator,
            &ids,
            vec![self.key.shape().clone(), Shape::new(dims, dtype)],
        )?;
        self.key = outs[0].clone();
        Ok(outs[1].clone())
    }

    /// Uniform on `[0, 1)`: the top mantissa bits of random words placed in `[1, 2)` by
    /// setting the exponent, minus one (f16/bf16 are drawn in f32 and rounded down below 1).
    pub fn uniform(&mut self, dims: &[usize], dtype: DType) -> Result<Tensor> {
        match dtype {
            DType::F64 => {
                let b = self.bits(dims, DType::U64)?;
                let b = b
                    .shift_right_logical(&b.full_like(12.0)?)?
                    .bit_or(&b.full_like(0x3FF0_0000_0000_0000u64 as f64)?)?;
                b.bitcast(DType::F64)? - 1.0
            }
            DType::F32 => {
                let b = self.bits(dims, DType::U32)?;
                let b = b
                    .shift_right_logical(&b.full_like(9.0)?)?
                    .bit_or(&b.full_like(0x3F80_0000u32 as f64)?)?;
                b.bitcast(DType::F32)? - 1.0
            }
            DType::F16 | DType::BF16 => {
                let u = self.uniform(dims, DType::F32)?.convert(dtype)?;
                let below_one = if dtype == DType::F16 {
                    1.0 - 2f64.powi(-11)
                } else {
                    1.0 - 2f64.powi(-8)
                };
                u.minimum(&u.full_like(below_one)?)
            }
            _ => Err(Error::InvalidOp {
                op: "uniform",
                msg: format!("needs a float type, got {dtype}"),
            }),
        }
    }

    /// Uniform on `[lo, hi)`.
    pub fn uniform_range(
        &mut self,
        dims: &[usize],
        lo: f64,
        hi: f64,
        dtype: DType,
    ) -> Result<Tensor> {
        let u = self.uniform(dims, dtype)?;
        let x = u.affine(hi - lo, lo)?;
        x.maximum(&x.full_like(lo)?)
    }

    /// Standard normal draws: `sqrt(2) * erf_inv(u)` with `u` uniform on `(-1, 1)` (the lower
    /// end nudged above -1), the transform JAX uses.
    pub fn normal(&mut self, dims: &[usize], dtype: DType) -> Result<Tensor> {
        let lo = next_above_minus_one(dtype)?;
        let u = self.uniform_range(dims, lo, 1.0, dtype)?;
        u.erf_inv()? * std::f64::consts::SQRT_2
    }

    /// Normal draws truncated to `[lower, upper]`: `sqrt(2) erf_inv(u)`, `u` uniform between
    /// `erf(lower/sqrt 2)` and `erf(upper/sqrt 2)`, clamped into the interval.
    pub fn truncated_normal(
        &mut self,
        dims: &[usize],
        lower: f64,
        upper: f64,
        dtype: DType,
    ) -> Result<Tensor> {
        if lower >= upper {
            return Err(Error::InvalidOp {
                op: "truncated_normal",
                msg: format!("lower {lower} must be below upper {upper}"),
            });
        }
        let a = libm::erf(lower / std::f64::consts::SQRT_2);
        let b = libm::erf(upper / std::f64::consts::SQRT_2);
        let u = self.uniform_range(dims, a, b, dtype)?;
        let z = (u.erf_inv()? * std::f64::consts::SQRT_2)?;
        z.clamp(lower, upper)
    }

    /// Rademacher draws: -1 or +1 with equal probability (the low bit of random words).
    pub fn rademacher(&mut self, dims: &[usize], dtype: DType) -> Result<Tensor> {
        let b = self.bits(dims, DType::U32)?;
        let bit = b.bit_and(&b.full_like(1.0)?)?.convert(dtype)?;
        bit.affine(2.0, -1.0)
    }

    /// Integers uniform on `[0, n)` as `i32` (e.g. batch rows to draw).
    pub fn randint(&mut self, dims: &[usize], n: usize) -> Result<Tensor> {
        if n == 0 {
            return Err(Error::InvalidOp {
                op: "randint",
                msg: "the range is empty".into(),
            });
        }
        let u = self.uniform(dims, DType::F64)?;
        let i = (u * n as f64)?.floor()?.convert(DType::I32)?;
        i.minimum(&i.full_like((n - 1) as f64)?)
    }
}

fn next_above_minus_one(dtype: DType) -> Result<f64> {
    Ok(match dtype {
        DType::F64 => -1.0 + f64::EPSILON / 2.0,
        DType::F32 => -1.0 + (f32::EPSILON / 2.0) as f64,
        DType::F16 => -1.0 + 2f64.powi(-11),
        DType::BF16 => -1.0 + 2f64.powi(-8),
        _ => {
            return Err(Error::InvalidOp {
                op: "normal",
                msg: format!("needs a float type, got {dtype}"),
            });
        }
    })
}

/// Lowers `rng_bit_generator`.
pub(crate) fn emit(em: &mut Emitter, id: usize) -> Result<()> {
    let node = &em.g.nodes[id];
    let key = em.name(node.inputs[0]);
    let ks = &em.g.nodes[node.inputs[0]].shapes[0];
    let outs: Vec<&Shape> = node.shapes.iter().collect();
    let line = format!(
        "{} = stablehlo.rng_bit_generator {key}, algorithm = THREE_FRY : {}",
        em.result_prefix(id),
        fn_type(&[ks], &outs)
    );
    em.line(&line);
    Ok(())
}
