//! Runs the analyzers that read file bytes (content, wallet, binary) on a second thread,
//! so one large layer uses both cores: the walker's thread decompresses and reads the tar
//! while this one searches. It owns the hand-off only; the analyzers it runs are the same
//! ones the single-threaded path runs, with the same results.
//!
//! Small chunks are copied into batches (about [`BATCH_BYTES`] each, recycled); a batch
//! carries many files' starts, bytes and ends, so small files cost no more than large ones
//! to send. A large chunk the visitor read itself is not copied: its buffer travels as a
//! batch of its own and a recycled one takes its place ([`Analyzer::file_chunk_owned`]).
//! At most [`QUEUE`] batches are in flight, so memory stays bounded. The worker starts a
//! file on its first chunk (the visitor's contract: chunk 0 is the head) or, for an empty
//! file, at its end. Signals arrive from [`Analyzer::finish`].

use super::visitor::HEAD_KEEP;
use super::{Analyzer, FileCtx, LayerFacts, Signal};
use crate::image::FileEntry;
use std::ops::Range;
use std::sync::mpsc;

/// Batches queued between the reading thread and the worker.
pub const QUEUE: usize = 16;
/// A batch is sent once it holds this many bytes (a chunk may take it past).
pub const BATCH_BYTES: usize = 256 << 10;
/// ... or this many messages (many empty-ish files).
const BATCH_MSGS: usize = 4096;
/// Chunks at least this long travel in their own buffer instead of being copied.
pub(crate) const OWNED_MIN: usize = 32 << 10;

enum Msg {
    /// A file starts.
    Start {
        entry: FileEntry,
        inside: Vec<String>,
    },
    /// A chunk: a range of the batch's `data`, at this file offset.
    Data(Range<usize>, u64),
    End {
        truncated: bool,
    },
}

#[derive(Default)]
struct Batch {
    /// Bytes; only `..used` of it is meaningful (its length stays, so a recycled batch
    /// can be read into without clearing it first).
    data: Vec<u8>,
    used: usize,
    msgs: Vec<Msg>,
}

/// The worker side: the analyzers and the file they are in.
struct Worker {
    analyzers: Vec<Box<dyn Analyzer>>,
    wants: Vec<bool>,
    /// A file that started but whose head has not arrived yet.
    pending: Option<(FileEntry, Vec<String>)>,
    /// The current file.
    file: Option<(FileEntry, Vec<String>)>,
    /// The start of the current file's head (reused from file to file).
    head: Vec<u8>,
    out: Vec<Signal>,
}

impl Worker {
    /// Start the pending file with `head` (its chunk 0, or nothing).
    fn start(&mut self, head: &[u8]) {
        let Some((entry, inside)) = self.pending.take() else {
            return;
        };
        let ctx = FileCtx {
            entry: &entry,
            inside: &inside,
            head,
        };
        for (a, w) in self.analyzers.iter_mut().zip(self.wants.iter_mut()) {
            *w = a.file_start(&ctx);
        }
        self.head.clear();
        self.head
            .extend_from_slice(&head[..head.len().min(HEAD_KEEP)]);
        self.file = Some((entry, inside));
    }

    fn run(&mut self, b: &Batch) {
        for msg in &b.msgs {
            match msg {
                Msg::Start { entry, inside } => {
                    self.pending = Some((entry.clone(), inside.clone()));
                    self.file = None;
                }
                Msg::Data(r, offset) => {
                    let data = &b.data[r.clone()];
                    if *offset == 0 {
                        self.start(data);
                    }
                    for (a, &w) in self.analyzers.iter_mut().zip(&self.wants) {
                        if w {
                            a.file_chunk(data, *offset);
                        }
                    }
                }
                Msg::End { truncated } => {
                    self.start(&[]);
                    if let Some((entry, inside)) = self.file.take() {
                        let ctx = FileCtx {
                            entry: &entry,
                            inside: &inside,
                            head: &self.head,
                        };
                        for a in self.analyzers.iter_mut() {
                            a.file_end(&ctx, *truncated, &mut self.out);
                        }
                    }
                }
            }
        }
    }
}

/// Analyzers on their own thread, behind the [`Analyzer`] trait.
pub struct Offload {
    name: &'static str,
    batch: Batch,
    tx: Option<mpsc::SyncSender<Batch>>,
    recycled: mpsc::Receiver<Batch>,
    worker: Option<std::thread::JoinHandle<WorkerResult>>,
    failed: bool,
    facts: LayerFacts,
}

/// What the worker thread hands back: its signals and facts, or why it could not finish.
type WorkerResult = Result<(Vec<Signal>, LayerFacts), String>;

impl Offload {
    /// Start the worker thread running `analyzers`; `None` when no thread can be started.
    pub fn spawn(name: &'static str, analyzers: Vec<Box<dyn Analyzer>>) -> Option<Self> {
        let (tx, rx) = mpsc::sync_channel::<Batch>(QUEUE);
        let (back_tx, back_rx) = mpsc::channel::<Batch>();
        let handle = std::thread::Builder::new()
            .name(format!("imgscan-{name}"))
            .spawn(move || {
                let wants = vec![false; analyzers.len()];
                let mut w = Worker {
                    analyzers,
                    wants,
                    pending: None,
                    file: None,
                    head: Vec::new(),
                    out: Vec::new(),
                };
                for mut b in rx {
                    w.run(&b);
                    b.used = 0;
                    b.msgs.clear();
                    let _ = back_tx.send(b);
                }
                let mut out = w.out;
                let mut facts = LayerFacts::default();
                for a in w.analyzers.iter_mut() {
                    out.extend(a.finish().map_err(|e| format!("{}: {e}", a.name()))?);
                    a.facts(&mut facts);
                }
                Ok((out, facts))
            })
            .ok()?;
        Some(Offload {
            name,
            batch: Batch::default(),
            tx: Some(tx),
            recycled: back_rx,
            worker: Some(handle),
            failed: false,
            facts: LayerFacts::default(),
        })
    }

    fn flush(&mut self) {
        if self.batch.msgs.is_empty() {
            return;
        }
        let next = self.recycled.try_recv().unwrap_or_default();
        let full = std::mem::replace(&mut self.batch, next);
        self.send(full);
    }

    fn send(&mut self, b: Batch) {
        if let Some(tx) = &self.tx {
            if tx.send(b).is_err() {
                self.failed = true;
            }
        }
    }

    fn push(&mut self, m: Msg) {
        self.batch.msgs.push(m);
        if self.batch.used >= BATCH_BYTES || self.batch.msgs.len() >= BATCH_MSGS {
            self.flush();
        }
    }

    fn copy(&mut self, data: &[u8]) -> Range<usize> {
        let b = &mut self.batch;
        let end = b.used + data.len();
        if b.data.len() < end {
            b.data.resize(end, 0);
        }
        b.data[b.used..end].copy_from_slice(data);
        let r = b.used..end;
        b.used = end;
        r
    }
}

impl Analyzer for Offload {
    fn name(&self) -> &'static str {
        self.name
    }
    fn file_start(&mut self, file: &FileCtx) -> bool {
        self.push(Msg::Start {
            entry: file.entry.clone(),
            inside: file.inside.to_vec(),
        });
        !file.head.is_empty()
    }
    fn file_chunk(&mut self, data: &[u8], offset: u64) {
        let r = self.copy(data);
        self.push(Msg::Data(r, offset));
    }
    fn file_chunk_owned(&mut self, buf: &mut Vec<u8>, len: usize, offset: u64) {
        if len < OWNED_MIN {
            return self.file_chunk(&buf[..len], offset);
        }
        // What is queued goes first, then this buffer as a batch of its own.
        self.flush();
        let mut spare = self.recycled.try_recv().unwrap_or_default();
        if spare.data.len() < buf.len() {
            spare.data.resize(buf.len(), 0);
        }
        let own = Batch {
            data: std::mem::replace(buf, std::mem::take(&mut spare.data)),
            used: len,
            msgs: vec![Msg::Data(0..len, offset)],
        };
        self.send(own);
    }
    fn file_end(&mut self, _file: &FileCtx, truncated: bool, _out: &mut Vec<Signal>) {
        self.push(Msg::End { truncated });
    }
    fn finish(&mut self) -> Result<Vec<Signal>, String> {
        self.flush();
        self.tx = None;
        let out = match self.worker.take() {
            Some(h) => {
                let (out, mut facts) = h
                    .join()
                    .map_err(|_| format!("the {} thread failed", self.name))??;
                self.facts.append(&mut facts);
                out
            }
            None => Vec::new(),
        };
        if self.failed {
            return Err(format!("the {} thread stopped early", self.name));
        }
        Ok(out)
    }
    fn facts(&mut self, out: &mut LayerFacts) {
        out.append(&mut self.facts);
    }
}
