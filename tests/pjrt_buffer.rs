//! Buffers: every element type host -> device -> host, ndarray conversion, dims and dtype.

use half::{bf16, f16};
use ndarray::{ArrayD, IxDyn};
use sbgm_xla::pjrt::Client;
use sbgm_xla::{DType, HostArray};

/// Values that exercise each type's range (extremes, signs, fractions, NaN where it exists).
fn sample(dtype: DType) -> HostArray {
    let shape = vec![2, 3];
    match dtype {
        DType::Pred => HostArray::from_vec(shape, vec![true, false, true, true, false, false]),
        DType::U8 => HostArray::from_vec(shape, vec![0u8, 1, 127, 128, 254, 255]),
        DType::I32 => HostArray::from_vec(shape, vec![i32::MIN, -1, 0, 1, 12345, i32::MAX]),
        DType::I64 => HostArray::from_vec(shape, vec![i64::MIN, -1, 0, 1, 1 << 40, i64::MAX]),
        DType::U32 => HostArray::from_vec(shape, vec![0u32, 1, 2, 1 << 31, 77, u32::MAX]),
        DType::U64 => HostArray::from_vec(shape, vec![0u64, 1, 2, 1 << 63, 77, u64::MAX]),
        DType::F16 => HostArray::from_vec(
            shape,
            [-65504.0f32, -1.5, 0.0, 6.1e-5, 0.333, 65504.0]
                .iter()
                .map(|&x| f16::from_f32(x))
                .collect(),
        ),
        DType::BF16 => HostArray::from_vec(
            shape,
            [-3.0e38f32, -1.5, 0.0, 1e-30, 0.333, f32::NAN]
                .iter()
                .map(|&x| bf16::from_f32(x))
                .collect(),
        ),
        DType::F32 => HostArray::from_vec(
            shape,
            vec![
                f32::MIN,
                -1.5,
                -0.0,
                f32::MIN_POSITIVE,
                1.0 / 3.0,
                f32::INFINITY,
            ],
        ),
        DType::F64 => HostArray::from_vec(
            shape,
            vec![f64::MIN, -1.5, 0.0, 1e-300, 1.0 / 3.0, f64::NAN],
        ),
    }
    .unwrap()
}

#[test]
fn every_dtype_round_trips_bit_exactly_on_every_device() {
    let c = Client::cpu().unwrap();
    for dtype in DType::ALL {
        let h = sample(dtype);
        for dev in [0, c.device_count() - 1] {
            let b = c.buffer_from_host(&h, dev).unwrap();
            assert_eq!(b.dtype(), dtype);
            assert_eq!(b.dims(), &[2, 3]);
            assert_eq!(b.device_index(), dev);
            let back = b.to_host().unwrap();
            // Bytes compare NaN payloads and -0.0 exactly.
            assert_eq!(back.bytes(), h.bytes(), "{dtype} on device {dev}");
            assert_eq!(back.shape(), h.shape());
            assert_eq!(back.dtype(), dtype);
        }
    }
}

#[test]
fn scalars_empty_arrays_and_ndarray_views_round_trip() {
    let c = Client::cpu().unwrap();
    let s = HostArray::scalar(2.5f64);
    assert_eq!(c.buffer_from_host(&s, 0).unwrap().to_host().unwrap(), s);
    let e = HostArray::from_vec::<f32>(vec![0, 3], vec![]).unwrap();
    let back = c.buffer_from_host(&e, 1).unwrap().to_host().unwrap();
    assert_eq!(back.shape(), &[0, 3]);
    // A transposed (non-contiguous) ndarray goes up in logical row-major order.
    let a = ArrayD::from_shape_vec(IxDyn(&[2, 3]), (0..6).map(|x| x as f32).collect()).unwrap();
    let t = a.t().to_owned().into_dyn();
    let b = c.buffer_from_ndarray(&t, 2).unwrap();
    assert_eq!(b.dims(), &[3, 2]);
    assert_eq!(b.to_ndarray::<f32>().unwrap(), t);
    assert!(b.to_ndarray::<f64>().is_err());
    assert!(b.on_device_size().unwrap() >= 24);
    b.block_until_ready().unwrap();
}

#[test]
fn a_bad_device_index_is_an_error() {
    let c = Client::cpu().unwrap();
    let err = c
        .buffer_from_host(&HostArray::scalar(1i32), 99)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("device index 99") && err.contains("4 addressable"),
        "{err}"
    );
}
