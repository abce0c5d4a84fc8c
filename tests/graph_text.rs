//! Text-level checks of the emitted StableHLO (no runtime needed).

use sbgm_xla::DType;
use sbgm_xla::graph::{BuildOptions, ConvSpec, DotDims, Graph, Module, Rng, Shape, grad, jvp};

/// A set of modules covering every primitive, their gradients and control flow.
fn modules() -> Vec<Module> {
    let mut v = Vec::new();
    // elementwise + reductions + grads
    {
        let g = Graph::new();
        let x = g.parameter("x", &[2, 3], DType::F32).unwrap();
        let y = g.parameter("y", &[3], DType::F32).unwrap();
        let mut acc = (&x + &y).unwrap();
        for f in [
            |t: &sbgm_xla::graph::Tensor| t.exp(),
            |t: &sbgm_xla::graph::Tensor| t.tanh(),
            |t: &sbgm_xla::graph::Tensor| t.logistic(),
            |t: &sbgm_xla::graph::Tensor| t.sin(),
            |t: &sbgm_xla::graph::Tensor| t.erf(),
            |t: &sbgm_xla::graph::Tensor| t.abs()?.sqrt(),
            |t: &sbgm_xla::graph::Tensor| t.abs()?.log1p(),
            |t: &sbgm_xla::graph::Tensor| t.expm1(),
            |t: &sbgm_xla::graph::Tensor| (t.abs()? + 1.0)?.rsqrt(),
            |t: &sbgm_xla::graph::Tensor| t.cos(),
            |t: &sbgm_xla::graph::Tensor| t.logistic()?.affine(1.8, -0.9)?.erf_inv(),
        ] {
            acc = (f(&acc).unwrap() + &acc).unwrap();
        }
        let m = acc.maximum(&y.broadcast_to(&[2, 3]).unwrap()).unwrap();
        let p = m.abs().unwrap().pow(&x).unwrap();
        let a2 = p.atan2(&x).unwrap();
        let l = (a2.logsumexp(&[1], false).unwrap().sum_all().unwrap() + a2.max_all().unwrap())
            .unwrap();
        let l = (l + x.min(&[0], false).unwrap().mean_all().unwrap()).unwrap();
        let gr = grad(&l, &[&x, &y]).unwrap();
        let am = x.argmax(1, false).unwrap();
        let fl = (x.floor().unwrap() + x.round().unwrap()).unwrap();
        let tg = jvp(&[&l], &[&x], &[&x]).unwrap();
        v.push(
            g.build(
                "elementwise",
                &[
                    ("l", &l),
                    ("gx", &gr[0]),
                    ("gy", &gr[1]),
                    ("am", &am),
                    ("fl", &fl),
                    ("jvp", &tg[0]),
                ],
            )
            .unwrap(),
        );
    }
    // layout ops and their gradients
    {
        let g = Graph::new();
        let x = g.parameter("x", &[4, 6], DType::F64).unwrap();
        let i = g.parameter("i", &[], DType::I32).unwrap();
        let a = x.slice(&[1, 0], &[4, 6], &[2, 3]).unwrap();
        let b = x.transpose(&[1, 0]).unwrap().reshape(&[3, 8]).unwrap();
        let c = Tensor::cat(&[&x, &x.reverse(&[0]).unwrap()], 0).unwrap();
        let d = x
            .pad(
                &g.scalar(0.5, DType::F64).unwrap(),
                &[1, -1],
                &[0, 2],
                &[1, 0],
            )
            .unwrap();
        let e = x.dynamic_slice(&[i.clone(), i.clone()], &[2, 2]).unwrap();
        let f = x
            .dynamic_update_slice(
                &e.sqr().unwrap(),
                &[i.clone(), g.scalar(1.0, DType::I32).unwrap()],
            )
            .unwrap();
        let l = (a.sum_all().unwrap()
            + b.sqr().unwrap().sum_all().unwrap()
            + c.exp().unwrap().mean_all().unwrap()
            + d.sin().unwrap().sum_all().unwrap()
            + f.tanh().unwrap().sum_all().unwrap())
        .unwrap();
        let gr = grad(&l, &[&x]).unwrap();
        let rows = x
            .take(
                &g.constant_f64(&[2, 2], &[0., 3., 1., 1.], DType::I32)
                    .unwrap(),
            )
            .unwrap();
        let gr2 = grad(&rows.sqr().unwrap().sum_all().unwrap(), &[&x]).unwrap();
        let sel = x
            .gt(&x.zeros_like().unwrap())
            .unwrap()
            .select(&x, &x.neg().unwrap())
            .unwrap();
        let cv = x.convert(DType::F32).unwrap().convert(DType::I32).unwrap();
        let io = g.iota(&[3, 4], DType::I64, 1).unwrap();
        v.push(
            g.build(
                "layout",
                &[
                    ("l", &l),
                    ("gx", &gr[0]),
                    ("rows", &rows),
                    ("g2", &gr2[0]),
                    ("sel", &sel),
                    ("cv", &cv),
                    ("io", &io),
                ],
            )
            .unwrap(),
        );
    }
    // dot, conv, pooling
    {
        let g = Graph::new();
        let a = g.parameter("a", &[2, 3, 4], DType::F32).unwrap();
        let b = g.parameter("b", &[2, 4, 5], DType::F32).unwrap();
        let x = g.parameter("x", &[2, 4, 8, 8], DType::F32).unwrap();
        let w = g.parameter("w", &[6, 2, 3, 3], DType::F32).unwrap();
        let wt = g.parameter("wt", &[4, 6, 4, 4], DType::F32).unwrap();
        let ab = a.matmul(&b).unwrap();
        let dg = a
            .dot_general(
                &b,
                &DotDims {
                    lhs_batch: vec![0],
                    rhs_batch: vec![0],
                    lhs_contract: vec![2],
                    rhs_contract: vec![1],
                },
            )
            .unwrap();
        let y = x
            .conv(
                &w,
                &ConvSpec::new(2)
                    .stride(&[2, 1])
                    .pad_all(1)
                    .rhs_dilation(&[1, 2])
                    .groups(2),
            )
            .unwrap();
        let up = y.conv_transpose2d(&wt, 2, 1, 0, 1).unwrap();
        let p = x.avg_pool2d((2, 2), (2, 2)).unwrap();
        let q = x.max_pool2d((2, 2), (2, 2)).unwrap();
        let l = (ab.sqr().unwrap().sum_all().unwrap()
            + dg.sum_all().unwrap()
            + y.tanh().unwrap().sum_all().unwrap()
            + up.sqr().unwrap().mean_all().unwrap()
            + p.sqr().unwrap().sum_all().unwrap()
            + q.sqr().unwrap().sum_all().unwrap())
        .unwrap();
        let gr = grad(&l, &[&a, &b, &x, &w, &wt]).unwrap();
        let outs: Vec<(&str, &sbgm_xla::graph::Tensor)> = vec![
            ("l", &l),
            ("ga", &gr[0]),
            ("gb", &gr[1]),
            ("gx", &gr[2]),
            ("gw", &gr[3]),
            ("gwt", &gr[4]),
        ];
        let opts = BuildOptions {
            donate: vec!["w".into()],
            ..Default::default()
        };
        v.push(g.build_with("linalg", &outs, &opts).unwrap());
    }
    // rng, while with a gradient step inside, case, function calls
    {
        let g = Graph::new();
        let key = g.parameter("key", &[2], DType::U64).unwrap();
        let w = g.parameter("w", &[3], DType::F32).unwrap();
        let data = g.parameter("data", &[10, 3], DType::F32).unwrap();
        let f = g
            .function(
                "score",
                &[Shape::new([3], DType::F32), Shape::new([3], DType::F32)],
                |a| Ok(vec![(&a[0] * &a[1])?.tanh()?]),
            )
            .unwrap();
        let out = g
            .fori_loop(0, 5, &[key.clone(), w.clone()], |_i, c| {
                let mut rng = Rng::new(&c[0])?;
                let z = rng.normal(&[3], DType::F32)?;
                let u = rng.uniform(&[3], DType::F32)?;
                let r = rng.rademacher(&[3], DType::F32)?;
                let tn = rng.truncated_normal(&[3], -2.0, 2.0, DType::F32)?;
                let idx = rng.randint(&[4], 10)?;
                let batch = data.take(&idx)?;
                let s = f.call(&[&c[1], &z])?;
                let loss = ((&s[0] * &u)? + (&r * &tn)?)?.sum_all()? + batch.mean_all()?;
                let gw = grad(&loss?, &[&c[1]])?;
                Ok(vec![rng.key().clone(), (&c[1] - (&gw[0] * 0.1)?)?])
            })
            .unwrap();
        let s2 = f.call(&[&out[1], &w]).unwrap();
        let pred = s2[0]
            .sum_all()
            .unwrap()
            .gt(&g.scalar(0.0, DType::F32).unwrap())
            .unwrap();
        let br = g
            .cond(&pred, || Ok(vec![(&w * 2.0)?]), || Ok(vec![w.neg()?]))
            .unwrap();
        let opts = BuildOptions {
            arg_sharding: vec![("w".into(), "{replicated}".into())],
            ..Default::default()
        };
        v.push(
            g.build_with(
                "control",
                &[
                    ("key", &out[0]),
                    ("w", &out[1]),
                    ("s2", &s2[0]),
                    ("br", &br[0]),
                ],
                &opts,
            )
            .unwrap(),
        );
    }
    v
}

use sbgm_xla::graph::Tensor;

#[test]
fn modules_have_expected_structure() {
    let ms = modules();
    if let Ok(dir) = std::env::var("SBGM_XLA_TEST_DUMP") {
        std::fs::create_dir_all(&dir).unwrap();
        for m in &ms {
            std::fs::write(format!("{dir}/{}.mlir", m.name), &m.text).unwrap();
        }
    }
    for m in &ms {
        assert_eq!(
            m.text.matches("func.func public @main").count(),
            1,
            "{}",
            m.text
        );
        assert!(
            m.text
                .contains("mhlo.num_partitions = 1 : i32, mhlo.num_replicas = 1 : i32")
        );
        for (name, _) in &m.results {
            assert!(
                m.text.contains(&format!("jax.result_info = \"{name}\"")),
                "{name}"
            );
        }
        for (name, _) in &m.args {
            assert!(
                m.text.contains(&format!("jax.arg_info = \"{name}\"")),
                "{name}"
            );
        }
    }
    // donation: w (f32[6, 2, 3, 3]) aliases the result of the same type (its gradient, 4)
    let linalg = ms.iter().find(|m| m.name == "linalg").unwrap();
    assert_eq!(linalg.aliases[3], Some(4));
    assert!(linalg.text.contains("tf.aliasing_output = 4 : i32"));
    let control = ms.iter().find(|m| m.name == "control").unwrap();
    assert!(control.text.contains("mhlo.sharding = \"{replicated}\""));
    // the function is emitted once (inside the loop its call is differentiated by inlining,
    // so only the call after the loop remains live)
    assert_eq!(control.text.matches("func.func private @score").count(), 1);
    assert_eq!(control.text.matches("func.call @score").count(), 1);
    assert!(
        control.text.contains("stablehlo.rng_bit_generator") && control.text.contains("THREE_FRY")
    );
    // emission is deterministic
    let again = modules();
    for (a, b) in ms.iter().zip(&again) {
        assert_eq!(a.text, b.text);
    }
}
