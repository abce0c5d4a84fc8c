//! Two processes of a two-node job on ONE GPU, through the CUDA plugin with
//! `enable_mock_nccl` (the plugin fakes the other node's devices and the collectives): our
//! key-value store and callbacks, a client that sees non-addressable devices, a program
//! compiled over the global device assignment and executed on the addressable device only.
//!
//! Needs a GPU and the CUDA plugin (`sbgm-xla plugin install cuda12` or `cuda13`, or
//! `pip install jax[cuda12]`); skipped unless `SBGM_XLA_CUDA_MOCK=1`.
//! `tools/multiprocess_cuda_mock.sh` runs it.

use sbgm_xla::HostArray;
use sbgm_xla::dist::{LaunchFlags, StoreOptions, discover_here, open_client};
use sbgm_xla::pjrt::{ClientOptions, CompileOptions, NamedValue, PluginSpec, Program};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ROLE: &str = "SBGM_TEST_CUDA_MOCK_CHILD";

/// Each process holds 2 of the 4 elements: `y = 2 x`, split over the two (global) devices.
const PROGRAM: &str = r#"module @mock attributes {mhlo.num_partitions = 2 : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(%x: tensor<4xf32> {mhlo.sharding = "{devices=[2]<=[2]}"}) -> (tensor<4xf32> {mhlo.sharding = "{devices=[2]<=[2]}"}) {
    %0 = stablehlo.add %x, %x : tensor<4xf32>
    return %0 : tensor<4xf32>
  }
}"#;

/// The body of one process (run by the test below with `ROLE` set).
#[test]
fn child_process() {
    if std::env::var(ROLE).is_err() {
        return;
    }
    let set = discover_here(&LaunchFlags::default()).unwrap();
    let options = ClientOptions {
        extra: vec![
            ("enable_mock_nccl".into(), NamedValue::Bool(true)),
            // Two processes share one GPU: no preallocation of most of its memory.
            ("preallocate".into(), NamedValue::Bool(false)),
        ],
        ..Default::default()
    };
    let store = StoreOptions::from_env().unwrap();
    let spec = PluginSpec::Platform("cuda".into());
    let client = open_client(&spec, &options, &set, &store).unwrap();
    let me = set.process_id;
    println!(
        "process {me}: {} devices, {} addressable, plugin process index {}",
        client.devices().len(),
        client.device_count(),
        client.process_index()
    );
    for d in client.devices() {
        println!("  {d} addressable={}", d.addressable);
    }
    assert!(client.is_multi_process());
    assert_eq!(client.devices().len(), 2 * client.device_count());
    assert!(client.devices().iter().any(|d| !d.addressable));
    assert!(sbgm_xla::dist::store_of(&client).is_some());

    let exe = client
        .compile(&Program::text(PROGRAM), &CompileOptions::spmd(2))
        .unwrap();
    assert_eq!(exe.devices().len(), 1, "one addressable device per process");
    let x = HostArray::from_vec(vec![2], vec![me as f32 + 1.0, 10.0 * (me as f32 + 1.0)]).unwrap();
    let buf = client.buffer_from_host(&x, exe.devices()[0]).unwrap();
    let out = exe.execute(&[vec![&buf]]).unwrap();
    let y = out[0][0].to_host().unwrap().to_vec::<f32>().unwrap();
    assert_eq!(y, vec![2.0 * (me as f32 + 1.0), 20.0 * (me as f32 + 1.0)]);
    println!("MOCK OK {me}");
}

#[test]
fn two_processes_on_one_gpu_with_mock_nccl() {
    if std::env::var("SBGM_XLA_CUDA_MOCK").as_deref() != Ok("1") {
        eprintln!("SKIPPED: set SBGM_XLA_CUDA_MOCK=1 on a machine with a GPU and the CUDA plugin");
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let children: Vec<_> = (0..2)
        .map(|i| {
            Command::new(std::env::current_exe().unwrap())
                .arg("child_process")
                .args(["--exact", "--nocapture", "--test-threads=1"])
                .env(ROLE, "1")
                .env("SBGM_XLA_COORDINATOR", format!("127.0.0.1:{port}"))
                .env("SBGM_XLA_PROCESS_ID", i.to_string())
                .env("SBGM_XLA_NUM_PROCESSES", "2")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(300);
    for (i, mut c) in children.into_iter().enumerate() {
        while Instant::now() < deadline && c.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = c.kill();
        let out = c.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&[out.stdout, out.stderr].concat()).into_owned();
        println!("---- process {i} ----\n{text}");
        assert!(out.status.success(), "process {i} failed: {text}");
        assert!(text.contains(&format!("MOCK OK {i}")), "{text}");
    }
}
