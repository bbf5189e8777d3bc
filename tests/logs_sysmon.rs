//! Sysmon for Linux, with records built by code in the shape of the event manifest
//! (microsoft/SysmonForLinux, MIT): syslog line + `<Event>` XML, no xmlns, `-` for
//! empty values, UtcTime without a zone.

use imgscan::logs::{self, detect, Format, Item};
use imgscan::rules::RuleSet;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn line(eid: u32, data: &[(&str, &str)]) -> String {
    let d: String = data
        .iter()
        .map(|(k, v)| format!("<Data Name=\"{k}\">{}</Data>", esc(v)))
        .collect();
    format!(
        "2026-06-08T05:28:19.190027+00:00 host1 sysmon: <Event><System><Provider Name=\"Linux-Sysmon\" Guid=\"{{ff032593-a8d3-4f13-b0d6-01fc615a0f97}}\"/><EventID>{eid}</EventID><Version>5</Version><Level>4</Level><Task>{eid}</Task><Opcode>0</Opcode><Keywords>0x8000000000000000</Keywords><TimeCreated SystemTime=\"2026-06-08T05:28:19.188276000Z\"/><EventRecordID>42</EventRecordID><Correlation/><Execution ProcessID=\"811\" ThreadID=\"811\"/><Channel>Linux-Sysmon/Operational</Channel><Computer>host1</Computer><Security UserId=\"0\"/></System><EventData>{d}</EventData></Event>"
    )
}

fn exec(image: &str, cmd: &str) -> String {
    line(
        1,
        &[
            ("RuleName", "-"),
            ("UtcTime", "2026-06-08 05:28:18.790"),
            ("ProcessGuid", "{5e5c0a0c-1a2b-6460-0d0e-000000000000}"),
            ("ProcessId", "4242"),
            ("Image", image),
            ("FileVersion", "-"),
            ("CommandLine", cmd),
            ("CurrentDirectory", "/tmp"),
            ("User", "root"),
            ("LogonId", "0"),
            ("IntegrityLevel", "no level"),
            ("Hashes", "SHA256=AB12"),
            ("ParentProcessId", "1000"),
            ("ParentImage", "/usr/bin/containerd-shim-runc-v2"),
            (
                "ParentCommandLine",
                "containerd-shim-runc-v2 -namespace moby",
            ),
            ("ParentUser", "root"),
        ],
    )
}

fn connect(image: &str, dip: &str, dport: &str) -> String {
    line(
        3,
        &[
            ("UtcTime", "2026-06-08 05:28:20.000"),
            ("ProcessId", "4243"),
            ("Image", image),
            ("User", "root"),
            ("Protocol", "tcp"),
            ("Initiated", "true"),
            ("SourceIp", "172.17.0.2"),
            ("SourcePort", "40122"),
            ("DestinationIp", dip),
            ("DestinationHostname", "-"),
            ("DestinationPort", dport),
        ],
    )
}

#[test]
fn sysmon_process_and_network_events_map_and_fire() {
    let dir = tempfile::tempdir().unwrap();
    let body = [
        "2026-06-08T05:28:10+00:00 host1 sysmon[811]: Sysmon started.".to_string(),
        exec("/usr/bin/ls", "ls -la"),
        exec("/tmp/xmrig", "xmrig -o stratum+tcp://pool.minexmr.com:4444 <unknown process>"),
        "2026-06-08T05:28:19+00:00 host1 sysmon: <!DOCTYPE x [<!ENTITY a \"aaaa\">]><Event>&a;</Event>".to_string(),
        connect("/usr/bin/curl", "45.9.148.1", "3333"),
        connect("/usr/bin/curl", "10.1.2.3", "3333"),
    ]
    .join("\n");
    let f = dir.path().join("syslog");
    std::fs::write(&f, body).unwrap();
    let f = f.display().to_string();
    let (mut evs, mut probs) = (vec![], vec![]);
    logs::read_inputs(std::slice::from_ref(&f), Format::Auto, &mut |i| match i {
        Item::Event(c) => evs.push(c.event.json().clone()),
        Item::Problem(p) => probs.push(p),
    });
    assert_eq!(probs.len(), 1, "{probs:?}");
    assert!(
        probs[0].starts_with("line 4: XML entity &a; not accepted"),
        "{probs:?}"
    );
    assert_eq!(evs.len(), 4);
    assert_eq!(evs[0]["metadata"]["event_type"], "PROCESS_LAUNCH");
    assert_eq!(
        evs[0]["target"]["process"]["file"]["full_path"],
        "/usr/bin/ls"
    );
    assert_eq!(evs[0]["target"]["process"]["file"]["sha256"], "ab12");
    assert_eq!(
        evs[0]["principal"]["process"]["file"]["full_path"],
        "/usr/bin/containerd-shim-runc-v2"
    );
    assert!(evs[1]["target"]["process"]["command_line"]
        .as_str()
        .unwrap()
        .ends_with("<unknown process>"));
    assert_eq!(evs[2]["metadata"]["event_type"], "NETWORK_CONNECTION");
    assert_eq!(evs[2]["target"]["port"], 3333);
    let o = detect::run(&RuleSet::embedded_default(), &[f], Format::Auto, None);
    let hits: Vec<String> = o
        .detections
        .into_iter()
        .flat_map(|(_, s)| s.into_iter().map(|s| s.unwrap().label))
        .collect();
    assert_eq!(hits, vec!["line 3", "line 5"]);
}
