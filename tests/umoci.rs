//! The filesystem view against a reference unpacker: random layer stacks (files, dirs,
//! symlinks, hard links, whiteouts, opaque dirs, a dir replaced by a file and back, deep
//! paths, unicode names), seeded and reproducible, are written as OCI layouts and unpacked
//! by Debian's `umoci unpack --rootless`. imgscan's final view must equal the unpacked tree
//! (path, kind, mode, size, link target), and every file or link that a later layer hides
//! must be reported hidden by the layer that hid it (found by unpacking each prefix of the
//! stack and looking for the entry's unique content there).
//!
//! `IMGSCAN_UMOCI_STACKS=N` sets how many stacks (default 200), `IMGSCAN_UMOCI_SEED=S`
//! the first seed (default 1); a failure names the seed that reproduces it.

mod common;

use imgscan::image::{EntryKind, FileEntry};
use imgscan::layers::{walk_image, NoopVisitor};
use imgscan::limits::Limits;
use imgscan::reference::Target;
use imgscan::source::{open, SourceOptions};
use imgscan_testkit::*;
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

/// splitmix64: small, seeded, the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

const NAMES: &[&str] = &[
    "a", "b", "c", "etc", "bin", "é", "日本", "😀", "sp ace", "x.y", "..z", ".hid", "-",
];
const FILE_MODES: &[u32] = &[0o644, 0o755, 0o600, 0o700, 0o4755, 0o2755, 0o444, 0o640];
const DIR_MODES: &[u32] = &[0o755, 0o700, 0o750, 0o1777, 0o555, 0o711];

/// What the generator wrote, per layer, in tar order (whiteout markers excluded): the
/// entries imgscan must list for that layer, with what identifies each one on disk.
#[derive(Debug, Clone)]
struct Written {
    path: String,
    kind: EntryKind,
    /// File content (unique in the stack); for a hard link the content of its target.
    content: Vec<u8>,
    /// Symlink or hard-link target as written.
    target: String,
}

fn random_path(rng: &mut Rng, pool: &[String]) -> String {
    if !pool.is_empty() && rng.chance(55) {
        let base = rng.pick(pool).clone();
        // Under an existing path (which may be a file or a link: replaced by a dir).
        if rng.chance(40) {
            return format!("{base}/{}", rng.pick(NAMES));
        }
        return base;
    }
    let depth = if rng.chance(5) {
        20 + rng.below(30)
    } else {
        1 + rng.below(3)
    };
    (0..depth)
        .map(|_| *rng.pick(NAMES))
        .collect::<Vec<_>>()
        .join("/")
}

/// One random layer: its tar entries and what imgscan must list for it.
fn random_layer(rng: &mut Rng, li: usize, pool: &mut Vec<String>) -> (Vec<Ent>, Vec<Written>) {
    let mut out = LayerOut::default();
    let ops = 1 + rng.below(8);
    for nonce in 1..=ops {
        let op = rng.below(100);
        let path = if op >= 80 && !pool.is_empty() {
            rng.pick(pool).clone()
        } else {
            random_path(rng, pool)
        };
        // Parent directories first, as every image builder writes them.
        let parts: Vec<&str> = path.split('/').collect();
        for i in 1..parts.len() {
            let dir = parts[..i].join("/");
            if !out.live_dir(&dir) {
                let mode = if rng.chance(80) {
                    0o755
                } else {
                    *rng.pick(DIR_MODES)
                };
                out.dir(&dir, mode);
            }
        }
        let tag = format!("L{li}n{nonce}");
        match op {
            0..=34 => {
                let mut data = format!("{tag} {path}\n").into_bytes();
                data.extend(std::iter::repeat_n(b'x', rng.below(64)));
                let mode = *rng.pick(FILE_MODES);
                out.push(
                    Ent::File {
                        path: path.clone(),
                        mode,
                        data: data.clone(),
                    },
                    EntryKind::File,
                    data,
                    String::new(),
                );
            }
            35..=54 => out.dir(&path, *rng.pick(DIR_MODES)),
            55..=66 => {
                let target = match rng.below(4) {
                    0 => format!("/{}/{tag}", rng.pick(NAMES)),
                    1 => format!("../{tag}"),
                    2 => format!("{}/{tag}", random_path(rng, pool)),
                    _ => tag.clone(),
                };
                out.push(
                    Ent::symlink(&path, &target),
                    EntryKind::Symlink,
                    vec![],
                    target,
                );
            }
            67..=74 => {
                // A hard link to a regular file this layer wrote (and still holds), never
                // to the link's own parent or child, never the same link again (the
                // reference could not tell the two apart).
                let targets: Vec<(String, Vec<u8>)> = out
                    .live
                    .iter()
                    .filter(|(t, (k, _, _))| {
                        *k == EntryKind::File
                            && **t != path
                            && !path.starts_with(&format!("{t}/"))
                            && !t.starts_with(&format!("{path}/"))
                    })
                    .map(|(t, (_, c, _))| (t.clone(), c.clone()))
                    .collect();
                if targets.is_empty() {
                    continue;
                }
                let (target, content) = rng.pick(&targets).clone();
                if out
                    .live
                    .get(&path)
                    .is_some_and(|(k, _, t)| *k == EntryKind::Hardlink && *t == target)
                {
                    continue;
                }
                out.push(
                    Ent::hardlink(&path, &target),
                    EntryKind::Hardlink,
                    content,
                    target,
                );
            }
            75..=89 => {
                if li == 0 {
                    continue;
                }
                // Same-layer entries stay (the spec); whether the reference agrees is
                // part of the comparison.
                out.ents.push(Ent::Whiteout(path.clone()));
            }
            _ => {
                if li == 0 {
                    continue;
                }
                // Builders write the directory itself before its opaque marker.
                if !out.live_dir(&path) {
                    out.dir(&path, 0o755);
                }
                out.ents.push(Ent::Opaque(path.clone()));
            }
        }
        if !pool.contains(&path) {
            pool.push(path);
        }
    }
    (out.ents, out.written)
}

/// A layer being generated: its tar entries, what imgscan must list, and what the layer
/// holds so far (path -> kind, content, link target), as extraction in tar order leaves it.
#[derive(Default)]
struct LayerOut {
    ents: Vec<Ent>,
    written: Vec<Written>,
    live: BTreeMap<String, (EntryKind, Vec<u8>, String)>,
}

impl LayerOut {
    fn live_dir(&self, p: &str) -> bool {
        self.live
            .get(p)
            .is_some_and(|(k, _, _)| *k == EntryKind::Dir)
    }
    fn push(&mut self, e: Ent, kind: EntryKind, content: Vec<u8>, target: String) {
        let p = match &e {
            Ent::File { path, .. }
            | Ent::Dir { path, .. }
            | Ent::Symlink { path, .. }
            | Ent::Hardlink { path, .. } => path.clone(),
            _ => unreachable!(),
        };
        // A non-directory replaces what was under the path; a directory keeps it.
        if kind != EntryKind::Dir {
            let under = format!("{p}/");
            self.live.retain(|f, _| !f.starts_with(&under));
        }
        self.live
            .insert(p.clone(), (kind, content.clone(), target.clone()));
        self.ents.push(e);
        self.written.push(Written {
            path: p,
            kind,
            content,
            target,
        });
    }
    fn dir(&mut self, p: &str, mode: u32) {
        let e = Ent::Dir {
            path: p.to_string(),
            mode,
        };
        self.push(e, EntryKind::Dir, vec![], String::new());
    }
}

/// What lies at `rel` under `root`, without following links on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Node {
    kind: EntryKind,
    mode: u32,
    size: u64,
    target: String,
    ino: u64,
}

fn node_of(path: &Path) -> Option<Node> {
    let m = std::fs::symlink_metadata(path).ok()?;
    let ft = m.file_type();
    let kind = if ft.is_symlink() {
        EntryKind::Symlink
    } else if ft.is_dir() {
        EntryKind::Dir
    } else if ft.is_file() {
        EntryKind::File
    } else {
        EntryKind::Other
    };
    Some(Node {
        kind,
        mode: m.permissions().mode() & 0o7777,
        size: if kind == EntryKind::File { m.len() } else { 0 },
        target: if kind == EntryKind::Symlink {
            std::fs::read_link(path)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        } else {
            String::new()
        },
        ino: m.ino(),
    })
}

/// The node at `rel`, or None when it or a parent is missing, or a parent is no directory
/// (a symlinked parent is not followed: the entry is not there).
fn lookup(root: &Path, rel: &str) -> Option<Node> {
    let mut p = root.to_path_buf();
    let parts: Vec<&str> = rel.split('/').collect();
    for (i, c) in parts.iter().enumerate() {
        p.push(c);
        let n = node_of(&p)?;
        if i + 1 < parts.len() && n.kind != EntryKind::Dir {
            return None;
        }
    }
    node_of(&p)
}

fn tree(root: &Path) -> BTreeMap<String, Node> {
    fn rec(root: &Path, dir: &Path, out: &mut BTreeMap<String, Node>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p
                .strip_prefix(root)
                .unwrap()
                .to_str()
                .expect("utf-8 names")
                .to_string();
            let n = node_of(&p).unwrap();
            let is_dir = n.kind == EntryKind::Dir;
            out.insert(rel, n);
            if is_dir {
                rec(root, &p, out);
            }
        }
    }
    let mut out = BTreeMap::new();
    rec(root, root, &mut out);
    out
}

fn unpack(layout: &Path, tag: &str, bundle: &Path) -> Result<std::path::PathBuf, String> {
    let o = Command::new("umoci")
        .args(["unpack", "--rootless", "--image"])
        .arg(format!("{}:{tag}", layout.display()))
        .arg(bundle)
        .output()
        .expect("running umoci (Debian package `umoci`)");
    if !o.status.success() {
        return Err(format!(
            "umoci unpack {tag}: {}",
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    Ok(bundle.join("rootfs"))
}

/// Is the entry `w` still what lies at its path in `root`?
fn still_there(root: &Path, w: &Written) -> bool {
    let Some(n) = lookup(root, &w.path) else {
        return false;
    };
    match w.kind {
        EntryKind::File | EntryKind::Hardlink => {
            n.kind == EntryKind::File
                && std::fs::read(root.join(&w.path)).is_ok_and(|c| c == w.content)
        }
        EntryKind::Symlink => n.kind == EntryKind::Symlink && n.target == w.target,
        _ => unreachable!(),
    }
}

/// The view's answer for one visible entry, in the reference's terms: a hard link is the
/// file it links to (same inode on disk).
fn expected(fs_entries: &[&FileEntry], at: usize) -> (EntryKind, u32, u64, String) {
    let e = fs_entries[at];
    match e.kind {
        EntryKind::Hardlink => {
            let t = e.link_target.as_deref().unwrap_or("");
            let target = fs_entries[..at]
                .iter()
                .rev()
                .find(|x| x.layer == e.layer && x.path == t)
                .unwrap_or_else(|| panic!("hard link {} to {t}: target not listed", e.path));
            (
                EntryKind::File,
                target.mode & 0o7777,
                target.size,
                String::new(),
            )
        }
        EntryKind::Symlink => (
            EntryKind::Symlink,
            0,
            0,
            e.link_target.clone().unwrap_or_default(),
        ),
        EntryKind::File => (EntryKind::File, e.mode & 0o7777, e.size, String::new()),
        k => (k, e.mode & 0o7777, 0, String::new()),
    }
}

/// One entry on a line, for failure messages.
fn show(e: &Ent) -> String {
    match e {
        Ent::File { path, mode, data } => format!("file {path:?} {mode:o} {}B", data.len()),
        Ent::Dir { path, mode } => format!("dir  {path:?} {mode:o}"),
        Ent::Symlink { path, target } => format!("sym  {path:?} -> {target:?}"),
        Ent::Hardlink { path, target } => format!("hard {path:?} => {target:?}"),
        Ent::Whiteout(p) => format!("wh   {p:?}"),
        Ent::Opaque(p) => format!("opq  {p:?}"),
        Ent::RawName { name, .. } => format!("raw  {name:?}"),
    }
}

/// Build, unpack and compare one stack; Err says what differs.
fn check_stack(seed: u64, work: &Path) -> Result<(), String> {
    let mut rng = Rng(seed);
    let n = 1 + rng.below(4);
    let mut pool = Vec::new();
    let mut layers = Vec::new();
    let mut written = Vec::new();
    let mut shown = String::new();
    for li in 0..n {
        let (ents, w) = random_layer(&mut rng, li, &mut pool);
        shown.push_str(&format!("\n  layer {li}:"));
        for e in &ents {
            shown.push_str(&format!("\n    {}", show(e)));
        }
        // Debian's umoci 0.4.7 reads no zstd layers (tests/walk.rs covers zstd).
        let comp = *rng.pick(&[Comp::Gzip, Comp::None]);
        layers.push(Layer::new(&ents, comp));
        written.push(w);
    }
    let dir = work.join(format!("s{seed}"));
    let layout_dir = dir.join("layout");
    let mut layout = Layout::new(&layout_dir);
    for m in 0..n {
        let d = layout.add_image(&ImageSpec::new(layers[..=m].to_vec()));
        layout.list(&d, Some(&format!("p{m}")));
    }
    let roots: Vec<_> = (0..n)
        .map(|m| unpack(&layout_dir, &format!("p{m}"), &dir.join(format!("b{m}"))))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{e}{shown}"))?;

    let target = format!("oci:{}:p{}", layout_dir.display(), n - 1);
    let imgs =
        open(&Target::parse(&target)?, &SourceOptions::default()).map_err(|e| e.to_string())?;
    let walk = walk_image(&imgs[0], &Limits::default(), 2, |_| NoopVisitor);
    if !walk.incomplete().is_empty() {
        return Err(format!("incomplete: {:?}", walk.incomplete()));
    }
    let all: Vec<&FileEntry> = walk.fs.entries().collect();

    // Every entry the layers hold is listed, in tar order.
    for (li, w) in written.iter().enumerate() {
        let got: Vec<(&str, EntryKind)> = all
            .iter()
            .filter(|e| e.layer == li)
            .map(|e| (e.path.as_str(), e.kind))
            .collect();
        let want: Vec<(&str, EntryKind)> = w.iter().map(|w| (w.path.as_str(), w.kind)).collect();
        if got != want {
            return Err(format!("layer {li} entries: got {got:?}, wrote {want:?}"));
        }
    }

    // The final view equals the unpacked tree.
    let reference = tree(&roots[n - 1]);
    let index_of: BTreeMap<*const FileEntry, usize> = all
        .iter()
        .enumerate()
        .map(|(i, e)| (*e as *const FileEntry, i))
        .collect();
    let mut view: BTreeMap<String, (EntryKind, u32, u64, String)> = BTreeMap::new();
    for e in walk.fs.visible() {
        view.insert(e.path.clone(), expected(&all, index_of[&(e as *const _)]));
    }
    let refv: BTreeMap<String, (EntryKind, u32, u64, String)> = reference
        .iter()
        .map(|(p, n)| {
            let mode = if n.kind == EntryKind::Symlink {
                0
            } else {
                n.mode
            };
            (p.clone(), (n.kind, mode, n.size, n.target.clone()))
        })
        .collect();
    if view != refv {
        let paths: BTreeSet<&String> = view.keys().chain(refv.keys()).collect();
        let diffs: Vec<String> = paths
            .into_iter()
            .filter(|p| view.get(*p) != refv.get(*p))
            .map(|p| format!("{p:?}: imgscan {:?}, umoci {:?}", view.get(p), refv.get(p)))
            .collect();
        return Err(format!(
            "final view differs:\n  {}{shown}",
            diffs.join("\n  ")
        ));
    }

    // Every file, link and hard link is hidden by the first layer after which it is gone
    // (its own layer when a later entry of that layer replaced it).
    for (li, ws) in written.iter().enumerate() {
        let entries: Vec<&&FileEntry> = all.iter().filter(|e| e.layer == li).collect();
        for (w, e) in ws.iter().zip(entries) {
            if w.kind == EntryKind::Dir {
                continue;
            }
            let want = (li..n).find(|&m| !still_there(&roots[m], w));
            if e.hidden_by != want {
                return Err(format!(
                    "layer {li} {:?} {:?}: imgscan says hidden by {:?}, umoci by {want:?}{shown}",
                    w.kind, w.path, e.hidden_by
                ));
            }
        }
    }
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}

#[test]
fn final_view_and_hidden_entries_match_umoci() {
    let stacks: u64 = std::env::var("IMGSCAN_UMOCI_STACKS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let first: u64 = std::env::var("IMGSCAN_UMOCI_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let tmp = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for seed in first..first + stacks {
        if let Err(e) = check_stack(seed, tmp.path()) {
            failures.push(format!("seed {seed}: {e}"));
            if failures.len() >= 5 {
                break;
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} stack(s) differ from umoci (rerun one with IMGSCAN_UMOCI_SEED=S \
         IMGSCAN_UMOCI_STACKS=1):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
