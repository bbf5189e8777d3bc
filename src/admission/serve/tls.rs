//! The webhook's TLS: a rustls server config (ring) whose certificate comes from PEM
//! files that are re-read when they change, so cert-manager can rotate them without a
//! restart.
//!
//! [`ReloadingCert`] is the config's `ResolvesServerCert`: at a handshake, when the last
//! look is older than its interval, it compares the files' modification times and sizes
//! with the pair it serves; when they changed it loads the new pair and swaps an `Arc`.
//! A new pair that does not load (half written, key of another cert) is logged and the
//! old one kept; the next change is tried again.
//!
//! ```no_run
//! use imgscan::admission::serve::tls::{server_config, ReloadingCert};
//! use std::{path::Path, sync::Arc, time::Duration};
//! let certs = Arc::new(ReloadingCert::load(Path::new("tls.crt"), Path::new("tls.key"),
//!     Duration::from_secs(2)).unwrap());
//! let config = server_config(certs.clone());
//! ```

use rustls::crypto::ring::default_provider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

/// PEM files are read up to this size.
const MAX_PEM_BYTES: u64 = 1 << 20;

/// What identifies one version of the pair on disk.
type Stamp = Option<(SystemTime, u64, SystemTime, u64)>;

/// A certificate and key re-read from their files when they change.
#[derive(Debug)]
pub struct ReloadingCert {
    cert_path: PathBuf,
    key_path: PathBuf,
    interval: Duration,
    current: RwLock<Arc<CertifiedKey>>,
    /// Last look and the stamp of the pair last tried (loaded or refused).
    seen: Mutex<(Instant, Stamp)>,
}

impl ReloadingCert {
    /// Load the pair; an error names the file and what is wrong with it.
    pub fn load(cert: &Path, key: &Path, interval: Duration) -> Result<ReloadingCert, String> {
        let stamp = stamp(cert, key);
        let ck = load_pair(cert, key)?;
        Ok(ReloadingCert {
            cert_path: cert.to_path_buf(),
            key_path: key.to_path_buf(),
            interval,
            current: RwLock::new(Arc::new(ck)),
            seen: Mutex::new((Instant::now(), stamp)),
        })
    }

    /// The pair served now.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Reload when the files changed since the last look (at most once per interval).
    pub fn refresh(&self) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.0.elapsed() < self.interval {
            return;
        }
        seen.0 = Instant::now();
        let now = stamp(&self.cert_path, &self.key_path);
        if now == seen.1 {
            return;
        }
        seen.1 = now;
        match load_pair(&self.cert_path, &self.key_path) {
            Ok(ck) => {
                *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(ck);
                eprintln!(
                    "imgscan serve: loaded the new TLS pair {}",
                    self.cert_path.display()
                );
            }
            Err(e) => eprintln!("imgscan serve: keeping the current TLS pair: {e}"),
        }
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.refresh();
        Some(self.current())
    }
}

fn stamp(cert: &Path, key: &Path) -> Stamp {
    let m = |p: &Path| {
        std::fs::metadata(p)
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len())))
    };
    let (c, k) = (m(cert)?, m(key)?);
    Some((c.0, c.1, k.0, k.1))
}

fn read_pem(path: &Path) -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_PEM_BYTES).read_to_end(&mut buf))
        .map_err(|e| format!("reading {}: {e}", path.display()))?;
    Ok(buf)
}

/// Parse a PEM certificate chain and private key and check the key is the cert's.
pub fn load_pair(cert: &Path, key: &Path) -> Result<CertifiedKey, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&read_pem(cert)?)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: not a PEM certificate chain: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("{}: no certificate in it", cert.display()));
    }
    let der = PrivateKeyDer::from_pem_slice(&read_pem(key)?)
        .map_err(|e| format!("{}: not a PEM private key: {e}", key.display()))?;
    CertifiedKey::from_der(chain, der, &default_provider()).map_err(|e| {
        format!(
            "{} and {}: not a usable pair: {e}",
            cert.display(),
            key.display()
        )
    })
}

/// A rustls server config (ring, TLS 1.2 and 1.3, HTTP/1.1) serving `certs`.
pub fn server_config(certs: Arc<ReloadingCert>) -> Arc<ServerConfig> {
    let mut c = ServerConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_no_client_auth()
        .with_cert_resolver(certs);
    c.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(c)
}
