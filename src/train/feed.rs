//! Host side of the batch feed: the rows each training step uses (a pure function of the seed
//! and the step, so a resumed run draws the same batches), host-gathered batches, and the
//! split of batch-sharded arrays over devices.

use std::ops::Range;
use std::sync::Arc;

use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

use crate::data::Dataset;
use crate::data::prefetch::Prefetch;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::host::HostArray;

/// The rows of training step `step`: `batch` indices uniform on `0..rows`, fixed by
/// `(seed, step)` (xoshiro256++ seeded from both).
pub fn step_rows(seed: u64, step: u64, batch: usize, rows: usize) -> Vec<i32> {
    let mix = seed
        .wrapping_mul(0xD1B5_4A32_D192_ED03)
        .wrapping_add(step.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        ^ 0x6261_7463_6865_7321; // "batches!"
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(mix);
    (0..batch)
        .map(|_| rng.random_range(0..rows) as i32)
        .collect()
}

/// The `(k, batch)` row indices of steps `start .. start + k`.
pub fn call_rows(seed: u64, start: u64, k: usize, batch: usize, rows: usize) -> HostArray {
    let mut v = Vec::with_capacity(k * batch);
    for s in 0..k as u64 {
        v.extend(step_rows(seed, start + s, batch, rows));
    }
    HostArray::from_vec(vec![k, batch], v).expect("k * batch values")
}

/// Gathers `rows` (`(k, batch)` indices) of `a` (`(N, …)`) into `(k, batch, …)`.
pub fn gather_rows(a: &ndarray::ArrayD<f32>, rows: &HostArray) -> Result<HostArray> {
    let idx: Vec<i32> = rows.to_vec()?;
    let per: usize = a.shape()[1..].iter().product();
    let src = a
        .as_slice()
        .map(std::borrow::Cow::Borrowed)
        .unwrap_or_else(|| std::borrow::Cow::Owned(a.iter().copied().collect()));
    let mut out = Vec::with_capacity(idx.len() * per);
    for &i in &idx {
        let i = i as usize;
        out.extend_from_slice(&src[i * per..(i + 1) * per]);
    }
    let mut shape = rows.shape().to_vec();
    shape.extend_from_slice(&a.shape()[1..]);
    HostArray::from_vec(shape, out)
}

/// The host batches of one call for [`FeedLayout::Host`](crate::train::step::FeedLayout):
/// `x` then `q` and `a` when present, each `(k, batch, …)`, without augmentation.
pub fn host_batches(data: &Dataset, rows: &HostArray) -> Result<Vec<HostArray>> {
    let mut v = vec![gather_rows(data.x(), rows)?];
    if let Some(q) = data.q() {
        v.push(gather_rows(q, rows)?);
    }
    if let Some(a) = data.a() {
        v.push(gather_rows(a, rows)?);
    }
    Ok(v)
}

/// The rows `p` of `n` processes feeds of each global batch of `batch` rows: the `p`-th of
/// `n` equal contiguous slices (the multi-process feed; one process feeds `0..batch`).
pub fn process_rows(batch: usize, process: usize, processes: usize) -> Result<Range<usize>> {
    if processes == 0 || process >= processes {
        return Err(Error::msg(format!(
            "process {process} of {processes}: a process id lies in 0..num_processes"
        )));
    }
    if !batch.is_multiple_of(processes) {
        return Err(Error::config(
            "train",
            "batch_size",
            format!(
                "{batch} does not split evenly over {processes} processes; use a multiple of \
                 {processes}"
            ),
        ));
    }
    let per = batch / processes;
    Ok(process * per..(process + 1) * per)
}

/// The arrays one process feeds for one training step: `x`, then `q` and `a` when present,
/// each its slice of the global batch's rows, flattened.
pub type StepBatch = Vec<Vec<f32>>;

/// The host side of the host feed: each step's batch gathered from the training set
/// (resident or memory-mapped) and augmented, for one process of the run.
#[derive(Clone, Debug)]
pub struct HostFeed {
    data: Arc<Dataset>,
    seed: u64,
    batch: usize,
    rows: Range<usize>,
}

impl HostFeed {
    /// The feed of process `process` of `processes` for global batches of `batch` rows.
    pub fn new(
        data: Arc<Dataset>,
        seed: u64,
        batch: usize,
        process: usize,
        processes: usize,
    ) -> Result<HostFeed> {
        if let Some(aug) = data.augment() {
            aug.check(data.data_shape())?;
        }
        Ok(HostFeed {
            rows: process_rows(batch, process, processes)?,
            data,
            seed,
            batch,
        })
    }

    /// This process's part of step `step`'s batch ([`step_rows`]), augmented where the data
    /// set says so (drawn from the seed, the step and the row's global position).
    pub fn step_batch(&self, step: u64) -> Result<StepBatch> {
        let global = step_rows(self.seed, step, self.batch, self.data.len());
        let idx: Vec<usize> = global[self.rows.clone()]
            .iter()
            .map(|&i| i as usize)
            .collect();
        let ds = &*self.data;
        let mut x = vec![0f32; idx.len() * ds.x_samples().row_len()];
        ds.x_samples().gather_into(&idx, &mut x);
        if let Some(aug) = ds.augment() {
            let shape: [usize; 3] = ds.data_shape().try_into().map_err(|_| {
                Error::msg("augmentations need images (C, H, W); remove [data] augment")
            })?;
            let per = x.len() / idx.len().max(1);
            let mut out = vec![0f32; x.len()];
            for (j, (src, dst)) in x
                .chunks_exact(per)
                .zip(out.chunks_exact_mut(per))
                .enumerate()
            {
                let d = aug.draw(self.seed, step, self.rows.start + j);
                aug.apply(d, shape, src, dst);
            }
            x = out;
        }
        let mut v = vec![x];
        if let Some(q) = ds.q_samples() {
            let mut out = vec![0f32; idx.len() * q.row_len()];
            q.gather_into(&idx, &mut out);
            v.push(out);
        }
        if let Some(a) = ds.a() {
            let p = a.shape()[1];
            let src = a
                .as_slice()
                .ok_or_else(|| Error::msg("parameters a are not contiguous"))?;
            v.push(
                idx.iter()
                    .flat_map(|&i| &src[i * p..(i + 1) * p])
                    .copied()
                    .collect(),
            );
        }
        Ok(v)
    }

    /// The `(k, rows, …)` host arrays of a call from its steps' batches (in step order).
    pub fn call_arrays(&self, steps: &[Arc<StepBatch>]) -> Result<Vec<HostArray>> {
        let ds = &*self.data;
        let mut shapes = vec![ds.data_shape().to_vec()];
        shapes.extend(ds.context_shape().map(<[usize]>::to_vec));
        shapes.extend(ds.parameter_dim().map(|p| vec![p]));
        shapes
            .iter()
            .enumerate()
            .map(|(f, row)| {
                let mut shape = vec![steps.len(), self.rows.len()];
                shape.extend_from_slice(row);
                let v: Vec<f32> = steps.iter().flat_map(|s| s[f].iter().copied()).collect();
                HostArray::from_vec(shape, v)
            })
            .collect()
    }

    /// The call's host arrays computed here, without a queue.
    pub fn call_inputs(&self, start: u64, k: usize) -> Result<Vec<HostArray>> {
        let steps = (start..start + k as u64)
            .map(|s| self.step_batch(s).map(Arc::new))
            .collect::<Result<Vec<_>>>()?;
        self.call_arrays(&steps)
    }
}

/// Calls of the host feed kept ready ahead of the one running.
pub const PREFETCH_CALLS: usize = 3;

/// A [`HostFeed`] with background workers keeping the batches of the next
/// [`PREFETCH_CALLS`] calls ready.
pub struct PrefetchedFeed {
    feed: HostFeed,
    queue: Prefetch<StepBatch>,
    steps_per_call: usize,
}

impl PrefetchedFeed {
    /// Starts the workers at step `start` for calls of `steps_per_call` steps.
    pub fn new(feed: HostFeed, start: u64, steps_per_call: usize) -> PrefetchedFeed {
        let job = feed.clone();
        let workers = std::thread::available_parallelism()
            .map_or(1, |n| n.get() / 2)
            .clamp(1, 8);
        PrefetchedFeed {
            queue: Prefetch::new(
                Box::new(move |s| job.step_batch(s)),
                start,
                steps_per_call * (PREFETCH_CALLS + 1),
                workers,
            ),
            feed,
            steps_per_call,
        }
    }

    /// The host arrays of the call starting at step `start`.
    pub fn call_inputs(&self, start: u64) -> Result<Vec<HostArray>> {
        let steps = self.queue.get_range(start, self.steps_per_call)?;
        self.feed.call_arrays(&steps)
    }
}

/// Splits dimension `dim` of `a` into `parts` equal shards (SPMD: shard `d` goes to device
/// `d`).
pub fn split_dim(a: &HostArray, dim: usize, parts: usize) -> Result<Vec<HostArray>> {
    if parts == 1 {
        return Ok(vec![a.clone()]);
    }
    let shape = a.shape();
    if dim >= shape.len() || !shape[dim].is_multiple_of(parts) {
        return Err(Error::msg(format!(
            "cannot split dimension {dim} of an array of shape {shape:?} into {parts} equal parts"
        )));
    }
    let es = a.dtype().size_in_bytes();
    let outer: usize = shape[..dim].iter().product();
    let inner: usize = shape[dim + 1..].iter().product::<usize>() * es;
    let len = shape[dim];
    let chunk = len / parts;
    let bytes = a.bytes();
    (0..parts)
        .map(|p| {
            let mut out = Vec::with_capacity(outer * chunk * inner);
            for o in 0..outer {
                let base = (o * len + p * chunk) * inner;
                out.extend_from_slice(&bytes[base..base + chunk * inner]);
            }
            let mut s = shape.to_vec();
            s[dim] = chunk;
            HostArray::from_bytes(a.dtype(), s, out)
        })
        .collect()
}

/// A scalar `i32` host array.
pub fn i32_scalar(v: i64) -> Result<HostArray> {
    let v = i32::try_from(v)
        .map_err(|_| Error::msg(format!("{v} does not fit the program's i32 step counter")))?;
    Ok(HostArray::scalar(v))
}

/// The `u64[2]` key array.
pub fn key_array(key: [u64; 2]) -> HostArray {
    HostArray::from_vec(vec![2], key.to_vec()).expect("two values")
}

/// Reads a `u64[2]` key array.
pub fn key_from(a: &HostArray) -> Result<[u64; 2]> {
    a.check_dtype(DType::U64)?;
    let v: Vec<u64> = a.to_vec()?;
    match v.as_slice() {
        [a, b] => Ok([*a, *b]),
        _ => Err(Error::msg(format!(
            "an RNG key has 2 values, got {}",
            v.len()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_depend_only_on_seed_and_step() {
        let a = step_rows(3, 10, 64, 1000);
        assert_eq!(a, step_rows(3, 10, 64, 1000));
        assert_ne!(a, step_rows(3, 11, 64, 1000));
        assert_ne!(a, step_rows(4, 10, 64, 1000));
        assert!(a.iter().all(|&i| (0..1000).contains(&i)));
        let c = call_rows(3, 9, 3, 64, 1000);
        let v: Vec<i32> = c.to_vec().unwrap();
        assert_eq!(&v[64..128], a.as_slice());
    }

    #[test]
    fn split_matches_slicing() {
        let a = HostArray::from_vec(vec![2, 4, 3], (0..24).map(|i| i as f32).collect()).unwrap();
        let s = split_dim(&a, 1, 2).unwrap();
        assert_eq!(s[0].shape(), &[2, 2, 3]);
        let v: Vec<f32> = s[1].to_vec().unwrap();
        assert_eq!(
            v,
            vec![6., 7., 8., 9., 10., 11., 18., 19., 20., 21., 22., 23.]
        );
        assert!(split_dim(&a, 1, 3).is_err());
    }

    #[test]
    fn gather_picks_rows() {
        let x = ndarray::ArrayD::from_shape_vec(vec![3, 2], vec![0., 1., 2., 3., 4., 5.]).unwrap();
        let rows = HostArray::from_vec(vec![1, 2], vec![2i32, 0]).unwrap();
        let g = gather_rows(&x, &rows).unwrap();
        assert_eq!(g.shape(), &[1, 2, 2]);
        assert_eq!(g.to_vec::<f32>().unwrap(), vec![4., 5., 0., 1.]);
    }
}
