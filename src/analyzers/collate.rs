//! Collation: every signal about one subject (a file, a config field, a history step)
//! becomes ONE finding that lists them all, with a stable id and a severity that reflects
//! the combination.
//!
//! Severity policy (each line a "component"; `threat` components count for combination):
//! - miner: a miner name on an executable → HIGH (CRITICAL with miner strings too); an
//!   executable binary with strong miner strings (or ≥3 config keys/weak strings) → HIGH
//!   (`IMG-MINER-BINARY`, even when renamed); a campaign name → MEDIUM; a non-binary with
//!   ≥2 miner config keys → HIGH (`IMG-MINER-CONFIG`); strong miner strings elsewhere →
//!   HIGH (`IMG-MINER-STRINGS`); a lone weak string → LOW.
//! - pool: a stratum URL or Stratum method → HIGH; a pool domain → MEDIUM; a pool port or
//!   weak Stratum text alone → LOW (`IMG-POOL-ENDPOINT`). A lone port is never MEDIUM+.
//! - wallet: a checksum-valid CryptoNote-family address (Monero, Wownero, Zephyr, Haven,
//!   ...) → HIGH (`IMG-WALLET`); miners are paid to them. A checksum-valid Bitcoin
//!   (base58check, bech32/bech32m) or EIP-55 Ethereum address → LOW, because donation
//!   addresses and library test vectors are common; it is a threat component (raises the
//!   finding) only beside a miner or pool signal on the same subject. An address shape
//!   without a checksum (one-case Ethereum hex) produces nothing alone; beside a miner or
//!   pool signal it is LOW and a threat component. (A lone pool port is not a pool signal
//!   for this.)
//! - dropper: download piped to a shell, base64 piped to a shell, cron + download → HIGH;
//!   chmod on a fetched file alone → LOW (`IMG-DROPPER`).
//! - credential theft: credential paths or the metadata IAM path together with an upload →
//!   HIGH; the IAM path alone → MEDIUM; a lone credential path → LOW (`IMG-CRED-THEFT`).
//! - cloud keys in the config: an `AKIA…` key id with `AWS_SECRET_ACCESS_KEY` → HIGH
//!   (`IMG-CLOUD-CREDENTIALS`).
//! - evasion: clearing history, killing rival miners → LOW alone but a threat component
//!   (raises what it accompanies); huge-pages tuning → LOW.
//! - packed binary (UPX) → MEDIUM; malformed header → LOW; unreadable nested archive → LOW.
//! - behaviour of commands (`crate::behaviour`): HIGH when the image runs them (start
//!   command, history step), MEDIUM when they only sit in a file; each is a threat
//!   component, so a miner command line with a pool or wallet signal is CRITICAL:
//!   `IMG-MINER-COMMAND` (miner option grammar), `IMG-MINER-DOWNLOAD` (a miner release
//!   fetched), `IMG-DROPPER` (fetch, make executable, run), `IMG-REVERSE-SHELL`,
//!   `IMG-DOCKER-SOCKET`, `IMG-CONTAINER-ESCAPE`, `IMG-MASS-SCANNER`, `IMG-CRED-THEFT`
//!   (credentials read then uploaded).
//! - persistence: a cron entry, unit, supervisord program, boot or shell start-up script
//!   that downloads and runs code → HIGH (`IMG-PERSISTENCE`).
//! - planted access: a non-empty `authorized_keys` in root's home → MEDIUM
//!   (`IMG-SSH-KEY`); a shell with the setuid/setgid bit → HIGH (`IMG-SETUID-SHELL`).
//! - "run by": the file is run by the image (start command chain, cron, init) — it only
//!   explains the others.
//! - known-bad hash: the file's SHA-256 is a published IOC → CRITICAL (`IMG-KNOWN-BAD-HASH`).
//! - package database: a system-path file whose digest differs from what its package
//!   recorded → MEDIUM alone, HIGH with any other signal (`IMG-REPLACED-BINARY`); an
//!   `/etc/ld.so.preload` entry naming a library outside the package database → MEDIUM,
//!   HIGH with any other signal (`IMG-LD-PRELOAD`); a system-path executable no package
//!   owns is informational alone but a threat component next to another one (it raises
//!   them); a package database that could not be read → INFO (`IMG-PKGDB-SKIPPED`).
//!
//! Two or more threat components raise the top severity one step (a renamed ELF with XMRig
//! strings and a pool domain is CRITICAL). The id is the top component's (ties broken in
//! the order above). Subjects with only informational signals produce nothing.

use super::{Signal, SignalKind, Subject};
use crate::findings::{Evidence, Finding, Location, Severity};
use crate::signatures::{Category, NameKind, Strength};
use std::collections::{BTreeMap, BTreeSet};

pub const MINER_BINARY: &str = "IMG-MINER-BINARY";
pub const MINER_CONFIG: &str = "IMG-MINER-CONFIG";
pub const MINER_STRINGS: &str = "IMG-MINER-STRINGS";
pub const POOL_ENDPOINT: &str = "IMG-POOL-ENDPOINT";
pub const WALLET: &str = "IMG-WALLET";
pub const DROPPER: &str = "IMG-DROPPER";
pub const CRED_THEFT: &str = "IMG-CRED-THEFT";
pub const CLOUD_CREDENTIALS: &str = "IMG-CLOUD-CREDENTIALS";
pub const EVASION: &str = "IMG-EVASION";
pub const PACKED_BINARY: &str = "IMG-PACKED-BINARY";
pub const MALFORMED_BINARY: &str = "IMG-MALFORMED-BINARY";
pub const ARCHIVE_UNREADABLE: &str = "IMG-ARCHIVE-UNREADABLE";
pub const PATH_TRAVERSAL: &str = "IMG-PATH-TRAVERSAL";
pub const SCAN_INCOMPLETE: &str = "IMG-SCAN-INCOMPLETE";
pub const MINER_COMMAND: &str = "IMG-MINER-COMMAND";
pub const MINER_DOWNLOAD: &str = "IMG-MINER-DOWNLOAD";
pub const REVERSE_SHELL: &str = "IMG-REVERSE-SHELL";
pub const DOCKER_SOCKET: &str = "IMG-DOCKER-SOCKET";
pub const CONTAINER_ESCAPE: &str = "IMG-CONTAINER-ESCAPE";
pub const MASS_SCANNER: &str = "IMG-MASS-SCANNER";
pub const PERSISTENCE: &str = "IMG-PERSISTENCE";
pub const SSH_KEY: &str = "IMG-SSH-KEY";
pub const SETUID_SHELL: &str = "IMG-SETUID-SHELL";
pub const KNOWN_BAD_HASH: &str = "IMG-KNOWN-BAD-HASH";
pub const REPLACED_BINARY: &str = "IMG-REPLACED-BINARY";
pub const LD_PRELOAD: &str = "IMG-LD-PRELOAD";
pub const PKGDB_SKIPPED: &str = "IMG-PKGDB-SKIPPED";
pub const UNOWNED_EXECUTABLE: &str = "IMG-UNOWNED-EXECUTABLE";

/// Tie-break order of ids.
const PRIORITY: &[&str] = &[
    KNOWN_BAD_HASH,
    MINER_BINARY,
    MINER_COMMAND,
    MINER_CONFIG,
    REVERSE_SHELL,
    CONTAINER_ESCAPE,
    DOCKER_SOCKET,
    PERSISTENCE,
    SETUID_SHELL,
    DROPPER,
    CRED_THEFT,
    CLOUD_CREDENTIALS,
    MINER_DOWNLOAD,
    MINER_STRINGS,
    WALLET,
    POOL_ENDPOINT,
    MASS_SCANNER,
    EVASION,
    PACKED_BINARY,
    MALFORMED_BINARY,
    ARCHIVE_UNREADABLE,
    REPLACED_BINARY,
    LD_PRELOAD,
    PKGDB_SKIPPED,
    UNOWNED_EXECUTABLE,
];

pub use super::describe::describe;

struct Component {
    /// A built-in id, or a `--yara` rule's `YARA-<namespace>-<rule>`.
    id: std::borrow::Cow<'static, str>,
    sev: Severity,
    threat: bool,
    attack: Vec<&'static str>,
}

fn assess(sigs: &[&Signal]) -> Vec<Component> {
    let mut strong = BTreeMap::<Category, BTreeSet<&str>>::new();
    let mut weak = BTreeMap::<Category, BTreeSet<&str>>::new();
    let (mut binary, mut name_miner, mut name_campaign) = (false, false, false);
    let (mut domains, mut ports, mut wallets, mut packed, mut malformed, mut unreadable) =
        (0, 0, 0, false, false, false);
    let (mut key_full, mut key_part) = (false, false);
    let mut behaviours = BTreeMap::<crate::behaviour::BehaviourKind, (bool, bool)>::new();
    let mut persistence: Vec<&'static str> = Vec::new();
    let (mut ssh_key, mut setuid_shell) = (false, false);
    let (mut wallets_common, mut wallets_unchecked) = (0, 0);
    let (mut bad_hash, mut replaced, mut unowned, mut preload, mut skipped) =
        (false, false, false, false, false);
    // `--yara` matches: rule id → severity (from the rule's metadata).
    let mut yara = BTreeMap::<String, Severity>::new();
    for s in sigs {
        match s.kind {
            SignalKind::MinerName(NameKind::Miner) => name_miner = true,
            SignalKind::MinerName(NameKind::Campaign) => name_campaign = true,
            SignalKind::Literal { category, strength } => {
                let m = if strength == Strength::Strong {
                    &mut strong
                } else {
                    &mut weak
                };
                m.entry(category).or_default().insert(&s.signature);
            }
            SignalKind::PoolDomain => domains += 1,
            SignalKind::PoolPort => ports += 1,
            SignalKind::Wallet => wallets += 1,
            SignalKind::WalletCommon => wallets_common += 1,
            SignalKind::WalletUnchecked => wallets_unchecked += 1,
            SignalKind::CloudKey(full) => {
                key_full |= full;
                key_part |= !full;
            }
            SignalKind::Binary => binary = true,
            SignalKind::Packed => packed = true,
            SignalKind::Malformed => malformed = true,
            SignalKind::ArchiveUnreadable => unreadable = true,
            SignalKind::Behaviour { kind, run } => {
                let e = behaviours.entry(kind).or_default();
                e.0 |= run;
                e.1 |= s.signature.starts_with("reverse-shell:python");
            }
            SignalKind::Persistence(kind) => persistence.push(kind.attack()),
            SignalKind::RunBy => {}
            SignalKind::SshKey => ssh_key = true,
            SignalKind::SetuidShell => setuid_shell = true,
            SignalKind::KnownBadHash => bad_hash = true,
            SignalKind::ReplacedBinary => replaced = true,
            SignalKind::UnownedExecutable => unowned = true,
            SignalKind::LdPreload => preload = true,
            SignalKind::PkgDbSkipped => skipped = true,
            SignalKind::Yara { severity } => {
                if let Some((ns, rule)) = crate::yara::parse_signature(&s.signature) {
                    let e = yara.entry(crate::yara::finding_id(ns, rule)).or_default();
                    *e = (*e).max(severity);
                }
            }
        }
    }
    // Any signal that says something on its own, besides the package-database ones.
    let others = sigs.iter().any(|s| {
        !s.kind.informational()
            && !matches!(
                s.kind,
                SignalKind::ReplacedBinary | SignalKind::LdPreload | SignalKind::PkgDbSkipped
            )
    });
    let n = |m: &BTreeMap<Category, BTreeSet<&str>>, c| m.get(&c).map_or(0, |s| s.len());
    let has = |c: Category| n(&strong, c) + n(&weak, c) > 0;
    let miner_strong = n(&strong, Category::Miner) + n(&strong, Category::Malware);
    let cfg = n(&weak, Category::MinerConfig) + n(&strong, Category::MinerConfig);
    let miner_weak = n(&weak, Category::Miner) + n(&weak, Category::Malware);
    binary |= packed || malformed;
    packed |= binary && n(&strong, Category::Packer) > 0;

    // A miner or pool signal (a lone pool port does not count): what lets a Bitcoin or
    // Ethereum address count as a threat.
    let mining = name_miner
        || name_campaign
        || miner_strong + cfg + miner_weak > 0
        || n(&strong, Category::Pool) + n(&strong, Category::Stratum) > 0
        || domains > 0
        || has(Category::Stratum);
    let mut out = Vec::new();
    let mut push = |id: &'static str, sev, threat, attack: &[&'static str]| {
        out.push(Component {
            id: id.into(),
            sev,
            threat,
            attack: attack.to_vec(),
        })
    };
    let miner_attack: &[&str] = &["T1496", "T1204.003"];
    if name_miner {
        let sev = if miner_strong > 0 || cfg >= 2 {
            Severity::Critical
        } else {
            Severity::High
        };
        push(MINER_BINARY, sev, true, miner_attack);
    } else if binary && (miner_strong > 0 || cfg >= 3 || cfg + miner_weak >= 3) {
        push(MINER_BINARY, Severity::High, true, miner_attack);
    } else if name_campaign {
        push(MINER_BINARY, Severity::Medium, true, miner_attack);
    } else if !binary && cfg >= 2 {
        push(MINER_CONFIG, Severity::High, true, miner_attack);
    } else if miner_strong > 0 {
        push(MINER_STRINGS, Severity::High, true, &["T1496"]);
    } else if cfg + miner_weak > 0 {
        push(MINER_STRINGS, Severity::Low, false, &["T1496"]);
    }
    if n(&strong, Category::Pool) + n(&strong, Category::Stratum) > 0 {
        push(POOL_ENDPOINT, Severity::High, true, &["T1496"]);
    } else if domains > 0 {
        push(POOL_ENDPOINT, Severity::Medium, true, &["T1496"]);
    } else if ports > 0 || has(Category::Stratum) {
        push(POOL_ENDPOINT, Severity::Low, false, &["T1496"]);
    }
    if wallets > 0 {
        push(WALLET, Severity::High, true, &["T1496"]);
    } else if wallets_common + wallets_unchecked > 0 {
        // Bitcoin/Ethereum: LOW; it raises (and unchecked ones exist at all) only beside a
        // miner or pool component of the same subject.
        if wallets_common > 0 || mining {
            push(WALLET, Severity::Low, mining, &["T1496"]);
        }
    }
    if n(&strong, Category::Dropper) > 0 {
        let mut a = vec!["T1105", "T1059.004"];
        if strong[&Category::Dropper].contains("cron-download") {
            a.push("T1053.003");
        }
        push(DROPPER, Severity::High, true, &a);
    } else if has(Category::Dropper) {
        push(DROPPER, Severity::Low, false, &["T1105"]);
    }
    let imds = n(&strong, Category::CredTheft) > 0
        || weak
            .get(&Category::CredTheft)
            .is_some_and(|s| s.contains("imds-address"));
    let cred_attack: &[&str] = if imds {
        &["T1552.005", "T1552.001"]
    } else {
        &["T1552.001"]
    };
    if has(Category::CredTheft) && has(Category::Exfil) {
        push(CRED_THEFT, Severity::High, true, cred_attack);
    } else if n(&strong, Category::CredTheft) > 0 {
        push(CRED_THEFT, Severity::Medium, true, cred_attack);
    } else if has(Category::CredTheft) {
        push(CRED_THEFT, Severity::Low, false, cred_attack);
    }
    if key_full {
        push(CLOUD_CREDENTIALS, Severity::High, true, &["T1552.001"]);
    } else if key_part {
        push(CLOUD_CREDENTIALS, Severity::Low, false, &["T1552.001"]);
    }
    if n(&strong, Category::Evasion) > 0 {
        // Alone it is LOW (Debian's example bashrc unsets HISTFILE); next to a miner or
        // a dropper it raises them.
        push(EVASION, Severity::Low, true, &["T1070.003", "T1562"]);
    } else if has(Category::Evasion) || has(Category::MinerTuning) {
        push(EVASION, Severity::Low, false, &["T1496"]);
    }
    if packed {
        push(PACKED_BINARY, Severity::Medium, true, &["T1027.002"]);
    }
    if malformed {
        push(MALFORMED_BINARY, Severity::Low, false, &["T1027"]);
    }
    if unreadable {
        push(ARCHIVE_UNREADABLE, Severity::Low, false, &[]);
    }
    for (kind, (run, python)) in behaviours {
        use crate::behaviour::BehaviourKind as B;
        let sev = if run {
            Severity::High
        } else {
            Severity::Medium
        };
        let (id, attack): (&'static str, &[&'static str]) = match kind {
            B::MinerCommand => (MINER_COMMAND, miner_attack),
            B::MinerDownload => (MINER_DOWNLOAD, &["T1105", "T1496"]),
            B::FetchExec => (DROPPER, &["T1105", "T1059.004"]),
            B::ReverseShell if python => (REVERSE_SHELL, &["T1059.006"]),
            B::ReverseShell => (REVERSE_SHELL, &["T1059.004"]),
            B::DockerSocket => (DOCKER_SOCKET, &["T1610", "T1611"]),
            B::ContainerEscape => (CONTAINER_ESCAPE, &["T1611"]),
            B::MassScanner => (MASS_SCANNER, &["T1046"]),
            B::CredHarvest => (CRED_THEFT, &["T1552.001", "T1552.005"]),
        };
        push(id, sev, true, attack);
    }
    if ssh_key {
        push(SSH_KEY, Severity::Medium, true, &["T1098.004"]);
    }
    if setuid_shell {
        push(SETUID_SHELL, Severity::High, true, &["T1548.001"]);
    }
    if !persistence.is_empty() {
        persistence.extend(["T1105", "T1059.004"]);
        persistence.dedup();
        push(PERSISTENCE, Severity::High, true, &persistence);
    }
    if bad_hash {
        push(
            KNOWN_BAD_HASH,
            Severity::Critical,
            true,
            &["T1204.003", "T1496"],
        );
    }
    if replaced {
        let sev = if others || preload {
            Severity::High
        } else {
            Severity::Medium
        };
        push(REPLACED_BINARY, sev, true, &["T1036.005", "T1554"]);
    }
    if preload {
        let sev = if others || replaced || unowned {
            Severity::High
        } else {
            Severity::Medium
        };
        push(LD_PRELOAD, sev, true, &["T1574.006"]);
    }
    if skipped {
        push(PKGDB_SKIPPED, Severity::Info, false, &[]);
    }
    // Unowned alone says nothing; next to a threat it is one more (it raises them).
    if unowned && out.iter().any(|c| c.threat) && !replaced && !preload {
        out.push(Component {
            id: UNOWNED_EXECUTABLE.into(),
            sev: Severity::Info,
            threat: true,
            attack: vec!["T1036.005"],
        });
    }
    // A YARA match at MEDIUM or above is a threat component (a rule hit beside miner
    // strings raises them), but all of a file's rule hits count as one: a broad rule set
    // firing several rules on one file must not escalate it by itself. LOW and INFO
    // rules only describe.
    let mut yara: Vec<(String, Severity)> = yara.into_iter().collect();
    yara.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    for (i, (id, sev)) in yara.into_iter().enumerate() {
        out.push(Component {
            id: id.into(),
            sev,
            threat: i == 0 && sev >= Severity::Medium,
            attack: vec![],
        });
    }
    out
}

/// One component per id: the same fact seen twice (a literal `curl | sh` and the
/// behaviour judge's fetch-and-run on the same script) must not count as two threats.
fn merge_same_id(comps: Vec<Component>) -> Vec<Component> {
    let mut out: Vec<Component> = Vec::new();
    for c in comps {
        match out.iter_mut().find(|o| o.id == c.id) {
            Some(o) => {
                o.sev = o.sev.max(c.sev);
                o.threat |= c.threat;
                for a in c.attack {
                    if !o.attack.contains(&a) {
                        o.attack.push(a);
                    }
                }
            }
            None => out.push(c),
        }
    }
    out
}

/// Where a subject is, as a finding location.
fn location(subject: &Subject, hidden_by: &dyn Fn(usize, &str) -> Option<usize>) -> Location {
    match subject {
        Subject::File {
            layer,
            layer_digest,
            path,
            inside,
        } => Location::File {
            layer: *layer,
            layer_digest: layer_digest.clone(),
            path: path.clone(),
            hidden_by: hidden_by(*layer, inside.first().unwrap_or(path)),
            inside: inside.clone(),
            sha256: None,
        },
        Subject::Config { field } => Location::Config {
            field: field.clone(),
        },
        Subject::History { step } => Location::History { step: *step },
    }
}

fn where_text(subject: &Subject, hidden: Option<usize>) -> String {
    match subject {
        Subject::File {
            layer,
            path,
            inside,
            ..
        } => {
            let p = super::visitor::display_path(inside, path);
            match hidden {
                Some(h) => format!("{p} (layer {layer}, deleted by layer {h})"),
                None => format!("{p} (layer {layer})"),
            }
        }
        Subject::Config { field } => format!("image config {field}"),
        Subject::History { step } => format!("history step {step}"),
    }
}

/// Collapse `signals` into findings, one per subject. `hidden_by(layer, path)` tells
/// whether a later layer deletes a file (the walker's `FsView::hidden_by`).
pub fn collate(
    signals: &[Signal],
    hidden_by: &dyn Fn(usize, &str) -> Option<usize>,
) -> Vec<Finding> {
    let mut groups: BTreeMap<&Subject, Vec<&Signal>> = BTreeMap::new();
    for s in signals {
        groups.entry(&s.subject).or_default().push(s);
    }
    let mut findings = Vec::new();
    for (subject, mut sigs) in groups {
        let comps = merge_same_id(assess(&sigs));
        // Ties: the built-in ids in PRIORITY order, then YARA rules.
        let rank = |id: &str| {
            PRIORITY
                .iter()
                .position(|p| *p == id)
                .unwrap_or(PRIORITY.len())
        };
        let Some(top) = comps.iter().max_by(|a, b| {
            a.sev
                .cmp(&b.sev)
                .then_with(|| rank(&b.id).cmp(&rank(&a.id)))
        }) else {
            continue;
        };
        let threats = comps.iter().filter(|c| c.threat).count();
        let severity = if threats >= 2 {
            top.sev.raised()
        } else {
            top.sev
        };
        let mut attack: Vec<String> = Vec::new();
        for c in std::iter::once(top).chain(comps.iter()) {
            for a in &c.attack {
                if !attack.iter().any(|x| x == a) {
                    attack.push(a.to_string());
                }
            }
        }
        sigs.sort_by_key(|s| (s.offset.unwrap_or(0), s.signature.clone()));
        sigs.dedup_by(|a, b| a.signature == b.signature && a.offset == b.offset);
        let loc = location(subject, hidden_by);
        let hidden = match &loc {
            Location::File { hidden_by, .. } => *hidden_by,
            _ => None,
        };
        let (title, why, fix) = match crate::yara::finding_text(&top.id, &sigs) {
            Some(t) => t,
            None => {
                let (t, w, f, _) = describe(&top.id);
                (t.into(), w.into(), f.into())
            }
        };
        let also: Vec<String> = comps
            .iter()
            .filter(|c| c.id != top.id)
            .map(|c| match crate::yara::finding_text(&c.id, &sigs) {
                Some((t, _, _)) => t,
                None => describe(&c.id).0.to_string(),
            })
            .collect();
        let mut description = why;
        let listed: Vec<String> = sigs
            .iter()
            .filter(|s| s.kind != SignalKind::Binary || sigs.len() > 1)
            .map(|s| s.signature.clone())
            .collect();
        description.push_str(&format!(" Signals: {}.", listed.join(", ")));
        if !also.is_empty() {
            description.push_str(&format!(" Also: {}.", also.join("; ")));
        }
        if let Some(h) = hidden {
            description.push_str(&format!(
                " The file is deleted by layer {h}, but it still ships in the image's layers and is pulled with it."
            ));
        }
        findings.push(Finding {
            id: top.id.to_string(),
            title: format!("{title}: {}", where_text(subject, hidden)),
            severity,
            description,
            remediation: fix,
            attack,
            evidence: sigs
                .iter()
                .map(|s| Evidence {
                    line: s.line,
                    location: loc.clone(),
                    offset: s.offset,
                    signature: s.signature.clone(),
                    excerpt: s.excerpt.clone(),
                })
                .collect(),
        });
    }
    findings
}

/// The finding for a scan that did not see everything (one evidence per reason).
pub fn incomplete_finding(reasons: &[String]) -> Option<Finding> {
    if reasons.is_empty() {
        return None;
    }
    let (title, why, fix, _) = describe(SCAN_INCOMPLETE);
    Some(Finding {
        id: SCAN_INCOMPLETE.into(),
        title: title.into(),
        severity: Severity::Low,
        description: why.into(),
        remediation: fix.into(),
        attack: vec![],
        evidence: reasons
            .iter()
            .map(|r| Evidence {
                line: None,
                location: Location::Scan,
                offset: None,
                signature: "limit".into(),
                excerpt: r.clone(),
            })
            .collect(),
    })
}

/// The finding for layer entries whose names were absolute or escaped with `..`.
pub fn path_traversal_finding(layer: usize, digest: &str, names: &[String], total: u64) -> Finding {
    let (title, why, fix, attack) = describe(PATH_TRAVERSAL);
    Finding {
        id: PATH_TRAVERSAL.into(),
        title: format!("{title}: {total} entries in layer {layer}"),
        severity: Severity::Medium,
        description: why.into(),
        remediation: fix.into(),
        attack: attack.iter().map(|s| s.to_string()).collect(),
        evidence: names
            .iter()
            .map(|n| Evidence {
                line: None,
                location: Location::File {
                    layer,
                    layer_digest: digest.into(),
                    path: n.clone(),
                    hidden_by: None,
                    inside: vec![],
                    sha256: None,
                },
                offset: None,
                signature: "unsafe-path".into(),
                excerpt: n.clone(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> Subject {
        Subject::File {
            layer: 1,
            layer_digest: "sha256:aa".into(),
            path: "usr/bin/app".into(),
            inside: vec![],
        }
    }

    fn sig(kind: SignalKind, name: &str) -> Signal {
        Signal {
            line: None,
            subject: file(),
            kind,
            signature: name.into(),
            offset: Some(1),
            excerpt: name.into(),
        }
    }

    fn lit(c: Category, s: Strength, name: &str) -> Signal {
        sig(
            SignalKind::Literal {
                category: c,
                strength: s,
            },
            name,
        )
    }

    fn one(signals: &[Signal]) -> Option<(String, Severity)> {
        let f = collate(signals, &|_, _| None);
        assert!(f.len() <= 1);
        f.first().map(|f| (f.id.clone(), f.severity))
    }

    #[test]
    fn renamed_elf_with_xmrig_strings_and_pool_is_critical() {
        let s = [
            sig(SignalKind::Binary, "binary:elf"),
            lit(Category::Miner, Strength::Strong, "xmrig-usage"),
            sig(SignalKind::PoolDomain, "pool-domain:minexmr.com"),
        ];
        assert_eq!(one(&s), Some((MINER_BINARY.into(), Severity::Critical)));
        let f = &collate(&s, &|_, _| Some(3))[0];
        assert_eq!(f.evidence.len(), 3);
        assert!(f.title.contains("deleted by layer 3"), "{}", f.title);
        assert_eq!(f.attack, ["T1496", "T1204.003"]);
    }

    #[test]
    fn single_signals_have_their_own_severity() {
        assert_eq!(
            one(&[sig(
                SignalKind::MinerName(NameKind::Miner),
                "miner-name:xmrig"
            )]),
            Some((MINER_BINARY.into(), Severity::High))
        );
        // A lone pool port is LOW, never MEDIUM+.
        assert_eq!(
            one(&[sig(SignalKind::PoolPort, "pool-port:3333")]),
            Some((POOL_ENDPOINT.into(), Severity::Low))
        );
        // A lone generic string is LOW.
        assert_eq!(
            one(&[lit(Category::MinerConfig, Strength::Weak, "config-randomx")]),
            Some((MINER_STRINGS.into(), Severity::Low))
        );
        // An ordinary ELF: nothing.
        assert_eq!(one(&[sig(SignalKind::Binary, "binary:elf")]), None);
        assert_eq!(
            one(&[lit(Category::Exfil, Strength::Weak, "http-upload")]),
            None
        );
    }

    #[test]
    fn combinations() {
        let cfg = [
            lit(Category::MinerConfig, Strength::Weak, "config-donate-level"),
            lit(Category::MinerConfig, Strength::Weak, "config-pools"),
        ];
        assert_eq!(one(&cfg), Some((MINER_CONFIG.into(), Severity::High)));
        let theft = [
            lit(Category::CredTheft, Strength::Weak, "aws-credentials-file"),
            lit(Category::Exfil, Strength::Weak, "http-upload"),
        ];
        assert_eq!(one(&theft), Some((CRED_THEFT.into(), Severity::High)));
        let drop = [
            lit(Category::Dropper, Strength::Strong, "download-pipe-shell"),
            lit(Category::Pool, Strength::Strong, "stratum-tcp-url"),
        ];
        assert_eq!(one(&drop), Some((DROPPER.into(), Severity::Critical)));
    }

    fn behaviour(kind: crate::behaviour::BehaviourKind, run: bool, name: &str) -> Signal {
        sig(SignalKind::Behaviour { kind, run }, name)
    }

    #[test]
    fn behaviours_are_high_when_run_medium_in_a_file() {
        use crate::behaviour::BehaviourKind as B;
        let m = behaviour(B::MinerCommand, true, "miner-cmdline:pool+user");
        assert_eq!(
            one(std::slice::from_ref(&m)),
            Some((MINER_COMMAND.into(), Severity::High))
        );
        let f = behaviour(B::ReverseShell, false, "reverse-shell:nc-exec");
        assert_eq!(one(&[f]), Some((REVERSE_SHELL.into(), Severity::Medium)));
        // A miner command line with a pool URL combines like other miner signals.
        let pool = lit(Category::Pool, Strength::Strong, "stratum-tcp-url");
        assert_eq!(
            one(&[m, pool]),
            Some((MINER_COMMAND.into(), Severity::Critical))
        );
        let d = behaviour(B::FetchExec, true, "fetch-chmod-exec");
        assert_eq!(one(&[d]), Some((DROPPER.into(), Severity::High)));
        let h = behaviour(B::CredHarvest, false, "cred-read-upload");
        assert_eq!(one(&[h]), Some((CRED_THEFT.into(), Severity::Medium)));
        for id in [
            MINER_COMMAND,
            MINER_DOWNLOAD,
            REVERSE_SHELL,
            DOCKER_SOCKET,
            CONTAINER_ESCAPE,
            MASS_SCANNER,
        ] {
            assert_ne!(describe(id).0, "Scan incomplete", "{id}");
            assert!(!describe(id).3.is_empty(), "{id}");
        }
    }

    #[test]
    fn wallets_by_confidence() {
        let xmr = sig(SignalKind::Wallet, "wallet:wownero-standard");
        let btc = sig(SignalKind::WalletCommon, "wallet:bitcoin-bech32");
        let eth = sig(SignalKind::WalletUnchecked, "wallet:ethereum-unchecked");
        let pool = sig(SignalKind::PoolDomain, "pool-domain:minexmr.com");
        let port = sig(SignalKind::PoolPort, "pool-port:3333");
        let evasion = lit(Category::Evasion, Strength::Strong, "unset-histfile");
        // A CryptoNote address alone is HIGH.
        assert_eq!(
            one(std::slice::from_ref(&xmr)),
            Some((WALLET.into(), Severity::High))
        );
        // Bitcoin/EIP-55 alone: LOW, and not raised by an unrelated threat.
        assert_eq!(
            one(std::slice::from_ref(&btc)),
            Some((WALLET.into(), Severity::Low))
        );
        assert_eq!(
            one(&[btc.clone(), evasion.clone()]),
            Some((WALLET.into(), Severity::Low))
        );
        // Beside a pool it raises the pool finding.
        assert_eq!(
            one(&[btc.clone(), pool.clone()]),
            Some((POOL_ENDPOINT.into(), Severity::High))
        );
        // Unchecked: nothing alone, nothing beside a lone port, counts beside a pool.
        assert_eq!(one(std::slice::from_ref(&eth)), None);
        assert_eq!(
            one(&[eth.clone(), port.clone()]),
            Some((POOL_ENDPOINT.into(), Severity::Low))
        );
        assert_eq!(
            one(&[eth, pool]),
            Some((POOL_ENDPOINT.into(), Severity::High))
        );
    }
}
