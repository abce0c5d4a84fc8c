//! Clients: the default CPU plugin (installed on first use), device counts, plugin attributes,
//! and both CPU plugins (C API 0.81 and 0.115).

use sbgm_xla::pjrt::{Client, ClientOptions, PluginSpec, plugin};

#[test]
fn cpu_client_reports_platform_devices_and_stablehlo_versions() {
    let c = Client::cpu().unwrap();
    assert_eq!(c.platform_name(), "cpu");
    // The CPU plugin's default is 4 devices; all are addressable in one process.
    assert_eq!(c.device_count(), 4);
    assert_eq!(c.devices().len(), 4);
    let ids: Vec<i32> = c.addressable_devices().iter().map(|d| d.id).collect();
    assert_eq!(ids, vec![0, 1, 2, 3]);
    assert!(c.addressable_devices().iter().all(|d| d.addressable));
    let api = c.plugin();
    let (major, minor) = api.version();
    assert!(major == 0 && minor >= 81, "{major}.{minor}");
    let (min, cur) = api.stablehlo_versions();
    eprintln!("plugin {} stablehlo {min:?}..{cur:?}", api.describe());
    let cur = cur.expect("the CPU plugin advertises stablehlo_current_version");
    assert!(cur.starts_with("1."), "{cur}");
}

#[test]
fn cpu_device_count_option_sets_the_number_of_devices() {
    for n in [1usize, 8] {
        let c = Client::open(
            &PluginSpec::Platform("cpu".into()),
            &ClientOptions::cpu_devices(n),
        )
        .unwrap();
        assert_eq!(c.device_count(), n);
    }
}

#[test]
fn the_openxla_0_81_plugin_also_works() {
    let path = plugin::install(plugin::known("cpu-openxla").unwrap()).unwrap();
    let c = Client::open(&PluginSpec::Path(path), &ClientOptions::cpu_devices(2)).unwrap();
    assert_eq!(c.plugin().version(), (0, 81));
    assert_eq!(c.platform_name(), "cpu");
    assert_eq!(c.device_count(), 2);
}
