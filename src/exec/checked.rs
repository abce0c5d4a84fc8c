//! Compiling programs that come from files, which the plugin must not be trusted to survive:
//! a program is read and checked on our side first ([`Prepared`]: artifact fields, what a
//! single-device run supports, the StableHLO version against the plugin), compiled on a large
//! stack with explanations for missing custom calls ([`compile_checked`]), and first compiled
//! in a child process that may crash or hang without taking the caller down
//! ([`compile_in_child`]). See docs/EXPORT.md.

use crate::error::{Error, Result};
use crate::host::HostArray;
use crate::io::export::{ExportedArtifact, ModuleArg, Program as ProgramFile, read_program};
use crate::pjrt::{Client, CompileOptions, Executable, Program};
use std::path::Path;
use std::process::{Command, ExitStatus};

/// A program file read and checked on our side, ready for the plugin: the module and, for a
/// `jax.export` artifact, its signature and calling convention.
pub struct Prepared {
    /// The StableHLO module.
    pub program: Program,
    /// The artifact the module came from, if any.
    pub exported: Option<ExportedArtifact>,
}

impl Prepared {
    /// Reads `path` and checks everything that can be checked before compiling: the file's
    /// structure (artifact fields, bytecode framing), what `run` supports (fixed shapes, one
    /// device, no ordered effects) and the StableHLO version against the plugin of `client`.
    pub fn read(client: &Client, path: &Path) -> Result<Prepared> {
        let prepared = match read_program(path)? {
            ProgramFile::Module { bytes, .. } => Prepared {
                program: Program::from_bytes(bytes)?,
                exported: None,
            },
            ProgramFile::Exported(art) => {
                art.check_runnable()?;
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
                Prepared {
                    program: Program::from_bytes(art.mlir_module.clone())?,
                    exported: Some(art),
                }
            }
        };
        check_stablehlo_version(client, &prepared.program)?;
        Ok(prepared)
    }

    /// The module's arguments for `inputs`: for a `jax.export` artifact, `inputs` are the
    /// exported function's arguments (all of them, also ones the export dropped), checked
    /// against its signature; the platform index and the kept arguments are passed as its
    /// calling convention says.
    pub fn arguments(&self, client: &Client, inputs: &[HostArray]) -> Result<Vec<HostArray>> {
        let Some(art) = &self.exported else {
            return Ok(inputs.to_vec());
        };
        art.check_inputs(inputs)?;
        let mut args = Vec::new();
        for a in art.module_args() {
            match a {
                ModuleArg::PlatformIndex => args.push(HostArray::scalar(
                    art.platform_index(client.platform_name())?,
                )),
                ModuleArg::Input(i) => args.push(inputs.get(i).cloned().ok_or_else(|| {
                    Error::msg(format!(
                        "the artifact's module takes input {i}, which is missing"
                    ))
                })?),
                ModuleArg::Token(_) => {
                    return Err(Error::BadArgument(
                        "the exported function has ordered effects, which `run` does not support"
                            .into(),
                    ));
                }
            }
        }
        Ok(args)
    }
}

/// Registers sbgm-xla's host kernels ([`crate::kernels`]) on a CPU client: modules sbgm-xla
/// dumped (SBGM_XLA_DUMP_HLO) may call them; a plugin without the FFI extension still runs
/// every other module.
pub fn register_kernels(client: &Client) {
    if client.platform_name() == "cpu" {
        crate::kernels::register(client).ok();
    }
}

/// Compiles the program in `path` and runs it on one device of `client` with `inputs` (see
/// [`Prepared::arguments`]), in this process. On the CPU platform sbgm-xla's host kernels are
/// registered first. The `run` command compiles a user's file in a child process first
/// ([`compile_in_child`]); this function does not.
pub fn run_program(client: &Client, path: &Path, inputs: &[HostArray]) -> Result<Vec<HostArray>> {
    register_kernels(client);
    let prepared = Prepared::read(client, path)?;
    let args = prepared.arguments(client, inputs)?;
    compile_checked(client, &prepared.program)?.run_host(&args)
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
    on_large_stack(|| crate::exec::compile(client, program, &CompileOptions::default())).map_err(
        |e| match custom_call_targets(program) {
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
        },
    )
}

/// Runs `f` on a thread with a 512 MiB stack (reserved address space, used only as needed):
/// the plugin's MLIR parser recurses with the nesting of the program, and a deeply nested or
/// corrupt file would overflow the main thread's 8 MiB.
fn on_large_stack<T: Send>(f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    std::thread::scope(|s| {
        let handle = std::thread::Builder::new()
            .name("sbgm-xla-compile".into())
            .stack_size(512 << 20)
            .spawn_scoped(s, f)
            .map_err(|e| Error::msg(format!("cannot start a thread to compile on: {e}")))?;
        handle
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// The environment variable that limits how long the plugin may take to compile a `run`
/// program, in seconds (default [`DEFAULT_COMPILE_TIMEOUT_S`]).
pub const COMPILE_TIMEOUT_ENV: &str = "SBGM_XLA_COMPILE_TIMEOUT";

/// The default compile time limit of `run`, in seconds.
pub const DEFAULT_COMPILE_TIMEOUT_S: u64 = 600;

/// Runs `cmd`, a child process that compiles the program `file` (e.g. this program's `run
/// --isolated-compile`), and turns the child's death into an error: the plugin parses
/// untrusted bytes, and a corrupt file can abort or crash it, which no error handling in this
/// process could catch; it can also send the compiler into a loop, so the child gets
/// `$SBGM_XLA_COMPILE_TIMEOUT` seconds (and dies with this process). A child that compiles
/// through the persistent compile cache ([`crate::exec::persistent`]) leaves its result for
/// the compile that follows here. A clean compile error in the child (exit status 1, an
/// `error: ` line on stderr) is returned as the child worded it; the caller should never
/// compile a file the child could not.
pub fn compile_in_child(mut cmd: Command, file: &Path) -> Result<()> {
    let limit = std::env::var(COMPILE_TIMEOUT_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(DEFAULT_COMPILE_TIMEOUT_S);
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            })
        };
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::msg(format!("starting a child process to check the module: {e}")))?;
    let mut pipe = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        if let Some(p) = pipe.as_mut() {
            std::io::Read::read_to_end(p, &mut text).ok();
        }
        text
    });
    let start = std::time::Instant::now();
    let status = loop {
        let polled = child.try_wait().map_err(|e| Error::msg(e.to_string()))?;
        if let Some(status) = polled {
            break Some(status);
        }
        if start.elapsed().as_secs() >= limit {
            child.kill().ok();
            child.wait().ok();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    let stderr = reader.join().unwrap_or_default();
    let Some(status) = status else {
        return Err(Error::msg(format!(
            "the plugin did not finish compiling {} within {limit} s ({COMPILE_TIMEOUT_ENV}); \
             the file may be corrupt; if it is a large valid program, raise {COMPILE_TIMEOUT_ENV}",
            file.display()
        )));
    };
    if status.success() {
        return Ok(());
    }
    Err(Error::msg(child_failure(status, &stderr, file)))
}

/// What a child that failed to compile `file` said: a clean compile error as the child worded
/// it (with its explanations), else how it died and its last lines on stderr.
fn child_failure(status: ExitStatus, stderr: &[u8], file: &Path) -> String {
    let text = String::from_utf8_lossy(stderr);
    if status.code() == Some(1)
        && let Some(at) = text.find("error: ")
    {
        return text[at + "error: ".len()..].trim_end().to_string();
    }
    let said: Vec<&str> = std::str::from_utf8(stderr)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    let said = said[said.len().saturating_sub(4)..].join("\n  ");
    format!(
        "the plugin could not compile {}: it {} while parsing or compiling it; the file is \
         corrupt or not a StableHLO module this plugin reads (re-export it, or check it with \
         the tool that wrote it){}",
        file.display(),
        describe_death(status),
        if said.is_empty() {
            String::new()
        } else {
            format!("\nThe plugin said:\n  {said}")
        }
    )
}

/// How a child process ended, in words: `crashed (signal 6, SIGABRT)`, `exited with status 3`.
fn describe_death(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.signal(), status.code()) {
        (Some(sig), _) => {
            let name = match sig {
                4 => ", SIGILL",
                6 => ", SIGABRT",
                7 => ", SIGBUS",
                8 => ", SIGFPE",
                9 => ", SIGKILL: out of memory?",
                11 => ", SIGSEGV",
                _ => "",
            };
            format!("crashed (signal {sig}{name})")
        }
        (None, Some(code)) => format!("exited with status {code}"),
        (None, None) => "ended".to_string(),
    }
}
