//! Registry pulls against a small misbehaving server (401, 404, 429, 500, redirects,
//! stalls, oversized or mismatched documents) and the limits on what a registry sends.

#[path = "common/pull.rs"]
mod pull;
#[path = "common/registry.rs"]
mod registry_harness;

use imgscan::source::SourceOptions;
use pull::*;
use registry_harness::*;
use std::time::{Duration, Instant};

fn fault_fixture() -> ImageFixture {
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path(), b"served by the fault server")
}

fn manifest_requests(s: &FaultServer) -> Vec<Request> {
    s.requests()
        .into_iter()
        .filter(|r| r.path.contains("/manifests/"))
        .collect()
}

#[test]
fn fault_401_without_credentials() {
    let s = FaultServer::start(|_| Response::new(401, r#"{"errors":[{"code":"UNAUTHORIZED"}]}"#));
    let reference = format!("{}/a/b:latest", s.host());
    assert_eq!(
        pull_err(&reference, &insecure()),
        format!("authenticating to {reference}: authentication required (use --username/--password-stdin or docker login)")
    );
}

#[test]
fn fault_404() {
    let s = FaultServer::start(|r| {
        if r.path == "/v2/" {
            Response::new(200, "{}")
        } else {
            Response::new(
                404,
                r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#,
            )
        }
    });
    let reference = format!("{}/a/b:latest", s.host());
    assert_eq!(
        pull_err(&reference, &insecure()),
        format!("pulling {reference}: manifest unknown")
    );
}

/// The first manifest request gets `status` with `Retry-After: retry_after()`; later ones
/// the fixture. Returns the gap between the two manifest requests after a good pull.
fn retried_once(status: u16, retry_after: fn() -> String) -> Duration {
    let img = fault_fixture();
    let served = img.clone();
    let count = std::sync::atomic::AtomicUsize::new(0);
    let s = FaultServer::start(move |r| {
        if r.path.contains("/manifests/")
            && count.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0
        {
            return Response::new(status, r#"{"errors":[{"code":"TOOMANYREQUESTS"}]}"#)
                .with_header("Retry-After", &retry_after());
        }
        serve_fixture(&served, r)
    });
    let reference = format!("{}/a/b:latest", s.host());
    let images = pull(&reference, &insecure()).unwrap();
    assert_is_fixture(&images[0], &img, &reference);
    let m = manifest_requests(&s);
    assert_eq!(m.len(), 2);
    m[1].at - m[0].at
}

#[test]
fn fault_429_then_200_honours_retry_after() {
    let gap = retried_once(429, || "1".to_string());
    assert!(
        gap >= Duration::from_millis(950),
        "retried after {gap:?}, Retry-After was 1s"
    );
}

/// `Retry-After` as an HTTP date (RFC 9110 allows it; some proxies send it): waited for,
/// not ignored.
#[test]
fn fault_503_with_retry_after_as_an_http_date() {
    let gap = retried_once(503, || {
        httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(2))
    });
    // The date has one-second resolution: two seconds ahead is at least one.
    assert!(gap >= Duration::from_millis(900), "retried after {gap:?}");
}

#[test]
fn fault_persistent_500_gives_up_after_bounded_retries() {
    let s = FaultServer::start(|r| {
        if r.path == "/v2/" {
            Response::new(200, "{}")
        } else {
            Response::new(500, "boom")
        }
    });
    let reference = format!("{}/a/b:latest", s.host());
    assert_eq!(
        pull_err(&reference, &insecure()),
        format!(
            "pulling {reference}: registry answered 500 Internal Server Error {} times; giving up",
            imgscan::source::registry::MAX_ATTEMPTS
        )
    );
    assert_eq!(
        manifest_requests(&s).len(),
        imgscan::source::registry::MAX_ATTEMPTS as usize
    );
}

#[test]
fn fault_redirect_to_other_host_gets_no_credentials() {
    let img = fault_fixture();
    // B: the redirect target (think: a CDN), records what it receives.
    let blob = img.layer_blob.clone();
    let b = FaultServer::start(move |_| Response::new(200, &blob));
    let b_host = b.host();
    let served = img.clone();
    let layer = img.layer_digest.clone();
    // A: the registry; basic auth required; the layer redirects to B.
    let a = FaultServer::start(move |r| {
        if r.path == "/v2/" {
            return Response::new(401, "").with_header("WWW-Authenticate", "Basic realm=\"a\"");
        }
        if r.header("authorization") != Some("Basic dTpw") {
            return Response::new(401, "");
        }
        if r.path.ends_with(&layer) {
            return Response::new(307, "")
                .with_header("Location", &format!("http://{b_host}/cdn/blob"));
        }
        serve_fixture(&served, r)
    });
    let o = SourceOptions {
        username: Some("u".into()),
        password: Some("p".into()),
        ..insecure()
    };
    let reference = format!("{}/a/b:latest", a.host());
    let images = pull(&reference, &o).unwrap();
    assert_is_fixture(&images[0], &img, &reference);
    let on_a = a.requests();
    assert!(on_a
        .iter()
        .any(|r| r.path.ends_with(&img.layer_digest)
            && r.header("authorization") == Some("Basic dTpw")));
    let on_b = b.requests();
    assert_eq!(on_b.len(), 1, "{on_b:?}");
    assert_eq!(on_b[0].path, "/cdn/blob");
    assert_eq!(
        on_b[0].header("authorization"),
        None,
        "credentials leaked to the redirect target"
    );
}

#[test]
fn fault_slow_server_hits_timeout() {
    let s = FaultServer::start(|r| {
        if r.path == "/v2/" {
            return Response::new(200, "{}");
        }
        let mut resp = Response::new(200, "{}");
        resp.delay = Duration::from_secs(8);
        resp
    });
    let o = SourceOptions {
        timeout: Duration::from_secs(1),
        ..insecure()
    };
    let reference = format!("{}/a/b:latest", s.host());
    let start = Instant::now();
    let e = pull_err(&reference, &o);
    assert_eq!(
        e,
        format!("pulling {reference}: timed out after 1s (--timeout)")
    );
    assert!(
        start.elapsed() < Duration::from_secs(6),
        "took {:?}",
        start.elapsed()
    );
}

#[test]
fn oversized_manifest_is_refused() {
    let s = FaultServer::start(|r| {
        if r.path == "/v2/" {
            return Response::new(200, "{}");
        }
        Response::new(200, vec![b' '; 5000])
    });
    let mut o = insecure();
    o.limits.json_bytes = 4096;
    let reference = format!("{}/a/b:latest", s.host());
    assert_eq!(
        pull_err(&reference, &o),
        format!(
            "pulling {reference}: manifest is larger than the 4096-byte limit (--max-json-bytes)"
        )
    );
}

#[test]
fn connection_refused_is_reported_plainly() {
    let port = free_port();
    let reference = format!("127.0.0.1:{port}/a/b:latest");
    let e = pull_err(&reference, &opts());
    assert!(
        e.starts_with(&format!(
            "pulling {reference}: cannot connect to 127.0.0.1:{port}"
        )),
        "{e}"
    );
    assert!(e.contains("Connection refused"), "{e}");
    let e = pull_err(&reference, &insecure());
    assert!(
        e.starts_with(&format!(
            "pulling {reference}: cannot connect to 127.0.0.1:{port}"
        )),
        "{e}"
    );
}

#[test]
fn expired_bearer_token_is_refreshed_once() {
    let img = fault_fixture();
    let served = img.clone();
    let layer = img.layer_digest.clone();
    let issued = std::sync::atomic::AtomicUsize::new(0);
    let port = std::sync::Arc::new(std::sync::OnceLock::<u16>::new());
    let port_in = port.clone();
    let s = FaultServer::start(move |r| {
        let p = r.path.split('?').next().unwrap();
        if p == "/v2/" {
            let realm = format!("http://127.0.0.1:{}/token", port_in.get().unwrap());
            return Response::new(401, "").with_header(
                "WWW-Authenticate",
                &format!("Bearer realm=\"{realm}\",service=\"svc\""),
            );
        }
        if p == "/token" {
            let n = issued.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            return Response::new(200, format!("{{\"token\":\"t{n}\"}}"));
        }
        // The first token "expires" before the layer is fetched.
        let ok = if p.ends_with(&layer) {
            r.header("authorization") == Some("Bearer t2")
        } else {
            r.header("authorization")
                .is_some_and(|a| a.starts_with("Bearer t"))
        };
        if !ok {
            return Response::new(401, "");
        }
        serve_fixture(&served, r)
    });
    port.set(s.port).unwrap();
    let reference = format!("{}/a/b:latest", s.host());
    let images = pull(&reference, &insecure()).unwrap();
    assert_is_fixture(&images[0], &img, &reference);
    let tokens = s
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/token"))
        .count();
    assert_eq!(tokens, 2);
}

#[test]
fn blob_limit_and_large_streamed_layer() {
    let reg = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    // ~4 MiB of incompressible bytes: streamed through the bridge in many chunks.
    let mut big = vec![0u8; 4 << 20];
    let mut x: u64 = 0x9E3779B97F4A7C15;
    for b in big.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    let img = fixture(dir.path(), &big);
    reg.push(dir.path(), "v1", "big/app:1", false);
    let reference = format!("{}/big/app:1", reg.host);
    let images = pull(&reference, &insecure()).unwrap();
    assert_is_fixture(&images[0], &img, &reference);
    // A blob above --max-blob-bytes is refused before it is read.
    let mut o = insecure();
    o.limits.blob_bytes = 1 << 20;
    let images = pull(&reference, &o).unwrap();
    let e = images[0]
        .layers
        .open_layer(&images[0].image.layers[0])
        .err()
        .unwrap()
        .to_string();
    assert_eq!(
        e,
        format!(
            "reading layer of {reference}: layer {} is {} bytes, more than the 1048576-byte limit (--max-blob-bytes)",
            img.layer_digest,
            img.layer_blob.len()
        )
    );
}

/// A fault server serving `manifest` for every manifest request and `blobs` by digest.
fn serve_docs(
    manifest: Vec<u8>,
    header_digest: Option<String>,
    blobs: Vec<Vec<u8>>,
) -> FaultServer {
    FaultServer::start(move |r| {
        let p = r.path.split('?').next().unwrap();
        if p == "/v2/" {
            return Response::new(200, "{}");
        }
        if p.contains("/manifests/") {
            let mut resp = Response::new(200, &manifest);
            if let Some(d) = &header_digest {
                resp = resp.with_header("Docker-Content-Digest", d);
            }
            return resp;
        }
        for b in &blobs {
            if p.ends_with(&sha256(b)) {
                return Response::new(200, b);
            }
        }
        Response::new(404, "")
    })
}

fn manifest_for(config: &[u8], media_type: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(config), "size": config.len()},
        "layers": []
    }))
    .unwrap()
}

#[test]
fn manifest_digest_mismatches_are_errors() {
    let config = br#"{"os":"linux","architecture":"amd64"}"#.to_vec();
    let manifest = manifest_for(&config, "application/vnd.oci.image.manifest.v1+json");
    let actual = sha256(&manifest);
    let claimed = sha256(b"something else");
    // The registry's Docker-Content-Digest disagrees with the bytes.
    let s = serve_docs(
        manifest.clone(),
        Some(claimed.clone()),
        vec![config.clone()],
    );
    let reference = format!("{}/a/b:latest", s.host());
    assert_eq!(
        pull_err(&reference, &insecure()),
        format!("verifying digest in {reference}: manifest digest mismatch: expected {claimed}, got {actual}")
    );
    // Pulled by digest, the bytes must hash to it whatever the headers say.
    let s = serve_docs(manifest.clone(), None, vec![config.clone()]);
    let reference = format!("{}/a/b@{claimed}", s.host());
    assert_eq!(
        pull_err(&reference, &insecure()),
        format!("verifying digest in {reference}: manifest digest mismatch: expected {claimed}, got {actual}")
    );
    // Sanity: the same documents, consistent, pull fine (an image with no layers).
    let s = serve_docs(manifest, Some(actual.clone()), vec![config]);
    let images = pull(&format!("{}/a/b:latest", s.host()), &insecure()).unwrap();
    assert_eq!(images[0].image.manifest_digest, actual);
    assert!(images[0].image.layers.is_empty());
}

#[test]
fn bad_documents_are_clear_errors() {
    // A config that is not JSON (digest correct).
    let config = b"this is not json".to_vec();
    let s = serve_docs(
        manifest_for(&config, "application/vnd.oci.image.manifest.v1+json"),
        None,
        vec![config],
    );
    let reference = format!("{}/a/b:latest", s.host());
    let e = pull_err(&reference, &insecure());
    assert!(
        e.starts_with(&format!(
            "reading config of {reference}: the image config is not JSON"
        )),
        "{e}"
    );
    // An unknown manifest media type.
    let config = b"{}".to_vec();
    let s = serve_docs(
        manifest_for(&config, "application/x-strange"),
        None,
        vec![config],
    );
    let reference = format!("{}/a/b:latest", s.host());
    assert_eq!(
        pull_err(&reference, &insecure()),
        format!("reading manifest of {reference}: unsupported manifest media type application/x-strange")
    );
    // A schema 1 manifest.
    let s = serve_docs(
        br#"{"schemaVersion":1,"name":"a/b","fsLayers":[]}"#.to_vec(),
        None,
        vec![],
    );
    let reference = format!("{}/a/b:latest", s.host());
    assert_eq!(
        pull_err(&reference, &insecure()),
        format!("reading manifest of {reference}: unsupported manifest schema version 1 (only 2 is supported)")
    );
    // A manifest that is not JSON.
    let s = serve_docs(b"<html>".to_vec(), None, vec![]);
    let reference = format!("{}/a/b:latest", s.host());
    let e = pull_err(&reference, &insecure());
    assert!(
        e.starts_with(&format!(
            "reading manifest of {reference}: manifest is not valid JSON"
        )),
        "{e}"
    );
}
