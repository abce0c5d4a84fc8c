//! The compile target: the one object between the graph builder and the runtime
//! ([`Target`]). It holds the PJRT client and the devices programs run on, the matmul policy
//! graphs are built with (precision and host kernels, [`Target::graph_options`]), the
//! persistent compile cache and the dump folder; it compiles built [`Module`]s into
//! [`Compiled`] programs (cached by a hash of their text) run on host arrays, by position or
//! by name, with argument checks that name the argument, or on device [`Buffer`]s. Every
//! compile goes through the [`persistent`] cache, so a later process loads the executable
//! instead of compiling it again. The layers above (train, sample) reach the runtime only
//! through this module.

pub mod checked;
pub mod persistent;
pub mod placement;

pub use persistent::compile;
pub use placement::Placement;

/// Device-resident arrays and the compiled programs of the runtime, as the layers above see
/// them.
pub use crate::pjrt::{Buffer, Executable};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::graph::{Graph, GraphOptions, MatmulPrecision, Module};
use crate::host::HostArray;
use crate::pjrt::{Client, CompileOptions, Program};

/// The environment variable naming a directory that receives the text of every module
/// compiled (what the `--dump-hlo DIR` switch sets).
pub const DUMP_ENV: &str = "SBGM_XLA_DUMP_HLO";

/// A compiled module: its executable plus the names and types of its arguments and results.
#[derive(Clone)]
pub struct Compiled {
    exe: Arc<Executable>,
    module: Arc<Module>,
}

impl Compiled {
    /// The executable (for device buffers and multi-device execution).
    pub fn executable(&self) -> &Executable {
        &self.exe
    }

    /// The module it was compiled from.
    pub fn module(&self) -> &Module {
        &self.module
    }

    /// Runs on host arrays given in the module's argument order; returns the results in order.
    pub fn run(&self, args: &[HostArray]) -> Result<Vec<HostArray>> {
        let m = &self.module;
        if args.len() != m.args.len() {
            let names: Vec<&str> = m.args.iter().map(|(n, _)| n.as_str()).collect();
            return Err(Error::BadArgument(format!(
                "{}: {} arguments given, the module takes {} ({})",
                m.name,
                args.len(),
                m.args.len(),
                names.join(", ")
            )));
        }
        for (a, (name, s)) in args.iter().zip(&m.args) {
            if a.dtype() != s.dtype || a.shape() != s.dims.as_slice() {
                return Err(Error::BadArgument(format!(
                    "{}: argument {name:?} must be {s}, got {}{:?}",
                    m.name,
                    a.dtype(),
                    a.shape()
                )));
            }
        }
        self.exe.run_host(args)
    }

    /// Runs on device buffers: one argument list per device of the program, one result list
    /// per device back.
    pub fn execute(&self, args: &[Vec<&Buffer>]) -> Result<Vec<Vec<Buffer>>> {
        self.exe.execute(args)
    }

    /// [`Compiled::execute`], donating the arguments at positions `donate` (their buffers
    /// are consumed; the results aliased to them reuse the memory).
    pub fn execute_donating(
        &self,
        args: &[Vec<&Buffer>],
        donate: &[usize],
    ) -> Result<Vec<Vec<Buffer>>> {
        self.exe.execute_donating(args, donate)
    }

    /// Runs with arguments given by name (any order); returns results by name.
    pub fn run_named(&self, args: &[(&str, HostArray)]) -> Result<HashMap<String, HostArray>> {
        let mut ordered = Vec::with_capacity(self.module.args.len());
        for (name, _) in &self.module.args {
            let a = args.iter().find(|(n, _)| n == name).ok_or_else(|| {
                Error::BadArgument(format!(
                    "{}: no value given for argument {name:?}",
                    self.module.name
                ))
            })?;
            ordered.push(a.1.clone());
        }
        let out = self.run(&ordered)?;
        Ok(self
            .module
            .results
            .iter()
            .map(|(n, _)| n.clone())
            .zip(out)
            .collect())
    }
}

/// Which host kernels a target's graphs call.
#[derive(Clone, Copy, Debug)]
enum HostKernels {
    /// Those [`crate::kernels::for_precision`] installs where they pay off.
    Auto,
    /// Exactly this bf16 product (or none).
    Fixed(Option<&'static str>),
}

/// A compile target: a PJRT client with its devices, the matmul policy of the graphs built
/// for it, the compile caches (in memory: each distinct module text once; on disk:
/// [`persistent`]) and the dump folder. Cloning shares the client and the cache.
#[derive(Clone)]
pub struct Target {
    client: Client,
    devices: usize,
    precision: MatmulPrecision,
    host_kernels: HostKernels,
    cache: Arc<Mutex<HashMap<[u8; 32], Arc<Executable>>>>,
    dump_dir: Option<PathBuf>,
}

impl Target {
    /// A target on all of `client`'s devices, `f32` products; modules are dumped to
    /// `$SBGM_XLA_DUMP_HLO` when it is set.
    pub fn new(client: Client) -> Target {
        let dump_dir = std::env::var_os(DUMP_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        Target {
            devices: client.devices().len(),
            client,
            precision: MatmulPrecision::default(),
            host_kernels: HostKernels::Auto,
            cache: Arc::new(Mutex::new(HashMap::new())),
            dump_dir,
        }
    }

    /// A target on the default CPU plugin.
    pub fn cpu() -> Result<Target> {
        Ok(Target::new(Client::cpu()?))
    }

    /// Dumps every compiled module's text into `dir` (created if needed).
    pub fn with_dump_dir(mut self, dir: impl Into<PathBuf>) -> Target {
        self.dump_dir = Some(dir.into());
        self
    }

    /// The same target with `f32` products at `precision` (bf16 ones in the host kernel
    /// where the client has one, see [`Target::graph_options`]).
    pub fn with_precision(&self, precision: MatmulPrecision) -> Target {
        Target {
            precision,
            ..self.clone()
        }
    }

    /// The same target with its bf16 products in exactly the host kernel `kernel` (or in
    /// XLA's with `None`), whether or not it pays off here; the kernel must be registered
    /// ([`crate::kernels::register`]).
    pub fn with_host_bf16_matmul(&self, kernel: Option<&'static str>) -> Target {
        Target {
            host_kernels: HostKernels::Fixed(kernel),
            ..self.clone()
        }
    }

    /// The same target on devices `0..n`; more than the client has is an error naming the
    /// limit (a multi-process client uses all of the job's devices).
    pub fn with_devices(&self, n: usize) -> Result<Target> {
        self.placement(n)?;
        Ok(Target {
            devices: n,
            ..self.clone()
        })
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The number of devices SPMD programs run on (`0..devices`; on a multi-process client,
    /// every process's together).
    pub fn devices(&self) -> usize {
        self.devices
    }

    /// Where the partitions of a `partitions`-way program run in this process: uploads,
    /// argument lists and downloads go to [`Placement::local`] only.
    pub fn placement(&self, partitions: usize) -> Result<Placement> {
        Placement::of(
            self.client.devices(),
            self.client.addressable_devices(),
            partitions,
        )
    }

    /// Whether the client is one process of a multi-process job.
    pub fn is_multi_process(&self) -> bool {
        self.client.is_multi_process()
    }

    /// The precision of `f32` products.
    pub fn precision(&self) -> MatmulPrecision {
        self.precision
    }

    /// Whether the devices live in the host's memory (the CPU plugin), so that their needs
    /// count against it.
    pub fn in_host_memory(&self) -> bool {
        self.client.platform_name() == "cpu"
    }

    /// The build options of a program over `partitions` SPMD partitions: the target's
    /// precision, and for one-partition programs the host bf16 kernel (registering it with
    /// the plugin when it pays off; SPMD programs keep XLA's product, which the partitioner
    /// can split).
    pub fn graph_options(&self, partitions: usize) -> GraphOptions {
        let host = match self.host_kernels {
            _ if partitions != 1 => None,
            HostKernels::Fixed(k) => k,
            HostKernels::Auto => crate::kernels::for_precision(&self.client, self.precision),
        };
        GraphOptions {
            matmul_precision: self.precision,
            host_bf16_matmul: host,
        }
    }

    /// A new graph for a one-device program on this target.
    pub fn graph(&self) -> Graph {
        Graph::with_options(self.graph_options(1))
    }

    /// Compiles `module` (or returns the cached executable of an identical text), with the
    /// module's own partition and replica counts. On a multi-process client a one-device
    /// program runs on this process's first device (each process its own copy, e.g. the
    /// held-out loss), a larger one over the job's devices.
    pub fn compile(&self, module: &Module) -> Result<Compiled> {
        let one_device = module.num_partitions * module.num_replicas == 1;
        self.compile_with(
            module,
            &CompileOptions {
                num_partitions: Some(module.num_partitions),
                num_replicas: Some(module.num_replicas),
                device_assignment: (one_device && self.is_multi_process()).then(|| vec![vec![0]]),
                ..Default::default()
            },
        )
    }

    /// Compiles `module` as an SPMD program over its partitions (one replica), e.g. a
    /// training step whose batch is split over the devices.
    pub fn compile_spmd(&self, module: &Module) -> Result<Compiled> {
        self.compile_with(module, &CompileOptions::spmd(module.num_partitions))
    }

    fn compile_with(&self, module: &Module, options: &CompileOptions) -> Result<Compiled> {
        let mut h = Sha256::new();
        h.update(format!("{options:?}|"));
        h.update(module.text.as_bytes());
        let key: [u8; 32] = h.finalize().into();
        if let Some(dir) = &self.dump_dir {
            dump(dir, module)?;
        }
        let cached = self.lock_cache().get(&key).cloned();
        let exe = match cached {
            Some(e) => e,
            None => {
                let program = Program::text(module.text.clone());
                let exe = Arc::new(compile(&self.client, &program, options)?);
                self.lock_cache().insert(key, exe.clone());
                exe
            }
        };
        Ok(Compiled {
            exe,
            module: Arc::new(module.clone()),
        })
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Arc<Executable>>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Compiles (cached) and runs `module` on host arrays.
    pub fn run(&self, module: &Module, args: &[HostArray]) -> Result<Vec<HostArray>> {
        self.compile(module)?.run(args)
    }

    /// Number of distinct modules compiled so far.
    pub fn cached(&self) -> usize {
        self.lock_cache().len()
    }

    /// Copies `host` to device `device`.
    pub fn upload(&self, host: &HostArray, device: usize) -> Result<Buffer> {
        self.client.buffer_from_host(host, device)
    }

    /// Copies each of `host` to each device `0..devices`: `[device][array]`.
    pub fn upload_replicated(
        &self,
        host: &[HostArray],
        devices: usize,
    ) -> Result<Vec<Vec<Buffer>>> {
        (0..devices)
            .map(|d| host.iter().map(|h| self.upload(h, d)).collect())
            .collect()
    }
}

fn dump(dir: &Path, module: &Module) -> Result<()> {
    let hash: [u8; 32] = Sha256::digest(module.text.as_bytes()).into();
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let short: String = hash[..4].iter().map(|b| format!("{b:02x}")).collect();
    let path = dir.join(format!("{}-{short}.mlir", module.name));
    std::fs::write(&path, &module.text).map_err(|e| Error::io(&path, e))
}
