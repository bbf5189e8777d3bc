//! `imgscan inspect` and `imgscan scan` against a real registry (Debian's
//! `docker-registry`) on loopback, through the command line a user types.

mod common;
#[path = "common/registry.rs"]
mod registry_harness;

use common::{imgscan, outs};
use registry_harness::Registry;
use serde_json::Value;

#[test]
fn inspect_and_scan_a_local_registry_with_insecure() {
    let reg = Registry::plain();
    let _samples = reg.push_samples();
    let clean = format!("{}/acme/clean:1.0", reg.host);
    let bad = format!("{}/acme/app:1.0", reg.host);

    let o = imgscan(&["inspect", &clean, "--insecure", "--format", "json", "-q"]);
    let (out, err, code) = outs(&o);
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    let v: Value = serde_json::from_str(&out).expect("inspect json");
    let text = v.to_string();
    assert!(
        text.contains(&format!("{}/acme/clean:1.0", reg.host)),
        "{text}"
    );
    assert!(text.contains("sha256:"), "{text}");

    // Plain HTTP without --insecure is refused with advice.
    let o = imgscan(&["inspect", &clean, "-q"]);
    let (out, err, code) = outs(&o);
    assert_eq!(code, 2, "stdout: {out}\nstderr: {err}");
    assert!(err.contains("--insecure"), "{err}");
    assert!(err.contains(&reg.host), "{err}");

    let o = imgscan(&["scan", &clean, "--insecure", "--format", "json", "-q"]);
    let (out, err, code) = outs(&o);
    assert_eq!(code, 0, "clean image: stdout: {out}\nstderr: {err}");

    let o = imgscan(&[&bad, "--insecure", "--format", "json", "-q"]);
    let (out, err, code) = outs(&o);
    assert_eq!(code, 1, "malicious image: stdout: {out}\nstderr: {err}");
    let v: Value = serde_json::from_str(&out).expect("scan json");
    let ids: Vec<&str> = v["reports"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"IMG-MINER-BINARY"), "{ids:?}");
    assert!(
        ids.contains(&"YARAL-t1204_003_malicious_image_execution"),
        "the seed rule runs on the image's events: {ids:?}"
    );
}

#[test]
fn missing_image_is_an_error_naming_target_and_cause() {
    let reg = Registry::plain();
    let target = format!("{}/nobody/here:1", reg.host);
    let o = imgscan(&["scan", &target, "--insecure", "-q"]);
    let (out, err, code) = outs(&o);
    assert_eq!(code, 2, "stdout: {out}\nstderr: {err}");
    assert!(err.contains(&target), "{err}");
    assert!(err.contains("manifest unknown"), "{err}");
}
