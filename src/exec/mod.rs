//! Glue between the graph builder and the runtime: compiles built [`Module`]s on a PJRT
//! [`Client`] (cached by a hash of their text), optionally dumping every module's text to a
//! directory, and runs them on host arrays with argument checks that name the argument.
//! Every compile goes through the [`persistent`] cache, so a later process loads the
//! executable instead of compiling it again.

pub mod checked;
pub mod persistent;

pub use persistent::compile;

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::graph::Module;
use crate::host::HostArray;
use crate::pjrt::{Client, CompileOptions, Executable, Program};

/// The environment variable naming a directory that receives the text of every module
/// compiled (what the `--dump-hlo DIR` switch sets).
pub const DUMP_ENV: &str = "SBGM_XLA_DUMP_HLO";

/// A compiled module: its executable plus the names and types of its arguments and results.
#[derive(Clone)]
pub struct Compiled {
    exe: Rc<Executable>,
    module: Rc<Module>,
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

/// Compiles graph modules on one client, each distinct text once.
pub struct Exec {
    client: Client,
    cache: RefCell<HashMap<[u8; 32], Rc<Executable>>>,
    dump_dir: Option<PathBuf>,
}

impl Exec {
    /// An executor on `client`; modules are dumped to `$SBGM_XLA_DUMP_HLO` when it is set.
    pub fn new(client: Client) -> Exec {
        let dump_dir = std::env::var_os(DUMP_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        Exec {
            client,
            cache: RefCell::new(HashMap::new()),
            dump_dir,
        }
    }

    /// An executor on the default CPU plugin.
    pub fn cpu() -> Result<Exec> {
        Ok(Exec::new(Client::cpu()?))
    }

    /// Dumps every compiled module's text into `dir` (created if needed).
    pub fn with_dump_dir(mut self, dir: impl Into<PathBuf>) -> Exec {
        self.dump_dir = Some(dir.into());
        self
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Compiles `module` (or returns the cached executable of an identical text), with the
    /// module's own partition and replica counts.
    pub fn compile(&self, module: &Module) -> Result<Compiled> {
        let hash: [u8; 32] = Sha256::digest(module.text.as_bytes()).into();
        if let Some(dir) = &self.dump_dir {
            dump(dir, module, &hash)?;
        }
        let cached = self.cache.borrow().get(&hash).cloned();
        let exe = match cached {
            Some(e) => e,
            None => {
                let opts = CompileOptions {
                    num_partitions: Some(module.num_partitions),
                    num_replicas: Some(module.num_replicas),
                    ..Default::default()
                };
                let exe = Rc::new(compile(
                    &self.client,
                    &Program::text(module.text.clone()),
                    &opts,
                )?);
                self.cache.borrow_mut().insert(hash, exe.clone());
                exe
            }
        };
        Ok(Compiled {
            exe,
            module: Rc::new(module.clone()),
        })
    }

    /// Compiles (cached) and runs `module` on host arrays.
    pub fn run(&self, module: &Module, args: &[HostArray]) -> Result<Vec<HostArray>> {
        self.compile(module)?.run(args)
    }

    /// Number of distinct modules compiled so far.
    pub fn cached(&self) -> usize {
        self.cache.borrow().len()
    }
}

fn dump(dir: &Path, module: &Module, hash: &[u8; 32]) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let short: String = hash[..4].iter().map(|b| format!("{b:02x}")).collect();
    let path = dir.join(format!("{}-{short}.mlir", module.name));
    std::fs::write(&path, &module.text).map_err(|e| Error::io(&path, e))
}
