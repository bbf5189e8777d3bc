//! False positives on real software: Debian rootfs tars built with mmdebstrap by
//! `scripts/debian-rootfs.sh VARIANT` (cached outside the repo; `make test` builds them
//! all first), packed as gzip layers under the config and history real images carry,
//! with the layers such images add on top (`tests/common/fp_images.rs`), and scanned
//! through the CLI. For each image nothing at MEDIUM or above may be reported, the scan
//! must be complete and exit 0 with `--fail-on medium`; the LOW findings are printed by
//! id (run with `--nocapture` to see them).
//!
//! The images: bookworm minbase (`bash`, plus a small app layer); bookworm with python3,
//! perl, git, curl, openssh, gnupg, cron, systemd and nginx, once as the nginx image
//! (`/docker-entrypoint.sh`, `nginx -g 'daemon off;'`, a `curl | gpg --dearmor` key
//! install) and once as a systemd image (`/sbin/init`, cron jobs, a unit that fetches its
//! config); trixie minbase as a second suite (Alpine's packages are not reachable from
//! here). One test per rootfs, so each tar is read and compressed once.

mod common;
#[path = "common/fp_images.rs"]
mod fp_images;

use common::{imgscan, outs};
use imgscan_testkit::{layer_tar, single_image_layout, Comp, Ent, ImageSpec, Layer};
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::Command;
use std::time::Instant;

/// The cached rootfs tar of `variant`, built by the script if missing.
fn rootfs_tar(variant: &str) -> Vec<u8> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/debian-rootfs.sh");
    let o = Command::new("bash")
        .arg(script)
        .arg(variant)
        .output()
        .expect("running scripts/debian-rootfs.sh");
    assert!(
        o.status.success(),
        "building the Debian {variant} rootfs failed (needs mmdebstrap and Debian's mirror): {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let p = String::from_utf8(o.stdout).unwrap().trim().to_string();
    assert!(!p.is_empty(), "debian-rootfs.sh printed no path");
    let tar = std::fs::read(&p).unwrap();
    assert!(
        tar.len() > 50 << 20,
        "{p}: rootfs tar is only {} bytes",
        tar.len()
    );
    tar
}

/// The config and history of one image; `layers` are the ones added above the rootfs,
/// one per non-empty history step after the first.
struct Image {
    name: &'static str,
    entrypoint: Vec<&'static str>,
    cmd: Vec<&'static str>,
    env: Vec<&'static str>,
    ports: Vec<&'static str>,
    /// (created_by, empty_layer)
    history: Vec<(String, bool)>,
    layers: Vec<Vec<Ent>>,
}

fn nop(s: &str) -> (String, bool) {
    (format!("/bin/sh -c #(nop) {s}"), true)
}

fn run(s: &str) -> (String, bool) {
    (s.to_string(), false)
}

/// Scans `img` over the rootfs layer `base` and asserts it stays below MEDIUM, complete,
/// exit 0; prints the LOW findings by id and where they are.
fn assert_quiet(base: &Layer, img: Image) {
    let mut layers = vec![base.clone()];
    layers.extend(
        img.layers
            .iter()
            .map(|ents| Layer::from_tar(&layer_tar(ents), Comp::Gzip)),
    );
    let non_empty = img.history.iter().filter(|(_, e)| !e).count();
    assert_eq!(non_empty, layers.len(), "{}: history and layers", img.name);
    let mut spec = ImageSpec::new(layers);
    spec.entrypoint = img.entrypoint.iter().map(|s| s.to_string()).collect();
    spec.cmd = img.cmd.iter().map(|s| s.to_string()).collect();
    spec.env.extend(img.env.iter().map(|s| s.to_string()));
    spec.exposed_ports = img.ports.iter().map(|s| s.to_string()).collect();
    spec.history = img.history;
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join(img.name);
    single_image_layout(&layout, &spec, "latest");
    drop(spec);
    let target = format!("oci-dir:{}", layout.display());

    let t = Instant::now();
    let o = imgscan(&[
        "scan",
        &target,
        "--format",
        "json",
        "--fail-on",
        "medium",
        "-q",
    ]);
    let took = t.elapsed();
    let (out, err, code) = outs(&o);
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    let report = &v["reports"][0];
    let findings = report["findings"].as_array().unwrap();
    let loud: Vec<String> = findings
        .iter()
        .filter(|f| matches!(f["severity"].as_str(), Some("MEDIUM" | "HIGH" | "CRITICAL")))
        .map(|f| serde_json::to_string_pretty(f).unwrap())
        .collect();
    // Every finding by severity and id, with where it is (all LOW when the test passes).
    let mut by_id: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in findings {
        let at = f["evidence"]
            .as_array()
            .and_then(|e| e.first())
            .map(|e| match e["location"]["path"].as_str() {
                Some(p) => p.to_string(),
                None => e["location"].to_string(),
            })
            .unwrap_or_default();
        let sev = f["severity"].as_str().unwrap_or("?");
        by_id
            .entry(format!("{sev} {}", f["id"].as_str().unwrap_or("?")))
            .or_default()
            .push(at);
    }
    eprintln!(
        "{}: scanned in {:.2} s, {} findings",
        img.name,
        took.as_secs_f64(),
        findings.len()
    );
    for (id, at) in &by_id {
        let shown: Vec<&str> = at.iter().take(8).map(String::as_str).collect();
        let more = match at.len() - shown.len() {
            0 => String::new(),
            n => format!(", {n} more"),
        };
        eprintln!("  {id}: {} ({}{more})", at.len(), shown.join(", "));
    }
    assert!(
        loud.is_empty(),
        "{}: findings at MEDIUM or above:\n{}",
        img.name,
        loud.join("\n")
    );
    assert!(
        report.get("incomplete").is_none(),
        "{}: the scan did not read everything: {}",
        img.name,
        report["incomplete"]
    );
    assert_eq!(code, 0, "{}: stderr: {err}", img.name);
}

#[test]
fn debian_minbase_has_no_medium_or_higher_findings() {
    let base = Layer::from_tar(&rootfs_tar("minbase"), Comp::Gzip);
    // As the official image is, then as a small app built on it.
    assert_quiet(
        &base,
        Image {
            name: "bookworm-minbase",
            entrypoint: vec![],
            cmd: vec!["bash"],
            env: vec![],
            ports: vec![],
            history: vec![
                run("# debian.sh --arch 'amd64' out/ 'bookworm' '@1700000000'"),
                nop("CMD [\"bash\"]"),
            ],
            layers: vec![],
        },
    );
    assert_quiet(
        &base,
        Image {
            name: "bookworm-minbase-app",
            entrypoint: vec!["/usr/local/bin/start.sh"],
            cmd: vec![],
            env: vec!["LOG_LEVEL=info"],
            ports: vec!["8080/tcp"],
            history: vec![
                run("/bin/sh -c #(nop) ADD file:debian-bookworm-minbase in / "),
                nop("CMD [\"bash\"]"),
                run("RUN /bin/sh -c apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/* # buildkit"),
                run("COPY start.sh env /usr/local/bin/ # buildkit"),
                nop("EXPOSE map[8080/tcp:{}]"),
                nop("ENTRYPOINT [\"/usr/local/bin/start.sh\"]"),
            ],
            layers: vec![vec![Ent::dir("etc/ssl/certs")], fp_images::app_layer()],
        },
    );
}

#[test]
fn debian_full_has_no_medium_or_higher_findings() {
    let base = Layer::from_tar(&rootfs_tar("full"), Comp::Gzip);
    assert_quiet(
        &base,
        Image {
            name: "bookworm-nginx",
            entrypoint: vec!["/docker-entrypoint.sh"],
            cmd: vec!["nginx", "-g", "daemon off;"],
            env: vec!["NGINX_VERSION=1.27.3", "NJS_VERSION=0.8.7"],
            ports: vec!["80/tcp"],
            history: vec![
                run("/bin/sh -c #(nop) ADD file:debian-bookworm-full in / "),
                nop("CMD [\"bash\"]"),
                nop("LABEL maintainer=NGINX Docker Maintainers <docker-maint@nginx.com>"),
                nop("ENV NGINX_VERSION=1.27.3"),
                run(fp_images::NGINX_KEY_RUN),
                run("COPY docker-entrypoint.sh 10-listen-on-ipv6-by-default.sh 30-tune-worker-processes.sh / # buildkit"),
                nop("ENTRYPOINT [\"/docker-entrypoint.sh\"]"),
                nop("EXPOSE map[80/tcp:{}]"),
                nop("STOPSIGNAL SIGQUIT"),
                nop("CMD [\"nginx\" \"-g\" \"daemon off;\"]"),
            ],
            layers: vec![
                fp_images::nginx_key_layer(),
                fp_images::nginx_entrypoint_layer(),
            ],
        },
    );
    assert_quiet(
        &base,
        Image {
            name: "bookworm-systemd",
            entrypoint: vec![],
            cmd: vec!["/sbin/init"],
            env: vec!["container=docker"],
            ports: vec!["22/tcp", "80/tcp"],
            history: vec![
                run("/bin/sh -c #(nop) ADD file:debian-bookworm-full in / "),
                nop("ENV container=docker"),
                run("RUN /bin/sh -c apt-get update && apt-get install -y curl gnupg && curl -fsSL https://example.org/key.gpg | gpg --dearmor -o /usr/share/keyrings/example.gpg && systemctl enable ssh cron nginx && systemctl mask systemd-logind.service getty.target && rm -rf /var/lib/apt/lists/* # buildkit"),
                nop("EXPOSE map[22/tcp:{} 80/tcp:{}]"),
                nop("STOPSIGNAL SIGRTMIN+3"),
                nop("CMD [\"/sbin/init\"]"),
            ],
            layers: vec![fp_images::systemd_app_layer()],
        },
    );
}

#[test]
fn debian_trixie_minbase_has_no_medium_or_higher_findings() {
    let base = Layer::from_tar(&rootfs_tar("trixie"), Comp::Gzip);
    assert_quiet(
        &base,
        Image {
            name: "trixie-minbase",
            entrypoint: vec![],
            cmd: vec!["bash"],
            env: vec![],
            ports: vec![],
            history: vec![
                run("# debian.sh --arch 'amd64' out/ 'trixie' '@1700000000'"),
                nop("CMD [\"bash\"]"),
            ],
            layers: vec![],
        },
    );
}
