//! Training on a device mesh (`[train] mesh`): on 4 CPU devices, `{ fsdp = 4 }` and
//! `{ data = 2, fsdp = 2 }` take the same steps as 1 device while each device holds its
//! share of the split state (measured from the device buffers), the state gathered by the
//! gather program equals the devices' parts joined on the host, checkpoints of a sharded run
//! resume on 1 device and the reverse, and bad meshes are clear config errors.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use sbgm_xla::HostArray;
use sbgm_xla::exec::Target;
use sbgm_xla::io::{load_checkpoint, read_eqx_records};
use sbgm_xla::train::mesh::{Mesh, gather_dim};
use sbgm_xla::train::{Config, Engine, Setup, TrainState};

/// sbgm's ResidualNetwork on moons with AdamW and an EMA, small: its 64 × 64 weights are
/// split, its biases and the small first and last layers replicated.
const SMALL: [&str; 7] = [
    "model.width_size=64",
    "model.depth=2",
    "data.n=2000",
    "data.holdout=0.0",
    "train.batch_size=64",
    "train.steps_per_call=10",
    "train.ema_rate=0.99",
];

/// The small set-up with `extra` overrides.
fn config(extra: &[&str]) -> sbgm_xla::Result<Config> {
    let text = std::fs::read_to_string(MOONS).unwrap();
    Config::from_toml_str(&text, &[&SMALL[..], extra].concat())
}

fn engine(target: &Target, mesh: Option<Mesh>, devices: usize) -> Engine {
    let mut config = config(&[]).unwrap();
    config.train.mesh = mesh;
    let setup = Setup::new(&config).unwrap();
    let state = setup.init_state().unwrap();
    let layout = setup.layout(devices);
    let data = Arc::new(setup.data.train.clone());
    setup
        .with_parts(|obj, opt| Engine::new(target, layout, obj, opt, &state, data, 5))
        .unwrap()
}

/// 50 steps in 5 calls: the losses and the final state.
fn train(e: &mut Engine) -> (Vec<f32>, TrainState) {
    let mut losses = vec![];
    for _ in 0..5 {
        losses.extend(e.run(10).unwrap());
    }
    (losses, e.state().unwrap())
}

/// `a` and `b` agree to `tol` relative to the largest magnitude of either.
fn close(a: &[f32], b: &[f32], tol: f32, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}");
    let scale = a.iter().chain(b).fold(0f32, |m, x| m.max(x.abs()));
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol * scale, "{what}[{i}]: {x} vs {y}");
    }
}

fn same_state(a: &TrainState, b: &TrainState, tol: f32) {
    assert_eq!((a.step, a.key), (b.step, b.key));
    for (x, y) in [(&a.params, &b.params), (&a.opt, &b.opt), (&a.ema, &b.ema)] {
        assert_eq!(x.len(), y.len());
        for ((n, p), (m, q)) in x.iter().zip(y) {
            assert_eq!((n, p.shape()), (m, q.shape()));
            if p.dtype() == sbgm_xla::DType::F32 {
                close(&p.to_vec().unwrap(), &q.to_vec().unwrap(), tol, n);
            } else {
                assert_eq!(p, q, "{n}");
            }
        }
    }
}

fn leaves(s: &TrainState) -> impl Iterator<Item = &HostArray> {
    s.params.iter().chain(&s.opt).chain(&s.ema).map(|(_, a)| a)
}

#[test]
fn sharded_meshes_take_the_same_steps_as_one_device_on_a_share_of_the_memory() {
    let target = Target::cpu().unwrap();
    assert!(
        target.devices() >= 4,
        "the CPU plugin's default is 4 devices"
    );
    let (one_losses, one) = train(&mut engine(&target, None, 1));
    assert!(one_losses.iter().all(|l| l.is_finite() && *l > 0.0));
    let full_bytes: usize = leaves(&one).map(|a| a.bytes().len()).sum::<usize>() + 4 + 16;
    let data4 = engine(&target, None, 4);
    assert_eq!(data4.state_bytes_per_device().unwrap(), vec![full_bytes; 4]);
    for (mesh, fsdp) in [
        (Mesh { data: 1, fsdp: 4 }, 4),
        (Mesh { data: 2, fsdp: 2 }, 2),
    ] {
        let mut e = engine(&target, Some(mesh), 4);
        // What each device holds: the split leaves' share, all of the others. The shapes
        // come from the step program's split dimensions, the bytes from the devices.
        let init = leaves(&e.state().unwrap())
            .map(HostArray::clone)
            .collect::<Vec<_>>();
        let split = e.program().state_split.clone();
        let split_bytes: usize = init
            .iter()
            .zip(&split)
            .filter(|(_, s)| s.is_some())
            .map(|(a, _)| a.bytes().len())
            .sum();
        assert!(
            split_bytes * 10 > full_bytes * 9,
            "the 64 x 64 weights are most of the state: {split_bytes} of {full_bytes}"
        );
        let per_device = e.state_bytes_per_device().unwrap();
        assert_eq!(
            per_device,
            vec![full_bytes - split_bytes + split_bytes / fsdp; 4],
            "{mesh}"
        );
        // the compiled program's arguments are the shards
        let params = e.executable().parameters().unwrap();
        for (i, dim) in split.iter().enumerate() {
            let mut want = init
                .get(i)
                .map_or(params[i].dims.clone(), |a| a.shape().to_vec());
            if let Some(d) = dim {
                want[*d] /= fsdp;
            }
            assert_eq!(params[i].dims, want, "{mesh}: state argument {i}");
        }
        let (losses, state) = train(&mut e);
        close(&losses, &one_losses, 1e-5, &format!("{mesh} losses"));
        same_state(&state, &one, 1e-5);
        // The state comes back through the gather program (XLA's all-gathers): exactly the
        // devices' parts joined on the host.
        let gathered = leaves(&state).collect::<Vec<_>>();
        for (i, (dim, g)) in split.iter().zip(&gathered).enumerate() {
            let parts = e.local_parts(i).unwrap();
            let joined = match dim {
                Some(d) => gather_dim(&parts[mesh.one_copy()], *d).unwrap(),
                None => parts[0].clone(),
            };
            assert_eq!(&&joined, g, "{mesh}: state argument {i}");
        }
        // what the held-out loss and the sample plots run on: whole arrays on device 0
        for (ema, want) in [(false, &state.params), (true, &state.ema)] {
            let bufs = e.param_buffers(ema).unwrap();
            assert_eq!(bufs.len(), want.len());
            for (b, (n, w)) in bufs.iter().zip(want) {
                assert_eq!(b.device_index(), 0, "{n}");
                assert_eq!(&b.to_host().unwrap(), w, "{mesh}: {n} (ema: {ema})");
            }
        }
    }
}

#[test]
fn a_bad_mesh_is_a_clear_config_error() {
    let err = |overrides: &[&str]| config(overrides).unwrap_err();
    let e = err(&["train.mesh={ model = 2 }"]).to_string();
    assert!(
        e.contains("[train] mesh") && e.contains("unknown mesh axis `model`"),
        "{e}"
    );
    assert!(e.contains("data, fsdp"), "{e}");
    let e = err(&["train.mesh={ fsdp = 0 }"]).to_string();
    assert!(e.contains("fsdp = 0: use at least 1"), "{e}");

    let target = Target::cpu().unwrap();
    let build = |overrides: &[&str], devices: usize| -> String {
        let config = config(overrides).unwrap();
        let setup = Setup::new(&config).unwrap();
        let state = setup.init_state().unwrap();
        let data = Arc::new(setup.data.train.clone());
        let layout = setup.layout(devices);
        match setup.with_parts(|obj, opt| Engine::new(&target, layout, obj, opt, &state, data, 5)) {
            Ok(_) => panic!("{overrides:?} on {devices} devices was accepted"),
            Err(e) => e.to_string(),
        }
    };
    let e = build(&["train.mesh={ data = 2, fsdp = 4 }"], 4);
    assert!(
        e.contains("[train] mesh") && e.contains("has 8 devices but the run has 4"),
        "{e}"
    );
    let e = build(
        &["train.mesh={ data = 2, fsdp = 2 }", "train.batch_size=30"],
        4,
    );
    assert!(
        e.contains("batch_size = 30") && e.contains("data = 2, fsdp = 2"),
        "{e}"
    );
}

const MOONS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/configs/moons.toml");

/// `sbgm-xla train` on the moons config, small, to `steps` steps; `extra` arguments after.
fn cli_train(dir: &Path, steps: u64, extra: &[&str]) {
    let steps = format!("train.steps={steps}");
    let mut args = vec![
        "train",
        "--config",
        MOONS,
        "--run-dir",
        dir.to_str().unwrap(),
        "--quiet",
    ];
    for s in [
        "model.width_size=64",
        "model.depth=2",
        "data.n=1000",
        "train.batch_size=32",
        "train.steps_per_call=5",
        "train.sample_every=0",
        "train.eval_every=0",
        "train.checkpoint_every=0",
        steps.as_str(),
    ] {
        args.extend(["--set", s]);
    }
    args.extend(extra);
    let o = Command::new(env!("CARGO_BIN_EXE_sbgm-xla"))
        .args(&args)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{args:?}: {err}");
}

fn checkpoint(dir: &Path) -> Vec<(String, HostArray)> {
    load_checkpoint(&dir.join("checkpoint.safetensors"))
        .unwrap()
        .tensors
}

#[test]
fn sharded_checkpoints_resume_on_one_device_and_the_reverse() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = |n: &str| tmp.path().join(n);
    let fsdp4 = ["--set", "train.mesh={ fsdp = 4 }"];
    // the mesh alone asks for its 4 CPU devices; here the checkpoint is cut on 1 device
    cli_train(&dir("one"), 20, &[]);
    std::fs::create_dir(dir("ref")).unwrap();
    for f in ["checkpoint.safetensors", "config.toml", "metrics.jsonl"] {
        std::fs::copy(dir("one").join(f), dir("ref").join(f)).unwrap();
    }
    cli_train(&dir("one"), 40, &[&fsdp4[..], &["--resume"]].concat());
    cli_train(&dir("ref"), 40, &["--resume"]);
    let mesh22 = ["--set", "train.mesh={ data = 2, fsdp = 2 }"];
    cli_train(&dir("split"), 20, &mesh22);
    cli_train(&dir("split"), 40, &["--resume", "--devices", "1"]);
    let reference = checkpoint(&dir("ref"));
    for run in ["one", "split"] {
        let ck = checkpoint(&dir(run));
        assert_eq!(ck.len(), reference.len());
        for ((n, a), (m, b)) in ck.iter().zip(&reference) {
            assert_eq!(
                (n, a.shape(), a.dtype()),
                (m, b.shape(), b.dtype()),
                "{run}"
            );
            if a.dtype() == sbgm_xla::DType::F32 {
                close(&a.to_vec().unwrap(), &b.to_vec().unwrap(), 1e-5, n);
            } else {
                assert_eq!(a, b, "{run}: {n}");
            }
        }
        // model.eqx holds the whole tensors, as the one-device run's (which sbgm loads,
        // tests/interop_jax.rs)
        let eqx = read_eqx_records(&dir(run).join("model.eqx")).unwrap();
        let eqx_ref = read_eqx_records(&dir("ref").join("model.eqx")).unwrap();
        assert_eq!(eqx.len(), eqx_ref.len(), "{run}");
        let f32s = |a: &HostArray| a.to_f64_vec().iter().map(|&x| x as f32).collect::<Vec<_>>();
        for (i, (a, b)) in eqx.iter().zip(&eqx_ref).enumerate() {
            assert_eq!(
                (a.shape(), a.dtype()),
                (b.shape(), b.dtype()),
                "{run}: leaf {i}"
            );
            close(
                &f32s(a),
                &f32s(b),
                1e-5,
                &format!("{run}: model.eqx leaf {i}"),
            );
        }
    }
}
