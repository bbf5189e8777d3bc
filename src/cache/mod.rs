//! The per-layer scan cache: what walking a layer and running the file analyzers over it
//! produced, keyed by the layer's verified digest and the analysis version, so a rescan of
//! a known layer neither downloads nor reads it.
//!
//! ```text
//! imgscan scan --cache-backend fs nginx:1.27        # cold: every layer read, results stored
//! imgscan scan --cache-backend fs nginx:1.27        # warm: manifest and config only
//! imgscan scan --cache-dir /var/cache/imgscan IMAGE # fs backend in that directory
//! ```
//!
//! Owns: the key ([`Analysis`]: crate version, entry format, a digest of the signature
//! files loaded and of the limits that change a layer's results), the entry and its
//! encoding (`entry.rs`), the [`Backend`] trait with the memory backend (`backend.rs`) and
//! the directory backend (`fs.rs`), the Redis backend (`redis.rs`), and [`LayerCache`], which `scan.rs` asks for each
//! layer. Only a layer read completely is stored (no bound hit, no read or analyzer
//! error, no image-wide bound hit in that scan); a bad entry is a miss, overwritten by the
//! next store. A backend that fails mid-scan is one warning and is skipped for a while,
//! then tried again with exponential backoff ([`Retry`]: 0.25 s doubling to 30 s, at most
//! 8 failed attempts in a row, after which it stays off), so a Redis restarted during a
//! registry-wide scan serves the later images: the scan itself never fails because of
//! the cache.

mod backend;
pub(crate) mod entry;
pub mod fs;
pub mod redis;

pub use self::redis::{RedisBackend, RedisOptions};
pub use backend::{Backend, MemoryBackend};
pub use entry::{Reject, FORMAT};
pub use fs::FsBackend;

pub(crate) use entry::CachedLayer;

use crate::image::LayerInfo;
use crate::limits::Limits;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Default `--cache-max-size`: 1 GiB.
pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;

/// What a cached result depends on besides the layer's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Analysis(String);

impl Analysis {
    /// `signatures`: the `--signatures` directory, if any (its files are read and hashed
    /// with the embedded ones through `signatures::sources`, as `Signatures::load` reads
    /// them).
    pub fn new(signatures: Option<&Path>, limits: &Limits) -> Result<Analysis, String> {
        let sources = crate::signatures::sources(signatures).map_err(|e| e.to_string())?;
        let sigs = crate::signatures::sources_digest(&sources);
        let l = limits;
        // Bounds that change what a layer yields; image-wide ones (image bytes, timeout)
        // only ever make a scan incomplete, and incomplete layers are not stored.
        let limits = format!(
            "{}-{}-{}-{}-{}-{}",
            l.layer_bytes, l.blob_bytes, l.entries_per_layer, l.file_bytes, l.path_len, l.nesting
        );
        Ok(Analysis(format!(
            "imgscan-{}/f{}/sigs-{sigs}/limits-{limits}",
            env!("CARGO_PKG_VERSION"),
            FORMAT
        )))
    }

    /// The key with the `--yara` rule set (its digest covers the rule files and the YARA
    /// bounds), so a layer cached without these rules is not taken for a scan with them.
    pub fn with_yara(self, yara: Option<&crate::yara::YaraRules>) -> Analysis {
        match yara {
            Some(y) => Analysis(format!("{}/yara-{}", self.0, y.digest)),
            None => self,
        }
    }

    /// The full key of `digest`'s entry.
    pub fn key(&self, digest: &str) -> String {
        format!("{}/{digest}", self.0)
    }
}

/// The name an entry is stored under: the key's SHA-256.
pub fn entry_name(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Counters of one [`LayerCache`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CacheCounts {
    pub hits: u64,
    pub misses: u64,
    /// Entries found but refused (corrupt, foreign, wrong key, expired).
    pub rejected: u64,
    pub stored: u64,
}

/// When a failed backend is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Wait after the first failure; doubled after each further one.
    pub first: Duration,
    /// Longest wait.
    pub max: Duration,
    /// Failed attempts in a row after which the backend stays off for the process.
    pub attempts: u32,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            first: Duration::from_millis(250),
            max: Duration::from_secs(30),
            attempts: 8,
        }
    }
}

#[derive(Debug, Default)]
struct Outage {
    /// Failed attempts in a row.
    failures: u32,
    /// Not tried before this instant.
    until: Option<Instant>,
    /// Given up for good.
    dead: bool,
}

/// A backend with the analysis version it serves.
pub struct LayerCache {
    backend: Box<dyn Backend>,
    analysis: Analysis,
    ttl: Option<u64>,
    retry: Retry,
    outage: Mutex<Outage>,
    warnings: Mutex<Vec<String>>,
    hits: AtomicU64,
    misses: AtomicU64,
    rejected: AtomicU64,
    stored: AtomicU64,
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl LayerCache {
    /// `ttl`: entries older than this many seconds are misses.
    pub fn new(backend: Box<dyn Backend>, analysis: Analysis, ttl: Option<u64>) -> Self {
        LayerCache {
            backend,
            analysis,
            ttl,
            retry: Retry::default(),
            outage: Mutex::new(Outage::default()),
            warnings: Mutex::new(Vec::new()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            stored: AtomicU64::new(0),
        }
    }

    /// The same cache keyed for the `--yara` rules too ([`Analysis::with_yara`]).
    pub fn with_yara(mut self, yara: Option<&crate::yara::YaraRules>) -> Self {
        self.analysis = self.analysis.with_yara(yara);
        self
    }

    /// Retry a failed backend on this schedule instead of [`Retry::default`].
    pub fn with_retry(mut self, retry: Retry) -> Self {
        self.retry = retry;
        self
    }

    pub fn backend(&self) -> &dyn Backend {
        self.backend.as_ref()
    }

    /// Warnings so far (a backend that failed and was turned off).
    pub fn warnings(&self) -> Vec<String> {
        self.warnings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn counts(&self) -> CacheCounts {
        CacheCounts {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            stored: self.stored.load(Ordering::Relaxed),
        }
    }

    fn warn(&self, w: String) {
        self.warnings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(w);
    }

    fn outage(&self) -> std::sync::MutexGuard<'_, Outage> {
        self.outage.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether to ask the backend now: not given up, and not waiting out a backoff.
    fn usable(&self) -> bool {
        let o = self.outage();
        !o.dead && o.until.is_none_or(|t| Instant::now() >= t)
    }

    /// The backend answered: end an outage, if there was one.
    fn ok(&self) {
        let mut o = self.outage();
        if o.failures > 0 {
            let n = o.failures;
            *o = Outage::default();
            drop(o);
            self.warn(format!(
                "cache {}: answering again after {n} failed attempt(s); using it again",
                self.backend.describe()
            ));
        }
    }

    /// The backend failed: one warning per outage, then retry with backoff, bounded.
    fn fail(&self, what: &str, e: String) {
        let mut o = self.outage();
        if o.dead {
            return;
        }
        o.failures += 1;
        let n = o.failures;
        let first = n == 1;
        if n >= self.retry.attempts.max(1) {
            o.dead = true;
        } else {
            let wait = self
                .retry
                .first
                .saturating_mul(1u32 << (n - 1).min(16))
                .min(self.retry.max);
            o.until = Some(Instant::now() + wait);
        }
        let dead = o.dead;
        drop(o);
        let shown = self.backend.describe();
        if first {
            self.warn(format!(
                "cache {shown}: {what} failed ({e}); going on without the cache{}",
                if dead { "" } else { " (retrying later)" }
            ));
        } else if dead {
            self.warn(format!(
                "cache {shown}: still failing after {n} attempts ({e}); off for the rest of this run"
            ));
        }
    }

    /// The stored result of `layer`, relocated to its index; `None` on a miss.
    pub(crate) fn lookup(&self, layer: &LayerInfo) -> Option<CachedLayer> {
        if !self.usable() {
            return None;
        }
        let key = self.analysis.key(&layer.digest);
        let got = match self.backend.get(&entry_name(&key)) {
            Ok(g) => g,
            Err(e) => {
                self.fail("read", e);
                return None;
            }
        };
        self.ok();
        let Some(bytes) = got else {
            self.misses.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        match entry::decode(&key, &bytes, now(), self.ttl) {
            Ok(mut c) => {
                c.relocate(layer.index, &layer.digest);
                self.hits.fetch_add(1, Ordering::Relaxed);
                Some(c)
            }
            Err(_) => {
                self.rejected.fetch_add(1, Ordering::Relaxed);
                self.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Store the complete result of `layer`.
    pub(crate) fn store(&self, layer: &LayerInfo, mut value: CachedLayer) {
        if !self.usable() {
            return;
        }
        for e in &mut value.meta.entries {
            e.layer_digest.clear();
        }
        let key = self.analysis.key(&layer.digest);
        let bytes = match entry::encode(&key, now(), &value) {
            Ok(b) => b,
            Err(e) => {
                self.fail("encode", e);
                return;
            }
        };
        match self.backend.put(&entry_name(&key), &bytes) {
            Ok(()) => {
                self.ok();
                self.stored.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => self.fail("write", e),
        }
    }
}

/// Parse `--cache-max-size`: bytes, or with a K/M/G/T suffix (powers of 1024), e.g. `2G`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mul) = match s.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => {
            let unit = s[i..]
                .trim_end_matches(['B', 'b', 'i'])
                .to_ascii_uppercase();
            let mul: u64 = match unit.as_str() {
                "" => 1,
                "K" => 1 << 10,
                "M" => 1 << 20,
                "G" => 1 << 30,
                "T" => 1 << 40,
                _ => return Err(format!("{s:?}: unknown unit (use K, M, G or T)")),
            };
            (&s[..i], mul)
        }
        None => (s, 1),
    };
    let n: u64 = num
        .trim()
        .parse()
        .map_err(|_| format!("{s:?}: not a size"))?;
    n.checked_mul(mul)
        .ok_or_else(|| format!("{s:?}: too large"))
}

/// Parse `--cache-ttl`: seconds, or with an s/m/h/d suffix; `0` = no expiry.
pub fn parse_ttl(s: &str) -> Result<Option<u64>, String> {
    let s = s.trim();
    let (num, mul) = match s.chars().last() {
        Some('s') => (&s[..s.len() - 1], 1),
        Some('m') => (&s[..s.len() - 1], 60),
        Some('h') => (&s[..s.len() - 1], 3600),
        Some('d') => (&s[..s.len() - 1], 86400),
        _ => (s, 1),
    };
    let n: u64 = num.parse().map_err(|_| format!("{s:?}: not a duration"))?;
    Ok((n > 0).then_some(n.saturating_mul(mul)))
}

/// Open the backend `spec` names: `fs` (in `dir`, else [`fs::default_dir`]) or `memory`.
/// Redis needs [`open_backend_with`] (its TTL and CA).
pub fn open_backend(
    spec: &str,
    dir: Option<&Path>,
    max_bytes: u64,
) -> Result<Box<dyn Backend>, String> {
    open_backend_with(
        spec,
        &OpenOptions {
            dir: dir.map(Path::to_path_buf),
            max_bytes,
            ..OpenOptions::default()
        },
    )
}

/// Where and how to open a backend (the `--cache-*` and `--redis-*` flags).
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// fs: the directory.
    pub dir: Option<std::path::PathBuf>,
    /// fs, memory: evict past this many bytes.
    pub max_bytes: u64,
    /// redis: the URL when `spec` is `redis` (`--cache-url`).
    pub url: Option<String>,
    /// redis: entries expire after this many seconds.
    pub ttl: Option<u64>,
    /// redis: key prefix (default [`redis::DEFAULT_PREFIX`]).
    pub redis_prefix: Option<String>,
    /// redis: PEM file of the CA that signed the server's certificate (`rediss://`).
    pub redis_ca: Option<std::path::PathBuf>,
}

/// Open the backend `spec` names: `fs`, `memory`, `redis` (with `opts.url`) or a
/// `redis://`/`rediss://` URL (Trivy's `--cache-backend redis://HOST:PORT`).
pub fn open_backend_with(spec: &str, opts: &OpenOptions) -> Result<Box<dyn Backend>, String> {
    let url = match spec {
        "fs" => {
            let d = match &opts.dir {
                Some(d) => d.clone(),
                None => fs::default_dir().ok_or("no $XDG_CACHE_HOME or $HOME for the cache")?,
            };
            return Ok(Box::new(FsBackend::open(&d, opts.max_bytes)?));
        }
        "memory" => return Ok(Box::new(MemoryBackend::new(opts.max_bytes))),
        "redis" => opts
            .url
            .clone()
            .ok_or("--cache-backend redis needs --cache-url redis://HOST:PORT/DB")?,
        s if s.starts_with("redis://") || s.starts_with("rediss://") => s.to_string(),
        other => {
            return Err(format!(
                "unknown cache backend {other:?} (fs, memory, redis, redis://HOST:PORT)"
            ))
        }
    };
    if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
        return Err(format!(
            "--cache-url {:?}: not a redis:// or rediss:// URL",
            self::redis::redact(&url)
        ));
    }
    let ca_pem = match &opts.redis_ca {
        Some(p) => Some(std::fs::read(p).map_err(|e| format!("--redis-ca {}: {e}", p.display()))?),
        None => None,
    };
    Ok(Box::new(RedisBackend::open(
        &url,
        RedisOptions {
            prefix: opts.redis_prefix.clone(),
            ttl: opts.ttl,
            ca_pem,
        },
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_ttls() {
        assert_eq!(parse_size("1G").unwrap(), 1 << 30);
        assert_eq!(parse_size("512MiB").unwrap(), 512 << 20);
        assert_eq!(parse_size("100").unwrap(), 100);
        assert!(parse_size("1X").is_err());
        assert_eq!(parse_ttl("2h").unwrap(), Some(7200));
        assert_eq!(parse_ttl("0").unwrap(), None);
    }

    #[test]
    fn keys_change_with_limits() {
        let a = Analysis::new(None, &Limits::default()).unwrap();
        let l = Limits {
            file_bytes: 1,
            ..Limits::default()
        };
        let b = Analysis::new(None, &l).unwrap();
        assert_ne!(a.key("sha256:x"), b.key("sha256:x"));
        assert_eq!(a, Analysis::new(None, &Limits::default()).unwrap());
    }
}
