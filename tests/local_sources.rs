//! `imgscan inspect` and `source::open` on OCI layouts, oci-archives and docker-archives
//! (made by skopeo), multi-arch indexes, PATH:tag and PATH@digest.

mod common;

use common::{imgscan, outs};
use imgscan::layers::{walk_image, Compression, NoopVisitor};
use imgscan::reference::Target;
use imgscan::source::{open, OpenedImage, SourceOptions};
use imgscan_testkit::*;
use serde_json::Value;

fn open_str(t: &str, opts: &SourceOptions) -> Result<Vec<OpenedImage>, String> {
    let target = Target::parse(t)?;
    open(&target, opts).map_err(|e| e.to_string())
}

fn inspect_json(args: &[&str]) -> Value {
    let mut a = vec!["inspect", "--format", "json", "--quiet"];
    a.extend_from_slice(args);
    let o = imgscan(&a);
    let (out, err, code) = outs(&o);
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    serde_json::from_str(&out).unwrap()
}

/// The sample image's expectations, whatever the source kind.
fn check_sample(img: &Value, layer_compressions: &[&str]) {
    assert_eq!(img["platform"]["os"], "linux");
    assert_eq!(img["platform"]["architecture"], "amd64");
    let cfg = &img["config"];
    assert_eq!(
        cfg["entrypoint"],
        serde_json::json!(["/usr/local/bin/run.sh"])
    );
    assert_eq!(cfg["cmd"], serde_json::json!(["--serve"]));
    assert_eq!(cfg["user"], "1000:1000");
    assert_eq!(cfg["working_dir"], "/opt/app");
    assert_eq!(cfg["exposed_ports"], serde_json::json!(["8080/tcp"]));
    assert_eq!(cfg["labels"]["org.opencontainers.image.title"], "sample");
    assert!(cfg["env"]
        .as_array()
        .unwrap()
        .contains(&Value::from("APP_MODE=prod")));
    let hist = cfg["history"].as_array().unwrap();
    assert_eq!(hist.len(), 4);
    assert_eq!(hist[3]["empty_layer"], true);
    assert_eq!(hist[3]["created_by"], "/bin/sh -c #(nop) ENV APP_MODE=prod");
    let walk = img["walk"].as_array().unwrap();
    assert_eq!(walk.len(), 3);
    let comps: Vec<&str> = walk
        .iter()
        .map(|w| w["compression"].as_str().unwrap())
        .collect();
    assert_eq!(comps, layer_compressions);
    // Tar entries per layer (whiteout markers included: they are tar entries).
    let entries: Vec<u64> = walk
        .iter()
        .map(|w| w["entries"].as_u64().unwrap())
        .collect();
    assert_eq!(entries, [10, 4, 2]);
    for w in walk {
        assert!(w["error"].is_null(), "{w}");
        assert!(w["uncompressed_bytes"].as_u64().unwrap() > 0);
        assert!(w["compressed_bytes"].as_u64().unwrap() > 0);
    }
    assert_eq!(img["incomplete"], serde_json::json!([]));
}

#[test]
fn inspect_oci_layout_archive_and_docker_archive() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("layout");
    let spec = sample_image();
    let m = single_image_layout(&layout, &spec, "v1");
    let layout_s = layout.to_str().unwrap();

    // OCI layout directory, auto-detected, plain and with :tag and @digest.
    let doc = inspect_json(&[layout_s]);
    let img = &doc["images"][0];
    check_sample(img, &["gzip", "zstd", "none"]);
    assert_eq!(img["manifest_digest"], m.digest.as_str());
    let by_tag = inspect_json(&[&format!("{layout_s}:v1")]);
    assert_eq!(by_tag["images"][0]["manifest_digest"], m.digest.as_str());
    let by_digest = inspect_json(&[&format!("oci-dir:{layout_s}@{}", m.digest)]);
    assert_eq!(by_digest["images"][0]["manifest_digest"], m.digest.as_str());

    // oci-archive: the same image, read from the tar without extraction.
    let oci_tar = tmp.path().join("img.oci.tar");
    oci_archive(&layout, &oci_tar);
    let doc = inspect_json(&[oci_tar.to_str().unwrap()]);
    let img = &doc["images"][0];
    check_sample(img, &["gzip", "zstd", "none"]);
    assert_eq!(img["manifest_digest"], m.digest.as_str());
    assert!(img["reference"]
        .as_str()
        .unwrap()
        .starts_with("oci-archive:/"));

    // docker-archive as skopeo (and Docker) write it: layers stored uncompressed.
    // skopeo cannot write zstd layers into a docker-archive: layer 1 is gzip there.
    let layout_gz = tmp.path().join("layout-gz");
    single_image_layout(&layout_gz, &sample_image_with(Comp::Gzip), "v1");
    let docker_tar = tmp.path().join("img.docker.tar");
    docker_archive(&layout_gz, "v1", &docker_tar, "example.com/team/sample:v1");
    let doc = inspect_json(&[docker_tar.to_str().unwrap()]);
    let img = &doc["images"][0];
    check_sample(img, &["none", "none", "none"]);
    // No manifest blob: the manifest digest is the config digest.
    assert_eq!(img["manifest_digest"], img["config_digest"]);
    let by_tag = inspect_json(&[&format!("docker-archive:{}:v1", docker_tar.display())]);
    assert_eq!(by_tag["images"][0]["config_digest"], img["config_digest"]);
    // A full RepoTags entry selects too (through the API: the command line splits
    // `PATH:name:tag` at the last ':').
    let full = Target::Local {
        kind: imgscan::reference::LocalKind::DockerArchive,
        path: docker_tar.clone(),
        select: Some(imgscan::reference::Selector::Tag(
            "example.com/team/sample:v1".into(),
        )),
    };
    let imgs = open(&full, &SourceOptions::default()).unwrap();
    assert_eq!(
        imgs[0].image.config_digest,
        img["config_digest"].as_str().unwrap()
    );
    let by_digest = inspect_json(&[&format!(
        "{}@{}",
        docker_tar.display(),
        img["config_digest"].as_str().unwrap()
    )]);
    assert_eq!(
        by_digest["images"][0]["config_digest"],
        img["config_digest"]
    );
}

#[test]
fn table_output_names_layers_config_and_history() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("layout");
    let m = single_image_layout(&layout, &sample_image(), "v1");
    let o = imgscan(&["inspect", layout.to_str().unwrap()]);
    let (out, err, code) = outs(&o);
    assert_eq!(code, 0, "{err}");
    assert!(err.is_empty(), "no progress bars when piped: {err:?}");
    assert!(
        out.contains(&format!("Manifest digest:  {}", m.digest)),
        "{out}"
    );
    assert!(out.contains("Platform:         linux/amd64"), "{out}");
    assert!(
        out.contains("Entrypoint:     [\"/usr/local/bin/run.sh\"]"),
        "{out}"
    );
    assert!(
        out.contains("yes    /bin/sh -c #(nop) ENV APP_MODE=prod"),
        "{out}"
    );
    for comp in ["gzip", "zstd", "none"] {
        assert!(out.contains(comp), "{out}");
    }
}

#[test]
fn multi_arch_index_platform_selection() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("multi");
    let (idx, amd, arm) = multi_arch_layout(&layout, "latest");
    let l = layout.to_str().unwrap();

    let doc = inspect_json(&[l]);
    assert_eq!(doc["images"].as_array().unwrap().len(), 1);
    assert_eq!(doc["images"][0]["manifest_digest"], amd.digest.as_str());

    let doc = inspect_json(&["--platform", "linux/arm64", l]);
    assert_eq!(doc["images"][0]["manifest_digest"], arm.digest.as_str());
    assert_eq!(doc["images"][0]["platform"]["variant"], "v8");
    assert_eq!(doc["images"][0]["walk"][0]["compression"], "zstd");

    let doc = inspect_json(&["--all-platforms", l]);
    let digests: Vec<&str> = doc["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["manifest_digest"].as_str().unwrap())
        .collect();
    assert_eq!(digests, [amd.digest.as_str(), arm.digest.as_str()]);

    // PATH@digest of the index, and of one platform's manifest.
    let doc = inspect_json(&["--all-platforms", &format!("{l}@{}", idx.digest)]);
    assert_eq!(doc["images"].as_array().unwrap().len(), 2);
    let doc = inspect_json(&[&format!("{l}@{}", arm.digest)]);
    assert_eq!(doc["images"][0]["manifest_digest"], arm.digest.as_str());

    // A platform that is not there: exit 2 and the choices.
    let (_, err, code) = outs(&imgscan(&["inspect", "--platform", "linux/s390x", l]));
    assert_eq!(code, 2);
    assert!(
        err.contains("no linux/s390x image in the index; it has: linux/amd64, linux/arm64/v8"),
        "{err}"
    );

    // The same through an oci-archive.
    let tar = tmp.path().join("multi.tar");
    oci_archive(&layout, &tar);
    let doc = inspect_json(&["--platform", "linux/arm64/v8", tar.to_str().unwrap()]);
    assert_eq!(doc["images"][0]["manifest_digest"], arm.digest.as_str());
}

#[test]
fn several_images_without_selector_lists_choices() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("two");
    let mut l = Layout::new(&dir);
    let a = l.add_image(&ImageSpec::new(vec![Layer::new(
        &[Ent::file("a", b"a")],
        Comp::Gzip,
    )]));
    let b = l.add_image(&ImageSpec::new(vec![Layer::new(
        &[Ent::file("b", b"b")],
        Comp::Gzip,
    )]));
    l.list(&a, Some("app:1"));
    l.list(&b, Some("app:2"));
    let err = open_str(dir.to_str().unwrap(), &SourceOptions::default()).unwrap_err();
    let want = format!(
        "opening oci-dir:{}: it holds 2 images; pick one with PATH:tag or PATH@digest: app:1 ({}), app:2 ({})",
        dir.display(),
        a.digest,
        b.digest
    );
    assert_eq!(err, want);
    // By tag part and by full ref name.
    let two = open_str(&format!("{}:2", dir.display()), &SourceOptions::default()).unwrap();
    assert_eq!(two[0].image.manifest_digest, b.digest);
    let one = open_str(
        &format!("oci-dir:{}:1", dir.display()),
        &SourceOptions::default(),
    );
    assert_eq!(one.unwrap()[0].image.manifest_digest, a.digest);
    let (_, err, code) = outs(&imgscan(&["inspect", &format!("{}:nope", dir.display())]));
    assert_eq!(code, 2);
    assert!(
        err.starts_with(&format!(
            "imgscan: opening oci-dir:{}:nope: no image tagged \"nope\"",
            dir.display()
        )),
        "{err}"
    );
}

#[test]
fn walk_image_reads_all_three_compressions_in_layer_order() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("l");
    single_image_layout(&layout, &sample_image(), "x");
    let imgs = open_str(layout.to_str().unwrap(), &SourceOptions::default()).unwrap();
    let limits = imgscan::limits::Limits::default();
    for parallel in [1, 2, 3] {
        let w = walk_image(&imgs[0], &limits, parallel, |_| NoopVisitor);
        let comps: Vec<Compression> = w.layers.iter().map(|l| l.compression).collect();
        assert_eq!(
            comps,
            [Compression::Gzip, Compression::Zstd, Compression::None]
        );
        assert!(w.incomplete().is_empty(), "{:?}", w.incomplete());
        let idx: Vec<usize> = w.layers.iter().map(|l| l.layer.index).collect();
        assert_eq!(idx, [0, 1, 2]);
    }
}

#[test]
fn missing_local_target_is_a_clear_error() {
    let (out, err, code) = outs(&imgscan(&["inspect", "oci-archive:/nonexistent/x.tar"]));
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert_eq!(
        err,
        "imgscan: opening oci-archive:/nonexistent/x.tar: no such file or directory\n"
    );
    let tmp = tempfile::tempdir().unwrap();
    let (_, err, code) = outs(&imgscan(&["inspect", tmp.path().to_str().unwrap()]));
    assert_eq!(code, 2);
    assert_eq!(
        err,
        format!(
            "imgscan: opening oci-dir:{}: not an OCI image layout: the `oci-layout` file is missing\n",
            tmp.path().display()
        )
    );
}

/// `(id, severity, reference)` of every name finding of a `scan --format json` document.
fn name_findings(doc: &Value) -> Vec<(String, String, String)> {
    let mut v = Vec::new();
    for r in doc["reports"].as_array().unwrap() {
        for f in r["findings"].as_array().unwrap() {
            for e in f["evidence"].as_array().unwrap() {
                if let Some(name) = e["location"]["reference"].as_str() {
                    v.push((
                        f["id"].as_str().unwrap().to_string(),
                        f["severity"].as_str().unwrap().to_string(),
                        name.to_string(),
                    ));
                }
            }
        }
    }
    v
}

fn scan_json(target: &str) -> (i32, Value) {
    let o = imgscan(&["scan", target, "--format", "json", "--quiet"]);
    let (out, err, code) = outs(&o);
    let doc = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    (code, doc)
}

#[test]
fn names_recorded_in_local_images_are_judged() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("layout");
    single_image_layout(&layout, &sample_image_with(Comp::Gzip), "v1");

    // `docker save xoolu/ubuntu` keeps the name in RepoTags: the image is judged by it.
    let saved = tmp.path().join("saved.tar");
    docker_archive(&layout, "v1", &saved, "xoolu/ubuntu:latest");
    let (code, doc) = scan_json(saved.to_str().unwrap());
    assert_eq!(
        name_findings(&doc),
        [(
            "IMG-NAME-KNOWN-BAD".to_string(),
            "CRITICAL".to_string(),
            "docker.io/xoolu/ubuntu:latest".to_string()
        )]
    );
    assert_eq!(code, 1);

    // An archive listing more names than are judged says so (incomplete, exit 2).
    let many = tmp.path().join("many.tar");
    rewrite_repo_tags(
        &saved,
        &many,
        (0..70).map(|i| format!("acme/app:{i}")).collect(),
    );
    let (code, doc) = scan_json(many.to_str().unwrap());
    assert_eq!(code, 2);
    let incomplete: Vec<&str> = doc["reports"][0]["incomplete"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        incomplete,
        ["the image records 70 names; only the first 64 were judged"]
    );

    // A legitimate name gives nothing; neither does a bare tag in an OCI layout.
    let fine = tmp.path().join("fine.tar");
    docker_archive(&layout, "v1", &fine, "docker.io/library/debian:bookworm");
    assert_eq!(name_findings(&scan_json(fine.to_str().unwrap()).1), []);
    let (_, doc) = scan_json(&format!("oci-dir:{}", layout.display()));
    assert_eq!(name_findings(&doc), []);

    // A full name annotation (containerd's export writes io.containerd.image.name) counts.
    let named = tmp.path().join("named");
    let mut l = Layout::new(&named);
    let d = l.add_image(&sample_image_with(Comp::Gzip));
    l.list(&d, Some("docker.io/gakeaws/nginx:1.0"));
    let (code, doc) = scan_json(&format!("oci-dir:{}", named.display()));
    assert_eq!(
        name_findings(&doc),
        [(
            "IMG-NAME-KNOWN-BAD".to_string(),
            "CRITICAL".to_string(),
            "docker.io/gakeaws/nginx:1.0".to_string()
        )]
    );
    assert_eq!(code, 1);
}

/// Copy a docker-archive, replacing the `RepoTags` of its manifest.json.
fn rewrite_repo_tags(from: &std::path::Path, to: &std::path::Path, tags: Vec<String>) {
    let mut out = tar::Builder::new(std::fs::File::create(to).unwrap());
    let mut ar = tar::Archive::new(std::fs::File::open(from).unwrap());
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        let mut h = e.header().clone();
        if e.path().unwrap().to_str() == Some("manifest.json") {
            let mut m: Value = serde_json::from_slice(&data).unwrap();
            m[0]["RepoTags"] = serde_json::json!(tags);
            data = serde_json::to_vec(&m).unwrap();
            h.set_size(data.len() as u64);
            h.set_cksum();
        }
        out.append(&h, data.as_slice()).unwrap();
    }
    out.finish().unwrap();
}

/// Incompressible bytes, reproducibly (xorshift64*): layers of realistic size.
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        out.extend_from_slice(&seed.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// `docker save` and `skopeo copy ... docker-archive:` write `manifest.json` after the
/// layers. An archive with tens of MB of layers passed without a scheme must still be
/// recognised (it once said "neither `oci-layout` nor `manifest.json`").
#[test]
fn docker_archive_with_large_layers_is_recognised_without_a_scheme() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("layout");
    let layers = (0..3u64)
        .map(|i| {
            let path = format!("srv/data/blob{i}.bin");
            Layer::new(&[Ent::file(&path, noise(30 << 20, i + 1))], Comp::Gzip)
        })
        .collect();
    single_image_layout(&layout, &ImageSpec::new(layers), "v1");
    let saved = tmp.path().join("saved.tar");
    docker_archive(&layout, "v1", &saved, "example.com/team/big:v1");
    assert!(std::fs::metadata(&saved).unwrap().len() > 90 << 20);
    assert_eq!(
        imgscan::reference::sniff_archive(&saved),
        Ok(imgscan::reference::LocalKind::DockerArchive)
    );

    let (code, doc) = scan_json(saved.to_str().unwrap());
    let report = &doc["reports"][0];
    assert!(
        report["target"]
            .as_str()
            .is_some_and(|t| t.starts_with("docker-archive:")),
        "{doc}"
    );
    assert_eq!(report.get("incomplete"), None, "{doc}");
    assert_eq!(code, 0, "{doc}");
    let img = inspect_json(&[saved.to_str().unwrap()]);
    let walked = &img["images"][0]["walk"];
    assert_eq!(walked.as_array().map(Vec::len), Some(3), "{img}");
    assert!(
        walked
            .as_array()
            .unwrap()
            .iter()
            .all(|w| w["error"].is_null() && w["uncompressed_bytes"].as_u64() > Some(30 << 20)),
        "{img}"
    );
}
