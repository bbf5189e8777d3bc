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

#[cfg(test)]
mod tests {
    use crate::rules::RuleSet;

    fn warnings(src: &str) -> Vec<String> {
        RuleSet::parse_str("l.yaral", src)
            .unwrap()
            .warnings()
            .iter()
            .map(|d| d.message.clone())
            .collect()
    }

    #[test]
    fn not_over_repeated_needs_any_or_all() {
        let w = warnings(r#"rule a { events: not $e.target.ip = "1.2.3.4" condition: $e }"#);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("$e.target.ip"));
        assert!(
            warnings(r#"rule a { events: not any $e.target.ip = "1.2.3.4" condition: $e }"#)
                .is_empty()
        );
        assert!(
            warnings(r#"rule a { events: all $e.target.ip != "1.2.3.4" condition: $e }"#)
                .is_empty()
        );
        // Scalar fields are fine under `not`.
        assert!(
            warnings(r#"rule a { events: not $e.target.hostname = "x" condition: $e }"#).is_empty()
        );
    }

    #[test]
    fn literal_lists_unknown_fields_lists_and_joins() {
        let w = warnings(r#"rule a { events: $e.target.port in (1, 2) condition: $e }"#);
        assert!(w[0].contains("`in (a, b, ...)`"), "{w:?}");
        let w = warnings(r#"rule a { events: $e.principal.hostnme = "x" condition: $e }"#);
        assert!(
            w[0].contains("$e.principal.hostnme is not a UDM field"),
            "{w:?}"
        );
        let w = warnings(r#"rule a { events: $e.principal.hostname in %nolist condition: $e }"#);
        assert!(w[0].contains("%nolist not found"), "{w:?}");
        let w = warnings(
            r#"rule a { events: $a.principal.hostname = $b.target.hostname condition: $a and $b }"#,
        );
        assert!(w[0].contains("no `match:` section"), "{w:?}");
        // camelCase names are known too.
        assert!(warnings(
            r#"rule a { events: $e.principal.process.commandLine = "x" condition: $e }"#
        )
        .is_empty());
    }
}
