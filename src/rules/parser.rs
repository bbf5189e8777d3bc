//! Recursive-descent parser for YARA-L 2.0 rule files.
//!
//! Precedence, loosest first: the implicit `and` between top-level expressions of the
//! `events` section, `or`, `and`, `not`, comparisons (`=`, `!=`, `<`, ... , `in`),
//! `+`/`-`, `*`/`/`, unary `-`, then primaries (fields, calls, literals, `any`/`all`).
//! Keywords are case-insensitive. Regexes are compiled here, once per rule.

use super::ast::*;
use super::lexer::{describe, lex, Tok, Token};
use super::Diagnostic;
use std::sync::Arc;

const SECTIONS: &[&str] = &["meta", "events", "match", "outcome", "condition", "options"];

struct P<'a> {
    toks: Vec<Token>,
    i: usize,
    file: &'a str,
    src: &'a str,
    rule: Option<String>,
    depth: usize,
}

/// Deepest nesting of parentheses / `not` / calls accepted (hostile input must not
/// exhaust the stack).
pub const MAX_DEPTH: usize = 100;
/// Longest chain of `+ - * /` operands accepted.
const MAX_CHAIN: usize = 1000;

/// `a or b or c ...` as a balanced tree: evaluation order is unchanged, depth is log n.
fn balance(op: BinOp, mut v: Vec<Expr>) -> Expr {
    if v.len() == 1 {
        return v.pop().expect("one operand");
    }
    let right = v.split_off(v.len() / 2);
    Expr::Bin {
        op,
        l: Box::new(balance(op, v)),
        r: Box::new(balance(op, right)),
        nocase: false,
    }
}

type R<T> = Result<T, Box<Diagnostic>>;

fn kw(t: &Tok, k: &str) -> bool {
    matches!(t, Tok::Ident(s) if s.eq_ignore_ascii_case(k))
}

/// snake_case <-> camelCase counterpart of a field name.
pub fn alt_name(name: &str) -> String {
    if name.contains('_') {
        let mut out = String::new();
        let mut up = false;
        for c in name.chars() {
            if c == '_' {
                up = true;
            } else if up {
                out.extend(c.to_uppercase());
                up = false;
            } else {
                out.push(c);
            }
        }
        out
    } else {
        let mut out = String::new();
        for c in name.chars() {
            if c.is_ascii_uppercase() {
                out.push('_');
                out.push(c.to_ascii_lowercase());
            } else {
                out.push(c);
            }
        }
        out
    }
}

pub use super::re2::compile_regex;

impl<'a> P<'a> {
    fn peek(&self) -> &Tok {
        &self.toks[self.i].tok
    }
    fn peek_at(&self, n: usize) -> &Tok {
        &self.toks[(self.i + n).min(self.toks.len() - 1)].tok
    }
    fn pos(&self) -> Pos {
        let t = &self.toks[self.i];
        Pos {
            line: t.line,
            col: t.col,
            len: t.len,
        }
    }
    fn next(&mut self) -> Tok {
        let t = self.toks[self.i].tok.clone();
        if self.i < self.toks.len() - 1 {
            self.i += 1;
        }
        t
    }
    fn err_at(&self, pos: Pos, msg: impl Into<String>) -> Box<Diagnostic> {
        Box::new(Diagnostic::error(
            self.file,
            self.src,
            self.rule.clone(),
            pos.line,
            pos.col,
            pos.len,
            msg.into(),
        ))
    }
    fn err(&self, msg: impl Into<String>) -> Box<Diagnostic> {
        let m = format!("{}, found {}", msg.into(), describe(self.peek()));
        self.err_at(self.pos(), m)
    }
    fn expect(&mut self, t: Tok, what: &str) -> R<()> {
        if *self.peek() == t {
            self.next();
            Ok(())
        } else {
            Err(self.err(format!("expected {what}")))
        }
    }
    fn at_section(&self) -> bool {
        matches!(self.peek(), Tok::Ident(s) if SECTIONS.iter().any(|k| s.eq_ignore_ascii_case(k)))
            && *self.peek_at(1) == Tok::Colon
    }
    fn at_end_of_section(&self) -> bool {
        self.at_section() || matches!(self.peek(), Tok::RBrace | Tok::Eof)
    }

    fn rule(&mut self) -> R<Rule> {
        let pos = self.pos();
        if !kw(self.peek(), "rule") {
            return Err(self.err("expected `rule`"));
        }
        self.next();
        let name = match self.next() {
            Tok::Ident(n) => n,
            _ => {
                self.i -= 1;
                return Err(self.err("expected a rule name"));
            }
        };
        self.rule = Some(name.clone());
        self.expect(Tok::LBrace, "`{`")?;
        let mut rule = Rule {
            name,
            file: self.file.to_string(),
            meta: vec![],
            events: vec![],
            match_spec: None,
            outcomes: vec![],
            condition: Expr::Bool(false),
            options: vec![],
            vars: vec![],
            slots: vec![],
            pos,
        };
        let mut seen_events = false;
        let mut seen_condition = false;
        while *self.peek() != Tok::RBrace {
            if !self.at_section() {
                return Err(self.err(
                    "expected a section (meta:, events:, match:, outcome:, condition:, options:) or `}`",
                ));
            }
            let sec = match self.next() {
                Tok::Ident(s) => s.to_ascii_lowercase(),
                _ => unreachable!("at_section checked an identifier"),
            };
            self.next(); // colon
            match sec.as_str() {
                "meta" => {
                    while !self.at_end_of_section() {
                        let key = match self.next() {
                            Tok::Ident(k) => k,
                            _ => {
                                self.i -= 1;
                                return Err(self.err("expected a meta key"));
                            }
                        };
                        self.expect(Tok::Eq, "`=`")?;
                        let v = match self.next() {
                            Tok::Str(s) | Tok::Ident(s) => s,
                            Tok::Int(n) => n.to_string(),
                            Tok::Float(f) => f.to_string(),
                            _ => {
                                self.i -= 1;
                                return Err(self.err("expected a meta value"));
                            }
                        };
                        rule.meta.push((key, v));
                    }
                }
                "events" => {
                    seen_events = true;
                    while !self.at_end_of_section() {
                        let e = self.expr()?;
                        rule.events.push(e);
                    }
                }
                "match" => {
                    let mut vars = vec![];
                    loop {
                        match self.next() {
                            Tok::Var(v) => vars.push(v),
                            _ => {
                                self.i -= 1;
                                return Err(self.err("expected a match variable"));
                            }
                        }
                        if *self.peek() == Tok::Comma {
                            self.next();
                        } else {
                            break;
                        }
                    }
                    if !kw(self.peek(), "over") {
                        return Err(self.err("expected `over`"));
                    }
                    self.next();
                    let window_secs = match self.next() {
                        Tok::Duration(d) => d,
                        _ => {
                            self.i -= 1;
                            return Err(self.err("expected a duration such as 5m or 1h"));
                        }
                    };
                    // Sliding windows: `before $e` / `after $e` (accepted, evaluated as a
                    // window of the same length).
                    if kw(self.peek(), "before") || kw(self.peek(), "after") {
                        self.next();
                        if !matches!(self.next(), Tok::Var(_)) {
                            self.i -= 1;
                            return Err(self.err("expected an event variable"));
                        }
                    }
                    rule.match_spec = Some(MatchSpec { vars, window_secs });
                }
                "outcome" => {
                    while !self.at_end_of_section() {
                        let v = match self.next() {
                            Tok::Var(v) => v,
                            _ => {
                                self.i -= 1;
                                return Err(self.err("expected an outcome variable `$name`"));
                            }
                        };
                        self.expect(Tok::Eq, "`=`")?;
                        let e = self.expr()?;
                        rule.outcomes.push((v, e));
                    }
                }
                "condition" => {
                    seen_condition = true;
                    rule.condition = self.expr()?;
                    if !self.at_end_of_section() {
                        return Err(self.err("expected the end of the condition"));
                    }
                }
                "options" => {
                    while !self.at_end_of_section() {
                        let k = match self.next() {
                            Tok::Ident(k) => k,
                            _ => {
                                self.i -= 1;
                                return Err(self.err("expected an option name"));
                            }
                        };
                        self.expect(Tok::Eq, "`=`")?;
                        let v = self.primary()?;
                        rule.options.push((k.to_ascii_lowercase(), v));
                    }
                }
                _ => unreachable!(),
            }
        }
        let end = self.pos();
        self.next();
        if !seen_events {
            return Err(self.err_at(end, "rule has no `events:` section"));
        }
        if !seen_condition {
            return Err(self.err_at(end, "rule has no `condition:` section"));
        }
        Ok(rule)
    }

    fn expr(&mut self) -> R<Expr> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err(format!("expression nested deeper than {MAX_DEPTH} levels")));
        }
        let r = self.or_expr();
        self.depth -= 1;
        r
    }

    fn or_expr(&mut self) -> R<Expr> {
        let mut v = vec![self.and_expr()?];
        while kw(self.peek(), "or") {
            self.next();
            v.push(self.and_expr()?);
        }
        Ok(balance(BinOp::Or, v))
    }

    fn and_expr(&mut self) -> R<Expr> {
        let mut v = vec![self.not_expr()?];
        while kw(self.peek(), "and") {
            self.next();
            v.push(self.not_expr()?);
        }
        Ok(balance(BinOp::And, v))
    }

    fn not_expr(&mut self) -> R<Expr> {
        if kw(self.peek(), "not") {
            let pos = self.pos();
            self.next();
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return Err(self.err("too many nested `not`"));
            }
            let e = self.not_expr();
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(e?), pos));
        }
        self.cmp_expr()
    }

    fn cmp_expr(&mut self) -> R<Expr> {
        let l = self.add_expr()?;
        let op = match self.peek() {
            Tok::Eq => Some(BinOp::Eq),
            Tok::Ne => Some(BinOp::Ne),
            Tok::Lt => Some(BinOp::Lt),
            Tok::Le => Some(BinOp::Le),
            Tok::Gt => Some(BinOp::Gt),
            Tok::Ge => Some(BinOp::Ge),
            _ => None,
        };
        if let Some(op) = op {
            self.next();
            let mut r = self.add_expr()?;
            let mut nocase = false;
            if kw(self.peek(), "nocase") {
                self.next();
                nocase = true;
                if let Expr::Regex(_, src) = &r {
                    let re = compile_regex(src, true).map_err(|m| self.err_at(self.pos(), m))?;
                    r = Expr::Regex(Arc::new(re), src.clone());
                }
            }
            return Ok(Expr::Bin {
                op,
                l: Box::new(l),
                r: Box::new(r),
                nocase,
            });
        }
        if kw(self.peek(), "in") {
            let pos = self.pos();
            self.next();
            let kind = if kw(self.peek(), "regex") {
                self.next();
                ListKind::Regex
            } else if kw(self.peek(), "cidr") {
                self.next();
                ListKind::Cidr
            } else {
                ListKind::Str
            };
            match self.peek().clone() {
                Tok::List(name) => {
                    self.next();
                    let nocase = if kw(self.peek(), "nocase") {
                        self.next();
                        true
                    } else {
                        false
                    };
                    return Ok(Expr::InList {
                        e: Box::new(l),
                        list: name,
                        kind,
                        nocase,
                        pos,
                        resolved: None,
                    });
                }
                Tok::LParen if kind == ListKind::Str => {
                    self.next();
                    let mut values = vec![];
                    loop {
                        values.push(self.add_expr()?);
                        match self.next() {
                            Tok::Comma => continue,
                            Tok::RParen => break,
                            _ => {
                                self.i -= 1;
                                return Err(self.err("expected `,` or `)` in the value list"));
                            }
                        }
                    }
                    return Ok(Expr::InValues {
                        e: Box::new(l),
                        values,
                        pos,
                    });
                }
                _ => return Err(self.err("expected a reference list `%name` after `in`")),
            }
        }
        Ok(l)
    }

    fn add_expr(&mut self) -> R<Expr> {
        let mut l = self.mul_expr()?;
        for _ in 0..MAX_CHAIN {
            let op = match self.peek() {
                Tok::Plus => BinOp::Add,
                Tok::Minus => BinOp::Sub,
                _ => return Ok(l),
            };
            self.next();
            let r = self.mul_expr()?;
            l = Expr::Bin {
                op,
                l: Box::new(l),
                r: Box::new(r),
                nocase: false,
            };
        }
        Err(self.err(format!(
            "more than {MAX_CHAIN} operands in one arithmetic expression"
        )))
    }

    fn mul_expr(&mut self) -> R<Expr> {
        let mut l = self.unary()?;
        for _ in 0..MAX_CHAIN {
            let op = match self.peek() {
                Tok::Star => BinOp::Mul,
                Tok::Slash => BinOp::Div,
                _ => return Ok(l),
            };
            self.next();
            let r = self.unary()?;
            l = Expr::Bin {
                op,
                l: Box::new(l),
                r: Box::new(r),
                nocase: false,
            };
        }
        Err(self.err(format!(
            "more than {MAX_CHAIN} operands in one arithmetic expression"
        )))
    }

    fn unary(&mut self) -> R<Expr> {
        if *self.peek() == Tok::Minus {
            self.next();
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return Err(self.err("too many nested `-`"));
            }
            let e = self.unary();
            self.depth -= 1;
            let e = e?;
            return Ok(match e {
                Expr::Int(n) => Expr::Int(-n),
                Expr::Float(f) => Expr::Float(-f),
                e => Expr::Neg(Box::new(e)),
            });
        }
        self.primary()
    }

    fn field_path(&mut self, var: String, pos: Pos) -> R<Expr> {
        let mut path = vec![];
        loop {
            match self.peek() {
                Tok::Dot => {
                    self.next();
                    match self.next() {
                        Tok::Ident(n) => {
                            let alt = alt_name(&n);
                            path.push(Seg::Name { name: n, alt });
                        }
                        _ => {
                            self.i -= 1;
                            return Err(self.err("expected a field name after `.`"));
                        }
                    }
                }
                Tok::LBracket if !path.is_empty() => {
                    self.next();
                    let k = match self.next() {
                        Tok::Str(s) => s,
                        Tok::Int(n) => n.to_string(),
                        _ => {
                            self.i -= 1;
                            return Err(self.err("expected a string key in `[...]`"));
                        }
                    };
                    self.expect(Tok::RBracket, "`]`")?;
                    path.push(Seg::Key(k));
                }
                _ => break,
            }
        }
        if path.is_empty() {
            return Ok(Expr::Var(var, pos));
        }
        Ok(Expr::Field(FieldRef {
            var,
            path,
            pos,
            slots: vec![],
            leaf: Leaf::Unknown,
            vi: 0,
        }))
    }

    fn primary(&mut self) -> R<Expr> {
        let pos = self.pos();
        match self.next() {
            Tok::Var(v) => self.field_path(v, pos),
            Tok::Count(v) => Ok(Expr::Count(v, pos)),
            Tok::Bang => match self.next() {
                Tok::Var(v) => Ok(Expr::Not(Box::new(Expr::Var(v, pos)), pos)),
                _ => {
                    self.i -= 1;
                    Err(self.err("expected `$event` after `!`"))
                }
            },
            Tok::Str(s) => Ok(Expr::Str(s)),
            Tok::Int(n) => Ok(Expr::Int(n)),
            Tok::Float(f) => Ok(Expr::Float(f)),
            Tok::Regex(src) => {
                let re = compile_regex(&src, false).map_err(|m| self.err_at(pos, m))?;
                Ok(Expr::Regex(Arc::new(re), src))
            }
            Tok::LParen => {
                let e = self.expr()?;
                self.expect(Tok::RParen, "`)`")?;
                Ok(e)
            }
            Tok::Ident(id) => {
                let lower = id.to_ascii_lowercase();
                let quant_target = match self.peek() {
                    Tok::Var(_) => true,
                    Tok::Ident(_) => matches!(self.peek_at(1), Tok::Dot | Tok::LParen),
                    _ => false,
                };
                if (lower == "any" || lower == "all") && quant_target {
                    let e = self.cmp_expr()?;
                    return Ok(Expr::Quant {
                        all: lower == "all",
                        e: Box::new(e),
                        slots: vec![],
                    });
                }
                if lower == "true" || lower == "false" {
                    return Ok(Expr::Bool(lower == "true"));
                }
                let mut name = id;
                while *self.peek() == Tok::Dot {
                    self.next();
                    match self.next() {
                        Tok::Ident(n) => {
                            name.push('.');
                            name.push_str(&n);
                        }
                        _ => {
                            self.i -= 1;
                            return Err(self.err("expected a function name after `.`"));
                        }
                    }
                }
                if *self.peek() != Tok::LParen {
                    return Err(self.err_at(pos, format!("unexpected `{name}`")));
                }
                self.next();
                let mut args = vec![];
                if *self.peek() != Tok::RParen {
                    loop {
                        args.push(self.expr()?);
                        match self.next() {
                            Tok::Comma => continue,
                            Tok::RParen => break,
                            _ => {
                                self.i -= 1;
                                return Err(self.err("expected `,` or `)` in the argument list"));
                            }
                        }
                    }
                } else {
                    self.next();
                }
                let fname = name.to_ascii_lowercase();
                super::functions::check_call(&fname, args.len())
                    .map_err(|m| self.err_at(pos, m))?;
                let mut nocase = false;
                if kw(self.peek(), "nocase") {
                    self.next();
                    nocase = true;
                }
                let re = if matches!(fname.as_str(), "re.regex" | "re.capture" | "re.replace") {
                    match args.get(1) {
                        Some(Expr::Str(p)) | Some(Expr::Regex(_, p)) => Some(Arc::new(
                            compile_regex(p, nocase).map_err(|m| self.err_at(pos, m))?,
                        )),
                        _ => None,
                    }
                } else {
                    None
                };
                Ok(Expr::Call {
                    name: fname,
                    args,
                    nocase,
                    pos,
                    re,
                })
            }
            _ => {
                self.i -= 1;
                Err(self.err("expected an expression"))
            }
        }
    }
}

/// Parse every rule in `src` (a file may hold several).
pub fn parse_file(file: &str, src: &str) -> Result<Vec<Rule>, Box<Diagnostic>> {
    let toks = lex(file, src).map_err(|mut d| {
        // Name the rule the bad token is in: the last `rule NAME` before it.
        d.rule = src
            .lines()
            .take(d.line)
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                match (w.next(), w.next()) {
                    (Some(k), Some(n)) if k.eq_ignore_ascii_case("rule") => {
                        Some(n.trim_end_matches('{').to_string())
                    }
                    _ => None,
                }
            })
            .last();
        d
    })?;
    let mut p = P {
        toks,
        i: 0,
        file,
        src,
        rule: None,
        depth: 0,
    };
    let mut rules = vec![];
    while *p.peek() != Tok::Eof {
        p.rule = None;
        rules.push(p.rule()?);
    }
    if rules.is_empty() {
        return Err(p.err("expected at least one `rule`"));
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_nesting_is_an_error_not_a_crash() {
        let deep = format!(
            "rule r {{ events: {}$e.a = 1{} condition: $e }}",
            "(".repeat(100_000),
            ")".repeat(100_000)
        );
        let d = parse_file("t", &deep).unwrap_err();
        assert!(d.message.contains("nested deeper"), "{}", d.message);
        let nots = format!(
            "rule r {{ events: {}$e.a = 1 condition: $e }}",
            "not ".repeat(100_000)
        );
        assert!(parse_file("t", &nots).is_err());
        // A very long `or` chain is fine and shallow.
        let chain = (0..50_000)
            .map(|i| format!("$e.a = {i}"))
            .collect::<Vec<_>>()
            .join(" or ");
        let r = parse_file("t", &format!("rule r {{ events: {chain} condition: $e }}")).unwrap();
        fn depth(e: &Expr) -> usize {
            match e {
                Expr::Bin { l, r, .. } => 1 + depth(l).max(depth(r)),
                _ => 1,
            }
        }
        assert!(depth(&r[0].events[0]) < 20);
    }

    #[test]
    fn precedence_implicit_and_is_loosest() {
        let src = "rule r { events: $e.a = 1 $e.b = 2 or $e.c = 3 condition: $e }";
        let r = parse_file("t", src).unwrap();
        assert_eq!(r[0].events.len(), 2);
        assert!(matches!(r[0].events[1], Expr::Bin { op: BinOp::Or, .. }));
        let src = "RULE r { EVENTS: not $e.a = 1 and $e.b = 2 CONDITION: $e }";
        let r = parse_file("t", src).unwrap();
        match &r[0].events[0] {
            Expr::Bin {
                op: BinOp::And, l, ..
            } => assert!(matches!(**l, Expr::Not(..))),
            other => panic!("{other:?}"),
        }
    }
}
