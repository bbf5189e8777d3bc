//! Test harness: a real Redis (Debian's `redis-server`) on a free 127.0.0.1 port, with no
//! persistence, in a temporary directory; stopped when dropped (or earlier with
//! [`RedisServer::stop`], to test a cache that goes away mid-scan). Include it with
//! `#[path = "common/redis.rs"] mod redis_harness;`.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const REDIS_BIN: &str = "/usr/bin/redis-server";

/// Install `redis-server` when missing (needs root; CI runs as root).
pub fn ensure_redis_installed() {
    if Path::new(REDIS_BIN).exists() {
        return;
    }
    let ok = Command::new("apt-get")
        .args(["install", "-y", "-qq", "redis-server"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok && Path::new(REDIS_BIN).exists(),
        "redis-server is missing and `apt-get install -y redis-server` failed (run `make setup`)"
    );
}

pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    /// `requirepass`, when started with [`RedisServer::start_with_password`].
    pub password: Option<String>,
    /// The TLS port, when started with [`RedisServer::start_tls`] (`port` stays plain,
    /// for the harness's own commands).
    pub tls_port: Option<u16>,
    /// (certificate, key, CA) PEM files of the TLS port.
    tls: Option<(std::path::PathBuf, std::path::PathBuf, std::path::PathBuf)>,
    _dir: tempfile::TempDir,
}

impl RedisServer {
    pub fn start() -> Self {
        Self::spawn(None)
    }

    pub fn start_with_password(password: &str) -> Self {
        Self::spawn(Some(password.to_string()))
    }

    fn spawn(password: Option<String>) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Self::spawn_on(port, password, tempfile::tempdir().unwrap(), None)
    }

    /// A server that also speaks TLS on [`RedisServer::tls_port`] with the leaf `cert` /
    /// `key` (PEM) signed by `ca`; clients are not asked for certificates.
    pub fn start_tls(cert: &Path, key: &Path, ca: &Path) -> Self {
        let free = || {
            TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        };
        let tls = (cert.to_path_buf(), key.to_path_buf(), ca.to_path_buf());
        Self::spawn_on(
            free(),
            None,
            tempfile::tempdir().unwrap(),
            Some((free(), tls)),
        )
    }

    /// `rediss://127.0.0.1:TLS_PORT/` of a server started with [`RedisServer::start_tls`].
    pub fn tls_url(&self) -> String {
        format!(
            "rediss://127.0.0.1:{}/",
            self.tls_port.expect("a TLS server")
        )
    }

    /// Start a new (empty) server on the port of this stopped one, as a Redis that comes
    /// back after a crash or a restart.
    pub fn restart(&mut self) {
        self.stop();
        let dir = std::mem::replace(&mut self._dir, tempfile::tempdir().unwrap());
        let tls = self.tls_port.zip(self.tls.clone());
        let fresh = Self::spawn_on(self.port, self.password.clone(), dir, tls);
        *self = fresh;
    }

    #[allow(clippy::type_complexity)]
    fn spawn_on(
        port: u16,
        password: Option<String>,
        dir: tempfile::TempDir,
        tls: Option<(
            u16,
            (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf),
        )>,
    ) -> Self {
        ensure_redis_installed();
        let mut cmd = Command::new(REDIS_BIN);
        cmd.args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(p) = &password {
            cmd.args(["--requirepass", p]);
        }
        if let Some((tp, (cert, key, ca))) = &tls {
            cmd.args(["--tls-port", &tp.to_string(), "--tls-auth-clients", "no"])
                .arg("--tls-cert-file")
                .arg(cert)
                .arg("--tls-key-file")
                .arg(key)
                .arg("--tls-ca-cert-file")
                .arg(ca);
        }
        let child = cmd.spawn().expect("starting redis-server");
        let server = RedisServer {
            child: Some(child),
            port,
            password,
            tls_port: tls.as_ref().map(|t| t.0),
            tls: tls.map(|t| t.1),
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(reply) = server.try_command(&["PING"]) {
                if reply == "+PONG" {
                    return server;
                }
            }
            assert!(
                Instant::now() < deadline,
                "redis-server on 127.0.0.1:{port} did not answer PING within 20 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `redis://127.0.0.1:PORT/` (with the password when there is one).
    pub fn url(&self) -> String {
        match &self.password {
            Some(p) => format!("redis://:{p}@127.0.0.1:{}/", self.port),
            None => format!("redis://127.0.0.1:{}/", self.port),
        }
    }

    /// Run one command and return the first line of the reply (`+OK`, `:3`, `$5`, ...).
    /// Bulk replies return their payload line instead of the `$N` header.
    pub fn command(&self, args: &[&str]) -> String {
        self.try_command(args)
            .unwrap_or_else(|e| panic!("redis command {args:?}: {e}"))
    }

    fn try_command(&self, args: &[&str]) -> std::io::Result<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut req = Vec::new();
        let mut push = |parts: &[&str]| {
            req.extend_from_slice(format!("*{}\r\n", parts.len()).as_bytes());
            for a in parts {
                req.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
            }
        };
        if let Some(p) = &self.password {
            push(&["AUTH", p]);
        }
        push(args);
        s.write_all(&req)?;
        let mut r = BufReader::new(s);
        let mut line = String::new();
        if self.password.is_some() {
            r.read_line(&mut line)?; // +OK of AUTH
            line.clear();
        }
        r.read_line(&mut line)?;
        let first = line.trim_end().to_string();
        if first.starts_with('$') && first != "$-1" {
            let mut payload = String::new();
            r.read_line(&mut payload)?;
            return Ok(payload.trim_end().to_string());
        }
        Ok(first)
    }

    /// Number of keys (`DBSIZE`).
    pub fn dbsize(&self) -> u64 {
        self.command(&["DBSIZE"])
            .trim_start_matches(':')
            .parse()
            .unwrap_or(0)
    }

    /// Stop the server now (the port refuses connections afterwards).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
