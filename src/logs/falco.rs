//! Falco alerts (`json_output: true`). `source` decides the mapping: `syscall` (or no
//! `source`, as older Falco wrote) → PROCESS_LAUNCH when the alert names a command line,
//! NETWORK_CONNECTION when it names a destination (`fd.sip`/`fd.sport`, or parsed from
//! `fd.name` = `cip:cport->sip:sport`), else GENERIC_EVENT; `k8s_audit` → a
//! USER_RESOURCE_* event by `ka.verb`; `internal` (metrics snapshots) is dropped. The
//! rule, priority and output text go to `security_result`.

use super::json::{event, get, ip, s, set, set_opt, Keep};
use super::{Adapter, Out, Record};
use serde_json::{json, Value};

pub struct Falco;

/// `output_fields` keys read below.
const FIELDS: &[&str] = &[
    "ka.verb",
    "ka.user.name",
    "ka.target.name",
    "ka.target.resource",
    "ka.target.namespace",
    "ka.uri",
    "proc.exepath",
    "proc.name",
    "proc.cmdline",
    "proc.pid",
    "proc.pexepath",
    "proc.pname",
    "proc.pcmdline",
    "fd.sip",
    "fd.rip",
    "fd.sport",
    "fd.rport",
    "fd.name",
    "user.name",
    "container.image.repository",
    "container.image.tag",
    "container.id",
    "k8s.ns.name",
];

fn keep() -> &'static Keep {
    static K: std::sync::OnceLock<Keep> = std::sync::OnceLock::new();
    K.get_or_init(|| {
        let mut paths: Vec<&[&str]> = vec![
            &["rule"],
            &["source"],
            &["output"],
            &["time"],
            &["hostname"],
            &["priority"],
            &["tags"],
        ];
        let of: Vec<[&'static str; 2]> = FIELDS.iter().map(|f| ["output_fields", f]).collect();
        paths.extend(of.iter().map(|p| &p[..]));
        Keep::paths(&paths)
    })
}

/// `a:p->b:q` (IPv6 addresses may be bracketed) → ((a, p), (b, q)).
pub fn fd_name_endpoints(fd: &str) -> Option<((String, u16), (String, u16))> {
    let (l, r) = fd.split_once("->")?;
    let one = |x: &str| -> Option<(String, u16)> {
        let (h, p) = x.trim().rsplit_once(':')?;
        Some((ip(h)?, p.parse().ok()?))
    };
    Some((one(l)?, one(r)?))
}

fn severity(p: &str) -> &'static str {
    match p.to_ascii_lowercase().as_str() {
        "emergency" | "alert" | "critical" => "CRITICAL",
        "error" => "HIGH",
        "warning" => "MEDIUM",
        "notice" => "LOW",
        _ => "INFORMATIONAL",
    }
}

impl Adapter for Falco {
    fn keep(&self) -> Option<&'static Keep> {
        Some(keep())
    }
    fn convert(&mut self, rec: Record<'_>, line: usize, out: &mut Vec<Out>) -> Result<(), String> {
        let Record::Json(v) = rec else {
            return Err("expected a JSON Falco alert".into());
        };
        let rule = s(v, "rule").ok_or("no `rule` (not a Falco alert?)")?;
        let source = s(v, "source").unwrap_or_else(|| "syscall".into());
        if source == "internal" {
            return Ok(());
        }
        let empty = Value::Null;
        let of = v.get("output_fields").unwrap_or(&empty);
        let f = |k: &str| -> Option<String> {
            match of.get(k)? {
                Value::String(x) if !x.is_empty() && x != "<NA>" => Some(x.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            }
        };
        let mut e = event("GENERIC_EVENT", "Falco", "Falco");
        if source == "k8s_audit" {
            let verb = f("ka.verb").unwrap_or_default();
            let t = match verb.as_str() {
                "create" => "USER_RESOURCE_CREATION",
                "update" | "patch" => "USER_RESOURCE_UPDATE_CONTENT",
                "delete" | "deletecollection" => "USER_RESOURCE_DELETION",
                "" => "GENERIC_EVENT",
                _ => "USER_RESOURCE_ACCESS",
            };
            set(&mut e, "metadata.event_type", t);
            set_opt(&mut e, "principal.user.userid", f("ka.user.name"));
            set_opt(&mut e, "target.resource.name", f("ka.target.name"));
            set_opt(
                &mut e,
                "target.resource.resource_subtype",
                f("ka.target.resource"),
            );
            set_opt(&mut e, "target.namespace", f("ka.target.namespace"));
            set_opt(&mut e, "target.url", f("ka.uri"));
        } else {
            let exe = f("proc.exepath").or_else(|| f("proc.name"));
            let cmd = f("proc.cmdline");
            let dest = match (
                f("fd.sip").or_else(|| f("fd.rip")),
                f("fd.sport").or_else(|| f("fd.rport")),
            ) {
                (Some(a), Some(p)) => p.parse::<u16>().ok().map(|p| (None, (a, p))),
                _ => f("fd.name")
                    .as_deref()
                    .and_then(fd_name_endpoints)
                    .map(|(c, sv)| (Some(c), sv)),
            };
            if let Some((client, (dip, dport))) = dest {
                set(&mut e, "metadata.event_type", "NETWORK_CONNECTION");
                set_opt(&mut e, "principal.process.file.full_path", exe);
                set_opt(&mut e, "principal.process.command_line", cmd);
                set(&mut e, "target.ip", json!([dip]));
                set(&mut e, "target.port", dport);
                if let Some((cip, cport)) = client {
                    set(&mut e, "principal.ip", json!([cip]));
                    set(&mut e, "principal.port", cport);
                }
            } else if cmd.is_some() || f("proc.exepath").is_some() {
                set(&mut e, "metadata.event_type", "PROCESS_LAUNCH");
                set_opt(&mut e, "target.process.file.full_path", exe);
                set_opt(&mut e, "target.process.command_line", cmd);
                set_opt(&mut e, "target.process.pid", f("proc.pid"));
                set_opt(
                    &mut e,
                    "principal.process.file.full_path",
                    f("proc.pexepath").or_else(|| f("proc.pname")),
                );
                set_opt(&mut e, "principal.process.command_line", f("proc.pcmdline"));
            }
            set_opt(&mut e, "principal.user.userid", f("user.name"));
            if let Some(img) = f("container.image.repository") {
                let img = match f("container.image.tag") {
                    Some(t) => format!("{img}:{t}"),
                    None => img,
                };
                set(
                    &mut e,
                    "principal.resource.attribute.labels",
                    json!([{"key": "container_image", "value": img}]),
                );
            }
            set_opt(
                &mut e,
                "principal.resource.product_object_id",
                f("container.id"),
            );
            set_opt(&mut e, "principal.namespace", f("k8s.ns.name"));
        }
        set(&mut e, "metadata.product_event_type", rule.clone());
        set_opt(&mut e, "metadata.description", s(v, "output"));
        set_opt(&mut e, "metadata.event_timestamp", s(v, "time"));
        set_opt(&mut e, "principal.hostname", s(v, "hostname"));
        let pri = s(v, "priority").unwrap_or_default();
        let tags = get(v, "tags").cloned().unwrap_or(json!([]));
        set(
            &mut e,
            "security_result",
            json!([{"rule_name": rule, "severity": severity(&pri),
                    "product_severity": pri, "summary": s(v, "output").unwrap_or_default(),
                    "category_details": tags}]),
        );
        out.push(Out {
            line,
            udm: e.into_value(),
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn fd_name() {
        let ((c, cp), (sv, sp)) =
            super::fd_name_endpoints("172.17.0.2:51234->45.9.148.1:3333").unwrap();
        assert_eq!(
            (c.as_str(), cp, sv.as_str(), sp),
            ("172.17.0.2", 51234, "45.9.148.1", 3333)
        );
        assert!(super::fd_name_endpoints("/etc/passwd").is_none());
    }
}
