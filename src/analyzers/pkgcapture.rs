//! Package-database capture: keeps the bytes of the few files `crate::pkgdb` reads
//! (dpkg status and info files, apk's installed db, rpmdb.sqlite, `/etc/ld.so.preload`),
//! each within its bound ([`crate::pkgdb::Limits`]), parses them when they end and hands
//! the result over as `LayerFacts.pkgdb`. Runs on the walker's thread: it wants a
//! handful of files per layer. A file past its bound is not parsed; it becomes an
//! incomplete-scan note and an unread database (the check is skipped, and says so).

use super::{Analyzer, FileCtx, LayerFacts, Signal};
use crate::pkgdb::{self, DbContent, DbFile, Kind, Limits};

struct Current {
    kind: Kind,
    path: String,
    buf: Vec<u8>,
    over: bool,
}

/// Captures package-database files of one layer.
#[derive(Default)]
pub struct PkgDbCapture {
    cur: Option<Current>,
    info_bytes: u64,
    files: Vec<DbFile>,
    notes: Vec<String>,
}

impl PkgDbCapture {
    fn unread(&mut self, layer: usize, path: &str, why: String) {
        self.notes.push(format!(
            "layer {layer}: {path}: {why}; the package check skipped it"
        ));
        self.files.push(DbFile {
            path: path.to_string(),
            content: DbContent::Unread(why),
            partial: None,
        });
    }
}

fn is_info(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::DpkgMd5sums | Kind::DpkgList | Kind::DpkgStatusD | Kind::DpkgDiversions
    )
}

impl Analyzer for PkgDbCapture {
    fn name(&self) -> &'static str {
        "pkgdb"
    }
    fn file_start(&mut self, file: &FileCtx) -> bool {
        self.cur = None;
        let e = file.entry;
        if !file.inside.is_empty() || e.kind != crate::image::EntryKind::File {
            return false;
        }
        let Some(kind) = Kind::of(&e.path) else {
            return false;
        };
        if kind == Kind::RpmOld {
            // Not a bound: a format we do not read. Reported as a skipped check only.
            self.files.push(pkgdb::parse(kind, &e.path, &[]));
            return false;
        }
        let limit = kind.limit();
        if e.size > limit {
            let why = format!(
                "{} bytes, over the {} MiB bound for this package-database file",
                e.size,
                limit >> 20
            );
            self.unread(e.layer, &e.path, why);
            return false;
        }
        if is_info(kind) {
            if self.info_bytes + e.size > Limits::INFO_TOTAL_BYTES {
                let why = format!(
                    "dpkg info files of this layer exceed {} MiB together",
                    Limits::INFO_TOTAL_BYTES >> 20
                );
                self.unread(e.layer, &e.path, why);
                return false;
            }
            self.info_bytes += e.size;
        }
        self.cur = Some(Current {
            kind,
            path: e.path.clone(),
            buf: Vec::with_capacity(e.size as usize),
            over: false,
        });
        true
    }
    fn file_chunk(&mut self, data: &[u8], _offset: u64) {
        if let Some(c) = &mut self.cur {
            if c.buf.len() as u64 + data.len() as u64 > c.kind.limit() {
                c.over = true;
            } else if !c.over {
                c.buf.extend_from_slice(data);
            }
        }
    }
    fn file_end(&mut self, file: &FileCtx, truncated: bool, _out: &mut Vec<Signal>) {
        let Some(c) = self.cur.take() else {
            return;
        };
        if truncated || c.over {
            let why = "cut at a bound before its end".to_string();
            self.unread(file.entry.layer, &c.path, why);
            return;
        }
        let f = pkgdb::parse(c.kind, &c.path, &c.buf);
        if let Some(p) = &f.partial {
            self.notes.push(format!(
                "layer {}: {}: read in part ({p})",
                file.entry.layer, c.path
            ));
        }
        self.files.push(f);
    }
    fn facts(&mut self, out: &mut LayerFacts) {
        out.pkgdb.files.append(&mut self.files);
        out.notes.append(&mut self.notes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::{EntryKind, FileEntry};

    fn entry(path: &str, size: u64) -> FileEntry {
        FileEntry {
            layer: 2,
            layer_digest: "sha256:l2".into(),
            path: path.into(),
            kind: EntryKind::File,
            mode: 0o644,
            size,
            link_target: None,
            hidden_by: None,
        }
    }

    fn feed(c: &mut PkgDbCapture, e: &FileEntry, chunks: &[&[u8]], truncated: bool) {
        let ctx = FileCtx {
            entry: e,
            inside: &[],
            head: chunks.first().copied().unwrap_or(b""),
        };
        if c.file_start(&ctx) {
            let mut off = 0;
            for ch in chunks {
                c.file_chunk(ch, off);
                off += ch.len() as u64;
            }
        }
        c.file_end(&ctx, truncated, &mut Vec::new());
    }

    #[test]
    fn bounds_are_reported_not_silent() {
        let mut c = PkgDbCapture::default();
        // A md5sums file claiming 1 GiB: not read, reported.
        let big = entry("var/lib/dpkg/info/evil.md5sums", 1 << 30);
        feed(&mut c, &big, &[b"0123"], false);
        // A status file cut at the walker's bound.
        let cut = entry("var/lib/dpkg/status", 10_000);
        feed(&mut c, &cut, &[b"Package: a\n"], true);
        // A status file whose content runs past its declared bound (a lying header).
        let ok = entry("var/lib/dpkg/status", 12);
        feed(&mut c, &ok, &[b"Package: a\n\n"], false);
        // Not a database file: ignored.
        feed(&mut c, &entry("etc/passwd", 5), &[b"root\n"], false);
        let mut f = LayerFacts::default();
        c.facts(&mut f);
        assert_eq!(f.pkgdb.files.len(), 3);
        assert!(matches!(f.pkgdb.files[0].content, DbContent::Unread(_)));
        assert!(matches!(f.pkgdb.files[1].content, DbContent::Unread(_)));
        assert!(matches!(f.pkgdb.files[2].content, DbContent::Packages(_)));
        assert_eq!(f.notes.len(), 2, "{:?}", f.notes);
        assert!(f.notes[0].contains("1073741824 bytes"), "{}", f.notes[0]);
    }
}
