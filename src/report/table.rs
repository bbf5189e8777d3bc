//! Human-readable report: per target, findings grouped by severity (most severe first),
//! each with its id, title, every piece of evidence, why it matters and what to do; then a
//! summary line with counts per severity, suppressed findings counted only, and the reasons
//! the scan was incomplete in capitals so nobody mistakes it for clean.
//!
//! Colour (plain ANSI SGR codes) only when the caller says so (`color`: stdout is a TTY
//! and `NO_COLOR` is unset). Every string that came from the image is sanitised: control
//! characters are shown escaped, so a hostile file name cannot drive the terminal.

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

fn finding(out: &mut String, f: &Finding, st: &Style) {
    let _ = writeln!(
        out,
        "  [{}] {}  {}",
        st.sev(f.severity),
        st.bold(&clean(&f.id)),
        clean(&f.title)
    );
    for e in &f.evidence {
        let _ = write!(out, "    - {}", where_(e));
        if !e.signature.is_empty() {
            let _ = write!(out, "  {}", st.dim(&format!("[{}]", clean(&e.signature))));
        }
        out.push('\n');
        if !e.excerpt.is_empty() {
            let _ = writeln!(out, "        {}", clean(&e.excerpt));
        }
    }
    if !f.description.is_empty() {
        let _ = writeln!(out, "    why: {}", clean(&f.description));
    }
    if !f.remediation.is_empty() {
        let _ = writeln!(out, "    fix: {}", clean(&f.remediation));
    }
    if !f.attack.is_empty() {
        let _ = writeln!(out, "    ATT&CK: {}", clean(&f.attack.join(", ")));
    }
}

fn report(out: &mut String, r: &Report, st: &Style) {
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
            let _ = writeln!(out, "    ! {}", clean(why));
        }
    }
    for sev in Severity::ALL {
        let group: Vec<&Finding> = r.findings.iter().filter(|f| f.severity == sev).collect();
        if group.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n {} ({})", st.sev(sev), group.len());
        for f in group {
            finding(out, f, st);
        }
    }
    if r.findings.is_empty() {
        let _ = writeln!(out, "  no findings");
    }
    let counts: Vec<String> = Severity::ALL
        .iter()
        .map(|&s| {
            let n = r.findings.iter().filter(|f| f.severity == s).count();
            format!("{n} {s}")
        })
        .collect();
    let _ = write!(out, "\n  Summary: {}", counts.join(", "));
    if !r.suppressed.is_empty() {
        let _ = write!(out, "; {} suppressed", r.suppressed.len());
    }
    if !r.incomplete.is_empty() {
        let _ = write!(
            out,
            "; {}",
            st.paint(
                "1;31",
                &format!("INCOMPLETE ({} reasons above)", r.incomplete.len())
            )
        );
    }
    out.push('\n');
}

pub fn write(reports: &[Report], color: bool, out: &mut dyn Write) -> io::Result<()> {
    let st = Style { on: color };
    let mut s = String::new();
    for (i, r) in reports.iter().enumerate() {
        if i > 0 {
            s.push('\n');
        }
        report(&mut s, r, &st);
    }
    out.write_all(s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Suppressed;

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
        write(std::slice::from_ref(&r), false, &mut out).unwrap();
        let s = String::from_utf8(out).unwrap();
        assert!(!s.contains('\x1b'), "no colour and no raw escapes: {s}");
        assert!(s.contains("INCOMPLETE: the scan did not see everything:"));
        assert!(s.contains("! layer 4: truncated gzip stream"));
        assert!(s.contains(
            "- layer 2 sha256:abababababab usr/bin/kworker\\x1b[2J inside opt/x.tar.gz (hidden by layer 3) @ offset 4096  [xmrig-usage]"
        ), "{s}");
        assert!(s.contains("        --donate-level"));
        assert!(s.contains("- config Env[3]  [wallet]"));
        assert!(s.contains("- name docker.io/acme/nginx:latest  [namespace-squat:nginx]"));
        assert!(s.contains("why: XMRig strings in an ELF."));
        assert!(s.contains("fix: Do not run this image."));
        assert!(s.contains("ATT&CK: T1496"));
        let crit = s.find(" CRITICAL (1)").unwrap();
        let low = s.find(" LOW (1)").unwrap();
        assert!(crit < low, "most severe first");
        assert!(s.contains(
            "Summary: 1 CRITICAL, 0 HIGH, 0 MEDIUM, 1 LOW, 0 INFO; 1 suppressed; INCOMPLETE (1 reasons above)"
        ), "{s}");
        // Suppressed findings are counted, not shown.
        assert_eq!(s.matches("IMG-NAME-NAMESPACE-SQUAT").count(), 1);

        let mut out = Vec::new();
        write(&[r], true, &mut out).unwrap();
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
        write(&[r], false, &mut out).unwrap();
        let s = String::from_utf8(out).unwrap();
        assert!(s.contains("no findings"));
        assert!(s.contains("Summary: 0 CRITICAL, 0 HIGH, 0 MEDIUM, 0 LOW, 0 INFO\n"));
    }
}
