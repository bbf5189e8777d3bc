//! The config file (`imgscan.yaml` in the working directory, or `--config PATH`, or
//! `$IMGSCAN_CONFIG`): flag values by flag name, read before the command line is parsed.
//!
//! ```yaml
//! fail-on: medium
//! format: sarif
//! severity: [critical, high]
//! no-cache: true
//! ```
//!
//! Keys are flag names without `--` (`fail-on`, or `fail_on`); values are a scalar or a
//! list of scalars (repeatable flags). A key that is no flag of any command is an error
//! naming the key and its line, so a misspelt setting is never silently ignored.
//! Precedence: a flag on the command line, then its `IMGSCAN_*` variable, then this file,
//! then the built-in default (the file's values become the flags' defaults).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The name looked for in the working directory.
pub const DEFAULT_FILE: &str = "imgscan.yaml";
/// Bytes of a config file read at most.
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Flag id (`fail_on`) → its values from the file.
pub type Settings = BTreeMap<String, Vec<String>>;

/// Which file to read: `explicit` (`--config`), else `$IMGSCAN_CONFIG`, else
/// `./imgscan.yaml` when it exists; `None` = no file. An explicit file must exist.
pub fn locate(explicit: Option<&Path>) -> Option<(PathBuf, bool)> {
    if let Some(p) = explicit {
        return Some((p.to_path_buf(), true));
    }
    if let Some(p) = std::env::var_os("IMGSCAN_CONFIG").filter(|p| !p.is_empty()) {
        return Some((PathBuf::from(p), true));
    }
    let p = PathBuf::from(DEFAULT_FILE);
    p.is_file().then_some((p, false))
}

/// Read and check the file at `path` against `known` flag ids.
pub fn load(path: &Path, known: &[String]) -> Result<Settings, String> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut text = String::new();
    f.take(MAX_CONFIG_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if text.len() as u64 > MAX_CONFIG_BYTES {
        return Err(format!("{}: larger than 1 MiB", path.display()));
    }
    parse(&text, known).map_err(|e| format!("{}: {e}", path.display()))
}

/// 1-based line where `key:` starts a line, for messages.
fn line_of(text: &str, key: &str) -> usize {
    text.lines()
        .position(|l| {
            let l = l.trim_start_matches(['"', '\'']);
            l.starts_with(key)
                && l[key.len()..]
                    .trim_start_matches(['"', '\''])
                    .starts_with(':')
        })
        .map_or(0, |i| i + 1)
}

fn scalar(v: &serde_norway::Value) -> Option<String> {
    match v {
        serde_norway::Value::String(s) => Some(s.clone()),
        serde_norway::Value::Bool(b) => Some(b.to_string()),
        serde_norway::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Parse config text; `known` are flag ids (`fail_on`).
pub fn parse(text: &str, known: &[String]) -> Result<Settings, String> {
    let v: serde_norway::Value = serde_norway::from_str(text).map_err(|e| e.to_string())?;
    let map = match v {
        serde_norway::Value::Null => return Ok(Settings::new()),
        serde_norway::Value::Mapping(m) => m,
        _ => return Err("expected a mapping of flag names to values".into()),
    };
    let mut out = Settings::new();
    for (k, v) in map {
        let Some(key) = scalar(&k) else {
            return Err("a key that is not a flag name".into());
        };
        let id = key.replace('-', "_");
        let line = line_of(text, &key);
        if !known.contains(&id) {
            return Err(format!(
                "line {line}: unknown key {key:?} (no command has a --{} flag)",
                key.replace('_', "-")
            ));
        }
        let values = match &v {
            serde_norway::Value::Sequence(items) => {
                items.iter().map(scalar).collect::<Option<Vec<_>>>()
            }
            other => scalar(other).map(|s| vec![s]),
        };
        let Some(values) = values else {
            return Err(format!(
                "line {line}: {key}: expected a value or a list of values"
            ));
        };
        out.insert(id, values);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_values_and_unknown_keys() {
        let known: Vec<String> = ["fail_on", "severity", "no_cache", "parallel"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let s = parse(
            "fail-on: medium\nseverity: [critical, high]\nno_cache: true\nparallel: 3\n",
            &known,
        )
        .unwrap();
        assert_eq!(s["fail_on"], ["medium"]);
        assert_eq!(s["severity"], ["critical", "high"]);
        assert_eq!(s["no_cache"], ["true"]);
        assert_eq!(s["parallel"], ["3"]);
        let e = parse("# settings\nfail-on: low\nfail-onn: high\n", &known).unwrap_err();
        assert!(e.contains("line 3") && e.contains("\"fail-onn\""), "{e}");
        assert!(parse("fail-on: {a: 1}\n", &known)
            .unwrap_err()
            .contains("line 1"));
        assert!(parse("- a\n", &known).is_err());
        assert!(parse("", &known).unwrap().is_empty());
    }
}
