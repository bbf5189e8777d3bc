//! Reading log inputs under hostile conditions: bad JSON, non-UTF-8, an oversized line,
//! a gzip bomb, a truncated document. Each is reported with its position, the rest of
//! the input still runs, and the run exits 2 unless `--allow-incomplete`. Also
//! directories, `-` and `--emit udm`.

use imgscan::logs::{input, Format, Item};
use serde_json::{json, Value};
use std::io::Write;

mod common;
const RULES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/signatures/rules");

fn run(args: &[&str], stdin: &[u8]) -> (i32, String, String) {
    common::imgscan_with_stdin(args, Some(stdin))
}

fn falco(cmdline: &str) -> String {
    json!({"output": "A shell was spawned", "priority": "Notice", "rule": "Terminal shell in container",
           "source": "syscall", "time": "2024-05-01T10:00:00.123456789Z",
           "output_fields": {"proc.cmdline": cmdline, "proc.name": "sh", "proc.pname": "runc"}})
    .to_string()
}

fn items(paths: &[String], limits: &input::Limits) -> (Vec<String>, Vec<String>) {
    let (mut ev, mut pr) = (vec![], vec![]);
    input::read_inputs_with(paths, Format::Auto, limits, &mut |i| match i {
        Item::Event(c) => ev.push(c.source),
        Item::Problem(p) => pr.push(p),
    });
    (ev, pr)
}

#[test]
fn bad_records_are_reported_by_file_and_line_and_the_rest_runs() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("falco");
    std::fs::create_dir(&sub).unwrap();
    let mut body = Vec::new();
    body.extend(falco("sh -c uptime").as_bytes());
    body.extend(b"\n{not json\n");
    body.extend(b"{\"rule\": \"x\xff\xfe\", \"output\": \"o\", \"priority\": \"Notice\"}\n");
    // Longer than the 16 MiB line bound (a 1 GiB line takes the same path).
    body.extend(format!("{{\"rule\": \"{}\"}}\n", "a".repeat(17 << 20)).as_bytes());
    body.extend(falco("xmrig -o stratum+tcp://pool.minexmr.com:4444").as_bytes());
    body.push(b'\n');
    std::fs::write(sub.join("alerts.jsonl"), &body).unwrap();
    let d = dir.path().display().to_string();
    let (code, out, err) = run(&["events", "--rules", RULES, "--format", "json", &d], b"");
    assert_eq!(code, 2, "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    let inc: Vec<&str> = doc["reports"][0]["incomplete"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(inc.len(), 3, "{inc:?}");
    assert!(
        inc[0].contains("alerts.jsonl:2: key must be a string"),
        "{inc:?}"
    );
    assert!(inc[1].contains("alerts.jsonl:3: "), "{inc:?}");
    assert!(
        inc[2].contains("alerts.jsonl:4: longer than 16777216 bytes"),
        "{inc:?}"
    );
    let f = &doc["reports"][0]["findings"][0];
    assert_eq!(
        f["evidence"][0]["location"],
        json!({"kind": "event", "line": 5})
    );
    assert!(f["evidence"][0]["excerpt"]
        .as_str()
        .unwrap()
        .contains("alerts.jsonl:5"));
    let (code, _, _) = run(&["events", "--rules", RULES, "--allow-incomplete", &d], b"");
    assert_eq!(
        code, 1,
        "the miner detection decides once incompleteness is allowed"
    );
}

#[test]
fn gzip_bomb_stops_at_the_cap_and_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let line = format!("{}\n", falco("sh"));
    for _ in 0..20_000 {
        enc.write_all(line.as_bytes()).unwrap();
    }
    let p = dir.path().join("alerts.jsonl.gz");
    std::fs::write(&p, enc.finish().unwrap()).unwrap();
    let limits = input::Limits {
        max_decompressed: 1 << 20,
        ..Default::default()
    };
    let (ev, pr) = items(&[p.display().to_string()], &limits);
    assert_eq!(pr.len(), 1, "{pr:?}");
    assert!(pr[0].contains("exceeds 1048576 bytes"), "{pr:?}");
    assert!(!ev.is_empty() && ev.len() < 20_000, "{}", ev.len());
    // Under the cap the same file reads whole.
    let (ev, pr) = items(&[p.display().to_string()], &input::Limits::default());
    assert!(pr.is_empty() && ev.len() == 20_000, "{pr:?}");
}

#[test]
fn truncated_and_oversized_documents_and_non_utf8_text() {
    let dir = tempfile::tempdir().unwrap();
    let ct = json!({"Records": [{"eventName": "RunInstances", "eventSource": "ec2.amazonaws.com",
                                 "awsRegion": "us-east-1", "eventID": "e1",
                                 "eventTime": "2024-01-01T00:00:00Z"}]});
    let pretty = serde_json::to_string_pretty(&ct).unwrap();
    let cut = dir.path().join("cut.json");
    std::fs::write(&cut, &pretty[..pretty.len() - 20]).unwrap();
    let big = dir.path().join("big.json");
    std::fs::write(&big, &pretty).unwrap();
    let audit = dir.path().join("audit.log");
    let mut a = b"type=SYSCALL msg=audit(1.0:1): syscall=59 exe=\"/bin/\xff\"\n".to_vec();
    a.extend(b"type=SYSCALL msg=audit(2.0:2): arch=c000003e syscall=59 exe=\"/bin/ls\"\n");
    std::fs::write(&audit, a).unwrap();
    let limits = input::Limits {
        max_doc: 64,
        ..Default::default()
    };
    let paths: Vec<String> = [&cut, &big, &audit]
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let (ev, pr) = items(&paths[..1], &input::Limits::default());
    assert!(ev.is_empty());
    // A single input: positions are `line N` (the report's target names the file).
    assert!(pr[0].starts_with("line 8: EOF while parsing"), "{pr:?}");
    assert!(
        pr[0].ends_with("the rest of the file was skipped"),
        "{pr:?}"
    );
    let (ev, pr) = items(&paths, &limits);
    assert_eq!(pr.len(), 3, "{pr:?}");
    assert!(
        pr[1].contains("big.json:1: a multi-line JSON document longer than 64 bytes"),
        "{pr:?}"
    );
    assert!(pr[2].contains("audit.log:1: not UTF-8"), "{pr:?}");
    assert_eq!(ev, vec![format!("{}:2 id=2", paths[2])]);
}

#[test]
fn stdin_emit_udm_prints_converted_events() {
    let input = format!("{}\n", falco("xmrig -o stratum+tcp://x:3333"));
    let (code, out, err) = run(&["events", "--emit", "udm", "-"], input.as_bytes());
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(v["metadata"]["product_name"], "Falco");
    assert_eq!(v["metadata"]["event_type"], "PROCESS_LAUNCH");
    assert_eq!(
        v["target"]["process"]["command_line"],
        "xmrig -o stratum+tcp://x:3333"
    );
    let (code, _, err) = run(
        &[
            "events",
            "--emit",
            "udm",
            "--input-format",
            "cloudtrail",
            "-",
        ],
        input.as_bytes(),
    );
    assert_eq!(code, 2, "a Falco alert is not a CloudTrail record: {err}");
    assert!(err.contains("line 1: no eventName"), "{err}");
}

/// Two events of one host, 5 minutes apart, with a third (another host, an hour later)
/// between them in input order: `match $host over 10m` must still join them by time.
#[test]
fn multi_event_windows_use_event_time_not_input_order() {
    use imgscan::logs::detect;
    use imgscan::rules::RuleSet;
    let rule = r#"rule fetch_then_run {
  meta:
    severity = "HIGH"
  events:
    $d.metadata.event_type = "NETWORK_HTTP"
    $d.principal.hostname = $host
    $r.metadata.event_type = "PROCESS_LAUNCH"
    $r.principal.hostname = $host
    $d.metadata.event_timestamp.seconds < $r.metadata.event_timestamp.seconds
  match:
    $host over 10m
  condition:
    $d and $r
}
"#;
    let set = RuleSet::parse_str("r.yaral", rule).unwrap();
    let ev = |ty: &str, host: &str, t: &str| {
        json!({"metadata": {"event_type": ty, "event_timestamp": t},
               "principal": {"hostname": host}})
        .to_string()
            + "\n"
    };
    let fetch = ev("NETWORK_HTTP", "h1", "2024-05-01T10:00:00Z");
    let run_ = ev("PROCESS_LAUNCH", "h1", "2024-05-01T10:05:00Z");
    let later = ev("PROCESS_LAUNCH", "h2", "2024-05-01T11:00:00Z");
    let dir = tempfile::tempdir().unwrap();
    let one = dir.path().join("reversed.jsonl");
    std::fs::write(&one, [run_.clone(), later.clone(), fetch.clone()].concat()).unwrap();
    let o = detect::run(&set, &[one.display().to_string()], Format::Auto, None);
    assert!(o.problems.is_empty(), "{:?}", o.problems);
    assert_eq!(o.detections.len(), 1);
    let labels: Vec<String> = o.detections[0]
        .1
        .iter()
        .map(|s| s.clone().unwrap().label)
        .collect();
    assert_eq!(labels, vec!["line 1", "line 3"]);
    // The same across two files, the later file holding the earlier event.
    let a = dir.path().join("a.jsonl");
    let b = dir.path().join("b.jsonl");
    std::fs::write(&a, [run_, later].concat()).unwrap();
    std::fs::write(&b, fetch).unwrap();
    let paths = [a.display().to_string(), b.display().to_string()];
    let o = detect::run(&set, &paths, Format::Auto, None);
    assert_eq!(o.detections.len(), 1, "{:?}", o.problems);
    let labels: Vec<String> = o.detections[0]
        .1
        .iter()
        .map(|s| s.clone().unwrap().label)
        .collect();
    assert_eq!(
        labels,
        vec![format!("{}:1", paths[0]), format!("{}:1", paths[1])]
    );
    // Out of order by more than the reorder buffer holds: the engine places the late
    // event in the window still open (no third event has closed it).
    let mut det = detect::Detector::with_bound(&set, 0);
    let mut found = vec![];
    let mut items = vec![];
    imgscan::logs::read_inputs(
        &[dir.path().join("reversed.jsonl").display().to_string()],
        Format::Auto,
        &mut |i| items.push(i),
    );
    let mut all = vec![];
    for i in items {
        if let Item::Event(c) = i {
            if c.line != 2 {
                det.push(c, &mut |d| found.push(d));
            } else {
                all.push(c);
            }
        }
    }
    det.finish(&mut |d| found.push(d));
    assert_eq!(found.len(), 1);
    // The documented limit: with no reorder room, an event later than a window that an
    // even later event already closed misses it (this is what the buffer is for).
    let mut det = detect::Detector::with_bound(&set, 0);
    let mut found = vec![];
    imgscan::logs::read_inputs(&[one.display().to_string()], Format::Auto, &mut |i| {
        if let Item::Event(c) = i {
            det.push(c, &mut |d| found.push(d));
        }
    });
    det.finish(&mut |d| found.push(d));
    assert!(found.is_empty(), "{found:?}");
    assert_eq!(all.len(), 1);
}
