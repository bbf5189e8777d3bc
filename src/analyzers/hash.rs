//! Hash analyzer: content digests of executables and scripts, computed while the file
//! streams past (on the worker thread).

use serde::Serialize;

/// The digests of one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileDigest {
    /// Path in the layer.
    pub path: String,
    /// Enclosing archives (outermost first); empty for a file directly in a layer.
    pub inside: Vec<String>,
    /// SHA-256, lower-case hex.
    pub sha256: String,
}
