//! `.imgscanignore`: findings the user accepted, with a reason. YAML, a list of rules (or a
//! map with an `ignore:` list):
//!
//! ```yaml
//! - id: IMG-POOL-ENDPOINT            # required: the finding id
//!   path: "usr/share/doc/**"         # optional glob on the file path (nested: `a.tgz!x/y`)
//!   image: "registry.example/team/*" # optional glob on the scanned target
//!   reason: "docs list pool hosts"   # required
//!   expires: 2027-01-31              # optional; after this date the rule stops applying
//! ```
//! An expired rule suppresses nothing and is itself reported (INFO `IMG-IGNORE-EXPIRED`),
//! so an acceptance cannot silently outlive its review date.

use crate::error::{Error, Result, Step};
use crate::findings::{Evidence, Finding, Location, Severity};
use crate::report::Suppressed;
use globset::{Glob, GlobMatcher};
use serde::Deserialize;
use std::path::Path;

pub const DEFAULT_FILE: &str = ".imgscanignore";
pub const IGNORE_EXPIRED: &str = "IMG-IGNORE-EXPIRED";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: String,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    image: Option<String>,
    reason: String,
    #[serde(default)]
    expires: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawFile {
    List(Vec<RawRule>),
    Map { ignore: Vec<RawRule> },
}

/// A calendar date (`YYYY-MM-DD`), compared as a tuple.
pub type Date = (i32, u32, u32);

fn parse_date(s: &str) -> Option<Date> {
    let mut it = s.trim().splitn(3, '-');
    let y = it.next()?.parse().ok()?;
    let m = it.next()?.parse().ok()?;
    let d = it.next()?.parse().ok()?;
    ((1..=12).contains(&m) && (1..=31).contains(&d)).then_some((y, m, d))
}

/// Today's UTC date.
pub fn today() -> Date {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    civil_from_days((secs / 86400) as i64)
}

/// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> Date {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    ((if m <= 2 { y + 1 } else { y }) as i32, m, d)
}

/// One rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub id: String,
    pub path: Option<GlobMatcher>,
    pub image: Option<GlobMatcher>,
    pub reason: String,
    pub expires: Option<Date>,
    /// `file:line` of the rule, for messages.
    pub origin: String,
}

/// A parsed ignore file.
#[derive(Debug, Clone, Default)]
pub struct IgnoreFile {
    pub rules: Vec<Rule>,
}

/// What applying the rules did.
#[derive(Debug, Default)]
pub struct Applied {
    pub kept: Vec<Finding>,
    pub suppressed: Vec<Suppressed>,
    /// INFO findings for expired rules.
    pub expired: Vec<Finding>,
}

impl IgnoreFile {
    /// Parse YAML text; `name` is used in errors.
    pub fn parse(name: &str, text: &str) -> Result<IgnoreFile> {
        if text.trim().is_empty() {
            return Ok(IgnoreFile::default());
        }
        let raw: RawFile = serde_norway::from_str(text).map_err(|e| {
            let at = e
                .location()
                .map(|l| format!("{name}:{}", l.line()))
                .unwrap_or_else(|| name.to_string());
            Error::new(Step::LoadingRules, at, e)
        })?;
        let rules = match raw {
            RawFile::List(v) | RawFile::Map { ignore: v } => v,
        };
        let line_of = |id: &str| {
            text.lines()
                .position(|l| l.contains(id))
                .map(|n| n + 1)
                .unwrap_or(1)
        };
        let glob = |g: &str, origin: &str| {
            Glob::new(g)
                .map(|g| g.compile_matcher())
                .map_err(|e| Error::new(Step::LoadingRules, origin.to_string(), e))
        };
        let mut out = Vec::new();
        for r in rules {
            let origin = format!("{name}:{}", line_of(&r.id));
            if r.id.trim().is_empty() {
                return Err(Error::new(Step::LoadingRules, origin, "empty id"));
            }
            if r.reason.trim().is_empty() {
                return Err(Error::new(
                    Step::LoadingRules,
                    origin,
                    format!("rule for {} has no reason", r.id),
                ));
            }
            let expires = match &r.expires {
                Some(s) => Some(parse_date(s).ok_or_else(|| {
                    Error::new(
                        Step::LoadingRules,
                        origin.clone(),
                        format!("expires {s:?} is not YYYY-MM-DD"),
                    )
                })?),
                None => None,
            };
            out.push(Rule {
                path: r.path.as_deref().map(|g| glob(g, &origin)).transpose()?,
                image: r.image.as_deref().map(|g| glob(g, &origin)).transpose()?,
                id: r.id,
                reason: r.reason,
                expires,
                origin,
            });
        }
        Ok(IgnoreFile { rules: out })
    }

    /// Load `path`; `None` = `./.imgscanignore` when it exists, else no rules.
    pub fn load(path: Option<&Path>) -> Result<IgnoreFile> {
        let (p, required) = match path {
            Some(p) => (p.to_path_buf(), true),
            None => (Path::new(DEFAULT_FILE).to_path_buf(), false),
        };
        match std::fs::read_to_string(&p) {
            Ok(t) => Self::parse(&p.display().to_string(), &t),
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
                Ok(IgnoreFile::default())
            }
            Err(e) => Err(Error::new(Step::LoadingRules, p.display().to_string(), e)),
        }
    }

    fn matches(rule: &Rule, target: &str, f: &Finding) -> bool {
        if rule.id != f.id {
            return false;
        }
        if let Some(img) = &rule.image {
            if !img.is_match(target) {
                return false;
            }
        }
        if let Some(p) = &rule.path {
            let hit = f.evidence.iter().any(|e| match &e.location {
                Location::File { path, inside, .. } => {
                    p.is_match(path)
                        || p.is_match(crate::analyzers::visitor::display_path(inside, path))
                }
                _ => false,
            });
            if !hit {
                return false;
            }
        }
        true
    }

    /// Split `findings` of `target` into kept and suppressed as of `today`.
    pub fn apply(&self, target: &str, findings: Vec<Finding>, today: Date) -> Applied {
        let mut a = Applied::default();
        for r in &self.rules {
            if r.expires.is_some_and(|e| e < today) {
                let (y, m, d) = r.expires.unwrap_or_default();
                a.expired.push(Finding {
                    id: IGNORE_EXPIRED.into(),
                    title: format!("Ignore rule for {} expired on {y:04}-{m:02}-{d:02}", r.id),
                    severity: Severity::Info,
                    description: format!(
                        "The rule at {} (reason: {}) has expired and no longer suppresses anything.",
                        r.origin, r.reason
                    ),
                    remediation: "Review the finding again; extend or delete the rule.".into(),
                    attack: vec![],
                    evidence: vec![Evidence {
                        line: None,
                        location: Location::Scan,
                        offset: None,
                        signature: "ignore-rule".into(),
                        excerpt: r.origin.clone(),
                    }],
                });
            }
        }
        for f in findings {
            let rule = self
                .rules
                .iter()
                .find(|r| r.expires.is_none_or(|e| e >= today) && Self::matches(r, target, &f));
            match rule {
                Some(r) => a.suppressed.push(Suppressed {
                    finding: f,
                    reason: r.reason.clone(),
                }),
                None => a.kept.push(f),
            }
        }
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(id: &str, path: &str) -> Finding {
        Finding {
            id: id.into(),
            title: "t".into(),
            severity: Severity::High,
            description: String::new(),
            remediation: String::new(),
            attack: vec![],
            evidence: vec![Evidence {
                line: None,
                location: Location::File {
                    layer: 0,
                    layer_digest: "sha256:a".into(),
                    path: path.into(),
                    hidden_by: None,
                    inside: vec![],
                    sha256: None,
                },
                offset: None,
                signature: "s".into(),
                excerpt: String::new(),
            }],
        }
    }

    #[test]
    fn rules_match_by_id_path_image_and_expire() {
        let y = "- id: IMG-POOL-ENDPOINT\n  path: \"usr/share/doc/**\"\n  reason: docs list pools\n- id: IMG-WALLET\n  image: \"docker.io/library/*\"\n  reason: test wallet\n  expires: 2020-01-01\n";
        let f = IgnoreFile::parse(".imgscanignore", y).unwrap();
        let a = f.apply(
            "docker.io/library/x",
            vec![
                finding("IMG-POOL-ENDPOINT", "usr/share/doc/a/README"),
                finding("IMG-POOL-ENDPOINT", "usr/bin/a"),
                finding("IMG-WALLET", "etc/x"),
            ],
            (2026, 11, 28),
        );
        assert_eq!(a.suppressed.len(), 1);
        assert_eq!(a.suppressed[0].reason, "docs list pools");
        assert_eq!(a.kept.len(), 2);
        assert_eq!(a.expired.len(), 1);
        assert!(
            a.expired[0].description.contains(".imgscanignore:4"),
            "{}",
            a.expired[0].description
        );
        // Before expiry the wallet rule applies.
        let a = f.apply(
            "docker.io/library/x",
            vec![finding("IMG-WALLET", "etc/x")],
            (2019, 5, 1),
        );
        assert_eq!(a.suppressed.len(), 1);
        assert!(a.expired.is_empty());
    }

    #[test]
    fn reason_is_required_and_errors_name_the_line() {
        let e = IgnoreFile::parse("f", "- id: IMG-X\n  reason: \"\"\n").unwrap_err();
        assert!(e.cause.contains("no reason"), "{e}");
        let e = IgnoreFile::parse("f", "- id: IMG-X\n  reason: r\n  bogus: 1\n").unwrap_err();
        assert!(e.target.starts_with('f'), "{e}");
        assert!(IgnoreFile::parse("f", "ignore:\n  - id: A\n    reason: r\n").is_ok());
    }

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_000), (2024, 10, 4));
        assert!(today().0 >= 2024);
    }
}
