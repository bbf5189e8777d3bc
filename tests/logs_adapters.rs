//! Log adapters against the published samples in ../shared/runtime-samples (read in
//! place): every sample converts without a problem, the seed rule fires where Chronicle
//! would (CloudTrail RunInstances, GCP compute.instances.insert) and nowhere else, and a
//! benign record turned into a miner launch or a pool connection by code makes it fire,
//! with the detection naming the source record.

mod common;

use imgscan::logs::{self, detect, Format, Item};
use imgscan::rules::RuleSet;
use serde_json::{json, Value};
use std::path::Path;

fn sample(rel: &str) -> String {
    common::shared(&format!("runtime-samples/{rel}"))
        .display()
        .to_string()
}

/// (source, udm) of every event, and the problems.
fn convert(paths: &[String], f: Format) -> (Vec<(String, Value)>, Vec<String>) {
    let (mut evs, mut probs) = (vec![], vec![]);
    logs::read_inputs(paths, f, &mut |i| match i {
        Item::Event(c) => evs.push((c.source, c.event.json().clone())),
        Item::Problem(p) => probs.push(p),
    });
    (evs, probs)
}

/// Labels of the seed rule's detections' sources.
fn seed(paths: &[String]) -> Vec<String> {
    let set = RuleSet::embedded_default();
    let o = detect::run(&set, paths, Format::Auto, None);
    assert!(o.problems.is_empty(), "{:?}", o.problems);
    o.detections
        .into_iter()
        .flat_map(|(_, s)| s.into_iter().map(|s| s.unwrap().label))
        .collect()
}

fn write(dir: &Path, name: &str, body: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p.display().to_string()
}

fn lines(rel: &str) -> Vec<Value> {
    std::fs::read_to_string(sample(rel))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn doc(rel: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(sample(rel)).unwrap()).unwrap()
}

#[test]
fn every_shared_sample_converts_without_a_problem() {
    for (dir, product) in [
        ("falco-json", "Falco"),
        ("tetragon", "Tetragon"),
        ("k8s-audit", ""),
        ("cloudtrail", "AWS CloudTrail"),
        ("gcp-audit", "GCP Cloud Audit"),
        ("azure-activity", "Azure Activity"),
        ("auditd", "AuditD"),
    ] {
        for f in std::fs::read_dir(sample(dir)).unwrap() {
            let f = f.unwrap().path().display().to_string();
            let (evs, probs) = convert(std::slice::from_ref(&f), Format::Auto);
            assert!(probs.is_empty(), "{f}: {probs:?}");
            // Falco's metrics snapshot (`source: internal`) is the one non-alert: dropped.
            assert_eq!(
                evs.is_empty(),
                f.contains("concepts_metrics"),
                "{f}: {evs:?}"
            );
            if !product.is_empty() {
                for (_, e) in &evs {
                    assert_eq!(e["metadata"]["product_name"], product, "{f}");
                }
            }
        }
    }
    // The k8s-audit directory holds native audit events and one GKE Cloud Audit entry.
    let (evs, _) = convert(&[sample("k8s-audit")], Format::Auto);
    let products: Vec<&str> = evs
        .iter()
        .map(|(_, e)| e["metadata"]["product_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        products
            .iter()
            .filter(|p| **p == "Kubernetes Audit")
            .count(),
        5
    );
    assert_eq!(
        products.iter().filter(|p| **p == "GCP Cloud Audit").count(),
        1
    );
    // Falco's internal metrics snapshot is not an alert: dropped (17 alert lines).
    let (evs, _) = convert(&[sample("falco-json")], Format::Auto);
    assert_eq!(evs.len(), 17);
}

#[test]
fn seed_rule_fires_on_the_shared_samples_only_where_chronicle_would() {
    let all: Vec<String> = [
        "falco-json",
        "tetragon",
        "k8s-audit",
        "cloudtrail",
        "gcp-audit",
        "azure-activity",
        "auditd",
    ]
    .iter()
    .map(|d| sample(d))
    .collect();
    let mut hits = seed(&all);
    hits.sort();
    assert_eq!(hits.len(), 5, "{hits:#?}");
    assert!(hits[0].contains("event-cloud-trail-run-instance-creator.json:1 id=6589a9eb"));
    assert!(hits[1].contains("event-cloud-trail-run-instances.json:1 id="));
    for (h, n) in hits[2..].iter().zip(1..) {
        assert!(
            h.contains(&format!("compute_instance_creation_logs_{n}.json:1 id=")),
            "{h}"
        );
    }
}

#[test]
fn cloudtrail_framings_and_run_instances_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let ri = doc(
        "cloudtrail/cloud-custodian__tests_data_cwe__event-cloud-trail-run-instance-creator.json",
    );
    let (evs, _) = convert(
        &[sample("cloudtrail/cloud-custodian__tests_data_cwe__event-cloud-trail-run-instance-creator.json")],
        Format::Auto,
    );
    let e = &evs[0].1;
    assert_eq!(e["metadata"]["event_type"], "USER_RESOURCE_CREATION");
    assert_eq!(e["metadata"]["description"], "RunInstances");
    assert_eq!(e["metadata"]["product_log_id"], ri["eventID"]);
    let labels = e["target"]["resource"]["attribute"]["labels"].to_string();
    assert!(labels.contains("ami-2d39803a"), "{labels}");
    // S3 delivery: {"Records": [...]} gzip; EventBridge; and a benign OTRF line renamed.
    let records = json!({"Records": [ri.clone()]}).to_string();
    let gz = dir.path().join("trail.json.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut enc, records.as_bytes()).unwrap();
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();
    let eb = write(
        dir.path(),
        "eventbridge.json",
        &json!({"version": "0", "detail-type": "AWS API Call via CloudTrail",
                "source": "aws.ec2", "detail": ri})
        .to_string(),
    );
    let mut benign =
        lines("cloudtrail/otrf__ec2_proxy_s3_exfiltration_2020-09-14011940__subset.json");
    assert!(seed(&[sample(
        "cloudtrail/otrf__ec2_proxy_s3_exfiltration_2020-09-14011940__subset.json"
    )])
    .is_empty());
    benign[3]["eventName"] = json!("RunInstances");
    let id = benign[3]["eventID"].as_str().unwrap().to_string();
    let jl = write(
        dir.path(),
        "lines.jsonl",
        &benign
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join("\n"),
    );
    let hits = seed(&[gz.display().to_string(), eb, jl]);
    assert_eq!(hits.len(), 3, "{hits:?}");
    assert!(hits[0].contains("trail.json.gz:1#1 id="), "{hits:?}");
    assert!(hits[1].contains("eventbridge.json:1 id="), "{hits:?}");
    assert!(
        hits[2].ends_with(&format!("lines.jsonl:4 id={id}")),
        "{hits:?}"
    );
}

#[test]
fn gcp_insert_maps_the_source_image_and_a_renamed_template_insert_fires() {
    let (evs, _) = convert(
        &[sample("gcp-audit/forseti-real-time-enforcer__tests_data__compute_instance_creation_logs_1.json")],
        Format::Auto,
    );
    let e = &evs[0].1;
    assert_eq!(e["metadata"]["event_type"], "USER_RESOURCE_CREATION");
    assert!(e["target"]["resource"]["attribute"]["labels"]
        .to_string()
        .contains("debian-10-buster-v20210420"));
    let rel =
        "gcp-audit/cloud-custodian__tools_c7n_gcp_tests_data_events__instance-template-create.json";
    assert!(seed(&[sample(rel)]).is_empty());
    let mut v = doc(rel);
    v["protoPayload"]["methodName"] = json!("v1.compute.instances.insert");
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "insert.json",
        &serde_json::to_string_pretty(&v).unwrap(),
    );
    assert_eq!(seed(&[f]).len(), 1);
}

#[test]
fn azure_both_shapes_and_a_vm_write_fires() {
    let rest = "azure-activity/azure-monitor-docs__activity-log-schema.md__administrative-sample-event__REST-schema.json";
    let export = "azure-activity/azure-monitor-docs__activity-log-schema.md__storage-eventhub-records-schema.json";
    assert!(seed(&[sample(rest), sample(export)]).is_empty());
    let dir = tempfile::tempdir().unwrap();
    let mut a = doc(rest);
    a["operationName"]["value"] = json!("Microsoft.Compute/virtualMachines/write");
    let mut b = doc(export);
    b["records"][0]["operationName"] = json!("MICROSOFT.COMPUTE/VIRTUALMACHINES/WRITE");
    let fa = write(
        dir.path(),
        "rest.json",
        &serde_json::to_string_pretty(&a).unwrap(),
    );
    let fb = write(
        dir.path(),
        "export.json",
        &serde_json::to_string_pretty(&b).unwrap(),
    );
    let hits = seed(&[fa, fb]);
    assert_eq!(hits.len(), 2, "{hits:?}");
    assert!(hits[1].contains("export.json:1#1"), "{hits:?}");
}

#[test]
fn falco_miner_command_and_pool_connection_fire() {
    let rel = "falco-json/falco-website__blog_falcosidekick-response-engine-part-9-fission.md__L466-467.jsonl";
    assert!(seed(&[sample(rel)]).is_empty());
    let mut v = lines(rel);
    v[0]["output_fields"]["proc.cmdline"] = json!("xmrig -o stratum+tcp://pool.minexmr.com:4444");
    v[1]["output_fields"]["fd.name"] = json!("172.17.0.2:40000->45.9.148.1:3333");
    let mut private = v[1].clone();
    private["output_fields"]["fd.name"] = json!("172.17.0.2:40000->10.0.0.9:3333");
    let dir = tempfile::tempdir().unwrap();
    let body = [&v[0], &v[1], &private].map(|x| x.to_string()).join("\n");
    let f = write(dir.path(), "falco.jsonl", &body);
    let (evs, _) = convert(std::slice::from_ref(&f), Format::Auto);
    assert_eq!(evs[0].1["metadata"]["event_type"], "PROCESS_LAUNCH");
    assert_eq!(evs[1].1["metadata"]["event_type"], "NETWORK_CONNECTION");
    assert_eq!(evs[1].1["target"]["port"], 3333);
    let hits = seed(&[f]);
    assert_eq!(hits.len(), 2, "{hits:?}");
    assert_eq!(hits[0], "line 1");
    assert_eq!(hits[1], "line 2");
}

#[test]
fn tetragon_argv0_exec_kprobe_and_connect_fire() {
    let rel = "tetragon/tetragon__testdata_events.json";
    let (evs, _) = convert(&[sample(rel)], Format::Auto);
    assert_eq!(
        evs[0].1["target"]["process"]["command_line"], "/usr/bin/netserver -D",
        "argv[0] prepended"
    );
    assert!(seed(&[sample("tetragon")]).is_empty());
    let mut exec = lines(rel).remove(0);
    exec["process_exec"]["process"]["binary"] = json!("/tmp/xmrig");
    exec["process_exec"]["process"]["arguments"] =
        json!("--donate-level 1 -o pool.supportxmr.com:443");
    let mut conn = doc("tetragon/tetragon__docs_security-observability-with-ebpf_03_chapter__00_four_golden_signals_process_connect.json");
    conn["process_connect"]["destination_port"] = json!(3333);
    let mut kp = doc("tetragon/tetragon__docs_security-observability-with-ebpf_03_chapter__00_four_golden_signals_process_kprobe.json");
    kp["process_kprobe"]["function_name"] = json!("tcp_connect");
    kp["process_kprobe"]["args"] = json!([{"sock_arg": {"family": "AF_INET", "type": "SOCK_STREAM",
        "protocol": "IPPROTO_TCP", "saddr": "10.0.0.7", "daddr": "45.9.148.1",
        "sport": 40122, "dport": 14444}}]);
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "tetragon.jsonl",
        &[exec, conn, kp].map(|x| x.to_string()).join("\n"),
    );
    // Detections come in event-time order (these records are years apart, newest first).
    let mut hits = seed(&[f]);
    hits.sort();
    assert_eq!(hits, vec!["line 1", "line 2", "line 3"]);
}

#[test]
fn k8s_pod_create_lists_every_image_and_an_image_rule_sees_them() {
    let rel = "k8s-audit/falco__test_trace_files_k8s_audit__create_nginx_pod_privileged_2nd_container.json";
    let (evs, _) = convert(&[sample(rel)], Format::Auto);
    let e = &evs[0].1;
    assert_eq!(e["metadata"]["event_type"], "USER_RESOURCE_CREATION");
    let imgs: Vec<&str> = e["target"]["resource"]["attribute"]["labels"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["key"] == "image")
        .map(|l| l["value"].as_str().unwrap())
        .collect();
    assert_eq!(imgs, vec!["nginx", "mysql:latest"]);
    // The seed rule has no Kubernetes branch: no detection, as in Chronicle.
    assert!(seed(&[sample("k8s-audit")]).is_empty());
    // Every container's image is a repeated `image` label: `labels["image"]` matches if
    // any of them does; the older form over the repeated `value` field keeps working.
    for field in [
        r#"$e.target.resource.attribute.labels["image"]"#,
        "$e.target.resource.attribute.labels.value",
    ] {
        let rule = format!(
            "rule k8s_miner_image {{\n  meta:\n    severity = \"HIGH\"\n  events:\n    \
             $e.metadata.event_type = \"USER_RESOURCE_CREATION\"\n    \
             re.regex({field}, `(?i)xmrig`)\n  condition:\n    $e\n}}\n"
        );
        let set = RuleSet::parse_str("k.yaral", &rule).unwrap();
        let mut v = doc(rel);
        v["requestObject"]["spec"]["containers"][1]["image"] =
            json!("docker.io/someone/xmrig:latest");
        let dir = tempfile::tempdir().unwrap();
        let f = write(dir.path(), "pod.json", &v.to_string());
        let o = detect::run(&set, &[sample(rel)], Format::Auto, None);
        assert!(o.detections.is_empty(), "{field}");
        let o = detect::run(&set, &[f], Format::Auto, None);
        assert_eq!(o.detections.len(), 1, "{field}: {:?}", o.problems);
    }
}

/// Hex of `s` (auditd's encoding of values with spaces).
fn hexs(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02X}")).collect()
}

#[test]
fn auditd_execve_and_connect_turned_malicious_fire() {
    let rel = "auditd/go-libaudit__testdata_normal.log";
    assert!(seed(&[sample("auditd")]).is_empty());
    let text = std::fs::read_to_string(sample(rel)).unwrap();
    let (evs, _) = convert(&[sample(rel)], Format::Auto);
    let c = &evs[0].1;
    assert_eq!(c["metadata"]["event_type"], "NETWORK_CONNECTION");
    assert_eq!(c["target"]["ip"], json!(["169.254.169.254"]));
    assert_eq!(c["target"]["port"], 80);
    assert_eq!(
        c["principal"]["process"]["file"]["full_path"],
        "/usr/bin/python2.7;58d1ccfb (deleted)"
    );
    // The metadata-server connect, pointed at a pool port on a public address.
    let pool = text.replace(
        "saddr=02000050A9FEA9FE",
        &format!("saddr=02000D05{}", "2D099401"),
    );
    // An execve whose arguments are hex-encoded (they hold spaces and a pool URL).
    let exec = format!(
        "type=SYSCALL msg=audit(1700000000.100:900): arch=c000003e syscall=59 success=yes exit=0 ppid=1 pid=4242 uid=0 comm=\"xmrig\" exe=\"/tmp/.x/xmrig\" key=(null)\n\
         type=EXECVE msg=audit(1700000000.100:900): argc=3 a0=\"xmrig\" a1=\"-o\" a2={}\n\
         type=PROCTITLE msg=audit(1700000000.100:900): proctitle={}\n",
        hexs("stratum+tcp://pool.minexmr.com:4444"),
        hexs("xmrig\0-o")
    );
    let dir = tempfile::tempdir().unwrap();
    let f1 = write(dir.path(), "pool.log", &pool);
    let f2 = write(dir.path(), "exec.log", &exec);
    let (evs, probs) = convert(std::slice::from_ref(&f2), Format::Auto);
    assert!(probs.is_empty(), "{probs:?}");
    assert_eq!(
        evs[0].1["target"]["process"]["command_line"],
        "xmrig -o stratum+tcp://pool.minexmr.com:4444"
    );
    let hits = seed(&[f1, f2]);
    assert_eq!(hits.len(), 2, "{hits:?}");
    assert!(hits[0].contains("pool.log:1 id=58"), "{hits:?}");
    assert!(hits[1].contains("exec.log:1 id=900"), "{hits:?}");
}

#[test]
fn auditd_records_of_interleaved_serials_are_joined() {
    let rec = |ty: &str, serial: u32, body: &str| {
        format!("type={ty} msg=audit(1700000000.{serial}:{serial}): {body}\n")
    };
    let sys = |serial: u32, exe: &str| {
        rec(
            "SYSCALL",
            serial,
            &format!("arch=c000003e syscall=59 success=yes exit=0 ppid=1 pid={serial} uid=0 exe=\"{exe}\" key=(null)"),
        )
    };
    let text = [
        sys(901, "/tmp/.x/xmrig"),
        sys(902, "/usr/bin/ls"),
        rec("EXECVE", 902, "argc=2 a0=\"ls\" a1=\"-l\""),
        rec(
            "EXECVE",
            901,
            &format!(
                "argc=3 a0=\"xmrig\" a1=\"-o\" a2={}",
                hexs("stratum+tcp://pool.minexmr.com:4444")
            ),
        ),
        rec(
            "PROCTITLE",
            901,
            &format!("proctitle={}", hexs("xmrig\0-o")),
        ),
        rec("PROCTITLE", 902, &format!("proctitle={}", hexs("ls\0-l"))),
        rec("EOE", 902, ""),
        rec("EOE", 901, ""),
    ]
    .concat();
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "audit.log", &text);
    let (evs, probs) = convert(std::slice::from_ref(&f), Format::Auto);
    assert!(probs.is_empty(), "{probs:?}");
    let by: std::collections::BTreeMap<String, &Value> = evs
        .iter()
        .map(|(_, e)| {
            (
                e["metadata"]["product_log_id"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                e,
            )
        })
        .collect();
    assert_eq!(by.len(), 2, "{evs:?}");
    assert_eq!(evs.len(), 2);
    let m = by["901"];
    assert_eq!(m["target"]["process"]["file"]["full_path"], "/tmp/.x/xmrig");
    assert_eq!(
        m["target"]["process"]["command_line"],
        "xmrig -o stratum+tcp://pool.minexmr.com:4444"
    );
    assert_eq!(by["902"]["target"]["process"]["command_line"], "ls -l");
    let hits = seed(&[f]);
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert!(hits[0].contains("line 1 id=901"), "{hits:?}");
    // More open serials than the table holds, none with an EOE: none is lost.
    let many: String = (0..100u32)
        .map(|i| sys(1000 + i, "/usr/bin/true"))
        .collect();
    let g = write(dir.path(), "many.log", &many);
    let (evs, probs) = convert(&[g], Format::Auto);
    assert!(probs.is_empty(), "{probs:?}");
    assert_eq!(evs.len(), 100);
}

#[test]
fn k8s_pods_exec_is_a_process_launch_with_the_command() {
    let rel = "k8s-audit/falco__test_trace_files_k8s_audit__exec_pod.json";
    let (evs, probs) = convert(&[sample(rel)], Format::Auto);
    assert!(probs.is_empty(), "{probs:?}");
    let e = &evs[0].1;
    assert_eq!(e["metadata"]["event_type"], "PROCESS_LAUNCH");
    assert_eq!(e["metadata"]["description"], "create pods/exec");
    assert_eq!(e["target"]["process"]["command_line"], "bash");
    // The same exec running a miner with a pool URL (as kubectl encodes it) fires.
    let mut v = doc(rel);
    let uri = v["requestURI"].as_str().unwrap().replace(
        "command=bash",
        "command=%2Ftmp%2Fxmrig&command=-o&command=stratum%2Btcp%3A%2F%2Fpool.minexmr.com%3A4444",
    );
    v["requestURI"] = json!(uri);
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "exec.json", &v.to_string());
    let (evs, _) = convert(std::slice::from_ref(&f), Format::Auto);
    assert_eq!(
        evs[0].1["target"]["process"]["command_line"],
        "/tmp/xmrig -o stratum+tcp://pool.minexmr.com:4444"
    );
    assert_eq!(seed(&[f]).len(), 1);
    assert!(seed(&[sample(rel)]).is_empty());
}

/// The records of one JSON value, split as `logs::input` splits them.
fn split_records(v: Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a,
        Value::Object(mut m) => {
            for k in ["Records", "records"] {
                if m.get(k).is_some_and(Value::is_array) && m.len() <= 2 {
                    if let Some(Value::Array(a)) = m.remove(k) {
                        return a;
                    }
                }
            }
            vec![Value::Object(m)]
        }
        other => vec![other],
    }
}

/// Every UDM event (or error) `format`'s adapter gives for the JSON text `text`, parsed
/// whole or keeping only what the adapter says it reads.
fn convert_text(format: Format, text: &str, kept: bool) -> Vec<Result<Value, String>> {
    let mut ad = logs::adapter(format).unwrap();
    let v = match (kept, ad.keep()) {
        (true, Some(k)) => logs::json::parse_kept(text.as_bytes(), k).unwrap(),
        _ => serde_json::from_str(text).unwrap(),
    };
    let mut res = vec![];
    for r in split_records(v) {
        let mut outs = vec![];
        match ad.convert(logs::Record::Json(&r), 1, &mut outs) {
            Ok(()) => res.extend(outs.into_iter().map(|o| Ok(o.udm))),
            Err(e) => res.push(Err(e)),
        }
    }
    res
}

/// Adapters that parse only the parts they read (`Adapter::keep`) convert every shared
/// sample, and records built to reach their other branches, exactly as from a full parse.
#[test]
fn kept_parse_converts_exactly_as_a_full_parse() {
    let mut texts: Vec<(Format, String)> = vec![];
    for dir in [
        "falco-json",
        "tetragon",
        "gcp-audit",
        "azure-activity",
        "k8s-audit",
    ] {
        let mut d = common::shared(&format!("runtime-samples/{dir}"));
        if !d.exists() {
            // A git worktree beside the main checkout: the shared data is not at ../shared.
            d = Path::new("/work/shared/runtime-samples").join(dir);
        }
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            let text = std::fs::read_to_string(&p).unwrap();
            let format = logs::sniff(text.as_bytes());
            if logs::adapter(format).and_then(|a| a.keep()).is_none() {
                continue;
            }
            if serde_json::from_str::<Value>(&text).is_ok() {
                texts.push((format, text));
            } else {
                for l in text.lines().filter(|l| !l.trim().is_empty()) {
                    texts.push((format, l.to_string()));
                }
            }
        }
    }
    let n_samples = texts.len();
    assert!(n_samples >= 15, "{n_samples} sample records");
    // Branches the samples may miss: Falco k8s_audit and fd.name destinations, numbers
    // where strings are usual, a Tetragon tcp_connect kprobe, Azure diagnostic records.
    texts.extend([
        (Format::Falco, json!({"rule": "r", "source": "k8s_audit", "priority": "Warning",
            "output": "o", "time": "2024-05-01T10:00:00Z", "tags": ["a", 1],
            "output_fields": {"ka.verb": "create", "ka.user.name": "u", "ka.target.name": "p",
                "ka.target.resource": "pods", "ka.target.namespace": "ns", "ka.uri": "/x",
                "other": {"deep": [1, 2]}}}).to_string()),
        (Format::Falco, json!({"rule": "r", "priority": "Error", "output": "o",
            "output_fields": {"fd.name": "10.0.0.1:5000->45.9.148.1:3333", "proc.exepath": "/x",
                "proc.cmdline": "x -y", "proc.pid": 12, "user.name": "root",
                "container.image.repository": "img", "container.image.tag": "1",
                "container.id": "abc", "k8s.ns.name": "ns"}}).to_string()),
        (Format::Tetragon, json!({"process_kprobe": {"function_name": "tcp_connect",
            "policy_name": "p", "action": "KPROBE_ACTION_POST",
            "process": {"binary": "/x", "arguments": "-a", "pid": 3, "uid": 0, "exec_id": "e",
                "pod": {"name": "n", "namespace": "ns", "container": {"id": "c",
                    "image": {"name": "img:1", "id": "sha"}}}},
            "args": [{"file_arg": {"path": "/etc/passwd"}},
                     {"sock_arg": {"daddr": "45.9.148.1", "dport": 3333, "saddr": "10.0.0.2",
                                   "sport": 40000, "protocol": "IPPROTO_TCP"}}]},
            "node_name": "node", "time": "2024-05-01T10:00:00Z"}).to_string()),
        (Format::Tetragon, json!({"process_connect": {"process": {"binary": "/x"},
            "destination_ip": "45.9.148.1", "destination_port": 3333, "source_ip": "10.0.0.2",
            "source_port": "40000"}, "time": "2024-05-01T10:00:00Z"}).to_string()),
        (Format::AzureActivity, json!({"records": [{"operationName":
            "MICROSOFT.COMPUTE/VIRTUALMACHINES/WRITE", "time": "2024-05-01T10:00:00Z",
            "resultType": "Failed", "callerIpAddress": "10.0.0.1", "level": "Error",
            "identity": {"claims": {"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn": "a@b"}},
            "resourceId": "/subscriptions/x"}]}).to_string()),
    ]);
    let mut events = 0;
    for (format, text) in &texts {
        let full = convert_text(*format, text, false);
        let kept = convert_text(*format, text, true);
        assert_eq!(kept, full, "{} record {text}", format.name());
        events += full.iter().filter(|r| r.is_ok()).count();
    }
    // Falco's `internal` metrics snapshots give none; nearly everything else one each.
    assert!(
        events >= texts.len() - 2,
        "{events} events from {} records",
        texts.len()
    );
}
