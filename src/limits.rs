//! Bounds on everything a hostile image can make large. Each bound has a flag and a
//! default; hitting one is reported (see [`LimitHit`]) and makes the scan incomplete,
//! never silently skipped.

use serde::Serialize;

/// Every read imgscan makes is bounded by one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// Uncompressed bytes read from one layer.
    pub layer_bytes: u64,
    /// Uncompressed bytes read from all layers of one image.
    pub image_bytes: u64,
    /// Compressed bytes of one blob (layer, manifest or config) read from a source.
    pub blob_bytes: u64,
    /// Tar entries in one layer.
    pub entries_per_layer: u64,
    /// Bytes of one file's content handed to analyzers.
    pub file_bytes: u64,
    /// Length of an entry path in bytes.
    pub path_len: usize,
    /// Nesting depth of archives inside the image (a tarball inside a layer is depth 1).
    pub nesting: u32,
    /// Bytes of a manifest, index or config JSON document.
    pub json_bytes: u64,
    /// Overall wall-clock time for one scan, in seconds.
    pub timeout_secs: u64,
    /// Estimated bytes of entry metadata (paths, link targets, the filesystem view's
    /// indexes) kept for one image: millions of tiny entries cannot grow the walker's
    /// memory past this. Entries beyond it are still examined, but missing from the view.
    pub meta_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        const GIB: u64 = 1 << 30;
        const MIB: u64 = 1 << 20;
        Limits {
            layer_bytes: 8 * GIB,
            image_bytes: 32 * GIB,
            blob_bytes: 8 * GIB,
            entries_per_layer: 1_000_000,
            file_bytes: 256 * MIB,
            path_len: 4096,
            nesting: 3,
            json_bytes: 4 * MIB,
            timeout_secs: 1800,
            // About 3 million short paths; a full Debian rootfs needs ~15 MiB.
            meta_bytes: GIB,
        }
    }
}

/// Which bound was hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LimitKind {
    LayerBytes,
    ImageBytes,
    BlobBytes,
    EntriesPerLayer,
    FileBytes,
    PathLen,
    Nesting,
    JsonBytes,
    Timeout,
    MetaBytes,
}

impl LimitKind {
    /// The command-line flag that raises this bound.
    pub fn flag(self) -> &'static str {
        match self {
            LimitKind::LayerBytes => "--max-layer-bytes",
            LimitKind::ImageBytes => "--max-image-bytes",
            LimitKind::BlobBytes => "--max-blob-bytes",
            LimitKind::EntriesPerLayer => "--max-entries",
            LimitKind::FileBytes => "--max-file-bytes",
            LimitKind::PathLen => "--max-path-len",
            LimitKind::Nesting => "--max-nesting",
            LimitKind::JsonBytes => "--max-json-bytes",
            LimitKind::Timeout => "--timeout",
            LimitKind::MetaBytes => "--max-meta-bytes",
        }
    }
}

/// A bound that was reached, with where. Turned into a finding by the report and makes
/// the scan incomplete (exit 2 unless `--allow-incomplete`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct LimitHit {
    pub kind: LimitKind,
    /// The bound's value.
    pub limit: u64,
    /// Layer index, when the hit is inside a layer.
    pub layer: Option<usize>,
    /// Path inside the layer, when the hit concerns one entry.
    pub path: Option<String>,
    /// A sentence for a person: what was not read because of it.
    pub detail: String,
}
