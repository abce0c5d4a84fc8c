//! Element types shared by the runtime (buffers) and the graph builder (tensor types).

use std::fmt;

/// An array element type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    /// Boolean (`i1` in StableHLO, one byte per element on the host).
    Pred,
    U8,
    I32,
    I64,
    U32,
    U64,
    F16,
    BF16,
    F32,
    F64,
}

impl DType {
    /// Every supported element type.
    pub const ALL: [DType; 10] = [
        DType::Pred,
        DType::U8,
        DType::I32,
        DType::I64,
        DType::U32,
        DType::U64,
        DType::F16,
        DType::BF16,
        DType::F32,
        DType::F64,
    ];

    /// Size of one element on the host, in bytes.
    pub fn size_in_bytes(self) -> usize {
        match self {
            DType::Pred | DType::U8 => 1,
            DType::F16 | DType::BF16 => 2,
            DType::I32 | DType::U32 | DType::F32 => 4,
            DType::I64 | DType::U64 | DType::F64 => 8,
        }
    }

    /// The element type's name in StableHLO/MLIR text (`f32`, `i1`, `ui32`, ...).
    pub fn mlir_name(self) -> &'static str {
        match self {
            DType::Pred => "i1",
            DType::U8 => "ui8",
            DType::I32 => "i32",
            DType::I64 => "i64",
            DType::U32 => "ui32",
            DType::U64 => "ui64",
            DType::F16 => "f16",
            DType::BF16 => "bf16",
            DType::F32 => "f32",
            DType::F64 => "f64",
        }
    }

    /// Whether this is a floating-point type.
    pub fn is_float(self) -> bool {
        matches!(self, DType::F16 | DType::BF16 | DType::F32 | DType::F64)
    }

    /// Whether this is a (signed or unsigned) integer type, not counting `Pred`.
    pub fn is_integer(self) -> bool {
        matches!(
            self,
            DType::U8 | DType::I32 | DType::I64 | DType::U32 | DType::U64
        )
    }

    /// Whether this is an unsigned integer type.
    pub fn is_unsigned(self) -> bool {
        matches!(self, DType::U8 | DType::U32 | DType::U64)
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            DType::Pred => "bool",
            DType::U8 => "u8",
            DType::I32 => "i32",
            DType::I64 => "i64",
            DType::U32 => "u32",
            DType::U64 => "u64",
            DType::F16 => "f16",
            DType::BF16 => "bf16",
            DType::F32 => "f32",
            DType::F64 => "f64",
        };
        f.write_str(name)
    }
}

/// A Rust type that is an array element of a [`DType`] (its host layout is the device's).
pub trait Element: Copy + Default + Send + Sync + 'static {
    /// The element type.
    const DTYPE: DType;
}

macro_rules! element {
    ($($t:ty => $d:ident),*) => { $(impl Element for $t { const DTYPE: DType = DType::$d; })* };
}
element!(bool => Pred, u8 => U8, i32 => I32, i64 => I64, u32 => U32, u64 => U64,
    half::f16 => F16, half::bf16 => BF16, f32 => F32, f64 => F64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_rust_types() {
        assert_eq!(DType::F32.size_in_bytes(), std::mem::size_of::<f32>());
        assert_eq!(
            DType::BF16.size_in_bytes(),
            std::mem::size_of::<half::bf16>()
        );
        assert_eq!(DType::Pred.size_in_bytes(), std::mem::size_of::<bool>());
        assert_eq!(<u64 as Element>::DTYPE, DType::U64);
    }
}
