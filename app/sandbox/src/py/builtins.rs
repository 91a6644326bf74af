//! Python's built-in functions and the methods of its built-in types (`str`, `list`, `dict`,
//! `set`, `tuple`, numbers, `datetime`, `timedelta`), as far as views, helpers and tests use them.

use std::any::Any;
use std::cell::RefCell;
use std::cmp::Ordering;
use std::rc::Rc;

use super::interp::{self, Frame};
use super::objects::*;
use crate::error::{err, exc, is_builtin_exception, ErrorKind, SResult};
use crate::pyfmt::{parse_py_float, py_space, python_float_repr};
use crate::runtime::Rt;
use crate::value::{call_value, BinOp, HashKey, Kwargs, Object, PyDict, Val};
use crate::datetime::DateTime;

// ---------------------------------------------------------------- argument helpers

/// Binds a native function's arguments by name, with Python's messages.
pub fn bind(fname: &str, args: Vec<Val>, kwargs: Kwargs, names: &[&str], required: usize) -> SResult<Vec<Option<Val>>> {
    if args.len() > names.len() {
        let what = if required == names.len() {
            format!("{} positional argument{}", names.len(), if names.len() == 1 { "" } else { "s" })
        } else {
            format!("at most {} arguments", names.len())
        };
        return Err(err(ErrorKind::TypeError, format!("{fname}() takes {what} ({} given)", args.len())));
    }
    let mut out: Vec<Option<Val>> = vec![None; names.len()];
    for (i, a) in args.into_iter().enumerate() {
        out[i] = Some(a);
    }
    for (k, v) in kwargs {
        match names.iter().position(|n| *n == k) {
            Some(i) if out[i].is_some() => return Err(err(ErrorKind::TypeError, format!("{fname}() got multiple values for argument '{k}'"))),
            Some(i) => out[i] = Some(v),
            None => return Err(err(ErrorKind::TypeError, format!("{fname}() got an unexpected keyword argument '{k}'"))),
        }
    }
    for (i, n) in names.iter().enumerate().take(required) {
        if out[i].is_none() {
            return Err(err(ErrorKind::TypeError, format!("{fname}() missing required argument '{n}' (pos {})", i + 1)));
        }
    }
    Ok(out)
}

fn no_kwargs(fname: &str, kwargs: &Kwargs) -> SResult<()> {
    match kwargs.first() {
        Some((k, _)) => Err(err(ErrorKind::TypeError, format!("{fname}() takes no keyword arguments (got '{k}')"))),
        None => Ok(()),
    }
}

fn arity(fname: &str, args: &[Val], min: usize, max: usize) -> SResult<()> {
    if args.len() < min || args.len() > max {
        let expect = if min == max { format!("exactly {min}") } else if args.len() < min { format!("at least {min}") } else { format!("at most {max}") };
        let s = if (if args.len() < min { min } else { max }) == 1 { "" } else { "s" };
        return Err(err(ErrorKind::TypeError, format!("{fname}() takes {expect} argument{s} ({} given)", args.len())));
    }
    Ok(())
}

pub fn as_int_arg(v: &Val, what: &str) -> SResult<i64> {
    v.as_int().ok_or_else(|| err(ErrorKind::TypeError, format!("'{}' object cannot be interpreted as an integer{what}", v.type_name())))
}

// ---------------------------------------------------------------- the builtins namespace

const BUILTIN_NAMES: &[&str] = &[
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
    "ImproperlyConfigured", "SuspiciousOperation", "PermissionDenied", "EmptyResultSet", "Http404", "Resolver404",
    "NoReverseMatch", "TemplateSyntaxError", "TemplateDoesNotExist", "VariableDoesNotExist", "Error", "DatabaseError",
    "InterfaceError", "DataError", "OperationalError", "IntegrityError", "InternalError", "ProgrammingError",
    "NotSupportedError", "TransactionManagementError", "InvalidPage", "PageNotAnInteger", "EmptyPage", "NotSupported",
    "Stopped", "Failed", "CacheKeyWarning",
];

/// `. Did you mean: 'x'?` for a misspelt name, as Python 3.11 suggests.
pub fn name_hint(fr: &Frame, name: &str) -> String {
    let mut candidates: Vec<String> = fr.globals.vars.borrow().keys().map(|k| k.to_string()).collect();
    if let Some(s) = &fr.scope {
        let mut cur = Some(s.clone());
        while let Some(sc) = cur {
            candidates.extend(sc.vars.borrow().keys().map(|k| k.to_string()));
            cur = sc.parent.clone();
        }
    }
    candidates.extend(BUILTIN_NAMES.iter().map(|s| s.to_string()));
    let best = candidates
        .iter()
        .filter(|c| c.as_str() != name)
        .map(|c| (levenshtein(c, name), c))
        .filter(|(d, c)| *d <= 2.min((c.len() + name.len()) / 4 + 1) && *d > 0)
        .min_by_key(|(d, _)| *d);
    match best {
        Some((_, c)) => format!(". Did you mean: '{c}'?"),
        None => String::new(),
    }
}

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

fn type_obj(name: &'static str) -> Val {
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
            let lists: Vec<Rc<Vec<Val>>> = args.iter().map(|a| a.iterate(rt)).collect::<SResult<_>>()?;
            let n = lists.iter().map(|l| l.len()).min().unwrap_or(0);
            Ok(Val::list((0..n).map(|i| Val::tuple(lists.iter().map(|l| l[i].clone()).collect())).collect()))
        }
        "sum" => {
            let a = bind("sum", args, kwargs, &["iterable", "start"], 1)?;
            let mut acc = a[1].clone().unwrap_or(Val::Int(0));
            for x in a[0].as_ref().expect("required").iterate(rt)?.iter() {
                acc = interp::binop(rt, BinOp::Add, &acc, x)?;
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
            match interp::getattr(rt, &args[0], &n) {
                Ok(_) => Ok(Val::Bool(true)),
                Err(e) if e.kind == ErrorKind::AttributeError => Ok(Val::Bool(false)),
                Err(e) => Err(e),
            }
        }
        "getattr" => {
            arity(name, &args, 2, 3)?;
            let n = args[1].as_str().ok_or_else(|| err(ErrorKind::TypeError, "getattr(): attribute name must be string"))?.to_string();
            match interp::getattr(rt, &args[0], &n) {
                Ok(v) => Ok(v),
                Err(e) if e.kind == ErrorKind::AttributeError && args.len() == 3 => Ok(args[2].clone()),
                Err(e) => Err(e),
            }
        }
        "setattr" => {
            arity(name, &args, 3, 3)?;
            let n = args[1].as_str().ok_or_else(|| err(ErrorKind::TypeError, "setattr(): attribute name must be string"))?.to_string();
            interp::setattr(rt, &args[0], &n, args[2].clone())?;
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
            if args[0].as_obj::<IterObj>().is_some() {
                return Ok(args[0].clone());
            }
            Ok(Val::obj(IterObj { items: args[0].iterate(rt)?, pos: std::cell::Cell::new(0) }))
        }
        "next" => {
            arity(name, &args, 1, 2)?;
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
            let q = interp::binop(rt, BinOp::FloorDiv, &args[0], &args[1])?;
            let r = interp::binop(rt, BinOp::Mod, &args[0], &args[1])?;
            Ok(Val::tuple(vec![q, r]))
        }
        "pow" => {
            arity(name, &args, 2, 2)?;
            interp::binop(rt, BinOp::Pow, &args[0], &args[1])
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
            Ok(Val::str(interp::format_value(rt, &args[0], &spec)?))
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

pub fn dict_fromkeys() -> Val {
    NativeFn::val("fromkeys", |rt, args, _| {
        arity("fromkeys", &args, 1, 2)?;
        let v = args.get(1).cloned().unwrap_or(Val::None);
        let mut d = PyDict::new();
        for k in args[0].iterate(rt)?.iter() {
            d.set(k.clone(), v.clone())?;
        }
        Ok(Val::dict(d))
    })
}

// ---------------------------------------------------------------- methods of built-in types

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

fn no_method(v: &Val, name: &str) -> crate::error::SandboxError {
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
            v = interp::getattr(rt, &v, attr)?;
        }
        let v = match conv {
            Some('r') => Val::str(v.repr(rt)?),
            Some('s') => Val::str(v.to_str(rt)?),
            _ => v,
        };
        out.push_str(&interp::format_value(rt, &v, &spec)?);
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
            if v.len() >= interp::MAX_LIST {
                return Err(exc("MemoryError", "the list grew too large for the sandbox"));
            }
            v.push(args.into_iter().next().expect("checked"));
            Ok(Val::None)
        }
        "extend" => {
            arity("list.extend", &args, 1, 1)?;
            let items = args[0].iterate(rt)?;
            let mut v = l.borrow_mut();
            if v.len() + items.len() > interp::MAX_LIST {
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
        "items" => Ok(Val::list(d.borrow().items().into_iter().map(|(k, v)| Val::tuple(vec![k, v])).collect())),
        "keys" => Ok(Val::list(d.borrow().keys())),
        "values" => Ok(Val::list(d.borrow().values())),
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

// ---------------------------------------------------------------- datetime and timedelta

fn datetime_method(rt: &Rt, d: &DateTime, name: &str, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
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
        _ => Err(no_method(&Val::DateTime(*d), name)),
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

/// Float text for messages (`str(1.0)`).
pub fn float_str(f: f64) -> String {
    python_float_repr(f)
}

/// `float(text)` for lookups that take numbers as strings.
pub fn parse_float(s: &str) -> Option<f64> {
    parse_py_float(s)
}
