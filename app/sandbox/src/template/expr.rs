//! `{{ a.b|filter:arg }}` expressions: Django's `FilterExpression` and `Variable`.

use super::filters::{self, FilterSpec};
use super::lexer::{py_space, py_word};
use crate::error::{err, ErrorKind, SResult, SandboxError};
use crate::pyfmt::{parse_py_float, parse_py_int, valid_digits};
use crate::value::Val;

/// A variable reference: a literal (number or quoted string) or a dotted lookup.
#[derive(Debug, Clone)]
pub(crate) enum Variable {
    Literal(Val),
    Lookup(Vec<String>),
}

#[derive(Debug, Clone)]
pub(crate) enum Arg {
    /// A quoted string argument: a safe string, as Django marks it.
    Const(Val),
    Var(Variable),
}

#[derive(Debug, Clone)]
pub(crate) struct FilterCall {
    pub spec: &'static FilterSpec,
    pub arg: Option<Arg>,
}

#[derive(Debug, Clone)]
pub(crate) struct FilterExpr {
    pub var: Variable,
    pub filters: Vec<FilterCall>,
}

fn tse(msg: impl Into<String>) -> SandboxError {
    err(ErrorKind::TemplateSyntaxError, msg)
}

/// Django's `unescape_string_literal`.
fn unescape_string_literal(s: &str) -> Option<String> {
    let q = s.chars().next()?;
    if (q != '"' && q != '\'') || !s.ends_with(q) || s.len() < 2 {
        return None;
    }
    let inner = &s[1..s.len() - 1];
    Some(inner.replace(&format!("\\{q}"), &q.to_string()).replace("\\\\", "\\"))
}

impl Variable {
    /// Django's `Variable.__init__`.
    pub(crate) fn new(var: &str) -> SResult<Variable> {
        if var.contains('.') || var.to_lowercase().contains('e') {
            if let Some(f) = parse_py_float(var) {
                if !var.ends_with('.') {
                    return Ok(Variable::Literal(Val::Float(f)));
                }
            }
        } else if let Some(i) = parse_py_int(var) {
            return Ok(Variable::Literal(Val::Int(i)));
        } else if valid_digits(var.trim_start_matches(['-', '+'])) {
            // An int too large for i64: Python keeps it exact, we keep it as a float.
            if let Some(f) = parse_py_float(var) {
                return Ok(Variable::Literal(Val::Float(f)));
            }
        }
        let mut v = var;
        if v.starts_with("_(") && v.ends_with(')') && v.len() >= 3 {
            v = &v[2..v.len() - 1];
        }
        if let Some(lit) = unescape_string_literal(v) {
            return Ok(Variable::Literal(Val::safe(lit)));
        }
        if v.contains("._") || v.starts_with('_') {
            return Err(tse(format!("Variables and attributes may not begin with underscores: '{v}'")));
        }
        if v.is_empty() {
            return Err(tse("Variables and attributes may not be empty"));
        }
        Ok(Variable::Lookup(v.split('.').map(str::to_string).collect()))
    }

    pub(crate) fn text(&self) -> String {
        match self {
            Variable::Literal(v) => format!("{v:?}"),
            Variable::Lookup(p) => p.join("."),
        }
    }
}

// --- the FilterExpression "regex", by hand -------------------------------------------------

/// `"..."` / `'...'` with backslash escapes, or the same inside `_( )`.
fn match_constant(s: &str, p: usize) -> Option<usize> {
    let rest = &s[p..];
    if let Some(inner) = rest.strip_prefix("_(") {
        let e = match_quoted(inner, 0)?;
        if inner[e..].starts_with(')') {
            return Some(p + 2 + e + 1);
        }
        return None;
    }
    match_quoted(s, p)
}

fn match_quoted(s: &str, p: usize) -> Option<usize> {
    let mut it = s[p..].char_indices();
    let (_, q) = it.next()?;
    if q != '"' && q != '\'' {
        return None;
    }
    let mut escaped = false;
    for (i, c) in it {
        if escaped {
            if c == '\n' {
                return None;
            }
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == q {
            return Some(p + i + c.len_utf8());
        }
    }
    None
}

/// `[\w.]+` or the number pattern `[-+.]?\d[\d.e]*`.
fn match_var(s: &str, p: usize) -> Option<usize> {
    let rest = &s[p..];
    let n: usize = rest.chars().take_while(|&c| py_word(c) || c == '.').map(char::len_utf8).sum();
    if n > 0 {
        return Some(p + n);
    }
    let b = rest.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'-' | b'+' | b'.')) {
        i = 1;
    }
    if !b.get(i).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    i += 1;
    while b.get(i).is_some_and(|c| c.is_ascii_digit() || *c == b'.' || *c == b'e') {
        i += 1;
    }
    Some(p + i)
}

struct FilterMatch {
    start: usize,
    end: usize,
    name: (usize, usize),
    arg: Option<(bool, usize, usize)>, // (is_constant, start, end)
}

/// `\s*\|\s*(\w+)(?::(constant|var))?` anchored at `p`.
fn match_filter_at(s: &str, p: usize) -> Option<FilterMatch> {
    let skip_ws = |mut i: usize| {
        while let Some(c) = s[i..].chars().next() {
            if !py_space(c) {
                break;
            }
            i += c.len_utf8();
        }
        i
    };
    let i = skip_ws(p);
    if !s[i..].starts_with('|') {
        return None;
    }
    let ns = skip_ws(i + 1);
    let nl: usize = s[ns..].chars().take_while(|&c| py_word(c)).map(char::len_utf8).sum();
    if nl == 0 {
        return None;
    }
    let ne = ns + nl;
    let mut m = FilterMatch { start: p, end: ne, name: (ns, ne), arg: None };
    if s[ne..].starts_with(':') {
        let a = ne + 1;
        if let Some(e) = match_constant(s, a) {
            m.arg = Some((true, a, e));
            m.end = e;
        } else if let Some(e) = match_var(s, a) {
            m.arg = Some((false, a, e));
            m.end = e;
        }
    }
    Some(m)
}

enum Match {
    Constant(usize, usize),
    Var(usize, usize),
    Filter(FilterMatch),
}

fn search(s: &str, from: usize) -> Option<Match> {
    let mut p = from;
    loop {
        if p == 0 {
            if let Some(e) = match_constant(s, 0) {
                return Some(Match::Constant(0, e));
            }
            if let Some(e) = match_var(s, 0) {
                return Some(Match::Var(0, e));
            }
        }
        if let Some(m) = match_filter_at(s, p) {
            return Some(Match::Filter(m));
        }
        if p >= s.len() {
            return None;
        }
        p += s[p..].chars().next().map(char::len_utf8).unwrap_or(1);
    }
}

impl FilterExpr {
    /// Django's `FilterExpression.__init__` (`parser.compile_filter`). `base` is the byte
    /// offset of `token` in the template, so errors point at the offending part.
    pub(crate) fn parse(token: &str, src: &str, base: usize) -> SResult<FilterExpr> {
        let at = |e: SandboxError, off: usize| e.at(src, base + off);
        let mut var: Option<Variable> = None;
        let mut filters = Vec::new();
        let mut upto = 0;
        while let Some(m) = search(token, upto) {
            let start = match &m {
                Match::Constant(s, _) | Match::Var(s, _) => *s,
                Match::Filter(f) => f.start,
            };
            if start != upto {
                return Err(at(
                    tse(format!(
                        "Could not parse some characters: {}|{}|{}",
                        &token[..upto],
                        &token[upto..start],
                        &token[start..]
                    )),
                    upto,
                ));
            }
            let end;
            match m {
                Match::Constant(s, e) => {
                    var = Some(Variable::new(&token[s..e]).map_err(|x| at(x, s))?);
                    end = e;
                }
                Match::Var(s, e) => {
                    var = Some(Variable::new(&token[s..e]).map_err(|x| at(x, s))?);
                    end = e;
                }
                Match::Filter(f) => {
                    if var.is_none() {
                        return Err(at(tse(format!("Could not find variable at start of {token}.")), 0));
                    }
                    let name = &token[f.name.0..f.name.1];
                    let arg = match f.arg {
                        Some((true, a, b)) => match Variable::new(&token[a..b]).map_err(|x| at(x, a))? {
                            Variable::Literal(v) => Some(Arg::Const(v)),
                            other => Some(Arg::Var(other)),
                        },
                        Some((false, a, b)) => Some(Arg::Var(Variable::new(&token[a..b]).map_err(|x| at(x, a))?)),
                        None => None,
                    };
                    let spec = filters::find(name).map_err(|e| at(e, f.name.0))?;
                    let provided = 1 + arg.is_some() as usize;
                    let (min, max) = (1 + spec.min_args as usize, 1 + spec.max_args as usize);
                    if provided < min || provided > max {
                        return Err(at(tse(format!("{name} requires {min} arguments, {provided} provided")), f.name.0));
                    }
                    filters.push(FilterCall { spec, arg });
                    end = f.end;
                }
            }
            upto = end;
        }
        if upto != token.len() {
            return Err(at(tse(format!("Could not parse the remainder: '{}' from '{}'", &token[upto..], token)), upto));
        }
        match var {
            Some(var) => Ok(FilterExpr { var, filters }),
            // Only reachable for an empty token.
            None => Err(at(tse(format!("Could not parse the remainder: '' from '{token}'")), 0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn perr(s: &str) -> String {
        FilterExpr::parse(s, s, 0).err().map(|e| e.message).unwrap_or_default()
    }

    #[test]
    fn literals_and_lookups() {
        assert!(matches!(Variable::new("5").unwrap(), Variable::Literal(Val::Int(5))));
        assert!(matches!(Variable::new("-1.5").unwrap(), Variable::Literal(Val::Float(f)) if f == -1.5));
        assert!(matches!(Variable::new("1e3").unwrap(), Variable::Literal(Val::Float(f)) if f == 1000.0));
        assert!(matches!(Variable::new("'a\\'b'").unwrap(), Variable::Literal(Val::SafeStr(s)) if &*s == "a'b"));
        assert!(matches!(Variable::new("name").unwrap(), Variable::Lookup(p) if p == ["name"]));
        assert!(matches!(Variable::new("2.").unwrap(), Variable::Lookup(p) if p == ["2", ""]));
        assert!(Variable::new("a._b").is_err());
    }

    #[test]
    fn parse_errors_like_django() {
        assert_eq!(perr("x y"), "Could not parse the remainder: ' y' from 'x y'");
        assert_eq!(perr("x|upper:"), "Could not parse the remainder: ':' from 'x|upper:'");
        assert_eq!(perr("|x"), "Could not find variable at start of |x.");
        assert_eq!(perr("x|upper y|lower"), "Could not parse some characters: x|upper| y||lower");
        assert_eq!(perr("x|nope"), "Invalid filter: 'nope'");
        assert_eq!(perr("x|default"), "default requires 2 arguments, 1 provided");
        assert_eq!(perr("x|upper:1"), "upper requires 1 arguments, 2 provided");
        assert_eq!(perr("x | default : 'a'"), "default requires 2 arguments, 1 provided");
        assert_eq!(perr("x | upper"), "");
        let e = FilterExpr::parse("a|nope", "{{ a|nope }}", 3).unwrap_err();
        assert_eq!(e.pos.unwrap().col, 6);
    }
}
