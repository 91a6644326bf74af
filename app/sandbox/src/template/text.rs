//! The text and number work behind the filters: Django's `title`, `slugify`, `striptags`,
//! `escapejs`, `truncatechars`/`truncatewords`, `filesizeformat`, and `floatformat`'s decimal
//! rounding (Python's `Decimal`, half up), each as Django's own code does it.

use super::context::Env;
use super::lexer::py_space;
use crate::error::{err, ErrorKind, SResult};
use crate::pyfmt::python_float_repr;
pub(crate) use crate::py::format::{py_float, py_int};
use crate::value::Val;

pub(crate) fn text(v: &Val) -> &str {
    v.as_str().unwrap_or("")
}

pub(crate) fn same_safety(input: &Val, out: String) -> Val {
    if matches!(input, Val::SafeStr(_)) {
        Val::safe(out)
    } else {
        Val::str(out)
    }
}

/// Python's `str.split()` word count / words.
pub(crate) fn py_words(s: &str) -> Vec<&str> {
    s.split(py_space).filter(|w| !w.is_empty()).collect()
}

/// `unicodedata.combining(c) != 0`, roughly: the common combining-mark blocks.
pub(crate) fn combining(c: char) -> bool {
    matches!(c as u32, 0x300..=0x36F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F)
}

/// Python's `str.upper()`/`lower()`.
pub(crate) fn upper(s: &str) -> String {
    s.to_uppercase()
}

/// Python's `str.title()`.
pub(crate) fn py_title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_cased = false;
    for c in s.chars() {
        let cased = c.is_lowercase() || c.is_uppercase();
        if cased {
            if prev_cased {
                out.extend(c.to_lowercase());
            } else {
                // Title case: the first letter of a multi-letter uppercase (ß → Ss).
                let mut up = c.to_uppercase();
                out.extend(up.next());
                out.extend(up.flat_map(char::to_lowercase));
            }
        } else {
            out.push(c);
        }
        prev_cased = cased;
    }
    out
}

/// Django's `title` filter: `str.title()` then `they'Re` → `they're`, `1St` → `1st`.
pub(crate) fn django_title(s: &str) -> String {
    let t: Vec<char> = py_title(s).chars().collect();
    let mut out: Vec<char> = t.clone();
    for i in 0..t.len() {
        if i >= 2 && t[i].is_ascii_uppercase() && t[i - 1] == '\'' && t[i - 2].is_ascii_lowercase() {
            out[i] = t[i].to_ascii_lowercase();
        }
    }
    let t = out.clone();
    for i in 1..t.len() {
        if t[i].is_ascii_uppercase() && t[i - 1].is_ascii_digit() {
            out[i] = t[i].to_ascii_lowercase();
        }
    }
    out.into_iter().collect()
}

/// `urllib.parse.quote(s, safe)`.
pub(crate) fn quote(s: &str, safe: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        let c = b as char;
        if b.is_ascii_alphanumeric() || "_.-~".contains(c) || (b.is_ascii() && safe.contains(c)) {
            out.push(c);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(crate) fn normalize_newlines(s: &str) -> String {
    s.replace("\r\n", "\n").replace('\r', "\n")
}

/// Django's `strip_tags`, approximately: drops `<tag ...>`, `</tag>`, `<!-- -->` and `<!...>`.
pub(crate) fn strip_tags(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('<') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if after.starts_with("!--") {
            match after.find("-->") {
                Some(j) => {
                    rest = &after[j + 3..];
                    continue;
                }
                None => {
                    rest = "";
                    break;
                }
            }
        }
        let starts_tag = after.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || "/!?".contains(c));
        match (starts_tag, after.find('>')) {
            (true, Some(j)) => rest = &after[j + 1..],
            _ => {
                out.push('<');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// NFKD + ASCII for the Latin letters learners type; other non-ASCII characters are dropped.
pub(crate) fn ascii_fold(c: char) -> Option<char> {
    const TABLE: &[(&str, char)] = &[
        ("ÀÁÂÃÄÅĀĂĄ", 'A'),
        ("àáâãäåāăą", 'a'),
        ("ÇĆĈĊČ", 'C'),
        ("çćĉċč", 'c'),
        ("ĎĐ", 'D'),
        ("ď", 'd'),
        ("ÈÉÊËĒĔĖĘĚ", 'E'),
        ("èéêëēĕėęě", 'e'),
        ("ĜĞĠĢ", 'G'),
        ("ĝğġģ", 'g'),
        ("ÌÍÎÏĨĪĬĮİ", 'I'),
        ("ìíîïĩīĭį", 'i'),
        ("ĹĻĽ", 'L'),
        ("ĺļľ", 'l'),
        ("ÑŃŅŇ", 'N'),
        ("ñńņň", 'n'),
        ("ÒÓÔÕÖŌŎŐ", 'O'),
        ("òóôõöōŏő", 'o'),
        ("ŔŖŘ", 'R'),
        ("ŕŗř", 'r'),
        ("ŚŜŞŠ", 'S'),
        ("śŝşš", 's'),
        ("ŢŤ", 'T'),
        ("ţť", 't'),
        ("ÙÚÛÜŨŪŬŮŰŲ", 'U'),
        ("ùúûüũūŭůűų", 'u'),
        ("ÝŸ", 'Y'),
        ("ýÿ", 'y'),
        ("ŹŻŽ", 'Z'),
        ("źżž", 'z'),
    ];
    if c.is_ascii() {
        return Some(c);
    }
    if c == '\u{a0}' {
        return Some(' ');
    }
    TABLE.iter().find(|(s, _)| s.contains(c)).map(|(_, b)| *b)
}

pub(crate) fn slugify(s: &str) -> String {
    let folded: String = s.chars().filter_map(ascii_fold).collect::<String>().to_lowercase();
    let kept: String =
        folded.chars().filter(|&c| c.is_ascii_alphanumeric() || c == '_' || py_space(c) || c == '-').collect();
    let mut out = String::new();
    let mut in_sep = false;
    for c in kept.chars() {
        if c == '-' || py_space(c) {
            if !in_sep {
                out.push('-');
            }
            in_sep = true;
        } else {
            out.push(c);
            in_sep = false;
        }
    }
    out.trim_matches(['-', '_']).to_string()
}

pub(crate) fn escapejs(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '\\' | '\'' | '"' | '>' | '<' | '&' | '=' | '-' | ';' | '`' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04X}", c as u32))
            }
            c if (c as u32) < 32 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// A decimal number `digits × 10^exp` (what Python's `Decimal` holds for a finite value).
pub(crate) struct Dec {
    neg: bool,
    digits: Vec<u8>,
    exp: i64,
}

/// `Decimal(s)`: `None` for text Decimal refuses; `Some(Err(()))` for infinities and NaN.
pub(crate) fn parse_decimal(s: &str) -> Option<Result<Dec, ()>> {
    let t = s.trim_matches(py_space);
    let (neg, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let lower = body.to_ascii_lowercase();
    if matches!(lower.as_str(), "inf" | "infinity" | "nan" | "snan") {
        return Some(Err(()));
    }
    let clean: String = lower.chars().filter(|&c| c != '_').collect();
    if clean.len() != lower.len() && (lower.contains("__") || lower.starts_with('_') || lower.ends_with('_')) {
        return None;
    }
    let (mant, e) = match clean.find('e') {
        Some(i) => (&clean[..i], Some(&clean[i + 1..])),
        None => (clean.as_str(), None),
    };
    let (ip, fp) = match mant.find('.') {
        Some(i) => (&mant[..i], &mant[i + 1..]),
        None => (mant, ""),
    };
    if (ip.is_empty() && fp.is_empty())
        || !ip.bytes().all(|b| b.is_ascii_digit())
        || !fp.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let mut exp: i64 = match e {
        Some(e) => {
            let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 9 {
                return None;
            }
            e.parse().ok()?
        }
        None => 0,
    };
    exp -= fp.len() as i64;
    let digits: Vec<u8> = ip.bytes().chain(fp.bytes()).map(|b| b - b'0').collect();
    Some(Ok(Dec { neg, digits, exp }))
}

impl Dec {
    pub(crate) fn is_integral(&self) -> bool {
        if self.exp >= 0 {
            return true;
        }
        let frac = (-self.exp) as usize;
        let n = self.digits.len();
        self.digits[n.saturating_sub(frac)..].iter().all(|&d| d == 0)
    }

    /// `"%d" % int(d)`.
    pub(crate) fn int_string(&self) -> String {
        let mut ds: Vec<u8> = if self.exp >= 0 {
            let mut v = self.digits.clone();
            v.extend(std::iter::repeat(0).take(self.exp as usize));
            v
        } else {
            let keep = self.digits.len().saturating_sub((-self.exp) as usize);
            self.digits[..keep].to_vec()
        };
        while ds.len() > 1 && ds[0] == 0 {
            ds.remove(0);
        }
        if ds.is_empty() {
            ds.push(0);
        }
        let zero = ds.iter().all(|&d| d == 0);
        let s: String = ds.iter().map(|d| (b'0' + d) as char).collect();
        if self.neg && !zero {
            format!("-{s}")
        } else {
            s
        }
    }

    /// `d.quantize(Decimal(10) ** -places, ROUND_HALF_UP)` as text with `places` decimals.
    pub(crate) fn round_half_up(&self, places: usize) -> String {
        let target = -(places as i64);
        let mut ds = self.digits.clone();
        if self.exp >= target {
            ds.extend(std::iter::repeat(0).take((self.exp - target) as usize));
        } else {
            let drop = (target - self.exp) as usize;
            let (keep, dropped) = if drop >= ds.len() {
                (Vec::new(), {
                    let mut d = vec![0u8; drop - ds.len()];
                    d.extend(&ds);
                    d
                })
            } else {
                (ds[..ds.len() - drop].to_vec(), ds[ds.len() - drop..].to_vec())
            };
            ds = keep;
            if dropped.first().is_some_and(|&d| d >= 5) {
                let mut i = ds.len();
                loop {
                    if i == 0 {
                        ds.insert(0, 1);
                        break;
                    }
                    i -= 1;
                    if ds[i] == 9 {
                        ds[i] = 0;
                    } else {
                        ds[i] += 1;
                        break;
                    }
                }
            }
        }
        while ds.len() < places + 1 {
            ds.insert(0, 0);
        }
        while ds.len() > places + 1 && ds[0] == 0 {
            ds.remove(0);
        }
        let zero = ds.iter().all(|&d| d == 0);
        let s: String = ds.iter().map(|d| (b'0' + d) as char).collect();
        let (int, frac) = s.split_at(s.len() - places);
        let body = if places > 0 { format!("{int}.{frac}") } else { int.to_string() };
        if self.neg && !zero {
            format!("-{body}")
        } else {
            body
        }
    }
}

/// `numberformat.format(number_text, ".", decimal_pos, grouping=3, ",", force_grouping)`.
pub(crate) fn number_format(s: &str, decimal_pos: Option<usize>, grouping: bool) -> String {
    let (sign, body) = match s.strip_prefix('-') {
        Some(b) => ("-", b),
        None => ("", s),
    };
    let (int, mut dec) = match body.split_once('.') {
        Some((i, d)) => (i.to_string(), d.to_string()),
        None => (body.to_string(), String::new()),
    };
    if let Some(p) = decimal_pos {
        dec = dec.chars().take(p).collect();
        while dec.chars().count() < p {
            dec.push('0');
        }
    }
    let int = if grouping {
        let chars: Vec<char> = int.chars().collect();
        let mut out = String::new();
        for (i, c) in chars.iter().enumerate() {
            if i > 0 && (chars.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(*c);
        }
        out
    } else {
        int
    };
    if dec.is_empty() {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{dec}")
    }
}

pub(crate) fn floatformat(r: &Env, v: &Val, arg: Option<&Val>) -> SResult<Val> {
    let mut grouping = false;
    let mut arg = arg.cloned().unwrap_or(Val::Int(-1));
    if let Some(s) = arg.as_str().map(str::to_string) {
        if s.is_empty() {
            return Err(value_err("IndexError: string index out of range"));
        }
        let stripped = if s.ends_with("gu") || s.ends_with("ug") {
            grouping = true;
            Some(&s[..s.len() - 2])
        } else if s.ends_with('g') {
            grouping = true;
            Some(&s[..s.len() - 1])
        } else if s.ends_with('u') {
            Some(&s[..s.len() - 1])
        } else {
            None
        };
        if let Some(st) = stripped {
            arg = if st.is_empty() { Val::Int(-1) } else { Val::str(st) };
        }
    }
    let input = str_of(r, v)?;
    let d = match parse_decimal(&input) {
        Some(d) => d,
        None => match py_float(v) {
            Ok(f) => parse_decimal(&python_float_repr(f)).unwrap_or(Err(())),
            Err(_) => return Ok(Val::str("")),
        },
    };
    let p = match py_int(&arg) {
        Ok(p) => p,
        Err(e) if e.kind == ErrorKind::ValueError => return Ok(Val::str(input)),
        Err(e) => return Err(e),
    };
    let d = match d {
        Ok(d) => d,
        Err(()) => return Ok(Val::str(input)),
    };
    if d.exp.abs() > 400 || d.digits.len() > 400 || p.abs() > 400 {
        return Ok(Val::str(input));
    }
    if d.is_integral() && p <= 0 {
        return Ok(Val::safe(number_format(&d.int_string(), Some(0), grouping)));
    }
    let places = p.unsigned_abs() as usize;
    Ok(Val::safe(number_format(&d.round_half_up(places), Some(places), grouping)))
}

pub(crate) fn truncate_chars(s: &str, length: i64) -> String {
    if length <= 0 {
        return String::new();
    }
    let length = length as usize;
    let truncate_len = length - 1;
    let mut s_len = 0;
    let mut end_index: Option<usize> = None;
    for (i, c) in s.char_indices() {
        if combining(c) {
            continue;
        }
        s_len += 1;
        if end_index.is_none() && s_len > truncate_len {
            end_index = Some(i);
        }
        if s_len > length {
            return format!("{}…", &s[..end_index.unwrap_or(0)]);
        }
    }
    s.to_string()
}

pub(crate) fn truncate_words(s: &str, length: i64) -> String {
    if length <= 0 {
        return String::new();
    }
    let words = py_words(s);
    if words.len() > length as usize {
        let t = words[..length as usize].join(" ");
        if t.ends_with(" …") {
            t
        } else {
            format!("{t} …")
        }
    } else {
        words.join(" ")
    }
}

pub(crate) fn filesizeformat(v: &Val) -> String {
    let b = match py_int(v) {
        Ok(b) => b,
        Err(_) => return "0\u{a0}bytes".into(),
    };
    let neg = b < 0;
    let a = b.unsigned_abs() as f64;
    let (kb, mb, gb, tb, pb) = (1024f64, 1024f64.powi(2), 1024f64.powi(3), 1024f64.powi(4), 1024f64.powi(5));
    let one = |x: f64, unit: &str| format!("{}\u{a0}{unit}", number_format(&python_float_repr(round1(x)), Some(1), false));
    let s = if a < kb {
        let n = b.unsigned_abs();
        format!("{n}\u{a0}{}", if n == 1 { "byte" } else { "bytes" })
    } else if a < mb {
        one(a / kb, "KB")
    } else if a < gb {
        one(a / mb, "MB")
    } else if a < tb {
        one(a / gb, "GB")
    } else if a < pb {
        one(a / tb, "TB")
    } else {
        one(a / pb, "PB")
    };
    if neg {
        format!("-{s}")
    } else {
        s
    }
}

/// Python's `round(x, 1)` (correctly rounded, half to even on the exact binary value).
pub(crate) fn round1(x: f64) -> f64 {
    format!("{x:.1}").parse().unwrap_or(x)
}

/// `str(value)`, keeping a safe string safe (Django's `stringfilter`).
pub(crate) fn py_str(r: &Env, v: &Val) -> SResult<Val> {
    Ok(match v {
        Val::Str(_) | Val::SafeStr(_) => v.clone(),
        Val::Float(f) => Val::str(python_float_repr(*f)),
        other => Val::str(other.to_str(r.rt)?),
    })
}

pub(crate) fn str_of(r: &Env, v: &Val) -> SResult<String> {
    Ok(match py_str(r, v)? {
        Val::Str(s) | Val::SafeStr(s) => s.to_string(),
        _ => String::new(),
    })
}

pub(crate) fn type_err(msg: impl Into<String>) -> crate::error::SandboxError {
    err(ErrorKind::TypeError, msg)
}

pub(crate) fn value_err(msg: impl Into<String>) -> crate::error::SandboxError {
    err(ErrorKind::ValueError, msg)
}

pub(crate) fn is_kind(e: &crate::error::SandboxError, kinds: &[ErrorKind]) -> bool {
    kinds.contains(&e.kind)
}
