//! Log adapter benchmark: for each input format, N (default 1,000,000) generated records
//! in a temporary file → events/s through reading + the adapter + the seed rule
//! (`logs::detect::run`), beside the format's parse-only throughput over the same file
//! (serde_json `Value` per line for JSON formats, quick-xml events for Sysmon, and for
//! auditd a tokenizer: each line checked as UTF-8 and split into every `key=value`
//! field, `"quoted"`/`'quoted'` values unquoted, the fields collected as borrowed slices
//! into a reused vector: the least any auditd parser must do). One core. Peak RSS is
//! VmHWM after each run.
//!
//! The parse-only baseline parses every record whole (into a `serde_json::Value`, or
//! every quick-xml event of the `<Event>`), while the adapters parse only the fields
//! they read (`Adapter::keep`) and skip the rest unbuilt: that saving is part of what
//! is measured, the baseline is not made cheaper.
//!
//! `cargo bench --bench logs` (or `-- N`, `-- N falco sysmon` for some formats only,
//! `-- --adapter-only` to skip the parse-only pass when profiling). JSON records are a published sample record
//! (`../shared/runtime-samples/`) repeated with its times varied; auditd and Sysmon
//! records are generated (SYSCALL+EXECVE+EOE per serial; EventID 1 lines).

use imgscan::logs::{detect, read_inputs, Format, Item};
use imgscan::rules::RuleSet;
use std::io::{BufReader, BufWriter, Write};
use std::time::Instant;

const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/runtime-samples");

fn first_record(rel: &str) -> serde_json::Value {
    let p = std::path::Path::new("/work/shared/runtime-samples").join(rel);
    let p = if p.exists() {
        p
    } else {
        std::path::Path::new(SAMPLES).join(rel)
    };
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let v: serde_json::Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(_) => serde_json::from_str(text.lines().next().unwrap()).unwrap(),
    };
    match v {
        serde_json::Value::Array(mut a) => a.remove(0),
        serde_json::Value::Object(mut m) if m.contains_key("Records") => {
            m.remove("Records").unwrap()[0].clone()
        }
        other => other,
    }
}

/// One record of `format` for index `i`, as one line.
fn record(format: Format, tmpl: &str, i: usize) -> String {
    let secs = 1_714_557_600 + i / 50;
    let (h, m, s) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
    match format {
        Format::Auditd => {
            let exe = if i.is_multiple_of(1000) {
                "/tmp/.x/xmrig"
            } else {
                "/usr/bin/curl"
            };
            format!(
                "type=SYSCALL msg=audit({secs}.000:{i}): arch=c000003e syscall=59 success=yes exit=0 ppid=1 pid={} uid=0 exe=\"{exe}\" key=(null)\n\
                 type=EXECVE msg=audit({secs}.000:{i}): argc=2 a0=\"curl\" a1=\"-s\"\n\
                 type=EOE msg=audit({secs}.000:{i}): ",
                i % 65536
            )
        }
        Format::Sysmon => format!(
            "2024-05-01T{h:02}:{m:02}:{s:02}+00:00 host1 sysmon: <Event><System><Provider Name=\"Linux-Sysmon\" Guid=\"{{ff032593-a8d3-4f13-b0d6-01fc615a0f97}}\"/><EventID>1</EventID><Version>5</Version><Level>4</Level><Task>1</Task><Opcode>0</Opcode><Keywords>0x8000000000000000</Keywords><TimeCreated SystemTime=\"2024-05-01T{h:02}:{m:02}:{s:02}.188276000Z\"/><EventRecordID>{i}</EventRecordID><Correlation/><Execution ProcessID=\"811\" ThreadID=\"811\"/><Channel>Linux-Sysmon/Operational</Channel><Computer>host1</Computer><Security UserId=\"0\"/></System><EventData><Data Name=\"RuleName\">-</Data><Data Name=\"UtcTime\">2024-05-01 {h:02}:{m:02}:{s:02}.790</Data><Data Name=\"ProcessGuid\">{{5e5c0a0c-1a2b-6460-0d0e-000000000000}}</Data><Data Name=\"ProcessId\">{}</Data><Data Name=\"Image\">/usr/bin/curl</Data><Data Name=\"CommandLine\">curl -s https://example.com/{i}</Data><Data Name=\"CurrentDirectory\">/tmp</Data><Data Name=\"User\">root</Data><Data Name=\"ParentProcessId\">1</Data><Data Name=\"ParentImage\">/bin/bash</Data><Data Name=\"ParentCommandLine\">bash</Data></EventData></Event>",
            i % 65536
        ),
        _ => tmpl.replace("2024-05-01T10:00:00", &format!("2024-05-01T{h:02}:{m:02}:{s:02}")),
    }
}

/// A JSON template with its time fields set to a placeholder the generator varies.
fn template(rel: &str) -> String {
    let mut v = first_record(rel);
    fn walk(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    let timeish = k.to_ascii_lowercase().contains("time");
                    if timeish && x.is_string() {
                        *x = serde_json::Value::String("2024-05-01T10:00:00Z".into());
                    } else {
                        walk(x);
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut v);
    v.to_string()
}

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn parse_only(format: Format, path: &std::path::Path) -> usize {
    let mut r = BufReader::with_capacity(1 << 16, std::fs::File::open(path).unwrap());
    let mut buf = vec![];
    let mut fields: Vec<Field> = vec![];
    let mut n = 0usize;
    while let Ok(Some(_)) = imgscan::logs::input::read_line_bounded(&mut r, &mut buf, 16 << 20) {
        match format {
            Format::Auditd => {
                if let Ok(text) = std::str::from_utf8(&buf) {
                    audit_fields(text, &mut fields);
                    n += usize::from(fields.first().is_some_and(|f| &text[f.0.clone()] == "type"));
                }
            }
            Format::Sysmon => {
                let start = memchr_event(&buf);
                let mut x = quick_xml::Reader::from_reader(&buf[start..]);
                let mut b = vec![];
                loop {
                    match x.read_event_into(&mut b) {
                        Ok(quick_xml::events::Event::Eof) | Err(_) => break,
                        _ => {}
                    }
                    b.clear();
                }
                n += 1;
            }
            _ => {
                if serde_json::from_slice::<serde_json::Value>(&buf).is_ok() {
                    n += 1;
                }
            }
        }
    }
    n
}

/// One `key=value` of an audit line: the byte ranges of key and (unquoted) value.
type Field = (std::ops::Range<usize>, std::ops::Range<usize>);

/// The auditd baseline: every `key=value` of `line` into `out` (as ranges of `line`, so
/// the vector is reused across lines; quotes stripped), as the module doc describes.
fn audit_fields(line: &str, out: &mut Vec<Field>) {
    out.clear();
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        let ks = i;
        while i < b.len() && b[i] != b'=' && b[i] != b' ' {
            i += 1;
        }
        if i >= b.len() || b[i] != b'=' {
            continue;
        }
        let key = ks..i;
        i += 1;
        let (vs, ve) = if i < b.len() && (b[i] == b'"' || b[i] == b'\'') {
            let q = b[i];
            let vs = i + 1;
            let ve = memchr::memchr(q, &b[vs..]).map_or(b.len(), |k| vs + k);
            i = ve + 1;
            (vs, ve)
        } else {
            let vs = i;
            let ve = memchr::memchr(b' ', &b[vs..]).map_or(b.len(), |k| vs + k);
            i = ve;
            (vs, ve)
        };
        out.push((key, vs..ve));
    }
}

fn memchr_event(b: &[u8]) -> usize {
    b.windows(6).position(|w| w == b"<Event").unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = args
        .iter()
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    // Format names given (e.g. `falco sysmon`) run only those (for profiling one).
    let only: Vec<&str> = args
        .iter()
        .filter(|a| a.parse::<usize>().is_err() && !a.starts_with('-'))
        .map(String::as_str)
        .collect();
    // `--adapter-only` skips the parse-only pass (to profile the adapter path alone).
    let adapter_only = args.iter().any(|a| a == "--adapter-only");
    let set = RuleSet::embedded_default();
    let formats: [(Format, &str); 8] = [
        (Format::Falco, "falco-json/falco-website__blog_falcosidekick-response-engine-part-9-fission.md__L466-467.jsonl"),
        (Format::Tetragon, "tetragon/tetragon__testdata_events.json"),
        (Format::Cloudtrail, "cloudtrail/cloud-custodian__tests_data_cwe__event-cloud-trail-run-instances.json"),
        (Format::GcpAudit, "gcp-audit/forseti-real-time-enforcer__tests_data__compute_instance_creation_logs_1.json"),
        (Format::AzureActivity, "azure-activity/azure-monitor-docs__activity-log-schema.md__administrative-sample-event__REST-schema.json"),
        (Format::K8sAudit, "k8s-audit/falco__test_trace_files_k8s_audit__create_nginx_pod_privileged.json"),
        (Format::Auditd, ""),
        (Format::Sysmon, ""),
    ];
    let dir = tempfile::tempdir().unwrap();
    println!(
        "{:<15} {:>10} {:>14} {:>14} {:>7} {:>10} {:>10}",
        "format", "records", "parse-only/s", "adapter+rule/s", "ratio", "events", "VmHWM MiB"
    );
    for (format, rel) in formats {
        if !only.is_empty() && !only.contains(&format.name()) {
            continue;
        }
        let tmpl = if rel.is_empty() {
            String::new()
        } else {
            template(rel)
        };
        let path = dir.path().join(format!("{}.log", format.name()));
        {
            let mut w = BufWriter::new(std::fs::File::create(&path).unwrap());
            for i in 0..n {
                w.write_all(record(format, &tmpl, i).as_bytes()).unwrap();
                w.write_all(b"\n").unwrap();
            }
            w.flush().unwrap();
        }
        let t = Instant::now();
        let parsed = if adapter_only {
            n
        } else {
            parse_only(format, &path)
        };
        let parse_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let p = path.display().to_string();
        // Detections are counted, not kept (some templates fire on every record).
        let (mut det, mut hits, mut problems) = (detect::Detector::new(&set), 0usize, vec![]);
        read_inputs(&[p], format, &mut |i| match i {
            Item::Event(c) => det.push(c, &mut |_| hits += 1),
            Item::Problem(m) => problems.push(m),
        });
        let events = det.events;
        det.finish(&mut |_| hits += 1);
        let full_s = t.elapsed().as_secs_f64();
        assert!(parsed > 0);
        let rate_parse = n as f64 / parse_s;
        let rate_full = n as f64 / full_s;
        println!(
            "{:<15} {:>10} {:>14.0} {:>14.0} {:>6.0}% {:>10} {:>10.1}",
            format.name(),
            n,
            rate_parse,
            rate_full,
            100.0 * rate_full / rate_parse,
            events,
            vm_hwm_kib() as f64 / 1024.0
        );
        println!("  {hits} detection(s)");
        if !problems.is_empty() {
            println!("  {} problem(s), first: {}", problems.len(), problems[0]);
        }
        let _ = std::fs::remove_file(&path);
    }
}
