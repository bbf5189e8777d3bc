//! Where registry credentials come from: explicit `--username`/`--password-stdin`, then
//! the Docker config (`credHelpers`, `auths`, `credsStore`), else anonymous.
//!
//! Credentials found here belong to exactly one registry host; the HTTP layer sends them
//! only to that host (see `mod.rs`).

use super::super::SourceOptions;
use base64::Engine;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Docker Hub's key in `auths` and the server URL handed to credential helpers.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";
/// Largest config file or helper answer read.
const MAX_CONFIG_BYTES: u64 = 1 << 20;
/// Longest wait for a credential helper's answer.
const HELPER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A username and secret for one registry, and where they came from (for messages).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    pub origin: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct DockerConfig {
    auths: BTreeMap<String, AuthEntry>,
    #[serde(rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
    #[serde(rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    /// An OAuth2 refresh token (`docker login` to a registry with an identity provider).
    identitytoken: Option<String>,
}

/// The user name Docker uses for an identity token: the secret is then an OAuth2
/// refresh token, exchanged at the registry's token endpoint (`client.rs`).
pub const IDENTITY_TOKEN_USER: &str = "<token>";

#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

/// `docker.io` and its aliases share Docker Hub's credentials.
fn is_docker_hub(host: &str) -> bool {
    matches!(
        host,
        "docker.io" | "index.docker.io" | "registry-1.docker.io"
    )
}

/// The host part of an `auths` key: `https://host:5000/v1/` → `host:5000`.
fn key_host(key: &str) -> &str {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    k.split('/').next().unwrap_or(k)
}

fn same_registry(key: &str, registry: &str) -> bool {
    let h = key_host(key);
    h == registry || (is_docker_hub(h) && is_docker_hub(registry))
}

/// The config file to read: `opts.docker_config`, `$DOCKER_CONFIG/config.json`, or
/// `~/.docker/config.json`.
fn config_path(opts: &SourceOptions) -> Option<PathBuf> {
    if let Some(p) = &opts.docker_config {
        return Some(p.clone());
    }
    if let Some(d) = std::env::var_os("DOCKER_CONFIG") {
        return Some(Path::new(&d).join("config.json"));
    }
    std::env::var_os("HOME").map(|h| Path::new(&h).join(".docker/config.json"))
}

/// Credentials for `registry` (host[:port] as in the reference), or `None` for anonymous.
pub fn resolve(registry: &str, opts: &SourceOptions) -> Result<Option<Credentials>, String> {
    match (&opts.username, &opts.password) {
        (Some(u), Some(p)) => {
            return Ok(Some(Credentials {
                username: u.clone(),
                password: p.clone(),
                origin: "--username".into(),
            }))
        }
        (Some(_), None) => return Err("--username needs a password (--password-stdin)".into()),
        (None, Some(_)) => return Err("a password was given without --username".into()),
        (None, None) => {}
    }
    let Some(path) = config_path(opts) else {
        return Ok(None);
    };
    let text = match std::fs::File::open(&path) {
        Ok(f) => {
            let mut s = String::new();
            f.take(MAX_CONFIG_BYTES + 1)
                .read_to_string(&mut s)
                .map_err(|e| format!("reading docker config {}: {e}", path.display()))?;
            if s.len() as u64 > MAX_CONFIG_BYTES {
                return Err(format!(
                    "docker config {} is larger than 1 MiB",
                    path.display()
                ));
            }
            s
        }
        // No config (or an explicit one that is missing only when defaulted) = anonymous.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && opts.docker_config.is_none() => {
            return Ok(None)
        }
        Err(e) => return Err(format!("reading docker config {}: {e}", path.display())),
    };
    let cfg: DockerConfig = serde_json::from_str(&text)
        .map_err(|e| format!("docker config {} is not valid: {e}", path.display()))?;
    from_config(&cfg, registry, opts, &path)
}

fn from_config(
    cfg: &DockerConfig,
    registry: &str,
    opts: &SourceOptions,
    path: &Path,
) -> Result<Option<Credentials>, String> {
    let server = if is_docker_hub(registry) {
        DOCKER_HUB_KEY.to_string()
    } else {
        registry.to_string()
    };
    if let Some((_, helper)) = cfg
        .cred_helpers
        .iter()
        .find(|(k, _)| same_registry(k, registry))
    {
        return run_helper(helper, &server, opts);
    }
    if let Some((key, entry)) = cfg.auths.iter().find(|(k, _)| same_registry(k, registry)) {
        let origin = format!("{} (auths.{key})", path.display());
        if let Some(t) = entry.identitytoken.as_deref().filter(|t| !t.is_empty()) {
            return Ok(Some(Credentials {
                username: IDENTITY_TOKEN_USER.into(),
                password: t.to_string(),
                origin,
            }));
        }
        if let Some(a) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(a.trim())
                .map_err(|_| format!("{origin}: `auth` is not base64"))?;
            let s = String::from_utf8(raw).map_err(|_| format!("{origin}: `auth` is not UTF-8"))?;
            let (u, p) = s
                .split_once(':')
                .ok_or_else(|| format!("{origin}: `auth` is not user:password"))?;
            return Ok(Some(Credentials {
                username: u.to_string(),
                password: p.to_string(),
                origin,
            }));
        }
        if let (Some(u), Some(p)) = (&entry.username, &entry.password) {
            return Ok(Some(Credentials {
                username: u.clone(),
                password: p.clone(),
                origin,
            }));
        }
    }
    if let Some(store) = cfg.creds_store.as_deref().filter(|s| !s.is_empty()) {
        return run_helper(store, &server, opts);
    }
    Ok(None)
}

/// `docker-credential-NAME get` with the server URL on stdin; `None` when the helper
/// has no credentials for it.
fn run_helper(
    name: &str,
    server: &str,
    opts: &SourceOptions,
) -> Result<Option<Credentials>, String> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return Err(format!("credential helper name {name:?} is not valid"));
    }
    let program = format!("docker-credential-{name}");
    let mut cmd = Command::new(&program);
    if let Some(p) = &opts.credential_helper_path {
        cmd.env("PATH", p);
    }
    let mut child = cmd
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("running credential helper {program}: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading is reported through its exit status.
        let _ = stdin.write_all(server.as_bytes());
    }
    // Read the answer on a thread so that a helper that never answers (waiting for a
    // keyring prompt, say) cannot hang the scan: it is killed after the time budget.
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take();
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let r = match stdout {
            Some(s) => s.take(MAX_CONFIG_BYTES).read_to_end(&mut out).map(|_| ()),
            None => Ok(()),
        };
        let _ = tx.send(r.map(|_| out));
    });
    let budget = opts.timeout.min(HELPER_TIMEOUT);
    let out = match rx.recv_timeout(budget) {
        Ok(Ok(out)) => out,
        Ok(Err(e)) => return Err(format!("reading from credential helper {program}: {e}")),
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "credential helper {program} did not answer within {}s",
                budget.as_secs_f64()
            ));
        }
    };
    let status = child
        .wait()
        .map_err(|e| format!("waiting for credential helper {program}: {e}"))?;
    if !status.success() {
        let msg = String::from_utf8_lossy(&out);
        if msg.to_ascii_lowercase().contains("credentials not found") {
            return Ok(None);
        }
        return Err(format!(
            "credential helper {program} failed ({status}): {}",
            msg.trim().chars().take(200).collect::<String>()
        ));
    }
    let ans: HelperAnswer = serde_json::from_slice(&out)
        .map_err(|e| format!("credential helper {program} answered invalid JSON: {e}"))?;
    Ok(Some(Credentials {
        username: ans.username,
        password: ans.secret,
        origin: program,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(json: &str) -> DockerConfig {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn auths_match_by_host_and_docker_hub_alias() {
        let c = cfg(r#"{"auths":{
            "https://index.docker.io/v1/":{"auth":"aHViOnNlY3JldA=="},
            "localhost:5000":{"username":"u","password":"p"},
            "https://other:443/":{"auth":"b3RoZXI6cHc="}}}"#);
        let o = SourceOptions::default();
        let p = Path::new("cfg.json");
        let hub = from_config(&c, "docker.io", &o, p).unwrap().unwrap();
        assert_eq!(
            (hub.username.as_str(), hub.password.as_str()),
            ("hub", "secret")
        );
        let l = from_config(&c, "localhost:5000", &o, p).unwrap().unwrap();
        assert_eq!((l.username.as_str(), l.password.as_str()), ("u", "p"));
        let other = from_config(&c, "other:443", &o, p).unwrap().unwrap();
        assert_eq!(other.username, "other");
        // Credentials of one registry never answer for another.
        assert_eq!(from_config(&c, "localhost:5001", &o, p).unwrap(), None);
        assert_eq!(from_config(&c, "evil.example", &o, p).unwrap(), None);
    }

    #[test]
    fn bad_auth_and_helper_names_are_errors() {
        let c = cfg(r#"{"auths":{"r":{"auth":"!!!"}}}"#);
        let o = SourceOptions::default();
        let e = from_config(&c, "r", &o, Path::new("c")).unwrap_err();
        assert!(e.contains("not base64"), "{e}");
        let c = cfg(r#"{"credHelpers":{"r":"../../bin/sh"}}"#);
        let e = from_config(&c, "r", &o, Path::new("c")).unwrap_err();
        assert!(e.contains("not valid"), "{e}");
    }

    #[test]
    fn explicit_credentials_win_and_must_be_complete() {
        let o = SourceOptions {
            username: Some("a".into()),
            password: Some("b".into()),
            ..SourceOptions::default()
        };
        let c = resolve("x", &o).unwrap().unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("a", "b"));
        let o = SourceOptions {
            username: Some("a".into()),
            ..SourceOptions::default()
        };
        assert!(resolve("x", &o).unwrap_err().contains("--password-stdin"));
    }
}
