//! Address checks, one per format. Each takes one candidate (a maximal run of ASCII
//! letters and digits) and says which address it is, or nothing. Checksums are what make
//! them "checked": random text of the right shape fails them.
//!
//! - CryptoNote: Monero's block-wise base58 (8-byte blocks as 11 characters), a varint
//!   network prefix looked up in `wallets.toml`, the decoded length the entry names, and the
//!   first 4 bytes of Keccak-256 over the rest.
//! - base58check (Bitcoin P2PKH/P2SH): `bs58` decoding to 25 bytes, a version byte from
//!   `wallets.toml`, 4 bytes of double SHA-256.
//! - segwit (BIP-173 bech32 for witness v0, BIP-350 bech32m for v1+): the `bech32` crate's
//!   `segwit::decode`, which verifies the checksum variant, the witness program length and
//!   rejects mixed case; the hrp must be listed in `wallets.toml`.
//! - Ethereum: `0x` + 40 hex digits. Mixed case is EIP-55: letter `i` of the address is
//!   upper case iff nibble `i` of Keccak-256(lowercase hex) is ≥ 8. One case only cannot
//!   be checked.

use crate::signatures::wallets::WalletTable;
use sha2::{Digest, Sha256};
use tiny_keccak::{Hasher, Keccak};

pub(super) const ALPHABET: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
/// Encoded length of a block of 0..=8 bytes.
pub(super) const ENCODED_BLOCK: [usize; 9] = [0, 2, 3, 5, 6, 7, 9, 10, 11];

/// Base58 digit value of each byte, 0xff for bytes outside the alphabet.
static B58_DIGIT: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < ALPHABET.len() {
        t[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    t
};

/// How sure a match is, which decides how it counts (see collate.rs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confidence {
    /// A checked CryptoNote address: the coins miners are paid in.
    Miner,
    /// A checked address of a coin that legitimate software also quotes (Bitcoin, Ethereum).
    Common,
    /// The right shape, but the format has no checksum to verify (all-lowercase Ethereum).
    Unchecked,
}

/// One address found: its signature name and how it counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub signature: String,
    pub confidence: Confidence,
}

pub(crate) fn keccak256(data: &[u8]) -> [u8; 32] {
    let mut k = Keccak::v256();
    k.update(data);
    let mut h = [0u8; 32];
    k.finalize(&mut h);
    h
}

/// Decode Monero base58 (8-byte blocks as 11 characters, the last block shorter).
pub fn decode_base58(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 8 / 11 + 8);
    for block in s.chunks(11) {
        let size = ENCODED_BLOCK.iter().position(|&n| n == block.len())?;
        let mut num: u128 = 0;
        for &c in block {
            let d = B58_DIGIT[c as usize];
            if d == 0xff {
                return None;
            }
            num = num * 58 + d as u128;
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

/// The CryptoNote varint at the start of `b`: (value, bytes used).
pub fn read_varint(b: &[u8]) -> Option<(u64, usize)> {
    let mut v: u64 = 0;
    for (i, &byte) in b.iter().enumerate().take(10) {
        let bits = (byte & 0x7f) as u64;
        if i == 9 && bits > 1 {
            return None;
        }
        v |= bits << (7 * i);
        if byte & 0x80 == 0 {
            // A non-canonical encoding (a trailing zero byte) is not what wallets write.
            if i > 0 && byte == 0 {
                return None;
            }
            return Some((v, i + 1));
        }
    }
    None
}

/// The CryptoNote address `s` is, by `table`, if its prefix, length and checksum agree.
pub fn check_cryptonote(table: &WalletTable, s: &[u8]) -> Option<Address> {
    if !table.cn_length(s.len()) {
        return None;
    }
    let raw = decode_base58(s)?;
    let (prefix, _) = read_varint(&raw)?;
    let entry = table.cryptonote(prefix, raw.len())?;
    let (body, sum) = raw.split_at(raw.len() - 4);
    (keccak256(body)[..4] == *sum).then(|| Address {
        signature: entry.signature.clone(),
        confidence: Confidence::Miner,
    })
}

/// Shortest and longest base58check strings of 25 bytes.
const B58CHECK_LEN: std::ops::RangeInclusive<usize> = 26..=35;

/// A base58check address with a listed version byte.
pub fn check_base58check(table: &WalletTable, s: &[u8]) -> Option<Address> {
    if !B58CHECK_LEN.contains(&s.len()) || table.base58check.is_empty() {
        return None;
    }
    let mut buf = [0u8; 25];
    let n = bs58::decode(s).onto(&mut buf[..]).ok()?;
    if n != 25 {
        return None;
    }
    let entry = table.base58check.iter().find(|v| v.version == buf[0])?;
    let h = Sha256::digest(Sha256::digest(&buf[..21]));
    (h[..4] == buf[21..]).then(|| Address {
        signature: entry.signature.clone(),
        confidence: Confidence::Common,
    })
}

/// A segwit address (bech32 for v0, bech32m for v1+) with a listed hrp.
pub fn check_segwit(table: &WalletTable, s: &[u8]) -> Option<Address> {
    if !(14..=90).contains(&s.len()) {
        return None;
    }
    let entry = table.segwit.iter().find(|h| {
        s.len() > h.hrp.len()
            && s[..h.hrp.len()].eq_ignore_ascii_case(h.hrp.as_bytes())
            && s[h.hrp.len()] == b'1'
    })?;
    let text = std::str::from_utf8(s).ok()?;
    let (_, version, _) = bech32::segwit::decode(text).ok()?;
    let variant = if version.to_u8() == 0 {
        "bech32"
    } else {
        "bech32m"
    };
    Some(Address {
        signature: format!("wallet:{}-{variant}", entry.coin),
        confidence: Confidence::Common,
    })
}

/// An Ethereum address: EIP-55-checked when mixed case, unchecked otherwise.
pub fn check_ethereum(s: &[u8]) -> Option<Address> {
    if s.len() != 42 || &s[..2] != b"0x" || !s[2..].iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let hex = &s[2..];
    let upper = hex.iter().any(u8::is_ascii_uppercase);
    let lower = hex.iter().any(u8::is_ascii_lowercase);
    if !(upper && lower) {
        return Some(Address {
            signature: "wallet:ethereum-unchecked".into(),
            confidence: Confidence::Unchecked,
        });
    }
    let lowered: Vec<u8> = hex.iter().map(u8::to_ascii_lowercase).collect();
    let h = keccak256(&lowered);
    let ok = hex.iter().enumerate().all(|(i, c)| {
        let nibble = (h[i / 2] >> if i % 2 == 0 { 4 } else { 0 }) & 0xf;
        !c.is_ascii_alphabetic() || c.is_ascii_uppercase() == (nibble >= 8)
    });
    ok.then(|| Address {
        signature: "wallet:ethereum-eip55".into(),
        confidence: Confidence::Common,
    })
}

/// The address a candidate run is, trying the formats its shape allows.
pub fn classify(table: &WalletTable, s: &[u8]) -> Option<Address> {
    if s.len() == 42 && s.starts_with(b"0x") {
        return check_ethereum(s);
    }
    if let Some(a) = check_segwit(table, s) {
        return Some(a);
    }
    if !s.iter().all(|&b| B58_DIGIT[b as usize] != 0xff) {
        return None;
    }
    check_base58check(table, s).or_else(|| check_cryptonote(table, s))
}
