//! Local daemons as image sources: Docker, and Podman through its Docker-compatible API;
//! containerd (`containerd.rs`) is routed from here.
//!
//! ```text
//! imgscan docker:myapp           # only the Docker daemon
//! imgscan podman:localhost/app   # only Podman
//! imgscan myapp                  # --image-src docker,containerd,podman,remote: the first
//! ```
//!
//! Owns: finding the daemon's socket ([`Endpoint`]), asking it whether it holds an image
//! (`GET /images/{name}/json`: 200 = here, 404 = not here), and reading the image out
//! (`GET /images/{name}/get`, a `docker save` archive) into the docker-archive reader.
//!
//! Why a spool file: a `docker save` archive puts `manifest.json` (which says which member
//! is the config and in what order the layers go) after the layers, and the scan needs the
//! config and the layer order before it reads the first layer (whiteouts make order
//! matter). So the archive is streamed once into a temporary file
//! (`tempfile::NamedTempFile` in `$TMPDIR`, deleted when the scan drops the image), capped
//! at `limits.image_bytes` (`--max-image-bytes`): a bigger archive is an error naming the
//! flag, never a partial scan. From there the usual docker-archive reader indexes the tar
//! and streams each layer through its digest check; nothing is extracted.
//!
//! Addresses: Docker from `--docker-host`, else `DOCKER_HOST`, else
//! `unix:///var/run/docker.sock`; Podman from `--podman-host`, else `CONTAINER_HOST`, else
//! `$XDG_RUNTIME_DIR/podman/podman.sock` when it exists, else `/run/podman/podman.sock`.
//! `unix://PATH` and `tcp://HOST:PORT` (plain HTTP; TLS to a daemon is not supported)
//! are understood. A daemon that is not running is "not here" when `--image-src` falls
//! through, and an error naming the address for an explicit `docker:` / `podman:`.
//!
//! containerd speaks gRPC, not the Engine API: `containerd:NAME` and `containerd` in
//! `--image-src` are read by `containerd.rs` (its content store streamed blob by blob, no
//! spool file); this module only routes to it.

use super::{LayerSource, OpenedImage, SourceOptions};
use crate::error::{Error, Result, Step};
use crate::image::LayerInfo;
use crate::reference::{Daemon, LocalKind, Reference};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Where `--image-src` may look for an unprefixed reference, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ImageSrc {
    Docker,
    Containerd,
    Podman,
    Remote,
}

/// The `--image-src` default, Trivy's order.
pub const DEFAULT_IMAGE_SRC: [ImageSrc; 4] = [
    ImageSrc::Docker,
    ImageSrc::Containerd,
    ImageSrc::Podman,
    ImageSrc::Remote,
];

/// How to reach one daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Unix(PathBuf),
    /// `host:port`, plain HTTP.
    Tcp(String),
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Unix(p) => write!(f, "unix://{}", p.display()),
            Endpoint::Tcp(h) => write!(f, "tcp://{h}"),
        }
    }
}

impl Endpoint {
    /// Parse `unix:///path`, `tcp://host:port` or a bare socket path.
    pub fn parse(s: &str) -> std::result::Result<Endpoint, String> {
        if let Some(p) = s.strip_prefix("unix://") {
            return Ok(Endpoint::Unix(PathBuf::from(p)));
        }
        if let Some(h) = s
            .strip_prefix("tcp://")
            .or_else(|| s.strip_prefix("http://"))
        {
            let h = h.trim_end_matches('/');
            if h.is_empty() || h.contains('/') {
                return Err(format!("{s:?}: want tcp://HOST:PORT"));
            }
            return Ok(Endpoint::Tcp(h.to_string()));
        }
        if s.starts_with('/') {
            return Ok(Endpoint::Unix(PathBuf::from(s)));
        }
        Err(format!(
            "{s:?}: only unix:///PATH and tcp://HOST:PORT daemon addresses are supported"
        ))
    }

    /// The address of `daemon`: the explicit one, else the environment, else the default.
    pub fn resolve(
        daemon: Daemon,
        explicit: Option<&str>,
    ) -> std::result::Result<Endpoint, String> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        match daemon {
            Daemon::Docker => match explicit.map(str::to_string).or_else(|| env("DOCKER_HOST")) {
                Some(h) => Endpoint::parse(&h),
                None => Ok(Endpoint::Unix("/var/run/docker.sock".into())),
            },
            Daemon::Podman => {
                if let Some(h) = explicit
                    .map(str::to_string)
                    .or_else(|| env("CONTAINER_HOST"))
                {
                    return Endpoint::parse(&h);
                }
                if let Some(x) = env("XDG_RUNTIME_DIR") {
                    let p = PathBuf::from(x).join("podman/podman.sock");
                    if p.exists() {
                        return Ok(Endpoint::Unix(p));
                    }
                }
                Ok(Endpoint::Unix("/run/podman/podman.sock".into()))
            }
            Daemon::Containerd => match explicit
                .map(str::to_string)
                .or_else(|| env("CONTAINERD_ADDRESS"))
            {
                Some(h) => match Endpoint::parse(&h)? {
                    Endpoint::Tcp(_) => Err(format!(
                        "{h:?}: containerd is reached on its unix socket only"
                    )),
                    ep => Ok(ep),
                },
                None => Ok(Endpoint::Unix("/run/containerd/containerd.sock".into())),
            },
        }
    }
}

/// Why a daemon did not give us the image.
#[derive(Debug)]
pub(crate) enum Miss {
    /// The daemon answered: it has no such image.
    NotHere(String),
    /// No daemon answered at the address (socket missing, connection refused).
    Down(String),
    /// The daemon answered something else, or reading the image failed.
    Failed(Error),
}

/// Open `reference` from `daemon`. `Err(Miss::NotHere | Miss::Down)` lets the caller try
/// the next `--image-src`.
pub(crate) fn open(
    daemon: Daemon,
    reference: &Reference,
    opts: &SourceOptions,
) -> std::result::Result<Vec<OpenedImage>, Miss> {
    let target = reference.to_string();
    let explicit = match daemon {
        Daemon::Docker => opts.docker_host.as_deref(),
        Daemon::Podman => opts.podman_host.as_deref(),
        Daemon::Containerd => opts.containerd_address.as_deref(),
    };
    let ep = Endpoint::resolve(daemon, explicit)
        .map_err(|e| Miss::Failed(Error::new(Step::Opening, &target, e)))?;
    if daemon == Daemon::Containerd {
        return open_containerd(&ep, reference, opts);
    }
    // The familiar name (`myapp`, `localhost/app:1`) is what `docker images` shows and
    // what Podman resolves short names against; the daemon normalises it as we do.
    let name = lookup_name(reference);
    let client =
        Client::new(&ep, opts).map_err(|e| Miss::Failed(Error::new(Step::Opening, &target, e)))?;
    let spool = client.fetch(daemon, &name, &target, opts)?;
    let spool = Arc::new(spool);
    let at = format!("{} daemon at {ep}", daemon.scheme());
    let rename = |e: Error| {
        Error::new(
            e.step,
            &target,
            format!("{} (image read from the {at})", e.cause),
        )
    };
    let images = super::local::open(LocalKind::DockerArchive, spool.path(), None, opts)
        .map_err(|e| Miss::Failed(rename(e)))?;
    Ok(images
        .into_iter()
        .map(|mut o| {
            o.image.reference = target.clone();
            o.image.notes.push(format!(
                "read from the {at} (GET /images/{name}/get, spooled to a temporary file)"
            ));
            OpenedImage {
                image: o.image,
                layers: Arc::new(DaemonLayers {
                    inner: o.layers,
                    _spool: spool.clone(),
                    target: target.clone(),
                    origin: Origin {
                        kind: daemon.scheme(),
                        at: ep.to_string(),
                    },
                }),
            }
        })
        .collect())
}

#[cfg(feature = "containerd")]
fn open_containerd(
    ep: &Endpoint,
    reference: &Reference,
    opts: &SourceOptions,
) -> std::result::Result<Vec<OpenedImage>, Miss> {
    match ep {
        Endpoint::Unix(sock) => super::containerd::open(sock, reference, opts),
        Endpoint::Tcp(_) => Err(Miss::Failed(Error::new(
            Step::Opening,
            reference.to_string(),
            format!("{ep}: containerd is reached on its unix socket only"),
        ))),
    }
}

#[cfg(not(feature = "containerd"))]
fn open_containerd(
    ep: &Endpoint,
    _reference: &Reference,
    _opts: &SourceOptions,
) -> std::result::Result<Vec<OpenedImage>, Miss> {
    Err(Miss::Down(format!(
        "this imgscan was built without the `containerd` feature, so containerd at {ep} \
         was not asked"
    )))
}

/// The name to ask the daemon for.
fn lookup_name(r: &Reference) -> String {
    match &r.digest {
        Some(d) => format!("{}@{d}", r.familiar_name()),
        None => format!(
            "{}:{}",
            r.familiar_name(),
            r.tag.as_deref().unwrap_or("latest")
        ),
    }
}

/// Where an image was read from, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// `docker`, `podman`, `containerd`.
    pub kind: &'static str,
    /// The daemon address.
    pub at: String,
}

/// Layers of a spooled archive; keeps the spool file alive while the image is scanned.
struct DaemonLayers {
    inner: Arc<dyn LayerSource>,
    _spool: Arc<tempfile::NamedTempFile>,
    target: String,
    origin: Origin,
}

impl LayerSource for DaemonLayers {
    fn open_layer(&self, layer: &LayerInfo) -> Result<Box<dyn Read + Send>> {
        self.inner
            .open_layer(layer)
            .map_err(|e| Error::new(e.step, &self.target, e.cause))
    }
    fn origin(&self) -> Option<Origin> {
        Some(self.origin.clone())
    }
}

/// A small HTTP client for one daemon (callers are synchronous; see [`Client::block`]).
struct Client {
    http: reqwest::Client,
    base: String,
    ep: Endpoint,
}

impl Client {
    fn new(ep: &Endpoint, opts: &SourceOptions) -> std::result::Result<Client, String> {
        let b = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(opts.timeout)
            .no_proxy();
        let (b, base) = match ep {
            Endpoint::Unix(p) => (b.unix_socket(p.as_path()), "http://localhost".to_string()),
            Endpoint::Tcp(h) => (b, format!("http://{h}")),
        };
        let http = b
            .build()
            .map_err(|e| format!("building the daemon client: {e}"))?;
        Ok(Client {
            http,
            base,
            ep: ep.clone(),
        })
    }

    /// Run `f` on a runtime made, used and dropped on a plain thread, so a caller inside
    /// another runtime is not hurt.
    fn block<T: Send>(
        &self,
        f: impl std::future::Future<Output = std::result::Result<T, Miss>> + Send,
    ) -> std::result::Result<T, Miss> {
        let internal = |c: String| Miss::Failed(Error::new(Step::Opening, "a local daemon", c));
        std::thread::scope(|s| {
            s.spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| internal(format!("starting the daemon client runtime: {e}")))?
                    .block_on(f)
            })
            .join()
            .unwrap_or_else(|_| {
                Err(internal(
                    "internal error: daemon client thread panicked".into(),
                ))
            })
        })
    }

    /// Look the image up, then stream `docker save` of it into a capped spool file.
    fn fetch(
        &self,
        daemon: Daemon,
        name: &str,
        target: &str,
        opts: &SourceOptions,
    ) -> std::result::Result<tempfile::NamedTempFile, Miss> {
        let who = format!("the {} daemon at {}", daemon.scheme(), self.ep);
        let fail = |step: Step, c: String| Miss::Failed(Error::new(step, target, c));
        let limits = &opts.limits;
        self.block(async {
            let url = format!("{}/images/{name}/json", self.base);
            let resp = self.http.get(&url).send().await.map_err(|e| {
                Miss::Down(format!("{who} did not answer: {}", error_chain(&e)))
            })?;
            let status = resp.status();
            if status == reqwest::StatusCode::NOT_FOUND {
                return Err(Miss::NotHere(format!("{who} has no image {name}")));
            }
            let body = read_capped(resp, limits.json_bytes)
                .await
                .map_err(|e| fail(Step::Opening, format!("{who}: GET /images/{name}/json: {e}")))?;
            if !status.is_success() {
                return Err(fail(
                    Step::Opening,
                    format!(
                        "{who}: GET /images/{name}/json answered {status}: {}",
                        printable(&String::from_utf8_lossy(&body[..body.len().min(300)]))
                    ),
                ));
            }
            let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
                fail(Step::Opening, format!("{who}: GET /images/{name}/json is not JSON: {e}"))
            })?;
            if v.get("Id").and_then(|i| i.as_str()).is_none() {
                return Err(fail(
                    Step::Opening,
                    format!("{who}: GET /images/{name}/json has no Id"),
                ));
            }

            let url = format!("{}/images/{name}/get", self.base);
            let mut resp = self.http.get(&url).send().await.map_err(|e| {
                fail(Step::Pulling, format!("{who}: GET /images/{name}/get: {}", error_chain(&e)))
            })?;
            if !resp.status().is_success() {
                return Err(fail(
                    Step::Pulling,
                    format!("{who}: GET /images/{name}/get answered {}", resp.status()),
                ));
            }
            let mut spool = tempfile::Builder::new()
                .prefix("imgscan-daemon-")
                .suffix(".tar")
                .tempfile()
                .map_err(|e| fail(Step::Pulling, format!("creating the spool file in $TMPDIR: {e}")))?;
            let cap = limits.image_bytes;
            let mut written: u64 = 0;
            loop {
                let chunk = resp.chunk().await.map_err(|e| {
                    fail(
                        Step::Pulling,
                        format!("{who}: reading GET /images/{name}/get: {}", error_chain(&e)),
                    )
                })?;
                let Some(chunk) = chunk else { break };
                written += chunk.len() as u64;
                if written > cap {
                    return Err(fail(
                        Step::Pulling,
                        format!(
                            "the archive {who} sends for {name} is larger than the {cap}-byte limit (raise with {} N)",
                            crate::limits::LimitKind::ImageBytes.flag()
                        ),
                    ));
                }
                spool
                    .write_all(&chunk)
                    .map_err(|e| fail(Step::Pulling, format!("writing the spool file: {e}")))?;
            }
            spool
                .flush()
                .map_err(|e| fail(Step::Pulling, format!("writing the spool file: {e}")))?;
            Ok(spool)
        })
    }
}

/// A response body, at most `max` bytes.
async fn read_capped(
    mut resp: reqwest::Response,
    max: u64,
) -> std::result::Result<Vec<u8>, String> {
    let mut out = Vec::new();
    while let Some(c) = resp.chunk().await.map_err(|e| error_chain(&e))? {
        if (out.len() + c.len()) as u64 > max {
            return Err(format!(
                "more than {max} bytes (raise with {} N)",
                crate::limits::LimitKind::JsonBytes.flag()
            ));
        }
        out.extend_from_slice(&c);
    }
    Ok(out)
}

/// A daemon's message with control characters blanked (it ends up on a terminal).
pub(super) fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

/// An error with its causes (`error sending request: connection refused`).
pub(super) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = c.source();
    }
    s
}

/// Open an unprefixed reference from the `--image-src` list: the first source that has it.
pub(crate) fn open_first(reference: &Reference, opts: &SourceOptions) -> Result<Vec<OpenedImage>> {
    let mut misses: Vec<String> = Vec::new();
    for src in &opts.image_src {
        let daemon = match src {
            ImageSrc::Remote => return super::registry::open(reference, opts),
            ImageSrc::Docker => Daemon::Docker,
            ImageSrc::Podman => Daemon::Podman,
            ImageSrc::Containerd => Daemon::Containerd,
        };
        match open(daemon, reference, opts) {
            Ok(images) => return Ok(images),
            Err(Miss::NotHere(why) | Miss::Down(why)) => misses.push(why),
            Err(Miss::Failed(e)) => return Err(e),
        }
    }
    Err(Error::new(
        Step::Opening,
        reference.to_string(),
        format!(
            "not found in any --image-src ({}){}",
            opts.image_src
                .iter()
                .map(|s| format!("{s:?}").to_lowercase())
                .collect::<Vec<_>>()
                .join(","),
            if misses.is_empty() {
                String::new()
            } else {
                format!(": {}", misses.join("; "))
            }
        ),
    ))
}

/// Open `docker:NAME` / `podman:NAME` / `containerd:NAME`: that daemon only, every miss an
/// error.
pub(crate) fn open_explicit(
    daemon: Daemon,
    reference: &Reference,
    opts: &SourceOptions,
) -> Result<Vec<OpenedImage>> {
    let target = format!("{}:{reference}", daemon.scheme());
    match open(daemon, reference, opts) {
        Ok(i) => Ok(i),
        Err(Miss::NotHere(why)) => Err(Error::new(Step::Opening, target, why)),
        Err(Miss::Down(why)) => Err(Error::new(
            Step::Opening,
            target,
            format!(
                "{why} (is it running? point at it with {})",
                match daemon {
                    Daemon::Docker => "--docker-host or DOCKER_HOST",
                    Daemon::Podman => "--podman-host or CONTAINER_HOST (`podman system service`)",
                    Daemon::Containerd => "--containerd-address or CONTAINERD_ADDRESS",
                }
            ),
        )),
        Err(Miss::Failed(e)) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(
            Endpoint::parse("unix:///run/x.sock").unwrap(),
            Endpoint::Unix("/run/x.sock".into())
        );
        assert_eq!(
            Endpoint::parse("tcp://127.0.0.1:2375").unwrap(),
            Endpoint::Tcp("127.0.0.1:2375".into())
        );
        assert!(Endpoint::parse("ssh://me@host")
            .unwrap_err()
            .contains("unix://"));
        assert_eq!(
            Endpoint::resolve(Daemon::Docker, Some("unix:///a")).unwrap(),
            Endpoint::Unix("/a".into())
        );
        assert_eq!(
            Endpoint::resolve(Daemon::Containerd, Some("/run/k3s/containerd.sock")).unwrap(),
            Endpoint::Unix("/run/k3s/containerd.sock".into())
        );
        assert!(
            Endpoint::resolve(Daemon::Containerd, Some("tcp://127.0.0.1:1"))
                .unwrap_err()
                .contains("unix socket")
        );
    }

    #[test]
    fn names_asked_for() {
        let n = |s: &str| lookup_name(&Reference::parse(s).unwrap());
        assert_eq!(n("myapp"), "myapp:latest");
        assert_eq!(n("team/app:1"), "team/app:1");
        assert_eq!(n("localhost/app:1"), "localhost/app:1");
        assert_eq!(n("127.0.0.1:5000/a/b:2"), "127.0.0.1:5000/a/b:2");
    }
}
