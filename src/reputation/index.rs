//! Candidate generation and indexing: finds which popular name a candidate imitates and
//! by which technique, with a few hash lookups per candidate instead of comparing every
//! pair.
//!
//! Each [`Table`] (official image names, trusted namespaces, trusted registry hosts)
//! precomputes, for every trusted name `k`:
//! - its single-deletion neighbourhood (`k` minus one character) → finds *omissions*;
//! - its single-substitution wildcards (`k` with one position blanked) → finds keyboard
//!   typos and one-character lookalikes (`l`/`1`/`i`, `o`/`0`, ...);
//! - its lookalike skeleton (separators removed, `1`/`i`→`l`, `0`→`o`, `rn`→`m`, `vv`→`w`,
//!   `cl`→`d`) → finds separator variants and multi-character lookalikes;
//! - for hosts, the name without its top-level domain → finds TLD swaps.
//!
//! The candidate side generates only its own single deletions (→ repetition, insertion of
//! a neighbouring key), adjacent swaps, affix and version-suffix strips, each an exact
//! lookup. Techniques and tables follow `../shared/intel/typosquat-techniques.md`
//! (typomania/typogard checks, crates.io's TYPOS map, dnstwist's ASCII glyphs, PyPI's
//! ultranormalisation).

use super::distance::{
    deletions_upto, describe_edit, max_distance, only_digits_differ, osa_distance,
    MAX_DISTANCE_LEN, MIN_DISTANCE2_LEN, MIN_DISTANCE_LEN,
};
use std::collections::HashMap;

/// How a candidate imitates a trusted name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Technique {
    Omission,
    Repetition,
    /// A keyboard-neighbour of an adjacent character was inserted.
    Insertion,
    AdjacentSwap,
    /// One character replaced by a keyboard neighbour (`from` → `to`).
    KeyboardTypo {
        from: char,
        to: char,
    },
    /// One or more characters replaced by ASCII lookalikes (`from` → `to` when known).
    Lookalike {
        from: String,
        to: String,
    },
    Separators,
    /// An affix such as `-official`, `docker-`, `-os` added.
    Affix(String),
    /// A version-like suffix (`14.01`) appended.
    VersionSuffix(String),
    /// Same host labels, different top-level domain (`ghcr.com` for `ghcr.io`).
    TldSwap,
    /// The trusted host is a prefix of an untrusted one (`ghcr.io.evil.example`).
    Embeds,
    /// One character replaced by an unrelated one (`hashicorb` for `hashicorp`): found by
    /// the edit-distance index, not by a named technique.
    Substitution {
        from: char,
        to: char,
    },
    /// Damerau-Levenshtein distance 1 or 2 after normalising case, separators and ASCII
    /// lookalikes, when no named technique explains the difference.
    Distance(u8),
}

impl Technique {
    /// Stable short name used in finding signatures (`typosquat:<name>`).
    pub fn key(&self) -> &'static str {
        match self {
            Technique::Omission => "omission",
            Technique::Repetition => "repetition",
            Technique::Insertion => "insertion",
            Technique::AdjacentSwap => "adjacent-swap",
            Technique::KeyboardTypo { .. } => "keyboard-typo",
            Technique::Lookalike { .. } => "lookalike",
            Technique::Separators => "separator-variant",
            Technique::Affix(_) => "affix",
            Technique::VersionSuffix(_) => "version-suffix",
            Technique::TldSwap => "tld-swap",
            Technique::Embeds => "embeds",
            Technique::Substitution { .. } => "substitution",
            Technique::Distance(_) => "edit-distance",
        }
    }

    /// Verb phrase that reads `CANDIDATE <phrase> the trusted namespace X`.
    pub fn phrase(&self) -> String {
        match self {
            Technique::Omission => "omits a character from".into(),
            Technique::Repetition => "repeats a character in".into(),
            Technique::Insertion => "inserts a neighbouring key into".into(),
            Technique::AdjacentSwap => "swaps adjacent characters in".into(),
            Technique::KeyboardTypo { from, to } => {
                format!("types the neighbouring key `{to}` for `{from}` in")
            }
            Technique::Lookalike { from, to } if !from.is_empty() => {
                format!("uses the lookalike `{to}` for `{from}` in")
            }
            Technique::Lookalike { .. } => "uses lookalike characters in".into(),
            Technique::Separators => "changes the separators of".into(),
            Technique::Affix(a) => format!("adds `{a}` to"),
            Technique::VersionSuffix(v) => format!("appends the version-like suffix `{v}` to"),
            Technique::TldSwap => "changes the top-level domain of".into(),
            Technique::Embeds => "embeds".into(),
            Technique::Substitution { from, to } => {
                format!("replaces `{from}` with `{to}` in")
            }
            Technique::Distance(1) => {
                "is one edit (after normalising separators and lookalikes) away from".into()
            }
            Technique::Distance(d) => {
                format!("is {d} edits (after normalising separators and lookalikes) away from")
            }
        }
    }
}

/// A trusted name a candidate imitates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    pub target: String,
    pub technique: Technique,
}

/// crates.io's TYPOS map (QWERTY/QWERTZ/AZERTY neighbours plus visual substitutions), as
/// quoted in `typosquat-techniques.md` §1; only single-character replacements are used
/// here (multi-character ones and deletions are covered by other techniques).
const TYPOS: &str = "1:2qil 2:1qw3 3:2we4 4:3er5 5:4rt6s 6:5ty7 7:6yu8 8:7ui9 9:8io0 0:9op- \
-:_0p. _:-0p. q:12was w:23esaqx e:34rdswz r:45tfde t:56ygfr y:67uhtiasx u:78ijyv \
i:189olkjuy o:90pli p:0-o a:qwsz12 s:wdxza5q d:erfcxs f:rgvcd g:thbvf h:yjnbg j:uikmnh \
k:iolmj l:iopk1 z:asx67uhtie23 x:zsdcw c:xdfv v:cfgbu b:vghn n:bhjm m:njk .:-_";

/// One-character ASCII lookalikes (dnstwist `glyphs_ascii`, PyPI ultranormalisation).
const GLYPHS: &[(u8, u8)] = &[
    (b'0', b'o'),
    (b'1', b'l'),
    (b'1', b'i'),
    (b'l', b'i'),
    (b'3', b'8'),
    (b'6', b'9'),
    (b'b', b'd'),
    (b'c', b'e'),
    (b'g', b'q'),
    (b'm', b'n'),
    (b'u', b'v'),
];

/// Affixes attackers add to a trusted name (typosquat-techniques.md: crates.io `Affixes`;
/// issue 5: `-official`, `docker-`, `-os`). Kept short on purpose: generic words such as
/// `image` or `latest` also end many honest private image names.
const AFFIXES: &[&str] = &["official", "offical", "docker", "os", "library", "original"];

/// Affixes glued onto a popular name to make a namespace (issue 12: `-os`, `os`,
/// `-official`, `official`, `-docker`, `hub`, `-io`, `lib`; digits are handled apart).
const NAMESPACE_SUFFIXES: &[&str] = &[
    "-official",
    "official",
    "-docker",
    "docker",
    "-os",
    "os",
    "-hub",
    "hub",
    "-io",
    "io",
    "-lib",
    "lib",
];
const NAMESPACE_PREFIXES: &[&str] = &["official-", "official", "docker-", "docker", "lib-", "lib"];

fn typo_neighbours() -> [[bool; 128]; 128] {
    let mut t = [[false; 128]; 128];
    for entry in TYPOS.split_whitespace() {
        let (from, tos) = entry.split_at(1);
        let from = from.as_bytes()[0] as usize;
        for &to in tos.as_bytes().iter().skip(1) {
            t[from][to as usize] = true;
        }
    }
    t
}

fn is_glyph(a: u8, b: u8) -> bool {
    GLYPHS
        .iter()
        .any(|&(x, y)| (x, y) == (a, b) || (y, x) == (a, b))
}

fn is_sep(b: u8) -> bool {
    matches!(b, b'-' | b'_' | b'.')
}

/// Separators removed.
fn strip_seps(s: &str) -> String {
    s.bytes().filter(|&b| !is_sep(b)).map(char::from).collect()
}

/// Lookalike skeleton: separators removed, `1`/`i`→`l`, `0`→`o`, then `rn`→`m`,
/// `vv`→`w`, `cl`→`d`.
pub fn skeleton(s: &str) -> String {
    let mapped: String = s
        .bytes()
        .filter(|&b| !is_sep(b))
        .map(|b| match b {
            b'1' | b'i' => 'l',
            b'0' => 'o',
            b => char::from(b),
        })
        .collect();
    mapped
        .replace("rn", "m")
        .replace("vv", "w")
        .replace("cl", "d")
}

/// Blank marker for wildcard keys (not a name character).
const BLANK: char = '*';

pub(super) fn delete_at(s: &str, i: usize) -> String {
    let mut out = String::with_capacity(s.len());
    out.push_str(&s[..i]);
    out.push_str(&s[i + 1..]);
    out
}

fn blank_at(s: &str, i: usize) -> String {
    let mut out = String::with_capacity(s.len());
    out.push_str(&s[..i]);
    out.push(BLANK);
    out.push_str(&s[i + 1..]);
    out
}

/// Shortest trusted name considered for single-character edits: shorter names are one
/// edit away from too many legitimate ones (`ros`, `gcc`, `sl`).
const MIN_EDIT_LEN: usize = 4;
/// Shortest trusted name for which an omission counts (the result has ≥ 4 characters).
const MIN_OMISSION_LEN: usize = 5;

/// Index over one set of trusted names.
#[derive(Debug, Clone, Default)]
pub struct Table {
    names: Vec<String>,
    /// Normalised form (lookalike skeleton) of each name, by index.
    skels: Vec<String>,
    /// SymSpell-style deletion neighbourhood of each skeleton, up to its tolerated
    /// distance → the names it came from.
    edits: HashMap<String, Vec<u32>>,
    exact: HashMap<String, u32>,
    deletions: HashMap<String, Vec<u32>>,
    wildcards: HashMap<String, Vec<u32>>,
    skeletons: HashMap<String, Vec<u32>>,
    /// Name with separators removed.
    stripped: HashMap<String, Vec<u32>>,
    /// Host without its last label (hosts only).
    stems: HashMap<String, Vec<u32>>,
}

impl Table {
    fn build<'a>(names: impl Iterator<Item = &'a str>, hosts: bool) -> Table {
        let mut t = Table::default();
        let mut all: Vec<&str> = names.collect();
        all.sort_unstable();
        all.dedup();
        for name in all {
            let idx = t.names.len() as u32;
            t.names.push(name.to_string());
            t.exact.insert(name.to_string(), idx);
            if !name.is_ascii() {
                t.skels.push(String::new());
                continue;
            }
            let sk = skeleton(name);
            let depth = max_distance(sk.len());
            if depth > 0 && sk.len() <= MAX_DISTANCE_LEN {
                let mut keys = Vec::new();
                deletions_upto(&sk, depth, &mut keys);
                for k in keys {
                    let v = t.edits.entry(k).or_default();
                    if v.last() != Some(&idx) {
                        v.push(idx);
                    }
                }
            }
            t.skels.push(sk);
            if name.len() >= MIN_OMISSION_LEN {
                for i in 0..name.len() {
                    t.deletions.entry(delete_at(name, i)).or_default().push(idx);
                }
            }
            if name.len() >= MIN_EDIT_LEN {
                for i in 0..name.len() {
                    t.wildcards.entry(blank_at(name, i)).or_default().push(idx);
                }
            }
            t.skeletons.entry(skeleton(name)).or_default().push(idx);
            t.stripped.entry(strip_seps(name)).or_default().push(idx);
            if hosts {
                if let Some((stem, _)) = name.rsplit_once('.') {
                    t.stems.entry(stem.to_string()).or_default().push(idx);
                }
            }
        }
        t
    }

    pub fn contains(&self, name: &str) -> bool {
        self.exact.contains_key(name)
    }

    fn name(&self, idx: u32) -> &str {
        &self.names[idx as usize]
    }

    fn hit(&self, idx: u32, technique: Technique) -> Option<Match> {
        Some(Match {
            target: self.name(idx).to_string(),
            technique,
        })
    }

    /// Which trusted name `cand` imitates, if any. `None` for an exact trusted name.
    pub fn imitates(&self, cand: &str, typos: &[[bool; 128]; 128]) -> Option<Match> {
        self.named(cand, typos).or_else(|| self.near(cand))
    }

    /// Only the named techniques (no bare edit distance).
    pub fn named(&self, cand: &str, typos: &[[bool; 128]; 128]) -> Option<Match> {
        if !cand.is_ascii() || cand.is_empty() || self.contains(cand) {
            return None;
        }
        let b = cand.as_bytes();
        // Separator variants first (`mongo_express`, `helloworld`, `hello__world`).
        if let Some(v) = self.stripped.get(&strip_seps(cand)) {
            return self.hit(v[0], Technique::Separators);
        }
        // Omission: cand is a trusted name minus one character.
        if let Some(v) = self.deletions.get(cand) {
            return self.hit(v[0], Technique::Omission);
        }
        // Repetition / insertion: cand minus one character is a trusted name.
        for i in 0..b.len() {
            if let Some(&idx) = self.exact.get(&delete_at(cand, i)) {
                if self.name(idx).len() < MIN_EDIT_LEN {
                    continue;
                }
                let c = b[i];
                let prev = i.checked_sub(1).map(|j| b[j]);
                let next = b.get(i + 1).copied();
                if prev == Some(c) || next == Some(c) {
                    return self.hit(idx, Technique::Repetition);
                }
                let near = |n: Option<u8>| {
                    n.is_some_and(|n| n < 128 && c < 128 && typos[n as usize][c as usize])
                };
                if near(prev) || near(next) {
                    return self.hit(idx, Technique::Insertion);
                }
            }
        }
        // Adjacent swap.
        let mut buf = b.to_vec();
        for i in 0..b.len().saturating_sub(1) {
            if b[i] == b[i + 1] {
                continue;
            }
            buf.swap(i, i + 1);
            if let Ok(s) = std::str::from_utf8(&buf) {
                if let Some(&idx) = self.exact.get(s) {
                    if self.name(idx).len() >= MIN_EDIT_LEN {
                        return self.hit(idx, Technique::AdjacentSwap);
                    }
                }
            }
            buf.swap(i, i + 1);
        }
        // One substitution: a one-character lookalike or a keyboard neighbour.
        for (i, &to) in b.iter().enumerate() {
            if let Some(v) = self.wildcards.get(&blank_at(cand, i)) {
                for &idx in v {
                    let from = self.name(idx).as_bytes()[i];
                    if is_glyph(from, to) {
                        return self.hit(
                            idx,
                            Technique::Lookalike {
                                from: char::from(from).to_string(),
                                to: char::from(to).to_string(),
                            },
                        );
                    }
                    // A digit for a neighbouring digit is a version (`-debian12` for
                    // `-debian11`), not a typo: digits alone never make the distance.
                    let version = from.is_ascii_digit() && to.is_ascii_digit();
                    if !version && from < 128 && to < 128 && typos[from as usize][to as usize] {
                        return self.hit(
                            idx,
                            Technique::KeyboardTypo {
                                from: char::from(from),
                                to: char::from(to),
                            },
                        );
                    }
                }
            }
        }
        // Multi-character lookalikes (`rn`/`m`, `vv`/`w`, `cl`/`d`, mixed with separators).
        if let Some(v) = self.skeletons.get(&skeleton(cand)) {
            let technique = Technique::Lookalike {
                from: String::new(),
                to: String::new(),
            };
            return self.hit(v[0], technique);
        }
        // Affixes (`nginx-official`, `docker-nginx`, `ubuntuos`).
        for affix in AFFIXES {
            let stripped = cand
                .strip_suffix(affix)
                .map(|s| {
                    (
                        s.trim_end_matches(|c: char| is_sep(c as u8)),
                        format!("-{affix}"),
                    )
                })
                .or_else(|| {
                    cand.strip_prefix(affix).map(|s| {
                        (
                            s.trim_start_matches(|c: char| is_sep(c as u8)),
                            format!("{affix}-"),
                        )
                    })
                });
            if let Some((stem, shown)) = stripped {
                if let Some(&idx) = self.exact.get(stem) {
                    return self.hit(idx, Technique::Affix(shown));
                }
            }
        }
        // Version-suffix games (`ubuntu14.01`, `nginx-1`).
        let stem = cand.trim_end_matches(|c: char| c.is_ascii_digit() || is_sep(c as u8));
        if stem.len() < cand.len() && cand[stem.len()..].bytes().any(|c| c.is_ascii_digit()) {
            if let Some(&idx) = self.exact.get(stem) {
                let suffix = cand[stem.len()..].to_string();
                return self.hit(idx, Technique::VersionSuffix(suffix));
            }
        }
        None
    }

    /// Any trusted name within its tolerated Damerau-Levenshtein distance of `cand`, both
    /// normalised: distance 1 for names of 5+ characters, 2 for 9+ (then the first
    /// character must agree). Candidate and trusted deletion neighbourhoods meet in one
    /// hash lookup per candidate deletion; each hit is verified by [`osa_distance`].
    pub fn near(&self, cand: &str) -> Option<Match> {
        if !cand.is_ascii() {
            return None;
        }
        let sk = skeleton(cand);
        if sk.len() + 1 < MIN_DISTANCE_LEN || sk.len() > MAX_DISTANCE_LEN {
            return None;
        }
        let depth = if sk.len() + 2 >= MIN_DISTANCE2_LEN {
            2
        } else {
            1
        };
        let mut keys = Vec::new();
        deletions_upto(&sk, depth, &mut keys);
        let mut best: Option<(usize, u32)> = None;
        for k in &keys {
            let Some(v) = self.edits.get(k) else {
                continue;
            };
            for &idx in v {
                let target = &self.skels[idx as usize];
                let cap = max_distance(target.len());
                let d = osa_distance(sk.as_bytes(), target.as_bytes(), cap);
                if d == 0 || d > cap {
                    continue;
                }
                if d == 2 && sk.as_bytes().first() != target.as_bytes().first() {
                    continue;
                }
                if only_digits_differ(cand, self.name(idx)) {
                    continue;
                }
                let better = match best {
                    None => true,
                    Some((bd, bi)) => (d, self.name(idx)) < (bd, self.name(bi)),
                };
                if better {
                    best = Some((d, idx));
                }
            }
        }
        let (d, idx) = best?;
        self.hit(idx, describe_edit(cand, self.name(idx), d))
    }

    /// Host-only checks: a TLD swap or an untrusted host that starts with a trusted one.
    pub fn host_tricks(&self, host: &str) -> Option<Match> {
        if let Some((stem, _)) = host.rsplit_once('.') {
            if let Some(v) = self.stems.get(stem) {
                return self.hit(v[0], Technique::TldSwap);
            }
        }
        let b = host.as_bytes();
        for (i, &c) in b.iter().enumerate() {
            if c == b'.' || c == b'-' {
                if let Some(&idx) = self.exact.get(&host[..i]) {
                    if self.name(idx).contains('.') {
                        return self.hit(idx, Technique::Embeds);
                    }
                }
            }
        }
        None
    }
}

/// The three tables name reputation compares against, plus the typo map.
#[derive(Debug, Clone)]
pub struct Index {
    pub official: Table,
    pub namespaces: Table,
    pub registries: Table,
    pub typos: Box<[[bool; 128]; 128]>,
}

impl Default for Index {
    fn default() -> Self {
        Index {
            official: Table::default(),
            namespaces: Table::default(),
            registries: Table::default(),
            typos: Box::new(typo_neighbours()),
        }
    }
}

impl Index {
    /// Build from official image names, trusted namespaces (plus Docker's own `library`)
    /// and trusted registry hosts.
    pub fn build<'a>(
        official: impl Iterator<Item = &'a str>,
        namespaces: impl Iterator<Item = &'a str>,
        registries: impl Iterator<Item = &'a str>,
    ) -> Index {
        Index {
            official: Table::build(official, false),
            namespaces: Table::build(namespaces.chain(std::iter::once("library")), false),
            registries: Table::build(registries, true),
            typos: Box::new(typo_neighbours()),
        }
    }

    pub fn official(&self, cand: &str) -> Option<Match> {
        self.official.imitates(cand, &self.typos)
    }

    #[cfg(test)]
    pub fn namespace(&self, cand: &str) -> Option<Match> {
        self.namespaces.imitates(cand, &self.typos)
    }

    /// A namespace imitating a trusted one by a named technique only.
    pub fn namespace_named(&self, cand: &str) -> Option<Match> {
        self.namespaces.named(cand, &self.typos)
    }

    /// A namespace that is a trusted namespace or a popular image name plus an affix
    /// (`nginxofficial`, `grafana-io`, `redishub`, `libubuntu`, `ubuntu2`). The flag says
    /// whether the stem is a trusted namespace (else a popular image name). Stems must
    /// have 4+ characters (namespaces) or 5+ (image names): `nats` + `io` is NATS's own
    /// `natsio`.
    pub fn namespace_affix(&self, ns: &str) -> Option<(Match, bool)> {
        let trim = |s: &str| s.trim_matches(|c: char| is_sep(c as u8)).to_string();
        let mut stems: Vec<(String, String)> = Vec::new();
        for a in NAMESPACE_SUFFIXES {
            if let Some(stem) = ns.strip_suffix(a) {
                stems.push((trim(stem), (*a).to_string()));
            }
        }
        for a in NAMESPACE_PREFIXES {
            if let Some(stem) = ns.strip_prefix(a) {
                stems.push((trim(stem), (*a).to_string()));
            }
        }
        let stem = ns.trim_end_matches(|c: char| c.is_ascii_digit());
        if stem.len() < ns.len() {
            stems.push((trim(stem), ns[stem.len()..].to_string()));
        }
        for (stem, affix) in &stems {
            if stem.len() >= MIN_EDIT_LEN && self.namespaces.contains(stem) {
                let m = Match {
                    target: stem.clone(),
                    technique: Technique::Affix(affix.clone()),
                };
                return Some((m, true));
            }
        }
        for (stem, affix) in stems {
            if stem.len() >= MIN_OMISSION_LEN && self.official.contains(&stem) {
                let m = Match {
                    target: stem,
                    technique: Technique::Affix(affix),
                };
                return Some((m, false));
            }
        }
        None
    }

    pub fn registry(&self, host: &str) -> Option<Match> {
        self.registries
            .imitates(host, &self.typos)
            .or_else(|| self.registries.host_tricks(host))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx() -> Index {
        Index::build(
            [
                "nginx",
                "ubuntu",
                "mongo-express",
                "redis",
                "golang",
                "gcc",
                "hello-world",
            ]
            .into_iter(),
            ["grafana", "bitnami", "prom"].into_iter(),
            ["docker.io", "ghcr.io", "quay.io"].into_iter(),
        )
    }

    fn tech(m: Option<Match>) -> (String, String) {
        let m = m.expect("should match");
        (m.target, m.technique.key().to_string())
    }

    #[test]
    fn each_technique() {
        let i = idx();
        let t = |s: &str| tech(i.official(s));
        assert_eq!(t("ngix"), ("nginx".into(), "omission".into()));
        assert_eq!(t("ngiinx"), ("nginx".into(), "repetition".into()));
        assert_eq!(t("ngnix"), ("nginx".into(), "adjacent-swap".into()));
        assert_eq!(t("ubunru"), ("ubuntu".into(), "keyboard-typo".into()));
        assert_eq!(t("go1ang"), ("golang".into(), "lookalike".into()));
        assert_eq!(t("g0lang"), ("golang".into(), "lookalike".into()));
        assert_eq!(
            t("mongo_express"),
            ("mongo-express".into(), "separator-variant".into())
        );
        assert_eq!(
            t("helloworld"),
            ("hello-world".into(), "separator-variant".into())
        );
        assert_eq!(t("nginx-official"), ("nginx".into(), "affix".into()));
        assert_eq!(t("docker-nginx"), ("nginx".into(), "affix".into()));
        assert_eq!(t("ubuntu-os"), ("ubuntu".into(), "affix".into()));
        assert_eq!(t("ubuntu14.01"), ("ubuntu".into(), "version-suffix".into()));
        assert_eq!(t("reddis"), ("redis".into(), "repetition".into()));
        let n = |s: &str| tech(i.namespace(s));
        assert_eq!(n("grafanna"), ("grafana".into(), "repetition".into()));
        assert_eq!(n("libraary"), ("library".into(), "repetition".into()));
        assert_eq!(n("librray"), ("library".into(), "adjacent-swap".into()));
        assert_eq!(n("bitnarni"), ("bitnami".into(), "lookalike".into()));
        assert_eq!(n("prorn"), ("prom".into(), "lookalike".into()));
        let r = |s: &str| tech(i.registry(s));
        assert_eq!(r("ghrc.io"), ("ghcr.io".into(), "adjacent-swap".into()));
        assert_eq!(r("d0cker.io"), ("docker.io".into(), "lookalike".into()));
        assert_eq!(r("ghcr.com"), ("ghcr.io".into(), "tld-swap".into()));
        assert_eq!(
            r("quay.io.mirror.example"),
            ("quay.io".into(), "embeds".into())
        );
    }

    #[test]
    fn exact_short_and_unrelated_names_do_not_match() {
        let i = idx();
        for s in [
            "nginx",
            "gcc",
            "gc",
            "gcd",
            "cgc",
            "postgres",
            "app",
            "redis-stack",
            "node",
        ] {
            assert_eq!(i.official(s), None, "{s}");
        }
        assert_eq!(i.registry("registry.example.com"), None);
        assert_eq!(i.registry("quay.example.com"), None);
        assert_eq!(i.namespace("grafana"), None);
        assert_eq!(
            i.namespace("pro"),
            None,
            "omissions from 4-letter names are too noisy"
        );
    }

    #[test]
    fn skeleton_maps_lookalikes() {
        assert_eq!(skeleton("rnongo"), skeleton("mongo"));
        assert_eq!(skeleton("vvordpress"), skeleton("wordpress"));
        assert_eq!(skeleton("clebian"), skeleton("debian"));
        assert_eq!(skeleton("a1p1ne"), skeleton("alpine"));
        assert_eq!(skeleton("hello__world"), skeleton("hello-world"));
    }

    #[test]
    fn long_hostile_candidates_are_bounded() {
        let i = idx();
        let long = "a".repeat(200);
        assert_eq!(i.official.near(&long), None);
        assert_eq!(i.namespace_affix(&long), None);
        assert_eq!(i.official.near("ünïcode"), None);
    }
}
