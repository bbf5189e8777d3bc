//! `imgscan events --rules PATH... INPUT...`: run YARA-L rules over runtime logs (UDM
//! JSON lines, or Falco, Tetragon, auditd, CloudTrail, GCP audit, Azure Activity and
//! Kubernetes audit logs, converted by [`crate::logs`]; sniffed per file unless
//! `--input-format` says) and report detections as findings, with the same formats and
//! `--fail-on` exit codes as image scans. Inputs are files, directories, gzip files or
//! `-`. Records that cannot be read are reported with their position and skipped; the
//! run then exits 2 unless `--allow-incomplete`. `--emit udm` prints the converted
//! events as JSON lines instead of running rules. `--follow` tails the inputs and
//! prints each detection as it happens (one line; JSON lines for `--format json`).

use crate::findings::{Evidence, Finding, Location};
use crate::logs::{detect, follow, Format as InputFormat, Item};
use crate::report::{self, Format, Report};
use crate::rules::RuleSet;
use std::io::Write;
use std::path::PathBuf;

/// Malformed records listed individually in the report; the rest are counted.
const MAX_LISTED: usize = 100;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Emit {
    /// The converted UDM events, one JSON object per line.
    Udm,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Rule file or directory (searched for *.yaral); repeat for more.
    #[arg(long = "rules", required_unless_present = "emit", value_name = "PATH")]
    pub rules: Vec<PathBuf>,
    /// Directory of reference lists: one file per `%name` (or `name.txt`).
    #[arg(long, value_name = "DIR")]
    pub reference_lists: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Log format of the inputs (`auto` sniffs each file).
    #[arg(long, value_enum, default_value = "auto")]
    pub input_format: InputFormat,
    /// Print the converted events instead of running rules.
    #[arg(long, value_enum)]
    pub emit: Option<Emit>,
    /// Write the report here instead of standard output.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Exit 1 when a detection is at or above this severity (`none`: never).
    #[arg(long, default_value = "high", value_name = "SEV|none")]
    pub fail_on: String,
    /// Exit by findings even when some records could not be read.
    #[arg(long)]
    pub allow_incomplete: bool,
    /// Keep reading the files as they grow (across rotation; a directory: its newest
    /// file) and print each detection when it happens, until SIGINT or SIGTERM.
    #[arg(long, conflicts_with_all = ["emit", "output"])]
    pub follow: bool,
    /// Log files, directories, gzip files, or `-` (standard input), in time order.
    #[arg(value_name = "INPUT|-", required = true)]
    pub events: Vec<String>,
}

fn emit_udm(a: &Args) -> i32 {
    let out = std::io::stdout();
    let mut w = std::io::BufWriter::new(out.lock());
    let mut failed = None;
    let mut problems = 0usize;
    crate::logs::read_inputs(&a.events, a.input_format, &mut |item| match item {
        crate::logs::Item::Event(c) => {
            if failed.is_none() {
                if let Err(e) = serde_json::to_writer(&mut w, c.event.json())
                    .map_err(std::io::Error::from)
                    .and_then(|_| w.write_all(b"\n"))
                {
                    failed = Some(e);
                }
            }
        }
        crate::logs::Item::Problem(p) => {
            problems += 1;
            eprintln!("imgscan: {p}");
        }
    });
    if let Some(e) = failed.or_else(|| w.flush().err()) {
        return super::fail(format!("writing events: {e}"));
    }
    if problems > 0 && !a.allow_incomplete {
        super::EXIT_ERROR
    } else {
        super::EXIT_CLEAN
    }
}

pub fn run(a: Args) -> i32 {
    if a.emit == Some(Emit::Udm) {
        return emit_udm(&a);
    }
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
    if a.follow {
        return run_follow(&a, &set, fail_on);
    }
    let outcome = detect::run(&set, &a.events, a.input_format, None);
    let mut report = Report {
        target: match a.events.as_slice() {
            [one] if one == "-" => "stdin".into(),
            many => many.join(", "),
        },
        ..Default::default()
    };
    let bad = outcome.problems.len();
    report
        .incomplete
        .extend(outcome.problems.into_iter().take(MAX_LISTED));
    if bad > MAX_LISTED {
        report
            .incomplete
            .push(format!("{} more problem(s) not listed", bad - MAX_LISTED));
    }
    for m in &report.incomplete {
        eprintln!("imgscan: {m}");
    }
    report.findings = outcome
        .detections
        .iter()
        .map(|(d, srcs)| finding(d, srcs))
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

/// A detection as a finding whose evidence names the source records.
fn finding(d: &crate::rules::Detection, srcs: &[Option<detect::Source>]) -> Finding {
    crate::udm::detection_finding(d, &|idx, excerpt| {
        let src = d
            .events
            .iter()
            .position(|&i| i == idx)
            .and_then(|k| srcs[k].as_ref());
        Evidence {
            line: None,
            location: Location::Event {
                line: src.map_or(0, |s| s.line as u64),
            },
            offset: None,
            signature: d.rule.clone(),
            excerpt: match src {
                Some(s) if excerpt.is_empty() => format!("source={}", s.label),
                Some(s) => format!("source={} {excerpt}", s.label),
                None => excerpt.to_string(),
            },
        }
    })
}

/// `--follow`: detections printed (and flushed) one by one until a signal.
fn run_follow(a: &Args, set: &RuleSet, fail_on: Option<crate::findings::Severity>) -> i32 {
    if a.events.iter().any(|p| p == "-") {
        return super::fail("--follow reads files and directories, not `-`");
    }
    let stop = follow::stop_on_signals();
    let target = a.events.join(", ");
    let out = std::io::stdout();
    let mut failed: Option<std::io::Error> = None;
    let mut worst = None;
    let mut print = |(d, srcs): detect::Found| {
        let f = finding(&d, &srcs);
        worst = worst.max(Some(f.severity));
        let mut w = out.lock();
        let r = match a.format {
            Format::Table => writeln!(
                w,
                "{:<8} {} {} {}",
                f.severity.to_string().to_uppercase(),
                f.id,
                f.title,
                f.evidence
                    .iter()
                    .map(|e| e.excerpt.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            Format::Json | Format::Jsonl => report::write_jsonl(
                &Report {
                    target: target.clone(),
                    findings: vec![f],
                    ..Default::default()
                },
                &mut w,
            ),
            other => report::write(
                &[Report {
                    target: target.clone(),
                    findings: vec![f],
                    ..Default::default()
                }],
                other,
                false,
                &mut w,
            ),
        };
        if let Err(e) = r.and_then(|_| w.flush()) {
            failed.get_or_insert(e);
        }
    };
    let mut det = detect::Detector::new(set);
    let mut problems = 0usize;
    follow::follow(
        &a.events,
        a.input_format,
        &Default::default(),
        &stop,
        &mut |t| match t {
            follow::Tick::Item(Item::Event(c)) => det.push(c, &mut print),
            follow::Tick::Item(Item::Problem(p)) => {
                problems += 1;
                eprintln!("imgscan: {p}");
            }
            follow::Tick::Idle => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() as i64);
                det.advance(now, &mut print);
            }
        },
    );
    for n in det.finish(&mut print) {
        problems += 1;
        eprintln!("imgscan: {n}");
    }
    if let Some(e) = failed {
        return super::fail(format!("writing detections: {e}"));
    }
    if problems > 0 && !a.allow_incomplete {
        super::EXIT_ERROR
    } else if worst.is_some_and(|w| fail_on.is_some_and(|f| w >= f)) {
        super::EXIT_FINDINGS
    } else {
        super::EXIT_CLEAN
    }
}

#[cfg(test)]
mod tests {

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
