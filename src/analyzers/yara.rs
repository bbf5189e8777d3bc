//! The `--yara` rules on each regular file's content (`crate::yara` loads them): the file
//! is buffered as it streams, up to `--yara-max-file-bytes`, and scanned by YARA-X when it
//! ends; each matching rule becomes [`SignalKind::Yara`] signals (one for the match, one
//! per matched string shown), so the collation turns them into one finding per file with
//! the other signals about it.
//!
//! A file opened as a nested archive is not scanned as raw bytes: its members are, at the
//! next depth. Only files directly in a layer wait for the process-wide buffer budget
//! (`crate::yara::budget` explains why that is deadlock-free). A file past the bound (its
//! head is scanned) and a scan that timed out are notes, which make the scan incomplete.

use super::{FileCtx, LayerFacts, Signal, SignalKind};
use crate::findings::Severity;
use crate::image::EntryKind;
use crate::yara::budget::Lease;
use crate::yara::meta::{self, MetaValue};
use crate::yara::YaraRules;
use std::sync::Arc;

/// Matched strings shown per rule, and per pattern of a rule.
const STRINGS_PER_RULE: usize = 8;
const MATCHES_PER_PATTERN: usize = 2;
/// Bytes of a matched string shown in its excerpt.
const EXCERPT_BYTES: usize = 48;
/// Files named in the notes of one kind per layer; the rest are counted.
const NOTE_PATHS: usize = 10;
/// A buffer larger than this is freed after its file instead of kept for the next one.
const KEEP_BUFFER: usize = 1 << 20;

pub struct YaraAnalyzer {
    rules: Arc<YaraRules>,
    /// Files directly in a layer wait for the budget; nested members do not.
    top_level: bool,
    /// Archives at this depth are opened (their members are scanned instead).
    opens_archives: bool,
    active: bool,
    buf: Vec<u8>,
    want: usize,
    lease: Option<Lease>,
    cut: Vec<String>,
    cut_count: usize,
    failed: Vec<String>,
    failed_count: usize,
}

impl YaraAnalyzer {
    /// `depth`: nesting depth of the files it sees; `nesting`: `limits.nesting`.
    pub fn new(rules: Arc<YaraRules>, depth: usize, nesting: u32) -> Self {
        YaraAnalyzer {
            rules,
            top_level: depth == 0,
            opens_archives: depth < nesting as usize,
            active: false,
            buf: Vec::new(),
            want: 0,
            lease: None,
            cut: Vec::new(),
            cut_count: 0,
            failed: Vec::new(),
            failed_count: 0,
        }
    }
}

thread_local! {
    /// This thread's scanner of each compiled set (keyed by its address): a YARA-X
    /// scanner is not `Send` and costs a WebAssembly instance to make, so each thread
    /// that scans makes one per set and keeps it.
    static SCANNERS: std::cell::RefCell<Vec<(usize, yara_x::Scanner<'static>)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Run `f` with this thread's scanner for `rules`.
fn with_scanner<R>(
    rules: &'static yara_x::Rules,
    timeout: std::time::Duration,
    f: impl FnOnce(&mut yara_x::Scanner<'static>) -> R,
) -> R {
    SCANNERS.with(|cell| {
        let mut v = cell.borrow_mut();
        let key = rules as *const yara_x::Rules as usize;
        let i = match v.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                let mut s = yara_x::Scanner::new(rules);
                s.set_timeout(timeout);
                s.max_matches_per_pattern(1000);
                v.push((key, s));
                v.len() - 1
            }
        };
        f(&mut v[i].1)
    })
}

fn meta_value(v: &yara_x::MetaValue) -> MetaValue {
    match v {
        yara_x::MetaValue::Integer(i) => MetaValue::Int(*i),
        yara_x::MetaValue::Float(f) => MetaValue::Float(*f),
        yara_x::MetaValue::Bool(b) => MetaValue::Bool(*b),
        yara_x::MetaValue::String(s) => MetaValue::Str(s.to_string()),
        yara_x::MetaValue::Bytes(b) => MetaValue::Str(String::from_utf8_lossy(b).into_owned()),
    }
}

/// Printable ASCII as is, the rest as `\xNN`, at most [`EXCERPT_BYTES`] bytes.
fn escape(data: &[u8]) -> String {
    let mut s = String::new();
    for &b in data.iter().take(EXCERPT_BYTES) {
        match b {
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    if data.len() > EXCERPT_BYTES {
        s.push_str("...");
    }
    s
}

fn note(list: &mut Vec<String>, count: &mut usize, what: String) {
    *count += 1;
    if list.len() < NOTE_PATHS {
        list.push(what);
    }
}

/// A malcontent-style override rule (tag `override`): when it matches a file, each of its
/// metadata entries `other_rule = "level"` re-levels `other_rule`'s match on that file
/// (how malcontent quiets known-good software); it is not reported itself.
fn is_override(rule: &yara_x::Rule) -> bool {
    rule.tags().any(|t| t.identifier() == "override")
}

/// Rule identifier → level, from the override rules that matched.
fn overrides<'r>(
    results: &yara_x::ScanResults<'_, 'r>,
) -> std::collections::HashMap<&'r str, Severity> {
    let mut out = std::collections::HashMap::new();
    for rule in results.matching_rules().filter(is_override) {
        for (k, v) in rule.metadata() {
            if let yara_x::MetaValue::String(v) = v {
                if let Some(level) = meta::level(v) {
                    out.insert(k, level);
                }
            }
        }
    }
    out
}

/// The signals of one matching rule: the match (severity, from `level` when an override
/// set one, description, reference, and whether only the head of the file was scanned:
/// `cut` = (bytes scanned, file size)), then up to [`STRINGS_PER_RULE`] matched strings
/// with offsets and excerpts.
fn rule_signals(
    rule: &yara_x::Rule,
    subject: &super::Subject,
    level: Option<Severity>,
    cut: Option<(usize, u64)>,
    out: &mut Vec<Signal>,
) {
    let metas: Vec<(String, MetaValue)> = rule
        .metadata()
        .map(|(k, v)| (k.to_string(), meta_value(&v)))
        .collect();
    let tags: Vec<String> = rule.tags().map(|t| t.identifier().to_string()).collect();
    let m = || metas.iter().map(|(k, v)| (k.as_str(), v));
    let severity: Severity =
        level.unwrap_or_else(|| meta::severity(m(), tags.iter().map(String::as_str)));
    let base = format!("yara:{}:{}", rule.namespace(), rule.identifier());
    let mut excerpt = meta::text(m(), &["description", "desc", "info"])
        .unwrap_or_else(|| "no description in the rule".into());
    if let Some(r) = meta::text(m(), &["reference", "ref", "url", "source"]) {
        excerpt.push_str(&format!(" (reference: {r})"));
    }
    if let Some((scanned, size)) = cut {
        excerpt.push_str(&format!(
            " [only the first {scanned} of {size} bytes were scanned: --yara-max-file-bytes]"
        ));
    }
    let kind = SignalKind::Yara { severity };
    out.push(Signal {
        subject: subject.clone(),
        kind,
        signature: base.clone(),
        offset: None,
        line: None,
        excerpt: crate::findings::excerpt(excerpt.as_bytes(), 400),
    });
    let mut shown = 0;
    for p in rule.patterns() {
        for mt in p.matches().take(MATCHES_PER_PATTERN) {
            if shown >= STRINGS_PER_RULE {
                return;
            }
            shown += 1;
            out.push(Signal {
                subject: subject.clone(),
                kind,
                signature: format!("{base}:{}", p.identifier()),
                offset: Some(mt.range().start as u64),
                line: None,
                excerpt: escape(mt.data()),
            });
        }
    }
}

impl super::Analyzer for YaraAnalyzer {
    fn name(&self) -> &'static str {
        "yara"
    }

    fn file_start(&mut self, file: &FileCtx) -> bool {
        self.active = false;
        if file.entry.kind != EntryKind::File
            || self.opens_archives && super::archive::detect(&file.entry.path, file.head).is_some()
        {
            return false;
        }
        let max = self.rules.options.max_file_bytes;
        self.want = file.entry.size.min(max) as usize;
        self.lease = Some(if self.top_level {
            self.rules.budget.acquire(self.want as u64)
        } else {
            self.rules.budget.untracked(self.want as u64)
        });
        self.buf.clear();
        self.buf.reserve_exact(self.want);
        self.active = true;
        true
    }

    fn file_chunk(&mut self, data: &[u8], _offset: u64) {
        if !self.active {
            return;
        }
        let room = self.want.saturating_sub(self.buf.len());
        self.buf.extend_from_slice(&data[..data.len().min(room)]);
    }

    fn file_end(&mut self, file: &FileCtx, _truncated: bool, out: &mut Vec<Signal>) {
        if !self.active {
            return;
        }
        self.active = false;
        let path = super::visitor::display_path(file.inside, &file.entry.path);
        let scanned = self.buf.len();
        let cut = file.entry.size > self.rules.options.max_file_bytes;
        if cut {
            note(
                &mut self.cut,
                &mut self.cut_count,
                format!("{path} ({} bytes)", file.entry.size),
            );
        }
        let subject = file.subject();
        let buf = std::mem::take(&mut self.buf);
        let timeout = self.rules.options.timeout;
        for &set in &self.rules.sets {
            let r = with_scanner(set, timeout, |scanner| match scanner.scan(&buf) {
                Ok(results) => {
                    let overrides = overrides(&results);
                    for rule in results.matching_rules() {
                        if is_override(&rule) {
                            continue;
                        }
                        let level = overrides.get(rule.identifier()).copied();
                        let cut = cut.then_some((scanned, file.entry.size));
                        rule_signals(&rule, &subject, level, cut, out);
                    }
                    Ok(())
                }
                Err(yara_x::ScanError::Timeout) => Err("timed out (--yara-timeout)".to_string()),
                Err(e) => Err(e.to_string()),
            });
            if let Err(what) = r {
                note(
                    &mut self.failed,
                    &mut self.failed_count,
                    format!("{path}: {what}"),
                );
            }
        }
        self.buf = buf;
        self.buf.clear();
        if self.buf.capacity() > KEEP_BUFFER {
            self.buf = Vec::new();
        }
        self.lease = None;
    }

    fn facts(&mut self, out: &mut LayerFacts) {
        let max = self.rules.options.max_file_bytes;
        if self.cut_count > 0 {
            let more = self.cut_count - self.cut.len();
            out.notes.push(format!(
                "YARA rules saw only the first {max} bytes of {} file(s): {}{} (raise with --yara-max-file-bytes)",
                self.cut_count,
                self.cut.join(", "),
                if more > 0 { format!(" and {more} more") } else { String::new() }
            ));
        }
        if self.failed_count > 0 {
            let more = self.failed_count - self.failed.len();
            out.notes.push(format!(
                "YARA rules could not finish on {} file(s): {}{}",
                self.failed_count,
                self.failed.join("; "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            ));
        }
        self.cut.clear();
        self.failed.clear();
        self.cut_count = 0;
        self.failed_count = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_escape_what_is_not_printable_and_stop_at_the_bound() {
        assert_eq!(escape(b"MZ\x90\x00 a\\b"), "MZ\\x90\\x00 a\\\\b");
        let long = vec![b'a'; 100];
        assert_eq!(escape(&long), format!("{}...", "a".repeat(EXCERPT_BYTES)));
    }
}
