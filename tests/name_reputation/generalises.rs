//! Issue 12: near misses beyond the named techniques (edit distance), the full name judged
//! as a unit, namespace affixes, popular names of other registries, and the known-bad
//! names added from published reports. Each positive has a look-alike negative.

use super::{corpus, expect, judged, NS, REG, REPO};
use imgscan::findings::Severity::{self, *};
use imgscan::reference::Reference;
use imgscan::reputation::{escalate_namespace_squat, judge};

const SQUAT: &str = "IMG-NAME-NAMESPACE-SQUAT";
const BAD: &str = "IMG-NAME-KNOWN-BAD";

fn nothing(r: &str) {
    assert!(
        judged(&corpus(), r).is_empty(),
        "{r}: {:?}",
        judged(&corpus(), r)
    );
}

#[test]
fn full_name_judged_as_a_unit() {
    expect(
        "hashicorb/vault",
        NS,
        High,
        "`hashicorb/vault` replaces `p` with `b` in the trusted namespace `hashicorp`, and `vault` is a repository that `hashicorp` publishes",
    );
    expect(
        "jenkinns/jenkins",
        NS,
        High,
        "`jenkinns/jenkins` repeats a character in the trusted namespace `jenkins`, and `jenkins` is a repository that `jenkins` publishes",
    );
    expect(
        "grafama/grafana:10",
        NS,
        High,
        "`grafama/grafana` uses the lookalike `m` for `n` in the trusted namespace `grafana`, and `grafana` is a repository that `grafana` publishes",
    );
    // Two edits from a 7-letter namespace count only together with its own repository.
    expect(
        "jemkims/jenkins",
        NS,
        High,
        "`jemkims/jenkins` is 2 edits (after normalising separators and lookalikes) away from the trusted namespace `jenkins`, and `jenkins` is a repository that `jenkins` publishes",
    );
    nothing("jemkims/api");
    // Without the publisher's repository name: still a lookalike, MEDIUM, and said so.
    expect(
        "hashicorb/tools",
        NS,
        Medium,
        "`hashicorb/tools` replaces `p` with `b` in the trusted namespace `hashicorp`",
    );
    nothing("hashicorp/vault");
    nothing("jenkinsci/blueocean");
    nothing("grafana/grafana-operator");
    // The Windows-in-Docker project pushes `dockurr/windows` to Docker Hub and
    // `ghcr.io/dockur/windows` to GHCR (signatures/popular-images.toml cites both): a
    // Docker Hub `dockur/windows` is the one-letter lookalike, with the publisher's repository.
    nothing("dockurr/windows");
    nothing("ghcr.io/dockur/windows");
    expect(
        "dockur/windows",
        NS,
        High,
        "`dockur/windows` omits a character from the trusted namespace `dockurr`, and `windows` is a repository that `dockurr` publishes",
    );
}

#[test]
fn edit_distance_on_registries_and_namespaces() {
    expect(
        "quaz.io/a/b",
        REG,
        High,
        "`quaz.io` replaces `y` with `z` in the trusted registry `quay.io`",
    );
    expect(
        "registry.k8b.io/pause",
        REG,
        High,
        "`registry.k8b.io` replaces `s` with `b` in the trusted registry `registry.k8s.io`",
    );
    nothing("quay.example.com/a/b");
    nothing("registry.local:5000/pause");
    expect(
        "falcosecurety/falco",
        NS,
        High,
        "`falcosecurety/falco` replaces `i` with `e` in the trusted namespace `falcosecurity`, and `falco` is a repository that `falcosecurity` publishes",
    );
    // Distance 2 needs 9+ characters and the same first letter.
    nothing("container/app");
}

#[test]
fn namespace_affixes() {
    expect(
        "grafana-io/loki",
        NS,
        High,
        "`grafana-io/loki` adds `-io` to the trusted namespace `grafana`, and `loki` is a repository that `grafana` publishes",
    );
    expect(
        "redishub/redis",
        NS,
        High,
        "`redishub/redis` adds `hub` to the trusted namespace `redis`, and `redis` is a repository that `redis` publishes",
    );
    expect(
        "libubuntu/ubuntu",
        NS,
        High,
        "`libubuntu/ubuntu` adds `lib` to the trusted namespace `ubuntu`, and `ubuntu` is a repository that `ubuntu` publishes",
    );
    expect(
        "postgreshub/postgres:16",
        NS,
        High,
        "`postgreshub/postgres` adds `hub` to the popular image name `postgres`",
    );
    expect(
        "alpineos/dockerapi",
        NS,
        Medium,
        "`alpineos/dockerapi` adds `os` to the popular image name `alpine`",
    );
    expect(
        "golang123/golang",
        NS,
        High,
        "`golang123/golang` adds `123` to the popular image name `golang`",
    );
    // Real namespaces: the stem is too short (`nats`) or the affix is not one of these.
    nothing("natsio/nats-box");
    nothing("bitnamicharts/redis");
    nothing("redislabs/redismod");
    // (`docker-cli` is 2 edits from the former official `docker-dev`: a LOW hint only.)
    let f = judged(&corpus(), "alpinelinux/docker-cli");
    assert!(
        f.iter().all(|(id, sev, _)| id != NS && *sev == Low),
        "{f:?}"
    );
}

#[test]
fn popular_names_of_other_registries() {
    expect(
        "acme/pause:3.9",
        SQUAT,
        Low,
        "`acme/pause` publishes the popular repository name `pause` (registry.k8s.io/pause) under the unknown namespace `acme`",
    );
    expect(
        "acme/static-debian12",
        SQUAT,
        Low,
        "`acme/static-debian12` publishes the popular repository name `static-debian12` (gcr.io/distroless/static-debian12) under the unknown namespace `acme`",
    );
    expect(
        "acme/cert-manager-controller",
        SQUAT,
        Low,
        "`acme/cert-manager-controller` publishes the popular repository name `cert-manager-controller` (quay.io/jetstack/cert-manager-controller) under the unknown namespace `acme`",
    );
    expect(
        "acme/kube-prxy",
        REPO,
        Medium,
        "`acme/kube-prxy` omits a character from the popular image name `kube-proxy` (registry.k8s.io/kube-proxy)",
    );
    // Under their own registries they are simply themselves.
    nothing("registry.k8s.io/pause:3.9");
    nothing("gcr.io/distroless/static-debian12");
    nothing("acme/pause-image");
    // Squats stay LOW alone and rise with other findings.
    let c = corpus();
    let mut f = judge(&Reference::parse("acme/coredns").unwrap(), &c);
    assert_eq!(f[0].severity, Low);
    let mut other = f[0].clone();
    other.id = "IMG-MINER-BINARY".into();
    other.severity = Severity::Critical;
    f.push(other);
    escalate_namespace_squat(&mut f);
    assert_eq!(f[0].severity, High);
}

#[test]
fn bare_edit_on_a_repository_name_is_a_hint() {
    expect(
        "acme/store",
        REPO,
        Low,
        "`acme/store` replaces `m` with `e` in the official image name `storm`",
    );
    let c = corpus();
    let mut f = judge(&Reference::parse("acme/store").unwrap(), &c);
    escalate_namespace_squat(&mut f);
    assert_eq!(f[0].severity, Low, "alone it stays LOW");
    let mut other = f[0].clone();
    other.id = "IMG-MINER-BINARY".into();
    other.severity = Severity::Medium;
    f.push(other);
    escalate_namespace_squat(&mut f);
    assert_eq!(f[0].severity, High);
    // A version change is not a lookalike: digits alone never make the distance.
    nothing("acme/base-debian10");
    nothing("acme/nodejs18-debian12");
}

#[test]
fn known_bad_from_published_reports() {
    for (r, msg) in [
        ("pauseyop/pause", "`pauseyop/pause` is a known malicious image"),
        ("vibersastra/golang", "`vibersastra/golang` is a known malicious image"),
        ("hzulu/hauto", "`hzulu/hauto` is a known malicious image"),
        (
            "trezrez1187sourtour/ubuntu14.01",
            "`trezrez1187sourtour/ubuntu14.01` is a known malicious image",
        ),
        (
            "thanhtudo/anything",
            "`thanhtudo/anything` is published by `thanhtudo`, an account reported for malicious images",
        ),
    ] {
        expect(r, BAD, Critical, msg);
    }
    let f = judge(&Reference::parse("pauseyyf/pause").unwrap(), &corpus());
    assert!(f[0].description.contains("hub-feedback/issues/2319"));
    // Another account with the same repository name is only a squat.
    expect(
        "pauseyo/pause",
        SQUAT,
        Low,
        "`pauseyo/pause` publishes the popular repository name `pause` (registry.k8s.io/pause) under the unknown namespace `pauseyo`",
    );
}
