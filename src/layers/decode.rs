//! Decompression on its own thread, ahead of the tar reader.
//!
//! Inflating a gzip layer costs about as much CPU as everything else the walker's thread
//! does (tar headers, paths, the visitor and its hand-off to the content thread) put
//! together. On one thread those add up; here the decoder fills blocks (the same
//! [`fill_blocks`] / [`ReadAhead`] hand-off the blob reader uses) on a thread of its own while the walker parses the previous ones, so
//! on two cores the walk costs about the larger of the two instead of their sum.
//!
//! ```text
//! blob ──▶ imgscan-blob (read, SHA-256) ──▶ imgscan-inflate (gzip/zstd) ──▶ walker (tar)
//! ```
//!
//! Memory stays bounded: at most `AHEAD_QUEUE` blocks of `AHEAD_BLOCK` bytes wait, and when the walker stops early
//! (a bound, an error) the decoder stops at its next block; it never runs further ahead
//! than the queue. Errors reach the walker in order, after the bytes decoded before them,
//! so a truncated or corrupt stream is reported where it happens.
//!
//! When the walker is done it calls [`Finish::finish`]: the thread then reads the rest of
//! the raw blob (padding after the compressed stream, or everything after an early stop)
//! so the blob's digest is still checked over every byte, and hands back what that gave.

use super::read::{fill_blocks, Block, ReadAhead, SharedRaw, AHEAD_BLOCK, AHEAD_QUEUE};
use std::io::{self, Read};
use std::sync::mpsc;

/// Ends the decoding thread; see [`Finish::finish`].
pub(super) struct Finish {
    cmd: Option<mpsc::Sender<bool>>,
    done: mpsc::Receiver<io::Result<u64>>,
}

impl Finish {
    /// Stop decoding. With `drain`, the thread reads the raw blob to its end (so its
    /// digest is verified) and this returns what that read gave. The decoded stream
    /// (the [`ReadAhead`] side) must be dropped first: a thread waiting to hand over a
    /// block is released by that.
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

/// Run `decoder` (which reads from `raw`) on its own thread; the decoded stream and the
/// handle that ends it. Fails only when no thread can be started.
pub(super) fn decode_ahead(
    decoder: Box<dyn Read + Send>,
    raw: SharedRaw,
) -> io::Result<(ReadAhead, Finish)> {
    let (tx, rx) = mpsc::sync_channel::<io::Result<Block>>(AHEAD_QUEUE);
    let (back, back_rx) = mpsc::channel::<Vec<u8>>();
    let (cmd, cmd_rx) = mpsc::channel::<bool>();
    let (done_tx, done) = mpsc::channel::<io::Result<u64>>();
    std::thread::Builder::new()
        .name("imgscan-inflate".into())
        .spawn(move || {
            let mut decoder = decoder;
            let mut raw = raw;
            fill_blocks(&mut *decoder, &tx, &back_rx);
            drop(tx);
            drop(decoder);
            if cmd_rx.recv().unwrap_or(false) {
                let _ = done_tx.send(drain(&mut raw));
            }
        })?;
    Ok((
        ReadAhead::new(rx, back),
        Finish {
            cmd: Some(cmd),
            done,
        },
    ))
}

/// Read `r` to its end; the byte count.
fn drain(r: &mut dyn Read) -> io::Result<u64> {
    let mut buf = vec![0u8; AHEAD_BLOCK];
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

    fn decoded_over(blob: Vec<u8>) -> (ReadAhead, Finish, Counter) {
        let counter = Counter::default();
        let raw = SharedRaw::new(Box::new(Cursor::new(blob)), counter.clone());
        let dec = flate2::bufread::MultiGzDecoder::new(io::BufReader::new(raw.clone()));
        let (d, f) = decode_ahead(Box::new(dec), raw).unwrap();
        (d, f, counter)
    }

    #[test]
    fn passes_every_byte_in_order() {
        let data: Vec<u8> = (0..(3 * AHEAD_BLOCK + 123))
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
        let data = vec![b'x'; 40 * AHEAD_BLOCK];
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
        let data: Vec<u8> = (0..(2 * AHEAD_BLOCK)).map(|i| (i % 13) as u8).collect();
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
