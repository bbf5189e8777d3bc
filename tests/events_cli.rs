//! `imgscan events` and `imgscan rules check` end to end (the real binary): JSON
//! output, exit codes, malformed and oversized lines, stdin, lint warnings.

use serde_json::{json, Value};

mod common;
const RULES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/signatures/rules");

fn run(args: &[&str], stdin: Option<&[u8]>) -> (i32, String, String) {
    common::imgscan_with_stdin(args, stdin)
}

fn write_events(dir: &tempfile::TempDir, lines: &[String]) -> String {
    let p = dir.path().join("events.jsonl");
    std::fs::write(&p, lines.join("\n") + "\n").unwrap();
    p.display().to_string()
}

fn miner() -> String {
    json!({"metadata": {"event_type": "PROCESS_LAUNCH", "event_timestamp": "2024-05-01T10:00:00Z"},
           "principal": {"process": {"file": {"full_path": "/usr/local/bin/xmrig"}}}})
    .to_string()
}

fn benign() -> String {
    json!({"metadata": {"event_type": "PROCESS_LAUNCH", "event_timestamp": "2024-05-01T10:00:01Z"},
           "principal": {"process": {"file": {"full_path": "/usr/sbin/nginx"}}}})
    .to_string()
}

fn findings(stdout: &str) -> Vec<Value> {
    let doc: Value = serde_json::from_str(stdout).unwrap();
    doc["reports"][0]["findings"].as_array().unwrap().clone()
}

#[test]
fn detections_become_findings_with_event_lines() {
    let dir = tempfile::tempdir().unwrap();
    let f = write_events(&dir, &[benign(), miner(), benign()]);
    let (code, out, _) = run(&["events", "--rules", RULES, "--format", "json", &f], None);
    assert_eq!(code, 1, "HIGH detection at the default --fail-on high");
    let fs = findings(&out);
    assert_eq!(fs.len(), 1);
    assert_eq!(fs[0]["id"], "YARAL-t1204_003_malicious_image_execution");
    assert_eq!(fs[0]["severity"], "HIGH");
    assert!(fs[0]["title"]
        .as_str()
        .unwrap()
        .starts_with("Detects T1204.003"));
    assert_eq!(fs[0]["attack"], json!(["T1204.003"]));
    assert_eq!(
        fs[0]["evidence"][0]["location"],
        json!({"kind": "event", "line": 2})
    );
    let (code, _, _) = run(
        &[
            "events",
            "--rules",
            RULES,
            "--format",
            "json",
            "--fail-on",
            "none",
            &f,
        ],
        None,
    );
    assert_eq!(code, 0);
    let (code, _, _) = run(
        &[
            "events",
            "--rules",
            RULES,
            "--format",
            "json",
            "--fail-on",
            "critical",
            &f,
        ],
        None,
    );
    assert_eq!(code, 0);
}

#[test]
fn clean_stream_from_stdin_exits_zero() {
    let input = format!("{}\n\n{}\n", benign(), benign());
    let (code, out, err) = run(
        &["events", "--rules", RULES, "--format", "json", "-"],
        Some(input.as_bytes()),
    );
    assert_eq!(code, 0, "{err}");
    assert!(findings(&out).is_empty());
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["reports"][0]["target"], "stdin");
}

#[test]
fn malformed_oversized_and_deep_lines_are_reported_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let deep = "[".repeat(10_000) + &"]".repeat(10_000);
    let long = format!("{{\"x\": \"{}\"}}", "a".repeat(2 << 20));
    let f = write_events(
        &dir,
        &[
            benign(),
            "{not json".into(),
            deep,
            long,
            "[1,2]".into(),
            miner(),
        ],
    );
    let (code, out, err) = run(&["events", "--rules", RULES, "--format", "json", &f], None);
    assert_eq!(code, 2, "incomplete without --allow-incomplete");
    let doc: Value = serde_json::from_str(&out).unwrap();
    let inc: Vec<String> = doc["reports"][0]["incomplete"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(inc.len(), 4, "{inc:?}");
    assert!(inc[0].starts_with("line 2: "), "{inc:?}");
    assert!(
        inc[1].starts_with("line 3: ") && inc[1].contains("recursion limit"),
        "{inc:?}"
    );
    assert!(inc[2].starts_with("line 4: longer than"), "{inc:?}");
    assert!(
        inc[3].starts_with("line 5: expected a JSON object"),
        "{inc:?}"
    );
    assert!(err.contains("line 2:"));
    // The good lines were still evaluated.
    assert_eq!(findings(&out)[0]["evidence"][0]["location"]["line"], 6);
    let (code, _, _) = run(
        &[
            "events",
            "--rules",
            RULES,
            "--format",
            "json",
            "--allow-incomplete",
            &f,
        ],
        None,
    );
    assert_eq!(code, 1);
}

#[test]
fn bad_rules_and_missing_input_exit_two() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaral");
    std::fs::write(
        &bad,
        "rule broken {\n events:\n  $e.x = \n condition:\n  $e\n}\n",
    )
    .unwrap();
    let f = write_events(&dir, &[benign()]);
    let (code, _, err) = run(&["events", "--rules", bad.to_str().unwrap(), &f], None);
    assert_eq!(code, 2);
    assert!(err.contains("bad.yaral:4:2: error: rule broken:"), "{err}");
    let (code, _, _) = run(
        &["events", "--rules", RULES, "/nonexistent/events.jsonl"],
        None,
    );
    assert_eq!(code, 2);
}

#[test]
fn rules_check_exit_codes_and_lints() {
    let (code, out, _) = run(&["rules", "check", RULES], None);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("`in (a, b, ...)` is not YARA-L 2.0"), "{out}");
    assert!(
        out.contains("`not` over repeated field $e.target.ip"),
        "{out}"
    );
    assert!(
        out.contains("1 file(s), 1 rule(s): 0 error(s), 5 warning(s)"),
        "{out}"
    );
    let (code, _, _) = run(&["rules", "check", "--strict", RULES], None);
    assert_eq!(code, 1);
    let dir = tempfile::tempdir().unwrap();
    let unknown = dir.path().join("u.yaral");
    std::fs::write(
        &unknown,
        "rule u {\n events:\n  $e.principal.hostnam = \"x\"\n condition:\n  $e\n}\n",
    )
    .unwrap();
    let (code, out, _) = run(&["rules", "check", unknown.to_str().unwrap()], None);
    assert_eq!(code, 0);
    assert!(
        out.contains("$e.principal.hostnam is not a UDM field"),
        "{out}"
    );
    let bad = dir.path().join("b.yaral");
    std::fs::write(
        &bad,
        "rule b {\n events:\n  $e.x = \"unterminated\n condition: $e }\n",
    )
    .unwrap();
    let (code, out, _) = run(
        &[
            "rules",
            "check",
            unknown.to_str().unwrap(),
            bad.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("b.yaral:3:10: error: rule b: unterminated string"),
        "{out}"
    );
    assert!(
        out.contains("3 |   $e.x = \"unterminated\n  |          ^\n"),
        "{out}"
    );
}

#[test]
fn output_file_and_default_table_format() {
    let dir = tempfile::tempdir().unwrap();
    let f = write_events(&dir, &[miner()]);
    let out = dir.path().join("report.json");
    let (code, stdout, _) = run(
        &[
            "events",
            "--rules",
            RULES,
            "--format",
            "json",
            "-o",
            out.to_str().unwrap(),
            &f,
        ],
        None,
    );
    assert_eq!(code, 1);
    assert!(stdout.is_empty());
    let fs = findings(&std::fs::read_to_string(&out).unwrap());
    assert_eq!(fs[0]["id"], "YARAL-t1204_003_malicious_image_execution");
    let (code, stdout, _) = run(&["events", "--rules", RULES, &f], None);
    assert_eq!(code, 1);
    assert!(
        stdout.contains("YARAL-t1204_003_malicious_image_execution"),
        "{stdout}"
    );
}

fn falco_alert(cmdline: &str, time: &str) -> String {
    json!({"output": "A process was spawned", "priority": "Notice", "rule": "Process spawned",
           "source": "syscall", "time": time,
           "output_fields": {"proc.cmdline": cmdline, "proc.exepath": "/usr/bin/sh"}})
    .to_string()
}

fn vm_hwm_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let l = s.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    l.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// A 1 GiB line on standard input (a pipe; nothing on disk) is reported with its
/// position and skipped without being held, and the records after it still run.
#[test]
fn a_one_gib_line_on_stdin_is_reported_and_memory_stays_bounded() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut c = Command::new(env!("CARGO_BIN_EXE_imgscan"))
        .env("IMGSCAN_CACHE_DEFAULT", "none")
        .args(["events", "--rules", RULES, "--format", "json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running imgscan");
    let pid = c.id();
    let mut si = c.stdin.take().unwrap();
    let t0 = std::time::Instant::now();
    // Line 1 makes the input sniff as Falco (16 MiB line bound); line 2 is 1 GiB of a
    // JSON string that never ends; line 3 is a miner launch that must still be seen.
    writeln!(si, "{}", falco_alert("sh -c true", "2024-05-01T10:00:00Z")).unwrap();
    si.write_all(b"{\"output\": \"").unwrap();
    let chunk = vec![b'a'; 1 << 20];
    for _ in 0..1024 {
        si.write_all(&chunk).unwrap();
    }
    si.write_all(b"\n").unwrap();
    let miner = falco_alert(
        "/tmp/xmrig -o stratum+tcp://pool.example:3333",
        "2024-05-01T10:00:05Z",
    );
    writeln!(si, "{miner}").unwrap();
    si.flush().unwrap();
    // The child has read all but the pipe's last buffer: its high-water mark already
    // covers the long line. Read it while the child still waits for more input.
    let hwm = vm_hwm_kib(pid);
    drop(si);
    let out = c.wait_with_output().unwrap();
    let elapsed = t0.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "incomplete input: {stderr}");
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    let inc = doc["reports"][0]["incomplete"].as_array().unwrap();
    assert_eq!(inc.len(), 1, "{inc:?}");
    assert_eq!(
        inc[0], "line 2: longer than 16777216 bytes; skipped",
        "{inc:?}"
    );
    let fs = findings(&stdout);
    assert_eq!(fs.len(), 1, "{stdout}");
    assert_eq!(
        fs[0]["evidence"][0]["location"],
        json!({"kind": "event", "line": 3})
    );
    assert!(
        hwm < 256 << 10,
        "peak RSS {} MiB reading a 1 GiB line",
        hwm >> 10
    );
    eprintln!(
        "1 GiB line: peak RSS {} MiB, {:.1} s",
        hwm >> 10,
        elapsed.as_secs_f64()
    );
}
