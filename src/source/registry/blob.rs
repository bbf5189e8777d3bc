//! One layer blob as one byte stream that survives a misbehaving registry.
//!
//! Owns: reading a blob body chunk by chunk before the pull's deadline, with a per-read
//! stall timeout ([`stall_timeout`]); and resuming after a connection reset, a body
//! shorter than its `Content-Length` or a stall, with `Range: bytes=N-` (N = bytes
//! already handed on). A `206` must start at N; a `200` (the server ignored Range) is
//! read again from the start with its first N bytes dropped. So the stream never
//! repeats or skips a byte: the layer walk sees each byte once and the digest check
//! after it (`DigestReader`) covers the whole blob. At most [`MAX_RESUMES`] resumes per
//! blob, each also taken from the pull's retry budget.

use super::client::{error_chain, Session};
use crate::error::Step;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Resumes of one blob before its read fails.
pub const MAX_RESUMES: u32 = 3;
/// Longest silence on a blob connection before it is given up and resumed.
const MAX_STALL: Duration = Duration::from_secs(30);

/// The per-read stall timeout for a pull with `timeout`: a quarter of it, between 1 s
/// and 30 s, so that a stalled connection can be resumed before the deadline.
pub fn stall_timeout(timeout: Duration) -> Duration {
    (timeout / 4).clamp(Duration::from_secs(1), MAX_STALL)
}

type Body = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

struct Blob {
    session: Arc<Session>,
    digest: String,
    body: Option<Body>,
    /// Bytes handed on so far: the blob offset of the next byte.
    delivered: u64,
    /// The blob's length, when the registry said it.
    total: Option<u64>,
    /// Bytes of the current body still to drop (a `200` after a resume).
    skip: u64,
    resumes: u32,
    done: bool,
}

/// The byte stream of blob `digest` whose first response is `resp`.
pub(super) fn stream(
    session: Arc<Session>,
    digest: String,
    resp: reqwest::Response,
) -> impl Stream<Item = io::Result<Bytes>> + Send {
    let blob = Blob {
        total: resp.content_length(),
        body: Some(Box::pin(resp.bytes_stream())),
        session,
        digest,
        delivered: 0,
        skip: 0,
        resumes: 0,
        done: false,
    };
    futures_util::stream::unfold(blob, |mut b| async move {
        let item = b.next().await?;
        Some((item, b))
    })
}

impl Blob {
    fn fail(&mut self, kind: io::ErrorKind, why: String) -> Option<io::Result<Bytes>> {
        self.done = true;
        self.body = None;
        Some(Err(io::Error::new(
            kind,
            format!("layer {}: {why}", self.digest),
        )))
    }

    fn so_far(&self) -> String {
        match self.total {
            Some(t) => format!("{} of {t} bytes", self.delivered),
            None => format!("{} bytes", self.delivered),
        }
    }

    async fn next(&mut self) -> Option<io::Result<Bytes>> {
        let deadline = self.session.deadline;
        let stall = stall_timeout(self.session.timeout);
        loop {
            if self.done {
                return None;
            }
            let Some(body) = self.body.as_mut() else {
                return self.fail(io::ErrorKind::Other, "internal error: no body".into());
            };
            let until = deadline.min(Instant::now() + stall);
            let problem = match tokio::time::timeout_at(until, body.next()).await {
                Err(_) if Instant::now() >= deadline => {
                    let why = format!(
                        "timed out after {}s (--timeout) with {} read",
                        self.session.timeout.as_secs_f64(),
                        self.so_far()
                    );
                    return self.fail(io::ErrorKind::TimedOut, why);
                }
                Err(_) => format!("no data for {}s", stall.as_secs_f64()),
                Ok(Some(Ok(mut chunk))) => {
                    if self.skip > 0 {
                        let drop = self.skip.min(chunk.len() as u64);
                        self.skip -= drop;
                        chunk = chunk.slice(drop as usize..);
                    }
                    if chunk.is_empty() {
                        continue;
                    }
                    self.delivered += chunk.len() as u64;
                    return Some(Ok(chunk));
                }
                Ok(Some(Err(e))) => error_chain(&e),
                Ok(None) if self.skip > 0 || self.total.is_some_and(|t| self.delivered < t) => {
                    format!("the body ended after {}", self.so_far())
                }
                Ok(None) => {
                    self.done = true;
                    return None;
                }
            };
            if let Err(why) = self.resume(&problem).await {
                return self.fail(io::ErrorKind::Other, why);
            }
        }
    }

    /// Ask for the rest of the blob after `problem` cut the body short.
    async fn resume(&mut self, problem: &str) -> Result<(), String> {
        self.body = None;
        let at = format!("{problem} (at {})", self.so_far());
        if self.resumes >= MAX_RESUMES {
            return Err(format!("{at}; gave up after {MAX_RESUMES} resumes"));
        }
        if !self.session.take_retry() {
            return Err(format!(
                "{at}; not resumed: the pull's budget of {} retries is spent",
                super::client::RETRY_BUDGET
            ));
        }
        self.resumes += 1;
        let resp = self
            .session
            .request(
                reqwest::Method::GET,
                &format!("blobs/{}", self.digest),
                None,
                Some(self.delivered),
                "blob",
                Step::ReadingLayer,
            )
            .await
            .map_err(|(_, cause)| format!("{at}; resuming failed: {cause}"))?;
        let len = resp.content_length();
        if resp.status() == reqwest::StatusCode::PARTIAL_CONTENT {
            let range = resp
                .headers()
                .get(reqwest::header::CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let want = format!("bytes {}-", self.delivered);
            if !range.starts_with(&want) {
                return Err(format!(
                    "{at}; asked for bytes={}- and the registry answered Content-Range {range:?}",
                    self.delivered
                ));
            }
            self.skip = 0;
            if let Some(n) = len {
                self.total = Some(self.delivered + n);
            }
        } else {
            // The server ignored Range: the whole blob again, minus what was handed on.
            self.skip = self.delivered;
            self.total = len.or(self.total);
        }
        self.body = Some(Box::pin(resp.bytes_stream()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stall_timeout_is_a_quarter_of_the_timeout_within_bounds() {
        assert_eq!(
            stall_timeout(Duration::from_secs(2)),
            Duration::from_secs(1)
        );
        assert_eq!(
            stall_timeout(Duration::from_secs(8)),
            Duration::from_secs(2)
        );
        assert_eq!(stall_timeout(Duration::from_secs(600)), MAX_STALL);
    }
}
