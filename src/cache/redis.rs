//! The Redis backend: entries as Redis strings under a key prefix, so CI runners, webhook
//! replicas and the pods of a registry scan share one cache.
//!
//! ```text
//! imgscan scan --cache-backend redis://cache.internal:6379/0 IMAGE
//! imgscan scan --cache-backend redis --cache-url rediss://:PASSWORD@cache:6380/2 IMAGE
//! imgscan cache stats --cache-backend redis://cache.internal:6379/0
//! ```
//!
//! An entry `NAME` (the key's digest, see [`super::entry_name`]) is the string
//! `imgscan:layer:NAME` (the prefix is configurable), written whole with one `SET` (with
//! `EX` = `--cache-ttl` when there is one, so Redis drops what imgscan would refuse
//! anyway) and read with `GETRANGE 0 MAX`, so a value planted past the entry size bound is
//! never loaded whole: it comes back too long and is a miss. What comes back is decoded and
//! checked like any entry (`entry.rs`): a bad value is a miss, overwritten by the next
//! store. `stats` and `clean` walk the prefix with `SCAN ... MATCH` (never `KEYS`, which
//! blocks the server); `--cache-max-size` does not apply, eviction is Redis's own
//! (`maxmemory-policy allkeys-lru`).
//!
//! One synchronous connection, opened on first use (an unreachable Redis is then a
//! backend error, which [`super::LayerCache`] turns into a warning and a scan without the
//! cache) with connect, read and write timeouts, so a Redis that stops answering costs a
//! few seconds, never a hung scan. `rediss://` is TLS through rustls with the process's
//! ring provider; `--redis-ca` names the CA when the server's certificate is not from the
//! system's roots.

use super::backend::Backend;
use super::entry::MAX_ENTRY_BYTES;
use std::sync::Mutex;
use std::time::Duration;

/// Default key prefix.
pub const DEFAULT_PREFIX: &str = "imgscan:layer:";
/// Connect, read and write timeout of the connection.
pub const TIMEOUT: Duration = Duration::from_secs(2);
/// Keys asked for per `SCAN` step and deleted per `UNLINK`.
const BATCH: usize = 500;

/// Entries in one Redis database.
pub struct RedisBackend {
    client: redis::Client,
    shown: String,
    prefix: String,
    ttl: Option<u64>,
    max_entry: u64,
    conn: Mutex<Option<redis::Connection>>,
}

/// How to reach Redis besides the URL.
#[derive(Debug, Clone, Default)]
pub struct RedisOptions {
    /// Key prefix (default [`DEFAULT_PREFIX`]).
    pub prefix: Option<String>,
    /// `SET ... EX` seconds.
    pub ttl: Option<u64>,
    /// PEM CA certificates trusted for `rediss://` instead of the system's roots.
    pub ca_pem: Option<Vec<u8>>,
}

impl RedisBackend {
    /// Parse `url` (`redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]` or `rediss://...`). Does
    /// not connect: the first `get`/`put` does.
    pub fn open(url: &str, opts: RedisOptions) -> Result<RedisBackend, String> {
        let shown = redact(url);
        let client = client(url, opts.ca_pem).map_err(|e| format!("cache {shown}: {e}"))?;
        let prefix = opts.prefix.unwrap_or_else(|| DEFAULT_PREFIX.to_string());
        if prefix.is_empty() {
            return Err(format!(
                "cache {shown}: an empty key prefix would let `cache clean` delete every key"
            ));
        }
        Ok(RedisBackend {
            client,
            shown,
            prefix,
            ttl: opts.ttl,
            max_entry: MAX_ENTRY_BYTES,
            conn: Mutex::new(None),
        })
    }

    /// Refuse values longer than `max` bytes (default the entry bound).
    pub fn with_max_entry(mut self, max: u64) -> Self {
        self.max_entry = max;
        self
    }

    /// The Redis key of entry `name`.
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// Run `f` on the connection, connecting first if needed; any error drops the
    /// connection (the next call reconnects).
    fn with<T>(
        &self,
        what: &str,
        f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, String> {
        let mut g = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        if g.is_none() {
            let c = connect(&self.client, TIMEOUT).map_err(|e| format!("connecting: {e}"))?;
            *g = Some(c);
        }
        let Some(c) = g.as_mut() else {
            return Err("no connection".into());
        };
        match f(c) {
            Ok(v) => Ok(v),
            Err(e) => {
                *g = None;
                Err(format!("{what}: {e}"))
            }
        }
    }

    /// Every key under the prefix, a `SCAN` step at a time, handed to `each` in batches.
    fn scan_keys(
        &self,
        mut each: impl FnMut(&mut redis::Connection, Vec<String>) -> redis::RedisResult<()>,
    ) -> Result<(), String> {
        let pattern = format!("{}*", glob_escape(&self.prefix));
        self.with("SCAN", |c| {
            let mut cursor: u64 = 0;
            loop {
                let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(BATCH)
                    .query(c)?;
                if !keys.is_empty() {
                    each(c, keys)?;
                }
                if next == 0 {
                    return Ok(());
                }
                cursor = next;
            }
        })
    }
}

impl Backend for RedisBackend {
    fn get(&self, name: &str) -> Result<Option<Vec<u8>>, String> {
        let key = self.key(name);
        let max = self.max_entry;
        // One byte past the bound tells a value that is too long from one that fits.
        let v: Vec<u8> = self.with("GETRANGE", |c| {
            redis::cmd("GETRANGE").arg(&key).arg(0).arg(max).query(c)
        })?;
        // A missing key reads as the empty string; both are misses.
        if v.is_empty() || v.len() as u64 > max {
            return Ok(None);
        }
        Ok(Some(v))
    }

    fn put(&self, name: &str, value: &[u8]) -> Result<(), String> {
        let key = self.key(name);
        let ttl = self.ttl;
        self.with("SET", |c| {
            let mut cmd = redis::cmd("SET");
            cmd.arg(&key).arg(value);
            if let Some(t) = ttl {
                cmd.arg("EX").arg(t);
            }
            cmd.query::<()>(c)
        })
    }

    fn stats(&self) -> Result<(u64, u64), String> {
        let (mut n, mut bytes) = (0u64, 0u64);
        self.scan_keys(|c, keys| {
            let mut p = redis::pipe();
            for k in &keys {
                p.cmd("STRLEN").arg(k);
            }
            let lens: Vec<u64> = p.query(c)?;
            n += keys.len() as u64;
            bytes += lens.iter().sum::<u64>();
            Ok(())
        })?;
        Ok((n, bytes))
    }

    fn clean(&self) -> Result<u64, String> {
        let mut n = 0u64;
        self.scan_keys(|c, keys| {
            let removed: u64 = redis::cmd("UNLINK").arg(&keys).query(c)?;
            n += removed;
            Ok(())
        })?;
        Ok(n)
    }

    fn describe(&self) -> String {
        format!("{} (keys {}*)", self.shown, self.prefix)
    }
}

/// A client of `url` (not connected yet). `rediss://` is TLS through rustls with the
/// process's ring provider (installed here when nothing is), trusting the PEM CA
/// certificates `ca_pem` when given instead of the system's roots; a CA with a
/// `redis://` URL is an error. Shared by the layer cache and `serve --redis`.
pub(crate) fn client(url: &str, ca_pem: Option<Vec<u8>>) -> Result<redis::Client, String> {
    let tls = url.starts_with("rediss://");
    if tls {
        // The tree's one rustls provider; a no-op when the CLI installed it.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    match ca_pem {
        Some(pem) if tls => redis::Client::build_with_tls(
            url,
            redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(pem),
            },
        ),
        Some(_) => return Err("a CA for Redis (--redis-ca) needs a rediss:// URL".into()),
        None => redis::Client::open(url),
    }
    .map_err(|e| e.to_string())
}

/// One synchronous connection to `client` whose connect, reads and writes each give up
/// after `timeout` (a Redis that stops answering must not stall a scan or a review).
pub(crate) fn connect(
    client: &redis::Client,
    timeout: Duration,
) -> redis::RedisResult<redis::Connection> {
    let c = client.get_connection_with_timeout(timeout)?;
    c.set_read_timeout(Some(timeout))?;
    c.set_write_timeout(Some(timeout))?;
    Ok(c)
}

/// `url` without its password, for messages.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((user, host)) => {
            let user = user.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}{path}")
        }
        None => url.to_string(),
    }
}

/// Escape Redis glob characters so the prefix matches only itself.
fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        if matches!(ch, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(
            redact("redis://:s3cret@cache:6379/1"),
            "redis://:***@cache:6379/1"
        );
        assert_eq!(redact("rediss://bob:pw@h/0"), "rediss://bob:***@h/0");
        assert_eq!(redact("redis://h:1/"), "redis://h:1/");
        assert_eq!(glob_escape("a*b[c]"), "a\\*b\\[c\\]");
    }

    #[test]
    fn urls_parse_without_connecting() {
        // Nothing listens on port 1: open still succeeds, the first use fails.
        let b = RedisBackend::open("redis://127.0.0.1:1/0", RedisOptions::default()).unwrap();
        assert!(b.get("x").is_err());
        assert!(RedisBackend::open(
            "redis://h/0",
            RedisOptions {
                prefix: Some(String::new()),
                ..Default::default()
            }
        )
        .is_err());
        assert!(RedisBackend::open("nonsense", RedisOptions::default()).is_err());
    }
}
