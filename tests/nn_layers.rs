//! The Equinox layers against JAX/Equinox numbers (tests/fixtures/graph/: a conv block and a
//! tanh MLP with their gradients, f32 and f64) and against closed forms computed here (layer
//! norm, embedding lookup, dropout statistics, activations).

use std::path::Path;

use sbgm_xla::graph::{Graph, Rng, Tensor, grad};
use sbgm_xla::io::{Checkpoint, load_checkpoint};
use sbgm_xla::nn::layers::{
    Activation, Conv2d, ConvTranspose2d, Embedding, GroupNorm, LayerNorm, Mlp, dropout,
};
use sbgm_xla::nn::tree::{Builder, Spec, Trace};
use sbgm_xla::nn::{ApplyMode, Params};
use sbgm_xla::pjrt::{Client, CompileOptions, Program};
use sbgm_xla::{DType, HostArray};

/// One CPU client shared by the tests of this file.
fn client() -> &'static Client {
    static CLIENT: std::sync::OnceLock<Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| Client::cpu().unwrap())
}

fn graph_fixture(name: &str) -> Checkpoint {
    load_checkpoint(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/graph/{name}")),
    )
    .unwrap()
}

/// Builds `outputs`, compiles on the CPU plugin and runs with `args` (in parameter order).
fn run(g: &Graph, outputs: &[(&str, &Tensor)], args: &[HostArray]) -> Vec<HostArray> {
    let m = g.build("t", outputs).unwrap();
    let client = client();
    let exe = client
        .compile(&Program::text(m.text), &CompileOptions::default())
        .unwrap();
    exe.run_host(args).unwrap()
}

fn max_rel(a: &HostArray, b: &HostArray) -> f64 {
    assert_eq!(a.shape(), b.shape());
    let (a, b) = (a.to_f64_vec(), b.to_f64_vec());
    let scale = b.iter().fold(1e-30f64, |m, v| m.max(v.abs()));
    a.iter()
        .zip(&b)
        .fold(0f64, |m, (x, y)| m.max((x - y).abs()))
        / scale
}

/// Declares the fixture's `param.<name>` arrays as graph parameters named `<name>`.
fn declare(g: &Graph, ck: &Checkpoint, names: &[&str]) -> (Params, Vec<HostArray>) {
    let mut p = Params::new();
    let mut args = Vec::new();
    for n in names {
        let a = ck.get(&format!("param.{n}")).unwrap();
        p.insert(*n, g.parameter(n, a.shape(), a.dtype()).unwrap())
            .unwrap();
        args.push(a.clone());
    }
    (p, args)
}

#[test]
fn conv_block_matches_equinox_with_gradients() {
    for (file, tol) in [
        ("conv_block_f32.safetensors", 2e-5),
        ("conv_block_f64.safetensors", 1e-12),
    ] {
        let ck = graph_fixture(file);
        let g = Graph::new();
        let names = [
            "conv.weight",
            "conv.bias",
            "norm.weight",
            "norm.bias",
            "convt.weight",
            "convt.bias",
        ];
        let (p, mut args) = declare(&g, &ck, &names);
        let xa = ck.get("in.x").unwrap();
        let x = g.parameter("x", xa.shape(), xa.dtype()).unwrap();
        args.push(xa.clone());
        let tr = Trace::new(&p);
        let conv = Conv2d::new(3, 4, 3)
            .padding(1)
            .build(&tr.pp("conv"))
            .unwrap()
            .apply(&x)
            .unwrap();
        let norm = GroupNorm::new(2, 4)
            .build(&tr.pp("norm"))
            .unwrap()
            .apply(&conv)
            .unwrap();
        let silu = Activation::Silu.apply(&norm).unwrap();
        let pool = silu.avg_pool2d((2, 2), (2, 2)).unwrap();
        let y = ConvTranspose2d::new(4, 3, 3)
            .stride(2)
            .padding(1)
            .output_padding(1)
            .build(&tr.pp("convt"))
            .unwrap()
            .apply(&pool)
            .unwrap();
        assert_eq!(y.dims(), &[2, 3, 8, 8]);
        let loss = y.sqr().unwrap().mean_all().unwrap();
        let mut wrt: Vec<&Tensor> = p.tensors();
        wrt.push(&x);
        let grads = grad(&loss, &wrt).unwrap();
        let mut outs: Vec<(String, &Tensor)> = vec![
            ("out.conv".into(), &conv),
            ("out.norm".into(), &norm),
            ("out.silu".into(), &silu),
            ("out.pool".into(), &pool),
            ("out.y".into(), &y),
            ("out.loss".into(), &loss),
        ];
        for (n, gt) in names.iter().zip(&grads) {
            outs.push((format!("grad.{n}"), gt));
        }
        outs.push(("grad.in.x".into(), &grads[names.len()]));
        let named: Vec<(&str, &Tensor)> = outs.iter().map(|(n, t)| (n.as_str(), *t)).collect();
        let got = run(&g, &named, &args);
        for ((n, _), v) in named.iter().zip(&got) {
            let err = max_rel(v, ck.get(n).unwrap());
            assert!(err <= tol, "{file} {n}: relative error {err:.3e}");
        }
    }
}

#[test]
fn equinox_mlp_matches_jax_with_gradients() {
    for (file, tol) in [
        ("mlp_f32.safetensors", 1e-5),
        ("mlp_f64.safetensors", 1e-12),
    ] {
        let ck = graph_fixture(file);
        let g = Graph::new();
        let names = [
            "layers.0.weight",
            "layers.0.bias",
            "layers.1.weight",
            "layers.1.bias",
            "layers.2.weight",
            "layers.2.bias",
        ];
        let (p, mut args) = declare(&g, &ck, &names);
        let (ta, xa) = (ck.get("in.t").unwrap(), ck.get("in.x").unwrap());
        let t = g.parameter("t", ta.shape(), ta.dtype()).unwrap();
        let x = g.parameter("x", xa.shape(), xa.dtype()).unwrap();
        args.extend([ta.clone(), xa.clone()]);
        let mlp = Mlp {
            activation: Activation::Tanh,
            ..Mlp::new(3, 2, 16, 2)
        };
        // the leaf names are Equinox's MLP names
        let leaf_paths: Vec<String> = Spec::leaves(|b| mlp.build(b))
            .unwrap()
            .into_iter()
            .map(|l| l.spec.path)
            .collect();
        assert_eq!(leaf_paths, names);
        let h = Tensor::cat(&[&x, &t.unsqueeze(1).unwrap()], 1).unwrap();
        let s = mlp.build(&Trace::new(&p)).unwrap().apply(&h).unwrap();
        let loss = s.sqr().unwrap().mean_all().unwrap();
        let mut wrt = p.tensors();
        wrt.extend([&t, &x]);
        let grads = grad(&loss, &wrt).unwrap();
        let mut outs: Vec<(String, &Tensor)> =
            vec![("out.score".into(), &s), ("out.loss".into(), &loss)];
        for (n, gt) in names.iter().zip(&grads) {
            outs.push((format!("grad.{n}"), gt));
        }
        outs.push(("grad.in.t".into(), &grads[6]));
        outs.push(("grad.in.x".into(), &grads[7]));
        let named: Vec<(&str, &Tensor)> = outs.iter().map(|(n, t)| (n.as_str(), *t)).collect();
        let got = run(&g, &named, &args);
        for ((n, _), v) in named.iter().zip(&got) {
            let err = max_rel(v, ck.get(n).unwrap());
            assert!(err <= tol, "{file} {n}: relative error {err:.3e}");
        }
    }
}

fn lcg(seed: u64, n: usize) -> Vec<f64> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64) * 4.0 - 2.0
        })
        .collect()
}

#[test]
fn layer_norm_embedding_and_activations_match_closed_forms() {
    let (b, r, c) = (2usize, 3usize, 4usize);
    let xv = lcg(1, b * r * c);
    let wv = lcg(2, r * c);
    let bv = lcg(3, r * c);
    let table = lcg(4, 5 * 3);
    let g = Graph::new();
    let mut p = Params::new();
    let x = g.parameter("x", &[b, r, c], DType::F64).unwrap();
    p.insert("ln.weight", g.parameter("w", &[r, c], DType::F64).unwrap())
        .unwrap();
    p.insert("ln.bias", g.parameter("b", &[r, c], DType::F64).unwrap())
        .unwrap();
    p.insert("emb.weight", g.parameter("e", &[5, 3], DType::F64).unwrap())
        .unwrap();
    let idx = g.parameter("i", &[2, 2], DType::I32).unwrap();
    let tr = Trace::new(&p);
    let ln = LayerNorm::new(&[r, c]).build(&tr.pp("ln")).unwrap();
    let plain = LayerNorm::plain(&[c]).build(&tr.pp("none")).unwrap();
    let emb = Embedding::new(5, 3).build(&tr.pp("emb")).unwrap();
    let (ln, plain) = (ln.apply(&x).unwrap(), plain.apply(&x).unwrap());
    let emb = emb.apply(&idx).unwrap();
    let acts = [
        Activation::Gelu,
        Activation::GeluExact,
        Activation::Softplus,
        Activation::Elu,
        Activation::LeakyRelu,
        Activation::Silu,
        Activation::LogSigmoid,
    ];
    let act_out: Vec<Tensor> = acts.iter().map(|a| a.apply(&x).unwrap()).collect();
    let mut outs: Vec<(&str, &Tensor)> = vec![("ln", &ln), ("plain", &plain), ("emb", &emb)];
    for t in &act_out {
        outs.push(("act", t));
    }
    let idxv = vec![4i32, 0, 2, 2];
    let got = run(
        &g,
        &outs,
        &[
            HostArray::from_vec(vec![b, r, c], xv.clone()).unwrap(),
            HostArray::from_vec(vec![r, c], wv.clone()).unwrap(),
            HostArray::from_vec(vec![r, c], bv.clone()).unwrap(),
            HostArray::from_vec(vec![5, 3], table.clone()).unwrap(),
            HostArray::from_vec(vec![2, 2], idxv.clone()).unwrap(),
        ],
    );
    let close = |a: f64, e: f64, what: &str| {
        assert!(
            (a - e).abs() <= 1e-12 * (1.0 + e.abs()),
            "{what}: {a} vs {e}"
        )
    };
    let norm = |v: &[f64]| {
        let m = v.iter().sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64;
        v.iter()
            .map(|x| (x - m) / (var + 1e-5).sqrt())
            .collect::<Vec<_>>()
    };
    let ln_got = got[0].to_vec::<f64>().unwrap();
    let plain_got = got[1].to_vec::<f64>().unwrap();
    for s in 0..b {
        let n = norm(&xv[s * r * c..(s + 1) * r * c]);
        for k in 0..r * c {
            close(ln_got[s * r * c + k], wv[k] * n[k] + bv[k], "layer norm");
        }
        for row in 0..r {
            let o = s * r * c + row * c;
            let n = norm(&xv[o..o + c]);
            for k in 0..c {
                close(plain_got[o + k], n[k], "plain layer norm");
            }
        }
    }
    let emb_got = got[2].to_vec::<f64>().unwrap();
    assert_eq!(got[2].shape(), &[2, 2, 3]);
    for (i, &row) in idxv.iter().enumerate() {
        for k in 0..3 {
            close(emb_got[i * 3 + k], table[row as usize * 3 + k], "embedding");
        }
    }
    let sp = |v: f64| (1.0 + v.exp()).ln();
    let refs: [&dyn Fn(f64) -> f64; 7] = [
        &|v: f64| {
            0.5 * v
                * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (v + 0.044715 * v.powi(3))).tanh())
        },
        &|v: f64| 0.5 * v * (1.0 + libm::erf(v / 2f64.sqrt())),
        &sp,
        &|v: f64| if v > 0.0 { v } else { v.exp_m1() },
        &|v: f64| if v >= 0.0 { v } else { 0.01 * v },
        &|v: f64| v / (1.0 + (-v).exp()),
        &|v: f64| -sp(-v),
    ];
    for (k, f) in refs.iter().enumerate() {
        let a = got[3 + k].to_vec::<f64>().unwrap();
        for (i, &v) in xv.iter().enumerate() {
            close(a[i], f(v), &format!("{:?}", acts[k]));
        }
    }
}

#[test]
fn dropout_keeps_and_rescales_in_training_and_is_off_at_inference() {
    let n = 20_000;
    let g = Graph::new();
    let x = g.full(&[n], 2.0, DType::F32).unwrap();
    let mode = ApplyMode::train(Rng::from_seed(&g, 7).unwrap());
    let train = dropout(&x, 0.25, &mode).unwrap();
    let train2 = dropout(&x, 0.25, &mode).unwrap();
    let inf = dropout(&x, 0.25, &ApplyMode::Inference).unwrap();
    assert_eq!(inf.id(), x.id(), "dropout at inference is the identity");
    assert_eq!(dropout(&x, 0.0, &mode).unwrap().id(), x.id());
    assert!(dropout(&x, 1.0, &mode).is_err());
    assert!(mode.key().is_some());
    let got = run(&g, &[("a", &train), ("b", &train2)], &[]);
    let a = got[0].to_vec::<f32>().unwrap();
    let b = got[1].to_vec::<f32>().unwrap();
    let kept = a.iter().filter(|&&v| v != 0.0).count() as f64 / n as f64;
    // kept fraction 0.75 within 5 standard errors
    assert!(
        (kept - 0.75).abs() < 5.0 * (0.75f64 * 0.25 / n as f64).sqrt(),
        "{kept}"
    );
    assert!(a.iter().all(|&v| v == 0.0 || (v - 2.0 / 0.75).abs() < 1e-6));
    assert_ne!(a, b, "the stream advances between draws");
}

#[test]
fn linear_on_parts_equals_linear_on_the_concatenation_with_gradients() {
    use sbgm_xla::nn::layers::Linear;
    let v = lcg(7, 6 * 5 + 6 + 4 * 3 + 4 * 2);
    let arr = |dims: &[usize], off: usize| {
        let n: usize = dims.iter().product();
        HostArray::from_vec(
            dims.to_vec(),
            v[off..off + n].iter().map(|&x| x as f32).collect(),
        )
        .unwrap()
    };
    let (w, b, x, c) = (
        arr(&[6, 5], 0),
        arr(&[6], 30),
        arr(&[4, 3], 36),
        arr(&[4, 2], 48),
    );
    let g = Graph::new();
    let mut p = Params::new();
    let wt = g.parameter("w", &[6, 5], DType::F32).unwrap();
    let bt = g.parameter("b", &[6], DType::F32).unwrap();
    p.insert("l.weight", wt.clone()).unwrap();
    p.insert("l.bias", bt.clone()).unwrap();
    let xt = g.parameter("x", &[4, 3], DType::F32).unwrap();
    let ct = g.parameter("c", &[4, 2], DType::F32).unwrap();
    let l = Linear::new(5, 6).build(&Trace::new(&p).pp("l")).unwrap();
    let whole = l.apply(&Tensor::cat(&[&xt, &ct], 1).unwrap()).unwrap();
    let parts = l.apply_split(&[&xt, &ct]).unwrap();
    let gw = |y: &Tensor| grad(&y.tanh().unwrap().sum_all().unwrap(), &[&wt, &xt, &ct]).unwrap();
    let (g1, g2) = (gw(&whole), gw(&parts));
    let out = run(
        &g,
        &[
            ("a", &whole),
            ("b", &parts),
            ("ga0", &g1[0]),
            ("gb0", &g2[0]),
            ("ga1", &g1[1]),
            ("gb1", &g2[1]),
            ("ga2", &g1[2]),
            ("gb2", &g2[2]),
        ],
        &[w, b, x, c],
    );
    for k in 0..4 {
        assert!(max_rel(&out[2 * k + 1], &out[2 * k]) < 1e-6, "output {k}");
    }
}
