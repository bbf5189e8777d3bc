//! apk: `lib/apk/db/installed`, stanzas of `X:value` lines separated by blank lines
//! (format: <https://wiki.alpinelinux.org/wiki/Apk_spec>, "Installed Database V2"):
//! `P:` starts a package, `F:` a directory, `R:` a file in it, `Z:` that file's checksum
//! (`Q1` + base64 of the SHA-1; `Q2` = SHA-256 on newer apk).

use super::{norm, DbContent, Digest, Limits, OwnedFile, Package};
use base64::Engine;

/// Parse the installed database.
pub fn parse_installed(data: &[u8]) -> (DbContent, Option<String>) {
    let text = String::from_utf8_lossy(data);
    let mut pkgs: Vec<Package> = Vec::new();
    let mut dir = String::new();
    let mut bad = 0u64;
    let mut total = 0usize;
    for line in text.lines() {
        if line.is_empty() {
            dir.clear();
            continue;
        }
        let Some((k, v)) = line.split_once(':') else {
            bad += 1;
            continue;
        };
        match k {
            "P" => {
                dir.clear();
                pkgs.push(Package {
                    name: v.to_string(),
                    files: Vec::new(),
                });
            }
            "F" => dir = norm(v),
            "R" => match pkgs.last_mut() {
                Some(p) if total < Limits::FILES && !v.is_empty() && !v.contains('/') => {
                    total += 1;
                    let path = if dir.is_empty() {
                        v.to_string()
                    } else {
                        format!("{dir}/{v}")
                    };
                    p.files.push(OwnedFile { path, digest: None });
                }
                _ => bad += 1,
            },
            "Z" => {
                let f = pkgs.last_mut().and_then(|p| p.files.last_mut());
                match (f, checksum(v)) {
                    (Some(f), Some(d)) if f.digest.is_none() => f.digest = Some(d),
                    _ => bad += 1,
                }
            }
            _ => {}
        }
    }
    let partial = (bad > 0).then(|| format!("{bad} malformed lines skipped"));
    (DbContent::Packages(pkgs), partial)
}

/// `Q1<base64 sha1>` or `Q2<base64 sha256>`.
fn checksum(v: &str) -> Option<Digest> {
    let b64 = base64::engine::general_purpose::STANDARD;
    if let Some(s) = v.strip_prefix("Q1") {
        let raw = b64.decode(s).ok()?;
        (raw.len() == 20).then(|| Digest::Sha1(hex::encode(raw)))
    } else if let Some(s) = v.strip_prefix("Q2") {
        let raw = b64.decode(s).ok()?;
        (raw.len() == 32).then(|| Digest::Sha256(hex::encode(raw)))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installed_db() {
        // SHA-1 of "hello\n" is f572d396fae9206628714fb2ce00f72e94f2258f.
        let z = base64::engine::general_purpose::STANDARD
            .encode(hex::decode("f572d396fae9206628714fb2ce00f72e94f2258f").unwrap());
        let db = format!(
            "C:Q1x=\nP:busybox\nV:1.36\nF:bin\nR:busybox\na:0:0:755\nZ:Q1{z}\nR:sh\n\nP:musl\nF:lib\nR:ld-musl-x86_64.so.1\nZ:Q1bad\n"
        );
        let (c, partial) = parse_installed(db.as_bytes());
        let DbContent::Packages(p) = c else { panic!() };
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].files[0].path, "bin/busybox");
        assert_eq!(
            p[0].files[0].digest,
            Some(Digest::Sha1(
                "f572d396fae9206628714fb2ce00f72e94f2258f".into()
            ))
        );
        assert_eq!(p[0].files[1].digest, None);
        assert_eq!(p[1].files[0].path, "lib/ld-musl-x86_64.so.1");
        assert_eq!(partial.as_deref(), Some("1 malformed lines skipped"));
        // Garbage: no panic, nothing owned.
        let (c, _) = parse_installed(b"R:x\nZ:Q1\n\xff\xfe:\n");
        assert_eq!(c, DbContent::Packages(vec![]));
    }
}
