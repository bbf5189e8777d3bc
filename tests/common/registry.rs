//! Test harness: a real registry (Debian's `docker-registry`, CNCF distribution v2) on
//! 127.0.0.1 with plain HTTP, TLS (an rcgen CA and leaf), htpasswd basic auth or token
//! auth (a token issuer in this file signing ES256 JWTs with a libtrust `kid`); OCI
//! layouts written by `imgscan-testkit` (re-exported here) and pushed with `skopeo`. The misbehaving server for fault
//! tests is in `fault_server.rs`. Include it with
//! `#[path = "common/registry.rs"] mod registry_harness;`.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use sha2::{Digest, Sha256};

#[path = "fault_server.rs"]
mod fault_server;
pub use fault_server::*;

pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

// The images pushed and served here come from the one test image builder (not every
// includer uses each).
#[allow(unused_imports)]
pub use imgscan_testkit::{attestation_descriptor, sha256, write_image, write_index, ImageFixture};

/// Install the registry when missing (needs root; CI images run as root).
pub fn ensure_registry_installed() {
    if Path::new(REGISTRY_BIN).exists() {
        return;
    }
    let ok = Command::new("apt-get")
        .arg("update")
        .status()
        .is_ok_and(|s| s.success())
        && Command::new("apt-get")
            .args(["install", "-y", "docker-registry"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success());
    assert!(
        ok && Path::new(REGISTRY_BIN).exists(),
        "docker-registry is missing and `apt-get install -y docker-registry` failed"
    );
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A CA and a leaf for `127.0.0.1`/`localhost`, as PEM files in `dir`.
pub struct TestCa {
    pub ca_pem: PathBuf,
    pub cert_pem: PathBuf,
    pub key_pem: PathBuf,
}

pub fn make_ca(dir: &Path) -> TestCa {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "imgscan test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    leaf.subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).unwrap();
    let t = TestCa {
        ca_pem: dir.join("ca.pem"),
        cert_pem: dir.join("cert.pem"),
        key_pem: dir.join("key.pem"),
    };
    std::fs::write(&t.ca_pem, ca_cert.pem()).unwrap();
    std::fs::write(&t.cert_pem, leaf_cert.pem()).unwrap();
    std::fs::write(&t.key_pem, leaf_key.serialize_pem()).unwrap();
    t
}

/// How the registry authenticates clients.
pub enum AuthMode {
    None,
    Htpasswd {
        user: String,
        password: String,
    },
    /// `auth: token` backed by a [`TokenIssuer`] accepting this user for push.
    Token {
        user: String,
        password: String,
    },
}

/// A running `docker-registry`; killed on drop.
pub struct Registry {
    child: Child,
    pub dir: tempfile::TempDir,
    pub port: u16,
    /// `127.0.0.1:PORT`
    pub host: String,
    pub tls: Option<TestCa>,
    pub creds: Option<(String, String)>,
    pub issuer: Option<TokenIssuer>,
}

impl Registry {
    pub fn plain() -> Registry {
        Registry::start(false, AuthMode::None)
    }

    pub fn start(tls: bool, auth: AuthMode) -> Registry {
        ensure_registry_installed();
        install_crypto();
        let dir = tempfile::tempdir().unwrap();
        let storage = dir.path().join("storage");
        std::fs::create_dir_all(&storage).unwrap();
        let port = free_port();
        let mut yaml = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: imgscan-test-secret\n",
            storage.display()
        );
        let ca = tls.then(|| make_ca(dir.path()));
        if let Some(ca) = &ca {
            yaml += &format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                ca.cert_pem.display(),
                ca.key_pem.display()
            );
        }
        let mut creds = None;
        let mut issuer = None;
        match auth {
            AuthMode::None => {}
            AuthMode::Htpasswd { user, password } => {
                let out = Command::new("htpasswd")
                    .args(["-Bbn", &user, &password])
                    .output()
                    .expect("htpasswd (apache2-utils) is needed for basic-auth tests");
                assert!(out.status.success());
                let file = dir.path().join("htpasswd");
                std::fs::write(&file, &out.stdout).unwrap();
                yaml += &format!(
                    "auth:\n  htpasswd:\n    realm: imgscan-test\n    path: {}\n",
                    file.display()
                );
                creds = Some((user, password));
            }
            AuthMode::Token { user, password } => {
                let iss = TokenIssuer::start(dir.path(), &user, &password);
                yaml += &format!(
                    "auth:\n  token:\n    realm: http://127.0.0.1:{}/token\n    service: imgscan-registry\n    issuer: imgscan-test-issuer\n    rootcertbundle: {}\n",
                    iss.port,
                    iss.cert_bundle.display()
                );
                creds = Some((user, password));
                issuer = Some(iss);
            }
        }
        let config = dir.path().join("config.yml");
        std::fs::write(&config, yaml).unwrap();
        let child = Command::new(REGISTRY_BIN)
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start docker-registry");
        let reg = Registry {
            child,
            dir,
            port,
            host: format!("127.0.0.1:{port}"),
            tls: ca,
            creds,
            issuer,
        };
        reg.wait_ready();
        reg
    }

    /// Wait until `/v2/` answers (any HTTP status).
    fn wait_ready(&self) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if let Ok(s) = TcpStream::connect(("127.0.0.1", self.port)) {
                if self.tls.is_some() {
                    return; // listening; TLS is exercised by the tests themselves
                }
                let mut s = s;
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let _ = s.write_all(b"GET /v2/ HTTP/1.0\r\nHost: x\r\n\r\n");
                let mut buf = [0u8; 12];
                if s.read_exact(&mut buf).is_ok() && buf.starts_with(b"HTTP/1.") {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("docker-registry did not answer on 127.0.0.1:{}", self.port);
    }

    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// The file holding a blob's bytes in the registry's filesystem storage.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap();
        self.storage()
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// The two sample images (`imgscan_testkit::write_samples`) pushed as `acme/clean:1.0` and
    /// `acme/app:1.0` (the malicious one); the returned directory holds their layouts.
    pub fn push_samples(&self) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        imgscan_testkit::write_samples(dir.path());
        self.push(&dir.path().join("clean"), "latest", "acme/clean:1.0", false);
        self.push(
            &dir.path().join("malicious"),
            "latest",
            "acme/app:1.0",
            false,
        );
        dir
    }

    /// `skopeo copy` an OCI layout image into `repo:tag` here (`all`: every platform).
    pub fn push(&self, layout: &Path, layout_tag: &str, repo_tag: &str, all: bool) {
        let mut cmd = Command::new("skopeo");
        cmd.args([
            "copy",
            "--quiet",
            "--preserve-digests",
            "--dest-tls-verify=false",
        ]);
        if all {
            cmd.arg("--all");
        }
        if let Some((u, p)) = &self.creds {
            cmd.arg(format!("--dest-creds={u}:{p}"));
        }
        cmd.arg(format!("oci:{}:{layout_tag}", layout.display()))
            .arg(format!("docker://{}/{repo_tag}", self.host));
        let out = cmd.output().expect("skopeo is needed to push fixtures");
        assert!(
            out.status.success(),
            "skopeo copy failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------- token issuer

/// libtrust key id: base32 of the first 30 bytes of sha256(SPKI DER), groups of 4 by `:`.
pub fn libtrust_kid(spki_der: &[u8]) -> String {
    let h = Sha256::digest(spki_der);
    let b32 = data_encoding::BASE32_NOPAD.encode(&h[..30]);
    b32.as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(":")
}

/// Signs JWTs: RS256 with a 2048-bit RSA key from `openssl genpkey` (what Docker Hub's
/// issuer uses), or ES256 with an rcgen P-256 key when `openssl` is not installed.
pub struct JwtSigner {
    pub alg: &'static str,
    pub rcgen: rcgen::KeyPair,
    rsa: Option<ring::signature::RsaKeyPair>,
    ec: Option<ring::signature::EcdsaKeyPair>,
}

impl JwtSigner {
    pub fn generate(dir: &Path) -> JwtSigner {
        let rsa_pem = dir.join("token-key.pem");
        let openssl = Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
            ])
            .arg(&rsa_pem)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if openssl {
            let pem = std::fs::read_to_string(&rsa_pem).unwrap();
            let rcgen = rcgen::KeyPair::from_pem(&pem).unwrap();
            let rsa = ring::signature::RsaKeyPair::from_pkcs8(&rcgen.serialize_der()).unwrap();
            return JwtSigner {
                alg: "RS256",
                rcgen,
                rsa: Some(rsa),
                ec: None,
            };
        }
        let rcgen = rcgen::KeyPair::generate().unwrap();
        let ec = ring::signature::EcdsaKeyPair::from_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &rcgen.serialize_der(),
            &ring::rand::SystemRandom::new(),
        )
        .unwrap();
        JwtSigner {
            alg: "ES256",
            rcgen,
            rsa: None,
            ec: Some(ec),
        }
    }

    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        let rng = ring::rand::SystemRandom::new();
        if let Some(k) = &self.rsa {
            let mut sig = vec![0u8; k.public().modulus_len()];
            k.sign(&ring::signature::RSA_PKCS1_SHA256, &rng, msg, &mut sig)
                .unwrap();
            return sig;
        }
        self.ec
            .as_ref()
            .unwrap()
            .sign(&rng, msg)
            .unwrap()
            .as_ref()
            .to_vec()
    }
}

/// A token request: (query string, Authorization header).
pub type TokenRequest = (String, Option<String>);

/// A token server for `auth: token`: anonymous callers get `pull`, the configured user
/// gets what the scope asks, wrong credentials get 401.
pub struct TokenIssuer {
    pub port: u16,
    pub cert_bundle: PathBuf,
    /// Every request: (query string, Authorization header).
    pub requests: Arc<Mutex<Vec<TokenRequest>>>,
    _server: FaultServer,
}

impl TokenIssuer {
    pub fn start(dir: &Path, user: &str, password: &str) -> TokenIssuer {
        use rcgen::{CertificateParams, PublicKeyData};
        let signer = JwtSigner::generate(dir);
        let key = &signer.rcgen;
        let kid = libtrust_kid(&key.subject_public_key_info());
        let cert = CertificateParams::new(vec!["imgscan-token-issuer".to_string()])
            .unwrap()
            .self_signed(key)
            .unwrap();
        let cert_bundle = dir.join("token-ca.pem");
        std::fs::write(&cert_bundle, cert.pem()).unwrap();
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        );
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        let server = FaultServer::start(move |req: &Request| {
            let query = req
                .path
                .split_once('?')
                .map(|(_, q)| q)
                .unwrap_or("")
                .to_string();
            let authz = req.header("authorization").map(str::to_string);
            log.lock().unwrap().push((query.clone(), authz.clone()));
            let params: BTreeMap<String, String> = query
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), percent_decode(v)))
                .collect();
            let privileged = match &authz {
                None => false,
                Some(a) if *a == expected => true,
                Some(_) => return Response::new(401, "{\"details\":\"bad credentials\"}"),
            };
            let mut access = Vec::new();
            if let Some(scope) = params.get("scope") {
                let parts: Vec<&str> = scope.split(':').collect();
                if parts.len() == 3 && parts[0] == "repository" {
                    let actions: Vec<&str> = parts[2]
                        .split(',')
                        .filter(|a| privileged || *a == "pull")
                        .collect();
                    access.push(serde_json::json!({"type": "repository", "name": parts[1], "actions": actions}));
                }
            }
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs();
            let header = serde_json::json!({"typ": "JWT", "alg": signer.alg, "kid": kid});
            let claims = serde_json::json!({
                "iss": "imgscan-test-issuer",
                "sub": if privileged { "pusher" } else { "" },
                "aud": params.get("service").cloned().unwrap_or_default(),
                "exp": now + 300, "nbf": now - 10, "iat": now,
                "jti": format!("{now}-{}", rand_u64()),
                "access": access,
            });
            let b64 = |v: &serde_json::Value| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(serde_json::to_vec(v).unwrap())
            };
            let signing_input = format!("{}.{}", b64(&header), b64(&claims));
            let sig = signer.sign(signing_input.as_bytes());
            let token = format!(
                "{signing_input}.{}",
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&sig)
            );
            Response::new(
                200,
                serde_json::json!({"token": token, "access_token": token, "expires_in": 300})
                    .to_string(),
            )
            .with_header("Content-Type", "application/json")
        });
        TokenIssuer {
            port: server.port,
            cert_bundle,
            requests,
            _server: server,
        }
    }
}

fn rand_u64() -> u64 {
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::SeqCst) as u64
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
