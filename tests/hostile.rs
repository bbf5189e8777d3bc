//! Hostile images: each gives a clear error or limit report, never a panic, a hang or
//! unbounded memory. Fixtures are built by code (`imgscan-testkit`).

mod common;

use common::{imgscan, outs};
use imgscan::image::LayerInfo;
use imgscan::layers::{walk_image, walk_layer, NoopVisitor};
use imgscan::limits::{LimitKind, Limits};
use imgscan::reference::Target;
use imgscan::source::{open, OpenedImage, SourceOptions};
use imgscan_testkit::*;
use std::io::{Read, Write};
use std::path::Path;

fn open_dir(dir: &Path) -> Vec<OpenedImage> {
    open(
        &Target::parse(dir.to_str().unwrap()).unwrap(),
        &SourceOptions::default(),
    )
    .unwrap()
}

fn layout_with(dir: &Path, layers: Vec<Layer>) -> Desc {
    single_image_layout(dir, &ImageSpec::new(layers), "x")
}

fn abs(p: &Path) -> String {
    std::path::absolute(p).unwrap().display().to_string()
}

#[test]
fn truncated_gzip_and_zstd_layers() {
    let tar = layer_tar(&[Ent::file("a", vec![b'x'; 200_000]), Ent::file("b", b"b")]);
    for (c, name) in [(Comp::Gzip, "gzip"), (Comp::Zstd, "zstd")] {
        let full = compress(&tar, c);
        // Cut mid-stream; the digest is the truncated blob's, so only the stream is bad.
        let cut = full[..full.len() / 2].to_vec();
        let digest = sha256(&cut);
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join(name);
        layout_with(
            &dir,
            vec![Layer::raw(cut, "application/vnd.oci.image.layer.v1.tar")],
        );
        let w = walk_image(&open_dir(&dir)[0], &Limits::default(), 1, |_| NoopVisitor);
        let err = w.layers[0]
            .error
            .clone()
            .expect("truncation must be an error");
        assert!(
            err.starts_with(&format!("layer 0 ({digest}): reading tar: ")),
            "{name}: {err}"
        );
        assert!(err.contains("truncated"), "{name}: {err}");
        assert_eq!(w.incomplete(), std::slice::from_ref(&err));

        let (_, stderr, code) = outs(&imgscan(&["inspect", "-q", dir.to_str().unwrap()]));
        assert_eq!(code, 2, "{stderr}");
        assert!(
            stderr.contains(&format!("imgscan: warning: oci-dir:{}: {err}", abs(&dir))),
            "{stderr}"
        );
    }
}

#[test]
fn gzip_trailer_cut_after_the_tar_end_is_noticed() {
    let tar = layer_tar(&[Ent::file("a", b"hello")]);
    let full = compress(&tar, Comp::Gzip);
    // Drop only the 8-byte gzip trailer (CRC + size): the tar itself is complete.
    let cut = full[..full.len() - 8].to_vec();
    let li = LayerInfo {
        index: 0,
        digest: sha256(&cut),
        media_type: String::new(),
        size: cut.len() as u64,
    };
    let w = walk_layer(
        Box::new(std::io::Cursor::new(cut)),
        &li,
        &Limits::default(),
        &mut NoopVisitor,
    );
    let err = w.error.expect("missing trailer must be an error");
    assert!(
        err.starts_with(&format!("layer 0 ({}): ", li.digest)) && err.contains("truncated"),
        "{err}"
    );
}

#[test]
fn layer_digest_mismatch_names_both_digests() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("l");
    let good = Layer::new(&[Ent::file("a", b"original")], Comp::Gzip);
    let evil = compress(&layer_tar(&[Ent::file("a", b"tampered")]), Comp::Gzip);
    let expected = sha256(&good.blob);
    layout_with(&dir, vec![good]);
    std::fs::write(
        dir.join("blobs/sha256")
            .join(expected.strip_prefix("sha256:").unwrap()),
        &evil,
    )
    .unwrap();
    let w = walk_image(&open_dir(&dir)[0], &Limits::default(), 1, |_| NoopVisitor);
    let err = w.layers[0].error.clone().unwrap();
    assert_eq!(
        err,
        format!(
            "layer 0 ({expected}): digest mismatch: expected {expected}, got {} ({} bytes)",
            sha256(&evil),
            evil.len()
        )
    );
    let (_, stderr, code) = outs(&imgscan(&["inspect", "-q", dir.to_str().unwrap()]));
    assert_eq!(code, 2);
    assert!(stderr.contains(&err), "{stderr}");
}

const GIB: u64 = 1 << 30;

#[test]
fn gzip_bomb_stops_at_max_layer_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bomb");
    let bomb = gzip_bomb(10 * GIB);
    assert!(
        bomb.len() < 12 << 20,
        "~10 MiB compressed, got {}",
        bomb.len()
    );
    let digest = sha256(&bomb);
    layout_with(
        &dir,
        vec![Layer::raw(
            bomb.clone(),
            "application/vnd.oci.image.layer.v1.tar+gzip",
        )],
    );
    let o = imgscan(&[
        "inspect",
        "-q",
        "--format",
        "json",
        "--max-layer-bytes",
        "64M",
        dir.to_str().unwrap(),
    ]);
    let (out, stderr, code) = outs(&o);
    assert_eq!(code, 2, "{stderr}");
    let want = format!(
        "layer 0 ({digest}): stopped after 67108864 uncompressed bytes; the rest of the layer \
         was not read (raise with --max-layer-bytes N)"
    );
    assert!(
        stderr.contains(&format!("imgscan: warning: oci-dir:{}: {want}", abs(&dir))),
        "{stderr}"
    );
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let walk = &doc["images"][0]["walk"][0];
    assert_eq!(walk["uncompressed_bytes"], 64u64 << 20);
    // The layer bound stopped the stream inside the 10 GiB file: that is the one report
    // (no misleading per-file report for bytes that were never reached).
    let kinds: Vec<&str> = walk["limits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["layer-bytes"]);
    // The whole compressed blob was still read, so its digest was verified.
    assert_eq!(walk["compressed_bytes"], bomb.len() as u64);
    assert!(walk["error"].is_null());
}

/// Env var that turns [`bomb_child`] into the measured child process.
const CHILD_ENV: &str = "IMGSCAN_BOMB_CHILD_BLOB";

#[test]
#[ignore = "helper: run in a child process by gzip_bomb_default_limits_bounded_memory"]
fn bomb_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let f = std::fs::File::open(&path).unwrap();
    let size = f.metadata().unwrap().len();
    let digest = std::env::var("IMGSCAN_BOMB_CHILD_DIGEST").unwrap();
    let li = LayerInfo {
        index: 0,
        digest: digest.clone(),
        media_type: String::new(),
        size,
    };
    let blob = imgscan::digest::DigestReader::new(f, &digest, u64::MAX).unwrap();
    let w = walk_layer(Box::new(blob), &li, &Limits::default(), &mut NoopVisitor);
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let hwm = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string();
    println!(
        "RESULT {}",
        serde_json::json!({"hwm_kb": hwm.parse::<u64>().unwrap(), "walk": w})
    );
}

#[test]
fn gzip_bomb_default_limits_bounded_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("bomb.gz");
    let bomb = gzip_bomb(10 * GIB);
    let digest = sha256(&bomb);
    std::fs::File::create(&path)
        .unwrap()
        .write_all(&bomb)
        .unwrap();
    drop(bomb);
    let o = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "bomb_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &path)
        .env("IMGSCAN_BOMB_CHILD_DIGEST", &digest)
        .output()
        .unwrap();
    let (out, err, code) = outs(&o);
    assert_eq!(code, 0, "{out}\n{err}");
    let line = out
        .lines()
        .find_map(|l| l.split_once("RESULT ").map(|(_, r)| r))
        .unwrap_or_else(|| panic!("no result from child: {out}\n{err}"));
    let r: serde_json::Value = serde_json::from_str(line).unwrap();
    let default = Limits::default();
    assert_eq!(r["walk"]["uncompressed_bytes"], default.layer_bytes);
    assert_eq!(r["walk"]["limits"].as_array().unwrap().len(), 1);
    assert_eq!(r["walk"]["limits"][0]["kind"], "layer-bytes");
    assert_eq!(r["walk"]["limits"][0]["limit"], default.layer_bytes);
    // The whole compressed blob was read after the stop, so its digest was verified.
    assert_eq!(r["walk"]["compressed_bytes"], r["walk"]["layer"]["size"]);
    assert!(r["walk"]["error"].is_null(), "{}", r["walk"]);
    let hwm_kb = r["hwm_kb"].as_u64().unwrap();
    assert!(
        hwm_kb < 64 * 1024,
        "peak RSS {hwm_kb} KiB while walking a 10 GiB bomb"
    );
}

#[test]
fn traversal_and_absolute_names_are_normalised_and_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("l");
    layout_with(
        &dir,
        vec![Layer::new(
            &[
                Ent::RawName {
                    name: "../../etc/passwd".into(),
                    data: b"evil:x:0:0::/:/bin/sh\n".to_vec(),
                },
                Ent::RawName {
                    name: "/abs/path".into(),
                    data: b"abs".to_vec(),
                },
                Ent::file("ok/file", b"fine"),
            ],
            Comp::Gzip,
        )],
    );
    let w = walk_image(&open_dir(&dir)[0], &Limits::default(), 1, |_| NoopVisitor);
    let l = &w.layers[0];
    assert!(l.error.is_none(), "{:?}", l.error);
    assert_eq!(l.unsafe_paths, ["../../etc/passwd", "/abs/path"]);
    assert_eq!(l.unsafe_path_count, 2);
    let paths: Vec<&str> = w.fs.entries().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["etc/passwd", "abs/path", "ok/file"]);

    // The CLI run writes nothing anywhere: its working directory stays empty.
    let cwd = tmp.path().join("cwd");
    std::fs::create_dir(&cwd).unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_imgscan"))
        .env("IMGSCAN_CACHE_DEFAULT", "none")
        .args(["inspect", "-q", "--format", "json", dir.to_str().unwrap()])
        .current_dir(&cwd)
        .output()
        .unwrap();
    let (out, err, code) = outs(&o);
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        doc["images"][0]["walk"][0]["unsafe_paths"],
        serde_json::json!(["../../etc/passwd", "/abs/path"])
    );
    assert_eq!(std::fs::read_dir(&cwd).unwrap().count(), 0);
}

#[test]
fn symlink_loops_resolve_to_none_without_hanging() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("l");
    let mut ents = vec![
        Ent::symlink("a", "b"),
        Ent::symlink("b", "a"),
        Ent::symlink("self", "self"),
        Ent::symlink("d", "d/d"),
        Ent::symlink("up", "../../up"),
        Ent::hardlink("h1", "h2"),
        Ent::hardlink("h2", "h1"),
        Ent::file("target", b"t"),
    ];
    // A chain of exactly 40 hops resolves; 41 does not.
    for i in 0..41 {
        let next = if i == 40 {
            "target".to_string()
        } else {
            format!("c{}", i + 1)
        };
        ents.push(Ent::symlink(&format!("c{i}"), &next));
    }
    layout_with(&dir, vec![Layer::new(&ents, Comp::Zstd)]);
    let w = walk_image(&open_dir(&dir)[0], &Limits::default(), 1, |_| NoopVisitor);
    assert!(w.incomplete().is_empty());
    let fs = &w.fs;
    for p in ["a", "b", "self", "d", "d/x/y", "up", "h1", "h2", "c0"] {
        assert!(fs.resolve(p).is_none(), "{p} resolved");
    }
    assert_eq!(fs.resolve("c1").unwrap().path, "target");
    assert_eq!(fs.lookup("a").unwrap().link_target.as_deref(), Some("b"));
}

fn many_entries_layer(n: usize) -> Vec<u8> {
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    for i in 0..n {
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, format!("d{}/f{i}", i % 100), &b"x"[..])
            .unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}

#[test]
fn hundred_thousand_tiny_entries_and_max_entries() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("l");
    let blob = many_entries_layer(100_000);
    let digest = sha256(&blob);
    layout_with(
        &dir,
        vec![Layer::raw(
            blob,
            "application/vnd.oci.image.layer.v1.tar+gzip",
        )],
    );
    let w = walk_image(&open_dir(&dir)[0], &Limits::default(), 1, |_| NoopVisitor);
    assert!(w.incomplete().is_empty(), "{:?}", w.incomplete());
    assert_eq!(w.layers[0].entries, 100_000);
    assert_eq!(w.fs.entries().count(), 100_000);
    assert_eq!(w.fs.lookup("d7/f99907").unwrap().size, 1);

    let (out, stderr, code) = outs(&imgscan(&[
        "inspect",
        "-q",
        "--format",
        "json",
        "--max-entries",
        "1000",
        dir.to_str().unwrap(),
    ]));
    assert_eq!(code, 2, "{stderr}");
    let want = format!(
        "layer 0 ({digest}): stopped after 1000 entries; later entries of the layer were not \
         read (raise with --max-entries N)"
    );
    assert!(stderr.contains(&want), "{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["images"][0]["walk"][0]["entries"], 1000);
    assert_eq!(
        doc["images"][0]["walk"][0]["limits"][0]["kind"],
        "entries-per-layer"
    );
    assert_eq!(LimitKind::EntriesPerLayer.flag(), "--max-entries");
}

#[test]
fn manifest_listing_a_layer_missing_from_the_archive() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("l");
    let layer = Layer::new(&[Ent::file("a", b"a")], Comp::Gzip);
    let missing = sha256(&layer.blob);
    let mut l = Layout::new(&dir);
    let d = l.add_image(&ImageSpec::new(vec![layer]));
    l.list(&d, Some("x"));
    l.remove_blob(&missing);
    let tar = tmp.path().join("missing.tar");
    oci_archive(&dir, &tar);
    let err = open(
        &Target::parse(tar.to_str().unwrap()).unwrap(),
        &SourceOptions::default(),
    )
    .unwrap_err()
    .to_string();
    let want = format!(
        "reading manifest of oci-archive:{}: layer {missing} listed in the manifest is missing \
         from the archive",
        abs(&tar)
    );
    assert_eq!(err, want);
    let (out, stderr, code) = outs(&imgscan(&["inspect", tar.to_str().unwrap()]));
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert_eq!(stderr, format!("imgscan: {want}\n"));
}

#[test]
fn config_that_is_not_json() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("l");
    let mut spec = ImageSpec::new(vec![Layer::new(&[Ent::file("a", b"a")], Comp::Gzip)]);
    spec.raw_config = Some(b"<html>definitely not a config</html>".to_vec());
    let cfg_digest = sha256(spec.raw_config.as_ref().unwrap());
    single_image_layout(&dir, &spec, "x");
    let (_, stderr, code) = outs(&imgscan(&["inspect", dir.to_str().unwrap()]));
    assert_eq!(code, 2);
    assert_eq!(
        stderr,
        format!(
            "imgscan: reading config of oci-dir:{}: config {cfg_digest}: the image config is \
             not JSON: expected value at line 1 column 1\n",
            abs(&dir)
        )
    );
}

#[test]
fn unknown_and_non_layer_media_types() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("l");
    let attestation = Layer::raw(
        br#"{"_type":"https://in-toto.io/Statement/v0.1"}"#.to_vec(),
        "application/vnd.in-toto+json",
    );
    let att_digest = sha256(&attestation.blob);
    // A real zstd layer under a media type nobody knows: sniffed, not trusted.
    let mut mystery = Layer::new(&[Ent::exe("bin/payload", b"\x7fELF")], Comp::Zstd);
    mystery.media_type = "application/x-mystery".into();
    let mystery_digest = sha256(&mystery.blob);
    layout_with(&dir, vec![attestation, mystery]);
    let o = imgscan(&["inspect", "-q", "--format", "json", dir.to_str().unwrap()]);
    let (out, stderr, code) = outs(&o);
    assert_eq!(code, 0, "{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let img = &doc["images"][0];
    assert_eq!(
        img["notes"],
        serde_json::json!([
            format!("skipped blob {att_digest} of media type application/vnd.in-toto+json: not a filesystem layer"),
            format!("layer {mystery_digest} has an unknown media type \"application/x-mystery\"; read as a layer with its compression sniffed from the bytes"),
        ])
    );
    let walk = img["walk"].as_array().unwrap();
    assert_eq!(walk.len(), 1);
    assert_eq!(walk[0]["compression"], "zstd");
    assert_eq!(walk[0]["entries"], 1);
    assert_eq!(walk[0]["layer"]["index"], 0);
}

#[test]
fn unknown_media_type_that_is_not_a_tar_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("l");
    let junk = Layer::raw(vec![0xAB; 3000], "application/octet-stream");
    let d = sha256(&junk.blob);
    layout_with(&dir, vec![junk]);
    let w = walk_image(&open_dir(&dir)[0], &Limits::default(), 1, |_| NoopVisitor);
    let err = w.layers[0].error.clone().unwrap();
    assert!(
        err.starts_with(&format!("layer 0 ({d}): reading tar: ")),
        "{err}"
    );
}

#[test]
fn oversized_gnu_long_name_is_refused_not_buffered() {
    // A GNU long-name record claiming 64 MiB: the tar crate would buffer it whole.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::GNULongName);
    h.set_size(64 << 20);
    h.as_gnu_mut().unwrap().name[..13].copy_from_slice(b"././@LongLink");
    h.set_cksum();
    b.append(&h, std::io::repeat(b'a').take(64 << 20)).unwrap();
    b.append_data(&mut tar::Header::new_gnu(), "x", &b""[..])
        .unwrap();
    let blob = compress(&b.into_inner().unwrap(), Comp::Gzip);
    let li = LayerInfo {
        index: 0,
        digest: sha256(&blob),
        media_type: String::new(),
        size: blob.len() as u64,
    };
    let w = walk_layer(
        Box::new(std::io::Cursor::new(blob)),
        &li,
        &Limits::default(),
        &mut NoopVisitor,
    );
    assert_eq!(
        w.error.as_deref(),
        Some(
            format!(
                "layer 0 ({}): reading tar: tar metadata (GNU long name or PAX record) larger \
                 than 1048576 bytes",
                li.digest
            )
            .as_str()
        )
    );
    assert!(w.uncompressed_bytes < 3 << 20, "{}", w.uncompressed_bytes);
}

#[test]
fn image_bytes_and_timeout_are_image_wide_limits() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("l");
    let big = vec![1u8; 300_000];
    layout_with(
        &dir,
        vec![
            Layer::new(&[Ent::file("a", &big)], Comp::Gzip),
            Layer::new(&[Ent::file("b", &big)], Comp::Gzip),
        ],
    );
    let imgs = open_dir(&dir);
    let limits = Limits {
        image_bytes: 400_000,
        ..Limits::default()
    };
    let w = walk_image(&imgs[0], &limits, 1, |_| NoopVisitor);
    assert_eq!(w.limits.len(), 1);
    assert_eq!(w.limits[0].kind, LimitKind::ImageBytes);
    assert_eq!(
        w.limits[0].detail,
        "stopped after 400000 uncompressed bytes across the image (reached in layer 1); the \
         rest of the image was not read (raise with --max-image-bytes N)"
    );
    let total: u64 = w.layers.iter().map(|l| l.uncompressed_bytes).sum();
    assert_eq!(total, 400_000);

    let limits = Limits {
        timeout_secs: 0,
        ..Limits::default()
    };
    let w = walk_image(&imgs[0], &limits, 2, |_| NoopVisitor);
    assert_eq!(w.limits.len(), 1);
    assert_eq!(w.limits[0].kind, LimitKind::Timeout);
    assert!(w.limits[0]
        .detail
        .starts_with("the 0 s time limit was reached"));
    assert!(!w.incomplete().is_empty());
}

/// A docker-save tar written by hand (hostile variants skopeo would never produce).
fn docker_tar(out: &Path, manifest: &str, members: &[(&str, &[u8])]) {
    let mut b = tar::Builder::new(std::fs::File::create(out).unwrap());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, data).unwrap();
    };
    add("manifest.json", manifest.as_bytes());
    for (n, d) in members {
        add(n, d);
    }
    b.into_inner().unwrap();
}

#[test]
fn docker_archive_hostile_variants() {
    let tmp = tempfile::tempdir().unwrap();
    let layer = layer_tar(&[Ent::file("a", b"a")]);
    let cfg = ImageSpec::new(vec![Layer::from_tar(&layer, Comp::None)]).config_json();
    let cfg_d = sha256(&cfg);

    // Two images, no selector: the error lists both.
    let two = tmp.path().join("two.tar");
    docker_tar(
        &two,
        r#"[{"Config":"c1.json","RepoTags":["a:1"],"Layers":["l.tar"]},
            {"Config":"c1.json","RepoTags":["b:2"],"Layers":["l.tar"]}]"#,
        &[("c1.json", &cfg), ("l.tar", &layer)],
    );
    let (_, err, code) = outs(&imgscan(&["inspect", two.to_str().unwrap()]));
    assert_eq!(code, 2);
    assert_eq!(
        err,
        format!(
            "imgscan: opening docker-archive:{}: it holds 2 images; pick one with PATH:tag or \
             PATH@digest: a:1 (c1.json); b:2 (c1.json)\n",
            abs(&two)
        )
    );
    let doc = {
        let (out, err, code) = outs(&imgscan(&[
            "inspect",
            "--format",
            "json",
            &format!("{}:2", two.display()),
        ]));
        assert_eq!(code, 0, "{err}");
        serde_json::from_str::<serde_json::Value>(&out).unwrap()
    };
    assert_eq!(doc["images"][0]["config_digest"], cfg_d.as_str());
    // The uncompressed layer's digest is its diff_id and is verified.
    assert_eq!(
        doc["images"][0]["walk"][0]["layer"]["digest"],
        sha256(&layer).as_str()
    );

    // A layer listed in manifest.json but absent.
    let missing = tmp.path().join("missing.tar");
    docker_tar(
        &missing,
        r#"[{"Config":"c.json","RepoTags":["a:1"],"Layers":["gone/layer.tar"]}]"#,
        &[("c.json", &cfg)],
    );
    let (_, err, code) = outs(&imgscan(&["inspect", missing.to_str().unwrap()]));
    assert_eq!(code, 2);
    assert_eq!(
        err,
        format!(
            "imgscan: reading manifest of docker-archive:{}: layer gone/layer.tar listed in the \
             manifest is missing from the archive\n",
            abs(&missing)
        )
    );

    // A config that is not JSON.
    let bad = tmp.path().join("bad.tar");
    docker_tar(
        &bad,
        r#"[{"Config":"c.json","RepoTags":null,"Layers":["l.tar"]}]"#,
        &[("c.json", b"\x00\x01binary"), ("l.tar", &layer)],
    );
    let (_, err, code) = outs(&imgscan(&["inspect", bad.to_str().unwrap()]));
    assert_eq!(code, 2);
    assert!(
        err.starts_with(&format!(
            "imgscan: reading config of docker-archive:{}: c.json: the image config is not JSON: ",
            abs(&bad)
        )),
        "{err}"
    );

    // A layer whose bytes do not match the diff_id the config declares.
    let tampered = tmp.path().join("tampered.tar");
    let other = layer_tar(&[Ent::file("a", b"b")]);
    docker_tar(
        &tampered,
        r#"[{"Config":"c.json","RepoTags":["t:1"],"Layers":["l.tar"]}]"#,
        &[("c.json", &cfg), ("l.tar", &other)],
    );
    let (_, err, code) = outs(&imgscan(&["inspect", "-q", tampered.to_str().unwrap()]));
    assert_eq!(code, 2);
    assert!(
        err.contains(&format!(
            "digest mismatch: expected {}, got {}",
            sha256(&layer),
            sha256(&other)
        )),
        "{err}"
    );
}

#[test]
fn zstd_frame_demanding_a_huge_window_is_refused() {
    let tar = layer_tar(&[Ent::file("a", vec![3u8; 100_000])]);
    let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    enc.window_log(27).unwrap();
    enc.long_distance_matching(true).unwrap();
    std::io::copy(&mut &tar[..], &mut enc).unwrap();
    let blob = enc.finish().unwrap();
    let li = LayerInfo {
        index: 0,
        digest: sha256(&blob),
        media_type: String::new(),
        size: blob.len() as u64,
    };
    let w = walk_layer(
        Box::new(std::io::Cursor::new(blob)),
        &li,
        &Limits::default(),
        &mut NoopVisitor,
    );
    let err = w.error.expect("a 128 MiB window must be refused");
    assert!(
        err.ends_with("the zstd frame needs a window over 16 MiB, refused to keep memory bounded"),
        "{err}"
    );
}

#[test]
fn many_tiny_entries_over_max_meta_bytes_is_a_limit_finding() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("l");
    layout_with(
        &dir,
        vec![Layer::raw(
            many_entries_layer(5_000),
            "application/vnd.oci.image.layer.v1.tar+gzip",
        )],
    );
    let scan = |extra: &[&str]| {
        let mut args = vec!["scan", "-q", "--format", "json", dir.to_str().unwrap()];
        args.extend_from_slice(extra);
        let (out, stderr, code) = outs(&imgscan(&args));
        let doc: serde_json::Value = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("bad JSON ({e}): {out}\nstderr: {stderr}"));
        (doc, code)
    };
    // Under the default budget the layer is read whole: a clean scan.
    let (doc, code) = scan(&[]);
    assert_eq!(code, 0, "{doc}");
    // 5000 entries do not fit in 64 KiB of metadata: reported, and the scan is not clean.
    let (doc, code) = scan(&["--max-meta-bytes", "64K"]);
    assert_eq!(code, 2, "{doc}");
    let findings = doc["reports"][0]["findings"].as_array().unwrap();
    let inc: Vec<_> = findings
        .iter()
        .filter(|f| f["id"] == "IMG-SCAN-INCOMPLETE")
        .map(|f| f.to_string())
        .collect();
    assert_eq!(inc.len(), 1, "{doc}");
    assert!(inc[0].contains("65536 byte metadata budget"), "{}", inc[0]);
    assert!(inc[0].contains("--max-meta-bytes"), "{}", inc[0]);
    assert_eq!(LimitKind::MetaBytes.flag(), "--max-meta-bytes");
    // With --allow-incomplete the same scan exits 0 but still carries the finding.
    let (doc, code) = scan(&["--max-meta-bytes", "64K", "--allow-incomplete"]);
    assert_eq!(code, 0, "{doc}");
    assert!(doc.to_string().contains("--max-meta-bytes"), "{doc}");
}
