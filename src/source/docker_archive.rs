//! docker-archive: what `docker save` (and `skopeo copy ... docker-archive:`) writes. A
//! tar with `manifest.json` (`[{Config, RepoTags, Layers}]`), the image config named by
//! `Config`, and one member per layer (plain tar or compressed; sniffed).
//!
//! A docker-archive has no manifest blob, so [`Image::manifest_digest`] is the sha256 of
//! the config JSON (the image ID, as `docker images --digests` would not show it either)
//! and `PATH@digest` selects by that config digest. Layer digests: a member named
//! `blobs/sha256/<hex>` (Docker 25+) carries its digest in the name; an uncompressed layer
//! is checked against the config's `rootfs.diff_ids`; otherwise the member is hashed once
//! at open time so every layer is still digest-verified as it streams.

use super::config::parse_config;
use super::local::{verify, LocalLayers, Store};
use super::{OpenedImage, SourceOptions};
use crate::digest::sha256_digest;
use crate::error::{Error, Result, Step};
use crate::image::{Image, LayerInfo};
use crate::layers::Compression;
use crate::reference::{valid_digest, Selector};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug, Deserialize)]
struct Entry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

fn tag_matches(full: &str, t: &str) -> bool {
    if full == t {
        return true;
    }
    let tag = full
        .rsplit_once(':')
        .filter(|(_, tag)| !tag.contains('/'))
        .map(|(_, tag)| tag);
    if tag == Some(t) {
        return true;
    }
    // Same image under a different spelling (`nginx:1` vs `docker.io/library/nginx:1`).
    match (
        crate::reference::Reference::parse(full),
        crate::reference::Reference::parse(t),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// `blobs/sha256/<hex>` or `<hex>.json` / `<hex>.tar` / `<hex>/layer.tar` → digest, when
/// the name is a content address.
fn digest_from_name(name: &str) -> Option<String> {
    if let Some(rest) = name.strip_prefix("blobs/") {
        let d = rest.replacen('/', ":", 1);
        return valid_digest(&d).then_some(d);
    }
    None
}

pub(crate) fn open(
    store: Arc<Store>,
    target: &str,
    select: Option<&Selector>,
    opts: &SourceOptions,
) -> Result<Vec<OpenedImage>> {
    let limits = &opts.limits;
    let err = |step: Step, c: String| Error::new(step, target, c);
    let mbytes = store
        .read_small("manifest.json", limits.json_bytes)
        .map_err(|e| err(Step::ReadingManifest, e))?;
    let entries: Vec<Entry> = serde_json::from_slice(&mbytes).map_err(|e| {
        err(
            Step::ReadingManifest,
            format!("manifest.json is not a docker-save manifest: {e}"),
        )
    })?;
    if entries.is_empty() {
        return Err(err(
            Step::ReadingManifest,
            "manifest.json lists no images".into(),
        ));
    }
    let describe = |e: &Entry| -> String {
        let tags = e.repo_tags.clone().unwrap_or_default();
        if tags.is_empty() {
            e.config.clone()
        } else {
            format!("{} ({})", tags.join(", "), e.config)
        }
    };
    let all = || entries.iter().map(describe).collect::<Vec<_>>().join("; ");
    let chosen: &Entry = match select {
        Some(Selector::Tag(t)) => entries
            .iter()
            .find(|e| {
                e.repo_tags
                    .iter()
                    .flatten()
                    .any(|full| tag_matches(full, t))
            })
            .ok_or_else(|| {
                err(
                    Step::Opening,
                    format!("no image tagged {t:?}; the archive holds: {}", all()),
                )
            })?,
        Some(Selector::Digest(d)) => {
            let mut found = None;
            for e in &entries {
                let cd = match digest_from_name(&e.config) {
                    Some(cd) => cd,
                    None => sha256_digest(
                        &store
                            .read_small(&e.config, limits.json_bytes)
                            .map_err(|c| err(Step::ReadingConfig, c))?,
                    ),
                };
                if &cd == d {
                    found = Some(e);
                    break;
                }
            }
            found.ok_or_else(|| {
                err(
                    Step::Opening,
                    format!(
                        "no image whose config digest is {d} (a docker-archive has no manifest \
                         blob; PATH@digest selects by config digest); the archive holds: {}",
                        all()
                    ),
                )
            })?
        }
        None if entries.len() > 1 => {
            return Err(err(
                Step::Opening,
                format!(
                    "it holds {} images; pick one with PATH:tag or PATH@digest: {}",
                    entries.len(),
                    all()
                ),
            ))
        }
        None => &entries[0],
    };

    let cbytes = store
        .read_small(&chosen.config, limits.json_bytes)
        .map_err(|e| err(Step::ReadingConfig, e))?;
    let config_digest = sha256_digest(&cbytes);
    if let Some(d) = digest_from_name(&chosen.config) {
        verify("config", &d, &cbytes).map_err(|e| err(Step::ReadingConfig, e))?;
    }
    let (config, platform) = parse_config(&cbytes)
        .map_err(|e| err(Step::ReadingConfig, format!("{}: {e}", chosen.config)))?;

    let mut layers = Vec::new();
    let mut names = HashMap::new();
    for (i, name) in chosen.layers.iter().enumerate() {
        if !store.has(name) {
            return Err(err(
                Step::ReadingManifest,
                format!("layer {name} listed in the manifest is missing from the archive"),
            ));
        }
        let head = store
            .head(name, 4)
            .map_err(|e| err(Step::ReadingLayer, format!("layer {name}: {e}")))?;
        let compression = Compression::sniff(&head);
        let digest = match digest_from_name(name) {
            Some(d) => d,
            None => match (compression, config.diff_ids.get(i)) {
                (Compression::None, Some(d)) if valid_digest(d) => d.clone(),
                _ => store
                    .hash(name, limits.blob_bytes)
                    .map_err(|e| err(Step::ReadingLayer, e))?,
            },
        };
        let media_type = match compression {
            Compression::Gzip => "application/vnd.docker.image.rootfs.diff.tar.gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
            Compression::None => "application/vnd.docker.image.rootfs.diff.tar",
        };
        let size = store.open(name).ok().flatten().map(|(_, s)| s).unwrap_or(0);
        names.insert(digest.clone(), name.clone());
        layers.push(LayerInfo {
            index: i,
            digest,
            media_type: media_type.to_string(),
            size,
        });
    }
    let reference = match (select, chosen.repo_tags.as_ref().and_then(|t| t.first())) {
        (None, Some(tag)) => format!("{target}:{tag}"),
        _ => target.to_string(),
    };
    let image = Image {
        reference,
        manifest_digest: config_digest.clone(),
        config_digest,
        platform,
        config,
        layers,
        names: chosen.repo_tags.clone().unwrap_or_default(),
        notes: Vec::new(),
    };
    Ok(vec![OpenedImage {
        image,
        layers: Arc::new(LocalLayers {
            store,
            target: target.to_string(),
            names,
            blob_bytes: limits.blob_bytes,
        }),
    }])
}
