//! Memory budgets: how much memory this process may still use, and refusing work that needs
//! more before it is allocated (an allocation that fails inside XLA aborts the process; one
//! that fails in Rust does too).
//!
//! Sizes that users or files choose go through [`bytes_of`] (checked arithmetic) and
//! [`Budget::check`] before anything of that size exists.

use crate::error::{Error, Result};

/// Bytes in a GiB, for messages.
const GIB: f64 = (1u64 << 30) as f64;

/// Bytes as a short human-readable size ("3.2 GiB", "512.0 MiB").
pub fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= GIB {
        format!("{:.1} GiB", b / GIB)
    } else {
        format!("{:.1} MiB", b / (1u64 << 20) as f64)
    }
}

/// `count` elements of `elem_bytes` bytes each, or `None` when the product overflows.
pub fn bytes_of(count: impl IntoIterator<Item = usize>, elem_bytes: usize) -> Option<u64> {
    count
        .into_iter()
        .try_fold(elem_bytes as u64, |acc, d| acc.checked_mul(d as u64))
}

/// The memory this process can still allocate: the smaller of the kernel's `MemAvailable`
/// and the room left under the cgroup's `memory.max`; `None` where neither is known.
pub fn available_bytes() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok().and_then(|t| {
        t.lines()
            .find_map(|l| l.strip_prefix("MemAvailable:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb.saturating_mul(1024))
    });
    let read = |name: &str| {
        std::fs::read_to_string(format!("/sys/fs/cgroup/{name}"))
            .ok()
            .and_then(|t| t.trim().parse::<u64>().ok())
    };
    let cgroup =
        read("memory.max").map(|max| max.saturating_sub(read("memory.current").unwrap_or(0)));
    match (meminfo, cgroup) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// A memory need, itemised, checked against what the machine has.
#[derive(Clone, Debug, Default)]
pub struct Budget {
    items: Vec<(String, Option<u64>)>,
}

impl Budget {
    /// An empty budget.
    pub fn new() -> Budget {
        Budget::default()
    }

    /// Adds `bytes` (`None`: too large to count) for `what`.
    pub fn add(mut self, what: impl Into<String>, bytes: Option<u64>) -> Budget {
        self.items.push((what.into(), bytes));
        self
    }

    /// The total, `None` when it overflows.
    pub fn total(&self) -> Option<u64> {
        self.items
            .iter()
            .try_fold(0u64, |acc, (_, b)| acc.checked_add((*b)?))
    }

    /// Refuses when the total exceeds the memory available (see [`available_bytes`]):
    /// the error names `task`, each item and `fix`. Passes when the available memory is
    /// unknown and the total is countable.
    pub fn check(&self, task: &str, fix: &str) -> Result<()> {
        self.check_against(available_bytes(), task, fix)
    }

    /// [`Budget::check`] against `available` bytes.
    pub fn check_against(&self, available: Option<u64>, task: &str, fix: &str) -> Result<()> {
        let total = self.total();
        let fits = match (total, available) {
            (Some(t), Some(a)) => t <= a,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if fits {
            return Ok(());
        }
        let items: Vec<String> = self
            .items
            .iter()
            .filter(|(_, b)| b.is_none_or(|b| b > 0))
            .map(|(w, b)| format!("{w} {}", b.map_or("(beyond 2^64 bytes)".into(), human)))
            .collect();
        Err(Error::msg(format!(
            "{task} needs at least {} of memory ({}), but this machine has {} available; {fix} \
             (nothing was started)",
            total.map_or("more than 2^64 bytes".into(), human),
            items.join(", "),
            available.map_or("an unknown amount".into(), human),
        )))
    }
}

/// Refuses a compiled program whose planned memory (the compiler's buffer assignment, per
/// device) exceeds what is available, when its `devices` devices live in host memory (the CPU
/// plugin); `what` names the program and `fix` says what to change. Plugins that do not report
/// the plan, and devices with their own memory, pass (their allocators fail with an error, not
/// an abort).
pub fn check_compiled(
    exe: &crate::pjrt::Executable,
    devices: usize,
    in_host_memory: bool,
    what: &str,
    fix: &str,
) -> Result<()> {
    let Some(stats) = exe.memory_stats().filter(|_| in_host_memory) else {
        return Ok(());
    };
    let per = stats.total_bytes();
    Budget::new()
        .add(
            format!("{} per device on {devices} device(s):", human(per)),
            per.checked_mul(devices as u64),
        )
        .check(&format!("{what} (as compiled)"), fix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_multiply_with_overflow_checks() {
        assert_eq!(bytes_of([3, 4], 4), Some(48));
        assert_eq!(bytes_of([usize::MAX, 2], 4), None);
        assert_eq!(bytes_of([], 8), Some(8));
    }

    #[test]
    fn a_budget_over_the_available_memory_is_refused_with_its_items() {
        let b = Budget::new()
            .add("parameters", Some(3 << 30))
            .add("batch", Some(1 << 30));
        assert!(
            b.check_against(Some(5 << 30), "training", "lower it")
                .is_ok()
        );
        let e = b
            .check_against(Some(2 << 30), "training", "lower train.batch_size")
            .unwrap_err()
            .to_string();
        assert!(e.contains("4.0 GiB"), "{e}");
        assert!(e.contains("parameters 3.0 GiB"), "{e}");
        assert!(e.contains("2.0 GiB available"), "{e}");
        assert!(e.contains("lower train.batch_size"), "{e}");
        let huge = Budget::new().add("parameters", None);
        assert!(huge.check_against(None, "training", "x").is_err());
    }

    #[test]
    fn this_machine_reports_its_available_memory() {
        let a = available_bytes().expect("Linux reports MemAvailable");
        assert!(a > 1 << 20, "{a}");
    }
}
