//! Image references and scan targets.
//!
//! [`Reference`] parses and normalises names the way Docker's `distribution/reference`
//! does: `nginx` → `docker.io/library/nginx:latest`, `index.docker.io` is an alias of
//! `docker.io`, the first component is a registry host when it contains `.` or `:`, is
//! `localhost`, or has upper-case letters. [`Target`] adds the local sources: a
//! `docker-archive:`, `oci-archive:` or `oci-dir:` scheme, or auto-detection (an existing
//! file is sniffed by content, a directory is an OCI layout, anything else is a registry
//! reference), with `PATH:tag` / `PATH@digest` to pick one image of several.
//! `docker:NAME`, `podman:NAME` and `containerd:NAME` read NAME from a local daemon
//! ([`Target::Daemon`]);
//! `registry:NAME` / `docker://NAME` from the registry only, whatever `--image-src` says
//! ([`names_registry_explicitly`]).

use serde::Serialize;
use std::fmt;
use std::path::{Path, PathBuf};

pub const DEFAULT_REGISTRY: &str = "docker.io";
pub const DEFAULT_TAG: &str = "latest";
const MAX_NAME_LEN: usize = 255;

/// A parsed, normalised registry reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Reference {
    /// Registry host, with port if any (`docker.io`, `localhost:5000`).
    pub registry: String,
    /// Repository path without the registry (`library/nginx`, `team/api`).
    pub repository: String,
    /// Tag; `latest` when neither tag nor digest was given.
    pub tag: Option<String>,
    /// `sha256:<64 hex>` when given.
    pub digest: Option<String>,
}

/// Why a reference did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid reference {input:?}: {reason}")]
pub struct ReferenceError {
    pub input: String,
    pub reason: String,
}

fn err(input: &str, reason: impl Into<String>) -> ReferenceError {
    ReferenceError {
        input: input.to_string(),
        reason: reason.into(),
    }
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() {
        return false;
    }
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    let mut i = 0;
    let mut want_alnum = true;
    while i < b.len() {
        if alnum(b[i]) {
            want_alnum = false;
            i += 1;
            continue;
        }
        if want_alnum {
            return false;
        }
        // A separator: `.`, `_`, `__`, or one or more `-`.
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < b.len() && b[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
        want_alnum = true;
    }
    !want_alnum
}

/// Host: DNS labels of `[a-zA-Z0-9-]` separated by `.`, or a bracketed IPv6 address,
/// optionally `:port`.
fn valid_domain(d: &str) -> bool {
    let (host, port) = if let Some(rest) = d.strip_prefix('[') {
        match rest.split_once(']') {
            Some((ip6, tail)) => {
                if ip6.parse::<std::net::Ipv6Addr>().is_err() {
                    return false;
                }
                match tail {
                    "" => return true,
                    t => match t.strip_prefix(':') {
                        Some(p) => ("x", Some(p)),
                        None => return false,
                    },
                }
            }
            None => return false,
        }
    } else {
        match d.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (d, None),
        }
    };
    if let Some(p) = port {
        if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// `[\w][\w.-]{0,127}`
fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'-')
}

/// `sha256:<64 lowercase hex>` (also sha384/sha512 with their lengths).
pub fn valid_digest(d: &str) -> bool {
    let Some((algo, hex)) = d.split_once(':') else {
        return false;
    };
    let want = match algo {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return false,
    };
    hex.len() == want
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Reference {
    /// Parse and normalise a reference (`nginx`, `localhost:5000/team/api:1.4`,
    /// `ghcr.io/o/r@sha256:...`, `name:tag@sha256:...`).
    pub fn parse(input: &str) -> Result<Reference, ReferenceError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(err(input, "empty reference"));
        }
        if s.contains("://") {
            return Err(err(
                input,
                "a reference has no URL scheme (drop `https://`)",
            ));
        }
        let (name_tag, digest) = match s.split_once('@') {
            Some((n, d)) => {
                if !valid_digest(d) {
                    return Err(err(
                        input,
                        format!("bad digest {d:?} (want sha256:<64 hex>)"),
                    ));
                }
                (n, Some(d.to_string()))
            }
            None => (s, None),
        };
        // A tag follows the last ':' that comes after the last '/'.
        let last_slash = name_tag.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag) = match name_tag[last_slash..].rfind(':') {
            Some(i) => {
                let at = last_slash + i;
                let t = &name_tag[at + 1..];
                if !valid_tag(t) {
                    return Err(err(input, format!("bad tag {t:?}")));
                }
                (&name_tag[..at], Some(t.to_string()))
            }
            None => (name_tag, None),
        };
        if name.is_empty() {
            return Err(err(input, "empty repository name"));
        }
        let (registry, path) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.')
                    || first.contains(':')
                    || first == "localhost"
                    || first.bytes().any(|b| b.is_ascii_uppercase()) =>
            {
                if !valid_domain(first) {
                    return Err(err(input, format!("bad registry host {first:?}")));
                }
                (first.to_string(), rest.to_string())
            }
            _ => (DEFAULT_REGISTRY.to_string(), name.to_string()),
        };
        let registry = if registry == "index.docker.io" || registry == "registry-1.docker.io" {
            DEFAULT_REGISTRY.to_string()
        } else {
            registry
        };
        if let Some(c) = path.split('/').find(|c| !valid_path_component(c)) {
            let reason = if c.bytes().any(|b| b.is_ascii_uppercase()) {
                format!("repository name {path:?} must be lowercase")
            } else {
                format!("bad path component {c:?} in {path:?}")
            };
            return Err(err(input, reason));
        }
        let repository = if registry == DEFAULT_REGISTRY && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        if registry.len() + 1 + repository.len() > MAX_NAME_LEN {
            return Err(err(input, "repository name longer than 255 characters"));
        }
        let tag = match (&tag, &digest) {
            (None, None) => Some(DEFAULT_TAG.to_string()),
            _ => tag,
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// `registry/repository` without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The namespace (everything before the last `/` of the repository), `library` for
    /// official Docker Hub images, empty when the repository has one component.
    pub fn namespace(&self) -> &str {
        self.repository
            .rsplit_once('/')
            .map(|(ns, _)| ns)
            .unwrap_or("")
    }

    /// Last component of the repository (`nginx` for `docker.io/library/nginx`).
    pub fn image_name(&self) -> &str {
        self.repository
            .rsplit('/')
            .next()
            .unwrap_or(&self.repository)
    }

    /// The name as Docker prints it, without tag or digest (`nginx`, `team/api`,
    /// `ghcr.io/o/r`).
    pub fn familiar_name(&self) -> String {
        if self.registry == DEFAULT_REGISTRY {
            self.repository
                .strip_prefix("library/")
                .unwrap_or(&self.repository)
                .to_string()
        } else {
            self.name()
        }
    }

    /// The short form Docker prints (`nginx:latest`, `team/api:1.4`).
    pub fn familiar(&self) -> String {
        let mut s = self.familiar_name();
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d);
        }
        s
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

/// Picks one image inside a multi-image archive or layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Selector {
    /// A tag or ref name (`org.opencontainers.image.ref.name`, or a docker-save
    /// `RepoTags` entry, matched in full or by tag).
    Tag(String),
    /// A manifest (or, for docker-archive, config) digest.
    Digest(String),
}

/// The kind of local source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LocalKind {
    /// `docker save` output.
    DockerArchive,
    /// A tar of an OCI image layout.
    OciArchive,
    /// An OCI image layout directory.
    OciDir,
}

impl LocalKind {
    pub fn scheme(self) -> &'static str {
        match self {
            LocalKind::DockerArchive => "docker-archive",
            LocalKind::OciArchive => "oci-archive",
            LocalKind::OciDir => "oci-dir",
        }
    }
}

/// A local container engine holding images: Docker and Podman serve the Docker Engine
/// API on a socket, containerd its gRPC API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Daemon {
    Docker,
    Podman,
    Containerd,
}

impl Daemon {
    /// The scheme (`docker`, `podman`, `containerd`), also the name `--image-src` uses.
    pub fn scheme(self) -> &'static str {
        match self {
            Daemon::Docker => "docker",
            Daemon::Podman => "podman",
            Daemon::Containerd => "containerd",
        }
    }
}

/// What to scan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "source")]
pub enum Target {
    Registry(Reference),
    Local {
        kind: LocalKind,
        path: PathBuf,
        select: Option<Selector>,
    },
    /// `docker:NAME` / `podman:NAME` / `containerd:NAME`: an image the local daemon holds.
    Daemon {
        daemon: Daemon,
        reference: Reference,
    },
}

/// Whether `input` asks for the registry by scheme (`registry:NAME`, `docker://NAME`), so
/// `--image-src` must not look in local daemons first.
pub fn names_registry_explicitly(input: &str) -> bool {
    input.starts_with("registry:") || input.starts_with("docker://")
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Registry(r) => write!(f, "{r}"),
            Target::Local { kind, path, select } => {
                write!(f, "{}:{}", kind.scheme(), path.display())?;
                match select {
                    Some(Selector::Tag(t)) => write!(f, ":{t}"),
                    Some(Selector::Digest(d)) => write!(f, "@{d}"),
                    None => Ok(()),
                }
            }
            Target::Daemon { daemon, reference } => write!(f, "{}:{reference}", daemon.scheme()),
        }
    }
}

/// Tar headers [`sniff_archive`] reads before giving up: an image archive has a few
/// files per layer, so this is thousands of layers.
pub const SNIFF_MAX_ENTRIES: usize = 16_384;
/// Bytes [`sniff_archive`] reads at most (seeks past member contents are free): headers
/// plus GNU/PAX long names, which the tar crate reads whole into memory.
pub const SNIFF_MAX_READ: u64 = 64 << 20;

/// Reads at most `left` bytes in total (then fails); seeks pass through.
struct ReadCap<R> {
    inner: R,
    left: u64,
}

impl<R: std::io::Read> std::io::Read for ReadCap<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Err(std::io::Error::other("sniff read bound reached"));
        }
        let max = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..max])?;
        self.left -= n as u64;
        Ok(n)
    }
}

impl<R: std::io::Seek> std::io::Seek for ReadCap<R> {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(pos)
    }
}

/// Sniff a file: a tar whose members include `oci-layout` is an OCI archive; one with
/// `manifest.json` (docker save) is a docker archive. Walks the tar headers only,
/// seeking past each member's contents, so a `manifest.json` written after gigabytes of
/// layers (as `docker save` and `skopeo` do) is found after reading a few KiB; bounded
/// by [`SNIFF_MAX_ENTRIES`] headers and [`SNIFF_MAX_READ`] bytes read.
pub fn sniff_archive(path: &Path) -> Result<LocalKind, String> {
    let f = std::fs::File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let mut ar = tar::Archive::new(ReadCap {
        inner: f,
        left: SNIFF_MAX_READ,
    });
    let entries = ar
        .entries_with_seek()
        .map_err(|e| format!("not a tar archive: {e}"))?;
    let mut seen_manifest = false;
    for (i, e) in entries.enumerate() {
        if i >= SNIFF_MAX_ENTRIES {
            break;
        }
        let e = match e {
            Ok(e) => e,
            Err(e) if i == 0 => return Err(format!("not a tar archive: {e}")),
            Err(_) => break,
        };
        let p = e.path_bytes();
        let p = String::from_utf8_lossy(&p);
        let p = p.trim_start_matches("./");
        match p {
            "oci-layout" => return Ok(LocalKind::OciArchive),
            "manifest.json" => seen_manifest = true,
            _ => {}
        }
    }
    if seen_manifest {
        Ok(LocalKind::DockerArchive)
    } else {
        Err(
            "a tar archive with neither `oci-layout` (OCI) nor `manifest.json` (docker save)"
                .into(),
        )
    }
}

/// Split `PATH@digest` or `PATH:tag` where PATH exists on disk. The tag may itself hold
/// `:` and `/` (`x.tar:example.com/team/app:1.4` picks that RepoTags entry), so every
/// `:` is tried from the left until the part before it exists.
fn split_selector(s: &str) -> (&str, Option<Selector>) {
    if let Some((p, d)) = s.rsplit_once('@') {
        if valid_digest(d) {
            return (p, Some(Selector::Digest(d.to_string())));
        }
    }
    for (i, _) in s.match_indices(':') {
        let (p, t) = (&s[..i], &s[i + 1..]);
        if !p.is_empty() && !t.is_empty() && Path::new(p).exists() {
            return (p, Some(Selector::Tag(t.to_string())));
        }
    }
    (s, None)
}

impl Target {
    /// Parse a command-line target. See the module docs for the rules.
    pub fn parse(input: &str) -> Result<Target, String> {
        let schemes = [
            ("docker-archive:", Some(LocalKind::DockerArchive)),
            ("oci-archive:", Some(LocalKind::OciArchive)),
            ("oci-dir:", Some(LocalKind::OciDir)),
            ("oci:", Some(LocalKind::OciDir)),
            ("registry:", None),
            ("docker://", None),
        ];
        for (scheme, daemon) in [
            ("docker:", Daemon::Docker),
            ("podman:", Daemon::Podman),
            ("containerd:", Daemon::Containerd),
        ] {
            if let Some(rest) = input
                .strip_prefix(scheme)
                .filter(|_| !input.starts_with("docker://"))
            {
                return Reference::parse(rest)
                    .map(|reference| Target::Daemon { daemon, reference })
                    .map_err(|e| e.to_string());
            }
        }
        for (scheme, kind) in schemes {
            if let Some(rest) = input.strip_prefix(scheme) {
                return match kind {
                    None => Reference::parse(rest)
                        .map(Target::Registry)
                        .map_err(|e| e.to_string()),
                    Some(kind) => {
                        let (path, select) = if Path::new(rest).exists() {
                            (rest, None)
                        } else {
                            split_selector(rest)
                        };
                        if !Path::new(path).exists() {
                            return Err(format!("{scheme}{path}: no such file or directory"));
                        }
                        Ok(Target::Local {
                            kind,
                            path: PathBuf::from(path),
                            select,
                        })
                    }
                };
            }
        }
        // Auto-detect: an existing path wins over a registry reference.
        let candidates = [(input, None), split_selector(input)];
        for (path, select) in candidates {
            let p = Path::new(path);
            if p.is_dir() {
                return Ok(Target::Local {
                    kind: LocalKind::OciDir,
                    path: p.to_path_buf(),
                    select,
                });
            }
            if p.is_file() {
                let kind = sniff_archive(p).map_err(|e| format!("{path}: {e}"))?;
                return Ok(Target::Local {
                    kind,
                    path: p.to_path_buf(),
                    select,
                });
            }
        }
        Reference::parse(input)
            .map(Target::Registry)
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A GNU long-name member claiming 200 MiB: the tar crate reads long names whole,
    /// so the sniff's read bound (not the entry count) is what stops it.
    #[test]
    fn sniff_bounds_what_long_names_make_it_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("longname.tar");
        let mut h = tar::Header::new_gnu();
        h.as_gnu_mut().unwrap().name[..13].copy_from_slice(b"././@LongLink");
        h.set_entry_type(tar::EntryType::GNULongName);
        h.set_size(200 << 20);
        h.set_cksum();
        std::fs::write(&path, h.as_bytes()).unwrap();
        // Sparse: the 200 MiB of "name" cost no disk.
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(512 + (200 << 20) + 1024).unwrap();
        let e = sniff_archive(&path).unwrap_err();
        assert!(e.contains("sniff read bound reached"), "{e}");
    }

    fn norm(s: &str) -> String {
        Reference::parse(s).unwrap().to_string()
    }

    #[test]
    fn docker_hub_normalisation() {
        assert_eq!(norm("nginx"), "docker.io/library/nginx:latest");
        assert_eq!(norm("nginx:1.25"), "docker.io/library/nginx:1.25");
        assert_eq!(norm("bitnami/redis"), "docker.io/bitnami/redis:latest");
        assert_eq!(
            norm("index.docker.io/library/ubuntu"),
            "docker.io/library/ubuntu:latest"
        );
        assert_eq!(
            norm("index.docker.io/ubuntu"),
            "docker.io/library/ubuntu:latest"
        );
        assert_eq!(
            norm("docker.io/xoolu/ubuntu"),
            "docker.io/xoolu/ubuntu:latest"
        );
    }

    #[test]
    fn registries_ports_and_digests() {
        let r = Reference::parse("localhost:5000/team/api:1.4").unwrap();
        assert_eq!(r.registry, "localhost:5000");
        assert_eq!(r.repository, "team/api");
        assert_eq!(r.tag.as_deref(), Some("1.4"));
        assert_eq!(r.namespace(), "team");
        assert_eq!(r.image_name(), "api");
        let d = format!("sha256:{}", "a".repeat(64));
        let r = Reference::parse(&format!("ghcr.io/o/r@{d}")).unwrap();
        assert_eq!(r.tag, None);
        assert_eq!(r.digest.as_deref(), Some(d.as_str()));
        let r = Reference::parse(&format!("nginx:1.25@{d}")).unwrap();
        assert_eq!(r.tag.as_deref(), Some("1.25"));
        assert_eq!(r.digest.as_deref(), Some(d.as_str()));
        assert_eq!(r.familiar(), format!("nginx:1.25@{d}"));
        let r = Reference::parse("localhost/foo").unwrap();
        assert_eq!(r.registry, "localhost");
        let r = Reference::parse("127.0.0.1:5000/a/b/c").unwrap();
        assert_eq!(r.repository, "a/b/c");
        let r = Reference::parse("[::1]:5000/a").unwrap();
        assert_eq!(r.registry, "[::1]:5000");
        assert_eq!(r.repository, "a");
    }

    #[test]
    fn rejects_bad_references() {
        for bad in [
            "",
            "Nginx/foo:bar:baz",
            "nginx@sha256:abc",
            "nginx:-bad",
            "UPPER",
            "a//b",
            "https://docker.io/nginx",
            "foo/-bar",
            "foo_/bar",
            &format!("a/{}", "b".repeat(300)),
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad:?} should not parse");
        }
        let e = Reference::parse("Team/Api").unwrap_err();
        assert!(e.to_string().contains("Team/Api"), "{e}");
    }

    #[test]
    fn path_component_grammar() {
        for ok in ["a", "a.b", "a_b", "a__b", "a---b", "a1-2"] {
            assert!(valid_path_component(ok), "{ok}");
        }
        for bad in ["", "a___b", ".a", "a.", "a-", "a..b", "A"] {
            assert!(!valid_path_component(bad), "{bad}");
        }
    }

    #[test]
    fn targets_detect_local_paths() {
        let dir = std::env::temp_dir().join(format!("imgscan-ref-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let t = Target::parse(dir.to_str().unwrap()).unwrap();
        assert!(matches!(
            t,
            Target::Local {
                kind: LocalKind::OciDir,
                select: None,
                ..
            }
        ));
        let t = Target::parse(&format!("{}:v1", dir.display())).unwrap();
        assert!(matches!(t, Target::Local { select: Some(Selector::Tag(ref s)), .. } if s == "v1"));
        let t = Target::parse(&format!("oci-dir:{}:example.com/a/b:1.4", dir.display())).unwrap();
        assert!(
            matches!(t, Target::Local { select: Some(Selector::Tag(ref s)), .. } if s == "example.com/a/b:1.4")
        );
        let d = format!("sha256:{}", "b".repeat(64));
        let t = Target::parse(&format!("oci-dir:{}@{d}", dir.display())).unwrap();
        assert!(matches!(
            t,
            Target::Local {
                select: Some(Selector::Digest(_)),
                ..
            }
        ));
        // A plain file that is not a tar is an error, not a registry reference.
        let f = dir.join("junk");
        std::fs::write(&f, b"not a tar").unwrap();
        assert!(Target::parse(f.to_str().unwrap()).is_err());
        assert!(Target::parse("oci-archive:/nonexistent/x.tar").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(
            Target::parse("alpine:3.19").unwrap(),
            Target::Registry(_)
        ));
        assert!(matches!(
            Target::parse("docker:myapp").unwrap(),
            Target::Daemon { daemon: Daemon::Docker, ref reference } if reference.to_string() == "docker.io/library/myapp:latest"
        ));
        assert!(matches!(
            Target::parse("podman:localhost/a:1").unwrap(),
            Target::Daemon {
                daemon: Daemon::Podman,
                ..
            }
        ));
        assert!(matches!(
            Target::parse("containerd:app@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08").unwrap(),
            Target::Daemon { daemon: Daemon::Containerd, ref reference }
                if reference.digest.is_some() && reference.repository == "library/app"
        ));
        assert!(matches!(
            Target::parse("docker://alpine").unwrap(),
            Target::Registry(_)
        ));
        assert!(
            names_registry_explicitly("registry:alpine") && !names_registry_explicitly("alpine")
        );
        assert!(matches!(
            Target::parse("registry:localhost:5000/a").unwrap(),
            Target::Registry(_)
        ));
    }
}
