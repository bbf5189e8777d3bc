//! Package check (image analyzer): the package databases visible in the final filesystem
//! (`crate::pkgdb`, captured per layer by `pkgcapture.rs`) against the digests the hash
//! analyzer computed for each visible executable in a system path.
//!
//! - owned, and the recorded digest differs → `ReplacedBinary` (a miner dropped as
//!   `/usr/bin/nginx`, a trojaned `ps`);
//! - owned by no package (and the image has a package database) → `UnownedExecutable`,
//!   informational: it only raises other signals on the same file;
//! - conffiles, diversions, rpm config/ghost files and files listed without a digest are
//!   owned but never compared; non-executables are never hashed, so never judged;
//! - `/etc/ld.so.preload` entries naming a library no package owns → `LdPreload`, on the
//!   library itself when it exists (so its other signals add up), else on the preload file;
//! - a database that could not be read → `PkgDbSkipped` (the report says the check was
//!   skipped for it).
//!
//! Database paths are resolved through the final filesystem, so Debian's merged /usr
//! (`bin` → `usr/bin`; dpkg records `/bin/ls` or `/usr/bin/ls`) and alternatives
//! symlinks land on the file they name.

use super::hash::is_system_path;
use super::{Analyzer, FsLookup, ImageFacts, Signal, SignalKind, Subject};
use crate::image::{EntryKind, FileEntry, Image};
use crate::pkgdb::{DbContent, Digest, Kind};
use std::collections::{HashMap, HashSet};

/// Maps keyed by paths from the image (tens of thousands per database): foldhash, several
/// times faster than SipHash on short keys, with a per-process random seed.
type PathMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// What the check saw, besides its signals (for tests and reports).
#[derive(Debug, Default, Clone)]
pub struct PackageCheck {
    /// Paths the visible databases own.
    pub owned: usize,
    /// Visible system-path executables compared with a recorded digest.
    pub compared: usize,
    /// Visible system-path executables no package owns.
    pub unowned: Vec<String>,
    /// Replaced files: (path, package).
    pub replaced: Vec<(String, String)>,
}

/// The package check as an image analyzer.
#[derive(Default)]
pub struct PackageAnalyzer;

impl Analyzer for PackageAnalyzer {
    fn name(&self) -> &'static str {
        "packages"
    }
    fn image(&self, _image: &Image, fs: &dyn FsLookup, facts: &ImageFacts, out: &mut Vec<Signal>) {
        check(fs, facts, out);
    }
}

fn subject(e: &FileEntry) -> Subject {
    Subject::File {
        layer: e.layer,
        layer_digest: e.layer_digest.clone(),
        path: e.path.clone(),
        inside: vec![],
    }
}

fn signal(e: &FileEntry, kind: SignalKind, signature: String, excerpt: String) -> Signal {
    Signal {
        subject: subject(e),
        kind,
        signature,
        offset: None,
        line: None,
        excerpt,
    }
}

/// The entry visible at `path` if it is the one layer `layer` wrote there.
fn visible<'a>(fs: &'a dyn FsLookup, layer: usize, path: &str) -> Option<&'a FileEntry> {
    fs.resolve(path)
        .filter(|e| e.layer == layer && e.path == path)
}

/// Database paths as the final filesystem resolves them, one directory at a time.
///
/// A package database lists tens of thousands of paths in a few hundred directories, and on
/// Debian's merged /usr most of them pass through a symlink (`bin` → `usr/bin`), which
/// sends [`FsLookup::resolve`] down its component-by-component walk. Resolving a path's
/// directory once (memoised) and then its last component under the directory that gives
/// lands on the same entry: resolution follows links component by component, so
/// `dir/name` and `resolve(dir)/name` name the same thing when `resolve(dir)` is a
/// directory. Anything else (an unlisted directory, `.` or `..` as the last component)
/// takes the full resolution as before.
struct Canonical<'f, 'p> {
    fs: &'f dyn FsLookup,
    /// Directory as written → (the path it resolves to, whether that path is a
    /// [`FsLookup::plain_dir`]), or `None` when it resolves to no directory.
    dirs: PathMap<&'p str, Option<(String, bool)>>,
}

impl<'f, 'p> Canonical<'f, 'p> {
    fn new(fs: &'f dyn FsLookup) -> Self {
        Canonical {
            fs,
            dirs: PathMap::default(),
        }
    }

    /// The path of the entry `p` resolves to, or `p` itself when nothing is there.
    fn path(&mut self, p: &'p str) -> String {
        let fs = self.fs;
        let quick = p.rsplit_once('/').and_then(|(dir, name)| {
            if matches!(name, "" | "." | "..") || dir.trim_matches('/').is_empty() {
                return None;
            }
            let rdir = self.dirs.entry(dir).or_insert_with(|| {
                fs.resolve(dir)
                    .filter(|e| e.kind == EntryKind::Dir)
                    .map(|e| (e.path.clone(), fs.plain_dir(&e.path)))
            });
            rdir.as_ref()
                .map(|(d, plain)| (format!("{d}/{name}"), *plain))
        });
        let found = match &quick {
            // One lookup: no link on the way, so only a link at the end needs the walk.
            Some((full, true)) => match fs.exact(full) {
                Some(e) if !matches!(e.kind, EntryKind::Symlink | EntryKind::Hardlink) => Some(e),
                Some(_) => fs.resolve(full),
                None => None,
            },
            Some((full, false)) => fs.resolve(full),
            None => fs.resolve(p),
        };
        match found {
            Some(e) => e.path.clone(),
            None => p.to_string(),
        }
    }
}

/// Run the check, pushing signals to `out`.
pub fn check(fs: &dyn FsLookup, facts: &ImageFacts, out: &mut Vec<Signal>) -> PackageCheck {
    // Owned path (as resolved in the final filesystem) → (package, recorded digest).
    let mut owners: PathMap<String, (&str, Option<&Digest>)> = PathMap::default();
    let mut never: HashSet<String, foldhash::fast::RandomState> = HashSet::default();
    let mut any_db = false;
    let mut preload: Option<(&FileEntry, &Vec<String>)> = None;
    let mut canon = Canonical::new(fs);
    for (li, lf) in facts.layers.iter().enumerate() {
        for f in &lf.pkgdb.files {
            let Some(e) = visible(fs, li, &f.path) else {
                continue;
            };
            match &f.content {
                DbContent::Packages(pkgs) => {
                    any_db = true;
                    let no_compare = matches!(
                        Kind::of(&f.path),
                        Some(Kind::DpkgStatus | Kind::DpkgStatusD | Kind::DpkgDiversions)
                    );
                    for p in pkgs {
                        for file in &p.files {
                            let key = canon.path(&file.path);
                            if no_compare {
                                never.insert(key.clone());
                            }
                            let slot = owners.entry(key).or_insert((&p.name, None));
                            if slot.1.is_none() && file.digest.is_some() {
                                *slot = (&p.name, file.digest.as_ref());
                            }
                        }
                    }
                }
                DbContent::LdPreload(libs) => preload = Some((e, libs)),
                DbContent::Unread(why) => out.push(signal(
                    e,
                    SignalKind::PkgDbSkipped,
                    "pkgdb-unread".into(),
                    format!(
                        "{}: {why}; system binaries were not compared with it",
                        f.path
                    ),
                )),
            }
        }
    }
    let mut res = PackageCheck {
        owned: owners.len(),
        ..Default::default()
    };
    for (li, lf) in facts.layers.iter().enumerate() {
        for d in &lf.digests {
            // `md5` is computed for system-path executables only.
            if !d.inside.is_empty() || d.md5.is_none() || !is_system_path(&d.path) {
                continue;
            }
            let Some(e) = visible(fs, li, &d.path) else {
                continue;
            };
            let Some((pkg, recorded)) = owners.get(&d.path) else {
                if any_db {
                    res.unowned.push(d.path.clone());
                    out.push(signal(
                        e,
                        SignalKind::UnownedExecutable,
                        "unowned-system-executable".into(),
                        format!(
                            "/{} is in a system path but no installed package lists it",
                            d.path
                        ),
                    ));
                }
                continue;
            };
            if never.contains(&d.path) {
                continue;
            }
            let Some(recorded) = recorded else {
                continue;
            };
            let actual = match recorded {
                Digest::Md5(_) => d.md5.as_deref(),
                Digest::Sha1(_) => d.sha1.as_deref(),
                Digest::Sha256(_) => Some(d.sha256.as_str()),
            };
            let Some(actual) = actual else {
                continue;
            };
            res.compared += 1;
            if actual != recorded.hex() {
                let algo = recorded.algorithm();
                res.replaced.push((d.path.clone(), pkg.to_string()));
                out.push(signal(
                    e,
                    SignalKind::ReplacedBinary,
                    format!("replaced-binary:{pkg}"),
                    format!(
                        "/{} belongs to package {pkg}, which recorded {algo} {}; the file in the image has {algo} {actual} (sha256 {})",
                        d.path,
                        recorded.hex(),
                        d.sha256
                    ),
                ));
            }
        }
    }
    if let Some((pf, libs)) = preload {
        for lib in libs.iter().take(64) {
            let key = canon.path(lib);
            if owners.contains_key(&key) {
                continue;
            }
            let target = fs.resolve(lib);
            let why = if target.is_some() {
                "no installed package provides it"
            } else {
                "it is not in the image (and no package provides it)"
            };
            out.push(signal(
                target.unwrap_or(pf),
                SignalKind::LdPreload,
                "ld-so-preload".into(),
                format!(
                    "/{} (layer {}) preloads /{lib} into every process; {why}",
                    pf.path, pf.layer
                ),
            ));
        }
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyzers::collate::*;
    use crate::analyzers::hash::FileDigest;
    use crate::analyzers::{collate, LayerFacts};
    use crate::findings::Severity;
    use crate::image::EntryKind;
    use crate::pkgdb::{self, DbFile, Kind};
    use crate::signatures::{Category, Strength};

    fn entry(path: &str, kind: EntryKind, target: Option<&str>) -> FileEntry {
        FileEntry {
            layer: 0,
            layer_digest: "sha256:l0".into(),
            path: path.into(),
            kind,
            mode: 0o755,
            size: 1,
            link_target: target.map(str::to_string),
            hidden_by: None,
        }
    }

    fn digest(path: &str, md5: &str) -> FileDigest {
        FileDigest {
            path: path.into(),
            inside: vec![],
            sha256: "5".repeat(64),
            md5: Some(md5.into()),
            sha1: Some("1".repeat(40)),
        }
    }

    /// A map that follows merged /usr's `bin` → `usr/bin` (the real `FsView` follows
    /// every symlink).
    struct MergedUsr(HashMap<String, FileEntry>);

    impl FsLookup for MergedUsr {
        fn resolve(&self, path: &str) -> Option<&FileEntry> {
            let p = path.trim_start_matches('/');
            match p.strip_prefix("bin/") {
                Some(rest) => self.0.get(&format!("usr/bin/{rest}")),
                None => self.0.get(p),
            }
        }
    }

    impl MergedUsr {
        fn insert(&mut self, k: String, v: FileEntry) {
            self.0.insert(k, v);
        }
    }

    /// A merged-/usr Debian: `bin` → `usr/bin`, dpkg listing `/bin/ls` and `/usr/bin/ps`.
    fn image(files: &[(&str, &[u8])]) -> (MergedUsr, LayerFacts) {
        let mut fs = MergedUsr(HashMap::new());
        fs.insert(
            "bin".into(),
            entry("bin", EntryKind::Symlink, Some("usr/bin")),
        );
        let mut lf = LayerFacts::default();
        for (p, data) in files {
            fs.insert(p.to_string(), entry(p, EntryKind::File, None));
            if let Some(kind) = Kind::of(p) {
                lf.pkgdb.files.push(pkgdb::parse(kind, p, data));
            }
        }
        (fs, lf)
    }

    fn run(fs: &MergedUsr, lf: &LayerFacts) -> (Vec<Signal>, PackageCheck) {
        let layers = [lf.clone()];
        let mut out = Vec::new();
        let res = check(fs, &ImageFacts { layers: &layers }, &mut out);
        (out, res)
    }

    const PS: &str = "0123456789abcdef0123456789abcdef";

    /// The memoised directory resolution gives what resolving each whole path gives, on a
    /// real view: merged /usr, a relative and an absolute directory link, a link to a
    /// file used as a directory, a loop, a dangling link, a file link, unlisted
    /// directories, `.`/`..` and doubled slashes.
    #[test]
    fn canonical_paths_agree_with_whole_path_resolution() {
        use crate::layers::{FsView, LayerMeta};
        let l = entry;
        let meta = LayerMeta {
            entries: vec![
                l("bin", EntryKind::Symlink, Some("usr/bin")),
                l("sbin", EntryKind::Symlink, Some("/usr/sbin")),
                l("usr", EntryKind::Dir, None),
                l("usr/bin", EntryKind::Dir, None),
                l("usr/bin/ls", EntryKind::File, None),
                l(
                    "usr/bin/vi",
                    EntryKind::Symlink,
                    Some("/etc/alternatives/vi"),
                ),
                l(
                    "etc/alternatives/vi",
                    EntryKind::Symlink,
                    Some("/usr/bin/vim.tiny"),
                ),
                l("usr/bin/vim.tiny", EntryKind::File, None),
                l("usr/sbin/init", EntryKind::File, None),
                l("lib", EntryKind::Symlink, Some("usr/lib")),
                l("usr/lib/x/libc.so", EntryKind::File, None),
                l("opt/f", EntryKind::File, None),
                l("opt/asdir", EntryKind::Symlink, Some("f")),
                l("loop", EntryKind::Symlink, Some("loop2")),
                l("loop2", EntryKind::Symlink, Some("loop")),
                l("gone", EntryKind::Symlink, Some("/nowhere")),
                l("usr/bin/hl", EntryKind::Hardlink, Some("usr/bin/ls")),
                // Hostile shapes one layer can hold: a directory listed under a link, and
                // a directory listed under a file.
                l("lnk", EntryKind::Symlink, Some("usr")),
                l("lnk/bin", EntryKind::Dir, None),
                l("lnk/bin/only-here", EntryKind::File, None),
                l("opt/f/sub", EntryKind::Dir, None),
                l("opt/f/sub/y", EntryKind::File, None),
                l("usr/bin/tolink", EntryKind::Symlink, Some("../../opt/f")),
            ],
            whiteouts: vec![],
        };
        let fs = FsView::build(vec![meta]);
        let paths = [
            "/bin/ls",
            "/bin/vi",
            "/bin/hl",
            "/bin/none",
            "/sbin/init",
            "sbin/init",
            "/usr/bin/ls",
            "/lib/x/libc.so",
            "/lib/y/libc.so",
            "/opt/asdir/x",
            "/opt/f",
            "/loop/x",
            "/gone/x",
            "/bin/./ls",
            "/bin/../bin/ls",
            "/bin/",
            "/bin/.",
            "/bin/..",
            "//bin//ls",
            "/",
            "",
            "ls",
            "/usr/bin/../sbin/init",
            "/bin/ls/x",
            "/unlisted/dir/file",
            "/etc/alternatives/vi",
            "/lnk/bin/ls",
            "/lnk/bin/only-here",
            "/opt/f/sub/y",
            "/opt/f/sub/z",
            "/bin/tolink",
            "/usr/bin/tolink",
        ];
        let fs_ref: &dyn FsLookup = &fs;
        let mut canon = Canonical::new(fs_ref);
        for p in paths {
            let want = match fs_ref.resolve(p) {
                Some(e) => e.path.clone(),
                None => p.to_string(),
            };
            assert_eq!(canon.path(p), want, "{p}");
        }
        // The memo is used: a second round gives the same again.
        for p in paths {
            let want = fs_ref.resolve(p).map(|e| e.path.clone());
            assert_eq!(canon.path(p), want.unwrap_or_else(|| p.to_string()), "{p}");
        }
        assert_eq!(canon.path("/bin/vi"), "usr/bin/vim.tiny");
        assert_eq!(canon.path("/sbin/init"), "usr/sbin/init");
    }

    #[test]
    fn replaced_owned_unowned_and_merged_usr() {
        let md5sums = format!("{PS}  usr/bin/ps\n{}  bin/ls\n", "e".repeat(32));
        let (mut fs, mut lf) = image(&[
            ("var/lib/dpkg/info/procps.md5sums", md5sums.as_bytes()),
            ("var/lib/dpkg/status", b"Package: procps\n\n"),
            ("usr/bin/ps", b""),
            ("usr/bin/ls", b""),
            ("usr/sbin/extra", b""),
        ]);
        lf.digests.push(digest("usr/bin/ps", PS));
        lf.digests.push(digest("usr/bin/ls", &"e".repeat(32)));
        lf.digests.push(digest("usr/sbin/extra", &"9".repeat(32)));
        let (sigs, res) = run(&fs, &lf);
        assert_eq!(res.compared, 2, "bin/ls resolves to usr/bin/ls");
        assert!(res.replaced.is_empty());
        assert_eq!(res.unowned, ["usr/sbin/extra"]);
        assert!(
            collate(&sigs, &|_, _| None).is_empty(),
            "unowned alone says nothing"
        );

        // Now ps differs from what procps recorded.
        lf.digests[0].md5 = Some("f".repeat(32));
        let (sigs, res) = run(&fs, &lf);
        assert_eq!(
            res.replaced,
            [("usr/bin/ps".to_string(), "procps".to_string())]
        );
        let f = collate(&sigs, &|_, _| None);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].id, "IMG-REPLACED-BINARY");
        assert_eq!(f[0].severity, Severity::Medium);
        assert!(f[0].evidence[0].excerpt.contains(PS));
        assert!(f[0].evidence[0].excerpt.contains(&"f".repeat(32)));

        // A diversion of the same path: never compared.
        let div = pkgdb::parse(
            Kind::DpkgDiversions,
            "var/lib/dpkg/diversions",
            b"/usr/bin/ps\n/usr/bin/ps.distrib\nlocal-pkg\n",
        );
        fs.insert(
            "var/lib/dpkg/diversions".into(),
            entry("var/lib/dpkg/diversions", EntryKind::File, None),
        );
        lf.pkgdb.files.push(div);
        let (_, res) = run(&fs, &lf);
        assert!(res.replaced.is_empty());
    }

    #[test]
    fn no_database_no_unowned_and_preload() {
        let (fs, mut lf) = image(&[
            (
                "etc/ld.so.preload",
                b"/usr/local/lib/libhide.so\n/lib/x86_64-linux-gnu/libc.so.6\n",
            ),
            ("usr/local/lib/libhide.so", b""),
        ]);
        lf.digests.push(digest("usr/bin/x", PS));
        let (sigs, res) = run(&fs, &lf);
        assert!(
            res.unowned.is_empty(),
            "no package database: nothing is unowned"
        );
        let f = collate(&sigs, &|_, _| None);
        // Both entries are outside a (missing) package database; the library that exists
        // is the subject of its own finding.
        assert_eq!(f.len(), 2, "{f:?}");
        assert!(f
            .iter()
            .all(|f| f.id == "IMG-LD-PRELOAD" && f.severity == Severity::Medium));
        assert!(f
            .iter()
            .any(|f| f.title.contains("usr/local/lib/libhide.so")));

        // An owned preload library: nothing.
        let (fs, mut lf) = image(&[
            ("etc/ld.so.preload", b"/usr/lib/libok.so\n"),
            ("usr/lib/libok.so", b""),
            ("var/lib/dpkg/info/ok.list", b"/usr/lib/libok.so\n"),
        ]);
        lf.pkgdb.files.push(DbFile {
            path: "var/lib/rpm/Packages".into(),
            content: DbContent::Unread("old".into()),
            partial: None,
        });
        let (sigs, _) = run(&fs, &lf);
        assert!(sigs.iter().all(|s| s.kind != SignalKind::LdPreload));
    }

    fn sig(kind: SignalKind, name: &str) -> Signal {
        Signal {
            line: None,
            subject: Subject::File {
                layer: 1,
                layer_digest: "sha256:aa".into(),
                path: "usr/bin/app".into(),
                inside: vec![],
            },
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

    /// How the package-database and hash signals combine (policy in `collate.rs`).
    #[test]
    fn package_database_and_hash_signals() {
        let replaced = sig(SignalKind::ReplacedBinary, "replaced-binary:procps");
        let unowned = sig(SignalKind::UnownedExecutable, "unowned-system-executable");
        let strings = lit(Category::Miner, Strength::Strong, "xmrig-usage");
        assert_eq!(
            one(&[replaced.clone(), sig(SignalKind::Binary, "binary:elf")]),
            Some((REPLACED_BINARY.into(), Severity::Medium))
        );
        // Replaced + miner strings on a binary: both HIGH threats, raised to CRITICAL.
        let f = one(&[
            replaced.clone(),
            sig(SignalKind::Binary, "binary:elf"),
            strings.clone(),
        ]);
        assert_eq!(f, Some((MINER_BINARY.into(), Severity::Critical)));
        // Unowned alone: nothing; beside a HIGH miner string it raises it.
        assert_eq!(
            one(&[unowned.clone(), sig(SignalKind::Binary, "binary:elf")]),
            None
        );
        assert_eq!(
            one(&[unowned.clone(), strings.clone()]),
            Some((MINER_STRINGS.into(), Severity::Critical))
        );
        assert_eq!(
            one(&[sig(SignalKind::KnownBadHash, "known-bad-hash:kinsing")]),
            Some((KNOWN_BAD_HASH.into(), Severity::Critical))
        );
        assert_eq!(
            one(&[sig(SignalKind::LdPreload, "ld-so-preload")]),
            Some((LD_PRELOAD.into(), Severity::Medium))
        );
        assert_eq!(
            one(&[sig(SignalKind::LdPreload, "ld-so-preload"), unowned]).map(|f| f.1),
            Some(Severity::High)
        );
        assert_eq!(
            one(&[sig(SignalKind::PkgDbSkipped, "pkgdb-unread")]),
            Some((PKGDB_SKIPPED.into(), Severity::Info))
        );
    }
}
