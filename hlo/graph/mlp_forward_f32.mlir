module @jit__lambda attributes {mhlo.num_partitions = 1 : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(%arg0: tensor<16xf32>, %arg1: tensor<16x3xf32>, %arg2: tensor<16xf32>, %arg3: tensor<16x16xf32>, %arg4: tensor<2xf32>, %arg5: tensor<2x16xf32>, %arg6: tensor<8xf32>, %arg7: tensor<8x2xf32>) -> (tensor<f32> {jax.result_info = "result[0]"}, tensor<8x2xf32> {jax.result_info = "result[1]['score']"}) {
    %0 = stablehlo.broadcast_in_dim %arg6, dims = [0] : (tensor<8xf32>) -> tensor<8x1xf32>
    %1 = stablehlo.concatenate %arg7, %0, dim = 1 : (tensor<8x2xf32>, tensor<8x1xf32>) -> tensor<8x3xf32>
    %2 = stablehlo.transpose %arg1, dims = [1, 0] : (tensor<16x3xf32>) -> tensor<3x16xf32>
    %3 = stablehlo.dot_general %1, %2, contracting_dims = [1] x [0], precision = [DEFAULT, DEFAULT] : (tensor<8x3xf32>, tensor<3x16xf32>) -> tensor<8x16xf32>
    %4 = stablehlo.broadcast_in_dim %arg0, dims = [1] : (tensor<16xf32>) -> tensor<1x16xf32>
    %5 = stablehlo.broadcast_in_dim %4, dims = [0, 1] : (tensor<1x16xf32>) -> tensor<8x16xf32>
    %6 = stablehlo.add %3, %5 : tensor<8x16xf32>
    %7 = stablehlo.tanh %6 : tensor<8x16xf32>
    %8 = stablehlo.transpose %arg3, dims = [1, 0] : (tensor<16x16xf32>) -> tensor<16x16xf32>
    %9 = stablehlo.dot_general %7, %8, contracting_dims = [1] x [0], precision = [DEFAULT, DEFAULT] : (tensor<8x16xf32>, tensor<16x16xf32>) -> tensor<8x16xf32>
    %10 = stablehlo.broadcast_in_dim %arg2, dims = [1] : (tensor<16xf32>) -> tensor<1x16xf32>
    %11 = stablehlo.broadcast_in_dim %10, dims = [0, 1] : (tensor<1x16xf32>) -> tensor<8x16xf32>
    %12 = stablehlo.add %9, %11 : tensor<8x16xf32>
    %13 = stablehlo.tanh %12 : tensor<8x16xf32>
    %14 = stablehlo.transpose %arg5, dims = [1, 0] : (tensor<2x16xf32>) -> tensor<16x2xf32>
    %15 = stablehlo.dot_general %13, %14, contracting_dims = [1] x [0], precision = [DEFAULT, DEFAULT] : (tensor<8x16xf32>, tensor<16x2xf32>) -> tensor<8x2xf32>
    %16 = stablehlo.broadcast_in_dim %arg4, dims = [1] : (tensor<2xf32>) -> tensor<1x2xf32>
    %17 = stablehlo.broadcast_in_dim %16, dims = [0, 1] : (tensor<1x2xf32>) -> tensor<8x2xf32>
    %18 = stablehlo.add %15, %17 : tensor<8x2xf32>
    %19 = chlo.square %18 : tensor<8x2xf32> -> tensor<8x2xf32>
    %cst = stablehlo.constant dense<0.000000e+00> : tensor<f32>
    %20 = stablehlo.reduce(%19 init: %cst) applies stablehlo.add across dimensions = [0, 1] : (tensor<8x2xf32>, tensor<f32>) -> tensor<f32>
    %cst_0 = stablehlo.constant dense<1.600000e+01> : tensor<f32>
    %21 = stablehlo.divide %20, %cst_0 : tensor<f32>
    return %21, %18 : tensor<f32>, tensor<8x2xf32>
  }
}
