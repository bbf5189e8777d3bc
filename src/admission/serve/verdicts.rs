//! Verdicts: a cache of what each image came to, and the scan coordinator that makes
//! sure one image is scanned once however many requests ask for it at the same time.
//!
//! The key is the image's digest when the reference names one, otherwise the reference
//! as normalised (`docker.io/library/nginx:1.27`). A verdict for a tag is also stored
//! under the digest the scan found, so the digest form of the same image hits. TTLs:
//! a full verdict lives `--verdict-ttl`; a verdict for a tag at most
//! [`TAG_TTL`] (a tag can move); a verdict that could not judge (registry error,
//! incomplete scan) at most [`ERROR_TTL`]. A deadline answer is never stored: the scan
//! keeps running and stores its own result for the apiserver's retry.
//!
//! ```
//! use imgscan::admission::serve::verdicts::{MemoryStore, VerdictStore};
//! use imgscan::admission::ImageVerdict;
//! use std::time::Duration;
//! let store = MemoryStore::new(2);
//! store.put("sha256:aa", &ImageVerdict::Skipped("names only".into()), Duration::from_secs(60));
//! assert!(matches!(store.get("sha256:aa"), Some(ImageVerdict::Skipped(_))));
//! assert!(store.get("sha256:bb").is_none());
//! ```
//!
//! [`VerdictStore`] is the seam for a shared store (Redis, so every replica answers
//! alike); only the in-process [`MemoryStore`] exists here.

use super::metrics::Metrics;
use crate::admission::{ImageVerdict, Scanner};
use crate::reference::Reference;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::{watch, Semaphore};

/// A verdict for a tag lives at most this long (the tag may be pushed again).
pub const TAG_TTL: Duration = Duration::from_secs(60);
/// A verdict that could not judge lives at most this long.
pub const ERROR_TTL: Duration = Duration::from_secs(30);

/// Where verdicts are kept between requests.
pub trait VerdictStore: Send + Sync {
    fn get(&self, key: &str) -> Option<ImageVerdict>;
    fn put(&self, key: &str, verdict: &ImageVerdict, ttl: Duration);
}

/// An in-process store: bounded, entries expire after their TTL; when full, expired
/// entries go first, then the one closest to expiring.
pub struct MemoryStore {
    max: usize,
    map: Mutex<HashMap<String, (Instant, ImageVerdict)>>,
}

impl MemoryStore {
    pub fn new(max_entries: usize) -> Self {
        MemoryStore {
            max: max_entries.max(1),
            map: Mutex::new(HashMap::new()),
        }
    }

    pub fn len(&self) -> usize {
        lock(&self.map).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl VerdictStore for MemoryStore {
    fn get(&self, key: &str) -> Option<ImageVerdict> {
        let mut map = lock(&self.map);
        match map.get(key) {
            Some((exp, v)) if *exp > Instant::now() => Some(v.clone()),
            Some(_) => {
                map.remove(key);
                None
            }
            None => None,
        }
    }

    fn put(&self, key: &str, verdict: &ImageVerdict, ttl: Duration) {
        let now = Instant::now();
        let mut map = lock(&self.map);
        if map.len() >= self.max && !map.contains_key(key) {
            map.retain(|_, (exp, _)| *exp > now);
            if map.len() >= self.max {
                if let Some(k) = map
                    .iter()
                    .min_by_key(|(_, (e, _))| *e)
                    .map(|(k, _)| k.clone())
                {
                    map.remove(&k);
                }
            }
        }
        map.insert(key.to_string(), (now + ttl, verdict.clone()));
    }
}

/// A poisoned lock only means another request panicked; the map itself is intact.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The cache key of an image.
pub fn key_of(image: &Reference) -> String {
    match &image.digest {
        Some(d) => d.clone(),
        None => image.to_string(),
    }
}

type Pending = watch::Receiver<Option<ImageVerdict>>;

/// Cache, single-flight scans and the scan semaphore, shared by every request.
pub struct Verdicts {
    store: Arc<dyn VerdictStore>,
    scanner: Arc<dyn Scanner + Send + Sync>,
    inflight: Mutex<HashMap<String, Pending>>,
    permits: Arc<Semaphore>,
    max_pending: usize,
    ttl: Duration,
    metrics: Arc<Metrics>,
    rt: tokio::runtime::Handle,
}

impl Verdicts {
    /// `max_scans` run at once; at most `max_pending` distinct images are being scanned
    /// or waiting for a permit (more are answered unjudged at once: bounded queue).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Arc<dyn VerdictStore>,
        scanner: Arc<dyn Scanner + Send + Sync>,
        max_scans: usize,
        max_pending: usize,
        ttl: Duration,
        metrics: Arc<Metrics>,
        rt: tokio::runtime::Handle,
    ) -> Self {
        Verdicts {
            store,
            scanner,
            inflight: Mutex::new(HashMap::new()),
            permits: Arc::new(Semaphore::new(max_scans.max(1))),
            max_pending: max_pending.max(1),
            ttl,
            metrics,
            rt,
        }
    }

    /// The verdict for `image`, waiting for its scan until `deadline` at most. Call from
    /// a blocking thread (it blocks on the runtime handle), never from an async task.
    pub fn judge_until(self: &Arc<Self>, image: &Reference, deadline: Instant) -> ImageVerdict {
        let key = key_of(image);
        if let Some(v) = self.store.get(&key) {
            self.metrics.cache_hits.inc();
            return v;
        }
        self.metrics.cache_misses.inc();
        let mut rx = match self.join_or_start(&key, image) {
            Ok(rx) => rx,
            Err(v) => return v,
        };
        let waited = self.rt.block_on(async {
            tokio::time::timeout_at(deadline.into(), async {
                rx.wait_for(Option::is_some).await.map(|v| v.clone())
            })
            .await
        });
        match waited {
            Ok(Ok(Some(v))) => v,
            Ok(_) => ImageVerdict::Unjudged("the scan ended without a verdict".into()),
            Err(_) => {
                self.metrics.deadline_answers.inc();
                ImageVerdict::Unjudged(
                    "still being scanned at the webhook deadline; a retry gets the verdict".into(),
                )
            }
        }
    }

    /// Subscribe to the running scan of `key`, or start one. `Err` is an immediate
    /// answer: the verdict appeared meanwhile, or the queue is full.
    fn join_or_start(
        self: &Arc<Self>,
        key: &str,
        image: &Reference,
    ) -> Result<Pending, ImageVerdict> {
        let mut map = lock(&self.inflight);
        if let Some(rx) = map.get(key) {
            return Ok(rx.clone());
        }
        // Re-check under the lock: a scan stores its verdict and leaves the map under it.
        if let Some(v) = self.store.get(key) {
            return Err(v);
        }
        if map.len() >= self.max_pending {
            return Err(ImageVerdict::Unjudged(format!(
                "{} images are already being scanned; try again later",
                map.len()
            )));
        }
        let (tx, rx) = watch::channel(None);
        map.insert(key.to_string(), rx.clone());
        drop(map);
        let me = self.clone();
        let key = key.to_string();
        let image = image.clone();
        self.rt.spawn(async move {
            let permit = me.permits.clone().acquire_owned().await;
            me.metrics.scans_in_flight.inc();
            let scanner = me.scanner.clone();
            let scanned = image.clone();
            let v = tokio::task::spawn_blocking(move || scanner.scan(&scanned))
                .await
                .unwrap_or_else(|e| ImageVerdict::Unjudged(format!("the scan failed: {e}")));
            me.metrics.scans_in_flight.dec();
            drop(permit);
            {
                let mut map = lock(&me.inflight);
                me.store_verdict(&key, &image, &v);
                map.remove(&key);
            }
            let _ = tx.send(Some(v));
        });
        Ok(rx)
    }

    fn store_verdict(&self, key: &str, image: &Reference, v: &ImageVerdict) {
        let full = match v {
            ImageVerdict::Judged { incomplete, .. } => incomplete.is_empty(),
            ImageVerdict::Unjudged(_) => false,
            ImageVerdict::Skipped(_) => true,
        };
        let ttl = if full {
            self.ttl
        } else {
            self.ttl.min(ERROR_TTL)
        };
        if image.digest.is_none() {
            self.store.put(key, v, ttl.min(TAG_TTL));
        } else {
            self.store.put(key, v, ttl);
        }
        if let ImageVerdict::Judged {
            digest: Some(d), ..
        } = v
        {
            if d != key {
                self.store.put(d, v, ttl);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_expiring() {
        let s = MemoryStore::new(2);
        let v = ImageVerdict::Skipped("x".into());
        s.put("a", &v, Duration::from_secs(60));
        s.put("b", &v, Duration::from_secs(120));
        s.put("c", &v, Duration::from_secs(60));
        assert_eq!(s.len(), 2);
        assert!(s.get("a").is_none(), "the entry closest to expiring went");
        s.put("d", &v, Duration::ZERO);
        assert!(s.get("d").is_none(), "expired on read");
    }
}
