//! Runtime values and their comparison rules: missing fields compare as the zero value
//! of the other side's type, 64-bit integers may arrive as strings, enums compare by
//! name, `nocase` folds case. Also RFC 3339 timestamp parsing.

use serde_json::Value;
use std::borrow::Cow;
use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq)]
pub enum Val<'a> {
    Missing,
    Str(Cow<'a, str>),
    Int(i64),
    Float(f64),
    Bool(bool),
    List(Vec<Val<'a>>),
}

impl<'a> Val<'a> {
    pub fn from_json(v: &'a Value) -> Val<'a> {
        match v {
            Value::Null => Val::Missing,
            Value::Bool(b) => Val::Bool(*b),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Val::Int(i)
                } else if let Some(u) = n.as_u64() {
                    Val::Int(u.min(i64::MAX as u64) as i64)
                } else {
                    Val::Float(n.as_f64().unwrap_or(0.0))
                }
            }
            Value::String(s) => Val::Str(Cow::Borrowed(s)),
            Value::Array(a) => Val::List(a.iter().map(Val::from_json).collect()),
            Value::Object(_) => Val::Str(Cow::Owned(v.to_string())),
        }
    }

    pub fn into_owned(self) -> Val<'static> {
        match self {
            Val::Missing => Val::Missing,
            Val::Str(s) => Val::Str(Cow::Owned(s.into_owned())),
            Val::Int(i) => Val::Int(i),
            Val::Float(f) => Val::Float(f),
            Val::Bool(b) => Val::Bool(b),
            Val::List(l) => Val::List(l.into_iter().map(Val::into_owned).collect()),
        }
    }

    pub fn to_json(&self) -> Value {
        match self {
            Val::Missing => Value::Null,
            Val::Str(s) => Value::String(s.to_string()),
            Val::Int(i) => Value::from(*i),
            Val::Float(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            Val::Bool(b) => Value::Bool(*b),
            Val::List(l) => Value::Array(l.iter().map(Val::to_json).collect()),
        }
    }

    /// The zero value of the type ("", 0, false) or missing.
    pub fn is_zero(&self) -> bool {
        match self {
            Val::Missing => true,
            Val::Str(s) => s.is_empty(),
            Val::Int(i) => *i == 0,
            Val::Float(f) => *f == 0.0,
            Val::Bool(b) => !*b,
            Val::List(l) => l.is_empty(),
        }
    }

    pub fn truthy(&self) -> bool {
        match self {
            Val::List(l) => l.iter().any(Val::truthy),
            other => !other.is_zero(),
        }
    }

    /// String form (for string functions): numbers print, missing is "".
    pub fn as_str(&self) -> Cow<'_, str> {
        match self {
            Val::Missing => Cow::Borrowed(""),
            Val::Str(s) => Cow::Borrowed(s),
            Val::Int(i) => Cow::Owned(i.to_string()),
            Val::Float(f) => Cow::Owned(f.to_string()),
            Val::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
            Val::List(l) => l.first().map(|v| v.as_str()).unwrap_or(Cow::Borrowed("")),
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Val::Missing => Some(0),
            Val::Int(i) => Some(*i),
            Val::Float(f) => Some(*f as i64),
            Val::Bool(b) => Some(*b as i64),
            Val::Str(s) => s.trim().parse().ok(),
            Val::List(l) => l.first().and_then(Val::as_i64),
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Val::Missing => Some(0.0),
            Val::Int(i) => Some(*i as f64),
            Val::Float(f) => Some(*f),
            Val::Bool(b) => Some(*b as i64 as f64),
            Val::Str(s) => s.trim().parse().ok(),
            Val::List(l) => l.first().and_then(Val::as_f64),
        }
    }

    /// Key for grouping and distinct counts.
    pub fn key(&self) -> String {
        match self {
            Val::Missing => String::new(),
            Val::List(l) => l.iter().map(Val::key).collect::<Vec<_>>().join("\u{1f}"),
            other => other.as_str().into_owned(),
        }
    }
}

/// Order two scalar values; `None` when they cannot be compared.
pub fn order(a: &Val, b: &Val, nocase: bool) -> Option<Ordering> {
    use Val::*;
    match (a, b) {
        (Missing, Missing) => Some(Ordering::Equal),
        (Missing, other) => order(&zero_like(other), other, nocase),
        (other, Missing) => order(other, &zero_like(other), nocase),
        (Str(x), Str(y)) => Some(if nocase {
            cmp_nocase(x, y)
        } else {
            x.as_ref().cmp(y.as_ref())
        }),
        (Int(x), Int(y)) => Some(x.cmp(y)),
        (Bool(x), Bool(y)) => Some(x.cmp(y)),
        (Str(s), Bool(b)) | (Bool(b), Str(s)) => {
            let sb = match s.to_ascii_lowercase().as_str() {
                "true" => true,
                "false" | "" => false,
                _ => return None,
            };
            let (l, r) = if matches!(a, Str(_)) {
                (sb, *b)
            } else {
                (*b, sb)
            };
            Some(l.cmp(&r))
        }
        (Str(_), Int(_) | Float(_))
        | (Int(_) | Float(_), Str(_))
        | (Int(_), Float(_))
        | (Float(_), Int(_))
        | (Float(_), Float(_)) => {
            let (x, y) = (a.as_f64()?, b.as_f64()?);
            if let (Int(_) | Str(_), Int(_) | Str(_)) = (a, b) {
                if let (Some(i), Some(j)) = (a.as_i64(), b.as_i64()) {
                    return Some(i.cmp(&j));
                }
            }
            x.partial_cmp(&y)
        }
        (Bool(_), Int(_) | Float(_)) | (Int(_) | Float(_), Bool(_)) => {
            a.as_f64()?.partial_cmp(&b.as_f64()?)
        }
        (List(_), _) | (_, List(_)) => None,
    }
}

fn zero_like(v: &Val) -> Val<'static> {
    match v {
        Val::Str(_) | Val::Missing | Val::List(_) => Val::Str(Cow::Borrowed("")),
        Val::Int(_) => Val::Int(0),
        Val::Float(_) => Val::Float(0.0),
        Val::Bool(_) => Val::Bool(false),
    }
}

fn cmp_nocase(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        let (x, y) = (a.as_bytes(), b.as_bytes());
        for (p, q) in x.iter().zip(y) {
            match p.to_ascii_lowercase().cmp(&q.to_ascii_lowercase()) {
                Ordering::Equal => {}
                o => return o,
            }
        }
        return x.len().cmp(&y.len());
    }
    a.to_lowercase().cmp(&b.to_lowercase())
}

/// Compare with `op` (one of = != < <= > >=). A list on either side means "some element".
pub fn compare(a: &Val, b: &Val, op: super::ast::BinOp, nocase: bool) -> bool {
    use super::ast::BinOp::*;
    if let Val::List(l) = a {
        if l.is_empty() {
            return compare(&Val::Missing, b, op, nocase);
        }
        return l.iter().any(|x| compare(x, b, op, nocase));
    }
    if let Val::List(l) = b {
        if l.is_empty() {
            return compare(a, &Val::Missing, op, nocase);
        }
        return l.iter().any(|x| compare(a, x, op, nocase));
    }
    match order(a, b, nocase) {
        None => op == Ne,
        Some(o) => match op {
            Eq => o == Ordering::Equal,
            Ne => o != Ordering::Equal,
            Lt => o == Ordering::Less,
            Le => o != Ordering::Greater,
            Gt => o == Ordering::Greater,
            Ge => o != Ordering::Less,
            _ => false,
        },
    }
}

/// Days since 1970-01-01 for a civil date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// (year, month, day) for days since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Parse an RFC 3339 timestamp into (seconds, nanos) since the epoch.
pub fn parse_rfc3339(s: &str) -> Option<(i64, i64)> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        if !t.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        t.parse().ok()
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if b[13] != b':' || b[16] != b':' || !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    if h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut i = 19;
    let mut nanos = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 9 {
                nanos = nanos * 10 + (b[i] - b'0') as i64;
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        for _ in (i - start).min(9)..9 {
            nanos *= 10;
        }
    }
    let offset = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        b'+' | b'-' if i + 6 == b.len() && b[i + 3] == b':' => {
            let oh = num(i + 1..i + 3)?;
            let om = num(i + 4..i + 6)?;
            let o = oh * 3600 + om * 60;
            if b[i] == b'+' {
                o
            } else {
                -o
            }
        }
        _ => return None,
    };
    let secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - offset;
    Some((secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::ast::BinOp;

    #[test]
    fn rfc3339() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some((0, 0)));
        assert_eq!(
            parse_rfc3339("2024-02-29T12:30:15.5+01:00"),
            Some((1709206215, 500_000_000))
        );
        assert_eq!(parse_rfc3339("2024-02-29"), None);
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
    }

    #[test]
    fn comparisons() {
        let s = |x: &'static str| Val::Str(Cow::Borrowed(x));
        assert!(compare(&s("4444"), &Val::Int(4444), BinOp::Eq, false));
        assert!(compare(&Val::Missing, &s(""), BinOp::Eq, false));
        assert!(compare(&Val::Missing, &Val::Int(0), BinOp::Eq, false));
        assert!(compare(&s("ABC"), &s("abc"), BinOp::Eq, true));
        assert!(!compare(&s("ABC"), &s("abc"), BinOp::Eq, false));
        assert!(compare(&s("x"), &Val::Int(1), BinOp::Ne, false));
        assert!(compare(
            &Val::Int(9223372036854775807),
            &s("9223372036854775807"),
            BinOp::Eq,
            false
        ));
        assert!(compare(&Val::Float(1.5), &Val::Int(1), BinOp::Gt, false));
    }
}
