//! Parsing of image config JSON (OCI `application/vnd.oci.image.config.v1+json` and
//! Docker `application/vnd.docker.container.image.v1+json`, which share a shape) into
//! [`ImageConfig`] and [`Platform`]. Lenient about missing fields, strict about the
//! document being a JSON object.

use crate::image::{HistoryEntry, ImageConfig, Platform};
use serde_json::Value;

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| match x {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

fn string(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    }
}

/// Parse an image config. The error says why the bytes are not a usable config.
pub fn parse_config(bytes: &[u8]) -> Result<(ImageConfig, Platform), String> {
    let v: Value =
        serde_json::from_slice(bytes).map_err(|e| format!("the image config is not JSON: {e}"))?;
    let Value::Object(top) = &v else {
        return Err("the image config is not a JSON object".into());
    };
    let c = top.get("config").or_else(|| top.get("container_config"));
    let get = |k: &str| c.and_then(|c| c.get(k));
    let mut cfg = ImageConfig {
        entrypoint: strings(get("Entrypoint")),
        cmd: strings(get("Cmd")),
        env: strings(get("Env")),
        user: string(get("User")),
        working_dir: string(get("WorkingDir")),
        ..Default::default()
    };
    if let Some(Value::Object(p)) = get("ExposedPorts") {
        // Sorted: serde_json keeps document order when a dependency turns on its
        // `preserve_order` (yara-x does), and the report should not depend on that.
        cfg.exposed_ports = p.keys().cloned().collect();
        cfg.exposed_ports.sort();
    }
    if let Some(Value::Object(l)) = get("Labels") {
        cfg.labels = l
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), v)
            })
            .collect();
    }
    if let Some(Value::Array(h)) = top.get("history") {
        cfg.history = h
            .iter()
            .map(|e| HistoryEntry {
                created: e.get("created").and_then(Value::as_str).map(String::from),
                created_by: string(e.get("created_by")),
                comment: string(e.get("comment")),
                empty_layer: e
                    .get("empty_layer")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            })
            .collect();
    }
    if let Some(r) = top.get("rootfs") {
        cfg.diff_ids = strings(r.get("diff_ids"));
    }
    cfg.created = top.get("created").and_then(Value::as_str).map(String::from);
    let platform = Platform {
        os: top
            .get("os")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        architecture: top
            .get("architecture")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        variant: top
            .get("variant")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(String::from),
    };
    Ok((cfg, platform))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_and_oci_configs() {
        let j = br#"{"architecture":"arm64","variant":"v8","os":"linux",
          "config":{"Entrypoint":["/bin/sh","-c"],"Cmd":null,"Env":["PATH=/bin","A=b=c"],
          "User":"1000","WorkingDir":"/app","ExposedPorts":{"80/tcp":{}},"Labels":{"x":"y"}},
          "history":[{"created_by":"RUN x","empty_layer":true},{"created_by":"COPY"}],
          "rootfs":{"type":"layers","diff_ids":["sha256:aa"]}}"#;
        let (c, p) = parse_config(j).unwrap();
        assert_eq!(p.to_string(), "linux/arm64/v8");
        assert_eq!(c.entrypoint, ["/bin/sh", "-c"]);
        assert!(c.cmd.is_empty());
        assert_eq!(c.env_var("A"), Some("b=c"));
        assert_eq!(c.exposed_ports, ["80/tcp"]);
        assert_eq!(c.labels["x"], "y");
        assert!(c.history[0].empty_layer && !c.history[1].empty_layer);
        assert_eq!(c.diff_ids, ["sha256:aa"]);
        assert!(parse_config(b"not json")
            .unwrap_err()
            .starts_with("the image config is not JSON"));
        assert!(parse_config(b"[1]").is_err());
    }
}
