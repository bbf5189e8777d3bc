//! Wallet analyzer: Monero addresses (standard and subaddress, 95 chars; integrated, 106)
//! confirmed by decoding Monero's block-wise base58 and checking the Keccak-256 checksum,
//! so random base58 text does not match. Format facts: monero-project/monero-docs
//! `docs/en/public-address/*.md` (see signatures in `../shared/intel/miner-signatures.md` §5).
//!
//! Runs on text files (no NUL in the first 8 KiB), config values and history; streams with
//! a carried tail so an address split across chunks is found.

use super::{Analyzer, FileCtx, Signal, SignalKind, Subject};
use regex::bytes::Regex;
use std::sync::LazyLock;
use tiny_keccak::{Hasher, Keccak};

const ALPHABET: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
/// Encoded length of a block of 0..=8 bytes.
const ENCODED_BLOCK: [usize; 9] = [0, 2, 3, 5, 6, 7, 9, 10, 11];

static CANDIDATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[48][1-9A-HJ-NP-Za-km-z]{94}(?:[1-9A-HJ-NP-Za-km-z]{11})?").expect("valid")
});

/// What kind of Monero address a string is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressKind {
    Standard,
    Subaddress,
    Integrated,
}

impl AddressKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AddressKind::Standard => "monero-standard",
            AddressKind::Subaddress => "monero-subaddress",
            AddressKind::Integrated => "monero-integrated",
        }
    }
}

/// Decode Monero base58 (8-byte blocks as 11 characters, the last block shorter).
pub fn decode_base58(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 8 / 11 + 8);
    for block in s.chunks(11) {
        let size = ENCODED_BLOCK.iter().position(|&n| n == block.len())?;
        let mut num: u128 = 0;
        for &c in block {
            let d = ALPHABET.iter().position(|&a| a == c)? as u128;
            num = num.checked_mul(58)?.checked_add(d)?;
        }
        if size < 8 && num >> (8 * size) != 0 {
            return None;
        }
        if num > u64::MAX as u128 {
            return None;
        }
        out.extend_from_slice(&(num as u64).to_be_bytes()[8 - size..]);
    }
    Some(out)
}

/// The kind of Monero address `s` is, if it is one with a valid checksum (mainnet,
/// stagenet or testnet).
pub fn check_address(s: &[u8]) -> Option<AddressKind> {
    let raw = decode_base58(s)?;
    let (kind, want_len) = match raw.first()? {
        18 | 24 | 53 => (AddressKind::Standard, 69),
        42 | 36 | 63 => (AddressKind::Subaddress, 69),
        19 | 25 | 54 => (AddressKind::Integrated, 77),
        _ => return None,
    };
    if raw.len() != want_len {
        return None;
    }
    let (body, sum) = raw.split_at(raw.len() - 4);
    let mut k = Keccak::v256();
    k.update(body);
    let mut h = [0u8; 32];
    k.finalize(&mut h);
    (h[..4] == *sum).then_some(kind)
}

fn is_b58(b: u8) -> bool {
    ALPHABET.contains(&b)
}

/// Checksum-valid addresses in `data` as `(start, end, kind)`; candidates must not be part
/// of a longer base58 run.
pub fn find_addresses(data: &[u8]) -> Vec<(usize, usize, AddressKind)> {
    let mut out = Vec::new();
    for m in CANDIDATE.find_iter(data) {
        let (s, e) = (m.start(), m.end());
        if (s > 0 && is_b58(data[s - 1])) || (e < data.len() && is_b58(data[e])) {
            continue;
        }
        if let Some(k) = check_address(m.as_bytes()) {
            out.push((s, e, k));
        }
    }
    out
}

/// Wallet signals in one in-memory text.
pub fn scan_text(text: &str, subject: &Subject) -> Vec<Signal> {
    find_addresses(text.as_bytes())
        .into_iter()
        .map(|(s, e, k)| Signal {
            line: None,
            subject: subject.clone(),
            kind: SignalKind::Wallet,
            signature: format!("wallet:{}", k.as_str()),
            offset: Some(s as u64),
            excerpt: String::from_utf8_lossy(&text.as_bytes()[s..e]).into_owned(),
        })
        .collect()
}

/// Longest address + one boundary byte either side.
const TAIL: usize = 108;
/// At most this many wallet signals per file.
const MAX_PER_FILE: usize = 8;

/// The wallet analyzer over text files.
#[derive(Default)]
pub struct WalletAnalyzer {
    buf: Vec<u8>,
    base: u64,
    /// Absolute offset up to which candidate starts were handled.
    done: u64,
    found: Vec<(u64, String, AddressKind)>,
}

impl WalletAnalyzer {
    fn scan(&mut self, eof: bool) {
        // A candidate that ends at the buffer's end may continue in the next chunk.
        for (s, e, k) in find_addresses_in(&self.buf, eof) {
            let abs = self.base + s as u64;
            if abs < self.done || self.found.len() >= MAX_PER_FILE {
                continue;
            }
            if self.found.iter().any(|f| f.0 == abs) {
                continue;
            }
            self.found.push((
                abs,
                String::from_utf8_lossy(&self.buf[s..e]).into_owned(),
                k,
            ));
        }
    }
}

fn find_addresses_in(data: &[u8], eof: bool) -> Vec<(usize, usize, AddressKind)> {
    find_addresses(data)
        .into_iter()
        .filter(|&(_, e, _)| eof || e < data.len())
        .collect()
}

impl Analyzer for WalletAnalyzer {
    fn name(&self) -> &'static str {
        "wallet"
    }
    fn file_start(&mut self, file: &FileCtx) -> bool {
        self.buf.clear();
        self.base = 0;
        self.done = 0;
        self.found.clear();
        !file.head.is_empty() && file.is_text()
    }
    fn file_chunk(&mut self, data: &[u8], _offset: u64) {
        self.buf.extend_from_slice(data);
        self.scan(false);
        if self.buf.len() > TAIL {
            let drop = self.buf.len() - TAIL;
            self.buf.drain(..drop);
            self.base += drop as u64;
            // Starts before the kept tail can never be seen again.
            self.done = self.base;
        }
    }
    fn file_end(&mut self, file: &FileCtx, _truncated: bool, out: &mut Vec<Signal>) {
        if file.head.is_empty() || !file.is_text() {
            return;
        }
        self.scan(true);
        let subject = file.subject();
        for (off, text, k) in self.found.drain(..) {
            out.push(Signal {
                line: None,
                subject: subject.clone(),
                kind: SignalKind::Wallet,
                signature: format!("wallet:{}", k.as_str()),
                offset: Some(off),
                excerpt: text,
            });
        }
        self.buf.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Published attacker wallets (Unit 42 WatchDog, Black-T, Hildegard; hub-feedback #1121),
    // quoted in ../shared/intel/miner-signatures.md §5.
    const WATCHDOG: &str = "43zqYTWj1JG1H1idZFQWwJZLTos3hbJ5iR3tJpEtwEi43UBbzPeaQxCRysdjYTtdc8aHao7csiWa5BTP9PfNYzyfSbbrwoR";
    const WATCHDOG_SUB: &str = "82etS8QzVhqdiL6LMbb85BdEC3KgJeRGT3X1F3DQBnJa2tzgBJ54bn4aNDjuWDtpygBsRqcfGRK4gbbw3xUy3oJv7TwpUG4";
    const BLACKT_SUB: &str = "84xqqFNopNcG7T5AcVyv7LVyrBfQyTVGxMFEL2gsxQ92eNfu6xddkWabA3yKCJmfdaA9jEiCyFqfffKp1nQkgeq2Uu2dhB8";
    const HILDEGARD: &str = "428uyvSqdpVZL7HHgpj2T5SpasCcoHZNTTzE3Lz2H5ZkiMzqayy19sYDcBGDCjoWbTfLBnc3tc9rG4Y8gXQ8fJiP5tqeBda";
    const MEMORYTEST: &str = "47ZaBbPk8T7TQa1Q7NdB2wAw6Y38DtjNgjKU2QBssUb2fcL7q3aR4kMhG7hfqNha3JEYnveoEQHPVb8zBnUFjRvc8JTpRW3";

    #[test]
    fn published_addresses_validate() {
        for a in [WATCHDOG, HILDEGARD, MEMORYTEST] {
            assert_eq!(
                check_address(a.as_bytes()),
                Some(AddressKind::Standard),
                "{a}"
            );
        }
        for a in [WATCHDOG_SUB, BLACKT_SUB] {
            assert_eq!(
                check_address(a.as_bytes()),
                Some(AddressKind::Subaddress),
                "{a}"
            );
        }
    }

    #[test]
    fn integrated_address_round_trip() {
        // Build an integrated address from a standard one's keys with a payment id.
        let mut raw = decode_base58(HILDEGARD.as_bytes()).unwrap();
        raw.truncate(65);
        raw[0] = 19;
        raw.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        let mut k = Keccak::v256();
        k.update(&raw);
        let mut h = [0u8; 32];
        k.finalize(&mut h);
        raw.extend_from_slice(&h[..4]);
        let enc = encode_base58(&raw);
        assert_eq!(enc.len(), 106);
        assert_eq!(check_address(enc.as_bytes()), Some(AddressKind::Integrated));
    }

    fn encode_base58(data: &[u8]) -> String {
        let mut out = String::new();
        for block in data.chunks(8) {
            let mut num = 0u128;
            for &b in block {
                num = num * 256 + b as u128;
            }
            let mut chars = vec![b'1'; ENCODED_BLOCK[block.len()]];
            for c in chars.iter_mut().rev() {
                *c = ALPHABET[(num % 58) as usize];
                num /= 58;
            }
            out.push_str(std::str::from_utf8(&chars).unwrap());
        }
        out
    }

    #[test]
    fn random_base58_and_altered_addresses_do_not_match() {
        let mut altered = WATCHDOG.as_bytes().to_vec();
        altered[50] = if altered[50] == b'a' { b'b' } else { b'a' };
        assert_eq!(check_address(&altered), None);
        let random = format!("4{}", "A1b2C3d4E5".repeat(10));
        assert!(find_addresses(&random.as_bytes()[..95]).is_empty());
        // Part of a longer base58 run: not an address.
        assert!(find_addresses(format!("{WATCHDOG}x").as_bytes()).is_empty());
        let text = format!("wallet = \"{WATCHDOG}\"\n");
        assert_eq!(find_addresses(text.as_bytes()).len(), 1);
    }

    #[test]
    fn streaming_finds_an_address_split_across_chunks() {
        let text = format!(
            "{}\nuser: {HILDEGARD}\n{}",
            "x ".repeat(5000),
            "y ".repeat(100)
        );
        let entry = crate::image::FileEntry {
            layer: 0,
            layer_digest: "sha256:0".into(),
            path: "etc/miner.conf".into(),
            kind: crate::image::EntryKind::File,
            mode: 0o644,
            size: text.len() as u64,
            link_target: None,
            hidden_by: None,
        };
        for chunk in [1, 50, 107, 4096, 20000] {
            let mut a = WalletAnalyzer::default();
            let head = &text.as_bytes()[..chunk.min(text.len())];
            let ctx = FileCtx {
                entry: &entry,
                inside: &[],
                head,
            };
            assert!(a.file_start(&ctx));
            let mut off = 0;
            for c in text.as_bytes().chunks(chunk) {
                a.file_chunk(c, off);
                off += c.len() as u64;
            }
            let mut out = Vec::new();
            a.file_end(&ctx, false, &mut out);
            assert_eq!(out.len(), 1, "chunk {chunk}");
            assert_eq!(out[0].excerpt, HILDEGARD);
            assert_eq!(out[0].offset, Some(10007));
        }
    }
}
