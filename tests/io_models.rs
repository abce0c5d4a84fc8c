//! The sbgm model fixtures (tests/fixtures/models/, written by the fixtures tools with sbgm
//! 0.0.38 and equinox 0.13.8): every `.eqx` reads against its leaf table, writes back
//! byte-identical, converts to safetensors and back byte-identical, and is refused as another
//! variant's checkpoint with an error naming the first mismatching leaf.

use sbgm_xla::io::{
    LeafSpec, eqx_to_safetensors, inspect, read_eqx, safetensors_to_eqx, skeleton_from_json,
    write_eqx,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn models() -> Option<(PathBuf, serde_json::Value)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models");
    let Ok(text) = std::fs::read_to_string(dir.join("index.json")) else {
        eprintln!("SKIPPED: tests/fixtures/models/index.json is not there (model fixtures absent)");
        return None;
    };
    Some((dir, serde_json::from_str(&text).unwrap()))
}

fn variants(index: &serde_json::Value) -> Vec<(String, u64)> {
    index["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["name"].as_str().unwrap().to_string(),
                v["n_params"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn skeleton(dir: &Path, name: &str) -> (Vec<LeafSpec>, serde_json::Value) {
    let text = std::fs::read_to_string(dir.join(name).join("config.json")).unwrap();
    (
        skeleton_from_json(&text).unwrap(),
        serde_json::from_str(&text).unwrap(),
    )
}

#[test]
fn every_model_fixture_round_trips_byte_identical() {
    let Some((dir, index)) = models() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let vs = variants(&index);
    assert!(vs.len() >= 16, "{} variants", vs.len());
    for (name, n_params) in vs {
        let (skel, config) = skeleton(&dir, &name);
        assert_eq!(
            skel.len() as u64,
            config["n_records"].as_u64().unwrap(),
            "{name}"
        );
        let eqx = dir.join(&name).join("model.eqx");
        let leaves = read_eqx(&eqx, &skel).unwrap_or_else(|e| panic!("{name}: {e}"));
        // Scalar leaves hold the values the config records.
        for (entry, (_, a)) in config["leaves"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["written"] != false)
            .zip(&leaves)
        {
            if let Some(v) = entry.get("value") {
                let want = v
                    .as_f64()
                    .unwrap_or_else(|| f64::from(v.as_bool().unwrap() as u8));
                assert_eq!(a.to_f64_vec(), vec![want], "{name} {}", entry["path"]);
            }
        }
        let out = tmp.path().join(format!("{name}.eqx"));
        write_eqx(&out, &leaves).unwrap();
        let original = std::fs::read(&eqx).unwrap();
        assert!(
            std::fs::read(&out).unwrap() == original,
            "{name}: write-back differs"
        );

        let st = tmp.path().join(format!("{name}.safetensors"));
        eqx_to_safetensors(&eqx, &skel, &st, "params", &BTreeMap::new()).unwrap();
        let back = tmp.path().join(format!("{name}.back.eqx"));
        safetensors_to_eqx(&st, &skel, &back, "params").unwrap();
        assert!(
            std::fs::read(&back).unwrap() == original,
            "{name}: via safetensors differs"
        );

        // The parameter count of the array leaves is sbgm's.
        let report = inspect(&eqx, Some(&skel)).unwrap();
        let arrays: usize = report
            .tensors
            .iter()
            .zip(&skel)
            .filter(|(_, s)| s.kind == sbgm_xla::io::LeafKind::Array)
            .map(|(t, _)| t.numel())
            .sum();
        assert_eq!(arrays as u64, n_params, "{name}");
    }
}

#[test]
fn another_variants_checkpoint_is_refused_naming_the_leaf() {
    let Some((dir, index)) = models() else { return };
    let vs = variants(&index);
    let mut checked = 0;
    for (a, _) in &vs {
        for (b, _) in &vs {
            if a == b {
                continue;
            }
            let (skel, _) = skeleton(&dir, a);
            let e = read_eqx(&dir.join(b).join("model.eqx"), &skel);
            let (other, _) = skeleton(&dir, b);
            if other == skel {
                assert!(e.is_ok());
                continue;
            }
            let e = e.unwrap_err().to_string();
            assert!(e.contains("model.eqx"), "{a} <- {b}: {e}");
            assert!(
                e.contains("does not match the model")
                    || e.contains("the file ends after")
                    || e.contains("remain after"),
                "{a} <- {b}: {e}"
            );
            checked += 1;
        }
    }
    assert!(checked > 100);
}
