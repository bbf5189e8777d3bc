//! The admission policy: what severity denies, enforce or audit, who is exempt, which
//! images are trusted without a scan, and what an image not yet judged gets when the
//! deadline comes. Read from YAML (`--policy`); every field has a default.
//!
//! ```
//! use imgscan::admission::policy::{Mode, Policy};
//! let p = Policy::from_yaml("fail_on: critical\nmode: audit\nallowed_images: ['registry.k8s.io/**']\n").unwrap();
//! assert_eq!(p.mode, Mode::Audit);
//! assert!(p.is_allowed_image("registry.k8s.io/pause:3.9", "registry.k8s.io"));
//! assert!(p.is_exempt(Some("kube-system")));
//! ```

use crate::findings::Severity;
use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Deserialize;

/// Deny, or allow and warn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    #[default]
    Enforce,
    Audit,
}

/// What an image that could not be judged in time (or at all) gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum OnDeadline {
    #[default]
    Deny,
    AllowWithWarning,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct PolicyFile {
    fail_on: String,
    mode: Mode,
    exempt_namespaces: Vec<String>,
    allowed_images: Vec<String>,
    allowed_registries: Vec<String>,
    on_deadline: OnDeadline,
}

impl Default for PolicyFile {
    fn default() -> Self {
        PolicyFile {
            fail_on: "high".into(),
            mode: Mode::Enforce,
            exempt_namespaces: vec!["kube-system".into()],
            allowed_images: Vec::new(),
            allowed_registries: Vec::new(),
            on_deadline: OnDeadline::Deny,
        }
    }
}

/// A loaded policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Findings at or above this deny; `None` = never on findings.
    pub fail_on: Option<Severity>,
    pub mode: Mode,
    pub exempt_namespaces: Vec<String>,
    /// Globs over the image as written and as normalised (`docker.io/library/nginx:1`).
    pub allowed_images: Vec<String>,
    allowed_set: GlobSet,
    /// Registry hosts (with port) whose images are trusted.
    pub allowed_registries: Vec<String>,
    pub on_deadline: OnDeadline,
}

impl Default for Policy {
    fn default() -> Self {
        Policy::from_file(PolicyFile::default()).expect("the default policy is valid")
    }
}

impl Policy {
    /// Parse a policy document.
    pub fn from_yaml(text: &str) -> Result<Policy, String> {
        let f: PolicyFile = if text.trim().is_empty() {
            PolicyFile::default()
        } else {
            serde_norway::from_str(text).map_err(|e| format!("policy: {e}"))?
        };
        Policy::from_file(f)
    }

    /// Read and parse a policy file (at most 1 MiB).
    pub fn load(path: &std::path::Path) -> Result<Policy, String> {
        use std::io::Read;
        let mut text = String::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(1 << 20).read_to_string(&mut text))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Policy::from_yaml(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    fn from_file(f: PolicyFile) -> Result<Policy, String> {
        let fail_on =
            crate::report::parse_fail_on(&f.fail_on).map_err(|e| format!("fail_on: {e}"))?;
        let mut b = GlobSetBuilder::new();
        for g in &f.allowed_images {
            b.add(Glob::new(g).map_err(|e| format!("allowed_images {g:?}: {e}"))?);
        }
        let allowed_set = b.build().map_err(|e| format!("allowed_images: {e}"))?;
        Ok(Policy {
            fail_on,
            mode: f.mode,
            exempt_namespaces: f.exempt_namespaces,
            allowed_images: f.allowed_images,
            allowed_set,
            allowed_registries: f.allowed_registries,
            on_deadline: f.on_deadline,
        })
    }

    /// Override the threshold (`--fail-on`).
    pub fn set_fail_on(&mut self, s: &str) -> Result<(), String> {
        self.fail_on = crate::report::parse_fail_on(s)?;
        Ok(())
    }

    /// Whether requests in `namespace` are allowed without a look.
    pub fn is_exempt(&self, namespace: Option<&str>) -> bool {
        namespace.is_some_and(|n| self.exempt_namespaces.iter().any(|e| e == n))
    }

    /// Whether `image` (as written) or `normalised`, or its registry, is trusted.
    pub fn is_allowed_image(&self, image: &str, registry: &str) -> bool {
        self.allowed_set.is_match(image) || self.allowed_registries.iter().any(|r| r == registry)
    }

    /// Whether a finding of `sev` denies.
    pub fn denies(&self, sev: Severity) -> bool {
        self.fail_on.is_some_and(|t| sev >= t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_errors() {
        let p = Policy::default();
        assert_eq!(p.fail_on, Some(Severity::High));
        assert_eq!(p.on_deadline, OnDeadline::Deny);
        assert!(p.denies(Severity::Critical) && !p.denies(Severity::Medium));
        assert!(Policy::from_yaml("fail_on: loud\n").is_err());
        assert!(Policy::from_yaml("colour: red\n").is_err());
        let p =
            Policy::from_yaml("on_deadline: allow-with-warning\nallowed_registries: ['my.reg']\n")
                .unwrap();
        assert_eq!(p.on_deadline, OnDeadline::AllowWithWarning);
        assert!(p.is_allowed_image("my.reg/x:1", "my.reg"));
        assert!(!p.is_allowed_image("other/x:1", "docker.io"));
    }
}
