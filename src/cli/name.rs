//! `imgscan name REF...`: judge image names alone (known-bad images, typosquats,
//! namespace squats) without pulling anything. Same formats and exit codes as `scan`.

use crate::reference::Reference;
use crate::report::{self, Format, Report};
use crate::reputation::{self, Corpus};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Image references to judge (`nginx`, `grafanna/grafana:10`, `ghcr.io/o/r@sha256:...`).
    #[arg(required = true, value_name = "REF")]
    pub targets: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Write the report to FILE instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Exit 1 when a finding is at or above this severity (critical, high, medium, low,
    /// info), or `none` to never fail on findings.
    #[arg(long, value_name = "SEV|none", default_value = "high")]
    pub fail_on: String,
    /// TOML file of your own trusted namespaces and registries:
    /// `namespaces = ["acme"]`, `registries = ["registry.acme.internal:5000"]`.
    #[arg(long, value_name = "FILE")]
    pub trusted: Option<PathBuf>,
}

pub fn run(args: Args) -> i32 {
    let fail_on = match report::parse_fail_on(&args.fail_on) {
        Ok(f) => f,
        Err(e) => return super::fail(format!("--fail-on: {e}")),
    };
    let corpus = match &args.trusted {
        Some(p) => match Corpus::with_trusted_file(p) {
            Ok(c) => c,
            Err(e) => return super::fail(format!("--trusted {e}")),
        },
        None => Corpus::embedded(),
    };
    let mut refs = Vec::with_capacity(args.targets.len());
    for t in &args.targets {
        match Reference::parse(t) {
            Ok(r) => refs.push(r),
            Err(e) => return super::fail(e),
        }
    }
    let reports: Vec<Report> = refs
        .iter()
        .map(|r| {
            let mut rep = Report {
                target: r.to_string(),
                findings: reputation::judge(r, &corpus),
                ..Default::default()
            };
            rep.sort();
            rep
        })
        .collect();
    let written = match &args.output {
        Some(path) => std::fs::File::create(path).and_then(|f| {
            let mut w = std::io::BufWriter::new(f);
            report::write(&reports, args.format, false, &mut w)?;
            w.flush()
        }),
        None => {
            let stdout = std::io::stdout();
            let color = stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none();
            let mut w = stdout.lock();
            report::write(&reports, args.format, color, &mut w).and_then(|_| w.flush())
        }
    };
    if let Err(e) = written {
        let dest = args
            .output
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "standard output".into());
        return super::fail(format!("cannot write report to {dest}: {e}"));
    }
    report::exit_code(&reports, fail_on, false)
}
