//! `sbgm-xla train`: train a score-based model from a TOML config.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

use crate::cli::RuntimeArgs;
use crate::train::{Config, RunOptions, RunSummary, TrainState};

/// Arguments of `sbgm-xla train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// The config file (TOML with [sde], [model], [data], [train]); with --resume it may be
    /// left out to continue with the run's own config.
    #[arg(long, value_name = "FILE.toml")]
    pub config: Option<PathBuf>,
    /// The run directory (default: runs/<config name>), locked while the run lasts; one that
    /// holds a checkpoint needs --resume, one that stopped before its first checkpoint is
    /// reused. Ctrl-C or SIGTERM saves a checkpoint and exits with 130 or 143; a second Ctrl-C
    /// stops at once.
    #[arg(long, value_name = "DIR")]
    pub run_dir: Option<PathBuf>,
    /// Continue the run in --run-dir from its checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Override a config value, e.g. --set train.steps=500 (repeatable).
    #[arg(long = "set", value_name = "SECTION.KEY=VALUE")]
    pub set: Vec<String>,
    /// Data-parallel devices (default: train.devices, else every addressable device; on the
    /// CPU plugin this also sets the number of CPU devices, 1 unless asked).
    #[arg(long, value_name = "N")]
    pub devices: Option<usize>,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

/// Runs `sbgm-xla train`; the exit status is 128 + the signal's number when SIGINT or
/// SIGTERM stopped the run (130 for Ctrl-C).
pub fn train(a: &TrainArgs) -> anyhow::Result<ExitCode> {
    let run_dir = match (&a.run_dir, &a.config) {
        (Some(d), _) => d.clone(),
        (None, Some(c)) => PathBuf::from("runs").join(
            c.file_stem()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_else(|| "run".into()),
        ),
        (None, None) => anyhow::bail!("give --config FILE.toml (or --run-dir DIR --resume)"),
    };
    let config = match &a.config {
        Some(path) => Config::from_file(path, &a.set)?,
        None if a.resume => {
            let ck = run_dir.join(crate::train::run::CHECKPOINT);
            let text = TrainState::config_of(&ck)
                .with_context(|| format!("reading the run's config from {}", ck.display()))?;
            Config::from_toml_str(&text, &a.set)?
        }
        None => anyhow::bail!("give --config FILE.toml (only --resume can do without it)"),
    };
    let client = a
        .runtime
        .client_for(a.devices.or(config.train.devices_wanted()))?;
    let opts = RunOptions {
        run_dir: run_dir.clone(),
        resume: a.resume,
        devices: a.devices,
        progress: !a.runtime.quiet,
        stop_after: None,
        roles: None,
    };
    let s = crate::train::run::run_on(&config, &opts, &crate::exec::Target::new(client))?;
    eprintln!("{}", finished_text(&s, &run_dir));
    if let Some(sig) = s.interrupted {
        return Ok(ExitCode::from(crate::train::interrupt::exit_status(sig)));
    }
    Ok(ExitCode::SUCCESS)
}

/// What `sbgm-xla train` prints at its end: process 0 the run's summary (or where a signal
/// stopped it and how to continue), every other process of a job one short line naming it.
fn finished_text(s: &RunSummary, run_dir: &Path) -> String {
    let (process, processes) = (s.roles.process, s.roles.processes);
    if !s.roles.writes() {
        let how = s.interrupted.map_or("finished".into(), |sig| {
            format!("stopped by {}", crate::train::interrupt::name(sig))
        });
        return format!(
            "process {process} of {processes}: {how} at step {} (process 0 reports the run)",
            s.step
        );
    }
    if let Some(sig) = s.interrupted {
        let kept = match s.checkpoint_step {
            Some(step) => format!(
                "the checkpoint of step {step} is saved in {}. Continue with: sbgm-xla train \
                 --run-dir {} --resume",
                run_dir.display(),
                run_dir.display()
            ),
            None => format!(
                "nothing was trained yet; run the same command again to start (the run \
                 directory {} is reused)",
                run_dir.display()
            ),
        };
        return format!(
            "stopped by {} at step {}; {kept}",
            crate::train::interrupt::name(sig),
            s.step
        );
    }
    format!(
        "trained {} steps on {} device(s) ({}first call {:.2} s); last loss {}{}{}; run in {}",
        s.step,
        s.devices,
        s.steps_per_s
            .map_or(String::new(), |r| format!("{r:.1} steps/s; ")),
        s.first_call_s,
        s.last_loss.map_or("-".into(), |l| format!("{l:.4}")),
        s.last_eval_loss
            .map_or(String::new(), |l| format!(", held-out loss {l:.4}")),
        s.last_eval_bpd
            .map_or(String::new(), |b| format!(", held-out {b:.3} bits/dim")),
        run_dir.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::run::Roles;

    fn summary(process: usize, interrupted: Option<i32>) -> RunSummary {
        RunSummary {
            step: 20,
            last_loss: Some(0.5),
            last_eval_loss: Some(0.25),
            last_eval_bpd: None,
            steps_per_s: Some(10.0),
            first_call_s: 1.0,
            interrupted,
            checkpoint_step: Some(20),
            run_dir: "runs/x".into(),
            devices: 4,
            roles: Roles {
                process,
                processes: 2,
            },
        }
    }

    #[test]
    fn process_zero_alone_reports_the_run() {
        let dir = Path::new("runs/x");
        let first = finished_text(&summary(0, None), dir);
        assert!(
            first.starts_with("trained 20 steps on 4 device(s)"),
            "{first}"
        );
        assert!(first.contains("held-out loss 0.2500"), "{first}");
        let second = finished_text(&summary(1, None), dir);
        assert_eq!(
            second,
            "process 1 of 2: finished at step 20 (process 0 reports the run)"
        );
        let stopped = finished_text(&summary(1, Some(15)), dir);
        assert_eq!(
            stopped,
            "process 1 of 2: stopped by SIGTERM at step 20 (process 0 reports the run)"
        );
        let first = finished_text(&summary(0, Some(15)), dir);
        assert!(
            first.contains("sbgm-xla train --run-dir runs/x --resume"),
            "{first}"
        );
    }
}
