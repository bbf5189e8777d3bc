//! What detection data a run uses, for `imgscan signatures list` and `--version`: the
//! signature files (embedded in the binary, or from a `--signatures` directory, by path),
//! how many entries of each kind they compile to, the embedded YARA-L rules, and one
//! digest over every file's name and text (so two binaries or two directories can be told
//! apart at a glance; the layer cache keys on the same bytes).

use crate::signatures::{self, Signatures};
use std::fmt::Write as _;
use std::path::Path;

/// One signature file that was loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureFile {
    pub file: String,
    /// `embedded` or the file's path.
    pub origin: String,
    pub bytes: usize,
}

/// The loaded set.
#[derive(Debug, Clone)]
pub struct Inventory {
    /// `sha256:` and the first 12 bytes (24 hex digits) over every file, in load order.
    pub digest: String,
    pub files: Vec<SignatureFile>,
    /// (kind, entries) after merging every file.
    pub counts: Vec<(&'static str, usize)>,
    /// Rules in the embedded YARA-L set.
    pub rules: usize,
}

impl Inventory {
    /// The embedded set, extended by the files in `dir` as `Signatures::load` reads them
    /// (a broken file is the same error it would be for a scan).
    pub fn load(dir: Option<&Path>) -> Result<Inventory, String> {
        let sources = signatures::sources(dir).map_err(|e| e.to_string())?;
        let sigs = Signatures::from_sources(&sources).map_err(|e| e.to_string())?;
        let digest = format!("sha256:{}", signatures::sources_digest(&sources));
        let embedded = signatures::embedded_sources().len();
        let w = &sigs.wallets;
        let counts = vec![
            ("miner names", sigs.names.len()),
            ("pool domains", sigs.domains.len()),
            ("pool ports", sigs.ports.len()),
            ("string signatures", sigs.strings.len()),
            ("miner options", sigs.behaviour.options.len()),
            (
                "wallet formats",
                w.cryptonote.len() + w.base58check.len() + w.segwit.len(),
            ),
            ("known-bad hashes", sigs.bad_hashes.len()),
        ];
        Ok(Inventory {
            digest,
            files: sources
                .into_iter()
                .enumerate()
                .map(|(i, s)| SignatureFile {
                    origin: if i < embedded {
                        "embedded".into()
                    } else {
                        s.label
                    },
                    file: s.file,
                    bytes: s.text.len(),
                })
                .collect(),
            counts,
            rules: crate::rules::RuleSet::embedded_default().len(),
        })
    }

    /// The listing `imgscan signatures list` prints.
    pub fn table(&self) -> String {
        let mut s = format!("signature set {}\n\nfiles:\n", self.digest);
        for f in &self.files {
            let _ = writeln!(
                s,
                "  {:<24} {:>8} bytes  {}",
                f.file,
                f.bytes,
                super::table::clean(&f.origin)
            );
        }
        s.push_str("\nentries:\n");
        for (kind, n) in &self.counts {
            let _ = writeln!(s, "  {kind:<24} {n:>8}");
        }
        let _ = writeln!(
            s,
            "  {:<24} {:>8}  (embedded signatures/rules/; --rules replaces them)",
            "YARA-L rules", self.rules
        );
        s
    }
}

/// `imgscan 0.1.0 (signatures sha256:..., N files; M YARA-L rules)`: the text of
/// `--version`, computed once.
pub fn version_line() -> &'static str {
    static LINE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    LINE.get_or_init(|| match Inventory::load(None) {
        Ok(i) => format!(
            "{} (signatures {}, {} embedded files; {} YARA-L rule{})",
            env!("CARGO_PKG_VERSION"),
            i.digest,
            i.files.len(),
            i.rules,
            if i.rules == 1 { "" } else { "s" }
        ),
        Err(e) => format!(
            "{} (embedded signatures broken: {e})",
            env!("CARGO_PKG_VERSION")
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_files_are_listed_by_path_and_change_the_digest() {
        let base = Inventory::load(None).unwrap();
        assert_eq!(base.files.len(), crate::signatures::EMBEDDED.len());
        assert!(base
            .files
            .iter()
            .all(|f| f.origin == "embedded" && f.bytes > 0));
        assert!(base.counts.iter().all(|(_, n)| *n > 0), "{:?}", base.counts);
        assert!(base.rules > 0);
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("pools.toml");
        std::fs::write(
            &p,
            "[[domains]]\ndomains = [\"pool.example.test\"]\nsource = \"test\"\n",
        )
        .unwrap();
        let ext = Inventory::load(Some(d.path()));
        let Ok(ext) = ext else {
            // The format of pools.toml is not this module's: say what failed.
            panic!("{}", ext.unwrap_err());
        };
        assert_eq!(ext.files.len(), base.files.len() + 1);
        assert_eq!(ext.files.last().unwrap().origin, p.display().to_string());
        assert_ne!(ext.digest, base.digest);
        assert!(ext.table().contains(&p.display().to_string()));
        assert!(version_line().contains(&base.digest));
    }
}
