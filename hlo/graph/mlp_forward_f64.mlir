module @jit__lambda attributes {mhlo.num_partitions = 1 : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(%arg0: tensor<16xf64>, %arg1: tensor<16x3xf64>, %arg2: tensor<16xf64>, %arg3: tensor<16x16xf64>, %arg4: tensor<2xf64>, %arg5: tensor<2x16xf64>, %arg6: tensor<8xf64>, %arg7: tensor<8x2xf64>) -> (tensor<f64> {jax.result_info = "result[0]"}, tensor<8x2xf64> {jax.result_info = "result[1]['score']"}) {
    %0 = stablehlo.broadcast_in_dim %arg6, dims = [0] : (tensor<8xf64>) -> tensor<8x1xf64>
    %1 = stablehlo.concatenate %arg7, %0, dim = 1 : (tensor<8x2xf64>, tensor<8x1xf64>) -> tensor<8x3xf64>
    %2 = stablehlo.transpose %arg1, dims = [1, 0] : (tensor<16x3xf64>) -> tensor<3x16xf64>
    %3 = stablehlo.dot_general %1, %2, contracting_dims = [1] x [0], precision = [DEFAULT, DEFAULT] : (tensor<8x3xf64>, tensor<3x16xf64>) -> tensor<8x16xf64>
    %4 = stablehlo.broadcast_in_dim %arg0, dims = [1] : (tensor<16xf64>) -> tensor<1x16xf64>
    %5 = stablehlo.broadcast_in_dim %4, dims = [0, 1] : (tensor<1x16xf64>) -> tensor<8x16xf64>
    %6 = stablehlo.add %3, %5 : tensor<8x16xf64>
    %7 = stablehlo.tanh %6 : tensor<8x16xf64>
    %8 = stablehlo.transpose %arg3, dims = [1, 0] : (tensor<16x16xf64>) -> tensor<16x16xf64>
    %9 = stablehlo.dot_general %7, %8, contracting_dims = [1] x [0], precision = [DEFAULT, DEFAULT] : (tensor<8x16xf64>, tensor<16x16xf64>) -> tensor<8x16xf64>
    %10 = stablehlo.broadcast_in_dim %arg2, dims = [1] : (tensor<16xf64>) -> tensor<1x16xf64>
    %11 = stablehlo.broadcast_in_dim %10, dims = [0, 1] : (tensor<1x16xf64>) -> tensor<8x16xf64>
    %12 = stablehlo.add %9, %11 : tensor<8x16xf64>
    %13 = stablehlo.tanh %12 : tensor<8x16xf64>
    %14 = stablehlo.transpose %arg5, dims = [1, 0] : (tensor<2x16xf64>) -> tensor<16x2xf64>
    %15 = stablehlo.dot_general %13, %14, contracting_dims = [1] x [0], precision = [DEFAULT, DEFAULT] : (tensor<8x16xf64>, tensor<16x2xf64>) -> tensor<8x2xf64>
    %16 = stablehlo.broadcast_in_dim %arg4, dims = [1] : (tensor<2xf64>) -> tensor<1x2xf64>
    %17 = stablehlo.broadcast_in_dim %16, dims = [0, 1] : (tensor<1x2xf64>) -> tensor<8x2xf64>
    %18 = stablehlo.add %15, %17 : tensor<8x2xf64>
    %19 = chlo.square %18 : tensor<8x2xf64> -> tensor<8x2xf64>
    %cst = stablehlo.constant dense<0.000000e+00> : tensor<f64>
    %20 = stablehlo.reduce(%19 init: %cst) applies stablehlo.add across dimensions = [0, 1] : (tensor<8x2xf64>, tensor<f64>) -> tensor<f64>
    %cst_0 = stablehlo.constant dense<1.600000e+01> : tensor<f64>
    %21 = stablehlo.divide %20, %cst_0 : tensor<f64>
    return %21, %18 : tensor<f64>, tensor<8x2xf64>
  }
}
