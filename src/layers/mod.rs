//! The layer walker: streams each layer blob, sniffs its compression from the bytes
//! (gzip, zstd, none), reads the tar (ustar, PAX, GNU long names) and hands each entry
//! with bounded access to its content to an [`EntryVisitor`]. Nothing is extracted to
//! disk. Whiteouts and opaque directories are applied afterwards in [`FsView`], which
//! gives the final filesystem and, for every entry, the later layer that hid it.
//!
//! Owns: decompression, tar parsing, path normalisation, the per-layer and image-wide
//! bounds (see [`crate::limits`]) and parallel walking ([`walk_image`]). Memory stays
//! bounded whatever the layer size: bytes stream through fixed buffers and only entry
//! metadata is kept, within the image's metadata budget ([`Limits::meta_bytes`]).
//!
//! The walker reads images through [`ImageLayers`] (implemented by the sources), so it
//! depends on no source. One layer's walk, step by step, is in `walker.rs`.

mod decode;
mod fs;
mod read;
mod walker;

pub use fs::FsView;

use crate::image::{FileEntry, LayerInfo};
use crate::limits::{LimitHit, Limits};
use read::Shared;
use std::io::{self, Read};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use walker::walk_layer_inner;

/// What the walker needs of an image: its layers, and a way to stream each blob.
/// Sources implement it (`source::OpenedImage`); tests may implement it over bytes.
pub trait ImageLayers: Sync {
    /// The layers in manifest order (index 0 = base).
    fn layer_list(&self) -> &[LayerInfo];
    /// The blob of `layer` as stored (compressed). The reader should fail on a digest
    /// mismatch at EOF; a failure to open is recorded as that layer's error.
    fn open_blob(&self, layer: &LayerInfo) -> crate::error::Result<Box<dyn Read + Send>>;
}

/// Detected from the first bytes, never from the media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    Gzip,
    Zstd,
    None,
}

impl Compression {
    /// Sniff from the first bytes of a blob.
    pub fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// Receives every entry of one layer, in tar order.
pub trait EntryVisitor: Send {
    /// `entry.hidden_by` is always None here (it is only known after all layers are read;
    /// use FsView::hidden_by afterwards). For regular files `content` yields the file's
    /// bytes, at most `limits.file_bytes` of them (the walker itself records a FileBytes
    /// LimitHit when a file is larger); for every other kind it yields nothing. The
    /// visitor may read any prefix of it (or none); the walker skips the rest.
    /// An Err from the visitor is recorded as the layer's error and stops that layer.
    fn visit(&mut self, entry: &FileEntry, content: &mut dyn Read) -> io::Result<()>;
}

/// A visitor that looks at nothing (metadata is still collected by the walker).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoopVisitor;

impl EntryVisitor for NoopVisitor {
    fn visit(&mut self, _: &FileEntry, _: &mut dyn Read) -> io::Result<()> {
        Ok(())
    }
}

/// At most this many unsafe (absolute or escaping) entry names are kept per layer.
pub const MAX_UNSAFE_PATHS: usize = 100;
/// Bytes of tar metadata (headers, GNU long names, PAX records) allowed between two
/// entries; more is treated as a corrupt tar rather than buffered.
const MAX_TAR_META_BYTES: u64 = 1 << 20;

/// Largest zstd window accepted (2^24 = 16 MiB). A frame may demand up to 2 GiB of window
/// memory; everything real registries serve (levels 1-19, Docker/buildkit default 3) fits.
/// Larger windows (`--ultra -22`, `--long`) are refused with a clear error so memory stays
/// bounded whatever the layer says.
pub const ZSTD_WINDOW_LOG_MAX: u32 = 24;

/// What walking one layer saw.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LayerWalk {
    pub layer: LayerInfo,
    pub compression: Compression,
    pub compressed_bytes: u64,
    pub uncompressed_bytes: u64,
    pub entries: u64,
    /// Bounds reached inside this layer (each also makes the scan incomplete).
    pub limits: Vec<LimitHit>,
    /// Set when the layer could not be read to the end (truncated stream, digest mismatch,
    /// corrupt tar, visitor error): the text names the layer digest and cause.
    pub error: Option<String>,
    /// Original names of entries that were absolute or escaped with `..` (at most
    /// [`MAX_UNSAFE_PATHS`]); they were normalised into the image root.
    pub unsafe_paths: Vec<String>,
    /// How many such entries there were in total.
    pub unsafe_path_count: u64,
}

impl LayerWalk {
    fn new(layer: &LayerInfo) -> Self {
        LayerWalk {
            layer: layer.clone(),
            compression: Compression::None,
            compressed_bytes: 0,
            uncompressed_bytes: 0,
            entries: 0,
            limits: Vec::new(),
            error: None,
            unsafe_paths: Vec::new(),
            unsafe_path_count: 0,
        }
    }
}

/// A whiteout seen in a layer: `.wh.NAME` deletes `path`; `.wh..wh..opq` makes `path`
/// (a directory) opaque.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Whiteout {
    pub path: String,
    pub opaque: bool,
}

/// Metadata of one layer kept for [`FsView`].
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct LayerMeta {
    pub entries: Vec<FileEntry>,
    pub whiteouts: Vec<Whiteout>,
}

/// Normalise an entry name lexically into the image root: no leading `/` or `./`, no
/// `.` or `..` components, no trailing `/`. Returns the path and whether the name was
/// unsafe (absolute, or `..` tried to climb above the root).
pub fn normalize_path(name: &str) -> (String, bool) {
    // Most names are normal already but for a leading `./` (one copy, no parts list).
    let plain = name.trim_start_matches("./");
    if !name.starts_with('/')
        && !plain.is_empty()
        && plain.split('/').all(|c| !matches!(c, "" | "." | ".."))
    {
        return (plain.to_string(), false);
    }
    let mut unsafe_name = name.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    unsafe_name = true;
                }
            }
            c => parts.push(c),
        }
    }
    (parts.join("/"), unsafe_name)
}

fn short_digest(d: &str) -> &str {
    d.get(..19).unwrap_or(d)
}

/// Walk one layer blob (compressed bytes as stored).
pub fn walk_layer(
    blob: Box<dyn Read + Send>,
    layer: &LayerInfo,
    limits: &Limits,
    visitor: &mut dyn EntryVisitor,
) -> LayerWalk {
    let shared = Shared::new(limits);
    let (walk, _meta) = walk_layer_inner(blob, layer, limits, visitor, &shared, false);
    let mut walk = walk;
    walk.limits.extend(shared.take_hits());
    walk
}

/// Result of walking all layers of an image.
pub struct ImageWalk<V> {
    /// In layer order.
    pub layers: Vec<LayerWalk>,
    /// One per layer, in layer order.
    pub visitors: Vec<V>,
    pub fs: FsView,
    /// Image-wide bounds reached (ImageBytes, Timeout) — layer ones are in `layers[i].limits`.
    pub limits: Vec<LimitHit>,
}

impl<V> ImageWalk<V> {
    /// Every LimitHit and layer error as a sentence; non-empty = incomplete scan.
    pub fn incomplete(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for l in &self.layers {
            out.extend(l.limits.iter().map(|h| h.detail.clone()));
            if let Some(e) = &l.error {
                out.push(e.clone());
            }
        }
        out.extend(self.limits.iter().map(|h| h.detail.clone()));
        out
    }
}

/// Open and walk every layer, up to `parallel` at once (threads), each with its own
/// visitor made by `new_visitor`. Results in layer order whatever order they finish in.
pub fn walk_image<V: EntryVisitor>(
    image: &(impl ImageLayers + ?Sized),
    limits: &Limits,
    parallel: usize,
    new_visitor: impl Fn(&LayerInfo) -> V + Sync,
) -> ImageWalk<V> {
    walk_image_known(image, limits, parallel, Vec::new(), false, new_visitor).0
}

/// [`walk_image`], except that a layer whose `known[i]` is `Some` is never opened (so never
/// downloaded): its metadata is taken as given (a cache hit), its [`LayerWalk`] is empty and
/// its visitor is made but fed nothing. With `keep`, also returns a copy of the metadata of
/// every layer that was walked (for the cache); `None` for the known ones.
pub(crate) fn walk_image_known<V: EntryVisitor>(
    image: &(impl ImageLayers + ?Sized),
    limits: &Limits,
    parallel: usize,
    mut known: Vec<Option<LayerMeta>>,
    keep: bool,
    new_visitor: impl Fn(&LayerInfo) -> V + Sync,
) -> (ImageWalk<V>, Vec<Option<LayerMeta>>) {
    let shared = Shared::new(limits);
    let layers = image.layer_list();
    let n = layers.len();
    let next = AtomicUsize::new(0);
    type Slot<V> = Option<(LayerWalk, V, LayerMeta)>;
    let slots: Mutex<Vec<Slot<V>>> = Mutex::new((0..n).map(|_| None).collect());
    let workers = parallel.clamp(1, n.max(1));
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= n {
                    break;
                }
                let layer = &layers[i];
                let mut visitor = new_visitor(layer);
                let result = if known.get(i).is_some_and(Option::is_some) {
                    (LayerWalk::new(layer), LayerMeta::default())
                } else if shared.expired() {
                    shared.note_timeout(i);
                    let mut w = LayerWalk::new(layer);
                    w.error = None;
                    (w, LayerMeta::default())
                } else {
                    match image.open_blob(layer) {
                        Ok(blob) => {
                            walk_layer_inner(blob, layer, limits, &mut visitor, &shared, true)
                        }
                        Err(e) => {
                            let mut w = LayerWalk::new(layer);
                            w.error = Some(format!(
                                "layer {} ({}): {e}",
                                layer.index,
                                short_digest(&layer.digest)
                            ));
                            (w, LayerMeta::default())
                        }
                    }
                };
                let mut g = slots.lock().unwrap_or_else(|p| p.into_inner());
                g[i] = Some((result.0, visitor, result.1));
            });
        }
    });
    let slots = slots.into_inner().unwrap_or_else(|p| p.into_inner());
    let mut walks = Vec::with_capacity(n);
    let mut visitors = Vec::with_capacity(n);
    let mut metas = Vec::with_capacity(n);
    for (w, v, m) in slots.into_iter().flatten() {
        walks.push(w);
        visitors.push(v);
        metas.push(m);
    }
    known.resize_with(n, || None);
    let mut kept = Vec::with_capacity(if keep { n } else { 0 });
    for (m, k) in metas.iter_mut().zip(known) {
        match k {
            Some(k) => {
                *m = k;
                if keep {
                    kept.push(None);
                }
            }
            None if keep => kept.push(Some(m.clone())),
            None => {}
        }
    }
    let fs = FsView::build(metas);
    let walk = ImageWalk {
        layers: walks,
        visitors,
        fs,
        limits: shared.take_hits(),
    };
    (walk, kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_paths() {
        assert_eq!(normalize_path("./usr/bin/x"), ("usr/bin/x".into(), false));
        assert_eq!(normalize_path("usr/bin/"), ("usr/bin".into(), false));
        assert_eq!(normalize_path("a/../b"), ("b".into(), false));
        assert_eq!(normalize_path("/abs/path"), ("abs/path".into(), true));
        assert_eq!(
            normalize_path("../../etc/passwd"),
            ("etc/passwd".into(), true)
        );
        assert_eq!(normalize_path("a/../../b"), ("b".into(), true));
        assert_eq!(normalize_path("./"), ("".into(), false));
        // The names the quick path must leave to the full one, and those it takes.
        assert_eq!(normalize_path("././a//b/./c"), ("a/b/c".into(), false));
        assert_eq!(normalize_path(".//a"), ("a".into(), false));
        assert_eq!(normalize_path("./.."), ("".into(), true));
        assert_eq!(normalize_path("a/b/.."), ("a".into(), false));
        assert_eq!(normalize_path("./a.b/..c/.d"), ("a.b/..c/.d".into(), false));
        assert_eq!(normalize_path("."), ("".into(), false));
    }

    #[test]
    fn sniffs_compression() {
        assert_eq!(Compression::sniff(&[0x1f, 0x8b, 8, 0]), Compression::Gzip);
        assert_eq!(
            Compression::sniff(&[0x28, 0xb5, 0x2f, 0xfd]),
            Compression::Zstd
        );
        assert_eq!(Compression::sniff(b"usr/"), Compression::None);
        assert_eq!(Compression::sniff(&[]), Compression::None);
    }
}
