//! `imgscan admission-review FILE|-`: the AdmissionReview response `serve` would give
//! for one request, without a server (same code path: [`crate::admission::review_body`]).
//! Exit 0 allowed, 1 denied, 2 error (an unreadable or invalid review).

use super::common::ImageArgs;
use super::{fail, EXIT_CLEAN, EXIT_ERROR, EXIT_FINDINGS};
use crate::admission::scan::RegistryScanner;
use crate::admission::{review_body, NamesOnly, OnDeadline, Policy, Reviewer, Scanner};
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
    /// An image that cannot be judged is allowed with a warning instead of denied.
    #[arg(long)]
    pub allow_unjudged: bool,
    /// Judge image names only; pull nothing.
    #[arg(long)]
    pub names_only: bool,
    /// Bytes of the review read at most.
    #[arg(long, value_name = "BYTES", value_parser = super::common::parse_size, default_value = "3M")]
    pub max_body: u64,
    /// Extra trusted namespaces and registries for name checks (TOML).
    #[arg(long, value_name = "FILE")]
    pub trusted: Option<PathBuf>,
    /// Extend the embedded signatures with the files in DIR.
    #[arg(long, value_name = "DIR")]
    pub signatures: Option<PathBuf>,
    #[command(flatten)]
    pub image: Box<ImageArgs>,
}

pub fn run(args: Args) -> i32 {
    let mut policy = match &args.policy {
        Some(p) => match Policy::load(p) {
            Ok(p) => p,
            Err(e) => return fail(format!("--policy {e}")),
        },
        None => Policy::default(),
    };
    if let Some(f) = &args.fail_on {
        if let Err(e) = policy.set_fail_on(f) {
            return fail(format!("--fail-on: {e}"));
        }
    }
    if args.audit {
        policy.mode = crate::admission::Mode::Audit;
    }
    if args.allow_unjudged {
        policy.on_deadline = OnDeadline::AllowWithWarning;
    }
    let body = match read_body(&args.input, args.max_body) {
        Ok(b) => b,
        Err(e) => return fail(e),
    };
    let registry;
    let scanner: &dyn Scanner = if args.names_only {
        &NamesOnly
    } else {
        let sigs = match Signatures::load(args.signatures.as_deref()) {
            Ok(s) => Arc::new(s),
            Err(e) => return fail(e),
        };
        let opts = match args.image.source_options() {
            Ok(o) => o,
            Err(e) => return fail(e),
        };
        registry = RegistryScanner::new(
            sigs,
            RuleSet::embedded_default(),
            args.image.limits(),
            opts,
            args.image.parallel(),
        );
        &registry
    };
    let mut reviewer = Reviewer::new(policy, scanner);
    if let Some(p) = &args.trusted {
        match Corpus::with_trusted_file(p) {
            Ok(c) => reviewer = reviewer.with_corpus(c),
            Err(e) => return fail(format!("--trusted {}: {e}", p.display())),
        }
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
