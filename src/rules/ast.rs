//! The YARA-L 2.0 syntax tree. Built by `parser.rs`, annotated by `compile` (schema
//! slots for repeated fields, compiled regexes), read by the linter and the evaluator.

use regex::Regex;
use std::sync::Arc;

/// Where a node came from (for diagnostics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
    pub len: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Seg {
    /// A field name as written; `alt` is the other spelling (camelCase / snake_case).
    Name { name: String, alt: String },
    /// Map access `["key"]`.
    Key(String),
}

#[derive(Debug, Clone)]
pub struct FieldRef {
    pub var: String,
    pub path: Vec<Seg>,
    pub pos: Pos,
    /// Filled by compile: for each repeated component, (index of the segment after which
    /// the value is a list, expansion slot id).
    pub slots: Vec<(usize, usize)>,
    /// Schema kind of the leaf, when known.
    pub leaf: Leaf,
    /// Index of `var` among the rule's event variables (filled by compile).
    pub vi: usize,
}

/// One repeated component of an event variable that is expanded per element.
#[derive(Debug, Clone)]
pub struct Slot {
    pub var: String,
    pub prefix: String,
    /// 0 for the rule-level expansion, otherwise the `any`/`all` it belongs to.
    pub quant: usize,
    /// Path up to and including the repeated component (its own slot left unbound).
    pub field: FieldRef,
}

/// What the schema says about a field's value.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Leaf {
    #[default]
    Unknown,
    Str,
    Int,
    Float,
    Bool,
    /// Enum type: values by name.
    Enum(Arc<Vec<(String, i64)>>),
    Message,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    And,
    Or,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
}

impl BinOp {
    pub fn is_cmp(self) -> bool {
        matches!(
            self,
            BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    Str,
    Regex,
    Cidr,
}

#[derive(Debug, Clone)]
pub enum Expr {
    Field(FieldRef),
    /// `$x`: an event variable, a placeholder or an outcome variable.
    Var(String, Pos),
    /// `#x`: number of events (or distinct placeholder values) in a match.
    Count(String, Pos),
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Regex(Arc<Regex>, String),
    Call {
        name: String,
        args: Vec<Expr>,
        nocase: bool,
        pos: Pos,
        /// Compiled pattern when the call takes a literal regex (re.regex, re.capture,
        /// re.replace).
        re: Option<Arc<Regex>>,
    },
    Not(Box<Expr>, Pos),
    Neg(Box<Expr>),
    Bin {
        op: BinOp,
        l: Box<Expr>,
        r: Box<Expr>,
        nocase: bool,
    },
    /// `x in %list`, `x in regex %list`, `x in cidr %list`.
    InList {
        e: Box<Expr>,
        list: String,
        kind: ListKind,
        nocase: bool,
        pos: Pos,
        resolved: Option<Arc<super::reflist::RefList>>,
    },
    /// Extension: `x in (1, 2, 3)` = `x = 1 or x = 2 or x = 3`.
    InValues {
        e: Box<Expr>,
        values: Vec<Expr>,
        pos: Pos,
    },
    /// `any $e.f ...` / `all $e.f ...`: the whole list, not one copy.
    Quant {
        all: bool,
        e: Box<Expr>,
        /// Slots this quantifier enumerates (filled by compile).
        slots: Vec<usize>,
    },
}

#[derive(Debug, Clone)]
pub struct MatchSpec {
    pub vars: Vec<String>,
    pub window_secs: i64,
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub file: String,
    pub meta: Vec<(String, String)>,
    pub events: Vec<Expr>,
    pub match_spec: Option<MatchSpec>,
    pub outcomes: Vec<(String, Expr)>,
    pub condition: Expr,
    pub options: Vec<(String, Expr)>,
    /// Event variables of the `events` section, in order of appearance.
    pub vars: Vec<String>,
    /// Expansion slots for repeated components (filled by compile).
    pub slots: Vec<Slot>,
    pub pos: Pos,
}

impl Expr {
    /// Visit every node, parents first.
    pub fn walk<'a>(&'a self, f: &mut dyn FnMut(&'a Expr)) {
        f(self);
        match self {
            Expr::Call { args, .. } => args.iter().for_each(|a| a.walk(f)),
            Expr::Not(e, _) | Expr::Neg(e) | Expr::Quant { e, .. } => e.walk(f),
            Expr::Bin { l, r, .. } => {
                l.walk(f);
                r.walk(f);
            }
            Expr::InList { e, .. } => e.walk(f),
            Expr::InValues { e, values, .. } => {
                e.walk(f);
                values.iter().for_each(|v| v.walk(f));
            }
            _ => {}
        }
    }

    pub fn walk_mut(&mut self, f: &mut dyn FnMut(&mut Expr)) {
        f(self);
        match self {
            Expr::Call { args, .. } => args.iter_mut().for_each(|a| a.walk_mut(f)),
            Expr::Not(e, _) | Expr::Neg(e) | Expr::Quant { e, .. } => e.walk_mut(f),
            Expr::Bin { l, r, .. } => {
                l.walk_mut(f);
                r.walk_mut(f);
            }
            Expr::InList { e, .. } => e.walk_mut(f),
            Expr::InValues { e, values, .. } => {
                e.walk_mut(f);
                values.iter_mut().for_each(|v| v.walk_mut(f));
            }
            _ => {}
        }
    }

    /// Event variables referenced through fields (`$e.f`).
    pub fn event_vars(&self, out: &mut Vec<String>) {
        self.walk(&mut |e| {
            if let Expr::Field(f) = e {
                if !out.contains(&f.var) {
                    out.push(f.var.clone());
                }
            }
        });
    }

    /// Bare `$x` variables referenced (placeholders, event or outcome variables).
    pub fn bare_vars(&self, out: &mut Vec<String>) {
        self.walk(&mut |e| {
            if let Expr::Var(v, _) = e {
                if !out.contains(v) {
                    out.push(v.clone());
                }
            }
        });
    }
}
