//! Python values as text: `int()` and `float()` of a value, `%`-formatting (`"%5.2f" % x`)
//! and the `format()` mini-language (f-strings), on the digit layouts of `pyfmt.rs`.

use crate::error::{err, ErrorKind, SResult};
use crate::pyfmt::{general, group, group_number, parse_py_float, parse_py_int, python_float_repr, python_str_repr, sci};
use crate::runtime::Rt;
use crate::value::Val;

/// `str(x)` for the `%s` conversion and friends.
fn str_of(rt: &Rt, v: &Val) -> SResult<String> {
    v.to_str(rt)
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
