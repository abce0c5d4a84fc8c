//! Host side of the batch feed: the rows each training step uses (a pure function of the seed
//! and the step, so a resumed run draws the same batches), host-gathered batches, and the
//! split of batch-sharded arrays over devices.

use std::ops::Range;
use std::sync::{Arc, Mutex};

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
    /// The `(C, H, W)` image shape the augmentation works on (when the set has one).
    image: Option<[usize; 3]>,
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
        let image = match data.augment() {
            Some(aug) => {
                aug.check(data.data_shape())?;
                Some(data.data_shape().try_into().map_err(|_| {
                    Error::msg("augmentations need images (C, H, W); remove [data] augment")
                })?)
            }
            None => None,
        };
        Ok(HostFeed {
            rows: process_rows(batch, process, processes)?,
            data,
            seed,
            batch,
            image,
        })
    }

    /// The shape of one row of each array fed: `x`, then `q` and `a` when present.
    fn row_shapes(&self) -> Vec<Vec<usize>> {
        let ds = &*self.data;
        let mut shapes = vec![ds.data_shape().to_vec()];
        shapes.extend(ds.context_shape().map(<[usize]>::to_vec));
        shapes.extend(ds.parameter_dim().map(|p| vec![p]));
        shapes
    }

    /// Writes this process's part of step `step`'s batch into `out` (one slice per array of
    /// [`HostFeed::row_shapes`], each `rows · row values`): rows gathered (converted from the
    /// file where mapped) and augmented straight into place; `scratch` holds one image.
    fn write_step(&self, step: u64, out: &mut [&mut [f32]], scratch: &mut Vec<f32>) -> Result<()> {
        let global = step_rows(self.seed, step, self.batch, self.data.len());
        let idx: Vec<usize> = global[self.rows.clone()]
            .iter()
            .map(|&i| i as usize)
            .collect();
        let ds = &*self.data;
        let mut fields = out.iter_mut();
        let mut next = || {
            fields
                .next()
                .ok_or_else(|| Error::msg("a host batch array is missing"))
        };
        let x = next()?;
        match (ds.augment(), self.image) {
            (Some(aug), Some(shape)) => {
                let per = ds.x_samples().row_len();
                scratch.resize(per, 0.0);
                for (j, (&i, dst)) in idx.iter().zip(x.chunks_exact_mut(per)).enumerate() {
                    ds.x_samples().gather_into(&[i], scratch);
                    let d = aug.draw(self.seed, step, self.rows.start + j);
                    aug.apply(d, shape, scratch, dst);
                }
            }
            _ => ds.x_samples().gather_into(&idx, x),
        }
        if let Some(q) = ds.q_samples() {
            q.gather_into(&idx, next()?);
        }
        if let Some(a) = ds.a() {
            let p = a.shape()[1];
            let src = a
                .as_slice()
                .ok_or_else(|| Error::msg("parameters a are not contiguous"))?;
            for (o, &i) in next()?.chunks_exact_mut(p).zip(&idx) {
                o.copy_from_slice(&src[i * p..(i + 1) * p]);
            }
        }
        Ok(())
    }

    /// This process's part of step `step`'s batch ([`step_rows`]), augmented where the data
    /// set says so (drawn from the seed, the step and the row's global position).
    pub fn step_batch(&self, step: u64) -> Result<StepBatch> {
        let n = self.rows.len();
        let mut v: StepBatch = self
            .row_shapes()
            .iter()
            .map(|r| vec![0f32; n * r.iter().product::<usize>()])
            .collect();
        let mut out: Vec<&mut [f32]> = v.iter_mut().map(Vec::as_mut_slice).collect();
        self.write_step(step, &mut out, &mut Vec::new())?;
        Ok(v)
    }

    /// The `(k, rows, …)` host arrays of the call of steps `start .. start + k`: each step's
    /// rows written straight into the call's arrays (one allocation per array, no copies).
    pub fn call_inputs(&self, start: u64, k: usize) -> Result<Vec<HostArray>> {
        self.call_inputs_in(start, k, &Spares::default())
    }

    /// [`HostFeed::call_inputs`] written into vectors of `spares` where it has some of the
    /// right sizes (every value is overwritten).
    fn call_inputs_in(&self, start: u64, k: usize, spares: &Spares) -> Result<Vec<HostArray>> {
        let n = self.rows.len();
        let shapes = self.row_shapes();
        let per_step: Vec<usize> = shapes
            .iter()
            .map(|r| n * r.iter().product::<usize>())
            .collect();
        let mut bufs: Vec<F32Buffer> = per_step
            .iter()
            .map(|&p| F32Buffer::new(k * p, spares.take(k * p * 4)))
            .collect();
        let mut scratch = Vec::new();
        for s in 0..k {
            let mut out: Vec<&mut [f32]> = bufs
                .iter_mut()
                .zip(&per_step)
                .map(|(b, &p)| &mut b.values()[s * p..(s + 1) * p])
                .collect();
            self.write_step(start + s as u64, &mut out, &mut scratch)?;
        }
        bufs.into_iter()
            .zip(shapes)
            .map(|(b, row)| {
                let mut shape = vec![k, n];
                shape.extend(row);
                b.into_host(shape)
            })
            .collect()
    }
}

/// Byte vectors of earlier calls' arrays kept for later calls (whose pages are then already
/// in memory: a fresh vector of a call's size costs a page fault every 4 KiB).
#[derive(Default)]
struct Spares(Mutex<Vec<Vec<u8>>>);

impl Spares {
    /// Vectors kept at most.
    const KEEP: usize = 8;

    /// A kept vector of `len` bytes, if any.
    fn take(&self, len: usize) -> Option<Vec<u8>> {
        let mut v = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let i = v.iter().position(|b| b.len() == len)?;
        Some(v.swap_remove(i))
    }

    /// Keeps the byte vectors of `arrays` (up to [`Spares::KEEP`]).
    fn give(&self, arrays: Vec<HostArray>) {
        let mut v = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for a in arrays {
            if v.len() < Spares::KEEP {
                v.push(a.into_bytes());
            }
        }
    }
}

/// An `f32` array written in place and then handed over as a [`HostArray`] without a copy:
/// its values live in the array's own byte vector whenever that is aligned for `f32` (always,
/// with the usual allocators), else in a float vector copied once at the end.
enum F32Buffer {
    Bytes(Vec<u8>),
    Floats(Vec<f32>),
}

impl F32Buffer {
    /// Room for `n` values: `spare` (`4n` bytes) where given, else zeros (allocated zeroed:
    /// pages the system hands out clean cost no writes).
    fn new(n: usize, spare: Option<Vec<u8>>) -> F32Buffer {
        let mut bytes = spare.unwrap_or_else(|| vec![0u8; n * 4]);
        match bytemuck::try_cast_slice_mut::<u8, f32>(&mut bytes) {
            Ok(_) => F32Buffer::Bytes(bytes),
            Err(_) => F32Buffer::Floats(vec![0f32; n]),
        }
    }

    fn values(&mut self) -> &mut [f32] {
        match self {
            F32Buffer::Bytes(b) => bytemuck::cast_slice_mut(b),
            F32Buffer::Floats(v) => v,
        }
    }

    fn into_host(self, shape: Vec<usize>) -> Result<HostArray> {
        match self {
            F32Buffer::Bytes(b) => HostArray::from_bytes(DType::F32, shape, b),
            F32Buffer::Floats(v) => HostArray::from_vec(shape, v),
        }
    }
}

/// Calls of the host feed kept ready ahead of the one running.
pub const PREFETCH_CALLS: usize = 3;

/// What a [`PrefetchedFeed`]'s workers do with a call's host arrays once made (the engine
/// uploads them to its devices, so that a call finds its inputs there); the arrays' memory is
/// reused for later calls.
pub type CallStage<T> = dyn Fn(&[HostArray]) -> Result<T> + Send + Sync;

/// A [`HostFeed`] with background workers keeping the next [`PREFETCH_CALLS`] calls ready
/// (each call made whole by one worker, then passed through its stage).
pub struct PrefetchedFeed<T: Send + Sync + 'static = Vec<HostArray>> {
    queue: Prefetch<T>,
}

/// Prefetch workers: half the machine's cores (one on two cores, where every cycle the
/// loader takes is one the training step's threads lose), at most one per call kept ready.
pub fn prefetch_workers() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get() / 2)
        .clamp(1, PREFETCH_CALLS + 1)
}

impl PrefetchedFeed {
    /// Starts the workers at step `start` for calls of `steps_per_call` steps.
    pub fn new(feed: HostFeed, start: u64, steps_per_call: usize) -> PrefetchedFeed {
        PrefetchedFeed::staged(feed, start, steps_per_call, Box::new(|h| Ok(h.to_vec())))
    }

    /// The host arrays of the call starting at step `start` (a copy of the queue's).
    pub fn call_inputs(&self, start: u64) -> Result<Vec<HostArray>> {
        Ok(self.call(start)?.as_ref().clone())
    }
}

impl<T: Send + Sync + 'static> PrefetchedFeed<T> {
    /// Starts the workers at step `start` for calls of `steps_per_call` steps, each call's
    /// arrays passed through `stage` by the worker that made them (then kept for reuse).
    pub fn staged(
        feed: HostFeed,
        start: u64,
        steps_per_call: usize,
        stage: Box<CallStage<T>>,
    ) -> PrefetchedFeed<T> {
        let k = steps_per_call.max(1);
        let spares = Spares::default();
        let job = move |s| {
            let hosts = feed.call_inputs_in(s, k, &spares)?;
            let staged = stage(&hosts);
            spares.give(hosts);
            staged
        };
        PrefetchedFeed {
            queue: Prefetch::with_stride(
                Box::new(job),
                start,
                k as u64,
                PREFETCH_CALLS + 1,
                prefetch_workers(),
            ),
        }
    }

    /// The staged inputs of the call starting at step `start` (made there if the queue was
    /// elsewhere: a resume, or the call after a shorter one).
    pub fn call(&self, start: u64) -> Result<Arc<T>> {
        let mut v = self.queue.get_range(start, 1)?;
        v.pop()
            .ok_or_else(|| Error::msg("the prefetch queue returned no call"))
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
