//! Where an SPMD program's partitions run, as one process of a job sees it: the program is
//! partitioned over the **global** devices (every process's, sorted by process then id, see
//! [`crate::pjrt::assignment`]), and this process uploads, executes and downloads on the
//! partitions of its **addressable** devices only. One process: partition `p` on device `p`.
//! A pure function of the client's device lists, so it is tested against mocked ones.

use crate::error::{Error, Result};
use crate::pjrt::Device;
use crate::pjrt::assignment::global_assignment;

/// The partitions of an SPMD program that this process runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    /// The program's partitions (all processes together).
    pub partitions: usize,
    /// This process's partitions in ascending order, each with the index of its device in
    /// the client's addressable devices: one argument list per entry, in this order.
    pub local: Vec<(usize, usize)>,
}

impl Placement {
    /// The placement of a `partitions`-way program on a client with `devices` (every device
    /// of the job) of which `addressable` are this process's (in the client's order). A
    /// one-process client runs partition `p` on its device `p`; a job uses every global
    /// device, and each process's partitions are one contiguous run (so that it feeds one
    /// contiguous slice of each batch).
    pub fn of(devices: &[Device], addressable: &[Device], partitions: usize) -> Result<Placement> {
        let multi = devices.iter().any(|d| !d.addressable);
        if !multi {
            if partitions > addressable.len() {
                return Err(Error::msg(format!(
                    "{partitions} devices asked for, but the client has {}; use at most {}",
                    addressable.len(),
                    addressable.len()
                )));
            }
            return Ok(Placement {
                partitions,
                local: (0..partitions).map(|p| (p, p)).collect(),
            });
        }
        if partitions != devices.len() {
            return Err(Error::msg(format!(
                "a multi-process run uses every device of the job ({}), asked for {partitions}; \
                 leave out --devices and train.devices (or choose the processes' visible \
                 devices instead)",
                devices.len()
            )));
        }
        let ids = global_assignment(devices, 1, partitions)?.remove(0);
        let local: Vec<(usize, usize)> = ids
            .iter()
            .enumerate()
            .filter_map(|(p, &id)| {
                addressable
                    .iter()
                    .position(|d| d.id as i64 == id)
                    .map(|i| (p, i))
            })
            .collect();
        let placement = Placement { partitions, local };
        placement.batch_slice()?;
        Ok(placement)
    }

    /// `(process, processes)`: this process's rank among equal contiguous runs of partitions
    /// (what it feeds of each batch: see [`crate::train::feed::process_rows`]). `(0, 1)` for
    /// one process.
    pub fn batch_slice(&self) -> Result<(usize, usize)> {
        let n = self.local.len();
        let first = self.local.first().map_or(0, |l| l.0);
        let contiguous = self.local.iter().enumerate().all(|(i, l)| l.0 == first + i);
        if n == 0 || !contiguous || !self.partitions.is_multiple_of(n) || !first.is_multiple_of(n) {
            let parts: Vec<usize> = self.local.iter().map(|l| l.0).collect();
            return Err(Error::msg(format!(
                "this process runs partitions {parts:?} of {}: each process needs the same \
                 number of devices, one contiguous run of the global order (every host the \
                 same visible devices)",
                self.partitions
            )));
        }
        Ok((first / n, self.partitions / n))
    }

    /// Whether programs run on devices of other processes too.
    pub fn is_multi_process(&self) -> bool {
        self.local.len() < self.partitions
    }

    /// The addressable device indices, in argument-list order.
    pub fn devices(&self) -> Vec<usize> {
        self.local.iter().map(|l| l.1).collect()
    }

    /// `per_partition` of this process's partitions, in argument-list order: each process
    /// takes its own entries of a list over all partitions.
    pub fn mine<T: Clone>(&self, per_partition: &[T]) -> Vec<T> {
        self.local
            .iter()
            .filter_map(|&(p, _)| per_partition.get(p).cloned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Mocked devices `(global id, process)` as process `me` lists them, and its own.
    fn devices(spec: &[(i32, i32)], me: i32) -> (Vec<Device>, Vec<Device>) {
        let all = crate::pjrt::assignment::tests::devices(spec, me);
        let mine = all.iter().filter(|d| d.addressable).cloned().collect();
        (all, mine)
    }

    #[test]
    fn one_process_runs_partition_p_on_device_p() {
        let (all, mine) = devices(&[(0, 0), (1, 0), (2, 0), (3, 0)], 0);
        let p = Placement::of(&all, &mine, 2).unwrap();
        assert_eq!(p.local, vec![(0, 0), (1, 1)]);
        assert_eq!(p.batch_slice().unwrap(), (0, 1));
        assert!(!p.is_multi_process());
        assert_eq!(p.mine(&["a", "b"]), vec!["a", "b"]);
        let e = Placement::of(&all, &mine, 5).unwrap_err().to_string();
        assert!(e.contains("client has 4"), "{e}");
    }

    #[test]
    fn each_process_runs_its_contiguous_global_partitions_on_its_devices() {
        // Three processes of two devices, listed out of order with ids that do not follow
        // the processes (as on a TPU pod): the global order is by process, then id.
        let spec = [(5, 2), (1, 0), (3, 1), (0, 0), (4, 2), (2, 1)];
        let mut union = Vec::new();
        for me in 0..3 {
            let (all, mine) = devices(&spec, me);
            let p = Placement::of(&all, &mine, 6).unwrap();
            assert!(p.is_multi_process());
            assert_eq!(p.partitions, 6);
            let parts: Vec<usize> = p.local.iter().map(|l| l.0).collect();
            assert_eq!(parts, vec![2 * me as usize, 2 * me as usize + 1]);
            // The argument lists name addressable indices; the devices carry the partition's
            // global id.
            for &(part, i) in &p.local {
                assert_eq!(mine[i].id as usize, part);
            }
            assert_eq!(p.batch_slice().unwrap(), (me as usize, 3));
            union.extend(p.mine(&(0..6).collect::<Vec<usize>>()));
        }
        assert_eq!(union, (0..6).collect::<Vec<_>>());
    }

    #[test]
    fn a_job_uses_every_device_in_equal_contiguous_runs() {
        let (all, mine) = devices(&[(0, 0), (1, 0), (2, 1), (3, 1)], 1);
        let e = Placement::of(&all, &mine, 2).unwrap_err().to_string();
        assert!(e.contains("every device of the job (4)"), "{e}");
        // A run of partitions that is not one of equal contiguous runs cannot feed one slice.
        let odd = Placement {
            partitions: 4,
            local: vec![(1, 0), (3, 1)],
        };
        let e = odd.batch_slice().unwrap_err().to_string();
        assert!(e.contains("partitions [1, 3] of 4"), "{e}");
    }
}
