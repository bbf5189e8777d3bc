//! Command-line interface: argument definitions and dispatch. Each subcommand lives in
//! its own file and returns the process exit code; `main.rs` only calls [`run`].
//!
//! Exit codes are shared by every command: [`EXIT_CLEAN`], [`EXIT_FINDINGS`],
//! [`EXIT_ERROR`] (an error, or a scan that could not read everything).

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

mod admission_review;
mod cache;
pub mod common;
mod completions;
mod events;
mod inspect;
mod man;
mod manifests;
mod name;
mod registry;
mod rules;
mod scan;
mod serve;
mod signatures;

/// The exit codes are the report's policy ([`crate::report::exit_code`]); re-exported so
/// every command says `super::EXIT_*`.
pub use crate::report::{EXIT_CLEAN, EXIT_ERROR, EXIT_FINDINGS};

#[derive(Parser, Debug)]
#[command(
    name = "imgscan",
    // The short form; `run` puts the full `version_line` in only when it is asked for,
    // since computing it compiles every signature file.
    version = env!("CARGO_PKG_VERSION"),
    about = "Checks container images for miners, droppers and credential stealers before they run",
    long_about = "Checks container images for miners, droppers and credential stealers before they run.\n\n`imgscan TARGET` is short for `imgscan scan TARGET`. TARGET is a registry reference \
(nginx, localhost:5000/team/api:1.4, ghcr.io/o/r@sha256:...), a docker-save tar, an OCI \
archive or an OCI layout directory, optionally with a scheme (registry:, docker-archive:, \
oci-archive:, oci-dir:) and PATH:tag or PATH@digest to pick one image; docker:NAME, \
containerd:NAME and podman:NAME read a local daemon, and an unprefixed name is looked for in \
--image-src order (default docker,containerd,podman,remote).\n\nExit codes: 0 clean, \
1 findings at or above --fail-on, 2 error or incomplete scan."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Flag values from FILE (YAML, flag names as keys; default ./imgscan.yaml when it
    /// exists). A flag or its IMGSCAN_* variable wins over the file.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Scan an image for malicious content (the default command).
    Scan(scan::Args),
    /// Show an image's manifest, platform, layers, config and history.
    Inspect(inspect::Args),
    /// Check image names alone for typosquats, namespace squats and known-bad images.
    Name(name::Args),
    /// Parse and lint YARA-L 2.0 rules.
    #[command(subcommand)]
    Rules(rules::Command),
    /// Run YARA-L rules over UDM events (JSON lines) from runtime logs.
    Events(events::Args),
    /// Answer one Kubernetes AdmissionReview as `serve` would (exit 0 allowed, 1 denied, 2 error).
    AdmissionReview(admission_review::Args),
    /// Show or empty the per-layer scan cache.
    #[command(subcommand)]
    Cache(cache::Command),
    /// Run the Kubernetes validating admission webhook (HTTPS `POST /validate`).
    Serve(serve::Args),
    /// Scan every image that Kubernetes YAML (files, directories, `-`) would run.
    Manifests(Box<manifests::ManifestsArgs>),
    /// Scan every repository (or those below a prefix) of a registry, with the layer cache.
    Registry(Box<registry::RegistryArgs>),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(completions::Args),
    /// Print the manual page (roff), or write one per command with --dir.
    Man(man::Args),
    /// Show the detection data that is loaded and from where.
    #[command(subcommand)]
    Signatures(signatures::Command),
}

const SUBCOMMANDS: &[&str] = &[
    "scan",
    "inspect",
    "name",
    "rules",
    "events",
    "admission-review",
    "cache",
    "serve",
    "manifests",
    "registry",
    "completions",
    "man",
    "signatures",
    "help",
];

/// Insert `scan` when the first argument is not a subcommand or a top-level flag, so
/// `imgscan TARGET` works.
fn with_default_command(mut args: Vec<String>) -> Vec<String> {
    if let Some(first) = args.get(1) {
        let top_level_flag = matches!(first.as_str(), "-h" | "--help" | "-V" | "--version");
        if !top_level_flag && !SUBCOMMANDS.contains(&first.as_str()) {
            args.insert(1, "scan".to_string());
        }
    }
    args
}

/// Whether the top-level `--version`/`-V` is asked for (the only place clap prints it).
fn wants_version(args: &[String]) -> bool {
    matches!(args.get(1).map(String::as_str), Some("-V" | "--version"))
}

/// Parse the process arguments, run the command, return its exit code.
pub fn run() -> i32 {
    // One TLS crypto provider for the whole process (ring); reqwest and our own servers
    // would otherwise panic choosing between providers.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = with_default_command(std::env::args().collect());
    let mut cmd = match with_config(with_env(Cli::command()), &args) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    if wants_version(&args) {
        cmd = cmd.version(crate::report::inventory::version_line());
    }
    let parsed = cmd
        .try_get_matches_from(args)
        .and_then(|m| Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    EXIT_CLEAN
                }
                _ => EXIT_ERROR,
            };
        }
    };
    match cli.command {
        Command::Scan(a) => scan::run(a),
        Command::Inspect(a) => inspect::run(a),
        Command::Name(a) => name::run(a),
        Command::Rules(c) => rules::run(c),
        Command::Events(a) => events::run(a),
        Command::AdmissionReview(a) => admission_review::run(a),
        Command::Cache(c) => cache::run(c),
        Command::Serve(a) => serve::run(a),
        Command::Manifests(a) => manifests::run(*a),
        Command::Registry(a) => registry::run(*a),
        Command::Completions(a) => completions::run(a),
        Command::Man(a) => man::run(a),
        Command::Signatures(c) => signatures::run(c),
    }
}

/// Every flag (not positional arguments, `--help`, `--version`) also read from
/// `IMGSCAN_<FLAG>`: the flag's name in capitals with `_` for `-` (`--fail-on` is
/// `IMGSCAN_FAIL_ON`, `--no-cache` is `IMGSCAN_NO_CACHE=true`), in every subcommand. A flag
/// on the command line wins over the variable, the variable over the default. Flags that
/// already name a variable keep it.
pub(crate) fn with_env(cmd: clap::Command) -> clap::Command {
    let cmd = cmd.mut_args(|a| {
        let id = a.get_id().as_str().to_string();
        if a.is_positional() || a.get_env().is_some() || id == "help" || id == "version" {
            return a;
        }
        // clap keeps `&'static str` names (its `string` feature is off): a few hundred
        // bytes, once per process.
        let name = format!("IMGSCAN_{}", id.to_ascii_uppercase().replace('-', "_"));
        a.env(&*name.leak())
    });
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect();
    names
        .into_iter()
        .fold(cmd, |cmd, n| cmd.mut_subcommand(n, with_env))
}

/// The value of `--config PATH` / `--config=PATH` among `args`, before clap parses them.
fn config_arg(args: &[String]) -> Option<std::path::PathBuf> {
    let mut it = args.iter().skip(1).take_while(|a| *a != "--");
    while let Some(a) = it.next() {
        if a == "--config" {
            return it.next().map(Into::into);
        }
        if let Some(v) = a.strip_prefix("--config=") {
            return Some(v.into());
        }
    }
    None
}

/// Flag ids (not positional arguments) of `cmd` and all its subcommands.
fn flag_ids(cmd: &clap::Command, out: &mut Vec<String>) {
    for a in cmd.get_arguments().filter(|a| !a.is_positional()) {
        out.push(a.get_id().as_str().to_string());
    }
    for c in cmd.get_subcommands() {
        flag_ids(c, out);
    }
}

/// `cmd` with the config file's values as the defaults of its flags
/// ([`crate::config`]): flag > `IMGSCAN_*` > file > built-in default.
fn with_config(cmd: clap::Command, args: &[String]) -> Result<clap::Command, String> {
    let Some((path, _)) = crate::config::locate(config_arg(args).as_deref()) else {
        return Ok(cmd);
    };
    let mut known = Vec::new();
    flag_ids(&cmd, &mut known);
    known.retain(|id| id != "help" && id != "version" && id != "config");
    let settings = crate::config::load(&path, &known)?;
    Ok(apply_settings(cmd, &settings))
}

fn apply_settings(cmd: clap::Command, settings: &crate::config::Settings) -> clap::Command {
    let cmd = cmd.mut_args(|a| match settings.get(a.get_id().as_str()) {
        Some(values) if !a.is_positional() => {
            // clap keeps `&'static str` values (its `string` feature is off).
            let v: Vec<&'static str> = values.iter().map(|v| &*v.clone().leak()).collect();
            a.default_values(v)
        }
        _ => a,
    });
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect();
    names.into_iter().fold(cmd, |cmd, n| {
        cmd.mut_subcommand(n, |c| apply_settings(c, settings))
    })
}

/// Print an error the way every command does (`imgscan: <what>`) and return
/// [`EXIT_ERROR`].
pub fn fail(msg: impl std::fmt::Display) -> i32 {
    eprintln!("imgscan: {msg}");
    EXIT_ERROR
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn every_flag_has_a_variable() {
        let cmd = with_env(Cli::command());
        let scan = cmd.find_subcommand("scan").unwrap();
        let env = |id: &str| {
            scan.get_arguments()
                .find(|a| a.get_id() == id)
                .and_then(|a| a.get_env())
                .map(|e| e.to_string_lossy().into_owned())
        };
        assert_eq!(env("fail_on").as_deref(), Some("IMGSCAN_FAIL_ON"));
        assert_eq!(
            env("max_file_bytes").as_deref(),
            Some("IMGSCAN_MAX_FILE_BYTES")
        );
        assert_eq!(env("cache_url").as_deref(), Some("IMGSCAN_CACHE_URL"));
        assert_eq!(env("targets"), None, "positional arguments stay positional");
        let clean = cmd
            .find_subcommand("cache")
            .unwrap()
            .find_subcommand("clean");
        assert!(clean.is_some_and(|c| c
            .get_arguments()
            .all(|a| a.is_positional() || a.get_id() == "help" || a.get_env().is_some())));
        with_env(Cli::command()).debug_assert();
    }

    #[test]
    fn bare_target_means_scan() {
        assert_eq!(with_default_command(v(&["imgscan", "nginx"]))[1], "scan");
        assert_eq!(
            with_default_command(v(&["imgscan", "inspect", "x"]))[1],
            "inspect"
        );
        assert_eq!(with_default_command(v(&["imgscan", "--help"]))[1], "--help");
        assert_eq!(with_default_command(v(&["imgscan"])).len(), 1);
    }
}
