//! `imgscan admission-review`: every request in `../shared/webhook-fixtures/` gets its
//! expected answer (names only, nothing pulled), and reviews of images in a real
//! `docker-registry` are judged on their content.

mod common;
#[path = "common/registry.rs"]
mod registry_harness;

use common::{imgscan, outs, shared};
use registry_harness::Registry;
use serde_json::{json, Value};
use std::io::Write;

fn review(args: &[&str]) -> (Value, String, i32) {
    let o = imgscan(&[&["admission-review"], args].concat());
    let (out, err, code) = outs(&o);
    let v: Value = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("no JSON ({e}): stdout {out}\nstderr {err}"));
    (v, err, code)
}

/// (fixture, exit code, what the audit annotation or message says)
const FIXTURES: &[(&str, i32, &str)] = &[
    ("kube-rs-pod-create.json", 0, "allowed: 1 image(s) judged"),
    (
        "connaisseur/01_deployment.json",
        0,
        "allowed: 1 image(s) judged",
    ),
    ("connaisseur/02_pod.json", 0, "allowed: 1 image(s) judged"),
    (
        "connaisseur/03_replicaset.json",
        0,
        "allowed: 1 image(s) judged",
    ),
    ("connaisseur/04_cronjob.json", 2, "not an AdmissionReview"),
    (
        "connaisseur/05_replication_controller.json",
        0,
        "allowed: 1 image(s) judged",
    ),
    (
        "connaisseur/06_daemonset.json",
        0,
        "allowed: namespace is exempt",
    ),
    (
        "connaisseur/07_statefulset.json",
        0,
        "allowed: 1 image(s) judged",
    ),
    ("connaisseur/08_job.json", 0, "allowed: 1 image(s) judged"),
    (
        "connaisseur/09_dply_multi_image.json",
        2,
        "not an AdmissionReview",
    ),
    ("connaisseur/10_update.json", 0, "allowed: no new image"),
    ("connaisseur/11_role.json", 0, "allowed: kind makes no pods"),
    ("connaisseur/12_err_pod.json", 0, "allowed: no new image"),
    (
        "connaisseur/13_unknown_parent.json",
        2,
        "not an AdmissionReview",
    ),
    (
        "connaisseur/14_deny_me_job.json",
        0,
        "allowed: 1 image(s) judged",
    ),
    (
        "connaisseur/15_allow_me_job.json",
        0,
        "allowed: 1 image(s) judged",
    ),
    (
        "connaisseur/16_mismatch_uid.json",
        0,
        "allowed: 1 image(s) judged",
    ),
    (
        "connaisseur/17_deny_me_pod.json",
        0,
        "allowed: 1 image(s) judged",
    ),
    (
        "connaisseur/18_allow_me_pod.json",
        0,
        "allowed: 1 image(s) judged",
    ),
    (
        "connaisseur/19_pod_initcontainer.json",
        0,
        "allowed: 2 image(s) judged",
    ),
    (
        "connaisseur/20_pod_ephemeralcontainer.json",
        0,
        "allowed: 2 image(s) judged",
    ),
    (
        "connaisseur/21_broken_admission_request.json",
        2,
        "not an AdmissionReview",
    ),
    (
        "connaisseur/22_allow_me_with_index_docker_io.json",
        0,
        "allowed: 1 image(s) judged",
    ),
    (
        "connaisseur/23_alice_digest_dpl.json",
        0,
        "allowed: 1 image(s) judged",
    ),
    (
        "connaisseur/24_alice_tag_digest_dpl.json",
        0,
        "allowed: 1 image(s) judged",
    ),
    (
        "connaisseur/25_null_request.json",
        2,
        "not an AdmissionReview",
    ),
    (
        "connaisseur/26_broken_update_admission_request.json",
        2,
        "not an AdmissionReview",
    ),
    (
        "connaisseur/27_deleted_deployment.json",
        0,
        "allowed: object is being deleted",
    ),
    (
        "connaisseur/28_deleted_deployment_updated.json",
        0,
        "allowed: object is being deleted",
    ),
    (
        "connaisseur/29_deleted_deployment_update_for_delete.json",
        0,
        "allowed: object is being deleted",
    ),
    (
        "kubewarden/pod_with_privileged_containers.json",
        0,
        "allowed: 2 image(s) judged",
    ),
    (
        "kubewarden/pod_without_privileged_containers.json",
        0,
        "allowed: 2 image(s) judged",
    ),
    (
        "k8s-docs/request-scale-subresource.json",
        0,
        "allowed: subresource runs no new image",
    ),
    ("k8s-docs/response-allow.json", 2, "not an AdmissionReview"),
    (
        "k8s-docs/response-deny-minimal.json",
        2,
        "not an AdmissionReview",
    ),
    (
        "k8s-docs/response-deny-status.json",
        2,
        "not an AdmissionReview",
    ),
    ("k8s-docs/response-patch.json", 2, "not an AdmissionReview"),
    (
        "k8s-docs/response-warnings.json",
        2,
        "not an AdmissionReview",
    ),
];

#[test]
fn every_shared_fixture_gets_its_expected_answer() {
    let dir = shared("webhook-fixtures");
    // Every file of the corpus is in the table.
    let mut files = Vec::new();
    for sub in ["", "connaisseur", "kubewarden", "k8s-docs"] {
        for e in std::fs::read_dir(dir.join(sub)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "json") {
                files.push(p.strip_prefix(&dir).unwrap().display().to_string());
            }
        }
    }
    files.sort();
    let mut listed: Vec<String> = FIXTURES.iter().map(|f| f.0.to_string()).collect();
    listed.sort();
    assert_eq!(files, listed);

    for (file, code, says) in FIXTURES {
        let path = dir.join(file);
        let body: Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap_or(Value::Null);
        let (v, err, got) = review(&["--names-only", path.to_str().unwrap()]);
        assert_eq!(got, *code, "{file}: {v}\n{err}");
        let resp = &v["response"];
        let text = format!(
            "{} {}",
            resp["auditAnnotations"]["verdict"].as_str().unwrap_or(""),
            resp["status"]["message"].as_str().unwrap_or("")
        );
        assert!(text.contains(says), "{file}: {says:?} not in {v}");
        if *code == 2 {
            // An invalid body: HTTP 200 with an AdmissionReview carrying no uid, which
            // the apiserver counts as a webhook error (failurePolicy decides).
            assert_eq!(resp["allowed"], false, "{file}");
            assert_eq!(resp["uid"], "", "{file}");
            assert_eq!(resp["status"]["code"], 400, "{file}");
        } else {
            assert_eq!(resp["allowed"], true, "{file}");
            assert_eq!(resp["uid"], body["request"]["uid"], "{file}");
            // The answer speaks the request's version (v1beta1 in, v1beta1 out).
            assert_eq!(v["apiVersion"], body["apiVersion"], "{file}");
            assert_eq!(v["kind"], "AdmissionReview", "{file}");
        }
    }
}

fn pod_review(uid: &str, images: &[&str]) -> Value {
    let cs: Vec<Value> = images
        .iter()
        .enumerate()
        .map(|(i, im)| json!({"name": format!("c{i}"), "image": im}))
        .collect();
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": uid, "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "operation": "CREATE", "userInfo": {}, "namespace": "shop",
        "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                   "spec": {"containers": cs}}}})
}

fn write_review(dir: &std::path::Path, name: &str, v: &Value) -> String {
    let p = dir.join(name);
    std::fs::File::create(&p)
        .unwrap()
        .write_all(v.to_string().as_bytes())
        .unwrap();
    p.display().to_string()
}

#[test]
fn registry_images_are_judged_on_their_content() {
    let reg = Registry::plain();
    let samples = tempfile::tempdir().unwrap();
    imgscan_testkit::write_samples(samples.path());
    reg.push(
        &samples.path().join("clean"),
        "latest",
        "acme/clean:1.0",
        false,
    );
    reg.push(
        &samples.path().join("malicious"),
        "latest",
        "acme/app:1.0",
        false,
    );
    let dir = tempfile::tempdir().unwrap();
    let clean = format!("{}/acme/clean:1.0", reg.host);
    let bad = format!("{}/acme/app:1.0", reg.host);

    let f = write_review(dir.path(), "clean.json", &pod_review("u-clean", &[&clean]));
    let (v, err, code) = review(&["--insecure", "-q", &f]);
    assert_eq!(code, 0, "{v}\n{err}");
    assert_eq!(v["response"]["allowed"], true);
    assert_eq!(v["response"]["uid"], "u-clean");

    let f = write_review(
        dir.path(),
        "bad.json",
        &pod_review("u-bad", &[&clean, &bad]),
    );
    let (v, err, code) = review(&["--insecure", "-q", &f]);
    assert_eq!(code, 1, "{v}\n{err}");
    let r = &v["response"];
    assert_eq!(r["allowed"], false);
    assert_eq!(r["uid"], "u-bad");
    assert_eq!(r["status"]["code"], 403);
    let msg = r["status"]["message"].as_str().unwrap();
    assert!(msg.starts_with(&format!("denied {bad} (sha256:")), "{msg}");
    assert!(msg.contains("CRITICAL IMG-MINER-BINARY"), "{msg}");
    assert!(msg.contains("(layer "), "{msg}");
    assert!(!msg.contains(&clean), "only the bad image is named: {msg}");
    assert_eq!(r["auditAnnotations"]["verdict"], msg);
    for w in r["warnings"].as_array().into_iter().flatten() {
        assert!(w.as_str().unwrap().chars().count() < 120, "{w}");
    }

    // Audit mode allows and says what enforce would have denied.
    let (v, err, code) = review(&["--insecure", "-q", "--audit", &f]);
    assert_eq!(code, 0, "{v}\n{err}");
    let w = v["response"]["warnings"][0].as_str().unwrap();
    assert!(w.starts_with("audit: would be denied"), "{w}");

    // The same image in a namespace the policy exempts is not looked at.
    let mut ex = pod_review("u-ex", &[&bad]);
    ex["request"]["namespace"] = json!("kube-system");
    let f = write_review(dir.path(), "exempt.json", &ex);
    let (v, _, code) = review(&["--insecure", "-q", &f]);
    assert_eq!(code, 0, "{v}");

    // An UPDATE that only keeps the bad image (scale, finalizer) is not blocked.
    let mut up = pod_review("u-up", &[&bad]);
    up["request"]["operation"] = json!("UPDATE");
    up["request"]["oldObject"] = up["request"]["object"].clone();
    let f = write_review(dir.path(), "update.json", &up);
    let (v, _, code) = review(&["--insecure", "-q", &f]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        v["response"]["auditAnnotations"]["verdict"],
        "allowed: no new image"
    );
}

#[test]
fn squatted_name_is_denied_without_a_pull_and_unreachable_follows_policy() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on this port: a pull would fail, a name check needs none.
    let port = registry_harness::free_port();
    let squat = "grafanna/grafana:10";
    let f = write_review(dir.path(), "squat.json", &pod_review("u-s", &[squat]));
    let (v, err, code) = review(&["--insecure", "-q", &f]);
    assert_eq!(code, 1, "{v}\n{err}");
    let msg = v["response"]["status"]["message"].as_str().unwrap();
    assert!(msg.starts_with("denied grafanna/grafana:10: "), "{msg}");
    assert!(msg.contains("image name"), "{msg}");

    let gone = format!("127.0.0.1:{port}/acme/api:1");
    let f = write_review(dir.path(), "gone.json", &pod_review("u-g", &[&gone]));
    let (v, err, code) = review(&["--insecure", "-q", &f]);
    assert_eq!(code, 1, "{v}\n{err}");
    let msg = v["response"]["status"]["message"].as_str().unwrap();
    assert!(
        msg.starts_with(&format!("denied {gone}: not judged (")),
        "{msg}"
    );
    let (v, err, code) = review(&["--insecure", "-q", "--allow-unjudged", &f]);
    assert_eq!(code, 0, "{v}\n{err}");
    let w = v["response"]["warnings"][0].as_str().unwrap();
    assert!(
        w.starts_with(&format!("{gone}: not judged")) && w.chars().count() < 120,
        "{w}"
    );
}

#[test]
fn hostile_bodies_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    for (name, body) in [
        ("deep.json", deep.into_bytes()),
        ("binary.json", vec![0xff, 0xfe, 0x00, 0x80]),
        ("empty.json", vec![]),
    ] {
        let p = dir.path().join(name);
        std::fs::write(&p, &body).unwrap();
        let (v, err, code) = review(&["--names-only", p.to_str().unwrap()]);
        assert_eq!(code, 2, "{name}: {v}\n{err}");
        assert_eq!(v["response"]["status"]["code"], 400, "{name}");
    }
    let big = dir.path().join("big.json");
    std::fs::write(&big, vec![b' '; 4 << 20]).unwrap();
    let o = imgscan(&["admission-review", "--names-only", big.to_str().unwrap()]);
    let (out, err, code) = outs(&o);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("over --max-body"), "{err}");
    // Thousands of containers with distinct images: denied, bounded.
    let many: Vec<String> = (0..3000).map(|i| format!("acme/i{i}:1")).collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    let f = write_review(dir.path(), "many.json", &pod_review("u-m", &refs));
    let (v, _, code) = review(&["--names-only", &f]);
    assert_eq!(code, 1, "{v}");
    assert!(v["response"]["status"]["message"]
        .as_str()
        .unwrap()
        .contains("more than 256"));
}
