//! OCI image layouts (a directory, or an oci-archive: a tar of one): `oci-layout`,
//! `index.json`, `blobs/<alg>/<hex>`. Nested indexes are followed; a multi-arch index
//! yields the requested platform (or all with `all_platforms`); `PATH:tag` matches the
//! `org.opencontainers.image.ref.name` annotation, `PATH@digest` a manifest or index digest.

use super::config::parse_config;
use super::local::{blob_path, classify_media_type, LocalLayers, MediaClass, Store};
use super::{OpenedImage, SourceOptions};
use crate::error::{Error, Result, Step};
use crate::image::{Image, LayerInfo, Platform};
use crate::reference::Selector;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

pub(crate) const REF_NAME: &str = "org.opencontainers.image.ref.name";
const CONTAINERD_NAME: &str = "io.containerd.image.name";
const MAX_INDEX_DEPTH: usize = 8;

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct PlatformJson {
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub variant: Option<String>,
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

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub digest: String,
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub platform: Option<PlatformJson>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct IndexJson {
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
}

#[derive(Debug, Deserialize)]
struct ManifestJson {
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

fn is_index(mt: &str) -> bool {
    mt == "application/vnd.oci.image.index.v1+json"
        || mt == "application/vnd.docker.distribution.manifest.list.v2+json"
}

/// A manifest to read, with what the index said about it.
#[derive(Debug, Clone)]
struct Candidate {
    desc: Descriptor,
    platform: Option<Platform>,
    /// The name annotation on it or on the index entry that led to it.
    name: Option<String>,
}

fn ref_name(d: &Descriptor) -> Option<&str> {
    d.annotations
        .get(REF_NAME)
        .or_else(|| d.annotations.get(CONTAINERD_NAME))
        .map(String::as_str)
}

/// `name` matches tag `t` in full, or by its tag part (`docker.io/x/y:1.0` ~ `1.0`).
fn tag_matches(name: &str, t: &str) -> bool {
    name == t
        || name
            .rsplit_once(':')
            .is_some_and(|(_, tag)| !tag.contains('/') && tag == t)
}

fn is_attestation(d: &Descriptor) -> bool {
    d.annotations
        .get("vnd.docker.reference.type")
        .is_some_and(|v| v == "attestation-manifest")
        || d.platform
            .as_ref()
            .is_some_and(|p| p.os == "unknown" && p.architecture == "unknown")
}

struct Ctx<'a> {
    store: &'a Store,
    target: &'a str,
    json_bytes: u64,
}

impl Ctx<'_> {
    fn err(&self, step: Step, cause: impl std::fmt::Display) -> Error {
        Error::new(step, self.target, cause)
    }

    fn read_index(&self, d: &Descriptor) -> Result<Vec<Descriptor>> {
        let bytes = self
            .store
            .read_blob_json("index", &d.digest, self.json_bytes)
            .map_err(|e| self.err(Step::ReadingManifest, e))?;
        let idx: IndexJson = serde_json::from_slice(&bytes).map_err(|e| {
            self.err(
                Step::ReadingManifest,
                format!("index {} is not a JSON image index: {e}", d.digest),
            )
        })?;
        Ok(idx.manifests.unwrap_or_default())
    }

    /// Expand descriptors into manifests, following nested indexes.
    fn expand(
        &self,
        ds: &[Descriptor],
        depth: usize,
        parent: Option<&str>,
        out: &mut Vec<Candidate>,
    ) -> Result<()> {
        if depth > MAX_INDEX_DEPTH {
            return Err(self.err(
                Step::ReadingManifest,
                format!("image indexes nested more than {MAX_INDEX_DEPTH} deep"),
            ));
        }
        for d in ds {
            if is_attestation(d) {
                continue;
            }
            let name = ref_name(d).or(parent);
            if is_index(&d.media_type) {
                let inner = self.read_index(d)?;
                self.expand(&inner, depth + 1, name, out)?;
            } else {
                out.push(Candidate {
                    desc: d.clone(),
                    platform: d.platform.as_ref().map(PlatformJson::to_platform),
                    name: name.map(str::to_string),
                });
            }
        }
        Ok(())
    }

    /// Find a descriptor by digest at any depth.
    fn find_digest(
        &self,
        ds: &[Descriptor],
        digest: &str,
        depth: usize,
    ) -> Result<Option<Descriptor>> {
        if depth > MAX_INDEX_DEPTH {
            return Ok(None);
        }
        for d in ds {
            if d.digest == digest {
                return Ok(Some(d.clone()));
            }
        }
        for d in ds {
            if is_index(&d.media_type) {
                let inner = self.read_index(d)?;
                if let Some(found) = self.find_digest(&inner, digest, depth + 1)? {
                    return Ok(Some(found));
                }
            }
        }
        Ok(None)
    }
}

fn choices(ds: &[Descriptor]) -> String {
    ds.iter()
        .map(|d| match ref_name(d) {
            Some(n) => format!("{n} ({})", d.digest),
            None => d.digest.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Platform match: os and architecture equal; variant equal when requested.
fn platform_matches(want: &Platform, have: &Platform) -> bool {
    want.os == have.os
        && want.architecture == have.architecture
        && (want.variant.is_none() || want.variant == have.variant)
}

pub(crate) fn open(
    store: Arc<Store>,
    target: &str,
    select: Option<&Selector>,
    opts: &SourceOptions,
) -> Result<Vec<OpenedImage>> {
    let limits = &opts.limits;
    let cx = Ctx {
        store: &store,
        target,
        json_bytes: limits.json_bytes,
    };
    store
        .read_small("oci-layout", limits.json_bytes)
        .map_err(|_| {
            cx.err(
                Step::Opening,
                "not an OCI image layout: the `oci-layout` file is missing",
            )
        })?;
    let index_bytes = store
        .read_small("index.json", limits.json_bytes)
        .map_err(|e| cx.err(Step::ReadingManifest, e))?;
    let index: IndexJson = serde_json::from_slice(&index_bytes).map_err(|e| {
        cx.err(
            Step::ReadingManifest,
            format!("index.json is not a JSON image index: {e}"),
        )
    })?;
    let top: Vec<Descriptor> = index
        .manifests
        .unwrap_or_default()
        .into_iter()
        .filter(|d| !is_attestation(d))
        .collect();
    if top.is_empty() {
        return Err(cx.err(Step::ReadingManifest, "index.json lists no images"));
    }

    let chosen: Vec<Descriptor> = match select {
        Some(Selector::Tag(t)) => {
            let hits: Vec<Descriptor> = top
                .iter()
                .filter(|d| ref_name(d).is_some_and(|n| tag_matches(n, t)))
                .cloned()
                .collect();
            if hits.is_empty() {
                return Err(cx.err(
                    Step::Opening,
                    format!("no image tagged {t:?}; the layout holds: {}", choices(&top)),
                ));
            }
            hits
        }
        Some(Selector::Digest(d)) => match cx.find_digest(&top, d, 0)? {
            Some(found) => vec![found],
            None => {
                return Err(cx.err(
                    Step::Opening,
                    format!(
                        "no manifest or index {d}; the layout holds: {}",
                        choices(&top)
                    ),
                ))
            }
        },
        None => {
            let names: std::collections::BTreeSet<Option<&str>> =
                top.iter().map(ref_name).collect();
            let all_platform_manifests = top
                .iter()
                .all(|d| d.platform.is_some() && !is_index(&d.media_type));
            if top.len() > 1 && !(names.len() == 1 && all_platform_manifests) {
                return Err(cx.err(
                    Step::Opening,
                    format!(
                        "it holds {} images; pick one with PATH:tag or PATH@digest: {}",
                        top.len(),
                        choices(&top)
                    ),
                ));
            }
            top.clone()
        }
    };

    let mut cands = Vec::new();
    cx.expand(&chosen, 0, None, &mut cands)?;
    let picked: Vec<Candidate> = if cands.len() <= 1 || opts.all_platforms {
        cands
    } else {
        let m: Vec<Candidate> = cands
            .iter()
            .filter(|c| {
                c.platform
                    .as_ref()
                    .is_some_and(|p| platform_matches(&opts.platform, p))
            })
            .cloned()
            .collect();
        match m.into_iter().next() {
            Some(c) => vec![c],
            None => {
                let avail: Vec<String> = cands
                    .iter()
                    .map(|c| {
                        c.platform
                            .as_ref()
                            .map(|p| p.to_string())
                            .unwrap_or_else(|| c.desc.digest.clone())
                    })
                    .collect();
                return Err(cx.err(
                    Step::Opening,
                    format!(
                        "no {} image in the index; it has: {} (use --platform or --all-platforms)",
                        opts.platform,
                        avail.join(", ")
                    ),
                ));
            }
        }
    };
    if picked.is_empty() {
        return Err(cx.err(Step::ReadingManifest, "the index lists no image manifests"));
    }
    picked
        .iter()
        .map(|c| open_manifest(&cx, &store, c, opts))
        .collect()
}

fn open_manifest(
    cx: &Ctx<'_>,
    store: &Arc<Store>,
    c: &Candidate,
    opts: &SourceOptions,
) -> Result<OpenedImage> {
    let limits = &opts.limits;
    let mbytes = store
        .read_blob_json("manifest", &c.desc.digest, limits.json_bytes)
        .map_err(|e| cx.err(Step::ReadingManifest, e))?;
    let m: ManifestJson = serde_json::from_slice(&mbytes).map_err(|e| {
        cx.err(
            Step::ReadingManifest,
            format!(
                "manifest {} is not a JSON image manifest: {e}",
                c.desc.digest
            ),
        )
    })?;
    let cbytes = store
        .read_blob_json("config", &m.config.digest, limits.json_bytes)
        .map_err(|e| cx.err(Step::ReadingConfig, e))?;
    let (config, cfg_platform) = parse_config(&cbytes).map_err(|e| {
        cx.err(
            Step::ReadingConfig,
            format!("config {}: {e}", m.config.digest),
        )
    })?;
    let mut notes = Vec::new();
    let mut layers = Vec::new();
    let where_ = store.kind();
    for d in &m.layers {
        match classify_media_type(&d.media_type) {
            MediaClass::NotLayer => {
                notes.push(format!(
                    "skipped blob {} of media type {}: not a filesystem layer",
                    d.digest, d.media_type
                ));
                continue;
            }
            MediaClass::Unknown => notes.push(format!(
                "layer {} has an unknown media type {:?}; read as a layer with its \
                 compression sniffed from the bytes",
                d.digest, d.media_type
            )),
            MediaClass::Layer => {}
        }
        let present = blob_path(&d.digest).is_some_and(|p| store.has(&p));
        if !present {
            return Err(cx.err(
                Step::ReadingManifest,
                format!(
                    "layer {} listed in the manifest is missing from the {where_}",
                    d.digest
                ),
            ));
        }
        layers.push(LayerInfo {
            index: layers.len(),
            digest: d.digest.clone(),
            media_type: d.media_type.clone(),
            size: d.size,
        });
    }
    let platform = if cfg_platform.os.is_empty() || cfg_platform.architecture.is_empty() {
        c.platform.clone().unwrap_or(cfg_platform)
    } else {
        cfg_platform
    };
    let image = Image {
        reference: cx.target.to_string(),
        manifest_digest: c.desc.digest.clone(),
        config_digest: m.config.digest.clone(),
        platform,
        config,
        layers,
        // A bare tag (`latest`, what skopeo writes for `oci:DIR:tag`) names nothing.
        names: c.name.iter().filter(|n| n.contains('/')).cloned().collect(),
        notes,
    };
    Ok(OpenedImage {
        image,
        layers: Arc::new(LocalLayers {
            store: store.clone(),
            target: cx.target.to_string(),
            names: HashMap::new(),
            blob_bytes: limits.blob_bytes,
        }),
    })
}
