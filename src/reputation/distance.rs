//! Edit distance for name reputation: restricted Damerau-Levenshtein (optimal string
//! alignment) on normalised names, and the deletion neighbourhoods (SymSpell) that let
//! `index.rs` find every trusted name within distance 1 or 2 of a candidate with one hash
//! lookup per candidate deletion instead of a pairwise scan of the corpus.

use super::index::{delete_at, skeleton, Technique};

/// Shortest normalised trusted name for which any Damerau-Levenshtein distance 1 counts.
pub(super) const MIN_DISTANCE_LEN: usize = 5;
/// Shortest normalised trusted name for which distance 2 counts.
pub(super) const MIN_DISTANCE2_LEN: usize = 9;
/// Longest normalised name put through the distance index (bounds the deletion
/// neighbourhood of a hostile candidate: at most 1 + 30 + 435 keys).
pub(super) const MAX_DISTANCE_LEN: usize = 30;

/// The distance a trusted name of normalised length `len` tolerates.
pub(super) fn max_distance(len: usize) -> usize {
    if len >= MIN_DISTANCE2_LEN {
        2
    } else if len >= MIN_DISTANCE_LEN {
        1
    } else {
        0
    }
}

/// Every string made by deleting up to `depth` characters of `s` (including `s`).
pub(super) fn deletions_upto(s: &str, depth: usize, out: &mut Vec<String>) {
    out.push(s.to_string());
    let mut frontier = vec![s.to_string()];
    for _ in 0..depth {
        let mut next = Vec::new();
        for w in &frontier {
            for i in 0..w.len() {
                next.push(delete_at(w, i));
            }
        }
        next.sort_unstable();
        next.dedup();
        out.extend(next.iter().cloned());
        frontier = next;
    }
}

/// Optimal-string-alignment (restricted Damerau-Levenshtein) distance, capped: returns
/// `cap + 1` as soon as the distance must exceed `cap`.
pub fn osa_distance(a: &[u8], b: &[u8], cap: usize) -> usize {
    if a.len().abs_diff(b.len()) > cap {
        return cap + 1;
    }
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    for i in 0..=a.len() {
        d[i * w] = i;
    }
    for (j, v) in d.iter_mut().enumerate().take(w) {
        *v = j;
    }
    for i in 1..=a.len() {
        let mut row_min = usize::MAX;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[(i - 1) * w + j] + 1)
                .min(d[i * w + j - 1] + 1)
                .min(d[(i - 1) * w + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[(i - 2) * w + j - 2] + 1);
            }
            d[i * w + j] = v;
            row_min = row_min.min(v);
        }
        if row_min > cap {
            return cap + 1;
        }
    }
    d[a.len() * w + b.len()]
}

/// Whether two names differ only in their digits (`redis6`, `base-debian11` vs
/// `base-debian12`): version variants, not lookalikes.
pub(super) fn only_digits_differ(a: &str, b: &str) -> bool {
    let strip = |s: &str| -> String { s.chars().filter(|c| !c.is_ascii_digit()).collect() };
    strip(a) == strip(b)
}

/// The technique for a candidate at distance `d` from `target`: a plain substitution when
/// exactly one character differs, else the distance itself.
pub(super) fn describe_edit(cand: &str, target: &str, d: usize) -> Technique {
    let (c, t) = (cand.as_bytes(), target.as_bytes());
    if d == 1 && c.len() == t.len() {
        let diff: Vec<usize> = (0..c.len()).filter(|&i| c[i] != t[i]).collect();
        if let [i] = diff.as_slice() {
            return Technique::Substitution {
                from: char::from(t[*i]),
                to: char::from(c[*i]),
            };
        }
    }
    Technique::Distance(d.min(255) as u8)
}

/// Judge a namespace against one known publisher of the repository it carries (the full
/// name as a unit): within distance 2 of a 5+ character namespace (1 for 3-4
/// characters), after normalisation. `None` when equal or farther.
pub fn namespace_near_publisher(ns: &str, publisher: &str) -> Option<Technique> {
    if !ns.is_ascii() || ns == publisher {
        return None;
    }
    let (a, b) = (skeleton(ns), skeleton(publisher));
    if a.len() > MAX_DISTANCE_LEN || b.len() > MAX_DISTANCE_LEN {
        return None;
    }
    let cap = match b.len() {
        0..=2 => return None,
        3..=4 => 1,
        _ => 2,
    };
    if a == b {
        return Some(Technique::Lookalike {
            from: String::new(),
            to: String::new(),
        });
    }
    let d = osa_distance(a.as_bytes(), b.as_bytes(), cap);
    if d > cap || only_digits_differ(ns, publisher) {
        return None;
    }
    Some(describe_edit(ns, publisher, d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_index_finds_what_a_pairwise_scan_finds() {
        let names = [
            "hashicorp",
            "jenkins",
            "grafana",
            "kube-proxy",
            "coredns",
            "nginx",
            "prom",
            "storm",
        ];
        let i = super::super::index::Index::build(
            names.into_iter(),
            std::iter::empty(),
            std::iter::empty(),
        );
        let scan = |cand: &str| -> Option<String> {
            let sk = skeleton(cand);
            names
                .iter()
                .filter(|n| {
                    let t = skeleton(n);
                    let cap = max_distance(t.len());
                    let d = osa_distance(sk.as_bytes(), t.as_bytes(), cap);
                    d >= 1 && d <= cap && (d < 2 || sk.as_bytes()[0] == t.as_bytes()[0])
                })
                .map(|n| n.to_string())
                .min_by_key(|n| {
                    (
                        osa_distance(sk.as_bytes(), skeleton(n).as_bytes(), 9),
                        n.clone(),
                    )
                })
        };
        for cand in [
            "hashicorb",
            "hashicrop",
            "hasicorb",
            "jenkinz",
            "jenkin",
            "grafama",
            "kube-prxoy",
            "kubeproxi",
            "coredsn",
            "ngimx",
            "store",
            "prod",
            "pron",
            "xashicorb",
            "totally",
        ] {
            let got = i.official.near(cand).map(|m| m.target);
            assert_eq!(got, scan(cand), "{cand}");
        }
        // 4-letter names tolerate no bare edit; digits alone are versions.
        assert_eq!(i.official.near("prod"), None);
        assert_eq!(i.official.near("nginx2"), None);
    }

    #[test]
    fn osa_distance_counts_transpositions_as_one() {
        assert_eq!(osa_distance(b"ab", b"ba", 2), 1);
        assert_eq!(osa_distance(b"hashicorp", b"hashicorb", 2), 1);
        assert_eq!(osa_distance(b"jenkins", b"jemkims", 2), 2);
        assert_eq!(osa_distance(b"abc", b"xyzabc", 2), 3, "capped at cap + 1");
        assert_eq!(osa_distance(b"", b"", 2), 0);
    }
}
