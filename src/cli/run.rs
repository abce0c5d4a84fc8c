//! `sbgm-xla run FILE --input a.npy ... --out-dir DIR`: compiles a StableHLO module (MLIR text
//! or bytecode, e.g. the `mlir_module_serialized` bytes of a `jax.export`) or a serialized
//! `jax.export` artifact, runs it on one device with `.npy` inputs and writes `out_<i>.npy`.
//!
//! Before compiling, a portable artifact's StableHLO version is checked against the versions
//! the plugin reads, and a program that fails to compile because of custom calls (jaxlib's
//! LAPACK kernels, for instance, are not in a standalone plugin) says so. See docs/EXPORT.md.

use super::RuntimeArgs;
use super::output::{NamedPath, check_output_dir, check_outputs, outln};
use crate::error::{Error, Result};
use crate::host::HostArray;
use crate::io::export::{ModuleArg, Program as ProgramFile, read_program};
use crate::io::npy::{read_npy, write_npy};
use crate::pjrt::{Client, CompileOptions, Executable, Program};
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

/// Compiles the program in `path` and runs it on one device of `client` with `inputs`. On
/// the CPU platform sbgm-xla's host kernels ([`crate::kernels`]) are registered first.
///
/// For a `jax.export` artifact, `inputs` are the exported function's arguments (all of them,
/// also ones the export dropped); the platform index and the kept arguments are passed to the
/// module as its calling convention says.
pub fn run_program(client: &Client, path: &Path, inputs: &[HostArray]) -> Result<Vec<HostArray>> {
    // Modules sbgm-xla dumped (SBGM_XLA_DUMP_HLO) may call its host kernels; a plugin without
    // the FFI extension still runs every other module.
    if client.platform_name() == "cpu" {
        crate::kernels::register(client).ok();
    }
    match read_program(path)? {
        ProgramFile::Module { bytes, .. } => {
            let exe = compile_checked(client, &Program::from_bytes(bytes)?)?;
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
            let exe = compile_checked(client, &program)?;
            exe.run_host(&args)
        }
    }
}

/// A dotted version (`1.10.0`) as numbers, for comparison.
fn version_numbers(v: &str) -> Vec<u64> {
    v.split('.').map(|p| p.parse().unwrap_or(0)).collect()
}

/// Checks that the plugin reads the program's StableHLO version (when the program states one).
pub fn check_stablehlo_version(client: &Client, program: &Program) -> Result<()> {
    let Some(have) = program.stablehlo_version() else {
        return Ok(());
    };
    let (min, cur) = client.plugin().stablehlo_versions();
    let plugin = client.plugin().describe();
    let range = format!(
        "{} to {}",
        min.as_deref().unwrap_or("?"),
        cur.as_deref().unwrap_or("?")
    );
    if let Some(cur) = &cur
        && version_numbers(&have) > version_numbers(cur)
    {
        return Err(Error::BadArgument(format!(
            "the program was written with StableHLO {have}, newer than the plugin reads \
             ({range}; plugin {plugin}): re-export it for an older StableHLO target (an older \
             JAX, or jax.export's compatibility target), or install a newer plugin"
        )));
    }
    if let Some(min) = &min
        && version_numbers(&have) < version_numbers(min)
    {
        return Err(Error::BadArgument(format!(
            "the program was written with StableHLO {have}, older than the plugin reads \
             ({range}; plugin {plugin}): re-export it with a newer JAX"
        )));
    }
    Ok(())
}

/// The custom-call targets of a program: exact for MLIR text (`stablehlo.custom_call @name`),
/// `None` when there are none; for bytecode, an empty list when it has custom calls (the
/// target names are not recovered from bytecode).
pub fn custom_call_targets(program: &Program) -> Option<Vec<String>> {
    match program {
        Program::Text(t) => {
            let mut out: Vec<String> = Vec::new();
            for (i, _) in t.match_indices("custom_call") {
                let rest = t[i + "custom_call".len()..].trim_start();
                let name: String = rest
                    .strip_prefix('@')
                    .map(|r| {
                        r.trim_start_matches('"')
                            .chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || "_.$-".contains(*c))
                            .collect()
                    })
                    .unwrap_or_default();
                if !name.is_empty() && !out.contains(&name) {
                    out.push(name);
                }
            }
            (!out.is_empty() || t.contains("stablehlo.custom_call")).then_some(out)
        }
        Program::Bytecode(b) => {
            let tag = b"custom_call";
            b.windows(tag.len()).any(|w| w == tag).then(Vec::new)
        }
    }
}

/// Compiles `program` after [`check_stablehlo_version`]; a compile failure of a program with
/// custom calls names them and says why.
pub fn compile_checked(client: &Client, program: &Program) -> Result<Executable> {
    check_stablehlo_version(client, program)?;
    crate::exec::compile(client, program, &CompileOptions::default()).map_err(|e| {
        match custom_call_targets(program) {
            Some(targets) if matches!(e, Error::Compile { .. }) => {
                let which = if targets.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", targets.join(", "))
                };
                Error::BadArgument(format!(
                    "the program uses custom calls{which} that the plugin {} does not provide: \
                     {e}\nCustom calls from jaxlib (LAPACK/cuSOLVER kernels behind jnp.linalg, \
                     host callbacks, ...) are not part of a standalone PJRT plugin; re-export the \
                     function without them, or use a plugin that registers them",
                    client.plugin().describe()
                ))
            }
            _ => e,
        }
    })
}

/// Runs `sbgm-xla run`. The outputs never replace an input: `out_<i>.npy` in --out-dir is
/// checked against the program and every --input before anything is written.
pub fn run(args: &RunArgs) -> anyhow::Result<()> {
    check_output_dir("--out-dir", &args.out_dir)?;
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
