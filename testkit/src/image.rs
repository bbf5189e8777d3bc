//! Image specs and the JSON documents made from them: the config (entrypoint, cmd, env,
//! user, workdir, ports, labels, history, platform; or raw bytes for hostile fixtures),
//! the image manifest, and descriptors as an index lists them.

use crate::layer::Layer;
use serde_json::{json, Value};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

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

/// The history step [`ImageSpec::new`] makes up for layer `i`.
pub fn add_step(i: usize) -> (String, bool) {
    (format!("/bin/sh -c #(nop) ADD layer{i} /"), false)
}

impl ImageSpec {
    /// linux/amd64, `Cmd ["/bin/sh"]`, the usual `PATH`, one `ADD` history step per layer.
    pub fn new(layers: Vec<Layer>) -> ImageSpec {
        let history = (0..layers.len()).map(add_step).collect();
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

/// An OCI image manifest over a config blob and `(media type, digest, size)` layers.
pub fn manifest_json(
    config_digest: &str,
    config_size: usize,
    layers: &[(&str, &str, usize)],
) -> Vec<u8> {
    let layers: Vec<Value> = layers
        .iter()
        .map(|(mt, d, size)| json!({"mediaType": mt, "digest": d, "size": size}))
        .collect();
    let m = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config_size},
        "layers": layers,
    });
    serde_json::to_vec(&m).unwrap()
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
