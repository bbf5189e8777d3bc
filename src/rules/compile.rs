//! Turns a parsed [`Rule`] into something the evaluator can run: resolves fields
//! against the UDM schema (expansion slots for repeated fields, enum types), resolves
//! reference lists, splits `events` statements per event variable (and joins between
//! variables), and works out which variables the condition requires.

use super::ast::*;
use super::reflist::RefList;
use super::udm::schema;
use super::Diagnostic;
use std::collections::HashMap;
use std::sync::Arc;

/// A rule ready to evaluate.
#[derive(Debug)]
pub struct Compiled {
    pub rule: Rule,
    /// Per event variable: indices into `rule.events` evaluated on that variable alone
    /// (placeholder-only statements whose placeholders it binds come last).
    pub var_stmts: Vec<Vec<usize>>,
    /// Statements joining several variables (evaluated on candidate tuples).
    pub cross_stmts: Vec<usize>,
    /// Per event variable: rule-level slots its statements use, parents first.
    pub var_slots: Vec<Vec<usize>>,
    /// Per event variable: placeholders its statements bind.
    pub var_placeholders: Vec<Vec<String>>,
    pub match_vars: Vec<String>,
    pub window_secs: i64,
    /// Per event variable: does the condition need it to be present?
    pub required: Vec<bool>,
    pub allow_zero_values: bool,
}

/// Unknown-field and other schema warnings found while compiling.
pub struct Notes {
    pub unknown_fields: Vec<(Pos, String)>,
    pub missing_lists: Vec<(Pos, String)>,
}

fn path_str(f: &FieldRef) -> String {
    let mut s = format!("${}", f.var);
    for seg in &f.path {
        match seg {
            Seg::Name { name, .. } => {
                s.push('.');
                s.push_str(name);
            }
            Seg::Key(k) => s.push_str(&format!("[{k:?}]")),
        }
    }
    s
}

pub fn field_display(f: &FieldRef) -> String {
    path_str(f)
}

struct SlotTable<'a> {
    slots: &'a mut Vec<Slot>,
    index: HashMap<(String, String, usize), usize>,
    next_quant: usize,
    notes: &'a mut Notes,
    vars: &'a [String],
    lists: &'a HashMap<String, Arc<RefList>>,
}

impl SlotTable<'_> {
    fn field(&mut self, f: &mut FieldRef, quant: usize) {
        let r = schema().resolve(&f.path);
        if let Some(i) = r.unknown_at {
            let shown = FieldRef {
                path: f.path[..=i].to_vec(),
                slots: vec![],
                ..f.clone()
            };
            self.notes
                .unknown_fields
                .push((f.pos, format!("{} is not a UDM field", path_str(&shown))));
        }
        f.leaf = r.leaf;
        f.vi = self.vars.iter().position(|v| *v == f.var).unwrap_or(0);
        f.slots.clear();
        for (seg, prefix) in r.repeated {
            let key = (f.var.clone(), prefix.clone(), quant);
            let id = match self.index.get(&key) {
                Some(&id) => id,
                None => {
                    let id = self.slots.len();
                    let field = FieldRef {
                        path: f.path[..=seg].to_vec(),
                        slots: f.slots.clone(),
                        leaf: Leaf::Unknown,
                        ..f.clone()
                    };
                    self.slots.push(Slot {
                        var: f.var.clone(),
                        prefix,
                        quant,
                        field,
                    });
                    self.index.insert(key, id);
                    id
                }
            };
            f.slots.push((seg, id));
        }
    }

    fn expr(&mut self, e: &mut Expr, quant: usize) {
        match e {
            Expr::Field(f) => self.field(f, quant),
            Expr::Quant { e, slots, .. } => {
                self.next_quant += 1;
                let q = self.next_quant;
                self.expr(e, q);
                slots.clear();
                slots.extend((0..self.slots.len()).filter(|&i| self.slots[i].quant == q));
            }
            Expr::Call { args, .. } => args.iter_mut().for_each(|a| self.expr(a, quant)),
            Expr::Not(x, _) | Expr::Neg(x) => self.expr(x, quant),
            Expr::Bin { l, r, .. } => {
                self.expr(l, quant);
                self.expr(r, quant);
            }
            Expr::InList {
                e,
                list,
                resolved,
                pos,
                ..
            } => {
                self.expr(e, quant);
                *resolved = self.lists.get(list.as_str()).cloned();
                if resolved.is_none() {
                    self.notes.missing_lists.push((
                        *pos,
                        format!("reference list %{list} not found; it matches nothing"),
                    ));
                }
            }
            Expr::InValues { e, values, .. } => {
                self.expr(e, quant);
                values.iter_mut().for_each(|v| self.expr(v, quant));
            }
            _ => {}
        }
    }
}

/// Placeholders assigned by `field = $p` / `$p = field` comparisons in `e`.
fn bound_placeholders(e: &Expr, vars: &[String], out: &mut Vec<String>) {
    e.walk(&mut |x| {
        if let Expr::Bin {
            op: BinOp::Eq,
            l,
            r,
            ..
        } = x
        {
            for (a, b) in [(l, r), (r, l)] {
                if let Expr::Var(p, _) = a.as_ref() {
                    if !vars.contains(p) && !matches!(b.as_ref(), Expr::Var(..)) && !out.contains(p)
                    {
                        out.push(p.clone());
                    }
                }
            }
        }
    });
}

fn required_vars(e: &Expr, neg: bool, vars: &[String], req: &mut [bool]) {
    match e {
        Expr::Var(v, _) | Expr::Count(v, _) => {
            if let Some(i) = vars.iter().position(|x| x == v) {
                if !neg {
                    req[i] = true;
                }
            }
        }
        Expr::Not(x, _) => required_vars(x, !neg, vars, req),
        Expr::Bin { l, r, .. } => {
            required_vars(l, neg, vars, req);
            required_vars(r, neg, vars, req);
        }
        _ => {}
    }
}

pub fn compile(
    mut rule: Rule,
    lists: &HashMap<String, Arc<RefList>>,
) -> Result<(Compiled, Notes), Box<Diagnostic>> {
    let mut vars = vec![];
    for s in &rule.events {
        s.event_vars(&mut vars);
    }
    rule.vars = vars.clone();
    let mut notes = Notes {
        unknown_fields: vec![],
        missing_lists: vec![],
    };
    let mut slots = vec![];
    {
        let mut t = SlotTable {
            slots: &mut slots,
            index: HashMap::new(),
            next_quant: 0,
            notes: &mut notes,
            vars: &vars,
            lists,
        };
        for s in rule.events.iter_mut() {
            t.expr(s, 0);
        }
        let first_outcome_slot = t.slots.len();
        for (_, e) in rule.outcomes.iter_mut() {
            t.expr(e, 0);
        }
        t.expr(&mut rule.condition, 0);
        let _ = first_outcome_slot;
    }
    rule.slots = slots;

    let n = vars.len();
    let mut var_stmts = vec![vec![]; n];
    let mut cross = vec![];
    let mut var_placeholders: Vec<Vec<String>> = vec![vec![]; n];
    let mut placeholder_only = vec![];
    for (i, s) in rule.events.iter().enumerate() {
        let mut ev = vec![];
        s.event_vars(&mut ev);
        match ev.len() {
            0 => placeholder_only.push(i),
            1 => {
                let vi = vars.iter().position(|v| *v == ev[0]).unwrap_or(0);
                var_stmts[vi].push(i);
                bound_placeholders(s, &vars, &mut var_placeholders[vi]);
            }
            _ => cross.push(i),
        }
    }
    for i in placeholder_only {
        let mut used = vec![];
        rule.events[i].bare_vars(&mut used);
        used.retain(|v| !vars.contains(v));
        match (0..n).find(|&vi| used.iter().all(|p| var_placeholders[vi].contains(p))) {
            Some(vi) if !used.is_empty() => var_stmts[vi].push(i),
            _ => cross.push(i),
        }
    }
    let mut var_slots = vec![vec![]; n];
    for (vi, stmts) in var_stmts.iter().enumerate() {
        for &si in stmts {
            rule.events[si].walk(&mut |e| {
                if let Expr::Field(f) = e {
                    for &(_, id) in &f.slots {
                        if rule.slots[id].quant == 0 && !var_slots[vi].contains(&id) {
                            var_slots[vi].push(id);
                        }
                    }
                }
            });
        }
        var_slots[vi].sort_by_key(|&id| rule.slots[id].field.path.len());
    }
    let mut required = vec![false; n];
    required_vars(&rule.condition, false, &vars, &mut required);
    let (match_vars, window_secs) = match &rule.match_spec {
        Some(m) => (m.vars.clone(), m.window_secs),
        None => (vec![], 0),
    };
    let allow_zero_values = rule
        .options
        .iter()
        .any(|(k, v)| k == "allow_zero_values" && matches!(v, Expr::Bool(true)));
    if n == 0 {
        return Err(Box::new(Diagnostic::error(
            &rule.file,
            "",
            Some(rule.name.clone()),
            rule.pos.line,
            rule.pos.col,
            4,
            "the events section uses no event variable ($e.field)".into(),
        )));
    }
    Ok((
        Compiled {
            rule,
            var_stmts,
            cross_stmts: cross,
            var_slots,
            var_placeholders,
            match_vars,
            window_secs,
            required,
            allow_zero_values,
        },
        notes,
    ))
}
