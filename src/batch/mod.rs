//! Many images at once: the target list (`--targets-file`), a registry's repositories and
//! tags (`catalog.rs`), the deterministic split of that list between workers
//! ([`Shard`]), and the summary printed after the last image ([`Summary`]).
//!
//! ```text
//! imgscan scan --targets-file images.txt --cache-dir /var/cache/imgscan
//! imgscan registry registry.internal:5000/team --tags latest --shard 2/8 \
//!     --cache-backend redis://cache:6379/0 --format jsonl
//! ```
//!
//! A shard is chosen by a hash of the reference, not by its position in the list, so a
//! repository pushed between two runs moves no other image to another shard, and the N
//! shards of one list cover every image exactly once. Scanning itself is `scan.rs`'s; a
//! layer shared by a thousand images is read once because every image goes through one
//! [`crate::cache::LayerCache`].

pub mod catalog;

use crate::report::Report;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;

/// Largest `--targets-file` read.
pub const MAX_TARGETS_FILE_BYTES: u64 = 16 << 20;
/// Most references taken from one list (a file or a registry).
pub const MAX_TARGETS: usize = 100_000;

/// The references in a targets file: one a line; blank lines and `#` comments (whole
/// lines, or after whitespace) skipped.
pub fn parse_targets(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| {
            let l = match l.find(" #").or_else(|| l.find("\t#")) {
                Some(i) => &l[..i],
                None => l,
            };
            l.trim()
        })
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// Read and parse `path` (`-` = standard input), bounded by [`MAX_TARGETS_FILE_BYTES`]
/// and [`MAX_TARGETS`].
pub fn read_targets_file(path: &Path) -> Result<Vec<String>, String> {
    let shown = path.display();
    let mut buf = Vec::new();
    let r = if path == Path::new("-") {
        std::io::stdin()
            .take(MAX_TARGETS_FILE_BYTES + 1)
            .read_to_end(&mut buf)
    } else {
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_TARGETS_FILE_BYTES + 1).read_to_end(&mut buf))
    };
    r.map_err(|e| format!("--targets-file {shown}: {e}"))?;
    if buf.len() as u64 > MAX_TARGETS_FILE_BYTES {
        return Err(format!(
            "--targets-file {shown}: larger than {} MiB",
            MAX_TARGETS_FILE_BYTES >> 20
        ));
    }
    let text = String::from_utf8(buf).map_err(|_| format!("--targets-file {shown}: not UTF-8"))?;
    let t = parse_targets(&text);
    if t.len() > MAX_TARGETS {
        return Err(format!(
            "--targets-file {shown}: {} references, more than {MAX_TARGETS}",
            t.len()
        ));
    }
    Ok(t)
}

/// `--shard I/N`: worker `I` (1-based) of `N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// `"2/8"`; `I` from 1 to `N`. Also `0`-based `"I/N"` is refused, to catch the
    /// off-by-one of `JOB_COMPLETION_INDEX` (use `$((JOB_COMPLETION_INDEX + 1))/N`).
    pub fn parse(s: &str) -> Result<Shard, String> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| format!("--shard {s:?}: expected I/N, e.g. 1/4"))?;
        let index: u32 = i
            .trim()
            .parse()
            .map_err(|_| format!("--shard {s:?}: I is not a number"))?;
        let count: u32 = n
            .trim()
            .parse()
            .map_err(|_| format!("--shard {s:?}: N is not a number"))?;
        if count == 0 || index == 0 || index > count {
            return Err(format!(
                "--shard {s:?}: I must be from 1 to N (shards are numbered 1..=N)"
            ));
        }
        Ok(Shard { index, count })
    }

    /// The shard of a Kubernetes Indexed Job's pod: `index` is its 0-based
    /// `JOB_COMPLETION_INDEX`, `count` the Job's completions.
    pub fn from_job_index(index: &str, count: u32) -> Result<Shard, String> {
        let i: u32 = index
            .trim()
            .parse()
            .map_err(|_| format!("JOB_COMPLETION_INDEX {index:?} is not a number"))?;
        Shard::parse(&format!("{}/{count}", i.saturating_add(1)))
    }

    /// Whether `reference` belongs to this shard.
    pub fn has(&self, reference: &str) -> bool {
        let h = Sha256::digest(reference.as_bytes());
        let n = u64::from_be_bytes(h[..8].try_into().unwrap_or([0; 8]));
        n % u64::from(self.count) == u64::from(self.index - 1)
    }

    /// The references of this shard, in their order.
    pub fn select(&self, all: Vec<String>) -> Vec<String> {
        all.into_iter().filter(|r| self.has(r)).collect()
    }
}

/// What a registry-wide or list scan did, for the table after the last image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub images: u64,
    pub clean: u64,
    /// Findings at or above `--fail-on`.
    pub findings: u64,
    pub incomplete: u64,
    /// Targets that could not be opened at all.
    pub errors: u64,
    pub layers: u64,
    pub layers_from_cache: u64,
}

impl Summary {
    /// Count one image's report (after ignore rules), `layers` and `cached` from its scan.
    pub fn add(
        &mut self,
        r: &Report,
        fail_on: Option<crate::findings::Severity>,
        layers: usize,
        cached: usize,
    ) {
        self.images += 1;
        self.layers += layers as u64;
        self.layers_from_cache += cached as u64;
        if !r.incomplete.is_empty() {
            self.incomplete += 1;
        } else if fail_on.is_some_and(|t| r.max_severity().is_some_and(|s| s >= t)) {
            self.findings += 1;
        } else {
            self.clean += 1;
        }
    }

    /// The table, one row a figure.
    pub fn table(&self) -> String {
        let rows = [
            ("images", self.images),
            ("  clean", self.clean),
            ("  findings at --fail-on", self.findings),
            ("  incomplete", self.incomplete),
            ("targets not opened", self.errors),
            ("layers", self.layers),
            (
                "  read",
                self.layers - self.layers_from_cache.min(self.layers),
            ),
            ("  from cache", self.layers_from_cache),
        ];
        let mut out = String::from("summary\n");
        for (k, v) in rows {
            out += &format!("  {k:<26}{v:>10}\n");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_files_skip_comments() {
        let t = parse_targets("# images\nnginx:1.27\n\n  alpine #base\nregistry:5000/a@sha256:x\n");
        assert_eq!(t, ["nginx:1.27", "alpine", "registry:5000/a@sha256:x"]);
    }

    #[test]
    fn shards_cover_every_reference_once() {
        let all: Vec<String> = (0..200).map(|i| format!("r/img{i}:latest")).collect();
        let mut seen = Vec::new();
        for i in 1..=3 {
            let s = Shard::parse(&format!("{i}/3")).unwrap();
            let part = s.select(all.clone());
            assert!(!part.is_empty());
            seen.extend(part);
        }
        seen.sort();
        let mut want = all.clone();
        want.sort();
        assert_eq!(seen, want);
        assert!(Shard::parse("0/3").is_err());
        assert!(Shard::parse("4/3").is_err());
        assert!(Shard::parse("1/0").is_err());
        assert!(Shard::parse("x").is_err());
        assert_eq!(
            Shard::from_job_index("0", 3).unwrap(),
            Shard::parse("1/3").unwrap()
        );
        assert!(Shard::from_job_index("3", 3).is_err());
    }
}
