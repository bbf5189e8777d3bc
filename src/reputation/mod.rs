//! Image-name reputation: judges a [`Reference`] before anything is pulled — known-bad
//! images, typosquats of trusted registries, namespaces and official image names, and
//! official names published under unknown namespaces.
//!
//! Owns: the finding ids `IMG-NAME-*` and their severities. `corpus.rs` loads the
//! embedded corpus (`signatures/popular-images.toml`, `signatures/known-bad-images.toml`)
//! and the user's trusted file; `index.rs` finds which trusted name a candidate imitates
//! and how; this file turns that into [`Finding`]s.
//!
//! Policy (issue 5):
//! - a known-bad image or account: `IMG-NAME-KNOWN-BAD`, CRITICAL;
//! - a lookalike of a trusted registry: `IMG-NAME-TYPOSQUAT-REGISTRY`, HIGH;
//! - a namespace posing as Docker's own (`official`, `docker-library`, a lookalike of
//!   `library`): `IMG-NAME-TYPOSQUAT-NAMESPACE`, HIGH;
//! - a lookalike of a trusted publisher namespace: `IMG-NAME-TYPOSQUAT-NAMESPACE`,
//!   MEDIUM, HIGH when the image name is popular too (`grafanna/grafana`);
//! - a lookalike of an official image name (`library/ngnix`, `acme/ubuntu14.01`):
//!   `IMG-NAME-TYPOSQUAT-REPOSITORY`, MEDIUM;
//! - an official image name under an unknown namespace (`acme/nginx`):
//!   `IMG-NAME-NAMESPACE-SQUAT`, LOW alone; [`escalate_namespace_squat`] raises it when the
//!   scan finds anything else.
//!
//! Issue 12 (generalising): a bare Damerau-Levenshtein distance 1 (2 for 9+ characters)
//! after normalisation counts on namespaces and registries as above, and as LOW (raised
//! like a squat) on repository names; the full name is judged as a unit (a namespace near
//! the trusted publisher of the very repository it carries is HIGH); a popular name plus an
//! affix as a namespace is a lookalike; popular names include other registries' images.
//!
//! Ownership gates it: a trusted registry other than Docker Hub, a trusted namespace and
//! an official image get no finding; a private registry that imitates no trusted host gets
//! none either (its namespaces are its own).

mod corpus;
mod distance;
mod index;

pub use corpus::{Corpus, CorpusError, KnownBad, TrustedRegistry};
pub use index::{skeleton, Match, Technique};

use crate::findings::{Evidence, Finding, Location, Severity};
use crate::reference::{Reference, DEFAULT_REGISTRY};

pub const ID_KNOWN_BAD: &str = "IMG-NAME-KNOWN-BAD";
pub const ID_TYPOSQUAT_REGISTRY: &str = "IMG-NAME-TYPOSQUAT-REGISTRY";
pub const ID_TYPOSQUAT_NAMESPACE: &str = "IMG-NAME-TYPOSQUAT-NAMESPACE";
pub const ID_TYPOSQUAT_REPOSITORY: &str = "IMG-NAME-TYPOSQUAT-REPOSITORY";
pub const ID_NAMESPACE_SQUAT: &str = "IMG-NAME-NAMESPACE-SQUAT";

/// ATT&CK: User Execution: Malicious Image (Match Legitimate Resource Name or Location).
const ATTACK_MALICIOUS_IMAGE: &str = "T1204.003";
const ATTACK_MASQUERADE_NAME: &str = "T1036.005";
const ATTACK_RESOURCE_HIJACKING: &str = "T1496";

/// Docker Hub namespaces that pose as Docker's own `library` namespace. Lookalikes of
/// `library` itself are found by the index.
const POSES_AS_DOCKER: &[&str] = &[
    "official",
    "officials",
    "offical",
    "official-images",
    "officialimages",
    "official-image",
    "docker-library",
    "dockerlibrary",
    "docker-official",
    "dockerofficial",
    "docker-official-images",
    "library-official",
    "libraries",
    "docker-hub",
    "dockerhub",
    "docker-images",
    "dockerimages",
];

/// Judge one reference against the corpus. Returns no finding for a trusted or unknown
/// but unremarkable name.
pub fn judge(reference: &Reference, corpus: &Corpus) -> Vec<Finding> {
    let shown = reference.familiar_name();
    let location = reference.to_string();
    let mut out = Vec::new();

    if reference.registry != DEFAULT_REGISTRY {
        if corpus.is_trusted_registry(&reference.registry) {
            return out;
        }
        let host = corpus::host_without_port(&reference.registry).to_ascii_lowercase();
        if let Some(m) = corpus.index.registry(&host) {
            let msg = format!(
                "`{}` {} the trusted registry `{}`",
                reference.registry,
                m.technique.phrase(),
                m.target
            );
            out.push(finding(
                ID_TYPOSQUAT_REGISTRY,
                Severity::High,
                "Registry host imitates a trusted registry",
                &msg,
                format!(
                    "{msg}. An image pulled from a lookalike host comes from whoever \
                     registered it, not from `{}`.",
                    m.target
                ),
                format!(
                    "Check the registry host character by character; pull from `{}` if that \
                     was meant. If `{}` is your own registry, add it to a --trusted file.",
                    m.target, reference.registry
                ),
                &location,
                &m,
            ));
        }
        return out;
    }

    // Docker Hub.
    let (namespace, image) = match reference.repository.split_once('/') {
        Some((ns, rest)) => (ns, rest),
        None => ("library", reference.repository.as_str()),
    };
    if let Some(bad) = corpus.known_bad(&reference.repository) {
        let msg = if bad.name.ends_with("/*") {
            format!(
                "`{shown}` is published by `{namespace}`, an account reported for malicious images"
            )
        } else {
            format!("`{shown}` is a known malicious image")
        };
        let m = Match {
            target: bad.name.clone(),
            technique: Technique::Embeds,
        };
        let mut f = finding(
            ID_KNOWN_BAD,
            Severity::Critical,
            "Known malicious image",
            &msg,
            format!(
                "{msg}: {} (reported at {}). Images like this run cryptominers or backdoors \
                 as soon as a container starts.",
                bad.what, bad.source
            ),
            format!(
                "Do not run it. Remove containers started from it, treat hosts that ran it as \
                 compromised (rotate reachable credentials), and use the official image{}.",
                if corpus.is_official(image) {
                    format!(" `{image}` (docker.io/library/{image})")
                } else {
                    String::new()
                }
            ),
            &location,
            &m,
        );
        f.evidence[0].signature = format!("known-bad:{}", bad.name);
        f.attack.push(ATTACK_RESOURCE_HIJACKING.into());
        out.push(f);
        return out;
    }

    if namespace == "library" {
        if !corpus.is_official(image) {
            push_repository_lookalike(&mut out, corpus, image, &shown, &location);
        }
        return out;
    }
    if corpus.is_trusted_namespace(namespace) {
        return out;
    }

    let image_is_popular = corpus.is_popular(image);
    let poses = POSES_AS_DOCKER.contains(&namespace);
    // What the namespace imitates: Docker's own, a trusted namespace (named technique or
    // edit distance), a popular name plus an affix, or, judged with the repository
    // name, a trusted publisher of that very repository.
    let mut stem_is_image = false;
    let ns_match = if poses {
        Some(Match {
            target: "library".into(),
            technique: Technique::Embeds,
        })
    } else {
        corpus
            .index
            .namespace_named(namespace)
            .or_else(|| {
                let (m, is_ns) = corpus.index.namespace_affix(namespace)?;
                stem_is_image = !is_ns;
                Some(m)
            })
            .or_else(|| corpus.index.namespaces.near(namespace))
            .or_else(|| publisher_of_this_image(corpus, namespace, image))
    };
    if let Some(m) = ns_match {
        if m.target == "library" {
            let msg = if poses {
                format!("`{shown}` uses the namespace `{namespace}`, posing as Docker's own `library` namespace of official images")
            } else {
                format!(
                    "`{shown}` {} Docker's own namespace `library` of official images",
                    m.technique.phrase()
                )
            };
            out.push(finding(
                ID_TYPOSQUAT_NAMESPACE,
                Severity::High,
                "Namespace poses as Docker's official images",
                &msg,
                format!(
                    "{msg}. Official images have no namespace of their own on Docker Hub \
                     (`nginx` is `docker.io/library/nginx`); any other account can publish \
                     under a name like `{namespace}`."
                ),
                official_remedy(corpus, image),
                &location,
                &m,
            ));
        } else if stem_is_image {
            let msg = format!(
                "`{namespace}/{image}` {} the popular image name `{}`",
                m.technique.phrase(),
                m.target
            );
            let sev = if image_is_popular || image == m.target {
                Severity::High
            } else {
                Severity::Medium
            };
            out.push(finding(
                ID_TYPOSQUAT_NAMESPACE,
                sev,
                "Namespace dresses up a popular image name",
                &msg,
                format!(
                    "{msg}, as a namespace. `{namespace}` is an ordinary account, not the \
                     project behind `{}`: names like this are made to look official.",
                    m.target
                ),
                popular_remedy(corpus, &m.target),
                &location,
                &m,
            ));
        } else {
            let publishes = image == m.target
                || corpus
                    .publisher_images(&m.target)
                    .iter()
                    .any(|i| i == image);
            let popular_here = image_is_popular || publishes;
            let whose = if corpus.namespace_is_users(&m.target) {
                "your trusted namespace"
            } else {
                "the trusted namespace"
            };
            let mut msg = format!(
                "`{namespace}/{image}` {} {whose} `{}`",
                m.technique.phrase(),
                m.target
            );
            if publishes {
                msg.push_str(&format!(
                    ", and `{image}` is a repository that `{}` publishes",
                    m.target
                ));
            }
            out.push(finding(
                ID_TYPOSQUAT_NAMESPACE,
                if popular_here {
                    Severity::High
                } else {
                    Severity::Medium
                },
                "Namespace imitates a trusted publisher",
                &msg,
                format!(
                    "{msg}. `{namespace}` is not that publisher: a lookalike namespace is how \
                     backdoored images get deployed by mistake."
                ),
                format!(
                    "Use `{}/{image}` if that was meant, and pin it by digest. If `{namespace}` \
                     is a publisher you trust, add it to a --trusted file.",
                    m.target
                ),
                &location,
                &m,
            ));
        }
        if !image_is_popular {
            push_repository_lookalike(&mut out, corpus, image, &shown, &location);
        }
        return out;
    }

    if image_is_popular {
        let what = match corpus.popular_origin(image) {
            Some(origin) if !corpus.is_official(image) => {
                format!("the popular repository name `{image}` ({origin})")
            }
            _ => format!("the official image name `{image}`"),
        };
        let msg = format!("`{shown}` publishes {what} under the unknown namespace `{namespace}`");
        let m = Match {
            target: image.to_string(),
            technique: Technique::Embeds,
        };
        let mut f = finding(
            ID_NAMESPACE_SQUAT,
            Severity::Low,
            "Popular image name under an unknown namespace",
            &msg,
            format!(
                "{msg}. Many teams publish their own `{image}` builds, but so did the accounts \
                 behind xoolu/ubuntu and gakeaws/nginx, which carried miners. On its own this \
                 is a hint; together with any other finding it is a warning."
            ),
            format!(
                "Prefer {} or the upstream project's own namespace; if `{namespace}` is \
                 yours or trusted, add it to a --trusted file.",
                match corpus.popular_origin(image) {
                    Some(origin) if !corpus.is_official(image) => format!("`{origin}`"),
                    _ => format!("the official `{image}` (docker.io/library/{image})"),
                }
            ),
            &location,
            &m,
        );
        f.evidence[0].signature = format!("namespace-squat:{image}");
        out.push(f);
        return out;
    }
    push_repository_lookalike(&mut out, corpus, image, &shown, &location);
    out
}

/// The full name as a unit: a namespace near a trusted publisher of this very repository
/// name (`hashicorb/vault`, `grafama/grafana`), looser than the namespace alone.
fn publisher_of_this_image(corpus: &Corpus, namespace: &str, image: &str) -> Option<Match> {
    let mut owners: Vec<&str> = corpus
        .publishers_of(image)
        .iter()
        .map(String::as_str)
        .collect();
    if corpus.is_trusted_namespace(image) {
        owners.push(image);
    }
    owners.sort_unstable();
    owners.into_iter().find_map(|p| {
        Some(Match {
            target: p.to_string(),
            technique: distance::namespace_near_publisher(namespace, p)?,
        })
    })
}

fn popular_remedy(corpus: &Corpus, name: &str) -> String {
    match corpus.popular_origin(name) {
        Some(origin) if !corpus.is_official(name) => {
            format!("Use `{origin}` from its own publisher, pinned by digest.")
        }
        _ => official_remedy(corpus, name),
    }
}

fn official_remedy(corpus: &Corpus, image: &str) -> String {
    if corpus.is_official(image) {
        format!("Use the official image `{image}` (docker.io/library/{image}), pinned by digest.")
    } else {
        "Use the official image or the upstream publisher's namespace, pinned by digest."
            .to_string()
    }
}

fn push_repository_lookalike(
    out: &mut Vec<Finding>,
    corpus: &Corpus,
    image: &str,
    shown: &str,
    location: &str,
) {
    let Some(m) = corpus.index.official(image) else {
        return;
    };
    let what = match corpus.popular_origin(&m.target) {
        Some(origin) if !corpus.is_official(&m.target) => {
            format!("the popular image name `{}` ({origin})", m.target)
        }
        _ => format!("the official image name `{}`", m.target),
    };
    let msg = format!("`{shown}` {} {what}", m.technique.phrase());
    // A named typo technique is MEDIUM; a bare edit distance on a repository name is a
    // hint (LOW, raised with other findings): `store` is one edit from `storm` too.
    let bare = matches!(
        m.technique,
        Technique::Distance(_) | Technique::Substitution { .. }
    );
    out.push(finding(
        ID_TYPOSQUAT_REPOSITORY,
        if bare {
            Severity::Low
        } else {
            Severity::Medium
        },
        "Image name imitates a popular image",
        &msg,
        format!(
            "{msg}. Lookalike names of popular images are how backdoored images get pulled by \
             a typo or a careless copy.{}",
            if bare {
                " A single arbitrary edit is also how honest names differ, so on its own \
                 this is a hint; together with any other finding it is a warning."
            } else {
                ""
            }
        ),
        popular_remedy(corpus, &m.target),
        location,
        &m,
    ));
}

#[allow(clippy::too_many_arguments)]
fn finding(
    id: &str,
    severity: Severity,
    title: &str,
    msg: &str,
    description: String,
    remediation: String,
    location: &str,
    m: &Match,
) -> Finding {
    Finding {
        id: id.to_string(),
        title: title.to_string(),
        severity,
        description,
        remediation,
        attack: vec![
            ATTACK_MALICIOUS_IMAGE.to_string(),
            ATTACK_MASQUERADE_NAME.to_string(),
        ],
        evidence: vec![Evidence {
            line: None,
            location: Location::Name {
                reference: location.to_string(),
            },
            offset: None,
            signature: format!("typosquat:{}:{}", m.technique.key(), m.target),
            excerpt: msg.to_string(),
        }],
    }
}

/// The one-line message of a name finding ("`grafanna/grafana` repeats a character in the
/// trusted namespace `grafana`").
pub fn message(f: &Finding) -> &str {
    f.evidence.first().map(|e| e.excerpt.as_str()).unwrap_or("")
}

/// Raise `IMG-NAME-NAMESPACE-SQUAT` when the scan found anything else: to MEDIUM when the
/// other findings are LOW or INFO at most, to HIGH when any is MEDIUM or above. The scan
/// calls this once with all of a target's findings.
pub fn escalate_namespace_squat(findings: &mut [Finding]) {
    // Hints: the namespace squat, and a LOW (bare edit distance) repository lookalike.
    let hint = |f: &Finding| {
        f.id == ID_NAMESPACE_SQUAT
            || (f.id == ID_TYPOSQUAT_REPOSITORY && f.evidence.iter().any(is_bare_edit))
    };
    let others = findings
        .iter()
        .filter(|f| !hint(f))
        .map(|f| f.severity)
        .max();
    let Some(worst) = others else {
        return;
    };
    let to = if worst >= Severity::Medium {
        Severity::High
    } else {
        Severity::Medium
    };
    for f in findings.iter_mut().filter(|f| hint(f)) {
        if f.severity < to {
            f.severity = to;
            f.description
                .push_str(" Raised because the scan found other signs of trouble in this image.");
        }
    }
}

fn is_bare_edit(e: &Evidence) -> bool {
    e.signature.starts_with("typosquat:edit-distance:")
        || e.signature.starts_with("typosquat:substitution:")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(r: &str) -> Vec<(String, Severity)> {
        let c = Corpus::embedded();
        judge(&Reference::parse(r).unwrap(), &c)
            .into_iter()
            .map(|f| (f.id, f.severity))
            .collect()
    }

    #[test]
    fn escalation_only_with_other_findings() {
        let c = Corpus::embedded();
        let mut f = judge(&Reference::parse("acme/nginx").unwrap(), &c);
        assert_eq!(f[0].severity, Severity::Low);
        escalate_namespace_squat(&mut f);
        assert_eq!(f[0].severity, Severity::Low, "alone it stays LOW");
        let mut other = f[0].clone();
        other.id = "IMG-MINER-BINARY".into();
        other.severity = Severity::Critical;
        f.push(other);
        escalate_namespace_squat(&mut f);
        assert_eq!(f[0].severity, Severity::High);
    }

    #[test]
    fn private_registry_namespaces_are_their_own() {
        assert!(ids("registry.acme.internal:5000/xoolu/ubuntu").is_empty());
        assert!(ids("localhost:5000/library/ngnix").is_empty());
        assert_eq!(
            ids("d0cker.io/library/nginx"),
            vec![(ID_TYPOSQUAT_REGISTRY.to_string(), Severity::High)]
        );
    }
}
