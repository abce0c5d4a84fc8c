//! No leak: creating and dropping clients, buffers and executables in loops destroys every PJRT
//! object exactly once (the runtime's live-object counts return to zero) and keeps the resident
//! memory (from /proc/self/statm) flat. One test in its own binary so that nothing else runs
//! alongside it.

use sbgm_xla::HostArray;
use sbgm_xla::pjrt::{Client, CompileOptions, LiveObjects, Program, live_objects};

fn rss_mib() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm (Linux)");
    let pages: f64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096.0 / (1024.0 * 1024.0)
}

const SMALL: &str = r#"
module @small {
  func.func public @main(%x: tensor<262144xf32>) -> tensor<262144xf32> {
    %0 = stablehlo.sine %x : tensor<262144xf32>
    %1 = stablehlo.multiply %0, %x : tensor<262144xf32>
    return %1 : tensor<262144xf32>
  }
}
"#;

/// Runs `body` `n` times after `warm` warm-up rounds; returns the RSS growth in MiB.
fn growth(warm: usize, n: usize, mut body: impl FnMut()) -> f64 {
    for _ in 0..warm {
        body();
    }
    let before = rss_mib();
    for _ in 0..n {
        body();
    }
    rss_mib() - before
}

const NONE: LiveObjects = LiveObjects {
    clients: 0,
    buffers: 0,
    executables: 0,
};

#[test]
fn clients_buffers_and_executables_do_not_leak() {
    assert_eq!(live_objects(), NONE);
    let c = Client::cpu().unwrap();
    // Buffers: 40 x 16 MiB up and back; a leak would keep 640 MiB.
    let big = HostArray::from_vec(vec![4 << 20], vec![0.5f32; 4 << 20]).unwrap();
    let g = growth(3, 40, || {
        let b = c.buffer_from_host(&big, 1).unwrap();
        assert_eq!(b.to_host().unwrap().len(), 4 << 20);
    });
    eprintln!("buffers: {g:.1} MiB");
    assert!(g < 200.0, "RSS grew {g:.1} MiB over 40 x 16 MiB buffers");

    // Executables: compile, run, drop.
    let x = HostArray::from_vec(vec![262144], vec![1f32; 262144]).unwrap();
    let g = growth(3, 40, || {
        let exe = c
            .compile(&Program::text(SMALL), &CompileOptions::default())
            .unwrap();
        let out = exe.run_host(std::slice::from_ref(&x)).unwrap();
        assert_eq!(out[0].len(), 262144);
    });
    eprintln!("executables: {g:.1} MiB");
    assert!(g < 32.0, "RSS grew {g:.1} MiB over 40 compiled executables");

    // Executions of one executable: 1 MiB outputs and their events are freed; a leak would
    // keep 500 MiB.
    let exe = c
        .compile(&Program::text(SMALL), &CompileOptions::default())
        .unwrap();
    let b = c.buffer_from_host(&x, 0).unwrap();
    let g = growth(20, 500, || {
        let out = exe.execute(&[vec![&b]]).unwrap();
        assert_eq!(out[0].len(), 1);
    });
    eprintln!("executions: {g:.1} MiB");
    assert!(g < 128.0, "RSS grew {g:.1} MiB over 500 executions");
    assert_eq!(
        live_objects(),
        LiveObjects {
            clients: 1,
            buffers: 1,
            executables: 1
        }
    );
    drop((exe, b));

    // Clients, each with a buffer and an executable that keep it alive past its handle.
    let g = growth(2, 15, || {
        let client = Client::cpu().unwrap();
        let buf = client.buffer_from_host(&x, 0).unwrap();
        let exe = client
            .compile(&Program::text(SMALL), &CompileOptions::default())
            .unwrap();
        drop(client);
        let out = exe.execute(&[vec![&buf]]).unwrap();
        assert_eq!(out[0][0].to_host().unwrap().len(), 262144);
    });
    eprintln!("clients: {g:.1} MiB");
    assert!(g < 48.0, "RSS grew {g:.1} MiB over 15 clients");
    drop(c);
    // Every object created above was destroyed exactly once.
    assert_eq!(live_objects(), NONE);
}
