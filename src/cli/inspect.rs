//! `imgscan inspect TARGET`: open the image(s), walk every layer (no analysis) and show
//! the manifest digest, platform, layers (digest, media type, compression, compressed and
//! uncompressed size, entry count), config and history, as a table or JSON. Layer errors
//! and limit hits are printed as warnings and make the exit code 2 (incomplete).

use super::common::ImageArgs;
use super::{fail, EXIT_CLEAN, EXIT_ERROR};
use crate::error::{Error, Step};
use crate::image::{FileEntry, Image, LayerInfo};
use crate::layers::{walk_image, EntryVisitor, LayerWalk};
use crate::reference::Target;
use serde::Serialize;
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InspectFormat {
    Table,
    Json,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Image to inspect: a registry reference, docker-archive, oci-archive or OCI layout
    /// (optionally PATH:tag or PATH@digest).
    pub target: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: InspectFormat,
    #[command(flatten)]
    pub image: Box<ImageArgs>,
}

/// One inspected image, as printed.
#[derive(Debug, Serialize)]
pub struct Inspected {
    #[serde(flatten)]
    pub image: Image,
    pub walk: Vec<LayerWalk>,
    /// Why the walk did not see everything; non-empty = exit 2.
    pub incomplete: Vec<String>,
}

/// Counts entries for the progress bar; looks at no content.
struct Progress {
    seen: Arc<AtomicU64>,
    bar: Option<indicatif::ProgressBar>,
}

impl EntryVisitor for Progress {
    fn visit(&mut self, _: &FileEntry, _: &mut dyn Read) -> io::Result<()> {
        let n = self.seen.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(b) = &self.bar {
            if n.is_multiple_of(512) {
                b.set_message(format!("{n} entries"));
            }
        }
        Ok(())
    }
}

pub fn run(args: Args) -> i32 {
    let target = match Target::parse(&args.target) {
        Ok(t) => t,
        Err(e) => {
            // Target::parse may already name the target; do not say it twice.
            let prefix = format!("{}: ", args.target);
            let cause = e.strip_prefix(&prefix).unwrap_or(&e);
            return fail(Error::new(Step::Opening, &args.target, cause));
        }
    };
    let opts = match args.image.source_options() {
        Ok(o) => o.for_input(&args.target),
        Err(e) => return fail(e),
    };
    let images = match crate::source::open(&target, &opts) {
        Ok(i) => i,
        Err(e) => return fail(e),
    };
    let mut out = Vec::new();
    for img in &images {
        let bar = args.image.progress().then(|| {
            let b = indicatif::ProgressBar::new_spinner();
            b.set_message(format!("walking {} layers", img.image.layers.len()));
            b.enable_steady_tick(std::time::Duration::from_millis(120));
            b
        });
        let seen = Arc::new(AtomicU64::new(0));
        let walk = walk_image(img, &opts.limits, args.image.parallel(), |_: &LayerInfo| {
            Progress {
                seen: seen.clone(),
                bar: bar.clone(),
            }
        });
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        let incomplete = walk.incomplete();
        out.push(Inspected {
            image: img.image.clone(),
            walk: walk.layers,
            incomplete,
        });
    }
    let mut stdout = io::stdout().lock();
    let written = match args.format {
        InspectFormat::Json => write_json(&out, &mut stdout),
        InspectFormat::Table => write_table(&out, &mut stdout),
    };
    if let Err(e) = written {
        if e.kind() != io::ErrorKind::BrokenPipe {
            return fail(Error::new(Step::Writing, "standard output", e));
        }
    }
    let mut code = EXIT_CLEAN;
    for i in &out {
        for w in &i.incomplete {
            eprintln!("imgscan: warning: {}: {w}", i.image.reference);
            code = EXIT_ERROR;
        }
    }
    if code != EXIT_CLEAN {
        eprintln!("imgscan: the image could not be read completely (exit 2)");
    }
    code
}

#[derive(Serialize)]
struct JsonDoc<'a> {
    schema_version: &'a str,
    images: &'a [Inspected],
}

pub fn write_json(images: &[Inspected], out: &mut dyn Write) -> io::Result<()> {
    let doc = JsonDoc {
        schema_version: crate::report::JSON_SCHEMA_VERSION,
        images,
    };
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        "-".into()
    } else {
        serde_json::to_string(v).unwrap_or_default()
    }
}

pub fn write_table(images: &[Inspected], out: &mut dyn Write) -> io::Result<()> {
    for (n, i) in images.iter().enumerate() {
        if n > 0 {
            writeln!(out)?;
        }
        let img = &i.image;
        writeln!(out, "Reference:        {}", img.reference)?;
        writeln!(out, "Manifest digest:  {}", img.manifest_digest)?;
        writeln!(out, "Config digest:    {}", img.config_digest)?;
        writeln!(out, "Platform:         {}", img.platform)?;
        writeln!(out)?;
        writeln!(out, "LAYERS")?;
        writeln!(
            out,
            "  {:>3}  {:<71}  {:<11}  {:>11}  {:>12}  {:>8}  MEDIA TYPE",
            "#", "DIGEST", "COMPRESSION", "COMPRESSED", "UNCOMPRESSED", "ENTRIES"
        )?;
        for w in &i.walk {
            let comp = serde_json::to_value(w.compression)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default();
            let mark = if w.error.is_some() || !w.limits.is_empty() {
                " (incomplete)"
            } else {
                ""
            };
            writeln!(
                out,
                "  {:>3}  {:<71}  {:<11}  {:>11}  {:>12}  {:>8}  {}{mark}",
                w.layer.index,
                w.layer.digest,
                comp,
                crate::report::human_bytes(w.compressed_bytes),
                crate::report::human_bytes(w.uncompressed_bytes),
                w.entries,
                w.layer.media_type
            )?;
        }
        let c = &img.config;
        writeln!(out)?;
        writeln!(out, "CONFIG")?;
        writeln!(out, "  Entrypoint:     {}", list(&c.entrypoint))?;
        writeln!(out, "  Cmd:            {}", list(&c.cmd))?;
        writeln!(
            out,
            "  User:           {}",
            if c.user.is_empty() { "-" } else { &c.user }
        )?;
        writeln!(
            out,
            "  WorkingDir:     {}",
            if c.working_dir.is_empty() {
                "-"
            } else {
                &c.working_dir
            }
        )?;
        writeln!(out, "  ExposedPorts:   {}", list(&c.exposed_ports))?;
        writeln!(out, "  Env:")?;
        for e in &c.env {
            writeln!(out, "    {e}")?;
        }
        writeln!(out, "  Labels:")?;
        for (k, v) in &c.labels {
            writeln!(out, "    {k}={v}")?;
        }
        writeln!(out)?;
        writeln!(out, "HISTORY")?;
        writeln!(out, "  {:>3}  {:<5}  CREATED BY", "#", "EMPTY")?;
        for (k, h) in c.history.iter().enumerate() {
            let by: String = h.created_by.chars().take(200).collect();
            writeln!(
                out,
                "  {k:>3}  {:<5}  {}",
                if h.empty_layer { "yes" } else { "" },
                by.replace('\n', " ")
            )?;
        }
        if !img.notes.is_empty() {
            writeln!(out)?;
            writeln!(out, "NOTES")?;
            for note in &img.notes {
                writeln!(out, "  {note}")?;
            }
        }
    }
    Ok(())
}
