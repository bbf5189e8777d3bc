//! Registry faults in the middle of a body and across a pull: connection resets, short
//! bodies, stalls and trickles while a layer streams (resumed with `Range`, the digest
//! still checked over the whole blob), a 503 storm against the pull's retry budget, and
//! the tag → digest HEAD.

#[path = "common/pull.rs"]
mod pull;
#[path = "common/registry.rs"]
mod registry_harness;

use imgscan::reference::Reference;
use imgscan::source::registry::{manifest_digest, MAX_RESUMES, RETRY_BUDGET};
use imgscan::source::SourceOptions;
use pull::*;
use registry_harness::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A one-layer fixture whose layer blob is ~256 KiB of incompressible bytes.
fn big_fixture() -> ImageFixture {
    let dir = tempfile::tempdir().unwrap();
    let mut big = vec![0u8; 256 << 10];
    let mut x: u64 = 0x2545F4914F6CDD1D;
    for b in big.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    fixture(dir.path(), &big)
}

fn blob_requests(s: &FaultServer, img: &ImageFixture) -> Vec<Request> {
    s.requests()
        .into_iter()
        .filter(|r| r.path.ends_with(&img.layer_digest))
        .collect()
}

/// Serve `img`; the n-th request for its layer (0-based) gets `layer(n, request)`.
fn serve_layer_with(
    img: &ImageFixture,
    layer: impl Fn(usize, &Request, &[u8]) -> Response + Send + Sync + 'static,
) -> FaultServer {
    let served = img.clone();
    let n = AtomicUsize::new(0);
    FaultServer::start(move |r| {
        if r.path.ends_with(&served.layer_digest) {
            return layer(n.fetch_add(1, Ordering::SeqCst), r, &served.layer_blob);
        }
        serve_fixture(&served, r)
    })
}

fn range_start(r: &Request) -> Option<usize> {
    r.header("range")?
        .strip_prefix("bytes=")?
        .strip_suffix('-')?
        .parse()
        .ok()
}

/// Pull the fixture from `s` and read its layer (through the digest check).
fn read_from(s: &FaultServer, img: &ImageFixture, o: &SourceOptions) -> std::io::Result<Vec<u8>> {
    let reference = format!("{}/a/b:latest", s.host());
    let images = pull(&reference, o).unwrap();
    assert_eq!(images[0].image.manifest_digest, img.manifest_digest);
    read_layer(&images[0], 0)
}

#[test]
fn reset_mid_blob_is_resumed_with_range() {
    let img = big_fixture();
    let half = img.layer_blob.len() / 2;
    let s = serve_layer_with(&img, move |n, r, blob| match n {
        0 => Response::new(200, blob).with_plan(BodyPlan::ResetAfter(half)),
        _ => serve_range(blob, r),
    });
    // The bytes handed on are the blob, once each, and they passed the digest check.
    assert_eq!(read_from(&s, &img, &insecure()).unwrap(), img.layer_blob);
    let b = blob_requests(&s, &img);
    assert_eq!(b.len(), 2, "{b:?}");
    assert_eq!(range_start(&b[0]), None);
    let from = range_start(&b[1]).expect("the resume asks for a Range");
    assert!(from > 0 && from <= half, "resumed from {from}");
}

#[test]
fn reset_mid_blob_when_the_server_ignores_range_rereads_without_duplicates() {
    let img = big_fixture();
    let half = img.layer_blob.len() / 2;
    let s = serve_layer_with(&img, move |n, _, blob| match n {
        0 => Response::new(200, blob).with_plan(BodyPlan::ResetAfter(half)),
        // 200 and the whole blob whatever Range says.
        _ => Response::new(200, blob),
    });
    assert_eq!(read_from(&s, &img, &insecure()).unwrap(), img.layer_blob);
    let b = blob_requests(&s, &img);
    assert_eq!(b.len(), 2, "{b:?}");
    assert!(range_start(&b[1]).is_some_and(|n| n > 0));
}

#[test]
fn short_body_is_resumed_and_never_a_silent_short_layer() {
    let img = big_fixture();
    let cut = img.layer_blob.len() / 3;
    // Once short, then whole: resumed.
    let s = serve_layer_with(&img, move |n, r, blob| match n {
        0 => Response::new(200, blob).with_plan(BodyPlan::CutAfter(cut)),
        _ => serve_range(blob, r),
    });
    assert_eq!(read_from(&s, &img, &insecure()).unwrap(), img.layer_blob);
    let b = blob_requests(&s, &img);
    assert_eq!(b.len(), 2);
    assert_eq!(range_start(&b[1]), Some(cut));
    // Always short: an error after the bounded resumes, naming the blob.
    let s = serve_layer_with(&img, move |_, r, blob| {
        let resp = serve_range(blob, r);
        let n = resp.body.len() / 2;
        resp.with_plan(BodyPlan::CutAfter(n))
    });
    let e = read_from(&s, &img, &insecure()).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("layer {}: ", img.layer_digest)),
        "{e}"
    );
    assert!(
        e.ends_with(&format!("gave up after {MAX_RESUMES} resumes")),
        "{e}"
    );
    assert_eq!(blob_requests(&s, &img).len(), 1 + MAX_RESUMES as usize);
}

#[test]
fn resume_answered_from_the_wrong_offset_is_refused() {
    let img = big_fixture();
    let half = img.layer_blob.len() / 2;
    let s = serve_layer_with(&img, move |n, _, blob| match n {
        0 => Response::new(200, blob).with_plan(BodyPlan::CutAfter(half)),
        // A 206 that starts at 0 instead of where it was asked to.
        _ => Response::new(206, blob).with_header(
            "Content-Range",
            &format!("bytes 0-{}/{}", blob.len() - 1, blob.len()),
        ),
    });
    let e = read_from(&s, &img, &insecure()).unwrap_err().to_string();
    assert!(
        e.contains(&format!(
            "asked for bytes={half}- and the registry answered Content-Range \"bytes 0-"
        )),
        "{e}"
    );
}

#[test]
fn a_stalled_blob_is_resumed_after_the_stall_timeout() {
    let img = big_fixture();
    let half = img.layer_blob.len() / 2;
    let s = serve_layer_with(&img, move |n, r, blob| match n {
        // Half, then silence far past the stall timeout (2 s for --timeout 8).
        0 => {
            Response::new(200, blob).with_plan(BodyPlan::StallAfter(half, Duration::from_secs(30)))
        }
        _ => serve_range(blob, r),
    });
    let o = SourceOptions {
        timeout: Duration::from_secs(8),
        ..insecure()
    };
    assert_eq!(read_from(&s, &img, &o).unwrap(), img.layer_blob);
    let b = blob_requests(&s, &img);
    assert_eq!(b.len(), 2);
    assert_eq!(range_start(&b[1]), Some(half));
}

#[test]
fn a_trickling_blob_is_bounded_by_the_timeout() {
    let img = big_fixture();
    // A byte a second: never silent for a whole stall timeout, never done.
    let s = serve_layer_with(&img, |_, _, blob| {
        Response::new(200, blob).with_plan(BodyPlan::Trickle(Duration::from_millis(500)))
    });
    let o = SourceOptions {
        timeout: Duration::from_secs(3),
        ..insecure()
    };
    let e = read_from(&s, &img, &o).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
    let e = e.to_string();
    assert!(
        e.starts_with(&format!(
            "layer {}: timed out after 3s (--timeout) with ",
            img.layer_digest
        )),
        "{e}"
    );
    assert!(
        e.ends_with(&format!(" of {} bytes read", img.layer_blob.len())),
        "{e}"
    );
    // Trickled, not resumed: one request.
    assert_eq!(blob_requests(&s, &img).len(), 1);
}

#[test]
fn a_503_storm_spends_the_pulls_retry_budget() {
    let img = fault_fixture_small();
    let served = img.clone();
    // Every object answers 503 three times, then itself: each request alone would succeed
    // within MAX_ATTEMPTS, but not the pull as a whole.
    let seen = std::sync::Mutex::new(std::collections::HashMap::<String, usize>::new());
    let s = FaultServer::start(move |r| {
        if r.path == "/v2/" {
            return Response::new(200, "{}");
        }
        let mut seen = seen.lock().unwrap();
        let n = seen.entry(r.path.clone()).or_default();
        *n += 1;
        if *n <= 3 {
            return Response::new(503, "").with_header("Retry-After", "0");
        }
        serve_fixture(&served, r)
    });
    let reference = format!("{}/a/b:latest", s.host());
    let images = pull(&reference, &insecure()).unwrap();
    assert_eq!(RETRY_BUDGET, 8);
    // Manifest and config took 3 retries each; the layer gets 2 before the budget is spent.
    let e = images[0]
        .layers
        .open_layer(&images[0].image.layers[0])
        .err()
        .unwrap()
        .to_string();
    assert_eq!(
        e,
        format!("reading layer of {reference}: layer {}: registry answered 503 Service Unavailable for blob; giving up: the pull's budget of {RETRY_BUDGET} retries is spent", img.layer_digest)
    );
    let asked = s.requests().iter().filter(|r| r.path != "/v2/").count();
    assert_eq!(asked, 4 + 4 + 3);
}

fn fault_fixture_small() -> ImageFixture {
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path(), b"served in a storm")
}

fn digest_of(reference: &str) -> imgscan::error::Result<String> {
    manifest_digest(&Reference::parse(reference).unwrap(), &insecure())
}

#[test]
fn tag_to_digest_is_one_head_with_a_get_fallback() {
    let img = fault_fixture_small();
    // A registry that answers HEAD with Docker-Content-Digest: one HEAD, no GET.
    let served = img.clone();
    let s = FaultServer::start(move |r| serve_fixture(&served, r));
    assert_eq!(
        digest_of(&format!("{}/a/b:latest", s.host())).unwrap(),
        img.manifest_digest
    );
    let m: Vec<_> = s
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("/manifests/"))
        .collect();
    assert_eq!(m.len(), 1, "{m:?}");
    assert_eq!(m[0].method, "HEAD");
    assert_eq!(m[0].path, "/v2/a/b/manifests/latest");
    assert!(m[0]
        .header("accept")
        .is_some_and(|a| a.contains("application/vnd.oci.image.index.v1+json")));
    // One that omits the header (or answers HEAD 405): HEAD, then a GET, hashed.
    for head_status in [200, 405] {
        let served = img.clone();
        let s = FaultServer::start(move |r| {
            if r.method == "HEAD" && r.path.contains("/manifests/") {
                return Response::new(head_status, "");
            }
            let mut resp = serve_fixture(&served, r);
            resp.headers.retain(|(k, _)| k != "Docker-Content-Digest");
            resp
        });
        assert_eq!(
            digest_of(&format!("{}/a/b:v1", s.host())).unwrap(),
            img.manifest_digest
        );
        let m: Vec<_> = s
            .requests()
            .into_iter()
            .filter(|r| r.path.contains("/manifests/"))
            .map(|r| r.method)
            .collect();
        assert_eq!(m, ["HEAD", "GET"], "HEAD answered {head_status}");
    }
    // The real registry: HEAD answers the digest of what was pushed.
    let reg = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let pushed = fixture(dir.path(), b"pushed for HEAD");
    reg.push(dir.path(), "v1", "head/app:1", false);
    assert_eq!(
        digest_of(&format!("{}/head/app:1", reg.host)).unwrap(),
        pushed.manifest_digest
    );
    assert!(digest_of(&format!("{}/head/app:missing", reg.host))
        .unwrap_err()
        .to_string()
        .ends_with("manifest unknown"));
}

fn index_of(entries: Vec<serde_json::Value>) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": entries
    }))
    .unwrap()
}

fn index_entry(index: &[u8]) -> serde_json::Value {
    serde_json::json!({"mediaType": "application/vnd.oci.image.index.v1+json",
        "digest": sha256(index), "size": index.len()})
}

fn image_entry(img: &ImageFixture) -> serde_json::Value {
    serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": img.manifest_digest, "size": img.manifest.len(),
        "platform": {"os": img.platform.0, "architecture": img.platform.1}})
}

/// A registry serving `top` for every tag and each document of `docs` by its digest.
fn serve_index(top: Vec<u8>, docs: Vec<Vec<u8>>) -> FaultServer {
    FaultServer::start(move |r| {
        let p = r.path.split('?').next().unwrap();
        if p == "/v2/" {
            return Response::new(200, "{}");
        }
        if p.ends_with("/manifests/latest") {
            return Response::new(200, &top);
        }
        match docs.iter().find(|d| p.ends_with(&sha256(d))) {
            Some(d) => Response::new(200, d),
            None => Response::new(404, ""),
        }
    })
}

#[test]
fn nested_indexes_are_followed_to_the_right_platform_and_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let amd = write_image(dir.path(), &[("bin/app", b"amd")], "linux", "amd64");
    let arm = write_image(dir.path(), &[("bin/app", b"arm")], "linux", "arm64");
    let docs = |i: &ImageFixture| vec![i.manifest.clone(), i.config.clone(), i.layer_blob.clone()];
    // top → [inner index → [arm64, amd64]]
    let inner = index_of(vec![image_entry(&arm), image_entry(&amd)]);
    let top = index_of(vec![index_entry(&inner)]);
    let mut all = docs(&amd);
    all.extend(docs(&arm));
    all.push(inner.clone());
    let s = serve_index(top.clone(), all.clone());
    let reference = format!("{}/a/b:latest", s.host());
    for want in [&amd, &arm] {
        let mut o = insecure();
        o.platform.architecture = want.platform.1.clone();
        let images = pull(&reference, &o).unwrap();
        assert_eq!(images.len(), 1);
        assert_eq!(images[0].image.manifest_digest, want.manifest_digest);
        assert_eq!(
            images[0].image.platform.to_string(),
            format!("linux/{}", want.platform.1)
        );
    }
    let o = SourceOptions {
        all_platforms: true,
        ..insecure()
    };
    let got: Vec<String> = pull(&reference, &o)
        .unwrap()
        .iter()
        .map(|i| i.image.manifest_digest.clone())
        .collect();
    assert_eq!(
        got,
        [arm.manifest_digest.clone(), amd.manifest_digest.clone()]
    );
    // A chain of indexes deeper than the limit is refused, naming the entry.
    let mut docs_deep = all;
    let mut level = inner;
    for _ in 0..imgscan::source::registry::MAX_INDEX_DEPTH {
        let up = index_of(vec![index_entry(&level)]);
        docs_deep.push(level);
        level = up;
    }
    let s = serve_index(level, docs_deep);
    let reference = format!("{}/a/b:latest", s.host());
    let e = pull_err(&reference, &insecure());
    assert!(
        e.starts_with(&format!(
            "reading manifest of {reference}: index entry sha256:"
        )),
        "{e}"
    );
    assert!(
        e.ends_with("nests indexes beyond the limit (4 levels, 16 nested indexes)"),
        "{e}"
    );
}

/// A registry whose token endpoint takes only `grant_type=refresh_token` with
/// `refresh` and hands out `acc-1`; everything else needs `Bearer acc-1`.
fn refresh_token_registry(img: &ImageFixture, refresh: &'static str) -> FaultServer {
    let served = img.clone();
    let port = std::sync::Arc::new(std::sync::OnceLock::<u16>::new());
    let port_in = port.clone();
    let s = FaultServer::start(move |r| {
        let p = r.path.split('?').next().unwrap();
        if p == "/token" {
            let body = String::from_utf8_lossy(&r.body);
            let ok = r.method == "POST"
                && body.contains("grant_type=refresh_token")
                && body.contains(&format!("refresh_token={refresh}"))
                && body.contains("service=svc")
                && body.contains("scope=repository%3Aa%2Fb%3Apull");
            return if ok {
                Response::new(200, r#"{"access_token":"acc-1","expires_in":300}"#)
            } else {
                Response::new(401, "")
            };
        }
        if r.header("authorization") != Some("Bearer acc-1") {
            let realm = format!("http://127.0.0.1:{}/token", port_in.get().unwrap());
            return Response::new(401, "").with_header(
                "WWW-Authenticate",
                &format!("Bearer realm=\"{realm}\",service=\"svc\""),
            );
        }
        serve_fixture(&served, r)
    });
    port.set(s.port).unwrap();
    s
}

#[test]
fn identity_tokens_are_exchanged_as_oauth2_refresh_tokens() {
    let img = fault_fixture_small();
    let dir = tempfile::tempdir().unwrap();
    // A credential helper answering `<token>`: its secret is a refresh token.
    let helper = dir.path().join("docker-credential-fake");
    std::fs::write(
        &helper,
        "#!/bin/sh\ncat >/dev/null\necho '{\"Username\":\"<token>\",\"Secret\":\"refresh-helper\"}'\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    for (refresh, config) in [
        ("refresh-helper", r#"{"credHelpers":{"HOST":"fake"}}"#),
        (
            "refresh-config",
            r#"{"auths":{"HOST":{"identitytoken":"refresh-config"}}}"#,
        ),
    ] {
        let s = refresh_token_registry(&img, refresh);
        let cfg = dir.path().join("config.json");
        std::fs::write(&cfg, config.replace("HOST", &s.host())).unwrap();
        let o = SourceOptions {
            docker_config: Some(cfg),
            credential_helper_path: Some(dir.path().as_os_str().to_owned()),
            ..insecure()
        };
        let reference = format!("{}/a/b:latest", s.host());
        let images = pull(&reference, &o).unwrap();
        assert_eq!(images[0].image.manifest_digest, img.manifest_digest);
        let posts: Vec<_> = s
            .requests()
            .into_iter()
            .filter(|r| r.path == "/token")
            .collect();
        assert_eq!(posts.len(), 1, "{refresh}: {posts:?}");
        assert_eq!(posts[0].method, "POST");
        // The refresh token went to the token endpoint only, never as a header.
        assert!(s.requests().iter().all(|r| r
            .header("authorization")
            .is_none_or(|a| a == "Bearer acc-1")));
    }
}
