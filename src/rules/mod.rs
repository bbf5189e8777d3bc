//! YARA-L 2.0 rule engine: parse, lint and evaluate Chronicle rules over UDM events.
//! It knows nothing of images: callers hand it [`Event`]s (UDM JSON) and get
//! [`Detection`]s back. Semantics and their sources: `docs/rules.md`.
//!
//! Files: `lexer.rs` (tokens), `parser.rs` + `ast.rs` (syntax), `udm.rs` (schema),
//! `compile.rs` (schema slots, joins), `lint.rs`, `eval.rs` (expressions), `value.rs`
//! (values, comparisons), `functions.rs`, `reflist.rs` (`%lists`), `window.rs`
//! (streaming, `match` windows, outcomes).

pub mod ast;
mod compile;
pub mod eval;
pub mod functions;
pub mod lexer;
mod lint;
pub mod parser;
pub mod re2;
pub mod reflist;
pub mod udm;
pub mod value;
mod window;

pub use window::{Evaluator, Matched, MAX_GROUPS, MAX_WINDOW_EVENTS};

use compile::Compiled;
use reflist::RefList;
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Largest rule file read (bytes).
pub const MAX_RULE_FILE: u64 = 4 << 20;

/// Rules shipped in the binary: every file in `signatures/rules/`.
const EMBEDDED: &[(&str, &str)] = &[(
    "signatures/rules/t1204_003_malicious_image_execution.yaral",
    include_str!("../../signatures/rules/t1204_003_malicious_image_execution.yaral"),
)];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Error,
    Warning,
}

/// A parse error or lint warning, with the offending source line and a caret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub level: Level,
    pub file: String,
    pub rule: Option<String>,
    pub line: usize,
    pub col: usize,
    #[serde(skip)]
    pub len: usize,
    pub message: String,
    #[serde(skip)]
    pub source_line: String,
}

impl Diagnostic {
    #[allow(clippy::too_many_arguments)]
    fn new(
        level: Level,
        file: &str,
        src: &str,
        rule: Option<String>,
        line: usize,
        col: usize,
        len: usize,
        message: String,
    ) -> Diagnostic {
        Diagnostic {
            level,
            file: file.to_string(),
            rule,
            line,
            col,
            len: len.max(1),
            message,
            source_line: src
                .lines()
                .nth(line.saturating_sub(1))
                .unwrap_or("")
                .to_string(),
        }
    }
    pub(crate) fn error(
        file: &str,
        src: &str,
        rule: Option<String>,
        line: usize,
        col: usize,
        len: usize,
        message: String,
    ) -> Diagnostic {
        Diagnostic::new(Level::Error, file, src, rule, line, col, len, message)
    }
    pub(crate) fn warning(
        file: &str,
        src: &str,
        rule: Option<String>,
        line: usize,
        col: usize,
        len: usize,
        message: String,
    ) -> Diagnostic {
        Diagnostic::new(Level::Warning, file, src, rule, line, col, len, message)
    }
    fn with_source(mut self, src: &str) -> Diagnostic {
        if self.source_line.is_empty() {
            self.source_line = src
                .lines()
                .nth(self.line.saturating_sub(1))
                .unwrap_or("")
                .to_string();
        }
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lvl = match self.level {
            Level::Error => "error",
            Level::Warning => "warning",
        };
        write!(f, "{}:{}:{}: {lvl}: ", self.file, self.line, self.col)?;
        if let Some(r) = &self.rule {
            write!(f, "rule {r}: ")?;
        }
        writeln!(f, "{}", self.message)?;
        let num = self.line.to_string();
        let pad = " ".repeat(num.len());
        // Tabs keep their width so the caret lines up.
        let shown: String = self.source_line.chars().take(300).collect();
        let lead: String = shown
            .chars()
            .take(self.col.saturating_sub(1))
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        writeln!(f, "{pad} |")?;
        writeln!(f, "{num} | {shown}")?;
        write!(f, "{pad} | {lead}{}", "^".repeat(self.len.min(80)))
    }
}

/// A UDM event (one JSON object), with its event time in seconds.
#[derive(Debug, Clone)]
pub struct Event {
    pub(crate) v: Arc<Value>,
    pub(crate) ts: i64,
}

impl Event {
    /// Accepts a UDM object, or one wrapped as `{"udm": {...}}`. The event time is
    /// `metadata.event_timestamp` (RFC 3339 or `{seconds, nanos}` or a number).
    pub fn from_json(v: Value) -> Result<Event, String> {
        let v = match v {
            Value::Object(mut m) => {
                if m.len() == 1 && m.get("udm").is_some_and(Value::is_object) {
                    m.remove("udm").unwrap_or_default()
                } else {
                    Value::Object(m)
                }
            }
            other => {
                return Err(format!(
                    "expected a JSON object (a UDM event), found {}",
                    match other {
                        Value::Array(_) => "an array",
                        Value::String(_) => "a string",
                        Value::Number(_) => "a number",
                        Value::Bool(_) => "a boolean",
                        _ => "null",
                    }
                ))
            }
        };
        let ts = event_time(&v)?;
        Ok(Event { v: Arc::new(v), ts })
    }
    pub fn timestamp(&self) -> i64 {
        self.ts
    }
    pub fn json(&self) -> &Value {
        &self.v
    }
}

fn event_time(v: &Value) -> Result<i64, String> {
    let md = v.get("metadata");
    let t = md.and_then(|m| m.get("event_timestamp").or_else(|| m.get("eventTimestamp")));
    match t {
        None | Some(Value::Null) => Ok(0),
        Some(Value::String(s)) => value::parse_rfc3339(s)
            .map(|x| x.0)
            .ok_or_else(|| format!("metadata.event_timestamp {s:?} is not an RFC 3339 timestamp")),
        Some(Value::Number(n)) => Ok(n.as_i64().unwrap_or(0)),
        Some(Value::Object(o)) => Ok(match o.get("seconds") {
            Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
            Some(Value::String(s)) => s
                .parse()
                .map_err(|_| format!("metadata.event_timestamp.seconds {s:?} is not an integer"))?,
            _ => 0,
        }),
        Some(_) => Err("metadata.event_timestamp has an unexpected type".into()),
    }
}

/// One rule match.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Detection {
    pub rule: String,
    /// `meta: severity`, as written.
    pub severity: Option<String>,
    pub meta: BTreeMap<String, String>,
    /// Indices (line numbers) of the events that matched, ascending.
    pub events: Vec<usize>,
    pub outcomes: BTreeMap<String, Value>,
}

/// Parsed and compiled rules.
#[derive(Debug)]
pub struct RuleSet {
    pub(crate) rules: Vec<Compiled>,
    warnings: Vec<Diagnostic>,
}

/// Collect rule files: files as given, directories recursively (`*.yaral`, `*.yaml`
/// excluded), sorted.
fn rule_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = vec![];
    fn walk(p: &Path, out: &mut Vec<PathBuf>, depth: usize) -> Result<(), String> {
        if depth > 32 {
            return Err(format!("{}: directories nested too deep", p.display()));
        }
        let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
            .map_err(|e| format!("{}: {e}", p.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for e in entries {
            let ft = std::fs::symlink_metadata(&e).map_err(|x| format!("{}: {x}", e.display()))?;
            if ft.is_dir() {
                walk(&e, out, depth + 1)?;
            } else if ft.is_file() && e.extension().is_some_and(|x| x == "yaral") {
                out.push(e);
            }
        }
        Ok(())
    }
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out, 0)?;
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// Reference lists loaded so far.
struct Lists<'a> {
    dir: Option<&'a Path>,
    loaded: HashMap<String, Arc<RefList>>,
    regex_loaded: Vec<String>,
}

impl Lists<'_> {
    fn ensure(&mut self, rules: &[ast::Rule], diags: &mut Vec<Diagnostic>) {
        let Some(dir) = self.dir else { return };
        for r in rules {
            let mut wanted = vec![];
            for e in &r.events {
                e.walk(&mut |x| {
                    if let ast::Expr::InList { list, kind, .. } = x {
                        wanted.push((list.clone(), *kind == ast::ListKind::Regex));
                    }
                });
            }
            for (name, regex) in wanted {
                let have = self.loaded.contains_key(&name)
                    && (!regex || self.regex_loaded.contains(&name));
                if have {
                    continue;
                }
                match RefList::load(dir, &name, regex) {
                    Ok(Some((l, errs))) => {
                        for m in errs {
                            diags.push(Diagnostic::warning(
                                &r.file,
                                "",
                                Some(r.name.clone()),
                                r.pos.line,
                                r.pos.col,
                                4,
                                m,
                            ));
                        }
                        if regex {
                            self.regex_loaded.push(name.clone());
                        }
                        self.loaded.insert(name, Arc::new(l));
                    }
                    Ok(None) => {}
                    Err(m) => diags.push(Diagnostic::error(
                        &r.file,
                        "",
                        Some(r.name.clone()),
                        r.pos.line,
                        r.pos.col,
                        4,
                        m,
                    )),
                }
            }
        }
    }
}

/// Result of checking one file: rule names and diagnostics (errors and warnings).
pub struct FileCheck {
    pub file: String,
    pub rules: Vec<String>,
    pub diagnostics: Vec<Diagnostic>,
}

fn load_source(file: &str, src: &str, lists: &mut Lists) -> (Vec<Compiled>, Vec<Diagnostic>) {
    let mut diags = vec![];
    let parsed = match parser::parse_file(file, src) {
        Ok(r) => r,
        Err(d) => return (vec![], vec![(*d).with_source(src)]),
    };
    lists.ensure(&parsed, &mut diags);
    let mut out = vec![];
    let mut names: Vec<String> = vec![];
    for r in parsed {
        if names.contains(&r.name) {
            diags.push(Diagnostic::error(
                file,
                src,
                Some(r.name.clone()),
                r.pos.line,
                r.pos.col,
                4,
                "duplicate rule name in this file".into(),
            ));
            continue;
        }
        names.push(r.name.clone());
        match compile::compile(r, &lists.loaded) {
            Ok((c, notes)) => {
                diags.extend(lint::lint(&c, &notes, src));
                out.push(c);
            }
            Err(d) => diags.push((*d).with_source(src)),
        }
    }
    let diags = diags.into_iter().map(|d| d.with_source(src)).collect();
    (out, diags)
}

fn read_rule_file(p: &Path) -> Result<String, String> {
    let len = std::fs::metadata(p)
        .map_err(|e| format!("{}: {e}", p.display()))?
        .len();
    if len > MAX_RULE_FILE {
        return Err(format!(
            "{}: {len} bytes exceeds the {MAX_RULE_FILE}-byte rule file limit",
            p.display()
        ));
    }
    std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))
}

fn io_diag(file: &str, m: String) -> Diagnostic {
    Diagnostic::error(file, "", None, 0, 0, 1, m)
}

impl RuleSet {
    /// Parse rule files and directories (recursively, `*.yaral`); `%lists` resolve from
    /// `reference_lists`. Errs with every diagnostic when any rule fails to parse.
    pub fn parse_files(
        paths: &[PathBuf],
        reference_lists: Option<&Path>,
    ) -> Result<RuleSet, Vec<Diagnostic>> {
        let checks = RuleSet::check_files(paths, reference_lists)?;
        let mut rules = vec![];
        let mut warnings = vec![];
        let mut errors = vec![];
        for (c, compiled) in checks {
            for d in c.diagnostics {
                match d.level {
                    Level::Error => errors.push(d),
                    Level::Warning => warnings.push(d),
                }
            }
            rules.extend(compiled);
        }
        if !errors.is_empty() {
            errors.extend(warnings);
            return Err(errors);
        }
        dedupe_names(&rules)?;
        Ok(RuleSet { rules, warnings })
    }

    /// Parse and lint each file separately (for `rules check`).
    #[allow(clippy::type_complexity)]
    fn check_files(
        paths: &[PathBuf],
        reference_lists: Option<&Path>,
    ) -> Result<Vec<(FileCheck, Vec<Compiled>)>, Vec<Diagnostic>> {
        let files = rule_files(paths).map_err(|m| vec![io_diag("", m)])?;
        let mut lists = Lists {
            dir: reference_lists,
            loaded: HashMap::new(),
            regex_loaded: vec![],
        };
        let mut out = vec![];
        for f in files {
            let name = f.display().to_string();
            let (compiled, diagnostics) = match read_rule_file(&f) {
                Ok(src) => load_source(&name, &src, &mut lists),
                Err(m) => (vec![], vec![io_diag(&name, m)]),
            };
            out.push((
                FileCheck {
                    file: name,
                    rules: compiled.iter().map(|c| c.rule.name.clone()).collect(),
                    diagnostics,
                },
                compiled,
            ));
        }
        Ok(out)
    }

    /// Parse and lint every file; one [`FileCheck`] per file, failures included.
    pub fn check(
        paths: &[PathBuf],
        reference_lists: Option<&Path>,
    ) -> Result<Vec<FileCheck>, Vec<Diagnostic>> {
        Ok(RuleSet::check_files(paths, reference_lists)?
            .into_iter()
            .map(|x| x.0)
            .collect())
    }

    pub fn parse_str(name: &str, src: &str) -> Result<RuleSet, Vec<Diagnostic>> {
        let mut lists = Lists {
            dir: None,
            loaded: HashMap::new(),
            regex_loaded: vec![],
        };
        let (rules, diags) = load_source(name, src, &mut lists);
        let (errors, warnings): (Vec<_>, Vec<_>) =
            diags.into_iter().partition(|d| d.level == Level::Error);
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(RuleSet { rules, warnings })
    }

    /// Every rule in `signatures/rules/`, embedded in the binary.
    pub fn embedded_default() -> RuleSet {
        let mut rules = vec![];
        let mut warnings = vec![];
        for (name, src) in EMBEDDED {
            match RuleSet::parse_str(name, src) {
                Ok(rs) => {
                    rules.extend(rs.rules);
                    warnings.extend(rs.warnings);
                }
                // Guarded by a unit test; never fail at runtime.
                Err(_) => continue,
            }
        }
        RuleSet { rules, warnings }
    }

    /// Lint warnings of the loaded rules.
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }

    pub fn rule_names(&self) -> Vec<&str> {
        self.rules.iter().map(|c| c.rule.name.as_str()).collect()
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The `meta` of a rule by name.
    pub fn meta(&self, rule: &str) -> Option<&[(String, String)]> {
        self.rules
            .iter()
            .find(|c| c.rule.name == rule)
            .map(|c| c.rule.meta.as_slice())
    }

    /// A streaming evaluator (feed events in time order, then `finish`).
    pub fn evaluator(&self) -> Evaluator<'_> {
        Evaluator::new(self)
    }

    /// Evaluate every rule over `events` (index, event), in time order.
    pub fn evaluate(&self, events: impl IntoIterator<Item = (usize, Event)>) -> Vec<Detection> {
        let mut ev = self.evaluator();
        let mut out = vec![];
        for (i, e) in events {
            out.extend(ev.push(i, &e));
        }
        out.extend(ev.finish().0);
        out
    }
}

fn dedupe_names(rules: &[Compiled]) -> Result<(), Vec<Diagnostic>> {
    let mut seen: HashMap<&str, &str> = HashMap::new();
    let mut errs = vec![];
    for c in rules {
        if let Some(prev) = seen.insert(&c.rule.name, &c.rule.file) {
            errs.push(Diagnostic::error(
                &c.rule.file,
                "",
                Some(c.rule.name.clone()),
                c.rule.pos.line,
                c.rule.pos.col,
                4,
                format!("rule name already used in {prev}"),
            ));
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_rules_all_parse() {
        for (name, src) in EMBEDDED {
            if let Err(d) = RuleSet::parse_str(name, src) {
                panic!(
                    "{name}: {}",
                    d.iter()
                        .map(|d| d.to_string())
                        .collect::<Vec<_>>()
                        .join("\n")
                );
            }
        }
        assert_eq!(
            RuleSet::embedded_default().rule_names(),
            vec!["t1204_003_malicious_image_execution"]
        );
    }

    #[test]
    fn parse_error_has_caret() {
        let src =
            "rule r {\n  events:\n    $e.metadata.event_type = = \"X\"\n  condition:\n    $e\n}\n";
        let d = RuleSet::parse_str("r.yaral", src).unwrap_err();
        let text = d[0].to_string();
        assert_eq!((d[0].line, d[0].col), (3, 30), "{text}");
        assert!(text.contains("rule r:"), "{text}");
        assert!(
            text.ends_with(
                "    $e.metadata.event_type = = \"X\"\n  |                              ^"
            ),
            "{text}"
        );
    }

    #[test]
    fn repeated_label_key_matches_any_value() {
        let rule = |want: &str| {
            format!(
                "rule r {{\n events:\n  $e.target.resource.attribute.labels[\"image\"] = \"{want}\"\n condition:\n  $e\n}}\n"
            )
        };
        let ev = Event::from_json(serde_json::json!({"target": {"resource": {"attribute": {
            "labels": [{"key": "image", "value": "nginx"}, {"key": "app", "value": "web"},
                       {"key": "image", "value": "evil/xmrig"}]}}}}))
        .unwrap();
        let hits = |want: &str| {
            RuleSet::parse_str("r.yaral", &rule(want))
                .unwrap()
                .evaluate([(1, ev.clone())])
                .len()
        };
        assert_eq!(hits("nginx"), 1, "the first value");
        assert_eq!(hits("evil/xmrig"), 1, "a later value of the same key");
        assert_eq!(hits("web"), 0, "another key's value");
    }

    #[test]
    fn event_time_forms() {
        let e = Event::from_json(
            serde_json::json!({"metadata": {"event_timestamp": "2024-01-01T00:00:10Z"}}),
        )
        .unwrap();
        assert_eq!(e.timestamp(), 1704067210);
        let e = Event::from_json(
            serde_json::json!({"udm": {"metadata": {"eventTimestamp": {"seconds": "5"}}}}),
        )
        .unwrap();
        assert_eq!(e.timestamp(), 5);
        assert!(Event::from_json(serde_json::json!([1])).is_err());
        assert!(Event::from_json(
            serde_json::json!({"metadata": {"event_timestamp": "yesterday"}})
        )
        .is_err());
    }
}
