//! The larger-than-memory loader: memory-mapped `.npy` sets (`[data] resident = false`) give
//! the same data as read ones, sbgm's augmentations match NumPy's reflect padding and flips,
//! host batches are a pure function of (seed, step) whether prefetched or not, and the
//! per-process slices of each global batch put together give the one-process batch.

use std::sync::Arc;

use ndarray::{ArrayD, IxDyn};
use sbgm_xla::HostArray;
use sbgm_xla::data::augment::AugmentDraw;
use sbgm_xla::data::{Augment, DataSpec, Dataset};
use sbgm_xla::io::npy::write_npy;
use sbgm_xla::train::feed::{self, HostFeed, PrefetchedFeed};

fn npy(dir: &std::path::Path, name: &str, shape: Vec<usize>, f: impl Fn(usize) -> f64) -> String {
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n).map(f).collect();
    let p = dir.join(name);
    write_npy(&p, &HostArray::from_vec(shape, v).unwrap()).unwrap();
    p.to_string_lossy().into_owned()
}

fn fields_spec(dir: &std::path::Path, resident: bool) -> DataSpec {
    let x = npy(dir, "x.npy", vec![50, 6, 6], |i| {
        ((i * 37) % 101) as f64 * 0.1
    });
    let q = npy(dir, "q.npy", vec![50, 6, 6], |i| (i % 13) as f64);
    let a = npy(dir, "a.npy", vec![50, 2], |i| i as f64);
    DataSpec::from_toml(&format!(
        "dataset = \"fields\"\npath = {x:?}\nq_path = {q:?}\nparams = {a:?}\nholdout = 0.2\n\
         seed = 4\nn = 45\nresident = {resident}"
    ))
    .unwrap()
}

#[test]
fn mapped_fields_equal_read_fields() {
    let dir = tempfile::tempdir().unwrap();
    let read = fields_spec(dir.path(), true).load().unwrap();
    let mapped = fields_spec(dir.path(), false).load().unwrap();
    assert!(read.train.is_resident());
    assert!(!mapped.train.is_resident() && !mapped.holdout.is_resident());
    // Same split, same fitted scaling (chunked over the map), same rows.
    assert_eq!(mapped.transform, read.transform);
    assert_eq!(mapped.train.len(), 36);
    assert_eq!(mapped.train.data_shape(), &[1, 6, 6]);
    let idx = [5usize, 0, 35, 5];
    let (mut a, mut b) = (vec![0f32; 4 * 36], vec![0f32; 4 * 36]);
    mapped.train.x_samples().gather_into(&idx, &mut a);
    read.train.x_samples().gather_into(&idx, &mut b);
    assert_eq!(a, b);
    assert_eq!(mapped.train.x(), read.train.x());
    assert_eq!(mapped.holdout.q(), read.holdout.q());
    assert_eq!(mapped.train.a(), read.train.a());
    // The host feed gathers the same batches from either.
    let f = |d: &Dataset| HostFeed::new(Arc::new(d.clone()), 9, 8, 0, 1).unwrap();
    assert_eq!(
        f(&mapped.train).call_inputs(3, 2).unwrap(),
        f(&read.train).call_inputs(3, 2).unwrap()
    );
}

#[test]
fn resident_false_is_refused_where_nothing_can_be_mapped() {
    let e = DataSpec::from_toml("dataset = \"digits\"\nresident = false")
        .unwrap_err()
        .to_string();
    assert!(e.contains("resident") && e.contains(".npy"), "{e}");
    let e = DataSpec::from_toml("dataset = \"moons\"\naugment = { crop_padding = 2 }")
        .unwrap()
        .load()
        .unwrap_err()
        .to_string();
    assert!(e.contains("augment") && e.contains("(C, H, W)"), "{e}");
}

/// Expected values from NumPy: `np.pad(x, ((0,0),(3,3),(3,3)), mode='reflect')` of
/// `x = arange(40).reshape(2, 4, 5)`, cropped at (top, left) to 4×5, then `[:, :, ::-1]` and
/// `[:, ::-1, :]` for the flips.
#[test]
fn crop_and_flips_match_numpy() {
    let x: Vec<f32> = (0..40).map(|v| v as f32).collect();
    let aug = Augment {
        crop_padding: 3,
        hflip: true,
        vflip: true,
    };
    let cases: [(usize, usize, bool, bool, [i32; 40]); 4] = [
        (
            2,
            4,
            false,
            false,
            [
                6, 7, 8, 9, 8, 1, 2, 3, 4, 3, 6, 7, 8, 9, 8, 11, 12, 13, 14, 13, 26, 27, 28, 29,
                28, 21, 22, 23, 24, 23, 26, 27, 28, 29, 28, 31, 32, 33, 34, 33,
            ],
        ),
        (
            0,
            6,
            true,
            false,
            [
                16, 17, 18, 19, 18, 11, 12, 13, 14, 13, 6, 7, 8, 9, 8, 1, 2, 3, 4, 3, 36, 37, 38,
                39, 38, 31, 32, 33, 34, 33, 26, 27, 28, 29, 28, 21, 22, 23, 24, 23,
            ],
        ),
        (
            5,
            1,
            false,
            true,
            [
                7, 6, 5, 6, 7, 12, 11, 10, 11, 12, 17, 16, 15, 16, 17, 12, 11, 10, 11, 12, 27, 26,
                25, 26, 27, 32, 31, 30, 31, 32, 37, 36, 35, 36, 37, 32, 31, 30, 31, 32,
            ],
        ),
        (
            3,
            2,
            true,
            true,
            [
                18, 17, 16, 15, 16, 13, 12, 11, 10, 11, 8, 7, 6, 5, 6, 3, 2, 1, 0, 1, 38, 37, 36,
                35, 36, 33, 32, 31, 30, 31, 28, 27, 26, 25, 26, 23, 22, 21, 20, 21,
            ],
        ),
    ];
    for (top, left, hflip, vflip, want) in cases {
        let d = AugmentDraw {
            top,
            left,
            hflip,
            vflip,
        };
        let mut out = vec![0f32; 40];
        aug.apply(d, [2, 4, 5], &x, &mut out);
        let got: Vec<i32> = out.iter().map(|&v| v as i32).collect();
        assert_eq!(got, want, "{d:?}");
    }
}

#[test]
fn draws_are_fixed_by_seed_step_and_position_and_cover_the_range() {
    let aug = Augment {
        crop_padding: 4,
        hflip: true,
        vflip: false,
    };
    let d = aug.draw(1, 2, 3);
    assert_eq!(d, aug.draw(1, 2, 3));
    let all: Vec<AugmentDraw> = (0..2000).map(|p| aug.draw(1, 2, p)).collect();
    assert!(all.iter().all(|d| d.top <= 8 && d.left <= 8 && !d.vflip));
    for k in 0..=8 {
        assert!(all.iter().any(|d| d.top == k) && all.iter().any(|d| d.left == k));
    }
    let flips = all.iter().filter(|d| d.hflip).count();
    assert!((900..1100).contains(&flips), "{flips} flips of 2000");
    assert_ne!(
        all[..50],
        (0..50).map(|p| aug.draw(1, 3, p)).collect::<Vec<_>>()[..]
    );
}

fn images(n: usize) -> Dataset {
    let x = ArrayD::from_shape_vec(
        IxDyn(&[n, 3, 8, 8]),
        (0..n * 192).map(|v| v as f32).collect(),
    );
    Dataset::new("img", x.unwrap())
        .unwrap()
        .with_a(ArrayD::from_shape_vec(IxDyn(&[n, 1]), (0..n).map(|v| v as f32).collect()).unwrap())
        .unwrap()
        .with_augment(Some(Augment {
            crop_padding: 2,
            hflip: true,
            vflip: true,
        }))
}

#[test]
fn augmented_batches_depend_only_on_seed_and_step() {
    let ds = Arc::new(images(20));
    let feed = HostFeed::new(Arc::clone(&ds), 5, 6, 0, 1).unwrap();
    let b = feed.step_batch(7).unwrap();
    assert_eq!(
        b,
        HostFeed::new(Arc::clone(&ds), 5, 6, 0, 1)
            .unwrap()
            .step_batch(7)
            .unwrap()
    );
    assert_ne!(b[0], feed.step_batch(8).unwrap()[0]);
    // Row j is row step_rows[j] of the data, augmented with the draw of (seed, step, j).
    let rows = feed::step_rows(5, 7, 6, 20);
    let aug = ds.augment().unwrap();
    for (j, &r) in rows.iter().enumerate() {
        let src = &ds.x().as_slice().unwrap()[r as usize * 192..][..192];
        let mut want = vec![0f32; 192];
        aug.apply(aug.draw(5, 7, j), [3, 8, 8], src, &mut want);
        assert_eq!(&b[0][j * 192..][..192], &want[..]);
        assert_eq!(b[1][j], r as f32, "a is gathered, unaugmented");
    }
    // The prefetch queue gives the same calls, across a short call and a rewind.
    let q = PrefetchedFeed::new(feed.clone(), 0, 3);
    for start in [0u64, 3, 5, 8, 1] {
        assert_eq!(
            q.call_inputs(start).unwrap(),
            feed.call_inputs(start, 3).unwrap()
        );
    }
}

#[test]
fn process_slices_put_together_give_the_one_process_batch() {
    let ds = Arc::new(images(30));
    let (batch, k) = (12usize, 3usize);
    let one = HostFeed::new(Arc::clone(&ds), 2, batch, 0, 1)
        .unwrap()
        .call_inputs(4, k)
        .unwrap();
    for n in [2usize, 3, 4] {
        let parts: Vec<Vec<HostArray>> = (0..n)
            .map(|p| {
                HostFeed::new(Arc::clone(&ds), 2, batch, p, n)
                    .unwrap()
                    .call_inputs(4, k)
                    .unwrap()
            })
            .collect();
        for (f, whole) in one.iter().enumerate() {
            assert_eq!(parts[0][f].shape()[..2], [k, batch / n]);
            let whole: Vec<f32> = whole.to_vec().unwrap();
            let per = whole.len() / (k * batch);
            let mut joined = Vec::new();
            for s in 0..k {
                for part in &parts {
                    let v: Vec<f32> = part[f].to_vec().unwrap();
                    joined.extend_from_slice(&v[s * batch / n * per..(s + 1) * batch / n * per]);
                }
            }
            assert_eq!(joined, whole, "{n} processes, array {f}");
        }
    }
    assert_eq!(feed::process_rows(12, 2, 4).unwrap(), 6..9);
    let e = HostFeed::new(ds, 2, 10, 0, 4).unwrap_err().to_string();
    assert!(
        e.contains("batch_size") && e.contains("multiple of 4"),
        "{e}"
    );
}

/// `[data] resident = false` and `augment` as a user runs them: `sbgm-xla train` on a
/// memory-mapped field set with flips, then `sbgm-xla data` writes the same arrays as the
/// resident set.
#[test]
fn a_mapped_augmented_field_set_trains_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let spec = fields_spec(dir.path(), false);
    let data = |resident: bool, augment: &str| {
        format!(
            "[data]\ndataset = \"fields\"\npath = {:?}\nq_path = {:?}\nparams = {:?}\n\
             holdout = 0.2\nseed = 4\nn = 45\nresident = {resident}\n{augment}\n",
            spec.path.as_ref().unwrap(),
            spec.q_path.as_ref().unwrap(),
            spec.params.as_ref().unwrap()
        )
    };
    let rest = "[sde]\nsde = \"VP\"\n\n[model]\nkind = \"unet\"\ndim = 8\ndim_mults = [1]\n\
                attn_dim_head = 4\nattn_heads = 1\n\n[train]\nbatch_size = 8\nsteps = 4\n\
                steps_per_call = 2\neval_every = 0\nsample_every = 0\ncheckpoint_every = 0\n";
    let write = |name: &str, text: String| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_string_lossy().into_owned()
    };
    let mapped = write(
        "mapped.toml",
        data(false, "augment = { hflip = true, vflip = true }") + rest,
    );
    let resident = write("resident.toml", data(true, "") + rest);
    let bin = env!("CARGO_BIN_EXE_sbgm-xla");
    let run = |args: &[&str]| {
        let o = std::process::Command::new(bin).args(args).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    let run_dir = dir.path().join("run");
    let rd = run_dir.to_string_lossy().into_owned();
    run(&["train", "--config", &mapped, "--run-dir", &rd, "--quiet"]);
    let losses = std::fs::read_to_string(run_dir.join("metrics.jsonl")).unwrap();
    assert!(losses.contains("\"loss\""), "{losses}");
    let out = |cfg: &str, name: &str| {
        let p = dir.path().join(name);
        run(&["data", "--config", cfg, "--out", &p.to_string_lossy()]);
        sbgm_xla::io::NpzArchive::open(&p)
            .unwrap()
            .read("x")
            .unwrap()
            .unwrap()
    };
    assert_eq!(out(&mapped, "m.npz"), out(&resident, "r.npz"));
}

/// The host feed writes each step's rows (converted from the mapped file, augmented) straight
/// into the call's arrays; they equal the call put together naively from the data read whole:
/// for each step, row and array, the row picked by `step_rows`, augmented with its draw, then
/// stacked. Prefetched calls (whose buffers are reused) and each process's slice agree.
#[test]
fn call_arrays_equal_a_naive_construction() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = fields_spec(dir.path(), false);
    spec.augment = Some(Augment {
        crop_padding: 2,
        hflip: true,
        vflip: true,
    });
    let ds = Arc::new(spec.load().unwrap().train);
    assert!(!ds.is_resident());
    // The reference reads the files whole (the `.npy` reader, not the memory map).
    let read = fields_spec(dir.path(), true).load().unwrap().train;
    let (seed, batch, k) = (11u64, 6usize, 3usize);
    let (x, q, a) = (read.x(), read.q().unwrap(), read.a().unwrap());
    let aug = *ds.augment().unwrap();
    let naive = |start: u64, process: usize, processes: usize| -> Vec<HostArray> {
        let per = batch / processes;
        let (mut xs, mut qs, mut as_) = (Vec::new(), Vec::new(), Vec::new());
        for s in start..start + k as u64 {
            let rows = feed::step_rows(seed, s, batch, ds.len());
            for (j, &r) in rows.iter().enumerate().skip(process * per).take(per) {
                let r = r as usize;
                let src: Vec<f32> = x.index_axis(ndarray::Axis(0), r).iter().copied().collect();
                let mut out = vec![0f32; 36];
                aug.apply(aug.draw(seed, s, j), [1, 6, 6], &src, &mut out);
                xs.extend(out);
                qs.extend(q.index_axis(ndarray::Axis(0), r).iter().copied());
                as_.extend(a.index_axis(ndarray::Axis(0), r).iter().copied());
            }
        }
        vec![
            HostArray::from_vec(vec![k, per, 1, 6, 6], xs).unwrap(),
            HostArray::from_vec(vec![k, per, 1, 6, 6], qs).unwrap(),
            HostArray::from_vec(vec![k, per, 2], as_).unwrap(),
        ]
    };
    let one = HostFeed::new(Arc::clone(&ds), seed, batch, 0, 1).unwrap();
    assert_eq!(one.call_inputs(5, k).unwrap(), naive(5, 0, 1));
    let queued = PrefetchedFeed::new(one, 0, k);
    for start in [0u64, 3, 6, 9, 10, 13, 2] {
        assert_eq!(
            queued.call_inputs(start).unwrap(),
            naive(start, 0, 1),
            "{start}"
        );
    }
    let second = HostFeed::new(Arc::clone(&ds), seed, batch, 1, 2).unwrap();
    assert_eq!(second.call_inputs(4, k).unwrap(), naive(4, 1, 2));
}
