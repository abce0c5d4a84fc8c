//! A bounded prefetch queue: background workers compute the items of evenly spaced indices
//! (consecutive steps, or the first steps of consecutive calls) up to a fixed window ahead of
//! the one the consumer asks for, so that the consumer finds them ready.
//!
//! Each item must be a pure function of its index: workers compute them in any order, a
//! consumer that jumps (a resume, a rewind) just restarts the window there.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use crate::error::{Error, Result};

/// The job of a [`Prefetch`]: the item of an index.
pub type PrefetchJob<T> = dyn Fn(u64) -> Result<T> + Send + Sync;

/// Items computed ahead by worker threads (stopped when dropped).
pub struct Prefetch<T: Send + Sync + 'static> {
    shared: Arc<Shared<T>>,
    workers: Vec<JoinHandle<()>>,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    changed: Condvar,
    job: Box<PrefetchJob<T>>,
    /// Items kept ahead.
    window: u64,
    /// The distance between consecutive indices.
    stride: u64,
}

struct State<T> {
    /// The first index the consumer still needs.
    base: u64,
    /// The next index to hand to a worker (`base` plus a multiple of the stride).
    next: u64,
    /// Finished items (an error as its message).
    done: BTreeMap<u64, std::result::Result<Arc<T>, String>>,
    /// Bumped when the window restarts; workers drop items of an older one.
    generation: u64,
    stop: bool,
}

impl<T: Send + Sync + 'static> Prefetch<T> {
    /// Starts `workers` threads computing `job(i)` for `i` in `[base, base + window)`, where
    /// `base` is the first index of the consumer's last [`Prefetch::get_range`] (initially
    /// `start`).
    pub fn new(job: Box<PrefetchJob<T>>, start: u64, window: usize, workers: usize) -> Self {
        Prefetch::with_stride(job, start, 1, window, workers)
    }

    /// Like [`Prefetch::new`] for the indices `base, base + stride, …` (`window` items).
    pub fn with_stride(
        job: Box<PrefetchJob<T>>,
        start: u64,
        stride: u64,
        window: usize,
        workers: usize,
    ) -> Self {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                base: start,
                next: start,
                done: BTreeMap::new(),
                generation: 0,
                stop: false,
            }),
            changed: Condvar::new(),
            job,
            window: window.max(1) as u64,
            stride: stride.max(1),
        });
        let workers = (0..workers.max(1))
            .map(|_| {
                let s = Arc::clone(&shared);
                std::thread::spawn(move || s.work())
            })
            .collect();
        Prefetch { shared, workers }
    }

    /// The `count` items from `start` on, one stride apart (`count` at most the window),
    /// waiting for the ones not ready yet. Items before `start` are dropped; items from
    /// `start` on stay until a later call starts past them. A `start` off the queue's
    /// indices restarts the window there.
    pub fn get_range(&self, start: u64, count: usize) -> Result<Vec<Arc<T>>> {
        let sh = &self.shared;
        if count as u64 > sh.window {
            return Err(Error::msg(format!(
                "asked for {count} prefetched items at once, more than the window of {}",
                sh.window
            )));
        }
        let mut st = sh.lock();
        if start < st.base || start > st.next || !(start - st.base).is_multiple_of(sh.stride) {
            st.generation += 1;
            st.done.clear();
            st.next = start;
        }
        st.base = start;
        st.done = st.done.split_off(&start);
        sh.changed.notify_all();
        let mut out = Vec::with_capacity(count);
        for i in (0..count as u64).map(|c| start + c * sh.stride) {
            loop {
                if let Some(r) = st.done.get(&i) {
                    out.push(r.clone().map_err(Error::msg)?);
                    break;
                }
                st = sh.changed.wait(st).unwrap_or_else(|e| e.into_inner());
            }
        }
        Ok(out)
    }
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn work(&self) {
        loop {
            let mut st = self.lock();
            while !st.stop && st.next >= st.base + self.window * self.stride {
                st = self.changed.wait(st).unwrap_or_else(|e| e.into_inner());
            }
            if st.stop {
                return;
            }
            let (i, generation) = (st.next, st.generation);
            st.next += self.stride;
            drop(st);
            let r = match catch_unwind(AssertUnwindSafe(|| (self.job)(i))) {
                Ok(Ok(v)) => Ok(Arc::new(v)),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!("the data loader panicked preparing item {i}")),
            };
            let mut st = self.lock();
            if st.generation == generation && i >= st.base {
                st.done.insert(i, r);
            }
            drop(st);
            self.changed.notify_all();
        }
    }
}

impl<T: Send + Sync + 'static> Drop for Prefetch<T> {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.changed.notify_all();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_arrive_in_order_and_restart_on_a_jump() {
        let p = Prefetch::new(Box::new(|i| Ok(i * 10)), 5, 8, 3);
        let v: Vec<u64> = p.get_range(5, 4).unwrap().iter().map(|a| **a).collect();
        assert_eq!(v, vec![50, 60, 70, 80]);
        // A call that ran fewer steps: the next one starts inside the last range.
        let v: Vec<u64> = p.get_range(7, 4).unwrap().iter().map(|a| **a).collect();
        assert_eq!(v, vec![70, 80, 90, 100]);
        // A rewind (resume from an earlier checkpoint).
        let v: Vec<u64> = p.get_range(0, 2).unwrap().iter().map(|a| **a).collect();
        assert_eq!(v, vec![0, 10]);
        let v: Vec<u64> = p.get_range(1000, 1).unwrap().iter().map(|a| **a).collect();
        assert_eq!(v, vec![10000]);
    }

    #[test]
    fn errors_reach_the_consumer() {
        let p = Prefetch::new(
            Box::new(|i| {
                if i == 2 {
                    Err(Error::msg("bad row"))
                } else {
                    Ok(i)
                }
            }),
            0,
            4,
            2,
        );
        assert_eq!(*p.get_range(0, 2).unwrap()[1], 1);
        assert!(
            p.get_range(1, 2)
                .unwrap_err()
                .to_string()
                .contains("bad row")
        );
    }

    #[test]
    fn strided_items_follow_the_calls() {
        let p = Prefetch::with_stride(Box::new(|i| Ok(i * 10)), 4, 3, 2, 1);
        let get = |s, n| -> Vec<u64> { p.get_range(s, n).unwrap().iter().map(|a| **a).collect() };
        assert_eq!(get(4, 2), vec![40, 70]);
        assert_eq!(get(7, 1), vec![70]);
        // A shorter call: the next starts off the stride and restarts the queue there.
        assert_eq!(get(9, 2), vec![90, 120]);
        assert_eq!(get(12, 1), vec![120]);
    }
}
