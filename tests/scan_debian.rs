//! False positives on real software: a Debian bookworm minbase rootfs (built once with
//! mmdebstrap by `scripts/debian-rootfs.sh`, cached outside the repo) scans with no finding
//! at MEDIUM or above, and reads completely.

use std::process::Command;

#[test]
fn debian_minbase_has_nothing_at_medium_or_above() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/debian-rootfs.sh");
    let out = Command::new("bash")
        .arg(script)
        .output()
        .expect("running debian-rootfs.sh");
    assert!(
        out.status.success(),
        "debian-rootfs.sh failed (run `make setup`): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tar = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let d = tempfile::tempdir().unwrap();
    let spec = imgscan::samples::ImageSpec {
        cmd: vec!["bash".into()],
        env: vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()],
        history: vec![("mmdebstrap --variant=minbase bookworm".into(), false)],
        ..Default::default()
    };
    imgscan::samples::write_oci_layout_from_tar(d.path(), tar.as_ref(), &spec).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_imgscan"))
        .args(["scan", "--quiet", "--format", "json", "--fail-on", "medium"])
        .arg(format!("oci-dir:{}", d.path().display()))
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let report = &doc["reports"][0];
    assert_eq!(report["incomplete"], serde_json::Value::Null, "{report}");
    let bad: Vec<String> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| !matches!(f["severity"].as_str(), Some("LOW" | "INFO")))
        .map(|f| format!("{} {} {}", f["severity"], f["id"], f["title"]))
        .collect();
    assert!(
        bad.is_empty(),
        "findings at MEDIUM or above on Debian: {bad:#?}"
    );
    assert_eq!(out.status.code(), Some(0));
}
