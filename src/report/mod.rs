//! Reports: render a [`Report`] as a table, JSON or SARIF, and derive the exit code.
//! Every command that produces findings (scan, name, events) goes through here, so
//! formats and exit codes are the same everywhere.
//!
//! Owns: the [`Report`] shape, the JSON report (the only place it is defined: `JsonDoc`
//! around the serde shape of [`Report`] and `crate::findings`; documented in
//! `docs/json-report.md`, pinned by the test `json_shape_is_pinned`), the JSON schema
//! version, the exit-code policy and the exit codes themselves ([`EXIT_CLEAN`],
//! [`EXIT_FINDINGS`], [`EXIT_ERROR`]; `cli` re-exports them).
//! Renderers: `table.rs` (human, grouped by severity), `sarif.rs` (SARIF 2.1.0),
//! `junit.rs` (JUnit XML for Jenkins/GitLab), `github.rs` (Actions annotations),
//! `html.rs` (one self-contained page).

use crate::findings::{Finding, Severity};
use serde::Serialize;
use std::io::{self, Write};

/// Version of the JSON report schema (`docs/json-report.md`). Bump on breaking change.
pub const JSON_SCHEMA_VERSION: &str = "1";

/// Output formats every finding-producing command accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Sarif,
    /// JSON Lines: one JSON document (as `json`, with one report) per image and line.
    Jsonl,
    /// JUnit XML (Jenkins, GitLab): a failing test case per finding at or above --fail-on.
    Junit,
    /// GitHub Actions workflow commands (`::error file=...::`).
    Github,
    /// One self-contained HTML page (inline CSS and script, no network): layer timeline,
    /// findings by severity with collapsible evidence.
    Html,
}

/// A finding an ignore file suppressed, with the reason the user gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Suppressed {
    pub finding: Finding,
    pub reason: String,
}

/// Where an image came from: `kind` is `docker`, `podman` or `containerd` (a local daemon;
/// `address` is its socket, and for containerd the namespace), `remote` (a registry), or `docker-archive` / `oci-archive` / `oci-dir`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageOrigin {
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

/// Everything one run found about one target.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// What was scanned, as the user will recognise it (a normalised reference, an
    /// archive path, an events file).
    pub target: String,
    /// Manifest digest / platform when an image was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest_digest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Where the image was read from (absent for reports that read no image).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<ImageOrigin>,
    /// Sorted most severe first by [`Report::sort`].
    pub findings: Vec<Finding>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub suppressed: Vec<Suppressed>,
    /// Why the scan did not see everything (limits hit, unreadable layers, malformed
    /// event lines). Non-empty means incomplete: exit 2 unless `--allow-incomplete`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub incomplete: Vec<String>,
    /// The image's layers, base first (absent for reports that read no image).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<LayerSummary>,
}

/// One layer of a scanned image, for the layer timeline (HTML) and the JSON report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LayerSummary {
    /// Position in the manifest, 0 = base layer (as `layer` in file locations).
    pub index: usize,
    pub digest: String,
    /// Compressed size the manifest declares.
    pub size: u64,
    /// Uncompressed bytes read (less than the layer when a bound was hit).
    pub uncompressed_bytes: u64,
    /// Tar entries read.
    pub entries: u64,
    /// The `docker history` step that made the layer (index into the config's history),
    /// and its command, cut to [`CREATED_BY_MAX`] characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history_step: Option<usize>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub created_by: String,
}

/// Characters of a history command kept in [`LayerSummary::created_by`].
pub const CREATED_BY_MAX: usize = 400;

impl LayerSummary {
    /// The history step of each layer: the steps that made a layer (not `empty_layer`),
    /// in order, matched to the layers in order.
    pub fn history_steps(
        history: &[crate::image::HistoryEntry],
        layers: usize,
    ) -> Vec<Option<(usize, String)>> {
        let mut made = history
            .iter()
            .enumerate()
            .filter(|(_, h)| !h.empty_layer)
            .map(|(i, h)| {
                (
                    i,
                    h.created_by
                        .chars()
                        .take(CREATED_BY_MAX)
                        .collect::<String>(),
                )
            });
        (0..layers).map(|_| made.next()).collect()
    }
}

impl Report {
    /// Most severe first, then by id, for stable output.
    pub fn sort(&mut self) {
        self.findings
            .sort_by(|a, b| b.severity.cmp(&a.severity).then_with(|| a.id.cmp(&b.id)));
    }

    /// Highest severity among the findings.
    pub fn max_severity(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }
}

/// Nothing at or above `--fail-on` was found and everything was read.
pub const EXIT_CLEAN: i32 = 0;
/// Findings at or above `--fail-on`.
pub const EXIT_FINDINGS: i32 = 1;
/// An error, or an incomplete scan (without `--allow-incomplete`).
pub const EXIT_ERROR: i32 = 2;

/// The exit code for a set of reports: 2 when any is incomplete (unless
/// `allow_incomplete`), else 1 when any finding is at or above `fail_on` (`None` =
/// never fail on findings), else 0.
pub fn exit_code(reports: &[Report], fail_on: Option<Severity>, allow_incomplete: bool) -> i32 {
    if !allow_incomplete && reports.iter().any(|r| !r.incomplete.is_empty()) {
        return EXIT_ERROR;
    }
    let failing = fail_on.is_some_and(|t| {
        reports
            .iter()
            .any(|r| r.max_severity().is_some_and(|s| s >= t))
    });
    if failing {
        EXIT_FINDINGS
    } else {
        EXIT_CLEAN
    }
}

/// Parse `--severity LIST` (`critical,high`): the severities to show.
pub fn parse_severities(list: &[String]) -> Result<Vec<Severity>, String> {
    list.iter()
        .flat_map(|s| s.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<Severity>())
        .collect()
}

/// `reports` with only the findings whose severity is in `show` (all when empty), for
/// display; exit codes are judged on the unfiltered reports.
pub fn only_severities(reports: &[Report], show: &[Severity]) -> Vec<Report> {
    reports
        .iter()
        .map(|r| {
            let mut r = r.clone();
            if !show.is_empty() {
                r.findings.retain(|f| show.contains(&f.severity));
            }
            r
        })
        .collect()
}

/// Parse `--fail-on`: a severity or `none`.
pub fn parse_fail_on(s: &str) -> Result<Option<Severity>, String> {
    if s.eq_ignore_ascii_case("none") {
        Ok(None)
    } else {
        s.parse().map(Some)
    }
}

/// The JSON report document (`docs/json-report.md`). No other module writes report JSON.
#[derive(Serialize)]
struct JsonDoc<'a> {
    schema_version: &'a str,
    tool: &'a str,
    tool_version: &'a str,
    reports: &'a [Report],
}

/// Write `reports` in `format`. `color` only affects the table; JUnit and GitHub
/// annotations treat findings at or above HIGH as failures (see [`write_with`]).
pub fn write(
    reports: &[Report],
    format: Format,
    color: bool,
    out: &mut dyn Write,
) -> io::Result<()> {
    write_with(reports, format, color, Some(Severity::High), out)
}

/// [`write`] with the `--fail-on` threshold the CI formats mark failures by.
pub fn write_with(
    reports: &[Report],
    format: Format,
    color: bool,
    fail_on: Option<Severity>,
    out: &mut dyn Write,
) -> io::Result<()> {
    match format {
        Format::Junit => junit::write(reports, fail_on, out),
        Format::Github => github::write(reports, fail_on, out),
        Format::Json => {
            let doc = JsonDoc {
                schema_version: JSON_SCHEMA_VERSION,
                tool: "imgscan",
                tool_version: env!("CARGO_PKG_VERSION"),
                reports,
            };
            serde_json::to_writer_pretty(&mut *out, &doc)?;
            writeln!(out)
        }
        Format::Jsonl => {
            for r in reports {
                write_jsonl(r, out)?;
            }
            Ok(())
        }
        Format::Html => html::write(reports, fail_on, out),
        Format::Table => table::write_opts(
            reports,
            &TableOptions {
                color,
                fail_on,
                ..TableOptions::default()
            },
            out,
        ),
        Format::Sarif => sarif::write(reports, out),
    }
}

/// One JSON Lines record: the `json` document holding `report` alone, on one line.
pub fn write_jsonl(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let doc = JsonDoc {
        schema_version: JSON_SCHEMA_VERSION,
        tool: "imgscan",
        tool_version: env!("CARGO_PKG_VERSION"),
        reports: std::slice::from_ref(report),
    };
    serde_json::to_writer(&mut *out, &doc)?;
    writeln!(out)
}

pub mod github;
mod html;
pub use html::human as human_bytes;
pub mod inventory;
pub mod junit;
mod sarif;
pub use sarif::fingerprint as sarif_fingerprint;
mod table;
pub use table::{terminal_width, TableOptions, EVIDENCE_SHOWN};

/// [`write_with`] for a person at a terminal: the table with `-v` and the terminal's
/// width (other formats ignore both).
pub fn write_table_aware(
    reports: &[Report],
    format: Format,
    table: &TableOptions,
    out: &mut dyn Write,
) -> io::Result<()> {
    match format {
        Format::Table => table::write_opts(reports, table, out),
        other => write_with(reports, other, table.color, table.fail_on, out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::{Evidence, Location};

    fn finding(sev: Severity) -> Finding {
        Finding {
            id: "IMG-TEST".into(),
            title: "t".into(),
            severity: sev,
            description: String::new(),
            remediation: String::new(),
            attack: vec![],
            evidence: vec![Evidence {
                line: None,
                location: Location::Scan,
                offset: None,
                signature: "s".into(),
                excerpt: String::new(),
            }],
        }
    }

    /// The JSON shape documented in docs/json-report.md. Changing it means bumping
    /// JSON_SCHEMA_VERSION (if breaking) and updating the doc.
    #[test]
    fn json_shape_is_pinned() {
        use crate::findings::Evidence;
        let d = format!("sha256:{}", "a".repeat(64));
        let mut f = finding(Severity::Critical);
        f.attack = vec!["T1496".into()];
        f.evidence = vec![
            Evidence {
                line: None,
                location: Location::File {
                    layer: 1,
                    layer_digest: d.clone(),
                    path: "usr/bin/x".into(),
                    hidden_by: Some(2),
                    inside: vec!["opt/a.tar.gz".into()],
                    sha256: None,
                },
                offset: Some(7),
                signature: "sig".into(),
                excerpt: "ex".into(),
            },
            Evidence {
                line: None,
                location: Location::Config {
                    field: "Cmd".into(),
                },
                offset: None,
                signature: "s2".into(),
                excerpt: String::new(),
            },
        ];
        let r = Report {
            target: "t".into(),
            manifest_digest: Some(d.clone()),
            platform: Some("linux/amd64".into()),
            source: Some(ImageOrigin {
                kind: "docker".into(),
                address: Some("unix:///var/run/docker.sock".into()),
            }),
            findings: vec![f.clone()],
            suppressed: vec![Suppressed {
                finding: finding(Severity::Low),
                reason: "why".into(),
            }],
            incomplete: vec!["limit".into()],
            layers: vec![LayerSummary {
                index: 0,
                digest: d.clone(),
                size: 10,
                uncompressed_bytes: 20,
                entries: 3,
                history_step: Some(1),
                created_by: "ADD x /".into(),
            }],
        };
        let mut out = Vec::new();
        write(&[r, Report::default()], Format::Json, false, &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let want = serde_json::json!({
            "schema_version": "1",
            "tool": "imgscan",
            "tool_version": env!("CARGO_PKG_VERSION"),
            "reports": [
                {
                    "target": "t",
                    "manifest_digest": d,
                    "platform": "linux/amd64",
                    "source": { "kind": "docker", "address": "unix:///var/run/docker.sock" },
                    "findings": [{
                        "id": "IMG-TEST", "title": "t", "severity": "CRITICAL",
                        "description": "", "remediation": "", "attack": ["T1496"],
                        "evidence": [
                            {
                                "location": {
                                    "kind": "file", "layer": 1, "layer_digest": d,
                                    "path": "usr/bin/x", "hidden_by": 2,
                                    "inside": ["opt/a.tar.gz"]
                                },
                                "offset": 7, "signature": "sig", "excerpt": "ex"
                            },
                            { "location": { "kind": "config", "field": "Cmd" }, "signature": "s2" }
                        ]
                    }],
                    "suppressed": [{
                        "finding": {
                            "id": "IMG-TEST", "title": "t", "severity": "LOW",
                            "description": "", "remediation": "",
                            "evidence": [{ "location": { "kind": "scan" }, "signature": "s" }]
                        },
                        "reason": "why"
                    }],
                    "incomplete": ["limit"],
                    "layers": [{
                        "index": 0, "digest": d, "size": 10, "uncompressed_bytes": 20,
                        "entries": 3, "history_step": 1, "created_by": "ADD x /"
                    }]
                },
                { "target": "", "findings": [] }
            ]
        });
        assert_eq!(v, want);
        // Every location kind serialises with the documented tag.
        for (loc, kind) in [
            (Location::History { step: 3 }, "history"),
            (
                Location::Name {
                    reference: "r".into(),
                },
                "name",
            ),
            (Location::Event { line: 9 }, "event"),
            (Location::Scan, "scan"),
        ] {
            assert_eq!(serde_json::to_value(&loc).unwrap()["kind"], kind);
        }
    }

    #[test]
    fn exit_codes() {
        let clean = Report::default();
        let low = Report {
            findings: vec![finding(Severity::Low)],
            ..Default::default()
        };
        let high = Report {
            findings: vec![finding(Severity::High)],
            ..Default::default()
        };
        let incomplete = Report {
            incomplete: vec!["layer 2: truncated gzip".into()],
            ..Default::default()
        };
        let hi = Some(Severity::High);
        assert_eq!(exit_code(std::slice::from_ref(&clean), hi, false), 0);
        assert_eq!(exit_code(std::slice::from_ref(&low), hi, false), 0);
        assert_eq!(
            exit_code(std::slice::from_ref(&low), Some(Severity::Low), false),
            1
        );
        assert_eq!(exit_code(std::slice::from_ref(&high), hi, false), 1);
        assert_eq!(exit_code(std::slice::from_ref(&high), None, false), 0);
        assert_eq!(exit_code(&[clean, incomplete.clone()], hi, false), 2);
        assert_eq!(exit_code(&[incomplete], hi, true), 0);
        assert_eq!(parse_fail_on("none").unwrap(), None);
        assert_eq!(parse_fail_on("MEDIUM").unwrap(), Some(Severity::Medium));
        assert!(parse_fail_on("bad").is_err());
        let show = parse_severities(&["critical,HIGH".into()]).unwrap();
        assert_eq!(show, [Severity::Critical, Severity::High]);
        assert!(parse_severities(&["loud".into()]).is_err());
        let shown = only_severities(&[low.clone(), high.clone()], &show);
        assert!(shown[0].findings.is_empty() && shown[1].findings.len() == 1);
        assert_eq!(
            only_severities(std::slice::from_ref(&low), &[])[0]
                .findings
                .len(),
            1
        );
    }
}
