//! Optimizers, schedules, clipping and EMA against optax/sbgm trajectories
//! (tests/fixtures/optim, written by tools/make_optim_fixtures.py).

use std::collections::HashMap;
use std::path::Path;

use sbgm_xla::graph::{Graph, Tensor};
use sbgm_xla::io::load_checkpoint;
use sbgm_xla::pjrt::{Client, CompileOptions, Executable, Program};
use sbgm_xla::train::{
    OptimConfig, Optimizer, OptimizerKind, Schedule, TensorSpec, TrainConfig, ema_update,
};
use sbgm_xla::{DType, HostArray};

const PARAMS: [&str; 3] = ["layers.0.weight", "layers.0.bias", "layers.1.weight"];
const N_STEPS: usize = 6;

fn fixture(name: &str) -> HashMap<String, HostArray> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("tests/fixtures/optim/{name}.safetensors"));
    load_checkpoint(&p).unwrap().tensors.into_iter().collect()
}

fn meta() -> serde_json::Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/optim/meta.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn compile(c: &Client, g: &Graph, outs: &[(&str, &Tensor)]) -> Executable {
    let m = g.build("f", outs).unwrap();
    c.compile(&Program::text(m.text), &CompileOptions::default())
        .unwrap()
}

/// `|got - want| <= rtol |want| + atol max|want|` elementwise, with a message naming `what`.
fn assert_close(what: &str, got: &HostArray, want: &HostArray, rtol: f64) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    let (g, w) = (got.to_f64_vec(), want.to_f64_vec());
    let scale = w.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for (i, (a, b)) in g.iter().zip(&w).enumerate() {
        let tol = rtol * b.abs() + 1e-6 * scale + 1e-30;
        assert!(
            (a - b).abs() <= tol,
            "{what}[{i}]: got {a:e}, optax {b:e} (diff {:e}, tol {tol:e})",
            (a - b).abs()
        );
    }
}

/// The optimizer (and EMA rate) of each fixture case, built from a `[train]`-style TOML
/// config so that the config path is tested too.
fn case_config(case: &str) -> (Optimizer, Option<f64>) {
    let toml_text = match case {
        "adam" => "optimizer = \"adam\"\nlr = 1e-3",
        "adamw_default" => "optimizer = \"adamw\"\nlr = 1e-3",
        "adamw_wd" => "optimizer = \"adamw\"\nlr = 1e-2\nweight_decay = 0.1",
        "adabelief" => "optimizer = \"adabelief\"\nlr = 1e-3",
        "clip_adamw" => "optimizer = \"adamw\"\nlr = 1e-3\nclip_norm = 1.0",
        "adam_constant_schedule" => "optimizer = \"adam\"\nlr = 1e-3\nschedule = \"constant\"",
        "adamw_warmup_cosine" => {
            "optimizer = \"adamw\"\nlr = 1e-2\nschedule = \"warmup_cosine\"\n\
             init_lr = 0.0\nwarmup_steps = 2\ndecay_steps = 5\nend_lr = 1e-4"
        }
        "ema_0.999" => "optimizer = \"adamw\"\nlr = 1e-3\nema_rate = 0.999",
        "ema_0.9" => "optimizer = \"adamw\"\nlr = 1e-2\nweight_decay = 0.1\nema_rate = 0.9",
        other => panic!("unknown case {other}"),
    };
    let table: toml::Table = toml::from_str(toml_text).unwrap();
    let cfg = TrainConfig::from_table(table).unwrap().optim;
    let ema = if case.starts_with("ema_") {
        cfg.ema().unwrap()
    } else {
        None
    };
    (cfg.optimizer().unwrap(), ema)
}

/// Our state name for an optax state leaf path (`0.mu.layers.0.weight` -> `opt.mu.layers.0.weight`,
/// `1.0.count` -> `opt.count`; a schedule's own count `k.count` equals the optimizer's count).
fn our_state_name(optax_path: &str) -> String {
    let parts: Vec<&str> = optax_path.split('.').collect();
    let i = parts
        .iter()
        .position(|p| *p == "count" || *p == "mu" || *p == "nu")
        .unwrap();
    format!("opt.{}", parts[i..].join("."))
}

const CASES: [&str; 9] = [
    "adam",
    "adamw_default",
    "adamw_wd",
    "adabelief",
    "clip_adamw",
    "adam_constant_schedule",
    "adamw_warmup_cosine",
    "ema_0.999",
    "ema_0.9",
];

/// Traces one step of one case into `g`: inputs `<case>.{param,ema,grad}.<leaf>` and
/// `<case>.state.<state name>` (declared in `inputs`' order), outputs the same names for the
/// new values plus `<case>.update.<leaf>`, `<case>.lr` and `<case>.grad_norm`. Also returns
/// the initial values: the fixture's parameters, optax's init state, EMA = parameters (sbgm
/// deep-copies the initial model).
fn trace_case(
    g: &Graph,
    case: &str,
    f: &HashMap<String, HostArray>,
    inputs: &mut Vec<String>,
    outs: &mut Vec<(String, Tensor)>,
    init: &mut HashMap<String, HostArray>,
) {
    let (opt, ema_rate) = case_config(case);
    let specs: Vec<TensorSpec> = PARAMS
        .iter()
        .map(|n| {
            let a = &f[&format!("param.{n}")];
            TensorSpec::new(*n, a.shape(), a.dtype())
        })
        .collect();
    let mut input = |name: String, s: &TensorSpec| {
        inputs.push(name.clone());
        g.parameter(&name, &s.dims, s.dtype).unwrap()
    };
    let params: Vec<Tensor> = specs
        .iter()
        .map(|s| input(format!("{case}.param.{}", s.name), s))
        .collect();
    let ema: Vec<Tensor> = specs
        .iter()
        .map(|s| input(format!("{case}.ema.{}", s.name), s))
        .collect();
    let grads: Vec<Tensor> = specs
        .iter()
        .map(|s| input(format!("{case}.grad.{}", s.name), s))
        .collect();
    let state_specs = opt.state_specs(&specs).unwrap();
    let state: Vec<Tensor> = state_specs
        .iter()
        .map(|s| input(format!("{case}.state.{}", s.name), s))
        .collect();

    let step = opt.update(&params, &grads, &state).unwrap();
    let ema = ema_update(&ema, &step.params, ema_rate.unwrap_or(0.5)).unwrap();
    for (i, n) in PARAMS.iter().enumerate() {
        outs.push((format!("{case}.param.{n}"), step.params[i].clone()));
        outs.push((format!("{case}.update.{n}"), step.updates[i].clone()));
        outs.push((format!("{case}.ema.{n}"), ema[i].clone()));
        let p0 = &f[&format!("param.{n}")];
        init.insert(format!("{case}.param.{n}"), p0.clone());
        init.insert(format!("{case}.ema.{n}"), p0.clone());
    }
    for ((n, a), t) in opt.init_state(&specs).unwrap().into_iter().zip(&step.state) {
        outs.push((format!("{case}.state.{n}"), t.clone()));
        init.insert(format!("{case}.state.{n}"), a);
    }
    outs.push((format!("{case}.lr"), step.lr.clone()));
    outs.push((format!("{case}.grad_norm"), step.grad_norm.clone()));
}

fn check_step(
    case: &str,
    k: usize,
    f: &HashMap<String, HostArray>,
    meta: &serde_json::Value,
    got: &HashMap<String, HostArray>,
) {
    let has_ema = case.starts_with("ema_");
    let rtol = 2e-5;
    let ours = |what: &str| &got[&format!("{case}.{what}")];
    for n in PARAMS {
        for what in ["param", "update"]
            .into_iter()
            .chain(has_ema.then_some("ema"))
        {
            assert_close(
                &format!("{case} step {k} {what} {n}"),
                ours(&format!("{what}.{n}")),
                &f[&format!("step.{k}.{what}.{n}")],
                rtol,
            );
        }
    }
    for leaf in meta["cases"][case]["state_leaves"].as_array().unwrap() {
        let leaf = leaf.as_str().unwrap();
        let o = ours(&format!("state.{}", our_state_name(leaf)));
        let want = &f[&format!("step.{k}.state.{leaf}")];
        if leaf.ends_with("count") {
            assert_eq!(o.dtype(), DType::I32);
            assert_eq!(
                o.to_vec::<i32>().unwrap(),
                want.to_vec::<i32>().unwrap(),
                "{case} step {k} {leaf}"
            );
        } else {
            assert_close(&format!("{case} step {k} state {leaf}"), o, want, rtol);
        }
    }
    let want_lr = match f.get(&format!("step.{k}.lr")) {
        Some(lr) => lr.clone(),
        None => HostArray::scalar(
            meta["cases"][case]["hyperparameters"]["lr"]
                .as_f64()
                .unwrap() as f32,
        ),
    };
    assert_close(&format!("{case} step {k} lr"), ours("lr"), &want_lr, 1e-6);
    let norm = ours("grad_norm").to_f64_vec()[0];
    let want_norm = meta["grad_global_norms"][k].as_f64().unwrap();
    assert!(
        (norm - want_norm).abs() <= 1e-6 * want_norm,
        "{case} step {k}: grad norm {norm} vs {want_norm}"
    );
}

/// Every case traced into one one-step program (one compile), run six times from the
/// fixture's initial parameters with its gradients; our own state is carried from step to
/// step, and every step is compared with optax's.
#[test]
fn optimizers_follow_optax_trajectories() {
    let client = Client::cpu().unwrap();
    let meta = meta();
    let g = Graph::new();
    let fixtures: Vec<HashMap<String, HostArray>> = CASES.iter().map(|c| fixture(c)).collect();
    let (mut inputs, mut outs, mut cur) = (vec![], vec![], HashMap::new());
    for (case, f) in CASES.iter().zip(&fixtures) {
        trace_case(&g, case, f, &mut inputs, &mut outs, &mut cur);
    }
    let refs: Vec<(&str, &Tensor)> = outs.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let exe = compile(&client, &g, &refs);
    for k in 0..N_STEPS {
        for (case, f) in CASES.iter().zip(&fixtures) {
            for n in PARAMS {
                cur.insert(
                    format!("{case}.grad.{n}"),
                    f[&format!("grad.{k}.{n}")].clone(),
                );
            }
        }
        let args: Vec<HostArray> = inputs.iter().map(|n| cur[n].clone()).collect();
        let got: HashMap<String, HostArray> = outs
            .iter()
            .map(|(n, _)| n.clone())
            .zip(exe.run_host(&args).unwrap())
            .collect();
        for (case, f) in CASES.iter().zip(&fixtures) {
            check_step(case, k, f, &meta, &got);
        }
        for (n, a) in got {
            if cur.contains_key(&n) {
                cur.insert(n, a);
            }
        }
    }
}

#[test]
fn schedules_match_optax() {
    let client = Client::cpu().unwrap();
    let f = fixture("schedules");
    let cases = [
        ("constant_1e-3", Schedule::Constant(1e-3)),
        (
            "warmup_cosine",
            Schedule::warmup_cosine(0.0, 1e-2, 2, 5, 1e-4).unwrap(),
        ),
        (
            "warmup_cosine_long",
            Schedule::warmup_cosine(1e-5, 3e-4, 5, 20, 1e-6).unwrap(),
        ),
    ];
    let g = Graph::new();
    let count = g.parameter("count", &[], DType::I32).unwrap();
    let values: Vec<Tensor> = cases
        .iter()
        .map(|(_, s)| s.value(&count, DType::F32).unwrap())
        .collect();
    let outs: Vec<(&str, &Tensor)> = cases.iter().map(|(n, _)| *n).zip(values.iter()).collect();
    let exe = compile(&client, &g, &outs);
    let n = f["constant_1e-3"].len();
    assert_eq!(n, 24);
    // got[k][c]: case c at step k.
    let got: Vec<Vec<f64>> = (0..n)
        .map(|k| {
            let out = exe.run_host(&[HostArray::scalar(k as i32)]).unwrap();
            out.iter().map(|o| o.to_f64_vec()[0]).collect()
        })
        .collect();
    for (c, (name, sched)) in cases.iter().enumerate() {
        let want = f[*name].to_f64_vec();
        for k in 0..n {
            // The traced value repeats optax's f32 arithmetic op for op; the fixture was
            // computed eagerly and differs from jax.jit(schedule) by a few ulps where the
            // cosine part cancels (step 15 of the long schedule: 7.5749995e-5 eager,
            // 7.5749966e-5 jitted, which is our value; at most 1e-7 of the peak value).
            let peak = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            let tol = 1e-6 * want[k].abs() + 3e-7 * peak;
            assert!(
                (got[k][c] - want[k]).abs() <= tol,
                "{name}[{k}]: {} vs optax {}",
                got[k][c],
                want[k]
            );
            // The host value is the same formula in f64.
            assert!(
                (sched.value_host(k as u64) - want[k]).abs() <= 1e-6 * want[k].abs() + 1e-9,
                "{name}[{k}] host"
            );
        }
    }
}

#[test]
fn state_names_and_init() {
    let specs = [
        TensorSpec::new("a.weight", &[2, 3], DType::F32),
        TensorSpec::new("a.bias", &[2], DType::F32),
    ];
    let opt = Optimizer::adam(1e-3);
    let names: Vec<String> = opt
        .state_specs(&specs)
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(
        names,
        [
            "opt.count",
            "opt.mu.a.weight",
            "opt.mu.a.bias",
            "opt.nu.a.weight",
            "opt.nu.a.bias"
        ]
    );
    let init = opt.init_state(&specs).unwrap();
    assert_eq!(init[0].1.dtype(), DType::I32);
    assert_eq!(init[0].1.shape(), &[] as &[usize]);
    assert_eq!(init[1].1.shape(), &[2, 3]);
    assert!(
        init.iter()
            .all(|(_, a)| a.to_f64_vec().iter().all(|v| *v == 0.0))
    );
    // Duplicate and integer parameters are refused with the name in the message.
    let dup = [specs[0].clone(), specs[0].clone()];
    assert!(
        opt.state_specs(&dup)
            .unwrap_err()
            .to_string()
            .contains("a.weight")
    );
    let int = [TensorSpec::new("steps", &[], DType::I32)];
    assert!(
        opt.state_specs(&int)
            .unwrap_err()
            .to_string()
            .contains("steps")
    );
}

#[test]
fn update_rejects_mismatched_inputs() {
    let opt = Optimizer::adamw(1e-3);
    let g = Graph::new();
    let p = g.parameter("p", &[2, 3], DType::F32).unwrap();
    let bad_grad = g.parameter("g", &[3, 2], DType::F32).unwrap();
    let state = opt.declare_state(&g, &[TensorSpec::of("p", &p)]).unwrap();
    let e = opt
        .update(std::slice::from_ref(&p), &[bad_grad], &state)
        .unwrap_err()
        .to_string();
    assert!(e.contains("gradient"), "{e}");
    let grad = g.parameter("g2", &[2, 3], DType::F32).unwrap();
    let e = opt
        .update(
            std::slice::from_ref(&p),
            std::slice::from_ref(&grad),
            &state[..2],
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("state has 2 tensors"), "{e}");
    let e = opt
        .update(&[p], &[grad.clone(), grad], &state)
        .unwrap_err()
        .to_string();
    assert!(e.contains("1 parameters but 2 gradients"), "{e}");
}

#[test]
fn config_errors_name_the_key_and_allowed_values() {
    let err = |s: &str| -> String {
        let t: toml::Table = toml::from_str(s).unwrap();
        match TrainConfig::from_table(t) {
            Ok(_) => panic!("accepted {s:?}"),
            Err(e) => e.to_string(),
        }
    };
    let e = err("optimizer = \"sgd\"");
    assert!(
        e.contains("sgd") && e.contains("adam") && e.contains("adamw") && e.contains("adabelief"),
        "{e}"
    );
    let e = err("schedule = \"linear\"");
    assert!(e.contains("constant") && e.contains("warmup_cosine"), "{e}");
    let e = err("optimizer = \"adam\"\nweight_decay = 0.1");
    assert!(e.contains("weight_decay") && e.contains("adamw"), "{e}");
    let e = err("schedule = \"warmup_cosine\"\nwarmup_steps = 10");
    assert!(e.contains("decay_steps"), "{e}");
    let e = err("schedule = \"warmup_cosine\"\nwarmup_steps = 10\ndecay_steps = 10");
    assert!(e.contains("decay_steps") && e.contains("larger"), "{e}");
    let e = err("warmup_steps = 10");
    assert!(
        e.contains("warmup_steps") && e.contains("warmup_cosine"),
        "{e}"
    );
    let e = err("b1 = 1.5");
    assert!(e.contains("b1") && e.contains("[0, 1)"), "{e}");
    let e = err("clip_norm = -1.0");
    assert!(e.contains("clip_norm"), "{e}");
    let e = err("ema_rate = 2.0");
    assert!(e.contains("ema_rate"), "{e}");
    let e = err("lr = \"fast\"");
    assert!(e.contains("lr"), "{e}");

    // Unknown keys: `[train]` refuses them, naming the key and the known ones (the loop's
    // and the optimizer's); deserialising the optimizer's keys alone refuses them too.
    let e = err("lr = 1e-3\nn_steps = 10");
    assert!(
        e.contains("n_steps") && e.contains("steps") && e.contains("lr"),
        "{e}"
    );
    // The optimizer's keys and the loop's are read from one `[train]` table into their parts.
    let t: toml::Table = toml::from_str("lr = 1e-3\nsteps = 10").unwrap();
    let cfg = TrainConfig::from_table(t).unwrap();
    assert_eq!((cfg.optim.lr, cfg.steps), (1e-3, 10));
    let e = toml::from_str::<OptimConfig>("lr = 1e-3\nlearning_rate = 1")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("learning_rate") && e.contains("optimizer"),
        "{e}"
    );

    // Defaults: sbgm's benchmark optimizer (optax.adamw(1e-3)) with EMA 0.999.
    let d: OptimConfig = toml::from_str("").unwrap();
    assert_eq!(d, OptimConfig::default());
    let o = d.optimizer().unwrap();
    assert_eq!(o.kind, OptimizerKind::AdamW);
    assert_eq!(
        (o.b1, o.b2, o.eps, o.eps_root, o.weight_decay),
        (0.9, 0.999, 1e-8, 0.0, 1e-4)
    );
    assert_eq!(d.ema().unwrap(), Some(0.999));
    let ab: OptimConfig = toml::from_str("optimizer = \"adabelief\"\nuse_ema = false").unwrap();
    let o = ab.optimizer().unwrap();
    assert_eq!((o.eps, o.eps_root, o.weight_decay), (1e-16, 1e-16, 0.0));
    assert_eq!(ab.ema().unwrap(), None);

    // A config survives a TOML round trip.
    let c: OptimConfig = toml::from_str(
        "optimizer = \"adamw\"\nlr = 3e-4\nschedule = \"warmup_cosine\"\nwarmup_steps = 5\ndecay_steps = 20\nclip_norm = 1.0",
    )
    .unwrap();
    let back: OptimConfig = toml::from_str(&toml::to_string(&c).unwrap()).unwrap();
    assert_eq!(back, c);
}
