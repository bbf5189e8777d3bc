//! `POST /validate`: read the AdmissionReview (bounded in size and time), review it under
//! the request's deadline, answer the apiserver. A review of at most [`FAST_BODY`] bytes
//! whose images all have a verdict in this process is answered right on the async
//! worker ([`cached_only`]); any other goes to a blocking thread, where images may wait
//! for Redis, a tag resolution or a scan.
//!
//! | request | answer |
//! |---|---|
//! | an AdmissionReview | 200, the review's response (same uid, same apiVersion) |
//! | body over `--max-body` | 413 |
//! | body not sent within the body timeout | 408 |
//! | not an AdmissionReview (not JSON, no request, no uid) | 400, an AdmissionReview marked invalid, with the uid when one could be read |
//! | review not finished by the deadline | 200, the policy's `on_deadline` answer |
//!
//! An invalid body gets a 400 here where `imgscan admission-review` prints the same
//! review and exits 2: either way the apiserver counts a webhook error and the
//! `failurePolicy` decides; the 400 also tells a person with `curl` at once.
//!
//! ```no_run
//! # fn f(app: std::sync::Arc<imgscan::admission::serve::http::App>) {
//! let router = imgscan::admission::serve::http::router(app);
//! # }
//! ```

use super::deadline::{budget, cached_only, parse_timeout, with_deadline};
use super::metrics::{Metrics, Verdict};
use super::verdicts::Verdicts;
use crate::admission::{review_body, Mode, OnDeadline, Outcome, Policy, Reviewer};
use axum::body::Body;
use axum::extract::{RawQuery, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bodies up to this size may be reviewed on the async worker when every image is
/// cached (a larger one is reviewed on a blocking thread: its parse alone takes a while).
pub const FAST_BODY: usize = 64 << 10;

/// Everything a review needs, shared by all requests.
pub struct App {
    /// Holds the policy and the name corpus; judges content through
    /// [`super::deadline::DEADLINE_SCANNER`].
    pub reviewer: Reviewer<'static>,
    pub verdicts: Arc<Verdicts>,
    pub metrics: Arc<Metrics>,
    pub max_body: usize,
    pub body_timeout: Duration,
}

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/validate", post(validate))
        .with_state(app)
}

fn json_response(status: StatusCode, v: &Value) -> Response {
    let body = serde_json::to_vec(v).unwrap_or_default();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn text(status: StatusCode, msg: &str) -> Response {
    (status, format!("{msg}\n")).into_response()
}

/// The `timeout` query parameter, if any.
fn timeout_param(q: Option<&str>) -> Option<&str> {
    q?.split('&').find_map(|kv| kv.strip_prefix("timeout="))
}

async fn validate(State(app): State<Arc<App>>, RawQuery(q): RawQuery, req: Request) -> Response {
    let start = Instant::now();
    let deadline = start + budget(parse_timeout(timeout_param(q.as_deref())));
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let (verdict, resp) = if declared.is_some_and(|n| n > app.max_body as u64) {
        // Refused before a byte of the body is read.
        too_large(app.max_body)
    } else {
        answer(&app, deadline, req.into_body()).await
    };
    app.metrics.request(verdict, start.elapsed().as_secs_f64());
    resp
}

async fn answer(app: &Arc<App>, deadline: Instant, body: Body) -> (Verdict, Response) {
    let read = tokio::time::timeout(app.body_timeout, Limited::new(body, app.max_body).collect());
    let body = match read.await {
        Ok(Ok(b)) => b.to_bytes(),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
            return too_large(app.max_body)
        }
        Ok(Err(e)) => return err(StatusCode::BAD_REQUEST, &format!("reading the body: {e}")),
        Err(_) => return err(StatusCode::REQUEST_TIMEOUT, "the body was not sent in time"),
    };
    // Images stop waiting a little before the review must be answered.
    let images_by = deadline
        .checked_sub(Duration::from_millis(50))
        .unwrap_or(deadline);
    if body.len() <= FAST_BODY {
        let verdicts = app.verdicts.clone();
        if let Some(out) = cached_only(verdicts, || review_body(&body, &app.reviewer)) {
            return respond(out, &body);
        }
    }
    let job = {
        let app = app.clone();
        let body = body.clone();
        tokio::task::spawn_blocking(move || {
            with_deadline(app.verdicts.clone(), images_by, || {
                review_body(&body, &app.reviewer)
            })
        })
    };
    let policy = &app.reviewer.policy;
    match tokio::time::timeout_at(deadline.into(), job).await {
        Ok(Ok(out)) => respond(out, &body),
        Ok(Err(e)) => policy_answer(&body, policy, &format!("internal error: {e}")),
        Err(_) => {
            app.metrics.deadline_answers.inc();
            policy_answer(&body, policy, "the review outlived the webhook deadline")
        }
    }
}

/// A finished review to its HTTP answer.
fn respond(out: Outcome, body: &[u8]) -> (Verdict, Response) {
    if out.invalid {
        let mut review = out.review;
        if let Some(uid) = uid_of(body) {
            review["response"]["uid"] = json!(uid);
        }
        return (
            Verdict::Error,
            json_response(StatusCode::BAD_REQUEST, &review),
        );
    }
    let v = if out.allowed {
        Verdict::Allowed
    } else {
        Verdict::Denied
    };
    (v, json_response(StatusCode::OK, &out.review))
}

fn too_large(max: usize) -> (Verdict, Response) {
    err(
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!("the body is over {max} bytes"),
    )
}

fn err(status: StatusCode, msg: &str) -> (Verdict, Response) {
    (Verdict::Error, text(status, msg))
}

/// The request's uid, when the body is JSON that has one.
fn uid_of(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let uid = v.get("request")?.get("uid")?.as_str()?;
    (!uid.is_empty()).then(|| uid.to_string())
}

/// What the policy gives a review that could not be finished: `on_deadline` (and
/// `mode: audit`) decide, as for one image that could not be judged.
fn policy_answer(body: &[u8], policy: &Policy, why: &str) -> (Verdict, Response) {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let api = v
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("admission.k8s.io/v1");
    let uid = uid_of(body).unwrap_or_default();
    let allow = policy.on_deadline == OnDeadline::AllowWithWarning || policy.mode == Mode::Audit;
    let msg = format!("not judged ({why})");
    let response = if allow {
        json!({"uid": uid, "allowed": true, "warnings": [format!("allowed: {msg}")],
               "auditAnnotations": {"verdict": format!("allowed: {msg}")}})
    } else {
        let m = format!("denied: {msg}");
        json!({"uid": uid, "allowed": false,
               "status": {"status": "Failure", "message": m, "reason": "Forbidden", "code": 403},
               "auditAnnotations": {"verdict": m}})
    };
    let review = json!({"apiVersion": api, "kind": "AdmissionReview", "response": response});
    let verdict = if allow {
        Verdict::Allowed
    } else {
        Verdict::Denied
    };
    (verdict, json_response(StatusCode::OK, &review))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_query_and_uid() {
        assert_eq!(timeout_param(Some("timeout=10s")), Some("10s"));
        assert_eq!(timeout_param(Some("a=1&timeout=3s")), Some("3s"));
        assert_eq!(timeout_param(None), None);
        assert_eq!(
            uid_of(br#"{"request":{"uid":"u1"}}"#).as_deref(),
            Some("u1")
        );
        assert_eq!(uid_of(b"\xff"), None);
    }
}
