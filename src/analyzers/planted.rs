//! Planted access: files that give someone a way back in, judged by place and mode alone
//! (no content needed beyond the head).
//! - an `authorized_keys` (or `authorized_keys2`) file in root's `~/.ssh/`: whoever holds
//!   the matching private key logs in as root wherever the image runs sshd → MEDIUM,
//!   raised by any other signal (`IMG-SSH-KEY`);
//! - a shell with the setuid or setgid bit (`/tmp/.bash` mode 4755, a setuid `busybox`):
//!   any user in the container becomes root with `-p` → HIGH (`IMG-SETUID-SHELL`).
//!   Debian and Alpine ship no setuid shell; `su`, `passwd`, `mount` are not shells.

use super::{Analyzer, FileCtx, Signal, SignalKind};
use crate::image::EntryKind;

/// Basenames of shells (a setuid copy of one is a root backdoor).
const SHELLS: &[&str] = &[
    "sh", "bash", "dash", "ash", "zsh", "ksh", "mksh", "csh", "tcsh", "fish", "busybox",
];

/// Is `path` root's SSH authorized keys file?
fn root_authorized_keys(path: &str) -> bool {
    matches!(
        path,
        "root/.ssh/authorized_keys" | "root/.ssh/authorized_keys2"
    )
}

/// The planted-access analyzer (see the module doc).
#[derive(Default)]
pub struct PlantedAnalyzer;

impl Analyzer for PlantedAnalyzer {
    fn name(&self) -> &'static str {
        "planted"
    }
    fn file_end(&mut self, file: &FileCtx, _truncated: bool, out: &mut Vec<Signal>) {
        let e = file.entry;
        if e.kind != EntryKind::File {
            return;
        }
        if root_authorized_keys(&e.path) && e.size > 0 {
            let first = file
                .head
                .split(|&b| b == b'\n')
                .find(|l| !l.is_empty() && !l.starts_with(b"#"))
                .unwrap_or(b"");
            // The key type and the comment, not the key itself.
            let text = String::from_utf8_lossy(first);
            let words: Vec<&str> = text.split_whitespace().collect();
            let excerpt = match (words.first(), words.get(2)) {
                (Some(t), Some(c)) => format!("{t} ... {c}"),
                (Some(t), None) => format!("{t} ..."),
                _ => String::new(),
            };
            out.push(Signal {
                subject: file.subject(),
                kind: SignalKind::SshKey,
                signature: "root-authorized-keys".into(),
                offset: None,
                line: None,
                excerpt: crate::findings::excerpt(excerpt.as_bytes(), 120),
            });
        }
        if e.mode & 0o6000 != 0 && SHELLS.contains(&e.basename()) {
            let bit = if e.mode & 0o4000 != 0 {
                "setuid"
            } else {
                "setgid"
            };
            out.push(Signal {
                subject: file.subject(),
                kind: SignalKind::SetuidShell,
                signature: format!("{bit}-shell:{}", e.basename()),
                offset: None,
                line: None,
                excerpt: format!("mode {:o} on {}", e.mode & 0o7777, e.path),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyzers::collate;
    use crate::findings::Severity;
    use crate::image::FileEntry;

    fn run(path: &str, mode: u32, head: &[u8]) -> Vec<(String, Severity)> {
        let e = FileEntry {
            layer: 1,
            layer_digest: "sha256:1".into(),
            path: path.into(),
            kind: EntryKind::File,
            mode,
            size: head.len() as u64,
            link_target: None,
            hidden_by: None,
        };
        let ctx = FileCtx {
            entry: &e,
            inside: &[],
            head,
        };
        let mut out = Vec::new();
        PlantedAnalyzer.file_end(&ctx, false, &mut out);
        collate(&out, &|_, _| None)
            .into_iter()
            .map(|f| (f.id, f.severity))
            .collect()
    }

    #[test]
    fn planted_keys_and_setuid_shells() {
        assert_eq!(
            run(
                "root/.ssh/authorized_keys",
                0o600,
                b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample hilde@teamtnt.red\n"
            ),
            [("IMG-SSH-KEY".into(), Severity::Medium)]
        );
        assert_eq!(
            run("tmp/.x/bash", 0o4755, b"\x7fELF"),
            [("IMG-SETUID-SHELL".into(), Severity::High)]
        );
        assert_eq!(
            run("bin/busybox", 0o6755, b"\x7fELF"),
            [("IMG-SETUID-SHELL".into(), Severity::High)]
        );
        // Look-alikes: a user's keys, an empty root file, setuid non-shells, a plain shell.
        assert!(run("home/app/.ssh/authorized_keys", 0o600, b"ssh-rsa AAAA u@h").is_empty());
        assert!(run("root/.ssh/authorized_keys", 0o600, b"").is_empty());
        assert!(run("root/.ssh/known_hosts", 0o644, b"h ssh-rsa AAAA").is_empty());
        assert!(run("usr/bin/su", 0o4755, b"\x7fELF").is_empty());
        assert!(run("usr/bin/passwd", 0o4755, b"\x7fELF").is_empty());
        assert!(run("usr/bin/bash", 0o755, b"\x7fELF").is_empty());
    }
}
