//! `sbgm-xla run FILE --input a.npy ... --out-dir DIR`: compiles a StableHLO module (MLIR text
//! or bytecode, e.g. the `mlir_module_serialized` bytes of a `jax.export`) or a serialized
//! `jax.export` artifact, runs it on one device with `.npy` inputs and writes `out_<i>.npy`.

use super::RuntimeArgs;
use crate::error::{Error, Result};
use crate::host::HostArray;
use crate::io::export::{ModuleArg, Program as ProgramFile, read_program};
use crate::io::npy::{read_npy, write_npy};
use crate::pjrt::{Client, CompileOptions, Program};
use anyhow::Context;
use clap::Args;
use std::path::{Path, PathBuf};

/// Arguments of `sbgm-xla run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The program: .mlir (text), .mlirbc (bytecode) or a serialized jax.export artifact.
    pub file: PathBuf,
    /// An input array (.npy), once per argument, in order.
    #[arg(long = "input", short = 'i', value_name = "FILE.npy")]
    pub inputs: Vec<PathBuf>,
    /// Where to write the outputs, as out_0.npy, out_1.npy, ...
    #[arg(long, value_name = "DIR")]
    pub out_dir: PathBuf,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

/// Compiles the program in `path` and runs it on one device of `client` with `inputs`.
///
/// For a `jax.export` artifact, `inputs` are the exported function's arguments (all of them,
/// also ones the export dropped); the platform index and the kept arguments are passed to the
/// module as its calling convention says.
pub fn run_program(client: &Client, path: &Path, inputs: &[HostArray]) -> Result<Vec<HostArray>> {
    match read_program(path)? {
        ProgramFile::Module { bytes, .. } => {
            let exe = client.compile(&Program::from_bytes(bytes)?, &CompileOptions::default())?;
            exe.run_host(inputs)
        }
        ProgramFile::Exported(art) => {
            art.check_runnable()?;
            art.check_inputs(inputs)?;
            if art.nr_devices > 1 {
                return Err(Error::BadArgument(format!(
                    "the exported function was lowered for {} devices; `run` runs single-device exports",
                    art.nr_devices
                )));
            }
            if !art.ordered_effects.is_empty() {
                return Err(Error::BadArgument(format!(
                    "the exported function has ordered effects ({}), which `run` does not support",
                    art.ordered_effects.join(", ")
                )));
            }
            let mut args = Vec::new();
            for a in art.module_args() {
                match a {
                    ModuleArg::PlatformIndex => args.push(HostArray::scalar(
                        art.platform_index(client.platform_name())?,
                    )),
                    ModuleArg::Input(i) => args.push(inputs[i].clone()),
                    ModuleArg::Token(_) => unreachable!("ordered effects are refused above"),
                }
            }
            let program = Program::from_bytes(art.mlir_module.clone())?;
            let exe = client.compile(&program, &CompileOptions::default())?;
            exe.run_host(&args)
        }
    }
}

/// Runs `sbgm-xla run`.
pub fn run(args: &RunArgs) -> anyhow::Result<()> {
    let inputs: Vec<HostArray> = args
        .inputs
        .iter()
        .map(|p| read_npy(p).with_context(|| format!("reading input {}", p.display())))
        .collect::<anyhow::Result<_>>()?;
    let client = args.runtime.client()?;
    let outputs = run_program(&client, &args.file, &inputs)
        .with_context(|| format!("running {}", args.file.display()))?;
    std::fs::create_dir_all(&args.out_dir)
        .with_context(|| format!("creating {}", args.out_dir.display()))?;
    for (i, out) in outputs.iter().enumerate() {
        let path = args.out_dir.join(format!("out_{i}.npy"));
        write_npy(&path, out).with_context(|| format!("writing {}", path.display()))?;
        println!("{}: {}{:?}", path.display(), out.dtype(), out.shape());
    }
    Ok(())
}
