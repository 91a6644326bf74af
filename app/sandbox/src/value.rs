//! The dynamic values that QuerySet expressions and templates pass around.
//!
//! Plain data (numbers, strings, lists, dicts, datetimes) are variants of [`Val`]; everything
//! with Django behaviour (querysets, model instances, managers, paginators) is an
//! [`Object`], so the template engine and the expression evaluator reach it through one
//! narrow interface and laziness (when a query fires) lives in one place: the object.

use std::any::Any;
use std::fmt;
use std::rc::Rc;

use crate::error::{err, ErrorKind, SResult};
use crate::runtime::Rt;

#[derive(Clone)]
pub enum Val {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Rc<str>),
    /// A string already escaped or marked safe (`mark_safe`, a rendered fragment).
    SafeStr(Rc<str>),
    DateTime(DateTime),
    List(Rc<Vec<Val>>),
    /// A tuple prints and compares like a list but is Python's `(a, b)`.
    Tuple(Rc<Vec<Val>>),
    /// An ordered dict (`values()` rows, `aggregate()` results).
    Dict(Rc<Vec<(Rc<str>, Val)>>),
    Obj(Rc<dyn Object>),
}

/// Behaviour shared by everything Django-like: model instances, querysets, managers, ...
/// Defaults answer as Python would for an object that lacks the feature.
pub trait Object {
    /// The Python type name, used in messages (`'QuerySet' object has no attribute 'x'`).
    fn type_name(&self) -> String;
    fn as_any(&self) -> &dyn Any;

    /// Python attribute access `obj.name` (no call).
    fn getattr(&self, _rt: &Rt, name: &str) -> SResult<Val> {
        Err(no_attr(&self.type_name(), name))
    }
    /// Python method call `obj.name(*args, **kwargs)`.
    fn call_method(&self, rt: &Rt, name: &str, args: Vec<Val>, kwargs: Vec<(String, Val)>) -> SResult<Val> {
        let _ = (args, kwargs);
        let attr = self.getattr(rt, name)?;
        Err(err(ErrorKind::TypeError, format!("'{}' object is not callable", attr.type_name())))
    }
    /// Calling the object itself (`Prefetch(...)` is a class, not this).
    fn call(&self, _rt: &Rt, _args: Vec<Val>, _kwargs: Vec<(String, Val)>) -> SResult<Val> {
        Err(err(ErrorKind::TypeError, format!("'{}' object is not callable", self.type_name())))
    }
    /// Django template lookup `{{ obj.name }}`: the attribute, called with no arguments when it
    /// is a method. `Ok(None)` means "invalid variable", which Django renders as "".
    fn template_attr(&self, rt: &Rt, name: &str) -> SResult<Option<Val>> {
        match self.getattr(rt, name) {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.kind == ErrorKind::AttributeError => Ok(None),
            Err(e) => Err(e),
        }
    }
    fn iterate(&self, _rt: &Rt) -> SResult<Rc<Vec<Val>>> {
        Err(err(ErrorKind::TypeError, format!("'{}' object is not iterable", self.type_name())))
    }
    fn len(&self, _rt: &Rt) -> SResult<usize> {
        Err(err(ErrorKind::TypeError, format!("object of type '{}' has no len()", self.type_name())))
    }
    fn truthy(&self, _rt: &Rt) -> SResult<bool> {
        Ok(true)
    }
    /// `str(obj)`.
    fn to_str(&self, _rt: &Rt) -> SResult<String> {
        Ok(format!("<{} object>", self.type_name()))
    }
    /// `obj[key]` with an int or str key.
    fn getitem(&self, _rt: &Rt, _key: &Val) -> SResult<Val> {
        Err(err(ErrorKind::TypeError, format!("'{}' object is not subscriptable", self.type_name())))
    }
    /// `obj[start:stop:step]`.
    fn getslice(&self, _rt: &Rt, _start: Option<i64>, _stop: Option<i64>, _step: Option<i64>) -> SResult<Val> {
        Err(err(ErrorKind::TypeError, format!("'{}' object is not subscriptable", self.type_name())))
    }
    /// Python `==` against another object (identity by default; model instances compare by pk).
    fn eq_obj(&self, other: &dyn Object) -> bool {
        std::ptr::eq(self as *const _ as *const u8, other as *const _ as *const u8)
    }
    /// The primary key, for objects that are model instances.
    fn pk(&self) -> Option<i64> {
        None
    }
}

pub fn no_attr(type_name: &str, name: &str) -> crate::error::SandboxError {
    err(ErrorKind::AttributeError, format!("'{type_name}' object has no attribute '{name}'"))
}

impl Val {
    pub fn str(s: impl AsRef<str>) -> Val {
        Val::Str(Rc::from(s.as_ref()))
    }
    pub fn safe(s: impl AsRef<str>) -> Val {
        Val::SafeStr(Rc::from(s.as_ref()))
    }
    pub fn list(v: Vec<Val>) -> Val {
        Val::List(Rc::new(v))
    }
    pub fn obj(o: impl Object + 'static) -> Val {
        Val::Obj(Rc::new(o))
    }

    pub fn type_name(&self) -> String {
        match self {
            Val::None => "NoneType".into(),
            Val::Bool(_) => "bool".into(),
            Val::Int(_) => "int".into(),
            Val::Float(_) => "float".into(),
            Val::Str(_) | Val::SafeStr(_) => "str".into(),
            Val::DateTime(_) => "datetime".into(),
            Val::List(_) => "list".into(),
            Val::Tuple(_) => "tuple".into(),
            Val::Dict(_) => "dict".into(),
            Val::Obj(o) => o.type_name(),
        }
    }

    pub fn as_obj<T: 'static>(&self) -> Option<&T> {
        match self {
            Val::Obj(o) => o.as_any().downcast_ref::<T>(),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Val::Str(s) | Val::SafeStr(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Val::Int(i) => Some(*i),
            Val::Bool(b) => Some(*b as i64),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Val::Int(i) => Some(*i as f64),
            Val::Float(f) => Some(*f),
            Val::Bool(b) => Some(*b as i64 as f64),
            _ => None,
        }
    }

    /// Python truthiness (querysets evaluate themselves to answer).
    pub fn truthy(&self, rt: &Rt) -> SResult<bool> {
        Ok(match self {
            Val::None => false,
            Val::Bool(b) => *b,
            Val::Int(i) => *i != 0,
            Val::Float(f) => *f != 0.0,
            Val::Str(s) | Val::SafeStr(s) => !s.is_empty(),
            Val::DateTime(_) => true,
            Val::List(v) | Val::Tuple(v) => !v.is_empty(),
            Val::Dict(d) => !d.is_empty(),
            Val::Obj(o) => o.truthy(rt)?,
        })
    }

    /// `iter(x)` as a list (querysets fetch and cache their rows).
    pub fn iterate(&self, rt: &Rt) -> SResult<Rc<Vec<Val>>> {
        match self {
            Val::List(v) | Val::Tuple(v) => Ok(v.clone()),
            Val::Dict(d) => Ok(Rc::new(d.iter().map(|(k, _)| Val::Str(k.clone())).collect())),
            Val::Str(s) | Val::SafeStr(s) => Ok(Rc::new(s.chars().map(|c| Val::str(c.to_string())).collect())),
            Val::Obj(o) => o.iterate(rt),
            other => Err(err(ErrorKind::TypeError, format!("'{}' object is not iterable", other.type_name()))),
        }
    }

    /// `len(x)`.
    pub fn len(&self, rt: &Rt) -> SResult<usize> {
        match self {
            Val::List(v) | Val::Tuple(v) => Ok(v.len()),
            Val::Dict(d) => Ok(d.len()),
            Val::Str(s) | Val::SafeStr(s) => Ok(s.chars().count()),
            Val::Obj(o) => o.len(rt),
            other => Err(err(ErrorKind::TypeError, format!("object of type '{}' has no len()", other.type_name()))),
        }
    }

    /// `str(x)`, as Django prints a value in a template (before escaping).
    pub fn to_str(&self, rt: &Rt) -> SResult<String> {
        Ok(match self {
            Val::None => "None".into(),
            Val::Bool(true) => "True".into(),
            Val::Bool(false) => "False".into(),
            Val::Int(i) => i.to_string(),
            Val::Float(f) => python_float_repr(*f),
            Val::Str(s) | Val::SafeStr(s) => s.to_string(),
            Val::DateTime(d) => d.to_string(),
            Val::List(v) => format!("[{}]", v.iter().map(|x| x.repr(rt)).collect::<SResult<Vec<_>>>()?.join(", ")),
            Val::Tuple(v) if v.len() == 1 => format!("({},)", v[0].repr(rt)?),
            Val::Tuple(v) => format!("({})", v.iter().map(|x| x.repr(rt)).collect::<SResult<Vec<_>>>()?.join(", ")),
            Val::Dict(d) => format!(
                "{{{}}}",
                d.iter()
                    .map(|(k, v)| Ok(format!("'{k}': {}", v.repr(rt)?)))
                    .collect::<SResult<Vec<_>>>()?
                    .join(", ")
            ),
            Val::Obj(o) => o.to_str(rt)?,
        })
    }

    /// `repr(x)`.
    pub fn repr(&self, rt: &Rt) -> SResult<String> {
        Ok(match self {
            Val::Str(s) | Val::SafeStr(s) => python_str_repr(s),
            Val::DateTime(d) => d.repr(),
            Val::Obj(o) => format!("<{}: {}>", o.type_name(), o.to_str(rt)?),
            other => other.to_str(rt)?,
        })
    }

    /// `x[key]`.
    pub fn getitem(&self, rt: &Rt, key: &Val) -> SResult<Val> {
        match (self, key) {
            (Val::List(v) | Val::Tuple(v), k) => {
                let i = k.as_int().ok_or_else(|| {
                    err(ErrorKind::TypeError, format!("list indices must be integers or slices, not {}", k.type_name()))
                })?;
                let idx = if i < 0 { v.len() as i64 + i } else { i };
                v.get(idx as usize)
                    .filter(|_| idx >= 0)
                    .cloned()
                    .ok_or_else(|| err(ErrorKind::ValueError, "IndexError: list index out of range"))
            }
            (Val::Dict(d), Val::Str(k) | Val::SafeStr(k)) => d
                .iter()
                .find(|(kk, _)| kk == k)
                .map(|(_, v)| v.clone())
                .ok_or_else(|| err(ErrorKind::ValueError, format!("KeyError: '{k}'"))),
            (Val::Obj(o), k) => o.getitem(rt, k),
            (other, _) => Err(err(ErrorKind::TypeError, format!("'{}' object is not subscriptable", other.type_name()))),
        }
    }

    /// `x[start:stop:step]`.
    pub fn getslice(&self, rt: &Rt, start: Option<i64>, stop: Option<i64>, step: Option<i64>) -> SResult<Val> {
        match self {
            Val::List(v) => Ok(Val::list(slice_vec(v, start, stop, step)?)),
            Val::Tuple(v) => Ok(Val::Tuple(Rc::new(slice_vec(v, start, stop, step)?))),
            Val::Str(s) | Val::SafeStr(s) => {
                let chars: Vec<Val> = s.chars().map(|c| Val::str(c.to_string())).collect();
                let out: String = slice_vec(&chars, start, stop, step)?
                    .iter()
                    .filter_map(|c| c.as_str().map(str::to_string))
                    .collect();
                Ok(if matches!(self, Val::SafeStr(_)) { Val::safe(out) } else { Val::str(out) })
            }
            Val::Obj(o) => o.getslice(rt, start, stop, step),
            other => Err(err(ErrorKind::TypeError, format!("'{}' object is not subscriptable", other.type_name()))),
        }
    }

    /// Python `==`.
    pub fn py_eq(&self, other: &Val) -> bool {
        match (self, other) {
            (Val::None, Val::None) => true,
            (Val::Str(a) | Val::SafeStr(a), Val::Str(b) | Val::SafeStr(b)) => a == b,
            (Val::DateTime(a), Val::DateTime(b)) => a == b,
            (Val::List(a), Val::List(b)) | (Val::Tuple(a), Val::Tuple(b)) => {
                a.len() == b.len() && a.iter().zip(b.iter()).all(|(x, y)| x.py_eq(y))
            }
            (Val::Obj(a), Val::Obj(b)) => match (a.pk(), b.pk()) {
                (Some(x), Some(y)) => x == y && a.type_name() == b.type_name(),
                _ => a.eq_obj(b.as_ref()),
            },
            (a, b) => match (a.as_f64(), b.as_f64()) {
                (Some(x), Some(y)) => x == y,
                _ => false,
            },
        }
    }

    /// Python ordering (`<`), `None` when the types cannot be compared.
    pub fn py_cmp(&self, other: &Val) -> Option<std::cmp::Ordering> {
        match (self, other) {
            (Val::Str(a) | Val::SafeStr(a), Val::Str(b) | Val::SafeStr(b)) => Some(a.cmp(b)),
            (Val::DateTime(a), Val::DateTime(b)) => Some(a.cmp(b)),
            (Val::List(a), Val::List(b)) | (Val::Tuple(a), Val::Tuple(b)) => {
                for (x, y) in a.iter().zip(b.iter()) {
                    match x.py_cmp(y)? {
                        std::cmp::Ordering::Equal => continue,
                        o => return Some(o),
                    }
                }
                Some(a.len().cmp(&b.len()))
            }
            (a, b) => a.as_f64()?.partial_cmp(&b.as_f64()?),
        }
    }
}

impl fmt::Debug for Val {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Val::None => write!(f, "None"),
            Val::Bool(b) => write!(f, "{b}"),
            Val::Int(i) => write!(f, "{i}"),
            Val::Float(x) => write!(f, "{x}"),
            Val::Str(s) => write!(f, "{s:?}"),
            Val::SafeStr(s) => write!(f, "safe({s:?})"),
            Val::DateTime(d) => write!(f, "{d}"),
            Val::List(v) => f.debug_list().entries(v.iter()).finish(),
            Val::Tuple(v) => f.debug_tuple("").field(&v).finish(),
            Val::Dict(d) => f.debug_map().entries(d.iter().map(|(k, v)| (k, v))).finish(),
            Val::Obj(o) => write!(f, "<{}>", o.type_name()),
        }
    }
}

fn slice_vec(v: &[Val], start: Option<i64>, stop: Option<i64>, step: Option<i64>) -> SResult<Vec<Val>> {
    let n = v.len() as i64;
    let step = step.unwrap_or(1);
    if step == 0 {
        return Err(err(ErrorKind::ValueError, "slice step cannot be zero"));
    }
    let norm = |x: i64| if x < 0 { (n + x).max(0) } else { x.min(n) };
    let mut out = Vec::new();
    if step > 0 {
        let (a, b) = (start.map(norm).unwrap_or(0), stop.map(norm).unwrap_or(n));
        let mut i = a;
        while i < b {
            out.push(v[i as usize].clone());
            i += step;
        }
    } else {
        let a = start.map(|x| if x < 0 { n + x } else { x.min(n - 1) }).unwrap_or(n - 1);
        let b = stop.map(|x| if x < 0 { (n + x).max(-1) } else { x }).unwrap_or(-1);
        let mut i = a;
        while i > b && i >= 0 {
            out.push(v[i as usize].clone());
            i += step;
        }
    }
    Ok(out)
}

pub fn python_float_repr(f: f64) -> String {
    if f.is_nan() {
        "nan".into()
    } else if f.is_infinite() {
        if f > 0.0 { "inf".into() } else { "-inf".into() }
    } else if f.fract() == 0.0 && f.abs() < 1e16 {
        format!("{f:.1}")
    } else {
        format!("{f}")
    }
}

pub fn python_str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    let mut out = String::new();
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// A naive datetime, as Django returns with `USE_TZ = False` (SQLite stores text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DateTime {
    pub year: i32,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub micro: u32,
}

impl DateTime {
    /// Parses SQLite's `YYYY-MM-DD[ HH:MM[:SS[.ffffff]]]` (also with a `T`).
    pub fn parse(s: &str) -> Option<DateTime> {
        let s = s.trim();
        let (date, time) = match s.find([' ', 'T']) {
            Some(i) => (&s[..i], Some(&s[i + 1..])),
            None => (s, None),
        };
        let mut dp = date.split('-');
        let year: i32 = dp.next()?.parse().ok()?;
        let month: u32 = dp.next()?.parse().ok()?;
        let day: u32 = dp.next()?.parse().ok()?;
        if dp.next().is_some() || !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        let (mut hour, mut minute, mut second, mut micro) = (0, 0, 0, 0);
        if let Some(t) = time {
            let (hms, frac) = match t.find('.') {
                Some(i) => (&t[..i], Some(&t[i + 1..])),
                None => (t, None),
            };
            let mut tp = hms.split(':');
            hour = tp.next()?.parse().ok()?;
            minute = tp.next()?.parse().ok()?;
            second = tp.next().map(|x| x.parse().ok()).unwrap_or(Some(0))?;
            if let Some(f) = frac {
                let digits: String = f.chars().take_while(|c| c.is_ascii_digit()).take(6).collect();
                micro = format!("{digits:0<6}").parse().ok()?;
            }
            if hour > 23 || minute > 59 || second > 59 {
                return None;
            }
        }
        Some(DateTime { year, month, day, hour, minute, second, micro })
    }

    /// 0 = Monday, as Python's `weekday()`.
    pub fn weekday(&self) -> u32 {
        // Days since 1970-01-01 (a Thursday).
        let days = days_from_civil(self.year, self.month, self.day);
        ((days + 3).rem_euclid(7)) as u32
    }

    /// The SQL text Django's SQLite backend stores.
    pub fn to_sql(&self) -> String {
        self.to_string()
    }

    pub fn repr(&self) -> String {
        let mut s = format!(
            "datetime.datetime({}, {}, {}, {}, {}",
            self.year, self.month, self.day, self.hour, self.minute
        );
        if self.second != 0 || self.micro != 0 {
            s.push_str(&format!(", {}", self.second));
        }
        if self.micro != 0 {
            s.push_str(&format!(", {}", self.micro));
        }
        s.push(')');
        s
    }
}

impl fmt::Display for DateTime {
    /// Python's `str(datetime)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )?;
        if self.micro != 0 {
            write!(f, ".{:06}", self.micro)?;
        }
        Ok(())
    }
}

pub fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

pub fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 in the proleptic Gregorian calendar.
pub fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y } as i64;
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetime_round_trips_and_knows_its_weekday() {
        let d = DateTime::parse("2024-01-07 09:00:00").unwrap();
        assert_eq!(d.to_string(), "2024-01-07 09:00:00");
        assert_eq!(d.weekday(), 6); // a Sunday
        assert_eq!(DateTime::parse("2024-02-30"), None);
        assert_eq!(DateTime::parse("2024-01-17").unwrap().to_string(), "2024-01-17 00:00:00");
        assert_eq!(DateTime::parse("2024-01-17 10:11:12.5").unwrap().micro, 500000);
    }

    #[test]
    fn python_reprs() {
        assert_eq!(python_str_repr("it's"), "\"it's\"");
        assert_eq!(python_float_repr(2.0), "2.0");
        assert_eq!(python_float_repr(2.5), "2.5");
    }
}
