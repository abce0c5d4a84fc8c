//! [`Client`]: a PJRT client of one plugin (platform, devices, create options). Cloning is
//! cheap (an `Arc`); buffers and executables keep their client alive.

use super::api::{Api, NamedValue, NamedValues, pjrt_call, plugin_str};
use super::kv::{Bridge, Distributed};
use super::live;
use super::plugin::{self, PluginSpec};
use super::sys::{self, Args};
use crate::error::{Error, Result};
use std::fmt;
use std::sync::Arc;

/// Options for creating a client.
#[derive(Clone, Debug, Default)]
pub struct ClientOptions {
    /// Number of CPU devices (the CPU plugin's `cpu_device_count` option; it defaults to 4).
    /// Leave `None` for other plugins.
    pub cpu_device_count: Option<usize>,
    /// Further plugin-specific create options, passed on as they are. Beware: the 0.81 CPU
    /// plugin aborts the process on an option of the wrong type.
    pub extra: Vec<(String, NamedValue)>,
    /// A multi-process job: the `node_id`/`num_nodes` create options and the key-value
    /// callbacks (see [`super::kv`]). `None` (or one node): a client of this process alone.
    pub distributed: Option<Distributed>,
}

/// The most virtual CPU devices a client may ask for. They share the machine's cores (more
/// only help to test SPMD), and each costs the plugin memory and start-up time: 100 000 take
/// about 3 GB and a minute.
pub const MAX_CPU_DEVICES: usize = 1024;

impl ClientOptions {
    /// Checks the options on our side before the plugin sees them.
    pub fn validate(&self) -> Result<()> {
        if let Some(d) = &self.distributed
            && d.node_id >= d.num_nodes
        {
            return Err(Error::BadArgument(format!(
                "node id {} is out of range for {} nodes",
                d.node_id, d.num_nodes
            )));
        }
        match self.cpu_device_count {
            Some(n) if n == 0 || n > MAX_CPU_DEVICES => Err(Error::BadArgument(format!(
                "{n} CPU devices asked for (--cpu-devices / --devices): use 1 to \
                 {MAX_CPU_DEVICES}; virtual CPU devices share this machine's cores, so more only \
                 help to test SPMD"
            ))),
            _ => Ok(()),
        }
    }

    /// The distributed settings when they span more than one process.
    fn multi_process(&self) -> Option<&Distributed> {
        self.distributed.as_ref().filter(|d| d.num_nodes > 1)
    }

    /// Options with `cpu_device_count` set.
    pub fn cpu_devices(n: usize) -> Self {
        ClientOptions {
            cpu_device_count: Some(n),
            ..Default::default()
        }
    }

    fn named_values(&self) -> Vec<(String, NamedValue)> {
        let mut v = Vec::new();
        if let Some(n) = self.cpu_device_count {
            v.push(("cpu_device_count".to_string(), NamedValue::Int(n as i64)));
        }
        if let Some(d) = self.multi_process().filter(|d| d.tell_plugin) {
            v.push(("node_id".to_string(), NamedValue::Int(d.node_id as i64)));
            v.push(("num_nodes".to_string(), NamedValue::Int(d.num_nodes as i64)));
        }
        v.extend(self.extra.iter().cloned());
        v
    }
}

/// A device as the plugin describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct Device {
    /// The device's global id.
    pub id: i32,
    /// The process that owns it.
    pub process_index: i32,
    /// The kind (for instance `cpu`, or a GPU model).
    pub kind: String,
    /// The plugin's one-line description (for instance `CpuDevice(id=0)`).
    pub description: String,
    /// Whether this process can use it directly.
    pub addressable: bool,
    /// The hardware id on its host (`-1` when not addressable).
    pub local_hardware_id: i32,
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (id {}, kind {}, process {})",
            self.description, self.id, self.kind, self.process_index
        )
    }
}

/// A PJRT client: one plugin, its devices, and the factory of buffers and executables.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<ClientInner>,
}

pub(crate) struct ClientInner {
    pub(crate) api: &'static Api,
    pub(crate) raw: *mut sys::PJRT_Client,
    platform_name: String,
    platform_version: String,
    process_index: i32,
    devices: Vec<Device>,
    addressable: Vec<Device>,
    pub(crate) addressable_raw: Vec<*mut sys::PJRT_Device>,
    /// The key-value store of a multi-process client: the callbacks' `user_arg`, freed only
    /// after the client is destroyed.
    kv: Option<Box<Bridge>>,
}

// SAFETY: a PJRT client is thread-safe by the C API's contract; the raw device pointers are
// owned by the client and only used while it lives.
unsafe impl Send for ClientInner {}
// SAFETY: as above; `ClientInner` is immutable after creation.
unsafe impl Sync for ClientInner {}

impl Drop for ClientInner {
    fn drop(&mut self) {
        live::destroyed(&live::CLIENTS);
        if let Some(kv) = &self.kv
            && let Err(e) = kv.store().shutdown()
        {
            eprintln!("sbgm-xla: warning: the shutdown barrier of the job failed: {e}");
        }
        let mut a = sys::PJRT_Client_Destroy_Args::new();
        a.client = self.raw;
        // SAFETY: the client is live and destroyed exactly once, here; every buffer and
        // executable holds an `Arc` of this, so none outlives it.
        if let Err(e) = unsafe { pjrt_call!(self.api, PJRT_Client_Destroy, &mut a) } {
            eprintln!("sbgm-xla: warning: destroying the PJRT client failed: {e}");
        }
    }
}

impl Client {
    /// A client of the default CPU plugin: found on the machine, or installed into the cache
    /// on first use (see [`plugin`]). The plugin is loaded once per process.
    pub fn cpu() -> Result<Client> {
        Client::open(
            &PluginSpec::Platform("cpu".into()),
            &ClientOptions::default(),
        )
    }

    /// A client of the plugin named by `spec` (a path or a platform), created with `opts`.
    pub fn open(spec: &PluginSpec, opts: &ClientOptions) -> Result<Client> {
        let api = plugin::load(spec)?;
        Client::with_api(api, opts)
    }

    /// A client of an already loaded plugin.
    pub fn with_api(api: &'static Api, opts: &ClientOptions) -> Result<Client> {
        opts.validate()?;
        let multi = opts.multi_process();
        if let Some(d) = multi
            && plugin::platform_of_library(api.path()) == Some("cpu")
        {
            return Err(multi_process_cpu_error(api.path(), d.node_id, d.num_nodes));
        }
        let options = NamedValues::new(&opts.named_values());
        let mut a = sys::PJRT_Client_Create_Args::new();
        a.create_options = options.as_ptr();
        a.num_options = options.len();
        let kv = multi.map(|d| Bridge::new(d.store.clone()));
        if let (Some(bridge), Some(true)) = (&kv, multi.map(|d| d.tell_plugin)) {
            bridge.install(&mut a);
        }
        // SAFETY: `options` outlives the call; the key-value bridge (when set) is owned by the
        // client from here on and outlives it.
        unsafe { pjrt_call!(api, PJRT_Client_Create, &mut a)? };
        let raw = a.client;
        live::created(&live::CLIENTS);
        // From here on `inner` owns the client and destroys it on any error below.
        let mut inner = ClientInner {
            api,
            raw,
            platform_name: String::new(),
            platform_version: String::new(),
            process_index: 0,
            devices: Vec::new(),
            addressable: Vec::new(),
            addressable_raw: Vec::new(),
            kv,
        };
        let mut n = sys::PJRT_Client_PlatformName_Args::new();
        n.client = raw;
        // SAFETY: live client; output strings live as long as the client.
        unsafe {
            pjrt_call!(api, PJRT_Client_PlatformName, &mut n)?;
            inner.platform_name = plugin_str(n.platform_name, n.platform_name_size);
        }
        let mut v = sys::PJRT_Client_PlatformVersion_Args::new();
        v.client = raw;
        // SAFETY: as above.
        unsafe {
            pjrt_call!(api, PJRT_Client_PlatformVersion, &mut v)?;
            inner.platform_version = plugin_str(v.platform_version, v.platform_version_size);
        }
        let mut p = sys::PJRT_Client_ProcessIndex_Args::new();
        p.client = raw;
        // SAFETY: as above.
        unsafe { pjrt_call!(api, PJRT_Client_ProcessIndex, &mut p)? };
        inner.process_index = p.process_index;

        let mut d = sys::PJRT_Client_Devices_Args::new();
        d.client = raw;
        // SAFETY: as above; the device array lives as long as the client.
        let all = unsafe {
            pjrt_call!(api, PJRT_Client_Devices, &mut d)?;
            raw_slice(d.devices, d.num_devices)
        };
        let mut ad = sys::PJRT_Client_AddressableDevices_Args::new();
        ad.client = raw;
        // SAFETY: as above.
        let addressable = unsafe {
            pjrt_call!(api, PJRT_Client_AddressableDevices, &mut ad)?;
            raw_slice(ad.addressable_devices, ad.num_addressable_devices)
        };
        inner.devices = all
            .iter()
            .map(|&dev| describe_device(api, dev))
            .collect::<Result<_>>()?;
        inner.addressable = addressable
            .iter()
            .map(|&dev| describe_device(api, dev))
            .collect::<Result<_>>()?;
        inner.addressable_raw = addressable;
        if let Some(d) = multi
            && inner.platform_name == "cpu"
        {
            // Destroy the client without the shutdown barrier: the job never started.
            let kv = inner.kv.take();
            drop(inner);
            drop(kv);
            return Err(multi_process_cpu_error(api.path(), d.node_id, d.num_nodes));
        }
        Ok(Client {
            inner: Arc::new(inner),
        })
    }

    /// The plugin behind this client.
    pub fn plugin(&self) -> &'static Api {
        self.inner.api
    }

    /// The platform name (`cpu`, `cuda`, `tpu`, ...).
    pub fn platform_name(&self) -> &str {
        &self.inner.platform_name
    }

    /// The platform version string.
    pub fn platform_version(&self) -> &str {
        &self.inner.platform_version
    }

    /// This process's index among the processes of the job (0 on one host).
    pub fn process_index(&self) -> i32 {
        self.inner.process_index
    }

    /// Every device of the job.
    pub fn devices(&self) -> &[Device] {
        &self.inner.devices
    }

    /// The devices this process can use; device indices in this API index this list.
    pub fn addressable_devices(&self) -> &[Device] {
        &self.inner.addressable
    }

    /// Number of addressable devices.
    pub fn device_count(&self) -> usize {
        self.inner.addressable.len()
    }

    /// The index in [`Client::addressable_devices`] of a raw device, if addressable.
    pub(crate) fn device_index(&self, raw: *mut sys::PJRT_Device) -> Option<usize> {
        self.inner.addressable_raw.iter().position(|&d| d == raw)
    }

    /// Whether this client is one of several processes of a job (it was created with a
    /// key-value store, and the plugin sees devices of other processes).
    pub fn is_multi_process(&self) -> bool {
        self.inner.kv.is_some() || self.inner.devices.iter().any(|d| !d.addressable)
    }

    /// The key-value store of a multi-process client.
    pub fn key_value_store(&self) -> Option<&std::sync::Arc<dyn super::kv::KeyValueStore>> {
        self.inner.kv.as_deref().map(Bridge::store)
    }

    /// Whether two handles are the same client.
    pub fn same_as(&self, other: &Client) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("platform", &self.inner.platform_name)
            .field("version", &self.inner.platform_version)
            .field("devices", &self.inner.addressable.len())
            .finish()
    }
}

/// The error for a CPU plugin asked to take part in a multi-process job: XLA's CPU client
/// cannot run computations across processes.
pub fn multi_process_cpu_error(path: &std::path::Path, node_id: usize, num_nodes: usize) -> Error {
    Error::distributed(
        crate::error::ErrorCode::Unimplemented,
        format!(
            "Multiprocess computations aren't implemented on the CPU backend: this is process {} \
             of {}, but the plugin {} is XLA's CPU plugin. Use the CUDA or TPU plugin (--plugin \
             cuda, --plugin tpu) for several processes, or run one process with several CPU \
             devices (leave out --num-processes; --cpu-devices N, or train --devices N)",
            node_id,
            num_nodes,
            path.display()
        ),
    )
}

/// Copies a plugin-owned pointer array.
///
/// # Safety
/// `ptr` must point to `len` readable pointers (or be null).
unsafe fn raw_slice<T>(ptr: *const *mut T, len: usize) -> Vec<*mut T> {
    if ptr.is_null() {
        return Vec::new();
    }
    // SAFETY: caller's contract.
    unsafe { std::slice::from_raw_parts(ptr, len).to_vec() }
}

fn describe_device(api: &Api, dev: *mut sys::PJRT_Device) -> Result<Device> {
    let mut g = sys::PJRT_Device_GetDescription_Args::new();
    g.device = dev;
    // SAFETY: `dev` comes from the live client's device list; descriptions and their strings
    // live as long as the client.
    unsafe {
        pjrt_call!(api, PJRT_Device_GetDescription, &mut g)?;
        let desc = g.device_description;
        let mut id = sys::PJRT_DeviceDescription_Id_Args::new();
        id.device_description = desc;
        pjrt_call!(api, PJRT_DeviceDescription_Id, &mut id)?;
        let mut pi = sys::PJRT_DeviceDescription_ProcessIndex_Args::new();
        pi.device_description = desc;
        pjrt_call!(api, PJRT_DeviceDescription_ProcessIndex, &mut pi)?;
        let mut k = sys::PJRT_DeviceDescription_Kind_Args::new();
        k.device_description = desc;
        pjrt_call!(api, PJRT_DeviceDescription_Kind, &mut k)?;
        let mut s = sys::PJRT_DeviceDescription_ToString_Args::new();
        s.device_description = desc;
        pjrt_call!(api, PJRT_DeviceDescription_ToString, &mut s)?;
        let mut a = sys::PJRT_Device_IsAddressable_Args::new();
        a.device = dev;
        pjrt_call!(api, PJRT_Device_IsAddressable, &mut a)?;
        let mut h = sys::PJRT_Device_LocalHardwareId_Args::new();
        h.device = dev;
        pjrt_call!(api, PJRT_Device_LocalHardwareId, &mut h)?;
        Ok(Device {
            id: id.id,
            process_index: pi.process_index,
            kind: plugin_str(k.device_kind, k.device_kind_size),
            description: plugin_str(s.to_string, s.to_string_size),
            addressable: a.is_addressable,
            local_hardware_id: h.local_hardware_id,
        })
    }
}
