//! `imgscan admission-review FILE|-`: the AdmissionReview response `serve` would give
//! for one request, without a server (same code path: [`crate::admission::review_body`]).
//! Exit 0 allowed, 1 denied, 2 error (an unreadable or invalid review).

use super::common::ImageArgs;
use super::{fail, EXIT_CLEAN, EXIT_ERROR, EXIT_FINDINGS};
use crate::admission::scan::RegistryScanner;
use crate::admission::{review_body, Mode, NamesOnly, OnDeadline, Policy, Reviewer, Scanner};
use crate::reputation::Corpus;
use crate::rules::RuleSet;
use crate::signatures::Signatures;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The AdmissionReview request (JSON), or `-` for standard input.
    #[arg(value_name = "FILE|-")]
    pub input: String,
    /// Bytes of the review read at most.
    #[arg(long, value_name = "BYTES", value_parser = super::common::parse_size, default_value = "3M")]
    pub max_body: u64,
    #[command(flatten)]
    pub judge: JudgeArgs,
}

/// What `admission-review` and `serve` share: the policy, its overrides, and how images
/// are judged (names only, or pulled from their registry and scanned).
#[derive(clap::Args, Debug)]
pub struct JudgeArgs {
    /// Admission policy (YAML): fail_on, mode, exempt_namespaces, allowed_images,
    /// allowed_registries, on_deadline.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Deny at or above this severity (overrides the policy's fail_on).
    #[arg(long, value_name = "SEV|none")]
    pub fail_on: Option<String>,
    /// Allow what would be denied, with warnings (overrides the policy's mode).
    #[arg(long)]
    pub audit: bool,
    /// An image not judged (by the deadline, or at all) is allowed with a warning instead
    /// of denied.
    #[arg(long)]
    pub allow_unjudged: bool,
    /// Judge image names only; pull nothing.
    #[arg(long)]
    pub names_only: bool,
    /// Extra trusted namespaces and registries for name checks (TOML).
    #[arg(long, value_name = "FILE")]
    pub trusted: Option<PathBuf>,
    /// Extend the embedded signatures with the files in DIR.
    #[arg(long, value_name = "DIR")]
    pub signatures: Option<PathBuf>,
    #[command(flatten)]
    pub image: Box<ImageArgs>,
    #[command(flatten)]
    pub yara: super::common::YaraArgs,
}

impl JudgeArgs {
    /// `--policy` with the flags that override it applied.
    pub(super) fn policy(&self) -> Result<Policy, String> {
        let mut policy = match &self.policy {
            Some(p) => Policy::load(p).map_err(|e| format!("--policy {e}"))?,
            None => Policy::default(),
        };
        if let Some(f) = &self.fail_on {
            policy
                .set_fail_on(f)
                .map_err(|e| format!("--fail-on: {e}"))?;
        }
        if self.audit {
            policy.mode = Mode::Audit;
        }
        if self.allow_unjudged {
            policy.on_deadline = OnDeadline::AllowWithWarning;
        }
        Ok(policy)
    }

    /// The content scanner, or `None` with `--names-only`.
    pub(super) fn scanner(&self) -> Result<Option<RegistryScanner>, String> {
        if self.names_only {
            return Ok(None);
        }
        let sigs = Signatures::load(self.signatures.as_deref()).map_err(|e| e.to_string())?;
        let sigs = self.yara.attach(sigs).map_err(|e| format!("--yara: {e}"))?;
        let opts = self.image.source_options()?;
        RegistryScanner::new(
            Arc::new(sigs),
            RuleSet::embedded_default(),
            self.image.limits(),
            opts,
            self.image.parallel(),
        )
        .with_signature_dir(self.signatures.as_deref())
        .map(Some)
    }

    /// The name corpus with `--trusted` added, or `None` for the embedded one.
    pub(super) fn corpus(&self) -> Result<Option<Corpus>, String> {
        self.trusted
            .as_ref()
            .map(|p| {
                Corpus::with_trusted_file(p).map_err(|e| format!("--trusted {}: {e}", p.display()))
            })
            .transpose()
    }
}

pub fn run(args: Args) -> i32 {
    let policy = match args.judge.policy() {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    let body = match read_body(&args.input, args.max_body) {
        Ok(b) => b,
        Err(e) => return fail(e),
    };
    let registry = match args.judge.scanner() {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let scanner: &dyn Scanner = match &registry {
        Some(r) => r,
        None => &NamesOnly,
    };
    let mut reviewer = Reviewer::new(policy, scanner);
    match args.judge.corpus() {
        Ok(Some(c)) => reviewer = reviewer.with_corpus(c),
        Ok(None) => {}
        Err(e) => return fail(e),
    }
    let out = review_body(&body, &reviewer);
    match serde_json::to_string_pretty(&out.review) {
        Ok(s) => println!("{s}"),
        Err(e) => return fail(e),
    }
    if out.invalid {
        EXIT_ERROR
    } else if out.allowed {
        EXIT_CLEAN
    } else {
        EXIT_FINDINGS
    }
}

fn read_body(input: &str, max: u64) -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    let read = if input == "-" {
        std::io::stdin().take(max + 1).read_to_end(&mut buf)
    } else {
        std::fs::File::open(input).and_then(|f| f.take(max + 1).read_to_end(&mut buf))
    };
    read.map_err(|e| format!("reading {input}: {e}"))?;
    if buf.len() as u64 > max {
        return Err(format!(
            "{input}: the review is over --max-body ({max} bytes)"
        ));
    }
    Ok(buf)
}
