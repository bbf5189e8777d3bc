//! Kubernetes audit events (`audit.k8s.io/v1` and `v1beta1`; `apiVersion` may be
//! missing). The verb decides the event type (create → USER_RESOURCE_CREATION, update/
//! patch → USER_RESOURCE_UPDATE_CONTENT, delete → USER_RESOURCE_DELETION, others →
//! USER_RESOURCE_ACCESS). A pod create lists every container image (containers, init and
//! ephemeral containers, from the request or else the response) as an `image` label on
//! `target.resource`, so an image rule can see what was deployed. A `pods/exec` request
//! (`kubectl exec`) becomes a PROCESS_LAUNCH with the command from its request URI.

use super::json::{event, get, ip, labels, s, set, set_opt};
use super::{Adapter, Out, Record};
use serde_json::{json, Value};

pub struct K8sAudit;

/// Every container image of a Pod object (or a pod template under `spec.template`).
pub fn pod_images(obj: &Value) -> Vec<String> {
    let mut out = vec![];
    for spec in [get(obj, "spec"), get(obj, "spec.template.spec")]
        .into_iter()
        .flatten()
    {
        for k in ["initContainers", "containers", "ephemeralContainers"] {
            for c in spec.get(k).and_then(Value::as_array).into_iter().flatten() {
                if let Some(i) = s(c, "image") {
                    out.push(i);
                }
            }
        }
    }
    out
}

/// The `command` query parameters of a `pods/exec` request URI, decoded, in order.
pub fn exec_argv(uri: &str) -> Vec<String> {
    let Some((_, q)) = uri.split_once('?') else {
        return vec![];
    };
    q.split('&')
        .filter_map(|kv| kv.strip_prefix("command="))
        .take(4096)
        .map(unescape)
        .collect()
}

/// Query-string decoding: `+` is a space, `%XX` a byte (bad escapes kept as written).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(x) => {
                        out.push(x);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn verb_type(verb: &str) -> &'static str {
    match verb {
        "create" => "USER_RESOURCE_CREATION",
        "update" | "patch" => "USER_RESOURCE_UPDATE_CONTENT",
        "delete" | "deletecollection" => "USER_RESOURCE_DELETION",
        _ => "USER_RESOURCE_ACCESS",
    }
}

impl Adapter for K8sAudit {
    fn convert(&mut self, rec: Record<'_>, line: usize, out: &mut Vec<Out>) -> Result<(), String> {
        let Record::Json(v) = rec else {
            return Err("expected a JSON Kubernetes audit event".into());
        };
        let verb = s(v, "verb").ok_or("no `verb` (not a Kubernetes audit event?)")?;
        let mut e = event(verb_type(&verb), "Kubernetes", "Kubernetes Audit");
        let resource = s(v, "objectRef.resource").unwrap_or_default();
        let sub = s(v, "objectRef.subresource");
        let pet = match &sub {
            Some(x) => format!("{verb} {resource}/{x}"),
            None => format!("{verb} {resource}"),
        };
        set(&mut e, "metadata.product_event_type", pet.clone());
        set(&mut e, "metadata.description", pet);
        set_opt(&mut e, "metadata.product_log_id", s(v, "auditID"));
        let time = s(v, "requestReceivedTimestamp")
            .or_else(|| s(v, "stageTimestamp"))
            .or_else(|| s(v, "timestamp"))
            .or_else(|| s(v, "metadata.creationTimestamp"));
        set_opt(&mut e, "metadata.event_timestamp", time);
        set_opt(&mut e, "principal.user.userid", s(v, "user.username"));
        let ips: Vec<String> = get(v, "sourceIPs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_str().and_then(ip))
            .collect();
        if !ips.is_empty() {
            set(&mut e, "principal.ip", json!(ips));
        }
        set_opt(&mut e, "network.http.user_agent", s(v, "userAgent"));
        set_opt(&mut e, "target.url", s(v, "requestURI"));
        set_opt(&mut e, "target.namespace", s(v, "objectRef.namespace"));
        let name = s(v, "objectRef.name").or_else(|| s(v, "requestObject.metadata.name"));
        set_opt(&mut e, "target.resource.name", name);
        set(&mut e, "target.resource.resource_subtype", resource.clone());
        if sub.is_none() {
            let mut images = get(v, "requestObject").map(pod_images).unwrap_or_default();
            if images.is_empty() {
                images = get(v, "responseObject").map(pod_images).unwrap_or_default();
            }
            if !images.is_empty() {
                let lab: Vec<(&str, String)> = images.into_iter().map(|i| ("image", i)).collect();
                set(&mut e, "target.resource.attribute.labels", labels(&lab));
            }
        }
        if resource == "pods" && sub.as_deref() == Some("exec") {
            // `kubectl exec`: the command is in the request URI's `command=` parameters.
            let argv = s(v, "requestURI")
                .map(|u| exec_argv(&u))
                .unwrap_or_default();
            if !argv.is_empty() {
                set(&mut e, "metadata.event_type", "PROCESS_LAUNCH");
                set(&mut e, "target.process.file.full_path", argv[0].clone());
                set(&mut e, "target.process.command_line", argv.join(" "));
            }
        }
        let code = get(v, "responseStatus.code").and_then(Value::as_u64);
        let decision = v
            .get("annotations")
            .and_then(|a| a.get("authorization.k8s.io/decision"))
            .and_then(Value::as_str);
        let allowed = match (code, decision) {
            (_, Some("forbid")) => false,
            (Some(c), _) => c < 400,
            _ => true,
        };
        set(
            &mut e,
            "security_result",
            json!([{"action": [if allowed { "ALLOW" } else { "BLOCK" }]}]),
        );
        out.push(Out {
            line,
            udm: e.into_value(),
        });
        Ok(())
    }
}
