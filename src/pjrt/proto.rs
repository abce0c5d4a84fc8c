//! The few protobuf messages the runtime exchanges with plugins, encoded and decoded by hand:
//! `xla.CompileOptionsProto` (what we send to `PJRT_Client_Compile`) and the program shape of an
//! `xla.HloModuleProto` (what `PJRT_Executable_OptimizedProgram` returns), from which we learn
//! the parameters' element types and per-device shapes.

use crate::dtype::DType;

// ---- wire format ----

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn put_key(out: &mut Vec<u8>, field: u32, wire: u8) {
    put_varint(out, ((field as u64) << 3) | wire as u64);
}

/// A varint field (int32/int64/bool/enum; negative numbers as 10-byte two's complement).
fn put_int(out: &mut Vec<u8>, field: u32, v: i64) {
    put_key(out, field, 0);
    put_varint(out, v as u64);
}

fn put_bytes(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_key(out, field, 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// A packed repeated varint field.
fn put_packed(out: &mut Vec<u8>, field: u32, vals: &[i64]) {
    let mut inner = Vec::new();
    for &v in vals {
        put_varint(&mut inner, v as u64);
    }
    put_bytes(out, field, &inner);
}

/// One field of a message: its number and value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
}

fn get_varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos)?;
        *pos += 1;
        v |= ((b & 0x7f) as u64) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// The fields of a message, in order; `None` if the bytes are not a valid message.
pub(crate) fn fields(buf: &[u8]) -> Option<Vec<(u32, Value<'_>)>> {
    let mut pos = 0;
    let mut out = Vec::new();
    while pos < buf.len() {
        let key = get_varint(buf, &mut pos)?;
        let field = (key >> 3) as u32;
        let v = match key & 7 {
            0 => Value::Varint(get_varint(buf, &mut pos)?),
            1 => {
                let b = buf.get(pos..pos + 8)?;
                pos += 8;
                Value::Fixed64(u64::from_le_bytes(b.try_into().ok()?))
            }
            2 => {
                let len = get_varint(buf, &mut pos)? as usize;
                let b = buf.get(pos..pos.checked_add(len)?)?;
                pos += len;
                Value::Bytes(b)
            }
            5 => {
                let b = buf.get(pos..pos + 4)?;
                pos += 4;
                Value::Fixed32(u32::from_le_bytes(b.try_into().ok()?))
            }
            _ => return None,
        };
        out.push((field, v));
    }
    Some(out)
}

/// A repeated int64 field that may be packed or not.
fn ints(fs: &[(u32, Value<'_>)], field: u32) -> Option<Vec<i64>> {
    let mut out = Vec::new();
    for (f, v) in fs {
        if *f != field {
            continue;
        }
        match v {
            Value::Varint(x) => out.push(*x as i64),
            Value::Bytes(b) => {
                let mut pos = 0;
                while pos < b.len() {
                    out.push(get_varint(b, &mut pos)? as i64);
                }
            }
            _ => return None,
        }
    }
    Some(out)
}

// ---- xla.CompileOptionsProto ----

/// What goes into `CompileOptionsProto.executable_build_options`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct BuildOptions {
    pub num_replicas: usize,
    pub num_partitions: usize,
    pub use_spmd_partitioning: bool,
    pub use_shardy_partitioner: bool,
    /// Device ids, `[replica][partition]`.
    pub device_assignment: Option<Vec<Vec<i64>>>,
}

/// Encodes a `CompileOptionsProto` holding only `executable_build_options` (field 3):
/// `num_replicas` (4), `num_partitions` (5), `use_spmd_partitioning` (6), `device_assignment`
/// (9: `DeviceAssignmentProto { replica_count = 1, computation_count = 2,
/// repeated ComputationDevice computation_devices = 3 { repeated int64 replica_device_ids = 1 } }`)
/// and `use_shardy_partitioner` (19). Never empty: the CPU plugin aborts on empty options.
pub(crate) fn compile_options(o: &BuildOptions) -> Vec<u8> {
    let mut build = Vec::new();
    put_int(&mut build, 4, o.num_replicas as i64);
    put_int(&mut build, 5, o.num_partitions as i64);
    if o.use_spmd_partitioning {
        put_int(&mut build, 6, 1);
    }
    if let Some(da) = &o.device_assignment {
        let mut d = Vec::new();
        put_int(&mut d, 1, o.num_replicas as i64);
        put_int(&mut d, 2, o.num_partitions as i64);
        for p in 0..o.num_partitions {
            let ids: Vec<i64> = da.iter().map(|row| row[p]).collect();
            let mut cd = Vec::new();
            put_packed(&mut cd, 1, &ids);
            put_bytes(&mut d, 3, &cd);
        }
        put_bytes(&mut build, 9, &d);
    }
    if o.use_shardy_partitioner {
        put_int(&mut build, 19, 1);
    }
    let mut out = Vec::new();
    put_bytes(&mut out, 3, &build);
    out
}

// ---- xla.HloModuleProto program shape ----

/// An array type: element type and dimensions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArraySpec {
    /// The element type.
    pub dtype: DType,
    /// The dimensions.
    pub dims: Vec<usize>,
}

impl std::fmt::Display for ArraySpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{:?}", self.dtype, self.dims)
    }
}

/// `xla.PrimitiveType` to [`DType`].
fn primitive(t: u64) -> Option<DType> {
    Some(match t {
        1 => DType::Pred,
        4 => DType::I32,
        5 => DType::I64,
        6 => DType::U8,
        8 => DType::U32,
        9 => DType::U64,
        10 => DType::F16,
        11 => DType::F32,
        12 => DType::F64,
        16 => DType::BF16,
        _ => return None,
    })
}

/// A `ShapeProto` (element_type = 2, dimensions = 3, tuple_shapes = 4) as a list of arrays
/// (a tuple is flattened one level); `None` for types sbgm-xla does not support.
fn shape(buf: &[u8]) -> Option<Vec<ArraySpec>> {
    let fs = fields(buf)?;
    let et = fs.iter().find_map(|(f, v)| match (f, v) {
        (2, Value::Varint(t)) => Some(*t),
        _ => None,
    });
    if et == Some(13) {
        // TUPLE
        let mut out = Vec::new();
        for (f, v) in &fs {
            if let (4, Value::Bytes(b)) = (f, v) {
                out.extend(shape(b)?);
            }
        }
        return Some(out);
    }
    let dtype = primitive(et.unwrap_or(0))?;
    let dims = ints(&fs, 3)?.into_iter().map(|d| d as usize).collect();
    Some(vec![ArraySpec { dtype, dims }])
}

/// The entry parameters of an `HloModuleProto`, from `host_program_shape` (field 4,
/// `ProgramShapeProto { repeated ShapeProto parameters = 1 }`). `None` when absent or when a
/// parameter has a type sbgm-xla does not support.
pub(crate) fn hlo_parameters(module: &[u8]) -> Option<Vec<ArraySpec>> {
    let fs = fields(module)?;
    let ps = fs.iter().find_map(|(f, v)| match (f, v) {
        (4, Value::Bytes(b)) => Some(*b),
        _ => None,
    })?;
    let mut out = Vec::new();
    for (f, v) in fields(ps)? {
        if let (1, Value::Bytes(b)) = (f, v) {
            let s = shape(b)?;
            if s.len() != 1 {
                return None;
            }
            out.extend(s);
        }
    }
    Some(out)
}

/// The `HloModuleProto` (field 1) inside an `HloModuleProtoWithConfig`.
pub(crate) fn hlo_module_of_config(buf: &[u8]) -> Option<&[u8]> {
    fields(buf)?.into_iter().find_map(|(f, v)| match (f, v) {
        (1, Value::Bytes(b)) => Some(b),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// The build-option bytes that JAX 0.10.2 writes
    /// (`xla_client.CompileOptions().SerializeAsString()`, after dropping the debug options it
    /// adds and the fields we leave at their defaults).
    #[test]
    fn compile_options_match_the_bytes_jax_writes() {
        let options = |replicas, partitions, spmd, shardy, assignment| BuildOptions {
            num_replicas: replicas,
            num_partitions: partitions,
            use_spmd_partitioning: spmd,
            use_shardy_partitioner: shardy,
            device_assignment: assignment,
        };
        let cases = [
            // JAX: ... 2001 2804 3001 4a18 0801 1004 1a030a0100 1a030a0101 1a030a0102 1a030a0103
            (
                options(1, 4, true, false, Some(vec![vec![0, 1, 2, 3]])),
                "1a202001280430014a18080110041a030a01001a030a01011a030a01021a030a0103",
            ),
            // JAX: ... 2002 2801 4a0a 0802 1001 1a04 0a020001 ... 9801 01
            (
                options(2, 1, false, true, Some(vec![vec![0], vec![1]])),
                "1a13200228014a0a080210011a040a020001980101",
            ),
            // The minimal options of the PJRT notes: `1a 04 20 01 28 01`.
            (options(1, 1, false, false, None), "1a0420012801"),
        ];
        for (opts, want) in cases {
            assert_eq!(hex(&compile_options(&opts)), want);
        }
    }

    #[test]
    fn decodes_a_program_shape() {
        // HloModuleProto { host_program_shape: { parameters: [f32[2,3], s32[]] } }
        let mut p0 = Vec::new();
        put_int(&mut p0, 2, 11);
        put_packed(&mut p0, 3, &[2, 3]);
        let mut p1 = Vec::new();
        put_int(&mut p1, 2, 4);
        let mut ps = Vec::new();
        put_bytes(&mut ps, 1, &p0);
        put_bytes(&mut ps, 1, &p1);
        let mut m = Vec::new();
        put_bytes(&mut m, 1, b"name");
        put_bytes(&mut m, 4, &ps);
        let got = hlo_parameters(&m).unwrap();
        assert_eq!(
            got,
            vec![
                ArraySpec {
                    dtype: DType::F32,
                    dims: vec![2, 3]
                },
                ArraySpec {
                    dtype: DType::I32,
                    dims: vec![]
                },
            ]
        );
        assert!(fields(&[0x0a, 0x05, 0x01]).is_none());
    }
}
