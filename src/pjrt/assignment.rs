//! Device assignments of a multi-process job: programs are compiled over the **global**
//! devices (every process's, sorted by process, then id), and each process executes them on
//! its addressable devices only. Pure functions of a device list.

use super::client::Device;
use crate::error::{Error, ErrorCode, Result};
use std::collections::BTreeMap;

/// The global devices in the order programs use them: by process, then by id.
pub fn global_order(devices: &[Device]) -> Vec<&Device> {
    let mut sorted: Vec<&Device> = devices.iter().collect();
    sorted.sort_by_key(|d| (d.process_index, d.id));
    sorted
}

/// A `[replica][partition]` assignment of device ids over the first `replicas x partitions`
/// devices of [`global_order`], row by row.
pub fn global_assignment(
    devices: &[Device],
    replicas: usize,
    partitions: usize,
) -> Result<Vec<Vec<i64>>> {
    let needed = replicas * partitions;
    let order = global_order(devices);
    if needed > order.len() {
        return Err(Error::NotEnoughDevices {
            needed,
            replicas,
            partitions,
            available: order.len(),
        });
    }
    Ok(order[..needed]
        .chunks(partitions.max(1))
        .map(|row| row.iter().map(|d| d.id as i64).collect())
        .collect())
}

/// How many devices each process owns, by process index.
pub fn devices_per_process(devices: &[Device]) -> BTreeMap<i32, usize> {
    let mut counts = BTreeMap::new();
    for d in devices {
        *counts.entry(d.process_index).or_insert(0) += 1;
    }
    counts
}

/// Checks that every process has the same number of local devices; `counts[p]` is process
/// `p`'s (as each process reported it).
pub fn check_local_counts(counts: &[usize]) -> Result<()> {
    let Some(&first) = counts.first() else {
        return Ok(());
    };
    if let Some(p) = counts.iter().position(|&c| c != first) {
        return Err(Error::distributed(
            ErrorCode::FailedPrecondition,
            format!(
                "the processes have different numbers of local devices (process 0: {first}, \
                 process {p}: {}; all: {counts:?}): every process needs the same number; give \
                 each host the same visible devices (CUDA_VISIBLE_DEVICES, one process per GPU \
                 or per host)",
                counts[p]
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A mocked device list: `(global id, process)`, as process `me`'s plugin might list them.
    pub(crate) fn devices(spec: &[(i32, i32)], me: i32) -> Vec<Device> {
        spec.iter()
            .map(|&(id, process_index)| Device {
                id,
                process_index,
                kind: "mock".into(),
                description: format!("Mock(id={id})"),
                addressable: process_index == me,
                local_hardware_id: if process_index == me { id % 2 } else { -1 },
            })
            .collect()
    }

    #[test]
    fn global_ids_sort_by_process_then_id() {
        // Two processes of two devices, listed out of order with ids that do not follow the
        // processes (as on a TPU pod, where ids follow the torus).
        let d = devices(&[(3, 0), (0, 1), (2, 0), (1, 1)], 1);
        let ids: Vec<i32> = global_order(&d).iter().map(|d| d.id).collect();
        assert_eq!(ids, vec![2, 3, 0, 1]);
        assert_eq!(global_assignment(&d, 1, 4).unwrap(), vec![vec![2, 3, 0, 1]]);
        assert_eq!(
            global_assignment(&d, 2, 2).unwrap(),
            vec![vec![2, 3], vec![0, 1]]
        );
        assert_eq!(global_assignment(&d, 1, 2).unwrap(), vec![vec![2, 3]]);
        let e = global_assignment(&d, 1, 8).unwrap_err().to_string();
        assert!(e.contains("needs 8 devices") && e.contains("has 4"), "{e}");
    }

    #[test]
    fn every_process_gets_the_same_assignment() {
        // What each of the three processes sees: the same global list, other addressable flags.
        let spec = [(0, 0), (1, 0), (2, 1), (3, 1), (4, 2), (5, 2)];
        let views: Vec<Vec<Vec<i64>>> = (0..3)
            .map(|me| global_assignment(&devices(&spec, me), 1, 6).unwrap())
            .collect();
        assert!(views.iter().all(|v| v == &views[0]));
        assert_eq!(views[0], vec![vec![0, 1, 2, 3, 4, 5]]);
        // The addressable devices of process 1 are partitions 2 and 3.
        let d = devices(&spec, 1);
        let mine: Vec<usize> = views[1][0]
            .iter()
            .enumerate()
            .filter(|(_, id)| d.iter().any(|x| x.id as i64 == **id && x.addressable))
            .map(|(p, _)| p)
            .collect();
        assert_eq!(mine, vec![2, 3]);
    }

    #[test]
    fn local_device_counts_must_agree() {
        let d = devices(&[(0, 0), (1, 0), (2, 1)], 0);
        let per: Vec<usize> = devices_per_process(&d).into_values().collect();
        assert_eq!(per, vec![2, 1]);
        let e = check_local_counts(&per).unwrap_err().to_string();
        assert!(
            e.contains("process 1: 1") && e.contains("process 0: 2"),
            "{e}"
        );
        assert!(check_local_counts(&[4, 4, 4]).is_ok());
        assert!(check_local_counts(&[]).is_ok());
    }
}
