//! The final filesystem of an image: every entry of every layer (metadata only) with
//! whiteouts (`.wh.NAME`) and opaque directories (`.wh..wh..opq`) applied. Entries a later
//! layer deletes or replaces stay available, marked with the layer that hid them, so
//! malware added in one layer and deleted in the next is still scanned.

use super::{normalize_path, LayerMeta};
use crate::image::{EntryKind, FileEntry};
use std::collections::{BTreeMap, HashMap};

/// Maps keyed by paths from the image: foldhash is several times faster than SipHash on
/// short keys, and its per-process random seed keeps hostile paths from choosing collisions.
type PathMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Symlink / hard-link hops [`FsView::resolve`] follows before giving up.
pub const MAX_LINK_HOPS: usize = 40;

/// Every entry of every layer (metadata only) with whiteouts and opaque dirs applied.
#[derive(Debug, Default)]
pub struct FsView {
    entries: Vec<FileEntry>,
    /// Path → index into `entries` of the entry visible in the final filesystem. A hash
    /// map: a package database alone asks for tens of thousands of paths, each prefix of
    /// each (see [`FsView::resolve_plain`]).
    visible: PathMap<String, usize>,
    /// The values of `visible` in path order.
    order: Vec<usize>,
    /// (layer, path) → index of the last entry at `path` in that layer.
    by_layer: PathMap<(usize, String), usize>,
}

/// Which entries [`hide_tree`] removes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Hide {
    /// A whiteout: `path` and what is under it, from lower layers only (the OCI image
    /// spec: "Whiteout files MUST only apply to resources in lower/parent layers").
    Whiteout,
    /// An opaque directory: what is under `path`, from lower layers only.
    Opaque,
    /// A directory replaced by a non-directory: what is under `path`, whichever layer
    /// wrote it (earlier entries of the same layer included, as extraction in tar order
    /// removes them too).
    Replaced,
}

/// Remove `path` and/or everything under it from `visible` (see [`Hide`]), marking each
/// removed entry as hidden by `layer`.
fn hide_tree(
    visible: &mut BTreeMap<String, usize>,
    entries: &mut [FileEntry],
    path: &str,
    layer: usize,
    how: Hide,
) {
    let children_only = how != Hide::Whiteout;
    let mut gone: Vec<String> = Vec::new();
    if !children_only && visible.contains_key(path) {
        gone.push(path.to_string());
    }
    if path.is_empty() {
        // The root: everything below it.
        gone.extend(visible.keys().filter(|k| !k.is_empty()).cloned());
    } else {
        let prefix = format!("{path}/");
        gone.extend(
            visible
                .range(prefix.clone()..)
                .take_while(|(k, _)| k.starts_with(&prefix))
                .map(|(k, _)| k.clone()),
        );
    }
    for k in gone {
        if let Some(i) = visible.remove(&k) {
            if (entries[i].layer < layer || how == Hide::Replaced) && entries[i].hidden_by.is_none()
            {
                entries[i].hidden_by = Some(layer);
            } else if entries[i].layer >= layer && how != Hide::Replaced {
                // Same-layer entries are not affected by that layer's whiteouts.
                visible.insert(k, i);
            }
        }
    }
}

/// What [`FsView::resolve_plain`] could tell without walking.
enum Plain<'a> {
    Found(&'a FileEntry),
    Missing,
    /// An ancestor is a link or a non-directory, or the path is a link: walk it.
    Links,
}

impl FsView {
    /// Build from the per-layer metadata, in layer order.
    pub(crate) fn build(layers: Vec<LayerMeta>) -> FsView {
        let mut view = FsView::default();
        // Ordered while layers are applied (a whiteout or opaque dir hides a prefix range),
        // then turned into the hash index and the path order.
        let mut visible: BTreeMap<String, usize> = BTreeMap::new();
        for (li, meta) in layers.into_iter().enumerate() {
            // Whiteouts of this layer apply to the layers below it.
            for w in &meta.whiteouts {
                let how = if w.opaque {
                    Hide::Opaque
                } else {
                    Hide::Whiteout
                };
                hide_tree(&mut visible, &mut view.entries, &w.path, li, how);
            }
            for mut e in meta.entries {
                e.hidden_by = None;
                let idx = view.entries.len();
                let path = e.path.clone();
                let is_dir = e.kind == EntryKind::Dir;
                view.entries.push(e);
                if let Some(&old) = visible.get(&path) {
                    view.entries[old].hidden_by = Some(li);
                    let old_is_dir = view.entries[old].kind == EntryKind::Dir;
                    if old_is_dir && !is_dir {
                        // A file replacing a directory removes what was under it.
                        hide_tree(&mut visible, &mut view.entries, &path, li, Hide::Replaced);
                    }
                }
                visible.insert(path.clone(), idx);
                view.by_layer.insert((li, path), idx);
            }
        }
        view.order = visible.values().copied().collect();
        view.visible = visible.into_iter().collect();
        view
    }

    /// The layer that deletes or replaces `path` as it was in `layer`, if any.
    pub fn hidden_by(&self, layer: usize, path: &str) -> Option<usize> {
        let (p, _) = normalize_path(path);
        self.by_layer
            .get(&(layer, p))
            .and_then(|&i| self.entries[i].hidden_by)
    }

    /// The entry visible at `path` in the final filesystem (no link following).
    pub fn lookup(&self, path: &str) -> Option<&FileEntry> {
        let (p, _) = normalize_path(path);
        self.visible.get(&p).map(|&i| &self.entries[i])
    }

    /// Like lookup, but follows symlinks (absolute ones relative to the image root, never the
    /// host) and hard links, at most 40 hops; None on a loop or a dangling link.
    pub fn resolve(&self, path: &str) -> Option<&FileEntry> {
        let (start, _) = normalize_path(path);
        match self.resolve_plain(&start) {
            Plain::Found(e) => Some(e),
            Plain::Missing => None,
            Plain::Links => self.resolve_walk(start),
        }
    }

    /// Whether `dir` (normalised, not empty) and every ancestor of it is a directory or
    /// not listed: then `dir/name` for one plain component `name` is the entry at exactly
    /// that path ([`FsView::exact`]) unless that entry is a link.
    pub fn plain_dir(&self, dir: &str) -> bool {
        let at = |p: &str| self.visible.get(p).map(|&i| &self.entries[i]);
        !dir.is_empty()
            && dir
                .match_indices('/')
                .map(|(i, _)| &dir[..i])
                .chain([dir])
                .all(|p| at(p).is_none_or(|e| e.kind == EntryKind::Dir))
    }

    /// The entry visible at exactly `path`, already normalised (no link following).
    pub fn exact(&self, path: &str) -> Option<&FileEntry> {
        self.visible.get(path).map(|&i| &self.entries[i])
    }

    /// The common case without a step per component (a package database asks for tens
    /// of thousands of paths): when every ancestor of `path` (normalised) is a directory
    /// or not listed, and `path` itself is no link, the walk below would end on `path`'s
    /// own entry; anything else is left to the walk.
    fn resolve_plain(&self, path: &str) -> Plain<'_> {
        if path.is_empty() {
            return Plain::Links;
        }
        let at = |p: &str| self.visible.get(p).map(|&i| &self.entries[i]);
        for (i, _) in path.match_indices('/') {
            if at(&path[..i]).is_some_and(|e| e.kind != EntryKind::Dir) {
                return Plain::Links;
            }
        }
        match at(path) {
            None => Plain::Missing,
            Some(e) if matches!(e.kind, EntryKind::Symlink | EntryKind::Hardlink) => Plain::Links,
            Some(e) => Plain::Found(e),
        }
    }

    /// [`FsView::resolve`] component by component, following links.
    fn resolve_walk(&self, start: String) -> Option<&FileEntry> {
        let mut hops = 0usize;
        let mut pending: Vec<String> = start.split('/').rev().map(str::to_string).collect();
        pending.retain(|c| !c.is_empty());
        let mut cur: Vec<String> = Vec::new();
        let mut last: Option<&FileEntry> = None;
        while let Some(comp) = pending.pop() {
            match comp.as_str() {
                "" | "." => continue,
                ".." => {
                    cur.pop();
                    last = None;
                    continue;
                }
                _ => {}
            }
            cur.push(comp);
            let here = cur.join("/");
            let Some(e) = self.lookup(&here) else {
                if pending.is_empty() {
                    return None;
                }
                // Directories need not be listed in a layer; keep walking.
                last = None;
                continue;
            };
            match e.kind {
                EntryKind::Symlink => {
                    hops += 1;
                    if hops > MAX_LINK_HOPS {
                        return None;
                    }
                    let target = e.link_target.as_deref().unwrap_or("");
                    cur.pop();
                    if target.starts_with('/') {
                        cur.clear();
                    }
                    for c in target.split('/').rev() {
                        if !c.is_empty() {
                            pending.push(c.to_string());
                        }
                    }
                    last = None;
                    if pending.is_empty() {
                        // A link to the root (or to itself via "."): the root is no entry.
                        return self.lookup(&cur.join("/"));
                    }
                }
                EntryKind::Hardlink => {
                    hops += 1;
                    if hops > MAX_LINK_HOPS {
                        return None;
                    }
                    let (t, _) = normalize_path(e.link_target.as_deref().unwrap_or(""));
                    cur = t
                        .split('/')
                        .filter(|c| !c.is_empty())
                        .map(String::from)
                        .collect();
                    let target = self.lookup(&t)?;
                    if target.kind == EntryKind::Hardlink || target.kind == EntryKind::Symlink {
                        // Re-walk from the link's target.
                        for c in cur.drain(..).rev() {
                            pending.push(c);
                        }
                        last = None;
                        continue;
                    }
                    last = Some(target);
                }
                _ => last = Some(e),
            }
        }
        last
    }

    /// All entries of all layers, hidden ones included, with `hidden_by` filled in.
    /// Whiteout marker files themselves (`.wh.*`) are not entries.
    pub fn entries(&self) -> impl Iterator<Item = &FileEntry> {
        self.entries.iter()
    }

    /// Entries visible in the final filesystem, in path order.
    pub fn visible(&self) -> impl Iterator<Item = &FileEntry> {
        self.order.iter().map(|&i| &self.entries[i])
    }
}

#[cfg(test)]
mod tests {
    use super::super::Whiteout;
    use super::*;

    fn e(layer: usize, path: &str, kind: EntryKind, link: Option<&str>) -> FileEntry {
        FileEntry {
            layer,
            layer_digest: format!("sha256:{layer}"),
            path: path.into(),
            kind,
            mode: 0o644,
            size: 0,
            link_target: link.map(String::from),
            hidden_by: None,
        }
    }
    fn f(layer: usize, path: &str) -> FileEntry {
        e(layer, path, EntryKind::File, None)
    }
    fn wh(path: &str, opaque: bool) -> Whiteout {
        Whiteout {
            path: path.into(),
            opaque,
        }
    }

    #[test]
    fn whiteouts_opaque_dirs_and_replacement() {
        let l0 = LayerMeta {
            entries: vec![
                e(0, "etc", EntryKind::Dir, None),
                f(0, "etc/a"),
                f(0, "etc/b"),
                e(0, "opt", EntryKind::Dir, None),
                f(0, "opt/x"),
                f(0, "opt/sub/y"),
                f(0, "miner"),
            ],
            whiteouts: vec![],
        };
        let l1 = LayerMeta {
            entries: vec![f(1, "etc/b"), f(1, "opt/new")],
            whiteouts: vec![wh("etc/a", false), wh("opt", true), wh("miner", false)],
        };
        let fs = FsView::build(vec![l0, l1]);
        assert_eq!(fs.hidden_by(0, "etc/a"), Some(1));
        assert_eq!(fs.hidden_by(0, "etc/b"), Some(1));
        assert_eq!(fs.hidden_by(1, "etc/b"), None);
        assert_eq!(fs.hidden_by(0, "opt/x"), Some(1));
        assert_eq!(fs.hidden_by(0, "opt/sub/y"), Some(1));
        assert_eq!(fs.hidden_by(0, "opt"), None, "opaque keeps the dir itself");
        assert_eq!(fs.hidden_by(1, "opt/new"), None);
        assert_eq!(fs.hidden_by(0, "miner"), Some(1));
        assert!(fs.lookup("miner").is_none());
        assert_eq!(fs.lookup("/etc/b").unwrap().layer, 1);
        assert_eq!(fs.entries().count(), 9);
    }

    #[test]
    fn a_dir_replaced_in_its_own_layer_loses_its_children() {
        // Found by tests/umoci.rs: extraction in tar order removes `d/x` when `d` becomes
        // a file later in the same layer; only whiteouts spare same-layer entries.
        let l0 = LayerMeta {
            entries: vec![f(0, "keep")],
            whiteouts: vec![],
        };
        let l1 = LayerMeta {
            entries: vec![
                e(1, "d", EntryKind::Dir, None),
                f(1, "d/x"),
                e(1, "d", EntryKind::Symlink, Some("elsewhere")),
            ],
            whiteouts: vec![wh("keep", false)],
        };
        let l2 = LayerMeta {
            entries: vec![f(2, "keep")],
            whiteouts: vec![wh("keep", false)],
        };
        let fs = FsView::build(vec![l0, l1, l2]);
        assert!(fs.lookup("d/x").is_none());
        assert_eq!(fs.hidden_by(1, "d/x"), Some(1));
        assert_eq!(fs.lookup("d").unwrap().kind, EntryKind::Symlink);
        assert_eq!(fs.hidden_by(0, "keep"), Some(1));
        assert_eq!(
            fs.hidden_by(2, "keep"),
            None,
            "its own layer's whiteout spares it"
        );
    }

    #[test]
    fn resolves_links_inside_the_image_only() {
        let l0 = LayerMeta {
            entries: vec![
                f(0, "bin/busybox"),
                e(0, "bin/sh", EntryKind::Symlink, Some("busybox")),
                e(0, "usr/bin/sh", EntryKind::Symlink, Some("/bin/sh")),
                e(0, "lib", EntryKind::Symlink, Some("usr/lib")),
                f(0, "usr/lib/libc.so"),
                e(0, "bin/hl", EntryKind::Hardlink, Some("bin/busybox")),
                e(0, "loop/a", EntryKind::Symlink, Some("b")),
                e(0, "loop/b", EntryKind::Symlink, Some("a")),
                e(0, "esc", EntryKind::Symlink, Some("../../../../etc/shadow")),
                e(0, "dangling", EntryKind::Symlink, Some("nowhere")),
            ],
            whiteouts: vec![],
        };
        let fs = FsView::build(vec![l0]);
        assert_eq!(fs.resolve("usr/bin/sh").unwrap().path, "bin/busybox");
        assert_eq!(fs.resolve("lib/libc.so").unwrap().path, "usr/lib/libc.so");
        assert_eq!(fs.resolve("bin/hl").unwrap().path, "bin/busybox");
        assert!(fs.resolve("loop/a").is_none());
        assert!(fs.resolve("esc").is_none());
        assert!(fs.resolve("dangling").is_none());
        assert_eq!(fs.lookup("bin/sh").unwrap().kind, EntryKind::Symlink);
    }

    #[test]
    fn quick_resolve_answers_as_the_walk_does() {
        // Hostile shapes too: a listed child under a link and under a file.
        let l0 = LayerMeta {
            entries: vec![
                e(0, "usr", EntryKind::Dir, None),
                f(0, "usr/bin/ls"),
                e(0, "bin", EntryKind::Symlink, Some("usr/bin")),
                f(0, "bin/ls"),
                f(0, "file"),
                f(0, "file/child"),
                e(0, "usr/bin/hl", EntryKind::Hardlink, Some("usr/bin/ls")),
                e(0, "usr/lib/x/y", EntryKind::Symlink, Some("../../bin/ls")),
            ],
            whiteouts: vec![],
        };
        let fs = FsView::build(vec![l0]);
        let paths = [
            "usr/bin/ls",
            "bin/ls",
            "./bin/ls",
            "file",
            "file/child",
            "usr/bin/hl",
            "usr/lib/x/y",
            "usr/lib/x",
            "nowhere/x",
            "usr",
            "",
            "/usr/bin/ls",
        ];
        for p in paths {
            let walked = fs.resolve_walk(normalize_path(p).0).map(|e| &e.path);
            assert_eq!(fs.resolve(p).map(|e| &e.path), walked, "{p}");
        }
        assert_eq!(fs.resolve("bin/ls").unwrap().path, "usr/bin/ls");
        assert_eq!(fs.resolve("usr/lib/x/y").unwrap().path, "usr/bin/ls");
    }
}
