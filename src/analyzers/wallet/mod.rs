//! Wallet analyzer: cryptocurrency addresses confirmed by their checksums, so random text
//! of the right shape does not match. Formats (`formats.rs`): CryptoNote-family addresses
//! (Monero main/sub/integrated and its test networks, Wownero, Zephyr, Haven, Arqma,
//! Conceal, TurtleCoin; varint network prefixes and lengths are data in
//! `signatures/wallets.toml`) with their Keccak checksum; Bitcoin base58check and
//! bech32/bech32m; Ethereum with its EIP-55 checksum when mixed case (one-case Ethereum is
//! reported as unchecked). How each counts is collate.rs's policy: a CryptoNote address is
//! HIGH, Bitcoin/Ethereum LOW, unchecked only beside a miner or pool signal.
//!
//! Cost: it runs over every byte of every text file (no NUL in the first 8 KiB), config
//! values and history, so it is one pass that looks for maximal runs of ASCII letters and
//! digits at least [`MIN_RUN`] long, by probing every `MIN_RUN`th byte (a run that long must
//! cover the probe); only runs of a length some format has are decoded. A run that reaches a
//! chunk's end is carried into the next chunk (at most the longest address; a longer run is
//! skipped to its end), so an address split across chunks is found once. At most
//! [`MAX_PER_FILE`] addresses per file are reported and the scan of that file stops there.

mod formats;
#[cfg(test)]
mod tests;

pub use formats::{classify, decode_base58, read_varint, Address, Confidence};

use super::{Analyzer, FileCtx, Signal, SignalKind, Subject};
use crate::signatures::wallets::WalletTable;
use crate::signatures::Signatures;
use std::sync::{Arc, LazyLock};

/// Shortest candidate: a base58check address of 25 bytes is at least 26 characters.
pub const MIN_RUN: usize = 26;
/// At most this many wallet signals per file.
pub const MAX_PER_FILE: usize = 8;

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

/// Where the scan of a buffer stopped.
enum Stop {
    /// Everything was seen.
    Done,
    /// A run starts here and reaches the buffer's end.
    Pending(usize),
}

/// Calls `f(start, end)` for every maximal run of letters and digits in `data` at least
/// [`MIN_RUN`] long (`data[0]` starts a run or follows a non-word byte). With `eof` false a
/// run that touches the end is not reported but returned as [`Stop::Pending`].
fn runs(data: &[u8], eof: bool, mut f: impl FnMut(usize, usize) -> bool) -> Stop {
    let len = data.len();
    let mut p = 0;
    while p + MIN_RUN <= len {
        let q = p + MIN_RUN - 1;
        if !is_word(data[q]) {
            p = q + 1;
            continue;
        }
        let mut s = q;
        while s > p && is_word(data[s - 1]) {
            s -= 1;
        }
        let mut e = q + 1;
        while e < len && is_word(data[e]) {
            e += 1;
        }
        if e == len && !eof {
            return Stop::Pending(s);
        }
        if e - s >= MIN_RUN && !f(s, e) {
            return Stop::Done;
        }
        p = e + 1;
    }
    if eof || p >= len {
        return Stop::Done;
    }
    // The last run (shorter than MIN_RUN so far) may go on in the next chunk.
    match data[p..].iter().rposition(|&b| !is_word(b)) {
        Some(i) if p + i + 1 == len => Stop::Done,
        Some(i) => Stop::Pending(p + i + 1),
        None => Stop::Pending(p),
    }
}

/// Checked addresses in `data` as `(start, end, address)`, at most `max`.
pub fn find_addresses(
    table: &WalletTable,
    data: &[u8],
    max: usize,
) -> Vec<(usize, usize, Address)> {
    let mut out = Vec::new();
    runs(data, true, |s, e| {
        if let Some(a) = classify(table, &data[s..e]) {
            out.push((s, e, a));
        }
        out.len() < max
    });
    out
}

/// The embedded `wallets.toml`, for callers without a [`Signatures`] at hand.
static EMBEDDED: LazyLock<WalletTable> = LazyLock::new(|| {
    Signatures::embedded()
        .map(|s| s.wallets.clone())
        .unwrap_or_default()
});

fn signal(subject: &Subject, offset: u64, text: String, a: &Address) -> Signal {
    Signal {
        line: None,
        subject: subject.clone(),
        kind: match a.confidence {
            Confidence::Miner => SignalKind::Wallet,
            Confidence::Common => SignalKind::WalletCommon,
            Confidence::Unchecked => SignalKind::WalletUnchecked,
        },
        signature: a.signature.clone(),
        offset: Some(offset),
        excerpt: text,
    }
}

/// Wallet signals in one in-memory text, by `table` (`&sigs.wallets`).
pub fn scan_text_with(table: &WalletTable, text: &str, subject: &Subject) -> Vec<Signal> {
    find_addresses(table, text.as_bytes(), MAX_PER_FILE)
        .into_iter()
        .map(|(s, e, a)| signal(subject, s as u64, text[s..e].to_string(), &a))
        .collect()
}

/// [`scan_text_with`] by the embedded `wallets.toml` (ignores `--signatures`).
pub fn scan_text(text: &str, subject: &Subject) -> Vec<Signal> {
    scan_text_with(&EMBEDDED, text, subject)
}

/// The wallet analyzer over text files.
pub struct WalletAnalyzer {
    sigs: Arc<Signatures>,
    /// Bytes not yet scanned: a run that reached the previous chunk's end, then new data.
    buf: Vec<u8>,
    /// Absolute offset of `buf[0]`.
    base: u64,
    /// Inside a word run longer than any address: skip to its end.
    skipping: bool,
    wanted: bool,
    found: Vec<(u64, String, Address)>,
}

impl WalletAnalyzer {
    pub fn new(sigs: Arc<Signatures>) -> Self {
        WalletAnalyzer {
            sigs,
            buf: Vec::new(),
            base: 0,
            skipping: false,
            wanted: false,
            found: Vec::new(),
        }
    }

    fn scan(&mut self, eof: bool) {
        let table = &self.sigs.wallets;
        let (buf, found, base) = (&self.buf, &mut self.found, self.base);
        let stop = runs(buf, eof, |s, e| {
            if let Some(a) = classify(table, &buf[s..e]) {
                let text = String::from_utf8_lossy(&buf[s..e]).into_owned();
                found.push((base + s as u64, text, a));
            }
            found.len() < MAX_PER_FILE
        });
        let keep = match stop {
            Stop::Done => self.buf.len(),
            Stop::Pending(s) => s,
        };
        if self.buf.len() - keep > table.max_len() {
            self.skipping = true;
            self.base += self.buf.len() as u64;
            self.buf.clear();
        } else {
            self.buf.drain(..keep);
            self.base += keep as u64;
        }
    }
}

impl Analyzer for WalletAnalyzer {
    fn name(&self) -> &'static str {
        "wallet"
    }
    fn file_start(&mut self, file: &FileCtx) -> bool {
        self.buf.clear();
        self.base = 0;
        self.skipping = false;
        self.found.clear();
        self.wanted = !file.head.is_empty() && file.is_text();
        self.wanted
    }
    fn file_chunk(&mut self, mut data: &[u8], offset: u64) {
        if self.found.len() >= MAX_PER_FILE {
            return;
        }
        if self.skipping {
            match data.iter().position(|&b| !is_word(b)) {
                Some(i) => {
                    self.skipping = false;
                    data = &data[i + 1..];
                    self.base = offset + i as u64 + 1;
                }
                None => return,
            }
        }
        self.buf.extend_from_slice(data);
        self.scan(false);
    }
    fn file_end(&mut self, file: &FileCtx, _truncated: bool, out: &mut Vec<Signal>) {
        if !self.wanted {
            return;
        }
        self.wanted = false;
        if !self.skipping && self.found.len() < MAX_PER_FILE {
            self.scan(true);
        }
        let subject = file.subject();
        for (off, text, a) in self.found.drain(..) {
            out.push(signal(&subject, off, text, &a));
        }
        self.buf.clear();
    }
}
