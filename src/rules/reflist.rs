//! Reference lists (`%name`): one entry per line in a file named `name` (or `name.txt`)
//! in the reference-list directory. `//` comment lines, trailing ` // comments`, `/* */`
//! blocks and blank lines are ignored. A list is used as strings, regexes (`in regex`)
//! or CIDR ranges (`in cidr`) depending on the rule; regexes compile once, on load.

use super::functions::ip_in_cidr;
use super::parser::compile_regex;
use regex::Regex;
use std::path::Path;

/// Refuse reference lists larger than this (bytes).
pub const MAX_LIST_BYTES: u64 = 16 << 20;

#[derive(Debug)]
pub struct RefList {
    pub name: String,
    pub entries: Vec<String>,
    /// Compiled entries for `in regex`; entries that do not compile are skipped (and
    /// reported by `load`).
    pub regexes: Vec<Regex>,
    /// The same, case-insensitive (for `in regex %list nocase`).
    pub regexes_nocase: Vec<Regex>,
}

pub fn parse_entries(text: &str) -> Vec<String> {
    let mut out = vec![];
    let mut in_block = false;
    for line in text.lines() {
        let mut l = line.trim();
        if in_block {
            match l.find("*/") {
                Some(i) => {
                    in_block = false;
                    l = l[i + 2..].trim();
                }
                None => continue,
            }
        }
        if l.starts_with("/*") {
            match l.find("*/") {
                Some(i) => l = l[i + 2..].trim(),
                None => {
                    in_block = true;
                    continue;
                }
            }
        }
        if l.starts_with("//") || l.is_empty() {
            continue;
        }
        if let Some(i) = l.find(" //") {
            l = l[..i].trim_end();
        }
        out.push(l.to_string());
    }
    out
}

impl RefList {
    pub fn from_text(name: &str, text: &str, regex: bool) -> (RefList, Vec<String>) {
        let entries = parse_entries(text);
        let mut errs = vec![];
        let mut regexes = vec![];
        let mut regexes_nocase = vec![];
        if regex {
            for e in &entries {
                match (compile_regex(e, false), compile_regex(e, true)) {
                    (Ok(r), Ok(ri)) => {
                        regexes.push(r);
                        regexes_nocase.push(ri);
                    }
                    (Err(m), _) | (_, Err(m)) => errs.push(format!("%{name}: entry {e:?}: {m}")),
                }
            }
        }
        (
            RefList {
                name: name.to_string(),
                entries,
                regexes,
                regexes_nocase,
            },
            errs,
        )
    }

    /// Load `%name` from `dir`; `Ok(None)` when no such file exists.
    pub fn load(
        dir: &Path,
        name: &str,
        regex: bool,
    ) -> Result<Option<(RefList, Vec<String>)>, String> {
        for cand in [name.to_string(), format!("{name}.txt")] {
            let p = dir.join(&cand);
            if p.is_file() {
                let len = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
                if len > MAX_LIST_BYTES {
                    return Err(format!(
                        "reference list {}: {len} bytes exceeds the {MAX_LIST_BYTES}-byte limit",
                        p.display()
                    ));
                }
                let text = std::fs::read_to_string(&p)
                    .map_err(|e| format!("reading reference list {}: {e}", p.display()))?;
                return Ok(Some(RefList::from_text(name, &text, regex)));
            }
        }
        Ok(None)
    }

    pub fn contains(&self, v: &str, nocase: bool) -> bool {
        if nocase {
            self.entries.iter().any(|e| e.eq_ignore_ascii_case(v))
        } else {
            self.entries.iter().any(|e| e == v)
        }
    }

    pub fn matches_regex(&self, v: &str, nocase: bool) -> bool {
        let set = if nocase {
            &self.regexes_nocase
        } else {
            &self.regexes
        };
        set.iter().any(|r| r.is_match(v))
    }

    pub fn in_cidr(&self, v: &str) -> bool {
        self.entries.iter().any(|c| ip_in_cidr(v, c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_comments() {
        let t = "/*\n * licence\n */\n//c\n\n a // note\nb\n";
        assert_eq!(parse_entries(t), vec!["a", "b"]);
        let (l, errs) = RefList::from_text("x", "ab.*\n(\n", true);
        assert_eq!(errs.len(), 1);
        assert!(l.matches_regex("xxabyy", false));
        assert!(l.matches_regex("xxAByy", true) && !l.matches_regex("xxAByy", false));
        let (l, _) = RefList::from_text("c", "10.0.0.0/8\n", false);
        assert!(l.in_cidr("10.2.3.4") && !l.in_cidr("11.0.0.1"));
        assert!(l.contains("10.0.0.0/8", false));
    }
}
