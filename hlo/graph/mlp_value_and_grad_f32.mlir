module @jit_mlp_loss attributes {mhlo.num_partitions = 1 : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(%arg0: tensor<16xf32>, %arg1: tensor<16x3xf32>, %arg2: tensor<16xf32>, %arg3: tensor<16x16xf32>, %arg4: tensor<2xf32>, %arg5: tensor<2x16xf32>, %arg6: tensor<8xf32>, %arg7: tensor<8x2xf32>) -> (tensor<f32> {jax.result_info = "result[0][0]"}, tensor<8x2xf32> {jax.result_info = "result[0][1]['score']"}, tensor<16xf32> {jax.result_info = "result[1][0]['layers.0.bias']"}, tensor<16x3xf32> {jax.result_info = "result[1][0]['layers.0.weight']"}, tensor<16xf32> {jax.result_info = "result[1][0]['layers.1.bias']"}, tensor<16x16xf32> {jax.result_info = "result[1][0]['layers.1.weight']"}, tensor<2xf32> {jax.result_info = "result[1][0]['layers.2.bias']"}, tensor<2x16xf32> {jax.result_info = "result[1][0]['layers.2.weight']"}, tensor<8xf32> {jax.result_info = "result[1][1]['t']"}, tensor<8x2xf32> {jax.result_info = "result[1][1]['x']"}) {
    %0 = stablehlo.broadcast_in_dim %arg6, dims = [0] : (tensor<8xf32>) -> tensor<8x1xf32>
    %1 = stablehlo.concatenate %arg7, %0, dim = 1 : (tensor<8x2xf32>, tensor<8x1xf32>) -> tensor<8x3xf32>
    %2 = stablehlo.transpose %arg1, dims = [1, 0] : (tensor<16x3xf32>) -> tensor<3x16xf32>
    %3 = stablehlo.dot_general %1, %2, contracting_dims = [1] x [0], precision = [DEFAULT, DEFAULT] : (tensor<8x3xf32>, tensor<3x16xf32>) -> tensor<8x16xf32>
    %4 = stablehlo.broadcast_in_dim %arg0, dims = [1] : (tensor<16xf32>) -> tensor<1x16xf32>
    %5 = stablehlo.broadcast_in_dim %4, dims = [0, 1] : (tensor<1x16xf32>) -> tensor<8x16xf32>
    %6 = stablehlo.add %3, %5 : tensor<8x16xf32>
    %7 = stablehlo.tanh %6 : tensor<8x16xf32>
    %cst = stablehlo.constant dense<1.000000e+00> : tensor<f32>
    %8 = stablehlo.broadcast_in_dim %cst, dims = [] : (tensor<f32>) -> tensor<8x16xf32>
    %9 = stablehlo.subtract %8, %7 : tensor<8x16xf32>
    %10 = stablehlo.transpose %arg3, dims = [1, 0] : (tensor<16x16xf32>) -> tensor<16x16xf32>
    %11 = stablehlo.dot_general %7, %10, contracting_dims = [1] x [0], precision = [DEFAULT, DEFAULT] : (tensor<8x16xf32>, tensor<16x16xf32>) -> tensor<8x16xf32>
    %12 = stablehlo.broadcast_in_dim %arg2, dims = [1] : (tensor<16xf32>) -> tensor<1x16xf32>
    %13 = stablehlo.broadcast_in_dim %12, dims = [0, 1] : (tensor<1x16xf32>) -> tensor<8x16xf32>
    %14 = stablehlo.add %11, %13 : tensor<8x16xf32>
    %15 = stablehlo.tanh %14 : tensor<8x16xf32>
    %cst_0 = stablehlo.constant dense<1.000000e+00> : tensor<f32>
    %16 = stablehlo.broadcast_in_dim %cst_0, dims = [] : (tensor<f32>) -> tensor<8x16xf32>
    %17 = stablehlo.subtract %16, %15 : tensor<8x16xf32>
    %18 = stablehlo.transpose %arg5, dims = [1, 0] : (tensor<2x16xf32>) -> tensor<16x2xf32>
    %19 = stablehlo.dot_general %15, %18, contracting_dims = [1] x [0], precision = [DEFAULT, DEFAULT] : (tensor<8x16xf32>, tensor<16x2xf32>) -> tensor<8x2xf32>
    %20 = stablehlo.broadcast_in_dim %arg4, dims = [1] : (tensor<2xf32>) -> tensor<1x2xf32>
    %21 = stablehlo.broadcast_in_dim %20, dims = [0, 1] : (tensor<1x2xf32>) -> tensor<8x2xf32>
    %22 = stablehlo.add %19, %21 : tensor<8x2xf32>
    %23 = chlo.square %22 : tensor<8x2xf32> -> tensor<8x2xf32>
    %cst_1 = stablehlo.constant dense<2.000000e+00> : tensor<f32>
    %24 = stablehlo.broadcast_in_dim %cst_1, dims = [] : (tensor<f32>) -> tensor<8x2xf32>
    %25 = stablehlo.multiply %24, %22 : tensor<8x2xf32>
    %cst_2 = stablehlo.constant dense<0.000000e+00> : tensor<f32>
    %26 = stablehlo.reduce(%23 init: %cst_2) applies stablehlo.add across dimensions = [0, 1] : (tensor<8x2xf32>, tensor<f32>) -> tensor<f32>
    %cst_3 = stablehlo.constant dense<1.600000e+01> : tensor<f32>
    %27 = stablehlo.divide %26, %cst_3 : tensor<f32>
    %cst_4 = stablehlo.constant dense<1.000000e+00> : tensor<f32>
    %cst_5 = stablehlo.constant dense<1.600000e+01> : tensor<f32>
    %28 = stablehlo.divide %cst_4, %cst_5 : tensor<f32>
    %29 = stablehlo.broadcast_in_dim %28, dims = [] : (tensor<f32>) -> tensor<8x2xf32>
    %30 = stablehlo.multiply %29, %25 : tensor<8x2xf32>
    %cst_6 = stablehlo.constant dense<0.000000e+00> : tensor<f32>
    %31 = stablehlo.reduce(%30 init: %cst_6) applies stablehlo.add across dimensions = [0] : (tensor<8x2xf32>, tensor<f32>) -> tensor<2xf32>
    %32 = stablehlo.reshape %31 : (tensor<2xf32>) -> tensor<1x2xf32>
    %cst_7 = stablehlo.constant dense<0.000000e+00> : tensor<f32>
    %33 = stablehlo.reduce(%32 init: %cst_7) applies stablehlo.add across dimensions = [0] : (tensor<1x2xf32>, tensor<f32>) -> tensor<2xf32>
    %34 = stablehlo.dot_general %30, %15, contracting_dims = [0] x [0], precision = [DEFAULT, DEFAULT] : (tensor<8x2xf32>, tensor<8x16xf32>) -> tensor<2x16xf32>
    %35 = stablehlo.transpose %34, dims = [1, 0] : (tensor<2x16xf32>) -> tensor<16x2xf32>
    %36 = stablehlo.dot_general %30, %18, contracting_dims = [1] x [1], precision = [DEFAULT, DEFAULT] : (tensor<8x2xf32>, tensor<16x2xf32>) -> tensor<8x16xf32>
    %37 = stablehlo.transpose %35, dims = [1, 0] : (tensor<16x2xf32>) -> tensor<2x16xf32>
    %38 = stablehlo.multiply %36, %17 : tensor<8x16xf32>
    %39 = stablehlo.multiply %38, %15 : tensor<8x16xf32>
    %40 = stablehlo.add %38, %39 : tensor<8x16xf32>
    %cst_8 = stablehlo.constant dense<0.000000e+00> : tensor<f32>
    %41 = stablehlo.reduce(%40 init: %cst_8) applies stablehlo.add across dimensions = [0] : (tensor<8x16xf32>, tensor<f32>) -> tensor<16xf32>
    %42 = stablehlo.reshape %41 : (tensor<16xf32>) -> tensor<1x16xf32>
    %cst_9 = stablehlo.constant dense<0.000000e+00> : tensor<f32>
    %43 = stablehlo.reduce(%42 init: %cst_9) applies stablehlo.add across dimensions = [0] : (tensor<1x16xf32>, tensor<f32>) -> tensor<16xf32>
    %44 = stablehlo.dot_general %40, %7, contracting_dims = [0] x [0], precision = [DEFAULT, DEFAULT] : (tensor<8x16xf32>, tensor<8x16xf32>) -> tensor<16x16xf32>
    %45 = stablehlo.transpose %44, dims = [1, 0] : (tensor<16x16xf32>) -> tensor<16x16xf32>
    %46 = stablehlo.dot_general %40, %10, contracting_dims = [1] x [1], precision = [DEFAULT, DEFAULT] : (tensor<8x16xf32>, tensor<16x16xf32>) -> tensor<8x16xf32>
    %47 = stablehlo.transpose %45, dims = [1, 0] : (tensor<16x16xf32>) -> tensor<16x16xf32>
    %48 = stablehlo.multiply %46, %9 : tensor<8x16xf32>
    %49 = stablehlo.multiply %48, %7 : tensor<8x16xf32>
    %50 = stablehlo.add %48, %49 : tensor<8x16xf32>
    %cst_10 = stablehlo.constant dense<0.000000e+00> : tensor<f32>
    %51 = stablehlo.reduce(%50 init: %cst_10) applies stablehlo.add across dimensions = [0] : (tensor<8x16xf32>, tensor<f32>) -> tensor<16xf32>
    %52 = stablehlo.reshape %51 : (tensor<16xf32>) -> tensor<1x16xf32>
    %cst_11 = stablehlo.constant dense<0.000000e+00> : tensor<f32>
    %53 = stablehlo.reduce(%52 init: %cst_11) applies stablehlo.add across dimensions = [0] : (tensor<1x16xf32>, tensor<f32>) -> tensor<16xf32>
    %54 = stablehlo.dot_general %50, %1, contracting_dims = [0] x [0], precision = [DEFAULT, DEFAULT] : (tensor<8x16xf32>, tensor<8x3xf32>) -> tensor<16x3xf32>
    %55 = stablehlo.transpose %54, dims = [1, 0] : (tensor<16x3xf32>) -> tensor<3x16xf32>
    %56 = stablehlo.dot_general %50, %2, contracting_dims = [1] x [1], precision = [DEFAULT, DEFAULT] : (tensor<8x16xf32>, tensor<3x16xf32>) -> tensor<8x3xf32>
    %57 = stablehlo.transpose %55, dims = [1, 0] : (tensor<3x16xf32>) -> tensor<16x3xf32>
    %58 = stablehlo.slice %56 [0:8, 0:2] : (tensor<8x3xf32>) -> tensor<8x2xf32>
    %59 = stablehlo.slice %56 [0:8, 2:3] : (tensor<8x3xf32>) -> tensor<8x1xf32>
    %cst_12 = stablehlo.constant dense<0.000000e+00> : tensor<f32>
    %60 = stablehlo.reduce(%59 init: %cst_12) applies stablehlo.add across dimensions = [1] : (tensor<8x1xf32>, tensor<f32>) -> tensor<8xf32>
    return %27, %22, %53, %57, %43, %47, %33, %37, %60, %58 : tensor<f32>, tensor<8x2xf32>, tensor<16xf32>, tensor<16x3xf32>, tensor<16xf32>, tensor<16x16xf32>, tensor<2xf32>, tensor<2x16xf32>, tensor<8xf32>, tensor<8x2xf32>
  }
}
