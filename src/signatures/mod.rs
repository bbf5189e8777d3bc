//! Detection signatures: data, not code. Owns loading the TOML files under `signatures/`
//! (embedded in the binary with `include_str!`, or read from `--signatures DIR`), validating
//! them with errors that name the file and line, and compiling the literal signatures into
//! the one literal searcher ([`literals::LiteralSet`]) the content analyzer runs over every
//! file.
//!
//! Files (format documented in `signatures/README.md`):
//! - `miner-names.toml`: `[[name]]` groups (`names`, `kind` = miner|campaign, `prefix`, `source`)
//! - `pools.toml`: `[[domains]]` groups (`domains`, `source`) and `[[ports]]` (`ports`, `source`)
//! - `wallets.toml`: `[[cryptonote]]` (`coin`, `network`, `kind`, `prefix`, `length`,
//!   `source`), `[[base58check]]` (`coin`, `kind`, `version`, `source`), `[[segwit]]`
//!   (`coin`, `hrp`, `source`): the address formats the wallet analyzer checks
//! - `strings.toml`: `[[signature]]` (`id`, `category`, `strength`, `literal`|`literals`,
//!   optional `confirm` regex, optional `binary_only`, `source`)
//!
//! `known-bad-images` and `popular-images` belong to name reputation and are not read here.

use crate::error::{Error, Result, Step};
use regex::bytes::Regex;
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::path::Path;

pub mod literals;
use literals::LiteralSet;
pub mod wallets;

/// The embedded signature files, `(file name, text)`.
pub const EMBEDDED: &[(&str, &str)] = &[
    (
        "miner-names.toml",
        include_str!("../../signatures/miner-names.toml"),
    ),
    ("pools.toml", include_str!("../../signatures/pools.toml")),
    (
        "strings.toml",
        include_str!("../../signatures/strings.toml"),
    ),
    (
        "behaviour.toml",
        include_str!("../../signatures/behaviour.toml"),
    ),
    (
        "wallets.toml",
        include_str!("../../signatures/wallets.toml"),
    ),
    (
        "known-bad-hashes.toml",
        include_str!("../../signatures/known-bad-hashes.toml"),
    ),
];

/// What a literal signature indicates.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, serde::Serialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    Miner,
    MinerConfig,
    Pool,
    Stratum,
    Malware,
    Dropper,
    CredTheft,
    Exfil,
    Evasion,
    MinerTuning,
    Packer,
}

/// Whether a signature is enough on its own or only supports others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Strength {
    Strong,
    Weak,
}

/// How strongly a file name points at a miner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NameKind {
    Miner,
    Campaign,
}

/// One literal signature.
#[derive(Debug, Clone)]
pub struct StringSig {
    pub id: String,
    pub category: Category,
    pub strength: Strength,
    /// Regex the line around the literal must match.
    pub confirm: Option<Regex>,
    pub binary_only: bool,
    pub source: String,
}

/// What a literal in the searcher stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatternRef {
    /// Index into [`Signatures::strings`].
    String(usize),
    /// Index into [`Signatures::domains`].
    Domain(usize),
}

/// A miner file name.
#[derive(Debug, Clone)]
pub struct MinerName {
    pub name: String,
    pub kind: NameKind,
    pub prefix: bool,
    pub source: String,
}

/// A pool domain (matched as a suffix on label boundaries).
#[derive(Debug, Clone)]
pub struct PoolDomain {
    pub domain: String,
    pub source: String,
}

/// All signatures, compiled.
#[derive(Debug)]
pub struct Signatures {
    pub names: Vec<MinerName>,
    pub domains: Vec<PoolDomain>,
    pub ports: HashSet<u16>,
    pub strings: Vec<StringSig>,
    /// Every literal (string signatures and pool domains), compiled for one search.
    pub literals: LiteralSet,
    /// Pattern index in [`Signatures::literals`] → what it stands for.
    pub patterns: Vec<PatternRef>,
    /// Longest literal, in bytes (the content scanner's chunk overlap depends on it).
    pub max_literal_len: usize,
    /// Command grammar of `behaviour.toml` (miner options, downloaders, scanners, ...).
    pub behaviour: crate::behaviour::Grammar,
    name_index: HashMap<String, usize>,
    /// Wallet address formats (`wallets.toml`).
    pub wallets: wallets::WalletTable,
    /// Known-bad SHA-256 (lower-case hex) → what it is (`known-bad-hashes.toml`).
    pub bad_hashes: HashMap<String, BadHash>,
    /// The `--yara` rules, if any (`crate::yara`); none: no file is buffered for them.
    pub yara: Option<std::sync::Arc<crate::yara::YaraRules>>,
}

/// A published IOC hash of a miner or dropper.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BadHash {
    pub sha256: String,
    /// Family or campaign, e.g. `kinsing`.
    pub name: String,
    /// What the file is, in a few words.
    pub what: String,
    pub source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HashesFile {
    #[serde(default)]
    hash: Vec<BadHash>,
}

fn add_hashes(p: &mut Parts, hf: &str, ht: &str) -> Result<()> {
    let file: HashesFile = parse(hf, ht)?;
    let mut seen = HashSet::new();
    for mut h in file.hash {
        let at = find_line_of(ht, &h.sha256);
        h.sha256 = h.sha256.to_ascii_lowercase();
        if h.sha256.len() != 64 || !h.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid(hf, ht, at, format!("bad sha256 {:?}", h.sha256)));
        }
        if h.source.trim().is_empty() || h.name.trim().is_empty() {
            return Err(invalid(hf, ht, at, "empty name or source"));
        }
        if !seen.insert(h.sha256.clone()) {
            return Err(invalid(
                hf,
                ht,
                at,
                format!("duplicate sha256 {}", h.sha256),
            ));
        }
        p.hashes.insert(h.sha256.clone(), h);
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NamesFile {
    #[serde(default)]
    name: Vec<NameGroup>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NameGroup {
    names: Vec<String>,
    kind: NameKind,
    #[serde(default)]
    prefix: bool,
    source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PoolsFile {
    #[serde(default)]
    domains: Vec<DomainGroup>,
    #[serde(default)]
    ports: Vec<PortGroup>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DomainGroup {
    domains: Vec<String>,
    source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PortGroup {
    ports: Vec<u16>,
    source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StringsFile {
    #[serde(default)]
    signature: Vec<toml::Spanned<RawString>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawString {
    id: String,
    category: Category,
    strength: Strength,
    #[serde(default)]
    literal: Option<String>,
    #[serde(default)]
    literals: Vec<String>,
    #[serde(default)]
    confirm: Option<String>,
    #[serde(default)]
    binary_only: bool,
    source: String,
}

/// 1-based line of byte offset `at` in `text`.
fn line_of(text: &str, at: usize) -> usize {
    text.as_bytes()[..at.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

fn parse<T: serde::de::DeserializeOwned>(file: &str, text: &str) -> Result<T> {
    toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(1);
        Error::new(
            Step::LoadingSignatures,
            format!("{file}:{line}"),
            e.message(),
        )
    })
}

fn invalid(file: &str, text: &str, at: usize, why: impl std::fmt::Display) -> Error {
    Error::new(
        Step::LoadingSignatures,
        format!("{file}:{}", line_of(text, at)),
        why,
    )
}

/// Largest signature file read from `--signatures DIR`.
const MAX_SIGNATURE_FILE: u64 = 64 << 20;

/// Line of the first occurrence of `needle` (for errors about arrays parsed without spans).
fn find_line_of(text: &str, needle: &str) -> usize {
    text.find(needle).unwrap_or(0)
}

/// One signature file to load: which file it is (a name in [`EMBEDDED`]), a label for
/// errors (its path), and its text.
#[derive(Debug, Clone)]
pub struct Source {
    pub file: String,
    pub label: String,
    pub text: String,
}

impl Source {
    pub fn new(file: &str, label: impl Into<String>, text: impl Into<String>) -> Source {
        Source {
            file: file.to_string(),
            label: label.into(),
            text: text.into(),
        }
    }
}

/// The embedded files as [`Source`]s.
pub fn embedded_sources() -> Vec<Source> {
    EMBEDDED
        .iter()
        .map(|(n, t)| Source::new(n, *n, *t))
        .collect()
}

/// The signature files [`Signatures::load`] reads, in load order: the embedded ones, then
/// those in `dir` (sorted by path). Each of `dir`'s must be one of the names in
/// [`EMBEDDED`] (another `*.toml` there is an error, so a misspelt file is not silently
/// ignored) and at most 64 MiB. The loader, `imgscan signatures list` and the layer
/// cache's key all read the files through this, so they agree on which bytes count.
pub fn sources(dir: Option<&Path>) -> Result<Vec<Source>> {
    let mut sources = embedded_sources();
    let Some(dir) = dir else {
        return Ok(sources);
    };
    let listing = std::fs::read_dir(dir)
        .map_err(|e| Error::new(Step::LoadingSignatures, dir.display().to_string(), e))?;
    let mut extra = Vec::new();
    for ent in listing {
        let ent =
            ent.map_err(|e| Error::new(Step::LoadingSignatures, dir.display().to_string(), e))?;
        let path = ent.path();
        let name = ent.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".toml") {
            continue;
        }
        let err =
            |why: String| Error::new(Step::LoadingSignatures, path.display().to_string(), why);
        if !EMBEDDED.iter().any(|(n, _)| *n == name) {
            let known: Vec<&str> = EMBEDDED.iter().map(|(n, _)| *n).collect();
            return Err(err(format!(
                "unknown signature file (known: {})",
                known.join(", ")
            )));
        }
        // Bounded by the read itself, not only by the size seen before it.
        let mut text = String::new();
        std::fs::File::open(&path)
            .and_then(|f| {
                use std::io::Read;
                f.take(MAX_SIGNATURE_FILE + 1).read_to_string(&mut text)
            })
            .map_err(|e| err(e.to_string()))?;
        if text.len() as u64 > MAX_SIGNATURE_FILE {
            return Err(err(format!("larger than {} MiB", MAX_SIGNATURE_FILE >> 20)));
        }
        extra.push(Source::new(&name, path.display().to_string(), text));
    }
    extra.sort_by(|a, b| a.label.cmp(&b.label));
    sources.extend(extra);
    Ok(sources)
}

/// A digest over `sources`' file names and texts, in order (hex of the first 12 bytes
/// of a SHA-256, each part length-prefixed): what `--version`, `imgscan signatures list`
/// and the layer cache's key call the signature set.
pub fn sources_digest(sources: &[Source]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for s in sources {
        for part in [s.file.as_bytes(), s.text.as_bytes()] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part);
        }
    }
    hex::encode(&h.finalize()[..12])
}

/// What the files of one kind hold before compiling. Entries of later files extend those
/// of earlier ones (a name or domain already listed is kept once; a string signature with
/// an id already defined replaces it).
#[derive(Default)]
struct Parts {
    names: Vec<MinerName>,
    domains: Vec<PoolDomain>,
    ports: HashSet<u16>,
    strings: Vec<(StringSig, Vec<String>)>,
    behaviour: crate::behaviour::Grammar,
    wallets: wallets::WalletTable,
    hashes: HashMap<String, BadHash>,
}

fn add_names(p: &mut Parts, nf: &str, nt: &str) -> Result<()> {
    let names_file: NamesFile = parse(nf, nt)?;
    let mut seen = HashSet::new();
    for g in names_file.name {
        if g.source.trim().is_empty() {
            return Err(invalid(nf, nt, find_line_of(nt, "source"), "empty source"));
        }
        for n in g.names {
            let at = find_line_of(nt, &format!("\"{n}\""));
            if n.is_empty() || n.contains('/') {
                return Err(invalid(nf, nt, at, format!("bad file name {n:?}")));
            }
            let key = n.to_ascii_lowercase();
            if !seen.insert(key.clone()) {
                return Err(invalid(nf, nt, at, format!("duplicate name {n:?}")));
            }
            p.names.retain(|m| m.name.to_ascii_lowercase() != key);
            p.names.push(MinerName {
                name: n,
                kind: g.kind,
                prefix: g.prefix,
                source: g.source.clone(),
            });
        }
    }
    Ok(())
}

fn add_pools(p: &mut Parts, pf: &str, pt: &str) -> Result<()> {
    let pools_file: PoolsFile = parse(pf, pt)?;
    let mut seen = HashSet::new();
    for g in pools_file.domains {
        for d in g.domains {
            let at = find_line_of(pt, &format!("\"{d}\""));
            let ok = d.len() >= 4
                && d.contains('.')
                && d.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-'
                });
            if !ok {
                return Err(invalid(pf, pt, at, format!("bad domain {d:?}")));
            }
            if !seen.insert(d.clone()) {
                return Err(invalid(pf, pt, at, format!("duplicate domain {d:?}")));
            }
            if !p.domains.iter().any(|x| x.domain == d) {
                p.domains.push(PoolDomain {
                    domain: d,
                    source: g.source.clone(),
                });
            }
        }
    }
    for g in pools_file.ports {
        if g.source.trim().is_empty() {
            return Err(invalid(pf, pt, find_line_of(pt, "ports"), "empty source"));
        }
        for port in g.ports {
            if port == 0 {
                return Err(invalid(pf, pt, find_line_of(pt, "ports"), "port 0"));
            }
            p.ports.insert(port);
        }
    }
    Ok(())
}

fn add_strings(p: &mut Parts, sf: &str, st: &str) -> Result<()> {
    let strings_file: StringsFile = parse(sf, st)?;
    let mut ids = HashSet::new();
    for spanned in strings_file.signature {
        let at = spanned.span().start;
        let r = spanned.into_inner();
        if r.id.is_empty() || !ids.insert(r.id.clone()) {
            return Err(invalid(
                sf,
                st,
                at,
                format!("empty or duplicate id {:?}", r.id),
            ));
        }
        if r.source.trim().is_empty() {
            return Err(invalid(sf, st, at, format!("{}: empty source", r.id)));
        }
        let mut lits = r.literals;
        lits.extend(r.literal);
        if lits.is_empty() {
            return Err(invalid(sf, st, at, format!("{}: no literal", r.id)));
        }
        // Short literals hit too often to be worth a lookup unless a regex confirms them.
        let min = if r.confirm.is_some() { 3 } else { 4 };
        if let Some(l) = lits.iter().find(|l| l.len() < min) {
            return Err(invalid(
                sf,
                st,
                at,
                format!("{}: literal {l:?} is shorter than {min} bytes", r.id),
            ));
        }
        let confirm =
            match r.confirm {
                Some(re) => Some(Regex::new(&re).map_err(|e| {
                    invalid(sf, st, at, format!("{}: bad confirm regex: {e}", r.id))
                })?),
                None => None,
            };
        p.strings.retain(|(s, _)| s.id != r.id);
        p.strings.push((
            StringSig {
                id: r.id,
                category: r.category,
                strength: r.strength,
                confirm,
                binary_only: r.binary_only,
                source: r.source,
            },
            lits,
        ));
    }
    Ok(())
}

impl Signatures {
    /// The signatures compiled into the binary.
    pub fn embedded() -> Result<Signatures> {
        Self::from_sources(&embedded_sources())
    }

    /// The embedded set extended by the signature files in `dir` ([`sources`]).
    pub fn from_dir(dir: &Path) -> Result<Signatures> {
        Self::from_sources(&sources(Some(dir))?)
    }

    /// Parse, validate and compile `sources` in order (later files extend earlier ones).
    pub fn from_sources(sources: &[Source]) -> Result<Signatures> {
        let mut p = Parts::default();
        for src in sources {
            let (f, t) = (src.label.as_str(), src.text.as_str());
            match src.file.as_str() {
                "miner-names.toml" => add_names(&mut p, f, t)?,
                "pools.toml" => add_pools(&mut p, f, t)?,
                "strings.toml" => add_strings(&mut p, f, t)?,
                "behaviour.toml" => p.behaviour.add(t).map_err(|e| {
                    let line = e.span().map(|s| line_of(t, s.start)).unwrap_or(1);
                    Error::new(Step::LoadingSignatures, format!("{f}:{line}"), e.message())
                })?,
                "wallets.toml" => {
                    wallets::add_wallets(&mut p.wallets, f, t, &|at, why| invalid(f, t, at, why))?
                }
                "known-bad-hashes.toml" => add_hashes(&mut p, f, t)?,
                other => {
                    return Err(Error::new(
                        Step::LoadingSignatures,
                        f,
                        format!("unknown signature file {other:?}"),
                    ))
                }
            }
        }
        Self::compile(p)
    }

    fn compile(p: Parts) -> Result<Signatures> {
        let Parts {
            names,
            domains,
            ports,
            strings: string_parts,
            behaviour,
            wallets,
            hashes: bad_hashes,
        } = p;
        let name_index: HashMap<String, usize> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.to_ascii_lowercase(), i))
            .collect();
        let mut strings = Vec::new();
        let mut literals: Vec<(Vec<u8>, PatternRef)> = Vec::new();
        for (sig, lits) in string_parts {
            let idx = strings.len();
            for l in lits {
                literals.push((l.into_bytes(), PatternRef::String(idx)));
            }
            strings.push(sig);
        }
        for (i, d) in domains.iter().enumerate() {
            literals.push((d.domain.as_bytes().to_vec(), PatternRef::Domain(i)));
        }
        let max_literal_len = literals.iter().map(|(l, _)| l.len()).max().unwrap_or(1);
        let bytes: Vec<Vec<u8>> = literals.iter().map(|(l, _)| l.clone()).collect();
        let literal_set = LiteralSet::new(&bytes)
            .map_err(|e| Error::new(Step::LoadingSignatures, "strings.toml", e))?;
        Ok(Signatures {
            names,
            domains,
            ports,
            strings,
            literals: literal_set,
            patterns: literals.into_iter().map(|(_, r)| r).collect(),
            max_literal_len,
            behaviour,
            name_index,
            wallets,
            bad_hashes,
            yara: None,
        })
    }

    /// The known-bad entry for a SHA-256 (lower-case hex), if listed.
    pub fn known_bad_hash(&self, sha256: &str) -> Option<&BadHash> {
        self.bad_hashes.get(sha256)
    }

    /// Load from `dir` when given, else the embedded set.
    pub fn load(dir: Option<&Path>) -> Result<Signatures> {
        match dir {
            Some(d) => Self::from_dir(d),
            None => Self::embedded(),
        }
    }

    /// The miner name a basename matches (exactly, case-insensitively, or by a `prefix`
    /// name followed by `-`, `_` or `.`).
    pub fn miner_name(&self, basename: &str) -> Option<&MinerName> {
        let lower = basename.to_ascii_lowercase();
        if let Some(&i) = self.name_index.get(&lower) {
            return Some(&self.names[i]);
        }
        self.names.iter().find(|n| {
            n.prefix
                && lower.len() > n.name.len()
                && lower.starts_with(&n.name)
                && matches!(lower.as_bytes()[n.name.len()], b'-' | b'_' | b'.')
        })
    }

    /// The pool domain `host` is or is a subdomain of.
    pub fn pool_domain(&self, host: &str) -> Option<&PoolDomain> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.domains.iter().find(|d| {
            host == d.domain
                || (host.ends_with(&d.domain)
                    && host.as_bytes()[host.len() - d.domain.len() - 1] == b'.')
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(n: &str, p: &str, s: &str) -> Vec<Source> {
        vec![
            Source::new("miner-names.toml", "n.toml", n),
            Source::new("pools.toml", "p.toml", p),
            Source::new("strings.toml", "s.toml", s),
        ]
    }

    #[test]
    fn embedded_signatures_load() {
        let s = Signatures::embedded().unwrap();
        assert!(s.miner_name("xmrig").is_some());
        assert!(s.miner_name("XMRig-6.21.0").is_some());
        assert!(s.miner_name("xmrigger").is_none());
        assert!(s.miner_name("bash").is_none());
        assert!(s.pool_domain("pool.minexmr.com").is_some());
        assert!(s.pool_domain("notminexmr.com").is_none());
        assert!(s.ports.contains(&4444));
        assert!(s.strings.iter().any(|x| x.id == "xmrig-usage"));
        assert!(s.strings.iter().all(|x| !x.source.is_empty()));
        assert!(s.behaviour.option("--donate-level").is_some());
        assert!(s.behaviour.algorithms.iter().any(|a| a == "rx/0"));
    }

    #[test]
    fn behaviour_file_errors_name_file_and_line() {
        let bad = "[[option]]\nnames = [\"--x\"]\nrole = \"pool\"\nsource = \"s\"\n\n[[option]]\nnames = [\"y\"]\nrole = \"nonsense\"\nsource = \"s\"\n";
        let mut src = embedded_sources();
        src.push(Source::new("behaviour.toml", "b.toml", bad));
        let e = Signatures::from_sources(&src).unwrap_err();
        assert_eq!(e.target, "b.toml:8", "{e}");
        let mut src = embedded_sources();
        src.push(Source::new(
            "behaviour.toml",
            "b.toml",
            "[[scanner]]\nnames = [\"myscan\"]\nsource = \"local\"\n",
        ));
        let s = Signatures::from_sources(&src).unwrap();
        assert!(s.behaviour.scanners.iter().any(|x| x == "myscan"));
        assert!(s.behaviour.scanners.iter().any(|x| x == "masscan"));
    }

    #[test]
    fn errors_name_file_and_line() {
        let ok_n = "[[name]]\nnames=[\"a1\"]\nkind=\"miner\"\nsource=\"x\"\n";
        let ok_p = "";
        let bad_s = "[[signature]]\nid = \"a\"\ncategory = \"miner\"\nstrength = \"strong\"\nliteral = \"abcd\"\nsource = \"x\"\n\n[[signature]]\nid = \"b\"\ncategory = \"nonsense\"\n";
        let e = Signatures::from_sources(&files(ok_n, ok_p, bad_s)).unwrap_err();
        assert_eq!(e.target, "s.toml:10", "{e}");
        let bad_re = "\n[[signature]]\nid = \"a\"\ncategory = \"miner\"\nstrength = \"strong\"\nliteral = \"abcd\"\nconfirm = \"(\"\nsource = \"x\"\n";
        let e = Signatures::from_sources(&files(ok_n, ok_p, bad_re)).unwrap_err();
        assert_eq!(e.target, "s.toml:2", "{e}");
        assert!(e.cause.contains("regex"), "{e}");
        let dup = "[[name]]\nnames=[\"a1\"]\nkind=\"miner\"\nsource=\"x\"\n[[name]]\nnames=[\"a2\", \"a1\"]\nkind=\"miner\"\nsource=\"x\"\n";
        let e = Signatures::from_sources(&files(dup, ok_p, "")).unwrap_err();
        assert!(e.cause.contains("duplicate"), "{e}");
        let bad_dom = "[[domains]]\ndomains=[\"ok.com\",\n \"Bad Domain\"]\nsource=\"x\"\n";
        let e = Signatures::from_sources(&files(ok_n, bad_dom, "")).unwrap_err();
        assert_eq!(e.target, "p.toml:3", "{e}");
    }

    #[test]
    fn a_directory_extends_the_embedded_set() {
        let d = tempfile::tempdir().unwrap();
        // Empty: the embedded set.
        let base = Signatures::from_dir(d.path()).unwrap();
        assert!(base.miner_name("xmrig").is_some());
        std::fs::write(
            d.path().join("miner-names.toml"),
            "[[name]]\nnames = [\"mycorpminer\", \"xmrig\"]\nkind = \"miner\"\nsource = \"local\"\n",
        )
        .unwrap();
        let ext = Signatures::from_dir(d.path()).unwrap();
        assert!(ext.miner_name("mycorpminer").is_some());
        assert!(ext.miner_name("xmrig").is_some());
        assert_eq!(ext.names.len(), base.names.len() + 1, "xmrig is kept once");
        assert_eq!(ext.miner_name("xmrig").unwrap().source, "local");
        // A misspelt file is an error, not silently ignored.
        std::fs::write(d.path().join("minernames.toml"), "").unwrap();
        let e = Signatures::from_dir(d.path()).unwrap_err();
        assert!(e.cause.contains("unknown signature file"), "{e}");
    }
}
