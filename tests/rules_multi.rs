//! Corpus rules (single- and multi-event) and crafted rules on crafted event streams,
//! with exact expected detections: match windows, placeholder joins, `#var` counts,
//! `!$e`, outcome aggregates, conditions on outcomes, `allow_zero_values`.

use imgscan::rules::{Detection, Event, RuleSet};
use serde_json::{json, Value};
mod common;

use std::path::PathBuf;

fn corpus() -> PathBuf {
    common::shared("yaral-corpus/rules")
}

fn corpus_rule(rel: &str) -> RuleSet {
    let root = corpus();
    RuleSet::parse_files(
        &[root.join(rel)],
        Some(&root.join("community/reference_lists")),
    )
    .unwrap_or_else(|d| {
        panic!(
            "{}",
            d.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        )
    })
}

fn run(set: &RuleSet, events: Vec<Value>) -> Vec<Detection> {
    set.evaluate(
        events
            .into_iter()
            .enumerate()
            .map(|(i, v)| (i + 1, Event::from_json(v).unwrap())),
    )
}

fn ts(secs: i64) -> String {
    // 2024-01-01T00:00:00Z + secs
    let t = 1704067200 + secs;
    let (d, s) = (t.div_euclid(86400), t.rem_euclid(86400));
    let day = d - 19723 + 1; // January 2024
    format!(
        "2024-01-{day:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

fn login(t: i64, user: &str, ok: bool, id: &str, country: &str) -> Value {
    let sr = if ok {
        json!([{"action": "ALLOW", "summary": "Login to AWS Console succeeded."}])
    } else {
        json!([{"action": "BLOCK", "description": "Reason: Failed authentication"}])
    };
    json!({"metadata": {"event_timestamp": ts(t), "vendor_name": "AMAZON", "product_name": "AWS CloudTrail",
            "event_type": "USER_LOGIN", "product_event_type": "ConsoleLogin", "id": id},
           "security_result": sr,
           "principal": {"ip": ["203.0.113.7"], "ip_geo_artifact": [{"location": {"country_or_region": country}}]},
           "target": {"user": {"user_display_name": user}}})
}

#[test]
fn aws_login_after_failures_joins_and_orders() {
    let set = corpus_rule(
        "community/aws/cloudtrail/aws_successful_login_after_multiple_failed_attempts.yaral",
    );
    let mut evs = vec![];
    // alice: 4 failures then a success within 15 minutes -> one detection.
    for i in 0..4 {
        evs.push(login(i * 10, "alice", false, &format!("a{i}"), "France"));
    }
    evs.push(login(60, "alice", true, "a9", "Russia"));
    // bob: only 3 failures -> nothing.
    for i in 0..3 {
        evs.push(login(100 + i, "bob", false, &format!("b{i}"), "France"));
    }
    evs.push(login(110, "bob", true, "b9", "France"));
    // carol: success first, failures after -> the time join fails.
    evs.push(login(200, "carol", true, "c9", "France"));
    for i in 0..4 {
        evs.push(login(210 + i, "carol", false, &format!("c{i}"), "France"));
    }
    // dave: 4 failures, success 20 minutes later -> outside the 15m window.
    for i in 0..4 {
        evs.push(login(300 + i, "dave", false, &format!("d{i}"), "France"));
    }
    evs.push(login(300 + 1200, "dave", true, "d9", "France"));
    let d = run(&set, evs);
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(
        d[0].rule,
        "aws_successful_login_after_multiple_failed_attempts"
    );
    assert_eq!(d[0].events, vec![1, 2, 3, 4, 5]);
    assert_eq!(d[0].outcomes["event_count"], json!(5));
    // No country match (France vs Russia) = 0, Russia = 10.
    assert_eq!(d[0].outcomes["risk_score"], json!(10));
    assert_eq!(d[0].outcomes["principal_ip_country"], json!(["Russia"]));
    assert_eq!(d[0].outcomes["principal_ip"], json!(["203.0.113.7"]));
    assert_eq!(d[0].severity.as_deref(), Some("Medium"));
}

fn secret_delete(t: i64, user: &str, id: &str) -> Value {
    json!({"metadata": {"event_timestamp": ts(t), "log_type": "GCP_CLOUDAUDIT", "id": id,
            "product_event_type": "google.cloud.secretmanager.v1.SecretManagerService.DeleteSecret"},
           "target": {"application": "secretmanager.googleapis.com", "user": {"userid": user},
                      "resource": {"name": format!("projects/p/secrets/s{id}")}},
           "security_result": [{"action": "ALLOW"}]})
}

#[test]
fn gcp_count_threshold_per_user_and_window() {
    let set = corpus_rule("community/gcp/gcp_multiple_secrets_deleted.yaral");
    let mut evs = vec![];
    for i in 0..10 {
        evs.push(secret_delete(i * 60, "mallory", &format!("m{i}")));
    }
    for i in 0..9 {
        evs.push(secret_delete(i * 60, "erin", &format!("e{i}")));
    }
    // Ten more for trent, spread over more than an hour: never 10 within 1h.
    for i in 0..10 {
        evs.push(secret_delete(i * 500, "trent", &format!("t{i}")));
    }
    // A user id that is empty is a zero value: dropped from the match.
    for i in 0..10 {
        evs.push(secret_delete(i, "", &format!("z{i}")));
    }
    evs.sort_by_key(|v| {
        v["metadata"]["event_timestamp"]
            .as_str()
            .unwrap()
            .to_string()
    });
    let d = run(&set, evs.clone());
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(d[0].outcomes["event_count"], json!(10));
    assert_eq!(d[0].outcomes["risk_score"], json!(75));
    assert_eq!(d[0].events.len(), 10);
    let lines: Vec<usize> = d[0].events.clone();
    for l in lines {
        assert_eq!(evs[l - 1]["target"]["user"]["userid"], json!("mallory"));
    }
}

#[test]
fn hacktool_regex_reference_list_nocase() {
    let set = corpus_rule("community/microsoft/windows/hacktool_generic_process_access.yaral");
    let ev = |t: i64, host: &str, path: &str| {
        json!({"metadata": {"event_timestamp": ts(t), "event_type": "PROCESS_OPEN"},
               "principal": {"hostname": host, "process": {"file": {"full_path": path}, "pid": "4242"}}})
    };
    let d = run(
        &set,
        vec![
            ev(0, "ws1", "C:\\Tools\\MIMIKATZ\\SECRETSDUMP.exe"),
            ev(5, "ws1", "C:\\Windows\\notepad.exe"),
            ev(10, "ws1", "C:\\x\\certify.EXE"),
            ev(20, "ws2", "C:\\Windows\\explorer.exe"),
        ],
    );
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(d[0].events, vec![1, 3]);
    assert_eq!(d[0].outcomes["risk_score"], json!(15));
    assert_eq!(d[0].outcomes["principal_process_pid"], json!(["4242"]));
}

const CRAFTED: &str = r#"
rule absent_followup {
  meta:
    severity = "Low"
  events:
    $start.metadata.event_type = "PROCESS_LAUNCH"
    $start.principal.hostname = $host
    $stop.metadata.event_type = "PROCESS_TERMINATION"
    $stop.principal.hostname = $host
  match:
    $host over 10m
  condition:
    $start and !$stop
}

rule bytes_sum {
  events:
    $c.metadata.event_type = "NETWORK_CONNECTION"
    $c.principal.hostname = $host
  match:
    $host over 1h
  outcome:
    $total = sum($c.network.sent_bytes)
    $biggest = max($c.network.sent_bytes)
    $smallest = min($c.network.sent_bytes)
    $ports = array($c.target.port)
    $n = count($c.metadata.id)
  condition:
    $c and $total > 1000
}

rule zero_ok {
  events:
    $e.metadata.event_type = "USER_LOGIN"
    $e.target.user.userid = $u
  match:
    $u over 5m
  outcome:
    $who = array_distinct($u)
  condition:
    #e >= 2
  options:
    allow_zero_values = true
}
"#;

#[test]
fn crafted_absence_sum_and_zero_values() {
    let set = RuleSet::parse_str("crafted.yaral", CRAFTED).unwrap();
    let ev = |t: i64, ty: &str, host: &str| {
        json!({"metadata": {"event_timestamp": ts(t), "event_type": ty, "id": format!("{t}")},
               "principal": {"hostname": host}})
    };
    let conn = |t: i64, host: &str, bytes: &str, port: i64| {
        json!({"metadata": {"event_timestamp": ts(t), "event_type": "NETWORK_CONNECTION", "id": format!("c{t}")},
               "principal": {"hostname": host}, "network": {"sent_bytes": bytes}, "target": {"port": port}})
    };
    let login = |t: i64, user: &str| json!({"metadata": {"event_timestamp": ts(t), "event_type": "USER_LOGIN"}, "target": {"user": {"userid": user}}});
    let evs = vec![
        ev(0, "PROCESS_LAUNCH", "h1"), // 1: h1 starts, never stops -> absent_followup
        ev(1, "PROCESS_LAUNCH", "h2"), // 2: h2 starts ...
        ev(30, "PROCESS_TERMINATION", "h2"), // 3: ... and stops -> nothing
        conn(40, "h3", "600", 4444),   // 4
        conn(50, "h3", "700", 3333),   // 5 -> 1300 > 1000
        conn(60, "h4", "10", 80),      // 6 -> 10, no
        login(70, ""),                 // 7
        login(71, ""),                 // 8 -> zero userid allowed: 2 logins
        login(72, "solo"),             // 9 -> only one
    ];
    let mut d = run(&set, evs);
    d.sort_by(|a, b| a.rule.cmp(&b.rule));
    let names: Vec<&str> = d.iter().map(|x| x.rule.as_str()).collect();
    assert_eq!(
        names,
        vec!["absent_followup", "bytes_sum", "zero_ok"],
        "{d:#?}"
    );
    assert_eq!(d[0].events, vec![1]);
    assert_eq!(d[1].events, vec![4, 5]);
    assert_eq!(d[1].outcomes["total"], json!(1300));
    assert_eq!(d[1].outcomes["biggest"], json!(700));
    assert_eq!(d[1].outcomes["smallest"], json!(600));
    assert_eq!(d[1].outcomes["ports"], json!([4444, 3333]));
    assert_eq!(d[1].outcomes["n"], json!(2));
    assert_eq!(d[2].events, vec![7, 8]);
    assert_eq!(d[2].outcomes["who"], json!([]));
}

#[test]
fn any_all_and_repeated_copies() {
    let src = r#"
rule all_private {
  events:
    all net.ip_in_range_cidr($e.target.ip, "10.0.0.0/8")
  condition:
    $e
}
rule not_any_private {
  events:
    $e.target.port = 22
    not any net.ip_in_range_cidr($e.target.ip, "10.0.0.0/8")
  condition:
    $e
}
rule same_label {
  events:
    $e.security_result.action = "BLOCK"
    $e.security_result.severity = "HIGH"
  condition:
    $e
}
"#;
    let set = RuleSet::parse_str("q.yaral", src).unwrap();
    let d = run(
        &set,
        vec![
            json!({"target": {"ip": ["10.0.0.5", "8.8.8.8"], "port": 22}}),
            json!({"target": {"ip": ["10.0.0.5", "10.9.9.9"], "port": 22}}),
            json!({"target": {"ip": ["1.1.1.1"], "port": 22}}),
            // BLOCK and HIGH on different elements: no single copy has both.
            json!({"security_result": [{"action": "BLOCK", "severity": "LOW"}, {"action": "ALLOW", "severity": "HIGH"}]}),
            json!({"security_result": [{"action": "ALLOW"}, {"action": "BLOCK", "severity": "HIGH"}]}),
        ],
    );
    let got: Vec<(String, Vec<usize>)> = d.into_iter().map(|x| (x.rule, x.events)).collect();
    assert_eq!(
        got,
        vec![
            ("all_private".to_string(), vec![2]),
            ("not_any_private".to_string(), vec![3]),
            ("same_label".to_string(), vec![5]),
        ]
    );
}

#[test]
fn enums_by_name_and_number() {
    let src = r#"
rule severe {
  meta:
    severity = "critical"
  events:
    $e.security_result.severity >= "HIGH"
    $e.metadata.event_type = "SCAN_HOST"
  condition:
    $e
}
"#;
    let set = RuleSet::parse_str("enum.yaral", src).unwrap();
    let ev = |sev: Value, ty: Value| json!({"metadata": {"event_type": ty}, "security_result": [{"severity": sev}]});
    let d = run(
        &set,
        vec![
            ev(json!("CRITICAL"), json!("SCAN_HOST")),
            ev(json!("MEDIUM"), json!("SCAN_HOST")),
            ev(json!("HIGH"), json!("SCAN_HOST")),
            ev(json!(400), json!("SCAN_HOST")), // HIGH by number
            ev(json!("HIGH"), json!("PROCESS_LAUNCH")),
        ],
    );
    let lines: Vec<usize> = d.iter().map(|x| x.events[0]).collect();
    assert_eq!(lines, vec![1, 3, 4]);
    assert_eq!(d[0].severity.as_deref(), Some("critical"));
}

#[test]
fn window_limit_is_reported_not_silent() {
    let src = r#"
rule flood {
  events:
    $e.principal.hostname = $h
  match:
    $h over 1h
  condition:
    #e > 10
}
"#;
    let set = RuleSet::parse_str("flood.yaral", src).unwrap();
    let mut ev = set.evaluator();
    let n = imgscan::rules::MAX_WINDOW_EVENTS + 150;
    let mut out = vec![];
    for i in 0..n {
        let e = Event::from_json(
            json!({"metadata": {"event_timestamp": ts(0)}, "principal": {"hostname": "h"}}),
        )
        .unwrap();
        out.extend(ev.push(i + 1, &e));
    }
    let (rest, notes) = ev.finish();
    out.extend(rest);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].events.len(), imgscan::rules::MAX_WINDOW_EVENTS);
    // 100 listed, the other 50 counted: the note list itself stays bounded.
    assert_eq!(notes.len(), 101, "{notes:?}");
    assert!(notes[0].contains("holds more than"), "{notes:?}");
    assert_eq!(notes[100], "50 more events skipped at window limits");
}
