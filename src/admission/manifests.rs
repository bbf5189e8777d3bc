//! `imgscan manifests PATH...`: the images Kubernetes YAML would run, for a CI gate on
//! what is about to be deployed. Reads files, directories (recursively: `*.yaml`,
//! `*.yml`, `*.json`) and `-` (standard input); multi-document streams (`---`, the
//! output of `helm template` with its `# Source:` comments), `kubectl get -o yaml` Lists
//! (`kind: List` or any `*List` with `items`), and every Pod-making kind
//! ([`super::images::images_of`]). The images come back deduplicated, each with where it
//! was found; what could not be read comes back as errors naming the file and the
//! document index (0-based). `cli/manifests.rs` scans the images as `imgscan scan` does.
//!
//! ```
//! use imgscan::admission::manifests::{read_text, Bounds, Found};
//! let mut found = Found::default();
//! read_text("deploy.yaml", "# Source: chart/a.yaml\n---\napiVersion: apps/v1\nkind: Deployment\n\
//!     metadata: {name: a}\nspec: {template: {spec: {containers: [{name: c, image: nginx:1}]}}}\n\
//!     ---\nkind: Service\n", &Bounds::default(), &mut found);
//! assert_eq!(found.images, ["nginx:1"]);
//! // A comment before the first `---` is no document: the Deployment is document 0.
//! assert_eq!(found.origins["nginx:1"], ["deploy.yaml#0 Deployment/a"]);
//! assert!(found.errors.is_empty());
//! ```
//!
//! Bounded: bytes per file ([`Bounds::file_bytes`]), documents per file, distinct images
//! in all, files walked, directory depth; symbolic links to directories are not followed
//! (no loops). A bound hit is an error, never a silent cut.

use super::images::images_of;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// What is read at most.
#[derive(Debug, Clone)]
pub struct Bounds {
    /// Bytes of one file (or of standard input).
    pub file_bytes: u64,
    /// YAML documents in one file.
    pub documents: usize,
    /// Distinct images in all.
    pub images: usize,
    /// Files read in all.
    pub files: usize,
    /// Directory levels below a PATH.
    pub depth: usize,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            file_bytes: 16 << 20,
            documents: 10_000,
            images: 1_000,
            files: 10_000,
            depth: 32,
        }
    }
}

/// What a set of manifests names.
#[derive(Debug, Default, Clone)]
pub struct Found {
    /// Distinct image references, in the order first seen.
    pub images: Vec<String>,
    /// For each image: `FILE#DOC KIND/NAME` of every object naming it.
    pub origins: BTreeMap<String, Vec<String>>,
    /// What could not be read: `FILE: ...` or `FILE#DOC: ...`.
    pub errors: Vec<String>,
    /// Files read.
    pub files: usize,
    /// Documents read (empty ones included).
    pub documents: usize,
}

impl Found {
    fn add(&mut self, image: &str, origin: String, bounds: &Bounds) -> Result<(), String> {
        if !self.origins.contains_key(image) {
            if self.images.len() >= bounds.images {
                return Err(format!(
                    "more than {} distinct images; the rest are not read",
                    bounds.images
                ));
            }
            self.images.push(image.to_string());
        }
        let o = self.origins.entry(image.to_string()).or_default();
        if o.len() < 16 {
            o.push(origin);
        }
        Ok(())
    }
}

/// Read every PATH (`-` = standard input) into `Found`.
pub fn read_paths(paths: &[String], bounds: &Bounds) -> Found {
    let mut found = Found::default();
    for p in paths {
        if p == "-" {
            let mut buf = Vec::new();
            let read = std::io::stdin()
                .lock()
                .take(bounds.file_bytes + 1)
                .read_to_end(&mut buf);
            text_of("-", read.map(|_| buf), bounds, &mut found);
        } else {
            walk(Path::new(p), 0, true, bounds, &mut found);
        }
    }
    found
}

fn walk(path: &Path, depth: usize, named: bool, bounds: &Bounds, found: &mut Found) {
    let shown = path.display().to_string();
    // A link named on the command line is followed; one met in a directory is followed
    // only to a file.
    let meta = if named {
        std::fs::metadata(path)
    } else {
        std::fs::symlink_metadata(path).and_then(|m| {
            if m.file_type().is_symlink() {
                std::fs::metadata(path).and_then(|t| {
                    if t.is_dir() {
                        Err(std::io::Error::other(
                            "a symbolic link to a directory (not followed)",
                        ))
                    } else {
                        Ok(t)
                    }
                })
            } else {
                Ok(m)
            }
        })
    };
    let meta = match meta {
        Ok(m) => m,
        Err(e) if named => return found.errors.push(format!("{shown}: {e}")),
        // Skipped links inside a directory are not errors.
        Err(_) => return,
    };
    if meta.is_dir() {
        if depth >= bounds.depth {
            return found
                .errors
                .push(format!("{shown}: deeper than {} directories", bounds.depth));
        }
        let mut entries: Vec<_> = match std::fs::read_dir(path) {
            Ok(r) => r.flatten().map(|e| e.path()).collect(),
            Err(e) => return found.errors.push(format!("{shown}: {e}")),
        };
        entries.sort();
        for e in entries {
            let is_dir = e.is_dir();
            let manifest = e
                .extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| matches!(x, "yaml" | "yml" | "json"));
            if is_dir || manifest {
                walk(&e, depth + 1, false, bounds, found);
            }
        }
        return;
    }
    if found.files >= bounds.files {
        if found.files == bounds.files {
            found.files += 1;
            found.errors.push(format!(
                "more than {} files; the rest are not read",
                bounds.files
            ));
        }
        return;
    }
    let read = std::fs::File::open(path).and_then(|f| {
        let mut buf = Vec::new();
        f.take(bounds.file_bytes + 1).read_to_end(&mut buf)?;
        Ok(buf)
    });
    text_of(&shown, read, bounds, found);
}

fn text_of(name: &str, read: std::io::Result<Vec<u8>>, bounds: &Bounds, found: &mut Found) {
    found.files += 1;
    let bytes = match read {
        Ok(b) => b,
        Err(e) => return found.errors.push(format!("{name}: {e}")),
    };
    if bytes.len() as u64 > bounds.file_bytes {
        return found.errors.push(format!(
            "{name}: larger than {} bytes (--max-file-size); not read",
            bounds.file_bytes
        ));
    }
    match String::from_utf8(bytes) {
        Ok(text) => read_text(name, &text, bounds, found),
        Err(_) => found
            .errors
            .push(format!("{name}: not UTF-8 text; not read")),
    }
}

/// Read one YAML stream named `name` into `found`.
pub fn read_text(name: &str, text: &str, bounds: &Bounds, found: &mut Found) {
    for (i, doc) in serde_norway::Deserializer::from_str(text).enumerate() {
        found.documents += 1;
        if i >= bounds.documents {
            found.errors.push(format!(
                "{name}: more than {} documents; the rest are not read",
                bounds.documents
            ));
            return;
        }
        let value = match Value::deserialize(doc) {
            Ok(v) => v,
            Err(e) => {
                // A syntax error ends the stream: nothing after it can be trusted.
                found.errors.push(format!("{name}#{i}: not YAML: {e}"));
                return;
            }
        };
        if let Err(e) = object(name, i, &value, 0, bounds, found) {
            found.errors.push(format!("{name}#{i}: {e}"));
            if found.images.len() >= bounds.images {
                return;
            }
        }
    }
}

/// One object (or List) of document `doc`.
fn object(
    name: &str,
    doc: usize,
    v: &Value,
    nesting: usize,
    bounds: &Bounds,
    found: &mut Found,
) -> Result<(), String> {
    if v.is_null() {
        return Ok(()); // an empty document (`---` with only comments)
    }
    let Some(kind) = v.get("kind").and_then(Value::as_str) else {
        return Err("not a Kubernetes object (no kind)".into());
    };
    if let Some(items) = v.get("items").and_then(Value::as_array) {
        if kind == "List" || kind.ends_with("List") {
            if nesting >= 4 {
                return Err("Lists nested too deep".into());
            }
            for item in items {
                object(name, doc, item, nesting + 1, bounds, found)?;
            }
            return Ok(());
        }
    }
    let Some(images) = images_of(kind, v) else {
        return Ok(()); // makes no Pods
    };
    let images = images?;
    let obj = v
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("?");
    for im in images {
        found.add(&im, format!("{name}#{doc} {kind}/{obj}"), bounds)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Found {
        let mut f = Found::default();
        read_text("t.yaml", text, &Bounds::default(), &mut f);
        f
    }

    #[test]
    fn lists_cronjobs_and_dedup() {
        let f = read(
            "apiVersion: v1\nkind: List\nitems:\n- kind: Pod\n  metadata: {name: p}\n  spec:\n    containers: [{name: a, image: 'x:1'}]\n    initContainers: [{name: i, image: 'y:1'}]\n---\n# only a comment\n---\nkind: CronJob\nmetadata: {name: c}\nspec: {jobTemplate: {spec: {template: {spec: {containers: [{image: 'x:1'}]}}}}}\n",
        );
        assert_eq!(f.images, ["x:1", "y:1"]);
        assert_eq!(f.origins["x:1"], ["t.yaml#0 Pod/p", "t.yaml#2 CronJob/c"]);
        assert!(f.errors.is_empty(), "{:?}", f.errors);
    }

    #[test]
    fn bad_documents_are_named() {
        let f = read("kind: Pod\nspec: {containers: [{image: a}]}\n---\nkind: [unclosed\n");
        assert_eq!(f.images, ["a"]);
        assert_eq!(f.errors.len(), 1);
        assert!(
            f.errors[0].starts_with("t.yaml#1: not YAML"),
            "{:?}",
            f.errors
        );
        let f = read("just: a map\n");
        assert!(
            f.errors[0].contains("#0: not a Kubernetes object"),
            "{:?}",
            f.errors
        );
    }

    #[test]
    fn bounds_are_errors() {
        let b = Bounds {
            documents: 2,
            images: 1,
            ..Bounds::default()
        };
        let mut f = Found::default();
        read_text(
            "t",
            "kind: Pod\n---\nkind: Pod\n---\nkind: Pod\n",
            &b,
            &mut f,
        );
        assert!(
            f.errors[0].contains("more than 2 documents"),
            "{:?}",
            f.errors
        );
        let mut f = Found::default();
        read_text(
            "t",
            "kind: Pod\nspec: {containers: [{image: a}, {image: b}]}\n",
            &b,
            &mut f,
        );
        assert_eq!(f.images, ["a"]);
        assert!(
            f.errors[0].contains("more than 1 distinct images"),
            "{:?}",
            f.errors
        );
        // An alias bomb is refused by the YAML reader, not expanded.
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..9 {
            bomb.push_str(&format!(
                "{n}: &{n} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n",
                n = (b'b' + i) as char,
                p = (b'a' + i) as char
            ));
        }
        let f = read(&bomb);
        assert_eq!(f.errors.len(), 1, "{:?}", f.errors);
    }
}
