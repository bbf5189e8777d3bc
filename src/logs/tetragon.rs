//! Cilium Tetragon JSON export: one object per line whose single key names the event.
//! `process_exec` → PROCESS_LAUNCH (the parent is the principal), `process_exit` →
//! PROCESS_TERMINATION, `process_kprobe` with a `sock_arg` (`tcp_connect`) and the
//! legacy `process_connect` → NETWORK_CONNECTION (the process is the principal), other
//! kprobes → GENERIC_EVENT (`file_arg` → `target.file`). Tetragon's `arguments` leave
//! out argv[0]; the command line is `binary arguments`.

use super::json::{event, get, ip, s, set, set_opt, u, Keep, Udm};
use super::{Adapter, Out, Record};
use serde_json::{json, Value};

pub struct Tetragon;

const KINDS: [&str; 4] = [
    "process_exec",
    "process_exit",
    "process_kprobe",
    "process_connect",
];

/// What [`Adapter::convert`] reads below each event key.
const BODY: &[&[&str]] = &[
    &["process", "binary"],
    &["process", "arguments"],
    &["process", "pid"],
    &["process", "exec_id"],
    &["process", "uid"],
    &["process", "start_time"],
    &["process", "pod", "name"],
    &["process", "pod", "namespace"],
    &["process", "pod", "container", "id"],
    &["process", "pod", "container", "image", "name"],
    &["parent", "binary"],
    &["parent", "arguments"],
    &["parent", "pid"],
    &["parent", "exec_id"],
    &["parent", "uid"],
    &["destination_ip"],
    &["destination_port"],
    &["source_ip"],
    &["source_port"],
    &["function_name"],
    &["args", "sock_arg"],
    &["args", "file_arg", "path"],
    &["policy_name"],
    &["action"],
];

fn keep() -> &'static Keep {
    static K: std::sync::OnceLock<Keep> = std::sync::OnceLock::new();
    K.get_or_init(|| {
        let mut paths: Vec<Vec<&'static str>> = vec![vec!["time"], vec!["node_name"]];
        for k in KINDS {
            for b in BODY {
                paths.push(std::iter::once(k).chain(b.iter().copied()).collect());
            }
        }
        let refs: Vec<&[&str]> = paths.iter().map(Vec::as_slice).collect();
        Keep::paths(&refs)
    })
}

fn command_line(p: &Value) -> Option<String> {
    let bin = s(p, "binary")?;
    Some(match s(p, "arguments") {
        Some(a) => format!("{bin} {a}"),
        None => bin,
    })
}

/// Fill `udm.<at>.process` (and the container) from a Tetragon process object.
fn process(e: &mut Udm, at: &str, p: &Value) {
    set_opt(e, &format!("{at}.process.file.full_path"), s(p, "binary"));
    set_opt(e, &format!("{at}.process.command_line"), command_line(p));
    set_opt(e, &format!("{at}.process.pid"), u(p, "pid"));
    set_opt(
        e,
        &format!("{at}.process.product_specific_process_id"),
        s(p, "exec_id"),
    );
    set_opt(e, &format!("{at}.user.userid"), s(p, "uid"));
}

fn container(e: &mut Udm, p: &Value) {
    if let Some(img) = s(p, "pod.container.image.name") {
        set(
            e,
            "principal.resource.attribute.labels",
            json!([{"key": "container_image", "value": img}]),
        );
    }
    set_opt(
        e,
        "principal.resource.product_object_id",
        s(p, "pod.container.id"),
    );
    set_opt(e, "principal.resource.name", s(p, "pod.name"));
    set_opt(e, "principal.namespace", s(p, "pod.namespace"));
}

impl Adapter for Tetragon {
    fn keep(&self) -> Option<&'static Keep> {
        Some(keep())
    }
    fn convert(&mut self, rec: Record<'_>, line: usize, out: &mut Vec<Out>) -> Result<(), String> {
        let Record::Json(v) = rec else {
            return Err("expected a JSON Tetragon event".into());
        };
        let Some((kind, body)) = KINDS.iter().find_map(|k| v.get(*k).map(|b| (*k, b))) else {
            return Err("no process_exec/exit/kprobe/connect key (not a Tetragon event?)".into());
        };
        let empty = Value::Null;
        let p = body.get("process").unwrap_or(&empty);
        let parent = body.get("parent").unwrap_or(&empty);
        let mut e = event("GENERIC_EVENT", "Cilium", "Tetragon");
        match kind {
            "process_exec" | "process_exit" => {
                let t = if kind == "process_exec" {
                    "PROCESS_LAUNCH"
                } else {
                    "PROCESS_TERMINATION"
                };
                set(&mut e, "metadata.event_type", t);
                process(&mut e, "target", p);
                process(&mut e, "principal", parent);
            }
            "process_connect" => {
                set(&mut e, "metadata.event_type", "NETWORK_CONNECTION");
                process(&mut e, "principal", p);
                set_opt(
                    &mut e,
                    "target.ip",
                    s(body, "destination_ip")
                        .and_then(|a| ip(&a))
                        .map(|a| json!([a])),
                );
                set_opt(&mut e, "target.port", u(body, "destination_port"));
                set_opt(
                    &mut e,
                    "principal.ip",
                    s(body, "source_ip")
                        .and_then(|a| ip(&a))
                        .map(|a| json!([a])),
                );
                set_opt(&mut e, "principal.port", u(body, "source_port"));
            }
            _ => {
                let func = s(body, "function_name").unwrap_or_default();
                set(
                    &mut e,
                    "metadata.product_event_type",
                    format!("{kind}:{func}"),
                );
                process(&mut e, "principal", p);
                let args = get(body, "args").and_then(Value::as_array);
                for a in args.into_iter().flatten() {
                    if let Some(sock) = a.get("sock_arg") {
                        set(&mut e, "metadata.event_type", "NETWORK_CONNECTION");
                        set_opt(
                            &mut e,
                            "target.ip",
                            s(sock, "daddr").and_then(|x| ip(&x)).map(|x| json!([x])),
                        );
                        set_opt(&mut e, "target.port", u(sock, "dport"));
                        set_opt(
                            &mut e,
                            "principal.ip",
                            s(sock, "saddr").and_then(|x| ip(&x)).map(|x| json!([x])),
                        );
                        set_opt(&mut e, "principal.port", u(sock, "sport"));
                        set_opt(
                            &mut e,
                            "network.ip_protocol",
                            s(sock, "protocol")
                                .map(|x| x.trim_start_matches("IPPROTO_").to_string()),
                        );
                        break;
                    }
                    if let Some(path) = s(a, "file_arg.path") {
                        set(&mut e, "target.file.full_path", path);
                    }
                }
                set_opt(&mut e, "security_result", s(body, "policy_name").map(|n| json!([{"rule_name": n, "action_details": s(body, "action").unwrap_or_default()}])));
            }
        }
        if !e.has("metadata.product_event_type") {
            set(&mut e, "metadata.product_event_type", kind);
        }
        container(&mut e, p);
        let time = s(v, "time").or_else(|| s(p, "start_time"));
        set_opt(&mut e, "metadata.event_timestamp", time);
        set_opt(&mut e, "principal.hostname", s(v, "node_name"));
        out.push(Out {
            line,
            udm: e.into_value(),
        });
        Ok(())
    }
}
