//! YARA-L 2.0 functions (`re.*`, `net.*`, `strings.*`, `cast.*`, `arrays.*`, `math.*`,
//! `hash.*`, `timestamp.*`) and the outcome aggregate names. Arity is checked at parse
//! time; evaluation never panics on bad input (it yields the zero value).

use super::value::{civil_from_days, Val};
use base64::Engine as _;
use regex::Regex;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::net::IpAddr;

/// Outcome aggregates: evaluated over every event of a match.
pub const AGGREGATES: &[&str] = &[
    "count",
    "count_distinct",
    "sum",
    "min",
    "max",
    "avg",
    "array",
    "array_distinct",
];

/// (name, min args, max args)
const FUNCS: &[(&str, usize, usize)] = &[
    ("re.regex", 2, 2),
    ("re.capture", 2, 2),
    ("re.replace", 3, 3),
    ("net.ip_in_range_cidr", 2, 2),
    ("strings.contains", 2, 2),
    ("strings.to_lower", 1, 1),
    ("strings.to_upper", 1, 1),
    ("strings.concat", 1, 64),
    ("strings.starts_with", 2, 2),
    ("strings.ends_with", 2, 2),
    ("strings.coalesce", 1, 64),
    ("strings.split", 1, 2),
    ("strings.count_substrings", 2, 2),
    ("strings.base64_decode", 1, 1),
    ("strings.trim", 1, 2),
    ("strings.ltrim", 1, 2),
    ("strings.rtrim", 1, 2),
    ("strings.length", 1, 1),
    ("arrays.index_to_str", 2, 2),
    ("arrays.index_to_int", 2, 2),
    ("arrays.length", 1, 1),
    ("cast.as_int", 1, 1),
    ("cast.as_float", 1, 1),
    ("cast.as_string", 1, 2),
    ("math.abs", 1, 1),
    ("math.ceil", 1, 1),
    ("math.floor", 1, 1),
    ("math.round", 1, 2),
    ("hash.sha256", 1, 1),
    ("timestamp.current_seconds", 0, 0),
    ("timestamp.get_day_of_week", 1, 2),
    ("timestamp.get_hour", 1, 2),
    ("timestamp.get_minute", 1, 2),
    ("timestamp.get_date", 1, 2),
    ("timestamp.get_timestamp", 1, 3),
    ("timestamp.diff", 3, 3),
    ("if", 2, 3),
];

pub fn check_call(name: &str, nargs: usize) -> Result<(), String> {
    if AGGREGATES.contains(&name) {
        return if nargs == 1 {
            Ok(())
        } else {
            Err(format!("{name}() takes one argument"))
        };
    }
    match FUNCS.iter().find(|f| f.0 == name) {
        None => Err(format!("unknown function {name}()")),
        Some(&(_, lo, hi)) if nargs < lo || nargs > hi => Err(if lo == hi {
            format!("{name}() takes {lo} argument(s), got {nargs}")
        } else {
            format!("{name}() takes {lo} to {hi} arguments, got {nargs}")
        }),
        Some(_) => Ok(()),
    }
}

/// `10.1.2.3` in `10.0.0.0/8`; IPv4 and IPv6. Bad input is simply false.
pub fn ip_in_cidr(ip: &str, cidr: &str) -> bool {
    let Ok(ip) = ip.trim().parse::<IpAddr>() else {
        return false;
    };
    let (net, bits) = match cidr.trim().split_once('/') {
        Some((n, b)) => (n, b.parse::<u32>().ok()),
        None => (cidr.trim(), None),
    };
    let Ok(net) = net.parse::<IpAddr>() else {
        return false;
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let bits = bits.unwrap_or(32);
            if bits > 32 {
                return false;
            }
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let bits = bits.unwrap_or(128);
            if bits > 128 {
                return false;
            }
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V4(_)) => match a.to_ipv4_mapped() {
            Some(v4) => ip_in_cidr(&v4.to_string(), cidr),
            None => false,
        },
        _ => false,
    }
}

fn s(v: String) -> Val<'static> {
    Val::Str(Cow::Owned(v))
}

/// Seconds → (days, seconds of day) shifted by a `+hh:mm` / `-hh:mm` / `UTC` zone.
fn local(ts: i64, tz: Option<&Val>) -> (i64, i64) {
    let off = tz
        .map(|t| t.as_str().into_owned())
        .and_then(|t| {
            let t = t.trim();
            if t.is_empty() || t.eq_ignore_ascii_case("utc") || t.eq_ignore_ascii_case("gmt") {
                return Some(0);
            }
            let (sign, rest) = match t.as_bytes().first()? {
                b'+' => (1, &t[1..]),
                b'-' => (-1, &t[1..]),
                _ => return None,
            };
            let (h, m) = rest.split_once(':').unwrap_or((rest, "0"));
            Some(sign * (h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60))
        })
        .unwrap_or(0);
    let t = ts.saturating_add(off);
    (t.div_euclid(86400), t.rem_euclid(86400))
}

/// Replacement text in RE2 style (`\1`) → regex crate style (`${1}`).
fn re2_replacement(r: &str) -> String {
    let mut out = String::new();
    let mut it = r.chars().peekable();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.peek() {
                Some(d) if d.is_ascii_digit() => {
                    out.push_str(&format!("${{{d}}}"));
                    it.next();
                }
                Some('\\') => {
                    out.push('\\');
                    it.next();
                }
                _ => out.push('\\'),
            }
        } else if c == '$' {
            out.push_str("$$");
        } else {
            out.push(c);
        }
    }
    out
}

fn dyn_regex(pat: &str, nocase: bool) -> Option<Regex> {
    super::parser::compile_regex(pat, nocase).ok()
}

/// Call a scalar function. `re` is the pattern compiled at parse time, when literal.
pub fn call<'a>(name: &str, args: &[Val<'a>], re: Option<&Regex>, nocase: bool) -> Val<'a> {
    let arg = |i: usize| args.get(i).cloned().unwrap_or(Val::Missing);
    let st = |i: usize| args.get(i).map(|v| v.as_str()).unwrap_or(Cow::Borrowed(""));
    let get_re = |i: usize| -> Option<Cow<'_, Regex>> {
        match re {
            Some(r) => Some(Cow::Borrowed(r)),
            None => dyn_regex(&st(i), nocase).map(Cow::Owned),
        }
    };
    match name {
        "re.regex" => {
            let Some(r) = get_re(1) else {
                return Val::Bool(false);
            };
            match args.first() {
                Some(Val::List(l)) => Val::Bool(l.iter().any(|v| r.is_match(&v.as_str()))),
                _ => Val::Bool(r.is_match(&st(0))),
            }
        }
        "re.capture" => {
            let Some(r) = get_re(1) else {
                return Val::Str(Cow::Borrowed(""));
            };
            let text = st(0);
            match r.captures(&text) {
                Some(c) => s(c
                    .get(1)
                    .or_else(|| c.get(0))
                    .map(|m| m.as_str().to_string())
                    .unwrap_or_default()),
                None => Val::Str(Cow::Borrowed("")),
            }
        }
        "re.replace" => match get_re(1) {
            Some(r) => s(r
                .replace_all(&st(0), re2_replacement(&st(2)).as_str())
                .into_owned()),
            None => arg(0),
        },
        "net.ip_in_range_cidr" => match args.first() {
            Some(Val::List(l)) => Val::Bool(l.iter().any(|v| ip_in_cidr(&v.as_str(), &st(1)))),
            _ => Val::Bool(ip_in_cidr(&st(0), &st(1))),
        },
        "strings.contains" => Val::Bool(if nocase {
            st(0).to_lowercase().contains(&st(1).to_lowercase())
        } else {
            st(0).contains(st(1).as_ref())
        }),
        "strings.to_lower" => s(st(0).to_lowercase()),
        "strings.to_upper" => s(st(0).to_uppercase()),
        "strings.concat" => s(args.iter().map(|a| a.as_str()).collect::<String>()),
        "strings.starts_with" => Val::Bool(st(0).starts_with(st(1).as_ref())),
        "strings.ends_with" => Val::Bool(st(0).ends_with(st(1).as_ref())),
        "strings.coalesce" => args
            .iter()
            .find(|a| !a.is_zero())
            .cloned()
            .unwrap_or(Val::Str(Cow::Borrowed(""))),
        "strings.split" => {
            let text = st(0);
            let delim = if args.len() > 1 {
                st(1)
            } else {
                Cow::Borrowed(",")
            };
            if delim.is_empty() {
                return Val::List(text.chars().map(|c| s(c.to_string())).collect());
            }
            Val::List(
                text.split(delim.as_ref())
                    .map(|p| s(p.to_string()))
                    .collect(),
            )
        }
        "strings.count_substrings" => {
            let sub = st(1);
            Val::Int(if sub.is_empty() {
                0
            } else {
                st(0).matches(sub.as_ref()).count() as i64
            })
        }
        "strings.base64_decode" => {
            let t = st(0);
            let t = t.trim();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(t)
                .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(t))
                .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(t))
                .unwrap_or_default();
            s(String::from_utf8_lossy(&bytes).into_owned())
        }
        "strings.trim" | "strings.ltrim" | "strings.rtrim" => {
            let t = st(0);
            let cut: Vec<char> = if args.len() > 1 {
                st(1).chars().collect()
            } else {
                vec![' ', '\t', '\n', '\r']
            };
            let f = |c: char| cut.contains(&c);
            s(match name {
                "strings.trim" => t.trim_matches(f).to_string(),
                "strings.ltrim" => t.trim_start_matches(f).to_string(),
                _ => t.trim_end_matches(f).to_string(),
            })
        }
        "strings.length" => Val::Int(st(0).chars().count() as i64),
        "arrays.index_to_str" | "arrays.index_to_int" => {
            let i = arg(1).as_i64().unwrap_or(0);
            let v = match arg(0) {
                Val::List(l) => {
                    let idx = if i < 0 { l.len() as i64 + i } else { i };
                    usize::try_from(idx)
                        .ok()
                        .and_then(|k| l.get(k).cloned())
                        .unwrap_or(Val::Missing)
                }
                other if i == 0 || i == -1 => other,
                _ => Val::Missing,
            };
            if name == "arrays.index_to_int" {
                Val::Int(v.as_i64().unwrap_or(0))
            } else {
                s(v.as_str().into_owned())
            }
        }
        "arrays.length" => Val::Int(match arg(0) {
            Val::List(l) => l.len() as i64,
            Val::Missing => 0,
            _ => 1,
        }),
        "cast.as_int" => Val::Int(
            arg(0)
                .as_i64()
                .or_else(|| arg(0).as_f64().map(|f| f as i64))
                .unwrap_or(0),
        ),
        "cast.as_float" => Val::Float(arg(0).as_f64().unwrap_or(0.0)),
        "cast.as_string" => s(arg(0).as_str().into_owned()),
        "math.abs" => match arg(0) {
            Val::Float(f) => Val::Float(f.abs()),
            v => Val::Int(v.as_i64().unwrap_or(0).saturating_abs()),
        },
        "math.ceil" => Val::Int(arg(0).as_f64().unwrap_or(0.0).ceil() as i64),
        "math.floor" => Val::Int(arg(0).as_f64().unwrap_or(0.0).floor() as i64),
        "math.round" => {
            let d = arg(1).as_i64().unwrap_or(0).clamp(0, 15) as i32;
            let p = 10f64.powi(d);
            let r = (arg(0).as_f64().unwrap_or(0.0) * p).round() / p;
            if d == 0 {
                Val::Int(r as i64)
            } else {
                Val::Float(r)
            }
        }
        "hash.sha256" => s(hex::encode(Sha256::digest(st(0).as_bytes()))),
        "timestamp.current_seconds" => Val::Int(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0),
        ),
        "timestamp.get_day_of_week" => {
            // 1 = Sunday ... 7 = Saturday; 1970-01-01 was a Thursday.
            let (days, _) = local(arg(0).as_i64().unwrap_or(0), args.get(1));
            Val::Int((days + 4).rem_euclid(7) + 1)
        }
        "timestamp.get_hour" => Val::Int(local(arg(0).as_i64().unwrap_or(0), args.get(1)).1 / 3600),
        "timestamp.get_minute" => {
            Val::Int(local(arg(0).as_i64().unwrap_or(0), args.get(1)).1 % 3600 / 60)
        }
        "timestamp.get_date" => {
            let (days, _) = local(arg(0).as_i64().unwrap_or(0), args.get(1));
            let (y, m, d) = civil_from_days(days);
            s(format!("{y:04}-{m:02}-{d:02}"))
        }
        "timestamp.get_timestamp" => {
            let t = arg(0).as_i64().unwrap_or(0);
            let (days, sod) = local(t, args.get(2));
            let (y, m, d) = civil_from_days(days);
            s(format!(
                "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
                sod / 3600,
                sod % 3600 / 60,
                sod % 60
            ))
        }
        "timestamp.diff" => {
            let (a, b) = (arg(0).as_i64().unwrap_or(0), arg(1).as_i64().unwrap_or(0));
            let d = a.saturating_sub(b);
            let unit = st(2).to_ascii_uppercase();
            Val::Int(match unit.as_str() {
                "MINUTE" | "MINUTES" => d / 60,
                "HOUR" | "HOURS" => d / 3600,
                "DAY" | "DAYS" => d / 86400,
                _ => d,
            })
        }
        "if" => {
            if arg(0).truthy() {
                arg(1)
            } else if args.len() > 2 {
                arg(2)
            } else {
                Val::Missing
            }
        }
        _ => Val::Missing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(x: &'static str) -> Val<'static> {
        Val::Str(Cow::Borrowed(x))
    }
    fn c(name: &str, args: &[Val<'static>]) -> Val<'static> {
        call(name, args, None, false)
    }

    #[test]
    fn regex_functions() {
        assert_eq!(
            c("re.regex", &[v("/usr/bin/XMRig"), v("(?i)xmrig")]),
            Val::Bool(true)
        );
        assert_eq!(c("re.regex", &[v("abc"), v("^b")]), Val::Bool(false));
        assert_eq!(
            call("re.regex", &[v("ABC"), v("abc")], None, true),
            Val::Bool(true)
        );
        assert_eq!(
            c("re.capture", &[v("user@corp.com"), v("@(.*)$")]),
            v("corp.com")
        );
        assert_eq!(c("re.capture", &[v("abc"), v("b")]), v("b"));
        assert_eq!(c("re.replace", &[v("a@b.c"), v("@.*$"), v("")]), v("a"));
        assert_eq!(
            c("re.replace", &[v("ab"), v("(a)(b)"), v("\\2\\1")]),
            v("ba")
        );
    }

    #[test]
    fn cidr_v4_v6() {
        assert!(ip_in_cidr("10.0.0.5", "10.0.0.0/8"));
        assert!(!ip_in_cidr("8.8.8.8", "10.0.0.0/8"));
        assert!(ip_in_cidr("172.31.255.255", "172.16.0.0/12"));
        assert!(!ip_in_cidr("172.32.0.1", "172.16.0.0/12"));
        assert!(ip_in_cidr("2001:db8::1", "2001:db8::/32"));
        assert!(!ip_in_cidr("2001:db9::1", "2001:db8::/32"));
        assert!(ip_in_cidr("::ffff:10.1.1.1", "10.0.0.0/8"));
        assert!(!ip_in_cidr("garbage", "10.0.0.0/8"));
        assert!(!ip_in_cidr("10.0.0.1", "10.0.0.0/99"));
        assert!(ip_in_cidr("1.2.3.4", "0.0.0.0/0"));
    }

    #[test]
    fn string_functions() {
        assert_eq!(
            c("strings.contains", &[v("hello"), v("ell")]),
            Val::Bool(true)
        );
        assert_eq!(c("strings.to_lower", &[v("AbC")]), v("abc"));
        assert_eq!(c("strings.to_upper", &[v("AbC")]), v("ABC"));
        assert_eq!(
            c("strings.concat", &[v("a"), Val::Int(1), v("b")]),
            v("a1b")
        );
        assert_eq!(
            c("strings.starts_with", &[v("abc"), v("ab")]),
            Val::Bool(true)
        );
        assert_eq!(
            c("strings.ends_with", &[v("abc"), v("bc")]),
            Val::Bool(true)
        );
        assert_eq!(
            c("strings.coalesce", &[Val::Missing, v(""), v("x")]),
            v("x")
        );
        assert_eq!(
            c("strings.split", &[v("a,b")]),
            Val::List(vec![v("a"), v("b")])
        );
        assert_eq!(
            c("strings.count_substrings", &[v("aXbXc"), v("X")]),
            Val::Int(2)
        );
        assert_eq!(c("strings.base64_decode", &[v("aGVsbG8=")]), v("hello"));
        assert_eq!(c("strings.trim", &[v("  x ")]), v("x"));
        assert_eq!(c("strings.length", &[v("abc")]), Val::Int(3));
    }

    #[test]
    fn arrays_cast_math_hash() {
        let l = Val::List(vec![v("a"), v("b")]);
        assert_eq!(c("arrays.index_to_str", &[l.clone(), Val::Int(1)]), v("b"));
        assert_eq!(c("arrays.index_to_str", &[l.clone(), Val::Int(-1)]), v("b"));
        assert_eq!(c("arrays.index_to_str", &[l.clone(), Val::Int(5)]), v(""));
        assert_eq!(c("arrays.length", &[l]), Val::Int(2));
        assert_eq!(c("cast.as_int", &[v("42")]), Val::Int(42));
        assert_eq!(c("cast.as_int", &[v("x")]), Val::Int(0));
        assert_eq!(c("cast.as_float", &[v("1.5")]), Val::Float(1.5));
        assert_eq!(c("cast.as_string", &[Val::Int(7)]), v("7"));
        assert_eq!(c("math.abs", &[Val::Int(-3)]), Val::Int(3));
        assert_eq!(c("math.abs", &[Val::Int(i64::MIN)]), Val::Int(i64::MAX));
        assert_eq!(
            c("hash.sha256", &[v("abc")]),
            v("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
    }

    #[test]
    fn timestamps() {
        // 2024-03-03 is a Sunday; 13:45 UTC.
        let t = Val::Int(1709473500);
        assert_eq!(
            c("timestamp.get_day_of_week", std::slice::from_ref(&t)),
            Val::Int(1)
        );
        assert_eq!(
            c("timestamp.get_hour", std::slice::from_ref(&t)),
            Val::Int(13)
        );
        assert_eq!(
            c("timestamp.get_hour", &[t.clone(), v("-05:00")]),
            Val::Int(8)
        );
        assert_eq!(
            c("timestamp.get_minute", std::slice::from_ref(&t)),
            Val::Int(45)
        );
        assert_eq!(c("timestamp.get_date", &[t]), v("2024-03-03"));
        assert!(c("timestamp.current_seconds", &[]).as_i64().unwrap() > 1_700_000_000);
        assert!(check_call("timestamp.get_hour", 0).is_err());
        assert!(check_call("nope.nope", 1).is_err());
        assert_eq!(
            c("if", &[Val::Bool(true), Val::Int(1), Val::Int(2)]),
            Val::Int(1)
        );
        assert_eq!(
            c("if", &[Val::Bool(false), Val::Int(1), Val::Int(2)]),
            Val::Int(2)
        );
    }
}
