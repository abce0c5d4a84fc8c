//! A score network ([`ScoreNet`], `src/nn`) as the samplers see it: with its parameter
//! values it is a [`ScoreModel`] ([`NetScore`]); bound to traced parameters it is a
//! [`ScoreFn`] ([`BoundNet`]). Parameters become graph arguments named
//! `params.<leaf path>`, the network runs in inference mode (no dropout), and the
//! unconditional score for guidance feeds the null values of the training's conditioning
//! dropout for `q` and `a` ([`NullCond`]: zeros unless set, −1 for class labels).

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::{Graph, Tensor};
use crate::host::HostArray;
use crate::io::LeafKind;
use crate::nn::{ApplyMode, Params, ScoreNet, array_values};
use crate::sample::score::{Cond, CondNeeds, NullCond, ScoreFn, ScoreModel};

/// A score network and its parameter values (all leaves, scalar leaves included, as from
/// [`ScoreNet::init`], an `.eqx` file or a checkpoint).
pub struct NetScore<'a> {
    net: &'a dyn ScoreNet,
    values: Vec<HostArray>,
    dtype: DType,
    null: NullCond,
}

impl<'a> NetScore<'a> {
    /// Checks the leaves against the network (paths, shapes, types, configuration scalars).
    pub fn new(net: &'a dyn ScoreNet, leaves: &[(String, HostArray)]) -> Result<NetScore<'a>> {
        net.check_leaves(leaves)?;
        let skel = net.skeleton();
        let dtype = skel
            .iter()
            .find(|s| s.kind == LeafKind::Array)
            .map(|s| s.dtype)
            .unwrap_or(DType::F32);
        Ok(NetScore {
            net,
            values: array_values(&skel, leaves)?,
            dtype,
            null: NullCond::default(),
        })
    }

    /// The same with `null` as its unconditional conditioning (the values the training's
    /// conditioning dropout put in dropped rows; default zeros).
    pub fn with_null(self, null: NullCond) -> NetScore<'a> {
        NetScore { null, ..self }
    }

    /// The network.
    pub fn net(&self) -> &dyn ScoreNet {
        self.net
    }

    /// Replaces the parameter values (e.g. after more training), in the same layout.
    pub fn set_values(&mut self, leaves: &[(String, HostArray)]) -> Result<()> {
        *self = NetScore::new(self.net, leaves)?.with_null(self.null);
        Ok(())
    }
}

/// A network bound to traced parameters.
pub struct BoundNet<'a> {
    net: &'a dyn ScoreNet,
    params: Params,
    null: NullCond,
}

impl<'a> BoundNet<'a> {
    /// Binds `net` to traced `params` (e.g. inside a training graph, to sample from the
    /// parameters being trained).
    pub fn new(net: &'a dyn ScoreNet, params: Params) -> BoundNet<'a> {
        BoundNet {
            net,
            params,
            null: NullCond::default(),
        }
    }

    /// The same with `null` as its unconditional conditioning (see [`NetScore::with_null`]).
    pub fn with_null(self, null: NullCond) -> BoundNet<'a> {
        BoundNet { null, ..self }
    }
}

impl ScoreFn for BoundNet<'_> {
    fn score(&self, t: &Tensor, x: &Tensor, cond: &Cond) -> Result<Tensor> {
        if cond.labels.is_some() {
            return Err(Error::msg(format!(
                "{} takes no class labels (it is conditioned on q and a only); drop the labels",
                self.net.name()
            )));
        }
        self.net.apply(
            &self.params,
            t,
            x,
            cond.q.as_ref(),
            cond.a.as_ref(),
            &ApplyMode::Inference,
        )
    }

    fn score_uncond(&self, t: &Tensor, x: &Tensor, cond: &Cond) -> Result<Tensor> {
        self.score(t, x, &cond.null_filled(&self.null)?)
    }
}

impl ScoreModel for NetScore<'_> {
    fn dtype(&self) -> DType {
        self.dtype
    }

    fn bind<'b>(&'b self, g: &Graph) -> Result<Box<dyn ScoreFn + 'b>> {
        let params = Params::declare(g, &self.net.skeleton(), "params.")?;
        Ok(Box::new(
            BoundNet::new(self.net, params).with_null(self.null),
        ))
    }

    fn arguments(&self) -> Vec<HostArray> {
        self.values.clone()
    }

    fn needs(&self) -> CondNeeds {
        CondNeeds {
            q: self.net.q_shape(),
            a: self.net.a_dim(),
            labels: None,
        }
    }
}
