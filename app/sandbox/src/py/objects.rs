//! The Python objects the interpreter itself creates: functions and closures, bound methods,
//! native (Rust) functions, classes and their instances, exceptions, modules, iterators.

use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use indexmap::IndexMap;

use super::args::arity;
use super::ast::FuncDef;
use crate::source::SourceFile;

use crate::error::{err, exc, exception_parents, is_builtin_exception, ErrorKind, SResult, SandboxError};
use crate::runtime::Rt;
use crate::value::{call_value, no_attr, HashKey, Kwargs, Object, PyDict, Val};

/// A module's (or class body's) names, in definition order.
#[derive(Default)]
pub struct Namespace {
    pub vars: RefCell<IndexMap<Rc<str>, Val>>,
}

impl Namespace {
    pub fn new() -> Rc<Namespace> {
        Rc::new(Namespace::default())
    }
    pub fn get(&self, name: &str) -> Option<Val> {
        self.vars.borrow().get(name).cloned()
    }
    pub fn set(&self, name: &str, v: Val) {
        self.vars.borrow_mut().insert(Rc::from(name), v);
    }
    pub fn remove(&self, name: &str) -> Option<Val> {
        self.vars.borrow_mut().shift_remove(name)
    }
}

/// A function's local variables; `parent` is the enclosing function's (closures).
pub struct Scope {
    pub vars: RefCell<HashMap<Rc<str>, Val>>,
    pub parent: Option<Rc<Scope>>,
}

impl Scope {
    pub fn new(parent: Option<Rc<Scope>>) -> Rc<Scope> {
        Rc::new(Scope { vars: RefCell::new(HashMap::new()), parent })
    }
    /// The innermost scope in the chain that has `name`.
    pub fn find(self: &Rc<Scope>, name: &str) -> Option<Rc<Scope>> {
        let mut cur = Some(self.clone());
        while let Some(s) = cur {
            if s.vars.borrow().contains_key(name) {
                return Some(s);
            }
            cur = s.parent.clone();
        }
        None
    }
}

// ---------------------------------------------------------------- functions

/// A `def` or `lambda` with its defaults and the scopes it closes over.
pub struct Function {
    pub def: Rc<FuncDef>,
    pub file: Rc<SourceFile>,
    pub globals: Rc<Namespace>,
    pub closure: Option<Rc<Scope>>,
    pub defaults: Vec<Val>,
    pub kwdefaults: Vec<(Rc<str>, Val)>,
    pub qualname: String,
    /// Attributes set on the function (`f.calls = 0`, what `functools.wraps` copies).
    pub attrs: RefCell<HashMap<String, Val>>,
}

/// A Rust function exposed to Python (`len`, `render`, `cache.get`, …).
pub struct NativeFn {
    pub name: String,
    pub f: Rc<dyn Fn(&Rt, Vec<Val>, Kwargs) -> SResult<Val>>,
    /// Template lookups must not call it (Django's `alters_data`).
    pub alters_data: bool,
}

impl NativeFn {
    pub fn val(name: impl Into<String>, f: impl Fn(&Rt, Vec<Val>, Kwargs) -> SResult<Val> + 'static) -> Val {
        Val::obj(NativeFn { name: name.into(), f: Rc::new(f), alters_data: false })
    }
    pub fn altering(name: impl Into<String>, f: impl Fn(&Rt, Vec<Val>, Kwargs) -> SResult<Val> + 'static) -> Val {
        Val::obj(NativeFn { name: name.into(), f: Rc::new(f), alters_data: true })
    }
}

impl Object for NativeFn {
    fn type_name(&self) -> String {
        "builtin_function_or_method".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn is_callable(&self) -> bool {
        true
    }
    fn template_alters_data(&self) -> bool {
        self.alters_data
    }
    fn call(&self, rt: &Rt, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
        (self.f)(rt, args, kwargs)
    }
    fn getattr(&self, _rt: &Rt, name: &str) -> SResult<Val> {
        match name {
            "__name__" | "__qualname__" => Ok(Val::str(self.name.rsplit('.').next().unwrap_or(&self.name))),
            _ => Err(no_attr("builtin_function_or_method", name)),
        }
    }
    fn repr(&self, _rt: &Rt) -> SResult<String> {
        Ok(format!("<built-in function {}>", self.name))
    }
}

/// A function bound to an object (`obj.method`).
pub struct BoundMethod {
    pub func: Val,
    pub receiver: Val,
}

impl Object for BoundMethod {
    fn type_name(&self) -> String {
        "method".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn is_callable(&self) -> bool {
        true
    }
    fn template_alters_data(&self) -> bool {
        match &self.func {
            Val::Obj(o) => o.as_any().downcast_ref::<Function>().is_some_and(|f| f.attrs.borrow().get("alters_data").is_some_and(|v| matches!(v, Val::Bool(true)))),
            _ => false,
        }
    }
    fn call(&self, rt: &Rt, mut args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
        args.insert(0, self.receiver.clone());
        call_value(rt, &self.func, args, kwargs)
    }
    fn getattr(&self, rt: &Rt, name: &str) -> SResult<Val> {
        match name {
            "__self__" => Ok(self.receiver.clone()),
            "__func__" => Ok(self.func.clone()),
            _ => match &self.func {
                Val::Obj(o) => o.getattr(rt, name),
                _ => Err(no_attr("method", name)),
            },
        }
    }
    fn repr(&self, rt: &Rt) -> SResult<String> {
        Ok(format!("<bound method {} of {}>", self.func.repr(rt)?, self.receiver.repr(rt)?))
    }
}

/// `@staticmethod` / `@classmethod` / `@property` wrappers in a class body.
pub struct Descriptor {
    pub kind: DescriptorKind,
    pub func: Val,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum DescriptorKind {
    Static,
    Class,
    Property,
}

impl Object for Descriptor {
    fn type_name(&self) -> String {
        match self.kind {
            DescriptorKind::Static => "staticmethod",
            DescriptorKind::Class => "classmethod",
            DescriptorKind::Property => "property",
        }
        .into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn is_callable(&self) -> bool {
        self.kind == DescriptorKind::Static
    }
    fn call(&self, rt: &Rt, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
        call_value(rt, &self.func, args, kwargs)
    }
}

// ---------------------------------------------------------------- classes

/// A class written in Python (`class ArticleTests(TestCase):`), or one of the native
/// classes user classes can derive from (`object`, `Exception`, `TestCase`).
pub struct Class {
    pub name: String,
    pub qualname: String,
    pub bases: Vec<Rc<Class>>,
    pub ns: Rc<Namespace>,
    /// For native classes: what instances are (`Exception`, `TestCase`, …).
    pub native: Option<NativeClass>,
}

/// The behaviour a native base class gives its Python subclasses' instances.
#[derive(Clone)]
pub struct NativeClass {
    pub name: &'static str,
    /// Methods: looked up when neither the instance nor a Python class has the name.
    pub method: fn(rt: &Rt, this: &Rc<Instance>, name: &str) -> Option<SResult<Val>>,
    /// Called with the new instance and the constructor arguments (`Exception(msg)`).
    pub init: Option<fn(rt: &Rt, this: &Rc<Instance>, args: Vec<Val>, kwargs: Kwargs) -> SResult<()>>,
}

impl Class {
    /// Method resolution order: this class, then its bases depth-first, each class once
    /// (C3 for the simple hierarchies the labs use).
    pub fn mro(self: &Rc<Class>) -> Vec<Rc<Class>> {
        let mut out: Vec<Rc<Class>> = Vec::new();
        fn walk(c: &Rc<Class>, out: &mut Vec<Rc<Class>>) {
            if let Some(i) = out.iter().position(|x| Rc::ptr_eq(x, c)) {
                // Keep the last occurrence, so shared bases come after every class deriving from them.
                out.remove(i);
            }
            out.push(c.clone());
            for b in &c.bases {
                walk(b, out);
            }
        }
        walk(self, &mut out);
        out
    }

    /// A class attribute, searched along the MRO.
    pub fn lookup(self: &Rc<Class>, name: &str) -> Option<Val> {
        for c in self.mro() {
            if let Some(v) = c.ns.get(name) {
                return Some(v);
            }
        }
        None
    }

    pub fn native_base(self: &Rc<Class>) -> Option<NativeClass> {
        self.mro().into_iter().find_map(|c| c.native.clone())
    }

    pub fn is_subclass_of(self: &Rc<Class>, other: &Rc<Class>) -> bool {
        self.mro().iter().any(|c| Rc::ptr_eq(c, other) || (c.native.is_some() && c.qualname == other.qualname))
    }

    /// Names of every class in the MRO (and the built-in exception parents of a native
    /// exception base), for `except` matching.
    pub fn class_names(self: &Rc<Class>) -> Vec<String> {
        let mut names = Vec::new();
        for c in self.mro() {
            if c.native.is_some() && is_builtin_exception(&c.qualname) {
                for p in exception_parents(&c.qualname) {
                    if !names.contains(&p) {
                        names.push(p);
                    }
                }
            } else if !names.contains(&c.qualname) {
                names.push(c.qualname.clone());
            }
        }
        if !names.iter().any(|n| n == "object") {
            names.push("object".into());
        }
        names
    }

    pub fn is_exception(self: &Rc<Class>) -> bool {
        self.class_names().iter().any(|n| n == "BaseException")
    }

    pub fn new_native(name: &'static str, qualname: &str, bases: Vec<Rc<Class>>, native: NativeClass) -> Rc<Class> {
        Rc::new(Class { name: name.to_string(), qualname: qualname.to_string(), bases, ns: Namespace::new(), native: Some(native) })
    }
}

/// A class as a Python value.
pub struct ClassVal(pub Rc<Class>);

/// An instance of a Python class.
pub struct Instance {
    pub class: Rc<Class>,
    pub attrs: RefCell<IndexMap<Rc<str>, Val>>,
    /// Native state a native base keeps (a TestCase's client and query captures, …).
    pub native_state: RefCell<Option<Rc<dyn Any>>>,
    me: std::rc::Weak<Instance>,
}

impl Instance {
    pub fn new(class: Rc<Class>) -> Rc<Instance> {
        Rc::new_cyclic(|me| Instance { class, attrs: RefCell::new(IndexMap::new()), native_state: RefCell::new(None), me: me.clone() })
    }
    pub fn rc(&self) -> Rc<Instance> {
        self.me.upgrade().expect("an Instance lives in its Rc")
    }
    pub fn get_attr(&self, name: &str) -> Option<Val> {
        self.attrs.borrow().get(name).cloned()
    }
    pub fn set_attr(&self, name: &str, v: Val) {
        self.attrs.borrow_mut().insert(Rc::from(name), v);
    }
    /// The message of an exception instance: `str(args[0])`, or the args tuple.
    pub fn exception_message(&self, rt: &Rt) -> String {
        match self.get_attr("args") {
            Some(Val::Tuple(a)) if a.len() == 1 => a[0].to_str(rt).unwrap_or_default(),
            Some(Val::Tuple(a)) if a.is_empty() => String::new(),
            Some(v) => v.to_str(rt).unwrap_or_default(),
            None => String::new(),
        }
    }
}

/// An exception raised by Python code or caught by `except … as e`, for classes that are not
/// written in Python (`ValueError("x")`, `Article.DoesNotExist`).
pub struct ExceptionObj {
    pub class: String,
    pub args: Vec<Val>,
    pub message: String,
}

impl Object for ExceptionObj {
    fn type_name(&self) -> String {
        self.class.rsplit('.').next().unwrap_or(&self.class).to_string()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn class_names(&self) -> Vec<String> {
        let mut v = exception_parents(&self.class);
        v.push("object".into());
        v
    }
    fn getattr(&self, _rt: &Rt, name: &str) -> SResult<Val> {
        match name {
            "args" => Ok(Val::tuple(self.args.clone())),
            "message" if self.class == "ValidationError" => Ok(Val::str(&self.message)),
            _ => Err(no_attr(&self.type_name(), name)),
        }
    }
    fn to_str(&self, _rt: &Rt) -> SResult<String> {
        Ok(self.message.clone())
    }
    fn repr(&self, rt: &Rt) -> SResult<String> {
        let inner = self.args.iter().map(|a| a.repr(rt)).collect::<SResult<Vec<_>>>()?.join(", ");
        Ok(format!("{}({inner})", self.type_name()))
    }
}

/// A built-in exception class as a value (`ValueError`, `Http404`, `Article.DoesNotExist`).
pub struct ExceptionClass(pub String);

impl Object for ExceptionClass {
    fn type_name(&self) -> String {
        "type".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn is_callable(&self) -> bool {
        true
    }
    fn call(&self, rt: &Rt, args: Vec<Val>, _kwargs: Kwargs) -> SResult<Val> {
        let message = match args.len() {
            0 => String::new(),
            1 => {
                if self.0 == "KeyError" {
                    args[0].repr(rt)?
                } else {
                    args[0].to_str(rt)?
                }
            }
            _ => Val::tuple(args.clone()).to_str(rt)?,
        };
        Ok(Val::obj(ExceptionObj { class: self.0.clone(), args, message }))
    }
    fn getattr(&self, _rt: &Rt, name: &str) -> SResult<Val> {
        match name {
            "__name__" => Ok(Val::str(self.0.rsplit('.').next().unwrap_or(&self.0))),
            "__qualname__" => Ok(Val::str(&self.0)),
            _ => Err(err(ErrorKind::AttributeError, format!("type object '{}' has no attribute '{name}'", self.0))),
        }
    }
    fn repr(&self, _rt: &Rt) -> SResult<String> {
        Ok(format!("<class '{}'>", self.0))
    }
    fn eq_val(&self, other: &Val) -> Option<bool> {
        Some(other.as_obj::<ExceptionClass>().is_some_and(|o| o.0 == self.0))
    }
    fn hash_key(&self) -> SResult<HashKey> {
        Ok(HashKey::Other(format!("exc:{}", self.0)))
    }
}

// ---------------------------------------------------------------- modules

/// An imported module: a namespace of names.
pub struct ModuleObj {
    pub name: String,
    pub ns: Rc<Namespace>,
}

impl Object for ModuleObj {
    fn type_name(&self) -> String {
        "module".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn getattr(&self, _rt: &Rt, name: &str) -> SResult<Val> {
        if name == "__name__" {
            return Ok(Val::str(&self.name));
        }
        self.ns.get(name).ok_or_else(|| err(ErrorKind::AttributeError, format!("module '{}' has no attribute '{name}'", self.name)))
    }
    fn setattr(&self, _rt: &Rt, name: &str, value: Val) -> SResult<()> {
        self.ns.set(name, value);
        Ok(())
    }
    fn repr(&self, _rt: &Rt) -> SResult<String> {
        Ok(format!("<module '{}'>", self.name))
    }
}

/// A builtin type used as a value (`int`, `str`, `list`, …): callable to convert.
pub struct TypeObj {
    pub name: &'static str,
    pub ctor: fn(&Rt, Vec<Val>, Kwargs) -> SResult<Val>,
}

impl Object for TypeObj {
    fn instances_named(&self) -> Option<String> {
        Some(self.name.to_string())
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
        (self.ctor)(rt, args, kwargs)
    }
    fn getattr(&self, rt: &Rt, name: &str) -> SResult<Val> {
        match name {
            "__name__" => Ok(Val::str(self.name)),
            "fromkeys" if self.name == "dict" => Ok(dict_fromkeys()),
            _ => {
                let _ = rt;
                Err(err(ErrorKind::AttributeError, format!("type object '{}' has no attribute '{name}'", self.name)))
            }
        }
    }
    fn repr(&self, _rt: &Rt) -> SResult<String> {
        Ok(format!("<class '{}'>", self.name))
    }
    fn eq_val(&self, other: &Val) -> Option<bool> {
        Some(other.as_obj::<TypeObj>().is_some_and(|o| o.name == self.name))
    }
    fn hash_key(&self) -> SResult<HashKey> {
        Ok(HashKey::Other(format!("type:{}", self.name)))
    }
}

/// `range(...)`, iterated lazily by `for` so `range(10**9)` in a loop is stopped by the
/// budget rather than exhausting memory.
pub struct RangeObj {
    pub start: i64,
    pub stop: i64,
    pub step: i64,
}

impl RangeObj {
    pub fn len(&self) -> usize {
        let (a, b, s) = (self.start as i128, self.stop as i128, self.step as i128);
        let n = if s > 0 { (b - a + s - 1) / s } else { (a - b - s - 1) / -s };
        n.max(0) as usize
    }
    pub fn get(&self, i: usize) -> i64 {
        self.start + self.step * i as i64
    }
}

/// The most items the sandbox turns a lazy sequence into at once.
pub const MAX_MATERIALIZE: usize = 10_000_000;

impl Object for RangeObj {
    fn type_name(&self) -> String {
        "range".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn iterate(&self, _rt: &Rt) -> SResult<Rc<Vec<Val>>> {
        let n = self.len();
        if n > MAX_MATERIALIZE {
            return Err(exc("MemoryError", format!("range of {n} items is too large for the sandbox")));
        }
        Ok(Rc::new((0..n).map(|i| Val::Int(self.get(i))).collect()))
    }
    fn len(&self, _rt: &Rt) -> SResult<usize> {
        Ok(RangeObj::len(self))
    }
    fn truthy(&self, _rt: &Rt) -> SResult<bool> {
        Ok(RangeObj::len(self) > 0)
    }
    fn contains(&self, _rt: &Rt, item: &Val) -> SResult<bool> {
        let Some(i) = item.as_int() else { return Ok(false) };
        let in_bounds = if self.step > 0 { i >= self.start && i < self.stop } else { i <= self.start && i > self.stop };
        Ok(in_bounds && (i - self.start) % self.step == 0)
    }
    fn getitem(&self, _rt: &Rt, key: &Val) -> SResult<Val> {
        let i = key.as_int().ok_or_else(|| err(ErrorKind::TypeError, "range indices must be integers or slices"))?;
        let n = RangeObj::len(self) as i64;
        let idx = if i < 0 { n + i } else { i };
        if idx < 0 || idx >= n {
            return Err(exc("IndexError", "range object index out of range"));
        }
        Ok(Val::Int(self.get(idx as usize)))
    }
    fn repr(&self, _rt: &Rt) -> SResult<String> {
        Ok(if self.step == 1 { format!("range({}, {})", self.start, self.stop) } else { format!("range({}, {}, {})", self.start, self.stop, self.step) })
    }
}

/// An iterator (`iter(x)`, `enumerate`, `zip` results are lists; this is what `next()` walks).
pub struct IterObj {
    pub items: Rc<Vec<Val>>,
    pub pos: std::cell::Cell<usize>,
}

impl Object for IterObj {
    fn type_name(&self) -> String {
        "iterator".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn iterate(&self, _rt: &Rt) -> SResult<Rc<Vec<Val>>> {
        let p = self.pos.get();
        self.pos.set(self.items.len());
        Ok(Rc::new(self.items[p.min(self.items.len())..].to_vec()))
    }
}

/// `itertools.count(start, step)`: it never ends. `next()`, a `for` loop or comprehension (ended
/// by `break`, or by the work budget), `zip()` beside a finite iterable and `islice()` take its
/// values one at a time; whatever would read it whole says so instead of running forever.
pub struct CountObj {
    pub next: RefCell<Val>,
    pub step: Val,
}

impl CountObj {
    /// What reading it whole gets: it would never end.
    pub fn endless() -> SandboxError {
        err(
            ErrorKind::NotSupported,
            "itertools.count() never ends, so the sandbox cannot read it whole: take values with next(), zip() it with a finite iterable, cut it with islice(), or loop over it with a break",
        )
    }

    /// The current value; the counter moves on by its step. (Start and step are numbers: the
    /// constructor refuses anything else.)
    pub fn advance(&self) -> SResult<Val> {
        let v = self.next.borrow().clone();
        let int = |x: &Val| match x {
            Val::Bool(b) => Some(*b as i64),
            Val::Int(i) => Some(*i),
            _ => None,
        };
        let float = |x: &Val| match x {
            Val::Float(f) => *f,
            other => int(other).unwrap_or(0) as f64,
        };
        let after = match (int(&v), int(&self.step)) {
            (Some(a), Some(b)) => Val::Int(a.checked_add(b).ok_or_else(|| err(ErrorKind::Budget, "itertools.count() passed the sandbox's integer range"))?),
            _ => Val::Float(float(&v) + float(&self.step)),
        };
        *self.next.borrow_mut() = after;
        Ok(v)
    }
}

impl Object for CountObj {
    fn type_name(&self) -> String {
        "count".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn iterate(&self, _rt: &Rt) -> SResult<Rc<Vec<Val>>> {
        Err(CountObj::endless())
    }
    fn repr(&self, rt: &Rt) -> SResult<String> {
        // As CPython: the step is shown unless it is the integer 1.
        let next = self.next.borrow().repr(rt)?;
        Ok(match self.step {
            Val::Int(1) => format!("count({next})"),
            ref step => format!("count({next}, {})", step.repr(rt)?),
        })
    }
}

/// A generator a native function returns (`Paginator.get_elided_page_range`): nothing runs
/// until it is iterated, once.
pub struct GeneratorObj {
    pub qualname: String,
    pub thunk: Rc<dyn Fn(&Rt) -> SResult<Vec<Val>>>,
    pub done: std::cell::Cell<bool>,
}

impl Object for GeneratorObj {
    fn type_name(&self) -> String {
        "generator".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn iterate(&self, rt: &Rt) -> SResult<Rc<Vec<Val>>> {
        // A generator runs once; iterating it again gives nothing.
        if self.done.replace(true) {
            return Ok(Rc::new(vec![]));
        }
        Ok(Rc::new((self.thunk)(rt)?))
    }
    fn repr(&self, _rt: &Rt) -> SResult<String> {
        Ok(format!("<generator object {} at 0x{:x}>", self.qualname, self as *const Self as usize))
    }
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
