//! Registry pulls through `oci-client`.

use super::{OpenedImage, SourceOptions};
use crate::error::{Error, Result, Step};
use crate::reference::Reference;

/// Pull the manifest(s) and config(s) of `reference`.
pub fn open(reference: &Reference, _opts: &SourceOptions) -> Result<Vec<OpenedImage>> {
    Err(Error::new(
        Step::Pulling,
        reference.to_string(),
        "registry pulls are not built yet",
    ))
}
