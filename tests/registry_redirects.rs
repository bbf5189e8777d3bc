//! Layer blobs that the registry redirects to storage elsewhere, as Docker Hub sends them
//! to a CDN and distribution to S3 with signed URLs: followed through several hops, the
//! digest still checked over what storage sent, the registry's credentials sent to no
//! other host at any hop, and a redirect loop, an endless chain or a non-HTTP target an
//! error, not a hang. The "other host" is the same loopback socket under another name
//! (`localhost` for `127.0.0.1`) and a second server on another port.

#[path = "common/pull.rs"]
mod pull;
#[path = "common/registry.rs"]
mod registry_harness;

use imgscan::source::SourceOptions;
use pull::*;
use registry_harness::*;
use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// The bearer token the registry issues to u:p.
const TOKEN: &str = "Bearer s3cr3t-registry-token";

fn creds() -> SourceOptions {
    SourceOptions {
        username: Some("u".into()),
        password: Some("p".into()),
        ..insecure()
    }
}

fn content_fixture(content: &[u8]) -> ImageFixture {
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path(), content)
}

/// A registry on 127.0.0.1 behind a bearer-token flow (user u, password p) serving
/// `img`, whose layer GETs are answered by `layer(port, request)`. Requests that reach
/// the same socket as `localhost:PORT` (another host, as far as credentials go) are
/// storage: answered by `storage(port, request)` with no auth check.
fn registry(
    img: &ImageFixture,
    layer: impl Fn(u16, &Request) -> Response + Send + Sync + 'static,
    storage: impl Fn(u16, &Request) -> Response + Send + Sync + 'static,
) -> FaultServer {
    let served = img.clone();
    let port = Arc::new(OnceLock::<u16>::new());
    let port_in = port.clone();
    let s = FaultServer::start(move |r| {
        let port = *port_in.get().unwrap();
        if r.header("host")
            .is_some_and(|h| h.starts_with("localhost:"))
        {
            return storage(port, r);
        }
        let p = r.path.split('?').next().unwrap();
        if p == "/v2/" {
            let realm = format!("http://127.0.0.1:{port}/token");
            return Response::new(401, "").with_header(
                "WWW-Authenticate",
                &format!("Bearer realm=\"{realm}\",service=\"svc\""),
            );
        }
        if p == "/token" {
            if r.header("authorization") != Some("Basic dTpw") {
                return Response::new(401, "");
            }
            let token = TOKEN.strip_prefix("Bearer ").unwrap();
            return Response::new(200, format!("{{\"token\":\"{token}\"}}"));
        }
        if r.header("authorization") != Some(TOKEN) {
            return Response::new(401, "");
        }
        if p.ends_with(&served.layer_digest) {
            return layer(port, r);
        }
        serve_fixture(&served, r)
    });
    port.set(s.port).unwrap();
    s
}

fn redirect(status: u16, to: &str) -> Response {
    Response::new(status, "").with_header("Location", to)
}

/// Pull the fixture from `s` with credentials and read its layer through the digest
/// check: the bytes, or the error of whichever step failed.
fn read_layer_of(s: &FaultServer) -> Result<Vec<u8>, String> {
    let reference = format!("{}/a/b:latest", s.host());
    let images = pull(&reference, &creds()).map_err(|e| e.to_string())?;
    let img = &images[0];
    let mut r = img
        .layers
        .open_layer(&img.image.layers[0])
        .map_err(|e| e.to_string())?;
    let mut v = Vec::new();
    r.read_to_end(&mut v).map_err(|e| e.to_string())?;
    Ok(v)
}

fn leaked(requests: &[Request]) -> Vec<String> {
    requests
        .iter()
        .filter(|r| r.header("authorization").is_some() || r.header("cookie").is_some())
        .map(|r| format!("{} {} (host {:?})", r.method, r.path, r.header("host")))
        .collect()
}

fn storage_requests(s: &FaultServer) -> Vec<Request> {
    s.requests()
        .into_iter()
        .filter(|r| {
            r.header("host")
                .is_some_and(|h| h.starts_with("localhost:"))
        })
        .collect()
}

/// Registry -> `localhost` (same socket, another host name) -> a second server -> a
/// path on that same second server: three hops, and no hop after the first carries the
/// registry's token, not even the one that stays on the storage host (where an HTTP
/// client that rebuilds each hop from the first request's headers would put it back).
#[test]
fn blob_redirected_through_three_hops_on_other_hosts_gets_no_credentials() {
    let img = content_fixture(b"layer bytes kept in blob storage");
    let blob = img.layer_blob.clone();
    let b = FaultServer::start(move |r| match r.path.split('?').next().unwrap() {
        "/bucket/start" => redirect(302, "/bucket/data?X-Amz-Signature=2"),
        "/bucket/data" => serve_range(&blob, r),
        _ => Response::new(404, ""),
    });
    let b_host = b.host();
    let a = registry(
        &img,
        |port, _| redirect(307, &format!("http://localhost:{port}/cdn/hop1?sig=1")),
        move |_, r| match r.path.split('?').next().unwrap() {
            "/cdn/hop1" => redirect(
                302,
                &format!("http://{b_host}/bucket/start?X-Amz-Signature=1"),
            ),
            _ => Response::new(404, ""),
        },
    );
    assert_eq!(read_layer_of(&a).unwrap(), img.layer_blob);

    let on_a = a.requests();
    let layer_gets: Vec<_> = on_a
        .iter()
        .filter(|r| r.path.ends_with(&img.layer_digest))
        .collect();
    assert_eq!(layer_gets.len(), 1, "{on_a:?}");
    assert_eq!(layer_gets[0].header("authorization"), Some(TOKEN));
    let cdn = storage_requests(&a);
    assert_eq!(cdn.len(), 1, "{cdn:?}");
    assert_eq!(cdn[0].path, "/cdn/hop1?sig=1");
    let on_b = b.requests();
    let paths: Vec<_> = on_b.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/bucket/start?X-Amz-Signature=1",
            "/bucket/data?X-Amz-Signature=2"
        ]
    );
    let mut off_registry = cdn;
    off_registry.extend(on_b);
    assert_eq!(
        leaked(&off_registry),
        Vec::<String>::new(),
        "registry credentials sent to storage"
    );
}

/// Storage that answers with other bytes (same length) than the digest the manifest
/// names: the redirect does not bypass the digest check.
#[test]
fn storage_sending_other_bytes_fails_the_digest_check() {
    let img = content_fixture(b"the bytes the manifest promises");
    let mut wrong = img.layer_blob.clone();
    let mid = wrong.len() / 2;
    wrong[mid] ^= 0x55;
    let actual = sha256(&wrong);
    let b = FaultServer::start(move |_| Response::new(200, &wrong));
    let b_host = b.host();
    let a = registry(
        &img,
        move |_, _| redirect(307, &format!("http://{b_host}/blob")),
        |_, _| Response::new(404, ""),
    );
    let e = read_layer_of(&a).unwrap_err();
    assert!(
        e.contains(&img.layer_digest) && e.contains(&actual),
        "names both digests: {e}"
    );
    assert_eq!(b.requests().len(), 1);
}

/// A reset while reading from storage is resumed by asking the registry again (with
/// `Range`), which redirects again; storage gets the range, never the token, and the
/// digest covers the whole blob.
#[test]
fn a_reset_at_storage_is_resumed_through_the_registry() {
    let mut big = vec![0u8; 128 << 10];
    let mut x: u64 = 0x9E3779B97F4A7C15;
    for b in big.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    let img = content_fixture(&big);
    let blob = img.layer_blob.clone();
    let cut = blob.len() / 3;
    let n = AtomicUsize::new(0);
    let a = registry(
        &img,
        |port, _| redirect(307, &format!("http://localhost:{port}/blob")),
        move |_, r| {
            if n.fetch_add(1, Ordering::SeqCst) == 0 {
                Response::new(200, &blob).with_plan(BodyPlan::ResetAfter(cut))
            } else {
                serve_range(&blob, r)
            }
        },
    );
    assert_eq!(read_layer_of(&a).unwrap(), img.layer_blob);
    let store = storage_requests(&a);
    assert_eq!(store.len(), 2, "{store:?}");
    assert_eq!(store[0].header("range"), None);
    let from: usize = store[1]
        .header("range")
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("resume without a Range: {:?}", store[1]));
    assert!(from > 0 && from <= cut, "resumed from {from}, cut at {cut}");
    let layer_gets = a
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with(&img.layer_digest))
        .count();
    assert_eq!(
        layer_gets, 2,
        "the resume asks the registry, not the old URL"
    );
    assert_eq!(leaked(&store), Vec::<String>::new());
}

/// A loop (a URL redirecting to itself), an endless chain of new URLs, and a redirect
/// to a non-HTTP scheme: each an error naming the problem, after a bounded number of
/// requests and well before the timeout.
#[test]
fn redirect_loops_endless_chains_and_other_schemes_are_errors() {
    let img = content_fixture(b"never reached");
    for (name, first, want) in [
        ("loop", "/loop", "redirect"),
        ("chain", "/chain/0", "redirect"),
        ("file", "file:///etc/passwd", "file"),
        ("ftp", "ftp://localhost/blob", "ftp"),
    ] {
        let first = first.to_string();
        let a = registry(
            &img,
            move |port, _| {
                if first.starts_with('/') {
                    redirect(302, &format!("http://localhost:{port}{first}"))
                } else {
                    redirect(302, &first)
                }
            },
            |_, r| {
                let p = r.path.split('?').next().unwrap();
                if p == "/loop" {
                    return redirect(302, "/loop");
                }
                match p
                    .strip_prefix("/chain/")
                    .and_then(|n| n.parse::<u64>().ok())
                {
                    Some(n) => redirect(301, &format!("/chain/{}", n + 1)),
                    None => Response::new(404, ""),
                }
            },
        );
        let start = Instant::now();
        let e = read_layer_of(&a).unwrap_err();
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{name}: took {:?}",
            start.elapsed()
        );
        assert!(e.to_lowercase().contains(want), "{name}: {e}");
        assert!(
            e.contains(&img.layer_digest) || e.contains("blob"),
            "{name}: {e}"
        );
        let hops = storage_requests(&a).len();
        assert!(hops <= 12, "{name}: {hops} requests to storage");
        assert_eq!(
            leaked(&storage_requests(&a)),
            Vec::<String>::new(),
            "{name}"
        );
    }
}
