//! Python's `json` module: `dumps` (with `indent`, `sort_keys`, `ensure_ascii`, `default`, and
//! `DjangoJSONEncoder`'s datetimes for `JsonResponse`) and `loads`, with CPython's messages.


use crate::error::{err, exc, ErrorKind, SResult, SandboxError};
use crate::runtime::Rt;
use crate::value::{call_value, PyDict, Val};
use crate::py::collections::DictLike;

pub struct JsonOpts {
    pub indent: Option<String>,
    pub sort_keys: bool,
    pub ensure_ascii: bool,
    pub default: Option<Val>,
    /// DjangoJSONEncoder: datetimes as ISO strings.
    pub django: bool,
}

/// `json.dumps(v, cls=DjangoJSONEncoder)`, as `JsonResponse` writes its body.
pub fn json_dumps(rt: &Rt, v: &Val) -> SResult<String> {
    let mut out = String::new();
    json_write(rt, v, &JsonOpts { indent: None, sort_keys: false, ensure_ascii: true, default: None, django: true }, 0, &mut out)?;
    Ok(out)
}

fn json_str(s: &str, ascii: bool, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if ascii && (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{:04x}", u));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

pub(crate) fn json_write(rt: &Rt, v: &Val, o: &JsonOpts, level: usize, out: &mut String) -> SResult<()> {
    if level > 200 {
        return Err(err(ErrorKind::ValueError, "Circular reference detected"));
    }
    let (sep, nl) = match &o.indent {
        Some(ind) => (",".to_string(), Some(ind.clone())),
        None => (", ".to_string(), None),
    };
    let open = |out: &mut String, c: char, lvl: usize| {
        out.push(c);
        if let Some(ind) = &nl {
            out.push('\n');
            out.push_str(&ind.repeat(lvl));
        }
    };
    let close = |out: &mut String, c: char, lvl: usize| {
        if let Some(ind) = &nl {
            out.push('\n');
            out.push_str(&ind.repeat(lvl));
        }
        out.push(c);
    };
    let between = |out: &mut String, lvl: usize| {
        out.push_str(&sep);
        if let Some(ind) = &nl {
            out.push('\n');
            out.push_str(&ind.repeat(lvl));
        }
    };
    match v {
        Val::None => out.push_str("null"),
        Val::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Val::Int(i) => out.push_str(&i.to_string()),
        Val::Float(f) if f.is_nan() => out.push_str("NaN"),
        Val::Float(f) if f.is_infinite() => out.push_str(if *f > 0.0 { "Infinity" } else { "-Infinity" }),
        Val::Float(f) => out.push_str(&crate::pyfmt::python_float_repr(*f)),
        Val::Str(s) | Val::SafeStr(s) => json_str(s, o.ensure_ascii, out),
        Val::DateTime(d) if o.django => {
            let mut s = format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", d.year, d.month, d.day, d.hour, d.minute, d.second);
            if d.micro != 0 {
                s.push_str(&format!(".{:03}", d.micro / 1000));
            }
            json_str(&s, o.ensure_ascii, out);
        }
        Val::List(_) | Val::Tuple(_) => {
            let items = v.seq_items().expect("a sequence");
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            open(out, '[', level + 1);
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    between(out, level + 1);
                }
                json_write(rt, x, o, level + 1, out)?;
            }
            close(out, ']', level);
        }
        Val::Dict(d) => {
            let mut items = d.borrow().items();
            if items.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            let key_text = |k: &Val| -> SResult<String> {
                Ok(match k {
                    Val::Str(s) | Val::SafeStr(s) => s.to_string(),
                    Val::Int(i) => i.to_string(),
                    Val::Bool(b) => (if *b { "true" } else { "false" }).into(),
                    Val::None => "null".into(),
                    Val::Float(f) => crate::pyfmt::python_float_repr(*f),
                    other => return Err(err(ErrorKind::TypeError, format!("keys must be str, int, float, bool or None, not {}", other.type_name()))),
                })
            };
            if o.sort_keys {
                let mut keyed: Vec<(String, Val)> = items.iter().map(|(k, v)| Ok((key_text(k)?, v.clone()))).collect::<SResult<_>>()?;
                keyed.sort_by(|a, b| a.0.cmp(&b.0));
                items = keyed.into_iter().map(|(k, v)| (Val::str(k), v)).collect();
            }
            open(out, '{', level + 1);
            for (i, (k, x)) in items.iter().enumerate() {
                if i > 0 {
                    between(out, level + 1);
                }
                json_str(&key_text(k)?, o.ensure_ascii, out);
                out.push_str(": ");
                json_write(rt, x, o, level + 1, out)?;
            }
            close(out, '}', level);
        }
        other => {
            if let Some(f) = &o.default {
                let converted = call_value(rt, f, vec![other.clone()], vec![])?;
                return json_write(rt, &converted, o, level + 1, out);
            }
            if let Some(d) = other.as_obj::<DictLike>() {
                return json_write(rt, &Val::Dict(d.dict.clone()), o, level, out);
            }
            return Err(err(ErrorKind::TypeError, format!("Object of type {} is not JSON serializable", other.type_name())));
        }
    }
    Ok(())
}

/// `json.loads(s)`: objects keep their key order.
pub fn json_loads(_rt: &Rt, s: &str) -> SResult<Val> {
    let mut p = JsonParser { s: s.as_bytes(), i: 0, text: s };
    p.ws();
    let v = p.value(0)?;
    p.ws();
    if p.i != p.s.len() {
        return Err(p.error("Extra data"));
    }
    Ok(v)
}

struct JsonParser<'a> {
    s: &'a [u8],
    i: usize,
    text: &'a str,
}

impl JsonParser<'_> {
    fn error(&self, what: &str) -> SandboxError {
        let before = &self.text[..self.i.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
        exc("JSONDecodeError", format!("{what}: line {line} column {col} (char {})", before.chars().count()))
    }
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }
    fn lit(&mut self, word: &str, v: Val) -> SResult<Val> {
        if self.s[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            Ok(v)
        } else {
            Err(self.error("Expecting value"))
        }
    }
    fn value(&mut self, depth: usize) -> SResult<Val> {
        if depth > 500 {
            return Err(self.error("Nesting too deep"));
        }
        match self.s.get(self.i) {
            None => Err(self.error("Expecting value")),
            Some(b'n') => self.lit("null", Val::None),
            Some(b't') => self.lit("true", Val::Bool(true)),
            Some(b'f') => self.lit("false", Val::Bool(false)),
            Some(b'N') => self.lit("NaN", Val::Float(f64::NAN)),
            Some(b'I') => self.lit("Infinity", Val::Float(f64::INFINITY)),
            Some(b'"') => Ok(Val::str(self.string()?)),
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Ok(Val::list(items));
                }
                loop {
                    self.ws();
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Val::list(items));
                        }
                        _ => return Err(self.error("Expecting ',' delimiter")),
                    }
                }
            }
            Some(b'{') => {
                self.i += 1;
                let mut d = PyDict::new();
                self.ws();
                if self.s.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Ok(Val::dict(d));
                }
                loop {
                    self.ws();
                    if self.s.get(self.i) != Some(&b'"') {
                        return Err(self.error("Expecting property name enclosed in double quotes"));
                    }
                    let k = self.string()?;
                    self.ws();
                    if self.s.get(self.i) != Some(&b':') {
                        return Err(self.error("Expecting ':' delimiter"));
                    }
                    self.i += 1;
                    self.ws();
                    let v = self.value(depth + 1)?;
                    d.set_str(&k, v);
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Val::dict(d));
                        }
                        _ => return Err(self.error("Expecting ',' delimiter")),
                    }
                }
            }
            Some(c) if *c == b'-' || c.is_ascii_digit() => {
                let start = self.i;
                if self.s[self.i] == b'-' {
                    self.i += 1;
                    if self.s[self.i..].starts_with(b"Infinity") {
                        self.i += 8;
                        return Ok(Val::Float(f64::NEG_INFINITY));
                    }
                }
                let mut float = false;
                while self.i < self.s.len() && (self.s[self.i].is_ascii_digit() || matches!(self.s[self.i], b'.' | b'e' | b'E' | b'+' | b'-')) {
                    if matches!(self.s[self.i], b'.' | b'e' | b'E') {
                        float = true;
                    }
                    self.i += 1;
                }
                let t = &self.text[start..self.i];
                if float {
                    t.parse::<f64>().map(Val::Float).map_err(|_| self.error("Expecting value"))
                } else {
                    t.parse::<i64>().map(Val::Int).map_err(|_| self.error("Expecting value"))
                }
            }
            Some(_) => Err(self.error("Expecting value")),
        }
    }
    fn string(&mut self) -> SResult<String> {
        self.i += 1;
        let mut out = String::new();
        loop {
            let Some(&c) = self.s.get(self.i) else { return Err(self.error("Unterminated string starting at")) };
            match c {
                b'"' => {
                    self.i += 1;
                    return Ok(out);
                }
                b'\\' => {
                    let e = *self.s.get(self.i + 1).ok_or_else(|| self.error("Unterminated string starting at"))?;
                    self.i += 2;
                    match e {
                        b'n' => out.push('\n'),
                        b't' => out.push('\t'),
                        b'r' => out.push('\r'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'/' => out.push('/'),
                        b'\\' => out.push('\\'),
                        b'"' => out.push('"'),
                        b'u' => {
                            let hex = self.text.get(self.i..self.i + 4).ok_or_else(|| self.error("Invalid \\uXXXX escape"))?;
                            let mut code = u32::from_str_radix(hex, 16).map_err(|_| self.error("Invalid \\uXXXX escape"))?;
                            self.i += 4;
                            if (0xd800..0xdc00).contains(&code) && self.s[self.i..].starts_with(b"\\u") {
                                if let Some(lo) = self.text.get(self.i + 2..self.i + 6).and_then(|h| u32::from_str_radix(h, 16).ok()) {
                                    if (0xdc00..0xe000).contains(&lo) {
                                        code = 0x10000 + ((code - 0xd800) << 10) + (lo - 0xdc00);
                                        self.i += 6;
                                    }
                                }
                            }
                            out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                        }
                        _ => return Err(self.error("Invalid \\escape")),
                    }
                }
                _ => {
                    let rest = &self.text[self.i..];
                    let ch = rest.chars().next().expect("not at end");
                    if (ch as u32) < 0x20 {
                        return Err(self.error("Invalid control character at"));
                    }
                    out.push(ch);
                    self.i += ch.len_utf8();
                }
            }
        }
    }
}
