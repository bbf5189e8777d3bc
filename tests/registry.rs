//! Registry pulls against a real `docker-registry` (plain HTTP, TLS with a test CA,
//! htpasswd, token auth) and against a misbehaving server for faults.

#[path = "common/registry.rs"]
mod registry_harness;

use imgscan::image::Platform;
use imgscan::reference::{Reference, Target};
use imgscan::source::{self, OpenedImage, SourceOptions};
use registry_harness::*;
use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

fn opts() -> SourceOptions {
    SourceOptions {
        timeout: Duration::from_secs(60),
        ..SourceOptions::default()
    }
}

fn insecure() -> SourceOptions {
    SourceOptions {
        insecure: true,
        ..opts()
    }
}

fn pull(reference: &str, o: &SourceOptions) -> imgscan::error::Result<Vec<OpenedImage>> {
    let r = Reference::parse(reference).unwrap();
    source::open(&Target::Registry(r), o)
}

fn pull_err(reference: &str, o: &SourceOptions) -> String {
    pull(reference, o).unwrap_err().to_string()
}

fn read_layer(img: &OpenedImage, i: usize) -> std::io::Result<Vec<u8>> {
    let mut r = img.layers.open_layer(&img.image.layers[i]).unwrap();
    let mut v = Vec::new();
    r.read_to_end(&mut v).map(|_| v)
}

/// A one-layer image in a fresh OCI layout.
fn fixture(dir: &Path, content: &[u8]) -> ImageFixture {
    let img = write_image(dir, &[("bin/app", content)], "linux", "amd64");
    write_index(dir, "v1", &[&img]);
    img
}

/// Everything the pull must report about the fixture image.
fn assert_is_fixture(o: &OpenedImage, img: &ImageFixture, reference: &str) {
    let i = &o.image;
    assert_eq!(i.reference, reference);
    assert_eq!(i.manifest_digest, img.manifest_digest);
    assert_eq!(i.config_digest, img.config_digest);
    assert_eq!(
        i.platform.to_string(),
        format!("{}/{}", img.platform.0, img.platform.1)
    );
    assert_eq!(i.config.entrypoint, vec!["/bin/app"]);
    assert_eq!(
        i.config.cmd,
        vec!["--serve".to_string(), img.platform.1.clone()]
    );
    assert_eq!(i.config.env_var("ARCH"), Some(img.platform.1.as_str()));
    assert_eq!(i.config.user, "1000:1000");
    assert_eq!(i.config.working_dir, "/srv");
    assert_eq!(i.config.exposed_ports, vec!["53/udp", "8080/tcp"]);
    assert_eq!(
        i.config
            .labels
            .get("org.opencontainers.image.title")
            .map(String::as_str),
        Some("imgscan-fixture")
    );
    assert_eq!(i.config.history.len(), 2);
    assert!(i.config.history[0].created_by.contains("ADD file:app"));
    assert!(!i.config.history[0].empty_layer);
    assert!(i.config.history[1].empty_layer);
    assert_eq!(i.config.history[1].comment, "no layer");
    assert_eq!(i.config.diff_ids.len(), 1);
    assert_eq!(i.layers.len(), 1);
    assert_eq!(i.layers[0].index, 0);
    assert_eq!(i.layers[0].digest, img.layer_digest);
    assert_eq!(
        i.layers[0].media_type,
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    assert_eq!(i.layers[0].size, img.layer_blob.len() as u64);
    assert_eq!(read_layer(o, 0).unwrap(), img.layer_blob);
}

#[test]
fn anonymous_pull_over_plain_http_with_insecure() {
    let reg = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let img = fixture(dir.path(), b"#!/bin/sh\necho hello\n");
    reg.push(dir.path(), "v1", "team/app:1.0", false);
    let reference = format!("{}/team/app:1.0", reg.host);
    let images = pull(&reference, &insecure()).unwrap();
    assert_eq!(images.len(), 1);
    assert_is_fixture(&images[0], &img, &reference);
}

#[test]
fn plain_http_is_refused_without_insecure() {
    let reg = Registry::plain();
    let e = pull_err(&format!("{}/team/app:1.0", reg.host), &opts());
    assert!(
        e.starts_with(&format!(
            "pulling {}/team/app:1.0: TLS connection to {} failed",
            reg.host, reg.host
        )),
        "{e}"
    );
    assert!(
        e.contains("use --insecure") && e.contains("--ca-cert"),
        "{e}"
    );
}

#[test]
fn missing_tag_is_manifest_unknown() {
    let reg = Registry::plain();
    let e = pull_err(&format!("{}/team/none:1.0", reg.host), &insecure());
    assert_eq!(
        e,
        format!("pulling {}/team/none:1.0: manifest unknown", reg.host)
    );
}

#[test]
fn tls_registry_trusted_through_ca_cert() {
    let reg = Registry::start(true, AuthMode::None);
    let dir = tempfile::tempdir().unwrap();
    let img = fixture(dir.path(), b"tls payload");
    reg.push(dir.path(), "v1", "sec/app:2", false);
    let reference = format!("{}/sec/app:2", reg.host);
    // Unknown CA: refused, with the flags that help.
    let e = pull_err(&reference, &opts());
    assert!(
        e.contains("TLS connection") && e.contains("--ca-cert"),
        "{e}"
    );
    // The CA given: verified TLS, no --insecure.
    let o = SourceOptions {
        ca_certs: vec![reg.tls.as_ref().unwrap().ca_pem.clone()],
        ..opts()
    };
    let images = pull(&reference, &o).unwrap();
    assert_is_fixture(&images[0], &img, &reference);
    // --insecure also reaches it (unverified TLS, not plain HTTP).
    let images = pull(&reference, &insecure()).unwrap();
    assert_eq!(images[0].image.manifest_digest, img.manifest_digest);
}

#[test]
fn basic_auth_good_bad_and_missing_credentials() {
    let reg = Registry::start(
        false,
        AuthMode::Htpasswd {
            user: "alice".into(),
            password: "s3cret".into(),
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let img = fixture(dir.path(), b"private bits");
    reg.push(dir.path(), "v1", "priv/app:1", false);
    let reference = format!("{}/priv/app:1", reg.host);
    let empty_cfg = tempfile::tempdir().unwrap();
    let base = SourceOptions {
        docker_config: Some(empty_cfg.path().join("config.json")),
        ..insecure()
    };
    std::fs::write(empty_cfg.path().join("config.json"), "{}").unwrap();

    let good = SourceOptions {
        username: Some("alice".into()),
        password: Some("s3cret".into()),
        ..base.clone()
    };
    assert_is_fixture(&pull(&reference, &good).unwrap()[0], &img, &reference);

    let bad = SourceOptions {
        username: Some("alice".into()),
        password: Some("wrong".into()),
        ..base.clone()
    };
    assert_eq!(
        pull_err(&reference, &bad),
        format!("authenticating to {reference}: authentication failed: the registry rejected the credentials (use --username/--password-stdin or docker login)")
    );
    assert_eq!(
        pull_err(&reference, &base),
        format!("authenticating to {reference}: authentication required (use --username/--password-stdin or docker login)")
    );
}

#[test]
fn credentials_from_docker_config_auths_and_cred_helper() {
    use base64::Engine;
    let reg = Registry::start(
        false,
        AuthMode::Htpasswd {
            user: "bob".into(),
            password: "pw-from-config".into(),
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let img = fixture(dir.path(), b"config creds");
    reg.push(dir.path(), "v1", "cfg/app:1", false);
    let reference = format!("{}/cfg/app:1", reg.host);
    let cfg = tempfile::tempdir().unwrap();
    let cfg_file = cfg.path().join("config.json");

    // `auths` with base64 user:password; another registry's entry is not used.
    let auth = base64::engine::general_purpose::STANDARD.encode("bob:pw-from-config");
    std::fs::write(
        &cfg_file,
        serde_json::json!({"auths": {
            reg.host.clone(): {"auth": auth},
            "127.0.0.1:1": {"auth": base64::engine::general_purpose::STANDARD.encode("x:y")}
        }})
        .to_string(),
    )
    .unwrap();
    let o = SourceOptions {
        docker_config: Some(cfg_file.clone()),
        ..insecure()
    };
    assert_is_fixture(&pull(&reference, &o).unwrap()[0], &img, &reference);

    // `credHelpers` → docker-credential-test, found through the helper PATH.
    let bin = tempfile::tempdir().unwrap();
    let seen = bin.path().join("server-url");
    let script = format!(
        "#!/bin/sh\n[ \"$1\" = get ] || exit 3\ncat > '{}'\nprintf '{{\"ServerURL\":\"x\",\"Username\":\"bob\",\"Secret\":\"pw-from-config\"}}'\n",
        seen.display()
    );
    let helper = bin.path().join("docker-credential-test");
    std::fs::write(&helper, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        &cfg_file,
        serde_json::json!({"credHelpers": {reg.host.clone(): "test"}}).to_string(),
    )
    .unwrap();
    let o = SourceOptions {
        docker_config: Some(cfg_file.clone()),
        credential_helper_path: Some(format!("{}:/usr/bin:/bin", bin.path().display()).into()),
        ..insecure()
    };
    assert_is_fixture(&pull(&reference, &o).unwrap()[0], &img, &reference);
    assert_eq!(std::fs::read_to_string(&seen).unwrap(), reg.host);

    // `credsStore` names the same helper for every registry.
    std::fs::write(&cfg_file, r#"{"credsStore": "test"}"#).unwrap();
    assert_is_fixture(&pull(&reference, &o).unwrap()[0], &img, &reference);

    // A helper that never answers is killed at the time budget.
    let slow = bin.path().join("docker-credential-slow");
    std::fs::write(
        &slow,
        "#!/bin/sh
exec sleep 30\n",
    )
    .unwrap();
    std::fs::set_permissions(&slow, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(&cfg_file, r#"{"credsStore": "slow"}"#).unwrap();
    let quick = SourceOptions {
        timeout: Duration::from_secs(2),
        ..o.clone()
    };
    let start = Instant::now();
    assert_eq!(
        pull_err(&reference, &quick),
        format!("authenticating to {reference}: credential helper docker-credential-slow did not answer within 2s")
    );
    assert!(start.elapsed() < Duration::from_secs(10));

    // `credsStore` with a helper that is not installed: a clear error.
    std::fs::write(&cfg_file, r#"{"credsStore": "absent"}"#).unwrap();
    let e = pull_err(&reference, &o);
    assert!(
        e.starts_with(&format!(
            "authenticating to {reference}: running credential helper docker-credential-absent"
        )),
        "{e}"
    );
}

#[test]
fn token_auth_flow_anonymous_and_credentialed() {
    let reg = Registry::start(
        false,
        AuthMode::Token {
            user: "pusher".into(),
            password: "tokpw".into(),
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let img = fixture(dir.path(), b"token protected");
    reg.push(dir.path(), "v1", "tok/app:1", false);
    let reference = format!("{}/tok/app:1", reg.host);
    let issuer = reg.issuer.as_ref().unwrap();
    let empty = tempfile::tempdir().unwrap();
    std::fs::write(empty.path().join("c.json"), "{}").unwrap();
    let base = SourceOptions {
        docker_config: Some(empty.path().join("c.json")),
        ..insecure()
    };
    let before = issuer.requests.lock().unwrap().len();
    // Anonymous pull: the Docker Hub flow (401 challenge → anonymous pull token).
    assert_is_fixture(&pull(&reference, &base).unwrap()[0], &img, &reference);
    {
        let reqs = issuer.requests.lock().unwrap();
        let anon: Vec<_> = reqs[before..].iter().collect();
        assert_eq!(anon.len(), 1, "{anon:?}");
        assert!(
            anon[0].0.contains("scope=repository%3Atok%2Fapp%3Apull")
                || anon[0].0.contains("scope=repository:tok/app:pull"),
            "{anon:?}"
        );
        assert!(anon[0].0.contains("service=imgscan-registry"), "{anon:?}");
        assert_eq!(anon[0].1, None);
    }
    // With credentials: sent to the token service, pull works.
    let good = SourceOptions {
        username: Some("pusher".into()),
        password: Some("tokpw".into()),
        ..base.clone()
    };
    assert_is_fixture(&pull(&reference, &good).unwrap()[0], &img, &reference);
    assert!(issuer
        .requests
        .lock()
        .unwrap()
        .last()
        .unwrap()
        .1
        .as_deref()
        .is_some_and(|a| a.starts_with("Basic ")));
    // Wrong credentials: the token service says no.
    let bad = SourceOptions {
        username: Some("pusher".into()),
        password: Some("nope".into()),
        ..base
    };
    let e = pull_err(&reference, &bad);
    assert!(
        e.starts_with(&format!("authenticating to {reference}: authentication failed: the token service rejected the credentials of pusher from --username")),
        "{e}"
    );
}

#[test]
fn multi_arch_index_platform_choice_and_all_platforms() {
    let reg = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let amd = write_image(
        dir.path(),
        &[("bin/app", b"amd64 binary")],
        "linux",
        "amd64",
    );
    let arm = write_image(
        dir.path(),
        &[("bin/app", b"arm64 binary")],
        "linux",
        "arm64",
    );
    write_index(dir.path(), "multi", &[&amd, &arm]);
    // Add an attestation manifest (unknown/unknown) to the nested index.
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("index.json")).unwrap()).unwrap();
    let nested_digest = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let nested_path = dir
        .path()
        .join("blobs/sha256")
        .join(nested_digest.strip_prefix("sha256:").unwrap());
    let mut nested: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&nested_path).unwrap()).unwrap();
    let (_att, att_desc) = attestation_descriptor(dir.path());
    nested["manifests"].as_array_mut().unwrap().push(att_desc);
    let bytes = serde_json::to_vec(&nested).unwrap();
    let new_digest = sha256(&bytes);
    std::fs::write(
        dir.path()
            .join("blobs/sha256")
            .join(new_digest.strip_prefix("sha256:").unwrap()),
        &bytes,
    )
    .unwrap();
    let mut index = index;
    index["manifests"][0]["digest"] = new_digest.clone().into();
    index["manifests"][0]["size"] = bytes.len().into();
    std::fs::write(
        dir.path().join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
    reg.push(dir.path(), "multi", "multi/app:1", true);
    let reference = format!("{}/multi/app:1", reg.host);

    // Default linux/amd64.
    let images = pull(&reference, &insecure()).unwrap();
    assert_eq!(images.len(), 1);
    assert_is_fixture(&images[0], &amd, &reference);
    // --platform linux/arm64.
    let o = SourceOptions {
        platform: "linux/arm64".parse::<Platform>().unwrap(),
        ..insecure()
    };
    let images = pull(&reference, &o).unwrap();
    assert_is_fixture(&images[0], &arm, &reference);
    // --all-platforms: both, in index order, attestation skipped.
    let o = SourceOptions {
        all_platforms: true,
        ..insecure()
    };
    let images = pull(&reference, &o).unwrap();
    assert_eq!(images.len(), 2);
    assert_is_fixture(&images[0], &amd, &reference);
    assert_is_fixture(&images[1], &arm, &reference);
    // An absent platform names what is there.
    let o = SourceOptions {
        platform: "linux/s390x".parse::<Platform>().unwrap(),
        ..insecure()
    };
    assert_eq!(
        pull_err(&reference, &o),
        format!("reading manifest of {reference}: no image for platform linux/s390x in the index (has: linux/amd64, linux/arm64; use --platform or --all-platforms)")
    );
    // Pull by the index digest picks the same image.
    let by_digest = format!("{}/multi/app@{new_digest}", reg.host);
    let images = pull(&by_digest, &insecure()).unwrap();
    assert_eq!(images[0].image.manifest_digest, amd.manifest_digest);
}

#[test]
fn digest_references() {
    let reg = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let img = fixture(dir.path(), b"by digest");
    reg.push(dir.path(), "v1", "dig/app:1", false);
    let reference = format!("{}/dig/app@{}", reg.host, img.manifest_digest);
    let images = pull(&reference, &insecure()).unwrap();
    assert_is_fixture(&images[0], &img, &reference);
    // tag + digest: the digest decides.
    let both = format!("{}/dig/app:1@{}", reg.host, img.manifest_digest);
    assert_eq!(
        pull(&both, &insecure()).unwrap()[0].image.manifest_digest,
        img.manifest_digest
    );
    // A digest the registry does not have.
    let other = sha256(b"nothing");
    let missing = format!("{}/dig/app@{other}", reg.host);
    assert_eq!(
        pull_err(&missing, &insecure()),
        format!("pulling {missing}: manifest unknown")
    );
}

#[test]
fn tampered_layer_blob_names_expected_and_actual_digest() {
    let reg = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let img = fixture(dir.path(), b"original content of the layer");
    reg.push(dir.path(), "v1", "bad/app:1", false);
    let path = reg.blob_path(&img.layer_digest);
    let mut bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes, img.layer_blob);
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let images = pull(&format!("{}/bad/app:1", reg.host), &insecure()).unwrap();
    let e = read_layer(&images[0], 0).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "digest mismatch: expected {}, got {} ({} bytes)",
            img.layer_digest,
            sha256(&bytes),
            bytes.len()
        )
    );
}

#[test]
fn tampered_config_blob_fails_open() {
    let reg = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let img = fixture(dir.path(), b"cfg");
    reg.push(dir.path(), "v1", "badcfg/app:1", false);
    let path = reg.blob_path(&img.config_digest);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[0] = b' ';
    std::fs::write(&path, &bytes).unwrap();
    let reference = format!("{}/badcfg/app:1", reg.host);
    assert_eq!(
        pull_err(&reference, &insecure()),
        format!(
            "verifying digest in {reference}: config digest mismatch: expected {}, got {}",
            img.config_digest,
            sha256(&bytes)
        )
    );
}

// ---------------------------------------------------------------- faults

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

#[test]
fn fault_429_then_200_honours_retry_after() {
    let img = fault_fixture();
    let served = img.clone();
    let count = std::sync::atomic::AtomicUsize::new(0);
    let s = FaultServer::start(move |r| {
        if r.path.contains("/manifests/")
            && count.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0
        {
            return Response::new(429, r#"{"errors":[{"code":"TOOMANYREQUESTS"}]}"#)
                .with_header("Retry-After", "1");
        }
        serve_fixture(&served, r)
    });
    let reference = format!("{}/a/b:latest", s.host());
    let images = pull(&reference, &insecure()).unwrap();
    assert_is_fixture(&images[0], &img, &reference);
    let m = manifest_requests(&s);
    assert_eq!(m.len(), 2);
    let gap = m[1].at - m[0].at;
    assert!(
        gap >= Duration::from_millis(950),
        "retried after {gap:?}, Retry-After was 1s"
    );
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
