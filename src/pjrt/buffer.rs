//! [`Buffer`]: an array on a device; host <-> device transfers for every [`DType`], from and to
//! [`HostArray`] and `ndarray`.

use super::api::pjrt_call;
use super::client::Client;
use super::live;
use super::proto::ArraySpec;
use super::sys::{self, Args};
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::host::HostArray;
use ndarray::ArrayD;
use std::fmt;

/// The PJRT element type of a [`DType`].
pub(crate) fn pjrt_type(d: DType) -> sys::PJRT_Buffer_Type {
    match d {
        DType::Pred => sys::PJRT_Buffer_Type_PRED,
        DType::U8 => sys::PJRT_Buffer_Type_U8,
        DType::I32 => sys::PJRT_Buffer_Type_S32,
        DType::I64 => sys::PJRT_Buffer_Type_S64,
        DType::U32 => sys::PJRT_Buffer_Type_U32,
        DType::U64 => sys::PJRT_Buffer_Type_U64,
        DType::F16 => sys::PJRT_Buffer_Type_F16,
        DType::BF16 => sys::PJRT_Buffer_Type_BF16,
        DType::F32 => sys::PJRT_Buffer_Type_F32,
        DType::F64 => sys::PJRT_Buffer_Type_F64,
    }
}

/// The [`DType`] of a PJRT element type, or the type's name when sbgm-xla does not support it.
pub(crate) fn dtype_of(t: sys::PJRT_Buffer_Type) -> std::result::Result<DType, String> {
    Ok(match t {
        sys::PJRT_Buffer_Type_PRED => DType::Pred,
        sys::PJRT_Buffer_Type_U8 => DType::U8,
        sys::PJRT_Buffer_Type_S32 => DType::I32,
        sys::PJRT_Buffer_Type_S64 => DType::I64,
        sys::PJRT_Buffer_Type_U32 => DType::U32,
        sys::PJRT_Buffer_Type_U64 => DType::U64,
        sys::PJRT_Buffer_Type_F16 => DType::F16,
        sys::PJRT_Buffer_Type_BF16 => DType::BF16,
        sys::PJRT_Buffer_Type_F32 => DType::F32,
        sys::PJRT_Buffer_Type_F64 => DType::F64,
        sys::PJRT_Buffer_Type_S8 => return Err("s8".into()),
        sys::PJRT_Buffer_Type_S16 => return Err("s16".into()),
        sys::PJRT_Buffer_Type_U16 => return Err("u16".into()),
        14 => return Err("c64".into()),
        15 => return Err("c128".into()),
        23 => return Err("token".into()),
        other => return Err(format!("PJRT element type {other}")),
    })
}

/// An array on one device. Destroyed when dropped; keeps its client alive.
pub struct Buffer {
    client: Client,
    raw: *mut sys::PJRT_Buffer,
    dtype: DType,
    dims: Vec<usize>,
    device: usize,
}

// SAFETY: PJRT buffers may be used from any thread (C API contract); `Buffer` has no interior
// mutability of its own.
unsafe impl Send for Buffer {}
// SAFETY: as above.
unsafe impl Sync for Buffer {}

impl Drop for Buffer {
    fn drop(&mut self) {
        live::destroyed(&live::BUFFERS);
        let mut a = sys::PJRT_Buffer_Destroy_Args::new();
        a.buffer = self.raw;
        // SAFETY: `raw` is live and destroyed exactly once, here; the client outlives it.
        if let Err(e) = unsafe { pjrt_call!(self.client.plugin(), PJRT_Buffer_Destroy, &mut a) } {
            eprintln!("sbgm-xla: warning: destroying a PJRT buffer failed: {e}");
        }
    }
}

impl fmt::Debug for Buffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Buffer({}{:?} on device {})",
            self.dtype, self.dims, self.device
        )
    }
}

impl Client {
    /// Copies a host array to addressable device `device` (an index into
    /// [`Client::addressable_devices`]) and waits until the host memory is no longer needed.
    pub fn buffer_from_host(&self, host: &HostArray, device: usize) -> Result<Buffer> {
        let raw_device = *self.inner.addressable_raw.get(device).ok_or_else(|| {
            Error::BadArgument(format!(
                "device index {device} is out of range: the client has {} addressable devices",
                self.device_count()
            ))
        })?;
        let dims: Vec<i64> = host.shape().iter().map(|&d| d as i64).collect();
        let mut a = sys::PJRT_Client_BufferFromHostBuffer_Args::new();
        a.client = self.inner.raw;
        a.data = host.bytes().as_ptr().cast();
        a.type_ = pjrt_type(host.dtype());
        a.dims = dims.as_ptr();
        a.num_dims = dims.len();
        a.host_buffer_semantics = sys::PJRT_HostBufferSemantics_kImmutableUntilTransferCompletes;
        a.device = raw_device;
        let api = self.plugin();
        // SAFETY: `host` bytes and `dims` outlive the call and the transfer (we wait for
        // `done_with_host_buffer` below before returning); the byte count matches dtype x shape
        // (a `HostArray` invariant); `raw_device` belongs to this client.
        unsafe { pjrt_call!(api, PJRT_Client_BufferFromHostBuffer, &mut a)? };
        live::created(&live::BUFFERS);
        let buffer = Buffer {
            client: self.clone(),
            raw: a.buffer,
            dtype: host.dtype(),
            dims: host.shape().to_vec(),
            device,
        };
        api.await_event(a.done_with_host_buffer)?;
        Ok(buffer)
    }

    /// Copies an `ndarray` array to device `device`.
    pub fn buffer_from_ndarray<T: Element>(&self, a: &ArrayD<T>, device: usize) -> Result<Buffer> {
        self.buffer_from_host(&HostArray::from_ndarray(a), device)
    }
}

impl Buffer {
    /// Takes ownership of a buffer the plugin returned (an execution output) on addressable
    /// device `device`, expected to be `spec`; [`Buffer::refresh`] then reads what it really is.
    pub(crate) fn adopt(
        client: &Client,
        raw: *mut sys::PJRT_Buffer,
        spec: &ArraySpec,
        device: usize,
    ) -> Buffer {
        live::created(&live::BUFFERS);
        Buffer {
            client: client.clone(),
            raw,
            dtype: spec.dtype,
            dims: spec.dims.clone(),
            device,
        }
    }

    /// Reads the element type and dimensions from the plugin.
    pub(crate) fn refresh(&mut self) -> Result<()> {
        let api = self.client.plugin();
        let mut t = sys::PJRT_Buffer_ElementType_Args::new();
        t.buffer = self.raw;
        let mut d = sys::PJRT_Buffer_Dimensions_Args::new();
        d.buffer = self.raw;
        // SAFETY: `raw` is a live buffer; `dims` lives as long as the buffer and is copied.
        unsafe {
            pjrt_call!(api, PJRT_Buffer_ElementType, &mut t)?;
            pjrt_call!(api, PJRT_Buffer_Dimensions, &mut d)?;
            self.dims = if d.num_dims == 0 {
                Vec::new()
            } else {
                std::slice::from_raw_parts(d.dims, d.num_dims)
                    .iter()
                    .map(|&x| x as usize)
                    .collect()
            };
        }
        self.dtype = dtype_of(t.type_).map_err(|name| {
            Error::BadArgument(format!(
                "the program returned an array of element type {name}, which sbgm-xla does not support"
            ))
        })?;
        Ok(())
    }

    /// The raw handle (for execution).
    pub(crate) fn raw(&self) -> *mut sys::PJRT_Buffer {
        self.raw
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The dimensions.
    pub fn dims(&self) -> &[usize] {
        &self.dims
    }

    /// The index of its device in [`Client::addressable_devices`].
    pub fn device_index(&self) -> usize {
        self.device
    }

    /// The client it belongs to.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Whether the buffer's memory is gone (it was donated to an execution).
    pub fn is_deleted(&self) -> bool {
        let mut a = sys::PJRT_Buffer_IsDeleted_Args::new();
        a.buffer = self.raw;
        // SAFETY: live buffer handle.
        unsafe { pjrt_call!(self.client.plugin(), PJRT_Buffer_IsDeleted, &mut a) }
            .map(|()| a.is_deleted)
            .unwrap_or(false)
    }

    /// Bytes the buffer occupies on its device.
    pub fn on_device_size(&self) -> Result<usize> {
        let mut a = sys::PJRT_Buffer_OnDeviceSizeInBytes_Args::new();
        a.buffer = self.raw;
        // SAFETY: live buffer handle.
        unsafe {
            pjrt_call!(
                self.client.plugin(),
                PJRT_Buffer_OnDeviceSizeInBytes,
                &mut a
            )?
        };
        Ok(a.on_device_size_in_bytes)
    }

    /// Waits until the buffer's contents are computed (errors of the computation show here).
    pub fn block_until_ready(&self) -> Result<()> {
        self.check_live()?;
        let mut a = sys::PJRT_Buffer_ReadyEvent_Args::new();
        a.buffer = self.raw;
        let api = self.client.plugin();
        // SAFETY: live buffer handle; the event is awaited and destroyed once.
        unsafe { pjrt_call!(api, PJRT_Buffer_ReadyEvent, &mut a)? };
        api.await_event(a.event)
    }

    pub(crate) fn check_live(&self) -> Result<()> {
        if self.is_deleted() {
            return Err(Error::BadArgument(format!(
                "this {}{:?} buffer was donated to an execution and can no longer be used",
                self.dtype, self.dims
            )));
        }
        Ok(())
    }

    /// Copies the buffer to the host (row-major), waiting for the transfer.
    pub fn to_host(&self) -> Result<HostArray> {
        self.check_live()?;
        let n: usize = self.dims.iter().product::<usize>() * self.dtype.size_in_bytes();
        let mut bytes = vec![0u8; n];
        // Ask for the dense row-major layout explicitly (a device may store another).
        let minor_to_major: Vec<i64> = (0..self.dims.len() as i64).rev().collect();
        let mut tiled = sys::PJRT_Buffer_MemoryLayout_Tiled::new();
        tiled.minor_to_major = minor_to_major.as_ptr();
        tiled.minor_to_major_size = minor_to_major.len();
        let mut layout = sys::PJRT_Buffer_MemoryLayout::new();
        layout.type_ = sys::PJRT_Buffer_MemoryLayout_Type_Tiled;
        layout.layout.tiled = tiled;
        let mut a = sys::PJRT_Buffer_ToHostBuffer_Args::new();
        a.src = self.raw;
        a.host_layout = &mut layout;
        a.dst = bytes.as_mut_ptr().cast();
        a.dst_size = n;
        let api = self.client.plugin();
        // SAFETY: `bytes` (n bytes, the dense size of the array) and `layout` outlive the call
        // and the copy, which we wait for before returning.
        unsafe { pjrt_call!(api, PJRT_Buffer_ToHostBuffer, &mut a)? };
        api.await_event(a.event)?;
        HostArray::from_bytes(self.dtype, self.dims.clone(), bytes)
    }

    /// Copies the buffer to an `ndarray` array; `T` must be its element type.
    pub fn to_ndarray<T: Element>(&self) -> Result<ArrayD<T>> {
        self.to_host()?.to_ndarray()
    }
}
