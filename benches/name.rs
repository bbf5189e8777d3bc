//! `cargo bench --bench name`: time to judge 10,000 generated image names against the
//! embedded corpus on one core (parse + judge). Target: ≤ 50 µs per name.
//!
//! Names are generated deterministically: a third are one-edit mutations of official
//! names and trusted namespaces (so the index finds matches), a third random namespaces
//! with official or random image names, a third on other registries (trusted, lookalike,
//! private with ports), with tags or digests.

use imgscan::reference::Reference;
use imgscan::reputation::{judge, Corpus};
use std::time::Instant;

const N: usize = 10_000;
const OFFICIAL: &[&str] = &[
    "nginx",
    "ubuntu",
    "redis",
    "postgres",
    "alpine",
    "python",
    "node",
    "golang",
    "mongo",
    "mysql",
    "wordpress",
    "httpd",
    "debian",
    "busybox",
    "traefik",
    "hello-world",
];
const NAMESPACES: &[&str] = &[
    "bitnami",
    "grafana",
    "prom",
    "hashicorp",
    "linuxserver",
    "portainer",
    "rancher",
    "library",
];
const REGISTRIES: &[&str] = &[
    "ghcr.io",
    "quay.io",
    "gcr.io",
    "ghrc.io",
    "d0cker.io",
    "localhost:5000",
    "registry.example.com:8443",
    "registry.k8s.io",
    "quay.io.mirror.example",
];
const ALPHA: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
    fn word(&mut self, min: usize, max: usize) -> String {
        let len = min + (self.next() % (max - min + 1) as u64) as usize;
        (0..len)
            .map(|_| ALPHA[(self.next() % ALPHA.len() as u64) as usize] as char)
            .collect()
    }
    /// One random edit: omission, repetition, swap, substitution, separator or affix.
    fn mutate(&mut self, s: &str) -> String {
        let mut b: Vec<u8> = s.bytes().collect();
        let i = (self.next() % b.len() as u64) as usize;
        match self.next() % 6 {
            0 if b.len() > 1 => {
                b.remove(i);
            }
            1 => b.insert(i, b[i]),
            2 if i + 1 < b.len() => b.swap(i, i + 1),
            3 => b[i] = ALPHA[(self.next() % ALPHA.len() as u64) as usize],
            4 if i > 0 && i + 1 < b.len() => b.insert(i, b'-'),
            _ => b.extend_from_slice(b"-official"),
        }
        String::from_utf8(b).unwrap()
    }
}

fn names() -> Vec<String> {
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    (0..N)
        .map(|i| {
            let tag = match r.next() % 3 {
                0 => String::new(),
                1 => format!(":{}.{}", r.next() % 20, r.next() % 10),
                _ => format!("@sha256:{:064x}", r.next() as u128 * r.next() as u128),
            };
            let name = match i % 3 {
                0 => {
                    if r.next().is_multiple_of(2) {
                        let base = r.pick(OFFICIAL);
                        r.mutate(base)
                    } else {
                        let ns = r.pick(NAMESPACES);
                        format!("{}/{}", r.mutate(ns), r.pick(OFFICIAL))
                    }
                }
                1 => {
                    let img = if r.next().is_multiple_of(2) {
                        r.pick(OFFICIAL).to_string()
                    } else {
                        r.word(3, 14)
                    };
                    format!("{}/{img}", r.word(3, 12))
                }
                _ => format!("{}/{}/{}", r.pick(REGISTRIES), r.word(2, 10), r.word(2, 16)),
            };
            format!("{name}{tag}")
        })
        .collect()
}

fn main() {
    let t = Instant::now();
    let corpus = Corpus::embedded();
    let load = t.elapsed();
    let names = names();
    let mut best = f64::MAX;
    let mut flagged = 0;
    let mut invalid = 0;
    for _ in 0..5 {
        flagged = 0;
        invalid = 0;
        let t = Instant::now();
        for n in &names {
            match Reference::parse(n) {
                Ok(r) => flagged += usize::from(!judge(&r, &corpus).is_empty()),
                Err(_) => invalid += 1,
            }
        }
        let per = t.elapsed().as_secs_f64() * 1e6 / names.len() as f64;
        best = best.min(per);
    }
    let (o, p, g, b) = corpus.sizes();
    println!(
        "name reputation: {N} names ({flagged} flagged, {invalid} unparsable), corpus {o} official names, {p} publishers, {g} registries, {b} known-bad; load + distance-index build {:.2} ms",
        load.as_secs_f64() * 1e3
    );
    println!("name reputation: {best:.2} µs per name (parse + judge, one core, best of 5; target ≤ 50 µs)");
}
