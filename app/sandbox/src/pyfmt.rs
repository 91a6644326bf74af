//! Python's own text conversions, shared by the interpreter and the template filters:
//! `repr()` of floats and strings, `int()`/`float()` of text, `%`-formatting and the
//! `format()` mini-language (f-strings). One implementation of each, so `{{ x }}`, `str(x)`
//! and `f"{x}"` cannot disagree.

use crate::error::{err, ErrorKind, SResult};
use crate::runtime::Rt;
use crate::value::Val;

/// Python's `str.isspace()` characters (what `str.split()` splits on).
pub fn py_space(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

/// Python's `str.strip()`.
pub fn py_strip(s: &str) -> &str {
    s.trim_matches(py_space)
}

/// `str(x)` for the `%s` conversion and friends.
fn str_of(rt: &Rt, v: &Val) -> SResult<String> {
    v.to_str(rt)
}

/// Python's `repr(str)`: single quotes unless the text has a `'` and no `"`; backslash
/// escapes for control characters, as CPython prints them.
pub fn python_str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if (0x80..0xa0).contains(&(c as u32)) => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if is_unprintable(c) => {
                if (c as u32) <= 0xffff {
                    out.push_str(&format!("\\u{:04x}", c as u32))
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32))
                }
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Characters CPython's `repr` escapes beyond ASCII: separators, format and private-use
/// characters, surrogates and unassigned ranges we can recognise cheaply.
fn is_unprintable(c: char) -> bool {
    let u = c as u32;
    matches!(u, 0xad | 0x2028 | 0x2029 | 0x200b..=0x200f | 0x202a..=0x202e | 0x2060..=0x2064 | 0xfeff | 0xe000..=0xf8ff | 0xfff9..=0xfffb)
        || (c.is_whitespace() && u != 0x20 && u > 0x7f && u != 0x3000 && !(0x2000..=0x200a).contains(&u) && u != 0xa0 && u != 0x1680 && u != 0x202f && u != 0x205f)
}

/// Python's `repr(float)` / `str(float)` (`1e+20`, `1.5e-07`, `2.0`).
pub fn python_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0.0".into() } else { "0.0".into() };
    }
    let sci = format!("{:e}", f);
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let sign = if neg { "-" } else { "" };
    if (-4..16).contains(&exp) {
        if exp >= 0 {
            let e = exp as usize;
            let (int, frac) = if digits.len() > e + 1 {
                (digits[..e + 1].to_string(), digits[e + 1..].to_string())
            } else {
                (format!("{digits:0<width$}", width = e + 1), "0".to_string())
            };
            format!("{sign}{int}.{frac}")
        } else {
            format!("{sign}0.{}{digits}", "0".repeat((-exp - 1) as usize))
        }
    } else {
        let m = if digits.len() > 1 { format!("{}.{}", &digits[..1], &digits[1..]) } else { digits };
        format!("{sign}{m}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
    }
}

/// Python's `int(x)`.
pub fn py_int(v: &Val) -> SResult<i64> {
    match v {
        Val::Int(i) => Ok(*i),
        Val::Bool(b) => Ok(*b as i64),
        Val::Float(f) if f.is_finite() => Ok(f.trunc() as i64),
        Val::Float(f) => Err(err(ErrorKind::ValueError, format!("cannot convert float {} to integer", python_float_repr(*f)))),
        Val::Str(s) | Val::SafeStr(s) => parse_py_int(s).ok_or_else(|| {
            err(ErrorKind::ValueError, format!("invalid literal for int() with base 10: {}", python_str_repr(s)))
        }),
        other => Err(err(ErrorKind::TypeError, format!(
            "int() argument must be a string, a bytes-like object or a real number, not '{}'",
            other.type_name()
        ))),
    }
}

/// Python's `float(x)`.
pub fn py_float(v: &Val) -> SResult<f64> {
    match v {
        Val::Int(i) => Ok(*i as f64),
        Val::Bool(b) => Ok(*b as i64 as f64),
        Val::Float(f) => Ok(*f),
        Val::Str(s) | Val::SafeStr(s) => parse_py_float(s).ok_or_else(|| {
            err(ErrorKind::ValueError, format!("could not convert string to float: {}", python_str_repr(s)))
        }),
        other => {
            Err(err(ErrorKind::TypeError, format!("float() argument must be a string or a real number, not '{}'", other.type_name())))
        }
    }
}

/// Python's `int(str)` for the text of a literal (`-5`, `+3`, `1_000`, `007`).
pub fn parse_py_int(s: &str) -> Option<i64> {
    let t = s.trim_matches(py_space);
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if !valid_digits(digits) {
        return None;
    }
    let clean: String = digits.chars().filter(|&c| c != '_').collect();
    let v: i64 = clean.parse().ok()?;
    Some(if neg { -v } else { v })
}

/// Digits with single underscores between them (Python's numeric literal rule).
pub fn valid_digits(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || !b[0].is_ascii_digit() || !b[b.len() - 1].is_ascii_digit() {
        return false;
    }
    b.iter().all(|c| c.is_ascii_digit() || *c == b'_') && !s.contains("__")
}

/// Python's `float(str)`.
pub fn parse_py_float(s: &str) -> Option<f64> {
    let t = s.trim_matches(py_space);
    let (sign, body) = match t.as_bytes().first() {
        Some(b'-') => (-1.0, &t[1..]),
        Some(b'+') => (1.0, &t[1..]),
        _ => (1.0, t),
    };
    let lower = body.to_ascii_lowercase();
    if lower == "inf" || lower == "infinity" {
        return Some(sign * f64::INFINITY);
    }
    if lower == "nan" {
        return Some(f64::NAN);
    }
    let (mant, exp) = match lower.find('e') {
        Some(i) => (&lower[..i], Some(&lower[i + 1..])),
        None => (lower.as_str(), None),
    };
    let (int_part, frac_part) = match mant.find('.') {
        Some(i) => (&mant[..i], Some(&mant[i + 1..])),
        None => (mant, None),
    };
    let int_ok = int_part.is_empty() || valid_digits(int_part);
    let frac_ok = frac_part.map(|f| f.is_empty() || valid_digits(f)).unwrap_or(true);
    if !int_ok || !frac_ok || (int_part.is_empty() && frac_part.map(str::is_empty).unwrap_or(true)) {
        return None;
    }
    if let Some(e) = exp {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        if !valid_digits(e) {
            return None;
        }
    }
    let clean: String = lower.chars().filter(|&c| c != '_').collect();
    clean.parse::<f64>().ok().map(|v| sign * v)
}

/// Python's `%e`-style text of `a >= 0` with `p` decimals (`1.250000e+01`).
pub fn sci(a: f64, p: usize, upper: bool) -> String {
    let s = format!("{a:.p$e}");
    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
    let e: i32 = e.parse().unwrap_or(0);
    let t = format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
    if upper {
        t.to_uppercase()
    } else {
        t
    }
}

/// Python's `%g` of `a >= 0` (finite).
pub fn general(a: f64, p: usize, alt: bool, upper: bool) -> String {
    let p = p.max(1);
    let exp = if a == 0.0 {
        0
    } else {
        let s = format!("{a:.prec$e}", prec = p - 1);
        s.split_once('e').and_then(|(_, e)| e.parse::<i32>().ok()).unwrap_or(0)
    };
    let mut out = if (-4..p as i32).contains(&exp) {
        let decimals = (p as i32 - 1 - exp).max(0) as usize;
        format!("{a:.decimals$}")
    } else {
        sci(a, p - 1, upper)
    };
    if !alt {
        let (mant, tail) = match out.find(['e', 'E']) {
            Some(i) => (out[..i].to_string(), out[i..].to_string()),
            None => (out.clone(), String::new()),
        };
        let mant = if mant.contains('.') { mant.trim_end_matches('0').trim_end_matches('.').to_string() } else { mant };
        out = format!("{mant}{tail}");
    }
    out
}

/// `("%" + spec) % value`; `None` when Python would raise (the filter then gives "").
pub fn percent_format(rt: &Rt, spec: &str, v: &Val) -> SResult<Option<String>> {
    let b: Vec<char> = spec.chars().collect();
    let mut i = 0;
    let (mut left, mut plus, mut space, mut zero, mut alt) = (false, false, false, false, false);
    while i < b.len() && "-+ 0#".contains(b[i]) {
        match b[i] {
            '-' => left = true,
            '+' => plus = true,
            ' ' => space = true,
            '0' => zero = true,
            _ => alt = true,
        }
        i += 1;
    }
    let mut width = 0usize;
    while i < b.len() && b[i].is_ascii_digit() {
        width = (width * 10 + b[i].to_digit(10).unwrap_or(0) as usize).min(1000);
        i += 1;
    }
    let mut prec: Option<usize> = None;
    if i < b.len() && b[i] == '.' {
        i += 1;
        let mut p = 0usize;
        while i < b.len() && b[i].is_ascii_digit() {
            p = (p * 10 + b[i].to_digit(10).unwrap_or(0) as usize).min(1000);
            i += 1;
        }
        prec = Some(p);
    }
    while i < b.len() && "hlL".contains(b[i]) {
        i += 1;
    }
    if i >= b.len() {
        return Ok(None);
    }
    let conv = b[i];
    // The rest is literal text, where only "%%" may appear.
    let mut suffix = String::new();
    let mut j = i + 1;
    while j < b.len() {
        if b[j] == '%' {
            if b.get(j + 1) == Some(&'%') {
                suffix.push('%');
                j += 2;
                continue;
            }
            return Ok(None);
        }
        suffix.push(b[j]);
        j += 1;
    }
    let sign_of = |neg: bool| {
        if neg {
            "-"
        } else if plus {
            "+"
        } else if space {
            " "
        } else {
            ""
        }
    };
    let number = |v: &Val| -> Option<f64> {
        match v {
            Val::Int(_) | Val::Bool(_) | Val::Float(_) => v.as_f64(),
            _ => None,
        }
    };
    let (sign, body, numeric) = match conv {
        's' | 'r' | 'a' => {
            let mut s = if conv == 's' { str_of(rt, v)? } else { v.repr(rt)? };
            if let Some(p) = prec {
                s = s.chars().take(p).collect();
            }
            (String::new(), s, false)
        }
        'c' => match v {
            Val::Int(i) => match u32::try_from(*i).ok().and_then(char::from_u32) {
                Some(c) => (String::new(), c.to_string(), false),
                None => return Ok(None),
            },
            Val::Str(s) | Val::SafeStr(s) if s.chars().count() == 1 => (String::new(), s.to_string(), false),
            _ => return Ok(None),
        },
        'd' | 'i' | 'u' | 'x' | 'X' | 'o' => {
            let n: i128 = match v {
                Val::Int(i) => *i as i128,
                Val::Bool(b) => *b as i128,
                Val::Float(f) if f.is_finite() && matches!(conv, 'd' | 'i' | 'u') => f.trunc() as i128,
                _ => return Ok(None),
            };
            let a = n.unsigned_abs();
            let mut digits = match conv {
                'x' => format!("{a:x}"),
                'X' => format!("{a:X}"),
                'o' => format!("{a:o}"),
                _ => a.to_string(),
            };
            if let Some(p) = prec {
                while digits.len() < p {
                    digits.insert(0, '0');
                }
            }
            if alt {
                digits = match conv {
                    'x' => format!("0x{digits}"),
                    'X' => format!("0X{digits}"),
                    'o' => format!("0o{digits}"),
                    _ => digits,
                };
            }
            (sign_of(n < 0).to_string(), digits, true)
        }
        'f' | 'F' | 'e' | 'E' | 'g' | 'G' => {
            let Some(f) = number(v) else { return Ok(None) };
            let p = prec.unwrap_or(6);
            let a = f.abs();
            let upper = conv.is_ascii_uppercase();
            let body = if !f.is_finite() {
                let t = if f.is_nan() { "nan" } else { "inf" };
                if upper {
                    t.to_uppercase()
                } else {
                    t.to_string()
                }
            } else {
                match conv {
                    'f' | 'F' => {
                        let t = format!("{a:.p$}");
                        if alt && p == 0 {
                            format!("{t}.")
                        } else {
                            t
                        }
                    }
                    'e' | 'E' => sci(a, p, upper),
                    _ => general(a, p, alt, upper),
                }
            };
            (sign_of(f.is_sign_negative() && !f.is_nan()).to_string(), body, true)
        }
        _ => return Ok(None),
    };
    let len = sign.chars().count() + body.chars().count();
    let fill = width.saturating_sub(len);
    let text = if left {
        format!("{sign}{body}{}", " ".repeat(fill))
    } else if zero && numeric {
        format!("{sign}{}{body}", "0".repeat(fill))
    } else {
        format!("{}{sign}{body}", " ".repeat(fill))
    };
    Ok(Some(text + &suffix))
}


/// `format(value, spec)`: Python's format-spec mini-language
/// (`[[fill]align][sign][#][0][width][,|_][.precision][type]`), as f-strings use it.
pub fn format_spec(rt: &Rt, v: &Val, spec: &str) -> SResult<String> {
    if spec.is_empty() {
        return match v {
            Val::Obj(_) | Val::Str(_) | Val::SafeStr(_) => v.to_str(rt),
            other => other.to_str(rt),
        };
    }
    let bad = || err(ErrorKind::ValueError, format!("Invalid format specifier '{spec}' for object of type '{}'", v.type_name()));
    let cs: Vec<char> = spec.chars().collect();
    let mut i = 0;
    let (mut fill, mut align) = (' ', None::<char>);
    if cs.len() >= 2 && "<>^=".contains(cs[1]) {
        fill = cs[0];
        align = Some(cs[1]);
        i = 2;
    } else if !cs.is_empty() && "<>^=".contains(cs[0]) {
        align = Some(cs[0]);
        i = 1;
    }
    let mut sign = '-';
    if i < cs.len() && "+- ".contains(cs[i]) {
        sign = cs[i];
        i += 1;
    }
    let mut alt = false;
    if i < cs.len() && cs[i] == '#' {
        alt = true;
        i += 1;
    }
    if i < cs.len() && cs[i] == '0' && align.is_none() {
        fill = '0';
        align = Some('=');
        i += 1;
    }
    let mut width = 0usize;
    while i < cs.len() && cs[i].is_ascii_digit() {
        width = (width * 10 + cs[i].to_digit(10).unwrap_or(0) as usize).min(10_000);
        i += 1;
    }
    let mut grouping = None;
    if i < cs.len() && (cs[i] == ',' || cs[i] == '_') {
        grouping = Some(cs[i]);
        i += 1;
    }
    let mut precision = None;
    if i < cs.len() && cs[i] == '.' {
        i += 1;
        let mut p = 0usize;
        let start = i;
        while i < cs.len() && cs[i].is_ascii_digit() {
            p = (p * 10 + cs[i].to_digit(10).unwrap_or(0) as usize).min(1000);
            i += 1;
        }
        if i == start {
            return Err(err(ErrorKind::ValueError, "Format specifier missing precision"));
        }
        precision = Some(p);
    }
    let ty = if i < cs.len() { Some(cs[i]) } else { None };
    if i + 1 < cs.len() {
        return Err(bad());
    }
    let (neg, body, numeric) = match (v, ty) {
        (Val::Str(s) | Val::SafeStr(s), None | Some('s')) => {
            let s: String = match precision {
                Some(p) => s.chars().take(p).collect(),
                None => s.to_string(),
            };
            (false, s, false)
        }
        (Val::Int(_) | Val::Bool(_), None | Some('d') | Some('n')) if precision.is_none() => {
            let n = v.as_int().unwrap_or(0);
            (n < 0, group(&n.unsigned_abs().to_string(), grouping), true)
        }
        (Val::Int(_) | Val::Bool(_), Some(t @ ('x' | 'X' | 'o' | 'b'))) => {
            let n = v.as_int().unwrap_or(0);
            let a = n.unsigned_abs();
            let d = match t {
                'x' => format!("{a:x}"),
                'X' => format!("{a:X}"),
                'o' => format!("{a:o}"),
                _ => format!("{a:b}"),
            };
            let prefix = if alt { match t { 'x' => "0x", 'X' => "0X", 'o' => "0o", _ => "0b" } } else { "" };
            (n < 0, format!("{prefix}{d}"), true)
        }
        (Val::Int(_) | Val::Bool(_) | Val::Float(_), Some(t @ ('f' | 'F' | 'e' | 'E' | 'g' | 'G' | '%')) ) => {
            let f = v.as_f64().unwrap_or(0.0);
            let a = f.abs();
            let p = precision.unwrap_or(6);
            let body = if !f.is_finite() {
                if f.is_nan() { "nan".to_string() } else { "inf".to_string() }
            } else {
                match t {
                    'f' | 'F' => format!("{a:.p$}"),
                    'e' | 'E' => sci(a, p, t == 'E'),
                    '%' => format!("{:.p$}%", a * 100.0),
                    _ => general(a, p, alt, t == 'G'),
                }
            };
            let body = if let Some(g) = grouping { group_number(&body, g) } else { body };
            (f.is_sign_negative() && !f.is_nan() && f != 0.0 || (f == 0.0 && f.is_sign_negative()), body, true)
        }
        (Val::Float(f), None) => {
            let a = f.abs();
            let body = match precision {
                None => python_float_repr(a),
                Some(p) => {
                    let g = general(a, p.max(1), false, false);
                    if g.contains(['.', 'e', 'n', 'i']) { g } else { format!("{g}.0") }
                }
            };
            let body = if let Some(g) = grouping { group_number(&body, g) } else { body };
            (f.is_sign_negative(), body, true)
        }
        (Val::DateTime(_) | Val::Obj(_) | Val::None | Val::List(_) | Val::Tuple(_) | Val::Dict(_) | Val::Set(_), None) => {
            (false, v.to_str(rt)?, false)
        }
        _ => return Err(bad()),
    };
    let sign_text = if numeric {
        match (neg, sign) {
            (true, _) => "-",
            (false, '+') => "+",
            (false, ' ') => " ",
            _ => "",
        }
    } else {
        ""
    };
    let len = sign_text.chars().count() + body.chars().count();
    let pad = width.saturating_sub(len);
    let align = align.unwrap_or(if numeric { '>' } else { '<' });
    let fills = |n: usize| fill.to_string().repeat(n);
    Ok(match align {
        '<' => format!("{sign_text}{body}{}", fills(pad)),
        '^' => format!("{}{sign_text}{body}{}", fills(pad / 2), fills(pad - pad / 2)),
        '=' => format!("{sign_text}{}{body}", fills(pad)),
        _ => format!("{}{sign_text}{body}", fills(pad)),
    })
}

fn group(digits: &str, sep: Option<char>) -> String {
    let Some(sep) = sep else { return digits.to_string() };
    let chars: Vec<char> = digits.chars().collect();
    let mut out = String::new();
    for (i, c) in chars.iter().enumerate() {
        if i > 0 && (chars.len() - i) % 3 == 0 {
            out.push(sep);
        }
        out.push(*c);
    }
    out
}

fn group_number(body: &str, sep: char) -> String {
    let (int, rest) = match body.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&body[..i], &body[i..]),
        None => (body, ""),
    };
    format!("{}{rest}", group(int, Some(sep)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reprs_like_python() {
        assert_eq!(python_str_repr("it's"), "\"it's\"");
        assert_eq!(python_str_repr("a\u{1}b\n"), "'a\\x01b\\n'");
        assert_eq!(python_float_repr(2.0), "2.0");
        assert_eq!(python_float_repr(1.5e-7), "1.5e-07");
        assert_eq!(python_float_repr(1e16), "1e+16");
    }
}
