//! One layer's walk, in the order a reader follows it: open the stream (sniff the
//! compression, start the decoder), then for each tar entry read its header, apply the
//! bounds (entries per layer, path length), classify it (root, whiteout, entry), feed it
//! to the visitor and record its metadata; finally drain what is left so truncation and
//! the blob digest are still checked, and summarise the bounds reached.
//!
//! Owns the per-layer walking state ([`Walker`]); the streams it reads through are in
//! `read` and `decode`, the image-wide bounds in [`Shared`].

use super::decode::{self, Finish};
use super::read::{Counter, LimitState, Limited, Shared, SharedRaw};
use super::{
    normalize_path, Compression, EntryVisitor, LayerMeta, LayerWalk, Whiteout, MAX_UNSAFE_PATHS,
    ZSTD_WINDOW_LOG_MAX,
};
use crate::image::{EntryKind, FileEntry, LayerInfo};
use crate::limits::{LimitHit, LimitKind, Limits};
use std::cell::RefCell;
use std::io::{self, Read};
use std::rc::Rc;

/// Size of the buffer used to skip entry data the visitor did not read.
const DRAIN_BUF: usize = 256 << 10;

/// Walk one layer blob. `shared` carries the image-wide bounds (bytes, deadline, metadata
/// budget); `keep_meta` collects entry metadata for [`super::FsView`].
pub(super) fn walk_layer_inner(
    blob: Box<dyn Read + Send>,
    layer: &LayerInfo,
    limits: &Limits,
    visitor: &mut dyn EntryVisitor,
    shared: &Shared,
    keep_meta: bool,
) -> (LayerWalk, LayerMeta) {
    let mut w = Walker::new(layer, limits, shared, keep_meta);
    let counter = Counter::default();
    let raw = SharedRaw::new(super::read::read_ahead(blob), counter.clone());
    let Some((decoded, finish)) = w.open(raw.clone(), &counter) else {
        return (w.walk, w.meta);
    };
    let limited = Limited::new(
        decoded,
        w.state.clone(),
        limits,
        shared,
        layer.index,
        &layer.digest,
    );
    let mut archive = tar::Archive::new(limited);
    let tar_done = w.entries(&mut archive, visitor);
    w.finish(archive.into_inner(), finish, raw, &counter, tar_done);
    (w.walk, w.meta)
}

/// Per-kind counters so a layer with a million long paths keeps one LimitHit, not a
/// million.
#[derive(Default)]
struct HitCounts {
    path_len: u64,
    file_bytes: u64,
}

/// Whether the walk goes on after an entry.
enum Flow {
    Next,
    Stop,
}

/// What a normalised entry name is.
enum Class {
    /// `./` itself: no entry of the filesystem view.
    Root,
    /// A `.wh.` marker (None for a bare `.wh.`, which deletes nothing).
    Whiteout(Option<Whiteout>),
    Entry(String),
}

struct Walker<'a> {
    who: String,
    layer: &'a LayerInfo,
    limits: &'a Limits,
    shared: &'a Shared,
    keep_meta: bool,
    state: Rc<RefCell<LimitState>>,
    walk: LayerWalk,
    meta: LayerMeta,
    counts: HitCounts,
    /// Bytes GNU sparse entries expand to: their holes cost reading though never stored.
    sparse_bytes: u64,
    /// One buffer per layer for skipping data: large reads keep the decoder efficient.
    scratch: Vec<u8>,
}

type TarEntry<'b, 'a> = tar::Entry<'b, Limited<'a>>;

impl<'a> Walker<'a> {
    fn new(layer: &'a LayerInfo, limits: &'a Limits, shared: &'a Shared, keep: bool) -> Self {
        Walker {
            who: format!("layer {} ({})", layer.index, layer.digest),
            layer,
            limits,
            shared,
            keep_meta: keep,
            state: Rc::new(RefCell::new(LimitState::default())),
            walk: LayerWalk::new(layer),
            meta: LayerMeta::default(),
            counts: HitCounts::default(),
            sparse_bytes: 0,
            scratch: vec![0u8; DRAIN_BUF],
        }
    }

    fn stopped(&self) -> bool {
        self.state.borrow().stopped()
    }

    /// Record a failure of the tar stream, unless a bound stopped it (that hit explains).
    fn tar_error(&mut self, step: &str, e: &io::Error) {
        if !self.stopped() {
            self.walk.error = Some(describe(&self.who, step, e));
        }
    }

    // --- Opening: sniff the compression, start the decoder. ---

    /// The decoded stream (and the decoding thread's handle), or None with the error
    /// recorded.
    fn open(
        &mut self,
        raw: SharedRaw,
        counter: &Counter,
    ) -> Option<(Box<dyn Read>, Option<Finish>)> {
        let mut head = [0u8; 4];
        let mut got = 0;
        let mut raw_reader = raw.clone();
        while got < head.len() {
            match raw_reader.read(&mut head[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.walk.error = Some(format!("{}: {e}", self.who));
                    self.walk.compressed_bytes = counter.get();
                    return None;
                }
            }
        }
        let compression = Compression::sniff(&head[..got]);
        self.walk.compression = compression;
        let prefixed = io::Cursor::new(head[..got].to_vec()).chain(raw.clone());
        let decoded: Box<dyn Read + Send> = match compression {
            Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(
                io::BufReader::with_capacity(256 << 10, prefixed),
            )),
            Compression::Zstd => {
                match zstd::stream::read::Decoder::new(prefixed).and_then(|mut d| {
                    d.window_log_max(ZSTD_WINDOW_LOG_MAX)?;
                    Ok(d)
                }) {
                    Ok(d) => Box::new(ZstdHint(d)),
                    Err(e) => {
                        self.walk.error = Some(format!("{}: starting zstd decoder: {e}", self.who));
                        return None;
                    }
                }
            }
            Compression::None => {
                return Some((
                    Box::new(io::BufReader::with_capacity(128 << 10, prefixed)),
                    None,
                ))
            }
        };
        // Compressed layers are decoded on a thread of their own, ahead of the tar reader.
        match decode::decode_ahead(decoded, raw) {
            Ok((d, f)) => Some((Box::new(d), Some(f))),
            Err(e) => {
                self.walk.error = Some(format!("{}: starting the decoding thread: {e}", self.who));
                None
            }
        }
    }

    // --- The entries, one step at a time. ---

    /// Walk every entry; true when the tar's end was reached.
    fn entries(
        &mut self,
        archive: &mut tar::Archive<Limited<'a>>,
        visitor: &mut dyn EntryVisitor,
    ) -> bool {
        let mut entries = match archive.entries() {
            Ok(e) => e,
            Err(e) => {
                self.walk.error = Some(format!("{}: reading tar: {e}", self.who));
                return false;
            }
        };
        loop {
            // Read the header (long names and PAX records included, bounded as metadata).
            self.state.borrow_mut().begin_meta();
            let next = entries.next();
            self.state.borrow_mut().end_meta();
            let mut entry = match next {
                None => return true,
                Some(Ok(e)) => e,
                Some(Err(e)) => {
                    self.tar_error("reading tar", &e);
                    return false;
                }
            };
            if let Flow::Stop = self.entry(&mut entry, visitor) {
                return false;
            }
        }
    }

    fn entry(&mut self, entry: &mut TarEntry<'_, 'a>, visitor: &mut dyn EntryVisitor) -> Flow {
        let etype = entry.header().entry_type();
        if matches!(
            etype,
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader
        ) {
            return Flow::Next;
        }
        if !self.within_entry_bound() {
            return Flow::Stop;
        }
        let raw_name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        if !self.within_path_bound(&raw_name) {
            return self.skip(entry);
        }
        match self.classify(raw_name) {
            Class::Root => self.skip(entry),
            Class::Whiteout(w) => {
                if let Some(w) = w.filter(|_| self.keep_meta) {
                    if self
                        .shared
                        .keep_meta(whiteout_cost(&w), self.layer.index, &w.path)
                    {
                        self.meta.whiteouts.push(w);
                    }
                }
                Flow::Next
            }
            Class::Entry(path) => self.examine(entry, path, etype, visitor),
        }
    }

    /// Bound: entries per layer. False (the layer stops there) once it is passed.
    fn within_entry_bound(&mut self) -> bool {
        if self.walk.entries < self.limits.entries_per_layer {
            self.walk.entries += 1;
            return true;
        }
        self.walk.limits.push(LimitHit {
            kind: LimitKind::EntriesPerLayer,
            limit: self.limits.entries_per_layer,
            layer: Some(self.layer.index),
            path: None,
            detail: format!(
                "{}: stopped after {} entries; later entries of the layer were not read \
                 (raise with {} N)",
                self.who,
                self.limits.entries_per_layer,
                LimitKind::EntriesPerLayer.flag()
            ),
        });
        self.state.borrow_mut().stop();
        false
    }

    /// Bound: path length. False (the entry is skipped) for a longer name; the first such
    /// name is reported, the others counted.
    fn within_path_bound(&mut self, raw_name: &str) -> bool {
        if raw_name.len() <= self.limits.path_len {
            return true;
        }
        self.counts.path_len += 1;
        if self.counts.path_len == 1 {
            let start: String = raw_name.chars().take(60).collect();
            self.walk.limits.push(LimitHit {
                kind: LimitKind::PathLen,
                limit: self.limits.path_len as u64,
                layer: Some(self.layer.index),
                path: Some(start.clone()),
                detail: format!(
                    "{}: an entry with a {}-byte name ({start:?}...) was not examined (raise \
                     with {} N)",
                    self.who,
                    raw_name.len(),
                    LimitKind::PathLen.flag()
                ),
            });
        }
        false
    }

    /// Skip an entry's data.
    fn skip(&mut self, entry: &mut TarEntry<'_, 'a>) -> Flow {
        match drain(entry, &mut self.scratch) {
            Ok(_) => Flow::Next,
            Err(e) => {
                self.tar_error("reading tar", &e);
                Flow::Stop
            }
        }
    }

    /// Normalise the name (noting unsafe ones) and tell markers from entries.
    fn classify(&mut self, raw_name: String) -> Class {
        let (path, unsafe_name) = normalize_path(&raw_name);
        if unsafe_name {
            self.walk.unsafe_path_count += 1;
            if self.walk.unsafe_paths.len() < MAX_UNSAFE_PATHS {
                self.walk.unsafe_paths.push(raw_name);
            }
        }
        if path.is_empty() {
            return Class::Root;
        }
        // Whiteouts are markers, not entries.
        let base = path.rsplit('/').next().unwrap_or("");
        let Some(name) = base.strip_prefix(".wh.") else {
            return Class::Entry(path);
        };
        if name.is_empty() {
            return Class::Whiteout(None);
        }
        let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        Class::Whiteout(Some(if name == ".wh..opq" {
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
        }))
    }

    /// Feed the entry to the visitor, record its metadata, skip what the visitor left.
    fn examine(
        &mut self,
        entry: &mut TarEntry<'_, 'a>,
        path: String,
        etype: tar::EntryType,
        visitor: &mut dyn EntryVisitor,
    ) -> Flow {
        let kind = kind_of(etype);
        let size = entry.size();
        let fe = FileEntry {
            layer: self.layer.index,
            layer_digest: self.layer.digest.clone(),
            path,
            kind,
            mode: entry.header().mode().unwrap_or(0),
            size,
            link_target: match kind {
                EntryKind::Symlink | EntryKind::Hardlink => entry
                    .link_name_bytes()
                    .map(|b| String::from_utf8_lossy(&b).into_owned()),
                _ => None,
            },
            hidden_by: None,
        };
        if etype == tar::EntryType::GNUSparse && !self.within_sparse_bound(&fe) {
            return Flow::Stop;
        }
        let oversized = kind == EntryKind::File && size > self.limits.file_bytes;
        let path_for_hit = if oversized {
            fe.path.clone()
        } else {
            String::new()
        };
        let visited = if kind == EntryKind::File {
            let mut content = (&mut *entry).take(self.limits.file_bytes);
            visitor.visit(&fe, &mut content)
        } else {
            visitor.visit(&fe, &mut io::empty())
        };
        if let Err(e) = visited {
            if self.stopped() {
                return Flow::Stop;
            }
            self.walk.error = Some(format!("{}: while examining {}: {e}", self.who, fe.path));
            self.record(fe);
            return Flow::Stop;
        }
        self.record(fe);
        // Skip what the visitor left so the next header read is pure metadata.
        if let Flow::Stop = self.skip(entry) {
            return Flow::Stop;
        }
        // A file larger than the per-file bound; reported once the walker got past it
        // (when a layer bound stopped the stream first, that hit explains it).
        if oversized && !self.stopped() {
            self.note_oversized(path_for_hit, size);
        }
        if self.stopped() {
            Flow::Stop
        } else {
            Flow::Next
        }
    }

    /// Bound: the bytes GNU sparse entries expand to count against the layer's bound
    /// (skipping a sparse entry reads through its holes, and the format allows 2^63
    /// bytes). False, with the hit recorded and the layer stopped, once it is passed.
    fn within_sparse_bound(&mut self, fe: &FileEntry) -> bool {
        self.sparse_bytes = self.sparse_bytes.saturating_add(fe.size);
        if self.sparse_bytes <= self.limits.layer_bytes {
            return true;
        }
        self.walk.limits.push(LimitHit {
            kind: LimitKind::LayerBytes,
            limit: self.limits.layer_bytes,
            layer: Some(self.layer.index),
            path: Some(fe.path.clone()),
            detail: format!(
                "{}: sparse entries up to {} expand to {} bytes, more than the layer may hold; not expanded, the rest of the layer was not read (raise with {} N)",
                self.who,
                fe.path,
                self.sparse_bytes,
                LimitKind::LayerBytes.flag()
            ),
        });
        self.state.borrow_mut().stop();
        false
    }

    /// Keep the entry for the filesystem view, within the image's metadata budget.
    fn record(&mut self, fe: FileEntry) {
        if self.keep_meta
            && self
                .shared
                .keep_meta(entry_cost(&fe), self.layer.index, &fe.path)
        {
            self.meta.entries.push(fe);
        }
    }

    fn note_oversized(&mut self, path: String, size: u64) {
        self.counts.file_bytes += 1;
        if self.counts.file_bytes <= 10 {
            let detail = format!(
                "{}: only the first {} of {size} bytes of {path} were examined (raise with {} N)",
                self.who,
                self.limits.file_bytes,
                LimitKind::FileBytes.flag()
            );
            self.walk.limits.push(LimitHit {
                kind: LimitKind::FileBytes,
                limit: self.limits.file_bytes,
                layer: Some(self.layer.index),
                path: Some(path),
                detail,
            });
        }
    }

    // --- After the entries. ---

    /// After the end-of-archive blocks: decompress the rest (padding, gzip trailer) so a
    /// truncated or corrupt stream is noticed, then read the raw blob to EOF so its digest
    /// is verified; then fill in the byte counts and summarise the bounds reached.
    fn finish(
        &mut self,
        mut limited: Limited<'a>,
        finish: Option<Finish>,
        mut raw: SharedRaw,
        counter: &Counter,
        tar_done: bool,
    ) {
        if tar_done && self.walk.error.is_none() && !self.stopped() {
            if let Err(e) = drain(&mut limited, &mut self.scratch) {
                self.tar_error("after the end of the tar", &e);
            }
        }
        drop(limited);
        let drain_raw = self.walk.error.is_none();
        let drained = match finish {
            Some(f) => f.finish(drain_raw),
            None if drain_raw => drain(&mut raw, &mut self.scratch),
            None => Ok(0),
        };
        if let Err(e) = drained {
            self.walk.error = Some(format!("{}: {e}", self.who));
        }
        self.walk.uncompressed_bytes = self.state.borrow().read;
        self.walk.compressed_bytes = counter.get();
        if let Some(hit) = self.state.borrow_mut().layer_hit.take() {
            self.walk.limits.push(hit);
        }
        if self.counts.path_len > 1 {
            let n = self.counts.path_len;
            if let Some(h) = self
                .walk
                .limits
                .iter_mut()
                .find(|h| h.kind == LimitKind::PathLen)
            {
                h.detail.push_str(&format!("; {n} such entries in all"));
            }
        }
        if self.counts.file_bytes > 10 {
            self.walk.limits.push(LimitHit {
                kind: LimitKind::FileBytes,
                limit: self.limits.file_bytes,
                layer: Some(self.layer.index),
                path: None,
                detail: format!(
                    "{}: {} more files larger than {} bytes were examined only in part (raise \
                     with {} N)",
                    self.who,
                    self.counts.file_bytes - 10,
                    self.limits.file_bytes,
                    LimitKind::FileBytes.flag()
                ),
            });
        }
    }
}

/// Bytes one kept entry costs, counted against [`Limits::meta_bytes`]: the entry and its
/// strings, and the view's two indexes keyed by its path (a B-tree and a hash map entry,
/// each with its own copy of the path and some bookkeeping).
fn entry_cost(fe: &FileEntry) -> u64 {
    let strings = fe.layer_digest.len() + fe.link_target.as_ref().map_or(0, String::len);
    (std::mem::size_of::<FileEntry>() + strings + 3 * fe.path.len() + 2 * 48) as u64
}

fn whiteout_cost(w: &Whiteout) -> u64 {
    (std::mem::size_of::<Whiteout>() + w.path.len()) as u64
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
