//! Host kernels that XLA programs call back into (custom calls), for work XLA's CPU backend
//! does slowly: the bf16 matrix product on CPUs with AMX tiles, which XLA:CPU does not use.
//!
//! A kernel is a plain Rust function ([`gemm_bf16::matmul_bf16`]) plus an XLA FFI handler that
//! reads its operands from the call frame ([`crate::pjrt::ffi`]). [`install`] registers the
//! handlers with a client's plugin when they pay off there (CPU platform, AMX available), and
//! graphs opt in through their [`GraphOptions::host_bf16_matmul`](crate::graph::GraphOptions),
//! which a compile target ([`crate::exec::Target::graph_options`]) sets where they pay off.
//! The lowering sends plain and dense-layer products to the kernel (thin ones, below a
//! 16-wide tile, stay with XLA); large products are shared with XLA's intra-op thread pool
//! ([`amx`]'s parallel product: operands packed once, then strips of rows). Measured here (2
//! cores, `examples/bench_gemm`): about 850 GFLOP/s for a 256×256×256 product on one core with
//! its operands in cache (63-71 µs instead of 39-43 with them in L3: `--cold`), against XLA's
//! ~140 GFLOP/s f32.
//!
//! ```no_run
//! use sbgm_xla::exec::Target;
//! use sbgm_xla::graph::MatmulPrecision;
//!
//! let target = Target::cpu()?.with_precision(MatmulPrecision::Bf16);
//! // bf16 products in the host kernel where it pays off (kernels::install), else in XLA's
//! let g = target.graph();
//! # Ok::<(), sbgm_xla::Error>(())
//! ```

pub mod amx;
pub mod gemm_bf16;

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

use crate::Result;
use crate::graph::MatmulPrecision;
use crate::pjrt::Client;
use crate::pjrt::ffi::{self, CallFrame, XLA_FFI_CallFrame, XLA_FFI_Error};
use gemm_bf16::{MatRef, matmul_bf16};

/// The custom-call target of the bf16 matrix product: `f32[m, k] x f32[k, n] -> f32[m, n]`
/// with either operand stored transposed (attributes `lhs_contract`, `rhs_contract`: the
/// contracting dimension of each operand, 0 or 1). Operands are rounded to bf16 inside.
/// Two optional forms let a dense layer on `[h, t]` skip the concatenation: a third operand
/// `rhs_tail` (stored like the rhs) whose columns follow the rhs's (`[rhs | rhs_tail]`), and
/// the attribute `rhs_k`, which uses only the rhs's first `rhs_k` contraction rows.
pub const BF16_MATMUL: &str = "sbgm_xla_bf16_matmul";

/// The targets registered so far, per plugin (registration is process-wide in a plugin).
static REGISTERED: OnceLock<Mutex<HashSet<(std::path::PathBuf, &'static str)>>> = OnceLock::new();

/// Registers the host kernels with `client`'s plugin (once per plugin and process), whether or
/// not they are fast there (tests use this to check the calls on any CPU). Only the CPU
/// platform runs host kernels.
pub fn register(client: &Client) -> Result<()> {
    if client.platform_name() != "cpu" {
        return Err(crate::Error::msg(format!(
            "host kernels run on the CPU platform only, not on {}",
            client.platform_name()
        )));
    }
    let api = client.plugin();
    let key = (api.path().to_path_buf(), BF16_MATMUL);
    let mut done = REGISTERED
        .get_or_init(|| Mutex::new(HashSet::new()))
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if done.contains(&key) {
        return Ok(());
    }
    api.register_ffi_handler(BF16_MATMUL, "cpu", bf16_matmul_handler)?;
    done.insert(key);
    Ok(())
}

/// Registers the host kernels with `client` when they beat XLA's own there (a CPU client on
/// a machine with AMX bf16 tiles, `SBGM_XLA_NO_AMX` unset) and returns the bf16 product's
/// target for [`GraphOptions::host_bf16_matmul`](crate::graph::GraphOptions);
/// `None` otherwise (also when the plugin cannot register handlers).
pub fn install(client: &Client) -> Option<&'static str> {
    if client.platform_name() != "cpu" || !amx::available() {
        return None;
    }
    register(client).ok().map(|()| BF16_MATMUL)
}

/// The host product for graphs multiplying at `precision` on `client`: [`install`]'s target
/// for bf16 products, `None` for f32 (which the kernels do not change).
pub fn for_precision(client: &Client, precision: MatmulPrecision) -> Option<&'static str> {
    match precision {
        MatmulPrecision::Bf16 => install(client),
        MatmulPrecision::F32 => None,
    }
}

/// The XLA FFI handler of [`BF16_MATMUL`].
unsafe extern "C" fn bf16_matmul_handler(frame: *mut XLA_FFI_CallFrame) -> *mut XLA_FFI_Error {
    // SAFETY: XLA calls handlers with a valid call frame.
    unsafe { ffi::dispatch(frame, BF16_MATMUL, bf16_matmul_call) }
}

fn bf16_matmul_call(call: &CallFrame) -> std::result::Result<(), String> {
    let args = call.args()?;
    let rets = call.rets()?;
    if !(2..=3).contains(&args.len()) || rets.len() != 1 {
        return Err(format!(
            "takes 2 or 3 operands and returns 1 result, got {} and {}",
            args.len(),
            rets.len()
        ));
    }
    let lc = call.attr_i64("lhs_contract")?;
    let rc = call.attr_i64("rhs_contract")?;
    let rhs_k = call.attr_i64_opt("rhs_k")?;
    let (a, c) = (&args[0], &rets[0]);
    if args.iter().any(|x| x.dims.len() != 2) || c.dims.len() != 2 {
        return Err("operands and result must be matrices".into());
    }
    if !(0..2).contains(&lc) || !(0..2).contains(&rc) {
        return Err(format!(
            "contracting dimensions must be 0 or 1, got {lc} and {rc}"
        ));
    }
    let d = |x: i64| x as usize;
    // lhs as [m, k], rhs as [k, n]: an operand stored the other way round is read transposed.
    let view = |data, dims: &[i64], transpose: bool| {
        let m = MatRef::row_major(data, d(dims[0]), d(dims[1])).map_err(|e| e.to_string())?;
        Ok::<_, String>(if transpose { m.t() } else { m })
    };
    let av = view(a.f32s("lhs")?, a.dims, lc == 0)?;
    // The rhs: one matrix, or two side by side ([rhs | rhs_tail] along n); `rhs_k` uses only
    // its first k rows (a dense layer's weight without its last columns).
    let joined: Vec<f32>;
    let mut parts = Vec::with_capacity(2);
    for (i, b) in args[1..].iter().enumerate() {
        let mut bv = view(
            b.f32s(if i == 0 { "rhs" } else { "rhs_tail" })?,
            b.dims,
            rc == 1,
        )?;
        if let Some(kk) = rhs_k {
            if kk < 1 || d(kk) > bv.rows {
                return Err(format!(
                    "rhs_k = {kk} is outside the rhs's 1..={} contraction rows",
                    bv.rows
                ));
            }
            bv.rows = d(kk);
        }
        parts.push(bv);
    }
    if parts.iter().any(|p| p.rows != parts[0].rows) {
        return Err("the rhs parts must share their contraction length".into());
    }
    let out = c.f32s_mut("result")?;
    let n: usize = parts.iter().map(|p| p.cols).sum();
    if c.dims != [av.rows as i64, n as i64] {
        return Err(format!(
            "result is {:?}, the product is [{}, {n}]",
            c.dims, av.rows
        ));
    }
    let (m, k) = (av.rows, av.cols);
    let chunks = row_chunks(m, n, k);
    // The parallel AMX product packs B's parts side by side when they split on its 16-column
    // tile grid; every other path takes the parts copied into one matrix.
    let shared = chunks > 1 && amx::available();
    let aligned = parts[..parts.len() - 1].iter().all(|p| p.cols % 16 == 0);
    if parts.len() > 1 && !(shared && aligned) {
        for p in &parts {
            p.check("rhs").map_err(|e| e.to_string())?;
        }
        joined = (0..parts[0].rows)
            .flat_map(|r| {
                parts
                    .iter()
                    .flat_map(move |p| (0..p.cols).map(move |j| p.at(r, j)))
            })
            .collect();
        parts = vec![MatRef::row_major(&joined, parts[0].rows, n).map_err(|e| e.to_string())?];
    }
    for p in &parts {
        gemm_bf16::check_operands(&av, p).map_err(|e| e.to_string())?;
    }
    if shared {
        // B packed once and shared; A's row strips handed out to whichever thread is free.
        return amx::matmul_parallel(av, &parts, out, &|n, work| {
            call.parallel_for(n, helper_threads(), work)
        });
    }
    let bv = parts[0];
    if chunks <= 1 {
        return matmul_bf16(av, bv, out).map_err(|e| e.to_string());
    }
    // The portable kernel: row blocks of the result, each computed from the same rows of the
    // lhs.
    let rows = m.div_ceil(chunks);
    let blocks: Vec<Mutex<&mut [f32]>> = out.chunks_mut(rows * n).map(Mutex::new).collect();
    let failure = Mutex::new(None);
    call.parallel_for(blocks.len(), helper_threads(), &|i| {
        let r0 = i * rows;
        let a_rows = MatRef {
            data: &av.data[(r0 * av.row_stride).min(av.data.len())..],
            rows: rows.min(m - r0),
            ..av
        };
        let mut block = blocks[i].lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = matmul_bf16(a_rows, bv, &mut block) {
            *failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
        }
    })?;
    match failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Whether a product is shared with the thread pool (more than one block) and, for the portable
/// kernel, into how many row blocks: none below ~4 M multiply-adds (the hand-off costs more
/// than it saves), else one block per thread, of at least 64 rows (each portable block rounds
/// the rhs again, so more blocks measured slower). The AMX path hands out its own pieces.
fn row_chunks(m: usize, n: usize, k: usize) -> usize {
    if helper_threads() == 0 || m * n * k < 1 << 22 {
        return 1;
    }
    (m / 64).clamp(1, helper_threads() + 1)
}

/// Threads of XLA's pool a kernel may use besides its own: the machine's cores minus one.
fn helper_threads() -> usize {
    static N: OnceLock<usize> = OnceLock::new();
    *N.get_or_init(|| {
        std::thread::available_parallelism()
            .map(|n| n.get() - 1)
            .unwrap_or(0)
    })
}
