//! Runs: which files of the final filesystem the image runs, and why. Starting from the
//! start command (Entrypoint + Cmd) and from the files the system runs by itself (crontabs,
//! cron scripts, systemd units, supervisord programs, rc and profile scripts, see
//! `script.rs`), it follows every command that runs a script — `sh /run.sh`, `./start.sh`,
//! `exec /entry`, `. /env.sh`, `source x`, `bash -c '. /entry'` — through the image's
//! `PATH`, working directory and final filesystem (symlinks followed inside the image), to
//! the scripts those run in turn, at most [`MAX_DEPTH`] deep and [`MAX_RUN_FILES`] files.
//!
//! ```text
//! Cmd ["sh", "/start.sh"]                    -> /start.sh        (run by the start command)
//!   /start.sh line 3: exec ./bin/run --quiet  -> /app/bin/run     (run by /start.sh line 3)
//! /etc/cron.d/sys (a crontab)                -> itself            (cron runs its entries)
//!   line 1: * * * * * root /opt/u.sh          -> /opt/u.sh        (run by /etc/cron.d/sys line 1)
//! ```
//!
//! The result lets the scan say, for a script's findings, that the image runs it (what it
//! does is then as serious as if it were in the start command) and turn its commands into
//! `PROCESS_LAUNCH` events for the YARA-L rules.

use super::config::{program, resolve};
use super::script::ScriptKind;
use super::{FsLookup, ImageFacts};
use crate::image::Image;
use crate::shell::{self, Sep, ShellCommand};
use std::collections::{HashSet, VecDeque};

/// Scripts followed from a root at most (a script run by a script run by ...).
pub const MAX_DEPTH: usize = 8;
/// Files reported as run at most; more is noted (the scan is then incomplete).
pub const MAX_RUN_FILES: usize = 512;
/// Commands examined at most while following (over all files).
const MAX_COMMANDS_FOLLOWED: usize = 100_000;

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const SHELLS: &[&str] = &["sh", "bash", "dash", "ash", "zsh", "ksh", "mksh"];

/// A file the image runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFile {
    pub layer: usize,
    /// Path in the layer (no leading `/`).
    pub path: String,
    pub kind: ScriptKind,
    /// Who runs it, for a person: `the start command (Cmd)`, `/start.sh line 3: ./x`,
    /// `cron (a crontab)`.
    pub why: String,
    /// 0 for a root (the start command's own script, a crontab), +1 per script followed.
    pub depth: usize,
}

/// The commands an image runs at start (Entrypoint + Cmd), as a script's commands.
pub fn start_commands(image: &Image) -> Vec<ShellCommand> {
    let cfg = &image.config;
    let argv: Vec<String> = cfg.entrypoint.iter().chain(&cfg.cmd).cloned().collect();
    if argv.is_empty() {
        return Vec::new();
    }
    match shell::shell_script(&argv) {
        Some(script) => shell::script_commands(script),
        None => vec![ShellCommand {
            text: shell_words::join(&argv),
            words: argv,
            line: 1,
            after: Sep::Start,
        }],
    }
}

/// What one command runs as a script: the paths it may name (its program, the file a shell
/// or `.`/`source` is given), and an inline script (`sh -c SCRIPT`).
fn script_refs(words: &[String]) -> (Vec<String>, Option<String>) {
    let Some(prog) = program(words) else {
        return (Vec::new(), None);
    };
    let at = words.iter().position(|w| w == prog).unwrap_or(0);
    let rest = &words[at..];
    let base = prog.rsplit('/').next().unwrap_or(prog);
    let arg = |from: usize| -> Option<String> {
        rest.iter()
            .skip(from)
            .find(|w| !w.starts_with('-'))
            .filter(|w| !w.starts_with('$') && !w.is_empty())
            .cloned()
    };
    if base == "." || base == "source" {
        return (arg(1).into_iter().collect(), None);
    }
    let (shell_at, is_shell) = if base == "busybox" && rest.get(1).is_some_and(|w| w == "sh") {
        (1, true)
    } else {
        (0, SHELLS.contains(&base))
    };
    if is_shell {
        if let Some(script) = shell::shell_script(&rest[shell_at..]) {
            return (Vec::new(), Some(script.to_string()));
        }
        return (arg(shell_at + 1).into_iter().collect(), None);
    }
    if prog.starts_with('$') {
        return (Vec::new(), None);
    }
    (vec![prog.to_string()], None)
}

/// Every file the image runs (see the module doc), roots first, then in the order found;
/// plus notes when a bound cut the search short.
pub fn run_files(
    image: &Image,
    fs: &dyn FsLookup,
    facts: &ImageFacts,
) -> (Vec<RunFile>, Vec<String>) {
    let cfg = &image.config;
    let path_var = cfg.env_var("PATH").unwrap_or(DEFAULT_PATH).to_string();
    let workdir = if cfg.working_dir.is_empty() {
        "/".to_string()
    } else {
        cfg.working_dir.clone()
    };
    let mut out: Vec<RunFile> = Vec::new();
    let mut seen: HashSet<(usize, String)> = HashSet::new();
    let mut notes = Vec::new();
    // (commands, who runs them, depth of the file they are in)
    let mut queue: VecDeque<(Vec<ShellCommand>, String, usize)> = VecDeque::new();
    let field = match (cfg.entrypoint.is_empty(), cfg.cmd.is_empty()) {
        (false, false) => "Entrypoint+Cmd",
        (false, true) => "Entrypoint",
        _ => "Cmd",
    };
    queue.push_back((
        start_commands(image),
        format!("the start command ({field})"),
        0,
    ));
    // Files the system runs by itself, when they are what the final filesystem shows.
    for (layer, lf) in facts.layers.iter().enumerate() {
        for s in lf.scripts.iter().filter(|s| s.kind.is_persistence()) {
            let visible = fs
                .resolve(&s.path)
                .is_some_and(|e| e.layer == layer && e.path == s.path);
            if !visible || !seen.insert((layer, s.path.clone())) {
                continue;
            }
            out.push(RunFile {
                layer,
                path: s.path.clone(),
                kind: s.kind,
                why: runner_of(s.kind).to_string(),
                depth: 0,
            });
            queue.push_back((s.commands.clone(), format!("/{}", s.path), 0));
        }
    }
    let mut examined = 0usize;
    while let Some((cmds, origin, depth)) = queue.pop_front() {
        for c in &cmds {
            examined += 1;
            if examined > MAX_COMMANDS_FOLLOWED {
                notes.push(format!(
                    "following the scripts the image runs stopped after {MAX_COMMANDS_FOLLOWED} commands"
                ));
                return (out, notes);
            }
            let (refs, inline) = script_refs(&c.words);
            if let Some(script) = inline {
                let mut inner = shell::script_commands(&script);
                for i in &mut inner {
                    i.line = c.line;
                }
                queue.push_back((inner, origin.clone(), depth));
            }
            for r in refs {
                let Some((_, entry)) = resolve(fs, &r, &path_var, &workdir) else {
                    continue;
                };
                let Some(s) = facts.script(entry.layer, &entry.path) else {
                    continue;
                };
                if !seen.insert((entry.layer, entry.path.clone())) {
                    continue;
                }
                if out.len() >= MAX_RUN_FILES {
                    notes.push(format!(
                        "more than {MAX_RUN_FILES} files are run by the image; the rest were not followed"
                    ));
                    return (out, notes);
                }
                let why = if depth == 0 && origin.starts_with("the start command") {
                    format!("{origin}: {}", c.text)
                } else {
                    format!("{origin} line {}: {}", c.line, c.text)
                };
                out.push(RunFile {
                    layer: entry.layer,
                    path: entry.path.clone(),
                    kind: s.kind,
                    why: crate::findings::excerpt(why.as_bytes(), 200),
                    depth: depth + 1,
                });
                if depth + 1 < MAX_DEPTH {
                    queue.push_back((s.commands.clone(), format!("/{}", entry.path), depth + 1));
                }
            }
        }
    }
    (out, notes)
}

fn runner_of(kind: ScriptKind) -> &'static str {
    match kind {
        ScriptKind::Crontab => "cron runs its entries (a crontab)",
        ScriptKind::CronScript => "cron runs it (run-parts of /etc/cron.*)",
        ScriptKind::SystemdUnit => "systemd runs its Exec lines (a service unit)",
        ScriptKind::Supervisor => "supervisord runs its command= lines",
        ScriptKind::RcScript => "init runs it at boot",
        ScriptKind::Profile => "every login or interactive shell runs it",
        ScriptKind::Shell => "it is run",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyzers::script::{commands_of, ScriptFacts};
    use crate::analyzers::LayerFacts;
    use crate::image::{EntryKind, FileEntry, ImageConfig};
    use std::collections::HashMap;

    fn image(cfg: ImageConfig) -> Image {
        Image {
            reference: "t".into(),
            manifest_digest: "sha256:m".into(),
            config_digest: "sha256:c".into(),
            platform: Default::default(),
            config: cfg,
            layers: vec![],
            names: vec![],
            notes: vec![],
        }
    }

    /// A one-layer image with these files; `(path, text)` of scripts get facts.
    fn setup(files: &[(&str, &str)]) -> (HashMap<String, FileEntry>, Vec<LayerFacts>) {
        let mut fs = HashMap::new();
        let mut lf = LayerFacts::default();
        for (p, text) in files {
            fs.insert(
                p.to_string(),
                FileEntry {
                    layer: 0,
                    layer_digest: "sha256:0".into(),
                    path: p.to_string(),
                    kind: EntryKind::File,
                    mode: 0o755,
                    size: text.len() as u64,
                    link_target: None,
                    hidden_by: None,
                },
            );
            let kind = crate::analyzers::script::kind_by_path(p).unwrap_or(ScriptKind::Shell);
            if !text.is_empty() {
                lf.scripts.push(ScriptFacts {
                    path: p.to_string(),
                    kind,
                    commands: commands_of(kind, p, text),
                    truncated: false,
                });
            }
        }
        (fs, vec![lf])
    }

    fn names(r: &[RunFile]) -> Vec<(&str, usize)> {
        r.iter().map(|f| (f.path.as_str(), f.depth)).collect()
    }

    #[test]
    fn follows_the_start_command_through_scripts() {
        let (fs, lf) = setup(&[
            (
                "start.sh",
                "#!/bin/sh\nset -e\n. /env.sh\nexec ./bin/run --quiet\n",
            ),
            ("env.sh", "export A=1\n"),
            ("app/bin/run", "#!/bin/bash\nbash -c '. /deep.sh'\n"),
            ("deep.sh", "sh /deeper.sh\n"),
            ("deeper.sh", "nohup /opt/x &\n"),
            ("unrelated.sh", "echo never run\n"),
            ("usr/bin/ls", ""),
        ]);
        let cfg = ImageConfig {
            cmd: vec!["sh".into(), "/start.sh".into()],
            working_dir: "/app".into(),
            ..Default::default()
        };
        let (r, notes) = run_files(&image(cfg), &fs, &ImageFacts { layers: &lf });
        assert!(notes.is_empty());
        assert_eq!(
            names(&r),
            [
                ("start.sh", 1),
                ("env.sh", 2),
                ("app/bin/run", 2),
                ("deep.sh", 3),
                ("deeper.sh", 4)
            ]
        );
        assert_eq!(r[0].why, "the start command (Cmd): sh /start.sh");
        assert_eq!(r[2].why, "/start.sh line 4: exec ./bin/run --quiet");
    }

    #[test]
    fn persistence_files_are_run_and_followed() {
        let (fs, lf) = setup(&[
            (
                "etc/cron.d/sys",
                "* * * * * root /opt/u.sh >/dev/null 2>&1\n",
            ),
            ("opt/u.sh", "#!/bin/sh\n./x\n"),
            ("etc/profile.d/a.sh", "PATH=$PATH:/x\n"),
        ]);
        let (r, _) = run_files(
            &image(ImageConfig::default()),
            &fs,
            &ImageFacts { layers: &lf },
        );
        assert_eq!(
            names(&r),
            [
                ("etc/cron.d/sys", 0),
                ("etc/profile.d/a.sh", 0),
                ("opt/u.sh", 1)
            ]
        );
        assert_eq!(
            r[2].why,
            "/etc/cron.d/sys line 1: /opt/u.sh >/dev/null 2>&1"
        );
    }

    #[test]
    fn loops_and_hostile_chains_are_bounded() {
        let (fs, lf) = setup(&[("a.sh", "sh /b.sh\n. /a.sh\n"), ("b.sh", "sh /a.sh\n")]);
        let cfg = ImageConfig {
            entrypoint: vec!["/a.sh".into()],
            ..Default::default()
        };
        let (r, notes) = run_files(&image(cfg), &fs, &ImageFacts { layers: &lf });
        assert_eq!(names(&r), [("a.sh", 1), ("b.sh", 2)]);
        assert!(notes.is_empty());
        // A chain deeper than MAX_DEPTH stops there.
        let files: Vec<(String, String)> = (0..20)
            .map(|i| (format!("s{i}.sh"), format!("sh /s{}.sh\n", i + 1)))
            .collect();
        let refs: Vec<(&str, &str)> = files
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let (fs, lf) = setup(&refs);
        let cfg = ImageConfig {
            cmd: vec!["/s0.sh".into()],
            ..Default::default()
        };
        let (r, _) = run_files(&image(cfg), &fs, &ImageFacts { layers: &lf });
        assert_eq!(r.len(), MAX_DEPTH);
    }
}
