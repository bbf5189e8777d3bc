//! `imgscan serve` over real HTTPS on 127.0.0.1: the shared webhook fixtures sent the way
//! the apiserver sends them (`POST /validate?timeout=10s`, a client trusting an rcgen
//! CA), images in a real `docker-registry`, certificate rotation while serving, the
//! deadline with a slow scanner, one scan per image, hostile requests, health, metrics
//! and graceful shutdown.

mod common;
#[path = "common/counted.rs"]
mod counted;
#[path = "common/registry.rs"]
mod registry_harness;

use common::shared;
use imgscan::admission::serve::{ServeConfig, Server};
use imgscan::admission::{
    review_body, ImageVerdict, NamesOnly, OnDeadline, Policy, Reviewer, Scanner,
};
use imgscan::reference::Reference;
use registry_harness::{install_crypto, make_ca, Registry, TestCa};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Running {
    addr: SocketAddr,
    health: SocketAddr,
    ca: TestCa,
    _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), String>>,
}

impl Running {
    fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }
    fn health_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.health)
    }
    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap().unwrap();
    }
}

async fn start(
    scanner: Arc<dyn Scanner + Send + Sync>,
    tune: impl FnOnce(&mut ServeConfig),
) -> Running {
    install_crypto();
    let dir = tempfile::tempdir().unwrap();
    let ca = make_ca(dir.path());
    let mut cfg = ServeConfig::new(ca.cert_pem.clone(), ca.key_pem.clone());
    cfg.listen = "127.0.0.1:0".parse().unwrap();
    cfg.health_listen = "127.0.0.1:0".parse().unwrap();
    tune(&mut cfg);
    let server = Server::bind(cfg, scanner).await.unwrap();
    let (addr, health) = (server.local_addr(), server.health_addr());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async {
        let _ = rx.await;
    }));
    Running {
        addr,
        health,
        ca,
        _dir: dir,
        stop: Some(tx),
        task,
    }
}

/// A client like the apiserver's: trusts only the given CA bundles, no proxy, a new
/// connection per client.
fn client(cas: &[&std::path::Path]) -> reqwest::Client {
    let certs = cas
        .iter()
        .map(|p| reqwest::Certificate::from_pem(&std::fs::read(p).unwrap()).unwrap());
    reqwest::Client::builder()
        .tls_certs_only(certs)
        .tls_info(true)
        .no_proxy()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

async fn post(s: &Running, timeout: &str, body: Vec<u8>) -> (u16, Value) {
    let r = client(&[&s.ca.ca_pem])
        .post(s.url(&format!("/validate?timeout={timeout}")))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn get(url: &str) -> (u16, String) {
    let r = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(url)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

fn pod_review(uid: &str, images: &[&str]) -> Value {
    let cs: Vec<Value> = images
        .iter()
        .enumerate()
        .map(|(i, im)| json!({"name": format!("c{i}"), "image": im}))
        .collect();
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": uid, "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "operation": "CREATE", "userInfo": {}, "namespace": "shop",
        "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                   "spec": {"containers": cs}}}})
}

fn fixture_files() -> Vec<std::path::PathBuf> {
    let dir = shared("webhook-fixtures");
    let mut files = Vec::new();
    for sub in ["", "connaisseur", "kubewarden", "k8s-docs"] {
        for e in std::fs::read_dir(dir.join(sub)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "json") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixtures_over_https_get_the_offline_answer() {
    let s = start(Arc::new(NamesOnly), |_| {}).await;
    let offline = Reviewer::new(Policy::default(), &NamesOnly);
    let files = fixture_files();
    assert!(files.len() > 30, "{files:?}");
    for f in &files {
        let body = std::fs::read(f).unwrap();
        let want = review_body(&body, &offline);
        let (status, got) = post(&s, "10s", body.clone()).await;
        let name = f.display();
        if want.invalid {
            assert_eq!(status, 400, "{name}: {got}");
            assert_eq!(got["kind"], "AdmissionReview", "{name}");
            assert_eq!(got["response"]["allowed"], false, "{name}");
            assert_eq!(got["response"]["status"]["code"], 400, "{name}");
            // The uid is given back when the body had one.
            let sent: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            if let Some(uid) = sent["request"]["uid"].as_str() {
                assert_eq!(got["response"]["uid"], uid, "{name}");
            }
        } else {
            assert_eq!(status, 200, "{name}: {got}");
            assert_eq!(
                got, want.review,
                "{name}: served and offline answers differ"
            );
        }
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_images_are_allowed_and_denied_over_https() {
    let reg = tokio::task::spawn_blocking(|| {
        let reg = Registry::plain();
        let samples = tempfile::tempdir().unwrap();
        imgscan_testkit::write_samples(samples.path());
        reg.push(
            &samples.path().join("clean"),
            "latest",
            "acme/clean:1.0",
            false,
        );
        reg.push(
            &samples.path().join("malicious"),
            "latest",
            "acme/app:1.0",
            false,
        );
        reg
    })
    .await
    .unwrap();
    let opts = imgscan::source::SourceOptions {
        insecure: true,
        ..Default::default()
    };
    let scanner = imgscan::admission::scan::RegistryScanner::new(
        imgscan::signatures::Signatures::load(None).unwrap().into(),
        imgscan::rules::RuleSet::embedded_default(),
        imgscan::limits::Limits::default(),
        opts,
        2,
    );
    let s = start(Arc::new(scanner), |_| {}).await;
    let clean = format!("{}/acme/clean:1.0", reg.host);
    let bad = format!("{}/acme/app:1.0", reg.host);

    let (status, v) = post(
        &s,
        "30s",
        pod_review("u-clean", &[&clean]).to_string().into_bytes(),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["response"]["uid"], "u-clean");
    assert_eq!(v["response"]["allowed"], true, "{v}");

    let (status, v) = post(
        &s,
        "30s",
        pod_review("u-bad", &[&bad]).to_string().into_bytes(),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let r = &v["response"];
    assert_eq!(r["uid"], "u-bad");
    assert_eq!(r["allowed"], false, "{v}");
    assert_eq!(r["status"]["code"], 403);
    let msg = r["status"]["message"].as_str().unwrap();
    assert!(msg.starts_with(&format!("denied {bad} (sha256:")), "{msg}");
    assert!(msg.contains("CRITICAL IMG-MINER-BINARY"), "{msg}");

    // A squatted name is denied from the name alone.
    let (_, v) = post(
        &s,
        "10s",
        pod_review("u-sq", &["grafanna/grafana:10"])
            .to_string()
            .into_bytes(),
    )
    .await;
    assert_eq!(v["response"]["allowed"], false, "{v}");

    let (_, m) = get(&s.health_url("/metrics")).await;
    assert!(
        m.contains(r#"imgscan_admission_requests_total{verdict="allowed"} 1"#),
        "{m}"
    );
    assert!(
        m.contains(r#"imgscan_admission_requests_total{verdict="denied"} 2"#),
        "{m}"
    );
    assert!(
        m.contains("imgscan_admission_verdict_cache_misses_total 2"),
        "{m}"
    );
    s.stop().await;
}

/// The peer certificate (DER) a new connection sees.
async fn served_cert(s: &Running, cas: &[&std::path::Path]) -> Vec<u8> {
    let r = client(cas).get(s.url("/validate")).send().await.unwrap();
    let info = r.extensions().get::<reqwest::tls::TlsInfo>().unwrap();
    info.peer_certificate().unwrap().to_vec()
}

fn pem_der(p: &std::path::Path) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::from_pem_file(p)
        .unwrap()
        .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_rotation_while_serving() {
    let s = start(Arc::new(NamesOnly), |c| c.cert_reload = Duration::ZERO).await;
    let next_dir = tempfile::tempdir().unwrap();
    let next = make_ca(next_dir.path());
    let cas = [s.ca.ca_pem.as_path(), next.ca_pem.as_path()];
    let first = served_cert(&s, &cas).await;
    assert_eq!(first, pem_der(&s.ca.cert_pem));

    // cert-manager writes a new pair: the next connection gets it, no restart.
    std::fs::copy(&next.cert_pem, &s.ca.cert_pem).unwrap();
    std::fs::copy(&next.key_pem, &s.ca.key_pem).unwrap();
    let second = served_cert(&s, &cas).await;
    assert_ne!(second, first);
    assert_eq!(second, pem_der(&next.cert_pem));

    // A broken pair (the key of another cert) is refused and the served pair kept.
    let third_dir = tempfile::tempdir().unwrap();
    let third = make_ca(third_dir.path());
    std::fs::copy(&third.key_pem, &s.ca.key_pem).unwrap();
    assert_eq!(served_cert(&s, &cas).await, second);
    std::fs::write(&s.ca.cert_pem, b"not a certificate").unwrap();
    assert_eq!(served_cert(&s, &cas).await, second);
    s.stop().await;
}

/// A scanner that takes `delay` per image, counts its calls, and finds nothing.
struct SlowScanner {
    delay: Duration,
    calls: AtomicUsize,
    done: AtomicUsize,
}

impl SlowScanner {
    fn new(delay: Duration) -> Arc<SlowScanner> {
        Arc::new(SlowScanner {
            delay,
            calls: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
        })
    }
}

impl Scanner for SlowScanner {
    fn scan(&self, _: &Reference) -> ImageVerdict {
        self.calls.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(self.delay);
        self.done.fetch_add(1, Ordering::SeqCst);
        ImageVerdict::Judged {
            digest: Some(format!("sha256:{}", "ab".repeat(32))),
            findings: vec![],
            incomplete: vec![],
        }
    }
}

async fn wait_for(what: &str, cond: impl Fn() -> bool) {
    for _ in 0..600 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} did not happen");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_gets_the_policy_answer_and_the_retry_the_verdict() {
    let slow = SlowScanner::new(Duration::from_secs(4));
    let s = start(slow.clone(), |_| {}).await;
    let image = "127.0.0.1:5999/acme/slow:1";
    let body = pod_review("u-slow", &[image]).to_string().into_bytes();
    let sent = Instant::now();
    let (status, v) = post(&s, "2s", body.clone()).await;
    assert!(
        sent.elapsed() < Duration::from_secs(2),
        "answered after the apiserver gave up"
    );
    assert_eq!(status, 200, "{v}");
    let r = &v["response"];
    assert_eq!(r["uid"], "u-slow");
    assert_eq!(r["allowed"], false, "the default on_deadline denies: {v}");
    let msg = r["status"]["message"].as_str().unwrap();
    assert!(
        msg.contains("not judged") && msg.contains("deadline"),
        "{msg}"
    );
    assert_eq!(slow.calls.load(Ordering::SeqCst), 1);

    // The scan went on; the apiserver's retry finds its verdict.
    wait_for("the scan finishing", || {
        slow.done.load(Ordering::SeqCst) == 1
    })
    .await;
    let (_, v) = post(&s, "2s", body).await;
    assert_eq!(v["response"]["allowed"], true, "{v}");
    assert_eq!(
        slow.calls.load(Ordering::SeqCst),
        1,
        "served from the cache"
    );
    let (_, m) = get(&s.health_url("/metrics")).await;
    assert!(
        m.contains("imgscan_admission_deadline_answers_total 1"),
        "{m}"
    );
    assert!(
        m.contains("imgscan_admission_verdict_cache_hits_total 1"),
        "{m}"
    );
    s.stop().await;

    // allow-with-warning lets an unjudged image in, and says so.
    let slow = SlowScanner::new(Duration::from_secs(4));
    let s = start(slow.clone(), |c| {
        c.policy.on_deadline = OnDeadline::AllowWithWarning
    })
    .await;
    let sent = Instant::now();
    let (_, v) = post(
        &s,
        "2s",
        pod_review("u-w", &[image]).to_string().into_bytes(),
    )
    .await;
    assert!(sent.elapsed() < Duration::from_secs(2));
    assert_eq!(v["response"]["allowed"], true, "{v}");
    let w = v["response"]["warnings"][0].as_str().unwrap();
    assert!(w.contains("not judged"), "{w}");
    wait_for("the scan finishing", || {
        slow.done.load(Ordering::SeqCst) == 1
    })
    .await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_for_one_image_cause_one_scan() {
    let slow = SlowScanner::new(Duration::from_millis(700));
    let s = Arc::new(start(slow.clone(), |_| {}).await);
    let mut tasks = Vec::new();
    for i in 0..8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let body = pod_review(&format!("u{i}"), &["127.0.0.1:5999/acme/once:1"]);
            post(&s, "10s", body.to_string().into_bytes()).await
        }));
    }
    for t in tasks {
        let (status, v) = t.await.unwrap();
        assert_eq!(status, 200);
        assert_eq!(v["response"]["allowed"], true, "{v}");
    }
    assert_eq!(slow.calls.load(Ordering::SeqCst), 1);
    Arc::try_unwrap(s).ok().unwrap().stop().await;
}

/// A raw TLS connection to the server, for clients that misbehave.
async fn raw_tls(s: &Running) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pem_der(&s.ca.ca_pem).into()).unwrap();
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .unwrap()
}

/// Everything the server sends until it closes (bounded by a generous safety net).
async fn read_all(mut c: impl tokio::io::AsyncRead + Unpin) -> String {
    use tokio::io::AsyncReadExt;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), c.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_are_bounded_and_answered() {
    use tokio::io::AsyncWriteExt;
    let s = start(Arc::new(NamesOnly), |c| {
        c.header_timeout = Duration::from_secs(1);
        c.body_timeout = Duration::from_secs(1);
    })
    .await;
    // 10 MiB announced: refused before the body is read (a client still writing it
    // would see the connection close under it, so only the headers are sent).
    let mut c = raw_tls(&s).await;
    let head = format!(
        "POST /validate?timeout=10s HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        10 << 20
    );
    c.write_all(head.as_bytes()).await.unwrap();
    let got = read_all(c).await;
    assert!(got.starts_with("HTTP/1.1 413"), "{got}");
    // 10 MiB sent without a length (chunked): the read stops at --max-body.
    let chunks =
        futures_util::stream::iter((0..10).map(|_| Ok::<_, std::io::Error>(vec![b' '; 1 << 20])));
    let r = client(&[&s.ca.ca_pem])
        .post(s.url("/validate?timeout=10s"))
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await;
    // Either the 413 arrives, or the server hung up while the rest was being sent.
    if let Ok(r) = r {
        assert_eq!(r.status().as_u16(), 413);
    }
    for garbage in [
        b"\xff\xfe\x00garbage".to_vec(),
        b"{\"kind\": ".to_vec(),
        format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes(),
    ] {
        let (status, v) = post(&s, "10s", garbage).await;
        assert_eq!(status, 400, "{v}");
        assert_eq!(v["kind"], "AdmissionReview", "{v}");
        assert_eq!(v["response"]["status"]["code"], 400, "{v}");
    }
    // Parseable enough to have a uid, wrong otherwise: the uid comes back.
    let mut broken = pod_review("u-broken", &["nginx:1"]);
    broken["request"]["operation"] = json!(42);
    let (status, v) = post(&s, "10s", broken.to_string().into_bytes()).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["response"]["uid"], "u-broken", "{v}");
    // Thousands of containers: denied, bounded.
    let many: Vec<String> = (0..3000).map(|i| format!("acme/i{i}:1")).collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    let (status, v) = post(&s, "10s", pod_review("u-m", &refs).to_string().into_bytes()).await;
    assert_eq!(status, 200);
    assert_eq!(v["response"]["allowed"], false, "{v}");

    // Slow client, headers never finished: the server hangs up.
    let mut c = raw_tls(&s).await;
    c.write_all(b"POST /validate HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let _ = read_all(c).await;
    // Slow client, body never finished: 408.
    let mut c = raw_tls(&s).await;
    c.write_all(b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"a\"")
        .await
        .unwrap();
    let got = read_all(c).await;
    assert!(got.starts_with("HTTP/1.1 408"), "{got}");

    let (status, body) = get(&s.health_url("/healthz")).await;
    assert_eq!((status, body.as_str()), (200, "ok\n"), "still alive");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_metrics_and_graceful_shutdown() {
    let slow = SlowScanner::new(Duration::from_secs(1));
    let s = start(slow.clone(), |_| {}).await;
    assert_eq!(get(&s.health_url("/healthz")).await, (200, "ok\n".into()));
    assert_eq!(get(&s.health_url("/readyz")).await, (200, "ready\n".into()));
    let (status, m) = get(&s.health_url("/metrics")).await;
    assert_eq!(status, 200);
    for name in [
        r#"imgscan_admission_requests_total{verdict="allowed"} 0"#,
        r#"imgscan_admission_requests_total{verdict="error"} 0"#,
        "imgscan_admission_request_duration_seconds_bucket",
        "imgscan_admission_scans_in_flight 0",
        "imgscan_admission_verdict_cache_hits_total 0",
        "imgscan_admission_verdict_cache_misses_total 0",
        "imgscan_admission_deadline_answers_total 0",
    ] {
        assert!(m.contains(name), "{name} not in\n{m}");
    }

    // A request in flight when shutdown begins is still answered.
    let url = s.url("/validate?timeout=10s");
    let c = client(&[&s.ca.ca_pem]);
    let body = pod_review("u-late", &["127.0.0.1:5999/acme/late:1"]).to_string();
    let inflight = tokio::spawn(async move { c.post(url).body(body).send().await });
    wait_for("the scan starting", || {
        slow.calls.load(Ordering::SeqCst) == 1
    })
    .await;
    s.stop().await;
    let r = inflight.await.unwrap().unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(v["response"]["allowed"], true, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_are_resolved_to_digests_before_the_cache() {
    let opts = imgscan::source::SourceOptions {
        insecure: true,
        ..Default::default()
    };
    let samples = tempfile::tempdir().unwrap();
    imgscan_testkit::write_samples(samples.path());
    let layouts = samples.path().to_path_buf();
    let (reg, clean_digest) = {
        let opts = opts.clone();
        tokio::task::spawn_blocking(move || {
            let reg = Registry::plain();
            reg.push(&layouts.join("clean"), "latest", "acme/moving:1", false);
            let tag = Reference::parse(&format!("{}/acme/moving:1", reg.host)).unwrap();
            let d = imgscan::source::registry::manifest_digest(&tag, &opts).unwrap();
            (reg, d)
        })
        .await
        .unwrap()
    };
    let scanner = counted::counted_scanner();
    // Tags resolved on every request: what a re-push looks like once the tag TTL ran out.
    let s = start(scanner.clone(), |c| c.tag_ttl = Duration::ZERO).await;
    let tag = format!("{}/acme/moving:1", reg.host);
    let pinned = format!("{}/acme/moving@{clean_digest}", reg.host);
    let review = |uid: &str, image: &str| pod_review(uid, &[image]).to_string().into_bytes();

    let (_, v) = post(&s, "30s", review("u1", &pinned)).await;
    assert_eq!(v["response"]["allowed"], true, "{v}");
    assert_eq!(scanner.scans(), 1);
    // Asked by tag: the digest it names was judged; no second scan.
    let (_, v) = post(&s, "30s", review("u2", &tag)).await;
    assert_eq!(v["response"]["allowed"], true, "{v}");
    assert_eq!(scanner.scans(), 1, "answered from the cache");

    // The tag now names another image: that one is scanned, the old verdict not reused.
    let malicious = samples.path().join("malicious");
    let reg = tokio::task::spawn_blocking(move || {
        reg.push(&malicious, "latest", "acme/moving:1", false);
        reg
    })
    .await
    .unwrap();
    let (_, v) = post(&s, "30s", review("u3", &tag)).await;
    let r = &v["response"];
    assert_eq!(r["allowed"], false, "{v}");
    let msg = r["status"]["message"].as_str().unwrap();
    assert!(msg.contains("IMG-MINER-BINARY"), "{msg}");
    assert!(!msg.contains(&clean_digest), "{msg}");
    assert_eq!(scanner.scans(), 2);
    let (_, v) = post(&s, "30s", review("u4", &tag)).await;
    assert_eq!(v["response"]["allowed"], false, "{v}");
    assert_eq!(scanner.scans(), 2, "the new digest's verdict");
    drop(reg);
    s.stop().await;
}
