module @jit__lambda attributes {mhlo.num_partitions = 1 : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(%arg0: tensor<16xf32>, %arg1: tensor<16x3xf32>, %arg2: tensor<16xf32>, %arg3: tensor<16x16xf32>, %arg4: tensor<2xf32>, %arg5: tensor<2x16xf32>, %arg6: tensor<8x2xf32>, %arg7: tensor<8xf32>, %arg8: tensor<8x2xf32>) -> (tensor<f32> {jax.result_info = "result[0]"}, tensor<8x2xf32> {jax.result_info = "result[1]['mean']"}, tensor<8xf32> {jax.result_info = "result[1]['per_sample_loss']"}, tensor<8x2xf32> {jax.result_info = "result[1]['score']"}, tensor<8xf32> {jax.result_info = "result[1]['std']"}, tensor<8xf32> {jax.result_info = "result[1]['weight']"}, tensor<8x2xf32> {jax.result_info = "result[1]['y']"}) {
    %cst = stablehlo.constant dense<1.000000e-01> : tensor<f32>
    %0 = stablehlo.broadcast_in_dim %cst, dims = [] : (tensor<f32>) -> tensor<8xf32>
    %1 = stablehlo.multiply %0, %arg7 : tensor<8xf32>
    %2 = stablehlo.multiply %arg7, %arg7 : tensor<8xf32>
    %cst_0 = stablehlo.constant dense<9.9499998> : tensor<f32>
    %3 = stablehlo.broadcast_in_dim %cst_0, dims = [] : (tensor<f32>) -> tensor<8xf32>
    %4 = stablehlo.multiply %3, %2 : tensor<8xf32>
    %5 = stablehlo.add %1, %4 : tensor<8xf32>
    %cst_1 = stablehlo.constant dense<-5.000000e-01> : tensor<f32>
    %6 = stablehlo.broadcast_in_dim %cst_1, dims = [] : (tensor<f32>) -> tensor<8xf32>
    %7 = stablehlo.multiply %6, %5 : tensor<8xf32>
    %8 = stablehlo.exponential %7 : tensor<8xf32>
    %9 = stablehlo.broadcast_in_dim %8, dims = [0] : (tensor<8xf32>) -> tensor<8x1xf32>
    %10 = stablehlo.broadcast_in_dim %9, dims = [0, 1] : (tensor<8x1xf32>) -> tensor<8x2xf32>
    %11 = stablehlo.multiply %10, %arg8 : tensor<8x2xf32>
    %12 = stablehlo.negate %5 : tensor<8xf32>
    %13 = stablehlo.exponential_minus_one %12 : tensor<8xf32>
    %14 = stablehlo.negate %13 : tensor<8xf32>
    %15 = stablehlo.sqrt %14 : tensor<8xf32>
    %16 = stablehlo.broadcast_in_dim %15, dims = [0] : (tensor<8xf32>) -> tensor<8x1xf32>
    %17 = stablehlo.broadcast_in_dim %16, dims = [0, 1] : (tensor<8x1xf32>) -> tensor<8x2xf32>
    %18 = stablehlo.multiply %17, %arg6 : tensor<8x2xf32>
    %19 = stablehlo.add %11, %18 : tensor<8x2xf32>
    %20 = stablehlo.broadcast_in_dim %arg7, dims = [0] : (tensor<8xf32>) -> tensor<8x1xf32>
    %21 = stablehlo.broadcast_in_dim %19, dims = [0, 2] : (tensor<8x2xf32>) -> tensor<8x1x2xf32>
    %22 = stablehlo.broadcast_in_dim %20, dims = [0, 1] : (tensor<8x1xf32>) -> tensor<8x1x1xf32>
    %23 = stablehlo.concatenate %21, %22, dim = 2 : (tensor<8x1x2xf32>, tensor<8x1x1xf32>) -> tensor<8x1x3xf32>
    %24 = stablehlo.transpose %arg1, dims = [1, 0] : (tensor<16x3xf32>) -> tensor<3x16xf32>
    %25 = stablehlo.dot_general %23, %24, contracting_dims = [2] x [0], precision = [DEFAULT, DEFAULT] : (tensor<8x1x3xf32>, tensor<3x16xf32>) -> tensor<8x1x16xf32>
    %26 = stablehlo.broadcast_in_dim %arg0, dims = [1] : (tensor<16xf32>) -> tensor<1x16xf32>
    %27 = stablehlo.broadcast_in_dim %26, dims = [1, 2] : (tensor<1x16xf32>) -> tensor<1x1x16xf32>
    %28 = stablehlo.broadcast_in_dim %27, dims = [0, 1, 2] : (tensor<1x1x16xf32>) -> tensor<8x1x16xf32>
    %29 = stablehlo.add %25, %28 : tensor<8x1x16xf32>
    %30 = stablehlo.tanh %29 : tensor<8x1x16xf32>
    %31 = stablehlo.transpose %arg3, dims = [1, 0] : (tensor<16x16xf32>) -> tensor<16x16xf32>
    %32 = stablehlo.dot_general %30, %31, contracting_dims = [2] x [0], precision = [DEFAULT, DEFAULT] : (tensor<8x1x16xf32>, tensor<16x16xf32>) -> tensor<8x1x16xf32>
    %33 = stablehlo.broadcast_in_dim %arg2, dims = [1] : (tensor<16xf32>) -> tensor<1x16xf32>
    %34 = stablehlo.broadcast_in_dim %33, dims = [1, 2] : (tensor<1x16xf32>) -> tensor<1x1x16xf32>
    %35 = stablehlo.broadcast_in_dim %34, dims = [0, 1, 2] : (tensor<1x1x16xf32>) -> tensor<8x1x16xf32>
    %36 = stablehlo.add %32, %35 : tensor<8x1x16xf32>
    %37 = stablehlo.tanh %36 : tensor<8x1x16xf32>
    %38 = stablehlo.transpose %arg5, dims = [1, 0] : (tensor<2x16xf32>) -> tensor<16x2xf32>
    %39 = stablehlo.dot_general %37, %38, contracting_dims = [2] x [0], precision = [DEFAULT, DEFAULT] : (tensor<8x1x16xf32>, tensor<16x2xf32>) -> tensor<8x1x2xf32>
    %40 = stablehlo.broadcast_in_dim %arg4, dims = [1] : (tensor<2xf32>) -> tensor<1x2xf32>
    %41 = stablehlo.broadcast_in_dim %40, dims = [1, 2] : (tensor<1x2xf32>) -> tensor<1x1x2xf32>
    %42 = stablehlo.broadcast_in_dim %41, dims = [0, 1, 2] : (tensor<1x1x2xf32>) -> tensor<8x1x2xf32>
    %43 = stablehlo.add %39, %42 : tensor<8x1x2xf32>
    %44 = stablehlo.reshape %43 : (tensor<8x1x2xf32>) -> tensor<8x2xf32>
    %cst_2 = stablehlo.constant dense<1.000000e-01> : tensor<f32>
    %45 = stablehlo.broadcast_in_dim %cst_2, dims = [] : (tensor<f32>) -> tensor<8xf32>
    %46 = stablehlo.multiply %45, %arg7 : tensor<8xf32>
    %47 = stablehlo.multiply %arg7, %arg7 : tensor<8xf32>
    %cst_3 = stablehlo.constant dense<9.9499998> : tensor<f32>
    %48 = stablehlo.broadcast_in_dim %cst_3, dims = [] : (tensor<f32>) -> tensor<8xf32>
    %49 = stablehlo.multiply %48, %47 : tensor<8xf32>
    %50 = stablehlo.add %46, %49 : tensor<8xf32>
    %51 = stablehlo.negate %50 : tensor<8xf32>
    %52 = stablehlo.exponential_minus_one %51 : tensor<8xf32>
    %53 = stablehlo.negate %52 : tensor<8xf32>
    %54 = stablehlo.broadcast_in_dim %15, dims = [0] : (tensor<8xf32>) -> tensor<8x1xf32>
    %55 = stablehlo.broadcast_in_dim %54, dims = [0, 1] : (tensor<8x1xf32>) -> tensor<8x2xf32>
    %56 = stablehlo.divide %arg6, %55 : tensor<8x2xf32>
    %57 = stablehlo.add %44, %56 : tensor<8x2xf32>
    %58 = chlo.square %57 : tensor<8x2xf32> -> tensor<8x2xf32>
    %cst_4 = stablehlo.constant dense<0.000000e+00> : tensor<f32>
    %59 = stablehlo.reduce(%58 init: %cst_4) applies stablehlo.add across dimensions = [1] : (tensor<8x2xf32>, tensor<f32>) -> tensor<8xf32>
    %cst_5 = stablehlo.constant dense<2.000000e+00> : tensor<f32>
    %60 = stablehlo.broadcast_in_dim %cst_5, dims = [] : (tensor<f32>) -> tensor<8xf32>
    %61 = stablehlo.divide %59, %60 : tensor<8xf32>
    %62 = stablehlo.multiply %53, %61 : tensor<8xf32>
    %cst_6 = stablehlo.constant dense<0.000000e+00> : tensor<f32>
    %63 = stablehlo.reduce(%62 init: %cst_6) applies stablehlo.add across dimensions = [0] : (tensor<8xf32>, tensor<f32>) -> tensor<f32>
    %cst_7 = stablehlo.constant dense<8.000000e+00> : tensor<f32>
    %64 = stablehlo.divide %63, %cst_7 : tensor<f32>
    return %64, %11, %62, %44, %15, %53, %19 : tensor<f32>, tensor<8x2xf32>, tensor<8xf32>, tensor<8x2xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8x2xf32>
  }
}
