//! Scanning an admitted image's content: open it from its registry with the same source
//! options as `imgscan scan` and run [`crate::scan::scan_image`] on every platform read.
//!
//! ```no_run
//! use imgscan::admission::{scan::RegistryScanner, Scanner};
//! use imgscan::{limits::Limits, reference::Reference, rules::RuleSet, signatures::Signatures};
//! use imgscan::source::SourceOptions;
//! let s = RegistryScanner::new(Signatures::load(None).unwrap().into(), RuleSet::embedded_default(),
//!     Limits::default(), SourceOptions::default(), 2);
//! let verdict = s.scan(&Reference::parse("127.0.0.1:5000/acme/api:1").unwrap());
//! ```

use super::review::{ImageVerdict, Scanner};
use crate::limits::Limits;
use crate::reference::{Reference, Target};
use crate::rules::RuleSet;
use crate::signatures::Signatures;
use crate::source::SourceOptions;
use std::path::Path;
use std::sync::Arc;

/// Pulls from registries and scans.
pub struct RegistryScanner {
    sigs: Arc<Signatures>,
    rules: RuleSet,
    limits: Limits,
    opts: SourceOptions,
    parallel: usize,
    version: String,
}

impl RegistryScanner {
    pub fn new(
        sigs: Arc<Signatures>,
        rules: RuleSet,
        limits: Limits,
        opts: SourceOptions,
        parallel: usize,
    ) -> Self {
        // The kubelet pulls from the registry: judge that image, never one of the same
        // name that a Docker or Podman daemon next to this process happens to hold.
        let opts = SourceOptions {
            image_src: vec![crate::source::daemon::ImageSrc::Remote],
            ..opts
        };
        let version = analysis_version(None, &limits, sigs.yara.as_deref());
        RegistryScanner {
            sigs,
            rules,
            limits,
            opts,
            parallel: parallel.max(1),
            version,
        }
    }

    /// Name the `--signatures` directory the signatures were loaded from, so that
    /// [`Scanner::version`] (and every verdict cache key) changes with its files.
    pub fn with_signature_dir(mut self, dir: Option<&Path>) -> Result<Self, String> {
        self.version = crate::cache::Analysis::new(dir, &self.limits)?
            .with_yara(self.sigs.yara.as_deref())
            .key("");
        Ok(self)
    }
}

/// The layer cache's analysis version (crate version, entry format, a digest of the
/// signature files, the limits that change results): a verdict is as stale as a layer
/// entry would be. The rules are the embedded set, covered by the crate version; `--yara`
/// rules by their digest.
fn analysis_version(
    dir: Option<&Path>,
    limits: &Limits,
    yara: Option<&crate::yara::YaraRules>,
) -> String {
    crate::cache::Analysis::new(dir, limits)
        .map(|a| a.with_yara(yara).key(""))
        .unwrap_or_else(|e| format!("unversioned ({e})"))
}

impl Scanner for RegistryScanner {
    fn version(&self) -> String {
        self.version.clone()
    }

    fn resolve(&self, image: &Reference) -> Option<Result<String, String>> {
        Some(crate::source::registry::manifest_digest(image, &self.opts).map_err(|e| e.to_string()))
    }

    fn scan(&self, image: &Reference) -> ImageVerdict {
        let images = match crate::source::open(&Target::Registry(image.clone()), &self.opts) {
            Ok(i) => i,
            Err(e) => return ImageVerdict::Unjudged(e.to_string()),
        };
        let mut digest = None;
        let mut findings = Vec::new();
        let mut incomplete = Vec::new();
        for img in &images {
            let (r, _) =
                crate::scan::scan_image(img, &self.sigs, &self.rules, &self.limits, self.parallel);
            digest.get_or_insert(img.image.manifest_digest.clone());
            findings.extend(
                r.findings
                    .into_iter()
                    .filter(|f| f.id != crate::analyzers::collate::SCAN_INCOMPLETE),
            );
            incomplete.extend(r.incomplete);
        }
        ImageVerdict::Judged {
            digest,
            findings,
            incomplete,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::daemon::ImageSrc;

    #[test]
    fn admission_scans_read_the_registry_only() {
        let opts = SourceOptions {
            image_src: vec![ImageSrc::Docker, ImageSrc::Podman, ImageSrc::Remote],
            ..SourceOptions::default()
        };
        let s = RegistryScanner::new(
            Signatures::load(None).unwrap().into(),
            RuleSet::embedded_default(),
            Limits::default(),
            opts,
            1,
        );
        assert_eq!(s.opts.image_src, [ImageSrc::Remote]);
    }
}
