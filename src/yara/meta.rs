//! What a rule's metadata and tags say about a match: its severity (`docs/yara.md` has the
//! table), its description and its reference. Pure functions over the metadata, so the
//! mapping is tested without compiling rules.

use crate::findings::Severity;

/// A metadata value as the rule wrote it.
#[derive(Debug, Clone, PartialEq)]
pub enum MetaValue {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
}

/// Severity when the rule says nothing usable.
pub const DEFAULT_SEVERITY: Severity = Severity::Medium;

/// A level word: imgscan's severities, malcontent's risk words and their abbreviations.
pub fn level(w: &str) -> Option<Severity> {
    level_word(w)
}

fn level_word(w: &str) -> Option<Severity> {
    Some(match w.trim().to_ascii_lowercase().as_str() {
        "critical" | "crit" => Severity::Critical,
        "high" | "suspicious" | "weird" => Severity::High,
        "medium" | "med" | "notable" | "moderate" => Severity::Medium,
        "low" => Severity::Low,
        "info" | "informational" | "harmless" | "none" => Severity::Info,
        _ => return None,
    })
}

/// malcontent's numeric risk: 0 harmless .. 4 critical.
fn risk_number(n: i64) -> Option<Severity> {
    Some(match n {
        0 => Severity::Info,
        1 => Severity::Low,
        2 => Severity::Medium,
        3 => Severity::High,
        4 => Severity::Critical,
        _ => return None,
    })
}

/// A 0-100 score (signature-base/THOR convention): 90+ CRITICAL, 70+ HIGH, 40+ MEDIUM,
/// 1+ LOW, 0 INFO.
fn score_number(n: i64) -> Option<Severity> {
    Some(match n {
        90..=100 => Severity::Critical,
        70..=89 => Severity::High,
        40..=69 => Severity::Medium,
        1..=39 => Severity::Low,
        0 => Severity::Info,
        _ => return None,
    })
}

fn as_int(v: &MetaValue) -> Option<i64> {
    match v {
        MetaValue::Int(n) => Some(*n),
        MetaValue::Float(f) if f.is_finite() => Some(f.round() as i64),
        MetaValue::Str(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The severity of a match of a rule with `meta` and `tags`: the first of `severity`,
/// `risk`, `score` (metadata, in that order) that gives one, then the first tag that
/// names a level, else [`DEFAULT_SEVERITY`].
pub fn severity<'a>(
    meta: impl IntoIterator<Item = (&'a str, &'a MetaValue)>,
    tags: impl IntoIterator<Item = &'a str>,
) -> Severity {
    let meta: Vec<(&str, &MetaValue)> = meta.into_iter().collect();
    let get = |k: &str| {
        meta.iter()
            .find(|(mk, _)| mk.eq_ignore_ascii_case(k))
            .map(|(_, v)| *v)
    };
    if let Some(v) = get("severity") {
        let s = match v {
            MetaValue::Str(s) => level_word(s).or_else(|| as_int(v).and_then(risk_number)),
            _ => as_int(v).and_then(risk_number),
        };
        if let Some(s) = s {
            return s;
        }
    }
    if let Some(v) = get("risk") {
        let s = match v {
            MetaValue::Str(s) => level_word(s).or_else(|| as_int(v).and_then(risk_number)),
            _ => as_int(v).and_then(risk_number),
        };
        if let Some(s) = s {
            return s;
        }
    }
    if let Some(s) = get("score").and_then(as_int).and_then(score_number) {
        return s;
    }
    tags.into_iter()
        .find_map(level_word)
        .unwrap_or(DEFAULT_SEVERITY)
}

/// The first string value of the first key of `keys` present in `meta`.
pub fn text<'a>(
    meta: impl IntoIterator<Item = (&'a str, &'a MetaValue)>,
    keys: &[&str],
) -> Option<String> {
    let meta: Vec<(&str, &MetaValue)> = meta.into_iter().collect();
    keys.iter().find_map(|k| {
        meta.iter().find_map(|(mk, v)| match v {
            MetaValue::Str(s) if mk.eq_ignore_ascii_case(k) && !s.trim().is_empty() => {
                Some(s.trim().to_string())
            }
            _ => None,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sev(meta: &[(&str, MetaValue)], tags: &[&str]) -> Severity {
        severity(meta.iter().map(|(k, v)| (*k, v)), tags.iter().copied())
    }

    #[test]
    fn severity_from_metadata_then_tags_then_default() {
        use MetaValue::*;
        assert_eq!(
            sev(&[("severity", Str("HIGH".into()))], &[]),
            Severity::High
        );
        assert_eq!(
            sev(&[("Severity", Str("crit".into()))], &[]),
            Severity::Critical
        );
        assert_eq!(sev(&[("risk", Int(1))], &[]), Severity::Low);
        assert_eq!(
            sev(&[("risk", Str("suspicious".into()))], &[]),
            Severity::High
        );
        assert_eq!(sev(&[("score", Int(75))], &[]), Severity::High);
        assert_eq!(sev(&[("score", Str("40".into()))], &[]), Severity::Medium);
        assert_eq!(sev(&[("score", Int(95))], &[]), Severity::Critical);
        assert_eq!(sev(&[("score", Int(10))], &[]), Severity::Low);
        // `severity` wins over `score`; an unusable value falls through to the next.
        assert_eq!(
            sev(&[("score", Int(95)), ("severity", Str("low".into()))], &[]),
            Severity::Low
        );
        assert_eq!(
            sev(&[("severity", Str("bad".into())), ("score", Int(95))], &[]),
            Severity::Critical
        );
        // malcontent: the first tag that names a level.
        assert_eq!(sev(&[], &["linux", "harmless"]), Severity::Info);
        assert_eq!(sev(&[], &["notable", "crit"]), Severity::Medium);
        assert_eq!(
            sev(&[("author", Str("x".into()))], &["linux"]),
            Severity::Medium
        );
        assert_eq!(sev(&[("risk", Int(9))], &[]), DEFAULT_SEVERITY);
    }

    #[test]
    fn description_and_reference() {
        use MetaValue::*;
        let meta = [
            ("author", Str("a".into())),
            ("desc", Str(" xmrig in memory ".into())),
            ("url", Str("https://example.org/x".into())),
        ];
        let it = || meta.iter().map(|(k, v)| (*k, v));
        assert_eq!(
            text(it(), &["description", "desc"]).as_deref(),
            Some("xmrig in memory")
        );
        assert_eq!(
            text(it(), &["reference", "ref", "url"]).as_deref(),
            Some("https://example.org/x")
        );
        assert_eq!(text(it(), &["hash"]), None);
    }
}
