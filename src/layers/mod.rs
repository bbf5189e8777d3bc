//! The layer walker: streams each layer blob, sniffs its compression from the bytes
//! (gzip, zstd, none), reads the tar (ustar, PAX, GNU long names) and hands each entry
//! with bounded access to its content to an [`EntryVisitor`]. Nothing is extracted to
//! disk. Whiteouts and opaque directories are applied afterwards in [`FsView`], which
//! gives the final filesystem and, for every entry, the later layer that hid it.
//!
//! Owns: decompression, tar parsing, path normalisation, the per-layer and image-wide
//! bounds (see [`crate::limits`]) and parallel walking ([`walk_image`]). Memory stays
//! bounded whatever the layer size: bytes stream through fixed buffers and only entry
//! metadata is kept.

mod decode;
mod fs;
mod read;

pub use fs::FsView;

use crate::image::{EntryKind, FileEntry, LayerInfo};
use crate::limits::{LimitHit, LimitKind, Limits};
use crate::source::OpenedImage;
use read::{Counter, LimitState, Limited, Shared, SharedRaw};
use std::cell::RefCell;
use std::io::{self, Read};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

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

/// Adds a hint to zstd's terse "Frame requires too much memory" error.
struct ZstdHint<R>(R);

impl<R: Read> Read for ZstdHint<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).map_err(|e| {
            if e.to_string().contains("too much memory") {
                io::Error::new(
                    e.kind(),
                    format!(
                        "{e}: the zstd frame needs a window over {} MiB, refused to keep memory \
                         bounded",
                        (1u64 << ZSTD_WINDOW_LOG_MAX) >> 20
                    ),
                )
            } else {
                e
            }
        })
    }
}

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

fn kind_of(t: tar::EntryType) -> EntryKind {
    use tar::EntryType as T;
    match t {
        T::Regular | T::Continuous | T::GNUSparse => EntryKind::File,
        T::Directory => EntryKind::Dir,
        T::Symlink => EntryKind::Symlink,
        T::Link => EntryKind::Hardlink,
        T::Char => EntryKind::CharDevice,
        T::Block => EntryKind::BlockDevice,
        T::Fifo => EntryKind::Fifo,
        _ => EntryKind::Other,
    }
}

fn short_digest(d: &str) -> &str {
    d.get(..19).unwrap_or(d)
}

/// Per-kind counters so a layer with a million long paths keeps one LimitHit, not a
/// million.
#[derive(Default)]
struct HitCounts {
    path_len: u64,
    file_bytes: u64,
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

/// The walker proper. `shared` carries the image-wide byte count and deadline;
/// `keep_meta` collects entry metadata for [`FsView`].
fn walk_layer_inner(
    blob: Box<dyn Read + Send>,
    layer: &LayerInfo,
    limits: &Limits,
    visitor: &mut dyn EntryVisitor,
    shared: &Shared,
    keep_meta: bool,
) -> (LayerWalk, LayerMeta) {
    let mut walk = LayerWalk::new(layer);
    let mut meta = LayerMeta::default();
    let who = format!("layer {} ({})", layer.index, layer.digest);

    // The raw (compressed) stream, counted, shared between the decoder and the final drain.
    let counter = Counter::default();
    let raw = SharedRaw::new(read::read_ahead(blob), counter.clone());
    let mut head = [0u8; 4];
    let mut got = 0;
    let mut raw_reader = raw.clone();
    while got < head.len() {
        match raw_reader.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                walk.error = Some(format!("{who}: {e}"));
                walk.compressed_bytes = counter.get();
                return (walk, meta);
            }
        }
    }
    let compression = Compression::sniff(&head[..got]);
    walk.compression = compression;
    let prefixed = io::Cursor::new(head[..got].to_vec()).chain(raw.clone());
    let decoded: Box<dyn Read + Send> = match compression {
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(
            io::BufReader::with_capacity(256 << 10, prefixed),
        )),
        Compression::Zstd => match zstd::stream::read::Decoder::new(prefixed).and_then(|mut d| {
            d.window_log_max(ZSTD_WINDOW_LOG_MAX)?;
            Ok(d)
        }) {
            Ok(d) => Box::new(ZstdHint(d)),
            Err(e) => {
                walk.error = Some(format!("{who}: starting zstd decoder: {e}"));
                return (walk, meta);
            }
        },
        Compression::None => Box::new(io::BufReader::with_capacity(128 << 10, prefixed)),
    };
    // Compressed layers are decoded on a thread of their own, ahead of the tar reader.
    let (decoded, finish): (Box<dyn Read>, _) = if compression == Compression::None {
        (decoded, None)
    } else {
        match decode::decode_ahead(decoded, raw.clone()) {
            Ok((d, f)) => (Box::new(d), Some(f)),
            Err(e) => {
                walk.error = Some(format!("{who}: starting the decoding thread: {e}"));
                return (walk, meta);
            }
        }
    };
    let state = Rc::new(RefCell::new(LimitState::default()));
    let limited = Limited::new(
        decoded,
        state.clone(),
        limits,
        shared,
        layer.index,
        &layer.digest,
    );
    let mut archive = tar::Archive::new(limited);
    let mut counts = HitCounts::default();
    // Bytes GNU sparse entries expand to: their holes cost reading though never stored.
    let mut sparse_bytes: u64 = 0;
    // One buffer per layer for skipping data: large reads keep the decoder efficient.
    let mut scratch = vec![0u8; DRAIN_BUF];
    let mut tar_done = false;

    match archive.entries() {
        Err(e) => walk.error = Some(format!("{who}: reading tar: {e}")),
        Ok(entries) => {
            let mut entries = entries;
            loop {
                state.borrow_mut().begin_meta();
                let next = entries.next();
                state.borrow_mut().end_meta();
                let mut entry = match next {
                    None => {
                        tar_done = true;
                        break;
                    }
                    Some(Ok(e)) => e,
                    Some(Err(e)) => {
                        if !state.borrow().stopped() {
                            walk.error = Some(describe(&who, "reading tar", &e));
                        }
                        break;
                    }
                };
                let etype = entry.header().entry_type();
                if matches!(
                    etype,
                    tar::EntryType::XGlobalHeader | tar::EntryType::XHeader
                ) {
                    continue;
                }
                walk.entries += 1;
                if walk.entries > limits.entries_per_layer {
                    walk.entries -= 1;
                    walk.limits.push(LimitHit {
                        kind: LimitKind::EntriesPerLayer,
                        limit: limits.entries_per_layer,
                        layer: Some(layer.index),
                        path: None,
                        detail: format!(
                            "{who}: stopped after {} entries; later entries of the layer were \
                             not read (raise with {} N)",
                            limits.entries_per_layer,
                            LimitKind::EntriesPerLayer.flag()
                        ),
                    });
                    state.borrow_mut().stop();
                    break;
                }
                let raw_name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
                if raw_name.len() > limits.path_len {
                    counts.path_len += 1;
                    if counts.path_len == 1 {
                        let start: String = raw_name.chars().take(60).collect();
                        walk.limits.push(LimitHit {
                            kind: LimitKind::PathLen,
                            limit: limits.path_len as u64,
                            layer: Some(layer.index),
                            path: Some(start.clone()),
                            detail: format!(
                                "{who}: an entry with a {}-byte name ({start:?}...) was not \
                                 examined (raise with {} N)",
                                raw_name.len(),
                                LimitKind::PathLen.flag()
                            ),
                        });
                    }
                    if let Err(e) = drain(&mut entry, &mut scratch) {
                        if !state.borrow().stopped() {
                            walk.error = Some(describe(&who, "reading tar", &e));
                        }
                        break;
                    }
                    continue;
                }
                let (path, unsafe_name) = normalize_path(&raw_name);
                if unsafe_name {
                    walk.unsafe_path_count += 1;
                    if walk.unsafe_paths.len() < MAX_UNSAFE_PATHS {
                        walk.unsafe_paths.push(raw_name.clone());
                    }
                }
                // The root directory itself (`./`) is no entry of the filesystem view.
                if path.is_empty() {
                    if let Err(e) = drain(&mut entry, &mut scratch) {
                        if !state.borrow().stopped() {
                            walk.error = Some(describe(&who, "reading tar", &e));
                        }
                        break;
                    }
                    continue;
                }
                // Whiteouts are markers, not entries.
                let base = path.rsplit('/').next().unwrap_or("");
                if let Some(name) = base.strip_prefix(".wh.") {
                    let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
                    let w = if name == ".wh..opq" {
                        Whiteout {
                            path: dir.to_string(),
                            opaque: true,
                        }
                    } else {
                        Whiteout {
                            path: if dir.is_empty() {
                                name.to_string()
                            } else {
                                format!("{dir}/{name}")
                            },
                            opaque: false,
                        }
                    };
                    if keep_meta && !name.is_empty() {
                        meta.whiteouts.push(w);
                    }
                    continue;
                }
                let kind = kind_of(etype);
                let header = entry.header();
                let size = entry.size();
                let fe = FileEntry {
                    layer: layer.index,
                    layer_digest: layer.digest.clone(),
                    path,
                    kind,
                    mode: header.mode().unwrap_or(0),
                    size,
                    link_target: match kind {
                        EntryKind::Symlink | EntryKind::Hardlink => entry
                            .link_name_bytes()
                            .map(|b| String::from_utf8_lossy(&b).into_owned()),
                        _ => None,
                    },
                    hidden_by: None,
                };
                if etype == tar::EntryType::GNUSparse {
                    sparse_bytes = sparse_bytes.saturating_add(size);
                    if sparse_bytes > limits.layer_bytes {
                        walk.limits.push(LimitHit {
                            kind: LimitKind::LayerBytes,
                            limit: limits.layer_bytes,
                            layer: Some(layer.index),
                            path: Some(fe.path.clone()),
                            detail: format!(
                                "{who}: sparse entries up to {} expand to {sparse_bytes} bytes,                                  more than the layer may hold; not expanded, the rest of the                                  layer was not read (raise with {} N)",
                                fe.path,
                                LimitKind::LayerBytes.flag()
                            ),
                        });
                        state.borrow_mut().stop();
                        break;
                    }
                }
                let path_for_hit = if kind == EntryKind::File && size > limits.file_bytes {
                    fe.path.clone()
                } else {
                    String::new()
                };
                let visited = if kind == EntryKind::File {
                    let mut content = (&mut entry).take(limits.file_bytes);
                    visitor.visit(&fe, &mut content)
                } else {
                    visitor.visit(&fe, &mut io::empty())
                };
                if let Err(e) = visited {
                    if state.borrow().stopped() {
                        break;
                    }
                    walk.error = Some(format!("{who}: while examining {}: {e}", fe.path));
                    if keep_meta {
                        meta.entries.push(fe);
                    }
                    break;
                }
                if keep_meta {
                    meta.entries.push(fe);
                }
                // Skip what the visitor left so the next header read is pure metadata.
                if let Err(e) = drain(&mut entry, &mut scratch) {
                    if !state.borrow().stopped() {
                        walk.error = Some(describe(&who, "reading tar", &e));
                    }
                    break;
                }
                // A file larger than the per-file bound; reported once the walker got past
                // it (when a layer bound stopped the stream first, that hit explains it).
                if kind == EntryKind::File && size > limits.file_bytes && !state.borrow().stopped()
                {
                    counts.file_bytes += 1;
                    if counts.file_bytes <= 10 {
                        walk.limits.push(LimitHit {
                            kind: LimitKind::FileBytes,
                            limit: limits.file_bytes,
                            layer: Some(layer.index),
                            path: Some(path_for_hit.clone()),
                            detail: format!(
                                "{who}: only the first {} of {} bytes of {} were examined \
                                 (raise with {} N)",
                                limits.file_bytes,
                                size,
                                path_for_hit,
                                LimitKind::FileBytes.flag()
                            ),
                        });
                    }
                }
                if state.borrow().stopped() {
                    break;
                }
            }
        }
    }

    let mut limited = archive.into_inner();
    // After the end-of-archive blocks: decompress the rest (padding, gzip trailer) so a
    // truncated or corrupt stream is noticed, then read the raw blob to EOF so its
    // digest is verified.
    if tar_done && walk.error.is_none() && !state.borrow().stopped() {
        if let Err(e) = drain(&mut limited, &mut scratch) {
            if !state.borrow().stopped() {
                walk.error = Some(describe(&who, "after the end of the tar", &e));
            }
        }
    }
    drop(limited);
    let drain_raw = walk.error.is_none();
    let drained = match finish {
        Some(f) => f.finish(drain_raw),
        None if drain_raw => drain(&mut raw_reader, &mut scratch),
        None => Ok(0),
    };
    if let Err(e) = drained {
        walk.error = Some(format!("{who}: {e}"));
    }
    walk.uncompressed_bytes = state.borrow().read;
    walk.compressed_bytes = counter.get();
    if let Some(hit) = state.borrow_mut().layer_hit.take() {
        walk.limits.push(hit);
    }
    if counts.path_len > 1 {
        if let Some(h) = walk
            .limits
            .iter_mut()
            .find(|h| h.kind == LimitKind::PathLen)
        {
            h.detail
                .push_str(&format!("; {} such entries in all", counts.path_len));
        }
    }
    if counts.file_bytes > 10 {
        walk.limits.push(LimitHit {
            kind: LimitKind::FileBytes,
            limit: limits.file_bytes,
            layer: Some(layer.index),
            path: None,
            detail: format!(
                "{who}: {} more files larger than {} bytes were examined only in part (raise \
                 with {} N)",
                counts.file_bytes - 10,
                limits.file_bytes,
                LimitKind::FileBytes.flag()
            ),
        });
    }
    (walk, meta)
}

/// Size of the buffer used to skip entry data the visitor did not read.
const DRAIN_BUF: usize = 256 << 10;

/// Read `r` to its end, discarding the bytes.
fn drain(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<u64> {
    let mut n = 0u64;
    loop {
        match r.read(buf) {
            Ok(0) => return Ok(n),
            Ok(k) => n += k as u64,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// `{who}: {step}: {cause}`, except that a failure of the blob itself (digest mismatch,
/// blob size bound) is named without the decoding step it surfaced in.
fn describe(who: &str, step: &str, e: &io::Error) -> String {
    let cause = clean_err(e);
    if cause.starts_with("digest mismatch") || cause.starts_with("blob ") {
        format!("{who}: {cause}")
    } else {
        format!("{who}: {step}: {cause}")
    }
}

/// Mark an unexpected end of stream as truncation.
fn clean_err(e: &io::Error) -> String {
    let s = e.to_string();
    if e.kind() == io::ErrorKind::UnexpectedEof && !s.contains("truncated") {
        format!("{s} (the stream is truncated)")
    } else {
        s
    }
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
    image: &OpenedImage,
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
    image: &OpenedImage,
    limits: &Limits,
    parallel: usize,
    mut known: Vec<Option<LayerMeta>>,
    keep: bool,
    new_visitor: impl Fn(&LayerInfo) -> V + Sync,
) -> (ImageWalk<V>, Vec<Option<LayerMeta>>) {
    let shared = Shared::new(limits);
    let layers = &image.image.layers;
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
                    match image.layers.open_layer(layer) {
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
