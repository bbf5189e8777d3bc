//! `imgscan serve`: the validating admission webhook. HTTPS (rustls, ring) on one port
//! with `POST /validate`; health, readiness and metrics in plain HTTP on another. Owns
//! the server, the certificate reload ([`tls`]), request handling ([`http`]), the
//! deadline ([`deadline`]), the verdict cache and single-flight scans ([`verdicts`]),
//! [`health`] and [`metrics`]. The review itself is [`crate::admission::review_body`],
//! exactly as `imgscan admission-review` runs it.
//!
//! ```no_run
//! use imgscan::admission::serve::{serve, shutdown_signal, ServeConfig};
//! use imgscan::admission::NamesOnly;
//! use std::sync::Arc;
//! # async fn f() -> Result<(), String> {
//! let cfg = ServeConfig::new("tls.crt".into(), "tls.key".into());
//! serve(cfg, Arc::new(NamesOnly), shutdown_signal()).await
//! # }
//! ```
//!
//! Or, to learn the bound ports first (tests listen on `127.0.0.1:0`):
//! `let s = Server::bind(cfg, scanner).await?; s.local_addr(); s.run(shutdown).await`.
//!
//! Per request: the body is read within `body_timeout` and `max_body` bytes; a review
//! whose images all have a verdict in this process is answered on the async worker,
//! any other runs on a blocking thread; each image not already in the verdict cache gets a
//! scan (one per image however many requests ask, at most `max_concurrent_scans` at
//! once) and is waited for until the deadline (`?timeout=` minus a margin); then the
//! policy's `on_deadline` answers for it and the scan goes on to fill the cache.

pub mod deadline;
pub mod health;
pub mod http;
pub mod metrics;
pub mod redis_verdicts;
pub mod tls;
pub mod verdicts;

use crate::admission::{Policy, Reviewer, Scanner};
use crate::reputation::Corpus;
use health::Health;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use metrics::Metrics;
use redis_verdicts::RedisStore;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use verdicts::{MemoryStore, VerdictStore, Verdicts};

/// How `serve` runs. [`ServeConfig::new`] gives the defaults of the CLI flags.
pub struct ServeConfig {
    /// HTTPS address (`--listen`, default `0.0.0.0:8443`).
    pub listen: SocketAddr,
    /// Plain-HTTP health address (`--health-listen`, default `0.0.0.0:8080`).
    pub health_listen: SocketAddr,
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
    /// How often the TLS files are looked at for a change (at a handshake).
    pub cert_reload: Duration,
    pub policy: Policy,
    /// Name corpus; `None` = the embedded one.
    pub corpus: Option<Corpus>,
    /// Bytes of a request body at most (`--max-body`, the apiserver sends at most 3 MiB).
    pub max_body: usize,
    pub max_concurrent_scans: usize,
    /// Distinct images being scanned or queued at most.
    pub max_queued_scans: usize,
    pub verdict_ttl: Duration,
    /// A verdict judged by tag (the tag → digest step) is reused this long, at most
    /// [`verdicts::TAG_TTL`] (`--tag-ttl`).
    pub tag_ttl: Duration,
    pub verdict_entries: usize,
    /// A verdict store of your own; `None` = Redis with `redis`, else in memory,
    /// `verdict_entries` at most.
    pub store: Option<Arc<dyn VerdictStore>>,
    /// `--redis URL`: verdicts shared with every replica through this Redis.
    pub redis: Option<String>,
    /// `--redis-prefix` (default [`redis_verdicts::DEFAULT_PREFIX`]).
    pub redis_prefix: Option<String>,
    /// `--redis-ca`: PEM file of the CA certificates a `rediss://` server is checked
    /// against (a private CA) instead of the system's roots.
    pub redis_ca: Option<PathBuf>,
    /// `--redis-lease`: the scan lease period, renewed every third of it while the scan
    /// runs (default [`redis_verdicts::LEASE`], at least [`verdicts::MIN_LEASE`]).
    pub scan_lease: Duration,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    /// TLS handshake time at most.
    pub handshake_timeout: Duration,
    /// On shutdown, in-flight requests get this long to finish.
    pub drain: Duration,
}

impl ServeConfig {
    pub fn new(tls_cert: PathBuf, tls_key: PathBuf) -> Self {
        ServeConfig {
            listen: ([0, 0, 0, 0], 8443).into(),
            health_listen: ([0, 0, 0, 0], 8080).into(),
            tls_cert,
            tls_key,
            cert_reload: Duration::from_secs(2),
            policy: Policy::default(),
            corpus: None,
            max_body: 3 << 20,
            max_concurrent_scans: 2,
            max_queued_scans: 64,
            verdict_ttl: Duration::from_secs(600),
            tag_ttl: verdicts::TAG_TTL,
            verdict_entries: 10_000,
            store: None,
            redis: None,
            redis_prefix: None,
            redis_ca: None,
            scan_lease: redis_verdicts::LEASE,
            header_timeout: Duration::from_secs(5),
            body_timeout: Duration::from_secs(5),
            handshake_timeout: Duration::from_secs(5),
            drain: Duration::from_secs(20),
        }
    }
}

/// A bound, not yet running webhook.
pub struct Server {
    https: TcpListener,
    health_listener: TcpListener,
    certs: Arc<tls::ReloadingCert>,
    app: Arc<http::App>,
    health: Arc<Health>,
    header_timeout: Duration,
    handshake_timeout: Duration,
    drain: Duration,
}

impl Server {
    /// Load the TLS pair and the name corpus and bind both ports. Call inside a
    /// multi-threaded tokio runtime.
    pub async fn bind(
        cfg: ServeConfig,
        scanner: Arc<dyn Scanner + Send + Sync>,
    ) -> Result<Server, String> {
        let certs = Arc::new(tls::ReloadingCert::load(
            &cfg.tls_cert,
            &cfg.tls_key,
            cfg.cert_reload,
        )?);
        let metrics = Arc::new(Metrics::new());
        let store: Arc<dyn VerdictStore> = match (cfg.store, &cfg.redis) {
            (Some(s), _) => s,
            (None, Some(url)) => Arc::new(RedisStore::open(
                url,
                cfg.redis_prefix.as_deref(),
                match &cfg.redis_ca {
                    Some(p) => Some(
                        std::fs::read(p).map_err(|e| format!("--redis-ca {}: {e}", p.display()))?,
                    ),
                    None => None,
                },
                cfg.verdict_entries,
                metrics.clone(),
            )?),
            (None, None) => Arc::new(MemoryStore::new(cfg.verdict_entries)),
        };
        let verdicts = Arc::new(
            Verdicts::new(
                store,
                scanner,
                cfg.max_concurrent_scans,
                cfg.max_queued_scans,
                cfg.verdict_ttl,
                metrics.clone(),
                tokio::runtime::Handle::current(),
            )
            .with_tag_ttl(cfg.tag_ttl)
            .with_lease(cfg.scan_lease),
        );
        let corpus = cfg.corpus.unwrap_or_else(Corpus::embedded);
        let reviewer = Reviewer::new(cfg.policy, &deadline::DEADLINE_SCANNER).with_corpus(corpus);
        let app = Arc::new(http::App {
            reviewer,
            verdicts,
            metrics: metrics.clone(),
            max_body: cfg.max_body,
            body_timeout: cfg.body_timeout,
        });
        let https = TcpListener::bind(cfg.listen)
            .await
            .map_err(|e| format!("--listen {}: {e}", cfg.listen))?;
        let health_listener = TcpListener::bind(cfg.health_listen)
            .await
            .map_err(|e| format!("--health-listen {}: {e}", cfg.health_listen))?;
        Ok(Server {
            https,
            health_listener,
            certs,
            app,
            health: Arc::new(Health::new(metrics)),
            header_timeout: cfg.header_timeout,
            handshake_timeout: cfg.handshake_timeout,
            drain: cfg.drain,
        })
    }

    /// The HTTPS address.
    pub fn local_addr(&self) -> SocketAddr {
        self.https
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The health address.
    pub fn health_addr(&self) -> SocketAddr {
        self.health_listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serve until `shutdown` completes, then stop accepting, report not ready and give
    /// in-flight requests `drain` to finish.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), String> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let health_router = health::router(self.health.clone());
        let mut health_stop = stop_rx.clone();
        let health_task = tokio::spawn(async move {
            let _ = axum::serve(self.health_listener, health_router)
                .with_graceful_shutdown(async move {
                    let _ = health_stop.wait_for(|s| *s).await;
                })
                .await;
        });
        let acceptor = TlsAcceptor::from(tls::server_config(self.certs.clone()));
        let service = TowerToHyperService::new(http::router(self.app.clone()));
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_timeout)
            .max_buf_size(64 << 10);
        let graceful = GracefulShutdown::new();
        self.health.set_ready(true);
        tokio::pin!(shutdown);
        loop {
            let (tcp, _) = tokio::select! {
                _ = &mut shutdown => break,
                a = self.https.accept() => match a {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of descriptors and the like: wait, do not spin.
                        eprintln!("imgscan serve: accepting a connection: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let acceptor = acceptor.clone();
            let service = service.clone();
            let builder = builder.clone();
            let watcher = graceful.watcher();
            let handshake = self.handshake_timeout;
            tokio::spawn(async move {
                let tls = match tokio::time::timeout(handshake, acceptor.accept(tcp)).await {
                    Ok(Ok(t)) => t,
                    _ => return,
                };
                let conn = builder.serve_connection(TokioIo::new(tls), service);
                let _ = watcher.watch(conn).await;
            });
        }
        self.health.set_ready(false);
        drop(self.https);
        if tokio::time::timeout(self.drain, graceful.shutdown())
            .await
            .is_err()
        {
            eprintln!(
                "imgscan serve: requests still running after {:?}; stopping",
                self.drain
            );
        }
        let _ = stop_tx.send(true);
        let _ = health_task.await;
        Ok(())
    }
}

/// Bind and serve until `shutdown`.
pub async fn serve(
    cfg: ServeConfig,
    scanner: Arc<dyn Scanner + Send + Sync>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), String> {
    Server::bind(cfg, scanner).await?.run(shutdown).await
}

/// Completes on SIGTERM (what Kubernetes sends) or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
