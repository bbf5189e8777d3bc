//! RE2 compatibility for the `regex` crate: YARA-L regexes are RE2 (unanchored, linear
//! time). The crate agrees except for a few leniencies RE2 allows, rewritten here.

use regex::Regex;

pub fn compile_regex(pat: &str, nocase: bool) -> Result<Regex, String> {
    let build = |p: &str| {
        regex::RegexBuilder::new(p)
            .case_insensitive(nocase)
            .size_limit(1 << 22)
            .build()
    };
    match build(pat) {
        Ok(r) => Ok(r),
        Err(e) => {
            let fixed = re2_compat(pat);
            if fixed != pat {
                if let Ok(r) = build(&fixed) {
                    return Ok(r);
                }
            }
            Err(format!("invalid regular expression: {e}"))
        }
    }
}

/// Rewrite RE2 leniencies the `regex` crate rejects: a `{` or `}` that is not part of a
/// counted repetition is a literal brace in RE2; `\0` is NUL.
pub fn re2_compat(pat: &str) -> String {
    let c: Vec<char> = pat.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    let mut in_class = false;
    while i < c.len() {
        let ch = c[i];
        if ch == '\\' && i + 1 < c.len() {
            if c[i + 1] == '0' && !c.get(i + 2).is_some_and(|d| d.is_ascii_digit()) {
                out.push_str("\\x00");
            } else {
                out.push(ch);
                out.push(c[i + 1]);
            }
            i += 2;
            continue;
        }
        if in_class {
            if ch == ']' {
                in_class = false;
            }
            out.push(ch);
            i += 1;
            continue;
        }
        match ch {
            '[' => {
                in_class = true;
                out.push(ch);
                // A leading `]` (or `^]`) is literal inside a class.
                if c.get(i + 1) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                if c.get(i + 1) == Some(&']') {
                    out.push(']');
                    i += 1;
                }
            }
            '{' => {
                let rest: String = c[i..].iter().take(24).collect();
                let valid = rest
                    .find('}')
                    .map(|end| {
                        let inner = &rest[1..end];
                        let mut parts = inner.splitn(2, ',');
                        let a = parts.next().unwrap_or("");
                        let b = parts.next();
                        !a.is_empty()
                            && a.chars().all(|d| d.is_ascii_digit())
                            && b.is_none_or(|b| b.chars().all(|d| d.is_ascii_digit()))
                            && !out.is_empty()
                    })
                    .unwrap_or(false);
                if valid {
                    let end = rest.find('}').unwrap_or(0);
                    out.push_str(&rest[..=end]);
                    i += rest[..=end].chars().count();
                    continue;
                }
                out.push_str("\\{");
            }
            '}' => out.push_str("\\}"),
            _ => out.push(ch),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn re2_braces_and_nul() {
        assert_eq!(re2_compat(".*{3E5F}.*"), ".*\\{3E5F\\}.*");
        assert_eq!(re2_compat("a{2,3}[{}]"), "a{2,3}[{}]");
        assert_eq!(re2_compat("x${IFS}"), "x$\\{IFS\\}");
        assert_eq!(re2_compat("\\0"), "\\x00");
        assert!(compile_regex("/set {default} rec", false)
            .unwrap()
            .is_match("/set {default} rec"));
        assert!(compile_regex("(", false).is_err());
    }
}
