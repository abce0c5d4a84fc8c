//! What a training run builds from its config before it compiles anything: the data (with
//! labels attached as conditioning when `train.labels_as` says so), the model sized to the
//! data, the SDE and the optimizer ([`Setup`]), and from them the initial or resumed state,
//! the step layout and the objective as graph code.

use std::path::Path;

use crate::data::{Dataset, PreparedData};
use crate::error::{Error, Result};
use crate::graph::{Rng, Shape, Tensor};
use crate::host::HostArray;
use crate::io::{LeafKind, load_checkpoint};
use crate::memory::bytes_of;
use crate::nn::{ApplyMode, Params, ScoreNet};
use crate::sample::Cond;
use crate::sde::Sde;
use crate::train::TrainConfig;
use crate::train::budget::{self, RunSize};
use crate::train::config::{Config, Feed, LabelsAs};
use crate::train::loss::LossWeight;
use crate::train::mesh::Mesh;
use crate::train::optim::BoundOptimizer;
use crate::train::state::{ModelInfo, TrainState};
use crate::train::step::{FeedLayout, Objective, StepLayout, UpdateRule};

/// Everything built from a config: data, model, SDE, optimizer.
pub struct Setup {
    /// The config.
    pub config: Config,
    /// The data (scaled splits and the transform).
    pub data: PreparedData,
    /// The model configuration with its sizes filled from the data.
    pub model: crate::nn::ModelConfig,
    /// The score network (shapes filled from the data).
    pub net: Box<dyn ScoreNet>,
    /// The SDE.
    pub sde: Sde,
    /// The optimizer.
    pub opt: BoundOptimizer,
    /// Array leaves of the model (names and types), in skeleton order.
    pub param_shapes: Vec<(String, Shape)>,
    /// The loss weighting, with the times it draws (`[train] time_sampling`).
    pub weight: LossWeight,
}

impl Setup {
    /// Loads the data and builds the model, SDE and optimizer of `config`.
    pub fn new(config: &Config) -> Result<Setup> {
        let mut data = config.data.load()?;
        let labels_as = config.train.labels_as;
        if labels_as != LabelsAs::None {
            let attach = |ds: Dataset| -> Result<Dataset> {
                let col = ds.labels_as_column().ok_or_else(|| {
                    Error::msg(format!(
                        "[train] labels_as = \"{}\" but the data set `{}` has no labels; \
                         remove labels_as or use a labelled data set",
                        if labels_as == LabelsAs::A { "a" } else { "q" },
                        ds.name()
                    ))
                })?;
                match labels_as {
                    LabelsAs::A => ds.with_a(col),
                    _ => ds.with_q(col),
                }
            };
            data.train = attach(data.train)?;
            data.holdout = attach(data.holdout)?;
        }
        let train = &data.train;
        let model = config
            .model
            .clone()
            .with_data(
                train.data_shape(),
                train.context_shape(),
                train.parameter_dim(),
            )
            .map_err(|e| {
                Error::msg(format!(
                    "[model] does not fit the data ({} samples of shape {:?}): {e}",
                    train.name(),
                    train.data_shape()
                ))
            })?;
        let net = model.build()?;
        let sde = config.sde.build()?;
        let param_shapes: Vec<(String, Shape)> = net
            .skeleton()
            .into_iter()
            .filter(|s| s.kind == LeafKind::Array)
            .map(|s| (s.path.clone(), Shape::new(s.shape.clone(), s.dtype)))
            .collect();
        let no_devices = Mesh::data_parallel(0);
        run_size(
            &config.train,
            &param_shapes,
            &data.train,
            0,
            no_devices,
            false,
        )
        .check()?;
        let opt = config.train.optim.bind(&param_shapes)?;
        let sampling = config.train.time_sampling_for(&config.sde)?;
        let weight = LossWeight::of_sde(&sde, sampling)
            .map_err(|e| Error::config("train", "time_sampling", e.to_string()))?;
        Ok(Setup {
            config: config.clone(),
            data,
            model,
            net,
            sde,
            opt,
            param_shapes,
            weight,
        })
    }

    /// What using the trained model needs besides its parameters (stored in checkpoints).
    pub fn model_info(&self) -> ModelInfo {
        ModelInfo {
            model: self.model.clone(),
            sde: Some(self.config.sde.clone()),
            transform: Some(self.data.transform),
            value_range: self.data.train.value_range(),
            null: self.config.train.null_spec(),
        }
    }

    /// The initial training state: the model's initialisation for `train.seed`, the
    /// optimizer's initial state, the EMA equal to the parameters, step 0.
    pub fn init_state(&self) -> Result<TrainState> {
        let seed = self.config.train.seed;
        let leaves = self.net.init(seed)?;
        let skel = self.net.skeleton();
        let params: Vec<(String, HostArray)> = skel
            .iter()
            .zip(leaves)
            .filter(|(s, _)| s.kind == LeafKind::Array)
            .map(|(_, l)| l)
            .collect();
        Ok(TrainState {
            ema: if self.opt.ema_rate.is_some() {
                params.clone()
            } else {
                vec![]
            },
            params,
            opt: self.opt.init.clone(),
            step: 0,
            key: [seed ^ 0x5452_4149_4E5F_4B45, 1], // "TRAIN_KE"
        })
    }

    /// The state of a checkpoint file, checked against this model and optimizer.
    pub fn load_state(&self, path: &Path) -> Result<TrainState> {
        let ck = load_checkpoint(path).map_err(|e| {
            Error::msg(format!(
                "cannot resume: the checkpoint {} is unreadable: {e}",
                path.display()
            ))
        })?;
        let arrays: Vec<_> = self
            .net
            .skeleton()
            .into_iter()
            .filter(|s| s.kind == LeafKind::Array)
            .collect();
        let opt = crate::train::state::specs_of(&self.opt.init);
        TrainState::from_checkpoint(&ck, &arrays, &opt, self.opt.ema_rate.is_some())
            .map_err(|e| Error::msg(format!("cannot resume from {}: {e}", path.display())))
    }

    /// The model's leaves (Python scalars included) with the given array values, in skeleton
    /// order: what `.eqx` files hold.
    pub fn full_leaves(&self, arrays: &[(String, HostArray)]) -> Result<Vec<(String, HostArray)>> {
        let init = self.net.init(0)?;
        let mut it = arrays.iter();
        self.net
            .skeleton()
            .iter()
            .zip(init)
            .map(|(s, l)| {
                if s.kind == LeafKind::Array {
                    it.next()
                        .cloned()
                        .ok_or_else(|| Error::msg("fewer arrays than the model has"))
                } else {
                    Ok(l)
                }
            })
            .collect()
    }

    /// The rows that condition the run's samples and are drawn beside them: the held-out
    /// set, or the training set when there is none.
    pub fn reference_rows(&self) -> &Dataset {
        if self.data.holdout.is_empty() {
            &self.data.train
        } else {
            &self.data.holdout
        }
    }

    /// The sizes of a run of this setup on `devices` devices, for its memory check.
    pub fn size(&self, devices: usize, devices_in_host_memory: bool) -> RunSize<'_> {
        let layout = self.layout(devices);
        let device_data_bytes = match layout.feed {
            FeedLayout::Device { rows } => {
                bytes_of([rows, row_elems(&self.data.train)], 4).unwrap_or(u64::MAX)
            }
            FeedLayout::Host => 0,
        };
        run_size(
            &self.config.train,
            &self.param_shapes,
            &self.data.train,
            device_data_bytes,
            layout.mesh,
            devices_in_host_memory,
        )
    }

    /// The step layout for `devices` devices (arranged as `train.mesh` says, else all on
    /// `data`) and the data feed.
    pub fn layout(&self, devices: usize) -> StepLayout {
        let t = &self.config.train;
        let train = &self.data.train;
        let on_device = match t.feed {
            Feed::Device => true,
            Feed::Host => false,
            // Mapped or augmented sets are gathered on the host.
            Feed::Auto => {
                train.is_resident()
                    && train.augment().is_none()
                    && train.value_bytes() <= t.device_data_mb << 20
            }
        };
        StepLayout {
            params: self.param_shapes.clone(),
            ema_rate: self.opt.ema_rate,
            ema_warmup: self.config.train.optim.ema_warmup && !self.config.sde.sbgm_compat,
            batch: t.batch_size,
            steps_per_call: t.steps_per_call,
            devices,
            mesh: t.mesh.unwrap_or(Mesh::data_parallel(devices)),
            accumulate: t.accumulate,
            cond_dropout: t.cond_dropout,
            cond_null: t.null_spec().values(),
            x_dims: self.net.data_shape(),
            q_dims: self.net.q_shape(),
            a_dim: self.net.a_dim(),
            feed: if on_device {
                FeedLayout::Device { rows: train.len() }
            } else {
                FeedLayout::Host
            },
            precision: t.matmul_precision,
        }
    }

    /// Runs `f` with the objective (score network, SDE marginal and weight) and the optimizer
    /// as graph code.
    pub fn with_parts<R>(&self, f: impl FnOnce(&Objective, &UpdateRule) -> R) -> R {
        let names: Vec<String> = self.param_shapes.iter().map(|(n, _)| n.clone()).collect();
        let net = &self.net;
        let score = move |p: &[Tensor], t: &Tensor, y: &Tensor, c: &Cond, r: Option<&mut Rng>| {
            let params = Params::from_pairs(names.iter().cloned().zip(p.iter().cloned()))?;
            match r {
                Some(r) => {
                    let mode = ApplyMode::train(r.clone());
                    let s = net.apply(&params, t, y, c.q.as_ref(), c.a.as_ref(), &mode)?;
                    if let Some(k) = mode.key() {
                        *r = Rng::new(&k)?;
                    }
                    Ok(s)
                }
                None => net.apply(
                    &params,
                    t,
                    y,
                    c.q.as_ref(),
                    c.a.as_ref(),
                    &ApplyMode::Inference,
                ),
            }
        };
        let obj = Objective {
            score: &score,
            sde: &self.sde,
            weight: &self.weight,
        };
        let update = |p: &[Tensor], g: &[Tensor], s: &[Tensor]| self.opt.update(p, g, s);
        let opt = UpdateRule {
            state: self.opt.state.clone(),
            update: &update,
        };
        f(&obj, &opt)
    }
}

/// The sizes of a run of `train` on a model with `param_shapes` over `ds`.
fn run_size<'a>(
    train: &'a TrainConfig,
    param_shapes: &[(String, Shape)],
    ds: &Dataset,
    device_data_bytes: u64,
    mesh: Mesh,
    devices_in_host_memory: bool,
) -> RunSize<'a> {
    let leaves = || {
        param_shapes
            .iter()
            .map(|(_, s)| (&s.dims[..], s.dtype.size_in_bytes()))
    };
    RunSize {
        train,
        param_bytes: budget::param_bytes(leaves()),
        split_param_bytes: budget::split_param_bytes(&mesh, leaves()),
        row_elems: row_elems(ds),
        device_data_bytes,
        mesh,
        devices_in_host_memory,
    }
}

/// Elements of one row of a data set: its sample, conditioning map and parameters.
fn row_elems(ds: &Dataset) -> usize {
    let per = |s: &[usize]| s.iter().product::<usize>();
    per(ds.data_shape()) + ds.context_shape().map_or(0, per) + ds.parameter_dim().unwrap_or(0)
}
