//! Registry pulls (OCI distribution API v2).
//!
//! Owns: connecting to a registry (TLS verified; plain HTTP or an unverified certificate
//! only with `insecure`), authentication (anonymous or credentialed bearer-token flow
//! through `oci-client`, basic auth), choosing the platform(s) of an index, reading the
//! manifest and config bounded by `limits.json_bytes` and checked against their digests,
//! and streaming layer blobs through [`DigestReader`].
//!
//! `oci-client` performs the `WWW-Authenticate` challenge and token exchange; requests for
//! manifests and blobs are made here with the same TLS settings so that bodies are read
//! bounded, `Retry-After` is honoured on 429/5xx, and errors name the step and cause.
//! Credentials are attached only to requests addressed to the registry itself; reqwest
//! drops `Authorization` when a redirect leaves the registry's scheme/host/port (tested in
//! `tests/registry.rs`).
//!
//! Every network operation of one `open` (including later layer reads) shares one
//! deadline, `opts.timeout` from the start of `open`.

mod auth;

pub use auth::Credentials;

use super::{LayerSource, OpenedImage, SourceOptions};
use crate::digest::{sha256_digest, DigestReader};
use crate::error::{Error, Result, Step};
use crate::image::{Image, ImageConfig, LayerInfo, Platform};
use crate::reference::{valid_digest, Reference};
use futures_util::StreamExt;
use serde::Deserialize;
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Attempts per request when the registry answers 429 or 5xx.
pub const MAX_ATTEMPTS: u32 = 4;
/// First backoff when no `Retry-After` is given; doubles each attempt.
const BASE_BACKOFF: Duration = Duration::from_millis(250);
/// Longest `Retry-After` honoured; longer waits fail instead of stalling a scan.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

const MT_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const MT_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MT_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const MT_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

/// A failure inside this module: the step and the cause; the target is added at the edge.
type Fail = (Step, String);
type R<T> = std::result::Result<T, Fail>;

/// Pull the manifest(s) and config(s) of `reference`: one image, or one per platform
/// with `opts.all_platforms`. Layers are streamed later through
/// [`OpenedImage::layers`]. Must not be called from inside an async task of another
/// tokio runtime's worker thread only if that runtime is current-thread; it is safe
/// from plain threads and from multi-threaded runtimes.
pub fn open(reference: &Reference, opts: &SourceOptions) -> Result<Vec<OpenedImage>> {
    let target = reference.to_string();
    let wrap = |(step, cause): Fail| Error::new(step, target.clone(), cause);
    let rt = Arc::new(Rt::new().map_err(|e| wrap((Step::Pulling, e)))?);
    let deadline = Instant::now() + opts.timeout;
    // Build and block from a plain thread so that a caller inside a runtime is not hurt.
    let (session, images) = std::thread::scope(|s| {
        s.spawn(|| {
            rt.block_on(async {
                let session = Session::connect(reference, opts, deadline).await?;
                let images = session.resolve(reference, opts).await?;
                Ok::<_, Fail>((session, images))
            })
        })
        .join()
        .unwrap_or_else(|_| Err((Step::Pulling, "internal error: pull thread panicked".into())))
    })
    .map_err(wrap)?;
    let source: Arc<dyn LayerSource> = Arc::new(RegistryLayers {
        session: Arc::new(session),
        rt,
        target,
        blob_limit: opts.limits.blob_bytes,
    });
    Ok(images
        .into_iter()
        .map(|image| OpenedImage {
            image,
            layers: source.clone(),
        })
        .collect())
}

/// A tokio runtime owned by a source; shut down without blocking when dropped, so
/// dropping it inside another runtime is safe.
struct Rt(Option<tokio::runtime::Runtime>);

impl Rt {
    fn new() -> std::result::Result<Rt, String> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("imgscan-registry")
            .enable_all()
            .build()
            .map(|r| Rt(Some(r)))
            .map_err(|e| format!("starting the network runtime: {e}"))
    }
    fn handle(&self) -> tokio::runtime::Handle {
        self.0
            .as_ref()
            .expect("runtime present until drop")
            .handle()
            .clone()
    }
    fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.0
            .as_ref()
            .expect("runtime present until drop")
            .block_on(f)
    }
}

impl Drop for Rt {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// One connection to one registry repository: base URL, HTTP client, auth header.
struct Session {
    http: reqwest::Client,
    /// `https://host:port` or `http://host:port`.
    base: String,
    repository: String,
    /// `Authorization` value for requests to `base` (never to other hosts); replaced
    /// when a bearer token expires during a long pull.
    authorization: std::sync::Mutex<Option<String>>,
    authorizer: Authorizer,
    /// Whether credentials were supplied (changes the wording of a 401).
    credentialed: bool,
    deadline: Instant,
    timeout: Duration,
    json_limit: u64,
}

/// Is this reqwest error (or anything under it) about TLS?
fn tls_related(chain: &str) -> bool {
    let c = chain.to_ascii_lowercase();
    [
        "certificate",
        "tls",
        "handshake",
        "corrupt message",
        "invalidcontenttype",
        "unknownissuer",
        "ssl",
    ]
    .iter()
    .any(|k| c.contains(k))
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut src = e.source();
    while let Some(s) = src {
        let t = s.to_string();
        if !parts.iter().any(|p| p.contains(&t)) {
            parts.push(t);
        }
        src = s.source();
    }
    parts.join(": ")
}

/// Describe a transport error for a person, with the flag that may help.
fn describe_transport(e: &reqwest::Error, host: &str, https: bool) -> String {
    let chain = error_chain(e);
    if https && tls_related(&chain) {
        format!("TLS connection to {host} failed ({chain}); use --insecure for a plain-HTTP or self-signed registry, or --ca-cert to trust its CA")
    } else if e.is_timeout() {
        format!("request to {host} timed out ({chain})")
    } else if e.is_connect() {
        format!("cannot connect to {host} ({chain})")
    } else {
        format!("request to {host} failed ({chain})")
    }
}

fn load_certs(
    opts: &SourceOptions,
) -> R<(
    Vec<reqwest::Certificate>,
    Vec<oci_client::client::Certificate>,
)> {
    let mut rq = Vec::new();
    let mut oci = Vec::new();
    for path in &opts.ca_certs {
        let pem = std::fs::read(path).map_err(|e| {
            (
                Step::Pulling,
                format!("reading CA certificate {}: {e}", path.display()),
            )
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
            (
                Step::Pulling,
                format!("CA certificate {} is not PEM: {e}", path.display()),
            )
        })?;
        if certs.is_empty() {
            return Err((
                Step::Pulling,
                format!("no certificate in {}", path.display()),
            ));
        }
        rq.extend(certs);
        oci.push(oci_client::client::Certificate {
            encoding: oci_client::client::CertificateEncoding::Pem,
            data: pem,
        });
    }
    Ok((rq, oci))
}

fn timed_out(timeout: Duration) -> Fail {
    (
        Step::Pulling,
        format!("timed out after {}s (--timeout)", timeout.as_secs_f64()),
    )
}

impl Session {
    async fn connect(reference: &Reference, opts: &SourceOptions, deadline: Instant) -> R<Session> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let oci_ref = match &reference.digest {
            Some(d) => oci_client::Reference::with_digest(
                reference.registry.clone(),
                reference.repository.clone(),
                d.clone(),
            ),
            None => oci_client::Reference::with_tag(
                reference.registry.clone(),
                reference.repository.clone(),
                reference.tag.clone().unwrap_or_else(|| "latest".into()),
            ),
        };
        let host = oci_ref.resolve_registry().to_string();
        let (rq_certs, oci_certs) = load_certs(opts)?;
        let http = reqwest::Client::builder()
            .danger_accept_invalid_certs(opts.insecure)
            .tls_certs_merge(rq_certs)
            .connect_timeout(opts.timeout)
            .read_timeout(opts.timeout)
            .user_agent(concat!("imgscan/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| (Step::Pulling, format!("building the HTTP client: {e}")))?;

        // TLS first; plain HTTP only when allowed and TLS cannot be spoken at all.
        let mut https = true;
        if opts.insecure {
            let probe = http.get(format!("https://{host}/v2/")).send();
            match tokio::time::timeout_at(deadline, probe).await {
                Err(_) => return Err(timed_out(opts.timeout)),
                Ok(Ok(_)) => {}
                Ok(Err(_)) => https = false,
            }
        }
        let scheme = if https { "https" } else { "http" };
        let base = format!("{scheme}://{host}");

        let creds =
            auth::resolve(&reference.registry, opts).map_err(|e| (Step::Authenticating, e))?;
        let registry_auth = match &creds {
            Some(c) => {
                oci_client::secrets::RegistryAuth::Basic(c.username.clone(), c.password.clone())
            }
            None => oci_client::secrets::RegistryAuth::Anonymous,
        };
        let client = oci_client::Client::try_from(oci_client::client::ClientConfig {
            protocol: if https {
                oci_client::client::ClientProtocol::Https
            } else {
                oci_client::client::ClientProtocol::Http
            },
            accept_invalid_certificates: opts.insecure,
            extra_root_certificates: oci_certs,
            read_timeout: Some(opts.timeout),
            connect_timeout: Some(opts.timeout),
            ..Default::default()
        })
        .map_err(|e| (Step::Pulling, format!("building the registry client: {e}")))?;
        let authorizer = Authorizer {
            client,
            oci_ref,
            registry_auth,
            creds,
            host,
            https,
            deadline,
            timeout: opts.timeout,
        };
        let authorization = authorizer.authorize().await?;
        Ok(Session {
            http,
            base,
            repository: reference.repository.clone(),
            authorization: std::sync::Mutex::new(authorization),
            credentialed: authorizer.creds.is_some(),
            authorizer,
            deadline,
            timeout: opts.timeout,
            json_limit: opts.limits.json_bytes,
        })
    }

    fn host(&self) -> &str {
        self.base
            .split_once("://")
            .map(|(_, h)| h)
            .unwrap_or(&self.base)
    }

    /// GET `path` (below `/v2/REPO/`) from the registry, retrying 429 and 5xx with
    /// backoff (honouring `Retry-After`) up to [`MAX_ATTEMPTS`], all before the deadline.
    /// `what` names the object for 404s (`manifest`, `blob`).
    async fn get(
        &self,
        path: &str,
        accept: Option<&str>,
        what: &str,
        step: Step,
    ) -> R<reqwest::Response> {
        let url = format!("{}/v2/{}/{path}", self.base, self.repository);
        let https = self.base.starts_with("https:");
        let mut attempt = 0;
        let mut refreshed = false;
        loop {
            attempt += 1;
            let mut req = self.http.get(&url);
            if let Some(a) = accept {
                req = req.header(reqwest::header::ACCEPT, a);
            }
            let current = self.authorization.lock().map(|a| a.clone()).unwrap_or(None);
            if let Some(auth) = &current {
                req = req.header(reqwest::header::AUTHORIZATION, auth);
            }
            let resp = match tokio::time::timeout_at(self.deadline, req.send()).await {
                Err(_) => return Err(timed_out(self.timeout)),
                Ok(Err(e)) => return Err((step, describe_transport(&e, self.host(), https))),
                Ok(Ok(r)) => r,
            };
            let status = resp.status();
            if status.is_success() {
                return Ok(resp);
            }
            let code = status.as_u16();
            // A bearer token can expire during a long pull: fetch a fresh one, once.
            if code == 401
                && !refreshed
                && current.as_deref().is_some_and(|a| a.starts_with("Bearer "))
            {
                refreshed = true;
                attempt -= 1;
                let fresh = self.authorizer.authorize().await?;
                if let Ok(mut a) = self.authorization.lock() {
                    *a = fresh;
                }
                continue;
            }
            if code == 429 || status.is_server_error() {
                if attempt >= MAX_ATTEMPTS {
                    return Err((
                        step,
                        format!("registry answered {status} {MAX_ATTEMPTS} times; giving up"),
                    ));
                }
                let wait = retry_after(&resp).unwrap_or(BASE_BACKOFF * 2u32.pow(attempt - 1));
                if wait > MAX_RETRY_AFTER {
                    return Err((
                        step,
                        format!("registry answered {status} and asks to retry after {}s, more than the {}s imgscan waits", wait.as_secs(), MAX_RETRY_AFTER.as_secs()),
                    ));
                }
                if Instant::now() + wait >= self.deadline {
                    return Err((
                        step,
                        format!("registry answered {status}; retrying after {}s would pass the --timeout of {}s", wait.as_secs_f64(), self.timeout.as_secs_f64()),
                    ));
                }
                tokio::time::sleep(wait).await;
                continue;
            }
            return Err(match code {
                401 if self.credentialed => (
                    Step::Authenticating,
                    "authentication failed: the registry rejected the credentials (use --username/--password-stdin or docker login)".to_string(),
                ),
                401 => (
                    Step::Authenticating,
                    "authentication required (use --username/--password-stdin or docker login)".to_string(),
                ),
                403 => (step, "access denied (403 Forbidden)".to_string()),
                404 => (step, format!("{what} unknown")),
                _ => (step, format!("registry answered {status} for {what}")),
            });
        }
    }

    /// Read a JSON document bounded by `limits.json_bytes`.
    async fn read_bounded(&self, resp: reqwest::Response, step: Step, what: &str) -> R<Vec<u8>> {
        let limit = self.json_limit;
        let too_big = || {
            (
                step,
                format!("{what} is larger than the {limit}-byte limit (--max-json-bytes)"),
            )
        };
        if resp.content_length().is_some_and(|n| n > limit) {
            return Err(too_big());
        }
        let mut body = Vec::new();
        let mut stream = resp.bytes_stream();
        loop {
            let next = tokio::time::timeout_at(self.deadline, stream.next())
                .await
                .map_err(|_| timed_out(self.timeout))?;
            match next {
                None => return Ok(body),
                Some(Err(e)) => return Err((step, format!("reading {what}: {}", error_chain(&e)))),
                Some(Ok(chunk)) => {
                    if body.len() as u64 + chunk.len() as u64 > limit {
                        return Err(too_big());
                    }
                    body.extend_from_slice(&chunk);
                }
            }
        }
    }

    /// Fetch a manifest or index by tag or digest; returns its bytes and digest.
    /// When `expected` is given the bytes must hash to it.
    async fn manifest(&self, reference: &str, expected: Option<&str>) -> R<(Vec<u8>, String)> {
        let step = Step::Pulling;
        let resp = self
            .get(
                &format!("manifests/{reference}"),
                Some(ACCEPT_MANIFESTS),
                "manifest",
                step,
            )
            .await?;
        let header = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = self.read_bounded(resp, step, "manifest").await?;
        let digest = sha256_digest(&body);
        let want = expected.or(header.as_deref().filter(|h| h.starts_with("sha256:")));
        if let Some(want) = want {
            if want != digest {
                return Err((
                    Step::VerifyingDigest,
                    format!("manifest digest mismatch: expected {want}, got {digest}"),
                ));
            }
        }
        Ok((body, digest))
    }

    /// Resolve the reference to images: follow an index to the chosen platform(s).
    async fn resolve(&self, reference: &Reference, opts: &SourceOptions) -> R<Vec<Image>> {
        let by = reference
            .digest
            .clone()
            .or_else(|| reference.tag.clone())
            .unwrap_or_else(|| "latest".into());
        let (body, digest) = self.manifest(&by, reference.digest.as_deref()).await?;
        let doc = parse_manifest(&body)?;
        let Some(entries) = doc.manifests else {
            return Ok(vec![self.image(reference, &doc, digest, None).await?]);
        };
        let candidates: Vec<&Descriptor> = entries
            .iter()
            .filter(|d| {
                d.platform
                    .as_ref()
                    .is_some_and(|p| p.os != "unknown" && p.architecture != "unknown")
            })
            .collect();
        let chosen: Vec<&Descriptor> = if opts.all_platforms {
            candidates
        } else {
            let want = &opts.platform;
            let found = candidates.iter().copied().find(|d| {
                d.platform.as_ref().is_some_and(|p| {
                    p.os == want.os
                        && p.architecture == want.architecture
                        && (want.variant.is_none() || p.variant == want.variant)
                })
            });
            match found {
                Some(d) => vec![d],
                None => {
                    let have: Vec<String> = candidates
                        .iter()
                        .filter_map(|d| d.platform.as_ref().map(|p| p.to_platform().to_string()))
                        .collect();
                    return Err((
                        Step::ReadingManifest,
                        format!(
                            "no image for platform {want} in the index (has: {}; use --platform or --all-platforms)",
                            if have.is_empty() { "none".into() } else { have.join(", ") }
                        ),
                    ));
                }
            }
        };
        if chosen.is_empty() {
            return Err((
                Step::ReadingManifest,
                "the index lists no platform images".into(),
            ));
        }
        let mut images = Vec::new();
        for d in chosen {
            check_digest(&d.digest, "manifest")?;
            let (body, mdigest) = self.manifest(&d.digest, Some(&d.digest)).await?;
            let doc = parse_manifest(&body)?;
            if doc.manifests.is_some() {
                return Err((
                    Step::ReadingManifest,
                    format!(
                        "index entry {} is itself an index; nested indexes are not supported",
                        d.digest
                    ),
                ));
            }
            let platform = d.platform.as_ref().map(PlatformJson::to_platform);
            images.push(self.image(reference, &doc, mdigest, platform).await?);
        }
        Ok(images)
    }

    /// Build an [`Image`] from an image manifest.
    async fn image(
        &self,
        reference: &Reference,
        doc: &ManifestJson,
        manifest_digest: String,
        platform: Option<Platform>,
    ) -> R<Image> {
        let Some(config_desc) = &doc.config else {
            return Err((
                Step::ReadingManifest,
                "manifest has no config descriptor".into(),
            ));
        };
        let raw = self.config_platform(config_desc).await?;
        let (config, cfg_platform) = raw;
        let mut layers = Vec::with_capacity(doc.layers.len());
        for (index, l) in doc.layers.iter().enumerate() {
            check_digest(&l.digest, "layer")?;
            layers.push(LayerInfo {
                index,
                digest: l.digest.clone(),
                media_type: l.media_type.clone(),
                size: l.size,
            });
        }
        Ok(Image {
            reference: reference.to_string(),
            manifest_digest,
            config_digest: config_desc.digest.clone(),
            platform: platform.or(cfg_platform).unwrap_or_default(),
            config,
            layers,
        })
    }

    /// The parsed config and the platform it declares.
    async fn config_platform(&self, desc: &Descriptor) -> R<(ImageConfig, Option<Platform>)> {
        // The config is small and bounded; fetch once and parse both views.
        check_digest(&desc.digest, "config")?;
        let step = Step::ReadingConfig;
        let resp = self
            .get(&format!("blobs/{}", desc.digest), None, "config blob", step)
            .await?;
        let body = self.read_bounded(resp, step, "config").await?;
        let actual = sha256_digest(&body);
        if actual != desc.digest {
            return Err((
                Step::VerifyingDigest,
                format!(
                    "config digest mismatch: expected {}, got {actual}",
                    desc.digest
                ),
            ));
        }
        let config = ImageConfig::from_json(&body).map_err(|e| (step, e))?;
        let platform = serde_json::from_slice::<PlatformJson>(&body)
            .ok()
            .filter(|p| !p.os.is_empty() && !p.architecture.is_empty())
            .map(|p| p.to_platform());
        Ok((config, platform))
    }
}

/// Obtains the `Authorization` header for a registry: a bearer token through
/// `oci-client`'s challenge/token exchange, or basic credentials when the registry asks
/// for basic auth (or for nothing).
struct Authorizer {
    client: oci_client::Client,
    oci_ref: oci_client::Reference,
    registry_auth: oci_client::secrets::RegistryAuth,
    creds: Option<Credentials>,
    host: String,
    https: bool,
    deadline: Instant,
    timeout: Duration,
}

impl Authorizer {
    async fn authorize(&self) -> R<Option<String>> {
        let creds = &self.creds;
        let token = tokio::time::timeout_at(
            self.deadline,
            self.client.auth(
                &self.oci_ref,
                &self.registry_auth,
                oci_client::RegistryOperation::Pull,
            ),
        )
        .await
        .map_err(|_| timed_out(self.timeout))?;
        match token {
            Ok(Some(t)) => Ok(Some(format!("Bearer {t}"))),
            Ok(None) => Ok(creds.as_ref().map(|c| {
                use base64::Engine;
                let raw = format!("{}:{}", c.username, c.password);
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(raw)
                )
            })),
            Err(oci_client::errors::OciDistributionError::AuthenticationFailure(reason)) => {
                let reason: String = reason.trim().chars().take(200).collect();
                let what = match creds {
                    Some(c) => format!(
                        "authentication failed: the token service rejected the credentials of {} from {}",
                        c.username, c.origin
                    ),
                    None => "authentication required (use --username/--password-stdin or docker login)".into(),
                };
                Err((Step::Authenticating, format!("{what} ({reason})")))
            }
            Err(oci_client::errors::OciDistributionError::RequestError(e)) => Err((
                Step::Pulling,
                describe_transport(&e, &self.host, self.https),
            )),
            Err(e) => Err((Step::Authenticating, format!("token exchange failed: {e}"))),
        }
    }
}

fn check_digest(d: &str, what: &str) -> R<()> {
    if d.starts_with("sha256:") && valid_digest(d) {
        Ok(())
    } else {
        Err((
            Step::ReadingManifest,
            format!("{what} digest {d:?} is not sha256:<64 hex>"),
        ))
    }
}

#[derive(Deserialize, Debug)]
struct Descriptor {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    size: u64,
    #[serde(default)]
    platform: Option<PlatformJson>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(default)]
struct PlatformJson {
    os: String,
    architecture: String,
    variant: Option<String>,
}

impl PlatformJson {
    fn to_platform(&self) -> Platform {
        Platform {
            os: self.os.clone(),
            architecture: self.architecture.clone(),
            variant: self.variant.clone().filter(|v| !v.is_empty()),
        }
    }
}

#[derive(Deserialize, Debug)]
struct ManifestJson {
    #[serde(rename = "schemaVersion", default)]
    schema_version: u32,
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
}

fn parse_manifest(body: &[u8]) -> R<ManifestJson> {
    let step = Step::ReadingManifest;
    let m: ManifestJson = serde_json::from_slice(body)
        .map_err(|e| (step, format!("manifest is not valid JSON: {e}")))?;
    if m.schema_version != 2 {
        return Err((
            step,
            format!(
                "unsupported manifest schema version {} (only 2 is supported)",
                m.schema_version
            ),
        ));
    }
    if let Some(mt) = &m.media_type {
        if ![
            MT_OCI_MANIFEST,
            MT_OCI_INDEX,
            MT_DOCKER_MANIFEST,
            MT_DOCKER_LIST,
        ]
        .contains(&mt.as_str())
        {
            return Err((step, format!("unsupported manifest media type {mt}")));
        }
    }
    if m.manifests.is_none() && m.config.is_none() {
        return Err((step, "manifest has neither `manifests` nor `config`".into()));
    }
    Ok(m)
}

/// `Retry-After` in seconds (HTTP dates are not used by registries and are ignored).
fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    let v = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Streams layer blobs of images of one registry repository.
struct RegistryLayers {
    session: Arc<Session>,
    rt: Arc<Rt>,
    target: String,
    blob_limit: u64,
}

/// Keeps the runtime alive as long as a layer reader exists.
struct LayerReader<T> {
    inner: T,
    _rt: Arc<Rt>,
}

impl<T: Read> Read for LayerReader<T> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf)
    }
}

impl LayerSource for RegistryLayers {
    fn open_layer(&self, layer: &LayerInfo) -> Result<Box<dyn Read + Send>> {
        let fail = |cause: String| Error::new(Step::ReadingLayer, self.target.clone(), cause);
        check_digest(&layer.digest, "layer").map_err(|(_, c)| fail(c))?;
        let session = self.session.clone();
        let digest = layer.digest.clone();
        let resp = std::thread::scope(|s| {
            s.spawn(|| {
                self.rt.block_on(async {
                    session
                        .get(&format!("blobs/{digest}"), None, "blob", Step::ReadingLayer)
                        .await
                })
            })
            .join()
            .unwrap_or_else(|_| Err((Step::ReadingLayer, "internal error: thread panicked".into())))
        })
        .map_err(|(step, cause)| {
            Error::new(
                step,
                self.target.clone(),
                format!("layer {}: {cause}", layer.digest),
            )
        })?;
        if let Some(n) = resp.content_length().filter(|&n| n > self.blob_limit) {
            return Err(fail(format!(
                "layer {} is {n} bytes, more than the {}-byte limit (--max-blob-bytes)",
                layer.digest, self.blob_limit
            )));
        }
        let deadline = self.session.deadline;
        let timeout = self.session.timeout;
        let stream = resp.bytes_stream();
        // Each chunk must arrive before the overall deadline; a stalled body is an error.
        let stream = futures_util::stream::unfold(Some(stream), move |state| async move {
            let mut stream = state?;
            match tokio::time::timeout_at(deadline, stream.next()).await {
                Err(_) => Some((
                    Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("timed out after {}s (--timeout)", timeout.as_secs_f64()),
                    )),
                    None,
                )),
                Ok(None) => None,
                Ok(Some(Ok(b))) => Some((Ok(b), Some(stream))),
                Ok(Some(Err(e))) => Some((Err(std::io::Error::other(error_chain(&e))), None)),
            }
        });
        let reader = tokio_util::io::StreamReader::new(Box::pin(stream));
        let bridge = tokio_util::io::SyncIoBridge::new_with_handle(reader, self.rt.handle());
        let verified = DigestReader::new(bridge, &layer.digest, self.blob_limit)
            .map_err(|e| fail(e.to_string()))?;
        Ok(Box::new(LayerReader {
            inner: verified,
            _rt: self.rt.clone(),
        }))
    }
}
