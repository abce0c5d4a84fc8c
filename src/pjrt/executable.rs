//! [`Executable`]: compiling StableHLO, the parameters and outputs of a compiled program, and
//! executing it on one or several devices (arguments checked on our side first), with buffer
//! donation, serialization and deserialization.

use super::api::{Api, pjrt_call, plugin_str};
use super::buffer::{Buffer, dtype_of};
use super::client::Client;
use super::live;
use super::program::{CompileOptions, Program};
use super::proto::{self, ArraySpec};
use super::sys::{self, Args};
use crate::error::{Error, Result};
use crate::host::HostArray;
use std::ffi::c_char;
use std::fmt;

/// Device memory a compiled program needs on each of its devices (from the compiler's buffer
/// assignment).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryStats {
    /// Bytes of the arguments.
    pub argument_bytes: u64,
    /// Bytes of the outputs.
    pub output_bytes: u64,
    /// Bytes of outputs that reuse (alias) donated arguments.
    pub alias_bytes: u64,
    /// Bytes of temporaries (intermediate values) the program allocates while it runs.
    pub temp_bytes: u64,
    /// Bytes of generated code.
    pub generated_code_bytes: u64,
}

impl MemoryStats {
    /// The bytes live at the peak of a call: arguments, new outputs, temporaries and code.
    pub fn total_bytes(&self) -> u64 {
        self.argument_bytes
            .saturating_add(self.output_bytes.saturating_sub(self.alias_bytes))
            .saturating_add(self.temp_bytes)
            .saturating_add(self.generated_code_bytes)
    }
}

/// A compiled program, loaded on its devices. Destroyed when dropped; keeps its client alive.
pub struct Executable {
    client: Client,
    loaded: *mut sys::PJRT_LoadedExecutable,
    exe: *mut sys::PJRT_Executable,
    name: String,
    num_replicas: usize,
    num_partitions: usize,
    devices: Vec<usize>,
    params: Option<Vec<ArraySpec>>,
    outputs: Vec<ArraySpec>,
}

// SAFETY: PJRT executables may be used from any thread (C API contract); `Executable` is
// immutable after construction.
unsafe impl Send for Executable {}
// SAFETY: as above.
unsafe impl Sync for Executable {}

impl Drop for Executable {
    fn drop(&mut self) {
        live::destroyed(&live::EXECUTABLES);
        let api = self.client.plugin();
        if !self.exe.is_null() {
            let mut a = sys::PJRT_Executable_Destroy_Args::new();
            a.executable = self.exe;
            // SAFETY: obtained from GetExecutable, destroyed exactly once, here.
            if let Err(e) = unsafe { pjrt_call!(api, PJRT_Executable_Destroy, &mut a) } {
                eprintln!("sbgm-xla: warning: destroying a PJRT executable failed: {e}");
            }
        }
        let mut a = sys::PJRT_LoadedExecutable_Destroy_Args::new();
        a.executable = self.loaded;
        // SAFETY: the loaded executable is live and destroyed exactly once, here.
        if let Err(e) = unsafe { pjrt_call!(api, PJRT_LoadedExecutable_Destroy, &mut a) } {
            eprintln!("sbgm-xla: warning: destroying a PJRT loaded executable failed: {e}");
        }
    }
}

impl fmt::Debug for Executable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Executable")
            .field("name", &self.name)
            .field("replicas", &self.num_replicas)
            .field("partitions", &self.num_partitions)
            .field("devices", &self.devices)
            .field("params", &self.params)
            .field("outputs", &self.outputs)
            .finish()
    }
}

/// Which StableHLO versions the plugin takes, for compile errors; with a hint about too-new
/// programs when the plugin's message is about parsing or versions.
fn versions_note(api: &Api, program: Option<&Program>, message: &str) -> String {
    let (min, cur) = api.stablehlo_versions();
    let range = match (min, cur.clone()) {
        (Some(min), Some(cur)) => format!("accepts StableHLO {min} to {cur}"),
        (None, Some(cur)) => format!("accepts StableHLO up to {cur}"),
        _ => "does not say which StableHLO versions it accepts".to_string(),
    };
    let mut note = format!("the plugin {} {range}", api.describe());
    let artifact = program.and_then(Program::stablehlo_version);
    if let Some(v) = &artifact {
        note.push_str(&format!("; this artifact was written with StableHLO {v}"));
    }
    let newer = match (&artifact, &cur) {
        (Some(a), Some(c)) => version_key(a) > version_key(c),
        _ => false,
    };
    let lower = message.to_ascii_lowercase();
    if newer || lower.contains("parse") || lower.contains("version") || lower.contains("incompatib")
    {
        note.push_str(
            "; a program that is too new for the plugin needs a newer plugin (`sbgm-xla plugin install cpu` installs the default) or an artifact serialized for an older StableHLO target",
        );
    }
    note
}

/// `"1.13.3"` as numbers, for comparisons.
fn version_key(v: &str) -> Vec<u64> {
    v.split('.').map(|p| p.parse().unwrap_or(0)).collect()
}

impl Client {
    /// Compiles a StableHLO program. Options that need more devices than the client has are
    /// refused before the plugin sees them.
    pub fn compile(&self, program: &Program, options: &CompileOptions) -> Result<Executable> {
        let build = options.resolve(program, self)?;
        let encoded = proto::compile_options(&build);
        debug_assert!(
            !encoded.is_empty(),
            "empty compile options abort the CPU plugin"
        );
        let format = b"mlir";
        let code = program.code();
        let mut prog = sys::PJRT_Program::new();
        prog.code = code.as_ptr() as *mut c_char;
        prog.code_size = code.len();
        prog.format = format.as_ptr().cast();
        prog.format_size = format.len();
        let mut a = sys::PJRT_Client_Compile_Args::new();
        a.client = self.inner.raw;
        a.program = &prog;
        a.compile_options = encoded.as_ptr().cast();
        a.compile_options_size = encoded.len();
        let api = self.plugin();
        // SAFETY: the program bytes, format and options outlive the call; the plugin only reads
        // `code` (the C type is not const).
        match unsafe { pjrt_call!(api, PJRT_Client_Compile, &mut a) } {
            Ok(()) => {}
            Err(Error::Pjrt { message, .. }) => {
                return Err(Error::Compile {
                    versions: versions_note(api, Some(program), &message),
                    message: message.trim_end().to_string(),
                });
            }
            Err(e) => return Err(e),
        }
        Executable::new(self, a.executable)
    }

    /// Loads an executable written by [`Executable::serialize`] (same plugin and version).
    pub fn deserialize(&self, bytes: &[u8]) -> Result<Executable> {
        let mut a = sys::PJRT_Executable_DeserializeAndLoad_Args::new();
        a.client = self.inner.raw;
        a.serialized_executable = bytes.as_ptr().cast();
        a.serialized_executable_size = bytes.len();
        // SAFETY: `bytes` outlives the call; null compile options keep the serialized ones.
        unsafe { pjrt_call!(self.plugin(), PJRT_Executable_DeserializeAndLoad, &mut a)? };
        Executable::new(self, a.loaded_executable)
    }
}

impl Executable {
    /// Takes ownership of a loaded executable and reads what we need to know about it.
    fn new(client: &Client, loaded: *mut sys::PJRT_LoadedExecutable) -> Result<Executable> {
        let api = client.plugin();
        live::created(&live::EXECUTABLES);
        // Owned from here on: any error below destroys it.
        let mut e = Executable {
            client: client.clone(),
            loaded,
            exe: std::ptr::null_mut(),
            name: String::new(),
            num_replicas: 1,
            num_partitions: 1,
            devices: Vec::new(),
            params: None,
            outputs: Vec::new(),
        };
        let mut g = sys::PJRT_LoadedExecutable_GetExecutable_Args::new();
        g.loaded_executable = loaded;
        // SAFETY: live loaded executable; the returned executable is owned by `e`.
        unsafe { pjrt_call!(api, PJRT_LoadedExecutable_GetExecutable, &mut g)? };
        e.exe = g.executable;
        let exe = e.exe;
        // SAFETY (this block): `exe` and `loaded` are live; output strings and arrays live as
        // long as the executable and are copied before it can go away.
        unsafe {
            let mut n = sys::PJRT_Executable_Name_Args::new();
            n.executable = exe;
            pjrt_call!(api, PJRT_Executable_Name, &mut n)?;
            e.name = plugin_str(n.executable_name, n.executable_name_size);
            let mut r = sys::PJRT_Executable_NumReplicas_Args::new();
            r.executable = exe;
            pjrt_call!(api, PJRT_Executable_NumReplicas, &mut r)?;
            e.num_replicas = r.num_replicas;
            let mut p = sys::PJRT_Executable_NumPartitions_Args::new();
            p.executable = exe;
            pjrt_call!(api, PJRT_Executable_NumPartitions, &mut p)?;
            e.num_partitions = p.num_partitions;

            let mut d = sys::PJRT_LoadedExecutable_AddressableDevices_Args::new();
            d.executable = loaded;
            pjrt_call!(api, PJRT_LoadedExecutable_AddressableDevices, &mut d)?;
            let raw_devices = if d.addressable_devices.is_null() {
                &[][..]
            } else {
                std::slice::from_raw_parts(d.addressable_devices, d.num_addressable_devices)
            };
            e.devices = raw_devices
                .iter()
                .map(|&dev| {
                    client.device_index(dev).ok_or_else(|| {
                        Error::msg("the executable runs on a device this client cannot address")
                    })
                })
                .collect::<Result<_>>()?;

            let mut no = sys::PJRT_Executable_NumOutputs_Args::new();
            no.executable = exe;
            pjrt_call!(api, PJRT_Executable_NumOutputs, &mut no)?;
            let mut ot = sys::PJRT_Executable_OutputElementTypes_Args::new();
            ot.executable = exe;
            pjrt_call!(api, PJRT_Executable_OutputElementTypes, &mut ot)?;
            let mut od = sys::PJRT_Executable_OutputDimensions_Args::new();
            od.executable = exe;
            pjrt_call!(api, PJRT_Executable_OutputDimensions, &mut od)?;
            if ot.num_output_types != no.num_outputs || od.num_outputs != no.num_outputs {
                return Err(Error::msg(format!(
                    "the plugin reports {} outputs but {} output types and {} output shapes",
                    no.num_outputs, ot.num_output_types, od.num_outputs
                )));
            }
            let types = std::slice::from_raw_parts(ot.output_types, ot.num_output_types);
            let ranks = std::slice::from_raw_parts(od.dim_sizes, od.num_outputs);
            let all_dims = std::slice::from_raw_parts(od.dims, ranks.iter().sum());
            let mut at = 0;
            for (i, (&t, &rank)) in types.iter().zip(ranks).enumerate() {
                let dtype = dtype_of(t).map_err(|name| {
                    Error::BadArgument(format!(
                        "output {i} of the program has element type {name}, which sbgm-xla does not support"
                    ))
                })?;
                let dims = all_dims[at..at + rank]
                    .iter()
                    .map(|&x| x as usize)
                    .collect();
                at += rank;
                e.outputs.push(ArraySpec { dtype, dims });
            }
        }
        e.params = e.read_parameters();
        Ok(e)
    }

    /// The entry parameters (per-device types and shapes) from the optimized HLO module;
    /// `None` when the plugin does not provide it.
    fn read_parameters(&self) -> Option<Vec<ArraySpec>> {
        let api = self.client.plugin();
        let format = b"hlo";
        let mut prog = sys::PJRT_Program::new();
        prog.format = format.as_ptr().cast();
        prog.format_size = format.len();
        let mut a = sys::PJRT_Executable_OptimizedProgram_Args::new();
        a.executable = self.exe;
        a.program = &mut prog;
        // SAFETY: first call with a null `code` only asks for the size.
        unsafe { pjrt_call!(api, PJRT_Executable_OptimizedProgram, &mut a) }.ok()?;
        let mut code = vec![0u8; prog.code_size];
        prog.code = code.as_mut_ptr().cast();
        a.program = &mut prog;
        // SAFETY: `code` has the `code_size` bytes the plugin asked for and outlives the call.
        unsafe { pjrt_call!(api, PJRT_Executable_OptimizedProgram, &mut a) }.ok()?;
        code.truncate(prog.code_size);
        // SAFETY: the plugin set `format` to a string it owns, alive with the executable.
        let returned = unsafe { plugin_str(prog.format, prog.format_size) };
        match returned.as_str() {
            "hlo" => proto::hlo_parameters(&code),
            "hlo_with_config" => proto::hlo_parameters(proto::hlo_module_of_config(&code)?),
            _ => None,
        }
    }

    /// The program's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Number of replicas it was compiled for.
    pub fn num_replicas(&self) -> usize {
        self.num_replicas
    }

    /// Number of partitions it was compiled for.
    pub fn num_partitions(&self) -> usize {
        self.num_partitions
    }

    /// The devices it runs on, in the order of the argument lists of [`Executable::execute`]
    /// (indices into [`Client::addressable_devices`]).
    pub fn devices(&self) -> &[usize] {
        &self.devices
    }

    /// Parameter types and per-device shapes, when the plugin reports them (the CPU plugins do).
    pub fn parameters(&self) -> Option<&[ArraySpec]> {
        self.params.as_deref()
    }

    /// Output types and per-device shapes.
    pub fn outputs(&self) -> &[ArraySpec] {
        &self.outputs
    }

    /// What the compiled program needs in device memory, per device, as the compiler planned
    /// it; `None` when the plugin does not report it.
    pub fn memory_stats(&self) -> Option<MemoryStats> {
        let api = self.client.plugin();
        let mut a = sys::PJRT_Executable_GetCompiledMemoryStats_Args::new();
        a.executable = self.exe;
        // SAFETY: `exe` is alive with `self`; the plugin only writes the integer fields.
        unsafe { pjrt_call!(api, PJRT_Executable_GetCompiledMemoryStats, &mut a) }.ok()?;
        let bytes = |v: i64| u64::try_from(v).unwrap_or(0);
        Some(MemoryStats {
            argument_bytes: bytes(a.argument_size_in_bytes),
            output_bytes: bytes(a.output_size_in_bytes),
            alias_bytes: bytes(a.alias_size_in_bytes),
            temp_bytes: bytes(a.temp_size_in_bytes),
            generated_code_bytes: bytes(a.generated_code_size_in_bytes),
        })
    }

    /// The client it belongs to.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Runs the program: one argument list per device of [`Executable::devices`], each buffer
    /// on that device. Returns one output list per device. Arguments are never donated.
    pub fn execute(&self, args: &[Vec<&Buffer>]) -> Result<Vec<Vec<Buffer>>> {
        self.execute_donating(args, &[])
    }

    /// Like [`Executable::execute`], but the arguments at positions `donate` may be donated:
    /// where the program aliases them to an output their memory is reused, and afterwards those
    /// buffers can no longer be read ([`Buffer::is_deleted`]).
    pub fn execute_donating(
        &self,
        args: &[Vec<&Buffer>],
        donate: &[usize],
    ) -> Result<Vec<Vec<Buffer>>> {
        self.check_arguments(args, donate)?;
        let api = self.client.plugin();
        let num_args = args.first().map_or(0, Vec::len);
        let lists: Vec<Vec<*mut sys::PJRT_Buffer>> = args
            .iter()
            .map(|l| l.iter().map(|b| b.raw()).collect())
            .collect();
        let list_ptrs: Vec<*const *mut sys::PJRT_Buffer> =
            lists.iter().map(|l| l.as_ptr()).collect();
        let n_out = self.outputs.len();
        let mut outs: Vec<Vec<*mut sys::PJRT_Buffer>> = (0..args.len())
            .map(|_| vec![std::ptr::null_mut(); n_out])
            .collect();
        let out_ptrs: Vec<*mut *mut sys::PJRT_Buffer> =
            outs.iter_mut().map(|l| l.as_mut_ptr()).collect();
        let mut events: Vec<*mut sys::PJRT_Event> = vec![std::ptr::null_mut(); args.len()];
        let keep: Vec<i64> = (0..num_args as i64)
            .filter(|i| !donate.contains(&(*i as usize)))
            .collect();
        let mut opts = sys::PJRT_ExecuteOptions::new();
        opts.non_donatable_input_indices = keep.as_ptr();
        opts.num_non_donatable_input_indices = keep.len();
        let mut a = sys::PJRT_LoadedExecutable_Execute_Args::new();
        a.executable = self.loaded;
        a.options = &mut opts;
        a.argument_lists = list_ptrs.as_ptr();
        a.num_devices = args.len();
        a.num_args = num_args;
        a.output_lists = out_ptrs.as_ptr();
        a.device_complete_events = events.as_mut_ptr();
        // SAFETY: argument and output arrays have the sizes the call states
        // ([num_devices][num_args] and [num_devices][num_outputs]), checked above; every
        // argument buffer is live and belongs to this client; all arrays outlive the call.
        unsafe { pjrt_call!(api, PJRT_LoadedExecutable_Execute, &mut a)? };
        // Own every output buffer before anything else can fail.
        let mut results: Vec<Vec<Buffer>> = outs
            .iter()
            .zip(&self.devices)
            .map(|(list, &dev)| {
                list.iter()
                    .zip(&self.outputs)
                    .map(|(&raw, spec)| Buffer::adopt(&self.client, raw, spec, dev))
                    .collect()
            })
            .collect();
        let mut status = Ok(());
        for ev in events {
            let r = api.await_event(ev);
            if status.is_ok() {
                status = r;
            }
        }
        status?;
        for b in results.iter_mut().flatten() {
            b.refresh()?;
        }
        Ok(results)
    }

    fn check_arguments(&self, args: &[Vec<&Buffer>], donate: &[usize]) -> Result<()> {
        let n_dev = self.devices.len();
        if args.len() != n_dev {
            let here = if self.client.is_multi_process() {
                " of this process"
            } else {
                ""
            };
            return Err(Error::BadArgument(format!(
                "this executable runs on {n_dev} device(s){here} ({} replicas x {} partitions): \
                 give one argument list per device, got {}",
                self.num_replicas,
                self.num_partitions,
                args.len()
            )));
        }
        let num_args = args.first().map_or(0, Vec::len);
        for (d, list) in args.iter().enumerate() {
            if let Some(params) = &self.params
                && list.len() != params.len()
            {
                let want: Vec<String> = params.iter().map(|p| p.to_string()).collect();
                return Err(Error::BadArgument(format!(
                    "wrong number of arguments{}: the program takes {} ({}), got {}",
                    device_note(d, n_dev),
                    params.len(),
                    want.join(", "),
                    list.len()
                )));
            }
            if list.len() != num_args {
                return Err(Error::BadArgument(format!(
                    "every device needs the same number of arguments: device list 0 has {num_args}, list {d} has {}",
                    list.len()
                )));
            }
            for (i, b) in list.iter().enumerate() {
                if !b.client().same_as(&self.client) {
                    return Err(Error::BadArgument(format!(
                        "argument {i}{} belongs to another client; create it with this executable's client",
                        device_note(d, n_dev)
                    )));
                }
                b.check_live()?;
                if let Some(p) = self.params.as_ref().map(|p| &p[i])
                    && (p.dtype != b.dtype() || p.dims != b.dims())
                {
                    return Err(Error::BadArgument(format!(
                        "argument {i}{}: the program expects {p}, got {}{:?}",
                        device_note(d, n_dev),
                        b.dtype(),
                        b.dims()
                    )));
                }
                if b.device_index() != self.devices[d] {
                    return Err(Error::BadArgument(format!(
                        "argument {i}{} is on device {}, but this argument list runs on device {}; \
                         create it there",
                        device_note(d, n_dev),
                        b.device_index(),
                        self.devices[d]
                    )));
                }
            }
        }
        if let Some(&i) = donate.iter().find(|&&i| i >= num_args) {
            return Err(Error::BadArgument(format!(
                "cannot donate argument {i}: there are only {num_args} arguments"
            )));
        }
        Ok(())
    }

    /// Single-device convenience: copies `args` to the executable's device, runs, and copies
    /// the outputs back.
    pub fn run_host(&self, args: &[HostArray]) -> Result<Vec<HostArray>> {
        if self.devices.len() != 1 {
            return Err(Error::BadArgument(format!(
                "run_host is for single-device executables; this one runs on {} devices (use execute)",
                self.devices.len()
            )));
        }
        if let Some(params) = &self.params {
            if args.len() != params.len() {
                let want: Vec<String> = params.iter().map(|p| p.to_string()).collect();
                return Err(Error::BadArgument(format!(
                    "wrong number of arguments: the program takes {} ({}), got {}",
                    params.len(),
                    want.join(", "),
                    args.len()
                )));
            }
            for (i, (a, p)) in args.iter().zip(params).enumerate() {
                if a.dtype() != p.dtype || a.shape() != p.dims.as_slice() {
                    return Err(Error::BadArgument(format!(
                        "argument {i}: the program expects {p}, got {}{:?}",
                        a.dtype(),
                        a.shape()
                    )));
                }
            }
        }
        let dev = self.devices[0];
        let bufs: Vec<Buffer> = args
            .iter()
            .map(|a| self.client.buffer_from_host(a, dev))
            .collect::<Result<_>>()?;
        let refs: Vec<&Buffer> = bufs.iter().collect();
        let mut out = self.execute(&[refs])?;
        out.pop()
            .unwrap_or_default()
            .iter()
            .map(Buffer::to_host)
            .collect()
    }

    /// The plugin's serialization of the compiled program (load it with [`Client::deserialize`]
    /// in a process using the same plugin version).
    pub fn serialize(&self) -> Result<Vec<u8>> {
        let mut a = sys::PJRT_Executable_Serialize_Args::new();
        a.executable = self.exe;
        // SAFETY: live executable; the bytes are copied, then the backing object is freed
        // exactly once with the plugin's deleter.
        unsafe {
            pjrt_call!(self.client.plugin(), PJRT_Executable_Serialize, &mut a)?;
            let bytes = if a.serialized_bytes.is_null() {
                Vec::new()
            } else {
                std::slice::from_raw_parts(a.serialized_bytes as *const u8, a.serialized_bytes_size)
                    .to_vec()
            };
            if let Some(del) = a.serialized_executable_deleter {
                del(a.serialized_executable);
            }
            Ok(bytes)
        }
    }
}

fn device_note(d: usize, n: usize) -> String {
    if n > 1 {
        format!(" (device list {d})")
    } else {
        String::new()
    }
}
