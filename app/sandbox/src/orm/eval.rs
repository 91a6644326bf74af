//! Evaluates a parsed QuerySet expression: the names a Django shell would have imported
//! (`Article`, `Q`, `Prefetch`, `Count`, `Paginator`, …), attribute access, method calls,
//! subscripts and the `Q` operators. Errors get the position of the node that failed.

use std::any::Any;
use std::rc::Rc;

use super::objects::{AggObj, ExistsObj, ModelClass, OuterRefVal, PaginatorHandle, PaginatorObj, PrefetchObj, QObj, QuerySetObj};
use super::query::{Aggregate, PrefetchSpec, QNode};
use crate::error::{err, ErrorKind, SResult, SandboxError};
use crate::pyexpr::{self, BinOp, Expr, ExprKind, UnaryOp};
use crate::runtime::Rt;
use crate::schema::MODELS;
use crate::value::{Object, Val};

/// The names available in an expression, as the README of the sample app lists them.
pub const NAMES: &[&str] = &[
    "Article", "Tag", "User", "Organization", "Membership", "Task", "Prefetch", "Count", "Sum", "Max", "Min", "Avg",
    "Q", "Exists", "OuterRef", "Paginator",
];

/// A class-like builtin (`Q`, `Count`, …): calling it builds the object.
struct Builtin(&'static str);

impl Object for Builtin {
    fn type_name(&self) -> String {
        "type".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn to_str(&self, _rt: &Rt) -> SResult<String> {
        Ok(format!("<class '{}'>", self.0))
    }
    fn call(&self, _rt: &Rt, args: Vec<Val>, kwargs: Vec<(String, Val)>) -> SResult<Val> {
        let name = self.0;
        let kw = |k: &str| kwargs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let check_kwargs = |allowed: &[&str]| -> SResult<()> {
            for (k, _) in &kwargs {
                if !allowed.contains(&k.as_str()) {
                    return Err(err(ErrorKind::TypeError, format!("{name}() got an unexpected keyword argument '{k}'")));
                }
            }
            Ok(())
        };
        match name {
            "Q" => Ok(Val::obj(QObj(super::objects::build_q(args, kwargs)?))),
            "Prefetch" => {
                check_kwargs(&["queryset", "to_attr"])?;
                let lookup = args.first().and_then(|a| a.as_str()).ok_or_else(|| {
                    err(ErrorKind::TypeError, "Prefetch() needs the lookup as a string: Prefetch('tags', queryset=...)")
                })?;
                let queryset = match kw("queryset").or_else(|| args.get(1).cloned()) {
                    None | Some(Val::None) => None,
                    Some(v) => {
                        let qs = v.as_obj::<QuerySetObj>().ok_or_else(|| {
                            err(ErrorKind::ValueError, "Prefetch querysets cannot use raw(), values(), and values_list().")
                        })?;
                        if qs.query.values.is_some() {
                            return Err(err(ErrorKind::ValueError, "Prefetch querysets cannot use raw(), values(), and values_list()."));
                        }
                        Some(Box::new(qs.query.clone()))
                    }
                };
                let to_attr = kw("to_attr").and_then(|v| v.as_str().map(str::to_string));
                Ok(Val::obj(PrefetchObj(PrefetchSpec { lookup: lookup.to_string(), queryset, to_attr })))
            }
            "Count" | "Sum" | "Max" | "Min" | "Avg" => {
                check_kwargs(&["distinct", "filter"])?;
                let path = args.first().and_then(|a| a.as_str()).ok_or_else(|| {
                    err(ErrorKind::TypeError, format!("{name}() needs a field name as a string, e.g. {name}('id')"))
                })?;
                let distinct = kw("distinct").is_some_and(|v| matches!(v, Val::Bool(true)));
                if distinct && name != "Count" {
                    return Err(err(ErrorKind::TypeError, format!("{name} does not allow distinct.")));
                }
                let filter = match kw("filter") {
                    None | Some(Val::None) => None,
                    Some(v) => Some(
                        v.as_obj::<QObj>()
                            .map(|q| q.0.clone())
                            .ok_or_else(|| err(ErrorKind::TypeError, "filter= takes a Q object"))?,
                    ),
                };
                let func = match name {
                    "Count" => "COUNT",
                    "Sum" => "SUM",
                    "Max" => "MAX",
                    "Min" => "MIN",
                    _ => "AVG",
                };
                let path = if path == "pk" { "id" } else { path };
                Ok(Val::obj(AggObj(Aggregate { func, path: path.to_string(), distinct, filter })))
            }
            "OuterRef" => {
                let f = args.first().and_then(|a| a.as_str()).ok_or_else(|| err(ErrorKind::TypeError, "OuterRef() needs a field name"))?;
                Ok(Val::obj(OuterRefVal(if f == "pk" { "id".into() } else { f.to_string() })))
            }
            "Exists" => {
                let qs = args.first().and_then(|a| a.as_obj::<QuerySetObj>()).ok_or_else(|| err(ErrorKind::TypeError, "Exists() takes a QuerySet"))?;
                Ok(Val::obj(ExistsObj(qs.query.clone(), false)))
            }
            "Paginator" => {
                check_kwargs(&["per_page", "orphans", "allow_empty_first_page", "object_list"])?;
                let qs = kw("object_list").or_else(|| args.first().cloned()).ok_or_else(|| err(ErrorKind::TypeError, "Paginator() needs an object list"))?;
                let per_page = kw("per_page").or_else(|| args.get(1).cloned()).and_then(|v| v.as_int()).ok_or_else(|| err(ErrorKind::TypeError, "Paginator() needs per_page as an integer"))?;
                let orphans = kw("orphans").and_then(|v| v.as_int()).unwrap_or(0);
                Ok(Val::obj(PaginatorHandle(Rc::new(PaginatorObj::new(qs, per_page, orphans)?))))
            }
            _ => Err(err(ErrorKind::NameError, format!("name '{name}' is not defined"))),
        }
    }
}

fn lookup_name(name: &str) -> SResult<Val> {
    if let Some(m) = MODELS.iter().find(|m| m.name == name) {
        return Ok(Val::obj(ModelClass(m)));
    }
    if let Some(b) = NAMES.iter().find(|n| **n == name) {
        return Ok(Val::obj(Builtin(b)));
    }
    let hint = NAMES.iter().find(|n| n.eq_ignore_ascii_case(name)).map(|n| format!(". Did you mean: '{n}'?")).unwrap_or_default();
    Err(err(ErrorKind::NameError, format!("name '{name}' is not defined{hint}")))
}

/// Parses and evaluates `src` (one context expression).
pub fn eval_source(rt: &Rt, src: &str) -> SResult<Val> {
    let expr = pyexpr::parse(src)?;
    eval(rt, src, &expr)
}

pub fn eval(rt: &Rt, src: &str, e: &Expr) -> SResult<Val> {
    let here = |r: SandboxError| r.at(src, e.start);
    match &e.kind {
        ExprKind::Name(n) => lookup_name(n).map_err(here),
        ExprKind::Int(i) => Ok(Val::Int(*i)),
        ExprKind::Float(f) => Ok(Val::Float(*f)),
        ExprKind::Str(s) => Ok(Val::str(s)),
        ExprKind::Bool(b) => Ok(Val::Bool(*b)),
        ExprKind::NoneLit => Ok(Val::None),
        ExprKind::List(items) => Ok(Val::list(items.iter().map(|x| eval(rt, src, x)).collect::<SResult<_>>()?)),
        ExprKind::Tuple(items) => Ok(Val::Tuple(Rc::new(items.iter().map(|x| eval(rt, src, x)).collect::<SResult<_>>()?))),
        ExprKind::Attr(value, name, at) => {
            let v = eval(rt, src, value)?;
            getattr(rt, &v, name).map_err(|r| r.at(src, *at))
        }
        ExprKind::Call { func, args, kwargs } => {
            let argv: Vec<Val> = args.iter().map(|x| eval(rt, src, x)).collect::<SResult<_>>()?;
            let kwv: Vec<(String, Val)> = kwargs.iter().map(|(k, x)| Ok((k.clone(), eval(rt, src, x)?))).collect::<SResult<_>>()?;
            let origin = format!("{}", &src[e.start..e.end.min(src.len())]);
            match &func.kind {
                ExprKind::Attr(obj, name, at) => {
                    let target = eval(rt, src, obj)?;
                    let r = rt.with_origin(origin, || call_method(rt, &target, name, argv, kwv));
                    r.map_err(|r| point_at_kwarg(r, src, kwargs, *at))
                }
                _ => {
                    let f = eval(rt, src, func)?;
                    match &f {
                        Val::Obj(o) => o.call(rt, argv, kwv).map_err(|r| point_at_kwarg(r, src, kwargs, func.start)),
                        other => Err(err(ErrorKind::TypeError, format!("'{}' object is not callable", other.type_name()))).map_err(here),
                    }
                }
            }
        }
        ExprKind::Index(value, index) => {
            let v = eval(rt, src, value)?;
            let i = eval(rt, src, index)?;
            rt.with_origin(src[e.start..e.end.min(src.len())].to_string(), || v.getitem(rt, &i)).map_err(|r| r.at(src, index.start))
        }
        ExprKind::Slice { value, start, stop, step } => {
            let v = eval(rt, src, value)?;
            let bound = |b: &Option<Box<Expr>>| -> SResult<Option<i64>> {
                match b {
                    None => Ok(None),
                    Some(x) => match eval(rt, src, x)? {
                        Val::None => Ok(None),
                        Val::Int(i) => Ok(Some(i)),
                        other => Err(err(ErrorKind::TypeError, format!("slice indices must be integers or None, not {}", other.type_name())).at(src, x.start)),
                    },
                }
            };
            let (a, b, c) = (bound(start)?, bound(stop)?, bound(step)?);
            let at = start.as_ref().map(|x| x.start).unwrap_or(value.end);
            rt.with_origin(src[e.start..e.end.min(src.len())].to_string(), || v.getslice(rt, a, b, c)).map_err(|r| r.at(src, at))
        }
        ExprKind::BinOp(op, l, r) => {
            let a = eval(rt, src, l)?;
            let b = eval(rt, src, r)?;
            binop(*op, &a, &b).map_err(here)
        }
        ExprKind::Unary(op, inner) => {
            let v = eval(rt, src, inner)?;
            match (op, &v) {
                (UnaryOp::Invert, _) if v.as_obj::<QObj>().is_some() => {
                    let q = v.as_obj::<QObj>().expect("checked").0.clone();
                    Ok(Val::obj(QObj(QNode::Not(Box::new(q)))))
                }
                (UnaryOp::Invert, _) if v.as_obj::<ExistsObj>().is_some() => {
                    let x = v.as_obj::<ExistsObj>().expect("checked");
                    Ok(Val::obj(ExistsObj(x.0.clone(), !x.1)))
                }
                (UnaryOp::Invert, Val::Int(i)) => Ok(Val::Int(!i)),
                (UnaryOp::Neg, Val::Int(i)) => Ok(Val::Int(i.wrapping_neg())),
                (UnaryOp::Neg, Val::Float(f)) => Ok(Val::Float(-f)),
                _ => Err(err(ErrorKind::TypeError, format!("bad operand type for unary operator: '{}'", v.type_name()))).map_err(here),
            }
        }
    }
}

/// FieldErrors about a keyword argument point at that argument rather than the call.
fn point_at_kwarg(e: SandboxError, src: &str, kwargs: &[(String, Expr)], fallback: usize) -> SandboxError {
    if e.pos.is_some() {
        return e;
    }
    for (k, v) in kwargs {
        let first = k.split("__").next().unwrap_or(k);
        let mentions = k.split("__").any(|part| e.message.contains(&format!("'{part}'")));
        if mentions || e.message.contains(&format!("'{first}'")) {
            let before = &src[..v.start.min(src.len())];
            if let Some(at) = before.rfind(k.as_str()) {
                let part_off = k.split("__").find(|p| e.message.contains(&format!("'{p}'"))).and_then(|p| k.find(p)).unwrap_or(0);
                return e.at(src, at + part_off);
            }
        }
    }
    e.at(src, fallback)
}

fn getattr(rt: &Rt, v: &Val, name: &str) -> SResult<Val> {
    match v {
        Val::Obj(o) => o.getattr(rt, name),
        Val::Dict(d) if matches!(name, "keys" | "values" | "items" | "get") => {
            let _ = d;
            Err(err(ErrorKind::NotSupported, format!("dict.{name}() is not supported in the sandbox")))
        }
        other => Err(err(ErrorKind::AttributeError, format!("'{}' object has no attribute '{name}'", other.type_name()))),
    }
}

fn call_method(rt: &Rt, v: &Val, name: &str, args: Vec<Val>, kwargs: Vec<(String, Val)>) -> SResult<Val> {
    match v {
        Val::Obj(o) => o.call_method(rt, name, args, kwargs),
        Val::Str(s) | Val::SafeStr(s) => match name {
            "upper" => Ok(Val::str(s.to_uppercase())),
            "lower" => Ok(Val::str(s.to_lowercase())),
            "strip" => Ok(Val::str(s.trim())),
            _ => Err(err(ErrorKind::AttributeError, format!("'str' object has no attribute '{name}'"))),
        },
        other => Err(err(ErrorKind::AttributeError, format!("'{}' object has no attribute '{name}'", other.type_name()))),
    }
}

fn binop(op: BinOp, a: &Val, b: &Val) -> SResult<Val> {
    let q = |v: &Val| -> Option<QNode> {
        v.as_obj::<QObj>().map(|q| q.0.clone()).or_else(|| v.as_obj::<ExistsObj>().map(|e| QNode::Exists(Box::new(e.0.clone()), e.1)))
    };
    match (op, q(a), q(b)) {
        (BinOp::And, Some(x), Some(y)) => return Ok(Val::obj(QObj(x.and(y)))),
        (BinOp::Or, Some(x), Some(y)) => return Ok(Val::obj(QObj(x.or(y)))),
        _ => {}
    }
    match (op, a, b) {
        (BinOp::Add, Val::Int(x), Val::Int(y)) => Ok(Val::Int(x.wrapping_add(*y))),
        (BinOp::Sub, Val::Int(x), Val::Int(y)) => Ok(Val::Int(x.wrapping_sub(*y))),
        (BinOp::Mul, Val::Int(x), Val::Int(y)) => Ok(Val::Int(x.wrapping_mul(*y))),
        (BinOp::Add, Val::Str(x), Val::Str(y)) => Ok(Val::str(format!("{x}{y}"))),
        (BinOp::And, Val::Int(x), Val::Int(y)) => Ok(Val::Int(x & y)),
        (BinOp::Or, Val::Int(x), Val::Int(y)) => Ok(Val::Int(x | y)),
        (BinOp::Add | BinOp::Sub | BinOp::Mul, x, y) if x.as_f64().is_some() && y.as_f64().is_some() => {
            let (x, y) = (x.as_f64().expect("checked"), y.as_f64().expect("checked"));
            Ok(Val::Float(match op {
                BinOp::Add => x + y,
                BinOp::Sub => x - y,
                _ => x * y,
            }))
        }
        _ => {
            let sym = match op {
                BinOp::And => "&",
                BinOp::Or => "|",
                BinOp::Add => "+",
                BinOp::Sub => "-",
                BinOp::Mul => "*",
            };
            Err(err(ErrorKind::TypeError, format!("unsupported operand type(s) for {sym}: '{}' and '{}'", a.type_name(), b.type_name())))
        }
    }
}
