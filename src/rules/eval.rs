//! Expression evaluation over UDM events (serde_json values).
//!
//! Repeated fields: each expansion slot is bound to one element index, so every
//! predicate of one evaluation sees the same copy of the event; `any`/`all` enumerate
//! their own slots. Field names match as written or in the other case style
//! (snake_case/camelCase); a missing field is `Val::Missing` (compares as the zero
//! value); enum numbers read as their names; RFC 3339 strings read as timestamps when
//! `.seconds`/`.nanos` is asked for.

use super::ast::*;
use super::functions;
use super::value::{compare, parse_rfc3339, Val};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashMap;

/// Upper bound on copies one event expands into (product of repeated lengths).
pub const MAX_COPIES: usize = 4096;

pub struct Ctx<'e> {
    /// The event bound to each event variable (by index), if any.
    pub events: Vec<Option<&'e Value>>,
    /// Element index chosen for each slot.
    pub binding: Vec<u32>,
    /// Placeholders and outcome variables.
    pub env: Vec<(String, Val<'e>)>,
    /// `#x` and `$e` presence in conditions.
    pub counts: Option<HashMap<String, i64>>,
}

impl<'e> Ctx<'e> {
    pub fn new(nvars: usize, nslots: usize) -> Ctx<'e> {
        Ctx {
            events: vec![None; nvars],
            binding: vec![0; nslots],
            env: vec![],
            counts: None,
        }
    }
    pub fn lookup(&self, name: &str) -> Option<&Val<'e>> {
        self.env.iter().rev().find(|(k, _)| k == name).map(|x| &x.1)
    }
}

fn step<'e>(cur: &'e Value, seg: &Seg) -> Option<&'e Value> {
    match seg {
        Seg::Name { name, alt } => match cur {
            Value::Object(m) => m.get(name.as_str()).or_else(|| m.get(alt.as_str())),
            _ => None,
        },
        Seg::Key(k) => match cur {
            Value::Object(m) => m.get(k.as_str()),
            // Repeated key/value labels: [{"key": k, "value": v}, ...]
            Value::Array(a) => a.iter().find_map(|el| {
                let o = el.as_object()?;
                if o.get("key")?.as_str()? == k {
                    Some(o.get("value").unwrap_or(&Value::Null))
                } else {
                    None
                }
            }),
            _ => None,
        },
    }
}

fn leaf_val<'e>(v: &'e Value, leaf: &Leaf) -> Val<'e> {
    match (v, leaf) {
        (Value::Number(n), Leaf::Enum(vals)) => {
            let i = n.as_i64().unwrap_or(-1);
            match vals.iter().find(|x| x.1 == i) {
                Some((name, _)) => Val::Str(Cow::Owned(name.clone())),
                None => Val::Int(i),
            }
        }
        (Value::Array(a), _) => Val::List(a.iter().map(|x| leaf_val(x, leaf)).collect()),
        // 64-bit integers arrive as strings in proto JSON.
        (Value::String(s), Leaf::Int) => match s.parse::<i64>() {
            Ok(i) => Val::Int(i),
            Err(_) => Val::from_json(v),
        },
        _ => Val::from_json(v),
    }
}

/// `labels["k"]` over repeated `{"key", "value"}` labels: a key may repeat (one
/// `image` label per container), and, as Chronicle's repeated fields, a comparison
/// matches if any of its values does (one value stays a plain value).
fn label_values<'e>(a: &'e [Value], k: &str, rest: &[Seg], leaf: &Leaf) -> Val<'e> {
    let mut hits = a.iter().filter_map(|el| {
        let o = el.as_object()?;
        (o.get("key")?.as_str()? == k).then(|| o.get("value").unwrap_or(&Value::Null))
    });
    let Some(first) = hits.next() else {
        return Val::Missing;
    };
    let first = fan_out(first, rest, leaf);
    let more: Vec<Val<'e>> = hits.map(|v| fan_out(v, rest, leaf)).collect();
    if more.is_empty() {
        return first;
    }
    Val::List(std::iter::once(first).chain(more).collect())
}

/// Walk `path[from..]` from `cur` with no slots left: arrays met on the way fan out.
fn fan_out<'e>(cur: &'e Value, path: &[Seg], leaf: &Leaf) -> Val<'e> {
    let mut cur = cur;
    for (i, seg) in path.iter().enumerate() {
        if let (Value::Array(a), Seg::Key(k)) = (cur, seg) {
            return label_values(a, k, &path[i + 1..], leaf);
        }
        if let (Value::Array(a), Seg::Name { .. }) = (cur, seg) {
            return Val::List(a.iter().map(|el| fan_out(el, &path[i..], leaf)).collect());
        }
        if let (Value::String(s), Seg::Name { name, .. }) = (cur, seg) {
            if let Some(ts) = timestamp_part(s, name) {
                return ts;
            }
        }
        match step(cur, seg) {
            Some(n) => cur = n,
            None => return Val::Missing,
        }
    }
    leaf_val(cur, leaf)
}

fn timestamp_part(s: &str, name: &str) -> Option<Val<'static>> {
    let (secs, nanos) = parse_rfc3339(s)?;
    match name {
        "seconds" => Some(Val::Int(secs)),
        "nanos" => Some(Val::Int(nanos)),
        _ => None,
    }
}

/// Navigate to the raw value at the end of `f.path`, honouring bound slots. `None` =
/// missing. Unbound arrays before the end are not expected (caller uses `fan_out`).
pub fn navigate<'e>(ctx: &Ctx<'e>, f: &FieldRef) -> Option<&'e Value> {
    let mut cur = ctx.events.get(f.vi).copied().flatten()?;
    let mut si = 0;
    for (i, seg) in f.path.iter().enumerate() {
        cur = step(cur, seg)?;
        if let Some(&(at, slot)) = f.slots.get(si) {
            if at == i {
                si += 1;
                let idx = ctx.binding[slot] as usize;
                cur = match cur {
                    Value::Array(a) => a.get(idx)?,
                    other if idx == 0 => other,
                    _ => return None,
                };
            }
        }
    }
    Some(cur)
}

pub fn field_val<'e>(ctx: &Ctx<'e>, f: &FieldRef) -> Val<'e> {
    let Some(mut cur) = ctx.events.get(f.vi).copied().flatten() else {
        return Val::Missing;
    };
    let mut si = 0;
    for (i, seg) in f.path.iter().enumerate() {
        if let Value::Array(_) = cur {
            if matches!(seg, Seg::Name { .. } | Seg::Key(_)) {
                return fan_out(cur, &f.path[i..], &f.leaf);
            }
        }
        if let (Value::String(s), Seg::Name { name, .. }) = (cur, seg) {
            if let Some(ts) = timestamp_part(s, name) {
                return ts;
            }
        }
        cur = match step(cur, seg) {
            Some(n) => n,
            None => return Val::Missing,
        };
        if let Some(&(at, slot)) = f.slots.get(si) {
            if at == i {
                si += 1;
                let idx = ctx.binding[slot] as usize;
                cur = match cur {
                    Value::Array(a) => match a.get(idx) {
                        Some(x) => x,
                        None => return Val::Missing,
                    },
                    other if idx == 0 => other,
                    _ => return Val::Missing,
                };
            }
        }
    }
    leaf_val(cur, &f.leaf)
}

/// Number of elements a slot enumerates under the current binding (at least 1: an
/// absent or empty list is one copy with the zero value).
pub fn slot_len(ctx: &Ctx, rule: &Rule, slot: usize) -> usize {
    match navigate(ctx, &rule.slots[slot].field) {
        Some(Value::Array(a)) => a.len().max(1),
        _ => 1,
    }
}

/// Call `f` for every combination of `slots` (parents before children); stops early
/// when `f` returns true. Returns whether any call returned true.
pub fn for_each_copy<'e>(
    ctx: &mut Ctx<'e>,
    rule: &Rule,
    slots: &[usize],
    budget: &mut usize,
    f: &mut dyn FnMut(&mut Ctx<'e>) -> bool,
) -> bool {
    let Some((&first, rest)) = slots.split_first() else {
        if *budget == 0 {
            return false;
        }
        *budget -= 1;
        return f(ctx);
    };
    let n = slot_len(ctx, rule, first);
    for i in 0..n {
        ctx.binding[first] = i as u32;
        if for_each_copy(ctx, rule, rest, budget, f) {
            ctx.binding[first] = 0;
            return true;
        }
        if *budget == 0 {
            break;
        }
    }
    ctx.binding[first] = 0;
    false
}

fn is_placeholder(rule: &Rule, name: &str) -> bool {
    !rule.vars.iter().any(|v| v == name)
}

pub fn eval_bool<'e>(e: &Expr, ctx: &mut Ctx<'e>, rule: &Rule) -> bool {
    match e {
        Expr::Bin {
            op: BinOp::And,
            l,
            r,
            ..
        } => eval_bool(l, ctx, rule) && eval_bool(r, ctx, rule),
        Expr::Bin {
            op: BinOp::Or,
            l,
            r,
            ..
        } => eval_bool(l, ctx, rule) || eval_bool(r, ctx, rule),
        Expr::Not(x, _) => !eval_bool(x, ctx, rule),
        Expr::Bin { op, l, r, nocase } if op.is_cmp() => {
            // Placeholder assignment: `$e.f = $p` binds $p the first time.
            if *op == BinOp::Eq {
                for (a, b) in [(l, r), (r, l)] {
                    if let Expr::Var(p, _) = a.as_ref() {
                        if is_placeholder(rule, p)
                            && ctx.lookup(p).is_none()
                            && ctx.counts.is_none()
                        {
                            let v = eval_val(b, ctx, rule);
                            ctx.env.push((p.clone(), v));
                            return true;
                        }
                    }
                }
            }
            if let Expr::Regex(re, _) = r.as_ref() {
                let v = eval_val(l, ctx, rule);
                let m = match &v {
                    Val::List(xs) => xs.iter().any(|x| re.is_match(&x.as_str())),
                    other => re.is_match(&other.as_str()),
                };
                return if *op == BinOp::Ne { !m } else { m };
            }
            let (a, b) = (operand(l, ctx, rule), operand(r, ctx, rule));
            // Ordering comparisons on enums use the numbers.
            if !matches!(op, BinOp::Eq | BinOp::Ne) {
                if let Some(vals) = enum_of(l).or_else(|| enum_of(r)) {
                    if let (Some(x), Some(y)) = (enum_num(vals, &a), enum_num(vals, &b)) {
                        return compare(&x, &y, *op, false);
                    }
                }
            }
            compare(&a, &b, *op, *nocase)
        }
        Expr::InValues { e, values, .. } => {
            let v = eval_val(e, ctx, rule);
            values.iter().any(|x| {
                let w = operand(x, ctx, rule);
                compare(&v, &w, BinOp::Eq, false)
            })
        }
        Expr::InList {
            e,
            kind,
            resolved,
            nocase,
            ..
        } => {
            let Some(list) = resolved else {
                return false;
            };
            let v = eval_val(e, ctx, rule);
            let test = |s: &str| match kind {
                ListKind::Str => list.contains(s, *nocase),
                ListKind::Regex => list.matches_regex(s, *nocase),
                ListKind::Cidr => list.in_cidr(s),
            };
            match &v {
                Val::List(xs) => xs.iter().any(|x| test(&x.as_str())),
                other => test(&other.as_str()),
            }
        }
        Expr::Quant { all, e, slots } => {
            let mut budget = MAX_COPIES;
            if *all {
                let mut all_true = true;
                for_each_copy(ctx, rule, slots, &mut budget, &mut |c| {
                    if !eval_bool(e, c, rule) {
                        all_true = false;
                        return true;
                    }
                    false
                });
                all_true
            } else {
                for_each_copy(ctx, rule, slots, &mut budget, &mut |c| {
                    eval_bool(e, c, rule)
                })
            }
        }
        Expr::Var(v, _) if !is_placeholder(rule, v) => ctx
            .counts
            .as_ref()
            .and_then(|c| c.get(v.as_str()))
            .is_some_and(|&n| n > 0),
        other => eval_val(other, ctx, rule).truthy(),
    }
}

/// `e`'s value for a comparison: string literals (and a pattern's text) are borrowed
/// from the rule rather than copied for every event.
fn operand<'a, 'e: 'a>(e: &'a Expr, ctx: &mut Ctx<'e>, rule: &Rule) -> Val<'a> {
    match e {
        Expr::Str(s) | Expr::Regex(_, s) => Val::Str(Cow::Borrowed(s)),
        other => eval_val(other, ctx, rule),
    }
}

/// An enum operand as its number (names looked up in `vals`, missing as 0).
fn enum_num<'v>(vals: &[(String, i64)], v: &Val<'v>) -> Option<Val<'v>> {
    match v {
        Val::Str(s) => vals.iter().find(|x| x.0 == *s).map(|x| Val::Int(x.1)),
        Val::Missing => Some(Val::Int(0)),
        other => Some(other.clone()),
    }
}

fn enum_of(e: &Expr) -> Option<&std::sync::Arc<Vec<(String, i64)>>> {
    match e {
        Expr::Field(FieldRef {
            leaf: Leaf::Enum(v),
            ..
        }) => Some(v),
        _ => None,
    }
}

fn arith<'e>(op: BinOp, a: Val<'e>, b: Val<'e>) -> Val<'e> {
    let ints = matches!(
        (&a, &b),
        (
            Val::Int(_) | Val::Missing | Val::Str(_),
            Val::Int(_) | Val::Missing | Val::Str(_)
        )
    ) && a.as_i64().is_some()
        && b.as_i64().is_some();
    if ints {
        let (x, y) = (a.as_i64().unwrap_or(0), b.as_i64().unwrap_or(0));
        return match op {
            BinOp::Add => Val::Int(x.saturating_add(y)),
            BinOp::Sub => Val::Int(x.saturating_sub(y)),
            BinOp::Mul => Val::Int(x.saturating_mul(y)),
            _ => {
                if y == 0 {
                    Val::Missing
                } else {
                    Val::Float(x as f64 / y as f64)
                }
            }
        };
    }
    let (Some(x), Some(y)) = (a.as_f64(), b.as_f64()) else {
        return Val::Missing;
    };
    Val::Float(match op {
        BinOp::Add => x + y,
        BinOp::Sub => x - y,
        BinOp::Mul => x * y,
        _ => {
            if y == 0.0 {
                return Val::Missing;
            }
            x / y
        }
    })
}

pub fn eval_val<'e>(e: &Expr, ctx: &mut Ctx<'e>, rule: &Rule) -> Val<'e> {
    match e {
        Expr::Field(f) => field_val(ctx, f),
        Expr::Var(v, _) => match ctx.lookup(v) {
            Some(x) => x.clone(),
            None => match ctx.counts.as_ref().and_then(|c| c.get(v.as_str())) {
                Some(&n) => Val::Bool(n > 0),
                None => Val::Missing,
            },
        },
        Expr::Count(v, _) => Val::Int(
            ctx.counts
                .as_ref()
                .and_then(|c| c.get(v.as_str()).copied())
                .unwrap_or(0),
        ),
        Expr::Str(s) => Val::Str(Cow::Owned(s.clone())),
        Expr::Int(i) => Val::Int(*i),
        Expr::Float(f) => Val::Float(*f),
        Expr::Bool(b) => Val::Bool(*b),
        Expr::Regex(_, src) => Val::Str(Cow::Owned(src.clone())),
        Expr::Neg(x) => match eval_val(x, ctx, rule) {
            Val::Float(f) => Val::Float(-f),
            v => Val::Int(v.as_i64().unwrap_or(0).saturating_neg()),
        },
        Expr::Bin { op, l, r, .. }
            if matches!(op, BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div) =>
        {
            let a = eval_val(l, ctx, rule);
            let b = eval_val(r, ctx, rule);
            arith(*op, a, b)
        }
        Expr::Call {
            name,
            args,
            nocase,
            re,
            ..
        } => {
            if name == "if" {
                let c = args.first().is_some_and(|c| eval_bool(c, ctx, rule));
                return match (c, args.get(1), args.get(2)) {
                    (true, Some(a), _) => eval_val(a, ctx, rule),
                    (false, _, Some(b)) => eval_val(b, ctx, rule),
                    _ => Val::Missing,
                };
            }
            // A literal pattern was compiled at parse time (`re`), and `re.*` read it from
            // there: its text (the second argument) is not copied for every event.
            let skip_pattern = re.is_some() && name.starts_with("re.");
            let vals: Vec<Val<'e>> = args
                .iter()
                .enumerate()
                .map(|(i, a)| {
                    if skip_pattern && i == 1 {
                        Val::Missing
                    } else {
                        eval_val(a, ctx, rule)
                    }
                })
                .collect();
            functions::call(name, &vals, re.as_deref(), *nocase)
        }
        other => Val::Bool(eval_bool(other, ctx, rule)),
    }
}
