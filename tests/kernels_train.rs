//! Training with the bf16 products in the host kernel (AMX where the CPU has it, else the
//! portable one) against XLA's own bf16 product: the operands are rounded alike and summed in
//! f32 (with XLA's product the time column is applied apart, `Linear::apply_split`, its
//! operands rounded the same way), so the losses and parameters agree to float tolerance.

use std::sync::Arc;

use sbgm_xla::exec::Target;
use sbgm_xla::kernels;
use sbgm_xla::train::{Config, Engine, Setup, TrainState};

const CONFIG: &str = r#"
[sde]
sde = "VP"
[model]
kind = "mlp"
width_size = 32
depth = 2
activation = "tanh"
[data]
dataset = "moons"
n = 2000
holdout = 0.0
[train]
batch_size = 64
steps_per_call = 5
optimizer = "adamw"
lr = 1e-3
matmul_precision = "bf16"
"#;

fn train(target: &Target, host: bool) -> (Vec<f32>, TrainState, String) {
    let config = Config::from_toml_str(CONFIG, &[] as &[&str]).unwrap();
    let setup = Setup::new(&config).unwrap();
    let state = setup.init_state().unwrap();
    let layout = setup.layout(1);
    let target = if host {
        kernels::register(target.client()).unwrap();
        target.with_host_bf16_matmul(Some(kernels::BF16_MATMUL))
    } else {
        target.with_host_bf16_matmul(None)
    };
    let data = Arc::new(setup.data.train.clone());
    let mut e = setup
        .with_parts(|obj, opt| Engine::new(&target, layout, obj, opt, &state, data, 3))
        .unwrap();
    let text = e.program().module.text.clone();
    let mut losses = e.run(5).unwrap();
    losses.extend(e.run(5).unwrap());
    losses.extend(e.run(5).unwrap());
    (losses, e.state().unwrap(), text)
}

#[test]
fn the_host_kernel_trains_like_xlas_bf16_product() {
    let client = Target::cpu().unwrap();
    let (l_host, s_host, text_host) = train(&client, true);
    let (l_xla, s_xla, text_xla) = train(&client, false);
    // The first loss agrees to float tolerance (the first ten agree bit for bit here); later a
    // sum that lands next to a bf16 rounding boundary may round the other way (one bf16 step,
    // 2^-8) and the runs drift apart slowly, hence 1e-3 (parameters: 5e-3; before the time
    // column was rounded alike the difference was 6e-3 after these 15 steps).
    // the 32-wide products (forward, input and weight gradients of the hidden layer) call the
    // kernel; the thin ones (2-D data in, 2-D score out) stay with XLA
    assert!(text_host.matches(kernels::BF16_MATMUL).count() >= 3);
    assert_eq!(text_xla.matches(kernels::BF16_MATMUL).count(), 0);
    assert_eq!(l_host.len(), 15);
    for (i, (a, b)) in l_host.iter().zip(&l_xla).enumerate() {
        let tol = if i == 0 { 1e-5 } else { 1e-3 };
        assert!((a - b).abs() <= tol * a.abs(), "loss {i}: {a} vs {b}");
    }
    assert_ne!(s_host.params, setup_params(), "the parameters moved");
    for ((n, p), (_, q)) in s_host.params.iter().zip(&s_xla.params) {
        let (p, q) = (p.to_vec::<f32>().unwrap(), q.to_vec::<f32>().unwrap());
        let worst = p
            .iter()
            .zip(&q)
            .map(|(x, y)| (x - y).abs() / (1e-3 + x.abs().max(y.abs())))
            .fold(0f32, f32::max);
        assert!(worst < 5e-3, "{n}: relative difference {worst}");
    }
}

fn setup_params() -> Vec<(String, sbgm_xla::HostArray)> {
    let config = Config::from_toml_str(CONFIG, &[] as &[&str]).unwrap();
    Setup::new(&config).unwrap().init_state().unwrap().params
}
