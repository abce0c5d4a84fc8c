//! Constants in StableHLO text: float, integer and splat literals and the `dense<...>`
//! attribute of a constant (hex bytes for non-finite and large values).

use crate::dtype::DType;
use crate::graph::op::ConstData;
use crate::graph::shape::Shape;

/// Formats a float constant in type `dtype` (hex bits for non-finite values).
pub(crate) fn float_lit(v: f64, dtype: DType) -> String {
    let (rounded, bits): (f64, String) = match dtype {
        DType::F64 => (v, format!("0x{:016X}", v.to_bits())),
        DType::F32 => ((v as f32) as f64, format!("0x{:08X}", (v as f32).to_bits())),
        DType::F16 => {
            let h = half::f16::from_f64(v);
            (h.to_f64(), format!("0x{:04X}", h.to_bits()))
        }
        DType::BF16 => {
            let h = half::bf16::from_f64(v);
            (h.to_f64(), format!("0x{:04X}", h.to_bits()))
        }
        _ => unreachable!(),
    };
    if !rounded.is_finite() {
        return bits;
    }
    let s = if dtype == DType::F64 {
        format!("{rounded:e}")
    } else {
        format!("{:e}", rounded as f32)
    };
    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
    if m.contains('.') {
        format!("{m}e{e}")
    } else {
        format!("{m}.0e{e}")
    }
}

fn int_lit(v: i64, dtype: DType) -> String {
    if dtype == DType::Pred {
        if v != 0 {
            "true".into()
        } else {
            "false".into()
        }
    } else {
        v.to_string()
    }
}

fn splat_lit(v: f64, dtype: DType) -> String {
    if dtype.is_float() {
        float_lit(v, dtype)
    } else if dtype.is_unsigned() {
        (v as u64).to_string()
    } else {
        int_lit(v as i64, dtype)
    }
}

fn nested(dims: &[usize], items: &[String]) -> String {
    if dims.is_empty() {
        return items[0].clone();
    }
    let stride: usize = dims[1..].iter().product();
    let parts: Vec<String> = (0..dims[0])
        .map(|i| nested(&dims[1..], &items[i * stride..(i + 1) * stride]))
        .collect();
    format!("[{}]", parts.join(", "))
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2 + 4);
    s.push_str("\"0x");
    for b in bytes {
        s.push_str(&format!("{b:02X}"));
    }
    s.push('"');
    s
}

/// The `dense<...>` attribute of a constant.
pub(crate) fn dense(data: &ConstData, shape: &Shape) -> String {
    let dt = shape.dtype;
    let body = match data {
        ConstData::Splat(v) => splat_lit(*v, dt),
        ConstData::Bytes(b) => {
            if shape.elem_count() == 1 && dt.is_float() {
                let h = crate::host::HostArray::from_bytes(dt, vec![], b.clone())
                    .map(|a| a.to_f64_vec()[0])
                    .unwrap_or(0.0);
                float_lit(h, dt)
            } else {
                hex(b)
            }
        }
        ConstData::Float(v) => {
            if v.len() > 64 {
                let mut bytes = Vec::new();
                for &x in v {
                    match dt {
                        DType::F64 => bytes.extend(x.to_le_bytes()),
                        DType::F32 => bytes.extend((x as f32).to_le_bytes()),
                        DType::F16 => bytes.extend(half::f16::from_f64(x).to_le_bytes()),
                        _ => bytes.extend(half::bf16::from_f64(x).to_le_bytes()),
                    }
                }
                hex(&bytes)
            } else {
                let items: Vec<String> = v.iter().map(|&x| float_lit(x, dt)).collect();
                nested(&shape.dims, &items)
            }
        }
        ConstData::Int(v) => nested(
            &shape.dims,
            &v.iter().map(|&x| int_lit(x, dt)).collect::<Vec<_>>(),
        ),
        ConstData::UInt(v) => nested(
            &shape.dims,
            &v.iter().map(|x| x.to_string()).collect::<Vec<_>>(),
        ),
    };
    format!("dense<{body}>")
}
