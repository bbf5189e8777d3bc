//! The image data model every analyzer consumes: what an image *is* (reference, manifest
//! digest, platform, config, history, layers) and what a layer *contains* (file entries).
//! Sources build an [`Image`]; the layer walker produces [`FileEntry`] values.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `os/arch[/variant]`, e.g. `linux/arm64/v8`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Default for Platform {
    fn default() -> Self {
        Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: None,
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Platform {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split('/').collect();
        let bad = || format!("platform {s:?} is not os/arch[/variant]");
        match parts.as_slice() {
            [os, arch] if !os.is_empty() && !arch.is_empty() => Ok(Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: None,
            }),
            [os, arch, v] if !os.is_empty() && !arch.is_empty() && !v.is_empty() => Ok(Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: Some(v.to_string()),
            }),
            _ => Err(bad()),
        }
    }
}

/// One line of `docker history`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub created_by: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub comment: String,
    /// True when this step produced no layer (ENV, CMD, ...).
    #[serde(default)]
    pub empty_layer: bool,
}

/// The parts of the OCI/Docker image config that matter for detection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfig {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    /// `KEY=value` strings as they appear in the config.
    pub env: Vec<String>,
    pub user: String,
    pub working_dir: String,
    /// `port/proto` keys of `ExposedPorts`.
    pub exposed_ports: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub history: Vec<HistoryEntry>,
    /// `rootfs.diff_ids`: uncompressed layer digests.
    pub diff_ids: Vec<String>,
    pub created: Option<String>,
}

impl ImageConfig {
    /// The value of an environment variable, if set.
    pub fn env_var(&self, key: &str) -> Option<&str> {
        self.env.iter().find_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv.as_str(), ""));
            (k == key).then_some(v)
        })
    }
}

/// A layer as the manifest describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerInfo {
    /// Position in the manifest, 0 = base layer.
    pub index: usize,
    /// Digest of the blob as stored (compressed).
    pub digest: String,
    pub media_type: String,
    /// Size the manifest declares for the blob.
    pub size: u64,
}

/// An image as a source resolved it, before its layers are read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    /// What the user asked for, normalised (`docker.io/library/nginx:latest`,
    /// `docker-archive:/path/x.tar`).
    pub reference: String,
    /// Digest of the manifest that was read (for docker-archive, of the config when
    /// there is no manifest blob).
    pub manifest_digest: String,
    pub config_digest: String,
    pub platform: Platform,
    pub config: ImageConfig,
    pub layers: Vec<LayerInfo>,
    /// Names the source recorded for this image besides the reference: a docker-archive's
    /// `RepoTags`, an OCI layout's name annotation when it is a full name (`a/b:tag`).
    /// The scan judges them as it judges a registry name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    /// Things the source noticed and worked around, for the user (e.g. a manifest entry
    /// skipped because its media type is an attestation, not a filesystem layer).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// What a tar entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    Hardlink,
    CharDevice,
    BlockDevice,
    Fifo,
    Other,
}

/// One entry of one layer, path normalised (no leading `/` or `./`, no `..`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    pub layer: usize,
    pub layer_digest: String,
    pub path: String,
    pub kind: EntryKind,
    pub mode: u32,
    /// Size declared in the tar header.
    pub size: u64,
    /// Target of a symlink or hard link, as written in the layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_target: Option<String>,
    /// Index of the later layer that deletes or replaces this entry; `None` when it is
    /// visible in the final filesystem.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden_by: Option<usize>,
}

impl FileEntry {
    /// Any execute bit set on a regular file.
    pub fn is_executable(&self) -> bool {
        self.kind == EntryKind::File && self.mode & 0o111 != 0
    }
    /// The last path component.
    pub fn basename(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }
}
