//! The literal searcher the content analyzer runs over every byte of every file.
//!
//! One Aho-Corasick DFA over all ~200 literals steps one byte at a time (about 400 MB/s
//! here, slower than decompression, so it bounded the whole scan). The crate's packed
//! (Teddy, SIMD) searcher runs at several GB/s while its fingerprints (nibbles of a
//! pattern's first bytes, shared by the patterns of a bucket) rarely match; the more
//! patterns per searcher, the more positions are false candidates to verify, and on
//! binaries that verification, not the passes, is where the time goes.
//!
//! So the packed searchers look for *anchors*, not the literals: a small set of
//! substrings (at least [`ANCHOR_MIN`] bytes, or the whole literal when shorter) that
//! between them occur in every literal, picked greedily to cover the most literals each
//! (`pool` is in 37 pool domains; `mining`, `monero`, `tratum`...). A hit on an anchor is
//! checked against the literals it stands for. The ~210 built-in literals need about 60
//! anchors, searched in groups of [`GROUP`]. Where the CPU has no Teddy (no SSSE3/AVX2
//! or NEON), one DFA over the literals is used instead.
//!
//! Results are the same either way: leftmost-longest, non-overlapping across the whole set
//! (every occurrence is found, then kept as one leftmost-longest search would pick them),
//! so a literal wholly inside a longer one at the same place is reported as the longer
//! one only.

use aho_corasick::{packed, AhoCorasick, AhoCorasickKind, MatchKind, Span};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

/// Anchors per packed searcher (slim AVX2 Teddy, 8 buckets). Measured as the search
/// alone over the Debian bookworm minbase rootfs tar in 64 KiB chunks, on a loaded
/// machine, best of 3 runs ×3: anchors in groups of 8: 137 ms, 12: 111, 16: 87,
/// 24: 91, 64: 254; the literals themselves (no anchors) in groups of 32, as before:
/// 140–167 ms. (Seven passes of literals and two passes of anchors in groups of 32 cost
/// about the same: the false candidates, not the passes, dominate.)
const GROUP: usize = 16;

/// A match: pattern index (as given to [`LiteralSet::new`]), start, end.
pub type Found = (usize, usize, usize);

/// Every literal signature, compiled for search.
#[derive(Debug)]
pub struct LiteralSet {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Anchored(Anchored),
    Dfa(AhoCorasick),
}

/// The anchor search: packed searchers over the anchors, and for each anchor the
/// literals it stands for.
#[derive(Debug)]
struct Anchored {
    /// Packed searchers, each with its local pattern index → anchor index.
    groups: Vec<(packed::Searcher, Vec<usize>)>,
    anchors: Vec<Vec<u8>>,
    /// Anchor index → the literals it stands for, as a trie over what follows the anchor.
    after: Vec<Around>,
    /// The distinct literals, each with the lowest caller index that gave it.
    literals: Vec<(Vec<u8>, usize)>,
}

/// The literals one anchor stands for, arranged so a hit costs the bytes it shares with
/// them, not one comparison per literal: a trie over the bytes *after* the anchor, whose
/// nodes where literals end hold a trie over the bytes *before* it (read backwards),
/// whose nodes hold the literals. `pool` stands for 37 pool domains; 64 MiB of `pool`
/// repeated checked each of them at each of its 16 million hits (2.27 s); now a hit
/// reads one byte past the anchor and finds no branch.
#[derive(Debug, Default)]
struct Around {
    after: Trie,
    /// Backward tries, indexed by the `here` values of `after`.
    before: Vec<Trie>,
}

/// A byte trie; `here` holds what ends at a node.
#[derive(Debug)]
struct Trie {
    nodes: Vec<Node>,
}

#[derive(Debug, Default)]
struct Node {
    next: Vec<(u8, u32)>,
    here: Vec<u32>,
}

impl Default for Trie {
    fn default() -> Self {
        Trie {
            nodes: vec![Node::default()],
        }
    }
}

impl Trie {
    /// The node `bytes` lead to from the root, made as needed.
    fn insert(&mut self, bytes: impl Iterator<Item = u8>) -> usize {
        let mut n = 0;
        for b in bytes {
            n = match self.nodes[n].next.iter().find(|(c, _)| *c == b) {
                Some(&(_, m)) => m as usize,
                None => {
                    let m = self.nodes.len();
                    self.nodes.push(Node::default());
                    self.nodes[n].next.push((b, m as u32));
                    m
                }
            };
        }
        n
    }

    fn step(&self, n: usize, b: u8) -> Option<usize> {
        self.nodes[n]
            .next
            .iter()
            .find(|(c, _)| *c == b)
            .map(|&(_, m)| m as usize)
    }
}

impl Around {
    fn new(
        anchor_len: usize,
        stands_for: &[(usize, usize)],
        literals: &[(Vec<u8>, usize)],
    ) -> Around {
        let mut a = Around::default();
        for &(l, off) in stands_for {
            let lit = &literals[l].0;
            let n = a.after.insert(lit[off + anchor_len..].iter().copied());
            let before = match a.after.nodes[n].here.first() {
                Some(&b) => b as usize,
                None => {
                    a.before.push(Trie::default());
                    a.after.nodes[n].here.push((a.before.len() - 1) as u32);
                    a.before.len() - 1
                }
            };
            let m = a.before[before].insert(lit[..off].iter().rev().copied());
            a.before[before].nodes[m].here.push(l as u32);
        }
        a
    }

    /// Every literal this anchor stands for that occurs in `hay` around the anchor at
    /// `at..end`, as literal indices with their start. Returns the trie nodes visited
    /// (the work done, which tests bound).
    fn find(
        &self,
        hay: &[u8],
        at: usize,
        end: usize,
        found: &mut impl FnMut(usize, usize),
    ) -> usize {
        let mut n = 0;
        let mut pos = end;
        let mut visited = 1;
        loop {
            for &b in &self.after.nodes[n].here {
                let t = &self.before[b as usize];
                let (mut m, mut s) = (0, at);
                visited += 1;
                loop {
                    for &l in &t.nodes[m].here {
                        found(l as usize, s);
                    }
                    let Some(next) = s.checked_sub(1).and_then(|p| t.step(m, hay[p])) else {
                        break;
                    };
                    (m, s) = (next, s - 1);
                    visited += 1;
                }
            }
            let Some(next) = hay.get(pos).and_then(|&c| self.after.step(n, c)) else {
                break;
            };
            (n, pos) = (next, pos + 1);
            visited += 1;
        }
        visited
    }
}

/// The literals one anchor stands for: (index into [`Anchored::literals`], the anchor's
/// offset in that literal).
type StandsFor = Vec<(usize, usize)>;

/// Shortest anchor, unless the literal itself is shorter. With four, the built-in
/// anchors occur about 52,000 times in the whole Debian bookworm minbase rootfs tar
/// (counted), so checking hits costs little; shorter anchors would cover more literals
/// each but match far more often (not measured).
const ANCHOR_MIN: usize = 4;
/// Longest anchor tried: Teddy fingerprints only the first three bytes, so a longer
/// anchor only cuts the hits to verify.
const ANCHOR_MAX: usize = 8;

impl LiteralSet {
    /// Compile `literals` (non-empty byte strings).
    pub fn new(literals: &[Vec<u8>]) -> Result<LiteralSet, aho_corasick::BuildError> {
        if let Some(a) = Anchored::new(literals) {
            return Ok(LiteralSet {
                kind: Kind::Anchored(a),
            });
        }
        let dfa = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .kind(Some(AhoCorasickKind::DFA))
            .build(literals)
            .or_else(|_| {
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostLongest)
                    .build(literals)
            })?;
        Ok(LiteralSet {
            kind: Kind::Dfa(dfa),
        })
    }

    /// Which search runs (`"packed"` or `"dfa"`), for benchmarks and diagnostics.
    pub fn strategy(&self) -> &'static str {
        match self.kind {
            Kind::Anchored(_) => "packed",
            Kind::Dfa(_) => "dfa",
        }
    }

    /// How many packed passes run over each byte (0 for the DFA), for diagnostics.
    pub fn passes(&self) -> usize {
        match &self.kind {
            Kind::Anchored(a) => a.groups.len(),
            Kind::Dfa(_) => 0,
        }
    }

    /// Replace `out` with every match in `hay`, leftmost-longest and non-overlapping,
    /// in order of start.
    pub fn find_all(&self, hay: &[u8], out: &mut Vec<Found>) {
        out.clear();
        match &self.kind {
            Kind::Dfa(ac) => {
                out.extend(
                    ac.find_iter(hay)
                        .map(|m| (m.pattern().as_usize(), m.start(), m.end())),
                );
            }
            Kind::Anchored(a) => a.find_all(hay, out),
        }
    }
}

impl Anchored {
    /// `None` when there are no literals or a packed searcher cannot be built (no SIMD
    /// Teddy on this CPU).
    fn new(given: &[Vec<u8>]) -> Option<Anchored> {
        if given.is_empty() || given.iter().any(|l| l.is_empty()) {
            return None;
        }
        let mut literals: Vec<(Vec<u8>, usize)> = Vec::new();
        let mut seen: HashSet<&[u8]> = HashSet::new();
        for (i, l) in given.iter().enumerate() {
            if seen.insert(l) {
                literals.push((l.clone(), i));
            }
        }
        let (anchors, stands_for) = pick_anchors(&literals);
        let groups = packed_groups(&anchors)?;
        let after = anchors
            .iter()
            .zip(&stands_for)
            .map(|(a, sf)| Around::new(a.len(), sf, &literals))
            .collect();
        Some(Anchored {
            groups,
            anchors,
            after,
            literals,
        })
    }

    fn find_all(&self, hay: &[u8], out: &mut Vec<Found>) {
        // Every literal occurrence, from every position where an anchor starts: each
        // group is searched again from one past its last hit, so overlapping hits are
        // all seen; at a hit, every anchor of that group starting there is checked
        // (one anchor may be a prefix of another).
        for (searcher, ids) in &self.groups {
            let mut pos = 0;
            while pos < hay.len() {
                let Some(m) = searcher.find_in(hay, Span::from(pos..hay.len())) else {
                    break;
                };
                let at = m.start();
                for &a in ids {
                    let anchor = &self.anchors[a];
                    if !hay[at..].starts_with(anchor) {
                        continue;
                    }
                    self.after[a].find(hay, at, at + anchor.len(), &mut |l, s| {
                        let (lit, idx) = &self.literals[l];
                        out.push((*idx, s, s + lit.len()));
                    });
                }
                pos = at + 1;
            }
        }
        // Leftmost-longest, non-overlapping over the union: by start, longest first
        // (then the lowest caller index, as one automaton would report), each kept
        // match starting at or after the end of the one kept before it.
        out.sort_unstable_by_key(|&(p, s, e)| (s, Reverse(e), p));
        let mut next = 0;
        out.retain(|&(_, s, e)| {
            if s < next {
                return false;
            }
            next = e.max(s + 1);
            true
        });
    }
}

/// Anchors for `literals`: substrings of [`ANCHOR_MIN`]..=[`ANCHOR_MAX`] bytes (the
/// literal itself when shorter), chosen greedily, each covering the most literals not
/// yet covered (the longer on a tie, then the smaller bytes, so the choice is
/// deterministic). Returns the anchors and, for each, the (literal, offset) pairs it
/// stands for; every literal is stood for by exactly one anchor.
fn pick_anchors(literals: &[(Vec<u8>, usize)]) -> (Vec<Vec<u8>>, Vec<StandsFor>) {
    // Candidate substring → the literals holding it, each with its first offset. Every
    // scan's start builds this (each ANCHOR_MIN..=ANCHOR_MAX-byte substring of each
    // literal): foldhash, not SipHash; the choice below does not depend on map order.
    let mut holders: HashMap<&[u8], Vec<(usize, usize)>, foldhash::fast::RandomState> =
        HashMap::default();
    for (i, (l, _)) in literals.iter().enumerate() {
        let lo = ANCHOR_MIN.min(l.len());
        for n in lo..=ANCHOR_MAX.min(l.len()) {
            for off in 0..=l.len() - n {
                let v = holders.entry(&l[off..off + n]).or_default();
                if v.last().is_none_or(|&(j, _)| j != i) {
                    v.push((i, off));
                }
            }
        }
    }
    // Lazy greedy: a candidate's cover only shrinks, so one popped whose recounted
    // cover still beats the next in the heap is the best.
    let mut heap: BinaryHeap<(usize, usize, Reverse<&[u8]>)> = holders
        .iter()
        .map(|(k, v)| (v.len(), k.len(), Reverse(*k)))
        .collect();
    let mut covered = vec![false; literals.len()];
    let mut left = literals.len();
    let (mut anchors, mut stands_for) = (Vec::new(), Vec::new());
    while left > 0 {
        let Some((_, len, Reverse(k))) = heap.pop() else {
            break;
        };
        let live: Vec<(usize, usize)> = holders[k]
            .iter()
            .copied()
            .filter(|&(i, _)| !covered[i])
            .collect();
        if live.is_empty() {
            continue;
        }
        let now = (live.len(), len, Reverse(k));
        if heap.peek().is_some_and(|top| *top > now) {
            heap.push(now);
            continue;
        }
        for &(i, _) in &live {
            covered[i] = true;
        }
        left -= live.len();
        anchors.push(k.to_vec());
        stands_for.push(live);
    }
    (anchors, stands_for)
}

/// Sorted groups of packed searchers, or `None` when any cannot be built (no SIMD Teddy
/// on this CPU, or a pattern set it refuses).
fn packed_groups(patterns: &[Vec<u8>]) -> Option<Vec<(packed::Searcher, Vec<usize>)>> {
    if patterns.is_empty() {
        return None;
    }
    let mut order: Vec<usize> = (0..patterns.len()).collect();
    order.sort_by(|&a, &b| patterns[a].cmp(&patterns[b]));
    let n = patterns.len().div_ceil(GROUP);
    let per = patterns.len().div_ceil(n);
    order
        .chunks(per)
        .map(|ids| {
            let s = packed::Config::new()
                .match_kind(packed::MatchKind::LeftmostLongest)
                .heuristic_pattern_limits(false)
                .builder()
                .extend(ids.iter().map(|&i| &patterns[i]))
                .build()?;
            Some((s, ids.to_vec()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lits(v: &[&str]) -> Vec<Vec<u8>> {
        v.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    /// Pseudo-random patterns and haystacks, so both strategies see many shapes.
    fn corpus() -> (Vec<Vec<u8>>, Vec<u8>) {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let alpha = b"abcd-|\" .";
        let mut pats = Vec::new();
        while pats.len() < 200 {
            let len = 3 + (next() % 6) as usize;
            let p: Vec<u8> = (0..len)
                .map(|_| alpha[(next() % alpha.len() as u64) as usize])
                .collect();
            if !pats.contains(&p) {
                pats.push(p);
            }
        }
        let hay = (0..200_000)
            .map(|_| alpha[(next() % alpha.len() as u64) as usize])
            .collect();
        (pats, hay)
    }

    #[test]
    fn packed_and_dfa_agree() {
        let (pats, hay) = corpus();
        let set = LiteralSet::new(&pats).unwrap();
        let dfa = LiteralSet {
            kind: Kind::Dfa(
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostLongest)
                    .build(&pats)
                    .unwrap(),
            ),
        };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        set.find_all(&hay, &mut a);
        dfa.find_all(&hay, &mut b);
        assert!(b.len() > 1000, "the corpus must exercise the search");
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
        assert_eq!(
            set.strategy(),
            "packed",
            "Teddy is there on x86_64 and aarch64"
        );
        assert_eq!(a, b);
        for &(p, s, e) in &a {
            assert_eq!(&hay[s..e], &pats[p][..]);
        }
        assert!(
            a.windows(2).all(|w| w[0].2 <= w[1].1),
            "non-overlapping, in order"
        );
    }

    #[test]
    fn longer_literal_wins_across_groups() {
        // 130 patterns make five groups; the short one sorts far from the long one.
        let mut v = lits(&["Usage: xmrig [OPTIONS]", "xmrig"]);
        v.extend((0..128).map(|i| format!("zz{i:03}q").into_bytes()));
        let set = LiteralSet::new(&v).unwrap();
        let mut out = Vec::new();
        set.find_all(b"..Usage: xmrig [OPTIONS] and xmrig again", &mut out);
        assert_eq!(out, vec![(0, 2, 24), (1, 29, 34)]);
    }

    /// 64 MiB of `pool` took 2.27 s when each hit checked the 37 pool domains `pool`
    /// stands for. Now a hit costs the bytes it shares with them: counted as trie nodes
    /// visited, for every built-in anchor repeated back to back.
    #[test]
    fn a_repeated_anchor_costs_a_few_steps_per_hit_not_one_per_literal() {
        let sigs = crate::signatures::Signatures::embedded().unwrap();
        let Kind::Anchored(a) = &sigs.literals.kind else {
            return; // no Teddy on this CPU: the DFA has no per-hit checks
        };
        let pool = a.anchors.iter().position(|x| x == b"pool").unwrap();
        let stands = a.after[pool]
            .before
            .iter()
            .map(|t| t.nodes.iter().map(|n| n.here.len()).sum::<usize>())
            .sum::<usize>();
        assert!(stands >= 30, "`pool` stands for {stands} literals");
        // Back to back, a hit costs at most the bytes of the literals around it (which
        // may really be there: `.169.254` repeated holds `169.254.169.254`); `pool`
        // repeated holds none of its 37, and costs a few nodes a hit.
        for (i, anchor) in a.anchors.iter().enumerate() {
            let hay = anchor.repeat(1000);
            let (mut visited, mut hits) = (0, 0);
            let mut at = 0;
            while at + anchor.len() <= hay.len() {
                visited += a.after[i].find(&hay, at, at + anchor.len(), &mut |_, _| {});
                hits += 1;
                at += anchor.len();
            }
            let longest = a.literals.iter().map(|l| l.0.len()).max().unwrap_or(0);
            let bound = if i == pool { 4 } else { 2 * (longest + 1) };
            assert!(
                visited <= bound * hits,
                "anchor {:?}: {visited} nodes for {hits} hits",
                String::from_utf8_lossy(anchor)
            );
        }
        // And the search finds the domains in it still.
        let mut hay = b"pool".repeat(1 << 14);
        hay.extend_from_slice(b" xmr-eu1.nanopool.org usxmrpool.com");
        let mut out = Vec::new();
        sigs.literals.find_all(&hay, &mut out);
        let got: Vec<&[u8]> = out.iter().map(|&(_, s, e)| &hay[s..e]).collect();
        assert_eq!(got, [&b"nanopool.org"[..], b"usxmrpool.com"]);
    }

    #[test]
    fn short_haystacks_and_empty_sets() {
        let set = LiteralSet::new(&lits(&["abc", "| sh"])).unwrap();
        let mut out = Vec::new();
        set.find_all(b"ab", &mut out);
        assert!(out.is_empty());
        set.find_all(b"x| sh", &mut out);
        assert_eq!(out, vec![(1, 1, 5)]);
        let empty = LiteralSet::new(&[]).unwrap();
        empty.find_all(b"anything", &mut out);
        assert!(out.is_empty());
    }
}
