//! `serve --redis URL`: verdicts shared through Redis, so every replica of the webhook
//! answers alike and an image is scanned once per cluster, not once per replica.
//!
//! ```text
//! imgscan serve --redis redis://verdicts.imgscan:6379/0 --tls-cert ... --tls-key ...
//! imgscan serve --redis rediss://:PASSWORD@verdicts:6380/1 --redis-prefix team-a:verdict:
//! ```
//!
//! A verdict is the Redis string `PREFIX` + the SHA-256 of its full key (the
//! signature/analysis version and the image's digest or reference, see
//! [`super::verdicts`]), written with `SET ... PX` = the TTL the in-process cache would
//! give it (errors ≤ 30 s, tag-keyed ≤ 60 s, a deadline answer never). It is read with
//! `GETRANGE 0 MAX`, so a planted or oversized value is never loaded whole: too long,
//! not JSON, a key that is not the one asked for (the value names its key), or a verdict
//! that does not decode is a miss, overwritten by the next scan.
//!
//! Scan lease: before a replica pulls an image it takes `PREFIX lease:` + hash with
//! `SET NX PX` (the lease period, `--redis-lease`, default [`LEASE`]). While it scans it
//! renews the lease every third of the period with a compare-and-`PEXPIRE` script (only
//! while the value is still its own token), so a scan longer than the period is not
//! scanned again elsewhere. A replica that finds the lease taken polls for the verdict
//! instead of pulling, until the verdict appears or the lease expires (then it takes the
//! lease and scans itself: the holder died), at most
//! [`super::verdicts::MAX_WAIT_LEASES`] periods. The holder deletes its own lease
//! (compare and delete, so a lease taken over after expiry is not removed) once the
//! verdict is stored.
//!
//! `rediss://` trusts the system's roots, or the PEM CA certificates of `--redis-ca`
//! (a private CA), built as the layer cache builds its client
//! ([`crate::cache::redis`]).
//!
//! Every verdict is also kept in this process ([`MemoryStore`]), which answers first: a
//! hit costs no round trip. A verdict read from Redis is copied into it for the time
//! Redis still keeps it (`PTTL`, read in the same round trip), so the next request for
//! that image is answered locally, on the async worker. Redis down, slow or refusing is never a failed request: the
//! operation counts in `imgscan_admission_verdict_store_errors_total`, one warning goes
//! to stderr per outage, the in-process cache answers alone, and Redis is tried again
//! after [`RETRY_AFTER`] (so requests do not each pay a connect timeout).

use super::metrics::Metrics;
use super::verdicts::{MemoryStore, VerdictStore};
use crate::admission::ImageVerdict;
use crate::cache::entry_name;
use crate::cache::redis::{client, connect, redact};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Default key prefix (the layer cache uses `imgscan:layer:`).
pub const DEFAULT_PREFIX: &str = "imgscan:verdict:";
/// Bytes of one stored verdict at most; a longer value is a miss.
pub const MAX_VALUE_BYTES: u64 = 1 << 20;
/// Connect, read and write timeout: a webhook cannot wait long for its cache.
pub const TIMEOUT: Duration = Duration::from_millis(500);
/// After a Redis error, the in-process cache answers alone this long.
pub const RETRY_AFTER: Duration = Duration::from_secs(5);
/// The default scan lease period (`--redis-lease`): how long a lease holds when its
/// holder stops renewing it.
pub const LEASE: Duration = Duration::from_secs(60);
/// How long a verdict read from Redis without an expiry is kept in this process.
const NO_EXPIRY_LOCAL: Duration = Duration::from_secs(30);

/// What is stored: the full key it answers for, and the verdict.
#[derive(Serialize, Deserialize)]
struct Stored {
    key: String,
    verdict: ImageVerdict,
}

/// Verdicts in Redis, with the in-process cache in front and as the fallback.
pub struct RedisStore {
    client: redis::Client,
    shown: String,
    prefix: String,
    conn: Mutex<Option<redis::Connection>>,
    local: MemoryStore,
    /// Set after an error: Redis is not tried again before this instant.
    down_until: Mutex<Option<Instant>>,
    warned: AtomicBool,
    /// This process's lease value.
    token: String,
    metrics: Arc<Metrics>,
}

impl RedisStore {
    /// Parse `url` (`redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]` or `rediss://...`);
    /// connects on first use. `ca_pem`: the PEM CA certificates a `rediss://` server's
    /// certificate is checked against (`--redis-ca`). `local_entries` bounds the
    /// in-process cache.
    pub fn open(
        url: &str,
        prefix: Option<&str>,
        ca_pem: Option<Vec<u8>>,
        local_entries: usize,
        metrics: Arc<Metrics>,
    ) -> Result<RedisStore, String> {
        let shown = redact(url);
        let client = client(url, ca_pem).map_err(|e| format!("--redis {shown}: {e}"))?;
        let prefix = prefix.unwrap_or(DEFAULT_PREFIX).to_string();
        if prefix.is_empty() {
            return Err(format!("--redis {shown}: the key prefix must not be empty"));
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        Ok(RedisStore {
            client,
            shown,
            prefix,
            conn: Mutex::new(None),
            local: MemoryStore::new(local_entries),
            down_until: Mutex::new(None),
            warned: AtomicBool::new(false),
            token: format!("{}-{nanos}", std::process::id()),
            metrics,
        })
    }

    /// The Redis key of the verdict for `key`.
    pub fn redis_key(&self, key: &str) -> String {
        format!("{}{}", self.prefix, entry_name(key))
    }

    fn lease_key(&self, key: &str) -> String {
        format!("{}lease:{}", self.prefix, entry_name(key))
    }

    /// Run `f` on the connection unless Redis is resting after an error; `None` when
    /// Redis could not be used (counted, warned once per outage).
    fn with<T>(
        &self,
        what: &str,
        f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Option<T> {
        if lock(&self.down_until).is_some_and(|t| Instant::now() < t) {
            return None;
        }
        let mut g = lock(&self.conn);
        if g.is_none() {
            match connect(&self.client, TIMEOUT) {
                Ok(c) => *g = Some(c),
                Err(e) => {
                    drop(g);
                    self.failed(&format!("connecting: {e}"));
                    return None;
                }
            }
        }
        let c = g.as_mut()?;
        match f(c) {
            Ok(v) => {
                drop(g);
                if self.warned.swap(false, Ordering::Relaxed) {
                    eprintln!("imgscan serve: Redis {} answers again", self.shown);
                }
                self.metrics.verdict_store_up.set(1);
                Some(v)
            }
            Err(e) => {
                *g = None;
                drop(g);
                self.failed(&format!("{what}: {e}"));
                None
            }
        }
    }

    fn failed(&self, why: &str) {
        self.metrics.verdict_store_errors.inc();
        self.metrics.verdict_store_up.set(0);
        *lock(&self.down_until) = Some(Instant::now() + RETRY_AFTER);
        if !self.warned.swap(true, Ordering::Relaxed) {
            eprintln!(
                "imgscan serve: warning: Redis {} ({why}); verdicts are kept in this process \
                 only until it answers again",
                self.shown
            );
        }
    }

    /// The verdict in Redis and how long Redis keeps it (one round trip).
    fn fetch(&self, key: &str) -> Option<(ImageVerdict, Duration)> {
        let rkey = self.redis_key(key);
        // One byte past the bound tells a value that is too long from one that fits.
        let (raw, pttl): (Vec<u8>, i64) = self.with("GETRANGE", |c| {
            redis::pipe()
                .cmd("GETRANGE")
                .arg(&rkey)
                .arg(0)
                .arg(MAX_VALUE_BYTES)
                .cmd("PTTL")
                .arg(&rkey)
                .query(c)
        })?;
        let left = match pttl {
            // No expiry (not written by imgscan): kept here briefly.
            -1 => NO_EXPIRY_LOCAL,
            ms if ms > 0 => Duration::from_millis(ms.unsigned_abs()),
            // Gone meanwhile.
            _ => return None,
        };
        Some((decode(key, &raw)?, left))
    }
}

/// A stored value back to a verdict; anything else (empty = missing, too long, not
/// ours, not for this key) is a miss.
fn decode(key: &str, raw: &[u8]) -> Option<ImageVerdict> {
    if raw.is_empty() || raw.len() as u64 > MAX_VALUE_BYTES {
        return None;
    }
    let s: Stored = serde_json::from_slice(raw).ok()?;
    (s.key == key).then_some(s.verdict)
}

impl VerdictStore for RedisStore {
    fn get(&self, key: &str) -> Option<ImageVerdict> {
        if let Some(v) = self.local.get(key) {
            return Some(v);
        }
        // Kept here as long as Redis keeps it: the next request is answered locally.
        let (v, left) = self.fetch(key)?;
        self.local.put(key, &v, left);
        Some(v)
    }

    fn get_local(&self, key: &str) -> Option<ImageVerdict> {
        self.local.get(key)
    }

    fn put(&self, key: &str, verdict: &ImageVerdict, ttl: Duration) {
        self.local.put(key, verdict, ttl);
        let stored = Stored {
            key: key.to_string(),
            verdict: verdict.clone(),
        };
        let Ok(value) = serde_json::to_vec(&stored) else {
            return;
        };
        if value.len() as u64 > MAX_VALUE_BYTES || ttl.is_zero() {
            return;
        }
        let rkey = self.redis_key(key);
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let _ = self.with("SET", |c| {
            redis::cmd("SET")
                .arg(&rkey)
                .arg(&value)
                .arg("PX")
                .arg(ms)
                .query::<()>(c)
        });
    }

    fn claim(&self, key: &str, ttl: Duration) -> bool {
        let lkey = self.lease_key(key);
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let got: Option<redis::Value> = self.with("SET NX", |c| {
            redis::cmd("SET")
                .arg(&lkey)
                .arg(&self.token)
                .arg("NX")
                .arg("PX")
                .arg(ms)
                .query(c)
        });
        // Nil: another replica holds it. Redis unusable: scan here rather than wait for
        // nobody.
        !matches!(got, Some(redis::Value::Nil))
    }

    fn renew(&self, key: &str, ttl: Duration) -> bool {
        let lkey = self.lease_key(key);
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let renewed = self.with("EVAL", |c| {
            redis::cmd("EVAL")
                .arg(
                    "if redis.call('GET', KEYS[1]) == ARGV[1] then \
                     return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end",
                )
                .arg(1)
                .arg(&lkey)
                .arg(&self.token)
                .arg(ms)
                .query::<i64>(c)
        });
        // Redis unusable: nobody else can take the lease through it either; keep trying.
        renewed != Some(0)
    }

    fn release(&self, key: &str) {
        let lkey = self.lease_key(key);
        let _ = self.with("EVAL", |c| {
            redis::cmd("EVAL")
                .arg(
                    "if redis.call('GET', KEYS[1]) == ARGV[1] then \
                     return redis.call('DEL', KEYS[1]) else return 0 end",
                )
                .arg(1)
                .arg(&lkey)
                .arg(&self.token)
                .query::<i64>(c)
        });
    }

    fn shared(&self) -> bool {
        true
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_values_are_misses() {
        let v = ImageVerdict::Unjudged("registry down".into());
        let good = serde_json::to_vec(&Stored {
            key: "k".into(),
            verdict: v,
        })
        .unwrap();
        assert!(matches!(
            decode("k", &good),
            Some(ImageVerdict::Unjudged(_))
        ));
        assert!(decode("other", &good).is_none(), "a value for another key");
        assert!(decode("k", b"").is_none());
        assert!(decode("k", b"\xff\xfe not json").is_none());
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(decode("k", deep.as_bytes()).is_none());
        let big = vec![b' '; MAX_VALUE_BYTES as usize + 1];
        assert!(decode("k", &big).is_none());
    }

    #[test]
    fn an_unreachable_redis_falls_back_to_memory() {
        // Nothing listens on port 1.
        let m = Arc::new(Metrics::new());
        let s = RedisStore::open("redis://127.0.0.1:1/0", None, None, 10, m.clone()).unwrap();
        let v = ImageVerdict::Skipped("x".into());
        s.put("k", &v, Duration::from_secs(60));
        assert!(matches!(s.get("k"), Some(ImageVerdict::Skipped(_))));
        assert!(s.get("missing").is_none());
        assert!(s.claim("k", LEASE), "no Redis: this replica scans");
        assert_eq!(m.verdict_store_errors.get(), 1, "one try, then it rests");
        assert!(RedisStore::open("redis://h/0", Some(""), None, 1, m.clone()).is_err());
        assert!(RedisStore::open("nonsense", None, None, 1, m.clone()).is_err());
        let ca = Some(b"-----BEGIN CERTIFICATE-----".to_vec());
        let e = RedisStore::open("redis://h/0", None, ca, 1, m)
            .err()
            .unwrap();
        assert!(e.contains("needs a rediss:// URL"), "{e}");
    }
}
