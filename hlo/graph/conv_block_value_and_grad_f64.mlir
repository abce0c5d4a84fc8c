module @jit_conv_loss attributes {mhlo.num_partitions = 1 : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(%arg0: tensor<4x1x1xf64>, %arg1: tensor<4x3x3x3xf64>, %arg2: tensor<3x1x1xf64>, %arg3: tensor<3x4x3x3xf64>, %arg4: tensor<4xf64>, %arg5: tensor<4xf64>, %arg6: tensor<2x3x8x8xf64>) -> (tensor<f64> {jax.result_info = "result[0][0]"}, tensor<2x4x8x8xf64> {jax.result_info = "result[0][1]['conv']"}, tensor<2x4x8x8xf64> {jax.result_info = "result[0][1]['norm']"}, tensor<2x4x4x4xf64> {jax.result_info = "result[0][1]['pool']"}, tensor<2x4x8x8xf64> {jax.result_info = "result[0][1]['silu']"}, tensor<2x3x8x8xf64> {jax.result_info = "result[0][1]['y']"}, tensor<4x1x1xf64> {jax.result_info = "result[1][0]['conv.bias']"}, tensor<4x3x3x3xf64> {jax.result_info = "result[1][0]['conv.weight']"}, tensor<3x1x1xf64> {jax.result_info = "result[1][0]['convt.bias']"}, tensor<3x4x3x3xf64> {jax.result_info = "result[1][0]['convt.weight']"}, tensor<4xf64> {jax.result_info = "result[1][0]['norm.bias']"}, tensor<4xf64> {jax.result_info = "result[1][0]['norm.weight']"}, tensor<2x3x8x8xf64> {jax.result_info = "result[1][1]['x']"}) {
    %0 = stablehlo.broadcast_in_dim %arg6, dims = [0, 2, 3, 4] : (tensor<2x3x8x8xf64>) -> tensor<2x1x3x8x8xf64>
    %1 = stablehlo.reshape %0 : (tensor<2x1x3x8x8xf64>) -> tensor<2x3x8x8xf64>
    %2 = stablehlo.convolution(%1, %arg1) dim_numbers = [b, f, 0, 1]x[o, i, 0, 1]->[b, f, 0, 1], window = {stride = [1, 1], pad = [[1, 1], [1, 1]], lhs_dilate = [1, 1], rhs_dilate = [1, 1], reverse = [false, false]} {batch_group_count = 1 : i64, feature_group_count = 1 : i64, precision_config = [#stablehlo<precision DEFAULT>, #stablehlo<precision DEFAULT>]} : (tensor<2x3x8x8xf64>, tensor<4x3x3x3xf64>) -> tensor<2x4x8x8xf64>
    %3 = stablehlo.reshape %2 : (tensor<2x4x8x8xf64>) -> tensor<2x1x4x8x8xf64>
    %4 = stablehlo.reshape %3 : (tensor<2x1x4x8x8xf64>) -> tensor<2x4x8x8xf64>
    %5 = stablehlo.broadcast_in_dim %arg0, dims = [1, 2, 3] : (tensor<4x1x1xf64>) -> tensor<1x4x1x1xf64>
    %6 = stablehlo.broadcast_in_dim %5, dims = [0, 1, 2, 3] : (tensor<1x4x1x1xf64>) -> tensor<2x4x8x8xf64>
    %7 = stablehlo.add %4, %6 : tensor<2x4x8x8xf64>
    %8 = stablehlo.reshape %7 : (tensor<2x4x8x8xf64>) -> tensor<2x2x2x8x8xf64>
    %cst = stablehlo.constant dense<0.000000e+00> : tensor<f64>
    %9 = stablehlo.reduce(%8 init: %cst) applies stablehlo.add across dimensions = [2, 3, 4] : (tensor<2x2x2x8x8xf64>, tensor<f64>) -> tensor<2x2xf64>
    %10 = stablehlo.broadcast_in_dim %9, dims = [0, 1] : (tensor<2x2xf64>) -> tensor<2x2x1x1x1xf64>
    %cst_0 = stablehlo.constant dense<1.280000e+02> : tensor<f64>
    %11 = stablehlo.broadcast_in_dim %cst_0, dims = [] : (tensor<f64>) -> tensor<2x2x1x1x1xf64>
    %12 = stablehlo.divide %10, %11 : tensor<2x2x1x1x1xf64>
    %13 = stablehlo.broadcast_in_dim %12, dims = [0, 1, 2, 3, 4] : (tensor<2x2x1x1x1xf64>) -> tensor<2x2x2x8x8xf64>
    %14 = stablehlo.subtract %8, %13 : tensor<2x2x2x8x8xf64>
    %15 = chlo.square %14 : tensor<2x2x2x8x8xf64> -> tensor<2x2x2x8x8xf64>
    %cst_1 = stablehlo.constant dense<2.000000e+00> : tensor<f64>
    %16 = stablehlo.broadcast_in_dim %cst_1, dims = [] : (tensor<f64>) -> tensor<2x2x2x8x8xf64>
    %17 = stablehlo.multiply %16, %14 : tensor<2x2x2x8x8xf64>
    %cst_2 = stablehlo.constant dense<0.000000e+00> : tensor<f64>
    %18 = stablehlo.reduce(%15 init: %cst_2) applies stablehlo.add across dimensions = [2, 3, 4] : (tensor<2x2x2x8x8xf64>, tensor<f64>) -> tensor<2x2xf64>
    %19 = stablehlo.broadcast_in_dim %18, dims = [0, 1] : (tensor<2x2xf64>) -> tensor<2x2x1x1x1xf64>
    %cst_3 = stablehlo.constant dense<1.280000e+02> : tensor<f64>
    %20 = stablehlo.broadcast_in_dim %cst_3, dims = [] : (tensor<f64>) -> tensor<2x2x1x1x1xf64>
    %21 = stablehlo.divide %19, %20 : tensor<2x2x1x1x1xf64>
    %22 = stablehlo.broadcast_in_dim %12, dims = [0, 1, 2, 3, 4] : (tensor<2x2x1x1x1xf64>) -> tensor<2x2x2x8x8xf64>
    %23 = stablehlo.subtract %8, %22 : tensor<2x2x2x8x8xf64>
    %cst_4 = stablehlo.constant dense<1.000000e-05> : tensor<f64>
    %24 = stablehlo.broadcast_in_dim %cst_4, dims = [] : (tensor<f64>) -> tensor<2x2x1x1x1xf64>
    %25 = stablehlo.add %21, %24 : tensor<2x2x1x1x1xf64>
    %26 = stablehlo.sqrt %25 : tensor<2x2x1x1x1xf64>
    %cst_5 = stablehlo.constant dense<5.000000e-01> : tensor<f64>
    %27 = stablehlo.broadcast_in_dim %cst_5, dims = [] : (tensor<f64>) -> tensor<2x2x1x1x1xf64>
    %28 = stablehlo.divide %27, %26 : tensor<2x2x1x1x1xf64>
    %29 = stablehlo.broadcast_in_dim %26, dims = [0, 1, 2, 3, 4] : (tensor<2x2x1x1x1xf64>) -> tensor<2x2x2x8x8xf64>
    %30 = stablehlo.divide %23, %29 : tensor<2x2x2x8x8xf64>
    %31 = stablehlo.multiply %26, %26 : tensor<2x2x1x1x1xf64>
    %cst_6 = stablehlo.constant dense<1.000000e+00> : tensor<f64>
    %32 = stablehlo.broadcast_in_dim %cst_6, dims = [] : (tensor<f64>) -> tensor<2x2x1x1x1xf64>
    %33 = stablehlo.divide %32, %31 : tensor<2x2x1x1x1xf64>
    %34 = stablehlo.reshape %30 : (tensor<2x2x2x8x8xf64>) -> tensor<2x4x8x8xf64>
    %35 = stablehlo.broadcast_in_dim %arg5, dims = [1] : (tensor<4xf64>) -> tensor<1x4x1x1xf64>
    %36 = stablehlo.broadcast_in_dim %35, dims = [0, 1, 2, 3] : (tensor<1x4x1x1xf64>) -> tensor<2x4x8x8xf64>
    %37 = stablehlo.multiply %34, %36 : tensor<2x4x8x8xf64>
    %38 = stablehlo.broadcast_in_dim %arg4, dims = [1] : (tensor<4xf64>) -> tensor<1x4x1x1xf64>
    %39 = stablehlo.broadcast_in_dim %38, dims = [0, 1, 2, 3] : (tensor<1x4x1x1xf64>) -> tensor<2x4x8x8xf64>
    %40 = stablehlo.add %37, %39 : tensor<2x4x8x8xf64>
    %41:3 = call @silu(%40) : (tensor<2x4x8x8xf64>) -> (tensor<2x4x8x8xf64>, tensor<2x4x8x8xf64>, tensor<2x4x8x8xf64>)
    %cst_7 = stablehlo.constant dense<0.000000e+00> : tensor<f64>
    %42 = stablehlo.broadcast_in_dim %cst_7, dims = [] : (tensor<f64>) -> tensor<f64>
    %43 = "stablehlo.reduce_window"(%41#0, %42) <{base_dilations = array<i64: 1, 1, 1, 1>, padding = dense<0> : tensor<4x2xi64>, window_dilations = array<i64: 1, 1, 1, 1>, window_dimensions = array<i64: 1, 1, 2, 2>, window_strides = array<i64: 1, 1, 2, 2>}> ({
    ^bb0(%arg7: tensor<f64>, %arg8: tensor<f64>):
      %128 = stablehlo.add %arg7, %arg8 : tensor<f64>
      stablehlo.return %128 : tensor<f64>
    }) : (tensor<2x4x8x8xf64>, tensor<f64>) -> tensor<2x4x4x4xf64>
    %cst_8 = stablehlo.constant dense<4.000000e+00> : tensor<f64>
    %44 = stablehlo.broadcast_in_dim %cst_8, dims = [] : (tensor<f64>) -> tensor<2x4x4x4xf64>
    %45 = stablehlo.divide %43, %44 : tensor<2x4x4x4xf64>
    %46 = stablehlo.broadcast_in_dim %45, dims = [0, 2, 3, 4] : (tensor<2x4x4x4xf64>) -> tensor<2x1x4x4x4xf64>
    %47 = stablehlo.reshape %46 : (tensor<2x1x4x4x4xf64>) -> tensor<2x4x4x4xf64>
    %48 = stablehlo.convolution(%47, %arg3) dim_numbers = [b, f, 0, 1]x[o, i, 0, 1]->[b, f, 0, 1], window = {stride = [1, 1], pad = [[1, 2], [1, 2]], lhs_dilate = [2, 2], rhs_dilate = [1, 1], reverse = [false, false]} {batch_group_count = 1 : i64, feature_group_count = 1 : i64, precision_config = [#stablehlo<precision DEFAULT>, #stablehlo<precision DEFAULT>]} : (tensor<2x4x4x4xf64>, tensor<3x4x3x3xf64>) -> tensor<2x3x8x8xf64>
    %49 = stablehlo.reshape %48 : (tensor<2x3x8x8xf64>) -> tensor<2x1x3x8x8xf64>
    %50 = stablehlo.reshape %49 : (tensor<2x1x3x8x8xf64>) -> tensor<2x3x8x8xf64>
    %51 = stablehlo.broadcast_in_dim %arg2, dims = [1, 2, 3] : (tensor<3x1x1xf64>) -> tensor<1x3x1x1xf64>
    %52 = stablehlo.broadcast_in_dim %51, dims = [0, 1, 2, 3] : (tensor<1x3x1x1xf64>) -> tensor<2x3x8x8xf64>
    %53 = stablehlo.add %50, %52 : tensor<2x3x8x8xf64>
    %54 = chlo.square %53 : tensor<2x3x8x8xf64> -> tensor<2x3x8x8xf64>
    %cst_9 = stablehlo.constant dense<2.000000e+00> : tensor<f64>
    %55 = stablehlo.broadcast_in_dim %cst_9, dims = [] : (tensor<f64>) -> tensor<2x3x8x8xf64>
    %56 = stablehlo.multiply %55, %53 : tensor<2x3x8x8xf64>
    %cst_10 = stablehlo.constant dense<0.000000e+00> : tensor<f64>
    %57 = stablehlo.reduce(%54 init: %cst_10) applies stablehlo.add across dimensions = [0, 1, 2, 3] : (tensor<2x3x8x8xf64>, tensor<f64>) -> tensor<f64>
    %cst_11 = stablehlo.constant dense<3.840000e+02> : tensor<f64>
    %58 = stablehlo.divide %57, %cst_11 : tensor<f64>
    %cst_12 = stablehlo.constant dense<1.000000e+00> : tensor<f64>
    %cst_13 = stablehlo.constant dense<3.840000e+02> : tensor<f64>
    %59 = stablehlo.divide %cst_12, %cst_13 : tensor<f64>
    %60 = stablehlo.broadcast_in_dim %59, dims = [] : (tensor<f64>) -> tensor<2x3x8x8xf64>
    %61 = stablehlo.multiply %60, %56 : tensor<2x3x8x8xf64>
    %cst_14 = stablehlo.constant dense<0.000000e+00> : tensor<f64>
    %62 = stablehlo.reduce(%61 init: %cst_14) applies stablehlo.add across dimensions = [0, 2, 3] : (tensor<2x3x8x8xf64>, tensor<f64>) -> tensor<3xf64>
    %63 = stablehlo.reshape %62 : (tensor<3xf64>) -> tensor<1x3x1x1xf64>
    %cst_15 = stablehlo.constant dense<0.000000e+00> : tensor<f64>
    %64 = stablehlo.reduce(%63 init: %cst_15) applies stablehlo.add across dimensions = [0, 2, 3] : (tensor<1x3x1x1xf64>, tensor<f64>) -> tensor<3xf64>
    %65 = stablehlo.broadcast_in_dim %64, dims = [0] : (tensor<3xf64>) -> tensor<3x1x1xf64>
    %66 = stablehlo.broadcast_in_dim %61, dims = [0, 2, 3, 4] : (tensor<2x3x8x8xf64>) -> tensor<2x1x3x8x8xf64>
    %67 = stablehlo.reshape %66 : (tensor<2x1x3x8x8xf64>) -> tensor<2x3x8x8xf64>
    %68 = stablehlo.convolution(%47, %67) dim_numbers = [f, b, 0, 1]x[i, o, 0, 1]->[f, b, 0, 1], window = {stride = [1, 1], pad = [[1, 2], [1, 2]], lhs_dilate = [2, 2], rhs_dilate = [1, 1], reverse = [false, false]} {batch_group_count = 1 : i64, feature_group_count = 1 : i64, precision_config = [#stablehlo<precision DEFAULT>, #stablehlo<precision DEFAULT>]} : (tensor<2x4x4x4xf64>, tensor<2x3x8x8xf64>) -> tensor<3x4x3x3xf64>
    %69 = stablehlo.reverse %arg3, dims = [2, 3] : tensor<3x4x3x3xf64>
    %70 = stablehlo.convolution(%67, %69) dim_numbers = [b, f, 0, 1]x[i, o, 0, 1]->[b, f, 0, 1], window = {stride = [2, 2], pad = [[1, 0], [1, 0]], lhs_dilate = [1, 1], rhs_dilate = [1, 1], reverse = [false, false]} {batch_group_count = 1 : i64, feature_group_count = 1 : i64, precision_config = [#stablehlo<precision DEFAULT>, #stablehlo<precision DEFAULT>]} : (tensor<2x3x8x8xf64>, tensor<3x4x3x3xf64>) -> tensor<2x4x4x4xf64>
    %71 = stablehlo.reshape %70 : (tensor<2x4x4x4xf64>) -> tensor<2x1x4x4x4xf64>
    %cst_16 = stablehlo.constant dense<0.000000e+00> : tensor<f64>
    %72 = stablehlo.reduce(%71 init: %cst_16) applies stablehlo.add across dimensions = [1] : (tensor<2x1x4x4x4xf64>, tensor<f64>) -> tensor<2x4x4x4xf64>
    %cst_17 = stablehlo.constant dense<4.000000e+00> : tensor<f64>
    %73 = stablehlo.broadcast_in_dim %cst_17, dims = [] : (tensor<f64>) -> tensor<2x4x4x4xf64>
    %74 = stablehlo.divide %72, %73 : tensor<2x4x4x4xf64>
    %cst_18 = stablehlo.constant dense<0.000000e+00> : tensor<f64>
    %75 = stablehlo.pad %74, %cst_18, low = [0, 0, 1, 1], high = [0, 0, 1, 1], interior = [0, 0, 1, 1] : (tensor<2x4x4x4xf64>, tensor<f64>) -> tensor<2x4x9x9xf64>
    %cst_19 = stablehlo.constant dense<0.000000e+00> : tensor<f64>
    %76 = stablehlo.broadcast_in_dim %cst_19, dims = [] : (tensor<f64>) -> tensor<f64>
    %77 = "stablehlo.reduce_window"(%75, %76) <{base_dilations = array<i64: 1, 1, 1, 1>, padding = dense<0> : tensor<4x2xi64>, window_dilations = array<i64: 1, 1, 1, 1>, window_dimensions = array<i64: 1, 1, 2, 2>, window_strides = array<i64: 1, 1, 1, 1>}> ({
    ^bb0(%arg7: tensor<f64>, %arg8: tensor<f64>):
      %128 = stablehlo.add %arg7, %arg8 : tensor<f64>
      stablehlo.return %128 : tensor<f64>
    }) : (tensor<2x4x9x9xf64>, tensor<f64>) -> tensor<2x4x8x8xf64>
    %78 = call @silu_0(%41#1, %41#2, %40, %77) : (tensor<2x4x8x8xf64>, tensor<2x4x8x8xf64>, tensor<2x4x8x8xf64>, tensor<2x4x8x8xf64>) -> tensor<2x4x8x8xf64>
    %cst_20 = stablehlo.constant dense<0.000000e+00> : tensor<f64>
    %79 = stablehlo.reduce(%78 init: %cst_20) applies stablehlo.add across dimensions = [0, 2, 3] : (tensor<2x4x8x8xf64>, tensor<f64>) -> tensor<4xf64>
    %80 = stablehlo.reshape %79 : (tensor<4xf64>) -> tensor<1x4x1x1xf64>
    %cst_21 = stablehlo.constant dense<0.000000e+00> : tensor<f64>
    %81 = stablehlo.reduce(%80 init: %cst_21) applies stablehlo.add across dimensions = [0, 2, 3] : (tensor<1x4x1x1xf64>, tensor<f64>) -> tensor<4xf64>
    %82 = stablehlo.multiply %34, %78 : tensor<2x4x8x8xf64>
    %cst_22 = stablehlo.constant dense<0.000000e+00> : tensor<f64>
    %83 = stablehlo.reduce(%82 init: %cst_22) applies stablehlo.add across dimensions = [0, 2, 3] : (tensor<2x4x8x8xf64>, tensor<f64>) -> tensor<4xf64>
    %84 = stablehlo.reshape %83 : (tensor<4xf64>) -> tensor<1x4x1x1xf64>
    %85 = stablehlo.broadcast_in_dim %35, dims = [0, 1, 2, 3] : (tensor<1x4x1x1xf64>) -> tensor<2x4x8x8xf64>
    %86 = stablehlo.multiply %78, %85 : tensor<2x4x8x8xf64>
    %cst_23 = stablehlo.constant dense<0.000000e+00> : tensor<f64>
    %87 = stablehlo.reduce(%84 init: %cst_23) applies stablehlo.add across dimensions = [0, 2, 3] : (tensor<1x4x1x1xf64>, tensor<f64>) -> tensor<4xf64>
    %88 = stablehlo.reshape %86 : (tensor<2x4x8x8xf64>) -> tensor<2x2x2x8x8xf64>
    %89 = stablehlo.broadcast_in_dim %33, dims = [0, 1, 2, 3, 4] : (tensor<2x2x1x1x1xf64>) -> tensor<2x2x2x8x8xf64>
    %90 = stablehlo.multiply %88, %89 : tensor<2x2x2x8x8xf64>
    %91 = stablehlo.multiply %90, %23 : tensor<2x2x2x8x8xf64>
    %cst_24 = stablehlo.constant dense<0.000000e+00> : tensor<f64>
    %92 = stablehlo.reduce(%91 init: %cst_24) applies stablehlo.add across dimensions = [2, 3, 4] : (tensor<2x2x2x8x8xf64>, tensor<f64>) -> tensor<2x2xf64>
    %93 = stablehlo.reshape %92 : (tensor<2x2xf64>) -> tensor<2x2x1x1x1xf64>
    %94 = stablehlo.negate %93 : tensor<2x2x1x1x1xf64>
    %95 = stablehlo.broadcast_in_dim %26, dims = [0, 1, 2, 3, 4] : (tensor<2x2x1x1x1xf64>) -> tensor<2x2x2x8x8xf64>
    %96 = stablehlo.divide %88, %95 : tensor<2x2x2x8x8xf64>
    %97 = stablehlo.multiply %94, %28 : tensor<2x2x1x1x1xf64>
    %98 = stablehlo.negate %96 : tensor<2x2x2x8x8xf64>
    %cst_25 = stablehlo.constant dense<0.000000e+00> : tensor<f64>
    %99 = stablehlo.reduce(%98 init: %cst_25) applies stablehlo.add across dimensions = [2, 3, 4] : (tensor<2x2x2x8x8xf64>, tensor<f64>) -> tensor<2x2xf64>
    %100 = stablehlo.reshape %99 : (tensor<2x2xf64>) -> tensor<2x2x1x1x1xf64>
    %cst_26 = stablehlo.constant dense<1.280000e+02> : tensor<f64>
    %101 = stablehlo.broadcast_in_dim %cst_26, dims = [] : (tensor<f64>) -> tensor<2x2x1x1x1xf64>
    %102 = stablehlo.divide %97, %101 : tensor<2x2x1x1x1xf64>
    %cst_27 = stablehlo.constant dense<0.000000e+00> : tensor<f64>
    %103 = stablehlo.reduce(%102 init: %cst_27) applies stablehlo.add across dimensions = [2, 3, 4] : (tensor<2x2x1x1x1xf64>, tensor<f64>) -> tensor<2x2xf64>
    %104 = stablehlo.broadcast_in_dim %103, dims = [0, 1] : (tensor<2x2xf64>) -> tensor<2x2x2x8x8xf64>
    %105 = stablehlo.multiply %104, %17 : tensor<2x2x2x8x8xf64>
    %106 = stablehlo.negate %105 : tensor<2x2x2x8x8xf64>
    %cst_28 = stablehlo.constant dense<0.000000e+00> : tensor<f64>
    %107 = stablehlo.reduce(%106 init: %cst_28) applies stablehlo.add across dimensions = [2, 3, 4] : (tensor<2x2x2x8x8xf64>, tensor<f64>) -> tensor<2x2xf64>
    %108 = stablehlo.reshape %107 : (tensor<2x2xf64>) -> tensor<2x2x1x1x1xf64>
    %109 = stablehlo.add %96, %105 : tensor<2x2x2x8x8xf64>
    %110 = stablehlo.add %100, %108 : tensor<2x2x1x1x1xf64>
    %cst_29 = stablehlo.constant dense<1.280000e+02> : tensor<f64>
    %111 = stablehlo.broadcast_in_dim %cst_29, dims = [] : (tensor<f64>) -> tensor<2x2x1x1x1xf64>
    %112 = stablehlo.divide %110, %111 : tensor<2x2x1x1x1xf64>
    %cst_30 = stablehlo.constant dense<0.000000e+00> : tensor<f64>
    %113 = stablehlo.reduce(%112 init: %cst_30) applies stablehlo.add across dimensions = [2, 3, 4] : (tensor<2x2x1x1x1xf64>, tensor<f64>) -> tensor<2x2xf64>
    %114 = stablehlo.broadcast_in_dim %113, dims = [0, 1] : (tensor<2x2xf64>) -> tensor<2x2x2x8x8xf64>
    %115 = stablehlo.add %109, %114 : tensor<2x2x2x8x8xf64>
    %116 = stablehlo.reshape %115 : (tensor<2x2x2x8x8xf64>) -> tensor<2x4x8x8xf64>
    %cst_31 = stablehlo.constant dense<0.000000e+00> : tensor<f64>
    %117 = stablehlo.reduce(%116 init: %cst_31) applies stablehlo.add across dimensions = [0, 2, 3] : (tensor<2x4x8x8xf64>, tensor<f64>) -> tensor<4xf64>
    %118 = stablehlo.reshape %117 : (tensor<4xf64>) -> tensor<1x4x1x1xf64>
    %cst_32 = stablehlo.constant dense<0.000000e+00> : tensor<f64>
    %119 = stablehlo.reduce(%118 init: %cst_32) applies stablehlo.add across dimensions = [0, 2, 3] : (tensor<1x4x1x1xf64>, tensor<f64>) -> tensor<4xf64>
    %120 = stablehlo.broadcast_in_dim %119, dims = [0] : (tensor<4xf64>) -> tensor<4x1x1xf64>
    %121 = stablehlo.broadcast_in_dim %116, dims = [0, 2, 3, 4] : (tensor<2x4x8x8xf64>) -> tensor<2x1x4x8x8xf64>
    %122 = stablehlo.reshape %121 : (tensor<2x1x4x8x8xf64>) -> tensor<2x4x8x8xf64>
    %123 = stablehlo.convolution(%1, %122) dim_numbers = [f, b, 0, 1]x[i, o, 0, 1]->[f, b, 0, 1], window = {stride = [1, 1], pad = [[1, 1], [1, 1]], lhs_dilate = [1, 1], rhs_dilate = [1, 1], reverse = [false, false]} {batch_group_count = 1 : i64, feature_group_count = 1 : i64, precision_config = [#stablehlo<precision DEFAULT>, #stablehlo<precision DEFAULT>]} : (tensor<2x3x8x8xf64>, tensor<2x4x8x8xf64>) -> tensor<4x3x3x3xf64>
    %124 = stablehlo.reverse %arg1, dims = [2, 3] : tensor<4x3x3x3xf64>
    %125 = stablehlo.convolution(%122, %124) dim_numbers = [b, f, 0, 1]x[i, o, 0, 1]->[b, f, 0, 1], window = {stride = [1, 1], pad = [[1, 1], [1, 1]], lhs_dilate = [1, 1], rhs_dilate = [1, 1], reverse = [false, false]} {batch_group_count = 1 : i64, feature_group_count = 1 : i64, precision_config = [#stablehlo<precision DEFAULT>, #stablehlo<precision DEFAULT>]} : (tensor<2x4x8x8xf64>, tensor<4x3x3x3xf64>) -> tensor<2x3x8x8xf64>
    %126 = stablehlo.reshape %125 : (tensor<2x3x8x8xf64>) -> tensor<2x1x3x8x8xf64>
    %cst_33 = stablehlo.constant dense<0.000000e+00> : tensor<f64>
    %127 = stablehlo.reduce(%126 init: %cst_33) applies stablehlo.add across dimensions = [1] : (tensor<2x1x3x8x8xf64>, tensor<f64>) -> tensor<2x3x8x8xf64>
    return %58, %7, %40, %45, %41#0, %53, %120, %123, %65, %68, %81, %87, %127 : tensor<f64>, tensor<2x4x8x8xf64>, tensor<2x4x8x8xf64>, tensor<2x4x4x4xf64>, tensor<2x4x8x8xf64>, tensor<2x3x8x8xf64>, tensor<4x1x1xf64>, tensor<4x3x3x3xf64>, tensor<3x1x1xf64>, tensor<3x4x3x3xf64>, tensor<4xf64>, tensor<4xf64>, tensor<2x3x8x8xf64>
  }
  func.func private @silu(%arg0: tensor<2x4x8x8xf64>) -> (tensor<2x4x8x8xf64>, tensor<2x4x8x8xf64>, tensor<2x4x8x8xf64>) {
    %0 = stablehlo.negate %arg0 : tensor<2x4x8x8xf64>
    %1 = stablehlo.exponential %0 : tensor<2x4x8x8xf64>
    %cst = stablehlo.constant dense<1.000000e+00> : tensor<f64>
    %2 = stablehlo.broadcast_in_dim %cst, dims = [] : (tensor<f64>) -> tensor<2x4x8x8xf64>
    %3 = stablehlo.add %2, %1 : tensor<2x4x8x8xf64>
    %cst_0 = stablehlo.constant dense<1.000000e+00> : tensor<f64>
    %4 = stablehlo.broadcast_in_dim %cst_0, dims = [] : (tensor<f64>) -> tensor<2x4x8x8xf64>
    %5 = stablehlo.divide %4, %3 : tensor<2x4x8x8xf64>
    %cst_1 = stablehlo.constant dense<1.000000e+00> : tensor<f64>
    %6 = stablehlo.broadcast_in_dim %cst_1, dims = [] : (tensor<f64>) -> tensor<2x4x8x8xf64>
    %7 = stablehlo.subtract %6, %5 : tensor<2x4x8x8xf64>
    %8 = stablehlo.multiply %5, %7 : tensor<2x4x8x8xf64>
    %9 = stablehlo.multiply %arg0, %5 : tensor<2x4x8x8xf64>
    return %9, %8, %5 : tensor<2x4x8x8xf64>, tensor<2x4x8x8xf64>, tensor<2x4x8x8xf64>
  }
  func.func private @silu_0(%arg0: tensor<2x4x8x8xf64>, %arg1: tensor<2x4x8x8xf64>, %arg2: tensor<2x4x8x8xf64>, %arg3: tensor<2x4x8x8xf64>) -> tensor<2x4x8x8xf64> {
    %0 = stablehlo.multiply %arg2, %arg3 : tensor<2x4x8x8xf64>
    %1 = stablehlo.multiply %arg3, %arg1 : tensor<2x4x8x8xf64>
    %2 = stablehlo.multiply %0, %arg0 : tensor<2x4x8x8xf64>
    %3 = stablehlo.add %1, %2 : tensor<2x4x8x8xf64>
    return %3 : tensor<2x4x8x8xf64>
  }
}
