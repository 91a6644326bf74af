//! The dynamic values the learner's Python and the templates pass around.
//!
//! Plain data are variants of [`Val`] with Python's semantics: lists and dicts are shared and
//! mutable (two names can hold one list), tuples and strings are not. Everything with
//! behaviour (functions, classes, model instances, querysets, requests, …) is an [`Object`]:
//! the interpreter, the template engine and the ORM reach it through one narrow trait, so
//! laziness (when a query fires) lives in one place, the object.

use std::any::Any;
use std::cell::RefCell;
use std::cmp::Ordering;
use std::fmt;
use std::rc::Rc;

use indexmap::IndexMap;

use crate::datetime::DateTime;
use crate::error::{err, exc, ErrorKind, SResult, SandboxError};
use crate::pyfmt::{python_float_repr, python_str_repr};
use crate::runtime::Rt;

pub type Kwargs = Vec<(String, Val)>;
pub type ListRef = Rc<RefCell<Vec<Val>>>;
pub type DictRef = Rc<RefCell<PyDict>>;

/// A value an error carries (`SandboxError::value`): the exception object Python raised.
pub fn opaque(v: &Val) -> Rc<dyn std::any::Any> {
    Rc::new(v.clone())
}

/// The exception object an error carries, if any.
pub fn carried(e: &crate::error::SandboxError) -> Option<&Val> {
    e.value.as_ref().and_then(|a| a.downcast_ref::<Val>())
}

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
    List(ListRef),
    Tuple(Rc<Vec<Val>>),
    Dict(DictRef),
    Set(DictRef),
    Obj(Rc<dyn Object>),
}

/// Python's binary operators, as objects may overload them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    FloorDiv,
    Mod,
    Pow,
    LShift,
    RShift,
    BitOr,
    BitXor,
    BitAnd,
    MatMul,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::FloorDiv => "//",
            BinOp::Mod => "%",
            BinOp::Pow => "**",
            BinOp::LShift => "<<",
            BinOp::RShift => ">>",
            BinOp::BitOr => "|",
            BinOp::BitXor => "^",
            BinOp::BitAnd => "&",
            BinOp::MatMul => "@",
        }
    }
}

/// Behaviour shared by everything Django-like or Python-like that is not plain data.
/// Defaults answer as Python would for an object that lacks the feature.
pub trait Object {
    /// The Python type name, used in messages (`'QuerySet' object has no attribute 'x'`).
    fn type_name(&self) -> String;
    fn as_any(&self) -> &dyn Any;

    /// Python attribute access `obj.name` (no call).
    fn getattr(&self, _rt: &Rt, name: &str) -> SResult<Val> {
        Err(no_attr(&self.type_name(), name))
    }
    /// `obj.name = value`.
    fn setattr(&self, _rt: &Rt, name: &str, _value: Val) -> SResult<()> {
        Err(err(ErrorKind::AttributeError, format!("'{}' object has no attribute '{name}' (it cannot be set)", self.type_name())))
    }
    /// Python method call `obj.name(*args, **kwargs)`.
    fn call_method(&self, rt: &Rt, name: &str, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
        let attr = self.getattr(rt, name)?;
        call_value(rt, &attr, args, kwargs)
    }
    /// Calling the object itself.
    fn call(&self, _rt: &Rt, _args: Vec<Val>, _kwargs: Kwargs) -> SResult<Val> {
        Err(err(ErrorKind::TypeError, format!("'{}' object is not callable", self.type_name())))
    }
    fn is_callable(&self) -> bool {
        false
    }
    /// Told the line of the project's Python that produced it, while a profile is armed
    /// (a QuerySet remembers it; see `profiler.rs`).
    fn built_at(&self, _line: &dyn Fn() -> crate::profiler::LineKey) {}
    /// Django template lookup `{{ obj.name }}`: the attribute, called with no arguments when it
    /// is a method. `Ok(None)` means "invalid variable", which Django renders as "".
    fn template_attr(&self, rt: &Rt, name: &str) -> SResult<Option<Val>> {
        if name.starts_with('_') {
            return Ok(None);
        }
        match self.getattr(rt, name) {
            Ok(Val::Obj(o)) if o.is_callable() => {
                if o.template_alters_data() {
                    return Ok(None);
                }
                match o.call(rt, vec![], vec![]) {
                    Ok(v) => Ok(Some(v)),
                    // A method that needs arguments is an invalid variable, as in Django.
                    Err(e) if e.kind == ErrorKind::TypeError && e.message.contains("argument") => Ok(None),
                    Err(e) => Err(e),
                }
            }
            Ok(v) => Ok(Some(v)),
            Err(e) if e.kind == ErrorKind::AttributeError => Ok(None),
            Err(e) => Err(e),
        }
    }
    /// Django refuses to call methods marked `alters_data` from templates (`save`, `delete`).
    fn template_alters_data(&self) -> bool {
        false
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
    fn to_str(&self, rt: &Rt) -> SResult<String> {
        self.repr(rt)
    }
    /// `repr(obj)`.
    fn repr(&self, _rt: &Rt) -> SResult<String> {
        Ok(format!("<{} object>", self.type_name()))
    }
    /// `obj[key]`.
    fn getitem(&self, _rt: &Rt, _key: &Val) -> SResult<Val> {
        Err(err(ErrorKind::TypeError, format!("'{}' object is not subscriptable", self.type_name())))
    }
    /// `obj[key] = value`.
    fn setitem(&self, _rt: &Rt, _key: &Val, _value: Val) -> SResult<()> {
        Err(err(ErrorKind::TypeError, format!("'{}' object does not support item assignment", self.type_name())))
    }
    /// `obj[start:stop:step]`.
    fn getslice(&self, _rt: &Rt, _start: Option<i64>, _stop: Option<i64>, _step: Option<i64>) -> SResult<Val> {
        Err(err(ErrorKind::TypeError, format!("'{}' object is not subscriptable", self.type_name())))
    }
    /// `item in obj`; by default by iterating.
    fn contains(&self, rt: &Rt, item: &Val) -> SResult<bool> {
        Ok(self.iterate(rt)?.iter().any(|x| x.py_eq(item)))
    }
    /// Python `==` against another value; `None` = identity.
    fn eq_val(&self, _other: &Val) -> Option<bool> {
        None
    }
    /// Ordering against another value (`<`), when the type defines one.
    fn cmp_val(&self, _other: &Val) -> Option<Ordering> {
        None
    }
    /// The dict key of this object; by default its identity.
    fn hash_key(&self) -> SResult<HashKey> {
        Ok(HashKey::Ident(self as *const Self as *const u8 as usize))
    }
    /// The primary key, for objects that are model instances.
    fn pk(&self) -> Option<i64> {
        None
    }
    /// `self <op> other` (or `other <op> self` when `reflected`); `None` = not supported.
    fn binop(&self, _rt: &Rt, _op: BinOp, _other: &Val, _reflected: bool) -> Option<SResult<Val>> {
        None
    }
    /// `-x`, `~x`, `+x`; `None` = not supported.
    fn unary(&self, _rt: &Rt, _op: char) -> Option<SResult<Val>> {
        None
    }
    /// `with obj as x:` — what `x` is bound to.
    fn enter(&self, _rt: &Rt) -> SResult<Val> {
        Err(err(ErrorKind::TypeError, format!("'{}' object does not support the context manager protocol", self.type_name())))
    }
    /// Leaving a `with` block; `error` is the exception leaving it. `Ok(true)` suppresses it.
    fn exit(&self, _rt: &Rt, _error: Option<&SandboxError>) -> SResult<bool> {
        Ok(false)
    }
    /// A copy as pickling and unpickling would make it (what the cache stores); `None` when
    /// Django could not pickle it.
    fn pickle(&self, _rt: &Rt) -> Option<SResult<Val>> {
        None
    }
    /// The class-like names this object is an instance of, most derived first (for
    /// `isinstance` and `except`).
    fn class_names(&self) -> Vec<String> {
        vec![self.type_name(), "object".into()]
    }
    /// For lazy stand-ins (`request.user`, a `SimpleLazyObject`): the real object, loaded.
    fn unwrap_lazy(&self, _rt: &Rt) -> Option<SResult<Val>> {
        None
    }
    /// What `type(obj)` returns when the object has a class value of its own (a model
    /// instance's model class); `None` for a plain named type.
    fn class_value(&self) -> Option<Val> {
        None
    }
    /// For class-like values (a model class, `datetime.datetime`): the name that instances
    /// list in their `class_names`, so `isinstance` can match them.
    fn instances_named(&self) -> Option<String> {
        None
    }
}

/// The value itself, or what a lazy stand-in wraps (loading it).
pub fn resolve_lazy(rt: &Rt, v: Val) -> SResult<Val> {
    match &v {
        Val::Obj(o) => match o.unwrap_lazy(rt) {
            Some(r) => r,
            None => Ok(v),
        },
        _ => Ok(v),
    }
}

pub fn no_attr(type_name: &str, name: &str) -> SandboxError {
    err(ErrorKind::AttributeError, format!("'{type_name}' object has no attribute '{name}'"))
}

/// Calls any callable value.
pub fn call_value(rt: &Rt, f: &Val, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
    match f {
        Val::Obj(o) => o.call(rt, args, kwargs),
        other => Err(err(ErrorKind::TypeError, format!("'{}' object is not callable", other.type_name()))),
    }
}

// ---------------------------------------------------------------- hashing and dicts

/// What a value is as a dict key or set member. Equal values (as Python's `==` sees them)
/// have equal keys: `1`, `1.0` and `True` are one key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum HashKey {
    None,
    Int(i64),
    FloatBits(u64),
    Str(Rc<str>),
    Tuple(Vec<HashKey>),
    DateTime(DateTime),
    /// A model instance: its model and primary key.
    Model(String, i64),
    /// Anything else: identity.
    Ident(usize),
    /// A type-specific key (Q objects, F expressions, …).
    Other(String),
}

impl Val {
    pub fn hash_key(&self) -> SResult<HashKey> {
        Ok(match self {
            Val::None => HashKey::None,
            Val::Bool(b) => HashKey::Int(*b as i64),
            Val::Int(i) => HashKey::Int(*i),
            Val::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e18 => HashKey::Int(*f as i64),
            Val::Float(f) => HashKey::FloatBits(f.to_bits()),
            Val::Str(s) | Val::SafeStr(s) => HashKey::Str(s.clone()),
            Val::DateTime(d) => HashKey::DateTime(*d),
            Val::Tuple(items) => HashKey::Tuple(items.iter().map(Val::hash_key).collect::<SResult<_>>()?),
            Val::List(_) | Val::Dict(_) | Val::Set(_) => {
                return Err(err(ErrorKind::TypeError, format!("unhashable type: '{}'", self.type_name())))
            }
            Val::Obj(o) => o.hash_key()?,
        })
    }
}

/// An insertion-ordered dict with any hashable keys, as Python's `dict`.
#[derive(Clone, Default)]
pub struct PyDict {
    map: IndexMap<HashKey, (Val, Val)>,
}

impl PyDict {
    pub fn new() -> PyDict {
        PyDict::default()
    }
    pub fn len(&self) -> usize {
        self.map.len()
    }
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
    pub fn get(&self, key: &Val) -> SResult<Option<Val>> {
        Ok(self.map.get(&key.hash_key()?).map(|(_, v)| v.clone()))
    }
    pub fn get_str(&self, key: &str) -> Option<Val> {
        self.map.get(&HashKey::Str(Rc::from(key))).map(|(_, v)| v.clone())
    }
    pub fn contains(&self, key: &Val) -> SResult<bool> {
        Ok(self.map.contains_key(&key.hash_key()?))
    }
    pub fn set(&mut self, key: Val, value: Val) -> SResult<()> {
        let k = key.hash_key()?;
        match self.map.get_mut(&k) {
            // Python keeps the first key object and its position.
            Some(slot) => slot.1 = value,
            None => {
                self.map.insert(k, (key, value));
            }
        }
        Ok(())
    }
    pub fn set_str(&mut self, key: &str, value: Val) {
        let k: Rc<str> = Rc::from(key);
        self.map.insert(HashKey::Str(k.clone()), (Val::Str(k), value));
    }
    /// `set_str` for a key expected at position `at` (a dict this code built, updated in
    /// place): replaces the value there without hashing or allocating when the key is there.
    pub fn set_str_at(&mut self, at: usize, key: &str, value: Val) {
        match self.map.get_index_mut(at) {
            Some((HashKey::Str(k), slot)) if &**k == key => slot.1 = value,
            _ => self.set_str(key, value),
        }
    }
    pub fn remove(&mut self, key: &Val) -> SResult<Option<Val>> {
        Ok(self.map.shift_remove(&key.hash_key()?).map(|(_, v)| v))
    }
    pub fn clear(&mut self) {
        self.map.clear();
    }
    pub fn keys(&self) -> Vec<Val> {
        self.map.values().map(|(k, _)| k.clone()).collect()
    }
    pub fn values(&self) -> Vec<Val> {
        self.map.values().map(|(_, v)| v.clone()).collect()
    }
    pub fn items(&self) -> Vec<(Val, Val)> {
        self.map.values().cloned().collect()
    }
    pub fn pop_last(&mut self) -> Option<(Val, Val)> {
        self.map.pop().map(|(_, kv)| kv)
    }
    pub fn from_pairs(pairs: impl IntoIterator<Item = (Val, Val)>) -> SResult<PyDict> {
        let mut d = PyDict::new();
        for (k, v) in pairs {
            d.set(k, v)?;
        }
        Ok(d)
    }
}

// ---------------------------------------------------------------- constructors and accessors

impl Val {
    pub fn str(s: impl AsRef<str>) -> Val {
        Val::Str(Rc::from(s.as_ref()))
    }
    pub fn safe(s: impl AsRef<str>) -> Val {
        Val::SafeStr(Rc::from(s.as_ref()))
    }
    pub fn list(v: Vec<Val>) -> Val {
        Val::List(Rc::new(RefCell::new(v)))
    }
    pub fn tuple(v: Vec<Val>) -> Val {
        Val::Tuple(Rc::new(v))
    }
    pub fn dict(d: PyDict) -> Val {
        Val::Dict(Rc::new(RefCell::new(d)))
    }
    /// A dict with string keys, in the given order.
    pub fn str_dict<S: AsRef<str>>(pairs: impl IntoIterator<Item = (S, Val)>) -> Val {
        let mut d = PyDict::new();
        for (k, v) in pairs {
            d.set_str(k.as_ref(), v);
        }
        Val::dict(d)
    }
    pub fn set_of(items: Vec<Val>) -> SResult<Val> {
        let mut d = PyDict::new();
        for i in items {
            d.set(i, Val::None)?;
        }
        Ok(Val::Set(Rc::new(RefCell::new(d))))
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
            Val::Str(_) => "str".into(),
            Val::SafeStr(_) => "SafeString".into(),
            Val::DateTime(_) => "datetime".into(),
            Val::List(_) => "list".into(),
            Val::Tuple(_) => "tuple".into(),
            Val::Dict(_) => "dict".into(),
            Val::Set(_) => "set".into(),
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

    pub fn is_none(&self) -> bool {
        matches!(self, Val::None)
    }

    /// The items of a list or tuple (a snapshot), without evaluating anything.
    pub fn seq_items(&self) -> Option<Vec<Val>> {
        match self {
            Val::List(l) => Some(l.borrow().clone()),
            Val::Tuple(t) => Some(t.as_ref().clone()),
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
            Val::List(v) => !v.borrow().is_empty(),
            Val::Tuple(v) => !v.is_empty(),
            Val::Dict(d) | Val::Set(d) => !d.borrow().is_empty(),
            Val::Obj(o) => o.truthy(rt)?,
        })
    }

    /// `iter(x)` as a list (querysets fetch and cache their rows).
    pub fn iterate(&self, rt: &Rt) -> SResult<Rc<Vec<Val>>> {
        match self {
            Val::List(v) => Ok(Rc::new(v.borrow().clone())),
            Val::Tuple(v) => Ok(v.clone()),
            Val::Dict(d) | Val::Set(d) => Ok(Rc::new(d.borrow().keys())),
            Val::Str(s) | Val::SafeStr(s) => Ok(Rc::new(s.chars().map(|c| Val::str(c.to_string())).collect())),
            Val::Obj(o) => o.iterate(rt),
            other => Err(err(ErrorKind::TypeError, format!("'{}' object is not iterable", other.type_name()))),
        }
    }

    /// `len(x)`.
    pub fn len(&self, rt: &Rt) -> SResult<usize> {
        match self {
            Val::List(v) => Ok(v.borrow().len()),
            Val::Tuple(v) => Ok(v.len()),
            Val::Dict(d) | Val::Set(d) => Ok(d.borrow().len()),
            Val::Str(s) | Val::SafeStr(s) => Ok(s.chars().count()),
            Val::Obj(o) => o.len(rt),
            other => Err(err(ErrorKind::TypeError, format!("object of type '{}' has no len()", other.type_name()))),
        }
    }

    /// `str(x)`, as Python prints a value (and Django before escaping).
    pub fn to_str(&self, rt: &Rt) -> SResult<String> {
        Ok(match self {
            Val::Str(s) | Val::SafeStr(s) => s.to_string(),
            Val::DateTime(d) => d.to_string(),
            Val::Obj(o) => o.to_str(rt)?,
            other => other.repr(rt)?,
        })
    }

    /// `repr()` of the values that need no runtime: None, booleans, numbers, strings.
    pub fn scalar_repr(&self) -> Option<String> {
        Some(match self {
            Val::None => "None".into(),
            Val::Bool(true) => "True".into(),
            Val::Bool(false) => "False".into(),
            Val::Int(i) => i.to_string(),
            Val::Float(f) => python_float_repr(*f),
            Val::Str(s) | Val::SafeStr(s) => python_str_repr(s),
            _ => return None,
        })
    }

    /// `repr(x)`.
    pub fn repr(&self, rt: &Rt) -> SResult<String> {
        Ok(match self {
            Val::None | Val::Bool(_) | Val::Int(_) | Val::Float(_) | Val::Str(_) | Val::SafeStr(_) => {
                self.scalar_repr().expect("a scalar")
            }
            Val::DateTime(d) => d.repr(),
            Val::List(v) => format!("[{}]", join_reprs(rt, &v.borrow())?),
            Val::Tuple(v) if v.len() == 1 => format!("({},)", v[0].repr(rt)?),
            Val::Tuple(v) => format!("({})", join_reprs(rt, v)?),
            Val::Dict(d) => {
                let d = d.borrow();
                let parts = d.items().iter().map(|(k, v)| Ok(format!("{}: {}", k.repr(rt)?, v.repr(rt)?))).collect::<SResult<Vec<_>>>()?;
                format!("{{{}}}", parts.join(", "))
            }
            Val::Set(d) => {
                let d = d.borrow();
                if d.is_empty() {
                    "set()".into()
                } else {
                    format!("{{{}}}", join_reprs(rt, &d.keys())?)
                }
            }
            Val::Obj(o) => o.repr(rt)?,
        })
    }

    /// `x[key]`.
    pub fn getitem(&self, rt: &Rt, key: &Val) -> SResult<Val> {
        match (self, key) {
            (Val::List(_) | Val::Tuple(_) | Val::Str(_) | Val::SafeStr(_), Val::Obj(o)) if o.as_any().is::<SliceVal>() => {
                let s = o.as_any().downcast_ref::<SliceVal>().expect("checked");
                self.getslice(rt, s.0, s.1, s.2)
            }
            (Val::List(_) | Val::Tuple(_), k) => {
                let items = self.seq_items().expect("a sequence");
                let what = if matches!(self, Val::List(_)) { "list" } else { "tuple" };
                let i = k.as_int().ok_or_else(|| {
                    err(ErrorKind::TypeError, format!("{what} indices must be integers or slices, not {}", k.type_name()))
                })?;
                let idx = if i < 0 { items.len() as i64 + i } else { i };
                items
                    .get(idx as usize)
                    .filter(|_| idx >= 0)
                    .cloned()
                    .ok_or_else(|| exc("IndexError", format!("{what} index out of range")))
            }
            (Val::Str(s) | Val::SafeStr(s), k) => {
                let i = k.as_int().ok_or_else(|| {
                    err(ErrorKind::TypeError, format!("string indices must be integers, not '{}'", k.type_name()))
                })?;
                let n = s.chars().count() as i64;
                let idx = if i < 0 { n + i } else { i };
                if idx < 0 || idx >= n {
                    return Err(exc("IndexError", "string index out of range"));
                }
                Ok(Val::str(s.chars().nth(idx as usize).expect("in range").to_string()))
            }
            (Val::Dict(d), k) => match d.borrow().get(k)? {
                Some(v) => Ok(v),
                None => Err(key_error(rt, k)),
            },
            (Val::Obj(o), k) => o.getitem(rt, k),
            (other, _) => Err(err(ErrorKind::TypeError, format!("'{}' object is not subscriptable", other.type_name()))),
        }
    }

    /// `x[key] = value`.
    pub fn setitem(&self, rt: &Rt, key: &Val, value: Val) -> SResult<()> {
        match self {
            Val::List(l) => {
                let i = key.as_int().ok_or_else(|| {
                    err(ErrorKind::TypeError, format!("list indices must be integers or slices, not {}", key.type_name()))
                })?;
                let mut l = l.borrow_mut();
                let idx = if i < 0 { l.len() as i64 + i } else { i };
                if idx < 0 || idx as usize >= l.len() {
                    return Err(exc("IndexError", "list assignment index out of range"));
                }
                l[idx as usize] = value;
                Ok(())
            }
            Val::Dict(d) => d.borrow_mut().set(key.clone(), value),
            Val::Obj(o) => o.setitem(rt, key, value),
            other => Err(err(ErrorKind::TypeError, format!("'{}' object does not support item assignment", other.type_name()))),
        }
    }

    /// `x[start:stop:step]`.
    pub fn getslice(&self, rt: &Rt, start: Option<i64>, stop: Option<i64>, step: Option<i64>) -> SResult<Val> {
        match self {
            Val::List(v) => Ok(Val::list(slice_vec(&v.borrow(), start, stop, step)?)),
            Val::Tuple(v) => Ok(Val::Tuple(Rc::new(slice_vec(v, start, stop, step)?))),
            Val::Str(s) | Val::SafeStr(s) => {
                let chars: Vec<Val> = s.chars().map(|c| Val::str(c.to_string())).collect();
                let out: String = slice_vec(&chars, start, stop, step)?.iter().filter_map(|c| c.as_str().map(str::to_string)).collect();
                Ok(if matches!(self, Val::SafeStr(_)) { Val::safe(out) } else { Val::str(out) })
            }
            Val::Obj(o) => o.getslice(rt, start, stop, step),
            other => Err(err(ErrorKind::TypeError, format!("'{}' object is not subscriptable", other.type_name()))),
        }
    }

    /// `item in self`.
    pub fn contains(&self, rt: &Rt, item: &Val) -> SResult<bool> {
        match self {
            Val::List(v) => Ok(v.borrow().iter().any(|x| x.py_eq(item))),
            Val::Tuple(v) => Ok(v.iter().any(|x| x.py_eq(item))),
            Val::Dict(d) | Val::Set(d) => d.borrow().contains(item),
            Val::Str(s) | Val::SafeStr(s) => match item.as_str() {
                Some(sub) => Ok(s.contains(sub)),
                None => Err(err(
                    ErrorKind::TypeError,
                    format!("'in <string>' requires string as left operand, not {}", item.type_name()),
                )),
            },
            Val::Obj(o) => o.contains(rt, item),
            other => Err(err(ErrorKind::TypeError, format!("argument of type '{}' is not iterable", other.type_name()))),
        }
    }

    /// Python `==`.
    pub fn py_eq(&self, other: &Val) -> bool {
        match (self, other) {
            (Val::None, Val::None) => true,
            (Val::Str(a) | Val::SafeStr(a), Val::Str(b) | Val::SafeStr(b)) => a == b,
            (Val::DateTime(a), Val::DateTime(b)) => a == b,
            (Val::List(a), Val::List(b)) => {
                if Rc::ptr_eq(a, b) {
                    return true;
                }
                let (a, b) = (a.borrow(), b.borrow());
                a.len() == b.len() && a.iter().zip(b.iter()).all(|(x, y)| x.py_eq(y))
            }
            (Val::Tuple(a), Val::Tuple(b)) => a.len() == b.len() && a.iter().zip(b.iter()).all(|(x, y)| x.py_eq(y)),
            (Val::Dict(a), Val::Dict(b)) | (Val::Set(a), Val::Set(b)) => {
                if Rc::ptr_eq(a, b) {
                    return true;
                }
                let (a, b) = (a.borrow(), b.borrow());
                a.len() == b.len()
                    && a.items().iter().all(|(k, v)| matches!(b.get(k), Ok(Some(w)) if w.py_eq(v)))
            }
            (Val::Obj(a), b) => match a.eq_val(b) {
                Some(r) => r,
                None => match b {
                    Val::Obj(bo) => match bo.eq_val(self) {
                        Some(r) => r,
                        None => std::ptr::eq(Rc::as_ptr(a) as *const u8, Rc::as_ptr(bo) as *const u8),
                    },
                    _ => false,
                },
            },
            (a, Val::Obj(b)) => b.eq_val(a).unwrap_or(false),
            (a, b) => match (a.as_f64(), b.as_f64()) {
                (Some(x), Some(y)) => match (a, b) {
                    (Val::Int(x), Val::Int(y)) => x == y,
                    _ => x == y,
                },
                _ => false,
            },
        }
    }

    /// Python ordering (`<`), `None` when the types cannot be compared.
    pub fn py_cmp(&self, other: &Val) -> Option<Ordering> {
        match (self, other) {
            (Val::Str(a) | Val::SafeStr(a), Val::Str(b) | Val::SafeStr(b)) => Some(a.cmp(b)),
            (Val::DateTime(a), Val::DateTime(b)) => Some(a.cmp(b)),
            (Val::List(a), Val::List(b)) => cmp_seq(&a.borrow(), &b.borrow()),
            (Val::Tuple(a), Val::Tuple(b)) => cmp_seq(a, b),
            (Val::Int(a), Val::Int(b)) => Some(a.cmp(b)),
            (Val::Obj(a), b) => a.cmp_val(b),
            (a, Val::Obj(b)) => b.cmp_val(a).map(Ordering::reverse),
            (a, b) => a.as_f64()?.partial_cmp(&b.as_f64()?),
        }
    }

    /// `<` with Python's TypeError when the types do not order.
    pub fn py_lt_checked(&self, other: &Val, op: &str) -> SResult<Ordering> {
        self.py_cmp(other).ok_or_else(|| {
            err(
                ErrorKind::TypeError,
                format!("'{op}' not supported between instances of '{}' and '{}'", self.type_name(), other.type_name()),
            )
        })
    }
}

fn cmp_seq(a: &[Val], b: &[Val]) -> Option<Ordering> {
    for (x, y) in a.iter().zip(b.iter()) {
        if x.py_eq(y) {
            continue;
        }
        return x.py_cmp(y);
    }
    Some(a.len().cmp(&b.len()))
}

fn join_reprs(rt: &Rt, items: &[Val]) -> SResult<String> {
    Ok(items.iter().map(|x| x.repr(rt)).collect::<SResult<Vec<_>>>()?.join(", "))
}

/// Python's `KeyError: 'x'` (the message is the key's repr).
pub fn key_error(rt: &Rt, key: &Val) -> SandboxError {
    exc("KeyError", key.repr(rt).unwrap_or_else(|_| "?".into()))
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
            Val::List(v) => f.debug_list().entries(v.borrow().iter()).finish(),
            Val::Tuple(v) => f.debug_tuple("").field(&v).finish(),
            Val::Dict(d) => f.debug_map().entries(d.borrow().items()).finish(),
            Val::Set(d) => f.debug_set().entries(d.borrow().keys()).finish(),
            Val::Obj(o) => write!(f, "<{}>", o.type_name()),
        }
    }
}

/// A slice object (`x[a:b:c]` as a value, e.g. passed to `__getitem__`).
pub struct SliceVal(pub Option<i64>, pub Option<i64>, pub Option<i64>);

impl Object for SliceVal {
    fn type_name(&self) -> String {
        "slice".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn repr(&self, _rt: &Rt) -> SResult<String> {
        let s = |x: Option<i64>| x.map(|i| i.to_string()).unwrap_or_else(|| "None".into());
        Ok(format!("slice({}, {}, {})", s(self.0), s(self.1), s(self.2)))
    }
}

pub fn slice_vec(v: &[Val], start: Option<i64>, stop: Option<i64>, step: Option<i64>) -> SResult<Vec<Val>> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_numbers_are_one_dict_key() {
        let mut d = PyDict::new();
        d.set(Val::Int(1), Val::str("a")).unwrap();
        d.set(Val::Float(1.0), Val::str("b")).unwrap();
        d.set(Val::Bool(true), Val::str("c")).unwrap();
        assert_eq!(d.len(), 1);
        assert!(matches!(d.get(&Val::Int(1)).unwrap(), Some(Val::Str(s)) if &*s == "c"));
        assert!(d.set(Val::list(vec![]), Val::None).is_err());
    }
}
