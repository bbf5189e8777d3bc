//! SARIF output validated against the official SARIF 2.1.0 JSON schema
//! (`testdata/sarif-schema-2.1.0.json`, the OASIS schema as vendored in
//! Security-Falcon/SARIFCourier@67eb1da `sarif-schema-2.1.0.json`, `$id`
//! https://raw.githubusercontent.com/oasis-tcs/sarif-spec/master/Schemata/sarif-schema-2.1.0.json),
//! plus the mapping rules: one run, one rule per id, levels, `LAYER_DIGEST/path` URIs,
//! byte offsets, logical locations, suppressions and incomplete-scan notifications.

use imgscan::findings::{Evidence, Finding, Location, Severity};
use imgscan::report::{self, Format, Report, Suppressed};
use serde_json::Value;
use std::process::Command;

fn validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/sarif-schema-2.1.0.json"
    ))
    .unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the SARIF schema compiles")
}

fn assert_valid(v: &jsonschema::Validator, doc: &Value) {
    let errors: Vec<String> = v
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "invalid SARIF:\n{}", errors.join("\n"));
}

const DIGEST: &str = "sha256:4c0fdaa8b6341bfdeca5f18f7837462c80cff90527ee35ef185571e1c327beac";

fn ev(location: Location, offset: Option<u64>, sig: &str, excerpt: &str) -> Evidence {
    Evidence {
        line: None,
        location,
        offset,
        signature: sig.into(),
        excerpt: excerpt.into(),
    }
}

fn finding(id: &str, sev: Severity, evidence: Vec<Evidence>) -> Finding {
    Finding {
        id: id.into(),
        title: format!("title of {id}"),
        severity: sev,
        description: format!("why {id} matters"),
        remediation: format!("what to do about {id}"),
        attack: vec!["T1496".into(), "T1204.003".into()],
        evidence,
    }
}

fn rich_reports() -> Vec<Report> {
    let miner = finding(
        "IMG-MINER-BINARY",
        Severity::Critical,
        vec![
            ev(
                Location::File {
                    layer: 2,
                    layer_digest: DIGEST.into(),
                    path: "usr/local/bin/kworker ds".into(),
                    hidden_by: Some(3),
                    inside: vec![],
                    sha256: None,
                },
                Some(4096),
                "xmrig-usage",
                "--donate-level",
            ),
            ev(
                Location::File {
                    layer: 1,
                    layer_digest: DIGEST.into(),
                    path: "xmrig-6.21/xmrig".into(),
                    hidden_by: None,
                    inside: vec!["opt/x.tar.gz".into()],
                    sha256: None,
                },
                None,
                "xmrig-name",
                "",
            ),
        ],
    );
    let cmd = finding(
        "IMG-CONFIG-POOL",
        Severity::Medium,
        vec![ev(
            Location::Config {
                field: "Cmd".into(),
            },
            None,
            "pool-domain:supportxmr.com",
            "pool.supportxmr.com:5555",
        )],
    );
    let hist = finding(
        "IMG-HISTORY-CURL-SH",
        Severity::High,
        vec![ev(
            Location::History { step: 4 },
            None,
            "curl-pipe-sh",
            "curl x | sh",
        )],
    );
    let name = finding(
        "IMG-NAME-NAMESPACE-SQUAT",
        Severity::Low,
        vec![ev(
            Location::Name {
                reference: "docker.io/acme/nginx:latest".into(),
            },
            None,
            "namespace-squat:nginx",
            "`acme/nginx` publishes ...",
        )],
    );
    let event = finding(
        "EVT-RULE",
        Severity::Info,
        vec![ev(Location::Event { line: 17 }, None, "rule:x", "")],
    );
    let limit = finding(
        "IMG-LIMIT",
        Severity::Medium,
        vec![ev(Location::Scan, None, "limit:max-files", "")],
    );
    // The same id at another severity: one rule, highest severity.
    let mut cmd_high = cmd.clone();
    cmd_high.severity = Severity::High;
    vec![
        Report {
            target: "docker.io/acme/nginx:latest".into(),
            manifest_digest: Some(DIGEST.into()),
            platform: Some("linux/amd64".into()),
            findings: vec![miner, hist, cmd, name.clone(), event, limit],
            suppressed: vec![Suppressed {
                finding: name,
                reason: "our own build".into(),
            }],
            incomplete: vec!["layer 4: truncated gzip stream".into()],
            ..Default::default()
        },
        Report {
            target: "docker.io/library/redis:7".into(),
            findings: vec![cmd_high],
            ..Default::default()
        },
    ]
}

fn sarif(reports: &[Report]) -> Value {
    let mut out = Vec::new();
    report::write(reports, Format::Sarif, false, &mut out).unwrap();
    serde_json::from_slice(&out).unwrap()
}

#[test]
fn rich_report_is_valid_sarif_with_the_documented_mapping() {
    let v = validator();
    let doc = sarif(&rich_reports());
    assert_valid(&v, &doc);

    assert_eq!(doc["version"], "2.1.0");
    let runs = doc["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "one run per invocation");
    let run = &runs[0];
    let driver = &run["tool"]["driver"];
    assert_eq!(driver["name"], "imgscan");
    assert_eq!(driver["version"], env!("CARGO_PKG_VERSION"));
    let rules = driver["rules"].as_array().unwrap();
    let ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "IMG-MINER-BINARY",
            "IMG-HISTORY-CURL-SH",
            "IMG-CONFIG-POOL",
            "IMG-NAME-NAMESPACE-SQUAT",
            "EVT-RULE",
            "IMG-LIMIT"
        ],
        "one rule per distinct id"
    );
    let miner_rule = &rules[0];
    assert_eq!(
        miner_rule["shortDescription"]["text"],
        "title of IMG-MINER-BINARY"
    );
    assert_eq!(
        miner_rule["fullDescription"]["text"],
        "why IMG-MINER-BINARY matters"
    );
    assert_eq!(
        miner_rule["help"]["text"],
        "what to do about IMG-MINER-BINARY"
    );
    assert_eq!(miner_rule["properties"]["security-severity"], "9.5");
    let tags: Vec<&str> = miner_rule["properties"]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(tags, ["security", "T1496", "T1204.003"]);
    assert_eq!(
        rules[2]["properties"]["security-severity"], "8.0",
        "highest seen"
    );

    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 8, "7 findings + 1 suppressed");
    let levels: Vec<&str> = results
        .iter()
        .map(|r| r["level"].as_str().unwrap())
        .collect();
    assert_eq!(
        levels,
        ["error", "error", "warning", "note", "note", "warning", "note", "error"]
    );
    let m = &results[0];
    assert_eq!(m["ruleId"], "IMG-MINER-BINARY");
    assert_eq!(m["ruleIndex"], 0);
    assert_eq!(
        m["message"]["text"],
        "title of IMG-MINER-BINARY: --donate-level"
    );
    let loc = &m["locations"][0]["physicalLocation"];
    assert_eq!(
        loc["artifactLocation"]["uri"],
        format!("{DIGEST}/usr/local/bin/kworker%20ds")
    );
    assert_eq!(loc["region"]["byteOffset"], 4096);
    assert_eq!(m["locations"][0]["properties"]["hiddenByLayer"], 3);
    assert_eq!(
        m["locations"][1]["physicalLocation"]["artifactLocation"]["uri"],
        format!("{DIGEST}/opt/x.tar.gz!/xmrig-6.21/xmrig")
    );
    assert!(m["locations"][1]["physicalLocation"]
        .get("region")
        .is_none());
    assert_eq!(
        results[1]["locations"][0]["logicalLocations"][0]["fullyQualifiedName"],
        "history/4"
    );
    assert_eq!(
        results[2]["locations"][0]["logicalLocations"][0]["fullyQualifiedName"],
        "config/Cmd"
    );
    assert_eq!(
        results[3]["locations"][0]["logicalLocations"][0]["name"],
        "docker.io/acme/nginx:latest"
    );
    assert_eq!(
        results[4]["locations"][0]["logicalLocations"][0]["fullyQualifiedName"],
        "events/17"
    );
    assert!(
        results[5].get("locations").is_none(),
        "scan-wide: no location"
    );
    assert_eq!(results[6]["suppressions"][0]["kind"], "external");
    assert_eq!(
        results[6]["suppressions"][0]["justification"],
        "our own build"
    );
    assert_eq!(
        results[7]["properties"]["target"],
        "docker.io/library/redis:7"
    );

    let inv = &run["invocations"][0];
    assert_eq!(inv["executionSuccessful"], false);
    assert_eq!(
        inv["toolExecutionNotifications"][0]["message"]["text"],
        "docker.io/acme/nginx:latest: incomplete scan: layer 4: truncated gzip stream"
    );
}

#[test]
fn clean_run_is_valid_and_successful() {
    let v = validator();
    let doc = sarif(&[Report {
        target: "docker.io/library/nginx:latest".into(),
        ..Default::default()
    }]);
    assert_valid(&v, &doc);
    assert_eq!(
        doc["runs"][0]["invocations"][0]["executionSuccessful"],
        true
    );
    assert!(doc["runs"][0]["results"].as_array().unwrap().is_empty());
    assert!(doc["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[test]
fn the_validator_rejects_invalid_sarif() {
    // Guards the test itself: a schema that accepted anything would prove nothing.
    let v = validator();
    let mut doc = sarif(&rich_reports());
    doc["runs"][0]["results"][0]["level"] = "fatal".into();
    assert!(!v.is_valid(&doc));
    let mut doc = sarif(&rich_reports());
    doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["byteOffset"] =
        (-5).into();
    assert!(!v.is_valid(&doc));
    let mut doc = sarif(&rich_reports());
    doc["runs"][0]["invocations"][0]
        .as_object_mut()
        .unwrap()
        .remove("executionSuccessful");
    assert!(!v.is_valid(&doc));
}

#[test]
fn name_command_sarif_is_valid() {
    let v = validator();
    let out = Command::new(env!("CARGO_BIN_EXE_imgscan"))
        .env("IMGSCAN_CACHE_DEFAULT", "none")
        .args([
            "name",
            "--format",
            "sarif",
            "xoolu/ubuntu",
            "grafanna/grafana",
            "acme/nginx",
            "ghrc.io/a/b",
            "nginx",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_valid(&v, &doc);
    assert_eq!(doc["runs"][0]["results"].as_array().unwrap().len(), 4);
}
