//! Classes the learner defines and their instances: making an instance (`__init__`), looking
//! up an attribute through the class and its bases (methods bound, properties called),
//! `super()`, and exceptions as values (`raise`, `except E as e`).

use std::any::Any;
use std::rc::Rc;

use crate::error::{err, exc, ErrorKind, SResult, SandboxError};
use crate::runtime::Rt;
use crate::value::{call_value, HashKey, Kwargs, Object, PyDict, Val};
use super::objects::*;

/// Whether an `except <cls>` clause catches `e`.
pub fn exception_matches(rt: &Rt, e: &SandboxError, cls: &Val) -> SResult<bool> {
    if let Val::Tuple(items) = cls {
        for c in items.iter() {
            if exception_matches(rt, e, c)? {
                return Ok(true);
            }
        }
        return Ok(false);
    }
    let names = match crate::value::carried(e) {
        Some(Val::Obj(o)) => o.class_names(),
        _ => crate::error::exception_parents(&e.exc),
    };
    if let Some(c) = cls.as_obj::<ExceptionClass>() {
        return Ok(names.iter().any(|n| *n == c.0));
    }
    if let Some(c) = cls.as_obj::<ClassVal>() {
        if let Some(v) = crate::value::carried(e) {
            if let Some(i) = v.as_obj::<Instance>() {
                return Ok(i.class.is_subclass_of(&c.0));
            }
        }
        return Ok(names.iter().any(|n| *n == c.0.qualname));
    }
    if let Some(t) = cls.as_obj::<TypeObj>() {
        if crate::error::is_builtin_exception(t.name) {
            return Ok(names.iter().any(|n| *n == t.name));
        }
    }
    let _ = rt;
    Err(err(ErrorKind::TypeError, "catching classes that do not inherit from BaseException is not allowed"))
}

/// The value `except … as e` binds.
pub fn exception_value(rt: &Rt, e: &SandboxError) -> Val {
    if let Some(v) = crate::value::carried(e) {
        return v.clone();
    }
    let _ = rt;
    let args = if e.message.is_empty() { vec![] } else { vec![Val::str(&e.message)] };
    Val::obj(ExceptionObj { class: e.exc.to_string(), args, message: e.message.clone() })
}

/// Creates an instance of a Python class and runs its `__init__`.
pub fn instantiate(rt: &Rt, class: &Rc<Class>, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
    let inst = Instance::new(class.clone());
    let v = Val::Obj(inst.clone());
    if let Some(init) = class.lookup("__init__") {
        let r = call_value(rt, &init, [vec![v.clone()], args].concat(), kwargs)?;
        if !r.is_none() {
            return Err(err(ErrorKind::TypeError, format!("__init__() should return None, not '{}'", r.type_name())));
        }
        return Ok(v);
    }
    match class.native_base().and_then(|n| n.init) {
        Some(init) => init(rt, &inst, args, kwargs)?,
        None => {
            if !args.is_empty() || !kwargs.is_empty() {
                return Err(err(ErrorKind::TypeError, format!("{}() takes no arguments", class.name)));
            }
        }
    }
    Ok(v)
}

pub fn instance_getattr(rt: &Rt, inst: &Rc<Instance>, name: &str) -> SResult<Val> {
    let me = Val::Obj(inst.clone());
    match name {
        "__class__" => return Ok(Val::obj(ClassVal(inst.class.clone()))),
        "__dict__" => {
            let d = PyDict::from_pairs(inst.attrs.borrow().iter().map(|(k, v)| (Val::Str(k.clone()), v.clone())))?;
            return Ok(Val::dict(d));
        }
        _ => {}
    }
    let class_attr = inst.class.lookup(name);
    if let Some(v) = &class_attr {
        if let Some(d) = v.as_obj::<Descriptor>() {
            if d.kind == DescriptorKind::Property {
                return call_value(rt, &d.func, vec![me], vec![]);
            }
        }
    }
    if let Some(v) = inst.get_attr(name) {
        return Ok(v);
    }
    if let Some(v) = class_attr {
        return Ok(bind_class_attr(v, &me, &inst.class));
    }
    if let Some(native) = inst.class.native_base() {
        if let Some(r) = (native.method)(rt, inst, name) {
            return r;
        }
    }
    if let Some(ga) = inst.class.lookup("__getattr__") {
        return call_value(rt, &ga, vec![me, Val::str(name)], vec![]);
    }
    Err(err(ErrorKind::AttributeError, format!("'{}' object has no attribute '{name}'", inst.class.name)))
}

fn bind_class_attr(v: Val, receiver: &Val, class: &Rc<Class>) -> Val {
    match &v {
        Val::Obj(o) => {
            if o.as_any().is::<Function>() {
                return Val::obj(BoundMethod { func: v.clone(), receiver: receiver.clone() });
            }
            if let Some(d) = o.as_any().downcast_ref::<Descriptor>() {
                return match d.kind {
                    DescriptorKind::Static => d.func.clone(),
                    DescriptorKind::Class => Val::obj(BoundMethod { func: d.func.clone(), receiver: Val::obj(ClassVal(class.clone())) }),
                    DescriptorKind::Property => v.clone(),
                };
            }
            v
        }
        _ => v,
    }
}

/// `super()` inside a method: the rest of the MRO after the method's class.
pub struct SuperObj {
    pub after: Rc<Class>,
    pub receiver: Rc<Instance>,
}

impl crate::value::Object for SuperObj {
    fn type_name(&self) -> String {
        "super".into()
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
    fn getattr(&self, rt: &Rt, name: &str) -> SResult<Val> {
        let mro = self.receiver.class.mro();
        let pos = mro.iter().position(|c| Rc::ptr_eq(c, &self.after)).map(|p| p + 1).unwrap_or(mro.len());
        let me = Val::Obj(self.receiver.clone());
        for c in &mro[pos..] {
            if let Some(v) = c.ns.get(name) {
                return Ok(bind_class_attr(v, &me, &self.receiver.class));
            }
            if let Some(native) = &c.native {
                if name == "__init__" {
                    if let Some(init) = native.init {
                        let inst = self.receiver.clone();
                        return Ok(NativeFn::val("__init__", move |rt, args, kwargs| {
                            init(rt, &inst, args, kwargs)?;
                            Ok(Val::None)
                        }));
                    }
                    return Ok(NativeFn::val("__init__", |_, _, _| Ok(Val::None)));
                }
                if let Some(r) = (native.method)(rt, &self.receiver, name) {
                    return r;
                }
            }
        }
        Err(err(ErrorKind::AttributeError, format!("'super' object has no attribute '{name}'")))
    }
}

impl Object for ClassVal {
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
        super::classes::instantiate(rt, &self.0, args, kwargs)
    }
    fn getattr(&self, rt: &Rt, name: &str) -> SResult<Val> {
        match name {
            "__name__" => return Ok(Val::str(&self.0.name)),
            "__qualname__" => return Ok(Val::str(&self.0.qualname)),
            "__bases__" => return Ok(Val::tuple(self.0.bases.iter().map(|b| Val::obj(ClassVal(b.clone()))).collect())),
            _ => {}
        }
        match self.0.lookup(name) {
            Some(v) => Ok(match &v {
                Val::Obj(o) => match o.as_any().downcast_ref::<Descriptor>() {
                    Some(d) if d.kind == DescriptorKind::Class => {
                        Val::obj(BoundMethod { func: d.func.clone(), receiver: Val::obj(ClassVal(self.0.clone())) })
                    }
                    Some(d) if d.kind == DescriptorKind::Static => d.func.clone(),
                    _ => v,
                },
                _ => v,
            }),
            None => {
                let _ = rt;
                Err(err(ErrorKind::AttributeError, format!("type object '{}' has no attribute '{name}'", self.0.name)))
            }
        }
    }
    fn setattr(&self, _rt: &Rt, name: &str, value: Val) -> SResult<()> {
        self.0.ns.set(name, value);
        Ok(())
    }
    fn repr(&self, _rt: &Rt) -> SResult<String> {
        Ok(format!("<class '{}'>", self.0.qualname))
    }
    fn eq_val(&self, other: &Val) -> Option<bool> {
        Some(other.as_obj::<ClassVal>().is_some_and(|o| Rc::ptr_eq(&o.0, &self.0)))
    }
    fn hash_key(&self) -> SResult<HashKey> {
        Ok(HashKey::Ident(Rc::as_ptr(&self.0) as *const u8 as usize))
    }
}

impl Object for Instance {
    fn type_name(&self) -> String {
        self.class.name.clone()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn class_names(&self) -> Vec<String> {
        self.class.class_names()
    }
    fn getattr(&self, rt: &Rt, name: &str) -> SResult<Val> {
        super::classes::instance_getattr(rt, &self.rc(), name)
    }
    fn setattr(&self, rt: &Rt, name: &str, value: Val) -> SResult<()> {
        if let Some(v) = self.class.lookup(name) {
            if let Some(d) = v.as_obj::<Descriptor>() {
                if d.kind == DescriptorKind::Property {
                    return Err(err(ErrorKind::AttributeError, format!("property '{name}' of '{}' object has no setter", self.class.name)));
                }
            }
        }
        let _ = rt;
        self.set_attr(name, value);
        Ok(())
    }
    fn is_callable(&self) -> bool {
        self.class.lookup("__call__").is_some()
    }
    fn call(&self, rt: &Rt, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
        let f = self.getattr(rt, "__call__").map_err(|_| err(ErrorKind::TypeError, format!("'{}' object is not callable", self.class.name)))?;
        call_value(rt, &f, args, kwargs)
    }
    fn to_str(&self, rt: &Rt) -> SResult<String> {
        if self.class.lookup("__str__").is_some() {
            let f = self.getattr(rt, "__str__")?;
            return Ok(call_value(rt, &f, vec![], vec![])?.to_str(rt)?);
        }
        if self.class.is_exception() {
            return Ok(self.exception_message(rt));
        }
        self.repr(rt)
    }
    fn repr(&self, rt: &Rt) -> SResult<String> {
        if self.class.lookup("__repr__").is_some() {
            let f = self.getattr(rt, "__repr__")?;
            return Ok(call_value(rt, &f, vec![], vec![])?.to_str(rt)?);
        }
        if self.class.is_exception() {
            let args = self.get_attr("args").unwrap_or(Val::tuple(vec![]));
            let inner = match &args {
                Val::Tuple(a) if a.len() == 1 => a[0].repr(rt)?,
                Val::Tuple(a) => a.iter().map(|x| x.repr(rt)).collect::<SResult<Vec<_>>>()?.join(", "),
                other => other.repr(rt)?,
            };
            return Ok(format!("{}({inner})", self.class.name));
        }
        Ok(format!("<{} object>", self.class.qualname))
    }
    fn truthy(&self, rt: &Rt) -> SResult<bool> {
        if self.class.lookup("__bool__").is_some() {
            let f = self.getattr(rt, "__bool__")?;
            return call_value(rt, &f, vec![], vec![])?.truthy(rt);
        }
        if self.class.lookup("__len__").is_some() {
            return Ok(self.len(rt)? > 0);
        }
        Ok(true)
    }
    fn len(&self, rt: &Rt) -> SResult<usize> {
        let f = self.getattr(rt, "__len__").map_err(|_| err(ErrorKind::TypeError, format!("object of type '{}' has no len()", self.class.name)))?;
        let n = call_value(rt, &f, vec![], vec![])?;
        n.as_int().filter(|n| *n >= 0).map(|n| n as usize).ok_or_else(|| err(ErrorKind::TypeError, "'__len__' must return a non-negative integer"))
    }
    fn iterate(&self, rt: &Rt) -> SResult<Rc<Vec<Val>>> {
        if self.class.lookup("__iter__").is_some() {
            let f = self.getattr(rt, "__iter__")?;
            return call_value(rt, &f, vec![], vec![])?.iterate(rt);
        }
        Err(err(ErrorKind::TypeError, format!("'{}' object is not iterable", self.class.name)))
    }
    fn getitem(&self, rt: &Rt, key: &Val) -> SResult<Val> {
        let f = self.getattr(rt, "__getitem__").map_err(|_| err(ErrorKind::TypeError, format!("'{}' object is not subscriptable", self.class.name)))?;
        call_value(rt, &f, vec![key.clone()], vec![])
    }
    fn contains(&self, rt: &Rt, item: &Val) -> SResult<bool> {
        if self.class.lookup("__contains__").is_some() {
            let f = self.getattr(rt, "__contains__")?;
            return call_value(rt, &f, vec![item.clone()], vec![])?.truthy(rt);
        }
        Ok(self.iterate(rt)?.iter().any(|x| x.py_eq(item)))
    }
    fn enter(&self, rt: &Rt) -> SResult<Val> {
        let f = self.getattr(rt, "__enter__").map_err(|_| {
            err(ErrorKind::TypeError, format!("'{}' object does not support the context manager protocol", self.class.name))
        })?;
        call_value(rt, &f, vec![], vec![])
    }
    fn exit(&self, rt: &Rt, error: Option<&SandboxError>) -> SResult<bool> {
        let f = self.getattr(rt, "__exit__")?;
        let args = match error {
            None => vec![Val::None, Val::None, Val::None],
            Some(e) => {
                let v = super::classes::exception_value(rt, e);
                vec![Val::None, v, Val::None]
            }
        };
        call_value(rt, &f, args, vec![])?.truthy(rt)
    }
}

/// Turns a raised value into the error that propagates (`raise X`, `raise X(...)`).
pub fn error_from_raised(rt: &Rt, v: Val) -> SandboxError {
    if let Some(c) = v.as_obj::<ExceptionClass>() {
        return exc(&c.0, "");
    }
    if let Some(e) = v.as_obj::<ExceptionObj>() {
        let mut x = exc(&e.class, e.message.clone());
        x.value = Some(crate::value::opaque(&v));
        return x;
    }
    if let Some(c) = v.as_obj::<ClassVal>() {
        if c.0.is_exception() {
            return match super::classes::instantiate(rt, &c.0, vec![], vec![]) {
                Ok(inst) => error_from_raised(rt, inst),
                Err(e) => e,
            };
        }
    }
    if let Some(i) = v.as_obj::<Instance>() {
        if i.class.is_exception() {
            let names = i.class.class_names();
            let mut x = exc(&i.class.qualname, i.exception_message(rt));
            // The kind comes from the nearest built-in parent (`class E(ValueError)` is a ValueError).
            x.kind = names.iter().map(|n| ErrorKind::of_exception(n)).find(|k| *k != ErrorKind::Other).unwrap_or(ErrorKind::Other);
            x.value = Some(crate::value::opaque(&v));
            return x;
        }
    }
    err(ErrorKind::TypeError, "exceptions must derive from BaseException")
}
