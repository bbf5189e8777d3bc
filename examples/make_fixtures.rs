//! Writes the test fixtures to `testdata/generated/` (gitignored) for manual use and for
//! `make demo`: the same builder the integration tests use (`imgscan-testkit`).
//!
//! `cargo run --release --example make_fixtures [OUT_DIR]`
//!
//! Needs `skopeo` for the docker-archive (skipped with a message when missing).

use imgscan_testkit::*;
use std::path::{Path, PathBuf};

fn fresh(p: &Path) {
    if p.is_dir() {
        std::fs::remove_dir_all(p).unwrap();
    } else if p.exists() {
        std::fs::remove_file(p).unwrap();
    }
}

fn main() {
    let out: PathBuf = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/generated"));
    std::fs::create_dir_all(&out).unwrap();
    let mut made = Vec::new();
    let mut dir = |name: &str| {
        let p = out.join(name);
        fresh(&p);
        made.push(p.clone());
        p
    };

    // The three-layer sample (gzip, zstd, uncompressed; whiteout, opaque dir, links).
    let sample = dir("sample-oci");
    single_image_layout(&sample, &sample_image(), "sample:1.0");
    let sample_tar = dir("sample.oci.tar");
    oci_archive(&sample, &sample_tar);
    let sample_gz = dir("sample-gzip-oci");
    single_image_layout(&sample_gz, &sample_image_with(Comp::Gzip), "sample:1.0");
    let docker = dir("sample.docker.tar");
    let skopeo = std::process::Command::new("skopeo")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if skopeo {
        docker_archive(
            &sample_gz,
            "sample:1.0",
            &docker,
            "example.com/demo/sample:1.0",
        );
    } else {
        eprintln!(
            "make_fixtures: skopeo not installed; skipping {}",
            docker.display()
        );
    }

    // A multi-arch index (linux/amd64, linux/arm64/v8).
    let multi = dir("multi-arch-oci");
    multi_arch_layout(&multi, "multi:1.0");
    oci_archive(&multi, &dir("multi-arch.oci.tar"));

    // Hostile ones.
    let bomb = dir("bomb-oci");
    single_image_layout(
        &bomb,
        &ImageSpec::new(vec![Layer::raw(
            gzip_bomb(10 << 30),
            "application/vnd.oci.image.layer.v1.tar+gzip",
        )]),
        "bomb",
    );
    let traversal = dir("traversal-oci");
    single_image_layout(
        &traversal,
        &ImageSpec::new(vec![Layer::new(
            &[
                Ent::RawName {
                    name: "../../etc/passwd".into(),
                    data: b"evil:x:0:0::/:/bin/sh\n".to_vec(),
                },
                Ent::RawName {
                    name: "/abs/path".into(),
                    data: b"abs".to_vec(),
                },
                Ent::symlink("loop/a", "b"),
                Ent::symlink("loop/b", "a"),
            ],
            Comp::Gzip,
        )]),
        "traversal",
    );
    let tar = layer_tar(&[Ent::file("a", vec![b'x'; 200_000])]);
    let full = compress(&tar, Comp::Gzip);
    single_image_layout(
        &dir("truncated-gzip-oci"),
        &ImageSpec::new(vec![Layer::raw(
            full[..full.len() / 2].to_vec(),
            "application/vnd.oci.image.layer.v1.tar+gzip",
        )]),
        "truncated",
    );
    let mut not_json = ImageSpec::new(vec![Layer::new(&[Ent::file("a", b"a")], Comp::Gzip)]);
    not_json.raw_config = Some(b"<html>not a config</html>".to_vec());
    single_image_layout(&dir("config-not-json-oci"), &not_json, "bad");

    for p in made {
        println!("{}", p.display());
    }
}
