//! A tiny score network, VP SDE and momentum SGD written directly as graph code, so that the
//! training engine can be tested on its own (independently of `nn`, `sde` and `optim`).
#![allow(dead_code)]

use sbgm_xla::data::Dataset;
use sbgm_xla::graph::{Rng, Shape, Tensor};
use sbgm_xla::sample::Cond;
use sbgm_xla::sde::{Schedule, Sde, SdeKind};
use sbgm_xla::train::TrainState;
use sbgm_xla::train::step::{FeedLayout, StepLayout};
use sbgm_xla::{DType, HostArray, Result};

pub const H: usize = 16;

/// `s = W2 tanh(W1 [y, t] + b1) + b2` (sbgm's (out, in) weights).
pub fn score(
    p: &[Tensor],
    t: &Tensor,
    y: &Tensor,
    _c: &Cond,
    _r: Option<&mut Rng>,
) -> Result<Tensor> {
    let b = y.dims()[0];
    let yt = Tensor::cat(&[y, &t.reshape(&[b, 1])?], 1)?;
    let h = (yt.matmul(&p[0].t()?)? + &p[1])?.tanh()?;
    h.matmul(&p[2].t()?)? + &p[3]
}

/// VP with linear beta 0.1..20.
pub fn vp() -> Sde {
    Sde::new(
        SdeKind::Vp,
        Schedule::Linear {
            beta_min: 0.1,
            beta_max: 20.0,
        },
        1e-5,
        1.0,
        0.01,
    )
    .unwrap()
}

pub const LR: f64 = 0.01;

pub fn sgdm(p: &[Tensor], g: &[Tensor], s: &[Tensor]) -> Result<(Vec<Tensor>, Vec<Tensor>)> {
    let mut np = vec![];
    let mut ns = vec![];
    for ((p, g), m) in p.iter().zip(g).zip(s) {
        let m2 = ((m * 0.9)? + g)?;
        np.push((p - (&m2 * LR)?)?);
        ns.push(m2);
    }
    Ok((np, ns))
}

pub fn param_shapes() -> Vec<(String, Shape)> {
    vec![
        ("w1".into(), Shape::new(vec![H, 3], DType::F32)),
        ("b1".into(), Shape::new(vec![H], DType::F32)),
        ("w2".into(), Shape::new(vec![2, H], DType::F32)),
        ("b2".into(), Shape::new(vec![2], DType::F32)),
    ]
}

pub fn opt_shapes() -> Vec<(String, Shape)> {
    param_shapes()
        .into_iter()
        .map(|(n, s)| (format!("m.{n}"), s))
        .collect()
}

/// Deterministic small initial parameters.
pub fn init_state(ema: bool) -> TrainState {
    let mk = |(n, s): (String, Shape), k: usize| {
        let len = s.elem_count();
        let v: Vec<f32> = (0..len)
            .map(|i| (((i * 7919 + k * 104729) % 1000) as f32 / 1000.0 - 0.5) * 0.6)
            .collect();
        (n, HostArray::from_vec(s.dims.clone(), v).unwrap())
    };
    let params: Vec<(String, HostArray)> = param_shapes()
        .into_iter()
        .enumerate()
        .map(|(k, ps)| mk(ps, k))
        .collect();
    let opt = opt_shapes()
        .into_iter()
        .map(|(n, s)| {
            let z = vec![0f32; s.elem_count()];
            (n, HostArray::from_vec(s.dims.clone(), z).unwrap())
        })
        .collect();
    TrainState {
        ema: if ema { params.clone() } else { vec![] },
        params,
        opt,
        step: 0,
        key: [42, 0],
    }
}

pub fn layout(ds: &Dataset, batch: usize, k: usize, devices: usize, host: bool) -> StepLayout {
    StepLayout {
        params: param_shapes(),
        ema_rate: Some(0.99),
        ema_warmup: false,
        batch,
        steps_per_call: k,
        devices,
        mesh: sbgm_xla::train::mesh::Mesh::data_parallel(devices),
        accumulate: 1,
        cond_dropout: 0.0,
        cond_null: Default::default(),
        x_dims: ds.data_shape().to_vec(),
        q_dims: None,
        a_dim: None,
        feed: if host {
            FeedLayout::Host
        } else {
            FeedLayout::Device { rows: ds.len() }
        },
        precision: Default::default(),
    }
}
