//! The webhook deadline. The apiserver sends `?timeout=10s` (at most 30 s) and gives up
//! after it; a late answer is a failed call, and the webhook's `failurePolicy` then
//! decides for every deploy in the cluster. So each review answers by the timeout minus
//! [`MARGIN`], always: an image whose scan is still running by then is answered by the
//! policy's `on_deadline` (deny by default) while the scan goes on and fills the
//! verdict cache for the retry.
//!
//! ```
//! use imgscan::admission::serve::deadline::{budget, parse_timeout};
//! use std::time::Duration;
//! assert_eq!(parse_timeout(Some("10s")), Duration::from_secs(10));
//! assert_eq!(parse_timeout(Some("2m")), Duration::from_secs(30)); // clamped
//! assert_eq!(parse_timeout(Some("soon")), Duration::from_secs(10)); // the default
//! assert_eq!(budget(Duration::from_secs(10)), Duration::from_secs(9));
//! ```
//!
//! `review_body` is synchronous and judges images through a `&dyn Scanner`; the
//! request's deadline reaches the scanner through [`with_deadline`], a thread-local
//! set around the review on its blocking thread, so one [`Reviewer`] (policy and
//! name corpus loaded once) serves every request.
//!
//! A review whose images all have their verdict in this process is answered on the
//! async worker with no blocking thread at all: [`cached_only`] runs it with a scanner
//! that answers from [`Verdicts::cached`] and gives up (`None`) at the first image that
//! would need a lookup elsewhere, a resolution or a scan.
//!
//! [`Reviewer`]: crate::admission::Reviewer

use super::verdicts::Verdicts;
use crate::admission::{ImageVerdict, Scanner};
use crate::reference::Reference;
use std::cell::RefCell;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// When the apiserver sends no `timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The apiserver allows no more.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(30);
/// Answered this long before the apiserver's timeout (network, serialisation).
pub const MARGIN: Duration = Duration::from_secs(1);

/// The `timeout` query parameter (a Go duration such as `10s`, `1500ms`, `1m`),
/// clamped to [`MAX_TIMEOUT`]; missing or unreadable gives [`DEFAULT_TIMEOUT`].
pub fn parse_timeout(q: Option<&str>) -> Duration {
    let Some(q) = q.map(str::trim).filter(|q| !q.is_empty()) else {
        return DEFAULT_TIMEOUT;
    };
    let split = q.find(|c: char| !c.is_ascii_digit()).unwrap_or(q.len());
    let (num, unit) = q.split_at(split);
    let Ok(n) = num.parse::<u64>() else {
        return DEFAULT_TIMEOUT;
    };
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" | "" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        _ => return DEFAULT_TIMEOUT,
    };
    if d.is_zero() {
        DEFAULT_TIMEOUT
    } else {
        d.min(MAX_TIMEOUT)
    }
}

/// How long a review may take for an apiserver `timeout`: the timeout minus
/// [`MARGIN`], or half of it when it is too short for the margin.
pub fn budget(timeout: Duration) -> Duration {
    if timeout > MARGIN * 2 {
        timeout - MARGIN
    } else {
        timeout / 2
    }
}

thread_local! {
    static CURRENT: RefCell<Option<(Arc<Verdicts>, Instant)>> = const { RefCell::new(None) };
    /// Set by [`cached_only`] for the review it runs.
    static CACHED: RefCell<Option<CachedRun>> = const { RefCell::new(None) };
}

/// What [`cached_only`] answers from, and what it came to.
struct CachedRun {
    verdicts: Arc<Verdicts>,
    /// An image had no verdict here: the review must run again.
    missed: bool,
    hits: u64,
}

/// Run `f` (a review) with [`DeadlineScanner`] answering only from the verdicts this
/// process holds (no network, no waiting, so callable on an async worker). `None` when
/// an image was not among them: the review must run again under [`with_deadline`].
pub fn cached_only<R>(verdicts: Arc<Verdicts>, f: impl FnOnce() -> R) -> Option<R> {
    struct Clear;
    impl Drop for Clear {
        fn drop(&mut self) {
            CACHED.with(|c| c.borrow_mut().take());
        }
    }
    CACHED.with(|c| {
        *c.borrow_mut() = Some(CachedRun {
            verdicts: verdicts.clone(),
            missed: false,
            hits: 0,
        })
    });
    let _clear = Clear;
    let r = f();
    let (missed, hits) = CACHED.with(|c| {
        c.borrow()
            .as_ref()
            .map_or((true, 0), |run| (run.missed, run.hits))
    });
    if missed {
        return None;
    }
    verdicts.count_hits(hits);
    Some(r)
}

/// Run `f` (a review) with `verdicts` and `deadline` as what [`DeadlineScanner`] uses on
/// this thread.
pub fn with_deadline<R>(verdicts: Arc<Verdicts>, deadline: Instant, f: impl FnOnce() -> R) -> R {
    struct Clear;
    impl Drop for Clear {
        fn drop(&mut self) {
            CURRENT.with(|c| c.borrow_mut().take());
        }
    }
    CURRENT.with(|c| *c.borrow_mut() = Some((verdicts, deadline)));
    let _clear = Clear;
    f()
}

/// The scanner the shared reviewer holds: it judges through the [`Verdicts`] and the
/// deadline set by [`with_deadline`] on the calling thread.
pub struct DeadlineScanner;

/// The one instance (a `&'static` for `Reviewer<'static>`).
pub static DEADLINE_SCANNER: DeadlineScanner = DeadlineScanner;

impl Scanner for DeadlineScanner {
    fn scan(&self, image: &Reference) -> ImageVerdict {
        let cached = CACHED.with(|c| {
            let mut c = c.borrow_mut();
            let run = c.as_mut()?;
            let v = run.verdicts.cached(image);
            match &v {
                Some(_) => run.hits += 1,
                None => run.missed = true,
            }
            Some(v.unwrap_or_else(|| ImageVerdict::Unjudged("not cached".into())))
        });
        if let Some(v) = cached {
            return v;
        }
        let cur = CURRENT.with(|c| c.borrow().clone());
        match cur {
            Some((verdicts, deadline)) => verdicts.judge_until(image, deadline),
            None => ImageVerdict::Unjudged("internal error: no request deadline".into()),
        }
    }

    fn prefetch(&self, images: &[Reference]) {
        if let Some((verdicts, deadline)) = CURRENT.with(|c| c.borrow().clone()) {
            verdicts.prefetch(images, deadline);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::serve::metrics::Metrics;
    use crate::admission::serve::verdicts::MemoryStore;
    use crate::admission::{review_body, Policy, Reviewer};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Sleeps a little in each scan and records how many ran at once.
    #[derive(Default)]
    struct Overlap {
        now: AtomicUsize,
        max: AtomicUsize,
        calls: AtomicUsize,
    }

    impl Scanner for Overlap {
        fn scan(&self, _: &Reference) -> ImageVerdict {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
            self.max.fetch_max(n, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(500));
            self.now.fetch_sub(1, Ordering::SeqCst);
            ImageVerdict::Judged {
                digest: None,
                findings: Vec::new(),
                incomplete: Vec::new(),
            }
        }
    }

    #[test]
    fn a_review_starts_every_scan_at_once() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let scanner = Arc::new(Overlap::default());
        let verdicts = Arc::new(Verdicts::new(
            Arc::new(MemoryStore::new(16)),
            scanner.clone(),
            4,
            16,
            Duration::from_secs(600),
            Arc::new(Metrics::new()),
            rt.handle().clone(),
        ));
        let reviewer = Reviewer::new(Policy::default(), &DEADLINE_SCANNER);
        let body = serde_json::json!({"apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview", "request": {"uid": "u",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "operation": "CREATE", "userInfo": {}, "namespace": "shop",
            "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                "spec": {"containers": [
                    {"name": "a", "image": "127.0.0.1:5999/acme/a:1"},
                    {"name": "b", "image": "127.0.0.1:5999/acme/b:1"},
                    {"name": "c", "image": "127.0.0.1:5999/acme/c:1"}]}}}});
        let body = body.to_string().into_bytes();
        let out = with_deadline(verdicts, Instant::now() + Duration::from_secs(30), || {
            review_body(&body, &reviewer)
        });
        assert!(out.allowed, "{}", out.review);
        // One after the other, one scan would run at a time.
        assert_eq!(scanner.max.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn a_cached_review_is_answered_without_waiting_or_scanning() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let scanner = Arc::new(Overlap::default());
        let metrics = Arc::new(Metrics::new());
        let verdicts = Arc::new(Verdicts::new(
            Arc::new(MemoryStore::new(16)),
            scanner.clone(),
            1,
            16,
            Duration::from_secs(600),
            metrics.clone(),
            rt.handle().clone(),
        ));
        let reviewer = Reviewer::new(Policy::default(), &DEADLINE_SCANNER);
        let body = serde_json::json!({"apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview", "request": {"uid": "u",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "operation": "CREATE", "userInfo": {}, "namespace": "shop",
            "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                "spec": {"containers": [{"name": "a", "image": "127.0.0.1:5999/acme/a:1"}]}}}});
        let body = body.to_string().into_bytes();
        let review = || review_body(&body, &reviewer);
        // Not judged yet: no answer from the cache alone, and no scan started by asking.
        assert!(cached_only(verdicts.clone(), review).is_none());
        assert_eq!(scanner.calls.load(Ordering::SeqCst), 0);
        let slow = with_deadline(
            verdicts.clone(),
            Instant::now() + Duration::from_secs(30),
            review,
        );
        assert_eq!(scanner.calls.load(Ordering::SeqCst), 1);
        let hits = metrics.cache_hits.get();
        let fast = cached_only(verdicts.clone(), review).expect("judged: cached");
        assert_eq!(fast.review, slow.review);
        assert_eq!(scanner.calls.load(Ordering::SeqCst), 1, "no second scan");
        assert_eq!(metrics.cache_hits.get(), hits + 1);
        // Outside `cached_only` the scanner waits again, as before.
        let again = with_deadline(verdicts, Instant::now() + Duration::from_secs(30), review);
        assert_eq!(again.review, slow.review);
    }
}
