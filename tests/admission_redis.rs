//! `imgscan serve --redis`: two webhook replicas (two `Server`s, each with its own
//! in-process cache and scanner) sharing a real `redis-server` on 127.0.0.1, images in
//! a real `docker-registry`. An image scanned through one replica is answered by the
//! other from Redis without a scan of its own, even with the registry gone (and, once
//! read, from its own cache with Redis gone too); two replicas asked at once scan once
//! (the lease), also when the scan outlasts the lease period (it is renewed); Redis
//! killed, both still answer; `rediss://` with a private CA (`--redis-ca`).

mod common;
#[path = "common/counted.rs"]
mod counted;
#[path = "common/redis.rs"]
mod redis_harness;
#[path = "common/registry.rs"]
mod registry_harness;

use counted::{counted_scanner as scanner, Counted};
use imgscan::admission::serve::{ServeConfig, Server};
use imgscan::admission::{ImageVerdict, Scanner};
use imgscan::reference::Reference;
use redis_harness::RedisServer;
use registry_harness::{install_crypto, make_ca, Registry, TestCa};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

struct Replica {
    addr: SocketAddr,
    health: SocketAddr,
    ca: TestCa,
    scanner: Arc<Counted>,
    _dir: tempfile::TempDir,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), String>>,
}

/// The counting registry scanner, each scan held `hold` first (a slow scan).
struct Held(Arc<Counted>, Duration);

impl Scanner for Held {
    fn scan(&self, image: &Reference) -> ImageVerdict {
        std::thread::sleep(self.1);
        self.0.scan(image)
    }
    fn version(&self) -> String {
        self.0.version()
    }
    fn resolve(&self, image: &Reference) -> Option<Result<String, String>> {
        self.0.resolve(image)
    }
}

async fn replica(redis_url: &str) -> Replica {
    replica_with(redis_url, Duration::ZERO, |_| {}).await
}

/// A replica whose scans take `hold` longer, its configuration changed by `tweak`.
async fn replica_with(
    redis_url: &str,
    hold: Duration,
    tweak: impl FnOnce(&mut ServeConfig),
) -> Replica {
    install_crypto();
    let dir = tempfile::tempdir().unwrap();
    let ca = make_ca(dir.path());
    let mut cfg = ServeConfig::new(ca.cert_pem.clone(), ca.key_pem.clone());
    cfg.listen = "127.0.0.1:0".parse().unwrap();
    cfg.health_listen = "127.0.0.1:0".parse().unwrap();
    cfg.redis = Some(redis_url.to_string());
    cfg.redis_prefix = Some("test:verdict:".into());
    tweak(&mut cfg);
    let scanner = scanner();
    let held = Arc::new(Held(scanner.clone(), hold));
    let server = Server::bind(cfg, held).await.unwrap();
    let (addr, health) = (server.local_addr(), server.health_addr());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async {
        let _ = rx.await;
    }));
    Replica {
        addr,
        health,
        ca,
        scanner,
        _dir: dir,
        stop: tx,
        task,
    }
}

impl Replica {
    fn scans(&self) -> usize {
        self.scanner.scans()
    }

    async fn review(&self, uid: &str, image: &str) -> Value {
        let body = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": uid, "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "operation": "CREATE", "userInfo": {}, "namespace": "shop",
            "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                       "spec": {"containers": [{"name": "c", "image": image}]}}}});
        let client = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(
                &std::fs::read(&self.ca.ca_pem).unwrap(),
            )
            .unwrap()])
            .no_proxy()
            .build()
            .unwrap();
        let r = client
            .post(format!(
                "https://localhost:{}/validate?timeout=30s",
                self.addr.port()
            ))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["response"]["uid"], uid, "{v}");
        v["response"].clone()
    }

    async fn metrics(&self) -> String {
        reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .get(format!("http://{}/metrics", self.health))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_verdicts_through_redis_and_survive_it() {
    let (reg, mut redis) = tokio::task::spawn_blocking(|| {
        let reg = Registry::plain();
        let samples = tempfile::tempdir().unwrap();
        imgscan_testkit::write_samples(samples.path());
        for (dir, tag) in [("clean", "acme/clean:1.0"), ("malicious", "acme/app:1.0")] {
            reg.push(&samples.path().join(dir), "latest", tag, false);
        }
        (reg, RedisServer::start())
    })
    .await
    .unwrap();
    let a = replica(&redis.url()).await;
    let b = replica(&redis.url()).await;
    let clean = format!("{}/acme/clean:1.0", reg.host);
    let bad = format!("{}/acme/app:1.0", reg.host);

    // Asked at once, the two replicas scan the clean image once between them.
    let (ra, rb) = tokio::join!(a.review("a-clean", &clean), b.review("b-clean", &clean));
    assert_eq!(ra["allowed"], true, "{ra}");
    assert_eq!(rb["allowed"], true, "{rb}");
    assert_eq!(a.scans() + b.scans(), 1, "one scan per cluster");

    // Scanned through A ...
    let r = a.review("a-bad", &bad).await;
    assert_eq!(r["allowed"], false, "{r}");
    let denial = r["status"]["message"].as_str().unwrap().to_string();
    assert!(denial.contains("CRITICAL IMG-MINER-BINARY"), "{denial}");
    let a_scans = a.scans();
    assert!(redis.dbsize() >= 2, "verdicts are in Redis");

    // ... answered by B from Redis with the registry gone: no scan, the same denial.
    let b_scans = b.scans();
    drop(reg);
    let r = b.review("b-bad", &bad).await;
    assert_eq!(r["allowed"], false, "{r}");
    assert_eq!(r["status"]["message"], denial.as_str());
    assert_eq!(b.scans(), b_scans, "B did not scan");
    let m = b.metrics().await;
    assert!(m.contains("imgscan_admission_verdict_store_up 1"), "{m}");
    assert!(
        m.contains("imgscan_admission_verdict_store_errors_total 0"),
        "{m}"
    );

    // Redis killed: what A judged it still answers from its own cache; an image
    // nobody judged is answered (denied as unjudged: its registry is gone too), never a
    // failed request.
    tokio::task::spawn_blocking(move || redis.stop())
        .await
        .unwrap();
    let r = a.review("a-bad-2", &bad).await;
    assert_eq!(r["status"]["message"], denial.as_str());
    assert_eq!(a.scans(), a_scans);
    // B read that verdict from Redis once and kept it: answered without Redis, no scan.
    let r = b.review("b-bad-2", &bad).await;
    assert_eq!(r["status"]["message"], denial.as_str(), "{r}");
    assert_eq!(b.scans(), b_scans);
    let r = b.review("b-new", "127.0.0.1:1/acme/nowhere:1").await;
    assert_eq!(r["allowed"], false, "{r}");
    let msg = r["status"]["message"].as_str().unwrap();
    assert!(msg.contains("not judged"), "{msg}");
    let m = b.metrics().await;
    assert!(m.contains("imgscan_admission_verdict_store_up 0"), "{m}");
    assert!(
        !m.contains("imgscan_admission_verdict_store_errors_total 0"),
        "{m}"
    );
    a.stop().await;
    b.stop().await;
}

/// The PTTL of the one scan lease in Redis (-2: none).
fn lease_pttl(redis: &RedisServer) -> i64 {
    let script = "local k = redis.call('KEYS', ARGV[1]) \
                  if #k == 0 then return -2 end return redis.call('PTTL', k[1])";
    let reply = redis.command(&["EVAL", script, "0", "test:verdict:lease:*"]);
    reply.trim_start_matches(':').parse().unwrap()
}

/// Until a scan lease is in Redis (10 s at most).
async fn lease_taken(redis: &RedisServer) {
    for _ in 0..1000 {
        if lease_pttl(redis) > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no scan lease was taken");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_longer_than_its_lease_is_still_the_only_scan() {
    let (reg, redis) = tokio::task::spawn_blocking(|| {
        let reg = Registry::plain();
        let samples = tempfile::tempdir().unwrap();
        imgscan_testkit::write_samples(samples.path());
        reg.push(
            &samples.path().join("clean"),
            "latest",
            "acme/slow:1.0",
            false,
        );
        (reg, RedisServer::start())
    })
    .await
    .unwrap();
    // A 300 ms lease and scans of 1.5 s: five lease periods.
    let lease = Duration::from_millis(300);
    let hold = Duration::from_millis(1500);
    let a = replica_with(&redis.url(), hold, |c| c.scan_lease = lease).await;
    let b = replica_with(&redis.url(), hold, |c| c.scan_lease = lease).await;
    let image = format!("{}/acme/slow:1.0", reg.host);
    let first = a.review("a-slow", &image);
    let second = async {
        // Once A holds the lease, B asks: it finds the lease held and waits for A.
        lease_taken(&redis).await;
        b.review("b-slow", &image).await
    };
    let watch = async {
        lease_taken(&redis).await;
        // Two lease periods later A is still scanning, and the lease still held.
        tokio::time::sleep(lease * 7 / 3).await;
        let ms = lease_pttl(&redis);
        assert!(
            ms > 0 && ms <= 300,
            "renewed while the scan runs: PTTL {ms}"
        );
    };
    let (ra, rb, ()) = tokio::join!(first, second, watch);
    assert_eq!(ra["allowed"], true, "{ra}");
    assert_eq!(rb["allowed"], true, "{rb}");
    assert_eq!(
        (a.scans(), b.scans()),
        (1, 0),
        "B waited for A's scan instead of scanning after the lease period"
    );
    assert_eq!(lease_pttl(&redis), -2, "the lease was given back");
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_with_a_private_ca_shares_verdicts() {
    let t = tempfile::tempdir().unwrap();
    let ca = make_ca(t.path());
    let (ca_c, cert, key) = (ca.ca_pem.clone(), ca.cert_pem.clone(), ca.key_pem.clone());
    let redis = tokio::task::spawn_blocking(move || RedisServer::start_tls(&cert, &key, &ca_c))
        .await
        .unwrap();
    let url = redis.tls_url();
    let with_ca = |c: &mut ServeConfig| c.redis_ca = Some(ca.ca_pem.clone());
    let a = replica_with(&url, Duration::ZERO, with_ca).await;
    let b = replica_with(&url, Duration::ZERO, with_ca).await;
    // Nothing listens on port 1: the verdict is "not judged", stored for 30 s.
    let image = "127.0.0.1:1/acme/nowhere:1";
    let r = a.review("a-tls", image).await;
    assert_eq!(r["allowed"], false, "{r}");
    assert_eq!(a.scans(), 1);
    assert!(redis.dbsize() >= 1, "stored through the TLS port");
    let m = a.metrics().await;
    assert!(m.contains("imgscan_admission_verdict_store_up 1"), "{m}");
    assert!(
        m.contains("imgscan_admission_verdict_store_errors_total 0"),
        "{m}"
    );
    // B reads it over TLS: the same answer, no scan.
    let rb = b.review("b-tls", image).await;
    assert_eq!(rb["status"]["message"], r["status"]["message"], "{rb}");
    assert_eq!(b.scans(), 0, "answered from Redis over TLS");
    // Without the CA the server's certificate is refused: a store error, still an answer.
    let c = replica_with(&url, Duration::ZERO, |_| {}).await;
    let rc = c.review("c-tls", image).await;
    assert_eq!(rc["allowed"], false, "{rc}");
    assert_eq!(c.scans(), 1, "no verdict from an untrusted Redis");
    let m = c.metrics().await;
    assert!(m.contains("imgscan_admission_verdict_store_up 0"), "{m}");
    a.stop().await;
    b.stop().await;
    c.stop().await;
}
