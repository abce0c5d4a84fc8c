//! `sbgm-xla run FILE --input a.npy ... --out-dir DIR`: compiles a StableHLO module (MLIR text
//! or bytecode, e.g. the `mlir_module_serialized` bytes of a `jax.export`) or a serialized
//! `jax.export` artifact, runs it on one device with `.npy` inputs and writes `out_<i>.npy`.
//!
//! The program is checked and compiled by [`crate::exec::checked`]: first in a child process
//! (this program, `run --isolated-compile`), then here. See docs/EXPORT.md.

use super::RuntimeArgs;
use super::output::outln;
use crate::exec::checked::{Prepared, compile_checked, compile_in_child, register_kernels};
use crate::host::HostArray;
use crate::io::npy::{read_npy, write_npy};
use crate::io::outputs::{NamedPath, check_output_dir, check_outputs};
use anyhow::Context;
use clap::Args;
use std::path::PathBuf;

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
    /// Internal: only compile the program and exit (the child process of [`compile_isolated`]).
    #[arg(long, hide = true)]
    pub isolated_compile: bool,
}

/// Compiles the program of `args` in a child process, this program with `run
/// --isolated-compile` (see [`compile_in_child`]).
pub fn compile_isolated(args: &RunArgs) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("finding this program to check the module")?;
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["run", "--isolated-compile", "--out-dir"])
        .arg(&args.out_dir)
        .args(args.runtime.to_args())
        .arg("--quiet")
        .arg("--")
        .arg(&args.file);
    Ok(compile_in_child(cmd, &args.file)?)
}

/// Runs `sbgm-xla run`. The outputs never replace an input: `out_<i>.npy` in --out-dir is
/// checked against the program and every --input before anything is written.
pub fn run(args: &RunArgs) -> anyhow::Result<()> {
    if args.isolated_compile {
        let client = args.runtime.client()?;
        register_kernels(&client);
        let prepared = Prepared::read(&client, &args.file)?;
        compile_checked(&client, &prepared.program)?;
        return Ok(());
    }
    check_output_dir("--out-dir", &args.out_dir)?;
    let inputs: Vec<HostArray> = args
        .inputs
        .iter()
        .map(|p| read_npy(p).with_context(|| format!("reading input {}", p.display())))
        .collect::<anyhow::Result<_>>()?;
    let client = args.runtime.client()?;
    register_kernels(&client);
    let running = || format!("running {}", args.file.display());
    let prepared = Prepared::read(&client, &args.file).with_context(running)?;
    let call_args = prepared.arguments(&client, &inputs).with_context(running)?;
    compile_isolated(args).with_context(running)?;
    let outputs = compile_checked(&client, &prepared.program)
        .and_then(|exe| exe.run_host(&call_args))
        .with_context(running)?;
    std::fs::create_dir_all(&args.out_dir)
        .with_context(|| format!("creating {}", args.out_dir.display()))?;
    let paths: Vec<NamedPath> = (0..outputs.len())
        .map(|i| NamedPath::new("--out-dir", args.out_dir.join(format!("out_{i}.npy"))))
        .collect();
    let mut read = vec![NamedPath::new("FILE", &args.file)];
    read.extend(args.inputs.iter().map(|p| NamedPath::new("--input", p)));
    check_outputs(&read, &paths)?;
    for (out, path) in outputs.iter().zip(&paths) {
        let path = &path.path;
        write_npy(path, out).with_context(|| format!("writing {}", path.display()))?;
        outln!("{}: {}{:?}", path.display(), out.dtype(), out.shape());
    }
    Ok(())
}
