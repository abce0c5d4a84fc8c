//! Fuzzing the file readers with deterministic seeds: byte flips, truncations and header lies
//! (shapes, sizes and offsets too large, negative or overflowing; dtype lies) for `.npy`,
//! `.npz`, `.eqx`, `.safetensors`, IDX and TOML configs. Property: a clear error or a correct
//! result, never a panic, bounded memory. The library readers run in-process under an
//! allocation tracker; a subset runs `sbgm-xla inspect` under an address-space limit and a
//! timeout. Regression tests cover the size bombs and lying headers of issue 12.

use sbgm_xla::data::{ArrayKeys, load_arrays, read_idx};
use sbgm_xla::io::{
    Checkpoint, inspect, load_checkpoint, read_eqx, read_eqx_records, read_npy, read_npz,
    skeleton_from_json, write_npy, write_npz,
};
use sbgm_xla::model::parse_config;
use sbgm_xla::train::Config;
use sbgm_xla::{DType, HostArray};
use serde_json::json;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

// ---- allocation tracking (per thread: tests run in parallel) ----

/// The system allocator, counting each thread's live bytes and their peak, and refusing single
/// allocations above the thread's cap (a reader that allocates what a header claims fails here
/// instead of taking the machine's memory).
struct Tracking;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
    static CAP: Cell<usize> = const { Cell::new(usize::MAX) };
}

fn grew(n: usize) {
    let _ = LIVE.try_with(|l| {
        let v = l.get().saturating_add(n);
        l.set(v);
        let _ = PEAK.try_with(|p| p.set(p.get().max(v)));
    });
}

fn shrank(n: usize) {
    let _ = LIVE.try_with(|l| l.set(l.get().saturating_sub(n)));
}

fn over_cap(n: usize) -> bool {
    CAP.try_with(|c| n > c.get()).unwrap_or(false)
}

unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if over_cap(layout.size()) {
            return std::ptr::null_mut();
        }
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if over_cap(layout.size()) {
            return std::ptr::null_mut();
        }
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if over_cap(new_size) {
            return std::ptr::null_mut();
        }
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            shrank(layout.size());
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Tracking = Tracking;

/// Runs `f`, failing the test (naming `label`) if it panics or if its peak memory exceeds
/// `budget` bytes; single allocations above the budget are refused.
fn bounded<T>(label: &str, budget: usize, f: impl FnOnce() -> T) -> T {
    let start = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(start));
    CAP.with(|c| c.set(budget));
    let r = catch_unwind(AssertUnwindSafe(f));
    CAP.with(|c| c.set(usize::MAX));
    let peak = PEAK.with(Cell::get) - start;
    match r {
        Err(e) => {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("{label}: the reader panicked: {msg}")
        }
        Ok(v) => {
            assert!(
                peak <= budget,
                "{label}: the reader used {peak} bytes of memory (budget {budget})"
            );
            v
        }
    }
}

/// Memory allowed for reading one small mutated file.
const SMALL: usize = 16 << 20;

// ---- deterministic mutations ----

/// SplitMix64: a tiny deterministic generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

/// A byte-level mutation of `bytes` and its description: flips of 1-4 bytes (biased to the
/// header), a truncation, or a duplicated or deleted span.
fn mutate_bytes(rng: &mut Rng, bytes: &[u8]) -> (Vec<u8>, String) {
    let mut b = bytes.to_vec();
    match rng.below(4) {
        0 | 1 => {
            let k = 1 + rng.below(4);
            let head = b.len().min(160);
            let mut at = Vec::new();
            for _ in 0..k {
                let i = if rng.below(2) == 0 {
                    rng.below(head)
                } else {
                    rng.below(b.len())
                };
                b[i] ^= 1 + rng.below(255) as u8;
                at.push(i);
            }
            (b, format!("flip bytes {at:?}"))
        }
        2 => {
            let n = rng.below(b.len());
            b.truncate(n);
            (b, format!("truncate to {n} bytes"))
        }
        _ => {
            let i = rng.below(b.len());
            let n = 1 + rng.below(16).min(b.len() - i - 1);
            if rng.below(2) == 0 {
                let span: Vec<u8> = b[i..i + n].to_vec();
                b.splice(i..i, span);
                (b, format!("duplicate {n} bytes at {i}"))
            } else {
                b.drain(i..i + n);
                (b, format!("delete {n} bytes at {i}"))
            }
        }
    }
}

/// Shapes that lie: too large, overflowing, negative, unparsable.
const SHAPE_LIES: &[&str] = &[
    "(18446744073709551615,)",
    "(18446744073709551616,)",
    "(4294967296, 4294967296)",
    "(2305843009213693952,)",
    "(3, 4611686018427387904, 0)",
    "(0, 4611686018427387904, 4611686018427387904)",
    "(-1,)",
    "(2, -3)",
    "(1000000,)",
    "(2, 3, 4)",
    "(1,)",
    "()",
    "(0,)",
    "(99999999999999999999999999,)",
    "(1e3,)",
];

/// Descriptors that lie about the element type or are not supported.
const DESCR_LIES: &[&str] = &[
    "<f8", "<f2", "|b1", "|u1", ">f4", "<i8", "<V2", "|O", "<c8", "<U10", "", "<f4<", "V", "=f4",
];

/// A `.npy` record with the header dict `dict` (version 1.0 or 2.0), padded like NumPy's.
fn npy_with_dict(dict: &str, data: &[u8], v2: bool) -> Vec<u8> {
    let prefix = if v2 { 12 } else { 10 };
    let mut text = dict.to_string();
    while !(prefix + text.len() + 1).is_multiple_of(64) {
        text.push(' ');
    }
    text.push('\n');
    let mut out = b"\x93NUMPY".to_vec();
    if v2 {
        out.extend_from_slice(&[2, 0]);
        out.extend_from_slice(&(text.len() as u32).to_le_bytes());
    } else {
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(&(text.len() as u16).to_le_bytes());
    }
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(data);
    out
}

/// A header lie for a `.npy` record of `descr`, `shape` and `data`: a lying shape or dtype,
/// Fortran order, or a header-length field that lies.
fn npy_lie(rng: &mut Rng, descr: &str, shape: &str, data: &[u8]) -> (Vec<u8>, String) {
    let dict = |d: &str, s: &str, f: &str| {
        format!("{{'descr': '{d}', 'fortran_order': {f}, 'shape': {s}, }}")
    };
    let v2 = rng.below(4) == 0;
    match rng.below(5) {
        0 | 1 => {
            let s = rng.pick(SHAPE_LIES);
            (
                npy_with_dict(&dict(descr, s, "False"), data, v2),
                format!("shape {s}"),
            )
        }
        2 => {
            let d = rng.pick(DESCR_LIES);
            (
                npy_with_dict(&dict(d, shape, "False"), data, v2),
                format!("descr '{d}'"),
            )
        }
        3 => {
            let (d, s) = (rng.pick(DESCR_LIES), rng.pick(SHAPE_LIES));
            let f = if rng.below(2) == 0 { "True" } else { "False" };
            (
                npy_with_dict(&dict(d, s, f), data, v2),
                format!("descr '{d}', shape {s}, fortran {f}"),
            )
        }
        _ => {
            let mut b = npy_with_dict(&dict(descr, shape, "False"), data, v2);
            let lie: u32 = *rng.pick(&[0, 1, 0xFFFF, 0xFFFF_FFFF, 0x8000_0000, 2_000_000]);
            if v2 {
                b[8..12].copy_from_slice(&lie.to_le_bytes());
            } else {
                b[8..10].copy_from_slice(&(lie as u16).to_le_bytes());
            }
            (b, format!("header length field {lie}"))
        }
    }
}

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn f32_array(shape: &[usize]) -> HostArray {
    let n: usize = shape.iter().product();
    HostArray::from_vec(
        shape.to_vec(),
        (0..n).map(|i| i as f32 * 0.5 - 1.0).collect(),
    )
    .unwrap()
}

fn is_bool_error(e: &str) -> bool {
    e.contains("bool")
}

/// `(dtype, shape)` of each tensor of an inspection, or the error text.
fn inspected(path: &Path) -> Result<Vec<(DType, Vec<usize>)>, String> {
    inspect(path, None)
        .map(|r| r.tensors.into_iter().map(|t| (t.dtype, t.shape)).collect())
        .map_err(|e| e.to_string())
}

fn layout(arrays: &[HostArray]) -> Vec<(DType, Vec<usize>)> {
    arrays
        .iter()
        .map(|a| (a.dtype(), a.shape().to_vec()))
        .collect()
}

/// Reads the file at `path` with `read` and inspects it, both in bounded memory. An error must
/// name the file; inspection must agree with reading: a file that reads is listed with the same
/// tensors, and a file inspection passes reads too, unless only its data is bad (`data_error`:
/// bool bytes, a checksum).
fn check_reader(
    label: &str,
    path: &Path,
    read: impl FnOnce() -> sbgm_xla::Result<Vec<HostArray>>,
    data_error: impl Fn(&str) -> bool,
) {
    let read = bounded(label, SMALL, read).map_err(|e| e.to_string());
    let listed = bounded(label, SMALL, || inspected(path));
    if let Err(e) = &read {
        check_error(label, e, path);
    }
    match (read, listed) {
        (Ok(a), Ok(l)) => assert_eq!(layout(&a), l, "{label}: inspect and read disagree"),
        (Ok(a), Err(e)) => panic!("{label}: reads as {:?} but inspect says: {e}", layout(&a)),
        (Err(e), Ok(l)) => assert!(
            data_error(&e),
            "{label}: inspect lists {l:?} but reading fails: {e}"
        ),
        (Err(_), Err(_)) => {}
    }
}

/// A readable error: it names the file (or a part of it) and says something.
fn check_error(label: &str, e: &str, file: &Path) {
    let name = file.file_name().unwrap().to_string_lossy();
    assert!(
        e.contains(&*name),
        "{label}: the error does not name the file: {e}"
    );
}

/// Writes `cases` mutations of `good` into `dir` as `{stem}_{i}.{ext}` (even cases:
/// [`mutate_bytes`], odd: `lie`) and runs `check` on each, with a label naming `source`, the
/// generator state it started from, the case and the mutation.
#[allow(clippy::too_many_arguments)]
fn fuzz_file(
    dir: &Path,
    source: &str,
    stem: &str,
    ext: &str,
    rng: &mut Rng,
    cases: usize,
    good: &[u8],
    mut lie: impl FnMut(&mut Rng) -> (Vec<u8>, String),
    check: impl Fn(&str, &Path),
) {
    let seed = rng.0;
    for i in 0..cases {
        let (bytes, what) = if i % 2 == 0 {
            mutate_bytes(rng, good)
        } else {
            lie(rng)
        };
        let path = dir.join(format!("{stem}_{i}.{ext}"));
        std::fs::write(&path, &bytes).unwrap();
        check(&format!("{source} seed {seed:#x} case {i}: {what}"), &path);
    }
}

// ---- .npy ----

fn npy_corpus() -> Vec<PathBuf> {
    [
        "f4",
        "f4_3d_fortran",
        "i8_be",
        "b1",
        "bf16",
        "f4_scalar",
        "f4_empty",
        "f8_v3",
    ]
    .iter()
    .map(|n| fixture(&format!("tests/fixtures/io/npy/{n}.npy")))
    .collect()
}

/// The dict, descr, shape repr and data of a valid `.npy` file's bytes.
fn npy_parts(bytes: &[u8]) -> (String, String, Vec<u8>) {
    let hlen = if bytes[6] == 1 {
        u16::from_le_bytes([bytes[8], bytes[9]]) as usize + 10
    } else {
        u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize + 12
    };
    let text = String::from_utf8_lossy(&bytes[..hlen]).into_owned();
    let field = |key: &str, open: char, close: char| {
        let i = text.find(key).unwrap() + key.len();
        let s = &text[i..];
        let a = s.find(open).unwrap();
        let b = s[a + 1..].find(close).unwrap() + a + 1;
        s[a..=b].to_string()
    };
    let descr = field("'descr':", '\'', '\'').trim_matches('\'').to_string();
    (descr, field("'shape':", '(', ')'), bytes[hlen..].to_vec())
}

fn check_npy(label: &str, path: &Path) {
    check_reader(
        label,
        path,
        || read_npy(path).map(|a| vec![a]),
        is_bool_error,
    );
}

#[test]
fn npy_mutations_are_errors_or_correct() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x6e70_7901);
    for (k, src) in npy_corpus().iter().enumerate() {
        let good = std::fs::read(src).unwrap();
        let (descr, shape, data) = npy_parts(&good);
        let label = src.display().to_string();
        let lie = |rng: &mut Rng| npy_lie(rng, &descr, &shape, &data);
        fuzz_file(
            dir.path(),
            &label,
            &format!("m{k}"),
            "npy",
            &mut rng,
            60,
            &good,
            lie,
            check_npy,
        );
    }
}

// ---- .eqx ----

/// The byte ranges of the records of a valid `.eqx` file.
fn eqx_records(bytes: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut r = bytes;
    while !r.is_empty() {
        let start = bytes.len() - r.len();
        sbgm_xla::io::read_npy_record(&mut r).unwrap();
        out.push(start..bytes.len() - r.len());
    }
    out
}

fn check_eqx(label: &str, path: &Path, skeleton: &[sbgm_xla::io::LeafSpec]) {
    let named = bounded(label, SMALL, || read_eqx(path, skeleton));
    match &named {
        Ok(leaves) => assert_eq!(leaves.len(), skeleton.len(), "{label}"),
        Err(e) => check_error(label, &e.to_string(), path),
    }
    check_reader(label, path, || read_eqx_records(path), is_bool_error);
}

#[test]
fn eqx_mutations_are_errors_or_correct() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x6571_7802);
    for (k, (name, json)) in [
        (
            "tests/fixtures/io/eqx/tiny.eqx",
            "tests/fixtures/io/eqx/tiny.json",
        ),
        (
            "tests/fixtures/models/mlp_a/model.eqx",
            "tests/fixtures/models/mlp_a/config.json",
        ),
    ]
    .iter()
    .enumerate()
    {
        let good = std::fs::read(fixture(name)).unwrap();
        let json = std::fs::read_to_string(fixture(json)).unwrap();
        let skeleton = skeleton_from_json(&json).unwrap();
        let records = eqx_records(&good);
        let lie = |rng: &mut Rng| {
            let j = rng.below(records.len());
            let (descr, shape, data) = npy_parts(&good[records[j].clone()]);
            let (lie, what) = npy_lie(rng, &descr, &shape, &data);
            let mut b = good[..records[j].start].to_vec();
            b.extend_from_slice(&lie);
            b.extend_from_slice(&good[records[j].end..]);
            (b, format!("record {j}: {what}"))
        };
        let check = |label: &str, path: &Path| check_eqx(label, path, &skeleton);
        fuzz_file(
            dir.path(),
            name,
            &format!("m{k}"),
            "eqx",
            &mut rng,
            80,
            &good,
            lie,
            check,
        );
    }
}

// ---- .npz ----

/// A zip archive of raw members, stored or deflated.
fn zip_bytes(members: &[(&str, Vec<u8>)], deflate: bool) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let method = if deflate {
        zip::CompressionMethod::Deflated
    } else {
        zip::CompressionMethod::Stored
    };
    for (name, bytes) in members {
        z.start_file(
            *name,
            zip::write::SimpleFileOptions::default().compression_method(method),
        )
        .unwrap();
        z.write_all(bytes).unwrap();
    }
    z.finish().unwrap().into_inner()
}

fn npy_bytes(a: &HostArray) -> Vec<u8> {
    let mut b = Vec::new();
    sbgm_xla::io::write_npy_record(&mut b, a).unwrap();
    b
}

fn check_npz(label: &str, path: &Path) {
    check_data(label, path);
    let read = || read_npz(path).map(|v| v.into_iter().map(|(_, a)| a).collect());
    // Inspection reads headers only: a flipped data byte shows as a bad checksum or stream.
    check_reader(label, path, read, |e| {
        ["bool", "checksum", "deflate", "uncompressed size"]
            .iter()
            .any(|w| e.contains(w))
    });
}

/// Loading the file as a data set: an error naming the file, or a data set.
fn check_data(label: &str, path: &Path) {
    let data = bounded(label, SMALL, || load_arrays(path, &ArrayKeys::default()));
    if let Err(e) = &data {
        check_error(label, &e.to_string(), path);
    }
}

#[test]
fn npz_mutations_are_errors_or_correct() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x6e70_7a03);
    let x = f32_array(&[6, 2]);
    let labels = HostArray::from_vec(vec![6], vec![0i64, 1, 2, 0, 1, 2]).unwrap();
    for deflate in [false, true] {
        let good = dir.path().join("good.npz");
        write_npz(
            &good,
            &[("x", x.clone()), ("labels", labels.clone())],
            deflate,
        )
        .unwrap();
        let good = std::fs::read(&good).unwrap();
        let (descr, shape, data) = npy_parts(&npy_bytes(&x));
        let lie = |rng: &mut Rng| {
            let (lie, what) = npy_lie(rng, &descr, &shape, &data);
            let members = [("x.npy", lie), ("labels.npy", npy_bytes(&labels))];
            (zip_bytes(&members, deflate), format!("member x: {what}"))
        };
        let source = format!("npz (deflate {deflate})");
        let stem = format!("m{deflate}");
        fuzz_file(
            dir.path(),
            &source,
            &stem,
            "npz",
            &mut rng,
            80,
            &good,
            lie,
            check_npz,
        );
    }
}

// ---- .safetensors ----

fn safetensors_good() -> Vec<u8> {
    let mut ck = Checkpoint::new();
    ck.insert("x", f32_array(&[4, 3])).unwrap();
    ck.insert(
        "labels",
        HostArray::from_vec(vec![4], vec![1i32, 0, 3, 2]).unwrap(),
    )
    .unwrap();
    ck.insert(
        "flag",
        HostArray::from_bytes(DType::Pred, vec![2], vec![0, 1]).unwrap(),
    )
    .unwrap();
    ck.set_meta("step", "7");
    sbgm_xla::io::checkpoint_to_bytes(&ck).unwrap()
}

/// A safetensors file whose header JSON (or header length) lies.
fn safetensors_lie(rng: &mut Rng, good: &[u8]) -> (Vec<u8>, String) {
    let n = u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&good[8..8 + n]).unwrap();
    let data = &good[8 + n..];
    let lie = *rng.pick(&[
        "shape", "offsets", "dtype", "length", "shape", "offsets", "metadata",
    ]);
    let name = *rng.pick(&["x", "labels", "flag"]);
    let what = match lie {
        "shape" => {
            let v = rng
                .pick(&[
                    json!([u64::MAX, 2]),
                    json!([1u64 << 62, 4]),
                    json!([-1, 3]),
                    json!([4, 3, 0]),
                    json!([12]),
                    json!([0, u64::MAX, u64::MAX]),
                    json!([1e30]),
                    json!("x"),
                ])
                .clone();
            header[name]["shape"] = v.clone();
            format!("tensor {name} shape {v}")
        }
        "offsets" => {
            let v = rng
                .pick(&[
                    json!([0u64, u64::MAX]),
                    json!([u64::MAX, 4]),
                    json!([u64::MAX - 3, u64::MAX]),
                    json!([-4, 8]),
                    json!([48, 16]),
                    json!([0, 1u64 << 40]),
                    json!([0]),
                ])
                .clone();
            header[name]["data_offsets"] = v.clone();
            format!("tensor {name} offsets {v}")
        }
        "dtype" => {
            let v = *rng.pick(&[
                "F64", "F16", "I8", "U16", "BOOL", "F8_E4M3", "C64", "XYZ", "",
            ]);
            header[name]["dtype"] = json!(v);
            format!("tensor {name} dtype {v}")
        }
        "metadata" => {
            header["__metadata__"] = rng.pick(&[json!(3), json!({"k": 4}), json!([1])]).clone();
            "metadata".into()
        }
        _ => {
            let v = *rng.pick(&[u64::MAX, u64::MAX - 7, 1 << 63, 0, 1, good.len() as u64]);
            let mut b = good.to_vec();
            b[..8].copy_from_slice(&v.to_le_bytes());
            return (b, format!("header length {v}"));
        }
    };
    let text = serde_json::to_vec(&header).unwrap();
    let mut b = (text.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(&text);
    b.extend_from_slice(data);
    (b, what)
}

fn check_safetensors(label: &str, path: &Path) {
    check_data(label, path);
    let read = || load_checkpoint(path).map(|ck| ck.tensors.into_iter().map(|(_, a)| a).collect());
    check_reader(label, path, read, is_bool_error);
}

#[test]
fn safetensors_mutations_are_errors_or_correct() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x7374_0004);
    let good = safetensors_good();
    let lie = |rng: &mut Rng| safetensors_lie(rng, &good);
    let check = check_safetensors;
    fuzz_file(
        dir.path(),
        "safetensors",
        "m",
        "safetensors",
        &mut rng,
        200,
        &good,
        lie,
        check,
    );
}

// ---- IDX ----

fn idx_u8(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8, 0, 0x08, dims.len() as u8];
    for d in dims {
        b.extend_from_slice(&d.to_be_bytes());
    }
    b.extend_from_slice(data);
    b
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[test]
fn idx_mutations_are_errors_or_correct() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x6964_7805);
    let pixels: Vec<u8> = (0..3 * 4 * 5).map(|i| i as u8).collect();
    for gz in [false, true] {
        for i in 0..100 {
            let (plain, what) = if i % 2 == 0 {
                (idx_u8(&[3, 4, 5], &pixels), String::new())
            } else {
                let dims = rng
                    .pick(&[
                        vec![u32::MAX, u32::MAX, u32::MAX],
                        vec![1 << 31, 28, 28],
                        vec![3, 4, 6],
                        vec![2, 4, 5],
                        vec![0, 4, 5],
                        vec![60],
                    ])
                    .clone();
                (idx_u8(&dims, &pixels), format!("dims {dims:?}"))
            };
            let good = if gz { gzip(&plain) } else { plain };
            let (bytes, what) = if i % 4 < 2 {
                let (b, w) = mutate_bytes(&mut rng, &good);
                (b, format!("{what} {w}"))
            } else {
                (good, what)
            };
            let path = dir.path().join(format!("m{gz}_{i}-images-idx3-ubyte"));
            std::fs::write(&path, &bytes).unwrap();
            let label = format!("idx (gzip {gz}) seed 0x69647805 case {i}: {what}");
            match bounded(&label, SMALL, || read_idx(&path)) {
                Ok(a) => assert_eq!(
                    a.bytes().len(),
                    a.shape().iter().product::<usize>(),
                    "{label}"
                ),
                Err(e) => check_error(&label, &e.to_string(), &path),
            }
        }
    }
}

// ---- TOML configs ----

/// Values that lie about sizes and counts.
const VALUE_LIES: &[&str] = &[
    "-1",
    "0",
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551616",
    "1e308",
    "-1e308",
    "nan",
    "inf",
    "-inf",
    "4294967296",
    "\"x\"",
    "[]",
    "{}",
    "true",
    "1.5",
];

/// `text` with one numeric or string value replaced by a lie.
fn toml_lie(rng: &mut Rng, text: &str) -> (String, String) {
    let lines: Vec<&str> = text.lines().collect();
    let assignments: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].contains(" = "))
        .collect();
    let i = *rng.pick(&assignments);
    let key = lines[i].split(" = ").next().unwrap_or_default();
    let v = rng.pick(VALUE_LIES);
    let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    out[i] = format!("{key} = {v}");
    (out.join("\n"), format!("{key} = {v}"))
}

#[test]
fn config_mutations_are_errors_or_correct() {
    let mut rng = Rng(0x746f_6d06);
    let configs: Vec<PathBuf> = std::fs::read_dir(fixture("configs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    assert!(!configs.is_empty());
    for path in &configs {
        let good = std::fs::read_to_string(path).unwrap();
        assert!(
            Config::from_toml_str(&good, &[] as &[String]).is_ok(),
            "{}",
            path.display()
        );
        for i in 0..150 {
            let (text, what) = match i % 3 {
                0 => {
                    let (b, w) = mutate_bytes(&mut rng, good.as_bytes());
                    (String::from_utf8_lossy(&b).into_owned(), w)
                }
                _ => toml_lie(&mut rng, &good),
            };
            let label = format!("{} seed 0x746f6d06 case {i}: {what}", path.display());
            let train = bounded(&label, SMALL, || {
                Config::from_toml_str(&text, &[] as &[String])
            });
            let model = bounded(&label, SMALL, || parse_config(&text));
            for e in [
                train.err().map(|e| e.to_string()),
                model.err().map(|e| e.to_string()),
            ]
            .into_iter()
            .flatten()
            {
                assert!(!e.trim().is_empty(), "{label}: an empty error");
            }
        }
    }
}

// ---- process level: `sbgm-xla inspect` under an address-space limit ----

/// Address space the `inspect` child may map.
const CHILD_AS: libc::rlim_t = 2 << 30;

/// Runs `sbgm-xla inspect FILE` with at most 2 GiB of address space and `timeout`; returns
/// (exit code, stderr), failing the test if it is killed, times out or panics.
fn inspect_cli(label: &str, file: &Path, timeout: Duration) -> (i32, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sbgm-xla"));
    cmd.arg("inspect")
        .arg(file)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: CHILD_AS,
                rlim_max: CHILD_AS,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("run sbgm-xla");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{label}: `sbgm-xla inspect` ran past {timeout:?} and was killed");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    let code = status
        .code()
        .unwrap_or_else(|| panic!("{label}: `sbgm-xla inspect` was killed ({status}): {err}"));
    assert!(code == 0 || code == 1, "{label}: exit code {code}: {err}");
    assert!(!err.contains("panicked"), "{label}: panicked: {err}");
    if code == 1 {
        assert!(err.starts_with("error: "), "{label}: {err}");
    }
    (code, err)
}

#[test]
fn inspect_cli_on_mutated_files_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x636c_6907);
    let eqx = std::fs::read(fixture("tests/fixtures/io/eqx/tiny.eqx")).unwrap();
    let npy = std::fs::read(fixture("tests/fixtures/io/npy/f4_3d.npy")).unwrap();
    let (descr, shape, data) = npy_parts(&npy);
    let st = safetensors_good();
    let npz = dir.path().join("good.npz");
    write_npz(&npz, &[("x", f32_array(&[6, 2]))], true).unwrap();
    let npz = std::fs::read(&npz).unwrap();
    for i in 0..32 {
        let (bytes, ext, what) = match i % 4 {
            0 => {
                let (b, w) = mutate_bytes(&mut rng, &eqx);
                (b, "eqx", w)
            }
            1 => {
                let (b, w) = npy_lie(&mut rng, &descr, &shape, &data);
                (b, "npy", w)
            }
            2 => {
                let (b, w) = safetensors_lie(&mut rng, &st);
                (b, "safetensors", w)
            }
            _ => {
                let (b, w) = mutate_bytes(&mut rng, &npz);
                (b, "npz", w)
            }
        };
        let path = dir.path().join(format!("m{i}.{ext}"));
        std::fs::write(&path, &bytes).unwrap();
        let label = format!("inspect seed 0x636c6907 case {i} ({ext}): {what}");
        let lib = inspect(&path, None);
        let (code, err) = inspect_cli(&label, &path, Duration::from_secs(20));
        assert_eq!(code == 0, lib.is_ok(), "{label}: {err}");
        if code == 1 {
            assert!(err.contains(&format!("m{i}.{ext}")), "{label}: {err}");
        }
    }
}

// ---- regressions (issue 12) ----

/// A 192-byte `.eqx` whose one record claims 2^64 - 128 bytes (its header is 128 bytes, so the
/// end offset wraps to 0): `inspect` once went back to the start and looped forever, listing
/// the record again and again with ever-growing memory.
#[test]
fn inspect_refuses_an_eqx_record_claiming_2_64_bytes_fast() {
    let dir = tempfile::tempdir().unwrap();
    let dict = "{'descr': '|u1', 'fortran_order': False, 'shape': (18446744073709551488,), }";
    let mut bytes = npy_with_dict(dict, &[], false);
    assert_eq!(bytes.len(), 128);
    bytes.resize(192, 0);
    let path = dir.path().join("liar.eqx");
    std::fs::write(&path, &bytes).unwrap();
    let start = Instant::now();
    let (code, err) = inspect_cli("192-byte eqx", &path, Duration::from_secs(10));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("liar.eqx") && err.contains("18446744073709551488"),
        "{err}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    let e = bounded("192-byte eqx", SMALL, || inspect(&path, None)).unwrap_err();
    assert!(e.to_string().contains("truncated"), "{e}");
}

/// `inspect` once listed a truncated `.npy`, or one whose header claims less data than the file
/// holds, as fine.
#[test]
fn inspect_reports_truncated_and_lying_npy_as_broken() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.npy");
    write_npy(&good, &f32_array(&[4, 5])).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let short = dir.path().join("short.npy");
    std::fs::write(&short, &bytes[..bytes.len() - 7]).unwrap();
    let (_, _, data) = npy_parts(&bytes);
    let dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 5), }";
    let lying = dir.path().join("lying.npy");
    std::fs::write(&lying, npy_with_dict(dict, &data, false)).unwrap();
    assert!(inspect(&good, None).is_ok());
    for (path, needle) in [(&short, "truncated"), (&lying, "unexpected bytes")] {
        let e = inspect(path, None).unwrap_err().to_string();
        assert!(e.contains("broken .npy file") && e.contains(needle), "{e}");
        let (code, err) = inspect_cli("broken npy", path, Duration::from_secs(20));
        assert_eq!(code, 1, "{err}");
        assert!(err.contains(needle), "{err}");
    }
}

/// Loading `x` from an `.npz` must not decompress an unused member declaring 2 GiB (once every
/// member was read, taking the 2 GiB).
#[test]
fn npz_unused_huge_member_is_never_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bomb.npz");
    let mut z = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let fast = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(1));
    z.start_file("x.npy", fast).unwrap();
    z.write_all(&npy_bytes(&f32_array(&[8, 2]))).unwrap();
    z.start_file("unused.npy", fast).unwrap();
    let dict = "{'descr': '|u1', 'fortran_order': False, 'shape': (2147483648,), }";
    z.write_all(&npy_with_dict(dict, &[], false)).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..2048 {
        z.write_all(&zeros).unwrap();
    }
    z.finish().unwrap();
    assert!(std::fs::metadata(&path).unwrap().len() < 64 << 20);
    let ds = bounded("npz with an unused 2 GiB member", SMALL, || {
        load_arrays(&path, &ArrayKeys::default())
    })
    .unwrap();
    assert_eq!(ds.data_shape(), &[2]);
    assert_eq!(ds.len(), 8);
    // Inspecting lists both members from their headers alone.
    let listed = bounded("inspect npz bomb", SMALL, || inspected(&path)).unwrap();
    assert_eq!(listed[1], (DType::U8, vec![1 << 31]));
}

/// A gzipped IDX file whose stream runs far past the size its header declares, and one whose
/// header declares 2^31 images: both refused without inflating the stream.
#[test]
fn gzip_idx_streams_are_bounded_by_the_header() {
    let dir = tempfile::tempdir().unwrap();
    let tail = vec![0u8; 48 << 20];
    let mut long = idx_u8(&[2, 28, 28], &[7u8; 2 * 28 * 28]);
    long.extend_from_slice(&tail);
    let long_path = dir.path().join("long-images-idx3-ubyte.gz");
    std::fs::write(&long_path, gzip(&long)).unwrap();
    let e = bounded("idx stream past its header", SMALL, || read_idx(&long_path))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("long-images") && e.contains("continues past the 1568 bytes"),
        "{e}"
    );

    let mut absurd = idx_u8(&[1 << 31, 28, 28], &[]);
    absurd.extend_from_slice(&tail);
    let absurd_path = dir.path().join("absurd-images-idx3-ubyte.gz");
    std::fs::write(&absurd_path, gzip(&absurd)).unwrap();
    let e = bounded("idx declaring 2^31 images", SMALL, || {
        read_idx(&absurd_path)
    })
    .unwrap_err()
    .to_string();
    let declared = (1u64 << 31) * 28 * 28 + 16;
    assert!(
        e.contains("absurd-images") && e.contains(&format!("declares {declared} bytes, more than")),
        "{e}"
    );
}
