//! `--format html` loaded in headless Debian Chromium: the DOM Chromium builds from the page
//! (after its own script ran) is checked against the JSON report of the same image: the
//! findings per severity, one timeline row per layer, the mark on a file a later layer
//! deleted, and that a `<script>` in a file name is text, not markup. Skipped with a message
//! when `/usr/bin/chromium` is missing (scripts/setup-test.sh installs it).

mod common;

use common::{imgscan, outs};
use imgscan_testkit::{single_image_layout, Comp, Ent, ImageSpec, Layer};
use std::path::Path;
use std::process::Command;

const CHROMIUM: &str = "/usr/bin/chromium";
/// What the hostile file name's script would do if it ran.
const HOSTILE_DIR: &str = "opt/<script>document.body.dataset.pwned='yes'</script>";

/// Three layers: a miner dropped in layer 0 and deleted by layer 1 (hidden), and a
/// miner under a directory whose name is a script in layer 2.
fn image(dir: &Path) {
    let miner = b"#!/bin/sh\nsleep 1\n";
    let l0 = Layer::new(
        &[
            Ent::file("etc/os-release", b"ID=test\n"),
            Ent::exe("tmp/kdevtmpfsi", miner),
        ],
        Comp::Gzip,
    );
    let l1 = Layer::new(&[Ent::Whiteout("tmp/kdevtmpfsi".into())], Comp::Gzip);
    let l2 = Layer::new(
        &[Ent::exe(&format!("{HOSTILE_DIR}/kdevtmpfsi"), miner)],
        Comp::None,
    );
    single_image_layout(dir, &ImageSpec::new(vec![l0, l1, l2]), "t");
}

fn dump_dom(page: &Path) -> Option<String> {
    if !Path::new(CHROMIUM).exists() {
        eprintln!("SKIP html_report: {CHROMIUM} is missing (apt-get install chromium)");
        return None;
    }
    let profile = tempfile::tempdir().unwrap();
    let o = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("running chromium");
    let dom = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success() && dom.contains("</html>"),
        "chromium failed: {}\n{dom}",
        String::from_utf8_lossy(&o.stderr)
    );
    Some(dom)
}

#[test]
fn html_report_in_chromium() {
    let d = tempfile::tempdir().unwrap();
    let layout = d.path().join("layout");
    image(&layout);
    let target = format!("oci-dir:{}", layout.display());
    let page = d.path().join("report.html");
    let o = imgscan(&[
        "scan",
        "--quiet",
        &target,
        "--format",
        "html",
        "-o",
        page.to_str().unwrap(),
    ]);
    let (_, err, code) = outs(&o);
    assert_eq!(code, 1, "{err}");
    let (json, err, _) = outs(&imgscan(&["scan", "--quiet", &target, "--format", "json"]));
    let v: serde_json::Value = serde_json::from_str(&json).expect(&err);
    let findings = v["reports"][0]["findings"].as_array().unwrap().clone();
    assert!(findings.len() >= 2, "{json}");

    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "self-contained: no address to fetch"
    );
    let Some(dom) = dump_dom(&page) else { return };

    // Findings per severity, as in the JSON report.
    for sev in ["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO"] {
        let want = findings.iter().filter(|f| f["severity"] == sev).count();
        let got = dom
            .matches(&format!(
                "<article class=\"finding\" data-severity=\"{sev}\""
            ))
            .count();
        assert_eq!(got, want, "{sev} findings in the DOM");
        let count = format!("<span class=\"count\" data-severity=\"{sev}\">{want} {sev}</span>");
        assert!(dom.contains(&count), "summary count {count}");
    }
    // One timeline row per layer, each with the history step that made it.
    assert_eq!(
        dom.matches("<li class=\"layer").count(),
        3,
        "three layer rows"
    );
    for i in 0..3 {
        assert!(
            dom.contains(&format!("data-layer=\"{i}\"")),
            "row for layer {i}"
        );
        assert!(
            dom.contains(&format!("ADD layer{i} /")),
            "history of layer {i}"
        );
    }
    // The deleted miner is marked as hidden by layer 1, and layer 0 shows its finding.
    assert!(
        dom.contains("<span class=\"hidden-file\" data-hidden-by=\"1\""),
        "hidden-file mark"
    );
    assert!(dom.contains("class=\"layer has-findings\" data-layer=\"0\""));
    assert!(dom.contains("class=\"layer\" data-layer=\"1\" data-findings=\"0\""));
    // Evidence is collapsible.
    assert!(dom.contains("<details><summary>Evidence ("));
    // The script in the file name stayed text: it did not run, and the only <script>
    // element is the page's own.
    assert!(!dom.contains("data-pwned"), "the file name's script ran");
    assert_eq!(dom.matches("<script").count(), 1, "{dom}");
    assert!(dom
        .contains("opt/&lt;script&gt;document.body.dataset.pwned='yes'&lt;/script&gt;/kdevtmpfsi"));
    // The page's own script ran (the button works from the DOM it built).
    assert!(dom.contains("id=\"toggle\""));
}
