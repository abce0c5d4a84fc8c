//! The host kernels' custom calls as XLA runs them: a bad call comes back as an error from
//! `execute`, with the kernel's message, and never aborts the process.

use sbgm_xla::HostArray;
use sbgm_xla::exec::Target;
use sbgm_xla::kernels::{self, BF16_MATMUL};
use sbgm_xla::pjrt::{CompileOptions, Program};

fn call(lhs_contract: i64, rhs_contract: i64, out: &str) -> sbgm_xla::Result<Vec<HostArray>> {
    let exec = Target::cpu()?;
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

/// Runs one call of the kernel on the given operands (row-major) with extra attributes.
fn call_with(
    operands: &[(Vec<usize>, Vec<f32>)],
    out: [usize; 2],
    attrs: &str,
) -> sbgm_xla::Result<Vec<f32>> {
    let exec = Target::cpu()?;
    kernels::register(exec.client())?;
    let ty = |d: &[usize]| format!("tensor<{}x{}xf32>", d[0], d[1]);
    let params: Vec<String> = operands
        .iter()
        .enumerate()
        .map(|(i, (d, _))| format!("%p{i}: {}", ty(d)))
        .collect();
    let names: Vec<String> = (0..operands.len()).map(|i| format!("%p{i}")).collect();
    let types: Vec<String> = operands.iter().map(|(d, _)| ty(d)).collect();
    let o = ty(&out);
    let text = format!(
        "module @m {{
  func.func public @main({}) -> {o} {{
    %0 = stablehlo.custom_call @{BF16_MATMUL}({}) {{api_version = 4 : i32, backend_config = {{lhs_contract = 1 : i64, rhs_contract = 0 : i64{attrs}}}}} : ({}) -> {o}
    return %0 : {o}
  }}
}}",
        params.join(", "),
        names.join(", "),
        types.join(", ")
    );
    let exe = exec
        .client()
        .compile(&Program::text(text), &CompileOptions::default())?;
    let args: Vec<HostArray> = operands
        .iter()
        .map(|(d, v)| HostArray::from_vec(d.clone(), v.clone()).unwrap())
        .collect();
    Ok(exe.run_host(&args)?[0].to_vec::<f32>().unwrap())
}

#[test]
fn a_call_reads_a_concatenated_rhs_from_its_parts_and_a_prefix_of_its_rows() {
    // small integers: exact in bf16, so the products are exact
    let (m, k) = (2, 3);
    let a: Vec<f32> = (0..m * k).map(|i| (i as f32) - 2.0).collect();
    let b1: Vec<f32> = (0..k * 16).map(|i| ((i * 7) % 5) as f32 - 2.0).collect();
    let b2: Vec<f32> = (0..k * 2).map(|i| i as f32).collect();
    let got = call_with(
        &[
            (vec![m, k], a.clone()),
            (vec![k, 16], b1.clone()),
            (vec![k, 2], b2.clone()),
        ],
        [m, 18],
        "",
    )
    .unwrap();
    let b = |r: usize, j: usize| {
        if j < 16 {
            b1[r * 16 + j]
        } else {
            b2[r * 2 + j - 16]
        }
    };
    let want: Vec<f32> = (0..m * 18)
        .map(|e| {
            (0..k)
                .map(|r| a[(e / 18) * k + r] * b(r, e % 18))
                .sum::<f32>()
        })
        .collect();
    assert_eq!(got, want);

    // rhs_k = 2: a [2, 2] times the first two rows of a [3, 4] rhs
    let a2 = vec![1f32, 2.0, 3.0, 4.0];
    let rhs: Vec<f32> = (0..12).map(|i| i as f32).collect();
    let got = call_with(
        &[(vec![2, 2], a2.clone()), (vec![3, 4], rhs.clone())],
        [2, 4],
        ", rhs_k = 2 : i64",
    )
    .unwrap();
    let want: Vec<f32> = (0..8)
        .map(|e| {
            let (i, j) = (e / 4, e % 4);
            a2[i * 2] * rhs[j] + a2[i * 2 + 1] * rhs[4 + j]
        })
        .collect();
    assert_eq!(got, want);

    // a prefix longer than the rhs, or parts of different lengths: errors, not aborts
    let e = call_with(
        &[(vec![2, 2], a2.clone()), (vec![3, 4], rhs.clone())],
        [2, 4],
        ", rhs_k = 5 : i64",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("rhs_k = 5 is outside"), "{e}");
    let e = call_with(
        &[
            (vec![m, k], a),
            (vec![k, 16], b1),
            (vec![2, 2], vec![0.0; 4]),
        ],
        [m, 18],
        "",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("share their contraction length"), "{e}");
}
