//! Human-readable report, made to be read in five seconds: per target, findings grouped by
//! severity (most severe first); each finding is its severity, id and one-line title, a
//! `where:` line (the layer and path, config field or history step of its strongest
//! evidence), the [`EVIDENCE_SHOWN`] strongest pieces of evidence and "and N more (-v or
//! --format json)", then why it matters and what to do, one line each. A summary line per
//! target gives the counts per severity, suppressed findings counted only, the reasons the
//! scan was incomplete in capitals so nobody mistakes it for clean, and the verdict against
//! `--fail-on`. `verbose` (`-v`) shows every piece of evidence.
//!
//! Strongest evidence first: a file still visible in the final image (or a config field,
//! history step, name or event) before one a later layer hid, one with an excerpt before
//! one without, the scan itself last; otherwise the analyzers' order.
//!
//! Colour (plain ANSI SGR codes) only when the caller says so (`color`: stdout is a TTY
//! and `NO_COLOR` is unset). With a `width` (stdout is a terminal: `COLUMNS`, else the
//! terminal's size, see [`terminal_width`]) every line is cut to it with an ellipsis, so
//! nothing wraps. Every string that came from the image is sanitised: control characters
//! are shown escaped, so a hostile file name cannot drive the terminal.

use super::Report;
use crate::findings::{Evidence, Finding, Location, Severity};
use std::fmt::Write as _;
use std::io::{self, Write};

struct Style {
    on: bool,
}

impl Style {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn sev(&self, sev: Severity) -> String {
        let code = match sev {
            Severity::Critical => "1;97;41",
            Severity::High => "1;31",
            Severity::Medium => "33",
            Severity::Low => "36",
            Severity::Info => "2",
        };
        self.paint(code, sev.as_str())
    }
    fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
    fn dim(&self, s: &str) -> String {
        self.paint("2", s)
    }
}

/// Control characters (C0, DEL, C1) escaped; everything else as is.
pub(crate) fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() && c != '\t' {
            let _ = write!(out, "\\x{:02x}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

/// `sha256:0123456789ab` (algorithm plus the first 12 hex digits).
pub(crate) fn short_digest(d: &str) -> String {
    match d.split_once(':') {
        Some((algo, hex)) => format!("{algo}:{}", hex.chars().take(12).collect::<String>()),
        None => d.chars().take(19).collect(),
    }
}

/// Where one piece of evidence was seen, on one line.
pub(crate) fn where_(e: &Evidence) -> String {
    let mut s = match &e.location {
        Location::File {
            layer,
            layer_digest,
            path,
            hidden_by,
            inside,
            sha256,
        } => {
            let mut s = format!(
                "layer {layer} {} {}",
                short_digest(layer_digest),
                clean(path)
            );
            if !inside.is_empty() {
                let chain: Vec<String> = inside.iter().map(|p| clean(p)).collect();
                let _ = write!(s, " inside {}", chain.join(" inside "));
            }
            if let Some(n) = hidden_by {
                let _ = write!(s, " (hidden by layer {n})");
            }
            if let Some(h) = sha256 {
                let _ = write!(s, " sha256:{}", h.get(..16).unwrap_or(h));
            }
            s
        }
        Location::Config { field } => format!("config {}", clean(field)),
        Location::History { step } => format!("history step {step}"),
        Location::Name { reference } => format!("name {}", clean(reference)),
        Location::Event { line } => format!("event line {line}"),
        Location::Scan => "scan".to_string(),
    };
    if let Some(line) = e.line {
        let _ = write!(s, " line {line}");
    } else if let Some(off) = e.offset {
        let _ = write!(s, " @ offset {off}");
    }
    s
}

/// Pieces of evidence shown per finding without `-v`.
pub const EVIDENCE_SHOWN: usize = 3;

/// How to draw the table (see the module doc).
#[derive(Debug, Clone, Copy, Default)]
pub struct TableOptions {
    pub color: bool,
    /// Every piece of evidence, not the strongest [`EVIDENCE_SHOWN`].
    pub verbose: bool,
    /// Cut every line to this many columns (with an ellipsis).
    pub width: Option<usize>,
    /// The `--fail-on` threshold the summary's verdict is judged against.
    pub fail_on: Option<Severity>,
}

/// The width to cut table lines to: `None` unless standard output is a terminal; then
/// `$COLUMNS` when it is a number, else the terminal's own width.
pub fn terminal_width() -> Option<usize> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        return None;
    }
    if let Some(c) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|&c| c > 0)
    {
        return Some(c);
    }
    console::Term::stdout()
        .size_checked()
        .map(|(_, cols)| usize::from(cols))
}

/// Lower is stronger (see the module doc).
fn weakness(e: &Evidence) -> (u8, bool) {
    let place = match &e.location {
        Location::File {
            hidden_by: Some(_), ..
        } => 1,
        Location::Scan => 2,
        _ => 0,
    };
    (place, e.excerpt.is_empty())
}

/// Where a piece of evidence was seen, without offset or line: the `where:` line.
fn place(e: &Evidence) -> String {
    let bare = Evidence {
        offset: None,
        line: None,
        ..e.clone()
    };
    where_(&bare)
}

/// Whitespace (newlines included) collapsed to single spaces: one line.
fn one_line(s: &str) -> String {
    clean(&s.split_whitespace().collect::<Vec<_>>().join(" "))
}

fn finding(out: &mut String, f: &Finding, st: &Style, verbose: bool) {
    let mut head = format!(
        "  [{}] {}  {}",
        st.sev(f.severity),
        st.bold(&clean(&f.id)),
        one_line(&f.title)
    );
    if !f.attack.is_empty() {
        let _ = write!(
            head,
            "  {}",
            st.dim(&format!("ATT&CK {}", clean(&f.attack.join(", "))))
        );
    }
    let _ = writeln!(out, "{head}");
    let mut order: Vec<&Evidence> = f.evidence.iter().collect();
    order.sort_by_key(|e| weakness(e));
    if let Some(first) = order.first() {
        let here = place(first);
        let mut places: Vec<String> = order.iter().map(|e| place(e)).collect();
        places.sort();
        places.dedup();
        let _ = write!(out, "    where: {here}");
        match places.len() {
            0 | 1 => {}
            2 => out.push_str(" and 1 other place"),
            n => {
                let _ = write!(out, " and {} other places", n - 1);
            }
        }
        out.push('\n');
    }
    let shown = if verbose {
        order.len()
    } else {
        order.len().min(EVIDENCE_SHOWN)
    };
    let here = order.first().map(|e| place(e));
    for e in &order[..shown] {
        // Evidence at the `where:` place says only what is new (offset, line).
        let full = where_(e);
        let rest = match &here {
            Some(h) if place(e) == *h => full[h.len()..].trim_start().to_string(),
            _ => full,
        };
        let _ = write!(out, "    - {rest}");
        if !e.signature.is_empty() {
            let gap = if rest.is_empty() { "" } else { "  " };
            let _ = write!(
                out,
                "{gap}{}",
                st.dim(&format!("[{}]", clean(&e.signature)))
            );
        }
        out.push('\n');
        if !e.excerpt.is_empty() {
            let _ = writeln!(out, "        {}", one_line(&e.excerpt));
        }
    }
    if order.len() > shown {
        let _ = writeln!(
            out,
            "    {}",
            st.dim(&format!(
                "... and {} more (-v or --format json)",
                order.len() - shown
            ))
        );
    }
    if !f.description.is_empty() {
        let _ = writeln!(out, "    why: {}", one_line(&f.description));
    }
    if !f.remediation.is_empty() {
        let _ = writeln!(out, "    fix: {}", one_line(&f.remediation));
    }
}

fn report(out: &mut String, r: &Report, st: &Style, o: &TableOptions) {
    let _ = writeln!(out, "{}", st.bold(&clean(&r.target)));
    let mut meta = Vec::new();
    if let Some(d) = &r.manifest_digest {
        meta.push(format!("manifest {}", clean(d)));
    }
    if let Some(p) = &r.platform {
        meta.push(format!("platform {}", clean(p)));
    }
    if let Some(o) = &r.source {
        match &o.address {
            Some(a) => meta.push(format!("from {} ({})", clean(&o.kind), clean(a))),
            None => meta.push(format!("from {}", clean(&o.kind))),
        }
    }
    if !meta.is_empty() {
        let _ = writeln!(out, "  {}", meta.join(", "));
    }
    if !r.incomplete.is_empty() {
        let _ = writeln!(
            out,
            "  {}",
            st.paint("1;31", "INCOMPLETE: the scan did not see everything:")
        );
        for why in &r.incomplete {
            let _ = writeln!(out, "    ! {}", one_line(why));
        }
    }
    for sev in Severity::ALL {
        let group: Vec<&Finding> = r.findings.iter().filter(|f| f.severity == sev).collect();
        if group.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n {} ({})", st.sev(sev), group.len());
        for f in group {
            finding(out, f, st, o.verbose);
        }
    }
    if r.findings.is_empty() {
        let _ = writeln!(out, "  no findings");
    }
    // Only the severities present, so the line fits 80 columns (it is cut to the width).
    let counts: Vec<String> = Severity::ALL
        .iter()
        .filter_map(|&s| {
            let n = r.findings.iter().filter(|f| f.severity == s).count();
            (n > 0).then(|| format!("{n} {s}"))
        })
        .collect();
    let counts = if counts.is_empty() {
        "no findings".to_string()
    } else {
        counts.join(", ")
    };
    out.push_str("\n  Summary: ");
    if !r.incomplete.is_empty() {
        let n = r.incomplete.len();
        let reasons = if n == 1 { "reason" } else { "reasons" };
        let _ = write!(
            out,
            "{}; ",
            st.paint("1;31", &format!("INCOMPLETE ({n} {reasons} above)"))
        );
    }
    let _ = write!(out, "{}; {counts}", verdict(r, o.fail_on, st));
    if !r.suppressed.is_empty() {
        let _ = write!(out, "; {} suppressed", r.suppressed.len());
    }
    out.push('\n');
}

/// `FAIL: 2 at or above HIGH` / `PASS: none at or above HIGH` / `PASS (--fail-on none)`.
fn verdict(r: &Report, fail_on: Option<Severity>, st: &Style) -> String {
    let Some(t) = fail_on else {
        return st.paint("32", "PASS (--fail-on none)");
    };
    let n = r.findings.iter().filter(|f| f.severity >= t).count();
    if n > 0 {
        st.paint("1;31", &format!("FAIL: {n} at or above {t}"))
    } else {
        st.paint("32", &format!("PASS: none at or above {t}"))
    }
}

/// `s` with every line cut to `width` columns (ANSI codes kept, an ellipsis added).
fn fit(s: &str, width: usize) -> String {
    let width = width.max(20);
    let mut out = String::with_capacity(s.len());
    for line in s.split_inclusive('\n') {
        let (body, nl) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        out.push_str(&console::truncate_str(body, width, "…"));
        out.push_str(nl);
    }
    out
}

/// Write `reports` as the table `o` describes.
pub fn write_opts(reports: &[Report], o: &TableOptions, out: &mut dyn Write) -> io::Result<()> {
    let st = Style { on: o.color };
    let mut s = String::new();
    for (i, r) in reports.iter().enumerate() {
        if i > 0 {
            s.push('\n');
        }
        report(&mut s, r, &st, o);
    }
    if let Some(w) = o.width {
        s = fit(&s, w);
    }
    out.write_all(s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Suppressed;

    fn write(reports: &[Report], color: bool, out: &mut Vec<u8>) {
        let o = TableOptions {
            color,
            fail_on: Some(Severity::High),
            ..TableOptions::default()
        };
        write_opts(reports, &o, out).unwrap();
    }

    fn file_finding() -> Finding {
        Finding {
            id: "IMG-MINER-BINARY".into(),
            title: "Cryptominer binary".into(),
            severity: Severity::Critical,
            description: "XMRig strings in an ELF.".into(),
            remediation: "Do not run this image.".into(),
            attack: vec!["T1496".into()],
            evidence: vec![
                Evidence {
                    line: None,
                    location: Location::File {
                        layer: 2,
                        layer_digest: format!("sha256:{}", "ab".repeat(32)),
                        path: "usr/bin/kworker\x1b[2J".into(),
                        hidden_by: Some(3),
                        inside: vec!["opt/x.tar.gz".into()],
                        sha256: None,
                    },
                    offset: Some(4096),
                    signature: "xmrig-usage".into(),
                    excerpt: "--donate-level".into(),
                },
                Evidence {
                    line: None,
                    location: Location::Config {
                        field: "Env[3]".into(),
                    },
                    offset: None,
                    signature: "wallet".into(),
                    excerpt: String::new(),
                },
            ],
        }
    }

    #[test]
    fn groups_evidence_summary_and_incomplete() {
        let mut low = file_finding();
        low.id = "IMG-NAME-NAMESPACE-SQUAT".into();
        low.severity = Severity::Low;
        low.evidence = vec![Evidence {
            line: None,
            location: Location::Name {
                reference: "docker.io/acme/nginx:latest".into(),
            },
            offset: None,
            signature: "namespace-squat:nginx".into(),
            excerpt: "`acme/nginx` publishes ...".into(),
        }];
        let r = Report {
            target: "docker.io/acme/nginx:latest".into(),
            findings: vec![file_finding(), low.clone()],
            suppressed: vec![Suppressed {
                finding: low,
                reason: "ours".into(),
            }],
            incomplete: vec!["layer 4: truncated gzip stream".into()],
            ..Default::default()
        };
        let mut out = Vec::new();
        write(std::slice::from_ref(&r), false, &mut out);
        let s = String::from_utf8(out).unwrap();
        assert!(!s.contains('\x1b'), "no colour and no raw escapes: {s}");
        assert!(s.contains("INCOMPLETE: the scan did not see everything:"));
        assert!(s.contains("! layer 4: truncated gzip stream"));
        assert!(s.contains(
            "- layer 2 sha256:abababababab usr/bin/kworker\\x1b[2J inside opt/x.tar.gz (hidden by layer 3) @ offset 4096  [xmrig-usage]"
        ), "{s}");
        // At the `where:` place only what is new is said.
        assert!(s.contains("    - [wallet]\n"), "{s}");
        assert!(s.contains("        --donate-level"));
        assert!(
            s.contains("where: name docker.io/acme/nginx:latest\n    - [namespace-squat:nginx]")
        );
        assert!(s.contains("why: XMRig strings in an ELF."));
        assert!(s.contains("fix: Do not run this image."));
        assert!(s.contains("IMG-MINER-BINARY  Cryptominer binary  ATT&CK T1496"));
        // The strongest evidence (the config field: visible, the file is hidden) first.
        assert!(
            s.contains("    where: config Env[3] and 1 other place\n"),
            "{s}"
        );
        assert!(s.find("- [wallet]").unwrap() < s.find("- layer 2").unwrap());
        let crit = s.find(" CRITICAL (1)").unwrap();
        let low = s.find(" LOW (1)").unwrap();
        assert!(crit < low, "most severe first");
        assert!(s.contains(
            "Summary: INCOMPLETE (1 reason above); FAIL: 1 at or above HIGH; 1 CRITICAL, 1 LOW; 1 suppressed\n"
        ), "{s}");
        // Suppressed findings are counted, not shown.
        assert_eq!(s.matches("IMG-NAME-NAMESPACE-SQUAT").count(), 1);

        let mut out = Vec::new();
        write(&[r], true, &mut out);
        let s = String::from_utf8(out).unwrap();
        assert!(s.contains("\x1b[1;97;41mCRITICAL\x1b[0m"));
        assert!(
            !s.contains("kworker\x1b[2J"),
            "hostile escapes stay escaped"
        );
    }

    #[test]
    fn clean_target_says_so() {
        let mut out = Vec::new();
        let r = Report {
            target: "docker.io/library/nginx:latest".into(),
            ..Default::default()
        };
        write(&[r], false, &mut out);
        let s = String::from_utf8(out).unwrap();
        assert!(s.contains("no findings"));
        assert!(s.contains("Summary: PASS: none at or above HIGH; no findings\n"));
    }

    /// A finding with `n` pieces of evidence, each in its own file with a long excerpt.
    fn many(n: usize) -> Finding {
        let mut f = file_finding();
        f.evidence = (0..n)
            .map(|i| Evidence {
                line: None,
                location: Location::File {
                    layer: 1,
                    layer_digest: format!("sha256:{}", "cd".repeat(32)),
                    path: format!("opt/miner/{i}/{}", "deep/".repeat(12)),
                    hidden_by: None,
                    inside: vec![],
                    sha256: None,
                },
                offset: Some(i as u64),
                signature: format!("sig-{i}"),
                excerpt: format!("excerpt {i} {}", "x".repeat(150)),
            })
            .collect();
        f.description = "A long reason\nover two lines. ".repeat(10);
        f
    }

    fn render(r: &Report, o: &TableOptions) -> String {
        let mut out = Vec::new();
        write_opts(std::slice::from_ref(r), o, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn evidence_is_capped_with_a_pointer_to_the_rest() {
        let r = Report {
            target: "t".into(),
            findings: vec![many(27)],
            ..Default::default()
        };
        let s = render(&r, &TableOptions::default());
        // The first is at the `where:` place: only its offset is repeated.
        assert!(s.contains("    - @ offset 0  [sig-0]\n"), "{s}");
        assert_eq!(
            s.matches("    - layer 1 ").count(),
            EVIDENCE_SHOWN - 1,
            "{s}"
        );
        assert!(
            s.contains("    ... and 24 more (-v or --format json)\n"),
            "{s}"
        );
        assert!(s.contains("where: layer 1 sha256:cdcdcdcdcdcd opt/miner/0/"));
        assert!(s.contains(" and 26 other places\n"));
        assert_eq!(s.matches("    why: ").count(), 1);
        assert!(!s.contains("lines.\nover"), "why is one line");
        assert!(s.contains("PASS (--fail-on none)"), "{s}");
        // -v: all of it, no pointer.
        let v = render(
            &r,
            &TableOptions {
                verbose: true,
                ..Default::default()
            },
        );
        assert_eq!(v.matches("    - layer 1 ").count(), 26);
        assert!(!v.contains("more (-v"));
        // Exactly three: nothing more to point at.
        let r3 = Report {
            findings: vec![many(3)],
            ..r.clone()
        };
        assert!(!render(&r3, &TableOptions::default()).contains("more (-v"));
    }

    #[test]
    fn lines_fit_the_width() {
        let r = Report {
            target: "docker.io/library/".to_string() + &"long-name/".repeat(20),
            findings: vec![many(5), file_finding()],
            incomplete: vec!["x".repeat(300)],
            ..Default::default()
        };
        let wide = render(&r, &TableOptions::default());
        assert!(
            wide.lines().any(|l| l.chars().count() > 160),
            "fixture is wide"
        );
        for (width, color) in [(80, false), (160, false), (80, true), (40, true)] {
            let o = TableOptions {
                color,
                width: Some(width),
                ..Default::default()
            };
            let s = render(&r, &o);
            assert_eq!(
                s.lines().count(),
                wide.lines().count(),
                "no line added or lost"
            );
            for line in s.lines() {
                let w = console::measure_text_width(line);
                assert!(w <= width, "{w} > {width}: {line:?}");
            }
            assert!(s.contains('…'), "cut lines say so");
        }
    }
}
