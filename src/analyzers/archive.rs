//! Nested archives: a `.tar`, `.tar.gz`/`.tgz` or `.zip` inside an image (XMRig ships as a
//! release tarball) is opened from the same stream the outer file is read from, and its
//! entries go through the analyzers at the next depth.
//!
//! Bounds: depth ≤ `limits.nesting`; at most `limits.file_bytes` decompressed bytes per
//! archive and per entry; at most `limits.entries_per_layer` entries per archive; a zip
//! (which needs random access) is buffered only up to [`ZIP_BUFFER_BYTES`]. Reaching a
//! bound is a `LimitHit`; an archive that cannot be read to the end is an
//! `ArchiveUnreadable` signal.
//!
//! Detection: tar by the `ustar` magic whatever the name; gzip-compressed tar and zip only
//! when the name says so (`.tar.gz`, `.tgz`, `.zip`), so the thousands of `.gz` documents
//! of a distribution are not decompressed.

use super::visitor::{display_path, AnalyzerSet, ScanVisitor};
use super::{Signal, SignalKind, Subject};
use crate::image::{EntryKind, FileEntry};
use crate::limits::{LimitHit, LimitKind};
use std::io::{BufReader, Cursor, Read};

/// Bytes of a nested zip buffered for its central directory.
pub const ZIP_BUFFER_BYTES: usize = 32 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveKind {
    Tar,
    TarGz,
    Zip,
}

/// The archive kind of a file from its name and first bytes.
pub fn detect(path: &str, head: &[u8]) -> Option<ArchiveKind> {
    let lower = path.to_ascii_lowercase();
    if head.starts_with(&[0x1f, 0x8b]) && (lower.ends_with(".tar.gz") || lower.ends_with(".tgz")) {
        return Some(ArchiveKind::TarGz);
    }
    if head.starts_with(b"PK\x03\x04") && lower.ends_with(".zip") {
        return Some(ArchiveKind::Zip);
    }
    if head.len() >= 262 && &head[257..262] == b"ustar" {
        return Some(ArchiveKind::Tar);
    }
    None
}

/// Feeds every byte read through it to the outer file's analyzers.
struct Tee<'a> {
    inner: &'a mut dyn Read,
    set: &'a mut AnalyzerSet,
    wants: bool,
    offset: u64,
}

impl Read for Tee<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let k = self.inner.read(buf)?;
        if self.wants && k > 0 {
            self.set.chunk(&buf[..k], self.offset);
        }
        self.offset += k as u64;
        Ok(k)
    }
}

/// Counts bytes and stops at a budget, remembering that it did.
struct Budget<R> {
    inner: R,
    left: u64,
    hit: bool,
}

impl<R: Read> Read for Budget<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            // Is there more? One byte tells.
            let mut one = [0u8; 1];
            if self.inner.read(&mut one)? > 0 {
                self.hit = true;
            }
            return Ok(0);
        }
        let want = buf.len().min(self.left as usize);
        let k = self.inner.read(&mut buf[..want])?;
        self.left -= k as u64;
        Ok(k)
    }
}

/// Normalise a path inside a nested archive (no leading `/` or `./`, no `..`).
fn normalize(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

impl ScanVisitor {
    /// Open the nested archive whose first bytes are `head` and the rest `rest`; scan its
    /// entries at `depth + 1` while the outer analyzers in `set` see the raw bytes.
    /// Returns the raw bytes read from `rest`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn nested(
        &mut self,
        kind: ArchiveKind,
        set: &mut AnalyzerSet,
        entry: &FileEntry,
        inside: &[String],
        head: &[u8],
        rest: &mut dyn Read,
        depth: usize,
        out: &mut Vec<Signal>,
    ) -> std::io::Result<u64> {
        let wants = true;
        let mut tee = Tee {
            inner: rest,
            set,
            wants,
            offset: head.len() as u64,
        };
        let mut chain_inside = inside.to_vec();
        chain_inside.push(entry.path.clone());
        let shown = display_path(inside, &entry.path);
        let budget = self.limits.file_bytes;
        let result: Result<bool, String> = match kind {
            ArchiveKind::Tar | ArchiveKind::TarGz => {
                let raw = Cursor::new(head).chain(&mut tee);
                let raw = BufReader::with_capacity(super::visitor::CHUNK, raw);
                let mut stream: Budget<Box<dyn Read + '_>> = Budget {
                    inner: if kind == ArchiveKind::TarGz {
                        Box::new(flate2::read::GzDecoder::new(raw))
                    } else {
                        Box::new(raw)
                    },
                    left: budget,
                    hit: false,
                };
                let r = self.nested_tar(&mut stream, entry, &chain_inside, depth);
                if stream.hit {
                    Ok(true)
                } else {
                    r.map(|()| false)
                }
            }
            ArchiveKind::Zip => {
                let mut data = head.to_vec();
                let cap = ZIP_BUFFER_BYTES.saturating_sub(data.len()) as u64;
                (&mut tee).take(cap).read_to_end(&mut data)?;
                let mut probe = [0u8; 1];
                if data.len() >= ZIP_BUFFER_BYTES && tee.read(&mut probe)? > 0 {
                    self.scan.limits.push(LimitHit {
                        kind: LimitKind::FileBytes,
                        limit: ZIP_BUFFER_BYTES as u64,
                        layer: Some(entry.layer),
                        path: Some(shown.clone()),
                        detail: format!(
                            "zip {shown} is larger than the {} MiB imgscan buffers for nested zips; its entries were not opened",
                            ZIP_BUFFER_BYTES >> 20
                        ),
                    });
                    Ok(false)
                } else {
                    self.nested_zip(data, entry, &chain_inside, depth)
                }
            }
        };
        match result {
            Ok(true) => self.scan.limits.push(LimitHit {
                kind: LimitKind::FileBytes,
                limit: budget,
                layer: Some(entry.layer),
                path: Some(shown.clone()),
                detail: format!(
                    "nested archive {shown}: only the first {budget} decompressed bytes were scanned"
                ),
            }),
            Ok(false) => {}
            Err(why) => out.push(Signal {
                line: None,
                subject: Subject::File {
                    layer: entry.layer,
                    layer_digest: entry.layer_digest.clone(),
                    path: entry.path.clone(),
                    inside: inside.to_vec(),
                },
                kind: SignalKind::ArchiveUnreadable,
                signature: "nested-archive-unreadable".into(),
                offset: None,
                excerpt: why,
            }),
        }
        // The outer analyzers see the whole file even if the archive stopped early.
        std::io::copy(&mut tee, &mut std::io::sink())?;
        Ok(tee.offset - head.len() as u64)
    }

    fn inner_entry(
        outer: &FileEntry,
        path: &str,
        kind: EntryKind,
        mode: u32,
        size: u64,
    ) -> FileEntry {
        FileEntry {
            layer: outer.layer,
            layer_digest: outer.layer_digest.clone(),
            path: normalize(path),
            kind,
            mode,
            size,
            link_target: None,
            hidden_by: None,
        }
    }

    fn nested_tar(
        &mut self,
        stream: &mut dyn Read,
        outer: &FileEntry,
        inside: &[String],
        depth: usize,
    ) -> Result<(), String> {
        let mut ar = tar::Archive::new(stream);
        let entries = ar.entries().map_err(|e| format!("tar: {e}"))?;
        for (i, e) in entries.enumerate() {
            if i as u64 >= self.limits.entries_per_layer {
                self.scan.limits.push(LimitHit {
                    kind: LimitKind::EntriesPerLayer,
                    limit: self.limits.entries_per_layer,
                    layer: Some(outer.layer),
                    path: Some(display_path(&inside[..inside.len() - 1], &outer.path)),
                    detail:
                        "nested archive has more entries than the bound; the rest were not scanned"
                            .into(),
                });
                break;
            }
            let mut e = e.map_err(|e| format!("tar entry: {e}"))?;
            let h = e.header();
            let kind = match h.entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => EntryKind::File,
                tar::EntryType::Directory => EntryKind::Dir,
                tar::EntryType::Symlink => EntryKind::Symlink,
                tar::EntryType::Link => EntryKind::Hardlink,
                _ => EntryKind::Other,
            };
            let mode = h.mode().unwrap_or(0);
            let size = h.size().unwrap_or(0);
            let path = String::from_utf8_lossy(&e.path_bytes()).into_owned();
            let fe = Self::inner_entry(outer, &path, kind, mode, size);
            let mut content = (&mut e).take(self.limits.file_bytes);
            self.visit_file(&fe, inside, &mut content, depth + 1)
                .map_err(|e| format!("reading {path}: {e}"))?;
        }
        Ok(())
    }

    fn nested_zip(
        &mut self,
        data: Vec<u8>,
        outer: &FileEntry,
        inside: &[String],
        depth: usize,
    ) -> Result<bool, String> {
        let mut z = zip::ZipArchive::new(Cursor::new(data)).map_err(|e| format!("zip: {e}"))?;
        let mut left = self.limits.file_bytes;
        for i in 0..z.len() {
            if i as u64 >= self.limits.entries_per_layer || left == 0 {
                return Ok(true);
            }
            let mut f = z.by_index(i).map_err(|e| format!("zip entry {i}: {e}"))?;
            let kind = if f.is_dir() {
                EntryKind::Dir
            } else if f.is_symlink() {
                EntryKind::Symlink
            } else {
                EntryKind::File
            };
            let mode = f.unix_mode().unwrap_or(0o644);
            let fe = Self::inner_entry(outer, f.name(), kind, mode, f.size());
            let mut content = (&mut f).take(left.min(self.limits.file_bytes));
            let mut counted = Counting {
                inner: &mut content,
                n: 0,
            };
            let name = fe.path.clone();
            self.visit_file(&fe, inside, &mut counted, depth + 1)
                .map_err(|e| format!("reading {name}: {e}"))?;
            left = left.saturating_sub(counted.n);
        }
        Ok(false)
    }
}

struct Counting<'a> {
    inner: &'a mut dyn Read,
    n: u64,
}

impl Read for Counting<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.n += k as u64;
        Ok(k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_by_magic_and_name() {
        let mut tar_head = vec![0u8; 512];
        tar_head[257..262].copy_from_slice(b"ustar");
        assert_eq!(detect("any/name", &tar_head), Some(ArchiveKind::Tar));
        assert_eq!(detect("x.tgz", &[0x1f, 0x8b, 8]), Some(ArchiveKind::TarGz));
        assert_eq!(
            detect("usr/share/doc/a/changelog.gz", &[0x1f, 0x8b, 8]),
            None
        );
        assert_eq!(detect("a.zip", b"PK\x03\x04rest"), Some(ArchiveKind::Zip));
        assert_eq!(detect("a.txt", b"hello"), None);
    }

    #[test]
    fn normalizes_nested_paths() {
        assert_eq!(normalize("./a/../../b//c"), "b/c");
        assert_eq!(normalize("/etc/passwd"), "etc/passwd");
    }
}
