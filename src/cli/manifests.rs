//! `imgscan manifests PATH...`: the images Kubernetes YAML would run
//! ([`crate::admission::manifests`]: files, directories, `-`; multi-document, Lists,
//! `helm template` output), scanned as `imgscan scan` scans them (every `scan` flag and
//! format applies). Exit code: the worst over the images (0 clean, 1 findings at
//! `--fail-on`, 2 incomplete or error), and 2 when any input could not be read.

use super::scan;
use super::{fail, EXIT_CLEAN, EXIT_ERROR};
use crate::admission::manifests::{read_paths, Bounds};

#[derive(clap::Args, Debug)]
#[command(mut_arg("targets", |a| a
    .value_name("PATH|-")
    .help("Kubernetes YAML files or directories (recursively *.yaml, *.yml, *.json), or - for standard input")))]
pub struct ManifestsArgs {
    /// Bytes of one manifest file at most (larger: an error, not read).
    #[arg(long, value_name = "BYTES", value_parser = super::common::parse_size, default_value = "16M")]
    pub max_file_size: u64,
    /// YAML documents of one file at most.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub max_documents: usize,
    /// Distinct images at most.
    #[arg(long, value_name = "N", default_value_t = 1_000)]
    pub max_images: usize,
    #[command(flatten)]
    pub scan: scan::Args,
}

pub fn run(a: ManifestsArgs) -> i32 {
    if a.scan.targets_file.is_some() {
        return fail("--targets-file is for `imgscan scan`; `imgscan manifests` reads YAML");
    }
    let bounds = Bounds {
        file_bytes: a.max_file_size,
        documents: a.max_documents,
        images: a.max_images,
        ..Bounds::default()
    };
    let found = read_paths(&a.scan.targets, &bounds);
    for e in &found.errors {
        eprintln!("imgscan: {e}");
    }
    if !a.scan.image.quiet {
        eprintln!(
            "imgscan: {} file(s), {} document(s): {} image(s) to scan",
            found.files,
            found.documents,
            found.images.len()
        );
        for im in &found.images {
            eprintln!("  {im}  ({})", found.origins[im].join(", "));
        }
    }
    // The kubelet pulls from the registry: judge that image, not a daemon's namesake.
    let mut args = a.scan;
    args.image.image_src = vec![crate::source::daemon::ImageSrc::Remote];
    let code = if found.images.is_empty() {
        EXIT_CLEAN
    } else {
        scan::run_targets(args, &found.images, false)
    };
    if found.errors.is_empty() {
        code
    } else {
        code.max(EXIT_ERROR)
    }
}
