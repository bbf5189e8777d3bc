//! Interim command splitter with separators, until `shell::script_commands` (the lead's
//! script analyzer) lands on main; same shape, so callers switch by changing one `use`.

/// How a command is joined to the one before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sep {
    Start,
    Seq,
    And,
    Or,
    Pipe,
    Background,
}

/// One simple command of a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellCommand {
    pub text: String,
    pub words: Vec<String>,
    pub line: u32,
    pub after: Sep,
}

const MAX_SCRIPT: usize = 1 << 20;
const RESERVED: &[&str] = &[
    "if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!", "{", "}", "(", ")",
];

/// Split `script` into commands (comments skipped; heredoc bodies are not recognised here).
pub fn script_commands(script: &str) -> Vec<ShellCommand> {
    let mut end = script.len().min(MAX_SCRIPT);
    while !script.is_char_boundary(end) {
        end -= 1;
    }
    let script = &script[..end];
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut line, mut start_line) = (1u32, 1u32);
    let mut next_sep = Sep::Start;
    let mut quote: Option<char> = None;
    let mut chars = script.chars().peekable();
    let push = |cur: &mut String, sep: Sep, start: u32, out: &mut Vec<ShellCommand>| {
        let t = cur.trim();
        if !t.is_empty() {
            let mut words = crate::shell::words(t);
            let skip = words
                .iter()
                .take_while(|w| RESERVED.contains(&w.as_str()))
                .count();
            words.drain(..skip);
            out.push(ShellCommand {
                text: t.to_string(),
                words,
                line: start,
                after: sep,
            });
        }
        cur.clear();
    };
    while let Some(c) = chars.next() {
        if c == '\n' {
            line += 1;
        }
        if let Some(q) = quote {
            cur.push(c);
            if c == q {
                quote = None;
            } else if c == '\\' && q == '"' {
                if let Some(n) = chars.next() {
                    line += u32::from(n == '\n');
                    cur.push(n);
                }
            }
            continue;
        }
        match c {
            '\'' | '"' => {
                quote = Some(c);
                cur.push(c);
            }
            '#' if cur.is_empty() || cur.ends_with(char::is_whitespace) => {
                for n in chars.by_ref() {
                    if n == '\n' {
                        line += 1;
                        break;
                    }
                }
                let sep = next_sep;
                push(&mut cur, sep, start_line, &mut out);
                next_sep = Sep::Seq;
                start_line = line;
            }
            '\\' => match chars.next() {
                Some('\n') => {
                    line += 1;
                    cur.push(' ');
                }
                Some(n) => {
                    cur.push('\\');
                    cur.push(n);
                }
                None => {}
            },
            ';' | '\n' | '|' | '&' => {
                if c == '&'
                    && (cur.ends_with('>') || cur.ends_with('<') || chars.peek() == Some(&'>'))
                {
                    cur.push(c);
                    continue;
                }
                let sep = match (c, chars.peek()) {
                    ('|', Some('|')) => {
                        chars.next();
                        Sep::Or
                    }
                    ('&', Some('&')) => {
                        chars.next();
                        Sep::And
                    }
                    ('|', Some('&')) => {
                        chars.next();
                        Sep::Pipe
                    }
                    ('|', _) => Sep::Pipe,
                    ('&', _) => Sep::Background,
                    _ => Sep::Seq,
                };
                let was = next_sep;
                let had = !cur.trim().is_empty();
                push(&mut cur, was, start_line, &mut out);
                if had {
                    next_sep = sep;
                }
                start_line = line;
            }
            _ => {
                if cur.trim().is_empty() {
                    start_line = line;
                }
                cur.push(c);
            }
        }
    }
    let sep = next_sep;
    push(&mut cur, sep, start_line, &mut out);
    out
}
