//! Name analyzer: an executable file (execute bit, or an executable binary format) whose
//! basename is a miner name from `signatures/miner-names.toml`, in any layer, hidden ones
//! included. Needs no content beyond the first chunk.

use super::{Analyzer, FileCtx, Signal, SignalKind};
use crate::image::EntryKind;
use crate::signatures::Signatures;
use std::sync::Arc;

pub struct NameAnalyzer {
    sigs: Arc<Signatures>,
}

impl NameAnalyzer {
    pub fn new(sigs: Arc<Signatures>) -> Self {
        NameAnalyzer { sigs }
    }
}

impl Analyzer for NameAnalyzer {
    fn name(&self) -> &'static str {
        "name"
    }
    fn file_end(&mut self, file: &FileCtx, _truncated: bool, out: &mut Vec<Signal>) {
        let e = file.entry;
        if e.kind != EntryKind::File || !(e.is_executable() || file.is_binary()) {
            return;
        }
        if let Some(n) = self.sigs.miner_name(e.basename()) {
            out.push(Signal {
                line: None,
                subject: file.subject(),
                kind: SignalKind::MinerName(n.kind),
                signature: format!("miner-name:{}", n.name),
                offset: None,
                excerpt: e.basename().to_string(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::FileEntry;
    use crate::signatures::NameKind;

    fn entry(path: &str, mode: u32, kind: EntryKind) -> FileEntry {
        FileEntry {
            layer: 1,
            layer_digest: "sha256:1".into(),
            path: path.into(),
            kind,
            mode,
            size: 10,
            link_target: None,
            hidden_by: None,
        }
    }

    fn run(e: &FileEntry, head: &[u8]) -> Vec<Signal> {
        let mut a = NameAnalyzer::new(Arc::new(Signatures::embedded().unwrap()));
        let ctx = FileCtx {
            entry: e,
            inside: &[],
            head,
        };
        let mut out = Vec::new();
        a.file_end(&ctx, false, &mut out);
        out
    }

    #[test]
    fn executable_miner_names_match() {
        let s = run(&entry("usr/local/bin/xmrig", 0o755, EntryKind::File), b"#!");
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].signature, "miner-name:xmrig");
        assert_eq!(s[0].kind, SignalKind::MinerName(NameKind::Miner));
        // Not executable, but an ELF: still a binary.
        let s = run(
            &entry("tmp/kdevtmpfsi", 0o644, EntryKind::File),
            b"\x7fELF\x02\x01\x01",
        );
        assert_eq!(s.len(), 1);
        let s = run(&entry("opt/kswapd0", 0o700, EntryKind::File), b"");
        assert_eq!(s[0].kind, SignalKind::MinerName(NameKind::Campaign));
    }

    #[test]
    fn non_executables_and_other_names_do_not() {
        assert!(run(
            &entry("usr/share/doc/xmrig", 0o644, EntryKind::File),
            b"text"
        )
        .is_empty());
        assert!(run(&entry("usr/bin/xmrig", 0o755, EntryKind::Dir), b"").is_empty());
        assert!(run(&entry("usr/bin/bash", 0o755, EntryKind::File), b"\x7fELF").is_empty());
    }
}
