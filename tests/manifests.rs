//! `imgscan manifests PATH...` through the command line, against a real registry
//! (Debian's `docker-registry`) on loopback: a Deployment, a CronJob, a `kubectl get -o
//! yaml` List and a directory of them naming a malicious and a clean image; the scan's
//! formats and exit codes; bad YAML named by file and document; `-` for standard input.

mod common;
#[path = "common/registry.rs"]
mod registry_harness;

use common::{imgscan, imgscan_with_stdin, outs};
use registry_harness::Registry;
use serde_json::Value;
use std::path::Path;

fn deployment(image: &str) -> String {
    format!(
        "# Source: shop/templates/api.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  template:\n    spec:\n      initContainers:\n      - name: init\n        image: {image}\n      containers:\n      - name: api\n        image: {image}\n"
    )
}

fn cronjob(image: &str) -> String {
    format!(
        "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: nightly\nspec:\n  schedule: '0 3 * * *'\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers:\n          - name: job\n            image: {image}\n"
    )
}

fn list(image: &str) -> String {
    format!(
        "apiVersion: v1\nkind: List\nmetadata:\n  resourceVersion: \"\"\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata:\n    name: p\n  spec:\n    containers:\n    - name: c\n      image: {image}\n- apiVersion: v1\n  kind: Service\n  metadata:\n    name: s\n"
    )
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

fn ids(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn manifests_are_scanned_with_the_scan_formats_and_exit_codes() {
    let reg = Registry::plain();
    let _samples = reg.push_samples();
    let clean = format!("{}/acme/clean:1.0", reg.host);
    let bad = format!("{}/acme/app:1.0", reg.host);
    let dir = tempfile::tempdir().unwrap();

    // Clean: a helm-template-like stream (comments, `---`, an empty document) and a List.
    let helm = format!(
        "---\n# Source: shop/templates/svc.yaml\napiVersion: v1\nkind: Service\nmetadata: {{name: s}}\n---\n{}---\n# nothing here\n",
        deployment(&clean)
    );
    let f_clean = write(dir.path(), "clean/helm.yaml", &helm);
    let f_list = write(dir.path(), "clean/list.yml", &list(&clean));
    let o = imgscan(&[
        "manifests",
        &f_clean,
        &f_list,
        "--insecure",
        "--format",
        "json",
    ]);
    let (out, err, code) = outs(&o);
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["reports"].as_array().unwrap().len(),
        1,
        "deduplicated: {out}"
    );
    assert!(err.contains("1 image(s) to scan"), "{err}");
    assert!(err.contains("helm.yaml#1 Deployment/api"), "{err}");
    assert!(err.contains("list.yml#0 Pod/p"), "{err}");

    // A directory, recursively: the CronJob's malicious image fails the gate.
    write(dir.path(), "all/jobs/cron.yaml", &cronjob(&bad));
    write(dir.path(), "all/README.md", "kind: Pod\nnot: read\n");
    std::fs::copy(&f_clean, dir.path().join("all/helm.yaml")).unwrap();
    let all = dir.path().join("all").display().to_string();
    let o = imgscan(&["manifests", &all, "--insecure", "--format", "json"]);
    let (out, err, code) = outs(&o);
    assert_eq!(code, 1, "stdout: {out}\nstderr: {err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let reports = v["reports"].as_array().unwrap();
    assert_eq!(reports.len(), 2, "{out}");
    let bad_report = reports
        .iter()
        .find(|r| r.to_string().contains("acme/app"))
        .unwrap();
    assert!(
        ids(bad_report).contains(&"IMG-MINER-BINARY".to_string()),
        "{out}"
    );
    assert!(err.contains("cron.yaml#0 CronJob/nightly"), "{err}");

    // Another of scan's formats.
    let o = imgscan(&["manifests", &all, "--insecure", "--format", "sarif", "-q"]);
    let (out, err, code) = outs(&o);
    assert_eq!(code, 1, "stderr: {err}");
    let sarif: Value = serde_json::from_str(&out).unwrap();
    assert!(
        sarif["runs"].to_string().contains("IMG-MINER-BINARY"),
        "{out}"
    );

    // Standard input; bad YAML is named by file and document, and exits 2 even though
    // the good document before it is scanned clean.
    let stream = format!("{}---\nkind: [unclosed\n", deployment(&clean));
    let (code, out, err) = imgscan_with_stdin(
        &["manifests", "-", "--insecure", "--format", "json"],
        Some(stream.as_bytes()),
    );
    assert_eq!(code, 2, "stdout: {out}\nstderr: {err}");
    assert!(err.contains("-#1: not YAML"), "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["reports"].as_array().unwrap().len(), 1, "{out}");

    // Unreadable input alone: 2.
    let o = imgscan(&["manifests", "/nonexistent/deploy.yaml", "-q"]);
    let (_, err, code) = outs(&o);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("/nonexistent/deploy.yaml"), "{err}");

    // Over --max-file-size: an error, not a silent skip.
    let o = imgscan(&["manifests", &f_clean, "--max-file-size", "64", "-q"]);
    let (_, err, code) = outs(&o);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("larger than 64 bytes"), "{err}");
}
