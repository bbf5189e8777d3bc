//! Local daemons as sources, against real daemons started here: `dockerd` and
//! `podman system service`, each in a temporary root, loaded with the malicious sample by
//! their own `load` command, and stopped after. A daemon that cannot start here makes its
//! test print `SKIPPED: why` (past the harness's capture, so `make test` shows it) and
//! return.

mod common;
#[path = "common/daemons.rs"]
mod daemons_harness;
#[path = "common/registry.rs"]
mod registry_harness;

use common::{imgscan, outs};
use daemons_harness::Daemon;
use registry_harness::Registry;
use serde_json::Value;
use std::path::Path;

/// The daemon `$start` gave, or a `SKIPPED` line and a return from the test.
macro_rules! started {
    ($start:expr, $what:literal) => {
        match $start {
            Ok(d) => d,
            Err(e) => {
                common::skipped(&format!(concat!($what, " cannot run here: {}"), e));
                return;
            }
        }
    };
}

/// The malicious sample as a `docker save` archive tagged `name`.
fn malicious_archive(dir: &Path, name: &str) -> std::path::PathBuf {
    let layout = dir.join("layout");
    imgscan_testkit::single_image_layout(&layout, &imgscan_testkit::malicious_sample(), "latest");
    let out = dir.join("malicious.tar");
    imgscan_testkit::docker_archive(&layout, "latest", &out, name);
    out
}

fn scan(args: &[&str]) -> (i32, Value, String) {
    let mut a = vec!["scan", "-q", "--format", "json"];
    a.extend_from_slice(args);
    let o = imgscan(&a);
    let (out, err, code) = outs(&o);
    let v = serde_json::from_str(&out).unwrap_or(Value::Null);
    (
        code,
        v,
        format!("exit {code}\nstdout: {out}\nstderr: {err}"),
    )
}

fn ids(v: &Value) -> Vec<String> {
    v["reports"][0]["findings"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| f["id"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// A socket path nothing listens on.
fn nowhere(dir: &Path) -> String {
    format!("unix://{}", dir.join("no-daemon.sock").display())
}

#[test]
fn docker_daemon_images_and_image_src_order() {
    let d = started!(Daemon::docker(), "dockerd");
    let reg = Registry::plain();
    let tmp = tempfile::tempdir().unwrap();
    // A name that points at the test registry, but only the daemon holds it: were it
    // pulled, the registry would answer "manifest unknown" and the scan would exit 2.
    let local = format!("{}/acme/local:1.0", reg.host);
    let archive = malicious_archive(tmp.path(), &local);
    d.load(&archive).unwrap();
    // A clean image only the registry holds.
    let samples = tmp.path().join("samples");
    imgscan_testkit::write_samples(&samples);
    reg.push(&samples.join("clean"), "latest", "acme/remote:1.0", false);
    let remote = format!("{}/acme/remote:1.0", reg.host);
    let host = d.url();
    let no_podman = nowhere(tmp.path());
    let common = [
        "--docker-host",
        &host,
        "--podman-host",
        &no_podman,
        "--insecure",
    ];

    // Explicit scheme: the malicious sample's findings come through the daemon.
    let t = format!("docker:{local}");
    let (code, v, why) = scan(&[&[t.as_str()][..], &common[..]].concat());
    assert_eq!(code, 1, "{why}");
    let found = ids(&v);
    assert!(found.iter().any(|i| i == "IMG-MINER-BINARY"), "{found:?}");
    assert_eq!(v["reports"][0]["source"]["kind"], "docker", "{why}");
    assert_eq!(v["reports"][0]["source"]["address"], host.as_str(), "{why}");
    // The hidden (whited-out) miner of layer 2 is still seen: layer order came through.
    assert!(
        v.to_string().contains("tmp/kdevtmpfsi"),
        "the whited-out miner should be reported: {why}"
    );

    // Unprefixed, default --image-src: found in Docker, so the registry is not asked.
    let (code, v, why) = scan(&[&[local.as_str()][..], &common[..]].concat());
    assert_eq!(code, 1, "{why}");
    assert_eq!(v["reports"][0]["source"]["kind"], "docker", "{why}");
    assert_eq!(v["reports"][0]["target"], local.as_str(), "{why}");

    // In no daemon: falls through to the registry.
    let (code, v, why) = scan(&[&[remote.as_str()][..], &common[..]].concat());
    assert_eq!(code, 0, "{why}");
    assert_eq!(v["reports"][0]["source"]["kind"], "remote", "{why}");

    // `registry:` and `--image-src remote` never look in the daemon.
    let t = format!("registry:{local}");
    let (code, _, why) = scan(&[&[t.as_str()][..], &common[..]].concat());
    assert_eq!(code, 2, "{why}");
    assert!(why.contains("manifest unknown"), "{why}");
    let (code, _, why) =
        scan(&[&[local.as_str(), "--image-src", "remote"][..], &common[..]].concat());
    assert_eq!(code, 2, "{why}");

    // --image-src without remote: a miss everywhere is an error naming each source.
    let (code, _, why) = scan(
        &[
            &["nobody/here:1", "--image-src", "docker,podman"][..],
            &common[..],
        ]
        .concat(),
    );
    assert_eq!(code, 2, "{why}");
    assert!(why.contains("has no image nobody/here:1"), "{why}");
    assert!(
        why.contains("did not answer"),
        "the podman miss is named: {why}"
    );

    // Explicit scheme, image absent / daemon absent: clear errors.
    let (code, _, why) = scan(&[&["docker:nobody/here:1"][..], &common[..]].concat());
    assert_eq!(code, 2, "{why}");
    assert!(why.contains("has no image nobody/here:1"), "{why}");
    let (code, _, why) = scan(&["docker:alpine", "--docker-host", &no_podman]);
    assert_eq!(code, 2, "{why}");
    assert!(why.contains("did not answer"), "{why}");
    assert!(why.contains("--docker-host"), "{why}");

    // The table header says where the image came from.
    let o = imgscan(&[
        "scan",
        "-q",
        &local,
        "--docker-host",
        &host,
        "--podman-host",
        &no_podman,
    ]);
    let (out, err, code) = outs(&o);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(out.contains(&format!("from docker ({host})")), "{out}");
}

#[test]
fn podman_service_images() {
    let p = started!(Daemon::podman(), "podman system service");
    let tmp = tempfile::tempdir().unwrap();
    let name = "localhost/acme/podapp:2";
    let archive = malicious_archive(tmp.path(), name);
    if let Err(e) = p.load(&archive) {
        panic!("podman load of a skopeo docker-archive: {e}");
    }
    let host = p.url();
    let no_docker = nowhere(tmp.path());

    let t = format!("podman:{name}");
    let (code, v, why) = scan(&[&t, "--podman-host", &host]);
    assert_eq!(code, 1, "{why}");
    assert!(ids(&v).iter().any(|i| i == "IMG-MINER-BINARY"), "{why}");
    assert_eq!(v["reports"][0]["source"]["kind"], "podman", "{why}");

    // Unprefixed with Docker not running: Docker is "not here", Podman has it, and
    // the registry (localhost:80, where nothing listens) is never asked.
    let (code, v, why) = scan(&[name, "--docker-host", &no_docker, "--podman-host", &host]);
    assert_eq!(code, 1, "{why}");
    assert_eq!(v["reports"][0]["source"]["kind"], "podman", "{why}");
}

#[test]
fn containerd_images_by_name_digest_and_namespace() {
    let c = started!(Daemon::containerd(), "containerd");
    let tmp = tempfile::tempdir().unwrap();
    let archive = malicious_archive(tmp.path(), "acme/ctrd:1.0");
    c.load(&archive).unwrap();
    let listed = c.ctr(&["images", "ls", "-q"]).unwrap();
    assert!(listed.contains("docker.io/acme/ctrd:1.0"), "{listed}");
    let addr = c.url();
    let nowhere = nowhere(tmp.path());

    // Explicit scheme: findings, the whited-out miner (layer order), where it came from.
    let (code, v, why) = scan(&["containerd:acme/ctrd:1.0", "--containerd-address", &addr]);
    assert_eq!(code, 1, "{why}");
    assert!(ids(&v).iter().any(|i| i == "IMG-MINER-BINARY"), "{why}");
    assert!(v.to_string().contains("tmp/kdevtmpfsi"), "{why}");
    let r = &v["reports"][0];
    assert_eq!(r["source"]["kind"], "containerd", "{why}");
    assert_eq!(
        r["source"]["address"],
        format!("{addr} namespace default"),
        "{why}"
    );
    let digest = r["manifest_digest"]
        .as_str()
        .unwrap_or_else(|| panic!("no manifest digest: {why}"))
        .to_string();
    let found = ids(&v);

    // By digest alone: no image record has that name, the content store has the blob.
    let t = format!("containerd:acme/ctrd@{digest}");
    let (code, v, why) = scan(&[&t, "--containerd-address", &addr]);
    assert_eq!(code, 1, "{why}");
    assert_eq!(ids(&v), found, "{why}");

    // Unprefixed, default --image-src (docker, containerd, podman, remote): Docker is
    // not running, containerd has it, the registry is never asked.
    let (code, v, why) = scan(&[
        "acme/ctrd:1.0",
        "--docker-host",
        &nowhere,
        "--podman-host",
        &nowhere,
        "--containerd-address",
        &addr,
    ]);
    assert_eq!(code, 1, "{why}");
    assert_eq!(v["reports"][0]["source"]["kind"], "containerd", "{why}");

    // Another namespace, an absent image, an absent socket: errors that say which.
    let (code, _, why) = scan(&[
        "containerd:acme/ctrd:1.0",
        "--containerd-address",
        &addr,
        "--containerd-namespace",
        "k8s.io",
    ]);
    assert_eq!(code, 2, "{why}");
    assert!(why.contains("(namespace k8s.io) has no image"), "{why}");
    let (code, _, why) = scan(&["containerd:nobody/here:1", "--containerd-address", &addr]);
    assert_eq!(code, 2, "{why}");
    assert!(
        why.contains("has no image docker.io/nobody/here:1"),
        "{why}"
    );
    let (code, _, why) = scan(&["containerd:acme/ctrd:1.0", "--containerd-address", &nowhere]);
    assert_eq!(code, 2, "{why}");
    assert!(why.contains("no containerd socket"), "{why}");
    assert!(why.contains("--containerd-address"), "{why}");

    // A layer deleted from the content store: the scan names it and does not exit clean.
    let layer = r["layers"][1]["digest"]
        .as_str()
        .unwrap_or_else(|| panic!("no layer digest: {r}"))
        .to_string();
    c.ctr(&["content", "rm", &layer]).unwrap();
    let (code, _, why) = scan(&["containerd:acme/ctrd:1.0", "--containerd-address", &addr]);
    assert_eq!(code, 2, "{why}");
    assert!(
        why.contains(&layer) && why.contains("containerd content store"),
        "{why}"
    );
}

/// What a node's pull leaves in containerd: a multi-platform index whose other platforms'
/// manifests were never fetched. The requested platform is read; asking for another names
/// the missing manifest.
#[test]
fn containerd_index_with_one_platform_present() {
    let c = started!(Daemon::containerd(), "containerd");
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("multi");
    let (_, amd, arm) = imgscan_testkit::multi_arch_layout(&layout, "latest");
    let archive = tmp.path().join("multi.tar");
    imgscan_testkit::oci_archive(&layout, &archive);
    c.ctr(&[
        "images",
        "import",
        "--no-unpack",
        "--base-name",
        "docker.io/acme/multi",
        archive.to_str().unwrap(),
    ])
    .unwrap();
    // Imported for this host's platform only; make sure the arm64 manifest is absent.
    let _ = c.ctr(&["content", "rm", &arm.digest]);
    let addr = c.url();

    let (code, v, why) = scan(&[
        "containerd:acme/multi:latest",
        "--containerd-address",
        &addr,
    ]);
    assert_eq!(code, 0, "{why}");
    assert_eq!(
        v["reports"][0]["manifest_digest"],
        amd.digest.as_str(),
        "{why}"
    );
    assert_eq!(v["reports"][0]["platform"], "linux/amd64", "{why}");

    let (code, _, why) = scan(&[
        "containerd:acme/multi:latest",
        "--containerd-address",
        &addr,
        "--platform",
        "linux/arm64",
    ]);
    assert_eq!(code, 2, "{why}");
    assert!(
        why.contains(&arm.digest) && why.contains("containerd content store"),
        "{why}"
    );
}
