//! dpkg: `status` (and distroless' `status.d/*`) stanzas, `info/<pkg>.md5sums`,
//! `info/<pkg>.list`, `diversions` (format: dpkg(1), deb-md5sums(5), dpkg-divert(1)).

use super::{hex_digest, norm, DbContent, Digest, Limits, OwnedFile, Package};

/// The package a per-package info file is about: `info/libc6:amd64.md5sums` → `libc6`.
fn package_of(path: &str) -> String {
    let base = path.rsplit('/').next().unwrap_or(path);
    let stem = base
        .strip_suffix(".md5sums")
        .or_else(|| base.strip_suffix(".list"))
        .unwrap_or(base);
    stem.split(':').next().unwrap_or(stem).to_string()
}

/// `status`: the packages and their conffiles (owned; never compared, admins edit them).
pub fn parse_status(data: &[u8]) -> (DbContent, Option<String>) {
    let text = String::from_utf8_lossy(data);
    let mut pkgs: Vec<Package> = Vec::new();
    let mut cur: Option<Package> = None;
    let mut in_conffiles = false;
    let mut bad = 0u64;
    let mut total = 0usize;
    for line in text.lines() {
        if line.trim().is_empty() {
            pkgs.extend(cur.take());
            in_conffiles = false;
            continue;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            if in_conffiles {
                let path = line.split_whitespace().next().unwrap_or("");
                match (&mut cur, path.starts_with('/')) {
                    (Some(p), true) if total < Limits::FILES => {
                        total += 1;
                        p.files.push(OwnedFile {
                            path: norm(path),
                            digest: None,
                        });
                    }
                    _ => bad += 1,
                }
            }
            continue;
        }
        in_conffiles = false;
        let Some((k, v)) = line.split_once(':') else {
            bad += 1;
            continue;
        };
        match k {
            "Package" => {
                pkgs.extend(cur.take());
                cur = Some(Package {
                    name: v.trim().to_string(),
                    files: Vec::new(),
                });
            }
            "Conffiles" => in_conffiles = true,
            _ => {}
        }
    }
    pkgs.extend(cur);
    let partial = (bad > 0).then(|| format!("{bad} malformed lines skipped"));
    (DbContent::Packages(pkgs), partial)
}

/// `info/<pkg>.md5sums`: `<32 hex>  <path without leading />` per line.
pub fn parse_md5sums(path: &str, data: &[u8]) -> (DbContent, Option<String>) {
    let text = String::from_utf8_lossy(data);
    let mut files = Vec::new();
    let mut bad = 0u64;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let parsed = line
            .split_once(' ')
            .and_then(|(h, p)| Some((hex_digest(h, 32)?, p.trim_start())));
        match parsed {
            Some((h, p)) if !p.is_empty() && files.len() < Limits::FILES => files.push(OwnedFile {
                path: norm(p),
                digest: Some(Digest::Md5(h)),
            }),
            _ => bad += 1,
        }
    }
    let partial = (bad > 0).then(|| format!("{bad} malformed lines skipped"));
    (
        DbContent::Packages(vec![Package {
            name: package_of(path),
            files,
        }]),
        partial,
    )
}

/// `info/<pkg>.list`: one absolute path per line (directories included).
pub fn parse_list(path: &str, data: &[u8]) -> (DbContent, Option<String>) {
    let text = String::from_utf8_lossy(data);
    let files: Vec<OwnedFile> = text
        .lines()
        .filter(|l| l.starts_with('/') && !matches!(*l, "/" | "/."))
        .take(Limits::FILES)
        .map(|l| OwnedFile {
            path: norm(l),
            digest: None,
        })
        .collect();
    (
        DbContent::Packages(vec![Package {
            name: package_of(path),
            files,
        }]),
        None,
    )
}

/// `diversions`: triples of lines (diverted path, where it went, diverting package or
/// `:` for a local diversion). Both paths are owned and never compared.
pub fn parse_diversions(data: &[u8]) -> (DbContent, Option<String>) {
    let text = String::from_utf8_lossy(data);
    let lines: Vec<&str> = text.lines().collect();
    let mut files = Vec::new();
    for t in lines.chunks(3).take(Limits::FILES / 2) {
        for p in t.iter().take(2).filter(|p| p.starts_with('/')) {
            files.push(OwnedFile {
                path: norm(p),
                digest: None,
            });
        }
    }
    let partial =
        (!lines.len().is_multiple_of(3)).then(|| "the last diversion is incomplete".to_string());
    (
        DbContent::Packages(vec![Package {
            name: "dpkg-divert".into(),
            files,
        }]),
        partial,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkgs(c: DbContent) -> Vec<Package> {
        match c {
            DbContent::Packages(p) => p,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn status_conffiles() {
        let s = b"Package: base-files\nStatus: install ok installed\nConffiles:\n /etc/issue 0123 \n /etc/motd abcd obsolete\nDescription: x\n more\n\nPackage: procps\nVersion: 2\n";
        let (c, partial) = parse_status(s);
        let p = pkgs(c);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].name, "base-files");
        assert_eq!(p[0].files.len(), 2);
        assert_eq!(p[0].files[0].path, "etc/issue");
        assert_eq!(p[1].name, "procps");
        assert!(partial.is_none());
    }

    #[test]
    fn md5sums_and_list() {
        let (c, partial) = parse_md5sums(
            "var/lib/dpkg/info/procps:amd64.md5sums",
            b"0123456789abcdef0123456789ABCDEF  usr/bin/ps\nnot a line\n\n",
        );
        let p = pkgs(c);
        assert_eq!(p[0].name, "procps");
        assert_eq!(
            p[0].files,
            [OwnedFile {
                path: "usr/bin/ps".into(),
                digest: Some(Digest::Md5("0123456789abcdef0123456789abcdef".into()))
            }]
        );
        assert_eq!(partial.as_deref(), Some("1 malformed lines skipped"));
        let (c, _) = parse_list("var/lib/dpkg/info/procps.list", b"/.\n/bin\n/bin/ps\n");
        assert_eq!(pkgs(c)[0].files.len(), 2);
    }

    #[test]
    fn hostile_status_is_bounded() {
        // Truncated mid-stanza, binary garbage, continuation lines with no package.
        let mut s = b" /etc/orphan x\nPackage: a\nConffiles:\n /etc/a 1".to_vec();
        s.extend_from_slice(&[0xff, 0x00, b'\n', b':', b'\n']);
        s.extend_from_slice(b"no colon here\n");
        let (c, partial) = parse_status(&s);
        assert_eq!(pkgs(c).len(), 1);
        assert!(partial.is_some());
        let (_, partial) = parse_diversions(b"/usr/bin/a\n/usr/bin/a.distrib\n");
        assert!(partial.is_some());
    }
}
