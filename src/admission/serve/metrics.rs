//! The webhook's Prometheus metrics (`prometheus-client`), served at `/metrics` on the
//! health port in the OpenMetrics text format.
//!
//! ```
//! use imgscan::admission::serve::metrics::{Metrics, Verdict};
//! let m = Metrics::new();
//! m.request(Verdict::Denied, 0.004);
//! let text = m.encode();
//! assert!(text.contains(r#"imgscan_admission_requests_total{verdict="denied"} 1"#));
//! ```
//!
//! | metric | type | what |
//! |---|---|---|
//! | `imgscan_admission_requests_total{verdict}` | counter | reviews answered: `allowed`, `denied`, `error` (unparseable, too big, too slow) |
//! | `imgscan_admission_request_duration_seconds` | histogram | time from the body read to the answer |
//! | `imgscan_admission_scans_in_flight` | gauge | content scans running now |
//! | `imgscan_admission_verdict_cache_hits_total` / `_misses_total` | counter | verdict cache lookups |
//! | `imgscan_admission_deadline_answers_total` | counter | images answered by the policy's `on_deadline` because their scan was still running |
//! | `imgscan_admission_verdict_store_errors_total` | counter | `--redis` operations that failed (the in-process cache answered) |
//! | `imgscan_admission_verdict_store_up` | gauge | 1 while `--redis` answers, 0 after an error |

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// How a review ended, for the `verdict` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    Denied,
    Error,
}

impl Verdict {
    fn label(self) -> &'static str {
        match self {
            Verdict::Allowed => "allowed",
            Verdict::Denied => "denied",
            Verdict::Error => "error",
        }
    }
}

type Labels = Vec<(&'static str, &'static str)>;

pub struct Metrics {
    registry: Registry,
    requests: Family<Labels, Counter>,
    latency: Histogram,
    pub scans_in_flight: Gauge,
    pub cache_hits: Counter,
    pub cache_misses: Counter,
    pub deadline_answers: Counter,
    pub verdict_store_errors: Counter,
    pub verdict_store_up: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<Labels, Counter>::default();
        // 0.5 ms .. ~33 s
        let latency = Histogram::new(exponential_buckets(0.0005, 2.0, 17));
        let scans_in_flight = Gauge::default();
        let cache_hits = Counter::default();
        let cache_misses = Counter::default();
        let deadline_answers = Counter::default();
        let verdict_store_errors = Counter::default();
        let verdict_store_up = Gauge::default();
        registry.register(
            "imgscan_admission_requests",
            "AdmissionReviews answered, by verdict",
            requests.clone(),
        );
        registry.register(
            "imgscan_admission_request_duration_seconds",
            "Time to answer one AdmissionReview",
            latency.clone(),
        );
        registry.register(
            "imgscan_admission_scans_in_flight",
            "Image content scans running",
            scans_in_flight.clone(),
        );
        registry.register(
            "imgscan_admission_verdict_cache_hits",
            "Verdict cache hits",
            cache_hits.clone(),
        );
        registry.register(
            "imgscan_admission_verdict_cache_misses",
            "Verdict cache misses",
            cache_misses.clone(),
        );
        registry.register(
            "imgscan_admission_deadline_answers",
            "Images answered by the policy because their scan outlived the deadline",
            deadline_answers.clone(),
        );
        registry.register(
            "imgscan_admission_verdict_store_errors",
            "Shared verdict store (Redis) operations that failed",
            verdict_store_errors.clone(),
        );
        registry.register(
            "imgscan_admission_verdict_store_up",
            "1 while the shared verdict store answers, 0 after an error",
            verdict_store_up.clone(),
        );
        // Every verdict label exists from the start, so dashboards see zeros.
        for v in [Verdict::Allowed, Verdict::Denied, Verdict::Error] {
            let _ = requests.get_or_create(&vec![("verdict", v.label())]);
        }
        Metrics {
            registry,
            requests,
            latency,
            scans_in_flight,
            cache_hits,
            cache_misses,
            deadline_answers,
            verdict_store_errors,
            verdict_store_up,
        }
    }

    /// Count one answered review and its latency in seconds.
    pub fn request(&self, verdict: Verdict, seconds: f64) {
        self.requests
            .get_or_create(&vec![("verdict", verdict.label())])
            .inc();
        self.latency.observe(seconds);
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = encode(&mut out, &self.registry);
        out
    }
}
