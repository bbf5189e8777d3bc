//! imgscan's test images, built by code. One builder for every test, bench, example and
//! fuzz seed:
//!
//! - [`entries`]: layer entries (files, executables, dirs, symlinks, hard links,
//!   whiteouts, opaque dirs, raw hostile names) and the layer tar they make;
//! - [`layer`]: compression (gzip, zstd, none), layer blobs with media type and diff_id,
//!   gzip bombs;
//! - [`image`]: image specs, their config JSON, descriptors and media types;
//! - [`layout`]: OCI layouts (blobs, manifests, indexes, `index.json` with ref names,
//!   removed or tampered blobs), oci-archives and docker-archives;
//! - [`fixture`]: the one-layer [`ImageFixture`] the registry tests push and serve;
//! - [`samples`]: the clean and malicious sample images `make demo` scans, and the tiny
//!   ELF files they carry.
//!
//! Everything is deterministic (fixed mtimes, owners and timestamps), so the same spec
//! gives the same digests. I/O errors panic with the path: this is test code.

pub mod entries;
pub mod fixture;
pub mod image;
pub mod layer;
pub mod layout;
pub mod samples;

pub use entries::*;
pub use fixture::*;
pub use image::*;
pub use layer::*;
pub use layout::*;
pub use samples::*;

use sha2::{Digest, Sha256};

/// `sha256:<hex>` of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}
