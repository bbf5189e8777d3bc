//! Azure Activity log records, in the REST/portal shape (`operationName.value`,
//! `eventTimestamp`, `caller`) and the diagnostic-export shape (`operationName` string,
//! often upper-case, `time`, `callerIpAddress`, files of `{"records": [...]}`).
//! `metadata.product_name` is "Azure Activity"; the operation goes to
//! `metadata.product_event_type` and `metadata.description` as written. `…/WRITE` →
//! USER_RESOURCE_CREATION, `…/DELETE` → USER_RESOURCE_DELETION, `…/ACTION` →
//! USER_RESOURCE_UPDATE_CONTENT, `…/READ` → USER_RESOURCE_ACCESS.

use super::json::{event, get, ip, s, set, set_opt, Keep};
use super::{Adapter, Out, Record};
use serde_json::{json, Value};

pub struct AzureActivity;

fn keep() -> &'static Keep {
    static K: std::sync::OnceLock<Keep> = std::sync::OnceLock::new();
    K.get_or_init(|| {
        Keep::paths(&[
            &["operationName"],
            &["eventDataId"],
            &["correlationId"],
            &["eventTimestamp"],
            &["time"],
            &["claims"],
            &["identity", "claims"],
            &["caller"],
            &["callerIpAddress"],
            &["httpRequest", "clientIpAddress"],
            &["resourceId"],
            &["resourceType"],
            &["status"],
            &["resultType"],
            &["level"],
        ])
    })
}

fn event_type(op: &str) -> &'static str {
    let last = op.rsplit('/').next().unwrap_or("").to_ascii_uppercase();
    match last.as_str() {
        "WRITE" => "USER_RESOURCE_CREATION",
        "DELETE" => "USER_RESOURCE_DELETION",
        "ACTION" => "USER_RESOURCE_UPDATE_CONTENT",
        "READ" => "USER_RESOURCE_ACCESS",
        _ => "USER_UNCATEGORIZED",
    }
}

/// `x` or `x.value` (REST objects are `{value, localizedValue}`).
fn sv(v: &Value, path: &str) -> Option<String> {
    s(v, &format!("{path}.value")).or_else(|| s(v, path))
}

impl Adapter for AzureActivity {
    fn keep(&self) -> Option<&'static Keep> {
        Some(keep())
    }
    fn convert(&mut self, rec: Record<'_>, line: usize, out: &mut Vec<Out>) -> Result<(), String> {
        let Record::Json(v) = rec else {
            return Err("expected a JSON Azure Activity record".into());
        };
        let op =
            sv(v, "operationName").ok_or("no operationName (not an Azure Activity record?)")?;
        let mut e = event(event_type(&op), "Microsoft", "Azure Activity");
        set(&mut e, "metadata.product_event_type", op.clone());
        set(&mut e, "metadata.description", op);
        set_opt(
            &mut e,
            "metadata.product_log_id",
            s(v, "eventDataId").or_else(|| s(v, "correlationId")),
        );
        let time = s(v, "eventTimestamp").or_else(|| s(v, "time"));
        set_opt(&mut e, "metadata.event_timestamp", time);
        let claims = get(v, "claims").or_else(|| get(v, "identity.claims"));
        let upn = claims.and_then(|c| {
            c.get("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn")
                .or_else(|| c.get("upn"))
                .and_then(Value::as_str)
                .map(str::to_string)
        });
        set_opt(&mut e, "principal.user.userid", s(v, "caller").or(upn));
        let src = s(v, "callerIpAddress")
            .or_else(|| s(v, "httpRequest.clientIpAddress"))
            .or_else(|| {
                claims
                    .and_then(|c| c.get("ipaddr"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            });
        set_opt(
            &mut e,
            "principal.ip",
            src.and_then(|a| ip(&a)).map(|a| json!([a])),
        );
        set_opt(&mut e, "target.resource.name", s(v, "resourceId"));
        set_opt(
            &mut e,
            "target.resource.resource_subtype",
            sv(v, "resourceType"),
        );
        let status = sv(v, "status").or_else(|| s(v, "resultType"));
        let failed = status
            .as_deref()
            .is_some_and(|x| x.eq_ignore_ascii_case("failed"));
        let mut sr = json!({"action": [if failed { "BLOCK" } else { "ALLOW" }]});
        if let Some(st) = status {
            sr["summary"] = json!(st);
        }
        if let Some(l) = sv(v, "level") {
            sr["product_severity"] = json!(l);
        }
        set(&mut e, "security_result", json!([sr]));
        out.push(Out {
            line,
            udm: e.into_value(),
        });
        Ok(())
    }
}
