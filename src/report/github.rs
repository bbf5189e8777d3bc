//! GitHub Actions workflow commands: one annotation line per finding.
//!
//! ```text
//! ::error file=opt/app/.cache/kworker,title=IMG-MINER-BINARY (docker.io/acme/app%3A1.0)::Miner binary%0Alayer 1 ...
//! ::warning title=IMG-CONFIG-...::...
//! ```
//!
//! A finding at or above `--fail-on` is `::error`, else MEDIUM and up `::warning`, else
//! `::notice`; an incomplete scan is one `::error` per image. `file=` is the path inside
//! the image of the first file evidence (GitHub shows it in the summary; it links only
//! when the repository has that path). Escaped as the Actions toolkit does
//! (`toolkit/packages/core/src/command.ts`): in the message `%` `\r` `\n` become `%25`
//! `%0D` `%0A`; in properties also `:` and `,` become `%3A` and `%2C`. Other control
//! characters from the image are shown as `\xNN` so they cannot reach the log viewer.

use super::Report;
use crate::findings::{Finding, Location, Severity};
use std::io::{self, Write};

/// Control characters other than CR/LF (which are escaped) as `\xNN`.
fn visible(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() && c != '\n' && c != '\r' {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Escape a command's message (`::cmd ...::MESSAGE`).
pub fn escape_data(s: &str) -> String {
    visible(s)
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escape a property value (`file=VALUE,title=VALUE`).
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

fn command(level: &str, props: &[(&str, String)], msg: &str) -> String {
    let p: Vec<String> = props
        .iter()
        .map(|(k, v)| format!("{k}={}", escape_property(v)))
        .collect();
    if p.is_empty() {
        format!("::{level}::{}", escape_data(msg))
    } else {
        format!("::{level} {}::{}", p.join(","), escape_data(msg))
    }
}

fn level(f: &Finding, fail_on: Option<Severity>) -> &'static str {
    if fail_on.is_some_and(|t| f.severity >= t) {
        "error"
    } else if f.severity >= Severity::Medium {
        "warning"
    } else {
        "notice"
    }
}

fn message(f: &Finding, target: &str) -> String {
    let mut s = format!("{} {}: {} ({target})", f.severity.as_str(), f.id, f.title);
    for e in f.evidence.iter().take(3) {
        s.push_str(&format!("\n  {}", super::table::where_(e)));
        if !e.excerpt.is_empty() {
            s.push_str(&format!(": {}", e.excerpt));
        }
    }
    if f.evidence.len() > 3 {
        s.push_str(&format!(
            "\n  and {} more (--format json lists all)",
            f.evidence.len() - 3
        ));
    }
    if !f.remediation.is_empty() {
        s.push_str(&format!("\nfix: {}", f.remediation));
    }
    s
}

/// The annotation lines for `reports`.
pub fn write(reports: &[Report], fail_on: Option<Severity>, out: &mut dyn Write) -> io::Result<()> {
    for r in reports {
        for f in &r.findings {
            let mut props: Vec<(&str, String)> = Vec::new();
            let file = f.evidence.iter().find_map(|e| match &e.location {
                Location::File { path, .. } => Some(path.trim_start_matches('/').to_string()),
                _ => None,
            });
            if let Some(p) = file {
                props.push(("file", p));
            }
            props.push(("title", format!("{} ({})", f.id, r.target)));
            writeln!(
                out,
                "{}",
                command(level(f, fail_on), &props, &message(f, &r.target))
            )?;
        }
        if !r.incomplete.is_empty() {
            let msg = format!(
                "the scan of {} did not see everything:\n{}",
                r.target,
                r.incomplete.join("\n")
            );
            let props = [("title", format!("scan incomplete ({})", r.target))];
            writeln!(out, "{}", command("error", &props, &msg))?;
        }
    }
    Ok(())
}
