//! Rule-engine benchmark: the seed rule over a generated 1,000,000-event UDM JSONL file,
//! beside the time serde_json alone needs to parse the same lines. One core.
//!
//! `cargo bench --bench rules` (or `-- N` for another event count). Prints events/s for
//! parse-only and parse+evaluate, their ratio (target >= 50%), detections, and peak RSS
//! before/after evaluation (flat memory: the stream is never buffered).

use imgscan::rules::{Event, RuleSet};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::time::Instant;

fn generate(path: &std::path::Path, n: usize) -> u64 {
    let mut w = BufWriter::new(std::fs::File::create(path).unwrap());
    let mut x: u64 = 0x9e3779b97f4a7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let base = 1_714_557_600i64; // 2024-05-01T10:00:00Z
    let paths = [
        "/usr/sbin/nginx",
        "/usr/bin/python3",
        "/bin/sh",
        "/usr/bin/curl",
        "/usr/lib/jvm/bin/java",
    ];
    let hosts = [
        "api.example.com",
        "deb.debian.org",
        "registry-1.docker.io",
        "github.com",
    ];
    for i in 0..n {
        let r = next();
        let t = base + (i as i64) / 50;
        let secs = t.rem_euclid(86400);
        let ts = format!(
            "2024-05-{:02}T{:02}:{:02}:{:02}Z",
            1 + t.div_euclid(86400) - 19844,
            secs / 3600,
            secs % 3600 / 60,
            secs % 60
        );
        let miner = r % 1000 == 0;
        let line = match r % 20 {
            0..=11 => {
                let p = if miner {
                    "/tmp/.x/xmrig"
                } else {
                    paths[(r >> 8) as usize % paths.len()]
                };
                format!(
                    r#"{{"metadata":{{"event_timestamp":"{ts}","event_type":"PROCESS_LAUNCH","product_name":"auditd","id":"{i}"}},"principal":{{"hostname":"node-{}","process":{{"pid":"{}","file":{{"full_path":"{p}"}}}}}},"target":{{"process":{{"command_line":"{p} --config /etc/app/{i}.conf --workers 4","file":{{"full_path":"{p}"}}}}}}}}"#,
                    r % 50,
                    r % 65536
                )
            }
            12..=16 => {
                let port = if miner {
                    3333
                } else {
                    [443, 80, 5432, 8080][(r >> 9) as usize % 4]
                };
                format!(
                    r#"{{"metadata":{{"event_timestamp":"{ts}","event_type":"NETWORK_CONNECTION","id":"{i}"}},"principal":{{"hostname":"node-{}","ip":["10.0.{}.{}"],"process":{{"file":{{"full_path":"/usr/bin/curl"}}}}}},"target":{{"ip":["{}.{}.{}.{}"],"port":{port}}},"network":{{"sent_bytes":"{}"}}}}"#,
                    r % 50,
                    (r >> 3) % 256,
                    (r >> 11) % 256,
                    1 + (r >> 5) % 200,
                    (r >> 13) % 256,
                    (r >> 17) % 256,
                    (r >> 21) % 256,
                    r % 100000
                )
            }
            17..=18 => {
                let h = if miner {
                    "pool.minexmr.com"
                } else {
                    hosts[(r >> 7) as usize % hosts.len()]
                };
                format!(
                    r#"{{"metadata":{{"event_timestamp":"{ts}","event_type":"NETWORK_DNS","id":"{i}"}},"principal":{{"hostname":"node-{}"}},"network":{{"dns":{{"questions":[{{"name":"{h}","type":1}}]}}}}}}"#,
                    r % 50
                )
            }
            _ => format!(
                r#"{{"metadata":{{"event_timestamp":"{ts}","event_type":"USER_LOGIN","id":"{i}"}},"target":{{"user":{{"userid":"user{}"}}}},"security_result":[{{"action":"ALLOW"}}]}}"#,
                r % 1000
            ),
        };
        writeln!(w, "{line}").unwrap();
    }
    w.flush().unwrap();
    std::fs::metadata(path).unwrap().len()
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    let bytes = generate(&path, n);
    let set = RuleSet::embedded_default();
    println!(
        "events: {n}, file: {:.1} MiB",
        bytes as f64 / (1 << 20) as f64
    );

    let mut best_parse = f64::MAX;
    let mut best_eval = f64::MAX;
    let mut detections = 0;
    let rss0 = peak_rss_kib();
    for _round in 0..3 {
        // serde_json alone.
        let t = Instant::now();
        let mut r = BufReader::with_capacity(1 << 16, std::fs::File::open(&path).unwrap());
        let mut line = Vec::new();
        let mut count = 0usize;
        while r.read_until(b'\n', &mut line).unwrap() > 0 {
            let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
            std::hint::black_box(&v);
            count += 1;
            line.clear();
        }
        assert_eq!(count, n);
        best_parse = best_parse.min(t.elapsed().as_secs_f64());

        // Parse + evaluate (what `imgscan events` does per line).
        let t = Instant::now();
        let mut r = BufReader::with_capacity(1 << 16, std::fs::File::open(&path).unwrap());
        let mut ev = set.evaluator();
        let mut found = 0usize;
        let mut i = 0usize;
        while r.read_until(b'\n', &mut line).unwrap() > 0 {
            i += 1;
            let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
            let e = Event::from_json(v).unwrap();
            found += ev.push(i, &e).len();
            line.clear();
        }
        found += ev.finish().0.len();
        best_eval = best_eval.min(t.elapsed().as_secs_f64());
        detections = found;
    }
    let rss1 = peak_rss_kib();
    let parse_rate = n as f64 / best_parse;
    let eval_rate = n as f64 / best_eval;
    println!(
        "serde_json parse only : {best_parse:.3} s  {parse_rate:>12.0} events/s  {:.1} MiB/s",
        bytes as f64 / best_parse / (1 << 20) as f64
    );
    println!(
        "parse + seed rule     : {best_eval:.3} s  {eval_rate:>12.0} events/s  {:.1} MiB/s",
        bytes as f64 / best_eval / (1 << 20) as f64
    );
    println!(
        "ratio                 : {:.0}% of parse-only throughput (target >= 50%)",
        100.0 * eval_rate / parse_rate
    );
    println!("detections            : {detections}");
    println!("peak RSS              : {rss0} KiB after generating, {rss1} KiB after 3 rounds");
}
