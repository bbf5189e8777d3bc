//! Image sources: turn a [`Target`] into [`OpenedImage`]s (one per platform) whose
//! layers can be streamed. Every blob is checked against its digest while it streams.
//!
//! Owns: target dispatch, the [`LayerSource`] contract, the options shared by sources.
//! Registry pulls live in `registry.rs`, local archives and layouts in their own files.

use crate::error::Result;
use crate::image::{Image, LayerInfo, Platform};
use crate::limits::Limits;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How to reach and choose images.
#[derive(Debug, Clone)]
pub struct SourceOptions {
    /// Platform to pick from a multi-arch index (default `linux/amd64`).
    pub platform: Platform,
    /// Walk every platform of an index instead of one.
    pub all_platforms: bool,
    /// Allow plain HTTP and unverified TLS certificates.
    pub insecure: bool,
    /// Explicit credentials (`--username` with `--password-stdin`).
    pub username: Option<String>,
    pub password: Option<String>,
    /// Docker config to read `auths`/`credHelpers`/`credsStore` from (default
    /// `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`).
    pub docker_config: Option<PathBuf>,
    /// Extra PEM CA certificates to trust (tests use this for a local CA).
    pub ca_certs: Vec<PathBuf>,
    /// Overall time budget for network operations.
    pub timeout: Duration,
    /// `PATH` used to find `docker-credential-*` helpers (default: the process's `PATH`).
    pub credential_helper_path: Option<std::ffi::OsString>,
    pub limits: Limits,
    /// Where an unprefixed reference ([`Target::Registry`]) is looked for, in order
    /// (`--image-src`). The library default is the registry only; the CLI's is
    /// [`daemon::DEFAULT_IMAGE_SRC`].
    pub image_src: Vec<daemon::ImageSrc>,
    /// Docker daemon address (`--docker-host`; else `DOCKER_HOST`, else the usual socket).
    pub docker_host: Option<String>,
    /// Podman API address (`--podman-host`; else `CONTAINER_HOST`, else the usual sockets).
    pub podman_host: Option<String>,
    /// containerd socket (`--containerd-address`; else `CONTAINERD_ADDRESS`, else
    /// `/run/containerd/containerd.sock`).
    pub containerd_address: Option<String>,
    /// containerd namespace (`--containerd-namespace`; else `CONTAINERD_NAMESPACE`, else
    /// `default`; Kubernetes' images are in `k8s.io`).
    pub containerd_namespace: Option<String>,
}

impl Default for SourceOptions {
    fn default() -> Self {
        let limits = Limits::default();
        SourceOptions {
            platform: Platform::default(),
            all_platforms: false,
            insecure: false,
            username: None,
            password: None,
            docker_config: None,
            ca_certs: Vec::new(),
            timeout: Duration::from_secs(limits.timeout_secs),
            credential_helper_path: None,
            limits,
            image_src: vec![daemon::ImageSrc::Remote],
            docker_host: None,
            podman_host: None,
            containerd_address: None,
            containerd_namespace: None,
        }
    }
}

/// Streams layer blobs of one image.
pub trait LayerSource: Send + Sync {
    /// Open the blob of `layer` (compressed bytes as stored). The reader verifies the
    /// blob's digest as it streams and fails with an error naming the expected and
    /// actual digest at EOF on mismatch; it also fails once more than
    /// `limits.blob_bytes` bytes arrive.
    fn open_layer(&self, layer: &LayerInfo) -> Result<Box<dyn Read + Send>>;

    /// The local daemon the image was read from, when it was (reports name it).
    fn origin(&self) -> Option<daemon::Origin> {
        None
    }
}

/// An image whose manifest and config were read and verified; layers not yet read.
#[derive(Clone)]
pub struct OpenedImage {
    pub image: Image,
    pub layers: Arc<dyn LayerSource>,
}

/// The walker reads an opened image through this (it depends on no source).
impl crate::layers::ImageLayers for OpenedImage {
    fn layer_list(&self) -> &[LayerInfo] {
        &self.image.layers
    }
    fn open_blob(&self, layer: &LayerInfo) -> Result<Box<dyn Read + Send>> {
        self.layers.open_layer(layer)
    }
}

impl std::fmt::Debug for OpenedImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedImage")
            .field("image", &self.image)
            .finish_non_exhaustive()
    }
}

pub mod config;
#[cfg(feature = "containerd")]
mod containerd;
pub mod daemon;
mod docker_archive;
pub mod local;
mod oci_layout;
pub mod registry;

use crate::reference::Target;

/// Resolve a target into the images to scan: one, or one per platform with
/// `all_platforms`. Manifests and configs are read and verified here; layers are
/// streamed later through [`OpenedImage::layers`].
pub fn open(target: &Target, opts: &SourceOptions) -> Result<Vec<OpenedImage>> {
    match target {
        Target::Registry(r) if opts.image_src == [daemon::ImageSrc::Remote] => {
            registry::open(r, opts)
        }
        Target::Registry(r) => daemon::open_first(r, opts),
        Target::Daemon { daemon, reference } => daemon::open_explicit(*daemon, reference, opts),
        Target::Local { kind, path, select } => local::open(*kind, path, select.as_ref(), opts),
    }
}

impl SourceOptions {
    /// These options for one command-line target: `registry:NAME` / `docker://NAME` go to
    /// the registry only, whatever `image_src` says.
    pub fn for_input(&self, input: &str) -> SourceOptions {
        let mut o = self.clone();
        if crate::reference::names_registry_explicitly(input) {
            o.image_src = vec![daemon::ImageSrc::Remote];
        }
        o
    }

    /// Where `image` was read from, for the report: `docker` / `podman` / `containerd`
    /// (with the daemon address), `remote`, or the local archive kind.
    pub fn origin_of(image: &OpenedImage, target: &Target) -> (String, Option<String>) {
        if let Some(o) = image.layers.origin() {
            return (o.kind.to_string(), Some(o.at));
        }
        match target {
            Target::Registry(_) => ("remote".into(), None),
            Target::Local { kind, .. } => (kind.scheme().into(), None),
            Target::Daemon { daemon, .. } => (daemon.scheme().into(), None),
        }
    }
}
