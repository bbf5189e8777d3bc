//! Small helpers for reading source JSON and building UDM JSON.

use serde_json::{json, Map, Value};

/// `v` at a dotted path (object keys only).
pub fn get<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = v;
    for k in path.split('.') {
        cur = cur.get(k)?;
    }
    (!cur.is_null()).then_some(cur)
}

/// A string at `path` (non-empty; numbers are rendered).
pub fn s(v: &Value, path: &str) -> Option<String> {
    match get(v, path)? {
        Value::String(x) if !x.is_empty() && x != "<NA>" => Some(x.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// An unsigned integer at `path` (number or decimal string).
pub fn u(v: &Value, path: &str) -> Option<u64> {
    match get(v, path)? {
        Value::Number(n) => n.as_u64(),
        Value::String(x) => x.parse().ok(),
        _ => None,
    }
}

/// Set `path` (dotted) in `root` to `val`, creating objects on the way. Paths with an
/// existing non-object on the way are left alone.
pub fn set(root: &mut Value, path: &str, val: impl Into<Value>) {
    let mut cur = root;
    let mut parts = path.split('.').peekable();
    while let Some(k) = parts.next() {
        if !cur.is_object() {
            return;
        }
        let m = cur.as_object_mut().expect("object");
        if parts.peek().is_none() {
            m.insert(k.to_string(), val.into());
            return;
        }
        cur = m
            .entry(k.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

/// Set `path` when `val` is `Some`.
pub fn set_opt<T: Into<Value>>(root: &mut Value, path: &str, val: Option<T>) {
    if let Some(v) = val {
        set(root, path, v);
    }
}

/// A fresh UDM event with the metadata every adapter fills.
pub fn event(event_type: &str, vendor: &str, product: &str) -> Value {
    json!({"metadata": {"event_type": event_type, "vendor_name": vendor, "product_name": product}})
}

/// `[{key, value}, ...]` labels.
pub fn labels(pairs: &[(&str, String)]) -> Value {
    Value::Array(
        pairs
            .iter()
            .map(|(k, v)| json!({"key": k, "value": v}))
            .collect(),
    )
}

/// The string form of an IP address when `s` is one (anonymised logs hold strings that
/// are not).
pub fn ip(s: &str) -> Option<String> {
    s.trim_matches(|c| c == '[' || c == ']')
        .parse::<std::net::IpAddr>()
        .ok()
        .map(|a| a.to_string())
}

/// Seconds + nanoseconds as UDM `{seconds, nanos}`.
pub fn ts(seconds: i64, nanos: i64) -> Value {
    json!({"seconds": seconds, "nanos": nanos})
}
