//! pytest's assertion rewriting, as far as a failing `assert` in a test module reports it:
//! the operands of a comparison kept and shown with `saferepr`'s limits (`assert 15 == 3`).
//! The host says which files are rewritten (`Host::rewrites_asserts`).

use crate::runtime::Rt;
use crate::value::Val;

/// `reprlib`-style limits pytest's `saferepr` applies.
pub fn saferepr(rt: &Rt, v: &Val, maxsize: usize) -> String {
    let s = repr_level(rt, v, 6, maxsize);
    ellipsize(&s, maxsize)
}

fn ellipsize(s: &str, maxsize: usize) -> String {
    let c: Vec<char> = s.chars().collect();
    if c.len() > maxsize {
        let i = (maxsize.saturating_sub(3)) / 2;
        let j = maxsize.saturating_sub(3).saturating_sub(i);
        let head: String = c[..i].iter().collect();
        let tail: String = c[c.len() - j..].iter().collect();
        return format!("{head}...{tail}");
    }
    s.to_string()
}

fn repr_level(rt: &Rt, v: &Val, level: usize, maxstring: usize) -> String {
    let seq = |items: &[Val], open: &str, close: &str, max: usize, trail: bool| -> String {
        if items.is_empty() {
            return format!("{open}{close}");
        }
        if level == 0 {
            return format!("{open}...{close}");
        }
        let mut parts: Vec<String> = items.iter().take(max).map(|x| repr_level(rt, x, level - 1, maxstring)).collect();
        if items.len() > max {
            parts.push("...".into());
        }
        let t = if trail && items.len() == 1 { "," } else { "" };
        format!("{open}{}{t}{close}", parts.join(", "))
    };
    match v {
        Val::Str(s) => {
            let c: Vec<char> = s.chars().collect();
            let head: String = c.iter().take(maxstring).collect();
            let r = crate::pyfmt::python_str_repr(&head);
            if r.chars().count() > maxstring {
                let i = (maxstring.saturating_sub(3)) / 2;
                let j = maxstring.saturating_sub(3).saturating_sub(i);
                let cut: String = c[..i.min(c.len())].iter().chain(c[c.len().saturating_sub(j)..].iter()).collect();
                let r2: Vec<char> = crate::pyfmt::python_str_repr(&cut).chars().collect();
                let a: String = r2[..i.min(r2.len())].iter().collect();
                let b: String = r2[r2.len().saturating_sub(j)..].iter().collect();
                return format!("{a}...{b}");
            }
            r
        }
        Val::Int(i) => {
            let s = i.to_string();
            if s.len() > 40 {
                return format!("{}...{}", &s[..18], &s[s.len() - 19..]);
            }
            s
        }
        Val::List(l) => seq(&l.borrow(), "[", "]", 6, false),
        Val::Tuple(t) => seq(t, "(", ")", 6, true),
        Val::Set(d) => {
            let keys = d.borrow().keys();
            if keys.is_empty() {
                return "set()".into();
            }
            let sorted = crate::py::ops::sort_values(rt, keys.clone(), None, false).unwrap_or(keys);
            seq(&sorted, "{", "}", 6, false)
        }
        Val::Dict(d) => {
            let items = d.borrow().items();
            if items.is_empty() {
                return "{}".into();
            }
            if level == 0 {
                return "{...}".into();
            }
            let mut parts: Vec<String> = items.iter().take(4).map(|(k, x)| format!("{}: {}", repr_level(rt, k, level - 1, maxstring), repr_level(rt, x, level - 1, maxstring))).collect();
            if items.len() > 4 {
                parts.push("...".into());
            }
            format!("{{{}}}", parts.join(", "))
        }
        other => ellipsize(&other.repr(rt).unwrap_or_else(|_| format!("<{} object>", other.type_name())), maxstring),
    }
}

/// The message pytest gives a failing `assert` in a test module: the first line of its
/// explanation (`assert 15 == 3`).
pub fn assert_message(rt: &Rt, parts: AssertParts) -> String {
    match parts {
        AssertParts::Compare(left, op, right) => {
            let special = match op {
                "==" => matches!((&left, &right), (Val::Str(_), Val::Str(_)))
                    || (matches!(left, Val::List(_) | Val::Tuple(_)) && matches!(right, Val::List(_) | Val::Tuple(_)))
                    || matches!((&left, &right), (Val::Dict(_), Val::Dict(_)) | (Val::Set(_), Val::Set(_))),
                "not in" => matches!((&left, &right), (Val::Str(_), Val::Str(_))),
                "!=" | ">=" | "<=" | ">" | "<" => matches!((&left, &right), (Val::Set(_), Val::Set(_))),
                _ => false,
            };
            if special {
                let maxsize = (80 - 15 - op.len() - 2) / 2;
                format!("assert {} {op} {}", saferepr(rt, &left, maxsize), saferepr(rt, &right, maxsize))
            } else {
                format!("assert {} {op} {}", saferepr(rt, &left, 240).replace('\n', "\\n"), saferepr(rt, &right, 240).replace('\n', "\\n"))
            }
        }
        AssertParts::Not(v) => format!("assert not {}", saferepr(rt, &v, 240).replace('\n', "\\n")),
        AssertParts::Value(v) => format!("assert {}", saferepr(rt, &v, 240).replace('\n', "\\n")),
    }
}

pub enum AssertParts {
    Compare(Val, &'static str, Val),
    Not(Val),
    Value(Val),
}

