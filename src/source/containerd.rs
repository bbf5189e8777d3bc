//! containerd as an image source: `containerd:NAME`, and `containerd` in `--image-src`.
//!
//! ```text
//! imgscan containerd:docker.io/library/app:1
//! imgscan --containerd-namespace k8s.io containerd:registry.k8s.io/pause:3.9
//! ```
//!
//! Owns: asking containerd's images service for NAME in one namespace (gRPC over its unix
//! socket, through the containerd project's own `containerd-client` bindings), and serving
//! its content store to the OCI layout reader as if it were a layout: `index.json` is made
//! here from the image record's target descriptor, and every `blobs/sha256/<hex>` is read
//! from the content service (`Info` for existence and size, `Read` streamed chunk by chunk).
//! So indexes, platforms, digests, media types and every bound are the layout reader's,
//! and nothing is spooled: a layer is streamed from containerd while it is walked.
//!
//! Names are the ones containerd stores, normalised (`docker.io/library/app:latest`, what
//! `ctr images ls` shows); a digest reference that has no image record of its own is read
//! straight from the content store, since a digest is a content address.
//!
//! Bounds: the socket is connected within 10 s; each call and each streamed chunk waits at
//! most `--timeout`; documents are capped by `--max-json-bytes` and layers by
//! `--max-blob-bytes` (the layout reader's checks). A socket that does not exist or refuses
//! the connection is "not here" for `--image-src`, an error for `containerd:NAME`.

use super::daemon::{error_chain, printable, Miss, Origin};
use super::local::{Members, Store};
use super::{LayerSource, OpenedImage, SourceOptions};
use crate::error::{Error, Result, Step};
use crate::image::LayerInfo;
use crate::reference::{valid_digest, Reference};
use containerd_client::services::v1::{
    content_client::ContentClient, images_client::ImagesClient, GetImageRequest, InfoRequest,
    ReadContentRequest,
};
use containerd_client::tonic::{self, transport::Channel, Code, Request};
use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Streamed chunks a layer reader may have waiting (containerd sends ~1 MiB each).
const AHEAD: usize = 4;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Namespaces are labels: `[A-Za-z0-9._-]`, as containerd's `identifiers.Validate`.
const MAX_NAMESPACE: usize = 76;

/// Open `reference` from the containerd listening on `sock`.
pub(crate) fn open(
    sock: &Path,
    reference: &Reference,
    opts: &SourceOptions,
) -> std::result::Result<Vec<OpenedImage>, Miss> {
    let target = format!("containerd:{reference}");
    let fail = |step: Step, c: String| Miss::Failed(Error::new(step, &target, c));
    let at = format!("unix://{}", sock.display());
    if !sock.exists() {
        return Err(Miss::Down(format!("no containerd socket at {at}")));
    }
    let ns = namespace(opts).map_err(|e| fail(Step::Opening, e))?;
    let who = format!("containerd at {at} (namespace {ns})");
    let rt = Rt::new().map_err(|e| fail(Step::Opening, e))?;
    let sock_owned = sock.to_path_buf();
    let channel = rt
        .call(CONNECT_TIMEOUT, async move {
            containerd_client::connect(sock_owned).await
        })
        .map_err(|e| Miss::Down(format!("{who} did not answer: {e}")))?
        .map_err(|e| Miss::Down(format!("{who} did not answer: {}", error_chain(&e))))?;
    let client = Arc::new(Client {
        rt,
        channel,
        ns,
        timeout: opts.timeout,
        json_bytes: opts.limits.json_bytes,
        who: who.clone(),
    });

    let (name, desc) = match client.image(reference)? {
        Some(found) => found,
        None => return Err(Miss::NotHere(format!("{who} has no image {reference}"))),
    };
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": desc.media_type,
            "digest": desc.digest,
            "size": desc.size,
            "annotations": {"io.containerd.image.name": name},
        }],
    });
    let index = serde_json::to_vec(&index).map_err(|e| fail(Step::Opening, e.to_string()))?;
    let store = Arc::new(Store::Other(Box::new(ContentStore {
        client: client.clone(),
        index,
        sizes: Default::default(),
    })));
    let images = super::oci_layout::open(store, &target, None, opts).map_err(Miss::Failed)?;
    Ok(images
        .into_iter()
        .map(|mut o| {
            o.image.notes.push(format!(
                "read from {who}: image {name} → {} {}, blobs streamed from its content store",
                desc.media_type, desc.digest
            ));
            OpenedImage {
                image: o.image,
                layers: Arc::new(ContainerdLayers {
                    inner: o.layers,
                    origin: Origin {
                        kind: "containerd",
                        at: format!("{at} namespace {}", client.ns),
                    },
                }),
            }
        })
        .collect())
}

/// `--containerd-namespace`, else `CONTAINERD_NAMESPACE`, else `default`; checked, since
/// it goes into a gRPC header.
fn namespace(opts: &SourceOptions) -> std::result::Result<String, String> {
    let ns = opts
        .containerd_namespace
        .clone()
        .or_else(|| std::env::var("CONTAINERD_NAMESPACE").ok())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "default".into());
    let ok = ns.len() <= MAX_NAMESPACE
        && ns
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        && ns.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric());
    if ok {
        Ok(ns)
    } else {
        Err(format!(
            "containerd namespace {ns:?} is not a valid identifier (letters, digits, `._-`)"
        ))
    }
}

/// The image record's target.
struct Target {
    media_type: String,
    digest: String,
    size: i64,
}

/// A tokio runtime of one worker that drives the gRPC calls and streams, whichever thread
/// asks: callers wait on channels, so nothing here needs (or may be inside) a runtime.
struct Rt {
    rt: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
}

impl Rt {
    fn new() -> std::result::Result<Rt, String> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("imgscan-containerd")
            .enable_all()
            .build()
            .map_err(|e| format!("starting the containerd client runtime: {e}"))?;
        Ok(Rt {
            handle: rt.handle().clone(),
            rt: Some(rt),
        })
    }

    /// Run `f` on the runtime and wait at most `limit` for it.
    fn call<T: Send + 'static>(
        &self,
        limit: Duration,
        f: impl std::future::Future<Output = T> + Send + 'static,
    ) -> std::result::Result<T, String> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.handle.spawn(async move {
            let r = tokio::time::timeout(limit, f).await;
            let _ = tx.send(r);
        });
        match rx.recv() {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(_)) => Err(format!("no answer within {} s", limit.as_secs_f64())),
            Err(_) => Err("the containerd client runtime stopped".into()),
        }
    }
}

impl Drop for Rt {
    fn drop(&mut self) {
        // Never blocks, so dropping an image inside another runtime cannot panic.
        if let Some(r) = self.rt.take() {
            r.shutdown_background();
        }
    }
}

struct Client {
    rt: Rt,
    channel: Channel,
    ns: String,
    timeout: Duration,
    json_bytes: u64,
    who: String,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.who)
    }
}

impl Client {
    fn request<T>(&self, msg: T) -> Request<T> {
        let mut r = Request::new(msg);
        if let Ok(v) = self.ns.parse() {
            r.metadata_mut().insert("containerd-namespace", v);
        }
        r
    }

    fn failed(&self, what: &str, e: impl std::fmt::Display) -> Miss {
        Miss::Failed(Error::new(Step::Opening, &self.who, format!("{what}: {e}")))
    }

    /// The image record for `reference` (its stored name and target), or `None`.
    fn image(&self, reference: &Reference) -> std::result::Result<Option<(String, Target)>, Miss> {
        let mut names = vec![reference.to_string()];
        if let (Some(_), Some(d)) = (&reference.tag, &reference.digest) {
            names.push(format!("{}@{d}", reference.name()));
        }
        for name in names {
            let mut c = ImagesClient::new(self.channel.clone());
            let req = self.request(GetImageRequest { name: name.clone() });
            let got = self
                .rt
                .call(self.timeout, async move { c.get(req).await })
                .map_err(|e| self.failed(&format!("asking for image {name}"), e))?;
            match got {
                Ok(resp) => {
                    let Some(t) = resp.into_inner().image.and_then(|i| i.target) else {
                        return Err(self.failed(
                            &format!("image {name}"),
                            "the record has no target descriptor",
                        ));
                    };
                    return Ok(Some((
                        name,
                        Target {
                            media_type: t.media_type,
                            digest: t.digest,
                            size: t.size,
                        },
                    )));
                }
                Err(s) if s.code() == Code::NotFound => continue,
                Err(s) => return Err(self.failed(&format!("asking for image {name}"), status(&s))),
            }
        }
        // A digest is a content address: read it without an image record.
        let Some(d) = &reference.digest else {
            return Ok(None);
        };
        let Some(size) = self.info(d).map_err(|e| self.failed("content info", e))? else {
            return Ok(None);
        };
        // The whole document (bounded as the layout reader bounds it), to tell an index
        // from a manifest when `mediaType` is absent, as OCI allows.
        if size > self.json_bytes {
            return Err(self.failed(
                &format!("reading {d}"),
                format!(
                    "{size} bytes, larger than the {}-byte limit (raise with {} N)",
                    self.json_bytes,
                    crate::limits::LimitKind::JsonBytes.flag()
                ),
            ));
        }
        let mut doc = Vec::new();
        self.read(d, size)
            .and_then(|r| r.take(self.json_bytes).read_to_end(&mut doc))
            .map_err(|e| self.failed(&format!("reading {d}"), e))?;
        let v = serde_json::from_slice::<serde_json::Value>(&doc).unwrap_or_default();
        let media_type = match v.get("mediaType").and_then(|m| m.as_str()) {
            Some(m) => m.to_string(),
            None if v.get("manifests").is_some() => {
                "application/vnd.oci.image.index.v1+json".into()
            }
            None => "application/vnd.oci.image.manifest.v1+json".into(),
        };
        Ok(Some((
            reference.to_string(),
            Target {
                media_type,
                digest: d.clone(),
                size: size as i64,
            },
        )))
    }

    /// Size of blob `digest`, `None` when the store does not have it.
    fn info(&self, digest: &str) -> io::Result<Option<u64>> {
        let mut c = ContentClient::new(self.channel.clone());
        let req = self.request(InfoRequest {
            digest: digest.to_string(),
        });
        let got = self
            .rt
            .call(self.timeout, async move { c.info(req).await })
            .map_err(io::Error::other)?;
        match got {
            Ok(r) => Ok(Some(
                r.into_inner()
                    .info
                    .map(|i| i.size.max(0) as u64)
                    .unwrap_or(0),
            )),
            Err(s) if s.code() == Code::NotFound => Ok(None),
            Err(s) => Err(io::Error::other(format!(
                "content info {digest}: {}",
                status(&s)
            ))),
        }
    }

    /// Stream blob `digest` (`size` bytes) through a bounded channel.
    fn read(&self, digest: &str, size: u64) -> io::Result<ContentReader> {
        let mut c = ContentClient::new(self.channel.clone());
        let req = self.request(ReadContentRequest {
            digest: digest.to_string(),
            offset: 0,
            size: 0, // the whole blob
        });
        let stream = self
            .rt
            .call(self.timeout, async move { c.read(req).await })
            .map_err(io::Error::other)?
            .map_err(|s| io::Error::other(format!("reading {digest}: {}", status(&s))))?
            .into_inner();
        let (tx, rx) = mpsc::channel(AHEAD);
        let stall = self.timeout;
        let what = digest.to_string();
        self.rt.handle.spawn(pump(stream, tx, stall, what));
        Ok(ContentReader {
            rx,
            buf: Vec::new(),
            pos: 0,
            left: size,
            done: false,
        })
    }
}

/// Move chunks from the gRPC stream to the reader; stops when the reader is gone.
async fn pump(
    mut stream: tonic::Streaming<containerd_client::services::v1::ReadContentResponse>,
    tx: mpsc::Sender<io::Result<Vec<u8>>>,
    stall: Duration,
    what: String,
) {
    loop {
        let next = match tokio::time::timeout(stall, stream.message()).await {
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "containerd sent nothing of {what} for {} s",
                    stall.as_secs()
                ),
            )),
            Ok(Err(s)) => Err(io::Error::other(format!("reading {what}: {}", status(&s)))),
            Ok(Ok(None)) => return,
            Ok(Ok(Some(m))) => Ok(m.data),
        };
        let stop = next.is_err();
        // Waits while the reader is AHEAD chunks behind; fails once the reader is gone.
        if tx.send(next).await.is_err() || stop {
            return;
        }
    }
}

/// A blob as a `Read`: chunks from [`pump`], at most the size `Info` gave (a store that
/// sends more is an error, so the layout reader's bounds hold).
struct ContentReader {
    rx: mpsc::Receiver<io::Result<Vec<u8>>>,
    buf: Vec<u8>,
    pos: usize,
    left: u64,
    done: bool,
}

impl Read for ContentReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.buf.len() {
            if self.done {
                return Ok(0);
            }
            // Walker threads are plain threads, never inside a runtime.
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => {
                    if chunk.len() as u64 > self.left {
                        return Err(io::Error::other(
                            "containerd sent more bytes than the blob's recorded size",
                        ));
                    }
                    self.left -= chunk.len() as u64;
                    self.buf = chunk;
                    self.pos = 0;
                }
                Some(Err(e)) => return Err(e),
                None => {
                    self.done = true;
                    if self.left != 0 {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            format!("containerd's stream ended {} bytes early", self.left),
                        ));
                    }
                }
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// containerd's content store, as layout members: `oci-layout` and `index.json` made
/// here, `blobs/<alg>/<hex>` from the content service.
#[derive(Debug)]
struct ContentStore {
    client: Arc<Client>,
    index: Vec<u8>,
    /// Sizes `Info` gave, so `has` then `open` of one blob asks once. One entry per blob
    /// the layout reader names: bounded by the manifests it read (`--max-json-bytes`).
    sizes: std::sync::Mutex<std::collections::HashMap<String, u64>>,
}

const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

impl ContentStore {
    /// `Info` of `d`, remembered when the store has it.
    fn size(&self, d: &str) -> io::Result<Option<u64>> {
        let known = self.sizes.lock().ok().and_then(|m| m.get(d).copied());
        if known.is_some() {
            return Ok(known);
        }
        let got = self.client.info(d)?;
        if let (Some(n), Ok(mut m)) = (got, self.sizes.lock()) {
            m.insert(d.to_string(), n);
        }
        Ok(got)
    }

    fn digest_of(name: &str) -> Option<String> {
        let (alg, hex) = name.strip_prefix("blobs/")?.split_once('/')?;
        let d = format!("{alg}:{hex}");
        valid_digest(&d).then_some(d)
    }
}

impl Members for ContentStore {
    fn kind(&self) -> &'static str {
        "containerd content store"
    }

    fn has(&self, name: &str) -> bool {
        match name {
            "oci-layout" | "index.json" => true,
            // Only a clear "not found" is absent: a failed call leaves the blob to
            // `open`, whose error then names the real cause.
            _ => Self::digest_of(name).is_some_and(|d| !matches!(self.size(&d), Ok(None))),
        }
    }

    fn open(&self, name: &str) -> io::Result<Option<(Box<dyn Read + Send>, u64)>> {
        let small = |b: &[u8]| -> Box<dyn Read + Send> { Box::new(io::Cursor::new(b.to_vec())) };
        match name {
            "oci-layout" => return Ok(Some((small(OCI_LAYOUT), OCI_LAYOUT.len() as u64))),
            "index.json" => return Ok(Some((small(&self.index), self.index.len() as u64))),
            _ => {}
        }
        let Some(d) = Self::digest_of(name) else {
            return Ok(None);
        };
        let Some(size) = self.size(&d)? else {
            return Ok(None);
        };
        Ok(Some((Box::new(self.client.read(&d, size)?), size)))
    }
}

/// The layout reader's layers, named as read from containerd.
struct ContainerdLayers {
    inner: Arc<dyn LayerSource>,
    origin: Origin,
}

impl LayerSource for ContainerdLayers {
    fn open_layer(&self, layer: &LayerInfo) -> Result<Box<dyn Read + Send>> {
        self.inner.open_layer(layer)
    }
    fn origin(&self) -> Option<Origin> {
        Some(self.origin.clone())
    }
}

/// A gRPC status as a person reads it (`NotFound: image "x" not found`), control
/// characters blanked.
fn status(s: &tonic::Status) -> String {
    let m: String = s.message().chars().take(300).collect();
    format!("{:?}: {}", s.code(), printable(&m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_are_identifiers() {
        let ns = |n: Option<&str>| {
            namespace(&SourceOptions {
                containerd_namespace: n.map(str::to_string),
                ..SourceOptions::default()
            })
        };
        assert_eq!(ns(Some("k8s.io")).unwrap(), "k8s.io");
        assert!(ns(Some("a\r\nx-injected: 1")).is_err());
        assert!(ns(Some(".hidden")).is_err());
        assert!(ns(Some(&"n".repeat(77))).is_err());
    }

    #[test]
    fn blob_names_map_to_digests() {
        let hex = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        assert_eq!(
            ContentStore::digest_of(&format!("blobs/sha256/{hex}")).unwrap(),
            format!("sha256:{hex}")
        );
        assert!(ContentStore::digest_of("blobs/sha256/../../etc").is_none());
        assert!(ContentStore::digest_of("index.json").is_none());
    }
}
