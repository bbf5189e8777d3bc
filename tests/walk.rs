//! The layer walker on real layer blobs: compressions, tar flavours, content access,
//! whiteouts/opaque dirs with exact `hidden_by`, link resolution.

mod common;

use imgscan::image::{EntryKind, FileEntry, LayerInfo};
use imgscan::layers::{walk_image, walk_layer, Compression, EntryVisitor, NoopVisitor};
use imgscan::limits::{LimitKind, Limits};
use imgscan::reference::Target;
use imgscan::source::{open, SourceOptions};
use imgscan_testkit::*;
use std::io::Read;

/// Records every entry and the first bytes of each file.
#[derive(Default)]
struct Collect {
    seen: Vec<(FileEntry, Vec<u8>)>,
}

impl EntryVisitor for Collect {
    fn visit(&mut self, e: &FileEntry, content: &mut dyn Read) -> std::io::Result<()> {
        let mut buf = Vec::new();
        content.take(64).read_to_end(&mut buf)?;
        self.seen.push((e.clone(), buf));
        Ok(())
    }
}

fn info(blob: &[u8]) -> LayerInfo {
    LayerInfo {
        index: 0,
        digest: sha256(blob),
        media_type: "application/vnd.oci.image.layer.v1.tar".into(),
        size: blob.len() as u64,
    }
}

fn walk_blob(blob: Vec<u8>, limits: &Limits) -> (imgscan::layers::LayerWalk, Collect) {
    let li = info(&blob);
    let mut v = Collect::default();
    let w = walk_layer(Box::new(std::io::Cursor::new(blob)), &li, limits, &mut v);
    (w, v)
}

#[test]
fn each_compression_yields_the_same_entries() {
    let entries = [
        Ent::dir("usr/bin"),
        Ent::exe("usr/bin/tool", b"\x7fELF tool"),
        Ent::symlink("usr/bin/t", "tool"),
        Ent::hardlink("usr/bin/t2", "usr/bin/tool"),
        Ent::file("etc/conf", b"k=v\n"),
    ];
    let tar = layer_tar(&entries);
    for (c, want) in [
        (Comp::Gzip, Compression::Gzip),
        (Comp::Zstd, Compression::Zstd),
        (Comp::None, Compression::None),
    ] {
        let (w, v) = walk_blob(compress(&tar, c), &Limits::default());
        assert_eq!(w.compression, want);
        assert!(w.error.is_none(), "{:?}", w.error);
        assert!(w.limits.is_empty());
        assert_eq!(w.entries, 5);
        assert_eq!(w.uncompressed_bytes, tar.len() as u64);
        assert_eq!(w.compressed_bytes, compress(&tar, c).len() as u64);
        let got: Vec<(&str, EntryKind, Option<&str>, &[u8])> = v
            .seen
            .iter()
            .map(|(e, b)| (e.path.as_str(), e.kind, e.link_target.as_deref(), &b[..]))
            .collect();
        assert_eq!(
            got,
            [
                ("usr/bin", EntryKind::Dir, None, &b""[..]),
                ("usr/bin/tool", EntryKind::File, None, b"\x7fELF tool"),
                ("usr/bin/t", EntryKind::Symlink, Some("tool"), b""),
                ("usr/bin/t2", EntryKind::Hardlink, Some("usr/bin/tool"), b""),
                ("etc/conf", EntryKind::File, None, b"k=v\n"),
            ]
        );
        assert_eq!(v.seen[1].0.mode, 0o755);
        assert!(v.seen[1].0.is_executable());
    }
}

#[test]
fn long_names_pax_and_gnu() {
    let long = format!("{}/file", "d".repeat(300));
    // GNU long names (tar crate's Builder on a GNU header).
    let (w, v) = walk_blob(
        compress(&layer_tar(&[Ent::file(&long, b"x")]), Comp::Gzip),
        &Limits::default(),
    );
    assert!(w.error.is_none());
    assert_eq!(v.seen[0].0.path, long);
    // PAX path records, as Go's archive/tar (Docker, buildkit) writes them.
    let mut b = tar::Builder::new(Vec::new());
    b.append_pax_extensions([("path", long.as_bytes())])
        .unwrap();
    let mut h = tar::Header::new_ustar();
    h.set_size(1);
    h.set_mode(0o600);
    h.set_path("short").unwrap();
    h.set_cksum();
    b.append(&h, &b"y"[..]).unwrap();
    let (w, v) = walk_blob(b.into_inner().unwrap(), &Limits::default());
    assert!(w.error.is_none(), "{:?}", w.error);
    assert_eq!(w.entries, 1);
    assert_eq!(v.seen[0].0.path, long);
    assert_eq!(v.seen[0].1, b"y");
}

#[test]
fn file_bytes_and_path_len_limits_are_reported() {
    let big = vec![7u8; 10_000];
    let tar = layer_tar(&[
        Ent::file("big", &big),
        Ent::file(&"p".repeat(200), b"x"),
        Ent::file("after", b"still read"),
    ]);
    let limits = Limits {
        file_bytes: 1000,
        path_len: 100,
        ..Limits::default()
    };
    let (w, v) = walk_blob(compress(&tar, Comp::Gzip), &limits);
    assert!(w.error.is_none());
    let kinds: Vec<LimitKind> = w.limits.iter().map(|h| h.kind).collect();
    assert_eq!(kinds, [LimitKind::FileBytes, LimitKind::PathLen]);
    let blob_digest = sha256(&compress(&tar, Comp::Gzip));
    assert_eq!(
        w.limits[0].detail,
        format!(
            "layer 0 ({blob_digest}): only the first 1000 of 10000 bytes of big were examined \
             (raise with --max-file-bytes N)"
        )
    );
    assert!(w.limits[1].detail.contains("an entry with a 200-byte name"));
    assert!(w.limits[1]
        .detail
        .ends_with("(raise with --max-path-len N)"));
    // The long-named entry is skipped, the next one is still read.
    let paths: Vec<&str> = v.seen.iter().map(|(e, _)| e.path.as_str()).collect();
    assert_eq!(paths, ["big", "after"]);
}

#[test]
fn visitor_error_stops_the_layer() {
    struct Fail;
    impl EntryVisitor for Fail {
        fn visit(&mut self, e: &FileEntry, _: &mut dyn Read) -> std::io::Result<()> {
            Err(std::io::Error::other(format!("cannot handle {}", e.path)))
        }
    }
    let blob = compress(
        &layer_tar(&[Ent::file("a", b"1"), Ent::file("b", b"2")]),
        Comp::Zstd,
    );
    let li = info(&blob);
    let w = walk_layer(
        Box::new(std::io::Cursor::new(blob)),
        &li,
        &Limits::default(),
        &mut Fail,
    );
    assert_eq!(
        w.error.as_deref(),
        Some(
            format!(
                "layer 0 ({}): while examining a: cannot handle a",
                li.digest
            )
            .as_str()
        )
    );
    assert_eq!(w.entries, 1);
}

#[test]
fn whiteouts_opaque_dirs_and_hidden_by_exact() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("l");
    single_image_layout(&layout, &sample_image(), "x");
    let t = Target::parse(layout.to_str().unwrap()).unwrap();
    let imgs = open(&t, &SourceOptions::default()).unwrap();
    let w = walk_image(&imgs[0], &Limits::default(), 2, |_| Collect::default());
    assert!(w.incomplete().is_empty(), "{:?}", w.incomplete());
    let fs = &w.fs;

    // Every entry of every layer with its hidden_by, whiteout markers excluded.
    let all: Vec<(usize, &str, Option<usize>)> = fs
        .entries()
        .map(|e| (e.layer, e.path.as_str(), e.hidden_by))
        .collect();
    assert_eq!(
        all,
        [
            (0, "etc", None),
            (0, "etc/passwd", None),
            (0, "etc/motd", Some(1)),
            (0, "opt/app", None),
            (0, "opt/app/old.conf", Some(1)),
            (0, "opt/app/sub/deep", Some(1)),
            (0, "bin/busybox", None),
            (0, "bin/sh", None),
            (0, "bin/ls", None),
            (0, "tmp/xmrig", Some(1)),
            (1, "opt/app/new.conf", None),
            (1, "etc/motd", None),
            (2, "usr/local/bin/run.sh", None),
            (2, "usr/bin/sh", None),
        ]
    );
    assert_eq!(fs.hidden_by(0, "tmp/xmrig"), Some(1));
    assert_eq!(fs.hidden_by(0, "/etc/motd"), Some(1));
    assert_eq!(fs.hidden_by(1, "etc/motd"), None);
    assert!(fs.lookup("tmp/xmrig").is_none(), "deleted in layer 1");
    assert!(fs.lookup("opt/app/old.conf").is_none(), "opaque dir");
    assert_eq!(fs.lookup("etc/motd").unwrap().layer, 1);
    // The deleted miner was still handed to the layer-0 visitor with its content.
    let miner = w.visitors[0]
        .seen
        .iter()
        .find(|(e, _)| e.path == "tmp/xmrig")
        .unwrap();
    assert_eq!(miner.1, b"\x7fELF miner");
    assert_eq!(miner.0.hidden_by, None, "not known while walking");
    // Links resolve inside the image.
    assert_eq!(fs.resolve("usr/bin/sh").unwrap().path, "bin/busybox");
    assert_eq!(fs.resolve("bin/ls").unwrap().path, "bin/busybox");
    assert_eq!(fs.lookup("usr/bin/sh").unwrap().kind, EntryKind::Symlink);
}

#[test]
fn file_readded_in_a_later_layer_hides_the_earlier_one() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("l");
    let spec = ImageSpec::new(vec![
        Layer::new(&[Ent::exe("usr/bin/x", b"v0")], Comp::Gzip),
        Layer::new(&[Ent::Whiteout("usr/bin/x".into())], Comp::Gzip),
        Layer::new(&[Ent::exe("usr/bin/x", b"v2")], Comp::Gzip),
        Layer::new(&[Ent::exe("usr/bin/x", b"v3")], Comp::Zstd),
    ]);
    single_image_layout(&layout, &spec, "x");
    let imgs = open(
        &Target::parse(layout.to_str().unwrap()).unwrap(),
        &SourceOptions::default(),
    )
    .unwrap();
    let w = walk_image(&imgs[0], &Limits::default(), 4, |_| NoopVisitor);
    let hb: Vec<(usize, Option<usize>)> = w.fs.entries().map(|e| (e.layer, e.hidden_by)).collect();
    assert_eq!(hb, [(0, Some(1)), (2, Some(3)), (3, None)]);
    assert_eq!(w.fs.lookup("usr/bin/x").unwrap().layer, 3);
}

#[test]
fn docker_style_dot_slash_names_and_root_entry() {
    let mut b = tar::Builder::new(Vec::new());
    for (name, kind, data) in [
        ("./", tar::EntryType::Directory, &b""[..]),
        ("./etc/", tar::EntryType::Directory, b""),
        (
            "./etc/hosts",
            tar::EntryType::Regular,
            b"127.0.0.1 localhost\n",
        ),
    ] {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(0o755);
        let u = h.as_ustar_mut().unwrap();
        u.name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    let (w, v) = walk_blob(
        compress(&b.into_inner().unwrap(), Comp::Gzip),
        &Limits::default(),
    );
    assert!(w.error.is_none(), "{:?}", w.error);
    assert_eq!(w.entries, 3, "tar entries, the root included");
    assert!(w.unsafe_paths.is_empty());
    let paths: Vec<&str> = v.seen.iter().map(|(e, _)| e.path.as_str()).collect();
    assert_eq!(paths, ["etc", "etc/hosts"]);
    assert_eq!(v.seen[1].1, b"127.0.0.1 localhost\n");
}

/// A plain tar of `n` empty files, made as it is read (never held): 512 bytes a header.
struct ManyEntries {
    next: u64,
    n: u64,
    buf: Vec<u8>,
    pos: usize,
}

impl Read for ManyEntries {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
            if self.next < self.n {
                let mut h = tar::Header::new_gnu();
                h.set_path(format!("d{}/f{}", self.next % 1000, self.next))?;
                h.set_size(0);
                h.set_mode(0o644);
                h.set_entry_type(tar::EntryType::Regular);
                h.set_cksum();
                self.buf.extend_from_slice(h.as_bytes());
                self.next += 1;
            } else if self.next == self.n {
                self.buf.resize(1024, 0);
                self.next += 1;
            } else {
                return Ok(0);
            }
        }
        let k = out.len().min(self.buf.len() - self.pos);
        out[..k].copy_from_slice(&self.buf[self.pos..self.pos + k]);
        self.pos += k;
        Ok(k)
    }
}

/// One generated layer, read through the walker's own layer-opening trait.
struct Generated(Vec<LayerInfo>, u64);

impl imgscan::layers::ImageLayers for Generated {
    fn layer_list(&self) -> &[LayerInfo] {
        &self.0
    }
    fn open_blob(&self, _: &LayerInfo) -> imgscan::error::Result<Box<dyn Read + Send>> {
        Ok(Box::new(ManyEntries {
            next: 0,
            n: self.1,
            buf: Vec::new(),
            pos: 0,
        }))
    }
}

#[derive(Default)]
struct CountVisits(u64);

impl EntryVisitor for CountVisits {
    fn visit(&mut self, _: &FileEntry, _: &mut dyn Read) -> std::io::Result<()> {
        self.0 += 1;
        Ok(())
    }
}

#[test]
fn two_million_entries_stay_within_the_metadata_budget() {
    const N: u64 = 2_000_000;
    let image = Generated(
        vec![LayerInfo {
            index: 0,
            digest: "sha256:generated".into(),
            media_type: "application/vnd.oci.image.layer.v1.tar".into(),
            size: 0,
        }],
        N,
    );
    let limits = Limits {
        entries_per_layer: 3_000_000,
        meta_bytes: 64 << 20,
        ..Limits::default()
    };
    let w = walk_image(&image, &limits, 1, |_| CountVisits::default());
    assert_eq!(w.layers[0].error, None);
    assert_eq!(w.layers[0].entries, N, "every entry was read");
    assert_eq!(w.visitors[0].0, N, "and examined");
    assert_eq!(w.limits.len(), 1, "{:?}", w.limits);
    let hit = &w.limits[0];
    assert_eq!(hit.kind, LimitKind::MetaBytes);
    assert_eq!(hit.layer, Some(0));
    assert!(
        hit.detail.contains("67108864 byte metadata budget"),
        "{}",
        hit.detail
    );
    assert!(
        !w.incomplete().is_empty(),
        "a limit hit makes the scan incomplete"
    );
    // What was kept fits the budget even counted at the bare struct size.
    let kept = w.fs.entries().count() as u64;
    assert!(kept > 0 && kept < N, "{kept}");
    assert!(kept * std::mem::size_of::<FileEntry>() as u64 <= limits.meta_bytes);
    // The same layer under the default budget is kept whole (no hit).
    let w = walk_image(
        &Generated(image.0.clone(), 100_000),
        &Limits::default(),
        1,
        |_| NoopVisitor,
    );
    assert!(w.limits.is_empty(), "{:?}", w.limits);
    assert_eq!(w.fs.entries().count(), 100_000);
}
