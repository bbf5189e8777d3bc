//! Local sources: docker-archive (docker save), oci-archive (a tar of an OCI layout) and
//! OCI layout directories.
//!
//! Owns: [`Store`], which reads members of a directory or of a tar archive without
//! extracting anything: a tar is indexed once (member name → offset and size), and each
//! blob is then read by seeking a fresh file handle to its offset, so layers are never
//! buffered. JSON documents are bounded by `limits.json_bytes` and digest-checked; layers
//! are streamed through [`DigestReader`] bounded by `limits.blob_bytes`.
//! The formats themselves are in `oci_layout.rs` and `docker_archive.rs`.

use super::{LayerSource, OpenedImage, SourceOptions};
use crate::digest::{sha256_digest, DigestReader};
use crate::error::{Error, Result, Step};
use crate::image::LayerInfo;
use crate::reference::{valid_digest, LocalKind, Selector};
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Members a tar archive may have before we refuse to index it.
const MAX_MEMBERS: usize = 1_000_000;
/// Symlink hops when resolving a member of a tar archive.
const MAX_MEMBER_HOPS: usize = 8;

/// Open the image(s) a local archive or layout holds.
pub fn open(
    kind: LocalKind,
    path: &Path,
    select: Option<&Selector>,
    opts: &SourceOptions,
) -> Result<Vec<OpenedImage>> {
    let target = describe(kind, path, select);
    let store = match kind {
        LocalKind::OciDir => Store::dir(path),
        LocalKind::OciArchive | LocalKind::DockerArchive => Store::tar(path),
    }
    .map_err(|e| Error::new(Step::Opening, &target, e))?;
    let store = Arc::new(store);
    match kind {
        LocalKind::DockerArchive => super::docker_archive::open(store, &target, select, opts),
        LocalKind::OciDir | LocalKind::OciArchive => {
            super::oci_layout::open(store, &target, select, opts)
        }
    }
}

/// `oci-archive:/x.tar:tag` — the target as messages and reports name it.
pub(crate) fn describe(kind: LocalKind, path: &Path, select: Option<&Selector>) -> String {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut s = format!("{}:{}", kind.scheme(), abs.display());
    match select {
        Some(Selector::Tag(t)) => s.push_str(&format!(":{t}")),
        Some(Selector::Digest(d)) => s.push_str(&format!("@{d}")),
        None => {}
    }
    s
}

#[derive(Debug, Clone)]
pub(crate) enum Member {
    File { offset: u64, size: u64 },
    Link(String),
}

/// Where blobs live: a directory, members of a tar archive (indexed, never extracted), or
/// a daemon's content store laid out as an OCI layout ([`Members`]).
#[derive(Debug)]
pub(crate) enum Store {
    Dir(PathBuf),
    Tar {
        path: PathBuf,
        members: HashMap<String, Member>,
    },
    #[cfg_attr(not(feature = "containerd"), allow(dead_code))]
    Other(Box<dyn Members>),
}

/// Layout members served by something other than files (containerd's content store):
/// `oci-layout`, `index.json` and `blobs/<alg>/<hex>`, as [`Store::has`] and
/// [`Store::open`] see them.
pub(crate) trait Members: Send + Sync + std::fmt::Debug {
    /// What holds the blobs, for messages (`containerd content store`).
    fn kind(&self) -> &'static str;
    fn has(&self, name: &str) -> bool;
    fn open(&self, name: &str) -> io::Result<Option<(Box<dyn Read + Send>, u64)>>;
}

fn member_name(raw: &[u8]) -> String {
    let s = String::from_utf8_lossy(raw);
    crate::layers::normalize_path(&s).0
}

impl Store {
    fn dir(path: &Path) -> std::result::Result<Store, String> {
        if !path.is_dir() {
            return Err("not a directory".into());
        }
        Ok(Store::Dir(path.to_path_buf()))
    }

    /// Index a tar archive: one pass over its headers (data is skipped by seeking).
    fn tar(path: &Path) -> std::result::Result<Store, String> {
        let f = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
        let mut ar = tar::Archive::new(f);
        let mut members = HashMap::new();
        let entries = ar
            .entries_with_seek()
            .map_err(|e| format!("not a tar archive: {e}"))?;
        for e in entries {
            let e = e.map_err(|e| format!("corrupt tar archive: {e}"))?;
            if members.len() >= MAX_MEMBERS {
                return Err(format!(
                    "more than {MAX_MEMBERS} members; not an image archive"
                ));
            }
            let name = member_name(&e.path_bytes());
            let h = e.header();
            let m = match h.entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => Member::File {
                    offset: e.raw_file_position(),
                    size: h
                        .entry_size()
                        .map_err(|e| format!("corrupt tar header: {e}"))?,
                },
                tar::EntryType::Symlink => {
                    let t = e
                        .link_name_bytes()
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                        .unwrap_or_default();
                    let dir = name.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
                    let joined = if t.starts_with('/') {
                        t
                    } else {
                        format!("{dir}/{t}")
                    };
                    Member::Link(member_name(joined.as_bytes()))
                }
                tar::EntryType::Link => {
                    Member::Link(member_name(&e.link_name_bytes().unwrap_or_default()))
                }
                _ => continue,
            };
            members.insert(name, m);
        }
        if members.is_empty() {
            return Err("not a tar archive, or an empty one".into());
        }
        Ok(Store::Tar {
            path: path.to_path_buf(),
            members,
        })
    }

    fn locate(&self, name: &str) -> Option<(u64, u64)> {
        let Store::Tar { members, .. } = self else {
            return None;
        };
        let mut n = name.to_string();
        for _ in 0..=MAX_MEMBER_HOPS {
            match members.get(&n)? {
                Member::File { offset, size } => return Some((*offset, *size)),
                Member::Link(t) => n = t.clone(),
            }
        }
        None
    }

    /// Whether `name` (a path relative to the layout root) exists.
    pub fn has(&self, name: &str) -> bool {
        match self {
            Store::Dir(root) => safe_join(root, name).is_some_and(|p| p.is_file()),
            Store::Tar { .. } => self.locate(name).is_some(),
            Store::Other(m) => m.has(name),
        }
    }

    /// What holds the blobs, for messages: `layout`, `archive`, or the store's own name.
    pub fn kind(&self) -> &'static str {
        match self {
            Store::Dir(_) => "layout",
            Store::Tar { .. } => "archive",
            Store::Other(m) => m.kind(),
        }
    }

    /// Open a member; `Ok(None)` when it does not exist. Returns the reader and size.
    pub fn open(&self, name: &str) -> io::Result<Option<(Box<dyn Read + Send>, u64)>> {
        match self {
            Store::Dir(root) => {
                let Some(p) = safe_join(root, name) else {
                    return Ok(None);
                };
                match File::open(&p) {
                    Ok(f) => {
                        let size = f.metadata()?.len();
                        Ok(Some((Box::new(f), size)))
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(e),
                }
            }
            Store::Tar { path, .. } => {
                let Some((offset, size)) = self.locate(name) else {
                    return Ok(None);
                };
                let mut f = File::open(path)?;
                f.seek(SeekFrom::Start(offset))?;
                Ok(Some((Box::new(f.take(size)), size)))
            }
            Store::Other(m) => m.open(name),
        }
    }

    /// Read a small document, at most `max` bytes. Err names the cause.
    pub fn read_small(&self, name: &str, max: u64) -> std::result::Result<Vec<u8>, String> {
        let (r, size) = self
            .open(name)
            .map_err(|e| format!("{name}: {e}"))?
            .ok_or_else(|| format!("{name} is missing"))?;
        if size > max {
            return Err(format!(
                "{name} is {size} bytes, larger than the {max}-byte limit (raise with {} N)",
                crate::limits::LimitKind::JsonBytes.flag()
            ));
        }
        let mut buf = Vec::with_capacity(size as usize);
        r.take(max + 1)
            .read_to_end(&mut buf)
            .map_err(|e| format!("{name}: {e}"))?;
        if buf.len() as u64 > max {
            return Err(format!("{name} is larger than the {max}-byte limit"));
        }
        Ok(buf)
    }

    /// Read a JSON blob by digest from `blobs/<alg>/<hex>`, bounded and verified.
    pub fn read_blob_json(
        &self,
        what: &str,
        digest: &str,
        max: u64,
    ) -> std::result::Result<Vec<u8>, String> {
        let name =
            blob_path(digest).ok_or_else(|| format!("{what} digest {digest:?} is malformed"))?;
        if !self.has(&name) {
            return Err(format!(
                "{what} {digest} is missing from the {}",
                self.kind()
            ));
        }
        let bytes = self.read_small(&name, max)?;
        verify(what, digest, &bytes)?;
        Ok(bytes)
    }

    /// Peek at the first bytes of a member.
    pub fn head(&self, name: &str, n: usize) -> io::Result<Vec<u8>> {
        let Some((r, _)) = self.open(name)? else {
            return Ok(Vec::new());
        };
        let mut v = Vec::with_capacity(n);
        r.take(n as u64).read_to_end(&mut v)?;
        Ok(v)
    }

    /// sha256 of a member, streamed, at most `max` bytes.
    pub fn hash(&self, name: &str, max: u64) -> std::result::Result<String, String> {
        use sha2::{Digest, Sha256};
        let (mut r, size) = self
            .open(name)
            .map_err(|e| format!("{name}: {e}"))?
            .ok_or_else(|| format!("{name} is missing"))?;
        if size > max {
            return Err(format!(
                "{name} is {size} bytes, larger than the {max}-byte limit (raise with {} N)",
                crate::limits::LimitKind::BlobBytes.flag()
            ));
        }
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 256 << 10];
        loop {
            let n = r.read(&mut buf).map_err(|e| format!("{name}: {e}"))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        Ok(format!("sha256:{}", hex::encode(h.finalize())))
    }
}

/// Join a relative member name under `root`, refusing anything that would leave it.
fn safe_join(root: &Path, name: &str) -> Option<PathBuf> {
    let (n, escaped) = crate::layers::normalize_path(name);
    if escaped || n.is_empty() {
        return None;
    }
    Some(root.join(n))
}

/// `blobs/sha256/<hex>` for a valid digest.
pub(crate) fn blob_path(digest: &str) -> Option<String> {
    if !valid_digest(digest) {
        return None;
    }
    let (alg, hex) = digest.split_once(':')?;
    Some(format!("blobs/{alg}/{hex}"))
}

/// Check a small document against its digest (sha256 only).
pub(crate) fn verify(what: &str, digest: &str, bytes: &[u8]) -> std::result::Result<(), String> {
    if !digest.starts_with("sha256:") {
        return Err(format!(
            "{what} digest {digest} uses an unsupported algorithm"
        ));
    }
    let actual = sha256_digest(bytes);
    if actual != digest {
        return Err(format!(
            "{what} digest mismatch: expected {digest}, got {actual}"
        ));
    }
    Ok(())
}

/// Streams layers of a local image: member name per layer digest.
pub(crate) struct LocalLayers {
    pub store: Arc<Store>,
    pub target: String,
    /// Layer digest → member name.
    pub names: HashMap<String, String>,
    pub blob_bytes: u64,
}

impl LayerSource for LocalLayers {
    fn open_layer(&self, layer: &LayerInfo) -> Result<Box<dyn Read + Send>> {
        let err = |c: String| Error::new(Step::ReadingLayer, &self.target, c);
        let name = self
            .names
            .get(&layer.digest)
            .cloned()
            .or_else(|| blob_path(&layer.digest))
            .ok_or_else(|| err(format!("layer {} has a malformed digest", layer.digest)))?;
        let (r, _) = self
            .store
            .open(&name)
            .map_err(|e| err(format!("layer {}: {e}", layer.digest)))?
            .ok_or_else(|| err(format!("layer {} is missing", layer.digest)))?;
        let r = DigestReader::new(r, &layer.digest, self.blob_bytes)
            .map_err(|e| err(format!("layer {}: {e}", layer.digest)))?;
        Ok(Box::new(r))
    }
}

/// What a manifest's layer media type says about the blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MediaClass {
    /// A filesystem layer (compression is still sniffed from the bytes).
    Layer,
    /// Clearly not a filesystem layer (attestation, signature, JSON, empty descriptor).
    NotLayer,
    /// Unknown: treated as a layer and sniffed.
    Unknown,
}

pub(crate) fn classify_media_type(mt: &str) -> MediaClass {
    let m = mt.to_ascii_lowercase();
    if m.contains("in-toto")
        || m.ends_with("+json")
        || m.ends_with("/json")
        || m.contains("signature")
        || m.contains("cosign")
        || m.starts_with("text/")
        || m == "application/vnd.oci.empty.v1+json"
    {
        MediaClass::NotLayer
    } else if m.starts_with("application/vnd.oci.image.layer.")
        || m.starts_with("application/vnd.docker.image.rootfs.")
        || m == "application/x-tar"
    {
        MediaClass::Layer
    } else {
        MediaClass::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types() {
        use MediaClass::*;
        assert_eq!(
            classify_media_type("application/vnd.oci.image.layer.v1.tar+gzip"),
            Layer
        );
        assert_eq!(
            classify_media_type("application/vnd.docker.image.rootfs.diff.tar.gzip"),
            Layer
        );
        assert_eq!(
            classify_media_type("application/vnd.in-toto+json"),
            NotLayer
        );
        assert_eq!(classify_media_type("application/x-mystery"), Unknown);
    }

    #[test]
    fn joins_stay_inside() {
        let r = Path::new("/r");
        assert_eq!(
            safe_join(r, "blobs/sha256/ab"),
            Some(PathBuf::from("/r/blobs/sha256/ab"))
        );
        assert_eq!(safe_join(r, "../x"), None);
        assert_eq!(safe_join(r, "/etc/passwd"), None);
    }
}
