module @jit_dsm_loss attributes {mhlo.num_partitions = 1 : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(%arg0: tensor<16xf64>, %arg1: tensor<16x3xf64>, %arg2: tensor<16xf64>, %arg3: tensor<16x16xf64>, %arg4: tensor<2xf64>, %arg5: tensor<2x16xf64>, %arg6: tensor<8x2xf64>, %arg7: tensor<8xf64>, %arg8: tensor<8x2xf64>) -> (tensor<f64> {jax.result_info = "result[0][0]"}, tensor<8x2xf64> {jax.result_info = "result[0][1]['mean']"}, tensor<8xf64> {jax.result_info = "result[0][1]['per_sample_loss']"}, tensor<8x2xf64> {jax.result_info = "result[0][1]['score']"}, tensor<8xf64> {jax.result_info = "result[0][1]['std']"}, tensor<8xf64> {jax.result_info = "result[0][1]['weight']"}, tensor<8x2xf64> {jax.result_info = "result[0][1]['y']"}, tensor<16xf64> {jax.result_info = "result[1][0]['layers.0.bias']"}, tensor<16x3xf64> {jax.result_info = "result[1][0]['layers.0.weight']"}, tensor<16xf64> {jax.result_info = "result[1][0]['layers.1.bias']"}, tensor<16x16xf64> {jax.result_info = "result[1][0]['layers.1.weight']"}, tensor<2xf64> {jax.result_info = "result[1][0]['layers.2.bias']"}, tensor<2x16xf64> {jax.result_info = "result[1][0]['layers.2.weight']"}, tensor<8x2xf64> {jax.result_info = "result[1][1]['eps']"}, tensor<8xf64> {jax.result_info = "result[1][1]['t']"}, tensor<8x2xf64> {jax.result_info = "result[1][1]['x']"}) {
    %cst = stablehlo.constant dense<1.000000e-01> : tensor<f64>
    %0 = stablehlo.broadcast_in_dim %cst, dims = [] : (tensor<f64>) -> tensor<8xf64>
    %1 = stablehlo.multiply %0, %arg7 : tensor<8xf64>
    %2 = stablehlo.multiply %arg7, %arg7 : tensor<8xf64>
    %cst_0 = stablehlo.constant dense<2.000000e+00> : tensor<f64>
    %3 = stablehlo.broadcast_in_dim %cst_0, dims = [] : (tensor<f64>) -> tensor<8xf64>
    %4 = stablehlo.multiply %3, %arg7 : tensor<8xf64>
    %cst_1 = stablehlo.constant dense<9.9499999999999993> : tensor<f64>
    %5 = stablehlo.broadcast_in_dim %cst_1, dims = [] : (tensor<f64>) -> tensor<8xf64>
    %6 = stablehlo.multiply %5, %2 : tensor<8xf64>
    %7 = stablehlo.add %1, %6 : tensor<8xf64>
    %cst_2 = stablehlo.constant dense<-5.000000e-01> : tensor<f64>
    %8 = stablehlo.broadcast_in_dim %cst_2, dims = [] : (tensor<f64>) -> tensor<8xf64>
    %9 = stablehlo.multiply %8, %7 : tensor<8xf64>
    %10 = stablehlo.exponential %9 : tensor<8xf64>
    %11 = stablehlo.broadcast_in_dim %10, dims = [0] : (tensor<8xf64>) -> tensor<8x1xf64>
    %12 = stablehlo.broadcast_in_dim %11, dims = [0, 1] : (tensor<8x1xf64>) -> tensor<8x2xf64>
    %13 = stablehlo.multiply %12, %arg8 : tensor<8x2xf64>
    %14 = stablehlo.negate %7 : tensor<8xf64>
    %15 = stablehlo.exponential_minus_one %14 : tensor<8xf64>
    %cst_3 = stablehlo.constant dense<1.000000e+00> : tensor<f64>
    %16 = stablehlo.broadcast_in_dim %cst_3, dims = [] : (tensor<f64>) -> tensor<8xf64>
    %17 = stablehlo.add %15, %16 : tensor<8xf64>
    %18 = stablehlo.negate %15 : tensor<8xf64>
    %19 = stablehlo.sqrt %18 : tensor<8xf64>
    %cst_4 = stablehlo.constant dense<5.000000e-01> : tensor<f64>
    %20 = stablehlo.broadcast_in_dim %cst_4, dims = [] : (tensor<f64>) -> tensor<8xf64>
    %21 = stablehlo.divide %20, %19 : tensor<8xf64>
    %22 = stablehlo.broadcast_in_dim %19, dims = [0] : (tensor<8xf64>) -> tensor<8x1xf64>
    %23 = stablehlo.broadcast_in_dim %22, dims = [0, 1] : (tensor<8x1xf64>) -> tensor<8x2xf64>
    %24 = stablehlo.multiply %23, %arg6 : tensor<8x2xf64>
    %25 = stablehlo.add %13, %24 : tensor<8x2xf64>
    %26 = stablehlo.broadcast_in_dim %arg7, dims = [0] : (tensor<8xf64>) -> tensor<8x1xf64>
    %27 = stablehlo.broadcast_in_dim %25, dims = [0, 2] : (tensor<8x2xf64>) -> tensor<8x1x2xf64>
    %28 = stablehlo.broadcast_in_dim %26, dims = [0, 1] : (tensor<8x1xf64>) -> tensor<8x1x1xf64>
    %29 = stablehlo.concatenate %27, %28, dim = 2 : (tensor<8x1x2xf64>, tensor<8x1x1xf64>) -> tensor<8x1x3xf64>
    %30 = stablehlo.transpose %arg1, dims = [1, 0] : (tensor<16x3xf64>) -> tensor<3x16xf64>
    %31 = stablehlo.dot_general %29, %30, contracting_dims = [2] x [0], precision = [DEFAULT, DEFAULT] : (tensor<8x1x3xf64>, tensor<3x16xf64>) -> tensor<8x1x16xf64>
    %32 = stablehlo.broadcast_in_dim %arg0, dims = [1] : (tensor<16xf64>) -> tensor<1x16xf64>
    %33 = stablehlo.broadcast_in_dim %32, dims = [1, 2] : (tensor<1x16xf64>) -> tensor<1x1x16xf64>
    %34 = stablehlo.broadcast_in_dim %33, dims = [0, 1, 2] : (tensor<1x1x16xf64>) -> tensor<8x1x16xf64>
    %35 = stablehlo.add %31, %34 : tensor<8x1x16xf64>
    %36 = stablehlo.tanh %35 : tensor<8x1x16xf64>
    %cst_5 = stablehlo.constant dense<1.000000e+00> : tensor<f64>
    %37 = stablehlo.broadcast_in_dim %cst_5, dims = [] : (tensor<f64>) -> tensor<8x1x16xf64>
    %38 = stablehlo.subtract %37, %36 : tensor<8x1x16xf64>
    %39 = stablehlo.transpose %arg3, dims = [1, 0] : (tensor<16x16xf64>) -> tensor<16x16xf64>
    %40 = stablehlo.dot_general %36, %39, contracting_dims = [2] x [0], precision = [DEFAULT, DEFAULT] : (tensor<8x1x16xf64>, tensor<16x16xf64>) -> tensor<8x1x16xf64>
    %41 = stablehlo.broadcast_in_dim %arg2, dims = [1] : (tensor<16xf64>) -> tensor<1x16xf64>
    %42 = stablehlo.broadcast_in_dim %41, dims = [1, 2] : (tensor<1x16xf64>) -> tensor<1x1x16xf64>
    %43 = stablehlo.broadcast_in_dim %42, dims = [0, 1, 2] : (tensor<1x1x16xf64>) -> tensor<8x1x16xf64>
    %44 = stablehlo.add %40, %43 : tensor<8x1x16xf64>
    %45 = stablehlo.tanh %44 : tensor<8x1x16xf64>
    %cst_6 = stablehlo.constant dense<1.000000e+00> : tensor<f64>
    %46 = stablehlo.broadcast_in_dim %cst_6, dims = [] : (tensor<f64>) -> tensor<8x1x16xf64>
    %47 = stablehlo.subtract %46, %45 : tensor<8x1x16xf64>
    %48 = stablehlo.transpose %arg5, dims = [1, 0] : (tensor<2x16xf64>) -> tensor<16x2xf64>
    %49 = stablehlo.dot_general %45, %48, contracting_dims = [2] x [0], precision = [DEFAULT, DEFAULT] : (tensor<8x1x16xf64>, tensor<16x2xf64>) -> tensor<8x1x2xf64>
    %50 = stablehlo.broadcast_in_dim %arg4, dims = [1] : (tensor<2xf64>) -> tensor<1x2xf64>
    %51 = stablehlo.broadcast_in_dim %50, dims = [1, 2] : (tensor<1x2xf64>) -> tensor<1x1x2xf64>
    %52 = stablehlo.broadcast_in_dim %51, dims = [0, 1, 2] : (tensor<1x1x2xf64>) -> tensor<8x1x2xf64>
    %53 = stablehlo.add %49, %52 : tensor<8x1x2xf64>
    %54 = stablehlo.reshape %53 : (tensor<8x1x2xf64>) -> tensor<8x2xf64>
    %cst_7 = stablehlo.constant dense<1.000000e-01> : tensor<f64>
    %55 = stablehlo.broadcast_in_dim %cst_7, dims = [] : (tensor<f64>) -> tensor<8xf64>
    %56 = stablehlo.multiply %55, %arg7 : tensor<8xf64>
    %57 = stablehlo.multiply %arg7, %arg7 : tensor<8xf64>
    %cst_8 = stablehlo.constant dense<2.000000e+00> : tensor<f64>
    %58 = stablehlo.broadcast_in_dim %cst_8, dims = [] : (tensor<f64>) -> tensor<8xf64>
    %59 = stablehlo.multiply %58, %arg7 : tensor<8xf64>
    %cst_9 = stablehlo.constant dense<9.9499999999999993> : tensor<f64>
    %60 = stablehlo.broadcast_in_dim %cst_9, dims = [] : (tensor<f64>) -> tensor<8xf64>
    %61 = stablehlo.multiply %60, %57 : tensor<8xf64>
    %62 = stablehlo.add %56, %61 : tensor<8xf64>
    %63 = stablehlo.negate %62 : tensor<8xf64>
    %64 = stablehlo.exponential_minus_one %63 : tensor<8xf64>
    %cst_10 = stablehlo.constant dense<1.000000e+00> : tensor<f64>
    %65 = stablehlo.broadcast_in_dim %cst_10, dims = [] : (tensor<f64>) -> tensor<8xf64>
    %66 = stablehlo.add %64, %65 : tensor<8xf64>
    %67 = stablehlo.negate %64 : tensor<8xf64>
    %68 = stablehlo.broadcast_in_dim %19, dims = [0] : (tensor<8xf64>) -> tensor<8x1xf64>
    %69 = stablehlo.broadcast_in_dim %68, dims = [0, 1] : (tensor<8x1xf64>) -> tensor<8x2xf64>
    %70 = stablehlo.divide %arg6, %69 : tensor<8x2xf64>
    %71 = stablehlo.multiply %68, %68 : tensor<8x1xf64>
    %cst_11 = stablehlo.constant dense<1.000000e+00> : tensor<f64>
    %72 = stablehlo.broadcast_in_dim %cst_11, dims = [] : (tensor<f64>) -> tensor<8x1xf64>
    %73 = stablehlo.divide %72, %71 : tensor<8x1xf64>
    %74 = stablehlo.add %54, %70 : tensor<8x2xf64>
    %75 = chlo.square %74 : tensor<8x2xf64> -> tensor<8x2xf64>
    %cst_12 = stablehlo.constant dense<2.000000e+00> : tensor<f64>
    %76 = stablehlo.broadcast_in_dim %cst_12, dims = [] : (tensor<f64>) -> tensor<8x2xf64>
    %77 = stablehlo.multiply %76, %74 : tensor<8x2xf64>
    %cst_13 = stablehlo.constant dense<0.000000e+00> : tensor<f64>
    %78 = stablehlo.reduce(%75 init: %cst_13) applies stablehlo.add across dimensions = [1] : (tensor<8x2xf64>, tensor<f64>) -> tensor<8xf64>
    %cst_14 = stablehlo.constant dense<2.000000e+00> : tensor<f64>
    %79 = stablehlo.broadcast_in_dim %cst_14, dims = [] : (tensor<f64>) -> tensor<8xf64>
    %80 = stablehlo.divide %78, %79 : tensor<8xf64>
    %81 = stablehlo.multiply %67, %80 : tensor<8xf64>
    %cst_15 = stablehlo.constant dense<0.000000e+00> : tensor<f64>
    %82 = stablehlo.reduce(%81 init: %cst_15) applies stablehlo.add across dimensions = [0] : (tensor<8xf64>, tensor<f64>) -> tensor<f64>
    %cst_16 = stablehlo.constant dense<8.000000e+00> : tensor<f64>
    %83 = stablehlo.divide %82, %cst_16 : tensor<f64>
    %cst_17 = stablehlo.constant dense<1.000000e+00> : tensor<f64>
    %cst_18 = stablehlo.constant dense<8.000000e+00> : tensor<f64>
    %84 = stablehlo.divide %cst_17, %cst_18 : tensor<f64>
    %85 = stablehlo.broadcast_in_dim %84, dims = [] : (tensor<f64>) -> tensor<8xf64>
    %86 = stablehlo.multiply %67, %85 : tensor<8xf64>
    %87 = stablehlo.multiply %85, %80 : tensor<8xf64>
    %cst_19 = stablehlo.constant dense<2.000000e+00> : tensor<f64>
    %88 = stablehlo.broadcast_in_dim %cst_19, dims = [] : (tensor<f64>) -> tensor<8xf64>
    %89 = stablehlo.divide %86, %88 : tensor<8xf64>
    %90 = stablehlo.broadcast_in_dim %89, dims = [0] : (tensor<8xf64>) -> tensor<8x2xf64>
    %91 = stablehlo.multiply %90, %77 : tensor<8x2xf64>
    %92 = stablehlo.broadcast_in_dim %73, dims = [0, 1] : (tensor<8x1xf64>) -> tensor<8x2xf64>
    %93 = stablehlo.multiply %91, %92 : tensor<8x2xf64>
    %94 = stablehlo.multiply %93, %arg6 : tensor<8x2xf64>
    %cst_20 = stablehlo.constant dense<0.000000e+00> : tensor<f64>
    %95 = stablehlo.reduce(%94 init: %cst_20) applies stablehlo.add across dimensions = [1] : (tensor<8x2xf64>, tensor<f64>) -> tensor<8xf64>
    %96 = stablehlo.reshape %95 : (tensor<8xf64>) -> tensor<8x1xf64>
    %97 = stablehlo.negate %96 : tensor<8x1xf64>
    %98 = stablehlo.broadcast_in_dim %68, dims = [0, 1] : (tensor<8x1xf64>) -> tensor<8x2xf64>
    %99 = stablehlo.divide %91, %98 : tensor<8x2xf64>
    %cst_21 = stablehlo.constant dense<0.000000e+00> : tensor<f64>
    %100 = stablehlo.reduce(%97 init: %cst_21) applies stablehlo.add across dimensions = [1] : (tensor<8x1xf64>, tensor<f64>) -> tensor<8xf64>
    %101 = stablehlo.negate %87 : tensor<8xf64>
    %102 = stablehlo.multiply %101, %66 : tensor<8xf64>
    %103 = stablehlo.negate %102 : tensor<8xf64>
    %cst_22 = stablehlo.constant dense<9.9499999999999993> : tensor<f64>
    %104 = stablehlo.broadcast_in_dim %cst_22, dims = [] : (tensor<f64>) -> tensor<8xf64>
    %105 = stablehlo.multiply %104, %103 : tensor<8xf64>
    %106 = stablehlo.multiply %105, %59 : tensor<8xf64>
    %cst_23 = stablehlo.constant dense<1.000000e-01> : tensor<f64>
    %107 = stablehlo.broadcast_in_dim %cst_23, dims = [] : (tensor<f64>) -> tensor<8xf64>
    %108 = stablehlo.multiply %107, %103 : tensor<8xf64>
    %109 = stablehlo.add %106, %108 : tensor<8xf64>
    %110 = stablehlo.broadcast_in_dim %91, dims = [0, 2] : (tensor<8x2xf64>) -> tensor<8x1x2xf64>
    %cst_24 = stablehlo.constant dense<0.000000e+00> : tensor<f64>
    %111 = stablehlo.reduce(%110 init: %cst_24) applies stablehlo.add across dimensions = [0] : (tensor<8x1x2xf64>, tensor<f64>) -> tensor<1x2xf64>
    %112 = stablehlo.reshape %111 : (tensor<1x2xf64>) -> tensor<1x1x2xf64>
    %cst_25 = stablehlo.constant dense<0.000000e+00> : tensor<f64>
    %113 = stablehlo.reduce(%112 init: %cst_25) applies stablehlo.add across dimensions = [0, 1] : (tensor<1x1x2xf64>, tensor<f64>) -> tensor<2xf64>
    %114 = stablehlo.broadcast_in_dim %113, dims = [1] : (tensor<2xf64>) -> tensor<1x2xf64>
    %cst_26 = stablehlo.constant dense<0.000000e+00> : tensor<f64>
    %115 = stablehlo.reduce(%114 init: %cst_26) applies stablehlo.add across dimensions = [0] : (tensor<1x2xf64>, tensor<f64>) -> tensor<2xf64>
    %116 = stablehlo.dot_general %110, %45, contracting_dims = [0, 1] x [0, 1], precision = [DEFAULT, DEFAULT] : (tensor<8x1x2xf64>, tensor<8x1x16xf64>) -> tensor<2x16xf64>
    %117 = stablehlo.transpose %116, dims = [1, 0] : (tensor<2x16xf64>) -> tensor<16x2xf64>
    %118 = stablehlo.dot_general %110, %48, contracting_dims = [2] x [1], precision = [DEFAULT, DEFAULT] : (tensor<8x1x2xf64>, tensor<16x2xf64>) -> tensor<8x1x16xf64>
    %119 = stablehlo.transpose %117, dims = [1, 0] : (tensor<16x2xf64>) -> tensor<2x16xf64>
    %120 = stablehlo.multiply %118, %47 : tensor<8x1x16xf64>
    %121 = stablehlo.multiply %120, %45 : tensor<8x1x16xf64>
    %122 = stablehlo.add %120, %121 : tensor<8x1x16xf64>
    %cst_27 = stablehlo.constant dense<0.000000e+00> : tensor<f64>
    %123 = stablehlo.reduce(%122 init: %cst_27) applies stablehlo.add across dimensions = [0] : (tensor<8x1x16xf64>, tensor<f64>) -> tensor<1x16xf64>
    %124 = stablehlo.reshape %123 : (tensor<1x16xf64>) -> tensor<1x1x16xf64>
    %cst_28 = stablehlo.constant dense<0.000000e+00> : tensor<f64>
    %125 = stablehlo.reduce(%124 init: %cst_28) applies stablehlo.add across dimensions = [0, 1] : (tensor<1x1x16xf64>, tensor<f64>) -> tensor<16xf64>
    %126 = stablehlo.broadcast_in_dim %125, dims = [1] : (tensor<16xf64>) -> tensor<1x16xf64>
    %cst_29 = stablehlo.constant dense<0.000000e+00> : tensor<f64>
    %127 = stablehlo.reduce(%126 init: %cst_29) applies stablehlo.add across dimensions = [0] : (tensor<1x16xf64>, tensor<f64>) -> tensor<16xf64>
    %128 = stablehlo.dot_general %122, %36, contracting_dims = [0, 1] x [0, 1], precision = [DEFAULT, DEFAULT] : (tensor<8x1x16xf64>, tensor<8x1x16xf64>) -> tensor<16x16xf64>
    %129 = stablehlo.transpose %128, dims = [1, 0] : (tensor<16x16xf64>) -> tensor<16x16xf64>
    %130 = stablehlo.dot_general %122, %39, contracting_dims = [2] x [1], precision = [DEFAULT, DEFAULT] : (tensor<8x1x16xf64>, tensor<16x16xf64>) -> tensor<8x1x16xf64>
    %131 = stablehlo.transpose %129, dims = [1, 0] : (tensor<16x16xf64>) -> tensor<16x16xf64>
    %132 = stablehlo.multiply %130, %38 : tensor<8x1x16xf64>
    %133 = stablehlo.multiply %132, %36 : tensor<8x1x16xf64>
    %134 = stablehlo.add %132, %133 : tensor<8x1x16xf64>
    %cst_30 = stablehlo.constant dense<0.000000e+00> : tensor<f64>
    %135 = stablehlo.reduce(%134 init: %cst_30) applies stablehlo.add across dimensions = [0] : (tensor<8x1x16xf64>, tensor<f64>) -> tensor<1x16xf64>
    %136 = stablehlo.reshape %135 : (tensor<1x16xf64>) -> tensor<1x1x16xf64>
    %cst_31 = stablehlo.constant dense<0.000000e+00> : tensor<f64>
    %137 = stablehlo.reduce(%136 init: %cst_31) applies stablehlo.add across dimensions = [0, 1] : (tensor<1x1x16xf64>, tensor<f64>) -> tensor<16xf64>
    %138 = stablehlo.broadcast_in_dim %137, dims = [1] : (tensor<16xf64>) -> tensor<1x16xf64>
    %cst_32 = stablehlo.constant dense<0.000000e+00> : tensor<f64>
    %139 = stablehlo.reduce(%138 init: %cst_32) applies stablehlo.add across dimensions = [0] : (tensor<1x16xf64>, tensor<f64>) -> tensor<16xf64>
    %140 = stablehlo.dot_general %134, %29, contracting_dims = [0, 1] x [0, 1], precision = [DEFAULT, DEFAULT] : (tensor<8x1x16xf64>, tensor<8x1x3xf64>) -> tensor<16x3xf64>
    %141 = stablehlo.transpose %140, dims = [1, 0] : (tensor<16x3xf64>) -> tensor<3x16xf64>
    %142 = stablehlo.dot_general %134, %30, contracting_dims = [2] x [1], precision = [DEFAULT, DEFAULT] : (tensor<8x1x16xf64>, tensor<3x16xf64>) -> tensor<8x1x3xf64>
    %143 = stablehlo.transpose %141, dims = [1, 0] : (tensor<3x16xf64>) -> tensor<16x3xf64>
    %144 = stablehlo.slice %142 [0:8, 0:1, 0:2] : (tensor<8x1x3xf64>) -> tensor<8x1x2xf64>
    %145 = stablehlo.slice %142 [0:8, 0:1, 2:3] : (tensor<8x1x3xf64>) -> tensor<8x1x1xf64>
    %cst_33 = stablehlo.constant dense<0.000000e+00> : tensor<f64>
    %146 = stablehlo.reduce(%145 init: %cst_33) applies stablehlo.add across dimensions = [1, 2] : (tensor<8x1x1xf64>, tensor<f64>) -> tensor<8xf64>
    %147 = stablehlo.broadcast_in_dim %146, dims = [0] : (tensor<8xf64>) -> tensor<8x1xf64>
    %cst_34 = stablehlo.constant dense<0.000000e+00> : tensor<f64>
    %148 = stablehlo.reduce(%144 init: %cst_34) applies stablehlo.add across dimensions = [1] : (tensor<8x1x2xf64>, tensor<f64>) -> tensor<8x2xf64>
    %cst_35 = stablehlo.constant dense<0.000000e+00> : tensor<f64>
    %149 = stablehlo.reduce(%147 init: %cst_35) applies stablehlo.add across dimensions = [1] : (tensor<8x1xf64>, tensor<f64>) -> tensor<8xf64>
    %150 = stablehlo.add %109, %149 : tensor<8xf64>
    %151 = stablehlo.broadcast_in_dim %22, dims = [0, 1] : (tensor<8x1xf64>) -> tensor<8x2xf64>
    %152 = stablehlo.multiply %151, %148 : tensor<8x2xf64>
    %153 = stablehlo.add %99, %152 : tensor<8x2xf64>
    %154 = stablehlo.multiply %148, %arg6 : tensor<8x2xf64>
    %cst_36 = stablehlo.constant dense<0.000000e+00> : tensor<f64>
    %155 = stablehlo.reduce(%154 init: %cst_36) applies stablehlo.add across dimensions = [1] : (tensor<8x2xf64>, tensor<f64>) -> tensor<8xf64>
    %156 = stablehlo.reshape %155 : (tensor<8xf64>) -> tensor<8x1xf64>
    %cst_37 = stablehlo.constant dense<0.000000e+00> : tensor<f64>
    %157 = stablehlo.reduce(%156 init: %cst_37) applies stablehlo.add across dimensions = [1] : (tensor<8x1xf64>, tensor<f64>) -> tensor<8xf64>
    %158 = stablehlo.add %100, %157 : tensor<8xf64>
    %159 = stablehlo.multiply %158, %21 : tensor<8xf64>
    %160 = stablehlo.negate %159 : tensor<8xf64>
    %161 = stablehlo.multiply %160, %17 : tensor<8xf64>
    %162 = stablehlo.negate %161 : tensor<8xf64>
    %163 = stablehlo.broadcast_in_dim %11, dims = [0, 1] : (tensor<8x1xf64>) -> tensor<8x2xf64>
    %164 = stablehlo.multiply %163, %148 : tensor<8x2xf64>
    %165 = stablehlo.multiply %148, %arg8 : tensor<8x2xf64>
    %cst_38 = stablehlo.constant dense<0.000000e+00> : tensor<f64>
    %166 = stablehlo.reduce(%165 init: %cst_38) applies stablehlo.add across dimensions = [1] : (tensor<8x2xf64>, tensor<f64>) -> tensor<8xf64>
    %167 = stablehlo.reshape %166 : (tensor<8xf64>) -> tensor<8x1xf64>
    %cst_39 = stablehlo.constant dense<0.000000e+00> : tensor<f64>
    %168 = stablehlo.reduce(%167 init: %cst_39) applies stablehlo.add across dimensions = [1] : (tensor<8x1xf64>, tensor<f64>) -> tensor<8xf64>
    %169 = stablehlo.multiply %168, %10 : tensor<8xf64>
    %cst_40 = stablehlo.constant dense<-5.000000e-01> : tensor<f64>
    %170 = stablehlo.broadcast_in_dim %cst_40, dims = [] : (tensor<f64>) -> tensor<8xf64>
    %171 = stablehlo.multiply %170, %169 : tensor<8xf64>
    %172 = stablehlo.add %162, %171 : tensor<8xf64>
    %cst_41 = stablehlo.constant dense<9.9499999999999993> : tensor<f64>
    %173 = stablehlo.broadcast_in_dim %cst_41, dims = [] : (tensor<f64>) -> tensor<8xf64>
    %174 = stablehlo.multiply %173, %172 : tensor<8xf64>
    %175 = stablehlo.multiply %174, %4 : tensor<8xf64>
    %176 = stablehlo.add %150, %175 : tensor<8xf64>
    %cst_42 = stablehlo.constant dense<1.000000e-01> : tensor<f64>
    %177 = stablehlo.broadcast_in_dim %cst_42, dims = [] : (tensor<f64>) -> tensor<8xf64>
    %178 = stablehlo.multiply %177, %172 : tensor<8xf64>
    %179 = stablehlo.add %176, %178 : tensor<8xf64>
    return %83, %13, %81, %54, %19, %67, %25, %139, %143, %127, %131, %115, %119, %153, %179, %164 : tensor<f64>, tensor<8x2xf64>, tensor<8xf64>, tensor<8x2xf64>, tensor<8xf64>, tensor<8xf64>, tensor<8x2xf64>, tensor<16xf64>, tensor<16x3xf64>, tensor<16xf64>, tensor<16x16xf64>, tensor<2xf64>, tensor<2x16xf64>, tensor<8x2xf64>, tensor<8xf64>, tensor<8x2xf64>
  }
}
