//! The literal searcher the content analyzer runs over every byte of every file.
//!
//! One Aho-Corasick DFA over all ~200 literals steps one byte at a time (about 400 MB/s
//! here, slower than decompression, so it bounded the whole scan). The crate's packed
//! (Teddy, SIMD) searcher runs at several GB/s, but takes at most a few dozen patterns
//! before its fingerprints stop filtering. So the literals are sorted (patterns sharing a
//! prefix land in the same Teddy bucket, which keeps false candidates down) and split into
//! groups of at most [`GROUP`]; each group is one packed searcher, and every group runs
//! over the same in-cache buffer. On the Debian rootfs layer that is about 1 GB/s for the
//! whole set. Where the CPU has no Teddy (no SSSE3/AVX2 or NEON), one DFA is used instead.
//!
//! Results are the same either way: leftmost-longest, non-overlapping across the whole set
//! (the groups' matches are merged as one leftmost-longest search would pick them), so a
//! literal wholly inside a longer one at the same place is reported as the longer one only.

use aho_corasick::{packed, AhoCorasick, AhoCorasickKind, Match, MatchKind, Span};
use std::cmp::Reverse;

/// Patterns per packed searcher. Up to 32 gets the slim (32 bytes a step) AVX2 Teddy.
/// Measured as the analyzers' time over the Debian rootfs tar (`bench_analyzers
/// --one-thread`, 12 interleaved runs, best / median): 16: 0.195 / 0.233 s,
/// 24: 0.157 / 0.186, 32: 0.144 / 0.160, 48: 0.173 / 0.189, 64: 0.156 / 0.179.
const GROUP: usize = 32;

/// A match: pattern index (as given to [`LiteralSet::new`]), start, end.
pub type Found = (usize, usize, usize);

/// Every literal signature, compiled for search.
#[derive(Debug)]
pub struct LiteralSet {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    /// Packed searchers, each with its local pattern index → caller's pattern index.
    Packed(Vec<(packed::Searcher, Vec<usize>)>),
    Dfa(AhoCorasick),
}

impl LiteralSet {
    /// Compile `literals` (non-empty byte strings).
    pub fn new(literals: &[Vec<u8>]) -> Result<LiteralSet, aho_corasick::BuildError> {
        if let Some(groups) = packed_groups(literals) {
            return Ok(LiteralSet {
                kind: Kind::Packed(groups),
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
            Kind::Packed(_) => "packed",
            Kind::Dfa(_) => "dfa",
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
            Kind::Packed(groups) => {
                // Leftmost-longest over the union, exactly: from `pos`, the match that
                // starts first (longest at that start) among each group's next match
                // at or after `pos`. A group's cached match that a kept match overlaps
                // is searched again from `pos`, so nothing hidden by it is lost.
                let span = |from: usize| Span::from(from..hay.len());
                let mut next: Vec<Option<Match>> = groups
                    .iter()
                    .map(|(s, _)| s.find_in(hay, span(0)))
                    .collect();
                let mut pos = 0;
                loop {
                    let mut best: Option<(usize, Match)> = None;
                    for (g, slot) in next.iter_mut().enumerate() {
                        if slot.is_some_and(|m| m.start() < pos) {
                            *slot = groups[g].0.find_in(hay, span(pos));
                        }
                        if let Some(m) = *slot {
                            let key = |m: &Match| (m.start(), Reverse(m.end()));
                            if best.as_ref().is_none_or(|(_, b)| key(&m) < key(b)) {
                                best = Some((g, m));
                            }
                        }
                    }
                    let Some((g, m)) = best else { break };
                    out.push((groups[g].1[m.pattern().as_usize()], m.start(), m.end()));
                    pos = m.end().max(m.start() + 1);
                    next[g] = if pos <= hay.len() {
                        groups[g].0.find_in(hay, span(pos))
                    } else {
                        None
                    };
                }
            }
        }
    }
}

/// Sorted groups of packed searchers, or `None` when any cannot be built (no SIMD Teddy
/// on this CPU, or a pattern set it refuses).
fn packed_groups(literals: &[Vec<u8>]) -> Option<Vec<(packed::Searcher, Vec<usize>)>> {
    if literals.is_empty() {
        return None;
    }
    let mut order: Vec<usize> = (0..literals.len()).collect();
    order.sort_by(|&a, &b| literals[a].cmp(&literals[b]));
    let n = literals.len().div_ceil(GROUP);
    let per = literals.len().div_ceil(n);
    order
        .chunks(per)
        .map(|ids| {
            let s = packed::Config::new()
                .match_kind(packed::MatchKind::LeftmostLongest)
                .heuristic_pattern_limits(false)
                .builder()
                .extend(ids.iter().map(|&i| &literals[i]))
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
