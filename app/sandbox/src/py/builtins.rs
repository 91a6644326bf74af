//! Python's built-in functions (`len`, `sorted`, `isinstance`, `type`, …) and the type objects
//! they name, as far as views, helpers and tests use them; the methods of built-in values live
//! in `methods.rs`.

use std::any::Any;
use std::cell::RefCell;
use std::cmp::Ordering;
use std::rc::Rc;

use super::args::{arity, as_int_arg, bind, no_kwargs};
use super::dates::{timedelta_val, TimeDelta};
use super::ops::sort_values;
use super::objects::*;
use crate::error::{err, exc, is_builtin_exception, ErrorKind, SResult};
use crate::pyfmt::{parse_py_float, python_float_repr};
use crate::runtime::Rt;
use crate::value::{call_value, BinOp, HashKey, Kwargs, Object, PyDict, Val};

// ---------------------------------------------------------------- argument helpers

// ---------------------------------------------------------------- the builtins namespace

pub(crate) const BUILTIN_NAMES: &[&str] = &[
    "print", "len", "range", "str", "int", "float", "bool", "list", "dict", "tuple", "set", "frozenset", "sorted", "reversed",
    "enumerate", "zip", "sum", "min", "max", "abs", "round", "any", "all", "isinstance", "issubclass", "hasattr", "getattr",
    "setattr", "type", "repr", "map", "filter", "iter", "next", "divmod", "pow", "chr", "ord", "hex", "oct", "bin", "format",
    "callable", "id", "hash", "staticmethod", "classmethod", "property", "object", "super", "open", "eval", "exec",
    "__import__", "compile", "input", "globals", "locals", "vars", "dir", "NotImplemented", "Ellipsis", "delattr",
];

pub fn builtin(rt: &Rt, name: &str) -> Option<Val> {
    if is_builtin_exception(name) && !name.contains('.') && !DJANGO_ONLY_EXCEPTIONS.contains(&name) {
        return Some(Val::obj(ExceptionClass(name.to_string())));
    }
    if name == "MemoryError" {
        return Some(Val::obj(ExceptionClass(name.to_string())));
    }
    if !BUILTIN_NAMES.contains(&name) {
        return None;
    }
    let _ = rt;
    Some(match name {
        "str" | "int" | "float" | "bool" | "list" | "dict" | "tuple" | "set" | "frozenset" | "object" | "type" | "range" => {
            let n = BUILTIN_NAMES.iter().find(|b| **b == name).copied().expect("listed");
            type_obj(n)
        }
        "staticmethod" | "classmethod" | "property" => {
            let kind = match name {
                "staticmethod" => DescriptorKind::Static,
                "classmethod" => DescriptorKind::Class,
                _ => DescriptorKind::Property,
            };
            NativeFn::val(name, move |_, args, _| {
                let f = args.into_iter().next().ok_or_else(|| err(ErrorKind::TypeError, "expected a function"))?;
                Ok(Val::obj(Descriptor { kind, func: f }))
            })
        }
        "NotImplemented" | "Ellipsis" => Val::None,
        _ => {
            let n: &'static str = BUILTIN_NAMES.iter().find(|b| **b == name).copied().expect("listed");
            NativeFn::val(n, move |rt, args, kwargs| call_builtin(rt, n, args, kwargs))
        }
    })
}

/// Django's exceptions are imported from their modules, not builtins.
const DJANGO_ONLY_EXCEPTIONS: &[&str] = &[
    "ObjectDoesNotExist", "DoesNotExist", "MultipleObjectsReturned", "FieldError", "FieldDoesNotExist", "ValidationError",
    "ImproperlyConfigured", "SuspiciousOperation", "BadRequest", "PermissionDenied", "EmptyResultSet", "Http404", "Resolver404",
    "NoReverseMatch", "TemplateSyntaxError", "TemplateDoesNotExist", "VariableDoesNotExist", "Error", "DatabaseError",
    "InterfaceError", "DataError", "OperationalError", "IntegrityError", "InternalError", "ProgrammingError",
    "NotSupportedError", "TransactionManagementError", "InvalidPage", "PageNotAnInteger", "EmptyPage", "NotSupported",
    "Stopped", "Failed", "CacheKeyWarning",
];

pub fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = if a[i - 1] == b[j - 1] { 0 } else { 1 };
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        prev = cur;
    }
    prev[b.len()]
}

pub(crate) fn type_obj(name: &'static str) -> Val {
    let ctor: fn(&Rt, Vec<Val>, Kwargs) -> SResult<Val> = match name {
        "str" => |rt, a, k| {
            no_kwargs("str", &k)?;
            arity("str", &a, 0, 1)?;
            Ok(Val::str(match a.first() {
                Some(v) => v.to_str(rt)?,
                None => String::new(),
            }))
        },
        "int" => |_rt, a, k| {
            no_kwargs("int", &k)?;
            arity("int", &a, 0, 2)?;
            match (a.first(), a.get(1)) {
                (None, _) => Ok(Val::Int(0)),
                (Some(Val::Str(s) | Val::SafeStr(s)), Some(base)) => {
                    let b = as_int_arg(base, "")? as u32;
                    let t = s.trim().replace('_', "");
                    let (neg, t) = match t.strip_prefix('-') {
                        Some(r) => (true, r.to_string()),
                        None => (false, t.trim_start_matches('+').to_string()),
                    };
                    let t = if b == 16 { t.trim_start_matches("0x").to_string() } else { t };
                    i64::from_str_radix(&t, b)
                        .map(|v| Val::Int(if neg { -v } else { v }))
                        .map_err(|_| err(ErrorKind::ValueError, format!("invalid literal for int() with base {b}: {}", crate::pyfmt::python_str_repr(s))))
                }
                (Some(v), _) => Ok(Val::Int(crate::py::format::py_int(v)?)),
            }
        },
        "float" => |_rt, a, k| {
            no_kwargs("float", &k)?;
            arity("float", &a, 0, 1)?;
            match a.first() {
                None => Ok(Val::Float(0.0)),
                Some(v) => Ok(Val::Float(crate::py::format::py_float(v)?)),
            }
        },
        "bool" => |rt, a, _k| Ok(Val::Bool(match a.first() {
            Some(v) => v.truthy(rt)?,
            None => false,
        })),
        "list" => |rt, a, _k| Ok(Val::list(match a.first() {
            Some(v) => v.iterate(rt)?.as_ref().clone(),
            None => vec![],
        })),
        "tuple" => |rt, a, _k| Ok(Val::tuple(match a.first() {
            Some(v) => v.iterate(rt)?.as_ref().clone(),
            None => vec![],
        })),
        "set" | "frozenset" => |rt, a, _k| Val::set_of(match a.first() {
            Some(v) => v.iterate(rt)?.as_ref().clone(),
            None => vec![],
        }),
        "dict" => |rt, a, k| {
            let mut d = match a.first() {
                None => PyDict::new(),
                Some(Val::Dict(o)) => o.borrow().clone(),
                Some(v) => {
                    let mut d = PyDict::new();
                    for item in v.iterate(rt)?.iter() {
                        let pair = item.iterate(rt)?;
                        if pair.len() != 2 {
                            return Err(err(ErrorKind::ValueError, format!("dictionary update sequence element has length {}; 2 is required", pair.len())));
                        }
                        d.set(pair[0].clone(), pair[1].clone())?;
                    }
                    d
                }
            };
            for (key, v) in k {
                d.set(Val::str(&key), v)?;
            }
            Ok(Val::dict(d))
        },
        "object" => |_rt, _a, _k| Ok(Val::Obj(Instance::new(object_class()))),
        "type" => |rt, a, _k| {
            arity("type", &a, 1, 1)?;
            type_of(rt, &a[0])
        },
        "range" => |_rt, a, k| {
            no_kwargs("range", &k)?;
            arity("range", &a, 1, 3)?;
            let ints: Vec<i64> = a.iter().map(|v| as_int_arg(v, "")).collect::<SResult<_>>()?;
            let (start, stop, step) = match ints.len() {
                1 => (0, ints[0], 1),
                2 => (ints[0], ints[1], 1),
                _ => (ints[0], ints[1], ints[2]),
            };
            if step == 0 {
                return Err(err(ErrorKind::ValueError, "range() arg 3 must not be zero"));
            }
            Ok(Val::obj(RangeObj { start, stop, step }))
        },
        _ => |_rt, _a, _k| Err(err(ErrorKind::TypeError, "cannot create instances")),
    };
    Val::obj(TypeObj { name, ctor })
}

thread_local! {
    static OBJECT_CLASS: Rc<Class> = Class::new_native("object", "object", vec![], NativeClass { name: "object", method: |_, _, _| None, init: None });
    static EXC_CLASSES: RefCell<std::collections::HashMap<String, Rc<Class>>> = RefCell::new(Default::default());
}

pub fn object_class() -> Rc<Class> {
    OBJECT_CLASS.with(|c| c.clone())
}

/// The class a `class X(base):` statement derives from.
pub fn class_of_base(rt: &Rt, v: &Val) -> SResult<Rc<Class>> {
    if let Some(c) = v.as_obj::<ClassVal>() {
        return Ok(c.0.clone());
    }
    if let Some(e) = v.as_obj::<ExceptionClass>() {
        return Ok(native_exception_class(&e.0));
    }
    if let Some(t) = v.as_obj::<TypeObj>() {
        if t.name == "object" {
            return Ok(object_class());
        }
        return Err(err(ErrorKind::NotSupported, format!("subclassing '{}' is not supported in the sandbox", t.name)));
    }
    let _ = rt;
    Err(err(ErrorKind::TypeError, format!("a class can only derive from classes, not from '{}'", v.type_name())))
}

pub fn native_exception_class(name: &str) -> Rc<Class> {
    EXC_CLASSES.with(|m| {
        m.borrow_mut()
            .entry(name.to_string())
            .or_insert_with(|| {
                let parent = crate::error::exception_parent(name);
                let bases = match parent {
                    Some(p) => vec![native_exception_class(p)],
                    None => vec![object_class()],
                };
                Rc::new(Class {
                    name: name.rsplit('.').next().unwrap_or(name).to_string(),
                    qualname: name.to_string(),
                    bases,
                    ns: Namespace::new(),
                    native: Some(NativeClass {
                        name: "Exception",
                        method: |_, _, _| None,
                        init: Some(|_rt, this, args, _kwargs| {
                            this.set_attr("args", Val::tuple(args));
                            Ok(())
                        }),
                    }),
                })
            })
            .clone()
    })
}

fn type_of(rt: &Rt, v: &Val) -> SResult<Val> {
    let _ = rt;
    Ok(match v {
        Val::Obj(o) => {
            if let Some(i) = o.as_any().downcast_ref::<Instance>() {
                return Ok(Val::obj(ClassVal(i.class.clone())));
            }
            if let Some(e) = o.as_any().downcast_ref::<ExceptionObj>() {
                return Ok(Val::obj(ExceptionClass(e.class.clone())));
            }
            match o.class_value() {
                Some(t) => t,
                None => Val::obj(NamedType(o.type_name())),
            }
        }
        other => {
            let n: &'static str = match other {
                Val::None => return Ok(Val::obj(NamedType("NoneType".into()))),
                Val::Bool(_) => "bool",
                Val::Int(_) => "int",
                Val::Float(_) => "float",
                Val::Str(_) | Val::SafeStr(_) => "str",
                Val::List(_) => "list",
                Val::Tuple(_) => "tuple",
                Val::Dict(_) => "dict",
                Val::Set(_) => "set",
                Val::DateTime(_) => return Ok(crate::py::dates::datetime_class()),
                Val::Obj(_) => unreachable!("matched above"),
            };
            type_obj(n)
        }
    })
}

/// The type of a value that has no class object of its own (`type(qs)` → `<class 'QuerySet'>`).
pub struct NamedType(pub String);

impl Object for NamedType {
    fn type_name(&self) -> String {
        "type".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn repr(&self, _rt: &Rt) -> SResult<String> {
        Ok(format!("<class '{}'>", self.0))
    }
    fn getattr(&self, _rt: &Rt, name: &str) -> SResult<Val> {
        match name {
            "__name__" | "__qualname__" => Ok(Val::str(&self.0)),
            _ => Err(err(ErrorKind::AttributeError, format!("type object '{}' has no attribute '{name}'", self.0))),
        }
    }
    fn eq_val(&self, other: &Val) -> Option<bool> {
        Some(other.as_obj::<NamedType>().is_some_and(|o| o.0 == self.0))
    }
    fn hash_key(&self) -> SResult<HashKey> {
        Ok(HashKey::Other(format!("type:{}", self.0)))
    }
}

/// `isinstance(v, cls)`.
pub fn isinstance(rt: &Rt, v: &Val, cls: &Val) -> SResult<bool> {
    if let Val::Tuple(items) = cls {
        for c in items.iter() {
            if isinstance(rt, v, c)? {
                return Ok(true);
            }
        }
        return Ok(false);
    }
    if let Some(t) = cls.as_obj::<TypeObj>() {
        return Ok(match (t.name, v) {
            ("object", _) => true,
            ("int", Val::Int(_) | Val::Bool(_)) => true,
            ("bool", Val::Bool(_)) => true,
            ("float", Val::Float(_)) => true,
            ("str", Val::Str(_) | Val::SafeStr(_)) => true,
            ("list", Val::List(_)) => true,
            ("tuple", Val::Tuple(_)) => true,
            ("dict", Val::Dict(_)) => true,
            ("set" | "frozenset", Val::Set(_)) => true,
            ("range", Val::Obj(o)) => o.as_any().is::<RangeObj>(),
            // A class (the learner's, an exception class, a builtin type) is a type.
            ("type", Val::Obj(o)) => {
                o.as_any().is::<ClassVal>() || o.as_any().is::<TypeObj>() || o.as_any().is::<ExceptionClass>()
            }
            _ => false,
        });
    }
    if let Some(c) = cls.as_obj::<ClassVal>() {
        if let Some(i) = v.as_obj::<Instance>() {
            return Ok(i.class.is_subclass_of(&c.0));
        }
        if let Val::Obj(o) = v {
            return Ok(o.class_names().iter().any(|n| *n == c.0.qualname));
        }
        return Ok(c.0.qualname == "object");
    }
    if let Some(e) = cls.as_obj::<ExceptionClass>() {
        return Ok(match v {
            Val::Obj(o) => o.class_names().iter().any(|n| *n == e.0),
            _ => false,
        });
    }
    if let Some(n) = cls.as_obj::<NamedType>() {
        return Ok(v.type_name() == n.0);
    }
    if let Some(name) = match cls {
        Val::Obj(o) => o.instances_named(),
        _ => None,
    } {
        return Ok(match v {
            Val::Obj(o) => o.class_names().iter().any(|n| *n == name),
            Val::DateTime(_) => name == "datetime",
            _ => false,
        });
    }
    Err(err(ErrorKind::TypeError, "isinstance() arg 2 must be a type, a tuple of types, or a union"))
}

fn call_builtin(rt: &Rt, name: &str, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
    match name {
        "print" => {
            let mut sep = " ".to_string();
            let mut end = "\n".to_string();
            for (k, v) in &kwargs {
                match k.as_str() {
                    "sep" => sep = if v.is_none() { " ".into() } else { v.to_str(rt)? },
                    "end" => end = if v.is_none() { "\n".into() } else { v.to_str(rt)? },
                    "file" | "flush" => {}
                    other => return Err(err(ErrorKind::TypeError, format!("'{other}' is an invalid keyword argument for print()"))),
                }
            }
            let parts: Vec<String> = args.iter().map(|a| a.to_str(rt)).collect::<SResult<_>>()?;
            rt.print(&(parts.join(&sep) + &end));
            Ok(Val::None)
        }
        "len" => {
            no_kwargs(name, &kwargs)?;
            arity(name, &args, 1, 1)?;
            Ok(Val::Int(args[0].len(rt)? as i64))
        }
        "repr" => {
            arity(name, &args, 1, 1)?;
            Ok(Val::str(args[0].repr(rt)?))
        }
        "sorted" => {
            let a = bind("sorted", args, kwargs, &["iterable", "key", "reverse"], 1)?;
            let items = a[0].as_ref().expect("required").iterate(rt)?.as_ref().clone();
            let reverse = match &a[2] {
                Some(v) => v.truthy(rt)?,
                None => false,
            };
            Ok(Val::list(sort_values(rt, items, a[1].as_ref(), reverse)?))
        }
        "reversed" => {
            arity(name, &args, 1, 1)?;
            let mut v = args[0].iterate(rt)?.as_ref().clone();
            v.reverse();
            Ok(Val::obj(IterObj { items: Rc::new(v), pos: std::cell::Cell::new(0) }))
        }
        "enumerate" => {
            let a = bind("enumerate", args, kwargs, &["iterable", "start"], 1)?;
            let start = match &a[1] {
                Some(v) => as_int_arg(v, "")?,
                None => 0,
            };
            let items = a[0].as_ref().expect("required").iterate(rt)?;
            Ok(Val::list(items.iter().enumerate().map(|(i, x)| Val::tuple(vec![Val::Int(start + i as i64), x.clone()])).collect()))
        }
        "zip" => {
            no_kwargs(name, &kwargs)?;
            // An `itertools.count()` (endless) gives one value per row; the finite ones decide
            // how many rows there are.
            enum Column<'a> {
                Items(Rc<Vec<Val>>),
                Counter(&'a CountObj),
            }
            let columns: Vec<Column> = args
                .iter()
                .map(|a| match a.as_obj::<CountObj>() {
                    Some(c) => Ok(Column::Counter(c)),
                    None => a.iterate(rt).map(Column::Items),
                })
                .collect::<SResult<_>>()?;
            let lens = columns.iter().filter_map(|c| match c {
                Column::Items(l) => Some(l.len()),
                Column::Counter(_) => None,
            });
            let n = match lens.min() {
                Some(n) => n,
                None if columns.is_empty() => 0,
                None => return Err(CountObj::endless()),
            };
            let mut rows = Vec::with_capacity(n);
            for i in 0..n {
                let row = columns.iter().map(|c| match c {
                    Column::Items(l) => Ok(l[i].clone()),
                    Column::Counter(c) => c.advance(),
                });
                rows.push(Val::tuple(row.collect::<SResult<_>>()?));
            }
            // As Python's zip, the round that finds the first exhausted iterable has already
            // taken a value from each counter before it.
            for c in &columns {
                match c {
                    Column::Items(l) if l.len() == n => break,
                    Column::Items(_) => {}
                    Column::Counter(c) => {
                        c.advance()?;
                    }
                }
            }
            Ok(Val::list(rows))
        }
        "sum" => {
            let a = bind("sum", args, kwargs, &["iterable", "start"], 1)?;
            let mut acc = a[1].clone().unwrap_or(Val::Int(0));
            for x in a[0].as_ref().expect("required").iterate(rt)?.iter() {
                acc = super::ops::binop(rt, BinOp::Add, &acc, x)?;
            }
            Ok(acc)
        }
        "min" | "max" => {
            let mut key = None;
            let mut default = None;
            for (k, v) in kwargs {
                match k.as_str() {
                    "key" => key = Some(v),
                    "default" => default = Some(v),
                    other => return Err(err(ErrorKind::TypeError, format!("'{other}' is an invalid keyword argument for {name}()"))),
                }
            }
            let items: Vec<Val> = if args.len() == 1 { args[0].iterate(rt)?.as_ref().clone() } else { args };
            if items.is_empty() {
                return default.ok_or_else(|| err(ErrorKind::ValueError, format!("{name}() iterable argument is empty")));
            }
            let mut best = items[0].clone();
            let mut best_key = match &key {
                Some(k) => call_value(rt, k, vec![best.clone()], vec![])?,
                None => best.clone(),
            };
            for x in &items[1..] {
                let k = match &key {
                    Some(kf) => call_value(rt, kf, vec![x.clone()], vec![])?,
                    None => x.clone(),
                };
                let o = k.py_lt_checked(&best_key, if name == "min" { "<" } else { ">" })?;
                if (name == "min" && o == Ordering::Less) || (name == "max" && o == Ordering::Greater) {
                    best = x.clone();
                    best_key = k;
                }
            }
            Ok(best)
        }
        "abs" => {
            arity(name, &args, 1, 1)?;
            match &args[0] {
                Val::Int(i) => Ok(Val::Int(i.checked_abs().ok_or_else(|| exc("OverflowError", "integer too large"))?)),
                Val::Bool(b) => Ok(Val::Int(*b as i64)),
                Val::Float(f) => Ok(Val::Float(f.abs())),
                Val::Obj(o) if o.as_any().is::<TimeDelta>() => {
                    let t = o.as_any().downcast_ref::<TimeDelta>().expect("checked");
                    Ok(timedelta_val(t.0.abs()))
                }
                other => Err(err(ErrorKind::TypeError, format!("bad operand type for abs(): '{}'", other.type_name()))),
            }
        }
        "round" => {
            let a = bind("round", args, kwargs, &["number", "ndigits"], 1)?;
            let x = a[0].as_ref().expect("required");
            match &a[1] {
                None | Some(Val::None) => match x {
                    Val::Int(i) => Ok(Val::Int(*i)),
                    Val::Float(f) => Ok(Val::Int(round_half_even(*f) as i64)),
                    other => Err(err(ErrorKind::TypeError, format!("type {} doesn't define __round__ method", other.type_name()))),
                },
                Some(n) => {
                    let n = as_int_arg(n, "")?;
                    match x {
                        Val::Int(i) => Ok(Val::Int(*i)),
                        Val::Float(f) => {
                            let s = format!("{:.*}", n.max(0) as usize, f);
                            Ok(Val::Float(s.parse().unwrap_or(*f)))
                        }
                        other => Err(err(ErrorKind::TypeError, format!("type {} doesn't define __round__ method", other.type_name()))),
                    }
                }
            }
        }
        "any" | "all" => {
            arity(name, &args, 1, 1)?;
            for x in args[0].iterate(rt)?.iter() {
                let t = x.truthy(rt)?;
                if name == "any" && t {
                    return Ok(Val::Bool(true));
                }
                if name == "all" && !t {
                    return Ok(Val::Bool(false));
                }
            }
            Ok(Val::Bool(name == "all"))
        }
        "isinstance" => {
            arity(name, &args, 2, 2)?;
            Ok(Val::Bool(isinstance(rt, &args[0], &args[1])?))
        }
        "issubclass" => {
            arity(name, &args, 2, 2)?;
            match (args[0].as_obj::<ClassVal>(), args[1].as_obj::<ClassVal>()) {
                (Some(a), Some(b)) => Ok(Val::Bool(a.0.is_subclass_of(&b.0))),
                _ => match (args[0].as_obj::<ExceptionClass>(), args[1].as_obj::<ExceptionClass>()) {
                    (Some(a), Some(b)) => Ok(Val::Bool(crate::error::exception_parents(&a.0).contains(&b.0))),
                    _ => Ok(Val::Bool(args[0].py_eq(&args[1]))),
                },
            }
        }
        "hasattr" => {
            arity(name, &args, 2, 2)?;
            let n = args[1].as_str().ok_or_else(|| err(ErrorKind::TypeError, "hasattr(): attribute name must be string"))?.to_string();
            match super::methods::getattr(rt, &args[0], &n) {
                Ok(_) => Ok(Val::Bool(true)),
                Err(e) if e.kind == ErrorKind::AttributeError => Ok(Val::Bool(false)),
                Err(e) => Err(e),
            }
        }
        "getattr" => {
            arity(name, &args, 2, 3)?;
            let n = args[1].as_str().ok_or_else(|| err(ErrorKind::TypeError, "getattr(): attribute name must be string"))?.to_string();
            match super::methods::getattr(rt, &args[0], &n) {
                Ok(v) => Ok(v),
                Err(e) if e.kind == ErrorKind::AttributeError && args.len() == 3 => Ok(args[2].clone()),
                Err(e) => Err(e),
            }
        }
        "setattr" => {
            arity(name, &args, 3, 3)?;
            let n = args[1].as_str().ok_or_else(|| err(ErrorKind::TypeError, "setattr(): attribute name must be string"))?.to_string();
            super::methods::setattr(rt, &args[0], &n, args[2].clone())?;
            Ok(Val::None)
        }
        "delattr" => {
            arity(name, &args, 2, 2)?;
            let n = args[1].as_str().unwrap_or("").to_string();
            match args[0].as_obj::<Instance>() {
                Some(i) if i.attrs.borrow_mut().shift_remove(n.as_str()).is_some() => Ok(Val::None),
                _ => Err(err(ErrorKind::AttributeError, format!("'{}' object has no attribute '{n}'", args[0].type_name()))),
            }
        }
        "map" => {
            if args.len() < 2 {
                return Err(err(ErrorKind::TypeError, "map() must have at least two arguments."));
            }
            let lists: Vec<Rc<Vec<Val>>> = args[1..].iter().map(|a| a.iterate(rt)).collect::<SResult<_>>()?;
            let n = lists.iter().map(|l| l.len()).min().unwrap_or(0);
            let mut out = Vec::with_capacity(n);
            for i in 0..n {
                rt.py_tick()?;
                out.push(call_value(rt, &args[0], lists.iter().map(|l| l[i].clone()).collect(), vec![])?);
            }
            Ok(Val::list(out))
        }
        "filter" => {
            arity(name, &args, 2, 2)?;
            let mut out = Vec::new();
            for x in args[1].iterate(rt)?.iter() {
                rt.py_tick()?;
                let keep = if args[0].is_none() { x.truthy(rt)? } else { call_value(rt, &args[0], vec![x.clone()], vec![])?.truthy(rt)? };
                if keep {
                    out.push(x.clone());
                }
            }
            Ok(Val::list(out))
        }
        "iter" => {
            arity(name, &args, 1, 1)?;
            if args[0].as_obj::<IterObj>().is_some() || args[0].as_obj::<CountObj>().is_some() {
                return Ok(args[0].clone());
            }
            Ok(Val::obj(IterObj { items: args[0].iterate(rt)?, pos: std::cell::Cell::new(0) }))
        }
        "next" => {
            arity(name, &args, 1, 2)?;
            if let Some(c) = args[0].as_obj::<CountObj>() {
                return c.advance();
            }
            let it = args[0].as_obj::<IterObj>().ok_or_else(|| err(ErrorKind::TypeError, format!("'{}' object is not an iterator", args[0].type_name())))?;
            let p = it.pos.get();
            match it.items.get(p) {
                Some(v) => {
                    it.pos.set(p + 1);
                    Ok(v.clone())
                }
                None => args.get(1).cloned().ok_or_else(|| exc("StopIteration", "")),
            }
        }
        "divmod" => {
            arity(name, &args, 2, 2)?;
            let q = super::ops::binop(rt, BinOp::FloorDiv, &args[0], &args[1])?;
            let r = super::ops::binop(rt, BinOp::Mod, &args[0], &args[1])?;
            Ok(Val::tuple(vec![q, r]))
        }
        "pow" => {
            arity(name, &args, 2, 2)?;
            super::ops::binop(rt, BinOp::Pow, &args[0], &args[1])
        }
        "chr" => {
            arity(name, &args, 1, 1)?;
            let i = as_int_arg(&args[0], "")?;
            u32::try_from(i).ok().and_then(char::from_u32).map(|c| Val::str(c.to_string())).ok_or_else(|| err(ErrorKind::ValueError, "chr() arg not in range(0x110000)"))
        }
        "ord" => {
            arity(name, &args, 1, 1)?;
            let s = args[0].as_str().unwrap_or("");
            let mut cs = s.chars();
            match (cs.next(), cs.next()) {
                (Some(c), None) => Ok(Val::Int(c as i64)),
                _ => Err(err(ErrorKind::TypeError, format!("ord() expected a character, but string of length {} found", s.chars().count()))),
            }
        }
        "hex" | "oct" | "bin" => {
            arity(name, &args, 1, 1)?;
            let i = as_int_arg(&args[0], "")?;
            let a = i.unsigned_abs();
            let s = match name {
                "hex" => format!("0x{a:x}"),
                "oct" => format!("0o{a:o}"),
                _ => format!("0b{a:b}"),
            };
            Ok(Val::str(if i < 0 { format!("-{s}") } else { s }))
        }
        "format" => {
            arity(name, &args, 1, 2)?;
            let spec = args.get(1).and_then(|s| s.as_str()).unwrap_or("").to_string();
            Ok(Val::str(super::methods::format_value(rt, &args[0], &spec)?))
        }
        "callable" => {
            arity(name, &args, 1, 1)?;
            Ok(Val::Bool(matches!(&args[0], Val::Obj(o) if o.is_callable())))
        }
        "id" => {
            arity(name, &args, 1, 1)?;
            Ok(Val::Int(match &args[0] {
                Val::Obj(o) => Rc::as_ptr(o) as *const u8 as i64,
                Val::List(l) => Rc::as_ptr(l) as *const u8 as i64,
                Val::Dict(d) | Val::Set(d) => Rc::as_ptr(d) as *const u8 as i64,
                other => other.hash_key().map(|k| format!("{k:?}").len() as i64).unwrap_or(0),
            }))
        }
        "hash" => {
            arity(name, &args, 1, 1)?;
            use std::hash::{Hash, Hasher};
            let k = args[0].hash_key()?;
            let mut h = std::collections::hash_map::DefaultHasher::new();
            k.hash(&mut h);
            Ok(Val::Int(h.finish() as i64))
        }
        "open" | "__import__" | "eval" | "exec" | "compile" | "input" => Err(exc(
            "PermissionError",
            format!("{name}() is not available in the sandbox: it has no file system, no console and no dynamic code"),
        )),
        "globals" | "locals" | "vars" | "dir" => Err(err(ErrorKind::NotSupported, format!("{name}() is not supported in the sandbox"))),
        other => Err(err(ErrorKind::NameError, format!("name '{other}' is not defined"))),
    }
}

fn round_half_even(f: f64) -> f64 {
    let r = f.round();
    if (f - f.trunc()).abs() == 0.5 {
        2.0 * (f / 2.0).round()
    } else {
        r
    }
}

// ---------------------------------------------------------------- methods of built-in types

// ---------------------------------------------------------------- datetime and timedelta

/// Float text for messages (`str(1.0)`).
pub fn float_str(f: f64) -> String {
    python_float_repr(f)
}

/// `float(text)` for lookups that take numbers as strings.
pub fn parse_float(s: &str) -> Option<f64> {
    parse_py_float(s)
}
