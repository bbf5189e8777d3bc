//! The one-layer image the registry tests push with skopeo and serve from the fault
//! server: its manifest, config and layer bytes kept in memory beside the layout, a
//! config with every field a pull must report (entrypoint, cmd and env naming the
//! architecture, user, workdir, ports, a label, history with an empty layer and a
//! comment), `index.json` naming one image or a nested multi-arch index, and an
//! attestation-style manifest for such indexes.

use crate::entries::Ent;
use crate::image::{manifest_json, Desc, OCI_MANIFEST};
use crate::layer::{Comp, Layer};
use crate::layout::{put_blob, Layout};
use serde_json::Value;
use std::path::Path;

/// One image written into an OCI layout.
#[derive(Debug, Clone)]
pub struct ImageFixture {
    pub manifest: Vec<u8>,
    pub manifest_digest: String,
    pub config: Vec<u8>,
    pub config_digest: String,
    pub layer_digest: String,
    pub layer_blob: Vec<u8>,
    pub platform: (String, String),
}

impl ImageFixture {
    /// Its manifest descriptor, with the platform when `with_platform`.
    pub fn desc(&self, with_platform: bool) -> Desc {
        Desc {
            media_type: OCI_MANIFEST.into(),
            digest: self.manifest_digest.clone(),
            size: self.manifest.len() as u64,
            platform: with_platform
                .then(|| (self.platform.0.clone(), self.platform.1.clone(), None)),
        }
    }
}

/// Write one image (config + one gzip layer of `files`, mode 0755 + manifest) into the
/// layout at `layout` and return it; the layout's `index.json` is written by
/// [`write_index`].
pub fn write_image(layout: &Path, files: &[(&str, &[u8])], os: &str, arch: &str) -> ImageFixture {
    let entries: Vec<Ent> = files.iter().map(|(p, d)| Ent::exe(p, d)).collect();
    let layer = Layer::new(&entries, Comp::Gzip);
    let layer_digest = put_blob(layout, &layer.blob);
    let config = serde_json::json!({
        "architecture": arch,
        "os": os,
        "created": "2024-01-02T03:04:05Z",
        "config": {
            "Entrypoint": ["/bin/app"],
            "Cmd": ["--serve", arch],
            "Env": ["PATH=/usr/bin:/bin", format!("ARCH={arch}")],
            "User": "1000:1000",
            "WorkingDir": "/srv",
            "ExposedPorts": {"8080/tcp": {}, "53/udp": {}},
            "Labels": {"org.opencontainers.image.title": "imgscan-fixture"}
        },
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]},
        "history": [
            {"created": "2024-01-02T03:04:05Z", "created_by": "/bin/sh -c #(nop) ADD file:app in /bin/app"},
            {"created": "2024-01-02T03:04:05Z", "created_by": "/bin/sh -c #(nop) CMD [\"--serve\"]", "empty_layer": true, "comment": "no layer"}
        ]
    });
    let config = serde_json::to_vec(&config).unwrap();
    let config_digest = put_blob(layout, &config);
    let manifest = manifest_json(
        &config_digest,
        config.len(),
        &[(&layer.media_type, &layer_digest, layer.blob.len())],
    );
    let manifest_digest = put_blob(layout, &manifest);
    ImageFixture {
        manifest,
        manifest_digest,
        config,
        config_digest,
        layer_digest,
        layer_blob: layer.blob,
        platform: (os.into(), arch.into()),
    }
}

/// Write `index.json` + `oci-layout`: `tag` names one image directly, or (with several
/// images) a nested image index holding all of them, like a multi-arch build; returns
/// that nested index's descriptor.
pub fn write_index(layout: &Path, tag: &str, images: &[&ImageFixture]) -> Option<Desc> {
    let mut l = Layout::new(layout);
    if let [one] = images {
        l.list(&one.desc(false), Some(tag));
        return None;
    }
    let list: Vec<Desc> = images.iter().map(|i| i.desc(true)).collect();
    let idx = l.add_index(&list);
    l.list(&idx, Some(tag));
    Some(idx)
}

/// An attestation-style manifest (`unknown/unknown` platform in an index) and its
/// descriptor as an index lists it.
pub fn attestation_descriptor(layout: &Path) -> (ImageFixture, Value) {
    let img = write_image(layout, &[("attestation.json", b"{}")], "unknown", "unknown");
    let mut d = img.desc(true).to_json(None);
    d["annotations"] = serde_json::json!({"vnd.docker.reference.type": "attestation-manifest"});
    (img, d)
}
