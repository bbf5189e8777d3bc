//! The plain-HTTP health port: `/healthz` (the process answers), `/readyz` (signatures,
//! rules and name corpus loaded, TLS pair loaded, HTTPS listening, not shutting down)
//! and `/metrics` (see [`super::metrics`]).
//!
//! ```no_run
//! # fn f(h: std::sync::Arc<imgscan::admission::serve::health::Health>) {
//! let router = imgscan::admission::serve::health::router(h);
//! # }
//! ```

use super::metrics::Metrics;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub struct Health {
    ready: AtomicBool,
    pub metrics: Arc<Metrics>,
}

impl Health {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Health {
            ready: AtomicBool::new(false),
            metrics,
        }
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }
}

pub fn router(h: Arc<Health>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(h)
}

async fn readyz(State(h): State<Arc<Health>>) -> Response {
    if h.is_ready() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response()
    }
}

async fn metrics(State(h): State<Arc<Health>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        h.metrics.encode(),
    )
        .into_response()
}
