//! Streaming evaluation: single-event rules decide per event; rules with `match`
//! (or several event variables) collect candidate events per match key in a window of
//! the `over` duration and evaluate joins, outcomes and the condition when the window
//! closes (event time passes its end, or the stream ends). Memory is bounded by the
//! events inside open windows (and by [`MAX_WINDOW_EVENTS`] / [`MAX_GROUPS`]).
//! Windows run on event time: a window's entries are kept sorted by time, so an event
//! that arrives out of input order joins every window still open by its time.

use super::ast::*;
use super::compile::Compiled;
use super::eval::{eval_bool, eval_val, for_each_copy, Ctx, MAX_COPIES};
use super::functions::{call, AGGREGATES};
use super::value::{order, Val};
use super::{Detection, Event, RuleSet};
use serde_json::Value;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};
use std::sync::Arc;

/// Most candidate events kept in one window; more are dropped and reported.
pub const MAX_WINDOW_EVENTS: usize = 100_000;
/// Most open windows (distinct match keys) per rule.
pub const MAX_GROUPS: usize = 200_000;
/// Most values an `array`/`array_distinct` outcome keeps.
pub const MAX_ARRAY: usize = 1000;
/// Join search budget per window.
const JOIN_STEPS: usize = 200_000;

type Env = Vec<(String, Val<'static>)>;

#[derive(Debug, Clone)]
struct Entry {
    var: usize,
    line: usize,
    ts: i64,
    event: Arc<Value>,
    env: Env,
}

#[derive(Default)]
struct Group {
    entries: Vec<Entry>,
    deadline: i64,
}

#[derive(Default)]
struct RuleState {
    groups: HashMap<String, Group>,
    heap: BinaryHeap<Reverse<(i64, String)>>,
}

/// One rule's event statements satisfied by an event: for which variable, under which
/// match key, with which placeholder values.
struct Hit {
    rule: usize,
    var: usize,
    key: String,
    env: Env,
}

/// What [`Evaluator::matches`] found for one event; the event itself is kept only when
/// some rule matched it (otherwise feeding it only moves event time on).
pub struct Matched {
    ts: i64,
    event: Option<Arc<Value>>,
    hits: Vec<Hit>,
}

impl Matched {
    /// Whether the event is held (some rule matched it).
    pub fn holds_event(&self) -> bool {
        self.event.is_some()
    }
}

/// Streaming evaluator over time-ordered events.
pub struct Evaluator<'a> {
    set: &'a RuleSet,
    states: Vec<RuleState>,
    watermark: i64,
    notes: Vec<String>,
    /// Limit hits beyond the first [`MAX_NOTES`], counted only.
    more_notes: usize,
}

/// Limit-hit messages kept; later ones are counted.
const MAX_NOTES: usize = 100;

impl<'a> Evaluator<'a> {
    pub fn new(set: &'a RuleSet) -> Evaluator<'a> {
        Evaluator {
            set,
            states: set.rules.iter().map(|_| RuleState::default()).collect(),
            watermark: i64::MIN,
            notes: vec![],
            more_notes: 0,
        }
    }

    /// Limits hit so far (windows truncated); non-empty means results may be incomplete.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Feed one event; returns detections whose windows closed.
    pub fn push(&mut self, line: usize, ev: &Event) -> Vec<Detection> {
        let m = self.matches(ev);
        self.push_matched(line, m)
    }

    /// The first half of [`Evaluator::push`]: which rules' event statements `ev`
    /// satisfies (and under which match keys). It reads the rules only, not the
    /// evaluator's state, so a caller that holds events before feeding them (the log
    /// reorder buffer) can match each while it is fresh, keep only the small result,
    /// and feed it later with [`Evaluator::push_matched`]: the same as `push` then.
    pub fn matches(&self, ev: &Event) -> Matched {
        let mut hits = vec![];
        for (ri, c) in self.set.rules.iter().enumerate() {
            if c.rule.vars.len() == 1 && c.match_vars.is_empty() {
                if let Some((key, env)) = match_var(c, 0, &ev.v).into_iter().next() {
                    hits.push(Hit {
                        rule: ri,
                        var: 0,
                        key,
                        env,
                    });
                }
                continue;
            }
            for vi in 0..c.rule.vars.len() {
                for (key, env) in match_var(c, vi, &ev.v) {
                    hits.push(Hit {
                        rule: ri,
                        var: vi,
                        key,
                        env,
                    });
                }
            }
        }
        Matched {
            ts: ev.ts,
            event: (!hits.is_empty()).then(|| ev.v.clone()),
            hits,
        }
    }

    /// The second half of [`Evaluator::push`]: feed an event matched by
    /// [`Evaluator::matches`]; returns detections whose windows closed.
    pub fn push_matched(&mut self, line: usize, m: Matched) -> Vec<Detection> {
        let mut out = vec![];
        let ts = m.ts;
        if ts > self.watermark {
            self.watermark = ts;
            self.close(self.watermark, &mut out);
        }
        let set = self.set;
        let Some(event) = m.event else {
            return out;
        };
        for Hit {
            rule: ri,
            var: vi,
            key,
            env,
        } in m.hits
        {
            let c = &set.rules[ri];
            if c.rule.vars.len() == 1 && c.match_vars.is_empty() {
                let e = Entry {
                    var: 0,
                    line,
                    ts,
                    event: event.clone(),
                    env,
                };
                if let Some(d) = finish_window(c, &[e]) {
                    out.push(d);
                }
                continue;
            }
            let st = &mut self.states[ri];
            if !st.groups.contains_key(&key) {
                if st.groups.len() >= MAX_GROUPS {
                    note(&mut self.notes, &mut self.more_notes, format!(
                        "rule {}: more than {MAX_GROUPS} open match groups; event on line {line} skipped",
                        c.rule.name
                    ));
                    continue;
                }
                let deadline = ts.saturating_add(c.window_secs);
                st.heap.push(Reverse((deadline, key.clone())));
                st.groups.insert(
                    key.clone(),
                    Group {
                        entries: vec![],
                        deadline,
                    },
                );
            }
            let g = st.groups.get_mut(&key).expect("group just ensured");
            if g.entries.len() >= MAX_WINDOW_EVENTS {
                note(&mut self.notes, &mut self.more_notes, format!(
                    "rule {}: window for {key:?} holds more than {MAX_WINDOW_EVENTS} events; event on line {line} skipped",
                    c.rule.name
                ));
                continue;
            }
            // Kept in event-time order: an event that arrives late (out of
            // input order) takes its place by time, and may start the window.
            let at = g.entries.partition_point(|e| e.ts <= ts);
            g.entries.insert(
                at,
                Entry {
                    var: vi,
                    line,
                    ts,
                    event: event.clone(),
                    env,
                },
            );
            let start = g.entries[0].ts.saturating_add(c.window_secs);
            if start < g.deadline {
                g.deadline = start;
                st.heap.push(Reverse((start, key.clone())));
            }
        }
        out
    }

    /// Event time has reached `now` without a new event (a follower's input is idle and
    /// the wall clock says so): close the windows that end before it.
    pub fn advance(&mut self, now: i64) -> Vec<Detection> {
        let mut out = vec![];
        if now > self.watermark && now != i64::MAX {
            self.watermark = now;
            self.close(now, &mut out);
        }
        out
    }

    /// End of stream: close every open window.
    pub fn finish(mut self) -> (Vec<Detection>, Vec<String>) {
        let mut out = vec![];
        self.close(i64::MAX, &mut out);
        if self.more_notes > 0 {
            self.notes.push(format!(
                "{} more events skipped at window limits",
                self.more_notes
            ));
        }
        (out, self.notes)
    }

    fn close(&mut self, now: i64, out: &mut Vec<Detection>) {
        let set = self.set;
        for (ri, c) in set.rules.iter().enumerate() {
            let st = &mut self.states[ri];
            while let Some(Reverse((deadline, _))) = st.heap.peek() {
                if *deadline >= now && now != i64::MAX {
                    break;
                }
                let Reverse((deadline, key)) = st.heap.pop().expect("peeked");
                let Some(g) = st.groups.get_mut(&key) else {
                    continue;
                };
                if g.deadline != deadline {
                    continue;
                }
                let in_window = g.entries.iter().take_while(|e| e.ts <= deadline).count();
                if let Some(d) = finish_window(c, &g.entries[..in_window.max(1)]) {
                    out.push(d);
                    g.entries.drain(..in_window.max(1));
                } else {
                    // Slide: the next window starts at the next event time.
                    let start = g.entries[0].ts;
                    let drop = g.entries.iter().take_while(|e| e.ts == start).count();
                    g.entries.drain(..drop.max(1));
                }
                if g.entries.is_empty() {
                    st.groups.remove(&key);
                } else {
                    g.deadline = g.entries[0].ts.saturating_add(c.window_secs);
                    st.heap.push(Reverse((g.deadline, key)));
                }
            }
        }
    }
}

fn note(notes: &mut Vec<String>, more: &mut usize, msg: String) {
    if notes.len() < MAX_NOTES {
        notes.push(msg);
    } else {
        *more += 1;
    }
}

/// Every (match key, placeholder env) of copies of `ev` that satisfy the statements of
/// event variable `vi`.
fn match_var(c: &Compiled, vi: usize, ev: &Value) -> Vec<(String, Env)> {
    let rule = &c.rule;
    let mut ctx = Ctx::new(rule.vars.len(), rule.slots.len());
    ctx.events[vi] = Some(ev);
    let mut found: Vec<(String, Env)> = vec![];
    let mut budget = MAX_COPIES;
    let single = c.match_vars.is_empty();
    for_each_copy(&mut ctx, rule, &c.var_slots[vi], &mut budget, &mut |cx| {
        cx.env.clear();
        if !c.var_stmts[vi]
            .iter()
            .all(|&i| eval_bool(&rule.events[i], cx, rule))
        {
            return false;
        }
        let mut key = String::new();
        for m in &c.match_vars {
            let v = cx.lookup(m).cloned().unwrap_or(Val::Missing);
            if v.is_zero() && !c.allow_zero_values {
                return false;
            }
            key.push_str(&v.key());
            key.push('\u{1e}');
        }
        if !found.iter().any(|f| f.0 == key) {
            let env = cx
                .env
                .iter()
                .map(|(k, v)| (k.clone(), v.clone().into_owned()))
                .collect();
            found.push((key, env));
        }
        single
    });
    found
}

fn lookup<'x>(env: &'x Env, k: &str) -> Option<&'x Val<'static>> {
    env.iter().rev().find(|(n, _)| n == k).map(|x| &x.1)
}

/// Do two entries (of different variables) agree on shared placeholders?
fn agree(a: &Entry, b: &Entry) -> bool {
    a.env.iter().all(|(k, v)| match lookup(&b.env, k) {
        Some(w) => v.key() == w.key(),
        None => true,
    })
}

fn cross_ok(c: &Compiled, assigned: &[Option<&Entry>]) -> bool {
    let rule = &c.rule;
    for &si in &c.cross_stmts {
        let stmt = &rule.events[si];
        let mut vars = vec![];
        stmt.event_vars(&mut vars);
        let mut ctx = Ctx::new(rule.vars.len(), rule.slots.len());
        let mut ready = true;
        for v in &vars {
            let vi = rule.vars.iter().position(|x| x == v).unwrap_or(0);
            match assigned[vi] {
                Some(e) => ctx.events[vi] = Some(&e.event),
                None => ready = false,
            }
        }
        if !ready {
            continue;
        }
        for e in assigned.iter().flatten() {
            ctx.env.extend(e.env.iter().cloned());
        }
        let mut slots = vec![];
        stmt.walk(&mut |x| {
            if let Expr::Field(f) = x {
                for &(_, id) in &f.slots {
                    if rule.slots[id].quant == 0 && !slots.contains(&id) {
                        slots.push(id);
                    }
                }
            }
        });
        slots.sort_by_key(|&id| rule.slots[id].field.path.len());
        let mut budget = MAX_COPIES;
        let base = ctx.env.len();
        if !for_each_copy(&mut ctx, rule, &slots, &mut budget, &mut |cx| {
            cx.env.truncate(base);
            eval_bool(stmt, cx, rule)
        }) {
            return false;
        }
    }
    true
}

/// Which entries take part in a consistent join (per the condition's required vars).
fn participating(c: &Compiled, entries: &[Entry]) -> Vec<bool> {
    let n = c.rule.vars.len();
    let shared = {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for ps in &c.var_placeholders {
            for p in ps {
                if !c.match_vars.contains(p) {
                    *seen.entry(p.as_str()).or_default() += 1;
                }
            }
        }
        seen.values().any(|&k| k > 1)
    };
    if c.cross_stmts.is_empty() && !shared {
        return vec![true; entries.len()];
    }
    let by_var: Vec<Vec<usize>> = (0..n)
        .map(|v| {
            (0..entries.len())
                .filter(|&i| entries[i].var == v)
                .collect()
        })
        .collect();
    let req: Vec<usize> = (0..n).filter(|&v| c.required[v]).collect();
    let mut part = vec![false; entries.len()];
    let mut tuples: Vec<Vec<Option<usize>>> = vec![];
    let mut steps = 0usize;
    #[allow(clippy::too_many_arguments)]
    fn dfs(
        c: &Compiled,
        entries: &[Entry],
        by_var: &[Vec<usize>],
        req: &[usize],
        k: usize,
        cur: &mut Vec<Option<usize>>,
        tuples: &mut Vec<Vec<Option<usize>>>,
        steps: &mut usize,
    ) {
        if *steps > JOIN_STEPS || tuples.len() > 10_000 {
            return;
        }
        if k == req.len() {
            tuples.push(cur.clone());
            return;
        }
        let v = req[k];
        for &i in &by_var[v] {
            *steps += 1;
            let e = &entries[i];
            if cur.iter().flatten().any(|&j| !agree(&entries[j], e)) {
                continue;
            }
            cur[v] = Some(i);
            let assigned: Vec<Option<&Entry>> =
                cur.iter().map(|x| x.map(|j| &entries[j])).collect();
            if cross_ok(c, &assigned) {
                dfs(c, entries, by_var, req, k + 1, cur, tuples, steps);
            }
            cur[v] = None;
        }
    }
    let mut cur = vec![None; n];
    dfs(
        c,
        entries,
        &by_var,
        &req,
        0,
        &mut cur,
        &mut tuples,
        &mut steps,
    );
    for t in &tuples {
        for &i in t.iter().flatten() {
            part[i] = true;
        }
    }
    for v in (0..n).filter(|&v| !c.required[v]) {
        for &i in &by_var[v] {
            let e = &entries[i];
            let ok = if req.is_empty() {
                true
            } else {
                tuples.iter().any(|t| {
                    if t.iter().flatten().any(|&j| !agree(&entries[j], e)) {
                        return false;
                    }
                    let mut assigned: Vec<Option<&Entry>> =
                        t.iter().map(|x| x.map(|j| &entries[j])).collect();
                    assigned[v] = Some(e);
                    cross_ok(c, &assigned)
                })
            };
            part[i] = ok;
        }
    }
    part
}

/// Evaluate joins, outcomes and the condition over the events of one window.
fn finish_window(c: &Compiled, entries: &[Entry]) -> Option<Detection> {
    let rule = &c.rule;
    let part = participating(c, entries);
    let live: Vec<&Entry> = entries
        .iter()
        .zip(&part)
        .filter(|(_, p)| **p)
        .map(|(e, _)| e)
        .collect();
    let mut counts: HashMap<String, i64> = HashMap::new();
    for (vi, v) in rule.vars.iter().enumerate() {
        let lines: HashSet<usize> = live
            .iter()
            .filter(|e| e.var == vi)
            .map(|e| e.line)
            .collect();
        counts.insert(v.clone(), lines.len() as i64);
    }
    let mut placeholders: HashMap<&str, HashSet<String>> = HashMap::new();
    for e in &live {
        for (k, v) in &e.env {
            if !v.is_zero() {
                placeholders.entry(k.as_str()).or_default().insert(v.key());
            }
        }
    }
    for (k, set) in &placeholders {
        counts.entry(k.to_string()).or_insert(set.len() as i64);
    }
    // Environment for outcomes/condition: match values, then outcomes in order.
    let mut env: Env = vec![];
    if let Some(first) = live.first() {
        for m in &c.match_vars {
            if let Some(v) = lookup(&first.env, m) {
                env.push((m.clone(), v.clone()));
            }
        }
    }
    let mut outcomes = BTreeMap::new();
    for (name, e) in &rule.outcomes {
        let v = outcome_val(c, e, &live, &env);
        outcomes.insert(name.clone(), v.to_json());
        env.push((name.clone(), v));
    }
    let mut ctx = Ctx::new(rule.vars.len(), rule.slots.len());
    ctx.env = env;
    ctx.counts = Some(counts);
    if !eval_bool(&rule.condition, &mut ctx, rule) {
        return None;
    }
    let mut lines: Vec<usize> = live.iter().map(|e| e.line).collect();
    lines.sort_unstable();
    lines.dedup();
    if lines.is_empty() {
        return None;
    }
    let meta: BTreeMap<String, String> = rule.meta.iter().cloned().collect();
    let severity = rule
        .meta
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("severity"))
        .map(|x| x.1.clone());
    Some(Detection {
        rule: rule.name.clone(),
        severity,
        meta,
        events: lines,
        outcomes,
    })
}

fn has_aggregate(e: &Expr) -> bool {
    let mut found = false;
    e.walk(&mut |x| {
        if let Expr::Call { name, .. } = x {
            if AGGREGATES.contains(&name.as_str()) {
                found = true;
            }
        }
    });
    found
}

/// A context holding the first live event of every variable (for plain expressions).
fn first_ctx<'e>(c: &Compiled, live: &[&'e Entry], env: &Env) -> Ctx<'e> {
    let mut ctx = Ctx::new(c.rule.vars.len(), c.rule.slots.len());
    for e in live {
        if ctx.events[e.var].is_none() {
            ctx.events[e.var] = Some(&e.event);
            ctx.env.extend(e.env.iter().cloned());
        }
    }
    ctx.env.extend(env.iter().cloned());
    ctx
}

fn outcome_val(c: &Compiled, e: &Expr, live: &[&Entry], env: &Env) -> Val<'static> {
    let rule = &c.rule;
    if !has_aggregate(e) {
        let mut ctx = first_ctx(c, live, env);
        return eval_val(e, &mut ctx, rule).into_owned();
    }
    match e {
        Expr::Call { name, args, .. } if AGGREGATES.contains(&name.as_str()) => {
            aggregate(c, name, &args[0], live, env)
        }
        Expr::Call { name, args, .. } if name == "if" => {
            let cond = outcome_val(c, &args[0], live, env).truthy();
            match (cond, args.get(1), args.get(2)) {
                (true, Some(a), _) => outcome_val(c, a, live, env),
                (false, _, Some(b)) => outcome_val(c, b, live, env),
                _ => Val::Missing,
            }
        }
        Expr::Call {
            name,
            args,
            nocase,
            re,
            ..
        } => {
            let vals: Vec<Val<'static>> =
                args.iter().map(|a| outcome_val(c, a, live, env)).collect();
            call(name, &vals, re.as_deref(), *nocase).into_owned()
        }
        Expr::Bin { op, l, r, nocase } => {
            let a = outcome_val(c, l, live, env);
            let b = outcome_val(c, r, live, env);
            let mut ctx = Ctx::new(0, 0);
            let tmp = Expr::Bin {
                op: *op,
                l: Box::new(lit(a)),
                r: Box::new(lit(b)),
                nocase: *nocase,
            };
            eval_val(&tmp, &mut ctx, rule).into_owned()
        }
        Expr::Neg(x) => match outcome_val(c, x, live, env) {
            Val::Float(f) => Val::Float(-f),
            v => Val::Int(v.as_i64().unwrap_or(0).saturating_neg()),
        },
        Expr::Not(x, _) => Val::Bool(!outcome_val(c, x, live, env).truthy()),
        _ => Val::Missing,
    }
}

fn lit(v: Val<'static>) -> Expr {
    match v {
        Val::Int(i) => Expr::Int(i),
        Val::Float(f) => Expr::Float(f),
        Val::Bool(b) => Expr::Bool(b),
        Val::Missing => Expr::Str(String::new()),
        other => Expr::Str(other.as_str().into_owned()),
    }
}

fn aggregate(c: &Compiled, name: &str, arg: &Expr, live: &[&Entry], env: &Env) -> Val<'static> {
    let rule = &c.rule;
    let mut vars = vec![];
    arg.event_vars(&mut vars);
    let mut slots = vec![];
    arg.walk(&mut |x| {
        if let Expr::Field(f) = x {
            for &(_, id) in &f.slots {
                if rule.slots[id].quant == 0 && !slots.contains(&id) {
                    slots.push(id);
                }
            }
        }
    });
    slots.sort_by_key(|&id| rule.slots[id].field.path.len());
    let mut values: Vec<Val<'static>> = vec![];
    let target = vars
        .first()
        .and_then(|v| rule.vars.iter().position(|x| x == v));
    let mut seen_lines = HashSet::new();
    for e in live {
        if let Some(t) = target {
            if e.var != t {
                continue;
            }
        }
        if !seen_lines.insert((e.var, e.line)) && target.is_some() {
            continue;
        }
        let mut ctx = first_ctx(c, live, env);
        ctx.events[e.var] = Some(&e.event);
        ctx.env.extend(e.env.iter().cloned());
        let base = ctx.env.len();
        let mut budget = MAX_COPIES;
        for_each_copy(&mut ctx, rule, &slots, &mut budget, &mut |cx| {
            cx.env.truncate(base);
            match eval_val(arg, cx, rule).into_owned() {
                Val::List(l) => values.extend(l),
                v => values.push(v),
            }
            false
        });
        if target.is_none() && matches!(name, "max" | "min" | "array_distinct" | "count_distinct") {
            // A constant or placeholder-only argument: one value per window suffices
            // unless it depends on per-event placeholders.
            let mut bare = vec![];
            arg.bare_vars(&mut bare);
            if bare.is_empty() {
                break;
            }
        }
    }
    reduce(name, values)
}

fn reduce(name: &str, values: Vec<Val<'static>>) -> Val<'static> {
    let nonzero: Vec<Val<'static>> = values.iter().filter(|v| !v.is_zero()).cloned().collect();
    match name {
        "count" => Val::Int(values.iter().filter(|v| !matches!(v, Val::Missing)).count() as i64),
        "count_distinct" => {
            let set: HashSet<String> = nonzero.iter().map(Val::key).collect();
            Val::Int(set.len() as i64)
        }
        "sum" | "avg" => {
            let all_int = values
                .iter()
                .all(|v| matches!(v, Val::Int(_) | Val::Missing | Val::Bool(_)));
            if name == "sum" && all_int {
                return Val::Int(
                    values
                        .iter()
                        .fold(0i64, |a, v| a.saturating_add(v.as_i64().unwrap_or(0))),
                );
            }
            let s: f64 = values.iter().filter_map(Val::as_f64).sum();
            if name == "sum" {
                Val::Float(s)
            } else if values.is_empty() {
                Val::Missing
            } else {
                Val::Float(s / values.len() as f64)
            }
        }
        "min" | "max" => {
            let mut best: Option<Val<'static>> = None;
            for v in values.into_iter().filter(|v| !matches!(v, Val::Missing)) {
                best = Some(match best {
                    None => v,
                    Some(b) => {
                        let o = order(&v, &b, false).unwrap_or(std::cmp::Ordering::Equal);
                        let better = if name == "max" { o.is_gt() } else { o.is_lt() };
                        if better {
                            v
                        } else {
                            b
                        }
                    }
                });
            }
            best.unwrap_or(Val::Int(0))
        }
        "array" => Val::List(nonzero.into_iter().take(MAX_ARRAY).collect()),
        "array_distinct" => {
            let mut seen = HashSet::new();
            Val::List(
                nonzero
                    .into_iter()
                    .filter(|v| seen.insert(v.key()))
                    .take(MAX_ARRAY)
                    .collect(),
            )
        }
        _ => Val::Missing,
    }
}
