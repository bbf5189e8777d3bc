//! Local sources: docker-archive (docker save), oci-archive and OCI layout directories.

use super::{OpenedImage, SourceOptions};
use crate::error::{Error, Result, Step};
use crate::reference::{LocalKind, Selector};
use std::path::Path;

/// Open the image(s) a local archive or layout holds.
pub fn open(
    kind: LocalKind,
    path: &Path,
    _select: Option<&Selector>,
    _opts: &SourceOptions,
) -> Result<Vec<OpenedImage>> {
    Err(Error::new(
        Step::Opening,
        format!("{}:{}", kind.scheme(), path.display()),
        "local sources are not built yet",
    ))
}
