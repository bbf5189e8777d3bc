//! `imgscan registry HOST[/PREFIX]`: list a registry's repositories and tags
//! ([`crate::batch::catalog`]), keep this worker's `--shard`, and scan them all as
//! `imgscan scan` would (every `scan` flag applies; the layer cache is shared by all
//! images), one JSON Lines report per image by default, then the summary table on
//! standard error. Exit code: the worst over the images (0 clean, 1 findings at
//! `--fail-on`, 2 incomplete or error).

use super::fail;
use super::scan;
use crate::batch::{catalog, Shard};

#[derive(clap::Args, Debug)]
#[command(
    mut_arg("targets", |a| a
        .value_name("HOST[/PREFIX]")
        .help("The registry (HOST[:PORT]) and optionally a repository prefix to scan below")),
    mut_arg("format", |a| a.default_value("jsonl")),
)]
pub struct RegistryArgs {
    /// Tags of each repository: `latest`, `all`, or N (the last N in sorted order).
    #[arg(long, value_name = "latest|all|N", default_value = "latest")]
    pub tags: String,
    /// Scan only shard I of N (1-based; the N shards cover every image exactly once).
    #[arg(long, value_name = "I/N", conflicts_with = "shards_from_job_index")]
    pub shard: Option<String>,
    /// In a Kubernetes Indexed Job of N completions: scan shard JOB_COMPLETION_INDEX+1
    /// of N (the variable is read from the environment).
    #[arg(long, value_name = "N")]
    pub shards_from_job_index: Option<u32>,
    #[command(flatten)]
    pub scan: scan::Args,
}

pub fn run(a: RegistryArgs) -> i32 {
    let tags = match catalog::Tags::parse(&a.tags) {
        Ok(t) => t,
        Err(e) => return fail(e),
    };
    let shard = match (&a.shard, a.shards_from_job_index) {
        (Some(s), _) => Shard::parse(s).map(Some),
        (None, Some(n)) => match std::env::var("JOB_COMPLETION_INDEX") {
            Ok(i) => Shard::from_job_index(&i, n).map(Some),
            Err(_) => Err("--shards-from-job-index: JOB_COMPLETION_INDEX is not set".into()),
        },
        (None, None) => Ok(None),
    };
    let shard = match shard {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let [spec] = a.scan.targets.as_slice() else {
        return fail("imgscan registry takes one HOST[/PREFIX]");
    };
    if a.scan.targets_file.is_some() {
        return fail("--targets-file is for `imgscan scan`; `imgscan registry` lists its own");
    }
    let opts = match a.scan.image.source_options() {
        Ok(o) => o,
        Err(e) => return fail(e),
    };
    let mut refs = match catalog::list(spec, tags, &opts) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    if let Some(s) = shard {
        refs = s.select(refs);
    }
    if !a.scan.image.quiet {
        eprintln!("imgscan: {spec}: {} image(s) to scan", refs.len());
    }
    // Every reference came from the registry's catalog: read it there, not from a local
    // daemon that holds an image of the same name.
    let mut args = a.scan;
    args.image.image_src = vec![crate::source::daemon::ImageSrc::Remote];
    scan::run_targets(args, &refs, true)
}
