//! Python's operators on values: arithmetic (`+`, `//`, `%` formatting, `**`), unary
//! operators, comparisons and identity, with CPython's results and messages; dunder methods of
//! user classes are reached through `Object::binop`.

use std::cmp::Ordering;
use std::rc::Rc;

use super::ast::{CmpOp, UnaryOp};
use crate::py::format::percent_format;
use crate::pyfmt::python_float_repr;
use crate::error::{err, exc, ErrorKind, SResult, SandboxError};
use crate::runtime::Rt;
use crate::value::{call_value, BinOp, Val};

/// Longest list or string the sandbox builds (a runaway `append` or `s += s` stops here).
pub const MAX_LIST: usize = 5_000_000;

pub const MAX_STR: usize = 50_000_000;

pub(crate) fn too_big() -> SandboxError {
    exc("MemoryError", "the value grew too large for the sandbox")
}

pub(crate) fn overflow() -> SandboxError {
    exc("OverflowError", "integer result too large for the sandbox (64-bit integers)")
}

pub fn unary(rt: &Rt, op: UnaryOp, v: Val) -> SResult<Val> {
    Ok(match (op, &v) {
        (UnaryOp::Not, _) => Val::Bool(!v.truthy(rt)?),
        (UnaryOp::Neg, Val::Int(i)) => Val::Int(i.checked_neg().ok_or_else(overflow)?),
        (UnaryOp::Neg, Val::Bool(b)) => Val::Int(-(*b as i64)),
        (UnaryOp::Neg, Val::Float(f)) => Val::Float(-f),
        (UnaryOp::Pos, Val::Int(_) | Val::Float(_)) => v.clone(),
        (UnaryOp::Pos, Val::Bool(b)) => Val::Int(*b as i64),
        (UnaryOp::Invert, Val::Int(i)) => Val::Int(!i),
        (UnaryOp::Invert, Val::Bool(b)) => Val::Int(!(*b as i64)),
        (_, Val::Obj(o)) => {
            let c = match op {
                UnaryOp::Neg => '-',
                UnaryOp::Pos => '+',
                _ => '~',
            };
            match o.unary(rt, c) {
                Some(r) => r?,
                None => return Err(bad_unary(op, &v)),
            }
        }
        _ => return Err(bad_unary(op, &v)),
    })
}

fn bad_unary(op: UnaryOp, v: &Val) -> SandboxError {
    let sym = match op {
        UnaryOp::Neg => "-",
        UnaryOp::Pos => "+",
        UnaryOp::Invert => "~",
        UnaryOp::Not => "not",
    };
    err(ErrorKind::TypeError, format!("bad operand type for unary {sym}: '{}'", v.type_name()))
}

fn int_of(v: &Val) -> Option<i64> {
    match v {
        Val::Int(i) => Some(*i),
        Val::Bool(b) => Some(*b as i64),
        _ => None,
    }
}

pub fn binop(rt: &Rt, op: BinOp, a: &Val, b: &Val) -> SResult<Val> {
    if let Val::Obj(o) = a {
        if let Some(r) = o.binop(rt, op, b, false) {
            return r;
        }
    }
    if let Val::Obj(o) = b {
        if let Some(r) = o.binop(rt, op, a, true) {
            return r;
        }
    }
    if let (Some(x), Some(y)) = (int_of(a), int_of(b)) {
        return int_binop(op, x, y, a, b);
    }
    if let (Some(x), Some(y)) = (num_of(a), num_of(b)) {
        return float_binop(op, x, y, a, b);
    }
    Ok(match (op, a, b) {
        (BinOp::Add, Val::Str(x) | Val::SafeStr(x), Val::Str(y) | Val::SafeStr(y)) => {
            if x.len() + y.len() > MAX_STR {
                return Err(too_big());
            }
            let s = format!("{x}{y}");
            if matches!((a, b), (Val::SafeStr(_), Val::SafeStr(_))) {
                Val::safe(s)
            } else {
                Val::str(s)
            }
        }
        (BinOp::Mul, Val::Str(s) | Val::SafeStr(s), n) | (BinOp::Mul, n, Val::Str(s) | Val::SafeStr(s)) if int_of(n).is_some() => {
            let k = int_of(n).unwrap_or(0).max(0) as usize;
            if s.len().saturating_mul(k) > MAX_STR {
                return Err(too_big());
            }
            Val::str(s.repeat(k))
        }
        (BinOp::Add, Val::List(x), Val::List(y)) => {
            let mut v = x.borrow().clone();
            v.extend(y.borrow().iter().cloned());
            if v.len() > MAX_LIST {
                return Err(too_big());
            }
            Val::list(v)
        }
        (BinOp::Add, Val::Tuple(x), Val::Tuple(y)) => Val::tuple(x.iter().chain(y.iter()).cloned().collect()),
        (BinOp::Mul, Val::List(_) | Val::Tuple(_), n) | (BinOp::Mul, n, Val::List(_) | Val::Tuple(_)) if int_of(n).is_some() => {
            let (seq, k) = if int_of(b).is_some() { (a, int_of(b).unwrap_or(0)) } else { (b, int_of(a).unwrap_or(0)) };
            let items = seq.seq_items().unwrap_or_default();
            let k = k.max(0) as usize;
            if items.len().saturating_mul(k) > MAX_LIST {
                return Err(too_big());
            }
            let mut v = Vec::with_capacity(items.len() * k);
            for _ in 0..k {
                v.extend(items.iter().cloned());
            }
            if matches!(seq, Val::List(_)) {
                Val::list(v)
            } else {
                Val::tuple(v)
            }
        }
        (BinOp::Mod, Val::Str(s) | Val::SafeStr(s), args) => Val::str(percent_string(rt, s, args)?),
        (BinOp::BitOr, Val::Dict(x), Val::Dict(y)) => {
            let mut d = x.borrow().clone();
            for (k, v) in y.borrow().items() {
                d.set(k, v)?;
            }
            Val::dict(d)
        }
        (BinOp::BitOr | BinOp::BitAnd | BinOp::Sub | BinOp::BitXor, Val::Set(x), Val::Set(y)) => {
            let (x, y) = (x.borrow(), y.borrow());
            let xs = x.keys();
            let ys = y.keys();
            let out: Vec<Val> = match op {
                BinOp::BitOr => xs.iter().chain(ys.iter()).cloned().collect(),
                BinOp::BitAnd => xs.into_iter().filter(|k| y.contains(k).unwrap_or(false)).collect(),
                BinOp::Sub => xs.into_iter().filter(|k| !y.contains(k).unwrap_or(false)).collect(),
                _ => xs
                    .iter()
                    .filter(|k| !y.contains(k).unwrap_or(false))
                    .chain(ys.iter().filter(|k| !x.contains(k).unwrap_or(false)))
                    .cloned()
                    .collect(),
            };
            Val::set_of(out)?
        }
        (BinOp::Sub, Val::DateTime(x), Val::DateTime(y)) => super::dates::timedelta_val(x.to_micros() - y.to_micros()),
        _ => {
            if let Some(r) = super::dates::datetime_binop(op, a, b) {
                return r;
            }
            return Err(err(
                ErrorKind::TypeError,
                format!("unsupported operand type(s) for {}: '{}' and '{}'", op.symbol(), a.type_name(), b.type_name()),
            ));
        }
    })
}

fn num_of(v: &Val) -> Option<f64> {
    match v {
        Val::Int(i) => Some(*i as f64),
        Val::Bool(b) => Some(*b as i64 as f64),
        Val::Float(f) => Some(*f),
        _ => None,
    }
}

fn int_binop(op: BinOp, x: i64, y: i64, a: &Val, b: &Val) -> SResult<Val> {
    let zero = || exc("ZeroDivisionError", if op == BinOp::Mod { "integer modulo by zero" } else { "integer division or modulo by zero" });
    Ok(match op {
        BinOp::Add => Val::Int(x.checked_add(y).ok_or_else(overflow)?),
        BinOp::Sub => Val::Int(x.checked_sub(y).ok_or_else(overflow)?),
        BinOp::Mul => Val::Int(x.checked_mul(y).ok_or_else(overflow)?),
        BinOp::Div => {
            if y == 0 {
                return Err(exc("ZeroDivisionError", "division by zero"));
            }
            Val::Float(x as f64 / y as f64)
        }
        BinOp::FloorDiv => {
            if y == 0 {
                return Err(zero());
            }
            Val::Int(x.checked_div_euclid(y).map(|_| floor_div(x, y)).ok_or_else(overflow)?)
        }
        BinOp::Mod => {
            if y == 0 {
                return Err(zero());
            }
            Val::Int(x - y * floor_div(x, y))
        }
        BinOp::Pow => {
            if y < 0 {
                Val::Float((x as f64).powf(y as f64))
            } else {
                let e = u32::try_from(y).map_err(|_| overflow())?;
                Val::Int(x.checked_pow(e).ok_or_else(overflow)?)
            }
        }
        BinOp::LShift => {
            if y < 0 {
                return Err(err(ErrorKind::ValueError, "negative shift count"));
            }
            if y >= 63 || (x != 0 && x.unsigned_abs().leading_zeros() as i64 <= y) {
                return Err(overflow());
            }
            Val::Int(x << y)
        }
        BinOp::RShift => {
            if y < 0 {
                return Err(err(ErrorKind::ValueError, "negative shift count"));
            }
            Val::Int(x >> y.min(63))
        }
        BinOp::BitOr => {
            if matches!((a, b), (Val::Bool(_), Val::Bool(_))) {
                Val::Bool((x | y) != 0)
            } else {
                Val::Int(x | y)
            }
        }
        BinOp::BitAnd => {
            if matches!((a, b), (Val::Bool(_), Val::Bool(_))) {
                Val::Bool((x & y) != 0)
            } else {
                Val::Int(x & y)
            }
        }
        BinOp::BitXor => {
            if matches!((a, b), (Val::Bool(_), Val::Bool(_))) {
                Val::Bool((x ^ y) != 0)
            } else {
                Val::Int(x ^ y)
            }
        }
        BinOp::MatMul => return Err(err(ErrorKind::TypeError, "unsupported operand type(s) for @: 'int' and 'int'")),
    })
}

fn floor_div(x: i64, y: i64) -> i64 {
    let q = x / y;
    if (x % y != 0) && ((x < 0) != (y < 0)) {
        q - 1
    } else {
        q
    }
}

fn float_binop(op: BinOp, x: f64, y: f64, a: &Val, b: &Val) -> SResult<Val> {
    Ok(Val::Float(match op {
        BinOp::Add => x + y,
        BinOp::Sub => x - y,
        BinOp::Mul => x * y,
        BinOp::Div => {
            if y == 0.0 {
                return Err(exc("ZeroDivisionError", "float division by zero"));
            }
            x / y
        }
        BinOp::FloorDiv => {
            if y == 0.0 {
                return Err(exc("ZeroDivisionError", "float floor division by zero"));
            }
            (x / y).floor()
        }
        BinOp::Mod => {
            if y == 0.0 {
                return Err(exc("ZeroDivisionError", "float modulo"));
            }
            let r = x % y;
            if r != 0.0 && ((r < 0.0) != (y < 0.0)) {
                r + y
            } else {
                r
            }
        }
        BinOp::Pow => x.powf(y),
        _ => {
            return Err(err(
                ErrorKind::TypeError,
                format!("unsupported operand type(s) for {}: '{}' and '{}'", op.symbol(), a.type_name(), b.type_name()),
            ))
        }
    }))
}

/// `"fmt" % args`.
fn percent_string(rt: &Rt, fmt: &str, args: &Val) -> SResult<String> {
    let (items, mapping): (Vec<Val>, Option<Val>) = match args {
        Val::Tuple(t) => (t.as_ref().clone(), None),
        Val::Dict(_) => (vec![args.clone()], Some(args.clone())),
        other => (vec![other.clone()], None),
    };
    let mut out = String::new();
    let chars: Vec<char> = fmt.chars().collect();
    let mut i = 0;
    let mut next = 0;
    while i < chars.len() {
        if chars[i] != '%' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        if chars.get(i + 1) == Some(&'%') {
            out.push('%');
            i += 2;
            continue;
        }
        let mut j = i + 1;
        let mut key = None;
        if chars.get(j) == Some(&'(') {
            let close = chars[j..].iter().position(|&c| c == ')').map(|p| p + j).ok_or_else(|| err(ErrorKind::ValueError, "incomplete format key"))?;
            key = Some(chars[j + 1..close].iter().collect::<String>());
            j = close + 1;
        }
        let spec_start = j;
        while j < chars.len() && !chars[j].is_ascii_alphabetic() {
            j += 1;
        }
        if j >= chars.len() {
            return Err(err(ErrorKind::ValueError, "incomplete format"));
        }
        let spec: String = chars[spec_start..=j].iter().collect();
        let value = match &key {
            Some(k) => match &mapping {
                Some(Val::Dict(d)) => d.borrow().get_str(k).ok_or_else(|| exc("KeyError", format!("'{k}'")))?,
                _ => return Err(err(ErrorKind::TypeError, "format requires a mapping")),
            },
            None => {
                let v = items.get(next).cloned().ok_or_else(|| err(ErrorKind::TypeError, "not enough arguments for format string"))?;
                next += 1;
                v
            }
        };
        match percent_format(rt, &spec, &value)? {
            Some(s) => out.push_str(&s),
            None => {
                return Err(err(
                    ErrorKind::TypeError,
                    format!("%{} format: a number is required, not {}", chars[j], value.type_name()),
                ))
            }
        }
        i = j + 1;
    }
    if mapping.is_none() && next < items.len() {
        return Err(err(ErrorKind::TypeError, "not all arguments converted during string formatting"));
    }
    Ok(out)
}

pub fn compare(rt: &Rt, op: CmpOp, a: &Val, b: &Val) -> SResult<bool> {
    Ok(match op {
        CmpOp::Eq => a.py_eq(b),
        CmpOp::NotEq => !a.py_eq(b),
        CmpOp::Is => identical(a, b),
        CmpOp::IsNot => !identical(a, b),
        CmpOp::In => b.contains(rt, a)?,
        CmpOp::NotIn => !b.contains(rt, a)?,
        CmpOp::Lt => a.py_lt_checked(b, "<")?.is_lt(),
        CmpOp::LtE => a.py_lt_checked(b, "<=")?.is_le(),
        CmpOp::Gt => a.py_lt_checked(b, ">")?.is_gt(),
        CmpOp::GtE => a.py_lt_checked(b, ">=")?.is_ge(),
    })
}

/// Python's `is`: identity for objects and containers; value for None/bools/ints (CPython
/// caches small ints, and the labs never rely on the difference).
pub fn identical(a: &Val, b: &Val) -> bool {
    match (a, b) {
        (Val::None, Val::None) => true,
        (Val::Bool(x), Val::Bool(y)) => x == y,
        (Val::Int(x), Val::Int(y)) => x == y,
        (Val::Str(x) | Val::SafeStr(x), Val::Str(y) | Val::SafeStr(y)) => Rc::ptr_eq(x, y) || x == y,
        (Val::List(x), Val::List(y)) => Rc::ptr_eq(x, y),
        (Val::Dict(x), Val::Dict(y)) | (Val::Set(x), Val::Set(y)) => Rc::ptr_eq(x, y),
        (Val::Tuple(x), Val::Tuple(y)) => Rc::ptr_eq(x, y),
        (Val::Obj(x), Val::Obj(y)) => {
            std::ptr::eq(Rc::as_ptr(x) as *const u8, Rc::as_ptr(y) as *const u8) || x.eq_val(b) == Some(true) && x.type_name() == "type"
        }
        (Val::DateTime(x), Val::DateTime(y)) => x == y,
        _ => false,
    }
}

/// `repr()` of a float for messages.
pub fn float_text(f: f64) -> String {
    python_float_repr(f)
}

/// Python's stable sort by key (`sorted`, `list.sort`), with its TypeError for unorderable items.
pub fn sort_values(rt: &Rt, items: Vec<Val>, key: Option<&Val>, reverse: bool) -> SResult<Vec<Val>> {
    let mut keyed: Vec<(Val, Val)> = Vec::with_capacity(items.len());
    for x in items {
        let k = match key {
            Some(k) if !k.is_none() => call_value(rt, k, vec![x.clone()], vec![])?,
            _ => x.clone(),
        };
        keyed.push((k, x));
    }
    let mut failure = None;
    keyed.sort_by(|a, b| {
        let o = if reverse { b.0.py_cmp(&a.0) } else { a.0.py_cmp(&b.0) };
        match o {
            Some(o) => o,
            None => {
                if failure.is_none() {
                    failure = Some(format!("'<' not supported between instances of '{}' and '{}'", b.0.type_name(), a.0.type_name()));
                }
                Ordering::Equal
            }
        }
    });
    if let Some(f) = failure {
        return Err(err(ErrorKind::TypeError, f));
    }
    Ok(keyed.into_iter().map(|(_, x)| x).collect())
}
