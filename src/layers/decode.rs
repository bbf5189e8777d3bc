//! Decompression on its own thread, ahead of the tar reader.
//!
//! Inflating a gzip layer costs about as much CPU as everything else the walker's thread
//! does (tar headers, paths, the visitor and its hand-off to the content thread) put
//! together. On one thread those add up; here the decoder fills blocks of
//! [`BLOCK`] bytes on a thread of its own while the walker parses the previous ones, so
//! on two cores the walk costs about the larger of the two instead of their sum.
//!
//! ```text
//! blob ──▶ imgscan-blob (read, SHA-256) ──▶ imgscan-inflate (gzip/zstd) ──▶ walker (tar)
//! ```
//!
//! Memory stays bounded: at most [`QUEUE`] blocks wait, and when the walker stops early
//! (a bound, an error) the decoder stops at its next block; it never runs further ahead
//! than the queue. Errors reach the walker in order, after the bytes decoded before them,
//! so a truncated or corrupt stream is reported where it happens.
//!
//! When the walker is done it calls [`Finish::finish`]: the thread then reads the rest of
//! the raw blob (padding after the compressed stream, or everything after an early stop)
//! so the blob's digest is still checked over every byte, and hands back what that gave.

use super::read::SharedRaw;
use std::io::{self, Read};
use std::sync::mpsc;

/// Decompressed bytes per block.
pub(super) const BLOCK: usize = 256 << 10;
/// Blocks in flight between the decoder and the walker.
pub(super) const QUEUE: usize = 4;

enum Msg {
    /// A block and how many of its bytes hold data.
    Data(Vec<u8>, usize),
    /// The decoder reached the end of its stream.
    End,
    /// The decoder failed; nothing follows.
    Failed(io::Error),
}

/// The walker's side: the decompressed stream.
pub(super) struct Decoded {
    rx: mpsc::Receiver<Msg>,
    back: mpsc::Sender<Vec<u8>>,
    cur: Vec<u8>,
    len: usize,
    pos: usize,
    eof: bool,
    failed: Option<(io::ErrorKind, String)>,
}

/// Ends the decoding thread; see [`Finish::finish`].
pub(super) struct Finish {
    cmd: Option<mpsc::Sender<bool>>,
    done: mpsc::Receiver<io::Result<u64>>,
}

impl Finish {
    /// Stop decoding. With `drain`, the thread reads the raw blob to its end (so its
    /// digest is verified) and this returns what that read gave. The [`Decoded`] side
    /// must be dropped first: a thread waiting to hand over a block is released by that.
    pub fn finish(mut self, drain: bool) -> io::Result<u64> {
        if let Some(c) = self.cmd.take() {
            let _ = c.send(drain);
        }
        if !drain {
            return Ok(0);
        }
        self.done.recv().unwrap_or_else(|_| {
            Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the decoding thread stopped",
            ))
        })
    }
}

impl Drop for Finish {
    fn drop(&mut self) {
        if let Some(c) = self.cmd.take() {
            let _ = c.send(false);
        }
    }
}

/// Run `decoder` (which reads from `raw`) on its own thread. Fails only when no thread
/// can be started.
pub(super) fn decode_ahead(
    decoder: Box<dyn Read + Send>,
    raw: SharedRaw,
) -> io::Result<(Decoded, Finish)> {
    let (tx, rx) = mpsc::sync_channel::<Msg>(QUEUE);
    let (back, back_rx) = mpsc::channel::<Vec<u8>>();
    let (cmd, cmd_rx) = mpsc::channel::<bool>();
    let (done_tx, done) = mpsc::channel::<io::Result<u64>>();
    std::thread::Builder::new()
        .name("imgscan-inflate".into())
        .spawn(move || {
            let mut decoder = decoder;
            let mut raw = raw;
            pump(&mut *decoder, &tx, &back_rx);
            drop(tx);
            drop(decoder);
            if cmd_rx.recv().unwrap_or(false) {
                let _ = done_tx.send(drain(&mut raw));
            }
        })?;
    Ok((
        Decoded {
            rx,
            back,
            cur: Vec::new(),
            len: 0,
            pos: 0,
            eof: false,
            failed: None,
        },
        Finish {
            cmd: Some(cmd),
            done,
        },
    ))
}

/// Decode into blocks until the stream ends, fails, or the walker goes away.
fn pump(decoder: &mut dyn Read, tx: &mpsc::SyncSender<Msg>, back: &mpsc::Receiver<Vec<u8>>) {
    loop {
        let mut buf = back.try_recv().unwrap_or_default();
        if buf.len() < BLOCK {
            buf.resize(BLOCK, 0);
        }
        let mut len = 0;
        let mut failed = None;
        while len < BLOCK {
            match decoder.read(&mut buf[len..BLOCK]) {
                Ok(0) => break,
                Ok(n) => len += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        let end = failed.is_some() || len < BLOCK;
        if len > 0 && tx.send(Msg::Data(buf, len)).is_err() {
            return;
        }
        if end {
            let _ = tx.send(match failed {
                Some(e) => Msg::Failed(e),
                None => Msg::End,
            });
            return;
        }
    }
}

/// Read `r` to its end; the byte count.
fn drain(r: &mut dyn Read) -> io::Result<u64> {
    let mut buf = vec![0u8; BLOCK];
    let mut n = 0u64;
    loop {
        match r.read(&mut buf) {
            Ok(0) => return Ok(n),
            Ok(k) => n += k as u64,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

impl Read for Decoded {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if let Some((kind, msg)) = &self.failed {
            return Err(io::Error::new(*kind, msg.clone()));
        }
        if out.is_empty() || self.eof {
            return Ok(0);
        }
        if self.pos == self.len {
            let used = std::mem::take(&mut self.cur);
            if !used.is_empty() {
                let _ = self.back.send(used);
            }
            self.pos = 0;
            self.len = 0;
            match self.rx.recv() {
                Ok(Msg::Data(buf, len)) => {
                    self.cur = buf;
                    self.len = len;
                }
                Ok(Msg::End) => {
                    self.eof = true;
                    return Ok(0);
                }
                Ok(Msg::Failed(e)) => {
                    self.failed = Some((e.kind(), e.to_string()));
                    return Err(e);
                }
                Err(_) => {
                    let e = (io::ErrorKind::BrokenPipe, "the decoding thread stopped");
                    self.failed = Some((e.0, e.1.to_string()));
                    return Err(io::Error::new(e.0, e.1));
                }
            }
        }
        let n = out.len().min(self.len - self.pos);
        out[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::super::read::Counter;
    use super::*;
    use std::io::Cursor;

    fn gzip(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn decoded_over(blob: Vec<u8>) -> (Decoded, Finish, Counter) {
        let counter = Counter::default();
        let raw = SharedRaw::new(Box::new(Cursor::new(blob)), counter.clone());
        let dec = flate2::bufread::MultiGzDecoder::new(io::BufReader::new(raw.clone()));
        let (d, f) = decode_ahead(Box::new(dec), raw).unwrap();
        (d, f, counter)
    }

    #[test]
    fn passes_every_byte_in_order() {
        let data: Vec<u8> = (0..(3 * BLOCK + 123))
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        let blob = gzip(&data);
        let compressed = blob.len() as u64;
        let (mut d, f, counter) = decoded_over(blob);
        let mut out = Vec::new();
        // Odd read sizes, so reads straddle blocks.
        let mut buf = [0u8; 4099];
        loop {
            let n = d.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        assert_eq!(out, data);
        drop(d);
        f.finish(true).unwrap();
        assert_eq!(counter.get(), compressed, "every raw byte was read");
    }

    #[test]
    fn an_early_stop_releases_the_thread_and_still_drains() {
        let data = vec![b'x'; 40 * BLOCK];
        let blob = gzip(&data);
        let total = blob.len() as u64;
        let (mut d, f, counter) = decoded_over(blob);
        let mut buf = [0u8; 10];
        d.read_exact(&mut buf).unwrap();
        drop(d); // the decoder may be blocked handing over a block
        f.finish(true).unwrap();
        assert_eq!(counter.get(), total);
    }

    #[test]
    fn a_corrupt_stream_fails_after_the_good_bytes() {
        let data: Vec<u8> = (0..(2 * BLOCK)).map(|i| (i % 13) as u8).collect();
        let mut blob = gzip(&data);
        let n = blob.len();
        blob.truncate(n - 20); // lose the end of the deflate stream and the trailer
        let (mut d, f, _) = decoded_over(blob);
        let mut out = Vec::new();
        let err = d.read_to_end(&mut out).unwrap_err();
        assert!(!out.is_empty() && data.starts_with(&out));
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "{err}");
        // The error stays.
        assert!(d.read(&mut [0u8; 8]).is_err());
        drop(d);
        f.finish(false).unwrap();
    }
}
