//! Findings: what was found, where, and why it matters. Analyzers, the rule engine's
//! image bridge, name reputation and limit hits all produce [`Finding`]s; reports render
//! them and the exit code is derived from them.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Ordered from least to most severe, so `a >= b` means "at least as bad".
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    #[default]
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "INFO",
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
            Severity::Critical => "CRITICAL",
        }
    }
    /// One step up, saturating at CRITICAL.
    pub fn raised(self) -> Severity {
        match self {
            Severity::Info => Severity::Low,
            Severity::Low => Severity::Medium,
            Severity::Medium => Severity::High,
            Severity::High | Severity::Critical => Severity::Critical,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_uppercase().as_str() {
            "INFO" | "INFORMATIONAL" => Ok(Severity::Info),
            "LOW" => Ok(Severity::Low),
            "MEDIUM" => Ok(Severity::Medium),
            "HIGH" => Ok(Severity::High),
            "CRITICAL" => Ok(Severity::Critical),
            _ => Err(format!(
                "unknown severity {s:?} (expected critical, high, medium, low or info)"
            )),
        }
    }
}

/// Where a piece of evidence was seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Location {
    /// A file inside a layer.
    File {
        layer: usize,
        layer_digest: String,
        path: String,
        /// Layer that deletes or replaces the file; `None` = visible in the final image.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hidden_by: Option<usize>,
        /// Path of the enclosing archive chain when found inside a nested archive,
        /// e.g. `["opt/x.tar.gz"]` for `opt/x.tar.gz!xmrig-6.21/xmrig`.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        inside: Vec<String>,
        /// SHA-256 (hex) of the file's content, when it was computed (executables and
        /// scripts).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sha256: Option<String>,
    },
    /// A field of the image config (`Entrypoint`, `Cmd`, `Env[3]`, `User`, ...).
    Config { field: String },
    /// A `docker history` step (index into the config's history).
    History { step: usize },
    /// The image reference itself.
    Name { reference: String },
    /// A runtime event (line number in the events file).
    Event { line: u64 },
    /// The scan as a whole (limits, unreadable layers).
    Scan,
}

/// One reason a finding was raised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    pub location: Location,
    /// Byte offset in the file where the signature matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// 1-based line in the file (scripts, crontabs, units) where it matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// Name of the matched signature or rule (e.g. `xmrig-usage`, `pool-domain:minexmr.com`).
    pub signature: String,
    /// A short, printable excerpt of what matched.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub excerpt: String,
}

/// A finding a person can act on without rerunning anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable identifier, e.g. `IMG-MINER-BINARY`.
    pub id: String,
    pub title: String,
    pub severity: Severity,
    /// Why this matters.
    pub description: String,
    /// What to do about it.
    pub remediation: String,
    /// MITRE ATT&CK technique ids, e.g. `T1496`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attack: Vec<String>,
    pub evidence: Vec<Evidence>,
}

impl Finding {
    /// The layer digest/path of the first file evidence, as `DIGEST/path` (for SARIF).
    pub fn primary_file(&self) -> Option<(&str, &str)> {
        self.evidence.iter().find_map(|e| match &e.location {
            Location::File {
                layer_digest, path, ..
            } => Some((layer_digest.as_str(), path.as_str())),
            _ => None,
        })
    }
}

/// Printable excerpt of matched bytes: non-printable bytes become `.`, at most `max`
/// characters.
pub fn excerpt(bytes: &[u8], max: usize) -> String {
    bytes
        .iter()
        .take(max)
        .map(|&b| {
            if (0x20..0x7f).contains(&b) {
                b as char
            } else {
                '.'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_order_and_parse() {
        assert!(Severity::Critical > Severity::High);
        assert!(Severity::Low > Severity::Info);
        assert_eq!("high".parse::<Severity>().unwrap(), Severity::High);
        assert!("severe".parse::<Severity>().is_err());
        assert_eq!(Severity::High.raised(), Severity::Critical);
        assert_eq!(Severity::Critical.raised(), Severity::Critical);
    }

    #[test]
    fn excerpt_masks_binary() {
        assert_eq!(excerpt(b"ab\x00c\xffd", 10), "ab.c.d");
        assert_eq!(excerpt(b"abcdef", 3), "abc");
    }
}
