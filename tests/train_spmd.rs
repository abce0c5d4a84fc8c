//! The training engine on 1 and 4 SPMD devices, with the batch drawn on the device or
//! streamed from the host: the same losses and parameters to float tolerance.

mod train_common;

use std::sync::Arc;

use sbgm_xla::data::{DataSpec, DatasetKind};
use sbgm_xla::exec::Target;
use sbgm_xla::train::LossWeight;
use sbgm_xla::train::step::{Objective, StepLayout, UpdateRule};
use sbgm_xla::train::{Engine, TrainState};
use train_common as tc;

fn moons(n: usize) -> Arc<sbgm_xla::data::Dataset> {
    let mut spec = DataSpec::new(DatasetKind::Moons);
    spec.n = Some(n);
    Arc::new(spec.load().unwrap().train)
}

fn train(
    client: &Target,
    layout: StepLayout,
    ds: Arc<sbgm_xla::data::Dataset>,
    calls: &[usize],
) -> (Vec<f32>, TrainState) {
    let sde = tc::vp();
    let obj = Objective {
        score: &tc::score,
        sde: &sde,
        weight: &LossWeight::Sde,
    };
    let opt = UpdateRule {
        state: tc::opt_shapes(),
        update: &tc::sgdm,
    };
    let mut e = Engine::new(client, layout, &obj, &opt, &tc::init_state(true), ds, 7).unwrap();
    let mut losses = vec![];
    for &n in calls {
        losses.extend(e.run(n).unwrap());
    }
    (losses, e.state().unwrap())
}

fn close(a: &[f32], b: &[f32], tol: f32, what: &str) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol * (1.0 + x.abs().max(y.abs())),
            "{what}[{i}]: {x} vs {y}"
        );
    }
}

fn compare(a: &(Vec<f32>, TrainState), b: &(Vec<f32>, TrainState), tol: f32) {
    close(&a.0, &b.0, tol, "loss");
    assert_eq!(a.1.step, b.1.step);
    assert_eq!(a.1.key, b.1.key);
    for (group, x, y) in [
        ("params", &a.1.params, &b.1.params),
        ("opt", &a.1.opt, &b.1.opt),
        ("ema", &a.1.ema, &b.1.ema),
    ] {
        for ((n, p), (_, q)) in x.iter().zip(y) {
            close(
                &p.to_vec::<f32>().unwrap(),
                &q.to_vec::<f32>().unwrap(),
                tol,
                &format!("{group}.{n}"),
            );
        }
    }
}

#[test]
fn one_device_and_four_devices_take_the_same_steps() {
    let client = Target::cpu().unwrap();
    assert!(client.devices() >= 4);
    let ds = moons(2000);
    let calls = [5, 5, 3];
    let one = train(
        &client,
        tc::layout(&ds, 64, 5, 1, false),
        ds.clone(),
        &calls,
    );
    let four = train(
        &client,
        tc::layout(&ds, 64, 5, 4, false),
        ds.clone(),
        &calls,
    );
    assert_eq!(one.1.step, 13);
    assert!(one.0.iter().all(|l| l.is_finite() && *l > 0.0));
    // the parameters moved
    assert_ne!(one.1.params, tc::init_state(true).params);
    compare(&one, &four, 2e-5);
    // each device gets its quarter of the batch rows; the data and parameters are replicated
    let sde = tc::vp();
    let obj = Objective {
        score: &tc::score,
        sde: &sde,
        weight: &LossWeight::Sde,
    };
    let opt = UpdateRule {
        state: tc::opt_shapes(),
        update: &tc::sgdm,
    };
    let e = Engine::new(
        &client,
        tc::layout(&ds, 64, 5, 4, false),
        &obj,
        &opt,
        &tc::init_state(true),
        ds.clone(),
        7,
    )
    .unwrap();
    let params = e.executable().parameters().unwrap();
    let idx = params.last().unwrap();
    assert_eq!(idx.dims, vec![5, 16], "idx shard");
    assert_eq!(params[0].dims, vec![tc::H, 3], "replicated weight");
    assert_eq!(
        params[params.len() - 2].dims,
        vec![ds.len(), 2],
        "replicated data"
    );
}

#[test]
fn host_feed_matches_device_feed_and_call_sizes_do_not_matter() {
    let client = Target::cpu().unwrap();
    let ds = moons(1000);
    let dev = train(
        &client,
        tc::layout(&ds, 32, 4, 1, false),
        ds.clone(),
        &[4, 4, 4],
    );
    let host = train(
        &client,
        tc::layout(&ds, 32, 4, 1, true),
        ds.clone(),
        &[4, 4, 4],
    );
    compare(&dev, &host, 1e-6);
    let host2 = train(
        &client,
        tc::layout(&ds, 32, 4, 2, true),
        ds.clone(),
        &[1, 3, 4, 2, 2],
    );
    compare(&dev, &host2, 2e-5);
}

#[test]
fn batch_not_divisible_by_devices_is_a_clear_error() {
    let client = Target::cpu().unwrap();
    let ds = moons(500);
    let sde = tc::vp();
    let obj = Objective {
        score: &tc::score,
        sde: &sde,
        weight: &LossWeight::Sde,
    };
    let opt = UpdateRule {
        state: tc::opt_shapes(),
        update: &tc::sgdm,
    };
    let err = Engine::new(
        &client,
        tc::layout(&ds, 30, 2, 4, false),
        &obj,
        &opt,
        &tc::init_state(true),
        ds.clone(),
        0,
    )
    .err()
    .expect("30 rows over 4 devices")
    .to_string();
    assert!(
        err.contains("batch_size = 30") && err.contains("4 devices"),
        "{err}"
    );
}

#[test]
fn gradient_accumulation_runs_and_is_partition_invariant() {
    let client = Target::cpu().unwrap();
    let ds = moons(1000);
    let mut l1 = tc::layout(&ds, 64, 4, 1, false);
    l1.accumulate = 2;
    let mut l2 = tc::layout(&ds, 64, 4, 2, false);
    l2.accumulate = 2;
    let a = train(&client, l1, ds.clone(), &[4, 4]);
    let b = train(&client, l2, ds.clone(), &[4, 4]);
    assert!(a.0.iter().all(|l| l.is_finite() && *l > 0.0));
    compare(&a, &b, 2e-5);
    // and it is not the same as a single minibatch of 64
    let c = train(
        &client,
        tc::layout(&ds, 64, 4, 1, false),
        ds.clone(),
        &[4, 4],
    );
    assert_ne!(a.1.params, c.1.params);
}
