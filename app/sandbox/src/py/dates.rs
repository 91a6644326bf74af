//! `datetime.datetime`, `datetime.date` and `datetime.timedelta` as class values (the values
//! themselves are `Val::DateTime` and `builtins::TimeDelta`).

use std::any::Any;

use crate::error::{err, ErrorKind, SResult};
use crate::py::builtins::bind;
use crate::py::objects::{NativeFn, TypeObj};
use crate::runtime::Rt;
use crate::value::{HashKey, Kwargs, Object, Val};
use crate::datetime::DateTime;

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
            "now" | "today" | "utcnow" => NativeFn::val(name, |rt, _, _| Ok(Val::DateTime(crate::py::interp::datetime_now(rt)))),
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
    Ok(crate::py::builtins::timedelta_val(us.round() as i64))
}

/// `datetime.datetime`.
pub fn datetime_class() -> Val {
    Val::obj(DateTimeClass)
}

/// `datetime.timedelta`.
pub fn timedelta_class() -> Val {
    Val::obj(TypeObj { name: "timedelta", ctor: timedelta_ctor })
}
