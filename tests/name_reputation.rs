//! Name reputation end to end: false positives on real references, each typosquat
//! technique with its exact id, severity and message, the trusted file, and the
//! `imgscan name` command's formats and exit codes.

use imgscan::findings::Severity;
use imgscan::reference::Reference;
use imgscan::reputation::{self, judge, Corpus};
use std::process::Command;

fn corpus() -> Corpus {
    Corpus::embedded()
}

/// (id, severity, message) of every finding for `r`.
fn judged(c: &Corpus, r: &str) -> Vec<(String, Severity, String)> {
    let reference = Reference::parse(r).unwrap_or_else(|e| panic!("{r}: {e}"));
    judge(&reference, c)
        .iter()
        .map(|f| (f.id.clone(), f.severity, reputation::message(f).to_string()))
        .collect()
}

const D: &str = "sha256:4c0fdaa8b6341bfdeca5f18f7837462c80cff90527ee35ef185571e1c327beac";

#[path = "name_reputation/legitimate.rs"]
mod legitimate;
use legitimate::legitimate;

#[path = "name_reputation/generalises.rs"]
mod generalises;

#[test]
fn no_legitimate_reference_gets_medium_or_above() {
    let c = corpus();
    let refs = legitimate();
    assert!(refs.len() >= 150, "{}", refs.len());
    let mut bad = Vec::new();
    let mut low = Vec::new();
    for r in &refs {
        for (id, sev, msg) in judged(&c, r) {
            if sev >= Severity::Medium {
                bad.push(format!("{r}: {id} {sev} {msg}"));
            } else {
                low.push(format!("{r}: {id} {sev} {msg}"));
            }
        }
    }
    assert!(bad.is_empty(), "false positives:\n{}", bad.join("\n"));
    // Reported, and bounded so that a regression in the corpus shows up here.
    println!(
        "{} legitimate references, {} LOW findings:\n{}",
        refs.len(),
        low.len(),
        low.join("\n")
    );
    assert!(low.len() <= 5, "LOW findings grew:\n{}", low.join("\n"));
    // Official, trusted-publisher and trusted-registry names get nothing at all.
    for r in [
        "nginx",
        "bitnami/redis",
        "ghcr.io/x/ubuntu",
        "registry.k8s.io/pause:3.9",
    ] {
        assert!(judged(&c, r).is_empty(), "{r}");
    }
}

fn one(c: &Corpus, r: &str) -> (String, Severity, String) {
    let v = judged(c, r);
    assert_eq!(v.len(), 1, "{r}: {v:?}");
    v.into_iter().next().unwrap()
}

fn expect(r: &str, id: &str, sev: Severity, msg: &str) {
    let got = one(&corpus(), r);
    assert_eq!(got, (id.to_string(), sev, msg.to_string()), "{r}");
}

const NS: &str = "IMG-NAME-TYPOSQUAT-NAMESPACE";
const REPO: &str = "IMG-NAME-TYPOSQUAT-REPOSITORY";
const REG: &str = "IMG-NAME-TYPOSQUAT-REGISTRY";

#[test]
fn namespace_typosquats_each_technique() {
    use Severity::*;
    expect(
        "grafanna/grafana",
        NS,
        High,
        "`grafanna/grafana` repeats a character in the trusted namespace `grafana`, and `grafana` is a repository that `grafana` publishes",
    );
    expect(
        "bitnam/redis:7",
        NS,
        High,
        "`bitnam/redis` omits a character from the trusted namespace `bitnami`, and `redis` is a repository that `bitnami` publishes",
    );
    expect(
        "hashucorp/terraform",
        NS,
        High,
        "`hashucorp/terraform` types the neighbouring key `u` for `i` in the trusted namespace `hashicorp`, and `terraform` is a repository that `hashicorp` publishes",
    );
    expect(
        "1inuxserver/plex",
        NS,
        High,
        "`1inuxserver/plex` uses the lookalike `1` for `l` in the trusted namespace `linuxserver`, and `plex` is a repository that `linuxserver` publishes",
    );
    expect(
        "p0rtainer/portainer",
        NS,
        High,
        "`p0rtainer/portainer` uses the lookalike `0` for `o` in the trusted namespace `portainer`, and `portainer` is a repository that `portainer` publishes",
    );
    expect(
        "prorn/node-exporter",
        NS,
        High,
        "`prorn/node-exporter` uses lookalike characters in the trusted namespace `prom`, and `node-exporter` is a repository that `prom` publishes",
    );
    expect(
        "rnacher/rancher",
        NS,
        High,
        "`rnacher/rancher` swaps adjacent characters in the trusted namespace `rancher`, and `rancher` is a repository that `rancher` publishes",
    );
    expect(
        "bit-nami/redis",
        NS,
        High,
        "`bit-nami/redis` changes the separators of the trusted namespace `bitnami`, and `redis` is a repository that `bitnami` publishes",
    );
    expect(
        "bitnami-official/redis",
        NS,
        High,
        "`bitnami-official/redis` adds `-official` to the trusted namespace `bitnami`, and `redis` is a repository that `bitnami` publishes",
    );
}

#[test]
fn namespaces_posing_as_dockers_own() {
    use Severity::*;
    expect(
        "official/nginx",
        NS,
        High,
        "`official/nginx` uses the namespace `official`, posing as Docker's own `library` namespace of official images",
    );
    expect(
        "docker-library/ubuntu",
        NS,
        High,
        "`docker-library/ubuntu` uses the namespace `docker-library`, posing as Docker's own `library` namespace of official images",
    );
    expect(
        "libraary/nginx",
        NS,
        High,
        "`libraary/nginx` repeats a character in Docker's own namespace `library` of official images",
    );
    expect(
        "1ibrary/redis",
        NS,
        High,
        "`1ibrary/redis` uses the lookalike `1` for `l` in Docker's own namespace `library` of official images",
    );
}

#[test]
fn repository_typosquats_each_technique() {
    use Severity::*;
    expect(
        "ngnix",
        REPO,
        Medium,
        "`ngnix` swaps adjacent characters in the official image name `nginx`",
    );
    expect(
        "acme/ubunut",
        REPO,
        Medium,
        "`acme/ubunut` swaps adjacent characters in the official image name `ubuntu`",
    );
    expect(
        "acme/postgress",
        REPO,
        Medium,
        "`acme/postgress` repeats a character in the official image name `postgres`",
    );
    expect(
        "acme/wordpres",
        REPO,
        Medium,
        "`acme/wordpres` omits a character from the official image name `wordpress`",
    );
    expect(
        "acme/ubunru",
        REPO,
        Medium,
        "`acme/ubunru` types the neighbouring key `r` for `t` in the official image name `ubuntu`",
    );
    expect(
        "acme/a1pine",
        REPO,
        Medium,
        "`acme/a1pine` uses the lookalike `1` for `l` in the official image name `alpine`",
    );
    expect(
        "acme/rnongo",
        REPO,
        Medium,
        "`acme/rnongo` uses lookalike characters in the official image name `mongo`",
    );
    expect(
        "acme/vvordpress",
        REPO,
        Medium,
        "`acme/vvordpress` uses lookalike characters in the official image name `wordpress`",
    );
    expect(
        "acme/clebian",
        REPO,
        Medium,
        "`acme/clebian` uses lookalike characters in the official image name `debian`",
    );
    expect(
        "acme/mongo_express",
        REPO,
        Medium,
        "`acme/mongo_express` changes the separators of the official image name `mongo-express`",
    );
    expect(
        "acme/hello__world",
        REPO,
        Medium,
        "`acme/hello__world` changes the separators of the official image name `hello-world`",
    );
    expect(
        "acme/nginx-official",
        REPO,
        Medium,
        "`acme/nginx-official` adds `-official` to the official image name `nginx`",
    );
    expect(
        "acme/docker-nginx",
        REPO,
        Medium,
        "`acme/docker-nginx` adds `docker-` to the official image name `nginx`",
    );
    expect(
        "acme/ubuntu-os",
        REPO,
        Medium,
        "`acme/ubuntu-os` adds `-os` to the official image name `ubuntu`",
    );
    expect(
        "acme/ubuntu14.01",
        REPO,
        Medium,
        "`acme/ubuntu14.01` appends the version-like suffix `14.01` to the official image name `ubuntu`",
    );
}

#[test]
fn registry_typosquats() {
    use Severity::*;
    expect(
        "ghrc.io/acme/app",
        REG,
        High,
        "`ghrc.io` swaps adjacent characters in the trusted registry `ghcr.io`",
    );
    expect(
        "d0cker.io/library/nginx",
        REG,
        High,
        "`d0cker.io` uses the lookalike `0` for `o` in the trusted registry `docker.io`",
    );
    expect(
        "qquay.io/a/b:1",
        REG,
        High,
        "`qquay.io` repeats a character in the trusted registry `quay.io`",
    );
    expect(
        "ghcr.com/acme/app",
        REG,
        High,
        "`ghcr.com` changes the top-level domain of the trusted registry `ghcr.io`",
    );
    expect(
        "registry.k8s.io.evil.example:443/pause",
        REG,
        High,
        "`registry.k8s.io.evil.example:443` embeds the trusted registry `registry.k8s.io`",
    );
    expect(
        "mcr.rnicrosoft.com/dotnet/sdk",
        REG,
        High,
        "`mcr.rnicrosoft.com` uses lookalike characters in the trusted registry `mcr.microsoft.com`",
    );
}

#[test]
fn known_bad_and_namespace_squat() {
    use Severity::*;
    for r in [
        "xoolu/ubuntu",
        "xoolu/ubuntu:latest",
        &format!("docker.io/xoolu/ubuntu@{D}"),
    ] {
        expect(
            r,
            "IMG-NAME-KNOWN-BAD",
            Critical,
            "`xoolu/ubuntu` is a known malicious image",
        );
    }
    expect(
        "gakeaws/nginx",
        "IMG-NAME-KNOWN-BAD",
        Critical,
        "`gakeaws/nginx` is published by `gakeaws`, an account reported for malicious images",
    );
    expect(
        "docker123321/mysql",
        "IMG-NAME-KNOWN-BAD",
        Critical,
        "`docker123321/mysql` is published by `docker123321`, an account reported for malicious images",
    );
    expect(
        "l0s3r/m3n",
        "IMG-NAME-KNOWN-BAD",
        Critical,
        "`l0s3r/m3n` is a known malicious image",
    );
    let c = corpus();
    let f = judge(&Reference::parse("xoolu/ubuntu").unwrap(), &c);
    assert!(f[0]
        .description
        .contains("https://github.com/docker/hub-feedback/issues/1781"));
    assert!(f[0].attack.contains(&"T1204.003".to_string()));
    // Another account's image of the same name is only a namespace squat.
    expect(
        "xoolu2/ubuntu",
        "IMG-NAME-NAMESPACE-SQUAT",
        Low,
        "`xoolu2/ubuntu` publishes the official image name `ubuntu` under the unknown namespace `xoolu2`",
    );
}

#[test]
fn trusted_file_adds_namespaces_and_registries() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trusted.toml");
    std::fs::write(
        &path,
        "namespaces = [\"acmecorp\"]\nregistries = [\"registry.acmecorp.example:5000\"]\n",
    )
    .unwrap();
    let c = Corpus::with_trusted_file(&path).unwrap();
    assert!(judged(&c, "acmecorp/nginx").is_empty());
    assert!(judged(&c, "registry.acmecorp.example:5000/anything/ubuntu").is_empty());
    assert_eq!(
        one(&c, "acmec0rp/api"),
        (
            NS.to_string(),
            Severity::Medium,
            "`acmec0rp/api` uses the lookalike `0` for `o` in your trusted namespace `acmecorp`"
                .to_string()
        )
    );
    assert_eq!(one(&c, "registry.acmecorp.exampel/app").0, REG);
    // Without the file, acmecorp/nginx is a namespace squat.
    assert_eq!(one(&corpus(), "acmecorp/nginx").1, Severity::Low);
    // A broken file is an error, not silently ignored.
    std::fs::write(&path, "namespaces = \"not a list\"").unwrap();
    assert!(Corpus::with_trusted_file(&path).is_err());
    assert!(Corpus::with_trusted_file(&dir.path().join("missing.toml")).is_err());
}

fn imgscan(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_imgscan"))
        .env("IMGSCAN_CACHE_DEFAULT", "none")
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn name_command_exit_codes_and_formats() {
    let (code, out, _) = imgscan(&["name", "nginx", "bitnami/redis"]);
    assert_eq!(code, 0, "{out}");
    let (code, out, _) = imgscan(&["name", "nginx", "xoolu/ubuntu"]);
    assert_eq!(code, 1);
    assert!(
        out.contains("IMG-NAME-KNOWN-BAD") && out.contains("CRITICAL"),
        "{out}"
    );
    assert_eq!(imgscan(&["name", "--fail-on", "none", "xoolu/ubuntu"]).0, 0);
    assert_eq!(
        imgscan(&["name", "acme/nginx"]).0,
        0,
        "LOW is below the default"
    );
    assert_eq!(imgscan(&["name", "--fail-on", "low", "acme/nginx"]).0, 1);
    assert_eq!(imgscan(&["name", "--fail-on", "medium", "ngnix"]).0, 1);
    // Errors exit 2.
    let (code, _, err) = imgscan(&["name", "Not A Ref"]);
    assert_eq!(code, 2);
    assert!(err.contains("imgscan:"), "{err}");
    assert_eq!(imgscan(&["name", "--fail-on", "severe", "nginx"]).0, 2);
    assert_eq!(
        imgscan(&["name", "--trusted", "/nonexistent.toml", "nginx"]).0,
        2
    );

    // JSON: one report per reference, documented fields.
    let (code, out, _) = imgscan(&["name", "--format", "json", "grafanna/grafana", "nginx"]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["schema_version"], "1");
    assert_eq!(v["reports"].as_array().unwrap().len(), 2);
    let f = &v["reports"][0]["findings"][0];
    assert_eq!(f["id"], NS);
    assert_eq!(f["severity"], "HIGH");
    assert_eq!(f["evidence"][0]["location"]["kind"], "name");
    assert_eq!(
        f["evidence"][0]["location"]["reference"],
        "docker.io/grafanna/grafana:latest"
    );
    assert!(v["reports"][1]["findings"].as_array().unwrap().is_empty());

    // -o FILE writes the report there, nothing on stdout.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.sarif");
    let (code, out, _) = imgscan(&[
        "name",
        "--format",
        "sarif",
        "-o",
        path.to_str().unwrap(),
        "official/nginx",
    ]);
    assert_eq!(code, 1);
    assert!(out.is_empty());
    let sarif: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    assert_eq!(sarif["runs"][0]["results"][0]["ruleId"], NS);
    assert_eq!(sarif["runs"][0]["results"][0]["level"], "error");
}

/// A registry that cannot be reached: every request goes to a proxy on a closed loopback
/// port (reqwest honours HTTPS_PROXY), so the test stays on loopback and fails fast.
fn scan_unreachable(reference: &str) -> (i32, serde_json::Value, String) {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let out = Command::new(env!("CARGO_BIN_EXE_imgscan"))
        .env("IMGSCAN_CACHE_DEFAULT", "none")
        .args(["scan", reference, "--format", "json", "--quiet"])
        .env("HTTPS_PROXY", &proxy)
        .env("HTTP_PROXY", &proxy)
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let doc = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    (
        out.status.code().unwrap_or(-1),
        doc,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn scan_reports_the_name_verdict_when_the_image_cannot_be_pulled() {
    let (code, doc, err) = scan_unreachable("docker.io/xoolu/ubuntu:latest");
    assert_eq!(code, 2, "not read, so never clean: {err}");
    assert!(err.contains("cannot connect"), "{err}");
    let r = &doc["reports"][0];
    assert_eq!(r["target"], "docker.io/xoolu/ubuntu:latest");
    let ids: Vec<(&str, &str)> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["id"].as_str().unwrap(), f["severity"].as_str().unwrap()))
        .collect();
    assert_eq!(
        ids,
        [
            ("IMG-NAME-KNOWN-BAD", "CRITICAL"),
            ("IMG-SCAN-INCOMPLETE", "LOW")
        ]
    );
    assert!(r["incomplete"][0]
        .as_str()
        .unwrap()
        .starts_with("the image could not be read: "));

    // A name with nothing to say gives no report of its own: only the error.
    let (code, doc, _) = scan_unreachable("docker.io/library/debian:bookworm");
    assert_eq!(code, 2);
    assert_eq!(doc["reports"].as_array().unwrap().len(), 0);
}
