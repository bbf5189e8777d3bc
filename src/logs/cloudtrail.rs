//! AWS CloudTrail records (`{"Records": [...]}` files as delivered to S3, JSON arrays,
//! JSON lines, single events, and EventBridge events whose `detail` is the record), as
//! Chronicle's AWS_CLOUDTRAIL parser maps them: `metadata.product_name` "AWS
//! CloudTrail", the API call (`eventName`) in `metadata.product_event_type` and
//! `metadata.description`, `eventID` as `metadata.product_log_id`.

use super::json::{event, get, ip, labels, s, set, set_opt};
use super::{Adapter, Out, Record};
use serde_json::{json, Value};

pub struct CloudTrail;

/// UDM event type for a CloudTrail API call.
fn event_type(name: &str) -> &'static str {
    let starts = |p: &[&str]| p.iter().any(|x| name.starts_with(x));
    if name == "ConsoleLogin" || name.starts_with("AssumeRole") || name == "GetSessionToken" {
        "USER_LOGIN"
    } else if starts(&[
        "RunInstances",
        "Create",
        "Run",
        "Import",
        "Register",
        "Allocate",
    ]) {
        "USER_RESOURCE_CREATION"
    } else if starts(&["Delete", "Terminate", "Remove", "Deregister"]) {
        "USER_RESOURCE_DELETION"
    } else if starts(&[
        "Update", "Modify", "Put", "Set", "Attach", "Start", "Stop", "Add",
    ]) {
        "USER_RESOURCE_UPDATE_CONTENT"
    } else if starts(&["Get", "List", "Describe", "Head", "Lookup"]) {
        "USER_RESOURCE_ACCESS"
    } else {
        "USER_UNCATEGORIZED"
    }
}

impl Adapter for CloudTrail {
    fn convert(&mut self, rec: Record<'_>, line: usize, out: &mut Vec<Out>) -> Result<(), String> {
        let Record::Json(v) = rec else {
            return Err("expected a JSON CloudTrail record".into());
        };
        // EventBridge: {"detail-type": "AWS API Call via CloudTrail", "detail": {...}}
        let r = match get(v, "detail") {
            Some(d) if v.get("detail-type").is_some() => d,
            _ => v,
        };
        if !r.is_object() {
            return Err("expected a JSON object (a CloudTrail record)".into());
        }
        let name = s(r, "eventName").ok_or("no eventName (not a CloudTrail record?)")?;
        let mut e = event(event_type(&name), "AWS", "AWS CloudTrail");
        set(&mut e, "metadata.product_event_type", name.clone());
        set(&mut e, "metadata.description", name.clone());
        set_opt(&mut e, "metadata.product_log_id", s(r, "eventID"));
        let time = s(r, "eventTime")
            .or_else(|| s(r, "@timestamp"))
            .or_else(|| s(v, "time"));
        set_opt(&mut e, "metadata.event_timestamp", time);
        set_opt(&mut e, "target.application", s(r, "eventSource"));
        // Principal.
        let user = s(r, "userIdentity.userName")
            .or_else(|| s(r, "userIdentity.sessionContext.sessionIssuer.userName"))
            .or_else(|| s(r, "userIdentity.principalId"));
        set_opt(&mut e, "principal.user.userid", user);
        set_opt(
            &mut e,
            "principal.user.product_object_id",
            s(r, "userIdentity.principalId"),
        );
        set_opt(
            &mut e,
            "principal.user.user_display_name",
            s(r, "userIdentity.arn"),
        );
        set_opt(
            &mut e,
            "principal.user.attribute.roles",
            s(r, "userIdentity.type").map(|t| json!([{"name": t}])),
        );
        if let Some(src) = s(r, "sourceIPAddress") {
            match ip(&src) {
                Some(a) => set(&mut e, "principal.ip", json!([a])),
                None => set(&mut e, "principal.hostname", src),
            }
        }
        set_opt(&mut e, "network.http.user_agent", s(r, "userAgent"));
        set_opt(&mut e, "target.location.name", s(r, "awsRegion"));
        // RunInstances: the AMI, instance type and the instances made.
        let mut lab: Vec<(&str, String)> = vec![];
        for path in [
            "requestParameters.instancesSet.items",
            "responseElements.instancesSet.items",
        ] {
            for it in get(r, path).and_then(Value::as_array).into_iter().flatten() {
                if let Some(a) = s(it, "imageId") {
                    if !lab.iter().any(|(k, v)| *k == "imageId" && *v == a) {
                        lab.push(("imageId", a));
                    }
                }
                if let Some(i) = s(it, "instanceId") {
                    set(&mut e, "target.resource.product_object_id", i);
                }
            }
        }
        if let Some(a) = s(r, "recipientAccountId") {
            lab.push(("recipientAccountId", a));
        }
        if let Some(t) = s(r, "requestParameters.instanceType") {
            lab.push(("instanceType", t));
        }
        if let Some(f) = s(r, "requestParameters.functionName") {
            set(&mut e, "target.resource.name", f);
        }
        if !lab.is_empty() {
            set(&mut e, "target.resource.attribute.labels", labels(&lab));
        }
        let mut sr = json!({"action": ["ALLOW"]});
        if let Some(code) = s(r, "errorCode") {
            sr = json!({"action": ["BLOCK"], "summary": code,
                        "description": s(r, "errorMessage").unwrap_or_default()});
        }
        set(&mut e, "security_result", json!([sr]));
        out.push(Out {
            line,
            udm: e.into_value(),
        });
        Ok(())
    }
}
