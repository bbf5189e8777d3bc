//! False positives on real software: a Debian bookworm minbase rootfs, built with
//! mmdebstrap by `scripts/debian-rootfs.sh` (cached outside the repo), packed as a gzip
//! layer and scanned through the CLI. Nothing at MEDIUM or above may be reported, and
//! the scan must be complete (exit 0 with `--fail-on medium`).

mod common;

use common::fixtures::{single_image_layout, Comp, ImageSpec, Layer};
use common::{imgscan, outs};
use serde_json::Value;
use std::process::Command;

fn debian_rootfs_tar() -> std::path::PathBuf {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/debian-rootfs.sh");
    let o = Command::new("bash")
        .arg(script)
        .output()
        .expect("running scripts/debian-rootfs.sh");
    assert!(
        o.status.success(),
        "building the Debian rootfs failed (needs mmdebstrap and Debian's mirror): {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let p = String::from_utf8(o.stdout).unwrap().trim().to_string();
    assert!(!p.is_empty(), "debian-rootfs.sh printed no path");
    p.into()
}

#[test]
fn debian_minbase_has_no_medium_or_higher_findings() {
    let tar = std::fs::read(debian_rootfs_tar()).unwrap();
    assert!(
        tar.len() > 50 << 20,
        "rootfs tar is only {} bytes",
        tar.len()
    );
    let mut spec = ImageSpec::new(vec![Layer::from_tar(&tar, Comp::Gzip)]);
    spec.cmd = vec!["bash".into()];
    spec.history = vec![
        (
            "/bin/sh -c #(nop) ADD file:debian-bookworm-minbase in /".into(),
            false,
        ),
        ("/bin/sh -c #(nop)  CMD [\"bash\"]".into(), true),
    ];
    drop(tar);
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("debian");
    single_image_layout(&layout, &spec, "bookworm");
    let target = format!("oci-dir:{}", layout.display());

    let o = imgscan(&[
        "scan",
        &target,
        "--format",
        "json",
        "--fail-on",
        "medium",
        "-q",
    ]);
    let (out, err, code) = outs(&o);
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    let report = &v["reports"][0];
    let loud: Vec<String> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| matches!(f["severity"].as_str(), Some("MEDIUM" | "HIGH" | "CRITICAL")))
        .map(|f| serde_json::to_string_pretty(f).unwrap())
        .collect();
    assert!(
        loud.is_empty(),
        "findings at MEDIUM or above on Debian:\n{}",
        loud.join("\n")
    );
    assert!(
        report.get("incomplete").is_none(),
        "the scan did not read everything: {}",
        report["incomplete"]
    );
    assert_eq!(code, 0, "stderr: {err}");
}
