//! Registry pulls against a real `docker-registry` (plain HTTP, TLS with a test CA,
//! htpasswd, token auth, credential helpers, multi-arch, digests, tampered blobs).
//! Faults (a misbehaving server) are in `registry_faults.rs`.

#[path = "common/pull.rs"]
mod pull;
#[path = "common/registry.rs"]
mod registry_harness;

use imgscan::image::Platform;
use imgscan::source::SourceOptions;
use pull::*;
use registry_harness::*;
use std::time::{Duration, Instant};

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
