//! `imgscan rules check PATH... [--strict] [--reference-lists DIR]`: parse and lint
//! YARA-L 2.0 rules. Exit 0 when every rule parses (warnings alone pass unless
//! `--strict`, which makes them exit 1), 2 when any rule does not parse.

use crate::rules::{Level, RuleSet};
use std::path::PathBuf;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Parse and lint rules (files, or directories searched for *.yaral).
    Check(CheckArgs),
}

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// Rule files or directories (searched recursively for *.yaral).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Fail (exit 1) on lint warnings too.
    #[arg(long)]
    pub strict: bool,
    /// Directory of reference lists: one file per `%name` (or `name.txt`).
    #[arg(long, value_name = "DIR")]
    pub reference_lists: Option<PathBuf>,
}

pub fn run(c: Command) -> i32 {
    match c {
        Command::Check(a) => check(a),
    }
}

fn check(a: CheckArgs) -> i32 {
    if let Some(d) = &a.reference_lists {
        if !d.is_dir() {
            return super::fail(format!(
                "--reference-lists {}: not a directory",
                d.display()
            ));
        }
    }
    let checks = match RuleSet::check(&a.paths, a.reference_lists.as_deref()) {
        Ok(c) => c,
        Err(diags) => {
            for d in diags {
                eprintln!("imgscan: {}", d.message);
            }
            return super::EXIT_ERROR;
        }
    };
    if checks.is_empty() {
        return super::fail("no rule files found (directories are searched for *.yaral)");
    }
    let (mut errors, mut warnings, mut rules) = (0usize, 0usize, 0usize);
    for c in &checks {
        rules += c.rules.len();
        for d in &c.diagnostics {
            println!("{d}\n");
            match d.level {
                Level::Error => errors += 1,
                Level::Warning => warnings += 1,
            }
        }
    }
    println!(
        "{} file(s), {rules} rule(s): {errors} error(s), {warnings} warning(s)",
        checks.len()
    );
    if errors > 0 {
        super::EXIT_ERROR
    } else if a.strict && warnings > 0 {
        super::EXIT_FINDINGS
    } else {
        super::EXIT_CLEAN
    }
}
