//! Hash analyzer: content digests of executables and scripts, computed while the file
//! streams past (on the worker thread, beside the content search).
//!
//! What is hashed, and with what:
//! - SHA-256 of every executable (an execute bit, or ELF/PE/Mach-O magic) and every
//!   script (text starting with `#!`): it goes into finding evidence, JSON/SARIF and the
//!   UDM events, and is looked up in the known-bad hash list (`known-bad-hashes.toml`);
//! - for files with an execute bit in system paths only (`usr/bin`, `usr/sbin`, `bin`,
//!   `sbin`, `usr/lib*`, `lib*`, `usr/libexec`; shared libraries without one are left
//!   out: they are most of the bytes), also what the package databases record: MD5
//!   (dpkg `info/*.md5sums`) and SHA-1 (apk `Z:Q1…`); rpm records SHA-256 (or MD5 on
//!   old databases), which both cover. The package check (`packages.rs`) compares them.
//!   sha2 and sha1 use the SHA-NI instructions when the CPU has them (cpufeatures).
//!
//! A file cut at the walker's file-size bound gets no digest (its path is kept in
//! [`HashFacts::cut`]); at most [`MAX_DIGESTS`] files per layer are kept, and past that
//! a note makes the scan incomplete.

use super::{Analyzer, FileCtx, LayerFacts, Signal};
use crate::signatures::Signatures;
use md5::Md5;
use serde::Serialize;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// Digests kept per layer at most (each ~200 bytes).
pub const MAX_DIGESTS: usize = 200_000;

/// The digests of one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct FileDigest {
    /// Path in the layer.
    pub path: String,
    /// Enclosing archives (outermost first); empty for a file directly in a layer.
    pub inside: Vec<String>,
    /// SHA-256, lower-case hex.
    pub sha256: String,
    /// MD5, lower-case hex (system-path executables only, for dpkg).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub md5: Option<String>,
    /// SHA-1, lower-case hex (system-path executables only, for apk).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha1: Option<String>,
}

/// What the hash analyzer hands over besides the digests.
#[derive(Debug, Default, Clone, Serialize, serde::Deserialize)]
pub struct HashFacts {
    /// Files that would have been hashed but were cut at a bound (no digest).
    pub cut: Vec<String>,
}

/// `path` (layer-relative) lies in a directory where packages install executables and
/// libraries.
pub fn is_system_path(path: &str) -> bool {
    let p = path.trim_start_matches("./").trim_start_matches('/');
    let p = p.strip_prefix("usr/").unwrap_or(p);
    let top = p.split('/').next().unwrap_or("");
    let lib = top
        .strip_prefix("lib")
        .is_some_and(|r| matches!(r, "" | "32" | "64" | "x32" | "exec"));
    p.contains('/') && (top == "bin" || top == "sbin" || lib)
}

struct Current {
    path: String,
    inside: Vec<String>,
    sha256: Sha256,
    md5: Option<Md5>,
    sha1: Option<Sha1>,
}

/// Hashes executables and scripts; flags the ones on the known-bad list.
pub struct HashAnalyzer {
    sigs: Arc<Signatures>,
    cur: Option<Current>,
    digests: Vec<FileDigest>,
    facts: HashFacts,
    dropped: u64,
}

impl HashAnalyzer {
    pub fn new(sigs: Arc<Signatures>) -> Self {
        HashAnalyzer {
            sigs,
            cur: None,
            digests: Vec::new(),
            facts: HashFacts::default(),
            dropped: 0,
        }
    }
}

/// Lower-case hex of a digest.
fn hex_of(d: &[u8]) -> String {
    hex::encode(d)
}

impl Analyzer for HashAnalyzer {
    fn name(&self) -> &'static str {
        "hash"
    }
    fn file_start(&mut self, file: &FileCtx) -> bool {
        self.cur = None;
        if file.entry.kind != crate::image::EntryKind::File {
            return false;
        }
        let binary = file.is_binary();
        let exec = binary || file.entry.is_executable();
        if !exec && !file.head.starts_with(b"#!") {
            return false;
        }
        // The package databases' digests only for what can be run: a file with an execute
        // bit. Shared libraries (mode 0644 under usr/lib) are two thirds of a Debian
        // layer's executable bytes; MD5 and SHA-1 of them cost more than the rest of the
        // hashing, and a replaced library is loaded through ld.so.preload (checked) or by
        // a replaced program (compared).
        let system = file.entry.is_executable()
            && file.inside.is_empty()
            && is_system_path(&file.entry.path);
        self.cur = Some(Current {
            path: file.entry.path.clone(),
            inside: file.inside.to_vec(),
            sha256: Sha256::new(),
            md5: system.then(Md5::new),
            sha1: system.then(Sha1::new),
        });
        true
    }
    fn file_chunk(&mut self, data: &[u8], _offset: u64) {
        if let Some(c) = &mut self.cur {
            c.sha256.update(data);
            if let Some(m) = &mut c.md5 {
                m.update(data);
            }
            if let Some(s) = &mut c.sha1 {
                s.update(data);
            }
        }
    }
    fn file_end(&mut self, file: &FileCtx, truncated: bool, out: &mut Vec<Signal>) {
        let Some(c) = self.cur.take() else {
            return;
        };
        if truncated {
            if self.facts.cut.len() < 1000 {
                self.facts
                    .cut
                    .push(super::visitor::display_path(&c.inside, &c.path));
            }
            return;
        }
        let sha256 = hex_of(&c.sha256.finalize());
        if let Some(bad) = self.sigs.known_bad_hash(&sha256) {
            out.push(Signal {
                subject: file.subject(),
                kind: super::SignalKind::KnownBadHash,
                signature: format!("known-bad-hash:{}", bad.name),
                offset: None,
                line: None,
                excerpt: format!(
                    "sha256 {sha256} is listed: {} (source: {})",
                    bad.what, bad.source
                ),
            });
        }
        if self.digests.len() >= MAX_DIGESTS {
            self.dropped += 1;
            return;
        }
        self.digests.push(FileDigest {
            path: c.path,
            inside: c.inside,
            sha256,
            md5: c.md5.map(|m| hex_of(&m.finalize())),
            sha1: c.sha1.map(|s| hex_of(&s.finalize())),
        });
    }
    fn facts(&mut self, out: &mut LayerFacts) {
        out.digests.append(&mut self.digests);
        out.hash.cut.append(&mut self.facts.cut);
        if self.dropped > 0 {
            out.notes.push(format!(
                "{} executables beyond the first {MAX_DIGESTS} of a layer were not hashed into the facts (no digest in evidence, no package check)",
                self.dropped
            ));
            self.dropped = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signatures::{embedded_sources, Source};

    #[test]
    fn embedded_known_bad_hash_is_found() {
        let sigs = Signatures::embedded().unwrap();
        // Elastic's Kinsing reference sample.
        let k = "b3527e3d03a30fcf1fdaa73a1b3743866da6db088fbfa5f51964f519e22d05e6";
        let bad = sigs.known_bad_hash(k).expect("listed");
        assert_eq!(bad.name, "kinsing");
        assert!(bad.source.contains("Linux_Trojan_Kinsing.yar"));
        assert!(sigs.bad_hashes.len() >= 20);
        assert!(sigs.known_bad_hash(&"0".repeat(64)).is_none());
        // Upper-case in a user's file is accepted; a short hash is an error.
        let mut src = embedded_sources();
        src.push(Source::new(
            "known-bad-hashes.toml",
            "user.toml",
            format!(
                "[[hash]]\nsha256 = \"{}\"\nname = \"x\"\nwhat = \"y\"\nsource = \"z\"\n",
                "AB".repeat(32)
            ),
        ));
        let sigs = Signatures::from_sources(&src).unwrap();
        assert!(sigs.known_bad_hash(&"ab".repeat(32)).is_some());
        src.push(Source::new(
            "known-bad-hashes.toml",
            "bad.toml",
            "[[hash]]\nsha256 = \"abc\"\nname = \"x\"\nwhat = \"y\"\nsource = \"z\"\n",
        ));
        let e = Signatures::from_sources(&src).unwrap_err().to_string();
        assert!(e.contains("bad.toml"), "{e}");
    }

    #[test]
    fn system_paths() {
        for p in [
            "usr/bin/ps",
            "bin/ls",
            "sbin/init",
            "usr/sbin/nginx",
            "usr/lib/x86_64-linux-gnu/libc.so.6",
            "lib64/ld-linux-x86-64.so.2",
            "usr/libexec/x",
            "./usr/bin/a",
        ] {
            assert!(is_system_path(p), "{p}");
        }
        for p in [
            "usr/local/bin/x",
            "opt/bin/x",
            "tmp/ps",
            "usr/bin",
            "library/x",
            "bin",
        ] {
            assert!(!is_system_path(p), "{p}");
        }
    }
}
