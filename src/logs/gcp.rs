//! GCP Cloud Audit Logs (`protoPayload` of type AuditLog). `metadata.product_name` is
//! "GCP Cloud Audit" and the method (`protoPayload.methodName`) goes to
//! `metadata.product_event_type` and `metadata.description`. Inserts and creates are
//! USER_RESOURCE_CREATION; `compute.instances.insert` (v1 and beta) carries every disk's
//! `sourceImage` and the machine type as labels; GKE pod creates
//! (`io.k8s.core.v1.pods.create`) carry every container image.

use super::json::{event, get, ip, labels, s, set, set_opt, Keep};
use super::k8s::pod_images;
use super::{Adapter, Out, Record};
use serde_json::{json, Value};

pub struct GcpAudit;

fn keep() -> &'static Keep {
    static K: std::sync::OnceLock<Keep> = std::sync::OnceLock::new();
    K.get_or_init(|| {
        Keep::paths(&[
            &["protoPayload", "methodName"],
            &["protoPayload", "serviceName"],
            &["protoPayload", "authenticationInfo", "principalEmail"],
            &["protoPayload", "requestMetadata", "callerIp"],
            &["protoPayload", "requestMetadata", "callerSuppliedUserAgent"],
            &["protoPayload", "resourceName"],
            &["protoPayload", "request"],
            &["protoPayload", "status", "code"],
            &["protoPayload", "status", "message"],
            &["insertId"],
            &["timestamp"],
            &["receiveTimestamp"],
            &["resource", "type"],
            &["resource", "labels", "instance_id"],
            &["resource", "labels", "zone"],
            &["resource", "labels", "project_id"],
            &["severity"],
        ])
    })
}

fn event_type(method: &str) -> &'static str {
    let last = method.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    let has = |p: &[&str]| p.iter().any(|x| last.starts_with(x));
    if has(&["insert", "create"]) {
        "USER_RESOURCE_CREATION"
    } else if has(&["delete", "remove"]) {
        "USER_RESOURCE_DELETION"
    } else if has(&["update", "patch", "set", "add", "start", "stop", "reset"]) {
        "USER_RESOURCE_UPDATE_CONTENT"
    } else if has(&["get", "list", "aggregated", "watch"]) {
        "USER_RESOURCE_ACCESS"
    } else {
        "USER_UNCATEGORIZED"
    }
}

impl Adapter for GcpAudit {
    fn keep(&self) -> Option<&'static Keep> {
        Some(keep())
    }
    fn convert(&mut self, rec: Record<'_>, line: usize, out: &mut Vec<Out>) -> Result<(), String> {
        let Record::Json(v) = rec else {
            return Err("expected a JSON Cloud Audit log entry".into());
        };
        let p = get(v, "protoPayload").ok_or("no protoPayload (not a Cloud Audit log entry?)")?;
        let method = s(p, "methodName").ok_or("no protoPayload.methodName")?;
        let mut e = event(
            event_type(&method),
            "Google Cloud Platform",
            "GCP Cloud Audit",
        );
        set(&mut e, "metadata.product_event_type", method.clone());
        set(&mut e, "metadata.description", method.clone());
        set_opt(&mut e, "metadata.product_log_id", s(v, "insertId"));
        let time = s(v, "timestamp").or_else(|| s(v, "receiveTimestamp"));
        set_opt(&mut e, "metadata.event_timestamp", time);
        set_opt(&mut e, "target.application", s(p, "serviceName"));
        if let Some(u) = s(p, "authenticationInfo.principalEmail") {
            set(&mut e, "principal.user.email_addresses", json!([u.clone()]));
            set(&mut e, "principal.user.userid", u);
        }
        set_opt(
            &mut e,
            "principal.ip",
            s(p, "requestMetadata.callerIp")
                .and_then(|a| ip(&a))
                .map(|a| json!([a])),
        );
        set_opt(
            &mut e,
            "network.http.user_agent",
            s(p, "requestMetadata.callerSuppliedUserAgent"),
        );
        set_opt(&mut e, "target.resource.name", s(p, "resourceName"));
        set_opt(
            &mut e,
            "target.resource.product_object_id",
            s(v, "resource.labels.instance_id"),
        );
        set_opt(
            &mut e,
            "target.resource.resource_subtype",
            s(v, "resource.type"),
        );
        set_opt(&mut e, "target.location.name", s(v, "resource.labels.zone"));
        let mut lab: Vec<(&str, String)> = vec![];
        if let Some(pr) = s(v, "resource.labels.project_id") {
            lab.push(("project_id", pr));
        }
        if let Some(req) = get(p, "request") {
            for d in req
                .get("disks")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(img) = s(d, "initializeParams.sourceImage") {
                    lab.push(("sourceImage", img));
                }
            }
            if let Some(m) = s(req, "machineType") {
                lab.push(("machineType", m));
            }
            if method.ends_with("pods.create") {
                lab.extend(pod_images(req).into_iter().map(|i| ("image", i)));
            }
        }
        if !lab.is_empty() {
            set(&mut e, "target.resource.attribute.labels", labels(&lab));
        }
        let failed = get(p, "status.code")
            .and_then(Value::as_i64)
            .is_some_and(|c| c != 0);
        let mut sr = json!({"action": [if failed { "BLOCK" } else { "ALLOW" }]});
        if let Some(sev) = s(v, "severity") {
            sr["product_severity"] = json!(sev);
        }
        if let Some(m) = s(p, "status.message") {
            sr["description"] = json!(m);
        }
        set(&mut e, "security_result", json!([sr]));
        out.push(Out {
            line,
            udm: e.into_value(),
        });
        Ok(())
    }
}
