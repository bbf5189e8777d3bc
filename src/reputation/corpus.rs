//! The reputation corpus: popular (official) image names, trusted publisher namespaces,
//! trusted registries and known-bad images, loaded from the TOML files in `signatures/`
//! (embedded) plus an optional user file of trusted namespaces and registries.
//!
//! Loading also builds the lookup index ([`super::index::Index`]) once, so judging a name
//! is a handful of hash lookups.

use super::index::Index;
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::path::Path;

const POPULAR_TOML: &str = include_str!("../../signatures/popular-images.toml");
const KNOWN_BAD_TOML: &str = include_str!("../../signatures/known-bad-images.toml");

/// Largest trusted file accepted (it is a short list; anything bigger is a mistake).
const MAX_TRUSTED_FILE: u64 = 1 << 20;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct NameList {
    #[serde(default)]
    source: String,
    #[serde(default)]
    names: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PublisherEntry {
    namespace: String,
    #[serde(default)]
    images: Vec<String>,
    #[serde(default)]
    source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryEntry {
    host: String,
    #[serde(default)]
    subdomains: bool,
    #[serde(default)]
    source: String,
}

/// Widely pulled images of one registry (or Docker Hub publisher images listed by
/// popularity rather than trust): their repository names count as popular names.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PopularEntry {
    /// `registry.k8s.io`, `quay.io`, `gcr.io/distroless`, `docker.io`, ...
    registry: String,
    /// Repository paths under `registry` (`pause`, `prometheus/node-exporter`).
    images: Vec<String>,
    source: String,
}

/// `popular-images.toml` and the user's trusted file share this shape.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CorpusFile {
    #[serde(default)]
    official: NameList,
    #[serde(default)]
    former_official: NameList,
    #[serde(default)]
    publisher: Vec<PublisherEntry>,
    #[serde(default)]
    registry: Vec<RegistryEntry>,
    #[serde(default)]
    popular: Vec<PopularEntry>,
    /// Short form for user files: Docker Hub namespaces.
    #[serde(default)]
    namespaces: Vec<String>,
    /// Short form for user files: registry hosts (with port if any).
    #[serde(default)]
    registries: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KnownBadEntry {
    name: String,
    source: String,
    #[serde(default)]
    what: String,
    #[serde(default)]
    intel: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KnownBadFile {
    image: Vec<KnownBadEntry>,
}

/// A known-bad image or account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownBad {
    /// `namespace/repository`, or `namespace/*`.
    pub name: String,
    /// Public report that names it.
    pub source: String,
    /// What was found in it.
    pub what: String,
}

/// A trusted registry host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedRegistry {
    pub host: String,
    /// Also trust every subdomain of `host`.
    pub subdomains: bool,
    pub source: String,
}

/// Where a trusted name came from (shown in findings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Embedded,
    User,
}

/// Everything name reputation compares against. Build once, share freely.
#[derive(Debug, Clone)]
pub struct Corpus {
    /// Official image names (current and former), without `library/`.
    pub(crate) official: HashSet<String>,
    /// Trusted Docker Hub namespaces → their well-known images.
    pub(crate) publishers: HashMap<String, (Vec<String>, Origin)>,
    pub(crate) registries: Vec<(TrustedRegistry, Origin)>,
    /// Popular repository names that are not official images (last path component) →
    /// the full name it was listed as (`registry.k8s.io/pause`, `grafana/loki`).
    pub(crate) popular: HashMap<String, String>,
    /// Repository name → the trusted namespaces that publish it.
    pub(crate) publishers_of: HashMap<String, Vec<String>>,
    /// Exact `namespace/repository` → entry; `namespace` → entry for `namespace/*`.
    pub(crate) bad_images: HashMap<String, KnownBad>,
    pub(crate) bad_namespaces: HashMap<String, KnownBad>,
    pub(crate) index: Index,
}

/// Why a corpus or trusted file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    #[error("{path}: {reason}")]
    File { path: String, reason: String },
    #[error("{what}: {reason}")]
    Invalid { what: String, reason: String },
}

fn invalid(what: &str, reason: impl Into<String>) -> CorpusError {
    CorpusError::Invalid {
        what: what.to_string(),
        reason: reason.into(),
    }
}

/// A Docker Hub namespace or image name component: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn valid_component(s: &str) -> bool {
    crate::reference::Reference::parse(&format!("x/{s}"))
        .map(|r| r.repository == format!("x/{s}"))
        .unwrap_or(false)
}

/// A registry host, optionally with a port.
fn valid_host(s: &str) -> bool {
    crate::reference::Reference::parse(&format!("{s}/x"))
        .map(|r| r.registry == s || s == "index.docker.io")
        .unwrap_or(false)
        && (s.contains('.') || s.contains(':') || s == "localhost")
}

impl Corpus {
    /// The corpus embedded in the binary (`signatures/popular-images.toml` and
    /// `signatures/known-bad-images.toml`).
    pub fn embedded() -> Corpus {
        // The embedded files are tested; a parse failure is a build defect.
        Corpus::from_strs(POPULAR_TOML, KNOWN_BAD_TOML)
            .expect("embedded signatures/popular-images.toml or known-bad-images.toml is invalid")
    }

    /// The embedded corpus plus the user's trusted namespaces and registries from a TOML
    /// file (`namespaces = ["acme"]`, `registries = ["registry.acme.internal:5000"]`, or
    /// `[[publisher]]` / `[[registry]]` tables as in `signatures/popular-images.toml`).
    pub fn with_trusted_file(path: &Path) -> Result<Corpus, CorpusError> {
        use std::io::Read;
        let file_err = |reason: String| CorpusError::File {
            path: path.display().to_string(),
            reason,
        };
        let f = std::fs::File::open(path).map_err(|e| file_err(e.to_string()))?;
        let mut text = String::new();
        f.take(MAX_TRUSTED_FILE + 1)
            .read_to_string(&mut text)
            .map_err(|e| file_err(e.to_string()))?;
        if text.len() as u64 > MAX_TRUSTED_FILE {
            return Err(file_err(format!("larger than {MAX_TRUSTED_FILE} bytes")));
        }
        let mut c = Corpus::embedded();
        c.add_trusted_str(&text)
            .map_err(|e| file_err(e.to_string()))?;
        Ok(c)
    }

    /// Parse a corpus from the two TOML texts (for tests and overrides).
    pub fn from_strs(popular: &str, known_bad: &str) -> Result<Corpus, CorpusError> {
        let mut c = Corpus {
            official: HashSet::new(),
            publishers: HashMap::new(),
            registries: Vec::new(),
            popular: HashMap::new(),
            publishers_of: HashMap::new(),
            bad_images: HashMap::new(),
            bad_namespaces: HashMap::new(),
            index: Index::default(),
        };
        c.merge(popular, Origin::Embedded, "popular images")?;
        let bad: KnownBadFile =
            toml::from_str(known_bad).map_err(|e| invalid("known-bad images", e.to_string()))?;
        for e in bad.image {
            let _ = &e.intel;
            let entry = KnownBad {
                name: e.name.clone(),
                source: e.source,
                what: e.what,
            };
            let (ns, repo) = e.name.split_once('/').ok_or_else(|| {
                invalid("known-bad images", format!("{:?}: want ns/repo", e.name))
            })?;
            if !valid_component(ns) || (repo != "*" && !valid_component(repo)) {
                return Err(invalid(
                    "known-bad images",
                    format!("bad name {:?}", e.name),
                ));
            }
            if repo == "*" {
                c.bad_namespaces.insert(ns.to_string(), entry);
            } else {
                c.bad_images.insert(e.name, entry);
            }
        }
        c.rebuild_index();
        Ok(c)
    }

    /// Add trusted namespaces and registries from TOML text.
    pub fn add_trusted_str(&mut self, text: &str) -> Result<(), CorpusError> {
        self.merge(text, Origin::User, "trusted file")?;
        self.rebuild_index();
        Ok(())
    }

    fn merge(&mut self, text: &str, origin: Origin, what: &str) -> Result<(), CorpusError> {
        let f: CorpusFile = toml::from_str(text).map_err(|e| invalid(what, e.to_string()))?;
        let _ = (&f.official.source, &f.former_official.source);
        for n in f.official.names.iter().chain(&f.former_official.names) {
            if !valid_component(n) {
                return Err(invalid(what, format!("bad image name {n:?}")));
            }
            self.official.insert(n.clone());
        }
        let short = f.namespaces.into_iter().map(|namespace| PublisherEntry {
            namespace,
            images: Vec::new(),
            source: String::new(),
        });
        for p in f.publisher.into_iter().chain(short) {
            let _ = &p.source;
            if !valid_component(&p.namespace) {
                return Err(invalid(what, format!("bad namespace {:?}", p.namespace)));
            }
            if let Some(i) = p.images.iter().find(|i| !valid_component(i)) {
                return Err(invalid(what, format!("bad image name {i:?}")));
            }
            for i in &p.images {
                self.popular
                    .entry(i.clone())
                    .or_insert_with(|| format!("{}/{i}", p.namespace));
                let v = self.publishers_of.entry(i.clone()).or_default();
                if !v.contains(&p.namespace) {
                    v.push(p.namespace.clone());
                }
            }
            let e = self
                .publishers
                .entry(p.namespace)
                .or_insert_with(|| (Vec::new(), origin.clone()));
            e.0.extend(p.images);
        }
        for p in f.popular {
            if p.source.is_empty() {
                return Err(invalid(
                    what,
                    format!("[[popular]] {:?} has no source", p.registry),
                ));
            }
            for i in &p.images {
                let last = i.rsplit('/').next().unwrap_or(i);
                if !i.split('/').all(valid_component) {
                    return Err(invalid(what, format!("bad image name {i:?}")));
                }
                self.popular
                    .entry(last.to_string())
                    .or_insert_with(|| format!("{}/{i}", p.registry));
            }
        }
        let short = f.registries.into_iter().map(|host| RegistryEntry {
            host,
            subdomains: false,
            source: "trusted file".into(),
        });
        for r in f.registry.into_iter().chain(short) {
            let host = r.host.to_ascii_lowercase();
            if !(valid_host(&host) || r.subdomains && host.contains('.')) {
                return Err(invalid(what, format!("bad registry host {:?}", r.host)));
            }
            self.registries.push((
                TrustedRegistry {
                    host,
                    subdomains: r.subdomains,
                    source: r.source,
                },
                origin.clone(),
            ));
        }
        Ok(())
    }

    fn rebuild_index(&mut self) {
        self.index = Index::build(
            self.official
                .iter()
                .chain(self.popular.keys())
                .map(String::as_str),
            self.publishers.keys().map(String::as_str),
            self.registries.iter().map(|(r, _)| r.host.as_str()),
        );
    }

    /// Whether `name` (without `library/`) is an official image name, current or former.
    pub fn is_official(&self, name: &str) -> bool {
        self.official.contains(name)
    }

    /// Whether `name` is an official image name or a popular repository name of any
    /// listed registry or publisher.
    pub fn is_popular(&self, name: &str) -> bool {
        self.official.contains(name) || self.popular.contains_key(name)
    }

    /// Where a popular, non-official repository name was listed (`registry.k8s.io/pause`).
    pub fn popular_origin(&self, name: &str) -> Option<&str> {
        self.popular.get(name).map(String::as_str)
    }

    /// The trusted namespaces that publish a repository of this name.
    pub fn publishers_of(&self, image: &str) -> &[String] {
        self.publishers_of
            .get(image)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Whether `namespace` is a trusted Docker Hub publisher.
    pub fn is_trusted_namespace(&self, namespace: &str) -> bool {
        self.publishers.contains_key(namespace)
    }

    /// Whether a registry host (with port if any) is trusted, exactly or as a subdomain of
    /// a host trusted with `subdomains = true`.
    pub fn is_trusted_registry(&self, host: &str) -> bool {
        let bare = host_without_port(host);
        self.registries.iter().any(|(r, _)| {
            r.host == host
                || r.host == bare
                || (r.subdomains && bare.ends_with(&r.host) && {
                    let cut = bare.len() - r.host.len();
                    cut > 0 && bare.as_bytes()[cut - 1] == b'.'
                })
        })
    }

    /// The known-bad entry for a Docker Hub `namespace/repository`, if any.
    pub fn known_bad(&self, repository: &str) -> Option<&KnownBad> {
        self.bad_images.get(repository).or_else(|| {
            let ns = repository.split_once('/')?.0;
            self.bad_namespaces.get(ns)
        })
    }

    /// Well-known images of a trusted publisher.
    pub fn publisher_images(&self, namespace: &str) -> &[String] {
        self.publishers
            .get(namespace)
            .map(|(v, _)| v.as_slice())
            .unwrap_or(&[])
    }

    /// Whether the trusted namespace came from the user's file.
    pub fn namespace_is_users(&self, namespace: &str) -> bool {
        matches!(self.publishers.get(namespace), Some((_, Origin::User)))
    }

    /// Counts, for the bench and `--verbose` style output: official names, publishers,
    /// registries, known-bad entries.
    pub fn sizes(&self) -> (usize, usize, usize, usize) {
        (
            self.official.len(),
            self.publishers.len(),
            self.registries.len(),
            self.bad_images.len() + self.bad_namespaces.len(),
        )
    }
}

/// `host` without a trailing `:port`; bracketed IPv6 addresses are returned as is.
pub(crate) fn host_without_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host;
    }
    host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_corpus_loads_with_sources() {
        let c = Corpus::embedded();
        let (official, publishers, registries, bad) = c.sizes();
        assert_eq!(official, 144 + 42, "sections 1 and 2 of popular-images.txt");
        assert!(publishers >= 25, "{publishers}");
        assert!(registries >= 10);
        assert_eq!(bad, 24);
        // Popular names beyond Docker's library, with where they were listed.
        assert!(c.is_popular("kube-proxy") && !c.is_official("kube-proxy"));
        assert_eq!(c.popular_origin("pause"), Some("registry.k8s.io/pause"));
        assert_eq!(
            c.popular_origin("static-debian12"),
            Some("gcr.io/distroless/static-debian12")
        );
        assert!(c.publishers_of("vault").contains(&"hashicorp".to_string()));
        assert!(!c.is_popular("acme-api"));
        assert!(c.is_official("nginx") && c.is_official("centos"));
        assert!(!c.is_official("xoolu"));
        assert!(c.is_trusted_namespace("bitnami") && c.is_trusted_namespace("prom"));
        assert!(c.is_trusted_registry("ghcr.io") && c.is_trusted_registry("us.gcr.io"));
        assert!(c.is_trusted_registry("123456789012.dkr.ecr.eu-west-1.amazonaws.com"));
        assert!(!c.is_trusted_registry("evilgcr.io"));
        assert!(!c.is_trusted_registry("localhost:5000"));
        assert_eq!(c.known_bad("gakeaws/nginx").unwrap().name, "gakeaws/*");
        assert!(c.known_bad("xoolu/ubuntu").unwrap().source.contains("1781"));
        assert!(c.known_bad("xoolu/debian").is_none());
        // Every known-bad entry keeps a URL.
        assert!(c
            .bad_images
            .values()
            .chain(c.bad_namespaces.values())
            .all(|b| b.source.starts_with("https://")));
    }

    #[test]
    fn trusted_file_adds_namespaces_and_registries() {
        let mut c = Corpus::embedded();
        c.add_trusted_str(
            "namespaces = [\"acme\"]\nregistries = [\"registry.acme.internal:5000\"]\n",
        )
        .unwrap();
        assert!(c.is_trusted_namespace("acme") && c.namespace_is_users("acme"));
        assert!(c.is_trusted_registry("registry.acme.internal:5000"));
        assert!(c.add_trusted_str("namespaces = [\"Bad Name\"]").is_err());
        assert!(c.add_trusted_str("unknown_key = 1").is_err());
        assert!(c.add_trusted_str("registries = [\"https://x\"]").is_err());
    }
}
