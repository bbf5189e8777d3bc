//! imgscan: checks container images for malicious content before they run.
//!
//! Data flows one way:
//! `source` (registry, docker-archive, oci-archive, OCI layout) → `layers` (streamed,
//! decompressed, whiteouts applied, nothing extracted to disk) → `analyzers` →
//! `findings` → `report`. The YARA-L engine in `rules` knows nothing of images; the
//! image side turns what it finds into UDM events and hands them over.

pub mod admission;
pub mod analyzers;
pub mod batch;
pub mod behaviour;
pub mod cache;
pub mod cli;
pub mod config;
pub mod digest;
pub mod error;
pub mod findings;
pub mod ignore;
pub mod image;
pub mod layers;
pub mod limits;
pub mod logs;
pub mod pkgdb;
pub mod reference;
pub mod report;
pub mod reputation;
pub mod rules;
pub mod run;
pub mod scan;
pub mod shell;
pub mod signatures;
pub mod source;
pub mod udm;
pub mod yara;
