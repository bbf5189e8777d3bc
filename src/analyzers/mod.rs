//! Analyzers: turn what the layer walker and the image config show into [`Signal`]s, and
//! collapse the signals about one file or one command into one finding ([`collate`]).
//!
//! Owns: the [`Analyzer`] trait (one per file below, one job each), the per-layer
//! [`ScanVisitor`] that reads each file's bytes ONCE in large chunks and feeds every
//! interested analyzer, nested archive handling (`archive.rs`) and the collation policy
//! (`collate.rs`: ids, severities, ATT&CK).
//!
//! - `name.rs`: executables whose basename is a miner name
//! - `content.rs`: one literal search over every literal signature, with regex
//!   confirmation, streamed over chunks (matches across chunk boundaries are found)
//! - `binary.rs`: ELF/PE/Mach-O facts with goblin (packing, malformed headers)
//! - `wallet/`: wallet addresses confirmed by their checksums (CryptoNote coins, Bitcoin,
//!   Ethereum)
//! - `offload.rs`: runs the analyzers that read every byte on a second thread
//! - `config.rs`: entrypoint/cmd/env/ports of the image config
//! - `history.rs`: `created_by` of every history step
//! - `yara.rs`: the `--yara` rules (YARA-X) on each file's buffered content

use crate::image::{FileEntry, Image};
use crate::signatures::{Category, NameKind, Strength};
use serde::Serialize;

pub mod archive;
pub mod binary;
pub mod collate;
pub mod config;
pub mod content;
pub mod describe;
pub mod facts;
pub mod hash;
pub mod history;
pub mod name;
pub mod offload;
pub mod packages;
pub mod pkgcapture;
pub mod planted;
pub mod runs;
pub mod script;
pub mod visitor;
pub mod wallet;
#[cfg(feature = "yara")]
pub mod yara;

pub use collate::collate;
pub use facts::{ImageFacts, LayerFacts};
pub use visitor::{LayerScan, ScanVisitor};

/// What a signal is about: one file (possibly inside nested archives), one config field,
/// or one history step. Signals with the same subject become one finding.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize)]
pub enum Subject {
    File {
        layer: usize,
        layer_digest: String,
        path: String,
        /// Enclosing archives, outermost first.
        inside: Vec<String>,
    },
    Config {
        field: String,
    },
    History {
        step: usize,
    },
}

/// What kind of indicator a signal is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum SignalKind {
    /// An executable whose basename is a miner name (or the command a config runs).
    MinerName(#[serde(skip)] NameKind),
    /// A literal signature from `strings.toml` (confirmed when it has a regex).
    Literal {
        #[serde(skip)]
        category: Category,
        #[serde(skip)]
        strength: Strength,
    },
    /// A pool domain (suffix match on label boundaries).
    PoolDomain,
    /// A port pools listen on (exposed, or in a `host:port`).
    PoolPort,
    /// A CryptoNote-family address (Monero, Wownero, Zephyr, ...) with a valid checksum.
    Wallet,
    /// A checksum-valid address of a coin legitimate software also quotes (Bitcoin,
    /// EIP-55 Ethereum): LOW alone, raises miner or pool signals.
    WalletCommon,
    /// An address shape without a checksum (one-case Ethereum hex): counts only beside a
    /// miner or pool signal.
    WalletUnchecked,
    /// A cloud access key id; `true` when the matching secret is present too.
    CloudKey(bool),
    /// The file is an executable binary (ELF, PE, Mach-O). Informational on its own.
    Binary,
    /// Packed with UPX (marker or section names in an executable).
    Packed,
    /// A binary whose header could not be parsed.
    Malformed,
    /// A nested archive that could not be read to the end.
    ArchiveUnreadable,
    /// What a command sequence does (`crate::behaviour`); `run` = the image runs it
    /// (start command, history step, a script it runs) rather than only carrying it.
    Behaviour {
        kind: crate::behaviour::BehaviourKind,
        run: bool,
    },
    /// A cron entry, unit, supervisor program, boot or profile script that downloads and
    /// runs something (`script.rs`).
    Persistence(#[serde(skip)] script::ScriptKind),
    /// A non-empty `authorized_keys` in root's `~/.ssh/` (`planted.rs`).
    SshKey,
    /// A shell with the setuid or setgid bit (`planted.rs`).
    SetuidShell,
    /// The file is run by the image: by its start command through the scripts it runs, or
    /// by cron/init/a login shell (`runs.rs`). Informational: it explains other signals.
    RunBy,
    /// The file's SHA-256 is on the known-bad list (`known-bad-hashes.toml`).
    KnownBadHash,
    /// A system-path file a package owns whose digest differs from the recorded one.
    ReplacedBinary,
    /// A system-path executable no package owns. Informational: it raises the others.
    UnownedExecutable,
    /// `/etc/ld.so.preload` names a library outside the package database.
    LdPreload,
    /// A package database that could not be read (format not supported, bound hit):
    /// the package check was skipped for it.
    PkgDbSkipped,
    /// A `--yara` rule matched (`yara.rs`); the severity comes from the rule's metadata.
    /// The signature is `yara:NS:RULE` for the match, `yara:NS:RULE:$s` per string.
    Yara { severity: crate::findings::Severity },
}

impl SignalKind {
    /// Signals that say nothing on their own (they only qualify others).
    pub fn informational(self) -> bool {
        matches!(
            self,
            SignalKind::Binary
                | SignalKind::RunBy
                | SignalKind::UnownedExecutable
                | SignalKind::Literal {
                    category: Category::Exfil,
                    ..
                }
        )
    }
}

/// One indicator about one subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Signal {
    pub subject: Subject,
    pub kind: SignalKind,
    /// Signature name, e.g. `xmrig-usage`, `pool-domain:minexmr.com`, `miner-name:xmrig`.
    pub signature: String,
    pub offset: Option<u64>,
    /// 1-based line, for signals from line-oriented text (scripts, crontabs, units).
    pub line: Option<u32>,
    pub excerpt: String,
}

/// What a file analyzer sees when a file starts.
pub struct FileCtx<'a> {
    pub entry: &'a FileEntry,
    /// Enclosing archives (outermost first); empty for a file directly in a layer.
    pub inside: &'a [String],
    /// The first chunk of the content (empty for non-regular files and empty files).
    pub head: &'a [u8],
}

impl FileCtx<'_> {
    pub fn subject(&self) -> Subject {
        Subject::File {
            layer: self.entry.layer,
            layer_digest: self.entry.layer_digest.clone(),
            path: self.entry.path.clone(),
            inside: self.inside.to_vec(),
        }
    }
    /// ELF, PE or Mach-O magic at the start of the content.
    pub fn is_binary(&self) -> bool {
        binary::format_of(self.head).is_some()
    }
    /// No NUL byte in the first 8 KiB: treated as text (scripts, configs).
    pub fn is_text(&self) -> bool {
        !self.head[..self.head.len().min(8192)].contains(&0)
    }
}

/// The final filesystem as config analysis needs it: implemented by the walker's
/// `FsView`, and by a map in tests.
pub trait FsLookup {
    /// The entry at `path` in the final filesystem, following symlinks inside the image.
    fn resolve(&self, path: &str) -> Option<&FileEntry>;
    /// Whether `dir` (normalised) and each of its ancestors is a directory or not listed,
    /// so that `dir/NAME` resolves to the entry at exactly that path ([`FsLookup::exact`])
    /// unless that entry is itself a link. The default never says so (callers resolve).
    fn plain_dir(&self, _dir: &str) -> bool {
        false
    }
    /// The entry at exactly `path` (normalised), links not followed; only meaningful
    /// under a [`FsLookup::plain_dir`].
    fn exact(&self, path: &str) -> Option<&FileEntry> {
        self.resolve(path)
    }
}

impl FsLookup for std::collections::HashMap<String, FileEntry> {
    fn resolve(&self, path: &str) -> Option<&FileEntry> {
        self.get(path.trim_start_matches('/'))
    }
}

impl FsLookup for crate::layers::FsView {
    fn resolve(&self, path: &str) -> Option<&FileEntry> {
        crate::layers::FsView::resolve(self, path)
    }
    fn plain_dir(&self, dir: &str) -> bool {
        crate::layers::FsView::plain_dir(self, dir)
    }
    fn exact(&self, path: &str) -> Option<&FileEntry> {
        crate::layers::FsView::exact(self, path)
    }
}

/// One analyzer, one job. File analyzers implement the `file_*` hooks and are fed by the
/// [`ScanVisitor`] from a single read of each file; image analyzers implement
/// [`Analyzer::image`]. Every hook has a do-nothing default.
pub trait Analyzer: Send {
    fn name(&self) -> &'static str;
    /// A new entry starts. Return true to be fed its content chunks (the head included).
    fn file_start(&mut self, _file: &FileCtx) -> bool {
        false
    }
    /// The next chunk of the file that started last; `offset` is its position in the file.
    fn file_chunk(&mut self, _data: &[u8], _offset: u64) {}
    /// [`Analyzer::file_chunk`] for `buf[..len]`, where the analyzer may keep `buf` itself
    /// (to hand it to another thread without a copy), leaving in its place another
    /// buffer at least as long. The visitor calls this for the chunks it reads itself.
    fn file_chunk_owned(&mut self, buf: &mut Vec<u8>, len: usize, offset: u64) {
        self.file_chunk(&buf[..len], offset);
    }
    /// The file ended (called for every entry, wanted or not). `truncated` means the
    /// content stopped at a bound before the file's end.
    fn file_end(&mut self, _file: &FileCtx, _truncated: bool, _out: &mut Vec<Signal>) {}
    /// No more files: signals produced asynchronously, if any. Err = the analyzer could
    /// not finish (the scan is then incomplete).
    fn finish(&mut self) -> Result<Vec<Signal>, String> {
        Ok(Vec::new())
    }
    /// After [`Analyzer::finish`]: move what the analyzer learned about the layer (besides
    /// signals) into `out`, for the image-level steps.
    fn facts(&mut self, _out: &mut LayerFacts) {}
    /// Image-level analysis (config, history, the final filesystem): `facts` holds every
    /// layer's [`LayerFacts`].
    fn image(
        &self,
        _image: &Image,
        _fs: &dyn FsLookup,
        _facts: &ImageFacts,
        _out: &mut Vec<Signal>,
    ) {
    }
}

/// Make a signal found in a file count as run by the image (the file turned out to be run by
/// its start command, cron, init, ...).
pub fn mark_signal_run(s: &mut Signal) {
    if let SignalKind::Behaviour { run, .. } = &mut s.kind {
        *run = true;
    }
}

/// Reads `r` into `buf` until it is full or `r` ends; returns the bytes read.
pub(crate) fn read_full(r: &mut dyn std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Printable excerpt of `data[start..end]` with up to `ctx` bytes either side, cut at line
/// ends.
pub(crate) fn line_excerpt(data: &[u8], start: usize, end: usize, ctx: usize) -> String {
    let lo = data[..start]
        .iter()
        .rposition(|&b| b == b'\n' || b == 0)
        .map(|p| p + 1)
        .unwrap_or(0)
        .max(start.saturating_sub(ctx));
    let hi = data[end..]
        .iter()
        .position(|&b| b == b'\n' || b == 0)
        .map(|p| p + end)
        .unwrap_or(data.len())
        .min(end + ctx);
    crate::findings::excerpt(&data[lo..hi], 2 * ctx + (end - start))
        .trim()
        .to_string()
}
