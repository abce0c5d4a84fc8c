module @jit_f64_i32 attributes {mhlo.num_partitions = 1 : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(%arg0: tensor<3xf64>, %arg1: tensor<i32>) -> (tensor<3xf64> {jax.result_info = "result[0]"}, tensor<i32> {jax.result_info = "result[1]"}) {
    %0 = stablehlo.convert %arg1 : (tensor<i32>) -> tensor<f64>
    %1 = stablehlo.broadcast_in_dim %0, dims = [] : (tensor<f64>) -> tensor<3xf64>
    %2 = stablehlo.multiply %arg0, %1 : tensor<3xf64>
    %c = stablehlo.constant dense<1> : tensor<i32>
    %3 = stablehlo.add %arg1, %c : tensor<i32>
    return %2, %3 : tensor<3xf64>, tensor<i32>
  }
}
