//! The seed rule (signatures/rules/t1204_003_malicious_image_execution.yaral, verbatim)
//! on hand-written UDM events: each branch, each private range, the browser exclusion,
//! missing fields, repeated target.ip, DNS questions with several names.

use imgscan::rules::{Event, RuleSet};
use serde_json::{json, Value};

fn fires(events: &[Value]) -> Vec<usize> {
    let set = RuleSet::embedded_default();
    let evs = events
        .iter()
        .enumerate()
        .map(|(i, v)| (i + 1, Event::from_json(v.clone()).unwrap()));
    let d = set.evaluate(evs);
    for x in &d {
        assert_eq!(x.rule, "t1204_003_malicious_image_execution");
        assert_eq!(x.severity.as_deref(), Some("HIGH"));
        assert_eq!(x.events.len(), 1);
    }
    d.into_iter().map(|x| x.events[0]).collect()
}

fn one(v: Value) -> bool {
    !fires(&[v]).is_empty()
}

fn launch(path: &str, cmd: &str) -> Value {
    json!({"metadata": {"event_type": "PROCESS_LAUNCH"},
           "principal": {"process": {"file": {"full_path": path}}},
           "target": {"process": {"command_line": cmd}}})
}

fn conn(ip: Value, port: Value, path: &str) -> Value {
    json!({"metadata": {"event_type": "NETWORK_CONNECTION"},
           "principal": {"process": {"file": {"full_path": path}}},
           "target": {"ip": ip, "port": port}})
}

#[test]
fn branch1_miner_binary_and_command_line() {
    assert!(one(launch("/usr/bin/xmrig", "")));
    assert!(one(launch("/tmp/XMRig-notls", "")));
    assert!(one(launch("/opt/cpuminer.bin", "")));
    assert!(one(launch(
        "/usr/bin/curl",
        "./a -o stratum+tcp://pool.minexmr.com:4444"
    )));
    assert!(one(launch("/usr/bin/x", "miner --donate-level 1")));
    assert!(
        !one(launch("/usr/bin/xmrigger", "")),
        "name must end at . or end of path"
    );
    assert!(!one(launch("/usr/bin/nginx", "nginx -g daemon off;")));
    // Wrong event type: the same path does not fire.
    let mut v = launch("/usr/bin/xmrig", "");
    v["metadata"]["event_type"] = json!("FILE_CREATION");
    assert!(!one(v));
    // camelCase names and the numeric enum value (PROCESS_LAUNCH = 10001).
    assert!(one(json!({"metadata": {"eventType": 10001},
        "principal": {"process": {"file": {"fullPath": "/usr/bin/xmrig"}}}})));
}

#[test]
fn branch2_pool_ports_public_addresses_only() {
    assert!(one(conn(json!(["8.8.8.8"]), json!(3333), "/usr/bin/curl")));
    assert!(
        one(conn(json!("8.8.8.8"), json!("4444"), "/usr/bin/curl")),
        "scalar ip, port as string"
    );
    for port in [
        3334, 4445, 14444, 45560, 5555, 8333, 7777, 9999, 13333, 19999,
    ] {
        assert!(
            one(conn(json!(["1.2.3.4"]), json!(port), "/bin/x")),
            "port {port}"
        );
    }
    assert!(!one(conn(json!(["8.8.8.8"]), json!(443), "/bin/x")));
    for private in [
        "10.0.0.5",
        "172.16.3.4",
        "172.31.255.255",
        "192.168.1.1",
        "127.0.0.1",
    ] {
        assert!(
            !one(conn(json!([private]), json!(3333), "/bin/x")),
            "{private}"
        );
    }
    assert!(
        one(conn(json!(["172.32.0.1"]), json!(3333), "/bin/x")),
        "just outside 172.16/12"
    );
    // Browser exclusion, any case.
    for b in [
        "C:\\Program Files\\Google\\Chrome\\chrome.exe",
        "C:\\x\\FIREFOX.EXE",
        "c:\\MsEdge.Exe",
    ] {
        assert!(!one(conn(json!(["8.8.8.8"]), json!(3333), b)), "{b}");
    }
    assert!(one(conn(
        json!(["8.8.8.8"]),
        json!(3333),
        "C:\\chrome.exe.bak"
    )));
}

#[test]
fn repeated_target_ip_is_per_element() {
    // One copy (8.8.8.8) passes every `not` together, so the rule fires: the seed
    // rule's author probably did not mean this, and `rules check` warns about it.
    assert!(one(conn(
        json!(["10.0.0.5", "8.8.8.8"]),
        json!(3333),
        "/bin/x"
    )));
    assert!(!one(conn(
        json!(["10.0.0.5", "192.168.0.9"]),
        json!(3333),
        "/bin/x"
    )));
    // An empty list is one copy with the zero value "" (not private): fires.
    assert!(one(conn(json!([]), json!(3333), "/bin/x")));
}

#[test]
fn missing_fields_are_zero_values() {
    // No target.ip: "" is in no private range, so a pool port alone fires.
    assert!(one(
        json!({"metadata": {"event_type": "NETWORK_CONNECTION"}, "target": {"port": 3333}})
    ));
    // No port: 0 is not a pool port.
    assert!(!one(
        json!({"metadata": {"event_type": "NETWORK_CONNECTION"}, "target": {"ip": ["8.8.8.8"]}})
    ));
    // Nothing at all.
    assert!(!one(json!({})));
    assert!(!one(json!({"metadata": {"event_type": "PROCESS_LAUNCH"}})));
}

#[test]
fn branch3_dns_questions() {
    let dns = |names: &[&str]| {
        json!({"metadata": {"event_type": "NETWORK_DNS"},
               "network": {"dns": {"questions": names.iter().map(|n| json!({"name": n})).collect::<Vec<_>>()}}})
    };
    assert!(one(dns(&["pool.minexmr.com"])));
    assert!(one(dns(&["example.com", "gulf.MONEROOCEAN.stream"])));
    assert!(!one(dns(&["example.com", "debian.org"])));
    assert!(!one(dns(&[])));
    // A single question object where a list is expected.
    assert!(one(json!({"metadata": {"event_type": "NETWORK_DNS"},
        "network": {"dns": {"questions": {"name": "xmr.pool.minergate.com"}}}})));
}

#[test]
fn branch4_cloud_instance_launch() {
    let ev = |product: &str, desc: &str| json!({"metadata": {"event_type": "USER_RESOURCE_CREATION", "product_name": product, "description": desc}});
    assert!(one(ev("AWS CloudTrail", "RunInstances")));
    assert!(one(ev(
        "Azure Activity",
        "MICROSOFT.COMPUTE/VIRTUALMACHINES/WRITE"
    )));
    assert!(one(ev("GCP Cloud Audit", "v1.compute.instances.insert")));
    assert!(!one(ev("Okta", "RunInstances")));
    assert!(!one(ev("AWS CloudTrail", "DescribeInstances")));
}

#[test]
fn stream_reports_line_numbers() {
    let evs = vec![
        launch("/usr/bin/nginx", ""),
        launch("/usr/bin/xmrig", ""),
        conn(json!(["10.1.1.1"]), json!(3333), "/bin/x"),
        conn(json!(["9.9.9.9"]), json!(7777), "/bin/x"),
    ];
    assert_eq!(fires(&evs), vec![2, 4]);
}
