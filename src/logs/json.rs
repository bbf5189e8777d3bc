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

/// A UDM event under construction: each object a small vector of (key, node) in
/// insertion order, turned into a [`Value`] once, at the end ([`Udm::into_value`]).
/// serde_json's maps here keep insertion order (an `IndexMap` that hashes the key on
/// every lookup and insert); setting a dotted path into a `Value` took two lookups per
/// level, while here a level is a short scan of a few keys and each key is hashed once,
/// when the value is made. The value made, key order included, is what setting the same
/// paths into a `Value` gives ([`set_value`]).
#[derive(Default)]
pub struct Udm {
    fields: Vec<(String, Node)>,
}

enum Node {
    Obj(Udm),
    Val(Value),
}

impl Udm {
    /// Set `path` (dotted) to `val`, creating objects on the way; a key set again keeps
    /// its place. Paths with an existing non-object on the way are left alone.
    pub fn set(&mut self, path: &str, val: Value) {
        let mut cur = self;
        let mut rest = path;
        loop {
            let (k, more) = match rest.split_once('.') {
                Some((k, more)) => (k, Some(more)),
                None => (rest, None),
            };
            let at = cur.fields.iter().position(|(n, _)| n == k);
            let Some(more) = more else {
                match at {
                    Some(i) => cur.fields[i].1 = Node::Val(val),
                    None => cur.fields.push((k.to_string(), Node::Val(val))),
                }
                return;
            };
            let i = at.unwrap_or_else(|| {
                cur.fields.push((k.to_string(), Node::Obj(Udm::default())));
                cur.fields.len() - 1
            });
            match &mut cur.fields[i].1 {
                Node::Obj(o) => cur = o,
                // A value set whole earlier: into it as into any `Value`.
                Node::Val(v) => return set_value(v, more, val),
            }
            rest = more;
        }
    }

    /// Whether `path` holds something other than null (as [`get`] on the value made).
    pub fn has(&self, path: &str) -> bool {
        let (k, more) = match path.split_once('.') {
            Some((k, more)) => (k, Some(more)),
            None => (path, None),
        };
        match (self.fields.iter().find(|(n, _)| n == k).map(|x| &x.1), more) {
            (None, _) => false,
            (Some(Node::Obj(_)), None) => true,
            (Some(Node::Obj(o)), Some(more)) => o.has(more),
            (Some(Node::Val(v)), None) => !v.is_null(),
            (Some(Node::Val(v)), Some(more)) => get(v, more).is_some(),
        }
    }

    /// The event as a JSON value.
    pub fn into_value(self) -> Value {
        let mut m = Map::with_capacity(self.fields.len());
        for (k, n) in self.fields {
            let v = match n {
                Node::Obj(o) => o.into_value(),
                Node::Val(v) => v,
            };
            m.insert(k, v);
        }
        Value::Object(m)
    }
}

/// Set `path` (dotted) in `root` to `val`, creating objects on the way. Paths with an
/// existing non-object on the way are left alone.
pub fn set_value(root: &mut Value, path: &str, val: Value) {
    let mut cur = root;
    let mut parts = path.split('.').peekable();
    while let Some(k) = parts.next() {
        if !cur.is_object() {
            return;
        }
        let m = cur.as_object_mut().expect("object");
        if parts.peek().is_none() {
            m.insert(k.to_string(), val);
            return;
        }
        // Look up before inserting: most parts of a path already exist, and a key is
        // only allocated when it is new.
        if !m.contains_key(k) {
            m.insert(k.to_string(), Value::Object(Map::new()));
        }
        cur = m.get_mut(k).expect("just ensured");
    }
}

/// Set `path` in the event being built ([`Udm::set`]).
pub fn set(root: &mut Udm, path: &str, val: impl Into<Value>) {
    root.set(path, val.into());
}

/// Set `path` when `val` is `Some`.
pub fn set_opt<T: Into<Value>>(root: &mut Udm, path: &str, val: Option<T>) {
    if let Some(v) = val {
        root.set(path, v.into());
    }
}

/// A fresh UDM event with the metadata every adapter fills.
pub fn event(event_type: &str, vendor: &str, product: &str) -> Udm {
    let mut e = Udm::default();
    e.set("metadata.event_type", event_type.into());
    e.set("metadata.vendor_name", vendor.into());
    e.set("metadata.product_name", product.into());
    e
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

/// The parts of a source record an adapter reads: a tree of object keys (a key's
/// subtree is kept whole when nothing below it is named). Lets a JSON line be parsed
/// into a [`Value`] holding only those parts ([`parse_kept`]); everything else is still
/// parsed (so syntax errors and nesting limits are as for a full parse) but skipped
/// without being built. Arrays on the way keep each element's named parts.
#[derive(Debug, Default)]
pub struct Keep {
    children: Vec<(&'static str, Keep)>,
}

impl Keep {
    /// From paths of keys, e.g. `&[&["output_fields", "proc.cmdline"], &["rule"]]`.
    pub fn paths(paths: &[&[&'static str]]) -> Keep {
        let mut root = Keep::default();
        for p in paths {
            let mut cur = &mut root;
            for k in *p {
                let i = match cur.children.iter().position(|(n, _)| n == k) {
                    Some(i) => i,
                    None => {
                        cur.children.push((*k, Keep::default()));
                        cur.children.len() - 1
                    }
                };
                cur = &mut cur.children[i].1;
            }
        }
        root
    }
    fn child(&self, k: &str) -> Option<&Keep> {
        self.children.iter().find(|(n, _)| *n == k).map(|(_, c)| c)
    }
    fn whole(&self) -> bool {
        self.children.is_empty()
    }
}

/// Parse one JSON value from `bytes` keeping what `keep` names of each record: the
/// value itself, the elements of a top-level array, or the elements of a top-level
/// `Records`/`records` array (the wrappers [`super::input`] splits). Top-level keys not
/// kept stay as `null`, so the wrapper test (how many keys) sees what a full parse sees.
/// Errors are serde_json's, as for `serde_json::from_slice::<Value>`.
pub fn parse_kept(bytes: &[u8], keep: &Keep) -> serde_json::Result<Value> {
    use serde::de::DeserializeSeed;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let v = Kept { keep, top: true }.deserialize(&mut de)?;
    de.end()?;
    Ok(v)
}

#[derive(Clone, Copy)]
struct Kept<'k> {
    keep: &'k Keep,
    top: bool,
}

/// A map key, borrowed from the input when it has no escapes.
struct Key<'de>(std::borrow::Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Owned(s.to_string())))
            }
            fn visit_string<E>(self, s: String) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Owned(s)))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for Kept<'_> {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        if self.keep.whole() && !self.top {
            return serde::Deserialize::deserialize(d);
        }
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Kept<'_> {
    type Value = Value;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::from(n))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::from(n))
    }
    fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_string()))
    }
    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Value, A::Error> {
        // Elements of a top-level array are records; of a nested one, more of the same.
        let el = Kept {
            keep: self.keep,
            top: false,
        };
        let mut v = Vec::new();
        while let Some(x) = a.next_element_seed(el)? {
            v.push(x);
        }
        Ok(Value::Array(v))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Value, A::Error> {
        let mut m = Map::new();
        while let Some(Key(k)) = a.next_key::<Key>()? {
            let wrapper = self.top && (k == "Records" || k == "records");
            let child = if wrapper {
                Some(self.keep)
            } else {
                self.keep.child(&k)
            };
            match child {
                Some(keep) => {
                    let v = a.next_value_seed(Kept { keep, top: false })?;
                    m.insert(k.into_owned(), v);
                }
                None => {
                    a.next_value::<serde::de::IgnoredAny>()?;
                    if self.top {
                        m.insert(k.into_owned(), Value::Null);
                    }
                }
            }
        }
        Ok(Value::Object(m))
    }
}
