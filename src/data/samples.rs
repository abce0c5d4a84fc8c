//! Where a data set's per-row arrays (`x`, `q`) live: in memory, or in a memory-mapped `.npy`
//! seen through a row selection and a scaling, converted only when rows are gathered.

use std::sync::{Arc, OnceLock};

use ndarray::{ArrayD, Axis, IxDyn};

use super::mapped::MappedNpy;
use super::scale::Transform;

/// A per-row array of shape `(N, …)`.
#[derive(Clone, Debug)]
pub enum Samples {
    /// Held in memory.
    Resident(ArrayD<f32>),
    /// Rows of a memory-mapped file.
    Mapped(MappedView),
}

/// Rows `rows` of a mapped file (all, in order, when `None`), with `transform` applied.
#[derive(Clone, Debug)]
pub struct MappedView {
    file: Arc<MappedNpy>,
    rows: Option<Arc<[usize]>>,
    /// Each row's shape (the file's rows reshaped, e.g. `(H, W)` → `(1, H, W)`).
    row_shape: Vec<usize>,
    transform: Transform,
    /// The whole view in memory, made the first time something asks for the array.
    full: Arc<OnceLock<ArrayD<f32>>>,
}

impl Samples {
    /// All rows of `file`, each of shape `row_shape` (as many values as the file's rows).
    pub fn mapped(file: Arc<MappedNpy>, row_shape: Vec<usize>) -> Samples {
        debug_assert_eq!(row_shape.iter().product::<usize>(), file.row_len());
        Samples::Mapped(MappedView {
            file,
            rows: None,
            row_shape,
            transform: Transform::Identity,
            full: Arc::new(OnceLock::new()),
        })
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        match self {
            Samples::Resident(a) => a.shape()[0],
            Samples::Mapped(v) => v.rows.as_ref().map_or(v.file.rows(), |r| r.len()),
        }
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The shape of one row.
    pub fn row_shape(&self) -> &[usize] {
        match self {
            Samples::Resident(a) => &a.shape()[1..],
            Samples::Mapped(v) => &v.row_shape,
        }
    }

    /// Values per row.
    pub fn row_len(&self) -> usize {
        self.row_shape().iter().product()
    }

    /// Whether the rows are held in memory.
    pub fn is_resident(&self) -> bool {
        matches!(self, Samples::Resident(_))
    }

    /// The whole array; a mapped view is read into memory the first time (once).
    pub fn array(&self) -> &ArrayD<f32> {
        match self {
            Samples::Resident(a) => a,
            Samples::Mapped(v) => v.full.get_or_init(|| {
                let n = self.len();
                let idx: Vec<usize> = (0..n).collect();
                let mut out = vec![0f32; n * self.row_len()];
                self.gather_into(&idx, &mut out);
                let mut shape = vec![n];
                shape.extend_from_slice(&v.row_shape);
                ArrayD::from_shape_vec(IxDyn(&shape), out).expect("n rows of row_len values")
            }),
        }
    }

    /// Copies rows `idx` (each `< len`) into `out` (`idx.len() · row_len` values), in order.
    pub fn gather_into(&self, idx: &[usize], out: &mut [f32]) {
        let per = self.row_len();
        match self {
            Samples::Resident(a) => {
                let src = a.as_slice();
                for (o, &i) in out.chunks_exact_mut(per).zip(idx) {
                    match src {
                        Some(s) => o.copy_from_slice(&s[i * per..(i + 1) * per]),
                        None => o
                            .iter_mut()
                            .zip(a.index_axis(Axis(0), i).iter())
                            .for_each(|(o, v)| *o = *v),
                    }
                }
            }
            Samples::Mapped(v) => {
                for (o, &i) in out.chunks_exact_mut(per).zip(idx) {
                    let row = v.rows.as_ref().map_or(i, |r| r[i]);
                    v.file.read_row(row, o);
                    if v.transform != Transform::Identity {
                        o.iter_mut().for_each(|x| *x = v.transform.forward(*x));
                    }
                }
            }
        }
    }

    /// Rows `idx` (each `< len`), in that order: copied for a resident array, a view of the
    /// same file for a mapped one.
    pub fn select(&self, idx: &[usize]) -> Samples {
        match self {
            Samples::Resident(a) => Samples::Resident(a.select(Axis(0), idx)),
            Samples::Mapped(v) => {
                let rows: Arc<[usize]> = match &v.rows {
                    Some(r) => idx.iter().map(|&i| r[i]).collect(),
                    None => idx.into(),
                };
                Samples::Mapped(MappedView {
                    rows: Some(rows),
                    full: Arc::new(OnceLock::new()),
                    ..v.clone()
                })
            }
        }
    }

    /// `transform` applied to every value (lazily, at gather time, for a mapped view that has
    /// none yet).
    pub fn map(&self, transform: &Transform) -> Samples {
        match self {
            Samples::Mapped(v) if v.transform == Transform::Identity => {
                Samples::Mapped(MappedView {
                    transform: *transform,
                    full: Arc::new(OnceLock::new()),
                    ..v.clone()
                })
            }
            s => Samples::Resident(transform.forward_array(s.array())),
        }
    }

    /// Calls `f` on consecutive chunks of about `chunk_values` values, in row order (a mapped
    /// view is never read into memory whole).
    pub fn for_each_chunk(&self, chunk_values: usize, mut f: impl FnMut(&[f32])) {
        match self {
            Samples::Resident(a) => match a.as_slice() {
                Some(s) => f(s),
                None => f(&a.iter().copied().collect::<Vec<_>>()),
            },
            Samples::Mapped(_) => {
                let per = self.row_len().max(1);
                let rows_per = (chunk_values / per).max(1);
                let mut buf = vec![0f32; rows_per * per];
                let n = self.len();
                let mut start = 0;
                while start < n {
                    let end = (start + rows_per).min(n);
                    let idx: Vec<usize> = (start..end).collect();
                    let out = &mut buf[..(end - start) * per];
                    self.gather_into(&idx, out);
                    f(out);
                    start = end;
                }
            }
        }
    }
}

impl PartialEq for Samples {
    fn eq(&self, other: &Samples) -> bool {
        match (self, other) {
            (Samples::Resident(a), Samples::Resident(b)) => a == b,
            (Samples::Mapped(a), Samples::Mapped(b)) => {
                a.file.path() == b.file.path()
                    && a.rows == b.rows
                    && a.row_shape == b.row_shape
                    && a.transform == b.transform
            }
            _ => false,
        }
    }
}
