//! The per-layer scan cache (issue 11): a warm rescan reads no layer and reports the same,
//! bad entries are misses that get overwritten, incomplete layers are not stored, the
//! directory is private, and processes share one directory safely.

mod common;

use imgscan::cache::{Analysis, Backend, FsBackend, LayerCache, MemoryBackend};
use imgscan::image::LayerInfo;
use imgscan::limits::Limits;
use imgscan::reference::Target;
use imgscan::rules::RuleSet;
use imgscan::signatures::Signatures;
use imgscan::source::{open, LayerSource, OpenedImage, SourceOptions};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Counts the layers opened (a layer never opened is never downloaded).
struct Counting {
    inner: Arc<dyn LayerSource>,
    opened: Arc<AtomicUsize>,
}

impl LayerSource for Counting {
    fn open_layer(&self, layer: &LayerInfo) -> imgscan::error::Result<Box<dyn Read + Send>> {
        self.opened.fetch_add(1, Ordering::SeqCst);
        self.inner.open_layer(layer)
    }
}

fn image(dir: &Path) -> (OpenedImage, Arc<AtomicUsize>) {
    let spec = imgscan_testkit::malicious_sample();
    imgscan_testkit::single_image_layout(dir, &spec, "latest");
    let mut img = open(
        &Target::parse(dir.to_str().unwrap()).unwrap(),
        &SourceOptions::default(),
    )
    .unwrap()
    .remove(0);
    let opened = Arc::new(AtomicUsize::new(0));
    img.layers = Arc::new(Counting {
        inner: img.layers,
        opened: Arc::clone(&opened),
    });
    (img, opened)
}

/// Scan and return the JSON report and how many layers were opened.
fn scan(
    img: &OpenedImage,
    opened: &AtomicUsize,
    cache: &LayerCache,
    limits: &Limits,
) -> (String, usize) {
    let sigs = Arc::new(Signatures::embedded().unwrap());
    let before = opened.load(Ordering::SeqCst);
    let (report, _) = imgscan::scan::scan_image_cached(
        img,
        &sigs,
        &RuleSet::embedded_default(),
        limits,
        2,
        Some(cache),
    );
    (
        serde_json::to_string(&report).unwrap(),
        opened.load(Ordering::SeqCst) - before,
    )
}

fn fs_cache(dir: &Path) -> LayerCache {
    LayerCache::new(
        Box::new(FsBackend::open(dir, 1 << 30).unwrap()),
        Analysis::new(None, &Limits::default()).unwrap(),
        None,
    )
}

fn entries(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".entry"))
        .collect();
    v.sort();
    v
}

#[test]
fn warm_rescan_reads_no_layer_and_reports_the_same() {
    let t = tempfile::tempdir().unwrap();
    let (img, opened) = image(&t.path().join("layout"));
    let n = img.image.layers.len();
    let cdir = t.path().join("cache");
    let cache = fs_cache(&cdir);
    let limits = Limits::default();
    let (cold, cold_opened) = scan(&img, &opened, &cache, &limits);
    assert_eq!(cold_opened, n);
    assert_eq!(cache.counts().stored, n as u64);
    assert!(cold.contains("\"findings\""), "{cold}");
    // A new process's cache: the same directory.
    let cache = fs_cache(&cdir);
    let (warm, warm_opened) = scan(&img, &opened, &cache, &limits);
    assert_eq!(warm_opened, 0, "a cached layer is not opened");
    assert_eq!(cache.counts().hits, n as u64);
    assert_eq!(warm, cold);
    let mode = std::fs::metadata(&cdir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
}

#[test]
fn memory_backend_serves_the_second_scan() {
    let t = tempfile::tempdir().unwrap();
    let (img, opened) = image(&t.path().join("layout"));
    let cache = LayerCache::new(
        Box::new(MemoryBackend::new(1 << 30)),
        Analysis::new(None, &Limits::default()).unwrap(),
        None,
    );
    let limits = Limits::default();
    let (cold, _) = scan(&img, &opened, &cache, &limits);
    let (warm, warm_opened) = scan(&img, &opened, &cache, &limits);
    assert_eq!(warm_opened, 0);
    assert_eq!(warm, cold);
}

#[test]
fn bad_entries_are_misses_and_get_overwritten() {
    let t = tempfile::tempdir().unwrap();
    let (img, opened) = image(&t.path().join("layout"));
    let cdir = t.path().join("cache");
    let limits = Limits::default();
    let (cold, _) = scan(&img, &opened, &fs_cache(&cdir), &limits);
    let files = entries(&cdir);
    assert!(files.len() >= 2, "{files:?}");
    let good: Vec<Vec<u8>> = files.iter().map(|p| std::fs::read(p).unwrap()).collect();
    type Spoil = fn(&[Vec<u8>], usize) -> Vec<u8>;
    let spoils: [(&str, Spoil); 5] = [
        ("truncated", |g, i| g[i][..g[i].len() / 2].to_vec()),
        ("flipped byte", |g, i| {
            let mut v = g[i].clone();
            let at = v.len() - 40;
            v[at] ^= 0x55;
            v
        }),
        ("other format version", |g, i| {
            let mut v = g[i].clone();
            v[8] = v[8].wrapping_add(1);
            v
        }),
        // Another layer's valid entry under this layer's name: the key echo differs.
        ("wrong key", |g, i| g[(i + 1) % g.len()].clone()),
        ("empty", |_, _| Vec::new()),
    ];
    for (what, spoil) in spoils {
        for (i, p) in files.iter().enumerate() {
            std::fs::write(p, spoil(&good, i)).unwrap();
        }
        let cache = fs_cache(&cdir);
        let (r, n) = scan(&img, &opened, &cache, &limits);
        assert_eq!(n, files.len(), "{what}: every spoiled layer is read again");
        assert_eq!(r, cold, "{what}: same report");
        assert_eq!(cache.counts().hits, 0, "{what}");
        // Overwritten: the next scan is warm.
        let (r, n) = scan(&img, &opened, &fs_cache(&cdir), &limits);
        assert_eq!((n, r == cold), (0, true), "{what}: entry rewritten");
    }
}

#[test]
fn other_limits_or_signatures_do_not_share_entries() {
    let t = tempfile::tempdir().unwrap();
    let (img, opened) = image(&t.path().join("layout"));
    let cdir = t.path().join("cache");
    let limits = Limits::default();
    scan(&img, &opened, &fs_cache(&cdir), &limits);
    let other = Limits {
        nesting: 2,
        ..Limits::default()
    };
    let cache = LayerCache::new(
        Box::new(FsBackend::open(&cdir, 1 << 30).unwrap()),
        Analysis::new(None, &other).unwrap(),
        None,
    );
    let (_, n) = scan(&img, &opened, &cache, &other);
    assert_eq!(n, img.image.layers.len());
    let sigdir = t.path().join("sigs");
    std::fs::create_dir(&sigdir).unwrap();
    std::fs::write(
        sigdir.join("miner-names.toml"),
        "[[name]]\nkind = \"miner\"\nsource = \"test\"\nnames = [\"zzminer\"]\n",
    )
    .unwrap();
    assert_ne!(
        Analysis::new(Some(&sigdir), &limits).unwrap(),
        Analysis::new(None, &limits).unwrap()
    );
}

#[test]
fn incomplete_layers_are_not_stored() {
    let t = tempfile::tempdir().unwrap();
    let (img, opened) = image(&t.path().join("layout"));
    let cdir = t.path().join("cache");
    // Every file over 8 bytes is cut: each layer with one hits the bound.
    let limits = Limits {
        file_bytes: 8,
        ..Limits::default()
    };
    let cache = LayerCache::new(
        Box::new(FsBackend::open(&cdir, 1 << 30).unwrap()),
        Analysis::new(None, &limits).unwrap(),
        None,
    );
    let (r, _) = scan(&img, &opened, &cache, &limits);
    assert!(r.contains("IMG-SCAN-INCOMPLETE"), "{r}");
    let stored = cache.counts().stored as usize;
    assert!(stored < img.image.layers.len(), "stored {stored}");
    let (r2, n) = scan(&img, &opened, &cache, &limits);
    assert_eq!(n, img.image.layers.len() - stored);
    assert_eq!(r2, r);
}

#[test]
fn foreign_writable_or_foreign_dirs_are_refused() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("open");
    std::fs::create_dir(&d).unwrap();
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).unwrap();
    let e = FsBackend::open(&d, 1 << 30).unwrap_err();
    assert!(e.contains("writable by group or others"), "{e}");
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o770)).unwrap();
    assert!(FsBackend::open(&d, 1 << 30).is_err());
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert!(FsBackend::open(&d, 1 << 30).is_ok());
    let f = t.path().join("file");
    std::fs::write(&f, b"x").unwrap();
    assert!(FsBackend::open(&f, 1 << 30).is_err());
    // Created private.
    let n = t.path().join("a/b/cache");
    FsBackend::open(&n, 1 << 30).unwrap();
    let mode = std::fs::metadata(&n).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
}

#[test]
fn parents_that_let_others_swap_the_directory_are_refused() {
    let t = tempfile::tempdir().unwrap();
    // Others may write the parent and it has no sticky bit: they could rename the
    // private cache away and put theirs in its place.
    let open = t.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let e = FsBackend::open(&open.join("cache"), 1 << 30).unwrap_err();
    assert!(e.contains("parent") && e.contains("sticky"), "{e}");
    // Refused however deep below it the cache sits, and through a symlink too.
    assert!(FsBackend::open(&open.join("a/b/cache"), 1 << 30).is_err());
    let link = t.path().join("link");
    std::os::unix::fs::symlink(open.join("a"), &link).unwrap();
    assert!(FsBackend::open(&link.join("cache"), 1 << 30).is_err());
    // With the sticky bit (as /tmp) others cannot rename or remove what is ours.
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o1777)).unwrap();
    FsBackend::open(&open.join("cache"), 1 << 30).unwrap();
    // A parent that belongs to another user (not root) is refused whatever its mode.
    let theirs = t.path().join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    if std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).is_ok() {
        let e = FsBackend::open(&theirs.join("cache"), 1 << 30).unwrap_err();
        assert!(e.contains("belongs to uid 65534"), "{e}");
    }
    // The same refusal from the CLI: a clear error, exit 2, nothing scanned.
    let layout = t.path().join("layout");
    imgscan_testkit::single_image_layout(&layout, &imgscan_testkit::malicious_sample(), "latest");
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let bad = open.join("cli");
    let (out, err, code) = common::outs(&common::imgscan(&[
        "scan",
        "--cache-dir",
        bad.to_str().unwrap(),
        layout.to_str().unwrap(),
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty() && err.contains("sticky"), "{err}");
}

#[test]
fn lru_eviction_keeps_the_directory_under_its_size() {
    let t = tempfile::tempdir().unwrap();
    let b = FsBackend::open(&t.path().join("c"), 10_000).unwrap();
    for i in 0..20 {
        b.put(&format!("e{i}"), &[0u8; 1000]).unwrap();
    }
    let (n, bytes) = b.stats().unwrap();
    assert!(bytes <= 10_000 && n >= 5, "{n} entries, {bytes} bytes");
    assert!(b.get("e19").unwrap().is_some(), "the newest stays");
    assert!(b.get("e0").unwrap().is_none(), "the oldest went");
}

#[test]
fn concurrent_processes_share_one_directory() {
    let t = tempfile::tempdir().unwrap();
    let layout = t.path().join("layout");
    imgscan_testkit::single_image_layout(&layout, &imgscan_testkit::malicious_sample(), "latest");
    let cdir = t.path().join("cache");
    let (l, c) = (layout.to_str().unwrap(), cdir.to_str().unwrap());
    let args = ["scan", "--format", "json", "--cache-dir", c, l];
    let reference = common::imgscan(&["scan", "--format", "json", "--no-cache", l]);
    for round in 0..2 {
        let kids: Vec<_> = (0..4)
            .map(|_| {
                std::process::Command::new(env!("CARGO_BIN_EXE_imgscan"))
                    .args(args)
                    .output()
                    .unwrap()
            })
            .collect();
        for k in kids {
            assert_eq!(k.status.code(), reference.status.code(), "round {round}");
            assert_eq!(k.stdout, reference.stdout, "round {round}");
        }
    }
    assert!(!entries(&cdir).is_empty());
    assert!(std::fs::read_dir(&cdir)
        .unwrap()
        .flatten()
        .all(|e| !e.file_name().to_string_lossy().starts_with(".tmp-")));
}

#[test]
fn cache_stats_and_clean_commands() {
    let t = tempfile::tempdir().unwrap();
    let layout = t.path().join("layout");
    imgscan_testkit::single_image_layout(&layout, &imgscan_testkit::malicious_sample(), "latest");
    let cdir = t.path().join("cache");
    let (l, c) = (layout.to_str().unwrap(), cdir.to_str().unwrap());
    common::imgscan(&["scan", "-q", "--cache-dir", c, l]);
    let n = entries(&cdir).len();
    assert!(n > 0);
    let (out, _, code) = common::outs(&common::imgscan(&["cache", "stats", "--cache-dir", c]));
    assert_eq!(code, 0);
    assert!(out.contains(&format!("{n} entries")), "{out}");
    let (out, _, code) = common::outs(&common::imgscan(&["cache", "clean", "--cache-dir", c]));
    assert_eq!(code, 0);
    assert!(out.contains(&format!("removed {n} entries")), "{out}");
    assert!(entries(&cdir).is_empty());
}

/// `imgscan` with no cache flag, `$XDG_CACHE_HOME` = `xdg` and the default not turned off.
fn default_run(xdg: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_imgscan"))
        .env_remove("IMGSCAN_CACHE_DEFAULT")
        .env("XDG_CACHE_HOME", xdg)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn fs_is_the_default_and_an_unusable_default_is_one_warning() {
    let t = tempfile::tempdir().unwrap();
    let layout = t.path().join("layout");
    imgscan_testkit::single_image_layout(&layout, &imgscan_testkit::malicious_sample(), "latest");
    let l = layout.to_str().unwrap();
    let reference = common::imgscan(&["scan", "--format", "json", "--no-cache", l]);
    // No flag: entries land in $XDG_CACHE_HOME/imgscan/layers, and the rescan agrees.
    let xdg = t.path().join("xdg");
    for round in 0..2 {
        let o = default_run(&xdg, &["scan", "--format", "json", l]);
        assert_eq!(o.status.code(), reference.status.code(), "round {round}");
        assert_eq!(o.stdout, reference.stdout, "round {round}");
    }
    let dir = xdg.join("imgscan/layers");
    assert!(!entries(&dir).is_empty());
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    // --no-cache: nothing written.
    let other = t.path().join("xdg2");
    default_run(&other, &["scan", "-q", "--no-cache", l]);
    assert!(!other.exists());
    // A default that cannot be made (here under a plain file) is one warning and the
    // same scan without the cache.
    let file = t.path().join("plain-file");
    std::fs::write(&file, b"x").unwrap();
    let o = default_run(&file.join("sub"), &["scan", "--format", "json", l]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), reference.status.code(), "{err}");
    assert_eq!(o.stdout, reference.stdout);
    assert_eq!(
        err.matches("warning: default scan cache not used").count(),
        1,
        "{err}"
    );
}
