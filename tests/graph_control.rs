//! Control flow (while with a gradient step inside, case, function calls), randomness,
//! HLO dumps and error messages (needs the CPU plugin).

mod graph_util;

use graph_util::{Gen, check, host, inp, to_array};
use sbgm_xla::exec::Target;
use sbgm_xla::graph::{Graph, Rng, Shape, Tensor, grad, seed_key};
use sbgm_xla::{DType, Error, HostArray};

fn exec() -> Target {
    Target::cpu().expect("the CPU plugin (sbgm-xla plugin install cpu)")
}

#[test]
fn gradient_descent_inside_a_while_loop() {
    // w_{k+1} = w_k - lr * d/dw [0.5 |w - c|^2] = w_k - lr (w_k - c), so after n steps
    // w_n = c + (1 - lr)^n (w_0 - c). c is an outer value captured by the body.
    let ex = exec();
    let g = Graph::new();
    let w0 = g.parameter("w0", &[3], DType::F64).unwrap();
    let c = g.parameter("c", &[3], DType::F64).unwrap();
    let (lr, n) = (0.1, 25);
    let out = g
        .fori_loop(0, n, std::slice::from_ref(&w0), |_i, v| {
            let loss = ((&v[0] - &c)?.sqr()?.sum_all()? * 0.5)?;
            let gw = grad(&loss, &[&v[0]])?;
            Ok(vec![(&v[0] - (&gw[0] * lr)?)?])
        })
        .unwrap();
    let m = g.build("gd", &[("w", &out[0])]).unwrap();
    let (w0v, cv) = (vec![1.0, -2.0, 0.5], vec![0.3, 0.7, -1.1]);
    let r = ex
        .run(
            &m,
            &[
                HostArray::from_vec(vec![3], w0v.clone()).unwrap(),
                HostArray::from_vec(vec![3], cv.clone()).unwrap(),
            ],
        )
        .unwrap();
    let got = r[0].to_vec::<f64>().unwrap();
    for i in 0..3 {
        let want = cv[i] + (1.0f64 - lr).powi(n as i32) * (w0v[i] - cv[i]);
        assert!((got[i] - want).abs() < 1e-12, "{got:?}");
    }
}

#[test]
fn nested_loops_and_branches() {
    let ex = exec();
    let g = Graph::new();
    let x = g.parameter("x", &[], DType::F64).unwrap();
    let k = g.parameter("k", &[], DType::I32).unwrap();
    // sum_{i<4} sum_{j<3} x * (i + j)  =  x * (3 * 6 + 4 * 3) = 30 x
    let zero = g.scalar(0.0, DType::F64).unwrap();
    let outer = g
        .fori_loop(0, 4, &[zero], |i, acc| {
            let inner = g.fori_loop(0, 3, &[acc[0].clone()], |j, a| {
                let ij = (i + j)?.convert(DType::F64)?;
                Ok(vec![(&a[0] + (&x * &ij)?)?])
            })?;
            Ok(inner)
        })
        .unwrap();
    // case with three branches; an index out of range runs the last one
    let br = g
        .case(
            &k,
            vec![
                Box::new(|| Ok(vec![(&x + 1.0)?])),
                Box::new(|| Ok(vec![(&x * 10.0)?])),
                Box::new(|| Ok(vec![x.neg()?])),
            ],
        )
        .unwrap();
    let pos = x.gt(&g.scalar(0.0, DType::F64).unwrap()).unwrap();
    let cnd = g
        .cond(&pos, || Ok(vec![x.sqrt()?]), || Ok(vec![x.sqr()?]))
        .unwrap();
    let m = g
        .build(
            "nested",
            &[("loop", &outer[0]), ("case", &br[0]), ("cond", &cnd[0])],
        )
        .unwrap();
    let exe = ex.compile(&m).unwrap();
    for (xv, kv, want_case) in [
        (2.0, 0, 3.0),
        (2.0, 1, 20.0),
        (-3.0, 2, 3.0),
        (4.0, 7, -4.0),
    ] {
        let r = exe
            .run(&[HostArray::scalar(xv), HostArray::scalar(kv)])
            .unwrap();
        let v: Vec<f64> = r.iter().map(|a| a.to_f64_vec()[0]).collect();
        assert!((v[0] - 30.0 * xv).abs() < 1e-12, "{v:?}");
        assert_eq!(v[1], want_case);
        assert_eq!(v[2], if xv > 0.0 { xv.sqrt() } else { xv * xv });
    }
}

#[test]
fn functions_are_emitted_once_and_differentiated_through() {
    let ex = exec();
    let mut rg = Gen::fresh();
    // a function called twice appears once in the text
    let g = Graph::new();
    let x = g.parameter("x", &[4], DType::F64).unwrap();
    let f = g
        .function("block", &[Shape::new([4], DType::F64)], |a| {
            Ok(vec![(a[0].tanh()? * &x)?])
        })
        .unwrap();
    let y1 = f.call(&[&x]).unwrap();
    let y2 = f.call(&[&y1[0]]).unwrap();
    let m = g.build("calls", &[("y", &y2[0])]).unwrap();
    assert_eq!(
        m.text.matches("func.func private @block").count(),
        1,
        "{}",
        m.text
    );
    assert_eq!(m.text.matches("func.call @block").count(), 2, "{}", m.text);
    let xv = rg.array(&[4], -1.0, 1.0);
    let r = to_array(&ex.run(&m, &[host(&xv)]).unwrap()[0]);
    let y1v = xv.mapv(f64::tanh) * &xv;
    let want = y1v.mapv(f64::tanh) * &xv;
    graph_util::assert_close("calls", &r, &want, 1e-12, 1e-14);
    // gradients and tangents through calls (the body is inlined for differentiation)
    check(
        &ex,
        &mut rg,
        "through_calls",
        &[inp(&[4], -1.0, 1.0), inp(&[4], -1.0, 1.0)],
        &|g, v| {
            let f = g.function("f", &[Shape::new([4], DType::F64)], |a| {
                Ok(vec![(a[0].sin()? * &v[1])?])
            })?;
            let a = f.call(&[&v[0]])?;
            let b = f.call(&[&a[0]])?;
            Ok(b[0].clone())
        },
        None,
    );
}

#[test]
fn compositions_mlp_and_conv_net_losses() {
    let ex = exec();
    let mut rg = Gen::fresh();
    // MLP loss: mean((tanh(x W1 + b1) W2 + b2 - y)^2)
    check(
        &ex,
        &mut rg,
        "mlp_loss",
        &[
            inp(&[5, 3], -1.0, 1.0),
            inp(&[3, 8], -1.0, 1.0),
            inp(&[8], -0.5, 0.5),
            inp(&[8, 2], -1.0, 1.0),
            inp(&[2], -0.5, 0.5),
        ],
        &|_, v| {
            let h = (v[0].matmul(&v[1])? + &v[2])?.gelu(true)?;
            let o = (h.matmul(&v[3])? + &v[4])?;
            o.sqr()?.mean_all()
        },
        None,
    );
    // small conv net loss: conv -> group norm -> silu -> strided conv -> avg pool -> mean square
    check(
        &ex,
        &mut rg,
        "conv_net_loss",
        &[
            inp(&[2, 2, 8, 8], -1.0, 1.0),
            inp(&[4, 2, 3, 3], -0.5, 0.5),
            inp(&[4, 4, 3, 3], -0.5, 0.5),
            inp(&[4], 0.5, 1.5),
        ],
        &|_, v| {
            let h = v[0]
                .conv2d(&v[1], 1, 1, 1, 1)?
                .group_norm(2, Some(&v[3]), None, 1e-5)?
                .silu()?;
            let h = h.conv2d(&v[2], 2, 1, 1, 1)?.avg_pool2d((2, 2), (2, 2))?;
            h.sqr()?.mean_all()
        },
        None,
    );
}

/// Standard normal CDF.
fn phi(x: f64) -> f64 {
    0.5 * (1.0 + libm::erf(x / std::f64::consts::SQRT_2))
}

#[test]
fn random_numbers() {
    let ex = exec();
    let n = 20000;
    let g = Graph::new();
    let key = g.parameter("key", &[2], DType::U64).unwrap();
    let mut rng = Rng::new(&key).unwrap();
    let z = rng.normal(&[n], DType::F64).unwrap();
    let z32 = rng.normal(&[n], DType::F32).unwrap();
    let u = rng.uniform(&[n], DType::F32).unwrap();
    let r = rng.rademacher(&[n], DType::F32).unwrap();
    let tn = rng.truncated_normal(&[n], -1.0, 2.0, DType::F64).unwrap();
    let ri = rng.randint(&[n], 7).unwrap();
    let m = g
        .build(
            "rng",
            &[
                ("key", rng.key()),
                ("z", &z),
                ("z32", &z32),
                ("u", &u),
                ("r", &r),
                ("tn", &tn),
                ("ri", &ri),
            ],
        )
        .unwrap();
    let exe = ex.compile(&m).unwrap();
    let out = exe.run(&[seed_key(42)]).unwrap();
    let again = exe.run(&[seed_key(42)]).unwrap();
    let other = exe.run(&[seed_key(43)]).unwrap();
    let next = exe.run(std::slice::from_ref(&out[0])).unwrap();
    assert_eq!(out[1].bytes(), again[1].bytes(), "same seed, same numbers");
    assert_ne!(
        out[1].bytes(),
        other[1].bytes(),
        "another seed, other numbers"
    );
    assert_ne!(
        out[1].bytes(),
        next[1].bytes(),
        "the threaded key continues the stream"
    );
    let nf = n as f64;
    for (name, idx) in [("normal f64", 1), ("normal f32", 2)] {
        let mut v = out[idx].to_f64_vec();
        let mean = v.iter().sum::<f64>() / nf;
        let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / nf;
        assert!(mean.abs() < 4.0 / nf.sqrt(), "{name}: mean {mean}");
        assert!(
            (var - 1.0).abs() < 4.0 * (2.0 / nf).sqrt(),
            "{name}: variance {var}"
        );
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let ks = v
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                (phi(x) - i as f64 / nf)
                    .abs()
                    .max((phi(x) - (i + 1) as f64 / nf).abs())
            })
            .fold(0.0, f64::max);
        // 1.95 / sqrt(n) is the 0.1% critical value of the Kolmogorov-Smirnov statistic
        assert!(ks < 1.95 / nf.sqrt(), "{name}: KS statistic {ks}");
    }
    let u = out[3].to_f64_vec();
    assert!(u.iter().all(|&x| (0.0..1.0).contains(&x)));
    assert!((u.iter().sum::<f64>() / nf - 0.5).abs() < 4.0 * (1.0 / 12.0 / nf).sqrt());
    let r = out[4].to_f64_vec();
    assert!(r.iter().all(|&x| x == 1.0 || x == -1.0));
    assert!((r.iter().sum::<f64>() / nf).abs() < 4.0 / nf.sqrt());
    let tn = out[5].to_f64_vec();
    assert!(tn.iter().all(|&x| (-1.0..=2.0).contains(&x)));
    // mean of N(0,1) truncated to [a, b]: (phi(a) - phi(b)) / (Phi(b) - Phi(a)) with phi the density
    let pdf = |x: f64| (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let want = (pdf(-1.0) - pdf(2.0)) / (phi(2.0) - phi(-1.0));
    let mean = tn.iter().sum::<f64>() / nf;
    assert!(
        (mean - want).abs() < 4.0 / nf.sqrt(),
        "truncated normal mean {mean} vs {want}"
    );
    let ri = out[6].to_vec::<i32>().unwrap();
    let mut counts = [0usize; 7];
    for &i in &ri {
        counts[i as usize] += 1;
    }
    assert!(
        counts
            .iter()
            .all(|&c| (c as f64 - nf / 7.0).abs() < 5.0 * (nf / 7.0).sqrt()),
        "{counts:?}"
    );
}

#[test]
fn dump_dir_receives_every_module() {
    let dir = tempfile::tempdir().unwrap();
    let ex = exec().with_dump_dir(dir.path());
    let g = Graph::new();
    let x = g.parameter("x", &[2], DType::F32).unwrap();
    let m = g.build("dumped", &[("y", &x.exp().unwrap())]).unwrap();
    ex.run(
        &m,
        &[HostArray::from_vec(vec![2], vec![0.0f32, 1.0]).unwrap()],
    )
    .unwrap();
    ex.run(
        &m,
        &[HostArray::from_vec(vec![2], vec![0.0f32, 1.0]).unwrap()],
    )
    .unwrap();
    assert_eq!(ex.cached(), 1, "the second run reuses the executable");
    let files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1);
    assert_eq!(std::fs::read_to_string(&files[0]).unwrap(), m.text);
}

#[test]
fn errors_name_the_problem() {
    let g = Graph::new();
    let a = g.parameter("a", &[2, 3], DType::F32).unwrap();
    let b = g.parameter("b", &[4], DType::F32).unwrap();
    let e = (&a + &b).unwrap_err().to_string();
    assert!(
        e.contains("add") && e.contains("f32[2, 3]") && e.contains("f32[4]"),
        "{e}"
    );
    let c = g.parameter("c", &[3], DType::F64).unwrap();
    let e = (&a * &c).unwrap_err().to_string();
    assert!(
        e.contains("multiply") && e.contains("element types differ"),
        "{e}"
    );
    let e = a.matmul(&b).unwrap_err().to_string();
    assert!(
        e.contains("dot_general") && e.contains("f32[2, 3]") && e.contains("f32[4]"),
        "{e}"
    );
    let e = a.reshape(&[5]).unwrap_err().to_string();
    assert!(
        e.contains("reshape") && e.contains("element counts differ"),
        "{e}"
    );
    assert!(
        g.parameter("a", &[1], DType::F32)
            .unwrap_err()
            .to_string()
            .contains("already exists")
    );
    let e = grad(&a, &[&a]).unwrap_err().to_string();
    assert!(e.contains("float scalar"), "{e}");
    let e = a
        .erf()
        .and_then(|_| c.convert(DType::I32)?.exp())
        .unwrap_err()
        .to_string();
    assert!(e.contains("exponential") && e.contains("i32"), "{e}");
    // differentiating through a loop is a clear error, not a silent zero
    let x = g.parameter("x", &[], DType::F32).unwrap();
    let out = g
        .fori_loop(0, 3, std::slice::from_ref(&x), |_, v| {
            Ok(vec![(&v[0] * 2.0)?])
        })
        .unwrap();
    let e = grad(&out[0], &[&x]).unwrap_err();
    assert!(
        matches!(e, Error::NotDifferentiable { op: "while", .. }),
        "{e}"
    );
    // a value from a finished loop body cannot be used outside it
    let mut leaked: Option<Tensor> = None;
    g.fori_loop(0, 2, std::slice::from_ref(&x), |_, v| {
        leaked = Some(v[0].clone());
        Ok(vec![v[0].clone()])
    })
    .unwrap();
    let e = (leaked.unwrap() + &x).unwrap_err().to_string();
    assert!(e.contains("loop body"), "{e}");
    // a bad argument at run time names the argument
    let ex = exec();
    let m = g.build("args", &[("y", &(&x * 2.0).unwrap())]).unwrap();
    let e = ex
        .run(&m, &vec![HostArray::scalar(1.0f64); 5])
        .unwrap_err()
        .to_string();
    assert!(e.contains("5 arguments given"), "{e}");
    let args: Vec<HostArray> = m
        .args
        .iter()
        .map(|(_, s)| {
            HostArray::from_bytes(
                s.dtype,
                s.dims.clone(),
                vec![0; s.elem_count() * s.dtype.size_in_bytes()],
            )
            .unwrap()
        })
        .collect();
    let mut bad = args.clone();
    bad[1] = HostArray::from_vec(vec![3], vec![0.0f32; 3]).unwrap();
    let e = ex.run(&m, &bad).unwrap_err().to_string();
    assert!(e.contains("\"b\"") && e.contains("f32[4]"), "{e}");
    assert!(ex.run(&m, &args).is_ok());
}
