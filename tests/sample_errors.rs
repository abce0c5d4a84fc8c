//! Bad input to the samplers and the likelihood: clear errors naming the problem and the
//! fix, never a panic.

mod sample_common;

use sample_common::sdes;
use sbgm_xla::exec::Target;
use sbgm_xla::graph::{Graph, Tensor};
use sbgm_xla::sample::{
    ClassGaussians, Controller, GaussianMixture, HostCond, LoglikConfig, SamplerConfig,
    SamplerKind, Tableau, loglik, sample, solve_adaptive,
};
use sbgm_xla::sde::{Schedule, Sde, SdeKind};
use sbgm_xla::{DType, HostArray};

fn err<T>(r: sbgm_xla::Result<T>) -> String {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_sampling_requests_give_clear_errors() {
    let client = Target::cpu().unwrap();
    let sde = &sdes()[0];
    let data = GaussianMixture::gaussian(sde, vec![0.0, 0.0], vec![1.0, 0.0, 0.0, 1.0], DType::F32)
        .unwrap();
    let none = HostCond::none();
    let em = SamplerConfig::new(SamplerKind::Em);
    let e = err(sample(&client, &data, sde, &em, &[2], 0, 0, &none, false));
    assert!(e.contains("n must be at least 1"), "{e}");
    let e = err(sample(
        &client,
        &data,
        sde,
        &em.clone().steps(0),
        &[2],
        4,
        0,
        &none,
        false,
    ));
    assert!(e.contains("steps must be at least 1"), "{e}");
    let neg = SamplerConfig::new(SamplerKind::Tsit5).tolerances(-1e-3, 1e-5);
    let e = err(sample(&client, &data, sde, &neg, &[2], 4, 0, &none, false));
    assert!(e.contains("rtol = -0.001") && e.contains("negative"), "{e}");
    let e = err(sample(&client, &data, sde, &em, &[3], 4, 0, &none, false));
    assert!(e.contains("2-dimensional") && e.contains("[4, 3]"), "{e}");
    let e = err(sample(&client, &data, sde, &em, &[], 4, 0, &none, false));
    assert!(e.contains("data shape"), "{e}");
    // conditioning given to an unconditional model
    let labels = HostCond {
        labels: Some(HostArray::from_vec(vec![4], vec![0i32, 1, 0, 1]).unwrap()),
        ..HostCond::default()
    };
    let e = err(sample(&client, &data, sde, &em, &[2], 4, 0, &labels, false));
    assert!(
        e.contains("labels was given but the model does not use it"),
        "{e}"
    );
    // max_steps reached
    let mut tight = SamplerConfig::new(SamplerKind::Dopri5).tolerances(1e-12, 1e-12);
    tight.max_steps = 3;
    let e = err(sample(
        &client,
        &data,
        sde,
        &tight,
        &[2],
        4,
        0,
        &none,
        false,
    ));
    assert!(
        e.contains("max_steps") && e.contains("raise max_steps"),
        "{e}"
    );
    // DPM-Solver needs t0 > 0
    let sde0 = Sde::new(SdeKind::Vp, Schedule::Constant { beta: 1.0 }, 0.0, 4.0, 0.1).unwrap();
    let e = err(sample(
        &client,
        &data,
        &sde0,
        &SamplerConfig::new(SamplerKind::Dpm2m),
        &[2],
        4,
        0,
        &none,
        false,
    ));
    assert!(e.contains("t0 > 0"), "{e}");
    let e = err("ddim".parse::<SamplerKind>());
    assert!(e.contains("ddim") && e.contains("dpm2m"), "{e}");
    let e = toml::from_str::<SamplerConfig>("samplr = \"em\"")
        .unwrap_err()
        .to_string();
    assert!(e.contains("samplr"), "{e}");
}

#[test]
fn bad_conditioning_gives_clear_errors() {
    let client = Target::cpu().unwrap();
    let sde = &sdes()[0];
    let model = ClassGaussians::new(
        sde,
        vec![vec![1.0, 0.0], vec![0.0, 1.0]],
        vec![0.0, 0.0],
        vec![1.0, 0.0, 0.0, 1.0],
        DType::F32,
    )
    .unwrap();
    let em = SamplerConfig::new(SamplerKind::Em).steps(5);
    let e = err(sample(
        &client,
        &model,
        sde,
        &em,
        &[2],
        4,
        0,
        &HostCond::none(),
        false,
    ));
    assert!(
        e.contains("conditioned on labels but none was given") && e.contains("[4]"),
        "{e}"
    );
    let wrong = HostCond {
        labels: Some(HostArray::from_vec(vec![3], vec![0i32, 1, 0]).unwrap()),
        ..HostCond::default()
    };
    let e = err(sample(&client, &model, sde, &em, &[2], 4, 0, &wrong, false));
    assert!(e.contains("[3]") && e.contains("[4]"), "{e}");
    let out_of_range = HostCond {
        labels: Some(HostArray::from_vec(vec![4], vec![0i32, 1, 2, 0]).unwrap()),
        ..HostCond::default()
    };
    let e = err(sample(
        &client,
        &model,
        sde,
        &em,
        &[2],
        4,
        0,
        &out_of_range,
        false,
    ));
    assert!(
        e.contains("label 2 is out of range") && e.contains("2 classes"),
        "{e}"
    );
    let float_labels = HostCond {
        labels: Some(HostArray::from_vec(vec![4], vec![0f32, 1.0, 0.0, 1.0]).unwrap()),
        ..HostCond::default()
    };
    let e = err(sample(
        &client,
        &model,
        sde,
        &em,
        &[2],
        4,
        0,
        &float_labels,
        false,
    ));
    assert!(e.contains("labels must be integers"), "{e}");
    // one row for all samples is fine
    let one = HostCond {
        labels: Some(HostArray::from_vec(vec![1], vec![1i32]).unwrap()),
        ..HostCond::default()
    };
    let s = sample(&client, &model, sde, &em, &[2], 4, 0, &one, false).unwrap();
    assert_eq!(s.x.shape(), &[4, 2]);
}

#[test]
fn bad_likelihood_requests_give_clear_errors() {
    let client = Target::cpu().unwrap();
    let sde = &sdes()[0];
    let data = GaussianMixture::gaussian(sde, vec![0.0, 0.0], vec![1.0, 0.0, 0.0, 1.0], DType::F64)
        .unwrap();
    let none = HostCond::none();
    let x32 = HostArray::from_vec(vec![2, 2], vec![0f32; 4]).unwrap();
    let e = err(loglik(
        &client,
        &data,
        sde,
        &LoglikConfig::default(),
        &x32,
        0,
        &none,
        false,
    ));
    assert!(e.contains("f32") && e.contains("f64"), "{e}");
    let x = HostArray::from_vec(vec![0, 2], Vec::<f64>::new()).unwrap();
    let e = err(loglik(
        &client,
        &data,
        sde,
        &LoglikConfig::default(),
        &x,
        0,
        &none,
        false,
    ));
    assert!(e.contains("N >= 1"), "{e}");
    let x = HostArray::from_vec(vec![2, 2], vec![0f64; 4]).unwrap();
    let em = LoglikConfig {
        solver: SamplerKind::Em,
        ..LoglikConfig::default()
    };
    let e = err(loglik(&client, &data, sde, &em, &x, 0, &none, false));
    assert!(e.contains("euler, heun, rk4, tsit5 or dopri5"), "{e}");
    let h0 = LoglikConfig {
        method: sbgm_xla::sample::TraceMethod::Hutchinson,
        probes: 0,
        ..LoglikConfig::default()
    };
    let e = err(loglik(&client, &data, sde, &h0, &x, 0, &none, false));
    assert!(e.contains("at least 1 probe"), "{e}");
    let neg = LoglikConfig {
        atol: -1.0,
        ..LoglikConfig::default()
    };
    let e = err(loglik(&client, &data, sde, &neg, &x, 0, &none, false));
    assert!(e.contains("atol = -1"), "{e}");
}

#[test]
fn solver_misuse_gives_clear_errors() {
    let g = Graph::new();
    let y = g.parameter("y", &[2, 1], DType::F64).unwrap();
    let field =
        |_t: &Tensor, y: &[Tensor]| -> sbgm_xla::Result<Vec<Tensor>> { Ok(vec![y[0].clone()]) };
    let c = Controller::new(1e-5, 1e-5, 0.1);
    let e = err(solve_adaptive(
        &field,
        &Tableau::rk4(),
        std::slice::from_ref(&y),
        0.0,
        1.0,
        &c,
    ));
    assert!(e.contains("rk4 has no error estimate"), "{e}");
    let e = err(solve_adaptive(
        &field,
        &Tableau::tsit5(),
        std::slice::from_ref(&y),
        0.0,
        1.0,
        &Controller::new(1e-5, 1e-5, -0.1),
    ));
    assert!(e.contains("dt0"), "{e}");
    let bad =
        |_t: &Tensor, y: &[Tensor]| -> sbgm_xla::Result<Vec<Tensor>> { Ok(vec![y[0].sum_all()?]) };
    let e = err(solve_adaptive(&bad, &Tableau::tsit5(), &[y], 0.0, 1.0, &c));
    assert!(e.contains("one derivative per state component"), "{e}");
}
