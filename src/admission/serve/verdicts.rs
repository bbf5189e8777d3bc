//! Verdicts: a cache of what each image came to, and the scan coordinator that makes
//! sure one image is scanned once however many requests ask for it at the same time.
//!
//! The key is the scanner's version (a digest of the signature files loaded, the crate
//! version and the analysis limits: [`crate::admission::Scanner::version`]) followed by
//! the image's digest when the reference names one, otherwise the reference as
//! normalised (`docker.io/library/nginx:1.27`), so a new signature set never reuses an
//! old verdict. A verdict for a tag is also stored under the digest the scan found, so
//! the digest form of the same image hits. TTLs:
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
//! [`VerdictStore`] is the seam for a shared store: the in-process [`MemoryStore`] here,
//! Redis in [`super::redis_verdicts`] (every replica answers alike). A shared store also
//! hands out scan leases: the replica that gets one scans, the others poll the store
//! for its verdict (at most [`POLL`] apart) instead of pulling the image again.
//!
//! The lease lasts one lease period (`--redis-lease`, default [`LEASE`]) and the holder
//! renews it every third of that while its scan runs (or waits for a scan permit), so a
//! scan longer than the period keeps it and nobody scans the image a second time; a
//! holder that dies stops renewing and its lease expires within one period. A replica
//! that lost the lease waits for the holder's verdict at most [`MAX_WAIT_LEASES`] lease
//! periods, then scans itself (the holder is stuck): the wait is bounded, like the
//! queue slot it takes.

use super::metrics::Metrics;
use super::redis_verdicts::LEASE;
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
/// The answer for an image whose scan outlived the request (never stored).
const DEADLINE_ANSWER: &str =
    "still being scanned at the webhook deadline; a retry gets the verdict";
/// The start of the answer when the scan queue is full (never stored).
const QUEUE_FULL: &str = "too many images are already being scanned";

/// How often a replica that lost the scan lease looks for the winner's verdict.
pub const POLL: Duration = Duration::from_millis(200);
/// A replica that lost the scan lease waits for the holder's verdict this many lease
/// periods at most, then scans itself.
pub const MAX_WAIT_LEASES: u32 = 10;
/// The shortest lease period accepted (renewals come a third of it apart).
pub const MIN_LEASE: Duration = Duration::from_millis(30);

/// Where verdicts are kept between requests.
pub trait VerdictStore: Send + Sync {
    fn get(&self, key: &str) -> Option<ImageVerdict>;
    fn put(&self, key: &str, verdict: &ImageVerdict, ttl: Duration);
    /// Take the lease to scan `key` for `ttl`; `false` when another replica holds it.
    /// A store of one process has nobody to share with: always `true`.
    fn claim(&self, _key: &str, _ttl: Duration) -> bool {
        true
    }
    /// Extend the lease on `key` to `ttl` from now, only while it is still ours; `false`
    /// when another replica holds it now (it expired and was taken over).
    fn renew(&self, _key: &str, _ttl: Duration) -> bool {
        true
    }
    /// Give the lease back (only if still ours).
    fn release(&self, _key: &str) {}
    /// The verdict for `key` if this process holds it, without any network round trip
    /// (a cached review is answered on the async worker). `None` for a store that keeps
    /// nothing in this process.
    fn get_local(&self, _key: &str) -> Option<ImageVerdict> {
        None
    }
    /// Whether other processes read and write this store.
    fn shared(&self) -> bool {
        false
    }
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
    fn get_local(&self, key: &str) -> Option<ImageVerdict> {
        self.get(key)
    }

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

/// The cache key of an image (without the scanner's version).
pub fn key_of(image: &Reference) -> String {
    match &image.digest {
        Some(d) => d.clone(),
        None => image.to_string(),
    }
}

/// The full cache key: `version` (see [`crate::admission::Scanner::version`]) and the
/// image's key.
pub fn versioned_key(version: &str, key: &str) -> String {
    format!("{version}|{key}")
}

type Pending = watch::Receiver<Option<ImageVerdict>>;

/// What waiting for another replica's scan came to.
enum Peer {
    /// Its verdict.
    Verdict(ImageVerdict),
    /// This replica holds the lease now: it scans.
    Leased,
    /// No lease to hold (a store of one process), or the holder outstayed the wait: it
    /// scans without one.
    Unleased,
}

/// Images of one review started at once at most.
pub const MAX_PREFETCH: usize = 64;
/// Tag → digest entries kept at most.
const MAX_TAGS: usize = 10_000;

enum Pinned {
    Hit(ImageVerdict),
    /// The key to judge, the reference to scan, and the tag key when it was resolved.
    Key(String, Reference, Option<String>),
}

/// Cache, single-flight scans and the scan semaphore, shared by every request.
pub struct Verdicts {
    store: Arc<dyn VerdictStore>,
    scanner: Arc<dyn Scanner + Send + Sync>,
    inflight: Mutex<HashMap<String, Pending>>,
    /// Tag key → (expiry, digest): the tag → digest step, `tag_ttl` at most.
    tags: Mutex<HashMap<String, (Instant, String)>>,
    permits: Arc<Semaphore>,
    max_pending: usize,
    ttl: Duration,
    tag_ttl: Duration,
    /// The scan lease period of a shared store.
    lease: Duration,
    version: String,
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
        let version = scanner.version();
        Verdicts {
            store,
            scanner,
            inflight: Mutex::new(HashMap::new()),
            tags: Mutex::new(HashMap::new()),
            permits: Arc::new(Semaphore::new(max_scans.max(1))),
            max_pending: max_pending.max(1),
            ttl,
            tag_ttl: TAG_TTL,
            lease: LEASE,
            version,
            metrics,
            rt,
        }
    }

    /// Verdicts judged by tag (and the tag → digest step they stand for) live `ttl`, at
    /// most [`TAG_TTL`].
    pub fn with_tag_ttl(mut self, ttl: Duration) -> Self {
        self.tag_ttl = ttl.min(TAG_TTL);
        self
    }

    /// Scan leases of a shared store last `lease` (at least [`MIN_LEASE`]) and are
    /// renewed every third of it while the scan runs.
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(MIN_LEASE);
        self
    }

    /// The verdict for `image` if this process already holds it (no network, no
    /// waiting: callable on an async worker). A tag answers from a verdict judged under
    /// it, or from the digest it was resolved to in the last `tag_ttl`. `None`: ask
    /// [`Verdicts::judge_until`]. Not counted in the hit metric: see
    /// [`Verdicts::count_hits`].
    pub fn cached(&self, image: &Reference) -> Option<ImageVerdict> {
        let key = self.key(image);
        let v = self.store.get_local(&key);
        if v.is_some() || image.digest.is_some() {
            return v;
        }
        let digest = self.resolved(&key)?;
        self.store.get_local(&versioned_key(&self.version, &digest))
    }

    /// The digest the tag of `tag_key` was resolved to within the last `tag_ttl`.
    fn resolved(&self, tag_key: &str) -> Option<String> {
        match lock(&self.tags).get(tag_key) {
            Some((exp, d)) if *exp > Instant::now() => Some(d.clone()),
            _ => None,
        }
    }

    /// Count `n` cache hits (of a review answered from [`Verdicts::cached`] alone).
    pub fn count_hits(&self, n: u64) {
        self.metrics.cache_hits.inc_by(n);
    }

    /// The cache key of `image` under this scanner's version.
    pub fn key(&self, image: &Reference) -> String {
        versioned_key(&self.version, &key_of(image))
    }

    /// The verdict for `image`, waiting for its scan until `deadline` at most. Call from
    /// a blocking thread (it blocks on the runtime handle), never from an async task.
    ///
    /// A tag first looks for a verdict judged under that tag in the last `tag_ttl`; else
    /// it is resolved to its digest (one manifest request, [`Scanner::resolve`]) and the
    /// digest's verdict answers, or the scan of that digest. A tag that cannot be
    /// resolved by the deadline is scanned by tag.
    pub fn judge_until(self: &Arc<Self>, image: &Reference, deadline: Instant) -> ImageVerdict {
        let (key, pinned, tag_key) = match self.pin(image, deadline) {
            Pinned::Hit(v) => {
                self.metrics.cache_hits.inc();
                return v;
            }
            Pinned::Key(k, r, t) => (k, r, t),
        };
        let v = self.judge_key(&key, &pinned, deadline);
        if let Some(tag_key) = tag_key {
            if !self.is_deadline_answer(&v) {
                let ttl = self.ttl_for(&v).min(self.tag_ttl);
                if !ttl.is_zero() {
                    self.store.put(&tag_key, &v, ttl);
                }
            }
        }
        v
    }

    /// Start the scans of `images` (at most [`MAX_PREFETCH`]) in the background without
    /// waiting: each is resolved, looked up and, when unknown, scanned, so that judging
    /// them one after the other waits for the slowest, not for the sum.
    pub fn prefetch(self: &Arc<Self>, images: &[Reference], deadline: Instant) {
        for image in images.iter().take(MAX_PREFETCH) {
            let me = self.clone();
            let image = image.clone();
            self.rt.spawn_blocking(move || {
                if let Pinned::Key(key, pinned, _) = me.pin(&image, deadline) {
                    if me.store.get(&key).is_none() {
                        let _ = me.join_or_start(&key, &pinned);
                    }
                }
            });
        }
    }

    /// A verdict judged under the tag, or the key and reference to judge: the digest
    /// the tag names now (with the tag key to store the verdict under too), or the tag
    /// itself when it cannot be resolved by the deadline.
    fn pin(&self, image: &Reference, deadline: Instant) -> Pinned {
        if image.digest.is_some() {
            return Pinned::Key(self.key(image), image.clone(), None);
        }
        let tag_key = self.key(image);
        if let Some(v) = self.store.get(&tag_key) {
            return Pinned::Hit(v);
        }
        match self.resolve_until(&tag_key, image, deadline) {
            Some(digest) => {
                let pinned = Reference {
                    digest: Some(digest),
                    ..image.clone()
                };
                Pinned::Key(self.key(&pinned), pinned, Some(tag_key))
            }
            None => Pinned::Key(tag_key, image.clone(), None),
        }
    }

    /// `image`'s digest by the deadline (from the tag cache, or one manifest request),
    /// or `None` (no resolver, an error, too slow: the scan by tag then reports what is
    /// wrong).
    fn resolve_until(&self, tag_key: &str, image: &Reference, deadline: Instant) -> Option<String> {
        if let Some(d) = self.resolved(tag_key) {
            return Some(d);
        }
        let scanner = self.scanner.clone();
        let img = image.clone();
        let job = self.rt.spawn_blocking(move || scanner.resolve(&img));
        let got = self
            .rt
            .block_on(async { tokio::time::timeout_at(deadline.into(), job).await });
        let d = match got {
            Ok(Ok(Some(Ok(d)))) if crate::reference::valid_digest(&d) => d,
            _ => return None,
        };
        if !self.tag_ttl.is_zero() {
            let now = Instant::now();
            let mut tags = lock(&self.tags);
            if tags.len() >= MAX_TAGS {
                tags.retain(|_, (exp, _)| *exp > now);
                if tags.len() >= MAX_TAGS {
                    tags.clear();
                }
            }
            tags.insert(tag_key.to_string(), (now + self.tag_ttl, d.clone()));
        }
        Some(d)
    }

    fn judge_key(
        self: &Arc<Self>,
        key: &str,
        image: &Reference,
        deadline: Instant,
    ) -> ImageVerdict {
        if let Some(v) = self.store.get(key) {
            self.metrics.cache_hits.inc();
            return v;
        }
        self.metrics.cache_misses.inc();
        let mut rx = match self.join_or_start(key, image) {
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
                ImageVerdict::Unjudged(DEADLINE_ANSWER.into())
            }
        }
    }

    fn is_deadline_answer(&self, v: &ImageVerdict) -> bool {
        matches!(v, ImageVerdict::Unjudged(m) if m == DEADLINE_ANSWER || m.starts_with(QUEUE_FULL))
    }

    /// How long a verdict is stored: `--verdict-ttl`, errors and incomplete scans at most
    /// [`ERROR_TTL`].
    fn ttl_for(&self, v: &ImageVerdict) -> Duration {
        let full = match v {
            ImageVerdict::Judged { incomplete, .. } => incomplete.is_empty(),
            ImageVerdict::Unjudged(_) => false,
            ImageVerdict::Skipped(_) => true,
        };
        if full {
            self.ttl
        } else {
            self.ttl.min(ERROR_TTL)
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
                "{QUEUE_FULL} ({} images); try again later",
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
            let worker = me.clone();
            let v = tokio::task::spawn_blocking(move || worker.scan_once(&key, &image))
                .await
                .unwrap_or_else(|e| ImageVerdict::Unjudged(format!("the scan failed: {e}")));
            let _ = tx.send(Some(v));
        });
        Ok(rx)
    }

    /// On a blocking thread: the verdict of another replica's scan when one holds the
    /// lease, else a scan here (under a permit), stored, the lease given back.
    fn scan_once(self: &Arc<Self>, key: &str, image: &Reference) -> ImageVerdict {
        let leased = match self.await_peer(key) {
            Peer::Verdict(v) => {
                lock(&self.inflight).remove(key);
                return v;
            }
            Peer::Leased => true,
            Peer::Unleased => false,
        };
        // Held from here (the claim) until the verdict is stored, permit wait included.
        let renewing = leased.then(|| self.renew_lease(key));
        let permit = self.rt.block_on(self.permits.clone().acquire_owned());
        self.metrics.scans_in_flight.inc();
        let v = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.scanner.scan(image)))
            .unwrap_or_else(|_| ImageVerdict::Unjudged("the scan failed (internal error)".into()));
        self.metrics.scans_in_flight.dec();
        drop(permit);
        {
            let mut map = lock(&self.inflight);
            self.store_verdict(key, image, &v);
            map.remove(key);
        }
        if let Some(r) = renewing {
            r.abort();
            self.store.release(key);
        }
        v
    }

    /// Renew the scan lease of `key` every third of the lease period until aborted;
    /// stops when the lease turns out to be another replica's.
    fn renew_lease(&self, key: &str) -> tokio::task::AbortHandle {
        let store = self.store.clone();
        let key = key.to_string();
        let lease = self.lease;
        self.rt
            .spawn(async move {
                let mut tick = tokio::time::interval(lease / 3);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                tick.tick().await; // the first tick is now: the lease was just taken
                loop {
                    tick.tick().await;
                    let (s, k) = (store.clone(), key.clone());
                    let ours = tokio::task::spawn_blocking(move || s.renew(&k, lease))
                        .await
                        .unwrap_or(true);
                    if !ours {
                        eprintln!(
                            "imgscan serve: warning: the scan lease of {key} was taken over \
                             by another replica (it expired before a renewal reached Redis)"
                        );
                        return;
                    }
                }
            })
            .abort_handle()
    }

    /// With a shared store: while another replica holds the scan lease of `key`, poll
    /// for its verdict, [`MAX_WAIT_LEASES`] lease periods at most.
    fn await_peer(&self, key: &str) -> Peer {
        if !self.store.shared() {
            return Peer::Unleased;
        }
        let until = Instant::now() + self.lease * MAX_WAIT_LEASES;
        loop {
            if let Some(v) = self.store.get(key) {
                return Peer::Verdict(v);
            }
            if self.store.claim(key, self.lease) {
                // The holder may have stored its verdict and left just now.
                if let Some(v) = self.store.get(key) {
                    self.store.release(key);
                    return Peer::Verdict(v);
                }
                return Peer::Leased;
            }
            if Instant::now() >= until {
                // The holder renews but never stores a verdict: stop waiting for it.
                return Peer::Unleased;
            }
            std::thread::sleep(POLL);
        }
    }

    fn store_verdict(&self, key: &str, image: &Reference, v: &ImageVerdict) {
        let ttl = self.ttl_for(v);
        if image.digest.is_none() {
            self.store.put(key, v, ttl.min(self.tag_ttl));
        } else {
            self.store.put(key, v, ttl);
        }
        if let ImageVerdict::Judged {
            digest: Some(d), ..
        } = v
        {
            let by_digest = versioned_key(&self.version, d);
            if by_digest != key {
                self.store.put(&by_digest, v, ttl);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::scan::RegistryScanner;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Counting(String, AtomicUsize);

    impl Scanner for Counting {
        fn scan(&self, _: &Reference) -> ImageVerdict {
            self.1.fetch_add(1, Ordering::SeqCst);
            ImageVerdict::Judged {
                digest: Some(
                    "sha256:abababababababababababababababababababababababababababababababab"
                        .into(),
                ),
                findings: Vec::new(),
                incomplete: Vec::new(),
            }
        }
        fn version(&self) -> String {
            self.0.clone()
        }
    }

    fn registry_version(dir: Option<&std::path::Path>) -> String {
        let s = RegistryScanner::new(
            crate::signatures::Signatures::load(None).unwrap().into(),
            crate::rules::RuleSet::embedded_default(),
            crate::limits::Limits::default(),
            crate::source::SourceOptions::default(),
            1,
        )
        .with_signature_dir(dir)
        .unwrap();
        s.version()
    }

    #[test]
    fn a_new_signature_set_never_reuses_an_old_verdict() {
        let dir = tempfile::tempdir().unwrap();
        let embedded = registry_version(None);
        std::fs::write(dir.path().join("pools.toml"), "# one rule\n").unwrap();
        let extended = registry_version(Some(dir.path()));
        std::fs::write(dir.path().join("pools.toml"), "# another rule\n").unwrap();
        let edited = registry_version(Some(dir.path()));
        assert!(
            embedded != extended && extended != edited,
            "{embedded} {extended}"
        );
        assert_eq!(edited, registry_version(Some(dir.path())), "stable");

        let rt = tokio::runtime::Runtime::new().unwrap();
        let store: Arc<dyn VerdictStore> = Arc::new(MemoryStore::new(16));
        let verdicts = |version: &str| {
            let scanner = Arc::new(Counting(version.to_string(), AtomicUsize::new(0)));
            let v = Arc::new(Verdicts::new(
                store.clone(),
                scanner.clone(),
                1,
                4,
                Duration::from_secs(600),
                Arc::new(Metrics::new()),
                rt.handle().clone(),
            ));
            (v, scanner)
        };
        let image = Reference::parse("127.0.0.1:5000/acme/api:1").unwrap();
        let by_digest = Reference::parse("127.0.0.1:5000/acme/api@sha256:abababababababababababababababababababababababababababababababab").unwrap();
        let until = || Instant::now() + Duration::from_secs(30);
        let (old, old_scans) = verdicts(&embedded);
        assert!(matches!(
            old.judge_until(&image, until()),
            ImageVerdict::Judged { .. }
        ));
        let (same, same_scans) = verdicts(&embedded);
        same.judge_until(&image, until());
        same.judge_until(&by_digest, until());
        let (new, new_scans) = verdicts(&extended);
        new.judge_until(&by_digest, until());
        assert_eq!(old_scans.1.load(Ordering::SeqCst), 1);
        assert_eq!(
            same_scans.1.load(Ordering::SeqCst),
            0,
            "same signatures: cached"
        );
        assert_eq!(
            new_scans.1.load(Ordering::SeqCst),
            1,
            "new signatures: scanned"
        );
    }

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
