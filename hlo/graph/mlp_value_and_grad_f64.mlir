module @jit_mlp_loss attributes {mhlo.num_partitions = 1 : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(%arg0: tensor<16xf64>, %arg1: tensor<16x3xf64>, %arg2: tensor<16xf64>, %arg3: tensor<16x16xf64>, %arg4: tensor<2xf64>, %arg5: tensor<2x16xf64>, %arg6: tensor<8xf64>, %arg7: tensor<8x2xf64>) -> (tensor<f64> {jax.result_info = "result[0][0]"}, tensor<8x2xf64> {jax.result_info = "result[0][1]['score']"}, tensor<16xf64> {jax.result_info = "result[1][0]['layers.0.bias']"}, tensor<16x3xf64> {jax.result_info = "result[1][0]['layers.0.weight']"}, tensor<16xf64> {jax.result_info = "result[1][0]['layers.1.bias']"}, tensor<16x16xf64> {jax.result_info = "result[1][0]['layers.1.weight']"}, tensor<2xf64> {jax.result_info = "result[1][0]['layers.2.bias']"}, tensor<2x16xf64> {jax.result_info = "result[1][0]['layers.2.weight']"}, tensor<8xf64> {jax.result_info = "result[1][1]['t']"}, tensor<8x2xf64> {jax.result_info = "result[1][1]['x']"}) {
    %0 = stablehlo.broadcast_in_dim %arg6, dims = [0] : (tensor<8xf64>) -> tensor<8x1xf64>
    %1 = stablehlo.concatenate %arg7, %0, dim = 1 : (tensor<8x2xf64>, tensor<8x1xf64>) -> tensor<8x3xf64>
    %2 = stablehlo.transpose %arg1, dims = [1, 0] : (tensor<16x3xf64>) -> tensor<3x16xf64>
    %3 = stablehlo.dot_general %1, %2, contracting_dims = [1] x [0], precision = [DEFAULT, DEFAULT] : (tensor<8x3xf64>, tensor<3x16xf64>) -> tensor<8x16xf64>
    %4 = stablehlo.broadcast_in_dim %arg0, dims = [1] : (tensor<16xf64>) -> tensor<1x16xf64>
    %5 = stablehlo.broadcast_in_dim %4, dims = [0, 1] : (tensor<1x16xf64>) -> tensor<8x16xf64>
    %6 = stablehlo.add %3, %5 : tensor<8x16xf64>
    %7 = stablehlo.tanh %6 : tensor<8x16xf64>
    %cst = stablehlo.constant dense<1.000000e+00> : tensor<f64>
    %8 = stablehlo.broadcast_in_dim %cst, dims = [] : (tensor<f64>) -> tensor<8x16xf64>
    %9 = stablehlo.subtract %8, %7 : tensor<8x16xf64>
    %10 = stablehlo.transpose %arg3, dims = [1, 0] : (tensor<16x16xf64>) -> tensor<16x16xf64>
    %11 = stablehlo.dot_general %7, %10, contracting_dims = [1] x [0], precision = [DEFAULT, DEFAULT] : (tensor<8x16xf64>, tensor<16x16xf64>) -> tensor<8x16xf64>
    %12 = stablehlo.broadcast_in_dim %arg2, dims = [1] : (tensor<16xf64>) -> tensor<1x16xf64>
    %13 = stablehlo.broadcast_in_dim %12, dims = [0, 1] : (tensor<1x16xf64>) -> tensor<8x16xf64>
    %14 = stablehlo.add %11, %13 : tensor<8x16xf64>
    %15 = stablehlo.tanh %14 : tensor<8x16xf64>
    %cst_0 = stablehlo.constant dense<1.000000e+00> : tensor<f64>
    %16 = stablehlo.broadcast_in_dim %cst_0, dims = [] : (tensor<f64>) -> tensor<8x16xf64>
    %17 = stablehlo.subtract %16, %15 : tensor<8x16xf64>
    %18 = stablehlo.transpose %arg5, dims = [1, 0] : (tensor<2x16xf64>) -> tensor<16x2xf64>
    %19 = stablehlo.dot_general %15, %18, contracting_dims = [1] x [0], precision = [DEFAULT, DEFAULT] : (tensor<8x16xf64>, tensor<16x2xf64>) -> tensor<8x2xf64>
    %20 = stablehlo.broadcast_in_dim %arg4, dims = [1] : (tensor<2xf64>) -> tensor<1x2xf64>
    %21 = stablehlo.broadcast_in_dim %20, dims = [0, 1] : (tensor<1x2xf64>) -> tensor<8x2xf64>
    %22 = stablehlo.add %19, %21 : tensor<8x2xf64>
    %23 = chlo.square %22 : tensor<8x2xf64> -> tensor<8x2xf64>
    %cst_1 = stablehlo.constant dense<2.000000e+00> : tensor<f64>
    %24 = stablehlo.broadcast_in_dim %cst_1, dims = [] : (tensor<f64>) -> tensor<8x2xf64>
    %25 = stablehlo.multiply %24, %22 : tensor<8x2xf64>
    %cst_2 = stablehlo.constant dense<0.000000e+00> : tensor<f64>
    %26 = stablehlo.reduce(%23 init: %cst_2) applies stablehlo.add across dimensions = [0, 1] : (tensor<8x2xf64>, tensor<f64>) -> tensor<f64>
    %cst_3 = stablehlo.constant dense<1.600000e+01> : tensor<f64>
    %27 = stablehlo.divide %26, %cst_3 : tensor<f64>
    %cst_4 = stablehlo.constant dense<1.000000e+00> : tensor<f64>
    %cst_5 = stablehlo.constant dense<1.600000e+01> : tensor<f64>
    %28 = stablehlo.divide %cst_4, %cst_5 : tensor<f64>
    %29 = stablehlo.broadcast_in_dim %28, dims = [] : (tensor<f64>) -> tensor<8x2xf64>
    %30 = stablehlo.multiply %29, %25 : tensor<8x2xf64>
    %cst_6 = stablehlo.constant dense<0.000000e+00> : tensor<f64>
    %31 = stablehlo.reduce(%30 init: %cst_6) applies stablehlo.add across dimensions = [0] : (tensor<8x2xf64>, tensor<f64>) -> tensor<2xf64>
    %32 = stablehlo.reshape %31 : (tensor<2xf64>) -> tensor<1x2xf64>
    %cst_7 = stablehlo.constant dense<0.000000e+00> : tensor<f64>
    %33 = stablehlo.reduce(%32 init: %cst_7) applies stablehlo.add across dimensions = [0] : (tensor<1x2xf64>, tensor<f64>) -> tensor<2xf64>
    %34 = stablehlo.dot_general %30, %15, contracting_dims = [0] x [0], precision = [DEFAULT, DEFAULT] : (tensor<8x2xf64>, tensor<8x16xf64>) -> tensor<2x16xf64>
    %35 = stablehlo.transpose %34, dims = [1, 0] : (tensor<2x16xf64>) -> tensor<16x2xf64>
    %36 = stablehlo.dot_general %30, %18, contracting_dims = [1] x [1], precision = [DEFAULT, DEFAULT] : (tensor<8x2xf64>, tensor<16x2xf64>) -> tensor<8x16xf64>
    %37 = stablehlo.transpose %35, dims = [1, 0] : (tensor<16x2xf64>) -> tensor<2x16xf64>
    %38 = stablehlo.multiply %36, %17 : tensor<8x16xf64>
    %39 = stablehlo.multiply %38, %15 : tensor<8x16xf64>
    %40 = stablehlo.add %38, %39 : tensor<8x16xf64>
    %cst_8 = stablehlo.constant dense<0.000000e+00> : tensor<f64>
    %41 = stablehlo.reduce(%40 init: %cst_8) applies stablehlo.add across dimensions = [0] : (tensor<8x16xf64>, tensor<f64>) -> tensor<16xf64>
    %42 = stablehlo.reshape %41 : (tensor<16xf64>) -> tensor<1x16xf64>
    %cst_9 = stablehlo.constant dense<0.000000e+00> : tensor<f64>
    %43 = stablehlo.reduce(%42 init: %cst_9) applies stablehlo.add across dimensions = [0] : (tensor<1x16xf64>, tensor<f64>) -> tensor<16xf64>
    %44 = stablehlo.dot_general %40, %7, contracting_dims = [0] x [0], precision = [DEFAULT, DEFAULT] : (tensor<8x16xf64>, tensor<8x16xf64>) -> tensor<16x16xf64>
    %45 = stablehlo.transpose %44, dims = [1, 0] : (tensor<16x16xf64>) -> tensor<16x16xf64>
    %46 = stablehlo.dot_general %40, %10, contracting_dims = [1] x [1], precision = [DEFAULT, DEFAULT] : (tensor<8x16xf64>, tensor<16x16xf64>) -> tensor<8x16xf64>
    %47 = stablehlo.transpose %45, dims = [1, 0] : (tensor<16x16xf64>) -> tensor<16x16xf64>
    %48 = stablehlo.multiply %46, %9 : tensor<8x16xf64>
    %49 = stablehlo.multiply %48, %7 : tensor<8x16xf64>
    %50 = stablehlo.add %48, %49 : tensor<8x16xf64>
    %cst_10 = stablehlo.constant dense<0.000000e+00> : tensor<f64>
    %51 = stablehlo.reduce(%50 init: %cst_10) applies stablehlo.add across dimensions = [0] : (tensor<8x16xf64>, tensor<f64>) -> tensor<16xf64>
    %52 = stablehlo.reshape %51 : (tensor<16xf64>) -> tensor<1x16xf64>
    %cst_11 = stablehlo.constant dense<0.000000e+00> : tensor<f64>
    %53 = stablehlo.reduce(%52 init: %cst_11) applies stablehlo.add across dimensions = [0] : (tensor<1x16xf64>, tensor<f64>) -> tensor<16xf64>
    %54 = stablehlo.dot_general %50, %1, contracting_dims = [0] x [0], precision = [DEFAULT, DEFAULT] : (tensor<8x16xf64>, tensor<8x3xf64>) -> tensor<16x3xf64>
    %55 = stablehlo.transpose %54, dims = [1, 0] : (tensor<16x3xf64>) -> tensor<3x16xf64>
    %56 = stablehlo.dot_general %50, %2, contracting_dims = [1] x [1], precision = [DEFAULT, DEFAULT] : (tensor<8x16xf64>, tensor<3x16xf64>) -> tensor<8x3xf64>
    %57 = stablehlo.transpose %55, dims = [1, 0] : (tensor<3x16xf64>) -> tensor<16x3xf64>
    %58 = stablehlo.slice %56 [0:8, 0:2] : (tensor<8x3xf64>) -> tensor<8x2xf64>
    %59 = stablehlo.slice %56 [0:8, 2:3] : (tensor<8x3xf64>) -> tensor<8x1xf64>
    %cst_12 = stablehlo.constant dense<0.000000e+00> : tensor<f64>
    %60 = stablehlo.reduce(%59 init: %cst_12) applies stablehlo.add across dimensions = [1] : (tensor<8x1xf64>, tensor<f64>) -> tensor<8xf64>
    return %27, %22, %53, %57, %43, %47, %33, %37, %60, %58 : tensor<f64>, tensor<8x2xf64>, tensor<16xf64>, tensor<16x3xf64>, tensor<16xf64>, tensor<16x16xf64>, tensor<2xf64>, tensor<2x16xf64>, tensor<8xf64>, tensor<8x2xf64>
  }
}
