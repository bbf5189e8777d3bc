use super::formats::{check_cryptonote, keccak256, ALPHABET, ENCODED_BLOCK};
use super::*;
use crate::signatures::wallets::{cn_encoded_len, varint_len, CnKind};

fn table() -> WalletTable {
    Signatures::embedded().unwrap().wallets
}

fn sig(s: &str) -> Option<String> {
    classify(&table(), s.as_bytes()).map(|a| a.signature)
}

// Published attacker wallets (Unit 42 WatchDog, Black-T, Hildegard; hub-feedback #1121),
// quoted in ../shared/intel/miner-signatures.md §5.
const WATCHDOG: &str = "43zqYTWj1JG1H1idZFQWwJZLTos3hbJ5iR3tJpEtwEi43UBbzPeaQxCRysdjYTtdc8aHao7csiWa5BTP9PfNYzyfSbbrwoR";
const WATCHDOG_SUB: &str = "82etS8QzVhqdiL6LMbb85BdEC3KgJeRGT3X1F3DQBnJa2tzgBJ54bn4aNDjuWDtpygBsRqcfGRK4gbbw3xUy3oJv7TwpUG4";
const WATCHDOG_SUB2: &str = "87q6aU1M9xmQ5p3wh8Jzst5mcFfDzKEuuDjV6u7Q7UDnAXJR7FLeQH2UYFzhQatde2WHuZ9LbxRsf3PGA8gpnGXL3G7iWMv";
const BLACKT_SUB: &str = "84xqqFNopNcG7T5AcVyv7LVyrBfQyTVGxMFEL2gsxQ92eNfu6xddkWabA3yKCJmfdaA9jEiCyFqfffKp1nQkgeq2Uu2dhB8";
const HILDEGARD: &str = "428uyvSqdpVZL7HHgpj2T5SpasCcoHZNTTzE3Lz2H5ZkiMzqayy19sYDcBGDCjoWbTfLBnc3tc9rG4Y8gXQ8fJiP5tqeBda";
const TEAMTNT: &str = "438ss2gYTKze7kMqrgUagwEjtm993CVHk1uKHUBZGy6yPaZ2WNe5vdDFXGoVvtf7wcbiAUJix3NR9Ph1aq2NqSgyBkVFEtZ";
const GRABOID: &str = "45TwKEr1LjoEPuxnbfuPhaXCf138AoQvtSJ3jdqg1gPxNjkSNbQpzZrGDaFHGLrVT7AzM7tU9QY8NVdr4H1C3r2d3XN9Cty";
const MEMORYTEST: &str = "47ZaBbPk8T7TQa1Q7NdB2wAw6Y38DtjNgjKU2QBssUb2fcL7q3aR4kMhG7hfqNha3JEYnveoEQHPVb8zBnUFjRvc8JTpRW3";

// Addresses published in the coins' own config headers (see wallets.toml for the commits).
const HAVEN_GOV: &str = "hvxy7YfeE8SdTrCmSqLB59WoQn3ZQun1aLX36X3eb1R7Fb26VuNpc235q4fguGUxfGKerywFPnweu15S8RB8DzTJ8Q4hGJCgvv";
const HAVEN_STAGENET_GOV: &str = "hvsaeLCg4ZkjLRQf8ciYSjHFX8y2CmrnibNBRDZiyyANTFtXQbxHy5PFD79MvmB9mtHeX8XLa36BJ33QoEDh8PH8hULLZnpdNx7";
const ZEPHYR_GOV: &str = "ZEPHYR2jZrZXenfKejCcCmEkRzUYwXjgWfJF4yzdCznKQ8yQ3g3PsWUbZjzfzHbeTPMgXVmEuDKQUB9rPkgtVwyWRh9knU4EpfJ57";
const ARQMA_GOV: &str = "ar2govGzKKncQTPTNEre3BGVGF4faUgNh5EiycjidUXMfwoMeHZSXvTay2AwURXzQDNvh3Hd2Vyn2iXctEZE5CncCdJpphqB";
const TURTLE_EXAMPLE: &str = "TRTLv2Fyavy8CXG8BPEbNeCHFZ1fuDCYCZ3vW5H5LXN4K2M2MHUpTENip9bbavpHvvPwb4NDkBWrNgURAd5DB38FHXWZyoBh4wW";

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

fn write_varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A CryptoNote address of `prefix` with `keys` (64 bytes, +8 for a payment id).
fn make_cn(prefix: u64, keys: &[u8]) -> String {
    let mut raw = Vec::new();
    write_varint(prefix, &mut raw);
    raw.extend_from_slice(keys);
    let h = keccak256(&raw);
    raw.extend_from_slice(&h[..4]);
    encode_base58(&raw)
}

fn keys(seed: u8, n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(37).wrapping_add(seed))
        .collect()
}

#[test]
fn published_monero_addresses_validate() {
    for a in [WATCHDOG, HILDEGARD, MEMORYTEST, TEAMTNT, GRABOID] {
        assert_eq!(sig(a).as_deref(), Some("wallet:monero-standard"), "{a}");
    }
    for a in [WATCHDOG_SUB, WATCHDOG_SUB2, BLACKT_SUB] {
        assert_eq!(sig(a).as_deref(), Some("wallet:monero-subaddress"), "{a}");
    }
}

#[test]
fn published_addresses_of_other_cryptonote_coins_validate() {
    assert_eq!(sig(HAVEN_GOV).as_deref(), Some("wallet:haven-standard"));
    assert_eq!(
        sig(HAVEN_STAGENET_GOV),
        None,
        "haven stagenet is not in the table"
    );
    assert_eq!(sig(ZEPHYR_GOV).as_deref(), Some("wallet:zephyr-standard"));
    // Arqma's header quotes a 96-character governance string: 96 is no valid Monero-base58
    // length (8 characters end no block), so it is not an address as published (Arqma's
    // own format is covered by the generated round trip below).
    assert_eq!(ARQMA_GOV.len(), 96);
    assert_eq!(sig(ARQMA_GOV), None);
    assert_eq!(
        sig(TURTLE_EXAMPLE).as_deref(),
        Some("wallet:turtlecoin-standard")
    );
}

/// The leading characters and lengths every table entry implies, computed from its
/// prefix and length (what a blog would quote as "Wownero addresses start with Wo").
#[test]
fn table_entries_imply_their_known_leading_characters() {
    let t = table();
    let mut seen = Vec::new();
    for p in &t.cryptonote {
        let body = p.length - varint_len(p.prefix) - 4;
        assert_eq!(
            body,
            if p.kind == CnKind::Integrated { 72 } else { 64 },
            "{}",
            p.signature
        );
        let lo = make_cn(p.prefix, &vec![0; body]);
        let hi = make_cn(p.prefix, &vec![0xff; body]);
        assert_eq!(lo.len(), cn_encoded_len(p.length));
        assert_eq!(hi.len(), lo.len());
        let common: String = lo
            .chars()
            .zip(hi.chars())
            .take_while(|(a, b)| a == b)
            .map(|(a, _)| a)
            .collect();
        seen.push((p.signature.clone(), lo.len(), common));
    }
    let get = |s: &str| seen.iter().find(|x| x.0 == s).cloned().unwrap();
    assert_eq!(get("wallet:monero-standard").1, 95);
    assert!(get("wallet:monero-standard").2.starts_with('4'));
    assert!(get("wallet:monero-subaddress").2.starts_with('8'));
    assert_eq!(get("wallet:monero-integrated").1, 106);
    assert!(get("wallet:wownero-standard").2.starts_with("Wo"));
    assert_eq!(get("wallet:wownero-standard").1, 97);
    assert!(get("wallet:haven-standard").2.starts_with("hvx"));
    assert!(get("wallet:haven-subaddress").2.starts_with("hvs"));
    assert!(get("wallet:haven-integrated").2.starts_with("hvi"));
    assert!(get("wallet:zephyr-standard").2.starts_with("ZEPHYR"));
    assert!(get("wallet:zephyr-subaddress").2.starts_with("ZEPHs"));
    assert!(get("wallet:arqma-standard").2.starts_with("ar"));
    assert!(get("wallet:arqma-subaddress").2.starts_with("aRS"));
    assert!(get("wallet:arqma-integrated").2.starts_with("aRi"));
    assert!(get("wallet:conceal-standard").2.starts_with("ccx7"));
    assert!(get("wallet:turtlecoin-standard").2.starts_with("TRTL"));
    // The longest address bounds the streaming carry.
    let longest = seen.iter().map(|x| x.1).max().unwrap();
    assert!(t.max_len() >= longest, "{longest}");
}

#[test]
fn generated_addresses_round_trip_for_every_entry() {
    let t = table();
    for (i, p) in t.cryptonote.iter().enumerate() {
        let body = p.length - varint_len(p.prefix) - 4;
        let a = make_cn(p.prefix, &keys(i as u8, body));
        let got = check_cryptonote(&t, a.as_bytes()).map(|a| a.signature);
        assert_eq!(got.as_deref(), Some(p.signature.as_str()), "{a}");
        // One character changed: the checksum fails.
        let mut bad = a.clone().into_bytes();
        let k = bad.len() / 2;
        bad[k] = if bad[k] == b'z' { b'y' } else { b'z' };
        assert_eq!(
            classify(&t, &bad),
            None,
            "{}",
            String::from_utf8_lossy(&bad)
        );
    }
}

#[test]
fn corrupted_and_random_cryptonote_text_does_not_match() {
    for a in [WATCHDOG, HAVEN_GOV, ZEPHYR_GOV] {
        let mut b = a.as_bytes().to_vec();
        b[50] = if b[50] == b'a' { b'b' } else { b'a' };
        assert_eq!(classify(&table(), &b), None);
    }
    // Random base58 of the right length, and a wrong prefix with a valid checksum.
    let random = format!("4{}", "A1b2C3d4E5".repeat(10));
    assert_eq!(sig(&random[..95]), None);
    assert_eq!(sig(&make_cn(17, &keys(1, 64))), None);
    // A listed prefix with the wrong length (a payment id on a standard prefix).
    assert_eq!(sig(&make_cn(18, &keys(1, 72))), None);
}

#[test]
fn bitcoin_base58check() {
    // The genesis block's coinbase address and the BIP-13 example script address.
    assert_eq!(
        sig("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa").as_deref(),
        Some("wallet:bitcoin-p2pkh")
    );
    assert_eq!(
        sig("3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy").as_deref(),
        Some("wallet:bitcoin-p2sh")
    );
    assert_eq!(sig("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb"), None);
    assert_eq!(sig("3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLz"), None);
    // A Monero-alphabet run of Bitcoin length that is not base58check.
    assert_eq!(sig("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3"), None);
}

#[test]
fn bip173_and_bip350_vectors() {
    for (a, want) in [
        (
            "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4",
            "wallet:bitcoin-bech32",
        ),
        (
            "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3",
            "wallet:bitcoin-bech32",
        ),
        (
            "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
            "wallet:bitcoin-bech32m",
        ),
        ("BC1SW50QGDZ25J", "wallet:bitcoin-bech32m"),
    ] {
        assert_eq!(sig(a).as_deref(), Some(want), "{a}");
    }
    for a in [
        // BIP-350 invalid: v1+ with a bech32 checksum, v0 with bech32m.
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd",
        "BC1S0XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ54WELL",
        // Mixed case, one character changed, another network's hrp.
        "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7kv8f3t4",
        "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5",
        "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx",
    ] {
        assert_eq!(sig(a), None, "{a}");
    }
}

#[test]
fn eip55_vectors() {
    for a in [
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
        "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
    ] {
        assert_eq!(sig(a).as_deref(), Some("wallet:ethereum-eip55"), "{a}");
        // One letter's case flipped: the checksum fails.
        let mut b = a.as_bytes().to_vec();
        let i = b.iter().rposition(u8::is_ascii_alphabetic).unwrap();
        b[i] ^= 0x20;
        assert_eq!(
            classify(&table(), &b),
            None,
            "{}",
            String::from_utf8_lossy(&b)
        );
    }
    let lower = "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed";
    assert_eq!(sig(lower).as_deref(), Some("wallet:ethereum-unchecked"));
    // SHA-1 hex (40) without 0x, SHA-256 hex with 0x: not 42 characters of 0x + hex.
    let sha1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709";
    assert!(find_addresses(&table(), sha1.as_bytes(), 8).is_empty());
    let sha256 = "0xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    assert!(find_addresses(&table(), sha256.as_bytes(), 8).is_empty());
}

#[test]
fn look_alikes_do_not_match() {
    let t = table();
    // PGP armour / base64 blob, with and without line breaks.
    let mut blob = String::from("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n");
    let mut x: u64 = 0x9e3779b97f4a7c15;
    let b64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for i in 0..64 * 200 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        blob.push(b64[(x % 64) as usize] as char);
        if i % 64 == 63 {
            blob.push('\n');
        }
    }
    blob.push_str("-----END PGP PUBLIC KEY BLOCK-----\n");
    assert!(find_addresses(&t, blob.as_bytes(), 8).is_empty());
    // Random base58 runs of every candidate length.
    let mut s = String::new();
    for n in 26..=110 {
        for _ in 0..20 {
            for _ in 0..n {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                s.push(ALPHABET[(x % 58) as usize] as char);
            }
            s.push(' ');
        }
    }
    assert!(find_addresses(&t, s.as_bytes(), 8).is_empty());
    // Part of a longer run of letters and digits: not an address.
    assert!(find_addresses(&t, format!("{WATCHDOG}x").as_bytes(), 8).is_empty());
    assert!(find_addresses(&t, format!("0{WATCHDOG}").as_bytes(), 8).is_empty());
    let text = format!("wallet = \"{WATCHDOG}\"\nuser={HAVEN_GOV}.worker1\n");
    assert_eq!(find_addresses(&t, text.as_bytes(), 8).len(), 2);
}

fn stream(text: &[u8], chunk: usize) -> Vec<Signal> {
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
    let mut a = WalletAnalyzer::new(Arc::new(Signatures::embedded().unwrap()));
    let head = &text[..chunk.min(text.len())];
    let ctx = FileCtx {
        entry: &entry,
        inside: &[],
        head,
    };
    assert!(a.file_start(&ctx));
    let mut off = 0;
    for c in text.chunks(chunk) {
        a.file_chunk(c, off);
        off += c.len() as u64;
    }
    let mut out = Vec::new();
    a.file_end(&ctx, false, &mut out);
    out
}

#[test]
fn streaming_finds_addresses_split_across_chunks_once() {
    let btc = "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0";
    let text = format!(
        "{}\nuser: {HILDEGARD}\n{}\n{ZEPHYR_GOV} {btc}\n",
        "x ".repeat(5000),
        "y ".repeat(100)
    );
    let zeph_at = text.find(ZEPHYR_GOV).unwrap() as u64;
    for chunk in [1, 2, 25, 26, 27, 50, 101, 107, 4096, 10007, 20000] {
        let out = stream(text.as_bytes(), chunk);
        let got: Vec<(&str, Option<u64>)> = out
            .iter()
            .map(|s| (s.signature.as_str(), s.offset))
            .collect();
        assert_eq!(
            got,
            [
                ("wallet:monero-standard", Some(10007)),
                ("wallet:zephyr-standard", Some(zeph_at)),
                ("wallet:bitcoin-bech32m", Some(zeph_at + 102)),
            ],
            "chunk {chunk}"
        );
        assert_eq!(out[0].excerpt, HILDEGARD);
        assert_eq!(out[0].kind, SignalKind::Wallet);
        assert_eq!(out[2].kind, SignalKind::WalletCommon);
    }
}

#[test]
fn long_runs_are_skipped_and_bounded() {
    // MBs of base58 characters, then an address: one pass, nothing from the run, the
    // address after it found.
    let mut text = "A1b2C3d4E5".repeat(400_000).into_bytes();
    text.extend_from_slice(format!(" {WATCHDOG}\n").as_bytes());
    let t = std::time::Instant::now();
    for chunk in [4096, 256 << 10] {
        let out = stream(&text, chunk);
        assert_eq!(out.len(), 1, "chunk {chunk}");
        assert_eq!(out[0].offset, Some(4_000_001));
    }
    // Many address-length candidates: bounded work, at most MAX_PER_FILE reported.
    let many = format!("{WATCHDOG} ").repeat(20_000);
    let out = stream(many.as_bytes(), 256 << 10);
    assert_eq!(out.len(), MAX_PER_FILE);
    let runs58 = format!("{} ", &WATCHDOG[..94]).repeat(20_000);
    assert!(stream(runs58.as_bytes(), 256 << 10).is_empty());
    assert!(t.elapsed().as_secs() < 20, "{:?}", t.elapsed());
}

#[test]
fn varint_reads_canonical_prefixes() {
    let mut b = Vec::new();
    write_varint(0x6241d18c0, &mut b);
    assert_eq!(read_varint(&b), Some((0x6241d18c0, 5)));
    assert_eq!(read_varint(&[0x80, 0x00]), None);
    assert_eq!(read_varint(&[0xff; 12]), None);
    assert_eq!(read_varint(&[18, 1, 2]), Some((18, 1)));
    assert_eq!(decode_base58(b"0OIl"), None);
}

#[test]
fn scan_text_uses_the_table() {
    let subject = Subject::Config {
        field: "Env[0] WALLET".into(),
    };
    let out = scan_text(&format!("--user {WATCHDOG_SUB} -p x"), &subject);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].signature, "wallet:monero-subaddress");
    assert_eq!(out[0].offset, Some(7));
}
