//! Test harness: a small misbehaving HTTP server for registry fault tests (statuses,
//! headers, delays, redirects chosen per request by a closure), recording every request.
//! A submodule of the registry harness (`registry.rs`), whose token issuer runs on it;
//! its items are re-exported there.
#![allow(dead_code)]

use super::ImageFixture;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One HTTP request as the fault server saw it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Lower-cased names.
    pub headers: Vec<(String, String)>,
    /// The request body (read up to `Content-Length`, at most 64 KiB).
    pub body: Vec<u8>,
    pub at: Instant,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Sleep this long before answering (slow-server tests).
    pub delay: Duration,
    /// How the body is sent (all at once unless told otherwise).
    pub body_plan: BodyPlan,
}

/// Ways of sending a body badly. `Content-Length` always announces the whole body.
#[derive(Clone, Copy, Debug, Default)]
pub enum BodyPlan {
    #[default]
    Whole,
    /// Send this many bytes, then close the connection (FIN): a short body.
    CutAfter(usize),
    /// Send this many bytes, then reset the connection (RST, `SO_LINGER` 0).
    ResetAfter(usize),
    /// Send this many bytes, then go silent for the duration (no FIN, no RST).
    StallAfter(usize, Duration),
    /// One byte per interval.
    Trickle(Duration),
}

impl Response {
    pub fn new(status: u16, body: impl AsRef<[u8]>) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: body.as_ref().to_vec(),
            delay: Duration::ZERO,
            body_plan: BodyPlan::Whole,
        }
    }
    pub fn with_plan(mut self, plan: BodyPlan) -> Response {
        self.body_plan = plan;
        self
    }
    pub fn with_header(mut self, k: &str, v: &str) -> Response {
        self.headers.push((k.to_string(), v.to_string()));
        self
    }
}

/// A tiny HTTP/1.1 server on 127.0.0.1 (one connection per request, `Connection:
/// close`) that records every request and answers with a closure. Non-HTTP input (a TLS
/// ClientHello) is dropped.
pub struct FaultServer {
    pub port: u16,
    pub requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    _handle: std::thread::JoinHandle<()>,
}

impl FaultServer {
    pub fn start(handler: impl Fn(&Request) -> Response + Send + Sync + 'static) -> FaultServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let handler = Arc::new(handler);
        let (log, halt) = (requests.clone(), stop.clone());
        let handle = std::thread::spawn(move || {
            while !halt.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (log, handler) = (log.clone(), handler.clone());
                        std::thread::spawn(move || serve_one(stream, &*handler, &log));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        FaultServer {
            port,
            requests,
            stop,
            _handle: handle,
        }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn serve_one(
    stream: TcpStream,
    handler: &(dyn Fn(&Request) -> Response + Send + Sync),
    log: &Mutex<Vec<Request>>,
) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    // A TLS ClientHello (0x16): this server speaks plain HTTP only; hang up at once.
    let mut first = [0u8; 1];
    if stream
        .peek(&mut first)
        .map_or(true, |n| n == 0 || first[0] == 0x16)
    {
        return;
    }
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(path), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return;
    };
    if !version.starts_with("HTTP/1.") {
        return;
    }
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() {
            return;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let len = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0)
        .min(64 << 10);
    let mut body = vec![0u8; len];
    if std::io::Read::read_exact(&mut reader, &mut body).is_err() {
        return;
    }
    let req = Request {
        method: method.to_string(),
        path: path.to_string(),
        headers,
        body,
        at: Instant::now(),
    };
    log.lock().unwrap().push(req.clone());
    let resp = handler(&req);
    if !resp.delay.is_zero() {
        std::thread::sleep(resp.delay);
    }
    let mut out = format!(
        "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        resp.status,
        resp.body.len()
    );
    for (k, v) in &resp.headers {
        out += &format!("{k}: {v}\r\n");
    }
    out += "\r\n";
    let mut s = stream;
    let _ = s.write_all(out.as_bytes());
    if req.method == "HEAD" {
        let _ = s.flush();
        return;
    }
    let body = &resp.body;
    match resp.body_plan {
        BodyPlan::Whole => {
            let _ = s.write_all(body);
        }
        BodyPlan::CutAfter(n) => {
            let _ = s.write_all(&body[..n.min(body.len())]);
            let _ = s.flush();
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
        BodyPlan::ResetAfter(n) => {
            let _ = s.write_all(&body[..n.min(body.len())]);
            let _ = s.flush();
            // Let the bytes leave before the reset discards the send queue.
            std::thread::sleep(Duration::from_millis(100));
            let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
            drop(s);
            return;
        }
        BodyPlan::StallAfter(n, d) => {
            let _ = s.write_all(&body[..n.min(body.len())]);
            let _ = s.flush();
            std::thread::sleep(d);
        }
        BodyPlan::Trickle(every) => {
            let _ = s.set_nodelay(true);
            for b in body.chunks(1) {
                if s.write_all(b).and_then(|_| s.flush()).is_err() {
                    return;
                }
                std::thread::sleep(every);
            }
        }
    }
    let _ = s.flush();
}

/// Answer a blob request honouring `Range: bytes=N-` with `206 Partial Content` (as
/// distribution and S3 do); without a Range header, the whole blob.
pub fn serve_range(blob: &[u8], req: &Request) -> Response {
    let Some(start) = req
        .header("range")
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse::<usize>().ok())
    else {
        return Response::new(200, blob);
    };
    if start >= blob.len() {
        return Response::new(416, "");
    }
    Response::new(206, &blob[start..]).with_header(
        "Content-Range",
        &format!("bytes {start}-{}/{}", blob.len() - 1, blob.len()),
    )
}

/// Serve a fixture image the way a registry would (manifests by tag or digest, blobs by
/// digest), for fault servers that misbehave only on some requests.
pub fn serve_fixture(img: &ImageFixture, req: &Request) -> Response {
    let p = req.path.split('?').next().unwrap_or("");
    if p == "/v2/" {
        return Response::new(200, "{}");
    }
    if p.contains("/manifests/") {
        return Response::new(200, &img.manifest)
            .with_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            .with_header("Docker-Content-Digest", &img.manifest_digest);
    }
    if p.ends_with(&img.config_digest) {
        return Response::new(200, &img.config);
    }
    if p.ends_with(&img.layer_digest) {
        return Response::new(200, &img.layer_blob);
    }
    Response::new(
        404,
        r#"{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}"#,
    )
}
