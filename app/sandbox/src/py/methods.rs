//! The methods of built-in values (`str`, `list`, `dict`, `set`) and attribute access on any
//! value: `getattr`, `setattr` and method calls dispatch here to the object's own or the
//! built-in type's; `format()` of a value.

use std::cell::RefCell;
use std::rc::Rc;

use super::args::{arity, as_int_arg, bind};
use super::ops::sort_values;
use super::dates::datetime_method;
use super::objects::NativeFn;
use super::ops::MAX_LIST;
use crate::py::format::format_spec;
use crate::pyfmt::py_space;

use crate::error::{err, exc, ErrorKind, SResult};
use crate::runtime::Rt;
use crate::value::{Kwargs, PyDict, Val};

/// `value.name` for a built-in value: a bound method, or a datetime field.
pub fn type_attr(rt: &Rt, v: &Val, name: &str) -> SResult<Val> {
    if let Val::DateTime(d) = v {
        let n = match name {
            "year" => Some(d.year as i64),
            "month" => Some(d.month as i64),
            "day" => Some(d.day as i64),
            "hour" => Some(d.hour as i64),
            "minute" => Some(d.minute as i64),
            "second" => Some(d.second as i64),
            "microsecond" => Some(d.micro as i64),
            _ => None,
        };
        if let Some(n) = n {
            return Ok(Val::Int(n));
        }
        if name == "tzinfo" {
            return Ok(Val::None);
        }
    }
    if has_type_method(v, name) {
        let recv = v.clone();
        let mname = name.to_string();
        let _ = rt;
        return Ok(NativeFn::val(format!("{}.{name}", v.type_name()), move |rt, args, kwargs| call_type_method(rt, &recv, &mname, args, kwargs)));
    }
    Err(err(ErrorKind::AttributeError, format!("'{}' object has no attribute '{name}'", v.type_name())))
}

const STR_METHODS: &[&str] = &[
    "upper", "lower", "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "join", "replace", "startswith", "endswith",
    "find", "rfind", "index", "count", "format", "title", "capitalize", "casefold", "swapcase", "isdigit", "isalpha",
    "isalnum", "isspace", "isupper", "islower", "isnumeric", "isdecimal", "zfill", "ljust", "rjust", "center", "partition",
    "rpartition", "removeprefix", "removesuffix", "encode", "istitle",
];
const LIST_METHODS: &[&str] = &["append", "extend", "insert", "pop", "remove", "index", "count", "sort", "reverse", "copy", "clear"];
const DICT_METHODS: &[&str] = &["get", "items", "keys", "values", "pop", "setdefault", "update", "copy", "clear", "popitem"];
const SET_METHODS: &[&str] = &[
    "add", "discard", "remove", "update", "union", "intersection", "difference", "issubset", "issuperset", "pop", "copy",
    "clear", "isdisjoint", "symmetric_difference",
];
const DT_METHODS: &[&str] = &["date", "strftime", "isoformat", "replace", "timestamp", "weekday", "isoweekday", "time"];

fn has_type_method(v: &Val, name: &str) -> bool {
    match v {
        Val::Str(_) | Val::SafeStr(_) => STR_METHODS.contains(&name),
        Val::List(_) => LIST_METHODS.contains(&name),
        Val::Tuple(_) => matches!(name, "index" | "count"),
        Val::Dict(_) => DICT_METHODS.contains(&name),
        Val::Set(_) => SET_METHODS.contains(&name),
        Val::Int(_) | Val::Bool(_) => matches!(name, "bit_length" | "to_bytes" | "conjugate"),
        Val::Float(_) => matches!(name, "is_integer" | "hex"),
        Val::DateTime(_) => DT_METHODS.contains(&name),
        _ => false,
    }
}


pub fn call_type_method(rt: &Rt, v: &Val, name: &str, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
    match v {
        Val::Str(s) | Val::SafeStr(s) => str_method(rt, s, name, args, kwargs),
        Val::List(l) => list_method(rt, l, name, args, kwargs),
        Val::Tuple(t) => match name {
            "index" | "count" => seq_index_count(t, name, &args, "tuple"),
            _ => Err(no_method(v, name)),
        },
        Val::Dict(d) => dict_method(rt, d, name, args, kwargs),
        Val::Set(d) => set_method(rt, d, name, args),
        Val::Int(i) => match name {
            "bit_length" => Ok(Val::Int(64 - i.unsigned_abs().leading_zeros() as i64)),
            _ => Err(no_method(v, name)),
        },
        Val::Float(f) => match name {
            "is_integer" => Ok(Val::Bool(f.fract() == 0.0)),
            _ => Err(no_method(v, name)),
        },
        Val::DateTime(d) => datetime_method(rt, d, name, args, kwargs),
        _ => Err(no_method(v, name)),
    }
}

pub(crate) fn no_method(v: &Val, name: &str) -> crate::error::SandboxError {
    err(ErrorKind::AttributeError, format!("'{}' object has no attribute '{name}'", v.type_name()))
}

fn str_arg<'a>(fname: &str, v: Option<&'a Val>) -> SResult<Option<&'a str>> {
    match v {
        None | Some(Val::None) => Ok(None),
        Some(Val::Str(s) | Val::SafeStr(s)) => Ok(Some(s)),
        Some(other) => Err(err(ErrorKind::TypeError, format!("{fname} arg must be None or str, not {}", other.type_name()))),
    }
}

fn str_method(rt: &Rt, s: &Rc<str>, name: &str, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
    let need_str = |i: usize, what: &str| -> SResult<String> {
        match args.get(i) {
            Some(Val::Str(x) | Val::SafeStr(x)) => Ok(x.to_string()),
            Some(other) => Err(err(ErrorKind::TypeError, format!("{what} must be str, not {}", other.type_name()))),
            None => Err(err(ErrorKind::TypeError, format!("{name}() takes at least 1 argument (0 given)"))),
        }
    };
    let b = |x: bool| Ok(Val::Bool(x));
    match name {
        "upper" => Ok(Val::str(s.to_uppercase())),
        "lower" | "casefold" => Ok(Val::str(s.to_lowercase())),
        "strip" | "lstrip" | "rstrip" => {
            let chars = str_arg(&format!("{name}"), args.first())?.map(|c| c.chars().collect::<Vec<_>>());
            let pred = |c: char| match &chars {
                Some(cs) => cs.contains(&c),
                None => py_space(c),
            };
            Ok(Val::str(match name {
                "strip" => s.trim_matches(pred),
                "lstrip" => s.trim_start_matches(pred),
                _ => s.trim_end_matches(pred),
            }))
        }
        "split" | "rsplit" => {
            let a = bind(name, args, kwargs, &["sep", "maxsplit"], 0)?;
            let sep = str_arg("split", a[0].as_ref())?.map(str::to_string);
            let maxsplit = a[1].as_ref().and_then(|v| v.as_int()).unwrap_or(-1);
            let parts: Vec<String> = match (&sep, maxsplit) {
                (Some(sep), _) if sep.is_empty() => return Err(err(ErrorKind::ValueError, "empty separator")),
                (Some(sep), m) if m < 0 => s.split(sep.as_str()).map(str::to_string).collect(),
                (Some(sep), m) if name == "split" => s.splitn(m as usize + 1, sep.as_str()).map(str::to_string).collect(),
                (Some(sep), m) => {
                    let mut v: Vec<String> = s.rsplitn(m as usize + 1, sep.as_str()).map(str::to_string).collect();
                    v.reverse();
                    v
                }
                (None, m) => {
                    let words: Vec<&str> = s.split(py_space).filter(|w| !w.is_empty()).collect();
                    if m < 0 || words.len() <= m as usize + 1 {
                        words.into_iter().map(str::to_string).collect()
                    } else {
                        let mut out: Vec<String> = words[..m as usize].iter().map(|w| w.to_string()).collect();
                        // The rest keeps its inner whitespace.
                        let mut rest = s.trim_start_matches(py_space);
                        for _ in 0..m {
                            rest = rest.trim_start_matches(|c: char| !py_space(c)).trim_start_matches(py_space);
                        }
                        out.push(rest.to_string());
                        out
                    }
                }
            };
            Ok(Val::list(parts.into_iter().map(Val::str).collect()))
        }
        "splitlines" => Ok(Val::list(s.lines().map(Val::str).collect())),
        "join" => {
            arity("join", &args, 1, 1)?;
            let items = args[0].iterate(rt)?;
            let mut parts = Vec::with_capacity(items.len());
            for (i, it) in items.iter().enumerate() {
                match it.as_str() {
                    Some(x) => parts.push(x.to_string()),
                    None => return Err(err(ErrorKind::TypeError, format!("sequence item {i}: expected str instance, {} found", it.type_name()))),
                }
            }
            Ok(Val::str(parts.join(s)))
        }
        "replace" => {
            arity("replace", &args, 2, 3)?;
            let (from, to) = (need_str(0, "replace() argument 1")?, need_str(1, "replace() argument 2")?);
            match args.get(2).and_then(|c| c.as_int()) {
                Some(c) if c >= 0 => Ok(Val::str(s.replacen(from.as_str(), &to, c as usize))),
                _ => Ok(Val::str(s.replace(from.as_str(), &to))),
            }
        }
        "startswith" | "endswith" => {
            arity(name, &args, 1, 1)?;
            let opts: Vec<String> = match &args[0] {
                Val::Tuple(t) => t.iter().map(|x| x.as_str().unwrap_or("\u{0}").to_string()).collect(),
                Val::Str(x) | Val::SafeStr(x) => vec![x.to_string()],
                other => return Err(err(ErrorKind::TypeError, format!("{name} first arg must be str or a tuple of str, not {}", other.type_name()))),
            };
            b(opts.iter().any(|o| if name == "startswith" { s.starts_with(o.as_str()) } else { s.ends_with(o.as_str()) }))
        }
        "find" | "rfind" | "index" => {
            let sub = need_str(0, "must be str")?;
            let found = if name == "rfind" { s.rfind(sub.as_str()) } else { s.find(sub.as_str()) };
            match found {
                Some(byte) => Ok(Val::Int(s[..byte].chars().count() as i64)),
                None if name == "index" => Err(err(ErrorKind::ValueError, "substring not found")),
                None => Ok(Val::Int(-1)),
            }
        }
        "count" => {
            let sub = need_str(0, "must be str")?;
            if sub.is_empty() {
                return Ok(Val::Int(s.chars().count() as i64 + 1));
            }
            Ok(Val::Int(s.matches(sub.as_str()).count() as i64))
        }
        "format" => Ok(Val::str(str_format(rt, s, &args, &kwargs)?)),
        "title" => Ok(Val::str(py_title(s))),
        "capitalize" => {
            let mut cs = s.chars();
            Ok(Val::str(match cs.next() {
                Some(c) => format!("{}{}", c.to_uppercase(), cs.as_str().to_lowercase()),
                None => String::new(),
            }))
        }
        "swapcase" => Ok(Val::str(s.chars().map(|c| if c.is_uppercase() { c.to_lowercase().collect::<String>() } else { c.to_uppercase().collect() }).collect::<String>())),
        "isdigit" | "isnumeric" | "isdecimal" => b(!s.is_empty() && s.chars().all(|c| c.is_ascii_digit() || c.is_numeric())),
        "isalpha" => b(!s.is_empty() && s.chars().all(char::is_alphabetic)),
        "isalnum" => b(!s.is_empty() && s.chars().all(char::is_alphanumeric)),
        "isspace" => b(!s.is_empty() && s.chars().all(py_space)),
        "isupper" => b(s.chars().any(char::is_uppercase) && !s.chars().any(char::is_lowercase)),
        "islower" => b(s.chars().any(char::is_lowercase) && !s.chars().any(char::is_uppercase)),
        "istitle" => b(!s.is_empty() && py_title(s) == **s),
        "zfill" | "ljust" | "rjust" | "center" => {
            let w = args.first().map(|w| as_int_arg(w, "")).transpose()?.unwrap_or(0).max(0) as usize;
            let fill = args.get(1).and_then(|f| f.as_str()).and_then(|f| f.chars().next()).unwrap_or(if name == "zfill" { '0' } else { ' ' });
            let n = s.chars().count();
            if n >= w {
                return Ok(Val::Str(s.clone()));
            }
            let pad = w - n;
            let f = |k: usize| fill.to_string().repeat(k);
            Ok(Val::str(match name {
                "ljust" => format!("{s}{}", f(pad)),
                "rjust" => format!("{}{s}", f(pad)),
                "center" => {
                    let left = pad / 2 + (pad & w & 1);
                    format!("{}{s}{}", f(left), f(pad - left))
                }
                _ => match s.strip_prefix(['-', '+']) {
                    Some(rest) => format!("{}{}{rest}", &s[..1], f(pad)),
                    None => format!("{}{s}", f(pad)),
                },
            }))
        }
        "partition" | "rpartition" => {
            let sep = need_str(0, "must be str")?;
            let found = if name == "partition" { s.find(sep.as_str()) } else { s.rfind(sep.as_str()) };
            Ok(Val::tuple(match found {
                Some(i) => vec![Val::str(&s[..i]), Val::str(&sep), Val::str(&s[i + sep.len()..])],
                None if name == "partition" => vec![Val::Str(s.clone()), Val::str(""), Val::str("")],
                None => vec![Val::str(""), Val::str(""), Val::Str(s.clone())],
            }))
        }
        "removeprefix" => {
            let p = need_str(0, "must be str")?;
            Ok(Val::str(s.strip_prefix(p.as_str()).unwrap_or(s)))
        }
        "removesuffix" => {
            let p = need_str(0, "must be str")?;
            Ok(Val::str(s.strip_suffix(p.as_str()).unwrap_or(s)))
        }
        // Text stays text here: the sandbox has no bytes type; `encode()` is what hashing APIs take.
        "encode" => Ok(Val::Str(s.clone())),
        _ => Err(no_method(&Val::Str(s.clone()), name)),
    }
}

pub fn py_title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_cased = false;
    for c in s.chars() {
        if prev_cased {
            out.extend(c.to_lowercase());
        } else {
            out.extend(c.to_uppercase());
        }
        prev_cased = c.is_alphabetic();
    }
    out
}

/// `"...".format(*args, **kwargs)`.
fn str_format(rt: &Rt, s: &str, args: &[Val], kwargs: &Kwargs) -> SResult<String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    let mut auto = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '{' && chars.get(i + 1) == Some(&'{') {
            out.push('{');
            i += 2;
            continue;
        }
        if c == '}' && chars.get(i + 1) == Some(&'}') {
            out.push('}');
            i += 2;
            continue;
        }
        if c == '}' {
            return Err(err(ErrorKind::ValueError, "Single '}' encountered in format string"));
        }
        if c != '{' {
            out.push(c);
            i += 1;
            continue;
        }
        let close = chars[i..].iter().position(|&x| x == '}').map(|p| p + i).ok_or_else(|| err(ErrorKind::ValueError, "Single '{' encountered in format string"))?;
        let field: String = chars[i + 1..close].iter().collect();
        let (field, spec) = match field.find(':') {
            Some(p) => (field[..p].to_string(), field[p + 1..].to_string()),
            None => (field, String::new()),
        };
        let (field, conv) = match field.find('!') {
            Some(p) => (field[..p].to_string(), field[p + 1..].chars().next()),
            None => (field, None),
        };
        let mut parts = field.split('.');
        let head = parts.next().unwrap_or("");
        let mut v = if head.is_empty() {
            let v = args.get(auto).cloned().ok_or_else(|| exc("IndexError", format!("Replacement index {auto} out of range for positional args tuple")))?;
            auto += 1;
            v
        } else if let Ok(n) = head.parse::<usize>() {
            args.get(n).cloned().ok_or_else(|| exc("IndexError", format!("Replacement index {n} out of range for positional args tuple")))?
        } else {
            kwargs.iter().find(|(k, _)| k == head).map(|(_, v)| v.clone()).ok_or_else(|| exc("KeyError", format!("'{head}'")))?
        };
        for attr in parts {
            v = super::methods::getattr(rt, &v, attr)?;
        }
        let v = match conv {
            Some('r') => Val::str(v.repr(rt)?),
            Some('s') => Val::str(v.to_str(rt)?),
            _ => v,
        };
        out.push_str(&super::methods::format_value(rt, &v, &spec)?);
        i = close + 1;
    }
    Ok(out)
}

fn seq_index_count(items: &[Val], name: &str, args: &[Val], what: &str) -> SResult<Val> {
    arity(name, args, 1, 1)?;
    if name == "count" {
        return Ok(Val::Int(items.iter().filter(|x| x.py_eq(&args[0])).count() as i64));
    }
    items
        .iter()
        .position(|x| x.py_eq(&args[0]))
        .map(|p| Val::Int(p as i64))
        .ok_or_else(|| err(ErrorKind::ValueError, format!("{what}.index(x): x not in {what}")))
}

fn list_method(rt: &Rt, l: &crate::value::ListRef, name: &str, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
    match name {
        "append" => {
            arity("list.append", &args, 1, 1)?;
            let mut v = l.borrow_mut();
            if v.len() >= MAX_LIST {
                return Err(exc("MemoryError", "the list grew too large for the sandbox"));
            }
            v.push(args.into_iter().next().expect("checked"));
            Ok(Val::None)
        }
        "extend" => {
            arity("list.extend", &args, 1, 1)?;
            let items = args[0].iterate(rt)?;
            let mut v = l.borrow_mut();
            if v.len() + items.len() > MAX_LIST {
                return Err(exc("MemoryError", "the list grew too large for the sandbox"));
            }
            v.extend(items.iter().cloned());
            Ok(Val::None)
        }
        "insert" => {
            arity("list.insert", &args, 2, 2)?;
            let i = as_int_arg(&args[0], "")?;
            let mut v = l.borrow_mut();
            let n = v.len() as i64;
            let idx = if i < 0 { (n + i).max(0) } else { i.min(n) } as usize;
            v.insert(idx, args[1].clone());
            Ok(Val::None)
        }
        "pop" => {
            arity("pop", &args, 0, 1)?;
            let mut v = l.borrow_mut();
            if v.is_empty() {
                return Err(exc("IndexError", "pop from empty list"));
            }
            let i = match args.first() {
                Some(a) => as_int_arg(a, "")?,
                None => -1,
            };
            let n = v.len() as i64;
            let idx = if i < 0 { n + i } else { i };
            if idx < 0 || idx >= n {
                return Err(exc("IndexError", "pop index out of range"));
            }
            Ok(v.remove(idx as usize))
        }
        "remove" => {
            arity("list.remove", &args, 1, 1)?;
            let mut v = l.borrow_mut();
            match v.iter().position(|x| x.py_eq(&args[0])) {
                Some(p) => {
                    v.remove(p);
                    Ok(Val::None)
                }
                None => Err(err(ErrorKind::ValueError, "list.remove(x): x not in list")),
            }
        }
        "index" | "count" => {
            let items = l.borrow().clone();
            seq_index_count(&items, name, &args, "list")
        }
        "sort" => {
            let a = bind("sort", args, kwargs, &["key", "reverse"], 0)?;
            let items = l.borrow().clone();
            let reverse = match &a[1] {
                Some(v) => v.truthy(rt)?,
                None => false,
            };
            let sorted = sort_values(rt, items, a[0].as_ref(), reverse)?;
            *l.borrow_mut() = sorted;
            Ok(Val::None)
        }
        "reverse" => {
            l.borrow_mut().reverse();
            Ok(Val::None)
        }
        "copy" => Ok(Val::list(l.borrow().clone())),
        "clear" => {
            l.borrow_mut().clear();
            Ok(Val::None)
        }
        _ => Err(no_method(&Val::List(l.clone()), name)),
    }
}

fn dict_method(rt: &Rt, d: &crate::value::DictRef, name: &str, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
    match name {
        "get" => {
            arity("get", &args, 1, 2)?;
            Ok(d.borrow().get(&args[0])?.unwrap_or_else(|| args.get(1).cloned().unwrap_or(Val::None)))
        }
        "items" => Ok(crate::py::dict_views::DictView::val("dict_items", d.borrow().items().into_iter().map(|(k, v)| Val::tuple(vec![k, v])).collect())),
        "keys" => Ok(crate::py::dict_views::DictView::val("dict_keys", d.borrow().keys())),
        "values" => Ok(crate::py::dict_views::DictView::val("dict_values", d.borrow().values())),
        "pop" => {
            arity("pop", &args, 1, 2)?;
            match d.borrow_mut().remove(&args[0])? {
                Some(v) => Ok(v),
                None => args.get(1).cloned().ok_or_else(|| crate::value::key_error(rt, &args[0])),
            }
        }
        "popitem" => d.borrow_mut().pop_last().map(|(k, v)| Val::tuple(vec![k, v])).ok_or_else(|| exc("KeyError", "'popitem(): dictionary is empty'")),
        "setdefault" => {
            arity("setdefault", &args, 1, 2)?;
            let existing = d.borrow().get(&args[0])?;
            match existing {
                Some(v) => Ok(v),
                None => {
                    let v = args.get(1).cloned().unwrap_or(Val::None);
                    d.borrow_mut().set(args[0].clone(), v.clone())?;
                    Ok(v)
                }
            }
        }
        "update" => {
            arity("update", &args, 0, 1)?;
            if let Some(other) = args.first() {
                let pairs: Vec<(Val, Val)> = match other {
                    Val::Dict(o) => o.borrow().items(),
                    v => v
                        .iterate(rt)?
                        .iter()
                        .map(|p| {
                            let p = p.iterate(rt)?;
                            if p.len() != 2 {
                                return Err(err(ErrorKind::ValueError, "dictionary update sequence element has the wrong length; 2 is required"));
                            }
                            Ok((p[0].clone(), p[1].clone()))
                        })
                        .collect::<SResult<_>>()?,
                };
                for (k, v) in pairs {
                    d.borrow_mut().set(k, v)?;
                }
            }
            for (k, v) in kwargs {
                d.borrow_mut().set(Val::str(&k), v)?;
            }
            Ok(Val::None)
        }
        "copy" => Ok(Val::dict(d.borrow().clone())),
        "clear" => {
            d.borrow_mut().clear();
            Ok(Val::None)
        }
        _ => Err(no_method(&Val::Dict(d.clone()), name)),
    }
}

fn set_method(rt: &Rt, d: &crate::value::DictRef, name: &str, args: Vec<Val>) -> SResult<Val> {
    let other_keys = |rt: &Rt| -> SResult<Vec<Val>> {
        let mut all = Vec::new();
        for a in &args {
            all.extend(a.iterate(rt)?.iter().cloned());
        }
        Ok(all)
    };
    match name {
        "add" => {
            arity("add", &args, 1, 1)?;
            d.borrow_mut().set(args[0].clone(), Val::None)?;
            Ok(Val::None)
        }
        "discard" => {
            d.borrow_mut().remove(&args[0])?;
            Ok(Val::None)
        }
        "remove" => match d.borrow_mut().remove(&args[0])? {
            Some(_) => Ok(Val::None),
            None => Err(crate::value::key_error(rt, &args[0])),
        },
        "update" => {
            for k in other_keys(rt)? {
                d.borrow_mut().set(k, Val::None)?;
            }
            Ok(Val::None)
        }
        "union" => {
            let mut items = d.borrow().keys();
            items.extend(other_keys(rt)?);
            Val::set_of(items)
        }
        "intersection" | "difference" | "issubset" | "issuperset" | "isdisjoint" | "symmetric_difference" => {
            let other = PyDict::from_pairs(other_keys(rt)?.into_iter().map(|k| (k, Val::None)))?;
            let mine = d.borrow().keys();
            Ok(match name {
                "intersection" => Val::set_of(mine.into_iter().filter(|k| other.contains(k).unwrap_or(false)).collect())?,
                "difference" => Val::set_of(mine.into_iter().filter(|k| !other.contains(k).unwrap_or(false)).collect())?,
                "issubset" => Val::Bool(mine.iter().all(|k| other.contains(k).unwrap_or(false))),
                "issuperset" => Val::Bool(other.keys().iter().all(|k| d.borrow().contains(k).unwrap_or(false))),
                "isdisjoint" => Val::Bool(!mine.iter().any(|k| other.contains(k).unwrap_or(false))),
                _ => {
                    let mut out: Vec<Val> = mine.iter().filter(|k| !other.contains(k).unwrap_or(false)).cloned().collect();
                    out.extend(other.keys().into_iter().filter(|k| !d.borrow().contains(k).unwrap_or(false)));
                    Val::set_of(out)?
                }
            })
        }
        "pop" => d.borrow_mut().pop_last().map(|(k, _)| k).ok_or_else(|| exc("KeyError", "'pop from an empty set'")),
        "copy" => Ok(Val::Set(Rc::new(RefCell::new(d.borrow().clone())))),
        "clear" => {
            d.borrow_mut().clear();
            Ok(Val::None)
        }
        _ => Err(no_method(&Val::Set(d.clone()), name)),
    }
}

/// `obj.name(*args)`: objects answer directly; built-in types through their methods.
pub fn call_method(rt: &Rt, target: &Val, name: &str, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
    match target {
        Val::Obj(o) => o.call_method(rt, name, args, kwargs),
        other => super::methods::call_type_method(rt, other, name, args, kwargs),
    }
}

pub fn getattr(rt: &Rt, v: &Val, name: &str) -> SResult<Val> {
    match v {
        Val::Obj(o) => o.getattr(rt, name),
        other => super::methods::type_attr(rt, other, name),
    }
}

pub fn setattr(rt: &Rt, v: &Val, name: &str, value: Val) -> SResult<()> {
    match v {
        Val::Obj(o) => o.setattr(rt, name, value),
        other => Err(err(
            ErrorKind::AttributeError,
            format!("'{}' object has no attribute '{name}'", other.type_name()),
        )),
    }
}

/// `format(v, spec)`, with datetimes taking strftime specs as Python's do.
pub fn format_value(rt: &Rt, v: &Val, spec: &str) -> SResult<String> {
    if let Val::DateTime(d) = v {
        if spec.is_empty() {
            return Ok(d.to_string());
        }
        return Ok(super::dates::strftime(d, spec));
    }
    format_spec(rt, v, spec)
}
