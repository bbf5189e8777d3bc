//! rpm: `rpmdb.sqlite` (rpm ≥ 4.16), table `Packages(hnum, blob)`, each blob one package
//! header (format: rpm's `lib/header.cc` and the "Package header" section of
//! <https://rpm-software-management.github.io/rpm/manual/format_v4.html>): `il` index
//! entries and `dl` data bytes (both big-endian u32), then `il` × {tag, type, offset,
//! count}, then the data store. The file list is BASENAMES + DIRNAMES[DIRINDEXES], with
//! FILEDIGESTS (hex) in FILEDIGESTALGO (1 = MD5, 8 = SHA-256; absent = MD5).
//!
//! The database is loaded into an in-memory sqlite (no file on disk) from the captured
//! bytes, read only; every header is bounds-checked before anything is read from it.
//! BerkeleyDB `Packages` and ndb `Packages.db` are not read (see the module doc).

use super::{DbContent, Digest, Limits, OwnedFile, Package};

const TAG_NAME: u32 = 1000;
const TAG_FILEDIGESTS: u32 = 1035;
const TAG_FILEFLAGS: u32 = 1037;
const TAG_DIRINDEXES: u32 = 1116;
const TAG_BASENAMES: u32 = 1117;
const TAG_DIRNAMES: u32 = 1118;
const TAG_FILEDIGESTALGO: u32 = 5011;
/// RPMFILE_CONFIG and RPMFILE_GHOST: never compared.
const FLAG_CONFIG: u32 = 1;
const FLAG_GHOST: u32 = 1 << 6;
/// Index entries and data bytes of one header at most (rpm's own limits).
const MAX_IL: usize = 0xffff;
const MAX_DL: usize = 256 << 20;
/// Package headers read at most.
const MAX_PACKAGES: usize = 100_000;

struct Entry {
    tag: u32,
    ty: u32,
    off: usize,
    count: usize,
}

/// One parsed header: the index and the data store.
pub struct Header<'a> {
    entries: Vec<Entry>,
    data: &'a [u8],
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

impl<'a> Header<'a> {
    /// Parse a header blob (without the 8-byte header magic, as rpmdb.sqlite stores it).
    pub fn parse(blob: &'a [u8]) -> Result<Header<'a>, String> {
        let il = be32(blob, 0).ok_or("header shorter than 8 bytes")? as usize;
        let dl = be32(blob, 4).ok_or("header shorter than 8 bytes")? as usize;
        if il > MAX_IL || dl > MAX_DL {
            return Err(format!("header claims {il} entries and {dl} data bytes"));
        }
        let start = 8 + il * 16;
        if blob.len() < start + dl {
            return Err(format!(
                "header claims {} bytes but the blob has {}",
                start + dl,
                blob.len()
            ));
        }
        let mut entries = Vec::with_capacity(il);
        for i in 0..il {
            let at = 8 + i * 16;
            let (tag, ty, off, count) = (
                be32(blob, at).unwrap_or(0),
                be32(blob, at + 4).unwrap_or(0),
                be32(blob, at + 8).unwrap_or(0) as usize,
                be32(blob, at + 12).unwrap_or(0) as usize,
            );
            if off > dl || count > dl {
                return Err(format!("tag {tag}: offset {off} count {count} past {dl}"));
            }
            entries.push(Entry {
                tag,
                ty,
                off,
                count,
            });
        }
        Ok(Header {
            entries,
            data: &blob[start..start + dl],
        })
    }

    fn entry(&self, tag: u32) -> Option<&Entry> {
        self.entries.iter().find(|e| e.tag == tag)
    }

    /// A STRING, STRING_ARRAY or I18NSTRING tag's strings (`None` if absent or malformed).
    pub fn strings(&self, tag: u32) -> Option<Vec<String>> {
        let e = self.entry(tag)?;
        if !matches!(e.ty, 6 | 8 | 9) {
            return None;
        }
        let n = if e.ty == 6 { 1 } else { e.count };
        let mut out = Vec::with_capacity(n.min(4096));
        let mut at = e.off;
        for _ in 0..n {
            let rest = self.data.get(at..)?;
            let end = memchr::memchr(0, rest)?;
            out.push(String::from_utf8_lossy(&rest[..end]).into_owned());
            at += end + 1;
        }
        Some(out)
    }

    /// An INT32 tag's values.
    pub fn u32s(&self, tag: u32) -> Option<Vec<u32>> {
        let e = self.entry(tag)?;
        if e.ty != 4 {
            return None;
        }
        let bytes = self
            .data
            .get(e.off..e.off.checked_add(e.count.checked_mul(4)?)?)?;
        Some(
            bytes
                .chunks_exact(4)
                .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        )
    }
}

/// The package in one header blob; `Err` says why it was skipped.
pub fn package(blob: &[u8]) -> Result<Package, String> {
    let h = Header::parse(blob)?;
    let name = h
        .strings(TAG_NAME)
        .and_then(|v| v.into_iter().next())
        .ok_or("no NAME")?;
    let mut files = Vec::new();
    let Some(base) = h.strings(TAG_BASENAMES) else {
        return Ok(Package { name, files });
    };
    let dirs = h
        .strings(TAG_DIRNAMES)
        .ok_or("BASENAMES without DIRNAMES")?;
    let idx = h
        .u32s(TAG_DIRINDEXES)
        .ok_or("BASENAMES without DIRINDEXES")?;
    let digests = h.strings(TAG_FILEDIGESTS).unwrap_or_default();
    let flags = h.u32s(TAG_FILEFLAGS).unwrap_or_default();
    let algo = h
        .u32s(TAG_FILEDIGESTALGO)
        .and_then(|v| v.first().copied())
        .unwrap_or(1);
    if idx.len() != base.len()
        || (!digests.is_empty() && digests.len() != base.len())
        || (!flags.is_empty() && flags.len() != base.len())
    {
        return Err(format!("{name}: file tag counts differ"));
    }
    for (i, b) in base.iter().enumerate() {
        let dir = dirs
            .get(idx[i] as usize)
            .ok_or_else(|| format!("{name}: directory index out of range"))?;
        let f = flags.get(i).copied().unwrap_or(0);
        let hex = digests.get(i).map(String::as_str).unwrap_or("");
        let digest = if f & (FLAG_CONFIG | FLAG_GHOST) != 0 {
            None
        } else {
            match algo {
                1 => super::hex_digest(hex, 32).map(Digest::Md5),
                2 => super::hex_digest(hex, 40).map(Digest::Sha1),
                8 => super::hex_digest(hex, 64).map(Digest::Sha256),
                _ => None,
            }
        };
        files.push(OwnedFile {
            path: super::norm(&format!("{dir}{b}")),
            digest,
        });
        if files.len() >= Limits::FILES {
            break;
        }
    }
    Ok(Package { name, files })
}

/// Read every package header of an `rpmdb.sqlite` held in memory.
pub fn parse_sqlite(data: &[u8]) -> (DbContent, Option<String>) {
    match read_sqlite(data) {
        Ok((pkgs, skipped)) => (DbContent::Packages(pkgs), skipped),
        Err(e) => (
            DbContent::Unread(format!("rpmdb.sqlite could not be read: {e}")),
            None,
        ),
    }
}

fn read_sqlite(data: &[u8]) -> Result<(Vec<Package>, Option<String>), String> {
    use rusqlite::{Connection, OpenFlags, MAIN_DB};
    if data.len() < 100 || !data.starts_with(b"SQLite format 3\0") {
        return Err("not an SQLite 3 database".into());
    }
    let mut conn = Connection::open_in_memory_with_flags(
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| e.to_string())?;
    // A WAL-mode file (bytes 18 and 19 = 2) cannot be opened from memory; as a
    // snapshot it reads the same in rollback mode.
    let head: [u8; 2] = [1, 1];
    let reader = std::io::Read::chain(std::io::Read::chain(&data[..18], &head[..]), &data[20..]);
    conn.deserialize_read_exact(MAIN_DB, reader, data.len(), true)
        .map_err(|e| e.to_string())?;
    let mut stmt = conn
        .prepare("SELECT blob FROM Packages")
        .map_err(|e| e.to_string())?;
    let mut rows = stmt.query([]).map_err(|e| e.to_string())?;
    let (mut pkgs, mut bad, mut reasons) = (Vec::new(), 0u64, Vec::new());
    while let Some(row) = rows.next().map_err(|e| e.to_string())? {
        if pkgs.len() >= MAX_PACKAGES {
            reasons.push(format!("more than {MAX_PACKAGES} packages"));
            break;
        }
        let blob: Vec<u8> = match row.get(0) {
            Ok(b) => b,
            Err(e) => {
                bad += 1;
                if reasons.len() < 3 {
                    reasons.push(e.to_string());
                }
                continue;
            }
        };
        match package(&blob) {
            Ok(p) => pkgs.push(p),
            Err(e) => {
                bad += 1;
                if reasons.len() < 3 {
                    reasons.push(e);
                }
            }
        }
    }
    let partial =
        (bad > 0).then(|| format!("{bad} package headers skipped ({})", reasons.join("; ")));
    Ok((pkgs, partial))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A header blob with `tags` = (tag, type, count, data bytes).
    pub(crate) fn blob(tags: &[(u32, u32, u32, Vec<u8>)]) -> Vec<u8> {
        let mut index = Vec::new();
        let mut data = Vec::new();
        for (tag, ty, count, bytes) in tags {
            while *ty == 4 && data.len() % 4 != 0 {
                data.push(0);
            }
            for v in [*tag, *ty, data.len() as u32, *count] {
                index.extend_from_slice(&v.to_be_bytes());
            }
            data.extend_from_slice(bytes);
        }
        let mut out = (tags.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend(index);
        out.extend(data);
        out
    }

    fn strs(v: &[&str]) -> Vec<u8> {
        v.iter()
            .flat_map(|s| [s.as_bytes(), b"\0"].concat())
            .collect()
    }

    #[test]
    fn header_file_list() {
        let d = "a".repeat(64);
        let b = blob(&[
            (TAG_NAME, 6, 1, strs(&["hello"])),
            (TAG_BASENAMES, 8, 2, strs(&["hello", "hello.conf"])),
            (TAG_DIRNAMES, 8, 2, strs(&["/usr/bin/", "/etc/"])),
            (
                TAG_DIRINDEXES,
                4,
                2,
                [0u32, 1].iter().flat_map(|v| v.to_be_bytes()).collect(),
            ),
            (TAG_FILEDIGESTS, 8, 2, strs(&[&d, &d])),
            (
                TAG_FILEFLAGS,
                4,
                2,
                [0u32, 1].iter().flat_map(|v| v.to_be_bytes()).collect(),
            ),
            (TAG_FILEDIGESTALGO, 4, 1, 8u32.to_be_bytes().to_vec()),
        ]);
        let p = package(&b).unwrap();
        assert_eq!(p.name, "hello");
        assert_eq!(p.files[0].path, "usr/bin/hello");
        assert_eq!(p.files[0].digest, Some(Digest::Sha256(d.clone())));
        assert_eq!(p.files[1].path, "etc/hello.conf");
        assert_eq!(p.files[1].digest, None, "a config file is never compared");
    }

    #[test]
    fn hostile_headers_are_rejected() {
        // Absurd counts.
        let mut b = u32::MAX.to_be_bytes().to_vec();
        b.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(package(&b).is_err());
        // Claims more data than the blob has.
        let mut b = 1u32.to_be_bytes().to_vec();
        b.extend_from_slice(&1000u32.to_be_bytes());
        b.extend_from_slice(&[0; 16]);
        assert!(package(&b).is_err());
        // A string array whose count runs past the data.
        let b = blob(&[
            (TAG_NAME, 6, 1, strs(&["x"])),
            (TAG_BASENAMES, 8, 1, b"no-nul".to_vec()),
        ]);
        let p = package(&b).unwrap();
        assert!(p.files.is_empty());
        // Directory index out of range.
        let b = blob(&[
            (TAG_NAME, 6, 1, strs(&["x"])),
            (TAG_BASENAMES, 8, 1, strs(&["a"])),
            (TAG_DIRNAMES, 8, 1, strs(&["/"])),
            (TAG_DIRINDEXES, 4, 1, 7u32.to_be_bytes().to_vec()),
        ]);
        assert!(package(&b).is_err());
        for n in 0..40 {
            let _ = package(&b[..n.min(b.len())]);
        }
    }

    #[test]
    fn garbage_sqlite_is_reported() {
        let (c, _) = parse_sqlite(b"not sqlite at all");
        assert!(matches!(c, DbContent::Unread(_)));
        let mut junk = b"SQLite format 3\0".to_vec();
        junk.extend((0..8192u32).map(|i| (i * 7 % 251) as u8));
        let (c, _) = parse_sqlite(&junk);
        assert!(matches!(c, DbContent::Unread(_)), "{c:?}");
    }
}
