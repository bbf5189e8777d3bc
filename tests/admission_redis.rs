//! `imgscan serve --redis`: two webhook replicas (two `Server`s, each with its own
//! in-process cache and scanner) sharing a real `redis-server` on 127.0.0.1, images in
//! a real `docker-registry`. An image scanned through one replica is answered by the
//! other from Redis without a scan of its own, even with the registry gone; two replicas
//! asked at once scan once (the lease); Redis killed, both still answer.

mod common;
#[path = "common/counted.rs"]
mod counted;
#[path = "common/redis.rs"]
mod redis_harness;
#[path = "common/registry.rs"]
mod registry_harness;

use counted::{counted_scanner as scanner, Counted};
use imgscan::admission::serve::{ServeConfig, Server};
use redis_harness::RedisServer;
use registry_harness::{install_crypto, make_ca, Registry, TestCa};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;

struct Replica {
    addr: SocketAddr,
    health: SocketAddr,
    ca: TestCa,
    scanner: Arc<Counted>,
    _dir: tempfile::TempDir,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), String>>,
}

async fn replica(redis_url: &str) -> Replica {
    install_crypto();
    let dir = tempfile::tempdir().unwrap();
    let ca = make_ca(dir.path());
    let mut cfg = ServeConfig::new(ca.cert_pem.clone(), ca.key_pem.clone());
    cfg.listen = "127.0.0.1:0".parse().unwrap();
    cfg.health_listen = "127.0.0.1:0".parse().unwrap();
    cfg.redis = Some(redis_url.to_string());
    cfg.redis_prefix = Some("test:verdict:".into());
    let scanner = scanner();
    let server = Server::bind(cfg, scanner.clone()).await.unwrap();
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
        imgscan::samples::write_samples(samples.path()).unwrap();
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
