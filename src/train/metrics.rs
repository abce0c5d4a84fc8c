//! A run's metrics: `metrics.jsonl` (one JSON object per line: `{"step", "loss"}` per step,
//! `{"step", "eval_loss"}` per evaluation) and the loss curve `loss.png` drawn from it.

use std::io::Write as _;
use std::path::Path;

use crate::error::{Error, Result};
use crate::train::run_dir::METRICS;

/// `metrics.jsonl` and the in-memory loss history.
pub struct Metrics {
    file: std::fs::File,
    steps: Vec<u64>,
    losses: Vec<f64>,
    eval: Vec<(u64, f64)>,
}

impl Metrics {
    /// Opens the metrics file: a new one, or on resume the old one cut back to `step` (lines
    /// written after the checkpoint are dropped: those steps run again).
    pub fn open(path: &Path, step: u64, resume: bool) -> Result<Metrics> {
        let (mut steps, mut losses, mut eval) = (vec![], vec![], vec![]);
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
                if let Some(l) = v.get("eval_loss").and_then(|l| l.as_f64()) {
                    eval.push((s, l));
                }
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

    /// Appends the held-out loss of `step`.
    pub fn log_eval(&mut self, step: u64, l: f32) -> Result<()> {
        self.eval.push((step, l as f64));
        writeln!(self.file, "{{\"step\":{step},\"eval_loss\":{l}}}")
            .map_err(|e| Error::msg(format!("writing {METRICS}: {e}")))
    }

    /// The loss curve (training losses averaged in windows, held-out losses).
    pub fn plot(&self, path: &Path) -> Result<()> {
        if self.steps.is_empty() {
            return Ok(());
        }
        let w = (self.steps.len() / 400).max(1);
        let (mut xs, mut ys) = (vec![], vec![]);
        for (s, l) in self.steps.chunks(w).zip(self.losses.chunks(w)) {
            xs.push(*s.last().expect("non-empty chunk"));
            ys.push(l.iter().sum::<f64>() / l.len() as f64);
        }
        let vs: Vec<u64> = self.eval.iter().map(|e| e.0).collect();
        let vl: Vec<f64> = self.eval.iter().map(|e| e.1).collect();
        let val = (!vs.is_empty()).then_some((&vs[..], &vl[..]));
        crate::plot::loss_curve_png(path, &xs, &ys, val)
    }
}
