//! CI formats through the command line: JUnit XML (parsed back with quick-xml, counts
//! checked against the JSON report), GitHub Actions annotations (one command per line,
//! escaped as the Actions toolkit does) and SARIF `partialFingerprints` (stable across
//! runs, distinct across findings).

mod common;

use common::{imgscan, outs};
use imgscan::findings::{Evidence, Finding, Location, Severity};
use imgscan::report::{self, Format, Report};
use quick_xml::events::Event;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

fn samples() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    imgscan_testkit::write_samples(d.path());
    d
}

fn run(args: &[&str]) -> (i32, String) {
    let o = imgscan(args);
    let (out, err, code) = outs(&o);
    assert!(
        code == 0 || code == 1,
        "exit {code}\nstdout: {out}\nstderr: {err}"
    );
    (code, out)
}

/// Element name → (count, attributes of each) for a JUnit document.
fn junit_elements(xml: &str) -> BTreeMap<String, Vec<BTreeMap<String, String>>> {
    let mut r = quick_xml::Reader::from_str(xml);
    let mut out: BTreeMap<String, Vec<BTreeMap<String, String>>> = BTreeMap::new();
    loop {
        match r.read_event().expect("JUnit output is well-formed XML") {
            Event::Start(e) | Event::Empty(e) => {
                let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                let attrs = e
                    .attributes()
                    .map(|a| {
                        let a = a.unwrap();
                        (
                            String::from_utf8(a.key.as_ref().to_vec()).unwrap(),
                            a.unescape_value().unwrap().into_owned(),
                        )
                    })
                    .collect();
                out.entry(name).or_default().push(attrs);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    out
}

#[test]
fn junit_has_a_suite_per_image_and_a_failure_per_finding_at_fail_on() {
    let d = samples();
    let bad = d.path().join("malicious");
    let clean = d.path().join("clean");
    let (bad, clean) = (bad.to_str().unwrap(), clean.to_str().unwrap());
    let (_, json) = run(&["scan", "-q", "--format", "json", bad]);
    let v: Value = serde_json::from_str(&json).unwrap();
    let high = v["reports"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| matches!(f["severity"].as_str(), Some("CRITICAL" | "HIGH")))
        .count();
    assert!(high > 0);

    let (code, xml) = run(&["scan", "-q", "--format", "junit", bad, clean]);
    assert_eq!(code, 1);
    let el = junit_elements(&xml);
    let suites = &el["testsuite"];
    assert_eq!(suites.len(), 2, "{xml}");
    assert_eq!(suites[0]["failures"], high.to_string(), "{xml}");
    assert_eq!(suites[1]["failures"], "0", "{xml}");
    assert_eq!(el["failure"].len(), high, "{xml}");
    // The clean image is one passing test case; the malicious one has one per failure.
    assert_eq!(el["testcase"].len(), high + 1, "{xml}");
    let root = &el["testsuites"][0];
    assert_eq!(root["tests"], (high + 1).to_string());
    assert_eq!(root["failures"], high.to_string());
    assert!(el["testcase"]
        .iter()
        .any(|t| t["name"] == "no findings at or above HIGH"));
    assert!(el["failure"].iter().all(|f| f.contains_key("message")));

    // --fail-on raises or lowers what fails.
    let (_, xml) = run(&[
        "scan",
        "-q",
        "--format",
        "junit",
        "--fail-on",
        "critical",
        bad,
    ]);
    let crit = v["reports"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "CRITICAL")
        .count();
    assert_eq!(
        junit_elements(&xml)["testsuite"][0]["failures"],
        crit.to_string()
    );
}

fn finding_at(id: &str, path: &str, sev: Severity) -> Finding {
    Finding {
        id: id.into(),
        title: "Miner, packed".into(),
        severity: sev,
        description: "why".into(),
        remediation: "fix it".into(),
        attack: vec![],
        evidence: vec![Evidence {
            line: None,
            location: Location::File {
                layer: 1,
                layer_digest: format!("sha256:{}", "a".repeat(64)),
                path: path.into(),
                hidden_by: None,
                inside: vec![],
                sha256: None,
            },
            offset: None,
            signature: "sig".into(),
            excerpt: "100% evil\r\nline two".into(),
        }],
    }
}

#[test]
fn github_annotations_are_one_escaped_command_per_line() {
    use imgscan::report::github::{escape_data, escape_property};
    assert_eq!(escape_data("50% a\r\nb"), "50%25 a%0D%0Ab");
    assert_eq!(escape_property("a:b,c%\n"), "a%3Ab%2Cc%25%0A");
    assert_eq!(escape_data("\u{1b}[31m"), "\\x1b[31m");

    let r = Report {
        target: "docker.io/acme/app:1.0".into(),
        findings: vec![
            finding_at("IMG-A", "opt/x,y:z%\nq", Severity::High),
            finding_at("IMG-B", "etc/b", Severity::Medium),
            finding_at("IMG-C", "etc/c", Severity::Low),
        ],
        incomplete: vec!["layer 2: truncated".into()],
        ..Default::default()
    };
    let mut out = Vec::new();
    report::write_with(&[r], Format::Github, false, Some(Severity::High), &mut out).unwrap();
    let s = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = s.lines().collect();
    assert_eq!(lines.len(), 4, "{s}");
    assert!(
        lines[0].starts_with("::error file=opt/x%2Cy%3Az%25%0Aq,title=IMG-A (docker.io/acme/app%3A1.0)::HIGH IMG-A: Miner, packed"),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].contains("100%25 evil%0D%0Aline two"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("::warning file=etc/b,"),
        "{}",
        lines[1]
    );
    assert!(lines[2].starts_with("::notice file=etc/c,"), "{}", lines[2]);
    assert!(
        lines[3].starts_with("::error title=scan incomplete"),
        "{}",
        lines[3]
    );

    // And through the CLI on the malicious sample: every line is a command.
    let d = samples();
    let bad = d.path().join("malicious");
    let (code, out) = run(&["scan", "-q", "--format", "github", bad.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(out.lines().count() > 3, "{out}");
    for l in out.lines() {
        assert!(
            l.starts_with("::error ") || l.starts_with("::warning ") || l.starts_with("::notice "),
            "{l}"
        );
    }
    assert!(
        out.contains("::error file=opt/app/.cache/kworker,"),
        "{out}"
    );
}

fn fingerprints(doc: &Value) -> Vec<(String, String)> {
    doc["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["ruleId"].as_str().unwrap().to_string(),
                r["partialFingerprints"]["imgscan/v1"]
                    .as_str()
                    .expect("every result has a fingerprint")
                    .to_string(),
            )
        })
        .collect()
}

#[test]
fn sarif_fingerprints_are_stable_and_distinct() {
    let d = samples();
    let bad = d.path().join("malicious");
    let bad = bad.to_str().unwrap();
    let (_, a) = run(&["scan", "-q", "--format", "sarif", bad]);
    let (_, b) = run(&["scan", "-q", "--format", "sarif", bad]);
    let (fa, fb) = (
        fingerprints(&serde_json::from_str(&a).unwrap()),
        fingerprints(&serde_json::from_str(&b).unwrap()),
    );
    assert!(fa.len() > 3, "{fa:?}");
    assert_eq!(fa, fb, "same image, same fingerprints");
    let distinct: BTreeSet<&String> = fa.iter().map(|(_, f)| f).collect();
    assert_eq!(
        distinct.len(),
        fa.len(),
        "one fingerprint per finding: {fa:?}"
    );

    // Same rule and place in another image name: another fingerprint.
    let f = finding_at("IMG-A", "etc/x", Severity::High);
    assert_ne!(
        report::sarif_fingerprint(&f, "docker.io/a/b:1"),
        report::sarif_fingerprint(&f, "docker.io/a/c:1")
    );
    assert_eq!(
        report::sarif_fingerprint(&f, "docker.io/a/b:1"),
        report::sarif_fingerprint(&f.clone(), "docker.io/a/b:1")
    );
}

#[test]
fn completions_and_the_severity_display_filter() {
    for (shell, marker) in [
        ("bash", "_imgscan()"),
        ("zsh", "#compdef imgscan"),
        ("fish", "complete -c imgscan"),
    ] {
        let (code, out) = run(&["completions", shell]);
        assert_eq!(code, 0);
        assert!(out.contains(marker), "{shell}: {out}");
        assert!(out.contains("image-src"), "{shell} completes the new flags");
    }

    let d = samples();
    let bad = d.path().join("malicious");
    let bad = bad.to_str().unwrap();
    let (code, out) = run(&[
        "scan",
        "-q",
        "--format",
        "json",
        "--severity",
        "critical",
        bad,
    ]);
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&out).unwrap();
    let sevs: BTreeSet<&str> = v["reports"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["severity"].as_str().unwrap())
        .collect();
    assert_eq!(sevs, BTreeSet::from(["CRITICAL"]));
    // Showing nothing at all does not make a failing image pass: --fail-on still judges
    // every finding.
    let (code, out) = run(&["scan", "-q", "--format", "json", "--severity", "info", bad]);
    assert_eq!(code, 1, "{out}");
}

/// The JUnit schema Jenkins' xUnit plugin publishes (`junit-10.xsd`, MIT), which pytest
/// ships in its sdist to validate its own reports; `scripts/setup-test.sh` puts it in the
/// cache (pinned by the sdist's sha256). `IMGSCAN_JUNIT_XSD` points elsewhere.
fn junit_xsd() -> std::path::PathBuf {
    let p = std::env::var_os("IMGSCAN_JUNIT_XSD")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .map(std::path::PathBuf::from)
                .unwrap_or_else(|| {
                    std::path::PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache")
                });
            cache.join("imgscan/junit-10.xsd")
        });
    assert!(
        p.is_file(),
        "{} is missing: run scripts/setup-test.sh (it fetches the published JUnit schema)",
        p.display()
    );
    p
}

/// `xmllint --schema` over `xml`: Ok, or the validator's complaint.
fn validate_junit(xml: &[u8]) -> Result<(), String> {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("report.xml");
    std::fs::write(&f, xml).unwrap();
    let o = std::process::Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(junit_xsd())
        .arg(&f)
        .output()
        .expect("xmllint (Debian libxml2-utils; scripts/setup-test.sh installs it)");
    if o.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&o.stderr).into_owned())
    }
}

#[test]
fn junit_validates_against_the_published_schema() {
    // The validator is real: a suite without its required counts is refused.
    let broken = br#"<?xml version="1.0"?><testsuites><testsuite name="x"><testcase name="a"/></testsuite></testsuites>"#;
    let why = validate_junit(broken).unwrap_err();
    assert!(why.contains("tests"), "{why}");

    // The CLI on both samples: failures, a passing image, counts.
    let d = samples();
    let bad = d.path().join("malicious");
    let clean = d.path().join("clean");
    let (code, xml) = run(&[
        "scan",
        "-q",
        "--format",
        "junit",
        bad.to_str().unwrap(),
        clean.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    validate_junit(xml.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{xml}"));

    // Hostile text, an incomplete scan and an empty run.
    let mut f = finding_at("IMG-A", "opt/\u{1}x<&]]>", Severity::Critical);
    f.evidence[0].excerpt = "\u{1b}[31m</failure>\u{fffe}".into();
    let r = Report {
        target: "docker.io/acme/app:1.0\u{0}".into(),
        findings: vec![f, finding_at("IMG-B", "etc/b", Severity::Low)],
        incomplete: vec!["layer 2: truncated <here>".into()],
        ..Default::default()
    };
    for reports in [vec![r], vec![]] {
        let mut out = Vec::new();
        report::write_with(
            &reports,
            Format::Junit,
            false,
            Some(Severity::High),
            &mut out,
        )
        .unwrap();
        validate_junit(&out).unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(&out)));
    }
}
