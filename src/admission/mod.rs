//! Kubernetes admission: judge the images a Pod-making request would run and answer
//! the apiserver's AdmissionReview. Owns image extraction from every Pod-making kind
//! ([`images`]), the admission [`policy`], the review itself ([`review`]) and the
//! registry-backed [`scan::RegistryScanner`], and the images of Kubernetes YAML for
//! `imgscan manifests` ([`manifests`]). `cli/admission_review.rs`, `cli/serve.rs` and
//! `cli/manifests.rs` only parse flags and call this.
//!
//! ```
//! use imgscan::admission::{review_body, NamesOnly, Policy, Reviewer};
//! let out = review_body(b"null", &Reviewer::new(Policy::default(), &NamesOnly));
//! assert!(out.invalid && !out.allowed);
//! assert_eq!(out.review["response"]["status"]["code"], 400);
//! ```

pub mod images;
pub mod manifests;
pub mod policy;
pub mod review;
pub mod scan;
pub mod serve;

pub use policy::{Mode, OnDeadline, Policy};
pub use review::{review_body, ImageVerdict, NamesOnly, Outcome, Reviewer, Scanner};
