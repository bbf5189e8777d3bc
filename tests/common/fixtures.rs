//! Image fixtures built by code: layers from in-memory entries (files with mode, dirs,
//! symlinks, hard links, whiteouts, opaque dirs, raw hostile names), compressed gzip,
//! zstd or not at all; a config with entrypoint/cmd/env/history; written as an OCI layout,
//! an oci-archive (a tar of the layout) or a docker-archive (through `skopeo copy`, so it
//! is what Docker writes); multi-arch indexes.
//!
//! Used from integration tests (`mod common;`) and from `examples/make_fixtures.rs`
//! (through `#[path]`), so it depends only on crates the library already uses.
#![allow(dead_code)]

use flate2::write::GzEncoder;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comp {
    Gzip,
    Zstd,
    None,
}

/// One entry of a layer.
#[derive(Debug, Clone)]
pub enum Ent {
    File {
        path: String,
        mode: u32,
        data: Vec<u8>,
    },
    Dir {
        path: String,
        mode: u32,
    },
    Symlink {
        path: String,
        target: String,
    },
    Hardlink {
        path: String,
        target: String,
    },
    /// Deletes `path` from the layers below (`dir/.wh.name`).
    Whiteout(String),
    /// Makes the directory opaque (`dir/.wh..wh..opq`).
    Opaque(String),
    /// A regular file whose header name is written byte for byte (`../../etc/passwd`,
    /// `/abs/path`), bypassing the tar crate's path checks.
    RawName {
        name: String,
        data: Vec<u8>,
    },
}

impl Ent {
    pub fn file(path: &str, data: &[u8]) -> Ent {
        Ent::File {
            path: path.into(),
            mode: 0o644,
            data: data.to_vec(),
        }
    }
    pub fn exe(path: &str, data: &[u8]) -> Ent {
        Ent::File {
            path: path.into(),
            mode: 0o755,
            data: data.to_vec(),
        }
    }
    pub fn dir(path: &str) -> Ent {
        Ent::Dir {
            path: path.into(),
            mode: 0o755,
        }
    }
    pub fn symlink(path: &str, target: &str) -> Ent {
        Ent::Symlink {
            path: path.into(),
            target: target.into(),
        }
    }
    pub fn hardlink(path: &str, target: &str) -> Ent {
        Ent::Hardlink {
            path: path.into(),
            target: target.into(),
        }
    }
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(1_700_000_000);
    h.set_uid(0);
    h.set_gid(0);
    h
}

/// An uncompressed layer tar of `entries`.
pub fn layer_tar(entries: &[Ent]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        match e {
            Ent::File { path, mode, data } => {
                let mut h = header(tar::EntryType::Regular, *mode, data.len() as u64);
                b.append_data(&mut h, path, &data[..]).unwrap();
            }
            Ent::Dir { path, mode } => {
                let mut h = header(tar::EntryType::Directory, *mode, 0);
                b.append_data(&mut h, path, &[][..]).unwrap();
            }
            Ent::Symlink { path, target } => {
                let mut h = header(tar::EntryType::Symlink, 0o777, 0);
                b.append_link(&mut h, path, target).unwrap();
            }
            Ent::Hardlink { path, target } => {
                let mut h = header(tar::EntryType::Link, 0o644, 0);
                b.append_link(&mut h, path, target).unwrap();
            }
            Ent::Whiteout(path) => {
                let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
                let p = if dir.is_empty() {
                    format!(".wh.{name}")
                } else {
                    format!("{dir}/.wh.{name}")
                };
                let mut h = header(tar::EntryType::Regular, 0o644, 0);
                b.append_data(&mut h, p, &[][..]).unwrap();
            }
            Ent::Opaque(dir) => {
                let mut h = header(tar::EntryType::Regular, 0o644, 0);
                b.append_data(&mut h, format!("{dir}/.wh..wh..opq"), &[][..])
                    .unwrap();
            }
            Ent::RawName { name, data } => {
                let mut h = header(tar::EntryType::Regular, 0o644, data.len() as u64);
                let gnu = h.as_gnu_mut().unwrap();
                gnu.name = [0; 100];
                gnu.name[..name.len()].copy_from_slice(name.as_bytes());
                h.set_cksum();
                b.append(&h, &data[..]).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

pub fn compress(data: &[u8], c: Comp) -> Vec<u8> {
    match c {
        Comp::None => data.to_vec(),
        Comp::Gzip => {
            let mut e = GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        Comp::Zstd => zstd::encode_all(data, 3).unwrap(),
    }
}

/// A layer blob as stored, with its media type and diff_id.
#[derive(Debug, Clone)]
pub struct Layer {
    pub blob: Vec<u8>,
    pub media_type: String,
    pub diff_id: String,
}

impl Layer {
    pub fn new(entries: &[Ent], c: Comp) -> Layer {
        let tar = layer_tar(entries);
        Layer::from_tar(&tar, c)
    }
    pub fn from_tar(tar: &[u8], c: Comp) -> Layer {
        let media_type = match c {
            Comp::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Comp::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
            Comp::None => "application/vnd.oci.image.layer.v1.tar",
        };
        Layer {
            blob: compress(tar, c),
            media_type: media_type.into(),
            diff_id: sha256(tar),
        }
    }
    /// Arbitrary bytes under an arbitrary media type (hostile fixtures).
    pub fn raw(blob: Vec<u8>, media_type: &str) -> Layer {
        Layer {
            diff_id: sha256(&blob),
            blob,
            media_type: media_type.into(),
        }
    }
}

/// An image: layers plus the config fields that matter.
#[derive(Debug, Clone)]
pub struct ImageSpec {
    pub layers: Vec<Layer>,
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub user: String,
    pub workdir: String,
    pub exposed_ports: Vec<String>,
    pub labels: Vec<(String, String)>,
    /// (created_by, empty_layer)
    pub history: Vec<(String, bool)>,
    /// Replaces the generated config bytes (hostile fixtures).
    pub raw_config: Option<Vec<u8>>,
}

impl ImageSpec {
    pub fn new(layers: Vec<Layer>) -> ImageSpec {
        let history = layers
            .iter()
            .enumerate()
            .map(|(i, _)| (format!("/bin/sh -c #(nop) ADD layer{i} /"), false))
            .collect();
        ImageSpec {
            layers,
            os: "linux".into(),
            arch: "amd64".into(),
            variant: None,
            entrypoint: vec![],
            cmd: vec!["/bin/sh".into()],
            env: vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()],
            user: String::new(),
            workdir: String::new(),
            exposed_ports: vec![],
            labels: vec![],
            history,
            raw_config: None,
        }
    }
    pub fn platform(mut self, os: &str, arch: &str, variant: Option<&str>) -> Self {
        self.os = os.into();
        self.arch = arch.into();
        self.variant = variant.map(String::from);
        self
    }

    pub fn config_json(&self) -> Vec<u8> {
        if let Some(raw) = &self.raw_config {
            return raw.clone();
        }
        let ports: serde_json::Map<String, Value> = self
            .exposed_ports
            .iter()
            .map(|p| (p.clone(), json!({})))
            .collect();
        let labels: serde_json::Map<String, Value> = self
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        let mut cfg = json!({
            "created": "2024-01-01T00:00:00Z",
            "architecture": self.arch,
            "os": self.os,
            "config": {
                "Env": self.env,
                "Cmd": self.cmd,
                "ExposedPorts": ports,
                "Labels": labels,
                "User": self.user,
                "WorkingDir": self.workdir,
            },
            "rootfs": {"type": "layers", "diff_ids": self.layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>()},
            "history": self.history.iter().map(|(c, e)| if *e {
                json!({"created": "2024-01-01T00:00:00Z", "created_by": c, "empty_layer": true})
            } else {
                json!({"created": "2024-01-01T00:00:00Z", "created_by": c})
            }).collect::<Vec<_>>(),
        });
        if !self.entrypoint.is_empty() {
            cfg["config"]["Entrypoint"] = json!(self.entrypoint);
        }
        if let Some(v) = &self.variant {
            cfg["variant"] = json!(v);
        }
        serde_json::to_vec(&cfg).unwrap()
    }
}

/// A descriptor as written into an index.
#[derive(Debug, Clone)]
pub struct Desc {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    pub platform: Option<(String, String, Option<String>)>,
}

impl Desc {
    pub fn to_json(&self, ref_name: Option<&str>) -> Value {
        let mut d = json!({"mediaType": self.media_type, "digest": self.digest, "size": self.size});
        if let Some((os, arch, v)) = &self.platform {
            d["platform"] = json!({"os": os, "architecture": arch});
            if let Some(v) = v {
                d["platform"]["variant"] = json!(v);
            }
        }
        if let Some(n) = ref_name {
            d["annotations"] = json!({"org.opencontainers.image.ref.name": n});
        }
        d
    }
}

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// An OCI image layout directory being written. `index.json` is rewritten on each change.
pub struct Layout {
    pub dir: PathBuf,
    index: Vec<Value>,
}

impl Layout {
    pub fn new(dir: &Path) -> Layout {
        std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        let l = Layout {
            dir: dir.to_path_buf(),
            index: vec![],
        };
        l.write_index();
        l
    }

    fn write_index(&self) {
        let idx = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": self.index});
        std::fs::write(
            self.dir.join("index.json"),
            serde_json::to_vec_pretty(&idx).unwrap(),
        )
        .unwrap();
    }

    /// Store a blob; returns its digest.
    pub fn add_blob(&self, bytes: &[u8]) -> String {
        let d = sha256(bytes);
        let hexpart = d.strip_prefix("sha256:").unwrap();
        std::fs::write(self.dir.join("blobs/sha256").join(hexpart), bytes).unwrap();
        d
    }

    /// Store an image's layers, config and manifest; returns the manifest descriptor
    /// (not yet listed in index.json).
    pub fn add_image(&self, spec: &ImageSpec) -> Desc {
        let cfg = spec.config_json();
        let cfg_d = self.add_blob(&cfg);
        let layers: Vec<Value> = spec
            .layers
            .iter()
            .map(|l| {
                let d = self.add_blob(&l.blob);
                json!({"mediaType": l.media_type, "digest": d, "size": l.blob.len()})
            })
            .collect();
        let m = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg_d, "size": cfg.len()},
            "layers": layers,
        });
        let mb = serde_json::to_vec(&m).unwrap();
        let md = self.add_blob(&mb);
        Desc {
            media_type: OCI_MANIFEST.into(),
            digest: md,
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
        std::fs::write(self.dir.join("blobs/sha256").join(hexpart), bytes).unwrap();
    }
}

/// An OCI layout with a single image tagged `tag`; returns the manifest descriptor.
pub fn single_image_layout(dir: &Path, spec: &ImageSpec, tag: &str) -> Desc {
    let mut l = Layout::new(dir);
    let d = l.add_image(spec);
    l.list(&d, Some(tag));
    d
}

/// oci-archive: a tar of the layout directory (members relative to its root).
pub fn oci_archive(layout_dir: &Path, out: &Path) {
    let f = std::fs::File::create(out).unwrap();
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

/// The three-layer sample used by several tests: gzip, zstd and uncompressed layers with
/// a whiteout, an opaque dir, a replaced file, links, and a config with entrypoint/env.
pub fn sample_image() -> ImageSpec {
    sample_image_with(Comp::Zstd)
}

/// [`sample_image`] with layer 1 compressed as `l1` (skopeo cannot put zstd layers in a
/// docker-archive, so docker-archive fixtures use gzip there).
pub fn sample_image_with(l1_comp: Comp) -> ImageSpec {
    let l0 = Layer::new(
        &[
            Ent::dir("etc"),
            Ent::file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"),
            Ent::file("etc/motd", b"hello\n"),
            Ent::dir("opt/app"),
            Ent::file("opt/app/old.conf", b"old"),
            Ent::file("opt/app/sub/deep", b"deep"),
            Ent::exe("bin/busybox", b"\x7fELF fake busybox"),
            Ent::symlink("bin/sh", "busybox"),
            Ent::hardlink("bin/ls", "bin/busybox"),
            Ent::exe("tmp/xmrig", b"\x7fELF miner"),
        ],
        Comp::Gzip,
    );
    let l1 = Layer::new(
        &[
            Ent::Whiteout("tmp/xmrig".into()),
            Ent::Opaque("opt/app".into()),
            Ent::file("opt/app/new.conf", b"new"),
            Ent::file("etc/motd", b"replaced\n"),
        ],
        l1_comp,
    );
    let l2 = Layer::new(
        &[
            Ent::file("usr/local/bin/run.sh", b"#!/bin/sh\nexec /bin/sh\n"),
            Ent::symlink("usr/bin/sh", "/bin/sh"),
        ],
        Comp::None,
    );
    let mut spec = ImageSpec::new(vec![l0, l1, l2]);
    spec.entrypoint = vec!["/usr/local/bin/run.sh".into()];
    spec.cmd = vec!["--serve".into()];
    spec.env.push("APP_MODE=prod".into());
    spec.user = "1000:1000".into();
    spec.workdir = "/opt/app".into();
    spec.exposed_ports = vec!["8080/tcp".into()];
    spec.labels = vec![("org.opencontainers.image.title".into(), "sample".into())];
    spec.history
        .push(("/bin/sh -c #(nop) ENV APP_MODE=prod".into(), true));
    spec
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

/// A gzip layer that decompresses to a tar holding one file of `zero_bytes` zeros,
/// written as concatenated gzip members (one per MiB of zeros) so it is built in
/// milliseconds: ~1 KiB per MiB, so 10 GiB of zeros is ~10 MiB compressed.
pub fn gzip_bomb(zero_bytes: u64) -> Vec<u8> {
    const MIB: u64 = 1 << 20;
    assert!(zero_bytes.is_multiple_of(MIB));
    let mut h = header(tar::EntryType::Regular, 0o644, zero_bytes);
    h.set_path("zeros").unwrap();
    h.set_cksum();
    let mut out = compress(h.as_bytes(), Comp::Gzip);
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(&vec![0u8; MIB as usize]).unwrap();
    let chunk = e.finish().unwrap();
    for _ in 0..zero_bytes / MIB {
        out.extend_from_slice(&chunk);
    }
    out.extend_from_slice(&compress(&[0u8; 1024], Comp::Gzip));
    out
}
