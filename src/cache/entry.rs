//! One cache entry: what a layer's walk and file analyzers produced, and its encoding.
//!
//! ```text
//! "IMGSCNC\0" | format u16 | key length u32 | key | created (unix s) u64
//!             | payload length u32 | payload (MessagePack) | SHA-256 of all before it
//! ```
//!
//! [`decode`] returns `None` (a miss) for anything that is not exactly what [`encode`]
//! wrote for the same key: another magic or format, another key (echoed in full, so a
//! file renamed or a Redis value copied under another name is refused), a length that
//! does not add up, a checksum that does not match, or a payload that does not decode.

use crate::analyzers::{LayerFacts, Signal, SignalKind, Subject};
use crate::layers::{Compression, LayerMeta};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const MAGIC: &[u8; 8] = b"IMGSCNC\0";
/// Bump when [`CachedLayer`] or any type it holds changes shape.
pub const FORMAT: u16 = 1;
/// Largest entry accepted when reading (a layer of a million entries fits).
pub const MAX_ENTRY_BYTES: u64 = 1 << 30;

/// What the image-level steps need of one layer, without its bytes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CachedLayer {
    /// Entries (layer digest blanked, restored on load) and whiteouts.
    pub meta: LayerMeta,
    pub signals: Vec<WireSignal>,
    pub facts: LayerFacts,
    pub files: u64,
    pub bytes: u64,
    pub compression: Compression,
    pub compressed_bytes: u64,
    pub uncompressed_bytes: u64,
    pub entries: u64,
    pub unsafe_paths: Vec<String>,
    pub unsafe_path_count: u64,
}

impl CachedLayer {
    /// Give every layer index and digest in the entry the layer's place in this image
    /// (the same layer may sit at another index in another image).
    pub fn relocate(&mut self, index: usize, digest: &str) {
        for e in &mut self.meta.entries {
            e.layer = index;
            e.layer_digest = digest.to_string();
            e.hidden_by = None;
        }
        for s in &mut self.signals {
            if let Subject::File {
                layer,
                layer_digest,
                ..
            } = &mut s.0.subject
            {
                *layer = index;
                *layer_digest = digest.to_string();
            }
        }
    }
}

/// A [`Signal`] with every field of its kind kept (the report's JSON skips some).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct WireSignal(#[serde(with = "SignalDef")] pub Signal);

#[derive(Serialize, Deserialize)]
#[serde(remote = "Signal")]
struct SignalDef {
    subject: Subject,
    #[serde(with = "SignalKindDef")]
    kind: SignalKind,
    signature: String,
    offset: Option<u64>,
    line: Option<u32>,
    excerpt: String,
}

#[derive(Serialize, Deserialize)]
#[serde(remote = "SignalKind")]
enum SignalKindDef {
    MinerName(crate::signatures::NameKind),
    Literal {
        category: crate::signatures::Category,
        strength: crate::signatures::Strength,
    },
    PoolDomain,
    PoolPort,
    Wallet,
    WalletCommon,
    WalletUnchecked,
    CloudKey(bool),
    Binary,
    Packed,
    Malformed,
    ArchiveUnreadable,
    Behaviour {
        kind: crate::behaviour::BehaviourKind,
        run: bool,
    },
    Persistence(crate::analyzers::script::ScriptKind),
    SshKey,
    SetuidShell,
    RunBy,
    KnownBadHash,
    ReplacedBinary,
    UnownedExecutable,
    LdPreload,
    PkgDbSkipped,
    Yara {
        severity: crate::findings::Severity,
    },
}

/// The entry for `key`, created at `created` (unix seconds).
pub(crate) fn encode(key: &str, created: u64, value: &CachedLayer) -> Result<Vec<u8>, String> {
    let payload = rmp_serde::to_vec_named(value).map_err(|e| e.to_string())?;
    let plen = u32::try_from(payload.len()).map_err(|_| "entry too large".to_string())?;
    let klen = u32::try_from(key.len()).map_err(|_| "key too long".to_string())?;
    let mut out = Vec::with_capacity(payload.len() + key.len() + 64);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT.to_le_bytes());
    out.extend_from_slice(&klen.to_le_bytes());
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(&created.to_le_bytes());
    out.extend_from_slice(&plen.to_le_bytes());
    out.extend_from_slice(&payload);
    let sum = Sha256::digest(&out);
    out.extend_from_slice(&sum);
    Ok(out)
}

/// Why an entry was not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reject {
    /// Not an imgscan entry, or of another format version.
    Foreign,
    /// Written for another key.
    WrongKey,
    /// Cut short, corrupt, or not decodable.
    Corrupt,
    /// Older than the time to live.
    Expired,
}

/// Decode an entry written for `key`; `max_age` in seconds (now - created).
pub(crate) fn decode(
    key: &str,
    bytes: &[u8],
    now: u64,
    max_age: Option<u64>,
) -> Result<CachedLayer, Reject> {
    let mut r = bytes;
    let mut take = |n: usize| -> Result<&[u8], Reject> {
        if r.len() < n {
            return Err(Reject::Corrupt);
        }
        let (a, b) = r.split_at(n);
        r = b;
        Ok(a)
    };
    if take(8)? != MAGIC {
        return Err(Reject::Foreign);
    }
    let format = u16::from_le_bytes(take(2)?.try_into().map_err(|_| Reject::Corrupt)?);
    if format != FORMAT {
        return Err(Reject::Foreign);
    }
    let klen = u32::from_le_bytes(take(4)?.try_into().map_err(|_| Reject::Corrupt)?) as usize;
    if take(klen)? != key.as_bytes() {
        return Err(Reject::WrongKey);
    }
    let created = u64::from_le_bytes(take(8)?.try_into().map_err(|_| Reject::Corrupt)?);
    let plen = u32::from_le_bytes(take(4)?.try_into().map_err(|_| Reject::Corrupt)?) as usize;
    let payload = take(plen)?;
    let sum = take(32)?;
    if !r.is_empty() {
        return Err(Reject::Corrupt);
    }
    let body = &bytes[..bytes.len() - 32];
    if Sha256::digest(body).as_slice() != sum {
        return Err(Reject::Corrupt);
    }
    if let Some(ttl) = max_age {
        if now.saturating_sub(created) > ttl {
            return Err(Reject::Expired);
        }
    }
    rmp_serde::from_slice(payload).map_err(|_| Reject::Corrupt)
}
