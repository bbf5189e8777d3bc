//! `wallets.toml`: the address formats the wallet analyzer checks (CryptoNote network
//! prefixes, base58check version bytes, segwit human-readable parts), parsed, validated and
//! indexed for the analyzer's per-candidate lookup.

use crate::error::{Error, Result};
use serde::Deserialize;

/// Which kind of CryptoNote address a prefix stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CnKind {
    Standard,
    Integrated,
    Subaddress,
}

impl CnKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CnKind::Standard => "standard",
            CnKind::Integrated => "integrated",
            CnKind::Subaddress => "subaddress",
        }
    }
}

/// One CryptoNote network prefix.
#[derive(Debug, Clone)]
pub struct CnPrefix {
    pub coin: String,
    /// `mainnet`, `testnet`, `stagenet`.
    pub network: String,
    pub kind: CnKind,
    /// The varint the decoded bytes start with.
    pub prefix: u64,
    /// Decoded length in bytes (prefix varint, keys, payment id, checksum).
    pub length: usize,
    pub source: String,
    /// `wallet:monero-standard`, `wallet:monero-stagenet-subaddress`, ...
    pub signature: String,
}

/// One base58check version byte.
#[derive(Debug, Clone)]
pub struct B58Version {
    pub coin: String,
    pub kind: String,
    pub version: u8,
    pub source: String,
    pub signature: String,
}

/// One segwit human-readable part.
#[derive(Debug, Clone)]
pub struct SegwitHrp {
    pub coin: String,
    pub hrp: String,
    pub source: String,
}

/// Everything from `wallets.toml`, indexed.
#[derive(Debug, Clone, Default)]
pub struct WalletTable {
    pub cryptonote: Vec<CnPrefix>,
    pub base58check: Vec<B58Version>,
    pub segwit: Vec<SegwitHrp>,
    /// `cn_by_chars[n]`: true when some CryptoNote address encodes to `n` characters.
    pub cn_lengths: Vec<bool>,
}

/// Monero base58's encoded length of `n` bytes (8-byte blocks as 11 characters).
pub fn cn_encoded_len(n: usize) -> usize {
    const BLOCK: [usize; 9] = [0, 2, 3, 5, 6, 7, 9, 10, 11];
    n / 8 * 11 + BLOCK[n % 8]
}

/// Bytes of the CryptoNote varint of `v` (7 bits a byte, low bits first).
pub fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

impl WalletTable {
    /// The prefix entry for a decoded address of `len` bytes starting with varint `prefix`.
    pub fn cryptonote(&self, prefix: u64, len: usize) -> Option<&CnPrefix> {
        self.cryptonote
            .iter()
            .find(|p| p.prefix == prefix && p.length == len)
    }
    /// Whether some CryptoNote address is `n` characters long.
    pub fn cn_length(&self, n: usize) -> bool {
        self.cn_lengths.get(n).copied().unwrap_or(false)
    }
    fn index(&mut self) {
        let max = self
            .cryptonote
            .iter()
            .map(|p| cn_encoded_len(p.length))
            .max()
            .unwrap_or(0);
        self.cn_lengths = vec![false; max + 1];
        for p in &self.cryptonote {
            self.cn_lengths[cn_encoded_len(p.length)] = true;
        }
    }
    /// Longest address any entry describes, in characters (the streaming scanner's bound).
    pub fn max_len(&self) -> usize {
        self.cn_lengths.len().max(90)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WalletsFile {
    #[serde(default)]
    cryptonote: Vec<toml::Spanned<RawCn>>,
    #[serde(default)]
    base58check: Vec<toml::Spanned<RawB58>>,
    #[serde(default)]
    segwit: Vec<toml::Spanned<RawSegwit>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCn {
    coin: String,
    #[serde(default)]
    network: Option<String>,
    kind: CnKind,
    prefix: u64,
    length: usize,
    source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawB58 {
    coin: String,
    kind: String,
    version: u8,
    source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSegwit {
    coin: String,
    hrp: String,
    source: String,
}

fn name_ok(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Add the entries of one `wallets.toml` to `t`. An entry with the same key as an earlier
/// file's (prefix and length; version byte; hrp) replaces it; within one file it is an error.
pub(super) fn add_wallets(
    t: &mut WalletTable,
    file: &str,
    text: &str,
    invalid: &dyn Fn(usize, String) -> Error,
) -> Result<()> {
    let parsed: WalletsFile = super::parse(file, text)?;
    let mut seen_cn = Vec::new();
    for sp in parsed.cryptonote {
        let at = sp.span().start;
        let r = sp.into_inner();
        let network = r.network.unwrap_or_else(|| "mainnet".into());
        if !name_ok(&r.coin) || !name_ok(&network) {
            return Err(invalid(
                at,
                format!("bad coin or network {:?}/{network:?}", r.coin),
            ));
        }
        if r.source.trim().is_empty() {
            return Err(invalid(at, format!("{}: empty source", r.coin)));
        }
        // Prefix varint + at least one key + checksum, and short enough to bound the scan.
        let min = varint_len(r.prefix) + 32 + 4;
        if r.length < min || r.length > 128 {
            return Err(invalid(
                at,
                format!("{}: length {} outside {min}..=128", r.coin, r.length),
            ));
        }
        if seen_cn.contains(&(r.prefix, r.length)) {
            return Err(invalid(
                at,
                format!(
                    "{}: duplicate prefix {} with length {}",
                    r.coin, r.prefix, r.length
                ),
            ));
        }
        seen_cn.push((r.prefix, r.length));
        t.cryptonote
            .retain(|p| !(p.prefix == r.prefix && p.length == r.length));
        let signature = if network == "mainnet" {
            format!("wallet:{}-{}", r.coin, r.kind.as_str())
        } else {
            format!("wallet:{}-{network}-{}", r.coin, r.kind.as_str())
        };
        t.cryptonote.push(CnPrefix {
            coin: r.coin,
            network,
            kind: r.kind,
            prefix: r.prefix,
            length: r.length,
            source: r.source,
            signature,
        });
    }
    let mut seen_v = Vec::new();
    for sp in parsed.base58check {
        let at = sp.span().start;
        let r = sp.into_inner();
        if !name_ok(&r.coin) || !name_ok(&r.kind) || r.source.trim().is_empty() {
            return Err(invalid(at, format!("bad base58check entry {:?}", r.coin)));
        }
        if seen_v.contains(&r.version) {
            return Err(invalid(at, format!("duplicate version byte {}", r.version)));
        }
        seen_v.push(r.version);
        t.base58check.retain(|v| v.version != r.version);
        t.base58check.push(B58Version {
            signature: format!("wallet:{}-{}", r.coin, r.kind),
            coin: r.coin,
            kind: r.kind,
            version: r.version,
            source: r.source,
        });
    }
    for sp in parsed.segwit {
        let at = sp.span().start;
        let r = sp.into_inner();
        let hrp_ok = !r.hrp.is_empty()
            && r.hrp.len() <= 10
            && r.hrp
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if !name_ok(&r.coin) || !hrp_ok || r.source.trim().is_empty() {
            return Err(invalid(at, format!("bad segwit entry {:?}", r.hrp)));
        }
        t.segwit.retain(|s| s.hrp != r.hrp);
        t.segwit.push(SegwitHrp {
            coin: r.coin,
            hrp: r.hrp,
            source: r.source,
        });
    }
    t.index();
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::signatures::{embedded_sources, Signatures, Source};

    fn with(extra: &str) -> crate::error::Result<Signatures> {
        let mut s = embedded_sources();
        s.push(Source::new("wallets.toml", "w.toml", extra));
        Signatures::from_sources(&s)
    }

    #[test]
    fn errors_name_file_and_line_and_later_files_extend() {
        let entry = |prefix: u64, len: usize| {
            format!("[[cryptonote]]\ncoin = \"x\"\nkind = \"standard\"\nprefix = {prefix}\nlength = {len}\nsource = \"s\"\n")
        };
        let dup = format!("{}\n{}", entry(1000, 70), entry(1000, 70));
        let e = with(&dup).unwrap_err();
        assert_eq!(e.target, "w.toml:8", "{e}");
        assert!(e.cause.contains("duplicate"), "{e}");
        let e = with(&entry(1000, 20)).unwrap_err();
        assert!(e.cause.contains("length"), "{e}");
        // A new coin extends the table; Monero's own prefix replaces the embedded entry.
        let s = with(&format!("{}\n{}", entry(1000, 70), entry(18, 69))).unwrap();
        let base = Signatures::embedded().unwrap().wallets;
        assert_eq!(s.wallets.cryptonote.len(), base.cryptonote.len() + 1);
        assert_eq!(
            s.wallets.cryptonote(18, 69).unwrap().signature,
            "wallet:x-standard"
        );
        assert!(base.cryptonote.iter().all(|p| !p.source.is_empty()));
    }
}
