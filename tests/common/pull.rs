//! Pull helpers shared by the registry test files: source options, a pull by reference,
//! a layer read, a one-layer fixture image and what a pull of it must report. Include it with
//! `#[path = "common/pull.rs"] mod pull;` after the registry harness.
#![allow(dead_code)]

use super::registry_harness::*;
use imgscan::reference::{Reference, Target};
use imgscan::source::{self, OpenedImage, SourceOptions};
use std::io::Read;
use std::path::Path;
use std::time::Duration;

pub fn opts() -> SourceOptions {
    SourceOptions {
        timeout: Duration::from_secs(60),
        ..SourceOptions::default()
    }
}

pub fn insecure() -> SourceOptions {
    SourceOptions {
        insecure: true,
        ..opts()
    }
}

pub fn pull(reference: &str, o: &SourceOptions) -> imgscan::error::Result<Vec<OpenedImage>> {
    let r = Reference::parse(reference).unwrap();
    source::open(&Target::Registry(r), o)
}

pub fn pull_err(reference: &str, o: &SourceOptions) -> String {
    pull(reference, o).unwrap_err().to_string()
}

pub fn read_layer(img: &OpenedImage, i: usize) -> std::io::Result<Vec<u8>> {
    let mut r = img.layers.open_layer(&img.image.layers[i]).unwrap();
    let mut v = Vec::new();
    r.read_to_end(&mut v).map(|_| v)
}

/// A one-layer image in a fresh OCI layout.
pub fn fixture(dir: &Path, content: &[u8]) -> ImageFixture {
    let img = write_image(dir, &[("bin/app", content)], "linux", "amd64");
    write_index(dir, "v1", &[&img]);
    img
}

/// Everything the pull must report about the fixture image.
pub fn assert_is_fixture(o: &OpenedImage, img: &ImageFixture, reference: &str) {
    let i = &o.image;
    assert_eq!(i.reference, reference);
    assert_eq!(i.manifest_digest, img.manifest_digest);
    assert_eq!(i.config_digest, img.config_digest);
    assert_eq!(
        i.platform.to_string(),
        format!("{}/{}", img.platform.0, img.platform.1)
    );
    assert_eq!(i.config.entrypoint, vec!["/bin/app"]);
    assert_eq!(
        i.config.cmd,
        vec!["--serve".to_string(), img.platform.1.clone()]
    );
    assert_eq!(i.config.env_var("ARCH"), Some(img.platform.1.as_str()));
    assert_eq!(i.config.user, "1000:1000");
    assert_eq!(i.config.working_dir, "/srv");
    assert_eq!(i.config.exposed_ports, vec!["53/udp", "8080/tcp"]);
    assert_eq!(
        i.config
            .labels
            .get("org.opencontainers.image.title")
            .map(String::as_str),
        Some("imgscan-fixture")
    );
    assert_eq!(i.config.history.len(), 2);
    assert!(i.config.history[0].created_by.contains("ADD file:app"));
    assert!(!i.config.history[0].empty_layer);
    assert!(i.config.history[1].empty_layer);
    assert_eq!(i.config.history[1].comment, "no layer");
    assert_eq!(i.config.diff_ids.len(), 1);
    assert_eq!(i.layers.len(), 1);
    assert_eq!(i.layers[0].index, 0);
    assert_eq!(i.layers[0].digest, img.layer_digest);
    assert_eq!(
        i.layers[0].media_type,
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    assert_eq!(i.layers[0].size, img.layer_blob.len() as u64);
    assert_eq!(read_layer(o, 0).unwrap(), img.layer_blob);
}
