//! Registry pulls (OCI distribution API v2).
//!
//! Owns: connecting to a registry (TLS verified; plain HTTP or an unverified certificate
//! only with `insecure`), authentication (anonymous or credentialed bearer-token flow
//! through `oci-client`, basic auth), choosing the platform(s) of an index (nested
//! indexes followed, bounded by [`MAX_INDEX_DEPTH`]), reading the
//! manifest and config bounded by `limits.json_bytes` and checked against their digests,
//! and streaming layer blobs through [`DigestReader`].
//!
//! `oci-client` performs the `WWW-Authenticate` challenge and token exchange; requests for
//! manifests and blobs are made here with the same TLS settings so that bodies are read
//! bounded, `Retry-After` is honoured on 429/5xx, and errors name the step and cause.
//! Credentials are attached only to requests addressed to the registry itself: redirects
//! (blob storage, CDNs) are followed by hand, at most `MAX_REDIRECTS` hops, and once one
//! leaves the registry's scheme/host/port no later hop gets `Authorization` (tested in
//! `tests/registry_redirects.rs`).
//!
//! Every network operation of one `open` (including later layer reads) shares one
//! deadline, `opts.timeout` from the start of `open`.
//!
//! Files: `mod.rs` (entry point, index/manifest/config resolution, layer streaming),
//! `client.rs` (HTTP session, auth header, retries, bounded reads, error wording),
//! `blob.rs` (a layer blob as one stream, resumed after resets, short bodies, stalls),
//! `auth.rs` (where credentials come from).
//!
//! Threading: `open` and `open_layer` may be called from any thread; the returned
//! layer reader blocks on the source's own runtime, so read it from a plain thread
//! (or `spawn_blocking`), not from inside an async task.

mod auth;
mod blob;
mod client;

pub use auth::resolve as resolve_credentials;
pub use auth::Credentials;
pub use blob::MAX_RESUMES;
pub use client::{MAX_ATTEMPTS, RETRY_BUDGET};

use client::Session;

use super::{LayerSource, OpenedImage, SourceOptions};
use crate::digest::{sha256_digest, DigestReader};
use crate::error::{Error, Result, Step};
use crate::image::{Image, ImageConfig, LayerInfo, Platform};
use crate::reference::{valid_digest, Reference};
use serde::Deserialize;
use std::io::Read;
use std::sync::Arc;
use tokio::time::Instant;

const MT_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const MT_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MT_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const MT_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

/// Levels of image index followed from the top one (an index whose entry is an index
/// is two levels).
pub const MAX_INDEX_DEPTH: usize = 4;
/// Nested indexes fetched for one pull, whatever their shape.
pub const MAX_NESTED_INDEXES: usize = 16;

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

/// The digest `reference` names now: its own digest, or for a tag the
/// `Docker-Content-Digest` of a manifest HEAD, falling back to one GET (bounded, hashed
/// as a pull hashes it) when the registry omits the header or refuses HEAD; with the
/// same connection, credentials and `opts.timeout` as [`open`]. For `imgscan serve`'s
/// tag → digest step.
pub fn manifest_digest(reference: &Reference, opts: &SourceOptions) -> Result<String> {
    if let Some(d) = &reference.digest {
        return Ok(d.clone());
    }
    let target = reference.to_string();
    let wrap = |(step, cause): Fail| Error::new(step, target.clone(), cause);
    let rt = Rt::new().map_err(|e| wrap((Step::Pulling, e)))?;
    let deadline = Instant::now() + opts.timeout;
    let tag = reference.tag.clone().unwrap_or_else(|| "latest".into());
    std::thread::scope(|s| {
        s.spawn(|| {
            rt.block_on(async {
                let session = Session::connect(reference, opts, deadline).await?;
                if let Ok(Some(d)) = session.head_digest(&tag).await {
                    return Ok(d);
                }
                Ok::<_, Fail>(session.manifest(&tag, None).await?.1)
            })
        })
        .join()
        .unwrap_or_else(|_| Err((Step::Pulling, "internal error: pull thread panicked".into())))
    })
    .map_err(wrap)
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

impl Session {
    /// The `Docker-Content-Digest` a manifest HEAD answers for `reference`, if it is a
    /// well-formed sha256 digest.
    async fn head_digest(&self, reference: &str) -> R<Option<String>> {
        let resp = self
            .request(
                reqwest::Method::HEAD,
                &format!("manifests/{reference}"),
                Some(ACCEPT_MANIFESTS),
                None,
                "manifest",
                Step::Pulling,
            )
            .await?;
        Ok(resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .filter(|d| check_digest(d, "manifest").is_ok())
            .map(str::to_string))
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
        let mut nested = 0;
        let entries = self.flatten(entries, 1, &mut nested).await?;
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
                        "index entry {} is an index but its media type says {:?}",
                        d.digest, d.media_type
                    ),
                ));
            }
            let platform = d.platform.as_ref().map(PlatformJson::to_platform);
            images.push(self.image(reference, &doc, mdigest, platform).await?);
        }
        Ok(images)
    }

    /// The image entries of an index, with entries that are indexes themselves (by media
    /// type) replaced by their own entries, down to [`MAX_INDEX_DEPTH`] levels and at most
    /// [`MAX_NESTED_INDEXES`] nested indexes in all. `depth` is the level of `entries`.
    fn flatten<'a>(
        &'a self,
        entries: Vec<Descriptor>,
        depth: usize,
        nested: &'a mut usize,
    ) -> futures_util::future::BoxFuture<'a, R<Vec<Descriptor>>> {
        Box::pin(async move {
            let mut out = Vec::new();
            for d in entries {
                if d.media_type != MT_OCI_INDEX && d.media_type != MT_DOCKER_LIST {
                    out.push(d);
                    continue;
                }
                *nested += 1;
                if depth >= MAX_INDEX_DEPTH || *nested > MAX_NESTED_INDEXES {
                    return Err((
                        Step::ReadingManifest,
                        format!(
                            "index entry {} nests indexes beyond the limit ({MAX_INDEX_DEPTH} levels, {MAX_NESTED_INDEXES} nested indexes)",
                            d.digest
                        ),
                    ));
                }
                check_digest(&d.digest, "index")?;
                let (body, _) = self.manifest(&d.digest, Some(&d.digest)).await?;
                let Some(inner) = parse_manifest(&body)?.manifests else {
                    return Err((
                        Step::ReadingManifest,
                        format!("index entry {} says it is an index but is not", d.digest),
                    ));
                };
                out.extend(self.flatten(inner, depth + 1, nested).await?);
            }
            Ok(out)
        })
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
            names: Vec::new(),
            notes: Vec::new(),
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
        let (config, _) = crate::source::config::parse_config(&body).map_err(|e| (step, e))?;
        let platform = serde_json::from_slice::<PlatformJson>(&body)
            .ok()
            .filter(|p| !p.os.is_empty() && !p.architecture.is_empty())
            .map(|p| p.to_platform());
        Ok((config, platform))
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
        // Resumed after resets, short bodies and stalls; bounded by the deadline.
        let stream = blob::stream(self.session.clone(), layer.digest.clone(), resp);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_json_with_nulls_and_missing_parts() {
        // What `docker build` writes for an image without ENTRYPOINT/labels/ports.
        let parse = |b: &[u8]| crate::source::config::parse_config(b).map(|(c, _)| c);
        let c = parse(
            br#"{"architecture":"amd64","os":"linux","config":{"Entrypoint":null,"Cmd":["sh"],
                "Env":null,"Labels":null,"ExposedPorts":null,"User":""},
                "history":[{"created_by":"RUN x"},{"empty_layer":true}]}"#,
        )
        .unwrap();
        assert!(c.entrypoint.is_empty() && c.env.is_empty() && c.labels.is_empty());
        assert_eq!(c.cmd, vec!["sh"]);
        assert_eq!(c.history.len(), 2);
        assert!(!c.history[0].empty_layer && c.history[1].empty_layer);
        assert!(c.diff_ids.is_empty());
        assert_eq!(parse(b"{}").unwrap(), ImageConfig::default());
        // A scalar where a list belongs is read as a one-element list (hostile configs
        // are still scanned); a document that is not an object is an error.
        let c = parse(br#"{"config":{"Env":"PATH=/bin"}}"#).unwrap();
        assert_eq!(c.env, vec!["PATH=/bin"]);
        let e = parse(b"[1]").unwrap_err();
        assert!(e.contains("not a JSON object"), "{e}");
    }

    #[test]
    fn manifest_shapes() {
        let index = br#"{"schemaVersion":2,"manifests":[{"digest":"sha256:00","platform":{"os":"linux","architecture":"arm","variant":"v7"}}]}"#;
        let m = parse_manifest(index).unwrap();
        let p = m.manifests.unwrap()[0]
            .platform
            .as_ref()
            .unwrap()
            .to_platform();
        assert_eq!(p.to_string(), "linux/arm/v7");
        let e = parse_manifest(br#"{"schemaVersion":2}"#).unwrap_err();
        assert_eq!(e.1, "manifest has neither `manifests` nor `config`");
        assert!(check_digest("sha256:../../etc", "layer").is_err());
        assert!(check_digest(&format!("sha512:{}", "a".repeat(128)), "layer").is_err());
        assert!(check_digest(&format!("sha256:{}", "a".repeat(64)), "layer").is_ok());
    }
}
