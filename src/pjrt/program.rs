//! [`Program`] (StableHLO as MLIR text or bytecode) and [`CompileOptions`] (replicas,
//! partitions, SPMD/Shardy partitioning, device assignment).

use super::assignment;
use super::client::Client;
use super::proto::BuildOptions;
use crate::error::{Error, Result};
use std::path::Path;

use super::bytecode;

/// A StableHLO program, compiled with the PJRT program format `"mlir"`.
#[derive(Clone, Debug, PartialEq)]
pub enum Program {
    /// MLIR text (what sbgm-xla emits, or `jax.jit(f).lower(...).as_text()`).
    Text(String),
    /// MLIR bytecode, for instance a portable VHLO artifact (`Exported.mlir_module_serialized`).
    Bytecode(Vec<u8>),
}

impl From<&str> for Program {
    fn from(s: &str) -> Self {
        Program::Text(s.to_string())
    }
}

impl From<String> for Program {
    fn from(s: String) -> Self {
        Program::Text(s)
    }
}

impl Program {
    /// MLIR text.
    pub fn text(s: impl Into<String>) -> Self {
        Program::Text(s.into())
    }

    /// Bytes that are MLIR bytecode (they start with `ML\xefR`; their framing is checked,
    /// see [`bytecode`]) or else UTF-8 MLIR text.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self> {
        if bytes.starts_with(bytecode::MAGIC) {
            bytecode::check_framing(&bytes)?;
            return Ok(Program::Bytecode(bytes));
        }
        String::from_utf8(bytes).map(Program::Text).map_err(|_| {
            Error::msg(
                "the program is neither MLIR bytecode (which starts with ML\\xefR) nor UTF-8 MLIR text",
            )
        })
    }

    /// Reads a `.mlir` (text) or `.mlirbc` (bytecode) file; the content decides which.
    pub fn from_file(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_bytes(bytes).map_err(|e| Error::msg(format!("{}: {e}", path.display())))
    }

    /// The bytes handed to the plugin.
    pub fn code(&self) -> &[u8] {
        match self {
            Program::Text(s) => s.as_bytes(),
            Program::Bytecode(b) => b,
        }
    }

    /// An integer module attribute of MLIR text (`mhlo.num_partitions = 4 : i32`).
    fn module_int_attr(&self, name: &str) -> Option<usize> {
        let Program::Text(t) = self else { return None };
        // The module's attributes are on its header line: `module @m attributes {...} {`.
        let head = t
            .lines()
            .map(str::trim_start)
            .find(|l| l.starts_with("module"))?;
        let at = head.find(name)?;
        let rest = head[at + name.len()..]
            .trim_start()
            .strip_prefix('=')?
            .trim_start();
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        digits.parse().ok()
    }

    /// `mhlo.num_partitions` of MLIR text.
    pub fn num_partitions(&self) -> Option<usize> {
        self.module_int_attr("mhlo.num_partitions")
    }

    /// `mhlo.num_replicas` of MLIR text.
    pub fn num_replicas(&self) -> Option<usize> {
        self.module_int_attr("mhlo.num_replicas")
    }

    /// Whether the program carries Shardy (`sdy`) shardings.
    pub fn uses_shardy(&self) -> bool {
        let c = self.code();
        contains(c, b"sdy.mesh") || contains(c, b"sdy.sharding")
    }

    /// The StableHLO version a portable artifact was written with (`StableHLO_v1.9.5` in its
    /// producer string), when the bytes say.
    pub fn stablehlo_version(&self) -> Option<String> {
        let c = self.code();
        let tag = b"StableHLO_v";
        let at = c.windows(tag.len()).position(|w| w == tag)? + tag.len();
        let v: String = c[at..]
            .iter()
            .take_while(|b| b.is_ascii_digit() || **b == b'.')
            .map(|&b| b as char)
            .collect();
        (!v.is_empty()).then_some(v)
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Options for [`Client::compile`]. `None` fields are taken from the program where it says
/// (`mhlo.num_partitions`, `mhlo.num_replicas`, Shardy shardings) and otherwise default to one
/// replica, one partition, SPMD partitioning when there are several partitions.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CompileOptions {
    /// Number of replicas (data-parallel copies with explicit collectives).
    pub num_replicas: Option<usize>,
    /// Number of partitions (SPMD shards of one program).
    pub num_partitions: Option<usize>,
    /// Partition the program with XLA's SPMD partitioner (default: when partitions > 1).
    pub use_spmd_partitioning: Option<bool>,
    /// Use the Shardy partitioner (default: when the program has `sdy` shardings).
    pub use_shardy_partitioner: Option<bool>,
    /// Devices, `[replica][partition]`, as indices into [`Client::addressable_devices`]
    /// (default: the plugin's choice, devices 0, 1, ...; on a multi-process client, the
    /// global devices sorted by process, then id, see [`super::assignment`]).
    pub device_assignment: Option<Vec<Vec<usize>>>,
}

impl CompileOptions {
    /// `n` SPMD partitions, one replica.
    pub fn spmd(n: usize) -> Self {
        CompileOptions {
            num_partitions: Some(n),
            num_replicas: Some(1),
            use_spmd_partitioning: Some(true),
            ..Default::default()
        }
    }

    /// The build options for `program` on `client`, checked against its devices.
    pub(crate) fn resolve(&self, program: &Program, client: &Client) -> Result<BuildOptions> {
        let num_replicas = self.num_replicas.or(program.num_replicas()).unwrap_or(1);
        let num_partitions = self
            .num_partitions
            .or(program.num_partitions())
            .unwrap_or(1);
        if num_replicas == 0 || num_partitions == 0 {
            return Err(Error::BadArgument(format!(
                "compile options ask for {num_replicas} replicas and {num_partitions} partitions; both must be at least 1"
            )));
        }
        let multi = client.is_multi_process();
        let needed = num_replicas * num_partitions;
        let available = if multi {
            client.devices().len()
        } else {
            client.device_count()
        };
        if needed > available {
            return Err(Error::NotEnoughDevices {
                needed,
                replicas: num_replicas,
                partitions: num_partitions,
                available,
            });
        }
        let device_assignment = match (&self.device_assignment, multi) {
            (None, false) => None,
            // Over the global devices: each process then runs on its addressable ones.
            (None, true) => Some(assignment::global_assignment(
                client.devices(),
                num_replicas,
                num_partitions,
            )?),
            // Explicit devices are this process's own (e.g. a one-device program of each
            // process of a job).
            (Some(da), _) => Some(addressable_assignment(
                da,
                client,
                num_replicas,
                num_partitions,
            )?),
        };
        Ok(BuildOptions {
            num_replicas,
            num_partitions,
            use_spmd_partitioning: self.use_spmd_partitioning.unwrap_or(num_partitions > 1),
            use_shardy_partitioner: self
                .use_shardy_partitioner
                .unwrap_or_else(|| program.uses_shardy()),
            device_assignment,
        })
    }
}

/// An assignment of addressable device indices as device ids, checked against the client.
fn addressable_assignment(
    da: &[Vec<usize>],
    client: &Client,
    num_replicas: usize,
    num_partitions: usize,
) -> Result<Vec<Vec<i64>>> {
    if da.len() != num_replicas || da.iter().any(|r| r.len() != num_partitions) {
        return Err(Error::BadArgument(format!(
            "the device assignment must have {num_replicas} rows (replicas) of {num_partitions} devices (partitions), got {da:?}"
        )));
    }
    let available = client.device_count();
    let mut seen = Vec::new();
    let mut ids = Vec::new();
    for row in da {
        let mut r = Vec::new();
        for &d in row {
            let dev = client.addressable_devices().get(d).ok_or_else(|| {
                Error::BadArgument(format!(
                    "the device assignment names device {d}, but the client has {available} devices (0..{available})"
                ))
            })?;
            if seen.contains(&d) {
                return Err(Error::BadArgument(format!(
                    "the device assignment uses device {d} twice: {da:?}"
                )));
            }
            seen.push(d);
            r.push(dev.id as i64);
        }
        ids.push(r);
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_module_attributes_and_versions() {
        let p = Program::text(
            "module @m attributes {mhlo.num_partitions = 4 : i32, mhlo.num_replicas = 1 : i32} {\n  func.func @main() {}\n}",
        );
        assert_eq!(p.num_partitions(), Some(4));
        assert_eq!(p.num_replicas(), Some(1));
        assert!(!p.uses_shardy());
        let q =
            Program::text("module {\n func.func @main() { \"x\"() {mhlo.num_partitions = 8} }\n}");
        assert_eq!(
            q.num_partitions(),
            None,
            "only the module's own attributes count"
        );
        let b = Program::Bytecode(b"ML\xefR\x00StableHLO_v1.9.5\x00rest".to_vec());
        assert!(
            Program::from_bytes(b.code().to_vec()).is_err(),
            "bad framing"
        );
        assert_eq!(b.stablehlo_version().as_deref(), Some("1.9.5"));
        assert!(Program::from_bytes(vec![0xff, 0xfe, 0x00]).is_err());
    }
}
