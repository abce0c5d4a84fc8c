//! Every bad input of the runtime returns a clear error (and the process survives): no plugin,
//! a file that is not a plugin, malformed StableHLO, wrong arguments, too many partitions.

use sbgm_xla::Error;
use sbgm_xla::pjrt::{Client, ClientOptions, CompileOptions, PluginSpec, Program, plugin};
use sbgm_xla::{DType, HostArray};

const ADD: &str = r#"
module @add {
  func.func public @main(%x: tensor<2x3xf32>, %y: tensor<2x3xf32>) -> tensor<2x3xf32> {
    %0 = stablehlo.add %x, %y : tensor<2x3xf32>
    return %0 : tensor<2x3xf32>
  }
}
"#;

fn f32s(shape: Vec<usize>) -> HostArray {
    let n = shape.iter().product();
    HostArray::from_vec(shape, vec![1f32; n]).unwrap()
}

#[test]
fn no_plugin_for_a_platform_says_how_to_install_one() {
    if plugin::find("tpu").is_some() {
        eprintln!("SKIPPED: this machine has a TPU plugin");
        return;
    }
    let err = Client::open(
        &PluginSpec::Platform("tpu".into()),
        &ClientOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::PluginNotFound(_)), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("sbgm-xla plugin install tpu") && msg.contains("--plugin"),
        "{msg}"
    );
}

#[test]
fn a_missing_plugin_file_is_reported_with_its_path() {
    let err = Client::open(
        &PluginSpec::Path("/nonexistent/libfoo.so".into()),
        &ClientOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::PluginNotFound(_)), "{err:?}");
    assert!(err.to_string().contains("/nonexistent/libfoo.so"), "{err}");
}

#[test]
fn files_that_are_not_plugins_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.so");
    std::fs::write(&text, "hello, I am not a shared library").unwrap();
    let err = Client::open(&PluginSpec::Path(text.clone()), &ClientOptions::default()).unwrap_err();
    assert!(matches!(err, Error::NotAPlugin { .. }), "{err:?}");
    assert!(err.to_string().contains("not a PJRT plugin"), "{err}");
    // A real shared library that is not a plugin (no GetPjrtApi).
    let libm = [
        "/lib/x86_64-linux-gnu/libm.so.6",
        "/usr/lib/x86_64-linux-gnu/libm.so.6",
        "/lib64/libm.so.6",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists());
    if let Some(libm) = libm {
        let err =
            Client::open(&PluginSpec::Path(libm.into()), &ClientOptions::default()).unwrap_err();
        assert!(
            err.to_string().contains("does not export GetPjrtApi"),
            "{err}"
        );
    }
    // A folder.
    let err = Client::open(
        &PluginSpec::Path(dir.path().into()),
        &ClientOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::NotAPlugin { .. }), "{err:?}");
}

#[test]
fn malformed_mlir_passes_the_parser_message_and_the_plugin_versions_on() {
    let c = Client::cpu().unwrap();
    let bad = "module @m {\n  func.func public @main(%x: tensor<2xf32>) -> tensor<2xf32> {\n    %0 = stablehlo.frobnicate %x : tensor<2xf32>\n    return %0 : tensor<2xf32>\n  }\n}\n";
    let err = c
        .compile(&Program::text(bad), &CompileOptions::default())
        .unwrap_err();
    let Error::Compile { message, versions } = &err else {
        panic!("expected a compile error, got {err:?}");
    };
    assert!(message.contains("frobnicate"), "parser message: {message}");
    let (_, cur) = c.plugin().stablehlo_versions();
    assert!(versions.contains(&cur.unwrap()), "{versions}");
    // Not MLIR at all.
    let err = c
        .compile(
            &Program::text("this is not mlir"),
            &CompileOptions::default(),
        )
        .unwrap_err();
    assert!(matches!(err, Error::Compile { .. }), "{err:?}");
    // The client still works afterwards.
    let exe = c
        .compile(&Program::text(ADD), &CompileOptions::default())
        .unwrap();
    assert_eq!(
        exe.run_host(&[f32s(vec![2, 3]), f32s(vec![2, 3])]).unwrap()[0]
            .to_vec::<f32>()
            .unwrap(),
        vec![2f32; 6]
    );
}

#[test]
fn wrong_argument_count_dtype_and_shape_are_caught_before_the_plugin() {
    let c = Client::cpu().unwrap();
    let exe = c
        .compile(&Program::text(ADD), &CompileOptions::default())
        .unwrap();
    let err = exe.run_host(&[f32s(vec![2, 3])]).unwrap_err();
    assert!(matches!(err, Error::BadArgument(_)));
    assert!(
        err.to_string()
            .contains("wrong number of arguments: the program takes 2"),
        "{err}"
    );

    let f64s = HostArray::from_vec(vec![2, 3], vec![1f64; 6]).unwrap();
    let err = exe
        .run_host(&[f32s(vec![2, 3]), f64s.clone()])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("argument 1") && err.contains("f32[2, 3]") && err.contains("f64[2, 3]"),
        "{err}"
    );

    let err = exe
        .run_host(&[f32s(vec![3, 2]), f32s(vec![2, 3])])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("argument 0") && err.contains("expects f32[2, 3], got f32[3, 2]"),
        "{err}"
    );

    // The same checks on device buffers.
    let a = c.buffer_from_host(&f32s(vec![2, 3]), 0).unwrap();
    let wrong = c.buffer_from_host(&f64s, 0).unwrap();
    let err = exe.execute(&[vec![&a, &wrong]]).unwrap_err().to_string();
    assert!(err.contains("argument 1"), "{err}");
    let err = exe.execute(&[vec![&a]]).unwrap_err().to_string();
    assert!(err.contains("wrong number of arguments"), "{err}");
    let err = exe
        .execute(&[vec![&a, &a], vec![&a, &a]])
        .unwrap_err()
        .to_string();
    assert!(err.contains("one argument list per device"), "{err}");
    // A buffer on another device than the one the executable runs on.
    let elsewhere = c.buffer_from_host(&f32s(vec![2, 3]), 2).unwrap();
    let err = exe
        .execute(&[vec![&a, &elsewhere]])
        .unwrap_err()
        .to_string();
    assert!(err.contains("is on device 2"), "{err}");
    // A buffer of another client.
    let other = Client::cpu().unwrap();
    let foreign = other.buffer_from_host(&f32s(vec![2, 3]), 0).unwrap();
    let err = exe.execute(&[vec![&a, &foreign]]).unwrap_err().to_string();
    assert!(err.contains("another client"), "{err}");
    let err = exe
        .execute_donating(&[vec![&a, &a]], &[5])
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot donate argument 5"), "{err}");
    // And a correct call still works.
    let out = exe.execute(&[vec![&a, &a]]).unwrap();
    assert_eq!(out[0][0].dtype(), DType::F32);
}

#[test]
fn more_partitions_than_devices_is_refused_before_compiling() {
    let c = Client::open(
        &PluginSpec::Platform("cpu".into()),
        &ClientOptions::cpu_devices(2),
    )
    .unwrap();
    let src = r#"
module @p attributes {mhlo.num_partitions = 4 : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(%x: tensor<8xf32> {mhlo.sharding = "{devices=[4]<=[4]}"}) -> tensor<8xf32> {
    return %x : tensor<8xf32>
  }
}
"#;
    let err = c
        .compile(&Program::text(src), &CompileOptions::default())
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotEnoughDevices {
                needed: 4,
                available: 2,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("cpu_device_count"), "{err}");
    let err = c
        .compile(&Program::text(ADD), &CompileOptions::spmd(3))
        .unwrap_err();
    assert!(
        matches!(err, Error::NotEnoughDevices { needed: 3, .. }),
        "{err:?}"
    );
    let bad = CompileOptions {
        device_assignment: Some(vec![vec![0, 0]]),
        ..CompileOptions::spmd(2)
    };
    let err = c.compile(&Program::text(ADD), &bad).unwrap_err();
    assert!(err.to_string().contains("twice"), "{err}");
}
