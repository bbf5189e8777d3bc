//! SARIF 2.1.0 (OASIS), valid against the official schema (`testdata/sarif-schema-2.1.0.json`,
//! checked in tests).
//!
//! One run per invocation, whatever the number of targets. `tool.driver` is imgscan with
//! one rule per distinct finding id (short/full description, help = remediation, tags with
//! the ATT&CK ids, `security-severity` for GitHub code scanning). Results carry the rule id,
//! a level (error for CRITICAL/HIGH, warning for MEDIUM, note for LOW/INFO), a message, and
//! one location per piece of evidence: `LAYER_DIGEST/path` with the byte offset for files,
//! a logical location for config fields, history steps, names and events. Suppressed
//! findings appear with an external suppression and its reason. The invocation reports
//! `executionSuccessful: false` and one notification per reason when a scan was incomplete.
//! Each result carries `partialFingerprints["imgscan/v1"]` ([`fingerprint`]) so GitHub code
//! scanning recognises the same finding across runs and rebuilds.

use super::Report;
use crate::findings::{Evidence, Finding, Location, Severity};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::io::{self, Write};

const SCHEMA_URI: &str =
    "https://raw.githubusercontent.com/oasis-tcs/sarif-spec/master/Schemata/sarif-schema-2.1.0.json";

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// GitHub's scale: ≥ 9.0 critical, 7.0–8.9 high, 4.0–6.9 medium, 0.1–3.9 low.
fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "0.0",
    }
}

/// Percent-encode everything but RFC 3986 unreserved characters and a few safe delimiters
/// (`/ : ! @ + , =`), so any path
/// from a layer makes a valid URI reference.
fn encode_uri(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.' | b'_' | b'~' | b'/' | b':' | b'!' | b'@' | b'+' | b',' | b'='
            );
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn location(e: &Evidence) -> Option<Value> {
    let logical = |name: String, fqn: String, kind: &str| json!({ "logicalLocations": [{ "name": name, "fullyQualifiedName": fqn, "kind": kind }] });
    Some(match &e.location {
        Location::File {
            layer,
            layer_digest,
            path,
            hidden_by,
            inside,
            sha256,
        } => {
            // `DIGEST/path`, or `DIGEST/opt/x.tar.gz!/member` inside nested archives.
            let chain: Vec<&str> = inside
                .iter()
                .map(String::as_str)
                .chain(std::iter::once(path.as_str()))
                .map(|p| p.trim_start_matches('/'))
                .collect();
            let uri = format!("{layer_digest}/{}", chain.join("!/"));
            let mut phys = Map::new();
            phys.insert(
                "artifactLocation".into(),
                json!({ "uri": encode_uri(&uri) }),
            );
            let mut region = Map::new();
            if let Some(off) = e.offset {
                region.insert("byteOffset".into(), json!(off));
            }
            if let Some(line) = e.line {
                region.insert("startLine".into(), json!(line));
            }
            if !e.excerpt.is_empty() {
                region.insert("snippet".into(), json!({ "text": e.excerpt }));
            }
            if !region.is_empty() {
                if !region.contains_key("byteOffset") && !region.contains_key("startLine") {
                    // A region needs a start; the snippet alone does not locate it.
                    region.insert("byteOffset".into(), json!(0));
                }
                phys.insert("region".into(), Value::Object(region));
            }
            let mut props = Map::new();
            props.insert("layer".into(), json!(layer));
            props.insert("layerDigest".into(), json!(layer_digest));
            props.insert("path".into(), json!(path));
            if let Some(n) = hidden_by {
                props.insert("hiddenByLayer".into(), json!(n));
            }
            if !inside.is_empty() {
                props.insert("inside".into(), json!(inside));
            }
            if let Some(h) = sha256 {
                props.insert("sha256".into(), json!(h));
            }
            props.insert("signature".into(), json!(e.signature));
            json!({ "physicalLocation": phys, "properties": props })
        }
        Location::Config { field } => logical(field.clone(), format!("config/{field}"), "property"),
        Location::History { step } => logical(
            format!("history[{step}]"),
            format!("history/{step}"),
            "element",
        ),
        Location::Name { reference } => {
            logical(reference.clone(), format!("name/{reference}"), "resource")
        }
        Location::Event { line } => {
            logical(format!("line {line}"), format!("events/{line}"), "element")
        }
        Location::Scan => return None,
    })
}

/// Where a finding is, without what changes on a rebuild (layer digests and indexes):
/// `file:opt/x.tar.gz!/bin/miner`, `config:Cmd`, `history:3`, `name:REF`, `event:9`, `scan`.
fn stable_location(f: &Finding) -> String {
    let Some(e) = f.evidence.first() else {
        return String::new();
    };
    match &e.location {
        Location::File { path, inside, .. } => {
            let chain: Vec<&str> = inside
                .iter()
                .map(String::as_str)
                .chain(std::iter::once(path.as_str()))
                .map(|p| p.trim_start_matches('/'))
                .collect();
            format!("file:{}", chain.join("!/"))
        }
        Location::Config { field } => format!("config:{field}"),
        Location::History { step } => format!("history:{step}"),
        Location::Name { reference } => format!("name:{reference}"),
        Location::Event { line } => format!("event:{line}"),
        Location::Scan => "scan".into(),
    }
}

/// `partialFingerprints` value: sha256 of rule id, image name and the finding's stable
/// location (NUL-separated), hex. Same finding in the same image name and place, same
/// fingerprint, run after run.
pub fn fingerprint(f: &Finding, target: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for part in [f.id.as_str(), target, stable_location(f).as_str()] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    hex::encode(h.finalize())
}

fn result(f: &Finding, rule_index: usize, target: &str, suppression: Option<&str>) -> Value {
    let first = f
        .evidence
        .iter()
        .find(|e| !e.excerpt.is_empty())
        .map(|e| e.excerpt.as_str());
    let text = match first {
        Some(x) => format!("{}: {x}", f.title),
        None => f.title.clone(),
    };
    let locations: Vec<Value> = f.evidence.iter().filter_map(location).collect();
    let signatures: Vec<&str> = f.evidence.iter().map(|e| e.signature.as_str()).collect();
    let mut r = json!({
        "ruleId": f.id,
        "ruleIndex": rule_index,
        "level": level(f.severity),
        "message": { "text": text },
        "partialFingerprints": { "imgscan/v1": fingerprint(f, target) },
        "properties": {
            "severity": f.severity.as_str(),
            "target": target,
            "signatures": signatures,
        },
    });
    if !locations.is_empty() {
        r["locations"] = Value::Array(locations);
    }
    if let Some(reason) = suppression {
        r["suppressions"] = json!([{ "kind": "external", "justification": reason }]);
    }
    r
}

/// The whole SARIF log as a JSON value.
pub fn to_value(reports: &[Report]) -> Value {
    // One rule per distinct id, in first-seen order; the rule's severity is the highest
    // seen for that id.
    let mut order: Vec<&Finding> = Vec::new();
    let mut worst: BTreeMap<&str, Severity> = BTreeMap::new();
    let all = reports.iter().flat_map(|r| {
        r.findings
            .iter()
            .chain(r.suppressed.iter().map(|s| &s.finding))
    });
    for f in all {
        let w = worst.entry(f.id.as_str()).or_insert(f.severity);
        if f.severity > *w {
            *w = f.severity;
        }
        if !order.iter().any(|o| o.id == f.id) {
            order.push(f);
        }
    }
    let rule_index = |id: &str| order.iter().position(|f| f.id == id).unwrap_or(0);
    let rules: Vec<Value> = order
        .iter()
        .map(|f| {
            let sev = worst[f.id.as_str()];
            let mut tags = vec!["security".to_string()];
            tags.extend(f.attack.iter().cloned());
            json!({
                "id": f.id,
                "shortDescription": { "text": f.title },
                "fullDescription": { "text": if f.description.is_empty() { &f.title } else { &f.description } },
                "help": { "text": if f.remediation.is_empty() { &f.title } else { &f.remediation } },
                "defaultConfiguration": { "level": level(sev) },
                "properties": {
                    "tags": tags,
                    "security-severity": security_severity(sev),
                },
            })
        })
        .collect();
    let mut results = Vec::new();
    for r in reports {
        for f in &r.findings {
            results.push(result(f, rule_index(&f.id), &r.target, None));
        }
        for s in &r.suppressed {
            results.push(result(
                &s.finding,
                rule_index(&s.finding.id),
                &r.target,
                Some(&s.reason),
            ));
        }
    }
    let notifications: Vec<Value> = reports
        .iter()
        .flat_map(|r| {
            r.incomplete.iter().map(move |why| {
                json!({
                    "level": "error",
                    "message": { "text": format!("{}: incomplete scan: {why}", r.target) },
                })
            })
        })
        .collect();
    let mut invocation = json!({ "executionSuccessful": notifications.is_empty() });
    if !notifications.is_empty() {
        invocation["toolExecutionNotifications"] = Value::Array(notifications);
    }
    let targets: Vec<&str> = reports.iter().map(|r| r.target.as_str()).collect();
    json!({
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "imgscan",
                "version": env!("CARGO_PKG_VERSION"),
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "invocations": [invocation],
            "results": results,
            "properties": { "targets": targets },
        }],
    })
}

pub fn write(reports: &[Report], out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &to_value(reports))?;
    writeln!(out)
}
