//! The HTML report (`--format html`): one self-contained page (inline CSS and a few lines
//! of inline script, nothing fetched), for a person to open in a browser or attach to a CI
//! run. Per target: the verdict against `--fail-on` and counts per severity, the reasons
//! the scan was incomplete, the image's layers as a timeline (size, the history step that
//! made each, findings per layer), then the findings grouped by severity, each with where,
//! why and what to do, and its evidence in a collapsible `<details>`. Evidence in a file
//! that a later layer deleted or replaced is marked (`class="hidden-file"`).
//!
//! Everything that came from the image (names, paths, excerpts, history commands) is
//! HTML-escaped by [`esc`]; there is no other way text reaches the page. The page carries a
//! Content-Security-Policy that allows only its own inline style and script.
//!
//! Stable hooks for tests and tools: `section.report`, `li.layer[data-layer]`,
//! `section.severity[data-severity]`, `article.finding[data-severity][data-id]`,
//! `li.evidence`, `.hidden-file`.

use super::table::{clean, short_digest, where_};
use super::Report;
use crate::findings::{Finding, Location, Severity};
use std::fmt::Write as _;
use std::io::{self, Write};

/// `s` with `& < > " '` replaced by entities (safe in text and in quoted attributes);
/// control characters shown escaped as in the table.
pub(crate) fn esc(s: &str) -> String {
    let s = clean(s);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `1.5 MiB` style sizes (also `imgscan inspect`'s).
pub fn human(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

const STYLE: &str = r#"
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:72rem;padding:1rem;color:#1d1d1f}
h1{font-size:1.3rem;margin:.2rem 0;word-break:break-all}h2{font-size:1.1rem;margin:1.2rem 0 .4rem}
code,pre{font:12px/1.4 ui-monospace,monospace;word-break:break-all;white-space:pre-wrap}
.meta{color:#555}.verdict{font-weight:600;padding:.1rem .5rem;border-radius:4px}
.FAIL{background:#b3261e;color:#fff}.PASS{background:#1e7b34;color:#fff}
.incomplete{border-left:4px solid #b3261e;padding:.2rem .8rem;background:#fdecea}
ol.timeline{list-style:none;padding:0;margin:0;border-left:3px solid #ccc}
li.layer{margin:0 0 .5rem;padding:.2rem .8rem;position:relative}
li.layer::before{content:"";position:absolute;left:-8px;top:.55rem;width:11px;height:11px;border-radius:50%;background:#888}
li.layer.has-findings::before{background:#b3261e}
.sev{display:inline-block;min-width:5.5rem;font-weight:700;font-size:12px;padding:0 .3rem;border-radius:3px;text-align:center}
.CRITICAL{background:#7a0010;color:#fff}.HIGH{background:#d93025;color:#fff}.MEDIUM{background:#f9ab00}
.LOW{background:#8ab4f8}.INFO{background:#e8eaed}
article.finding{border:1px solid #ddd;border-radius:6px;padding:.5rem .8rem;margin:.5rem 0}
article.finding h3{font-size:1rem;margin:0}.why,.fix,.where{margin:.2rem 0}
.hidden-file{background:#fff3cd;border:1px solid #e0b100;border-radius:3px;padding:0 .3rem;font-size:12px}
details summary{cursor:pointer;color:#1a56b8}li.evidence{margin:.2rem 0}
.tools{float:right}
"#;

const SCRIPT: &str = r#"
document.addEventListener("DOMContentLoaded",function(){
  var b=document.getElementById("toggle");if(!b)return;
  b.addEventListener("click",function(){
    var d=document.querySelectorAll("details"),open=b.dataset.open!=="1";
    d.forEach(function(x){x.open=open});b.dataset.open=open?"1":"0";
    b.textContent=open?"Collapse all evidence":"Expand all evidence";
  });
});
"#;

/// Write the page for `reports`; `fail_on` judges the verdict line.
pub fn write(reports: &[Report], fail_on: Option<Severity>, out: &mut dyn Write) -> io::Result<()> {
    let mut s = String::new();
    let title = match reports {
        [one] => format!("imgscan: {}", esc(&one.target)),
        _ => format!("imgscan: {} images", reports.len()),
    };
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<meta name=\"generator\" content=\"imgscan {}\"><title>{title}</title><style>{STYLE}</style>\
<script>{SCRIPT}</script></head><body>\n<button id=\"toggle\" class=\"tools\" type=\"button\">Expand all evidence</button>\n",
        env!("CARGO_PKG_VERSION")
    );
    if reports.is_empty() {
        s.push_str("<p>No images were scanned.</p>\n");
    }
    for r in reports {
        report(&mut s, r, fail_on);
    }
    s.push_str("</body></html>\n");
    out.write_all(s.as_bytes())
}

fn report(s: &mut String, r: &Report, fail_on: Option<Severity>) {
    s.push_str("<section class=\"report\">\n");
    let _ = writeln!(s, "<h1>{}</h1>", esc(&r.target));
    let mut meta = Vec::new();
    if let Some(d) = &r.manifest_digest {
        meta.push(format!("manifest <code>{}</code>", esc(d)));
    }
    if let Some(p) = &r.platform {
        meta.push(format!("platform {}", esc(p)));
    }
    if let Some(o) = &r.source {
        let mut from = format!("from {}", esc(&o.kind));
        if let Some(a) = &o.address {
            let _ = write!(from, " (<code>{}</code>)", esc(a));
        }
        meta.push(from);
    }
    if !meta.is_empty() {
        let _ = writeln!(s, "<p class=\"meta\">{}</p>", meta.join(" · "));
    }
    let failing = fail_on.map(|t| r.findings.iter().filter(|f| f.severity >= t).count());
    let (class, text) = match (fail_on, failing) {
        (Some(t), Some(n)) if n > 0 => ("FAIL", format!("FAIL: {n} at or above {t}")),
        (Some(t), _) => ("PASS", format!("PASS: none at or above {t}")),
        _ => ("PASS", "PASS (--fail-on none)".to_string()),
    };
    let counts: Vec<String> = Severity::ALL
        .iter()
        .map(|&sev| {
            let n = r.findings.iter().filter(|f| f.severity == sev).count();
            format!("<span class=\"count\" data-severity=\"{sev}\">{n} {sev}</span>")
        })
        .collect();
    let _ = write!(
        s,
        "<p class=\"summary\"><span class=\"verdict {class}\">{text}</span> {}",
        counts.join(", ")
    );
    if !r.suppressed.is_empty() {
        let _ = write!(s, "; {} suppressed", r.suppressed.len());
    }
    s.push_str("</p>\n");
    if !r.incomplete.is_empty() {
        s.push_str(
            "<div class=\"incomplete\"><strong>INCOMPLETE: the scan did not see everything</strong><ul>\n",
        );
        for why in &r.incomplete {
            let _ = writeln!(s, "<li>{}</li>", esc(why));
        }
        s.push_str("</ul></div>\n");
    }
    if !r.layers.is_empty() {
        timeline(s, r);
    }
    let _ = writeln!(s, "<h2>Findings ({})</h2>", r.findings.len());
    if r.findings.is_empty() {
        s.push_str("<p class=\"none\">No findings.</p>\n");
    }
    for sev in Severity::ALL {
        let group: Vec<&Finding> = r.findings.iter().filter(|f| f.severity == sev).collect();
        if group.is_empty() {
            continue;
        }
        let _ = writeln!(
            s,
            "<section class=\"severity\" data-severity=\"{sev}\"><h2><span class=\"sev {sev}\">{sev}</span> ({})</h2>",
            group.len()
        );
        for f in group {
            finding(s, f);
        }
        s.push_str("</section>\n");
    }
    s.push_str("</section>\n");
}

/// Layers a finding has evidence in.
fn layers_of(f: &Finding) -> Vec<usize> {
    let mut v: Vec<usize> = f
        .evidence
        .iter()
        .filter_map(|e| match e.location {
            Location::File { layer, .. } => Some(layer),
            _ => None,
        })
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

fn timeline(s: &mut String, r: &Report) {
    let per_finding: Vec<(Severity, Vec<usize>)> = r
        .findings
        .iter()
        .map(|f| (f.severity, layers_of(f)))
        .collect();
    let _ = writeln!(
        s,
        "<h2>Layers ({})</h2>\n<ol class=\"timeline\">",
        r.layers.len()
    );
    for l in &r.layers {
        let here: Vec<Severity> = per_finding
            .iter()
            .filter(|(_, ls)| ls.contains(&l.index))
            .map(|(sev, _)| *sev)
            .collect();
        let class = if here.is_empty() {
            "layer"
        } else {
            "layer has-findings"
        };
        let _ = write!(
            s,
            "<li class=\"{class}\" data-layer=\"{}\" data-findings=\"{}\"><strong>layer {}</strong> <code>{}</code> · {} compressed, {} read, {} entries",
            l.index,
            here.len(),
            l.index,
            esc(&short_digest(&l.digest)),
            human(l.size),
            human(l.uncompressed_bytes),
            l.entries
        );
        if here.is_empty() {
            s.push_str(" · no findings");
        } else {
            let mut parts = Vec::new();
            for sev in Severity::ALL {
                let n = here.iter().filter(|&&x| x == sev).count();
                if n > 0 {
                    parts.push(format!("<span class=\"sev {sev}\">{n} {sev}</span>"));
                }
            }
            let _ = write!(s, " · {}", parts.join(" "));
        }
        match l.history_step {
            Some(step) => {
                let _ = write!(
                    s,
                    "<br>history step {step}: <code class=\"created-by\">{}</code>",
                    esc(&l.created_by)
                );
            }
            None => s.push_str("<br><span class=\"meta\">no history step recorded</span>"),
        }
        s.push_str("</li>\n");
    }
    s.push_str("</ol>\n");
}

fn finding(s: &mut String, f: &Finding) {
    let _ = writeln!(
        s,
        "<article class=\"finding\" data-severity=\"{}\" data-id=\"{}\"><h3><span class=\"sev {}\">{}</span> <code>{}</code> {}</h3>",
        f.severity,
        esc(&f.id),
        f.severity,
        f.severity,
        esc(&f.id),
        esc(&f.title)
    );
    if let Some(first) = f.evidence.first() {
        let _ = writeln!(
            s,
            "<p class=\"where\">where: <code>{}</code></p>",
            esc(&where_(first))
        );
    }
    if !f.description.is_empty() {
        let _ = writeln!(s, "<p class=\"why\">why: {}</p>", esc(&f.description));
    }
    if !f.remediation.is_empty() {
        let _ = writeln!(s, "<p class=\"fix\">fix: {}</p>", esc(&f.remediation));
    }
    if !f.attack.is_empty() {
        let _ = writeln!(
            s,
            "<p class=\"attack\">ATT&amp;CK: {}</p>",
            esc(&f.attack.join(", "))
        );
    }
    let _ = writeln!(
        s,
        "<details><summary>Evidence ({})</summary><ul>",
        f.evidence.len()
    );
    for e in &f.evidence {
        s.push_str("<li class=\"evidence\"><code>");
        s.push_str(&esc(&where_(e)));
        s.push_str("</code>");
        if let Location::File {
            hidden_by: Some(n), ..
        } = e.location
        {
            let _ = write!(
                s,
                " <span class=\"hidden-file\" data-hidden-by=\"{n}\" title=\"deleted or replaced by layer {n}: not in the final filesystem, still in the image\">hidden by layer {n}</span>"
            );
        }
        if !e.signature.is_empty() {
            let _ = write!(
                s,
                " <span class=\"signature\">[{}]</span>",
                esc(&e.signature)
            );
        }
        if !e.excerpt.is_empty() {
            let _ = write!(s, "<pre class=\"excerpt\">{}</pre>", esc(&e.excerpt));
        }
        s.push_str("</li>\n");
    }
    s.push_str("</ul></details></article>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::Evidence;

    #[test]
    fn escapes_everything_from_the_image() {
        assert_eq!(
            esc("<script>a&\"b'</script>\x1b"),
            "&lt;script&gt;a&amp;&quot;b&#39;&lt;/script&gt;\\x1b"
        );
        let f = Finding {
            id: "IMG-X".into(),
            title: "<b>t</b>".into(),
            severity: Severity::High,
            description: "<img src=x>".into(),
            remediation: String::new(),
            attack: vec![],
            evidence: vec![Evidence {
                line: None,
                location: Location::File {
                    layer: 0,
                    layer_digest: "sha256:00".into(),
                    path: "opt/<script>alert(1)</script>".into(),
                    hidden_by: Some(1),
                    inside: vec![],
                    sha256: None,
                },
                offset: None,
                signature: "\"><x".into(),
                excerpt: "</pre><script>".into(),
            }],
        };
        let r = Report {
            target: "<t>".into(),
            findings: vec![f],
            ..Default::default()
        };
        let mut out = Vec::new();
        write(&[r], Some(Severity::High), &mut out).unwrap();
        let page = String::from_utf8(out).unwrap();
        // The only tags are ours: one <script> (the page's own) and no <img>, <b> or <x.
        assert_eq!(page.matches("<script>").count(), 1, "{page}");
        assert!(!page.contains("<img") && !page.contains("<b>") && !page.contains("<x"));
        assert!(page.contains("opt/&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("class=\"hidden-file\" data-hidden-by=\"1\""));
        assert!(page.contains("FAIL: 1 at or above HIGH"));
        assert_eq!(human(512), "512 B");
        assert_eq!(human(3 << 20), "3.0 MiB");
    }
}
