//! Lints for `imgscan rules check`: things that parse but probably do not mean what
//! the author thinks (unknown UDM fields, the non-standard `in (a, b)` literal list,
//! `not` over a repeated field without `any`/`all`, missing reference lists,
//! several event variables without `match`).

use super::ast::*;
use super::compile::{field_display, Compiled, Notes};
use super::Diagnostic;

/// Does `e` read a repeated field per copy (outside any `any`/`all`)?
fn repeated_field(e: &Expr, rule: &Rule) -> Option<String> {
    let mut found = None;
    fn go(e: &Expr, rule: &Rule, found: &mut Option<String>) {
        match e {
            Expr::Quant { .. } => {}
            Expr::Field(f)
                if f.slots.iter().any(|&(_, id)| rule.slots[id].quant == 0) && found.is_none() =>
            {
                *found = Some(field_display(f));
            }
            Expr::Call { args, .. } => args.iter().for_each(|a| go(a, rule, found)),
            Expr::Not(x, _) | Expr::Neg(x) => go(x, rule, found),
            Expr::Bin { l, r, .. } => {
                go(l, rule, found);
                go(r, rule, found);
            }
            Expr::InList { e, .. } => go(e, rule, found),
            Expr::InValues { e, values, .. } => {
                go(e, rule, found);
                values.iter().for_each(|v| go(v, rule, found));
            }
            _ => {}
        }
    }
    go(e, rule, &mut found);
    found
}

pub fn lint(c: &Compiled, notes: &Notes, src: &str) -> Vec<Diagnostic> {
    let rule = &c.rule;
    let mut out = vec![];
    let mut warn = |pos: Pos, msg: String| {
        out.push(Diagnostic::warning(
            &rule.file,
            src,
            Some(rule.name.clone()),
            pos.line,
            pos.col,
            pos.len,
            msg,
        ));
    };
    for (pos, m) in &notes.unknown_fields {
        warn(*pos, format!("{m} (it always reads as the zero value)"));
    }
    for (pos, m) in &notes.missing_lists {
        warn(*pos, m.clone());
    }
    for s in &rule.events {
        s.walk(&mut |e| match e {
            Expr::InValues { pos, .. } => warn(
                *pos,
                "`in (a, b, ...)` is not YARA-L 2.0; imgscan reads it as `= a or = b or ...` but Chronicle rejects it (use `re.regex` or a reference list)".into(),
            ),
            Expr::Not(x, pos) => {
                if let Some(f) = repeated_field(x, rule) {
                    warn(
                        *pos,
                        format!(
                            "`not` over repeated field {f} applies per element: it holds when ANY element fails the test (e.g. one public address among private ones); write `not any ...` or `all ...` to test the whole list"
                        ),
                    );
                }
            }
            _ => {}
        });
    }
    if rule.vars.len() > 1 && rule.match_spec.is_none() {
        warn(
            rule.pos,
            "several event variables but no `match:` section; imgscan joins events with the same timestamp only".into(),
        );
    }
    out
}
