//! The image's own package databases, read as ground truth: which package owns which
//! file in a system path, and the digest it recorded at install time.
//!
//! ```text
//! var/lib/dpkg/status            Conffiles (owned, never compared: admins edit them)
//! var/lib/dpkg/status.d/*        the same, one file per package (distroless)
//! var/lib/dpkg/info/P.md5sums    "<md5>  usr/bin/ps"          → owned by P, MD5
//! var/lib/dpkg/info/P.list       "/usr/bin/ps"                → owned by P, no digest
//! var/lib/dpkg/diversions        from / to / package triples  → owned, never compared
//! lib/apk/db/installed           P:pkg F:dir R:file Z:Q1<b64> → owned, SHA-1
//! var/lib/rpm/rpmdb.sqlite       header blobs                 → owned, MD5/SHA-256
//! etc/ld.so.preload              libraries loaded into every process
//! ```
//!
//! The files are captured during the walk by `analyzers/pkgcapture.rs` (bounded, see
//! [`Limits`]) and parsed there into [`DbFile`]s, kept per layer in
//! `LayerFacts.pkgdb`; the image-level check (`analyzers/packages.rs`) takes the version
//! of each database file visible in the final filesystem (a later layer may rewrite or
//! delete it) and compares the digests the hash analyzer computed.
//!
//! rpm's older databases (BerkeleyDB `var/lib/rpm/Packages`, ndb `Packages.db`) are not
//! read: the check is skipped for them and the report says so (`IMG-PKGDB-SKIPPED`).
//! Every parser is total: malformed input yields fewer entries and a reason, never a panic.

use serde::Serialize;

pub mod apk;
pub mod dpkg;
pub mod rpm;

/// Bounds of what is captured and kept in memory.
pub struct Limits;

impl Limits {
    /// `var/lib/dpkg/status`, `lib/apk/db/installed`.
    pub const STATUS_BYTES: u64 = 64 << 20;
    /// Each `info/*.md5sums`, `info/*.list`, `status.d/*`, `diversions`.
    pub const INFO_FILE_BYTES: u64 = 4 << 20;
    /// All `info/*` files of one layer together.
    pub const INFO_TOTAL_BYTES: u64 = 64 << 20;
    /// `rpmdb.sqlite` (held in memory while it is parsed).
    pub const RPMDB_BYTES: u64 = 128 << 20;
    /// `etc/ld.so.preload`.
    pub const PRELOAD_BYTES: u64 = 64 << 10;
    /// Owned files kept per database file.
    pub const FILES: usize = 2_000_000;
}

/// A recorded content digest, lower-case hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum Digest {
    Md5(String),
    Sha1(String),
    Sha256(String),
}

impl Digest {
    pub fn algorithm(&self) -> &'static str {
        match self {
            Digest::Md5(_) => "md5",
            Digest::Sha1(_) => "sha1",
            Digest::Sha256(_) => "sha256",
        }
    }
    pub fn hex(&self) -> &str {
        match self {
            Digest::Md5(h) | Digest::Sha1(h) | Digest::Sha256(h) => h,
        }
    }
}

/// One file a package owns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct OwnedFile {
    /// Path without the leading `/`, as the package database records it.
    pub path: String,
    /// `None`: owned, but nothing to compare (conffile, diversion, listed without digest).
    pub digest: Option<Digest>,
}

/// One package and its files (as far as this database file tells).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Package {
    pub name: String,
    pub files: Vec<OwnedFile>,
}

/// What one captured file holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum DbContent {
    /// Packages and the files they own.
    Packages(Vec<Package>),
    /// Library paths named by `/etc/ld.so.preload` (without the leading `/`).
    LdPreload(Vec<String>),
    /// A database that was not read, and why.
    Unread(String),
}

/// A captured database file of one layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct DbFile {
    /// Path in the layer.
    pub path: String,
    /// Parsed content.
    pub content: DbContent,
    /// Parsed only in part (a malformed record, a bound): what was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partial: Option<String>,
}

/// A layer's captured package-database files.
#[derive(Debug, Default, Clone, Serialize, serde::Deserialize)]
pub struct PkgDbFacts {
    pub files: Vec<DbFile>,
}

/// What kind of database file `path` (layer-relative) is, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    DpkgStatus,
    DpkgStatusD,
    DpkgMd5sums,
    DpkgList,
    DpkgDiversions,
    Apk,
    RpmSqlite,
    /// BerkeleyDB `Packages` or ndb `Packages.db`: recognised, not read.
    RpmOld,
    LdPreload,
}

impl Kind {
    pub fn of(path: &str) -> Option<Kind> {
        let p = path.trim_start_matches("./").trim_start_matches('/');
        Some(match p {
            "var/lib/dpkg/status" => Kind::DpkgStatus,
            "var/lib/dpkg/diversions" => Kind::DpkgDiversions,
            "lib/apk/db/installed" | "usr/lib/apk/db/installed" => Kind::Apk,
            "var/lib/rpm/rpmdb.sqlite" | "usr/lib/sysimage/rpm/rpmdb.sqlite" => Kind::RpmSqlite,
            "var/lib/rpm/Packages"
            | "var/lib/rpm/Packages.db"
            | "usr/lib/sysimage/rpm/Packages"
            | "usr/lib/sysimage/rpm/Packages.db" => Kind::RpmOld,
            "etc/ld.so.preload" => Kind::LdPreload,
            _ => {
                if let Some(f) = p.strip_prefix("var/lib/dpkg/info/") {
                    if f.contains('/') {
                        return None;
                    }
                    if f.ends_with(".md5sums") {
                        Kind::DpkgMd5sums
                    } else if f.ends_with(".list") {
                        Kind::DpkgList
                    } else {
                        return None;
                    }
                } else if let Some(f) = p.strip_prefix("var/lib/dpkg/status.d/") {
                    if f.is_empty() || f.contains('/') {
                        return None;
                    }
                    if f.ends_with(".md5sums") {
                        Kind::DpkgMd5sums
                    } else {
                        Kind::DpkgStatusD
                    }
                } else {
                    return None;
                }
            }
        })
    }

    /// Bytes of this kind kept at most.
    pub fn limit(self) -> u64 {
        match self {
            Kind::DpkgStatus | Kind::Apk => Limits::STATUS_BYTES,
            Kind::RpmSqlite => Limits::RPMDB_BYTES,
            Kind::RpmOld => 0,
            Kind::LdPreload => Limits::PRELOAD_BYTES,
            _ => Limits::INFO_FILE_BYTES,
        }
    }
}

/// Parse a captured file of kind `kind` at `path`.
pub fn parse(kind: Kind, path: &str, data: &[u8]) -> DbFile {
    let (content, partial) = match kind {
        Kind::DpkgStatus | Kind::DpkgStatusD => dpkg::parse_status(data),
        Kind::DpkgMd5sums => dpkg::parse_md5sums(path, data),
        Kind::DpkgList => dpkg::parse_list(path, data),
        Kind::DpkgDiversions => dpkg::parse_diversions(data),
        Kind::Apk => apk::parse_installed(data),
        Kind::RpmSqlite => rpm::parse_sqlite(data),
        Kind::RpmOld => (
            DbContent::Unread(
                "rpm database in the BerkeleyDB/ndb format (rpm < 4.16) is not read".into(),
            ),
            None,
        ),
        Kind::LdPreload => (DbContent::LdPreload(parse_preload(data)), None),
    };
    DbFile {
        path: path.to_string(),
        content,
        partial,
    }
}

/// Entries of `/etc/ld.so.preload`: whitespace- or colon-separated paths, `#` comments.
pub fn parse_preload(data: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(data);
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        for w in line.split(|c: char| c.is_whitespace() || c == ':') {
            if !w.is_empty() && out.len() < 256 {
                out.push(norm(w));
            }
        }
    }
    out
}

/// A database path without `./` or the leading `/`.
pub(crate) fn norm(p: &str) -> String {
    p.trim_start_matches("./")
        .trim_start_matches('/')
        .to_string()
}

/// Lower-case hex, checked: `len` hex digits or `None`.
pub(crate) fn hex_digest(s: &str, len: usize) -> Option<String> {
    (s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())).then(|| s.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(Kind::of("var/lib/dpkg/status"), Some(Kind::DpkgStatus));
        assert_eq!(
            Kind::of("var/lib/dpkg/info/procps.md5sums"),
            Some(Kind::DpkgMd5sums)
        );
        assert_eq!(
            Kind::of("var/lib/dpkg/info/libc6:amd64.list"),
            Some(Kind::DpkgList)
        );
        assert_eq!(Kind::of("var/lib/dpkg/info/procps.postinst"), None);
        assert_eq!(
            Kind::of("var/lib/dpkg/status.d/base"),
            Some(Kind::DpkgStatusD)
        );
        assert_eq!(
            Kind::of("var/lib/dpkg/status.d/base.md5sums"),
            Some(Kind::DpkgMd5sums)
        );
        assert_eq!(Kind::of("lib/apk/db/installed"), Some(Kind::Apk));
        assert_eq!(Kind::of("var/lib/rpm/Packages"), Some(Kind::RpmOld));
        assert_eq!(Kind::of("etc/ld.so.preload"), Some(Kind::LdPreload));
        assert_eq!(Kind::of("etc/ld.so.preload.bak"), None);
    }

    #[test]
    fn preload_entries() {
        let v = parse_preload(b"# c\n/usr/local/lib/libx.so /lib/a.so:/lib/b.so\n\n");
        assert_eq!(v, ["usr/local/lib/libx.so", "lib/a.so", "lib/b.so"]);
        assert!(parse_preload(&[0xff, 0xfe, b'\n']).len() <= 1);
    }

    #[test]
    fn old_rpm_is_reported_unread() {
        let f = parse(Kind::RpmOld, "var/lib/rpm/Packages", b"");
        assert!(matches!(f.content, DbContent::Unread(_)));
    }
}
