//! Host kernels that XLA programs call back into (custom calls).

pub mod amx;
pub mod gemm_bf16;
