//! The score network of a model on a batch, deterministically (inference mode: dropout off):
//! one compiled program per chunk size, run over the batch in chunks.

use super::Model;
use super::inputs::{ScoreInputs, concat_rows};
use crate::error::{Error, Result};
use crate::exec::{Compiled, Target};
use crate::host::HostArray;
use crate::nn::{ApplyMode, Params, array_values};

impl Model {
    /// A compiled batched score program for `batch` samples: parameters (array leaves), then
    /// `t`, `x`, (`q`), (`a`).
    pub fn compile_score(&self, target: &Target, batch: usize) -> Result<Compiled> {
        let net = &self.net;
        let g = target.graph();
        let params = Params::declare(&g, &net.skeleton(), "params.")?;
        let dtype = self.dtype();
        let with_batch = |d: &[usize]| [&[batch], d].concat();
        let t = g.parameter("t", &[batch], dtype)?;
        let x = g.parameter("x", &with_batch(&net.data_shape()), dtype)?;
        let q = match net.q_shape() {
            Some(s) => Some(g.parameter("q", &with_batch(&s), dtype)?),
            None => None,
        };
        let a = match net.a_dim() {
            Some(d) => Some(g.parameter("a", &[batch, d], dtype)?),
            None => None,
        };
        let mode = ApplyMode::Inference;
        let s = net.apply(&params, &t, &x, q.as_ref(), a.as_ref(), &mode)?;
        let m = g.build("score", &[("score", &s)])?;
        target.compile(&m)
    }

    /// The score on checked inputs ([`Model::score_inputs`]), in chunks of at most
    /// `batch_size` samples.
    pub fn score(
        &self,
        target: &Target,
        inputs: &ScoreInputs,
        batch_size: usize,
    ) -> Result<HostArray> {
        if batch_size == 0 {
            return Err(Error::BadArgument("--batch-size must be at least 1".into()));
        }
        let params = array_values(&self.net.skeleton(), &self.leaves)?;
        let n = inputs.batch();
        let mut exes: Vec<(usize, Compiled)> = Vec::new();
        let mut out = Vec::new();
        for start in (0..n).step_by(batch_size) {
            let end = (start + batch_size).min(n);
            let len = end - start;
            let at = match exes.iter().position(|(b, _)| *b == len) {
                Some(i) => i,
                None => {
                    exes.push((len, self.compile_score(target, len)?));
                    exes.len() - 1
                }
            };
            let chunk = inputs.rows(start, end)?;
            let mut args = params.clone();
            args.extend(chunk.arrays().into_iter().cloned());
            out.push(exes[at].1.run(&args)?.remove(0));
        }
        concat_rows(&out)
    }
}
