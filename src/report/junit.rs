//! JUnit XML, as Jenkins (`junit` step) and GitLab (`artifacts:reports:junit`) read it.
//!
//! ```text
//! <testsuites name="imgscan" tests="3" failures="1" errors="1">
//!   <testsuite name="docker.io/acme/app:1.0" tests="2" failures="1" errors="1" skipped="0">
//!     <testcase classname="imgscan.docker.io/acme/app:1.0" name="IMG-MINER-BINARY: ...">
//!       <failure type="CRITICAL" message="...">where, why, what to do</failure>
//!     </testcase>
//!     <testcase classname="..." name="scan complete"><error message="...">...</error></testcase>
//!   </testsuite>
//! </testsuites>
//! ```
//!
//! One `testsuite` per image (report). One failing `testcase` per finding at or above
//! `--fail-on`; findings below it are not test cases (they are in the JSON report). An
//! image with no failing finding gets one passing test case, so a clean scan shows as a
//! pass and not as "no tests". An incomplete scan is a test case with an `error`. Text from
//! the image is stripped of characters XML 1.0 cannot carry (shown as `\xNN`).

use super::Report;
use crate::findings::{Finding, Severity};
use quick_xml::events::{BytesDecl, BytesText, Event};
use quick_xml::Writer;
use std::io::{self, Write};

/// Characters XML 1.0 forbids even escaped (most C0 controls, U+FFFE/U+FFFF) as `\xNN`.
fn xml_safe(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let ok = matches!(c, '\t' | '\n' | '\r')
            || ('\u{20}'..='\u{D7FF}').contains(&c)
            || ('\u{E000}'..='\u{FFFD}').contains(&c)
            || c >= '\u{10000}';
        if ok {
            out.push(c);
        } else {
            out.push_str(&format!("\\x{:02x}", c as u32));
        }
    }
    out
}

/// The failure text: where (each piece of evidence), why, what to do.
fn body(f: &Finding) -> String {
    let mut s = String::new();
    for e in &f.evidence {
        s.push_str(&super::table::where_(e));
        if !e.excerpt.is_empty() {
            s.push_str(": ");
            s.push_str(&e.excerpt);
        }
        s.push('\n');
    }
    if !f.description.is_empty() {
        s.push_str(&format!("why: {}\n", f.description));
    }
    if !f.remediation.is_empty() {
        s.push_str(&format!("fix: {}\n", f.remediation));
    }
    if !f.attack.is_empty() {
        s.push_str(&format!("ATT&CK: {}\n", f.attack.join(", ")));
    }
    xml_safe(&s)
}

fn failing(r: &Report, fail_on: Option<Severity>) -> Vec<&Finding> {
    match fail_on {
        None => Vec::new(),
        Some(t) => r.findings.iter().filter(|f| f.severity >= t).collect(),
    }
}

/// Write the reports as one `testsuites` document.
pub fn write(reports: &[Report], fail_on: Option<Severity>, out: &mut dyn Write) -> io::Result<()> {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let mut tests = 0;
    let mut failures = 0;
    let mut errors = 0;
    for r in reports {
        let f = failing(r, fail_on).len();
        failures += f;
        errors += usize::from(!r.incomplete.is_empty());
        tests += f.max(1) + usize::from(!r.incomplete.is_empty());
    }
    let threshold = fail_on.map_or("none".to_string(), |s| s.as_str().to_string());
    w.create_element("testsuites")
        .with_attribute(("name", "imgscan"))
        .with_attribute(("tests", tests.to_string().as_str()))
        .with_attribute(("failures", failures.to_string().as_str()))
        .with_attribute(("errors", errors.to_string().as_str()))
        .write_inner_content(|w| {
            for r in reports {
                let target = xml_safe(&r.target);
                let classname = format!("imgscan.{target}");
                let bad = failing(r, fail_on);
                let incomplete = usize::from(!r.incomplete.is_empty());
                w.create_element("testsuite")
                    .with_attribute(("name", target.as_str()))
                    .with_attribute((
                        "tests",
                        (bad.len().max(1) + incomplete).to_string().as_str(),
                    ))
                    .with_attribute(("failures", bad.len().to_string().as_str()))
                    .with_attribute(("errors", incomplete.to_string().as_str()))
                    .with_attribute(("skipped", "0"))
                    .write_inner_content(|w| {
                        let mut props: Vec<(&str, String)> = Vec::new();
                        if let Some(d) = &r.manifest_digest {
                            props.push(("manifest_digest", xml_safe(d)));
                        }
                        if let Some(p) = &r.platform {
                            props.push(("platform", xml_safe(p)));
                        }
                        if let Some(o) = &r.source {
                            props.push(("source", xml_safe(&o.kind)));
                        }
                        props.push(("fail_on", threshold.clone()));
                        props.push(("findings", r.findings.len().to_string()));
                        w.create_element("properties").write_inner_content(|w| {
                            for (k, v) in &props {
                                w.create_element("property")
                                    .with_attribute(("name", *k))
                                    .with_attribute(("value", v.as_str()))
                                    .write_empty()?;
                            }
                            Ok(())
                        })?;
                        for f in &bad {
                            let name = xml_safe(&format!("{}: {}", f.id, f.title));
                            w.create_element("testcase")
                                .with_attribute(("classname", classname.as_str()))
                                .with_attribute(("name", name.as_str()))
                                .write_inner_content(|w| {
                                    w.create_element("failure")
                                        .with_attribute(("type", f.severity.as_str()))
                                        .with_attribute(("message", xml_safe(&f.title).as_str()))
                                        .write_text_content(BytesText::new(&body(f)))?;
                                    Ok(())
                                })?;
                        }
                        if bad.is_empty() {
                            let name = match fail_on {
                                Some(t) => format!("no findings at or above {}", t.as_str()),
                                None => "scanned (--fail-on none)".to_string(),
                            };
                            w.create_element("testcase")
                                .with_attribute(("classname", classname.as_str()))
                                .with_attribute(("name", name.as_str()))
                                .write_empty()?;
                        }
                        if !r.incomplete.is_empty() {
                            let why = xml_safe(&r.incomplete.join("\n"));
                            w.create_element("testcase")
                                .with_attribute(("classname", classname.as_str()))
                                .with_attribute(("name", "scan complete"))
                                .write_inner_content(|w| {
                                    w.create_element("error")
                                        .with_attribute(("type", "incomplete"))
                                        .with_attribute((
                                            "message",
                                            "the scan did not see everything",
                                        ))
                                        .write_text_content(BytesText::new(&why))?;
                                    Ok(())
                                })?;
                        }
                        Ok(())
                    })?;
            }
            Ok(())
        })?;
    let mut bytes = w.into_inner();
    bytes.push(b'\n');
    out.write_all(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_characters_are_shown_not_written() {
        assert_eq!(xml_safe("a\u{1}b\u{1b}[0m\tc"), "a\\x01b\\x1b[0m\tc");
        assert_eq!(xml_safe("ü ✓ 𝄞"), "ü ✓ 𝄞");
    }
}
