module @jit__lambda attributes {mhlo.num_partitions = 1 : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(%arg0: tensor<4x1x1xf32>, %arg1: tensor<4x3x3x3xf32>, %arg2: tensor<3x1x1xf32>, %arg3: tensor<3x4x3x3xf32>, %arg4: tensor<4xf32>, %arg5: tensor<4xf32>, %arg6: tensor<2x3x8x8xf32>) -> (tensor<f32> {jax.result_info = "result[0]"}, tensor<2x4x8x8xf32> {jax.result_info = "result[1]['conv']"}, tensor<2x4x8x8xf32> {jax.result_info = "result[1]['norm']"}, tensor<2x4x4x4xf32> {jax.result_info = "result[1]['pool']"}, tensor<2x4x8x8xf32> {jax.result_info = "result[1]['silu']"}, tensor<2x3x8x8xf32> {jax.result_info = "result[1]['y']"}) {
    %0 = stablehlo.broadcast_in_dim %arg6, dims = [0, 2, 3, 4] : (tensor<2x3x8x8xf32>) -> tensor<2x1x3x8x8xf32>
    %1 = stablehlo.reshape %0 : (tensor<2x1x3x8x8xf32>) -> tensor<2x3x8x8xf32>
    %2 = stablehlo.convolution(%1, %arg1) dim_numbers = [b, f, 0, 1]x[o, i, 0, 1]->[b, f, 0, 1], window = {stride = [1, 1], pad = [[1, 1], [1, 1]], lhs_dilate = [1, 1], rhs_dilate = [1, 1], reverse = [false, false]} {batch_group_count = 1 : i64, feature_group_count = 1 : i64, precision_config = [#stablehlo<precision DEFAULT>, #stablehlo<precision DEFAULT>]} : (tensor<2x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<2x4x8x8xf32>
    %3 = stablehlo.reshape %2 : (tensor<2x4x8x8xf32>) -> tensor<2x1x4x8x8xf32>
    %4 = stablehlo.reshape %3 : (tensor<2x1x4x8x8xf32>) -> tensor<2x4x8x8xf32>
    %5 = stablehlo.broadcast_in_dim %arg0, dims = [1, 2, 3] : (tensor<4x1x1xf32>) -> tensor<1x4x1x1xf32>
    %6 = stablehlo.broadcast_in_dim %5, dims = [0, 1, 2, 3] : (tensor<1x4x1x1xf32>) -> tensor<2x4x8x8xf32>
    %7 = stablehlo.add %4, %6 : tensor<2x4x8x8xf32>
    %8 = stablehlo.reshape %7 : (tensor<2x4x8x8xf32>) -> tensor<2x2x2x8x8xf32>
    %cst = stablehlo.constant dense<0.000000e+00> : tensor<f32>
    %9 = stablehlo.reduce(%8 init: %cst) applies stablehlo.add across dimensions = [2, 3, 4] : (tensor<2x2x2x8x8xf32>, tensor<f32>) -> tensor<2x2xf32>
    %10 = stablehlo.broadcast_in_dim %9, dims = [0, 1] : (tensor<2x2xf32>) -> tensor<2x2x1x1x1xf32>
    %cst_0 = stablehlo.constant dense<1.280000e+02> : tensor<f32>
    %11 = stablehlo.broadcast_in_dim %cst_0, dims = [] : (tensor<f32>) -> tensor<2x2x1x1x1xf32>
    %12 = stablehlo.divide %10, %11 : tensor<2x2x1x1x1xf32>
    %13 = stablehlo.broadcast_in_dim %12, dims = [0, 1, 2, 3, 4] : (tensor<2x2x1x1x1xf32>) -> tensor<2x2x2x8x8xf32>
    %14 = stablehlo.subtract %8, %13 : tensor<2x2x2x8x8xf32>
    %15 = chlo.square %14 : tensor<2x2x2x8x8xf32> -> tensor<2x2x2x8x8xf32>
    %cst_1 = stablehlo.constant dense<0.000000e+00> : tensor<f32>
    %16 = stablehlo.reduce(%15 init: %cst_1) applies stablehlo.add across dimensions = [2, 3, 4] : (tensor<2x2x2x8x8xf32>, tensor<f32>) -> tensor<2x2xf32>
    %17 = stablehlo.broadcast_in_dim %16, dims = [0, 1] : (tensor<2x2xf32>) -> tensor<2x2x1x1x1xf32>
    %cst_2 = stablehlo.constant dense<1.280000e+02> : tensor<f32>
    %18 = stablehlo.broadcast_in_dim %cst_2, dims = [] : (tensor<f32>) -> tensor<2x2x1x1x1xf32>
    %19 = stablehlo.divide %17, %18 : tensor<2x2x1x1x1xf32>
    %20 = stablehlo.broadcast_in_dim %12, dims = [0, 1, 2, 3, 4] : (tensor<2x2x1x1x1xf32>) -> tensor<2x2x2x8x8xf32>
    %21 = stablehlo.subtract %8, %20 : tensor<2x2x2x8x8xf32>
    %cst_3 = stablehlo.constant dense<9.99999974E-6> : tensor<f32>
    %22 = stablehlo.broadcast_in_dim %cst_3, dims = [] : (tensor<f32>) -> tensor<2x2x1x1x1xf32>
    %23 = stablehlo.add %19, %22 : tensor<2x2x1x1x1xf32>
    %24 = stablehlo.sqrt %23 : tensor<2x2x1x1x1xf32>
    %25 = stablehlo.broadcast_in_dim %24, dims = [0, 1, 2, 3, 4] : (tensor<2x2x1x1x1xf32>) -> tensor<2x2x2x8x8xf32>
    %26 = stablehlo.divide %21, %25 : tensor<2x2x2x8x8xf32>
    %27 = stablehlo.reshape %26 : (tensor<2x2x2x8x8xf32>) -> tensor<2x4x8x8xf32>
    %28 = stablehlo.broadcast_in_dim %arg5, dims = [1] : (tensor<4xf32>) -> tensor<1x4x1x1xf32>
    %29 = stablehlo.broadcast_in_dim %28, dims = [0, 1, 2, 3] : (tensor<1x4x1x1xf32>) -> tensor<2x4x8x8xf32>
    %30 = stablehlo.multiply %27, %29 : tensor<2x4x8x8xf32>
    %31 = stablehlo.broadcast_in_dim %arg4, dims = [1] : (tensor<4xf32>) -> tensor<1x4x1x1xf32>
    %32 = stablehlo.broadcast_in_dim %31, dims = [0, 1, 2, 3] : (tensor<1x4x1x1xf32>) -> tensor<2x4x8x8xf32>
    %33 = stablehlo.add %30, %32 : tensor<2x4x8x8xf32>
    %34 = call @silu(%33) : (tensor<2x4x8x8xf32>) -> tensor<2x4x8x8xf32>
    %cst_4 = stablehlo.constant dense<0.000000e+00> : tensor<f32>
    %35 = stablehlo.broadcast_in_dim %cst_4, dims = [] : (tensor<f32>) -> tensor<f32>
    %36 = "stablehlo.reduce_window"(%34, %35) <{base_dilations = array<i64: 1, 1, 1, 1>, padding = dense<0> : tensor<4x2xi64>, window_dilations = array<i64: 1, 1, 1, 1>, window_dimensions = array<i64: 1, 1, 2, 2>, window_strides = array<i64: 1, 1, 2, 2>}> ({
    ^bb0(%arg7: tensor<f32>, %arg8: tensor<f32>):
      %50 = stablehlo.add %arg7, %arg8 : tensor<f32>
      stablehlo.return %50 : tensor<f32>
    }) : (tensor<2x4x8x8xf32>, tensor<f32>) -> tensor<2x4x4x4xf32>
    %cst_5 = stablehlo.constant dense<4.000000e+00> : tensor<f32>
    %37 = stablehlo.broadcast_in_dim %cst_5, dims = [] : (tensor<f32>) -> tensor<2x4x4x4xf32>
    %38 = stablehlo.divide %36, %37 : tensor<2x4x4x4xf32>
    %39 = stablehlo.broadcast_in_dim %38, dims = [0, 2, 3, 4] : (tensor<2x4x4x4xf32>) -> tensor<2x1x4x4x4xf32>
    %40 = stablehlo.reshape %39 : (tensor<2x1x4x4x4xf32>) -> tensor<2x4x4x4xf32>
    %41 = stablehlo.convolution(%40, %arg3) dim_numbers = [b, f, 0, 1]x[o, i, 0, 1]->[b, f, 0, 1], window = {stride = [1, 1], pad = [[1, 2], [1, 2]], lhs_dilate = [2, 2], rhs_dilate = [1, 1], reverse = [false, false]} {batch_group_count = 1 : i64, feature_group_count = 1 : i64, precision_config = [#stablehlo<precision DEFAULT>, #stablehlo<precision DEFAULT>]} : (tensor<2x4x4x4xf32>, tensor<3x4x3x3xf32>) -> tensor<2x3x8x8xf32>
    %42 = stablehlo.reshape %41 : (tensor<2x3x8x8xf32>) -> tensor<2x1x3x8x8xf32>
    %43 = stablehlo.reshape %42 : (tensor<2x1x3x8x8xf32>) -> tensor<2x3x8x8xf32>
    %44 = stablehlo.broadcast_in_dim %arg2, dims = [1, 2, 3] : (tensor<3x1x1xf32>) -> tensor<1x3x1x1xf32>
    %45 = stablehlo.broadcast_in_dim %44, dims = [0, 1, 2, 3] : (tensor<1x3x1x1xf32>) -> tensor<2x3x8x8xf32>
    %46 = stablehlo.add %43, %45 : tensor<2x3x8x8xf32>
    %47 = chlo.square %46 : tensor<2x3x8x8xf32> -> tensor<2x3x8x8xf32>
    %cst_6 = stablehlo.constant dense<0.000000e+00> : tensor<f32>
    %48 = stablehlo.reduce(%47 init: %cst_6) applies stablehlo.add across dimensions = [0, 1, 2, 3] : (tensor<2x3x8x8xf32>, tensor<f32>) -> tensor<f32>
    %cst_7 = stablehlo.constant dense<3.840000e+02> : tensor<f32>
    %49 = stablehlo.divide %48, %cst_7 : tensor<f32>
    return %49, %7, %33, %38, %34, %46 : tensor<f32>, tensor<2x4x8x8xf32>, tensor<2x4x8x8xf32>, tensor<2x4x4x4xf32>, tensor<2x4x8x8xf32>, tensor<2x3x8x8xf32>
  }
  func.func private @silu(%arg0: tensor<2x4x8x8xf32>) -> tensor<2x4x8x8xf32> {
    %0 = stablehlo.negate %arg0 : tensor<2x4x8x8xf32>
    %1 = stablehlo.exponential %0 : tensor<2x4x8x8xf32>
    %cst = stablehlo.constant dense<1.000000e+00> : tensor<f32>
    %2 = stablehlo.broadcast_in_dim %cst, dims = [] : (tensor<f32>) -> tensor<2x4x8x8xf32>
    %3 = stablehlo.add %2, %1 : tensor<2x4x8x8xf32>
    %cst_0 = stablehlo.constant dense<1.000000e+00> : tensor<f32>
    %4 = stablehlo.broadcast_in_dim %cst_0, dims = [] : (tensor<f32>) -> tensor<2x4x8x8xf32>
    %5 = stablehlo.divide %4, %3 : tensor<2x4x8x8xf32>
    %6 = stablehlo.multiply %arg0, %5 : tensor<2x4x8x8xf32>
    return %6 : tensor<2x4x8x8xf32>
  }
}
