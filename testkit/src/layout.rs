//! OCI image layouts written to disk: blobs, image manifests, image indexes (multi-arch),
//! `index.json` with ref names (tags), removed or tampered blobs for hostile fixtures;
//! a layout as an oci-archive (a tar of it) or a docker-archive (through `skopeo copy`,
//! so it is what `docker save` writes).

use crate::image::{manifest_json, Desc, ImageSpec, OCI_INDEX, OCI_MANIFEST};
use crate::layer::{Comp, Layer};
use crate::{entries::Ent, sha256};
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

/// Store `bytes` under `layout/blobs/sha256/` (created when missing); returns the digest.
pub fn put_blob(layout: &Path, bytes: &[u8]) -> String {
    let d = sha256(bytes);
    let dir = layout.join("blobs/sha256");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    write(&dir.join(d.strip_prefix("sha256:").unwrap()), bytes);
    d
}

/// An OCI image layout directory being written. `index.json` is rewritten on each change.
pub struct Layout {
    pub dir: PathBuf,
    index: Vec<Value>,
}

impl Layout {
    /// Start a layout at `dir` (created; blobs already there are kept) with an empty
    /// `index.json`.
    pub fn new(dir: &Path) -> Layout {
        let blobs = dir.join("blobs/sha256");
        std::fs::create_dir_all(&blobs)
            .unwrap_or_else(|e| panic!("creating {}: {e}", blobs.display()));
        write(
            &dir.join("oci-layout"),
            br#"{"imageLayoutVersion":"1.0.0"}"#,
        );
        let l = Layout {
            dir: dir.to_path_buf(),
            index: vec![],
        };
        l.write_index();
        l
    }

    fn write_index(&self) {
        let idx = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": self.index});
        write(
            &self.dir.join("index.json"),
            &serde_json::to_vec_pretty(&idx).unwrap(),
        );
    }

    /// Store a blob; returns its digest.
    pub fn add_blob(&self, bytes: &[u8]) -> String {
        put_blob(&self.dir, bytes)
    }

    /// Store an image's layers, config and manifest; returns the manifest descriptor
    /// (not yet listed in index.json).
    pub fn add_image(&self, spec: &ImageSpec) -> Desc {
        let cfg = spec.config_json();
        let cfg_d = self.add_blob(&cfg);
        let layers: Vec<(String, usize)> = spec
            .layers
            .iter()
            .map(|l| (self.add_blob(&l.blob), l.blob.len()))
            .collect();
        let refs: Vec<(&str, &str, usize)> = spec
            .layers
            .iter()
            .zip(&layers)
            .map(|(l, (d, n))| (l.media_type.as_str(), d.as_str(), *n))
            .collect();
        let mb = manifest_json(&cfg_d, cfg.len(), &refs);
        Desc {
            media_type: OCI_MANIFEST.into(),
            digest: self.add_blob(&mb),
            size: mb.len() as u64,
            platform: Some((spec.os.clone(), spec.arch.clone(), spec.variant.clone())),
        }
    }

    /// Store an image index over `manifests`; returns its descriptor.
    pub fn add_index(&self, manifests: &[Desc]) -> Desc {
        let idx = json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": manifests.iter().map(|d| d.to_json(None)).collect::<Vec<_>>(),
        });
        let b = serde_json::to_vec(&idx).unwrap();
        Desc {
            media_type: OCI_INDEX.into(),
            digest: self.add_blob(&b),
            size: b.len() as u64,
            platform: None,
        }
    }

    /// List `desc` in index.json, optionally under a ref name (tag).
    pub fn list(&mut self, desc: &Desc, ref_name: Option<&str>) {
        self.index.push(desc.to_json(ref_name));
        self.write_index();
    }

    /// Remove a blob (hostile fixtures: a manifest listing a missing layer).
    pub fn remove_blob(&self, digest: &str) {
        let hexpart = digest.strip_prefix("sha256:").unwrap();
        std::fs::remove_file(self.dir.join("blobs/sha256").join(hexpart)).unwrap();
    }

    /// Overwrite a blob's bytes without changing its name (digest mismatch fixtures).
    pub fn tamper_blob(&self, digest: &str, bytes: &[u8]) {
        let hexpart = digest.strip_prefix("sha256:").unwrap();
        write(&self.dir.join("blobs/sha256").join(hexpart), bytes);
    }
}

/// An OCI layout with a single image tagged `tag`; returns the manifest descriptor.
pub fn single_image_layout(dir: &Path, spec: &ImageSpec, tag: &str) -> Desc {
    let mut l = Layout::new(dir);
    let d = l.add_image(spec);
    l.list(&d, Some(tag));
    d
}

/// A layout with a multi-arch index (linux/amd64, linux/arm64/v8) tagged `tag`.
/// Returns (index descriptor, amd64 manifest, arm64 manifest).
pub fn multi_arch_layout(dir: &Path, tag: &str) -> (Desc, Desc, Desc) {
    let mut l = Layout::new(dir);
    let amd = ImageSpec::new(vec![Layer::new(&[Ent::file("arch", b"amd64")], Comp::Gzip)]);
    let arm = ImageSpec::new(vec![Layer::new(&[Ent::file("arch", b"arm64")], Comp::Zstd)])
        .platform("linux", "arm64", Some("v8"));
    let a = l.add_image(&amd);
    let b = l.add_image(&arm);
    let idx = l.add_index(&[a.clone(), b.clone()]);
    l.list(&idx, Some(tag));
    (idx, a, b)
}

/// oci-archive: a tar of the layout directory (members relative to its root).
pub fn oci_archive(layout_dir: &Path, out: &Path) {
    let f =
        std::fs::File::create(out).unwrap_or_else(|e| panic!("creating {}: {e}", out.display()));
    let mut b = tar::Builder::new(f);
    b.mode(tar::HeaderMode::Deterministic);
    b.append_dir_all(".", layout_dir).unwrap();
    b.into_inner().unwrap().flush().unwrap();
}

/// docker-archive written by `skopeo copy oci:DIR:tag docker-archive:OUT:name` — what
/// Docker writes. Panics with skopeo's stderr on failure.
pub fn docker_archive(layout_dir: &Path, tag: &str, out: &Path, name: &str) {
    let _ = std::fs::remove_file(out);
    let o = std::process::Command::new("skopeo")
        .args(["--insecure-policy", "copy", "-q"])
        .arg(format!("oci:{}:{tag}", layout_dir.display()))
        .arg(format!("docker-archive:{}:{name}", out.display()))
        .output()
        .expect("running skopeo (Debian package `skopeo`)");
    assert!(
        o.status.success(),
        "skopeo copy failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}
