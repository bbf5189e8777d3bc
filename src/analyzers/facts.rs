//! Facts: what the file analyzers learn about a layer besides signals, kept for the
//! image-level steps that need the final filesystem (which scripts the start command
//! runs, which package owns a binary, the digest of each executable).
//!
//! Each file analyzer that has facts fills its own field of [`LayerFacts`] from
//! [`super::Analyzer::facts`] after the layer's last file; the scan hands every layer's
//! facts to the image analyzers as [`ImageFacts`]. Everything here is bounded by the
//! analyzer that produces it, and serialisable (a per-layer cache stores it).

use serde::Serialize;

/// One layer's facts.
#[derive(Debug, Default, Clone, Serialize, serde::Deserialize)]
pub struct LayerFacts {
    /// Content digests of executables and scripts (`hash.rs`).
    pub digests: Vec<super::hash::FileDigest>,
    /// Scripts, crontabs, units and other files whose commands the image may run
    /// (`script.rs`).
    pub scripts: Vec<super::script::ScriptFacts>,
    /// Script files whose commands were not kept (the layer's budget was spent).
    pub scripts_dropped: u64,
    /// Files the hash analyzer would have hashed but that were cut at a bound (`hash.rs`).
    pub hash: super::hash::HashFacts,
    /// Package databases and `/etc/ld.so.preload` as read from this layer (`pkgdb/`).
    pub pkgdb: crate::pkgdb::PkgDbFacts,
    /// Bounds the fact producers hit: each becomes an incomplete-scan note.
    pub notes: Vec<String>,
}

impl LayerFacts {
    /// Add `other` (facts of the same layer from another analyzer or thread).
    pub fn append(&mut self, other: &mut LayerFacts) {
        self.digests.append(&mut other.digests);
        self.scripts.append(&mut other.scripts);
        self.scripts_dropped += other.scripts_dropped;
        self.hash.cut.append(&mut other.hash.cut);
        self.pkgdb.files.append(&mut other.pkgdb.files);
        self.notes.append(&mut other.notes);
    }
}

/// Every layer's facts, in layer order (index = layer index).
#[derive(Debug, Default, Clone, Copy)]
pub struct ImageFacts<'a> {
    pub layers: &'a [LayerFacts],
}

impl<'a> ImageFacts<'a> {
    /// The facts of `layer`, if it was read.
    pub fn layer(&self, layer: usize) -> Option<&'a LayerFacts> {
        self.layers.get(layer)
    }

    /// The digest recorded for `path` (layer-local, not inside an archive) in `layer`.
    pub fn digest(&self, layer: usize, path: &str) -> Option<&'a super::hash::FileDigest> {
        self.layer(layer)?
            .digests
            .iter()
            .find(|d| d.inside.is_empty() && d.path == path)
    }

    /// The script facts recorded for `path` in `layer`.
    pub fn script(&self, layer: usize, path: &str) -> Option<&'a super::script::ScriptFacts> {
        self.layer(layer)?.scripts.iter().find(|s| s.path == path)
    }
}
