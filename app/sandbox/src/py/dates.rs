//! `datetime.datetime`, `datetime.date` and `datetime.timedelta` as class values (the values
//! themselves are `Val::DateTime` and `super::dates::TimeDelta`).

use std::any::Any;
use std::cmp::Ordering;

use super::args::{arity, as_int_arg};

use crate::error::{err, ErrorKind, SResult};
use crate::py::args::bind;
use crate::py::objects::{NativeFn, TypeObj};
use crate::runtime::Rt;
use crate::value::{BinOp, HashKey, Kwargs, Object, Val};
use crate::datetime::DateTime;

/// A `datetime.date` value, as `QuerySet.dates()` gives them (the sandbox's `date(…)`
/// constructor and `.date()` still give midnight datetimes).
#[derive(Clone, Copy, Debug)]
pub struct DateObj(pub DateTime);

impl DateObj {
    pub fn iso(&self) -> String {
        format!("{:04}-{:02}-{:02}", self.0.year, self.0.month, self.0.day)
    }
}

impl Object for DateObj {
    fn type_name(&self) -> String {
        "date".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn class_names(&self) -> Vec<String> {
        vec!["date".into(), "object".into()]
    }
    fn getattr(&self, rt: &Rt, name: &str) -> SResult<Val> {
        let d = self.0;
        match name {
            "year" => Ok(Val::Int(d.year as i64)),
            "month" => Ok(Val::Int(d.month as i64)),
            "day" => Ok(Val::Int(d.day as i64)),
            "isoformat" => {
                let s = self.iso();
                Ok(NativeFn::val("isoformat", move |_, _, _| Ok(Val::str(&s))))
            }
            "weekday" | "isoweekday" | "strftime" => {
                let method = name.to_string();
                Ok(NativeFn::val(name, move |rt, args, kwargs| datetime_method(rt, &d, &method, args, kwargs)))
            }
            _ => {
                let _ = rt;
                Err(crate::value::no_attr("datetime.date", name))
            }
        }
    }
    fn to_str(&self, _rt: &Rt) -> SResult<String> {
        Ok(self.iso())
    }
    fn repr(&self, _rt: &Rt) -> SResult<String> {
        Ok(format!("datetime.date({}, {}, {})", self.0.year, self.0.month, self.0.day))
    }
    fn eq_val(&self, other: &Val) -> Option<bool> {
        Some(other.as_obj::<DateObj>().is_some_and(|o| o.iso() == self.iso()))
    }
    fn cmp_val(&self, other: &Val) -> Option<Ordering> {
        other.as_obj::<DateObj>().map(|o| self.iso().cmp(&o.iso()))
    }
    fn hash_key(&self) -> SResult<HashKey> {
        Ok(HashKey::Str(std::rc::Rc::from(format!("date:{}", self.iso()).as_str())))
    }
    fn pickle(&self, _rt: &Rt) -> Option<SResult<Val>> {
        Some(Ok(Val::obj(*self)))
    }
}

/// `datetime.datetime` as a class value.
pub struct DateTimeClass;

pub(crate) fn make_datetime(rt: &Rt, parts: &[Option<Val>]) -> SResult<Val> {
    let _ = rt;
    let mut n = [1970i64, 1, 1, 0, 0, 0, 0];
    for (i, p) in parts.iter().enumerate().take(7) {
        if let Some(v) = p {
            n[i] = v.as_int().ok_or_else(|| err(ErrorKind::TypeError, format!("'{}' object cannot be interpreted as an integer", v.type_name())))?;
        }
    }
    if !(1..=9999).contains(&n[0]) {
        return Err(err(ErrorKind::ValueError, format!("year {} is out of range", n[0])));
    }
    if !(1..=12).contains(&n[1]) {
        return Err(err(ErrorKind::ValueError, "month must be in 1..12"));
    }
    if n[2] < 1 || n[2] > crate::datetime::days_in_month(n[0] as i32, n[1] as u32) as i64 {
        return Err(err(ErrorKind::ValueError, "day is out of range for month"));
    }
    if !(0..24).contains(&n[3]) {
        return Err(err(ErrorKind::ValueError, "hour must be in 0..23"));
    }
    if !(0..60).contains(&n[4]) {
        return Err(err(ErrorKind::ValueError, "minute must be in 0..59"));
    }
    if !(0..60).contains(&n[5]) {
        return Err(err(ErrorKind::ValueError, "second must be in 0..59"));
    }
    if !(0..1_000_000).contains(&n[6]) {
        return Err(err(ErrorKind::ValueError, "microsecond must be in 0..999999"));
    }
    Ok(Val::DateTime(DateTime {
        year: n[0] as i32,
        month: n[1] as u32,
        day: n[2] as u32,
        hour: n[3] as u32,
        minute: n[4] as u32,
        second: n[5] as u32,
        micro: n[6] as u32,
    }))
}

impl Object for DateTimeClass {
    fn instances_named(&self) -> Option<String> {
        Some("datetime".into())
    }
    fn type_name(&self) -> String {
        "type".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn is_callable(&self) -> bool {
        true
    }
    fn call(&self, rt: &Rt, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
        let a = bind("datetime", args, kwargs, &["year", "month", "day", "hour", "minute", "second", "microsecond", "tzinfo"], 3)?;
        if a[7].as_ref().is_some_and(|v| !v.is_none()) {
            return Err(err(ErrorKind::NotSupported, "the labs use naive datetimes (USE_TZ = False): leave out tzinfo"));
        }
        make_datetime(rt, &a[..7])
    }
    fn getattr(&self, _rt: &Rt, name: &str) -> SResult<Val> {
        Ok(match name {
            "now" | "today" | "utcnow" => NativeFn::val(name, |rt, _, _| Ok(Val::DateTime(crate::py::dates::datetime_now(rt)))),
            "fromisoformat" => NativeFn::val("fromisoformat", |rt, args, _| {
                let s = args.first().map(|a| a.to_str(rt)).transpose()?.unwrap_or_default();
                DateTime::parse(&s).map(Val::DateTime).ok_or_else(|| err(ErrorKind::ValueError, format!("Invalid isoformat string: {}", crate::pyfmt::python_str_repr(&s))))
            }),
            "fromtimestamp" => NativeFn::val("fromtimestamp", |_, args, _| {
                let s = args.first().and_then(|a| a.as_f64()).ok_or_else(|| err(ErrorKind::TypeError, "fromtimestamp() takes a number"))?;
                Ok(Val::DateTime(DateTime::from_unix_seconds(s)))
            }),
            "min" => Val::DateTime(DateTime { year: 1, month: 1, day: 1, hour: 0, minute: 0, second: 0, micro: 0 }),
            "max" => Val::DateTime(DateTime { year: 9999, month: 12, day: 31, hour: 23, minute: 59, second: 59, micro: 999_999 }),
            "__name__" => Val::str("datetime"),
            _ => return Err(err(ErrorKind::AttributeError, format!("type object 'datetime.datetime' has no attribute '{name}'"))),
        })
    }
    fn repr(&self, _rt: &Rt) -> SResult<String> {
        Ok("<class 'datetime.datetime'>".into())
    }
    fn eq_val(&self, other: &Val) -> Option<bool> {
        Some(other.as_obj::<DateTimeClass>().is_some())
    }
    fn hash_key(&self) -> SResult<HashKey> {
        Ok(HashKey::Other("type:datetime".into()))
    }
}

fn timedelta_ctor(_rt: &Rt, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
    let a = bind("timedelta", args, kwargs, &["days", "seconds", "microseconds", "milliseconds", "minutes", "hours", "weeks"], 0)?;
    let unit = [86_400_000_000f64, 1_000_000.0, 1.0, 1000.0, 60_000_000.0, 3_600_000_000.0, 604_800_000_000.0];
    let mut us = 0f64;
    for (i, v) in a.iter().enumerate() {
        if let Some(v) = v {
            let x = v.as_f64().ok_or_else(|| err(ErrorKind::TypeError, format!("unsupported type for timedelta component: {}", v.type_name())))?;
            us += x * unit[i];
        }
    }
    Ok(crate::py::dates::timedelta_val(us.round() as i64))
}

/// `datetime.datetime`.
pub fn datetime_class() -> Val {
    Val::obj(DateTimeClass)
}

/// `datetime.timedelta`.
pub fn timedelta_class() -> Val {
    Val::obj(TypeObj { name: "timedelta", ctor: timedelta_ctor })
}

pub fn datetime_now(rt: &Rt) -> DateTime {
    DateTime::from_unix_seconds(rt.now_seconds())
}

pub(crate) fn datetime_method(rt: &Rt, d: &DateTime, name: &str, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
    let _ = rt;
    match name {
        "date" => Ok(Val::DateTime(DateTime { hour: 0, minute: 0, second: 0, micro: 0, ..*d })),
        "strftime" => {
            arity("strftime", &args, 1, 1)?;
            let f = args[0].as_str().ok_or_else(|| err(ErrorKind::TypeError, "strftime() argument 1 must be str"))?;
            Ok(Val::str(strftime(d, f)))
        }
        "isoformat" => {
            let sep = args.first().and_then(|s| s.as_str()).unwrap_or("T").to_string();
            let mut s = format!("{:04}-{:02}-{:02}{sep}{:02}:{:02}:{:02}", d.year, d.month, d.day, d.hour, d.minute, d.second);
            if d.micro != 0 {
                s.push_str(&format!(".{:06}", d.micro));
            }
            Ok(Val::str(s))
        }
        "weekday" => Ok(Val::Int(d.weekday() as i64)),
        "isoweekday" => Ok(Val::Int(d.weekday() as i64 + 1)),
        "timestamp" => Ok(Val::Float(d.to_micros() as f64 / 1e6)),
        "replace" => {
            let mut n = *d;
            for (k, v) in kwargs {
                let i = as_int_arg(&v, "")?;
                match k.as_str() {
                    "year" => n.year = i as i32,
                    "month" => n.month = i as u32,
                    "day" => n.day = i as u32,
                    "hour" => n.hour = i as u32,
                    "minute" => n.minute = i as u32,
                    "second" => n.second = i as u32,
                    "microsecond" => n.micro = i as u32,
                    "tzinfo" => {}
                    other => return Err(err(ErrorKind::TypeError, format!("'{other}' is an invalid keyword argument for replace()"))),
                }
            }
            if !(1..=12).contains(&n.month) || n.day == 0 || n.day > crate::datetime::days_in_month(n.year, n.month) {
                return Err(err(ErrorKind::ValueError, "day is out of range for month"));
            }
            Ok(Val::DateTime(n))
        }
        _ => Err(crate::value::no_attr(&Val::DateTime(*d).type_name(), name)),
    }
}

/// `datetime.strftime`, for the directives Python documents.
pub fn strftime(d: &DateTime, fmt: &str) -> String {
    const DAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
    const MONTHS: [&str; 12] = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
    let mut out = String::new();
    let mut cs = fmt.chars();
    while let Some(c) = cs.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(k) = cs.next() else {
            out.push('%');
            break;
        };
        let wd = d.weekday() as usize;
        match k {
            'Y' => out.push_str(&format!("{:04}", d.year)),
            'y' => out.push_str(&format!("{:02}", d.year % 100)),
            'm' => out.push_str(&format!("{:02}", d.month)),
            'd' => out.push_str(&format!("{:02}", d.day)),
            'H' => out.push_str(&format!("{:02}", d.hour)),
            'I' => out.push_str(&format!("{:02}", if d.hour % 12 == 0 { 12 } else { d.hour % 12 })),
            'M' => out.push_str(&format!("{:02}", d.minute)),
            'S' => out.push_str(&format!("{:02}", d.second)),
            'f' => out.push_str(&format!("{:06}", d.micro)),
            'p' => out.push_str(if d.hour < 12 { "AM" } else { "PM" }),
            'A' => out.push_str(DAYS[wd]),
            'a' => out.push_str(&DAYS[wd][..3]),
            'B' => out.push_str(MONTHS[d.month as usize - 1]),
            'b' | 'h' => out.push_str(&MONTHS[d.month as usize - 1][..3]),
            'j' => {
                let doy = crate::datetime::days_from_civil(d.year, d.month, d.day) - crate::datetime::days_from_civil(d.year, 1, 1) + 1;
                out.push_str(&format!("{doy:03}"));
            }
            'w' => out.push_str(&((wd + 1) % 7).to_string()),
            'u' => out.push_str(&(wd + 1).to_string()),
            'F' => out.push_str(&format!("{:04}-{:02}-{:02}", d.year, d.month, d.day)),
            'T' => out.push_str(&format!("{:02}:{:02}:{:02}", d.hour, d.minute, d.second)),
            'z' | 'Z' => {}
            '%' => out.push('%'),
            other => {
                out.push('%');
                out.push(other);
            }
        }
    }
    out
}

/// `datetime.timedelta`, in microseconds.
pub struct TimeDelta(pub i64);

pub fn timedelta_val(us: i64) -> Val {
    Val::obj(TimeDelta(us))
}

impl Object for TimeDelta {
    fn class_value(&self) -> Option<Val> {
        Some(crate::py::dates::timedelta_class())
    }
    fn type_name(&self) -> String {
        "timedelta".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn class_names(&self) -> Vec<String> {
        vec!["timedelta".into(), "object".into()]
    }
    fn getattr(&self, _rt: &Rt, name: &str) -> SResult<Val> {
        let days = self.0.div_euclid(86_400_000_000);
        let rem = self.0.rem_euclid(86_400_000_000);
        match name {
            "days" => Ok(Val::Int(days)),
            "seconds" => Ok(Val::Int(rem / 1_000_000)),
            "microseconds" => Ok(Val::Int(rem % 1_000_000)),
            "total_seconds" => {
                let us = self.0;
                Ok(NativeFn::val("total_seconds", move |_, _, _| Ok(Val::Float(us as f64 / 1e6))))
            }
            _ => Err(crate::value::no_attr("timedelta", name)),
        }
    }
    fn to_str(&self, _rt: &Rt) -> SResult<String> {
        let days = self.0.div_euclid(86_400_000_000);
        let rem = self.0.rem_euclid(86_400_000_000);
        let (h, m, s, us) = (rem / 3_600_000_000, rem / 60_000_000 % 60, rem / 1_000_000 % 60, rem % 1_000_000);
        let mut out = String::new();
        if days != 0 {
            out.push_str(&format!("{days} day{}, ", if days.abs() == 1 { "" } else { "s" }));
        }
        out.push_str(&format!("{h}:{m:02}:{s:02}"));
        if us != 0 {
            out.push_str(&format!(".{us:06}"));
        }
        Ok(out)
    }
    fn repr(&self, _rt: &Rt) -> SResult<String> {
        let days = self.0.div_euclid(86_400_000_000);
        let rem = self.0.rem_euclid(86_400_000_000);
        let mut parts = Vec::new();
        if days != 0 {
            parts.push(format!("days={days}"));
        }
        if rem / 1_000_000 != 0 {
            parts.push(format!("seconds={}", rem / 1_000_000));
        }
        if rem % 1_000_000 != 0 {
            parts.push(format!("microseconds={}", rem % 1_000_000));
        }
        if parts.is_empty() {
            parts.push("0".into());
        }
        Ok(format!("datetime.timedelta({})", parts.join(", ")))
    }
    fn eq_val(&self, other: &Val) -> Option<bool> {
        Some(other.as_obj::<TimeDelta>().is_some_and(|o| o.0 == self.0))
    }
    fn cmp_val(&self, other: &Val) -> Option<Ordering> {
        other.as_obj::<TimeDelta>().map(|o| self.0.cmp(&o.0))
    }
    fn hash_key(&self) -> SResult<HashKey> {
        Ok(HashKey::Other(format!("td:{}", self.0)))
    }
    fn truthy(&self, _rt: &Rt) -> SResult<bool> {
        Ok(self.0 != 0)
    }
    fn binop(&self, _rt: &Rt, op: BinOp, other: &Val, reflected: bool) -> Option<SResult<Val>> {
        match (op, other) {
            (BinOp::Add, Val::Obj(o)) => o.as_any().downcast_ref::<TimeDelta>().map(|t| Ok(timedelta_val(self.0 + t.0))),
            (BinOp::Sub, Val::Obj(o)) => o.as_any().downcast_ref::<TimeDelta>().map(|t| Ok(timedelta_val(if reflected { t.0 - self.0 } else { self.0 - t.0 }))),
            (BinOp::Mul, Val::Int(i)) => Some(Ok(timedelta_val(self.0 * i))),
            (BinOp::Mul, Val::Float(f)) => Some(Ok(timedelta_val((self.0 as f64 * f).round() as i64))),
            (BinOp::Div, Val::Int(i)) if !reflected && *i != 0 => Some(Ok(timedelta_val(self.0 / i))),
            (BinOp::Div, Val::Obj(o)) => o.as_any().downcast_ref::<TimeDelta>().map(|t| Ok(Val::Float(if reflected { t.0 as f64 / self.0 as f64 } else { self.0 as f64 / t.0 as f64 }))),
            (BinOp::Add | BinOp::Sub, Val::DateTime(_)) => None,
            _ => None,
        }
    }
    fn unary(&self, _rt: &Rt, op: char) -> Option<SResult<Val>> {
        match op {
            '-' => Some(Ok(timedelta_val(-self.0))),
            '+' => Some(Ok(timedelta_val(self.0))),
            _ => None,
        }
    }
}

/// `datetime ± timedelta`.
pub fn datetime_binop(op: BinOp, a: &Val, b: &Val) -> Option<SResult<Val>> {
    match (op, a, b) {
        (BinOp::Add, Val::DateTime(d), Val::Obj(o)) | (BinOp::Add, Val::Obj(o), Val::DateTime(d)) => {
            o.as_any().downcast_ref::<TimeDelta>().map(|t| Ok(Val::DateTime(DateTime::from_micros(d.to_micros() + t.0))))
        }
        (BinOp::Sub, Val::DateTime(d), Val::Obj(o)) => o.as_any().downcast_ref::<TimeDelta>().map(|t| Ok(Val::DateTime(DateTime::from_micros(d.to_micros() - t.0)))),
        _ => None,
    }
}
