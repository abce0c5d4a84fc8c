//! Initialisation: every leaf of a fresh model has its skeleton's dtype and shape, scalar
//! leaves hold the configuration, arrays follow Equinox's/sbgm's distributions (checked by
//! their range and moments), seeds are reproducible, and the result writes as an `.eqx` file
//! that reads back against the skeleton.

use std::collections::HashMap;

use sbgm_xla::HostArray;
use sbgm_xla::io::{read_eqx, write_eqx};
use sbgm_xla::nn::{ModelConfig, ScoreNet};

fn build(text: &str) -> Box<dyn ScoreNet> {
    ModelConfig::from_toml(text).unwrap().build().unwrap()
}

fn values(leaves: &[(String, HostArray)]) -> HashMap<String, Vec<f64>> {
    leaves
        .iter()
        .map(|(k, v)| (k.clone(), v.to_f64_vec()))
        .collect()
}

fn moments(v: &[f64]) -> (f64, f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let s = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n).sqrt();
    let max = v.iter().fold(0f64, |a, x| a.max(x.abs()));
    (m, s, max)
}

#[test]
fn mlp_init_follows_sbgms_truncated_normal_linear() {
    let net = build(
        "kind = \"mlp\"\nin_size = 2\nwidth_size = 256\ndepth = 2\nq_dim = 3\nt1 = 4.0\ndropout_p = 0.1",
    );
    let leaves = net.init(0).unwrap();
    net.check_leaves(&leaves).unwrap();
    let v = values(&leaves);
    // weight = truncated_normal(-2, 2) * sqrt(1 / (in + 1)); the truncated standard normal's
    // standard deviation is 0.87962566
    for (w, fan_in) in [
        ("_in.weight", 2 + 1 + 3),
        ("layers.0.weight", 256 + 1 + 3),
        ("layers.1.weight", 260),
    ] {
        let scale = (1.0 / (fan_in as f64 + 1.0)).sqrt();
        let (m, s, max) = moments(&v[w]);
        assert!(max <= 2.0 * scale * (1.0 + 1e-6), "{w}: max {max}");
        assert!(
            m.abs() < 5.0 * 0.88 * scale / (v[w].len() as f64).sqrt(),
            "{w}: mean {m}"
        );
        if v[w].len() > 10_000 {
            assert!(
                (s / scale - 0.87962566).abs() < 0.02,
                "{w}: std {}",
                s / scale
            );
        }
    }
    for b in ["_in.bias", "layers.0.bias", "layers.1.bias", "_out.bias"] {
        assert!(v[b].iter().all(|&x| x == 0.0), "{b}");
    }
    assert_eq!(v["t1"], vec![4.0]);
    assert_eq!(v["q_dim"], vec![3.0]);
    assert_eq!(v["dropouts.1.p"], vec![0.1]);
    assert_eq!(v["dropouts.1.inference"], vec![0.0]);
    // reproducible, and different across seeds
    assert_eq!(net.init(0).unwrap(), leaves);
    assert_ne!(values(&net.init(1).unwrap())["_in.weight"], v["_in.weight"]);
}

#[test]
fn mixer_init_follows_equinox() {
    let net = build(
        "kind = \"mixer\"\nimg_size = [3, 16, 16]\npatch_size = 2\nhidden_size = 32\n\
         mix_patch_size = 64\nmix_hidden_size = 48\nnum_blocks = 1\na_dim = 2\nt1 = 2.0",
    );
    let leaves = net.init(11).unwrap();
    net.check_leaves(&leaves).unwrap();
    let v = values(&leaves);
    // Equinox Linear / Conv: weight and bias uniform on ±1/sqrt(fan_in), std lim/sqrt(3)
    for (w, fan_in) in [
        ("conv_in.weight", 3 * 2 * 2),
        ("conv_in.bias", 3 * 2 * 2),
        ("conv_out.weight", 32 * 2 * 2),
        ("blocks.0.patch_mixer.layers.0.weight", 64),
        ("blocks.0.patch_mixer.layers.1.weight", 64),
        ("blocks.0.hidden_mixer.layers.0.weight", 32),
        ("blocks.0.norm1.net.weight", 8 + 2),
        ("blocks.0.norm2.net.bias", 8 + 2),
    ] {
        let lim = 1.0 / (fan_in as f64).sqrt();
        let (m, s, max) = moments(&v[w]);
        let n = v[w].len() as f64;
        assert!(max <= lim, "{w}: {max} > {lim}");
        assert!(m.abs() < 5.0 * lim / (3.0 * n).sqrt(), "{w}: mean {m}");
        if n > 2000.0 {
            assert!((s / (lim / 3f64.sqrt()) - 1.0).abs() < 0.05, "{w}: std {s}");
        }
    }
    assert!(v["norm.weight"].iter().all(|&x| x == 1.0));
    assert!(v["norm.bias"].iter().all(|&x| x == 0.0));
    assert_eq!(v["blocks.0.a_dim"], vec![10.0]);
    assert_eq!(v["blocks.0.norm2.data_shape.0"], vec![64.0]);
    assert_eq!(v["img_size.0"], vec![3.0]);
}

#[test]
fn fresh_models_write_as_eqx_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    for text in [
        "kind = \"mlp\"\nin_size = 2\nwidth_size = 8\ndepth = 3\na_dim = 1",
        "kind = \"mixer\"\nimg_size = [1, 4, 4]\npatch_size = 2\nhidden_size = 4\n\
         mix_patch_size = 4\nmix_hidden_size = 4\nnum_blocks = 2\nq_dim = 1",
    ] {
        let net = build(text);
        let leaves = net.init(2).unwrap();
        let path = dir.path().join(format!("{}.eqx", net.name()));
        write_eqx(&path, &leaves).unwrap();
        let back = read_eqx(&path, &net.skeleton()).unwrap();
        assert_eq!(back, leaves);
    }
}

#[test]
fn checkpoints_of_another_configuration_are_refused() {
    let a = build("kind = \"mlp\"\nin_size = 2\nwidth_size = 8\ndepth = 2\nt1 = 1.0");
    let b = build("kind = \"mlp\"\nin_size = 2\nwidth_size = 8\ndepth = 2\nt1 = 2.0");
    let e = b.check_leaves(&a.init(0).unwrap()).unwrap_err().to_string();
    assert!(
        e.contains("'t1'") && e.contains("1.0") && e.contains("2.0"),
        "{e}"
    );
    let c = build("kind = \"mlp\"\nin_size = 2\nwidth_size = 16\ndepth = 2\nt1 = 1.0");
    let e = c.check_leaves(&a.init(0).unwrap()).unwrap_err().to_string();
    assert!(e.contains("_in.weight"), "{e}");
    // Dropout's inference flag is a run-time switch: a checkpoint saved in inference mode loads
    let mut leaves = a.init(0).unwrap();
    for (k, v) in leaves.iter_mut() {
        if k.ends_with(".inference") {
            *v = HostArray::scalar(true);
        }
    }
    a.check_leaves(&leaves).unwrap();
}
