//! The `sbgm-xla` command line: argument definitions (a clap enum, one variant per subcommand)
//! and one file per subcommand. Subcommands return `anyhow::Result`; `main` prints the error
//! chain (each cause once) and exits with status 1.
//!
//! The argument structs' doc comments are also the `--help` texts, where `[model]`, `[sde]` and
//! the like name TOML sections and `<name>` a placeholder, not items or HTML.
#![allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]

pub mod convert;
pub mod data;
pub mod devices;
pub mod evaluate;
pub mod finite;
pub mod inspect;
pub mod loglik;
pub mod model;
pub mod output;
pub mod plugin;
pub mod run;
pub mod sample;
pub mod score;
pub mod train;

use crate::dist::{LaunchFlags, ProcessSet};
use crate::pjrt::{Client, ClientOptions, PluginSpec};
use clap::{Args, Parser, Subcommand};
use std::io::IsTerminal;
use std::process::ExitCode;

/// The environment variables users set, shown after the top-level `--help`.
const ENVIRONMENT: &str = "Environment:
  SBGM_XLA_PLUGIN          the PJRT plugin (a .so path, or cpu, cuda, tpu), as --plugin
  SBGM_XLA_CACHE           where the CPU plugin is installed (default ~/.cache/sbgm-xla/plugins)
  SBGM_XLA_COMPILE_CACHE   compiled programs (default ~/.cache/sbgm-xla/compiled; off disables)
  SBGM_XLA_IMAGE_CACHE     decoded image sets (default ~/.cache/sbgm-xla/images; off disables)
  SBGM_XLA_COMPILE_TIMEOUT seconds a compilation may take (default 600)
  SBGM_XLA_COORDINATOR, SBGM_XLA_PROCESS_ID, SBGM_XLA_NUM_PROCESSES
                           a multi-process job, as --coordinator, --process-id, --num-processes
  SBGM_XLA_CONNECT_TIMEOUT seconds the processes of a job wait for each other (default 300)";

/// sbgm-xla: score-based generative models on XLA (PJRT plugins), from Rust.
#[derive(Debug, Parser)]
#[command(name = "sbgm-xla", version, about, after_help = ENVIRONMENT)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the plugin, platform and devices.
    Devices(devices::DevicesArgs),
    /// List or install PJRT plugins.
    Plugin(plugin::PluginArgs),
    /// Compile a StableHLO module (or a jax.export artifact) and run it on .npy inputs.
    Run(run::RunArgs),
    /// List the names, shapes and dtypes in a checkpoint or array file, and its parameter count.
    Inspect(inspect::InspectArgs),
    /// Convert a model between Equinox .eqx and safetensors checkpoints.
    Convert(convert::ConvertArgs),
    /// Evaluate the score network on a batch (deterministic, inference mode).
    Score(score::ScoreArgs),
    /// Draw samples from a trained model (EM, predictor-corrector, ODE solvers, DPM-Solver).
    Sample(sample::SampleArgs),
    /// Log-likelihoods of data by the probability-flow ODE (exact trace or Hutchinson).
    Loglik(loglik::LoglikArgs),
    /// Train a score-based diffusion model from a TOML config.
    Train(train::TrainArgs),
    /// Write the arrays a config's [data] section prepares, as training sees them (.npz).
    Data(data::DataArgs),
    /// Judge a field run on its held-out fields: power spectra, r(k), one-point histograms.
    Evaluate(evaluate::EvaluateArgs),
}

/// Which plugin and client options to use (shared by the subcommands that open a client).
#[derive(Debug, Clone, Args)]
pub struct RuntimeArgs {
    /// A plugin library (.so) or a platform name (cpu, cuda, tpu); default: $SBGM_XLA_PLUGIN,
    /// else the CPU plugin (installed on first use).
    #[arg(long, value_name = "PATH|PLATFORM")]
    pub plugin: Option<String>,
    /// Number of CPU devices (the CPU plugin's cpu_device_count). Default 1, as in JAX:
    /// virtual CPU devices share the same cores, so more only help to test SPMD (`train
    /// --devices N` opens N).
    #[arg(long, value_name = "N")]
    pub cpu_devices: Option<usize>,
    /// Print only errors and results: no "sbgm-xla: plugin ..." line, no progress bars.
    #[arg(long)]
    pub quiet: bool,
    /// Several processes (one per host or GPU, each running the same command): HOST:PORT where
    /// process 0 serves the job's key-value store. Default: $SBGM_XLA_COORDINATOR, else what
    /// SLURM, torchrun, Open MPI or a TPU pod say.
    #[arg(long, value_name = "HOST:PORT")]
    pub coordinator: Option<String>,
    /// This process's id, 0 to N-1 (default: $SBGM_XLA_PROCESS_ID, else the launcher's rank).
    #[arg(long, value_name = "I")]
    pub process_id: Option<usize>,
    /// The number of processes, the same on all (default: $SBGM_XLA_NUM_PROCESSES, else the
    /// launcher's; 1 when nothing says).
    #[arg(long, value_name = "N")]
    pub num_processes: Option<usize>,
}

impl RuntimeArgs {
    /// Opens the client these arguments describe, with one CPU device unless asked.
    pub fn client(&self) -> crate::Result<Client> {
        self.client_for(None)
    }

    /// The compile target on [`client`](Self::client) (f32 products, found host kernels).
    pub fn target(&self) -> crate::Result<crate::exec::Target> {
        Ok(crate::exec::Target::new(self.client()?))
    }

    /// The process set these arguments and the environment describe (see
    /// [`crate::dist::discover`]).
    pub fn process_set(&self) -> crate::Result<ProcessSet> {
        crate::dist::discover_here(&LaunchFlags {
            coordinator: self.coordinator.clone(),
            process_id: self.process_id,
            num_processes: self.num_processes,
        })
    }

    /// Opens the client; a CPU plugin gets `--cpu-devices`, else `want` devices, else 1.
    /// (A GPU or TPU plugin keeps its own devices: the CPU option is only passed to a plugin
    /// whose platform is `cpu`.) A process of a multi-process job joins the job's key-value
    /// store first ([`crate::dist::open_client`]).
    /// Unless `--quiet`, says on stderr which plugin library runs (see [`plugin_line`]).
    pub fn client_for(&self, want: Option<usize>) -> crate::Result<Client> {
        let spec = PluginSpec::from_arg(self.plugin.as_deref());
        let set = self.process_set()?;
        if set.is_multi_process() {
            let store = crate::dist::StoreOptions::from_env()?;
            let client = crate::dist::open_client(&spec, &ClientOptions::default(), &set, &store)?;
            if !self.quiet {
                eprintln!("{}; {}", plugin_line(&client), set.describe());
            }
            return Ok(client);
        }
        let n = self.cpu_devices.or(want).unwrap_or(1);
        let mut client = Client::open(&spec, &ClientOptions::default())?;
        if client.platform_name() == "cpu" && client.addressable_devices().len() != n {
            drop(client);
            client = Client::open(&spec, &ClientOptions::cpu_devices(n))?;
        }
        if !self.quiet {
            eprintln!("{}", plugin_line(&client));
        }
        Ok(client)
    }

    /// Whether to show progress bars: not with `--quiet`, and only on a terminal.
    pub fn progress(&self) -> bool {
        !self.quiet && std::io::stderr().is_terminal()
    }

    /// The plugin and device choice as a command line (for a child process of this program).
    pub fn to_args(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(p) = &self.plugin {
            out.push(format!("--plugin={p}"));
        }
        if let Some(n) = self.cpu_devices {
            out.push(format!("--cpu-devices={n}"));
        }
        out
    }
}

/// The line naming the plugin library a client runs, its platform and where it came from:
/// `sbgm-xla: plugin /path/x.so (cpu, verified lammps-jax-pjrt-cpu 0.11.2)`.
pub fn plugin_line(client: &Client) -> String {
    let path = client.plugin().path();
    format!(
        "sbgm-xla: plugin {} ({}, {})",
        path.display(),
        client.platform_name(),
        crate::pjrt::plugin::provenance(path)
    )
}

/// Runs one parsed command line; the exit status of a command that ran (0, or 128 + a signal
/// that stopped a training run).
pub fn run_command(cli: Cli) -> anyhow::Result<ExitCode> {
    let done = |r: anyhow::Result<()>| r.map(|()| ExitCode::SUCCESS);
    match cli.command {
        Command::Devices(a) => done(devices::devices(&a)),
        Command::Plugin(a) => done(plugin::plugin(&a)),
        Command::Run(a) => done(run::run(&a)),
        Command::Inspect(a) => done(inspect::inspect_cmd(&a)),
        Command::Convert(a) => done(convert::convert(&a)),
        Command::Score(a) => done(score::score_cmd(&a)),
        Command::Sample(a) => done(sample::sample_cmd(&a)),
        Command::Loglik(a) => done(loglik::loglik_cmd(&a)),
        Command::Train(a) => train::train(&a),
        Command::Data(a) => done(data::data_cmd(&a)),
        Command::Evaluate(a) => done(evaluate::evaluate_cmd(&a)),
    }
}

/// The binary's entry point: parses `std::env::args`, runs, reports errors on stderr.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run_command(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", output::error_text(&e));
            ExitCode::FAILURE
        }
    }
}
