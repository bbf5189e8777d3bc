//! The crate's error type. Every error names the target, the step and the cause, so a
//! message reads like `pulling localhost:5000/a/b: manifest unknown`, never a bare
//! library error.

use std::fmt;

/// What imgscan was doing when it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    ParsingReference,
    Opening,
    Pulling,
    ReadingManifest,
    ReadingConfig,
    ReadingLayer,
    VerifyingDigest,
    Authenticating,
    Scanning,
    LoadingSignatures,
    LoadingRules,
    Writing,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::ParsingReference => "parsing reference",
            Step::Opening => "opening",
            Step::Pulling => "pulling",
            Step::ReadingManifest => "reading manifest of",
            Step::ReadingConfig => "reading config of",
            Step::ReadingLayer => "reading layer of",
            Step::VerifyingDigest => "verifying digest in",
            Step::Authenticating => "authenticating to",
            Step::Scanning => "scanning",
            Step::LoadingSignatures => "loading signatures from",
            Step::LoadingRules => "loading rules from",
            Step::Writing => "writing",
        })
    }
}

/// An error with its context: `{step} {target}: {cause}`.
#[derive(Debug, thiserror::Error)]
#[error("{step} {target}: {cause}")]
pub struct Error {
    pub step: Step,
    pub target: String,
    pub cause: String,
}

impl Error {
    pub fn new(step: Step, target: impl Into<String>, cause: impl fmt::Display) -> Self {
        Error {
            step,
            target: target.into(),
            cause: cause.to_string(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
