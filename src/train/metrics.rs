//! A run's metrics: `metrics.jsonl`, one JSON object per line, and the plots drawn from it
//! (`loss.png`, and `bpd.png` when the run reports bits per dimension).
//!
//! The lines are
//! - `{"step", "loss"}` after every training step (the minibatch loss);
//! - `{"step", "eval_loss", "eval_weights", ...}` at every evaluation (`train.eval_every`
//!   steps and the last step), an [`Evaluation`]: `eval_weights` says which weights its
//!   held-out values use (`"ema"` when the run keeps an EMA, what `sample`, the plots and
//!   `model.eqx` use; else `"params"`), `eval_loss_params` is the raw parameters' held-out
//!   loss (EMA runs only), `eval_bpd` the held-out bits per dimension (image data with
//!   `train.eval_bpd_samples > 0` only).

use std::io::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::plot::{Line, LinePlot, lines_png, loss_curves_png};
use crate::train::run_dir::{BPD_PLOT, LOSS_PLOT, METRICS};

/// Which weights a held-out value was computed with (`"ema"`, `"params"` in `metrics.jsonl`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Weights {
    /// The exponential moving average of the parameters.
    Ema,
    /// The raw (trained) parameters.
    Params,
}

/// What one evaluation measured: a line of `metrics.jsonl` (with its `step`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Evaluation {
    /// The held-out loss of [`Evaluation::eval_weights`].
    pub eval_loss: f32,
    /// The weights of `eval_loss` and `eval_bpd`: the EMA when the run keeps one.
    pub eval_weights: Weights,
    /// The held-out loss of the raw parameters, when `eval_weights` is the EMA.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eval_loss_params: Option<f32>,
    /// Mean bits per dimension of the held-out images (`train.eval_bpd_samples` of them,
    /// dequantized), when the run reports them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eval_bpd: Option<f64>,
}

/// A held-out series: `(step, value)`.
type Series = Vec<(u64, f64)>;

/// `metrics.jsonl` and the in-memory history of its values.
pub struct Metrics {
    file: std::fs::File,
    steps: Vec<u64>,
    losses: Vec<f64>,
    /// `eval_loss`, `eval_loss_params`, `eval_bpd`.
    eval: [Series; 3],
    /// Whether `eval_loss` is the EMA's.
    eval_ema: bool,
}

/// The keys of [`Metrics::eval`]'s series.
const EVAL_KEYS: [&str; 3] = ["eval_loss", "eval_loss_params", "eval_bpd"];

impl Metrics {
    /// Opens the metrics file: a new one, or on resume the old one cut back to `step` (lines
    /// written after the checkpoint are dropped: those steps run again).
    pub fn open(path: &Path, step: u64, resume: bool) -> Result<Metrics> {
        let (mut steps, mut losses, mut eval) = (vec![], vec![], [vec![], vec![], vec![]]);
        let mut eval_ema = false;
        let mut kept = String::new();
        if resume && let Ok(text) = std::fs::read_to_string(path) {
            for line in text.lines() {
                let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                    continue;
                };
                let Some(s) = v.get("step").and_then(|s| s.as_u64()) else {
                    continue;
                };
                if s > step {
                    continue;
                }
                if let Some(l) = v.get("loss").and_then(|l| l.as_f64()) {
                    steps.push(s);
                    losses.push(l);
                }
                for (series, key) in eval.iter_mut().zip(EVAL_KEYS) {
                    if let Some(l) = v.get(key).and_then(|l| l.as_f64()) {
                        series.push((s, l));
                    }
                }
                eval_ema |= v.get("eval_weights").and_then(|w| w.as_str()) == Some("ema");
                kept.push_str(line);
                kept.push('\n');
            }
        }
        crate::io::atomic_write_bytes(path, kept.as_bytes())?;
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        Ok(Metrics {
            file,
            steps,
            losses,
            eval,
            eval_ema,
        })
    }

    /// Appends the training losses of the steps after `start` (one line each).
    pub fn log_losses(&mut self, start: u64, losses: &[f32]) -> Result<()> {
        let mut s = String::new();
        for (i, l) in losses.iter().enumerate() {
            let step = start + i as u64 + 1;
            s.push_str(&format!("{{\"step\":{step},\"loss\":{l}}}\n"));
            self.steps.push(step);
            self.losses.push(*l as f64);
        }
        self.file
            .write_all(s.as_bytes())
            .map_err(|e| Error::msg(format!("writing {METRICS}: {e}")))
    }

    /// Appends the evaluation of `step` (non-finite values are written as `null`).
    pub fn log_eval(&mut self, step: u64, e: &Evaluation) -> Result<()> {
        let values = [
            Some(f64::from(e.eval_loss)),
            e.eval_loss_params.map(f64::from),
            e.eval_bpd,
        ];
        for (series, v) in self.eval.iter_mut().zip(values) {
            series.extend(v.map(|v| (step, v)));
        }
        self.eval_ema = e.eval_weights == Weights::Ema;
        let fields = serde_json::to_string(e)
            .map_err(|err| Error::msg(format!("writing {METRICS}: {err}")))?;
        // `{"step":…,` then the fields in their declared order
        let line = format!("{{\"step\":{step},{}", fields.trim_start_matches('{'));
        writeln!(self.file, "{line}").map_err(|e| Error::msg(format!("writing {METRICS}: {e}")))
    }

    /// Draws the loss curve `loss.png` in `dir` (training losses averaged in windows, the
    /// held-out losses), and `bpd.png` when there are bits per dimension.
    pub fn plot(&self, dir: &Path) -> Result<()> {
        if self.steps.is_empty() {
            return Ok(());
        }
        let w = (self.steps.len() / 400).max(1);
        let (mut xs, mut ys) = (vec![], vec![]);
        for (s, l) in self.steps.chunks(w).zip(self.losses.chunks(w)) {
            xs.push(*s.last().expect("non-empty chunk"));
            ys.push(l.iter().sum::<f64>() / l.len() as f64);
        }
        let [loss, loss_params, bpd] = self.eval.each_ref().map(unzip);
        let label = if self.eval_ema {
            "held-out (EMA)"
        } else {
            "held-out"
        };
        let held_out: Vec<_> = [(label, &loss), ("held-out (raw parameters)", &loss_params)]
            .into_iter()
            .filter(|(_, (s, _))| !s.is_empty())
            .map(|(l, (s, v))| (l, &s[..], &v[..]))
            .collect();
        loss_curves_png(&dir.join(LOSS_PLOT), &xs, &ys, &held_out)?;
        let (bpd_steps, bpd) = bpd;
        if bpd.iter().any(|v| v.is_finite()) {
            let x: Vec<f64> = bpd_steps.iter().map(|&s| s as f64).collect();
            lines_png(
                &dir.join(BPD_PLOT),
                &LinePlot {
                    title: "held-out bits per dimension",
                    x_label: "step",
                    y_label: "bits/dim",
                    ..LinePlot::default()
                },
                &[Line::new(label, &x, &bpd)],
            )?;
        }
        Ok(())
    }
}

/// The steps and values of a series.
fn unzip(v: &Series) -> (Vec<u64>, Vec<f64>) {
    v.iter().copied().unzip()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_evaluation_line_names_its_weights_and_a_resume_reads_it_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(METRICS);
        let mut m = Metrics::open(&path, 0, false).unwrap();
        m.log_losses(0, &[0.5, 0.4, 0.35]).unwrap();
        let ema = Evaluation {
            eval_loss: 0.3,
            eval_weights: Weights::Ema,
            eval_loss_params: Some(0.25),
            eval_bpd: Some(3.5),
        };
        m.log_eval(2, &ema).unwrap();
        let params = Evaluation {
            eval_loss: f32::NAN,
            eval_weights: Weights::Params,
            eval_loss_params: None,
            eval_bpd: None,
        };
        m.log_eval(3, &params).unwrap();
        drop(m);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[3],
            r#"{"step":2,"eval_loss":0.3,"eval_weights":"ema","eval_loss_params":0.25,"eval_bpd":3.5}"#
        );
        assert_eq!(
            lines[4],
            r#"{"step":3,"eval_loss":null,"eval_weights":"params"}"#
        );
        // resumed at step 2: step 3's lines are dropped, step 2's values read back (as the
        // shortest decimals of the f32 values, written above)
        let m = Metrics::open(&path, 2, true).unwrap();
        assert_eq!(m.losses, [0.5, 0.4]);
        assert_eq!(m.eval, [vec![(2, 0.3)], vec![(2, 0.25)], vec![(2, 3.5)]]);
        assert!(m.eval_ema);
        m.plot(dir.path()).unwrap();
        assert!(dir.path().join(LOSS_PLOT).is_file());
        assert!(dir.path().join(BPD_PLOT).is_file());
    }
}
