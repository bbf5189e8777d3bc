//! `imgscan events --rules PATH... EVENTS.jsonl|-`: run YARA-L rules over UDM events
//! (one JSON object per line) and report detections as findings, with the same
//! formats and `--fail-on` exit codes as image scans. Malformed lines are reported
//! with their line number and skipped; the run then exits 2 unless
//! `--allow-incomplete`. Lines are bounded ([`MAX_LINE`]); JSON nesting is bounded by
//! serde_json's recursion limit (128).

use crate::findings::{Evidence, Location};
use crate::report::{self, Format, Report};
use crate::rules::{Event, RuleSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;

/// Longest event line accepted (bytes).
pub const MAX_LINE: usize = 1 << 20;
/// Malformed lines listed individually in the report; the rest are counted.
const MAX_LISTED: usize = 100;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Rule file or directory (searched for *.yaral); repeat for more.
    #[arg(long = "rules", required = true, value_name = "PATH")]
    pub rules: Vec<PathBuf>,
    /// Directory of reference lists: one file per `%name` (or `name.txt`).
    #[arg(long, value_name = "DIR")]
    pub reference_lists: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Write the report here instead of standard output.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Exit 1 when a detection is at or above this severity (`none`: never).
    #[arg(long, default_value = "high", value_name = "SEV|none")]
    pub fail_on: String,
    /// Exit by findings even when some lines could not be read.
    #[arg(long)]
    pub allow_incomplete: bool,
    /// UDM events, one JSON object per line, in time order (`-` = standard input).
    #[arg(value_name = "EVENTS.jsonl|-")]
    pub events: String,
}

/// Read one line of at most `max` bytes into `buf` (without the newline). Returns
/// `Ok(None)` at end of input, `Ok(Some(false))` when the line was longer (the rest is
/// skipped).
fn read_line_bounded(
    r: &mut dyn BufRead,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Option<bool>> {
    buf.clear();
    let mut fits = true;
    let mut any = false;
    loop {
        let chunk = r.fill_buf()?;
        if chunk.is_empty() {
            return Ok(if any { Some(fits) } else { None });
        }
        any = true;
        let (part, done) = match memchr(chunk) {
            Some(i) => (&chunk[..i], Some(i + 1)),
            None => (chunk, None),
        };
        if fits {
            if buf.len() + part.len() > max {
                fits = false;
                buf.clear();
            } else {
                buf.extend_from_slice(part);
            }
        }
        match done {
            Some(n) => {
                r.consume(n);
                return Ok(Some(fits));
            }
            None => {
                let n = chunk.len();
                r.consume(n);
            }
        }
    }
}

fn memchr(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'\n')
}

pub fn run(a: Args) -> i32 {
    let fail_on = match report::parse_fail_on(&a.fail_on) {
        Ok(f) => f,
        Err(m) => return super::fail(format!("--fail-on: {m}")),
    };
    if let Some(d) = &a.reference_lists {
        if !d.is_dir() {
            return super::fail(format!(
                "--reference-lists {}: not a directory",
                d.display()
            ));
        }
    }
    let set = match RuleSet::parse_files(&a.rules, a.reference_lists.as_deref()) {
        Ok(s) => s,
        Err(diags) => {
            for d in diags
                .iter()
                .filter(|d| d.level == crate::rules::Level::Error)
            {
                eprintln!("{d}\n");
            }
            return super::fail("rules failed to parse");
        }
    };
    if set.is_empty() {
        return super::fail("no rules found (directories are searched for *.yaral)");
    }
    if !set.warnings().is_empty() {
        eprintln!(
            "imgscan: {} lint warning(s) in the rules; see `imgscan rules check`",
            set.warnings().len()
        );
    }
    let input: Box<dyn Read> = if a.events == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        match std::fs::File::open(&a.events) {
            Ok(f) => Box::new(f),
            Err(e) => return super::fail(format!("{}: {e}", a.events)),
        }
    };
    let mut reader = BufReader::with_capacity(1 << 16, input);
    let mut report = Report {
        target: if a.events == "-" {
            "stdin".into()
        } else {
            a.events.clone()
        },
        ..Default::default()
    };
    let mut ev = set.evaluator();
    let mut buf = Vec::new();
    let mut line = 0usize;
    let mut bad = 0usize;
    let mut detections = vec![];
    let mut note = |report: &mut Report, msg: String| {
        bad += 1;
        if bad <= MAX_LISTED {
            report.incomplete.push(msg);
        }
    };
    loop {
        match read_line_bounded(&mut reader, &mut buf, MAX_LINE) {
            Ok(None) => break,
            Ok(Some(fits)) => {
                line += 1;
                if !fits {
                    note(
                        &mut report,
                        format!("line {line}: longer than {MAX_LINE} bytes; skipped"),
                    );
                    continue;
                }
                if buf.iter().all(|b| b.is_ascii_whitespace()) {
                    continue;
                }
                let parsed = serde_json::from_slice::<serde_json::Value>(&buf)
                    .map_err(|e| e.to_string())
                    .and_then(Event::from_json);
                match parsed {
                    Ok(e) => detections.extend(ev.push(line, &e)),
                    Err(m) => note(&mut report, format!("line {line}: {m}; skipped")),
                }
            }
            Err(e) => {
                note(&mut report, format!("after line {line}: read error: {e}"));
                break;
            }
        }
    }
    let (rest, limits) = ev.finish();
    detections.extend(rest);
    if bad > MAX_LISTED {
        report.incomplete.push(format!(
            "{} more malformed line(s) not listed",
            bad - MAX_LISTED
        ));
    }
    report.incomplete.extend(limits);
    for m in &report.incomplete {
        eprintln!("imgscan: {m}");
    }
    report.findings = detections
        .iter()
        .map(|d| {
            crate::udm::detection_finding(d, &|line, excerpt| Evidence {
                line: None,
                location: Location::Event { line: line as u64 },
                offset: None,
                signature: d.rule.clone(),
                excerpt: excerpt.to_string(),
            })
        })
        .collect();
    report.sort();
    let reports = [report];
    let write_result = match &a.output {
        Some(p) => std::fs::File::create(p).and_then(|f| {
            let mut w = std::io::BufWriter::new(f);
            report::write(&reports, a.format, false, &mut w)?;
            w.flush()
        }),
        None => {
            use std::io::IsTerminal;
            let out = std::io::stdout();
            let color = out.is_terminal() && std::env::var_os("NO_COLOR").is_none();
            let mut lock = out.lock();
            report::write(&reports, a.format, color, &mut lock).and_then(|_| lock.flush())
        }
    };
    if let Err(e) = write_result {
        return super::fail(format!("writing the report: {e}"));
    }
    report::exit_code(&reports, fail_on, a.allow_incomplete)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_lines() {
        let data = b"abc\n0123456789\nxy";
        let mut r = BufReader::with_capacity(4, &data[..]);
        let mut buf = vec![];
        assert_eq!(read_line_bounded(&mut r, &mut buf, 5).unwrap(), Some(true));
        assert_eq!(buf, b"abc");
        assert_eq!(read_line_bounded(&mut r, &mut buf, 5).unwrap(), Some(false));
        assert_eq!(read_line_bounded(&mut r, &mut buf, 5).unwrap(), Some(true));
        assert_eq!(buf, b"xy");
        assert_eq!(read_line_bounded(&mut r, &mut buf, 5).unwrap(), None);
    }

    #[test]
    fn attack_ids_from_meta() {
        let mut m = std::collections::BTreeMap::new();
        m.insert(
            "mitre_attack_technique".to_string(),
            "T1204.003".to_string(),
        );
        m.insert(
            "mitre_attack_url".to_string(),
            "https://attack.mitre.org/techniques/T1078/".to_string(),
        );
        m.insert(
            "reference".to_string(),
            "https://attack.mitre.org/techniques/T1204/003/".to_string(),
        );
        assert_eq!(crate::udm::attack_ids(&m), vec!["T1204.003", "T1078"]);
    }
}
