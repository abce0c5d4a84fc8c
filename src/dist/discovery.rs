//! Which processes make up the job ([`ProcessSet`]): from the command-line flags, from
//! `SBGM_XLA_*` variables, or from what a launcher puts in the environment (SLURM, torchrun,
//! Open MPI, a TPU pod). A pure function of the flags and an environment map.

use crate::error::{Error, ErrorCode, Result};
use std::collections::HashMap;

/// The coordinator's port when a launcher names only its host (SLURM, Open MPI, TPU pods).
pub const DEFAULT_PORT: u16 = 8476;

/// Environment variables the flags fall back on.
pub const ENV_COORDINATOR: &str = "SBGM_XLA_COORDINATOR";
/// See [`ENV_COORDINATOR`].
pub const ENV_PROCESS_ID: &str = "SBGM_XLA_PROCESS_ID";
/// See [`ENV_COORDINATOR`].
pub const ENV_NUM_PROCESSES: &str = "SBGM_XLA_NUM_PROCESSES";

/// Where the process set came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Launcher {
    /// Nothing asked for several processes: one process.
    Single,
    /// `--coordinator/--process-id/--num-processes` or `SBGM_XLA_*` (these win over a launcher).
    Explicit,
    /// `srun` (`SLURM_PROCID`, `SLURM_NTASKS`, the first host of the node list).
    Slurm,
    /// `torchrun` (`RANK`, `WORLD_SIZE`, `MASTER_ADDR`, `MASTER_PORT`).
    Torchrun,
    /// Open MPI's `mpirun` (`OMPI_COMM_WORLD_RANK`, `OMPI_COMM_WORLD_SIZE`).
    OpenMpi,
    /// A Cloud TPU pod (`TPU_WORKER_ID`, `TPU_WORKER_HOSTNAMES`); libtpu finds its peers itself.
    Tpu,
}

impl std::fmt::Display for Launcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Launcher::Single => "one process",
            Launcher::Explicit => "flags or SBGM_XLA_* variables",
            Launcher::Slurm => "SLURM",
            Launcher::Torchrun => "torchrun",
            Launcher::OpenMpi => "Open MPI",
            Launcher::Tpu => "TPU pod",
        })
    }
}

/// The command-line flags of a process set (each may be left out).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LaunchFlags {
    /// `--coordinator HOST:PORT`: where process 0 serves the key-value store.
    pub coordinator: Option<String>,
    /// `--process-id I`.
    pub process_id: Option<usize>,
    /// `--num-processes N`.
    pub num_processes: Option<usize>,
}

/// This process's place in the job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessSet {
    /// This process's index, `0..num_processes`; process 0 serves the key-value store.
    pub process_id: usize,
    /// How many processes run the same command.
    pub num_processes: usize,
    /// `HOST:PORT` of process 0's key-value store (`None` for one process).
    pub coordinator: Option<String>,
    /// Where the set came from.
    pub launcher: Launcher,
}

impl ProcessSet {
    /// One process on its own.
    pub fn single() -> ProcessSet {
        ProcessSet {
            process_id: 0,
            num_processes: 1,
            coordinator: None,
            launcher: Launcher::Single,
        }
    }

    /// Whether more than one process takes part.
    pub fn is_multi_process(&self) -> bool {
        self.num_processes > 1
    }

    /// A one-line description: `process 1 of 4 (SLURM, coordinator node01:8476)`.
    pub fn describe(&self) -> String {
        match &self.coordinator {
            Some(c) if self.is_multi_process() => format!(
                "process {} of {} ({}, coordinator {c})",
                self.process_id, self.num_processes, self.launcher
            ),
            _ => format!(
                "process {} of {} ({})",
                self.process_id, self.num_processes, self.launcher
            ),
        }
    }
}

/// What a launcher's variables say: its kind, this process's rank, the world size and, where
/// the launcher says, the coordinator.
struct Launched {
    launcher: Launcher,
    rank: usize,
    size: usize,
    coordinator: Option<String>,
}

fn bad(msg: String) -> Error {
    Error::distributed(ErrorCode::InvalidArgument, msg)
}

/// A non-negative integer from the variable `name`, if set.
fn env_usize(env: &HashMap<String, String>, name: &str) -> Result<Option<usize>> {
    match env.get(name).map(|v| v.trim()) {
        None | Some("") => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| bad(format!("{name}={v:?} is not a non-negative integer"))),
    }
}

/// The process set from the flags and the environment `env`, in this order: the flags, the
/// `SBGM_XLA_*` variables, SLURM, torchrun, Open MPI, a TPU pod; else one process. Each of
/// coordinator, process id and process count is taken from the first source that gives it.
pub fn discover(flags: &LaunchFlags, env: &HashMap<String, String>) -> Result<ProcessSet> {
    let id = match flags.process_id {
        Some(i) => Some(i),
        None => env_usize(env, ENV_PROCESS_ID)?,
    };
    let n = match flags.num_processes {
        Some(n) => Some(n),
        None => env_usize(env, ENV_NUM_PROCESSES)?,
    };
    let coordinator = flags.coordinator.clone().or_else(|| {
        env.get(ENV_COORDINATOR)
            .filter(|v| !v.trim().is_empty())
            .map(|v| v.trim().to_string())
    });
    let explicit = id.is_some() || n.is_some() || coordinator.is_some();
    let launched = launcher_view(env)?;
    let launcher = match (&launched, explicit) {
        (_, true) => Launcher::Explicit,
        (Some(l), false) => l.launcher,
        (None, false) => return Ok(ProcessSet::single()),
    };
    let process_id = id.or(launched.as_ref().map(|l| l.rank));
    let num_processes = n.or(launched.as_ref().map(|l| l.size));
    let coordinator = coordinator.or_else(|| launched.as_ref().and_then(|l| l.coordinator.clone()));
    if num_processes == Some(0) {
        return Err(bad(
            "--num-processes 0: a job has at least one process".into()
        ));
    }
    let (process_id, num_processes) = match (process_id, num_processes) {
        (Some(i), Some(n)) => (i, n),
        (None, Some(1)) => (0, 1),
        (None, _) => {
            return Err(bad(
                "a multi-process job needs this process's id: give --process-id I (or SBGM_XLA_PROCESS_ID), \
                 0 on the coordinator's host"
                    .into(),
            ));
        }
        (Some(_), None) => {
            return Err(bad(
                "--process-id needs --num-processes N (or SBGM_XLA_NUM_PROCESSES): the same N on every process"
                    .into(),
            ));
        }
    };
    if process_id >= num_processes {
        return Err(bad(format!(
            "process id {process_id} is out of range for {num_processes} processes: use 0 to {}",
            num_processes - 1
        )));
    }
    if num_processes > 1 {
        let Some(c) = &coordinator else {
            return Err(bad(format!(
                "{num_processes} processes ({launcher}) need a coordinator: give --coordinator HOST:PORT \
                 (or SBGM_XLA_COORDINATOR), the host of process 0 and a free port, the same on every process"
            )));
        };
        check_host_port(c)?;
    }
    Ok(ProcessSet {
        process_id,
        num_processes,
        coordinator: coordinator.filter(|_| num_processes > 1),
        launcher,
    })
}

/// The process set from the flags and this process's environment.
pub fn discover_here(flags: &LaunchFlags) -> Result<ProcessSet> {
    discover(flags, &std::env::vars().collect())
}

/// Checks that `addr` is `HOST:PORT` with a port from 1 to 65535.
pub fn check_host_port(addr: &str) -> Result<()> {
    let fail = || {
        bad(format!(
            "coordinator {addr:?} is not HOST:PORT (for instance node01:8476 or 10.0.0.5:8476; \
             an IPv6 address in brackets, [::1]:8476)"
        ))
    };
    let (host, port) = addr.rsplit_once(':').ok_or_else(fail)?;
    if host.is_empty() || host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return Err(fail());
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err(fail()),
    }
}

/// What the first launcher found in `env` says, in the order SLURM, torchrun, Open MPI, TPU.
fn launcher_view(env: &HashMap<String, String>) -> Result<Option<Launched>> {
    if let (Some(rank), Some(size)) = (
        env_usize(env, "SLURM_PROCID")?,
        env_usize(env, "SLURM_STEP_NUM_TASKS")?.or(env_usize(env, "SLURM_NTASKS")?),
    ) {
        let list = env
            .get("SLURM_STEP_NODELIST")
            .or(env.get("SLURM_JOB_NODELIST"))
            .or(env.get("SLURM_NODELIST"));
        let coordinator = match list {
            Some(l) => Some(format!("{}:{DEFAULT_PORT}", first_host(l)?)),
            None => None,
        };
        return Ok(Some(Launched {
            launcher: Launcher::Slurm,
            rank,
            size,
            coordinator,
        }));
    }
    if let (Some(rank), Some(size)) = (env_usize(env, "RANK")?, env_usize(env, "WORLD_SIZE")?) {
        // torchrun's own store listens on MASTER_PORT; ours takes the next port.
        let port = env_usize(env, "MASTER_PORT")?.unwrap_or(29500) + 1;
        let coordinator = env.get("MASTER_ADDR").map(|h| format!("{h}:{port}"));
        return Ok(Some(Launched {
            launcher: Launcher::Torchrun,
            rank,
            size,
            coordinator,
        }));
    }
    if let (Some(rank), Some(size)) = (
        env_usize(env, "OMPI_COMM_WORLD_RANK")?,
        env_usize(env, "OMPI_COMM_WORLD_SIZE")?,
    ) {
        // mpirun's own address (`...;tcp://10.0.0.1,10.0.1.1:4242`): where rank 0 is started
        // with the default mapping. Without it the coordinator must be given.
        let coordinator = env
            .get("OMPI_MCA_orte_hnp_uri")
            .and_then(|u| u.split("tcp://").nth(1))
            .and_then(|rest| rest.split([',', ':', ';']).next())
            .filter(|h| !h.is_empty())
            .map(|h| format!("{h}:{DEFAULT_PORT}"));
        return Ok(Some(Launched {
            launcher: Launcher::OpenMpi,
            rank,
            size,
            coordinator,
        }));
    }
    if let (Some(rank), Some(hosts)) = (
        env_usize(env, "TPU_WORKER_ID")?,
        env.get("TPU_WORKER_HOSTNAMES"),
    ) {
        let hosts: Vec<&str> = hosts
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .collect();
        if let Some(first) = hosts.first() {
            return Ok(Some(Launched {
                launcher: Launcher::Tpu,
                rank,
                size: hosts.len(),
                coordinator: Some(format!("{first}:{DEFAULT_PORT}")),
            }));
        }
    }
    Ok(None)
}

/// The first host of a SLURM node list: `node[01-04,07],gpu5` -> `node01`; each bracket
/// group is replaced by its first value, written as it is (zero padding kept).
pub fn first_host(list: &str) -> Result<String> {
    let fail = |why: &str| bad(format!("SLURM node list {list:?}: {why}"));
    let mut out = String::new();
    let mut chars = list.trim().chars();
    while let Some(c) = chars.next() {
        match c {
            ',' => break,
            '[' => {
                let group: String = chars.by_ref().take_while(|&c| c != ']').collect();
                let first = group.split(',').next().unwrap_or("");
                let start = first.split('-').next().unwrap_or("").trim();
                if start.is_empty() || !start.chars().all(|c| c.is_ascii_digit()) {
                    return Err(fail(
                        "a bracket group must hold numbers or ranges, like [01-04,07]",
                    ));
                }
                out.push_str(start);
            }
            ']' => return Err(fail("a ']' without its '['")),
            c => out.push(c),
        }
    }
    if out.is_empty() {
        return Err(fail("it names no host"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn set(id: usize, n: usize, coord: &str, launcher: Launcher) -> ProcessSet {
        ProcessSet {
            process_id: id,
            num_processes: n,
            coordinator: Some(coord.into()),
            launcher,
        }
    }

    #[test]
    fn nothing_set_is_one_process() {
        let got = discover(&LaunchFlags::default(), &env(&[("HOME", "/root")])).unwrap();
        assert_eq!(got, ProcessSet::single());
        assert!(!got.is_multi_process());
    }

    #[test]
    fn flags_win_over_variables_and_launchers() {
        let flags = LaunchFlags {
            coordinator: Some("10.0.0.5:1234".into()),
            process_id: Some(2),
            num_processes: Some(3),
        };
        let e = env(&[
            ("SBGM_XLA_PROCESS_ID", "1"),
            ("SBGM_XLA_NUM_PROCESSES", "5"),
            ("SLURM_PROCID", "0"),
            ("SLURM_NTASKS", "8"),
        ]);
        assert_eq!(
            discover(&flags, &e).unwrap(),
            set(2, 3, "10.0.0.5:1234", Launcher::Explicit)
        );
        // The variables alone; a flag fills in what the variables leave out.
        let e = env(&[
            ("SBGM_XLA_COORDINATOR", "host0:99"),
            ("SBGM_XLA_PROCESS_ID", "1"),
            ("SBGM_XLA_NUM_PROCESSES", "2"),
        ]);
        assert_eq!(
            discover(&LaunchFlags::default(), &e).unwrap(),
            set(1, 2, "host0:99", Launcher::Explicit)
        );
        // A launcher's rank and size with a coordinator flag (mpirun without a known host).
        let flags = LaunchFlags {
            coordinator: Some("head:7000".into()),
            ..Default::default()
        };
        let e = env(&[("OMPI_COMM_WORLD_RANK", "3"), ("OMPI_COMM_WORLD_SIZE", "4")]);
        assert_eq!(
            discover(&flags, &e).unwrap(),
            set(3, 4, "head:7000", Launcher::Explicit)
        );
    }

    #[test]
    fn slurm_takes_the_first_host_of_the_step() {
        let e = env(&[
            ("SLURM_PROCID", "5"),
            ("SLURM_NTASKS", "8"),
            ("SLURM_JOB_NODELIST", "other[1-9]"),
            ("SLURM_STEP_NODELIST", "gpu-a[007-010,12],gpu-b3"),
        ]);
        assert_eq!(
            discover(&LaunchFlags::default(), &e).unwrap(),
            set(5, 8, "gpu-a007:8476", Launcher::Slurm)
        );
        let e = env(&[
            ("SLURM_PROCID", "0"),
            ("SLURM_NTASKS", "2"),
            ("SLURM_JOB_NODELIST", "node[01-04,07]"),
        ]);
        assert_eq!(
            discover(&LaunchFlags::default(), &e).unwrap(),
            set(0, 2, "node01:8476", Launcher::Slurm)
        );
    }

    #[test]
    fn node_lists_of_every_shape() {
        assert_eq!(first_host("node01").unwrap(), "node01");
        assert_eq!(first_host("a1,a2").unwrap(), "a1");
        assert_eq!(first_host("node[01-04,07]").unwrap(), "node01");
        assert_eq!(first_host("node[7,1-3]").unwrap(), "node7");
        assert_eq!(first_host("rack[2-3]-n[10-11]").unwrap(), "rack2-n10");
        assert_eq!(first_host("gpu[3]-ib,x").unwrap(), "gpu3-ib");
        assert!(first_host("").is_err());
        assert!(first_host("node[a-b]").is_err());
        assert!(first_host("node]").is_err());
    }

    #[test]
    fn torchrun_takes_the_port_after_its_own() {
        let e = env(&[
            ("RANK", "1"),
            ("WORLD_SIZE", "2"),
            ("MASTER_ADDR", "10.1.2.3"),
            ("MASTER_PORT", "29400"),
        ]);
        assert_eq!(
            discover(&LaunchFlags::default(), &e).unwrap(),
            set(1, 2, "10.1.2.3:29401", Launcher::Torchrun)
        );
    }

    #[test]
    fn open_mpi_uses_mpirun_s_host_or_asks_for_one() {
        let e = env(&[
            ("OMPI_COMM_WORLD_RANK", "1"),
            ("OMPI_COMM_WORLD_SIZE", "2"),
            (
                "OMPI_MCA_orte_hnp_uri",
                "1531576320.0;tcp://10.96.0.1,10.148.0.1:34911",
            ),
        ]);
        assert_eq!(
            discover(&LaunchFlags::default(), &e).unwrap(),
            set(1, 2, "10.96.0.1:8476", Launcher::OpenMpi)
        );
        let e = env(&[("OMPI_COMM_WORLD_RANK", "1"), ("OMPI_COMM_WORLD_SIZE", "2")]);
        let msg = discover(&LaunchFlags::default(), &e)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("Open MPI") && msg.contains("--coordinator HOST:PORT"),
            "{msg}"
        );
    }

    #[test]
    fn tpu_pods_count_their_workers() {
        let e = env(&[
            ("TPU_WORKER_ID", "3"),
            ("TPU_WORKER_HOSTNAMES", "t1v-0,t1v-1,t1v-2,t1v-3"),
        ]);
        assert_eq!(
            discover(&LaunchFlags::default(), &e).unwrap(),
            set(3, 4, "t1v-0:8476", Launcher::Tpu)
        );
        // One worker: a single process, no coordinator needed.
        let e = env(&[
            ("TPU_WORKER_ID", "0"),
            ("TPU_WORKER_HOSTNAMES", "localhost"),
        ]);
        let got = discover(&LaunchFlags::default(), &e).unwrap();
        assert_eq!((got.num_processes, got.coordinator), (1, None));
    }

    #[test]
    fn bad_sets_are_named() {
        let msg = |flags: LaunchFlags, e: &[(&str, &str)]| {
            discover(&flags, &env(e)).unwrap_err().to_string()
        };
        let flags = |c: Option<&str>, i: Option<usize>, n: Option<usize>| LaunchFlags {
            coordinator: c.map(String::from),
            process_id: i,
            num_processes: n,
        };
        let m = msg(flags(Some("h:1"), Some(2), Some(2)), &[]);
        assert!(m.contains("out of range") && m.contains("0 to 1"), "{m}");
        let m = msg(flags(None, Some(0), Some(2)), &[]);
        assert!(m.contains("need a coordinator"), "{m}");
        let m = msg(flags(Some("h:1"), Some(0), None), &[]);
        assert!(m.contains("--num-processes"), "{m}");
        let m = msg(flags(Some("h:1"), None, Some(2)), &[]);
        assert!(m.contains("--process-id"), "{m}");
        let m = msg(flags(Some("nohost"), Some(0), Some(2)), &[]);
        assert!(m.contains("not HOST:PORT"), "{m}");
        let m = msg(flags(Some("h:0"), Some(0), Some(2)), &[]);
        assert!(m.contains("not HOST:PORT"), "{m}");
        let m = msg(flags(None, None, Some(0)), &[]);
        assert!(m.contains("at least one"), "{m}");
        let m = msg(LaunchFlags::default(), &[("SBGM_XLA_PROCESS_ID", "x")]);
        assert!(m.contains("SBGM_XLA_PROCESS_ID"), "{m}");
        assert!(check_host_port("[::1]:8476").is_ok());
        assert!(check_host_port("::1:8476").is_err());
    }
}
