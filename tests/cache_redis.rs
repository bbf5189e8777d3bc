//! The Redis cache backend (issue 11) against a real `redis-server`: processes share
//! layers through it, AUTH works and a wrong password is a warning, a corrupt or oversized
//! value is a miss that gets overwritten, entries carry the TTL, a Redis that goes away or
//! stops answering degrades to a scan without the cache, and `cache stats|clean` walk only
//! imgscan's keys.

mod common;
#[path = "common/redis.rs"]
mod redis_harness;
#[path = "common/registry.rs"]
mod registry_harness;

use imgscan::cache::{entry_name, Analysis, Backend, LayerCache, RedisBackend, RedisOptions};
use imgscan::image::LayerInfo;
use imgscan::limits::Limits;
use imgscan::reference::Target;
use imgscan::rules::RuleSet;
use imgscan::signatures::Signatures;
use imgscan::source::{open, LayerSource, OpenedImage, SourceOptions};
use redis_harness::RedisServer;
use std::io::Read;
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

fn layout(dir: &Path) -> String {
    imgscan_testkit::single_image_layout(dir, &imgscan_testkit::malicious_sample(), "latest");
    dir.to_str().unwrap().to_string()
}

fn image(dir: &Path) -> (OpenedImage, Arc<AtomicUsize>) {
    let l = layout(dir);
    let mut img = open(&Target::parse(&l).unwrap(), &SourceOptions::default())
        .unwrap()
        .remove(0);
    let opened = Arc::new(AtomicUsize::new(0));
    img.layers = Arc::new(Counting {
        inner: img.layers,
        opened: Arc::clone(&opened),
    });
    (img, opened)
}

fn redis_cache(url: &str, ttl: Option<u64>) -> LayerCache {
    let b = RedisBackend::open(
        url,
        RedisOptions {
            ttl,
            ..Default::default()
        },
    )
    .unwrap();
    LayerCache::new(
        Box::new(b),
        Analysis::new(None, &Limits::default()).unwrap(),
        ttl,
    )
}

/// Scan; the JSON report and how many layers were opened.
fn scan(img: &OpenedImage, opened: &AtomicUsize, cache: &LayerCache) -> (String, usize) {
    let sigs = Arc::new(Signatures::embedded().unwrap());
    let before = opened.load(Ordering::SeqCst);
    let (report, _) = imgscan::scan::scan_image_cached(
        img,
        &sigs,
        &RuleSet::embedded_default(),
        &Limits::default(),
        2,
        Some(cache),
    );
    (
        serde_json::to_string(&report).unwrap(),
        opened.load(Ordering::SeqCst) - before,
    )
}

/// The Redis key of `layer`'s entry under the default analysis and prefix.
fn redis_key(layer: &LayerInfo) -> String {
    let a = Analysis::new(None, &Limits::default()).unwrap();
    format!(
        "{}{}",
        imgscan::cache::redis::DEFAULT_PREFIX,
        entry_name(&a.key(&layer.digest))
    )
}

/// Layer digests of the layout's image.
fn layer_digests(l: &str) -> Vec<String> {
    let img = open(&Target::parse(l).unwrap(), &SourceOptions::default())
        .unwrap()
        .remove(0);
    img.image.layers.iter().map(|l| l.digest.clone()).collect()
}

#[test]
fn two_processes_share_layers_through_redis() {
    let r = RedisServer::start();
    let t = tempfile::tempdir().unwrap();
    let l = layout(&t.path().join("layout"));
    let url = r.url();
    let reference = common::imgscan(&["scan", "--format", "json", "--no-cache", &l]);
    let args = ["scan", "--format", "json", "--cache-backend", &url, &l];
    let cold = common::imgscan(&args);
    assert_eq!(cold.stdout, reference.stdout);
    assert_eq!(cold.status.code(), reference.status.code());
    let digests = layer_digests(&l);
    assert_eq!(r.dbsize(), digests.len() as u64, "one key per layer");
    // The layer blobs are spoiled (reading one would fail its digest and make the scan
    // incomplete): a second process can only answer from Redis.
    for d in &digests {
        let hex = d.strip_prefix("sha256:").unwrap();
        std::fs::write(Path::new(&l).join("blobs/sha256").join(hex), b"spoiled").unwrap();
    }
    let uncached = common::imgscan(&["scan", "--format", "json", "--no-cache", &l]);
    let (u, _, code) = common::outs(&uncached);
    assert!(
        u.contains("IMG-SCAN-INCOMPLETE") && code == 2,
        "a read would notice"
    );
    let warm = common::imgscan(&args);
    let (out, err, _) = common::outs(&warm);
    assert!(!err.contains("warning"), "{err}");
    assert!(
        out == String::from_utf8_lossy(&reference.stdout),
        "same report, no layer read: {}",
        &out[..out.len().min(2000)]
    );
    assert_eq!(warm.status.code(), reference.status.code());
    // The same through `--cache-backend redis --cache-url`.
    let warm = common::imgscan(&[
        "scan",
        "--format",
        "json",
        "--cache-backend",
        "redis",
        "--cache-url",
        &url,
        &l,
    ]);
    assert!(warm.stdout == reference.stdout);
}

#[test]
fn password_auth_good_and_bad() {
    let r = RedisServer::start_with_password("s3cret-pw");
    let t = tempfile::tempdir().unwrap();
    let l = layout(&t.path().join("layout"));
    let reference = common::imgscan(&["scan", "--format", "json", "--no-cache", &l]);
    let good = common::imgscan(&["scan", "--format", "json", "--cache-backend", &r.url(), &l]);
    let (_, err, _) = common::outs(&good);
    assert!(!err.contains("warning"), "{err}");
    assert_eq!(good.stdout, reference.stdout);
    assert!(r.dbsize() > 0, "stored with AUTH");
    let bad_url = format!("redis://:wrong@127.0.0.1:{}/", r.port);
    let bad = common::imgscan(&["scan", "--format", "json", "--cache-backend", &bad_url, &l]);
    let (_, err, _) = common::outs(&bad);
    assert!(
        err.contains("warning: cache redis://:***@127.0.0.1"),
        "{err}"
    );
    assert!(
        !err.contains("wrong@"),
        "the password is not printed: {err}"
    );
    assert_eq!(
        bad.stdout, reference.stdout,
        "the scan completes without the cache"
    );
    assert_eq!(bad.status.code(), reference.status.code());
}

#[test]
fn corrupt_or_oversized_values_are_misses_and_get_overwritten() {
    let r = RedisServer::start();
    let t = tempfile::tempdir().unwrap();
    let (img, opened) = image(&t.path().join("layout"));
    let n = img.image.layers.len();
    let (cold, _) = scan(&img, &opened, &redis_cache(&r.url(), None));
    let key = redis_key(&img.image.layers[0]);
    assert_eq!(r.command(&["SET", &key, "IMGSCNC-not-an-entry"]), "+OK");
    let cache = redis_cache(&r.url(), None);
    let (report, read) = scan(&img, &opened, &cache);
    assert_eq!(read, 1, "the spoiled layer is read again");
    assert_eq!(report, cold);
    assert_eq!(
        (cache.counts().rejected, cache.counts().hits),
        (1, n as u64 - 1)
    );
    let len: u64 = r.command(&["STRLEN", &key])[1..].parse().unwrap();
    assert!(len > 100, "overwritten with a real entry ({len} bytes)");
    let (report, read) = scan(&img, &opened, &redis_cache(&r.url(), None));
    assert_eq!((read, report == cold), (0, true));
    // A value past the size bound is not loaded: a miss.
    let b = RedisBackend::open(&r.url(), RedisOptions::default())
        .unwrap()
        .with_max_entry(64);
    b.put("big", &[7u8; 65]).unwrap();
    assert_eq!(b.get("big").unwrap(), None);
    b.put("small", &[7u8; 64]).unwrap();
    assert_eq!(b.get("small").unwrap(), Some(vec![7u8; 64]));
}

#[test]
fn entries_carry_the_ttl() {
    let r = RedisServer::start();
    let t = tempfile::tempdir().unwrap();
    let l = layout(&t.path().join("layout"));
    common::imgscan(&[
        "scan",
        "-q",
        "--cache-backend",
        &r.url(),
        "--cache-ttl",
        "1h",
        &l,
    ]);
    let img = open(&Target::parse(&l).unwrap(), &SourceOptions::default())
        .unwrap()
        .remove(0);
    for layer in &img.image.layers {
        let ttl: i64 = r.command(&["TTL", &redis_key(layer)])[1..].parse().unwrap();
        assert!(ttl > 0 && ttl <= 3600, "TTL {ttl}");
    }
}

#[test]
fn redis_going_away_mid_run_is_a_warning() {
    let mut r = RedisServer::start();
    let t = tempfile::tempdir().unwrap();
    let (img, opened) = image(&t.path().join("layout"));
    let n = img.image.layers.len();
    let cache = redis_cache(&r.url(), None);
    let (cold, _) = scan(&img, &opened, &cache);
    assert!(cache.warnings().is_empty());
    let (warm, read) = scan(&img, &opened, &cache);
    assert_eq!((read, warm == cold), (0, true));
    r.stop();
    // The same process, the same cache: Redis is gone.
    let (report, read) = scan(&img, &opened, &cache);
    assert_eq!(read, n, "every layer read again");
    assert_eq!(report, cold, "the same report");
    let w = cache.warnings();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("going on without the cache"), "{w:?}");
    // A new process against the dead server: exit code as without a cache.
    let l = t.path().join("layout2");
    let l = layout(&l);
    let reference = common::imgscan(&["scan", "--format", "json", "--no-cache", &l]);
    let o = common::imgscan(&["scan", "--format", "json", "--cache-backend", &r.url(), &l]);
    let (_, err, _) = common::outs(&o);
    assert!(err.contains("warning: cache redis://127.0.0.1"), "{err}");
    assert_eq!(o.stdout, reference.stdout);
    assert_eq!(o.status.code(), reference.status.code());
}

#[test]
fn a_redis_that_never_answers_is_a_warning_not_a_hang() {
    // Accepts connections, reads nothing, answers nothing.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let held = std::thread::spawn(move || {
        let mut conns = Vec::new();
        for c in l.incoming().take(4).flatten() {
            conns.push(c);
        }
        conns
    });
    let t = tempfile::tempdir().unwrap();
    let lay = layout(&t.path().join("layout"));
    let reference = common::imgscan(&["scan", "--format", "json", "--no-cache", &lay]);
    let url = format!("redis://127.0.0.1:{port}/");
    let o = common::imgscan(&["scan", "--format", "json", "--cache-backend", &url, &lay]);
    let (_, err, _) = common::outs(&o);
    assert!(err.contains("warning: cache"), "{err}");
    assert_eq!(o.stdout, reference.stdout);
    assert_eq!(o.status.code(), reference.status.code());
    drop(held);
}

#[test]
fn cache_stats_and_clean_walk_only_imgscan_keys() {
    let r = RedisServer::start();
    let t = tempfile::tempdir().unwrap();
    let l = layout(&t.path().join("layout"));
    let url = r.url();
    common::imgscan(&["scan", "-q", "--cache-backend", &url, &l]);
    let n = r.dbsize();
    assert!(n > 0);
    assert_eq!(r.command(&["SET", "someone-else:key", "v"]), "+OK");
    let (out, err, code) = common::outs(&common::imgscan(&[
        "cache",
        "stats",
        "--cache-backend",
        &url,
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("{n} entries")), "{out}");
    let (out, err, code) = common::outs(&common::imgscan(&[
        "cache",
        "clean",
        "--cache-backend",
        "redis",
        "--cache-url",
        &url,
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("removed {n} entries")), "{out}");
    assert_eq!(r.dbsize(), 1, "other keys stay");
    // An unreachable Redis is an error for these commands (nothing to fall back to).
    let dead = "redis://127.0.0.1:1/";
    let (_, err, code) = common::outs(&common::imgscan(&[
        "cache",
        "stats",
        "--cache-backend",
        dead,
    ]));
    assert_eq!(code, 2);
    assert!(err.contains("connecting"), "{err}");
}

#[test]
fn a_redis_restarted_mid_run_is_used_again() {
    let mut r = RedisServer::start();
    let t = tempfile::tempdir().unwrap();
    let (img, opened) = image(&t.path().join("layout"));
    let n = img.image.layers.len();
    // Retry at once (no backoff wait) so the test needs no sleeps; the schedule itself
    // is the same code.
    let cache = redis_cache(&r.url(), None).with_retry(imgscan::cache::Retry {
        first: std::time::Duration::ZERO,
        max: std::time::Duration::ZERO,
        attempts: 20,
    });
    let (cold, _) = scan(&img, &opened, &cache);
    r.stop();
    let (down, read) = scan(&img, &opened, &cache);
    assert_eq!(
        (read, down == cold),
        (n, true),
        "uncached while Redis is away"
    );
    // Redis comes back (empty, on the same port): the next image reconnects, misses,
    // stores, and the one after is served from it.
    r.restart();
    assert_eq!(r.dbsize(), 0);
    let (again, read) = scan(&img, &opened, &cache);
    assert_eq!((read, again == cold), (n, true));
    assert!(r.dbsize() > 0, "stored after the reconnect");
    let (warm, read) = scan(&img, &opened, &cache);
    assert_eq!(
        (read, warm == cold),
        (0, true),
        "served after the reconnect"
    );
    let w = cache.warnings();
    assert!(w[0].contains("going on without the cache"), "{w:?}");
    assert!(w.iter().any(|w| w.contains("answering again")), "{w:?}");
    // Bounded: a Redis that stays away is given up after `attempts` failures in a row.
    r.stop();
    for _ in 0..20 {
        scan(&img, &opened, &cache);
    }
    let w = cache.warnings();
    assert!(
        w.last().unwrap().contains("off for the rest of this run"),
        "{w:?}"
    );
    r.restart();
    let (_, read) = scan(&img, &opened, &cache);
    assert_eq!(read, n, "given up: not asked again");
    assert_eq!(r.dbsize(), 0);
}

#[test]
fn rediss_with_a_private_ca_shares_layers_and_an_unknown_ca_is_a_warning() {
    let t = tempfile::tempdir().unwrap();
    let ca = registry_harness::make_ca(t.path());
    let r = RedisServer::start_tls(&ca.cert_pem, &ca.key_pem, &ca.ca_pem);
    let url = r.tls_url();
    let (img, opened) = image(&t.path().join("layout"));
    let tls_cache = |ca_pem: Option<Vec<u8>>| {
        let b = RedisBackend::open(
            &url,
            RedisOptions {
                ca_pem,
                ..Default::default()
            },
        )
        .unwrap();
        LayerCache::new(
            Box::new(b),
            Analysis::new(None, &Limits::default()).unwrap(),
            None,
        )
    };
    // Verified against the CA given: stored over TLS, then served over TLS.
    let pem = std::fs::read(&ca.ca_pem).unwrap();
    let first = tls_cache(Some(pem.clone()));
    let (cold, _) = scan(&img, &opened, &first);
    assert!(first.warnings().is_empty(), "{:?}", first.warnings());
    assert!(r.dbsize() > 0, "stored through the TLS port");
    let second = tls_cache(Some(pem));
    let (warm, read) = scan(&img, &opened, &second);
    assert_eq!((read, warm == cold), (0, true));
    // The system roots do not know the test CA: a warning, and an uncached scan.
    let untrusted = tls_cache(None);
    let (report, read) = scan(&img, &opened, &untrusted);
    assert_eq!((read, report == cold), (img.image.layers.len(), true));
    let w = untrusted.warnings();
    assert!(
        w.first()
            .is_some_and(|w| w.contains("going on without the cache")),
        "{w:?}"
    );
    // The CLI: --redis-ca with a rediss:// backend, a warm scan with the same report.
    let l = layout(&t.path().join("layout2"));
    let reference = common::imgscan(&["scan", "--format", "json", "--no-cache", &l]);
    let ca_arg = ca.ca_pem.to_str().unwrap();
    for round in 0..2 {
        let o = common::imgscan(&[
            "scan",
            "--format",
            "json",
            "--cache-backend",
            &url,
            "--redis-ca",
            ca_arg,
            &l,
        ]);
        let (_, err, _) = common::outs(&o);
        assert!(!err.contains("warning"), "round {round}: {err}");
        assert_eq!(o.stdout, reference.stdout, "round {round}");
    }
}
