//! Scanning from a real registry (Debian's `docker-registry`) with the layer cache
//! (issue 11): a warm rescan downloads no layer blob (counted by a recording proxy in
//! front of the registry), and `imgscan registry` scans a whole registry with one read
//! of each shared layer, split deterministically by `--shard`.

mod common;
#[path = "common/registry.rs"]
mod registry_harness;

use registry_harness::{FaultServer, Registry, Request, Response};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Forward one request to the registry on `port` (plain HTTP, `Connection: close`) and
/// return its answer; the fault server in front records every request.
fn forward(port: u16, req: &Request) -> Response {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return Response::new(502, "registry down");
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(20)));
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n",
        req.method, req.path
    );
    for (k, v) in &req.headers {
        if matches!(k.as_str(), "accept" | "authorization" | "range") {
            head += &format!("{k}: {v}\r\n");
        }
    }
    head += "\r\n";
    if s.write_all(head.as_bytes()).is_err() {
        return Response::new(502, "write failed");
    }
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Response::new(502, "no response head");
    };
    let text = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = text.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(502);
    let mut body = raw[end + 4..].to_vec();
    let mut headers = Vec::new();
    let mut chunked = false;
    let mut length = None;
    for l in lines {
        let Some((k, v)) = l.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_string());
        match k.as_str() {
            "transfer-encoding" => chunked = v.eq_ignore_ascii_case("chunked"),
            "content-length" => length = v.parse::<usize>().ok(),
            "connection" => {}
            _ => headers.push((k, v)),
        }
    }
    if chunked {
        body = dechunk(&body);
    }
    // The fault server writes Content-Length from the body, and no body for HEAD.
    if req.method == "HEAD" {
        body = vec![0; length.unwrap_or(0)];
    }
    let mut r = Response::new(status, body);
    r.headers = headers;
    r
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(i) = b.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&b[..i])
                .split(';')
                .next()
                .unwrap_or("0")
                .trim(),
            16,
        )
        .unwrap_or(0);
        if size == 0 || b.len() < i + 2 + size {
            break;
        }
        out.extend_from_slice(&b[i + 2..i + 2 + size]);
        b = &b[(i + 4 + size).min(b.len())..];
    }
    out
}

/// A recording proxy in front of `reg`.
fn proxy(reg: &Registry) -> FaultServer {
    let port = reg.port;
    FaultServer::start(move |req| forward(port, req))
}

/// GET requests for blob `digest` in `reqs`.
fn blob_gets(reqs: &[Request], digest: &str) -> usize {
    reqs.iter()
        .filter(|r| r.method == "GET" && r.path.contains("/blobs/") && r.path.contains(digest))
        .count()
}

fn manifest_layers(reg: &Registry, repo: &str, tag: &str) -> (Vec<String>, String) {
    let mut s = TcpStream::connect(("127.0.0.1", reg.port)).unwrap();
    write!(
        s,
        "GET /v2/{repo}/manifests/{tag} HTTP/1.0\r\nAccept: application/vnd.oci.image.manifest.v1+json\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let v: serde_json::Value = serde_json::from_slice(&raw[end + 4..]).unwrap();
    let layers = v["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect();
    (layers, v["config"]["digest"].as_str().unwrap().to_string())
}

#[test]
fn warm_rescan_from_a_registry_downloads_no_layer_blob() {
    let reg = Registry::plain();
    let samples = tempfile::tempdir().unwrap();
    imgscan_testkit::write_samples(samples.path());
    reg.push(
        &samples.path().join("malicious"),
        "latest",
        "acme/app:1.0",
        false,
    );
    let (layers, config) = manifest_layers(&reg, "acme/app", "1.0");
    assert!(layers.len() >= 2, "{layers:?}");
    let p = proxy(&reg);
    let target = format!("{}/acme/app:1.0", p.host());
    let cache = tempfile::tempdir().unwrap();
    let cdir = cache.path().join("c");
    let c = cdir.to_str().unwrap();
    let args = [
        "scan",
        "--insecure",
        "-q",
        "--format",
        "json",
        "--cache-dir",
        c,
        &target,
    ];
    let cold = common::imgscan(&args);
    let cold_reqs = p.requests();
    for l in &layers {
        assert_eq!(
            blob_gets(&cold_reqs, l),
            1,
            "cold scan reads layer {l} once"
        );
    }
    let before = cold_reqs.len();
    let warm = common::imgscan(&args);
    let warm_reqs: Vec<Request> = p.requests()[before..].to_vec();
    for l in &layers {
        assert_eq!(
            blob_gets(&warm_reqs, l),
            0,
            "warm rescan GETs no layer blob ({l})"
        );
    }
    assert_eq!(blob_gets(&warm_reqs, &config), 1, "the config is fetched");
    assert!(
        warm_reqs
            .iter()
            .any(|r| r.method == "GET" && r.path.contains("/manifests/")),
        "the manifest is fetched: {warm_reqs:?}"
    );
    let blob_paths: Vec<&str> = warm_reqs
        .iter()
        .filter(|r| r.path.contains("/blobs/"))
        .map(|r| r.path.as_str())
        .collect();
    assert_eq!(blob_paths.len(), 1, "only the config blob: {blob_paths:?}");
    assert!(warm.stdout == cold.stdout, "same report");
    assert_eq!(warm.status.code(), cold.status.code());
}

/// Push `team/app0..2:latest` (a shared base layer and one layer of their own each),
/// `team/app0:v1` and `other/x:latest`; returns the layouts' directory.
fn push_family(reg: &Registry) -> tempfile::TempDir {
    use imgscan_testkit::{add_step, clean_sample, single_image_layout, Comp, Ent, Layer};
    let dir = tempfile::tempdir().unwrap();
    let base = clean_sample().layers[0].clone();
    for i in 0..3 {
        let mut spec = clean_sample();
        let own = Ent::file(&format!("srv/app{i}.txt"), format!("app {i}\n"));
        spec.layers = vec![base.clone(), Layer::new(&[own], Comp::Gzip)];
        spec.history.push(add_step(1));
        let l = dir.path().join(format!("app{i}"));
        single_image_layout(&l, &spec, "latest");
        reg.push(&l, "latest", &format!("team/app{i}:latest"), false);
    }
    reg.push(&dir.path().join("app0"), "latest", "team/app0:v1", false);
    reg.push(&dir.path().join("app1"), "latest", "other/x:latest", false);
    dir
}

/// The value of summary row `name` in the table on standard error.
fn summary_row(err: &str, name: &str) -> u64 {
    err.lines()
        .find(|l| l.trim_start().starts_with(name))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no summary row {name:?} in: {err}"))
}

/// The targets of the JSON Lines reports on standard output.
fn jsonl_targets(out: &str) -> Vec<String> {
    out.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("one JSON document a line");
            assert_eq!(v["reports"].as_array().unwrap().len(), 1, "{l}");
            v["reports"][0]["target"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn registry_scan_reads_a_shared_layer_once() {
    let reg = Registry::plain();
    let _layouts = push_family(&reg);
    let cache = tempfile::tempdir().unwrap();
    let c = cache.path().join("c");
    let spec = format!("{}/team", reg.host);
    let o = common::imgscan(&[
        "registry",
        &spec,
        "--insecure",
        "--cache-dir",
        c.to_str().unwrap(),
    ]);
    let (out, err, code) = common::outs(&o);
    assert_eq!(code, 0, "clean images: {err}");
    let mut targets = jsonl_targets(&out);
    targets.sort();
    let want: Vec<String> = (0..3)
        .map(|i| format!("{}/team/app{i}:latest", reg.host))
        .collect();
    assert_eq!(targets, want, "latest tags below the prefix only");
    assert_eq!(summary_row(&err, "images"), 3, "{err}");
    assert_eq!(summary_row(&err, "clean"), 3, "{err}");
    assert_eq!(summary_row(&err, "layers"), 6, "{err}");
    assert_eq!(
        summary_row(&err, "read"),
        4,
        "the shared base layer is read once: {err}"
    );
    assert_eq!(summary_row(&err, "from cache"), 2, "{err}");
    // Again: everything from the cache.
    let o = common::imgscan(&[
        "registry",
        &spec,
        "--insecure",
        "--cache-dir",
        c.to_str().unwrap(),
    ]);
    let (_, err, code) = common::outs(&o);
    assert_eq!(code, 0, "{err}");
    assert_eq!(summary_row(&err, "read"), 0, "{err}");
}

#[test]
fn shards_cover_every_image_exactly_once() {
    let reg = Registry::plain();
    let _layouts = push_family(&reg);
    let mut seen = Vec::new();
    for s in ["1/2", "2/2"] {
        let o = common::imgscan(&[
            "registry",
            &reg.host,
            "--insecure",
            "--tags",
            "all",
            "--shard",
            s,
            "--no-cache",
        ]);
        let (out, err, code) = common::outs(&o);
        assert_eq!(code, 0, "{err}");
        seen.extend(jsonl_targets(&out));
    }
    seen.sort();
    let h = &reg.host;
    let mut want = vec![
        format!("{h}/other/x:latest"),
        format!("{h}/team/app0:latest"),
        format!("{h}/team/app0:v1"),
        format!("{h}/team/app1:latest"),
        format!("{h}/team/app2:latest"),
    ];
    want.sort();
    assert_eq!(seen, want, "the two shards cover every image exactly once");
    let (_, err, code) = common::outs(&common::imgscan(&[
        "registry",
        h,
        "--insecure",
        "--shard",
        "0/2",
    ]));
    assert_eq!(code, 2);
    assert!(err.contains("--shard"), "{err}");
}

#[test]
fn targets_file_scans_each_line_and_exits_with_the_worst() {
    let reg = Registry::plain();
    let layouts = push_family(&reg);
    imgscan_testkit::write_samples(layouts.path());
    reg.push(
        &layouts.path().join("malicious"),
        "latest",
        "acme/bad:1",
        false,
    );
    let list = layouts.path().join("targets.txt");
    let h = &reg.host;
    std::fs::write(
        &list,
        format!("# nightly\n{h}/team/app0:latest\n\n{h}/acme/bad:1  # known bad\n"),
    )
    .unwrap();
    let o = common::imgscan(&[
        "scan",
        "--targets-file",
        list.to_str().unwrap(),
        "--insecure",
        "--format",
        "jsonl",
    ]);
    let (out, err, code) = common::outs(&o);
    assert_eq!(code, 1, "findings in one image: {err}");
    assert_eq!(
        jsonl_targets(&out),
        [format!("{h}/team/app0:latest"), format!("{h}/acme/bad:1")]
    );
    assert_eq!(summary_row(&err, "images"), 2, "{err}");
    assert_eq!(summary_row(&err, "clean"), 1, "{err}");
    assert_eq!(summary_row(&err, "findings"), 1, "{err}");
}

#[test]
fn jsonl_reports_are_written_as_each_image_finishes() {
    use std::io::BufRead;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let t = tempfile::tempdir().unwrap();
    let img = registry_harness::write_image(
        &t.path().join("img"),
        &[("etc/motd", b"hello\n".as_slice())],
        "linux",
        "amd64",
    );
    // The second image's manifest is held back until the test has read the first
    // report (or, should that report never come, for a minute: then the test fails).
    let open = Arc::new(AtomicBool::new(false));
    let timed_out = Arc::new(AtomicBool::new(false));
    let (o, to) = (open.clone(), timed_out.clone());
    let srv = FaultServer::start(move |req| {
        if req.path.starts_with("/v2/slow/") && req.path.contains("/manifests/") {
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            while !o.load(Ordering::SeqCst) {
                if std::time::Instant::now() > deadline {
                    to.store(true, Ordering::SeqCst);
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        registry_harness::serve_fixture(&img, req)
    });
    let h = srv.host();
    let list = t.path().join("targets.txt");
    std::fs::write(&list, format!("{h}/fast/app:1\n{h}/slow/app:1\n")).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_imgscan"))
        .env("IMGSCAN_CACHE_DEFAULT", "none")
        .args(["scan", "--insecure", "--format", "jsonl", "--targets-file"])
        .arg(&list)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let held = !timed_out.load(Ordering::SeqCst);
    open.store(true, Ordering::SeqCst);
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    child.wait().unwrap();
    assert!(
        held,
        "the first report came only after the second image was let through"
    );
    assert_eq!(jsonl_targets(&first), [format!("{h}/fast/app:1")]);
    assert_eq!(jsonl_targets(&rest), [format!("{h}/slow/app:1")]);
}

#[test]
fn catalog_behind_basic_auth_uses_the_docker_config() {
    use base64::Engine;
    let reg = Registry::start(
        false,
        registry_harness::AuthMode::Htpasswd {
            user: "carol".into(),
            password: "catalog-pw".into(),
        },
    );
    let _layouts = push_family(&reg);
    let cfg = tempfile::tempdir().unwrap();
    let write_cfg = |user_pw: &str| {
        let auth = base64::engine::general_purpose::STANDARD.encode(user_pw);
        let p = cfg
            .path()
            .join(format!("{}.json", user_pw.replace(':', "-")));
        std::fs::write(
            &p,
            serde_json::json!({"auths": {reg.host.clone(): {"auth": auth}}}).to_string(),
        )
        .unwrap();
        p
    };
    let run = |config: &std::path::Path| {
        common::outs(&common::imgscan(&[
            "registry",
            &format!("{}/team", reg.host),
            "--insecure",
            "--no-cache",
            "--docker-config",
            config.to_str().unwrap(),
        ]))
    };
    // The same credentials as a pull: the catalog, the tags and the images all open.
    let good = write_cfg("carol:catalog-pw");
    let (out, err, code) = run(&good);
    assert_eq!(code, 0, "{err}");
    let h = &reg.host;
    assert_eq!(
        jsonl_targets(&out),
        (0..3)
            .map(|i| format!("{h}/team/app{i}:latest"))
            .collect::<Vec<_>>()
    );
    // Wrong ones: the listing fails with an error that says how to log in.
    let bad = write_cfg("carol:wrong");
    let (out, err, code) = run(&bad);
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty());
    assert!(err.contains("authentication required"), "{err}");
}
