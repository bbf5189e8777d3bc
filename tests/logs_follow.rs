//! `imgscan events --follow` end to end: the real binary tails real files while this
//! test appends, rotates (rename + create) and truncates (copytruncate) them; detections
//! must appear while the process runs, each record read once; an idle follower must use
//! next to no CPU; SIGINT and SIGTERM end it cleanly.

use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

const RULES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/signatures/rules");
/// A guard against a hung follower, not a speed expectation.
const HANG: Duration = Duration::from_secs(120);

fn udm(path: &str, t: &str) -> String {
    json!({"metadata": {"event_type": "PROCESS_LAUNCH", "event_timestamp": t},
           "principal": {"process": {"file": {"full_path": path}}}})
    .to_string()
        + "\n"
}
fn miner() -> String {
    udm("/usr/local/bin/xmrig", "2024-05-01T10:00:00Z")
}
fn benign() -> String {
    udm("/usr/sbin/nginx", "2024-05-01T10:00:01Z")
}

fn append(p: &std::path::Path, s: &str) {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(p)
        .unwrap();
    f.write_all(s.as_bytes()).unwrap();
}

struct Follower {
    child: Child,
    lines: Receiver<String>,
}

impl Follower {
    fn start(args: &[&str]) -> Follower {
        let mut child = Command::new(env!("CARGO_BIN_EXE_imgscan"))
            .args(["events", "--follow", "--rules", RULES, "--format", "json"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("running imgscan");
        let out = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Follower { child, lines }
    }
    /// The next detection line (the process still running when it came).
    fn next(&mut self) -> serde_json::Value {
        let l = self
            .lines
            .recv_timeout(HANG)
            .expect("a detection while the follower runs");
        serde_json::from_str(&l).unwrap()
    }
    fn signal(&mut self, sig: &str) -> i32 {
        let st = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
        let t0 = std::time::Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code().expect("exited, not killed by the signal");
            }
            assert!(t0.elapsed() < HANG, "follower did not exit after {sig}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    /// Whatever it printed after the last `next`, until it exited.
    fn rest(&mut self) -> Vec<serde_json::Value> {
        self.lines
            .iter()
            .map(|l| serde_json::from_str(&l).unwrap())
            .collect()
    }
}

fn source(d: &serde_json::Value) -> String {
    let f = &d["reports"][0]["findings"];
    assert_eq!(f.as_array().unwrap().len(), 1, "one finding per line: {d}");
    assert_eq!(f[0]["id"], "YARAL-t1204_003_malicious_image_execution");
    f[0]["evidence"][0]["excerpt"].as_str().unwrap().to_string()
}

#[test]
fn appended_record_is_detected_while_running_and_sigterm_ends_it() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("events.jsonl");
    append(&p, &benign());
    let mut f = Follower::start(&[p.to_str().unwrap()]);
    append(&p, &benign());
    append(&p, &miner());
    let d = f.next();
    assert!(
        f.child.try_wait().unwrap().is_none(),
        "still following after the detection"
    );
    assert_eq!(source(&d), "source=line 3");
    // A partial line is held until its newline comes.
    let m = miner();
    let (a, b) = m.split_at(40);
    append(&p, a);
    append(&p, b);
    assert_eq!(source(&f.next()), "source=line 4");
    assert_eq!(f.signal("-TERM"), 1, "a HIGH detection was printed");
    assert!(f.rest().is_empty());
}

#[test]
fn rename_and_recreate_then_copytruncate_read_every_record_once() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("falco.jsonl");
    append(&p, &miner());
    let mut f = Follower::start(&[p.to_str().unwrap()]);
    assert_eq!(source(&f.next()), "source=line 1");
    // logrotate's default: rename, then the writer creates a new file.
    std::fs::rename(&p, dir.path().join("falco.jsonl.1")).unwrap();
    append(&p, &(benign() + &benign() + &miner()));
    assert_eq!(source(&f.next()), "source=line 3");
    // copytruncate: copy, truncate in place, keep writing (less than was there).
    std::fs::copy(&p, dir.path().join("falco.jsonl.2")).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .unwrap()
        .set_len(0)
        .unwrap();
    append(&p, &(benign() + &miner()));
    assert_eq!(source(&f.next()), "source=line 2");
    assert_eq!(f.signal("-INT"), 1);
    let rest = f.rest();
    assert!(rest.is_empty(), "a record read twice: {rest:?}");
}

fn cpu_ticks(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the parenthesised command name; utime and stime are 14 and 15.
    let after = &s[s.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split(' ').collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

#[test]
fn an_idle_follower_uses_next_to_no_cpu_and_a_directory_follows_its_newest_file() {
    let dir = tempfile::tempdir().unwrap();
    append(&dir.path().join("a.jsonl"), &benign());
    let mut f = Follower::start(&[dir.path().to_str().unwrap()]);
    // A newer file in the directory is picked up.
    std::thread::sleep(Duration::from_millis(20));
    append(&dir.path().join("b.jsonl"), &miner());
    let d = f.next();
    assert!(source(&d).contains("b.jsonl:1"), "{d}");
    // It is now waiting on a file that does not grow: measure its CPU over ~2 s.
    let before = cpu_ticks(f.child.id());
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_ticks(f.child.id()) - before;
    assert!(used < 20, "idle follower used {used} clock ticks in 2 s");
    assert_eq!(f.signal("-TERM"), 1);
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on Linux when it cannot be asked).
fn clk_tck() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok())
        .unwrap_or(100)
}

#[test]
fn following_an_idle_file_costs_next_to_no_cpu_and_still_sees_an_append() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("falco.jsonl");
    append(&p, &benign());
    let mut f = Follower::start(&[p.to_str().unwrap()]);
    append(&p, &miner());
    assert_eq!(source(&f.next()), "source=line 2");
    // Caught up; the file does not grow. utime + stime over ~2 s of waiting.
    let before = cpu_ticks(f.child.id());
    let t0 = std::time::Instant::now();
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_ticks(f.child.id()) - before;
    let secs = used as f64 / clk_tck() as f64;
    assert!(
        secs < 0.2,
        "idle follower used {secs:.2} s of CPU in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    // Still following: a record appended after the idle stretch is picked up.
    append(&p, &(benign() + &miner()));
    assert_eq!(source(&f.next()), "source=line 4");
    assert_eq!(f.signal("-TERM"), 1);
    assert!(f.rest().is_empty());
}
