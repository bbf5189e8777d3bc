//! Readers the walker stacks: a counter on the compressed bytes, a shared handle so the
//! blob can be drained after the decoder is done, and the limiter on decompressed bytes
//! that enforces the per-layer and image-wide byte bounds and the deadline.

use crate::limits::{LimitHit, LimitKind, Limits};
use std::cell::RefCell;
use std::io::{self, Read};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// Counts bytes pulled from the blob.
#[derive(Clone, Default)]
pub(super) struct Counter(Arc<AtomicU64>);

impl Counter {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The blob, shared between the decoder and the final drain. Both run on the decoding
/// thread (see [`decode_ahead`]), one after the other, so the lock is never contended.
#[derive(Clone)]
pub(super) struct SharedRaw {
    inner: Arc<Mutex<Box<dyn Read + Send>>>,
    counter: Counter,
}

impl SharedRaw {
    pub fn new(inner: Box<dyn Read + Send>, counter: Counter) -> Self {
        SharedRaw {
            inner: Arc::new(Mutex::new(inner)),
            counter,
        }
    }
}

impl Read for SharedRaw {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self
            .inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .read(buf)?;
        self.counter.0.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Image-wide state shared by the threads walking one image.
pub(super) struct Shared {
    image_limit: u64,
    used: AtomicU64,
    deadline: Instant,
    timeout_secs: u64,
    image_hit: AtomicBool,
    timeout_hit: AtomicBool,
    /// Estimated bytes of entry metadata kept for the filesystem view, image-wide.
    meta_limit: u64,
    meta_used: AtomicU64,
    meta_hit: AtomicBool,
    hits: Mutex<Vec<LimitHit>>,
}

impl Shared {
    pub fn new(limits: &Limits) -> Self {
        let now = Instant::now();
        Shared {
            image_limit: limits.image_bytes,
            used: AtomicU64::new(0),
            deadline: now
                .checked_add(Duration::from_secs(limits.timeout_secs))
                .unwrap_or(now + Duration::from_secs(86400 * 365)),
            timeout_secs: limits.timeout_secs,
            image_hit: AtomicBool::new(false),
            timeout_hit: AtomicBool::new(false),
            meta_limit: limits.meta_bytes,
            meta_used: AtomicU64::new(0),
            meta_hit: AtomicBool::new(false),
            hits: Mutex::new(Vec::new()),
        }
    }

    pub fn expired(&self) -> bool {
        Instant::now() >= self.deadline
    }

    fn push(&self, hit: LimitHit) {
        self.hits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(hit);
    }

    /// Record (once) that the deadline passed; `layer` is where it was noticed.
    pub fn note_timeout(&self, layer: usize) {
        if !self.timeout_hit.swap(true, Ordering::SeqCst) {
            self.push(LimitHit {
                kind: LimitKind::Timeout,
                limit: self.timeout_secs,
                layer: Some(layer),
                path: None,
                detail: format!(
                    "the {} s time limit was reached while reading layer {layer}; the rest of \
                     the image was not read (raise with {} SECONDS)",
                    self.timeout_secs,
                    LimitKind::Timeout.flag()
                ),
            });
        }
    }

    fn note_image_bytes(&self, layer: usize) {
        if !self.image_hit.swap(true, Ordering::SeqCst) {
            self.push(LimitHit {
                kind: LimitKind::ImageBytes,
                limit: self.image_limit,
                layer: Some(layer),
                path: None,
                detail: format!(
                    "stopped after {} uncompressed bytes across the image (reached in layer \
                     {layer}); the rest of the image was not read (raise with {} N)",
                    self.image_limit,
                    LimitKind::ImageBytes.flag()
                ),
            });
        }
    }

    /// Account `cost` bytes of metadata for an entry at `path` of `layer`; false (keep
    /// nothing more, for any layer) once the image's budget is spent. The first refusal
    /// is reported.
    pub fn keep_meta(&self, cost: u64, layer: usize, path: &str) -> bool {
        if self.meta_hit.load(Ordering::Relaxed) {
            return false;
        }
        let before = self.meta_used.fetch_add(cost, Ordering::Relaxed);
        if before.saturating_add(cost) <= self.meta_limit {
            return true;
        }
        if !self.meta_hit.swap(true, Ordering::SeqCst) {
            self.push(LimitHit {
                kind: LimitKind::MetaBytes,
                limit: self.meta_limit,
                layer: Some(layer),
                path: Some(path.to_string()),
                detail: format!(
                    "the filesystem view reached its {} byte metadata budget at {path} in \
                     layer {layer}; later entries were still examined, but are missing from \
                     the view, so what later layers hide or replace, and link targets, may \
                     be wrong there ({})",
                    self.meta_limit,
                    LimitKind::MetaBytes.flag()
                ),
            });
        }
        false
    }

    pub fn take_hits(&self) -> Vec<LimitHit> {
        std::mem::take(&mut *self.hits.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// What the limiter saw, read by the walker afterwards.
#[derive(Default)]
pub(super) struct LimitState {
    /// Decompressed bytes passed on.
    pub read: u64,
    /// Set when a bound stopped the stream (the limiter then reports EOF).
    stopped: bool,
    pub layer_hit: Option<LimitHit>,
    in_meta: bool,
    meta_read: u64,
}

impl LimitState {
    pub fn stopped(&self) -> bool {
        self.stopped
    }
    pub fn stop(&mut self) {
        self.stopped = true;
    }
    /// The tar reader is about to read headers (and long names / PAX records).
    pub fn begin_meta(&mut self) {
        self.in_meta = true;
        self.meta_read = 0;
    }
    pub fn end_meta(&mut self) {
        self.in_meta = false;
    }
}

/// Bounds the decompressed stream of one layer.
pub(super) struct Limited<'a> {
    inner: Box<dyn Read + 'a>,
    state: Rc<RefCell<LimitState>>,
    layer_limit: u64,
    layer: usize,
    digest: String,
    shared: &'a Shared,
    next_clock_check: u64,
}

const CLOCK_EVERY: u64 = 1 << 20;

impl<'a> Limited<'a> {
    pub fn new(
        inner: Box<dyn Read + 'a>,
        state: Rc<RefCell<LimitState>>,
        limits: &Limits,
        shared: &'a Shared,
        layer: usize,
        digest: &str,
    ) -> Self {
        Limited {
            inner,
            state,
            layer_limit: limits.layer_bytes,
            layer,
            digest: digest.to_string(),
            shared,
            next_clock_check: 0,
        }
    }

    /// True when the inner stream has at least one more byte.
    fn more(&mut self) -> io::Result<bool> {
        let mut b = [0u8; 1];
        loop {
            match self.inner.read(&mut b) {
                Ok(n) => return Ok(n > 0),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

impl Read for Limited<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let (read, stopped, in_meta, meta_read) = {
            let s = self.state.borrow();
            (s.read, s.stopped, s.in_meta, s.meta_read)
        };
        if stopped {
            return Ok(0);
        }
        if in_meta && meta_read > super::MAX_TAR_META_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "tar metadata (GNU long name or PAX record) larger than {} bytes",
                    super::MAX_TAR_META_BYTES
                ),
            ));
        }
        if read >= self.next_clock_check {
            self.next_clock_check = read + CLOCK_EVERY;
            if self.shared.expired() {
                self.shared.note_timeout(self.layer);
                self.state.borrow_mut().stopped = true;
                return Ok(0);
            }
        }
        let layer_left = self.layer_limit.saturating_sub(read);
        let used = self.shared.used.load(Ordering::Relaxed);
        let image_left = self.shared.image_limit.saturating_sub(used);
        if layer_left == 0 || image_left == 0 {
            if !self.more()? {
                return Ok(0);
            }
            let mut s = self.state.borrow_mut();
            s.stopped = true;
            if layer_left == 0 {
                s.layer_hit = Some(LimitHit {
                    kind: LimitKind::LayerBytes,
                    limit: self.layer_limit,
                    layer: Some(self.layer),
                    path: None,
                    detail: format!(
                        "layer {} ({}): stopped after {} uncompressed bytes; the rest of the \
                         layer was not read (raise with {} N)",
                        self.layer,
                        self.digest,
                        self.layer_limit,
                        LimitKind::LayerBytes.flag()
                    ),
                });
            } else {
                drop(s);
                self.shared.note_image_bytes(self.layer);
            }
            return Ok(0);
        }
        let want = (buf.len() as u64).min(layer_left).min(image_left) as usize;
        let n = self.inner.read(&mut buf[..want])?;
        self.shared.used.fetch_add(n as u64, Ordering::Relaxed);
        let mut s = self.state.borrow_mut();
        s.read += n as u64;
        if s.in_meta {
            s.meta_read += n as u64;
        }
        Ok(n)
    }
}

/// Bytes per read-ahead block, and blocks in flight.
pub(super) const AHEAD_BLOCK: usize = 256 << 10;
pub(super) const AHEAD_QUEUE: usize = 4;

/// Reads the blob on its own thread, ahead of the decoder: the source's reads (file or
/// network) and its digest check (SHA-256 over every compressed byte) then overlap with
/// decompression instead of adding to it. At most [`AHEAD_QUEUE`] blocks of
/// [`AHEAD_BLOCK`] bytes wait at a time. An error from the source is returned in order,
/// after the bytes before it, and again on every later read. When the reader is dropped
/// early the thread stops at its next block. A block is filled by as many source reads
/// as it takes (a network body arrives in pieces of a few KiB), and buffers come back to
/// the thread with their length kept, so none is zeroed again.
pub(super) struct ReadAhead {
    rx: mpsc::Receiver<io::Result<Block>>,
    back: mpsc::Sender<Vec<u8>>,
    cur: Block,
    pos: usize,
    eof: bool,
    failed: Option<(io::ErrorKind, String)>,
}

/// A buffer and how much of it holds bytes; `len` 0 is the end of the blob.
#[derive(Default)]
pub(super) struct Block {
    buf: Vec<u8>,
    len: usize,
}

/// `blob` behind a [`ReadAhead`], or `blob` itself when no thread can be started.
pub(super) fn read_ahead(blob: Box<dyn Read + Send>) -> Box<dyn Read + Send> {
    let (tx, rx) = mpsc::sync_channel::<io::Result<Block>>(AHEAD_QUEUE);
    let (back, back_rx) = mpsc::channel::<Vec<u8>>();
    let slot = Arc::new(Mutex::new(Some(blob)));
    let theirs = Arc::clone(&slot);
    let spawned = std::thread::Builder::new()
        .name("imgscan-blob".into())
        .spawn(move || {
            if let Some(mut blob) = theirs.lock().ok().and_then(|mut s| s.take()) {
                fill_blocks(&mut *blob, &tx, &back_rx);
            }
        });
    match spawned {
        Ok(_) => Box::new(ReadAhead::new(rx, back)),
        // No thread: read in place (the blob never left the slot).
        Err(_) => match slot.lock().ok().and_then(|mut s| s.take()) {
            Some(blob) => blob,
            None => Box::new(io::empty()),
        },
    }
}

/// Read `src` into blocks of [`AHEAD_BLOCK`] bytes and send them in order, until the
/// source ends (a short block, then the empty end block), fails (the bytes before the
/// error, then the error) or the reader goes away. Buffers come back through `back`.
pub(super) fn fill_blocks(
    src: &mut dyn Read,
    tx: &mpsc::SyncSender<io::Result<Block>>,
    back: &mpsc::Receiver<Vec<u8>>,
) {
    loop {
        let mut buf = back.try_recv().unwrap_or_default();
        if buf.len() < AHEAD_BLOCK {
            buf.resize(AHEAD_BLOCK, 0);
        }
        let mut len = 0;
        let mut failed = None;
        while len < AHEAD_BLOCK {
            match src.read(&mut buf[len..AHEAD_BLOCK]) {
                Ok(0) => break,
                Ok(n) => len += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        let end = failed.is_some() || len < AHEAD_BLOCK;
        if len > 0 && tx.send(Ok(Block { buf, len })).is_err() {
            return;
        }
        if end {
            let _ = tx.send(match failed {
                Some(e) => Err(e),
                None => Ok(Block::default()),
            });
            return;
        }
    }
}

impl ReadAhead {
    /// The reading side of a thread running [`fill_blocks`].
    pub(super) fn new(rx: mpsc::Receiver<io::Result<Block>>, back: mpsc::Sender<Vec<u8>>) -> Self {
        ReadAhead {
            rx,
            back,
            cur: Block::default(),
            pos: 0,
            eof: false,
            failed: None,
        }
    }
}

impl Read for ReadAhead {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if let Some((kind, msg)) = &self.failed {
            return Err(io::Error::new(*kind, msg.clone()));
        }
        if out.is_empty() || self.eof {
            return Ok(0);
        }
        if self.pos == self.cur.len {
            let used = std::mem::take(&mut self.cur);
            let _ = self.back.send(used.buf);
            self.pos = 0;
            match self.rx.recv() {
                Ok(Ok(b)) if b.len == 0 => {
                    self.eof = true;
                    return Ok(0);
                }
                Ok(Ok(b)) => self.cur = b,
                Ok(Err(e)) => {
                    self.failed = Some((e.kind(), e.to_string()));
                    return Err(e);
                }
                Err(_) => {
                    let e = (io::ErrorKind::BrokenPipe, "the reading thread stopped");
                    self.failed = Some((e.0, e.1.to_string()));
                    return Err(io::Error::new(e.0, e.1));
                }
            }
        }
        let n = out.len().min(self.cur.len - self.pos);
        out[..n].copy_from_slice(&self.cur.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gives `data` in small pieces, then fails (or ends).
    struct Source {
        data: Vec<u8>,
        at: usize,
        fail: bool,
    }

    impl Read for Source {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.at == self.data.len() {
                return if self.fail {
                    Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "digest mismatch: x",
                    ))
                } else {
                    Ok(0)
                };
            }
            let n = buf.len().min(1000).min(self.data.len() - self.at);
            buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    fn data() -> Vec<u8> {
        (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn passes_every_byte_in_order() {
        let src = Source {
            data: data(),
            at: 0,
            fail: false,
        };
        let mut r = read_ahead(Box::new(src));
        let mut got = Vec::new();
        r.read_to_end(&mut got).unwrap();
        assert_eq!(got, data());
        assert_eq!(r.read(&mut [0u8; 16]).unwrap(), 0);
    }

    #[test]
    fn error_comes_after_the_bytes_before_it_and_stays() {
        let src = Source {
            data: data(),
            at: 0,
            fail: true,
        };
        let mut r = read_ahead(Box::new(src));
        let mut got = Vec::new();
        let e = r.read_to_end(&mut got).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert_eq!(e.to_string(), "digest mismatch: x");
        assert_eq!(got, data());
        assert_eq!(
            r.read(&mut [0u8; 16]).unwrap_err().to_string(),
            "digest mismatch: x"
        );
    }

    #[test]
    fn dropping_early_stops_the_thread() {
        // An endless source that says when it is dropped (the thread's end drops it).
        struct Endless(Arc<AtomicBool>);
        impl Read for Endless {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                Ok(buf.len())
            }
        }
        impl Drop for Endless {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let gone = Arc::new(AtomicBool::new(false));
        let mut r = read_ahead(Box::new(Endless(Arc::clone(&gone))));
        r.read_exact(&mut [0u8; 10]).unwrap();
        assert!(!gone.load(Ordering::SeqCst));
        drop(r);
        // Bounded wait, not a timing assertion: the thread must end at all.
        for _ in 0..600 {
            if gone.load(Ordering::SeqCst) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("the read-ahead thread kept running after its reader was dropped");
    }
}
