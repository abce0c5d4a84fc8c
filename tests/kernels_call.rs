//! The host kernels' custom calls as XLA runs them: a bad call comes back as an error from
//! `execute`, with the kernel's message, and never aborts the process.

use sbgm_xla::HostArray;
use sbgm_xla::exec::Exec;
use sbgm_xla::kernels::{self, BF16_MATMUL};
use sbgm_xla::pjrt::{CompileOptions, Program};

fn call(lhs_contract: i64, rhs_contract: i64, out: &str) -> sbgm_xla::Result<Vec<HostArray>> {
    let exec = Exec::cpu()?;
    kernels::register(exec.client())?;
    let text = format!(
        "module @m {{
  func.func public @main(%a: tensor<2x3xf32>, %b: tensor<3x4xf32>) -> tensor<{out}xf32> {{
    %0 = stablehlo.custom_call @{BF16_MATMUL}(%a, %b) {{api_version = 4 : i32, backend_config = {{lhs_contract = {lhs_contract} : i64, rhs_contract = {rhs_contract} : i64}}}} : (tensor<2x3xf32>, tensor<3x4xf32>) -> tensor<{out}xf32>
    return %0 : tensor<{out}xf32>
  }}
}}"
    );
    let exe = exec
        .client()
        .compile(&Program::text(text), &CompileOptions::default())?;
    let a = HostArray::from_vec(vec![2, 3], vec![1f32, 2.0, 3.0, 4.0, 5.0, 6.0])?;
    let b = HostArray::from_vec(vec![3, 4], (0..12).map(|i| i as f32 * 0.5).collect())?;
    exe.run_host(&[a, b])
}

#[test]
fn a_well_formed_call_multiplies() {
    let out = call(1, 0, "2x4").unwrap();
    // the entries are exact in bf16, so the product is exact: compare with the plain sum
    let a = [[1f32, 2.0, 3.0], [4.0, 5.0, 6.0]];
    let b = |k: usize, j: usize| (4 * k + j) as f32 * 0.5;
    let want: Vec<f32> = (0..2)
        .flat_map(|i| (0..4).map(move |j| (0..3).map(|k| a[i][k] * b(k, j)).sum()))
        .collect();
    assert_eq!(out[0].to_vec::<f32>().unwrap(), want);
}

#[test]
fn bad_calls_fail_with_the_kernels_message() {
    let e = call(2, 0, "2x4").unwrap_err().to_string();
    assert!(e.contains("contracting dimensions must be 0 or 1"), "{e}");
    // contracting the lhs's first dimension (2) with the rhs's first (3) does not fit
    let e = call(0, 0, "3x4").unwrap_err().to_string();
    assert!(e.contains(BF16_MATMUL), "{e}");
    let e = call(1, 0, "4x2").unwrap_err().to_string();
    assert!(e.contains("result is [4, 2]"), "{e}");
}
