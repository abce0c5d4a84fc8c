//! Every config in `configs/`, end to end as a user runs it: `train` a few steps at a tiny
//! size, then `sample`, `score`, `loglik`, `convert`, `inspect` (and `evaluate` for field runs) on the run directory alone,
//! unconditioned and conditioned on the labels (`labels_as = "q"` and `"a"`, with guidance).
//!
//! A run directory must be usable on its own: its checkpoint stores the resolved model, the
//! data scaling and the value range, and no inference command reads the training data (a
//! checkpoint's `[data]` is never loaded; an older checkpoint without them needs `--config`).

use sbgm_xla::HostArray;
use sbgm_xla::data::{DatasetKind, Transform};
use sbgm_xla::io::npy::{read_npy, write_npy};
use sbgm_xla::io::{load_checkpoint, save_checkpoint};
use sbgm_xla::train::Config;
use sbgm_xla::train::config::LabelsAs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Samples drawn, scored and measured per run.
const N: usize = 3;

/// Overrides that make any config's run tiny (besides the model's, see [`small_model`]).
const SMALL_RUN: [&str; 7] = [
    "data.n=256",
    "train.steps=2",
    "train.steps_per_call=2",
    "train.batch_size=16",
    "train.eval_every=0",
    "train.sample_every=0",
    "train.checkpoint_every=0",
];

/// Overrides that make a model of `kind` tiny (a new kind needs its line here).
fn small_model(kind: &str) -> &'static [&'static str] {
    match kind {
        "mlp" => &["model.width_size=16", "model.depth=1"],
        "mixer" => &[
            "model.hidden_size=8",
            "model.mix_patch_size=8",
            "model.mix_hidden_size=8",
            "model.num_blocks=1",
        ],
        "unet" => &[
            "model.dim=8",
            "model.dim_mults=[1]",
            "model.attn_dim_head=4",
            "model.attn_heads=1",
        ],
        "dit" => &["model.embed_dim=8", "model.depth=1", "model.n_heads=1"],
        k => panic!("no small settings for model kind '{k}': add them to small_model()"),
    }
}

/// Overrides that make a data set small: users' on-disk sets are replaced by small files in
/// the real format, generated images are smaller (a new data set that needs either has its
/// line here).
fn small_data(dataset: DatasetKind) -> Vec<String> {
    let fixture = |f: &str| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/data")
            .join(f);
        format!("data.path={:?}", path.to_string_lossy())
    };
    match dataset {
        DatasetKind::Cifar10 => vec![fixture("cifar-10-python.tar.gz")],
        DatasetKind::Flowers102 => vec![fixture(""), "data.n_pix=16".into()],
        DatasetKind::Images => vec![fixture("imagefolder"), "data.n_pix=16".into()],
        DatasetKind::Grfs => vec!["data.n_fields=512".into(), "data.n_pix=16".into()],
        _ => vec![],
    }
}

fn sbgm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sbgm-xla"))
        .args(args)
        .output()
        .expect("run sbgm-xla")
}

/// Runs the command, asserting success; its stdout.
fn ok(args: &[&str]) -> String {
    let o = sbgm(args);
    assert!(
        o.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Runs the command, asserting a clean failure (`error: ...`, exit code 1); its stderr.
fn fails(args: &[&str]) -> String {
    let o = sbgm(args);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    assert!(err.starts_with("error: "), "{args:?}: {err}");
    err
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

fn configs() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("configs/")
        .map(|e| e.expect("configs/ entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    v.sort();
    assert!(v.len() >= 4, "configs/ holds {v:?}");
    v
}

/// One run to check: a config, with overrides.
struct Case {
    config: PathBuf,
    overrides: Vec<String>,
}

impl Case {
    /// `config` made tiny; conditional runs get conditioning dropout (for guidance).
    fn new(config: PathBuf, labels_as: Option<&str>) -> Case {
        let kind = Config::from_file(&config, &[]).expect("a valid shipped config");
        let mut overrides: Vec<String> = SMALL_RUN
            .iter()
            .chain(small_model(kind.model.kind()))
            .map(|o| o.to_string())
            .collect();
        overrides.extend(small_data(kind.data.dataset));
        if let Some(l) = labels_as {
            overrides.push(format!("train.labels_as=\"{l}\""));
        }
        let mut case = Case { config, overrides };
        if case.resolved().train.labels_as != LabelsAs::None {
            case.overrides.push("train.cond_dropout=0.2".into());
        }
        case
    }

    fn resolved(&self) -> Config {
        Config::from_file(&self.config, &self.overrides).expect("the overrides fit the config")
    }

    fn name(&self) -> String {
        let stem = self
            .config
            .file_stem()
            .expect("file name")
            .to_string_lossy();
        match self.resolved().train.labels_as {
            LabelsAs::None => stem.into_owned(),
            l => format!("{stem}_{l:?}").to_lowercase(),
        }
    }

    /// Trains in `dir/<name>`; the run directory.
    fn train(&self, dir: &Path) -> PathBuf {
        let run = dir.join(self.name());
        let mut args = vec!["train", "--config", s(&self.config), "--run-dir", s(&run)];
        args.push("--quiet");
        for o in &self.overrides {
            args.extend(["--set", o]);
        }
        let o = sbgm(&args);
        assert!(
            o.status.success(),
            "{}: {}",
            self.name(),
            String::from_utf8_lossy(&o.stderr)
        );
        run
    }

    /// Trains, then uses the run directory as a user does, checking every output.
    fn check(&self, dir: &Path) {
        let name = self.name();
        let cfg = self.resolved();
        let data = cfg.data.load().expect("the config's data");
        let shape = data.train.data_shape().to_vec();
        let run = self.train(dir);
        let out = |f: &str| dir.join(format!("{name}_{f}"));

        // the conditioning flags: the label column as q or a
        let cond_file = out("labels.npy");
        write_npy(
            &cond_file,
            &HostArray::from_vec(vec![N, 1], vec![0f32, 1., 0.][..N].to_vec()).unwrap(),
        )
        .unwrap();
        let mut cond: Vec<&str> = match cfg.train.labels_as {
            LabelsAs::None => vec![],
            LabelsAs::Q => vec!["--q", s(&cond_file)],
            LabelsAs::A => vec!["--a", s(&cond_file)],
        };
        // a data set's own conditioning (a field q, parameters a): the first held-out rows
        let (q_file, a_file) = (out("q.npy"), out("a.npy"));
        for (flag, file, array) in [
            ("--q", &q_file, data.holdout.q()),
            ("--a", &a_file, data.holdout.a()),
        ] {
            if let Some(array) = array {
                let rows = array.slice_axis(ndarray::Axis(0), ndarray::Slice::from(..N));
                let host =
                    HostArray::from_vec(rows.shape().to_vec(), rows.iter().copied().collect())
                        .unwrap();
                write_npy(file, &host).unwrap();
                cond.extend([flag, s(file)]);
            }
        }
        let model_flags = |ck: &Path, extra: &[&str]| -> Vec<String> {
            let mut v: Vec<String> = ["--checkpoint", s(ck)].map(String::from).to_vec();
            v.extend(cond.iter().chain(extra).map(|a| a.to_string()));
            v
        };
        let run_sbgm = |cmd: &str, args: Vec<String>| -> String {
            let mut a = vec![cmd];
            a.extend(args.iter().map(String::as_str));
            ok(&a)
        };

        // sample: data space (the stored scaling) and model space, same draws
        let n = N.to_string();
        let sample_args = ["--n", &n, "--steps", "2", "--seed", "1", "--quiet"];
        let (x_data, x_model, png) = (out("x.npy"), out("x_model.npy"), out("x.png"));
        let flags = [&sample_args[..], &["--out", s(&x_data), "--png", s(&png)]].concat();
        run_sbgm("sample", model_flags(&run, &flags));
        let flags = [&sample_args[..], &["--out", s(&x_model), "--model-space"]].concat();
        run_sbgm("sample", model_flags(&run, &flags));
        let xd = read_npy(&x_data).unwrap();
        let xm = read_npy(&x_model).unwrap();
        let want: Vec<usize> = std::iter::once(N).chain(shape.iter().copied()).collect();
        assert_eq!(xd.shape(), &want[..], "{name}: samples' shape");
        assert_eq!(xm.shape(), &want[..], "{name}: model-space samples' shape");
        assert!(png.is_file(), "{name}: no --png");
        assert_in_data_space(&name, &xd, &xm, &data.transform);

        // guidance, for the conditional runs (trained with conditioning dropout)
        if cfg.train.labels_as != LabelsAs::None {
            let g = out("guided.npy");
            let flags = [&sample_args[..], &["--guidance", "1.5", "--out", s(&g)]].concat();
            run_sbgm("sample", model_flags(&run, &flags));
            let g = read_npy(&g).unwrap();
            assert_eq!(g.shape(), &want[..], "{name}: guided samples' shape");
            assert_finite(&name, "guided samples", &g);
        }

        // score on the model-space samples
        let t = out("t.npy");
        write_npy(
            &t,
            &HostArray::from_vec(vec![N], vec![0.1f32, 0.5, 0.9]).unwrap(),
        )
        .unwrap();
        let score = out("score.npy");
        let flags = ["--t", s(&t), "--x", s(&x_model), "--out", s(&score)];
        run_sbgm("score", model_flags(&run, &flags));
        let sc = read_npy(&score).unwrap();
        assert_eq!(sc.shape(), &want[..], "{name}: scores' shape");
        assert_finite(&name, "scores", &sc);

        // loglik of the data-space samples
        let ll = out("ll.npy");
        let flags = [
            "--data",
            s(&x_data),
            "--method",
            "hutchinson",
            "--solver",
            "euler",
            "--steps",
            "2",
            "--quiet",
            "--out",
            s(&ll),
        ];
        run_sbgm("loglik", model_flags(&run, &flags));
        let l = read_npy(&ll).unwrap();
        assert_eq!(l.shape(), &[N], "{name}: log-likelihoods' shape");
        assert_finite(&name, "log-likelihoods", &l);

        // inspect: the run's model matches; the scaling and value range are stored
        let report = ok(&["inspect", s(&run), "--json"]);
        let report: serde_json::Value = serde_json::from_str(&report).unwrap();
        assert_eq!(report["model"]["matches"], true, "{name}: {report}");
        let meta = &report["metadata"];
        let stored: Transform =
            serde_json::from_str(meta["transform"].as_str().expect("transform")).unwrap();
        assert_eq!(stored, data.transform, "{name}: the stored scaling");
        match data.train.value_range() {
            Some((lo, hi)) => {
                let r: (f32, f32) =
                    serde_json::from_str(meta["value_range"].as_str().expect("range")).unwrap();
                assert_eq!(r, (lo, hi), "{name}: the stored value range");
            }
            None => assert!(meta.get("value_range").is_none(), "{name}: {meta}"),
        }

        // convert: the model file alone gives the same scores and data-space samples; the
        // .eqx file matches with the run's config
        let (st, eqx) = (out("model.safetensors"), out("model.eqx"));
        ok(&["convert", s(&run), s(&st)]);
        ok(&["convert", s(&run), s(&eqx)]);
        let score2 = out("score2.npy");
        let flags = ["--t", s(&t), "--x", s(&x_model), "--out", s(&score2)];
        run_sbgm("score", model_flags(&st, &flags));
        assert_eq!(
            read_npy(&score2).unwrap(),
            sc,
            "{name}: scores of the converted file"
        );
        let x2 = out("x2.npy");
        let flags = [&sample_args[..], &["--out", s(&x2)]].concat();
        run_sbgm("sample", model_flags(&st, &flags));
        assert_eq!(
            read_npy(&x2).unwrap(),
            xd,
            "{name}: samples of the converted file"
        );
        let config = run.join("config.toml");
        let report = ok(&["inspect", s(&eqx), "--config", s(&config)]);
        assert!(report.contains("every leaf matches"), "{name}: {report}");

        // evaluate: a field run is judged on its held-out fields
        if cfg.data.dataset == DatasetKind::Grfs {
            // --out-dir need not exist yet: evaluate makes it
            let eval_dir = out("evaluate").join("plots");
            let args = ["--checkpoint", s(&run), "--n", "3", "--steps", "2"];
            ok(&[
                &["evaluate"],
                &args[..],
                &["--out-dir", s(&eval_dir), "--quiet"],
            ]
            .concat());
            let text = std::fs::read_to_string(eval_dir.join("evaluate.json")).unwrap();
            let e: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(e["n"], 3, "{name}: {e}");
            for key in [
                "k",
                "power_samples",
                "power_data",
                "power_ratio",
                "cross_correlation",
            ] {
                let v = e[key].as_array().expect(key);
                assert_eq!(v.len(), shape[1] / 2, "{name}: {key}, one per |k| bin");
                assert!(
                    v.iter().all(|x| x.as_f64().is_some_and(f64::is_finite)),
                    "{name}: {key}: {v:?}"
                );
            }
            for png in ["spectra", "r", "hist"] {
                assert!(
                    eval_dir.join(format!("evaluate_{png}.png")).is_file(),
                    "{name}"
                );
            }
        }
    }
}

fn assert_finite(name: &str, what: &str, a: &HostArray) {
    let v = a.to_f64_vec();
    assert!(v.iter().all(|x| x.is_finite()), "{name}: {what}: {v:?}");
}

/// Data-space samples are the model-space ones mapped back with the data's scaling.
fn assert_in_data_space(name: &str, data: &HostArray, model: &HostArray, t: &Transform) {
    assert_finite(name, "samples", data);
    for (d, m) in data.to_f64_vec().iter().zip(model.to_f64_vec()) {
        let back = f64::from(t.reverse(m as f32));
        assert!(
            (d - back).abs() <= 1e-5 * (1.0 + back.abs()),
            "{name}: data-space sample {d}, model-space {m} maps back to {back} ({t:?})"
        );
    }
}

/// Runs the cases at once (each trains and runs its commands in its own processes).
fn check_all(cases: &[Case]) {
    let tmp = tempfile::tempdir().unwrap();
    std::thread::scope(|scope| {
        for case in cases {
            scope.spawn(|| case.check(tmp.path()));
        }
    });
}

#[test]
fn every_shipped_config_trains_and_its_run_serves_every_command() {
    let cases: Vec<Case> = configs().into_iter().map(|c| Case::new(c, None)).collect();
    assert!(
        cases
            .iter()
            .any(|c| c.resolved().train.labels_as == LabelsAs::Q),
        "a shipped config conditions on q"
    );
    check_all(&cases);
}

#[test]
fn runs_conditioned_on_a_serve_every_command() {
    let config = |name: &str| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("configs")
            .join(name)
    };
    check_all(&[
        Case::new(config("moons_cond.toml"), Some("a")),
        Case::new(config("digits.toml"), Some("a")),
    ]);
}

/// A tiny run of `configs/<name>` in `dir`.
fn tiny_run(dir: &Path, name: &str) -> PathBuf {
    let config = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("configs")
        .join(name);
    Case::new(config, None).train(dir)
}

/// Rewrites the metadata of the run's checkpoint.
fn edit_metadata(run: &Path, edit: impl FnOnce(&mut std::collections::BTreeMap<String, String>)) {
    let path = run.join("checkpoint.safetensors");
    let mut ck = load_checkpoint(&path).unwrap();
    edit(&mut ck.metadata);
    save_checkpoint(&path, &ck).unwrap();
}

#[test]
fn a_checkpoints_stored_data_section_is_never_loaded() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // the stored configs name a data file that does not exist: opening it would fail
    let never = d.join("never-opened.npz");
    let data = format!("[data]\ndataset = \"file\"\npath = {:?}\n", s(&never));
    let q = d.join("q.npy");
    write_npy(
        &q,
        &HostArray::from_vec(vec![2, 1], vec![1f32, 0.]).unwrap(),
    )
    .unwrap();
    let t = d.join("t.npy");
    write_npy(&t, &HostArray::from_vec(vec![], vec![0.5f32]).unwrap()).unwrap();
    for (config, cond) in [
        ("moons.toml", vec![]),
        ("moons_cond.toml", vec!["--q", s(&q)]),
    ] {
        let run = tiny_run(d, config);
        edit_metadata(&run, |meta| {
            assert!(meta.contains_key("config"));
            for key in ["config", "model_config"] {
                if let Some(text) = meta.get(key) {
                    let mut table: toml::Table = text.parse().unwrap();
                    table.remove("data");
                    meta.insert(key.into(), format!("{data}\n{table}"));
                }
            }
        });
        let r = s(&run);
        let with = |cmd: &str, args: &[&str]| -> Vec<String> {
            let mut v = vec![cmd, "--checkpoint", r];
            v.extend(cond.iter().chain(args));
            v.into_iter().map(String::from).collect()
        };
        let run_ok = |args: Vec<String>| ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let x = d.join("x.npy");
        let flags = ["--n", "2", "--steps", "2", "--quiet", "--out", s(&x)];
        run_ok(with("sample", &flags));
        let sc = d.join("s.npy");
        let flags = ["--t", s(&t), "--x", s(&x), "--out", s(&sc)];
        run_ok(with("score", &flags));
        let flags = [
            "--data",
            s(&x),
            "--method",
            "hutchinson",
            "--solver",
            "euler",
        ];
        run_ok(with(
            "loglik",
            &[&flags[..], &["--steps", "2", "--quiet"]].concat(),
        ));
        let converted = d.join(format!("{config}.safetensors"));
        ok(&["convert", r, s(&converted)]);
        let report = ok(&["inspect", r]);
        assert!(report.contains("every leaf matches"), "{config}: {report}");
        assert!(!never.exists());
    }
}

#[test]
fn an_older_checkpoint_without_the_resolved_model_asks_for_config() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tiny_run(tmp.path(), "moons_cond.toml");
    edit_metadata(&run, |meta| {
        for key in ["model_config", "transform", "value_range"] {
            meta.remove(key);
        }
    });
    let q = tmp.path().join("q.npy");
    write_npy(&q, &HostArray::from_vec(vec![1, 1], vec![1f32]).unwrap()).unwrap();
    let x = tmp.path().join("x.npy");
    let args = [
        "sample",
        "--checkpoint",
        s(&run),
        "--q",
        s(&q),
        "--n",
        "2",
        "--steps",
        "2",
        "--quiet",
        "--out",
        s(&x),
    ];
    let err = fails(&args);
    assert!(
        err.contains("--config") && err.contains("config.toml"),
        "{err}"
    );
    assert!(!x.exists());
    // the run's own config, given by the user, is set up as training did (labels as q)
    let config = run.join("config.toml");
    ok(&[&args[..], &["--config", s(&config)]].concat());
    assert_eq!(read_npy(&x).unwrap().shape(), &[2, 2]);
}
