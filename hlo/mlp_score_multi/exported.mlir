module @jit_score_unused attributes {jax.uses_shape_polymorphism = true, mhlo.num_partitions = 1 : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(%arg0: tensor<i32> {jax.global_constant = "_platform_index"}, %arg1: tensor<8xf32>, %arg2: tensor<8x2xf32>) -> (tensor<8x2xf32> {jax.result_info = "result"}) {
    %c = stablehlo.constant dense<1> : tensor<i32>
    %c_0 = stablehlo.constant dense<0> : tensor<i32>
    %cst = stablehlo.constant dense<[[-0.331849486, 0.461785883, -0.14988409], [0.825537562, -0.302417487, -1.00748396], [-0.501340091, 0.121215679, -0.398269922], [-0.460798681, 0.154431596, 0.250555426], [-0.531250119, 0.800077736, 0.201051936], [1.20534194, -0.0821461529, 0.730423867], [1.00697315, -0.0158882923, 0.228971899], [-0.391934812, 0.0962908193, -1.13550234], [-0.179518163, 0.768875062, -0.166964471], [0.0775954574, -0.0792965144, -0.186602041], [0.482418329, 0.788756847, -0.502577484], [-0.549270868, 0.878564059, -0.322202891], [0.0898750871, 0.117958017, 0.139720395], [-0.0262586121, -0.248921424, -0.762878477], [0.762454688, 0.959304273, -0.120681256], [-0.0869278237, 0.332148761, 0.310175717]]> : tensor<16x3xf32>
    %cst_1 = stablehlo.constant dense<[-0.12574777, -0.0401604436, -0.112136006, 0.087837778, -0.0861754938, 0.0346513502, 0.0940443128, -0.0122343404, -0.118918359, 0.00715201302, -0.175885335, -0.102684848, 0.103088789, -3.12372518E-4, 0.00167705666, 4.222000e-03]> : tensor<16xf32>
    %cst_2 = stablehlo.constant dense<"0x64AE4B3D532A45BE291EA1BE3938D2BD6CB980BE0CB7923D8A9C7E3EEB21FF3D65533EBE38C3913E48EF1CBB315AE63DBF6398BD9A7902BE91A88D3DEA933F3E6EDF51BD815A58BEFABB793EB487093E33C473BEC9DA653E849D0D3E5CAC06BFCDA1BCBE09D7543C3076C93ED9BD63BE5B141FBD8F8343BDC54CD43D05BC72BB116D07BFCF11543E3B449F3E89CB6B3EC6FFDD3E1E85CABD0817B63DCA819BBAE919D43E56B50B3F59C8063D93C5CD3DE78F61BE9C3274BDD565DDBDC522D93DE79236BEAF02003FC303BC3D9A720B3EBA03D9BB2400923EBD11A7BD2A23AF3D367B913EF91C473EA42B943E6BC3EA3EBEBAA5BDCB3F593E909982BE8FD717BFABD0C53E15EBD2BEB360BE3E1CD31A3F0D9C09BDB147083EDB8F8EBEEB127A3E0F0645BF0CBA8DBD5D63FD3D96DB223C9929CB3E123234BEF69B463E9378ADBDA6162CBC981D00BEA667B1BEC7779E3ECAEF24BEBC5D0FBDE92C283E5C20013F86F063BD7F029EBDC159CF3DEAFD4F3D214F99BD544C763E19AB313EFF29C73C2B9495BE9365BC3E1B64853D8442F23DE812503E17F04F3E32FC33BF714D6CBE23F11F3D90B8D93D352AD6BDBA858C3EBA6892BC515C2E3E0391633EFC4286BE86E40CBE77183D3EE3572D3EC801FCBD1CDED43E75DFB23E20A1CCBCAFD0E8BDD764583E0835213E3EC61FBEC5C6653EDD62E8BD7E816A3E1F81433E833F103F00ACAABEA38D913E74488C3D8517533EC057BEBC4A4D1EBDA973033D46C1B0BE7237F0BE1DC281BDD142A7BD2E8D29BEEE053DBE14F9923EA45CC6BE920B42BED98A683E9E1294BEFDB609BF3056AABDBD84A73D174BC9BD562915BE8ADF82BEE4EB60BEFECCDA3C66DDB0BD738DB83EECF3C1BDC3C906BFD7C75ABEA9791CBE52DA19BE32B934BEBF74E5BD6055F8BD2E75FD3B928A97BD77E6E7BDA73693BA17407DBE64CC72BE84B7303E2D409E3D0D5388BEC1E69CBD0A0278BD8435A6BE737108BD0A3BE73C187D053F39CF853CB626D63ECC97083F57FD313DA311203EFD464E3E16DFFFBED1FA153EFB2499BE2D292ABE26C5B7BE2EA6C53E7B43903E54C2543C078951BEB89C743B2E51B9BEA78D813E1C20FC3B861CA43E38A956BE69F6233EF9F1D63CE23787BD91DFE2BEF660E13E165CA63D78715C3E2A3FF43D8B7883BE82744CBDC4663D3C1C0287BE7401843D17E899BE7BF5A1BEC0CD0CBC25E694BE3611893E9182ABBEFD701A3DD5E63B3DCBF5513E847F8FBE58B120BC87D39CBE7C2ABC3D49792FBEB9E7E83D0C41BF3E285634BE7AB3C3BD6E98483E480E8ABE17EAB9BD04597DBE05241A3F4C2F853EBFEF0FBEBC4AF83D101C263DE19D763EA53441BE8A57E9BEF28E9E3EF385413EEF643BBE20F7E63E705C093FA7A000BF260D15BE2F356C3D3AED813E4327C83CDADA403E2144FA3E78C417BF"> : tensor<16x16xf32>
    %cst_3 = stablehlo.constant dense<[-0.133562505, -0.0352563038, 0.0309704039, -0.100094609, -0.0077497582, -0.0910252482, 0.0266747624, 0.181338355, -0.0243103728, -0.0950979888, 0.103951216, 0.0968535616, 0.146707267, 0.00788992643, -0.0414543822, 0.0768223926]> : tensor<16xf32>
    %cst_4 = stablehlo.constant dense<[[-0.371100754, -0.215116099, -0.168701485, -0.0153639475, -0.0274080876, 0.251521528, -0.21303761, -0.226557255, 0.025197247, 0.00598231051, -3.233110e-01, -0.00246500736, 0.162225962, -0.360661149, -0.125030175, -0.00828019343], [0.126106828, -0.285929322, 0.34920764, 0.370828211, -0.340224922, -0.0337542444, 0.00757699367, 0.137518331, -0.185066849, 0.200946376, 0.13873525, -0.0784249082, 0.248772681, 0.237710521, -0.146073446, -0.013184282]]> : tensor<2x16xf32>
    %cst_5 = stablehlo.constant dense<[0.0660978779, -0.0398737155]> : tensor<2xf32>
    %0 = stablehlo.broadcast_in_dim %arg1, dims = [0] : (tensor<8xf32>) -> tensor<8x1xf32>
    %1 = stablehlo.concatenate %arg2, %0, dim = 1 : (tensor<8x2xf32>, tensor<8x1xf32>) -> tensor<8x3xf32>
    %2 = stablehlo.transpose %cst, dims = [1, 0] : (tensor<16x3xf32>) -> tensor<3x16xf32>
    %3 = "stablehlo.case"(%arg0) ({
      stablehlo.return %c_0 : tensor<i32>
    }, {
      stablehlo.return %c : tensor<i32>
    }) : (tensor<i32>) -> tensor<i32>
    %4 = "stablehlo.case"(%3) ({
      %22 = stablehlo.dot_general %1, %2, contracting_dims = [1] x [0] : (tensor<8x3xf32>, tensor<3x16xf32>) -> tensor<8x16xf32>
      stablehlo.return %22 : tensor<8x16xf32>
    }, {
      %22 = stablehlo.dot_general %1, %2, contracting_dims = [1] x [0] : (tensor<8x3xf32>, tensor<3x16xf32>) -> tensor<8x16xf32>
      stablehlo.return %22 : tensor<8x16xf32>
    }) : (tensor<i32>) -> tensor<8x16xf32>
    %5 = stablehlo.broadcast_in_dim %cst_1, dims = [1] : (tensor<16xf32>) -> tensor<1x16xf32>
    %6 = stablehlo.broadcast_in_dim %5, dims = [0, 1] : (tensor<1x16xf32>) -> tensor<8x16xf32>
    %7 = stablehlo.add %4, %6 : tensor<8x16xf32>
    %8 = stablehlo.tanh %7 : tensor<8x16xf32>
    %9 = stablehlo.transpose %cst_2, dims = [1, 0] : (tensor<16x16xf32>) -> tensor<16x16xf32>
    %10 = "stablehlo.case"(%arg0) ({
      stablehlo.return %c_0 : tensor<i32>
    }, {
      stablehlo.return %c : tensor<i32>
    }) : (tensor<i32>) -> tensor<i32>
    %11 = "stablehlo.case"(%10) ({
      %22 = stablehlo.dot_general %8, %9, contracting_dims = [1] x [0] : (tensor<8x16xf32>, tensor<16x16xf32>) -> tensor<8x16xf32>
      stablehlo.return %22 : tensor<8x16xf32>
    }, {
      %22 = stablehlo.dot_general %8, %9, contracting_dims = [1] x [0] : (tensor<8x16xf32>, tensor<16x16xf32>) -> tensor<8x16xf32>
      stablehlo.return %22 : tensor<8x16xf32>
    }) : (tensor<i32>) -> tensor<8x16xf32>
    %12 = stablehlo.broadcast_in_dim %cst_3, dims = [1] : (tensor<16xf32>) -> tensor<1x16xf32>
    %13 = stablehlo.broadcast_in_dim %12, dims = [0, 1] : (tensor<1x16xf32>) -> tensor<8x16xf32>
    %14 = stablehlo.add %11, %13 : tensor<8x16xf32>
    %15 = stablehlo.tanh %14 : tensor<8x16xf32>
    %16 = stablehlo.transpose %cst_4, dims = [1, 0] : (tensor<2x16xf32>) -> tensor<16x2xf32>
    %17 = "stablehlo.case"(%arg0) ({
      stablehlo.return %c_0 : tensor<i32>
    }, {
      stablehlo.return %c : tensor<i32>
    }) : (tensor<i32>) -> tensor<i32>
    %18 = "stablehlo.case"(%17) ({
      %22 = stablehlo.dot_general %15, %16, contracting_dims = [1] x [0] : (tensor<8x16xf32>, tensor<16x2xf32>) -> tensor<8x2xf32>
      stablehlo.return %22 : tensor<8x2xf32>
    }, {
      %22 = stablehlo.dot_general %15, %16, contracting_dims = [1] x [0] : (tensor<8x16xf32>, tensor<16x2xf32>) -> tensor<8x2xf32>
      stablehlo.return %22 : tensor<8x2xf32>
    }) : (tensor<i32>) -> tensor<8x2xf32>
    %19 = stablehlo.broadcast_in_dim %cst_5, dims = [1] : (tensor<2xf32>) -> tensor<1x2xf32>
    %20 = stablehlo.broadcast_in_dim %19, dims = [0, 1] : (tensor<1x2xf32>) -> tensor<8x2xf32>
    %21 = stablehlo.add %18, %20 : tensor<8x2xf32>
    return %21 : tensor<8x2xf32>
  }
}
