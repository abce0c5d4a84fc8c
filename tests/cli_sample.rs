//! `sbgm-xla sample` and `sbgm-xla loglik` against closed forms.
//!
//! The checkpoint is sbgm's ResidualNetwork (in_size 2, width 2, depth 1) with weights chosen so
//! that its score is exactly linear, s(t, x) = -c x: `_in` copies x, the residual layer is
//! zero (tanh(0) = 0), `_out` is -c I. Under the VP SDE (linear beta 0.1..20) the probability-
//! flow ODE is then dx/dt = (c - 1) beta(t) x / 2, so with dB = B(t1) - B(t0):
//! - sampling by the ODE maps z ~ N(0, I) to x = z exp((1 - c) dB / 2);
//! - log p(x) = log N(z; 0, I) + D (c - 1) dB / 2 with z = x exp((c - 1) dB / 2);
//! - for c = 1 (the true score of N(0, I) data) the reverse SDE keeps N(0, I).
//!
//! The data scaling stored with the checkpoint (normer, mean 1, std 2) maps samples to data
//! space and adds the log-Jacobian -D ln 2 to data-space log-likelihoods.

use sbgm_xla::HostArray;
use sbgm_xla::io::npy::{read_npy, write_npy};
use sbgm_xla::io::{Checkpoint, load_checkpoint, save_checkpoint};
use sbgm_xla::model::{META_CONFIG, META_TRANSFORM, read_model_config};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const CONFIG: &str = r#"
[sde]
sde = "VP"
schedule = "linear"
beta_min = 0.1
beta_max = 20.0
t0 = 1e-5
t1 = 1.0
dt = 0.01

[model]
kind = "mlp"
in_size = 2
width_size = 2
depth = 1
"#;

const MEAN: f64 = 1.0;
const STD: f64 = 2.0;

fn sbgm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sbgm-xla"))
        .args(args)
        .output()
        .expect("run sbgm-xla")
}

fn ok(args: &[&str]) -> String {
    let o = sbgm(args);
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn fails(args: &[&str]) -> String {
    let o = sbgm(args);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success(), "{args:?} succeeded");
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    assert!(
        err.lines().any(|l| l.starts_with("error: ")),
        "{args:?}: {err}"
    );
    err
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// dB = B(t1) - B(t0) for the linear schedule.
fn delta_b() -> f64 {
    let b = |t: f64| 0.1 * t + 0.5 * t * t * (20.0 - 0.1);
    b(1.0) - b(1e-5)
}

/// Writes the linear-score checkpoint (s = -c x) with the config and scaling in its metadata.
fn linear_checkpoint(dir: &Path, c: f32) -> PathBuf {
    let cfg_path = dir.join("config.toml");
    std::fs::write(&cfg_path, CONFIG).unwrap();
    let net = read_model_config(&cfg_path).unwrap().build().unwrap();
    let mut leaves = net.init(0).unwrap();
    for (path, a) in leaves.iter_mut() {
        let v: Option<Vec<f32>> = match path.as_str() {
            "_in.weight" => Some(vec![1., 0., 0., 0., 1., 0.]),
            "_out.weight" => Some(vec![-c, 0., 0., -c]),
            p if p.ends_with("weight") || p.ends_with("bias") => Some(vec![0.; a.len()]),
            _ => None,
        };
        if let Some(v) = v {
            *a = HostArray::from_vec(a.shape().to_vec(), v).unwrap();
        }
    }
    let mut ck = Checkpoint::new();
    ck.insert_leaves("", &leaves).unwrap();
    ck.set_meta(META_CONFIG, CONFIG);
    ck.set_meta(
        META_TRANSFORM,
        format!(r#"{{"kind":"normer","mean":{MEAN},"std":{STD}}}"#),
    );
    let path = dir.join(format!("linear_{c}.safetensors"));
    save_checkpoint(&path, &ck).unwrap();
    path
}

fn moments(x: &HostArray) -> (Vec<f64>, Vec<f64>) {
    let v = x.to_f64_vec();
    let d = x.shape()[1];
    let n = x.shape()[0] as f64;
    let mean: Vec<f64> = (0..d)
        .map(|j| v.iter().skip(j).step_by(d).sum::<f64>() / n)
        .collect();
    let var: Vec<f64> = (0..d)
        .map(|j| {
            v.iter()
                .skip(j)
                .step_by(d)
                .map(|x| (x - mean[j]).powi(2))
                .sum::<f64>()
                / (n - 1.0)
        })
        .collect();
    (mean, var)
}

#[test]
fn ode_samples_have_the_closed_form_spread() {
    let tmp = tempfile::tempdir().unwrap();
    let ck = linear_checkpoint(tmp.path(), 0.5);
    let n = 4000usize;
    let scale = (0.25 * delta_b()).exp(); // exp((1 - c) dB / 2), c = 1/2
    // (bf16 products round x to 8 significant bits per evaluation: the spread still holds)
    for (sampler, extra) in [
        ("tsit5", vec![]),
        ("rk4", vec!["--steps", "200"]),
        ("heun", vec!["--steps", "200", "--matmul-precision", "bf16"]),
    ] {
        let out = tmp.path().join(format!("{sampler}.npy"));
        let mut args = vec![
            "sample",
            "--checkpoint",
            s(&ck),
            "--n",
            "4000",
            "--sampler",
            sampler,
            "--model-space",
            "--out",
            s(&out),
            "--quiet",
        ];
        args.extend(extra);
        let text = ok(&args);
        assert!(text.contains("model space"), "{text}");
        let x = read_npy(&out).unwrap();
        assert_eq!(x.shape(), [n, 2]);
        let (mean, var) = moments(&x);
        for j in 0..2 {
            let sd = var[j].sqrt();
            eprintln!(
                "{sampler}: mean {:.4} sd {sd:.4} (want sd {scale:.4})",
                mean[j]
            );
            assert!(mean[j].abs() < 4.0 * scale / (n as f64).sqrt(), "{sampler}");
            // The standard error of a standard deviation is sd / sqrt(2n).
            assert!(
                (sd / scale - 1.0).abs() < 4.0 / (2.0 * n as f64).sqrt(),
                "{sampler}: sd {sd} vs {scale}"
            );
        }
    }
}

#[test]
fn samples_map_to_data_space_and_seeds_decide_them() {
    let tmp = tempfile::tempdir().unwrap();
    let ck = linear_checkpoint(tmp.path(), 1.0);
    let run = |seed: &str, model_space: bool, out: &str| -> HostArray {
        let out = tmp.path().join(out);
        let mut args = vec![
            "sample",
            "--checkpoint",
            s(&ck),
            "--n",
            "3000",
            "--steps",
            "200",
            "--seed",
            seed,
            "--out",
            s(&out),
            "--quiet",
        ];
        if model_space {
            args.push("--model-space");
        }
        if out.extension().unwrap() == "safetensors" {
            args.push("--allow-checkpoint-extension");
        }
        ok(&args);
        if out.extension().unwrap() == "npy" {
            read_npy(&out).unwrap()
        } else {
            let c = load_checkpoint(&out).unwrap();
            assert_eq!(c.meta("seed"), Some(seed));
            assert_eq!(
                c.meta("space"),
                Some(if model_space { "model" } else { "data" })
            );
            assert_eq!(c.meta("nfe"), Some("200"));
            c.get("samples").unwrap().clone()
        }
    };
    let m = run("7", true, "m.npy");
    let d = run("7", false, "d.safetensors");
    // Same seed: the data-space samples are mean + std * the model-space ones.
    for (a, b) in m.to_f64_vec().iter().zip(d.to_f64_vec()) {
        assert!((MEAN + STD * a - b).abs() < 1e-5, "{a} -> {b}");
    }
    // Same seed, same samples; another seed, other samples.
    assert_eq!(run("7", true, "m2.npy"), m);
    assert_ne!(run("8", true, "m3.npy"), m);
    // The true score of N(0, I): Euler-Maruyama keeps about N(0, I) (bias O(step)).
    let (mean, var) = moments(&m);
    for j in 0..2 {
        assert!(mean[j].abs() < 0.1, "{mean:?}");
        assert!((var[j] - 1.0).abs() < 0.15, "{var:?}");
    }
}

#[test]
fn png_plots_are_written() {
    let tmp = tempfile::tempdir().unwrap();
    let ck = linear_checkpoint(tmp.path(), 1.0);
    let png = tmp.path().join("s.png");
    ok(&[
        "sample",
        "--checkpoint",
        s(&ck),
        "--n",
        "100",
        "--steps",
        "20",
        "--out",
        s(&tmp.path().join("s.npy")),
        "--png",
        s(&png),
    ]);
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG"));
}

/// log p(x) in model space: the closed form for the linear score s = -c x.
fn closed_form_logp(x: &[f64], c: f64) -> f64 {
    let db = delta_b();
    let f = (0.5 * (c - 1.0) * db).exp();
    let d = x.len() as f64;
    let z2: f64 = x.iter().map(|v| (v * f).powi(2)).sum();
    -0.5 * z2 - 0.5 * d * (2.0 * std::f64::consts::PI).ln() + d * 0.5 * (c - 1.0) * db
}

#[test]
fn loglik_matches_the_closed_form_in_model_and_data_space() {
    let tmp = tempfile::tempdir().unwrap();
    let c = 0.5;
    let ck = linear_checkpoint(tmp.path(), c as f32);
    // Data-space points (x) and their model-space values (y = (x - 1) / 2).
    let pts: Vec<f32> = (0..40)
        .map(|i| ((i * 37 % 23) as f32 - 11.0) / 4.0)
        .collect();
    let x = HostArray::from_vec(vec![20, 2], pts.clone()).unwrap();
    let data = tmp.path().join("x.npy");
    write_npy(&data, &x).unwrap();
    let want_model: Vec<f64> = pts
        .chunks(2)
        .map(|p| {
            let y: Vec<f64> = p.iter().map(|&v| (f64::from(v) - MEAN) / STD).collect();
            closed_form_logp(&y, c)
        })
        .collect();
    let out = tmp.path().join("ll.safetensors");
    let text = ok(&[
        "loglik",
        "--checkpoint",
        s(&ck),
        "--data",
        s(&data),
        "--method",
        "exact",
        "--rtol",
        "1e-6",
        "--atol",
        "1e-6",
        "--out",
        s(&out),
        "--allow-checkpoint-extension",
        "--quiet",
    ]);
    assert!(text.contains("log-likelihood (data space)"), "{text}");
    assert!(text.contains(" ± "), "{text}");
    let got = load_checkpoint(&out).unwrap();
    let logp = got.get("logp").unwrap().to_f64_vec();
    let bpd = got.get("bpd").unwrap().to_f64_vec();
    let shift = -2.0 * STD.ln(); // D ln |d(forward)/dx|
    for i in 0..20 {
        let want = want_model[i] + shift;
        assert!(
            (logp[i] - want).abs() <= 2e-3,
            "sample {i}: {} vs closed form {want}",
            logp[i]
        );
        let want_bpd = -logp[i] / (2.0 * std::f64::consts::LN_2);
        assert!((bpd[i] - want_bpd).abs() < 1e-9);
    }
    // The printed mean is the mean of the values written.
    let mean = logp.iter().sum::<f64>() / 20.0;
    assert!(text.contains(&format!("{mean:.6}")), "{text} vs {mean}");

    // In model space (the points taken as model-space values), as .npy.
    let out = tmp.path().join("ll.npy");
    ok(&[
        "loglik",
        "--checkpoint",
        s(&ck),
        "--data",
        s(&data),
        "--model-space",
        "--solver",
        "rk4",
        "--steps",
        "400",
        "--out",
        s(&out),
        "--quiet",
    ]);
    let logp = read_npy(&out).unwrap().to_f64_vec();
    for (i, p) in pts.chunks(2).enumerate() {
        let y: Vec<f64> = p.iter().map(|&v| f64::from(v)).collect();
        let want = closed_form_logp(&y, c);
        assert!((logp[i] - want).abs() <= 2e-3, "{i}: {} vs {want}", logp[i]);
    }
}

#[test]
fn hutchinson_agrees_with_the_exact_trace() {
    let tmp = tempfile::tempdir().unwrap();
    let ck = linear_checkpoint(tmp.path(), 0.5);
    let pts: Vec<f32> = (0..400)
        .map(|i| ((i * 13 % 17) as f32 - 8.0) / 8.0)
        .collect();
    let data = tmp.path().join("x.npy");
    write_npy(&data, &HostArray::from_vec(vec![200, 2], pts).unwrap()).unwrap();
    let run = |extra: &[&str], out: &str| -> Vec<f64> {
        let out = tmp.path().join(out);
        let mut args = vec![
            "loglik",
            "--checkpoint",
            s(&ck),
            "--data",
            s(&data),
            "--model-space",
            "--out",
            s(&out),
            "--quiet",
        ];
        args.extend(extra);
        ok(&args);
        read_npy(&out).unwrap().to_f64_vec()
    };
    let exact = run(&["--method", "exact"], "exact.npy");
    // Rademacher probes: |eps|^2 = D exactly, and the Jacobian is a multiple of I, so the
    // estimate is exact.
    let rad = run(
        &[
            "--method",
            "hutchinson",
            "--probe",
            "rademacher",
            "--probes",
            "2",
        ],
        "rad.npy",
    );
    for (a, b) in exact.iter().zip(&rad) {
        assert!((a - b).abs() < 1e-3, "{a} vs {b}");
    }
    // Gaussian probes: unbiased; the mean difference is within its standard error.
    let gau = run(
        &["--method", "hutchinson", "--probes", "3", "--seed", "5"],
        "g.npy",
    );
    let diff: Vec<f64> = gau.iter().zip(&exact).map(|(g, e)| g - e).collect();
    let n = diff.len() as f64;
    let m = diff.iter().sum::<f64>() / n;
    let sd = (diff.iter().map(|d| (d - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    assert!(sd > 0.01, "Gaussian probes must scatter: sd {sd}");
    assert!(
        m.abs() < 4.0 * sd / n.sqrt(),
        "mean diff {m}, se {}",
        sd / n.sqrt()
    );
}

#[test]
fn bad_requests_are_refused_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let ck = linear_checkpoint(tmp.path(), 1.0);
    let out = tmp.path().join("s.npy");
    let base = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "sample",
            "--checkpoint",
            s(&ck),
            "--out",
            s(&out),
            "--quiet",
        ]
        .map(String::from)
        .to_vec();
        v.extend(extra.iter().map(|x| x.to_string()));
        v
    };
    let run = |a: Vec<String>| fails(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(run(base(&["--n", "0"])).contains("--n must be at least 1"));
    let e = run(base(&["--n", "5", "--sampler", "tsit5", "--rtol", "-1e-3"]));
    assert!(e.contains("--rtol") && e.contains(">= 0"), "{e}");
    let e = run(base(&["--n", "5", "--atol", "-1"]));
    assert!(e.contains("--atol"), "{e}");
    let e = run(base(&["--n", "5", "--guidance", "2"]));
    assert!(e.contains("--guidance needs a conditional model"), "{e}");
    let e = run(base(&["--n", "5", "--q", s(&out)]));
    assert!(e.contains("--q"), "{e}");
    let e = run(base(&["--n", "5", "--matmul-precision", "fp8"]));
    assert!(e.contains("fp8") && e.contains("\"bf16\""), "{e}");
    // A checkpoint that does not exist.
    let e = fails(&[
        "sample",
        "--checkpoint",
        s(&tmp.path().join("none")),
        "--n",
        "5",
        "--out",
        s(&out),
    ]);
    assert!(e.contains("does not exist"), "{e}");
    // A checkpoint that does not match the config.
    let other = tmp.path().join("wide.toml");
    std::fs::write(&other, CONFIG.replace("width_size = 2", "width_size = 4")).unwrap();
    let e = run(base(&["--n", "5", "--config", s(&other)]));
    assert!(e.contains("'_in.weight'") && e.contains("[4, 3]"), "{e}");
    // No SDE: a model-only config.
    let model_only = tmp.path().join("model.toml");
    std::fs::write(&model_only, &CONFIG[CONFIG.find("[model]").unwrap()..]).unwrap();
    let e = run(base(&["--n", "5", "--config", s(&model_only)]));
    assert!(e.contains("[sde]"), "{e}");
    // Bad output names.
    let e = fails(&[
        "sample",
        "--checkpoint",
        s(&ck),
        "--n",
        "5",
        "--out",
        "x.txt",
    ]);
    assert!(e.contains(".npy or .safetensors"), "{e}");
    // loglik: data of the wrong shape, negative tolerance, no probes.
    let bad = tmp.path().join("bad.npy");
    write_npy(
        &bad,
        &HostArray::from_vec(vec![4, 3], vec![0f32; 12]).unwrap(),
    )
    .unwrap();
    let e = fails(&["loglik", "--checkpoint", s(&ck), "--data", s(&bad)]);
    assert!(e.contains("must be (N, 2)"), "{e}");
    let e = fails(&[
        "loglik",
        "--checkpoint",
        s(&ck),
        "--data",
        s(&bad),
        "--rtol",
        "-2",
    ]);
    assert!(e.contains("--rtol"), "{e}");
    let e = fails(&[
        "loglik",
        "--checkpoint",
        s(&ck),
        "--data",
        s(&bad),
        "--method",
        "hutchinson",
        "--probes",
        "0",
    ]);
    assert!(e.contains("--probes"), "{e}");
}

#[test]
fn conditioning_is_checked_for_conditional_models() {
    // sbgm's mlp_qa fixture (.eqx with its JSON config; the SDE from another file).
    let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models/mlp_qa");
    let tmp = tempfile::tempdir().unwrap();
    let sde = tmp.path().join("sde.toml");
    std::fs::write(&sde, &CONFIG[..CONFIG.find("[model]").unwrap()]).unwrap();
    let out = tmp.path().join("s.npy");
    let q1 = tmp.path().join("q1.npy");
    write_npy(
        &q1,
        &HostArray::from_vec(vec![1, 2], vec![0.5f32, -0.5]).unwrap(),
    )
    .unwrap();
    let q3 = tmp.path().join("q3.npy");
    write_npy(
        &q3,
        &HostArray::from_vec(vec![3, 2], vec![0f32; 6]).unwrap(),
    )
    .unwrap();
    let a = tmp.path().join("a.npy");
    write_npy(
        &a,
        &HostArray::from_vec(vec![4, 3], vec![0.1f32; 12]).unwrap(),
    )
    .unwrap();
    let args = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "sample",
            "--checkpoint",
            s(&fx.join("model.eqx")),
            "--config",
            s(&fx.join("config.json")),
            "--sde",
            s(&sde),
            "--n",
            "4",
            "--steps",
            "10",
            "--out",
            s(&out),
            "--quiet",
        ]
        .map(String::from)
        .to_vec();
        v.extend(extra.iter().map(|x| x.to_string()));
        v
    };
    let run = |v: Vec<String>| fails(&v.iter().map(String::as_str).collect::<Vec<_>>());
    let e = run(args(&["--a", s(&a)]));
    assert!(e.contains("pass --q") && e.contains("(4, 2)"), "{e}");
    let e = run(args(&["--q", s(&q1)]));
    assert!(e.contains("pass --a"), "{e}");
    let e = run(args(&["--q", s(&q3), "--a", s(&a)]));
    assert!(
        e.contains("--q must have shape (4, 2) or (1, 2), got [3, 2]"),
        "{e}"
    );
    // One q row for all samples, one a per sample, with guidance: runs.
    let v = args(&["--q", s(&q1), "--a", s(&a), "--guidance", "1.5"]);
    ok(&v.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(read_npy(&out).unwrap().shape(), [4, 2]);
}

#[test]
fn image_models_sample_to_a_grid_and_dequantize() {
    // sbgm's Mixer2d fixture (1x8x8 images), with the SDE from a separate file.
    let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models/mixer_none");
    let tmp = tempfile::tempdir().unwrap();
    let sde = tmp.path().join("sde.toml");
    std::fs::write(&sde, &CONFIG[..CONFIG.find("[model]").unwrap()]).unwrap();
    let (eqx, config) = (fx.join("model.eqx"), fx.join("config.json"));
    let model = [
        "--checkpoint",
        s(&eqx),
        "--config",
        s(&config),
        "--sde",
        s(&sde),
        "--quiet",
    ];
    let out = tmp.path().join("x.npy");
    let png = tmp.path().join("grid.png");
    let mut args = vec!["sample", "--n", "4", "--steps", "5"];
    args.extend(model);
    args.extend(["--out", s(&out), "--png", s(&png)]);
    ok(&args);
    assert_eq!(read_npy(&out).unwrap().shape(), [4, 1, 8, 8]);
    assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));

    // Dequantized bits/dim: -logp / (D ln 2) + log2(levels / (hi - lo)), D = 64.
    let img: Vec<f32> = (0..3 * 64)
        .map(|i| (i % 256) as f32 / 127.5 - 1.0)
        .collect();
    let data = tmp.path().join("img.npy");
    write_npy(&data, &HostArray::from_vec(vec![3, 1, 8, 8], img).unwrap()).unwrap();
    let ll = tmp.path().join("ll.safetensors");
    let mut args = vec![
        "loglik",
        "--data",
        s(&data),
        "--solver",
        "euler",
        "--steps",
        "20",
    ];
    args.extend(model);
    args.extend([
        "--dequantize",
        "256",
        "--levels-range",
        "-1",
        "1",
        "--out",
        s(&ll),
        "--allow-checkpoint-extension",
    ]);
    let text = ok(&args);
    assert!(text.contains("dequantized"), "{text}");
    let ck = load_checkpoint(&ll).unwrap();
    let logp = ck.get("logp").unwrap().to_f64_vec();
    let bpd = ck.get("bpd").unwrap().to_f64_vec();
    for (l, b) in logp.iter().zip(&bpd) {
        let want = -l / (64.0 * std::f64::consts::LN_2) + (256.0f64 / 2.0).log2();
        assert!((b - want).abs() < 1e-6, "{b} vs {want}");
    }
}
