//! Script analyzer: the commands in scripts, crontabs, units and other files an image may
//! run, parsed with the shell lexer and kept (bounded) for the image-level steps.

use serde::Serialize;

/// What a script-like file runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScriptFacts {
    /// Path in the layer.
    pub path: String,
}
