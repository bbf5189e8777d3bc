//! Lexer for YARA-L 2.0: turns rule text into tokens with line/column positions.
//! Owns: comments (`//`, `/* */`), strings (`"..."` with escapes, `` `...` `` raw),
//! `/regex/` literals (told apart from division by the previous token), numbers,
//! durations (`5m`, `1h`), `$var`, `#var`, `%list` and punctuation.

use super::Diagnostic;

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Ident(String),
    Var(String),
    Count(String),
    List(String),
    Str(String),
    Regex(String),
    Int(i64),
    Float(f64),
    /// Duration in seconds (`5m` = 300).
    Duration(i64),
    LBrace,
    RBrace,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Colon,
    Dot,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Plus,
    Minus,
    Star,
    Slash,
    Bang,
    Eof,
}

#[derive(Debug, Clone)]
pub struct Token {
    pub tok: Tok,
    pub line: usize,
    pub col: usize,
    /// Length in characters of the source text (for the caret).
    pub len: usize,
}

/// Can a `/` after this token start a regex literal?
fn regex_allowed(prev: Option<&Tok>) -> bool {
    match prev {
        None => true,
        Some(t) => match t {
            Tok::Ident(s) => {
                let s = s.to_ascii_lowercase();
                matches!(s.as_str(), "in" | "regex" | "and" | "or" | "not" | "events")
            }
            Tok::Eq
            | Tok::Ne
            | Tok::Lt
            | Tok::Le
            | Tok::Gt
            | Tok::Ge
            | Tok::LParen
            | Tok::Comma
            | Tok::Colon
            | Tok::Bang
            | Tok::LBracket => true,
            _ => false,
        },
    }
}

pub fn lex(file: &str, src: &str) -> Result<Vec<Token>, Box<Diagnostic>> {
    let chars: Vec<char> = src.chars().collect();
    let mut out: Vec<Token> = Vec::new();
    let (mut i, mut line, mut col) = (0usize, 1usize, 1usize);
    let err = |line: usize, col: usize, len: usize, msg: String| {
        Box::new(Diagnostic::error(file, src, None, line, col, len, msg))
    };
    while i < chars.len() {
        let c = chars[i];
        let (sl, sc, si) = (line, col, i);
        macro_rules! adv {
            () => {{
                if chars[i] == '\n' {
                    line += 1;
                    col = 1;
                } else {
                    col += 1;
                }
                i += 1;
            }};
        }
        if c.is_whitespace() {
            adv!();
            continue;
        }
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                adv!();
            }
            continue;
        }
        if c == '/' && next == Some('*') {
            adv!();
            adv!();
            loop {
                if i >= chars.len() {
                    return Err(err(sl, sc, 2, "unterminated /* comment".into()));
                }
                if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    adv!();
                    adv!();
                    break;
                }
                adv!();
            }
            continue;
        }
        let tok = if c == '"' || c == '`' {
            let q = c;
            adv!();
            let mut s = String::new();
            loop {
                if i >= chars.len() {
                    return Err(err(sl, sc, 1, "unterminated string".into()));
                }
                let ch = chars[i];
                if ch == q {
                    adv!();
                    break;
                }
                if q == '"' && ch == '\\' && i + 1 < chars.len() {
                    let e = chars[i + 1];
                    match e {
                        '"' => s.push('"'),
                        '\\' => s.push('\\'),
                        'n' => s.push('\n'),
                        't' => s.push('\t'),
                        'r' => s.push('\r'),
                        other => {
                            s.push('\\');
                            s.push(other);
                        }
                    }
                    adv!();
                    adv!();
                    continue;
                }
                s.push(ch);
                adv!();
            }
            Tok::Str(s)
        } else if c == '/' && regex_allowed(out.last().map(|t| &t.tok)) {
            adv!();
            let mut s = String::new();
            loop {
                if i >= chars.len() || chars[i] == '\n' {
                    return Err(err(sl, sc, 1, "unterminated /regex/ literal".into()));
                }
                let ch = chars[i];
                if ch == '/' {
                    adv!();
                    break;
                }
                if ch == '\\' && chars.get(i + 1) == Some(&'/') {
                    s.push('/');
                    adv!();
                    adv!();
                    continue;
                }
                if ch == '\\' && i + 1 < chars.len() {
                    s.push('\\');
                    s.push(chars[i + 1]);
                    adv!();
                    adv!();
                    continue;
                }
                s.push(ch);
                adv!();
            }
            Tok::Regex(s)
        } else if c == '$' || c == '#' || c == '%' {
            adv!();
            let mut s = String::new();
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                s.push(chars[i]);
                adv!();
            }
            if s.is_empty() {
                return Err(err(sl, sc, 1, format!("expected a name after {c:?}")));
            }
            match c {
                '$' => Tok::Var(s),
                '#' => Tok::Count(s),
                _ => Tok::List(s),
            }
        } else if c.is_ascii_digit() {
            let mut s = String::new();
            let mut float = false;
            while i < chars.len()
                && (chars[i].is_ascii_digit()
                    || (chars[i] == '.'
                        && !float
                        && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())))
            {
                if chars[i] == '.' {
                    float = true;
                }
                s.push(chars[i]);
                adv!();
            }
            let unit = chars.get(i).copied();
            let after = chars.get(i + 1).copied();
            let unit_mul = match unit {
                Some('s') => Some(1),
                Some('m') => Some(60),
                Some('h') => Some(3600),
                Some('d') => Some(86400),
                _ => None,
            };
            if let (Some(mul), false) = (
                unit_mul,
                after.is_some_and(|a| a.is_alphanumeric() || a == '_'),
            ) {
                if float {
                    return Err(err(
                        sl,
                        sc,
                        s.len() + 1,
                        "durations must be whole numbers".into(),
                    ));
                }
                adv!();
                let n: i64 = s
                    .parse()
                    .map_err(|_| err(sl, sc, s.len(), "number out of range".into()))?;
                Tok::Duration(n.saturating_mul(mul))
            } else if float {
                Tok::Float(
                    s.parse()
                        .map_err(|_| err(sl, sc, s.len(), "bad number".into()))?,
                )
            } else {
                Tok::Int(
                    s.parse()
                        .map_err(|_| err(sl, sc, s.len(), "number out of range".into()))?,
                )
            }
        } else if c.is_alphabetic() || c == '_' {
            let mut s = String::new();
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                s.push(chars[i]);
                adv!();
            }
            Tok::Ident(s)
        } else {
            let two = next.map(|n| (c, n));
            let t = match two {
                Some(('!', '=')) => Some(Tok::Ne),
                Some(('<', '=')) => Some(Tok::Le),
                Some(('>', '=')) => Some(Tok::Ge),
                _ => None,
            };
            if let Some(t) = t {
                adv!();
                adv!();
                t
            } else {
                let t = match c {
                    '{' => Tok::LBrace,
                    '}' => Tok::RBrace,
                    '(' => Tok::LParen,
                    ')' => Tok::RParen,
                    '[' => Tok::LBracket,
                    ']' => Tok::RBracket,
                    ',' => Tok::Comma,
                    ':' => Tok::Colon,
                    '.' => Tok::Dot,
                    '=' => Tok::Eq,
                    '<' => Tok::Lt,
                    '>' => Tok::Gt,
                    '+' => Tok::Plus,
                    '-' => Tok::Minus,
                    '*' => Tok::Star,
                    '/' => Tok::Slash,
                    '!' => Tok::Bang,
                    other => {
                        return Err(err(sl, sc, 1, format!("unexpected character {other:?}")));
                    }
                };
                adv!();
                t
            }
        };
        out.push(Token {
            tok,
            line: sl,
            col: sc,
            len: (i - si).max(1),
        });
    }
    out.push(Token {
        tok: Tok::Eof,
        line,
        col,
        len: 1,
    });
    Ok(out)
}

/// A token as error messages show it.
pub fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(s) => format!("`{s}`"),
        Tok::Var(s) => format!("`${s}`"),
        Tok::Count(s) => format!("`#{s}`"),
        Tok::List(s) => format!("`%{s}`"),
        Tok::Str(s) => format!("string {s:?}"),
        Tok::Regex(s) => format!("regex /{s}/"),
        Tok::Int(n) => format!("number {n}"),
        Tok::Float(f) => format!("number {f}"),
        Tok::Duration(d) => format!("duration {d}s"),
        Tok::Eof => "end of file".into(),
        other => format!("`{}`", punct(other)),
    }
}

fn punct(t: &Tok) -> &'static str {
    match t {
        Tok::LBrace => "{",
        Tok::RBrace => "}",
        Tok::LParen => "(",
        Tok::RParen => ")",
        Tok::LBracket => "[",
        Tok::RBracket => "]",
        Tok::Comma => ",",
        Tok::Colon => ":",
        Tok::Dot => ".",
        Tok::Eq => "=",
        Tok::Ne => "!=",
        Tok::Lt => "<",
        Tok::Le => "<=",
        Tok::Gt => ">",
        Tok::Ge => ">=",
        Tok::Plus => "+",
        Tok::Minus => "-",
        Tok::Star => "*",
        Tok::Slash => "/",
        Tok::Bang => "!",
        _ => "?",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex("t", s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn regex_vs_division_and_comments() {
        assert_eq!(
            toks("$e.x = /a\\/b/ nocase // c\n /* d */ 4 / 2"),
            vec![
                Tok::Var("e".into()),
                Tok::Dot,
                Tok::Ident("x".into()),
                Tok::Eq,
                Tok::Regex("a/b".into()),
                Tok::Ident("nocase".into()),
                Tok::Int(4),
                Tok::Slash,
                Tok::Int(2),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn strings_durations_lists() {
        assert_eq!(
            toks(r#""a\"b\\c" `x\y` 5m 2h %l #c 1.5"#),
            vec![
                Tok::Str("a\"b\\c".into()),
                Tok::Str("x\\y".into()),
                Tok::Duration(300),
                Tok::Duration(7200),
                Tok::List("l".into()),
                Tok::Count("c".into()),
                Tok::Float(1.5),
                Tok::Eof
            ]
        );
        assert!(lex("t", "\"abc").is_err());
    }
}
