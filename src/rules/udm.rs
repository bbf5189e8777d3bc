//! UDM schema access: which fields exist, which are repeated, which are enums (and
//! their values). Data: `signatures/udm_schema.json`, a compact copy derived from
//! `../shared/udm/udm_schema.json` (google-backstory types), embedded at build time.

use super::ast::{Leaf, Seg};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

const SCHEMA_JSON: &str = include_str!("../../signatures/udm_schema.json");

#[derive(Deserialize)]
struct Raw {
    enums: HashMap<String, HashMap<String, i64>>,
    /// message -> field -> [kind, repeated, type]
    messages: HashMap<String, HashMap<String, (String, u8, String)>>,
}

pub struct Schema {
    raw: Raw,
    enums: HashMap<String, Arc<Vec<(String, i64)>>>,
}

pub fn schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| {
        let raw: Raw = serde_json::from_str(SCHEMA_JSON).expect("embedded UDM schema is valid");
        let enums = raw
            .enums
            .iter()
            .map(|(k, v)| {
                let mut vals: Vec<(String, i64)> = v.iter().map(|(n, i)| (n.clone(), *i)).collect();
                vals.sort_by_key(|x| x.1);
                (k.clone(), Arc::new(vals))
            })
            .collect();
        Schema { raw, enums }
    })
}

/// What the schema says about a field path.
#[derive(Debug, Default)]
pub struct Resolved {
    /// (segment index, prefix path) of each repeated component expanded per element.
    pub repeated: Vec<(usize, String)>,
    pub leaf: Leaf,
    /// Index of the first segment the schema does not know.
    pub unknown_at: Option<usize>,
}

impl Schema {
    fn lookup_type<'a, T>(
        &self,
        map: &'a HashMap<String, T>,
        ctx: &str,
        ty: &str,
    ) -> Option<&'a T> {
        // Nested types are named `Outer.Inner`; a field's type is relative to its message.
        let mut scope = ctx.to_string();
        loop {
            let cand = if scope.is_empty() {
                ty.to_string()
            } else {
                format!("{scope}.{ty}")
            };
            if let Some(v) = map.get(&cand) {
                return Some(v);
            }
            if scope.is_empty() {
                break;
            }
            scope = scope
                .rsplit_once('.')
                .map(|x| x.0.to_string())
                .unwrap_or_default();
        }
        let suffix = format!(".{ty}");
        let mut keys: Vec<&String> = map.keys().filter(|k| k.ends_with(&suffix)).collect();
        keys.sort();
        keys.first().and_then(|k| map.get(*k))
    }

    fn message_name(&self, ctx: &str, ty: &str) -> Option<String> {
        let mut scope = ctx.to_string();
        loop {
            let cand = if scope.is_empty() {
                ty.to_string()
            } else {
                format!("{scope}.{ty}")
            };
            if self.raw.messages.contains_key(&cand) {
                return Some(cand);
            }
            if scope.is_empty() {
                break;
            }
            scope = scope
                .rsplit_once('.')
                .map(|x| x.0.to_string())
                .unwrap_or_default();
        }
        let suffix = format!(".{ty}");
        let mut keys: Vec<&String> = self
            .raw
            .messages
            .keys()
            .filter(|k| k.ends_with(&suffix))
            .collect();
        keys.sort();
        keys.first().map(|k| (*k).clone())
    }

    /// Walk `path` (after `$e.`) from the UDM event root.
    pub fn resolve(&self, path: &[Seg]) -> Resolved {
        let mut out = Resolved::default();
        let mut msg = Some("UDM".to_string());
        let mut prefix = String::new();
        let mut i = 0;
        while i < path.len() {
            let Some(m) = msg.clone() else {
                // Opaque (Struct, map values): anything goes below here.
                out.leaf = Leaf::Unknown;
                return out;
            };
            let name = match &path[i] {
                Seg::Name { name, alt } => {
                    let fields = &self.raw.messages[&m];
                    if fields.contains_key(name.as_str()) {
                        name.clone()
                    } else if fields.contains_key(alt.as_str()) {
                        alt.clone()
                    } else {
                        out.unknown_at = Some(i);
                        out.leaf = Leaf::Unknown;
                        return out;
                    }
                }
                Seg::Key(_) => {
                    out.unknown_at = Some(i);
                    return out;
                }
            };
            if !prefix.is_empty() {
                prefix.push('.');
            }
            prefix.push_str(&name);
            let (kind, repeated, ty) = self.raw.messages[&m][&name].clone();
            let keyed = matches!(path.get(i + 1), Some(Seg::Key(_)));
            if repeated == 1 && !keyed && kind != "p" {
                out.repeated.push((i, prefix.clone()));
            }
            match kind.as_str() {
                "m" => {
                    msg = self.message_name(&m, &ty);
                    out.leaf = Leaf::Message;
                    if keyed {
                        // Map-style access on a repeated key/value message (labels["k"]).
                        i += 2;
                        msg = None;
                        out.leaf = Leaf::Str;
                        if i >= path.len() {
                            return out;
                        }
                        continue;
                    }
                }
                "p" => {
                    // proto map: the next segment is the key.
                    if i + 1 < path.len() {
                        i += 1;
                    }
                    msg = None;
                    out.leaf = Leaf::Unknown;
                }
                "e" => {
                    msg = None;
                    out.leaf = self
                        .lookup_type(&self.enums, &m, &ty)
                        .map(|e| Leaf::Enum(e.clone()))
                        .unwrap_or(Leaf::Str);
                    if i + 1 < path.len() {
                        out.unknown_at = Some(i + 1);
                        return out;
                    }
                }
                _ => {
                    msg = None;
                    out.leaf = match ty.as_str() {
                        "string" | "bytes" => Leaf::Str,
                        "bool" => Leaf::Bool,
                        "float" | "double" => Leaf::Float,
                        _ => Leaf::Int,
                    };
                    if i + 1 < path.len() {
                        out.unknown_at = Some(i + 1);
                        return out;
                    }
                }
            }
            i += 1;
        }
        if msg.is_some() {
            out.leaf = Leaf::Message;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::parser::alt_name;

    fn p(s: &str) -> Vec<Seg> {
        s.split('.')
            .map(|n| Seg::Name {
                name: n.into(),
                alt: alt_name(n),
            })
            .collect()
    }

    #[test]
    fn repeated_and_enums() {
        let s = schema();
        let r = s.resolve(&p("target.ip"));
        assert_eq!(r.repeated, vec![(1, "target.ip".to_string())]);
        assert_eq!(r.leaf, Leaf::Str);
        let r = s.resolve(&p("network.dns.questions.name"));
        assert_eq!(r.repeated, vec![(2, "network.dns.questions".to_string())]);
        let r = s.resolve(&p("metadata.eventType"));
        assert!(matches!(r.leaf, Leaf::Enum(ref v) if v.iter().any(|x| x.0 == "PROCESS_LAUNCH")));
        assert!(r.unknown_at.is_none());
        assert_eq!(s.resolve(&p("principal.no_such")).unknown_at, Some(1));
        let r = s.resolve(&p("principal.process.file.full_path"));
        assert!(r.repeated.is_empty() && r.unknown_at.is_none());
        let mut path = p("target.resource.attribute.labels");
        path.push(Seg::Key("k".into()));
        let r = s.resolve(&path);
        assert!(r.repeated.is_empty() && r.unknown_at.is_none(), "{r:?}");
        assert!(s
            .resolve(&p("additional.fields.anything"))
            .unknown_at
            .is_none());
    }
}
