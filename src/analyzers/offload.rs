//! Runs analyzers that read every byte (content, wallet) on a second thread, so one large
//! layer uses both cores: the walker's thread decompresses and reads the tar while this one
//! searches. It owns the hand-off only; the analyzers it runs are the same ones the
//! single-threaded path runs, with the same results.
//!
//! File bytes are copied into batches (about [`BATCH_BYTES`] each, recycled) sent over a
//! bounded channel (at most [`QUEUE`] in flight), so memory stays bounded. A batch carries
//! many files' starts, bytes and ends, so small files cost no more than large ones to send.
//! The first chunk of a file is its head (the visitor's contract): it travels once, with
//! the start, and the worker replays it as chunk 0. Signals arrive from
//! [`Analyzer::finish`].

use super::{Analyzer, FileCtx, Signal};
use crate::image::FileEntry;
use std::ops::Range;
use std::sync::mpsc;

/// Batches queued between the reading thread and the worker.
pub const QUEUE: usize = 4;
/// A batch is sent once it holds this many bytes (a chunk may take it past).
pub const BATCH_BYTES: usize = 256 << 10;
/// ... or this many messages (many empty-ish files).
const BATCH_MSGS: usize = 4096;
/// Bytes of the head kept for `file_end` (what the visitor keeps too).
const HEAD_KEEP: usize = 8192;

enum Msg {
    /// A file starts; its head is this range of the batch's `data`.
    Start {
        entry: FileEntry,
        inside: Vec<String>,
        head: Range<usize>,
    },
    /// A later chunk: a range of the batch's `data`, at this file offset.
    Data(Range<usize>, u64),
    End {
        truncated: bool,
    },
}

#[derive(Default)]
struct Batch {
    data: Vec<u8>,
    msgs: Vec<Msg>,
}

/// The worker side: the analyzers and the file they are in.
struct Worker {
    analyzers: Vec<Box<dyn Analyzer>>,
    wants: Vec<bool>,
    file: Option<(FileEntry, Vec<String>, Vec<u8>)>,
    out: Vec<Signal>,
}

impl Worker {
    fn run(&mut self, b: &Batch) {
        for msg in &b.msgs {
            match msg {
                Msg::Start {
                    entry,
                    inside,
                    head,
                } => {
                    let head = &b.data[head.clone()];
                    let ctx = FileCtx {
                        entry,
                        inside,
                        head,
                    };
                    for (a, w) in self.analyzers.iter_mut().zip(self.wants.iter_mut()) {
                        *w = a.file_start(&ctx);
                        if *w && !head.is_empty() {
                            a.file_chunk(head, 0);
                        }
                    }
                    let keep = head[..head.len().min(HEAD_KEEP)].to_vec();
                    self.file = Some((entry.clone(), inside.clone(), keep));
                }
                Msg::Data(r, offset) => {
                    for (a, &w) in self.analyzers.iter_mut().zip(&self.wants) {
                        if w {
                            a.file_chunk(&b.data[r.clone()], *offset);
                        }
                    }
                }
                Msg::End { truncated } => {
                    if let Some((entry, inside, head)) = self.file.take() {
                        let ctx = FileCtx {
                            entry: &entry,
                            inside: &inside,
                            head: &head,
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
    worker: Option<std::thread::JoinHandle<Result<Vec<Signal>, String>>>,
    failed: bool,
}

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
                    file: None,
                    out: Vec::new(),
                };
                for mut b in rx {
                    w.run(&b);
                    b.data.clear();
                    b.msgs.clear();
                    let _ = back_tx.send(b);
                }
                let mut out = w.out;
                for a in w.analyzers.iter_mut() {
                    out.extend(a.finish().map_err(|e| format!("{}: {e}", a.name()))?);
                }
                Ok(out)
            })
            .ok()?;
        Some(Offload {
            name,
            batch: Batch::default(),
            tx: Some(tx),
            recycled: back_rx,
            worker: Some(handle),
            failed: false,
        })
    }

    fn flush(&mut self) {
        if self.batch.msgs.is_empty() {
            return;
        }
        let next = self.recycled.try_recv().unwrap_or_default();
        let full = std::mem::replace(&mut self.batch, next);
        if let Some(tx) = &self.tx {
            if tx.send(full).is_err() {
                self.failed = true;
            }
        }
    }

    fn push(&mut self, m: Msg) {
        self.batch.msgs.push(m);
        if self.batch.data.len() >= BATCH_BYTES || self.batch.msgs.len() >= BATCH_MSGS {
            self.flush();
        }
    }

    fn copy(&mut self, data: &[u8]) -> Range<usize> {
        let start = self.batch.data.len();
        self.batch.data.extend_from_slice(data);
        start..self.batch.data.len()
    }
}

impl Analyzer for Offload {
    fn name(&self) -> &'static str {
        self.name
    }
    fn file_start(&mut self, file: &FileCtx) -> bool {
        let head = self.copy(file.head);
        self.push(Msg::Start {
            entry: file.entry.clone(),
            inside: file.inside.to_vec(),
            head,
        });
        !file.head.is_empty()
    }
    fn file_chunk(&mut self, data: &[u8], offset: u64) {
        // Chunk 0 is the head, already sent with the start.
        if offset == 0 {
            return;
        }
        let r = self.copy(data);
        self.push(Msg::Data(r, offset));
    }
    fn file_end(&mut self, _file: &FileCtx, truncated: bool, _out: &mut Vec<Signal>) {
        self.push(Msg::End { truncated });
    }
    fn finish(&mut self) -> Result<Vec<Signal>, String> {
        self.flush();
        self.tx = None;
        let out = match self.worker.take() {
            Some(h) => h
                .join()
                .map_err(|_| format!("the {} thread failed", self.name))??,
            None => Vec::new(),
        };
        if self.failed {
            return Err(format!("the {} thread stopped early", self.name));
        }
        Ok(out)
    }
}
