//! YARA rules brought by the user (`--yara PATH`), run with YARA-X on every regular file
//! of the image in the same single pass the other analyzers share
//! (`crate::analyzers::yara` feeds them; `docs/yara.md` documents flags and severities).
//!
//! Owns: finding and compiling the rules once per process (files and directories of
//! `.yar`/`.yara`, each file its own namespace; rules compiled by YARA-X and serialized),
//! compile errors with file:line, the rule set's digest (part of the layer cache key), the
//! per-file bounds ([`YaraOptions`]), the process-wide memory budget of the buffers
//! (`budget.rs`) and the reading of rule metadata into severities (`meta.rs`).
//!
//! Built only with the default-on cargo feature `yara`; without it [`load`] refuses
//! `--yara` with an error and nothing else changes.

pub mod budget;
#[cfg(feature = "yara")]
mod compile;
pub mod meta;

use budget::Budget;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Default `--yara-max-file-bytes`: bytes of one file buffered and scanned.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 64 << 20;
/// Default `--yara-timeout`: seconds one file's scan may take.
pub const DEFAULT_TIMEOUT_SECS: u64 = 10;
/// Rule files read from directories at most.
pub const MAX_RULE_FILES: usize = 100_000;
/// Bytes of one rule file (source or compiled) read at most.
pub const MAX_RULE_FILE_BYTES: u64 = 64 << 20;

/// Per-file bounds of the YARA scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct YaraOptions {
    /// A longer file is scanned on its first this many bytes (and the scan is reported
    /// incomplete).
    pub max_file_bytes: u64,
    /// One file's scan stops after this long (reported incomplete).
    pub timeout: Duration,
}

impl Default for YaraOptions {
    fn default() -> Self {
        YaraOptions {
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            timeout: Duration::from_secs(DEFAULT_TIMEOUT_SECS),
        }
    }
}

/// The compiled rules of one process, with what the scan needs around them.
pub struct YaraRules {
    /// One entry per compiled set: every source file compiled together, plus each
    /// serialized set as it was loaded (YARA-X cannot merge compiled sets). Leaked on
    /// purpose: compiled once per process and used by scanners until it exits.
    #[cfg(feature = "yara")]
    pub(crate) sets: Vec<&'static yara_x::Rules>,
    /// Hex SHA-256 of every rule file (name, namespace, bytes) and the options: part of
    /// the layer cache key, so a cached layer never skips new rules.
    pub digest: String,
    pub options: YaraOptions,
    /// Buffers of files directly in layers, process-wide.
    pub budget: Arc<Budget>,
    /// Rules loaded, over every set.
    pub rules: usize,
}

impl std::fmt::Debug for YaraRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("YaraRules")
            .field("digest", &self.digest)
            .field("options", &self.options)
            .field("rules", &self.rules)
            .finish()
    }
}

/// Why `--yara` could not be loaded: one line per problem (`file:line: message` for
/// compile errors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError(pub Vec<String>);

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.join("\n"))
    }
}

/// Compile the rules in `paths` (files, or directories walked for `.yar`/`.yara`; a file
/// YARA-X serialized is loaded as it is).
#[cfg(feature = "yara")]
pub fn load(paths: &[PathBuf], options: YaraOptions) -> Result<YaraRules, LoadError> {
    compile::load(paths, options)
}

/// Without the `yara` feature: `--yara` is refused.
#[cfg(not(feature = "yara"))]
pub fn load(_paths: &[PathBuf], _options: YaraOptions) -> Result<YaraRules, LoadError> {
    Err(LoadError(vec![
        "--yara: this imgscan was built without the `yara` feature (cargo build --features yara)"
            .into(),
    ]))
}

/// `sigs` with the rules of `paths` loaded into [`crate::signatures::Signatures::yara`];
/// no paths: `sigs` unchanged (no file is buffered for YARA).
pub fn attach(
    mut sigs: crate::signatures::Signatures,
    paths: &[PathBuf],
    options: YaraOptions,
) -> Result<crate::signatures::Signatures, LoadError> {
    if !paths.is_empty() {
        sigs.yara = Some(Arc::new(load(paths, options)?));
    }
    Ok(sigs)
}

/// `yara:NS:RULE` (a match) or `yara:NS:RULE:$pattern` (one matched string): the
/// namespace and rule of a YARA signal's signature.
pub fn parse_signature(sig: &str) -> Option<(&str, &str)> {
    let rest = sig.strip_prefix("yara:")?;
    let mut it = rest.splitn(3, ':');
    Some((it.next()?, it.next()?))
}

/// The finding id of a rule: `YARA-<namespace>-<rule>`.
pub fn finding_id(namespace: &str, rule: &str) -> String {
    format!("YARA-{namespace}-{rule}")
}

/// Title, description and remediation of the finding whose top component is the YARA
/// rule `id` (`YARA-<namespace>-<rule>`), from the rule's match signal among `sigs`;
/// `None` for any other id.
pub fn finding_text(
    id: &str,
    sigs: &[&crate::analyzers::Signal],
) -> Option<(String, String, String)> {
    id.strip_prefix("YARA-")?;
    let (ns, rule, what) = sigs.iter().find_map(|s| {
        let (ns, rule) = parse_signature(&s.signature)?;
        let whole = s.signature.matches(':').count() == 2;
        (whole && finding_id(ns, rule) == id).then_some((ns, rule, s.excerpt.as_str()))
    })?;
    Some((
        format!("YARA rule {ns}:{rule}"),
        format!("The file matches the YARA rule {ns}:{rule} given with --yara: {what}."),
        format!(
            "Check the matched strings in the evidence. If the rule is right, remove the file and rebuild from a trusted base; if it is wrong about this file, suppress {id} for its path in .imgscanignore and tell the rule's author."
        ),
    ))
}

/// A file's namespace: its path without the extension, `/` as `.`, anything but
/// letters, digits, `_`, `-` and `.` as `_` (ids stay one word).
pub fn namespace_of(rel: &std::path::Path) -> String {
    let s = rel.with_extension("");
    let s = s.to_string_lossy();
    let ns: String = s
        .chars()
        .map(|c| match c {
            '/' | '\\' => '.',
            c if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' => c,
            _ => '_',
        })
        .collect();
    let ns = ns.trim_matches('.').to_string();
    if ns.is_empty() {
        "default".into()
    } else {
        ns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_namespaces() {
        assert_eq!(
            namespace_of(std::path::Path::new("malware/family/kinsing.yara")),
            "malware.family.kinsing"
        );
        assert_eq!(namespace_of(std::path::Path::new("a b:c.yar")), "a_b_c");
        assert_eq!(
            parse_signature("yara:net.c2:Cobalt_Strike:$s1"),
            Some(("net.c2", "Cobalt_Strike"))
        );
        assert_eq!(parse_signature("yara:ns:r"), Some(("ns", "r")));
        assert_eq!(parse_signature("miner-name:xmrig"), None);
        assert_eq!(finding_id("ns", "r"), "YARA-ns-r");
    }
}
