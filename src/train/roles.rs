//! The role of one process in a training run: every process trains (its slice of each
//! batch), and process 0 alone writes the run directory (lock, `config.toml`, checkpoints,
//! `metrics.jsonl`, plots, samples, `model.eqx`) while the others read the checkpoint on
//! resume (a shared file system) and wait at a barrier after each write.

use crate::exec::Target;

/// Which process of how many this one is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Roles {
    /// This process's rank, `0..processes`.
    pub process: usize,
    /// The processes of the run.
    pub processes: usize,
}

impl Default for Roles {
    fn default() -> Self {
        Roles::single()
    }
}

impl Roles {
    /// A run of one process: it does everything.
    pub fn single() -> Roles {
        Roles {
            process: 0,
            processes: 1,
        }
    }

    /// The roles of `target`'s process: its rank among the job's process indices (as the
    /// plugin lists the devices).
    pub fn of(target: &Target) -> Roles {
        let client = target.client();
        let mut ids: Vec<i32> = client.devices().iter().map(|d| d.process_index).collect();
        ids.sort_unstable();
        ids.dedup();
        Roles {
            process: ids
                .iter()
                .position(|&p| p == client.process_index())
                .unwrap_or(0),
            processes: ids.len().max(1),
        }
    }

    /// Whether this process writes the run directory (and holds its lock): process 0.
    pub fn writes(&self) -> bool {
        self.process == 0
    }

    /// Whether the run has more than one process.
    pub fn is_multi_process(&self) -> bool {
        self.processes > 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_zero_alone_writes() {
        assert!(Roles::single().writes());
        assert!(!Roles::single().is_multi_process());
        let writers: Vec<bool> = (0..4)
            .map(|process| {
                Roles {
                    process,
                    processes: 4,
                }
                .writes()
            })
            .collect();
        assert_eq!(writers, vec![true, false, false, false]);
    }

    #[test]
    fn a_cpu_client_is_one_process() {
        let target = Target::cpu().unwrap();
        assert_eq!(Roles::of(&target), Roles::single());
    }
}
